/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/smtp_session.c (with smtp_conn, smtp_data,
 * smtp_reply and smx_tls): one delivery attempt against smx-smtp-peer on
 * loopback per scenario, asserting the result and the peer's transcript;
 * then deliveries through a connection cache (smtp_cache) and a TLS
 * session cache, with the peer counting the connections it accepts.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtp_cache.h"
#include "smtp_session.h"
#include "smx_tls_cache.h"
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

static size_t
transcript_count(const char *needle, size_t len)
{
	size_t ts_len = 0;
	char *ts = peer_transcript(&peer, &ts_len);
	size_t n;

	ck_assert_ptr_nonnull(ts);
	n = count(ts, ts_len, needle, len);
	free(ts);
	return n;
}

#define R(...)                                                                 \
	{                                                                      \
		__VA_ARGS__, NULL                                              \
	}

#define ANY_STAGE SMTP_STAGE_NONE /* lost at BODY or END_OF_DATA */

static const struct {
	const char *scenario;
	const char *cert;
	enum smtp_tls_policy policy;
	const char *rcpts[4];
	enum smx_status st;
	const char *enhanced;
	enum smtp_stage stage;
	enum smtp_fault fault;
	unsigned code;
	bool has_tls;
	enum smx_tls_verified verified;
	const char *text;              /* a part of the result text */
	const char *in_transcript;     /* or NULL */
	const char *not_in_transcript; /* or NULL */
} cases[] = {
	{ "normal", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"), SMX_OK,
	    "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, true,
	    SMX_TLS_VERIFIED_CA, "queued as PEER1", "STARTTLS\r\n", NULL },
	{ "normal", CERT_NAME, SMTP_TLS_NONE, R("bob@example.test"), SMX_OK,
	    "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, false,
	    SMX_TLS_VERIFIED_NONE, "queued",
	    "MAIL FROM:<alice@example.test> SIZE=", "STARTTLS" },
	{ "notls", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.4", SMTP_STAGE_EHLO, SMTP_FAULT_NO_TLS, 0, false,
	    SMX_TLS_VERIFIED_NONE,
	    "TLS is required, but was not offered by host mx1.example.test[127.0.0.1]:",
	    "QUIT\r\n", "MAIL" },
	{ "notls", CERT_NAME, SMTP_TLS_MAY, R("bob@example.test"), SMX_OK,
	    "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, false,
	    SMX_TLS_VERIFIED_NONE, "Ok", "DATA\r\n", NULL },
	{ "hsfail", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_HANDSHAKE, SMTP_FAULT_PROTOCOL, 0,
	    false, SMX_TLS_VERIFIED_NONE, "Cannot start TLS: handshake failure",
	    "STARTTLS\r\n", "MAIL" },
	{ "normal", "wrongname", SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_HANDSHAKE, SMTP_FAULT_TLS_VERIFY,
	    0, false, SMX_TLS_VERIFIED_FAIL, "Server certificate not verified",
	    NULL, "MAIL" },
	{ "normal", "expired", SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_HANDSHAKE, SMTP_FAULT_TLS_VERIFY,
	    0, false, SMX_TLS_VERIFIED_FAIL, "Server certificate not verified",
	    NULL, "MAIL" },
	{ "inject", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_STARTTLS, SMTP_FAULT_PROTOCOL, 0,
	    false, SMX_TLS_VERIFIED_NONE, "possible command injection",
	    "STARTTLS\r\n", "MAIL" },
	{ "inject", CERT_NAME, SMTP_TLS_MAY, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_STARTTLS, SMTP_FAULT_PROTOCOL, 0,
	    false, SMX_TLS_VERIFIED_NONE, "possible command injection",
	    "STARTTLS\r\n", "MAIL" },
	/* Faults in the STARTTLS stage: timeouts, closes, resets. */
	{ "stls_stall", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.4.2", SMTP_STAGE_STARTTLS, SMTP_FAULT_TIMEOUT, 0,
	    false, SMX_TLS_VERIFIED_NONE,
	    "timed out while receiving the reply to STARTTLS", "STARTTLS\r\n",
	    "MAIL" },
	{ "stls_close", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.4.2", SMTP_STAGE_STARTTLS, SMTP_FAULT_LOST, 0,
	    false, SMX_TLS_VERIFIED_NONE,
	    "lost connection with mx1.example.test[127.0.0.1]:", "STARTTLS\r\n",
	    "MAIL" },
	{ "hs_stall", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_HANDSHAKE, SMTP_FAULT_TIMEOUT, 0,
	    false, SMX_TLS_VERIFIED_NONE, "handshake failure", "STARTTLS\r\n",
	    "MAIL" },
	{ "hs_close", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_HANDSHAKE, SMTP_FAULT_LOST, 0,
	    false, SMX_TLS_VERIFIED_NONE, "handshake failure", "STARTTLS\r\n",
	    "MAIL" },
	{ "hs_reset", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_HANDSHAKE, SMTP_FAULT_LOST, 0,
	    false, SMX_TLS_VERIFIED_NONE, "handshake failure", "STARTTLS\r\n",
	    "MAIL" },
	/* Refusals: a reply to STARTTLS, a fatal alert. */
	{ "stls454", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.0", SMTP_STAGE_STARTTLS, SMTP_FAULT_REPLY, 454,
	    false, SMX_TLS_VERIFIED_NONE, "454 4.7.0 TLS not available now",
	    "STARTTLS\r\n", "MAIL" },
	{ "stls554", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.0", SMTP_STAGE_STARTTLS, SMTP_FAULT_REPLY, 554,
	    false, SMX_TLS_VERIFIED_NONE, "554 5.7.0 No TLS here",
	    "STARTTLS\r\n", "MAIL" },
	{ "hs_alert", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.7.5", SMTP_STAGE_HANDSHAKE, SMTP_FAULT_TLS_ALERT,
	    0, false, SMX_TLS_VERIFIED_NONE, "alert handshake failure",
	    "STARTTLS\r\n", "MAIL" },
	/* EHLO refused: mandatory TLS cannot work; optional: HELO. */
	{ "ehlo5", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.5.1", SMTP_STAGE_EHLO, SMTP_FAULT_NO_TLS, 550,
	    false, SMX_TLS_VERIFIED_NONE, "550 5.5.1 EHLO not accepted", "EHLO",
	    "HELO" },
	{ "ehlo5", CERT_NAME, SMTP_TLS_MAY, R("bob@example.test"), SMX_OK,
	    "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, false,
	    SMX_TLS_VERIFIED_NONE, "queued", "HELO client.example.test\r\n",
	    "STARTTLS" },
	{ "ehlo4", CERT_NAME, SMTP_TLS_MAY, R("bob@example.test"), SMX_TEMPFAIL,
	    "4.3.2", SMTP_STAGE_EHLO, SMTP_FAULT_REPLY, 421, false,
	    SMX_TLS_VERIFIED_NONE, "421 4.3.2 Busy", "EHLO", "HELO" },
	/* This host itself: Postfix's "loops back to myself". */
	{ "loop", CERT_NAME, SMTP_TLS_MAY, R("bob@example.test"), SMX_PERMFAIL,
	    "5.4.6", SMTP_STAGE_BANNER, SMTP_FAULT_LOOP, 0, false,
	    SMX_TLS_VERIFIED_NONE, "loops back to myself", "QUIT", "EHLO" },
	/* SMTPUTF8: offered, or the message cannot go there. */
	{ "normal", CERT_NAME, SMTP_TLS_ENCRYPT,
	    R("b\xc3\xb6"
	      "b@example.test"),
	    SMX_PERMFAIL, "5.6.7", SMTP_STAGE_EHLO, SMTP_FAULT_SMTPUTF8, 0,
	    true, SMX_TLS_VERIFIED_CA,
	    "SMTPUTF8 is required, but was not offered by host mx1.example.test",
	    "QUIT\r\n", "MAIL" },
	{ "utf8", CERT_NAME, SMTP_TLS_ENCRYPT,
	    R("b\xc3\xb6"
	      "b@example.test"),
	    SMX_OK, "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, true,
	    SMX_TLS_VERIFIED_CA, "queued",
	    "RCPT TO:<b\xc3\xb6"
	    "b@example.test>\r\n",
	    NULL },
	{ "mail4", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.3.0", SMTP_STAGE_MAIL, SMTP_FAULT_REPLY, 451, true,
	    SMX_TLS_VERIFIED_CA, "451 4.3.0 Try again later", "QUIT\r\n",
	    "RCPT" },
	{ "mail5", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_PERMFAIL, "5.7.1", SMTP_STAGE_MAIL, SMTP_FAULT_REPLY, 550, true,
	    SMX_TLS_VERIFIED_CA, "550 5.7.1 Sender rejected", NULL, "RCPT" },
	{ "normal", CERT_NAME, SMTP_TLS_ENCRYPT, R("tempuser@example.test"),
	    SMX_TEMPFAIL, "4.2.1", SMTP_STAGE_RCPT, SMTP_FAULT_REPLY, 450, true,
	    SMX_TLS_VERIFIED_CA, "450 4.2.1", "RSET\r\n", "DATA" },
	/* Refused recipients: the message goes to the accepted ones. */
	{ "normal", CERT_NAME, SMTP_TLS_ENCRYPT,
	    R("bob@example.test", "baduser@example.test"), SMX_OK, "2.0.0",
	    SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, true,
	    SMX_TLS_VERIFIED_CA, "queued as PEER1", "DATA\r\n", "RSET" },
	/* None accepted: the worst refusal, permanent before temporary. */
	{ "normal", CERT_NAME, SMTP_TLS_ENCRYPT,
	    R("tempuser@example.test", "baduser@example.test"), SMX_PERMFAIL,
	    "5.1.1", SMTP_STAGE_RCPT, SMTP_FAULT_REPLY, 550, true,
	    SMX_TLS_VERIFIED_CA, "550 5.1.1", "RSET\r\n", "DATA" },
	{ "data4", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.3.0", SMTP_STAGE_DATA, SMTP_FAULT_REPLY, 451, true,
	    SMX_TLS_VERIFIED_CA, "451 4.3.0 No data now", "DATA\r\n",
	    "Subject" },
	{ "data5", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_PERMFAIL, "5.5.0", SMTP_STAGE_DATA, SMTP_FAULT_REPLY, 554, true,
	    SMX_TLS_VERIFIED_CA, "554 5.5.0", "DATA\r\n", "Subject" },
	{ "eod4", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.3.1", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_REPLY,
	    452, true, SMX_TLS_VERIFIED_CA, "452 4.3.1 Insufficient storage",
	    wire, NULL },
	{ "eod5", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_PERMFAIL, "5.6.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_REPLY,
	    554, true, SMX_TLS_VERIFIED_CA, "554 5.6.0 Content rejected", wire,
	    NULL },
	/* An odd 250 after the end of data: delivered, once. */
	{ "eod_utf8", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_OK, "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, true,
	    SMX_TLS_VERIFIED_CA, "PEER1 \\xe2\\x9c\\x93 gespeichert", wire,
	    NULL },
	{ "eod_lf", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"), SMX_OK,
	    "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, true,
	    SMX_TLS_VERIFIED_CA, "queued as PEER1", wire, NULL },
	{ "eod_long", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_OK, "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, true,
	    SMX_TLS_VERIFIED_CA, "queued as PEER1 xxxx", wire, NULL },
	{ "eod_extra", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_OK, "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, true,
	    SMX_TLS_VERIFIED_CA, "queued as PEER1", wire, NULL },
	{ "dropdata", CERT_NAME, SMTP_TLS_ENCRYPT, R("bob@example.test"),
	    SMX_TEMPFAIL, "4.4.2", ANY_STAGE, SMTP_FAULT_LOST, 0, true,
	    SMX_TLS_VERIFIED_CA,
	    "lost connection with mx1.example.test[127.0.0.1]:", "DATA\r\n",
	    NULL },
	{ "stall", NULL, SMTP_TLS_ENCRYPT, R("bob@example.test"), SMX_TEMPFAIL,
	    "4.4.2", SMTP_STAGE_BANNER, SMTP_FAULT_TIMEOUT, 0, false,
	    SMX_TLS_VERIFIED_NONE, "timed out", NULL, NULL },
};

