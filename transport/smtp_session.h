/* SPDX-License-Identifier: MIT */
#ifndef SMTP_SESSION_H
#define SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "smx_limits.h"
#include "smx_status.h"
#include "smx_tls.h"

struct spool;

/* TLS policy for one delivery attempt, as Postfix's security levels. */
enum smtp_tls_policy {
	SMTP_TLS_NONE = 0,    /* never STARTTLS (Postfix "none") */
	SMTP_TLS_MAY = 1,     /* opportunistic: plaintext when TLS fails */
	SMTP_TLS_ENCRYPT = 2, /* mandatory; verified when the context is
	                       * verify=ca (Postfix "encrypt"/"secure") */
};

/* Everything one attempt needs. The caller owns all of it. */
struct smtp_session_params {
	const struct sockaddr *addr; /* IPv4/IPv6 address with the port */
	socklen_t addr_len;
	const char *host;   /* server name for logs and SNI, or NULL */
	const char *helo;   /* our EHLO name */
	const char *sender; /* envelope sender; "" for the null sender */
	const char *const *recipients;
	size_t n_recipients; /* 1..SMTP_RECIPIENTS_MAX */
	enum smtp_tls_policy tls_policy;
	struct smx_tls_ctx *tls_ctx;  /* needed unless SMTP_TLS_NONE */
	const char *const *tls_names; /* reference names for verify=ca */
	size_t n_tls_names;
	int connect_timeout_ms; /* smtp_connect_timeout */
	int timeout_ms;         /* smtp_timeout: each command and reply */
	struct spool *message;  /* rewound and read by the session */
};

#define SMTP_SESSION_TEXT_MAX 1024 /* reply or reason text in a result */
#define SMTP_SESSION_PEER_MAX (SMX_DOMAIN_MAX + 64) /* "host[addr]:port" */

/*
 * struct smtp_session_result - the outcome of one attempt, enough for one
 * DSN line and one audit log line.
 */
struct smtp_session_result {
	bool is_delivered;
	enum smx_status status; /* SMX_OK, SMX_TEMPFAIL, SMX_PERMFAIL or
	                         * SMX_INVALID (bad parameters) */
	char enhanced[SMTP_ENHANCED_MAX + 1]; /* "2.0.0", "4.7.5", ... */
	unsigned reply_code; /* the server's code, 0 for a local cause */
	char text[SMTP_SESSION_TEXT_MAX]; /* server reply ("550 5.1.1 ...")
	                                   * on one line, or the local reason */
	const char *command; /* "connect", "banner", "EHLO", "STARTTLS",
	                      * "MAIL FROM", "RCPT TO", "DATA", "end of
	                      * data", or "" (static strings) */
	char peer[SMTP_SESSION_PEER_MAX]; /* "host[addr]:port" */
	bool has_tls;                     /* the session ran over TLS */
	struct smx_tls_info tls;          /* protocol, cipher, verification */
	bool is_tls_fallback; /* SMTP_TLS_MAY: TLS failed, plaintext used */
	char tls_failure[SMX_TLS_REASON_MAX]; /* why, with is_tls_fallback */
	size_t n_accepted; /* recipients the server accepted */
};

/*
 * smtp_session_deliver - one delivery attempt to one address: connect,
 * banner, EHLO, STARTTLS per the policy (never pipelined; the session is
 * aborted when bytes follow the STARTTLS reply; EHLO again after TLS
 * with the old extensions forgotten), MAIL FROM (SIZE=n when the server
 * advertised SIZE), RCPT TO for each recipient, then DATA and the message
 * only when every recipient was accepted (otherwise RSET and the worst
 * recipient outcome: permanent before temporary), and QUIT.
 *
 * TLS failures follow Postfix smtp(8): with SMTP_TLS_ENCRYPT "4.7.4 TLS is
 * required, but was not offered by host ...", "4.7.5 Cannot start TLS:
 * handshake failure" and "4.7.5 Server certificate not verified", all
 * temporary; with SMTP_TLS_MAY a failed handshake is retried once on a
 * new connection in plaintext.
 *
 * Senders, recipients, the HELO name and the host are checked first:
 * NUL, CR, LF, over-long paths (SMTP_PATH_MAX) or bad counts give
 * SMX_INVALID without any connection. Otherwise *res is always filled:
 * SMX_OK and is_delivered when the server accepted the message at end of
 * data; SMX_TEMPFAIL or SMX_PERMFAIL with the enhanced code (the server's
 * when it gave one of the right class, else a default: 4.4.1 connect
 * failure, 4.4.2 lost connection or timeout, 4.5.0 protocol error,
 * 4.0.0/5.0.0 from the reply class). Returns res->status. Never exits.
 * The caller must ignore SIGPIPE (see smx_tls_connect).
 */
enum smx_status smtp_session_deliver(const struct smtp_session_params *p,
    struct smtp_session_result *res);

/*
 * smtp_session_format - one DSN text line for res, Postfix style:
 * "5.1.1 host mx[192.0.2.1]:25 said: 550 5.1.1 ... (in reply to RCPT TO
 * command)" or "4.4.1 connect to mx[192.0.2.1]:25: Connection refused".
 * Truncated to size; never fails.
 */
void smtp_session_format(const struct smtp_session_result *res, char *out,
    size_t size);

#endif
