/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/lmtpd_server.c: the real event loop in a child
 * process on a unix socket in a temporary directory, driven over LMTP and
 * stopped by its PID with SIGTERM; the child must exit with status 0.
 *
 * A connection's thread is not over when its session is: the destructors
 * of its thread-local data run after it returns (OpenSSL's free its
 * per-thread state there), and an exit(3) that overlaps them aborts the
 * process. The child marks each thread that logs with a thread-local key
 * whose destructor takes a while, and counts the destructors that ended
 * by the time lmtpd_server_run returned.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_listen.h"
#include "smx_log.h"

#include "lmtpd_server.h"

#define WAIT_MS 5000      /* upper bound for any single wait */
#define DESTRUCTOR_MS 300 /* how long a marked thread takes to end */
#define EXIT_UNMARKED 4   /* no connection thread logged */
#define EXIT_NOT_JOINED 5 /* returned before a thread had ended */

static const char config[] = "helo_name = tx.test\n"
                             "default_sender_role = bes\n";

struct fixture {
	char dir[64];
	char sock[128];
	pid_t pid;
};

static struct fixture fx;

/* The child's bookkeeping of connection threads. */
static pthread_t main_thread;
static pthread_key_t mark_key;
static atomic_uint n_marked;
static atomic_uint n_ended;

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Runs as a marked thread ends. */
static void
mark_destructor(void *value)
{
	(void)value;
	sleep_ms(DESTRUCTOR_MS);
	atomic_fetch_add(&n_ended, 1);
}

/* The log observer: marks each thread but the main one, once. */
static void
mark_thread(int prio, const char *line, void *ctx)
{
	(void)prio;
	(void)line;
	(void)ctx;
	if (pthread_equal(pthread_self(), main_thread) ||
	    pthread_getspecific(mark_key) != NULL)
		return;
	if (pthread_setspecific(mark_key, &mark_key) == 0)
		atomic_fetch_add(&n_marked, 1);
}

/* The child: serve until SIGTERM; exit 0 only after a clean stop. */
static void
child_serve(void)
{
	struct lmtpd_server_opts so;
	struct smx_listen_endpoint ep;
	struct smx_listen_opts lo;
	struct smx_config *cfg;
	enum smx_status st;
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
	main_thread = pthread_self();
	if (pthread_key_create(&mark_key, mark_destructor) != 0)
		_exit(2);
	smx_log_open("secmx/lmtpd", SMX_LOG_SYSLOG, NULL);
	smx_log_set_verbose(true);
	smx_log_set_sink(mark_thread, NULL);
	if (smx_config_parse("test", config, strlen(config), &cfg, err,
	        sizeof(err)) != SMX_OK)
		_exit(2);
	smx_listen_opts_init(&lo);
	snprintf(spec, sizeof(spec), "unix:%s", fx.sock);
	if (smx_listen_parse(spec, &ep, err, sizeof(err)) != SMX_OK ||
	    smx_listen_open(&ep, &lo, &lfd, 1, &n, err, sizeof(err)) != SMX_OK)
		_exit(2);
	memset(&so, 0, sizeof(so));
	so.config_path = "test";
	so.config = cfg;
	so.listen_fds = &lfd;
	so.n_listen_fds = 1;
	so.log_ident = "secmx/lmtpd";
	st = lmtpd_server_run(&so);
	if (st != SMX_OK)
		_exit(1);
	if (atomic_load(&n_marked) == 0)
		_exit(EXIT_UNMARKED);
	if (atomic_load(&n_ended) != atomic_load(&n_marked))
		_exit(EXIT_NOT_JOINED);
	_exit(0);
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
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/check_lmtpd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fx.dir));
	snprintf(fx.sock, sizeof(fx.sock), "%s/lmtp", fx.dir);
}

static void
teardown(void)
{
	if (fx.pid > 0) {
		(void)kill(fx.pid, SIGKILL);
		(void)waitpid(fx.pid, NULL, 0);
	}
	(void)unlink(fx.sock);
	(void)rmdir(fx.dir);
}

