/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx-logsink - capture syslog(3) datagrams into a file for tests
 * DESCRIPTION
 *	smx-logsink SOCKET LOGFILE PIDFILE
 *
 *	Binds a unix datagram socket at SOCKET (mode 0666, so that the
 *	unprivileged postfix and secmx users can log to it), then writes
 *	its process id to PIDFILE; the pid file appearing means the socket
 *	is ready. Every datagram received is appended to LOGFILE as one
 *	line; the lines of all datagrams pending at a wake-up are written
 *	together, so the file is current whenever the socket is empty. SIGTERM
 *or SIGINT end the program; it then removes SOCKET and PIDFILE and exits 0.
 *
 *	The integration tests bind it at /dev/log (or bind-mount it there
 *	in a private mount namespace), which is where the C library's
 *	syslog(3) sends messages, so that Postfix's and secmx's log lines
 *	can be asserted without a syslog daemon.
 * LIMITS
 *	A datagram longer than LOGSINK_DGRAM_MAX is cut there and the line
 *	is marked " [truncated]". Lines are not otherwise limited.
 * DIAGNOSTICS
 *	Usage errors exit 2; failure to bind, write or create files exits
 *	1 with a message on stderr. A failed append to LOGFILE ends the
 *	program, since a test would otherwise miss lines silently.
 * SECURITY
 *	Test helper only, never installed. It refuses to replace an
 *	existing SOCKET. Bytes other than printable ASCII and tab are
 *	written as '?', so that a message cannot forge a second line.
 * SEE ALSO
 *	syslog(3), unix(7), RFC 3164 section 4.1 (message format).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "smx_status.h"

/*
 * RFC 5424 section 6.1: receivers SHOULD accept 2048 octets and MAY accept
 * more; glibc's syslog(3) sends whatever the caller formatted. 64 KiB is
 * more than any Postfix or secmx line (SMX_LOG_LINE_MAX is 2048).
 */
#define LOGSINK_DGRAM_MAX 65536
/* Room for the message, " [truncated]" and the newline. */
#define LOGSINK_LINE_MAX (LOGSINK_DGRAM_MAX + 16)
/* Lines gathered before one write(2): four of the longest. */
#define LOGSINK_BATCH_MAX (4 * LOGSINK_LINE_MAX)

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	got_signal = sig;
}

/*
 * bind_socket - create and bind the datagram socket at path. Returns the
 * descriptor or -1 with a message on stderr.
 */
static int
bind_socket(const char *path)
{
	struct sockaddr_un addr;
	size_t len = strlen(path);
	int fd;

	memset(&addr, 0, sizeof(addr));
	if (len == 0 || len >= sizeof(addr.sun_path)) {
		fprintf(stderr, "smx-logsink: socket path too long: %s\n",
		    path);
		return -1;
	}
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, len);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0) {
		perror("smx-logsink: socket");
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "smx-logsink: bind %s: %s\n", path,
		    strerror(errno));
		(void)close(fd);
		return -1;
	}
	/* syslog(3) callers run as postfix, secmx and root. */
	if (chmod(path, 0666) < 0) {
		fprintf(stderr, "smx-logsink: chmod %s: %s\n", path,
		    strerror(errno));
		(void)close(fd);
		(void)unlink(path);
		return -1;
	}
	return fd;
}

/*
 * write_pidfile - write our pid to path through a temporary file and a
 * rename, so that a reader never sees a partial pid.
 */
static enum smx_status
write_pidfile(const char *path)
{
	char tmp[4096];
	char text[32];
	int n;
	int len;
	int fd;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp) || len < 0 ||
	    (size_t)len >= sizeof(text))
		return SMX_INVALID;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return SMX_TEMPFAIL;
	if (write(fd, text, (size_t)len) != len) {
		(void)close(fd);
		(void)unlink(tmp);
		return SMX_TEMPFAIL;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		(void)unlink(tmp);
		return SMX_TEMPFAIL;
	}
	return SMX_OK;
}

/*
 * format_line - turn one datagram into one printable line ending in '\n'.
 * Trailing NUL and newline bytes, which some senders add, are dropped.
 * Returns the line length.
 */