START_TEST(test_smtp_session_scenario)
{
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[4];
	struct sockaddr_in sin;
	const char *names[] = { CERT_NAME };
	struct spool sp;
	enum smx_status st;
	bool is_short;
	char *ts;
	size_t ts_len = 0;
	size_t n = 0;

	ck_assert(peer_start(&peer, cases[_i].scenario, cases[_i].cert, NULL));
	peer_addr(&peer, &sin);
	load_message(&sp);
	while (cases[_i].rcpts[n] != NULL)
		n++;
	is_short = strstr(cases[_i].scenario, "stall") != NULL;
	memset(&p, 0, sizeof(p));
	p.addr = (struct sockaddr *)&sin;
	p.addr_len = sizeof(sin);
	p.host = CERT_NAME;
	/* "loop": the peer greets with its default name, peer.test. */
	p.helo = strcmp(cases[_i].scenario, "loop") == 0
	    ? "peer.test"
	    : "client.example.test";
	p.sender = "alice@example.test";
	p.recipients = cases[_i].rcpts;
	p.n_recipients = n;
	p.rcpt = rr;
	p.tls_policy = cases[_i].policy;
	p.tls_ctx = make_ctx();
	p.tls.names = names;
	p.tls.n_names = 1;
	p.connect_timeout_ms = 5000;
	p.timeout_ms = is_short ? 1000 : 5000;
	p.message = &sp;
	st = smtp_session_deliver(&p, &res);
	ck_assert_msg(st == cases[_i].st, "status %d: %s", st, res.text);
	ck_assert_int_eq(res.status, st);
	ck_assert(res.is_delivered == (st == SMX_OK));
	ck_assert_str_eq(res.enhanced, cases[_i].enhanced);
	if (cases[_i].stage != ANY_STAGE)
		ck_assert_int_eq(res.stage, cases[_i].stage);
	else
		ck_assert(res.stage == SMTP_STAGE_BODY ||
		    res.stage == SMTP_STAGE_END_OF_DATA);
	ck_assert_int_eq(res.fault, cases[_i].fault);
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
		ck_assert(rr[0].is_accepted);
	}
	if (res.has_tls && res.stage > SMTP_STAGE_EHLO) /* EHLO after TLS */
		ck_assert_uint_eq(count(ts, ts_len,
		                      S("EHLO client.example.test\r\n")),
		    2);
	free(ts);
	spool_free(&sp);
	smx_tls_ctx_free(p.tls_ctx);
	peer_stop(&peer);
}
END_TEST

/* Each recipient's RCPT reply, and the message to the accepted ones. */
START_TEST(test_smtp_session_recipients)
{
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[3];
	struct sockaddr_in sin;
	const char *rcpts[] = { "tempuser@example.test", "bob@example.test",
		"baduser@example.test" };
	const char *names[] = { CERT_NAME };
	struct spool sp;
	char line[512];

	ck_assert(peer_start(&peer, "normal", CERT_NAME, NULL));
	peer_addr(&peer, &sin);
	load_message(&sp);
	memset(&p, 0, sizeof(p));
	p.addr = (struct sockaddr *)&sin;
	p.addr_len = sizeof(sin);
	p.host = CERT_NAME;
	p.helo = "client.example.test";
	p.sender = "alice@example.test";
	p.recipients = rcpts;
	p.n_recipients = 3;
	p.rcpt = rr;
	p.tls_policy = SMTP_TLS_ENCRYPT;
	p.tls_ctx = make_ctx();
	p.tls.names = names;
	p.tls.n_names = 1;
	p.connect_timeout_ms = 5000;
	p.timeout_ms = 5000;
	p.message = &sp;
	ck_assert_int_eq(smtp_session_deliver(&p, &res), SMX_OK);
	ck_assert(res.is_delivered);
	ck_assert_uint_eq(res.n_accepted, 1);
	ck_assert(!rr[0].is_accepted);
	ck_assert_uint_eq(rr[0].reply_code, 450);
	ck_assert_str_eq(rr[0].enhanced, "4.2.1");
	ck_assert(rr[1].is_accepted);
	ck_assert(!rr[2].is_accepted);
	ck_assert_uint_eq(rr[2].reply_code, 550);
	smtp_rcpt_format(&res, &rr[2], line, sizeof(line));
	ck_assert_ptr_eq(strstr(line,
	                     "5.1.1 host mx1.example.test[127.0.0.1]:"),
	    line);
	ck_assert_ptr_nonnull(strstr(line, "(in reply to RCPT TO command)"));
	spool_free(&sp);
	smx_tls_ctx_free(p.tls_ctx);
	peer_stop(&peer);
}
END_TEST

