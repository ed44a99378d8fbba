/* SPDX-License-Identifier: MIT */
#ifndef SMTP_DATA_H
#define SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"

struct spool;

/*
 * smtp_data_write_fn - the sink for wire bytes: write all len bytes or
 * fail. Returns SMX_OK or any failure status, which is passed back to the
 * caller of smtp_data_feed/smtp_data_finish unchanged.
 */
typedef enum smx_status smtp_data_write_fn(void *ctx, const char *buf,
    size_t len);

/*
 * struct smtp_data - state of one message being written in SMTP DATA form.
 * The caller owns it (usually on the stack); it holds no heap memory.
 */
struct smtp_data {
	smtp_data_write_fn *write;
	void *ctx;
	bool is_line_start;  /* the next byte begins a line */
	bool has_pending_cr; /* last byte was CR: a following LF is its pair */
	bool is_failed;      /* the sink failed; nothing more is written */
	unsigned long long n_wire; /* bytes handed to the sink so far */
	size_t out_len;
	char out[SMTP_DATA_CHUNK];
};

/* smtp_data_init - start a message that goes to write(ctx, ...). */
void smtp_data_init(struct smtp_data *, smtp_data_write_fn *write, void *ctx);

/*
 * smtp_data_feed - convert len bytes of message content (any chunking:
 * a CRLF or a line may be split across calls) to the wire form: LF, CRLF
 * and a bare CR each end a line and become CRLF; a line that starts with
 * '.' gets another '.' in front (RFC 5321 section 4.5.2). No bare CR or LF
 * ever reaches the sink (RFC 5321 section 2.3.8; SMTP smuggling). Output
 * goes to the sink in pieces of at most SMTP_DATA_CHUNK bytes. Returns
 * SMX_OK or the sink's failure (after which every call fails the same
 * way with SMX_TEMPFAIL). Never exits.
 */
enum smx_status smtp_data_feed(struct smtp_data *, const char *buf, size_t len);

/*
 * smtp_data_finish - end the message: CRLF if the last line had no line
 * end, then exactly one "." CRLF, and flush. Returns as smtp_data_feed.
 */
enum smx_status smtp_data_finish(struct smtp_data *);

/*
 * smtp_data_send_spool - rewind sp and write its whole content, finished,
 * to write(ctx, ...): the usual way to send a message. Returns SMX_OK, the
 * sink's failure, or SMX_TEMPFAIL when the spool cannot be read. Never
 * exits.
 */
enum smx_status smtp_data_send_spool(struct spool *sp,
    smtp_data_write_fn *write, void *ctx);

#endif
