/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_dns - SecMX discovery: SRV, MX and address lookups with ldns
 * DESCRIPTION
 *	Finds the SecMX servers of a domain (SRV _secmx._tcp.<domain>),
 *	its MX hosts for the Best Effort fallback, and the addresses of a
 *	target host. Queries use absolute names only (never a search list),
 *	set RD, and with trust_ad send EDNS0 (1232 bytes) with DO and ask
 *	for AD. Every nameserver gets its own fresh ldns resolver per query:
 *	ldns has one port per resolver, and a fresh resolver forgets the
 *	RTT_INF mark a failed server would otherwise keep for every later
 *	query. ldns does not match replies to queries, so every reply goes
 *	back to wire format and through the same pure parser the fuzzer
 *	uses, which checks ID, QR, opcode and question, then rcode, RR type,
 *	class, owner, rdata field count and sizes, and target names.
 *	Truncated UDP replies are retried over TCP by this module (ldns's own
 *	fallback is off, so it cannot detour through EDNS 4096).
 * LIMITS
 *	SMX_SRV_MAX, SMX_MX_MAX, SMX_DNS_ADDRS_FAMILY_MAX records per answer
 *	(the best priorities are kept), SMX_DNS_SERVERS_MAX nameservers,
 *	SMX_DNS_CNAME_MAX CNAME links, SMX_DNS_REPLY_MAX bytes per reply,
 *	one attempt of timeout seconds per server (see smx_dns.h).
 * DIAGNOSTICS
 *	SMX_TEMPFAIL for every kind of DNS trouble (never SMX_PERMFAIL),
 *	SMX_NOTFOUND for NXDOMAIN and NODATA, SMX_INVALID for bad names or
 *	a bad nameserver list, each with a short reason. Lookups log dropped
 *	records as warnings and per-server failures as debug lines; the
 *	parsers log nothing.
 * SECURITY
 *	Every reply is untrusted: it may be spoofed, truncated, malformed or
 *	hostile. Nothing is read before its size is checked. AD is only as
 *	trustworthy as the path to the resolver (use a validating resolver
 *	on loopback) and is reported only when trust_ad is on.
 * SEE ALSO
 *	RFC 1035, RFC 2782 (SRV), RFC 5321 section 5.1 (MX), RFC 7505 (null
 *	MX), RFC 6840 section 5.7 (AD), RFC 6891 (EDNS0); ldns 1.8.3 net.c
 *	and resolver.c.
 */
#include "smx_dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "smx_log.h"
#include "smx_util.h"

/* RFC 6891 section 6.2.5 and DNS Flag Day 2020: no IP fragmentation. */
#define EDNS_UDP_SIZE 1232
#define DEFAULT_TIMEOUT 5
#define SERVER_TOKEN_MAX 64 /* "[" IPv6 "]:" port, with room to spare */

enum rr_kind {
	KIND_SRV,
	KIND_MX,
	KIND_ADDR,
	KIND_TLSA,
};

/* What a parse needs and gives back, for one query of any kind. */
struct parse_arg {
	enum rr_kind kind;
	struct smx_dns_srv_set *srv;
	struct smx_dns_mx_set *mx;
	struct smx_dns_addr_set *addrs;
	struct smx_dns_tlsa_set *tlsa;
	int family;
	uint16_t port;
	bool is_nxdomain; /* set on SMX_NOTFOUND from NXDOMAIN */
};

static enum smx_status reason_set(char *, size_t, enum smx_status, const char *,
    ...) __attribute__((format(printf, 4, 5)));

/*
 * reason_set - write a reason and return st. Reasons are log and DSN
 * text, so truncation to the caller's buffer is acceptable.
 */
static enum smx_status
reason_set(char *reason, size_t size, enum smx_status st, const char *fmt, ...)
{
	va_list ap;

	if (reason != NULL && size > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(reason, size, fmt, ap);
		va_end(ap);
	}
	return st;
}

/* ---------------------------------------------------------------- */
/* Nameserver list                                                   */

static enum smx_status
server_token(const char *t, size_t len, struct smx_dns_server *out,
    char *reason, size_t rs)
{
	char addr[SERVER_TOKEN_MAX + 1];
	unsigned char bin[16];
	const char *port = NULL;
	size_t port_len = 0;
	size_t addr_len;
	unsigned long pnum = 53;
	const char *colon;
	int family;

	if (len > SERVER_TOKEN_MAX)
		return reason_set(reason, rs, SMX_INVALID,
		    "nameserver \"%.*s...\": too long", 16, t);
	if (t[0] == '[') {
		const char *close = memchr(t, ']', len);

		if (close == NULL)
			return reason_set(reason, rs, SMX_INVALID,
			    "nameserver \"%.*s\": missing ]", (int)len, t);
		addr_len = (size_t)(close - t) - 1;
		memcpy(addr, t + 1, addr_len);
		if (close + 1 < t + len) {
			if (close[1] != ':')
				return reason_set(reason, rs, SMX_INVALID,
				    "nameserver \"%.*s\": expected :PORT after ]",
				    (int)len, t);
			port = close + 2;
			port_len = (size_t)(t + len - port);
		}
		family = AF_INET6;
	} else {
		colon = memchr(t, ':', len);
		if (colon != NULL &&
		    memchr(colon + 1, ':', (size_t)(t + len - colon - 1)) ==
		        NULL) {
			addr_len = (size_t)(colon - t);
			port = colon + 1;
			port_len = (size_t)(t + len - port);
			family = AF_INET;
		} else {
			addr_len = len;
			family = colon != NULL ? AF_INET6 : AF_INET;
		}
		memcpy(addr, t, addr_len);
	}
	addr[addr_len] = '\0';
	if (inet_pton(family, addr, bin) != 1)
		return reason_set(reason, rs, SMX_INVALID,
		    "nameserver \"%.*s\": not an IP%s address", (int)len, t,
		    family == AF_INET ? "v4" : "v6");
	if (port != NULL &&
	    smx_parse_ulong(port, port_len, 1, 65535, &pnum) != SMX_OK)
		return reason_set(reason, rs, SMX_INVALID,
		    "nameserver \"%.*s\": bad port", (int)len, t);
	if (inet_ntop(family, bin, out->addr, sizeof(out->addr)) == NULL)
		return reason_set(reason, rs, SMX_INVALID,
		    "nameserver \"%.*s\": bad address", (int)len, t);
	out->port = (uint16_t)pnum;
	return SMX_OK;
}

