/* SPDX-License-Identifier: MIT */
#ifndef ROUTE_H
#define ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smx_dns.h"
#include "smx_limits.h"
#include "smx_status.h"

/*
 * Where mail for one destination domain goes, in the order to try:
 * SecMX servers from _secmx._tcp SRV records (RFC 2782 order), or, when
 * the domain offers none, its MX hosts (RFC 5321 section 5.1 order).
 * secmx-transport delivers along a route; secmx-lookup prints it and
 * answers transport_maps queries from it, so both share this one path.
 */

enum route_kind {
	ROUTE_SRV = 0, /* SecMX servers: TLS mandatory */
	ROUTE_MX = 1,  /* ordinary MX hosts (Best Effort fallback) */
};

struct route_target {
	char host[SMX_DOMAIN_MAX + 1]; /* lower case, no trailing dot */
	uint16_t port;                 /* SRV port, or 25 for MX */
	uint16_t pref;                 /* SRV priority or MX preference */
};

/*
 * struct route - an ordered list of targets of one kind.
 * is_null: SRV: the domain published the single target "." (SecMX is
 *   decidedly not offered; RFC 2782); MX: null MX (RFC 7505).
 * is_ad: the SRV answer carried the AD bit from a trusted resolver
 *   (only with dns_trust_ad); then the target names count for
 *   certificate verification.
 */
struct route {
	enum route_kind kind;
	struct route_target target[SMX_SRV_MAX];
	size_t n_targets;
	bool is_null;
	bool is_ad;
};

/*
 * route_srv - look up _secmx._tcp.<domain> and order the targets.
 * Returns SMX_OK with n_targets > 0; SMX_NOTFOUND when the domain offers
 * no SecMX servers (NXDOMAIN, NODATA, or the null target, with is_null
 * set); SMX_TEMPFAIL with a reason for DNS trouble (never a bounce).
 * domain is a host name without trailing dot. Never exits.
 */
enum smx_status route_srv(const struct smx_dns_opts *, const char *domain,
    struct route *out, char *reason, size_t reason_size);

/*
 * route_mx - the MX hosts of domain in delivery order, the implicit MX
 * when there are none but the domain has addresses. Returns SMX_OK with
 * n_targets > 0; SMX_OK with is_null for a null MX (n_targets 0);
 * SMX_NOTFOUND when the domain does not exist (NXDOMAIN) or has neither
 * MX nor addresses; SMX_TEMPFAIL with a reason for DNS trouble.
 */
enum smx_status route_mx(const struct smx_dns_opts *, const char *domain,
    struct route *out, char *reason, size_t reason_size);

/*
 * route_format - one line for logs and secmx-lookup:
 * "srv:[secmail.example.org]:25, srv:[backup.example.org]:2525" or
 * "mx:[mx1.example.org]:25, ...". Truncated to size; never fails.
 */
void route_format(const struct route *, char *out, size_t size);

#endif
