/* SPDX-License-Identifier: MIT */
#ifndef SMX_BUF_H
#define SMX_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "smx_status.h"

/*
 * struct smx_buf - growable byte buffer with a hard maximum set at
 * creation. data is always NUL-terminated (the terminator is not counted
 * in len) so text can be handed to string functions; binary data may still
 * contain NUL bytes. The buffer owns data; smx_buf_free() releases it.
 */
struct smx_buf {
	char *data;  /* NULL until the first append */
	size_t len;  /* bytes in use */
	size_t size; /* bytes allocated, including the terminator */
	size_t max;  /* len may never exceed this */
};

/* smx_buf_init - empty buffer that may grow to max bytes. Allocates nothing. */
void smx_buf_init(struct smx_buf *, size_t max);

/*
 * smx_buf_append - append len bytes. Returns SMX_OK, SMX_INVALID when the
 * result would exceed max (the buffer is unchanged), or SMX_TEMPFAIL when
 * memory is short (unchanged). Never exits.
 */
enum smx_status smx_buf_append(struct smx_buf *, const void *, size_t len);

/* smx_buf_appendf - append formatted text; statuses as smx_buf_append. */
enum smx_status smx_buf_appendf(struct smx_buf *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum smx_status smx_buf_vappendf(struct smx_buf *, const char *fmt, va_list)
    __attribute__((format(printf, 2, 0)));

/* smx_buf_consume - drop the first n bytes (n <= len). Keeps the memory. */
void smx_buf_consume(struct smx_buf *, size_t n);

/* smx_buf_reset - make the buffer empty; keeps the memory. */
void smx_buf_reset(struct smx_buf *);

/* smx_buf_free - release the memory; the buffer is empty and reusable. */
void smx_buf_free(struct smx_buf *);

#endif
