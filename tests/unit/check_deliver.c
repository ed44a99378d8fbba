/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/deliver.c: the pure delivery decisions (role,
 * destination, DNS answer, TLS policy per target) table by table, and
 * deliver_run over fake DNS and fake SMTP sessions (struct deliver_io):
 * the SecMX Level 2 matrix of {Secure Only, Best Effort} senders times
 * destinations, with every fault class of the sessions, the rule that a
 * Secure Only recipient never leaves in plaintext, mail loops, and
 * per-recipient outcomes.
 */
#include <check.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "smtp_cache.h"
#include "smx_config.h"
#include "smx_log.h"
#include "smx_table.h"
#include "spool.h"
#include "fake_session.h"

/* ------------------------------------------------------------------ */
/* Configuration                                                        */

static struct smx_config *
config(const char *text, const char *sender_roles, const char *dest_roles)
{
	struct smx_config *cfg = NULL;
	char err[512];

	ck_assert_msg(smx_config_parse("t.conf", text, strlen(text), &cfg, err,
	                  sizeof(err)) == SMX_OK,
	    "%s", err);
	if (sender_roles != NULL)
		ck_assert_int_eq(smx_table_parse("s", sender_roles,
		                     strlen(sender_roles), SMX_TABLE_SENDER,
		                     &cfg->sender_roles, err, sizeof(err)),
		    SMX_OK);
	if (dest_roles != NULL)
		ck_assert_int_eq(smx_table_parse("d", dest_roles,
		                     strlen(dest_roles), SMX_TABLE_DESTINATION,
		                     &cfg->destination_roles, err, sizeof(err)),
		    SMX_OK);
	return cfg;
}

/* ------------------------------------------------------------------ */
/* deliver_role                                                         */

static const struct {
	const char *sender;
	const char *rcpt;
	const char *dflt;
	enum smx_role want;
} role_cases[] = {
	{ "a@sos.example", "b@dest.example", "bes", SMX_ROLE_SOS },
	{ "a@bes.example", "b@dest.example", "sos", SMX_ROLE_BES },
	{ "a@other.example", "b@dest.example", "bes", SMX_ROLE_BES },
	{ "a@other.example", "b@dest.example", "sos", SMX_ROLE_SOS },
	{ "", "b@dest.example", "bes", SMX_ROLE_BES },
	{ "", "b@dest.example", "sos", SMX_ROLE_SOS },
	/* destination_roles by the recipient's domain: SOS wins. */
	{ "a@bes.example", "b@secure.example", "bes", SMX_ROLE_SOS },
	{ "a@bes.example", "b@a.sub.example", "bes", SMX_ROLE_SOS },
	{ "a@bes.example", "b@SECURE.example.", "bes", SMX_ROLE_SOS },
	{ "", "b@secure.example", "bes", SMX_ROLE_SOS },
	/* A recipient without a domain or at a literal: sender role only. */
	{ "a@bes.example", "b", "bes", SMX_ROLE_BES },
	{ "a@bes.example", "b@[192.0.2.1]", "bes", SMX_ROLE_BES },
	{ "a@sos.example", "b@[192.0.2.1]", "bes", SMX_ROLE_SOS },
};

