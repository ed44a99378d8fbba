/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_tls_cache - resumable TLS client sessions of a resident sender
 * DESCRIPTION
 *	A fixed table of entries, each a session in DER form (as
 *	i2d_SSL_SESSION writes it) with the verdict of the full handshake
 *	that verified it, under a key that smx_tls_connect derives from
 *	everything a resumption must match: the context's verification
 *	rules, the server's address, SNI, reference names and TLSA records
 *	(smx_tls_peer_digest). Keeping bytes rather than OpenSSL objects
 *	gives every resumption a private session object, as Postfix's
 *	tlsmgr(8) cache does, so that threads never share one.
 *
 *	An entry expires lifetime seconds after its verdict's verification:
 *	a session resumed again and again, each time with a new ticket,
 *	still ends where the full handshake's trust ends. Expired entries
 *	are dropped whenever the table is searched. When the table is full,
 *	the entry stored longest ago makes room.
 * LIMITS
 *	SMX_TLS_SESSIONS_MAX entries of at most SMX_TLS_SESSION_DER_MAX
 *	bytes; lifetimes up to SMX_TLS_SESSION_LIFETIME_MAX seconds. Every
 *	operation is one linear pass over the table under one mutex.
 * DIAGNOSTICS
 *	None: a session that cannot be kept (size, memory) is not kept.
 * SECURITY
 *	Sessions are secrets (they hold the master secret): they stay in
 *	this process's memory and are freed, not written anywhere. Only
 *	sessions of verified handshakes come here (smx_tls_connect).
 * SEE ALSO
 *	smx_tls.c; Postfix TLS_README ("Client-side TLS session cache"),
 *	postconf(5) smtp_tls_session_cache_timeout; RFC 8446 section 4.6.1
 *	and appendix C.4.
 */
#include "smx_tls_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "smx_log.h"
#include "smx_util.h"

struct entry {
	unsigned char key[SMX_TLS_DIGEST_SIZE];
	unsigned char *der; /* NULL: a free slot */
	size_t der_len;
	struct smx_tls_verdict verdict;
	long long stored_ms; /* when it was stored: the oldest goes first */
};

struct smx_tls_session_cache {
	pthread_mutex_t lock;
	struct entry *entry; /* max_entries slots */
	size_t max_entries;
	long long lifetime_ms;
	smx_clock_fn *now_ms;
};

static void
lock(struct smx_tls_session_cache *c)
{
	if (pthread_mutex_lock(&c->lock) != 0)
		smx_panic("smx_tls_cache: cannot lock");
}

static void
unlock(struct smx_tls_session_cache *c)
{
	if (pthread_mutex_unlock(&c->lock) != 0)
		smx_panic("smx_tls_cache: cannot unlock");
}

static void
entry_clear(struct entry *e)
{
	if (e->der != NULL)
		smx_wipe(e->der, e->der_len);
	free(e->der);
	memset(e, 0, sizeof(*e));
}

static bool
is_expired(const struct smx_tls_session_cache *c, const struct entry *e,
    long long now)
{
	return now - e->verdict.verified_ms >= c->lifetime_ms;
}

/* The entry for key (expired entries dropped on the way), or NULL. */
static struct entry *
find(struct smx_tls_session_cache *c,
    const unsigned char key[SMX_TLS_DIGEST_SIZE], long long now)
{
	struct entry *found = NULL;
	size_t i;

	for (i = 0; i < c->max_entries; i++) {
		struct entry *e = &c->entry[i];

		if (e->der == NULL)
			continue;
		if (is_expired(c, e, now)) {
			entry_clear(e);
			continue;
		}
		if (found == NULL && memcmp(e->key, key, sizeof(e->key)) == 0)
			found = e;
	}
	return found;
}

/* A slot for a new key: a free one, else the one stored longest ago. */
static struct entry *
slot(struct smx_tls_session_cache *c)
{
	struct entry *oldest = &c->entry[0];
	size_t i;

	for (i = 0; i < c->max_entries; i++) {
		struct entry *e = &c->entry[i];

		if (e->der == NULL)
			return e;
		if (e->stored_ms < oldest->stored_ms)
			oldest = e;
	}
	entry_clear(oldest);
	return oldest;
}

