/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the pure parts of lib/smx_route.c: smx_route_format, next
 * hop and address parsing, certificate reference names, the sending
 * role, and the SRV order smx_route_srv relies on (smx_order_srv with a
 * fixed random source). The lookups themselves run against nsd in
 * tests/integration.
 */
#include <check.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smx_config.h"
#include "smx_table.h"
#include "smx_route.h"

static void
add_target(struct smx_route *r, const char *host, uint16_t port)
{
	struct smx_route_target *t = &r->target[r->n_targets++];

	snprintf(t->host, sizeof(t->host), "%s", host);
	t->port = port;
}

START_TEST(test_route_format)
{
	struct smx_route r;
	char out[256];
	char small[20];

	memset(&r, 0, sizeof(r));
	r.kind = SMX_ROUTE_SRV;
	smx_route_format(&r, out, sizeof(out));
	ck_assert_str_eq(out, "");
	add_target(&r, "secmail.example.org", 25);
	add_target(&r, "backup.example.org", 2525);
	smx_route_format(&r, out, sizeof(out));
	ck_assert_str_eq(out,
	    "srv:[secmail.example.org]:25, srv:[backup.example.org]:2525");
	r.kind = SMX_ROUTE_MX;
	smx_route_format(&r, out, sizeof(out));
	ck_assert_str_eq(out,
	    "mx:[secmail.example.org]:25, mx:[backup.example.org]:2525");
	/* Truncated, terminated, never overrun. */
	memset(small, 'Z', sizeof(small));
	smx_route_format(&r, small, sizeof(small) - 1);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 2);
	ck_assert_int_eq(small[sizeof(small) - 1], 'Z');
	smx_route_format(&r, small, 0);
	ck_assert_int_eq(small[0], 'm');
	/* A null route. */
	memset(&r, 0, sizeof(r));
	r.kind = SMX_ROUTE_MX;
	r.is_null = true;
	smx_route_format(&r, out, sizeof(out));
	ck_assert_str_eq(out, "mx:null");
	r.kind = SMX_ROUTE_SRV;
	smx_route_format(&r, out, sizeof(out));
	ck_assert_str_eq(out, "srv:null");
}
END_TEST

static const struct {
	const char *in;
	enum smx_status st;
	enum smx_route_nexthop_kind kind;
	const char *host;
	unsigned port;
} nexthop_cases[] = {
	{ "example.org", SMX_OK, SMX_ROUTE_NEXTHOP_DOMAIN, "example.org", 25 },
	{ "Example.ORG.", SMX_OK, SMX_ROUTE_NEXTHOP_DOMAIN, "example.org", 25 },
	{ "[relay.example.org]", SMX_OK, SMX_ROUTE_NEXTHOP_HOST,
	    "relay.example.org", 25 },
	{ "[Relay.Example.org]:2525", SMX_OK, SMX_ROUTE_NEXTHOP_HOST,
	    "relay.example.org", 2525 },
	{ "[192.0.2.1]:2525", SMX_OK, SMX_ROUTE_NEXTHOP_ADDR, "192.0.2.1",
	    2525 },
	{ "[127.0.0.1]", SMX_OK, SMX_ROUTE_NEXTHOP_ADDR, "127.0.0.1", 25 },
	{ "[2001:db8::1]:587", SMX_OK, SMX_ROUTE_NEXTHOP_ADDR, "2001:db8::1",
	    587 },
	{ "[IPv6:2001:db8::1]", SMX_OK, SMX_ROUTE_NEXTHOP_ADDR, "2001:db8::1",
	    25 },
	{ "[127.0.0.1]:65535", SMX_OK, SMX_ROUTE_NEXTHOP_ADDR, "127.0.0.1",
	    65535 },
	{ "", SMX_INVALID, 0, NULL, 0 },
	{ "example.org:25", SMX_INVALID, 0, NULL, 0 },
	{ "[127.0.0.1]:0", SMX_INVALID, 0, NULL, 0 },
	{ "[127.0.0.1]:65536", SMX_INVALID, 0, NULL, 0 },
	{ "[127.0.0.1]:", SMX_INVALID, 0, NULL, 0 },
	{ "[127.0.0.1]x", SMX_INVALID, 0, NULL, 0 },
	{ "[127.0.0.1", SMX_INVALID, 0, NULL, 0 },
	{ "[]", SMX_INVALID, 0, NULL, 0 },
	{ "[ipv6:192.0.2.1]", SMX_INVALID, 0, NULL, 0 },
	{ "[bad_-.host]", SMX_INVALID, 0, NULL, 0 },
	{ "exa mple.org", SMX_INVALID, 0, NULL, 0 },
	{ "example.org\r", SMX_INVALID, 0, NULL, 0 },
	/* UTF-8 (an SMTPUTF8 recipient's domain): its A-labels. */
	{ "Ex\xc3\xa4mple.org", SMX_OK, SMX_ROUTE_NEXTHOP_DOMAIN,
	    "xn--exmple-cua.org", 25 },
	{ "[b\xc3\xbc"
	  "cher.example]:2525",
	    SMX_OK, SMX_ROUTE_NEXTHOP_HOST, "xn--bcher-kva.example", 2525 },
	{ "ex\xc3mple.org", SMX_INVALID, 0, NULL, 0 },
	{ "ex\xc3\xa4 mple.org", SMX_INVALID, 0, NULL, 0 },
};