/* The probe modes of secmx-probe: never MAIL (PROBE), never DATA. */
static const struct {
	enum smtp_mode mode;
	enum smtp_tls_policy policy;
	const char *rcpt;
	enum smx_status st;
	bool is_delivered;
	enum smtp_stage stage;
	unsigned rcpt_code;
	const char *in_transcript;
	const char *not_in_transcript;
} probe_cases[] = {
	{ SMTP_MODE_PROBE, SMTP_TLS_ENCRYPT, "bob@example.test", SMX_OK, true,
	    SMTP_STAGE_EHLO, 0, "STARTTLS\r\n", "MAIL" },
	{ SMTP_MODE_PROBE_RCPT, SMTP_TLS_NONE, "bob@example.test", SMX_OK,
	    false, SMTP_STAGE_RCPT, 250, "RSET\r\n", "DATA" },
	{ SMTP_MODE_PROBE_RCPT, SMTP_TLS_NONE, "baduser@example.test",
	    SMX_PERMFAIL, false, SMTP_STAGE_RCPT, 550, "MAIL FROM:<>\r\n",
	    "DATA" },
};

START_TEST(test_smtp_session_probe)
{
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[1];
	struct sockaddr_in sin;
	const char *rcpts[] = { probe_cases[_i].rcpt };
	const char *names[] = { CERT_NAME };
	char *ts;
	size_t ts_len = 0;

	ck_assert(peer_start(&peer, "normal", CERT_NAME, NULL));
	peer_addr(&peer, &sin);
	memset(&p, 0, sizeof(p));
	p.addr = (struct sockaddr *)&sin;
	p.addr_len = sizeof(sin);
	p.host = CERT_NAME;
	p.helo = "client.example.test";
	p.sender = "";
	p.recipients = rcpts;
	p.n_recipients = 1;
	p.rcpt = rr;
	p.tls_policy = probe_cases[_i].policy;
	p.tls_ctx = make_ctx();
	p.tls.names = names;
	p.tls.n_names = 1;
	p.connect_timeout_ms = 5000;
	p.timeout_ms = 5000;
	p.message = NULL;
	p.mode = probe_cases[_i].mode;
	ck_assert_int_eq(smtp_session_deliver(&p, &res), probe_cases[_i].st);
	ck_assert(res.is_delivered == probe_cases[_i].is_delivered);
	ck_assert_int_eq(res.stage, probe_cases[_i].stage);
	ck_assert_uint_eq(rr[0].reply_code, probe_cases[_i].rcpt_code);
	ts = peer_transcript(&peer, &ts_len);
	ck_assert_ptr_nonnull(ts);
	ck_assert(count(ts, ts_len, probe_cases[_i].in_transcript,
	              strlen(probe_cases[_i].in_transcript)) > 0);
	ck_assert(count(ts, ts_len, probe_cases[_i].not_in_transcript,
	              strlen(probe_cases[_i].not_in_transcript)) == 0);
	ck_assert_uint_eq(count(ts, ts_len, S("QUIT\r\n")), 1);
	free(ts);
	smx_tls_ctx_free(p.tls_ctx);
	peer_stop(&peer);
}
END_TEST

