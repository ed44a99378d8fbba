/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lmtpd_session: a real LMTP conversation over a socket
 * pair with a session thread, and the delivery I/O faked (DNS and SMTP
 * sessions), so that the grouping of recipients, the per-recipient
 * replies in RCPT order, the command sequence rules, the limits and the
 * stop are checked without a network.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_io.h"
#include "smx_log.h"
#include "smx_table.h"
#include "deliver.h"
#include "lmtpd_session.h"
#include "spool.h"

/* ---- faked delivery I/O -------------------------------------------- */

#define CALLS_MAX 16

/* What each SMTP session was asked to do. */
static struct {
	int n;
	char host[CALLS_MAX][64];
	char sender[CALLS_MAX][64];
	char rcpts[CALLS_MAX][256]; /* recipients joined with ',' */
	bool is_8bitmime[CALLS_MAX];
	unsigned long long size[CALLS_MAX];
} calls;

/*
 * srv.example: an SRV target srv-host.example; mx.example and
 * other.example: MX hosts; nx.example does not exist; fail.example has
 * a DNS failure. Every host is at 192.0.2.1.
 */
static enum smx_status
fake_srv(const struct smx_dns_opts *o, const char *domain, struct smx_route *rt,
    char *reason, size_t size)
{
	(void)o;
	memset(rt, 0, sizeof(*rt));
	rt->kind = SMX_ROUTE_SRV;
	snprintf(reason, size, "no SecMX SRV records");
	if (strcmp(domain, "fail.example") == 0) {
		snprintf(reason, size, "SERVFAIL");
		return SMX_TEMPFAIL;
	}
	if (strcmp(domain, "srv.example") != 0)
		return SMX_NOTFOUND;
	snprintf(rt->target[0].host, sizeof(rt->target[0].host),
	    "srv-host.example");
	rt->target[0].port = 2525;
	rt->n_targets = 1;
	return SMX_OK;
}

static enum smx_status
fake_mx(const struct smx_dns_opts *o, const char *domain, struct smx_route *rt,
    char *reason, size_t size)
{
	(void)o;
	memset(rt, 0, sizeof(*rt));
	rt->kind = SMX_ROUTE_MX;
	if (strcmp(domain, "nx.example") == 0) {
		snprintf(reason, size, "NXDOMAIN");
		return SMX_NOTFOUND;
	}
	snprintf(rt->target[0].host, sizeof(rt->target[0].host), "mx.%s",
	    domain);
	rt->target[0].port = 25;
	rt->n_targets = 1;
	return SMX_OK;
}

static enum smx_status
fake_addrs(const struct smx_dns_opts *o, const char *host, uint16_t port,
    struct smx_dns_addr_set *set, char *reason, size_t size)
{
	(void)o;
	(void)host;
	(void)reason;
	(void)size;
	memset(set, 0, sizeof(*set));
	set->n_addrs = 1;
	set->addr[0].family = AF_INET;
	set->addr[0].port = port;
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.1", set->addr[0].addr), 1);
	snprintf(set->addr[0].text, sizeof(set->addr[0].text), "192.0.2.1");
	return SMX_OK;
}

static enum smx_status
fake_tlsa(const struct smx_dns_opts *o, uint16_t port, const char *host,
    struct smx_dns_tlsa_set *set, char *reason, size_t size)
{
	(void)o;
	(void)port;
	(void)host;
	memset(set, 0, sizeof(*set));
	snprintf(reason, size, "no TLSA records");
	return SMX_NOTFOUND;
}

/* Recipients with "bad" get 550, with "temp" 450, others 250. */
static enum smx_status
fake_session(const struct smtp_session_params *p,
    struct smtp_session_result *res)
{
	char buf[SMTP_DATA_CHUNK];
	unsigned long long size = 0;
	size_t n_read;
	size_t i;
	int k = calls.n++;

