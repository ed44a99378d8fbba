/* SPDX-License-Identifier: MIT */
#ifndef SMTP_CONN_H
#define SMTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "smx_status.h"
#include "smx_tls.h"
#include "smtp_reply.h"

/*
 * struct smtp_conn - one SMTP client connection: the socket, the TLS
 * session once STARTTLS succeeded, and the buffer of bytes read but not
 * yet parsed. The caller owns the struct; smtp_conn_close() releases
 * everything it holds.
 */
struct smtp_conn {
	int fd;                   /* -1 when closed */
	struct smx_tls_conn *tls; /* NULL in plaintext */
	int timeout_ms;           /* per read or write (smtp_timeout) */
	char *rbuf;               /* SMTP_CONN_RBUF_SIZE bytes */
	size_t r_len;             /* bytes in rbuf */
	bool is_timeout; /* the last failed read or write ran out of time */
};

/*
 * Read buffer: one reply at its caps plus one line, so that a complete
 * valid reply always fits (smtp_reply_parse refuses anything larger
 * before the buffer fills).
 */
#define SMTP_CONN_RBUF_SIZE (SMTP_REPLY_WIRE_MAX + SMTP_REPLY_LINE_MAX)

/* smtp_conn_init - a closed connection; allocates nothing. */
void smtp_conn_init(struct smtp_conn *);

/*
 * smtp_conn_open - connect a TCP socket to addr (IPv4 or IPv6 with the
 * port inside) within connect_timeout_ms; later reads and writes wait at
 * most timeout_ms each. Returns SMX_OK, or SMX_TEMPFAIL (refused,
 * unreachable, timeout, no memory) with a reason; the connection is
 * closed on failure. Never exits.
 */
enum smx_status smtp_conn_open(struct smtp_conn *, const struct sockaddr *addr,
    socklen_t addr_len, int connect_timeout_ms, int timeout_ms, char *reason,
    size_t reason_size);

/*
 * smtp_conn_write - send len bytes (plaintext or TLS) within timeout_ms.
 * Returns SMX_OK or SMX_TEMPFAIL with a reason (is_timeout tells a
 * timeout from a lost connection). Never exits; never raises
 * SIGPIPE in plaintext (MSG_NOSIGNAL); for TLS see smx_tls_connect.
 */
enum smx_status smtp_conn_write(struct smtp_conn *, const void *buf, size_t len,
    char *reason, size_t reason_size);

/*
 * smtp_conn_read_reply - read until one complete reply is buffered, each
 * read waiting at most timeout_ms, and parse it into *r. Bytes after the
 * reply stay buffered (see smtp_conn_has_input). Returns SMX_OK,
 * SMX_TEMPFAIL (timeout, lost connection, I/O error; is_timeout tells
 * which) or SMX_INVALID
 * (malformed reply, caps exceeded), with a reason. Never exits.
 */
enum smx_status smtp_conn_read_reply(struct smtp_conn *, struct smtp_reply *r,
    char *reason, size_t reason_size);

/*
 * smtp_conn_read_final_reply - read the reply that decides delivery (to
 * the end of data) with smtp_reply_scan: any line ends, lengths and
 * bytes; the whole reply within one timeout. Bytes that follow it are
 * dropped, never an error. Returns SMX_OK with *r, SMX_TEMPFAIL (timeout,
 * lost connection) or SMX_INVALID (not a reply, or over
 * SMTP_REPLY_SCAN_MAX), with a reason. *is_strict (always written) tells
 * whether the reply also passed smtp_reply_parse and nothing followed it
 * in the buffer: only then is the state of the connection known well
 * enough to send it another message. Never exits.
 */
enum smx_status smtp_conn_read_final_reply(struct smtp_conn *,
    struct smtp_reply *r, bool *is_strict, char *reason, size_t reason_size);

/*
 * smtp_conn_has_input - true when bytes are buffered that no command has
 * asked for yet; with check_socket also when the socket (or the TLS
 * layer) has bytes ready to read right now. Does not wait.
 */
bool smtp_conn_has_input(struct smtp_conn *, bool check_socket);

/*
 * smtp_conn_starttls - after the server's 220 reply to STARTTLS: refuse
 * to go on when any further byte is already buffered or readable (the
 * server, or someone in the path, sent data before the handshake: the
 * STARTTLS command injection of CVE-2011-0411), then run the TLS
 * handshake via smx_tls_connect for *peer (SNI, reference names, DANE).
 * Returns SMX_INVALID for the injection case, otherwise what
 * smx_tls_connect returns (SMX_TEMPFAIL handshake failure, SMX_PERMFAIL
 * certificate not verified), with *info and a reason. On SMX_OK later
 * reads and writes go through TLS. Never exits.
 */
enum smx_status smtp_conn_starttls(struct smtp_conn *, struct smx_tls_ctx *,
    const struct smx_tls_peer *peer, struct smx_tls_info *info, char *reason,
    size_t reason_size);

/* smtp_conn_close - end TLS (if any), close the socket, free the buffer. */
void smtp_conn_close(struct smtp_conn *);

#endif
