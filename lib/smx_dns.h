/* SPDX-License-Identifier: MIT */
#ifndef SMX_DNS_H
#define SMX_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smx_limits.h"
#include "smx_order.h"
#include "smx_status.h"

/*
 * SecMX discovery over DNS: SRV records _secmx._tcp.<domain>, MX records
 * for the Best Effort fallback, and the addresses of a target host.
 *
 * Time: every query is sent to the nameservers one after the other, each
 * with one attempt bounded by timeout seconds and no pause in between.
 * A server that answers with TC=1 is asked once more over TCP, again
 * bounded by timeout for the connect and for the read. So the worst case
 * of one query is about n_servers x timeout when nobody answers, and
 * n_servers x 3 x timeout when every server truncates and then stalls
 * over TCP. smx_dns_lookup_srv sends one query, smx_dns_lookup_addrs two
 * (AAAA and A), smx_dns_lookup_mx up to three (MX, then AAAA and A for an
 * implicit MX).
 *
 * Reasons: every function that can fail writes a short, printable reason
 * into a caller-provided buffer (SMX_DNS_REASON_MAX is enough) for logs
 * and DSN text: "SERVFAIL", "timeout", "reply does not match query", ...
 */

#define SMX_DNS_REASON_MAX 256
/* Longest textual IPv6 address (INET6_ADDRSTRLEN minus its NUL). */
#define SMX_DNS_ADDR_TEXT_MAX 45

/* struct smx_dns_server - one nameserver: an IP address and a UDP/TCP port. */
struct smx_dns_server {
	char addr[SMX_DNS_ADDR_TEXT_MAX + 1]; /* no brackets, no %scope */
	uint16_t port;
};

/* struct smx_dns_servers - a parsed nameserver list, in the given order. */
struct smx_dns_servers {
	struct smx_dns_server server[SMX_DNS_SERVERS_MAX];
	size_t n_servers;
};

/*
 * smx_dns_servers_parse - parse the dns_nameservers parameter: items
 * separated by spaces, tabs or commas, each "ADDR" (port 53), "ADDR:PORT"
 * for IPv4, "IPv6" (port 53), "[IPv6]" or "[IPv6]:PORT". ADDR must be a
 * numeric address (inet_pton); PORT is 1..65535 in decimal. Every server
 * may have its own port: each is asked through its own resolver. Empty
 * input (or only separators) gives SMX_OK with n_servers 0, meaning
 * "use /etc/resolv.conf". Returns SMX_OK with *out, or SMX_INVALID with a
 * reason (bad address, bad port, too many servers, text over
 * SMX_DNS_SERVERS_TEXT_MAX, a NUL or control byte). Writes *out only on
 * SMX_OK. Pure; never exits.
 */
enum smx_status smx_dns_servers_parse(const char *s, size_t len,
    struct smx_dns_servers *out, char *reason, size_t reason_size);

/*
 * struct smx_dns_opts - how to query. Fill with smx_dns_opts_init, then
 * set fields; the strings are borrowed, not copied, and must outlive the
 * lookups.
 * nameservers: NULL or "" = the servers of resolv_conf; otherwise a list
 *   for smx_dns_servers_parse (a bad list makes every lookup SMX_TEMPFAIL).
 * resolv_conf: NULL = /etc/resolv.conf. Only its nameserver lines are
 *   used (at most SMX_DNS_SERVERS_MAX, port 53); search, domain and
 *   options are ignored.
 * timeout: seconds per attempt and server, 1..SMX_DNS_TIMEOUT_MAX.
 * trust_ad: send EDNS0 (UDP size 1232) with DO and ask for AD (RFC 6840
 *   section 5.7); report the reply's AD bit. Off: no EDNS0, is_ad false.
 * random, random_ctx: the ordering randomness (smx_random by default).
 */
struct smx_dns_opts {
	const char *nameservers;
	const char *resolv_conf;
	unsigned timeout;
	bool trust_ad;
	smx_random_fn *random;
	void *random_ctx;
};

/* smx_dns_opts_init - resolv.conf servers, timeout 5, trust_ad off. */
void smx_dns_opts_init(struct smx_dns_opts *);

/*
 * struct smx_dns_srv - one SRV record. target is a validated host name in
 * lower case without the trailing dot.
 */
struct smx_dns_srv {
	char target[SMX_DOMAIN_MAX + 1];
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
};

