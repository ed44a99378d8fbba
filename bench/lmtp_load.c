/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	secmx-lmtp-load - concurrent big LMTP deliveries, for the peak
 *	memory of secmx-lmtpd
 * SYNOPSIS
 *	secmx-lmtp-load -s ENDPOINT [-c CONNS] [-z SIZE_KIB] [-p PID]
 *	    [-f SENDER] [-r RECIPIENT] [-T SECONDS]
 * DESCRIPTION
 *	Opens CONNS connections to an LMTP server at ENDPOINT (unix:PATH or
 *	inet:HOST:PORT on loopback), one thread each, and sends one message
 *	of SIZE_KIB KiB on each: LHLO, MAIL FROM:<SENDER>, RCPT
 *	TO:<RECIPIENT>, DATA, the message (headers, then base64-like lines
 *	of 76 characters, none starting with a dot, CRLF line ends), and
 *	the end of data. Every thread sends its whole message except the
 *	final ".", then waits at a barrier until all have; then all send
 *	the end of data at once, so that CONNS deliveries are in the
 *	server's hands at the same time. Each then reads the one reply
 *	(RFC 2033: one per recipient), which must be 2xx, and quits.
 *
 *	in flight: a connection counts from the moment its end of data was
 *	written until its reply arrived; max_inflight is the largest count
 *	seen. With -p, the main thread samples /proc/PID/status every 10 ms
 *	while the threads run (max_threads: the most threads the server
 *	had; a thread-per-connection server shows CONNS + 1) and reads its
 *	VmHWM (peak resident set size over its lifetime) at the end.
 *
 *	One line on stdout:
 *	conns=N size_kib=S ok=K max_inflight=M max_threads=T seconds=X
 *	hwm_kib=H errors=E
 *	(max_threads and hwm_kib 0 without -p). Details go to stderr.
 * OPTIONS
 *	-s ENDPOINT	LMTP server (required).
 *	-c CONNS	concurrent connections and messages (default 20).
 *	-z SIZE_KIB	size of each message in KiB (default 10240).
 *	-p PID		server process to watch.
 *	-f SENDER	envelope sender (default sos@sos.sender.test).
 *	-r RECIPIENT	envelope recipient (default big@bench.test).
 *	-T SECONDS	time limit of every read and write (default 300).
 * EXIT STATUS
 *	0 when every message got a 2xx reply, 1 when any did not, 2 for
 *	usage or set-up problems.
 * LIMITS
 *	CONNS <= LOAD_CONNS_MAX, SIZE_KIB <= LOAD_SIZE_MAX_KIB, reply lines
 *	up to LOAD_LINE_MAX bytes, LOAD_REPLY_LINES_MAX lines per reply.
 * SECURITY
 *	Benchmark tool, never installed. Connects to loopback only; replies
 *	are untrusted and shown only after making them printable.
 * SEE ALSO
 *	RFC 2033; bench/README; bench/delivery.sh.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "smx_listen.h"
#include "smx_util.h"

#include "bench_net.h"

#define LOAD_CONNS_MAX 256
#define LOAD_SIZE_MAX_KIB (1024UL * 1024)
#define LOAD_LINE_MAX 1024
#define LOAD_REPLY_LINES_MAX 100
#define LOAD_ADDR_MAX 256
#define LOAD_CHUNK (64 * 1024)

struct load_opts {
	struct smx_listen_endpoint ep;
	unsigned long conns;
	unsigned long size_kib;
	unsigned long pid;
	unsigned long timeout_s;
	const char *sender;
	const char *rcpt;
};

/* The barrier before the end of data; it gives way at the deadline. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long arrived;
	unsigned long want;
};

struct shared {
	const struct load_opts *o;
	struct gate gate;
	atomic_ulong inflight;
	atomic_ulong max_inflight;
	atomic_ulong ok;
	atomic_ulong errors;
	atomic_bool is_done;
};

struct conn {
	struct shared *sh;
	unsigned long id;
	int fd;
	char in[LOAD_LINE_MAX * 4];
	size_t in_len;
};

/* Printable copy of a reply line for stderr. */
static void
show(const struct conn *c, const char *what, const char *line)
{
	char buf[LOAD_LINE_MAX];
	size_t i;

	for (i = 0; line[i] != '\0' && i + 1 < sizeof(buf); i++) {
		unsigned char ch = (unsigned char)line[i];

		buf[i] = ch >= ' ' && ch < 127 ? (char)ch : '?';
	}
	buf[i] = '\0';
	fprintf(stderr, "secmx-lmtp-load: connection %lu: %s: %s\n", c->id,
	    what, buf);
}

static bool
write_all(struct conn *c, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			show(c, "write", strerror(errno));
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* One reply line into line (without CRLF); false on error or EOF. */
static bool
read_line(struct conn *c, char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(c->in, '\n', c->in_len);
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - c->in);
			size_t used = len + 1;

			if (len > 0 && c->in[len - 1] == '\r')
				len--;
			if (len >= size)
				len = size - 1;
			memcpy(line, c->in, len);
			line[len] = '\0';
			memmove(c->in, c->in + used, c->in_len - used);
			c->in_len -= used;
			return true;
		}
		if (c->in_len == sizeof(c->in)) {
			show(c, "read", "reply line too long");
			return false;
		}
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len,
		    0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			show(c, "read",
			    n == 0 ? "connection closed" : strerror(errno));
			return false;
		}
		c->in_len += (size_t)n;
	}
}

