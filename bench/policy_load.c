/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	secmx-policy-load - load generator for Postfix policy servers
 * SYNOPSIS
 *	secmx-policy-load -s ENDPOINT [-c CONNS] [-n REQUESTS | -d SECONDS]
 *	    [-w WARMUP] [-i IDLE] [-p SERVER_PID] [-t TLS_PERCENT]
 *	    [-m SOR:BER:OTHER] [-r REJECT_PREFIX] [-a] [-T TIMEOUT]
 *	    [--sor DOMAIN] [--ber DOMAIN] [--other DOMAIN] [--seed N]
 * DESCRIPTION
 *	Opens CONNS persistent connections to a policy server at ENDPOINT
 *	(unix:PATH or inet:HOST:PORT on loopback) and keeps one request
 *	outstanding on each, as Postfix's smtpd does. Requests carry exactly
 *	the attributes Postfix 3.7 (Debian 12) sends at RCPT, in its order.
 *	Each request is drawn from a fixed pool: its recipient domain is
 *	the SOR, BER or other domain with the weights of -m (default 1:1:2),
 *	and its session is TLS (TLSv1.3, 256-bit) with probability -t
 *	percent (default 50), otherwise plaintext (empty protocol and
 *	cipher, keysize 0).
 *
 *	Every answer is checked: a plaintext request for the SOR domain
 *	must get an action starting with REJECT_PREFIX (default "530 "),
 *	everything else "DUNNO" (compared case-insensitively, as Postfix
 *	does); with -a every answer must be DUNNO. A wrong or malformed
 *	answer, a closed connection and a request unanswered at the deadline
 *	each count as an error.
 *
 *	The first WARMUP requests (default 10% of REQUESTS, at least 100
 *	and twice CONNS) are not measured. Then REQUESTS answers are
 *	measured (or answers for SECONDS with -d); latency is the time from
 *	the request's write to the end of its answer (CLOCK_MONOTONIC), kept
 *	in a log-linear histogram (exact below 1024 us, 1/64 of a power of
 *	two above).
 *
 *	With -i IDLE, IDLE further connections are opened first; each sends
 *	one request (so that it is a real policy session), gets its answer
 *	checked, and then stays silent and open while the CONNS active ones
 *	are measured. With -p the server's VmRSS (/proc/PID/status) is read
 *	after the measurement, while every connection is still open.
 *
 *	One line on stdout:
 *	conns=N reqs=M rps=X p50_us=A p99_us=B max_us=C errors=E
 *	or, with -i or -p,
 *	idle=K active=N reqs=M rps=X p50_us=A p99_us=B max_us=C rss_kib=R
 *	errors=E
 *	Progress and details go to stderr.
 * OPTIONS
 *	-s ENDPOINT	server to load (required).
 *	-c CONNS	active connections (default 8).
 *	-n REQUESTS	measured requests (default 100000).
 *	-d SECONDS	measure for SECONDS instead of a request count.
 *	-w WARMUP	unmeasured requests first.
 *	-i IDLE		idle connections held during the run.
 *	-p PID		server process whose VmRSS is reported.
 *	-t PERCENT	share of TLS sessions (0-100).
 *	-m S:B:O	weights of SOR, BER and other recipient domains.
 *	-r PREFIX	expected start of a SOR rejection action.
 *	-a		expect DUNNO for every request.
 *	-T SECONDS	overall deadline (default 600).
 *	--sor, --ber, --other DOMAIN	the three recipient domains
 *			(sor.example, ber.example, other.example).
 *	--seed N	seed of the request mix (default 1).
 * EXIT STATUS
 *	0 when every answer was right, 1 when any error was counted, 2 for
 *	usage or set-up problems.
 * LIMITS
 *	CONNS + IDLE <= LOAD_CONNS_MAX, REQUESTS <= LOAD_REQUESTS_MAX,
 *	answers up to LOAD_ANSWER_MAX bytes, LOAD_POOL requests in the pool.
 *	RLIMIT_NOFILE is raised as needed.
 * DIAGNOSTICS
 *	The first few wrong answers are shown on stderr with the request's
 *	class; all are counted.
 * SECURITY
 *	Benchmark tool, never installed. Connects to loopback only; answers
 *	are untrusted and printed only after making them printable.
 * SEE ALSO
 *	Postfix SMTPD_POLICY_README; bench/README; bench/policy.sh.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "smx_listen.h"
