/* SPDX-License-Identifier: MIT */
#ifndef SMX_DAEMON_H
#define SMX_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "smx_config.h"
#include "smx_listen.h"
#include "smx_log.h"
#include "smx_status.h"

/*
 * What a secmx daemon (secmx-policyd -l, secmx-lookup -s -l) does between
 * binding its sockets as root and serving: leave the terminal, record its
 * pid, and become an unprivileged user for good. Each function logs its
 * own error through smx_log and returns a status; none exits, except that
 * smx_daemon_detach ends the parent process.
 */

/* -l endpoints one daemon accepts; each may open a few sockets. */
#define SMX_DAEMON_ENDPOINTS_MAX 16
#define SMX_DAEMON_FDS_MAX (SMX_DAEMON_ENDPOINTS_MAX * SMX_LISTEN_FDS_MAX)

/* The options every secmx daemon takes, for getopt(3) optstrings. */
#define SMX_DAEMON_OPTIONS "l:m:g:u:fp:"

/*
 * struct smx_daemon - the daemon options (-l ENDPOINT... -m MODE
 * -g GROUP -u USER -f -p PIDFILE) and, after smx_daemon_start, the
 * listening sockets. Strings are borrowed from argv.
 */
struct smx_daemon {
	const char *endpoints[SMX_DAEMON_ENDPOINTS_MAX];
	size_t n_endpoints;
	struct smx_listen_opts listen;
	const char *user;
	const char *pidfile;
	bool is_foreground;
	bool has_options; /* any of -m -g -u -f -p was given */
	int fds[SMX_DAEMON_FDS_MAX];
	size_t n_fds;
	bool has_pidfile; /* written by this process: removed at stop */
	int pidfile_fd;   /* open and locked while the daemon runs */
};

/* smx_daemon_init - no endpoints, socket mode 0660, no user. */
void smx_daemon_init(struct smx_daemon *);

/*
 * smx_daemon_option - take one getopt(3) option. Returns SMX_OK when ch
 * is one of SMX_DAEMON_OPTIONS and arg is good, SMX_NOTFOUND when ch is
 * not a daemon option, SMX_INVALID with a message in err for a bad
 * value or too many -l options.
 */
enum smx_status smx_daemon_option(struct smx_daemon *, int ch, const char *arg,
    char *err, size_t errlen);

/*
 * smx_daemon_start - with endpoints: open them (as root, so that a socket
 * can be placed in Postfix's queue directory), then detach unless -f was
 * given. Then, also without endpoints (spawn(8) mode), write the pid
 * file, drop privileges to -u USER and reopen the log as ident on cfg's
 * log_destination (stderr only for a daemon run with -f; a log file is
 * opened as USER, who reopens it on SIGHUP). Logs every failure and
 * returns its status; the caller then calls smx_daemon_stop.
 */
enum smx_status smx_daemon_start(struct smx_daemon *, const char *ident,
    const struct smx_config *cfg);

/*
 * smx_daemon_stop - close the listening sockets, remove the unix sockets
 * this process created while their names still hold them
 * (smx_listen_unlink_own), and remove the pid file if this process
 * wrote it.
 */
void smx_daemon_stop(struct smx_daemon *);

/*
 * smx_daemon_hold_reload - block SIGHUP, first thing in a daemon, until
 * its event loop takes the signal (a signalfd, or the mask of ppoll):
 * a reload asked for during start-up (systemctl reload, logrotate)
 * then waits for the loop, instead of ending the daemon, which is
 * SIGHUP's default action. The mask survives fork and exec; SIGTERM
 * is not held, so that a daemon that hangs in start-up still stops.
 * Returns false (errno set) when sigprocmask fails; never exits.
 */
bool smx_daemon_hold_reload(void);

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
 * smx_daemon_check_config - -t: load the configuration at path and its
 * tables as the daemon will: without -u as this process, with -u USER in
 * a child that first switches to USER, so that a file USER cannot read
 * fails the check instead of the next reload. Problems are logged
 * ("as user secmx: FILE: Permission denied"). SMX_OK when good,
 * SMX_INVALID (or SMX_TEMPFAIL for fork trouble) otherwise.
 */
enum smx_status smx_daemon_check_config(const struct smx_daemon *,
    const char *path);

/*
 * smx_daemon_detach - fork (the parent exits 0), start a new session,
 * chdir to /, and put stdin, stdout and stderr on /dev/null. SMX_OK in
 * the child, SMX_TEMPFAIL when a step failed.
 */
enum smx_status smx_daemon_detach(void);

/*
 * smx_daemon_write_pidfile - lock path (created 0644, not following a
 * symbolic link) for the life of the process and write "PID\n" to it;
 * *fd is the locked descriptor, to keep open. A file another process
 * holds locked is a running daemon: SMX_PERMFAIL, logged with its pid.
 * SMX_OK, SMX_PERMFAIL or SMX_TEMPFAIL.
 */
enum smx_status smx_daemon_write_pidfile(const char *path, int *fd);

#endif
