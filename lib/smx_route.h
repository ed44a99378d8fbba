/* SPDX-License-Identifier: MIT */
#ifndef SMX_ROUTE_H
#define SMX_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smx_config.h"
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

enum smx_route_kind {
	SMX_ROUTE_SRV = 0, /* SecMX servers: TLS mandatory */
	SMX_ROUTE_MX = 1,  /* ordinary MX hosts (Best Effort fallback) */
};

struct smx_route_target {
	char host[SMX_DOMAIN_MAX + 1]; /* lower case, no trailing dot */
	uint16_t port;                 /* SRV port, or 25 for MX */
	uint16_t pref;                 /* SRV priority or MX preference */
};

/*
 * struct smx_route - an ordered list of targets of one kind.
 * is_null: SRV: the domain published the single target "." (SecMX is
 *   decidedly not offered; RFC 2782); MX: null MX (RFC 7505).
 * is_ad: the SRV answer carried the AD bit from a trusted resolver
 *   (only with dns_trust_ad); then the target names count for
 *   certificate verification.
 */
struct smx_route {
	enum smx_route_kind kind;
	struct smx_route_target target[SMX_SRV_MAX];
	size_t n_targets;
	bool is_null;
	bool is_ad;
};

/*
 * smx_route_srv - look up _secmx._tcp.<domain> and order the targets.
 * Returns SMX_OK with n_targets > 0; SMX_NOTFOUND when the domain offers
 * no SecMX servers (NXDOMAIN, NODATA, or the null target, with is_null
 * set); SMX_TEMPFAIL with a reason for DNS trouble (never a bounce);
 * SMX_INVALID when domain is not a host name (no query is sent).
 * domain is a host name without trailing dot. *out is written on SMX_OK
 * and SMX_NOTFOUND only. Never exits.
 */
enum smx_status smx_route_srv(const struct smx_dns_opts *, const char *domain,
    struct smx_route *out, char *reason, size_t reason_size);

/*
 * smx_route_mx - the MX hosts of domain in delivery order, the implicit MX
 * when there are none but the domain has addresses. Returns SMX_OK with
 * n_targets > 0; SMX_OK with is_null for a null MX (n_targets 0);
 * SMX_NOTFOUND when the domain does not exist (NXDOMAIN) or has neither
 * MX nor addresses; SMX_TEMPFAIL with a reason for DNS trouble;
 * SMX_INVALID when domain is not a host name. Targets have port 25.
 * *out is written on SMX_OK only. Never exits.
 */
enum smx_status smx_route_mx(const struct smx_dns_opts *, const char *domain,
    struct smx_route *out, char *reason, size_t reason_size);

/*
 * smx_route_format - one line for logs and secmx-lookup:
 * "srv:[secmail.example.org]:25, srv:[backup.example.org]:2525" or
 * "mx:[mx1.example.org]:25, ...", "srv:null" or "mx:null" for a null
 * route, "" for a route without targets. Truncated to size (at a whole
 * item when possible); never fails.
 */
void smx_route_format(const struct smx_route *, char *out, size_t size);

/*
 * struct smx_route_nexthop - the pipe(8) ${nexthop} argument, parsed.
 * SMX_ROUTE_NEXTHOP_DOMAIN: "example.org": discover SRV, then MX.
 * SMX_ROUTE_NEXTHOP_HOST: "[relay.example.org]" or "[relay.example.org]:2525"
 *   (Postfix's form for "no MX lookup"): that host's addresses only.
 * SMX_ROUTE_NEXTHOP_ADDR: "[192.0.2.1]:2525", "[2001:db8::1]" or
 *   "[ipv6:2001:db8::1]": that address only.
 * host: lower case, no trailing dot; for ADDR the address text without
 *   brackets or "ipv6:". port: the given port, else 25.
 */
enum smx_route_nexthop_kind {
	SMX_ROUTE_NEXTHOP_DOMAIN = 0,
	SMX_ROUTE_NEXTHOP_HOST = 1,
	SMX_ROUTE_NEXTHOP_ADDR = 2,
};

struct smx_route_nexthop {
	enum smx_route_nexthop_kind kind;
	char host[SMX_DOMAIN_MAX + 1];
	uint16_t port;
};

/*
 * smx_route_parse_nexthop - parse len bytes of s. Returns SMX_OK with *out,
 * or SMX_INVALID for anything else: empty, a bad host name or address,
 * a port outside 1..65535, "domain:port" (not used by secmx), NUL or
 * control bytes. A UTF-8 host name (an SMTPUTF8 domain) becomes its
 * A-labels (smx_idn). Writes *out only on SMX_OK. Pure; never exits.
 */
enum smx_status smx_route_parse_nexthop(const char *s, size_t len,
    struct smx_route_nexthop *out);

/*
 * smx_route_address_domain - the domain of an envelope address: the text
 * after the last '@', lower case, a trailing dot removed, UTF-8 as
 * A-labels; an address
 * literal keeps its brackets ("[192.0.2.1]", for smx_route_parse_nexthop).
 * Returns SMX_OK with the domain in out (size bytes), SMX_NOTFOUND for
 * the null sender "" or an address without '@', SMX_INVALID when the
 * domain is neither a host name nor a bracketed literal or does not fit.
 * Pure; never exits.
 */
enum smx_status smx_route_address_domain(const char *addr, char *out,
    size_t size);

