/* SPDX-License-Identifier: MIT */
/* Unit tests for transport/smtp_reply.c: the SMTP reply parser. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

#define S(x) x, sizeof(x) - 1

static const struct {
	const char *in;
	size_t len;
	enum smx_status st;
	unsigned code;
	const char *enhanced;
	size_t n_lines;
	const char *text;
	size_t consumed;
} cases[] = {
	{ S("220 mx.example ESMTP\r\n"), SMX_OK, 220, "", 1, "mx.example ESMTP",
	    22 },
	{ S("250 2.1.0 Ok\r\n"), SMX_OK, 250, "2.1.0", 1, "2.1.0 Ok", 14 },
	{ S("250\r\n"), SMX_OK, 250, "", 1, "", 5 },
	{ S("250 \r\n"), SMX_OK, 250, "", 1, "", 6 },
	{ S("250-mx\r\n250-SIZE 100\r\n250 STARTTLS\r\n"), SMX_OK, 250, "", 3,
	    "mx\nSIZE 100\nSTARTTLS", 36 },
	{ S("550-5.1.1 no\r\n550 5.1.1 such user\r\n"), SMX_OK, 550, "5.1.1", 2,
	    "5.1.1 no\n5.1.1 such user", 35 },
	/* only the first reply is consumed */
	{ S("250 a\r\n250 b\r\n"), SMX_OK, 250, "", 1, "a", 7 },
	{ S("450 4.7.1\r\n"), SMX_OK, 450, "4.7.1", 1, "4.7.1", 11 },
	{ S("550 5.123.456 x\r\n"), SMX_OK, 550, "5.123.456", 1, "5.123.456 x",
	    17 },
	{ S("250 tab\there\r\n"), SMX_OK, 250, "", 1, "tab\there", 14 },
	/* enhanced codes that are not: kept as text only */
	{ S("550 5.1 x\r\n"), SMX_OK, 550, "", 1, "5.1 x", 11 },
	{ S("550 5.1.1234 x\r\n"), SMX_OK, 550, "", 1, "5.1.1234 x", 16 },
	{ S("550 5.1.1x\r\n"), SMX_OK, 550, "", 1, "5.1.1x", 12 },
	{ S("550 3.1.1 x\r\n"), SMX_OK, 550, "", 1, "3.1.1 x", 13 },
	{ S("550 5..1 x\r\n"), SMX_OK, 550, "", 1, "5..1 x", 12 },
	{ S("250 192.0.2.1 x\r\n"), SMX_OK, 250, "", 1, "192.0.2.1 x", 17 },
	/* class mismatch: ignored, the reply stands */
	{ S("550 2.0.0 Ok\r\n"), SMX_OK, 550, "", 1, "2.0.0 Ok", 14 },
	{ S("250 4.0.0 x\r\n"), SMX_OK, 250, "", 1, "4.0.0 x", 13 },
	/* incomplete */
	{ S(""), SMX_NOTFOUND, 0, "", 0, "", 0 },
	{ S("2"), SMX_NOTFOUND, 0, "", 0, "", 0 },
	{ S("250"), SMX_NOTFOUND, 0, "", 0, "", 0 },
	{ S("250\r"), SMX_NOTFOUND, 0, "", 0, "", 0 },
	{ S("250 ok"), SMX_NOTFOUND, 0, "", 0, "", 0 },
	{ S("250 ok\r"), SMX_NOTFOUND, 0, "", 0, "", 0 },
	{ S("250-a\r\n"), SMX_NOTFOUND, 0, "", 0, "", 0 },
	{ S("250-a\r\n250"), SMX_NOTFOUND, 0, "", 0, "", 0 },
	/* malformed */
	{ S("\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("25 ok\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("2x0 ok\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("250ok\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("250_ok\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("150 ok\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("650 ok\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("260 ok\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("250 ok\n"), SMX_INVALID, 0, "", 0, "", 0 },     /* missing CR */
	{ S("250 o\rk\r\n"), SMX_INVALID, 0, "", 0, "", 0 }, /* bare CR */
	{ S("250 o\rk"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("250 o\0k\r\n"), SMX_INVALID, 0, "", 0, "", 0 },     /* NUL */
	{ S("250 \xc3\xa9\r\n"), SMX_INVALID, 0, "", 0, "", 0 }, /* non-ASCII */
	{ S("250 \x7f\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("250 \x1b[0m\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("250-a\r\n550 b\r\n"), SMX_INVALID, 0, "", 0, "", 0 }, /* mixed */
	{ S("250-a\r\n251 b\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("250-a\r\nxyz"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("250-a\n250 b\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
	{ S("250\r\r\n"), SMX_INVALID, 0, "", 0, "", 0 },
};

START_TEST(test_smtp_reply_parse)
{
	struct smtp_reply r;
	size_t used = 4242;
	enum smx_status st;

	memset(&r, 0x5a, sizeof(r));
	st = smtp_reply_parse(cases[_i].in, cases[_i].len, &r, &used);
	ck_assert_int_eq(st, cases[_i].st);
	if (st != SMX_OK) {
		ck_assert_uint_eq(used, 4242); /* untouched */
		ck_assert_uint_eq(r.code, 0x5a5a5a5a);
		return;
	}
	ck_assert_uint_eq(r.code, cases[_i].code);
	ck_assert_str_eq(r.enhanced, cases[_i].enhanced);
	ck_assert_uint_eq(r.n_lines, cases[_i].n_lines);
	ck_assert_str_eq(r.text, cases[_i].text);
	ck_assert_uint_eq(r.text_len, strlen(cases[_i].text));
	ck_assert_uint_eq(used, cases[_i].consumed);
}
END_TEST

/* "250 " plus filler to total bytes with CRLF, in a malloc'd buffer. */
static char *
long_line(size_t total, const char *code_sep)
{
	char *s = malloc(total + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, 'x', total);
	memcpy(s, code_sep, 4);
	memcpy(s + total - 2, "\r\n", 2);
	s[total] = '\0';
	return s;
}

START_TEST(test_smtp_reply_line_cap)
{
	struct smtp_reply r;
	size_t used;
	char *s;

	s = long_line(SMTP_REPLY_LINE_MAX, "250 ");
	ck_assert_int_eq(smtp_reply_parse(s, SMTP_REPLY_LINE_MAX, &r, &used),
	    SMX_OK);
	ck_assert_uint_eq(used, SMTP_REPLY_LINE_MAX);
	ck_assert_uint_eq(r.text_len, SMTP_REPLY_LINE_MAX - 6);
	free(s);
	s = long_line(SMTP_REPLY_LINE_MAX + 1, "250 ");
	ck_assert_int_eq(smtp_reply_parse(s, SMTP_REPLY_LINE_MAX + 1, &r,
	                     &used),
	    SMX_INVALID);
	/* Refused before the line ends: no waiting for a CRLF. */
	ck_assert_int_eq(smtp_reply_parse(s, SMTP_REPLY_LINE_MAX, &r, &used),
	    SMX_INVALID);
	ck_assert_int_eq(smtp_reply_parse(s, SMTP_REPLY_LINE_MAX - 1, &r,
	                     &used),
	    SMX_NOTFOUND);
	free(s);
}
END_TEST

/* n lines of "250-x" and a last "250 x". */
static char *
many_lines(size_t n, size_t *len)
{
	char *s = malloc(n * 7 + 1);
	size_t i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * 7, i + 1 < n ? "250-x\r\n" : "250 x\r\n", 7);
	*len = n * 7;
	s[*len] = '\0';
	return s;
}

START_TEST(test_smtp_reply_line_count)
{
	struct smtp_reply r;
	size_t used;
	size_t len;
	char *s;

	s = many_lines(SMTP_REPLY_LINES_MAX, &len);
	ck_assert_int_eq(smtp_reply_parse(s, len, &r, &used), SMX_OK);
	ck_assert_uint_eq(r.n_lines, SMTP_REPLY_LINES_MAX);
	ck_assert_uint_eq(used, len);
	free(s);
	s = many_lines(SMTP_REPLY_LINES_MAX + 1, &len);
	ck_assert_int_eq(smtp_reply_parse(s, len, &r, &used), SMX_INVALID);
	/* Already refused while the last line is still missing. */
	ck_assert_int_eq(smtp_reply_parse(s, len - 7, &r, &used), SMX_INVALID);
	free(s);
}
END_TEST

START_TEST(test_smtp_reply_text_cap)
{
	/* Lines of 510 bytes: 506 text bytes each, plus a '\n' between. */
	size_t per = SMTP_REPLY_LINE_MAX - 2;
	size_t n = SMTP_REPLY_TEXT_MAX / (per - 4) + 1;
	char *s = malloc(n * SMTP_REPLY_LINE_MAX);
	struct smtp_reply r;
	size_t used;
	size_t i;

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_le(n, SMTP_REPLY_LINES_MAX);
	for (i = 0; i < n; i++) {
		char *l = s + i * SMTP_REPLY_LINE_MAX;

		memset(l, 'y', SMTP_REPLY_LINE_MAX);
		memcpy(l, i + 1 < n ? "250-" : "250 ", 4);
		memcpy(l + SMTP_REPLY_LINE_MAX - 2, "\r\n", 2);
	}
	ck_assert_int_eq(smtp_reply_parse(s, n * SMTP_REPLY_LINE_MAX, &r,
	                     &used),
	    SMX_INVALID);
	/* One line less fits. */
	memcpy(s + (n - 2) * SMTP_REPLY_LINE_MAX, "250 ", 4);
	ck_assert_int_eq(smtp_reply_parse(s, (n - 1) * SMTP_REPLY_LINE_MAX, &r,
	                     &used),
	    SMX_OK);
	ck_assert_uint_le(r.text_len, SMTP_REPLY_TEXT_MAX);
	free(s);
}
END_TEST

START_TEST(test_smtp_reply_incremental)
{
	static const char in[] =
	    "250-mx.example\r\n250-STARTTLS\r\n250 SIZE 1000\r\n";
	size_t len = sizeof(in) - 1;
	struct smtp_reply r;
	size_t used = 0;
	size_t i;

	for (i = 0; i < len; i++)
		ck_assert_int_eq(smtp_reply_parse(in, i, &r, &used),
		    SMX_NOTFOUND);
	ck_assert_int_eq(smtp_reply_parse(in, len, &r, &used), SMX_OK);
	ck_assert_uint_eq(used, len);
	ck_assert_uint_eq(r.n_lines, 3);
}
END_TEST

START_TEST(test_smtp_reply_lines_and_format)
{
	static const char in[] = "550-5.1.1 first\r\n550 second\tpart\r\n";
	struct smtp_reply r;
	const char *line;
	size_t line_len;
	size_t pos = 0;
	size_t used;
	char out[64];

	ck_assert_int_eq(smtp_reply_parse(in, sizeof(in) - 1, &r, &used),
	    SMX_OK);
	ck_assert(smtp_reply_next_line(&r, &pos, &line, &line_len));
	ck_assert_uint_eq(line_len, 11);
	ck_assert_int_eq(memcmp(line, "5.1.1 first", 11), 0);
	ck_assert(smtp_reply_next_line(&r, &pos, &line, &line_len));
	ck_assert_uint_eq(line_len, 11);
	ck_assert(!smtp_reply_next_line(&r, &pos, &line, &line_len));
	smtp_reply_format(&r, out, sizeof(out));
	ck_assert_str_eq(out, "550 5.1.1 first second part");
	smtp_reply_format(&r, out, 8);
	ck_assert_str_eq(out, "550 5.1");
}
END_TEST

/* smtp_reply_scan: the forgiving reader of the reply to the end of data. */
static const struct {
	const char *in;
	size_t len; /* 0: strlen */
	enum smx_status st;
	size_t used; /* with SMX_OK; 0: len */
	unsigned code;
	const char *enhanced;
	const char *text;
} scan_cases[] = {
	{ "250 2.0.0 Ok\r\n", 0, SMX_OK, 0, 250, "2.0.0", "2.0.0 Ok" },
	{ "250 2.0.0 Ok\n", 0, SMX_OK, 0, 250, "2.0.0", "2.0.0 Ok" },
	{ "250\r\n", 0, SMX_OK, 0, 250, "", "" },
	{ "250\n", 0, SMX_OK, 0, 250, "", "" },
	{ "2\n", 0, SMX_OK, 0, 200, "", "" },
	{ "250 ok \xc3\xbc\r\n", 0, SMX_OK, 0, 250, "", "ok \\xc3\\xbc" },
	{ "250 a\\b\x01\r\n", 0, SMX_OK, 0, 250, "", "a\\x5cb\\x01" },
	{ "250 a\rb\r\n", 0, SMX_OK, 0, 250, "", "a\\x0db" },
	{ "250 a\r\r\n", 0, SMX_OK, 0, 250, "", "a\\x0d" },
	{ "250 nul\0x\r\n", 11, SMX_OK, 0, 250, "", "nul\\x00x" },
	{ "250-first\n250 second\r\n", 0, SMX_OK, 0, 250, "", "first\nsecond" },
	{ "250-first\r\n", 0, SMX_NOTFOUND, 0, 0, "", "" },
	/* Bytes after the reply are not taken. */
	{ "250 ok\r\nGARBAGE\r\n", 0, SMX_OK, 8, 250, "", "ok" },
	/* A line with any fourth byte but '-' ends the reply. */
	{ "250x\r\n", 0, SMX_OK, 0, 250, "", "" },
	{ "25", 0, SMX_NOTFOUND, 0, 0, "", "" },
	{ "", 0, SMX_NOTFOUND, 0, 0, "", "" },
	{ "550 5.1.1 no\r\n", 0, SMX_OK, 0, 550, "5.1.1", "5.1.1 no" },
	{ "2x0 odd\r\n", 0, SMX_OK, 0, 200, "", "odd" },
	/* Not a reply at all. */
	{ "\n", 0, SMX_INVALID, 0, 0, "", "" },
	{ "\r\n", 0, SMX_INVALID, 0, 0, "", "" },
	{ "650 x\r\n", 0, SMX_INVALID, 0, 0, "", "" },
	{ "x50 x\r\n", 0, SMX_INVALID, 0, 0, "", "" },
	{ "\xc3\xbc"
	  "50\r\n",
	    0, SMX_INVALID, 0, 0, "", "" },
};

START_TEST(test_smtp_reply_scan)
{
	const char *in = scan_cases[_i].in;
	size_t len = scan_cases[_i].len ? scan_cases[_i].len : strlen(in);
	struct smtp_reply_scan sc;
	size_t used = 0;
	size_t total = 0;
	size_t i;
	enum smx_status st = SMX_NOTFOUND;

	/* Whole, then byte by byte: the same answer. */
	smtp_reply_scan_init(&sc);
	ck_assert_int_eq(smtp_reply_scan(&sc, in, len, &used),
	    scan_cases[_i].st);
	if (scan_cases[_i].st == SMX_OK) {
		ck_assert_uint_eq(used,
		    scan_cases[_i].used ? scan_cases[_i].used : len);
		ck_assert_uint_eq(sc.reply.code, scan_cases[_i].code);
		ck_assert_str_eq(sc.reply.enhanced, scan_cases[_i].enhanced);
		ck_assert_str_eq(sc.reply.text, scan_cases[_i].text);
	}
	smtp_reply_scan_init(&sc);
	for (i = 0; i < len && st == SMX_NOTFOUND; i++) {
		st = smtp_reply_scan(&sc, in + i, 1, &used);
		total += used;
	}
	ck_assert_int_eq(st, scan_cases[_i].st);
	if (st == SMX_OK) {
		ck_assert_uint_eq(total,
		    scan_cases[_i].used ? scan_cases[_i].used : len);
		ck_assert_str_eq(sc.reply.text, scan_cases[_i].text);
	}
}
END_TEST

/* Very long lines are taken, their text cut; the whole reply is capped. */
START_TEST(test_smtp_reply_scan_caps)
{
	struct smtp_reply_scan sc;
	size_t len = 3 * SMTP_REPLY_TEXT_MAX;
	char *s = malloc(len + 8);
	size_t used = 0;
	size_t i;

	ck_assert_ptr_nonnull(s);
	memcpy(s, "250 ", 4);
	memset(s + 4, 'x', len - 4);
	memcpy(s + len, "\r\n", 2);
	smtp_reply_scan_init(&sc);
	ck_assert_int_eq(smtp_reply_scan(&sc, s, len + 2, &used), SMX_OK);
	ck_assert_uint_eq(used, len + 2);
	ck_assert_uint_eq(sc.reply.code, 250);
	ck_assert_uint_le(sc.reply.text_len, SMTP_REPLY_TEXT_MAX);
	ck_assert_uint_eq(strlen(sc.reply.text), sc.reply.text_len);
	free(s);

	/* A server that streams a reply forever is cut off at the cap. */
	smtp_reply_scan_init(&sc);
	{
		static char chunk[4096];
		enum smx_status st = SMX_NOTFOUND;

		memset(chunk, 'y', sizeof(chunk));
		memcpy(chunk, "250-", 4);
		for (i = 0; st == SMX_NOTFOUND && i < 1000; i++)
			st = smtp_reply_scan(&sc, chunk, sizeof(chunk), &used);
		ck_assert_int_eq(st, SMX_INVALID);
		ck_assert_uint_le(i * sizeof(chunk),
		    SMTP_REPLY_SCAN_MAX + sizeof(chunk));
	}
}
END_TEST

static Suite *
reply_suite(void)
{
	Suite *s = suite_create("smtp_reply");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_smtp_reply_parse, 0,
	    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_smtp_reply_incremental);
	tcase_add_test(tc, test_smtp_reply_lines_and_format);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, test_smtp_reply_line_cap);
	tcase_add_test(tc, test_smtp_reply_line_count);
	tcase_add_test(tc, test_smtp_reply_text_cap);
	tcase_add_test(tc, test_smtp_reply_scan_caps);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);

	tc = tcase_create("scan");
	tcase_add_loop_test(tc, test_smtp_reply_scan, 0,
	    sizeof(scan_cases) / sizeof(scan_cases[0]));
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reply_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
