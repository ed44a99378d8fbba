/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/outcome.c: statuses to pipe(8) exit codes and
 * status lines, line sanitising, the time budget of an attempt, and the
 * folding of attempts into one outcome under the SOS and BES rules.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "outcome.h"

/* Bounded copy into a char array of the fake results. */
#define SET(d, s) snprintf((d), sizeof(d), "%s", (s))

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

/* Attempt results as smtp_session_deliver fills them. */
enum kind {
	K_END = 0,
	K_SENT_TLS,
	K_SENT_PLAIN,
	K_CONNECT, /* 4.4.1 connect refused */
	K_LOST,    /* 4.4.2 lost connection */
	K_NOTLS,   /* 4.7.4 not offered */
	K_HSFAIL,  /* 4.7.5 handshake failure */
	K_BANNER5, /* 554 at the banner */
	K_RCPT5,   /* 550 5.1.1 to RCPT TO */
	K_RCPT4,   /* 450 4.2.1 to RCPT TO */
	K_MAIL5,   /* 550 5.7.1 to MAIL FROM */
	K_EOD4,    /* 452 4.3.1 at end of data */
	K_SIZE,    /* 5.3.4 message too large for the server's SIZE */
	K_INVALID, /* bad parameters */
	K_NOADDR,  /* local: no addresses */
	K_STLS454, /* 454 4.7.0 to STARTTLS with TLS mandatory */
};

static void
fake(enum kind k, struct smtp_session_result *r)
{
	memset(r, 0, sizeof(*r));
	r->command = "";
	snprintf(r->peer, sizeof(r->peer), "mx.example[192.0.2.%d]:25", (int)k);
	switch (k) {
	case K_SENT_TLS:
	case K_SENT_PLAIN:
		r->is_delivered = true;
		r->status = SMX_OK;
		r->reply_code = 250;
		SET(r->enhanced, "2.0.0");
		SET(r->text, "250 2.0.0 Ok: queued as X");
		r->command = "end of data";
		r->has_tls = k == K_SENT_TLS;
		if (r->has_tls) {
			SET(r->tls.protocol, "TLSv1.3");
			SET(r->tls.cipher, "TLS_AES_256_GCM_SHA384");
		}
		break;
	case K_CONNECT:
		r->status = SMX_TEMPFAIL;
		SET(r->enhanced, "4.4.1");
		SET(r->text, "connect to x: Connection refused");
		r->command = "connect";
		break;
	case K_LOST:
		r->status = SMX_TEMPFAIL;
		SET(r->enhanced, "4.4.2");
		SET(r->text, "lost connection with x while sending");
		r->command = "DATA";
		break;
	case K_NOTLS:
		r->status = SMX_TEMPFAIL;
		SET(r->enhanced, "4.7.4");
		SET(r->text, "TLS is required, but was not offered");
		r->command = "EHLO";
		break;
	case K_HSFAIL:
		r->status = SMX_TEMPFAIL;
		SET(r->enhanced, "4.7.5");
		SET(r->text, "Cannot start TLS: handshake failure");
		r->command = "STARTTLS";
		break;
	case K_STLS454:
		r->status = SMX_TEMPFAIL;
		r->reply_code = 454;
		SET(r->enhanced, "4.7.0");
		SET(r->text, "454 4.7.0 TLS not available");
		r->command = "STARTTLS";
		break;
	case K_BANNER5:
		r->status = SMX_PERMFAIL;
		r->reply_code = 554;
		SET(r->enhanced, "5.0.0");
		SET(r->text, "554 go away");
		r->command = "banner";
		break;
	case K_RCPT5:
		r->status = SMX_PERMFAIL;
		r->reply_code = 550;
		SET(r->enhanced, "5.1.1");
		SET(r->text, "550 5.1.1 unknown user");
		r->command = "RCPT TO";
		r->has_tls = true;
		break;
	case K_RCPT4:
		r->status = SMX_TEMPFAIL;
		r->reply_code = 450;
		SET(r->enhanced, "4.2.1");
		SET(r->text, "450 4.2.1 busy");
		r->command = "RCPT TO";
		break;
	case K_MAIL5:
		r->status = SMX_PERMFAIL;
		r->reply_code = 550;
		SET(r->enhanced, "5.7.1");
		SET(r->text, "550 5.7.1 sender rejected");
		r->command = "MAIL FROM";
		break;
	case K_EOD4:
		r->status = SMX_TEMPFAIL;
		r->reply_code = 452;
		SET(r->enhanced, "4.3.1");
		SET(r->text, "452 4.3.1 storage");
		r->command = "end of data";
		break;
	case K_SIZE:
		r->status = SMX_PERMFAIL;
		SET(r->enhanced, "5.3.4");
		SET(r->text, "message size 9 exceeds size limit 1");
		break;
	case K_INVALID:
		r->status = SMX_INVALID;
		SET(r->enhanced, "5.3.0");
		SET(r->text, "invalid delivery parameters");
		break;
	case K_NOADDR:
	case K_END:
		break;
	}
}

