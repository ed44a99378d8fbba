/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_listen - listening endpoints: unix:PATH and inet:HOST:PORT
 * DESCRIPTION
 *	Parses endpoint names in the form Postfix uses for policy and
 *	table services, creates non-blocking, close-on-exec listening
 *	sockets for them and accepts connections. Shared by every secmx
 *	server (policy daemon, socketmap server).
 * LIMITS
 *	SMX_LISTEN_PATH_MAX bytes of socket path, SMX_LISTEN_PORT_MAX bytes
 *	of port, SMX_DOMAIN_MAX bytes of host, SMX_LISTEN_FDS_MAX sockets
 *	per endpoint (lib/smx_limits.h). A unix socket's directory part plus
 *	"/.secmx-XXXXXX/s" must fit SMX_LISTEN_PATH_MAX, because the socket
 *	is bound under that name first.
 * DIAGNOSTICS
 *	Functions return a status with "endpoint: problem" in a caller's
 *	buffer; nothing is logged here.
 * SECURITY
 *	Endpoint names come from the command line of a program started by
 *	root or Postfix. A unix socket is created under a restrictive umask
 *	inside a new private directory (mode 0700, ours) next to its path,
 *	given the operator's group and mode (default 0660) there, so that
 *	Postfix's smtpd can connect while other local users cannot, and
 *	only then renamed into place. Its final directory may be writable
 *	by another user (Postfix's private/ is writable by postfix): no
 *	name in it is ever followed, changed by chown(2) or chmod(2), or
 *	trusted between two calls. An existing file at the path is
 *	replaced only if it is a socket.
 *	The kernel keeps the name a socket was bound under, so ss(8) and
 *	lsof(8) show ".../.secmx-XXXXXX/s" for it, a name gone by then.
 * SEE ALSO
 *	unix(7), ip(7), getaddrinfo(3), Postfix SMTPD_POLICY_README.
 */
#define _GNU_SOURCE
#include "smx_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "smx_util.h"

/*
 * A unix socket is bound as PRIVATE_NAME inside a new directory created
 * next to its final path from the mkdtemp(3) template PRIVATE_DIR.
 */
#define PRIVATE_DIR ".secmx-XXXXXX"
#define PRIVATE_NAME "s"
/* Unix sockets one process remembers: smx_daemon's -l limit. */
#define OWN_MAX 16

void
smx_listen_opts_init(struct smx_listen_opts *o)
{
	o->mode = 0660;
	o->gid = (gid_t)-1;
	o->has_gid = false;
	o->backlog = 0;
}

static enum smx_status
err_set(char *err, size_t errlen, const char *spec, const char *what)
{
	if (errlen > 0)
		snprintf(err, errlen, "%s: %s", spec, what);
	return SMX_INVALID;
}

/* Characters a host name, IPv4 or IPv6 literal or service may contain. */
static bool
is_token(const char *s, size_t len, bool colon_ok)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' || (colon_ok && c == ':'))
			continue;
		return false;
	}
	return true;
}

static enum smx_status
parse_inet(const char *spec, const char *s, struct smx_listen_endpoint *out,
    char *err, size_t errlen)
{
	const char *host = s;
	const char *colon;
	size_t hlen;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return err_set(err, errlen, spec, "bad [IPv6] address");
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
		if (!is_token(host, hlen, true))
			return err_set(err, errlen, spec, "bad [IPv6] address");
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return err_set(err, errlen, spec, "missing :PORT");
		hlen = (size_t)(colon - s);
		if (!is_token(host, hlen, false))
			return err_set(err, errlen, spec,
			    "bad or missing host");
	}
	if (hlen > SMX_DOMAIN_MAX)
		return err_set(err, errlen, spec, "host too long");
	if (strlen(colon + 1) > SMX_LISTEN_PORT_MAX)
		return err_set(err, errlen, spec, "port too long");
	if (!is_token(colon + 1, strlen(colon + 1), false))
		return err_set(err, errlen, spec, "bad or missing port");
	out->kind = SMX_LISTEN_INET;
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	smx_strlcpy(out->port, colon + 1, sizeof(out->port));
	return SMX_OK;
}

