/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/smtp_session.c (with smtp_conn, smtp_data,
 * smtp_reply and smx_tls): one delivery attempt against smx-smtp-peer on
 * loopback per scenario, asserting the result and the peer's transcript.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp_session.h"
#include "spool.h"
#include "peer_fixture.h"

#define S(x) x, sizeof(x) - 1

static const char message[] = "Subject: test\n\n.hidden\nline\r\n.\nlast line";
static const char wire[] =
    "Subject: test\r\n\r\n..hidden\r\nline\r\n..\r\nlast line\r\n.\r\n";

static struct peer peer;

static void
load_message(struct spool *sp)
{
	FILE *tmp = tmpfile();
	char reason[256];

	ck_assert_ptr_nonnull(tmp);
	ck_assert_uint_eq(fwrite(message, 1, sizeof(message) - 1, tmp),
	    sizeof(message) - 1);
	ck_assert_int_eq(fflush(tmp), 0);
	rewind(tmp);
	ck_assert_int_eq(spool_read_fd(sp, fileno(tmp), 0, reason,
	                     sizeof(reason)),
	    SMX_OK);
	fclose(tmp);
}

static struct smx_tls_ctx *
make_ctx(void)
{
	struct smx_tls_options o;
	struct smx_tls_ctx *ctx = NULL;
	char ca[128];
	char reason[256];

	memset(&o, 0, sizeof(o));
	snprintf(ca, sizeof(ca), "%s/ca.pem", certs_dir);
	o.verify = SMX_TLS_VERIFY_CA;
	o.ca_file = ca;
	ck_assert_int_eq(smx_tls_ctx_new(&o, &ctx, reason, sizeof(reason)),
	    SMX_OK);
	return ctx;
}

static size_t
count(const char *hay, size_t len, const char *needle, size_t n_len)
{
	size_t n = 0;
	size_t i;

	for (i = 0; i + n_len <= len; i++) {
		if (memcmp(hay + i, needle, n_len) == 0)
			n++;
	}
	return n;
}

#define R(...)                                                                 \
	{                                                                      \
		__VA_ARGS__, NULL                                              \
	}

