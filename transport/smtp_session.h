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
struct smtp_cache;

/* TLS policy for one delivery attempt, as Postfix's security levels. */
enum smtp_tls_policy {
	SMTP_TLS_NONE = 0,    /* never STARTTLS (Postfix "none") */
	SMTP_TLS_MAY = 1,     /* opportunistic: plaintext when TLS fails */
	SMTP_TLS_ENCRYPT = 2, /* mandatory; verified when the context is
	                       * verify=ca (Postfix "encrypt"/"secure") */
};

/* Where in the dialogue an attempt ended. */
enum smtp_stage {
	SMTP_STAGE_NONE = 0,    /* nothing started (bad parameters) */
	SMTP_STAGE_CONNECT,     /* the TCP connection */
	SMTP_STAGE_BANNER,      /* the server's greeting */
	SMTP_STAGE_EHLO,        /* EHLO (or HELO after a refused EHLO) */
	SMTP_STAGE_STARTTLS,    /* the STARTTLS command and its reply */
	SMTP_STAGE_HANDSHAKE,   /* the TLS handshake and its verification */
	SMTP_STAGE_MAIL,        /* MAIL FROM */
	SMTP_STAGE_RCPT,        /* RCPT TO */
	SMTP_STAGE_DATA,        /* the DATA command */
	SMTP_STAGE_BODY,        /* sending the message */
	SMTP_STAGE_END_OF_DATA, /* the reply to the end of data */
};

/* What went wrong, if anything; see outcome_classify for what it means. */
enum smtp_fault {
	SMTP_FAULT_NONE = 0,   /* delivered (or probed) without trouble */
	SMTP_FAULT_REPLY,      /* the server's reply decided (reply_code) */
	SMTP_FAULT_TIMEOUT,    /* no reply or no progress in time */
	SMTP_FAULT_LOST,       /* refused, reset or closed connection */
	SMTP_FAULT_PROTOCOL,   /* malformed reply, unexpected bytes */
	SMTP_FAULT_NO_TLS,     /* TLS required, STARTTLS not offered */
	SMTP_FAULT_TLS_ALERT,  /* the server ended the handshake (alert) */
	SMTP_FAULT_TLS_VERIFY, /* the server's certificate did not verify */
	SMTP_FAULT_LOOP,       /* the server is this host (5.4.6) */
	SMTP_FAULT_SMTPUTF8,   /* SMTPUTF8 needed, not offered (5.6.7) */
	SMTP_FAULT_SIZE,       /* larger than the server's SIZE (5.3.4) */
	SMTP_FAULT_LOCAL,      /* our trouble: parameters, memory */
};

#define SMTP_SESSION_TEXT_MAX 1024 /* reply or reason text in a result */
#define SMTP_SESSION_PEER_MAX (SMX_DOMAIN_MAX + 64) /* "host[addr]:port" */

/*
 * struct smtp_rcpt_result - what the server said to one RCPT TO.
 * is_accepted: a 2xx reply; otherwise reply_code, enhanced and text hold
 * the refusal (reply_code 0: never asked, the attempt ended before).
 */
struct smtp_rcpt_result {
	bool is_accepted;
	unsigned reply_code;
	char enhanced[SMTP_ENHANCED_MAX + 1];
	char text[SMTP_SESSION_TEXT_MAX]; /* the reply on one line */
};

/*
 * What an attempt does once the server is ready (secmx-probe uses the
 * last two; neither ever sends a message):
 *	DELIVER		the whole transaction;
 *	PROBE		stop after EHLO (and STARTTLS and EHLO again): the
 *			server would get the message; every recipient counts
 *			as accepted, the result as delivered;
 *	PROBE_RCPT	MAIL FROM and RCPT TO, then RSET: does the server
 *			take the recipients (in the policy's TLS)?
 */
enum smtp_mode {
	SMTP_MODE_DELIVER = 0,
	SMTP_MODE_PROBE,
	SMTP_MODE_PROBE_RCPT,
};