#include "smx_util.h"

#include "bench_net.h"

#define LOAD_CONNS_MAX 60000
#define LOAD_REQUESTS_MAX 1000000000UL
#define LOAD_ANSWER_MAX 1024
#define LOAD_REQUEST_MAX 2048
#define LOAD_POOL 4096
#define LOAD_DOMAIN_MAX 253
#define LOAD_PREFIX_MAX 64
#define LOAD_EVENTS_MAX 512
#define LOAD_BATCH 128 /* connections opened before their first answers */
#define LOAD_SHOW_MAX 5
/* Histogram: exact below 2^10 us, then 64 buckets per power of two. */
#define HIST_EXACT 1024
#define HIST_SUB 64
#define HIST_BUCKETS (HIST_EXACT + (32 - 10) * HIST_SUB)

enum load_expect {
	EXPECT_DUNNO,
	EXPECT_REJECT,
};

struct load_req {
	char text[LOAD_REQUEST_MAX];
	size_t len;
	enum load_expect expect;
	const char *what; /* "sor/plain" etc., for diagnostics */
};

struct load_conn {
	int fd;
	bool is_busy;     /* a request is outstanding */
	bool is_measured; /* its answer counts */
	size_t req;       /* pool index of the outstanding request */
	size_t out_off;   /* bytes of it written */
	uint64_t sent_ns;
	size_t in_len;
	char in[LOAD_ANSWER_MAX];
};

struct load_opts {
	struct smx_listen_endpoint ep;
	unsigned long conns;
	unsigned long requests;
	unsigned long seconds;
	unsigned long warmup;
	bool has_warmup;
	unsigned long idle;
	unsigned long server_pid;
	unsigned long tls_percent;
	unsigned long weights[3];
	unsigned long timeout;
	unsigned long seed;
	const char *domains[3];
	const char *reject_prefix;
	bool is_all_dunno;
	bool is_report_rss;
};

struct load_state {
	const struct load_opts *o;
	struct load_req *pool;
	struct load_conn *conns;
	size_t n_conns;
	int epfd;
	uint64_t rng;
	uint64_t deadline_ns;
	/* Counters of the active phase. */
	unsigned long issued;   /* requests sent */
	unsigned long answered; /* answers received */
	unsigned long measured; /* answers measured */
	unsigned long errors;
	size_t n_busy;
	bool is_issuing;
	uint64_t t_start_ns; /* first measured request sent */
	uint64_t t_end_ns;   /* last measured answer */
	uint64_t hist[HIST_BUCKETS];
	uint64_t max_us;
	unsigned n_shown;
};

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: a fixed, seedable request mix, not a secret. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static size_t
hist_bucket(uint64_t us)
{
	unsigned e;

	if (us < HIST_EXACT)
		return (size_t)us;
	if (us > UINT32_MAX)
		us = UINT32_MAX;
	e = 63u - (unsigned)__builtin_clzll(us);
	return HIST_EXACT + (size_t)(e - 10) * HIST_SUB +
	    (size_t)((us >> (e - 6)) & (HIST_SUB - 1));
}

/* The middle of a bucket, in microseconds. */
static uint64_t
hist_value(size_t b)
{
	size_t e;
	uint64_t lo;
	uint64_t width;

	if (b < HIST_EXACT)
		return b;
	e = (b - HIST_EXACT) / HIST_SUB + 10;
	width = (uint64_t)1 << (e - 6);
	lo = ((uint64_t)1 << e) + ((b - HIST_EXACT) % HIST_SUB) * width;
	return lo + width / 2;
}

static uint64_t
hist_percentile(const struct load_state *st, double q)
{
	uint64_t total = 0;
	uint64_t rank;
	uint64_t seen = 0;
	size_t b;

	for (b = 0; b < HIST_BUCKETS; b++)
		total += st->hist[b];
	if (total == 0)
		return 0;
	rank = (uint64_t)(q * (double)total + 0.999999);
	if (rank == 0)
		rank = 1;
	for (b = 0; b < HIST_BUCKETS; b++) {
		seen += st->hist[b];
		if (seen >= rank)
			return hist_value(b) < st->max_us ? hist_value(b)
			                                  : st->max_us;
	}
	return st->max_us;
}

