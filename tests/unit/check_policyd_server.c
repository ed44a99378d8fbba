/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for policyd/policyd_server.c: the real event loop in a child
 * process on a unix socket in a temporary directory (or, for spawn mode,
 * on a socketpair), driven over the policy protocol. Every child is
 * stopped by its PID and must exit with status 0.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_decision.h"
#include "smx_listen.h"
#include "smx_log.h"

#include "policy_proto.h"
#include "policyd_server.h"

#define WAIT_MS 5000 /* upper bound for any single wait */

#define REQ_SOR_PLAIN                                                          \
	"request=smtpd_access_policy\nprotocol_state=RCPT\n"                   \
	"recipient=bob@sor.example\nclient_name=localhost\n"                   \
	"client_address=127.0.0.1\nencryption_protocol=\n"                     \
	"encryption_keysize=0\n\n"
#define REQ_SOR_TLS                                                            \
	"request=smtpd_access_policy\nprotocol_state=RCPT\n"                   \
	"recipient=bob@sor.example\nencryption_protocol=TLSv1.3\n"             \
	"encryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256\n\n"
#define REQ_OTHER_PLAIN                                                        \
	"request=smtpd_access_policy\nprotocol_state=RCPT\n"                   \
	"recipient=carol@other.example\nencryption_protocol=\n"                \
	"encryption_keysize=0\n\n"
#define REQ_NEW_PLAIN                                                          \
	"request=smtpd_access_policy\nprotocol_state=RCPT\n"                   \
	"recipient=dave@new.example\nencryption_protocol=\n"                   \
	"encryption_keysize=0\n\n"
#define DUNNO "action=DUNNO\n\n"

struct fixture {
	char dir[64];
	char conf[128];
	char roles[128];
	char sock[128];
	char log[128];
	pid_t pid;
};

static struct fixture fx;

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs(text, fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}

static void
write_config(const char *roles)
{
	char text[512];

	write_file(fx.roles, roles);
	snprintf(text, sizeof(text),
	    "receiver_roles = %s\nrequest_timeout = 1s\n", fx.roles);
	write_file(fx.conf, text);
}

