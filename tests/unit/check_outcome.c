/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/outcome.c: statuses to pipe(8) exit codes and
 * status lines, line sanitising, the time budget of an attempt, the
 * classification of every attempt result (refused or transient), and the
 * folding of attempts into one outcome per recipient under the SOS and
 * BES rules.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "outcome.h"
#include "fake_session.h"

START_TEST(test_outcome_exit_code)
{
	static const struct {
		enum smx_status st;
		int code;
		const char *name;
	} cases[] = {
		{ SMX_OK, 0, "sent" },
		{ SMX_TEMPFAIL, EX_TEMPFAIL, "deferred" },
		{ SMX_PERMFAIL, EX_UNAVAILABLE, "bounced" },
		{ SMX_NOTFOUND, EX_TEMPFAIL, "deferred" },
		{ SMX_INVALID, EX_TEMPFAIL, "deferred" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(outcome_exit_code(cases[i].st), cases[i].code);
		ck_assert_str_eq(outcome_status_name(cases[i].st),
		    cases[i].name);
	}
	ck_assert_int_eq(EX_TEMPFAIL, 75);
	ck_assert_int_eq(EX_UNAVAILABLE, 69);
}
END_TEST

static const struct {
	enum smx_status st;
	const char *enhanced;
	const char *text;
	enum smx_status want_st;
	const char *want;
} set_cases[] = {
	{ SMX_OK, "2.0.0", "delivered", SMX_OK, "2.0.0 delivered" },
	{ SMX_TEMPFAIL, "4.4.1", "connect failed", SMX_TEMPFAIL,
	    "4.4.1 connect failed" },
	{ SMX_PERMFAIL, "5.1.1", "no such user", SMX_PERMFAIL,
	    "5.1.1 no such user" },
	/* The class follows the status, as Postfix does. */
	{ SMX_TEMPFAIL, "5.1.1", "x", SMX_TEMPFAIL, "4.1.1 x" },
	{ SMX_PERMFAIL, "4.7.4", "x", SMX_PERMFAIL, "5.7.4 x" },
	/* Local trouble of any other kind defers. */
	{ SMX_INVALID, "4.3.5", "bad", SMX_TEMPFAIL, "4.3.5 bad" },
	{ SMX_NOTFOUND, NULL, "x", SMX_TEMPFAIL, "4.0.0 x" },
	/* Bad or missing codes give the class default. */
	{ SMX_PERMFAIL, NULL, "x", SMX_PERMFAIL, "5.0.0 x" },
	{ SMX_PERMFAIL, "5.1", "x", SMX_PERMFAIL, "5.0.0 x" },
	{ SMX_TEMPFAIL, "4.1234.1", "x", SMX_TEMPFAIL, "4.0.0 x" },
	{ SMX_TEMPFAIL, "", "x", SMX_TEMPFAIL, "4.0.0 x" },
	{ SMX_OK, "2.0.0", "", SMX_OK, "2.0.0" },
	/* Sanitised. */
	{ SMX_TEMPFAIL, "4.4.2", "a\r\nb\tc\x01\x7f\xc3\xa4", SMX_TEMPFAIL,
	    "4.4.2 a  b c  ??" },
};

START_TEST(test_outcome_set)
{
	struct outcome o;

	outcome_set(&o, set_cases[_i].st, set_cases[_i].enhanced,
	    set_cases[_i].text);
	ck_assert_int_eq(o.status, set_cases[_i].want_st);
	ck_assert_str_eq(o.line, set_cases[_i].want);
	ck_assert_str_eq(o.relay, "");
}
END_TEST

static const struct {
	enum smx_status st;
	const char *line;
	const char *want;
} line_cases[] = {
	{ SMX_PERMFAIL,
	    "5.1.1 host mx[192.0.2.1]:25 said: 550 5.1.1 unknown (in reply to RCPT TO command)",
	    "5.1.1 host mx[192.0.2.1]:25 said: 550 5.1.1 unknown (in reply to RCPT TO command)" },
	{ SMX_TEMPFAIL, "4.4.1 connect to x: refused",
	    "4.4.1 connect to x: refused" },
	{ SMX_TEMPFAIL, "no code here", "4.0.0 no code here" },
	{ SMX_TEMPFAIL, "5.7.1 text", "4.7.1 text" },
	{ SMX_PERMFAIL, "5.7.1", "5.7.1" },
	{ SMX_PERMFAIL, "5.7.1x y", "5.0.0 5.7.1x y" },
	{ SMX_TEMPFAIL, "", "4.0.0" },
};

START_TEST(test_outcome_set_line)
{
	struct outcome o;

	outcome_set_line(&o, line_cases[_i].st, line_cases[_i].line);
	ck_assert_str_eq(o.line, line_cases[_i].want);
}
END_TEST

START_TEST(test_outcome_dsn_valid)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "2.0.0", true },
		{ "4.7.4", true },
		{ "5.1.10", true },
		{ "5.123.456", true },
		{ "3.0.0", false },
		{ "5.1234.1", false },
		{ "5.1.1234", false },
		{ "5..1", false },
		{ "5.1.", false },
		{ "5.1", false },
		{ "", false },
		{ "5-1-1", false },
		{ "5.1.1 ", false },
		{ " 5.1.1", false },
		{ "5.a.1", false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(outcome_dsn_valid(cases[i].s,
		                  strlen(cases[i].s)) == cases[i].ok,
		    "%s", cases[i].s);
}
END_TEST

