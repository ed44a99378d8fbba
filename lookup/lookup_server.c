/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	lookup_server - the socketmap server of secmx-lookup
 * DESCRIPTION
 *	One connection is a loop of blocking-style reads (poll(2) with a
 *	deadline, then read(2)) that answers every complete netstring in
 *	the buffer in order, one reply write each. A lookup may wait on DNS
 *	for up to n_servers x dns_timeout seconds, so connections are not
 *	multiplexed in one process: in daemon mode the parent accepts and
 *	forks one child per connection, and reaps children; a slow lookup
 *	then holds up only the client that asked.
 *
 *	Signals in the parent are blocked except inside ppoll(2), whose
 *	handlers only set flags, so a signal is never lost between the
 *	check of a flag and the wait. A child resets them to their default
 *	actions: SIGTERM ends it at once, there is nothing to flush.
 * LIMITS
 *	SOCKETMAP_WIRE_MAX bytes of input per connection (one request with
 *	its framing); SMX_SOCKETMAP_CHILDREN_MAX children. Stopping waits
 *	CHILD_STOP_MS for children before SIGKILL.
 * DIAGNOSTICS
 *	Malformed netstrings: "warning: peer=..., status=disconnected
 *	(malformed request: reason)", and the connection is closed without
 *	a reply. Timeouts, I/O errors, fork and accept errors are logged;
 *	accepting pauses for a second after a resource error.
 * SECURITY
 *	Every byte from a connection is untrusted. Runs as the unprivileged
 *	user main() switched to (or the spawn(8) user=); the configuration
 *	is reloaded with those privileges.
 * SEE ALSO
 *	socketmap_table(5), spawn(8); ppoll(2), fork(2), waitpid(2).
 */
#define _GNU_SOURCE
#include "lookup_server.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smx_io.h"
#include "smx_limits.h"
#include "smx_listen.h"
#include "smx_log.h"

#define PEER_MAX 128            /* printable peer name */
#define REASON_MAX 128          /* reason text of a malformed request */
#define PAUSE_MS 1000           /* accepting pauses after fork/accept trouble */
#define CHILD_STOP_MS 5000      /* children get this long after SIGTERM */
#define CHILD_POLL_NS 20000000L /* 20 ms between checks while stopping */
#define LISTEN_POLL_MAX 128     /* listening sockets polled */

static volatile sig_atomic_t got_term;
static volatile sig_atomic_t got_hup;
static volatile sig_atomic_t got_chld;

/*
 * Answer every complete request at the start of buf (*len bytes), then
 * move what is left (a partial request) to the front, once per batch.
 * SMX_OK: go on reading; SMX_INVALID: a malformed request; SMX_TEMPFAIL:
 * the reply could not be written.
 */
static enum smx_status
answer(const struct socketmap_ctx *ctx, char *buf, size_t *len, int out_fd,
    unsigned long request_timeout, const char *peer)
{
	char reply[SOCKETMAP_REPLY_SIZE];
	char reason[REASON_MAX];
	size_t pos = 0;

	while (pos < *len) {
		const char *payload = NULL;
		size_t plen = 0;
		size_t used = 0;
		size_t rlen = 0;
		enum smx_status st;

		st = socketmap_netstring_parse(buf + pos, *len - pos,
		    SMX_SOCKETMAP_REQUEST_MAX, &payload, &plen, &used, reason,
		    sizeof(reason));
		if (st == SMX_NOTFOUND)
			break;
		if (st != SMX_OK) {
			smx_log_warning(
			    "peer=%s, status=disconnected (malformed request: %s)",
			    peer, reason);
			return SMX_INVALID;
		}
		if (socketmap_handle(ctx, payload, plen, reply, sizeof(reply),
		        &rlen) == SMX_INVALID)
			smx_panic("socketmap reply buffer too small");
		if (smx_io_write_all(out_fd, reply, rlen,
		        smx_io_deadline((long long)request_timeout * 1000)) !=
		    SMX_OK) {
			smx_log_warning_errno(
			    "peer=%s, status=disconnected (write reply)", peer);
			return SMX_TEMPFAIL;
		}
		pos += used;
	}
	if (pos > 0 && pos < *len)
		memmove(buf, buf + pos, *len - pos);
	*len -= pos;
	return SMX_OK;
}

