/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	fuzz_lmtp - libFuzzer harness for the LMTP server protocol
 * DESCRIPTION
 *	Treats the input as what an LMTP client sent and plays a server's
 *	reading of it: command lines from lmtp_line_next, each parsed by
 *	lmtp_command_parse; after a DATA command the bytes go to the DATA
 *	decoder until the end of data, then back to command lines. The
 *	whole is done three times, with the input arriving at once, byte
 *	by byte and in pieces of varying size; the three must see the same
 *	events. Checked on the way: bytes used never exceed what was given
 *	and something is used or more is asked for (no loop without
 *	progress); lines hold no CR or LF and stay within LMTP_LINE_MAX;
 *	parsed commands hold no control byte and stay within their caps;
 *	refusals carry a class and a reason; the decoded message holds no
 *	CR (line ends are LF), is never longer than the size bound, and
 *	comes back the same through smtp_data and the decoder again; every
 *	reply built from a line is one well-formed reply for
 *	smtp_reply_parse. A broken promise aborts, which libFuzzer reports.
 * LIMITS
 *	Inputs beyond HARNESS_INPUT_MAX bytes are cut.
 * DIAGNOSTICS
 *	abort() on a broken invariant; nothing else.
 * SECURITY
 *	Test code only; not installed.
 * SEE ALSO
 *	transport/lmtp_proto.h, tests/fuzz/run-fuzzers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmtp_proto.h"
#include "smtp_data.h"
#include "smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HARNESS_INPUT_MAX 65536
/* The decoded message (never longer than the input) and re-encodings. */
#define MESSAGE_MAX (HARNESS_INPUT_MAX + 2)
#define WIRE_MAX (2 * MESSAGE_MAX + 8)

/* A byte buffer with a fixed capacity; overflowing it is a bug here. */
struct fixed {
	size_t len;
	size_t cap;
	char *data;
};

static enum smx_status
fixed_write(void *ctx, const char *buf, size_t len)
{
	struct fixed *f = ctx;

	if (len == 0 || len > SMTP_DATA_CHUNK || len > f->cap - f->len)
		abort();
	memcpy(f->data + f->len, buf, len);
	f->len += len;
	return SMX_OK;
}

/* FNV-1a over every event, so that runs can be compared cheaply. */
static void
mix(uint64_t *h, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++) {
		*h ^= b[i];
		*h *= 0x100000001b3ULL;
	}
}

static void
mix_u(uint64_t *h, unsigned long long v)
{
	mix(h, &v, sizeof(v));
}

static void
check_reply(unsigned code, const char *enhanced, const char *text)
{
	static char out[SMTP_REPLY_WIRE_MAX + 1];
	static struct smtp_reply r;
	size_t len = 0;
	size_t used = 0;

	if (lmtp_reply_format(code, enhanced, text, out, sizeof(out), &len) !=
	        SMX_OK ||
	    strlen(out) != len)
		abort();
	if (smtp_reply_parse(out, len, &r, &used) != SMX_OK || used != len ||
	    r.code != code)
		abort();
}

/* Promises of the parser about one command. */
static void
check_command(const struct lmtp_command *c, enum smx_status st)
{
	size_t i;

	if (c->reason == NULL)
		abort();
	if (st == SMX_INVALID) {
		if (c->error == LMTP_ERROR_NONE || c->reason[0] == '\0')
			abort();
		return;
	}
	if (st != SMX_OK || c->error != LMTP_ERROR_NONE || c->reason[0] != '\0')
		abort();
	if (c->arg_len > SMTP_PATH_MAX - 2 || strlen(c->arg) != c->arg_len)
		abort();
	for (i = 0; i < c->arg_len; i++) {
		unsigned char b = (unsigned char)c->arg[i];

		if (b < 32 || b == 127 || (b > 126 && !c->has_8bit))
			abort();
	}
	if ((c->verb == LMTP_VERB_RCPT || c->verb == LMTP_VERB_LHLO) &&
	    c->arg_len == 0)
		abort();
	if (c->verb == LMTP_VERB_MAIL && (c->arg_len == 0) != c->is_null_path)
		abort();
	(void)lmtp_command_check_8bit(c, false);
	(void)lmtp_command_check_8bit(c, true);
}

