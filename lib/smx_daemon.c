/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_daemon - detach, pid file and privilege drop for secmx daemons
 * DESCRIPTION
 *	The steps between binding listening sockets as root and serving
 *	requests, shared by secmx-policyd and secmx-lookup so that both
 *	drop privileges the same verified way.
 * LIMITS
 *	None beyond the system's.
 * DIAGNOSTICS
 *	Every failure is logged (error level) and returned as a status.
 * SECURITY
 *	The privilege drop is verified: the process must not be able to
 *	regain uid 0 or gid 0 afterwards. Root is refused as the target user.
 *	The pid file is opened with O_NOFOLLOW.
 * SEE ALSO
 *	setuid(2), initgroups(3), setsid(2); Postfix's own daemons drop to
 *	mail_owner the same way.
 */
/* initgroups(3) is a BSD interface, not in POSIX. */
#define _DEFAULT_SOURCE
#include "smx_daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "smx_log.h"
#include "smx_util.h"

enum smx_status
smx_daemon_parse_group(const char *s, gid_t *gid)
{
	unsigned long v;
	struct group *gr = getgrnam(s);

	if (gr != NULL) {
		*gid = gr->gr_gid;
		return SMX_OK;
	}
	if (smx_parse_ulong(s, strlen(s), 0, (gid_t)-2, &v) != SMX_OK)
		return SMX_INVALID;
	*gid = (gid_t)v;
	return SMX_OK;
}

enum smx_status
smx_daemon_drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);
	uid_t uid;
	gid_t gid;

	if (pw == NULL) {
		smx_log_error("unknown user: %s", user);
		return SMX_PERMFAIL;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0) {
		smx_log_error("refusing to run as root (-u %s)", user);
		return SMX_PERMFAIL;
	}
	if (geteuid() != 0) {
		if (geteuid() == uid && getuid() == uid)
			return SMX_OK;
		smx_log_error("-u %s needs to start as root", user);
		return SMX_PERMFAIL;
	}
	if (initgroups(user, gid) != 0 || setgid(gid) != 0 ||
	    setuid(uid) != 0) {
		smx_log_error_errno("cannot switch to user %s", user);
		return SMX_PERMFAIL;
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || setuid(0) == 0 || setgid(0) == 0) {
		smx_log_error("privileges of user %s not dropped completely",
		    user);
		return SMX_PERMFAIL;
	}
	return SMX_OK;
}

enum smx_status
smx_daemon_detach(void)
{
	pid_t pid;
	int fd;

	pid = fork();
	if (pid < 0) {
		smx_log_error_errno("fork");
		return SMX_TEMPFAIL;
	}
	if (pid > 0)
		_exit(0);
	if (setsid() < 0 || chdir("/") != 0) {
		smx_log_error_errno("setsid/chdir");
		return SMX_TEMPFAIL;
	}
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
		smx_log_error_errno("/dev/null");
		return SMX_TEMPFAIL;
	}
	if (fd > 2)
		(void)close(fd);
	return SMX_OK;
}

enum smx_status
smx_daemon_write_pidfile(const char *path)
{
	char text[32];
	int len;
	int fd;

	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (len < 0 || (size_t)len >= sizeof(text))
		return SMX_TEMPFAIL;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd < 0) {
		smx_log_error_errno("pid file %s", path);
		return SMX_TEMPFAIL;
	}
	if (write(fd, text, (size_t)len) != (ssize_t)len || close(fd) != 0) {
		smx_log_error_errno("pid file %s", path);
		return SMX_TEMPFAIL;
	}
	return SMX_OK;
}
