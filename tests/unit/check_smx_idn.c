/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/smx_idn.c: domain names in ASCII and UTF-8 to
 * lower-case A-labels, invalid input, and the caps on labels, names and
 * input. A counting idn2_lookup_u8 below shows that ASCII never reaches
 * libidn2.
 */
#include <check.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smx_idn.h"
#include "smx_limits.h"

/* Input with NUL bytes: the text and its exact length. */
#define BIN(s) s, sizeof(s) - 1

static int n_idn2_calls;

typedef int lookup_fn(const uint8_t *, uint8_t **, int);

/* Every call of the library's resolves to this one, which counts. */
int idn2_lookup_u8(const uint8_t *src, uint8_t **lookupname, int flags);

int
idn2_lookup_u8(const uint8_t *src, uint8_t **lookupname, int flags)
{
	static lookup_fn *real;

	if (real == NULL) {
		void *lib = dlopen("libidn2.so.0", RTLD_LAZY);
		void *sym = lib != NULL ? dlsym(lib, "idn2_lookup_u8") : NULL;

		ck_assert_ptr_nonnull(sym);
		memcpy(&real, &sym, sizeof(real));
	}
	n_idn2_calls++;
	return real(src, lookupname, flags);
}

/*
 * One case: the name (len bytes; 0 means strlen) and either the A-label
 * form or NULL for SMX_INVALID; is_ascii says libidn2 must not be called.
 */
static const struct {
	const char *in;
	size_t len;
	const char *out;
	int is_ascii;
} cases[] = {
	/* ASCII: lower-cased, one trailing dot dropped, never libidn2. */
	{ "example.org", 0, "example.org", 1 },
	{ "ExAmple.ORG", 0, "example.org", 1 },
	{ "example.org.", 0, "example.org", 1 },
	{ "localhost", 0, "localhost", 1 },
	{ "_srv.example", 0, "_srv.example", 1 },
	{ "a--b.example", 0, "a--b.example", 1 },
	{ "xn--sr-fka.example", 0, "xn--sr-fka.example", 1 },
	{ "XN--SR-FKA.Example.", 0, "xn--sr-fka.example", 1 },
	/* UTF-8 to A-labels: UTS #46 mapping, NFC, non-transitional. */
	{ "s\xc3\xb6r.example", 0, "xn--sr-fka.example", 0 },
	{ "S\xc3\x96R.Example.", 0, "xn--sr-fka.example", 0 },
	{ "so\xcc\x88r.example", 0, "xn--sr-fka.example", 0 },
	{ "fa\xc3\x9f.de", 0, "xn--fa-hia.de", 0 },
	{ "b\xc3\xbc"
	  "cher.xn--sr-fka.example",
	    0, "xn--bcher-kva.xn--sr-fka.example", 0 },
	{ "a--b.s\xc3\xb6r.example", 0, "a--b.xn--sr-fka.example", 0 },
	{ "\xd8\xa7\xd9\x84.example", 0, "xn--mgb2d.example", 0 },
	{ "\xef\xbc\xa1.example", 0, "a.example", 0 },
	{ "s\xc3\xb6r\xe3\x80\x82"
	  "example",
	    0, "xn--sr-fka.example", 0 },
	{ "s\xc3\xb6r.example\xe3\x80\x82", 0, "xn--sr-fka.example", 0 },
	/* Invalid UTF-8. */
	{ "s\xffr.example", 0, NULL, 0 },
	{ "s\xc3", 0, NULL, 0 },
	{ "s\xc3r.example", 0, NULL, 0 },
	{ "\xc0\xaf.example", 0, NULL, 0 },
	{ "\xed\xa0\x80.example", 0, NULL, 0 },
	{ "\xf4\x90\x80\x80.example", 0, NULL, 0 },
	{ "\xb6r.example", 0, NULL, 0 },
	/* Invalid IDN: disallowed and unassigned code points, hyphens,
	 * joiners out of context, bidi, what a host name cannot hold. */
	{ "\xe2\x98\x83.example", 0, NULL, 0 },
	{ "\xf0\x9f\x98\x80.example", 0, NULL, 0 },
	{ "\xcd\xb8.example", 0, NULL, 0 },
	{ "-s\xc3\xb6r.example", 0, NULL, 0 },
	{ "s\xc3\xb6-.example", 0, NULL, 0 },
	{ "a\xe2\x80\x8d.example", 0, NULL, 0 },
	{ "1\xd8\xa7.example", 0, NULL, 0 },
	{ "s\xc3\xb6 r.example", 0, NULL, 0 },
	{ "s\xc3\xb6r!.example", 0, NULL, 0 },
	{ "[s\xc3\xb6r]", 0, NULL, 0 },
	{ "s\xc3\xb6r.example\xe3\x80\x82.", 0, NULL, 0 },
	/* Not a host name in ASCII either. */
	{ "", 0, NULL, 1 },
	{ ".", 0, NULL, 1 },
	{ "..", 0, NULL, 1 },
	{ ".example", 0, NULL, 1 },
	{ "exa..mple", 0, NULL, 1 },
	{ "example..", 0, NULL, 1 },
	{ "-example.org", 0, NULL, 1 },
	{ "exa mple.org", 0, NULL, 1 },
	{ "[192.0.2.1]", 0, NULL, 1 },
	{ "bob@example.org", 0, NULL, 1 },
	{ "s\xc3\xb6r..example", 0, NULL, 0 },
	/* Embedded NUL, ASCII or not. */
	{ BIN("example\0.org"), NULL, 1 },
	{ BIN("s\xc3\xb6r\0.example"), NULL, 1 },
	{ BIN("\0"), NULL, 1 },
	/* Only len bytes count. */
	{ "s\xc3\xb6r.exampleXYZ", 12, "xn--sr-fka.example", 0 },
};

