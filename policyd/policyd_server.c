/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	policyd_server - event loop of secmx-policyd
 * DESCRIPTION
 *	One process, one epoll loop, every descriptor non-blocking. Each
 *	connection costs a small struct; a buffer for input exists only
 *	while a request is incomplete (or while output is blocked), and one
 *	for output only while the peer is not reading. A readable event does
 *	one read into a shared buffer, answers every complete request in it
 *	and sends all the replies with one write, so pipelined requests cost
 *	one read and one write per batch. A peer that does not read its
 *	replies is no longer read from until its output drains
 *	(back-pressure), so it cannot make the server buffer without bound
 *	or stall other connections.
 *
 *	Timers are two lists ordered by time of entry: connections in the
 *	middle of a request (or with blocked output) expire request_timeout
 *	after the request began, connections idle between requests after
 *	idle_timeout. Only list heads are examined, so a timer tick is O(1)
 *	per expired connection and never scans all connections.
 *
 *	Signals arrive through a signalfd: SIGHUP reloads the configuration
 *	(a new one replaces the old only when it loaded completely) and
 *	reopens a log file in any case (log rotation); SIGTERM and SIGINT
 *	end the loop.
 * LIMITS
 *	Requests as in policy_proto. READ_MAX bytes per read; input held per
 *	connection is at most POLICY_REQUEST_MAX + READ_MAX bytes.
 * DIAGNOSTICS
 *	Malformed requests: "warning: peer=..., status=disconnected
 *	(malformed request: reason)", and the connection is closed without a
 *	reply, as SMTPD_POLICY_README requires. Timeouts and I/O errors are
 *	logged per connection; setup failures make policyd_server_run return
 *	SMX_TEMPFAIL.
 * SECURITY
 *	Every byte from a connection is untrusted. Runs as the unprivileged
 *	user main() switched to; the configuration is reloaded with those
 *	privileges.
 * SEE ALSO
 *	Postfix SMTPD_POLICY_README, spawn(8); epoll(7), signalfd(2).
 */
#define _GNU_SOURCE
#include "policyd_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "smx_decision.h"
#include "smx_io.h"
#include "smx_limits.h"
#include "smx_listen.h"
#include "smx_log.h"

#include "policy_proto.h"

#define READ_MAX 65536  /* one read(2) */
#define WRITE_MAX 65536 /* replies batched before one write(2) */
#define EVENTS_MAX 256  /* epoll events per wait */
#define ACCEPT_BURST 64 /* accepts per listener event, for fairness */
#define IN_CAP_MIN 1024 /* first partial-request allocation */
#define PEER_MAX 128    /* printable peer name */
#define REASON_MAX 128  /* reason text of a malformed request */
#define REPLY_BUF (POLICY_REPLY_MAX + 16)

enum ev_kind {
	EV_LISTENER,
	EV_SIGNAL,
	EV_CONN,
};

/* A listener or the signalfd; kind must stay the first member. */
struct ev_src {
	enum ev_kind kind;
	int fd;
};

struct conn {
	enum ev_kind kind; /* EV_CONN; first member, as in ev_src */
	int in_fd;
	int out_fd;
	bool is_blocked; /* output pending: not reading */
	bool is_busy;    /* on the busy list, else on the idle list */
	uint64_t since;  /* ms: entry into the current list */
	struct conn *prev;
	struct conn *next;
	struct policy_scan scan; /* of the request at in[0] */
	char *in;                /* unconsumed input, or NULL */
	size_t in_len;
	size_t in_cap;
	char *out; /* unsent replies, or NULL */
	size_t out_len;
	size_t out_off;
};

struct conn_list {
	struct conn *head;
	struct conn *tail;
};

struct server {
	const struct policyd_server_opts *opts;
	struct smx_config *cfg;
	int epfd;
	struct ev_src sig;
	struct ev_src *listeners;
	size_t n_listeners;
	struct conn_list busy;
	struct conn_list idle;
	size_t n_conns;
	bool is_spawn;
	bool is_accept_paused;
	bool is_done;
	char rbuf[READ_MAX];
	char wbuf[WRITE_MAX];
	size_t wlen;
};

static void
list_remove(struct conn_list *l, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = NULL;
	c->next = NULL;
}

