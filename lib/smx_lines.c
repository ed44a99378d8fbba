/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_lines - bounded file reader and Postfix logical-line reader
 * DESCRIPTION
 *	Reads secmx.conf and the role tables: the whole file with one
 *	fstat(2)-bounded read, then logical lines as Postfix main.cf and
 *	postmap(1) text files define them (a line starting with white space
 *	continues the previous one; blank and '#' lines are skipped).
 * LIMITS
 *	The caller's file size and logical line length; both are checked
 *	before memory is used, and exceeding them is an error.
 * DIAGNOSTICS
 *	Statuses with a problem text and the physical line number; the
 *	callers turn them into "file, line N: problem".
 * SECURITY
 *	Configuration files are untrusted text: every byte is checked, NUL
 *	and control characters are refused rather than passed on.
 * SEE ALSO
 *	postconf(5) (main.cf syntax), postmap(1) (input file format).
 */
#include "smx_lines.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum smx_status
smx_read_file(const char *path, size_t max, char **data, size_t *len, char *err,
    size_t errlen)
{
	enum smx_status st = SMX_INVALID;
	struct stat sb;
	char *buf = NULL;
	size_t size;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return SMX_INVALID;
	}
	if (fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (sb.st_size < 0 || (unsigned long long)sb.st_size > max) {
		snprintf(err, errlen, "%s: file too large (over %zu bytes)",
		    path, max);
		goto out;
	}
	size = (size_t)sb.st_size;
	/* One byte more than expected, to notice a file that grows. */
	if ((buf = malloc(size + 2)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		st = SMX_TEMPFAIL;
		goto out;
	}
	while (got <= size) {
		ssize_t n = read(fd, buf + got, size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != size) {
		snprintf(err, errlen, "%s: file changed while it was read",
		    path);
		st = SMX_TEMPFAIL;
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
	st = SMX_OK;

out:
	free(buf);
	if (fd >= 0)
		(void)close(fd); /* already failing; the first error is kept */
	return st;
}

static bool
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* Find the end of the physical line at pos; check its bytes. */
static bool
physical_line(struct smx_lines *r, size_t *end, size_t *next)
{
	size_t i;

	for (i = r->pos; i < r->len; i++) {
		unsigned char c = (unsigned char)r->data[i];

		if (c == '\n')
			break;
		if (c == '\0') {
			r->problem = "NUL character";
			return false;
		}
		if (c == '\r') {
			if (i + 1 < r->len && r->data[i + 1] == '\n')
				continue;
			r->problem = "bare CR character";
			return false;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			r->problem = "control character";
			return false;
		}
	}
	*next = i < r->len ? i + 1 : i;
	if (i > r->pos && r->data[i - 1] == '\r')
		i--;
	*end = i;
	return true;
}

enum smx_status
smx_lines_next(struct smx_lines *r)
{
	bool have = false;
	enum smx_status st;

	smx_buf_reset(&r->buf);
	while (r->pos < r->len) {
		const char *s = r->data + r->pos;
		size_t end;
		size_t next;
		size_t i;

		if (have && !is_blank(*s) && *s != '#' && *s != '\n' &&
		    *s != '\r')
			break;
		r->bad_line = r->n_line;
		if (!physical_line(r, &end, &next))
			return SMX_INVALID;
		for (i = r->pos; i < end && is_blank(r->data[i]); i++)
			continue;
		if (i == end || r->data[i] == '#') {
			/* Blank and comment lines never end a logical line. */
		} else if (is_blank(*s) && !have) {
			(void)snprintf(r->problem_buf, sizeof(r->problem_buf),
			    "continuation line before any %s", r->what);
			r->problem = r->problem_buf;
			return SMX_INVALID;
		} else {
			if (!have)
				r->line = r->n_line;
			have = true;
			st = smx_buf_append(&r->buf, s, end - r->pos);
			if (st != SMX_OK) {
				r->bad_line = r->line;
				if (st == SMX_INVALID) {
					(void)snprintf(r->problem_buf,
					    sizeof(r->problem_buf),
					    "line too long (over %zu bytes)",
					    r->buf.max);
					r->problem = r->problem_buf;
				} else {
					r->problem = "out of memory";
				}
				return st;
			}
		}
		r->pos = next;
		r->n_line++;
	}
	if (!have)
		return SMX_NOTFOUND;
	while (r->buf.len > 0 && is_blank(r->buf.data[r->buf.len - 1]))
		r->buf.len--;
	r->buf.data[r->buf.len] = '\0';
	r->text = r->buf.data;
	r->text_len = r->buf.len;
	return SMX_OK;
}

void
smx_lines_init(struct smx_lines *r, const char *data, size_t len,
    size_t line_max, const char *what)
{
	memset(r, 0, sizeof(*r));
	r->data = data;
	r->len = len;
	r->n_line = 1;
	r->what = what;
	smx_buf_init(&r->buf, line_max);
}

void
smx_lines_free(struct smx_lines *r)
{
	smx_buf_free(&r->buf);
	r->text = NULL;
	r->text_len = 0;
}

void
smx_line_error(char *err, size_t errlen, const char *name, size_t line,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errlen == 0)
		return;
	n = snprintf(err, errlen, "%s, line %zu: ", name, line);
	if (n < 0 || (size_t)n >= errlen)
		return; /* a truncated message is still a message */
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}
