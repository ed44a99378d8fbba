/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/deliver.c run as secmx-lmtpd runs it: several
 * threads calling deliver_run at once with distinct requests, sharing
 * one configuration, one struct deliver_tls (its contexts made on first
 * use, by whichever thread comes first) and one struct deliver_cache
 * (TLS sessions and idle connections), against smx-smtp-peer on
 * loopback through an [address]:port next hop; then through a _secmx
 * SRV route (fake DNS answers, counted) to a peer that offers
 * PIPELINING, where most deliveries take a connection kept for their
 * destination and look nothing up. Meant to run under the ASan/UBSan
 * build as well.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "smtp_cache.h"
#include "smx_config.h"
#include "smx_io.h"
#include "smx_log.h"
#include "smx_tls_cache.h"
#include "spool.h"
#include "peer_fixture.h"

#define N_THREADS 8
#define N_RUNS 10 /* deliveries per thread */

static struct peer peer;

/* What the audit lines said, counted by a log sink (any thread). */
static struct {
	pthread_mutex_t lock;
	size_t n_sent;
	size_t n_reused;
	size_t n_resumed;
	size_t n_plaintext;
	size_t n_srv_ca; /* route=srv with verify=ca */
} seen = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0 };

static void
sink(int prio, const char *line, void *ctx)
{
	(void)prio;
	(void)ctx;
	/* The attempt's line and the outcome's line: count attempts. */
	if (strstr(line, " to=<") == NULL || strstr(line, "relay=") == NULL)
		return;
	pthread_mutex_lock(&seen.lock);
	if (strstr(line, "status=sent") != NULL)
		seen.n_sent++;
	if (strstr(line, " route=srv ") != NULL &&
	    strstr(line, " verify=ca ") != NULL)
		seen.n_srv_ca++;
	if (strstr(line, " conn=reused ") != NULL)
		seen.n_reused++;
	if (strstr(line, " resumed=yes ") != NULL)
		seen.n_resumed++;
	if (strstr(line, " tls=none ") != NULL)
		seen.n_plaintext++;
	pthread_mutex_unlock(&seen.lock);
}

/* What every thread shares. */
struct shared {
	struct smx_config *cfg;
	struct deliver_tls tls;
	struct deliver_cache cache;
	char nexthop[64];
	const char *domain; /* of the recipients */
	const struct deliver_io *io;
	int n_runs;
	bool sos_only;
};

struct worker {
	pthread_t tid;
	int id;
	struct shared *sh;
	size_t n_ok;
};

static const char message[] = "Subject: threads\n\nbody\n";

static bool
load(struct spool *sp)
{
	FILE *tmp = tmpfile();
	char reason[256];
	bool ok;

	if (tmp == NULL)
		return false;
	ok = fwrite(message, 1, sizeof(message) - 1, tmp) ==
	        sizeof(message) - 1 &&
	    fflush(tmp) == 0 && fseek(tmp, 0, SEEK_SET) == 0 &&
	    spool_read_fd(sp, fileno(tmp), 0, reason, sizeof(reason)) == SMX_OK;
	fclose(tmp);
	return ok;
}

/*
 * One thread: its deliveries one after another, each its own request;
 * even threads as Secure Only Sender (TLS required), odd ones as Best
 * Effort Sender (TLS when offered): two keys for the same server.
 */
static void *
work(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	char rcpt[64];
	const char *rcpts[1] = { rcpt };
	struct smx_route_nexthop dest;
	struct deliver_request rq;
	struct outcome out;
	struct spool sp;
	int i;

	for (i = 0; i < sh->n_runs; i++) {
		snprintf(rcpt, sizeof(rcpt), "user%d.%d@%s", w->id, i,
		    sh->domain);
		if (!deliver_destination(sh->nexthop, rcpt, &dest, &out))
			continue;
		spool_init(&sp);
		if (!load(&sp))
			continue;
		memset(&rq, 0, sizeof(rq));
		rq.cfg = sh->cfg;
		rq.io = sh->io;
		rq.tls = &sh->tls;
		rq.cache = &sh->cache;
		rq.queue_id = "THREADQ";
		rq.sender = "alice@example.test";
		rq.recipients = rcpts;
		rq.n_recipients = 1;
		rq.dest = &dest;
		rq.is_sos = sh->sos_only || w->id % 2 == 0;
		rq.helo = "client.example.test";
		rq.message = &sp;
		rq.deadline_ms = smx_io_now_ms() + 20000;
		deliver_run(&rq, &out);
		if (out.status == SMX_OK)
			w->n_ok++;
		spool_free(&sp);
	}
	return NULL;
}