/* Where a destination's server came from (kept with a connection). */
enum smtp_dest_route {
	SMTP_DEST_SRV = 0, /* a _secmx._tcp SRV target */
	SMTP_DEST_MX,      /* an MX host */
	SMTP_DEST_RELAY,   /* a [host]:port or [address]:port next hop */
};

#define SMTP_DEST_NAME_MAX (SMX_DOMAIN_MAX + 16) /* "[host]:65535" */

/*
 * struct smtp_dest - for a connection cache (secmx-lmtpd): the
 * destination a delivery is for and what the route lookup chose for it.
 * A connection handed back after a delivery with dest keeps a copy, so
 * that a later delivery to the same destination may take it without
 * looking up the route again (is_dest_reuse). The key is name, is_sos
 * and config_serial (smtp_cache_dest_equal); the rest is what that
 * lookup found, handed back unchanged with the connection.
 */
struct smtp_dest {
	char name[SMTP_DEST_NAME_MAX];    /* next-hop domain, "[host]:port" */
	bool is_sos;                      /* the sender role */
	unsigned long long config_serial; /* the configuration's serial */
	enum smtp_dest_route route;
	bool is_secure; /* DNSSEC validated the answers that named the
	                 * server (the route and its addresses) */
};

/* Everything one attempt needs. The caller owns all of it. */
struct smtp_session_params {
	const struct sockaddr *addr; /* IPv4/IPv6 address with the port */
	socklen_t addr_len;
	const char *host;   /* server name for logs and SNI, or NULL */
	const char *helo;   /* our EHLO name; a server that uses it is us */
	const char *sender; /* envelope sender; "" for the null sender */
	const char *const *recipients;
	size_t n_recipients;           /* 1..SMTP_RECIPIENTS_MAX */
	struct smtp_rcpt_result *rcpt; /* n_recipients results, filled */
	enum smtp_tls_policy tls_policy;
	struct smx_tls_ctx *tls_ctx; /* needed unless SMTP_TLS_NONE */
	struct smx_tls_peer tls;     /* reference names, DANE records, the
	                              * chain to fill; sni: NULL for host */
	int connect_timeout_ms;      /* smtp_connect_timeout */
	int timeout_ms;              /* smtp_timeout: each command and reply */
	struct spool *message;       /* rewound and read by the session;
	                              * NULL in the probe modes */
	enum smtp_mode mode;         /* SMTP_MODE_DELIVER unless probing */
	bool is_8bitmime;            /* BODY=8BITMIME when offered */
	bool is_smtputf8;            /* SMTPUTF8 when offered (also needed
	                              * for non-ASCII addresses) */
	/*
	 * Optional, for a resident sender (secmx-lmtpd): idle connections
	 * to take and to hand back (NULL: connect, ..., QUIT as always),
	 * and the sender role, part of their key. TLS sessions are resumed
	 * through tls.cache.
	 */
	struct smtp_cache *conn_cache;
	bool is_sos;
	/*
	 * Optional, with conn_cache: the destination and its route, kept
	 * with the connection when it goes back. With is_dest_reuse the
	 * attempt only takes a kept connection whose destination has an
	 * equal key (and the same helo): no DNS was done for it, so addr,
	 * host, tls_policy, tls_ctx and tls are not used (a kept
	 * connection has its own).
	 */
	const struct smtp_dest *dest;
	bool is_dest_reuse;
};

/*
 * struct smtp_session_result - the outcome of one attempt, enough for one
 * DSN line and one audit log line.
 */
