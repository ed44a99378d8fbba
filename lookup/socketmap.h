/* SPDX-License-Identifier: MIT */
#ifndef SMX_SOCKETMAP_H
#define SMX_SOCKETMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_config.h"
#include "smx_dns.h"
#include "smx_limits.h"
#include "smx_status.h"

#include "smx_route.h"

/*
 * The lookups of secmx-lookup, and the Sendmail socketmap protocol that
 * serves them to Postfix (socketmap_table(5)): requests and replies are
 * netstrings (http://cr.yp.to/proto/netstrings.txt), a request is
 * "name key", a reply "OK value", "NOTFOUND ", "TEMP reason" or
 * "PERM reason". Everything here is pure apart from the injected route
 * function: no I/O, no logging except smx_log_debug of lookups.
 */

/* The maps (tables) secmx-lookup answers, by their request name. */
enum socketmap_map {
	SOCKETMAP_RECEIVER = 0,     /* receiver_roles: sor | ber */
	SOCKETMAP_SENDER,           /* sender_roles: sos | bes */
	SOCKETMAP_DESTINATION,      /* destination_roles: sos | bes */
	SOCKETMAP_ROUTE,            /* SecMX SRV targets, smx_route_format */
	SOCKETMAP_TRANSPORT,        /* transport_maps: secmx_transport_name */
	SOCKETMAP_SENDER_TRANSPORT, /* sender_dependent_default_transport_maps
	                             */
};

/*
 * Bytes for one value, with its NUL: a route of SMX_SRV_MAX targets as
 * "srv:[host]:port, " items, which is also more than a table value
 * (SMX_TABLE_VALUE_MAX) or secmx_transport_name (SMX_TRANSPORT_NAME_MAX).
 */
#define SOCKETMAP_VALUE_SIZE (SMX_SRV_MAX * (SMX_DOMAIN_MAX + 16) + 1)
/* Bytes for one reply netstring: "OK " + value, length digits, ':', ','. */
#define SOCKETMAP_REPLY_SIZE (SOCKETMAP_VALUE_SIZE + 32)
/* Bytes of one request netstring on the wire, framing included. */
#define SOCKETMAP_WIRE_MAX (SMX_SOCKETMAP_REQUEST_MAX + 8)

/*
 * socketmap_map_name - the request name of a map ("route", ...). Never
 * returns NULL.
 */
const char *socketmap_map_name(enum socketmap_map);

/*
 * socketmap_map_parse - the map called exactly name (len bytes, compared
 * case-sensitively, as Postfix sends the name from its configuration).
 * Returns SMX_OK with *out, or SMX_NOTFOUND for an unknown name. Pure.
 */
enum smx_status socketmap_map_parse(const char *name, size_t len,
    enum socketmap_map *out);

/*
 * socketmap_netstring_parse - find the netstring "<len>:<payload>," at
 * buf[0], given the len bytes received so far. The length is decimal
 * digits without leading zeros ("0" alone is the empty payload) and at
 * most max. Feeding the same bytes again with more appended is fine, so
 * a stream may be framed byte by byte. Returns:
 *	SMX_OK		*payload points into buf at *payload_len bytes (any
 *			bytes, NUL included); the netstring takes *consumed
 *			bytes, the next one starts at buf[*consumed];
 *	SMX_NOTFOUND	incomplete: more bytes are needed;
 *	SMX_INVALID	malformed (not a digit, leading zero, no ':', no
 *			',' after the payload) or longer than max; reason
 *			holds a short text. Detected as early as the bytes
 *			allow, so a hostile length is refused before its
 *			payload arrives.
 * Writes the out-parameters only on SMX_OK. Pure; never exits.
 */
enum smx_status socketmap_netstring_parse(const char *buf, size_t len,
    size_t max, const char **payload, size_t *payload_len, size_t *consumed,
    char *reason, size_t reason_size);

/*
 * socketmap_netstring_format - write payload (len bytes) as a netstring
 * into out (size bytes) and set *out_len; no NUL is appended. Returns
 * SMX_OK, or SMX_INVALID when len is over SMX_SOCKETMAP_REPLY_MAX (what
 * Postfix 3.7 accepts) or out is too small (out is then unspecified).
 * Pure; never exits.
 */
enum smx_status socketmap_netstring_format(const char *payload, size_t len,
    char *out, size_t size, size_t *out_len);

/*
 * struct socketmap_request - one parsed request: the map and the key as
 * sent, NUL-terminated (key_len bytes, no NUL inside).
 */
