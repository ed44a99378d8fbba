/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/smx_addr.c: effective recipient domains. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smx_addr.h"

/*
 * One case: the address (len bytes; 0 means strlen) and either
 * SMX_INVALID or the domains expected, in order, joined by ','; an
 * unqualified entry is written "(unqualified)".
 */
static const struct {
	const char *in;
	size_t len;
	enum smx_status st;
	const char *domains;
} addr_cases[] = {
	/* Plain addresses, case and trailing dots. */
	{ "bob@sor.example", 0, SMX_OK, "sor.example" },
	{ "Bob@SOR.Example", 0, SMX_OK, "sor.example" },
	{ "bob@sor.example.", 0, SMX_OK, "sor.example" },
	{ "bob@sor.example..", 0, SMX_INVALID, NULL },
	{ "bob@.", 0, SMX_INVALID, NULL },
	{ "bob@", 0, SMX_INVALID, NULL },
	{ "@", 0, SMX_INVALID, NULL },
	{ "bob@-bad.example", 0, SMX_INVALID, NULL },
	{ "bob@a b.example", 0, SMX_INVALID, NULL },
	{ "bob@sub.sor.example", 0, SMX_OK, "sub.sor.example" },
	/* Empty sender/recipient and bare local parts. */
	{ "", 0, SMX_OK, "" },
	{ "<>", 0, SMX_OK, "" },
	{ "postmaster", 0, SMX_OK, "(unqualified)" },
	{ "<postmaster>", 0, SMX_OK, "(unqualified)" },
	{ "Bob", 0, SMX_OK, "(unqualified)" },
	{ "\"john doe\"", 0, SMX_OK, "(unqualified)" },
	{ "\"odd@quoted\"", 0, SMX_OK, "(unqualified)" },
	{ "<\"a%b.example\">", 0, SMX_OK, "(unqualified)" },
	{ "@a.example:bob", 0, SMX_OK, "(unqualified)" },
	/* Angle brackets: one pair is tolerated. */
	{ "<bob@sor.example>", 0, SMX_OK, "sor.example" },
	{ "<bob@sor.example", 0, SMX_INVALID, NULL },
	{ "bob@sor.example>", 0, SMX_INVALID, NULL },
	{ "<", 0, SMX_INVALID, NULL },
	{ "<<bob@sor.example>>", 0, SMX_INVALID, NULL },
	/* Quoted local parts: '@', '%', '!' inside quotes are plain. */
	{ "\"john doe\"@sor.example", 0, SMX_OK, "sor.example" },
	{ "\"odd@quoted\"@example.org", 0, SMX_OK, "example.org" },
	{ "\"a%b.example\"@example.org", 0, SMX_OK, "example.org" },
	{ "\"b.example!x\"@example.org", 0, SMX_OK, "example.org" },
	{ "\"esc\\\"@x.example\"@example.org", 0, SMX_OK, "example.org" },
	{ "\"back\\\\\"@example.org", 0, SMX_OK, "example.org" },
	{ "\"x\".\"y\"@example.org", 0, SMX_OK, "example.org" },
	{ "\"@sor.example", 0, SMX_INVALID, NULL },
	{ "\"unbalanced@sor.example", 0, SMX_INVALID, NULL },
	{ "bob\"@sor.example", 0, SMX_INVALID, NULL },
	{ "\"esc\\\"@sor.example", 0, SMX_INVALID, NULL },
	{ "\"trailing\\", 0, SMX_INVALID, NULL },
	{ "bob@\"sor.example\"", 0, SMX_INVALID, NULL },
	/* Source routes are checked and then ignored. */
	{ "@a.example,@b.example:user@sor.example", 0, SMX_OK, "sor.example" },
	{ "@a.example:user@sor.example", 0, SMX_OK, "sor.example" },
	{ "<@a.example:user@sor.example>", 0, SMX_OK, "sor.example" },
	{ "@[192.0.2.1]:user@sor.example", 0, SMX_OK, "sor.example" },
	{ "@[IPv6:2001:db8::1],@b.example:user@sor.example", 0, SMX_OK,
	    "sor.example" },
	{ "@a.example", 0, SMX_INVALID, NULL },
	{ "@a.example:", 0, SMX_INVALID, NULL },
	{ "@a.example,b.example:user@sor.example", 0, SMX_INVALID, NULL },
	{ "@bad_route!:user@sor.example", 0, SMX_INVALID, NULL },
	{ "@[192.0.2.1:user@sor.example", 0, SMX_INVALID, NULL },
	/* Percent hack: every hop, right to left after the '@' domain. */
	{ "user%sor.example@relay.example", 0, SMX_OK,
	    "relay.example,sor.example" },
	{ "a%b.example%c.example@relay.example", 0, SMX_OK,
	    "relay.example,c.example,b.example" },
	{ "user%sor.example", 0, SMX_OK, "sor.example,(unqualified)" },
	{ "a%b.example%c.example", 0, SMX_OK,
	    "c.example,b.example,(unqualified)" },
	{ "user%SOR.example.@relay.example", 0, SMX_OK,
	    "relay.example,sor.example" },
	{ "user%@relay.example", 0, SMX_INVALID, NULL },
	{ "user%bad..example@relay.example", 0, SMX_INVALID, NULL },
	{ "a@b.example@relay.example", 0, SMX_OK, "relay.example,b.example" },
	/* Bang paths: hosts left to right after the '@' domain. */
	{ "sor.example!user@relay.example", 0, SMX_OK,
	    "relay.example,sor.example" },
	{ "h1.example!h2.example!user@relay.example", 0, SMX_OK,
	    "relay.example,h1.example,h2.example" },
	{ "sor.example!user", 0, SMX_OK, "sor.example,(unqualified)" },
	{ "a%b!c", 0, SMX_OK, "b,(unqualified)" },
	{ "!user@relay.example", 0, SMX_INVALID, NULL },
	{ "a b!user@relay.example", 0, SMX_INVALID, NULL },
	/* Mixed, and duplicates dropped at their first position. */
	{ "h1.example!user%p.example@relay.example", 0, SMX_OK,
	    "relay.example,p.example,h1.example" },
	{ "a%b!c@relay.example", 0, SMX_OK, "relay.example,b" },
	{ "x%relay.example@RELAY.example", 0, SMX_OK, "relay.example" },
	{ "a%d.example%d.example@d.example", 0, SMX_OK, "d.example" },
	/* Address literals, with their brackets, wherever a domain may be. */
	{ "bob@[192.0.2.1]", 0, SMX_OK, "[192.0.2.1]" },
	{ "<bob@[192.0.2.1]>", 0, SMX_OK, "[192.0.2.1]" },
	{ "bob@[IPv6:2001:db8::1]", 0, SMX_OK, "[ipv6:2001:db8::1]" },
	{ "user%sor.example@[192.0.2.1]", 0, SMX_OK,
	    "[192.0.2.1],sor.example" },
	{ "user%[192.0.2.1]@relay.example", 0, SMX_OK,
	    "relay.example,[192.0.2.1]" },
	{ "[192.0.2.1]!user@relay.example", 0, SMX_OK,
	    "relay.example,[192.0.2.1]" },
	{ "u%[IPv6:::1]@[ipv6:::1]", 0, SMX_OK, "[ipv6:::1]" },
	{ "user%[192.0.2.1]", 0, SMX_OK, "[192.0.2.1],(unqualified)" },
	{ "@[192.0.2.9]:bob@[192.0.2.1]", 0, SMX_OK, "[192.0.2.1]" },
	{ "bob@[]", 0, SMX_INVALID, NULL },
	{ "bob@[192.0.2.1", 0, SMX_INVALID, NULL },
	{ "bob@[a b]", 0, SMX_INVALID, NULL },
	/* Control bytes anywhere, quoted or not. */
	{ "bob@sor.example\r\n", 0, SMX_INVALID, NULL },
	{ "bob@sor.example\n", 0, SMX_INVALID, NULL },
	{ "bob@sor.example\r", 0, SMX_INVALID, NULL },
	{ "b\nob@sor.example", 0, SMX_INVALID, NULL },
	{ "\"a\rb\"@sor.example", 0, SMX_INVALID, NULL },
	{ "bob@sor.example\0evil.example", 28, SMX_INVALID, NULL },
	{ "bob\0@sor.example", 16, SMX_INVALID, NULL },
	{ "bob@sor\x7f.example", 0, SMX_INVALID, NULL },
	/* Only len bytes count. */
	{ "bob@sor.exampleXYZ", 15, SMX_OK, "sor.example" },
	/* Non-ASCII: fine in the local part; a domain in UTF-8 becomes
	 * A-labels, or a bad IDN name with '?' for non-ASCII bytes. */
	{ "j\xc3\xb6rg@sor.example", 0, SMX_OK, "sor.example" },
	{ "bob@s\xc3\xb6r.example", 0, SMX_OK, "xn--sr-fka.example" },
	{ "bob@S\xc3\x96R.Example.", 0, SMX_OK, "xn--sr-fka.example" },
	{ "bob@\xc5\xbfor.example", 0, SMX_OK, "sor.example" },
	{ "user%s\xc3\xb6r.example@relay.example", 0, SMX_OK,
	    "relay.example,xn--sr-fka.example" },
	{ "h\xc3\xb6st!user@relay.example", 0, SMX_OK,
	    "relay.example,xn--hst-sna" },
	{ "x%s\xc3\xb6r.example@XN--SR-FKA.example", 0, SMX_OK,
	    "xn--sr-fka.example" },
	{ "bob@s\xffr.example", 0, SMX_OK, "(idn:s?r.example)" },
	{ "bob@S\xffR.example.", 0, SMX_OK, "(idn:s?r.example)" },
	{ "bob@s\xc3r.example", 0, SMX_OK, "(idn:s?r.example)" },
	{ "bob@\xe2\x98\x83.example", 0, SMX_OK, "(idn:???.example)" },
	{ "bob@-s\xc3\xb6r.example", 0, SMX_OK, "(idn:-s??r.example)" },
	{ "bob@s\xc3\xb6r..example", 0, SMX_OK, "(idn:s??r..example)" },
	{ "u%s\xffr.example@s\xffr.example", 0, SMX_OK, "(idn:s?r.example)" },
	{ "u%s\xffr.example@relay.example", 0, SMX_OK,
	    "relay.example,(idn:s?r.example)" },
	{ "bob@s\xc3\xb6r.example..", 0, SMX_INVALID, NULL },
	{ "bob@a b.s\xc3\xb6r", 0, SMX_INVALID, NULL },
	{ "bob@s\xc3\xb6r/x.example", 0, SMX_INVALID, NULL },
	{ "bob@[s\xc3\xb6r]", 0, SMX_INVALID, NULL },
};

