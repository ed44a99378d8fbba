/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_daemon - detach, pid file and privilege drop for secmx daemons
 * DESCRIPTION
 *	The steps between binding listening sockets as root and serving
 *	requests, shared by secmx-policyd, secmx-lmtpd and secmx-lookup so
 *	that they drop privileges the same verified way; and SIGHUP held
 *	from the start until the event loop takes it.
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

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smx_log.h"
#include "smx_util.h"

bool
smx_daemon_hold_reload(void)
{
	sigset_t hup;

	if (sigemptyset(&hup) != 0 || sigaddset(&hup, SIGHUP) != 0)
		return false;
	return sigprocmask(SIG_BLOCK, &hup, NULL) == 0;
}

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
smx_daemon_check_config(const struct smx_daemon *d, const char *path)
{
	char err[SMX_LOG_LINE_MAX];
	struct smx_config *cfg = NULL;
	enum smx_status st;
	pid_t pid;
	int status;

	if (d->user == NULL) {
		st = smx_config_load(path, &cfg, err, sizeof(err));
		if (st != SMX_OK)
			smx_log_error("%s", err);
		smx_config_free(cfg);
		return st;
	}
	/* As the daemon will read it: a child with the -u user's rights. */
	if ((pid = fork()) < 0) {
		smx_log_error_errno("fork");
		return SMX_TEMPFAIL;
	}
	if (pid == 0) {
		if (smx_daemon_drop_privileges(d->user) != SMX_OK)
			_exit(1);
		st = smx_config_load(path, &cfg, err, sizeof(err));
		if (st != SMX_OK)
			smx_log_error("as user %s: %s", d->user, err);
		smx_config_free(cfg);
		smx_log_flush();
		_exit(st == SMX_OK ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			smx_log_error_errno("waitpid");
			return SMX_TEMPFAIL;
		}
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? SMX_OK
	                                                     : SMX_INVALID;
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
smx_daemon_write_pidfile(const char *path, int *fd_out)
{
	char text[32];
	int len;
	int fd;

	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (len < 0 || (size_t)len >= sizeof(text))
		return SMX_TEMPFAIL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		smx_log_error_errno("pid file %s", path);
		return SMX_TEMPFAIL;
	}
	/*
	 * Held for the life of the process: one daemon per pid file. flock(2)
	 * rather than fcntl(2): closing another descriptor of the file does
	 * not release it.
	 */
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			char old[32] = "";
			ssize_t n = pread(fd, old, sizeof(old) - 1, 0);

			old[n > 0 ? n : 0] = '\0';
			old[strcspn(old, "\n")] = '\0';
			smx_log_error("pid file %s is locked by a running "
			              "daemon (pid %s); stop it first",
			    path, old[0] != '\0' ? old : "unknown");
		} else {
			smx_log_error_errno("pid file %s: lock", path);
		}
		(void)close(fd);
		return SMX_PERMFAIL;
	}
	if (ftruncate(fd, 0) != 0 ||
	    pwrite(fd, text, (size_t)len, 0) != (ssize_t)len) {
		smx_log_error_errno("pid file %s", path);
		(void)close(fd);
		return SMX_TEMPFAIL;
	}
	*fd_out = fd;
	return SMX_OK;
}

void
smx_daemon_init(struct smx_daemon *d)
{
	memset(d, 0, sizeof(*d));
	d->pidfile_fd = -1;
	smx_listen_opts_init(&d->listen);
}

enum smx_status
smx_daemon_option(struct smx_daemon *d, int ch, const char *arg, char *err,
    size_t errlen)
{
	switch (ch) {
	case 'l':
		if (d->n_endpoints == SMX_DAEMON_ENDPOINTS_MAX) {
			(void)snprintf(err, errlen, "at most %d -l options",
			    SMX_DAEMON_ENDPOINTS_MAX);
			return SMX_INVALID;
		}
		d->endpoints[d->n_endpoints++] = arg;
		return SMX_OK;
	case 'm':
		if (smx_listen_parse_mode(arg, &d->listen.mode) != SMX_OK) {
			(void)snprintf(err, errlen, "bad -m mode: %s", arg);
			return SMX_INVALID;
		}
		break;
	case 'g':
		if (smx_daemon_parse_group(arg, &d->listen.gid) != SMX_OK) {
			(void)snprintf(err, errlen, "unknown group: %s", arg);
			return SMX_INVALID;
		}
		d->listen.has_gid = true;
		break;
	case 'u':
		d->user = arg;
		break;
	case 'f':
		d->is_foreground = true;
		break;
	case 'p':
		d->pidfile = arg;
		break;
	default:
		return SMX_NOTFOUND;
	}
	d->has_options = true;
	return SMX_OK;
}

enum smx_status
smx_daemon_start(struct smx_daemon *d, const char *ident,
    const struct smx_config *cfg)
{
	char err[SMX_LOG_LINE_MAX];
	enum smx_status st;

	if (d->n_endpoints > 0) {
		st = smx_listen_open_all(d->endpoints, d->n_endpoints,
		    &d->listen, d->fds, SMX_DAEMON_FDS_MAX, &d->n_fds, err,
		    sizeof(err));
		if (st != SMX_OK) {
			smx_log_error("%s", err);
			return st;
		}
		if (!d->is_foreground) {
			smx_log_open(ident, SMX_LOG_SYSLOG, NULL);
			if ((st = smx_daemon_detach()) != SMX_OK)
				return st;
		}
	}
	if (d->pidfile != NULL) {
		if ((st = smx_daemon_write_pidfile(d->pidfile,
		         &d->pidfile_fd)) != SMX_OK)
			return st;
		d->has_pidfile = true;
	}
	if (d->user != NULL &&
	    (st = smx_daemon_drop_privileges(d->user)) != SMX_OK)
		return st;
	/*
	 * As the user that reopens it on SIGHUP: a log file is created, and
	 * must stay writable, with the daemon's rights. stderr only for a
	 * daemon in the foreground: under spawn(8) it is the connection.
	 */
	(void)smx_config_log_open(cfg, ident,
	    d->n_endpoints > 0 && d->is_foreground);
	return SMX_OK;
}

void
smx_daemon_stop(struct smx_daemon *d)
{
	size_t i;

	for (i = 0; i < d->n_fds; i++)
		(void)close(d->fds[i]);
	d->n_fds = 0;
	smx_listen_unlink_own();
	if (d->has_pidfile)
		(void)unlink(d->pidfile);
	d->has_pidfile = false;
	if (d->pidfile_fd >= 0)
		(void)close(d->pidfile_fd);
	d->pidfile_fd = -1;
}
