/* SPDX-License-Identifier: MIT */
#ifndef LMTPD_SESSION_H
#define LMTPD_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "smx_config.h"
#include "smx_limits.h"
#include "deliver.h"

/*
 * struct lmtpd_gen - one loaded configuration and everything made from it
 * once for all connections: the TLS client contexts and the caches of
 * TLS sessions and idle SMTP connections. A SIGHUP that loads a good
 * configuration makes a new one; a transaction holds the one it started
 * with until its replies are sent (lmtpd_session_env gen_get/gen_put).
 */
struct lmtpd_gen {
	struct smx_config *cfg;
	struct deliver_tls tls;
	struct deliver_cache cache;    /* members NULL when turned off */
	char helo[SMX_DOMAIN_MAX + 2]; /* helo_name or this host's name */
};

/*
 * struct lmtpd_session_env - what a session needs from the daemon.
 * gen_get: the current generation, held until gen_put.
 * stop_fd: becomes readable when the daemon stops (-1: never).
 * is_stopping: set when the daemon stops; deliveries then start no new
 *	attempt (deliver_request.stop).
 * io: the delivery I/O; NULL for the real one (tests pass fakes).
 */
struct lmtpd_session_env {
	struct lmtpd_gen *(*gen_get)(void *ctx);
	void (*gen_put)(void *ctx, struct lmtpd_gen *);
	void *ctx;
	int stop_fd;
	const atomic_bool *is_stopping;
	const struct deliver_io *io;
};

/*
 * lmtpd_session_run - serve one LMTP connection on fd (a connected
 * socket; made non-blocking here) until QUIT, end of file, a timeout, too
 * many errors or the daemon's stop; peer names the client in logs. Each
 * message is spooled, its recipients grouped by destination and sending
 * role, each group delivered by deliver_run, and one reply per recipient
 * sent in RCPT order, each as soon as it and those before it are known.
 * Closes fd. Never exits; the caller must ignore SIGPIPE.
 */
void lmtpd_session_run(const struct lmtpd_session_env *, int fd,
    const char *peer);

#endif