	memset(res, 0, sizeof(*res));
	snprintf(res->peer, sizeof(res->peer), "%s[192.0.2.1]:25", p->host);
	if (k < CALLS_MAX) {
		snprintf(calls.host[k], sizeof(calls.host[k]), "%s", p->host);
		snprintf(calls.sender[k], sizeof(calls.sender[k]), "%s",
		    p->sender);
		calls.rcpts[k][0] = '\0';
		for (i = 0; i < p->n_recipients; i++) {
			size_t len = strlen(calls.rcpts[k]);

			snprintf(calls.rcpts[k] + len,
			    sizeof(calls.rcpts[k]) - len, "%s%s",
			    i > 0 ? "," : "", p->recipients[i]);
		}
		calls.is_8bitmime[k] = p->is_8bitmime;
		ck_assert_int_eq(spool_rewind(p->message), SMX_OK);
		do {
			ck_assert_int_eq(spool_read(p->message, buf,
			                     sizeof(buf), &n_read),
			    SMX_OK);
			size += n_read;
		} while (n_read > 0);
		calls.size[k] = size;
	}
	for (i = 0; i < p->n_recipients; i++) {
		struct smtp_rcpt_result *r = &p->rcpt[i];

		memset(r, 0, sizeof(*r));
		if (strstr(p->recipients[i], "bad") != NULL) {
			r->reply_code = 550;
			snprintf(r->enhanced, sizeof(r->enhanced), "5.1.1");
			snprintf(r->text, sizeof(r->text),
			    "550 5.1.1 unknown user");
		} else if (strstr(p->recipients[i], "temp") != NULL) {
			r->reply_code = 450;
			snprintf(r->enhanced, sizeof(r->enhanced), "4.2.1");
			snprintf(r->text, sizeof(r->text), "450 4.2.1 busy");
		} else {
			r->is_accepted = true;
			r->reply_code = 250;
			res->n_accepted++;
		}
	}
	res->has_tls = true;
	snprintf(res->tls.protocol, sizeof(res->tls.protocol), "TLSv1.3");
	snprintf(res->tls.cipher, sizeof(res->tls.cipher), "TLS_X");
	if (res->n_accepted == 0) {
		res->status = p->rcpt[0].reply_code / 100 == 5 ? SMX_PERMFAIL
		                                               : SMX_TEMPFAIL;
		res->stage = SMTP_STAGE_RCPT;
		res->fault = SMTP_FAULT_REPLY;
		res->reply_code = p->rcpt[0].reply_code;
		snprintf(res->enhanced, sizeof(res->enhanced), "%s",
		    p->rcpt[0].enhanced);
		snprintf(res->text, sizeof(res->text), "%s", p->rcpt[0].text);
		return res->status;
	}
	res->status = SMX_OK;
	res->is_delivered = true;
	res->stage = SMTP_STAGE_END_OF_DATA;
	res->reply_code = 250;
	snprintf(res->enhanced, sizeof(res->enhanced), "2.0.0");
	snprintf(res->text, sizeof(res->text), "250 2.0.0 Ok: queued");
	return SMX_OK;
}

static bool
fake_is_local(int family, const unsigned char *addr)
{
	(void)family;
	(void)addr;
	return false;
}

static const struct deliver_io fake_io = {
	.route_srv = fake_srv,
	.route_mx = fake_mx,
	.lookup_addrs = fake_addrs,
	.lookup_tlsa = fake_tlsa,
	.session = fake_session,
	.is_local_addr = fake_is_local,
	.now_ms = smx_io_now_ms,
};

/* ---- the fixture: a session thread on one end of a socket pair ------ */

static struct lmtpd_gen gen;
static int gen_refs;
static atomic_bool is_stopping;
static struct lmtpd_session_env env;
static int client_fd = -1;
static pthread_t session_thread;
static char log_lines[8192];

static struct lmtpd_gen *
test_gen_get(void *ctx)
{
	(void)ctx;
	gen_refs++;
	return &gen;
}

static void
test_gen_put(void *ctx, struct lmtpd_gen *g)
{
	(void)ctx;
	ck_assert_ptr_eq(g, &gen);
	gen_refs--;
}

