/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_buf - growable byte buffer with a hard maximum
 * DESCRIPTION
 *	All dynamic text in secmx lives in a struct smx_buf. Growth doubles
 *	the allocation, capped at the maximum given at creation.
 * LIMITS
 *	The maximum is the caller's; growing past it fails with SMX_INVALID.
 * DIAGNOSTICS
 *	Returns a status; logs nothing.
 * SECURITY
 *	Size arithmetic is checked before it is done.
 * SEE ALSO
 *	STYLE.md, "Memory discipline".
 */
#include "smx_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
smx_buf_init(struct smx_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->size = 0;
	b->max = max;
}

/* Make room for need more bytes plus the terminator. */
static enum smx_status
reserve(struct smx_buf *b, size_t need)
{
	size_t want;
	size_t size;
	char *p;

	if (need > b->max - b->len)
		return SMX_INVALID;
	want = b->len + need + 1;
	if (want <= b->size)
		return SMX_OK;
	size = b->size ? b->size : 64;
	while (size < want)
		size = size > (b->max + 1) / 2 ? b->max + 1 : size * 2;
	if ((p = realloc(b->data, size)) == NULL)
		return SMX_TEMPFAIL;
	b->data = p;
	b->size = size;
	return SMX_OK;
}

enum smx_status
smx_buf_append(struct smx_buf *b, const void *src, size_t len)
{
	enum smx_status st;

	if ((st = reserve(b, len)) != SMX_OK)
		return st;
	if (len > 0)
		memcpy(b->data + b->len, src, len);
	b->len += len;
	b->data[b->len] = '\0';
	return SMX_OK;
}

enum smx_status
smx_buf_vappendf(struct smx_buf *b, const char *fmt, va_list ap)
{
	enum smx_status st;
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return SMX_INVALID;
	if ((st = reserve(b, (size_t)n)) != SMX_OK)
		return st;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return SMX_OK;
}

enum smx_status
smx_buf_appendf(struct smx_buf *b, const char *fmt, ...)
{
	enum smx_status st;
	va_list ap;

	va_start(ap, fmt);
	st = smx_buf_vappendf(b, fmt, ap);
	va_end(ap);
	return st;
}

void
smx_buf_consume(struct smx_buf *b, size_t n)
{
	if (n >= b->len) {
		smx_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
smx_buf_reset(struct smx_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
smx_buf_free(struct smx_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->size = 0;
}
