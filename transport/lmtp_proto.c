/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	lmtp_proto - the server side of LMTP, without I/O
 * DESCRIPTION
 *	What an LMTP server for Postfix's lmtp(8) client needs to read and
 *	write, as pure functions a session loop calls: a line reader that
 *	finds command lines in received bytes (several at once, as with
 *	PIPELINING), a parser that turns one line into a typed command
 *	with its path and parameters, a decoder that turns DATA content
 *	from wire form (CRLF, dot-stuffed, ending in "." CRLF) into the
 *	stored form smtp_data sends on (LF line ends, no stuffing), and a
 *	formatter for replies, including the one per recipient after the
 *	end of data. Each refusal has a class that says which reply it
 *	gets (lmtp_error_reply), so that all codes live in one table.
 * LIMITS
 *	LMTP_LINE_MAX bytes per command line, refused as soon as that many
 *	bytes pass without a line end; SMTP_PATH_MAX bytes per path with
 *	its brackets; SIZE= at most 20 digits; replies of at most
 *	SMTP_REPLY_LINES_MAX lines of SMTP_REPLY_LINE_MAX bytes; decoder
 *	output in pieces of at most SMTP_DATA_CHUNK bytes, the message
 *	bounded by the caller's maximum (lib/smx_limits.h). A message over
 *	its maximum is still read to its end, so that the reply comes in
 *	the right place; the session's timeouts bound that.
 * DIAGNOSTICS
 *	SMX_OK, SMX_NOTFOUND (incomplete) or SMX_INVALID with a short static
 *	reason and an error class; logs nothing.
 * SECURITY
 *	Every byte comes from the LMTP client and is untrusted, even when
 *	it is the local Postfix: the queue holds what remote senders sent.
 *	No control byte reaches a parsed value; the end of data is
 *	recognised only in the two consistent forms (CRLF "." CRLF, LF "."
 *	LF), never in mixed ones another MTA could read differently (SMTP
 *	smuggling); reply text is made printable ASCII so that no value can
 *	add a reply line. Runs as the unprivileged secmx user.
 * SEE ALSO
 *	RFC 2033 (LMTP), RFC 5321 sections 2.3.8, 3.5.3, 4.1.1, 4.1.2,
 *	4.2, 4.5.2 and 4.5.3, RFC 2920 (PIPELINING), RFC 1870 (SIZE), RFC
 *	6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 2034 and RFC 3463
 *	(enhanced status codes), Postfix lmtp(8), smtpd(8) and
 *	smtp-smuggling.html.
 */
#include "lmtp_proto.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "smx_util.h"
#include "outcome.h"

/* Refusals and their replies; texts in the style of Postfix smtpd. */
static const struct {
	unsigned code;
	const char *enhanced;
	const char *text;
} error_replies[] = {
	[LMTP_ERROR_NONE] = { 451, "4.3.0", "Error: internal error" },
	[LMTP_ERROR_LINE] = { 500, "5.5.2", "Error: bad syntax" },
	[LMTP_ERROR_VERB] = { 500, "5.5.1", "Error: command not recognized" },
	[LMTP_ERROR_SYNTAX] = { 501, "5.5.4",
	    "Syntax error in parameters or arguments" },
	[LMTP_ERROR_SENDER] = { 501, "5.1.7", "Bad sender address syntax" },
	[LMTP_ERROR_RECIPIENT] = { 501, "5.1.3",
	    "Bad recipient address syntax" },
	[LMTP_ERROR_PARAM] = { 555, "5.5.4", "Unsupported option" },
	[LMTP_ERROR_NON_ASCII] = { 553, "5.6.7",
	    "Non-ASCII address needs SMTPUTF8" },
	[LMTP_ERROR_USE_LHLO] = { 500, "5.5.1",
	    "Error: this is LMTP: use LHLO" },
	[LMTP_ERROR_SEQUENCE] = { 503, "5.5.1",
	    "Error: bad sequence of commands" },
	[LMTP_ERROR_RECIPIENTS] = { 452, "4.5.3",
	    "Error: too many recipients" },
	[LMTP_ERROR_TOO_LARGE] = { 552, "5.3.4",
	    "Error: message file too big" },
};

void
lmtp_error_reply(enum lmtp_error e, unsigned *code, const char **enhanced,
    const char **text)
{
	size_t i = (size_t)e;

	if (i >= sizeof(error_replies) / sizeof(error_replies[0]))
		i = LMTP_ERROR_NONE;
	*code = error_replies[i].code;
	*enhanced = error_replies[i].enhanced;
	*text = error_replies[i].text;
}

/*
 * The line reader.
 */

void
lmtp_line_scan_reset(struct lmtp_line_scan *s)
{
	s->off = 0;
	s->is_skipping = false;
}

/*
 * Refuse the line that contains buf[i]: drop it through its LF when that
 * has arrived, else drop all and discard the rest in later calls.
 */