static const struct {
	const char *scenario;
	const char *cert;
	enum smtp_tls_policy policy;
	const char *rcpts[4];
	enum smx_status st;
	const char *enhanced;
	const char *command;
	unsigned code;
	bool has_tls;
	enum smx_tls_verified verified;
	const char *text;              /* a part of the result text */
	const char *in_transcript;     /* or NULL */
	const char *not_in_transcript; /* or NULL */
} cases[] = {
	{ "normal", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"), SMX_OK,
	    "2.0.0", "end of data", 250, true, SMX_TLS_VERIFIED_OK,
	    "queued as PEER1", "STARTTLS\r\n", NULL },
	{ "normal", CERT_NAME, SMTP_TLS_NONE, R("bob@example.test"), SMX_OK,
	    "2.0.0", "end of data", 250, false, SMX_TLS_VERIFIED_NONE, "queued",
	    "MAIL FROM:<alice@example.test> SIZE=", "STARTTLS" },
	{ "notls", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.4", "EHLO", 0, false, SMX_TLS_VERIFIED_NONE,
	    "TLS is required, but was not offered by host mx1.example.test[127.0.0.1]:",
	    "QUIT\r\n", "MAIL" },
	{ "notls", CERT_NAME, SMTP_TLS_MAY, R("bob@example.test"), SMX_OK,
	    "2.0.0", "end of data", 250, false, SMX_TLS_VERIFIED_NONE, "Ok",
	    "DATA\r\n", NULL },
	{ "hsfail", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", "STARTTLS", 0, false, SMX_TLS_VERIFIED_NONE,
	    "Cannot start TLS: handshake failure", "STARTTLS\r\n", "MAIL" },
	{ "normal", "wrongname", SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", "STARTTLS", 0, false, SMX_TLS_VERIFIED_FAIL,
	    "Server certificate not verified", NULL, "MAIL" },
	{ "normal", "expired", SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", "STARTTLS", 0, false, SMX_TLS_VERIFIED_FAIL,
	    "Server certificate not verified", NULL, "MAIL" },
	{ "inject", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", "STARTTLS", 0, false, SMX_TLS_VERIFIED_NONE,
	    "possible command injection", "STARTTLS\r\n", "MAIL" },
	{ "inject", CERT_NAME, SMTP_TLS_MAY, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", "STARTTLS", 0, false, SMX_TLS_VERIFIED_NONE,
	    "possible command injection", "STARTTLS\r\n", "MAIL" },
	{ "mail4", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.3.0", "MAIL FROM", 451, true, SMX_TLS_VERIFIED_OK,
	    "451 4.3.0 Try again later", "QUIT\r\n", "RCPT" },
	{ "mail5", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_PERMFAIL, "5.7.1", "MAIL FROM", 550, true, SMX_TLS_VERIFIED_OK,
	    "550 5.7.1 Sender rejected", NULL, "RCPT" },
	{ "normal", CERT_NAME, SMTP_TLS_ENCRYPT, R("tempuser@example.test"),
	    SMX_TEMPFAIL, "4.2.1", "RCPT TO", 450, true, SMX_TLS_VERIFIED_OK,
	    "450 4.2.1", "RSET\r\n", "DATA" },
	{ "normal", CERT_NAME, SMTP_TLS_ENCRYPT,
	    R("bob@example.test", "baduser@example.test"), SMX_PERMFAIL,
	    "5.1.1", "RCPT TO", 550, true, SMX_TLS_VERIFIED_OK,
	    "550 5.1.1 Recipient address rejected", "RSET\r\n", "DATA" },
	/* the worst outcome: permanent beats temporary, in any order */
	{ "normal", CERT_NAME, SMTP_TLS_ENCRYPT,
	    R("tempuser@example.test", "baduser@example.test",
	        "bob@example.test"),
	    SMX_PERMFAIL, "5.1.1", "RCPT TO", 550, true, SMX_TLS_VERIFIED_OK,
	    "550 5.1.1", "RSET\r\n", "DATA" },
	{ "data4", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.3.0", "DATA", 451, true, SMX_TLS_VERIFIED_OK,
	    "451 4.3.0 No data now", "DATA\r\n", "Subject" },
	{ "data5", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_PERMFAIL, "5.5.0", "DATA", 554, true, SMX_TLS_VERIFIED_OK,
	    "554 5.5.0", "DATA\r\n", "Subject" },
	{ "eod4", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.3.1", "end of data", 452, true,
	    SMX_TLS_VERIFIED_OK, "452 4.3.1 Insufficient storage", wire, NULL },
	{ "eod5", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_PERMFAIL, "5.6.0", "end of data", 554, true,
	    SMX_TLS_VERIFIED_OK, "554 5.6.0 Content rejected", wire, NULL },
	{ "dropdata", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.4.2", "end of data", 0, true, SMX_TLS_VERIFIED_OK,
	    "lost connection with mx1.example.test[127.0.0.1]:", "DATA\r\n",
	    NULL },
	{ "stall", NULL, SMTP_TLS_ENCRYPT, R("bob@example.test"), SMX_TEMPFAIL,
	    "4.4.2", "banner", 0, false, SMX_TLS_VERIFIED_NONE, "timeout", NULL,
	    NULL },
};

