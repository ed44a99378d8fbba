/* SPDX-License-Identifier: MIT */
#ifndef SMTP_CACHE_H
#define SMTP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "smx_io.h"
#include "smx_limits.h"
#include "smx_status.h"
#include "smx_tls.h"
#include "smtp_conn.h"
#include "smtp_session.h"

/*
 * smtp_cache - idle SMTP connections of a resident sender (secmx-lmtpd),
 * kept after a delivery for the next one to the same server under the
 * same rules, as Postfix's scache(8) keeps smtp(8)'s. Safe to share
 * between threads (one mutex). Pipe mode (secmx-transport) has none.
 */
struct smtp_cache;

/*
 * struct smtp_cache_key - everything that must be equal for a kept
 * connection to carry a delivery: the new delivery would have chosen
 * this very server (address and port, host name), would have greeted
 * it with the same name, and runs under the same sending role and TLS
 * rules (policy, and the digest of the context's verification rules,
 * reference names and TLSA records). Make it with smtp_cache_key_make.
 */
struct smtp_cache_key {
	int family;                    /* AF_INET or AF_INET6 */
	unsigned char addr[16];        /* 4 or 16 bytes used */
	unsigned port;                 /* host order */
	char host[SMX_DOMAIN_MAX + 1]; /* "" for an [address] next hop */
	char helo[SMX_DOMAIN_MAX + 3];
	enum smtp_tls_policy tls_policy;
	bool is_sos;                            /* the sender role */
	unsigned char tls[SMX_TLS_DIGEST_SIZE]; /* smx_tls_peer_digest, or
	                                         * zeros without TLS */
};

/*
 * smtp_cache_key_make - the key of a delivery to addr (IPv4 or IPv6 with
 * the port) named host (or NULL), greeted with helo, under tls_policy
 * and role is_sos; with a policy other than SMTP_TLS_NONE also ctx and
 * peer, the TLS peer exactly as the handshake will see it (SNI included)
 * for smx_tls_peer_digest. Returns SMX_OK; SMX_INVALID for an address
 * of another family or a host or helo over its bound; SMX_TEMPFAIL when
 * the digest cannot be made (no memory). Writes *key only on SMX_OK.
 */
enum smx_status smtp_cache_key_make(struct smtp_cache_key *key,
    const struct sockaddr *addr, socklen_t addr_len, const char *host,
    const char *helo, enum smtp_tls_policy tls_policy, bool is_sos,
    const struct smx_tls_ctx *ctx, const struct smx_tls_peer *peer);

/*
 * struct smtp_cached - one idle connection and what its server said in
 * EHLO (after STARTTLS when there was TLS), so that the next delivery
 * can go on at MAIL FROM (after RSET) without asking again. conn is
 * open with nothing buffered; times are on the cache's clock.
 */
struct smtp_cached {
	struct smtp_conn conn;
	bool has_starttls;                /* EHLO offered STARTTLS */
	bool has_size;                    /* EHLO offered SIZE */
	bool has_smtputf8;                /* EHLO offered SMTPUTF8 */
	bool has_8bitmime;                /* EHLO offered 8BITMIME */
	bool has_pipelining;              /* EHLO offered PIPELINING */
	bool is_helo;                     /* EHLO was refused; HELO used */
	unsigned long size_limit;         /* SIZE n, 0 for none */
	bool has_tls;                     /* the connection runs over TLS */
	struct smx_tls_info tls;          /* its handshake */
	char peer[SMTP_SESSION_PEER_MAX]; /* "host[addr]:port" */
	bool is_dane;                     /* opened with DANE required */
	bool has_dest;                    /* dest is set */
	struct smtp_dest dest;            /* the last delivery's destination */
	long long created_ms;             /* connected */
	long long last_used_ms; /* handed back after its last delivery */
	unsigned n_uses;        /* deliveries it has carried */
};

