/* SPDX-License-Identifier: MIT */
#ifndef SMX_ADDR_H
#define SMX_ADDR_H

#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"

/* One effective domain: lower case, no trailing dot, NUL-terminated. */
struct smx_addr_domain {
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
 *	  ("sor.example!user@relay").
 * Domains are lower-cased, a trailing dot removed, duplicates dropped
 * (the first position kept). Order: the domain after the last '@', then
 * the '%' hops from right to left ("a%b%c@relay": relay, c, b), then the
 * '!' hosts from left to right ("h1!h2!user@relay": relay, h1, h2). The
 * empty address ("" or "<>") and a bare local part give n = 0; '%' and '!'
 * hops count without an '@' too ("user%sor.example": sor.example). Returns
 *SMX_OK with *n_out set, or SMX_INVALID for an unbalanced quote, a domain that
 *is not a host name (address literals "[192.0.2.1]" are skipped, not invalid),
 *more than max domains, or len > SMX_ADDR_MAX. Pure; never exits.
 */
enum smx_status smx_addr_domains(const char *addr, size_t len,
    struct smx_addr_domain *out, size_t max, size_t *n_out);

#endif
