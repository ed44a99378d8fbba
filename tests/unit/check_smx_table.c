/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/smx_table.c: text-table syntax, checks, lookups,
 * UTF-8 domain keys stored as A-labels, role counts.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smx_limits.h"
#include "smx_table.h"

#define FP32                                                                   \
	"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:"   \
	"67:89:AB:CD:EF:01:23:45:67:89"
#define FP16 "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"
#define FP15 "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee"
#define FP64 FP32 ":" FP32
#define FP65 FP64 ":00"
/* Input with NUL bytes: the text and its exact length. */
#define BIN(s) s, sizeof(s) - 1

/* Parse a C string (or n bytes of it) as table "t"; NULL on error. */
static struct smx_table *
parse_n(enum smx_table_type type, const char *text, size_t n, char *err,
    size_t errlen)
{
	struct smx_table *t = NULL;
	enum smx_status st;

	st = smx_table_parse("t", text, n, type, &t, err, errlen);
	if (st != SMX_OK) {
		ck_assert_ptr_null(t);
		return NULL;
	}
	ck_assert_ptr_nonnull(t);
	return t;
}

static struct smx_table *
parse_ok(enum smx_table_type type, const char *text)
{
	char err[512] = "";
	struct smx_table *t;

	t = parse_n(type, text, strlen(text), err, sizeof(err));
	ck_assert_msg(t != NULL, "unexpected error: %s", err);
	return t;
}

