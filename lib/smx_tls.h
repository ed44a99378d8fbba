/* SPDX-License-Identifier: MIT */
#ifndef SMX_TLS_H
#define SMX_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_io.h"
#include "smx_limits.h"
#include "smx_status.h"

/*
 * TLS client layer. Only smx_tls.c includes OpenSSL; callers hold the two
 * opaque structs below and plain C values.
 */
struct smx_tls_ctx;           /* client settings: protocols, trust anchors */
struct smx_tls_conn;          /* one TLS session on a caller-owned socket */
struct smx_tls_session_cache; /* resumable sessions (smx_tls_cache.h) */

/* Bytes of the digests below (SHA-256). */
#define SMX_TLS_DIGEST_SIZE 32
/* Postfix smtp_tls_session_cache_timeout: how long a session is resumed. */
#define SMX_TLS_SESSION_LIFETIME_DEFAULT 3600

enum smx_tls_verify {
	SMX_TLS_VERIFY_NONE = 0, /* encrypt only; no chain or name check */
	SMX_TLS_VERIFY_CA = 1,   /* chain to a trusted CA and a name match */
	SMX_TLS_VERIFY_DANE = 2, /* TLSA records, OpenSSL's DANE (RFC 7671) */
};

struct smx_tls_options {
	const char *min_protocol;   /* "TLSv1.2" (also when NULL), "TLSv1.3" */
	enum smx_tls_verify verify; /* see above */
	const char *ca_file;        /* PEM bundle, or NULL */
	const char *ca_path;        /* hashed directory, or NULL */
	/* With verify=ca and neither file nor path: the system default store.
	 */
};

/* Outcome of certificate verification, as reported in struct smx_tls_info. */
enum smx_tls_verified {
	SMX_TLS_VERIFIED_NONE = 0,    /* not checked (verify=none) */
	SMX_TLS_VERIFIED_CA = 1,      /* chain to a CA and a name: good */
	SMX_TLS_VERIFIED_FAIL = 2,    /* checked and bad; see verify_reason */
	SMX_TLS_VERIFIED_DANE_EE = 3, /* a DANE-EE(3) TLSA record matched */
	SMX_TLS_VERIFIED_DANE_TA = 4, /* a DANE-TA(2) record and a name */
};

/*
 * struct smx_tls_tlsa - one TLSA record for DANE (RFC 6698): usage,
 * selector, matching type and the association data (borrowed).
 */
struct smx_tls_tlsa {
	unsigned char usage;
	unsigned char selector;
	unsigned char mtype;
	const unsigned char *data;
	size_t len;
};

/*
 * smx_tls_tlsa_usable - true when OpenSSL's DANE can use the record for
 * SMTP: usage DANE-TA(2) or DANE-EE(3) (PKIX-TA(0) and PKIX-EE(1) are
 * unusable for SMTP, RFC 7672 section 3.1.3), selector Cert(0) or
 * SPKI(1), matching type Full(0), SHA2-256(1) with 32 bytes or
 * SHA2-512(2) with 64 bytes. Pure.
 */
bool smx_tls_tlsa_usable(const struct smx_tls_tlsa *);

/* One certificate of the peer's chain, for reports. */
struct smx_tls_cert {
	char subject[256]; /* RFC 2253 form */
	char issuer[256];
	char names[512]; /* subjectAltName DNS names, ", " separated */
	long days_left;  /* until notAfter; negative when expired */
};

/* struct smx_tls_chain - the certificates the peer sent, leaf first. */
struct smx_tls_chain {
	struct smx_tls_cert cert[SMX_TLS_CHAIN_MAX];
	size_t n_certs;
};

/*
 * struct smx_tls_peer - who the peer must be, for smx_tls_connect.
 * sni: server name indication, or NULL.
 * names: reference names (at most SMX_TLS_NAMES_MAX): with a verify=ca
 *   context the acceptable names (at least one); with a DANE context
 *   the extra names a DANE-TA(2) certificate may carry besides
 *   dane_base.
 * dane_base, tlsa: with a DANE context, the TLSA base domain (the
 *   server's host name, also the first reference name) and the records
 *   (at most SMX_TLSA_MAX; unusable ones are skipped, at least one must
 *   be usable).
 * chain: when not NULL, filled with the peer's certificates, also when
 *   verification fails (a resumed session has none to report).
 * cache, where: optional (NULL cache: no resumption, nothing kept). With
 *   a cache, where names the server's address and port as the caller
 *   knows it ("[192.0.2.1]:25"); a session is resumed only for the same
 *   where, context settings, sni, names, dane_base and TLSA records.
 */
