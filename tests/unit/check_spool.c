/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transport/spool.c: memory and file storage, rewinding,
 * the size bound, the unlinked temporary file and bounded memory, both
 * from a descriptor and through the append path.
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spool.h"

/* Byte i of the test message. */
static char
pattern(unsigned long long i)
{
	return (char)("abcdefghij\n.\r"[i % 13] + (i / 4093) % 3);
}

/* A pipe fed with len pattern bytes by a child; returns the read end. */
static int
feeder(unsigned long long len, pid_t *pid)
{
	int fds[2];
	char buf[65536];

	ck_assert_int_eq(pipe(fds), 0);
	*pid = fork();
	ck_assert_int_ge(*pid, 0);
	if (*pid == 0) {
		unsigned long long done = 0;

		close(fds[0]);
		while (done < len) {
			size_t n = len - done < sizeof(buf)
			    ? (size_t)(len - done)
			    : sizeof(buf);
			size_t i;

			for (i = 0; i < n; i++)
				buf[i] = pattern(done + i);
			if (write(fds[1], buf, n) != (ssize_t)n)
				_exit(1);
			done += n;
		}
		_exit(0);
	}
	close(fds[1]);
	return fds[0];
}

static void
feeder_wait(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
}

/* Read the whole spool and compare with the pattern. */
static void
check_content(struct spool *sp, unsigned long long len)
{
	static char buf[65536];
	static char want[65536];
	unsigned long long pos = 0;
	size_t n;
	size_t i;

	ck_assert_int_eq(spool_rewind(sp), SMX_OK);
	for (;;) {
		ck_assert_int_eq(spool_read(sp, buf, sizeof(buf), &n), SMX_OK);
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			want[i] = pattern(pos + i);
		ck_assert_int_eq(memcmp(buf, want, n), 0);
		pos += n;
	}
	ck_assert_uint_eq(pos, len);
}

static const unsigned long long sizes[] = {
	0,
	1,
	100,
	SPOOL_MEM_MAX - 1,
	SPOOL_MEM_MAX,
	SPOOL_MEM_MAX + 1,
	3 * SPOOL_MEM_MAX + 12345,
};

START_TEST(test_spool_sizes)
{
	unsigned long long len = sizes[_i];
	struct spool sp;
	char reason[256];
	pid_t pid;
	int fd = feeder(len, &pid);

	ck_assert_int_eq(spool_read_fd(&sp, fd, 0, reason, sizeof(reason)),
	    SMX_OK);
	feeder_wait(pid);
	close(fd);
	ck_assert_uint_eq(spool_size(&sp), len);
	if (len < SPOOL_MEM_MAX)
		ck_assert(!spool_is_file(&sp)); /* small: memory only */
	if (len > SPOOL_MEM_MAX)
		ck_assert(spool_is_file(&sp));
	/* Twice: a second target gets identical bytes. */
	check_content(&sp, len);
	check_content(&sp, len);
	spool_free(&sp);
	ck_assert(!spool_is_file(&sp));
	ck_assert_uint_eq(spool_size(&sp), 0);
}
END_TEST

/* Count the entries of dir other than "." and "..". */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