static bool
is_separator(char c)
{
	return c == ' ' || c == '\t' || c == ',';
}

enum smx_status
smx_dns_servers_parse(const char *s, size_t len, struct smx_dns_servers *out,
    char *reason, size_t rs)
{
	struct smx_dns_servers list;
	size_t i;
	size_t start;

	memset(&list, 0, sizeof(list));
	if (len > SMX_DNS_SERVERS_TEXT_MAX)
		return reason_set(reason, rs, SMX_INVALID,
		    "nameserver list longer than %d bytes",
		    SMX_DNS_SERVERS_TEXT_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c > 0x7e)
			return reason_set(reason, rs, SMX_INVALID,
			    "nameserver list: control or non-ASCII byte at offset %zu",
			    i);
	}
	for (i = 0; i < len;) {
		if (is_separator(s[i])) {
			i++;
			continue;
		}
		start = i;
		while (i < len && !is_separator(s[i]))
			i++;
		if (list.n_servers == SMX_DNS_SERVERS_MAX)
			return reason_set(reason, rs, SMX_INVALID,
			    "more than %d nameservers", SMX_DNS_SERVERS_MAX);
		if (server_token(s + start, i - start,
		        &list.server[list.n_servers], reason, rs) != SMX_OK)
			return SMX_INVALID;
		list.n_servers++;
	}
	*out = list;
	return SMX_OK;
}

void
smx_dns_opts_init(struct smx_dns_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout = DEFAULT_TIMEOUT;
	o->random = smx_random;
}

/* ---------------------------------------------------------------- */
/* Reply parsing (pure)                                              */

/*
 * abs_name - name with a trailing dot in buf (SMX_DOMAIN_MAX + 2), after
 * checking that it is a host name.
 */
static enum smx_status
abs_name(const char *name, char *buf, size_t size, char *reason, size_t rs)
{
	size_t len = strnlen(name, SMX_DOMAIN_MAX + 2);

	if (!smx_is_hostname(name, len))
		return reason_set(reason, rs, SMX_INVALID,
		    "not a valid domain name");
	if (name[len - 1] == '.')
		len--;
	if (len + 2 > size)
		return reason_set(reason, rs, SMX_INVALID, "name too long");
	memcpy(buf, name, len);
	buf[len] = '.';
	buf[len + 1] = '\0';
	return SMX_OK;
}

static const char *
rcode_name(ldns_pkt_rcode rc)
{
	switch (rc) {
	case LDNS_RCODE_FORMERR:
		return "FORMERR";
	case LDNS_RCODE_SERVFAIL:
		return "SERVFAIL";
	case LDNS_RCODE_NOTIMPL:
		return "NOTIMP";
	case LDNS_RCODE_REFUSED:
		return "REFUSED";
	default:
		return NULL;
	}
}

/*
 * reply_open - parse and check a reply. SMX_OK with *out (NOERROR; the
 * caller frees it), SMX_NOTFOUND for NXDOMAIN, else SMX_TEMPFAIL.
 */
static enum smx_status
reply_open(const unsigned char *wire, size_t len, const ldns_rdf *qname,
    ldns_rr_type type, uint16_t qid, ldns_pkt **out, char *reason, size_t rs)
{
	ldns_pkt *p = NULL;
	ldns_rr *q;
	ldns_pkt_rcode rc;
	const char *name;

	if (len < LDNS_HEADER_SIZE || len > SMX_DNS_REPLY_MAX)
		return reason_set(reason, rs, SMX_TEMPFAIL, "malformed reply");
	if (ldns_wire2pkt(&p, wire, len) != LDNS_STATUS_OK || p == NULL)
		return reason_set(reason, rs, SMX_TEMPFAIL, "malformed reply");
	q = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	rc = ldns_pkt_get_rcode(p);
	if (ldns_pkt_id(p) != qid || !ldns_pkt_qr(p) ||
	    ldns_pkt_get_opcode(p) != LDNS_PACKET_QUERY)
		goto mismatch;
	/*
	 * Error replies (FORMERR, SERVFAIL, REFUSED, ...) may come without
	 * the question; they fail temporarily either way, so the ID is
	 * enough to report their rcode. NOERROR and NXDOMAIN decide the
	 * outcome and must match the question.
	 */
	if (q == NULL && rc != LDNS_RCODE_NOERROR && rc != LDNS_RCODE_NXDOMAIN)
		goto rcode;
	if (ldns_rr_list_rr_count(ldns_pkt_question(p)) != 1 || q == NULL ||
	    ldns_rr_get_type(q) != type ||
	    ldns_rr_get_class(q) != LDNS_RR_CLASS_IN ||
	    ldns_rr_owner(q) == NULL ||
	    ldns_dname_compare(ldns_rr_owner(q), qname) != 0)
		goto mismatch;
	if (ldns_pkt_tc(p)) {
		ldns_pkt_free(p);
		return reason_set(reason, rs, SMX_TEMPFAIL, "truncated reply");
	}
	if (rc == LDNS_RCODE_NOERROR) {
		*out = p;
		return SMX_OK;
	}
rcode:
	ldns_pkt_free(p);
	if (rc == LDNS_RCODE_NXDOMAIN)
		return reason_set(reason, rs, SMX_NOTFOUND, "NXDOMAIN");
	name = rcode_name(rc);
	if (name != NULL)
		return reason_set(reason, rs, SMX_TEMPFAIL, "%s", name);
	return reason_set(reason, rs, SMX_TEMPFAIL, "rcode %d", (int)rc);
mismatch:
	ldns_pkt_free(p);
	return reason_set(reason, rs, SMX_TEMPFAIL,
	    "reply does not match query");
}