/* Start the child and return a connection to it. */
static int
start_server(void)
{
	int i;
	int fd = -1;

	fx.pid = fork();
	ck_assert_int_ge(fx.pid, 0);
	if (fx.pid == 0)
		child_serve();
	for (i = 0; i < WAIT_MS / 10 && fd < 0; i++) {
		fd = connect_server();
		if (fd < 0)
			sleep_ms(10);
	}
	ck_assert_msg(fd >= 0, "server socket did not appear");
	return fd;
}

/* The child's exit status after SIGTERM, waited for at most WAIT_MS. */
static int
stop_server(void)
{
	int status = 0;
	pid_t got = 0;
	int i;

	ck_assert_int_eq(kill(fx.pid, SIGTERM), 0);
	for (i = 0; i < WAIT_MS / 10 && got == 0; i++) {
		got = waitpid(fx.pid, &status, WNOHANG);
		if (got == 0)
			sleep_ms(10);
	}
	ck_assert_msg(got == fx.pid, "the server did not stop");
	fx.pid = 0;
	ck_assert_msg(WIFEXITED(status), "the server ended on signal %d",
	    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

static void
write_all(int fd, const char *p)
{
	size_t len = strlen(p);

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
}

/*
 * Read until a line that starts with prefix has come whole, or until the
 * end of the connection when prefix is NULL; WAIT_MS for each read. The
 * text read goes to buf.
 */
static void
read_until(int fd, const char *prefix, char *buf, size_t size)
{
	size_t got = 0;

	buf[0] = '\0';
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		const char *line;
		ssize_t n;

		ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
		n = read(fd, buf + got, size - 1 - got);
		if (n == 0 && prefix == NULL)
			return;
		ck_assert_msg(n > 0, "connection ended after \"%s\"", buf);
		got += (size_t)n;
		buf[got] = '\0';
		for (line = buf; prefix != NULL && line != NULL;
		     line = strchr(line, '\n') != NULL ? strchr(line, '\n') + 1
		                                       : NULL) {
			if (strncmp(line, prefix, strlen(prefix)) == 0 &&
			    strchr(line, '\n') != NULL)
				return;
		}
		ck_assert_uint_lt(got, size - 1);
	}
}

/*
 * SIGTERM with a connection open: its thread answers 421 and ends, and
 * the server returns only after that thread has ended, thread-local
 * destructors included.
 */
START_TEST(test_lmtpd_server_stop_joins_threads)
{
	char buf[4096];
	int fd = start_server();

	read_until(fd, "220 ", buf, sizeof(buf));
	/* Refused, and logged (verbose) in the connection's thread. */
	write_all(fd, "LHLO client.test\r\nNOSUCH\r\n");
	read_until(fd, "5", buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "250 ") != NULL, "no LHLO reply: %s", buf);
	ck_assert_int_eq(stop_server(), 0);
	read_until(fd, NULL, buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, "421 4.3.2 ", 10) == 0,
	    "the open connection got \"%s\", not 421", buf);
	(void)close(fd);
}
END_TEST

/* The same for a connection that ended before the SIGTERM. */
START_TEST(test_lmtpd_server_stop_joins_ended_threads)
{
	char buf[4096];
	int fd = start_server();

	read_until(fd, "220 ", buf, sizeof(buf));
	write_all(fd, "LHLO client.test\r\nNOSUCH\r\nQUIT\r\n");
	read_until(fd, NULL, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "221 ") != NULL, "no QUIT reply: %s", buf);
	(void)close(fd);
	ck_assert_int_eq(stop_server(), 0);
}
END_TEST

static Suite *
server_suite(void)
{
	Suite *s = suite_create("lmtpd_server");
	TCase *tc = tcase_create("stop");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_lmtpd_server_stop_joins_threads);
	tcase_add_test(tc, test_lmtpd_server_stop_joins_ended_threads);
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