START_TEST(test_route_nexthop)
{
	struct smx_route_nexthop nh;
	enum smx_status st;

	memset(&nh, 0x5a, sizeof(nh));
	st = smx_route_parse_nexthop(nexthop_cases[_i].in,
	    strlen(nexthop_cases[_i].in), &nh);
	ck_assert_int_eq(st, nexthop_cases[_i].st);
	if (st != SMX_OK) {
		ck_assert_int_eq(((unsigned char *)&nh)[0], 0x5a);
		return;
	}
	ck_assert_int_eq(nh.kind, nexthop_cases[_i].kind);
	ck_assert_str_eq(nh.host, nexthop_cases[_i].host);
	ck_assert_uint_eq(nh.port, nexthop_cases[_i].port);
}
END_TEST

START_TEST(test_route_nexthop_nul)
{
	struct smx_route_nexthop nh;

	ck_assert_int_eq(smx_route_parse_nexthop("a.example\0b", 11, &nh),
	    SMX_INVALID);
}
END_TEST

static const struct {
	const char *addr;
	enum smx_status st;
	const char *domain;
} domain_cases[] = {
	{ "user@Example.ORG", SMX_OK, "example.org" },
	{ "user@example.org.", SMX_OK, "example.org" },
	{ "\"a@b\"@example.org", SMX_OK, "example.org" },
	{ "user@[192.0.2.1]", SMX_OK, "[192.0.2.1]" },
	{ "", SMX_NOTFOUND, NULL },
	{ "postmaster", SMX_NOTFOUND, NULL },
	{ "user@", SMX_INVALID, NULL },
	{ "user@exa mple.org", SMX_INVALID, NULL },
	{ "user@[not.an.addr]", SMX_INVALID, NULL },
	{ "j\xc3\xb6rg@B\xc3\xbc"
	  "cher.example",
	    SMX_OK, "xn--bcher-kva.example" },
	{ "user@b\xc3\xbc"
	  "cher..example",
	    SMX_INVALID, NULL },
};

START_TEST(test_route_address_domain)
{
	char out[SMX_DOMAIN_MAX + 3] = "unchanged";
	enum smx_status st;

	st = smx_route_address_domain(domain_cases[_i].addr, out, sizeof(out));
	ck_assert_int_eq(st, domain_cases[_i].st);
	if (st == SMX_OK)
		ck_assert_str_eq(out, domain_cases[_i].domain);
}
END_TEST

START_TEST(test_route_tls_names)
{
	struct smx_route_tls_names n;

	/* Not validated: the SRV target never counts. */
	smx_route_tls_names("example.org", "secmail.attacker.test", false, &n);
	ck_assert_uint_eq(n.n_names, 2);
	ck_assert_str_eq(n.names[0], "example.org");
	ck_assert_str_eq(n.names[1], ".example.org");
	/* Validated (is_ad with dns_trust_ad): it does. */
	smx_route_tls_names("example.org", "secmail.hosting.test", true, &n);
	ck_assert_uint_eq(n.n_names, 3);
	ck_assert_str_eq(n.names[2], "secmail.hosting.test");
	/* Not repeated when it is the domain itself. */
	smx_route_tls_names("example.org", "EXAMPLE.org", true, &n);
	ck_assert_uint_eq(n.n_names, 2);
	smx_route_tls_names("example.org", NULL, true, &n);
	ck_assert_uint_eq(n.n_names, 2);
	ck_assert_uint_le(n.n_names, SMX_TLS_NAMES_MAX);
}
END_TEST

