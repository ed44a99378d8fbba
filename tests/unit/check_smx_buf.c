/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/smx_buf.c: growth, the hard maximum, consume. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "smx_buf.h"

START_TEST(test_smx_buf_append_max)
{
	struct smx_buf b;

	smx_buf_init(&b, 8);
	ck_assert_int_eq(smx_buf_append(&b, "abcd", 4), SMX_OK);
	ck_assert_int_eq(smx_buf_append(&b, "efgh", 4), SMX_OK);
	ck_assert_uint_eq(b.len, 8);
	ck_assert_str_eq(b.data, "abcdefgh");
	/* One byte over the cap fails and leaves the buffer as it was. */
	ck_assert_int_eq(smx_buf_append(&b, "i", 1), SMX_INVALID);
	ck_assert_uint_eq(b.len, 8);
	ck_assert_str_eq(b.data, "abcdefgh");
	smx_buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_smx_buf_binary_and_consume)
{
	struct smx_buf b;

	smx_buf_init(&b, 1024);
	ck_assert_int_eq(smx_buf_append(&b, "a\0b", 3), SMX_OK);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(memcmp(b.data, "a\0b", 4), 0);
	smx_buf_consume(&b, 2);
	ck_assert_uint_eq(b.len, 1);
	ck_assert_str_eq(b.data, "b");
	smx_buf_consume(&b, 5);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	smx_buf_free(&b);
}
END_TEST

START_TEST(test_smx_buf_appendf_growth)
{
	struct smx_buf b;
	int i;

	smx_buf_init(&b, 100000);
	for (i = 0; i < 10000; i++)
		ck_assert_int_eq(smx_buf_appendf(&b, "%d,", i % 10), SMX_OK);
	ck_assert_uint_eq(b.len, 20000);
	ck_assert_int_eq(strncmp(b.data, "0,1,2,", 6), 0);
	smx_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(smx_buf_appendf(&b, "%s", ""), SMX_OK);
	smx_buf_free(&b);
	/* Formatted text over the cap fails whole. */
	smx_buf_init(&b, 4);
	ck_assert_int_eq(smx_buf_appendf(&b, "%s", "hello"), SMX_INVALID);
	ck_assert_uint_eq(b.len, 0);
	smx_buf_free(&b);
}
END_TEST

static Suite *
buf_suite(void)
{
	Suite *s = suite_create("smx_buf");
	TCase *tc = tcase_create("buf");

	tcase_add_test(tc, test_smx_buf_append_max);
	tcase_add_test(tc, test_smx_buf_binary_and_consume);
	tcase_add_test(tc, test_smx_buf_appendf_growth);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
