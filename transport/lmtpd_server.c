/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	lmtpd_server - the process side of secmx-lmtpd: listeners, one
 *	thread per connection, generations, signals
 * DESCRIPTION
 *	The main thread waits in epoll on the listening sockets and a
 *	signalfd. Each accepted connection gets a thread of its own that
 *	runs lmtpd_session_run, so that no connection waits on another (a
 *	delivery takes as long as the remote servers take); the threads
 *	share one generation: the configuration, the TLS client contexts
 *	made from it once, and the caches of TLS sessions and idle SMTP
 *	connections, so that a message reuses what an earlier one on any
 *	connection set up.
 *
 *	A generation is reference-counted: a transaction takes the current
 *	one and keeps it to the end, so a SIGHUP never changes the rules in
 *	the middle of a delivery; the last user of a replaced generation
 *	frees it.
 *
 *	Stopping (SIGTERM, SIGINT): the listeners are no longer watched, a
 *	stop descriptor becomes readable and the stop flag is set. A
 *	connection between transactions answers 421 and closes; a
 *	transaction still being received is answered 421 at its next
 *	command (Postfix defers it); a message being delivered finishes its
 *	running attempt, starts no other (deliver_request.stop: what is left
 *	is deferred) and gets its replies. The main thread waits for the
 *	last connection and joins every connection's thread, then returns;
 *	while it runs, it joins the threads of ended connections at least
 *	once a second.
 * LIMITS
 *	LMTPD_CONNECTIONS_MAX connections at once; beyond that a new one is
 *	answered "421 4.3.2" and closed (Postfix tries again).
 * DIAGNOSTICS
 *	syslog: start-up and reload problems with file and line, one line
 *	per refused connection.
 * SECURITY
 *	Runs after smx_daemon_start dropped privileges; the threads start
 *	with SIGHUP, SIGTERM and SIGINT blocked, so only the signalfd sees
 *	them.
 * SEE ALSO
 *	lmtpd_session.c, policyd_server.c (the same conventions).
 */
#define _GNU_SOURCE
#include "lmtpd_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smx_limits.h"
#include "smx_log.h"
#include "smx_util.h"
#include "smx_tls_cache.h"
#include "deliver.h"
#include "lmtpd_session.h"
#include "smtp_cache.h"

#define EVENTS_MAX 16
/* Idle SMTP connections are closed at most this late after their limit. */
#define EXPIRE_INTERVAL_MS 1000
#define PEER_MAX 64

/* A generation and the number of its users. */
struct gen_slot {
	struct lmtpd_gen gen;
	unsigned refs;
};

struct server {
	const struct lmtpd_server_opts *opts;
	pthread_mutex_t lock;
	pthread_cond_t drained; /* n_conns fell to 0 */
	struct gen_slot *current;
	size_t n_conns;
	struct conn_arg *ended; /* threads to join */
	atomic_bool is_stopping;
	int stop_fd; /* eventfd, readable once stopping */
	int epfd;
	int sig_fd;
	struct lmtpd_session_env env;
};

/* A connection's thread; on sv->ended once its work is done. */
struct conn_arg {
	struct server *sv;
	int fd;
	pthread_t tid;
	struct conn_arg *next;
	char peer[PEER_MAX];
};

/* ------------------------------------------------------------------ */
/* Generations                                                          */

/* This host's name for greetings and EHLO, or false. */
static bool
helo_name(const struct smx_config *cfg, char *buf, size_t size)
{
	size_t len;

	if (cfg->helo_name != NULL)
		smx_strlcpy(buf, cfg->helo_name, size);
	else if (gethostname(buf, size) != 0)
		return false;
	buf[size - 1] = '\0';
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '.')
		buf[--len] = '\0';
	return smx_is_hostname(buf, len);
}

static void
gen_free(struct gen_slot *g)
{
	if (g == NULL)
		return;
	smtp_cache_free(g->gen.cache.conns);
	smx_tls_session_cache_free(g->gen.cache.tls);
	deliver_tls_free(&g->gen.tls);
	smx_config_free(g->gen.cfg);
	free(g);
}

