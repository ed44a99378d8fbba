/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_order - RFC 2782 SRV and RFC 5321 MX delivery order
 * DESCRIPTION
 *	Orders the records of one SRV or MX answer for delivery: by
 *	priority or preference, then a weighted random selection (SRV) or a
 *	uniform shuffle (MX) within each level. The random source is
 *	injected (smx_random_fn); smx_random is the production source.
 * LIMITS
 *	Callers pass at most SMX_SRV_MAX or SMX_MX_MAX records; the sorts
 *	are quadratic in that.
 * DIAGNOSTICS
 *	None: pure functions that never fail.
 * SECURITY
 *	The records come from DNS and are untrusted, but were validated by
 *	smx_dns; weights and priorities are any 16-bit values. A broken
 *	random source cannot break the order (draws are clamped).
 * SEE ALSO
 *	RFC 2782 ("Usage rules"), RFC 5321 section 5.1; getrandom(2).
 */
#include "smx_order.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "smx_dns.h"

/* Non-zero SRV weights are scaled by this; weight 0 counts as 1. */
#define WEIGHT_SCALE 65536

/* random64 - 64 random bits; see smx_random for the fallback. */
static uint64_t
random64(void)
{
	static _Thread_local uint64_t state;
	struct timespec ts;
	int saved = errno;
	uint64_t v;
	ssize_t n;
	uint64_t z;

	do {
		n = getrandom(&v, sizeof(v), 0);
	} while (n < 0 && errno == EINTR);
	errno = saved;
	if (n == (ssize_t)sizeof(v))
		return v;
	if (state == 0) {
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		state = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
		    ((uint64_t)getpid() << 16);
	}
	/* splitmix64 */
	z = (state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t
smx_random(uint64_t bound, void *ctx)
{
	uint64_t threshold;
	uint64_t r;

	(void)ctx;
	if (bound <= 1)
		return 0;
	/* 2^64 mod bound: values below it would make low results likelier. */
	threshold = (0 - bound) % bound;
	for (;;) {
		r = random64();
		if (r >= threshold)
			return r % bound;
	}
}

static uint64_t
srv_effective_weight(const struct smx_dns_srv *s, bool has_weight)
{
	if (!has_weight || s->weight == 0)
		return 1;
	return (uint64_t)s->weight * WEIGHT_SCALE;
}

/* srv_weighted - weighted selection within srv[start..end), in place. */
static void
srv_weighted(struct smx_dns_srv *srv, size_t start, size_t end,
    smx_random_fn *rnd, void *ctx)
{
	bool has_weight = false;
	struct smx_dns_srv pick;
	uint64_t sum;
	uint64_t run;
	uint64_t draw;
	size_t k;
	size_t j;

	for (j = start; j < end; j++)
		has_weight |= srv[j].weight != 0;
	for (k = start; k + 1 < end; k++) {
		sum = 0;
		for (j = k; j < end; j++)
			sum += srv_effective_weight(&srv[j], has_weight);
		draw = rnd(sum, ctx);
		if (draw >= sum) /* a broken source must not break the order */
			draw = sum - 1;
		run = 0;
		for (j = k; j < end; j++) {
			run += srv_effective_weight(&srv[j], has_weight);
			if (run > draw)
				break;
		}
		/* Move the pick to k; the rest keep their relative order. */
		pick = srv[j];
		memmove(&srv[k + 1], &srv[k], (j - k) * sizeof(srv[0]));
		srv[k] = pick;
	}
}

void
smx_order_srv(struct smx_dns_srv *srv, size_t n_srv, smx_random_fn *rnd,
    void *ctx)
{
	struct smx_dns_srv tmp;
	size_t start;
	size_t end;
	size_t i;
	size_t j;

	/* Stable insertion sort by priority; n_srv <= SMX_SRV_MAX. */
	for (i = 1; i < n_srv; i++) {
		tmp = srv[i];
		for (j = i; j > 0 && srv[j - 1].priority > tmp.priority; j--)
			srv[j] = srv[j - 1];
		srv[j] = tmp;
	}
	for (start = 0; start < n_srv; start = end) {
		for (end = start + 1;
		     end < n_srv && srv[end].priority == srv[start].priority;
		     end++)
			;
		srv_weighted(srv, start, end, rnd, ctx);
	}
}

void
smx_order_mx(struct smx_dns_mx *mx, size_t n_mx, smx_random_fn *rnd, void *ctx)
{
	struct smx_dns_mx tmp;
	uint64_t r;
	size_t start;
	size_t end;
	size_t i;
	size_t j;

	for (i = 1; i < n_mx; i++) {
		tmp = mx[i];
		for (j = i; j > 0 && mx[j - 1].preference > tmp.preference; j--)
			mx[j] = mx[j - 1];
		mx[j] = tmp;
	}
	for (start = 0; start < n_mx; start = end) {
		for (end = start + 1;
		     end < n_mx && mx[end].preference == mx[start].preference;
		     end++)
			;
		/* Fisher-Yates over [start, end). */
		for (i = end - 1; i > start; i--) {
			r = rnd(i - start + 1, ctx);
			if (r > i - start)
				r = i - start;
			j = start + (size_t)r;
			tmp = mx[i];
			mx[i] = mx[j];
			mx[j] = tmp;
		}
	}
}
