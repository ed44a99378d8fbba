/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/socketmap.c and the connection loop of
 * transport/lookup_server.c: netstring framing (valid, length mismatch,
 * leading zeros, missing ':' or ',', over the cap, exactly at the cap,
 * NUL inside, byte by byte, several in one buffer), reply formatting,
 * request parsing (unknown map, empty key, control bytes), the maps
 * with a fake route function instead of DNS, complete replies, and one
 * connection over a socketpair.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_limits.h"
#include "smx_table.h"

#include "lookup_server.h"
#include "socketmap.h"

#define CAP SMX_SOCKETMAP_REQUEST_MAX

/* ---- netstring parsing --------------------------------------------- */

struct ns_case {
	const char *in;
	size_t len; /* 0: strlen(in) */
	enum smx_status want;
	const char *payload; /* on SMX_OK */
	size_t payload_len;
	size_t consumed;
};

static const struct ns_case ns_cases[] = {
	{ "5:hello,", 0, SMX_OK, "hello", 5, 8 },
	{ "0:,", 0, SMX_OK, "", 0, 3 },
	{ "5:hello,5:world,", 0, SMX_OK, "hello", 5, 8 },
	{ "13:route a.b.c.d,", 0, SMX_OK, "route a.b.c.d", 13, 17 },
	/* NUL inside the payload is data. */
	{ "5:he\0lo,", 8, SMX_OK, "he\0lo", 5, 8 },
	/* Incomplete: more bytes needed. */
	{ "", 0, SMX_NOTFOUND, NULL, 0, 0 },
	{ "5", 0, SMX_NOTFOUND, NULL, 0, 0 },
	{ "5:", 0, SMX_NOTFOUND, NULL, 0, 0 },
	{ "5:hello", 0, SMX_NOTFOUND, NULL, 0, 0 },
	{ "10000", 0, SMX_NOTFOUND, NULL, 0, 0 },
	/* Length mismatch: the byte after the payload is not ','. */
	{ "3:hello,", 0, SMX_INVALID, NULL, 0, 0 },
	{ "5:hello!", 0, SMX_INVALID, NULL, 0, 0 },
	{ "0:x,", 0, SMX_INVALID, NULL, 0, 0 },
	/* Leading zeros. */
	{ "05:hello,", 0, SMX_INVALID, NULL, 0, 0 },
	{ "00:,", 0, SMX_INVALID, NULL, 0, 0 },
	{ "01", 0, SMX_INVALID, NULL, 0, 0 },
	/* Not a length, or no ':'. */
	{ ":hello,", 0, SMX_INVALID, NULL, 0, 0 },
	{ "hello", 0, SMX_INVALID, NULL, 0, 0 },
	{ "5hello,", 0, SMX_INVALID, NULL, 0, 0 },
	{ "5 :hello,", 0, SMX_INVALID, NULL, 0, 0 },
	{ " 5:hello,", 0, SMX_INVALID, NULL, 0, 0 },
	{ "-5:hello,", 0, SMX_INVALID, NULL, 0, 0 },
	{ "+5:hello,", 0, SMX_INVALID, NULL, 0, 0 },
	{ "\0:,", 1, SMX_INVALID, NULL, 0, 0 },
	/* Over the cap, refused before the payload arrives. */
	{ "10001:", 0, SMX_INVALID, NULL, 0, 0 },
	{ "100000", 0, SMX_INVALID, NULL, 0, 0 },
	{ "99999999999999999999999:", 0, SMX_INVALID, NULL, 0, 0 },
};

START_TEST(test_socketmap_netstring_cases)
{
	const struct ns_case *c = &ns_cases[_i];
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	const char *payload = NULL;
	size_t plen = 0;
	size_t used = 0;
	char reason[128] = "";
	enum smx_status st;

	st = socketmap_netstring_parse(c->in, len, CAP, &payload, &plen, &used,
	    reason, sizeof(reason));
	ck_assert_msg(st == c->want, "case %d: status %d, want %d (%s)", _i,
	    (int)st, (int)c->want, reason);
	if (st == SMX_OK) {
		ck_assert_ptr_eq(payload, c->in + (used - plen - 1));
		ck_assert_uint_eq(plen, c->payload_len);
		ck_assert_mem_eq(payload, c->payload, plen);
		ck_assert_uint_eq(used, c->consumed);
	} else if (st == SMX_INVALID) {
		ck_assert_msg(reason[0] != '\0', "case %d: no reason", _i);
	}
}
END_TEST