/*
 * Build one request exactly as Postfix 3.7 sends it at RCPT: every
 * attribute of check_policy_service() with USE_TLS and USE_SASL_AUTH,
 * in its order; unavailable values empty, numbers 0.
 */
static bool
build_request(struct load_req *r, size_t i, const char *domain, bool is_tls)
{
	int n;

	n = snprintf(r->text, sizeof(r->text),
	    "request=smtpd_access_policy\n"
	    "protocol_state=RCPT\n"
	    "protocol_name=ESMTP\n"
	    "client_address=127.0.0.1\n"
	    "client_name=localhost\n"
	    "client_port=%zu\n"
	    "reverse_client_name=localhost\n"
	    "server_address=127.0.0.1\n"
	    "server_port=25\n"
	    "helo_name=mail.sender1.example.net\n"
	    "sender=alice@sender1.example.net\n"
	    "recipient=user%zu@%s\n"
	    "recipient_count=0\n"
	    "queue_id=\n"
	    "instance=%zx.6b0b24ba.%05zx.0\n"
	    "size=0\n"
	    "etrn_domain=\n"
	    "stress=\n"
	    "sasl_method=\n"
	    "sasl_username=\n"
	    "sasl_sender=\n"
	    "ccert_subject=\n"
	    "ccert_issuer=\n"
	    "ccert_fingerprint=\n"
	    "ccert_pubkey_fingerprint=\n"
	    "encryption_protocol=%s\n"
	    "encryption_cipher=%s\n"
	    "encryption_keysize=%s\n"
	    "policy_context=\n"
	    "\n",
	    32768 + i % 28000, i, domain, 1000 + i % 30000, i * 7919 % 0xfffff,
	    is_tls ? "TLSv1.3" : "", is_tls ? "TLS_AES_256_GCM_SHA384" : "",
	    is_tls ? "256" : "0");
	if (n < 0 || (size_t)n >= sizeof(r->text))
		return false;
	r->len = (size_t)n;
	return true;
}

static bool
build_pool(struct load_state *st)
{
	static const char *what[3][2] = { { "sor/plain", "sor/tls" },
		{ "ber/plain", "ber/tls" }, { "other/plain", "other/tls" } };
	const struct load_opts *o = st->o;
	unsigned long wsum = o->weights[0] + o->weights[1] + o->weights[2];
	unsigned long counts[3][2] = { { 0 } };
	size_t i;

	st->pool = calloc(LOAD_POOL, sizeof(*st->pool));
	if (st->pool == NULL)
		return false;
	for (i = 0; i < LOAD_POOL; i++) {
		unsigned long w = rng_next(&st->rng) % wsum;
		size_t d = w < o->weights[0]            ? 0
		    : w < o->weights[0] + o->weights[1] ? 1
		                                        : 2;
		bool is_tls = rng_next(&st->rng) % 100 < o->tls_percent;
		struct load_req *r = &st->pool[i];

		if (!build_request(r, i, o->domains[d], is_tls))
			return false;
		r->expect = d == 0 && !is_tls && !o->is_all_dunno
		    ? EXPECT_REJECT
		    : EXPECT_DUNNO;
		r->what = what[d][is_tls];
		counts[d][is_tls]++;
	}
	fprintf(stderr,
	    "secmx-policy-load: request mix of %d: sor plain %lu tls %lu, ber plain %lu tls %lu, other plain %lu tls %lu\n",
	    LOAD_POOL, counts[0][0], counts[0][1], counts[1][0], counts[1][1],
	    counts[2][0], counts[2][1]);
	return true;
}

static void
show_bad(struct load_state *st, const struct load_conn *c, const char *why)
{
	char shown[80];
	size_t i;
	size_t n =
	    c->in_len < sizeof(shown) - 1 ? c->in_len : sizeof(shown) - 1;

	st->errors++;
	if (st->n_shown++ >= LOAD_SHOW_MAX)
		return;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)c->in[i];

		shown[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '.';
	}
	shown[n] = '\0';
	fprintf(stderr, "secmx-policy-load: %s for a %s request: \"%s\"\n", why,
	    c->is_busy ? st->pool[c->req].what : "(none)", shown);
}