START_TEST(test_deliver_role)
{
	char text[64];
	struct smx_config *cfg;

	snprintf(text, sizeof(text), "default_sender_role = %s\n",
	    role_cases[_i].dflt);
	cfg = config(text, "sos.example sos\nbes.example bes\n",
	    "secure.example sos\n.sub.example sos\nplain.example bes\n");
	ck_assert_int_eq(deliver_role(cfg, role_cases[_i].sender,
	                     role_cases[_i].rcpt),
	    role_cases[_i].want);
	smx_config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* deliver_destination                                                  */

static const struct {
	const char *nexthop;
	const char *rcpt;
	bool ok;
	enum smx_route_nexthop_kind kind;
	const char *host;
	unsigned port;
} dest_cases[] = {
	{ NULL, "b@Dest.Example", true, SMX_ROUTE_NEXTHOP_DOMAIN,
	    "dest.example", 25 },
	{ "", "b@dest.example.", true, SMX_ROUTE_NEXTHOP_DOMAIN, "dest.example",
	    25 },
	{ "relay.example", "b@dest.example", true, SMX_ROUTE_NEXTHOP_DOMAIN,
	    "relay.example", 25 },
	{ "[relay.example]:2525", "b@dest.example", true,
	    SMX_ROUTE_NEXTHOP_HOST, "relay.example", 2525 },
	{ "[192.0.2.1]", "b@dest.example", true, SMX_ROUTE_NEXTHOP_ADDR,
	    "192.0.2.1", 25 },
	{ NULL, "b@[192.0.2.7]", true, SMX_ROUTE_NEXTHOP_ADDR, "192.0.2.7",
	    25 },
	/* Local trouble: deferred, never bounced. */
	{ NULL, "bob", false, 0, NULL, 0 },
	{ NULL, "b@bad..example", false, 0, NULL, 0 },
	{ "bad:nexthop", "b@dest.example", false, 0, NULL, 0 },
	{ "[relay]:0", "b@dest.example", false, 0, NULL, 0 },
};

START_TEST(test_deliver_destination)
{
	struct smx_route_nexthop nh;
	struct outcome err;

	memset(&nh, 0, sizeof(nh));
	ck_assert(deliver_destination(dest_cases[_i].nexthop,
	              dest_cases[_i].rcpt, &nh, &err) == dest_cases[_i].ok);
	if (!dest_cases[_i].ok) {
		ck_assert_int_eq(err.status, SMX_TEMPFAIL);
		ck_assert_ptr_eq(strstr(err.line, "4.3.5 "), err.line);
		return;
	}
	ck_assert_int_eq(nh.kind, dest_cases[_i].kind);
	ck_assert_str_eq(nh.host, dest_cases[_i].host);
	ck_assert_uint_eq(nh.port, dest_cases[_i].port);
}
END_TEST

/* ------------------------------------------------------------------ */
/* deliver_dns_outcome                                                  */

static const struct {
	enum smx_route_kind kind;
	enum smx_status st;
	size_t n_targets;
	bool is_null;
	enum deliver_dns_step want;
	enum smx_status want_st;
	const char *want_line;
} dns_cases[] = {
	{ SMX_ROUTE_SRV, SMX_OK, 2, false, DELIVER_DNS_GO_ON, 0, NULL },
	{ SMX_ROUTE_SRV, SMX_NOTFOUND, 0, false, DELIVER_DNS_NEXT, 0, NULL },
	{ SMX_ROUTE_SRV, SMX_NOTFOUND, 0, true, DELIVER_DNS_NEXT, 0, NULL },
	{ SMX_ROUTE_SRV, SMX_OK, 0, true, DELIVER_DNS_NEXT, 0, NULL },
	{ SMX_ROUTE_SRV, SMX_TEMPFAIL, 0, false, DELIVER_DNS_DECIDED,
	    SMX_TEMPFAIL,
	    "4.4.3 DNS lookup of _secmx._tcp.d.example failed: SERVFAIL" },
	{ SMX_ROUTE_SRV, SMX_INVALID, 0, false, DELIVER_DNS_DECIDED,
	    SMX_TEMPFAIL, "4.4.3 " },
	{ SMX_ROUTE_MX, SMX_OK, 1, false, DELIVER_DNS_GO_ON, 0, NULL },
	{ SMX_ROUTE_MX, SMX_OK, 0, true, DELIVER_DNS_DECIDED, SMX_PERMFAIL,
	    "5.1.10 Recipient address rejected: domain does not accept mail (null MX)" },
	{ SMX_ROUTE_MX, SMX_NOTFOUND, 0, false, DELIVER_DNS_DECIDED,
	    SMX_PERMFAIL,
	    "5.1.2 Host or domain name not found. Name service error for name=d.example type=MX: Host not found" },
	{ SMX_ROUTE_MX, SMX_TEMPFAIL, 0, false, DELIVER_DNS_DECIDED,
	    SMX_TEMPFAIL, "4.4.3 DNS lookup of MX for d.example failed: " },
	{ SMX_ROUTE_MX, SMX_INVALID, 0, false, DELIVER_DNS_DECIDED,
	    SMX_TEMPFAIL, "4.4.3 " },
};

START_TEST(test_deliver_dns_outcome)
{
	struct smx_route rt;
	struct outcome o;

	memset(&rt, 0, sizeof(rt));
	rt.kind = dns_cases[_i].kind;
	rt.n_targets = dns_cases[_i].n_targets;
	rt.is_null = dns_cases[_i].is_null;
	ck_assert_int_eq(deliver_dns_outcome(dns_cases[_i].kind,
	                     dns_cases[_i].st, &rt, "d.example", "SERVFAIL",
	                     &o),
	    dns_cases[_i].want);
	if (dns_cases[_i].want != DELIVER_DNS_DECIDED)
		return;
	ck_assert_int_eq(o.status, dns_cases[_i].want_st);
	ck_assert_msg(strncmp(o.line, dns_cases[_i].want_line,
	                  strlen(dns_cases[_i].want_line)) == 0,
	    "%s", o.line);
}
END_TEST

/* ------------------------------------------------------------------ */
/* deliver_target_policy                                                */

START_TEST(test_deliver_target_policy)
{
	static const struct {
		bool is_sos;
		enum outcome_route route;
		enum smx_route_dane dane;
		enum smx_mx_security mx;
		enum smtp_tls_policy tls;
		enum deliver_verify verify;
		enum deliver_skip skip;
	} cases[] = {
		{ true, OUTCOME_ROUTE_SRV, SMX_DANE_OFF, SMX_MX_ENCRYPT,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_CONFIG,
		    DELIVER_SKIP_NONE },
		{ false, OUTCOME_ROUTE_SRV, SMX_DANE_OFF, SMX_MX_ENCRYPT,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_CONFIG,
		    DELIVER_SKIP_NONE },
		{ true, OUTCOME_ROUTE_MX, SMX_DANE_OFF, SMX_MX_ENCRYPT,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_NONE, DELIVER_SKIP_NONE },
		{ false, OUTCOME_ROUTE_MX, SMX_DANE_OFF, SMX_MX_ENCRYPT,
		    SMTP_TLS_MAY, DELIVER_VERIFY_NONE, DELIVER_SKIP_NONE },
		{ true, OUTCOME_ROUTE_RELAY, SMX_DANE_OFF, SMX_MX_ENCRYPT,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_NONE, DELIVER_SKIP_NONE },
		{ false, OUTCOME_ROUTE_RELAY, SMX_DANE_OFF, SMX_MX_ENCRYPT,
		    SMTP_TLS_MAY, DELIVER_VERIFY_NONE, DELIVER_SKIP_NONE },
		/* Usable TLSA: mandatory DANE, for a BES too, on any route. */
		{ false, OUTCOME_ROUTE_MX, SMX_DANE_REQUIRED, SMX_MX_ENCRYPT,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_DANE, DELIVER_SKIP_NONE },
		{ true, OUTCOME_ROUTE_SRV, SMX_DANE_REQUIRED, SMX_MX_ENCRYPT,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_DANE, DELIVER_SKIP_NONE },
		{ true, OUTCOME_ROUTE_MX, SMX_DANE_REQUIRED, SMX_MX_DANE,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_DANE, DELIVER_SKIP_NONE },
		/* TLSA, none usable: mandatory TLS, not verified. */
		{ false, OUTCOME_ROUTE_MX, SMX_DANE_UNUSABLE, SMX_MX_ENCRYPT,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_NONE, DELIVER_SKIP_NONE },
		{ false, OUTCOME_ROUTE_SRV, SMX_DANE_UNUSABLE, SMX_MX_ENCRYPT,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_NONE, DELIVER_SKIP_NONE },
		/* Bogus or failed TLSA: not used at all. */
		{ false, OUTCOME_ROUTE_MX, SMX_DANE_FAILED, SMX_MX_ENCRYPT,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_NONE,
		    DELIVER_SKIP_DANE_FAILED },
		{ true, OUTCOME_ROUTE_SRV, SMX_DANE_FAILED, SMX_MX_ENCRYPT,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_NONE,
		    DELIVER_SKIP_DANE_FAILED },
		/* sos_mx_security = dane: only DANE qualifies an MX for SOS. */
		{ true, OUTCOME_ROUTE_MX, SMX_DANE_OFF, SMX_MX_DANE,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_NONE,
		    DELIVER_SKIP_NOT_DANE },
		{ true, OUTCOME_ROUTE_MX, SMX_DANE_UNUSABLE, SMX_MX_DANE,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_NONE,
		    DELIVER_SKIP_NOT_DANE },
		{ false, OUTCOME_ROUTE_MX, SMX_DANE_OFF, SMX_MX_DANE,
		    SMTP_TLS_MAY, DELIVER_VERIFY_NONE, DELIVER_SKIP_NONE },
		{ true, OUTCOME_ROUTE_SRV, SMX_DANE_OFF, SMX_MX_DANE,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_CONFIG,
		    DELIVER_SKIP_NONE },
		{ true, OUTCOME_ROUTE_RELAY, SMX_DANE_OFF, SMX_MX_DANE,
		    SMTP_TLS_ENCRYPT, DELIVER_VERIFY_NONE, DELIVER_SKIP_NONE },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct deliver_target t = deliver_target_policy(cases[i].is_sos,
		    cases[i].route, cases[i].dane, cases[i].mx);

		ck_assert_msg(t.skip == cases[i].skip, "case %zu", i);
		if (t.skip != DELIVER_SKIP_NONE)
			continue;
		ck_assert_msg(t.tls == cases[i].tls, "case %zu", i);
		ck_assert_msg(t.verify == cases[i].verify, "case %zu", i);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* deliver_run over fake DNS and fake sessions                          */

/* How a fake host behaves. */
enum behaviour {
	H_GOOD,       /* STARTTLS, delivers */
	H_NOTLS,      /* no STARTTLS offered */
	H_STLS_STALL, /* no reply to STARTTLS */
	H_STLS_LOST,  /* closes instead of replying to STARTTLS */
	H_STLS554,    /* refuses STARTTLS */
	H_HS_ALERT,   /* the handshake refused with an alert */
	H_HS_RESET,   /* the handshake reset */
	H_DOWN,       /* connection refused */
	H_LOOP,       /* greets with our own name */
	H_RCPT5,      /* refuses the recipient */
	H_MIXED,      /* accepts the first recipient only */
	H_EOD_LOST,   /* lost while waiting for the end-of-data reply */
	H_DANE_BAD,   /* its certificate matches no TLSA record */
};

/* What a TLSA lookup for a host gives. */
enum tlsa_kind {
	TL_NONE = 0, /* NODATA */
	TL_USABLE,   /* a validated DANE-EE record */
	TL_UNUSABLE, /* validated, but only PKIX-EE (unusable for SMTP) */
	TL_BOGUS,    /* SERVFAIL from the validating resolver */
	TL_INSECURE, /* records without AD */
};

struct fake_host {
	const char *name;
	const char *addr; /* IPv4 text; NULL: no addresses */
	enum behaviour b;
	bool is_ad; /* the addresses are DNSSEC-validated */
	enum tlsa_kind tlsa;
};

static const struct fake_host hosts[] = {
	{ "srv-a.test", "192.0.2.10", H_GOOD, false, TL_NONE },
	{ "srv-b.test", "192.0.2.11", H_GOOD, false, TL_NONE },
	{ "srv-down.test", "192.0.2.12", H_DOWN, false, TL_NONE },
	{ "srv-notls.test", "192.0.2.13", H_NOTLS, false, TL_NONE },
	{ "mx-good.test", "192.0.2.20", H_GOOD, false, TL_NONE },
	{ "mx-notls.test", "192.0.2.21", H_NOTLS, false, TL_NONE },
	{ "mx-stall.test", "192.0.2.22", H_STLS_STALL, false, TL_NONE },
	{ "mx-alert.test", "192.0.2.23", H_HS_ALERT, false, TL_NONE },
	{ "mx-down.test", "192.0.2.24", H_DOWN, false, TL_NONE },
	{ "mx-loop.test", "192.0.2.25", H_LOOP, false, TL_NONE },
	{ "mx-self.test", "127.0.0.1", H_GOOD, false, TL_NONE },
	{ "mx-noaddr.test", NULL, H_GOOD, false, TL_NONE },
	{ "mx-rcpt5.test", "192.0.2.26", H_RCPT5, false, TL_NONE },
	{ "mx-554.test", "192.0.2.27", H_STLS554, false, TL_NONE },
	{ "mx-stlslost.test", "192.0.2.28", H_STLS_LOST, false, TL_NONE },
	{ "mx-reset.test", "192.0.2.29", H_HS_RESET, false, TL_NONE },
	{ "mx-mixed.test", "192.0.2.30", H_MIXED, false, TL_NONE },
	{ "mx-eodlost.test", "192.0.2.31", H_EOD_LOST, false, TL_NONE },
	{ "relay.test", "192.0.2.40", H_NOTLS, false, TL_NONE },
	/* DNSSEC and DANE */
	{ "srv-dane.test", "192.0.2.50", H_GOOD, true, TL_USABLE },
	{ "srv-danebad.test", "192.0.2.51", H_DANE_BAD, true, TL_USABLE },
	{ "srv-bogus.test", "192.0.2.52", H_GOOD, true, TL_BOGUS },
	{ "srv-unusable.test", "192.0.2.53", H_GOOD, true, TL_UNUSABLE },
	{ "srv-insecure.test", "192.0.2.54", H_GOOD, false, TL_USABLE },
	{ "srv-tlsainsec.test", "192.0.2.55", H_GOOD, true, TL_INSECURE },
	{ "mx-dane.test", "192.0.2.60", H_GOOD, true, TL_USABLE },
	{ "mx-dane-notls.test", "192.0.2.61", H_NOTLS, true, TL_USABLE },
	{ "mx-danebad.test", "192.0.2.62", H_DANE_BAD, true, TL_USABLE },
	{ "mx-bogus.test", "192.0.2.63", H_GOOD, true, TL_BOGUS },
	{ "mx-secure.test", "192.0.2.64", H_GOOD, true, TL_NONE },
	{ "mx-plainsec.test", "192.0.2.65", H_NOTLS, true, TL_NONE },
};

/* What DNS says about a destination domain. */
struct fake_domain {
	const char *name;
	enum smx_status srv_st;
	const char *srv[3]; /* SRV targets, or "." for the null target */
	enum smx_status mx_st;
	const char *mx[3];
	bool is_null_mx;
	bool is_ad; /* the SRV and MX answers are DNSSEC-validated */
};

static const struct fake_domain domains[] = {
	{ "srv.test", SMX_OK, { "srv-a.test" }, SMX_OK, { NULL }, false,
	    false },
	{ "srv2.test", SMX_OK, { "srv-down.test", "srv-b.test" }, SMX_OK,
	    { NULL }, false, false },
	{ "srvnotls.test", SMX_OK, { "srv-notls.test" }, SMX_OK,
	    { "mx-good.test" }, false, false },
	{ "dot.test", SMX_OK, { "." }, SMX_OK, { "mx-good.test" }, false,
	    false },
	{ "ber.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-good.test" }, false,
	    false },
	{ "plain.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-notls.test" },
	    false, false },
	{ "stall.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-stall.test" },
	    false, false },
	{ "stlslost.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-stlslost.test" }, false, false },
	{ "reset.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-reset.test" },
	    false, false },
	{ "alert.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-alert.test" },
	    false, false },
	{ "refused.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-notls.test", "mx-554.test", "mx-alert.test" }, false, false },
	{ "mixed.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-notls.test", "mx-stall.test" }, false, false },
	{ "down.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-notls.test", "mx-down.test" }, false, false },
	{ "nullmx.test", SMX_NOTFOUND, { NULL }, SMX_OK, { NULL }, true,
	    false },
	{ "nx.test", SMX_NOTFOUND, { NULL }, SMX_NOTFOUND, { NULL }, false,
	    false },
	{ "servfail.test", SMX_TEMPFAIL, { NULL }, SMX_OK, { "mx-good.test" },
	    false, false },
	{ "mxfail.test", SMX_NOTFOUND, { NULL }, SMX_TEMPFAIL, { NULL }, false,
	    false },
	{ "loop.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-loop.test" },
	    false, false },
	{ "self.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-self.test" },
	    false, false },
	{ "noaddr.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-noaddr.test" },
	    false, false },
	{ "rcpt.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-rcpt5.test" },
	    false, false },
	{ "multi.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-mixed.test" },
	    false, false },
	{ "eodlost.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-eodlost.test", "mx-good.test" }, false, false },
	/* DNSSEC and DANE */
	{ "dane-srv.test", SMX_OK, { "srv-dane.test" }, SMX_OK, { NULL }, false,
	    true },
	{ "dane-srvbad.test", SMX_OK, { "srv-danebad.test", "srv-b.test" },
	    SMX_OK, { NULL }, false, true },
	{ "dane-srvbad-only.test", SMX_OK, { "srv-danebad.test" }, SMX_OK,
	    { "mx-good.test" }, false, true },
	{ "dane-srvbogus.test", SMX_OK, { "srv-bogus.test" }, SMX_OK,
	    { "mx-good.test" }, false, true },
	{ "dane-srvunusable.test", SMX_OK, { "srv-unusable.test" }, SMX_OK,
	    { NULL }, false, true },
	{ "dane-srvinsecure.test", SMX_OK, { "srv-insecure.test" }, SMX_OK,
	    { NULL }, false, true },
	{ "dane-srvtlsainsec.test", SMX_OK, { "srv-tlsainsec.test" }, SMX_OK,
	    { NULL }, false, true },
	/* An unvalidated SRV answer: no DANE for its target. */
	{ "dane-srvunsigned.test", SMX_OK, { "srv-dane.test" }, SMX_OK,
	    { NULL }, false, false },
	{ "dane-mx.test", SMX_NOTFOUND, { NULL }, SMX_OK, { "mx-dane.test" },
	    false, true },
	{ "dane-mxnotls.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-dane-notls.test" }, false, true },
	{ "dane-mxbad.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-danebad.test", "mx-dane-notls.test" }, false, true },
	{ "dane-mxbogus.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-bogus.test" }, false, true },
	{ "dane-mxnone.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-secure.test" }, false, true },
	{ "dane-mxplain.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-plainsec.test" }, false, true },
	{ "dane-mxmixed.test", SMX_NOTFOUND, { NULL }, SMX_OK,
	    { "mx-secure.test", "mx-dane.test" }, false, true },
};