enum smx_status
lookup_server_conn(const struct socketmap_ctx *ctx, int in_fd, int out_fd,
    unsigned long idle_timeout, unsigned long request_timeout, const char *peer,
    void (*refresh)(void *), void *refresh_arg)
{
	char buf[SOCKETMAP_WIRE_MAX];
	long long deadline = 0;
	size_t len = 0;

	for (;;) {
		enum smx_status st;
		ssize_t n;

		if (refresh != NULL && len > 0)
			refresh(refresh_arg);
		st = answer(ctx, buf, &len, out_fd, request_timeout, peer);
		if (st != SMX_OK)
			return st;
		if (len == sizeof(buf)) {
			/* The parser refuses longer requests first. */
			smx_log_warning(
			    "peer=%s, status=disconnected (malformed request: too long)",
			    peer);
			return SMX_INVALID;
		}
		/* A request in progress has request_timeout from its start. */
		if (len == 0)
			deadline =
			    smx_io_deadline((long long)idle_timeout * 1000);
		st = smx_io_wait(in_fd, POLLIN, deadline);
		if (st == SMX_TEMPFAIL) {
			smx_log_warning_errno(
			    "peer=%s, status=disconnected (poll)", peer);
			return SMX_TEMPFAIL;
		}
		if (st == SMX_NOTFOUND) {
			if (len > 0) {
				smx_log_warning(
				    "peer=%s, status=disconnected (request timeout)",
				    peer);
				return SMX_TEMPFAIL;
			}
			smx_log_debug(
			    "peer=%s, status=disconnected (idle timeout)",
			    peer);
			return SMX_OK;
		}
		n = read(in_fd, buf + len, sizeof(buf) - len);
		if (n < 0 &&
		    (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0) {
			smx_log_warning_errno(
			    "peer=%s, status=disconnected (read)", peer);
			return SMX_TEMPFAIL;
		}
		if (n == 0) {
			if (len > 0)
				smx_log_warning(
				    "peer=%s, status=disconnected (truncated request)",
				    peer);
			return SMX_OK;
		}
		if (len == 0)
			deadline =
			    smx_io_deadline((long long)request_timeout * 1000);
		len += (size_t)n;
	}
}

/* ------------------------------------------------------------------ */

struct daemon {
	const struct lookup_server_opts *opts;
	struct smx_config *cfg;
	pid_t children[SMX_SOCKETMAP_CHILDREN_MAX];
	size_t n_children;
	sigset_t run_mask; /* the mask inside ppoll and in children */
	uint64_t pause_until;
	bool is_stopping; /* children were sent SIGTERM */
};

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		got_term = 1;
		break;
	case SIGHUP:
		got_hup = 1;
		break;
	case SIGCHLD:
		got_chld = 1;
		break;
	}
}

static const int handled_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };

#define N_HANDLED (sizeof(handled_signals) / sizeof(handled_signals[0]))

static bool
signals_setup(struct daemon *d)
{
	struct sigaction sa;
	sigset_t block;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	(void)sigemptyset(&sa.sa_mask);
	(void)sigemptyset(&block);
	for (i = 0; i < N_HANDLED; i++) {
		if (sigaction(handled_signals[i], &sa, NULL) != 0) {
			smx_log_error_errno("sigaction");
			return false;
		}
		(void)sigaddset(&block, handled_signals[i]);
	}
	if (sigprocmask(SIG_BLOCK, &block, &d->run_mask) != 0) {
		smx_log_error_errno("sigprocmask");
		return false;
	}
	for (i = 0; i < N_HANDLED; i++)
		(void)sigdelset(&d->run_mask, handled_signals[i]);
	return true;
}

/* Remove pid from the children; false when it is not one of them. */
static bool
child_forget(struct daemon *d, pid_t pid)
{
	size_t i;

	for (i = 0; i < d->n_children; i++) {
		if (d->children[i] == pid) {
			d->children[i] = d->children[--d->n_children];
			return true;
		}
	}
	return false;
}

static void
reap(struct daemon *d)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (!child_forget(d, pid))
			continue;
		if (WIFSIGNALED(status) && d->is_stopping &&
		    WTERMSIG(status) == SIGTERM)
			continue;
		if (WIFSIGNALED(status))
			smx_log_warning("child %ld killed by signal %d",
			    (long)pid, WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			smx_log_warning("child %ld exited with status %d",
			    (long)pid, WEXITSTATUS(status));
	}
}