static const struct {
	enum smx_table_type type;
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *msg;
} error_cases[] = {
	{ SMX_TABLE_RECEIVER, "example.org\n", 0, "t, line 1: missing value" },
	{ SMX_TABLE_RECEIVER, "a.example sor\n\n# c\nexample.org   \n", 0,
	    "t, line 4: missing value" },
	{ SMX_TABLE_RECEIVER, "exa..mple sor\n", 0,
	    "t, line 1: bad domain name \"exa..mple\"" },
	{ SMX_TABLE_RECEIVER, ". sor\n", 0,
	    "t, line 1: bad domain name \".\"" },
	{ SMX_TABLE_RECEIVER, "..example.org sor\n", 0,
	    "t, line 1: bad domain name \"..example.org\"" },
	{ SMX_TABLE_RECEIVER, "example.org.. sor\n", 0,
	    "t, line 1: bad domain name \"example.org..\"" },
	{ SMX_TABLE_RECEIVER, "-example.org sor\n", 0,
	    "t, line 1: bad domain name \"-example.org\"" },
	{ SMX_TABLE_RECEIVER, "ex\xffmple.org sor\n", 0,
	    "t, line 1: bad domain name \"ex\xffmple.org\"" },
	{ SMX_TABLE_RECEIVER, "a.example sor\n# UTF-8 cut short\nex\xc3 sor\n",
	    0, "t, line 3: bad domain name \"ex\xc3\"" },
	{ SMX_TABLE_SENDER, ".\xe2\x98\x83.example sos\n", 0,
	    "t, line 1: bad domain name \".\xe2\x98\x83.example\"" },
	{ SMX_TABLE_DOMAINS, "-s\xc3\xb6r.example local\n", 0,
	    "t, line 1: bad domain name \"-s\xc3\xb6r.example\"" },
	{ SMX_TABLE_RECEIVER, "s\xc3\xb6r..example sor\n", 0,
	    "t, line 1: bad domain name \"s\xc3\xb6r..example\"" },
	{ SMX_TABLE_RECEIVER,
	    "s\xc3\xb6r.example sor\n.s\xc3\xb6r.example sor\n"
	    "XN--SR-FKA.example. ber\n",
	    0, "t, line 3: duplicate key \"xn--sr-fka.example\"" },
	{ SMX_TABLE_CCERT, "s\xc3\xb6r.example x\n", 0,
	    "t, line 1: bad fingerprint \"s\xc3\xb6r.example\"" },
	{ SMX_TABLE_RECEIVER, "[192.0.2.1] sor\n", 0,
	    "t, line 1: bad domain name \"[192.0.2.1]\"" },
	{ SMX_TABLE_RECEIVER, "\"example.org\" sor\n", 0,
	    "t, line 1: bad domain name \"\"example.org\"\"" },
	{ SMX_TABLE_RECEIVER, "example.org maybe\n", 0,
	    "t, line 1: bad value \"maybe\" (expected sor or ber)" },
	{ SMX_TABLE_RECEIVER, "example.org bes\n", 0,
	    "t, line 1: bad value \"bes\" (expected sor or ber)" },
	{ SMX_TABLE_RECEIVER, "example.org sor ber\n", 0,
	    "t, line 1: bad value \"sor ber\" (expected sor or ber)" },
	{ SMX_TABLE_RECEIVER, "example.org s\xc3\xb6r\n", 0,
	    "t, line 1: bad value \"s\xc3\xb6r\" (expected sor or ber)" },
	{ SMX_TABLE_RECEIVER, "example.org\n  maybe\n", 0,
	    "t, line 1: bad value \"maybe\" (expected sor or ber)" },
	{ SMX_TABLE_SENDER, "example.org sor\n", 0,
	    "t, line 1: bad value \"sor\" (expected sos or bes)" },
	{ SMX_TABLE_DESTINATION, "example.org ber\n", 0,
	    "t, line 1: bad value \"ber\" (expected sos or bes)" },
	{ SMX_TABLE_RECEIVER, "example.org ber\nEXAMPLE.ORG. sor\n", 0,
	    "t, line 2: duplicate key \"example.org\"" },
	{ SMX_TABLE_RECEIVER,
	    "a.example sor\nb.example ber\nc.example sor\nb.example ber\na.example sor\n",
	    0, "t, line 4: duplicate key \"b.example\"" },
	{ SMX_TABLE_SENDER, "\n  \n.example.org sos\n.EXAMPLE.org. bes\n", 0,
	    "t, line 4: duplicate key \".example.org\"" },
	{ SMX_TABLE_RECEIVER, " example.org sor\n", 0,
	    "t, line 1: continuation line before any entry" },
	{ SMX_TABLE_RECEIVER, "# c\n\n\tsor\n", 0,
	    "t, line 3: continuation line before any entry" },
	{ SMX_TABLE_RECEIVER, BIN("a.example sor\nb.ex\0ample sor\n"),
	    "t, line 2: NUL character" },
	{ SMX_TABLE_RECEIVER, BIN("# comment \0\n"),
	    "t, line 1: NUL character" },
	{ SMX_TABLE_RECEIVER, BIN("\0"), "t, line 1: NUL character" },
	{ SMX_TABLE_RECEIVER, "a.example sor\rb.example ber\n", 0,
	    "t, line 1: bare CR character" },
	{ SMX_TABLE_RECEIVER, "a.example sor\r", 0,
	    "t, line 1: bare CR character" },
	{ SMX_TABLE_RECEIVER, "a.example sor\n\r\r\n", 0,
	    "t, line 2: bare CR character" },
	{ SMX_TABLE_RECEIVER,
	    "a.example sor\n\x01"
	    "b.example sor\n",
	    0, "t, line 2: control character" },
	{ SMX_TABLE_RECEIVER, "a.example s\x7for\n", 0,
	    "t, line 1: control character" },
	{ SMX_TABLE_CCERT, "AB:CD x\n", 0,
	    "t, line 1: bad fingerprint \"AB:CD\"" },
	{ SMX_TABLE_CCERT, FP15 " x\n", 0,
	    "t, line 1: bad fingerprint \"" FP15 "\"" },
	{ SMX_TABLE_CCERT, FP65 " x\n", 0,
	    "t, line 1: bad fingerprint \"" FP65 "\"" },
	{ SMX_TABLE_CCERT, FP16 ": x\n", 0,
	    "t, line 1: bad fingerprint \"" FP16 ":\"" },
	{ SMX_TABLE_CCERT,
	    "0G:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff x\n", 0,
	    "t, line 1: bad fingerprint \"0G:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\"" },
	{ SMX_TABLE_CCERT,
	    "00-11-22-33-44-55-66-77-88-99-aa-bb-cc-dd-ee-ff x\n", 0,
	    "t, line 1: bad fingerprint \"00-11-22-33-44-55-66-77-88-99-aa-bb-cc-dd-ee-ff\"" },
	{ SMX_TABLE_CCERT, "example.org x\n", 0,
	    "t, line 1: bad fingerprint \"example.org\"" },
	{ SMX_TABLE_CCERT, FP16 "\n", 0, "t, line 1: missing value" },
	{ SMX_TABLE_CCERT,
	    FP16 " a\n"
	         "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF b\n",
	    0, "t, line 2: duplicate key \"" FP16 "\"" },
};