static enum smx_status
refuse_line(struct lmtp_line_scan *s, const char *buf, size_t len, size_t i,
    size_t *used, char *reason, size_t reason_size, const char *why)
{
	const char *nl = memchr(buf + i, '\n', len - i);

	s->off = 0;
	s->is_skipping = nl == NULL;
	*used = nl != NULL ? (size_t)(nl - buf) + 1 : len;
	if (reason_size > 0)
		smx_strlcpy(reason, why, reason_size);
	return SMX_INVALID;
}

enum smx_status
lmtp_line_next(struct lmtp_line_scan *s, const char *buf, size_t len,
    const char **line, size_t *line_len, size_t *used, char *reason,
    size_t reason_size)
{
	size_t start = 0;
	size_t i;

	*used = 0;
	if (s->is_skipping) {
		const char *nl = memchr(buf, '\n', len);

		if (nl == NULL) {
			*used = len;
			return SMX_NOTFOUND;
		}
		start = (size_t)(nl - buf) + 1;
		lmtp_line_scan_reset(s);
	}
	for (i = start + s->off; i < len; i++) {
		if (buf[i] == '\n') {
			size_t end = i;

			if (end > start && buf[end - 1] == '\r')
				end--;
			*line = buf + start;
			*line_len = end - start;
			*used = i + 1;
			s->off = 0;
			return SMX_OK;
		}
		if (buf[i] == '\r') {
			if (i + 1 == len)
				break; /* its LF may follow: look again */
			if (buf[i + 1] != '\n')
				return refuse_line(s, buf, len, i, used, reason,
				    reason_size, "bare CR in command");
			continue;
		}
		/* Byte i - start is the line's (i - start + 1)th. */
		if (i - start >= LMTP_LINE_MAX)
			return refuse_line(s, buf, len, i, used, reason,
			    reason_size, "line too long");
	}
	s->off = i - start;
	*used = start;
	return SMX_NOTFOUND;
}

/*
 * The command parser.
 */

static const struct {
	const char *name;
	enum lmtp_verb verb;
} verbs[] = {
	{ "LHLO", LMTP_VERB_LHLO },
	{ "MAIL", LMTP_VERB_MAIL },
	{ "RCPT", LMTP_VERB_RCPT },
	{ "DATA", LMTP_VERB_DATA },
	{ "RSET", LMTP_VERB_RSET },
	{ "NOOP", LMTP_VERB_NOOP },
	{ "QUIT", LMTP_VERB_QUIT },
	{ "VRFY", LMTP_VERB_VRFY },
	{ "EHLO", LMTP_VERB_EHLO },
	{ "HELO", LMTP_VERB_HELO },
	{ "XFORWARD", LMTP_VERB_XFORWARD },
};

const char *
lmtp_verb_name(enum lmtp_verb v)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (verbs[i].verb == v)
			return verbs[i].name;
	}
	return "unknown";
}

static enum smx_status
refuse(struct lmtp_command *out, enum lmtp_error e, const char *why)
{
	out->error = e;
	out->reason = why;
	return SMX_INVALID;
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* RFC 5321 section 4.1.2 atext (RFC 5322 section 3.2.3). */
static bool
is_atext(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/*
 * Well-formed UTF-8 (RFC 3629 section 4): no overlong forms, no
 * surrogates, nothing over U+10FFFF.
 */
static bool
is_utf8(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		unsigned char lo = 0x80;
		unsigned char hi = 0xbf;
		size_t n;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		else
			return false;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (len - i - 1 < n)
			return false;
		for (k = 1; k <= n; k++) {
			unsigned char d = (unsigned char)s[i + k];

			if (d < (k == 1 ? lo : 0x80) ||
			    d > (k == 1 ? hi : 0xbf))
				return false;
		}
		i += n + 1;
	}
	return true;
}

/*
 * A domain (RFC 5321 section 4.1.2): an address literal "[dcontent]" or
 * labels of letters, digits, '-' and '_' (SRV-style names occur), with
 * 8-bit bytes when allowed (U-labels under SMTPUTF8); no empty label, no
 * trailing dot, ASCII labels within SMX_LABEL_MAX.
 */
static bool
is_domain(const char *d, size_t len, bool allow_8bit)
{
	size_t label = 0;
	bool has_8bit = false;
	size_t i;

	if (len == 0)
		return false;
	if (d[0] == '[') {
		if (len < 3 || d[len - 1] != ']')
			return false;
		for (i = 1; i + 1 < len; i++) {
			unsigned char c = (unsigned char)d[i];

			/* dcontent: %d33-90 / %d94-126 */
			if (c < 33 || c > 126 || c == '[' || c == '\\' ||
			    c == ']')
				return false;
		}
		return true;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			has_8bit = false;
			continue;
		}
		if (c >= 0x80 && allow_8bit)
			has_8bit = true;
		else if (!is_alnum(c) && c != '-' && c != '_')
			return false;
		if (++label > SMX_LABEL_MAX && !has_8bit)
			return false;
	}
	return label > 0;
}

