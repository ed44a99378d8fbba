/* SPDX-License-Identifier: MIT */
#ifndef SMX_ADDR_H
#define SMX_ADDR_H

#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"

/* What an effective domain is. */
enum smx_addr_kind {
	SMX_ADDR_DOMAIN = 0,  /* a host name */
	SMX_ADDR_LITERAL,     /* an address literal, "[192.0.2.1]" */
	SMX_ADDR_UNQUALIFIED, /* no '@domain': the MTA completes it */
	SMX_ADDR_BAD_IDN,     /* non-ASCII that is not valid UTF-8 IDNA */
};

/*
 * One effective domain: lower case, NUL-terminated. A host name has no
 * trailing dot and is in A-labels (UTF-8 names are converted); a literal
 * keeps its brackets; an unqualified entry has an empty name (the domain
 * that completes it is the caller's to know); a bad IDN name is the
 * piece as written, lower case, with '?' for every non-ASCII byte (cut
 * at SMX_DOMAIN_MAX bytes, the last of them then '?').
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
 * kind SMX_ADDR_LITERAL wherever a domain may stand. A domain in UTF-8
 * is converted to A-labels (smx_idn_to_ascii); one of host-name bytes
 * and non-ASCII bytes that cannot be converted (invalid UTF-8, or a name
 * IDNA2008 refuses) is an entry of kind SMX_ADDR_BAD_IDN. Names are
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
 * smx_addr_domain_parse - one domain piece of len bytes as
 * smx_addr_domains reads each: an address literal with its brackets (at
 * most SMX_DOMAIN_MAX bytes), a host name (trailing dot dropped), a name
 * in UTF-8 converted to A-labels, or, for host-name and non-ASCII bytes
 * that cannot be converted, a bad IDN name (see struct smx_addr_domain).
 * Lower case. Returns SMX_OK with *out, or
 * SMX_INVALID for anything else; never SMX_ADDR_UNQUALIFIED. Pure apart
 * from libidn2's allocations; never exits.
 */
enum smx_status smx_addr_domain_parse(const char *s, size_t len,
    struct smx_addr_domain *out);

#endif