struct smx_tls_peer {
	const char *sni;
	const char *const *names;
	size_t n_names;
	const char *dane_base;
	const struct smx_tls_tlsa *tlsa;
	size_t n_tlsa;
	struct smx_tls_chain *chain;
	struct smx_tls_session_cache *cache;
	const char *where;
};

/*
 * Why a TLS connection failed, so that callers can tell a server that
 * refuses TLS from a network fault (issue of classification: a refusal
 * is the server's answer, a fault may go away).
 */
enum smx_tls_failure {
	SMX_TLS_FAIL_NONE = 0, /* no failure */
	SMX_TLS_FAIL_TIMEOUT,  /* no progress within the timeout */
	SMX_TLS_FAIL_LOST,     /* connection closed or reset by the peer */
	SMX_TLS_FAIL_ALERT,    /* the server ended it with a fatal alert */
	SMX_TLS_FAIL_PROTOCOL, /* bytes that are not TLS, or local trouble */
	SMX_TLS_FAIL_VERIFY,   /* the certificate did not verify */
};

/* What a handshake negotiated, for logs and DSN text. Plain C only. */
struct smx_tls_info {
	char protocol[16];                      /* "TLSv1.3", or "" */
	char cipher[64];                        /* "TLS_AES_256_GCM_SHA384" */
	enum smx_tls_verified verified;         /* see above */
	char verify_reason[SMX_TLS_REASON_MAX]; /* X509 error text on fail */
	char peer_name[SMX_DOMAIN_MAX + 1]; /* certificate name that matched */
	enum smx_tls_failure failure;       /* with a failed connect */
	char alert[64]; /* the server's fatal alert, with SMX_TLS_FAIL_ALERT */
	bool is_dane;   /* DANE was required (a DANE context and records) */
	char tlsa_match[16]; /* "3.1.1": usage, selector and matching type of
	                      * the record that matched (DANE) */
	bool is_resumed;     /* a cached session was resumed: verified,
	                      * peer_name and tlsa_match are those of the
	                      * full handshake that made it */
};

/*
 * smx_tls_failure_name - "timeout", "lost", "alert", "protocol",
 * "verify" or "none" for logs. Never NULL.
 */
const char *smx_tls_failure_name(enum smx_tls_failure);

/*
 * smx_tls_verified_name - "ca", "dane-ee", "dane-ta", "none" or "fail"
 * for logs (the audit lines' verify=). Never NULL.
 */
const char *smx_tls_verified_name(enum smx_tls_verified);

/*
 * smx_tls_ctx_new - build a client context from opts (verify=dane: a
 * context for DANE-authenticated connections only, with OpenSSL's DANE
 * enabled and no CA store). The minimum protocol
 * must be "TLSv1.2" or "TLSv1.3" (SMX_INVALID otherwise); SSLv3, TLSv1.0
 * and TLSv1.1 are never offered. With verify=ca, the CA file/path (or the
 * system default store) is loaded; failure to load it is SMX_TEMPFAIL
 * (local configuration or files: the mail can wait). On success *out owns
 * a new context that the caller frees with smx_tls_ctx_free(). The
 * OpenSSL error queue is drained into reason on failure. Never exits.
 */
enum smx_status smx_tls_ctx_new(const struct smx_tls_options *opts,
    struct smx_tls_ctx **out, char *reason, size_t reason_size);

/* smx_tls_ctx_free - release a context (NULL is fine). */
void smx_tls_ctx_free(struct smx_tls_ctx *);

/*
 * smx_tls_peer_digest - a digest of everything that decides whether a
 * TLS session to a peer counts as authenticated: the context's
 * verification kind, minimum protocol and CA settings (file and path
 * names), and the peer's sni, names, dane_base and every TLSA record
 * given (usage, selector, matching type and data), as Postfix's TLS
 * session cache key carries a digest of the TLSA records. Equal digests
 * mean equal trust rules. Fields are length-prefixed, so that no two
 * different peers give the same input. Returns SMX_OK, or SMX_TEMPFAIL
 * when OpenSSL is short of memory (out is then unusable: cache
 * nothing). Needs no lock; never exits.
 */
