/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	outcome - delivery results as pipe(8) reads them
 * DESCRIPTION
 *	Maps statuses to the exit code and the one status line of
 *	secmx-transport, and folds the attempts of one delivery (one per
 *	target address) into one outcome under the Secure Only Sender
 *	(SOS) and Best Effort Sender (BES) rules of SecMX Level 2:
 *
 *	- a receiver's reply to MAIL FROM, RCPT TO, DATA or the end of data
 *	  decides at once: 4xx defers, 5xx bounces, with its enhanced code;
 *	- other failures move on to the next target; when none is left the
 *	  mail is deferred with the most informative failure;
 *	- except for an SOS sending over MX: when every MX host answered
 *	  and none of them offered a working STARTTLS, no secure route
 *	  exists and the mail bounces with 5.7.4 (RFC 3463 "Security
 *	  features not supported"); one unreachable host makes it a deferral,
 *	  because that host might have offered TLS.
 * LIMITS
 *	The line is at most TRANSPORT_LINE_MAX bytes, below the 4096 that
 *	pipe(8) captures.
 * DIAGNOSTICS
 *	None: pure functions, no logging; they never fail.
 * SECURITY
 *	Server replies and local reasons are untrusted text. Every line is
 *	sanitised (no CR, LF, NUL or other control bytes) before it can be
 *	printed, because pipe(8) copies it into DSNs and logs.
 * SEE ALSO
 *	pipe(8); protocol-facts section 2.1 (exit status), RFC 3463,
 *	RFC 5248; Postfix dsn_valid() in src/global/dsn_util.c.
 */
#include "outcome.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "smx_util.h"

int
outcome_exit_code(enum smx_status st)
{
	switch (st) {
	case SMX_OK:
		return 0;
	case SMX_PERMFAIL:
		return EX_UNAVAILABLE;
	default:
		return EX_TEMPFAIL;
	}
}

const char *
outcome_status_name(enum smx_status st)
{
	switch (st) {
	case SMX_OK:
		return "sent";
	case SMX_PERMFAIL:
		return "bounced";
	default:
		return "deferred";
	}
}

/* 1 to 3 digits at s[*i], then advance *i. */
static bool
digits(const char *s, size_t len, size_t *i)
{
	size_t start = *i;

	while (*i < len && *i - start < 4 && s[*i] >= '0' && s[*i] <= '9')
		(*i)++;
	return *i > start && *i - start <= 3;
}

bool
outcome_dsn_valid(const char *s, size_t len)
{
	size_t i = 2;

	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	if (!digits(s, len, &i) || i >= len || s[i] != '.')
		return false;
	i++;
	return digits(s, len, &i) && i == len;
}

size_t
outcome_sanitize(char *out, size_t size, const char *in, size_t len)
{
	size_t n = 0;
	size_t i;

	if (size == 0)
		return 0;
	for (i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c == 0x7f)
			c = ' ';
		else if (c > 0x7e)
			c = '?';
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return n;
}

static enum smx_status
normal_status(enum smx_status st)
{
	return st == SMX_OK || st == SMX_PERMFAIL ? st : SMX_TEMPFAIL;
}

static char
class_digit(enum smx_status st)
{
	return st == SMX_OK ? '2' : st == SMX_PERMFAIL ? '5' : '4';
}

/* The length of a valid enhanced code at the start of s, or 0. */
static size_t
leading_dsn(const char *s)
{
	size_t len = strcspn(s, " ");

	if (len > SMTP_ENHANCED_MAX || !outcome_dsn_valid(s, len))
		return 0;
	return len;
}

static void
compose(struct outcome *o, enum smx_status status, const char *code,
    size_t code_len, const char *text)
{
	char dsn[SMTP_ENHANCED_MAX + 1];
	size_t n;

	memset(o, 0, sizeof(*o));
	o->status = normal_status(status);
	if (code == NULL || code_len == 0 || code_len > SMTP_ENHANCED_MAX ||
	    !outcome_dsn_valid(code, code_len)) {
		code = "0.0.0";
		code_len = 5;
	}
	memcpy(dsn, code, code_len);
	dsn[code_len] = '\0';
	dsn[0] = class_digit(o->status);
	o->cls = o->status == SMX_OK    ? OUTCOME_SENT
	    : o->status == SMX_PERMFAIL ? OUTCOME_TRANSACTION
	                                : OUTCOME_TRANSIENT;
	n = outcome_sanitize(o->line, sizeof(o->line), dsn, code_len);
	if (text == NULL || text[0] == '\0' || n + 1 >= sizeof(o->line))
		return;
	o->line[n++] = ' ';
	(void)outcome_sanitize(o->line + n, sizeof(o->line) - n, text,
	    strlen(text));
}

void
outcome_set(struct outcome *o, enum smx_status status, const char *enhanced,
    const char *text)
{
	compose(o, status, enhanced, enhanced != NULL ? strlen(enhanced) : 0,
	    text);
}

void
outcome_set_line(struct outcome *o, enum smx_status status, const char *line)
{
	size_t code_len = leading_dsn(line);
	const char *text = line + code_len;

	if (code_len == 0) {
		compose(o, status, NULL, 0, line);
		return;
	}
	while (*text == ' ')
		text++;
	compose(o, status, line, code_len, text);
}

bool
outcome_time_budget(long long remaining_ms, unsigned long connect_s,
    unsigned long timeout_s, int *connect_ms, int *timeout_ms)
{
	long long c = (long long)connect_s * 1000;
	long long t = (long long)timeout_s * 1000;

	if (remaining_ms <= 0)
		return false;
	if (c > remaining_ms / 4)
		c = remaining_ms / 4;
	if (t > (remaining_ms - c) / 3)
		t = (remaining_ms - c) / 3;
	if (c < OUTCOME_TIMEOUT_MIN_MS || t < OUTCOME_TIMEOUT_MIN_MS ||
	    c > 0x7fffffff || t > 0x7fffffff)
		return false;
	*connect_ms = (int)c;
	*timeout_ms = (int)t;
	return true;
}

enum outcome_class
outcome_classify(const struct smtp_session_result *r)
{
	if (r->is_delivered && r->status == SMX_OK)
		return OUTCOME_SENT;
	switch (r->fault) {
	case SMTP_FAULT_NONE:
		/* Not delivered without a fault: nothing was accepted. */
		return OUTCOME_TRANSIENT;
	case SMTP_FAULT_REPLY:
		switch (r->stage) {
		case SMTP_STAGE_MAIL:
		case SMTP_STAGE_RCPT:
		case SMTP_STAGE_DATA:
		case SMTP_STAGE_END_OF_DATA:
			return OUTCOME_TRANSACTION;
		case SMTP_STAGE_STARTTLS:
			return r->is_dane ? OUTCOME_DANE : OUTCOME_REFUSED;
		default:
			return OUTCOME_TRANSIENT; /* greeting, EHLO, HELO */
		}
	case SMTP_FAULT_NO_TLS:
	case SMTP_FAULT_TLS_ALERT:
	case SMTP_FAULT_TLS_VERIFY:
		return r->is_dane ? OUTCOME_DANE : OUTCOME_REFUSED;
	case SMTP_FAULT_LOOP:
		return OUTCOME_LOOP;
	case SMTP_FAULT_SMTPUTF8:
	case SMTP_FAULT_SIZE:
		return OUTCOME_MESSAGE;
	case SMTP_FAULT_LOCAL:
		return OUTCOME_LOCAL;
	case SMTP_FAULT_TIMEOUT:
	case SMTP_FAULT_LOST:
	case SMTP_FAULT_PROTOCOL:
		break;
	}
	return OUTCOME_TRANSIENT;
}

const char *
outcome_class_name(enum outcome_class c)
{
	switch (c) {
	case OUTCOME_SENT:
		return "sent";
	case OUTCOME_TRANSACTION:
	case OUTCOME_MESSAGE:
		return "final";
	case OUTCOME_REFUSED:
		return "refused";
	case OUTCOME_DANE:
		return "dane";
	case OUTCOME_LOOP:
		return "loop";
	case OUTCOME_LOCAL:
		return "local";
	case OUTCOME_TRANSIENT:
		break;
	}
	return "transient";
}

void
outcome_attempt_line(const struct smtp_session_result *res, char *out,
    size_t size)
{
	size_t len;

	if (size == 0)
		return;
	smtp_session_format(res, out, size);
	len = strlen(out);
	(void)snprintf(out + len, size - len, " [stage=%s class=%s]",
	    smtp_stage_name(res->stage),
	    outcome_class_name(outcome_classify(res)));
}

void
outcome_agg_init(struct outcome_agg *a, enum outcome_route route, bool is_sos,
    const char *domain, struct outcome *rcpt, size_t n_rcpts)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	a->route = route;
	a->is_sos = is_sos;
	smx_strlcpy(a->domain, domain != NULL ? domain : "", sizeof(a->domain));
	a->rcpt = rcpt;
	a->n_rcpts = n_rcpts;
	a->n_pending = n_rcpts;
	for (i = 0; i < n_rcpts; i++)
		memset(&rcpt[i], 0, sizeof(rcpt[i]));
}