static void
list_append(struct conn_list *l, struct conn *c)
{
	c->prev = l->tail;
	c->next = NULL;
	if (l->tail != NULL)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

/* Move c to the tail of the list its state selects, stamped now. */
static void
conn_stamp(struct server *sv, struct conn *c, bool is_busy)
{
	list_remove(c->is_busy ? &sv->busy : &sv->idle, c);
	c->is_busy = is_busy;
	c->since = (uint64_t)smx_io_now_ms();
	list_append(is_busy ? &sv->busy : &sv->idle, c);
}

static void
conn_peer(const struct conn *c, char *out, size_t outlen)
{
	smx_listen_peer(c->in_fd, out, outlen);
}

static void
listeners_enable(struct server *sv, bool on)
{
	size_t i;

	for (i = 0; i < sv->n_listeners; i++) {
		struct epoll_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.events = on ? EPOLLIN : 0;
		ev.data.ptr = &sv->listeners[i];
		if (epoll_ctl(sv->epfd, EPOLL_CTL_MOD, sv->listeners[i].fd,
		        &ev) != 0)
			smx_log_error_errno("epoll_ctl listener");
	}
	sv->is_accept_paused = !on;
}

static void
conn_close(struct server *sv, struct conn *c)
{
	list_remove(c->is_busy ? &sv->busy : &sv->idle, c);
	(void)epoll_ctl(sv->epfd, EPOLL_CTL_DEL, c->in_fd, NULL);
	if (c->out_fd != c->in_fd && c->is_blocked)
		(void)epoll_ctl(sv->epfd, EPOLL_CTL_DEL, c->out_fd, NULL);
	if (!sv->is_spawn) {
		if (close(c->in_fd) != 0)
			smx_log_warning_errno("close connection");
	}
	free(c->in);
	free(c->out);
	free(c);
	sv->n_conns--;
	if (sv->is_spawn)
		sv->is_done = true;
	else if (sv->is_accept_paused)
		listeners_enable(sv, true);
}

/* Stop reading and wait for the output to drain, or the reverse. */
static bool
conn_set_blocked(struct server *sv, struct conn *c, bool is_blocked)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.data.ptr = c;
	c->is_blocked = is_blocked;
	if (c->out_fd == c->in_fd) {
		ev.events = is_blocked ? EPOLLOUT : EPOLLIN;
		return epoll_ctl(sv->epfd, EPOLL_CTL_MOD, c->in_fd, &ev) == 0;
	}
	ev.events = is_blocked ? 0 : EPOLLIN;
	if (epoll_ctl(sv->epfd, EPOLL_CTL_MOD, c->in_fd, &ev) != 0)
		return false;
	if (!is_blocked)
		return epoll_ctl(sv->epfd, EPOLL_CTL_DEL, c->out_fd, NULL) == 0;
	ev.events = EPOLLOUT;
	return epoll_ctl(sv->epfd, EPOLL_CTL_ADD, c->out_fd, &ev) == 0;
}

/* Keep n bytes that could not be written; the connection blocks. */
static bool
conn_keep_output(struct server *sv, struct conn *c, const char *p, size_t n)
{
	size_t pending = c->out_len - c->out_off;
	char *out;

	if (n > SIZE_MAX - pending)
		return false;
	out = malloc(pending + n);
	if (out == NULL) {
		smx_log_error("out of memory for a blocked reply");
		return false;
	}
	if (pending > 0)
		memcpy(out, c->out + c->out_off, pending);
	memcpy(out + pending, p, n);
	free(c->out);
	c->out = out;
	c->out_len = pending + n;
	c->out_off = 0;
	if (!c->is_blocked && !conn_set_blocked(sv, c, true)) {
		smx_log_error_errno("epoll_ctl connection");
		return false;
	}
	return true;
}

/*
 * Send the batched replies with one write. What the peer does not take
 * now is kept and the connection blocks. Returns false when the
 * connection must be closed.
 */
static bool
conn_flush(struct server *sv, struct conn *c)
{
	ssize_t n;
	size_t len = sv->wlen;

	sv->wlen = 0;
	if (len == 0)
		return true;
	if (c->is_blocked)
		return conn_keep_output(sv, c, sv->wbuf, len);
	n = write(c->out_fd, sv->wbuf, len);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			smx_log_debug("write: %s", strerror(errno));
			return false;
		}
		n = 0;
	}
	if ((size_t)n == len)
		return true;
	return conn_keep_output(sv, c, sv->wbuf + n, len - (size_t)n);
}

/* Queue one reply behind the others of this batch. */
static bool
conn_queue_reply(struct server *sv, struct conn *c, const char *r, size_t n)
{
	if (sv->wlen + n > sizeof(sv->wbuf) && !conn_flush(sv, c))
		return false;
	if (c->is_blocked)
		return conn_keep_output(sv, c, r, n);
	memcpy(sv->wbuf + sv->wlen, r, n);
	sv->wlen += n;
	return true;
}