static struct smx_table *
table(const char *text, enum smx_table_type type)
{
	struct smx_table *t = NULL;
	char err[256];

	ck_assert_int_eq(smx_table_parse("t", text, strlen(text), type, &t, err,
	                     sizeof(err)),
	    SMX_OK);
	return t;
}

static const struct {
	const char *default_role;
	const char *sender;
	const char *destination;
	enum smx_role want;
} role_cases[] = {
	{ "bes", "", NULL, SMX_ROLE_BES },
	{ "sos", "", NULL, SMX_ROLE_SOS },
	{ "bes", "secure.example", NULL, SMX_ROLE_SOS },
	{ "bes", "a.corp.example", NULL, SMX_ROLE_SOS },
	{ "sos", "open.example", NULL, SMX_ROLE_BES },
	{ "bes", "other.example", NULL, SMX_ROLE_BES },
	/* destination_roles can only make it SOS. */
	{ "bes", "other.example", "govt.example", SMX_ROLE_SOS },
	{ "bes", "open.example", "govt.example", SMX_ROLE_SOS },
	{ "sos", "open.example", "relaxed.example", SMX_ROLE_BES },
	{ "bes", "secure.example", "relaxed.example", SMX_ROLE_SOS },
	{ "bes", "", "govt.example", SMX_ROLE_SOS },
};

START_TEST(test_route_sender_role)
{
	struct smx_config *cfg = NULL;
	char conf[64];
	char err[256];

	snprintf(conf, sizeof(conf), "default_sender_role = %s\n",
	    role_cases[_i].default_role);
	ck_assert_int_eq(smx_config_parse("c", conf, strlen(conf), &cfg, err,
	                     sizeof(err)),
	    SMX_OK);
	cfg->sender_roles = table("secure.example sos\n.corp.example sos\n"
	                          "open.example bes\n",
	    SMX_TABLE_SENDER);
	cfg->destination_roles = table("govt.example sos\n"
	                               "relaxed.example bes\n",
	    SMX_TABLE_DESTINATION);
	ck_assert_int_eq(smx_route_sender_role(cfg, role_cases[_i].sender,
	                     role_cases[_i].destination),
	    role_cases[_i].want);
	smx_config_free(cfg);
}
END_TEST

/* A fixed "random" source: always the largest draw. */
static uint64_t
max_random(uint64_t bound, void *ctx)
{
	(void)ctx;
	return bound - 1;
}

START_TEST(test_route_srv_order)
{
	struct smx_dns_srv srv[4];
	size_t i;

	memset(srv, 0, sizeof(srv));
	snprintf(srv[0].target, sizeof(srv[0].target), "c.example");
	srv[0].priority = 20;
	snprintf(srv[1].target, sizeof(srv[1].target), "a.example");
	srv[1].priority = 10;
	srv[1].weight = 0;
	snprintf(srv[2].target, sizeof(srv[2].target), "b.example");
	srv[2].priority = 10;
	srv[2].weight = 5;
	snprintf(srv[3].target, sizeof(srv[3].target), "d.example");
	srv[3].priority = 30;
	smx_order_srv(srv, 4, max_random, NULL);
	/*
	 * Priority first; within 10 the largest draw lands in weight 5's
	 * share, as weight 0 has only "a very small chance" (RFC 2782).
	 */
	ck_assert_str_eq(srv[0].target, "b.example");
	ck_assert_str_eq(srv[1].target, "a.example");
	ck_assert_str_eq(srv[2].target, "c.example");
	ck_assert_str_eq(srv[3].target, "d.example");
	for (i = 1; i < 4; i++)
		ck_assert_uint_le(srv[i - 1].priority, srv[i].priority);
}
END_TEST