#define SEQ(...)                                                               \
	{                                                                      \
		__VA_ARGS__, K_END                                             \
	}

static const struct {
	enum outcome_route route;
	bool is_sos;
	enum kind seq[6];
	size_t n_used; /* results consumed before a final one */
	enum smx_status want_st;
	const char *want_prefix;
} agg_cases[] = {
	/* Delivered on the second host. */
	{ OUTCOME_ROUTE_SRV, true, SEQ(K_CONNECT, K_SENT_TLS), 2, SMX_OK,
	    "2.0.0 delivered via mx.example[192.0.2.1]:25 TLSv1.3 (250 2.0.0 Ok: queued as X)" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_SENT_PLAIN), 1, SMX_OK,
	    "2.0.0 delivered via mx.example[192.0.2.2]:25 without TLS" },
	/* SOS over MX: every host answered, none qualified -> 5.7.4. */
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTLS, K_HSFAIL), 2, SMX_PERMFAIL,
	    "5.7.4 TLS is not available from any MX host of dest.example: no secure route to dest.example exists under the Secure Only Sender policy" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTLS), 1, SMX_PERMFAIL, "5.7.4 " },
	/* Some MX unreachable -> defer. */
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTLS, K_CONNECT), 2, SMX_TEMPFAIL,
	    "4.7.4 TLS is required" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_CONNECT, K_HSFAIL), 2, SMX_TEMPFAIL,
	    "4.7.5 Cannot start TLS" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOADDR, K_NOTLS), 2, SMX_TEMPFAIL,
	    "4.7.4 " },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTLS, K_LOST), 2, SMX_TEMPFAIL,
	    "4.7.4 " },
	/* A temporary TLS refusal is not "no TLS": defer. */
	{ OUTCOME_ROUTE_MX, true, SEQ(K_NOTLS, K_STLS454), 2, SMX_TEMPFAIL,
	    "4.7.0 host mx.example[192.0.2.15]:25 said: 454 4.7.0 TLS not available (in reply to STARTTLS command)" },
	/* SRV and relay routes never bounce on TLS trouble. */
	{ OUTCOME_ROUTE_SRV, true, SEQ(K_NOTLS, K_HSFAIL), 2, SMX_TEMPFAIL,
	    "4.7.4 TLS is required, but was not offered (in reply to EHLO command)" },
	{ OUTCOME_ROUTE_SRV, true, SEQ(K_HSFAIL, K_NOTLS), 2, SMX_TEMPFAIL,
	    "4.7.5 Cannot start TLS: handshake failure (in reply to STARTTLS command)" },
	{ OUTCOME_ROUTE_RELAY, true, SEQ(K_NOTLS), 1, SMX_TEMPFAIL,
	    "4.7.4 TLS is required, but was not offered (in reply to EHLO command)" },
	/* BES over MX: TLS trouble is not the policy's business. */
	{ OUTCOME_ROUTE_MX, false, SEQ(K_NOTLS), 1, SMX_TEMPFAIL, "4.7.4 " },
	/* A receiver's reply to the transaction decides at once. */
	{ OUTCOME_ROUTE_SRV, true, SEQ(K_CONNECT, K_RCPT5, K_SENT_TLS), 2,
	    SMX_PERMFAIL,
	    "5.1.1 host mx.example[192.0.2.8]:25 said: 550 5.1.1 unknown user (in reply to RCPT TO command)" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_RCPT4, K_SENT_TLS), 1, SMX_TEMPFAIL,
	    "4.2.1 host mx.example[192.0.2.9]:25 said: 450 4.2.1 busy (in reply to RCPT TO command)" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_MAIL5), 1, SMX_PERMFAIL,
	    "5.7.1 host mx.example[192.0.2.10]:25 said: 550 5.7.1 sender rejected (in reply to MAIL FROM command)" },
	{ OUTCOME_ROUTE_MX, true, SEQ(K_EOD4), 1, SMX_TEMPFAIL,
	    "4.3.1 host mx.example[192.0.2.11]:25 said: 452 4.3.1 storage (in reply to end of DATA command)" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_SIZE, K_SENT_TLS), 1, SMX_PERMFAIL,
	    "5.3.4 message size" },
	{ OUTCOME_ROUTE_MX, false, SEQ(K_INVALID, K_SENT_TLS), 1, SMX_TEMPFAIL,
	    "4.3.0 invalid delivery parameters" },
	/* A 5xx banner is not about the message: next host, then defer. */
	{ OUTCOME_ROUTE_MX, false, SEQ(K_BANNER5, K_CONNECT), 2, SMX_TEMPFAIL,
	    "4.0.0 host mx.example[192.0.2.7]:25 said: 554 go away (in reply to banner command)" },
	/* The most informative failure: a reply, then TLS, then lost. */
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_CONNECT, K_LOST, K_HSFAIL), 3,
	    SMX_TEMPFAIL, "4.7.5 Cannot start TLS" },
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_CONNECT, K_LOST), 2, SMX_TEMPFAIL,
	    "4.4.2 lost connection" },
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_CONNECT, K_CONNECT), 2, SMX_TEMPFAIL,
	    "4.4.1 connect to x: Connection refused" },
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_NOADDR), 1, SMX_TEMPFAIL,
	    "4.4.4 cannot find the addresses of mx.example" },
	/* Nothing tried at all. */
	{ OUTCOME_ROUTE_SRV, false, SEQ(K_END), 0, SMX_TEMPFAIL,
	    "4.4.4 no route to dest.example" },
};