/* The query name and the names it leads to through CNAMEs. */
struct names {
	const ldns_rdf *name[SMX_DNS_CNAME_MAX + 1];
	size_t n_names;
};

static bool
names_has(const struct names *nm, const ldns_rdf *name)
{
	size_t i;

	for (i = 0; i < nm->n_names; i++) {
		if (ldns_dname_compare(nm->name[i], name) == 0)
			return true;
	}
	return false;
}

/*
 * names_chase - follow the CNAME chain of qname inside the answer
 * section, at most SMX_DNS_CNAME_MAX links; a loop stops at a name seen
 * before. The rdfs stay owned by the answer list.
 */
static void
names_chase(const ldns_rr_list *answer, const ldns_rdf *qname, struct names *nm)
{
	const ldns_rdf *cur = qname;
	const ldns_rdf *next;
	ldns_rr *rr;
	size_t i;

	nm->name[0] = qname;
	nm->n_names = 1;
	while (nm->n_names < SMX_DNS_CNAME_MAX + 1) {
		next = NULL;
		for (i = 0; i < ldns_rr_list_rr_count(answer); i++) {
			rr = ldns_rr_list_rr(answer, i);
			if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME ||
			    ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
			    ldns_rr_rd_count(rr) != 1 ||
			    ldns_rdf_get_type(ldns_rr_rdf(rr, 0)) !=
			        LDNS_RDF_TYPE_DNAME ||
			    ldns_dname_compare(ldns_rr_owner(rr), cur) != 0)
				continue;
			next = ldns_rr_rdf(rr, 0);
			break;
		}
		if (next == NULL || names_has(nm, next))
			return;
		nm->name[nm->n_names++] = next;
		cur = next;
	}
}

/*
 * dname_host - a domain-name rdf as a host name in lower case without the
 * trailing dot. Returns 1 for a host name, 0 for the root ".", -1 for
 * anything else (escapes, bad labels, too long, memory shortage).
 */
static int
dname_host(const ldns_rdf *rdf, char *buf, size_t size)
{
	char *s;
	size_t len;
	int ret = -1;

	if (rdf == NULL || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME)
		return -1;
	if (ldns_rdf_size(rdf) == 1 && ldns_rdf_data(rdf)[0] == 0)
		return 0;
	if ((s = ldns_rdf2str(rdf)) == NULL)
		return -1;
	len = strlen(s);
	if (smx_is_hostname(s, len)) {
		if (s[len - 1] == '.')
			len--;
		if (len < size) {
			memcpy(buf, s, len);
			buf[len] = '\0';
			smx_ascii_lower(buf, len);
			ret = 1;
		}
	}
	free(s);
	return ret;
}

static bool
rdf_is_int16(const ldns_rdf *rdf)
{
	return rdf != NULL && ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_INT16 &&
	    ldns_rdf_size(rdf) == 2;
}

/* relevant - an answer RR of the wanted type, class IN, and our name. */
static bool
relevant(const ldns_rr *rr, ldns_rr_type type, const struct names *nm)
{
	return ldns_rr_get_type(rr) == type &&
	    ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
	    names_has(nm, ldns_rr_owner(rr));
}

/*
 * srv_add - keep at most SMX_SRV_MAX records, preferring the lowest
 * priorities: a record over the cap replaces the worst kept one if it is
 * better. Counts every record that is not kept as dropped.
 */
static void
srv_add(struct smx_dns_srv_set *set, const struct smx_dns_srv *s)
{
	size_t worst = 0;
	size_t i;

	if (set->n_srv < SMX_SRV_MAX) {
		set->srv[set->n_srv++] = *s;
		return;
	}
	for (i = 1; i < set->n_srv; i++) {
		if (set->srv[i].priority >= set->srv[worst].priority)
			worst = i;
	}
	if (s->priority < set->srv[worst].priority)
		set->srv[worst] = *s;
	set->n_dropped++;
}

static void
mx_add(struct smx_dns_mx_set *set, const struct smx_dns_mx *m)
{
	size_t worst = 0;
	size_t i;

	if (set->n_mx < SMX_MX_MAX) {
		set->mx[set->n_mx++] = *m;
		return;
	}
	for (i = 1; i < set->n_mx; i++) {
		if (set->mx[i].preference >= set->mx[worst].preference)
			worst = i;
	}
	if (m->preference < set->mx[worst].preference)
		set->mx[worst] = *m;
	set->n_dropped++;
}

/*
 * host_rr - the fields of one SRV (n_ints 3) or MX (n_ints 1) record:
 * 16-bit integers, then a domain name. The field count and sizes are
 * checked before anything is read. Returns as dname_host; -1 also for a
 * wrong field count, type or size.
 */
static int
host_rr(const ldns_rr *rr, size_t n_ints, uint16_t *v, char *host, size_t size)
{
	size_t k;

	if (ldns_rr_rd_count(rr) != n_ints + 1)
		return -1;
	for (k = 0; k < n_ints; k++) {
		if (!rdf_is_int16(ldns_rr_rdf(rr, k)))
			return -1;
		v[k] = ldns_rdf2native_int16(ldns_rr_rdf(rr, k));
	}
	return dname_host(ldns_rr_rdf(rr, n_ints), host, size);
}