/* A generation for cfg (taken over, also on failure), or NULL (logged). */
static struct gen_slot *
gen_new(struct smx_config *cfg)
{
	char reason[SMX_TLS_REASON_MAX];
	struct gen_slot *g;

	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		smx_log_error("out of memory for a configuration");
		smx_config_free(cfg);
		return NULL;
	}
	g->gen.cfg = cfg;
	if (!helo_name(cfg, g->gen.helo, sizeof(g->gen.helo))) {
		smx_log_error(
		    "the host name is not usable in EHLO; set helo_name in %s",
		    cfg->path);
		gen_free(g);
		return NULL;
	}
	if (deliver_tls_init(&g->gen.tls, cfg, reason, sizeof(reason)) !=
	    SMX_OK) {
		smx_log_error("TLS client setup failed: %s", reason);
		gen_free(g);
		return NULL;
	}
	/* 0 turns a cache off. */
	if ((cfg->tls_session_cache_timeout > 0 &&
	        smx_tls_session_cache_new(SMX_TLS_SESSIONS_MAX,
	            (unsigned)cfg->tls_session_cache_timeout,
	            &g->gen.cache.tls) != SMX_OK) ||
	    (cfg->smtp_connection_cache_time_limit > 0 &&
	        smtp_cache_new(SMTP_CACHE_CONNS_MAX,
	            (unsigned)cfg->smtp_connection_cache_time_limit,
	            (unsigned)cfg->smtp_connection_reuse_time_limit,
	            &g->gen.cache.conns) != SMX_OK)) {
		smx_log_error("cannot make the caches: out of memory");
		gen_free(g);
		return NULL;
	}
	return g;
}

static struct lmtpd_gen *
gen_get(void *ctx)
{
	struct server *sv = ctx;
	struct gen_slot *g;

	(void)pthread_mutex_lock(&sv->lock);
	g = sv->current;
	g->refs++;
	(void)pthread_mutex_unlock(&sv->lock);
	return &g->gen;
}

static void
gen_put(void *ctx, struct lmtpd_gen *gen)
{
	struct server *sv = ctx;
	struct gen_slot *g =
	    (struct gen_slot *)gen; /* gen is the first member */
	bool is_last;

	(void)pthread_mutex_lock(&sv->lock);
	is_last = --g->refs == 0 && g != sv->current;
	(void)pthread_mutex_unlock(&sv->lock);
	if (is_last)
		gen_free(g);
}

/* Make g current; the one it replaces goes with its last user. */
static void
gen_install(struct server *sv, struct gen_slot *g)
{
	struct gen_slot *old;
	bool is_unused;

	(void)pthread_mutex_lock(&sv->lock);
	old = sv->current;
	sv->current = g;
	is_unused = old != NULL && old->refs == 0;
	(void)pthread_mutex_unlock(&sv->lock);
	if (is_unused)
		gen_free(old);
}

static void
set_log_destination(const struct server *sv, const struct smx_config *cfg)
{
	(void)smx_config_log_open(cfg,
	    sv->opts->log_ident != NULL ? sv->opts->log_ident : "secmx/lmtpd",
	    sv->opts->allow_stderr);
}

static void
reload(struct server *sv)
{
	char err[SMX_LOG_LINE_MAX];
	struct smx_config *cfg = NULL;
	struct gen_slot *g;

	/*
	 * SIGHUP also asks for a new log file (logrotate): a refused
	 * configuration reopens the running one's, so that nothing, the
	 * refusal first, goes on into the rotated file. Only this thread
	 * replaces sv->current.
	 */
	if (smx_config_load(sv->opts->config_path, &cfg, err, sizeof(err)) !=
	    SMX_OK) {
		set_log_destination(sv, sv->current->gen.cfg);
		smx_log_error(
		    "reload failed, keeping the previous configuration: %s",
		    err);
		return;
	}
	if ((g = gen_new(cfg)) == NULL) {
		set_log_destination(sv, sv->current->gen.cfg);
		smx_log_error(
		    "reload failed, keeping the previous configuration");
		return;
	}
	set_log_destination(sv, g->gen.cfg);
	gen_install(sv, g);
	smx_log_info("configuration reloaded from %s", sv->opts->config_path);
}