/* A netstring with a payload of n bytes 'x'; the caller frees it. */
static char *
make_netstring(size_t n, size_t *len)
{
	char *buf = malloc(n + 16);
	int head;

	ck_assert_ptr_nonnull(buf);
	head = snprintf(buf, 16, "%zu:", n);
	ck_assert_int_gt(head, 0);
	memset(buf + head, 'x', n);
	buf[(size_t)head + n] = ',';
	*len = (size_t)head + n + 1;
	return buf;
}

START_TEST(test_socketmap_netstring_cap)
{
	const char *payload;
	size_t plen = 0;
	size_t used = 0;
	size_t len;
	char reason[128];
	char *at = make_netstring(CAP, &len);
	char *over = make_netstring(CAP + 1, &len);

	/* Exactly at the cap. */
	ck_assert_uint_eq(len, 5 + 1 + CAP + 1 + 1);
	ck_assert_int_eq(socketmap_netstring_parse(at, len - 1, CAP, &payload,
	                     &plen, &used, reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(plen, CAP);
	ck_assert_uint_eq(used, len - 1);
	ck_assert_uint_le(used, SOCKETMAP_WIRE_MAX);
	/* One over: refused as soon as the length is read. */
	ck_assert_int_eq(socketmap_netstring_parse(over, 6, CAP, &payload,
	                     &plen, &used, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_str_eq(reason, "length over the cap");
	free(at);
	free(over);
}
END_TEST

/* Every proper prefix is incomplete, the whole is one netstring. */
START_TEST(test_socketmap_netstring_bytewise)
{
	static const char in[] = "26:transport user@example.org,";
	size_t len = sizeof(in) - 1;
	const char *payload;
	size_t plen = 0;
	size_t used = 0;
	char reason[128];
	size_t i;

	for (i = 0; i < len; i++) {
		ck_assert_msg(socketmap_netstring_parse(in, i, CAP, &payload,
		                  &plen, &used, reason,
		                  sizeof(reason)) == SMX_NOTFOUND,
		    "prefix of %zu bytes", i);
	}
	ck_assert_int_eq(socketmap_netstring_parse(in, len, CAP, &payload,
	                     &plen, &used, reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(used, len);
	ck_assert_uint_eq(plen, 26);
	ck_assert_mem_eq(payload, "transport user@example.org", 26);
}
END_TEST

START_TEST(test_socketmap_netstring_several)
{
	static const char in[] =
	    "17:route example.org,0:,23:sender user@example.org,3:ab";
	static const char *const want[] = { "route example.org", "",
		"sender user@example.org" };
	size_t len = sizeof(in) - 1;
	size_t pos = 0;
	size_t n = 0;
	char reason[128];

	for (;;) {
		const char *payload;
		size_t plen = 0;
		size_t used = 0;
		enum smx_status st;

		st = socketmap_netstring_parse(in + pos, len - pos, CAP,
		    &payload, &plen, &used, reason, sizeof(reason));
		if (st != SMX_OK) {
			/* The last one is cut short. */
			ck_assert_int_eq(st, SMX_NOTFOUND);
			break;
		}
		ck_assert_uint_lt(n, 3);
		ck_assert_uint_eq(plen, strlen(want[n]));
		ck_assert_mem_eq(payload, want[n], plen);
		pos += used;
		n++;
	}
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(in + pos, "3:ab");
}
END_TEST

START_TEST(test_socketmap_netstring_format)
{
	char out[64];
	size_t len = 0;
	char *big;
	char *wire;
	size_t big_size = SMX_SOCKETMAP_REPLY_MAX + 16;

	ck_assert_int_eq(socketmap_netstring_format("OK secmx:", 9, out,
	                     sizeof(out), &len),
	    SMX_OK);
	ck_assert_uint_eq(len, 12);
	ck_assert_mem_eq(out, "9:OK secmx:,", 12);
	ck_assert_int_eq(socketmap_netstring_format("", 0, out, sizeof(out),
	                     &len),
	    SMX_OK);
	ck_assert_mem_eq(out, "0:,", 3);
	ck_assert_uint_eq(len, 3);
	/* Exactly fits, one byte short. */
	ck_assert_int_eq(socketmap_netstring_format("abc", 3, out, 6, &len),
	    SMX_OK);
	ck_assert_int_eq(socketmap_netstring_format("abc", 3, out, 5, &len),
	    SMX_INVALID);
	ck_assert_int_eq(socketmap_netstring_format("abc", 3, out, 0, &len),
	    SMX_INVALID);
	/* Postfix 3.7's reply limit: at it, and one over. */
	big = malloc(big_size);
	ck_assert_ptr_nonnull(big);
	memset(big, 'v', big_size);
	wire = malloc(big_size);
	ck_assert_ptr_nonnull(wire);
	ck_assert_int_eq(socketmap_netstring_format(big,
	                     SMX_SOCKETMAP_REPLY_MAX, wire, big_size, &len),
	    SMX_OK);
	ck_assert_uint_eq(len, SMX_SOCKETMAP_REPLY_MAX + 8);
	ck_assert_int_eq(socketmap_netstring_format(big,
	                     SMX_SOCKETMAP_REPLY_MAX + 1, wire, big_size, &len),
	    SMX_INVALID);
	free(wire);
	free(big);
}
END_TEST

/* ---- request parsing ----------------------------------------------- */

struct req_case {
	const char *in;
	size_t len; /* 0: strlen(in) */
	enum smx_status want;
	enum socketmap_map map;
	const char *key;
};

static const struct req_case req_cases[] = {
	{ "route example.org", 0, SMX_OK, SOCKETMAP_ROUTE, "example.org" },
	{ "transport user@Example.ORG", 0, SMX_OK, SOCKETMAP_TRANSPORT,
	    "user@Example.ORG" },
	{ "sender_transport <>", 0, SMX_OK, SOCKETMAP_SENDER_TRANSPORT, "<>" },
	{ "receiver a", 0, SMX_OK, SOCKETMAP_RECEIVER, "a" },
	{ "sender .example.org", 0, SMX_OK, SOCKETMAP_SENDER, ".example.org" },
	{ "destination x y", 0, SMX_OK, SOCKETMAP_DESTINATION, "x y" },
	/* Unknown map names, compared exactly. */
	{ "bogus example.org", 0, SMX_PERMFAIL, 0, NULL },
	{ "Route example.org", 0, SMX_PERMFAIL, 0, NULL },
	{ "route_ example.org", 0, SMX_PERMFAIL, 0, NULL },
	{ " example.org", 0, SMX_PERMFAIL, 0, NULL },
	{ "rou\0te example.org", 17, SMX_PERMFAIL, 0, NULL },
	/* Malformed: no space, empty key, control bytes. */
	{ "", 0, SMX_INVALID, 0, NULL },
	{ "route", 0, SMX_INVALID, 0, NULL },
	{ "route ", 0, SMX_INVALID, 0, NULL },
	{ "route a\0b", 9, SMX_INVALID, 0, NULL },
	{ "route a\rb", 0, SMX_INVALID, 0, NULL },
	{ "route a\nb", 0, SMX_INVALID, 0, NULL },
	{ "route a\tb", 0, SMX_INVALID, 0, NULL },
	{ "route a\177b", 0, SMX_INVALID, 0, NULL },
};

START_TEST(test_socketmap_request_cases)
{
	const struct req_case *c = &req_cases[_i];
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	struct socketmap_request req;
	char reason[128] = "";
	enum smx_status st;

	memset(&req, 0, sizeof(req));
	st = socketmap_request_parse(c->in, len, &req, reason, sizeof(reason));
	ck_assert_msg(st == c->want, "case %d: status %d, want %d (%s)", _i,
	    (int)st, (int)c->want, reason);
	if (st == SMX_OK) {
		ck_assert_int_eq(req.map, c->map);
		ck_assert_str_eq(req.key, c->key);
		ck_assert_uint_eq(req.key_len, strlen(c->key));
	} else {
		ck_assert_msg(reason[0] != '\0', "case %d: no reason", _i);
	}
}
END_TEST

START_TEST(test_socketmap_request_key_cap)
{
	size_t len = 6 + SMX_ADDR_MAX + 1;
	char *buf = malloc(len);
	struct socketmap_request req;
	char reason[128];

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, "route ", 6);
	memset(buf + 6, 'a', SMX_ADDR_MAX + 1);
	ck_assert_int_eq(socketmap_request_parse(buf, len - 1, &req, reason,
	                     sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(req.key_len, SMX_ADDR_MAX);
	ck_assert_int_eq(socketmap_request_parse(buf, len, &req, reason,
	                     sizeof(reason)),
	    SMX_INVALID);
	free(buf);
}
END_TEST

START_TEST(test_socketmap_map_names)
{
	enum socketmap_map m;
	int i;

	for (i = SOCKETMAP_RECEIVER; i <= SOCKETMAP_SENDER_TRANSPORT; i++) {
		const char *name = socketmap_map_name((enum socketmap_map)i);

		ck_assert_int_eq(socketmap_map_parse(name, strlen(name), &m),
		    SMX_OK);
		ck_assert_int_eq(m, i);
	}
	ck_assert_int_eq(socketmap_map_parse("route", 4, &m), SMX_NOTFOUND);
	ck_assert_int_eq(socketmap_map_parse("", 0, &m), SMX_NOTFOUND);
}
END_TEST

/* ---- lookups with a fake route function ---------------------------- */

static int route_calls;

/*
 * Fake DNS: srv.example has two targets, null.example the null target,
 * fail.example a failure (with a control byte in the reason),
 * empty.example an OK without targets; everything else has no SRV.
 */
static enum smx_status
fake_route(const struct smx_dns_opts *dns, const char *domain,
    struct smx_route *out, char *reason, size_t reason_size)
{
	(void)dns;
	route_calls++;
	memset(out, 0, sizeof(*out));
	out->kind = SMX_ROUTE_SRV;
	if (strcmp(domain, "srv.example") == 0) {
		snprintf(out->target[0].host, sizeof(out->target[0].host),
		    "a.srv.example");
		out->target[0].port = 25;
		snprintf(out->target[1].host, sizeof(out->target[1].host),
		    "b.srv.example");
		out->target[1].port = 2525;
		out->n_targets = 2;
		return SMX_OK;
	}
	if (strcmp(domain, "null.example") == 0) {
		out->is_null = true;
		snprintf(reason, reason_size, "null SRV target");
		return SMX_NOTFOUND;
	}
	if (strcmp(domain, "fail.example") == 0) {
		snprintf(reason, reason_size, "SERVFAIL\n from [127.0.0.1]");
		return SMX_TEMPFAIL;
	}
	if (strcmp(domain, "empty.example") == 0)
		return SMX_OK;
	snprintf(reason, reason_size, "no SecMX SRV records");
	return SMX_NOTFOUND;
}

enum cfg_kind {
	CFG_PLAIN = 0, /* default_sender_role bes */
	CFG_SOS,       /* default_sender_role sos */
	CFG_NAMED,     /* secmx_transport_name = secmx-srv: */
	CFG_LOCAL,     /* sos, with local_domains */
	CFG_COUNT,
};

static struct smx_config *
make_config(enum cfg_kind kind)
{
	static const char *const text[CFG_COUNT] = {
		"default_sender_role = bes\n",
		"default_sender_role = sos\n",
		"secmx_transport_name = secmx-srv:\n",
		("default_sender_role = sos\n"
		 "local_domains = local.example, .vlocal.example\n"),
	};
	static const char receiver[] = "sor.example sor\n.ber.example ber\n"
	                               "s\xc3\xb6r.example sor\n";
	static const char sender[] = "sos.example sos\nbes.example bes\n"
	                             ".sos.example sos\n";
	static const char destination[] = "sosdest.example sos\n"
	                                  "besdest.example bes\n";
	struct smx_config *cfg = NULL;
	char err[512];

	ck_assert_msg(smx_config_parse("test", text[kind], strlen(text[kind]),
	                  &cfg, err, sizeof(err)) == SMX_OK,
	    "%s", err);
	ck_assert_msg(smx_table_parse("receiver", receiver,
	                  sizeof(receiver) - 1, SMX_TABLE_RECEIVER,
	                  &cfg->receiver_roles, err, sizeof(err)) == SMX_OK,
	    "%s", err);
	ck_assert_msg(smx_table_parse("sender", sender, sizeof(sender) - 1,
	                  SMX_TABLE_SENDER, &cfg->sender_roles, err,
	                  sizeof(err)) == SMX_OK,
	    "%s", err);
	ck_assert_msg(smx_table_parse("destination", destination,
	                  sizeof(destination) - 1, SMX_TABLE_DESTINATION,
	                  &cfg->destination_roles, err, sizeof(err)) == SMX_OK,
	    "%s", err);
	return cfg;
}

#define ROUTE_SRV_EXAMPLE "srv:[a.srv.example]:25, srv:[b.srv.example]:2525"

struct lookup_case {
	enum cfg_kind cfg;
	enum socketmap_map map;
	const char *key;
	enum smx_status want;
	const char *value; /* on SMX_OK */
	int dns_calls;     /* route lookups expected */
};

static const struct lookup_case lookup_cases[] = {
	/* route */
	{ CFG_PLAIN, SOCKETMAP_ROUTE, "srv.example", SMX_OK, ROUTE_SRV_EXAMPLE,
	    1 },
	{ CFG_PLAIN, SOCKETMAP_ROUTE, "user@SRV.Example.", SMX_OK,
	    ROUTE_SRV_EXAMPLE, 1 },
	{ CFG_PLAIN, SOCKETMAP_ROUTE, "null.example", SMX_NOTFOUND, NULL, 1 },
	{ CFG_PLAIN, SOCKETMAP_ROUTE, "plain.example", SMX_NOTFOUND, NULL, 1 },
	{ CFG_PLAIN, SOCKETMAP_ROUTE, "empty.example", SMX_NOTFOUND, NULL, 1 },
	{ CFG_PLAIN, SOCKETMAP_ROUTE, "fail.example", SMX_TEMPFAIL, NULL, 1 },
	/* Keys Postfix makes that are not host names: no DNS at all. */
	{ CFG_PLAIN, SOCKETMAP_ROUTE, ".srv.example", SMX_NOTFOUND, NULL, 0 },
	{ CFG_PLAIN, SOCKETMAP_ROUTE, "*", SMX_NOTFOUND, NULL, 0 },
	{ CFG_PLAIN, SOCKETMAP_ROUTE, "user@", SMX_NOTFOUND, NULL, 0 },
	{ CFG_PLAIN, SOCKETMAP_ROUTE, "bad domain.example", SMX_NOTFOUND, NULL,
	    0 },
	{ CFG_PLAIN, SOCKETMAP_ROUTE, "[192.0.2.1]", SMX_NOTFOUND, NULL, 0 },
	/* transport */
	{ CFG_PLAIN, SOCKETMAP_TRANSPORT, "srv.example", SMX_OK, "secmx:", 1 },
	{ CFG_PLAIN, SOCKETMAP_TRANSPORT, "user@srv.example", SMX_OK,
	    "secmx:", 1 },
	{ CFG_PLAIN, SOCKETMAP_TRANSPORT, "null.example", SMX_NOTFOUND, NULL,
	    1 },
	{ CFG_PLAIN, SOCKETMAP_TRANSPORT, "plain.example", SMX_NOTFOUND, NULL,
	    1 },
	{ CFG_PLAIN, SOCKETMAP_TRANSPORT, "fail.example", SMX_TEMPFAIL, NULL,
	    1 },
	{ CFG_PLAIN, SOCKETMAP_TRANSPORT, "sosdest.example", SMX_OK,
	    "secmx:", 0 },
	{ CFG_PLAIN, SOCKETMAP_TRANSPORT, "besdest.example", SMX_NOTFOUND, NULL,
	    1 },
	{ CFG_PLAIN, SOCKETMAP_TRANSPORT, "<>", SMX_NOTFOUND, NULL, 0 },
	{ CFG_SOS, SOCKETMAP_TRANSPORT, "plain.example", SMX_OK, "secmx:", 0 },
	{ CFG_SOS, SOCKETMAP_TRANSPORT, "fail.example", SMX_OK, "secmx:", 0 },
	/* Domains this host receives mail for: never secmx (a loop). */
	{ CFG_PLAIN, SOCKETMAP_TRANSPORT, "sor.example", SMX_NOTFOUND, NULL,
	    0 },
	{ CFG_SOS, SOCKETMAP_TRANSPORT, "user@sor.example", SMX_NOTFOUND, NULL,
	    0 },
	{ CFG_SOS, SOCKETMAP_TRANSPORT, "a.ber.example", SMX_NOTFOUND, NULL,
	    0 },
	{ CFG_LOCAL, SOCKETMAP_TRANSPORT, "local.example", SMX_NOTFOUND, NULL,
	    0 },
	{ CFG_LOCAL, SOCKETMAP_TRANSPORT, "user@a.vlocal.example", SMX_NOTFOUND,
	    NULL, 0 },
	{ CFG_LOCAL, SOCKETMAP_TRANSPORT, "vlocal.example", SMX_OK,
	    "secmx:", 0 },
	{ CFG_LOCAL, SOCKETMAP_TRANSPORT, "plain.example", SMX_OK,
	    "secmx:", 0 },
	{ CFG_NAMED, SOCKETMAP_TRANSPORT, "srv.example", SMX_OK,
	    "secmx-srv:", 1 },
	/* sender_transport: tables only. */
	{ CFG_PLAIN, SOCKETMAP_SENDER_TRANSPORT, "user@sos.example", SMX_OK,
	    "secmx:", 0 },
	{ CFG_PLAIN, SOCKETMAP_SENDER_TRANSPORT, "@sos.example", SMX_OK,
	    "secmx:", 0 },
	{ CFG_PLAIN, SOCKETMAP_SENDER_TRANSPORT, "a.sos.example", SMX_OK,
	    "secmx:", 0 },
	{ CFG_PLAIN, SOCKETMAP_SENDER_TRANSPORT, "user@bes.example",
	    SMX_NOTFOUND, NULL, 0 },
	{ CFG_PLAIN, SOCKETMAP_SENDER_TRANSPORT, "user@srv.example",
	    SMX_NOTFOUND, NULL, 0 },
	{ CFG_PLAIN, SOCKETMAP_SENDER_TRANSPORT, "<>", SMX_NOTFOUND, NULL, 0 },
	{ CFG_SOS, SOCKETMAP_SENDER_TRANSPORT, "user@other.example", SMX_OK,
	    "secmx:", 0 },
	{ CFG_SOS, SOCKETMAP_SENDER_TRANSPORT, "user@bes.example", SMX_NOTFOUND,
	    NULL, 0 },
	{ CFG_NAMED, SOCKETMAP_SENDER_TRANSPORT, "sos.example", SMX_OK,
	    "secmx-srv:", 0 },
	/* role tables */
	{ CFG_PLAIN, SOCKETMAP_RECEIVER, "user@SOR.example", SMX_OK, "sor", 0 },
	{ CFG_PLAIN, SOCKETMAP_RECEIVER, "a.ber.example", SMX_OK, "ber", 0 },
	{ CFG_PLAIN, SOCKETMAP_RECEIVER, "ber.example", SMX_NOTFOUND, NULL, 0 },
	/* UTF-8 keys and table entries meet as A-labels. */
	{ CFG_PLAIN, SOCKETMAP_RECEIVER, "xn--sr-fka.example", SMX_OK, "sor",
	    0 },
	{ CFG_PLAIN, SOCKETMAP_RECEIVER, "j\xc3\xb6rg@S\xc3\x96R.example",
	    SMX_OK, "sor", 0 },
	{ CFG_PLAIN, SOCKETMAP_RECEIVER, "user@s\xc3r.example", SMX_NOTFOUND,
	    NULL, 0 },
	{ CFG_PLAIN, SOCKETMAP_TRANSPORT, "user@S\xc3\xb6r.example",
	    SMX_NOTFOUND, NULL, 0 },
	{ CFG_PLAIN, SOCKETMAP_SENDER, "bes.example", SMX_OK, "bes", 0 },
	{ CFG_PLAIN, SOCKETMAP_DESTINATION, "sosdest.example", SMX_OK, "sos",
	    0 },
};

START_TEST(test_socketmap_lookup_cases)
{
	const struct lookup_case *c = &lookup_cases[_i];
	struct smx_config *cfg = make_config(c->cfg);
	struct smx_dns_opts dns;
	struct socketmap_ctx ctx;
	char value[SOCKETMAP_VALUE_SIZE] = "";
	char reason[SMX_DNS_REASON_MAX] = "";
	enum smx_status st;

	socketmap_dns_opts(cfg, &dns);
	ctx.cfg = cfg;
	ctx.dns = &dns;
	ctx.route = fake_route;
	route_calls = 0;
	st = socketmap_lookup(&ctx, c->map, c->key, value, sizeof(value),
	    reason, sizeof(reason));
	ck_assert_msg(st == c->want, "case %d (%s %s): status %d, want %d", _i,
	    socketmap_map_name(c->map), c->key, (int)st, (int)c->want);
	if (st == SMX_OK)
		ck_assert_str_eq(value, c->value);
	if (st == SMX_TEMPFAIL)
		ck_assert_msg(reason[0] != '\0', "case %d: no reason", _i);
	ck_assert_int_eq(route_calls, c->dns_calls);
	smx_config_free(cfg);
}
END_TEST

START_TEST(test_socketmap_lookup_small_buffer)
{
	struct smx_config *cfg = make_config(CFG_PLAIN);
	struct socketmap_ctx ctx = { cfg, NULL, fake_route };
	char value[4];
	char reason[SMX_DNS_REASON_MAX];

	/* Never a silent truncation: "secmx:" does not fit in 4 bytes. */
	ck_assert_int_eq(socketmap_lookup(&ctx, SOCKETMAP_TRANSPORT,
	                     "sosdest.example", value, sizeof(value), reason,
	                     sizeof(reason)),
	    SMX_TEMPFAIL);
	smx_config_free(cfg);
}
END_TEST

START_TEST(test_socketmap_dns_opts)
{
	struct smx_config *cfg = NULL;
	struct smx_dns_opts dns;
	static const char text[] = "dns_nameservers = 127.0.0.1:5353\n"
	                           "dns_timeout = 2s\ndns_trust_ad = yes\n";
	char err[256];

	ck_assert_int_eq(smx_config_parse("t", text, sizeof(text) - 1, &cfg,
	                     err, sizeof(err)),
	    SMX_OK);
	socketmap_dns_opts(cfg, &dns);
	ck_assert_str_eq(dns.nameservers, "127.0.0.1:5353");
	ck_assert_uint_eq(dns.timeout, 2);
	ck_assert(dns.trust_ad);
	smx_config_free(cfg);
}
END_TEST

/* ---- complete replies ---------------------------------------------- */

struct handle_case {
	const char *in;
	size_t len; /* 0: strlen(in) */
	enum smx_status want;
	const char *reply;
};

static const struct handle_case handle_cases[] = {
	{ "route srv.example", 0, SMX_OK, "51:OK " ROUTE_SRV_EXAMPLE "," },
	{ "transport srv.example", 0, SMX_OK, "9:OK secmx:," },
	{ "route plain.example", 0, SMX_NOTFOUND, "9:NOTFOUND ," },
	/* An OK without a value is sent as NOTFOUND, never a bare OK. */
	{ "route empty.example", 0, SMX_NOTFOUND, "9:NOTFOUND ," },
	{ "transport .example", 0, SMX_NOTFOUND, "9:NOTFOUND ," },
	/* The reason is made printable. */
	{ "route fail.example", 0, SMX_TEMPFAIL,
	    "31:TEMP SERVFAIL? from [127.0.0.1]," },
	{ "nosuch example.org", 0, SMX_PERMFAIL, "21:PERM unknown map name," },
	{ "route", 0, SMX_PERMFAIL, "33:PERM malformed request (no space)," },
	{ "", 0, SMX_PERMFAIL, "33:PERM malformed request (no space)," },
	{ "route ", 0, SMX_PERMFAIL, "26:PERM malformed key (empty)," },
	{ "route a\0b", 9, SMX_PERMFAIL,
	    "38:PERM malformed key (control character)," },
};

START_TEST(test_socketmap_handle_cases)
{
	const struct handle_case *c = &handle_cases[_i];
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	struct smx_config *cfg = make_config(CFG_PLAIN);
	struct socketmap_ctx ctx = { cfg, NULL, fake_route };
	char reply[SOCKETMAP_REPLY_SIZE];
	size_t rlen = 0;
	enum smx_status st;

	st = socketmap_handle(&ctx, c->in, len, reply, sizeof(reply), &rlen);
	ck_assert_msg(st == c->want, "case %d: status %d, want %d", _i, (int)st,
	    (int)c->want);
	ck_assert_msg(rlen == strlen(c->reply) &&
	        memcmp(reply, c->reply, rlen) == 0,
	    "case %d: reply '%.*s', want '%s'", _i, (int)rlen, reply, c->reply);
	smx_config_free(cfg);
}
END_TEST

START_TEST(test_socketmap_handle_small_buffer)
{
	struct smx_config *cfg = make_config(CFG_PLAIN);
	struct socketmap_ctx ctx = { cfg, NULL, fake_route };
	char reply[SOCKETMAP_REPLY_SIZE - 1];
	size_t rlen = 0;

	ck_assert_int_eq(socketmap_handle(&ctx, "route srv.example", 17, reply,
	                     sizeof(reply), &rlen),
	    SMX_INVALID);
	smx_config_free(cfg);
}
END_TEST

/* ---- one connection over a socketpair ------------------------------ */

struct conn_case {
	const char *in; /* what the client sends, then it closes */
	size_t len;     /* 0: strlen(in) */
	bool is_bytewise;
	enum smx_status want;
	const char *out; /* every byte the server sends */
};

static const struct conn_case conn_cases[] = {
	/* Several requests in one write, answered in order. */
	{ "17:route srv.example,19:route plain.example,"
	  "21:transport srv.example,",
	    0, false, SMX_OK,
	    "51:OK " ROUTE_SRV_EXAMPLE ",9:NOTFOUND ,9:OK secmx:," },
	/* The same, one byte per write. */
	{ "17:route srv.example,19:route plain.example,"
	  "21:transport srv.example,",
	    0, true, SMX_OK,
	    "51:OK " ROUTE_SRV_EXAMPLE ",9:NOTFOUND ,9:OK secmx:," },
	/* A malformed netstring ends the connection without a reply. */
	{ "21:transport srv.example,5:hello!9:route x,", 0, false, SMX_INVALID,
	    "9:OK secmx:," },
	{ "05:route,", 0, false, SMX_INVALID, "" },
	{ "10001:", 0, false, SMX_INVALID, "" },
	/* A request cut short by EOF gets no reply. */
	{ "21:transport srv.example,17:route srv", 0, false, SMX_OK,
	    "9:OK secmx:," },
	/* PERM replies keep the connection. */
	{ "7:bogus x,21:transport srv.example,", 0, false, SMX_OK,
	    "21:PERM unknown map name,9:OK secmx:," },
	/* NUL inside a key. */
	{ "9:route a\0b,21:transport srv.example,", 37, false, SMX_OK,
	    "38:PERM malformed key (control character),9:OK secmx:," },
	{ "", 0, false, SMX_OK, "" },
};

/* Write len bytes of in to fd (one byte per write when bytewise). */
static void
client_write(int fd, const char *in, size_t len, bool is_bytewise)
{
	size_t off = 0;

	while (off < len) {
		size_t chunk = is_bytewise ? 1 : len - off;
		ssize_t n = write(fd, in + off, chunk);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1);
		off += (size_t)n;
	}
}

START_TEST(test_socketmap_conn_cases)
{
	const struct conn_case *c = &conn_cases[_i];
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	struct smx_config *cfg = make_config(CFG_PLAIN);
	struct socketmap_ctx ctx = { cfg, NULL, fake_route };
	char out[1024];
	size_t out_len = 0;
	enum smx_status st;
	int sv[2];
	pid_t pid;
	int status;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	signal(SIGPIPE, SIG_IGN);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		(void)close(sv[1]);
		client_write(sv[0], c->in, len, c->is_bytewise);
		(void)shutdown(sv[0], SHUT_WR);
		_exit(0);
	}
	/* The parent keeps sv[0] to read the replies after the server. */
	st = lookup_server_conn(&ctx, sv[1], sv[1], 30, 30, "test");
	ck_assert_int_eq(st, c->want);
	(void)close(sv[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (;;) {
		ssize_t n = read(sv[0], out + out_len, sizeof(out) - out_len);

		if (n <= 0)
			break;
		out_len += (size_t)n;
	}
	(void)close(sv[0]);
	ck_assert_msg(out_len == strlen(c->out) &&
	        memcmp(out, c->out, out_len) == 0,
	    "case %d: sent '%.*s', want '%s'", _i, (int)out_len, out, c->out);
	smx_config_free(cfg);
}
END_TEST

/*
 * Timeouts end the connection: idle (nothing sent, peer still there) is
 * a normal end; a request left unfinished is not.
 */
START_TEST(test_socketmap_conn_timeouts)
{
	struct smx_config *cfg = make_config(CFG_PLAIN);
	struct socketmap_ctx ctx = { cfg, NULL, fake_route };
	char out[64];
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(lookup_server_conn(&ctx, sv[1], sv[1], 1, 1, "test"),
	    SMX_OK);
	ck_assert_int_eq(write(sv[0], "17:route srv", 12), 12);
	ck_assert_int_eq(lookup_server_conn(&ctx, sv[1], sv[1], 1, 1, "test"),
	    SMX_TEMPFAIL);
	(void)close(sv[1]);
	ck_assert_int_eq(read(sv[0], out, sizeof(out)), 0);
	(void)close(sv[0]);
	smx_config_free(cfg);
}
END_TEST

static Suite *
socketmap_suite(void)
{
	Suite *s = suite_create("socketmap");
	TCase *tc;

	tc = tcase_create("netstring");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_socketmap_netstring_cases, 0,
	    sizeof(ns_cases) / sizeof(ns_cases[0]));
	tcase_add_test(tc, test_socketmap_netstring_cap);
	tcase_add_test(tc, test_socketmap_netstring_bytewise);
	tcase_add_test(tc, test_socketmap_netstring_several);
	tcase_add_test(tc, test_socketmap_netstring_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_socketmap_request_cases, 0,
	    sizeof(req_cases) / sizeof(req_cases[0]));
	tcase_add_test(tc, test_socketmap_request_key_cap);
	tcase_add_test(tc, test_socketmap_map_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("lookup");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_socketmap_lookup_cases, 0,
	    sizeof(lookup_cases) / sizeof(lookup_cases[0]));
	tcase_add_test(tc, test_socketmap_lookup_small_buffer);
	tcase_add_test(tc, test_socketmap_dns_opts);
	suite_add_tcase(s, tc);

	tc = tcase_create("handle");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_socketmap_handle_cases, 0,
	    sizeof(handle_cases) / sizeof(handle_cases[0]));
	tcase_add_test(tc, test_socketmap_handle_small_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("conn");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_socketmap_conn_cases, 0,
	    sizeof(conn_cases) / sizeof(conn_cases[0]));
	tcase_add_test(tc, test_socketmap_conn_timeouts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(socketmap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
