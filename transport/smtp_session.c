/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smtp_session - one SMTP delivery attempt to one server address
 * DESCRIPTION
 *	Drives the client side of RFC 5321 over smtp_conn: banner, EHLO
 *	(HELO when EHLO is refused and TLS is optional), STARTTLS (RFC
 *	3207), MAIL, RCPT, DATA and QUIT, and condenses the outcome into
 *	a struct smtp_session_result that says where the attempt ended
 *	(stage), why (fault) and what the server said, with one struct
 *	smtp_rcpt_result per recipient. What the outcome means for
 *	delivery is outcome_classify's business.
 *
 *	Commands go one at a time, except that MAIL, every RCPT and DATA
 *	are pipelined (RFC 2920) when the server's EHLO (after TLS, when
 *	there is TLS) offers PIPELINING: sent in one write, or in groups
 *	of SMTP_PIPELINE_MAX bytes, and the replies read in order, each
 *	accounted as in the one-command dialogue. The message follows
 *	only when a recipient was accepted; a 354 to a DATA that went out
 *	before every recipient was refused gets a lone "." (as Postfix
 *	smtp(8)). EHLO, STARTTLS and QUIT are never pipelined; RSET only
 *	where it leads the group on a kept connection.
 *
 *	An attempt has three parts: opening (connect, banner, EHLO,
 *	STARTTLS, EHLO again), the transaction of this message (what the
 *	server must offer for it, MAIL, RCPT, DATA, the end of data) and
 *	ending (QUIT and close). With a connection cache (secmx-lmtpd)
 *	opening may instead take a kept connection, which must answer RSET
 *	with 250 (with PIPELINING the RSET leads the transaction's first
 *	group, one round trip less; if its reply is anything else, nothing
 *	after it counts and the message goes over a new connection), and
 *	ending hands a clean connection back instead of QUIT (smtp_cache).
 *	Each call is independent: any number may run at once in different
 *	threads, sharing only the caches and the TLS context.
 * LIMITS
 *	Commands up to SMTP_COMMAND_MAX bytes, at most SMTP_PIPELINE_MAX
 *	bytes of them unanswered, paths up to SMTP_PATH_MAX,
 *	at most SMTP_RECIPIENTS_MAX recipients; replies as smtp_reply; each
 *	command and reply within the caller's timeout, the connection
 *	within the connect timeout, RSET on a kept connection within
 *	SMTP_RSET_TIME_MAX; at most two connections (one more only for the
 *	opportunistic TLS fallback), besides a kept one that turns out
 *	dead.
 * DIAGNOSTICS
 *	Returns a status and fills the result; logs nothing itself.
 * SECURITY
 *	Server replies are untrusted and parsed strictly, except the reply
 *	to the end of data (smtp_reply_scan), which only decides whether
 *	the message was delivered. Bytes the server sends before being
 *	asked are a protocol error (within a pipelined group the replies
 *	to the commands sent may follow each other; after the last one,
 *	nothing may), and after the STARTTLS reply they abort the session
 *	(CVE-2011-0411): STARTTLS is never pipelined. No NUL, CR or LF
 *	ever goes into a command argument. Message data is sent only
 *	through smtp_data (no bare CR/LF, dot-stuffing, one end marker).
 *	With mandatory TLS there is never a plaintext fallback, and never
 *	a kept plaintext connection: the cache key holds the policy and
 *	the TLS rules, and the TLS state is checked again before use. A
 *	connection goes back to the cache only when its state is known:
 *	after a reply parsed strictly, with nothing unasked after it.
 * SEE ALSO
 *	RFC 5321 sections 3, 4.1 and 4.5.3; RFC 3207; RFC 2920
 *	(PIPELINING); RFC 1870 (SIZE);
 *	RFC 6531 (SMTPUTF8); RFC 3463; Postfix smtp(8),
 *	src/smtp/smtp_proto.c, src/smtp/smtp_reuse.c,
 *	CONNECTION_CACHE_README.
 */
#include "smtp_session.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "smx_util.h"
#include "smtp_cache.h"
#include "smtp_conn.h"
#include "smtp_data.h"
#include "smtp_reply.h"
#include "spool.h"

/* State of one connection of an attempt. */
struct session {
	const struct smtp_session_params *p;
	struct smtp_session_result *res;
	struct smtp_conn conn;
	struct smtp_reply reply;
	bool has_starttls;        /* EHLO offered STARTTLS */
	bool has_size;            /* EHLO offered SIZE */
	bool has_smtputf8;        /* EHLO offered SMTPUTF8 */
	bool has_8bitmime;        /* EHLO offered 8BITMIME */
	bool has_pipelining;      /* EHLO offered PIPELINING (RFC 2920) */
	bool needs_smtputf8;      /* an address has non-ASCII bytes */
	bool is_broken;           /* connection unusable: no QUIT */
	bool is_eod_strict;       /* the end-of-data reply was a clean one */
	unsigned long size_limit; /* SIZE n, 0 for none */
	char reason[SMX_TLS_REASON_MAX];
	/* With p->conn_cache (and for the TLS session cache, where). */
	bool has_key; /* key made: the cache may be used */
	struct smtp_cache_key key;
	long long created_ms; /* when this connection was opened */
	unsigned n_uses;      /* deliveries it carried, this one too */
	unsigned rset_code;   /* the reply to the last RSET, 0: none */
	bool is_rset_due;     /* kept, PIPELINING: RSET leads the group */
	bool is_stale;        /* kept, and it failed that RSET: open anew */
	bool has_dest;        /* dest goes back with the connection */
	struct smtp_dest dest;
	char where[SMTP_SESSION_PEER_MAX]; /* "[addr]:port" */
};

/* Outcome of one connection: done, or try again in plaintext. */
enum attempt {
	ATTEMPT_DONE,
	ATTEMPT_RETRY_PLAIN,
};

/* What a stage is called in DSN text: "in reply to %s command". */
static const char *
stage_command(enum smtp_stage stage)
{
	switch (stage) {
	case SMTP_STAGE_EHLO:
		return "EHLO";
	case SMTP_STAGE_STARTTLS:
	case SMTP_STAGE_HANDSHAKE:
		return "STARTTLS";
	case SMTP_STAGE_MAIL:
		return "MAIL FROM";
	case SMTP_STAGE_RCPT:
		return "RCPT TO";
	case SMTP_STAGE_DATA:
		return "DATA";
	case SMTP_STAGE_BODY:
	case SMTP_STAGE_END_OF_DATA:
		return "end of DATA";
	default:
		return "";
	}
}

const char *
smtp_stage_name(enum smtp_stage stage)
{
	static const char *const names[] = {
		[SMTP_STAGE_NONE] = "none",
		[SMTP_STAGE_CONNECT] = "connect",
		[SMTP_STAGE_BANNER] = "banner",
		[SMTP_STAGE_EHLO] = "ehlo",
		[SMTP_STAGE_STARTTLS] = "starttls",
		[SMTP_STAGE_HANDSHAKE] = "handshake",
		[SMTP_STAGE_MAIL] = "mail",
		[SMTP_STAGE_RCPT] = "rcpt",
		[SMTP_STAGE_DATA] = "data",
		[SMTP_STAGE_BODY] = "body",
		[SMTP_STAGE_END_OF_DATA] = "eod",
	};

	if ((size_t)stage < sizeof(names) / sizeof(names[0]))
		return names[stage];
	return "none";
}