/* What the fake sessions saw, for the assertions. */
static struct {
	size_t n_sessions;
	size_t n_plaintext; /* sessions with TLS optional or off */
	size_t n_dane;      /* sessions that required DANE */
	size_t n_tlsa_lookups;
	char hosts[16][64];
	char dane_base[64]; /* of the last DANE session */
	char dane_name[64]; /* its extra name */
	size_t n_names;     /* reference names of the last session */
	size_t n_srv;       /* DNS lookups: SRV, MX, addresses */
	size_t n_mx;
	size_t n_addrs;
	size_t n_dest_tries; /* sessions that asked for a kept connection
	                      * by destination (is_dest_reuse) */
	size_t n_dest_reused;
	char route_audit[16]; /* route= of the last attempt's audit line */
	char dnssec_audit[16];
} seen;

static const struct fake_domain *
find_domain(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		if (strcmp(domains[i].name, name) == 0)
			return &domains[i];
	}
	return NULL;
}

static const struct fake_host *
find_host(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		if (strcmp(hosts[i].name, name) == 0)
			return &hosts[i];
	}
	return NULL;
}

static void
fill_route(struct smx_route *rt, enum smx_route_kind kind,
    const char *const *names)
{
	size_t i;

	memset(rt, 0, sizeof(*rt));
	rt->kind = kind;
	for (i = 0; i < 3 && names[i] != NULL; i++) {
		if (strcmp(names[i], ".") == 0) {
			rt->is_null = true;
			return;
		}
		snprintf(rt->target[i].host, sizeof(rt->target[i].host), "%s",
		    names[i]);
		rt->target[i].port = kind == SMX_ROUTE_SRV ? 2525 : 25;
		rt->n_targets++;
	}
}