struct socketmap_request {
	enum socketmap_map map;
	char key[SMX_ADDR_MAX + 1];
	size_t key_len;
};

/*
 * socketmap_request_parse - parse a request payload "name key": the name
 * is everything before the first space, the key everything after it.
 * Returns SMX_OK with *out; SMX_PERMFAIL for an unknown map name, and
 * SMX_INVALID for a payload without a space, an empty key, a key with a
 * NUL or another control byte (no Postfix key has them), or a key over
 * SMX_ADDR_MAX bytes; both with a short reason for a PERM reply. Writes
 * *out only on SMX_OK. Pure; never exits.
 */
enum smx_status socketmap_request_parse(const char *payload, size_t len,
    struct socketmap_request *out, char *reason, size_t reason_size);

/*
 * socketmap_route_fn - how the route and transport maps find SecMX
 * targets: smx_route_srv(), or a fake in tests. Contract as smx_route_srv.
 */
typedef enum smx_status socketmap_route_fn(const struct smx_dns_opts *,
    const char *domain, struct smx_route *out, char *reason,
    size_t reason_size);

/*
 * struct socketmap_ctx - what lookups need, all borrowed: the loaded
 * configuration, DNS options built from it (socketmap_dns_opts) and the
 * route function (NULL: smx_route_srv).
 */
struct socketmap_ctx {
	const struct smx_config *cfg;
	const struct smx_dns_opts *dns;
	socketmap_route_fn *route;
};

/*
 * socketmap_dns_opts - fill *out from cfg's dns_nameservers, dns_timeout
 * (clamped to 1..SMX_DNS_TIMEOUT_MAX) and dns_trust_ad; the strings are
 * borrowed from cfg, which must outlive the lookups. Never fails.
 */
void socketmap_dns_opts(const struct smx_config *cfg, struct smx_dns_opts *out);

/*
 * socketmap_lookup - look key up in map. The key is a domain or an
 * address, of which the part after the last '@' is used (so Postfix's
 * "user@domain" and "@domain" keys work); any case, an optional trailing
 * dot. A domain that is not a host name (".parent", "*", "<>", "user@")
 * is not found: Postfix itself makes such keys for transport(5)
 * lookups, so they must not be errors.
 *	receiver, sender, destination: the role table's value.
 *	route: the SecMX targets of the domain, smx_route_format order; not
 *	    found for no SRV records or the null target ".".
 *	transport: not found for a domain this host receives mail for
 *	    (smx_route_is_local: receiver_roles keys and local_domains);
 *	    otherwise secmx_transport_name when destination_roles says sos
 *	    for the domain (smx_route_destination_sos, as the transport
 *	    decides), or default_sender_role is sos (both without DNS), or
 *	    the domain has SecMX targets; otherwise not found, so that
 *	    Postfix's own smtp(8) delivers Best Effort mail.
 *	sender_transport: secmx_transport_name when sender_roles (or, for a
 *	    domain not in it, default_sender_role) makes the sender's domain
 *	    sos; otherwise not found. Postfix consults
 *	    sender_dependent_default_transport_maps only for mail that would
 *	    take default_transport, never for local or virtual domains, so
 *	    this answer cannot route local mail into secmx.
 * Returns SMX_OK with the value in value (at most value_size bytes with
 * the NUL; SOCKETMAP_VALUE_SIZE is always enough), SMX_NOTFOUND, or
 * SMX_TEMPFAIL with a reason (DNS trouble, or a value that does not fit).
 * Logs the lookup at debug level only. Never exits.
 */
enum smx_status socketmap_lookup(const struct socketmap_ctx *,
    enum socketmap_map, const char *key, char *value, size_t value_size,
    char *reason, size_t reason_size);

/*
 * socketmap_handle - answer one request payload (len bytes, untrusted)
 * with a complete reply netstring in reply (reply_size bytes, at least
 * SOCKETMAP_REPLY_SIZE) and *reply_len: "OK value", "NOTFOUND ", "TEMP
 * reason" or "PERM reason" (unknown map name, malformed request). Reply
 * text is printable ASCII. Returns the outcome for the caller's log:
 * SMX_OK, SMX_NOTFOUND, SMX_TEMPFAIL or SMX_PERMFAIL; SMX_INVALID only
 * when reply_size is too small (nothing usable is written). Never exits.
 */
enum smx_status socketmap_handle(const struct socketmap_ctx *,
    const char *payload, size_t len, char *reply, size_t reply_size,
    size_t *reply_len);

#endif
