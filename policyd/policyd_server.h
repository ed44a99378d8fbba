/* SPDX-License-Identifier: MIT */
#ifndef SMX_POLICYD_SERVER_H
#define SMX_POLICYD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_config.h"
#include "smx_status.h"

/*
 * struct policyd_server_opts - what policyd_server_run() serves.
 *	config_path	the file reloaded on SIGHUP (NULL: SMX_DEFAULT_CONFIG).
 *	config		the loaded configuration; the server takes ownership
 *			and frees it (and every later one) before returning.
 *	listen_fds	listening sockets from smx_listen_open(), owned by the
 *			caller, which closes them after the server returns.
 *	n_listen_fds	0 selects spawn mode: one connection, input in_fd,
 *			output out_fd (spawn(8) connects both to smtpd); the
 *			server returns when the input closes.
 *	log_ident	syslog ident, "secmx/policyd".
 *	allow_stderr	log_destination = stderr may be honoured (foreground
 *			daemon runs only); otherwise logging always goes to
 *			syslog, as stderr may be the Postfix connection.
 */
struct policyd_server_opts {
	const char *config_path;
	struct smx_config *config;
	const int *listen_fds;
	size_t n_listen_fds;
	int in_fd;
	int out_fd;
	const char *log_ident;
	bool allow_stderr;
};

/*
 * policyd_server_run - run the event loop until SIGTERM or SIGINT (or, in
 * spawn mode, until the client closes its connection). Blocks SIGHUP,
 * SIGTERM and SIGINT and reads them through a signalfd; ignores SIGPIPE;
 * raises the RLIMIT_NOFILE soft limit to the hard limit. SIGHUP reloads
 * config_path: a good file replaces the configuration between requests,
 * a bad one is logged (file and line) and the old one kept. Every
 * malformed request is logged as a warning with the peer and the reason
 * and its connection closed without a reply. Returns SMX_OK after a
 * clean stop, or SMX_TEMPFAIL when the loop cannot be set up or continue
 * (logged). Frees opts->config in every case; never exits.
 */
enum smx_status policyd_server_run(const struct policyd_server_opts *opts);

#endif