START_TEST(test_outcome_sanitize)
{
	static const char in[] = "a\0b\rc\nd";
	static char big[TRANSPORT_LINE_MAX * 2];
	struct outcome o;
	char out[16];
	size_t i;

	ck_assert_uint_eq(outcome_sanitize(out, sizeof(out), in,
	                      sizeof(in) - 1),
	    7);
	ck_assert_str_eq(out, "a b c d");
	ck_assert_uint_eq(outcome_sanitize(out, 4, "abcdef", 6), 3);
	ck_assert_str_eq(out, "abc");
	ck_assert_uint_eq(outcome_sanitize(out, 0, "abc", 3), 0);
	/* A reply as long as the line cap and more: cut, never longer. */
	memset(big, 'x', sizeof(big) - 1);
	outcome_set(&o, SMX_TEMPFAIL, "4.4.2", big);
	ck_assert_uint_eq(strlen(o.line), TRANSPORT_LINE_MAX);
	ck_assert_uint_lt(strlen(o.line), 4000);
	for (i = 0; o.line[i] != '\0'; i++)
		ck_assert(o.line[i] >= 0x20 && o.line[i] < 0x7f);
}
END_TEST

static const struct {
	long long remaining_ms;
	unsigned long connect_s;
	unsigned long timeout_s;
	bool ok;
	int connect_ms;
	int timeout_ms;
} budget_cases[] = {
	{ 900000, 30, 120, true, 30000, 120000 },
	{ 200000, 30, 120, true, 30000, 56666 },
	{ 20000, 30, 120, true, 5000, 5000 },
	{ 4000, 30, 120, true, 1000, 1000 },
	{ 3999, 30, 120, false, 0, 0 },
	{ 0, 30, 120, false, 0, 0 },
	{ -5, 30, 120, false, 0, 0 },
	{ 900000, 1, 2, true, 1000, 2000 },
};

START_TEST(test_outcome_time_budget)
{
	int c = -1;
	int t = -1;
	bool ok = outcome_time_budget(budget_cases[_i].remaining_ms,
	    budget_cases[_i].connect_s, budget_cases[_i].timeout_s, &c, &t);

	ck_assert(ok == budget_cases[_i].ok);
	if (!ok) {
		ck_assert_int_eq(c, -1);
		ck_assert_int_eq(t, -1);
		return;
	}
	ck_assert_int_eq(c, budget_cases[_i].connect_ms);
	ck_assert_int_eq(t, budget_cases[_i].timeout_ms);
	ck_assert_int_le((long long)c + 3LL * t, budget_cases[_i].remaining_ms);
}
END_TEST

