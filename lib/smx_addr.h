/* SPDX-License-Identifier: MIT */
#ifndef SMX_ADDR_H
#define SMX_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"

/* What an effective domain is. */
enum smx_addr_kind {
	SMX_ADDR_DOMAIN = 0,  /* a host name */
	SMX_ADDR_LITERAL,     /* an address literal, "[192.0.2.1]" */
	SMX_ADDR_UNQUALIFIED, /* no '@domain': the MTA completes it */
};

/*
 * One effective domain: lower case, NUL-terminated. A host name has no
 * trailing dot; a literal keeps its brackets; an unqualified entry has
 * an empty name (the domain that completes it is the caller's to know).
 */
struct smx_addr_domain {
	enum smx_addr_kind kind;
	char name[SMX_DOMAIN_MAX + 1];
};

/*
 * smx_addr_domains - every domain an envelope address (len bytes, as
 * Postfix puts it in a policy request: no angle brackets, but tolerate a
 * pair) can route mail to:
 *	- the domain after the last '@' that is not inside a quoted local
 *	  part; an RFC 5321 source route ("@a,@b:user@dom") is ignored except
 *	  for its final address;
 *	- each domain named by the percent hack in the local part
 *	  ("user%sor.example@relay");
 *	- each host of a UUCP bang path in the local part
 *	  ("sor.example!user@relay");
 *	- for an address without '@' ("bob", "\"a b\"", "user%sor.example"),
 *	  one SMX_ADDR_UNQUALIFIED entry: the domain Postfix completes it
 *	  with ($myorigin), which an address whose '%' or '!' hops Postfix
 *	  does not rewrite (allow_percent_hack, swap_bangpath) also reaches.
 * Address literals ("[192.0.2.1]", "[IPv6:2001:db8::1]") are entries of
 * kind SMX_ADDR_LITERAL wherever a domain may stand. Names are
 * lower-cased, a trailing dot removed, duplicates dropped (the first
 * position kept). Order: the domain after the last '@', then the '%' hops
 * from right to left ("a%b%c@relay": relay, c, b), then the '!' hosts
 * from left to right ("h1!h2!user@relay": relay, h1, h2), then the
 * unqualified entry. The empty address ("" or "<>") gives n = 0. Returns
 * SMX_OK with *n_out set, or SMX_INVALID for an unbalanced quote, a
 * domain that is neither a host name nor an address literal, more than
 * max domains, or len > SMX_ADDR_MAX. Pure; never exits.
 */
enum smx_status smx_addr_domains(const char *addr, size_t len,
    struct smx_addr_domain *out, size_t max, size_t *n_out);

/*
 * smx_addr_is_literal - true when the len bytes of s are an address
 * literal with its brackets as smx_addr_domains accepts one: "[" then
 * letters, digits, '.', ':' and '-' (the union of RFC 5321 section 4.1.3
 * IPv4, IPv6 and general literals), then "]", at most SMX_DOMAIN_MAX
 * bytes in all. Pure.
 */
bool smx_addr_is_literal(const char *s, size_t len);

#endif
