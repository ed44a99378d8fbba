/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	secmx-policy-floor - the smallest correct policy server, for
 *	benchmarks
 * SYNOPSIS
 *	secmx-policy-floor -l ENDPOINT [-l ENDPOINT]...
 * DESCRIPTION
 *	Speaks the framing of the Postfix SMTPD policy delegation protocol
 *	and nothing else: every request (lines up to an empty line) gets
 *	"action=DUNNO" and an empty line. Requests are not parsed or
 *	stored; each connection keeps one bit (is the next byte the start
 *	of a line?) and a count of replies it still owes, so a request split
 *	over many reads and several requests in one read (pipelining) are
 *	both answered correctly, in order. One process, one epoll loop,
 *	non-blocking descriptors, one read(2) per readable event and one
 *	write(2) for all the replies that read completed.
 *
 *	This is the floor secmx-policyd is measured against: what loopback,
 *	the kernel and an event loop cost before any policy work is done.
 *	It runs in the foreground until SIGTERM or SIGINT.
 *
 *	ENDPOINT is unix:PATH or inet:HOST:PORT, as for secmx-policyd; inet
 *	endpoints must be loopback addresses (127.0.0.0/8 or ::1).
 * LIMITS
 *	FLOOR_READ_MAX bytes per read. A connection that owes more than
 *	FLOOR_OWED_MAX replies (a peer that sends without reading) is no
 *	longer read until its replies drain. Connections are limited by
 *	RLIMIT_NOFILE, which is raised to its hard limit.
 * DIAGNOSTICS
 *	Start-up problems go to stderr and exit 1; per-connection errors
 *	close that connection silently. Exit 0 on SIGTERM or SIGINT.
 * SECURITY
 *	Benchmark tool, never installed. Input is only scanned for LF bytes;
 *	it never reaches an output.
 * SEE ALSO
 *	Postfix SMTPD_POLICY_README; epoll(7); bench/README.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "smx_listen.h"

#include "bench_net.h"

#define FLOOR_READ_MAX 65536
#define FLOOR_EVENTS_MAX 256
#define FLOOR_ENDPOINTS_MAX 8
#define FLOOR_LISTEN_MAX (FLOOR_ENDPOINTS_MAX * SMX_LISTEN_FDS_MAX)
#define FLOOR_OWED_MAX 4096
#define REPLY "action=DUNNO\n\n"
#define REPLY_LEN (sizeof(REPLY) - 1)
/* Replies sent with one write: 4681 of them fit in 64 KiB. */
#define FLOOR_BATCH_MAX (65536 / REPLY_LEN)

enum floor_kind {
	FLOOR_LISTENER,
	FLOOR_SIGNAL,
	FLOOR_CONN,
};

/* kind is the first member of every event source. */
struct floor_src {
	enum floor_kind kind;
	int fd;
};

struct floor_conn {
	enum floor_kind kind;
	int fd;
	bool is_line_start; /* the next byte begins a line */
	bool is_blocked;    /* waiting for EPOLLOUT, not reading */
	size_t owed;        /* replies not yet written */
	size_t partial;     /* bytes of the first owed reply already sent */
};

static char rbuf[FLOOR_READ_MAX];
static char wbuf[FLOOR_BATCH_MAX * REPLY_LEN];

static void
conn_close(int epfd, struct floor_conn *c)
{
	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	(void)close(c->fd);
	free(c);
}

static bool
conn_watch(int epfd, struct floor_conn *c, bool is_blocked)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = is_blocked ? EPOLLOUT : EPOLLIN;
	ev.data.ptr = c;
	c->is_blocked = is_blocked;
	return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0;
}

/*
 * Write what is owed, at most FLOOR_BATCH_MAX replies per call. Returns
 * false when the connection must be closed.
 */
static bool
conn_send(int epfd, struct floor_conn *c)
{
	while (c->owed > 0) {
		size_t n_replies =
		    c->owed < FLOOR_BATCH_MAX ? c->owed : FLOOR_BATCH_MAX;
		size_t len = n_replies * REPLY_LEN - c->partial;
		ssize_t n = write(c->fd, wbuf + c->partial, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return false;
			return c->is_blocked || conn_watch(epfd, c, true);
		}
		c->owed -= ((size_t)n + c->partial) / REPLY_LEN;
		c->partial = ((size_t)n + c->partial) % REPLY_LEN;
		if ((size_t)n < len)
			return c->is_blocked || conn_watch(epfd, c, true);
	}
	return !c->is_blocked || conn_watch(epfd, c, false);
}

/* Count the requests that end in buf: an LF at the start of a line. */
static size_t
count_requests(struct floor_conn *c, const char *buf, size_t len)
{
	const char *p = buf;
	const char *end = buf + len;
	size_t n = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL) {
			c->is_line_start = false;
			break;
		}
		if (nl == p && c->is_line_start)
			n++;
		c->is_line_start = true;
		p = nl + 1;
	}
	return n;
}

