/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/smx_util.c: numbers, time values, names, copies. */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "smx_util.h"

static const struct {
	const char *in;
	unsigned long min;
	unsigned long max;
	enum smx_status st;
	unsigned long val;
} ulong_cases[] = {
	{ "0", 0, 10, SMX_OK, 0 },
	{ "10", 0, 10, SMX_OK, 10 },
	{ "11", 0, 10, SMX_INVALID, 0 },
	{ "4", 5, 10, SMX_INVALID, 0 },
	{ "", 0, 10, SMX_INVALID, 0 },
	{ "-1", 0, 10, SMX_INVALID, 0 },
	{ "+1", 0, 10, SMX_INVALID, 0 },
	{ " 1", 0, 10, SMX_INVALID, 0 },
	{ "1 ", 0, 10, SMX_INVALID, 0 },
	{ "0x1", 0, 10, SMX_INVALID, 0 },
	{ "18446744073709551615", 0, ULONG_MAX, SMX_OK, ULONG_MAX },
	{ "18446744073709551616", 0, ULONG_MAX, SMX_INVALID, 0 },
	{ "99999999999999999999999", 0, ULONG_MAX, SMX_INVALID, 0 },
};

START_TEST(test_smx_util_parse_ulong)
{
	unsigned long v = 12345;
	enum smx_status st;

	st = smx_parse_ulong(ulong_cases[_i].in, strlen(ulong_cases[_i].in),
	    ulong_cases[_i].min, ulong_cases[_i].max, &v);
	ck_assert_int_eq(st, ulong_cases[_i].st);
	if (st == SMX_OK)
		ck_assert_uint_eq(v, ulong_cases[_i].val);
	else
		ck_assert_uint_eq(v, 12345); /* untouched on error */
}
END_TEST

START_TEST(test_smx_util_parse_ulong_length)
{
	unsigned long v;

	/* Only len bytes count: "12" of "123". */
	ck_assert_int_eq(smx_parse_ulong("123", 2, 0, 100, &v), SMX_OK);
	ck_assert_uint_eq(v, 12);
	/* An embedded NUL is not a digit. */
	ck_assert_int_eq(smx_parse_ulong("1\0002", 3, 0, 100, &v), SMX_INVALID);
}
END_TEST

static const struct {
	const char *in;
	enum smx_status st;
	unsigned long val;
} time_cases[] = {
	{ "5", SMX_OK, 5 },
	{ "5s", SMX_OK, 5 },
	{ "2m", SMX_OK, 120 },
	{ "1h", SMX_OK, 3600 },
	{ "1d", SMX_OK, 86400 },
	{ "1w", SMX_OK, 604800 },
	{ "2w", SMX_INVALID, 0 }, /* over max of one week */
	{ "s", SMX_INVALID, 0 },
	{ "", SMX_INVALID, 0 },
	{ "5x", SMX_INVALID, 0 },
	{ "5 s", SMX_INVALID, 0 },
	{ "5ss", SMX_INVALID, 0 },
	{ "-5s", SMX_INVALID, 0 },
	{ "99999999999999999999w", SMX_INVALID, 0 },
};

START_TEST(test_smx_util_parse_time)
{
	unsigned long v = 777;
	enum smx_status st;

	st = smx_parse_time(time_cases[_i].in, 0, 604800, &v);
	ck_assert_int_eq(st, time_cases[_i].st);
	ck_assert_uint_eq(v, st == SMX_OK ? time_cases[_i].val : 777);
}
END_TEST

START_TEST(test_smx_util_strlcpy)
{
	char buf[4];

	ck_assert_uint_eq(smx_strlcpy(buf, "abc", sizeof(buf)), 3);
	ck_assert_str_eq(buf, "abc");
	ck_assert_uint_eq(smx_strlcpy(buf, "abcdef", sizeof(buf)), 6);
	ck_assert_str_eq(buf, "abc");
	ck_assert_uint_eq(smx_strlcpy(buf, "", sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_smx_util_ascii)
{
	char s[] = "MiXeD.ExAmPlE";

	smx_ascii_lower(s, strlen(s));
	ck_assert_str_eq(s, "mixed.example");
	ck_assert_int_eq(smx_ascii_casecmp("TLSv1.2", "tlsV1.2"), 0);
	ck_assert_int_ne(smx_ascii_casecmp("TLSv1.2", "TLSv1.3"), 0);
	ck_assert_int_eq(smx_ascii_ncasecmp("ABcd", "abCE", 3), 0);
	ck_assert_int_ne(smx_ascii_ncasecmp("ABcd", "abCE", 4), 0);
	ck_assert_str_eq(smx_status_name(SMX_TEMPFAIL), "tempfail");
}
END_TEST

static const struct {
	const char *in;
	int ok;
} host_cases[] = {
	{ "example.org", 1 },
	{ "example.org.", 1 },
	{ "_secmx._tcp.example.org", 1 },
	{ "a-b.example", 1 },
	{ "x", 1 },
	{ "", 0 },
	{ ".", 0 },
	{ "..", 0 },
	{ "a..b", 0 },
	{ "sor.example..", 0 },
	{ ".example.org", 0 },
	{ "-a.example", 0 },
	{ "a-.example", 0 },
	{ "a.example-", 0 },
	{ "a b.example", 0 },
	{ "exämple.org", 0 },
	{ "[192.0.2.1]", 0 },
};

START_TEST(test_smx_util_hostname)
{
	ck_assert_int_eq(smx_is_hostname(host_cases[_i].in,
	                     strlen(host_cases[_i].in)),
	    host_cases[_i].ok);
}
END_TEST

START_TEST(test_smx_util_hostname_limits)
{
	char name[300];

	/* A 63-byte label is fine, 64 is not. */
	memset(name, 'a', 64);
	name[64] = '\0';
	ck_assert(!smx_is_hostname(name, 64));
	ck_assert(smx_is_hostname(name, 63));
	/* 253 bytes in all is fine, 254 is not. */
	memset(name, 'a', sizeof(name));
	for (size_t i = 50; i < sizeof(name); i += 51)
		name[i] = '.';
	ck_assert(smx_is_hostname(name, 253));
	ck_assert(!smx_is_hostname(name, 254));
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("smx_util");
	TCase *tc;

	tc = tcase_create("numbers");
	tcase_add_loop_test(tc, test_smx_util_parse_ulong, 0,
	    sizeof(ulong_cases) / sizeof(ulong_cases[0]));
	tcase_add_test(tc, test_smx_util_parse_ulong_length);
	tcase_add_loop_test(tc, test_smx_util_parse_time, 0,
	    sizeof(time_cases) / sizeof(time_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("strings");
	tcase_add_test(tc, test_smx_util_strlcpy);
	tcase_add_test(tc, test_smx_util_ascii);
	tcase_add_loop_test(tc, test_smx_util_hostname, 0,
	    sizeof(host_cases) / sizeof(host_cases[0]));
	tcase_add_test(tc, test_smx_util_hostname_limits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