/* outcome_classify: every fault of every stage, refused or transient. */
static const struct {
	enum fake_kind kind;
	enum outcome_class cls;
} class_cases[] = {
	{ K_SENT_TLS, OUTCOME_SENT },
	{ K_SENT_PLAIN, OUTCOME_SENT },
	{ K_RCPT_MIXED, OUTCOME_SENT },
	/* The server refused secure delivery. */
	{ K_NOTLS, OUTCOME_REFUSED },
	{ K_EHLO5, OUTCOME_REFUSED },
	{ K_STLS454, OUTCOME_REFUSED },
	{ K_STLS554, OUTCOME_REFUSED },
	{ K_HS_ALERT, OUTCOME_REFUSED },
	{ K_VERIFY, OUTCOME_REFUSED },
	/* Faults at any stage, STARTTLS and the handshake included. */
	{ K_CONNECT, OUTCOME_TRANSIENT },
	{ K_CONNECT_TIME, OUTCOME_TRANSIENT },
	{ K_BANNER_TIME, OUTCOME_TRANSIENT },
	{ K_BANNER5, OUTCOME_TRANSIENT },
	{ K_EHLO4, OUTCOME_TRANSIENT },
	{ K_STLS_TIME, OUTCOME_TRANSIENT },
	{ K_STLS_LOST, OUTCOME_TRANSIENT },
	{ K_INJECT, OUTCOME_TRANSIENT },
	{ K_HS_TIME, OUTCOME_TRANSIENT },
	{ K_HS_LOST, OUTCOME_TRANSIENT },
	{ K_HS_GARBAGE, OUTCOME_TRANSIENT },
	{ K_BODY_LOST, OUTCOME_TRANSIENT },
	{ K_EOD_TIME, OUTCOME_TRANSIENT },
	/* The receiver's verdict on the message. */
	{ K_MAIL4, OUTCOME_TRANSACTION },
	{ K_MAIL5, OUTCOME_TRANSACTION },
	{ K_RCPT4, OUTCOME_TRANSACTION },
	{ K_RCPT5, OUTCOME_TRANSACTION },
	{ K_DATA4, OUTCOME_TRANSACTION },
	{ K_EOD4, OUTCOME_TRANSACTION },
	{ K_EOD5, OUTCOME_TRANSACTION },
	{ K_SMTPUTF8, OUTCOME_MESSAGE },
	{ K_SIZE, OUTCOME_MESSAGE },
	{ K_LOOP, OUTCOME_LOOP },
	{ K_INVALID, OUTCOME_LOCAL },
};

START_TEST(test_outcome_classify)
{
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[2];
	char line[TRANSPORT_LINE_MAX + 1];
	char want[64];

	fake_result(class_cases[_i].kind, 1, &res, rr, 2);
	ck_assert_int_eq(outcome_classify(&res), class_cases[_i].cls);
	/* The DSN line of an attempt names the host, the stage, the class. */
	outcome_attempt_line(&res, line, sizeof(line));
	snprintf(want, sizeof(want), " [stage=%s class=%s]",
	    smtp_stage_name(res.stage),
	    outcome_class_name(class_cases[_i].cls));
	ck_assert_msg(strstr(line, want) != NULL, "%s lacks %s", line, want);
}
END_TEST

#define SEQ(...)                                                               \
	{                                                                      \
		__VA_ARGS__, K_END                                             \
	}

