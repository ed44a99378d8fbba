/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smtp_session - one SMTP delivery attempt to one server address
 * DESCRIPTION
 *	Drives the client side of RFC 5321 over smtp_conn: banner, EHLO,
 *	STARTTLS (RFC 3207), MAIL, RCPT, DATA and QUIT, one command at a
 *	time, and condenses the outcome into a struct smtp_session_result
 *	that carries everything a DSN line and an audit log line need.
 * LIMITS
 *	Commands up to SMTP_COMMAND_MAX bytes, paths up to SMTP_PATH_MAX,
 *	at most SMTP_RECIPIENTS_MAX recipients; replies as smtp_reply; each
 *	command and reply within the caller's timeout, the connection
 *	within the connect timeout; at most two connections (one more only
 *	for the opportunistic TLS fallback).
 * DIAGNOSTICS
 *	Returns a status and fills the result; logs nothing itself.
 * SECURITY
 *	Server replies are untrusted and parsed strictly. Bytes the server
 *	sends before being asked are a protocol error, and after the
 *	STARTTLS reply they abort the session (CVE-2011-0411). No NUL, CR
 *	or LF ever goes into a command argument. Message data is sent only
 *	through smtp_data (no bare CR/LF, dot-stuffing, one end marker).
 *	With mandatory TLS there is never a plaintext fallback.
 * SEE ALSO
 *	RFC 5321 sections 3, 4.1 and 4.5.3; RFC 3207; RFC 1870 (SIZE);
 *	RFC 3463; Postfix smtp(8) and src/smtp/smtp_proto.c.
 */
#include "smtp_session.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "smx_util.h"
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
	bool is_broken;           /* connection unusable: no QUIT */
	unsigned long size_limit; /* SIZE n, 0 for none */
	char reason[SMX_TLS_REASON_MAX];
};

/* Outcome of one connection: done, or try again in plaintext. */
enum attempt {
	ATTEMPT_DONE,
	ATTEMPT_RETRY_PLAIN,
};