static enum smx_status
fake_srv(const struct smx_dns_opts *o, const char *domain, struct smx_route *rt,
    char *reason, size_t size)
{
	const struct fake_domain *d = find_domain(domain);

	(void)o;
	seen.n_srv++;
	snprintf(reason, size, "SERVFAIL");
	ck_assert_ptr_nonnull(d);
	fill_route(rt, SMX_ROUTE_SRV, d->srv);
	rt->is_ad = d->is_ad;
	if (d->srv_st == SMX_OK && rt->is_null)
		return SMX_NOTFOUND;
	return d->srv_st;
}

static enum smx_status
fake_mx(const struct smx_dns_opts *o, const char *domain, struct smx_route *rt,
    char *reason, size_t size)
{
	const struct fake_domain *d = find_domain(domain);

	(void)o;
	seen.n_mx++;
	snprintf(reason, size, "SERVFAIL");
	ck_assert_ptr_nonnull(d);
	fill_route(rt, SMX_ROUTE_MX, d->mx);
	rt->is_null = d->is_null_mx;
	rt->is_ad = d->is_ad;
	return d->mx_st;
}

static enum smx_status
fake_addrs(const struct smx_dns_opts *o, const char *host, uint16_t port,
    struct smx_dns_addr_set *set, char *reason, size_t size)
{
	const struct fake_host *h = find_host(host);

	(void)o;
	seen.n_addrs++;
	ck_assert_ptr_nonnull(h);
	if (h->addr == NULL) {
		snprintf(reason, size, "NXDOMAIN");
		return SMX_NOTFOUND;
	}
	memset(set, 0, sizeof(*set));
	set->n_addrs = 1;
	set->addr[0].family = AF_INET;
	set->addr[0].port = port;
	ck_assert_int_eq(inet_pton(AF_INET, h->addr, set->addr[0].addr), 1);
	snprintf(set->addr[0].text, sizeof(set->addr[0].text), "%s", h->addr);
	set->is_ad = h->is_ad;
	return SMX_OK;
}

/* The TLSA lookup of a fake host at _PORT._tcp.HOST. */
static enum smx_status
fake_tlsa(const struct smx_dns_opts *o, uint16_t port, const char *host,
    struct smx_dns_tlsa_set *set, char *reason, size_t size)
{
	const struct fake_host *h = find_host(host);

	(void)o;
	(void)port;
	ck_assert_ptr_nonnull(h);
	seen.n_tlsa_lookups++;
	memset(set, 0, sizeof(*set));
	switch (h->tlsa) {
	case TL_NONE:
		snprintf(reason, size, "no TLSA records");
		return SMX_NOTFOUND;
	case TL_BOGUS:
		snprintf(reason, size, "SERVFAIL");
		return SMX_TEMPFAIL;
	case TL_USABLE:
	case TL_UNUSABLE:
	case TL_INSECURE:
		break;
	}
	set->n_rr = 1;
	set->rr[0].usage = h->tlsa == TL_UNUSABLE ? 1 : 3;
	set->rr[0].selector = 1;
	set->rr[0].mtype = 1;
	set->rr[0].len = 32;
	memset(set->rr[0].data, 0xab, 32);
	set->is_ad = h->tlsa != TL_INSECURE;
	return SMX_OK;
}

/*
 * The connections a real session would have kept (p->conn_cache and
 * p->dest given, delivered): what the cache by destination returns.
 * The match is the real one (smtp_cache_dest_equal); the helo is always
 * the same here.
 */
static struct {
	size_t n;
	struct {
		struct smtp_dest dest;
		struct smtp_session_result res;
	} conn[8];
	bool is_probe_failing; /* the kept connection fails RSET */
	bool is_lost_on_reuse; /* the reused connection is lost at eod */
} kept;

static void
keep(const struct smtp_session_params *p, const struct smtp_session_result *res)
{
	size_t i;

	if (p->conn_cache == NULL || p->dest == NULL || !res->is_delivered)
		return;
	for (i = 0; i < kept.n; i++) {
		if (smtp_cache_dest_equal(&kept.conn[i].dest, p->dest))
			break;
	}
	ck_assert_uint_lt(i, sizeof(kept.conn) / sizeof(kept.conn[0]));
	kept.conn[i].dest = *p->dest;
	kept.conn[i].res = *res;
	if (i == kept.n)
		kept.n++;
}

/* is_dest_reuse: a kept connection for p->dest, as smtp_session. */
static enum smx_status
fake_dest_reuse(const struct smtp_session_params *p,
    struct smtp_session_result *res)
{
	size_t i;

	ck_assert_ptr_nonnull(p->conn_cache);
	ck_assert_ptr_nonnull(p->dest);
	ck_assert_ptr_null(p->addr);
	seen.n_dest_tries++;
	for (i = 0; i < kept.n; i++) {
		if (smtp_cache_dest_equal(&kept.conn[i].dest, p->dest))
			break;
	}
	if (i == kept.n || kept.is_probe_failing) {
		if (i < kept.n) /* closed */
			kept.conn[i] = kept.conn[--kept.n];
		memset(res, 0, sizeof(*res));
		res->status = SMX_NOTFOUND;
		return SMX_NOTFOUND;
	}
	seen.n_dest_reused++;
	fake_result(kept.is_lost_on_reuse ? K_EOD_TIME : K_SENT_TLS, 1, res,
	    p->rcpt, p->n_recipients);
	res->has_tls = kept.conn[i].res.has_tls;
	res->tls = kept.conn[i].res.tls;
	res->is_dane = kept.conn[i].res.is_dane;
	snprintf(res->peer, sizeof(res->peer), "%s", kept.conn[i].res.peer);
	res->is_reused = true;
	res->dest = kept.conn[i].dest;
	if (kept.is_lost_on_reuse) /* broken: not handed back */
		kept.conn[i] = kept.conn[--kept.n];
	return res->status;
}

/* The session a host of that behaviour gives under the policy. */
static enum smx_status
fake_deliver(const struct smtp_session_params *p,
    struct smtp_session_result *res)
{
	const struct fake_host *h;
	bool is_mandatory = p->tls_policy == SMTP_TLS_ENCRYPT;
	enum fake_kind k = K_SENT_TLS;

