/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	bench_net - loopback connections and descriptor limits for the
 *	benchmark tools
 * DESCRIPTION
 *	Helpers shared by secmx-policy-load and secmx-policy-floor: the
 *	loopback check that keeps benchmark traffic on this machine, raising
 *	RLIMIT_NOFILE for tens of thousands of connections, and connecting
 *	to an endpoint in secmx-policyd's -l syntax.
 * LIMITS
 *	Endpoint strings as smx_listen_parse accepts them.
 * DIAGNOSTICS
 *	Functions return a status and a reason in a caller's buffer; they
 *	log nothing.
 * SECURITY
 *	Benchmark code, never installed. Refuses any non-loopback address.
 * SEE ALSO
 *	getrlimit(2), getaddrinfo(3), bench/README.
 */
#define _GNU_SOURCE
#include "bench_net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static bool
is_loopback_addr(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

static int
resolve(const char *host, const char *port, struct addrinfo **res, char *err,
    size_t errlen)
{
	struct addrinfo hints;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, res);
	if (rc != 0)
		(void)snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
	return rc;
}

bool
bench_is_loopback_host(const char *host, char *err, size_t errlen)
{
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	bool ok = true;

	if (resolve(host, NULL, &res, err, errlen) != 0)
		return false;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (!is_loopback_addr(ai->ai_addr))
			ok = false;
	}
	freeaddrinfo(res);
	if (!ok)
		(void)snprintf(err, errlen,
		    "%s: not a loopback address (benchmarks stay on 127.0.0.0/8 or ::1)",
		    host);
	return ok;
}

bool
bench_raise_nofile(size_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return false;
	if (need == 0)
		need = rl.rlim_max == RLIM_INFINITY ? rl.rlim_cur : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
		return true;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		rl.rlim_max = need;
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

static int
connect_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	size_t len = strlen(path);
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (len >= sizeof(sun.sun_path)) {
		(void)snprintf(err, errlen, "unix:%s: path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		(void)snprintf(err, errlen, "unix:%s: %s", path,
		    strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	return fd;
}

int
bench_connect(const struct smx_listen_endpoint *ep, char *err, size_t errlen)
{
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	int fd = -1;

	if (ep->kind == SMX_LISTEN_UNIX)
		return connect_unix(ep->path, err, errlen);
	if (resolve(ep->host, ep->port, &res, err, errlen) != 0)
		return -1;
	(void)snprintf(err, errlen, "%s: no address", ep->text);
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		if (!is_loopback_addr(ai->ai_addr)) {
			(void)snprintf(err, errlen,
			    "%s: not a loopback address", ep->text);
			continue;
		}
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			(void)snprintf(err, errlen, "%s: %s", ep->text,
			    strerror(errno));
			(void)close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}