static size_t
run_threads(struct shared *sh, int n_threads)
{
	struct worker w[N_THREADS];
	size_t n_ok = 0;
	int i;

	ck_assert_int_le(n_threads, N_THREADS);
	memset(w, 0, sizeof(w));
	for (i = 0; i < n_threads; i++) {
		w[i].id = i;
		w[i].sh = sh;
		ck_assert_int_eq(pthread_create(&w[i].tid, NULL, work, &w[i]),
		    0);
	}
	for (i = 0; i < n_threads; i++) {
		ck_assert_int_eq(pthread_join(w[i].tid, NULL), 0);
		n_ok += w[i].n_ok;
	}
	return n_ok;
}

static size_t
transcript_count(const char *needle)
{
	size_t len = 0;
	size_t n_len = strlen(needle);
	char *ts = peer_transcript(&peer, &len);
	size_t n = 0;
	size_t i;

	ck_assert_ptr_nonnull(ts);
	for (i = 0; i + n_len <= len; i++)
		n += memcmp(ts + i, needle, n_len) == 0;
	free(ts);
	return n;
}

START_TEST(test_deliver_threads_shared_caches)
{
	struct shared sh;
	char err[256];
	size_t n_conns;
	size_t total = (size_t)N_THREADS * N_RUNS;

	/* Audit lines go to the sink; stderr is not looked at. */
	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
	smx_log_open("secmx/test", SMX_LOG_STDERR, NULL);
	smx_log_set_sink(sink, NULL);
	ck_assert(peer_start(&peer, "normal", CERT_NAME, NULL));
	memset(&sh, 0, sizeof(sh));
	ck_assert_int_eq(smx_config_parse("t.conf", "", 0, &sh.cfg, err,
	                     sizeof(err)),
	    SMX_OK);
	ck_assert_int_eq(smx_tls_session_cache_new(64,
	                     SMX_TLS_SESSION_LIFETIME_DEFAULT, &sh.cache.tls),
	    SMX_OK);
	ck_assert_int_eq(smtp_cache_new(16, 60, 300, &sh.cache.conns), SMX_OK);
	snprintf(sh.nexthop, sizeof(sh.nexthop), "[127.0.0.1]:%u", peer.port);
	sh.domain = "dest.example.test";
	sh.n_runs = N_RUNS;

	ck_assert_uint_eq(run_threads(&sh, N_THREADS), total);
	n_conns = peer_connections(&peer);
	/* Every message once; every delivery on a new or a kept one. */
	ck_assert_uint_eq(transcript_count("Subject: threads\r\n"), total);
	ck_assert_uint_eq(seen.n_sent, 2 * total); /* attempt and outcome */
	ck_assert_uint_eq(n_conns + seen.n_reused / 2, total);
	ck_assert_uint_lt(n_conns, total);
	/* Both roles found TLS (the peer offers it). */
	ck_assert_uint_eq(seen.n_plaintext, 0);
	ck_assert_uint_le(smtp_cache_count(sh.cache.conns), 16);

	/*
	 * No connection cache now: every connection is new, and each
	 * resumes a TLS session that the runs above left.
	 */
	smtp_cache_free(sh.cache.conns);
	sh.cache.conns = NULL;
	sh.sos_only = true;
	sh.n_runs = 3;
	seen.n_sent = seen.n_reused = seen.n_resumed = seen.n_plaintext = 0;
	ck_assert_uint_eq(run_threads(&sh, 4), 12);
	ck_assert_uint_eq(peer_connections(&peer), n_conns + 12);
	ck_assert_uint_eq(seen.n_reused, 0);
	ck_assert_uint_eq(seen.n_resumed, 2 * 12);

	smx_log_set_sink(NULL, NULL);
	smx_tls_session_cache_free(sh.cache.tls);
	deliver_tls_free(&sh.tls);
	smx_config_free(sh.cfg);
	peer_stop(&peer);
}
END_TEST

/* DNS of the SRV test: counted, answered from the peer's port. */
static atomic_size_t n_srv_lookups;
static atomic_size_t n_other_lookups;

static enum smx_status
srv_route(const struct smx_dns_opts *o, const char *domain,
    struct smx_route *rt, char *reason, size_t size)
{
	(void)o;
	(void)reason;
	(void)size;
	atomic_fetch_add(&n_srv_lookups, 1);
	memset(rt, 0, sizeof(*rt));
	rt->kind = SMX_ROUTE_SRV;
	if (strcmp(domain, "example.test") != 0)
		return SMX_NOTFOUND;
	snprintf(rt->target[0].host, sizeof(rt->target[0].host), "%s",
	    CERT_NAME);
	rt->target[0].port = (uint16_t)peer.port;
	rt->n_targets = 1;
	return SMX_OK;
}

static enum smx_status
no_route(const struct smx_dns_opts *o, const char *domain, struct smx_route *rt,
    char *reason, size_t size)
{
	(void)o;
	(void)domain;
	atomic_fetch_add(&n_other_lookups, 1);
	memset(rt, 0, sizeof(*rt));
	snprintf(reason, size, "not here");
	return SMX_TEMPFAIL;
}