enum smx_status
smx_listen_parse(const char *spec, struct smx_listen_endpoint *out, char *err,
    size_t errlen)
{
	size_t len = strnlen(spec, SMX_LISTEN_TEXT_MAX + 1);
	struct smx_listen_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	if (len > SMX_LISTEN_TEXT_MAX)
		return err_set(err, errlen, "endpoint", "too long");
	memcpy(ep.text, spec, len);
	ep.text[len] = '\0';
	if (strncmp(spec, "unix:", 5) == 0) {
		const char *path = spec + 5;
		size_t plen = len - 5;

		if (plen == 0)
			return err_set(err, errlen, spec, "empty path");
		if (plen > SMX_LISTEN_PATH_MAX)
			return err_set(err, errlen, spec, "path too long");
		ep.kind = SMX_LISTEN_UNIX;
		memcpy(ep.path, path, plen);
		ep.path[plen] = '\0';
	} else if (strncmp(spec, "inet:", 5) == 0) {
		if (parse_inet(spec, spec + 5, &ep, err, errlen) != SMX_OK)
			return SMX_INVALID;
	} else {
		return err_set(err, errlen, spec,
		    "expected unix:PATH or inet:HOST:PORT");
	}
	*out = ep;
	return SMX_OK;
}

enum smx_status
smx_listen_parse_mode(const char *s, mode_t *out)
{
	mode_t m = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '7' || i >= 4)
			return SMX_INVALID;
		m = (mode_t)(m * 8 + (mode_t)(s[i] - '0'));
	}
	if (i == 0 || m > 0777)
		return SMX_INVALID;
	*out = m;
	return SMX_OK;
}

static enum smx_status
sys_err(char *err, size_t errlen, const char *spec, const char *what)
{
	if (errlen > 0)
		snprintf(err, errlen, "%s: %s: %s", spec, what,
		    strerror(errno));
	return SMX_TEMPFAIL;
}

/*
 * private_dir - create a new directory next to path ("DIR/.secmx-XXXXXX"
 * by mkdtemp(3), mode 0700) into tmpl, open it into *dirfd and check
 * that what was opened is that directory: ours and closed to everyone
 * else. Whoever can write DIR can rename it away and put one of their
 * own in its place between mkdtemp and open; the check catches that, and
 * once the descriptor is held nobody else can add, remove or swap a name
 * inside it.
 */
static enum smx_status
private_dir(const struct smx_listen_endpoint *ep, char *tmpl, size_t size,
    int *dirfd, char *err, size_t errlen)
{
	const char *slash = strrchr(ep->path, '/');
	size_t dlen = slash != NULL ? (size_t)(slash - ep->path) + 1 : 0;
	struct stat st;
	int fd;
	int n;

	n = snprintf(tmpl, size, "%.*s%s", (int)dlen, ep->path, PRIVATE_DIR);
	if (n < 0 || (size_t)n >= size)
		return err_set(err, errlen, ep->text,
		    "path too long for a private directory next to it");
	if (mkdtemp(tmpl) == NULL)
		return sys_err(err, errlen, ep->text, "mkdtemp");
	fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		(void)sys_err(err, errlen, ep->text, "open private directory");
		(void)rmdir(tmpl);
		return SMX_TEMPFAIL;
	}
	if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		(void)close(fd);
		return err_set(err, errlen, ep->text,
		    "private directory was replaced while it was created");
	}
	*dirfd = fd;
	return SMX_OK;
}

/*
 * open_unix - bind inside a fresh private directory (private_dir), set
 * group and mode there by names relative to that directory, start
 * listening, then rename(2) the socket to its final path. Postfix's
 * private/ directory is writable by the postfix user: a socket bound at
 * its final name and then changed with chown(2) and chmod(2) by name
 * could be swapped for a symbolic link in between, and root would change
 * an arbitrary file. rename(2) replaces a name without following it, so
 * a link planted at the final path is replaced, never followed, and a
 * stale socket there is replaced atomically.
 */
/* The unix sockets this process created, for smx_listen_unlink_own. */
static struct {
	char path[SMX_LISTEN_PATH_MAX + 1];
	dev_t dev;
	ino_t ino;
} own[OWN_MAX];
static size_t n_own;

