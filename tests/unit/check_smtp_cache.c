/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/smtp_cache.c: keys, destinations, bounds, the
 * idle and reuse time limits on a test clock, and how connections end (QUIT,
 * then close). The connections are socket pairs: the test holds the server end
 * and sees what the cache sends and when it hangs up.
 */
#include <check.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "smtp_cache.h"

static long long fake_now = 5000000;

static long long
fake_clock(void)
{
	return fake_now;
}

static struct smtp_cache *
make_cache(size_t max, unsigned idle, unsigned reuse)
{
	struct smtp_cache *cache = NULL;

	ck_assert_int_eq(smtp_cache_new(max, idle, reuse, &cache), SMX_OK);
	smtp_cache_set_clock(cache, fake_clock);
	return cache;
}

/* A connection whose server end the test keeps in *server. */
static void
make_conn(struct smtp_cached *c, int *server)
{
	int fds[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	memset(c, 0, sizeof(*c));
	smtp_conn_init(&c->conn);
	c->conn.fd = fds[0];
	c->conn.timeout_ms = 1000;
	c->has_size = true;
	c->size_limit = 1000;
	c->created_ms = fake_now;
	*server = fds[1];
}

/* What the server end got until the client closed (at most size - 1). */
static void
drain(int server, char *buf, size_t size)
{
	struct pollfd pfd = { server, POLLIN, 0 };
	size_t len = 0;
	ssize_t n;

	for (;;) {
		ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
		n = read(server, buf + len, size - 1 - len);
		/* A reset (the client left bytes unread) ends it too. */
		ck_assert(n >= 0 || errno == ECONNRESET);
		if (n <= 0)
			break;
		len += (size_t)n;
		ck_assert_uint_lt(len, size - 1);
	}
	buf[len] = '\0';
	close(server);
}

static void
assert_quit_closed(int server)
{
	char buf[64];

	drain(server, buf, sizeof(buf));
	ck_assert_str_eq(buf, "QUIT\r\n");
}

/* Still open, nothing sent. */
static void
assert_open(int server)
{
	struct pollfd pfd = { server, POLLIN, 0 };

	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
}

static void
key_v4(struct smtp_cache_key *k, const char *addr, unsigned port,
    const char *host, enum smtp_tls_policy policy, bool is_sos)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	ck_assert_int_eq(smtp_cache_key_make(k, (struct sockaddr *)&sin,
	                     sizeof(sin), host, "client.example", policy,
	                     is_sos, NULL, NULL),
	    SMX_OK);
}

