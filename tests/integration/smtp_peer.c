/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx-smtp-peer - fault-injecting SMTP test server on loopback
 * SYNOPSIS
 *	smx-smtp-peer -s scenario -t transcript -p pidfile
 *	    [-c cert.pem -k key.pem] [-m TLSv1.2|TLSv1.3] [-n name] [-f n]
 *	    [-a address] [-P port] [-M] [-F] [-C countfile] [-L]
 *	    [-R readsfile] [-A ackfile]
 * DESCRIPTION
 *	Listens on 127.0.0.1 (or the loopback -a address) on a port chosen
 *	by the kernel (or -P port: an MX test peer must be at port 25 of
 *	its own loopback address), writes that port as one decimal line on
 *	stdout, its pid to pidfile, and then
 *	serves connections one at a time until killed; with -F each in a
 *	child process of its own, so that several are served at once (a
 *	client that keeps idle connections, or several clients). Every byte
 *	it reads from a client (commands and DATA, after TLS decryption) is
 *	appended to the transcript file as it arrives. With -M the
 *	transcript also gets a line "=== connection" when a connection is
 *	accepted and "=== tls" when a TLS handshake completed, so that a
 *	test can tell what a client sent in plaintext from what it sent
 *	over TLS. With -C it appends one line per accepted connection to
 *	countfile. With -L its EHLO offers PIPELINING (RFC 2920). With -R
 *	it appends one line per command line to readsfile, "CONN FIRST
 *	LAST VERB": the connection (numbered from 1 as accepted), the
 *	numbers of the reads on it (from 1) that brought the line's first
 *	and last byte, and its first word, so that a test can tell that a
 *	client sent MAIL, RCPT and DATA in one write (pipelined) or one at
 *	a time. With -A it appends to ackfile, for every message it
 *	accepts (a 2xx reply to the end of data), one line per recipient
 *	it accepted in that transaction, the address between the angle
 *	brackets of RCPT TO; the lines of one message go out in one
 *	write(2) in append mode, before the reply, so that the children of
 *	-F never mix them and a client that saw the reply finds them: a
 *	test counts there what the receiver took responsibility for.
 *
 *	Scenarios:
 *	normal     STARTTLS offered (needs -c/-k), everything accepted
 *	notls      STARTTLS not offered
 *	hsfail     STARTTLS offered; after its 220, garbage in answer to
 *	           the ClientHello, and close
 *	inject     "220 ready" CRLF "250 injected" CRLF in one write after
 *	           STARTTLS, then waits for the client to hang up
 *	stall      accepts and never sends anything
 *	slow       greets SLOW_SECONDS (3) after accepting, then as normal:
 *	           a delivery that is sure to be in progress for a while
 *	implicit   TLS from the first byte (like SMTPS), then as normal
 *	mail4, mail5, data4, data5, eod4, eod5
 *	           a 4xx or 5xx reply to MAIL, DATA or the end of data
 *	dropdata   after 354, reads some data and closes the connection
 *	ehlo5      EHLO refused with 550 (HELO works, without extensions)
 *	ehlo4      EHLO answered 421, then the connection is closed
 *	stls_stall no reply to STARTTLS
 *	stls_close the connection is closed instead of a STARTTLS reply
 *	stls454, stls554
 *	           STARTTLS answered 454 4.7.0 or 554 5.7.0
 *	hs_stall   220 to STARTTLS, then no answer to the ClientHello
 *	hs_close   220 to STARTTLS, the ClientHello read, the connection
 *	           closed
 *	hs_reset   the same, closed with a TCP reset
 *	hs_alert   the handshake refused with a handshake_failure alert
 *	eod_utf8, eod_lf, eod_long, eod_extra
 *	           the message accepted with an odd 250 reply: UTF-8 text,
 *	           a bare LF line end, a 2000-byte line, bytes after it
 *	loop       greets and answers EHLO with the -n name (default
 *	           peer.test), as a server that is the client itself
 *	utf8       SMTPUTF8 offered in EHLO
 *	eod_close  the message accepted, then 0.3 s later the connection
 *	           closed (a server that keeps no idle connections)
 *	eod_stall  no reply to the end of data
 *	rset5      RSET answered 554 5.5.1
 *	data354    DATA answered 354 even when no recipient was accepted,
 *	           and the end of that data 250 (a broken server)
 *	mail5_354  MAIL refused with 550, and DATA answered 354 all the same
 *	rcpt_close after the reply to the first RCPT, the connection is
 *	           closed (lost in the middle of pipelined replies)
 *	slowreply  every reply to MAIL, RCPT, DATA and the end of data
 *	           comes 0.15 s late
 *	In every scenario a recipient containing "temp" gets 450 4.2.1 and
 *	one containing "bad" gets 550 5.1.1; others get 250. As a real
 *	server, it answers RCPT without an accepted MAIL, and DATA without
 *	one, with 503 5.5.1, and DATA without an accepted recipient with
 *	554 5.5.1 (except data354 and mail5_354). SMTPUTF8 is
 *	offered only in "utf8". With -f N the scenario applies to the first
 *	N connections only; later ones are "normal" (a fault that goes
 *	away). A wrong-name certificate scenario is "normal" with that
 *	certificate.
 * LIMITS
 *	Lines up to 4096 bytes; every socket wait is bounded by a 10 s
 *	SO_RCVTIMEO/SO_SNDTIMEO (30 s in the stall scenario).
 * DIAGNOSTICS
 *	Exits 1 with a message on stderr on setup errors. A client that
 *	hangs up early ends only its connection: SIGPIPE is ignored (with
 *	TLS 1.3 the server writes its session tickets after the client's
 *	Finished, when a client that rejects the certificate may already
 *	have closed the connection).
 * SECURITY
 *	Test code only; never installed. It is the server side of TLS and,
 *	being a test tool and not part of the product, includes OpenSSL
 *	directly (only lib/smx_tls.c does so in the product).
 * SEE ALSO
 *	tests/unit/peer_fixture.h, scripts/make-test-certs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define LINE_MAX_PEER 4096