static const struct {
	enum outcome_route route;
	bool is_sos;
	enum fake_kind seq[6];
	size_t n_used; /* results consumed before a final one */
	enum smx_status want_st;
	const char *want_prefix;
} agg_cases[] = {
	/* Delivered on the second host. */
	{ OUTCOME_ROUTE_SRV, true, SEQ(K_CONNECT, K_SENT_TLS), 2, SMX_OK,
	    "2.0.0 delivered via mx.example[192.0.2.2]:25 TLSv1.3 (250 2.0.0 Ok: queued as X)" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_SENT_PLAIN), 1, SMX_OK,
	    "2.0.0 delivered via mx.example[192.0.2.1]:25 without TLS" },
	/* SOS over MX: every host reached and refused -> 5.7.4. */
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTLS, K_STLS554), 2, SMX_PERMFAIL,
	    "5.7.4 TLS is not available from any MX host of dest.example: no secure route to dest.example exists under the Secure Only Sender policy (4.7.4 TLS is required" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTLS), 1, SMX_PERMFAIL, "5.7.4 " },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_HS_ALERT), 1, SMX_PERMFAIL, "5.7.4 " },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_STLS454, K_EHLO5), 2, SMX_PERMFAIL,
	    "5.7.4 " },
	/* A fault on the way is not a refusal: defer, on any MX. */
	{ OUTCOME_ROUTE_MX, true, SEQ(K_STLS_TIME), 1, SMX_TEMPFAIL,
	    "4.4.2 conversation with x timed out while receiving the reply to STARTTLS [stage=starttls class=transient]" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_STLS_LOST), 1, SMX_TEMPFAIL,
	    "4.4.2 lost connection" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_HS_TIME), 1, SMX_TEMPFAIL,
	    "4.7.5 Cannot start TLS: handshake failure with x: timeout [stage=handshake class=transient]" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_HS_LOST), 1, SMX_TEMPFAIL, "4.7.5 " },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_HS_GARBAGE), 1, SMX_TEMPFAIL,
	    "4.7.5 " },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_INJECT), 1, SMX_TEMPFAIL,
	    "4.7.5 Cannot start TLS with x" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTLS, K_CONNECT), 2, SMX_TEMPFAIL,
	    "4.4.1 connect to x" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_CONNECT, K_HS_ALERT), 2, SMX_TEMPFAIL,
	    "4.4.1 " },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOADDR, K_NOTLS), 2, SMX_TEMPFAIL,
	    "4.4.4 cannot find the addresses" },
	/* sos_mx_security = dane: no MX host qualifies -> 5.7.4, which
	 * says so; it does not claim that TLS was not available. */
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTDANE, K_NOTDANE), 2, SMX_PERMFAIL,
	    "5.7.4 No MX host of dest.example is DANE-authenticated (sos_mx_security = dane): no secure route to dest.example exists under the Secure Only Sender policy (4.7.4 MX host mx.example has no usable DANE TLSA records" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTDANE), 1, SMX_PERMFAIL,
	    "5.7.4 No MX host of dest.example is DANE-authenticated" },
	/* ... a transient fault of a DANE host still defers. */
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTDANE, K_CONNECT), 2, SMX_TEMPFAIL,
	    "4.4.1 " },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTLS, K_BANNER5), 2, SMX_TEMPFAIL,
	    "4.0.0 host mx.example[192.0.2.2]:25 refused to talk to me: 554 go away" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_EHLO4, K_NOTLS), 2, SMX_TEMPFAIL,
	    "4.3.2 host mx.example[192.0.2.1]:25 said: 421 4.3.2 busy (in reply to EHLO command) [stage=ehlo class=transient]" },
	/* SRV and relay routes never bounce on TLS refusals. */
	{ OUTCOME_ROUTE_SRV, true, SEQ(K_NOTLS, K_HS_ALERT), 2, SMX_TEMPFAIL,
	    "4.7.4 TLS is required, but was not offered by host x [stage=ehlo class=refused]" },
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_VERIFY), 1, SMX_TEMPFAIL,
	    "4.7.5 Server certificate not verified" },
	{ OUTCOME_ROUTE_RELAY, true, SEQ(K_NOTLS), 1, SMX_TEMPFAIL, "4.7.4 " },
	/* BES over MX: nothing is refused there (STARTTLS is optional). */
	{ OUTCOME_ROUTE_MX, false, SEQ(K_NOTLS), 1, SMX_TEMPFAIL, "4.7.4 " },
	/* A mail loop: 5.4.6, unless another host may still work. */
	{ OUTCOME_ROUTE_MX, false, SEQ(K_LOOP), 1, SMX_PERMFAIL,
	    "5.4.6 mail for dest.example loops back to myself" },
	{ OUTCOME_ROUTE_SRV, true, SEQ(K_SELF, K_LOOP), 2, SMX_PERMFAIL,
	    "5.4.6 mail for dest.example loops back to myself (5.4.6 x[192.0.2.9]:25 is this host" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_LOOP, K_CONNECT), 2, SMX_TEMPFAIL,
	    "4.4.1 " },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_LOOP, K_SENT_PLAIN), 2, SMX_OK,
	    "2.0.0 delivered" },
	/* A receiver's reply to the transaction decides at once. */
	{ OUTCOME_ROUTE_SRV, true, SEQ(K_CONNECT, K_RCPT5, K_SENT_TLS), 2,
	    SMX_PERMFAIL,
	    "5.1.1 host mx.example[192.0.2.2]:25 said: 550 5.1.1 unknown user (in reply to RCPT TO command)" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_RCPT4, K_SENT_TLS), 1, SMX_TEMPFAIL,
	    "4.2.1 host mx.example[192.0.2.1]:25 said: 450 4.2.1 busy (in reply to RCPT TO command)" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_MAIL5), 1, SMX_PERMFAIL,
	    "5.7.1 host mx.example[192.0.2.1]:25 said: 550 5.7.1 sender rejected (in reply to MAIL FROM command)" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_MAIL4, K_SENT_TLS), 1, SMX_TEMPFAIL,
	    "4.3.0 host" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_DATA4, K_SENT_TLS), 1, SMX_TEMPFAIL,
	    "4.3.0 host mx.example[192.0.2.1]:25 said: 451 4.3.0 no data now (in reply to DATA command)" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_EOD4), 1, SMX_TEMPFAIL,
	    "4.3.1 host mx.example[192.0.2.1]:25 said: 452 4.3.1 storage (in reply to end of DATA command)" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_EOD5), 1, SMX_PERMFAIL, "5.6.0 host" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_SIZE, K_SENT_TLS), 1, SMX_PERMFAIL,
	    "5.3.4 message size" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_SMTPUTF8, K_SENT_TLS), 1, SMX_PERMFAIL,
	    "5.6.7 SMTPUTF8 is required, but was not offered by host x" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_INVALID, K_SENT_TLS), 1, SMX_TEMPFAIL,
	    "4.3.0 invalid delivery parameters" },
	/* Lost while sending or waiting: next host; none left: defer. */
	{ OUTCOME_ROUTE_SRV, true, SEQ(K_BODY_LOST, K_SENT_TLS), 2, SMX_OK,
	    "2.0.0 " },
	{ OUTCOME_ROUTE_SRV, true, SEQ(K_EOD_TIME), 1, SMX_TEMPFAIL,
	    "4.4.2 conversation with x timed out while receiving the reply to end of DATA" },
	/* The most informative fault: a reply, then lost, then connect. */
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_CONNECT, K_HS_LOST, K_EHLO4), 3,
	    SMX_TEMPFAIL, "4.3.2 host" },
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_CONNECT, K_HS_LOST), 2, SMX_TEMPFAIL,
	    "4.7.5 Cannot start TLS" },
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_CONNECT, K_CONNECT), 2, SMX_TEMPFAIL,
	    "4.4.1 connect to x: Connection refused" },
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_NOADDR), 1, SMX_TEMPFAIL,
	    "4.4.4 cannot find the addresses of mx.example" },
	/* Nothing tried at all. */
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_END), 0, SMX_TEMPFAIL,
	    "4.4.4 no route to dest.example" },
};