/*
 * One whole reply; true when its code is want_class xx. The last line
 * of the reply is left in line.
 */
static bool
reply(struct conn *c, char want_class, const char *what)
{
	char line[LOAD_LINE_MAX];
	unsigned n;

	for (n = 0; n < LOAD_REPLY_LINES_MAX; n++) {
		if (!read_line(c, line, sizeof(line)))
			return false;
		if (strlen(line) < 3 ||
		    (line[3] != '\0' && line[3] != ' ' && line[3] != '-')) {
			show(c, what, line);
			return false;
		}
		if (line[3] == '-')
			continue;
		if (line[0] != want_class) {
			show(c, what, line);
			return false;
		}
		return true;
	}
	show(c, what, "too many reply lines");
	return false;
}

static bool
command(struct conn *c, const char *cmd, char want_class)
{
	return write_all(c, cmd, strlen(cmd)) && reply(c, want_class, cmd);
}

/* The message without its final ".": headers and size_kib KiB in all. */
static bool
send_message(struct conn *c)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const struct load_opts *o = c->sh->o;
	char *buf;
	size_t total = o->size_kib * 1024;
	size_t sent;
	size_t len = 0;
	unsigned long x = 2463534242UL + c->id;
	bool ok = true;
	int n;

	if ((buf = malloc(LOAD_CHUNK)) == NULL)
		return false;
	n = snprintf(buf, LOAD_CHUNK,
	    "From: <%s>\r\nTo: <%s>\r\nSubject: secmx-bench lmtp-load %lu\r\n"
	    "Message-ID: <lmtp-load.%ld.%lu@sos.sender.test>\r\n\r\n",
	    o->sender, o->rcpt, c->id, (long)getpid(), c->id);
	if (n < 0 || (size_t)n >= LOAD_CHUNK) {
		free(buf);
		return false;
	}
	len = (size_t)n;
	sent = 0;
	/* Lines of 76 characters and CRLF; the last may be shorter. */
	while (ok && sent + len + 3 <= total) {
		size_t left = total - sent - len;
		size_t line = left >= 78 ? 76 : left - 2;
		size_t i;

		if (len + 78 > LOAD_CHUNK) {
			ok = write_all(c, buf, len);
			sent += len;
			len = 0;
			continue;
		}
		for (i = 0; i < line; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[len++] = alphabet[x & 63];
		}
		buf[len++] = '\r';
		buf[len++] = '\n';
	}
	if (ok && len > 0)
		ok = write_all(c, buf, len);
	free(buf);
	return ok;
}

static void
gate_pass(struct gate *g, unsigned long timeout_s)
{
	struct timespec until;

	(void)clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)timeout_s;
	(void)pthread_mutex_lock(&g->lock);
	if (++g->arrived >= g->want)
		(void)pthread_cond_broadcast(&g->cond);
	while (g->arrived < g->want) {
		if (pthread_cond_timedwait(&g->cond, &g->lock, &until) ==
		    ETIMEDOUT)
			break;
	}
	(void)pthread_mutex_unlock(&g->lock);
}

static void
note_max(atomic_ulong *max, unsigned long v)
{
	unsigned long m = atomic_load(max);

	while (v > m && !atomic_compare_exchange_weak(max, &m, v))
		;
}

static void *
conn_thread(void *arg)
{
	struct conn *c = arg;
	struct shared *sh = c->sh;
	const struct load_opts *o = sh->o;
	char cmd[LOAD_ADDR_MAX + 32];
	char err[256];
	struct timeval tv = { .tv_sec = (time_t)o->timeout_s };
	bool at_gate = false;
	bool ok = false;

	c->fd = bench_connect(&o->ep, err, sizeof(err));
	if (c->fd < 0) {
		show(c, "connect", err);
		goto out;
	}
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!reply(c, '2', "greeting") ||
	    !command(c, "LHLO lmtp-load.test\r\n", '2'))
		goto out;
	(void)snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", o->sender);
	if (!command(c, cmd, '2'))
		goto out;
	(void)snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", o->rcpt);
	if (!command(c, cmd, '2') || !command(c, "DATA\r\n", '3') ||
	    !send_message(c))
		goto out;
	at_gate = true;
	gate_pass(&sh->gate, o->timeout_s);
	if (!write_all(c, ".\r\n", 3))
		goto out;
	note_max(&sh->max_inflight, atomic_fetch_add(&sh->inflight, 1) + 1);
	ok = reply(c, '2', "end of data");
	atomic_fetch_sub(&sh->inflight, 1);
	if (ok)
		(void)command(c, "QUIT\r\n", '2');
out:
	if (!at_gate)
		gate_pass(&sh->gate, 0); /* do not hold the others up */
	if (c->fd >= 0)
		(void)close(c->fd);
	if (ok)
		atomic_fetch_add(&sh->ok, 1);
	else
		atomic_fetch_add(&sh->errors, 1);
	return NULL;
}