START_TEST(test_smx_table_parse_errors)
{
	struct smx_table *t = (struct smx_table *)&t; /* must stay untouched */
	size_t len = error_cases[_i].len ? error_cases[_i].len
	                                 : strlen(error_cases[_i].in);
	char err[512] = "";
	enum smx_status st;

	st = smx_table_parse("t", error_cases[_i].in, len, error_cases[_i].type,
	    &t, err, sizeof(err));
	ck_assert_int_eq(st, SMX_INVALID);
	ck_assert_str_eq(err, error_cases[_i].msg);
	ck_assert_ptr_eq(t, (struct smx_table *)&t);
}
END_TEST

START_TEST(test_smx_table_error_buffer)
{
	struct smx_table *t = NULL;
	char err[12];

	/* A short buffer gets a truncated, terminated message; none at all
	 * is fine too. */
	ck_assert_int_eq(smx_table_parse("t", "x\n", 2, SMX_TABLE_RECEIVER, &t,
	                     err, sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err, "t, line 1: ");
	ck_assert_int_eq(smx_table_parse("t", "x\n", 2, SMX_TABLE_RECEIVER, &t,
	                     NULL, 0),
	    SMX_INVALID);
	ck_assert_ptr_null(t);
}
END_TEST

static const struct {
	const char *query;
	const char *value; /* NULL: not found */
} lookup_cases[] = {
	{ "example.org", "sor" },
	{ "EXAMPLE.ORG.", "sor" },
	{ "eXaMpLe.OrG", "sor" },
	{ "a.example.org", "ber" },
	{ "A.B.Example.Org.", "ber" },
	{ "example.org.evil", NULL },
	{ "notexample.org", NULL },
	{ "org", NULL },
	{ "mail.example.com", "sor" },
	{ "MAIL.example.com.", "sor" },
	{ "x.mail.example.com", NULL },
	{ "example.com", NULL },
	{ "example.net", NULL },
	{ "a.example.net", "ber" },
	{ "deep.example.net", "ber" },
	{ "x.deep.example.net", "sor" },
	{ "y.x.deep.example.net", "sor" },
	{ "xdeep.example.net", "ber" },
	{ "cont.example", "ber" },
	{ "", NULL },
	{ ".", NULL },
	{ ".example.org", NULL },
	{ "a..example.org", NULL },
	{ "exa mple.org", NULL },
	{ "a.example.org..", NULL },
	{ "\xc3\xa4.example.org", NULL },
	{ "user@example.org", NULL },
};

static struct smx_table *roles;

static void
roles_setup(void)
{
	char err[512] = "";
	enum smx_status st;

	roles = NULL;
	st = smx_table_load(SMX_TEST_DATA "/conf/receiver_roles",
	    SMX_TABLE_RECEIVER, &roles, err, sizeof(err));
	ck_assert_msg(st == SMX_OK, "%s", err);
}

static void
roles_teardown(void)
{
	smx_table_free(roles);
	roles = NULL;
}

START_TEST(test_smx_table_lookup_domain)
{
	const char *q = lookup_cases[_i].query;
	const char *v = smx_table_lookup_domain(roles, q, strlen(q));

	if (lookup_cases[_i].value == NULL)
		ck_assert_msg(v == NULL, "%s: got %s", q, v);
	else
		ck_assert_msg(v != NULL &&
		        strcmp(v, lookup_cases[_i].value) == 0,
		    "%s: got %s", q, v ? v : "(null)");
}
END_TEST

START_TEST(test_smx_table_lookup_length)
{
	/* Only len bytes of the query count. */
	ck_assert_str_eq(smx_table_lookup_domain(roles, "a.example.orgXYZ", 13),
	    "ber");
	ck_assert_str_eq(smx_table_lookup_domain(roles, "example.org\0junk",
	                     11),
	    "sor");
	ck_assert_ptr_null(
	    smx_table_lookup_domain(roles, "example.org\0junk", 16));
	ck_assert_ptr_null(smx_table_lookup_domain(roles, "example.org", 0));
	ck_assert_uint_eq(smx_table_count(roles), 6);
	/* Exact lookups do not match parents. */
	ck_assert_str_eq(smx_table_lookup_exact(roles, ".EXAMPLE.org"), "ber");
	ck_assert_ptr_null(smx_table_lookup_exact(roles, "a.example.org"));
	/* No table, no answer. */
	ck_assert_ptr_null(smx_table_lookup_domain(NULL, "example.org", 11));
	ck_assert_ptr_null(smx_table_lookup_exact(NULL, "example.org"));
	ck_assert_uint_eq(smx_table_count(NULL), 0);
	smx_table_free(NULL);
}
END_TEST

START_TEST(test_smx_table_syntax)
{
	struct smx_table *t;

	/* Continuation after blank and comment lines; CRLF; no final
	 * newline; trailing white space; keys and values folded. */
	t = parse_ok(SMX_TABLE_RECEIVER,
	    "# comment\n"
	    "  # indented comment\n"
	    "\n"
	    "   \t \n"
	    "one.example\n"
	    "\n"
	    "# between\n"
	    "\t  BER   \t\n"
	    "two.example\tsor\r\n"
	    "\r\n"
	    "three.example sor");
	ck_assert_uint_eq(smx_table_count(t), 3);
	ck_assert_str_eq(smx_table_lookup_domain(t, "one.example", 11), "ber");
	ck_assert_str_eq(smx_table_lookup_domain(t, "two.example", 11), "sor");
	ck_assert_str_eq(smx_table_lookup_domain(t, "three.example", 13),
	    "sor");
	smx_table_free(t);

	/* Empty input and comments only: an empty table. */
	t = parse_ok(SMX_TABLE_SENDER, "");
	ck_assert_uint_eq(smx_table_count(t), 0);
	ck_assert_ptr_null(smx_table_lookup_domain(t, "example.org", 11));
	smx_table_free(t);
	t = parse_ok(SMX_TABLE_SENDER, "# nothing\n\n");
	ck_assert_uint_eq(smx_table_count(t), 0);
	smx_table_free(t);
}
END_TEST

START_TEST(test_smx_table_values)
{
	struct smx_table *t;

	t = parse_ok(SMX_TABLE_SENDER, "a.example SOS\n.a.example Bes\n");
	ck_assert_str_eq(smx_table_lookup_domain(t, "a.example", 9), "sos");
	ck_assert_str_eq(smx_table_lookup_domain(t, "b.a.example", 11), "bes");
	smx_table_free(t);

	t = parse_ok(SMX_TABLE_DESTINATION, "partner.example sos\n");
	ck_assert_str_eq(smx_table_lookup_domain(t, "partner.example", 15),
	    "sos");
	smx_table_free(t);

	/* Fingerprints: any case in, any case out; values kept as written,
	 * inner white space and non-ASCII included. */
	t = parse_ok(SMX_TABLE_CCERT,
	    FP32 " Relay One\n" FP16 " first\n\tsecond  \n" FP64
	         " r\xc3\xa4y\n");
	ck_assert_uint_eq(smx_table_count(t), 3);
	ck_assert_str_eq(smx_table_lookup_exact(t, FP32), "Relay One");
	ck_assert_str_eq(
	    smx_table_lookup_exact(t,
	        "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"),
	    "Relay One");
	ck_assert_str_eq(smx_table_lookup_exact(t,
	                     "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"),
	    "first\tsecond");
	ck_assert_str_eq(smx_table_lookup_exact(t, FP64), "r\xc3\xa4y");
	ck_assert_ptr_null(smx_table_lookup_exact(t, FP15));
	ck_assert_ptr_null(smx_table_lookup_exact(t, FP16 ":00"));
	ck_assert_ptr_null(smx_table_lookup_exact(t, ""));
	smx_table_free(t);
}
END_TEST

/*
 * Domain keys in UTF-8 are stored as A-labels: lookups with the A-label
 * form (what smx_decide and secmx-lookup pass) find them; a ".parent"
 * key in UTF-8 is a parent pattern.
 */
START_TEST(test_smx_table_utf8_keys)
{
	struct smx_table *t;

	t = parse_ok(SMX_TABLE_RECEIVER,
	    "S\xc3\x96R.example. sor\n"
	    ".b\xc3\xbc"
	    "cher.example ber\n"
	    "xn--mgb2d.example sor\n"
	    "a.\xd8\xa7\xd9\x84.example ber\n");
	ck_assert_uint_eq(smx_table_count(t), 4);
	ck_assert_str_eq(smx_table_lookup_domain(t, "xn--sr-fka.example", 18),
	    "sor");
	ck_assert_str_eq(smx_table_lookup_domain(t, "XN--SR-FKA.example.", 19),
	    "sor");
	ck_assert_str_eq(smx_table_lookup_domain(t, "a.xn--bcher-kva.example",
	                     23),
	    "ber");
	ck_assert_ptr_null(
	    smx_table_lookup_domain(t, "xn--bcher-kva.example", 21));
	ck_assert_str_eq(smx_table_lookup_domain(t, "xn--mgb2d.example", 17),
	    "sor");
	ck_assert_str_eq(smx_table_lookup_domain(t, "a.xn--mgb2d.example", 19),
	    "ber");
	ck_assert_str_eq(smx_table_lookup_exact(t, ".xn--bcher-kva.example"),
	    "ber");
	/* Lookups take the ASCII form only: conversion is the caller's. */
	ck_assert_ptr_null(
	    smx_table_lookup_domain(t, "s\xc3\xb6r.example", 12));
	smx_table_free(t);

	/* The other domain tables too: inline local_domains use this. */
	t = parse_ok(SMX_TABLE_DOMAINS, "s\xc3\xb6r.example local\n");
	ck_assert_str_eq(smx_table_lookup_domain(t, "xn--sr-fka.example", 18),
	    "local");
	smx_table_free(t);
}
END_TEST

/*
 * Keys whose A-labels are longer than their UTF-8 ("\xc3\xb6" is 2 bytes,
 * "xn--nda" 7) grow the pool past the size of the input, many times.
 */
START_TEST(test_smx_table_utf8_growth)
{
	const size_t n = 20000;
	struct smx_table *t;
	char err[512] = "";
	char key[64];
	char *s = malloc(n * 16 + 1);
	size_t len = 0;
	size_t i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++) {
		int w = snprintf(s + len, 17, "\xc3\xb6.d%zu sor\n", i);

		ck_assert_int_gt(w, 0);
		ck_assert_int_lt(w, 17);
		len += (size_t)w;
	}
	t = parse_n(SMX_TABLE_RECEIVER, s, len, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_uint_eq(smx_table_count(t), n);
	ck_assert_uint_eq(smx_table_count_role(t, "sor"), n);
	for (i = 0; i < n; i += 997) {
		int w = snprintf(key, sizeof(key), "xn--nda.d%zu", i);

		ck_assert_str_eq(smx_table_lookup_domain(t, key, (size_t)w),
		    "sor");
	}
	ck_assert_str_eq(smx_table_lookup_domain(t, "xn--nda.d19999", 14),
	    "sor");
	smx_table_free(t);
	free(s);
}
END_TEST

START_TEST(test_smx_table_count_role)
{
	struct smx_table *t;

	t = parse_ok(SMX_TABLE_RECEIVER,
	    "a.example sor\nb.example BER\n.c.example Sor\n");
	ck_assert_uint_eq(smx_table_count_role(t, "sor"), 2);
	ck_assert_uint_eq(smx_table_count_role(t, "SOR"), 2);
	ck_assert_uint_eq(smx_table_count_role(t, "ber"), 1);
	ck_assert_uint_eq(smx_table_count_role(t, "bes"), 0);
	ck_assert_uint_eq(smx_table_count_role(t, ""), 0);
	smx_table_free(t);

	t = parse_ok(SMX_TABLE_RECEIVER, "a.example ber\n");
	ck_assert_uint_eq(smx_table_count_role(t, "sor"), 0);
	smx_table_free(t);

	t = parse_ok(SMX_TABLE_SENDER, "a.example sos\nb.example bes\n");
	ck_assert_uint_eq(smx_table_count_role(t, "sos"), 1);
	ck_assert_uint_eq(smx_table_count_role(t, "bes"), 1);
	ck_assert_uint_eq(smx_table_count_role(t, "sor"), 0);
	smx_table_free(t);

	/* Not a role table: no roles. */
	t = parse_ok(SMX_TABLE_DOMAINS, "a.example sor\n");
	ck_assert_uint_eq(smx_table_count_role(t, "sor"), 0);
	smx_table_free(t);
	ck_assert_uint_eq(smx_table_count_role(NULL, "sor"), 0);
}
END_TEST

/*
 * The sample receiver_roles of README.md loads as written: the indented
 * block that starts with "# /etc/secmx/receiver_roles".
 */
START_TEST(test_smx_table_readme_sample)
{
	static const char indent[] = "       ";
	char text[4096];
	char line[512];
	char err[512] = "";
	struct smx_table *t;
	size_t len = 0;
	int is_in = 0;
	FILE *fp;

	fp = fopen(SMX_TEST_DATA "/../../README.md", "r");
	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		size_t n;

		if (!is_in) {
			is_in =
			    strcmp(line,
			        "       # /etc/secmx/receiver_roles\n") == 0;
			continue;
		}
		if (strncmp(line, indent, sizeof(indent) - 1) != 0)
			break;
		n = strlen(line) - (sizeof(indent) - 1);
		ck_assert_uint_lt(len + n, sizeof(text));
		memcpy(text + len, line + sizeof(indent) - 1, n);
		len += n;
	}
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_uint_gt(len, 0);
	t = parse_n(SMX_TABLE_RECEIVER, text, len, err, sizeof(err));
	ck_assert_msg(t != NULL, "README.md sample: %s", err);
	ck_assert_str_eq(smx_table_lookup_domain(t, "sor.example", 11), "sor");
	ck_assert_str_eq(smx_table_lookup_domain(t, "a.sor.example", 13),
	    "sor");
	ck_assert_str_eq(smx_table_lookup_domain(t, "ber.example", 11), "ber");
	ck_assert_str_eq(smx_table_lookup_domain(t, "xn--sr-fka.example", 18),
	    "sor");
	smx_table_free(t);
}
END_TEST