/*
 * A mailbox (RFC 5321 section 4.1.2, with RFC 6531's 8-bit bytes): a
 * dot-string or quoted-string local part, '@', a domain. Dots in a
 * dot-string are not checked for position: such addresses exist and
 * the next server judges them. "Postmaster" alone is allowed when
 * is_rcpt (RFC 5321 section 4.1.1.3).
 */
static const char *
check_mailbox(const char *s, size_t len, bool is_rcpt)
{
	size_t i = 0;

	if (len == 0)
		return "empty address";
	if (s[0] == '"') {
		for (i = 1; i < len && s[i] != '"'; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == '\\') {
				/* quoted-pairSMTP: %d92 %d32-126 */
				if (++i >= len || (unsigned char)s[i] < 32 ||
				    (unsigned char)s[i] > 126)
					return "bad quoted pair";
			} else if (c < 32 || c == 127) {
				return "bad quoted string";
			}
		}
		if (i >= len)
			return "unterminated quoted string";
		i++;
	} else {
		for (; i < len && s[i] != '@'; i++) {
			unsigned char c = (unsigned char)s[i];

			if (!is_atext(c) && c != '.' && c < 0x80)
				return "bad character in local part";
		}
		if (i == 0)
			return "empty local part";
	}
	if (i == len) {
		if (is_rcpt && s[0] != '"' && len == 10 &&
		    smx_ascii_ncasecmp(s, "postmaster", 10) == 0)
			return NULL;
		return "address without domain";
	}
	if (s[i] != '@')
		return "bad character after local part";
	if (!is_domain(s + i + 1, len - i - 1, true))
		return "bad domain";
	return NULL;
}

/* "@a,@b:" at the start of s: *skip is its length. */
static bool
skip_route(const char *s, size_t len, size_t *skip)
{
	size_t i = 0;

	while (i < len && s[i] == '@') {
		size_t start = ++i;

		while (i < len && s[i] != ',' && s[i] != ':')
			i++;
		if (i >= len || !is_domain(s + start, i - start, true))
			return false;
		if (s[i++] == ':') {
			*skip = i;
			return true;
		}
	}
	return false;
}

/*
 * The path at s (len bytes to the end of the line): "<" [route ":"]
 * mailbox ">". Sets *path_len to its bytes with the brackets and fills
 * out->arg.
 */