/* The log observer of the server child: append each line to a file. */
static void
log_to_file(int prio, const char *line, void *ctx)
{
	int fd = open(ctx, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	(void)prio;
	if (fd < 0)
		return;
	if (write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0)
		_exit(3);
	(void)close(fd);
}

static bool
log_contains(const char *text)
{
	char buf[16384];
	ssize_t n;
	int fd = open(fx.log, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Wait (bounded) until text shows up in the child's log. */
static void
wait_log(const char *text)
{
	int i;

	for (i = 0; i < WAIT_MS / 10 && !log_contains(text); i++)
		sleep_ms(10);
	ck_assert_msg(log_contains(text), "no \"%s\" in the log", text);
}

/* The child: serve until SIGTERM; exit 0 only after a clean stop. */
static void
child_serve(int in_fd, int out_fd, bool is_spawn)
{
	struct policyd_server_opts so;
	struct smx_listen_endpoint ep;
	struct smx_listen_opts lo;
	struct smx_config *cfg;
	char err[512];
	char spec[160];
	sigset_t mask;
	int lfd = -1;
	size_t n = 0;

	/* A SIGTERM sent right after the socket appears must not kill us. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
		_exit(2);
	smx_log_open("secmx/policyd", SMX_LOG_SYSLOG, NULL);
	smx_log_set_sink(log_to_file, fx.log);
	if (smx_config_load(fx.conf, &cfg, err, sizeof(err)) != SMX_OK)
		_exit(2);
	memset(&so, 0, sizeof(so));
	if (!is_spawn) {
		smx_listen_opts_init(&lo);
		snprintf(spec, sizeof(spec), "unix:%s", fx.sock);
		if (smx_listen_parse(spec, &ep, err, sizeof(err)) != SMX_OK ||
		    smx_listen_open(&ep, &lo, &lfd, 1, &n, err, sizeof(err)) !=
		        SMX_OK)
			_exit(2);
		so.listen_fds = &lfd;
		so.n_listen_fds = 1;
	}
	so.config_path = fx.conf;
	so.config = cfg;
	so.in_fd = in_fd;
	so.out_fd = out_fd;
	so.log_ident = "secmx/policyd";
	_exit(policyd_server_run(&so) == SMX_OK ? 0 : 1);
}

static int
connect_server(void)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(fx.sock), sizeof(sun.sun_path));
	memcpy(sun.sun_path, fx.sock, strlen(fx.sock) + 1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

static void
setup(void)
{
	memset(&fx, 0, sizeof(fx));
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/check_policyd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fx.dir));
	snprintf(fx.conf, sizeof(fx.conf), "%s/secmx.conf", fx.dir);
	snprintf(fx.roles, sizeof(fx.roles), "%s/roles", fx.dir);
	snprintf(fx.sock, sizeof(fx.sock), "%s/policy", fx.dir);
	snprintf(fx.log, sizeof(fx.log), "%s/log", fx.dir);
	write_config("sor.example sor\nber.example ber\n");
}

static void
teardown(void)
{
	char path[160];

	if (fx.pid > 0) {
		(void)kill(fx.pid, SIGKILL);
		(void)waitpid(fx.pid, NULL, 0);
	}
	(void)unlink(fx.conf);
	(void)unlink(fx.roles);
	(void)unlink(fx.sock);
	(void)unlink(fx.log);
	snprintf(path, sizeof(path), "%s/stderr", fx.dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/file.log", fx.dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/file.log.1", fx.dir);
	(void)unlink(path);
	(void)rmdir(fx.dir);
}

static void
start_server(void)
{
	int i;
	int fd = -1;

	fx.pid = fork();
	ck_assert_int_ge(fx.pid, 0);
	if (fx.pid == 0)
		child_serve(-1, -1, false);
	for (i = 0; i < WAIT_MS / 10 && fd < 0; i++) {
		fd = connect_server();
		if (fd < 0)
			sleep_ms(10);
	}
	ck_assert_msg(fd >= 0, "server socket did not appear");
	(void)close(fd);
}

static void
stop_server(void)
{
	int status;

	ck_assert_int_eq(kill(fx.pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(fx.pid, &status, 0), fx.pid);
	fx.pid = 0;
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}

static void
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
}

/*
 * Write to a connection the server may already have closed (a request
 * queued behind a malformed one): EPIPE and ECONNRESET are expected.
 */
static void
write_racing_close(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return;
		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Read exactly len bytes within WAIT_MS, or fail. */
static void
read_exact(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
		n = read(fd, buf + got, len - got);
		ck_assert_msg(n > 0, "connection closed after %zu of %zu bytes",
		    got, len);
		got += (size_t)n;
	}
}

/* The peer must close the connection without sending a byte. */
static void
expect_closed(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	char c;

	ssize_t n;

	ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
	n = read(fd, &c, 1);
	/* Closing with unread input may surface as a reset instead. */
	ck_assert_msg(n == 0 || (n < 0 && errno == ECONNRESET), "read gave %zd",
	    n);
}

/* One request and its exact reply on a connection. */
static void
ask(int fd, const char *req, const char *reply)
{
	char buf[POLICY_REPLY_MAX + 16];
	size_t len = strlen(reply);

	write_all(fd, req, strlen(req));
	read_exact(fd, buf, len);
	ck_assert_mem_eq(buf, reply, len);
}

/* The reply secmx gives to the SOR plaintext request: "530 5.7.0 ...". */
static void
expected_reject(char *out, size_t size, size_t *len)
{
	struct smx_config *cfg;
	struct policy_request pr;
	struct smx_facts f;
	struct smx_decision d;
	char req[] = REQ_SOR_PLAIN;
	char err[256];

	ck_assert_int_eq(smx_config_load(fx.conf, &cfg, err, sizeof(err)),
	    SMX_OK);
	ck_assert_int_eq(policy_proto_parse(req, strlen(req), &pr, err,
	                     sizeof(err)),
	    SMX_OK);
	policy_proto_facts(&pr, &f);
	smx_decide(cfg, &f, &d);
	ck_assert_int_eq(policy_proto_reply(d.action, out, size, len), SMX_OK);
	ck_assert_msg(strncmp(out, "action=530 5.7.0 ", 17) == 0, "%.*s",
	    (int)*len, out);
	smx_config_free(cfg);
}

START_TEST(test_policyd_server_pipelined)
{
	static const char reqs[] =
	    REQ_SOR_PLAIN REQ_OTHER_PLAIN REQ_SOR_TLS REQ_SOR_PLAIN;
	char rej[POLICY_REPLY_MAX + 16];
	char want[4 * sizeof(rej)];
	char got[sizeof(want)];
	size_t rlen;
	size_t wlen = 0;
	int fd;
	int round;

	expected_reject(rej, sizeof(rej), &rlen);
	memcpy(want + wlen, rej, rlen);
	wlen += rlen;
	memcpy(want + wlen, DUNNO DUNNO, 28);
	wlen += 28;
	memcpy(want + wlen, rej, rlen);
	wlen += rlen;
	start_server();
	fd = connect_server();
	ck_assert_int_ge(fd, 0);
	/* The same connection serves several batches (persistent). */
	for (round = 0; round < 3; round++) {
		write_all(fd, reqs, sizeof(reqs) - 1);
		read_exact(fd, got, wlen);
		ck_assert_mem_eq(got, want, wlen);
	}
	/* Byte-by-byte delivery gets the same answer. */
	for (size_t i = 0; i < sizeof(REQ_OTHER_PLAIN) - 1; i++)
		write_all(fd, &REQ_OTHER_PLAIN[i], 1);
	read_exact(fd, got, 14);
	ck_assert_mem_eq(got, DUNNO, 14);
	(void)close(fd);
	stop_server();
}
END_TEST

static const char *const bad_requests[] = {
	"request=smtpd_access_policy\nfoo\n\n",
	"request=smtpd_access_policy\n=x\n\n",
	"protocol_state=RCPT\n\n",
	"request=other\n\n",
	"request=smtpd_access_policy\nencryption_keysize=x\n\n",
	"\n",
};

START_TEST(test_policyd_server_malformed)
{
	const char *bad = bad_requests[_i];
	int fd;

	start_server();
	/* A good request first: its answer arrives, then nothing more. */
	fd = connect_server();
	ck_assert_int_ge(fd, 0);
	ask(fd, REQ_OTHER_PLAIN, DUNNO);
	write_all(fd, bad, strlen(bad));
	expect_closed(fd);
	(void)close(fd);
	/* A request queued behind the bad one is not answered either. */
	fd = connect_server();
	ck_assert_int_ge(fd, 0);
	write_all(fd, bad, strlen(bad));
	write_racing_close(fd, REQ_OTHER_PLAIN, strlen(REQ_OTHER_PLAIN));
	expect_closed(fd);
	(void)close(fd);
	wait_log("malformed request");
	/* The server goes on serving others. */
	fd = connect_server();
	ck_assert_int_ge(fd, 0);
	ask(fd, REQ_OTHER_PLAIN, DUNNO);
	(void)close(fd);
	stop_server();
}
END_TEST

START_TEST(test_policyd_server_oversize)
{
	size_t len = POLICY_REQUEST_MAX + 100;
	char *big = malloc(len);
	int fd;

	ck_assert_ptr_nonnull(big);
	memset(big, 'z', len);
	memcpy(big, "request=smtpd_access_policy\nx=", 30);
	start_server();
	fd = connect_server();
	ck_assert_int_ge(fd, 0);
	(void)send(fd, big, len, MSG_NOSIGNAL);
	expect_closed(fd);
	(void)close(fd);
	free(big);
	stop_server();
}
END_TEST

START_TEST(test_policyd_server_stalled)
{
	static const char partial[] = "request=smtpd_access_policy\nrecip";
	int stalled;
	int fd;
	int i;

	start_server();
	stalled = connect_server();
	ck_assert_int_ge(stalled, 0);
	write_all(stalled, partial, sizeof(partial) - 1);
	fd = connect_server();
	ck_assert_int_ge(fd, 0);
	/* The other client is answered while the first one stalls. */
	for (i = 0; i < 5; i++)
		ask(fd, REQ_OTHER_PLAIN, DUNNO);
	/* The stalled one is dropped (request_timeout = 1s), unanswered. */
	expect_closed(stalled);
	(void)close(stalled);
	wait_log("request timeout");
	ask(fd, REQ_SOR_TLS, DUNNO);
	(void)close(fd);
	stop_server();
}
END_TEST

START_TEST(test_policyd_server_backpressure)
{
	static const char req[] = REQ_SOR_PLAIN REQ_OTHER_PLAIN;
	const size_t n_pairs = 10000;
	char pattern[POLICY_REPLY_MAX + 32];
	char rbuf[65536];
	size_t plen;
	size_t sent = 0;
	size_t total = n_pairs * (sizeof(req) - 1);
	size_t want;
	size_t got = 0;
	int fd;
	int other;

	/* Replies alternate reject and DUNNO, so their order is checked. */
	expected_reject(pattern, sizeof(pattern), &plen);
	memcpy(pattern + plen, DUNNO, 14);
	plen += 14;
	want = n_pairs * plen;
	start_server();
	fd = connect_server();
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	/* Write without reading until the server stops taking requests. */
	for (;;) {
		size_t off = sent % (sizeof(req) - 1);
		struct pollfd pfd = { fd, POLLOUT, 0 };
		ssize_t n;

		if (sent == total || poll(&pfd, 1, 200) == 0)
			break;
		n = write(fd, req + off, sizeof(req) - 1 - off);
		if (n < 0 && errno == EAGAIN)
			continue;
		ck_assert_int_gt(n, 0);
		sent += (size_t)n;
	}
	ck_assert_uint_lt(sent, total);
	/* A blocked reader does not stall anyone else. */
	other = connect_server();
	ck_assert_int_ge(other, 0);
	ask(other, REQ_OTHER_PLAIN, DUNNO);
	(void)close(other);
	/* Drain everything; replies come in request order. */
	while (got < want) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		pfd.events |= sent < total ? POLLOUT : 0;
		ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
		if ((pfd.revents & POLLOUT) && sent < total) {
			size_t off = sent % (sizeof(req) - 1);

			n = write(fd, req + off, sizeof(req) - 1 - off);
			if (n > 0)
				sent += (size_t)n;
		}
		if (pfd.revents & POLLIN) {
			n = read(fd, rbuf, sizeof(rbuf));
			ck_assert_int_gt(n, 0);
			ck_assert_uint_le(got + (size_t)n, want);
			for (ssize_t i = 0; i < n; i++) {
				if (rbuf[i] !=
				    pattern[(got + (size_t)i) % plen])
					ck_abort_msg("reply byte %zu differs",
					    got + (size_t)i);
			}
			got += (size_t)n;
		}
	}
	ck_assert_uint_eq(got, want);
	(void)close(fd);
	stop_server();
}
END_TEST

START_TEST(test_policyd_server_reload)
{
	int fd;
	int i;
	char buf[16];

	start_server();
	fd = connect_server();
	ck_assert_int_ge(fd, 0);
	ask(fd, REQ_NEW_PLAIN, DUNNO);
	/* A changed table takes effect on the same connection. */
	write_config("sor.example sor\nnew.example sor\n");
	ck_assert_int_eq(kill(fx.pid, SIGHUP), 0);
	wait_log("configuration reloaded");
	write_all(fd, REQ_NEW_PLAIN, strlen(REQ_NEW_PLAIN));
	read_exact(fd, buf, 11);
	ck_assert_mem_eq(buf, "action=530 ", 11);
	/* The rest of that reply, up to its empty line. */
	for (i = 0; i < POLICY_REPLY_MAX; i++) {
		read_exact(fd, buf, 1);
		if (buf[0] == '\n')
			break;
	}
	read_exact(fd, buf, 1);
	ck_assert_int_eq(buf[0], '\n');
	(void)close(fd);
	stop_server();
}
END_TEST

START_TEST(test_policyd_server_reload_broken)
{
	char rej[POLICY_REPLY_MAX + 16];
	char got[sizeof(rej)];
	size_t rlen;
	int fd;

	expected_reject(rej, sizeof(rej), &rlen);
	start_server();
	fd = connect_server();
	ck_assert_int_ge(fd, 0);
	ask(fd, REQ_OTHER_PLAIN, DUNNO);
	/* A broken config (and a table change) is not applied. */
	write_file(fx.roles, "other.example sor\n");
	write_file(fx.conf, "receiver_roles = relative/path\nno equals\n");
	ck_assert_int_eq(kill(fx.pid, SIGHUP), 0);
	wait_log("reload failed");
	ck_assert(log_contains("line"));
	ask(fd, REQ_OTHER_PLAIN, DUNNO);
	write_all(fd, REQ_SOR_PLAIN, strlen(REQ_SOR_PLAIN));
	read_exact(fd, got, rlen);
	ck_assert_mem_eq(got, rej, rlen);
	(void)close(fd);
	stop_server();
}
END_TEST

/* The whole of a (small) file, or "" when it cannot be read. */
static void
read_text(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf[0] = '\0';
	if (fd < 0)
		return;
	n = read(fd, buf, size - 1);
	(void)close(fd);
	buf[n > 0 ? n : 0] = '\0';
}

/*
 * SIGHUP is also how logrotate asks for a new log file: the daemon
 * reopens log_destination even when the new configuration is refused,
 * so that its lines, the refusal first, do not go on into the rotated
 * file. (Found by the soak run, scripts/soak.)
 */
START_TEST(test_policyd_server_reload_broken_log)
{
	char file[160];
	char rotated[170];
	char conf[512];
	char text[4096];
	int i;

	snprintf(file, sizeof(file), "%s/file.log", fx.dir);
	snprintf(rotated, sizeof(rotated), "%s.1", file);
	snprintf(conf, sizeof(conf),
	    "receiver_roles = %s\nlog_destination = %s\n", fx.roles, file);
	write_file(fx.conf, conf);
	start_server();
	/* A good reload: from now on the lines go to the file. */
	ck_assert_int_eq(kill(fx.pid, SIGHUP), 0);
	wait_log("configuration reloaded");
	for (i = 0; i < WAIT_MS / 10; i++) {
		read_text(file, text, sizeof(text));
		if (strstr(text, "configuration reloaded") != NULL)
			break;
		sleep_ms(10);
	}
	ck_assert_msg(strstr(text, "configuration reloaded") != NULL,
	    "no reload line in %s", file);
	/* Rotated, then a refused configuration. */
	ck_assert_int_eq(rename(file, rotated), 0);
	snprintf(conf, sizeof(conf),
	    "receiver_roles = %s\nlog_destination = %s\nno equals\n", fx.roles,
	    file);
	write_file(fx.conf, conf);
	ck_assert_int_eq(kill(fx.pid, SIGHUP), 0);
	wait_log("reload failed");
	read_text(file, text, sizeof(text));
	ck_assert_msg(strstr(text, "reload failed") != NULL,
	    "the refusal is not in the new %s: \"%s\"", file, text);
	read_text(rotated, text, sizeof(text));
	ck_assert_msg(strstr(text, "reload failed") == NULL,
	    "the refusal went to the rotated file");
	stop_server();
}
END_TEST

START_TEST(test_policyd_server_spawn)
{
	static const char reqs[] = REQ_OTHER_PLAIN REQ_SOR_TLS;
	char errpath[160];
	char got[28];
	struct stat st;
	int sv[2];
	int status;

	snprintf(errpath, sizeof(errpath), "%s/stderr", fx.dir);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fx.pid = fork();
	ck_assert_int_ge(fx.pid, 0);
	if (fx.pid == 0) {
		int efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* spawn(8): stdin, stdout and stderr are the connection. */
		if (efd < 0 || dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0 ||
		    dup2(efd, 2) < 0)
			_exit(2);
		(void)close(sv[0]);
		(void)close(sv[1]);
		(void)close(efd);
		child_serve(0, 1, true);
	}
	(void)close(sv[1]);
	write_all(sv[0], reqs, sizeof(reqs) - 1);
	read_exact(sv[0], got, 28);
	ck_assert_mem_eq(got, DUNNO DUNNO, 28);
	ask(sv[0], REQ_OTHER_PLAIN, DUNNO);
	/* End of the connection ends the program, with status 0. */
	ck_assert_int_eq(shutdown(sv[0], SHUT_WR), 0);
	expect_closed(sv[0]);
	ck_assert_int_eq(waitpid(fx.pid, &status, 0), fx.pid);
	fx.pid = 0;
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	(void)close(sv[0]);
	ck_assert_int_eq(stat(errpath, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
}
END_TEST

START_TEST(test_policyd_server_spawn_malformed)
{
	int sv[2];
	int status;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fx.pid = fork();
	ck_assert_int_ge(fx.pid, 0);
	if (fx.pid == 0) {
		if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0)
			_exit(2);
		(void)close(sv[0]);
		(void)close(sv[1]);
		child_serve(0, 1, true);
	}
	(void)close(sv[1]);
	write_all(sv[0], "request=smtpd_access_policy\nfoo\n\n", 34);
	/* No reply; the program ends (and so closes the connection). */
	ck_assert_int_eq(waitpid(fx.pid, &status, 0), fx.pid);
	fx.pid = 0;
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	expect_closed(sv[0]);
	(void)close(sv[0]);
}
END_TEST

static Suite *
server_suite(void)
{
	Suite *s = suite_create("policyd_server");
	TCase *tc;

	tc = tcase_create("requests");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_policyd_server_pipelined);
	tcase_add_loop_test(tc, test_policyd_server_malformed, 0,
	    sizeof(bad_requests) / sizeof(bad_requests[0]));
	tcase_add_test(tc, test_policyd_server_oversize);
	tcase_add_test(tc, test_policyd_server_backpressure);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeouts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_policyd_server_stalled);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_policyd_server_reload);
	tcase_add_test(tc, test_policyd_server_reload_broken);
	tcase_add_test(tc, test_policyd_server_reload_broken_log);
	suite_add_tcase(s, tc);

	tc = tcase_create("spawn");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_policyd_server_spawn);
	tcase_add_test(tc, test_policyd_server_spawn_malformed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(server_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
