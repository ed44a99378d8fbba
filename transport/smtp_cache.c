/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smtp_cache - idle SMTP connections kept for the next delivery
 * DESCRIPTION
 *	A fixed table of idle connections, each with the key of the
 *	deliveries it may carry (struct smtp_cache_key: server address,
 *	port and name, our HELO name, TLS policy and TLS rules, sender
 *	role) and what its server said in EHLO. smtp_session hands a
 *	connection back after a transaction that ended cleanly and takes
 *	one before it would connect; this module only keeps them and ends
 *	them.
 *
 *	A connection also remembers the destination of the last delivery
 *	it carried (struct smtp_dest: next hop, sender role, configuration
 *	serial, and what the route lookup chose), so that the next
 *	delivery to that destination under the same role and configuration
 *	may take it before any DNS lookup (smtp_cache_take_dest), as
 *	Postfix's smtp(8) looks up its cache by next-hop destination first.
 *	Such a binding lives no longer than the connection: at most the
 *	reuse limit after it was opened.
 *
 *	Expiry follows Postfix: a connection unused for the idle limit
 *	(smtp_connection_cache_time_limit) or opened the reuse limit ago
 *	(smtp_connection_reuse_time_limit) is closed instead of handed out
 *	or kept. Every put and take closes the expired ones; so does
 *	smtp_cache_expire. A connection is ended with QUIT, without waiting
 *	for its reply (Postfix smtp_skip_quit_response), then closed.
 * LIMITS
 *	At most the caller's count of connections (SMTP_CACHE_CONNS_MAX);
 *	a full table closes the least recently used one. Every operation
 *	is one pass over the table under one mutex. Closing never waits for
 *	the network (zero timeouts: an idle connection's send buffer is
 *	empty), so the lock is never held for a network wait.
 * DIAGNOSTICS
 *	None; nothing here fails. A connection that cannot be kept is
 *	closed.
 * SECURITY
 *	A kept connection is used only under an equal key, so that no
 *	delivery ever gets a server, a role or TLS rules it would not have
 *	chosen itself; a plaintext connection never has the key of a
 *	TLS-required delivery. smtp_session checks the TLS state again
 *	before use. Taken by destination, a connection serves only the same
 *	destination name, sender role (a Best Effort Sender's never serves
 *	a Secure Only Sender) and configuration (serial) as the delivery
 *	it was kept after, with its greeting name: the one that the route
 *	lookup, the TLS policy and the verification rules of this
 *	configuration chose then. DNS changes are seen once it expires.
 * SEE ALSO
 *	Postfix CONNECTION_CACHE_README, scache(8), postconf(5)
 *	smtp_connection_cache_time_limit, smtp_connection_reuse_time_limit,
 *	smtp_skip_quit_response.
 */
#include "smtp_cache.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "smx_log.h"
#include "smx_util.h"

struct slot {
	bool is_used;
	struct smtp_cache_key key;
	struct smtp_cached c;
};

struct smtp_cache {
	pthread_mutex_t lock;
	struct slot *slot; /* max_conns slots */
	size_t max_conns;
	long long idle_ms;
	long long reuse_ms;
	smx_clock_fn *now_ms;
};

enum smx_status
smtp_cache_key_make(struct smtp_cache_key *key, const struct sockaddr *addr,
    socklen_t addr_len, const char *host, const char *helo,
    enum smtp_tls_policy tls_policy, bool is_sos, const struct smx_tls_ctx *ctx,
    const struct smx_tls_peer *peer)
{
	struct smtp_cache_key k;

	memset(&k, 0, sizeof(k));
	if (addr->sa_family == AF_INET &&
	    addr_len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)addr;

		memcpy(k.addr, &s4->sin_addr, 4);
		k.port = ntohs(s4->sin_port);
	} else if (addr->sa_family == AF_INET6 &&
	    addr_len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 =
		    (const struct sockaddr_in6 *)addr;

		memcpy(k.addr, &s6->sin6_addr, 16);
		k.port = ntohs(s6->sin6_port);
	} else {
		return SMX_INVALID;
	}
	k.family = addr->sa_family;
	if (smx_strlcpy(k.host, host != NULL ? host : "", sizeof(k.host)) >=
	        sizeof(k.host) ||
	    smx_strlcpy(k.helo, helo, sizeof(k.helo)) >= sizeof(k.helo))
		return SMX_INVALID;
	k.tls_policy = tls_policy;
	k.is_sos = is_sos;
	if (tls_policy != SMTP_TLS_NONE &&
	    (ctx == NULL || smx_tls_peer_digest(ctx, peer, k.tls) != SMX_OK))
		return SMX_TEMPFAIL;
	*key = k;
	return SMX_OK;
}