static enum smx_status
parse_path(const char *s, size_t len, struct lmtp_command *out,
    size_t *path_len)
{
	bool is_rcpt = out->verb == LMTP_VERB_RCPT;
	enum lmtp_error e = is_rcpt ? LMTP_ERROR_RECIPIENT : LMTP_ERROR_SENDER;
	bool is_quoted = false;
	const char *why;
	size_t skip = 0;
	size_t i;

	if (len == 0 || s[0] != '<')
		return refuse(out, e, "address not in angle brackets");
	for (i = 1; i < len; i++) {
		if (is_quoted && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			is_quoted = !is_quoted;
		else if (!is_quoted && s[i] == '>')
			break;
		else if (!is_quoted && s[i] == '<')
			return refuse(out, e, "'<' inside address");
	}
	if (i >= len)
		return refuse(out, e, "missing '>'");
	*path_len = i + 1;
	if (*path_len > SMTP_PATH_MAX)
		return refuse(out, e, "address too long");
	s++;
	len = i - 1;
	if (len == 0) {
		if (is_rcpt)
			return refuse(out, e, "null recipient");
		out->is_null_path = true;
		return SMX_OK;
	}
	if (s[0] == '@' && !skip_route(s, len, &skip))
		return refuse(out, e, "bad source route");
	if ((why = check_mailbox(s + skip, len - skip, is_rcpt)) != NULL)
		return refuse(out, e, why);
	/* len - skip <= SMTP_PATH_MAX - 2 < sizeof(out->arg) */
	memcpy(out->arg, s + skip, len - skip);
	out->arg_len = len - skip;
	out->arg[out->arg_len] = '\0';
	for (i = 0; i < out->arg_len; i++) {
		if ((unsigned char)out->arg[i] > 0x7e)
			out->has_8bit = true;
	}
	out->is_utf8 = is_utf8(out->arg, out->arg_len);
	return SMX_OK;
}

/* One MAIL FROM parameter, keyword k (klen) and value v (vlen, or NULL). */
static enum smx_status
mail_param(struct lmtp_command *out, const char *k, size_t klen, const char *v,
    size_t vlen)
{
	unsigned long n;

	if (klen == 4 && smx_ascii_ncasecmp(k, "SIZE", 4) == 0) {
		if (out->has_size)
			return refuse(out, LMTP_ERROR_PARAM, "SIZE repeated");
		/* RFC 1870: size-value ::= 1*20DIGIT */
		if (v == NULL || vlen > 20 ||
		    smx_parse_ulong(v, vlen, 0, ULONG_MAX, &n) != SMX_OK)
			return refuse(out, LMTP_ERROR_PARAM, "bad SIZE");
		out->has_size = true;
		out->size = n;
		return SMX_OK;
	}
	if (klen == 4 && smx_ascii_ncasecmp(k, "BODY", 4) == 0) {
		if (out->body != LMTP_BODY_NONE)
			return refuse(out, LMTP_ERROR_PARAM, "BODY repeated");
		if (v != NULL && vlen == 4 &&
		    smx_ascii_ncasecmp(v, "7BIT", 4) == 0)
			out->body = LMTP_BODY_7BIT;
		else if (v != NULL && vlen == 8 &&
		    smx_ascii_ncasecmp(v, "8BITMIME", 8) == 0)
			out->body = LMTP_BODY_8BITMIME;
		else
			return refuse(out, LMTP_ERROR_PARAM, "bad BODY");
		return SMX_OK;
	}
	if (klen == 8 && smx_ascii_ncasecmp(k, "SMTPUTF8", 8) == 0) {
		if (out->is_smtputf8)
			return refuse(out, LMTP_ERROR_PARAM,
			    "SMTPUTF8 repeated");
		if (v != NULL)
			return refuse(out, LMTP_ERROR_PARAM,
			    "SMTPUTF8 takes no value");
		out->is_smtputf8 = true;
		return SMX_OK;
	}
	return refuse(out, LMTP_ERROR_PARAM, "unsupported parameter");
}

/*
 * Parameters after a path: SP-separated esmtp-param (RFC 5321 section
 * 4.1.2): esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"),
 * esmtp-value = 1*(%d33-60 / %d62-126).
 */
static enum smx_status
parse_params(struct lmtp_command *out, const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *k;
		const char *v = NULL;
		size_t klen = 0;
		size_t vlen = 0;

		while (i < len && s[i] == ' ')
			i++;
		if (i >= len)
			break;
		k = s + i;
		while (i < len && s[i] != ' ' && s[i] != '=') {
			if (!is_alnum((unsigned char)s[i]) &&
			    (s[i] != '-' || klen == 0))
				return refuse(out, LMTP_ERROR_PARAM,
				    "bad parameter keyword");
			i++;
			klen++;
		}
		if (klen == 0)
			return refuse(out, LMTP_ERROR_PARAM,
			    "empty parameter keyword");
		if (i < len && s[i] == '=') {
			v = s + ++i;
			for (; i < len && s[i] != ' '; i++, vlen++) {
				unsigned char c = (unsigned char)s[i];

				if (c < 33 || c > 126 || c == '=')
					return refuse(out, LMTP_ERROR_PARAM,
					    "bad parameter value");
			}
			if (vlen == 0)
				return refuse(out, LMTP_ERROR_PARAM,
				    "empty parameter value");
		}
		if (out->verb == LMTP_VERB_RCPT)
			return refuse(out, LMTP_ERROR_PARAM,
			    "unsupported parameter");
		if (mail_param(out, k, klen, v, vlen) != SMX_OK)
			return SMX_INVALID;
	}
	return SMX_OK;
}

/* MAIL FROM:<path> [params] or RCPT TO:<path> [params]; args after verb. */
static enum smx_status
parse_mail_rcpt(struct lmtp_command *out, const char *s, size_t len)
{
	const char *head = out->verb == LMTP_VERB_MAIL ? " FROM:" : " TO:";
	size_t head_len = strlen(head);
	size_t path_len = 0;
	size_t i;

	if (len < head_len || smx_ascii_ncasecmp(s, head, head_len) != 0)
		return refuse(out, LMTP_ERROR_SYNTAX,
		    out->verb == LMTP_VERB_MAIL ? "expected MAIL FROM:<address>"
		                                : "expected RCPT TO:<address>");
	/* Postfix smtpd, too, takes spaces after the colon. */
	for (i = head_len; i < len && s[i] == ' '; i++)
		;
	if (parse_path(s + i, len - i, out, &path_len) != SMX_OK)
		return SMX_INVALID;
	i += path_len;
	if (i < len && s[i] != ' ')
		return refuse(out, LMTP_ERROR_SYNTAX, "junk after address");
	return parse_params(out, s + i, len - i);
}

