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

void
outcome_agg_init(struct outcome_agg *a, enum outcome_route route, bool is_sos,
    const char *domain)
{
	memset(a, 0, sizeof(*a));
	a->route = route;
	a->is_sos = is_sos;
	smx_strlcpy(a->domain, domain != NULL ? domain : "", sizeof(a->domain));
}

/* A reply to one of these commands is about this message, not the host. */
static bool
is_transaction(const char *command)
{
	static const char *const names[] = { "MAIL FROM", "RCPT TO", "DATA",
		"end of data" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (command != NULL && strcmp(command, names[i]) == 0)
			return true;
	}
	return false;
}

/*
 * The host answered but gave no usable TLS: STARTTLS not offered
 * (4.7.4), refused, or the handshake failed (4.7.5). Postfix smtp(8)
 * wording and codes; see smtp_session.h.
 */
static bool
is_not_secure(const struct smtp_session_result *r)
{
	const char *cmd = r->command != NULL ? r->command : "";

	return strcmp(cmd, "STARTTLS") == 0 ||
	    strncmp(r->enhanced, "4.7.4", 6) == 0;
}

/* How informative a failure is; higher wins. */
#define RANK_FINAL 100
static int
rank(const struct smtp_session_result *r)
{
	const char *cmd = r->command != NULL ? r->command : "";

	if (r->reply_code != 0)
		return 4; /* the server said something */
	if (is_not_secure(r))
		return 3;
	if (strcmp(cmd, "connect") != 0)
		return 2; /* lost connection, timeout, protocol error */
	return 1;
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
}

/* Keep res as the best so far when r beats it; the first of a rank stays. */
static void
keep(struct outcome_agg *a, int r, const struct smtp_session_result *res,
    enum smx_status status, const char *line)
{
	if (r <= a->best_rank)
		return;
	a->best_rank = r;
	outcome_set_line(&a->best, status, line);
	copy_attempt(&a->best, res);
}

bool
outcome_agg_add(struct outcome_agg *a, const struct smtp_session_result *res)
{
	char line[TRANSPORT_LINE_MAX + 1];

	a->n_attempts++;
	if (res->is_delivered && res->status == SMX_OK) {
		char text[TRANSPORT_LINE_MAX + 1];

		(void)snprintf(text, sizeof(text), "delivered via %s %s (%s)",
		    res->peer, res->has_tls ? res->tls.protocol : "without TLS",
		    res->text);
		a->is_final = true;
		a->best_rank = RANK_FINAL;
		outcome_set(&a->best, SMX_OK, "2.0.0", text);
		copy_attempt(&a->best, res);
		return true;
	}
	smtp_session_format(res, line, sizeof(line));
	if (res->status == SMX_INVALID ||
	    (res->reply_code != 0 && is_transaction(res->command)) ||
	    (res->status == SMX_PERMFAIL && res->reply_code == 0)) {
		/*
		 * The receiver's verdict on this message, a message the
		 * server's SIZE refuses, or parameters no server would
		 * take (local trouble: deferred).
		 */
		a->is_final = true;
		a->best_rank = 0;
		keep(a, RANK_FINAL, res,
		    res->status == SMX_PERMFAIL ? SMX_PERMFAIL : SMX_TEMPFAIL,
		    line);
		return true;
	}
	if (is_not_secure(res) && res->reply_code / 100 != 4)
		a->n_not_secure++;
	else
		a->n_other++;
	keep(a, rank(res), res, SMX_TEMPFAIL, line);
	return false;
}

void
outcome_agg_add_local(struct outcome_agg *a, const char *enhanced,
    const char *text)
{
	struct outcome o;

	a->n_attempts++;
	a->n_other++;
	if (a->best_rank >= 1)
		return;
	outcome_set(&o, SMX_TEMPFAIL, enhanced, text);
	a->best = o;
	a->best_rank = 1;
}

void
outcome_agg_finish(const struct outcome_agg *a, struct outcome *out)
{
	char text[TRANSPORT_LINE_MAX + 1];

	if (a->is_final) {
		*out = a->best;
		return;
	}
	if (a->n_attempts == 0 || a->best_rank == 0) {
		(void)snprintf(text, sizeof(text), "no route to %s", a->domain);
		outcome_set(out, SMX_TEMPFAIL, "4.4.4", text);
		return;
	}
	if (a->route == OUTCOME_ROUTE_MX && a->is_sos && a->n_other == 0 &&
	    a->n_not_secure > 0) {
		/* SecMX Level 2 section 5: an SOS bounces the mail. */
		(void)snprintf(text, sizeof(text),
		    "TLS is not available from any MX host of %s: no secure route to %s exists under the Secure Only Sender policy (%.2000s)",
		    a->domain, a->domain, a->best.line);
		outcome_set(out, SMX_PERMFAIL, "5.7.4", text);
		smx_strlcpy(out->relay, a->best.relay, sizeof(out->relay));
		return;
	}
	*out = a->best;
	out->status = SMX_TEMPFAIL;
	out->line[0] = '4';
}