static void set_result(struct session *s, enum smx_status st,
    const char *enhanced, const char *command, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
set_result(struct session *s, enum smx_status st, const char *enhanced,
    const char *command, const char *fmt, ...)
{
	struct smtp_session_result *r = s->res;
	va_list ap;

	r->status = st;
	r->is_delivered = st == SMX_OK;
	smx_strlcpy(r->enhanced, enhanced, sizeof(r->enhanced));
	r->command = command;
	r->reply_code = 0;
	va_start(ap, fmt);
	(void)vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* The outcome is the server's reply in s->reply. */
static enum smx_status
reply_result(struct session *s, const char *command)
{
	struct smtp_session_result *r = s->res;
	unsigned cls = s->reply.code / 100;
	enum smx_status st;
	const char *dflt;

	if (cls == 2) {
		st = SMX_OK;
		dflt = "2.0.0";
	} else if (cls == 5) {
		st = SMX_PERMFAIL;
		dflt = "5.0.0";
	} else {
		st = SMX_TEMPFAIL; /* 4yz, and 3yz where none belongs */
		dflt = "4.0.0";
	}
	if (cls == 3)
		dflt = "4.5.0";
	r->status = st;
	r->is_delivered = false;
	smx_strlcpy(r->enhanced,
	    s->reply.enhanced[0] != '\0' && cls != 3 ? s->reply.enhanced : dflt,
	    sizeof(r->enhanced));
	r->command = command;
	r->reply_code = s->reply.code;
	smtp_reply_format(&s->reply, r->text, sizeof(r->text));
	return st;
}

/* A failed read or write: lost connection, timeout or protocol error. */
static enum smx_status
io_result(struct session *s, enum smx_status st, const char *command,
    const char *while_what)
{
	if (st == SMX_INVALID)
		set_result(s, SMX_TEMPFAIL, "4.5.0", command,
		    "protocol error with %s while %s: %s", s->res->peer,
		    while_what, s->reason);
	else
		set_result(s, SMX_TEMPFAIL, "4.4.2", command,
		    "lost connection with %s while %s: %s", s->res->peer,
		    while_what, s->reason);
	return SMX_TEMPFAIL;
}

/*
 * Read one reply into s->reply. Bytes buffered after it were not asked
 * for: a protocol error (no pipelining here).
 */
static enum smx_status
read_reply(struct session *s, const char *command, const char *while_what)
{
	enum smx_status st;

	st = smtp_conn_read_reply(&s->conn, &s->reply, s->reason,
	    sizeof(s->reason));
	if (st != SMX_OK)
		return io_result(s, st, command, while_what);
	/* After STARTTLS, smtp_conn_starttls makes the stricter check. */
	if (strcmp(command, "STARTTLS") != 0 &&
	    smtp_conn_has_input(&s->conn, false)) {
		smx_strlcpy(s->reason, "unexpected data after reply",
		    sizeof(s->reason));
		return io_result(s, SMX_INVALID, command, while_what);
	}
	return SMX_OK;
}

/* Send "line" CRLF and read the reply. */
static enum smx_status chat(struct session *s, const char *command,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum smx_status
chat(struct session *s, const char *command, const char *fmt, ...)
{
	char line[SMTP_COMMAND_MAX + 1];
	char what[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		set_result(s, SMX_TEMPFAIL, "4.3.0", command,
		    "command too long");
		return SMX_TEMPFAIL;
	}
	memcpy(line + n, "\r\n", 2);
	snprintf(what, sizeof(what), "sending %s", command);
	if (smtp_conn_write(&s->conn, line, (size_t)n + 2, s->reason,
	        sizeof(s->reason)) != SMX_OK)
		return io_result(s, SMX_TEMPFAIL, command, what);
	snprintf(what, sizeof(what), "receiving the reply to %s", command);
	return read_reply(s, command, what);
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
	s->size_limit = 0;
	while (smtp_reply_next_line(&s->reply, &pos, &line, &len)) {
		if (i++ == 0)
			continue; /* the greeting line */
		if (len == 8 && smx_ascii_ncasecmp(line, "STARTTLS", 8) == 0)
			s->has_starttls = true;
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

static enum smx_status
ehlo(struct session *s)
{
	enum smx_status st;

	if ((st = chat(s, "EHLO", "EHLO %s", s->p->helo)) != SMX_OK)
		return st;
	if (s->reply.code != 250)
		return reply_result(s, "EHLO");
	parse_ehlo(s);
	return SMX_OK;
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
	enum smx_status st;

	if (p->tls_policy == SMTP_TLS_NONE || !may_use_tls)
		return SMX_OK;
	if (!s->has_starttls) {
		if (!is_mandatory)
			return SMX_OK;
		set_result(s, SMX_TEMPFAIL, "4.7.4", "EHLO",
		    "TLS is required, but was not offered by host %s",
		    s->res->peer);
		return SMX_TEMPFAIL;
	}
	if ((st = chat(s, "STARTTLS", "STARTTLS")) != SMX_OK)
		return st;
	if (s->reply.code != 220) {
		if (!is_mandatory)
			return SMX_OK; /* refused: go on in plaintext */
		reply_result(s, "STARTTLS");
		s->res->status = SMX_TEMPFAIL;
		s->res->enhanced[0] = '4';
		return SMX_TEMPFAIL;
	}
	st = smtp_conn_starttls(&s->conn, p->tls_ctx,
	    p->host != NULL && smx_is_hostname(p->host, strlen(p->host))
	        ? p->host
	        : NULL,
	    p->tls_names, p->n_tls_names, &s->res->tls, s->reason,
	    sizeof(s->reason));
	if (st == SMX_OK) {
		s->res->has_tls = true;
		return SMX_OK;
	}
	s->is_broken = true; /* no SMTP after a failed handshake */
	if (st == SMX_INVALID) {
		set_result(s, SMX_TEMPFAIL, "4.7.5", "STARTTLS",
		    "Cannot start TLS with %s: %s", s->res->peer, s->reason);
		return SMX_TEMPFAIL;
	}
	if (!is_mandatory) {
		smx_strlcpy(s->res->tls_failure, s->reason,
		    sizeof(s->res->tls_failure));
		return SMX_NOTFOUND;
	}
	if (st == SMX_PERMFAIL)
		set_result(s, SMX_TEMPFAIL, "4.7.5", "STARTTLS",
		    "Server certificate not verified");
	else
		set_result(s, SMX_TEMPFAIL, "4.7.5", "STARTTLS",
		    "Cannot start TLS: handshake failure");
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

/* MAIL FROM and every RCPT TO; SMX_OK when all recipients were taken. */
static enum smx_status
envelope(struct session *s)
{
	const struct smtp_session_params *p = s->p;
	unsigned long long size = spool_size(p->message);
	struct smtp_session_result worst;
	bool has_worst = false;
	enum smx_status st;
	size_t i;

	if (s->has_size)
		st = chat(s, "MAIL FROM", "MAIL FROM:<%s> SIZE=%llu", p->sender,
		    size);
	else
		st = chat(s, "MAIL FROM", "MAIL FROM:<%s>", p->sender);
	if (st != SMX_OK)
		return st;
	if (s->reply.code / 100 != 2)
		return reply_result(s, "MAIL FROM");
	for (i = 0; i < p->n_recipients; i++) {
		if ((st = chat(s, "RCPT TO", "RCPT TO:<%s>",
		         p->recipients[i])) != SMX_OK)
			return st;
		if (s->reply.code / 100 == 2) {
			s->res->n_accepted++;
			continue;
		}
		/* Keep the worst: permanent beats temporary. */
		st = reply_result(s, "RCPT TO");
		if (!has_worst ||
		    (st == SMX_PERMFAIL && worst.status != SMX_PERMFAIL)) {
			worst = *s->res;
			has_worst = true;
		}
	}
	if (!has_worst)
		return SMX_OK;
	/* No DATA: reset the transaction; its reply does not matter. */
	(void)chat(s, "RSET", "RSET");
	worst.n_accepted = s->res->n_accepted;
	*s->res = worst;
	return s->res->status;
}

static enum smx_status
data(struct session *s)
{
	enum smx_status st;

	if ((st = chat(s, "DATA", "DATA")) != SMX_OK)
		return st;
	if (s->reply.code != 354)
		return reply_result(s, "DATA");
	st = smtp_data_send_spool(s->p->message, data_write, s);
	if (st != SMX_OK)
		return io_result(s, SMX_TEMPFAIL, "end of data",
		    "sending message body");
	if ((st = read_reply(s, "end of data",
	         "receiving the reply to end of data")) != SMX_OK)
		return st;
	st = reply_result(s, "end of data");
	if (st == SMX_OK)
		s->res->is_delivered = true;
	return st;
}

/* Best-effort QUIT; the outcome is already known. */
static void
quit(struct session *s)
{
	struct smtp_session_result saved = *s->res;

	(void)chat(s, "QUIT", "QUIT");
	*s->res = saved;
}

/* One connection: everything from connect to QUIT. */
static enum attempt
attempt(struct session *s, bool may_use_tls)
{
	const struct smtp_session_params *p = s->p;
	enum smx_status st;
	bool is_connected = false;

	if (smtp_conn_open(&s->conn, p->addr, p->addr_len,
	        p->connect_timeout_ms, p->timeout_ms, s->reason,
	        sizeof(s->reason)) != SMX_OK) {
		set_result(s, SMX_TEMPFAIL, "4.4.1", "connect",
		    "connect to %s: %s", s->res->peer, s->reason);
		return ATTEMPT_DONE;
	}
	if ((st = read_reply(s, "banner",
	         "receiving the initial server greeting")) != SMX_OK)
		goto out;
	if (s->reply.code != 220) {
		reply_result(s, "banner");
		if (s->res->status == SMX_OK)
			s->res->status = SMX_TEMPFAIL;
		is_connected = true;
		goto out;
	}
	is_connected = true;
	if ((st = ehlo(s)) != SMX_OK)
		goto out;
	st = starttls(s, may_use_tls);
	if (st == SMX_NOTFOUND) {
		smtp_conn_close(&s->conn);
		return ATTEMPT_RETRY_PLAIN;
	}
	if (st != SMX_OK)
		goto out;
	/* RFC 3207 section 4.2: forget what was said before TLS. */
	if (s->res->has_tls && (st = ehlo(s)) != SMX_OK)
		goto out;
	if (s->has_size && s->size_limit > 0 &&
	    spool_size(p->message) > s->size_limit) {
		set_result(s, SMX_PERMFAIL, "5.3.4", "",
		    "message size %llu exceeds size limit %lu of server %s",
		    spool_size(p->message), s->size_limit, s->res->peer);
		goto out;
	}
	if ((st = envelope(s)) != SMX_OK)
		goto out;
	(void)data(s);
out:
	if (is_connected && !s->is_broken)
		quit(s);
	smtp_conn_close(&s->conn);
	return ATTEMPT_DONE;
}

static bool
is_clean_arg(const char *v, size_t max)
{
	return v != NULL && strlen(v) <= max && strpbrk(v, "\r\n") == NULL;
}

/* Check everything that goes into a command before connecting. */
static bool
params_ok(const struct smtp_session_params *p)
{
	size_t i;

	if (p->addr == NULL || p->message == NULL || p->n_recipients == 0 ||
	    p->n_recipients > SMTP_RECIPIENTS_MAX || p->recipients == NULL)
		return false;
	if (p->tls_policy != SMTP_TLS_NONE && p->tls_ctx == NULL)
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

/* "host[addr]:port", or "[addr]:port" without a host name. */
static void
format_peer(const struct smtp_session_params *p, char *out, size_t size)
{
	char addr[64];
	char port[16];

	if (getnameinfo(p->addr, p->addr_len, addr, sizeof(addr), port,
	        sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		smx_strlcpy(addr, "unknown", sizeof(addr));
		smx_strlcpy(port, "0", sizeof(port));
	}
	(void)snprintf(out, size, "%s[%s]:%s", p->host != NULL ? p->host : "",
	    addr, port);
}

enum smx_status
smtp_session_deliver(const struct smtp_session_params *p,
    struct smtp_session_result *res)
{
	struct session sess;
	struct session *s = &sess;

	memset(&sess, 0, sizeof(sess));
	memset(res, 0, sizeof(*res));
	res->command = "";
	s->p = p;
	s->res = res;
	smtp_conn_init(&s->conn);
	if (!params_ok(p)) {
		set_result(s, SMX_INVALID, "5.3.0", "",
		    "invalid delivery parameters");
		return SMX_INVALID;
	}
	format_peer(p, res->peer, sizeof(res->peer));
	if (attempt(s, true) == ATTEMPT_RETRY_PLAIN) {
		/* Postfix "may": a failed handshake is retried in plaintext. */
		char failure[sizeof(res->tls_failure)];

		smx_strlcpy(failure, res->tls_failure, sizeof(failure));
		memset(res, 0, sizeof(*res));
		res->command = "";
		format_peer(p, res->peer, sizeof(res->peer));
		res->is_tls_fallback = true;
		smx_strlcpy(res->tls_failure, failure,
		    sizeof(res->tls_failure));
		s->is_broken = false;
		(void)attempt(s, false);
	}
	return res->status;
}

void
smtp_session_format(const struct smtp_session_result *res, char *out,
    size_t size)
{
	const char *cmd = res->command != NULL ? res->command : "";
	int n;

	if (res->reply_code != 0)
		n = snprintf(out, size, "%s host %s said: %s", res->enhanced,
		    res->peer, res->text);
	else
		n = snprintf(out, size, "%s %s", res->enhanced, res->text);
	if (n < 0 || (size_t)n >= size || cmd[0] == '\0' ||
	    strcmp(cmd, "connect") == 0)
		return;
	if (strcmp(cmd, "end of data") == 0)
		cmd = "end of DATA"; /* Postfix's wording */
	(void)snprintf(out + n, size - (size_t)n, " (in reply to %s command)",
	    cmd);
}