/*
 * Check a complete answer of len bytes (ending in an empty line): one
 * action line as expected. Returns true when it is right.
 */
static bool
answer_ok(const struct load_state *st, const struct load_req *r, const char *a,
    size_t len)
{
	const char *value = a + 7;
	size_t vlen = len - 2 - 7; /* without "action=" and "\n\n" */
	size_t plen = strlen(st->o->reject_prefix);

	if (len < 9 || memcmp(a, "action=", 7) != 0 ||
	    memchr(value, '\n', vlen) != NULL)
		return false;
	if (r->expect == EXPECT_REJECT)
		return vlen >= plen &&
		    memcmp(value, st->o->reject_prefix, plen) == 0;
	return vlen == 5 && smx_ascii_ncasecmp(value, "DUNNO", 5) == 0;
}

static void
conn_drop(struct load_state *st, struct load_conn *c, const char *why)
{
	if (c->is_busy) {
		show_bad(st, c, why);
		c->is_busy = false;
		st->n_busy--;
	} else if (why != NULL) {
		show_bad(st, c, why);
	}
	if (c->fd >= 0) {
		(void)epoll_ctl(st->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		(void)close(c->fd);
	}
	c->fd = -1;
}

static bool
conn_watch(struct load_state *st, struct load_conn *c, uint32_t events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = c;
	return epoll_ctl(st->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0;
}

/* Write the rest of the outstanding request; wait for EPOLLOUT if full. */
static void
conn_write(struct load_state *st, struct load_conn *c)
{
	const struct load_req *r = &st->pool[c->req];

	while (c->out_off < r->len) {
		ssize_t n =
		    write(c->fd, r->text + c->out_off, r->len - c->out_off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!conn_watch(st, c, EPOLLIN | EPOLLOUT))
					conn_drop(st, c, "epoll_ctl failed");
				return;
			}
			conn_drop(st, c, "write failed");
			return;
		}
		c->out_off += (size_t)n;
	}
}

static void
conn_send(struct load_state *st, struct load_conn *c, bool is_measured)
{
	c->req = (size_t)(rng_next(&st->rng) % LOAD_POOL);
	c->out_off = 0;
	c->in_len = 0;
	c->is_busy = true;
	c->is_measured = is_measured;
	st->n_busy++;
	c->sent_ns = now_ns();
	conn_write(st, c);
}

static void
record(struct load_state *st, uint64_t sent_ns, uint64_t now)
{
	uint64_t us = (now - sent_ns) / 1000;

	st->hist[hist_bucket(us)]++;
	if (us > st->max_us)
		st->max_us = us;
	st->measured++;
	st->t_end_ns = now;
}

/* Decide whether the next request is sent, and whether it is measured. */
static void
next_request(struct load_state *st, struct load_conn *c, uint64_t now)
{
	const struct load_opts *o = st->o;

	if (!st->is_issuing || got_signal)
		return;
	if (o->seconds > 0 && st->t_start_ns != 0 &&
	    now - st->t_start_ns >= (uint64_t)o->seconds * 1000000000u) {
		st->is_issuing = false;
		return;
	}
	if (o->seconds == 0 && st->issued >= o->warmup + o->requests) {
		st->is_issuing = false;
		return;
	}
	st->issued++;
	/* The measured window opens with the first measured request. */
	if (st->issued == o->warmup + 1)
		st->t_start_ns = now;
	conn_send(st, c, st->issued > o->warmup);
}