#define SLOW_SECONDS 3
#define ACK_RCPTS_MAX 64 /* recipients remembered per transaction */
#define ACK_ADDR_MAX 256 /* bytes of one remembered address */

struct client {
	int fd;
	SSL *ssl;
	int transcript;
	char buf[LINE_MAX_PEER];
	size_t len;
	size_t pos;
	unsigned long n_conn;  /* which connection, from 1 */
	unsigned long n_reads; /* reads from the client so far */
	bool has_mail;         /* MAIL accepted, transaction open */
	size_t n_accepted;     /* RCPTs accepted in it */
	/* -A: the recipients accepted in the current transaction. */
	char rcpts[ACK_RCPTS_MAX][ACK_ADDR_MAX];
	size_t n_rcpts;
};

static const char *scenario = "normal";
static const char *configured_scenario = "normal";
static const char *greeting_name = "peer.test";
static long faulty_connections = -1; /* -f: how many get the scenario */
static bool is_marking;              /* -M: connection and TLS marks */
static bool is_pipelining;           /* -L: PIPELINING offered */
static int reads_fd = -1;            /* -R: where commands were read */
static int ack_fd = -1;              /* -A: accepted recipients */
static SSL_CTX *server_ctx;

static bool
is(const char *name)
{
	return strcmp(scenario, name) == 0;
}