/* Feed one fake attempt for n recipients (all pending, in order). */
static bool
feed(struct outcome_agg *agg, enum fake_kind k, int host, size_t n)
{
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[4];
	size_t idx[4] = { 0, 1, 2, 3 };

	ck_assert_uint_le(n, 4);
	if (k == K_NOADDR) {
		outcome_agg_add_local(agg, "4.4.4",
		    "cannot find the addresses of mx.example: host not found");
		return false;
	}
	if (k == K_SELF) {
		outcome_agg_add_loop(agg, "x[192.0.2.9]:25");
		return false;
	}
	if (k == K_NOTDANE) {
		outcome_agg_add_refused(agg, "4.7.4",
		    "MX host mx.example has no usable DANE TLSA records: it does not qualify for a Secure Only Sender (sos_mx_security = dane)");
		return false;
	}
	fake_result(k, host, &res, rr, n);
	return outcome_agg_add(agg, &res, rr, idx, n);
}

START_TEST(test_outcome_aggregate)
{
	struct outcome_agg agg;
	struct outcome out;
	size_t n_used = 0;
	size_t i;

	outcome_agg_init(&agg, agg_cases[_i].route, agg_cases[_i].is_sos,
	    "dest.example", &out, 1);
	for (i = 0; agg_cases[_i].seq[i] != K_END; i++) {
		n_used++;
		if (feed(&agg, agg_cases[_i].seq[i], (int)i + 1, 1))
			break;
	}
	outcome_agg_finish(&agg);
	ck_assert(out.is_final);
	ck_assert_uint_eq(agg.n_pending, 0);
	ck_assert_uint_eq(n_used, agg_cases[_i].n_used);
	ck_assert_int_eq(out.status, agg_cases[_i].want_st);
	ck_assert_msg(strncmp(out.line, agg_cases[_i].want_prefix,
	                  strlen(agg_cases[_i].want_prefix)) == 0,
	    "line \"%s\", expected prefix \"%s\"", out.line,
	    agg_cases[_i].want_prefix);
	ck_assert_int_eq(out.line[0],
	    out.status == SMX_OK             ? '2'
	        : out.status == SMX_PERMFAIL ? '5'
	                                     : '4');
}
END_TEST

