/* SPDX-License-Identifier: MIT */
#ifndef SMTP_REPLY_H
#define SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"

/*
 * struct smtp_reply - one complete SMTP reply, parsed. text holds the text
 * of every line (after "NNN-" or "NNN "), joined with '\n', NUL-terminated;
 * the enhanced status code, when the first line starts with one, is also
 * kept in text (it is part of what the server said).
 */
struct smtp_reply {
	unsigned code;                        /* 200..559 */
	char enhanced[SMTP_ENHANCED_MAX + 1]; /* "5.1.1", or "" if none */
	size_t n_lines;                       /* 1..SMTP_REPLY_LINES_MAX */
	size_t text_len;                      /* bytes in text */
	char text[SMTP_REPLY_TEXT_MAX + 1];
};

/*
 * smtp_reply_parse - parse one reply from the first len bytes of buf (RFC
 * 5321 section 4.2): lines of three digits (first 2-5, second 0-5), then
 * '-' (more lines follow) or ' ' and text, or the bare code; each line
 * ends in CRLF; every line has the same code; text is HT or printable
 * ASCII. Enforces SMTP_REPLY_LINE_MAX (including the CRLF),
 * SMTP_REPLY_LINES_MAX and SMTP_REPLY_TEXT_MAX. An enhanced status code
 * (RFC 3463, "class.subject.detail" with class 2, 4 or 5 and up to three
 * digits each) at the start of the first line's text is extracted when its
 * class equals the reply's first digit; one that contradicts the reply
 * code is ignored, as Postfix smtp(8) does, and the reply is used with the
 * default code for its class.
 *
 * Returns SMX_OK with *out filled and *consumed the bytes of this reply
 * (any bytes after it are not looked at); SMX_NOTFOUND when buf holds only
 * a valid beginning of a reply (feed more bytes and call again with the
 * whole buffer); SMX_INVALID on malformed input or a cap exceeded, even
 * when the reply is not complete yet. out and consumed are written only
 * on SMX_OK. Pure: no I/O, no logging, never exits.
 */
enum smx_status smtp_reply_parse(const char *buf, size_t len,
    struct smtp_reply *out, size_t *consumed);

/*
 * struct smtp_reply_scan - a forgiving reader of the one reply that
 * decides whether a message was delivered (the reply to the end of data):
 * once a receiver said 2xx there, the message is sent whatever the rest
 * of the reply looks like (RFC 5321 section 4.2 is not enforced): lines
 * may end in a bare LF, be of any length, hold any bytes. The reply ends
 * at the first line whose fourth byte is not '-'. Bytes after it are not
 * looked at. Fill with smtp_reply_scan_init, feed with smtp_reply_scan.
 */
struct smtp_reply_scan {
	struct smtp_reply reply; /* code, enhanced code, escaped text */
	size_t n_bytes;          /* bytes taken so far, over all lines */
	size_t line_pos;         /* bytes of the current line so far */
	size_t line_text;        /* bytes of its text recorded */
	bool is_last_line;       /* the current line ends the reply */
	bool is_cr;              /* the previous byte was a CR */
};

void smtp_reply_scan_init(struct smtp_reply_scan *);

/*
 * smtp_reply_scan - take bytes from buf (len) until the reply is complete.
 * The first line must start with a digit 2-5 (its next two bytes count
 * when they are digits); every other byte is accepted. Text goes into
 * reply.text escaped by smx_escape (printable ASCII), lines joined with
 * '\n', cut at SMTP_REPLY_TEXT_MAX; an enhanced status code at the start
 * of the first line is taken as smtp_reply_parse takes it.
 * Returns SMX_OK when the reply is complete (*used: bytes of buf that
 * belong to it); SMX_NOTFOUND when all of buf was taken and more is
 * needed; SMX_INVALID when the first byte is not a digit 2-5 or the
 * reply runs over SMTP_REPLY_SCAN_MAX bytes. Pure; never exits.
 */
enum smx_status smtp_reply_scan(struct smtp_reply_scan *, const char *buf,
    size_t len, size_t *used);

/*
 * smtp_reply_next_line - iterate over the lines of r->text: *pos starts at
 * 0; each call sets *line and *line_len (not NUL-terminated) and returns
 * true, or false when no lines are left.
 */
bool smtp_reply_next_line(const struct smtp_reply *r, size_t *pos,
    const char **line, size_t *line_len);

/*
 * smtp_reply_format - "NNN text text" on one line (the lines joined with a
 * space) into out of size bytes, truncated if need be, for DSN text and
 * logs. Never fails.
 */
void smtp_reply_format(const struct smtp_reply *r, char *out, size_t size);

#endif
