/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smtp_conn - SMTP client connection: connect, read replies, write
 * DESCRIPTION
 *	A non-blocking TCP socket with poll-driven timeouts, optionally
 *	wrapped in TLS after STARTTLS, and the read buffer from which
 *	complete replies are parsed. Nothing here knows the SMTP dialogue;
 *	smtp_session drives it.
 * LIMITS
 *	Connect within the connect timeout; each read or write within the
 *	command timeout; the read buffer holds SMTP_CONN_RBUF_SIZE bytes,
 *	enough for one reply at every cap.
 * DIAGNOSTICS
 *	Returns a status and a short reason; logs nothing.
 * SECURITY
 *	Server bytes are untrusted: replies go through smtp_reply_parse;
 *	leftover bytes are exposed so that the session can treat them as a
 *	protocol error, and they stop STARTTLS (CVE-2011-0411).
 * SEE ALSO
 *	RFC 5321 section 4.5.3.2 (timeouts), RFC 3207 section 4.2,
 *	Postfix CVE-2011-0411.html.
 */
#include "smtp_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smx_io.h"
#include "smx_util.h"

void
smtp_conn_init(struct smtp_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

enum smx_status
smtp_conn_open(struct smtp_conn *c, const struct sockaddr *addr,
    socklen_t addr_len, int connect_timeout_ms, int timeout_ms, char *reason,
    size_t reason_size)
{
	char ebuf[128];
	long long deadline = smx_io_deadline(connect_timeout_ms);
	bool is_timeout = false;
	enum smx_status st;
	socklen_t err_len;
	int err = 0;
	int flags;

	smtp_conn_init(c);
	c->timeout_ms = timeout_ms;
	if ((c->rbuf = malloc(SMTP_CONN_RBUF_SIZE)) == NULL) {
		snprintf(reason, reason_size, "out of memory");
		return SMX_TEMPFAIL;
	}
	/*
	 * Close-on-exec from the start: in a threaded daemon another thread
	 * may fork and exec between socket(2) and a later fcntl(2).
	 */
	c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || (flags = fcntl(c->fd, F_GETFL)) < 0 ||
	    fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		snprintf(reason, reason_size, "socket: %s",
		    smx_strerror(errno, ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (connect(c->fd, addr, addr_len) < 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			snprintf(reason, reason_size, "connect: %s",
			    smx_strerror(errno, ebuf, sizeof(ebuf)));
			goto fail;
		}
		st = smx_io_wait(c->fd, POLLOUT, deadline);
		if (st != SMX_OK) {
			is_timeout = st == SMX_NOTFOUND;
			if (is_timeout)
				snprintf(reason, reason_size,
				    "timeout while connecting");
			else
				snprintf(reason, reason_size, "poll: %s",
				    smx_strerror(errno, ebuf, sizeof(ebuf)));
			goto fail;
		}
		err_len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0)
			err = errno;
		if (err != 0) {
			snprintf(reason, reason_size, "connect: %s",
			    smx_strerror(err, ebuf, sizeof(ebuf)));
			goto fail;
		}
	}
	return SMX_OK;
fail:
	smtp_conn_close(c);
	c->is_timeout = is_timeout;
	return SMX_TEMPFAIL;
}

enum smx_status
smtp_conn_write(struct smtp_conn *c, const void *buf, size_t len, char *reason,
    size_t reason_size)
{
	char ebuf[128];
	enum smx_status st;

	c->is_timeout = false;
	if (c->tls != NULL) {
		st = smx_tls_write(c->tls, buf, len, c->timeout_ms, reason,
		    reason_size);
		c->is_timeout = st != SMX_OK &&
		    smx_tls_failure(c->tls) == SMX_TLS_FAIL_TIMEOUT;
		return st;
	}
	st = smx_io_write_all(c->fd, buf, len, smx_io_deadline(c->timeout_ms));
	c->is_timeout = st == SMX_NOTFOUND;
	if (st == SMX_NOTFOUND)
		snprintf(reason, reason_size, "timeout while sending");
	else if (st != SMX_OK)
		snprintf(reason, reason_size,
		    "lost connection while sending: %s",
		    smx_strerror(errno, ebuf, sizeof(ebuf)));
	return st == SMX_OK ? SMX_OK : SMX_TEMPFAIL;
}

/* Read what is there (waiting until the deadline) into the buffer. */
static enum smx_status
fill(struct smtp_conn *c, long long deadline, char *reason, size_t reason_size)
{
	char ebuf[128];
	size_t room = SMTP_CONN_RBUF_SIZE - c->r_len;
	long long left = deadline - smx_io_now_ms();
	enum smx_status st;
	size_t got = 0;
	ssize_t n;

	c->is_timeout = false;
	if (room == 0) {
		snprintf(reason, reason_size, "reply too long");
		return SMX_INVALID;
	}
	if (left <= 0) {
		c->is_timeout = true;
		snprintf(reason, reason_size, "timeout while reading reply");
		return SMX_TEMPFAIL;
	}
	if (c->tls != NULL) {
		if (smx_tls_read(c->tls, c->rbuf + c->r_len, room, &got,
		        (int)left, reason, reason_size) != SMX_OK) {
			c->is_timeout =
			    smx_tls_failure(c->tls) == SMX_TLS_FAIL_TIMEOUT;
			return SMX_TEMPFAIL;
		}
	} else {
		for (;;) {
			n = read(c->fd, c->rbuf + c->r_len, room);
			if (n >= 0) {
				got = (size_t)n;
				break;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				snprintf(reason, reason_size, "read: %s",
				    smx_strerror(errno, ebuf, sizeof(ebuf)));
				return SMX_TEMPFAIL;
			}
			st = smx_io_wait(c->fd, POLLIN, deadline);
			if (st == SMX_NOTFOUND) {
				c->is_timeout = true;
				snprintf(reason, reason_size,
				    "timeout while reading reply");
				return SMX_TEMPFAIL;
			}
			if (st != SMX_OK) {
				snprintf(reason, reason_size, "poll: %s",
				    smx_strerror(errno, ebuf, sizeof(ebuf)));
				return SMX_TEMPFAIL;
			}
		}
	}
	if (got == 0) {
		snprintf(reason, reason_size,
		    "connection closed by the server");
		return SMX_TEMPFAIL;
	}
	c->r_len += got;
	return SMX_OK;
}

enum smx_status
smtp_conn_read_reply(struct smtp_conn *c, struct smtp_reply *r, char *reason,
    size_t reason_size)
{
	/* One timeout for the whole reply: a trickling server gains nothing. */
	long long deadline = smx_io_deadline(c->timeout_ms);
	enum smx_status st;
	size_t used;

	for (;;) {
		st = smtp_reply_parse(c->rbuf, c->r_len, r, &used);
		if (st == SMX_OK)
			break;
		if (st != SMX_NOTFOUND) {
			snprintf(reason, reason_size, "malformed reply");
			return SMX_INVALID;
		}
		if ((st = fill(c, deadline, reason, reason_size)) != SMX_OK)
			return st;
	}
	memmove(c->rbuf, c->rbuf + used, c->r_len - used);
	c->r_len -= used;
	return SMX_OK;
}

enum smx_status
smtp_conn_read_final_reply(struct smtp_conn *c, struct smtp_reply *r,
    bool *is_strict, char *reason, size_t reason_size)
{
	long long deadline = smx_io_deadline(c->timeout_ms);
	struct smtp_reply_scan sc;
	struct smtp_reply strict;
	enum smx_status st;
	size_t scanned = 0; /* bytes of rbuf the scanner has taken */
	size_t used = 0;
	size_t consumed = 0;
	bool is_whole = true; /* all of the reply is still in rbuf */

	*is_strict = false;
	smtp_reply_scan_init(&sc);
	for (;;) {
		st = smtp_reply_scan(&sc, c->rbuf + scanned, c->r_len - scanned,
		    &used);
		if (st == SMX_OK)
			break;
		if (st != SMX_NOTFOUND) {
			c->r_len = 0;
			snprintf(reason, reason_size, "malformed reply");
			return SMX_INVALID;
		}
		/*
		 * All taken. The bytes stay for the strict check below
		 * until the buffer is full; a reply that fills it is not
		 * strict anyway (SMTP_CONN_RBUF_SIZE holds any valid one).
		 */
		scanned = c->r_len;
		if (scanned == SMTP_CONN_RBUF_SIZE) {
			c->r_len = scanned = 0;
			is_whole = false;
		}
		if ((st = fill(c, deadline, reason, reason_size)) != SMX_OK) {
			c->r_len = 0;
			return st;
		}
	}
	*is_strict = is_whole && scanned + used == c->r_len &&
	    smtp_reply_parse(c->rbuf, c->r_len, &strict, &consumed) == SMX_OK &&
	    consumed == c->r_len;
	c->r_len = 0; /* taken, or after the reply and dropped */
	*r = sc.reply;
	return SMX_OK;
}

bool
smtp_conn_has_input(struct smtp_conn *c, bool check_socket)
{
	struct pollfd pfd;

	if (c->r_len > 0)
		return true;
	if (!check_socket || c->fd < 0)
		return false;
	if (c->tls != NULL && smx_tls_pending(c->tls))
		return true;
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN) != 0;
}

enum smx_status
smtp_conn_starttls(struct smtp_conn *c, struct smx_tls_ctx *ctx,
    const struct smx_tls_peer *peer, struct smx_tls_info *info, char *reason,
    size_t reason_size)
{
	memset(info, 0, sizeof(*info));
	if (c->tls != NULL) {
		snprintf(reason, reason_size, "TLS already active");
		return SMX_INVALID;
	}
	if (smtp_conn_has_input(c, true)) {
		snprintf(reason, reason_size,
		    "plaintext data received after the STARTTLS reply (possible command injection)");
		return SMX_INVALID;
	}
	return smx_tls_connect(ctx, c->fd, peer, c->timeout_ms, &c->tls, info,
	    reason, reason_size);
}

void
smtp_conn_close(struct smtp_conn *c)
{
	if (c->tls != NULL) {
		smx_tls_close(c->tls,
		    c->timeout_ms < 1000 ? c->timeout_ms : 1000);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		(void)close(c->fd);
	free(c->rbuf);
	smtp_conn_init(c);
}