enum smx_status smx_tls_peer_digest(const struct smx_tls_ctx *,
    const struct smx_tls_peer *, unsigned char out[SMX_TLS_DIGEST_SIZE]);

/*
 * smx_tls_connect - TLS client handshake on fd, an already connected
 * stream socket owned by the caller (it is switched to non-blocking mode
 * and stays so; the caller still closes it), for the peer described by
 * *peer (see struct smx_tls_peer). With a verify=ca context the peer's
 * names are the acceptable reference names: an exact host name, or
 * ".domain" which matches any host below domain (OpenSSL host-name
 * matching, partial wildcards such as "mx*" refused). With a DANE context
 * the certificate must match a TLSA record: DANE-EE(3) without any name
 * check, DANE-TA(2) with a chain to the matched trust anchor and a name
 * (dane_base or one of names). The whole handshake must finish within
 * timeout_ms.
 *
 * Returns SMX_OK with *out a new connection (free with smx_tls_close())
 * and *info filled; SMX_TEMPFAIL on timeout, I/O error, or handshake
 * failure (the peer can be retried later or elsewhere), with
 * info->failure saying which (a fatal alert from the server is
 * SMX_TLS_FAIL_ALERT with its description in info->alert); SMX_PERMFAIL when
 * the handshake completed but the certificate did not verify (info is
 * filled, verified == SMX_TLS_VERIFIED_FAIL, failure SMX_TLS_FAIL_VERIFY,
 * with the reason; the session is already shut down); SMX_INVALID for bad
 * arguments (too many names, none with verify=ca, no usable TLSA record
 * with a DANE context, a name or sni with NUL/CR/LF, a cache without a
 * where). info is written in every case (empty on early failure). A
 * short reason, with the OpenSSL error queue, goes into reason.
 *
 * With peer->cache, a session kept for the same key (smx_tls_peer_digest
 * and where) is offered for resumption. When the server resumes it, the
 * certificate is not checked again: info->is_resumed is set and info
 * carries the verification result kept with the session (verified,
 * peer_name, tlsa_match). A session the server does not resume, a
 * handshake that fails after offering one, and a verification that
 * fails drop the key's entry. New sessions from the server, also TLS 1.3
 * tickets that arrive after the handshake (with the first read), are
 * kept once the handshake has been verified, and only then.
 *
 * Safe to call from several threads at once with one context and one
 * cache (distinct sockets and connections). Never exits. The caller must
 * ignore SIGPIPE: OpenSSL writes to the socket with write(2).
 */
enum smx_status smx_tls_connect(struct smx_tls_ctx *ctx, int fd,
    const struct smx_tls_peer *peer, int timeout_ms, struct smx_tls_conn **out,
    struct smx_tls_info *info, char *reason, size_t reason_size);

/*
 * smx_tls_read - read up to size bytes, waiting at most timeout_ms. Returns
 * SMX_OK with *n_read > 0, or *n_read == 0 when the peer closed the
 * connection; SMX_TEMPFAIL on timeout or error (reason says which). Never
 * exits.
 */
enum smx_status smx_tls_read(struct smx_tls_conn *, void *buf, size_t size,
    size_t *n_read, int timeout_ms, char *reason, size_t reason_size);

/*
 * smx_tls_write - write all len bytes within timeout_ms in total. Returns
 * SMX_OK or SMX_TEMPFAIL (timeout, error, peer gone). Never exits.
 */
enum smx_status smx_tls_write(struct smx_tls_conn *, const void *buf,
    size_t len, int timeout_ms, char *reason, size_t reason_size);

/*
 * smx_tls_failure - the kind of failure of the last smx_tls_read or
 * smx_tls_write that failed (SMX_TLS_FAIL_NONE when none did).
 */
enum smx_tls_failure smx_tls_failure(const struct smx_tls_conn *);

/*
 * smx_tls_pending - true when decrypted bytes are already buffered inside
 * the TLS layer and a read would return them without waiting.
 */
bool smx_tls_pending(struct smx_tls_conn *);

/*
 * smx_tls_close - send close_notify (waiting at most timeout_ms, errors
 * ignored: the mail outcome is already known) and free the connection.
 * Does not close the socket. NULL is fine.
 */
void smx_tls_close(struct smx_tls_conn *, int timeout_ms);

#endif