static size_t
format_line(const char *msg, size_t len, bool is_truncated, char *line,
    size_t size)
{
	static const char mark[] = " [truncated]";
	size_t out = 0;
	size_t i;

	while (len > 0 &&
	    (msg[len - 1] == '\0' || msg[len - 1] == '\n' ||
	        msg[len - 1] == '\r'))
		len--;
	if (len > size - sizeof(mark) - 1)
		len = size - sizeof(mark) - 1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];

		line[out++] =
		    (c == '\t' || (c >= 0x20 && c < 0x7f)) ? (char)c : '?';
	}
	if (is_truncated) {
		memcpy(line + out, mark, sizeof(mark) - 1);
		out += sizeof(mark) - 1;
	}
	line[out++] = '\n';
	return out;
}

/* Append buf[0..len) to out in full, or fail. */
static enum smx_status
write_all(int out, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(out, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror("smx-logsink: write");
			return SMX_TEMPFAIL;
		}
		buf += n;
		len -= (size_t)n;
	}
	return SMX_OK;
}

/*
 * serve - receive datagrams until a signal arrives. The signals are
 * blocked except inside pselect(), so that one arriving between the check
 * and the wait cannot be lost. After each wake-up every pending datagram
 * is read and the lines are appended with as few writes as fit in the
 * buffer, as a syslog daemon batches its writes; the file is current
 * whenever the socket is empty. Returns SMX_OK on a signal.
 */
static enum smx_status
serve(int sock, int out, const sigset_t *waitmask)
{
	static char msg[LOGSINK_DGRAM_MAX];
	static char lines[LOGSINK_BATCH_MAX];

	while (!got_signal) {
		fd_set rfds;
		size_t used = 0;

		FD_ZERO(&rfds);
		FD_SET(sock, &rfds);
		if (pselect(sock + 1, &rfds, NULL, NULL, NULL, waitmask) < 0) {
			if (errno == EINTR)
				continue;
			perror("smx-logsink: pselect");
			return SMX_TEMPFAIL;
		}
		for (;;) {
			ssize_t n = recv(sock, msg, sizeof(msg),
			    MSG_DONTWAIT | MSG_TRUNC);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				perror("smx-logsink: recv");
				return SMX_TEMPFAIL;
			}
			if (sizeof(lines) - used < LOGSINK_LINE_MAX) {
				if (write_all(out, lines, used) != SMX_OK)
					return SMX_TEMPFAIL;
				used = 0;
			}
			used += format_line(msg,
			    (size_t)n > sizeof(msg) ? sizeof(msg) : (size_t)n,
			    (size_t)n > sizeof(msg), lines + used,
			    LOGSINK_LINE_MAX);
		}
		if (write_all(out, lines, used) != SMX_OK)
			return SMX_TEMPFAIL;
	}
	return SMX_OK;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t block;
	sigset_t waitmask;
	enum smx_status st;
	int sock;
	int out;

	if (argc != 4) {
		fprintf(stderr, "usage: smx-logsink SOCKET LOGFILE PIDFILE\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if (sigprocmask(SIG_BLOCK, &block, &waitmask) < 0 ||
	    sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGINT, &sa, NULL) < 0) {
		perror("smx-logsink: signals");
		return 1;
	}
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);

	out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "smx-logsink: open %s: %s\n", argv[2],
		    strerror(errno));
		return 1;
	}
	if ((sock = bind_socket(argv[1])) < 0) {
		(void)close(out);
		return 1;
	}
	if (write_pidfile(argv[3]) != SMX_OK) {
		fprintf(stderr, "smx-logsink: pid file %s: %s\n", argv[3],
		    strerror(errno));
		st = SMX_TEMPFAIL;
	} else {
		st = serve(sock, out, &waitmask);
		(void)unlink(argv[3]);
	}
	(void)close(sock);
	if (unlink(argv[1]) < 0)
		fprintf(stderr, "smx-logsink: unlink %s: %s\n", argv[1],
		    strerror(errno));
	if (close(out) < 0) {
		perror("smx-logsink: close");
		st = SMX_TEMPFAIL;
	}
	return st == SMX_OK ? 0 : 1;
}
