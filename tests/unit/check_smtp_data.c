/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/smtp_data.c: line ends, dot-stuffing and the
 * end-of-data marker, written to an in-memory sink, whatever the chunking.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smx_buf.h"
#include "smtp_data.h"
#include "spool.h"

#define S(x) x, sizeof(x) - 1

struct sink {
	struct smx_buf out;
	size_t n_writes;
	size_t max_write;
	size_t fail_after; /* fail the write after this many; 0: never */
};

static enum smx_status
sink_write(void *ctx, const char *buf, size_t len)
{
	struct sink *s = ctx;

	if (s->fail_after != 0 && s->n_writes >= s->fail_after)
		return SMX_TEMPFAIL;
	s->n_writes++;
	if (len > s->max_write)
		s->max_write = len;
	return smx_buf_append(&s->out, buf, len);
}

static const struct {
	const char *in;
	size_t in_len;
	const char *out;
	size_t out_len;
} cases[] = {
	{ S(""), S(".\r\n") },                         /* empty message */
	{ S("a\n"), S("a\r\n.\r\n") },                 /* bare LF */
	{ S("a\r\n"), S("a\r\n.\r\n") },               /* CRLF */
	{ S("a\r"), S("a\r\n.\r\n") },                 /* bare CR */
	{ S("a\rb"), S("a\r\nb\r\n.\r\n") },           /* bare CR inside */
	{ S("a"), S("a\r\n.\r\n") },                   /* no final newline */
	{ S("a\n\nb"), S("a\r\n\r\nb\r\n.\r\n") },     /* empty line */
	{ S("a\r\r\nb\n"), S("a\r\n\r\nb\r\n.\r\n") }, /* CR CRLF */
	{ S("a\n\rb\n"), S("a\r\n\r\nb\r\n.\r\n") },   /* LF CR */
	{ S(".\n"), S("..\r\n.\r\n") },                /* only a dot */
	{ S("."), S("..\r\n.\r\n") }, { S(".a\n"), S("..a\r\n.\r\n") },
	{ S("..\n"), S("...\r\n.\r\n") },
	{ S("a.\n.b\n"), S("a.\r\n..b\r\n.\r\n") },
	{ S("x\n.\nz"), S("x\r\n..\r\nz\r\n.\r\n") },
	/* smuggling attempts: never an early end marker */
	{ S("x\n.\ny"), S("x\r\n..\r\ny\r\n.\r\n") },
	{ S("x\r\n.\r\ny"), S("x\r\n..\r\ny\r\n.\r\n") },
	{ S("x\n.\r\ny"), S("x\r\n..\r\ny\r\n.\r\n") },
	{ S("x\r.\ry"), S("x\r\n..\r\ny\r\n.\r\n") },
	{ S("\r.\r"), S("\r\n..\r\n.\r\n") },
	{ S("a\0b\n"), S("a\0b\r\n.\r\n") }, /* NUL is content */
};

static void
check_output(const struct sink *s, const char *want, size_t want_len)
{
	ck_assert_uint_eq(s->out.len, want_len);
	ck_assert_int_eq(memcmp(s->out.data, want, want_len), 0);
}

START_TEST(test_smtp_data_convert)
{
	struct smtp_data d;
	struct sink s;

	memset(&s, 0, sizeof(s));
	smx_buf_init(&s.out, 1024);
	smtp_data_init(&d, sink_write, &s);
	ck_assert_int_eq(smtp_data_feed(&d, cases[_i].in, cases[_i].in_len),
	    SMX_OK);
	ck_assert_int_eq(smtp_data_finish(&d), SMX_OK);
	check_output(&s, cases[_i].out, cases[_i].out_len);
	smx_buf_free(&s.out);
}
END_TEST

/* Every split into two chunks, and one byte at a time, gives the same. */
START_TEST(test_smtp_data_chunks)
{
	const char *in = cases[_i].in;
	size_t len = cases[_i].in_len;
	struct smtp_data d;
	struct sink s;
	size_t cut;
	size_t i;

	for (cut = 0; cut <= len; cut++) {
		memset(&s, 0, sizeof(s));
		smx_buf_init(&s.out, 1024);
		smtp_data_init(&d, sink_write, &s);
		ck_assert_int_eq(smtp_data_feed(&d, in, cut), SMX_OK);
		ck_assert_int_eq(smtp_data_feed(&d, in + cut, len - cut),
		    SMX_OK);
		ck_assert_int_eq(smtp_data_finish(&d), SMX_OK);
		check_output(&s, cases[_i].out, cases[_i].out_len);
		smx_buf_free(&s.out);
	}
	memset(&s, 0, sizeof(s));
	smx_buf_init(&s.out, 1024);
	smtp_data_init(&d, sink_write, &s);
	for (i = 0; i < len; i++)
		ck_assert_int_eq(smtp_data_feed(&d, in + i, 1), SMX_OK);
	ck_assert_int_eq(smtp_data_finish(&d), SMX_OK);
	check_output(&s, cases[_i].out, cases[_i].out_len);
	smx_buf_free(&s.out);
}
END_TEST