/* Field by field: the struct has padding. Names compare exactly. */
static bool
key_equal(const struct smtp_cache_key *a, const struct smtp_cache_key *b)
{
	return a->family == b->family && a->port == b->port &&
	    memcmp(a->addr, b->addr, sizeof(a->addr)) == 0 &&
	    strcmp(a->host, b->host) == 0 && strcmp(a->helo, b->helo) == 0 &&
	    a->tls_policy == b->tls_policy && a->is_sos == b->is_sos &&
	    memcmp(a->tls, b->tls, sizeof(a->tls)) == 0;
}

void
smtp_cache_discard(struct smtp_cached *c)
{
	char reason[SMX_TLS_REASON_MAX];

	if (c->conn.fd >= 0) {
		/* Zero timeouts: one try each, no wait (QUIT, close_notify). */
		c->conn.timeout_ms = 0;
		(void)smtp_conn_write(&c->conn, "QUIT\r\n", 6, reason,
		    sizeof(reason));
	}
	smtp_conn_close(&c->conn);
}

static void
lock(struct smtp_cache *cache)
{
	if (pthread_mutex_lock(&cache->lock) != 0)
		smx_panic("smtp_cache: cannot lock");
}

static void
unlock(struct smtp_cache *cache)
{
	if (pthread_mutex_unlock(&cache->lock) != 0)
		smx_panic("smtp_cache: cannot unlock");
}

static bool
is_expired(const struct smtp_cache *cache, const struct smtp_cached *c,
    long long now)
{
	return now - c->last_used_ms >= cache->idle_ms ||
	    now - c->created_ms >= cache->reuse_ms;
}

static void
slot_close(struct slot *s)
{
	smtp_cache_discard(&s->c);
	memset(s, 0, sizeof(*s));
}

/* Close the expired connections; how many. */
static size_t
purge(struct smtp_cache *cache, long long now)
{
	size_t n = 0;
	size_t i;

	for (i = 0; i < cache->max_conns; i++) {
		struct slot *s = &cache->slot[i];

		if (s->is_used && is_expired(cache, &s->c, now)) {
			slot_close(s);
			n++;
		}
	}
	return n;
}

enum smx_status
smtp_cache_new(size_t max_conns, unsigned idle_limit_s, unsigned reuse_limit_s,
    struct smtp_cache **out)
{
	struct smtp_cache *cache;

	if (max_conns < 1 || max_conns > SMTP_CACHE_CONNS_MAX ||
	    idle_limit_s < 1 || idle_limit_s > SMTP_CACHE_IDLE_TIME_MAX ||
	    reuse_limit_s < 1 || reuse_limit_s > SMTP_CACHE_REUSE_TIME_MAX)
		return SMX_INVALID;
	if ((cache = calloc(1, sizeof(*cache))) == NULL)
		return SMX_TEMPFAIL;
	if ((cache->slot = calloc(max_conns, sizeof(*cache->slot))) == NULL ||
	    pthread_mutex_init(&cache->lock, NULL) != 0) {
		free(cache->slot);
		free(cache);
		return SMX_TEMPFAIL;
	}
	cache->max_conns = max_conns;
	cache->idle_ms = (long long)idle_limit_s * 1000;
	cache->reuse_ms = (long long)reuse_limit_s * 1000;
	cache->now_ms = smx_io_now_ms;
	*out = cache;
	return SMX_OK;
}

void
smtp_cache_set_clock(struct smtp_cache *cache, smx_clock_fn *now_ms)
{
	cache->now_ms = now_ms != NULL ? now_ms : smx_io_now_ms;
}

long long
smtp_cache_now(const struct smtp_cache *cache)
{
	return cache->now_ms();
}

