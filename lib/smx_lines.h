/* SPDX-License-Identifier: MIT */
#ifndef SMX_LINES_H
#define SMX_LINES_H

#include <stddef.h>

#include "smx_buf.h"
#include "smx_status.h"

/*
 * Reading Postfix-style text files: secmx.conf (main.cf syntax) and the
 * role tables (postmap(1) text form) share one file reader and one
 * logical-line reader, so both accept and reject exactly the same bytes.
 */

/*
 * smx_read_file - the whole regular file at path, at most max bytes, into
 * a new NUL-terminated buffer (*data, freed by the caller with free(3))
 * of *len bytes. Returns SMX_OK; SMX_INVALID with "path: reason" in err
 * for a missing, unreadable, non-regular or too large file; SMX_TEMPFAIL
 * when memory is short or the file changed while it was read. Writes the
 * out-parameters only on SMX_OK. Never exits.
 */
enum smx_status smx_read_file(const char *path, size_t max, char **data,
    size_t *len, char *err, size_t errlen);

/*
 * struct smx_lines - a reader of logical lines: a line that starts with
 * white space continues the previous one (its line break is dropped, its
 * leading white space kept); blank lines and '#' comment lines are
 * skipped and never end a logical line. Every byte of every physical
 * line, comments included, is checked: NUL, a bare CR and other control
 * characters except tab are errors; CRLF line ends are accepted.
 * After SMX_OK, text holds the logical line with trailing white space
 * removed (NUL-terminated; owned by the reader, valid until the next
 * call) and line the number of its first physical line.
 */
struct smx_lines {
	const char *data;
	size_t len;
	size_t pos;         /* start of the next physical line */
	size_t n_line;      /* number of the next physical line */
	const char *what;   /* "entry" or "parameter", for messages */
	struct smx_buf buf; /* the logical line being built */
	char *text;         /* buf.data after SMX_OK; the caller may edit it */
	size_t text_len;
	size_t line;     /* first physical line of text */
	size_t bad_line; /* where a problem was found */
	const char *problem;
	char problem_buf[64];
};

/*
 * smx_lines_init - read len bytes of data (borrowed; must outlive the
 * reader), logical lines at most line_max bytes. what names an item in
 * "continuation line before any <what>". Allocates nothing yet.
 */
void smx_lines_init(struct smx_lines *, const char *data, size_t len,
    size_t line_max, const char *what);

/*
 * smx_lines_next - the next logical line. Returns SMX_OK; SMX_NOTFOUND at
 * the end of the data; SMX_INVALID with problem and bad_line set (a bad
 * byte, a continuation before any item, a logical line over line_max);
 * SMX_TEMPFAIL when memory is short. Never exits.
 */
enum smx_status smx_lines_next(struct smx_lines *);

/* smx_lines_free - release the reader's buffer. */
void smx_lines_free(struct smx_lines *);

/*
 * smx_line_error - "name, line N: " and the formatted rest into err, in
 * Postfix's own style for configuration diagnostics. Truncates to errlen;
 * never fails.
 */
void smx_line_error(char *err, size_t errlen, const char *name, size_t line,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