/* The relay and TLS details of the attempt behind o. */
static void
copy_attempt(struct outcome *o, const struct smtp_session_result *res)
{
	smx_strlcpy(o->relay, res->peer, sizeof(o->relay));
	if (res->has_tls) {
		smx_strlcpy(o->tls_protocol, res->tls.protocol,
		    sizeof(o->tls_protocol));
		smx_strlcpy(o->tls_cipher, res->tls.cipher,
		    sizeof(o->tls_cipher));
	}
	o->tls_verified = res->tls.verified;
	smx_strlcpy(o->tlsa_match, res->tls.tlsa_match, sizeof(o->tlsa_match));
	o->is_tls_resumed = res->has_tls && res->tls.is_resumed;
	o->is_conn_reused = res->is_reused;
	o->is_secure = res->is_secure;
	o->stage = res->stage;
	o->cls = outcome_classify(res);
}

void
outcome_of_attempt(const struct smtp_session_result *res,
    const struct smtp_rcpt_result *rr, struct outcome *o)
{
	char line[TRANSPORT_LINE_MAX + 1];
	enum smx_status st = res->status;
	bool is_refused = rr != NULL && rr->reply_code != 0 && !rr->is_accepted;

	if (is_refused) {
		smtp_rcpt_format(res, rr, line, sizeof(line));
		st = rr->reply_code / 100 == 5 ? SMX_PERMFAIL : SMX_TEMPFAIL;
	} else if (res->is_delivered) {
		(void)snprintf(line, sizeof(line), "2.0.0 %s", res->text);
		st = SMX_OK;
	} else {
		smtp_session_format(res, line, sizeof(line));
		if (st == SMX_OK || st == SMX_INVALID)
			st = SMX_TEMPFAIL;
	}
	outcome_set_line(o, st, line);
	copy_attempt(o, res);
	if (is_refused) {
		/* Its own RCPT reply decided, whatever became of the rest. */
		o->stage = SMTP_STAGE_RCPT;
		o->cls = OUTCOME_TRANSACTION;
	}
}