/* host_keep - store one usable SRV or MX record in the result. */
static void
host_keep(struct parse_arg *a, const uint16_t *v, const char *host)
{
	struct smx_dns_srv srv;
	struct smx_dns_mx mx;

	if (a->kind == KIND_SRV) {
		memset(&srv, 0, sizeof(srv));
		smx_strlcpy(srv.target, host, sizeof(srv.target));
		srv.priority = v[0];
		srv.weight = v[1];
		srv.port = v[2];
		srv_add(a->srv, &srv);
	} else {
		memset(&mx, 0, sizeof(mx));
		smx_strlcpy(mx.exchange, host, sizeof(mx.exchange));
		mx.preference = v[0];
		mx_add(a->mx, &mx);
	}
}

/*
 * host_records - the shared walk for SRV and MX answers: records of our
 * name, type and class IN only; a single "." is the null answer, "."
 * among others and unusable records are counted as dropped.
 */
static enum smx_status
host_records(ldns_pkt *p, const ldns_rdf *qname, struct parse_arg *a,
    char *reason, size_t rs)
{
	const ldns_rr_list *answer = ldns_pkt_answer(p);
	bool is_srv = a->kind == KIND_SRV;
	ldns_rr_type type = is_srv ? LDNS_RR_TYPE_SRV : LDNS_RR_TYPE_MX;
	const char *tname = is_srv ? "SRV" : "MX";
	size_t n_relevant = 0;
	size_t n_root = 0;
	size_t n_dropped = 0;
	size_t n_kept;
	struct names nm;
	uint16_t v[3];
	char host[SMX_DOMAIN_MAX + 1];
	ldns_rr *rr;
	size_t i;
	int h;

	names_chase(answer, qname, &nm);
	for (i = 0; i < ldns_rr_list_rr_count(answer); i++) {
		rr = ldns_rr_list_rr(answer, i);
		if (!relevant(rr, type, &nm))
			continue;
		n_relevant++;
		h = host_rr(rr, is_srv ? 3 : 1, v, host, sizeof(host));
		if (h < 0)
			n_dropped++;
		else if (h == 0)
			n_root++;
		else
			host_keep(a, v, host);
	}
	if (n_relevant == 0)
		return reason_set(reason, rs, SMX_NOTFOUND, "no %s records",
		    tname);
	if (n_relevant == 1 && n_root == 1) {
		if (is_srv)
			a->srv->is_null = true;
		else
			a->mx->is_null = true;
		return SMX_OK;
	}
	/* "." among several records: not a usable host; drop it. */
	n_dropped += n_root;
	if (is_srv) {
		a->srv->n_dropped += n_dropped;
		n_kept = a->srv->n_srv;
	} else {
		a->mx->n_dropped += n_dropped;
		n_kept = a->mx->n_mx;
	}
	if (n_kept == 0)
		return reason_set(reason, rs, SMX_TEMPFAIL,
		    "no usable %s record", tname);
	return SMX_OK;
}

static enum smx_status
addr_records(ldns_pkt *p, const ldns_rdf *qname, struct parse_arg *a,
    char *reason, size_t rs)
{
	const ldns_rr_list *answer = ldns_pkt_answer(p);
	bool is_v6 = a->family == AF_INET6;
	ldns_rr_type type = is_v6 ? LDNS_RR_TYPE_AAAA : LDNS_RR_TYPE_A;
	ldns_rdf_type rtype = is_v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A;
	size_t alen = is_v6 ? 16 : 4;
	struct smx_dns_addr_set *set = a->addrs;
	size_t n_before = set->n_addrs;
	size_t n_relevant = 0;
	size_t n_family = 0;
	struct smx_dns_addr *d;
	struct names nm;
	ldns_rdf *rdf;
	ldns_rr *rr;
	size_t i;

	names_chase(answer, qname, &nm);
	for (i = 0; i < ldns_rr_list_rr_count(answer); i++) {
		rr = ldns_rr_list_rr(answer, i);
		if (!relevant(rr, type, &nm))
			continue;
		n_relevant++;
		rdf = ldns_rr_rdf(rr, 0);
		if (ldns_rr_rd_count(rr) != 1 || rdf == NULL ||
		    ldns_rdf_get_type(rdf) != rtype ||
		    ldns_rdf_size(rdf) != alen ||
		    n_family == SMX_DNS_ADDRS_FAMILY_MAX ||
		    set->n_addrs == SMX_DNS_ADDRS_MAX) {
			set->n_dropped++;
			continue;
		}
		d = &set->addr[set->n_addrs];
		memset(d, 0, sizeof(*d));
		d->family = a->family;
		memcpy(d->addr, ldns_rdf_data(rdf), alen);
		if (inet_ntop(a->family, d->addr, d->text, sizeof(d->text)) ==
		    NULL) {
			set->n_dropped++;
			continue;
		}
		d->port = a->port;
		set->n_addrs++;
		n_family++;
	}
	if (n_relevant == 0)
		return reason_set(reason, rs, SMX_NOTFOUND, "no %s records",
		    is_v6 ? "AAAA" : "A");
	if (n_family == 0)
		return reason_set(reason, rs, SMX_TEMPFAIL,
		    "no usable %s record", is_v6 ? "AAAA" : "A");
	set->is_ad =
	    n_before == 0 ? ldns_pkt_ad(p) : set->is_ad && ldns_pkt_ad(p);
	return SMX_OK;
}

/*
 * tlsa_records - the TLSA records of our name: four fields, the first
 * three one byte each, the association data within SMX_TLSA_DATA_MAX;
 * at most SMX_TLSA_MAX; the rest counted as dropped.
 */
