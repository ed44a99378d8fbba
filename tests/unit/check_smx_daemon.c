/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/smx_daemon.c: group parsing, the pid file and
 * SIGHUP held until the event loop takes it. The
 * privilege drop and detaching are exercised by the daemon integration
 * tests (test_policyd_daemon.sh, test_socketmap.sh), which check the
 * running user of the daemon.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smx_daemon.h"

START_TEST(test_smx_daemon_parse_group)
{
	gid_t gid = 12345;

	ck_assert_int_eq(smx_daemon_parse_group("root", &gid), SMX_OK);
	ck_assert_uint_eq(gid, 0);
	ck_assert_int_eq(smx_daemon_parse_group("4242", &gid), SMX_OK);
	ck_assert_uint_eq(gid, 4242);
	gid = 7;
	ck_assert_int_eq(smx_daemon_parse_group("no-such-group-xyz", &gid),
	    SMX_INVALID);
	ck_assert_int_eq(smx_daemon_parse_group("", &gid), SMX_INVALID);
	ck_assert_int_eq(smx_daemon_parse_group("-1", &gid), SMX_INVALID);
	ck_assert_int_eq(smx_daemon_parse_group("99999999999", &gid),
	    SMX_INVALID);
	ck_assert_uint_eq(gid, 7); /* untouched on error */
}
END_TEST

START_TEST(test_smx_daemon_pidfile)
{
	char dir[] = "/tmp/smx_daemon_XXXXXX";
	char path[64];
	char link[64];
	char text[32] = "";
	char want[32];
	FILE *fp;
	pid_t pid;
	int status;
	int fd = -1;
	int fd2 = -1;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pid", dir);
	/* Stale contents longer than the pid are replaced. */
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("99999999999\n", fp);
	fclose(fp);
	ck_assert_int_eq(smx_daemon_write_pidfile(path, &fd), SMX_OK);
	ck_assert_int_ge(fd, 0);
	fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(text, sizeof(text), fp));
	fclose(fp);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	ck_assert_str_eq(text, want);
	/* Locked: another process cannot take it while we hold it. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(smx_daemon_write_pidfile(path, &fd2) == SMX_PERMFAIL ? 0
		                                                           : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(close(fd), 0);
	/* A symbolic link is not followed. */
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(smx_daemon_write_pidfile(link, &fd2), SMX_TEMPFAIL);
	ck_assert_int_eq(unlink(link), 0);
	ck_assert_int_eq(unlink(path), 0);
	/* Written again over the old file once it is released. */
	ck_assert_int_eq(smx_daemon_write_pidfile(path, &fd2), SMX_OK);
	ck_assert_int_eq(close(fd2), 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	/* No such directory. */
	ck_assert_int_eq(smx_daemon_write_pidfile(path, &fd2), SMX_TEMPFAIL);
}
END_TEST

START_TEST(test_smx_daemon_options)
{
	struct smx_daemon d;
	char err[128];
	int i;

	smx_daemon_init(&d);
	ck_assert_uint_eq(d.listen.mode, 0660);
	ck_assert(!d.has_options);
	ck_assert_int_eq(smx_daemon_option(&d, 'l', "unix:/tmp/x", err,
	                     sizeof(err)),
	    SMX_OK);
	ck_assert(!d.has_options); /* -l alone is not a daemon option set */
	ck_assert_int_eq(smx_daemon_option(&d, 'm', "0600", err, sizeof(err)),
	    SMX_OK);
	ck_assert_uint_eq(d.listen.mode, 0600);
	ck_assert(d.has_options);
	ck_assert_int_eq(smx_daemon_option(&d, 'g', "root", err, sizeof(err)),
	    SMX_OK);
	ck_assert(d.listen.has_gid);
	ck_assert_int_eq(smx_daemon_option(&d, 'u', "nobody", err, sizeof(err)),
	    SMX_OK);
	ck_assert_str_eq(d.user, "nobody");
	ck_assert_int_eq(smx_daemon_option(&d, 'f', NULL, err, sizeof(err)),
	    SMX_OK);
	ck_assert(d.is_foreground);
	ck_assert_int_eq(smx_daemon_option(&d, 'p', "/run/x.pid", err,
	                     sizeof(err)),
	    SMX_OK);
	ck_assert_str_eq(d.pidfile, "/run/x.pid");
	/* Not a daemon option: the caller's business. */
	ck_assert_int_eq(smx_daemon_option(&d, 'c', "x", err, sizeof(err)),
	    SMX_NOTFOUND);
	/* Bad values say what was wrong. */
	ck_assert_int_eq(smx_daemon_option(&d, 'm', "0999", err, sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err, "bad -m mode: 0999");
	ck_assert_int_eq(smx_daemon_option(&d, 'g', "no-such-group-xyz", err,
	                     sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err, "unknown group: no-such-group-xyz");
	/* At most SMX_DAEMON_ENDPOINTS_MAX -l options. */
	for (i = 1; i < SMX_DAEMON_ENDPOINTS_MAX; i++)
		ck_assert_int_eq(smx_daemon_option(&d, 'l', "inet:127.0.0.1:1",
		                     err, sizeof(err)),
		    SMX_OK);
	ck_assert_int_eq(smx_daemon_option(&d, 'l', "inet:127.0.0.1:1", err,
	                     sizeof(err)),
	    SMX_INVALID);
	ck_assert_uint_eq(d.n_endpoints, SMX_DAEMON_ENDPOINTS_MAX);
	/* Nothing started: stopping closes nothing and removes no file. */
	smx_daemon_stop(&d);
}
END_TEST

/* A SIGHUP before the event loop is held, not fatal, and still there. */
START_TEST(test_smx_daemon_hold_reload)
{
	sigset_t pending;
	sigset_t hup;
	int sig = 0;

	ck_assert(smx_daemon_hold_reload());
	ck_assert_int_eq(raise(SIGHUP), 0);
	ck_assert_int_eq(sigpending(&pending), 0);
	ck_assert_int_eq(sigismember(&pending, SIGHUP), 1);
	/* The loop takes it later (policyd: signalfd). */
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	ck_assert_int_eq(sigwait(&hup, &sig), 0);
	ck_assert_int_eq(sig, SIGHUP);
}
END_TEST

static Suite *
daemon_suite(void)
{
	Suite *s = suite_create("smx_daemon");
	TCase *tc = tcase_create("daemon");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_smx_daemon_parse_group);
	tcase_add_test(tc, test_smx_daemon_pidfile);
	tcase_add_test(tc, test_smx_daemon_options);
	tcase_add_test(tc, test_smx_daemon_hold_reload);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(daemon_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