/* Opportunistic TLS: a failed handshake is retried in plaintext. */
START_TEST(test_smtp_session_may_fallback)
{
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[1];
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
	p.rcpt = rr;
	p.tls_policy = SMTP_TLS_MAY;
	p.tls_ctx = make_ctx();
	p.tls.names = names;
	p.tls.n_names = 1;
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

/* ---------------------------------------------------------------- */
/* PIPELINING (RFC 2920)                                             */

static const char *const pipelining[] = { "-L", NULL };

#define RCPTS_MAX 4

/*
 * Against a peer that offers PIPELINING (unless is_serial): the result,
 * each recipient's reply code, whether MAIL..DATA came in one read, and
 * what the transcript holds. The message never goes out unless a
 * recipient was accepted.
 */
static const struct {
	const char *scenario;
	bool is_serial; /* the peer does not offer PIPELINING */
	enum smtp_tls_policy policy;
	enum smtp_mode mode;
	const char *rcpts[RCPTS_MAX + 1];
	enum smx_status st;
	const char *enhanced;
	enum smtp_stage stage;
	enum smtp_fault fault;
	unsigned code;
	unsigned rcpt_codes[RCPTS_MAX]; /* 0: never answered */
	const char *in_transcript;      /* or NULL */
	const char *not_in_transcript;  /* or NULL */
} piped_cases[] = {
	{ "normal", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test"), SMX_OK, "2.0.0", SMTP_STAGE_END_OF_DATA,
	    SMTP_FAULT_NONE, 250, { 250 },
	    "RCPT TO:<bob@example.test>\r\nDATA\r\n", "RSET" },
	{ "normal", false, SMTP_TLS_NONE, SMTP_MODE_DELIVER,
	    R("bob@example.test", "carol@example.test"), SMX_OK, "2.0.0",
	    SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, { 250, 250 },
	    "RCPT TO:<bob@example.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n",
	    "RSET" },
	/* Without PIPELINING: one command at a time, as before. */
	{ "normal", true, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test", "carol@example.test"), SMX_OK, "2.0.0",
	    SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250, { 250, 250 },
	    "DATA\r\n", NULL },
	/* Some recipients refused: theirs is their own reply. */
	{ "normal", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("tempuser@example.test", "bob@example.test",
	        "baduser@example.test"),
	    SMX_OK, "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250,
	    { 450, 250, 550 }, wire, "RSET" },
	/* MAIL refused with the RCPTs already sent: their 503s are not
	 * the recipients' replies; the message never goes. */
	{ "mail5", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test", "carol@example.test"), SMX_PERMFAIL, "5.7.1",
	    SMTP_STAGE_MAIL, SMTP_FAULT_REPLY, 550, { 0, 0 },
	    "RCPT TO:<carol@example.test>\r\nDATA\r\n", "Subject" },
	{ "mail4", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test"), SMX_TEMPFAIL, "4.3.0", SMTP_STAGE_MAIL,
	    SMTP_FAULT_REPLY, 451, { 0 }, "DATA\r\n", "Subject" },
	/* ... and DATA answered 354 all the same: a lone ".". */
	{ "mail5_354", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test"), SMX_PERMFAIL, "5.7.1", SMTP_STAGE_MAIL,
	    SMTP_FAULT_REPLY, 550, { 0 }, "DATA\r\n.\r\n", "Subject" },
	/* Every recipient refused: DATA went out with them, 554. */
	{ "normal", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("tempuser@example.test", "baduser@example.test"), SMX_PERMFAIL,
	    "5.1.1", SMTP_STAGE_RCPT, SMTP_FAULT_REPLY, 550, { 450, 550 },
	    "DATA\r\nRSET\r\n", "Subject" },
	{ "normal", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("tempuser@example.test"), SMX_TEMPFAIL, "4.2.1", SMTP_STAGE_RCPT,
	    SMTP_FAULT_REPLY, 450, { 450 }, "RSET\r\n", "Subject" },
	/* ... or 354, and 250 to the lone "." (a broken server): not
	 * delivered, refused for every recipient. */
	{ "data354", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("tempuser@example.test", "baduser@example.test"), SMX_PERMFAIL,
	    "5.1.1", SMTP_STAGE_RCPT, SMTP_FAULT_REPLY, 550, { 450, 550 },
	    "DATA\r\n.\r\nRSET\r\n", "Subject" },
	{ "data354", false, SMTP_TLS_NONE, SMTP_MODE_DELIVER,
	    R("tempuser@example.test"), SMX_TEMPFAIL, "4.2.1", SMTP_STAGE_RCPT,
	    SMTP_FAULT_REPLY, 450, { 450 }, "DATA\r\n.\r\n", "Subject" },
	/* DATA refused with a recipient accepted. */
	{ "data4", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test"), SMX_TEMPFAIL, "4.3.0", SMTP_STAGE_DATA,
	    SMTP_FAULT_REPLY, 451, { 250 }, "DATA\r\n", "Subject" },
	{ "data5", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test"), SMX_PERMFAIL, "5.5.0", SMTP_STAGE_DATA,
	    SMTP_FAULT_REPLY, 554, { 250 }, "DATA\r\n", "Subject" },
	{ "eod5", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test"), SMX_PERMFAIL, "5.6.0",
	    SMTP_STAGE_END_OF_DATA, SMTP_FAULT_REPLY, 554, { 250 }, wire,
	    NULL },
	/* Lost in the middle of the replies: deferred, never bounced,
	 * even with a refusal already read. */
	{ "rcpt_close", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test", "baduser@example.test"), SMX_TEMPFAIL,
	    "4.4.2", SMTP_STAGE_RCPT, SMTP_FAULT_LOST, 0, { 250, 0 },
	    "RCPT TO:<baduser@example.test>\r\nDATA\r\n", "Subject" },
	{ "rcpt_close", false, SMTP_TLS_NONE, SMTP_MODE_DELIVER,
	    R("baduser@example.test", "bob@example.test"), SMX_TEMPFAIL,
	    "4.4.2", SMTP_STAGE_RCPT, SMTP_FAULT_LOST, 0, { 550, 0 }, NULL,
	    "Subject" },
	{ "dropdata", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test"), SMX_TEMPFAIL, "4.4.2", ANY_STAGE,
	    SMTP_FAULT_LOST, 0, { 250 }, NULL, NULL },
	/* Slow replies: each within the timeout, all of them not. */
	{ "slowreply", false, SMTP_TLS_ENCRYPT, SMTP_MODE_DELIVER,
	    R("bob@example.test", "carol@example.test", "dave@example.test",
	        "erin@example.test"),
	    SMX_OK, "2.0.0", SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE, 250,
	    { 250, 250, 250, 250 }, wire, NULL },
	/* The recipient probe: MAIL and RCPT pipelined, never DATA. */
	{ "normal", false, SMTP_TLS_NONE, SMTP_MODE_PROBE_RCPT,
	    R("bob@example.test", "baduser@example.test"), SMX_OK, "2.0.0",
	    SMTP_STAGE_RCPT, SMTP_FAULT_NONE, 0, { 250, 550 },
	    "RCPT TO:<baduser@example.test>\r\nRSET\r\n", "DATA" },
	{ "normal", false, SMTP_TLS_NONE, SMTP_MODE_PROBE_RCPT,
	    R("baduser@example.test"), SMX_PERMFAIL, "5.1.1", SMTP_STAGE_RCPT,
	    SMTP_FAULT_REPLY, 550, { 550 }, "RSET\r\n", "DATA" },
};

START_TEST(test_smtp_session_piped)
{
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[RCPTS_MAX];
	struct sockaddr_in sin;
	const char *names[] = { CERT_NAME };
	struct spool sp;
	enum smx_status st;
	size_t n_piped;
	size_t n_serial;
	size_t n = 0;
	size_t i;
	char *ts;
	size_t ts_len = 0;
	bool is_probe = piped_cases[_i].mode != SMTP_MODE_DELIVER;

	ck_assert(peer_start_with(&peer, piped_cases[_i].scenario, CERT_NAME,
	    NULL, piped_cases[_i].is_serial ? NULL : pipelining));
	peer_addr(&peer, &sin);
	load_message(&sp);
	while (piped_cases[_i].rcpts[n] != NULL)
		n++;
	memset(&p, 0, sizeof(p));
	p.addr = (struct sockaddr *)&sin;
	p.addr_len = sizeof(sin);
	p.host = CERT_NAME;
	p.helo = "client.example.test";
	p.sender = "alice@example.test";
	p.recipients = piped_cases[_i].rcpts;
	p.n_recipients = n;
	p.rcpt = rr;
	p.tls_policy = piped_cases[_i].policy;
	p.tls_ctx = make_ctx();
	p.tls.names = names;
	p.tls.n_names = 1;
	p.connect_timeout_ms = 5000;
	/* slowreply: 0.15 s per reply, six of them before the message. */
	p.timeout_ms =
	    strcmp(piped_cases[_i].scenario, "slowreply") == 0 ? 700 : 5000;
	p.message = is_probe ? NULL : &sp;
	p.mode = piped_cases[_i].mode;
	st = smtp_session_deliver(&p, &res);
	ck_assert_msg(st == piped_cases[_i].st, "status %d: %s", st, res.text);
	ck_assert(res.is_delivered == (st == SMX_OK && !is_probe));
	ck_assert_str_eq(res.enhanced, piped_cases[_i].enhanced);
	if (piped_cases[_i].stage != ANY_STAGE)
		ck_assert_int_eq(res.stage, piped_cases[_i].stage);
	else
		ck_assert(res.stage == SMTP_STAGE_BODY ||
		    res.stage == SMTP_STAGE_END_OF_DATA);
	ck_assert_int_eq(res.fault, piped_cases[_i].fault);
	ck_assert_uint_eq(res.reply_code, piped_cases[_i].code);
	for (i = 0; i < n; i++) {
		ck_assert_msg(rr[i].reply_code == piped_cases[_i].rcpt_codes[i],
		    "recipient %zu: %u", i, rr[i].reply_code);
		ck_assert(rr[i].is_accepted == (rr[i].reply_code == 250));
	}
	ts = peer_transcript(&peer, &ts_len);
	ck_assert_ptr_nonnull(ts);
	if (piped_cases[_i].in_transcript != NULL)
		ck_assert_msg(count(ts, ts_len, piped_cases[_i].in_transcript,
		                  strlen(piped_cases[_i].in_transcript)) > 0,
		    "missing %s", piped_cases[_i].in_transcript);
	if (piped_cases[_i].not_in_transcript != NULL)
		ck_assert_msg(count(ts, ts_len,
		                  piped_cases[_i].not_in_transcript,
		                  strlen(piped_cases[_i].not_in_transcript)) ==
		        0,
		    "unexpected %s", piped_cases[_i].not_in_transcript);
	/* The message at most once; never without an accepted recipient. */
	ck_assert_uint_le(count(ts, ts_len, S(wire)), 1);
	if (res.n_accepted == 0)
		ck_assert_uint_eq(count(ts, ts_len, S("Subject")), 0);
	/* STARTTLS alone in its read; EHLO twice with TLS. */
	if (res.has_tls)
		ck_assert_uint_eq(count(ts, ts_len,
		                      S("EHLO client.example.test\r\n")),
		    2);
	free(ts);
	/* How MAIL..DATA arrived: in one read, unless not offered. */
	peer_pipelining(&peer, &n_piped, &n_serial);
	ck_assert_uint_eq(n_piped, piped_cases[_i].is_serial ? 0 : 1);
	ck_assert_uint_eq(n_serial, piped_cases[_i].is_serial ? 1 : 0);
	spool_free(&sp);
	smx_tls_ctx_free(p.tls_ctx);
	peer_stop(&peer);
}
END_TEST

/* STARTTLS and EHLO each arrive alone: never pipelined. */
START_TEST(test_smtp_session_piped_starttls_alone)
{
	struct peer_read r[64];
	struct delivery_min {
		struct smtp_session_params p;
		struct smtp_session_result res;
		struct smtp_rcpt_result rr[1];
	} d;
	struct sockaddr_in sin;
	const char *rcpts[] = { "bob@example.test" };
	const char *names[] = { CERT_NAME };
	struct spool sp;
	size_t n;
	size_t i;

	ck_assert(
	    peer_start_with(&peer, "normal", CERT_NAME, NULL, pipelining));
	peer_addr(&peer, &sin);
	load_message(&sp);
	memset(&d, 0, sizeof(d));
	d.p.addr = (struct sockaddr *)&sin;
	d.p.addr_len = sizeof(sin);
	d.p.host = CERT_NAME;
	d.p.helo = "client.example.test";
	d.p.sender = "alice@example.test";
	d.p.recipients = rcpts;
	d.p.n_recipients = 1;
	d.p.rcpt = d.rr;
	d.p.tls_policy = SMTP_TLS_ENCRYPT;
	d.p.tls_ctx = make_ctx();
	d.p.tls.names = names;
	d.p.tls.n_names = 1;
	d.p.connect_timeout_ms = 5000;
	d.p.timeout_ms = 5000;
	d.p.message = &sp;
	ck_assert_int_eq(smtp_session_deliver(&d.p, &d.res), SMX_OK);
	n = peer_reads(&peer, r, sizeof(r) / sizeof(r[0]));
	ck_assert_uint_ge(n, 6);
	for (i = 0; i < n; i++) {
		if (strcmp(r[i].verb, "EHLO") != 0 &&
		    strcmp(r[i].verb, "STARTTLS") != 0)
			continue;
		/* Its own read: nothing else came with it. */
		ck_assert(i == 0 || r[i - 1].last < r[i].first);
		ck_assert(i + 1 == n || r[i + 1].first > r[i].last);
	}
	spool_free(&sp);
	smx_tls_ctx_free(d.p.tls_ctx);
	peer_stop(&peer);
}
END_TEST

/*
 * More recipients than one write may carry (SMTP_PIPELINE_MAX): the
 * commands go in groups, each in one write, none split; every reply is
 * accounted. With every recipient refused and DATA the first command of
 * a group, DATA never goes out.
 */
#define MANY_RCPTS 150

static const bool chunk_all_refused[] = { false, true };

START_TEST(test_smtp_session_piped_chunks)
{
	static char addrs[MANY_RCPTS][SMTP_PATH_MAX];
	const char *rcpts[MANY_RCPTS];
	struct smtp_rcpt_result rr[MANY_RCPTS];
	struct peer_read r[MANY_RCPTS + 16];
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct sockaddr_in sin;
	struct spool sp;
	char mail[128];
	bool is_refused = chunk_all_refused[_i];
	size_t len;
	size_t n_rcpts = 0;
	size_t n;
	size_t i;
	unsigned long n_groups = 0;
	unsigned long last_group = 0;

	ck_assert(
	    peer_start_with(&peer, "normal", CERT_NAME, NULL, pipelining));
	peer_addr(&peer, &sin);
	load_message(&sp);
	/* MAIL and the RCPTs fill exactly SMTP_PIPELINE_MAX bytes. */
	len = (size_t)snprintf(mail, sizeof(mail),
	    "MAIL FROM:<alice@example.test> SIZE=%llu\r\n", spool_size(&sp));
	while (len < SMTP_PIPELINE_MAX) {
		size_t left = SMTP_PIPELINE_MAX - len;
		size_t addr_len = left >= 2 * 60 ? 48 : left - 12;
		char tail[32];
		size_t tail_len;

		ck_assert_uint_lt(n_rcpts, MANY_RCPTS);
		tail_len =
		    (size_t)snprintf(tail, sizeof(tail), "%s%04zu@example.test",
		        is_refused ? "bad" : "user", n_rcpts);
		ck_assert_uint_lt(tail_len, addr_len);
		memset(addrs[n_rcpts], 'x', addr_len - tail_len);
		memcpy(addrs[n_rcpts] + addr_len - tail_len, tail,
		    tail_len + 1);
		rcpts[n_rcpts] = addrs[n_rcpts];
		len += strlen("RCPT TO:<>\r\n") + addr_len;
		n_rcpts++;
	}
	ck_assert_uint_eq(len, SMTP_PIPELINE_MAX);
	memset(&p, 0, sizeof(p));
	p.addr = (struct sockaddr *)&sin;
	p.addr_len = sizeof(sin);
	p.helo = "client.example.test";
	p.sender = "alice@example.test";
	p.recipients = rcpts;
	p.n_recipients = n_rcpts;
	p.rcpt = rr;
	p.tls_policy = SMTP_TLS_NONE;
	p.connect_timeout_ms = 5000;
	p.timeout_ms = 5000;
	p.message = &sp;
	(void)smtp_session_deliver(&p, &res);
	if (is_refused) {
		ck_assert_int_eq(res.status, SMX_PERMFAIL);
		ck_assert_int_eq(res.stage, SMTP_STAGE_RCPT);
		ck_assert_uint_eq(res.n_accepted, 0);
		ck_assert_uint_eq(transcript_count(S("DATA")), 0);
		ck_assert_uint_eq(transcript_count(S("RSET\r\n")), 1);
	} else {
		ck_assert_int_eq(res.status, SMX_OK);
		ck_assert_uint_eq(res.n_accepted, n_rcpts);
		ck_assert_uint_eq(transcript_count(S(wire)), 1);
	}
	for (i = 0; i < n_rcpts; i++)
		ck_assert_uint_eq(rr[i].reply_code, is_refused ? 550 : 250);
	/* Each command within one read; the envelope in two groups. */
	n = peer_reads(&peer, r, sizeof(r) / sizeof(r[0]));
	for (i = 0; i < n; i++) {
		ck_assert_uint_eq(r[i].first, r[i].last);
		if (strcmp(r[i].verb, "MAIL") != 0 &&
		    strcmp(r[i].verb, "RCPT") != 0 &&
		    strcmp(r[i].verb, "DATA") != 0)
			continue;
		if (r[i].first != last_group)
			n_groups++;
		last_group = r[i].first;
	}
	ck_assert_uint_eq(n_groups, is_refused ? 1 : 2);
	spool_free(&sp);
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
	struct smtp_rcpt_result rr[1];
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
	p.rcpt = rr;
	p.tls_policy = SMTP_TLS_NONE;
	p.connect_timeout_ms = 5000;
	p.timeout_ms = 5000;
	p.message = &sp;
	ck_assert_int_eq(smtp_session_deliver(&p, &res), SMX_TEMPFAIL);
	ck_assert_str_eq(res.enhanced, "4.4.1");
	ck_assert_int_eq(res.stage, SMTP_STAGE_CONNECT);
	ck_assert_int_eq(res.fault, SMTP_FAULT_LOST);
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
	struct smtp_rcpt_result rr[1];
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
	p.rcpt = rr;
	p.connect_timeout_ms = 1000;
	p.timeout_ms = 1000;
	p.message = &sp;
	ck_assert_int_eq(smtp_session_deliver(&p, &res), SMX_INVALID);
	ck_assert(!res.is_delivered);
	ck_assert_int_eq(res.stage, SMTP_STAGE_NONE);
	ck_assert_int_eq(res.fault, SMTP_FAULT_LOCAL);
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
	res.stage = SMTP_STAGE_RCPT;
	smtp_session_format(&res, out, sizeof(out));
	ck_assert_str_eq(out,
	    "5.1.1 host mx[192.0.2.1]:25 said: 550 5.1.1 unknown (in reply to RCPT TO command)");
	res.stage = SMTP_STAGE_END_OF_DATA;
	smtp_session_format(&res, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "(in reply to end of DATA command)"));
	res.stage = SMTP_STAGE_BANNER;
	smtp_session_format(&res, out, sizeof(out));
	ck_assert_str_eq(out,
	    "5.1.1 host mx[192.0.2.1]:25 refused to talk to me: 550 5.1.1 unknown");
	res.reply_code = 0;
	snprintf(res.enhanced, sizeof(res.enhanced), "4.7.5");
	snprintf(res.text, sizeof(res.text),
	    "Cannot start TLS: handshake failure");
	res.stage = SMTP_STAGE_HANDSHAKE;
	smtp_session_format(&res, out, sizeof(out));
	ck_assert_str_eq(out, "4.7.5 Cannot start TLS: handshake failure");
	ck_assert_str_eq(smtp_stage_name(SMTP_STAGE_STARTTLS), "starttls");
	ck_assert_str_eq(smtp_stage_name(SMTP_STAGE_END_OF_DATA), "eod");
}
END_TEST