/*
 * join - the names of n domains joined by ',' into buf, after checking
 * that each kind has names of its form.
 */
static void
join(const struct smx_addr_domain *d, size_t n, char *buf, size_t size)
{
	size_t used = 0;
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *name = d[i].name;
		int w;

		switch (d[i].kind) {
		case SMX_ADDR_DOMAIN:
			ck_assert_int_ne(name[0], '[');
			break;
		case SMX_ADDR_LITERAL:
			ck_assert_int_eq(name[0], '[');
			break;
		case SMX_ADDR_UNQUALIFIED:
			ck_assert_str_eq(name, "");
			ck_assert_uint_eq(i, n - 1);
			name = "(unqualified)";
			break;
		case SMX_ADDR_BAD_IDN:
			ck_assert_ptr_nonnull(strchr(name, '?'));
			break;
		}
		w = snprintf(buf + used, size - used, "%s%s%s%s",
		    i > 0 ? "," : "",
		    d[i].kind == SMX_ADDR_BAD_IDN ? "(idn:" : "", name,
		    d[i].kind == SMX_ADDR_BAD_IDN ? ")" : "");

		ck_assert_int_ge(w, 0);
		ck_assert_uint_lt((size_t)w, size - used);
		used += (size_t)w;
	}
}

START_TEST(test_smx_addr_domains)
{
	struct smx_addr_domain d[SMX_ADDR_DOMAINS_MAX];
	const char *in = addr_cases[_i].in;
	size_t len = addr_cases[_i].len ? addr_cases[_i].len : strlen(in);
	size_t n = 999;
	char got[SMX_ADDR_DOMAINS_MAX * (SMX_DOMAIN_MAX + 1)];
	enum smx_status st;

	st = smx_addr_domains(in, len, d, SMX_ADDR_DOMAINS_MAX, &n);
	ck_assert_msg(st == addr_cases[_i].st, "case %d: status %d, want %d",
	    _i, st, addr_cases[_i].st);
	if (st != SMX_OK) {
		ck_assert_uint_eq(n, 999); /* untouched on error */
		return;
	}
	join(d, n, got, sizeof(got));
	ck_assert_str_eq(got, addr_cases[_i].domains);
}
END_TEST