static void
log_malformed(const struct conn *c, const char *reason)
{
	char peer[PEER_MAX];

	conn_peer(c, peer, sizeof(peer));
	smx_log_warning("peer=%s, status=disconnected (malformed request: %s)",
	    peer, reason);
}

/* Decide one framed request and queue its reply. */
static bool
answer(struct server *sv, struct conn *c, char *req, size_t len)
{
	char reason[REASON_MAX];
	char reply[REPLY_BUF];
	struct policy_request pr;
	struct smx_facts facts;
	struct smx_decision dec;
	size_t rlen;

	if (policy_proto_parse(req, len, &pr, reason, sizeof(reason)) !=
	    SMX_OK) {
		log_malformed(c, reason);
		return false;
	}
	policy_proto_facts(&pr, &facts);
	smx_decide(sv->cfg, &facts, &dec);
	if (dec.is_audited)
		smx_decision_audit(&facts, &dec);
	if (policy_proto_reply(dec.action, reply, sizeof(reply), &rlen) !=
	    SMX_OK) {
		/* Better no answer (Postfix's default action) than a bad one.
		 */
		smx_log_error(
		    "decision gave an unusable action; closing the connection");
		return false;
	}
	return conn_queue_reply(sv, c, reply, rlen);
}

/*
 * Answer every complete request in data[0..len). Sets *used to the bytes
 * consumed; stops early when the output blocks. Returns false when the
 * connection must be closed.
 */
static bool
conn_process(struct server *sv, struct conn *c, char *data, size_t len,
    size_t *used, bool *progressed)
{
	char reason[REASON_MAX];
	size_t pos = 0;

	sv->wlen = 0;
	while (!c->is_blocked && pos < len) {
		size_t rlen;
		enum smx_status st;

		st = policy_proto_scan(&c->scan, data + pos, len - pos, &rlen,
		    reason, sizeof(reason));
		if (st == SMX_NOTFOUND)
			break;
		if (st != SMX_OK) {
			log_malformed(c, reason);
			return false;
		}
		if (!answer(sv, c, data + pos, rlen))
			return false;
		pos += rlen;
		*progressed = true;
	}
	*used = pos;
	return conn_flush(sv, c);
}

/* Make room for n more input bytes (bounded by the caller). */
static bool
conn_reserve_in(struct conn *c, size_t n)
{
	size_t cap = c->in_cap > 0 ? c->in_cap : IN_CAP_MIN;
	char *p;

	while (cap < c->in_len + n)
		cap *= 2;
	if (cap == c->in_cap)
		return true;
	p = realloc(c->in, cap);
	if (p == NULL) {
		smx_log_error("out of memory for a partial request");
		return false;
	}
	c->in = p;
	c->in_cap = cap;
	return true;
}

/* Keep the unconsumed tail of data as the connection's input. */
static bool
conn_keep_tail(struct conn *c, const char *data, size_t len, size_t used)
{
	size_t tail = len - used;

	if (data == c->in) {
		if (tail == 0) {
			free(c->in);
			c->in = NULL;
			c->in_len = 0;
			c->in_cap = 0;
		} else if (used > 0) {
			memmove(c->in, c->in + used, tail);
			c->in_len = tail;
		}
		return true;
	}
	if (tail == 0)
		return true;
	c->in_len = 0;
	if (!conn_reserve_in(c, tail))
		return false;
	memcpy(c->in, data + used, tail);
	c->in_len = tail;
	return true;
}

/* Process what is held (or just read), keep the rest, update timers. */
static void
conn_run(struct server *sv, struct conn *c, char *data, size_t len)
{
	bool progressed = false;
	size_t used = 0;

	if (!conn_process(sv, c, data, len, &used, &progressed) ||
	    !conn_keep_tail(c, data, len, used)) {
		conn_close(sv, c);
		return;
	}
	if (c->in != NULL || c->is_blocked) {
		/* The request_timeout clock starts with a request. */
		if (!c->is_busy || progressed)
			conn_stamp(sv, c, true);
	} else {
		conn_stamp(sv, c, false);
	}
}

static void
conn_on_readable(struct server *sv, struct conn *c)
{
	ssize_t n = read(c->in_fd, sv->rbuf, sizeof(sv->rbuf));

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		smx_log_debug("read: %s", strerror(errno));
		conn_close(sv, c);
		return;
	}
	if (n == 0) {
		if (c->in != NULL) {
			char peer[PEER_MAX];

			conn_peer(c, peer, sizeof(peer));
			smx_log_debug(
			    "peer=%s, status=disconnected (in the middle of a request)",
			    peer);
		}
		conn_close(sv, c);
		return;
	}
	if (c->in == NULL) {
		conn_run(sv, c, sv->rbuf, (size_t)n);
		return;
	}
	if (!conn_reserve_in(c, (size_t)n)) {
		conn_close(sv, c);
		return;
	}
	memcpy(c->in + c->in_len, sv->rbuf, (size_t)n);
	c->in_len += (size_t)n;
	conn_run(sv, c, c->in, c->in_len);
}