/* LHLO SP (Domain / address-literal), RFC 2033 section 4.1. */
static enum smx_status
parse_lhlo(struct lmtp_command *out, const char *s, size_t len)
{
	if (len < 2 || s[0] != ' ')
		return refuse(out, LMTP_ERROR_SYNTAX, "expected LHLO domain");
	s++;
	len--;
	if (len > SMX_DOMAIN_MAX || !is_domain(s, len, false))
		return refuse(out, LMTP_ERROR_SYNTAX, "bad LHLO domain");
	memcpy(out->arg, s, len);
	out->arg_len = len;
	out->arg[len] = '\0';
	return SMX_OK;
}

static enum lmtp_verb
lookup_verb(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == len &&
		    smx_ascii_ncasecmp(s, verbs[i].name, len) == 0)
			return verbs[i].verb;
	}
	return LMTP_VERB_UNKNOWN;
}

/* The attributes of XFORWARD_README; only IDENT is kept. */
static bool
is_xforward_name(const char *k, size_t len)
{
	static const char *const names[] = { "NAME", "ADDR", "PORT", "PROTO",
		"HELO", "IDENT", "SOURCE" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == len &&
		    smx_ascii_ncasecmp(k, names[i], len) == 0)
			return true;
	}
	return false;
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * IDENT's value, xtext (RFC 3461 section 4): a Postfix queue id is kept
 * when it is 1 to LMTP_IDENT_MAX letters and digits; anything else
 * ("[UNAVAILABLE]", odd bytes) is dropped, as it only labels log lines.
 */
static void
xforward_ident(struct lmtp_command *out, const char *v, size_t len)
{
	size_t n = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		int c = (unsigned char)v[i];

		if (c == '+') {
			int hi;
			int lo;

			if (i + 2 >= len)
				return;
			hi = hex_value((unsigned char)v[i + 1]);
			lo = hex_value((unsigned char)v[i + 2]);
			if (hi < 0 || lo < 0)
				return;
			c = hi * 16 + lo;
			i += 2;
		}
		if (!is_alnum((unsigned char)c) || n >= LMTP_IDENT_MAX)
			return;
		out->ident[n++] = (char)c;
	}
	if (n == 0)
		return;
	out->ident[n] = '\0';
	out->has_ident = true;
}

/* XFORWARD SP name=value *(SP name=value), XFORWARD_README. */
static enum smx_status
parse_xforward(struct lmtp_command *out, const char *s, size_t len)
{
	size_t i = 0;

	if (len < 2 || s[0] != ' ')
		return refuse(out, LMTP_ERROR_SYNTAX,
		    "expected XFORWARD name=value");
	while (i < len) {
		const char *k;
		const char *v;
		size_t klen = 0;
		size_t vlen = 0;

		while (i < len && s[i] == ' ')
			i++;
		if (i >= len)
			break;
		k = s + i;
		while (i < len && s[i] != '=' && s[i] != ' ') {
			i++;
			klen++;
		}
		if (i >= len || s[i] != '=' || !is_xforward_name(k, klen))
			return refuse(out, LMTP_ERROR_SYNTAX,
			    "bad XFORWARD attribute");
		v = s + ++i;
		for (; i < len && s[i] != ' '; i++, vlen++) {
			unsigned char c = (unsigned char)s[i];

			if (c < 33 || c > 126)
				return refuse(out, LMTP_ERROR_SYNTAX,
				    "bad XFORWARD value");
		}
		if (vlen == 0)
			return refuse(out, LMTP_ERROR_SYNTAX,
			    "empty XFORWARD value");
		if (klen == 5 && smx_ascii_ncasecmp(k, "IDENT", 5) == 0)
			xforward_ident(out, v, vlen);
	}
	return SMX_OK;
}

enum smx_status
lmtp_command_parse(const char *line, size_t len, struct lmtp_command *out)
{
	const char *sp;
	size_t verb_len;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->reason = "";
	out->is_utf8 = true;
	if (len > LMTP_LINE_MAX)
		return refuse(out, LMTP_ERROR_LINE, "line too long");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 32 || c == 127)
			return refuse(out, LMTP_ERROR_LINE,
			    "control character in command");
	}
	while (len > 0 && line[len - 1] == ' ')
		len--;
	if (len == 0)
		return refuse(out, LMTP_ERROR_LINE, "empty command");
	sp = memchr(line, ' ', len);
	verb_len = sp != NULL ? (size_t)(sp - line) : len;
	out->verb = lookup_verb(line, verb_len);
	line += verb_len;
	len -= verb_len;
	switch (out->verb) {
	case LMTP_VERB_LHLO:
		return parse_lhlo(out, line, len);
	case LMTP_VERB_MAIL:
	case LMTP_VERB_RCPT:
		return parse_mail_rcpt(out, line, len);
	case LMTP_VERB_DATA:
	case LMTP_VERB_RSET:
	case LMTP_VERB_QUIT:
		if (len > 0)
			return refuse(out, LMTP_ERROR_SYNTAX,
			    "unexpected argument");
		return SMX_OK;
	case LMTP_VERB_VRFY:
		/* RFC 5321 section 4.1.1.6: "VRFY" SP String */
		if (len == 0)
			return refuse(out, LMTP_ERROR_SYNTAX,
			    "VRFY needs an argument");
		return SMX_OK;
	case LMTP_VERB_XFORWARD:
		return parse_xforward(out, line, len);
	case LMTP_VERB_NOOP:
	case LMTP_VERB_EHLO:
	case LMTP_VERB_HELO:
		return SMX_OK;
	case LMTP_VERB_UNKNOWN:
		break;
	}
	return refuse(out, LMTP_ERROR_VERB, "unknown command");
}

