/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/smx_listen.c: endpoint and mode parsing, unix
 * sockets in a temporary directory (mode, group, stale socket, non-socket
 * file, symbolic links planted by a user who can write the directory),
 * inet on loopback, accept and peer names.
 */
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "smx_listen.h"

#define PATH_MAX_TEST 256

static const struct {
	const char *in;
	enum smx_status st;
	enum smx_listen_kind kind;
	const char *a; /* path or host */
	const char *port;
} parse_cases[] = {
	{ "unix:/run/secmx/policy", SMX_OK, SMX_LISTEN_UNIX,
	    "/run/secmx/policy", "" },
	{ "unix:private/policy", SMX_OK, SMX_LISTEN_UNIX, "private/policy",
	    "" },
	{ "inet:127.0.0.1:9998", SMX_OK, SMX_LISTEN_INET, "127.0.0.1", "9998" },
	{ "inet:[::1]:9998", SMX_OK, SMX_LISTEN_INET, "::1", "9998" },
	{ "inet:localhost:smtp", SMX_OK, SMX_LISTEN_INET, "localhost", "smtp" },
	{ "", SMX_INVALID, 0, NULL, NULL },
	{ "unix:", SMX_INVALID, 0, NULL, NULL },
	{ "tcp:127.0.0.1:1", SMX_INVALID, 0, NULL, NULL },
	{ "inet:127.0.0.1", SMX_INVALID, 0, NULL, NULL },
	{ "inet::9998", SMX_INVALID, 0, NULL, NULL },
	{ "inet:127.0.0.1:", SMX_INVALID, 0, NULL, NULL },
	{ "inet:[::1]9998", SMX_INVALID, 0, NULL, NULL },
	{ "inet:[::1:9998", SMX_INVALID, 0, NULL, NULL },
	{ "inet:a b:25", SMX_INVALID, 0, NULL, NULL },
	{ "inet:host:2 5", SMX_INVALID, 0, NULL, NULL },
	{ "unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    SMX_INVALID, 0, NULL, NULL },
};

START_TEST(test_smx_listen_parse)
{
	struct smx_listen_endpoint ep;
	char err[256] = "";
	enum smx_status st;

	st = smx_listen_parse(parse_cases[_i].in, &ep, err, sizeof(err));
	ck_assert_int_eq(st, parse_cases[_i].st);
	if (st != SMX_OK) {
		ck_assert_str_ne(err, "");
		return;
	}
	ck_assert_int_eq(ep.kind, parse_cases[_i].kind);
	ck_assert_str_eq(ep.text, parse_cases[_i].in);
	if (ep.kind == SMX_LISTEN_UNIX) {
		ck_assert_str_eq(ep.path, parse_cases[_i].a);
	} else {
		ck_assert_str_eq(ep.host, parse_cases[_i].a);
		ck_assert_str_eq(ep.port, parse_cases[_i].port);
	}
}
END_TEST

START_TEST(test_smx_listen_parse_mode)
{
	mode_t m = 0;

	ck_assert_int_eq(smx_listen_parse_mode("660", &m), SMX_OK);
	ck_assert_uint_eq(m, 0660);
	ck_assert_int_eq(smx_listen_parse_mode("0600", &m), SMX_OK);
	ck_assert_uint_eq(m, 0600);
	ck_assert_int_eq(smx_listen_parse_mode("0777", &m), SMX_OK);
	ck_assert_uint_eq(m, 0777);
	ck_assert_int_eq(smx_listen_parse_mode("", &m), SMX_INVALID);
	ck_assert_int_eq(smx_listen_parse_mode("1777", &m), SMX_INVALID);
	ck_assert_int_eq(smx_listen_parse_mode("08", &m), SMX_INVALID);
	ck_assert_int_eq(smx_listen_parse_mode("00660", &m), SMX_INVALID);
	ck_assert_int_eq(smx_listen_parse_mode("-1", &m), SMX_INVALID);
	ck_assert_uint_eq(m, 0777);
}
END_TEST

static char dir[64];
static char path[128];
static char victim[128];

/*
 * The attacker of smx_listen.c's SECURITY note: a user who can write the
 * socket's directory acts right after the socket is bound, through the
 * bind(2) below, which every bind of the library resolves to.
 */
static enum {
	ATTACK_NONE,
	ATTACK_PLANT, /* replace the final path with a link to victim */
	ATTACK_SWAP,  /* swap the directory the socket was bound in */
} attack;

typedef int bind_fn(int, const struct sockaddr *, socklen_t);

static void
act(const char *bound)
{
	char moved[160];
	char link[sizeof(moved)];
	size_t dlen = strlen(dir);

	switch (attack) {
	case ATTACK_NONE:
		break;
	case ATTACK_PLANT:
		(void)unlink(path);
		ck_assert_int_eq(symlink(victim, path), 0);
		break;
	case ATTACK_SWAP:
		/* Only a directory the library made inside ours is swapped. */
		if (strncmp(bound, dir, dlen) != 0 || bound[dlen] != '/' ||
		    strchr(bound + dlen + 1, '/') == NULL)
			break;
		ck_assert_uint_lt(strlen(bound) + 7, sizeof(moved));
		memcpy(moved, bound, strlen(bound) + 1);
		*strrchr(moved, '/') = '\0';
		memcpy(link, moved, strlen(moved));
		memcpy(link + strlen(moved), ".moved", 7);
		ck_assert_int_eq(rename(moved, link), 0);
		ck_assert_int_eq(mkdir(moved, 0700), 0);
		/* bind(2) runs under the library's umask 0177. */
		ck_assert_int_eq(chmod(moved, 0700), 0);
		ck_assert_int_eq(symlink(victim, bound), 0);
		break;
	}
}

int
bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	static bind_fn *real;
	int rc;

	if (real == NULL) {
		void *libc = dlopen("libc.so.6", RTLD_LAZY);
		void *sym = libc != NULL ? dlsym(libc, "bind") : NULL;

		ck_assert_ptr_nonnull(sym);
		memcpy(&real, &sym, sizeof(real));
	}
	rc = real(fd, sa, len);
	if (rc == 0 && sa->sa_family == AF_UNIX)
		act(((const struct sockaddr_un *)(const void *)sa)->sun_path);
	return rc;
}