/*
 * struct smx_dns_srv_set - the usable SRV records of one answer.
 * is_null: the answer was exactly one SRV record with target "." (RFC
 *   2782: the service is decidedly not available); then n_srv is 0 and
 *   the status is SMX_OK. A "." among several records is dropped.
 * is_ad: the reply had the AD bit (the parsers report it as received;
 *   the lookups only when trust_ad is on).
 * n_dropped: records of the right owner, type and class that were not
 *   usable (bad rdata, a target that is not a host name, "." among
 *   others, over SMX_SRV_MAX); for a warning in the log.
 */
struct smx_dns_srv_set {
	struct smx_dns_srv srv[SMX_SRV_MAX];
	size_t n_srv;
	size_t n_dropped;
	bool is_null;
	bool is_ad;
};

/*
 * struct smx_dns_mx - one MX record; exchange as smx_dns_srv.target.
 * struct smx_dns_mx_set - the usable MX records of one answer.
 * is_null: exactly one MX with exchange "." (RFC 7505 null MX: the domain
 *   accepts no mail; the caller bounces with 5.1.10); n_mx is 0.
 * is_implicit: there was no MX but the domain has addresses, so the
 *   domain itself is the only exchange, at preference 0 (RFC 5321
 *   section 5.1).
 */
struct smx_dns_mx {
	char exchange[SMX_DOMAIN_MAX + 1];
	uint16_t preference;
};

struct smx_dns_mx_set {
	struct smx_dns_mx mx[SMX_MX_MAX];
	size_t n_mx;
	size_t n_dropped;
	bool is_null;
	bool is_implicit;
	bool is_ad;
};

/* struct smx_dns_addr - one address of a target host, with its port. */
struct smx_dns_addr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network order; 4 bytes used for AF_INET */
	char text[SMX_DNS_ADDR_TEXT_MAX + 1];
	uint16_t port;
};

/*
 * struct smx_dns_addr_set - the addresses of one host: the AAAA records
 * first, then the A records (RFC 6724 prefers IPv6 by default), each in
 * answer order, at most SMX_DNS_ADDRS_FAMILY_MAX per family. is_ad is
 * true only when every reply that gave addresses had AD set.
 */
struct smx_dns_addr_set {
	struct smx_dns_addr addr[SMX_DNS_ADDRS_MAX];
	size_t n_addrs;
	size_t n_dropped;
	bool is_ad;
};

/*
 * struct smx_dns_tlsa - one TLSA record (RFC 6698 section 2.1): the
 * certificate usage, selector and matching type as published, and the
 * certificate association data.
 * struct smx_dns_tlsa_set - the TLSA records of one answer, in answer
 * order. is_ad: as for the other sets (DNSSEC-validated only with
 * trust_ad). n_dropped: records of the name that were malformed or over
 * the caps.
 */
struct smx_dns_tlsa {
	uint8_t usage;
	uint8_t selector;
	uint8_t mtype;
	uint16_t len;
	unsigned char data[SMX_TLSA_DATA_MAX];
};

struct smx_dns_tlsa_set {
	struct smx_dns_tlsa rr[SMX_TLSA_MAX];
	size_t n_rr;
	size_t n_dropped;
	bool is_ad;
};

/*
 * smx_dns_srv_parse - validate one wire-format reply to the SRV query
 * qname (text, with or without the trailing dot) with message ID qid, and
 * extract its SRV records in answer order (not yet ordered). Pure: no
 * I/O, no logging; this is what lookups and the fuzzer call.
 * Returns:
 *   SMX_OK with *out: at least one usable record, or is_null;
 *   SMX_NOTFOUND: NXDOMAIN, or NOERROR without SRV records of the name
 *     (NODATA; records of other names or types are ignored);
 *   SMX_TEMPFAIL: a reply that cannot be parsed or exceeds
 *     SMX_DNS_REPLY_MAX, that does not match the query (ID, QR, opcode,
 *     question name, type or class: "reply does not match query"; an
 *     error rcode with the right ID may omit the question), TC set
 *     ("truncated reply"), an rcode other than NOERROR and NXDOMAIN
 *     ("SERVFAIL", "REFUSED", ...), or SRV records of the name of which
 *     none is usable ("no usable SRV record");
 *   SMX_INVALID: qname is not a host name.
 * Never SMX_PERMFAIL. Writes *out only on SMX_OK. Never exits.
 */
enum smx_status smx_dns_srv_parse(const unsigned char *pkt, size_t len,
    const char *qname, uint16_t qid, struct smx_dns_srv_set *out, char *reason,
    size_t reason_size);