START_TEST(test_smtp_session_scenario)
{
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct sockaddr_in sin;
	const char *names[] = { CERT_NAME };
	struct spool sp;
	enum smx_status st;
	char *ts;
	size_t ts_len = 0;
	size_t n = 0;

	ck_assert(peer_start(&peer, cases[_i].scenario, cases[_i].cert, NULL));
	peer_addr(&peer, &sin);
	load_message(&sp);
	while (cases[_i].rcpts[n] != NULL)
		n++;
	memset(&p, 0, sizeof(p));
	p.addr = (struct sockaddr *)&sin;
	p.addr_len = sizeof(sin);
	p.host = CERT_NAME;
	p.helo = "client.example.test";
	p.sender = "alice@example.test";
	p.recipients = cases[_i].rcpts;
	p.n_recipients = n;
	p.tls_policy = cases[_i].policy;
	p.tls_ctx = make_ctx();
	p.tls_names = names;
	p.n_tls_names = 1;
	p.connect_timeout_ms = 5000;
	p.timeout_ms = strcmp(cases[_i].scenario, "stall") == 0 ? 1000 : 5000;
	p.message = &sp;
	st = smtp_session_deliver(&p, &res);
	ck_assert_msg(st == cases[_i].st, "status %d: %s", st, res.text);
	ck_assert_int_eq(res.status, st);
	ck_assert(res.is_delivered == (st == SMX_OK));
	ck_assert_str_eq(res.enhanced, cases[_i].enhanced);
	ck_assert_str_eq(res.command, cases[_i].command);
	ck_assert_uint_eq(res.reply_code, cases[_i].code);
	ck_assert_msg(strstr(res.text, cases[_i].text) != NULL, "text: %s",
	    res.text);
	ck_assert(res.has_tls == cases[_i].has_tls);
	ck_assert_int_eq(res.tls.verified, cases[_i].verified);
	if (res.has_tls) {
		ck_assert_str_eq(res.tls.protocol, "TLSv1.3");
		ck_assert_str_ne(res.tls.cipher, "");
	}
	if (cases[_i].verified == SMX_TLS_VERIFIED_FAIL)
		ck_assert_str_ne(res.tls.verify_reason, "");
	ck_assert_ptr_eq(strstr(res.peer, "mx1.example.test[127.0.0.1]:"),
	    res.peer);
	ts = peer_transcript(&peer, &ts_len);
	ck_assert_ptr_nonnull(ts);
	if (cases[_i].in_transcript != NULL)
		ck_assert_msg(count(ts, ts_len, cases[_i].in_transcript,
		                  strlen(cases[_i].in_transcript)) > 0,
		    "missing %s", cases[_i].in_transcript);
	if (cases[_i].not_in_transcript != NULL)
		ck_assert_msg(count(ts, ts_len, cases[_i].not_in_transcript,
		                  strlen(cases[_i].not_in_transcript)) == 0,
		    "unexpected %s", cases[_i].not_in_transcript);
	if (st == SMX_OK) {
		/* The body exactly once, and one end-of-data marker. */
		ck_assert_uint_eq(count(ts, ts_len, S(wire)), 1);
		ck_assert_uint_eq(count(ts, ts_len, S("\r\n.\r\n")), 1);
		ck_assert_uint_eq(count(ts, ts_len, S("QUIT\r\n")), 1);
	}
	if (res.has_tls) /* EHLO again after TLS */
		ck_assert_uint_eq(count(ts, ts_len,
		                      S("EHLO client.example.test\r\n")),
		    2);
	free(ts);
	spool_free(&sp);
	smx_tls_ctx_free(p.tls_ctx);
	peer_stop(&peer);
}
END_TEST

/* Opportunistic TLS: a failed handshake is retried in plaintext. */
START_TEST(test_smtp_session_may_fallback)
{
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct sockaddr_in sin;
	const char *rcpts[] = { "bob@example.test" };
	const char *names[] = { CERT_NAME };
	struct spool sp;
	char *ts;
	size_t ts_len = 0;

	ck_assert(peer_start(&peer, "hsfail", CERT_NAME, NULL));
	peer_addr(&peer, &sin);
	load_message(&sp);
	memset(&p, 0, sizeof(p));
	p.addr = (struct sockaddr *)&sin;
	p.addr_len = sizeof(sin);
	p.host = CERT_NAME;
	p.helo = "client.example.test";
	p.sender = "";
	p.recipients = rcpts;
	p.n_recipients = 1;
	p.tls_policy = SMTP_TLS_MAY;
	p.tls_ctx = make_ctx();
	p.tls_names = names;
	p.n_tls_names = 1;
	p.connect_timeout_ms = 5000;
	p.timeout_ms = 5000;
	p.message = &sp;
	ck_assert_int_eq(smtp_session_deliver(&p, &res), SMX_OK);
	ck_assert(res.is_delivered);
	ck_assert(!res.has_tls);
	ck_assert(res.is_tls_fallback);
	ck_assert_str_ne(res.tls_failure, "");
	ts = peer_transcript(&peer, &ts_len);
	ck_assert_ptr_nonnull(ts);
	/* Two connections: STARTTLS once, then plaintext with <>. */
	ck_assert_uint_eq(count(ts, ts_len, S("STARTTLS\r\n")), 1);
	ck_assert_uint_eq(count(ts, ts_len, S("EHLO client.example.test\r\n")),
	    2);
	/* (the transcript holds a binary ClientHello: no strstr) */
	ck_assert_uint_eq(count(ts, ts_len, S("MAIL FROM:<> SIZE=")), 1);
	ck_assert_uint_eq(count(ts, ts_len, S(wire)), 1);
	free(ts);
	spool_free(&sp);
	smx_tls_ctx_free(p.tls_ctx);
	peer_stop(&peer);
}
END_TEST