static void
setup(void)
{
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/check_smx_listen.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(chmod(victim, 0600), 0);
	attack = ATTACK_NONE;
}

/* remove_tree - dir and what is in it, one level of subdirectories. */
static void
remove_tree(const char *top, int depth)
{
	char sub[PATH_MAX_TEST];
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(top);

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		ck_assert_int_lt(snprintf(sub, sizeof(sub), "%s/%s", top,
		                     e->d_name),
		    (int)sizeof(sub));
		ck_assert_int_eq(lstat(sub, &st), 0);
		if (S_ISDIR(st.st_mode) && depth > 0)
			remove_tree(sub, depth - 1);
		else
			ck_assert_int_eq(unlink(sub), 0);
	}
	closedir(d);
	ck_assert_int_eq(rmdir(top), 0);
}

static void
teardown(void)
{
	remove_tree(dir, 1);
}

/* n_entries - names in dir other than "." and "..". */
static int
n_entries(void)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n +=
		    strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* A group other than ours when we may choose one (root), else ours. */
static gid_t
other_group(void)
{
	return geteuid() == 0 ? getegid() + 4242 : getegid();
}

static int
open_unix_opts(mode_t mode, bool has_gid, enum smx_status want)
{
	struct smx_listen_endpoint ep;
	struct smx_listen_opts o;
	char spec[160];
	char err[256];
	int fd = -1;
	size_t n = 0;

	snprintf(spec, sizeof(spec), "unix:%s", path);
	ck_assert_int_eq(smx_listen_parse(spec, &ep, err, sizeof(err)), SMX_OK);
	smx_listen_opts_init(&o);
	o.mode = mode;
	o.has_gid = has_gid;
	o.gid = other_group();
	ck_assert_msg(smx_listen_open(&ep, &o, &fd, 1, &n, err, sizeof(err)) ==
	        want,
	    "%s", err);
	if (want != SMX_OK)
		return -1;
	ck_assert_uint_eq(n, 1);
	return fd;
}

static int
open_unix(mode_t mode, enum smx_status want)
{
	return open_unix_opts(mode, false, want);
}

START_TEST(test_smx_listen_unix)
{
	struct sockaddr_un sun;
	struct stat st;
	char peer[128];
	int lfd;
	int cfd;
	int afd = -1;

	lfd = open_unix(0600, SMX_OK);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	/* Nothing pending: not found, not an error. */
	ck_assert_int_eq(smx_listen_accept(lfd, &afd), SMX_NOTFOUND);
	cfd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(smx_listen_accept(lfd, &afd), SMX_OK);
	ck_assert(fcntl(afd, F_GETFL) & O_NONBLOCK);
	smx_listen_peer(afd, peer, sizeof(peer));
	ck_assert_msg(strncmp(peer, "unix:pid=", 9) == 0, "%s", peer);
	close(afd);
	close(cfd);
	close(lfd);
	/* A stale socket is replaced, with the default mode 0660. */
	lfd = open_unix(0660, SMX_OK);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0660);
	close(lfd);
}
END_TEST

/*
 * One server per socket: a socket a live server answers on is never
 * taken over; at exit only our own socket is removed, not a successor's.
 */