/* A table line of exactly n bytes: key, value, then padding. */
static char *
padded_line(const char *entry, size_t n, size_t pad_at)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, ' ', n);
	memcpy(s, entry, strlen(entry));
	if (pad_at > 0)
		s[pad_at] =
		    '\n'; /* continuation: the rest starts with spaces */
	s[n] = '\0';
	return s;
}

START_TEST(test_smx_table_line_limit)
{
	char err[512] = "";
	struct smx_table *t;
	char *s;

	s = padded_line("example.org sor", SMX_TABLE_LINE_MAX, 0);
	t = parse_ok(SMX_TABLE_RECEIVER, s);
	ck_assert_str_eq(smx_table_lookup_domain(t, "example.org", 11), "sor");
	smx_table_free(t);
	free(s);

	s = padded_line("example.org sor", SMX_TABLE_LINE_MAX + 1, 0);
	ck_assert_ptr_null(
	    parse_n(SMX_TABLE_RECEIVER, s, strlen(s), err, sizeof(err)));
	ck_assert_str_eq(err, "t, line 1: line too long (over 8192 bytes)");
	free(s);

	/* The logical line counts: "example.org" LF, then spaces and "sor";
	 * the line break is not part of it. */
	s = padded_line("example.org  sor", SMX_TABLE_LINE_MAX + 1, 11);
	t = parse_ok(SMX_TABLE_RECEIVER, s);
	smx_table_free(t);
	free(s);
	s = padded_line("example.org  sor", SMX_TABLE_LINE_MAX + 2, 11);
	ck_assert_ptr_null(
	    parse_n(SMX_TABLE_RECEIVER, s, strlen(s), err, sizeof(err)));
	ck_assert_str_eq(err, "t, line 1: line too long (over 8192 bytes)");
	free(s);
}
END_TEST

