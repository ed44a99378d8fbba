/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smtp_reply - parser of SMTP server replies
 * DESCRIPTION
 *	Turns the bytes a server sent into one struct smtp_reply: the code,
 *	the lines of text and the enhanced status code. Works on a buffer
 *	that may hold only part of a reply, so that the caller can read
 *	from the network and call again until the reply is complete.
 * LIMITS
 *	SMTP_REPLY_LINE_MAX bytes per line including CRLF, at most
 *	SMTP_REPLY_LINES_MAX lines and SMTP_REPLY_TEXT_MAX bytes of text per
 *	reply (lib/smx_limits.h). A line that cannot end within its cap is
 *	refused at once, without waiting for more input.
 * DIAGNOSTICS
 *	SMX_OK, SMX_NOTFOUND (incomplete) or SMX_INVALID; logs nothing.
 * SECURITY
 *	Everything here comes from a remote server and is hostile until
 *	checked: no NUL, no bare CR or LF, no control or non-ASCII bytes,
 *	no code that changes between lines.
 * SEE ALSO
 *	RFC 5321 sections 4.2 and 4.5.3.1.5, RFC 3463 section 2, RFC 2034,
 *	Postfix smtp_chat.c.
 */
#include "smtp_reply.h"

#include <stdio.h>
#include <string.h>

#include "smx_util.h"

/* RFC 5321 section 4.2: textstring = 1*(%d09 / %d32-126). */
static bool
is_text_byte(unsigned char c)
{
	return c == '\t' || (c >= 32 && c <= 126);
}

/* Three digits, first 2-5, second 0-5 (RFC 5321 section 4.2). */
static bool
parse_code(const char *s, unsigned *code)
{
	if (s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '5' ||
	    s[2] < '0' || s[2] > '9')
		return false;
	*code = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 +
	    (unsigned)(s[2] - '0');
	return true;
}

/* 1 to 3 digits at s[*i]; advance *i past them. */
static bool
skip_digits(const char *s, size_t len, size_t *i)
{
	size_t start = *i;

	while (*i < len && *i - start < 4 && s[*i] >= '0' && s[*i] <= '9')
		(*i)++;
	return *i > start && *i - start <= 3;
}

/*
 * An enhanced status code at the start of the text: class '.' subject
 * '.' detail, then a space or the end of the line (RFC 3463 section 2).
 */
static void
parse_enhanced(const char *t, size_t len, unsigned code, char *out, size_t size)
{
	size_t i = 2;

	out[0] = '\0';
	if (len < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') ||
	    t[1] != '.')
		return;
	if (!skip_digits(t, len, &i) || i >= len || t[i] != '.')
		return;
	i++;
	if (!skip_digits(t, len, &i) || (i < len && t[i] != ' '))
		return;
	/* A class that contradicts the reply code is not used. */
	if ((unsigned)(t[0] - '0') != code / 100 || i >= size)
		return;
	memcpy(out, t, i);
	out[i] = '\0';
}

/* Check a line that has no LF yet: can it still become a valid line? */
static enum smx_status
check_partial(const char *s, size_t len)
{
	size_t i;

	if (len >= SMTP_REPLY_LINE_MAX)
		return SMX_INVALID; /* no room left for CRLF */
	for (i = 0; i < len && i < 3; i++) {
		if (s[i] < '0' || s[i] > '9')
			return SMX_INVALID;
	}
	if (len > 3 && s[3] != ' ' && s[3] != '-' &&
	    !(s[3] == '\r' && len == 4))
		return SMX_INVALID;
	for (i = 4; i < len; i++) {
		if (!is_text_byte((unsigned char)s[i]) &&
		    !(s[i] == '\r' && i + 1 == len))
			return SMX_INVALID;
	}
	return SMX_NOTFOUND;
}

/*
 * One complete line s[0..len) (without CRLF): code, whether more lines
 * follow, and the text.
 */
static enum smx_status
parse_line(const char *s, size_t len, unsigned *code, bool *has_more,
    const char **text, size_t *text_len)
{
	size_t i;

	if (len < 3 || !parse_code(s, code))
		return SMX_INVALID;
	if (len == 3) {
		*has_more = false;
		*text = s + 3;
		*text_len = 0;
		return SMX_OK;
	}
	if (s[3] != ' ' && s[3] != '-')
		return SMX_INVALID;
	for (i = 4; i < len; i++) {
		if (!is_text_byte((unsigned char)s[i]))
			return SMX_INVALID;
	}
	*has_more = s[3] == '-';
	*text = s + 4;
	*text_len = len - 4;
	return SMX_OK;
}

