/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/lmtp_proto.c: the command line reader, the
 * command parser, the DATA decoder (whole, byte by byte, every split, and
 * round trips through smtp_data) and the reply formatter (every reply
 * checked with our own client's parser, smtp_reply_parse).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smx_buf.h"
#include "lmtp_proto.h"
#include "smtp_data.h"
#include "smtp_reply.h"

#define S(x) x, sizeof(x) - 1
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The line reader, run over input fed in pieces of `piece` bytes (0: all
 * at once), the way a server loop uses it: append what arrived, call
 * until nothing is complete, drop what was used. Each event is written to
 * the transcript: "L<line>|" for a line (bytes escaped), "E<reason>|" for
 * a refusal.
 */
static void
escape_into(struct smx_buf *t, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 32 || c > 126 || c == '\\' || c == '|')
			ck_assert_int_eq(smx_buf_appendf(t, "\\x%02x", c),
			    SMX_OK);
		else
			ck_assert_int_eq(smx_buf_append(t, s + i, 1), SMX_OK);
	}
}

static void
run_lines(const char *in, size_t len, size_t piece, struct smx_buf *t)
{
	struct lmtp_line_scan scan;
	struct smx_buf pending;
	size_t fed = 0;

	memset(&scan, 0, sizeof(scan));
	smx_buf_init(&pending, len + 1);
	smx_buf_reset(t);
	ck_assert_int_eq(smx_buf_append(t, "", 0), SMX_OK);
	do {
		size_t n = piece == 0 || len - fed < piece ? len - fed : piece;
		enum smx_status st;

		ck_assert_int_eq(smx_buf_append(&pending, in + fed, n), SMX_OK);
		fed += n;
		do {
			const char *line = NULL;
			size_t line_len = 0;
			size_t used = 12345;
			char reason[64] = "";

			st = lmtp_line_next(&scan, pending.data, pending.len,
			    &line, &line_len, &used, reason, sizeof(reason));
			ck_assert_uint_le(used, pending.len);
			if (st == SMX_OK) {
				ck_assert_uint_le(line_len, LMTP_LINE_MAX);
				ck_assert(line >= pending.data &&
				    line + line_len <= pending.data + used);
				smx_buf_append(t, "L", 1);
				escape_into(t, line, line_len);
				smx_buf_append(t, "|", 1);
			} else if (st == SMX_INVALID) {
				ck_assert_int_gt(used, 0);
				smx_buf_appendf(t, "E%s|", reason);
			} else {
				ck_assert_int_eq(st, SMX_NOTFOUND);
			}
			smx_buf_consume(&pending, used);
		} while (st != SMX_NOTFOUND);
	} while (fed < len);
	smx_buf_free(&pending);
}

static const struct {
	const char *in;
	size_t len;
	const char *want;
} line_cases[] = {
	{ S(""), "" },                         /* empty */
	{ S("NOOP\r\n"), "LNOOP|" },           /* one line */
	{ S("NOOP\n"), "LNOOP|" },             /* bare LF ends a line */
	{ S("NOOP"), "" },                     /* missing terminator */
	{ S("NOOP\r"), "" },                   /* truncated line end */
	{ S("\r\n"), "L|" },                   /* empty line: for the parser */
	{ S("\n\n"), "L|L|" },                 /* repeated bare LF */
	{ S("A\0B\r\n"), "LA\\x00B|" },        /* NUL: for the parser */
	{ S("\xc3\xa9\r\n"), "L\\xc3\\xa9|" }, /* non-ASCII: for the parser */
	/* pipelining: several commands in one read */
	{ S("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n"),
	    "LMAIL FROM:<a@b>|LRCPT TO:<c@d>|LRCPT TO:<e@f>|LDATA|" },
	{ S("NOOP\r\nQUIT"), "LNOOP|" },
	/* bare CR: the line is refused, the next one read */
	{ S("NO\rOP\r\nQUIT\r\n"), "Ebare CR in command|LQUIT|" },
	{ S("\r\r\nQUIT\r\n"), "Ebare CR in command|LQUIT|" },
	{ S("NOOP\r\r\n"), "Ebare CR in command|" },
	{ S("A\rB"), "Ebare CR in command|" },
	{ S("A\rB\nC\n"), "Ebare CR in command|LC|" },
	{ S("A\r\nB\rC\n\r\n"), "LA|Ebare CR in command|L|" },
};

START_TEST(test_lmtp_line_cases)
{
	static const size_t pieces[] = { 0, 1, 2, 3, 5 };
	struct smx_buf t;
	size_t i;

	smx_buf_init(&t, 65536);
	for (i = 0; i < N_OF(pieces); i++) {
		run_lines(line_cases[_i].in, line_cases[_i].len, pieces[i], &t);
		ck_assert_msg(strcmp(t.data, line_cases[_i].want) == 0,
		    "case %d piece %zu: got \"%s\", want \"%s\"", _i, pieces[i],
		    t.data, line_cases[_i].want);
	}
	smx_buf_free(&t);
}
END_TEST

/* A line of len 'x' bytes, then end (a C string), then tail. */
static char *
long_line(size_t len, const char *end, const char *tail, size_t *total)
{
	size_t elen = strlen(end);
	size_t tlen = strlen(tail);
	char *s = malloc(len + elen + tlen + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, 'x', len);
	memcpy(s + len, end, elen);
	memcpy(s + len + elen, tail, tlen + 1);
	*total = len + elen + tlen;
	return s;
}

/* At the cap a line is read; one byte more is refused, then resync. */
START_TEST(test_lmtp_line_cap)
{
	static const size_t pieces[] = { 0, 1, 7, 1000 };
	static const struct {
		size_t len;
		const char *end;
		bool is_ok;
	} shapes[] = {
		{ LMTP_LINE_MAX, "\r\n", true },
		{ LMTP_LINE_MAX, "\n", true },
		{ LMTP_LINE_MAX + 1, "\r\n", false },
		{ LMTP_LINE_MAX + 1, "\n", false },
		{ 3 * LMTP_LINE_MAX, "\r\n", false },
	};
	struct smx_buf t;
	size_t i;
	size_t j;

	smx_buf_init(&t, 65536);
	for (i = 0; i < N_OF(shapes); i++) {
		size_t total;
		char *in =
		    long_line(shapes[i].len, shapes[i].end, "QUIT\r\n", &total);

		for (j = 0; j < N_OF(pieces); j++) {
			run_lines(in, total, pieces[j], &t);
			if (shapes[i].is_ok) {
				ck_assert_uint_eq(t.len,
				    1 + shapes[i].len + 1 + 6);
				ck_assert_str_eq(t.data + t.len - 6, "LQUIT|");
			} else {
				ck_assert_str_eq(t.data,
				    "Eline too long|LQUIT|");
			}
		}
		free(in);
	}
	smx_buf_free(&t);
}
END_TEST