/* ---------------------------------------------------------------- */
/* Connection reuse                                                  */

/* One delivery's parameters against the peer, for the reuse tests. */
struct delivery {
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct smtp_rcpt_result rr[2];
	struct sockaddr_in sin;
	const char *rcpts[2];
	struct spool sp;
};

static const char *const cert_names[] = { CERT_NAME };

static void
delivery_init(struct delivery *d, const char *rcpt, enum smtp_tls_policy policy,
    struct smx_tls_ctx *ctx, struct smtp_cache *cache)
{
	memset(d, 0, sizeof(*d));
	peer_addr(&peer, &d->sin);
	load_message(&d->sp);
	d->rcpts[0] = rcpt;
	d->p.addr = (struct sockaddr *)&d->sin;
	d->p.addr_len = sizeof(d->sin);
	d->p.host = CERT_NAME;
	d->p.helo = "client.example.test";
	d->p.sender = "alice@example.test";
	d->p.recipients = d->rcpts;
	d->p.n_recipients = 1;
	d->p.rcpt = d->rr;
	d->p.tls_policy = policy;
	d->p.tls_ctx = ctx;
	d->p.tls.names = cert_names;
	d->p.tls.n_names = 1;
	d->p.connect_timeout_ms = 5000;
	d->p.timeout_ms = 5000;
	d->p.message = &d->sp;
	d->p.conn_cache = cache;
}