static enum smx_status
tlsa_records(ldns_pkt *p, const ldns_rdf *qname, struct parse_arg *a,
    char *reason, size_t rs)
{
	const ldns_rr_list *answer = ldns_pkt_answer(p);
	struct smx_dns_tlsa_set *set = a->tlsa;
	size_t n_relevant = 0;
	struct names nm;
	size_t i;

	names_chase(answer, qname, &nm);
	for (i = 0; i < ldns_rr_list_rr_count(answer); i++) {
		ldns_rr *rr = ldns_rr_list_rr(answer, i);
		const ldns_rdf *f[4];
		struct smx_dns_tlsa *t;
		size_t k;
		bool is_ok = ldns_rr_rd_count(rr) == 4;

		if (!relevant(rr, LDNS_RR_TYPE_TLSA, &nm))
			continue;
		n_relevant++;
		for (k = 0; is_ok && k < 4; k++) {
			f[k] = ldns_rr_rdf(rr, k);
			is_ok = f[k] != NULL &&
			    (k == 3 ? ldns_rdf_size(f[k]) >= 1 &&
			                ldns_rdf_size(f[k]) <= SMX_TLSA_DATA_MAX
			            : ldns_rdf_size(f[k]) == 1);
		}
		if (!is_ok || set->n_rr == SMX_TLSA_MAX) {
			set->n_dropped++;
			continue;
		}
		t = &set->rr[set->n_rr++];
		memset(t, 0, sizeof(*t));
		t->usage = ldns_rdf_data(f[0])[0];
		t->selector = ldns_rdf_data(f[1])[0];
		t->mtype = ldns_rdf_data(f[2])[0];
		t->len = (uint16_t)ldns_rdf_size(f[3]);
		memcpy(t->data, ldns_rdf_data(f[3]), t->len);
	}
	if (n_relevant == 0)
		return reason_set(reason, rs, SMX_NOTFOUND, "no TLSA records");
	if (set->n_rr == 0)
		return reason_set(reason, rs, SMX_TEMPFAIL,
		    "no usable TLSA record");
	return SMX_OK;
}

/*
 * parse_reply - the one parser behind the public ones and the resolver
 * path. Works on a copy of the result so that *out changes only on OK.
 */
static enum smx_status
parse_reply(const unsigned char *wire, size_t len, const char *qname,
    uint16_t qid, struct parse_arg *a, char *reason, size_t rs)
{
	static const ldns_rr_type types[] = { LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_MX,
		LDNS_RR_TYPE_A, LDNS_RR_TYPE_TLSA };
	char name[SMX_DOMAIN_MAX + 2];
	struct parse_arg work = *a;
	struct smx_dns_srv_set *srv = NULL;
	struct smx_dns_mx_set *mx = NULL;
	struct smx_dns_addr_set *addrs = NULL;
	struct smx_dns_tlsa_set *tlsa = NULL;
	ldns_rdf *qrdf = NULL;
	ldns_pkt *p = NULL;
	ldns_rr_type type = types[a->kind];
	enum smx_status st;

	if ((st = abs_name(qname, name, sizeof(name), reason, rs)) != SMX_OK)
		return st;
	if (a->kind == KIND_ADDR) {
		if (a->family != AF_INET && a->family != AF_INET6)
			return reason_set(reason, rs, SMX_INVALID,
			    "bad address family");
		if (a->family == AF_INET6)
			type = LDNS_RR_TYPE_AAAA;
	}
	if ((qrdf = ldns_dname_new_frm_str(name)) == NULL)
		return reason_set(reason, rs, SMX_INVALID,
		    "not a valid domain name");
	st = reply_open(wire, len, qrdf, type, qid, &p, reason, rs);
	if (st != SMX_OK) {
		a->is_nxdomain = st == SMX_NOTFOUND;
		goto out;
	}
	/* Heap copies: the sets are too large to copy on every stack. */
	if (a->kind == KIND_SRV) {
		if ((srv = calloc(1, sizeof(*srv))) == NULL)
			goto oom;
		srv->is_ad = ldns_pkt_ad(p);
		work.srv = srv;
		st = host_records(p, qrdf, &work, reason, rs);
	} else if (a->kind == KIND_MX) {
		if ((mx = calloc(1, sizeof(*mx))) == NULL)
			goto oom;
		mx->is_ad = ldns_pkt_ad(p);
		work.mx = mx;
		st = host_records(p, qrdf, &work, reason, rs);
	} else if (a->kind == KIND_TLSA) {
		if ((tlsa = calloc(1, sizeof(*tlsa))) == NULL)
			goto oom;
		tlsa->is_ad = ldns_pkt_ad(p);
		work.tlsa = tlsa;
		st = tlsa_records(p, qrdf, &work, reason, rs);
	} else {
		if ((addrs = malloc(sizeof(*addrs))) == NULL)
			goto oom;
		*addrs = *a->addrs;
		work.addrs = addrs;
		st = addr_records(p, qrdf, &work, reason, rs);
	}
	if (st == SMX_OK) {
		if (srv != NULL)
			*a->srv = *srv;
		if (mx != NULL)
			*a->mx = *mx;
		if (tlsa != NULL)
			*a->tlsa = *tlsa;
		if (addrs != NULL)
			*a->addrs = *addrs;
	}
	goto out;
oom:
	st = reason_set(reason, rs, SMX_TEMPFAIL, "out of memory");
out:
	free(tlsa);
	free(addrs);
	free(mx);
	free(srv);
	if (p != NULL)
		ldns_pkt_free(p);
	ldns_rdf_deep_free(qrdf);
	return st;
}

enum smx_status
smx_dns_srv_parse(const unsigned char *pkt, size_t len, const char *qname,
    uint16_t qid, struct smx_dns_srv_set *out, char *reason, size_t rs)
{
	struct parse_arg a;

	memset(&a, 0, sizeof(a));
	a.kind = KIND_SRV;
	a.srv = out;
	return parse_reply(pkt, len, qname, qid, &a, reason, rs);
}

