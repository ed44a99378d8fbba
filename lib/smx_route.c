/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_route - the ordered delivery targets of one destination domain
 * DESCRIPTION
 *	smx_route_srv() asks for _secmx._tcp.<domain> SRV records (SecMX Level 2
 *	section 5.1.1) and keeps them in RFC 2782 order as smx_dns orders
 *	them; smx_route_mx() asks for the MX records (RFC 5321 section 5.1
 *	order, the implicit MX when there are none). Both turn the DNS
 *	answer into one struct smx_route that secmx-transport walks and
 *	secmx-lookup prints; smx_route_format() is that printed form.
 * LIMITS
 *	SMX_SRV_MAX targets from one SRV answer, SMX_MX_MAX from one MX
 *	answer (the caps of smx_dns); the time of one lookup is bounded by
 *	the smx_dns_opts timeout and nameserver count (smx_dns.h).
 * DIAGNOSTICS
 *	SMX_TEMPFAIL with the DNS reason ("SERVFAIL", "timeout", ...) for
 *	DNS trouble; SMX_INVALID for a domain that is not a host name.
 *	Logs nothing itself (smx_dns warns about dropped records).
 * SECURITY
 *	DNS answers are untrusted; smx_dns validated every name as a host
 *	name before it reaches here. SRV target names count for certificate
 *	verification only when is_ad is set, which smx_dns reports only
 *	with trust_ad (dns_trust_ad = yes).
 * SEE ALSO
 *	RFC 2782, RFC 5321 section 5.1, RFC 7505 (null MX); smx_dns.h.
 */
#include "smx_route.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "smx_idn.h"
#include "smx_tls.h"
#include "smx_util.h"

/* Zero *r and set its kind. */
static void
route_reset(struct smx_route *r, enum smx_route_kind kind)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
}

static void
set_reason(char *reason, size_t reason_size, const char *text)
{
	if (reason_size > 0)
		smx_strlcpy(reason, text, reason_size);
}

enum smx_status
smx_route_srv(const struct smx_dns_opts *opts, const char *domain,
    struct smx_route *out, char *reason, size_t reason_size)
{
	struct smx_dns_srv_set set;
	enum smx_status st;
	size_t i;

	if (domain == NULL || !smx_is_hostname(domain, strlen(domain))) {
		set_reason(reason, reason_size, "bad domain name");
		return SMX_INVALID;
	}
	memset(&set, 0, sizeof(set));
	st = smx_dns_lookup_srv(opts, domain, &set, reason, reason_size);
	switch (st) {
	case SMX_OK:
		break;
	case SMX_NOTFOUND:
		route_reset(out, SMX_ROUTE_SRV);
		set_reason(reason, reason_size, "no SecMX SRV records");
		return SMX_NOTFOUND;
	case SMX_INVALID:
		return SMX_INVALID;
	default:
		/* Never a bounce on DNS trouble: PERMFAIL is not expected. */
		return SMX_TEMPFAIL;
	}
	route_reset(out, SMX_ROUTE_SRV);
	out->is_ad = set.is_ad;
	if (set.is_null || set.n_srv == 0) {
		/* RFC 2782: "." means the service is decidedly not offered. */
		out->is_null = set.is_null;
		set_reason(reason, reason_size,
		    "SecMX is not offered (null SRV target)");
		return SMX_NOTFOUND;
	}
	for (i = 0; i < set.n_srv && i < SMX_SRV_MAX; i++) {
		struct smx_route_target *t = &out->target[i];

		smx_strlcpy(t->host, set.srv[i].target, sizeof(t->host));
		t->port = set.srv[i].port;
		t->pref = set.srv[i].priority;
	}
	out->n_targets = i;
	return SMX_OK;
}

enum smx_status
smx_route_mx(const struct smx_dns_opts *opts, const char *domain,
    struct smx_route *out, char *reason, size_t reason_size)
{
	struct smx_dns_mx_set set;
	enum smx_status st;
	size_t i;