/* The relay and TLS of the deciding attempt reach the audit line. */
START_TEST(test_outcome_aggregate_relay)
{
	struct outcome_agg agg;
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[1];
	size_t idx[1] = { 0 };
	struct outcome out;

	outcome_agg_init(&agg, OUTCOME_ROUTE_SRV, true, "d.example", &out, 1);
	fake_result(K_SENT_TLS, 1, &res, rr, 1);
	res.tls.verified = SMX_TLS_VERIFIED_CA;
	ck_assert(outcome_agg_add(&agg, &res, rr, idx, 1));
	outcome_agg_finish(&agg);
	ck_assert_str_eq(out.relay, "mx.example[192.0.2.1]:25");
	ck_assert_str_eq(out.tls_protocol, "TLSv1.3");
	ck_assert_str_eq(out.tls_cipher, "TLS_AES_256_GCM_SHA384");
	ck_assert_int_eq(out.tls_verified, SMX_TLS_VERIFIED_CA);
	ck_assert_int_eq(out.stage, SMTP_STAGE_END_OF_DATA);
	ck_assert_int_eq(out.cls, OUTCOME_SENT);

	outcome_agg_init(&agg, OUTCOME_ROUTE_MX, false, "d.example", &out, 1);
	fake_result(K_STLS_TIME, 3, &res, rr, 1);
	ck_assert(!outcome_agg_add(&agg, &res, rr, idx, 1));
	outcome_agg_finish(&agg);
	ck_assert_str_eq(out.relay, "mx.example[192.0.2.3]:25");
	ck_assert_str_eq(out.tls_protocol, "");
	ck_assert_int_eq(out.stage, SMTP_STAGE_STARTTLS);
	ck_assert_int_eq(out.cls, OUTCOME_TRANSIENT);
}
END_TEST

