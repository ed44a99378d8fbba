/* SPDX-License-Identifier: MIT */
#ifndef SMX_IDN_H
#define SMX_IDN_H

#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"

/*
 * smx_idn_to_ascii - the domain name of len bytes at name (ASCII or
 * UTF-8, any case, an optional trailing dot) as lower-case A-labels
 * without a trailing dot, NUL-terminated in out (size bytes, at least
 * SMX_DOMAIN_MAX + 1): IDNA2008 with the UTS #46 non-transitional
 * mapping ("S\xc3\xb6r.Example." gives "xn--sr-fka.example"). ASCII
 * labels are only lower-cased, as the DNS and Postfix compare them; the
 * result is always a host name (smx_is_hostname) of at most
 * SMX_DOMAIN_MAX bytes. Returns SMX_OK; SMX_INVALID for empty input,
 * input over SMX_IDN_INPUT_MAX bytes, a NUL byte, UTF-8 that is not
 * valid, a label IDNA2008 or UTS #46 refuses, a result that is not a
 * host name or too long, or size too small; SMX_TEMPFAIL when memory is
 * short. Writes out only on SMX_OK. Logs nothing; never exits.
 */
enum smx_status smx_idn_to_ascii(const char *name, size_t len, char *out,
    size_t size);

/*
 * smx_idn_key_domain - the domain of a table query key of len bytes: the
 * key itself, or for an address the part after its last '@'
 * ("bob@S\xc3\xb6r.example" gives "xn--sr-fka.example"), converted as
 * smx_idn_to_ascii does, into out (size bytes, at least SMX_DOMAIN_MAX +
 * 1). For secmx-lookup, whose keys then match tables written in either
 * form. Returns what smx_idn_to_ascii returns; an empty domain ("bob@")
 * is SMX_INVALID. Logs nothing; never exits.
 */
enum smx_status smx_idn_key_domain(const char *key, size_t len, char *out,
    size_t size);

#endif