static enum smx_status
deliver_once(struct delivery *d)
{
	enum smx_status st = smtp_session_deliver(&d->p, &d->res);

	spool_free(&d->sp);
	return st;
}

static struct smtp_cache *
make_conn_cache(void)
{
	struct smtp_cache *cache = NULL;

	ck_assert_int_eq(smtp_cache_new(4, 60, 300, &cache), SMX_OK);
	return cache;
}

static const enum smtp_tls_policy reuse_policies[] = { SMTP_TLS_NONE,
	SMTP_TLS_MAY, SMTP_TLS_ENCRYPT };

/* The second delivery goes over the first one's connection after RSET. */
START_TEST(test_smtp_session_reuse)
{
	enum smtp_tls_policy policy = reuse_policies[_i];
	struct smtp_cache *cache = make_conn_cache();
	struct smx_tls_ctx *ctx;
	struct delivery d;
	int i;

	ck_assert(peer_start(&peer, "normal", CERT_NAME, NULL));
	ctx = make_ctx();
	for (i = 0; i < 3; i++) {
		delivery_init(&d, "bob@example.test", policy, ctx, cache);
		ck_assert_int_eq(deliver_once(&d), SMX_OK);
		ck_assert(d.res.is_delivered);
		ck_assert(d.res.is_reused == (i > 0));
		ck_assert(d.res.has_tls == (policy != SMTP_TLS_NONE));
		if (d.res.has_tls)
			ck_assert_int_eq(d.res.tls.verified,
			    SMX_TLS_VERIFIED_CA);
		ck_assert_ptr_eq(strstr(d.res.peer,
		                     "mx1.example.test[127.0.0.1]:"),
		    d.res.peer);
		ck_assert_uint_eq(smtp_cache_count(cache), 1);
	}
	ck_assert_uint_eq(peer_connections(&peer), 1);
	ck_assert_uint_eq(transcript_count(S(wire)), 3);
	ck_assert_uint_eq(transcript_count(S("RSET\r\nMAIL FROM:")), 2);
	ck_assert_uint_eq(transcript_count(S("QUIT\r\n")), 0);
	ck_assert_uint_eq(transcript_count(S("EHLO")),
	    policy == SMTP_TLS_NONE ? 1 : 2);
	/* Another role, another key: a connection of its own. */
	delivery_init(&d, "bob@example.test", policy, ctx, cache);
	d.p.is_sos = true;
	ck_assert_int_eq(deliver_once(&d), SMX_OK);
	ck_assert(!d.res.is_reused);
	ck_assert_uint_eq(peer_connections(&peer), 2);
	ck_assert_uint_eq(smtp_cache_count(cache), 2);
	smtp_cache_free(cache);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	(void)nanosleep(&ts, NULL);
}

/*
 * A kept connection that the server closed meanwhile, or whose RSET is
 * refused: closed, and a new one carries the message as if there had
 * been none; with and without PIPELINING (then RSET leads the group of
 * MAIL, RCPT and DATA, and a refused one ends that group unanswered).
 */
static const char *const dead_scenarios[] = { "eod_close", "rset5" };
#define N_DEAD (sizeof(dead_scenarios) / sizeof(dead_scenarios[0]))