/* A key differs in any one field: no connection for it. */
START_TEST(test_smtp_cache_key)
{
	struct smtp_cache *cache = make_cache(8, 2, 300);
	struct smtp_cache_key base;
	struct smtp_cache_key k;
	struct smtp_cached c;
	struct smtp_cached got;
	struct sockaddr_in6 sin6;
	struct sockaddr_un other;
	int server;

	key_v4(&base, "192.0.2.1", 25, "mx.example", SMTP_TLS_NONE, false);
	make_conn(&c, &server);
	smtp_cache_put(cache, &base, &c);
	ck_assert_int_eq(c.conn.fd, -1); /* the cache has it now */
	ck_assert_uint_eq(smtp_cache_count(cache), 1);
	key_v4(&k, "192.0.2.2", 25, "mx.example", SMTP_TLS_NONE, false);
	ck_assert(!smtp_cache_take(cache, &k, &got));
	key_v4(&k, "192.0.2.1", 2525, "mx.example", SMTP_TLS_NONE, false);
	ck_assert(!smtp_cache_take(cache, &k, &got));
	key_v4(&k, "192.0.2.1", 25, "mx2.example", SMTP_TLS_NONE, false);
	ck_assert(!smtp_cache_take(cache, &k, &got));
	key_v4(&k, "192.0.2.1", 25, NULL, SMTP_TLS_NONE, false);
	ck_assert(!smtp_cache_take(cache, &k, &got));
	key_v4(&k, "192.0.2.1", 25, "mx.example", SMTP_TLS_NONE, true);
	ck_assert(!smtp_cache_take(cache, &k, &got));
	k = base;
	snprintf(k.helo, sizeof(k.helo), "other.example");
	ck_assert(!smtp_cache_take(cache, &k, &got));
	k = base;
	k.tls_policy = SMTP_TLS_MAY;
	ck_assert(!smtp_cache_take(cache, &k, &got));
	k = base;
	k.tls[0] ^= 1;
	ck_assert(!smtp_cache_take(cache, &k, &got));
	/* The same address in IPv6 form is another key. */
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(25);
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:192.0.2.1",
	                     &sin6.sin6_addr),
	    1);
	ck_assert_int_eq(smtp_cache_key_make(&k, (struct sockaddr *)&sin6,
	                     sizeof(sin6), "mx.example", "client.example",
	                     SMTP_TLS_NONE, false, NULL, NULL),
	    SMX_OK);
	ck_assert(!smtp_cache_take(cache, &k, &got));
	assert_open(server);
	/* The equal key gets it, with what EHLO said, once. */
	key_v4(&k, "192.0.2.1", 25, "mx.example", SMTP_TLS_NONE, false);
	ck_assert(smtp_cache_take(cache, &k, &got));
	ck_assert_int_ge(got.conn.fd, 0);
	ck_assert(got.has_size);
	ck_assert_uint_eq(got.size_limit, 1000);
	ck_assert_uint_eq(got.n_uses, 1);
	ck_assert(!smtp_cache_take(cache, &k, &c));
	ck_assert_uint_eq(smtp_cache_count(cache), 0);
	smtp_cache_discard(&got);
	assert_quit_closed(server);
	/* Keys that cannot be made. */
	memset(&other, 0, sizeof(other));
	other.sun_family = AF_UNIX;
	ck_assert_int_eq(smtp_cache_key_make(&k, (struct sockaddr *)&other,
	                     sizeof(other), NULL, "client.example",
	                     SMTP_TLS_NONE, false, NULL, NULL),
	    SMX_INVALID);
	ck_assert_int_eq(smtp_cache_key_make(&k, (struct sockaddr *)&sin6,
	                     sizeof(sin6), NULL, "client.example",
	                     SMTP_TLS_ENCRYPT, false, NULL, NULL),
	    SMX_TEMPFAIL);
	smtp_cache_free(cache);
}
END_TEST

/* The TLS part of the key: the digest of the context and the peer. */
START_TEST(test_smtp_cache_key_tls)
{
	struct smx_tls_options o;
	struct smx_tls_ctx *ctx = NULL;
	struct smx_tls_peer p;
	struct smtp_cache_key a;
	struct smtp_cache_key b;
	struct sockaddr_in sin;
	const char *names[] = { "mx.example" };
	char reason[256];

	memset(&o, 0, sizeof(o));
	ck_assert_int_eq(smx_tls_ctx_new(&o, &ctx, reason, sizeof(reason)),
	    SMX_OK);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(25);
	memset(&p, 0, sizeof(p));
	p.sni = "mx.example";
	ck_assert_int_eq(smtp_cache_key_make(&a, (struct sockaddr *)&sin,
	                     sizeof(sin), "mx.example", "c.example",
	                     SMTP_TLS_ENCRYPT, true, ctx, &p),
	    SMX_OK);
	p.names = names;
	p.n_names = 1;
	ck_assert_int_eq(smtp_cache_key_make(&b, (struct sockaddr *)&sin,
	                     sizeof(sin), "mx.example", "c.example",
	                     SMTP_TLS_ENCRYPT, true, ctx, &p),
	    SMX_OK);
	ck_assert(memcmp(a.tls, b.tls, sizeof(a.tls)) != 0);
	/* Without TLS the TLS rules do not count. */
	ck_assert_int_eq(smtp_cache_key_make(&a, (struct sockaddr *)&sin,
	                     sizeof(sin), "mx.example", "c.example",
	                     SMTP_TLS_NONE, true, ctx, &p),
	    SMX_OK);
	ck_assert_int_eq(smtp_cache_key_make(&b, (struct sockaddr *)&sin,
	                     sizeof(sin), "mx.example", "c.example",
	                     SMTP_TLS_NONE, true, NULL, NULL),
	    SMX_OK);
	ck_assert(memcmp(a.tls, b.tls, sizeof(a.tls)) == 0);
	smx_tls_ctx_free(ctx);
}
END_TEST

