/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/smx_lines.c: logical lines and the file reader. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smx_lines.h"

/* Read every logical line of data as "N:text|" into out. */
static enum smx_status
collect(const char *data, size_t len, size_t line_max, char *out, size_t outlen,
    struct smx_lines *r)
{
	enum smx_status st;
	size_t used = 0;

	out[0] = '\0';
	smx_lines_init(r, data, len, line_max, "entry");
	while ((st = smx_lines_next(r)) == SMX_OK) {
		int n = snprintf(out + used, outlen - used, "%zu:%s|", r->line,
		    r->text);

		ck_assert(n > 0 && (size_t)n < outlen - used);
		used += (size_t)n;
	}
	return st;
}

static const struct {
	const char *in;
	size_t len; /* 0: strlen */
	enum smx_status st;
	const char *lines;   /* on SMX_NOTFOUND (the normal end) */
	size_t bad_line;     /* on SMX_INVALID */
	const char *problem; /* on SMX_INVALID */
} cases[] = {
	{ "", 0, SMX_NOTFOUND, "", 0, NULL },
	{ "a b\n", 0, SMX_NOTFOUND, "1:a b|", 0, NULL },
	{ "a b", 0, SMX_NOTFOUND, "1:a b|", 0, NULL },
	{ "a b  \t\n", 0, SMX_NOTFOUND, "1:a b|", 0, NULL },
	{ "# c\n\na\n  b\nc\n", 0, SMX_NOTFOUND, "3:a  b|5:c|", 0, NULL },
	{ "a\n# inside\n\n  b\n", 0, SMX_NOTFOUND, "1:a  b|", 0, NULL },
	{ "a\r\n b\r\n", 0, SMX_NOTFOUND, "1:a b|", 0, NULL },
	{ " a\n", 0, SMX_INVALID, NULL, 1,
	    "continuation line before any entry" },
	{ "a\rb\n", 0, SMX_INVALID, NULL, 1, "bare CR character" },
	{ "a\n# x\001\n", 0, SMX_INVALID, NULL, 2, "control character" },
	{ "a\n\0b\n", 4, SMX_INVALID, NULL, 2, "NUL character" },
	{ "12345678\n", 0, SMX_NOTFOUND, "1:12345678|", 0, NULL },
	{ "123456789\n", 0, SMX_INVALID, NULL, 1,
	    "line too long (over 8 bytes)" },
	{ "1234\n 5678\n", 0, SMX_INVALID, NULL, 1,
	    "line too long (over 8 bytes)" },
	{ "caf\xc3\xa9 x\n", 0, SMX_NOTFOUND, "1:caf\xc3\xa9 x|", 0, NULL },
};

START_TEST(test_smx_lines_logical)
{
	struct smx_lines r;
	char out[256];
	size_t len = cases[_i].len ? cases[_i].len : strlen(cases[_i].in);
	enum smx_status st;

	st = collect(cases[_i].in, len, 8, out, sizeof(out), &r);
	ck_assert_int_eq(st, cases[_i].st);
	if (st == SMX_NOTFOUND) {
		ck_assert_str_eq(out, cases[_i].lines);
	} else {
		ck_assert_uint_eq(r.bad_line, cases[_i].bad_line);
		ck_assert_str_eq(r.problem, cases[_i].problem);
	}
	smx_lines_free(&r);
}
END_TEST

START_TEST(test_smx_lines_error_format)
{
	char err[32];

	smx_line_error(err, sizeof(err), "t.cf", 12, "bad %s", "value");
	ck_assert_str_eq(err, "t.cf, line 12: bad value");
	/* Truncated, still terminated. */
	smx_line_error(err, 10, "t.cf", 12, "bad %s", "value");
	ck_assert_str_eq(err, "t.cf, lin");
}
END_TEST

START_TEST(test_smx_lines_read_file)
{
	char path[] = "/tmp/smx_lines_XXXXXX";
	char err[256];
	char *data = NULL;
	size_t len = 0;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "abc\n", 4), 4);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(smx_read_file(path, 4, &data, &len, err, sizeof(err)),
	    SMX_OK);
	ck_assert_uint_eq(len, 4);
	ck_assert_str_eq(data, "abc\n");
	free(data);
	data = NULL;
	/* One byte over the cap. */
	ck_assert_int_eq(smx_read_file(path, 3, &data, &len, err, sizeof(err)),
	    SMX_INVALID);
	ck_assert_ptr_null(data);
	ck_assert_ptr_nonnull(strstr(err, "file too large (over 3 bytes)"));
	ck_assert_int_eq(unlink(path), 0);
	/* Missing file: the path and the reason. */
	ck_assert_int_eq(smx_read_file(path, 4, &data, &len, err, sizeof(err)),
	    SMX_INVALID);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	/* Not a regular file. */
	ck_assert_int_eq(smx_read_file("/tmp", 4, &data, &len, err,
	                     sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err, "/tmp: not a regular file");
}
END_TEST

static Suite *
lines_suite(void)
{
	Suite *s = suite_create("smx_lines");
	TCase *tc = tcase_create("lines");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_smx_lines_logical, 0,
	    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_smx_lines_error_format);
	tcase_add_test(tc, test_smx_lines_read_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lines_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