/* Refused as soon as the cap is passed, not at the line end. */
START_TEST(test_lmtp_line_early)
{
	struct lmtp_line_scan scan;
	size_t total;
	char *in = long_line(LMTP_LINE_MAX + 1, "", "", &total);
	const char *line;
	size_t line_len;
	size_t used;
	char reason[64];

	memset(&scan, 0, sizeof(scan));
	ck_assert_int_eq(lmtp_line_next(&scan, in, LMTP_LINE_MAX, &line,
	                     &line_len, &used, reason, sizeof(reason)),
	    SMX_NOTFOUND);
	ck_assert_uint_eq(used, 0);
	/* A CR right at the cap may still be the start of CRLF. */
	in[LMTP_LINE_MAX] = '\r';
	ck_assert_int_eq(lmtp_line_next(&scan, in, LMTP_LINE_MAX + 1, &line,
	                     &line_len, &used, reason, sizeof(reason)),
	    SMX_NOTFOUND);
	in[LMTP_LINE_MAX] = 'x';
	ck_assert_int_eq(lmtp_line_next(&scan, in, LMTP_LINE_MAX + 1, &line,
	                     &line_len, &used, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_str_eq(reason, "line too long");
	ck_assert_uint_eq(used, LMTP_LINE_MAX + 1);
	/* The rest of that line is discarded as it comes, then resync. */
	ck_assert_int_eq(lmtp_line_next(&scan, "yyyy", 4, &line, &line_len,
	                     &used, reason, sizeof(reason)),
	    SMX_NOTFOUND);
	ck_assert_uint_eq(used, 4);
	ck_assert_int_eq(lmtp_line_next(&scan, "y\nNOOP\r\n", 8, &line,
	                     &line_len, &used, reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(used, 8);
	ck_assert_uint_eq(line_len, 4);
	ck_assert_int_eq(memcmp(line, "NOOP", 4), 0);
	free(in);
}
END_TEST

/*
 * The command parser.
 */

enum {
	F_8BIT = 1,
	F_NOT_UTF8 = 2,
	F_UTF8 = 4,
	F_NULL = 8,
	F_7BIT = 16,
	F_8BITMIME = 32
};

static const struct {
	const char *in;
	size_t len;
	enum smx_status st;
	enum lmtp_verb verb;
	enum lmtp_error error;
	const char *arg;
	unsigned flags;
	long long size; /* -1: no SIZE */
} cmd_cases[] = {
#define OK(in, verb, arg, flags, size)                                         \
	{                                                                      \
		S(in), SMX_OK, LMTP_VERB_##verb, LMTP_ERROR_NONE, arg, flags,  \
		    size                                                       \
	}
#define BAD(in, verb, error)                                                   \
	{                                                                      \
		S(in), SMX_INVALID, LMTP_VERB_##verb, LMTP_ERROR_##error, "",  \
		    0, -1                                                      \
	}
	/* what Postfix lmtp(8) sends */
	OK("LHLO mx.example.org", LHLO, "mx.example.org", 0, -1),
	OK("MAIL FROM:<a@b.example> SIZE=123 BODY=8BITMIME", MAIL,
	    "a@b.example", F_8BITMIME, 123),
	OK("RCPT TO:<bob@example.org>", RCPT, "bob@example.org", 0, -1),
	OK("DATA", DATA, "", 0, -1),
	OK("RSET", RSET, "", 0, -1),
	OK("QUIT", QUIT, "", 0, -1),
	/* verbs in any case; arguments; trailing spaces */
	OK("lhlo [192.0.2.1]", LHLO, "[192.0.2.1]", 0, -1),
	OK("LHLO [IPv6:2001:db8::1]", LHLO, "[IPv6:2001:db8::1]", 0, -1),
	OK("Lhlo host_1.example", LHLO, "host_1.example", 0, -1),
	OK("data", DATA, "", 0, -1),
	OK("QUIT  ", QUIT, "", 0, -1),
	OK("NOOP", NOOP, "", 0, -1),
	OK("noop anything \xc3\xa9 goes", NOOP, "", 0, -1),
	OK("VRFY bob", VRFY, "", 0, -1),
	OK("EHLO mx.example", EHLO, "", 0, -1),
	OK("helo", HELO, "", 0, -1),
	OK("EHLO", EHLO, "", 0, -1),
	/* MAIL FROM */
	OK("mail from:<>", MAIL, "", F_NULL, -1),
	OK("MAIL FROM:<> BODY=7BIT", MAIL, "", F_NULL | F_7BIT, -1),
	OK("MAIL FROM: <a@b>", MAIL, "a@b", 0, -1),
	OK("MAIL FROM:<a@b>   ", MAIL, "a@b", 0, -1),
	OK("MAIL FROM:<a@b>  SIZE=0  body=8bitmime", MAIL, "a@b", F_8BITMIME,
	    0),
	OK("MAIL FROM:<a@b> SIZE=18446744073709551615", MAIL, "a@b", 0, -2),
	OK("MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8", MAIL,
	    "j\xc3\xb6rg@b.example", F_8BIT | F_UTF8, -1),
	OK("MAIL FROM:<@r1.example,@r2.example:a@b.example>", MAIL,
	    "a@b.example", 0, -1),
	OK("MAIL FROM:<@r1.example:a@b.example>", MAIL, "a@b.example", 0, -1),
	OK("MAIL FROM:<\"john doe\"@b.example>", MAIL, "\"john doe\"@b.example",
	    0, -1),
	OK("MAIL FROM:<\"a\\\"b>\"@b.example>", MAIL, "\"a\\\"b>\"@b.example",
	    0, -1),
	OK("MAIL FROM:<a.b+tag@b.example>", MAIL, "a.b+tag@b.example", 0, -1),
	OK("MAIL FROM:<a..b.@b.example>", MAIL, "a..b.@b.example", 0, -1),
	/* RCPT TO */
	OK("rcpt to:<Postmaster>", RCPT, "Postmaster", 0, -1),
	OK("RCPT TO:<user@[192.0.2.1]>", RCPT, "user@[192.0.2.1]", 0, -1),
	OK("RCPT TO:<j\xc3\xb6rg@b\xc3\xbc.example>", RCPT,
	    "j\xc3\xb6rg@b\xc3\xbc.example", F_8BIT, -1),
	OK("RCPT TO:<\xff@b.example>", RCPT, "\xff@b.example",
	    F_8BIT | F_NOT_UTF8, -1),
	OK("RCPT TO:<\xc0\xaf@b.example>", RCPT, "\xc0\xaf@b.example",
	    F_8BIT | F_NOT_UTF8, -1), /* overlong '/' */
	/* the line itself */
	BAD("", UNKNOWN, LINE),
	BAD("    ", UNKNOWN, LINE),
	BAD("NOOP\tx", UNKNOWN, LINE),
	BAD("NO\0OP", UNKNOWN, LINE),
	BAD("NOOP\r", UNKNOWN, LINE),
	BAD("NOOP\nQUIT", UNKNOWN, LINE),
	BAD("RCPT TO:<a\x7f@b>", UNKNOWN, LINE),
	/* verbs */
	BAD("XYZZY", UNKNOWN, VERB),
	BAD("MAILFROM:<a@b>", UNKNOWN, VERB),
	BAD(" NOOP", UNKNOWN, VERB),
	BAD("NOO", UNKNOWN, VERB),
	BAD("STARTTLS", UNKNOWN, VERB),
	BAD("\xc3\xa9", UNKNOWN, VERB),
	/* arguments */
	BAD("DATA x", DATA, SYNTAX),
	BAD("QUIT now", QUIT, SYNTAX),
	BAD("RSET x", RSET, SYNTAX),
	BAD("VRFY", VRFY, SYNTAX),
	BAD("VRFY   ", VRFY, SYNTAX),
	BAD("LHLO", LHLO, SYNTAX),
	BAD("LHLO a..b", LHLO, SYNTAX),
	BAD("LHLO a.b.", LHLO, SYNTAX),
	BAD("LHLO a b", LHLO, SYNTAX),
	BAD("LHLO  a", LHLO, SYNTAX),
	BAD("LHLO [192.0.2.1", LHLO, SYNTAX),
	BAD("LHLO []", LHLO, SYNTAX),
	BAD("LHLO j\xc3\xb6.example", LHLO, SYNTAX),
	BAD("MAIL", MAIL, SYNTAX),
	BAD("MAIL TO:<a@b>", MAIL, SYNTAX),
	BAD("MAIL FROM", MAIL, SYNTAX),
	BAD("RCPT FROM:<a@b>", RCPT, SYNTAX),
	BAD("MAIL FROM:<a@b>x", MAIL, SYNTAX),
	/* paths */
	BAD("MAIL FROM:", MAIL, SENDER),
	BAD("MAIL FROM:a@b", MAIL, SENDER),
	BAD("MAIL FROM:<a@b", MAIL, SENDER),
	BAD("MAIL FROM:<a<b@c>", MAIL, SENDER),
	BAD("MAIL FROM:<a@>", MAIL, SENDER),
	BAD("MAIL FROM:<@b>", MAIL, SENDER),
	BAD("MAIL FROM:<@b:>", MAIL, SENDER),
	BAD("MAIL FROM:<@b,c:a@b>", MAIL, SENDER),
	BAD("MAIL FROM:<a>", MAIL, SENDER),
	BAD("MAIL FROM:<postmaster>", MAIL, SENDER),
	BAD("MAIL FROM:<a b@c>", MAIL, SENDER),
	BAD("MAIL FROM:<a@b..c>", MAIL, SENDER),
	BAD("MAIL FROM:<a@b.>", MAIL, SENDER),
	BAD("MAIL FROM:<a@b@c>", MAIL, SENDER),
	BAD("MAIL FROM:<a@[b>", MAIL, SENDER),
	BAD("MAIL FROM:<\"ab@c>", MAIL, SENDER),
	BAD("MAIL FROM:<\"a\"b@c>", MAIL, SENDER),
	BAD("MAIL FROM:<(x)a@b>", MAIL, SENDER),
	BAD("RCPT TO:<>", RCPT, RECIPIENT),
	BAD("RCPT TO:<\"postmaster\">", RCPT, RECIPIENT),
	BAD("RCPT TO:bob@example.org", RCPT, RECIPIENT),
	BAD("RCPT TO:<bob@example.org", RCPT, RECIPIENT),
	/* parameters: 555 5.5.4 */
	BAD("RCPT TO:<a@b> NOTIFY=NEVER", RCPT, PARAM),
	BAD("RCPT TO:<a@b> ORCPT=rfc822;a@b", RCPT, PARAM),
	BAD("RCPT TO:<a@b> X", RCPT, PARAM),
	BAD("MAIL FROM:<a@b> SIZE=abc", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> SIZE=", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> SIZE", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> SIZE=-1", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> SIZE=18446744073709551616", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> SIZE=000000000000000000001", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> SIZE=1 SIZE=1", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> BODY=BINARYMIME", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> BODY=8bitmime BODY=7bit", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> BODY", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> SMTPUTF8=yes", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> SMTPUTF8 SMTPUTF8", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> AUTH=<>", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> RET=HDRS", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> -X=1", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> X_Y=1", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> X=a=b", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> X=\xc3\xa9", MAIL, PARAM),
	BAD("MAIL FROM:<a@b> =1", MAIL, PARAM),
#undef OK
#undef BAD
};

START_TEST(test_lmtp_command_parse)
{
	struct lmtp_command c;
	unsigned f = cmd_cases[_i].flags;
	enum smx_status st =
	    lmtp_command_parse(cmd_cases[_i].in, cmd_cases[_i].len, &c);

	ck_assert_msg(st == cmd_cases[_i].st, "case %d (%s): status %d (%s)",
	    _i, cmd_cases[_i].in, st, c.reason);
	ck_assert_int_eq(c.verb, cmd_cases[_i].verb);
	ck_assert_int_eq(c.error, cmd_cases[_i].error);
	ck_assert_ptr_nonnull(c.reason);
	if (st != SMX_OK) {
		ck_assert_str_ne(c.reason, "");
		return;
	}
	ck_assert_str_eq(c.reason, "");
	ck_assert_str_eq(c.arg, cmd_cases[_i].arg);
	ck_assert_uint_eq(c.arg_len, strlen(cmd_cases[_i].arg));
	ck_assert(c.has_8bit == ((f & F_8BIT) != 0));
	ck_assert(c.is_utf8 == ((f & F_NOT_UTF8) == 0));
	ck_assert(c.is_smtputf8 == ((f & F_UTF8) != 0));
	ck_assert(c.is_null_path == ((f & F_NULL) != 0));
	ck_assert_int_eq(c.body,
	    (f & F_7BIT)           ? LMTP_BODY_7BIT
	        : (f & F_8BITMIME) ? LMTP_BODY_8BITMIME
	                           : LMTP_BODY_NONE);
	ck_assert(c.has_size == (cmd_cases[_i].size != -1));
	if (cmd_cases[_i].size >= 0)
		ck_assert_uint_eq(c.size,
		    (unsigned long long)cmd_cases[_i].size);
	if (cmd_cases[_i].size == -2)
		ck_assert_uint_eq(c.size, 18446744073709551615ULL);
}
END_TEST

/* XFORWARD: IDENT kept when it is a queue id; other attributes ignored. */
static const struct {
	const char *in;
	enum smx_status st;
	const char *ident; /* NULL: none kept */
} xforward_cases[] = {
	{ "XFORWARD IDENT=4F2A31C0D2", SMX_OK, "4F2A31C0D2" },
	{ "xforward ident=3xYz9k2Lq1mNbVc", SMX_OK, "3xYz9k2Lq1mNbVc" },
	{ "XFORWARD NAME=mail.example ADDR=192.0.2.1 IDENT=AB12", SMX_OK,
	    "AB12" },
	{ "XFORWARD IDENT=AB+31", SMX_OK, "AB1" },
	{ "XFORWARD IDENT=[UNAVAILABLE]", SMX_OK, NULL },
	{ "XFORWARD IDENT=AB+2F1", SMX_OK, NULL },
	{ "XFORWARD IDENT=AB+3", SMX_OK, NULL },
	{ "XFORWARD IDENT=AB+zz", SMX_OK, NULL },
	{ "XFORWARD IDENT=0123456789012345678901234567890123", SMX_OK, NULL },
	{ "XFORWARD PROTO=ESMTP HELO=client.example SOURCE=REMOTE", SMX_OK,
	    NULL },
	{ "XFORWARD", SMX_INVALID, NULL },
	{ "XFORWARD IDENT", SMX_INVALID, NULL },
	{ "XFORWARD IDENT=", SMX_INVALID, NULL },
	{ "XFORWARD COLOR=red", SMX_INVALID, NULL },
	{ "XFORWARD IDENT=A\xc3\xa9", SMX_INVALID, NULL },
	{ "XFORWARD =x", SMX_INVALID, NULL },
};

START_TEST(test_lmtp_command_xforward)
{
	struct lmtp_command c;
	enum smx_status st;

	st = lmtp_command_parse(xforward_cases[_i].in,
	    strlen(xforward_cases[_i].in), &c);
	ck_assert_msg(st == xforward_cases[_i].st, "case %d (%s): status %d",
	    _i, xforward_cases[_i].in, st);
	ck_assert_int_eq(c.verb, LMTP_VERB_XFORWARD);
	if (st != SMX_OK) {
		ck_assert_int_eq(c.error, LMTP_ERROR_SYNTAX);
		return;
	}
	ck_assert(c.has_ident == (xforward_cases[_i].ident != NULL));
	if (c.has_ident)
		ck_assert_str_eq(c.ident, xforward_cases[_i].ident);
	ck_assert_str_eq(lmtp_verb_name(c.verb), "XFORWARD");
}
END_TEST

/* The queue id in the first Received: field, however the input is cut. */
static const struct {
	const char *msg;
	const char *id; /* NULL: none */
} received_cases[] = {
	/* What Postfix's cleanup writes: smtpd and pickup. */
	{ "Received: from client.example (client.example [192.0.2.1])\n"
	  "\tby mx.example (Postfix) with ESMTPS id 4F2A31C0D2\n"
	  "\tfor <bob@example.org>; Mon, 30 Nov 2026 21:00:00 +0000 (UTC)\n"
	  "Received: from other (other [192.0.2.9]) by x (Postfix) with ESMTP "
	  "id OTHER1;\n\tMon, 30 Nov 2026 20:00:00 +0000\n"
	  "Subject: hi\n\nbody id NOTME\n",
	    "4F2A31C0D2" },
	{ "Received: by mx.example (Postfix, from userid 0)\n"
	  "\tid 3xYz9k2Lq1mNbVc; Mon, 30 Nov 2026 21:00:00 +0000 (UTC)\n"
	  "\n",
	    "3xYz9k2Lq1mNbVc" },
	{ "received: by h with SMTP ID ABC12; now\n\n", "ABC12" },
	{ "Subject: no received\nFrom: a@b\n\nReceived: by x id NO1\n", NULL },
	{ "Subject: x\nReceived: by h id AFTER1;\n\n", "AFTER1" },
	{ "Received: by h (Postfix) with LMTP\n\tfor <a@b>; date\n"
	  "X-Other: id NOTTHIS\n\n",
	    NULL },
	{ "Received: by h id ABC-12; date\n\n", NULL },
	{ "Received: by hid ABC12; date\n\n", NULL },
	{ "Received: by h id 012345678901234567890123456789012;\n\n", NULL },
	{ "\nReceived: by h id LATE1;\n", NULL },
};

START_TEST(test_lmtp_header_scan)
{
	const char *msg = received_cases[_i].msg;
	size_t len = strlen(msg);
	size_t cut;

	for (cut = 0; cut <= len; cut++) {
		struct lmtp_header_scan h;
		char id[LMTP_IDENT_MAX + 1] = "unset";
		bool found;

		lmtp_header_scan_init(&h);
		lmtp_header_scan_feed(&h, msg, cut);
		lmtp_header_scan_feed(&h, msg + cut, len - cut);
		found = lmtp_header_scan_id(&h, id, sizeof(id));
		if (received_cases[_i].id == NULL) {
			ck_assert_msg(!found, "case %d cut %zu: found %s", _i,
			    cut, id);
			ck_assert_str_eq(id, "unset");
		} else {
			ck_assert_msg(found, "case %d cut %zu: none", _i, cut);
			ck_assert_str_eq(id, received_cases[_i].id);
		}
	}
}
END_TEST

/* Only the first LMTP_HEADER_SCAN_MAX bytes are looked at. */
START_TEST(test_lmtp_header_scan_cap)
{
	static const char late[] = "Received: by h id LATE2;\n\n";
	static char msg[LMTP_HEADER_SCAN_MAX + 64];
	struct lmtp_header_scan h;
	char id[LMTP_IDENT_MAX + 1];
	size_t i;

	for (i = 0; i + 8 < LMTP_HEADER_SCAN_MAX; i += 8)
		memcpy(msg + i, "X-A: b\n\0", 8);
	memcpy(msg + i, late, sizeof(late));
	lmtp_header_scan_init(&h);
	lmtp_header_scan_feed(&h, msg, strlen(msg));
	ck_assert(!lmtp_header_scan_id(&h, id, sizeof(id)));
}
END_TEST

/* "<" + local part of n 'x' + "@b.example" + ">", as a MAIL command. */
static size_t
path_command(char *buf, size_t size, size_t path_len, const char *verb)
{
	size_t head = strlen(verb);
	size_t local = path_len - 2 - strlen("@b.example");
	size_t n;

	ck_assert_uint_lt(head + path_len, size);
	memcpy(buf, verb, head);
	n = head;
	buf[n++] = '<';
	memset(buf + n, 'x', local);
	n += local;
	memcpy(buf + n, "@b.example>", 11);
	n += 11;
	buf[n] = '\0';
	return n;
}

/* Paths exactly at SMTP_PATH_MAX (brackets included) and one over. */
START_TEST(test_lmtp_command_path_cap)
{
	static const char *verbs[] = { "MAIL FROM:", "RCPT TO:" };
	char buf[SMTP_PATH_MAX + 64];
	struct lmtp_command c;
	size_t i;
	size_t n;

	for (i = 0; i < N_OF(verbs); i++) {
		n = path_command(buf, sizeof(buf), SMTP_PATH_MAX, verbs[i]);

		ck_assert_int_eq(lmtp_command_parse(buf, n, &c), SMX_OK);
		ck_assert_uint_eq(c.arg_len, SMTP_PATH_MAX - 2);
		ck_assert_uint_eq(strlen(c.arg), SMTP_PATH_MAX - 2);
		n = path_command(buf, sizeof(buf), SMTP_PATH_MAX + 1, verbs[i]);
		ck_assert_int_eq(lmtp_command_parse(buf, n, &c), SMX_INVALID);
		ck_assert_int_eq(c.error,
		    i == 0 ? LMTP_ERROR_SENDER : LMTP_ERROR_RECIPIENT);
		ck_assert_str_eq(c.reason, "address too long");
	}
	/* A source route counts: the path as sent is what is bounded. */
	memcpy(buf, "MAIL FROM:<", 11);
	n = 11;
	while (n < 11 + SMTP_PATH_MAX - 14) {
		memcpy(buf + n, "@r.example,", 11);
		n += 11;
	}
	memcpy(buf + n, "@r.example:a@b.example>", 23);
	n += 23;
	ck_assert_int_eq(lmtp_command_parse(buf, n, &c), SMX_INVALID);
	ck_assert_str_eq(c.reason, "address too long");
	/* The same route, shorter: accepted and dropped. */
	ck_assert_int_eq(lmtp_command_parse(S("MAIL FROM:<@r.example,"
	                                      "@r.example:a@b.example>"),
	                     &c),
	    SMX_OK);
	ck_assert_str_eq(c.arg, "a@b.example");
}
END_TEST

/* Command lines exactly at LMTP_LINE_MAX and one over. */
START_TEST(test_lmtp_command_line_cap)
{
	static char buf[LMTP_LINE_MAX + 2];
	struct lmtp_command c;

	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "NOOP ", 5);
	ck_assert_int_eq(lmtp_command_parse(buf, LMTP_LINE_MAX, &c), SMX_OK);
	ck_assert_int_eq(c.verb, LMTP_VERB_NOOP);
	ck_assert_int_eq(lmtp_command_parse(buf, LMTP_LINE_MAX + 1, &c),
	    SMX_INVALID);
	ck_assert_int_eq(c.error, LMTP_ERROR_LINE);
	ck_assert_str_eq(c.reason, "line too long");
	/* Truncated commands: every prefix parses or is refused, no more. */
	{
		static const char full[] =
		    "MAIL FROM:<@r.example:\"a b\"@b.example> SIZE=12 "
		    "BODY=7BIT SMTPUTF8";
		size_t n;

		for (n = 0; n < sizeof(full) - 1; n++) {
			enum smx_status st = lmtp_command_parse(full, n, &c);

			ck_assert(st == SMX_OK || st == SMX_INVALID);
			if (st == SMX_INVALID)
				ck_assert_int_ne(c.error, LMTP_ERROR_NONE);
		}
		ck_assert_int_eq(lmtp_command_parse(full, n, &c), SMX_OK);
		ck_assert_str_eq(c.arg, "\"a b\"@b.example");
	}
}
END_TEST

START_TEST(test_lmtp_command_8bit)
{
	struct lmtp_command mail;
	struct lmtp_command mail8;
	struct lmtp_command rcpt;
	struct lmtp_command bad;
	struct lmtp_command ascii;

	ck_assert_int_eq(lmtp_command_parse(S("MAIL FROM:<j\xc3\xb6@b>"),
	                     &mail),
	    SMX_OK);
	ck_assert_int_eq(
	    lmtp_command_parse(S("MAIL FROM:<j\xc3\xb6@b> SMTPUTF8"), &mail8),
	    SMX_OK);
	ck_assert_int_eq(lmtp_command_parse(S("RCPT TO:<\xc3\xb6@b>"), &rcpt),
	    SMX_OK);
	ck_assert_int_eq(lmtp_command_parse(S("RCPT TO:<\xc3@b>"), &bad),
	    SMX_OK);
	ck_assert_int_eq(lmtp_command_parse(S("RCPT TO:<o@b>"), &ascii),
	    SMX_OK);
	/* Without SMTPUTF8: 553 5.6.7. */
	ck_assert_int_eq(lmtp_command_check_8bit(&mail, false),
	    LMTP_ERROR_NON_ASCII);
	ck_assert_int_eq(lmtp_command_check_8bit(&rcpt, false),
	    LMTP_ERROR_NON_ASCII);
	/* MAIL's own SMTPUTF8 counts for itself. */
	ck_assert_int_eq(lmtp_command_check_8bit(&mail8, false),
	    LMTP_ERROR_NONE);
	ck_assert_int_eq(lmtp_command_check_8bit(&rcpt, true), LMTP_ERROR_NONE);
	ck_assert_int_eq(lmtp_command_check_8bit(&bad, true),
	    LMTP_ERROR_RECIPIENT);
	ck_assert_int_eq(lmtp_command_check_8bit(&ascii, false),
	    LMTP_ERROR_NONE);
	ck_assert_str_eq(lmtp_verb_name(LMTP_VERB_LHLO), "LHLO");
	ck_assert_str_eq(lmtp_verb_name(LMTP_VERB_UNKNOWN), "unknown");
}
END_TEST

/*
 * The DATA decoder.
 */

struct sink {
	struct smx_buf out;
	size_t n_writes;
	size_t max_write;
	size_t fail_after; /* fail writes after this many; 0: never */
};

static enum smx_status
sink_write(void *ctx, const char *buf, size_t len)
{
	struct sink *s = ctx;

	ck_assert_uint_gt(len, 0);
	if (s->fail_after != 0 && s->n_writes >= s->fail_after)
		return SMX_TEMPFAIL;
	s->n_writes++;
	if (len > s->max_write)
		s->max_write = len;
	return smx_buf_append(&s->out, buf, len);
}

static void
sink_init(struct sink *s, size_t max)
{
	memset(s, 0, sizeof(s[0]));
	smx_buf_init(&s->out, max);
	ck_assert_int_eq(smx_buf_append(&s->out, "", 0), SMX_OK);
}

/*
 * Decode in pieces: first `cut` bytes, then the rest in pieces of
 * `piece` (0: at once). Returns the status of the last call; *used is
 * the total of bytes taken.
 */
static enum smx_status
decode(struct lmtp_data *d, const char *in, size_t len, size_t cut,
    size_t piece, struct sink *s, size_t *used)
{
	enum smx_status st;
	size_t pos = 0;

	do {
		size_t n = len - pos;
		size_t u = 99999;

		if (pos == 0 && cut > 0)
			n = cut;
		else if (piece > 0 && n > piece)
			n = piece;
		st = lmtp_data_feed(d, in + pos, n, &u, sink_write, s);
		ck_assert_uint_le(u, n);
		if (st == SMX_NOTFOUND)
			ck_assert_uint_eq(u, n);
		else
			ck_assert_int_eq(st, SMX_OK);
		pos += u;
	} while (st == SMX_NOTFOUND && pos < len);
	*used = pos;
	return st;
}

enum { D_LF = 1, D_CR = 2, D_ODD = 4 };

static const struct {
	const char *in;
	size_t len;
	enum smx_status st; /* SMX_OK: the end was found */
	size_t rest;        /* bytes after the end, not taken */
	const char *out;
	size_t out_len;
	unsigned flags;
} data_cases[] = {
	{ S(""), SMX_NOTFOUND, 0, S(""), 0 }, /* empty */
	{ S(".\r\n"), SMX_OK, 0, S(""), 0 },  /* empty message */
	{ S(".\n"), SMX_OK, 0, S(""), 0 },    /* right after DATA */
	{ S("a\r\n.\r\n"), SMX_OK, 0, S("a\n"), 0 },
	{ S("a\n.\n"), SMX_OK, 0, S("a\n"), D_LF }, /* LF . LF */
	{ S("\r\n.\r\n"), SMX_OK, 0, S("\n"), 0 },  /* empty line */
	{ S("\n.\n"), SMX_OK, 0, S("\n"), D_LF },
	/* dot-stuffing */
	{ S("..\r\n.\r\n"), SMX_OK, 0, S(".\n"), 0 },
	{ S("..a\r\n.\r\n"), SMX_OK, 0, S(".a\n"), 0 },
	{ S("...\r\n.\r\n"), SMX_OK, 0, S("..\n"), 0 },
	{ S(".a\r\n.\r\n"), SMX_OK, 0, S("a\n"), 0 }, /* not stuffed */
	{ S(". \r\n.\r\n"), SMX_OK, 0, S(" \n"), 0 },
	{ S(" .\r\n.\r\n"), SMX_OK, 0, S(" .\n"), 0 },
	{ S("a.\r\n.\r\n"), SMX_OK, 0, S("a.\n"), 0 },
	{ S("a\r\n..\r\n.\r\n"), SMX_OK, 0, S("a\n.\n"), 0 },
	/* pipelining: the next command is not taken */
	{ S("x\r\n.\r\nQUIT\r\n"), SMX_OK, 6, S("x\n"), 0 },
	{ S("x\n.\nQUIT\n"), SMX_OK, 5, S("x\n"), D_LF },
	{ S("x\r\n.\r\n.\r\n"), SMX_OK, 3, S("x\n"), 0 },
	{ S(".\r\n\r\n"), SMX_OK, 2, S(""), 0 },
	/* missing terminator, truncated end marker */
	{ S("a\r\n"), SMX_NOTFOUND, 0, S("a\n"), 0 },
	{ S("a\r\n."), SMX_NOTFOUND, 0, S("a\n"), 0 },
	{ S("a\r\n.\r"), SMX_NOTFOUND, 0, S("a\n"), 0 },
	{ S("a"), SMX_NOTFOUND, 0, S("a"), 0 },
	/* bare CR: data, stored as a line end; never starts a line */
	{ S("a\rb\r\n.\r\n"), SMX_OK, 0, S("a\nb\n"), D_CR },
	{ S("a\r\r\n.\r\n"), SMX_OK, 0, S("a\n\n"), D_CR },
	{ S("a\r.\r\n.\r\n"), SMX_OK, 0, S("a\n.\n"), D_CR },
	{ S("a\r..\r\n.\r\n"), SMX_OK, 0, S("a\n..\n"), D_CR },
	{ S("\r.\r\n.\r\n"), SMX_OK, 0, S("\n.\n"), D_CR },
	{ S(".\r.\r\n.\r\n"), SMX_OK, 0, S("\n.\n"), D_CR },
	{ S(".\rx\r\n.\r\n"), SMX_OK, 0, S("\nx\n"), D_CR },
	{ S(".\r\r\n.\r\n"), SMX_OK, 0, S("\n\n"), D_CR },
	{ S("a\r\r"), SMX_NOTFOUND, 0, S("a\n"), D_CR },
	/* mixed end markers are content, never the end */
	{ S("a\r\n.\nb\r\n.\r\n"), SMX_OK, 0, S("a\n.\nb\n"), D_LF | D_ODD },
	{ S("a\n.\r\nb\n.\n"), SMX_OK, 0, S("a\n.\nb\n"), D_LF | D_ODD },
	{ S("a\r\n.\n.\n"), SMX_OK, 0, S("a\n.\n"), D_LF | D_ODD },
	{ S("a\n.\r\n.\r\n"), SMX_OK, 0, S("a\n.\n"), D_LF | D_ODD },
	{ S("x\r\n.\nMAIL FROM:<evil@example>\r\n.\r\n"), SMX_OK, 0,
	    S("x\n.\nMAIL FROM:<evil@example>\n"), D_LF | D_ODD },
	{ S("x\n.\r\nRCPT TO:<evil@example>\n.\n"), SMX_OK, 0,
	    S("x\n.\nRCPT TO:<evil@example>\n"), D_LF | D_ODD },
	{ S("x\r.\r\nRSET\r\n.\r\n"), SMX_OK, 0, S("x\n.\nRSET\n"), D_CR },
	/* NUL, non-ASCII and long lines are content */
	{ S("a\0b\r\n.\r\n"), SMX_OK, 0, S("a\0b\n"), 0 },
	{ S("\xc3\xa9\xff\r\n.\r\n"), SMX_OK, 0, S("\xc3\xa9\xff\n"), 0 },
};

static void
check_data_case(size_t i, size_t cut, size_t piece)
{
	struct lmtp_data d;
	struct sink s;
	size_t used;
	enum smx_status st;
	unsigned f = data_cases[i].flags;

	sink_init(&s, 4096);
	lmtp_data_init(&d, 0);
	st = decode(&d, data_cases[i].in, data_cases[i].len, cut, piece, &s,
	    &used);
	ck_assert_msg(st == data_cases[i].st, "case %zu cut %zu piece %zu", i,
	    cut, piece);
	ck_assert_uint_eq(used, data_cases[i].len - data_cases[i].rest);
	ck_assert_int_eq(lmtp_data_result(&d), st);
	ck_assert_msg(s.out.len == data_cases[i].out_len &&
	        memcmp(s.out.data, data_cases[i].out, s.out.len) == 0,
	    "case %zu cut %zu piece %zu: output differs", i, cut, piece);
	ck_assert_uint_eq(d.n_stored, data_cases[i].out_len);
	ck_assert_uint_eq(d.n_wire, used);
	ck_assert(d.has_bare_lf == ((f & D_LF) != 0));
	ck_assert(d.has_bare_cr == ((f & D_CR) != 0));
	ck_assert(d.has_odd_dot == ((f & D_ODD) != 0));
	smx_buf_free(&s.out);
}

/* Whole, byte by byte, and every split in two: the same result. */
START_TEST(test_lmtp_data_cases)
{
	size_t cut;

	check_data_case((size_t)_i, 0, 0);
	check_data_case((size_t)_i, 0, 1);
	check_data_case((size_t)_i, 0, 2);
	for (cut = 1; cut < data_cases[_i].len; cut++)
		check_data_case((size_t)_i, cut, 0);
}
END_TEST

/* After the end, nothing more is taken; the bytes stay the caller's. */
START_TEST(test_lmtp_data_after_end)
{
	struct lmtp_data d;
	struct sink s;
	size_t used = 7;

	sink_init(&s, 64);
	lmtp_data_init(&d, 0);
	ck_assert_int_eq(lmtp_data_result(&d), SMX_NOTFOUND);
	ck_assert_int_eq(lmtp_data_feed(&d, S("a\r\n.\r\nb"), &used, sink_write,
	                     &s),
	    SMX_OK);
	ck_assert_uint_eq(used, 6);
	ck_assert_int_eq(lmtp_data_feed(&d, S("more\r\n"), &used, sink_write,
	                     &s),
	    SMX_OK);
	ck_assert_uint_eq(used, 0);
	ck_assert_str_eq(s.out.data, "a\n");
	ck_assert_int_eq(lmtp_data_result(&d), SMX_OK);
	smx_buf_free(&s.out);
}
END_TEST

/* A message of n lines "line N" CRLF (some dot-stuffed), then the end. */
static char *
make_wire(size_t n_lines, size_t *len, size_t *stored)
{
	struct smx_buf b;
	size_t i;

	smx_buf_init(&b, 64 * n_lines + 16);
	*stored = 0;
	for (i = 0; i < n_lines; i++) {
		ck_assert_int_eq(smx_buf_appendf(&b, "%sline %zu\r\n",
		                     i % 5 == 0 ? ".." : "", i),
		    SMX_OK);
		*stored += (size_t)snprintf(NULL, 0, "%sline %zu\n",
		    i % 5 == 0 ? "." : "", i);
	}
	ck_assert_int_eq(smx_buf_append(&b, ".\r\n", 3), SMX_OK);
	*len = b.len;
	return b.data;
}

/*
 * The size bound: exactly at it the message is fine; one byte over, the
 * rest is still decoded to the end (for the reply in the right place) but
 * not stored, and the result says too large. The sink gets exactly the
 * first max_size bytes, however the input is cut (found by fuzz_lmtp:
 * bytes buffered when the bound was reached used to be dropped, so the
 * sink saw more of the message when it was fed in smaller pieces).
 */
START_TEST(test_lmtp_data_max_size)
{
	static const size_t pieces[] = { 0, 1, 3, 4096, 10000 };
	size_t len;
	size_t stored;
	char *wire = make_wire(5000, &len, &stored);
	struct sink full;
	size_t i;

	sink_init(&full, len);
	{
		struct lmtp_data d;
		size_t used;

		lmtp_data_init(&d, 0);
		ck_assert_int_eq(decode(&d, wire, len, 0, 0, &full, &used),
		    SMX_OK);
		ck_assert_uint_eq(full.out.len, stored);
	}
	for (i = 0; i < N_OF(pieces); i++) {
		static const size_t less[] = { 0, 1, 7, SMTP_DATA_CHUNK + 1 };
		size_t j;

		for (j = 0; j < N_OF(less); j++) {
			struct lmtp_data d;
			struct sink s;
			size_t used;

			sink_init(&s, len);
			lmtp_data_init(&d, stored - less[j]);
			ck_assert_int_eq(decode(&d, wire, len, 0, pieces[i], &s,
			                     &used),
			    SMX_OK);
			ck_assert_uint_eq(used, len);
			ck_assert_uint_eq(d.n_stored, stored);
			ck_assert_int_eq(lmtp_data_result(&d),
			    less[j] == 0 ? SMX_OK : SMX_INVALID);
			ck_assert_uint_eq(s.out.len, stored - less[j]);
			ck_assert_int_eq(memcmp(s.out.data, full.out.data,
			                     s.out.len),
			    0);
			smx_buf_free(&s.out);
		}
	}
	smx_buf_free(&full.out);
	free(wire);
}
END_TEST

/* Output in bounded pieces; a failing sink or none: decoded to the end. */
START_TEST(test_lmtp_data_sink)
{
	size_t len;
	size_t stored;
	char *wire = make_wire(20000, &len, &stored);
	struct lmtp_data d;
	struct sink s;
	size_t used;

	sink_init(&s, len);
	lmtp_data_init(&d, 0);
	ck_assert_int_eq(decode(&d, wire, len, 0, 0, &s, &used), SMX_OK);
	ck_assert_uint_le(s.max_write, SMTP_DATA_CHUNK);
	ck_assert_uint_gt(s.n_writes, stored / SMTP_DATA_CHUNK);
	ck_assert_uint_eq(s.out.len, stored);
	smx_buf_free(&s.out);

	sink_init(&s, len);
	s.fail_after = 2;
	lmtp_data_init(&d, 0);
	ck_assert_int_eq(decode(&d, wire, len, 0, 0, &s, &used), SMX_OK);
	ck_assert_uint_eq(used, len);
	ck_assert_int_eq(lmtp_data_result(&d), SMX_TEMPFAIL);
	ck_assert_uint_eq(s.n_writes, 2);
	smx_buf_free(&s.out);

	lmtp_data_init(&d, 0);
	ck_assert_int_eq(lmtp_data_feed(&d, wire, len, &used, NULL, NULL),
	    SMX_OK);
	ck_assert_uint_eq(used, len);
	ck_assert_uint_eq(d.n_stored, stored);
	ck_assert_int_eq(lmtp_data_result(&d), SMX_OK);
	free(wire);
}
END_TEST

/*
 * Round trip: any message through smtp_data (the sender) and back
 * through the decoder gives the message with its line ends made LF (CRLF,
 * a lone CR and a lone LF each count as one), a final LF added when the
 * last line had none, and the decoder stops exactly at the end.
 */
static enum smx_status
buf_write(void *ctx, const char *buf, size_t len)
{
	return smx_buf_append(ctx, buf, len);
}

static void
normalise(const char *in, size_t len, struct smx_buf *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			continue;
		smx_buf_append(out, in[i] == '\r' ? "\n" : in + i, 1);
	}
	if (len > 0 && out->data[out->len - 1] != '\n')
		smx_buf_append(out, "\n", 1);
}

static void
round_trip(const char *msg, size_t len)
{
	struct smx_buf wire;
	struct smx_buf want;
	struct smtp_data enc;
	struct lmtp_data d;
	struct sink s;
	size_t used;
	size_t piece;

	smx_buf_init(&wire, 4 * len + 16);
	smx_buf_init(&want, 2 * len + 16);
	ck_assert_int_eq(smx_buf_append(&want, "", 0), SMX_OK);
	smtp_data_init(&enc, buf_write, &wire);
	ck_assert_int_eq(smtp_data_feed(&enc, msg, len), SMX_OK);
	ck_assert_int_eq(smtp_data_finish(&enc), SMX_OK);
	/* What follows the message on the wire must not be taken. */
	ck_assert_int_eq(smx_buf_append(&wire, "QUIT\r\n", 6), SMX_OK);
	normalise(msg, len, &want);
	for (piece = 0; piece < 4; piece++) {
		sink_init(&s, 2 * len + 16);
		lmtp_data_init(&d, 0);
		ck_assert_int_eq(decode(&d, wire.data, wire.len, 0, piece, &s,
		                     &used),
		    SMX_OK);
		ck_assert_uint_eq(used, wire.len - 6);
		ck_assert_uint_eq(s.out.len, want.len);
		ck_assert_int_eq(memcmp(s.out.data, want.data, want.len), 0);
		ck_assert(!d.has_bare_lf && !d.has_bare_cr && !d.has_odd_dot);
		smx_buf_free(&s.out);
	}
	smx_buf_free(&wire);
	smx_buf_free(&want);
}

static const struct {
	const char *in;
	size_t len;
} trip_cases[] = {
	{ S("") },
	{ S("a") },
	{ S("a\n") },
	{ S("Subject: x\n\nbody\n") },
	{ S(".\n") },
	{ S(".") },
	{ S("..\n...\n") },
	{ S("\n.\n\n.\n") },
	{ S("a\r\nb\rc\n\rd") },
	{ S("x\n.\r\ny\r\n.\nz") },
	{ S("\r\r\n\n\r") },
	{ S(".\r.\n.") },
	{ S("a\0.\n\xff\n") },
};

START_TEST(test_lmtp_data_round_trip)
{
	round_trip(trip_cases[_i].in, trip_cases[_i].len);
}
END_TEST

/* Pseudo-random messages over an alphabet full of line ends and dots. */
START_TEST(test_lmtp_data_round_trip_random)
{
	static const char alphabet[] = ".\r\n.a\n\r.\0x";
	unsigned long long seed = 0x2545f4914f6cdd1dULL;
	char msg[300];
	size_t n;
	size_t i;

	for (n = 0; n < 400; n++) {
		size_t len = (size_t)(seed % sizeof(msg));

		for (i = 0; i < len; i++) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			msg[i] = alphabet[seed % (sizeof(alphabet) - 1)];
		}
		seed = seed * 6364136223846793005ULL + 1;
		round_trip(msg, len);
	}
}
END_TEST

/*
 * Replies.
 */

/* A formatted reply must be one whole reply to our own client's parser. */
static void
check_wellformed(const char *out, size_t len, unsigned code)
{
	static struct smtp_reply r;
	size_t consumed = 0;
	size_t i;
	size_t start = 0;

	ck_assert_uint_eq(strlen(out), len);
	ck_assert_int_eq(smtp_reply_parse(out, len, &r, &consumed), SMX_OK);
	ck_assert_uint_eq(consumed, len);
	ck_assert_uint_eq(r.code, code);
	for (i = 0; i < len; i++) {
		if (out[i] != '\n')
			continue;
		ck_assert_uint_le(i + 1 - start, SMTP_REPLY_LINE_MAX);
		start = i + 1;
	}
}

static const struct {
	unsigned code;
	const char *enhanced;
	const char *text;
	const char *want;
} reply_cases[] = {
	{ 250, "2.0.0", "Ok", "250 2.0.0 Ok\r\n" },
	{ 250, NULL, NULL, "250\r\n" },
	{ 250, "", "", "250\r\n" },
	{ 250, "2.1.5", NULL, "250 2.1.5\r\n" },
	{ 220, NULL, "mx.example LMTP", "220 mx.example LMTP\r\n" },
	{ 250, NULL, "mx.example\nPIPELINING\nENHANCEDSTATUSCODES\n",
	    "250-mx.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n" },
	{ 250, NULL, "a\n\nb", "250-a\r\n250-\r\n250 b\r\n" },
	{ 250, NULL, "a\n\n", "250-a\r\n250\r\n" },
	{ 550, "5.1.1", "a\nb", "550-5.1.1 a\r\n550 5.1.1 b\r\n" },
	/* class forced to the code's; bad codes replaced */
	{ 451, "5.1.1", "x", "451 4.1.1 x\r\n" },
	{ 550, "bogus", "x", "550 5.0.0 x\r\n" },
	{ 550, "5.1.1234", "x", "550 5.0.0 x\r\n" },
	{ 550, "5.1.1 ", "x", "550 5.0.0 x\r\n" },
	{ 550, "5.1.1.1.1.1.1", "x", "550 5.0.0 x\r\n" },
	/* sanitised: no way to add a line or a raw byte */
	{ 550, "5.0.0", "a\rb\tc\x01\x7f\xff\xc3\xa9",
	    "550 5.0.0 a b c  ???\r\n" },
	{ 550, "5.0.0", "a\r\n550 5.0.0 b",
	    "550-5.0.0 a \r\n550 5.0.0 550 "
	    "5.0.0 b\r\n" },
};

START_TEST(test_lmtp_reply_cases)
{
	char out[1024];
	size_t len = 0;

	ck_assert_int_eq(lmtp_reply_format(reply_cases[_i].code,
	                     reply_cases[_i].enhanced, reply_cases[_i].text,
	                     out, sizeof(out), &len),
	    SMX_OK);
	ck_assert_str_eq(out, reply_cases[_i].want);
	check_wellformed(out, len, reply_cases[_i].code);
}
END_TEST

START_TEST(test_lmtp_reply_bad)
{
	static const unsigned codes[] = { 0, 199, 160, 260, 600, 999, 250000 };
	char out[64];
	size_t len;
	size_t i;

	for (i = 0; i < N_OF(codes); i++)
		ck_assert_int_eq(lmtp_reply_format(codes[i], NULL, "x", out,
		                     sizeof(out), &len),
		    SMX_INVALID);
	/* The smallest buffer: one line without text. */
	ck_assert_int_eq(lmtp_reply_format(250, "2.0.0", "x", out, 11, &len),
	    SMX_INVALID);
	ck_assert_int_eq(lmtp_reply_format(250, "2.0.0", "text", out, 12, &len),
	    SMX_OK);
	ck_assert_str_eq(out, "250 2.0.0\r\n");
	ck_assert_int_eq(lmtp_reply_format(250, "2.0.0", "text", out, 14, &len),
	    SMX_OK);
	ck_assert_str_eq(out, "250 2.0.0 t\r\n");
	ck_assert_int_eq(lmtp_reply_format(250, NULL, "text", out, 6, &len),
	    SMX_INVALID);
	ck_assert_int_eq(lmtp_reply_format(250, NULL, "text", out, 7, &len),
	    SMX_OK);
	ck_assert_str_eq(out, "250\r\n");
}
END_TEST

/* Long text: split at spaces, or within a word; every line <= 512. */
START_TEST(test_lmtp_reply_long)
{
	static char text[5000];
	static char out[SMTP_REPLY_WIRE_MAX + 1];
	static struct smtp_reply r;
	size_t width = SMTP_REPLY_LINE_MAX - 4 - 2 - 6;
	size_t consumed;
	size_t len;
	size_t i;

	/* Words: the text comes back whole, lines joined with a space. */
	for (i = 0; i + 1 < sizeof(text); i++)
		text[i] = i % 7 == 6 ? ' ' : (char)('a' + i % 26);
	text[i] = '\0';
	ck_assert_int_eq(lmtp_reply_format(554, "5.7.1", text, out, sizeof(out),
	                     &len),
	    SMX_OK);
	check_wellformed(out, len, 554);
	ck_assert_int_eq(smtp_reply_parse(out, len, &r, &consumed), SMX_OK);
	ck_assert_uint_gt(r.n_lines, 9);
	for (i = 0; i < r.text_len; i++)
		ck_assert(r.text[i] != '\n' || r.text[i + 1] == '5');
	/* One word: cut at the width exactly. */
	memset(text, 'w', sizeof(text) - 1);
	ck_assert_int_eq(lmtp_reply_format(554, "5.7.1", text, out, sizeof(out),
	                     &len),
	    SMX_OK);
	check_wellformed(out, len, 554);
	ck_assert_int_eq(memcmp(out + SMTP_REPLY_LINE_MAX, "554-5.7.1 www", 13),
	    0);
	/* Exactly the width: one line of 512; one more: two lines. */
	text[width] = '\0';
	ck_assert_int_eq(lmtp_reply_format(554, "5.7.1", text, out, sizeof(out),
	                     &len),
	    SMX_OK);
	ck_assert_uint_eq(len, SMTP_REPLY_LINE_MAX);
	text[width] = 'w';
	text[width + 1] = '\0';
	ck_assert_int_eq(lmtp_reply_format(554, "5.7.1", text, out, sizeof(out),
	                     &len),
	    SMX_OK);
	ck_assert_uint_eq(len, SMTP_REPLY_LINE_MAX + 13);
	check_wellformed(out, len, 554);
}
END_TEST

/* Too much text for the buffer or the line cap: cut, still whole. */
START_TEST(test_lmtp_reply_cut)
{
	static char text[20000];
	static char out[SMTP_REPLY_WIRE_MAX + 1];
	static struct smtp_reply r;
	size_t consumed;
	size_t len;
	size_t size;
	size_t i;

	for (i = 0; i + 1 < sizeof(text); i++)
		text[i] = i % 3 == 2 ? '\n' : 'z';
	ck_assert_int_eq(lmtp_reply_format(450, "4.2.0", text, out, sizeof(out),
	                     &len),
	    SMX_OK);
	check_wellformed(out, len, 450);
	ck_assert_int_eq(smtp_reply_parse(out, len, &r, &consumed), SMX_OK);
	ck_assert_uint_eq(r.n_lines, SMTP_REPLY_LINES_MAX);
	memset(text, 'y', sizeof(text) - 1);
	for (size = 12; size < 1600; size += 37) {
		ck_assert_int_eq(lmtp_reply_format(450, "4.2.0", text, out,
		                     size, &len),
		    SMX_OK);
		ck_assert_uint_lt(len, size);
		check_wellformed(out, len, 450);
	}
}
END_TEST

static const struct {
	const char *line;
	const char *want;
} status_cases[] = {
	{ "2.0.0 delivered via mx[192.0.2.1]:25",
	    "250 2.0.0 delivered via mx[192.0.2.1]:25\r\n" },
	{ "4.4.1 connect to mx: refused",
	    "451 4.4.1 connect to mx: refused\r\n" },
	{ "5.1.1 host said: 550 no such user",
	    "554 5.1.1 host said: 550 no such user\r\n" },
	{ "5.7.10 encryption needed", "554 5.7.10 encryption needed\r\n" },
	{ "5.1.1", "554 5.1.1\r\n" },
	{ "bogus line", "451 4.3.0 bogus line\r\n" },
	{ "3.0.0 odd", "451 4.3.0 3.0.0 odd\r\n" },
	{ "2.0.0\tx", "451 4.3.0 2.0.0 x\r\n" },
	{ "", "451 4.3.0\r\n" },
	{ NULL, "451 4.3.0\r\n" },
};

START_TEST(test_lmtp_reply_status)
{
	char out[1024];
	size_t len;

	ck_assert_int_eq(lmtp_reply_status(status_cases[_i].line, out,
	                     sizeof(out), &len),
	    SMX_OK);
	ck_assert_str_eq(out, status_cases[_i].want);
	check_wellformed(out, len,
	    (unsigned)strtoul(status_cases[_i].want, NULL, 10));
}
END_TEST

/* Every refusal has a reply whose enhanced code matches its class. */
START_TEST(test_lmtp_error_reply)
{
	char out[1024];
	unsigned code;
	const char *enh;
	const char *text;
	size_t len;
	int e;

	for (e = LMTP_ERROR_NONE; e <= LMTP_ERROR_TOO_LARGE + 1; e++) {
		lmtp_error_reply((enum lmtp_error)e, &code, &enh, &text);
		ck_assert_int_eq(enh[0] - '0', (int)(code / 100));
		ck_assert_int_eq(lmtp_reply_format(code, enh, text, out,
		                     sizeof(out), &len),
		    SMX_OK);
		ck_assert_int_eq(memcmp(out + 4, enh, strlen(enh)), 0);
		check_wellformed(out, len, code);
	}
	lmtp_error_reply(LMTP_ERROR_PARAM, &code, &enh, &text);
	ck_assert_uint_eq(code, 555);
	ck_assert_str_eq(enh, "5.5.4");
	lmtp_error_reply(LMTP_ERROR_USE_LHLO, &code, &enh, &text);
	ck_assert_uint_eq(code, 500);
	ck_assert_str_eq(enh, "5.5.1");
	lmtp_error_reply((enum lmtp_error)1000, &code, &enh, &text);
	ck_assert_uint_eq(code, 451);
}
END_TEST

static Suite *
lmtp_suite(void)
{
	Suite *s = suite_create("lmtp_proto");
	TCase *tc;

	tc = tcase_create("lines");
	tcase_add_loop_test(tc, test_lmtp_line_cases, 0, N_OF(line_cases));
	tcase_add_test(tc, test_lmtp_line_cap);
	tcase_add_test(tc, test_lmtp_line_early);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);

	tc = tcase_create("commands");
	tcase_add_loop_test(tc, test_lmtp_command_parse, 0, N_OF(cmd_cases));
	tcase_add_loop_test(tc, test_lmtp_header_scan, 0, N_OF(received_cases));
	tcase_add_test(tc, test_lmtp_header_scan_cap);
	tcase_add_loop_test(tc, test_lmtp_command_xforward, 0,
	    N_OF(xforward_cases));
	tcase_add_test(tc, test_lmtp_command_path_cap);
	tcase_add_test(tc, test_lmtp_command_line_cap);
	tcase_add_test(tc, test_lmtp_command_8bit);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);

	tc = tcase_create("data");
	tcase_add_loop_test(tc, test_lmtp_data_cases, 0, N_OF(data_cases));
	tcase_add_test(tc, test_lmtp_data_after_end);
	tcase_add_test(tc, test_lmtp_data_max_size);
	tcase_add_test(tc, test_lmtp_data_sink);
	tcase_add_loop_test(tc, test_lmtp_data_round_trip, 0, N_OF(trip_cases));
	tcase_add_test(tc, test_lmtp_data_round_trip_random);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("replies");
	tcase_add_loop_test(tc, test_lmtp_reply_cases, 0, N_OF(reply_cases));
	tcase_add_test(tc, test_lmtp_reply_bad);
	tcase_add_test(tc, test_lmtp_reply_long);
	tcase_add_test(tc, test_lmtp_reply_cut);
	tcase_add_loop_test(tc, test_lmtp_reply_status, 0, N_OF(status_cases));
	tcase_add_test(tc, test_lmtp_error_reply);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lmtp_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
