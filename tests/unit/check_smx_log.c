/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/smx_log.c: the syslog datagrams it sends (format,
 * facility, sanitising, truncation), batching and its order (per thread,
 * to syslog and to a file), the sink observer, and errno. The log socket is a
 * datagram socket in a temporary directory, not /dev/log.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "smx_limits.h"
#include "smx_log.h"

#define DGRAM_MAX (SMX_LOG_LINE_MAX + 256)

static char dir[] = "/tmp/check_smx_log.XXXXXX";
static char path[128];
static int sink = -1;

static void
setup(void)
{
	struct sockaddr_un sun;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/log", dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	sink = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_ge(sink, 0);
	ck_assert_int_eq(bind(sink, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert(smx_log_set_socket(path));
	smx_log_open("test/log", SMX_LOG_SYSLOG, NULL);
}

static void
teardown(void)
{
	smx_log_set_batch(false);
	(void)close(sink);
	(void)unlink(path);
	(void)rmdir(dir);
}

/* The next datagram's text after "ident[pid]: ", or NULL if none. */
static const char *
next_line(int *prio)
{
	static char buf[DGRAM_MAX + 1];
	ssize_t n = recv(sink, buf, DGRAM_MAX, MSG_DONTWAIT);
	char *p;

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	ck_assert_int_eq(buf[0], '<');
	*prio = atoi(buf + 1);
	p = strstr(buf, "test/log[");
	ck_assert_ptr_nonnull(p);
	p = strstr(p, "]: ");
	ck_assert_ptr_nonnull(p);
	return p + 3;
}

START_TEST(test_smx_log_format)
{
	char expect[32];
	char head[64];
	int prio = -1;
	ssize_t n;

	smx_log_info("hello %s", "world");
	n = recv(sink, head, sizeof(head) - 1, MSG_PEEK | MSG_DONTWAIT);
	ck_assert_int_gt(n, 20);
	head[n] = '\0';
	/* "<22>Mmm dd hh:mm:ss test/log[PID]: ": mail facility, info. */
	snprintf(expect, sizeof(expect), "test/log[%ld]: ", (long)getpid());
	ck_assert_int_eq(strncmp(head, "<22>", 4), 0);
	ck_assert_ptr_nonnull(strstr(head, expect));
	ck_assert_str_eq(next_line(&prio), "hello world");
	ck_assert_int_eq(prio, LOG_MAIL | LOG_INFO);
	smx_log_warning("w");
	ck_assert_str_eq(next_line(&prio), "warning: w");
	ck_assert_int_eq(prio, LOG_MAIL | LOG_WARNING);
	smx_log_error("e");
	ck_assert_str_eq(next_line(&prio), "error: e");
	ck_assert_int_eq(prio, LOG_MAIL | LOG_ERR);
	/* Debug lines only when verbose. */
	smx_log_debug("quiet");
	ck_assert_ptr_null(next_line(&prio));
	smx_log_set_verbose(true);
	smx_log_debug("loud");
	smx_log_set_verbose(false);
	ck_assert_str_eq(next_line(&prio), "loud");
}
END_TEST

START_TEST(test_smx_log_sanitise)
{
	char big[SMX_LOG_LINE_MAX * 2];
	const char *line;
	int prio;

	smx_log_info("a\nb\rc\001d\x7f\xc3\xa9");
	ck_assert_str_eq(next_line(&prio), "a?b?c?d???");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	smx_log_info("%s", big);
	line = next_line(&prio);
	ck_assert_uint_eq(strlen(line), SMX_LOG_LINE_MAX);
	/* errno survives logging, and the _errno variant names it. */
	errno = ENOENT;
	smx_log_error_errno("open %s", "x");
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_str_eq(next_line(&prio),
	    "error: open x: No such file or directory");
}
END_TEST

START_TEST(test_smx_log_batch_order)
{
	int status;
	pid_t pid;
	int prio;
	int i;

	smx_log_set_batch(true);
	smx_log_info("one");
	smx_log_info("two");
	/* Queued: nothing sent yet. */
	ck_assert_ptr_null(next_line(&prio));
	/* A warning sends the queue first, then itself: order is kept. */
	smx_log_warning("three");
	ck_assert_str_eq(next_line(&prio), "one");
	ck_assert_str_eq(next_line(&prio), "two");
	ck_assert_str_eq(next_line(&prio), "warning: three");
	ck_assert_ptr_null(next_line(&prio));
	smx_log_info("four");
	smx_log_flush();
	ck_assert_str_eq(next_line(&prio), "four");
	/*
	 * A full queue (32 lines) is sent without waiting for a flush. A
	 * datagram socket holds only a few unread lines, so a child logs
	 * while this process reads, as a log daemon would.
	 */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (i = 0; i < 40; i++)
			smx_log_info("n%d", i);
		/* 32 were sent by now; leaving batch mode sends the rest. */
		smx_log_set_batch(false);
		_exit(0);
	}
	for (i = 0; i < 40; i++) {
		struct pollfd pfd = { sink, POLLIN, 0 };
		char want[8];

		ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
		snprintf(want, sizeof(want), "n%d", i);
		ck_assert_str_eq(next_line(&prio), want);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_ptr_null(next_line(&prio));
}
END_TEST

/* Read a whole small file into buf (size bytes, NUL-terminated). */
static void
slurp(const char *file, char *buf, size_t size)
{
	FILE *fp = fopen(file, "r");
	size_t n;

	ck_assert_ptr_nonnull(fp);
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	ck_assert_int_eq(fclose(fp), 0);
}

/* A thread that logs "other" without batch mode of its own. */
static void *
other_thread(void *arg)
{
	(void)arg;
	smx_log_info("other");
	return NULL;
}

static pthread_barrier_t barrier;

/*
 * A thread in batch mode queues "q1" and "q2", waits while the main
 * thread looks, and ends batch mode.
 */
static void *
batch_thread(void *arg)
{
	(void)arg;
	smx_log_set_batch(true);
	smx_log_info("q1");
	smx_log_info("q2");
	(void)pthread_barrier_wait(&barrier);
	(void)pthread_barrier_wait(&barrier);
	smx_log_set_batch(false);
	return NULL;
}

/*
 * Batch mode belongs to the thread that turned it on: another thread's
 * lines go out at once, and the batching thread's lines wait for its own
 * flush (or its end of batch mode), whatever other threads do.
 */
START_TEST(test_smx_log_batch_per_thread)
{
	pthread_t t;
	int prio;

	smx_log_set_batch(true);
	smx_log_info("queued");
	ck_assert_int_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_str_eq(next_line(&prio), "other");
	ck_assert_ptr_null(next_line(&prio));
	smx_log_flush();
	ck_assert_str_eq(next_line(&prio), "queued");
	smx_log_set_batch(false);
	/* This thread is not batched: a line goes out at once. */
	smx_log_info("direct");
	ck_assert_str_eq(next_line(&prio), "direct");

	/*
	 * Another thread's queue is not flushed by this one; it is sent
	 * when that thread ends batch mode.
	 */
	ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, batch_thread, NULL), 0);
	(void)pthread_barrier_wait(&barrier);
	smx_log_flush();
	ck_assert_ptr_null(next_line(&prio));
	smx_log_info("between");
	ck_assert_str_eq(next_line(&prio), "between");
	(void)pthread_barrier_wait(&barrier);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(pthread_barrier_destroy(&barrier), 0);
	ck_assert_str_eq(next_line(&prio), "q1");
	ck_assert_str_eq(next_line(&prio), "q2");
	ck_assert_ptr_null(next_line(&prio));
}
END_TEST