/* Make recipient i final with o (unless it already is). */
static void
settle(struct outcome_agg *a, size_t i, const struct outcome *o)
{
	if (i >= a->n_rcpts || a->rcpt[i].is_final)
		return;
	a->rcpt[i] = *o;
	a->rcpt[i].is_final = true;
	a->n_pending--;
}

/* How informative a transient failure is; higher wins. */
static int
rank(const struct smtp_session_result *r)
{
	if (r->reply_code != 0)
		return 4; /* the server said something */
	if (r->stage > SMTP_STAGE_BANNER)
		return 3; /* lost it while talking */
	if (r->stage == SMTP_STAGE_BANNER)
		return 2;
	return 1; /* connect */
}

/* A host-level failure: count it and keep the best of its kind. */
static void
count_host(struct outcome_agg *a, enum outcome_class cls,
    const struct smtp_session_result *res, const char *line)
{
	struct outcome *best;
	int r = rank(res);

	switch (cls) {
	case OUTCOME_REFUSED:
		best = a->n_refused++ == 0 ? &a->best_refused : NULL;
		break;
	case OUTCOME_LOOP:
		best = a->n_loop++ == 0 ? &a->best_loop : NULL;
		break;
	default:
		a->n_transient++;
		best = r > a->rank_transient ? &a->best_transient : NULL;
		if (best != NULL)
			a->rank_transient = r;
		break;
	}
	if (best == NULL)
		return;
	outcome_set_line(best, SMX_TEMPFAIL, line);
	copy_attempt(best, res);
}

