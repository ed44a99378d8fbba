/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/smx_dns.c: the nameserver list parser and the
 * wire-format reply parsers on packets built byte by byte here. No network: the
 * lookups are only run where they must fail before sending anything.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smx_dns.h"

/* ---------------------------------------------------------------- */
/* Nameserver list                                                   */

static const struct {
	const char *in;
	size_t len; /* 0: strlen */
	enum smx_status st;
	size_t n;
	const char *addr0;
	unsigned port0;
	const char *addr_last;
	unsigned port_last;
} ns_cases[] = {
	{ "127.0.0.1", 0, SMX_OK, 1, "127.0.0.1", 53, "127.0.0.1", 53 },
	{ "127.0.0.1:5353", 0, SMX_OK, 1, "127.0.0.1", 5353, "127.0.0.1",
	    5353 },
	{ "[::1]:5300", 0, SMX_OK, 1, "::1", 5300, "::1", 5300 },
	{ "[::1]", 0, SMX_OK, 1, "::1", 53, "::1", 53 },
	{ "::1", 0, SMX_OK, 1, "::1", 53, "::1", 53 },
	{ "2001:DB8:0::1", 0, SMX_OK, 1, "2001:db8::1", 53, "2001:db8::1", 53 },
	{ "127.0.0.1:5300, [::1]:5301\t10.0.0.1", 0, SMX_OK, 3, "127.0.0.1",
	    5300, "10.0.0.1", 53 },
	{ ",,127.0.0.2:65535,,", 0, SMX_OK, 1, "127.0.0.2", 65535, "127.0.0.2",
	    65535 },
	{ "1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5 6.6.6.6 7.7.7.7 8.8.8.8", 0,
	    SMX_OK, 8, "1.1.1.1", 53, "8.8.8.8", 53 },
	{ "", 0, SMX_OK, 0, NULL, 0, NULL, 0 },
	{ " , \t", 0, SMX_OK, 0, NULL, 0, NULL, 0 },
	/* bad */
	{ "1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4 5.5.5.5 6.6.6.6 7.7.7.7 8.8.8.8 "
	  "9.9.9.9",
	    0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "localhost", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "127.0.0.1:0", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "127.0.0.1:65536", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "127.0.0.1:", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "127.0.0.1:53x", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "127.0.0.1:-53", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "[::1", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "[::1]5300", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "[::1]:", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "[127.0.0.1]:53", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "1.2.3", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "fe80::1%eth0", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "127.0.0.1\n", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "127.0.0.1\r", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "127.0.0.1\0 ::1", 15, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "127.0.0.\xc3\xa9", 0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
	{ "[1111:2222:3333:4444:5555:6666:7777:8888]:53535555555555555555555",
	    0, SMX_INVALID, 0, NULL, 0, NULL, 0 },
};

START_TEST(test_smx_dns_servers_parse)
{
	struct smx_dns_servers out;
	char reason[SMX_DNS_REASON_MAX] = "";
	size_t len =
	    ns_cases[_i].len ? ns_cases[_i].len : strlen(ns_cases[_i].in);
	enum smx_status st;

	memset(&out, 0xa5, sizeof(out));
	st = smx_dns_servers_parse(ns_cases[_i].in, len, &out, reason,
	    sizeof(reason));
	ck_assert_msg(st == ns_cases[_i].st, "case %d \"%s\": %s (%s)", _i,
	    ns_cases[_i].in, smx_status_name(st), reason);
	if (st != SMX_OK) {
		ck_assert_str_ne(reason, "");
		ck_assert_uint_eq(out.n_servers,
		    (size_t)0xa5a5a5a5a5a5a5a5ULL); /* untouched */
		return;
	}
	ck_assert_uint_eq(out.n_servers, ns_cases[_i].n);
	if (ns_cases[_i].n == 0)
		return;
	ck_assert_str_eq(out.server[0].addr, ns_cases[_i].addr0);
	ck_assert_uint_eq(out.server[0].port, ns_cases[_i].port0);
	ck_assert_str_eq(out.server[out.n_servers - 1].addr,
	    ns_cases[_i].addr_last);
	ck_assert_uint_eq(out.server[out.n_servers - 1].port,
	    ns_cases[_i].port_last);
}
END_TEST

START_TEST(test_smx_dns_servers_parse_limits)
{
	char text[SMX_DNS_SERVERS_TEXT_MAX + 1];
	struct smx_dns_servers out;
	char reason[SMX_DNS_REASON_MAX];

	/* Exactly at the cap (separators around one server) is fine. */
	memset(text, ' ', sizeof(text));
	memcpy(text, "127.0.0.1", 9);
	ck_assert_int_eq(smx_dns_servers_parse(text, SMX_DNS_SERVERS_TEXT_MAX,
	                     &out, reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(out.n_servers, 1);
	ck_assert_int_eq(smx_dns_servers_parse(text,
	                     SMX_DNS_SERVERS_TEXT_MAX + 1, &out, reason,
	                     sizeof(reason)),
	    SMX_INVALID);
	/* Only len bytes count. */
	ck_assert_int_eq(smx_dns_servers_parse("127.0.0.1:5353", 9, &out,
	                     reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(out.server[0].port, 53);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Wire packets                                                      */

#define QR 0x8000
#define TC 0x0200
#define RD 0x0100
#define RA 0x0080
#define AD 0x0020
#define T_A 1
#define T_CNAME 5
#define T_SOA 6
#define T_MX 15
#define T_AAAA 28
#define T_SRV 33
#define T_TLSA 52
#define C_IN 1
#define C_CH 3

struct pkt {
	unsigned char b[8192];
	size_t len;
	size_t ancount_at;
	uint16_t ancount;
};

static void
put8(struct pkt *p, unsigned v)
{
	ck_assert_uint_lt(p->len, sizeof(p->b));
	p->b[p->len++] = (unsigned char)v;
}

static void
put16(struct pkt *p, unsigned v)
{
	put8(p, (v >> 8) & 0xff);
	put8(p, v & 0xff);
}

static void
put_bytes(struct pkt *p, const void *v, size_t len)
{
	ck_assert_uint_le(p->len + len, sizeof(p->b));
	memcpy(p->b + p->len, v, len);
	p->len += len;
}

/* Labels from dotted text; "." is the root. Bytes are copied raw. */
static void
put_name(struct pkt *p, const char *name)
{
	const char *dot;
	size_t n;

	while (*name != '\0' && strcmp(name, ".") != 0) {
		dot = strchr(name, '.');
		n = dot ? (size_t)(dot - name) : strlen(name);
		put8(p, (unsigned)n);
		put_bytes(p, name, n);
		name += n + (dot ? 1 : 0);
	}
	put8(p, 0);
}

/* Header and one question; answer records are counted as they come. */
static void
start(struct pkt *p, unsigned id, unsigned flags, const char *qname,
    unsigned qtype)
{
	memset(p, 0, sizeof(*p));
	put16(p, id);
	put16(p, flags);
	put16(p, 1);
	p->ancount_at = p->len;
	put16(p, 0);
	put16(p, 0);
	put16(p, 0);
	put_name(p, qname);
	put16(p, qtype);
	put16(p, C_IN);
}

static void
rr_begin(struct pkt *p, const char *owner, unsigned type, unsigned klass)
{
	put_name(p, owner);
	put16(p, type);
	put16(p, klass);
	put16(p, 0);
	put16(p, 300);
	p->ancount++;
	p->b[p->ancount_at] = (unsigned char)(p->ancount >> 8);
	p->b[p->ancount_at + 1] = (unsigned char)p->ancount;
}

static void
rr_raw(struct pkt *p, const char *owner, unsigned type, unsigned klass,
    const void *rdata, size_t rdlen)
{
	rr_begin(p, owner, type, klass);
	put16(p, (unsigned)rdlen);
	put_bytes(p, rdata, rdlen);
}

/* An RR whose rdata is ints (16-bit) then a name. */
static void
rr_ints_name(struct pkt *p, const char *owner, unsigned type, unsigned klass,
    const unsigned *ints, size_t n_ints, const char *target)
{
	struct pkt rd;
	size_t i;

	memset(&rd, 0, sizeof(rd));
	for (i = 0; i < n_ints; i++)
		put16(&rd, ints[i]);
	put_name(&rd, target);
	rr_raw(p, owner, type, klass, rd.b, rd.len);
}

static void
rr_srv(struct pkt *p, const char *owner, unsigned prio, unsigned weight,
    unsigned port, const char *target)
{
	const unsigned v[3] = { prio, weight, port };

	rr_ints_name(p, owner, T_SRV, C_IN, v, 3, target);
}

static void
rr_mx(struct pkt *p, const char *owner, unsigned pref, const char *exchange)
{
	rr_ints_name(p, owner, T_MX, C_IN, &pref, 1, exchange);
}

#define QN "_secmx._tcp.example.org"
#define ID 0x4242

/* SRV cases: each builds a reply to SRV QN with ID. */
static void
b_good(struct pkt *p)
{
	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_srv(p, QN, 10, 60, 2525, "MX1.Example.org");
	rr_srv(p, QN, 10, 40, 2525, "mx2.example.org.");
	rr_srv(p, QN, 20, 0, 25, "backup.example.net");
}

static void
b_ad(struct pkt *p)
{
	start(p, ID, QR | RD | RA | AD, QN, T_SRV);
	rr_srv(p, QN, 0, 0, 25, "mx.example.org");
}

static void
b_wrong_id(struct pkt *p)
{
	start(p, ID + 1, QR | RD | RA, QN, T_SRV);
	rr_srv(p, QN, 0, 0, 25, "mx.example.org");
}

static void
b_wrong_qname(struct pkt *p)
{
	start(p, ID, QR | RD | RA, "_secmx._tcp.example.com", T_SRV);
	rr_srv(p, QN, 0, 0, 25, "mx.example.org");
}

static void
b_wrong_qtype(struct pkt *p)
{
	start(p, ID, QR | RD | RA, QN, T_MX);
	rr_srv(p, QN, 0, 0, 25, "mx.example.org");
}

static void
b_not_reply(struct pkt *p)
{
	start(p, ID, RD, QN, T_SRV);
	rr_srv(p, QN, 0, 0, 25, "mx.example.org");
}

static void
b_no_question(struct pkt *p)
{
	start(p, ID, QR | RD | RA, QN, T_SRV);
	p->b[5] = 0; /* qdcount 0: the question bytes become garbage */
	p->len = 12;
}

static void
b_nxdomain(struct pkt *p)
{
	start(p, ID, QR | RD | RA | 3, QN, T_SRV);
}

static void
b_nodata(struct pkt *p)
{
	static const unsigned char soa[] = { 0,
		0, /* mname and rname: the root */
		0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5 };

	start(p, ID, QR | RD | RA, QN, T_SRV);
	/* The SOA goes to the authority section: nscount 1. */
	put_name(p, "example.org");
	put16(p, T_SOA);
	put16(p, C_IN);
	put16(p, 0);
	put16(p, 300);
	put16(p, sizeof(soa));
	put_bytes(p, soa, sizeof(soa));
	p->b[9] = 1;
}

static void
b_servfail(struct pkt *p)
{
	start(p, ID, QR | RD | RA | 2, QN, T_SRV);
}

static void
b_refused(struct pkt *p)
{
	start(p, ID, QR | RD | 5, QN, T_SRV);
}

static void
b_formerr(struct pkt *p)
{
	start(p, ID, QR | RD | 1, QN, T_SRV);
}

/* Header only, qdcount 0: allowed for error rcodes, not for NXDOMAIN. */
static void
b_refused_no_question(struct pkt *p)
{
	start(p, ID, QR | RD | 5, QN, T_SRV);
	p->b[5] = 0;
	p->len = 12;
}

static void
b_nxdomain_no_question(struct pkt *p)
{
	start(p, ID, QR | RD | RA | 3, QN, T_SRV);
	p->b[5] = 0;
	p->len = 12;
}

static void
b_refused_wrong_id(struct pkt *p)
{
	b_refused_no_question(p);
	p->b[1] ^= 1;
}

static void
b_tc(struct pkt *p)
{
	start(p, ID, QR | RD | RA | TC, QN, T_SRV);
	rr_srv(p, QN, 0, 0, 25, "mx.example.org");
}

static void
b_short_rdata(struct pkt *p)
{
	static const unsigned char rd[] = { 0, 10, 0, 5 }; /* no port, target */

	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_raw(p, QN, T_SRV, C_IN, rd, sizeof(rd));
	rr_srv(p, QN, 10, 5, 25, "ok.example.org");
}

static void
b_only_short_rdata(struct pkt *p)
{
	static const unsigned char rd[] = { 0, 10, 0, 5, 0, 25 };

	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_raw(p, QN, T_SRV, C_IN, rd, sizeof(rd));
}

static void
b_bad_target(struct pkt *p)
{
	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_srv(p, QN, 10, 5, 25, "bad target.example.org");
	rr_srv(p, QN, 10, 5, 25, "-dash.example.org");
	rr_srv(p, QN, 10, 5, 25, "nul\001.example.org");
	rr_srv(p, QN, 10, 5, 25, "good.example.org");
}

static void
b_only_bad_target(struct pkt *p)
{
	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_srv(p, QN, 10, 5, 25, "sp ace.example.org");
}

static void
b_owner_mismatch(struct pkt *p)
{
	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_srv(p, "_secmx._tcp.evil.example", 0, 0, 25, "mx.evil.example");
}

static void
b_owner_mixed(struct pkt *p)
{
	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_srv(p, "_secmx._tcp.evil.example", 0, 0, 25, "mx.evil.example");
	rr_srv(p, "_SECMX._TCP.EXAMPLE.ORG", 5, 0, 25, "mx.example.org");
}

static void
b_wrong_class(struct pkt *p)
{
	const unsigned v[3] = { 0, 0, 25 };

	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_ints_name(p, QN, T_SRV, C_CH, v, 3, "mx.example.org");
}

static void
b_other_type(struct pkt *p)
{
	static const unsigned char a[] = { 192, 0, 2, 1 };

	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_raw(p, QN, T_A, C_IN, a, sizeof(a));
}

static void
b_over_cap(struct pkt *p)
{
	char name[64];
	unsigned i;

	start(p, ID, QR | RD | RA, QN, T_SRV);
	/* Priorities 39 down to 0: the 32 best (0..31) must be kept. */
	for (i = 0; i < SMX_SRV_MAX + 8; i++) {
		snprintf(name, sizeof(name), "h%u.example.org", i);
		rr_srv(p, QN, SMX_SRV_MAX + 7 - i, 1, 25, name);
	}
}

static void
b_at_cap(struct pkt *p)
{
	char name[64];
	unsigned i;

	start(p, ID, QR | RD | RA, QN, T_SRV);
	for (i = 0; i < SMX_SRV_MAX; i++) {
		snprintf(name, sizeof(name), "h%u.example.org", i);
		rr_srv(p, QN, i, 1, 25, name);
	}
}

static void
b_null(struct pkt *p)
{
	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_srv(p, QN, 0, 0, 0, ".");
}

static void
b_null_among(struct pkt *p)
{
	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_srv(p, QN, 0, 0, 0, ".");
	rr_srv(p, QN, 10, 0, 25, "mx.example.org");
}

static void
b_two_nulls(struct pkt *p)
{
	start(p, ID, QR | RD | RA, QN, T_SRV);
	rr_srv(p, QN, 0, 0, 0, ".");
	rr_srv(p, QN, 1, 0, 0, ".");
}

static void
b_cname(struct pkt *p)
{
	struct pkt rd;

	memset(&rd, 0, sizeof(rd));
	start(p, ID, QR | RD | RA, QN, T_SRV);
	put_name(&rd, "_secmx._tcp.hoster.example");
	rr_raw(p, QN, T_CNAME, C_IN, rd.b, rd.len);
	rr_srv(p, "_secmx._tcp.hoster.example", 0, 0, 25, "mx.hoster.example");
}

static void
b_cut(struct pkt *p)
{
	b_good(p);
	p->len -= 7;
}

static void
b_empty(struct pkt *p)
{
	memset(p, 0, sizeof(*p));
}

static void
b_header_only(struct pkt *p)
{
	b_good(p);
	p->len = 11;
}

static void
b_trailing_garbage_count(struct pkt *p)
{
	b_good(p);
	p->b[7] = 9; /* ancount says 9, only 3 present */
}

static const struct {
	const char *name;
	void (*build)(struct pkt *);
	enum smx_status st;
	size_t n_srv;
	const char *reason;  /* substring, or NULL */
	const char *target0; /* first target in answer order, or NULL */
	size_t n_dropped;
	bool is_null;
	bool is_ad;
} srv_cases[] = {
	{ "good", b_good, SMX_OK, 3, NULL, "mx1.example.org", 0, 0, 0 },
	{ "ad", b_ad, SMX_OK, 1, NULL, "mx.example.org", 0, 0, 1 },
	{ "wrong id", b_wrong_id, SMX_TEMPFAIL, 0, "reply does not match query",
	    NULL, 0, 0, 0 },
	{ "wrong qname", b_wrong_qname, SMX_TEMPFAIL, 0,
	    "reply does not match query", NULL, 0, 0, 0 },
	{ "wrong qtype", b_wrong_qtype, SMX_TEMPFAIL, 0,
	    "reply does not match query", NULL, 0, 0, 0 },
	{ "not a reply", b_not_reply, SMX_TEMPFAIL, 0,
	    "reply does not match query", NULL, 0, 0, 0 },
	{ "no question", b_no_question, SMX_TEMPFAIL, 0,
	    "reply does not match query", NULL, 0, 0, 0 },
	{ "nxdomain", b_nxdomain, SMX_NOTFOUND, 0, "NXDOMAIN", NULL, 0, 0, 0 },
	{ "nodata", b_nodata, SMX_NOTFOUND, 0, "no SRV records", NULL, 0, 0,
	    0 },
	{ "servfail", b_servfail, SMX_TEMPFAIL, 0, "SERVFAIL", NULL, 0, 0, 0 },
	{ "refused", b_refused, SMX_TEMPFAIL, 0, "REFUSED", NULL, 0, 0, 0 },
	{ "formerr", b_formerr, SMX_TEMPFAIL, 0, "FORMERR", NULL, 0, 0, 0 },
	{ "refused no question", b_refused_no_question, SMX_TEMPFAIL, 0,
	    "REFUSED", NULL, 0, 0, 0 },
	{ "nxdomain no question", b_nxdomain_no_question, SMX_TEMPFAIL, 0,
	    "reply does not match query", NULL, 0, 0, 0 },
	{ "refused wrong id", b_refused_wrong_id, SMX_TEMPFAIL, 0,
	    "reply does not match query", NULL, 0, 0, 0 },
	{ "tc", b_tc, SMX_TEMPFAIL, 0, "truncated reply", NULL, 0, 0, 0 },
	{ "short rdata", b_short_rdata, SMX_OK, 1, NULL, "ok.example.org", 1, 0,
	    0 },
	{ "only short rdata", b_only_short_rdata, SMX_TEMPFAIL, 0,
	    "no usable SRV record", NULL, 0, 0, 0 },
	{ "bad target", b_bad_target, SMX_OK, 1, NULL, "good.example.org", 3, 0,
	    0 },
	{ "only bad target", b_only_bad_target, SMX_TEMPFAIL, 0,
	    "no usable SRV record", NULL, 0, 0, 0 },
	{ "owner mismatch", b_owner_mismatch, SMX_NOTFOUND, 0, "no SRV records",
	    NULL, 0, 0, 0 },
	{ "owner mixed", b_owner_mixed, SMX_OK, 1, NULL, "mx.example.org", 0, 0,
	    0 },
	{ "wrong class", b_wrong_class, SMX_NOTFOUND, 0, "no SRV records", NULL,
	    0, 0, 0 },
	{ "other type", b_other_type, SMX_NOTFOUND, 0, "no SRV records", NULL,
	    0, 0, 0 },
	{ "over cap", b_over_cap, SMX_OK, SMX_SRV_MAX, NULL, NULL, 8, 0, 0 },
	{ "at cap", b_at_cap, SMX_OK, SMX_SRV_MAX, NULL, "h0.example.org", 0, 0,
	    0 },
	{ "null", b_null, SMX_OK, 0, NULL, NULL, 0, 1, 0 },
	{ "null among", b_null_among, SMX_OK, 1, NULL, "mx.example.org", 1, 0,
	    0 },
	{ "two nulls", b_two_nulls, SMX_TEMPFAIL, 0, "no usable SRV record",
	    NULL, 0, 0, 0 },
	{ "cname", b_cname, SMX_OK, 1, NULL, "mx.hoster.example", 0, 0, 0 },
	{ "cut", b_cut, SMX_TEMPFAIL, 0, "malformed reply", NULL, 0, 0, 0 },
	{ "empty", b_empty, SMX_TEMPFAIL, 0, "malformed reply", NULL, 0, 0, 0 },
	{ "header only", b_header_only, SMX_TEMPFAIL, 0, "malformed reply",
	    NULL, 0, 0, 0 },
	{ "ancount lies", b_trailing_garbage_count, SMX_TEMPFAIL, 0,
	    "malformed reply", NULL, 0, 0, 0 },
};

START_TEST(test_smx_dns_srv_parse)
{
	struct smx_dns_srv_set *set = malloc(sizeof(*set));
	char reason[SMX_DNS_REASON_MAX] = "";
	struct pkt p;
	enum smx_status st;
	size_t i;

	ck_assert_ptr_nonnull(set);
	memset(set, 0x5a, sizeof(*set));
	srv_cases[_i].build(&p);
	st = smx_dns_srv_parse(p.b, p.len, QN, ID, set, reason, sizeof(reason));
	ck_assert_msg(st == srv_cases[_i].st, "%s: %s (%s)", srv_cases[_i].name,
	    smx_status_name(st), reason);
	if (srv_cases[_i].reason != NULL)
		ck_assert_msg(strstr(reason, srv_cases[_i].reason) != NULL,
		    "%s: reason \"%s\"", srv_cases[_i].name, reason);
	if (st != SMX_OK) {
		ck_assert_uint_eq(set->n_srv, 0x5a5a5a5a5a5a5a5aULL);
		free(set);
		return;
	}
	ck_assert_uint_eq(set->n_srv, srv_cases[_i].n_srv);
	ck_assert_uint_eq(set->n_dropped, srv_cases[_i].n_dropped);
	ck_assert_int_eq(set->is_null, srv_cases[_i].is_null);
	ck_assert_int_eq(set->is_ad, srv_cases[_i].is_ad);
	if (srv_cases[_i].target0 != NULL)
		ck_assert_str_eq(set->srv[0].target, srv_cases[_i].target0);
	for (i = 0; i < set->n_srv; i++) {
		ck_assert(strlen(set->srv[i].target) > 0);
		ck_assert(
		    set->srv[i].target[strlen(set->srv[i].target) - 1] != '.');
		/* over cap: only the best priorities survive */
		ck_assert_uint_lt(set->srv[i].priority, SMX_SRV_MAX);
	}
	free(set);
}
END_TEST

START_TEST(test_smx_dns_srv_parse_fields)
{
	struct smx_dns_srv_set *set = malloc(sizeof(*set));
	char reason[SMX_DNS_REASON_MAX];
	struct pkt p;

	ck_assert_ptr_nonnull(set);
	b_good(&p);
	/* The query name may be given with the trailing dot, in any case. */
	ck_assert_int_eq(smx_dns_srv_parse(p.b, p.len,
	                     "_SecMX._tcp.EXAMPLE.org.", ID, set, reason,
	                     sizeof(reason)),
	    SMX_OK);
	ck_assert_str_eq(set->srv[1].target, "mx2.example.org");
	ck_assert_uint_eq(set->srv[1].priority, 10);
	ck_assert_uint_eq(set->srv[1].weight, 40);
	ck_assert_uint_eq(set->srv[1].port, 2525);
	ck_assert_str_eq(set->srv[2].target, "backup.example.net");
	ck_assert_uint_eq(set->srv[2].priority, 20);
	ck_assert_uint_eq(set->srv[2].port, 25);
	/* A bad query name is the caller's mistake. */
	ck_assert_int_eq(smx_dns_srv_parse(p.b, p.len, "bad name", ID, set,
	                     reason, sizeof(reason)),
	    SMX_INVALID);
	free(set);
}
END_TEST

/* MX replies to "example.org". */
#define MQ "example.org"

static const struct {
	const char *name;
	const char *ex[3];
	unsigned pref[3];
	size_t n_rr;
	unsigned rcode;
	enum smx_status st;
	size_t n_mx;
	bool is_null;
	size_t n_dropped;
} mx_cases[] = {
	{ "two", { "mx1.example.org", "MX2.example.org", NULL }, { 10, 20, 0 },
	    2, 0, SMX_OK, 2, 0, 0 },
	{ "null", { ".", NULL, NULL }, { 0, 0, 0 }, 1, 0, SMX_OK, 0, 1, 0 },
	{ "null among", { ".", "mx.example.org", NULL }, { 0, 10, 0 }, 2, 0,
	    SMX_OK, 1, 0, 1 },
	{ "nodata", { NULL, NULL, NULL }, { 0, 0, 0 }, 0, 0, SMX_NOTFOUND, 0, 0,
	    0 },
	{ "nxdomain", { NULL, NULL, NULL }, { 0, 0, 0 }, 0, 3, SMX_NOTFOUND, 0,
	    0, 0 },
	{ "servfail", { NULL, NULL, NULL }, { 0, 0, 0 }, 0, 2, SMX_TEMPFAIL, 0,
	    0, 0 },
	{ "bad exchange", { "a_b c.example", "ok.example", NULL }, { 1, 2, 0 },
	    2, 0, SMX_OK, 1, 0, 1 },
};

START_TEST(test_smx_dns_mx_parse)
{
	struct smx_dns_mx_set *set = malloc(sizeof(*set));
	char reason[SMX_DNS_REASON_MAX] = "";
	struct pkt p;
	enum smx_status st;
	size_t i;

	ck_assert_ptr_nonnull(set);
	start(&p, ID, QR | RD | RA | mx_cases[_i].rcode, MQ, T_MX);
	for (i = 0; i < mx_cases[_i].n_rr; i++)
		rr_mx(&p, MQ, mx_cases[_i].pref[i], mx_cases[_i].ex[i]);
	st = smx_dns_mx_parse(p.b, p.len, MQ, ID, set, reason, sizeof(reason));
	ck_assert_msg(st == mx_cases[_i].st, "%s: %s (%s)", mx_cases[_i].name,
	    smx_status_name(st), reason);
	if (st == SMX_OK) {
		ck_assert_uint_eq(set->n_mx, mx_cases[_i].n_mx);
		ck_assert_int_eq(set->is_null, mx_cases[_i].is_null);
		ck_assert_int_eq(set->is_implicit, 0);
		ck_assert_uint_eq(set->n_dropped, mx_cases[_i].n_dropped);
		for (i = 0; i < set->n_mx; i++)
			ck_assert(strchr(set->mx[i].exchange, ' ') == NULL);
	}
	if (_i == 0) {
		ck_assert_str_eq(set->mx[1].exchange, "mx2.example.org");
		ck_assert_uint_eq(set->mx[1].preference, 20);
	}
	free(set);
}
END_TEST

START_TEST(test_smx_dns_addrs_parse)
{
	static const unsigned char a[] = { 192, 0, 2, 7 };
	static const unsigned char aaaa[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct smx_dns_addr_set set;
	char reason[SMX_DNS_REASON_MAX];
	struct pkt p;
	unsigned char many[4];
	int i;

	memset(&set, 0, sizeof(set));
	start(&p, ID, QR | RD | RA | AD, "mx.example.org", T_AAAA);
	rr_raw(&p, "mx.example.org", T_AAAA, C_IN, aaaa, sizeof(aaaa));
	rr_raw(&p, "mx.example.org", T_A, C_IN, a, sizeof(a)); /* ignored */
	ck_assert_int_eq(smx_dns_addrs_parse(p.b, p.len, "mx.example.org", ID,
	                     AF_INET6, 2525, &set, reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(set.n_addrs, 1);
	ck_assert_str_eq(set.addr[0].text, "2001:db8::1");
	ck_assert_int_eq(set.addr[0].family, AF_INET6);
	ck_assert_uint_eq(set.addr[0].port, 2525);
	ck_assert(set.is_ad);

	/* The A reply appends; it has no AD, so the set loses it. */
	start(&p, ID, QR | RD | RA, "mx.example.org", T_A);
	for (i = 0; i < SMX_DNS_ADDRS_FAMILY_MAX + 2; i++) {
		memcpy(many, a, 4);
		many[3] = (unsigned char)(10 + i);
		rr_raw(&p, "mx.example.org", T_A, C_IN, many, sizeof(many));
	}
	ck_assert_int_eq(smx_dns_addrs_parse(p.b, p.len, "mx.example.org", ID,
	                     AF_INET, 2525, &set, reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(set.n_addrs, 1 + SMX_DNS_ADDRS_FAMILY_MAX);
	ck_assert_uint_eq(set.n_dropped, 2);
	ck_assert_str_eq(set.addr[1].text, "192.0.2.10");
	ck_assert_int_eq(set.addr[1].family, AF_INET);
	ck_assert(!set.is_ad);

	/* Wrong family for the question type is a mismatch. */
	ck_assert_int_eq(smx_dns_addrs_parse(p.b, p.len, "mx.example.org", ID,
	                     AF_INET6, 25, &set, reason, sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_int_eq(smx_dns_addrs_parse(p.b, p.len, "mx.example.org", ID,
	                     AF_UNIX, 25, &set, reason, sizeof(reason)),
	    SMX_INVALID);
	/* NODATA */
	start(&p, ID, QR | RD | RA, "mx.example.org", T_A);
	ck_assert_int_eq(smx_dns_addrs_parse(p.b, p.len, "mx.example.org", ID,
	                     AF_INET, 25, &set, reason, sizeof(reason)),
	    SMX_NOTFOUND);
}
END_TEST

/* One TLSA record: usage, selector, matching type, then data. */
static void
rr_tlsa(struct pkt *p, const char *owner, unsigned u, unsigned s, unsigned m,
    const unsigned char *data, size_t len)
{
	struct pkt rd;

	memset(&rd, 0, sizeof(rd));
	put8(&rd, u);
	put8(&rd, s);
	put8(&rd, m);
	put_bytes(&rd, data, len);
	rr_raw(p, owner, T_TLSA, C_IN, rd.b, rd.len);
}

#define TQ "_25._tcp.mx.example.org"

START_TEST(test_smx_dns_tlsa_parse)
{
	static unsigned char digest[32];
	static unsigned char big[SMX_TLSA_DATA_MAX + 1];
	struct smx_dns_tlsa_set set;
	char reason[SMX_DNS_REASON_MAX];
	struct pkt p;
	unsigned char three[3] = { 3, 1, 1 };
	int i;

	memset(digest, 0xab, sizeof(digest));
	memset(&set, 0, sizeof(set));
	start(&p, ID, QR | RD | RA | AD, TQ, T_TLSA);
	rr_tlsa(&p, TQ, 3, 1, 1, digest, sizeof(digest));
	rr_tlsa(&p, TQ, 2, 0, 2, digest, 16);
	rr_tlsa(&p, "other.example.org", 3, 1, 1, digest, 32); /* not ours */
	ck_assert_int_eq(smx_dns_tlsa_parse(p.b, p.len, TQ, ID, &set, reason,
	                     sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(set.n_rr, 2);
	ck_assert_uint_eq(set.rr[0].usage, 3);
	ck_assert_uint_eq(set.rr[0].selector, 1);
	ck_assert_uint_eq(set.rr[0].mtype, 1);
	ck_assert_uint_eq(set.rr[0].len, 32);
	ck_assert_int_eq(memcmp(set.rr[0].data, digest, 32), 0);
	ck_assert_uint_eq(set.rr[1].usage, 2);
	ck_assert_uint_eq(set.rr[1].mtype, 2);
	ck_assert_uint_eq(set.rr[1].len, 16);
	ck_assert(set.is_ad);

	/* Malformed or oversized records are dropped, the rest kept. */
	memset(&set, 0, sizeof(set));
	start(&p, ID, QR | RD | RA, TQ, T_TLSA);
	rr_raw(&p, TQ, T_TLSA, C_IN, three, sizeof(three)); /* no data */
	rr_tlsa(&p, TQ, 3, 1, 1, big, sizeof(big));
	rr_tlsa(&p, TQ, 3, 1, 1, digest, sizeof(digest));
	ck_assert_int_eq(smx_dns_tlsa_parse(p.b, p.len, TQ, ID, &set, reason,
	                     sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(set.n_rr, 1);
	ck_assert_uint_eq(set.n_dropped, 2);
	ck_assert(!set.is_ad);

	/* Only unusable records: a temporary failure, not "no TLSA". */
	memset(&set, 0, sizeof(set));
	start(&p, ID, QR | RD | RA, TQ, T_TLSA);
	rr_raw(&p, TQ, T_TLSA, C_IN, three, sizeof(three));
	ck_assert_int_eq(smx_dns_tlsa_parse(p.b, p.len, TQ, ID, &set, reason,
	                     sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_str_eq(reason, "no usable TLSA record");
	ck_assert_uint_eq(set.n_rr, 0);

	/* At most SMX_TLSA_MAX records. */
	memset(&set, 0, sizeof(set));
	start(&p, ID, QR | RD | RA, TQ, T_TLSA);
	for (i = 0; i < SMX_TLSA_MAX + 3; i++)
		rr_tlsa(&p, TQ, 3, 1, 1, digest, sizeof(digest));
	ck_assert_int_eq(smx_dns_tlsa_parse(p.b, p.len, TQ, ID, &set, reason,
	                     sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(set.n_rr, SMX_TLSA_MAX);
	ck_assert_uint_eq(set.n_dropped, 3);

	/* NODATA, NXDOMAIN, SERVFAIL (bogus at a validating resolver). */
	start(&p, ID, QR | RD | RA, TQ, T_TLSA);
	ck_assert_int_eq(smx_dns_tlsa_parse(p.b, p.len, TQ, ID, &set, reason,
	                     sizeof(reason)),
	    SMX_NOTFOUND);
	start(&p, ID, QR | RD | RA | 3, TQ, T_TLSA);
	ck_assert_int_eq(smx_dns_tlsa_parse(p.b, p.len, TQ, ID, &set, reason,
	                     sizeof(reason)),
	    SMX_NOTFOUND);
	start(&p, ID, QR | RD | RA | 2, TQ, T_TLSA);
	ck_assert_int_eq(smx_dns_tlsa_parse(p.b, p.len, TQ, ID, &set, reason,
	                     sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_str_eq(reason, "SERVFAIL");
	/* A reply to another question. */
	start(&p, ID, QR | RD | RA, TQ, T_A);
	ck_assert_int_eq(smx_dns_tlsa_parse(p.b, p.len, TQ, ID, &set, reason,
	                     sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_str_eq(reason, "reply does not match query");
}
END_TEST

/* ---------------------------------------------------------------- */
/* Lookups that fail before the network                               */

START_TEST(test_smx_dns_lookup_local_errors)
{
	char path[] = "/tmp/check_smx_dns.XXXXXX";
	struct smx_dns_srv_set *set = malloc(sizeof(*set));
	struct smx_dns_opts o;
	char reason[SMX_DNS_REASON_MAX];
	int fd;

	ck_assert_ptr_nonnull(set);
	smx_dns_opts_init(&o);
	ck_assert_uint_eq(o.timeout, 5);
	ck_assert(!o.trust_ad);

	ck_assert_int_eq(smx_dns_lookup_srv(&o, "bad domain", set, reason,
	                     sizeof(reason)),
	    SMX_INVALID);
	ck_assert_int_eq(smx_dns_lookup_srv(&o, "", set, reason,
	                     sizeof(reason)),
	    SMX_INVALID);

	o.nameservers = "127.0.0.1:99999";
	ck_assert_int_eq(smx_dns_lookup_srv(&o, "example.org", set, reason,
	                     sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(reason, "bad dns_nameservers"));

	o.nameservers = "127.0.0.1";
	o.timeout = 0;
	ck_assert_int_eq(smx_dns_lookup_srv(&o, "example.org", set, reason,
	                     sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(reason, "dns_timeout"));

	o.nameservers = NULL;
	o.timeout = 1;
	o.resolv_conf = "/nonexistent/resolv.conf";
	ck_assert_int_eq(smx_dns_lookup_srv(&o, "example.org", set, reason,
	                     sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(reason, "/nonexistent/resolv.conf"));

	/* A resolv.conf without nameservers (search list only). */
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "search example.org\n", 19), 19);
	ck_assert_int_eq(close(fd), 0);
	o.resolv_conf = path;
	ck_assert_int_eq(smx_dns_lookup_srv(&o, "example.org", set, reason,
	                     sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(reason, "no nameservers"));
	unlink(path);
	free(set);
}
END_TEST

static Suite *
dns_suite(void)
{
	Suite *s = suite_create("smx_dns");
	TCase *tc;

	tc = tcase_create("servers_parse");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_smx_dns_servers_parse, 0,
	    (int)(sizeof(ns_cases) / sizeof(ns_cases[0])));
	tcase_add_test(tc, test_smx_dns_servers_parse_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("srv_parse");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_smx_dns_srv_parse, 0,
	    (int)(sizeof(srv_cases) / sizeof(srv_cases[0])));
	tcase_add_test(tc, test_smx_dns_srv_parse_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("mx_parse");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_smx_dns_mx_parse, 0,
	    (int)(sizeof(mx_cases) / sizeof(mx_cases[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("addrs_parse");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_smx_dns_addrs_parse);
	tcase_add_test(tc, test_smx_dns_tlsa_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("lookup");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_smx_dns_lookup_local_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dns_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