/* Handle a readable connection: collect, check and time its answer. */
static void
conn_read(struct load_state *st, struct load_conn *c, bool is_active)
{
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	uint64_t now;
	char *end;

	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_drop(st, c, n == 0 ? "connection closed" : "read failed");
		return;
	}
	c->in_len += (size_t)n;
	if (!c->is_busy) {
		conn_drop(st, c, "unsolicited data");
		return;
	}
	end = memmem(c->in, c->in_len, "\n\n", 2);
	if (end == NULL) {
		if (c->in_len == sizeof(c->in))
			conn_drop(st, c, "answer too long");
		return;
	}
	now = now_ns();
	if ((size_t)(end + 2 - c->in) != c->in_len) {
		conn_drop(st, c, "data after the answer");
		return;
	}
	if (!answer_ok(st, &st->pool[c->req], c->in, c->in_len))
		show_bad(st, c, "wrong answer");
	c->is_busy = false;
	st->n_busy--;
	if (!is_active)
		return;
	st->answered++;
	if (c->is_measured)
		record(st, c->sent_ns, now);
	next_request(st, c, now);
}

static void
dispatch(struct load_state *st, const struct epoll_event *ev, bool is_active)
{
	struct load_conn *c = ev->data.ptr;

	if (c->fd < 0)
		return;
	if ((ev->events & EPOLLOUT) && c->is_busy) {
		conn_write(st, c);
		if (c->fd >= 0 && c->out_off == st->pool[c->req].len &&
		    !conn_watch(st, c, EPOLLIN))
			conn_drop(st, c, "epoll_ctl failed");
	}
	if (c->fd >= 0 && (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		conn_read(st, c, is_active);
}

/* Wait for events until no request is outstanding or the deadline. */
static void
run_until_idle(struct load_state *st, bool is_active)
{
	struct epoll_event events[LOAD_EVENTS_MAX];

	while (st->n_busy > 0) {
		uint64_t now = now_ns();
		int n;
		int i;

		if (now >= st->deadline_ns || got_signal)
			break;
		n = epoll_wait(st->epfd, events, LOAD_EVENTS_MAX,
		    (int)((st->deadline_ns - now) / 1000000 + 1));
		if (n < 0 && errno != EINTR) {
			perror("secmx-policy-load: epoll_wait");
			break;
		}
		for (i = 0; i < n; i++)
			dispatch(st, &events[i], is_active);
	}
}

static bool
conn_open(struct load_state *st, struct load_conn *c)
{
	struct epoll_event ev;
	char err[256];

	c->fd = bench_connect(&st->o->ep, err, sizeof(err));
	if (c->fd < 0) {
		fprintf(stderr, "secmx-policy-load: connect %s\n", err);
		return false;
	}
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0) {
		perror("secmx-policy-load: fcntl");
		return false;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		perror("secmx-policy-load: epoll_ctl");
		return false;
	}
	return true;
}

/*
 * Open connections [from, to): in batches, each connection of a batch
 * sends one request when is_primed, and the batch's answers are awaited
 * before the next batch, so the server's accept queue never overflows.
 */
static bool
open_conns(struct load_state *st, size_t from, size_t to, bool is_primed)
{
	size_t i;

	for (i = from; i < to; i++) {
		if (!conn_open(st, &st->conns[i]))
			return false;
		st->n_conns = i + 1;
		if (is_primed)
			conn_send(st, &st->conns[i], false);
		if ((i + 1 - from) % LOAD_BATCH != 0 && i + 1 != to)
			continue;
		run_until_idle(st, false);
		if (st->n_busy > 0) {
			fprintf(stderr,
			    "secmx-policy-load: no answer while connecting\n");
			return false;
		}
	}
	return true;
}

static unsigned long
read_rss_kib(unsigned long pid)
{
	char path[64];
	char line[256];
	unsigned long kib = 0;
	FILE *fp;

	(void)snprintf(path, sizeof(path), "/proc/%lu/status", pid);
	fp = fopen(path, "r");
	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		const char *p = line + 6;
		size_t len = 0;

		if (strncmp(line, "VmRSS:", 6) != 0)
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		while (p[len] >= '0' && p[len] <= '9')
			len++;
		if (smx_parse_ulong(p, len, 0, ULONG_MAX, &kib) != SMX_OK)
			kib = 0;
		break;
	}
	(void)fclose(fp);
	return kib;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: secmx-policy-load -s ENDPOINT [-c CONNS] [-n REQUESTS | -d SECONDS] [-w WARMUP] [-i IDLE] [-p PID] [-t TLS_PERCENT] [-m SOR:BER:OTHER] [-r REJECT_PREFIX] [-a] [-T TIMEOUT] [--sor D] [--ber D] [--other D] [--seed N]\n");
}