/* The outcome "delivered via ..." for the accepted recipients. */
static void
sent_outcome(const struct smtp_session_result *res, struct outcome *o)
{
	char text[TRANSPORT_LINE_MAX + 1];

	(void)snprintf(text, sizeof(text), "delivered via %s %s (%s)",
	    res->peer, res->has_tls ? res->tls.protocol : "without TLS",
	    res->text);
	outcome_set(o, SMX_OK, "2.0.0", text);
	copy_attempt(o, res);
}

/* The server's reply to one recipient's RCPT TO as its outcome. */
static void
rcpt_outcome(const struct smtp_session_result *res,
    const struct smtp_rcpt_result *rr, struct outcome *o)
{
	char line[TRANSPORT_LINE_MAX + 1];

	smtp_rcpt_format(res, rr, line, sizeof(line));
	outcome_set_line(o,
	    rr->reply_code / 100 == 5 ? SMX_PERMFAIL : SMX_TEMPFAIL, line);
	copy_attempt(o, res);
	o->stage = SMTP_STAGE_RCPT;
	o->cls = OUTCOME_TRANSACTION;
}

bool
outcome_agg_add(struct outcome_agg *a, const struct smtp_session_result *res,
    const struct smtp_rcpt_result *rr, const size_t *idx, size_t n)
{
	enum outcome_class cls = outcome_classify(res);
	char line[TRANSPORT_LINE_MAX + 1];
	struct outcome all;
	struct outcome one;
	size_t i;

	a->n_attempts++;
	outcome_attempt_line(res, line, sizeof(line));
	switch (cls) {
	case OUTCOME_REFUSED:
	case OUTCOME_TRANSIENT:
	case OUTCOME_DANE:
	case OUTCOME_LOOP:
		count_host(a, cls, res, line);
		return a->n_pending == 0;
	case OUTCOME_SENT:
		sent_outcome(res, &all);
		break;
	default:
		outcome_set_line(&all,
		    cls == OUTCOME_LOCAL              ? SMX_TEMPFAIL
		        : res->status == SMX_PERMFAIL ? SMX_PERMFAIL
		                                      : SMX_TEMPFAIL,
		    line);
		copy_attempt(&all, res);
		break;
	}
	for (i = 0; i < n; i++) {
		/* A recipient the server refused keeps its own reply. */
		if (rr[i].reply_code != 0 && !rr[i].is_accepted) {
			rcpt_outcome(res, &rr[i], &one);
			settle(a, idx[i], &one);
		} else if (rr[i].is_accepted ||
		    (cls != OUTCOME_SENT &&
		        (cls != OUTCOME_TRANSACTION ||
		            res->stage != SMTP_STAGE_RCPT))) {
			settle(a, idx[i], &all);
		}
	}
	return a->n_pending == 0 || cls == OUTCOME_LOCAL;
}

void
outcome_agg_add_local(struct outcome_agg *a, const char *enhanced,
    const char *text)
{
	char line[TRANSPORT_LINE_MAX + 1];

	a->n_attempts++;
	a->n_transient++;
	if (a->rank_transient >= 1)
		return;
	(void)snprintf(line, sizeof(line), "%s [stage=none class=transient]",
	    text);
	outcome_set(&a->best_transient, SMX_TEMPFAIL, enhanced, line);
	a->rank_transient = 1;
}