static void
conn_on_writable(struct server *sv, struct conn *c)
{
	size_t pending = c->out_len - c->out_off;
	ssize_t n = write(c->out_fd, c->out + c->out_off, pending);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		smx_log_debug("write: %s", strerror(errno));
		conn_close(sv, c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len)
		return;
	free(c->out);
	c->out = NULL;
	c->out_len = 0;
	c->out_off = 0;
	if (!conn_set_blocked(sv, c, false)) {
		smx_log_error_errno("epoll_ctl connection");
		conn_close(sv, c);
		return;
	}
	/* Requests that arrived with the blocked batch come first. */
	if (c->in != NULL)
		conn_run(sv, c, c->in, c->in_len);
	else
		conn_stamp(sv, c, false);
}

static struct conn *
conn_new(struct server *sv, int in_fd, int out_fd)
{
	struct epoll_event ev;
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		smx_log_error("out of memory for a connection");
		return NULL;
	}
	c->kind = EV_CONN;
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(sv->epfd, EPOLL_CTL_ADD, in_fd, &ev) != 0) {
		smx_log_error_errno("epoll_ctl add connection");
		free(c);
		return NULL;
	}
	c->since = (uint64_t)smx_io_now_ms();
	list_append(&sv->idle, c);
	sv->n_conns++;
	return c;
}

static void
on_listener(struct server *sv, struct ev_src *l)
{
	int i;

	for (i = 0; i < ACCEPT_BURST; i++) {
		int fd;
		enum smx_status st = smx_listen_accept(l->fd, &fd);

		if (st == SMX_NOTFOUND)
			return;
		if (st != SMX_OK) {
			/* Out of descriptors: wait until a connection closes.
			 */
			smx_log_warning_errno("accept");
			if (sv->n_conns > 0)
				listeners_enable(sv, false);
			return;
		}
		if (conn_new(sv, fd, fd) == NULL) {
			(void)close(fd);
			return;
		}
	}
}

static void
set_log_destination(const struct server *sv)
{
	(void)smx_config_log_open(sv->cfg,
	    sv->opts->log_ident != NULL ? sv->opts->log_ident : "secmx/policyd",
	    sv->opts->allow_stderr);
}

static void
reload(struct server *sv)
{
	char err[SMX_LOG_LINE_MAX];
	struct smx_config *cfg = NULL;
	const char *path = sv->opts->config_path;

	if (smx_config_load(path, &cfg, err, sizeof(err)) != SMX_OK) {
		/*
		 * SIGHUP also asks for a new log file (logrotate): reopen
		 * it all the same, so that nothing, this line first, goes
		 * on into the rotated one.
		 */
		set_log_destination(sv);
		smx_log_error(
		    "reload failed, keeping the previous configuration: %s",
		    err);
		return;
	}
	smx_config_free(sv->cfg);
	sv->cfg = cfg;
	set_log_destination(sv);
	smx_log_info("configuration reloaded from %s",
	    path != NULL ? path : SMX_DEFAULT_CONFIG);
}