static enum smx_status
loopback_addrs(const struct smx_dns_opts *o, const char *host, uint16_t port,
    struct smx_dns_addr_set *set, char *reason, size_t size)
{
	(void)o;
	(void)reason;
	(void)size;
	atomic_fetch_add(&n_other_lookups, 1);
	ck_assert_str_eq(host, CERT_NAME);
	memset(set, 0, sizeof(*set));
	set->n_addrs = 1;
	set->addr[0].family = AF_INET;
	set->addr[0].port = port;
	set->addr[0].addr[0] = 127;
	set->addr[0].addr[3] = 1;
	snprintf(set->addr[0].text, sizeof(set->addr[0].text), "127.0.0.1");
	return SMX_OK;
}

static enum smx_status
no_tlsa(const struct smx_dns_opts *o, uint16_t port, const char *host,
    struct smx_dns_tlsa_set *set, char *reason, size_t size)
{
	(void)o;
	(void)port;
	(void)host;
	(void)set;
	atomic_fetch_add(&n_other_lookups, 1);
	snprintf(reason, size, "not here");
	return SMX_NOTFOUND;
}

static bool
never_local(int family, const unsigned char *addr)
{
	(void)family;
	(void)addr;
	return false;
}

static const struct deliver_io srv_io = {
	.route_srv = srv_route,
	.route_mx = no_route,
	.lookup_addrs = loopback_addrs,
	.lookup_tlsa = no_tlsa,
	.session = smtp_session_deliver,
	.is_local_addr = never_local,
	.now_ms = smx_io_now_ms,
};

/*
 * Through the SRV route, with the certificate verified (tls_verify =
 * ca, names example.test and .example.test): the first delivery of a
 * destination and role looks up SRV and A, later ones take the
 * connection kept for it and look nothing up; every audit line still
 * says route=srv and verify=ca. The peer offers PIPELINING.
 */
START_TEST(test_deliver_threads_dest_reuse)
{
	static const char *const piped[] = { "-L", NULL };
	struct shared sh;
	char conf[256];
	char err[256];
	size_t total = (size_t)N_THREADS * N_RUNS;
	size_t n_srv;
	size_t n_piped;
	size_t n_serial;

	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
	smx_log_open("secmx/test", SMX_LOG_STDERR, NULL);
	smx_log_set_sink(sink, NULL);
	ck_assert(peer_start_with(&peer, "normal", CERT_NAME, NULL, piped));
	memset(&sh, 0, sizeof(sh));
	snprintf(conf, sizeof(conf), "tls_ca_file = %s/ca.pem\n", certs_dir);
	ck_assert_int_eq(smx_config_parse("t.conf", conf, strlen(conf), &sh.cfg,
	                     err, sizeof(err)),
	    SMX_OK);
	ck_assert_int_eq(smx_tls_session_cache_new(64,
	                     SMX_TLS_SESSION_LIFETIME_DEFAULT, &sh.cache.tls),
	    SMX_OK);
	ck_assert_int_eq(smtp_cache_new(16, 60, 300, &sh.cache.conns), SMX_OK);
	sh.nexthop[0] = '\0';
	sh.domain = "example.test";
	sh.io = &srv_io;
	sh.n_runs = N_RUNS;

	ck_assert_uint_eq(run_threads(&sh, N_THREADS), total);
	n_srv = atomic_load(&n_srv_lookups);
	ck_assert_uint_eq(transcript_count("Subject: threads\r\n"), total);
	ck_assert_uint_eq(seen.n_sent, 2 * total);
	ck_assert_uint_eq(seen.n_srv_ca, 2 * total);
	/* Each SRV lookup is a delivery that found no kept connection. */
	ck_assert_uint_ge(n_srv, 2); /* the first of each role */
	ck_assert_uint_le(n_srv, total / 2);
	ck_assert_uint_eq(atomic_load(&n_other_lookups), n_srv);
	ck_assert_uint_ge(n_srv + seen.n_reused / 2, total);
	ck_assert_uint_le(peer_connections(&peer), n_srv);
	peer_pipelining(&peer, &n_piped, &n_serial);
	ck_assert_uint_eq(n_piped, total);
	ck_assert_uint_eq(n_serial, 0);

	smx_log_set_sink(NULL, NULL);
	smtp_cache_free(sh.cache.conns);
	smx_tls_session_cache_free(sh.cache.tls);
	deliver_tls_free(&sh.tls);
	smx_config_free(sh.cfg);
	peer_stop(&peer);
}
END_TEST

static Suite *
threads_suite(void)
{
	Suite *s = suite_create("deliver_threads");
	TCase *tc;

	tc = tcase_create("threads");
	tcase_add_unchecked_fixture(tc, certs_make, certs_remove);
	tcase_add_test(tc, test_deliver_threads_shared_caches);
	tcase_add_test(tc, test_deliver_threads_dest_reuse);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(threads_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