	if (domain == NULL || !smx_is_hostname(domain, strlen(domain))) {
		set_reason(reason, reason_size, "bad domain name");
		return SMX_INVALID;
	}
	memset(&set, 0, sizeof(set));
	st = smx_dns_lookup_mx(opts, domain, &set, reason, reason_size);
	switch (st) {
	case SMX_OK:
		break;
	case SMX_NOTFOUND:
		return SMX_NOTFOUND;
	case SMX_INVALID:
		return SMX_INVALID;
	default:
		return SMX_TEMPFAIL;
	}
	route_reset(out, SMX_ROUTE_MX);
	out->is_ad = set.is_ad;
	if (set.is_null) {
		out->is_null = true; /* RFC 7505: the domain accepts no mail */
		return SMX_OK;
	}
	for (i = 0; i < set.n_mx && i < SMX_MX_MAX && i < SMX_SRV_MAX; i++) {
		struct smx_route_target *t = &out->target[i];

		smx_strlcpy(t->host, set.mx[i].exchange, sizeof(t->host));
		smx_ascii_lower(t->host, strlen(t->host));
		/* A trailing dot never reaches here (smx_dns strips it). */
		t->port = 25; /* RFC 5321 section 4.5.4.2 */
		t->pref = set.mx[i].preference;
	}
	out->n_targets = i;
	if (out->n_targets == 0) {
		set_reason(reason, reason_size, "no usable MX host");
		return SMX_NOTFOUND;
	}
	return SMX_OK;
}

void
smx_route_format(const struct smx_route *r, char *out, size_t size)
{
	const char *kind = r->kind == SMX_ROUTE_SRV ? "srv" : "mx";
	size_t len = 0;
	size_t i;
	int n;

	if (size == 0)
		return;
	out[0] = '\0';
	if (r->is_null) {
		(void)snprintf(out, size, "%s:null", kind);
		return;
	}
	for (i = 0; i < r->n_targets && i < SMX_SRV_MAX; i++) {
		n = snprintf(out + len, size - len, "%s%s:[%s]:%u",
		    i > 0 ? ", " : "", kind, r->target[i].host,
		    (unsigned)r->target[i].port);
		if (n < 0 || (size_t)n >= size - len)
			return; /* truncated; snprintf kept it terminated */
		len += (size_t)n;
	}
}

/* True when one of the len bytes of s is not ASCII. */
static bool
has_non_ascii(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/*
 * Copy a host name of len bytes lower-cased, without a trailing dot; a
 * UTF-8 name (an SMTPUTF8 recipient's domain) as its A-labels, the form
 * the DNS and the role tables use.
 */
static bool
copy_host(const char *s, size_t len, char *out, size_t size)
{
	if (has_non_ascii(s, len))
		return smx_idn_to_ascii(s, len, out, size) == SMX_OK;
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len >= size || !smx_is_hostname(s, len))
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	smx_ascii_lower(out, len);
	return true;
}

/* An IPv4 or IPv6 address literal's text of len bytes. */
static bool
copy_addr(const char *s, size_t len, char *out, size_t size)
{
	char text[SMX_DNS_ADDR_TEXT_MAX + 1];
	unsigned char bin[16];

	if (len >= 5 && smx_ascii_ncasecmp(s, "ipv6:", 5) == 0) {
		s += 5;
		len -= 5;
		if (len == 0 || len >= sizeof(text))
			return false;
		memcpy(text, s, len);
		text[len] = '\0';
		if (inet_pton(AF_INET6, text, bin) != 1)
			return false;
	} else {
		if (len == 0 || len >= sizeof(text))
			return false;
		memcpy(text, s, len);
		text[len] = '\0';
		if (inet_pton(AF_INET, text, bin) != 1 &&
		    inet_pton(AF_INET6, text, bin) != 1)
			return false;
	}
	return smx_strlcpy(out, text, size) < size;
}

enum smx_status
smx_route_parse_nexthop(const char *s, size_t len,
    struct smx_route_nexthop *out)
{
	struct smx_route_nexthop nh;
	const char *close;
	unsigned long port = 25;
	size_t i;