static void
reload(struct daemon *d)
{
	char err[SMX_LOG_LINE_MAX];
	struct smx_config *cfg = NULL;

	size_t i;

	if (smx_config_load(d->opts->config_path, &cfg, err, sizeof(err)) ==
	    SMX_OK) {
		smx_config_free(d->cfg);
		d->cfg = cfg;
	}
	/*
	 * SIGHUP also asks for a new log file (logrotate): reopen it even
	 * for a refused configuration, so that nothing, the refusal first,
	 * goes on into the rotated file.
	 */
	(void)smx_config_log_open(d->cfg,
	    d->opts->log_ident != NULL ? d->opts->log_ident : "secmx/lookup",
	    d->opts->allow_stderr);
	if (cfg == NULL) {
		smx_log_error("%s (keeping the running configuration)", err);
		return;
	}
	smx_log_info("configuration reloaded");
	/* Open connections answer their next request from it too. */
	for (i = 0; i < d->n_children; i++)
		(void)kill(d->children[i], SIGHUP);
}

/* What a child serves with; replaced when SIGHUP reloads it. */
struct child {
	const char *config_path;
	struct smx_config *cfg;
	struct smx_dns_opts dns;
	struct socketmap_ctx ctx;
};

/* Before a request: after a SIGHUP, load the configuration again. */
static void
child_refresh(void *arg)
{
	struct child *c = arg;
	char err[SMX_LOG_LINE_MAX];
	struct smx_config *cfg = NULL;

	if (!got_hup)
		return;
	got_hup = 0;
	if (smx_config_load(c->config_path, &cfg, err, sizeof(err)) != SMX_OK) {
		smx_log_error("%s (keeping the running configuration)", err);
		return;
	}
	smx_config_free(c->cfg);
	c->cfg = cfg;
	socketmap_dns_opts(cfg, &c->dns);
	c->ctx.cfg = cfg;
}

/*
 * The child: serve fd with the configuration as forked, and with the one
 * a SIGHUP loads for the requests after it; then _exit.
 */
static void __attribute__((noreturn)) child_main(struct daemon *d, int fd)
{
	static struct child c;
	struct sigaction sa;
	char peer[PEER_MAX];
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigemptyset(&sa.sa_mask);
	for (i = 0; i < N_HANDLED; i++) {
		if (handled_signals[i] != SIGHUP)
			(void)sigaction(handled_signals[i], &sa, NULL);
	}
	got_hup = 0;
	(void)sigprocmask(SIG_SETMASK, &d->run_mask, NULL);
	for (i = 0; i < d->opts->n_listen_fds; i++)
		(void)close(d->opts->listen_fds[i]);
	smx_listen_peer(fd, peer, sizeof(peer));
	c.config_path = d->opts->config_path;
	c.cfg = d->cfg;
	socketmap_dns_opts(c.cfg, &c.dns);
	memset(&c.ctx, 0, sizeof(c.ctx));
	c.ctx.cfg = c.cfg;
	c.ctx.dns = &c.dns;
	c.ctx.route = d->opts->route;
	smx_log_debug("peer=%s, status=connected", peer);
	(void)lookup_server_conn(&c.ctx, fd, fd, c.cfg->idle_timeout,
	    c.cfg->request_timeout, peer, child_refresh, &c);
	(void)close(fd);
	smx_config_free(c.cfg);
	_exit(0);
}

/* Accept what is pending on lfd, one child per connection, up to the cap. */
static void
accept_some(struct daemon *d, int lfd)
{
	while (d->n_children < SMX_SOCKETMAP_CHILDREN_MAX) {
		enum smx_status st;
		pid_t pid;
		int fd = -1;

		st = smx_listen_accept(lfd, &fd);
		if (st == SMX_NOTFOUND)
			return;
		if (st != SMX_OK) {
			smx_log_warning_errno("accept (pausing)");
			d->pause_until = (uint64_t)smx_io_now_ms() + PAUSE_MS;
			return;
		}
		pid = fork();
		if (pid == 0)
			child_main(d, fd);
		(void)close(fd);
		if (pid < 0) {
			smx_log_error_errno("fork (pausing)");
			d->pause_until = (uint64_t)smx_io_now_ms() + PAUSE_MS;
			return;
		}
		d->children[d->n_children++] = pid;
	}
}

