/* SPDX-License-Identifier: MIT */
#ifndef SMX_DAEMON_H
#define SMX_DAEMON_H

#include <sys/types.h>

#include "smx_status.h"

/*
 * What a secmx daemon (secmx-policyd -l, secmx-lookup -s -l) does between
 * binding its sockets as root and serving: leave the terminal, record its
 * pid, and become an unprivileged user for good. Each function logs its
 * own error through smx_log and returns a status; none exits, except that
 * smx_daemon_detach ends the parent process.
 */

/*
 * smx_daemon_parse_group - a group name or a numeric gid (for -g). Returns
 * SMX_OK with *gid, or SMX_INVALID for an unknown name or a bad number.
 */
enum smx_status smx_daemon_parse_group(const char *s, gid_t *gid);

/*
 * smx_daemon_drop_privileges - switch to user (its uid, primary gid and
 * supplementary groups) for good. Refuses uid 0 as the target, and checks
 * that neither root uid nor root gid can be regained. Without root, it
 * succeeds only when already running as user. SMX_OK or SMX_PERMFAIL.
 */
enum smx_status smx_daemon_drop_privileges(const char *user);

/*
 * smx_daemon_detach - fork (the parent exits 0), start a new session,
 * chdir to /, and put stdin, stdout and stderr on /dev/null. SMX_OK in
 * the child, SMX_TEMPFAIL when a step failed.
 */
enum smx_status smx_daemon_detach(void);

/*
 * smx_daemon_write_pidfile - write "PID\n" to path (created 0644, not
 * following a symbolic link). SMX_OK or SMX_TEMPFAIL.
 */
enum smx_status smx_daemon_write_pidfile(const char *path);

#endif