	memset(&nh, 0, sizeof(nh));
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			return SMX_INVALID; /* UTF-8 goes to copy_host */
	}
	if (len == 0)
		return SMX_INVALID;
	if (s[0] != '[') {
		/* "domain:port" is not used: SRV and MX give the ports. */
		if (!copy_host(s, len, nh.host, sizeof(nh.host)))
			return SMX_INVALID;
		nh.kind = SMX_ROUTE_NEXTHOP_DOMAIN;
		nh.port = 25;
		*out = nh;
		return SMX_OK;
	}
	if ((close = memchr(s, ']', len)) == NULL)
		return SMX_INVALID;
	i = (size_t)(close - s) + 1; /* after ']' */
	if (i < len) {
		if (s[i] != ':' ||
		    smx_parse_ulong(s + i + 1, len - i - 1, 1, 65535, &port) !=
		        SMX_OK)
			return SMX_INVALID;
	}
	if (copy_addr(s + 1, (size_t)(close - s) - 1, nh.host, sizeof(nh.host)))
		nh.kind = SMX_ROUTE_NEXTHOP_ADDR;
	else if (copy_host(s + 1, (size_t)(close - s) - 1, nh.host,
	             sizeof(nh.host)))
		nh.kind = SMX_ROUTE_NEXTHOP_HOST;
	else
		return SMX_INVALID;
	nh.port = (uint16_t)port;
	*out = nh;
	return SMX_OK;
}

enum smx_status
smx_route_address_domain(const char *addr, char *out, size_t size)
{
	const char *at = strrchr(addr, '@');
	size_t len;

	if (addr[0] == '\0' || at == NULL)
		return SMX_NOTFOUND;
	at++;
	len = strlen(at);
	if (len > 2 && at[0] == '[' && at[len - 1] == ']') {
		struct smx_route_nexthop nh;

		if (smx_route_parse_nexthop(at, len, &nh) != SMX_OK ||
		    nh.kind != SMX_ROUTE_NEXTHOP_ADDR || len >= size)
			return SMX_INVALID;
		memcpy(out, at, len + 1);
		smx_ascii_lower(out, len);
		return SMX_OK;
	}
	if (size == 0 || !copy_host(at, len, out, size))
		return SMX_INVALID;
	return SMX_OK;
}

void
smx_route_tls_names(const char *domain, const char *target, bool use_target,
    struct smx_route_tls_names *out)
{
	memset(out, 0, sizeof(*out));
	out->names[out->n_names++] = domain;
	(void)snprintf(out->dot, sizeof(out->dot), ".%s", domain);
	out->names[out->n_names++] = out->dot;
	if (use_target && target != NULL && target[0] != '\0' &&
	    smx_ascii_casecmp(target, domain) != 0)
		out->names[out->n_names++] = target;
}

/* The role a table gives domain, or SMX_ROLE_NONE. */
static enum smx_role
table_role(const struct smx_table *t, const char *domain)
{
	enum smx_role role = SMX_ROLE_NONE;
	const char *v;

	if (t == NULL || domain == NULL || domain[0] == '\0')
		return SMX_ROLE_NONE;
	if ((v = smx_table_lookup_domain(t, domain, strlen(domain))) == NULL ||
	    smx_role_parse(v, &role) != SMX_OK)
		return SMX_ROLE_NONE;
	return role;
}

enum smx_role
smx_route_sender_role(const struct smx_config *cfg, const char *sender_domain,
    const char *destination)
{
	enum smx_role role = table_role(cfg->sender_roles, sender_domain);

	if (role != SMX_ROLE_SOS && role != SMX_ROLE_BES)
		role = cfg->default_sender_role == SMX_ROLE_SOS ? SMX_ROLE_SOS
		                                                : SMX_ROLE_BES;
	if (smx_route_destination_sos(cfg, destination))
		role = SMX_ROLE_SOS;
	return role;
}

bool
smx_route_destination_sos(const struct smx_config *cfg, const char *rcpt_domain)
{
	return table_role(cfg->destination_roles, rcpt_domain) == SMX_ROLE_SOS;
}

bool
smx_route_is_local(const struct smx_config *cfg, const char *domain)
{
	size_t len;
	size_t i;

	if (domain == NULL || domain[0] == '\0')
		return false;
	len = strlen(domain);
	if (cfg->receiver_roles != NULL &&
	    smx_table_lookup_domain(cfg->receiver_roles, domain, len) != NULL)
		return true;
	for (i = 0; i <= cfg->n_local_domain_tables; i++) {
		const struct smx_table *t = cfg->local_domain_tables[i];

		if (t != NULL &&
		    smx_table_lookup_domain(t, domain, len) != NULL)
			return true;
	}
	return false;
}

