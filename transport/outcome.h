/* SPDX-License-Identifier: MIT */
#ifndef OUTCOME_H
#define OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"
#include "smtp_session.h"

/*
 * The result of one secmx-transport run as pipe(8) reads it: one status
 * line on stdout and an exit code. Pure: no I/O, no logging.
 */

/*
 * struct outcome - the status of the whole delivery request.
 * status: SMX_OK (delivered), SMX_TEMPFAIL (defer) or SMX_PERMFAIL
 *   (bounce); other values are never stored.
 * line: "2.0.0 ...", "4.x.x ..." or "5.x.x ...", printable ASCII, no CR,
 *   LF or NUL, at most TRANSPORT_LINE_MAX bytes; the class digit always
 *   matches status.
 * relay, tls_protocol, tls_cipher, tls_verified: the attempt that decided
 *   the outcome, for the audit log ("" / SMX_TLS_VERIFIED_NONE when no
 *   attempt decided it or it ran in plaintext).
 */
struct outcome {
	enum smx_status status;
	char line[TRANSPORT_LINE_MAX + 1];
	char relay[SMTP_SESSION_PEER_MAX];
	char tls_protocol[16];
	char tls_cipher[64];
	enum smx_tls_verified tls_verified;
};

/*
 * outcome_exit_code - the exit status for a status: 0 for SMX_OK,
 * EX_UNAVAILABLE (69, bounce) for SMX_PERMFAIL, EX_TEMPFAIL (75, defer)
 * for everything else: when unsure, defer (protocol-facts section 2.1).
 */
int outcome_exit_code(enum smx_status);

/* outcome_status_name - "sent", "bounced" or "deferred" for audit logs. */
const char *outcome_status_name(enum smx_status);

/*
 * outcome_dsn_valid - true when the len bytes at s are an RFC 3463
 * enhanced status code "c.sss.ddd" with c in 2, 4, 5 and 1-3 digits in
 * each other part (Postfix dsn_valid()).
 */
bool outcome_dsn_valid(const char *s, size_t len);

/*
 * outcome_sanitize - copy len bytes of in into out (size bytes, always
 * terminated when size > 0): CR, LF, TAB and other control bytes and NUL
 * become a space, bytes over 0x7e become '?'. Returns the bytes written.
 */
size_t outcome_sanitize(char *out, size_t size, const char *in, size_t len);

/*
 * outcome_set - fill *o with status (SMX_OK and SMX_PERMFAIL are kept,
 * anything else becomes SMX_TEMPFAIL) and the line "ENHANCED TEXT".
 * enhanced, when a valid code, is used with its class digit forced to
 * match the status (a receiver's "5.1.1" in a deferral becomes "4.1.1",
 * as Postfix does); otherwise the default 2.0.0, 4.0.0 or 5.0.0. TEXT is
 * sanitised and the line truncated to TRANSPORT_LINE_MAX. The TLS and
 * relay fields are cleared. Never fails.
 */
void outcome_set(struct outcome *o, enum smx_status status,
    const char *enhanced, const char *text);

/*
 * outcome_set_line - the same for a line that may already start with an
 * enhanced code (smtp_session_format output): that code is taken from
 * the line, else the default for the status is put in front.
 */
void outcome_set_line(struct outcome *o, enum smx_status status,
    const char *line);

/*
 * outcome_time_budget - the timeouts of one delivery attempt when
 * remaining_ms are left before delivery_time_limit: connect within
 * min(connect_s, remaining/4), each command within min(timeout_s,
 * (remaining - connect)/3), so that a connect and three commands always
 * fit. Returns false (stop, defer 4.4.7) when either would be below
 * OUTCOME_TIMEOUT_MIN_MS; writes the outputs only on true.
 */
#define OUTCOME_TIMEOUT_MIN_MS 1000
bool outcome_time_budget(long long remaining_ms, unsigned long connect_s,
    unsigned long timeout_s, int *connect_ms, int *timeout_ms);

/* Where the targets of a delivery came from. */
enum outcome_route {
	OUTCOME_ROUTE_SRV = 0,   /* _secmx._tcp SRV targets: TLS mandatory */
	OUTCOME_ROUTE_MX = 1,    /* the destination's MX hosts */
	OUTCOME_ROUTE_RELAY = 2, /* an explicit [host]:port next hop */
};

/*
 * struct outcome_agg - the attempts of one delivery folded into one
 * outcome. Initialise with outcome_agg_init, feed every attempt with
 * outcome_agg_add or outcome_agg_add_local, read with outcome_agg_finish.
 * The caller owns it; it holds no pointers.
 */
struct outcome_agg {
	enum outcome_route route;
	bool is_sos;
	char domain[SMX_DOMAIN_MAX + 1];
	size_t n_attempts;
	size_t n_not_secure; /* answered, but no usable STARTTLS */
	size_t n_other;      /* unreachable, lost, refused, local trouble */
	bool is_final;       /* delivered, or a receiver's transaction reply */
	int best_rank;       /* of best; 0 when nothing recorded */
	struct outcome best; /* the final or most informative result */
};

/*
 * outcome_agg_init - start folding for a route to domain (copied, cut to
 * SMX_DOMAIN_MAX) under the Secure Only (is_sos) or Best Effort policy.
 */
void outcome_agg_init(struct outcome_agg *, enum outcome_route, bool is_sos,
    const char *domain);

/*
 * outcome_agg_add - record one smtp_session_deliver result. Returns true
 * when it decides the delivery and no further target may be tried:
 * delivered ("2.0.0 delivered via host[addr]:port TLSv1.3"), a
 * receiver's 4xx or 5xx reply to MAIL FROM, RCPT TO, DATA or the end of
 * data (defer or bounce with the receiver's code), or SMX_INVALID from
 * the session (local trouble: defer). Anything else (connect failure,
 * timeout, lost connection, a refusal at the banner or EHLO, a TLS
 * failure) lets the next target be tried.
 */
bool outcome_agg_add(struct outcome_agg *, const struct smtp_session_result *);

/*
 * outcome_agg_add_local - record a target that could not be tried
 * (its addresses could not be looked up, ...), with a DSN code and text.
 * It counts as unreachable. Never final.
 */
void outcome_agg_add_local(struct outcome_agg *, const char *enhanced,
    const char *text);

/*
 * outcome_agg_finish - the outcome of everything recorded:
 *   - a final result as recorded;
 *   - nothing recorded: defer "4.4.4 ... no route";
 *   - Secure Only Sender over MX where every host answered and none
 *     offered working STARTTLS: bounce "5.7.4 ... no secure route to
 *     DOMAIN exists under the Secure Only Sender policy";
 *   - otherwise defer with the most informative failure: a server's reply
 *     before one from TLS trouble, before a lost connection, before a
 *     connect failure or a target without addresses (the first of each
 *     kind). SRV and relay routes never bounce except on a receiver's
 *     transaction reply.
 */
void outcome_agg_finish(const struct outcome_agg *, struct outcome *out);

#endif