enum smx_status
smx_dns_mx_parse(const unsigned char *pkt, size_t len, const char *qname,
    uint16_t qid, struct smx_dns_mx_set *out, char *reason, size_t rs)
{
	struct parse_arg a;

	memset(&a, 0, sizeof(a));
	a.kind = KIND_MX;
	a.mx = out;
	return parse_reply(pkt, len, qname, qid, &a, reason, rs);
}

enum smx_status
smx_dns_tlsa_parse(const unsigned char *pkt, size_t len, const char *qname,
    uint16_t qid, struct smx_dns_tlsa_set *out, char *reason, size_t rs)
{
	struct parse_arg a;

	memset(&a, 0, sizeof(a));
	a.kind = KIND_TLSA;
	a.tlsa = out;
	return parse_reply(pkt, len, qname, qid, &a, reason, rs);
}

enum smx_status
smx_dns_addrs_parse(const unsigned char *pkt, size_t len, const char *qname,
    uint16_t qid, int family, uint16_t port, struct smx_dns_addr_set *out,
    char *reason, size_t rs)
{
	struct parse_arg a;

	memset(&a, 0, sizeof(a));
	a.kind = KIND_ADDR;
	a.addrs = out;
	a.family = family;
	a.port = port;
	return parse_reply(pkt, len, qname, qid, &a, reason, rs);
}

/* ---------------------------------------------------------------- */
/* Resolver path                                                     */

/* servers_get - the servers of the options or of resolv.conf. */
static enum smx_status
servers_get(const struct smx_dns_opts *o, struct smx_dns_servers *out,
    char *reason, size_t rs)
{
	const char *file = o->resolv_conf ? o->resolv_conf : "/etc/resolv.conf";
	char why[SMX_DNS_REASON_MAX];
	ldns_resolver *r = NULL;
	ldns_rdf **ns;
	ldns_status ls;
	size_t i;
	char *s;

	memset(out, 0, sizeof(*out));
	if (o->nameservers != NULL && o->nameservers[0] != '\0') {
		if (smx_dns_servers_parse(o->nameservers,
		        strnlen(o->nameservers, SMX_DNS_SERVERS_TEXT_MAX + 1),
		        out, why, sizeof(why)) != SMX_OK)
			return reason_set(reason, rs, SMX_TEMPFAIL,
			    "bad dns_nameservers: %s", why);
		if (out->n_servers > 0)
			return SMX_OK;
	}
	ls = ldns_resolver_new_frm_file(&r, file);
	if (ls != LDNS_STATUS_OK)
		return reason_set(reason, rs, SMX_TEMPFAIL, "%s: %s", file,
		    ldns_get_errorstr_by_id(ls));
	ns = ldns_resolver_nameservers(r);
	for (i = 0; i < ldns_resolver_nameserver_count(r) &&
	     out->n_servers < SMX_DNS_SERVERS_MAX;
	     i++) {
		if ((s = ldns_rdf2str(ns[i])) == NULL)
			continue;
		if (smx_strlcpy(out->server[out->n_servers].addr, s,
		        sizeof(out->server[0].addr)) <
		    sizeof(out->server[0].addr)) {
			out->server[out->n_servers].port = 53;
			out->n_servers++;
		}
		free(s);
	}
	ldns_resolver_deep_free(r);
	if (out->n_servers == 0)
		return reason_set(reason, rs, SMX_TEMPFAIL,
		    "%s: no nameservers", file);
	return SMX_OK;
}

static const char *
send_error(ldns_status ls)
{
	/* ldns reports a timeout as a network error (ldns issue #106). */
	if (ls == LDNS_STATUS_NETWORK_ERR)
		return "timeout";
	return ldns_get_errorstr_by_id(ls);
}

/* resolver_for - a fresh resolver for one server; NULL on shortage. */
static ldns_resolver *
resolver_for(const struct smx_dns_opts *o, const struct smx_dns_server *sv)
{
	struct timeval tv;
	ldns_resolver *r;
	ldns_rdf *ns;

	ns = ldns_rdf_new_frm_str(strchr(sv->addr, ':') != NULL
	        ? LDNS_RDF_TYPE_AAAA
	        : LDNS_RDF_TYPE_A,
	    sv->addr);
	if (ns == NULL)
		return NULL;
	if ((r = ldns_resolver_new()) == NULL) {
		ldns_rdf_deep_free(ns);
		return NULL;
	}
	if (ldns_resolver_push_nameserver(r, ns) != LDNS_STATUS_OK) {
		ldns_rdf_deep_free(ns);
		ldns_resolver_deep_free(r);
		return NULL;
	}
	ldns_rdf_deep_free(ns);
	ldns_resolver_set_port(r, sv->port);
	tv.tv_sec = (time_t)o->timeout;
	tv.tv_usec = 0;
	ldns_resolver_set_timeout(r, tv);
	/* One attempt, no sleep(retrans) afterwards, no shuffling. */
	ldns_resolver_set_retry(r, 1);
	ldns_resolver_set_retrans(r, 0);
	ldns_resolver_set_random(r, false);
	ldns_resolver_set_fail(r, false);
	/* TC is handled here; absolute names, no search list. */
	ldns_resolver_set_fallback(r, false);
	ldns_resolver_set_usevc(r, false);
	ldns_resolver_set_igntc(r, false);
	ldns_resolver_set_dnsrch(r, false);
	ldns_resolver_set_defnames(r, false);
	ldns_resolver_set_recursive(r, true);
	if (o->trust_ad) {
		ldns_resolver_set_edns_udp_size(r, EDNS_UDP_SIZE);
		ldns_resolver_set_dnssec(r, true);
		ldns_resolver_set_dnssec_cd(r, false);
	}
	return r;
}

/*
 * query_one - one query to one server: UDP, then TCP if truncated. The
 * reply is parsed by parse_reply like any other wire packet.
 */