static bool
num(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	if (smx_parse_ulong(s, strlen(s), min, max, out) == SMX_OK)
		return true;
	fprintf(stderr, "secmx-policy-load: bad number \"%s\" (%lu to %lu)\n",
	    s, min, max);
	return false;
}

static bool
parse_weights(const char *s, unsigned long w[3])
{
	const char *p = s;
	int i;

	for (i = 0; i < 3; i++) {
		const char *colon = strchr(p, ':');
		size_t len = colon != NULL ? (size_t)(colon - p) : strlen(p);

		if ((i < 2) != (colon != NULL) ||
		    smx_parse_ulong(p, len, 0, 1000000, &w[i]) != SMX_OK) {
			fprintf(stderr, "secmx-policy-load: bad -m \"%s\"\n",
			    s);
			return false;
		}
		p = colon != NULL ? colon + 1 : p + len;
	}
	if (w[0] + w[1] + w[2] == 0) {
		fprintf(stderr, "secmx-policy-load: -m weights are all 0\n");
		return false;
	}
	return true;
}

static bool
check_domain(const char *d)
{
	if (strlen(d) > 0 && strlen(d) <= LOAD_DOMAIN_MAX &&
	    smx_is_hostname(d, strlen(d)))
		return true;
	fprintf(stderr, "secmx-policy-load: bad domain \"%s\"\n", d);
	return false;
}

static bool
parse_args(int argc, char **argv, struct load_opts *o)
{
	static const struct option longopts[] = { { "sor", 1, NULL, 'S' },
		{ "ber", 1, NULL, 'B' }, { "other", 1, NULL, 'O' },
		{ "seed", 1, NULL, 'e' }, { NULL, 0, NULL, 0 } };
	const char *endpoint = NULL;
	char err[256];
	int ch;
	bool ok = true;

	o->conns = 8;
	o->requests = 100000;
	o->tls_percent = 50;
	o->weights[0] = 1;
	o->weights[1] = 1;
	o->weights[2] = 2;
	o->timeout = 600;
	o->seed = 1;
	o->domains[0] = "sor.example";
	o->domains[1] = "ber.example";
	o->domains[2] = "other.example";
	o->reject_prefix = "530 ";
	while (ok &&
	    (ch = getopt_long(argc, argv, "s:c:n:d:w:i:p:t:m:r:aT:", longopts,
	         NULL)) != -1) {
		switch (ch) {
		case 's':
			endpoint = optarg;
			break;
		case 'c':
			ok = num(optarg, 1, LOAD_CONNS_MAX, &o->conns);
			break;
		case 'n':
			ok = num(optarg, 1, LOAD_REQUESTS_MAX, &o->requests);
			break;
		case 'd':
			ok = num(optarg, 1, 86400, &o->seconds);
			break;
		case 'w':
			ok = num(optarg, 0, LOAD_REQUESTS_MAX, &o->warmup);
			o->has_warmup = true;
			break;
		case 'i':
			ok = num(optarg, 0, LOAD_CONNS_MAX, &o->idle);
			break;
		case 'p':
			ok = num(optarg, 1, 4194304, &o->server_pid);
			o->is_report_rss = true;
			break;
		case 't':
			ok = num(optarg, 0, 100, &o->tls_percent);
			break;
		case 'm':
			ok = parse_weights(optarg, o->weights);
			break;
		case 'r':
			o->reject_prefix = optarg;
			ok = strlen(optarg) > 0 &&
			    strlen(optarg) <= LOAD_PREFIX_MAX;
			break;
		case 'a':
			o->is_all_dunno = true;
			break;
		case 'T':
			ok = num(optarg, 1, 86400, &o->timeout);
			break;
		case 'S':
			o->domains[0] = optarg;
			break;
		case 'B':
			o->domains[1] = optarg;
			break;
		case 'O':
			o->domains[2] = optarg;
			break;
		case 'e':
			ok = num(optarg, 1, ULONG_MAX, &o->seed);
			break;
		default:
			ok = false;
			break;
		}
	}
	if (!ok || optind != argc || endpoint == NULL ||
	    o->conns + o->idle > LOAD_CONNS_MAX ||
	    !check_domain(o->domains[0]) || !check_domain(o->domains[1]) ||
	    !check_domain(o->domains[2]))
		return false;
	if (o->idle > 0)
		o->is_report_rss = true;
	if (!o->has_warmup) {
		o->warmup = o->seconds > 0 ? o->conns * 100 : o->requests / 10;
		/* Every connection answered twice: pre-forking servers have
		 * started a process for each. */
		if (o->warmup < 2 * o->conns)
			o->warmup = 2 * o->conns;
		if (o->warmup < 100)
			o->warmup = 100;
	}
	if (smx_listen_parse(endpoint, &o->ep, err, sizeof(err)) != SMX_OK ||
	    (o->ep.kind == SMX_LISTEN_INET &&
	        !bench_is_loopback_host(o->ep.host, err, sizeof(err)))) {
		fprintf(stderr, "secmx-policy-load: %s\n", err);
		return false;
	}
	return true;
}

