/* SPDX-License-Identifier: MIT */
#ifndef OUTCOME_H
#define OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"
#include "smtp_session.h"

/*
 * The results of secmx-transport's delivery attempts, classified and
 * folded into one outcome per recipient: one status line and an exit
 * code as pipe(8) reads them. Pure: no I/O, no logging.
 */

/*
 * What one attempt means for delivery (outcome_classify):
 *	SENT		the server accepted the message (for the recipients
 *			it accepted at RCPT TO);
 *	TRANSACTION	the server's verdict on this message: a 4xx or 5xx
 *			reply to MAIL FROM, RCPT TO, DATA or the end of data;
 *			final for the recipients it concerns;
 *	MESSAGE		the message cannot be sent this way at all: larger
 *			than the server's SIZE (5.3.4), SMTPUTF8 needed but
 *			not offered (5.6.7); final, as in Postfix smtp(8);
 *	REFUSED		the server was reached and refused secure delivery:
 *			EHLO without STARTTLS (or EHLO refused when TLS is
 *			required), a 4xx or 5xx reply to STARTTLS, a fatal
 *			TLS alert from the server, a certificate that fails
 *			verification;
 *	TRANSIENT	a fault that may go away: connect failure, timeout
 *			or lost connection at any stage (STARTTLS and the
 *			handshake included), malformed or unexpected data,
 *			a refused greeting, EHLO or HELO;
 *	DANE		a refusal, as above, of a server that DANE requires
 *			to be authenticated (usable TLSA records): RFC 7672
 *			section 2.2 defers such mail, never downgrades it;
 *	LOOP		the server is this host (5.4.6);
 *	LOCAL		our own trouble (bad parameters): defer at once.
 */
enum outcome_class {
	OUTCOME_SENT = 0,
	OUTCOME_TRANSACTION,
	OUTCOME_MESSAGE,
	OUTCOME_REFUSED,
	OUTCOME_TRANSIENT,
	OUTCOME_DANE,
	OUTCOME_LOOP,
	OUTCOME_LOCAL,
};

/*
 * outcome_classify - the class of one attempt's result, from its stage,
 * fault and reply code only. The one place that decides refused versus
 * transient. Pure; never fails.
 */
enum outcome_class outcome_classify(const struct smtp_session_result *);

/*
 * outcome_class_name - "sent", "final", "final", "refused", "transient",
 * "dane", "loop" or "local" for audit lines and DSN text. Never NULL.
 */
const char *outcome_class_name(enum outcome_class);

/*
 * struct outcome - the status of one recipient (or of the whole request
 * before any attempt).
 * status: SMX_OK (delivered), SMX_TEMPFAIL (defer) or SMX_PERMFAIL
 *   (bounce); other values are never stored.
 * line: "2.0.0 ...", "4.x.x ..." or "5.x.x ...", printable ASCII, no CR,
 *   LF or NUL, at most TRANSPORT_LINE_MAX bytes; the class digit always
 *   matches status.
 * relay, tls_protocol, tls_cipher, tls_verified, stage, cls, is_secure,
 *   tlsa_match, is_tls_resumed, is_conn_reused: the attempt that decided
 *   the outcome, for the audit log ("" / SMX_TLS_VERIFIED_NONE /
 *   SMTP_STAGE_NONE / false when no attempt decided it or it ran in
 *   plaintext).
 * is_final: set by the folding below once the recipient's outcome can no
 *   longer change.
 */