static void
capture(int prio, const char *line, void *ctx)
{
	size_t len = strlen(log_lines);

	(void)prio;
	(void)ctx;
	snprintf(log_lines + len, sizeof(log_lines) - len, "%s\n", line);
}

struct thread_arg {
	int fd;
};

static void *
run_session(void *arg)
{
	struct thread_arg *a = arg;

	lmtpd_session_run(&env, a->fd, "test");
	free(a);
	return NULL;
}

static void
start(const char *config)
{
	char err[512];
	int sv[2];
	struct thread_arg *a;

	memset(&calls, 0, sizeof(calls));
	memset(&gen, 0, sizeof(gen));
	log_lines[0] = '\0';
	smx_log_set_sink(capture, NULL);
	ck_assert_msg(smx_config_parse("test", config, strlen(config), &gen.cfg,
	                  err, sizeof(err)) == SMX_OK,
	    "%s", err);
	snprintf(gen.helo, sizeof(gen.helo), "sender.test");
	gen_refs = 0;
	atomic_init(&is_stopping, false);
	env.gen_get = test_gen_get;
	env.gen_put = test_gen_put;
	env.ctx = NULL;
	env.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(env.stop_fd, 0);
	env.is_stopping = &is_stopping;
	env.io = &fake_io;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	a = malloc(sizeof(*a));
	ck_assert_ptr_nonnull(a);
	a->fd = sv[1];
	client_fd = sv[0];
	ck_assert_int_eq(pthread_create(&session_thread, NULL, run_session, a),
	    0);
}

/* Wait for the session to end; its socket end must be closed. */
static void
finish(void)
{
	char c;

	ck_assert_int_eq(pthread_join(session_thread, NULL), 0);
	ck_assert_int_eq(read(client_fd, &c, 1), 0);
	(void)close(client_fd);
	(void)close(env.stop_fd);
	ck_assert_int_eq(gen_refs, 0);
	smx_log_set_sink(NULL, NULL);
	smx_config_free(gen.cfg);
}

static void
send_text(const char *s)
{
	ck_assert_int_eq(smx_io_write_all(client_fd, s, strlen(s),
	                     smx_io_deadline(5000)),
	    SMX_OK);
}

/* Read one whole reply (all its lines) into out; false at end of file. */
static bool
read_reply(char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (;;) {
		char c;
		ssize_t n;
		struct pollfd pfd = { .fd = client_fd, .events = POLLIN };

		ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
		n = read(client_fd, &c, 1);
		if (n <= 0)
			return len > 0;
		ck_assert_uint_lt(len + 1, size);
		out[len++] = c;
		out[len] = '\0';
		if (c != '\n')
			continue;
		/* The last line of a reply: "NNN " at the start of the line. */
		{
			char *line = out + len - 1;

			while (line > out && line[-1] != '\n')
				line--;
			if (strlen(line) >= 4 && line[3] == ' ')
				return true;
		}
	}
}

/* The next reply must start with want. */
static void
expect(const char *want)
{
	char r[8192];

	ck_assert_msg(read_reply(r, sizeof(r)), "no reply, wanted %s", want);
	ck_assert_msg(strncmp(r, want, strlen(want)) == 0,
	    "reply \"%s\", wanted \"%s\"", r, want);
}

static void
expect_eof(void)
{
	char r[512];

	ck_assert_msg(!read_reply(r, sizeof(r)), "unexpected reply %s", r);
}

static const char base_config[] = "default_sender_role = bes\n";

static void
greet(void)
{
	expect("220 sender.test LMTP");
	send_text("LHLO postfix.test\r\n");
	expect("250-sender.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES"
	       "\r\n250-8BITMIME\r\n250-SIZE\r\n250-SMTPUTF8\r\n"
	       "250 XFORWARD IDENT\r\n");
}

/* ---- tests ---------------------------------------------------------- */

/*
 * Recipients at three destinations, pipelined as Postfix sends them: one
 * delivery per destination in first-seen order, one reply per
 * recipient in RCPT order with the outcome of each.
 */