/* ------------------------------------------------------------------ */
/* Connections                                                          */

static void
format_peer(const struct sockaddr_storage *ss, socklen_t len, char *out,
    size_t size)
{
	char addr[INET6_ADDRSTRLEN] = "";

	if (len == 0 || ss->ss_family == AF_UNIX) {
		smx_strlcpy(out, "unix", size);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		(void)inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		(void)snprintf(out, size, "%s:%u", addr,
		    (unsigned)ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		(void)inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		(void)snprintf(out, size, "[%s]:%u", addr,
		    (unsigned)ntohs(sin6->sin6_port));
	} else {
		smx_strlcpy(out, "unknown", size);
	}
}

static void *
conn_thread(void *arg)
{
	struct conn_arg *a = arg;
	struct server *sv = a->sv;

	lmtpd_session_run(&sv->env, a->fd, a->peer);
	a->tid = pthread_self();
	(void)pthread_mutex_lock(&sv->lock);
	a->next = sv->ended;
	sv->ended = a;
	if (--sv->n_conns == 0)
		(void)pthread_cond_broadcast(&sv->drained);
	(void)pthread_mutex_unlock(&sv->lock);
	return NULL;
}

/*
 * Join the threads whose connections have ended. A thread is not done
 * when its session is: the destructors of its thread-local data
 * (OpenSSL's among them) run after it returns, and an exit(3) that
 * overlaps them frees what they still use.
 */
static void
join_ended(struct server *sv)
{
	struct conn_arg *a;
	struct conn_arg *next;

	(void)pthread_mutex_lock(&sv->lock);
	a = sv->ended;
	sv->ended = NULL;
	(void)pthread_mutex_unlock(&sv->lock);
	for (; a != NULL; a = next) {
		next = a->next;
		(void)pthread_join(a->tid, NULL);
		free(a);
	}
}

/* Answer a connection that cannot be served, and close it. */
static void
turn_away(int fd, const char *line)
{
	(void)send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)close(fd);
}

static void
on_listener(struct server *sv, int lfd)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct conn_arg *a;
		pthread_t tid;
		bool is_full;
		int fd;
		int rc;

		fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				smx_log_warning_errno("accept");
			return;
		}
		(void)pthread_mutex_lock(&sv->lock);
		is_full = sv->n_conns >= LMTPD_CONNECTIONS_MAX;
		if (!is_full)
			sv->n_conns++;
		(void)pthread_mutex_unlock(&sv->lock);
		if (is_full) {
			smx_log_warning("too many LMTP connections (%d)",
			    LMTPD_CONNECTIONS_MAX);
			turn_away(fd,
			    "421 4.3.2 Error: too many connections\r\n");
			continue;
		}
		a = calloc(1, sizeof(*a));
		rc = ENOMEM;
		if (a != NULL) {
			a->sv = sv;
			a->fd = fd;
			format_peer(&ss, len, a->peer, sizeof(a->peer));
			rc = pthread_create(&tid, NULL, conn_thread, a);
		}
		if (rc != 0) {
			errno = rc;
			smx_log_error_errno("cannot start a connection thread");
			free(a);
			turn_away(fd,
			    "421 4.3.0 Error: insufficient resources\r\n");
			(void)pthread_mutex_lock(&sv->lock);
			sv->n_conns--;
			(void)pthread_mutex_unlock(&sv->lock);
		}
	}
}

/* ------------------------------------------------------------------ */
/* The main loop                                                        */

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
	/* Before any thread exists: they all inherit the mask. */
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
		return false;
	sv->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return sv->sig_fd >= 0;
}

static bool
watch(struct server *sv, int fd)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = fd;
	return epoll_ctl(sv->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

static bool
setup(struct server *sv)
{
	size_t i;

	raise_nofile();
	sv->epfd = epoll_create1(EPOLL_CLOEXEC);
	sv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sv->epfd < 0 || sv->stop_fd < 0 || !setup_signals(sv) ||
	    !watch(sv, sv->sig_fd)) {
		smx_log_error_errno("cannot set up the event loop");
		return false;
	}
	for (i = 0; i < sv->opts->n_listen_fds; i++) {
		if (!watch(sv, sv->opts->listen_fds[i])) {
			smx_log_error_errno("epoll_ctl listener");
			return false;
		}
	}
	return true;
}