	if (p->is_dest_reuse)
		return fake_dest_reuse(p, res);
	h = find_host(p->host);
	ck_assert_ptr_nonnull(h);
	if (seen.n_sessions < 16)
		snprintf(seen.hosts[seen.n_sessions], sizeof(seen.hosts[0]),
		    "%s", h->name);
	seen.n_sessions++;
	if (!is_mandatory)
		seen.n_plaintext++;
	seen.n_names = p->tls.n_names;
	if (p->tls.n_tlsa > 0) {
		seen.n_dane++;
		snprintf(seen.dane_base, sizeof(seen.dane_base), "%s",
		    p->tls.dane_base);
		snprintf(seen.dane_name, sizeof(seen.dane_name), "%s",
		    p->tls.n_names > 0 ? p->tls.names[0] : "");
	}
	switch (h->b) {
	case H_GOOD:
		k = K_SENT_TLS;
		break;
	case H_NOTLS:
		k = is_mandatory ? K_NOTLS : K_SENT_PLAIN;
		break;
	case H_STLS_STALL:
		k = K_STLS_TIME;
		break;
	case H_STLS_LOST:
		k = K_STLS_LOST;
		break;
	case H_STLS554:
		k = is_mandatory ? K_STLS554 : K_SENT_PLAIN;
		break;
	case H_HS_ALERT:
		k = is_mandatory ? K_HS_ALERT : K_SENT_PLAIN;
		break;
	case H_HS_RESET:
		k = is_mandatory ? K_HS_LOST : K_SENT_PLAIN;
		break;
	case H_DOWN:
		k = K_CONNECT;
		break;
	case H_LOOP:
		k = K_LOOP;
		break;
	case H_RCPT5:
		k = K_RCPT5;
		break;
	case H_MIXED:
		k = K_RCPT_MIXED;
		break;
	case H_EOD_LOST:
		k = K_EOD_TIME;
		break;
	case H_DANE_BAD:
		k = K_VERIFY;
		break;
	}
	fake_result(k, 1, res, p->rcpt, p->n_recipients);
	/* As the real session: DANE required when records were given. */
	res->is_dane = p->tls.n_tlsa > 0;
	if (res->is_delivered && res->is_dane) {
		res->tls.verified = SMX_TLS_VERIFIED_DANE_EE;
		snprintf(res->tls.tlsa_match, sizeof(res->tls.tlsa_match),
		    "3.1.1");
	}
	snprintf(res->peer, sizeof(res->peer), "%s[%s]:%u", h->name, h->addr,
	    (unsigned)ntohs(((const struct sockaddr_in *)p->addr)->sin_port));
	keep(p, res);
	return res->status;
}

/* 127.0.0.0/8 is this host; 192.0.2.0/24 is not. */
static bool
fake_is_local(int family, const unsigned char *addr)
{
	return family == AF_INET && addr[0] == 127;
}

static long long
fake_now(void)
{
	return 1000;
}

static const struct deliver_io fake_io = {
	.route_srv = fake_srv,
	.route_mx = fake_mx,
	.lookup_addrs = fake_addrs,
	.lookup_tlsa = fake_tlsa,
	.session = fake_deliver,
	.is_local_addr = fake_is_local,
	.now_ms = fake_now,
};

/*
 * The matrix: the outcome for a Secure Only and a Best Effort Sender,
 * and the hosts that must have been tried, in order.
 */
static const struct {
	const char *rcpt;
	const char *nexthop;
	enum smx_status sos_st;
	const char *sos_prefix;
	enum smx_status bes_st;
	const char *bes_prefix;
	const char *tried; /* hosts tried (SOS run), space-separated */
} matrix[] = {
	{ "b@srv.test", NULL, SMX_OK, "2.0.0 delivered via srv-a.test", SMX_OK,
	    "2.0.0 delivered via srv-a.test", "srv-a.test" },
	{ "b@srv2.test", NULL, SMX_OK, "2.0.0 delivered via srv-b.test", SMX_OK,
	    "2.0.0 delivered via srv-b.test", "srv-down.test srv-b.test" },
	/* SRV targets never fall back to MX, never bounce for TLS. */
	{ "b@srvnotls.test", NULL, SMX_TEMPFAIL,
	    "4.7.4 TLS is required, but was not offered by host x [stage=ehlo class=refused]",
	    SMX_TEMPFAIL, "4.7.4 ", "srv-notls.test" },
	{ "b@dot.test", NULL, SMX_OK, "2.0.0 delivered via mx-good.test",
	    SMX_OK, "2.0.0 delivered via mx-good.test", "mx-good.test" },
	{ "b@ber.test", NULL, SMX_OK,
	    "2.0.0 delivered via mx-good.test[192.0.2.20]:25 TLSv1.3", SMX_OK,
	    "2.0.0 ", "mx-good.test" },
	/* SOS: every MX reached and refused -> 5.7.4; BES: plaintext. */
	{ "b@plain.test", NULL, SMX_PERMFAIL,
	    "5.7.4 TLS is not available from any MX host of plain.test", SMX_OK,
	    "2.0.0 delivered via mx-notls.test[192.0.2.21]:25 without TLS",
	    "mx-notls.test" },
	{ "b@alert.test", NULL, SMX_PERMFAIL, "5.7.4 ", SMX_OK,
	    "2.0.0 delivered via mx-alert.test", "mx-alert.test" },
	{ "b@refused.test", NULL, SMX_PERMFAIL, "5.7.4 ", SMX_OK,
	    "2.0.0 delivered via mx-notls.test",
	    "mx-notls.test mx-554.test mx-alert.test" },
	/* A fault is not a refusal: defer, for both roles. */
	{ "b@stall.test", NULL, SMX_TEMPFAIL,
	    "4.4.2 conversation with x timed out while receiving the reply to STARTTLS [stage=starttls class=transient]",
	    SMX_TEMPFAIL, "4.4.2 ", "mx-stall.test" },
	{ "b@stlslost.test", NULL, SMX_TEMPFAIL, "4.4.2 lost connection",
	    SMX_TEMPFAIL, "4.4.2 lost connection", "mx-stlslost.test" },
	{ "b@reset.test", NULL, SMX_TEMPFAIL,
	    "4.7.5 Cannot start TLS: handshake failure with x: Connection reset by peer [stage=handshake class=transient]",
	    SMX_OK, "2.0.0 ", "mx-reset.test" },
	{ "b@mixed.test", NULL, SMX_TEMPFAIL, "4.4.2 conversation", SMX_OK,
	    "2.0.0 delivered via mx-notls.test",
	    "mx-notls.test mx-stall.test" },
	{ "b@down.test", NULL, SMX_TEMPFAIL, "4.4.1 connect to x", SMX_OK,
	    "2.0.0 delivered via mx-notls.test", "mx-notls.test mx-down.test" },
	/* DNS decides. */
	{ "b@nullmx.test", NULL, SMX_PERMFAIL, "5.1.10 ", SMX_PERMFAIL,
	    "5.1.10 ", "" },
	{ "b@nx.test", NULL, SMX_PERMFAIL, "5.1.2 ", SMX_PERMFAIL, "5.1.2 ",
	    "" },
	{ "b@servfail.test", NULL, SMX_TEMPFAIL,
	    "4.4.3 DNS lookup of _secmx._tcp.servfail.test failed: SERVFAIL",
	    SMX_TEMPFAIL, "4.4.3 ", "" },
	{ "b@mxfail.test", NULL, SMX_TEMPFAIL,
	    "4.4.3 DNS lookup of MX for mxfail.test failed", SMX_TEMPFAIL,
	    "4.4.3 ", "" },
	{ "b@noaddr.test", NULL, SMX_TEMPFAIL,
	    "4.4.4 cannot find the addresses of mx-noaddr.test: host not found",
	    SMX_TEMPFAIL, "4.4.4 ", "" },
	/* Loops: the server is this host. */
	{ "b@loop.test", NULL, SMX_PERMFAIL,
	    "5.4.6 mail for loop.test loops back to myself", SMX_PERMFAIL,
	    "5.4.6 mail for loop.test loops back to myself", "mx-loop.test" },
	{ "b@self.test", NULL, SMX_PERMFAIL,
	    "5.4.6 mail for self.test loops back to myself (5.4.6 mx-self.test[127.0.0.1]:25 is this host",
	    SMX_PERMFAIL, "5.4.6 ", "" },
	/* The receiver's verdict. */
	{ "b@rcpt.test", NULL, SMX_PERMFAIL,
	    "5.1.1 host mx-rcpt5.test[192.0.2.26]:25 said: 550 5.1.1 unknown user (in reply to RCPT TO command)",
	    SMX_PERMFAIL, "5.1.1 ", "mx-rcpt5.test" },
	/* Lost waiting for the end-of-data reply: the next MX. */
	{ "b@eodlost.test", NULL, SMX_OK, "2.0.0 delivered via mx-good.test",
	    SMX_OK, "2.0.0 delivered via mx-good.test",
	    "mx-eodlost.test mx-good.test" },
	/* A relay next hop: MX rules, never a bounce for TLS. */
	{ "b@dest.test", "[relay.test]", SMX_TEMPFAIL, "4.7.4 ", SMX_OK,
	    "2.0.0 delivered via relay.test[192.0.2.40]:25 without TLS",
	    "relay.test" },
	/* A recipient listed sos in destination_roles: never plaintext,
	 * even through a relay that offers no TLS (the next hop is not
	 * the key). */
	{ "b@secure.test", "[relay.test]", SMX_TEMPFAIL, "4.7.4 ", SMX_TEMPFAIL,
	    "4.7.4 ", "relay.test" },
};