START_TEST(test_lmtpd_groups)
{
	start(base_config);
	greet();
	send_text("XFORWARD IDENT=4F2A31C0D2\r\n");
	expect("250 2.0.0");
	send_text("MAIL FROM:<alice@sender.test> BODY=8BITMIME\r\n"
	          "RCPT TO:<a@srv.example>\r\n"
	          "RCPT TO:<b@mx.example>\r\n"
	          "RCPT TO:<bad@srv.example>\r\n"
	          "RCPT TO:<c@nx.example>\r\n"
	          "RCPT TO:<temp@mx.example>\r\n"
	          "RCPT TO:<d@fail.example>\r\n"
	          "DATA\r\n");
	expect("250 2.1.0");
	expect("250 2.1.5");
	expect("250 2.1.5");
	expect("250 2.1.5");
	expect("250 2.1.5");
	expect("250 2.1.5");
	expect("250 2.1.5");
	expect("354 ");
	send_text("Subject: hi\r\n\r\nbody\r\n..stuffed\r\n.\r\n");
	expect("250 2.0.0 delivered via srv-host.example[192.0.2.1]:25");
	expect("250 2.0.0 delivered via mx.mx.example[192.0.2.1]:25");
	expect("554 5.1.1 host srv-host.example[192.0.2.1]:25 said: 550 5.1.1 "
	       "unknown user (in reply to RCPT TO command)");
	expect("554 5.1.2");
	expect("451 4.2.1 host mx.mx.example[192.0.2.1]:25 said: 450 4.2.1 "
	       "busy");
	expect("451 4.4.3");
	send_text("QUIT\r\n");
	expect("221 2.0.0");
	finish();
	ck_assert_int_eq(calls.n, 2);
	ck_assert_str_eq(calls.host[0], "srv-host.example");
	ck_assert_str_eq(calls.rcpts[0], "a@srv.example,bad@srv.example");
	ck_assert_str_eq(calls.host[1], "mx.mx.example");
	ck_assert_str_eq(calls.rcpts[1], "b@mx.example,temp@mx.example");
	ck_assert_str_eq(calls.sender[0], "alice@sender.test");
	ck_assert(calls.is_8bitmime[0]);
	/* LF line ends, unstuffed: "Subject: hi\n\nbody\n.stuffed\n". */
	ck_assert_uint_eq(calls.size[0], 27);
	ck_assert_ptr_nonnull(strstr(log_lines,
	    "4F2A31C0D2: to=<a@srv.example> relay=srv-host.example"));
}
END_TEST