/* SIGTERM to every child; wait CHILD_STOP_MS, then SIGKILL the rest. */
static void
stop_children(struct daemon *d)
{
	uint64_t deadline = (uint64_t)smx_io_now_ms() + CHILD_STOP_MS;
	size_t i;

	d->is_stopping = true;
	for (i = 0; i < d->n_children; i++)
		(void)kill(d->children[i], SIGTERM);
	while (d->n_children > 0 && (uint64_t)smx_io_now_ms() < deadline) {
		struct timespec ts = { 0, CHILD_POLL_NS };

		reap(d);
		if (d->n_children > 0)
			(void)nanosleep(&ts, NULL);
	}
	for (i = 0; i < d->n_children; i++) {
		smx_log_warning("child %ld ignored SIGTERM; killing it",
		    (long)d->children[i]);
		(void)kill(d->children[i], SIGKILL);
		(void)waitpid(d->children[i], NULL, 0);
	}
	d->n_children = 0;
}

static enum smx_status
daemon_loop(struct daemon *d)
{
	const struct lookup_server_opts *o = d->opts;
	struct pollfd pfd[LISTEN_POLL_MAX];
	size_t n_pfd = o->n_listen_fds;
	size_t i;

	if (n_pfd > LISTEN_POLL_MAX) {
		smx_log_error("too many listening sockets (at most %d)",
		    LISTEN_POLL_MAX);
		return SMX_TEMPFAIL;
	}
	while (!got_term) {
		struct timespec ts;
		struct timespec *tsp = NULL;
		uint64_t now = (uint64_t)smx_io_now_ms();
		bool is_accepting;
		int n;

		if (got_chld) {
			got_chld = 0;
			reap(d);
		}
		if (got_hup) {
			got_hup = 0;
			reload(d);
		}
		is_accepting = d->n_children < SMX_SOCKETMAP_CHILDREN_MAX &&
		    now >= d->pause_until;
		for (i = 0; i < n_pfd; i++) {
			pfd[i].fd = is_accepting ? o->listen_fds[i] : -1;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if (now < d->pause_until) {
			uint64_t ms = d->pause_until - now;

			ts.tv_sec = (time_t)(ms / 1000);
			ts.tv_nsec = (long)(ms % 1000) * 1000000L;
			tsp = &ts;
		}
		n = ppoll(pfd, n_pfd, tsp, &d->run_mask);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			smx_log_error_errno("ppoll");
			return SMX_TEMPFAIL;
		}
		for (i = 0; i < n_pfd && n > 0; i++) {
			if (pfd[i].revents != 0)
				accept_some(d, o->listen_fds[i]);
		}
	}
	return SMX_OK;
}

static enum smx_status
run_daemon(const struct lookup_server_opts *o)
{
	static struct daemon d;
	enum smx_status st;

	memset(&d, 0, sizeof(d));
	d.opts = o;
	d.cfg = o->config;
	if (!signals_setup(&d)) {
		smx_config_free(d.cfg);
		return SMX_TEMPFAIL;
	}
	st = daemon_loop(&d);
	stop_children(&d);
	smx_config_free(d.cfg);
	d.cfg = NULL;
	return st;
}

static enum smx_status
run_spawn(const struct lookup_server_opts *o)
{
	struct smx_dns_opts dns;
	struct socketmap_ctx ctx;
	char peer[PEER_MAX];

	smx_listen_peer(o->in_fd, peer, sizeof(peer));
	socketmap_dns_opts(o->config, &dns);
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = o->config;
	ctx.dns = &dns;
	ctx.route = o->route;
	(void)lookup_server_conn(&ctx, o->in_fd, o->out_fd,
	    o->config->idle_timeout, o->config->request_timeout, peer, NULL,
	    NULL);
	smx_config_free(o->config);
	return SMX_OK;
}

enum smx_status
lookup_server_run(const struct lookup_server_opts *o)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void)sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		smx_log_error_errno("sigaction SIGPIPE");
		smx_config_free(o->config);
		return SMX_TEMPFAIL;
	}
	if (o->n_listen_fds == 0)
		return run_spawn(o);
	return run_daemon(o);
}