/* Full: the least recently used connection is closed for a new one. */
START_TEST(test_smtp_cache_bounds)
{
	struct smtp_cache *cache = make_cache(2, 60, 300);
	struct smtp_cache_key k;
	struct smtp_cached c;
	struct smtp_cached got;
	int server[3];
	int i;

	key_v4(&k, "192.0.2.1", 25, "mx.example", SMTP_TLS_NONE, false);
	for (i = 0; i < 3; i++) {
		make_conn(&c, &server[i]);
		smtp_cache_put(cache, &k, &c);
		fake_now += 10;
	}
	ck_assert_uint_eq(smtp_cache_count(cache), 2);
	assert_quit_closed(server[0]);
	assert_open(server[1]);
	/* The most recently used of equal keys goes first. */
	ck_assert(smtp_cache_take(cache, &k, &got));
	smtp_cache_discard(&got);
	assert_quit_closed(server[2]);
	ck_assert(smtp_cache_take(cache, &k, &got));
	smtp_cache_discard(&got);
	assert_quit_closed(server[1]);
	smtp_cache_free(cache);
	/* Bounds of the cache itself. */
	ck_assert_int_eq(smtp_cache_new(0, 2, 300, &cache), SMX_INVALID);
	ck_assert_int_eq(smtp_cache_new(SMTP_CACHE_CONNS_MAX + 1, 2, 300,
	                     &cache),
	    SMX_INVALID);
	ck_assert_int_eq(smtp_cache_new(1, 0, 300, &cache), SMX_INVALID);
	ck_assert_int_eq(smtp_cache_new(1, SMTP_CACHE_IDLE_TIME_MAX + 1, 300,
	                     &cache),
	    SMX_INVALID);
	ck_assert_int_eq(smtp_cache_new(1, 2, 0, &cache), SMX_INVALID);
	ck_assert_int_eq(smtp_cache_new(1, 2, SMTP_CACHE_REUSE_TIME_MAX + 1,
	                     &cache),
	    SMX_INVALID);
}
END_TEST

/* Idle for the idle limit: closed on the next take or put. */
START_TEST(test_smtp_cache_idle_limit)
{
	struct smtp_cache *cache = make_cache(4, 2, 300);
	struct smtp_cache_key k;
	struct smtp_cache_key other;
	struct smtp_cached c;
	struct smtp_cached got;
	int server;
	int server2;

	key_v4(&k, "192.0.2.1", 25, "mx.example", SMTP_TLS_NONE, false);
	key_v4(&other, "192.0.2.9", 25, "mx9.example", SMTP_TLS_NONE, false);
	make_conn(&c, &server);
	smtp_cache_put(cache, &k, &c);
	fake_now += 1999;
	ck_assert(smtp_cache_take(cache, &k, &got));
	/* Handed back: idle again from now. */
	smtp_cache_put(cache, &k, &got);
	fake_now += 1999;
	assert_open(server);
	fake_now += 1;
	/* Any put closes it (here one for another server). */
	make_conn(&c, &server2);
	smtp_cache_put(cache, &other, &c);
	assert_quit_closed(server);
	ck_assert(!smtp_cache_take(cache, &k, &got));
	/* smtp_cache_expire does the same without a put or take. */
	fake_now += 2000;
	ck_assert_uint_eq(smtp_cache_expire(cache), 1);
	assert_quit_closed(server2);
	ck_assert_uint_eq(smtp_cache_count(cache), 0);
	smtp_cache_free(cache);
}
END_TEST