struct outcome {
	enum smx_status status;
	char line[TRANSPORT_LINE_MAX + 1];
	char relay[SMTP_SESSION_PEER_MAX];
	char tls_protocol[16];
	char tls_cipher[64];
	enum smx_tls_verified tls_verified;
	enum smtp_stage stage;
	enum outcome_class cls;
	bool is_secure;      /* dnssec=secure for the deciding attempt */
	char tlsa_match[16]; /* the TLSA record that matched, "3.1.1" */
	bool is_tls_resumed; /* its TLS session was resumed */
	bool is_conn_reused; /* its connection came from the cache */
	bool is_final;
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
 * sanitised and the line truncated to TRANSPORT_LINE_MAX. The attempt
 * fields are cleared. Never fails.
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
 * outcome per recipient. Initialise with outcome_agg_init, feed every
 * attempt with outcome_agg_add (or a target that could not be tried with
 * outcome_agg_add_local, one that is this host with outcome_agg_add_loop),
 * end with outcome_agg_finish. The caller owns it and the recipients'
 * outcomes (rcpt, n_rcpts entries).
 */
struct outcome_agg {
	enum outcome_route route;
	bool is_sos;
	char domain[SMX_DOMAIN_MAX + 1];
	struct outcome *rcpt; /* one per recipient, caller's */
	size_t n_rcpts;
	size_t n_pending; /* recipients whose outcome is not final yet */
	size_t n_attempts;
	size_t n_refused;              /* hosts that refused secure delivery */
	size_t n_unqualified;          /* of those: not tried, not DANE */
	size_t n_transient;            /* hosts with a fault that may go away */
	size_t n_loop;                 /* hosts that are this host */
	int rank_transient;            /* of best_transient; 0 when none */
	struct outcome best_transient; /* the most informative of each */
	struct outcome best_refused;
	struct outcome best_loop;
};

/*
 * outcome_agg_init - start folding for a route to domain (copied, cut to
 * SMX_DOMAIN_MAX) under the Secure Only (is_sos) or Best Effort policy,
 * for n_rcpts recipients whose outcomes go to rcpt[] (all not final).
 */
void outcome_agg_init(struct outcome_agg *, enum outcome_route, bool is_sos,
    const char *domain, struct outcome *rcpt, size_t n_rcpts);

/*
 * outcome_agg_add - record one smtp_session_deliver result for the
 * recipients the attempt carried: the session's recipient i is the
 * caller's idx[i], and rr[i] its RCPT result (n of them). By class:
 *	SENT: every accepted recipient is delivered ("2.0.0 delivered via
 *	    host[addr]:port TLSv1.3 (reply)"), every refused one gets the
 *	    server's reply (4xx defer, 5xx bounce); all final;
 *	TRANSACTION, MESSAGE: the recipients concerned get the server's
 *	    reply or the reason; final;
 *	LOCAL: every recipient carried is deferred; final;
 *	REFUSED, TRANSIENT, DANE, LOOP: counted for outcome_agg_finish
 *	    (DANE as transient); nothing is final, the next target may be
 *	    tried.
 * Returns true when no further target may be tried: no recipient is
 * pending, or local trouble.
 */
bool outcome_agg_add(struct outcome_agg *, const struct smtp_session_result *,
    const struct smtp_rcpt_result *rr, const size_t *idx, size_t n);

/*
 * outcome_agg_add_local - record a target that could not be tried (its
 * addresses could not be looked up, ...), with a DSN code and text. It
 * counts as transient.
 */
void outcome_agg_add_local(struct outcome_agg *, const char *enhanced,
    const char *text);

/*
 * outcome_agg_add_refused - record a target that does not qualify
 * without being tried (an MX host without DANE under sos_mx_security =
 * dane), with a DSN code and text. It counts as refused (and
 * n_unqualified).
 */
void outcome_agg_add_refused(struct outcome_agg *, const char *enhanced,
    const char *text);

/*
 * outcome_of_attempt - *o for the audit line of one attempt (for one
 * recipient: rr, or NULL): its status, line and attempt fields.
 */
void outcome_of_attempt(const struct smtp_session_result *,
    const struct smtp_rcpt_result *rr, struct outcome *o);

/*
 * outcome_agg_add_loop - record a target that is this host by its
 * address and port (local_listeners), peer "host[addr]:port". Not tried.
 */
void outcome_agg_add_loop(struct outcome_agg *, const char *peer);

/*
 * outcome_agg_finish - every recipient not yet final gets the outcome of
 * everything recorded, and becomes final:
 *   - nothing recorded: defer "4.4.4 ... no route";
 *   - any transient fault: defer with the most informative one (a reply
 *     before a lost connection before a connect failure);
 *   - else any host that is this host: bounce "5.4.6 mail for DOMAIN
 *     loops back to myself";
 *   - else a Secure Only Sender over MX where every host was reached and
 *     refused: bounce "5.7.4 ... no secure route to DOMAIN exists under
 *     the Secure Only Sender policy"; where hosts did not qualify
 *     (outcome_agg_add_refused) the text says that no MX host is
 *     DANE-authenticated, not that TLS was unavailable;
 *   - else (SRV and relay routes never bounce for TLS) defer with the
 *     refusal.
 */
void outcome_agg_finish(struct outcome_agg *);

/*
 * outcome_agg_decide - every recipient not yet final gets *o and becomes
 * final (a DNS answer, local trouble or the time limit decided).
 */
void outcome_agg_decide(struct outcome_agg *, const struct outcome *o);

/*
 * outcome_attempt_line - the DSN line of one attempt: the session's line
 * (smtp_session_format) with " [stage=STAGE class=CLASS]", so that every
 * deferral or bounce names the host, the stage and the class. Truncated
 * to size; never fails.
 */
void outcome_attempt_line(const struct smtp_session_result *, char *out,
    size_t size);

#endif