/*
 * smx_dns_mx_parse - the same for an MX query: is_null for a single MX
 * with exchange "."; "." among several is dropped. SMX_NOTFOUND for
 * NXDOMAIN and for NODATA (the implicit MX is the lookup's business).
 * Statuses otherwise as smx_dns_srv_parse. Pure; never exits.
 */
enum smx_status smx_dns_mx_parse(const unsigned char *pkt, size_t len,
    const char *qname, uint16_t qid, struct smx_dns_mx_set *out, char *reason,
    size_t reason_size);

/*
 * smx_dns_addrs_parse - the same for an A (family AF_INET) or AAAA
 * (AF_INET6) query. Appends at most SMX_DNS_ADDRS_FAMILY_MAX addresses,
 * each with port, to *out (which the caller zeroes first) and ANDs is_ad
 * in. SMX_INVALID also for another family. Pure; never exits.
 */
enum smx_status smx_dns_addrs_parse(const unsigned char *pkt, size_t len,
    const char *qname, uint16_t qid, int family, uint16_t port,
    struct smx_dns_addr_set *out, char *reason, size_t reason_size);

/*
 * smx_dns_tlsa_parse - the same for a TLSA query (qname
 * "_PORT._tcp.HOST"): SMX_OK with at least one record of four fields (the
 * first three one byte each, the data 1..SMX_TLSA_DATA_MAX bytes);
 * SMX_NOTFOUND for NXDOMAIN and NODATA; SMX_TEMPFAIL as above, and when
 * records exist but none is well-formed. Pure; never exits.
 */
enum smx_status smx_dns_tlsa_parse(const unsigned char *pkt, size_t len,
    const char *qname, uint16_t qid, struct smx_dns_tlsa_set *out, char *reason,
    size_t reason_size);

/*
 * smx_dns_lookup_srv - query _secmx._tcp.<domain>. (absolute; never the
 * search list) and return the records ordered by smx_order_srv.
 * domain is a host name with or without the trailing dot. Statuses as
 * smx_dns_srv_parse, plus SMX_TEMPFAIL for "timeout", network errors, no
 * usable nameserver, a bad nameserver list or resolv.conf, and memory
 * shortage; SMX_INVALID for a bad domain. Every server is tried until one
 * gives OK or NOTFOUND; the reason then names the last failure and its
 * server. Logs a warning when records were dropped. Writes *out only on
 * SMX_OK. Never exits.
 */
enum smx_status smx_dns_lookup_srv(const struct smx_dns_opts *,
    const char *domain, struct smx_dns_srv_set *out, char *reason,
    size_t reason_size);

/*
 * smx_dns_lookup_mx - query MX for domain and order the result with
 * smx_order_mx. NODATA leads to an A/AAAA lookup of the domain: with
 * addresses the result is the implicit MX (is_implicit, SMX_OK), without
 * SMX_NOTFOUND. NXDOMAIN gives SMX_NOTFOUND; is_null as smx_dns_mx_parse.
 * Other statuses as smx_dns_lookup_srv. Writes *out only on SMX_OK.
 * Never exits.
 */
enum smx_status smx_dns_lookup_mx(const struct smx_dns_opts *,
    const char *domain, struct smx_dns_mx_set *out, char *reason,
    size_t reason_size);

/*
 * smx_dns_lookup_addrs - query AAAA and A for host and return every
 * address (AAAA first) with port. SMX_OK when either query gave
 * addresses, even if the other failed; SMX_NOTFOUND when both are
 * NXDOMAIN or NODATA; otherwise SMX_TEMPFAIL with the reason of a failed
 * query. SMX_INVALID for a bad host name. Writes *out only on SMX_OK.
 * Never exits.
 */
enum smx_status smx_dns_lookup_addrs(const struct smx_dns_opts *,
    const char *host, uint16_t port, struct smx_dns_addr_set *out, char *reason,
    size_t reason_size);

/*
 * smx_dns_lookup_tlsa - query TLSA at _PORT._tcp.HOST. (RFC 6698 section
 * 3; RFC 7672 section 2.2.3 for MX hosts at port 25; RFC 7673 for SRV
 * targets at the SRV port). Statuses as smx_dns_lookup_srv; a SERVFAIL
 * from a validating resolver (a bogus answer) is SMX_TEMPFAIL. is_ad is
 * set only with trust_ad. Writes *out only on SMX_OK. Never exits.
 */
enum smx_status smx_dns_lookup_tlsa(const struct smx_dns_opts *, uint16_t port,
    const char *host, struct smx_dns_tlsa_set *out, char *reason,
    size_t reason_size);

#endif