enum lmtp_error
lmtp_command_check_8bit(const struct lmtp_command *cmd, bool is_smtputf8)
{
	if (!cmd->has_8bit)
		return LMTP_ERROR_NONE;
	if (cmd->verb == LMTP_VERB_MAIL && cmd->is_smtputf8)
		is_smtputf8 = true;
	if (!is_smtputf8)
		return LMTP_ERROR_NON_ASCII;
	if (!cmd->is_utf8)
		return cmd->verb == LMTP_VERB_MAIL ? LMTP_ERROR_SENDER
		                                   : LMTP_ERROR_RECIPIENT;
	return LMTP_ERROR_NONE;
}

/*
 * The DATA decoder.
 */

/* Output of one lmtp_data_feed call, flushed before it returns. */
struct data_out {
	lmtp_data_sink_fn *sink;
	void *ctx;
	size_t len;
	char buf[SMTP_DATA_CHUNK];
};

void
lmtp_data_init(struct lmtp_data *d, unsigned long long max_size)
{
	memset(d, 0, sizeof(*d));
	d->state = LMTP_DATA_LINE_START;
	d->prev_end = LMTP_DATA_END_NONE;
	d->max_size = max_size;
	d->sink_status = SMX_OK;
}

static void
flush(struct lmtp_data *d, struct data_out *o)
{
	enum smx_status st;

	if (o->len == 0)
		return;
	if (o->sink != NULL && d->sink_status == SMX_OK && !d->is_too_large) {
		st = o->sink(o->ctx, o->buf, o->len);
		if (st != SMX_OK)
			d->sink_status = st == SMX_NOTFOUND ? SMX_TEMPFAIL : st;
	}
	o->len = 0;
}

/*
 * One byte of the stored form: counted always, kept while it may be. At
 * the bound, what is buffered still goes out first, so that the sink gets
 * the same bytes however the input was cut into pieces.
 */
static void
put(struct lmtp_data *d, struct data_out *o, char c)
{
	if (d->max_size != 0 && d->n_stored >= d->max_size &&
	    !d->is_too_large) {
		flush(d, o);
		d->is_too_large = true;
	}
	d->n_stored++;
	if (o->sink == NULL || d->is_too_large || d->sink_status != SMX_OK)
		return;
	o->buf[o->len++] = c;
	if (o->len == sizeof(o->buf))
		flush(d, o);
}

/* A line end: stored as LF; remembered for the end-of-data rule. */
static void
line_end(struct lmtp_data *d, struct data_out *o, enum lmtp_data_end how)
{
	put(d, o, '\n');
	if (how == LMTP_DATA_END_LF)
		d->has_bare_lf = true;
	d->prev_end = how;
	d->state = LMTP_DATA_LINE_START;
}

/* A CR that no LF follows: stored as LF, but starts no line here. */
static void
bare_cr(struct lmtp_data *d, struct data_out *o)
{
	put(d, o, '\n');
	d->has_bare_cr = true;
}

/* A line "." ending as how: the end of data, or (mixed) a "." line. */
static bool
dot_line(struct lmtp_data *d, struct data_out *o, enum lmtp_data_end how)
{
	if (d->prev_end == LMTP_DATA_END_NONE || d->prev_end == how) {
		d->state = LMTP_DATA_DONE;
		return true;
	}
	d->has_odd_dot = true;
	put(d, o, '.');
	line_end(d, o, how);
	return false;
}