static enum smx_status
query_one(const struct smx_dns_opts *o, const struct smx_dns_server *sv,
    const char *qname, ldns_rr_type type, struct parse_arg *a, char *reason,
    size_t rs)
{
	uint16_t flags = LDNS_RD | (o->trust_ad ? LDNS_AD : 0);
	ldns_resolver *r = NULL;
	ldns_rdf *qrdf = NULL;
	ldns_pkt *q = NULL;
	ldns_pkt *ans = NULL;
	uint8_t *wire = NULL;
	size_t wire_len = 0;
	enum smx_status st;
	ldns_status ls;
	uint16_t qid;

	st = reason_set(reason, rs, SMX_TEMPFAIL, "out of memory");
	if ((r = resolver_for(o, sv)) == NULL)
		goto out;
	if ((qrdf = ldns_dname_new_frm_str(qname)) == NULL)
		goto out;
	if (ldns_resolver_prepare_query_pkt(&q, r, qrdf, type, LDNS_RR_CLASS_IN,
	        flags) != LDNS_STATUS_OK)
		goto out;
	qid = (uint16_t)smx_random(65536, NULL);
	ldns_pkt_set_id(q, qid);
	ls = ldns_resolver_send_pkt(&ans, r, q);
	if (ls != LDNS_STATUS_OK || ans == NULL) {
		st = reason_set(reason, rs, SMX_TEMPFAIL, "%s", send_error(ls));
		goto out;
	}
	if (ldns_pkt_tc(ans)) {
		ldns_pkt_free(ans);
		ans = NULL;
		ldns_resolver_set_usevc(r, true);
		ls = ldns_resolver_send_pkt(&ans, r, q);
		if (ls != LDNS_STATUS_OK || ans == NULL) {
			st = reason_set(reason, rs, SMX_TEMPFAIL,
			    "truncated reply, TCP retry failed: %s",
			    send_error(ls));
			goto out;
		}
	}
	if (ldns_pkt2wire(&wire, ans, &wire_len) != LDNS_STATUS_OK) {
		st = reason_set(reason, rs, SMX_TEMPFAIL, "malformed reply");
		goto out;
	}
	st = parse_reply(wire, wire_len, qname, qid, a, reason, rs);
out:
	free(wire);
	if (ans != NULL)
		ldns_pkt_free(ans);
	if (q != NULL)
		ldns_pkt_free(q);
	ldns_rdf_deep_free(qrdf);
	if (r != NULL)
		ldns_resolver_deep_free(r);
	return st;
}

static const char *
type_name(ldns_rr_type type)
{
	switch (type) {
	case LDNS_RR_TYPE_SRV:
		return "SRV";
	case LDNS_RR_TYPE_MX:
		return "MX";
	case LDNS_RR_TYPE_A:
		return "A";
	case LDNS_RR_TYPE_AAAA:
		return "AAAA";
	case LDNS_RR_TYPE_TLSA:
		return "TLSA";
	default:
		return "?";
	}
}

/*
 * query - ask the servers in order until one gives SMX_OK or
 * SMX_NOTFOUND. qname is absolute. A failure names its server.
 */
static enum smx_status
query(const struct smx_dns_opts *o, const char *qname, ldns_rr_type type,
    struct parse_arg *a, char *reason, size_t rs)
{
	struct smx_dns_servers servers;
	char why[SMX_DNS_REASON_MAX];
	enum smx_status st;
	size_t i;

	if (o->timeout < 1 || o->timeout > SMX_DNS_TIMEOUT_MAX)
		return reason_set(reason, rs, SMX_TEMPFAIL,
		    "dns_timeout out of range 1..%d", SMX_DNS_TIMEOUT_MAX);
	if ((st = servers_get(o, &servers, reason, rs)) != SMX_OK)
		return st;
	st = SMX_TEMPFAIL;
	for (i = 0; i < servers.n_servers; i++) {
		const struct smx_dns_server *sv = &servers.server[i];

		st = query_one(o, sv, qname, type, a, why, sizeof(why));
		if (st != SMX_TEMPFAIL) {
			reason_set(reason, rs, st, "%s", why);
			break;
		}
		smx_log_debug("dns: %s/%s from [%s]:%u: %s", qname,
		    type_name(type), sv->addr, (unsigned)sv->port, why);
		reason_set(reason, rs, st, "%s from [%s]:%u", why, sv->addr,
		    (unsigned)sv->port);
	}
	return st;
}

static void
warn_dropped(const char *qname, const char *type, size_t n)
{
	if (n > 0)
		smx_log_warning("dns: %s/%s: ignored %zu unusable records",
		    qname, type, n);
}

enum smx_status
smx_dns_lookup_srv(const struct smx_dns_opts *o, const char *domain,
    struct smx_dns_srv_set *out, char *reason, size_t rs)
{
	char dname[SMX_DOMAIN_MAX + 2];
	char qname[SMX_DOMAIN_MAX + 2];
	struct smx_dns_srv_set *set;
	struct parse_arg a;
	enum smx_status st;

	if ((st = abs_name(domain, dname, sizeof(dname), reason, rs)) != SMX_OK)
		return st;
	if (snprintf(qname, sizeof(qname), "_secmx._tcp.%s", dname) >=
	    (int)sizeof(qname))
		return reason_set(reason, rs, SMX_INVALID, "name too long");
	if ((set = calloc(1, sizeof(*set))) == NULL)
		return reason_set(reason, rs, SMX_TEMPFAIL, "out of memory");
	memset(&a, 0, sizeof(a));
	a.kind = KIND_SRV;
	a.srv = set;
	st = query(o, qname, LDNS_RR_TYPE_SRV, &a, reason, rs);
	if (st == SMX_NOTFOUND)
		reason_set(reason, rs, st, "no SecMX servers (%s)",
		    a.is_nxdomain ? "NXDOMAIN" : "no SRV records");
	if (st == SMX_OK) {
		warn_dropped(qname, "SRV", set->n_dropped);
		set->is_ad = set->is_ad && o->trust_ad;
		smx_order_srv(set->srv, set->n_srv,
		    o->random ? o->random : smx_random, o->random_ctx);
		*out = *set;
	}
	free(set);
	return st;
}