START_TEST(test_spool_unlinked_file)
{
	char dir[] = "/tmp/secmx-spool-test.XXXXXX";
	unsigned long long len = 2 * SPOOL_MEM_MAX;
	struct spool sp;
	char reason[256];
	char link[64];
	char target[512];
	ssize_t n;
	pid_t pid;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(setenv("TMPDIR", dir, 1), 0);
	fd = feeder(len, &pid);
	ck_assert_int_eq(spool_read_fd(&sp, fd, 0, reason, sizeof(reason)),
	    SMX_OK);
	feeder_wait(pid);
	close(fd);
	ck_assert(spool_is_file(&sp));
	/* The file was made in $TMPDIR and has no name any more. */
	ck_assert_int_eq(count_entries(dir), 0);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", sp.fd);
	n = readlink(link, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_ptr_nonnull(strstr(target, dir));
	ck_assert_ptr_nonnull(strstr(target, "(deleted)"));
	check_content(&sp, len);
	spool_free(&sp);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_spool_max_size)
{
	static const unsigned long long lens[] = { 1000, 2 * SPOOL_MEM_MAX };
	struct spool sp;
	char reason[256];
	pid_t pid;
	int fd;
	size_t i;

	signal(SIGPIPE, SIG_IGN); /* the feeder may be cut short */
	for (i = 0; i < 2; i++) {
		unsigned long long len = lens[i];

		/* Exactly at the bound is fine. */
		fd = feeder(len, &pid);
		ck_assert_int_eq(spool_read_fd(&sp, fd, len, reason,
		                     sizeof(reason)),
		    SMX_OK);
		feeder_wait(pid);
		close(fd);
		spool_free(&sp);
		/* One byte more is refused, and nothing is kept. */
		fd = feeder(len + 1, &pid);
		ck_assert_int_eq(spool_read_fd(&sp, fd, len, reason,
		                     sizeof(reason)),
		    SMX_INVALID);
		close(fd);
		waitpid(pid, NULL, 0);
		ck_assert_str_eq(reason, "message too large");
		ck_assert_ptr_null(sp.mem);
		ck_assert(!spool_is_file(&sp));
	}
}
END_TEST

START_TEST(test_spool_bad_tmpdir)
{
	struct spool sp;
	char reason[256] = "";
	pid_t pid;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(setenv("TMPDIR", "/nonexistent/secmx", 1), 0);
	fd = feeder(SPOOL_MEM_MAX + 1, &pid);
	ck_assert_int_eq(spool_read_fd(&sp, fd, 0, reason, sizeof(reason)),
	    SMX_TEMPFAIL);
	close(fd);
	waitpid(pid, NULL, 0);
	ck_assert_ptr_nonnull(strstr(reason, "mkstemp"));
	ck_assert_ptr_null(sp.mem);
}
END_TEST

/*
 * 100 MiB through the spool and back, byte for byte. Its memory use is a
 * benchmark figure (scripts/bench), not a unit-test assertion.
 */
START_TEST(test_spool_large_message)
{
	unsigned long long len = 100ULL * 1024 * 1024;
	struct spool sp;
	char reason[256];
	pid_t pid;
	int fd = feeder(len, &pid);

	ck_assert_int_eq(spool_read_fd(&sp, fd, 0, reason, sizeof(reason)),
	    SMX_OK);
	feeder_wait(pid);
	close(fd);
	ck_assert_uint_eq(spool_size(&sp), len);
	check_content(&sp, len);
	spool_free(&sp);
}
END_TEST

/* Append the first len pattern bytes in pieces of piece bytes. */
static enum smx_status
append_pattern(struct spool *sp, unsigned long long len, size_t piece,
    unsigned long long max_size, char *reason, size_t reason_size)
{
	static char buf[65536];
	unsigned long long done = 0;
	enum smx_status st;

	ck_assert_uint_le(piece, sizeof(buf));
	while (done < len) {
		size_t n = len - done < piece ? (size_t)(len - done) : piece;
		size_t i;

		for (i = 0; i < n; i++)
			buf[i] = pattern(done + i);
		st = spool_append(sp, buf, n, max_size, reason, reason_size);
		if (st != SMX_OK)
			return st;
		done += n;
	}
	return SMX_OK;
}

/* Sizes around the memory bound, each in pieces of several sizes. */
static const size_t pieces[] = { 1, 7, 4096, SPOOL_CHUNK };

START_TEST(test_spool_append_sizes)
{
	static const unsigned long long lens[] = { 0, 1, 13, SPOOL_MEM_MAX - 1,
		SPOOL_MEM_MAX, SPOOL_MEM_MAX + 1, 2 * SPOOL_MEM_MAX + 4097 };
	size_t piece = pieces[_i];
	struct spool sp;
	char reason[256];
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		unsigned long long len = lens[i];

		/* One byte at a time over a megabyte is slow, not useful. */
		if (piece == 1 && len > 2 * SPOOL_CHUNK)
			continue;
		spool_init(&sp);
		ck_assert_int_eq(append_pattern(&sp, len, piece, 0, reason,
		                     sizeof(reason)),
		    SMX_OK);
		ck_assert_int_eq(spool_finish(&sp, reason, sizeof(reason)),
		    SMX_OK);
		ck_assert_uint_eq(spool_size(&sp), len);
		ck_assert(spool_is_file(&sp) == (len > SPOOL_MEM_MAX));
		check_content(&sp, len);
		check_content(&sp, len);
		spool_free(&sp);
	}
}
END_TEST