/* One wire byte; true when it ended the message. */
static bool
data_byte(struct lmtp_data *d, struct data_out *o, char c)
{
	switch (d->state) {
	case LMTP_DATA_LINE_START:
		if (c == '.') {
			d->state = LMTP_DATA_DOT;
			return false;
		}
		break;
	case LMTP_DATA_IN_LINE:
		break;
	case LMTP_DATA_CR:
		if (c == '\n') {
			line_end(d, o, LMTP_DATA_END_CRLF);
			return false;
		}
		bare_cr(d, o);
		d->state = LMTP_DATA_IN_LINE;
		break;
	case LMTP_DATA_DOT:
		if (c == '\r') {
			d->state = LMTP_DATA_DOT_CR;
			return false;
		}
		if (c == '\n')
			return dot_line(d, o, LMTP_DATA_END_LF);
		/* RFC 5321 section 4.5.2: the first '.' is deleted. */
		d->state = LMTP_DATA_IN_LINE;
		break;
	case LMTP_DATA_DOT_CR:
		if (c == '\n')
			return dot_line(d, o, LMTP_DATA_END_CRLF);
		/* "." and a bare CR: the line has more, the dot goes. */
		bare_cr(d, o);
		d->state = LMTP_DATA_IN_LINE;
		break;
	case LMTP_DATA_DONE:
		return true;
	}
	/* Inside a line (or starting one with something else than '.'). */
	if (c == '\r') {
		d->state = LMTP_DATA_CR;
	} else if (c == '\n') {
		line_end(d, o, LMTP_DATA_END_LF);
	} else {
		put(d, o, c);
		d->state = LMTP_DATA_IN_LINE;
	}
	return false;
}

enum smx_status
lmtp_data_feed(struct lmtp_data *d, const char *buf, size_t len, size_t *used,
    lmtp_data_sink_fn *sink, void *ctx)
{
	struct data_out o;
	size_t i;

	*used = 0;
	if (d->state == LMTP_DATA_DONE)
		return SMX_OK;
	o.sink = sink;
	o.ctx = ctx;
	o.len = 0;
	for (i = 0; i < len; i++) {
		d->n_wire++;
		if (data_byte(d, &o, buf[i])) {
			flush(d, &o);
			*used = i + 1;
			return SMX_OK;
		}
	}
	flush(d, &o);
	*used = len;
	return SMX_NOTFOUND;
}

enum smx_status
lmtp_data_result(const struct lmtp_data *d)
{
	if (d->state != LMTP_DATA_DONE)
		return SMX_NOTFOUND;
	if (d->is_too_large)
		return SMX_INVALID;
	return d->sink_status;
}

/*
 * Replies.
 */

/* RFC 5321 section 4.2: first digit 2-5, second 0-5. */
static bool
is_reply_code(unsigned code)
{
	return code >= 200 && code <= 559 && (code / 10) % 10 <= 5;
}

/* The bytes of text[pos..] that go on one line; *next: where to go on. */
static size_t
next_chunk(const char *text, size_t text_len, size_t pos, size_t width,
    size_t *next)
{
	const char *nl = memchr(text + pos, '\n', text_len - pos);
	size_t seg = nl != NULL ? (size_t)(nl - (text + pos)) : text_len - pos;
	size_t k;

	if (seg <= width) {
		*next = pos + seg + (nl != NULL ? 1 : 0);
		return seg;
	}
	/* Too long: break at the last space that leaves a line <= width. */
	for (k = width; k > 0; k--) {
		if (text[pos + k] == ' ') {
			*next = pos + k + 1;
			return k;
		}
	}
	*next = pos + width;
	return width;
}

/* Append one line; its separator (byte 3) is '-' until the end. */
static void
put_line(char *out, size_t *n, unsigned code, const char *enh, size_t enh_len,
    const char *text, size_t chunk)
{
	size_t i;

	out[(*n)++] = (char)('0' + code / 100);
	out[(*n)++] = (char)('0' + code / 10 % 10);
	out[(*n)++] = (char)('0' + code % 10);
	out[(*n)++] = '-';
	memcpy(out + *n, enh, enh_len);
	*n += enh_len;
	if (enh_len > 0 && chunk > 0)
		out[(*n)++] = ' ';
	for (i = 0; i < chunk; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 32 || c == 127)
			c = ' ';
		else if (c > 126)
			c = '?';
		out[(*n)++] = (char)c;
	}
	out[(*n)++] = '\r';
	out[(*n)++] = '\n';
}