START_TEST(test_smtp_session_connect_refused)
{
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	const char *rcpts[] = { "bob@example.test" };
	struct spool sp;
	char dsn[512];
	int fd;

	/* A port that was just free: bound, then closed, nobody listens. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	load_message(&sp);
	memset(&p, 0, sizeof(p));
	p.addr = (struct sockaddr *)&sin;
	p.addr_len = sizeof(sin);
	p.host = NULL;
	p.helo = "client.example.test";
	p.sender = "alice@example.test";
	p.recipients = rcpts;
	p.n_recipients = 1;
	p.tls_policy = SMTP_TLS_NONE;
	p.connect_timeout_ms = 5000;
	p.timeout_ms = 5000;
	p.message = &sp;
	ck_assert_int_eq(smtp_session_deliver(&p, &res), SMX_TEMPFAIL);
	ck_assert_str_eq(res.enhanced, "4.4.1");
	ck_assert_str_eq(res.command, "connect");
	ck_assert_ptr_nonnull(strstr(res.text, "Connection refused"));
	ck_assert_ptr_eq(strstr(res.peer, "[127.0.0.1]:"), res.peer);
	smtp_session_format(&res, dsn, sizeof(dsn));
	ck_assert_ptr_eq(strstr(dsn, "4.4.1 connect to [127.0.0.1]:"), dsn);
	spool_free(&sp);
}
END_TEST

static const struct {
	const char *helo;
	const char *sender;
	const char *rcpt;
} bad_params[] = {
	{ "client.example.test", "a@b\r\nRSET", "bob@example.test" },
	{ "client.example.test", "a@b\n", "bob@example.test" },
	{ "client.example.test", "a@b", "bob@example.test\rDATA" },
	{ "client.example.test", "a@b", "" },
	{ "client example", "a@b", "bob@example.test" },
	{ "", "a@b", "bob@example.test" },
	{ "client.example.test\r\n", "a@b", "bob@example.test" },
};

/* Refused before connecting: the address is one nobody listens on. */
START_TEST(test_smtp_session_bad_params)
{
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct sockaddr_in sin;
	const char *rcpts[] = { bad_params[_i].rcpt };
	struct spool sp;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(1);
	spool_init(&sp);
	memset(&p, 0, sizeof(p));
	p.addr = (struct sockaddr *)&sin;
	p.addr_len = sizeof(sin);
	p.helo = bad_params[_i].helo;
	p.sender = bad_params[_i].sender;
	p.recipients = rcpts;
	p.n_recipients = 1;
	p.connect_timeout_ms = 1000;
	p.timeout_ms = 1000;
	p.message = &sp;
	ck_assert_int_eq(smtp_session_deliver(&p, &res), SMX_INVALID);
	ck_assert(!res.is_delivered);
	ck_assert_str_eq(res.command, "");
}
END_TEST

START_TEST(test_smtp_session_format)
{
	struct smtp_session_result res;
	char out[512];

	memset(&res, 0, sizeof(res));
	snprintf(res.enhanced, sizeof(res.enhanced), "5.1.1");
	snprintf(res.peer, sizeof(res.peer), "mx[192.0.2.1]:25");
	snprintf(res.text, sizeof(res.text), "550 5.1.1 unknown");
	res.reply_code = 550;
	res.command = "RCPT TO";
	smtp_session_format(&res, out, sizeof(out));
	ck_assert_str_eq(out,
	    "5.1.1 host mx[192.0.2.1]:25 said: 550 5.1.1 unknown (in reply to RCPT TO command)");
	res.command = "end of data";
	smtp_session_format(&res, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "(in reply to end of DATA command)"));
	res.reply_code = 0;
	snprintf(res.enhanced, sizeof(res.enhanced), "4.7.5");
	snprintf(res.text, sizeof(res.text),
	    "Cannot start TLS: handshake failure");
	res.command = "STARTTLS";
	smtp_session_format(&res, out, sizeof(out));
	ck_assert_str_eq(out,
	    "4.7.5 Cannot start TLS: handshake failure (in reply to STARTTLS command)");
}
END_TEST

static Suite *
session_suite(void)
{
	Suite *s = suite_create("smtp_session");
	TCase *tc;

	tc = tcase_create("scenarios");
	tcase_add_unchecked_fixture(tc, certs_make, certs_remove);
	tcase_add_loop_test(tc, test_smtp_session_scenario, 0,
	    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_smtp_session_may_fallback);
	tcase_add_test(tc, test_smtp_session_connect_refused);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("params");
	tcase_add_loop_test(tc, test_smtp_session_bad_params, 0,
	    sizeof(bad_params) / sizeof(bad_params[0]));
	tcase_add_test(tc, test_smtp_session_format);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(session_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
