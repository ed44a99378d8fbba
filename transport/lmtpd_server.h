/* SPDX-License-Identifier: MIT */
#ifndef LMTPD_SERVER_H
#define LMTPD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_config.h"
#include "smx_status.h"

/*
 * struct lmtpd_server_opts - what lmtpd_server_run() serves.
 *	config_path	the file reloaded on SIGHUP.
 *	config		the loaded configuration; the server takes ownership
 *			and frees it (and every later one) before returning.
 *	listen_fds	listening sockets from smx_daemon_start, owned by the
 *			caller, which closes them after the server returns;
 *			at least one.
 *	log_ident	syslog ident, "secmx/lmtpd".
 *	allow_stderr	log_destination = stderr may be honoured (a
 *			foreground run).
 */
struct lmtpd_server_opts {
	const char *config_path;
	struct smx_config *config;
	const int *listen_fds;
	size_t n_listen_fds;
	const char *log_ident;
	bool allow_stderr;
};

/*
 * lmtpd_server_run - accept LMTP connections and serve each in its own
 * thread (lmtpd_session_run) until SIGTERM or SIGINT. Blocks SIGHUP,
 * SIGTERM and SIGINT in every thread and reads them through a signalfd;
 * ignores SIGPIPE. SIGHUP reloads config_path: a good file becomes a new
 * generation (configuration, TLS contexts, caches) for the transactions
 * that start after it; a bad one is logged (file and line) and the
 * running one kept. SIGTERM stops accepting, makes idle connections
 * answer 421 and close, lets messages being delivered finish (no new
 * attempt starts: what is left is deferred) and waits for every
 * connection, and its thread, to end. At most LMTPD_CONNECTIONS_MAX
 * connections; more are answered 421 and closed. Returns SMX_OK after a clean
 * stop, or SMX_TEMPFAIL when it cannot start (logged). Frees opts->config in
 * every case; never exits.
 */
enum smx_status lmtpd_server_run(const struct lmtpd_server_opts *opts);

#endif
