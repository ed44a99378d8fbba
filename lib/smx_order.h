/* SPDX-License-Identifier: MIT */
#ifndef SMX_ORDER_H
#define SMX_ORDER_H

#include <stddef.h>
#include <stdint.h>

/*
 * The delivery order of SRV records (RFC 2782) and MX records (RFC 5321
 * section 5.1), and the randomness behind it. Pure apart from the random
 * source, which is injected so that tests are deterministic. The record
 * types are smx_dns's (smx_dns.h).
 */
struct smx_dns_srv;
struct smx_dns_mx;

/*
 * smx_random_fn - a uniform random integer in [0, bound); bound >= 1.
 * Injected into the ordering functions so that tests are deterministic.
 */
typedef uint64_t smx_random_fn(uint64_t bound, void *ctx);

/*
 * smx_random - the production smx_random_fn: getrandom(2) with
 * rejection sampling, so there is no modulo bias. ctx is unused. If the
 * kernel refuses getrandom (it does not on Linux >= 3.17), it falls back
 * to a time-and-pid based generator: SRV and MX ordering is load
 * spreading, not a security property. Never fails, never exits.
 */
uint64_t smx_random(uint64_t bound, void *ctx);

/*
 * smx_order_srv - order SRV records per RFC 2782 in place: priority
 * ascending; within one priority a weighted random selection in which a
 * record's chance to come next is proportional to its weight. The draw is
 * uniform in [0, sum), not the RFC's inclusive [0, sum], which would give
 * the first record one extra chance. Weight 0 gets "a very small chance"
 * (RFC 2782): when weights are used, a weight-0 record counts as 1 and a
 * weight w > 0 as w x 65536, so weight 0 loses to weight 1 65536 times in
 * 65537; when all weights of a priority are 0 the order is uniform. Each
 * selection calls rnd(sum, ctx) once (none for a lone record) and takes
 * the first remaining record, in current order, whose running sum exceeds
 * the draw. Pure apart from rnd; never exits.
 */
void smx_order_srv(struct smx_dns_srv *srv, size_t n_srv, smx_random_fn *rnd,
    void *ctx);

/*
 * smx_order_mx - order MX records per RFC 5321 section 5.1 in place:
 * preference ascending, equal preferences in uniformly random order (a
 * Fisher-Yates shuffle with rnd). Pure apart from rnd; never exits.
 */
void smx_order_mx(struct smx_dns_mx *mx, size_t n_mx, smx_random_fn *rnd,
    void *ctx);

#endif