/* True when a server answers on the socket at path. */
static bool
is_answered(const char *path)
{
	struct sockaddr_un sun;
	bool is_live;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return false;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	/* A full backlog (EAGAIN) is a live server too. */
	is_live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
	    errno == EAGAIN || errno == EINPROGRESS;
	(void)close(fd);
	return is_live;
}

void
smx_listen_unlink_own(void)
{
	struct stat st;
	size_t i;

	for (i = 0; i < n_own; i++) {
		/* Only while the name is still ours: not a successor's. */
		if (lstat(own[i].path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    st.st_dev == own[i].dev && st.st_ino == own[i].ino)
			(void)unlink(own[i].path);
	}
	n_own = 0;
}

static enum smx_status
open_unix(const struct smx_listen_endpoint *ep, const struct smx_listen_opts *o,
    int *fd_out, char *err, size_t errlen)
{
	char tmpl[SMX_LISTEN_PATH_MAX + 1];
	struct sockaddr_un sun;
	struct stat st;
	enum smx_status status = SMX_TEMPFAIL;
	bool is_bound = false;
	mode_t old_mask;
	int dirfd = -1;
	int fd = -1;
	int rc;

	if (lstat(ep->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(err, errlen, ep->text,
			    "exists and is not a socket");
		/* One daemon per socket: never take over a live one. */
		if (is_answered(ep->path))
			return err_set(err, errlen, ep->text,
			    "another server answers on this socket; stop it "
			    "first");
	} else if (errno != ENOENT) {
		return sys_err(err, errlen, ep->text, "lstat");
	}
	status = private_dir(ep, tmpl, sizeof(tmpl), &dirfd, err, errlen);
	if (status != SMX_OK)
		return status;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	rc = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/" PRIVATE_NAME,
	    tmpl);
	if (rc < 0 || (size_t)rc >= sizeof(sun.sun_path)) {
		status = err_set(err, errlen, ep->text,
		    "path too long for a private directory next to it");
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		status = sys_err(err, errlen, ep->text, "socket");
		goto out;
	}
	/* Nobody but the owner may connect before the mode is applied. */
	old_mask = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (rc != 0) {
		status = sys_err(err, errlen, ep->text, "bind");
		goto out;
	}
	is_bound = true;
	/* The socket must be in our directory, not in one swapped in. */
	if (fstatat(dirfd, PRIVATE_NAME, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISSOCK(st.st_mode)) {
		status = err_set(err, errlen, ep->text,
		    "private directory was replaced while binding");
		goto out;
	}
	if (o->has_gid &&
	    fchownat(dirfd, PRIVATE_NAME, (uid_t)-1, o->gid,
	        AT_SYMLINK_NOFOLLOW) != 0) {
		status = sys_err(err, errlen, ep->text, "chown");
		goto out;
	}
	/* Only we can write the directory, so the name is still the socket. */
	if (fchmodat(dirfd, PRIVATE_NAME, o->mode, 0) != 0) {
		status = sys_err(err, errlen, ep->text, "chmod");
		goto out;
	}
	if (listen(fd, o->backlog > 0 ? o->backlog : SOMAXCONN) != 0) {
		status = sys_err(err, errlen, ep->text, "listen");
		goto out;
	}
	if (renameat(dirfd, PRIVATE_NAME, AT_FDCWD, ep->path) != 0) {
		status = sys_err(err, errlen, ep->text, "rename");
		goto out;
	}
	is_bound = false;
	if (n_own < OWN_MAX) {
		smx_strlcpy(own[n_own].path, ep->path, sizeof(own[n_own].path));
		own[n_own].dev = st.st_dev;
		own[n_own].ino = st.st_ino;
		n_own++;
	}
	*fd_out = fd;
	fd = -1;
	status = SMX_OK;
out:
	if (is_bound)
		(void)unlinkat(dirfd, PRIVATE_NAME, 0);
	if (fd >= 0)
		(void)close(fd);
	(void)close(dirfd);
	(void)rmdir(tmpl);
	return status;
}

static enum smx_status
open_inet_one(const struct smx_listen_endpoint *ep,
    const struct smx_listen_opts *o, const struct addrinfo *ai, int *fd_out,
    char *err, size_t errlen)
{
	int one = 1;
	int fd;

	fd = socket(ai->ai_family,
	    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return sys_err(err, errlen, ep->text, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto fail;
	/* An IPv6 socket serves only IPv6, so both families can bind. */
	if (ai->ai_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		goto fail;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		goto fail;
	if (listen(fd, o->backlog > 0 ? o->backlog : SOMAXCONN) != 0)
		goto fail;
	*fd_out = fd;
	return SMX_OK;
fail:
	(void)sys_err(err, errlen, ep->text, "bind");
	(void)close(fd);
	return SMX_TEMPFAIL;
}

static enum smx_status
open_inet(const struct smx_listen_endpoint *ep, const struct smx_listen_opts *o,
    int *fds, size_t max_fds, size_t *n_fds, char *err, size_t errlen)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	enum smx_status status = SMX_OK;
	size_t n = 0;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(ep->host, ep->port, &hints, &res);
	if (rc != 0) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: %s", ep->text,
			    gai_strerror(rc));
		return rc == EAI_AGAIN ? SMX_TEMPFAIL : SMX_INVALID;
	}
	for (ai = res; ai != NULL && n < max_fds; ai = ai->ai_next) {
		status = open_inet_one(ep, o, ai, &fds[n], err, errlen);
		if (status != SMX_OK)
			break;
		n++;
	}
	freeaddrinfo(res);
	if (status == SMX_OK && n == 0)
		status = err_set(err, errlen, ep->text, "no usable address");
	if (status != SMX_OK) {
		while (n > 0)
			(void)close(fds[--n]);
		return status;
	}
	*n_fds = n;
	return SMX_OK;
}

enum smx_status
smx_listen_open(const struct smx_listen_endpoint *ep,
    const struct smx_listen_opts *o, int *fds, size_t max_fds, size_t *n_fds,
    char *err, size_t errlen)
{
	enum smx_status status;

	if (max_fds == 0)
		return err_set(err, errlen, ep->text, "no room for a socket");
	if (ep->kind == SMX_LISTEN_UNIX) {
		status = open_unix(ep, o, &fds[0], err, errlen);
		if (status == SMX_OK)
			*n_fds = 1;
		return status;
	}
	return open_inet(ep, o, fds, max_fds, n_fds, err, errlen);
}

enum smx_status
smx_listen_accept(int lfd, int *fd_out)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd >= 0) {
		*fd_out = fd;
		return SMX_OK;
	}
	switch (errno) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
		return SMX_NOTFOUND;
	default:
		return SMX_TEMPFAIL;
	}
}