enum smx_status
smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *out,
    size_t *consumed)
{
	struct smtp_reply r;
	size_t pos = 0;
	bool has_more = true;

	memset(&r, 0, sizeof(r));
	while (has_more) {
		size_t avail = len - pos;
		size_t window =
		    avail < SMTP_REPLY_LINE_MAX ? avail : SMTP_REPLY_LINE_MAX;
		const char *nl =
		    avail > 0 ? memchr(buf + pos, '\n', window) : NULL;
		const char *text;
		size_t text_len;
		size_t line_len;
		unsigned code;

		if (avail == 0)
			return SMX_NOTFOUND;
		if (nl == NULL)
			return check_partial(buf + pos, avail);
		line_len = (size_t)(nl - (buf + pos));
		if (line_len == 0 || buf[pos + line_len - 1] != '\r')
			return SMX_INVALID; /* bare LF */
		if (parse_line(buf + pos, line_len - 1, &code, &has_more, &text,
		        &text_len) != SMX_OK)
			return SMX_INVALID;
		if (r.n_lines == 0)
			r.code = code;
		else if (code != r.code)
			return SMX_INVALID;
		/* No room for the line that must follow: refuse now. */
		if (++r.n_lines == SMTP_REPLY_LINES_MAX && has_more)
			return SMX_INVALID;
		if (r.n_lines > 1) {
			if (r.text_len >= SMTP_REPLY_TEXT_MAX)
				return SMX_INVALID;
			r.text[r.text_len++] = '\n';
		}
		if (text_len > SMTP_REPLY_TEXT_MAX - r.text_len)
			return SMX_INVALID;
		memcpy(r.text + r.text_len, text, text_len);
		r.text_len += text_len;
		if (r.n_lines == 1)
			parse_enhanced(text, text_len, code, r.enhanced,
			    sizeof(r.enhanced));
		pos += line_len + 1;
	}
	r.text[r.text_len] = '\0';
	*out = r;
	*consumed = pos;
	return SMX_OK;
}

void
smtp_reply_scan_init(struct smtp_reply_scan *sc)
{
	memset(sc, 0, sizeof(*sc));
}

/* The first bytes of the first line: the code. */
static bool
scan_code(struct smtp_reply_scan *sc, size_t pos, char c)
{
	struct smtp_reply *r = &sc->reply;

	if (pos == 0) {
		if (c < '2' || c > '5')
			return false;
		r->code = (unsigned)(c - '0') * 100;
	} else if (c >= '0' && c <= '9') {
		r->code += (unsigned)(c - '0') * (pos == 1 ? 10 : 1);
	}
	return true;
}

/* One byte of text of the current line, escaped, within the caps. */
static void
scan_text(struct smtp_reply_scan *sc, char c)
{
	struct smtp_reply *r = &sc->reply;

	if (sc->line_text == 0 && r->n_lines > 1 &&
	    r->text_len + 1 < sizeof(r->text)) {
		r->text[r->text_len++] = '\n';
		r->text[r->text_len] = '\0';
	}
	if (r->text_len + 5 < sizeof(r->text) &&
	    sc->line_text < SMTP_REPLY_LINE_MAX)
		(void)smx_escape(r->text, sizeof(r->text), &r->text_len, &c, 1);
	sc->line_text++;
}

/* The end of a line: the enhanced code of the first one. */
static void
scan_line_end(struct smtp_reply_scan *sc)
{
	struct smtp_reply *r = &sc->reply;

	if (r->n_lines == 1)
		parse_enhanced(r->text, strcspn(r->text, "\n"), r->code,
		    r->enhanced, sizeof(r->enhanced));
	sc->line_pos = 0;
	sc->line_text = 0;
	sc->is_last_line = false;
	sc->is_cr = false;
}

/* One byte of the current line at position line_pos (CR LF excluded). */
static bool
scan_byte(struct smtp_reply_scan *sc, char c)
{
	size_t pos = sc->line_pos++;

	if (pos < 3 && sc->reply.n_lines == 1)
		return scan_code(sc, pos, c);
	if (pos == 3)
		sc->is_last_line = c != '-';
	else if (pos > 3)
		scan_text(sc, c);
	return true;
}

enum smx_status
smtp_reply_scan(struct smtp_reply_scan *sc, const char *buf, size_t len,
    size_t *used)
{
	struct smtp_reply *r = &sc->reply;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (++sc->n_bytes > SMTP_REPLY_SCAN_MAX)
			return SMX_INVALID;
		if (sc->line_pos == 0 && !sc->is_cr)
			r->n_lines++;
		if (c == '\n') {
			bool is_last = sc->is_last_line || sc->line_pos <= 3;

			if (r->n_lines == 1 && sc->line_pos == 0)
				return SMX_INVALID;
			scan_line_end(sc);
			if (is_last) {
				*used = i + 1;
				return SMX_OK;
			}
			continue;
		}
		/* A CR counts only right before LF; otherwise it is text. */
		if (sc->is_cr && !scan_byte(sc, '\r'))
			return SMX_INVALID;
		sc->is_cr = c == '\r';
		if (!sc->is_cr && !scan_byte(sc, c))
			return SMX_INVALID;
	}
	*used = len;
	return SMX_NOTFOUND;
}

bool
smtp_reply_next_line(const struct smtp_reply *r, size_t *pos, const char **line,
    size_t *line_len)
{
	const char *nl;

	if (*pos > r->text_len || r->n_lines == 0)
		return false;
	*line = r->text + *pos;
	nl = memchr(*line, '\n', r->text_len - *pos);
	*line_len = nl != NULL ? (size_t)(nl - *line) : r->text_len - *pos;
	*pos += *line_len + 1;
	return true;
}

void
smtp_reply_format(const struct smtp_reply *r, char *out, size_t size)
{
	int n;
	size_t len;
	size_t i;

	if (size == 0)
		return;
	n = snprintf(out, size, "%03u%s%s", r->code, r->text_len ? " " : "",
	    r->text);
	len = n < 0 ? 0 : (size_t)n;
	if (len >= size)
		len = size - 1;
	for (i = 0; i < len; i++) {
		if (out[i] == '\n' || out[i] == '\t')
			out[i] = ' ';
	}
}