enum smx_status
smx_tls_session_cache_new(size_t max_entries, unsigned lifetime_s,
    struct smx_tls_session_cache **out)
{
	struct smx_tls_session_cache *c;

	if (max_entries < 1 || max_entries > SMX_TLS_SESSIONS_MAX ||
	    lifetime_s < 1 || lifetime_s > SMX_TLS_SESSION_LIFETIME_MAX)
		return SMX_INVALID;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return SMX_TEMPFAIL;
	if ((c->entry = calloc(max_entries, sizeof(*c->entry))) == NULL ||
	    pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c->entry);
		free(c);
		return SMX_TEMPFAIL;
	}
	c->max_entries = max_entries;
	c->lifetime_ms = (long long)lifetime_s * 1000;
	c->now_ms = smx_io_now_ms;
	*out = c;
	return SMX_OK;
}

void
smx_tls_session_cache_set_clock(struct smx_tls_session_cache *c,
    smx_clock_fn *now_ms)
{
	c->now_ms = now_ms != NULL ? now_ms : smx_io_now_ms;
}

long long
smx_tls_session_cache_now(const struct smx_tls_session_cache *c)
{
	return c->now_ms();
}

size_t
smx_tls_session_cache_count(struct smx_tls_session_cache *c)
{
	unsigned char none[SMX_TLS_DIGEST_SIZE];
	size_t n = 0;
	size_t i;

	lock(c);
	/* A search drops the expired entries; then count what is left. */
	memset(none, 0, sizeof(none));
	(void)find(c, none, c->now_ms());
	for (i = 0; i < c->max_entries; i++)
		n += c->entry[i].der != NULL;
	unlock(c);
	return n;
}

bool
smx_tls_session_cache_get(struct smx_tls_session_cache *c,
    const unsigned char key[SMX_TLS_DIGEST_SIZE], unsigned char **der,
    size_t *len, struct smx_tls_verdict *verdict)
{
	unsigned char *copy = NULL;
	struct entry *e;

	lock(c);
	if ((e = find(c, key, c->now_ms())) != NULL &&
	    (copy = malloc(e->der_len)) != NULL) {
		memcpy(copy, e->der, e->der_len);
		*len = e->der_len;
		*verdict = e->verdict;
	}
	unlock(c);
	if (copy == NULL)
		return false;
	*der = copy;
	return true;
}

void
smx_tls_session_cache_put(struct smx_tls_session_cache *c,
    const unsigned char key[SMX_TLS_DIGEST_SIZE], unsigned char *der,
    size_t len, const struct smx_tls_verdict *verdict)
{
	long long now;
	struct entry *e;

	if (len == 0 || len > SMX_TLS_SESSION_DER_MAX) {
		smx_wipe(der, len);
		free(der);
		return;
	}
	lock(c);
	now = c->now_ms();
	if (now - verdict->verified_ms >= c->lifetime_ms) {
		unlock(c);
		smx_wipe(der, len);
		free(der);
		return;
	}
	if ((e = find(c, key, now)) == NULL)
		e = slot(c);
	if (e->der != NULL)
		smx_wipe(e->der, e->der_len);
	free(e->der);
	memcpy(e->key, key, sizeof(e->key));
	e->der = der;
	e->der_len = len;
	e->verdict = *verdict;
	e->stored_ms = now;
	unlock(c);
}

void
smx_tls_session_cache_drop(struct smx_tls_session_cache *c,
    const unsigned char key[SMX_TLS_DIGEST_SIZE])
{
	struct entry *e;

	lock(c);
	if ((e = find(c, key, c->now_ms())) != NULL)
		entry_clear(e);
	unlock(c);
}

void
smx_tls_session_cache_free(struct smx_tls_session_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->max_entries; i++)
		entry_clear(&c->entry[i]);
	(void)pthread_mutex_destroy(&c->lock);
	free(c->entry);
	free(c);
}