/* One local_listeners item: "PORT", "IPv4:PORT" or "[IPv6]:PORT". */
static bool
listener_parse(const char *s, size_t len, struct smx_route_listener *out)
{
	char text[SMX_DNS_ADDR_TEXT_MAX + 1];
	const char *port = s;
	size_t addr_len = 0;
	unsigned long n;

	memset(out, 0, sizeof(*out));
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (close == NULL || close + 1 >= s + len || close[1] != ':')
			return false;
		addr_len = (size_t)(close - s) - 1;
		if (addr_len == 0 || addr_len >= sizeof(text))
			return false;
		memcpy(text, s + 1, addr_len);
		text[addr_len] = '\0';
		if (inet_pton(AF_INET6, text, out->addr) != 1)
			return false;
		out->family = AF_INET6;
		port = close + 2;
	} else {
		const char *colon = memchr(s, ':', len);

		if (colon != NULL) {
			addr_len = (size_t)(colon - s);
			if (addr_len == 0 || addr_len >= sizeof(text))
				return false;
			memcpy(text, s, addr_len);
			text[addr_len] = '\0';
			if (inet_pton(AF_INET, text, out->addr) != 1)
				return false;
			out->family = AF_INET;
			port = colon + 1;
		}
	}
	if (smx_parse_ulong(port, (size_t)(s + len - port), 1, 65535, &n) !=
	    SMX_OK)
		return false;
	out->port = (uint16_t)n;
	return true;
}

enum smx_status
smx_route_self_parse(const char *s, size_t len, struct smx_route_self *out)
{
	struct smx_route_self self;
	size_t i = 0;

	memset(&self, 0, sizeof(self));
	while (i < len) {
		size_t start;

		if (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++;
			continue;
		}
		start = i;
		while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != ',')
			i++;
		if (self.n_items == SMX_LISTENERS_MAX ||
		    !listener_parse(s + start, i - start,
		        &self.item[self.n_items]))
			return SMX_INVALID;
		self.n_items++;
	}
	*out = self;
	return SMX_OK;
}

bool
smx_route_self_match(const struct smx_route_self *self, int family,
    const unsigned char *addr, uint16_t port, smx_route_is_local_fn *is_local)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	bool has_any_port = false;
	size_t i;

	for (i = 0; i < self->n_items; i++) {
		const struct smx_route_listener *l = &self->item[i];

		if (l->port != port)
			continue;
		if (l->family == 0)
			has_any_port = true;
		else if (l->family == family &&
		    memcmp(l->addr, addr, alen) == 0)
			return true;
	}
	return has_any_port && is_local != NULL && is_local(family, addr);
}

bool
smx_route_dane_wanted(const struct smx_config *cfg, bool is_route_secure,
    bool is_addr_secure)
{
	return cfg->tls_dane && cfg->dns_trust_ad && is_route_secure &&
	    is_addr_secure;
}

enum smx_route_dane
smx_route_dane_state(enum smx_status st, const struct smx_dns_tlsa_set *tlsa)
{
	size_t i;

	switch (st) {
	case SMX_OK:
		break;
	case SMX_NOTFOUND:
		return SMX_DANE_OFF;
	default:
		/* SERVFAIL from the validator: bogus, or no answer at all. */
		return SMX_DANE_FAILED;
	}
	if (!tlsa->is_ad)
		return SMX_DANE_OFF; /* an insecure TLSA answer */
	for (i = 0; i < tlsa->n_rr && i < SMX_TLSA_MAX; i++) {
		struct smx_tls_tlsa t = { tlsa->rr[i].usage,
			tlsa->rr[i].selector, tlsa->rr[i].mtype,
			tlsa->rr[i].data, tlsa->rr[i].len };

		if (smx_tls_tlsa_usable(&t))
			return SMX_DANE_REQUIRED;
	}
	return SMX_DANE_UNUSABLE;
}
