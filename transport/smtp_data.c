/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smtp_data - message content to SMTP DATA wire form
 * DESCRIPTION
 *	A streaming converter from the message as pipe(8) hands it over
 *	(lines ending in LF, possibly with stray CR) to what RFC 5321 allows
 *	on the wire: lines ending in CRLF, leading dots doubled, and the
 *	end-of-data marker "." CRLF exactly once. It keeps only two flags of
 *	state between calls, so chunks may split a line or a CRLF anywhere.
 * LIMITS
 *	SMTP_DATA_CHUNK bytes of output buffer; memory does not grow with
 *	the message.
 * DIAGNOSTICS
 *	Returns SMX_OK or the sink's failure; logs nothing.
 * SECURITY
 *	Message content is untrusted. Every CR and every LF in it becomes a
 *	CRLF line end, so no bare CR or LF and no early "<CRLF>.<CRLF>" can
 *	be produced from any input (SMTP smuggling, CVE-2023-51764).
 * SEE ALSO
 *	RFC 5321 sections 2.3.8, 4.1.1.4 and 4.5.2; Postfix
 *	smtp-smuggling.html.
 */
#include "smtp_data.h"

#include <string.h>

#include "spool.h"

void
smtp_data_init(struct smtp_data *d, smtp_data_write_fn *write, void *ctx)
{
	memset(d, 0, sizeof(*d));
	d->write = write;
	d->ctx = ctx;
	d->is_line_start = true;
}

static enum smx_status
flush(struct smtp_data *d)
{
	enum smx_status st;

	if (d->is_failed)
		return SMX_TEMPFAIL;
	if (d->out_len == 0)
		return SMX_OK;
	st = d->write(d->ctx, d->out, d->out_len);
	if (st != SMX_OK) {
		d->is_failed = true;
		return st;
	}
	d->n_wire += d->out_len;
	d->out_len = 0;
	return SMX_OK;
}

/* Queue a few bytes; flush first when they would not fit. */
static enum smx_status
put(struct smtp_data *d, const char *s, size_t len)
{
	enum smx_status st;

	if (d->out_len + len > sizeof(d->out) && (st = flush(d)) != SMX_OK)
		return st;
	memcpy(d->out + d->out_len, s, len);
	d->out_len += len;
	return SMX_OK;
}

enum smx_status
smtp_data_feed(struct smtp_data *d, const char *buf, size_t len)
{
	enum smx_status st;
	size_t i;

	if (d->is_failed)
		return SMX_TEMPFAIL;
	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (d->has_pending_cr) {
			d->has_pending_cr = false;
			if (c == '\n')
				continue; /* the LF of a CRLF already sent */
		}
		if (c == '\r' || c == '\n') {
			d->has_pending_cr = c == '\r';
			d->is_line_start = true;
			st = put(d, "\r\n", 2);
		} else if (d->is_line_start && c == '.') {
			d->is_line_start = false;
			st = put(d, "..", 2);
		} else {
			d->is_line_start = false;
			st = put(d, &c, 1);
		}
		if (st != SMX_OK)
			return st;
	}
	return SMX_OK;
}

enum smx_status
smtp_data_finish(struct smtp_data *d)
{
	enum smx_status st;

	if (d->is_failed)
		return SMX_TEMPFAIL;
	if (!d->is_line_start && (st = put(d, "\r\n", 2)) != SMX_OK)
		return st;
	if ((st = put(d, ".\r\n", 3)) != SMX_OK)
		return st;
	d->is_line_start = true;
	d->has_pending_cr = false;
	return flush(d);
}

enum smx_status
smtp_data_send_spool(struct spool *sp, smtp_data_write_fn *write, void *ctx)
{
	struct smtp_data d;
	char buf[SMTP_DATA_CHUNK];
	enum smx_status st;
	size_t n;

	if (spool_rewind(sp) != SMX_OK)
		return SMX_TEMPFAIL;
	smtp_data_init(&d, write, ctx);
	for (;;) {
		if (spool_read(sp, buf, sizeof(buf), &n) != SMX_OK)
			return SMX_TEMPFAIL;
		if (n == 0)
			break;
		if ((st = smtp_data_feed(&d, buf, n)) != SMX_OK)
			return st;
	}
	return smtp_data_finish(&d);
}