/* A "Name: value kB" field of /proc/PID/status, or 0. */
static unsigned long
proc_status(unsigned long pid, const char *name)
{
	char path[64];
	char line[256];
	size_t nlen = strlen(name);
	unsigned long v = 0;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%lu/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *p = line + nlen + 1;
			size_t len;

			while (*p == ' ' || *p == '\t')
				p++;
			len = strspn(p, "0123456789");
			if (smx_parse_ulong(p, len, 0, ULONG_MAX, &v) != SMX_OK)
				v = 0;
			break;
		}
	}
	(void)fclose(f);
	return v;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: secmx-lmtp-load -s ENDPOINT [-c CONNS] [-z SIZE_KIB] [-p PID] [-f SENDER] [-r RECIPIENT] [-T SECONDS]\n");
	exit(2);
}

static unsigned long
number(const char *s, unsigned long min, unsigned long max)
{
	unsigned long v;

	if (smx_parse_ulong(s, strlen(s), min, max, &v) != SMX_OK)
		usage();
	return v;
}

static double
now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static struct load_opts o;
	static struct shared sh;
	struct conn *conns;
	pthread_t *tids;
	char err[256];
	unsigned long i;
	unsigned long n_started = 0;
	unsigned long max_threads = 0;
	unsigned long hwm = 0;
	double t0;
	int ch;

	o.conns = 20;
	o.size_kib = 10240;
	o.timeout_s = 300;
	o.sender = "sos@sos.sender.test";
	o.rcpt = "big@bench.test";
	while ((ch = getopt(argc, argv, "s:c:z:p:f:r:T:")) != -1) {
		switch (ch) {
		case 's':
			if (smx_listen_parse(optarg, &o.ep, err, sizeof(err)) !=
			    SMX_OK) {
				fprintf(stderr, "secmx-lmtp-load: %s\n", err);
				return 2;
			}
			break;
		case 'c':
			o.conns = number(optarg, 1, LOAD_CONNS_MAX);
			break;
		case 'z':
			o.size_kib = number(optarg, 1, LOAD_SIZE_MAX_KIB);
			break;
		case 'p':
			o.pid = number(optarg, 1, INT_MAX);
			break;
		case 'f':
			o.sender = optarg;
			break;
		case 'r':
			o.rcpt = optarg;
			break;
		case 'T':
			o.timeout_s = number(optarg, 1, 86400);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.ep.text[0] == '\0' ||
	    strlen(o.sender) > LOAD_ADDR_MAX ||
	    strlen(o.rcpt) > LOAD_ADDR_MAX ||
	    strpbrk(o.sender, "\r\n<>") != NULL ||
	    strpbrk(o.rcpt, "\r\n<>") != NULL)
		usage();
	if (!bench_raise_nofile(o.conns + 16)) {
		fprintf(stderr, "secmx-lmtp-load: RLIMIT_NOFILE: %s\n",
		    strerror(errno));
		return 2;
	}
	sh.o = &o;
	(void)pthread_mutex_init(&sh.gate.lock, NULL);
	(void)pthread_cond_init(&sh.gate.cond, NULL);
	sh.gate.want = o.conns;
	conns = calloc(o.conns, sizeof(*conns));
	tids = calloc(o.conns, sizeof(*tids));
	if (conns == NULL || tids == NULL) {
		fprintf(stderr, "secmx-lmtp-load: out of memory\n");
		return 2;
	}
	t0 = now_s();
	for (i = 0; i < o.conns; i++) {
		conns[i].sh = &sh;
		conns[i].id = i + 1;
		conns[i].fd = -1;
		if (pthread_create(&tids[i], NULL, conn_thread, &conns[i]) !=
		    0) {
			fprintf(stderr,
			    "secmx-lmtp-load: cannot start thread %lu\n",
			    i + 1);
			break;
		}
		n_started++;
	}
	/* Threads that never started count as errors and as arrived. */
	for (i = n_started; i < o.conns; i++) {
		atomic_fetch_add(&sh.errors, 1);
		gate_pass(&sh.gate, 0);
	}
	while (o.pid != 0 &&
	    atomic_load(&sh.ok) + atomic_load(&sh.errors) < o.conns) {
		unsigned long t = proc_status(o.pid, "Threads");

		if (t > max_threads)
			max_threads = t;
		(void)usleep(10000);
	}
	for (i = 0; i < n_started; i++)
		(void)pthread_join(tids[i], NULL);
	if (o.pid != 0)
		hwm = proc_status(o.pid, "VmHWM");
	printf(
	    "conns=%lu size_kib=%lu ok=%lu max_inflight=%lu max_threads=%lu seconds=%.2f hwm_kib=%lu errors=%lu\n",
	    o.conns, o.size_kib, atomic_load(&sh.ok),
	    atomic_load(&sh.max_inflight), max_threads, now_s() - t0, hwm,
	    atomic_load(&sh.errors));
	free(conns);
	free(tids);
	return atomic_load(&sh.errors) == 0 ? 0 : 1;
}