/* Count the lines of a file. */
static int
count_lines(const char *file)
{
	FILE *fp = fopen(file, "r");
	int n = 0;
	int c;

	ck_assert_ptr_nonnull(fp);
	while ((c = getc(fp)) != EOF)
		n += c == '\n';
	ck_assert_int_eq(fclose(fp), 0);
	return n;
}

/* The file has the line with first, and after it the one with second. */
static void
assert_in_order(const char *file, const char *first, const char *second)
{
	char text[8192];
	const char *a;
	const char *b;

	slurp(file, text, sizeof(text));
	a = strstr(text, first);
	b = strstr(text, second);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert(a < b);
}

/*
 * Batch mode with log_destination = /path: lines wait for the flush and
 * then go in whole, in order; a warning sends the queue before itself;
 * long lines fill the queue by their bytes and it is sent without a
 * flush.
 */
START_TEST(test_smx_log_batch_file)
{
	char big[SMX_LOG_LINE_MAX + 1];
	char file[160];
	int i;

	snprintf(file, sizeof(file), "%s/batch.log", dir);
	ck_assert(smx_log_open("test/log", SMX_LOG_FILE, file));
	smx_log_set_batch(true);
	smx_log_info("alpha");
	smx_log_info("beta");
	ck_assert_int_eq(count_lines(file), 0);
	smx_log_flush();
	assert_in_order(file, "]: alpha\n", "]: beta\n");
	ck_assert_int_eq(count_lines(file), 2);
	smx_log_info("gamma");
	smx_log_warning("delta");
	assert_in_order(file, "]: gamma\n", "]: warning: delta\n");
	/* Lines of the longest length: the queue is sent when full. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < 20; i++)
		smx_log_info("%s", big);
	ck_assert_int_gt(count_lines(file), 4);
	ck_assert_int_lt(count_lines(file), 4 + 20);
	smx_log_set_batch(false);
	ck_assert_int_eq(count_lines(file), 4 + 20);
	smx_log_open("test/log", SMX_LOG_SYSLOG, NULL);
	(void)unlink(file);
}
END_TEST

static char seen[SMX_LOG_LINE_MAX + 1];
static int seen_prio;

static void
observe(int prio, const char *line, void *ctx)
{
	(void)ctx;
	seen_prio = prio;
	snprintf(seen, sizeof(seen), "%s", line);
}

/*
 * log_destination = /path: "Mmm dd hh:mm:ss host ident[pid]: text"
 * lines appended, the file reopened by smx_log_open (rotation), and a
 * file that cannot be opened falls back to syslog with a warning.
 */
START_TEST(test_smx_log_file)
{
	char file[160];
	char moved[170];
	char text[4096];
	char want[64];
	int prio = -1;
	const char *line;

	snprintf(file, sizeof(file), "%s/mail.log", dir);
	snprintf(moved, sizeof(moved), "%s/mail.log.1", dir);
	ck_assert(smx_log_open("test/log", SMX_LOG_FILE, file));
	smx_log_info("first to=<a@b.example>");
	smx_log_warning("second\nline");
	slurp(file, text, sizeof(text));
	snprintf(want, sizeof(want), " test/log[%ld]: first to=<a@b.example>\n",
	    (long)getpid());
	ck_assert_ptr_nonnull(strstr(text, want));
	ck_assert_ptr_nonnull(strstr(text, ": warning: second?line\n"));
	/* "Mmm dd hh:mm:ss host ": a month name, then the time. */
	ck_assert_int_eq(text[3], ' ');
	ck_assert_int_eq(text[9], ':');
	ck_assert_int_eq(text[12], ':');
	ck_assert_int_eq(text[15], ' ');
	ck_assert_ptr_null(next_line(&prio)); /* nothing went to syslog */
	/* Rotation: the old file moved away, the next open makes a new one. */
	ck_assert_int_eq(rename(file, moved), 0);
	ck_assert(smx_log_open("test/log", SMX_LOG_FILE, file));
	smx_log_info("third");
	slurp(file, text, sizeof(text));
	ck_assert_ptr_null(strstr(text, "first"));
	ck_assert_ptr_nonnull(strstr(text, "]: third\n"));
	/* A file that cannot be opened: syslog, with the reason. */
	ck_assert(!smx_log_open("test/log", SMX_LOG_FILE, "/nonexistent/x/y"));
	line = next_line(&prio);
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, "/nonexistent/x/y"));
	smx_log_info("fourth");
	line = next_line(&prio);
	ck_assert_ptr_nonnull(line);
	ck_assert_str_eq(line, "fourth");
	smx_log_open("test/log", SMX_LOG_SYSLOG, NULL);
	(void)unlink(file);
	(void)unlink(moved);
}
END_TEST