/* A CR ends one chunk and its LF starts the next: one line end. */
START_TEST(test_smtp_data_split_crlf)
{
	struct smtp_data d;
	struct sink s;

	memset(&s, 0, sizeof(s));
	smx_buf_init(&s.out, 1024);
	smtp_data_init(&d, sink_write, &s);
	ck_assert_int_eq(smtp_data_feed(&d, S("line one\r")), SMX_OK);
	ck_assert_int_eq(smtp_data_feed(&d, S("\n.two\r")), SMX_OK);
	ck_assert_int_eq(smtp_data_feed(&d, S("\n")), SMX_OK);
	ck_assert_int_eq(smtp_data_finish(&d), SMX_OK);
	check_output(&s, S("line one\r\n..two\r\n.\r\n"));
	smx_buf_free(&s.out);
}
END_TEST

/* Large input goes out in bounded pieces; no bare CR or LF anywhere. */
START_TEST(test_smtp_data_bounded)
{
	size_t len = 5 * SMTP_DATA_CHUNK + 17;
	char *in = malloc(len);
	struct smtp_data d;
	struct sink s;
	size_t i;

	ck_assert_ptr_nonnull(in);
	for (i = 0; i < len; i++)
		in[i] = "ab.\r\n\rc"[i % 7];
	memset(&s, 0, sizeof(s));
	smx_buf_init(&s.out, 4 * len);
	smtp_data_init(&d, sink_write, &s);
	ck_assert_int_eq(smtp_data_feed(&d, in, len), SMX_OK);
	ck_assert_int_eq(smtp_data_finish(&d), SMX_OK);
	ck_assert_uint_le(s.max_write, SMTP_DATA_CHUNK);
	ck_assert_uint_gt(s.n_writes, 5);
	for (i = 0; i < s.out.len; i++) {
		if (s.out.data[i] == '\r')
			ck_assert(
			    i + 1 < s.out.len && s.out.data[i + 1] == '\n');
		if (s.out.data[i] == '\n')
			ck_assert(i > 0 && s.out.data[i - 1] == '\r');
	}
	/* The end marker appears once, at the end. */
	ck_assert_ptr_eq(strstr(s.out.data, "\r\n.\r\n"),
	    s.out.data + s.out.len - 5);
	free(in);
	smx_buf_free(&s.out);
}
END_TEST

START_TEST(test_smtp_data_sink_failure)
{
	size_t len = 3 * SMTP_DATA_CHUNK;
	char *in = malloc(len);
	struct smtp_data d;
	struct sink s;

	ck_assert_ptr_nonnull(in);
	memset(in, 'x', len);
	memset(&s, 0, sizeof(s));
	smx_buf_init(&s.out, 4 * len);
	s.fail_after = 1;
	smtp_data_init(&d, sink_write, &s);
	ck_assert_int_eq(smtp_data_feed(&d, in, len), SMX_TEMPFAIL);
	/* Once failed, always failed: no end marker after a lost write. */
	ck_assert_int_eq(smtp_data_finish(&d), SMX_TEMPFAIL);
	ck_assert_uint_eq(s.out.len, SMTP_DATA_CHUNK);
	free(in);
	smx_buf_free(&s.out);
}
END_TEST

/* From a spool that spills to a file: the same bytes as from memory. */
START_TEST(test_smtp_data_from_spool)
{
	size_t len = SPOOL_MEM_MAX + 3 * SPOOL_CHUNK + 5;
	char *in = malloc(len);
	struct sink s1;
	struct sink s2;
	struct smtp_data d;
	struct spool sp;
	char reason[256];
	FILE *tmp = tmpfile();
	size_t i;

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(tmp);
	for (i = 0; i < len; i++)
		in[i] = ".x\n"[i % 3];
	ck_assert_uint_eq(fwrite(in, 1, len, tmp), len);
	ck_assert_int_eq(fflush(tmp), 0);
	rewind(tmp);
	ck_assert_int_eq(spool_read_fd(&sp, fileno(tmp), 0, reason,
	                     sizeof(reason)),
	    SMX_OK);
	ck_assert(spool_is_file(&sp));
	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	smx_buf_init(&s1.out, 2 * len);
	smx_buf_init(&s2.out, 2 * len);
	ck_assert_int_eq(smtp_data_send_spool(&sp, sink_write, &s1), SMX_OK);
	smtp_data_init(&d, sink_write, &s2);
	ck_assert_int_eq(smtp_data_feed(&d, in, len), SMX_OK);
	ck_assert_int_eq(smtp_data_finish(&d), SMX_OK);
	ck_assert_uint_eq(s1.out.len, s2.out.len);
	ck_assert_int_eq(memcmp(s1.out.data, s2.out.data, s1.out.len), 0);
	spool_free(&sp);
	fclose(tmp);
	free(in);
	smx_buf_free(&s1.out);
	smx_buf_free(&s2.out);
}
END_TEST

static Suite *
data_suite(void)
{
	Suite *s = suite_create("smtp_data");
	TCase *tc;

	tc = tcase_create("convert");
	tcase_add_loop_test(tc, test_smtp_data_convert, 0,
	    sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_smtp_data_chunks, 0,
	    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_smtp_data_split_crlf);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);

	tc = tcase_create("stream");
	tcase_add_test(tc, test_smtp_data_bounded);
	tcase_add_test(tc, test_smtp_data_sink_failure);
	tcase_add_test(tc, test_smtp_data_from_spool);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(data_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