START_TEST(test_smtp_session_reuse_dead)
{
	const char *scenario = dead_scenarios[_i % N_DEAD];
	bool is_piped = _i >= (int)N_DEAD;
	struct smtp_cache *cache = make_conn_cache();
	struct smx_tls_ctx *ctx;
	struct delivery d;
	size_t n_piped;
	size_t n_serial;

	ck_assert(peer_start_with(&peer, scenario, CERT_NAME, NULL,
	    is_piped ? pipelining : NULL));
	ctx = make_ctx();
	delivery_init(&d, "bob@example.test", SMTP_TLS_ENCRYPT, ctx, cache);
	ck_assert_int_eq(deliver_once(&d), SMX_OK);
	ck_assert_uint_eq(smtp_cache_count(cache), 1);
	sleep_ms(600); /* eod_close: the server hangs up after 0.3 s */
	delivery_init(&d, "bob@example.test", SMTP_TLS_ENCRYPT, ctx, cache);
	ck_assert_int_eq(deliver_once(&d), SMX_OK);
	ck_assert(d.res.is_delivered);
	ck_assert(!d.res.is_reused);
	ck_assert(d.res.has_tls);
	ck_assert_str_eq(d.res.enhanced, "2.0.0");
	ck_assert_uint_eq(peer_connections(&peer), 2);
	ck_assert_uint_eq(transcript_count(S(wire)), 2);
	if (is_piped && strcmp(scenario, "rset5") == 0) {
		/* RSET, MAIL, RCPT and DATA went out; no message data. */
		ck_assert_uint_eq(transcript_count(S("RSET\r\nMAIL FROM:")), 1);
		peer_pipelining(&peer, &n_piped, &n_serial);
		ck_assert_uint_eq(n_piped, 3);
		ck_assert_uint_eq(n_serial, 0);
	}
	ck_assert_uint_eq(transcript_count(S("QUIT\r\n")), 0);
	smtp_cache_free(cache);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

/* After which transactions a connection is kept, and after which not. */
static const struct {
	const char *scenario;
	const char *rcpt;
	enum smtp_mode mode;
	enum smx_status st;
	bool is_kept;
	const char *in_transcript;
} keep_cases[] = {
	{ "normal", "bob@example.test", SMTP_MODE_DELIVER, SMX_OK, true, NULL },
	/* Refused with a clean reply, and RSET answered 250. */
	{ "mail5", "bob@example.test", SMTP_MODE_DELIVER, SMX_PERMFAIL, true,
	    "MAIL FROM:<alice@example.test> SIZE=" },
	{ "normal", "baduser@example.test", SMTP_MODE_DELIVER, SMX_PERMFAIL,
	    true, "RSET\r\n" },
	{ "data4", "bob@example.test", SMTP_MODE_DELIVER, SMX_TEMPFAIL, true,
	    "DATA\r\nRSET\r\n" },
	/* RSET refused after the refusal: not kept. */
	{ "rset5", "baduser@example.test", SMTP_MODE_DELIVER, SMX_PERMFAIL,
	    false, "QUIT\r\n" },
	/* Odd or extra bytes after the end of data: sent, but not kept. */
	{ "eod_lf", "bob@example.test", SMTP_MODE_DELIVER, SMX_OK, false,
	    "QUIT\r\n" },
	{ "eod_extra", "bob@example.test", SMTP_MODE_DELIVER, SMX_OK, false,
	    NULL },
	{ "eod_long", "bob@example.test", SMTP_MODE_DELIVER, SMX_OK, false,
	    NULL },
	{ "eod_utf8", "bob@example.test", SMTP_MODE_DELIVER, SMX_OK, false,
	    NULL },
	/* A refusal at the end of data: not kept. */
	{ "eod4", "bob@example.test", SMTP_MODE_DELIVER, SMX_TEMPFAIL, false,
	    "QUIT\r\n" },
	/* Timeout, lost connection: never. */
	{ "eod_stall", "bob@example.test", SMTP_MODE_DELIVER, SMX_TEMPFAIL,
	    false, NULL },
	{ "dropdata", "bob@example.test", SMTP_MODE_DELIVER, SMX_TEMPFAIL,
	    false, NULL },
	/* Probes never. */
	{ "normal", "bob@example.test", SMTP_MODE_PROBE_RCPT, SMX_OK, false,
	    "QUIT\r\n" },
	{ "normal", "bob@example.test", SMTP_MODE_PROBE, SMX_OK, false,
	    "QUIT\r\n" },
};

START_TEST(test_smtp_session_reuse_kept)
{
	struct smtp_cache *cache = make_conn_cache();
	struct smx_tls_ctx *ctx;
	struct delivery d;
	enum smx_status st;

	ck_assert(peer_start(&peer, keep_cases[_i].scenario, CERT_NAME, NULL));
	ctx = make_ctx();
	delivery_init(&d, keep_cases[_i].rcpt, SMTP_TLS_ENCRYPT, ctx, cache);
	d.p.mode = keep_cases[_i].mode;
	if (d.p.mode != SMTP_MODE_DELIVER) {
		spool_free(&d.sp);
		d.p.message = NULL;
	}
	if (strcmp(keep_cases[_i].scenario, "eod_stall") == 0)
		d.p.timeout_ms = 1000;
	st = deliver_once(&d);
	ck_assert_msg(st == keep_cases[_i].st, "status %d: %s", st, d.res.text);
	ck_assert_uint_eq(smtp_cache_count(cache), keep_cases[_i].is_kept);
	if (keep_cases[_i].in_transcript != NULL)
		ck_assert_uint_ge(transcript_count(keep_cases[_i].in_transcript,
		                      strlen(keep_cases[_i].in_transcript)),
		    1);
	if (keep_cases[_i].is_kept)
		ck_assert_uint_eq(transcript_count(S("QUIT\r\n")), 0);
	smtp_cache_free(cache);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

/*
 * Pipelined transactions on kept connections: RSET, MAIL..DATA in one
 * write (no round trip for RSET alone); after which refusals the
 * connection is kept.
 */
static const struct {
	const char *scenario;
	const char *rcpt;
	enum smx_status st;
	bool is_kept;
} piped_keep_cases[] = {
	{ "normal", "bob@example.test", SMX_OK, true },
	{ "mail5", "bob@example.test", SMX_PERMFAIL, true },
	{ "normal", "baduser@example.test", SMX_PERMFAIL, true },
	{ "data354", "baduser@example.test", SMX_PERMFAIL, true },
	{ "data4", "bob@example.test", SMX_TEMPFAIL, true },
	{ "rcpt_close", "bob@example.test", SMX_TEMPFAIL, false },
};

START_TEST(test_smtp_session_piped_reuse)
{
	struct smtp_cache *cache = make_conn_cache();
	struct smx_tls_ctx *ctx;
	struct peer_read r[32];
	struct delivery d;
	size_t n_piped;
	size_t n_serial;
	size_t n_led;
	size_t n;
	size_t j;
	int i;

	ck_assert(peer_start_with(&peer, piped_keep_cases[_i].scenario,
	    CERT_NAME, NULL, pipelining));
	ctx = make_ctx();
	for (i = 0; i < 2; i++) {
		delivery_init(&d, piped_keep_cases[_i].rcpt, SMTP_TLS_ENCRYPT,
		    ctx, cache);
		ck_assert_int_eq(deliver_once(&d), piped_keep_cases[_i].st);
		ck_assert(
		    d.res.is_reused == (i > 0 && piped_keep_cases[_i].is_kept));
		ck_assert_uint_eq(smtp_cache_count(cache),
		    piped_keep_cases[_i].is_kept);
	}
	ck_assert_uint_eq(peer_connections(&peer),
	    piped_keep_cases[_i].is_kept ? 1 : 2);
	peer_pipelining(&peer, &n_piped, &n_serial);
	ck_assert_uint_eq(n_piped, 2);
	ck_assert_uint_eq(n_serial, 0);
	if (piped_keep_cases[_i].is_kept) {
		/* The second one's RSET came in one read with its MAIL. */
		n = peer_reads(&peer, r, sizeof(r) / sizeof(r[0]));
		n_led = 0;
		for (j = 0; j + 1 < n; j++) {
			if (peer_is_verb(&r[j], "RSET") &&
			    peer_is_verb(&r[j + 1], "MAIL")) {
				ck_assert_uint_eq(r[j].last, r[j + 1].first);
				n_led++;
			}
		}
		ck_assert_uint_eq(n_led, 1);
		ck_assert_uint_eq(transcript_count(S("RSET\r\nMAIL FROM:")), 1);
		ck_assert_uint_eq(transcript_count(S("QUIT\r\n")), 0);
	}
	smtp_cache_free(cache);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

static void
make_dest(struct smtp_dest *d, const char *name, bool is_sos)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->is_sos = is_sos;
	d->config_serial = 1;
}

/* A delivery that takes a connection by destination only. */
static void
dest_delivery_init(struct delivery *d, const struct smtp_dest *dest,
    struct smtp_cache *cache)
{
	memset(d, 0, sizeof(*d));
	load_message(&d->sp);
	d->rcpts[0] = "bob@example.test";
	d->p.helo = "client.example.test";
	d->p.sender = "alice@example.test";
	d->p.recipients = d->rcpts;
	d->p.n_recipients = 1;
	d->p.rcpt = d->rr;
	d->p.connect_timeout_ms = 5000;
	d->p.timeout_ms = 5000;
	d->p.message = &d->sp;
	d->p.conn_cache = cache;
	d->p.dest = dest;
	d->p.is_dest_reuse = true;
}

/*
 * Reuse by destination: the connection an earlier delivery to the same
 * destination under the same role (and configuration) was kept after,
 * with what its route lookup found; none for another destination or
 * role (nothing sent, no connection made); none that fails RSET.
 */
static const char *const dest_scenarios[] = { "normal", "rset5" };

START_TEST(test_smtp_session_dest_reuse)
{
	bool is_probe_ok = strcmp(dest_scenarios[_i], "normal") == 0;
	struct smtp_cache *cache = make_conn_cache();
	struct smx_tls_ctx *ctx;
	struct smtp_dest kept;
	struct smtp_dest q;
	struct delivery d;
	int i;

	ck_assert(peer_start_with(&peer, dest_scenarios[_i], CERT_NAME, NULL,
	    pipelining));
	ctx = make_ctx();
	make_dest(&kept, "example.test", false);
	kept.route = SMTP_DEST_SRV;
	kept.is_secure = true;
	delivery_init(&d, "bob@example.test", SMTP_TLS_ENCRYPT, ctx, cache);
	d.p.dest = &kept;
	ck_assert_int_eq(deliver_once(&d), SMX_OK);
	ck_assert_uint_eq(smtp_cache_count(cache), 1);
	/* Another destination, another role: nothing, nothing sent. */
	make_dest(&q, "example.net", false);
	dest_delivery_init(&d, &q, cache);
	ck_assert_int_eq(deliver_once(&d), SMX_NOTFOUND);
	ck_assert(!d.res.is_reused);
	make_dest(&q, "example.test", true);
	dest_delivery_init(&d, &q, cache);
	ck_assert_int_eq(deliver_once(&d), SMX_NOTFOUND);
	ck_assert_uint_eq(smtp_cache_count(cache), 1);
	ck_assert_uint_eq(transcript_count(S("MAIL FROM:")), 1);
	/* The same destination and role: twice over the kept one. */
	make_dest(&q, "example.test", false);
	for (i = 0; i < 2; i++) {
		dest_delivery_init(&d, &q, cache);
		if (!is_probe_ok) {
			ck_assert_int_eq(deliver_once(&d), SMX_NOTFOUND);
			ck_assert_uint_eq(smtp_cache_count(cache), 0);
			break;
		}
		ck_assert_int_eq(deliver_once(&d), SMX_OK);
		ck_assert(d.res.is_delivered);
		ck_assert(d.res.is_reused);
		ck_assert(d.res.has_tls);
		ck_assert_int_eq(d.res.tls.verified, SMX_TLS_VERIFIED_CA);
		ck_assert_int_eq(d.res.dest.route, SMTP_DEST_SRV);
		ck_assert(d.res.dest.is_secure);
		ck_assert_str_eq(d.res.dest.name, "example.test");
		ck_assert_ptr_eq(strstr(d.res.peer,
		                     "mx1.example.test[127.0.0.1]:"),
		    d.res.peer);
		ck_assert_uint_eq(smtp_cache_count(cache), 1);
	}
	ck_assert_uint_eq(peer_connections(&peer), 1);
	ck_assert_uint_eq(transcript_count(S(wire)), is_probe_ok ? 3 : 1);
	smtp_cache_free(cache);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

/*
 * A delivery that requires TLS never takes a plaintext connection: the
 * key keeps them apart, and should a plaintext one ever be kept under a
 * TLS key, the session refuses it before MAIL FROM.
 */
START_TEST(test_smtp_session_reuse_tls_required)
{
	struct smtp_cache *cache = make_conn_cache();
	struct smx_tls_ctx *ctx;
	struct smx_tls_peer tp;
	struct smtp_cache_key plain;
	struct smtp_cache_key tls;
	struct smtp_cached c;
	struct delivery d;

	ck_assert(peer_start(&peer, "normal", CERT_NAME, NULL));
	ctx = make_ctx();
	delivery_init(&d, "bob@example.test", SMTP_TLS_NONE, ctx, cache);
	ck_assert_int_eq(deliver_once(&d), SMX_OK);
	ck_assert(!d.res.has_tls);
	ck_assert_uint_eq(smtp_cache_count(cache), 1);
	delivery_init(&d, "bob@example.test", SMTP_TLS_ENCRYPT, ctx, cache);
	ck_assert_int_eq(deliver_once(&d), SMX_OK);
	ck_assert(d.res.has_tls);
	ck_assert(!d.res.is_reused);
	ck_assert_uint_eq(peer_connections(&peer), 2);
	ck_assert_uint_eq(smtp_cache_count(cache), 2);
	/* Move the plaintext connection under the TLS delivery's key. */
	tp = d.p.tls;
	tp.sni = CERT_NAME;
	ck_assert_int_eq(smtp_cache_key_make(&plain, d.p.addr, d.p.addr_len,
	                     CERT_NAME, d.p.helo, SMTP_TLS_NONE, false, NULL,
	                     NULL),
	    SMX_OK);
	ck_assert_int_eq(smtp_cache_key_make(&tls, d.p.addr, d.p.addr_len,
	                     CERT_NAME, d.p.helo, SMTP_TLS_ENCRYPT, false, ctx,
	                     &tp),
	    SMX_OK);
	ck_assert(smtp_cache_take(cache, &plain, &c));
	ck_assert(!c.has_tls);
	smtp_cache_put(cache, &tls, &c);
	/* The most recent under that key is the plaintext one: refused. */
	delivery_init(&d, "bob@example.test", SMTP_TLS_ENCRYPT, ctx, cache);
	ck_assert_int_eq(deliver_once(&d), SMX_OK);
	ck_assert(d.res.has_tls);
	ck_assert(!d.res.is_reused);
	ck_assert_uint_eq(peer_connections(&peer), 3);
	/* Its MAIL FROM went over TLS: three in all, one in plaintext. */
	ck_assert_uint_eq(transcript_count(S("MAIL FROM:")), 3);
	ck_assert_uint_eq(transcript_count(S("QUIT\r\n")), 1);
	smtp_cache_free(cache);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

/* TLS sessions through the session: the second connection resumes. */
START_TEST(test_smtp_session_tls_resume)
{
	struct smx_tls_session_cache *sessions = NULL;
	struct smx_tls_ctx *ctx;
	struct delivery d;
	int i;

	ck_assert_int_eq(smx_tls_session_cache_new(8,
	                     SMX_TLS_SESSION_LIFETIME_DEFAULT, &sessions),
	    SMX_OK);
	ck_assert(peer_start(&peer, "normal", CERT_NAME, NULL));
	ctx = make_ctx();
	for (i = 0; i < 2; i++) {
		delivery_init(&d, "bob@example.test", SMTP_TLS_ENCRYPT, ctx,
		    NULL);
		d.p.tls.cache = sessions;
		ck_assert_int_eq(deliver_once(&d), SMX_OK);
		ck_assert(d.res.has_tls);
		ck_assert(d.res.tls.is_resumed == (i == 1));
		ck_assert_int_eq(d.res.tls.verified, SMX_TLS_VERIFIED_CA);
	}
	ck_assert_uint_eq(peer_connections(&peer), 2);
	ck_assert_uint_eq(smx_tls_session_cache_count(sessions), 1);
	smx_tls_session_cache_free(sessions);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
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
	tcase_add_test(tc, test_smtp_session_recipients);
	tcase_add_loop_test(tc, test_smtp_session_probe, 0,
	    sizeof(probe_cases) / sizeof(probe_cases[0]));
	tcase_add_test(tc, test_smtp_session_may_fallback);
	tcase_add_test(tc, test_smtp_session_connect_refused);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("pipelining");
	tcase_add_unchecked_fixture(tc, certs_make, certs_remove);
	tcase_add_loop_test(tc, test_smtp_session_piped, 0,
	    sizeof(piped_cases) / sizeof(piped_cases[0]));
	tcase_add_test(tc, test_smtp_session_piped_starttls_alone);
	tcase_add_loop_test(tc, test_smtp_session_piped_chunks, 0,
	    sizeof(chunk_all_refused) / sizeof(chunk_all_refused[0]));
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("reuse");
	tcase_add_unchecked_fixture(tc, certs_make, certs_remove);
	tcase_add_loop_test(tc, test_smtp_session_reuse, 0,
	    sizeof(reuse_policies) / sizeof(reuse_policies[0]));
	tcase_add_loop_test(tc, test_smtp_session_reuse_dead, 0,
	    2 * (int)N_DEAD);
	tcase_add_loop_test(tc, test_smtp_session_reuse_kept, 0,
	    sizeof(keep_cases) / sizeof(keep_cases[0]));
	tcase_add_loop_test(tc, test_smtp_session_piped_reuse, 0,
	    sizeof(piped_keep_cases) / sizeof(piped_keep_cases[0]));
	tcase_add_loop_test(tc, test_smtp_session_dest_reuse, 0,
	    sizeof(dest_scenarios) / sizeof(dest_scenarios[0]));
	tcase_add_test(tc, test_smtp_session_reuse_tls_required);
	tcase_add_test(tc, test_smtp_session_tls_resume);
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