struct smtp_session_result {
	bool is_delivered;      /* the accepted recipients have the message */
	enum smx_status status; /* SMX_OK, SMX_TEMPFAIL, SMX_PERMFAIL or
	                         * SMX_INVALID (bad parameters) */
	enum smtp_stage stage;  /* where it ended */
	enum smtp_fault fault;  /* why, SMTP_FAULT_NONE when delivered */
	char enhanced[SMTP_ENHANCED_MAX + 1]; /* "2.0.0", "4.7.5", ... */
	unsigned reply_code; /* the server's code, 0 for a local cause */
	char text[SMTP_SESSION_TEXT_MAX]; /* server reply ("550 5.1.1 ...")
	                                   * on one line, or the reason */
	char peer[SMTP_SESSION_PEER_MAX]; /* "host[addr]:port" */
	bool has_tls;                     /* the session ran over TLS */
	struct smx_tls_info tls;          /* protocol, cipher, verification */
	bool is_tls_fallback; /* SMTP_TLS_MAY: TLS failed, plaintext used */
	char tls_failure[SMX_TLS_REASON_MAX]; /* why, with is_tls_fallback */
	bool is_helo;          /* EHLO was refused; HELO was used */
	bool is_reused;        /* the connection came from conn_cache */
	bool is_dane;          /* DANE was required (TLSA records given) */
	bool is_secure;        /* set by the caller: DNSSEC validated the
	                        * answers that named this server */
	size_t n_accepted;     /* recipients the server accepted */
	struct smtp_dest dest; /* with is_dest_reuse and is_reused: the
	                        * destination and route kept with the
	                        * connection */
};