/* Opened the reuse limit ago: never handed out or kept again. */
START_TEST(test_smtp_cache_reuse_limit)
{
	struct smtp_cache *cache = make_cache(4, 300, 10);
	struct smtp_cache_key k;
	struct smtp_cached c;
	struct smtp_cached got;
	int server;

	key_v4(&k, "192.0.2.1", 25, "mx.example", SMTP_TLS_NONE, true);
	make_conn(&c, &server);
	smtp_cache_put(cache, &k, &c);
	fake_now += 9999;
	ck_assert(smtp_cache_take(cache, &k, &got));
	fake_now += 1; /* the delivery took a millisecond */
	smtp_cache_put(cache, &k, &got);
	assert_quit_closed(server);
	ck_assert_uint_eq(smtp_cache_count(cache), 0);
	/* Kept, then expired in the cache. */
	make_conn(&c, &server);
	smtp_cache_put(cache, &k, &c);
	fake_now += 10000;
	ck_assert(!smtp_cache_take(cache, &k, &got));
	assert_quit_closed(server);
	smtp_cache_free(cache);
}
END_TEST

/* Not kept: closed, buffered bytes, bytes waiting on the socket. */
START_TEST(test_smtp_cache_put_refused)
{
	struct smtp_cache *cache = make_cache(4, 2, 300);
	struct smtp_cache_key k;
	struct smtp_cached c;
	char buf[64];
	int server;

	key_v4(&k, "192.0.2.1", 25, "mx.example", SMTP_TLS_NONE, false);
	memset(&c, 0, sizeof(c));
	smtp_conn_init(&c.conn);
	smtp_cache_put(cache, &k, &c);
	ck_assert_uint_eq(smtp_cache_count(cache), 0);
	/* The server said something nobody asked for. */
	make_conn(&c, &server);
	ck_assert_int_eq(write(server, "421 bye\r\n", 9), 9);
	smtp_cache_put(cache, &k, &c);
	ck_assert_int_eq(c.conn.fd, -1);
	ck_assert_uint_eq(smtp_cache_count(cache), 0);
	assert_quit_closed(server);
	/* Bytes left in the read buffer. */
	make_conn(&c, &server);
	c.conn.rbuf = malloc(SMTP_CONN_RBUF_SIZE);
	memcpy(c.conn.rbuf, "250 ", 4);
	c.conn.r_len = 4;
	smtp_cache_put(cache, &k, &c);
	ck_assert_uint_eq(smtp_cache_count(cache), 0);
	drain(server, buf, sizeof(buf));
	ck_assert_str_eq(buf, "QUIT\r\n");
	/* Freeing the cache ends what it holds. */
	make_conn(&c, &server);
	smtp_cache_put(cache, &k, &c);
	ck_assert_uint_eq(smtp_cache_count(cache), 1);
	smtp_cache_free(cache);
	assert_quit_closed(server);
	smtp_cache_free(NULL);
}
END_TEST

static void
dest(struct smtp_dest *d, const char *name, bool is_sos,
    unsigned long long serial)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->is_sos = is_sos;
	d->config_serial = serial;
	d->route = SMTP_DEST_MX;
}

/*
 * By destination: only the same name, role and configuration serial,
 * and the same greeting name; the key it was kept under comes back, and
 * what the route lookup found. A connection kept without a destination
 * is found by address only.
 */