/* One append larger than memory: split between memory and file. */
START_TEST(test_spool_append_one_piece)
{
	size_t len = SPOOL_MEM_MAX + SPOOL_CHUNK + 3;
	char *buf = malloc(len);
	struct spool sp;
	char reason[256];
	size_t i;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < len; i++)
		buf[i] = pattern(i);
	spool_init(&sp);
	ck_assert_int_eq(spool_append(&sp, buf, len, len, reason,
	                     sizeof(reason)),
	    SMX_OK);
	/* A zero-length append changes nothing, even at the bound. */
	ck_assert_int_eq(spool_append(&sp, buf, 0, len, reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_int_eq(spool_finish(&sp, reason, sizeof(reason)), SMX_OK);
	ck_assert_uint_eq(sp.mem_len, SPOOL_MEM_MAX);
	ck_assert(spool_is_file(&sp));
	check_content(&sp, len);
	spool_free(&sp);
	free(buf);
}
END_TEST

/* An empty message: nothing allocated, nothing to read. */
START_TEST(test_spool_append_empty)
{
	struct spool sp;
	char reason[256];
	char buf[16];
	size_t n = 99;

	spool_init(&sp);
	ck_assert_int_eq(spool_append(&sp, "", 0, 0, reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_int_eq(spool_finish(&sp, reason, sizeof(reason)), SMX_OK);
	ck_assert_ptr_null(sp.mem);
	ck_assert_uint_eq(spool_size(&sp), 0);
	ck_assert_int_eq(spool_read(&sp, buf, sizeof(buf), &n), SMX_OK);
	ck_assert_uint_eq(n, 0);
	spool_free(&sp);
}
END_TEST

/*
 * The bound, in memory and in the file: exactly at it is fine, one byte
 * more is refused, nothing is kept, and the refusal sticks until the
 * spool is freed.
 */
START_TEST(test_spool_append_max_size)
{
	static const unsigned long long lens[] = { 1000, SPOOL_MEM_MAX,
		2 * SPOOL_MEM_MAX };
	struct spool sp;
	char reason[256];
	size_t i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		unsigned long long len = lens[i];

		spool_init(&sp);
		ck_assert_int_eq(append_pattern(&sp, len, 4096, len, reason,
		                     sizeof(reason)),
		    SMX_OK);
		ck_assert_int_eq(spool_finish(&sp, reason, sizeof(reason)),
		    SMX_OK);
		check_content(&sp, len);
		spool_free(&sp);

		spool_init(&sp);
		ck_assert_int_eq(append_pattern(&sp, len + 1, 4096, len, reason,
		                     sizeof(reason)),
		    SMX_INVALID);
		ck_assert_str_eq(reason, "message too large");
		ck_assert_ptr_null(sp.mem);
		ck_assert(!spool_is_file(&sp));
		ck_assert_uint_eq(spool_size(&sp), 0);
		/* Sticky: a later small append cannot make a message. */
		ck_assert_int_eq(spool_append(&sp, "x", 1, 0, reason,
		                     sizeof(reason)),
		    SMX_INVALID);
		ck_assert_int_eq(spool_finish(&sp, reason, sizeof(reason)),
		    SMX_INVALID);
		ck_assert_str_eq(reason, "earlier append failed");
		ck_assert_uint_eq(spool_size(&sp), 0);
		/* Freed, the spool is usable again. */
		spool_free(&sp);
		ck_assert_int_eq(spool_append(&sp, "x", 1, 0, reason,
		                     sizeof(reason)),
		    SMX_OK);
		ck_assert_int_eq(spool_finish(&sp, reason, sizeof(reason)),
		    SMX_OK);
		ck_assert_uint_eq(spool_size(&sp), 1);
		spool_free(&sp);
	}
}
END_TEST

/* No temporary file possible: the append that needs one fails, sticky. */
START_TEST(test_spool_append_bad_tmpdir)
{
	struct spool sp;
	char reason[256] = "";

	ck_assert_int_eq(setenv("TMPDIR", "/nonexistent/secmx", 1), 0);
	spool_init(&sp);
	ck_assert_int_eq(append_pattern(&sp, SPOOL_MEM_MAX, SPOOL_CHUNK, 0,
	                     reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_int_eq(spool_append(&sp, "x", 1, 0, reason, sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(reason, "mkstemp"));
	ck_assert_ptr_null(sp.mem);
	ck_assert_int_eq(spool_finish(&sp, reason, sizeof(reason)),
	    SMX_TEMPFAIL);
	spool_free(&sp);
}
END_TEST

/* A descriptor and appends of the same bytes give the same spool. */
START_TEST(test_spool_append_same_as_fd)
{
	unsigned long long len = SPOOL_MEM_MAX + 77;
	struct spool a;
	struct spool b;
	char reason[256];
	static char ba[65536];
	static char bb[65536];
	size_t na;
	size_t nb;
	pid_t pid;
	int fd = feeder(len, &pid);

	ck_assert_int_eq(spool_read_fd(&a, fd, 0, reason, sizeof(reason)),
	    SMX_OK);
	feeder_wait(pid);
	close(fd);
	spool_init(&b);
	ck_assert_int_eq(append_pattern(&b, len, 1000, 0, reason,
	                     sizeof(reason)),
	    SMX_OK);
	ck_assert_int_eq(spool_finish(&b, reason, sizeof(reason)), SMX_OK);
	ck_assert_uint_eq(spool_size(&a), spool_size(&b));
	ck_assert_uint_eq(a.mem_len, b.mem_len);
	do {
		ck_assert_int_eq(spool_read(&a, ba, sizeof(ba), &na), SMX_OK);
		ck_assert_int_eq(spool_read(&b, bb, na, &nb), SMX_OK);
		ck_assert_uint_eq(na, nb);
		ck_assert_int_eq(memcmp(ba, bb, na), 0);
	} while (na > 0);
	spool_free(&a);
	spool_free(&b);
}
END_TEST

static Suite *
spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc;

	tc = tcase_create("store");
	tcase_add_loop_test(tc, test_spool_sizes, 0,
	    sizeof(sizes) / sizeof(sizes[0]));
	tcase_add_test(tc, test_spool_unlinked_file);
	tcase_add_test(tc, test_spool_max_size);
	tcase_add_test(tc, test_spool_bad_tmpdir);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("append");
	tcase_add_loop_test(tc, test_spool_append_sizes, 0,
	    sizeof(pieces) / sizeof(pieces[0]));
	tcase_add_test(tc, test_spool_append_one_piece);
	tcase_add_test(tc, test_spool_append_empty);
	tcase_add_test(tc, test_spool_append_max_size);
	tcase_add_test(tc, test_spool_append_bad_tmpdir);
	tcase_add_test(tc, test_spool_append_same_as_fd);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_add_test(tc, test_spool_large_message);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(spool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