static void
record(struct client *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(c->transcript, p, n);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static bool
send_text(struct client *c, const char *s)
{
	size_t len = strlen(s);
	size_t done;

	if (c->ssl != NULL)
		return SSL_write_ex(c->ssl, s, len, &done) == 1;
	while (len > 0) {
		ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		s += n;
		len -= (size_t)n;
	}
	return true;
}

/* Next byte from the client, recorded in the transcript; -1 at EOF. */
static int
get_byte(struct client *c)
{
	if (c->pos == c->len) {
		size_t got = 0;
		ssize_t n;

		if (c->ssl != NULL) {
			if (SSL_read_ex(c->ssl, c->buf, sizeof(c->buf), &got) !=
			    1)
				return -1;
		} else {
			n = read(c->fd, c->buf, sizeof(c->buf));
			if (n <= 0)
				return -1;
			got = (size_t)n;
		}
		record(c, c->buf, got);
		c->n_reads++;
		c->len = got;
		c->pos = 0;
	}
	return (unsigned char)c->buf[c->pos++];
}

/* -R: "CONN FIRST LAST VERB" for a command line (one write: atomic). */
static void
note_reads(const struct client *c, unsigned long first, const char *line)
{
	char out[96];
	int n;

	if (reads_fd < 0)
		return;
	n = snprintf(out, sizeof(out), "%lu %lu %lu %.*s\n", c->n_conn, first,
	    c->n_reads, (int)strcspn(line, " :"), line);
	if (n > 0 && (size_t)n < sizeof(out) &&
	    write(reads_fd, out, (size_t)n) != n)
		perror("smx-smtp-peer: reads");
}

/* One command line without CRLF; false at EOF or overflow. */
static bool
get_line(struct client *c, char *line, size_t size)
{
	unsigned long first = 0;
	size_t n = 0;
	int ch;

	while ((ch = get_byte(c)) >= 0) {
		if (first == 0)
			first = c->n_reads;
		if (ch == '\n') {
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			note_reads(c, first, line);
			return true;
		}
		if (n + 1 >= size)
			return false;
		line[n++] = (char)ch;
	}
	return false;
}

/* -M: a line of its own in the transcript. */
static void
mark(struct client *c, const char *line)
{
	if (is_marking)
		record(c, line, strlen(line));
}

static bool
start_tls(struct client *c)
{
	c->len = c->pos = 0; /* discard buffered plaintext (CVE-2011-0411) */
	if ((c->ssl = SSL_new(server_ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 || SSL_accept(c->ssl) != 1) {
		ERR_print_errors_fp(stderr);
		return false;
	}
	mark(c, "=== tls\r\n");
	return true;
}

/* Read the message until CRLF.CRLF (the data starts at a line start). */
static bool
read_body(struct client *c)
{
	static const char end[] = "\r\n.\r\n";
	size_t state = 2;
	int ch;

	if (is("dropdata")) {
		(void)get_byte(c);
		return false;
	}
	while ((ch = get_byte(c)) >= 0) {
		if (ch == end[state])
			state++;
		else
			state = ch == '\r' ? 1 : 0;
		if (state == 5)
			return true;
	}
	return false;
}

/* -A: note the address of an accepted "RCPT TO:<address> ..." line. */
static void
remember_rcpt(struct client *c, const char *line)
{
	const char *open = strchr(line, '<');
	const char *close = open != NULL ? strchr(open, '>') : NULL;
	size_t len;

	if (open == NULL || close == NULL || c->n_rcpts == ACK_RCPTS_MAX)
		return;
	len = (size_t)(close - open - 1);
	if (len >= ACK_ADDR_MAX)
		len = ACK_ADDR_MAX - 1;
	memcpy(c->rcpts[c->n_rcpts], open + 1, len);
	c->rcpts[c->n_rcpts][len] = '\0';
	c->n_rcpts++;
}

/* -A: one line per accepted recipient of the message, in one write. */
static void
ack_message(struct client *c)
{
	static char buf[ACK_RCPTS_MAX * (ACK_ADDR_MAX + 1)];
	size_t len = 0;
	size_t i;

	if (ack_fd < 0)
		return;
	for (i = 0; i < c->n_rcpts; i++) {
		size_t n = strlen(c->rcpts[i]);

		memcpy(buf + len, c->rcpts[i], n);
		buf[len + n] = '\n';
		len += n + 1;
	}
	if (len > 0 && write(ack_fd, buf, len) != (ssize_t)len)
		perror("smx-smtp-peer: ack");
}

static void
reply_rcpt(struct client *c, const char *line)
{
	if (!c->has_mail) {
		send_text(c, "503 5.5.1 Error: need MAIL command\r\n");
	} else if (strstr(line, "temp") != NULL) {
		send_text(c, "450 4.2.1 Mailbox busy, try later\r\n");
	} else if (strstr(line, "bad") != NULL) {
		send_text(c,
		    "550 5.1.1 Recipient address rejected: unknown\r\n");
	} else {
		c->n_accepted++;
		remember_rcpt(c, line);
		send_text(c, "250 2.1.5 Ok\r\n");
	}
}

/* slowreply: a reply to a transaction command comes late. */
static void
pause_if_slow(void)
{
	struct timespec ts = { 0, 150 * 1000 * 1000 };

	if (is("slowreply"))
		(void)nanosleep(&ts, NULL);
}

/*
 * The reply to DATA when it is not 354, or NULL: a 4xx/5xx scenario,
 * no transaction, no recipient (as Postfix smtpd; data354 and
 * mail5_354 answer 354 all the same).
 */
static const char *
data_refusal(const struct client *c)
{
	if (is("data4"))
		return "451 4.3.0 No data now\r\n";
	if (is("data5"))
		return "554 5.5.0 No data\r\n";
	if (is("data354") || is("mail5_354"))
		return NULL;
	if (!c->has_mail)
		return "503 5.5.1 Error: need MAIL command\r\n";
	if (c->n_accepted == 0)
		return "554 5.5.1 Error: no valid recipients\r\n";
	return NULL;
}

/* Close with a TCP reset instead of a FIN. */
static void
reset(int fd)
{
	struct linger lg = { 1, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* The reply to the end of data. */
static const char *
eod_reply(void)
{
	static char long_reply[2100];

	if (is("eod4"))
		return "452 4.3.1 Insufficient storage\r\n";
	if (is("eod5"))
		return "554 5.6.0 Content rejected\r\n";
	if (is("eod_utf8"))
		return "250 2.0.0 Ok: queued as PEER1 \xe2\x9c\x93 gespeichert, "
		       "\xc3\xbc"
		       "bernommen\r\n";
	if (is("eod_lf"))
		return "250 2.0.0 Ok: queued as PEER1\n";
	if (is("eod_extra"))
		return "250 2.0.0 Ok: queued as PEER1\r\n* extra bytes after the reply\r\n";
	if (is("eod_long")) {
		memcpy(long_reply, "250 2.0.0 Ok: queued as PEER1 ", 30);
		memset(long_reply + 30, 'x', 2000);
		memcpy(long_reply + 2030, "\r\n", 3);
		return long_reply;
	}
	return "250 2.0.0 Ok: queued as PEER1\r\n";
}

/* The dialogue after the banner; returns when the client is done. */
static void
dialogue(struct client *c)
{
	char line[LINE_MAX_PEER];

	while (get_line(c, line, sizeof(line))) {
		if (strncmp(line, "EHLO", 4) == 0) {
			if (is("ehlo5")) {
				send_text(c, "550 5.5.1 EHLO not accepted\r\n");
				continue;
			}
			if (is("ehlo4")) {
				send_text(c, "421 4.3.2 Busy, try later\r\n");
				return;
			}
			send_text(c, "250-");
			send_text(c, is("loop") ? greeting_name : "peer.test");
			send_text(c, "\r\n");
			if (c->ssl == NULL && !is("notls"))
				send_text(c, "250-STARTTLS\r\n");
			if (is_pipelining)
				send_text(c, "250-PIPELINING\r\n");
			if (is("utf8"))
				send_text(c, "250-SMTPUTF8\r\n");
			send_text(c, "250-SIZE 10240000\r\n250 8BITMIME\r\n");
		} else if (strncmp(line, "HELO", 4) == 0) {
			send_text(c, "250 peer.test\r\n");
		} else if (strcmp(line, "STARTTLS") == 0) {
			if (c->ssl != NULL || is("notls")) {
				send_text(c, "502 5.5.1 Not now\r\n");
			} else if (is("stls_stall")) {
				while (get_byte(c) >= 0)
					;
				return;
			} else if (is("stls_close")) {
				return;
			} else if (is("stls454") || is("stls554")) {
				send_text(c,
				    is("stls454")
				        ? "454 4.7.0 TLS not available now\r\n"
				        : "554 5.7.0 No TLS here\r\n");
			} else if (is("hs_stall") || is("hs_close") ||
			    is("hs_reset")) {
				send_text(c,
				    "220 2.0.0 Ready to start TLS\r\n");
				c->len = c->pos = 0;
				(void)get_byte(c); /* the ClientHello */
				if (is("hs_stall"))
					while (get_byte(c) >= 0)
						;
				else if (is("hs_reset"))
					reset(c->fd);
				return;
			} else if (is("inject")) {
				send_text(c, "220 ready\r\n250 injected\r\n");
				while (get_byte(c) >= 0)
					;
				return;
			} else if (is("hsfail")) {
				/* Garbage in answer to the ClientHello. */
				send_text(c,
				    "220 2.0.0 Ready to start TLS\r\n");
				c->len = c->pos = 0;
				if (get_byte(c) >= 0)
					send_text(c,
					    "this is not a TLS server hello\r\n");
				return;
			} else {
				send_text(c,
				    "220 2.0.0 Ready to start TLS\r\n");
				if (!start_tls(c))
					return;
			}
		} else if (strncmp(line, "MAIL FROM:", 10) == 0) {
			bool is_refused =
			    is("mail4") || is("mail5") || is("mail5_354");

			pause_if_slow();
			send_text(c,
			    is("mail4")      ? "451 4.3.0 Try again later\r\n"
			        : is_refused ? "550 5.7.1 Sender rejected\r\n"
			                     : "250 2.1.0 Ok\r\n");
			c->has_mail = !is_refused;
			c->n_accepted = 0;
			c->n_rcpts = 0;
		} else if (strncmp(line, "RCPT TO:", 8) == 0) {
			pause_if_slow();
			reply_rcpt(c, line);
			if (is("rcpt_close"))
				return;
		} else if (strcmp(line, "DATA") == 0) {
			const char *refusal = data_refusal(c);

			pause_if_slow();
			if (refusal != NULL) {
				send_text(c, refusal);
				continue;
			}
			send_text(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
			if (!read_body(c))
				return;
			c->has_mail = false;
			if (is("eod_stall")) {
				while (get_byte(c) >= 0)
					;
				return;
			}
			pause_if_slow();
			if (eod_reply()[0] == '2')
				ack_message(c);
			c->n_rcpts = 0;
			send_text(c, eod_reply());
			if (is("eod_close")) {
				/* After the client has taken the reply. */
				struct timespec ts = { 0, 300 * 1000 * 1000 };

				(void)nanosleep(&ts, NULL);
				return;
			}
		} else if (strcmp(line, "RSET") == 0) {
			c->has_mail = false;
			c->n_rcpts = 0;
			send_text(c,
			    is("rset5") ? "554 5.5.1 No reset here\r\n"
			                : "250 2.0.0 Ok\r\n");
		} else if (strcmp(line, "QUIT") == 0) {
			send_text(c, "221 2.0.0 Bye\r\n");
			return;
		} else {
			send_text(c, "502 5.5.2 Command not recognized\r\n");
		}
	}
}

static void
serve(int fd, int transcript, unsigned long n_conn)
{
	struct client c;
	struct timeval tv = { is("stall") ? 30 : 10, 0 };

	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.n_conn = n_conn;
	c.transcript = transcript;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	mark(&c, "=== connection\r\n");
	if (is("stall")) {
		while (get_byte(&c) >= 0)
			;
		return;
	}
	if (is("implicit") && !start_tls(&c))
		goto out;
	if (is("slow"))
		(void)sleep(SLOW_SECONDS);
	if (send_text(&c, "220 ") &&
	    send_text(&c, is("loop") ? greeting_name : "peer.test") &&
	    send_text(&c, " ESMTP secmx test peer\r\n"))
		dialogue(&c);
out:
	if (c.ssl != NULL) {
		(void)SSL_shutdown(c.ssl);
		SSL_free(c.ssl);
	}
}

/* hs_alert: refuse every ClientHello with a handshake_failure alert. */
static int
refuse_hello(SSL *ssl, int *alert, void *arg)
{
	(void)ssl;
	(void)arg;
	if (!is("hs_alert"))
		return SSL_CLIENT_HELLO_SUCCESS;
	*alert = SSL_AD_HANDSHAKE_FAILURE;
	return SSL_CLIENT_HELLO_ERROR;
}

static SSL_CTX *
make_ctx(const char *cert, const char *key, const char *max_proto)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		goto fail;
	SSL_CTX_set_client_hello_cb(ctx, refuse_hello, NULL);
	if (max_proto != NULL &&
	    SSL_CTX_set_max_proto_version(ctx,
	        strcmp(max_proto, "TLSv1.2") == 0 ? TLS1_2_VERSION
	                                          : TLS1_3_VERSION) != 1)
		goto fail;
	return ctx;
fail:
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* -C: one line per accepted connection. */
static void
count_connection(const char *path)
{
	int fd;

	if (path == NULL)
		return;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0)
		return;
	if (write(fd, "c\n", 2) != 2)
		perror("smx-smtp-peer: count");
	(void)close(fd);
}

static int
listen_loopback(const char *addr, unsigned port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int one = 1;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
	    (ntohl(sin.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "smx-smtp-peer: %s: not a loopback address\n",
		    addr);
		exit(1);
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("smx-smtp-peer: listen");
		exit(1);
	}
	printf("%u\n", (unsigned)ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

int
main(int argc, char **argv)
{
	const char *cert = NULL;
	const char *key = NULL;
	const char *max_proto = NULL;
	const char *transcript_path = "/dev/null";
	const char *pid_path = NULL;
	const char *listen_addr = "127.0.0.1";
	const char *count_path = NULL;
	bool is_forking = false;
	unsigned long n_conns = 0;
	unsigned listen_port = 0;
	int transcript;
	int lfd;
	int opt;
	FILE *fp;

	(void)signal(SIGPIPE, SIG_IGN);
	while (
	    (opt = getopt(argc, argv, "s:c:k:m:t:p:n:f:a:P:MFC:LR:A:")) != -1) {
		switch (opt) {
		case 'L':
			is_pipelining = true;
			break;
		case 'R':
			reads_fd =
			    open(optarg, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (reads_fd < 0) {
				perror("smx-smtp-peer: reads");
				return 1;
			}
			break;
		case 'A':
			ack_fd =
			    open(optarg, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (ack_fd < 0) {
				perror("smx-smtp-peer: ackfile");
				return 1;
			}
			break;
		case 'F':
			is_forking = true;
			break;
		case 'C':
			count_path = optarg;
			break;
		case 's':
			scenario = configured_scenario = optarg;
			break;
		case 'n':
			greeting_name = optarg;
			break;
		case 'f':
			faulty_connections = strtol(optarg, NULL, 10);
			break;
		case 'a':
			listen_addr = optarg;
			break;
		case 'P':
			listen_port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'M':
			is_marking = true;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'm':
			max_proto = optarg;
			break;
		case 't':
			transcript_path = optarg;
			break;
		case 'p':
			pid_path = optarg;
			break;
		default:
			fprintf(stderr,
			    "usage: smx-smtp-peer -s scenario -t transcript -p pidfile [-c cert -k key] [-m maxproto] [-n name] [-f n] [-a addr] [-P port] [-M] [-F] [-C countfile] [-L] [-R readsfile] [-A ackfile]\n");
			return 1;
		}
	}
	if (cert != NULL && key != NULL)
		server_ctx = make_ctx(cert, key, max_proto);
	else if (is("normal") || is("implicit")) {
		fprintf(stderr, "smx-smtp-peer: scenario %s needs -c and -k\n",
		    scenario);
		return 1;
	}
	transcript = open(transcript_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (transcript < 0) {
		perror("smx-smtp-peer: transcript");
		return 1;
	}
	if (pid_path != NULL) {
		if ((fp = fopen(pid_path, "w")) == NULL) {
			perror("smx-smtp-peer: pidfile");
			return 1;
		}
		fprintf(fp, "%ld\n", (long)getpid());
		fclose(fp);
	}
	lfd = listen_loopback(listen_addr, listen_port);
	if (is_forking)
		(void)signal(SIGCHLD, SIG_IGN); /* no zombies */
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pid_t pid;

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("smx-smtp-peer: accept");
			return 1;
		}
		count_connection(count_path);
		n_conns++;
		if (faulty_connections >= 0) {
			scenario = faulty_connections > 0 ? configured_scenario
			                                  : "normal";
			if (faulty_connections > 0)
				faulty_connections--;
		}
		if (!is_forking) {
			serve(fd, transcript, n_conns);
			(void)close(fd);
			continue;
		}
		if ((pid = fork()) == 0) {
			/* Ends with the peer, as the peer with its test. */
			(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
			(void)close(lfd);
			serve(fd, transcript, n_conns);
			_exit(0);
		}
		if (pid < 0)
			perror("smx-smtp-peer: fork");
		(void)close(fd);
	}
}