/* Returns true when the server is to stop. */
static bool
on_signal(struct server *sv)
{
	struct signalfd_siginfo si;
	bool is_stop = false;

	while (read(sv->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload(sv);
		else
			is_stop = true;
	}
	return is_stop;
}

static void
stop(struct server *sv)
{
	uint64_t one = 1;
	size_t i;
	size_t n;

	for (i = 0; i < sv->opts->n_listen_fds; i++)
		(void)epoll_ctl(sv->epfd, EPOLL_CTL_DEL,
		    sv->opts->listen_fds[i], NULL);
	atomic_store(&sv->is_stopping, true);
	if (write(sv->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		smx_log_warning_errno("cannot signal the stop");
	(void)pthread_mutex_lock(&sv->lock);
	n = sv->n_conns;
	if (n > 0)
		smx_log_info("stopping: waiting for %zu connection%s", n,
		    n == 1 ? "" : "s");
	while (sv->n_conns > 0)
		(void)pthread_cond_wait(&sv->drained, &sv->lock);
	(void)pthread_mutex_unlock(&sv->lock);
	join_ended(sv);
}

/* Close the idle SMTP connections whose time is up. */
static void
expire_idle(struct server *sv)
{
	struct lmtpd_gen *gen = gen_get(sv);

	if (gen->cache.conns != NULL)
		(void)smtp_cache_expire(gen->cache.conns);
	gen_put(sv, gen);
}

static bool
is_listener(const struct server *sv, int fd)
{
	size_t i;

	for (i = 0; i < sv->opts->n_listen_fds; i++) {
		if (sv->opts->listen_fds[i] == fd)
			return true;
	}
	return false;
}

enum smx_status
lmtpd_server_run(const struct lmtpd_server_opts *opts)
{
	struct epoll_event events[EVENTS_MAX];
	enum smx_status status = SMX_OK;
	struct server *sv;
	bool is_done = false;

	sv = calloc(1, sizeof(*sv));
	if (sv == NULL) {
		smx_log_error("out of memory for the server");
		smx_config_free(opts->config);
		return SMX_TEMPFAIL;
	}
	sv->opts = opts;
	sv->epfd = -1;
	sv->sig_fd = -1;
	sv->stop_fd = -1;
	atomic_init(&sv->is_stopping, false);
	(void)pthread_mutex_init(&sv->lock, NULL);
	(void)pthread_cond_init(&sv->drained, NULL);
	sv->env.gen_get = gen_get;
	sv->env.gen_put = gen_put;
	sv->env.ctx = sv;
	sv->env.is_stopping = &sv->is_stopping;
	if ((sv->current = gen_new(opts->config)) == NULL || !setup(sv)) {
		status = SMX_TEMPFAIL;
		goto done;
	}
	sv->env.stop_fd = sv->stop_fd;
	while (!is_done) {
		int n = epoll_wait(sv->epfd, events, EVENTS_MAX,
		    EXPIRE_INTERVAL_MS);
		int wait_errno = errno; /* before expire_idle changes it */
		int i;

		expire_idle(sv);
		join_ended(sv);
		if (n < 0) {
			if (wait_errno == EINTR)
				continue;
			errno = wait_errno;
			smx_log_error_errno("epoll_wait");
			status = SMX_TEMPFAIL;
			break;
		}
		for (i = 0; i < n; i++) {
			int fd = events[i].data.fd;

			if (fd == sv->sig_fd)
				is_done |= on_signal(sv);
			else if (is_listener(sv, fd) && !is_done)
				on_listener(sv, fd);
		}
	}
	stop(sv);
done:
	gen_free(sv->current);
	if (sv->sig_fd >= 0)
		(void)close(sv->sig_fd);
	if (sv->stop_fd >= 0)
		(void)close(sv->stop_fd);
	if (sv->epfd >= 0)
		(void)close(sv->epfd);
	(void)pthread_cond_destroy(&sv->drained);
	(void)pthread_mutex_destroy(&sv->lock);
	free(sv);
	return status;
}