/*
 * struct smx_route_tls_names - the reference names for certificate
 * verification of one SRV target, as Postfix "secure" with its default
 * smtp_tls_secure_cert_match = nexthop, dot-nexthop: the destination
 * domain, ".domain" (any host below it), and the SRV target name only
 * when the SRV answer was DNSSEC-validated (is_ad with dns_trust_ad):
 * an unvalidated SRV target must never be the name a certificate is
 * checked against, or a DNS spoofer could name its own host.
 * names[] point into dot and into the caller's strings, which must
 * outlive the struct.
 */
struct smx_route_tls_names {
	const char *names[3];
	size_t n_names;
	char dot[SMX_DOMAIN_MAX + 2];
};

/*
 * smx_route_tls_names - fill *out for domain and target (target may be
 * NULL); use_target is is_ad && dns_trust_ad. A target equal to domain
 * is not repeated. Pure; never fails.
 */
void smx_route_tls_names(const char *domain, const char *target,
    bool use_target, struct smx_route_tls_names *out);

/*
 * smx_route_sender_role - the SecMX sending role: SMX_ROLE_SOS or
 * SMX_ROLE_BES. sender_roles is looked up with sender_domain (NULL or ""
 * for the null sender, which skips the table), else default_sender_role
 * applies; destination_roles looked up with destination (NULL skips it)
 * can make it SOS. SOS wins: a Secure Only rule from either table is
 * never weakened by the other. Pure; never exits.
 */
enum smx_role smx_route_sender_role(const struct smx_config *cfg,
    const char *sender_domain, const char *destination);

/*
 * smx_route_destination_sos - true when destination_roles makes mail to
 * the recipient domain (never a next hop) Secure Only. The one answer
 * for secmx-transport's role and secmx-lookup's transport map. Pure.
 */
bool smx_route_destination_sos(const struct smx_config *cfg,
    const char *rcpt_domain);

/*
 * smx_route_is_local - true when this host receives mail for domain: a
 * key of receiver_roles, or of local_domains (inline or a table), exact
 * or by a ".parent" key. Such mail is Postfix's local or virtual
 * delivery, never secmx-transport's. Pure.
 */
bool smx_route_is_local(const struct smx_config *cfg, const char *domain);

/*
 * struct smx_route_self - where this host's own Postfix smtpd listens
 * (local_listeners): port numbers for every address of this host, or one
 * address and port. A delivery target there is this host: a mail loop.
 */
struct smx_route_listener {
	int family;             /* AF_INET, AF_INET6, or 0: any address */
	unsigned char addr[16]; /* network order */
	uint16_t port;
};

struct smx_route_self {
	struct smx_route_listener item[SMX_LISTENERS_MAX];
	size_t n_items;
};

/*
 * smx_route_self_parse - parse len bytes of local_listeners: items
 * separated by blanks or commas, each "PORT", "IPv4:PORT" or
 * "[IPv6]:PORT" with PORT 1..65535. Empty gives no items. Returns SMX_OK
 * with *out, or SMX_INVALID (bad item, over SMX_LISTENERS_MAX items,
 * control or non-ASCII bytes). Writes *out only on SMX_OK. Pure.
 */
enum smx_status smx_route_self_parse(const char *s, size_t len,
    struct smx_route_self *out);

/*
 * smx_route_is_local_fn - true when the address (family AF_INET or
 * AF_INET6, network order) belongs to this host.
 */
typedef bool smx_route_is_local_fn(int family, const unsigned char *addr);

/*
 * smx_route_self_match - true when a target at address addr (family
 * AF_INET or AF_INET6, network order) and port is one of the listeners:
 * an item with that address and port, or a port-only item with that
 * port when is_local says the address belongs to this host (is_local is
 * called only then). Pure apart from is_local.
 */
bool smx_route_self_match(const struct smx_route_self *, int family,
    const unsigned char *addr, uint16_t port, smx_route_is_local_fn *is_local);

/*
 * DANE for one target (RFC 7672 for MX hosts, RFC 7673 for SRV targets),
 * from smx_route_dane_state:
 *	OFF		no DANE: DNSSEC did not validate the route or the
 *			addresses, no TLSA records, an insecure TLSA answer,
 *			or tls_dane = no: the usual rules;
 *	REQUIRED	usable TLSA records (DANE-TA, DANE-EE): TLS is
 *			mandatory and must be DANE-authenticated, for every
 *			role; no downgrade to plaintext or unauthenticated
 *			TLS;
 *	UNUSABLE	validated TLSA records, none usable: TLS mandatory,
 *			unauthenticated;
 *	FAILED		the TLSA lookup failed or is bogus (SERVFAIL from the
 *			validating resolver): the target is not used.
 */
enum smx_route_dane {
	SMX_DANE_OFF = 0,
	SMX_DANE_REQUIRED,
	SMX_DANE_UNUSABLE,
	SMX_DANE_FAILED,
};

/*
 * smx_route_dane_wanted - true when DANE applies to a target and its TLSA
 * records are to be looked up: tls_dane = yes, dns_trust_ad = yes, and
 * DNSSEC validated both the answer that named the target (SRV or MX
 * RRset) and the target's addresses. Pure.
 */
bool smx_route_dane_wanted(const struct smx_config *, bool is_route_secure,
    bool is_addr_secure);

/*
 * smx_route_dane_state - what a TLSA lookup (status st, records *tlsa)
 * means; see enum smx_route_dane. Pure.
 */
enum smx_route_dane smx_route_dane_state(enum smx_status st,
    const struct smx_dns_tlsa_set *tlsa);

#endif