START_TEST(test_smx_listen_live_and_own)
{
	char moved[sizeof(dir) + 8];
	struct stat st;
	int lfd;
	int lfd2;

	lfd = open_unix(0660, SMX_OK);
	/* Still listening: a second server refuses to start. */
	open_unix(0660, SMX_INVALID);
	ck_assert_int_eq(stat(path, &st), 0);
	close(lfd);
	/* Closed: the stale socket is taken over. */
	lfd2 = open_unix(0660, SMX_OK);
	/* Both were created by this process: the name is the second's. */
	smx_listen_unlink_own();
	ck_assert_int_ne(lstat(path, &st), 0);
	close(lfd2);
	/*
	 * A socket someone else put there after ours is left alone. Ours is
	 * moved, not removed, so that the new one cannot get its inode.
	 */
	lfd = open_unix(0660, SMX_OK);
	close(lfd);
	snprintf(moved, sizeof(moved), "%s/moved", dir);
	ck_assert_int_eq(rename(path, moved), 0);
	{
		struct sockaddr_un sun;
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, path, strlen(path) + 1);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)),
		    0);
		smx_listen_unlink_own();
		ck_assert_int_eq(lstat(path, &st), 0);
		close(fd);
		ck_assert_int_eq(unlink(path), 0);
		ck_assert_int_eq(unlink(moved), 0);
	}
}
END_TEST

START_TEST(test_smx_listen_not_socket)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	ck_assert_int_ge(fd, 0);
	close(fd);
	/* A regular file in the way is an error and stays untouched. */
	open_unix(0660, SMX_INVALID);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
}
END_TEST

/* The socket gets the requested mode and group; nothing else is left. */
START_TEST(test_smx_listen_group)
{
	struct stat st;
	int lfd;

	lfd = open_unix_opts(0640, true, SMX_OK);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_uint_eq(st.st_gid, other_group());
	ck_assert_uint_eq(st.st_uid, geteuid());
	/* The socket and the victim file; no private directory left. */
	ck_assert_int_eq(n_entries(), 2);
	close(lfd);
}
END_TEST

/* victim_intact - the planted link's target kept its mode and group. */
static void
victim_intact(void)
{
	struct stat st;

	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq(st.st_gid, getegid());
}

/* A link that is already at the path is an error and is not followed. */
START_TEST(test_smx_listen_symlink)
{
	struct stat st;

	ck_assert_int_eq(symlink(victim, path), 0);
	open_unix_opts(0666, true, SMX_INVALID);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	victim_intact();
	ck_assert_int_eq(n_entries(), 2);
}
END_TEST

/*
 * A link planted at the path right after bind(2), before the mode and
 * group are set, is replaced by the socket and never followed.
 */
START_TEST(test_smx_listen_symlink_race)
{
	struct stat st;
	int lfd;

	attack = ATTACK_PLANT;
	lfd = open_unix_opts(0666, true, SMX_OK);
	victim_intact();
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0666);
	ck_assert_uint_eq(st.st_gid, other_group());
	ck_assert_int_eq(n_entries(), 2);
	close(lfd);
}
END_TEST

/*
 * The private directory renamed away right after bind(2) and replaced by
 * one holding a link of the same name: the socket is still found in the
 * directory that was created, and the link is never followed.
 */
START_TEST(test_smx_listen_dir_swap)
{
	struct stat st;
	int lfd;

	attack = ATTACK_SWAP;
	lfd = open_unix_opts(0666, true, SMX_OK);
	victim_intact();
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0666);
	ck_assert_uint_eq(st.st_gid, other_group());
	close(lfd);
}
END_TEST

START_TEST(test_smx_listen_inet)
{
	struct smx_listen_endpoint ep;
	struct smx_listen_opts o;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	char err[256];
	char peer[128];
	char want[64];
	int fds[4];
	size_t n = 0;
	int cfd;
	int afd;

	ck_assert_int_eq(smx_listen_parse("inet:127.0.0.1:0", &ep, err,
	                     sizeof(err)),
	    SMX_OK);
	smx_listen_opts_init(&o);
	ck_assert_int_eq(smx_listen_open(&ep, &o, fds, 4, &n, err, sizeof(err)),
	    SMX_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(getsockname(fds[0], (struct sockaddr *)&sin, &slen),
	    0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(smx_listen_accept(fds[0], &afd), SMX_OK);
	slen = sizeof(sin);
	ck_assert_int_eq(getsockname(cfd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(want, sizeof(want), "[127.0.0.1]:%u",
	    (unsigned)ntohs(sin.sin_port));
	smx_listen_peer(afd, peer, sizeof(peer));
	ck_assert_str_eq(peer, want);
	close(afd);
	close(cfd);
	close(fds[0]);
}
END_TEST

static Suite *
listen_suite(void)
{
	Suite *s = suite_create("smx_listen");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_smx_listen_parse, 0,
	    sizeof(parse_cases) / sizeof(parse_cases[0]));
	tcase_add_test(tc, test_smx_listen_parse_mode);
	suite_add_tcase(s, tc);

	tc = tcase_create("sockets");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_smx_listen_unix);
	tcase_add_test(tc, test_smx_listen_live_and_own);
	tcase_add_test(tc, test_smx_listen_not_socket);
	tcase_add_test(tc, test_smx_listen_group);
	tcase_add_test(tc, test_smx_listen_symlink);
	tcase_add_test(tc, test_smx_listen_symlink_race);
	tcase_add_test(tc, test_smx_listen_dir_swap);
	tcase_add_test(tc, test_smx_listen_inet);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(listen_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