static void
conn_readable(int epfd, struct floor_conn *c)
{
	ssize_t n = read(c->fd, rbuf, sizeof(rbuf));

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_close(epfd, c);
		return;
	}
	if (n == 0) {
		conn_close(epfd, c);
		return;
	}
	c->owed += count_requests(c, rbuf, (size_t)n);
	if (c->owed > 0 && !conn_send(epfd, c)) {
		conn_close(epfd, c);
		return;
	}
	/* A peer that does not read is not read either (back-pressure). */
	if (c->owed > FLOOR_OWED_MAX && !c->is_blocked &&
	    !conn_watch(epfd, c, true))
		conn_close(epfd, c);
}

static void
on_listener(int epfd, const struct floor_src *l)
{
	int i;

	for (i = 0; i < 64; i++) {
		struct epoll_event ev;
		struct floor_conn *c;
		int fd;

		if (smx_listen_accept(l->fd, &fd) != SMX_OK)
			return;
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			(void)close(fd);
			return;
		}
		c->kind = FLOOR_CONN;
		c->fd = fd;
		c->is_line_start = true;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			(void)close(fd);
			free(c);
			return;
		}
	}
}

static int
add_src(int epfd, struct floor_src *src)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = src;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, src->fd, &ev);
}

static int
open_listeners(int argc, char **argv, struct floor_src *out, size_t *n_out)
{
	struct smx_listen_opts opts;
	int ch;

	smx_listen_opts_init(&opts);
	opts.mode = 0666;
	*n_out = 0;
	while ((ch = getopt(argc, argv, "l:")) != -1) {
		struct smx_listen_endpoint ep;
		int fds[SMX_LISTEN_FDS_MAX];
		size_t n_fds = 0;
		size_t i;
		char err[256];

		if (ch != 'l')
			return -1;
		if (smx_listen_parse(optarg, &ep, err, sizeof(err)) != SMX_OK ||
		    (ep.kind == SMX_LISTEN_INET &&
		        !bench_is_loopback_host(ep.host, err, sizeof(err)))) {
			fprintf(stderr, "secmx-policy-floor: %s\n", err);
			return -1;
		}
		if (*n_out + SMX_LISTEN_FDS_MAX > FLOOR_LISTEN_MAX) {
			fprintf(stderr, "secmx-policy-floor: too many -l\n");
			return -1;
		}
		if (smx_listen_open(&ep, &opts, fds, SMX_LISTEN_FDS_MAX, &n_fds,
		        err, sizeof(err)) != SMX_OK) {
			fprintf(stderr, "secmx-policy-floor: %s\n", err);
			return -1;
		}
		for (i = 0; i < n_fds; i++) {
			out[*n_out].kind = FLOOR_LISTENER;
			out[*n_out].fd = fds[i];
			(*n_out)++;
		}
	}
	if (optind != argc || *n_out == 0) {
		fprintf(stderr,
		    "usage: secmx-policy-floor -l ENDPOINT [-l ENDPOINT]...\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct floor_src listeners[FLOOR_LISTEN_MAX];
	struct epoll_event events[FLOOR_EVENTS_MAX];
	struct floor_src sig;
	size_t n_listeners = 0;
	sigset_t mask;
	size_t i;
	int epfd;

	for (i = 0; i < FLOOR_BATCH_MAX; i++)
		memcpy(wbuf + i * REPLY_LEN, REPLY, REPLY_LEN);
	if (open_listeners(argc, argv, listeners, &n_listeners) != 0)
		return 1;
	if (!bench_raise_nofile(0)) {
		perror("secmx-policy-floor: setrlimit RLIMIT_NOFILE");
		return 1;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	sig.kind = FLOOR_SIGNAL;
	sig.fd = -1;
	if (epfd >= 0 && sigprocmask(SIG_BLOCK, &mask, NULL) == 0)
		sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig.fd < 0 || add_src(epfd, &sig) != 0) {
		perror("secmx-policy-floor: event loop setup");
		return 1;
	}
	for (i = 0; i < n_listeners; i++) {
		if (add_src(epfd, &listeners[i]) != 0) {
			perror("secmx-policy-floor: epoll_ctl");
			return 1;
		}
	}
	for (;;) {
		int n = epoll_wait(epfd, events, FLOOR_EVENTS_MAX, -1);
		int k;

		if (n < 0 && errno != EINTR) {
			perror("secmx-policy-floor: epoll_wait");
			return 1;
		}
		for (k = 0; k < n; k++) {
			enum floor_kind kind =
			    *(const enum floor_kind *)events[k].data.ptr;
			struct floor_conn *c = events[k].data.ptr;

			if (kind == FLOOR_SIGNAL)
				return 0;
			if (kind == FLOOR_LISTENER) {
				on_listener(epfd, events[k].data.ptr);
			} else if (c->is_blocked) {
				if (!conn_send(epfd, c))
					conn_close(epfd, c);
			} else {
				conn_readable(epfd, c);
			}
		}
	}
}