START_TEST(test_smx_table_value_limit)
{
	char line[sizeof(FP16) + SMX_TABLE_VALUE_MAX + 2];
	char err[512] = "";
	struct smx_table *t;
	size_t n = sizeof(FP16); /* key and one space */

	memcpy(line, FP16 " ", n);
	memset(line + n, 'v', SMX_TABLE_VALUE_MAX);
	line[n + SMX_TABLE_VALUE_MAX] = '\0';
	t = parse_ok(SMX_TABLE_CCERT, line);
	ck_assert_uint_eq(strlen(smx_table_lookup_exact(t, FP16)),
	    SMX_TABLE_VALUE_MAX);
	smx_table_free(t);

	line[n + SMX_TABLE_VALUE_MAX] = 'v';
	line[n + SMX_TABLE_VALUE_MAX + 1] = '\0';
	ck_assert_ptr_null(
	    parse_n(SMX_TABLE_CCERT, line, strlen(line), err, sizeof(err)));
	ck_assert_str_eq(err, "t, line 1: value too long (over 1024 bytes)");
}
END_TEST

/* n entries "dNNNNNNN sor", one per line. */
static char *
many_entries(size_t n, size_t *len)
{
	const size_t line = 13;
	char *s = malloc(n * line + 1);
	size_t i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++) {
		int w = snprintf(s + i * line, line + 1, "d%07zu sor\n", i);

		ck_assert_int_eq(w, (int)line);
	}
	*len = n * line;
	return s;
}

