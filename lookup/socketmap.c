/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	socketmap - secmx-lookup's maps and the socketmap protocol codec
 * DESCRIPTION
 *	Frames netstrings, parses "name key" requests, looks keys up in the
 *	role tables or in DNS (SecMX SRV targets through smx_route_srv) and
 *	formats the reply, so that secmx-lookup -q and the socketmap server
 *	share one path from key to answer. The transport and
 *	sender_transport maps let Postfix pick secmx-transport for mail that
 *	needs SecMX (transport_maps, sender_dependent_default_transport_maps)
 *	and leave Best Effort mail to its own smtp(8).
 * LIMITS
 *	A request payload is at most SMX_SOCKETMAP_REQUEST_MAX bytes, a key
 *	at most SMX_ADDR_MAX, a reply payload at most
 *	SMX_SOCKETMAP_REPLY_MAX (values here stay far below it:
 *	SOCKETMAP_VALUE_SIZE). The length field of a netstring has at most
 *	as many digits as the cap.
 * DIAGNOSTICS
 *	Framing errors are SMX_INVALID with a reason for the caller's
 *	warning (the server closes the connection without a reply). Request
 *	errors become "PERM reason" replies: unknown map name, no space,
 *	empty key, control bytes, key too long. DNS trouble becomes "TEMP
 *	reason". Lookups are logged at debug level only: they are not audit
 *	decisions.
 * SECURITY
 *	Requests are untrusted bytes; the key is only used as a lookup key
 *	and a DNS name after host-name validation. Reply text is made
 *	printable, so no DNS reason can inject bytes into the protocol.
 * SEE ALSO
 *	socketmap_table(5), transport(5), postconf(5)
 *	sender_dependent_default_transport_maps; netstrings
 *	(http://cr.yp.to/proto/netstrings.txt); RFC 2782; smx_route.h.
 */
#include "socketmap.h"

#include <stdio.h>
#include <string.h>

#include "smx_idn.h"
#include "smx_log.h"
#include "smx_util.h"

_Static_assert(SOCKETMAP_VALUE_SIZE > SMX_TRANSPORT_NAME_MAX &&
        SOCKETMAP_VALUE_SIZE > SMX_TABLE_VALUE_MAX &&
        SOCKETMAP_VALUE_SIZE + 16 < SMX_SOCKETMAP_REPLY_MAX,
    "SOCKETMAP_VALUE_SIZE must hold every value and fit a Postfix reply");

static const char *const map_names[] = {
	[SOCKETMAP_RECEIVER] = "receiver",
	[SOCKETMAP_SENDER] = "sender",
	[SOCKETMAP_DESTINATION] = "destination",
	[SOCKETMAP_ROUTE] = "route",
	[SOCKETMAP_TRANSPORT] = "transport",
	[SOCKETMAP_SENDER_TRANSPORT] = "sender_transport",
};

#define N_MAPS (sizeof(map_names) / sizeof(map_names[0]))

/* The transport_maps value when secmx_transport_name is not set. */
#define DEFAULT_TRANSPORT "secmx:"

const char *
socketmap_map_name(enum socketmap_map map)
{
	if ((size_t)map < N_MAPS)
		return map_names[map];
	return "unknown";
}

enum smx_status
socketmap_map_parse(const char *name, size_t len, enum socketmap_map *out)
{
	size_t i;

	for (i = 0; i < N_MAPS; i++) {
		if (strlen(map_names[i]) == len &&
		    memcmp(map_names[i], name, len) == 0) {
			*out = (enum socketmap_map)i;
			return SMX_OK;
		}
	}
	return SMX_NOTFOUND;
}

static void
set_reason(char *reason, size_t reason_size, const char *text)
{
	if (reason_size > 0)
		(void)smx_strlcpy(reason, text, reason_size);
}

/* Decimal digits of v (at least 1). */
static size_t
n_digits(size_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

enum smx_status
socketmap_netstring_parse(const char *buf, size_t len, size_t max,
    const char **payload, size_t *payload_len, size_t *consumed, char *reason,
    size_t reason_size)
{
	size_t digits_max = n_digits(max);
	size_t value = 0;
	size_t i;

	for (i = 0; i < len && buf[i] != ':'; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c < '0' || c > '9') {
			set_reason(reason, reason_size,
			    i == 0 ? "length is not a number"
			           : "no ':' after the length");
			return SMX_INVALID;
		}
		if (i == 1 && buf[0] == '0') {
			set_reason(reason, reason_size,
			    "length has a leading zero");
			return SMX_INVALID;
		}
		if (i >= digits_max) {
			set_reason(reason, reason_size, "length over the cap");
			return SMX_INVALID;
		}
		value = value * 10 + (size_t)(c - '0');
	}
	if (i == len)
		return SMX_NOTFOUND;
	if (i == 0) {
		set_reason(reason, reason_size, "length is not a number");
		return SMX_INVALID;
	}
	if (value > max) {
		set_reason(reason, reason_size, "length over the cap");
		return SMX_INVALID;
	}
	/* buf[i] is ':'; the payload follows, then ','. */
	if (len - i - 1 < value + 1)
		return SMX_NOTFOUND;
	if (buf[i + 1 + value] != ',') {
		set_reason(reason, reason_size, "no ',' after the payload");
		return SMX_INVALID;
	}
	*payload = buf + i + 1;
	*payload_len = value;
	*consumed = i + 1 + value + 1;
	return SMX_OK;
}

enum smx_status
socketmap_netstring_format(const char *payload, size_t len, char *out,
    size_t size, size_t *out_len)
{
	int n;

	if (len > SMX_SOCKETMAP_REPLY_MAX)
		return SMX_INVALID;
	n = snprintf(out, size, "%zu:", len);
	if (n < 0 || (size_t)n >= size || size - (size_t)n < len + 1)
		return SMX_INVALID;
	memcpy(out + n, payload, len);
	out[(size_t)n + len] = ',';
	*out_len = (size_t)n + len + 1;
	return SMX_OK;
}

enum smx_status
socketmap_request_parse(const char *payload, size_t len,
    struct socketmap_request *out, char *reason, size_t reason_size)
{
	const char *sp = memchr(payload, ' ', len);
	enum socketmap_map map;
	size_t name_len;
	size_t key_len;
	size_t i;

	if (sp == NULL) {
		set_reason(reason, reason_size, "malformed request (no space)");
		return SMX_INVALID;
	}
	name_len = (size_t)(sp - payload);
	if (socketmap_map_parse(payload, name_len, &map) != SMX_OK) {
		set_reason(reason, reason_size, "unknown map name");
		return SMX_PERMFAIL;
	}
	key_len = len - name_len - 1;
	if (key_len == 0) {
		set_reason(reason, reason_size, "malformed key (empty)");
		return SMX_INVALID;
	}
	if (key_len > SMX_ADDR_MAX) {
		set_reason(reason, reason_size, "malformed key (too long)");
		return SMX_INVALID;
	}
	for (i = 0; i < key_len; i++) {
		unsigned char c = (unsigned char)sp[1 + i];

		if (c < 0x20 || c == 0x7f) {
			set_reason(reason, reason_size,
			    "malformed key (control character)");
			return SMX_INVALID;
		}
	}
	out->map = map;
	memcpy(out->key, sp + 1, key_len);
	out->key[key_len] = '\0';
	out->key_len = key_len;
	return SMX_OK;
}

void
socketmap_dns_opts(const struct smx_config *cfg, struct smx_dns_opts *out)
{
	smx_dns_opts_init(out);
	out->nameservers = cfg->dns_nameservers;
	if (cfg->dns_timeout >= 1 && cfg->dns_timeout <= SMX_DNS_TIMEOUT_MAX)
		out->timeout = (unsigned)cfg->dns_timeout;
	else if (cfg->dns_timeout > SMX_DNS_TIMEOUT_MAX)
		out->timeout = SMX_DNS_TIMEOUT_MAX;
	else
		out->timeout = 1;
	out->trust_ad = cfg->dns_trust_ad;
}

/*
 * The domain of key (after the last '@'), lower case, without a trailing
 * dot, UTF-8 as A-labels (smx_idn), into out; false when it is not a host
 * name.
 */
static bool
key_domain(const char *key, char *out, size_t size)
{
	return smx_idn_key_domain(key, strlen(key), out, size) == SMX_OK;
}

static bool
is_role(const char *value, const char *role)
{
	return value != NULL && smx_ascii_casecmp(value, role) == 0;
}

static const char *
transport_name(const struct smx_config *cfg)
{
	if (cfg->secmx_transport_name != NULL &&
	    cfg->secmx_transport_name[0] != '\0')
		return cfg->secmx_transport_name;
	return DEFAULT_TRANSPORT;
}

/* Copy src into value; SMX_TEMPFAIL when it does not fit. */
static enum smx_status
put_value(const char *src, char *value, size_t value_size, char *reason,
    size_t reason_size)
{
	if (smx_strlcpy(value, src, value_size) >= value_size) {
		set_reason(reason, reason_size, "value too long");
		return SMX_TEMPFAIL;
	}
	return SMX_OK;
}

/* SecMX targets of domain: SMX_OK (targets), NOTFOUND or TEMPFAIL. */
static enum smx_status
srv_targets(const struct socketmap_ctx *ctx, const char *domain,
    struct smx_route *rt, char *reason, size_t reason_size)
{
	socketmap_route_fn *fn =
	    ctx->route != NULL ? ctx->route : smx_route_srv;
	struct smx_dns_opts dflt;
	const struct smx_dns_opts *dns = ctx->dns;
	enum smx_status st;

	if (dns == NULL) {
		socketmap_dns_opts(ctx->cfg, &dflt);
		dns = &dflt;
	}
	memset(rt, 0, sizeof(*rt));
	st = fn(dns, domain, rt, reason, reason_size);
	switch (st) {
	case SMX_OK:
		if (rt->n_targets > 0 && !rt->is_null)
			return SMX_OK;
		return SMX_NOTFOUND;
	case SMX_NOTFOUND:
	case SMX_INVALID:
		return SMX_NOTFOUND;
	case SMX_TEMPFAIL:
	case SMX_PERMFAIL:
		break;
	}
	if (reason_size > 0 && reason[0] == '\0')
		set_reason(reason, reason_size, "DNS lookup failed");
	return SMX_TEMPFAIL;
}

static enum smx_status
lookup_domain(const struct socketmap_ctx *ctx, enum socketmap_map map,
    const char *domain, char *value, size_t value_size, char *reason,
    size_t reason_size)
{
	const struct smx_config *cfg = ctx->cfg;
	const struct smx_table *table = NULL;
	const char *v;
	struct smx_route rt;
	enum smx_status st;

	switch (map) {
	case SOCKETMAP_RECEIVER:
		table = cfg->receiver_roles;
		break;
	case SOCKETMAP_SENDER:
		table = cfg->sender_roles;
		break;
	case SOCKETMAP_DESTINATION:
		table = cfg->destination_roles;
		break;
	case SOCKETMAP_ROUTE:
		st = srv_targets(ctx, domain, &rt, reason, reason_size);
		if (st != SMX_OK)
			return st;
		smx_route_format(&rt, value, value_size);
		return SMX_OK;
	case SOCKETMAP_TRANSPORT:
		/*
		 * transport_maps applies to local domains too: mail this host
		 * receives itself must never leave through secmx (a loop).
		 */
		if (smx_route_is_local(cfg, domain))
			return SMX_NOTFOUND;
		if (!smx_route_destination_sos(cfg, domain) &&
		    cfg->default_sender_role != SMX_ROLE_SOS) {
			st = srv_targets(ctx, domain, &rt, reason, reason_size);
			if (st != SMX_OK)
				return st;
		}
		return put_value(transport_name(cfg), value, value_size, reason,
		    reason_size);
	case SOCKETMAP_SENDER_TRANSPORT:
		v = smx_table_lookup_domain(cfg->sender_roles, domain,
		    strlen(domain));
		if (is_role(v, "sos") ||
		    (v == NULL && cfg->default_sender_role == SMX_ROLE_SOS))
			return put_value(transport_name(cfg), value, value_size,
			    reason, reason_size);
		return SMX_NOTFOUND;
	}
	v = smx_table_lookup_domain(table, domain, strlen(domain));
	if (v == NULL)
		return SMX_NOTFOUND;
	return put_value(v, value, value_size, reason, reason_size);
}

enum smx_status
socketmap_lookup(const struct socketmap_ctx *ctx, enum socketmap_map map,
    const char *key, char *value, size_t value_size, char *reason,
    size_t reason_size)
{
	char domain[SMX_DOMAIN_MAX + 1];
	enum smx_status st = SMX_NOTFOUND;

	set_reason(reason, reason_size, "");
	if (key_domain(key, domain, sizeof(domain)))
		st = lookup_domain(ctx, map, domain, value, value_size, reason,
		    reason_size);
	smx_log_debug("map=%s, key=<%.*s>, status=%s (%.*s)",
	    socketmap_map_name(map), SMX_LOG_VALUE_MAX, key,
	    smx_status_name(st), SMX_LOG_VALUE_MAX,
	    st == SMX_OK ? value : reason);
	return st;
}

/* "word text" as a reply netstring, text made printable ASCII. */
static enum smx_status
reply_text(const char *word, const char *text, char *reply, size_t reply_size,
    size_t *reply_len)
{
	char payload[SOCKETMAP_REPLY_SIZE];
	size_t n = 0;
	size_t i;

	n = smx_strlcpy(payload, word, sizeof(payload));
	for (i = 0; text[i] != '\0' && n < sizeof(payload) - 1; i++) {
		unsigned char c = (unsigned char)text[i];

		payload[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	return socketmap_netstring_format(payload, n, reply, reply_size,
	    reply_len);
}

enum smx_status
socketmap_handle(const struct socketmap_ctx *ctx, const char *payload,
    size_t len, char *reply, size_t reply_size, size_t *reply_len)
{
	struct socketmap_request req;
	char value[SOCKETMAP_VALUE_SIZE];
	char reason[SMX_DNS_REASON_MAX];
	enum smx_status st;
	enum smx_status fmt;

	if (reply_size < SOCKETMAP_REPLY_SIZE)
		return SMX_INVALID;
	st =
	    socketmap_request_parse(payload, len, &req, reason, sizeof(reason));
	if (st != SMX_OK) {
		smx_log_debug("status=permfail (%s)", reason);
		fmt = reply_text("PERM ", reason, reply, reply_size, reply_len);
		return fmt == SMX_OK ? SMX_PERMFAIL : SMX_INVALID;
	}
	st = socketmap_lookup(ctx, req.map, req.key, value, sizeof(value),
	    reason, sizeof(reason));
	switch (st) {
	case SMX_OK:
		/* Never a bare "OK": Postfix 3.7 reads it as not found. */
		if (value[0] == '\0') {
			st = SMX_NOTFOUND;
			fmt = reply_text("NOTFOUND ", "", reply, reply_size,
			    reply_len);
		} else {
			fmt = reply_text("OK ", value, reply, reply_size,
			    reply_len);
		}
		break;
	case SMX_NOTFOUND:
		fmt = reply_text("NOTFOUND ", "", reply, reply_size, reply_len);
		break;
	default:
		st = SMX_TEMPFAIL;
		fmt = reply_text("TEMP ",
		    reason[0] != '\0' ? reason : "lookup failed", reply,
		    reply_size, reply_len);
		break;
	}
	return fmt == SMX_OK ? st : SMX_INVALID;
}
