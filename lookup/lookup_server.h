/* SPDX-License-Identifier: MIT */
#ifndef SMX_LOOKUP_SERVER_H
#define SMX_LOOKUP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_config.h"
#include "smx_status.h"

#include "socketmap.h"

/*
 * lookup_server_conn - serve socketmap requests on one connection: read
 * from in_fd, answer every complete request in order on out_fd, until
 * EOF, idle_timeout seconds without a byte between requests, or
 * request_timeout seconds for the rest of a started request or for a
 * reply to be written. A malformed netstring is logged as a warning with
 * peer and reason, and the connection is given up without a reply (the
 * socketmap client then reports an error for that lookup). The
 * descriptors may be blocking or not; they are not closed. peer names
 * the client in log lines. refresh, when not NULL, is called with
 * refresh_arg before each batch of requests is answered (a forked child
 * reloads its configuration there after a SIGHUP: ctx->cfg may change).
 * Returns SMX_OK after EOF or an idle timeout,
 * SMX_INVALID after a malformed request, SMX_TEMPFAIL after an I/O
 * error or a request timeout (logged). Never exits.
 */
enum smx_status lookup_server_conn(const struct socketmap_ctx *, int in_fd,
    int out_fd, unsigned long idle_timeout, unsigned long request_timeout,
    const char *peer, void (*refresh)(void *), void *refresh_arg);

/*
 * struct lookup_server_opts - what lookup_server_run() serves.
 *	config_path	the file reloaded on SIGHUP (NULL: SMX_DEFAULT_CONFIG).
 *	config		the loaded configuration; the server takes ownership
 *			and frees it (and every later one) before returning.
 *	listen_fds	listening sockets from smx_listen_open(), owned by the
 *			caller, which closes them after the server returns.
 *	n_listen_fds	0 selects spawn mode: one connection, input in_fd,
 *			output out_fd; the server returns when it ends.
 *	route		route function for the maps (NULL: smx_route_srv).
 *	log_ident	syslog ident, "secmx/lookup" when NULL.
 *	allow_stderr	log_destination = stderr may be honoured (a
 *			foreground daemon).
 */
struct lookup_server_opts {
	const char *config_path;
	struct smx_config *config;
	const int *listen_fds;
	size_t n_listen_fds;
	int in_fd;
	int out_fd;
	socketmap_route_fn *route;
	const char *log_ident;
	bool allow_stderr;
};

/*
 * lookup_server_run - spawn mode: serve in_fd/out_fd with
 * lookup_server_conn. Daemon mode: accept connections on the listening
 * sockets and serve each in a forked child, at most
 * SMX_SOCKETMAP_CHILDREN_MAX at a time (at the cap, accepting pauses
 * until a child exits); the parent only accepts, forks and reaps.
 * SIGHUP reloads config_path (a bad file is logged and the running
 * configuration kept) and is passed on to the children, which reload it
 * before their next request; SIGTERM and
 * SIGINT stop accepting, terminate the children and wait for them.
 * Ignores SIGPIPE. Returns SMX_OK after a clean stop or the end of the
 * spawn connection, SMX_TEMPFAIL when the loop cannot run (logged).
 * Frees opts->config in every case; never exits (children leave with
 * _exit(2) and never return).
 */
enum smx_status lookup_server_run(const struct lookup_server_opts *opts);

#endif