/* The decoded message again through smtp_data and the decoder. */
static void
check_round_trip(const struct fixed *msg)
{
	static char wire_data[WIRE_MAX];
	static char back_data[MESSAGE_MAX];
	struct fixed wire = { 0, sizeof(wire_data), wire_data };
	struct fixed back = { 0, sizeof(back_data), back_data };
	struct smtp_data enc;
	struct lmtp_data dec;
	size_t used = 0;

	smtp_data_init(&enc, fixed_write, &wire);
	if (smtp_data_feed(&enc, msg->data, msg->len) != SMX_OK ||
	    smtp_data_finish(&enc) != SMX_OK)
		abort();
	lmtp_data_init(&dec, 0);
	if (lmtp_data_feed(&dec, wire.data, wire.len, &used, fixed_write,
	        &back) != SMX_OK ||
	    used != wire.len || lmtp_data_result(&dec) != SMX_OK)
		abort();
	if (back.len != msg->len || memcmp(back.data, msg->data, msg->len) != 0)
		abort();
}

/* State of one simulated server. */
struct run {
	struct lmtp_line_scan scan;
	struct lmtp_data data;
	bool is_data;
	bool is_checking_replies; /* in the first of the three runs only */
	unsigned long long max_size;
	struct fixed msg;
	uint64_t hash;
};

/* The message is complete: record it and check it. */
static void
end_message(struct run *r)
{
	enum smx_status st = lmtp_data_result(&r->data);

	if (st != SMX_OK && st != SMX_INVALID)
		abort();
	if (memchr(r->msg.data, '\r', r->msg.len) != NULL)
		abort();
	if (r->msg.len > r->data.n_stored)
		abort();
	if (r->max_size != 0 && r->msg.len > r->max_size)
		abort();
	if ((st == SMX_INVALID) !=
	    (r->max_size != 0 && r->data.n_stored > r->max_size))
		abort();
	mix_u(&r->hash, st);
	mix_u(&r->hash, r->data.n_stored);
	mix_u(&r->hash, r->data.n_wire);
	mix_u(&r->hash,
	    r->data.has_bare_lf * 4 + r->data.has_bare_cr * 2 +
	        r->data.has_odd_dot);
	mix(&r->hash, r->msg.data, r->msg.len);
	/* Stored form: every line ends in LF, the last one too. */
	if (r->msg.len > 0 && st == SMX_OK &&
	    r->msg.data[r->msg.len - 1] != '\n')
		abort();
	if (st == SMX_OK)
		check_round_trip(&r->msg);
	{
		/* The Received: id: the same however the message is cut. */
		struct lmtp_header_scan a;
		struct lmtp_header_scan b;
		char ida[LMTP_IDENT_MAX + 1] = "";
		char idb[LMTP_IDENT_MAX + 1] = "";
		size_t half = r->msg.len / 2;
		bool fa;
		bool fb;

		lmtp_header_scan_init(&a);
		lmtp_header_scan_feed(&a, r->msg.data, r->msg.len);
		lmtp_header_scan_init(&b);
		lmtp_header_scan_feed(&b, r->msg.data, half);
		lmtp_header_scan_feed(&b, r->msg.data + half,
		    r->msg.len - half);
		fa = lmtp_header_scan_id(&a, ida, sizeof(ida));
		fb = lmtp_header_scan_id(&b, idb, sizeof(idb));
		if (fa != fb || strcmp(ida, idb) != 0 ||
		    strlen(ida) > LMTP_IDENT_MAX)
			abort();
		mix(&r->hash, ida, strlen(ida));
	}
	r->is_data = false;
	r->msg.len = 0;
}