START_TEST(test_outcome_aggregate)
{
	struct smtp_session_result res;
	struct outcome_agg agg;
	struct outcome out;
	size_t n_used = 0;
	size_t i;

	outcome_agg_init(&agg, agg_cases[_i].route, agg_cases[_i].is_sos,
	    "dest.example");
	for (i = 0; agg_cases[_i].seq[i] != K_END; i++) {
		bool is_final;

		n_used++;
		if (agg_cases[_i].seq[i] == K_NOADDR) {
			outcome_agg_add_local(&agg, "4.4.4",
			    "cannot find the addresses of mx.example: host not found");
			continue;
		}
		fake(agg_cases[_i].seq[i], &res);
		if ((is_final = outcome_agg_add(&agg, &res)))
			break;
	}
	outcome_agg_finish(&agg, &out);
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
	struct smtp_session_result res;
	struct outcome_agg agg;
	struct outcome out;

	outcome_agg_init(&agg, OUTCOME_ROUTE_SRV, true, "d.example");
	fake(K_SENT_TLS, &res);
	res.tls.verified = SMX_TLS_VERIFIED_OK;
	ck_assert(outcome_agg_add(&agg, &res));
	outcome_agg_finish(&agg, &out);
	ck_assert_str_eq(out.relay, "mx.example[192.0.2.1]:25");
	ck_assert_str_eq(out.tls_protocol, "TLSv1.3");
	ck_assert_str_eq(out.tls_cipher, "TLS_AES_256_GCM_SHA384");
	ck_assert_int_eq(out.tls_verified, SMX_TLS_VERIFIED_OK);

	outcome_agg_init(&agg, OUTCOME_ROUTE_MX, false, "d.example");
	fake(K_CONNECT, &res);
	ck_assert(!outcome_agg_add(&agg, &res));
	outcome_agg_finish(&agg, &out);
	ck_assert_str_eq(out.relay, "mx.example[192.0.2.3]:25");
	ck_assert_str_eq(out.tls_protocol, "");
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
	tcase_add_loop_test(tc, test_outcome_aggregate, 0,
	    sizeof(agg_cases) / sizeof(agg_cases[0]));
	tcase_add_test(tc, test_outcome_aggregate_relay);
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