/*
 * smtp_cache_new - an empty cache for at most max_conns connections
 * (1..SMTP_CACHE_CONNS_MAX). A connection unused for idle_limit_s
 * seconds (smtp_connection_cache_time_limit, 1..SMTP_CACHE_IDLE_TIME_MAX)
 * or opened reuse_limit_s seconds ago (smtp_connection_reuse_time_limit,
 * 1..SMTP_CACHE_REUSE_TIME_MAX) is expired: closed instead of kept or handed
 * out. Returns SMX_OK with *out (free with smtp_cache_free), SMX_INVALID for
 * bad bounds, SMX_TEMPFAIL when memory is short. Never exits.
 */
enum smx_status smtp_cache_new(size_t max_conns, unsigned idle_limit_s,
    unsigned reuse_limit_s, struct smtp_cache **out);

/*
 * smtp_cache_set_clock - the clock of the time limits (tests;
 * smx_io_now_ms by default). Set it before the cache is shared.
 */
void smtp_cache_set_clock(struct smtp_cache *, smx_clock_fn *);

/* smtp_cache_now - the cache's clock, for created_ms. */
long long smtp_cache_now(const struct smtp_cache *);

/*
 * smtp_cache_take - hand out the most recently used connection kept for
 * key that has not expired: it leaves the cache and *out owns it (its
 * n_uses counted). Expired connections are closed on the way. Returns
 * false when there is none (*out untouched). The caller must still make
 * sure the connection works (RSET) and close it when it does not.
 */
bool smtp_cache_take(struct smtp_cache *, const struct smtp_cache_key *key,
    struct smtp_cached *out);

/*
 * smtp_cache_dest_equal - whether two destinations have the same key:
 * name (exactly), sender role and configuration serial. Pure.
 */
bool smtp_cache_dest_equal(const struct smtp_dest *a,
    const struct smtp_dest *b);

/*
 * smtp_cache_take_dest - as smtp_cache_take, but for the kept
 * connection whose last delivery was to a destination equal to dest
 * (smtp_cache_dest_equal) and that greets with helo: the most recently
 * used one that has not expired (so never one opened
 * smtp_connection_reuse_time_limit or more ago: the DNS answers that
 * chose its server were current then). *key gets the key it was kept
 * under, to hand it back with. Returns false when there is none (*out
 * and *key untouched).
 */
bool smtp_cache_take_dest(struct smtp_cache *, const struct smtp_dest *dest,
    const char *helo, struct smtp_cache_key *key, struct smtp_cached *out);

/*
 * smtp_cache_put - keep in's connection for key: the cache owns it
 * afterwards and in->conn is closed for the caller (smtp_conn_init
 * state). Closed instead of kept (QUIT best effort, then close) when it
 * is not open, has bytes buffered or waiting, or was opened
 * reuse_limit_s or more ago. last_used_ms becomes now. A full cache
 * closes its least recently used connection to make room; expired ones
 * are closed on the way. Never fails.
 */
void smtp_cache_put(struct smtp_cache *, const struct smtp_cache_key *key,
    struct smtp_cached *in);

/*
 * smtp_cache_expire - close every expired connection now. put and take
 * do it anyway; a daemon calls this between deliveries so that idle
 * connections do not outlive the idle limit by much. Returns how many
 * were closed.
 */
size_t smtp_cache_expire(struct smtp_cache *);

/* smtp_cache_count - the connections kept (after closing expired ones). */
size_t smtp_cache_count(struct smtp_cache *);

/*
 * smtp_cache_discard - end a connection that is not kept or not usable:
 * QUIT without waiting for the reply (Postfix smtp_skip_quit_response),
 * then close, never waiting for the network. *c is closed afterwards.
 */
void smtp_cache_discard(struct smtp_cached *c);

/*
 * smtp_cache_free - close every connection (as smtp_cache_discard) and
 * free the cache (NULL is fine). No delivery may still use it.
 */
void smtp_cache_free(struct smtp_cache *);

#endif
