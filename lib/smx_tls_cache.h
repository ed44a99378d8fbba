/* SPDX-License-Identifier: MIT */
#ifndef SMX_TLS_CACHE_H
#define SMX_TLS_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_io.h"
#include "smx_limits.h"
#include "smx_status.h"
#include "smx_tls.h"

/*
 * The TLS session cache of a resident sender: resumable client sessions
 * in DER form, each with the verification result of the full handshake
 * that made it, keyed by a digest of everything that must match for a
 * resumption (smx_tls_connect computes it). Plain bytes only: smx_tls.c
 * turns them into OpenSSL sessions and back. One mutex makes it safe to
 * share between threads.
 */

/*
 * struct smx_tls_verdict - what the verification of a full handshake
 * said, kept with its sessions and reported again when one is resumed.
 * verified_ms: when, on the cache's clock; the lifetime counts from it.
 */
struct smx_tls_verdict {
	enum smx_tls_verified verified;
	char peer_name[SMX_DOMAIN_MAX + 1];
	char tlsa_match[16];
	long long verified_ms;
};

/*
 * smx_tls_session_cache_new - an empty cache for at most max_entries
 * sessions (1..SMX_TLS_SESSIONS_MAX; the entry stored longest ago makes
 * room for a new key), each usable for lifetime_s seconds
 * (1..SMX_TLS_SESSION_LIFETIME_MAX, SMX_TLS_SESSION_LIFETIME_DEFAULT as
 * Postfix) after the verification in its verdict, however often it is
 * resumed: a resumption never extends the trust of one verification.
 * Returns SMX_OK with *out (free with smx_tls_session_cache_free),
 * SMX_INVALID for bad bounds, SMX_TEMPFAIL when memory is short. Never
 * exits.
 */
enum smx_status smx_tls_session_cache_new(size_t max_entries,
    unsigned lifetime_s, struct smx_tls_session_cache **out);

/*
 * smx_tls_session_cache_set_clock - the clock of the lifetime (tests;
 * smx_io_now_ms by default). Set it before the cache is shared.
 */
void smx_tls_session_cache_set_clock(struct smx_tls_session_cache *,
    smx_clock_fn *);

/* smx_tls_session_cache_now - the cache's clock, in milliseconds. */
long long smx_tls_session_cache_now(const struct smx_tls_session_cache *);

/*
 * smx_tls_session_cache_count - the sessions kept that have not expired
 * (expired ones are dropped first).
 */
size_t smx_tls_session_cache_count(struct smx_tls_session_cache *);

/*
 * smx_tls_session_cache_get - a copy of the session kept for key, when
 * one is there and has not expired: *der (malloc'd, the caller frees),
 * *len and *verdict. Returns false (nothing written) otherwise; an
 * expired entry is dropped on the way.
 */
bool smx_tls_session_cache_get(struct smx_tls_session_cache *,
    const unsigned char key[SMX_TLS_DIGEST_SIZE], unsigned char **der,
    size_t *len, struct smx_tls_verdict *verdict);

/*
 * smx_tls_session_cache_put - keep der (len bytes, malloc'd; the cache
 * takes it in every case) with *verdict for key, replacing what was kept
 * for it. Nothing is kept when len is 0 or over SMX_TLS_SESSION_DER_MAX
 * or the verdict has already expired. Never fails.
 */
void smx_tls_session_cache_put(struct smx_tls_session_cache *,
    const unsigned char key[SMX_TLS_DIGEST_SIZE], unsigned char *der,
    size_t len, const struct smx_tls_verdict *verdict);

/* smx_tls_session_cache_drop - forget the session kept for key, if any. */
void smx_tls_session_cache_drop(struct smx_tls_session_cache *,
    const unsigned char key[SMX_TLS_DIGEST_SIZE]);

/*
 * smx_tls_session_cache_free - drop every session and free the cache
 * (NULL is fine). No connection may still use it.
 */
void smx_tls_session_cache_free(struct smx_tls_session_cache *);

#endif