/* Run one delivery with the caches (or NULL); out gets the outcome. */
static void
run_cached(struct smx_config *cfg, const char *sender, const char *const *rcpts,
    size_t n, const char *nexthop, struct deliver_cache *cache,
    struct outcome *out)
{
	struct deliver_request rq;
	struct smx_route_nexthop dest;
	struct deliver_tls tls;
	struct outcome err;
	struct spool sp;

	memset(&seen, 0, sizeof(seen));
	memset(&tls, 0, sizeof(tls));
	spool_init(&sp);
	ck_assert(deliver_destination(nexthop, rcpts[0], &dest, &err));
	memset(&rq, 0, sizeof(rq));
	rq.cfg = cfg;
	rq.io = &fake_io;
	rq.tls = &tls;
	rq.queue_id = "TESTQ";
	rq.sender = sender;
	rq.recipients = rcpts;
	rq.n_recipients = n;
	rq.dest = &dest;
	rq.is_sos = deliver_role(cfg, sender, rcpts[0]) == SMX_ROLE_SOS;
	rq.helo = "tx.test";
	rq.message = &sp;
	rq.deadline_ms = 1000000;
	rq.cache = cache;
	deliver_run(&rq, out);
	deliver_tls_free(&tls);
	spool_free(&sp);
}

/* Run one delivery; out gets the outcome. */
static void
run(struct smx_config *cfg, const char *sender, const char *const *rcpts,
    size_t n, const char *nexthop, struct outcome *out)
{
	run_cached(cfg, sender, rcpts, n, nexthop, NULL, out);
}

/* The hosts the last run tried, space-separated. */
static void
tried(char *buf, size_t size)
{
	size_t len = 0;
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < seen.n_sessions && i < 16; i++) {
		int n = snprintf(buf + len, size - len, "%s%s", i ? " " : "",
		    seen.hosts[i]);

		ck_assert(n > 0 && (size_t)n < size - len);
		len += (size_t)n;
	}
}

static void
check_one(const struct outcome *o, enum smx_status st, const char *prefix)
{
	ck_assert(o->is_final);
	ck_assert_msg(o->status == st, "status %d, expected %d: %s", o->status,
	    st, o->line);
	ck_assert_msg(strncmp(o->line, prefix, strlen(prefix)) == 0,
	    "line \"%s\", expected prefix \"%s\"", o->line, prefix);
	ck_assert_int_eq(o->line[0],
	    st == SMX_OK             ? '2'
	        : st == SMX_PERMFAIL ? '5'
	                             : '4');
}

START_TEST(test_deliver_run_matrix)
{
	struct smx_config *cfg = config("local_listeners = 25\n",
	    "sos.test sos\nbes.test bes\n", "secure.test sos\n");
	const char *rcpts[1] = { matrix[_i].rcpt };
	struct outcome out;
	char list[1024];

	/* Secure Only Sender: never a session with optional TLS. */
	run(cfg, "a@sos.test", rcpts, 1, matrix[_i].nexthop, &out);
	check_one(&out, matrix[_i].sos_st, matrix[_i].sos_prefix);
	ck_assert_uint_eq(seen.n_plaintext, 0);
	tried(list, sizeof(list));
	ck_assert_str_eq(list, matrix[_i].tried);

	/* Best Effort Sender. */
	run(cfg, "a@bes.test", rcpts, 1, matrix[_i].nexthop, &out);
	check_one(&out, matrix[_i].bes_st, matrix[_i].bes_prefix);
	if (strcmp(matrix[_i].rcpt, "b@secure.test") == 0)
		ck_assert_uint_eq(seen.n_plaintext, 0);
	smx_config_free(cfg);
}
END_TEST

/*
 * DNSSEC and DANE, with dns_trust_ad = yes (and sos_mx_security = dane
 * where the row says so): the outcome for each role, how many sessions
 * required DANE, and that no session of a DANE target was plaintext.
 */
static const struct {
	const char *rcpt;
	bool is_mx_dane; /* sos_mx_security = dane */
	enum smx_status sos_st;
	const char *sos_prefix;
	enum smx_status bes_st;
	const char *bes_prefix;
	size_t n_dane; /* DANE sessions in the SOS run */
} dane_matrix[] = {
	{ "b@dane-srv.test", false, SMX_OK,
	    "2.0.0 delivered via srv-dane.test[192.0.2.50]:2525", SMX_OK,
	    "2.0.0 ", 1 },
	/* A target whose DANE authentication fails: the next target. */
	{ "b@dane-srvbad.test", false, SMX_OK, "2.0.0 delivered via srv-b.test",
	    SMX_OK, "2.0.0 delivered via srv-b.test", 1 },
	/* ... never without DANE, never MX, never a bounce: defer. */
	{ "b@dane-srvbad-only.test", false, SMX_TEMPFAIL,
	    "4.7.5 Server certificate not verified: hostname mismatch [stage=handshake class=dane]",
	    SMX_TEMPFAIL, "4.7.5 ", 1 },
	/* Bogus TLSA: the target is not used; none left: defer. */
	{ "b@dane-srvbogus.test", false, SMX_TEMPFAIL,
	    "4.7.5 TLSA lookup of _2525._tcp.srv-bogus.test failed (SERVFAIL)",
	    SMX_TEMPFAIL, "4.7.5 TLSA lookup", 0 },
	/* TLSA without a usable record: TLS, not authenticated. */
	{ "b@dane-srvunusable.test", false, SMX_OK, "2.0.0 ", SMX_OK, "2.0.0 ",
	    0 },
	/* Not validated addresses, or an insecure TLSA answer: tls_verify. */
	{ "b@dane-srvinsecure.test", false, SMX_OK, "2.0.0 ", SMX_OK, "2.0.0 ",
	    0 },
	{ "b@dane-srvtlsainsec.test", false, SMX_OK, "2.0.0 ", SMX_OK, "2.0.0 ",
	    0 },
	{ "b@dane-srvunsigned.test", false, SMX_OK, "2.0.0 ", SMX_OK, "2.0.0 ",
	    0 },
	/* DANE for MX hosts (RFC 7672), for a BES too. */
	{ "b@dane-mx.test", false, SMX_OK,
	    "2.0.0 delivered via mx-dane.test[192.0.2.60]:25 TLSv1.3", SMX_OK,
	    "2.0.0 delivered via mx-dane.test[192.0.2.60]:25 TLSv1.3", 1 },
	/* A DANE MX without STARTTLS: deferred, not bounced, not plaintext. */
	{ "b@dane-mxnotls.test", false, SMX_TEMPFAIL,
	    "4.7.4 TLS is required, but was not offered by host x [stage=ehlo class=dane]",
	    SMX_TEMPFAIL, "4.7.4 ", 1 },
	{ "b@dane-mxbad.test", false, SMX_TEMPFAIL, "4.7.5 ", SMX_TEMPFAIL,
	    "4.7.5 ", 2 },
	{ "b@dane-mxbogus.test", false, SMX_TEMPFAIL, "4.7.5 TLSA lookup",
	    SMX_TEMPFAIL, "4.7.5 TLSA lookup", 0 },
	/* Validated MX without TLSA: the SecMX Level 2 rules. */
	{ "b@dane-mxnone.test", false, SMX_OK, "2.0.0 ", SMX_OK, "2.0.0 ", 0 },
	{ "b@dane-mxplain.test", false, SMX_PERMFAIL, "5.7.4 ", SMX_OK,
	    "2.0.0 ", 0 },
	/* sos_mx_security = dane: only a DANE-authenticated MX qualifies. */
	{ "b@dane-mx.test", true, SMX_OK, "2.0.0 delivered via mx-dane.test",
	    SMX_OK, "2.0.0 ", 1 },
	{ "b@dane-mxnone.test", true, SMX_PERMFAIL,
	    "5.7.4 No MX host of dane-mxnone.test is DANE-authenticated (sos_mx_security = dane): no secure route to dane-mxnone.test exists under the Secure Only Sender policy (4.7.4 MX host mx-secure.test has no usable DANE TLSA records",
	    SMX_OK, "2.0.0 ", 0 },
	{ "b@plain.test", true, SMX_PERMFAIL,
	    "5.7.4 No MX host of plain.test is DANE-authenticated", SMX_OK,
	    "2.0.0 delivered via mx-notls.test", 0 },
	{ "b@dane-mxmixed.test", true, SMX_OK,
	    "2.0.0 delivered via mx-dane.test", SMX_OK,
	    "2.0.0 delivered via mx-secure.test", 1 },
	{ "b@dane-mxbogus.test", true, SMX_TEMPFAIL, "4.7.5 TLSA lookup",
	    SMX_TEMPFAIL, "4.7.5 TLSA lookup", 0 },
	{ "b@dane-mxbad.test", true, SMX_TEMPFAIL, "4.7.5 ", SMX_TEMPFAIL,
	    "4.7.5 ", 2 },
	/* SRV targets keep their own rules under sos_mx_security = dane. */
	{ "b@srv.test", true, SMX_OK, "2.0.0 delivered via srv-a.test", SMX_OK,
	    "2.0.0 ", 0 },
};