START_TEST(test_smx_table_entries_limit)
{
	struct smx_table *t;
	char err[512] = "";
	size_t len;
	char *s;

	s = many_entries(SMX_TABLE_ENTRIES_MAX + 1, &len);
	ck_assert_ptr_null(
	    parse_n(SMX_TABLE_RECEIVER, s, len, err, sizeof(err)));
	ck_assert_str_eq(err, "t, line 1000001: more than 1000000 entries");
	t = parse_n(SMX_TABLE_RECEIVER, s, len - 13, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	ck_assert_uint_eq(smx_table_count(t), SMX_TABLE_ENTRIES_MAX);
	ck_assert_str_eq(smx_table_lookup_domain(t, "d0000000", 8), "sor");
	ck_assert_str_eq(smx_table_lookup_domain(t, "D0999999.", 9), "sor");
	ck_assert_ptr_null(smx_table_lookup_domain(t, "d1000000", 8));
	smx_table_free(t);
	free(s);
}
END_TEST

static char tmpdir[] = "/tmp/check_smx_table.XXXXXX";

static void
tmp_setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
tmp_teardown(void)
{
	char path[sizeof(tmpdir) + 16];

	snprintf(path, sizeof(path), "%s/big", tmpdir);
	(void)unlink(path);
	ck_assert_int_eq(rmdir(tmpdir), 0);
}

START_TEST(test_smx_table_file_limit)
{
	char path[sizeof(tmpdir) + 16];
	char want[sizeof(path) + 64];
	struct smx_table *t = NULL;
	char err[512] = "";
	int fd;

	snprintf(path, sizeof(path), "%s/big", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	/* Sparse: exactly at the limit is read, and fails on its content. */
	ck_assert_int_eq(ftruncate(fd, SMX_TABLE_FILE_MAX), 0);
	ck_assert_int_eq(smx_table_load(path, SMX_TABLE_RECEIVER, &t, err,
	                     sizeof(err)),
	    SMX_INVALID);
	snprintf(want, sizeof(want), "%s, line 1: NUL character", path);
	ck_assert_str_eq(err, want);
	/* One byte more is refused before reading. */
	ck_assert_int_eq(ftruncate(fd, SMX_TABLE_FILE_MAX + 1), 0);
	ck_assert_int_eq(smx_table_load(path, SMX_TABLE_RECEIVER, &t, err,
	                     sizeof(err)),
	    SMX_INVALID);
	snprintf(want, sizeof(want), "%s: file too large (over 67108864 bytes)",
	    path);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_smx_table_load)
{
	struct smx_table *t = NULL;
	char err[512] = "";

	ck_assert_int_eq(smx_table_load(SMX_TEST_DATA
	                     "/conf/receiver_roles_crlf",
	                     SMX_TABLE_RECEIVER, &t, err, sizeof(err)),
	    SMX_OK);
	ck_assert_str_eq(smx_table_lookup_domain(t, "example.org", 11), "sor");
	ck_assert_str_eq(smx_table_lookup_domain(t, "a.example.org", 13),
	    "ber");
	smx_table_free(t);
	t = NULL;

	ck_assert_int_eq(smx_table_load(SMX_TEST_DATA "/conf/sor_client_certs",
	                     SMX_TABLE_CCERT, &t, err, sizeof(err)),
	    SMX_OK);
	ck_assert_str_eq(smx_table_lookup_exact(t, FP32),
	    "mx1.partner.example");
	ck_assert_str_eq(
	    smx_table_lookup_exact(t,
	        "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33"),
	    "backup relay (2026)");
	smx_table_free(t);
	t = NULL;

	ck_assert_int_eq(smx_table_load(SMX_TEST_DATA
	                     "/conf/receiver_roles_bad",
	                     SMX_TABLE_RECEIVER, &t, err, sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err,
	    SMX_TEST_DATA
	    "/conf/receiver_roles_bad, line 4: bad value \"maybe\" (expected sor or ber)");
	/* The same file, the wrong type. */
	ck_assert_int_eq(smx_table_load(SMX_TEST_DATA "/conf/sender_roles",
	                     SMX_TABLE_RECEIVER, &t, err, sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err,
	    SMX_TEST_DATA
	    "/conf/sender_roles, line 2: bad value \"sos\" (expected sor or ber)");

	ck_assert_int_eq(smx_table_load(SMX_TEST_DATA "/conf/no-such-file",
	                     SMX_TABLE_RECEIVER, &t, err, sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err,
	    SMX_TEST_DATA "/conf/no-such-file: No such file or directory");
	ck_assert_int_eq(smx_table_load(SMX_TEST_DATA "/conf",
	                     SMX_TABLE_RECEIVER, &t, err, sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err, SMX_TEST_DATA "/conf: not a regular file");
	ck_assert_int_eq(smx_table_load(SMX_TEST_DATA "/conf/no-such-file",
	                     SMX_TABLE_RECEIVER, &t, NULL, 0),
	    SMX_INVALID);
	ck_assert_ptr_null(t);
}
END_TEST

static Suite *
table_suite(void)
{
	Suite *s = suite_create("smx_table");
	TCase *tc;

	tc = tcase_create("errors");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_smx_table_parse_errors, 0,
	    sizeof(error_cases) / sizeof(error_cases[0]));
	tcase_add_test(tc, test_smx_table_error_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("lookup");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, roles_setup, roles_teardown);
	tcase_add_loop_test(tc, test_smx_table_lookup_domain, 0,
	    sizeof(lookup_cases) / sizeof(lookup_cases[0]));
	tcase_add_test(tc, test_smx_table_lookup_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("syntax");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_smx_table_syntax);
	tcase_add_test(tc, test_smx_table_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("idn");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_smx_table_utf8_keys);
	tcase_add_test(tc, test_smx_table_utf8_growth);
	tcase_add_test(tc, test_smx_table_count_role);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_smx_table_line_limit);
	tcase_add_test(tc, test_smx_table_value_limit);
	tcase_add_test(tc, test_smx_table_entries_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_smx_table_file_limit);
	tcase_add_test(tc, test_smx_table_load);
	tcase_add_test(tc, test_smx_table_readme_sample);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(table_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