START_TEST(test_smtp_cache_dest)
{
	struct smtp_cache *cache = make_cache(8, 60, 300);
	struct smtp_cache_key k;
	struct smtp_cache_key got_key;
	struct smtp_cached c;
	struct smtp_cached got;
	struct smtp_dest d;
	struct smtp_dest q;
	int server;
	int server2;

	key_v4(&k, "192.0.2.1", 25, "mx.example", SMTP_TLS_NONE, false);
	dest(&d, "example.org", false, 7);
	d.is_secure = true;
	make_conn(&c, &server);
	c.has_dest = true;
	c.dest = d;
	c.is_dane = true;
	smtp_cache_put(cache, &k, &c);
	/* Another destination, role (BES never serves SOS), serial. */
	dest(&q, "example.net", false, 7);
	ck_assert(
	    !smtp_cache_take_dest(cache, &q, "client.example", &got_key, &got));
	dest(&q, "example.org", true, 7);
	ck_assert(
	    !smtp_cache_take_dest(cache, &q, "client.example", &got_key, &got));
	dest(&q, "example.org", false, 8);
	ck_assert(
	    !smtp_cache_take_dest(cache, &q, "client.example", &got_key, &got));
	dest(&q, "Example.org", false, 7);
	ck_assert(
	    !smtp_cache_take_dest(cache, &q, "client.example", &got_key, &got));
	dest(&q, "example.org", false, 7);
	ck_assert(
	    !smtp_cache_take_dest(cache, &q, "other.example", &got_key, &got));
	assert_open(server);
	/* The equal one: the connection, its key, the route. */
	q.route = SMTP_DEST_SRV; /* the key does not hold the route */
	q.is_secure = false;
	ck_assert(
	    smtp_cache_take_dest(cache, &q, "client.example", &got_key, &got));
	ck_assert_int_ge(got.conn.fd, 0);
	ck_assert_mem_eq(&got_key, &k, sizeof(k));
	ck_assert(got.has_dest);
	ck_assert_int_eq(got.dest.route, SMTP_DEST_MX);
	ck_assert(got.dest.is_secure);
	ck_assert(got.is_dane);
	ck_assert_uint_eq(got.n_uses, 1);
	ck_assert(
	    !smtp_cache_take_dest(cache, &q, "client.example", &got_key, &c));
	smtp_cache_discard(&got);
	assert_quit_closed(server);
	/* Kept without a destination: by address only. */
	make_conn(&c, &server2);
	smtp_cache_put(cache, &k, &c);
	ck_assert(
	    !smtp_cache_take_dest(cache, &q, "client.example", &got_key, &got));
	ck_assert(smtp_cache_take(cache, &k, &got));
	smtp_cache_discard(&got);
	assert_quit_closed(server2);
	smtp_cache_free(cache);
}
END_TEST

/*
 * By destination, never past the reuse limit from the connection's
 * opening (the DNS answers were current then), nor the idle limit.
 */
START_TEST(test_smtp_cache_dest_limits)
{
	struct smtp_cache *cache = make_cache(8, 5, 10);
	struct smtp_cache_key k;
	struct smtp_cache_key got_key;
	struct smtp_cached c;
	struct smtp_cached got;
	struct smtp_dest d;
	int server;

	key_v4(&k, "192.0.2.1", 25, "mx.example", SMTP_TLS_NONE, true);
	dest(&d, "example.org", true, 1);
	make_conn(&c, &server);
	c.has_dest = true;
	c.dest = d;
	smtp_cache_put(cache, &k, &c);
	/* Used every 4 s: never idle 5 s, but opened 10 s ago at last. */
	fake_now += 4000;
	ck_assert(
	    smtp_cache_take_dest(cache, &d, "client.example", &got_key, &got));
	smtp_cache_put(cache, &got_key, &got);
	fake_now += 4000;
	ck_assert(
	    smtp_cache_take_dest(cache, &d, "client.example", &got_key, &got));
	smtp_cache_put(cache, &got_key, &got);
	fake_now += 2000;
	ck_assert(
	    !smtp_cache_take_dest(cache, &d, "client.example", &got_key, &got));
	assert_quit_closed(server);
	/* Idle too long. */
	make_conn(&c, &server);
	c.has_dest = true;
	c.dest = d;
	smtp_cache_put(cache, &k, &c);
	fake_now += 5000;
	ck_assert(
	    !smtp_cache_take_dest(cache, &d, "client.example", &got_key, &got));
	assert_quit_closed(server);
	smtp_cache_free(cache);
}
END_TEST

static Suite *
cache_suite(void)
{
	Suite *s = suite_create("smtp_cache");
	TCase *tc;

	tc = tcase_create("keys");
	tcase_add_test(tc, test_smtp_cache_key);
	tcase_add_test(tc, test_smtp_cache_key_tls);
	tcase_add_test(tc, test_smtp_cache_dest);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, test_smtp_cache_bounds);
	tcase_add_test(tc, test_smtp_cache_idle_limit);
	tcase_add_test(tc, test_smtp_cache_reuse_limit);
	tcase_add_test(tc, test_smtp_cache_dest_limits);
	tcase_add_test(tc, test_smtp_cache_put_refused);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cache_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