START_TEST(test_deliver_run_dane)
{
	struct smx_config *cfg = config(dane_matrix[_i].is_mx_dane
	        ? "dns_trust_ad = yes\nsos_mx_security = dane\n"
	        : "dns_trust_ad = yes\n",
	    "sos.test sos\nbes.test bes\n", NULL);
	const char *rcpts[1] = { dane_matrix[_i].rcpt };
	struct outcome out;

	run(cfg, "a@sos.test", rcpts, 1, NULL, &out);
	check_one(&out, dane_matrix[_i].sos_st, dane_matrix[_i].sos_prefix);
	ck_assert_uint_eq(seen.n_plaintext, 0);
	ck_assert_uint_eq(seen.n_dane, dane_matrix[_i].n_dane);
	/* Delivered to the DANE host: authenticated by its TLSA record;
	 * the TLSA base is the host, the destination the extra name. */
	if (seen.n_dane > 0 && out.status == SMX_OK &&
	    strstr(out.line, seen.dane_base) != NULL) {
		ck_assert_int_eq(out.tls_verified, SMX_TLS_VERIFIED_DANE_EE);
		ck_assert_str_eq(out.tlsa_match, "3.1.1");
		ck_assert(out.is_secure);
		ck_assert_str_eq(seen.dane_name, dane_matrix[_i].rcpt + 2);
	}
	run(cfg, "a@bes.test", rcpts, 1, NULL, &out);
	check_one(&out, dane_matrix[_i].bes_st, dane_matrix[_i].bes_prefix);
	/* DANE never downgrades, for a BES either. */
	if (seen.n_dane > 0)
		ck_assert_uint_eq(seen.n_plaintext, 0);
	smx_config_free(cfg);

	/* tls_dane = no, or no trusted AD: no TLSA lookup at all. */
	cfg = config("dns_trust_ad = yes\ntls_dane = no\n", "sos.test sos\n",
	    NULL);
	run(cfg, "a@sos.test", rcpts, 1, NULL, &out);
	ck_assert_uint_eq(seen.n_tlsa_lookups, 0);
	ck_assert_uint_eq(seen.n_dane, 0);
	smx_config_free(cfg);
	cfg = config("", "sos.test sos\n", NULL);
	run(cfg, "a@sos.test", rcpts, 1, NULL, &out);
	ck_assert_uint_eq(seen.n_tlsa_lookups, 0);
	smx_config_free(cfg);
}
END_TEST

/* Several recipients of one destination: each its own outcome. */
START_TEST(test_deliver_run_recipients)
{
	struct smx_config *cfg = config("", NULL, NULL);
	const char *rcpts[3] = { "a@multi.test", "b@multi.test",
		"c@multi.test" };
	struct outcome out[3];

	run(cfg, "s@bes.test", rcpts, 3, NULL, out);
	check_one(&out[0], SMX_OK, "2.0.0 delivered via mx-mixed.test");
	check_one(&out[1], SMX_PERMFAIL,
	    "5.1.1 host mx-mixed.test[192.0.2.30]:25 said: 550 5.1.1 unknown user");
	check_one(&out[2], SMX_PERMFAIL, "5.1.1 ");
	ck_assert_uint_eq(seen.n_sessions, 1);

	/* A DNS answer decides for every recipient. */
	rcpts[0] = "a@nx.test";
	rcpts[1] = "b@nx.test";
	run(cfg, "s@bes.test", rcpts, 2, NULL, out);
	check_one(&out[0], SMX_PERMFAIL, "5.1.2 ");
	check_one(&out[1], SMX_PERMFAIL, "5.1.2 ");
	smx_config_free(cfg);
}
END_TEST

/* The route= and dnssec= of the attempt lines (one per recipient). */
static void
audit_sink(int prio, const char *line, void *ctx)
{
	const char *v;

	(void)prio;
	(void)ctx;
	if (strstr(line, " to=<") == NULL || strstr(line, " relay=") == NULL)
		return;
	if ((v = strstr(line, " route=")) != NULL)
		sscanf(v, " route=%15s", seen.route_audit);
	if ((v = strstr(line, " dnssec=")) != NULL)
		sscanf(v, " dnssec=%15s", seen.dnssec_audit);
}

/* One delivery with the connection cache: what DNS and the cache did. */
static void
cached(struct smx_config *cfg, const char *sender, const char *rcpt,
    const char *nexthop, struct deliver_cache *cache, struct outcome *out)
{
	const char *rcpts[1] = { rcpt };

	run_cached(cfg, sender, rcpts, 1, nexthop, cache, out);
	ck_assert_msg(out->status == SMX_OK, "%s", out->line);
}

#define DNS_LOOKUPS() (seen.n_srv + seen.n_mx + seen.n_addrs)

/*
 * Reuse by destination: a second delivery to the same destination
 * under the same role and configuration takes the kept connection
 * without any DNS lookup, and logs the route, DNSSEC status and TLS of
 * the first; another destination, role or configuration, a failed
 * probe, or no cache: the DNS path.
 */