START_TEST(test_smx_idn_cases)
{
	const char *in = cases[_i].in;
	size_t len = cases[_i].len ? cases[_i].len : strlen(in);
	char out[SMX_DOMAIN_MAX + 1];
	enum smx_status st;

	memset(out, 'x', sizeof(out));
	n_idn2_calls = 0;
	st = smx_idn_to_ascii(in, len, out, sizeof(out));
	if (cases[_i].out == NULL) {
		ck_assert_msg(st == SMX_INVALID, "case %d: status %d", _i, st);
		ck_assert_int_eq(out[0], 'x'); /* untouched */
	} else {
		ck_assert_msg(st == SMX_OK, "case %d: status %d", _i, st);
		ck_assert_str_eq(out, cases[_i].out);
	}
	if (cases[_i].is_ascii)
		ck_assert_int_eq(n_idn2_calls, 0);
	else if (len > 0 && memchr(in, '\0', len) == NULL)
		ck_assert_int_gt(n_idn2_calls, 0);
}
END_TEST

/* A UTF-8 label of k 'a's and one U+00F6 is an A-label of k + 8 bytes. */
static size_t
utf8_label(char *buf, size_t k)
{
	memset(buf, 'a', k);
	memcpy(buf + k, "\xc3\xb6", 2);
	return k + 2;
}

START_TEST(test_smx_idn_label_cap)
{
	char in[128];
	char out[SMX_DOMAIN_MAX + 1];
	size_t n;

	/* ASCII: 63 bytes, then 64. */
	memset(in, 'a', 64);
	memcpy(in + 64, ".example", 8);
	ck_assert_int_eq(smx_idn_to_ascii(in + 1, 71, out, sizeof(out)),
	    SMX_OK);
	ck_assert_uint_eq(strlen(out), 71);
	ck_assert_int_eq(smx_idn_to_ascii(in, 72, out, sizeof(out)),
	    SMX_INVALID);
	/* UTF-8 whose A-label has 63 bytes, then 64. */
	n = utf8_label(in, 55);
	ck_assert_int_eq(smx_idn_to_ascii(in, n, out, sizeof(out)), SMX_OK);
	ck_assert_uint_eq(strlen(out), SMX_LABEL_MAX);
	ck_assert_str_eq(out + 55 + 4, "-npf");
	n = utf8_label(in, 56);
	ck_assert_int_eq(smx_idn_to_ascii(in, n, out, sizeof(out)),
	    SMX_INVALID);
}
END_TEST

/*
 * build_name - labels of 63 bytes and a last one, total bytes of name;
 * when has_utf8, the last label is a UTF-8 one (k 'a's and U+00F6) whose
 * A-label brings the result to exactly total bytes.
 */
static size_t
build_name(char *buf, size_t total, int has_utf8)
{
	size_t used = 0;
	size_t last;

	while (total - used > 64) {
		memset(buf + used, 'b', 63);
		buf[used + 63] = '.';
		used += 64;
	}
	last = total - used;
	if (!has_utf8) {
		memset(buf + used, 'c', last);
		return total;
	}
	/* An A-label of last bytes is "xn--" + (last - 8) 'a's + "-xxx". */
	return used + utf8_label(buf + used, last - 8);
}