enum smx_status
lmtp_reply_format(unsigned code, const char *enhanced, const char *text,
    char *out, size_t size, size_t *len)
{
	char enh[SMTP_ENHANCED_MAX + 1] = "";
	size_t enh_len = 0;
	size_t text_len;
	size_t width;
	size_t pos = 0;
	size_t n = 0;
	size_t n_lines = 0;
	size_t last = 0;
	bool has_lf = false;

	if (!is_reply_code(code))
		return SMX_INVALID;
	if (enhanced != NULL && enhanced[0] != '\0') {
		enh_len = strnlen(enhanced, SMTP_ENHANCED_MAX + 1);
		if (enh_len > SMTP_ENHANCED_MAX ||
		    !outcome_dsn_valid(enhanced, enh_len)) {
			enhanced = "0.0.0";
			enh_len = 5;
		}
		memcpy(enh, enhanced, enh_len);
		enh[enh_len] = '\0';
		enh[0] = (char)('0' + code / 100);
	}
	/* One line with an empty text must fit: "CODE ENH" CRLF NUL. */
	if (size < 4 + enh_len + 3)
		return SMX_INVALID;
	if (text == NULL)
		text = "";
	text_len = strnlen(text, SMTP_REPLY_WIRE_MAX);
	/* Drop one final LF: it ends the last line, it adds none. */
	if (text_len > 0 && text[text_len - 1] == '\n')
		text_len--;
	width = SMTP_REPLY_LINE_MAX - 4 - 2 - (enh_len > 0 ? enh_len + 1 : 0);
	do {
		size_t head = 4 + enh_len + (enh_len > 0 ? 1 : 0);
		size_t next;
		size_t chunk = next_chunk(text, text_len, pos, width, &next);

		/* A line ended by LF is followed by one, even if empty. */
		has_lf = pos + chunk < text_len && text[pos + chunk] == '\n';

		if (n + head + chunk + 2 + 1 > size) {
			if (n_lines > 0)
				break;
			/* The first line alone does not fit: cut it, end. */
			chunk = size - 1 > head + 2 ? size - 1 - head - 2 : 0;
			next = text_len;
			has_lf = false;
		}
		last = n;
		put_line(out, &n, code, enh, enh_len, text + pos, chunk);
		pos = next;
		n_lines++;
	} while (n_lines < SMTP_REPLY_LINES_MAX && (pos < text_len || has_lf));
	if (n - last == 6) {
		/* "CODE-" CRLF as the last line: just "CODE" CRLF. */
		out[last + 3] = '\r';
		out[last + 4] = '\n';
		n = last + 5;
	} else {
		out[last + 3] = ' ';
	}
	out[n] = '\0';
	*len = n;
	return SMX_OK;
}

enum smx_status
lmtp_reply_status(const char *line, char *out, size_t size, size_t *len)
{
	char enh[SMTP_ENHANCED_MAX + 1];
	size_t enh_len;
	unsigned code;

	if (line == NULL)
		line = "";
	enh_len = strcspn(line, " ");
	if (enh_len > SMTP_ENHANCED_MAX || !outcome_dsn_valid(line, enh_len))
		return lmtp_reply_format(451, "4.3.0", line, out, size, len);
	memcpy(enh, line, enh_len);
	enh[enh_len] = '\0';
	code = line[0] == '2' ? 250 : line[0] == '4' ? 451 : 554;
	line += enh_len;
	if (line[0] == ' ')
		line++;
	return lmtp_reply_format(code, enh, line, out, size, len);
}

/*
 * The Received: header scanner.
 */

void
lmtp_header_scan_init(struct lmtp_header_scan *h)
{
	memset(h, 0, sizeof(*h));
	h->at_line_start = true;
}

/* The line that just ended (or the header) decides what comes next. */
static void
header_line_end(struct lmtp_header_scan *h)
{
	if (h->line_len == 0) {
		h->is_done = true; /* the empty line: the header is over */
		return;
	}
	h->at_line_start = true;
	h->line_len = 0;
	h->name_len = 0;
}

void
lmtp_header_scan_feed(struct lmtp_header_scan *h, const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len && !h->is_done; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (++h->n_seen > LMTP_HEADER_SCAN_MAX) {
			h->is_done = true;
			break;
		}
		if (c == '\n') {
			header_line_end(h);
			continue;
		}
		if (h->at_line_start) {
			h->at_line_start = false;
			/* A fold continues the field; a new field ends it. */
			if (h->in_received && c != ' ' && c != '\t') {
				h->is_done = true;
				break;
			}
		}
		if (h->in_received) {
			if (h->field_len < LMTP_RECEIVED_MAX)
				h->field[h->field_len++] =
				    c == '\t' ? ' ' : (char)c;
		} else if (h->line_len < sizeof(h->name) - 1) {
			h->name[h->name_len++] = (char)c;
			if (h->name_len == 9 &&
			    smx_ascii_ncasecmp(h->name, "Received:", 9) == 0)
				h->in_received = true;
		}
		h->line_len++;
	}
	h->field[h->field_len] = '\0';
}

bool
lmtp_header_scan_id(const struct lmtp_header_scan *h, char *out, size_t size)
{
	const char *f = h->field;
	size_t len = h->field_len;
	size_t i;

	for (i = 0; i + 3 < len; i++) {
		size_t n = 0;
		size_t j;

		/* " id " as a word of its own (the field begins with a blank).
		 */
		if (f[i] != ' ' || smx_ascii_ncasecmp(f + i + 1, "id ", 3) != 0)
			continue;
		for (j = i + 4; j < len && f[j] == ' '; j++)
			;
		while (j + n < len && is_alnum((unsigned char)f[j + n]))
			n++;
		if (n == 0 || n > LMTP_IDENT_MAX || n >= size ||
		    (j + n < len && f[j + n] != ' ' && f[j + n] != ';'))
			return false;
		memcpy(out, f + j, n);
		out[n] = '\0';
		return true;
	}
	return false;
}