static void
on_signal(struct server *sv)
{
	struct signalfd_siginfo si;
	ssize_t n;

	while ((n = read(sv->sig.fd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload(sv);
		else
			sv->is_done = true;
	}
}

static void
expire_list(struct server *sv, struct conn_list *l, unsigned long secs,
    uint64_t now, const char *what)
{
	uint64_t limit = (uint64_t)secs * 1000;

	while (l->head != NULL && l->head->since + limit <= now) {
		struct conn *c = l->head;
		char peer[PEER_MAX];

		conn_peer(c, peer, sizeof(peer));
		if (c->is_busy)
			smx_log_warning("peer=%s, status=disconnected (%s)",
			    peer, what);
		else
			smx_log_debug("peer=%s, status=disconnected (%s)", peer,
			    what);
		conn_close(sv, c);
	}
}

/* Expire what is due; return the epoll timeout to the next deadline. */
static int
run_timers(struct server *sv)
{
	uint64_t now = (uint64_t)smx_io_now_ms();
	uint64_t next = UINT64_MAX;

	expire_list(sv, &sv->busy, sv->cfg->request_timeout, now,
	    "request timeout");
	expire_list(sv, &sv->idle, sv->cfg->idle_timeout, now, "idle timeout");
	if (sv->busy.head != NULL)
		next = sv->busy.head->since +
		    (uint64_t)sv->cfg->request_timeout * 1000;
	if (sv->idle.head != NULL) {
		uint64_t t = sv->idle.head->since +
		    (uint64_t)sv->cfg->idle_timeout * 1000;

		if (t < next)
			next = t;
	}
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

static void
dispatch(struct server *sv, const struct epoll_event *ev)
{
	enum ev_kind kind = *(const enum ev_kind *)ev->data.ptr;
	struct conn *c;

	if (kind == EV_LISTENER) {
		on_listener(sv, ev->data.ptr);
		return;
	}
	if (kind == EV_SIGNAL) {
		on_signal(sv);
		return;
	}
	c = ev->data.ptr;
	if (c->is_blocked) {
		if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_on_writable(sv, c);
		return;
	}
	if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_on_readable(sv, c);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		smx_log_warning_errno("setrlimit RLIMIT_NOFILE");
}

static bool
setup_signals(struct server *sv)
{
	struct sigaction sa;
	sigset_t mask;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return false;
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
		return false;
	sv->sig.kind = EV_SIGNAL;
	sv->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return sv->sig.fd >= 0;
}

static bool
add_src(struct server *sv, struct ev_src *src)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = src;
	return epoll_ctl(sv->epfd, EPOLL_CTL_ADD, src->fd, &ev) == 0;
}

static bool
setup(struct server *sv)
{
	size_t i;

	raise_nofile();
	sv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sv->epfd < 0 || !setup_signals(sv) || !add_src(sv, &sv->sig)) {
		smx_log_error_errno("cannot set up the event loop");
		return false;
	}
	if (sv->is_spawn) {
		if (fcntl(sv->opts->in_fd, F_SETFL,
		        fcntl(sv->opts->in_fd, F_GETFL) | O_NONBLOCK) != 0 ||
		    fcntl(sv->opts->out_fd, F_SETFL,
		        fcntl(sv->opts->out_fd, F_GETFL) | O_NONBLOCK) != 0) {
			smx_log_error_errno(
			    "cannot make stdin/stdout non-blocking");
			return false;
		}
		return conn_new(sv, sv->opts->in_fd, sv->opts->out_fd) != NULL;
	}
	sv->listeners = calloc(sv->opts->n_listen_fds, sizeof(*sv->listeners));
	if (sv->listeners == NULL) {
		smx_log_error("out of memory for listeners");
		return false;
	}
	for (i = 0; i < sv->opts->n_listen_fds; i++) {
		sv->listeners[i].kind = EV_LISTENER;
		sv->listeners[i].fd = sv->opts->listen_fds[i];
		sv->n_listeners++;
		if (!add_src(sv, &sv->listeners[i])) {
			smx_log_error_errno("epoll_ctl listener");
			return false;
		}
	}
	return true;
}

static void
teardown(struct server *sv)
{
	while (sv->busy.head != NULL)
		conn_close(sv, sv->busy.head);
	while (sv->idle.head != NULL)
		conn_close(sv, sv->idle.head);
	free(sv->listeners);
	if (sv->sig.fd >= 0)
		(void)close(sv->sig.fd);
	if (sv->epfd >= 0)
		(void)close(sv->epfd);
	smx_config_free(sv->cfg);
}

enum smx_status
policyd_server_run(const struct policyd_server_opts *opts)
{
	struct epoll_event events[EVENTS_MAX];
	enum smx_status status = SMX_OK;
	struct server *sv;

	sv = calloc(1, sizeof(*sv));
	if (sv == NULL) {
		smx_log_error("out of memory for the server");
		smx_config_free(opts->config);
		return SMX_TEMPFAIL;
	}
	sv->opts = opts;
	sv->cfg = opts->config;
	sv->epfd = -1;
	sv->sig.fd = -1;
	sv->is_spawn = opts->n_listen_fds == 0;
	if (!setup(sv)) {
		status = SMX_TEMPFAIL;
		goto done;
	}
	smx_log_set_batch(true);
	while (!sv->is_done) {
		int timeout = run_timers(sv);
		int n;
		int i;

		if (sv->is_done)
			break;
		n = epoll_wait(sv->epfd, events, EVENTS_MAX, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			smx_log_error_errno("epoll_wait");
			status = SMX_TEMPFAIL;
			break;
		}
		for (i = 0; i < n && !sv->is_done; i++)
			dispatch(sv, &events[i]);
		/* The audit lines of this round: one system call. */
		smx_log_flush();
	}
done:
	teardown(sv);
	smx_log_set_batch(false);
	free(sv);
	return status;
}