START_TEST(test_deliver_run_dest_reuse)
{
	struct smx_config *cfg = config("dns_trust_ad = yes\n",
	    "sos.test sos\nbes.test bes\n", NULL);
	struct smx_config *cfg2;
	struct deliver_cache cache;
	struct outcome out;

	memset(&kept, 0, sizeof(kept));
	memset(&cache, 0, sizeof(cache));
	ck_assert_int_eq(smtp_cache_new(4, 60, 300, &cache.conns), SMX_OK);
	smx_log_set_sink(audit_sink, NULL);

	/* MX route, Best Effort Sender: looked up, then kept. */
	cached(cfg, "a@bes.test", "b@ber.test", NULL, &cache, &out);
	ck_assert_uint_eq(seen.n_dest_tries, 1);
	ck_assert_uint_eq(seen.n_srv, 1);
	ck_assert_uint_eq(seen.n_mx, 1);
	ck_assert_uint_eq(seen.n_addrs, 1);
	ck_assert(!out.is_conn_reused);
	cached(cfg, "a@bes.test", "b@ber.test", NULL, &cache, &out);
	ck_assert_uint_eq(DNS_LOOKUPS(), 0);
	ck_assert_uint_eq(seen.n_dest_reused, 1);
	ck_assert_uint_eq(seen.n_sessions, 0);
	ck_assert(out.is_conn_reused);
	ck_assert_str_eq(out.line,
	    "2.0.0 delivered via mx-good.test[192.0.2.20]:25 TLSv1.3 (250 2.0.0 Ok: queued as X)");
	ck_assert_str_eq(seen.route_audit, "mx");
	ck_assert_str_eq(seen.dnssec_audit, "insecure");

	/* The Secure Only Sender never gets the BES connection. */
	cached(cfg, "a@sos.test", "b@ber.test", NULL, &cache, &out);
	ck_assert_uint_eq(seen.n_dest_reused, 0);
	ck_assert_uint_eq(seen.n_mx, 1);
	ck_assert_uint_eq(seen.n_sessions, 1);
	cached(cfg, "a@sos.test", "b@ber.test", NULL, &cache, &out);
	ck_assert_uint_eq(seen.n_dest_reused, 1);
	ck_assert_uint_eq(DNS_LOOKUPS(), 0);

	/* Another destination: its own lookup; then SRV kept as SRV. */
	cached(cfg, "a@bes.test", "b@srv.test", NULL, &cache, &out);
	ck_assert_uint_eq(seen.n_dest_reused, 0);
	ck_assert_uint_eq(seen.n_srv, 1);
	cached(cfg, "a@bes.test", "b@srv.test", NULL, &cache, &out);
	ck_assert_uint_eq(seen.n_dest_reused, 1);
	ck_assert_uint_eq(DNS_LOOKUPS(), 0);
	ck_assert_str_eq(seen.route_audit, "srv");

	/* DANE: the TLSA match and DNSSEC status of the first delivery. */
	cached(cfg, "a@sos.test", "b@dane-mx.test", NULL, &cache, &out);
	ck_assert_uint_eq(seen.n_tlsa_lookups, 1);
	cached(cfg, "a@sos.test", "b@dane-mx.test", NULL, &cache, &out);
	ck_assert_uint_eq(seen.n_dest_reused, 1);
	ck_assert_uint_eq(seen.n_tlsa_lookups, 0);
	ck_assert_uint_eq(DNS_LOOKUPS(), 0);
	ck_assert(out.is_secure);
	ck_assert_int_eq(out.tls_verified, SMX_TLS_VERIFIED_DANE_EE);
	ck_assert_str_eq(out.tlsa_match, "3.1.1");
	ck_assert_str_eq(seen.dnssec_audit, "secure");

	/* A [host] next hop is a destination too. */
	cached(cfg, "a@bes.test", "b@dest.test", "[relay.test]", &cache, &out);
	ck_assert_uint_eq(seen.n_addrs, 1);
	cached(cfg, "a@bes.test", "b@dest.test", "[relay.test]", &cache, &out);
	ck_assert_uint_eq(seen.n_dest_reused, 1);
	ck_assert_uint_eq(DNS_LOOKUPS(), 0);

	/* A new configuration (even the same text): looked up again. */
	cfg2 = config("dns_trust_ad = yes\n", "sos.test sos\nbes.test bes\n",
	    NULL);
	cached(cfg2, "a@bes.test", "b@ber.test", NULL, &cache, &out);
	ck_assert_uint_eq(seen.n_dest_reused, 0);
	ck_assert_uint_eq(seen.n_mx, 1);

	/* The kept connection fails RSET: silently the DNS path. */
	kept.is_probe_failing = true;
	cached(cfg, "a@bes.test", "b@ber.test", NULL, &cache, &out);
	kept.is_probe_failing = false;
	ck_assert_uint_eq(seen.n_dest_tries, 1);
	ck_assert_uint_eq(seen.n_dest_reused, 0);
	ck_assert_uint_eq(seen.n_mx, 1);
	ck_assert_uint_eq(seen.n_sessions, 1);
	ck_assert(!out.is_conn_reused);

	/* Lost on the kept connection: the DNS path for what is left. */
	kept.is_lost_on_reuse = true;
	cached(cfg, "a@bes.test", "b@ber.test", NULL, &cache, &out);
	kept.is_lost_on_reuse = false;
	ck_assert_uint_eq(seen.n_dest_reused, 1);
	ck_assert_uint_eq(seen.n_mx, 1);
	ck_assert_uint_eq(seen.n_sessions, 1);
	ck_assert_ptr_eq(strstr(out.line, "2.0.0 delivered via mx-good.test"),
	    out.line);

	/* Without a connection cache: never by destination. */
	smtp_cache_free(cache.conns);
	cache.conns = NULL;
	cached(cfg, "a@bes.test", "b@ber.test", NULL, &cache, &out);
	ck_assert_uint_eq(seen.n_dest_tries, 0);
	ck_assert_uint_eq(seen.n_mx, 1);
	{
		const char *rcpts[1] = { "b@ber.test" };

		run(cfg, "a@bes.test", rcpts, 1, NULL, &out);
		ck_assert_uint_eq(seen.n_dest_tries, 0);
	}

	smx_log_set_sink(NULL, NULL);
	smx_config_free(cfg2);
	smx_config_free(cfg);
}
END_TEST

/* Out of time before the first attempt: 4.4.7, nothing tried. */
START_TEST(test_deliver_run_time_limit)
{
	struct smx_config *cfg = config("", NULL, NULL);
	const char *rcpts[1] = { "b@ber.test" };
	struct deliver_request rq;
	struct smx_route_nexthop dest;
	struct deliver_tls tls;
	struct outcome out;
	struct outcome err;
	struct spool sp;

	memset(&seen, 0, sizeof(seen));
	memset(&tls, 0, sizeof(tls));
	spool_init(&sp);
	ck_assert(deliver_destination(NULL, rcpts[0], &dest, &err));
	memset(&rq, 0, sizeof(rq));
	rq.cfg = cfg;
	rq.io = &fake_io;
	rq.tls = &tls;
	rq.sender = "";
	rq.recipients = rcpts;
	rq.n_recipients = 1;
	rq.dest = &dest;
	rq.helo = "tx.test";
	rq.message = &sp;
	rq.deadline_ms = 1500; /* half a second left */
	deliver_run(&rq, &out);
	check_one(&out, SMX_TEMPFAIL, "4.4.7 delivery time limit reached");
	ck_assert_uint_eq(seen.n_sessions, 0);
	deliver_tls_free(&tls);
	spool_free(&sp);
	smx_config_free(cfg);
}
END_TEST

static Suite *
deliver_suite(void)
{
	Suite *s = suite_create("deliver");
	TCase *tc;

	tc = tcase_create("decisions");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_deliver_role, 0,
	    sizeof(role_cases) / sizeof(role_cases[0]));
	tcase_add_loop_test(tc, test_deliver_destination, 0,
	    sizeof(dest_cases) / sizeof(dest_cases[0]));
	tcase_add_loop_test(tc, test_deliver_dns_outcome, 0,
	    sizeof(dns_cases) / sizeof(dns_cases[0]));
	tcase_add_test(tc, test_deliver_target_policy);
	suite_add_tcase(s, tc);

	tc = tcase_create("run");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_deliver_run_matrix, 0,
	    sizeof(matrix) / sizeof(matrix[0]));
	tcase_add_loop_test(tc, test_deliver_run_dane, 0,
	    sizeof(dane_matrix) / sizeof(dane_matrix[0]));
	tcase_add_test(tc, test_deliver_run_recipients);
	tcase_add_test(tc, test_deliver_run_dest_reuse);
	tcase_add_test(tc, test_deliver_run_time_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(deliver_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