static void set_result(struct session *s, enum smx_status st,
    const char *enhanced, enum smtp_stage stage, enum smtp_fault fault,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
set_result(struct session *s, enum smx_status st, const char *enhanced,
    enum smtp_stage stage, enum smtp_fault fault, const char *fmt, ...)
{
	struct smtp_session_result *r = s->res;
	va_list ap;

	r->status = st;
	r->is_delivered = st == SMX_OK;
	smx_strlcpy(r->enhanced, enhanced, sizeof(r->enhanced));
	r->stage = stage;
	r->fault = fault;
	r->reply_code = 0;
	va_start(ap, fmt);
	(void)vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* The status and default enhanced code of a reply's class. */
static enum smx_status
reply_class(unsigned code, const char **dflt)
{
	switch (code / 100) {
	case 2:
		*dflt = "2.0.0";
		return SMX_OK;
	case 5:
		*dflt = "5.0.0";
		return SMX_PERMFAIL;
	case 3: /* where none belongs: a protocol problem */
		*dflt = "4.5.0";
		return SMX_TEMPFAIL;
	default:
		*dflt = "4.0.0";
		return SMX_TEMPFAIL;
	}
}

/* The outcome is the server's reply in s->reply. */
static enum smx_status
reply_result(struct session *s, enum smtp_stage stage)
{
	struct smtp_session_result *r = s->res;
	const char *dflt;
	enum smx_status st = reply_class(s->reply.code, &dflt);

	r->status = st;
	r->is_delivered = false;
	smx_strlcpy(r->enhanced,
	    s->reply.enhanced[0] != '\0' && s->reply.code / 100 != 3
	        ? s->reply.enhanced
	        : dflt,
	    sizeof(r->enhanced));
	r->stage = stage;
	r->fault = st == SMX_OK ? SMTP_FAULT_NONE : SMTP_FAULT_REPLY;
	r->reply_code = s->reply.code;
	smtp_reply_format(&s->reply, r->text, sizeof(r->text));
	return st;
}

/*
 * A failed read or write: a timeout, a lost connection or a protocol
 * error (Postfix smtp(8) wording).
 */
static enum smx_status
io_result(struct session *s, enum smx_status st, enum smtp_stage stage,
    const char *while_what)
{
	const char *peer = s->res->peer;

	s->is_broken = true;
	if (st == SMX_INVALID)
		set_result(s, SMX_TEMPFAIL, "4.5.0", stage, SMTP_FAULT_PROTOCOL,
		    "protocol error with %s while %s: %s", peer, while_what,
		    s->reason);
	else if (s->conn.is_timeout)
		set_result(s, SMX_TEMPFAIL, "4.4.2", stage, SMTP_FAULT_TIMEOUT,
		    "conversation with %s timed out while %s", peer,
		    while_what);
	else
		set_result(s, SMX_TEMPFAIL, "4.4.2", stage, SMTP_FAULT_LOST,
		    "lost connection with %s while %s: %s", peer, while_what,
		    s->reason);
	return SMX_TEMPFAIL;
}

/*
 * Read one reply into s->reply, leaving the result alone. Bytes
 * buffered after it were not asked for unless it answers a command of a
 * pipelined group that is not the last one sent (may_follow): then they
 * are the replies that follow. SMX_OK, or the failure with s->reason:
 * SMX_TEMPFAIL (timeout, lost connection) or SMX_INVALID (malformed,
 * unexpected data).
 */
static enum smx_status
read_raw(struct session *s, bool may_follow)
{
	enum smx_status st;

	st = smtp_conn_read_reply(&s->conn, &s->reply, s->reason,
	    sizeof(s->reason));
	if (st != SMX_OK)
		return st;
	if (!may_follow && smtp_conn_has_input(&s->conn, false)) {
		smx_strlcpy(s->reason, "unexpected data after reply",
		    sizeof(s->reason));
		return SMX_INVALID;
	}
	return SMX_OK;
}

/*
 * Read one reply into s->reply; a failure is the result. Bytes buffered
 * after it were not asked for: a protocol error.
 */
static enum smx_status
read_reply(struct session *s, enum smtp_stage stage, const char *while_what)
{
	enum smx_status st;

	/* After STARTTLS, smtp_conn_starttls makes the stricter check. */
	st = read_raw(s, stage == SMTP_STAGE_STARTTLS);
	if (st != SMX_OK)
		return io_result(s, st, stage, while_what);
	return SMX_OK;
}

/*
 * "line" CRLF into buf (SMTP_COMMAND_MAX + 1 bytes); its length, or 0
 * when the command is too long (the result says so, a local fault).
 */
static size_t vformat_command(struct session *s, enum smtp_stage stage,
    char *buf, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static size_t
vformat_command(struct session *s, enum smtp_stage stage, char *buf,
    const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, SMTP_COMMAND_MAX + 1 - 2, fmt, ap);

	if (n < 0 || (size_t)n >= SMTP_COMMAND_MAX + 1 - 2) {
		set_result(s, SMX_TEMPFAIL, "4.3.0", stage, SMTP_FAULT_LOCAL,
		    "command too long");
		return 0;
	}
	memcpy(buf + n, "\r\n", 2);
	return (size_t)n + 2;
}

static size_t format_command(struct session *s, enum smtp_stage stage,
    char *buf, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static size_t
format_command(struct session *s, enum smtp_stage stage, char *buf,
    const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = vformat_command(s, stage, buf, fmt, ap);
	va_end(ap);
	return len;
}

/*
 * "sending X" or "receiving the reply to X" for a command line: X is the
 * stage's command ("MAIL FROM") when the line starts with it, else the
 * line's first word ("RSET").
 */
static void
command_what(enum smtp_stage stage, const char *line, const char *prefix,
    char *what, size_t size)
{
	const char *name = stage_command(stage);
	size_t name_len = strlen(name);

	if (name_len == 0 || strncmp(line, name, name_len) != 0) {
		name = line;
		name_len = strcspn(line, " \r");
	}
	(void)snprintf(what, size, "%s%.*s", prefix, (int)name_len, name);
}

/* Send "line" CRLF and read the reply. */
static enum smx_status chat(struct session *s, enum smtp_stage stage,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum smx_status
chat(struct session *s, enum smtp_stage stage, const char *fmt, ...)
{
	char line[SMTP_COMMAND_MAX + 1];
	char what[64];
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = vformat_command(s, stage, line, fmt, ap);
	va_end(ap);
	if (len == 0)
		return SMX_TEMPFAIL;
	command_what(stage, line, "sending ", what, sizeof(what));
	if (smtp_conn_write(&s->conn, line, len, s->reason,
	        sizeof(s->reason)) != SMX_OK)
		return io_result(s, SMX_TEMPFAIL, stage, what);
	command_what(stage, line, "receiving the reply to ", what,
	    sizeof(what));
	return read_reply(s, stage, what);
}

/* The first word of the first line of a reply is our own name. */
static bool
is_own_name(const struct session *s)
{
	const char *t = s->reply.text;
	size_t len = strcspn(t, " \t\n");

	return len > 0 && strlen(s->p->helo) == len &&
	    smx_ascii_ncasecmp(t, s->p->helo, len) == 0;
}

/* The server is this host: Postfix's "mail for ... loops back to myself". */
static enum smx_status
loop_result(struct session *s, enum smtp_stage stage)
{
	set_result(s, SMX_PERMFAIL, "5.4.6", stage, SMTP_FAULT_LOOP,
	    "mail for %s loops back to myself (the server greets as %s)",
	    s->res->peer, s->p->helo);
	return SMX_PERMFAIL;
}

/* Collect the EHLO extensions we use; forget everything else. */
static void
parse_ehlo(struct session *s)
{
	const char *line;
	size_t len;
	size_t pos = 0;
	size_t i = 0;

	s->has_starttls = false;
	s->has_size = false;
	s->has_smtputf8 = false;
	s->has_8bitmime = false;
	s->has_pipelining = false;
	s->size_limit = 0;
	while (smtp_reply_next_line(&s->reply, &pos, &line, &len)) {
		if (i++ == 0)
			continue; /* the greeting line */
		if (len == 8 && smx_ascii_ncasecmp(line, "STARTTLS", 8) == 0)
			s->has_starttls = true;
		else if (len == 8 &&
		    smx_ascii_ncasecmp(line, "SMTPUTF8", 8) == 0)
			s->has_smtputf8 = true;
		else if (len == 8 &&
		    smx_ascii_ncasecmp(line, "8BITMIME", 8) == 0)
			s->has_8bitmime = true;
		else if (len == 10 &&
		    smx_ascii_ncasecmp(line, "PIPELINING", 10) == 0)
			s->has_pipelining = true;
		else if (len >= 4 && smx_ascii_ncasecmp(line, "SIZE", 4) == 0 &&
		    (len == 4 || line[4] == ' ')) {
			unsigned long n = 0;

			s->has_size = true;
			/* RFC 1870: SIZE without a number, or 0: no limit. */
			if (len > 5 &&
			    smx_parse_ulong(line + 5, len - 5, 0,
			        (unsigned long)-1, &n) != SMX_OK)
				n = 0;
			s->size_limit = n;
		}
	}
}

/*
 * EHLO; a 5xx reply makes it HELO when TLS is not mandatory (Postfix
 * smtp(8) does the same), and a refusal of TLS when it is.
 */
static enum smx_status
ehlo(struct session *s)
{
	enum smx_status st;

	if ((st = chat(s, SMTP_STAGE_EHLO, "EHLO %s", s->p->helo)) != SMX_OK)
		return st;
	if (s->reply.code == 250) {
		if (is_own_name(s))
			return loop_result(s, SMTP_STAGE_EHLO);
		parse_ehlo(s);
		return SMX_OK;
	}
	if (s->reply.code / 100 != 5)
		return reply_result(s, SMTP_STAGE_EHLO);
	if (s->res->has_tls)
		return reply_result(s, SMTP_STAGE_EHLO);
	if (s->p->tls_policy == SMTP_TLS_ENCRYPT) {
		reply_result(s, SMTP_STAGE_EHLO);
		s->res->status = SMX_TEMPFAIL;
		s->res->enhanced[0] = '4';
		s->res->fault = SMTP_FAULT_NO_TLS;
		return SMX_TEMPFAIL;
	}
	if ((st = chat(s, SMTP_STAGE_EHLO, "HELO %s", s->p->helo)) != SMX_OK)
		return st;
	if (s->reply.code != 250)
		return reply_result(s, SMTP_STAGE_EHLO);
	s->res->is_helo = true;
	s->has_starttls = false;
	s->has_size = false;
	s->has_smtputf8 = false;
	s->has_8bitmime = false;
	s->has_pipelining = false;
	s->size_limit = 0;
	return SMX_OK;
}

/* A failed handshake: the fault the TLS layer saw. */
static enum smtp_fault
handshake_fault(const struct smx_tls_info *info)
{
	switch (info->failure) {
	case SMX_TLS_FAIL_TIMEOUT:
		return SMTP_FAULT_TIMEOUT;
	case SMX_TLS_FAIL_LOST:
		return SMTP_FAULT_LOST;
	case SMX_TLS_FAIL_ALERT:
		return SMTP_FAULT_TLS_ALERT;
	case SMX_TLS_FAIL_VERIFY:
		return SMTP_FAULT_TLS_VERIFY;
	default:
		return SMTP_FAULT_PROTOCOL;
	}
}

/*
 * The TLS peer as the handshake sees it: the caller's, with the host as
 * SNI when none is given, and with a TLS session cache the server's
 * "[addr]:port" as where, unless the caller named it.
 */
static void
tls_peer(const struct session *s, struct smx_tls_peer *peer)
{
	const struct smtp_session_params *p = s->p;

	*peer = p->tls;
	if (peer->sni == NULL && p->host != NULL &&
	    smx_is_hostname(p->host, strlen(p->host)))
		peer->sni = p->host;
	if (peer->cache != NULL && peer->where == NULL)
		peer->where = s->where;
}

/*
 * STARTTLS when the policy asks for it and the server offers it. Returns
 * SMX_OK to go on (in TLS, or in plaintext where the policy allows it),
 * SMX_NOTFOUND to retry on a new connection in plaintext (SMTP_TLS_MAY,
 * handshake or verification failed), or the failure.
 */
static enum smx_status
starttls(struct session *s, bool may_use_tls)
{
	const struct smtp_session_params *p = s->p;
	bool is_mandatory = p->tls_policy == SMTP_TLS_ENCRYPT;
	struct smx_tls_peer peer;
	enum smx_status st;
	enum smtp_fault fault;

	if (p->tls_policy == SMTP_TLS_NONE || !may_use_tls)
		return SMX_OK;
	if (!s->has_starttls) {
		if (!is_mandatory)
			return SMX_OK;
		set_result(s, SMX_TEMPFAIL, "4.7.4", SMTP_STAGE_EHLO,
		    SMTP_FAULT_NO_TLS,
		    "TLS is required, but was not offered by host %s",
		    s->res->peer);
		return SMX_TEMPFAIL;
	}
	if ((st = chat(s, SMTP_STAGE_STARTTLS, "STARTTLS")) != SMX_OK)
		return st;
	if (s->reply.code != 220) {
		if (!is_mandatory)
			return SMX_OK; /* refused: go on in plaintext */
		reply_result(s, SMTP_STAGE_STARTTLS);
		s->res->status = SMX_TEMPFAIL;
		s->res->enhanced[0] = '4';
		return SMX_TEMPFAIL;
	}
	tls_peer(s, &peer);
	st = smtp_conn_starttls(&s->conn, p->tls_ctx, &peer, &s->res->tls,
	    s->reason, sizeof(s->reason));
	if (st == SMX_OK) {
		s->res->has_tls = true;
		return SMX_OK;
	}
	s->is_broken = true; /* no SMTP after a failed handshake */
	if (st == SMX_INVALID) {
		set_result(s, SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_STARTTLS,
		    SMTP_FAULT_PROTOCOL, "Cannot start TLS with %s: %s",
		    s->res->peer, s->reason);
		return SMX_TEMPFAIL;
	}
	if (!is_mandatory) {
		smx_strlcpy(s->res->tls_failure, s->reason,
		    sizeof(s->res->tls_failure));
		return SMX_NOTFOUND;
	}
	fault = handshake_fault(&s->res->tls);
	if (st == SMX_PERMFAIL)
		set_result(s, SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_HANDSHAKE,
		    SMTP_FAULT_TLS_VERIFY,
		    "Server certificate not verified: %s",
		    s->res->tls.verify_reason);
	else
		set_result(s, SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_HANDSHAKE,
		    fault, "Cannot start TLS: handshake failure with %s: %s",
		    s->res->peer, s->reason);
	return SMX_TEMPFAIL;
}

/* smtp_data sink: the connection. */
static enum smx_status
data_write(void *ctx, const char *buf, size_t len)
{
	struct session *s = ctx;

	return smtp_conn_write(&s->conn, buf, len, s->reason,
	    sizeof(s->reason));
}

/* Record the reply to one RCPT TO in *r. */
static void
rcpt_reply(const struct session *s, struct smtp_rcpt_result *r)
{
	const char *dflt;
	enum smx_status st = reply_class(s->reply.code, &dflt);

	memset(r, 0, sizeof(*r));
	r->is_accepted = st == SMX_OK;
	r->reply_code = s->reply.code;
	smx_strlcpy(r->enhanced,
	    s->reply.enhanced[0] != '\0' && s->reply.code / 100 != 3
	        ? s->reply.enhanced
	        : dflt,
	    sizeof(r->enhanced));
	smtp_reply_format(&s->reply, r->text, sizeof(r->text));
}

/* The MAIL FROM command of this message into buf; as format_command. */
static size_t
mail_command(struct session *s, char *buf)
{
	const struct smtp_session_params *p = s->p;
	char size[32] = "";

	if (s->has_size && p->message != NULL)
		(void)snprintf(size, sizeof(size), " SIZE=%llu",
		    spool_size(p->message));
	return format_command(s, SMTP_STAGE_MAIL, buf, "MAIL FROM:<%s>%s%s%s",
	    p->sender, size,
	    p->is_8bitmime && s->has_8bitmime ? " BODY=8BITMIME" : "",
	    s->needs_smtputf8 || (p->is_smtputf8 && s->has_smtputf8)
	        ? " SMTPUTF8"
	        : "");
}

/*
 * Account the reply in s->reply to RCPT TO for recipient i; *worst is
 * the worst refusal so far (permanent before temporary).
 */
static void
note_rcpt(struct session *s, size_t i, const struct smtp_rcpt_result **worst)
{
	struct smtp_rcpt_result *r = &s->p->rcpt[i];

	rcpt_reply(s, r);
	if (r->is_accepted) {
		s->res->n_accepted++;
		return;
	}
	if (*worst == NULL ||
	    (r->reply_code / 100 == 5 && (*worst)->reply_code / 100 != 5))
		*worst = r;
}

/*
 * No recipient was accepted: the worst refusal is the result, and the
 * transaction is reset (unless the connection is broken); the reply to
 * RSET does not change the result.
 */
static enum smx_status
all_refused(struct session *s, const struct smtp_rcpt_result *worst)
{
	struct smtp_session_result saved;

	set_result(s,
	    worst->reply_code / 100 == 5 ? SMX_PERMFAIL : SMX_TEMPFAIL,
	    worst->enhanced, SMTP_STAGE_RCPT, SMTP_FAULT_REPLY, "%s",
	    worst->text);
	s->res->reply_code = worst->reply_code;
	if (s->is_broken)
		return s->res->status;
	saved = *s->res;
	if (chat(s, SMTP_STAGE_MAIL, "RSET") == SMX_OK)
		s->rset_code = s->reply.code;
	*s->res = saved;
	return s->res->status;
}

/*
 * MAIL FROM and every RCPT TO, one command at a time. SMX_OK when at
 * least one recipient was accepted; otherwise the worst refusal (after
 * RSET).
 */
static enum smx_status
envelope_serial(struct session *s)
{
	const struct smtp_session_params *p = s->p;
	const struct smtp_rcpt_result *worst = NULL;
	char line[SMTP_COMMAND_MAX + 1];
	enum smx_status st;
	size_t len;
	size_t i;

	if ((len = mail_command(s, line)) == 0)
		return SMX_TEMPFAIL;
	st = chat(s, SMTP_STAGE_MAIL, "%.*s", (int)(len - 2), line);
	if (st != SMX_OK)
		return st;
	if (s->reply.code / 100 != 2)
		return reply_result(s, SMTP_STAGE_MAIL);
	for (i = 0; i < p->n_recipients; i++) {
		if ((st = chat(s, SMTP_STAGE_RCPT, "RCPT TO:<%s>",
		         p->recipients[i])) != SMX_OK)
			return st;
		note_rcpt(s, i, &worst);
	}
	if (s->res->n_accepted > 0)
		return SMX_OK;
	return all_refused(s, worst);
}

#define RSET_COMMAND "RSET\r\n"

_Static_assert(SMTP_PIPELINE_MAX >= sizeof(RSET_COMMAND) - 1 + SMTP_COMMAND_MAX,
    "a pipelined group holds at least one command after RSET");

/*
 * A pipelined group (RFC 2920): MAIL FROM, RCPT TO for every recipient
 * and, when the message follows, DATA; command k is MAIL (0), the RCPT
 * of recipient k - 1, or DATA (n_recipients + 1).
 */
struct group {
	size_t n_cmds;
	size_t n_sent;        /* commands written */
	size_t n_read;        /* replies read, in order */
	bool is_mail_refused; /* MAIL FROM was refused: nothing counts */
	bool has_data_reply;  /* s->reply answers DATA, to be acted on */
	const struct smtp_rcpt_result *worst;
};

static enum smtp_stage
group_stage(const struct session *s, size_t k)
{
	if (k == 0)
		return SMTP_STAGE_MAIL;
	return k <= s->p->n_recipients ? SMTP_STAGE_RCPT : SMTP_STAGE_DATA;
}

/* Command k of the group into buf; as format_command. */
static size_t
group_command(struct session *s, size_t k, char *buf)
{
	const struct smtp_session_params *p = s->p;

	if (k == 0)
		return mail_command(s, buf);
	if (k <= p->n_recipients)
		return format_command(s, SMTP_STAGE_RCPT, buf, "RCPT TO:<%s>",
		    p->recipients[k - 1]);
	return format_command(s, SMTP_STAGE_DATA, buf, "DATA");
}

/*
 * Send the next commands of the group that fit in SMTP_PIPELINE_MAX
 * bytes, in one write. DATA goes out only behind RCPT commands whose
 * replies are still to come, or when a recipient was accepted: when
 * every reply is in and none accepted it, the group ends without it
 * (as Postfix smtp(8)). On a kept connection RSET leads the first write
 * (RFC 2920 section 3.1 allows it anywhere in a group); when that write
 * fails the connection is stale (SMX_NOTFOUND).
 */
static enum smx_status
group_send(struct session *s, struct group *g)
{
	char buf[SMTP_PIPELINE_MAX];
	char line[SMTP_COMMAND_MAX + 1];
	enum smtp_stage first = group_stage(s, g->n_sent);
	char what[64];
	size_t len = 0;
	size_t n;

	if (s->is_rset_due && g->n_sent == 0) {
		memcpy(buf, RSET_COMMAND, sizeof(RSET_COMMAND) - 1);
		len = sizeof(RSET_COMMAND) - 1;
	}
	while (g->n_sent < g->n_cmds) {
		if (group_stage(s, g->n_sent) == SMTP_STAGE_DATA &&
		    g->n_read == g->n_sent && s->res->n_accepted == 0) {
			g->n_cmds = g->n_sent;
			break;
		}
		if ((n = group_command(s, g->n_sent, line)) == 0)
			return SMX_TEMPFAIL;
		if (n > sizeof(buf) - len)
			break;
		memcpy(buf + len, line, n);
		len += n;
		g->n_sent++;
	}
	if (len == 0)
		return SMX_OK;
	(void)snprintf(what, sizeof(what), "sending %s", stage_command(first));
	if (smtp_conn_write(&s->conn, buf, len, s->reason, sizeof(s->reason)) ==
	    SMX_OK)
		return SMX_OK;
	if (s->is_rset_due) {
		s->is_rset_due = false;
		s->is_stale = s->is_broken = true;
		return SMX_NOTFOUND;
	}
	return io_result(s, SMX_TEMPFAIL, first, what);
}

/*
 * The reply to the RSET that led the group on a kept connection, within
 * SMTP_RSET_TIME_MAX: true when it is 250. Otherwise the connection is
 * stale: no reply to the rest of the group was read, no message data
 * was sent, so nothing was accepted, and the message goes over a new
 * connection (attempt, dest_reuse).
 */
static bool
rset_reply_ok(struct session *s)
{
	int timeout_ms = s->conn.timeout_ms;
	int rset_ms = SMTP_RSET_TIME_MAX * 1000;
	enum smx_status st;

	s->is_rset_due = false;
	if (rset_ms < timeout_ms)
		s->conn.timeout_ms = rset_ms;
	st = smtp_conn_read_reply(&s->conn, &s->reply, s->reason,
	    sizeof(s->reason));
	s->conn.timeout_ms = timeout_ms;
	if (st == SMX_OK && s->reply.code == 250)
		return true;
	s->is_stale = s->is_broken = true;
	return false;
}

/*
 * DATA was answered 354 although no recipient was accepted (or MAIL
 * FROM was refused): end the empty message with a lone "." (RFC 2920
 * section 3.1; Postfix smtp(8) does the same) and read the reply, which
 * changes nothing: the transaction failed for every recipient. Anything
 * but a clean reply leaves the connection broken.
 */
static void
end_empty_data(struct session *s)
{
	if (smtp_conn_write(&s->conn, ".\r\n", 3, s->reason,
	        sizeof(s->reason)) != SMX_OK ||
	    read_raw(s, false) != SMX_OK)
		s->is_broken = true;
}

/* Account the reply in s->reply to command k of the group. */
static void
group_account(struct session *s, struct group *g, size_t k)
{
	bool is_dead = g->is_mail_refused || s->res->n_accepted == 0;

	switch (group_stage(s, k)) {
	case SMTP_STAGE_MAIL:
		if (s->reply.code / 100 != 2) {
			(void)reply_result(s, SMTP_STAGE_MAIL);
			g->is_mail_refused = true;
		}
		break;
	case SMTP_STAGE_RCPT:
		/* After a refused MAIL FROM: "503 need MAIL", not ours. */
		if (!g->is_mail_refused)
			note_rcpt(s, k - 1, &g->worst);
		break;
	default: /* DATA */
		if (!is_dead)
			g->has_data_reply = true;
		else if (s->reply.code == 354)
			end_empty_data(s);
		break;
	}
}

/*
 * Read the reply to the next command of the group and account it. A
 * failure ends the attempt as in the one-command dialogue (a timeout,
 * a lost connection or unexpected bytes defer), except after the
 * outcome is already known: a refused MAIL FROM, or DATA with no
 * recipient accepted; then it only marks the connection broken.
 */
static enum smx_status
group_receive(struct session *s, struct group *g)
{
	size_t k = g->n_read;
	enum smtp_stage stage = group_stage(s, k);
	char what[64];
	enum smx_status st;

	st = read_raw(s, k + 1 < g->n_sent);
	if (st != SMX_OK) {
		if (g->is_mail_refused ||
		    (stage == SMTP_STAGE_DATA && s->res->n_accepted == 0)) {
			s->is_broken = true;
			g->n_read = g->n_sent = g->n_cmds;
			return SMX_OK;
		}
		(void)snprintf(what, sizeof(what), "receiving the reply to %s",
		    stage_command(stage));
		return io_result(s, st, stage, what);
	}
	g->n_read++;
	group_account(s, g, k);
	return SMX_OK;
}

/*
 * MAIL FROM, every RCPT TO and (with_data) DATA pipelined: sent in
 * groups of at most SMTP_PIPELINE_MAX bytes, each group in one write,
 * the replies read in order, each within the timeout, each accounted as
 * in the one-command dialogue. SMX_OK when at least one recipient was
 * accepted (with_data: the reply to DATA is then in s->reply); else the
 * refusal of MAIL FROM, or the worst refusal of a recipient (after
 * RSET), or the failure.
 */
static enum smx_status
envelope_piped(struct session *s, bool with_data, bool *has_data_reply)
{
	struct group g;
	enum smx_status st;

	memset(&g, 0, sizeof(g));
	g.n_cmds = 1 + s->p->n_recipients + (with_data ? 1 : 0);
	while (g.n_read < g.n_cmds && !g.is_mail_refused) {
		bool has_rset = s->is_rset_due;

		if ((st = group_send(s, &g)) != SMX_OK)
			return st;
		if (has_rset && !rset_reply_ok(s))
			return SMX_NOTFOUND;
		while (g.n_read < g.n_sent) {
			if ((st = group_receive(s, &g)) != SMX_OK)
				return st;
		}
	}
	if (g.is_mail_refused)
		return s->res->status;
	if (s->res->n_accepted == 0)
		return all_refused(s, g.worst);
	*has_data_reply = g.has_data_reply;
	return SMX_OK;
}

/*
 * The envelope, pipelined when the server offers PIPELINING (RFC 2920;
 * never EHLO or STARTTLS, which come before), else one command at a
 * time. SMX_OK when at least one recipient was accepted; *has_data_reply
 * tells whether DATA went out with it and its reply is in s->reply.
 */
static enum smx_status
envelope(struct session *s, bool *has_data_reply)
{
	*has_data_reply = false;
	if (s->has_pipelining)
		return envelope_piped(s, s->p->mode == SMTP_MODE_DELIVER,
		    has_data_reply);
	return envelope_serial(s);
}

/*
 * DATA (unless its reply is in already), the message and the end of
 * data.
 */
static enum smx_status
data(struct session *s, bool has_data_reply)
{
	enum smx_status st;

	if (!has_data_reply &&
	    (st = chat(s, SMTP_STAGE_DATA, "DATA")) != SMX_OK)
		return st;
	if (s->reply.code != 354)
		return reply_result(s, SMTP_STAGE_DATA);
	st = smtp_data_send_spool(s->p->message, data_write, s);
	if (st != SMX_OK)
		return io_result(s, SMX_TEMPFAIL, SMTP_STAGE_BODY,
		    "sending message body");
	/*
	 * Once the server says 2xx here the message is delivered: read the
	 * reply forgivingly, so that an odd reply never leads to a retry
	 * and a second copy.
	 */
	st = smtp_conn_read_final_reply(&s->conn, &s->reply, &s->is_eod_strict,
	    s->reason, sizeof(s->reason));
	if (st != SMX_OK)
		return io_result(s, st, SMTP_STAGE_END_OF_DATA,
		    "receiving the reply to end of DATA");
	st = reply_result(s, SMTP_STAGE_END_OF_DATA);
	if (st == SMX_OK)
		s->res->is_delivered = true;
	return st;
}

/* Best-effort QUIT; the outcome is already known. */
static void
quit(struct session *s)
{
	struct smtp_session_result saved = *s->res;

	(void)chat(s, SMTP_STAGE_NONE, "QUIT");
	*s->res = saved;
}

/* The banner: 220, and not our own name. */
static enum smx_status
banner(struct session *s)
{
	enum smx_status st;

	st = read_reply(s, SMTP_STAGE_BANNER,
	    "receiving the initial server greeting");
	if (st != SMX_OK)
		return st;
	if (s->reply.code != 220) {
		reply_result(s, SMTP_STAGE_BANNER);
		s->res->fault = SMTP_FAULT_REPLY;
		if (s->res->status == SMX_OK)
			s->res->status = SMX_TEMPFAIL;
		return s->res->status;
	}
	if (is_own_name(s))
		return loop_result(s, SMTP_STAGE_BANNER);
	return SMX_OK;
}

/* What the server must offer for this message, checked after EHLO. */
static enum smx_status
check_offers(struct session *s)
{
	const struct smtp_session_params *p = s->p;

	if (s->needs_smtputf8 && !s->has_smtputf8) {
		/* Postfix smtp(8): a permanent failure of the message. */
		set_result(s, SMX_PERMFAIL, "5.6.7", SMTP_STAGE_EHLO,
		    SMTP_FAULT_SMTPUTF8,
		    "SMTPUTF8 is required, but was not offered by host %s",
		    s->res->peer);
		return SMX_PERMFAIL;
	}
	if (s->has_size && s->size_limit > 0 && p->message != NULL &&
	    spool_size(p->message) > s->size_limit) {
		set_result(s, SMX_PERMFAIL, "5.3.4", SMTP_STAGE_EHLO,
		    SMTP_FAULT_SIZE,
		    "message size %llu exceeds size limit %lu of server %s",
		    spool_size(p->message), s->size_limit, s->res->peer);
		return SMX_PERMFAIL;
	}
	return SMX_OK;
}

/* PROBE: the server is ready for the message; nothing is sent. */
static void
probe_ready(struct session *s)
{
	size_t i;

	set_result(s, SMX_OK, "2.0.0", SMTP_STAGE_EHLO, SMTP_FAULT_NONE,
	    "ready for mail (probe: no message sent)");
	s->res->n_accepted = s->p->n_recipients;
	for (i = 0; i < s->p->n_recipients; i++)
		s->p->rcpt[i].is_accepted = true;
}

/* PROBE_RCPT: the recipients were accepted; reset, never DATA. */
static void
probe_reset(struct session *s)
{
	struct smtp_session_result saved;

	set_result(s, SMX_OK, "2.0.0", SMTP_STAGE_RCPT, SMTP_FAULT_NONE,
	    "recipient accepted (probe: no message sent)");
	s->res->is_delivered = false;
	saved = *s->res;
	(void)chat(s, SMTP_STAGE_MAIL, "RSET");
	*s->res = saved;
}

/*
 * Opening a connection: connect, banner, EHLO, STARTTLS per the policy
 * and EHLO again. SMX_OK: ready for a transaction. SMX_NOTFOUND: the
 * handshake failed under SMTP_TLS_MAY, to be tried again in plaintext
 * (closed). Otherwise the failure is in the result; the connection is
 * closed when connecting failed, else end_conn ends it.
 */
static enum smx_status
open_conn(struct session *s, bool may_use_tls)
{
	const struct smtp_session_params *p = s->p;
	enum smx_status st;

	if (smtp_conn_open(&s->conn, p->addr, p->addr_len,
	        p->connect_timeout_ms, p->timeout_ms, s->reason,
	        sizeof(s->reason)) != SMX_OK) {
		set_result(s, SMX_TEMPFAIL, "4.4.1", SMTP_STAGE_CONNECT,
		    s->conn.is_timeout ? SMTP_FAULT_TIMEOUT : SMTP_FAULT_LOST,
		    "connect to %s: %s", s->res->peer, s->reason);
		return SMX_TEMPFAIL;
	}
	if ((st = banner(s)) != SMX_OK || (st = ehlo(s)) != SMX_OK)
		return st;
	st = starttls(s, may_use_tls);
	if (st == SMX_NOTFOUND) {
		smtp_conn_close(&s->conn);
		return SMX_NOTFOUND;
	}
	if (st != SMX_OK)
		return st;
	/* RFC 3207 section 4.2: forget what was said before TLS. */
	if (s->res->has_tls && (st = ehlo(s)) != SMX_OK)
		return st;
	return SMX_OK;
}

/*
 * The transaction of this message on an open connection: what the
 * server must offer for it, MAIL FROM, RCPT TO, then DATA and the end of
 * data (or what a probe mode does instead). The outcome is in the
 * result.
 */
static void
transaction(struct session *s)
{
	const struct smtp_session_params *p = s->p;
	bool has_data_reply;

	if (check_offers(s) != SMX_OK)
		return;
	if (p->mode == SMTP_MODE_PROBE) {
		probe_ready(s);
		return;
	}
	if (envelope(s, &has_data_reply) != SMX_OK)
		return;
	if (p->mode == SMTP_MODE_PROBE_RCPT)
		probe_reset(s);
	else
		(void)data(s, has_data_reply);
}

/*
 * Whether a connection's TLS state fits the policy: TLS when it is
 * required, none when it is off. The cache key already guarantees it;
 * this is the last check before a message goes out.
 */
static bool
is_tls_state_ok(enum smtp_tls_policy policy, bool has_tls)
{
	switch (policy) {
	case SMTP_TLS_ENCRYPT:
		return has_tls;
	case SMTP_TLS_NONE:
		return !has_tls;
	case SMTP_TLS_MAY:
		break;
	}
	return true;
}

/*
 * RSET on a connection, leaving the result alone: true when the server
 * answered 250 and nothing else. A failed write or read marks the
 * connection broken.
 */
static bool
rset_ok(struct session *s)
{
	if (smtp_conn_write(&s->conn, "RSET\r\n", 6, s->reason,
	        sizeof(s->reason)) != SMX_OK ||
	    smtp_conn_read_reply(&s->conn, &s->reply, s->reason,
	        sizeof(s->reason)) != SMX_OK ||
	    smtp_conn_has_input(&s->conn, false)) {
		s->is_broken = true;
		return false;
	}
	s->rset_code = s->reply.code;
	return s->reply.code == 250;
}

/*
 * Use a kept connection taken from the cache for key: its TLS state
 * must fit the key's policy, it must have said nothing unasked meanwhile
 * and answer RSET with 250 (within SMTP_RSET_TIME_MAX); then the session
 * goes on with what its server said in EHLO. Anything else closes it
 * and returns false. With PIPELINING the RSET goes out with the
 * transaction's first group instead, saving a round trip
 * (s->is_rset_due; a failure there makes the session stale).
 */
static bool
use_cached(struct session *s, const struct smtp_cache_key *key,
    struct smtp_cached *c)
{
	const struct smtp_session_params *p = s->p;
	int rset_ms = SMTP_RSET_TIME_MAX * 1000;

	if (!is_tls_state_ok(key->tls_policy, c->has_tls)) {
		smtp_cache_discard(c);
		return false;
	}
	s->conn = c->conn;
	s->conn.timeout_ms = p->timeout_ms < rset_ms ? p->timeout_ms : rset_ms;
	if (smtp_conn_has_input(&s->conn, true) ||
	    (!c->has_pipelining && !rset_ok(s))) {
		smtp_conn_close(&s->conn);
		s->is_broken = false;
		s->rset_code = 0;
		return false;
	}
	s->conn.timeout_ms = p->timeout_ms;
	s->rset_code = 0;
	s->is_rset_due = c->has_pipelining;
	s->has_starttls = c->has_starttls;
	s->has_size = c->has_size;
	s->has_smtputf8 = c->has_smtputf8;
	s->has_8bitmime = c->has_8bitmime;
	s->has_pipelining = c->has_pipelining;
	s->size_limit = c->size_limit;
	s->created_ms = c->created_ms;
	s->n_uses = c->n_uses;
	s->res->has_tls = c->has_tls;
	s->res->tls = c->tls;
	s->res->is_helo = c->is_helo;
	s->res->is_reused = true;
	return true;
}

/*
 * Opening from the cache: a kept connection for this key (use_cached).
 * false: the caller connects as if there had been none.
 */
static bool
take_cached(struct session *s)
{
	struct smtp_cached c;

	return s->has_key && smtp_cache_take(s->p->conn_cache, &s->key, &c) &&
	    use_cached(s, &s->key, &c);
}

/*
 * Whether the connection may carry another message: its state must be
 * known and clean. Delivered with a strictly valid 2xx end-of-data reply
 * and nothing after it; or refused at MAIL, RCPT or DATA (a reply parsed
 * strictly) with the transaction reset, RSET answered 250 (sent here
 * when it has not been). Never in a probe mode, after a broken
 * connection (timeout, lost, unexpected bytes) or a plaintext fallback.
 */
static bool
is_reusable(struct session *s)
{
	const struct smtp_session_params *p = s->p;
	const struct smtp_session_result *r = s->res;

	if (!s->has_key || p->mode != SMTP_MODE_DELIVER || s->is_broken ||
	    r->is_tls_fallback || s->conn.fd < 0 ||
	    !is_tls_state_ok(s->key.tls_policy, r->has_tls))
		return false;
	if (r->is_delivered)
		return r->stage == SMTP_STAGE_END_OF_DATA &&
		    r->reply_code / 100 == 2 && s->is_eod_strict;
	if (r->fault != SMTP_FAULT_REPLY)
		return false;
	switch (r->stage) {
	case SMTP_STAGE_RCPT: /* every recipient refused: RSET was sent */
		return s->rset_code == 250;
	case SMTP_STAGE_MAIL:
	case SMTP_STAGE_DATA:
		return rset_ok(s);
	default:
		return false;
	}
}

/* Ending with a cache: hand a clean connection back instead of QUIT. */
static bool
hand_back(struct session *s)
{
	struct smtp_cached c;

	if (!is_reusable(s))
		return false;
	memset(&c, 0, sizeof(c));
	c.conn = s->conn;
	c.has_starttls = s->has_starttls;
	c.has_size = s->has_size;
	c.has_smtputf8 = s->has_smtputf8;
	c.has_8bitmime = s->has_8bitmime;
	c.has_pipelining = s->has_pipelining;
	c.size_limit = s->size_limit;
	c.is_helo = s->res->is_helo;
	c.has_tls = s->res->has_tls;
	c.tls = s->res->tls;
	smx_strlcpy(c.peer, s->res->peer, sizeof(c.peer));
	c.is_dane = s->res->is_dane;
	c.has_dest = s->has_dest;
	c.dest = s->dest;
	c.created_ms = s->created_ms;
	c.n_uses = s->n_uses;
	smtp_conn_init(&s->conn);
	smtp_cache_put(s->p->conn_cache, &s->key, &c);
	return true;
}

/* Ending a connection: back to the cache, or QUIT (unless broken), close. */
static void
end_conn(struct session *s)
{
	if (s->has_key && hand_back(s))
		return;
	if (!s->is_broken)
		quit(s);
	smtp_conn_close(&s->conn);
}

/* "host[addr]:port", or "[addr]:port" without a host name. */
static void
format_peer(const struct smtp_session_params *p, const char *host, char *out,
    size_t size)
{
	char addr[64];
	char port[16];

	if (getnameinfo(p->addr, p->addr_len, addr, sizeof(addr), port,
	        sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		smx_strlcpy(addr, "unknown", sizeof(addr));
		smx_strlcpy(port, "0", sizeof(port));
	}
	(void)snprintf(out, size, "%s[%s]:%s", host != NULL ? host : "", addr,
	    port);
}

/* A fresh result for a new connection; the recipients are unasked. */
static void
result_reset(struct session *s)
{
	size_t i;

	memset(s->res, 0, sizeof(*s->res));
	s->res->is_dane = s->p->tls.n_tlsa > 0;
	format_peer(s->p, s->p->host, s->res->peer, sizeof(s->res->peer));
	for (i = 0; i < s->p->n_recipients; i++)
		memset(&s->p->rcpt[i], 0, sizeof(s->p->rcpt[i]));
	s->is_broken = false;
	s->is_eod_strict = false;
	s->rset_code = 0;
	s->is_rset_due = false;
	s->is_stale = false;
}

/*
 * One connection: opening (or a kept connection from the cache, and a
 * new one when that fails the RSET leading its transaction), the
 * transaction, ending.
 */
static enum attempt
attempt(struct session *s, bool may_use_tls)
{
	enum smx_status st;

	if (may_use_tls && take_cached(s)) {
		transaction(s);
		if (!s->is_stale) {
			end_conn(s);
			return ATTEMPT_DONE;
		}
		/* It failed RSET: a new one, as if none had been kept. */
		smtp_conn_close(&s->conn);
		result_reset(s);
	}
	st = open_conn(s, may_use_tls);
	if (st == SMX_NOTFOUND)
		return ATTEMPT_RETRY_PLAIN;
	if (s->has_key && s->conn.fd >= 0) {
		s->created_ms = smtp_cache_now(s->p->conn_cache);
		s->n_uses = 1;
	}
	if (s->conn.fd < 0) /* connecting failed */
		return ATTEMPT_DONE;
	if (st == SMX_OK)
		transaction(s);
	end_conn(s);
	return ATTEMPT_DONE;
}

/* No NUL (implied), CR or LF, at most max bytes. */
static bool
is_clean_arg(const char *v, size_t max)
{
	return v != NULL && strlen(v) <= max && strpbrk(v, "\r\n") == NULL;
}

/* Any byte outside ASCII: the address needs SMTPUTF8 (RFC 6531). */
static bool
has_non_ascii(const char *v)
{
	for (; *v != '\0'; v++) {
		if ((unsigned char)*v >= 0x80)
			return true;
	}
	return false;
}

/* Check everything that goes into a command before connecting. */
static bool
params_ok(const struct smtp_session_params *p)
{
	size_t i;

	if (p->is_dest_reuse ? p->conn_cache == NULL || p->dest == NULL ||
	            p->mode != SMTP_MODE_DELIVER
	                     : p->addr == NULL)
		return false;
	if ((p->message == NULL && p->mode == SMTP_MODE_DELIVER) ||
	    p->n_recipients == 0 || p->n_recipients > SMTP_RECIPIENTS_MAX ||
	    p->recipients == NULL || p->rcpt == NULL)
		return false;
	if (p->tls_policy != SMTP_TLS_NONE && p->tls_ctx == NULL &&
	    !p->is_dest_reuse)
		return false;
	if (p->host != NULL && !is_clean_arg(p->host, SMX_DOMAIN_MAX))
		return false;
	/* "<" path ">" within SMTP_PATH_MAX (RFC 5321 section 4.5.3.1.3). */
	if (!is_clean_arg(p->sender, SMTP_PATH_MAX - 2))
		return false;
	for (i = 0; i < p->n_recipients; i++) {
		if (!is_clean_arg(p->recipients[i], SMTP_PATH_MAX - 2) ||
		    p->recipients[i][0] == '\0')
			return false;
	}
	if (!is_clean_arg(p->helo, SMX_DOMAIN_MAX + 2) || p->helo[0] == '\0')
		return false;
	for (i = 0; p->helo[i] != '\0'; i++) {
		unsigned char c = (unsigned char)p->helo[i];

		if (c <= ' ' || c >= 127)
			return false;
	}
	return true;
}

/*
 * The key of the connections this delivery may use (SMTP_MODE_DELIVER
 * with a cache); without one (no memory) the cache is not used.
 */
static void
make_key(struct session *s)
{
	const struct smtp_session_params *p = s->p;
	struct smx_tls_peer peer;

	if (p->conn_cache == NULL || p->mode != SMTP_MODE_DELIVER)
		return;
	tls_peer(s, &peer);
	s->has_key =
	    smtp_cache_key_make(&s->key, p->addr, p->addr_len, p->host, p->helo,
	        p->tls_policy, p->is_sos, p->tls_ctx, &peer) == SMX_OK;
}

/*
 * is_dest_reuse: a kept connection whose last delivery went to this
 * destination, and the transaction on it; SMX_NOTFOUND when there is
 * none that passes use_cached, or when it fails the RSET leading the
 * transaction (nothing was accepted on it).
 */
static enum smx_status
dest_reuse(struct session *s)
{
	const struct smtp_session_params *p = s->p;
	struct smtp_cached c;

	if (!smtp_cache_take_dest(p->conn_cache, p->dest, p->helo, &s->key, &c))
		return SMX_NOTFOUND;
	s->has_key = true;
	if (!use_cached(s, &s->key, &c))
		return SMX_NOTFOUND;
	smx_strlcpy(s->res->peer, c.peer, sizeof(s->res->peer));
	s->res->is_dane = c.is_dane;
	s->res->dest = c.dest;
	s->dest = c.dest;
	s->has_dest = true;
	transaction(s);
	if (s->is_stale) {
		smtp_conn_close(&s->conn);
		return SMX_NOTFOUND;
	}
	end_conn(s);
	return s->res->status;
}

enum smx_status
smtp_session_deliver(const struct smtp_session_params *p,
    struct smtp_session_result *res)
{
	struct session sess;
	struct session *s = &sess;
	size_t i;

	memset(&sess, 0, sizeof(sess));
	memset(res, 0, sizeof(*res));
	s->p = p;
	s->res = res;
	smtp_conn_init(&s->conn);
	if (!params_ok(p)) {
		set_result(s, SMX_INVALID, "4.3.0", SMTP_STAGE_NONE,
		    SMTP_FAULT_LOCAL, "invalid delivery parameters");
		return SMX_INVALID;
	}
	s->needs_smtputf8 = has_non_ascii(p->sender);
	for (i = 0; i < p->n_recipients; i++)
		s->needs_smtputf8 |= has_non_ascii(p->recipients[i]);
	if (p->is_dest_reuse) {
		if (dest_reuse(s) != SMX_NOTFOUND)
			return res->status;
		memset(res, 0, sizeof(*res));
		res->status = SMX_NOTFOUND;
		return SMX_NOTFOUND;
	}
	if (p->dest != NULL) {
		s->dest = *p->dest;
		s->has_dest = true;
	}
	format_peer(p, NULL, s->where, sizeof(s->where));
	make_key(s);
	result_reset(s);
	if (attempt(s, true) == ATTEMPT_RETRY_PLAIN) {
		/* Postfix "may": a failed handshake is retried in plaintext. */
		char failure[sizeof(res->tls_failure)];

		smx_strlcpy(failure, res->tls_failure, sizeof(failure));
		result_reset(s);
		res->is_tls_fallback = true;
		smx_strlcpy(res->tls_failure, failure,
		    sizeof(res->tls_failure));
		(void)attempt(s, false);
	}
	return res->status;
}

/* "host X said: REPLY (in reply to CMD command)", or the reason. */
static void
format_line(const char *enhanced, unsigned reply_code, const char *peer,
    const char *text, enum smtp_stage stage, char *out, size_t size)
{
	const char *cmd = stage_command(stage);
	int n;

	if (reply_code != 0 && stage == SMTP_STAGE_BANNER)
		n = snprintf(out, size, "%s host %s refused to talk to me: %s",
		    enhanced, peer, text);
	else if (reply_code != 0)
		n = snprintf(out, size, "%s host %s said: %s", enhanced, peer,
		    text);
	else
		n = snprintf(out, size, "%s %s", enhanced, text);
	if (n < 0 || (size_t)n >= size || reply_code == 0 || cmd[0] == '\0')
		return;
	(void)snprintf(out + n, size - (size_t)n, " (in reply to %s command)",
	    cmd);
}

void
smtp_session_format(const struct smtp_session_result *res, char *out,
    size_t size)
{
	format_line(res->enhanced, res->reply_code, res->peer, res->text,
	    res->stage, out, size);
}

void
smtp_rcpt_format(const struct smtp_session_result *res,
    const struct smtp_rcpt_result *rcpt, char *out, size_t size)
{
	format_line(rcpt->enhanced, rcpt->reply_code, res->peer, rcpt->text,
	    SMTP_STAGE_RCPT, out, size);
}