/* local_listeners: parsing, and matching with a fake "is local". */
static const struct {
	const char *in;
	enum smx_status st;
	size_t n;
} self_cases[] = {
	{ "", SMX_OK, 0 },
	{ "25", SMX_OK, 1 },
	{ "25, 587\t127.0.0.1:2525 [::1]:25", SMX_OK, 4 },
	{ ",,25,,", SMX_OK, 1 },
	{ "0", SMX_INVALID, 0 },
	{ "65536", SMX_INVALID, 0 },
	{ "25x", SMX_INVALID, 0 },
	{ "127.0.0.1", SMX_INVALID, 0 },
	{ "127.0.0.1:", SMX_INVALID, 0 },
	{ ":25", SMX_INVALID, 0 },
	{ "[::1]", SMX_INVALID, 0 },
	{ "[::1]25", SMX_INVALID, 0 },
	{ "[127.0.0.1]:25", SMX_INVALID, 0 },
	{ "host.example:25", SMX_INVALID, 0 },
	{ "::1:25", SMX_INVALID, 0 },
	{ "25\n", SMX_INVALID, 0 },
	{ "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 "
	  "26 27 28 29 30 31 32",
	    SMX_OK, 32 },
	{ "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 "
	  "26 27 28 29 30 31 32 33",
	    SMX_INVALID, 0 },
};

START_TEST(test_route_self_parse)
{
	struct smx_route_self self;

	memset(&self, 0xa5, sizeof(self));
	self.n_items = 99;
	ck_assert_int_eq(smx_route_self_parse(self_cases[_i].in,
	                     strlen(self_cases[_i].in), &self),
	    self_cases[_i].st);
	if (self_cases[_i].st == SMX_OK)
		ck_assert_uint_eq(self.n_items, self_cases[_i].n);
	else
		ck_assert_uint_eq(self.n_items, 99);
}
END_TEST

static int n_is_local_calls;

static bool
loopback_is_local(int family, const unsigned char *addr)
{
	n_is_local_calls++;
	return family == AF_INET && addr[0] == 127;
}

START_TEST(test_route_self_match)
{
	static const char list[] = "25 192.0.2.1:2525 [2001:db8::1]:587";
	struct smx_route_self self;
	unsigned char lo[4] = { 127, 0, 0, 2 };
	unsigned char doc[4] = { 192, 0, 2, 1 };
	unsigned char v6[16];

	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", v6), 1);
	ck_assert_int_eq(smx_route_self_parse(list, strlen(list), &self),
	    SMX_OK);
	/* Port-only items: only for an address of this host. */
	ck_assert(
	    smx_route_self_match(&self, AF_INET, lo, 25, loopback_is_local));
	ck_assert(
	    !smx_route_self_match(&self, AF_INET, doc, 25, loopback_is_local));
	/* Address items: exactly that address and port. */
	ck_assert(
	    smx_route_self_match(&self, AF_INET, doc, 2525, loopback_is_local));
	ck_assert(
	    !smx_route_self_match(&self, AF_INET, lo, 2525, loopback_is_local));
	ck_assert(
	    smx_route_self_match(&self, AF_INET6, v6, 587, loopback_is_local));
	ck_assert(
	    !smx_route_self_match(&self, AF_INET6, v6, 25, loopback_is_local));
	/* "Is it local?" is asked only when a port-only item has the port. */
	n_is_local_calls = 0;
	ck_assert(
	    !smx_route_self_match(&self, AF_INET, lo, 2626, loopback_is_local));
	ck_assert_int_eq(n_is_local_calls, 0);
	ck_assert(!smx_route_self_match(&self, AF_INET, lo, 25, NULL));
}
END_TEST