void
outcome_agg_add_refused(struct outcome_agg *a, const char *enhanced,
    const char *text)
{
	char line[TRANSPORT_LINE_MAX + 1];

	a->n_attempts++;
	a->n_unqualified++;
	if (a->n_refused++ > 0)
		return;
	(void)snprintf(line, sizeof(line), "%s [stage=none class=refused]",
	    text);
	outcome_set(&a->best_refused, SMX_TEMPFAIL, enhanced, line);
	a->best_refused.cls = OUTCOME_REFUSED;
}

void
outcome_agg_add_loop(struct outcome_agg *a, const char *peer)
{
	char text[TRANSPORT_LINE_MAX + 1];

	a->n_attempts++;
	if (a->n_loop++ > 0)
		return;
	(void)snprintf(text, sizeof(text),
	    "%s is this host (local_listeners) [stage=connect class=loop]",
	    peer);
	outcome_set(&a->best_loop, SMX_PERMFAIL, "5.4.6", text);
	smx_strlcpy(a->best_loop.relay, peer, sizeof(a->best_loop.relay));
	a->best_loop.stage = SMTP_STAGE_CONNECT;
	a->best_loop.cls = OUTCOME_LOOP;
}

/* A bounce that wraps the line of the attempt that explains it. */
static void
bounce(struct outcome *out, const struct outcome *why, const char *enhanced,
    const char *text)
{
	char full[TRANSPORT_LINE_MAX + 1];

	(void)snprintf(full, sizeof(full), "%.900s (%.3000s)", text, why->line);
	outcome_set(out, SMX_PERMFAIL, enhanced, full);
	smx_strlcpy(out->relay, why->relay, sizeof(out->relay));
	out->stage = why->stage;
	out->cls = why->cls;
}

void
outcome_agg_finish(struct outcome_agg *a)
{
	char text[TRANSPORT_LINE_MAX + 1];
	struct outcome o;

	if (a->n_pending == 0)
		return;
	if (a->n_attempts == 0) {
		(void)snprintf(text, sizeof(text), "no route to %s", a->domain);
		outcome_set(&o, SMX_TEMPFAIL, "4.4.4", text);
	} else if (a->n_transient > 0) {
		o = a->best_transient;
	} else if (a->n_loop > 0) {
		(void)snprintf(text, sizeof(text),
		    "mail for %s loops back to myself", a->domain);
		bounce(&o, &a->best_loop, "5.4.6", text);
	} else if (a->route == OUTCOME_ROUTE_MX && a->is_sos &&
	    a->n_unqualified > 0) {
		/*
		 * sos_mx_security = dane: hosts were left out for want of
		 * DANE, not because TLS was unavailable (they may offer it).
		 */
		(void)snprintf(text, sizeof(text),
		    "No MX host of %s is DANE-authenticated (sos_mx_security = dane): no secure route to %s exists under the Secure Only Sender policy",
		    a->domain, a->domain);
		bounce(&o, &a->best_refused, "5.7.4", text);
	} else if (a->route == OUTCOME_ROUTE_MX && a->is_sos &&
	    a->n_refused > 0) {
		/* SecMX Level 2 section 5: an SOS bounces the mail. */
		(void)snprintf(text, sizeof(text),
		    "TLS is not available from any MX host of %s: no secure route to %s exists under the Secure Only Sender policy",
		    a->domain, a->domain);
		bounce(&o, &a->best_refused, "5.7.4", text);
	} else {
		o = a->best_refused;
	}
	if (o.status != SMX_PERMFAIL) {
		o.status = SMX_TEMPFAIL;
		o.line[0] = '4';
	}
	outcome_agg_decide(a, &o);
}

void
outcome_agg_decide(struct outcome_agg *a, const struct outcome *o)
{
	size_t i;

	for (i = 0; i < a->n_rcpts; i++)
		settle(a, i, o);
}