/* One complete command line. */
static void
take_line(struct run *r, const char *line, size_t len)
{
	static char text[LMTP_LINE_MAX + 1];
	struct lmtp_command c;
	enum smx_status st;

	if (len > LMTP_LINE_MAX || memchr(line, '\n', len) != NULL ||
	    memchr(line, '\r', len) != NULL)
		abort();
	st = lmtp_command_parse(line, len, &c);
	check_command(&c, st);
	mix_u(&r->hash, st);
	mix_u(&r->hash, c.verb);
	mix_u(&r->hash, c.error);
	if (st == SMX_OK) {
		mix(&r->hash, c.arg, c.arg_len);
		mix_u(&r->hash, c.size);
	}
	if (st == SMX_OK && c.verb == LMTP_VERB_DATA) {
		lmtp_data_init(&r->data, r->max_size);
		r->is_data = true;
		r->msg.len = 0;
	}
	/* Any line as reply text, NUL-cut as a C string would be. */
	if (!r->is_checking_replies)
		return;
	memcpy(text, line, len);
	text[len] = '\0';
	check_reply(250, "2.1.5", text);
	check_reply(554, NULL, text);
}

/*
 * Take what is pending: *used bytes are done with. Returns true when
 * nothing more can happen without more input.
 */
static bool
step(struct run *r, const char *buf, size_t len, size_t *used)
{
	const char *line = NULL;
	size_t line_len = 0;
	char reason[64] = "";
	enum smx_status st;

	*used = (size_t)-1;
	if (r->is_data) {
		st = lmtp_data_feed(&r->data, buf, len, used, fixed_write,
		    &r->msg);
		if (*used > len || (st == SMX_NOTFOUND && *used != len))
			abort();
		if (st == SMX_OK)
			end_message(r);
		else if (st != SMX_NOTFOUND)
			abort();
		return st == SMX_NOTFOUND;
	}
	st = lmtp_line_next(&r->scan, buf, len, &line, &line_len, used, reason,
	    sizeof(reason));
	if (*used > len)
		abort();
	if (st == SMX_OK) {
		if (line < buf || line + line_len > buf + *used)
			abort();
		take_line(r, line, line_len);
	} else if (st == SMX_INVALID) {
		/* Progress: a refused line is always dropped, at least 1. */
		if (*used == 0 || reason[0] == '\0')
			abort();
		mix(&r->hash, reason, strlen(reason));
	} else if (st != SMX_NOTFOUND) {
		abort();
	}
	return st == SMX_NOTFOUND;
}

/*
 * Feed the input the way a server reading a socket would: all at once
 * (piece 0), byte by byte (piece 1), or in pieces of varying size
 * (SIZE_MAX). Returns the hash of everything that happened.
 */
static uint64_t
play(const char *in, size_t size, size_t piece, unsigned long long max_size)
{
	static char pending[HARNESS_INPUT_MAX];
	static char msg_data[MESSAGE_MAX];
	static struct run r;
	size_t have = 0;
	size_t fed = 0;
	size_t k = 0;

	memset(&r, 0, sizeof(r));
	r.max_size = max_size;
	r.msg.data = msg_data;
	r.msg.cap = sizeof(msg_data);
	r.hash = 0xcbf29ce484222325ULL;
	r.is_checking_replies = piece == 0;
	while (fed < size) {
		size_t n = size - fed;
		size_t vary = 1 + (k++ * 7 + (unsigned char)in[fed]) % 97;
		bool is_waiting;

		if (piece == 1)
			n = 1;
		else if (piece != 0 && n > vary)
			n = vary;
		memcpy(pending + have, in + fed, n);
		have += n;
		fed += n;
		do {
			size_t used;

			is_waiting = step(&r, pending, have, &used);
			memmove(pending, pending + used, have - used);
			have -= used;
		} while (!is_waiting);
	}
	mix_u(&r.hash, r.is_data);
	mix_u(&r.hash, have);
	return r.hash;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	static struct lmtp_command c;
	unsigned long long max_size;
	uint64_t whole;
	enum smx_status st;

	if (size > HARNESS_INPUT_MAX)
		size = HARNESS_INPUT_MAX;
	/* The parser on its own, with any bytes at all. */
	st = lmtp_command_parse(in, size, &c);
	check_command(&c, st);
	/* A size bound some messages reach: from 0 (none) to ~ the input. */
	max_size = size > 0 ? (unsigned long long)(data[0] % 4) * size / 3 : 0;
	whole = play(in, size, 0, max_size);
	if (play(in, size, 1, max_size) != whole)
		abort();
	if (play(in, size, SIZE_MAX, max_size) != whole)
		abort();
	return 0;
}