static void
report(const struct load_state *st)
{
	const struct load_opts *o = st->o;
	double secs = (double)(st->t_end_ns - st->t_start_ns) / 1e9;
	double rps = secs > 0 ? (double)st->measured / secs : 0;
	unsigned long rss = o->is_report_rss ? read_rss_kib(o->server_pid) : 0;

	if (o->is_report_rss)
		printf("idle=%lu active=%lu ", o->idle, o->conns);
	else
		printf("conns=%lu ", o->conns);
	printf("reqs=%lu rps=%.0f p50_us=%" PRIu64 " p99_us=%" PRIu64
	       " max_us=%" PRIu64,
	    st->measured, rps, hist_percentile(st, 0.50),
	    hist_percentile(st, 0.99), st->max_us);
	if (o->is_report_rss)
		printf(" rss_kib=%lu", rss);
	printf(" errors=%lu\n", st->errors);
	(void)fflush(stdout);
}

int
main(int argc, char **argv)
{
	static struct load_state st;
	struct load_opts o;
	size_t total;
	size_t i;
	int rc = 2;

	memset(&o, 0, sizeof(o));
	if (!parse_args(argc, argv, &o)) {
		usage();
		return 2;
	}
	st.o = &o;
	st.rng = o.seed * 0x9E3779B97F4A7C15ULL + 1;
	total = o.conns + o.idle;
	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGINT, on_signal);
	(void)signal(SIGTERM, on_signal);
	if (!bench_raise_nofile(total + 64)) {
		perror("secmx-policy-load: setrlimit RLIMIT_NOFILE");
		return 2;
	}
	st.conns = calloc(total, sizeof(*st.conns));
	st.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (st.conns == NULL || st.epfd < 0 || !build_pool(&st)) {
		perror("secmx-policy-load: set-up");
		goto done;
	}
	for (i = 0; i < total; i++)
		st.conns[i].fd = -1;
	st.deadline_ns = now_ns() + (uint64_t)o.timeout * 1000000000u;
	if (!open_conns(&st, 0, o.idle, true) ||
	    !open_conns(&st, o.idle, total, false))
		goto done;
	fprintf(stderr,
	    "secmx-policy-load: %lu idle and %lu active connections open\n",
	    o.idle, o.conns);
	st.is_issuing = true;
	for (i = o.idle; i < total; i++)
		next_request(&st, &st.conns[i], now_ns());
	run_until_idle(&st, true);
	if (st.n_busy > 0) {
		fprintf(stderr,
		    "secmx-policy-load: %zu requests unanswered at the deadline\n",
		    st.n_busy);
		st.errors += st.n_busy;
	}
	if (o.seconds == 0 && st.issued < o.warmup + o.requests)
		st.errors += o.warmup + o.requests - st.issued;
	report(&st);
	rc = st.errors > 0 || got_signal ? 1 : 0;
done:
	for (i = 0; i < st.n_conns; i++) {
		if (st.conns[i].fd >= 0)
			(void)close(st.conns[i].fd);
	}
	free(st.conns);
	free(st.pool);
	if (st.epfd >= 0)
		(void)close(st.epfd);
	return rc;
}