START_TEST(test_route_destination_sos)
{
	struct smx_config *cfg = NULL;
	char err[256];

	ck_assert_int_eq(smx_config_parse("c", "", 0, &cfg, err, sizeof(err)),
	    SMX_OK);
	ck_assert(!smx_route_destination_sos(cfg, "govt.example"));
	cfg->destination_roles = table("govt.example sos\n.govt.example sos\n"
	                               "relaxed.example bes\n",
	    SMX_TABLE_DESTINATION);
	ck_assert(smx_route_destination_sos(cfg, "govt.example"));
	ck_assert(smx_route_destination_sos(cfg, "a.govt.example"));
	ck_assert(!smx_route_destination_sos(cfg, "relaxed.example"));
	ck_assert(!smx_route_destination_sos(cfg, "other.example"));
	ck_assert(!smx_route_destination_sos(cfg, NULL));
	ck_assert(!smx_route_destination_sos(cfg, ""));
	/* Local domains: receiver_roles keys, whatever their role. */
	cfg->receiver_roles =
	    table("sor.example sor\n.ber.example ber\n", SMX_TABLE_RECEIVER);
	ck_assert(smx_route_is_local(cfg, "sor.example"));
	ck_assert(smx_route_is_local(cfg, "x.ber.example"));
	ck_assert(!smx_route_is_local(cfg, "ber.example"));
	ck_assert(!smx_route_is_local(cfg, NULL));
	smx_config_free(cfg);
}
END_TEST

/* smx_route_dane_wanted and smx_route_dane_state. */
START_TEST(test_route_dane_state)
{
	struct smx_config *cfg = NULL;
	struct smx_dns_tlsa_set *set = calloc(1, sizeof(*set));
	char err[256];

	ck_assert_ptr_nonnull(set);
	ck_assert_int_eq(smx_config_parse("c", "dns_trust_ad = yes\n", 19, &cfg,
	                     err, sizeof(err)),
	    SMX_OK);
	ck_assert(smx_route_dane_wanted(cfg, true, true));
	ck_assert(!smx_route_dane_wanted(cfg, false, true));
	ck_assert(!smx_route_dane_wanted(cfg, true, false));
	cfg->tls_dane = false;
	ck_assert(!smx_route_dane_wanted(cfg, true, true));
	cfg->tls_dane = true;
	cfg->dns_trust_ad = false;
	ck_assert(!smx_route_dane_wanted(cfg, true, true));

	ck_assert_int_eq(smx_route_dane_state(SMX_NOTFOUND, set), SMX_DANE_OFF);
	ck_assert_int_eq(smx_route_dane_state(SMX_TEMPFAIL, set),
	    SMX_DANE_FAILED);
	ck_assert_int_eq(smx_route_dane_state(SMX_INVALID, set),
	    SMX_DANE_FAILED);
	set->n_rr = 2;
	set->rr[0].usage = 1; /* PKIX-EE: unusable for SMTP */
	set->rr[0].selector = 1;
	set->rr[0].mtype = 1;
	set->rr[0].len = 32;
	set->rr[1] = set->rr[0];
	set->rr[1].usage = 3;
	set->rr[1].len = 31; /* a SHA2-256 digest of the wrong length */
	ck_assert_int_eq(smx_route_dane_state(SMX_OK, set), SMX_DANE_OFF);
	set->is_ad = true;
	ck_assert_int_eq(smx_route_dane_state(SMX_OK, set), SMX_DANE_UNUSABLE);
	set->rr[1].len = 32;
	ck_assert_int_eq(smx_route_dane_state(SMX_OK, set), SMX_DANE_REQUIRED);
	set->rr[1].usage = 2;
	ck_assert_int_eq(smx_route_dane_state(SMX_OK, set), SMX_DANE_REQUIRED);
	free(set);
	smx_config_free(cfg);
}
END_TEST

static Suite *
route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc;

	tc = tcase_create("format");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_route_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_route_nexthop, 0,
	    sizeof(nexthop_cases) / sizeof(nexthop_cases[0]));
	tcase_add_test(tc, test_route_nexthop_nul);
	tcase_add_loop_test(tc, test_route_address_domain, 0,
	    sizeof(domain_cases) / sizeof(domain_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("policy");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_route_tls_names);
	tcase_add_loop_test(tc, test_route_sender_role, 0,
	    sizeof(role_cases) / sizeof(role_cases[0]));
	tcase_add_test(tc, test_route_srv_order);
	tcase_add_test(tc, test_route_destination_sos);
	tcase_add_test(tc, test_route_dane_state);
	suite_add_tcase(s, tc);

	tc = tcase_create("self");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_route_self_parse, 0,
	    sizeof(self_cases) / sizeof(self_cases[0]));
	tcase_add_test(tc, test_route_self_match);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(route_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