/*
 * smtp_session_deliver - one delivery attempt to one address: connect,
 * banner, EHLO, STARTTLS per the policy (never pipelined; the session is
 * aborted when bytes follow the STARTTLS reply; EHLO again after TLS
 * with the old extensions forgotten), MAIL FROM (SIZE=n when the server
 * advertised SIZE, SMTPUTF8 when an address needs it), RCPT TO for each
 * recipient (each reply into rcpt[]), then DATA and the message when at
 * least one recipient was accepted (otherwise RSET), and QUIT.
 *
 * When the server's last EHLO offered PIPELINING (RFC 2920), MAIL FROM,
 * every RCPT TO and DATA (not in SMTP_MODE_PROBE_RCPT) go in one write,
 * or in groups of at most SMTP_PIPELINE_MAX bytes, and the replies are
 * read in order, each within timeout_ms, with the same outcome as one
 * command at a time: a refused MAIL FROM decides (the replies to the
 * RCPT TO commands sent with it are read and ignored, rcpt[] stays
 * unasked); each RCPT reply goes into rcpt[]; the message is sent only
 * when a recipient was accepted and DATA got 354. A 354 to a DATA sent
 * before every recipient was refused (or after a refused MAIL FROM) is
 * answered with a lone "." and the transaction counts as refused, as
 * Postfix smtp(8) does, whatever the server says to it. A timeout, a
 * lost connection or unexpected bytes while the replies are read end
 * the attempt as SMX_TEMPFAIL, unless a refused MAIL FROM or every
 * recipient's refusal has decided it already.
 *
 * A server that greets us or answers EHLO with our own helo name is this
 * host: the attempt ends with SMTP_FAULT_LOOP (5.4.6). EHLO refused with
 * 5xx: HELO instead when TLS is optional (SMTP_TLS_MAY, TLS then
 * impossible), SMTP_FAULT_NO_TLS when it is mandatory. An address with
 * non-ASCII bytes needs a server that offers SMTPUTF8, else
 * SMTP_FAULT_SMTPUTF8 (5.6.7, RFC 6531).
 *
 * The reply to the end of data is read with smtp_reply_scan: once the
 * server has said 2xx there, the message is delivered, whatever the
 * reply looks like.
 *
 * TLS failures follow Postfix smtp(8): with SMTP_TLS_ENCRYPT "4.7.4 TLS is
 * required, but was not offered by host ...", "4.7.5 Cannot start TLS:
 * handshake failure" and "4.7.5 Server certificate not verified", all
 * temporary; with SMTP_TLS_MAY a failed handshake is retried once on a
 * new connection in plaintext.
 *
 * Senders, recipients, the HELO name and the host are checked first:
 * NUL, CR, LF, over-long paths (SMTP_PATH_MAX) or bad counts give
 * SMX_INVALID (SMTP_FAULT_LOCAL) without any connection. Otherwise *res
 * is always filled: SMX_OK and is_delivered when the server accepted the
 * message at end of data for the n_accepted recipients (the others have
 * their refusal in rcpt[]); SMX_TEMPFAIL or SMX_PERMFAIL with the stage,
 * the fault and the enhanced code (the server's when it gave one of the
 * right class, else a default: 4.4.1 connect failure, 4.4.2 lost
 * connection or timeout, 4.5.0 protocol error, 4.0.0/5.0.0 from the reply
 * class). Returns res->status. Never exits. The caller must ignore SIGPIPE
 * (see smx_tls_connect).
 *
 * With conn_cache (SMTP_MODE_DELIVER only): a connection kept for the
 * same key (smtp_cache_key: address, host, helo, TLS policy and rules,
 * is_sos) is taken instead of connecting, and used only after RSET got
 * 250 and its TLS state fits the policy (never plaintext when TLS is
 * required); a dead one, or one whose RSET fails in any way, is closed
 * and a new connection opened, as if there had been none (is_reused
 * false). When it offered PIPELINING the RSET goes in one write with
 * MAIL, RCPT and DATA; then a failed RSET leaves the replies to those
 * unread and no message data sent. After the transaction the connection
 * goes back to the cache, without QUIT, only when its state is known and
 * clean: delivered with a strictly valid 2xx end-of-data reply and
 * nothing after it, or refused at MAIL, RCPT or DATA with RSET answered
 * 250; never after a timeout, a lost connection, an odd end-of-data
 * reply, unexpected bytes or a plaintext fallback. The outcome of the
 * delivery is the same as without a cache.
 *
 * With is_dest_reuse (conn_cache and dest required, SMTP_MODE_DELIVER):
 * the attempt takes the most recently used kept connection whose
 * destination equals dest (smtp_cache_take_dest: name, role,
 * configuration, helo; only within smtp_connection_reuse_time_limit of
 * its opening), checks its TLS state against the policy it was opened
 * under and probes it with RSET as above, then goes on as with any kept
 * connection; res->dest is what was kept with it and res->peer names
 * its server. SMX_NOTFOUND when there is none or it fails the probe
 * (closed): nothing of this message was accepted or sent past DATA, and
 * the caller looks up the route as usual.
 */
enum smx_status smtp_session_deliver(const struct smtp_session_params *p,
    struct smtp_session_result *res);

/*
 * smtp_stage_name - the stage as an audit token: "connect", "banner",
 * "ehlo", "starttls", "handshake", "mail", "rcpt", "data", "body", "eod"
 * or "none". Never NULL.
 */
const char *smtp_stage_name(enum smtp_stage);

/*
 * smtp_session_format - one DSN text line for res, Postfix style:
 * "5.1.1 host mx[192.0.2.1]:25 said: 550 5.1.1 ... (in reply to RCPT TO
 * command)", "4.4.1 connect to mx[192.0.2.1]:25: Connection refused" or
 * "4.4.2 lost connection with mx[192.0.2.1]:25 while receiving the reply
 * to STARTTLS". Truncated to size; never fails.
 */
void smtp_session_format(const struct smtp_session_result *res, char *out,
    size_t size);

/*
 * smtp_rcpt_format - the same for one refused recipient of res:
 * "5.1.1 host mx[192.0.2.1]:25 said: 550 5.1.1 ... (in reply to RCPT TO
 * command)". Truncated to size; never fails.
 */
void smtp_rcpt_format(const struct smtp_session_result *res,
    const struct smtp_rcpt_result *rcpt, char *out, size_t size);

#endif