/* Several recipients: each gets its own outcome, none twice. */
START_TEST(test_outcome_aggregate_recipients)
{
	struct outcome_agg agg;
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[3];
	size_t idx[3] = { 0, 1, 2 };
	size_t idx_rest[1] = { 1 };
	struct outcome out[3];

	/* One accepted, two refused: sent, bounced, and (4xx) deferred. */
	outcome_agg_init(&agg, OUTCOME_ROUTE_MX, true, "d.example", out, 3);
	fake_result(K_SENT_TLS, 1, &res, rr, 3);
	fake_rcpts(rr + 1, 1, 550, "5.1.1", "550 5.1.1 unknown user");
	fake_rcpts(rr + 2, 1, 450, "4.2.1", "450 4.2.1 busy");
	ck_assert(outcome_agg_add(&agg, &res, rr, idx, 3));
	outcome_agg_finish(&agg);
	ck_assert_int_eq(out[0].status, SMX_OK);
	ck_assert_int_eq(out[1].status, SMX_PERMFAIL);
	ck_assert_ptr_nonnull(strstr(out[1].line, "550 5.1.1 unknown user"));
	ck_assert_int_eq(out[2].status, SMX_TEMPFAIL);
	ck_assert_ptr_eq(strstr(out[2].line, "4.2.1 host"), out[2].line);

	/* Lost during DATA: nothing final; the next host takes both. */
	outcome_agg_init(&agg, OUTCOME_ROUTE_MX, false, "d.example", out, 2);
	fake_result(K_BODY_LOST, 1, &res, rr, 2);
	ck_assert(!outcome_agg_add(&agg, &res, rr, idx, 2));
	ck_assert_uint_eq(agg.n_pending, 2);
	fake_result(K_RCPT_MIXED, 2, &res, rr, 2);
	ck_assert(outcome_agg_add(&agg, &res, rr, idx, 2));
	outcome_agg_finish(&agg);
	ck_assert_int_eq(out[0].status, SMX_OK);
	ck_assert_int_eq(out[1].status, SMX_PERMFAIL);

	/* A second attempt carries only the pending recipient. */
	outcome_agg_init(&agg, OUTCOME_ROUTE_MX, false, "d.example", out, 2);
	fake_result(K_RCPT_MIXED, 1, &res, rr, 2);
	fake_rcpts(rr + 1, 1, 0, "", ""); /* never asked */
	ck_assert(
	    !outcome_agg_add(&agg, &res, rr, idx, 2) || agg.n_pending == 0);
	ck_assert_int_eq(out[0].status, SMX_OK);
	ck_assert(!out[1].is_final);
	fake_result(K_SENT_PLAIN, 2, &res, rr, 1);
	ck_assert(outcome_agg_add(&agg, &res, rr, idx_rest, 1));
	outcome_agg_finish(&agg);
	ck_assert_int_eq(out[1].status, SMX_OK);
	ck_assert_ptr_nonnull(strstr(out[1].line, "192.0.2.2"));
	ck_assert_ptr_nonnull(strstr(out[0].line, "192.0.2.1"));
}
END_TEST

/*
 * The audit line of one attempt for each of its recipients: a recipient
 * the server refused is named with its own RCPT reply, stage and class,
 * even when the others were delivered.
 */
START_TEST(test_outcome_of_attempt_mixed)
{
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[2];
	struct outcome o;

	fake_result(K_RCPT_MIXED, 1, &res, rr, 2);
	outcome_of_attempt(&res, &rr[0], &o);
	ck_assert_int_eq(o.status, SMX_OK);
	ck_assert_int_eq(o.stage, SMTP_STAGE_END_OF_DATA);
	ck_assert_int_eq(o.cls, OUTCOME_SENT);
	outcome_of_attempt(&res, &rr[1], &o);
	ck_assert_int_eq(o.status, SMX_PERMFAIL);
	ck_assert_int_eq(o.stage, SMTP_STAGE_RCPT);
	ck_assert_int_eq(o.cls, OUTCOME_TRANSACTION);
	ck_assert_msg(strncmp(o.line, "5.1.1 host ", 11) == 0, "%s", o.line);
	ck_assert_ptr_nonnull(strstr(o.line, "in reply to RCPT TO"));
}
END_TEST

static Suite *
outcome_suite(void)
{
	Suite *s = suite_create("outcome");
	TCase *tc;

	tc = tcase_create("mapping");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_outcome_exit_code);
	tcase_add_loop_test(tc, test_outcome_set, 0,
	    sizeof(set_cases) / sizeof(set_cases[0]));
	tcase_add_loop_test(tc, test_outcome_set_line, 0,
	    sizeof(line_cases) / sizeof(line_cases[0]));
	tcase_add_test(tc, test_outcome_dsn_valid);
	tcase_add_test(tc, test_outcome_sanitize);
	suite_add_tcase(s, tc);

	tc = tcase_create("budget");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_outcome_time_budget, 0,
	    sizeof(budget_cases) / sizeof(budget_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("aggregate");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_outcome_classify, 0,
	    sizeof(class_cases) / sizeof(class_cases[0]));
	tcase_add_loop_test(tc, test_outcome_aggregate, 0,
	    sizeof(agg_cases) / sizeof(agg_cases[0]));
	tcase_add_test(tc, test_outcome_aggregate_relay);
	tcase_add_test(tc, test_outcome_aggregate_recipients);
	tcase_add_test(tc, test_outcome_of_attempt_mixed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(outcome_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