enum smx_status
smx_dns_lookup_addrs(const struct smx_dns_opts *o, const char *host,
    uint16_t port, struct smx_dns_addr_set *out, char *reason, size_t rs)
{
	char qname[SMX_DOMAIN_MAX + 2];
	char why6[SMX_DNS_REASON_MAX];
	char why4[SMX_DNS_REASON_MAX];
	struct smx_dns_addr_set set;
	struct parse_arg a;
	enum smx_status st6;
	enum smx_status st4;

	if ((st6 = abs_name(host, qname, sizeof(qname), reason, rs)) != SMX_OK)
		return st6;
	memset(&set, 0, sizeof(set));
	memset(&a, 0, sizeof(a));
	a.kind = KIND_ADDR;
	a.addrs = &set;
	a.port = port;
	a.family = AF_INET6;
	st6 = query(o, qname, LDNS_RR_TYPE_AAAA, &a, why6, sizeof(why6));
	a.family = AF_INET;
	st4 = query(o, qname, LDNS_RR_TYPE_A, &a, why4, sizeof(why4));
	if (set.n_addrs > 0) {
		if (st6 == SMX_TEMPFAIL || st4 == SMX_TEMPFAIL)
			smx_log_debug("dns: %s: using partial addresses (%s)",
			    qname, st6 == SMX_TEMPFAIL ? why6 : why4);
		warn_dropped(qname, "A/AAAA", set.n_dropped);
		set.is_ad = set.is_ad && o->trust_ad;
		*out = set;
		return SMX_OK;
	}
	if (st6 == SMX_NOTFOUND && st4 == SMX_NOTFOUND)
		return reason_set(reason, rs, SMX_NOTFOUND,
		    "no address records (%s)", why4);
	if (st6 == SMX_INVALID || st4 == SMX_INVALID)
		return reason_set(reason, rs, SMX_INVALID, "%s",
		    st6 == SMX_INVALID ? why6 : why4);
	return reason_set(reason, rs, SMX_TEMPFAIL, "%s",
	    st6 == SMX_TEMPFAIL ? why6 : why4);
}

enum smx_status
smx_dns_lookup_mx(const struct smx_dns_opts *o, const char *domain,
    struct smx_dns_mx_set *out, char *reason, size_t rs)
{
	char qname[SMX_DOMAIN_MAX + 2];
	struct smx_dns_addr_set addrs;
	struct smx_dns_mx_set *set;
	struct parse_arg a;
	enum smx_status st;

	if ((st = abs_name(domain, qname, sizeof(qname), reason, rs)) != SMX_OK)
		return st;
	if ((set = calloc(1, sizeof(*set))) == NULL)
		return reason_set(reason, rs, SMX_TEMPFAIL, "out of memory");
	memset(&a, 0, sizeof(a));
	a.kind = KIND_MX;
	a.mx = set;
	st = query(o, qname, LDNS_RR_TYPE_MX, &a, reason, rs);
	if (st == SMX_NOTFOUND && !a.is_nxdomain) {
		/* RFC 5321 section 5.1: no MX, so the domain is the host. */
		st = smx_dns_lookup_addrs(o, qname, 25, &addrs, reason, rs);
		if (st == SMX_OK) {
			memset(set, 0, sizeof(*set));
			smx_strlcpy(set->mx[0].exchange, qname,
			    sizeof(set->mx[0].exchange));
			set->mx[0].exchange[strlen(qname) - 1] = '\0';
			smx_ascii_lower(set->mx[0].exchange,
			    strlen(set->mx[0].exchange));
			set->n_mx = 1;
			set->is_implicit = true;
			set->is_ad = addrs.is_ad;
		}
	}
	if (st == SMX_OK) {
		warn_dropped(qname, "MX", set->n_dropped);
		set->is_ad = set->is_ad && o->trust_ad;
		smx_order_mx(set->mx, set->n_mx,
		    o->random ? o->random : smx_random, o->random_ctx);
		*out = *set;
	}
	free(set);
	return st;
}

enum smx_status
smx_dns_lookup_tlsa(const struct smx_dns_opts *o, uint16_t port,
    const char *host, struct smx_dns_tlsa_set *out, char *reason, size_t rs)
{
	char hname[SMX_DOMAIN_MAX + 2];
	char qname[SMX_DOMAIN_MAX + 2];
	struct smx_dns_tlsa_set *set;
	struct parse_arg a;
	enum smx_status st;

	if ((st = abs_name(host, hname, sizeof(hname), reason, rs)) != SMX_OK)
		return st;
	if (port == 0)
		return reason_set(reason, rs, SMX_INVALID, "bad port");
	if (snprintf(qname, sizeof(qname), "_%u._tcp.%s", (unsigned)port,
	        hname) >= (int)sizeof(qname))
		return reason_set(reason, rs, SMX_INVALID, "name too long");
	if ((set = calloc(1, sizeof(*set))) == NULL)
		return reason_set(reason, rs, SMX_TEMPFAIL, "out of memory");
	memset(&a, 0, sizeof(a));
	a.kind = KIND_TLSA;
	a.tlsa = set;
	st = query(o, qname, LDNS_RR_TYPE_TLSA, &a, reason, rs);
	if (st == SMX_OK) {
		warn_dropped(qname, "TLSA", set->n_dropped);
		set->is_ad = set->is_ad && o->trust_ad;
		*out = *set;
	}
	free(set);
	return st;
}