/* The same recipients for a Secure Only and a Best Effort sender. */
START_TEST(test_lmtpd_roles)
{
	static const char roles[] = "sos.test sos\n";
	char err[256];

	start(base_config);
	ck_assert_msg(smx_table_parse("sender", roles, sizeof(roles) - 1,
	                  SMX_TABLE_SENDER, &gen.cfg->sender_roles, err,
	                  sizeof(err)) == SMX_OK,
	    "%s", err);
	greet();
	send_text("MAIL FROM:<x@sos.test>\r\nRCPT TO:<a@mx.example>\r\n"
	          "DATA\r\n");
	expect("250 2.1.0");
	expect("250 2.1.5");
	expect("354 ");
	send_text("x\r\n.\r\n");
	expect("250 2.0.0");
	send_text("MAIL FROM:<>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
	expect("250 2.1.0");
	expect("250 2.1.5");
	expect("354 ");
	send_text("x\r\n.\r\n");
	expect("250 2.0.0");
	send_text("QUIT\r\n");
	expect("221");
	finish();
	ck_assert_int_eq(calls.n, 2);
	ck_assert_ptr_nonnull(strstr(log_lines, "role=sos"));
	ck_assert_ptr_nonnull(strstr(log_lines, "role=bes"));
	ck_assert_str_eq(calls.sender[1], "");
}
END_TEST

/* Commands out of order, EHLO, unknown commands, RSET. */
START_TEST(test_lmtpd_sequence)
{
	start(base_config);
	expect("220 ");
	send_text("MAIL FROM:<a@b.example>\r\n");
	expect("503 5.5.1");
	send_text("EHLO x.example\r\n");
	expect("500 5.5.1");
	send_text("LHLO x.example\r\n");
	expect("250-");
	send_text("RCPT TO:<a@mx.example>\r\n");
	expect("503 5.5.1");
	send_text("DATA\r\n");
	expect("503 5.5.1");
	send_text("MAIL FROM:<a@b.example>\r\n");
	expect("250 2.1.0");
	send_text("MAIL FROM:<a@b.example>\r\n");
	expect("503 5.5.1");
	send_text("DATA\r\n");
	expect("503 5.5.1");
	send_text("RCPT TO:<postmaster>\r\n");
	expect("451 4.3.5");
	send_text("RCPT TO:<a@mx.example> NOTIFY=NEVER\r\n");
	expect("555 5.5.4");
	send_text("RCPT TO:<j\xc3\xb6rg@mx.example>\r\n");
	expect("553 5.6.7");
	send_text("RSET\r\n");
	expect("250 2.0.0");
	send_text("RCPT TO:<a@mx.example>\r\n");
	expect("503 5.5.1");
	send_text("NOOP\r\nVRFY bob\r\nBOGUS\r\n");
	expect("250 2.0.0");
	expect("252 2.0.0");
	expect("500 5.5.1");
	send_text("QUIT\r\n");
	expect("221 2.0.0");
	finish();
	ck_assert_int_eq(calls.n, 0);
}
END_TEST

/* SMTPUTF8 makes UTF-8 addresses acceptable. */
START_TEST(test_lmtpd_smtputf8)
{
	start(base_config);
	greet();
	send_text("MAIL FROM:<j\xc3\xb6rg@sender.test> SMTPUTF8\r\n"
	          "RCPT TO:<b\xc3\xa4r@mx.example>\r\nDATA\r\n");
	expect("250 2.1.0");
	expect("250 2.1.5");
	expect("354 ");
	send_text("x\r\n.\r\n");
	expect("250 2.0.0");
	send_text("QUIT\r\n");
	expect("221");
	finish();
	ck_assert_int_eq(calls.n, 1);
}
END_TEST

/* The connection lost inside the message: nothing is delivered. */
START_TEST(test_lmtpd_lost_in_data)
{
	start(base_config);
	greet();
	send_text("MAIL FROM:<a@b.example>\r\nRCPT TO:<a@mx.example>\r\n"
	          "DATA\r\n");
	expect("250 2.1.0");
	expect("250 2.1.5");
	expect("354 ");
	send_text("Subject: half\r\n\r\nno end");
	ck_assert_int_eq(shutdown(client_fd, SHUT_WR), 0);
	expect_eof();
	finish();
	ck_assert_int_eq(calls.n, 0);
	ck_assert_ptr_nonnull(strstr(log_lines, "lost connection"));
}
END_TEST

/* A message over the memory part of the spool goes on whole. */
START_TEST(test_lmtpd_large)
{
	static char line[1001];
	size_t total = 0;
	size_t i;

	start(base_config);
	greet();
	send_text("MAIL FROM:<a@b.example>\r\nRCPT TO:<a@mx.example>\r\n"
	          "DATA\r\n");
	expect("250 2.1.0");
	expect("250 2.1.5");
	expect("354 ");
	memset(line, 'x', 998);
	line[998] = '\r';
	line[999] = '\n';
	for (i = 0; i < 2 * LMTPD_SPOOL_MEM_MAX / 999 + 1; i++) {
		send_text(line);
		total += 999; /* stored with LF alone */
	}
	send_text(".\r\n");
	expect("250 2.0.0");
	send_text("QUIT\r\n");
	expect("221");
	finish();
	ck_assert_int_eq(calls.n, 1);
	ck_assert_uint_eq(calls.size[0], total);
	ck_assert_uint_gt(total, LMTPD_SPOOL_MEM_MAX);
}
END_TEST

/* Commands after DATA before the 354: the session ends. */
START_TEST(test_lmtpd_pipelining_after_data)
{
	start(base_config);
	greet();
	send_text("MAIL FROM:<a@b.example>\r\nRCPT TO:<a@mx.example>\r\n"
	          "DATA\r\nSubject: early\r\n\r\n.\r\n");
	expect("250 2.1.0");
	expect("250 2.1.5");
	expect("421 4.5.0");
	expect_eof();
	finish();
	ck_assert_int_eq(calls.n, 0);
}
END_TEST

/* LMTPD_ERRORS_MAX refused commands end the session. */
START_TEST(test_lmtpd_error_limit)
{
	int i;

	start(base_config);
	expect("220 ");
	for (i = 0; i < LMTPD_ERRORS_MAX - 1; i++) {
		send_text("BOGUS\r\n");
		expect("500 5.5.1");
	}
	send_text("BOGUS\r\n");
	expect("500 5.5.1");
	expect("421 4.7.0");
	expect_eof();
	finish();
}
END_TEST

/* An over-long command line is refused; the session goes on. */
START_TEST(test_lmtpd_long_line)
{
	static char line[LMTP_LINE_MAX + 16];

	start(base_config);
	expect("220 ");
	memset(line, 'a', LMTP_LINE_MAX + 10);
	memcpy(line + LMTP_LINE_MAX + 10, "\r\n", 3);
	send_text(line);
	expect("500 5.5.2");
	send_text("NOOP\r\n");
	expect("250 2.0.0");
	send_text("QUIT\r\n");
	expect("221");
	finish();
}
END_TEST

/* Idle past idle_timeout: 421 and the end. */
START_TEST(test_lmtpd_idle_timeout)
{
	start("idle_timeout = 1s\n");
	greet();
	expect("421 4.4.2");
	expect_eof();
	finish();
}
END_TEST

/* The daemon stops: an idle session answers 421 4.3.2 and ends. */
START_TEST(test_lmtpd_stop_idle)
{
	uint64_t one = 1;

	start(base_config);
	greet();
	atomic_store(&is_stopping, true);
	ck_assert_int_eq(write(env.stop_fd, &one, sizeof(one)),
	    (ssize_t)sizeof(one));
	expect("421 4.3.2");
	expect_eof();
	finish();
}
END_TEST

/*
 * The daemon stops during a transaction: the message still being
 * received is not delivered, but deferred as a whole.
 */
START_TEST(test_lmtpd_stop_in_transaction)
{
	uint64_t one = 1;

	start(base_config);
	greet();
	send_text("MAIL FROM:<a@b.example>\r\nRCPT TO:<a@mx.example>\r\n"
	          "DATA\r\n");
	expect("250 2.1.0");
	expect("250 2.1.5");
	expect("354 ");
	atomic_store(&is_stopping, true);
	ck_assert_int_eq(write(env.stop_fd, &one, sizeof(one)),
	    (ssize_t)sizeof(one));
	send_text("x\r\n.\r\n");
	expect("451 4.3.2");
	expect("421 4.3.2");
	expect_eof();
	finish();
	ck_assert_int_eq(calls.n, 0);
}
END_TEST

static Suite *
lmtpd_session_suite(void)
{
	Suite *s = suite_create("lmtpd_session");
	TCase *tc = tcase_create("session");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_lmtpd_groups);
	tcase_add_test(tc, test_lmtpd_roles);
	tcase_add_test(tc, test_lmtpd_sequence);
	tcase_add_test(tc, test_lmtpd_smtputf8);
	tcase_add_test(tc, test_lmtpd_lost_in_data);
	tcase_add_test(tc, test_lmtpd_large);
	tcase_add_test(tc, test_lmtpd_pipelining_after_data);
	tcase_add_test(tc, test_lmtpd_error_limit);
	tcase_add_test(tc, test_lmtpd_long_line);
	tcase_add_test(tc, test_lmtpd_idle_timeout);
	tcase_add_test(tc, test_lmtpd_stop_idle);
	tcase_add_test(tc, test_lmtpd_stop_in_transaction);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lmtpd_session_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