/* Does slot s serve what arg asks for? */
typedef bool slot_match_fn(const struct slot *s, const void *arg);

/*
 * Take the most recently used live connection that match accepts, after
 * closing the expired ones: out (with key, when not NULL) and the slot
 * freed; false when there is none.
 */
static bool
take_best(struct smtp_cache *cache, slot_match_fn *match, const void *arg,
    struct smtp_cache_key *key, struct smtp_cached *out)
{
	struct slot *best = NULL;
	size_t i;

	lock(cache);
	(void)purge(cache, cache->now_ms());
	for (i = 0; i < cache->max_conns; i++) {
		struct slot *s = &cache->slot[i];

		if (s->is_used && match(s, arg) &&
		    (best == NULL || s->c.last_used_ms > best->c.last_used_ms))
			best = s;
	}
	if (best != NULL) {
		if (key != NULL)
			*key = best->key;
		*out = best->c;
		out->n_uses++;
		memset(best, 0, sizeof(*best));
	}
	unlock(cache);
	return best != NULL;
}

static bool
match_key(const struct slot *s, const void *arg)
{
	return key_equal(&s->key, arg);
}

bool
smtp_cache_take(struct smtp_cache *cache, const struct smtp_cache_key *key,
    struct smtp_cached *out)
{
	return take_best(cache, match_key, key, NULL, out);
}

bool
smtp_cache_dest_equal(const struct smtp_dest *a, const struct smtp_dest *b)
{
	return strcmp(a->name, b->name) == 0 && a->is_sos == b->is_sos &&
	    a->config_serial == b->config_serial;
}

/* What smtp_cache_take_dest asks for. */
struct dest_want {
	const struct smtp_dest *dest;
	const char *helo;
};

static bool
match_dest(const struct slot *s, const void *arg)
{
	const struct dest_want *w = arg;

	return s->c.has_dest && smtp_cache_dest_equal(&s->c.dest, w->dest) &&
	    s->key.is_sos == w->dest->is_sos &&
	    strcmp(s->key.helo, w->helo) == 0;
}

bool
smtp_cache_take_dest(struct smtp_cache *cache, const struct smtp_dest *dest,
    const char *helo, struct smtp_cache_key *key, struct smtp_cached *out)
{
	struct dest_want w = { dest, helo };

	return take_best(cache, match_dest, &w, key, out);
}

void
smtp_cache_put(struct smtp_cache *cache, const struct smtp_cache_key *key,
    struct smtp_cached *in)
{
	struct slot *s = NULL;
	long long now;
	size_t i;

	lock(cache);
	now = cache->now_ms();
	(void)purge(cache, now);
	in->last_used_ms = now;
	if (in->conn.fd < 0 || smtp_conn_has_input(&in->conn, true) ||
	    now - in->created_ms >= cache->reuse_ms) {
		unlock(cache);
		smtp_cache_discard(in);
		return;
	}
	for (i = 0; i < cache->max_conns; i++) {
		struct slot *t = &cache->slot[i];

		if (!t->is_used) {
			s = t;
			break;
		}
		if (s == NULL || t->c.last_used_ms < s->c.last_used_ms)
			s = t;
	}
	if (s->is_used)
		slot_close(s);
	s->is_used = true;
	s->key = *key;
	s->c = *in;
	smtp_conn_init(&in->conn);
	unlock(cache);
}

size_t
smtp_cache_expire(struct smtp_cache *cache)
{
	size_t n;

	lock(cache);
	n = purge(cache, cache->now_ms());
	unlock(cache);
	return n;
}

size_t
smtp_cache_count(struct smtp_cache *cache)
{
	size_t n = 0;
	size_t i;

	lock(cache);
	(void)purge(cache, cache->now_ms());
	for (i = 0; i < cache->max_conns; i++)
		n += cache->slot[i].is_used;
	unlock(cache);
	return n;
}

void
smtp_cache_free(struct smtp_cache *cache)
{
	size_t i;

	if (cache == NULL)
		return;
	for (i = 0; i < cache->max_conns; i++) {
		if (cache->slot[i].is_used)
			slot_close(&cache->slot[i]);
	}
	(void)pthread_mutex_destroy(&cache->lock);
	free(cache->slot);
	free(cache);
}
