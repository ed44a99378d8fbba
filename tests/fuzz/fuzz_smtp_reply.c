/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	fuzz_smtp_reply - libFuzzer harness for smtp_reply_parse
 * DESCRIPTION
 *	Feeds arbitrary bytes as server output and checks what the parser
 *	promises: on SMX_OK a code in range, 1..SMTP_REPLY_LINES_MAX lines,
 *	text within SMTP_REPLY_TEXT_MAX holding only tab, printable ASCII
 *	and the line separator, an enhanced code only of the reply's class,
 *	and consumed bytes within the input; the same bytes cut just before
 *	the end of the reply are "incomplete" and cut at the end give the
 *	same reply (incremental use). Any other status is SMX_NOTFOUND or
 *	SMX_INVALID. A broken promise aborts, which libFuzzer reports.
 * LIMITS
 *	Inputs beyond SMTP_REPLY_WIRE_MAX + SMTP_REPLY_LINE_MAX are cut.
 * DIAGNOSTICS
 *	abort() on a broken invariant; nothing else.
 * SECURITY
 *	Test code only; not installed.
 * SEE ALSO
 *	transport/smtp_reply.h, tests/fuzz/run-fuzzers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smtp_reply r1;
static struct smtp_reply r2;

static void
check_reply(const struct smtp_reply *r, size_t consumed, size_t len)
{
	size_t i;

	if (consumed == 0 || consumed > len)
		abort();
	if (r->code < 200 || r->code > 559)
		abort();
	if (r->n_lines == 0 || r->n_lines > SMTP_REPLY_LINES_MAX)
		abort();
	if (r->text_len > SMTP_REPLY_TEXT_MAX || r->text[r->text_len] != '\0')
		abort();
	for (i = 0; i < r->text_len; i++) {
		unsigned char c = (unsigned char)r->text[i];

		if (c != '\t' && c != '\n' && (c < 32 || c > 126))
			abort();
	}
	if (r->enhanced[0] != '\0' &&
	    (unsigned)(r->enhanced[0] - '0') != r->code / 100)
		abort();
	if (strlen(r->enhanced) > SMTP_ENHANCED_MAX)
		abort();
}

/*
 * The forgiving reader of the reply to the end of data: whole and byte
 * by byte give the same answer; the text is printable; bounds hold.
 */
static void
check_scan(const char *buf, size_t size)
{
	static struct smtp_reply_scan a;
	static struct smtp_reply_scan b;
	enum smx_status sa;
	enum smx_status sb = SMX_NOTFOUND;
	size_t used = 0;
	size_t total = 0;
	size_t i;

	smtp_reply_scan_init(&a);
	sa = smtp_reply_scan(&a, buf, size, &used);
	if (used > size ||
	    (sa != SMX_OK && sa != SMX_NOTFOUND && sa != SMX_INVALID))
		abort();
	smtp_reply_scan_init(&b);
	for (i = 0; i < size && sb == SMX_NOTFOUND; i++) {
		size_t one = 0;

		sb = smtp_reply_scan(&b, buf + i, 1, &one);
		total += one;
	}
	if (sa != sb || (sa == SMX_OK && total != used))
		abort();
	if (sa != SMX_OK)
		return;
	if (a.reply.code < 200 || a.reply.code > 599 ||
	    a.reply.text_len > SMTP_REPLY_TEXT_MAX ||
	    strlen(a.reply.text) != a.reply.text_len ||
	    strcmp(a.reply.text, b.reply.text) != 0)
		abort();
	for (i = 0; i < a.reply.text_len; i++) {
		unsigned char c = (unsigned char)a.reply.text[i];

		if (c != '\n' && (c < 32 || c > 126))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t used = 0;
	size_t used2 = 0;
	enum smx_status st;

	if (size > SMTP_REPLY_WIRE_MAX + SMTP_REPLY_LINE_MAX)
		size = SMTP_REPLY_WIRE_MAX + SMTP_REPLY_LINE_MAX;
	check_scan(buf, size);
	st = smtp_reply_parse(buf, size, &r1, &used);
	if (st == SMX_NOTFOUND || st == SMX_INVALID)
		return 0;
	if (st != SMX_OK)
		abort();
	check_reply(&r1, used, size);
	if (smtp_reply_parse(buf, used - 1, &r2, &used2) != SMX_NOTFOUND)
		abort();
	if (smtp_reply_parse(buf, used, &r2, &used2) != SMX_OK ||
	    used2 != used || r2.code != r1.code || r2.text_len != r1.text_len ||
	    memcmp(r2.text, r1.text, r1.text_len) != 0)
		abort();
	return 0;
}