START_TEST(test_smx_addr_length_limit)
{
	static char addr[SMX_ADDR_MAX + 2];
	struct smx_addr_domain d[SMX_ADDR_DOMAINS_MAX];
	size_t n = 0;
	const char *dom = "@sor.example";
	size_t dlen = strlen(dom);

	/* A local part of 'a's then the domain, SMX_ADDR_MAX bytes in all. */
	memset(addr, 'a', sizeof(addr));
	memcpy(addr + SMX_ADDR_MAX - dlen, dom, dlen);
	ck_assert_int_eq(smx_addr_domains(addr, SMX_ADDR_MAX, d,
	                     SMX_ADDR_DOMAINS_MAX, &n),
	    SMX_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(d[0].name, "sor.example");
	/* One byte more is refused, whatever it is. */
	memcpy(addr + SMX_ADDR_MAX + 1 - dlen, dom, dlen);
	ck_assert_int_eq(smx_addr_domains(addr, SMX_ADDR_MAX + 1, d,
	                     SMX_ADDR_DOMAINS_MAX, &n),
	    SMX_INVALID);
}
END_TEST

START_TEST(test_smx_addr_domain_count)
{
	struct smx_addr_domain d[SMX_ADDR_DOMAINS_MAX + 1];
	char addr[SMX_ADDR_MAX];
	size_t used = 0;
	size_t n = 0;
	int i;
	int w;

	/* u%h1%h2...%h15@relay: exactly SMX_ADDR_DOMAINS_MAX domains. */
	w = snprintf(addr, sizeof(addr), "u");
	used = (size_t)w;
	for (i = 1; i < SMX_ADDR_DOMAINS_MAX; i++) {
		w = snprintf(addr + used, sizeof(addr) - used, "%%h%d.example",
		    i);
		ck_assert_uint_lt((size_t)w, sizeof(addr) - used);
		used += (size_t)w;
	}
	w = snprintf(addr + used, sizeof(addr) - used, "@relay.example");
	used += (size_t)w;
	ck_assert_int_eq(smx_addr_domains(addr, used, d, SMX_ADDR_DOMAINS_MAX,
	                     &n),
	    SMX_OK);
	ck_assert_uint_eq(n, SMX_ADDR_DOMAINS_MAX);
	ck_assert_str_eq(d[0].name, "relay.example");
	ck_assert_str_eq(d[1].name, "h15.example");
	ck_assert_str_eq(d[SMX_ADDR_DOMAINS_MAX - 1].name, "h1.example");
	/* The same with a max one lower is too many. */
	n = 77;
	ck_assert_int_eq(smx_addr_domains(addr, used, d,
	                     SMX_ADDR_DOMAINS_MAX - 1, &n),
	    SMX_INVALID);
	ck_assert_uint_eq(n, 77);
	/* Repeats do not count: 200 hops to the same domain are one. */
	used = 0;
	w = snprintf(addr, sizeof(addr), "u");
	used = (size_t)w;
	for (i = 0; i < 200; i++) {
		w = snprintf(addr + used, sizeof(addr) - used, "%%x.example");
		used += (size_t)w;
	}
	w = snprintf(addr + used, sizeof(addr) - used, "@X.example");
	used += (size_t)w;
	ck_assert_int_eq(smx_addr_domains(addr, used, d, 1, &n), SMX_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(d[0].name, "x.example");
	/* max 0 allows only addresses without a domain. */
	ck_assert_int_eq(smx_addr_domains("<>", 2, d, 0, &n), SMX_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(smx_addr_domains("a@b.example", 11, d, 0, &n),
	    SMX_INVALID);
	/* The unqualified entry counts. */
	ck_assert_int_eq(smx_addr_domains("bob", 3, d, 0, &n), SMX_INVALID);
	ck_assert_int_eq(smx_addr_domains("bob", 3, d, 1, &n), SMX_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(d[0].kind, SMX_ADDR_UNQUALIFIED);
	ck_assert_int_eq(smx_addr_domains("u%a.example", 11, d, 1, &n),
	    SMX_INVALID);
}
END_TEST

/* A bad IDN name is cut at SMX_DOMAIN_MAX bytes; a valid one is not. */
START_TEST(test_smx_addr_idn_length)
{
	struct smx_addr_domain d[SMX_ADDR_DOMAINS_MAX];
	char addr[600];
	size_t n = 0;

	memcpy(addr, "u@", 2);
	memset(addr + 2, '\xff', 300);
	ck_assert_int_eq(smx_addr_domains(addr, 302, d, SMX_ADDR_DOMAINS_MAX,
	                     &n),
	    SMX_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(d[0].kind, SMX_ADDR_BAD_IDN);
	ck_assert_uint_eq(strlen(d[0].name), SMX_DOMAIN_MAX);
	ck_assert_uint_eq(strspn(d[0].name, "?"), SMX_DOMAIN_MAX);
	/* Cut short, the name ends in '?'. */
	memset(addr + 2, 'a', 300);
	addr[302] = '\xff';
	ck_assert_int_eq(smx_addr_domains(addr, 303, d, SMX_ADDR_DOMAINS_MAX,
	                     &n),
	    SMX_OK);
	ck_assert_int_eq(d[0].kind, SMX_ADDR_BAD_IDN);
	ck_assert_uint_eq(strlen(d[0].name), SMX_DOMAIN_MAX);
	ck_assert_uint_eq(strspn(d[0].name, "a"), SMX_DOMAIN_MAX - 1);
	ck_assert_int_eq(d[0].name[SMX_DOMAIN_MAX - 1], '?');
	/* 60 'a's and U+00F6: an A-label of 68 bytes, too long. */
	memset(addr + 2, 'a', 60);
	memcpy(addr + 62, "\xc3\xb6.example", 10);
	ck_assert_int_eq(smx_addr_domains(addr, 72, d, SMX_ADDR_DOMAINS_MAX,
	                     &n),
	    SMX_OK);
	ck_assert_int_eq(d[0].kind, SMX_ADDR_BAD_IDN);
	/* 50 of them fit: an A-label of 58 bytes. */
	memcpy(addr + 10, "u@", 2);
	ck_assert_int_eq(smx_addr_domains(addr + 10, 62, d,
	                     SMX_ADDR_DOMAINS_MAX, &n),
	    SMX_OK);
	ck_assert_int_eq(d[0].kind, SMX_ADDR_DOMAIN);
	ck_assert_uint_eq(strlen(d[0].name), 58 + 8);
}
END_TEST

START_TEST(test_smx_addr_domain_length)
{
	struct smx_addr_domain d[SMX_ADDR_DOMAINS_MAX];
	char addr[600];
	size_t n = 0;
	size_t i;

	/* "u@" then a 253-byte host name: valid; with a trailing dot too. */
	memcpy(addr, "u@", 2);
	memset(addr + 2, 'a', 253);
	for (i = 2 + 50; i < 2 + 253; i += 51)
		addr[i] = '.';
	ck_assert_int_eq(smx_addr_domains(addr, 2 + 253, d,
	                     SMX_ADDR_DOMAINS_MAX, &n),
	    SMX_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(strlen(d[0].name), 253);
	addr[2 + 253] = '.';
	ck_assert_int_eq(smx_addr_domains(addr, 2 + 254, d,
	                     SMX_ADDR_DOMAINS_MAX, &n),
	    SMX_OK);
	ck_assert_uint_eq(strlen(d[0].name), 253);
	/* 254 bytes of name is too long. */
	addr[2 + 253] = 'a';
	ck_assert_int_eq(smx_addr_domains(addr, 2 + 254, d,
	                     SMX_ADDR_DOMAINS_MAX, &n),
	    SMX_INVALID);
	/* An address literal of SMX_DOMAIN_MAX bytes with its brackets. */
	memset(addr + 2, '1', 253);
	addr[2] = '[';
	addr[2 + 252] = ']';
	ck_assert_int_eq(smx_addr_domains(addr, 2 + 253, d,
	                     SMX_ADDR_DOMAINS_MAX, &n),
	    SMX_OK);
	ck_assert_int_eq(d[0].kind, SMX_ADDR_LITERAL);
	ck_assert_uint_eq(strlen(d[0].name), 253);
	addr[2 + 252] = '1';
	addr[2 + 253] = ']';
	ck_assert_int_eq(smx_addr_domains(addr, 2 + 254, d,
	                     SMX_ADDR_DOMAINS_MAX, &n),
	    SMX_INVALID);
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("smx_addr");
	TCase *tc;

	tc = tcase_create("domains");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_smx_addr_domains, 0,
	    sizeof(addr_cases) / sizeof(addr_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_smx_addr_length_limit);
	tcase_add_test(tc, test_smx_addr_domain_count);
	tcase_add_test(tc, test_smx_addr_domain_length);
	tcase_add_test(tc, test_smx_addr_idn_length);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(addr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