START_TEST(test_smx_idn_name_cap)
{
	char in[SMX_IDN_INPUT_MAX + 2];
	char out[SMX_DOMAIN_MAX + 1];
	size_t n;

	n = build_name(in, SMX_DOMAIN_MAX, 0);
	ck_assert_int_eq(smx_idn_to_ascii(in, n, out, sizeof(out)), SMX_OK);
	ck_assert_uint_eq(strlen(out), SMX_DOMAIN_MAX);
	n = build_name(in, SMX_DOMAIN_MAX + 1, 0);
	ck_assert_int_eq(smx_idn_to_ascii(in, n, out, sizeof(out)),
	    SMX_INVALID);
	/* The same caps for the result of a UTF-8 name, shorter as input. */
	n = build_name(in, SMX_DOMAIN_MAX, 1);
	ck_assert_uint_lt(n, SMX_DOMAIN_MAX);
	ck_assert_int_eq(smx_idn_to_ascii(in, n, out, sizeof(out)), SMX_OK);
	ck_assert_uint_eq(strlen(out), SMX_DOMAIN_MAX);
	n = build_name(in, SMX_DOMAIN_MAX + 1, 1);
	ck_assert_uint_lt(n, SMX_DOMAIN_MAX);
	ck_assert_int_eq(smx_idn_to_ascii(in, n, out, sizeof(out)),
	    SMX_INVALID);
	/* A trailing dot is not counted. */
	n = build_name(in, SMX_DOMAIN_MAX, 0);
	in[n] = '.';
	ck_assert_int_eq(smx_idn_to_ascii(in, n + 1, out, sizeof(out)), SMX_OK);
}
END_TEST

/*
 * Input of exactly SMX_IDN_INPUT_MAX bytes is converted (soft hyphens,
 * U+00AD, map to nothing), one byte more is refused unread.
 */
START_TEST(test_smx_idn_input_cap)
{
	char in[SMX_IDN_INPUT_MAX + 2];
	char out[SMX_DOMAIN_MAX + 1];
	size_t i;

	in[0] = 'a';
	for (i = 1; i + 2 <= SMX_IDN_INPUT_MAX - 2; i += 2)
		memcpy(in + i, "\xc2\xad", 2);
	ck_assert_uint_eq(i, SMX_IDN_INPUT_MAX - 3);
	memcpy(in + i, "a.b", 3);
	ck_assert_int_eq(smx_idn_to_ascii(in, SMX_IDN_INPUT_MAX, out,
	                     sizeof(out)),
	    SMX_OK);
	ck_assert_str_eq(out, "aa.b");
	in[SMX_IDN_INPUT_MAX] = 'b';
	n_idn2_calls = 0;
	ck_assert_int_eq(smx_idn_to_ascii(in, SMX_IDN_INPUT_MAX + 1, out,
	                     sizeof(out)),
	    SMX_INVALID);
	ck_assert_int_eq(n_idn2_calls, 0);
}
END_TEST

START_TEST(test_smx_idn_out_size)
{
	char out[SMX_DOMAIN_MAX + 1];

	ck_assert_int_eq(smx_idn_to_ascii("a.example", 9, out, sizeof(out) - 1),
	    SMX_INVALID);
	ck_assert_int_eq(smx_idn_to_ascii("a.example", 9, out, 0), SMX_INVALID);
}
END_TEST

static const struct {
	const char *key;
	const char *out; /* NULL: SMX_INVALID */
} key_cases[] = {
	{ "s\xc3\xb6r.example", "xn--sr-fka.example" },
	{ "bob@S\xc3\xb6r.Example.", "xn--sr-fka.example" },
	{ "j\xc3\xb6rg@example.org", "example.org" },
	{ "\"a@b\"@s\xc3\xb6r.example", "xn--sr-fka.example" },
	{ "a@b@EXAMPLE.org", "example.org" },
	{ "bob@", NULL },
	{ "@", NULL },
	{ "", NULL },
	{ "bob@[192.0.2.1]", NULL },
	{ "bob@s\xffr.example", NULL },
};

START_TEST(test_smx_idn_key_domain)
{
	const char *key = key_cases[_i].key;
	char out[SMX_DOMAIN_MAX + 1];
	enum smx_status st;

	st = smx_idn_key_domain(key, strlen(key), out, sizeof(out));
	if (key_cases[_i].out == NULL) {
		ck_assert_int_eq(st, SMX_INVALID);
		return;
	}
	ck_assert_int_eq(st, SMX_OK);
	ck_assert_str_eq(out, key_cases[_i].out);
}
END_TEST

static Suite *
idn_suite(void)
{
	Suite *s = suite_create("smx_idn");
	TCase *tc;

	tc = tcase_create("names");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_smx_idn_cases, 0,
	    sizeof(cases) / sizeof(cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_smx_idn_label_cap);
	tcase_add_test(tc, test_smx_idn_name_cap);
	tcase_add_test(tc, test_smx_idn_input_cap);
	tcase_add_test(tc, test_smx_idn_out_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_smx_idn_key_domain, 0,
	    sizeof(key_cases) / sizeof(key_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(idn_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
