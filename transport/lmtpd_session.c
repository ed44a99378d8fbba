/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	lmtpd_session - one LMTP connection of secmx-lmtpd
 * DESCRIPTION
 *	Serves Postfix's lmtp(8) client (RFC 2033) on one connection: the
 *	greeting, LHLO with PIPELINING, ENHANCEDSTATUSCODES, 8BITMIME,
 *	SIZE (no fixed limit: the message spools to a file), SMTPUTF8 and
 *	XFORWARD IDENT, MAIL, RCPT, DATA, RSET, NOOP, VRFY and QUIT, with
 *	the parsing, decoding and reply formatting of lmtp_proto.
 *
 *	The audit lines carry the queue id of this host's Postfix: the id
 *	in the Received: header its cleanup(8) puts on top of every message
 *	(lmtp(8) sends XFORWARD IDENT only for mail that arrived with one),
 *	else XFORWARD IDENT, else NOQUEUE.
 *
 *	After the end of data the recipients are grouped by destination
 *	(deliver_destination: the recipient's domain) and sending role
 *	(deliver_role); each group is one deliver_run, the same SecMX
 *	delivery as secmx-transport's, so that a remote that takes several
 *	RCPTs gets the group in one transaction. Every recipient gets its
 *	own reply with its outcome's enhanced code and text: 250 sent, 451
 *	deferred, 554 bounced (lmtp_reply_status). Replies go out in RCPT
 *	order, each as soon as it and every one before it are known.
 *
 *	Mail outcomes: a message is replied to only once it was spooled
 *	whole; a connection lost before that gets no reply, and Postfix
 *	delivers the message again later. The delivery of a message ends by
 *	lmtpd_delivery_time_limit (4.4.7 for what is left), which must stay
 *	below Postfix's lmtp_data_done_timeout.
 * LIMITS
 *	LMTP_LINE_MAX bytes per command, LMTP_RECIPIENTS_MAX recipients per
 *	message, LMTPD_ERRORS_MAX refused commands per connection; waits
 *	for a command at most idle_timeout between transactions and
 *	request_timeout inside one (also for each piece of message data);
 *	the message in memory up to LMTPD_SPOOL_MEM_MAX, then in a file.
 * DIAGNOSTICS
 *	syslog: the audit lines of deliver_run, one line per transaction
 *	refused or cut short, a warning for each client error. The thread
 *	logs in batch mode (smx_log_set_batch): the lines of a delivery go
 *	out together when it ends, and whatever is queued before the thread
 *	waits for its client.
 * SECURITY
 *	Everything the client sends is untrusted (the queue holds what
 *	remote senders sent): bounded reads, lmtp_proto's strict parser,
 *	no end of data but the two consistent forms.
 * SEE ALSO
 *	RFC 2033, RFC 2920; Postfix lmtp(8), XFORWARD_README; lmtp_proto.h,
 *	deliver.h.
 */
#include "lmtpd_session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smx_io.h"
#include "smx_log.h"
#include "smx_util.h"
#include "lmtp_proto.h"
#include "outcome.h"
#include "spool.h"

/* Input: one command at its cap, plus what a client pipelines after it. */
#define IN_SIZE (4 * LMTP_LINE_MAX)
/* Output is flushed before it would grow over this. */
#define OUT_SIZE (16 * 1024)

/* How a wait for input ended. */
enum wait {
	WAIT_READY,
	WAIT_EOF,     /* end of file, reset or error: the client is gone */
	WAIT_TIMEOUT, /* nothing within the time */
	WAIT_STOP,    /* the daemon stops */
};

struct session {
	const struct lmtpd_session_env *env;
	int fd;
	const char *peer;
	bool is_done;     /* close after the pending output */
	bool is_broken;   /* the connection cannot be written to */
	bool has_lhlo;    /* LHLO was answered */
	unsigned errors;  /* refused commands so far */
	char in[IN_SIZE]; /* received, not yet used */
	size_t in_len;
	struct lmtp_line_scan scan;
	char out[OUT_SIZE]; /* replies not yet sent */
	size_t out_len;
	char queue_id[LMTP_IDENT_MAX + 1]; /* Postfix's, or "" */
	/* The transaction, from MAIL to the replies after DATA. */
	bool in_mail;
	char sender[SMTP_PATH_MAX];
	bool is_smtputf8;
	bool is_8bitmime;
	char **rcpt;
	size_t n_rcpt;
	size_t rcpt_cap;
};

/* ------------------------------------------------------------------ */
/* Output                                                               */

static void
flush(struct session *s)
{
	if (s->out_len == 0 || s->is_broken) {
		s->out_len = 0;
		return;
	}
	if (smx_io_write_all(s->fd, s->out, s->out_len,
	        smx_io_deadline((long long)LMTPD_WRITE_TIMEOUT * 1000)) !=
	    SMX_OK) {
		smx_log_warning_errno("lmtp client %s: cannot send replies",
		    s->peer);
		s->is_broken = true;
		s->is_done = true;
	}
	s->out_len = 0;
}

/* Queue one formatted reply; with text NULL the reply is code alone. */
static void
reply(struct session *s, unsigned code, const char *enhanced, const char *text)
{
	char buf[SMTP_REPLY_WIRE_MAX];
	size_t len = 0;

	if (lmtp_reply_format(code, enhanced, text, buf, sizeof(buf), &len) !=
	    SMX_OK) {
		static const char fallback[] = "451 4.3.0 Error: internal "
		                               "error\r\n";

		memcpy(buf, fallback, sizeof(fallback) - 1);
		len = sizeof(fallback) - 1;
	}
	if (s->out_len + len > sizeof(s->out))
		flush(s);
	if (len > sizeof(s->out)) {
		/* Never: one reply is at most SMTP_REPLY_WIRE_MAX. */
		len = sizeof(s->out);
	}
	memcpy(s->out + s->out_len, buf, len);
	s->out_len += len;
}

/* Queue the reply of a delivery status line (lmtp_reply_status). */
static void
reply_status(struct session *s, const char *line)
{
	char buf[SMTP_REPLY_WIRE_MAX];
	size_t len = 0;

	if (lmtp_reply_status(line, buf, sizeof(buf), &len) != SMX_OK) {
		reply(s, 451, "4.3.0", "Error: internal error");
		return;
	}
	if (s->out_len + len > sizeof(s->out))
		flush(s);
	memcpy(s->out + s->out_len, buf, len);
	s->out_len += len;
}

/* A refused command: its reply, and an end to a client that errs on. */
static void
refuse(struct session *s, enum lmtp_error e)
{
	const char *enhanced;
	const char *text;
	unsigned code;

	lmtp_error_reply(e, &code, &enhanced, &text);
	reply(s, code, enhanced, text);
	if (++s->errors >= LMTPD_ERRORS_MAX) {
		smx_log_warning("lmtp client %s: too many errors", s->peer);
		reply(s, 421, "4.7.0", "Error: too many errors");
		s->is_done = true;
	}
}

/* ------------------------------------------------------------------ */
/* Input                                                                */

/*
 * Wait for input until deadline; with watch_stop also for the daemon's
 * stop. Reads what is there into s->in.
 */
static enum wait
read_more(struct session *s, long long deadline, bool watch_stop)
{
	struct pollfd pfd[2];
	nfds_t n = 1;
	ssize_t r;

	for (;;) {
		long long left = deadline - smx_io_now_ms();
		int rc;

		if (left <= 0)
			return WAIT_TIMEOUT;
		pfd[0].fd = s->fd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		n = 1;
		if (watch_stop && s->env->stop_fd >= 0) {
			pfd[1].fd = s->env->stop_fd;
			pfd[1].events = POLLIN;
			pfd[1].revents = 0;
			n = 2;
		}
		rc = poll(pfd, n, left > 60000 ? 60000 : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return WAIT_EOF;
		if (rc == 0)
			continue;
		if (n == 2 && pfd[1].revents != 0 && pfd[0].revents == 0)
			return WAIT_STOP;
		break;
	}
	if (s->in_len == sizeof(s->in))
		return WAIT_READY; /* the caller uses what it has first */
	do {
		r = read(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len);
	} while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return WAIT_READY;
	if (r <= 0)
		return WAIT_EOF;
	s->in_len += (size_t)r;
	return WAIT_READY;
}

static void
consume(struct session *s, size_t n)
{
	if (n > s->in_len)
		n = s->in_len;
	memmove(s->in, s->in + n, s->in_len - n);
	s->in_len -= n;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                         */

static void
reset_transaction(struct session *s)
{
	size_t i;

	for (i = 0; i < s->n_rcpt; i++)
		free(s->rcpt[i]);
	s->n_rcpt = 0;
	s->in_mail = false;
	s->sender[0] = '\0';
	s->is_smtputf8 = false;
	s->is_8bitmime = false;
}

static bool
add_rcpt(struct session *s, const char *addr)
{
	char *copy;

	if (s->n_rcpt == s->rcpt_cap) {
		size_t cap = s->rcpt_cap == 0 ? 16 : s->rcpt_cap * 2;
		char **p;

		if (cap > LMTP_RECIPIENTS_MAX)
			cap = LMTP_RECIPIENTS_MAX;
		p = realloc(s->rcpt, cap * sizeof(*p));
		if (p == NULL)
			return false;
		s->rcpt = p;
		s->rcpt_cap = cap;
	}
	if ((copy = strdup(addr)) == NULL)
		return false;
	s->rcpt[s->n_rcpt++] = copy;
	return true;
}

static const char *
log_id(const struct session *s)
{
	return s->queue_id[0] != '\0' ? s->queue_id : "NOQUEUE";
}

/* The reply to LHLO: our name and the extensions. */
static void
do_lhlo(struct session *s)
{
	struct lmtpd_gen *gen = s->env->gen_get(s->env->ctx);
	char text[SMX_DOMAIN_MAX + 160];

	(void)snprintf(text, sizeof(text),
	    "%s\nPIPELINING\nENHANCEDSTATUSCODES\n8BITMIME\nSIZE\n"
	    "SMTPUTF8\nXFORWARD IDENT",
	    gen->helo);
	s->env->gen_put(s->env->ctx, gen);
	reset_transaction(s);
	s->has_lhlo = true;
	reply(s, 250, NULL, text);
}

static void
do_mail(struct session *s, const struct lmtp_command *c)
{
	enum lmtp_error e;

	if (!s->has_lhlo || s->in_mail) {
		refuse(s, LMTP_ERROR_SEQUENCE);
		return;
	}
	if ((e = lmtp_command_check_8bit(c, c->is_smtputf8)) !=
	    LMTP_ERROR_NONE) {
		refuse(s, e);
		return;
	}
	smx_strlcpy(s->sender, c->arg, sizeof(s->sender));
	s->is_smtputf8 = c->is_smtputf8;
	s->is_8bitmime = c->body == LMTP_BODY_8BITMIME;
	s->in_mail = true;
	reply(s, 250, "2.1.0", "Ok");
}

static void
do_rcpt(struct session *s, const struct lmtp_command *c)
{
	struct smx_route_nexthop dest;
	struct outcome o;
	enum lmtp_error e;

	if (!s->in_mail) {
		refuse(s, LMTP_ERROR_SEQUENCE);
		return;
	}
	if (s->n_rcpt >= LMTP_RECIPIENTS_MAX) {
		refuse(s, LMTP_ERROR_RECIPIENTS);
		return;
	}
	if ((e = lmtp_command_check_8bit(c, s->is_smtputf8)) !=
	    LMTP_ERROR_NONE) {
		refuse(s, e);
		return;
	}
	/* As pipe mode would answer it, but before the message is sent. */
	if (!deliver_destination(NULL, c->arg, &dest, &o)) {
		reply_status(s, o.line);
		return;
	}
	if (!add_rcpt(s, c->arg)) {
		smx_log_error("%s: out of memory for a recipient", log_id(s));
		reply(s, 452, "4.3.1", "Error: insufficient system storage");
		return;
	}
	reply(s, 250, "2.1.5", "Ok");
}

/* Where the decoded message goes: the spool, and a look at its header. */
struct sink {
	struct spool *sp;
	struct lmtp_header_scan header;
};

/* Message data into the spool, a piece at a time. */
static enum smx_status
spool_sink(void *ctx, const char *buf, size_t len)
{
	struct sink *k = ctx;
	char reason[128];

	lmtp_header_scan_feed(&k->header, buf, len);
	return spool_append(k->sp, buf, len, 0, reason, sizeof(reason));
}

/*
 * Read the message after 354 into k's spool. false when the connection
 * failed or timed out before the end of data: nothing is replied then.
 */
static bool
read_message(struct session *s, struct sink *k, struct lmtp_data *d,
    unsigned request_timeout)
{
	for (;;) {
		size_t used = 0;
		enum smx_status st;

		st = lmtp_data_feed(d, s->in, s->in_len, &used, spool_sink, k);
		consume(s, used);
		if (st == SMX_OK)
			return true;
		switch (read_more(s,
		    smx_io_deadline((long long)request_timeout * 1000),
		    false)) {
		case WAIT_READY:
			break;
		case WAIT_TIMEOUT:
			smx_log_warning(
			    "%s: lmtp client %s: timeout while receiving the message",
			    log_id(s), s->peer);
			return false;
		default:
			smx_log_warning(
			    "%s: lmtp client %s: lost connection while receiving the message",
			    log_id(s), s->peer);
			return false;
		}
	}
}

/* Two recipients go in one delivery: the same destination and role. */
static bool
same_group(const struct smx_route_nexthop *a, bool a_sos,
    const struct smx_route_nexthop *b, bool b_sos)
{
	return a_sos == b_sos && a->kind == b->kind && a->port == b->port &&
	    strcmp(a->host, b->host) == 0;
}

/* Send the replies from *next on that are known, in RCPT order. */
static void
reply_known(struct session *s, const struct outcome *out, const bool *known,
    size_t *next)
{
	while (*next < s->n_rcpt && known[*next]) {
		reply_status(s, out[*next].line);
		(*next)++;
	}
	flush(s);
}

/* Deliver the spooled message to every recipient; one reply each. */
static void
deliver_message(struct session *s, struct spool *sp)
{
	struct lmtpd_gen *gen = s->env->gen_get(s->env->ctx);
	const struct smx_config *cfg = gen->cfg;
	struct smx_route_nexthop *dest = NULL;
	struct outcome *out = NULL;
	struct outcome *gout = NULL;
	const char **group = NULL;
	size_t *idx = NULL;
	bool *is_sos = NULL;
	bool *known = NULL;
	long long deadline;
	size_t next = 0;
	size_t i;
	size_t j;

	deadline = smx_io_now_ms() +
	    (long long)cfg->lmtpd_delivery_time_limit * 1000 - 1000;
	dest = calloc(s->n_rcpt, sizeof(*dest));
	out = calloc(s->n_rcpt, sizeof(*out));
	gout = calloc(s->n_rcpt, sizeof(*gout));
	group = calloc(s->n_rcpt, sizeof(*group));
	idx = calloc(s->n_rcpt, sizeof(*idx));
	is_sos = calloc(s->n_rcpt, sizeof(*is_sos));
	known = calloc(s->n_rcpt, sizeof(*known));
	if (dest == NULL || out == NULL || gout == NULL || group == NULL ||
	    idx == NULL || is_sos == NULL || known == NULL) {
		smx_log_error("%s: out of memory for %zu recipients", log_id(s),
		    s->n_rcpt);
		for (i = 0; i < s->n_rcpt; i++)
			reply(s, 451, "4.3.0", "Error: insufficient memory");
		goto out;
	}
	for (i = 0; i < s->n_rcpt; i++) {
		if (!deliver_destination(NULL, s->rcpt[i], &dest[i], &out[i]))
			known[i] = true; /* checked at RCPT: never */
		is_sos[i] =
		    deliver_role(cfg, s->sender, s->rcpt[i]) == SMX_ROLE_SOS;
	}
	for (i = 0; i < s->n_rcpt; i++) {
		struct deliver_request rq;
		size_t n = 0;

		if (known[i])
			continue;
		for (j = i; j < s->n_rcpt; j++) {
			if (known[j] ||
			    !same_group(&dest[i], is_sos[i], &dest[j],
			        is_sos[j]))
				continue;
			idx[n] = j;
			group[n] = s->rcpt[j];
			n++;
		}
		if (atomic_load(s->env->is_stopping)) {
			for (j = 0; j < n; j++)
				outcome_set(&gout[j], SMX_TEMPFAIL, "4.3.2",
				    "secmx-lmtpd is shutting down");
		} else {
			memset(&rq, 0, sizeof(rq));
			rq.cfg = cfg;
			rq.io = s->env->io;
			rq.tls = &gen->tls;
			rq.cache = &gen->cache;
			rq.stop = s->env->is_stopping;
			rq.queue_id =
			    s->queue_id[0] != '\0' ? s->queue_id : NULL;
			rq.sender = s->sender;
			rq.recipients = group;
			rq.n_recipients = n;
			rq.dest = &dest[i];
			rq.is_sos = is_sos[i];
			rq.is_8bitmime = s->is_8bitmime;
			rq.is_smtputf8 = s->is_smtputf8;
			rq.helo = gen->helo;
			rq.message = sp;
			rq.deadline_ms = deadline;
			deliver_run(&rq, gout);
			smx_log_flush();
		}
		for (j = 0; j < n; j++) {
			out[idx[j]] = gout[j];
			known[idx[j]] = true;
		}
		reply_known(s, out, known, &next);
	}
	reply_known(s, out, known, &next);
out:
	free(dest);
	free(out);
	free(gout);
	free(group);
	free(idx);
	free(is_sos);
	free(known);
	s->env->gen_put(s->env->ctx, gen);
}

static void
do_data(struct session *s)
{
	struct lmtpd_gen *gen;
	struct lmtp_data d;
	struct spool sp;
	struct sink k;
	char reason[256];
	unsigned request_timeout;
	enum smx_status st;
	size_t i;

	if (!s->in_mail || s->n_rcpt == 0) {
		/* RFC 2033 section 4.2: no recipient, no DATA. */
		refuse(s, LMTP_ERROR_SEQUENCE);
		return;
	}
	if (s->in_len > 0) {
		/* RFC 2920 section 3.1: DATA ends a pipelined group. */
		smx_log_warning(
		    "%s: lmtp client %s: improper command pipelining after DATA",
		    log_id(s), s->peer);
		reply(s, 421, "4.5.0",
		    "Error: improper command pipelining after DATA");
		s->is_done = true;
		return;
	}
	gen = s->env->gen_get(s->env->ctx);
	request_timeout = gen->cfg->request_timeout;
	s->env->gen_put(s->env->ctx, gen);
	reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	flush(s);
	if (s->is_done)
		return;
	spool_init(&sp);
	sp.mem_max = LMTPD_SPOOL_MEM_MAX;
	k.sp = &sp;
	lmtp_header_scan_init(&k.header);
	lmtp_data_init(&d, 0);
	if (!read_message(s, &k, &d, request_timeout)) {
		spool_free(&sp);
		s->is_done = true;
		s->is_broken = true; /* no reply: Postfix tries again */
		return;
	}
	/*
	 * The queue id for the audit lines: that of this host's Postfix, in
	 * the Received: header its cleanup put on top, else XFORWARD IDENT.
	 */
	(void)lmtp_header_scan_id(&k.header, s->queue_id, sizeof(s->queue_id));
	st = lmtp_data_result(&d);
	if (st == SMX_OK)
		st = spool_finish(&sp, reason, sizeof(reason));
	else
		smx_strlcpy(reason, "cannot store the message", sizeof(reason));
	if (st != SMX_OK) {
		char text[320];

		smx_log_error("%s: cannot spool the message: %s", log_id(s),
		    reason);
		(void)snprintf(text, sizeof(text),
		    "cannot spool the message: %s", reason);
		for (i = 0; i < s->n_rcpt; i++)
			reply(s, 451, "4.3.0", text);
	} else {
		deliver_message(s, &sp);
	}
	spool_free(&sp);
	reset_transaction(s);
	s->queue_id[0] = '\0';
}

static void
do_xforward(struct session *s, const struct lmtp_command *c)
{
	if (s->in_mail) {
		refuse(s, LMTP_ERROR_SEQUENCE);
		return;
	}
	if (c->has_ident)
		smx_strlcpy(s->queue_id, c->ident, sizeof(s->queue_id));
	reply(s, 250, "2.0.0", "Ok");
}

/* One command line. */
static void
command(struct session *s, const char *line, size_t len)
{
	struct lmtp_command c;

	if (lmtp_command_parse(line, len, &c) != SMX_OK) {
		smx_log_debug("lmtp client %s: %s command refused: %s", s->peer,
		    lmtp_verb_name(c.verb), c.reason);
		refuse(s, c.error);
		return;
	}
	switch (c.verb) {
	case LMTP_VERB_LHLO:
		do_lhlo(s);
		break;
	case LMTP_VERB_MAIL:
		do_mail(s, &c);
		break;
	case LMTP_VERB_RCPT:
		do_rcpt(s, &c);
		break;
	case LMTP_VERB_DATA:
		do_data(s);
		break;
	case LMTP_VERB_XFORWARD:
		do_xforward(s, &c);
		break;
	case LMTP_VERB_RSET:
		reset_transaction(s);
		reply(s, 250, "2.0.0", "Ok");
		break;
	case LMTP_VERB_NOOP:
		reply(s, 250, "2.0.0", "Ok");
		break;
	case LMTP_VERB_VRFY:
		reply(s, 252, "2.0.0", "Cannot VRFY; send some mail");
		break;
	case LMTP_VERB_QUIT:
		reply(s, 221, "2.0.0", "Bye");
		s->is_done = true;
		break;
	case LMTP_VERB_EHLO:
	case LMTP_VERB_HELO:
		refuse(s, LMTP_ERROR_USE_LHLO);
		break;
	default:
		refuse(s, LMTP_ERROR_VERB);
		break;
	}
}

/* Wait for the next command; false when the session ends. */
static bool
wait_command(struct session *s)
{
	struct lmtpd_gen *gen = s->env->gen_get(s->env->ctx);
	unsigned secs =
	    s->in_mail ? gen->cfg->request_timeout : gen->cfg->idle_timeout;

	s->env->gen_put(s->env->ctx, gen);
	flush(s);
	smx_log_flush();
	if (s->is_done)
		return false;
	switch (read_more(s, smx_io_deadline((long long)secs * 1000),
	    !s->in_mail)) {
	case WAIT_READY:
		return true;
	case WAIT_STOP:
		reply(s, 421, "4.3.2", "secmx-lmtpd is shutting down");
		return false;
	case WAIT_TIMEOUT:
		smx_log_info("lmtp client %s: timeout after %s", s->peer,
		    s->in_mail ? "a command" : "an idle time");
		reply(s, 421, "4.4.2", "Error: timeout exceeded");
		return false;
	case WAIT_EOF:
	default:
		if (s->in_mail)
			smx_log_warning(
			    "%s: lmtp client %s: lost connection inside a transaction",
			    log_id(s), s->peer);
		s->is_broken = true;
		return false;
	}
}

static void
serve(struct session *s)
{
	struct lmtpd_gen *gen = s->env->gen_get(s->env->ctx);
	char text[SMX_DOMAIN_MAX + 64];

	(void)snprintf(text, sizeof(text), "%s LMTP secmx-lmtpd", gen->helo);
	s->env->gen_put(s->env->ctx, gen);
	reply(s, 220, NULL, text);
	while (!s->is_done) {
		char line[LMTP_LINE_MAX + 1];
		const char *p;
		size_t len;
		size_t used = 0;
		char reason[64];
		enum smx_status st;

		if (!s->in_mail && atomic_load(s->env->is_stopping)) {
			reply(s, 421, "4.3.2", "secmx-lmtpd is shutting down");
			break;
		}
		st = lmtp_line_next(&s->scan, s->in, s->in_len, &p, &len, &used,
		    reason, sizeof(reason));
		if (st == SMX_OK) {
			memcpy(line, p, len);
			line[len] = '\0';
			consume(s, used);
			command(s, line, len);
			continue;
		}
		consume(s, used);
		if (st == SMX_INVALID) {
			smx_log_debug("lmtp client %s: %s", s->peer, reason);
			refuse(s, LMTP_ERROR_LINE);
			continue;
		}
		if (!wait_command(s))
			break;
	}
	flush(s);
}

void
lmtpd_session_run(const struct lmtpd_session_env *env, int fd, const char *peer)
{
	struct session *s;
	int flags;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		static const char busy[] = "421 4.3.1 Error: insufficient "
		                           "memory\r\n";

		smx_log_error("lmtp client %s: out of memory", peer);
		(void)smx_io_write_all(fd, busy, sizeof(busy) - 1,
		    smx_io_deadline(1000));
		(void)close(fd);
		return;
	}
	s->env = env;
	s->fd = fd;
	s->peer = peer;
	lmtp_line_scan_reset(&s->scan);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		smx_log_warning_errno("lmtp client %s: O_NONBLOCK", peer);
	smx_log_set_batch(true);
	serve(s);
	smx_log_set_batch(false);
	reset_transaction(s);
	free(s->rcpt);
	(void)close(fd);
	free(s);
}
