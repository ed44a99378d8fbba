/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_io - monotonic clock, bounded waits and writes
 * DESCRIPTION
 *	The one copy of the clock, the poll(2) wait and the write loop that
 *	the SMTP client, the TLS layer, the spool and the servers use.
 * LIMITS
 *	Every wait is bounded by the caller's deadline; a single poll(2) is
 *	cut to INT_MAX milliseconds and repeated.
 * DIAGNOSTICS
 *	Returns a status with errno set; logs nothing.
 * SECURITY
 *	No input is parsed here.
 * SEE ALSO
 *	poll(2), send(2), clock_gettime(2).
 */
#include "smx_io.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smx_log.h"
#include "smx_util.h"

long long
smx_io_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		smx_panic("clock_gettime(CLOCK_MONOTONIC) failed");
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
smx_io_deadline(long long ms)
{
	if (ms < 0)
		return SMX_IO_FOREVER;
	return smx_io_now_ms() + ms;
}

enum smx_status
smx_io_wait(int fd, short events, long long deadline)
{
	struct pollfd pfd;
	long long left;
	int ms;
	int rc;

	for (;;) {
		if (deadline == SMX_IO_FOREVER) {
			ms = -1;
		} else {
			left = deadline - smx_io_now_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return SMX_NOTFOUND;
			}
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, ms);
		if (rc > 0)
			return SMX_OK;
		if (rc < 0 && errno != EINTR)
			return SMX_TEMPFAIL;
	}
}

enum smx_status
smx_io_wait_for(int fd, short events, long long deadline, const char *what,
    char *reason, size_t size)
{
	char ebuf[128];
	enum smx_status st = smx_io_wait(fd, events, deadline);

	if (st == SMX_OK)
		return SMX_OK;
	if (st == SMX_NOTFOUND)
		(void)snprintf(reason, size, "timeout%s%s",
		    what[0] != '\0' ? " " : "", what);
	else
		(void)snprintf(reason, size, "poll: %s",
		    smx_strerror(errno, ebuf, sizeof(ebuf)));
	return SMX_TEMPFAIL;
}

/* One write: send(2) without SIGPIPE on a socket, write(2) elsewhere. */
static ssize_t
write_some(int fd, const char *p, size_t len, int *is_socket)
{
	ssize_t n;

	if (*is_socket != 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n >= 0 || errno != ENOTSOCK)
			return n;
		*is_socket = 0;
	}
	return write(fd, p, len);
}

enum smx_status
smx_io_write_all(int fd, const void *buf, size_t len, long long deadline)
{
	const char *p = buf;
	int is_socket = 1;
	enum smx_status st;
	ssize_t n;

	while (len > 0) {
		n = write_some(fd, p, len, &is_socket);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0) {
			errno = EPIPE;
			return SMX_TEMPFAIL;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return SMX_TEMPFAIL;
		if ((st = smx_io_wait(fd, POLLOUT, deadline)) != SMX_OK)
			return st;
	}
	return SMX_OK;
}