START_TEST(test_smx_log_sink_and_missing_socket)
{
	int prio;

	smx_log_set_sink(observe, NULL);
	smx_log_warning("x=%d", 5);
	smx_log_set_sink(NULL, NULL);
	ck_assert_str_eq(seen, "warning: x=5");
	ck_assert_int_eq(seen_prio, LOG_WARNING);
	ck_assert_str_eq(next_line(&prio), "warning: x=5");
	/* No log daemon: lines are dropped, the program goes on. */
	(void)close(sink);
	sink = -1;
	(void)unlink(path);
	smx_log_info("nobody listens");
	smx_log_set_batch(true);
	smx_log_info("nobody listens either");
	smx_log_flush();
	/* A path too long for a socket address is refused. */
	{
		char long_path[200];

		memset(long_path, 'a', sizeof(long_path) - 1);
		long_path[sizeof(long_path) - 1] = '\0';
		ck_assert(!smx_log_set_socket(long_path));
	}
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("smx_log");
	TCase *tc = tcase_create("syslog");

	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_smx_log_format);
	tcase_add_test(tc, test_smx_log_sanitise);
	tcase_add_test(tc, test_smx_log_batch_order);
	tcase_add_test(tc, test_smx_log_batch_per_thread);
	tcase_add_test(tc, test_smx_log_batch_file);
	tcase_add_test(tc, test_smx_log_sink_and_missing_socket);
	tcase_add_test(tc, test_smx_log_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