void
smx_listen_peer(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	if (outlen == 0)
		return;
	if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (void *)&ss;

			if (inet_ntop(AF_INET, &sin->sin_addr, host,
			        sizeof(host)) != NULL) {
				snprintf(out, outlen, "[%s]:%u", host,
				    (unsigned)ntohs(sin->sin_port));
				return;
			}
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (void *)&ss;

			if (inet_ntop(AF_INET6, &sin6->sin6_addr, host,
			        sizeof(host)) != NULL) {
				snprintf(out, outlen, "[%s]:%u", host,
				    (unsigned)ntohs(sin6->sin6_port));
				return;
			}
		} else if (ss.ss_family == AF_UNIX) {
			struct ucred cred;
			socklen_t clen = sizeof(cred);

			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred,
			        &clen) == 0) {
				snprintf(out, outlen, "unix:pid=%ld,uid=%ld",
				    (long)cred.pid, (long)cred.uid);
				return;
			}
		}
	}
	snprintf(out, outlen, "fd %d", fd);
}

enum smx_status
smx_listen_open_all(const char *const *specs, size_t n_specs,
    const struct smx_listen_opts *o, int *fds, size_t max_fds, size_t *n_fds,
    char *err, size_t errlen)
{
	enum smx_status st;
	size_t i;

	*n_fds = 0;
	for (i = 0; i < n_specs; i++) {
		struct smx_listen_endpoint ep;
		size_t n = 0;

		st = smx_listen_parse(specs[i], &ep, err, errlen);
		if (st == SMX_OK)
			st = smx_listen_open(&ep, o, fds + *n_fds,
			    max_fds - *n_fds, &n, err, errlen);
		if (st != SMX_OK)
			return st;
		*n_fds += n;
	}
	return SMX_OK;
}
