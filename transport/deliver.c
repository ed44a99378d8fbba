/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	deliver - one secmx-transport delivery: role, route, attempts
 * DESCRIPTION
 *	Decides the sending role (smx_route_sender_role), the destination (the
 *	next hop, else the one domain of all recipients) and the route:
 *
 *	- [host]:port next hop: that host only, with the TLS rules of an MX
 *	  route (no SRV or MX lookup, as Postfix's [] form);
 *	- _secmx._tcp SRV targets (smx_route_srv): every address of every
 *	  target in order, STARTTLS mandatory, the certificate checked per
 *	  tls_verify against the destination, ".destination" and, when the
 *	  answer was DNSSEC-validated and dns_trust_ad = yes, the target;
 *	- otherwise the MX hosts (smx_route_mx): STARTTLS when offered for a
 *	  Best Effort Sender (plaintext when not offered or when the
 *	  handshake fails), mandatory for a Secure Only Sender, unverified
 *	  in both cases (MX names are not authenticated without DANE).
 *
 *	Each attempt is smtp_session_deliver; outcome_agg decides when to
 *	stop and what the result is.
 * LIMITS
 *	TRANSPORT_ATTEMPTS_MAX connections per run. Every attempt gets
 *	timeouts from outcome_time_budget so that it fits in what is left of
 *	delivery_time_limit; DNS waits at most dns_timeout (cut to the time
 *	left) per query and server.
 * DIAGNOSTICS
 *	syslog, one line per attempt and recipient, one per outcome and
 *	recipient, in the same space-separated key=value form as the
 *	policy server's audit lines: "QUEUEID: to=<r> relay=host[addr]:port
 *	route=srv role=sos tls=TLSv1.3 cipher=... verify=ok status=sent
 *	(text)".
 * SECURITY
 *	DNS answers, server replies and certificates are untrusted; values
 *	in log lines are bounded by SMX_LOG_VALUE_MAX and made printable by
 *	smx_log. An unvalidated SRV target name never counts as a
 *	certificate reference name.
 * SEE ALSO
 *	smx_route.h, outcome.h, smtp_session.h; SecMX Level 2 section 5;
 *	Postfix TLS_README (security levels may, encrypt, secure).
 */
#include "deliver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "smx_dns.h"
#include "smx_io.h"
#include "smx_limits.h"
#include "smx_log.h"
#include "smx_tls.h"
#include "smx_util.h"
#include "smx_route.h"
#include "smtp_session.h"

#define W SMX_LOG_VALUE_MAX

/* The state of one run. */
struct run {
	const struct deliver_request *rq;
	const char *role_name;  /* "sos" or "bes" */
	const char *route_name; /* "srv" or "mx" */
	bool is_sos;
	char destination[SMX_DOMAIN_MAX + 3]; /* domain, or "[host]" */
	struct smx_tls_ctx *ctx_verify;       /* SRV: per tls_verify */
	struct smx_tls_ctx *ctx_none;         /* MX and relay: verify=none */
	size_t n_attempts;
	bool is_out_of_time;
	bool is_local_failure;
	struct outcome local; /* with is_local_failure */
};

static const char *
queue_id(const struct run *r)
{
	const char *q = r->rq->queue_id;

	return q != NULL && q[0] != '\0' ? q : "NOQUEUE";
}

/* One audit line per recipient. */
static void
audit(const struct run *r, const char *relay, const char *proto,
    const char *cipher, enum smx_tls_verified verified, enum smx_status st,
    const char *text)
{
	size_t i;

	for (i = 0; i < r->rq->n_recipients; i++)
		smx_log_info(
		    "%s: to=<%.*s> relay=%.*s route=%s role=%s tls=%s cipher=%s verify=%s status=%s (%.*s)",
		    queue_id(r), W, r->rq->recipients[i], W,
		    relay[0] != '\0' ? relay : "none", r->route_name,
		    r->role_name, proto[0] != '\0' ? proto : "none",
		    cipher[0] != '\0' ? cipher : "none",
		    smx_tls_verified_name(verified), outcome_status_name(st),
		    SMX_LOG_LINE_MAX, text);
}

static void
audit_attempt(const struct run *r, const struct smtp_session_result *res)
{
	char line[TRANSPORT_LINE_MAX + 1];
	enum smx_status st = res->is_delivered ? SMX_OK : res->status;

	if (res->is_delivered)
		(void)snprintf(line, sizeof(line), "%s", res->text);
	else
		smtp_session_format(res, line, sizeof(line));
	audit(r, res->peer, res->has_tls ? res->tls.protocol : "",
	    res->has_tls ? res->tls.cipher : "", res->tls.verified, st, line);
	if (res->is_tls_fallback)
		smx_log_info(
		    "%s: TLS with %.*s failed, delivered in plaintext (Best Effort Sender): %.*s",
		    queue_id(r), W, res->peer, W, res->tls_failure);
}

static void
local_failure(struct run *r, enum smx_status st, const char *enhanced,
    const char *text)
{
	r->is_local_failure = true;
	outcome_set(&r->local, st, enhanced, text);
}

/* The two TLS contexts, made on first use. NULL after local_failure. */
static struct smx_tls_ctx *
tls_ctx(struct run *r, bool is_verify)
{
	const struct smx_config *cfg = r->rq->cfg;
	struct smx_tls_ctx **slot = is_verify ? &r->ctx_verify : &r->ctx_none;
	struct smx_tls_options o;
	char reason[SMX_TLS_REASON_MAX];
	char text[SMX_TLS_REASON_MAX + 64];

	if (*slot != NULL)
		return *slot;
	memset(&o, 0, sizeof(o));
	/* STYLE: TLS 1.2 at least, whatever the receiving side accepts. */
	o.min_protocol =
	    cfg->tls_min_protocol >= SMX_TLS_1_3 ? "TLSv1.3" : "TLSv1.2";
	o.verify = is_verify ? cfg->tls_verify : SMX_TLS_VERIFY_NONE;
	o.ca_file = cfg->tls_ca_file;
	o.ca_path = cfg->tls_ca_path;
	if (smx_tls_ctx_new(&o, slot, reason, sizeof(reason)) != SMX_OK) {
		smx_log_error("TLS client setup failed: %s", reason);
		(void)snprintf(text, sizeof(text),
		    "TLS client setup failed: %s", reason);
		local_failure(r, SMX_TEMPFAIL, "4.3.0", text);
		*slot = NULL;
	}
	return *slot;
}

static long long
remaining_ms(const struct run *r)
{
	return r->rq->deadline_ms - smx_io_now_ms();
}

/* DNS options with the timeout cut to the time left; false: none left. */
static bool
dns_opts(struct run *r, struct smx_dns_opts *o)
{
	long long left = remaining_ms(r) / 1000;

	smx_dns_opts_init(o);
	o->nameservers = r->rq->cfg->dns_nameservers;
	o->trust_ad = r->rq->cfg->dns_trust_ad;
	o->timeout = (unsigned)r->rq->cfg->dns_timeout;
	if (left < 1) {
		r->is_out_of_time = true;
		return false;
	}
	if ((long long)o->timeout > left)
		o->timeout = (unsigned)left;
	return true;
}

/* One address from smx_dns into a socket address. */
static socklen_t
make_sockaddr(const struct smx_dns_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->addr, 16);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(a->port);
	memcpy(&s4->sin_addr, a->addr, 4);
	return sizeof(*s4);
}

/* What one target is tried with. */
struct target_policy {
	enum smtp_tls_policy tls;
	bool is_verify; /* the tls_verify context, with reference names */
	const char *const *names;
	size_t n_names;
};

/* Every address of one host; true when the delivery is decided. */
static bool
try_addrs(struct run *r, struct outcome_agg *agg, const char *host,
    const struct smx_dns_addr_set *set, const struct target_policy *tp)
{
	const struct deliver_request *rq = r->rq;
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct smx_tls_ctx *ctx;
	size_t i;

	if ((ctx = tls_ctx(r, tp->is_verify)) == NULL)
		return true;
	for (i = 0; i < set->n_addrs; i++) {
		struct sockaddr_storage ss;
		int connect_ms;
		int timeout_ms;

		if (r->n_attempts >= TRANSPORT_ATTEMPTS_MAX) {
			outcome_agg_add_local(agg, "4.4.4",
			    "too many delivery attempts; trying again later");
			return true;
		}
		if (!outcome_time_budget(remaining_ms(r),
		        rq->cfg->smtp_connect_timeout, rq->cfg->smtp_timeout,
		        &connect_ms, &timeout_ms)) {
			r->is_out_of_time = true;
			return true;
		}
		r->n_attempts++;
		memset(&p, 0, sizeof(p));
		p.addr_len = make_sockaddr(&set->addr[i], &ss);
		p.addr = (const struct sockaddr *)&ss;
		p.host = host;
		p.helo = rq->helo;
		p.sender = rq->sender;
		p.recipients = rq->recipients;
		p.n_recipients = rq->n_recipients;
		p.tls_policy = tp->tls;
		p.tls_ctx = ctx;
		p.tls_names = tp->names;
		p.n_tls_names = tp->n_names;
		p.connect_timeout_ms = connect_ms;
		p.timeout_ms = timeout_ms;
		p.message = rq->message;
		(void)smtp_session_deliver(&p, &res);
		audit_attempt(r, &res);
		if (outcome_agg_add(agg, &res))
			return true;
	}
	return false;
}

/* Look up host's addresses and try them; true when decided. */
static bool
try_host(struct run *r, struct outcome_agg *agg, const char *host,
    uint16_t port, const struct target_policy *tp)
{
	struct smx_dns_addr_set set;
	struct smx_dns_opts o;
	char reason[SMX_DNS_REASON_MAX];
	char text[SMX_DNS_REASON_MAX + SMX_DOMAIN_MAX + 64];
	enum smx_status st;

	if (!dns_opts(r, &o))
		return true;
	memset(&set, 0, sizeof(set));
	st = smx_dns_lookup_addrs(&o, host, port, &set, reason, sizeof(reason));
	if (st != SMX_OK) {
		(void)snprintf(text, sizeof(text),
		    "cannot find the addresses of %s: %s", host,
		    st == SMX_NOTFOUND ? "host not found" : reason);
		smx_log_warning("%s: %s", queue_id(r), text);
		outcome_agg_add_local(agg,
		    st == SMX_NOTFOUND ? "4.4.4" : "4.4.3", text);
		return false;
	}
	return try_addrs(r, agg, host, &set, tp);
}

/* The [host] or [address] next hop, with the TLS rules of an MX route. */
static void
run_relay(struct run *r, const struct smx_route_nexthop *nh,
    struct outcome_agg *agg)
{
	struct target_policy tp = {
		.tls = r->is_sos ? SMTP_TLS_ENCRYPT : SMTP_TLS_MAY,
	};
	struct smx_dns_addr_set set;
	unsigned char bin[16];

	r->route_name = "mx";
	outcome_agg_init(agg, OUTCOME_ROUTE_RELAY, r->is_sos, nh->host);
	if (nh->kind == SMX_ROUTE_NEXTHOP_HOST) {
		(void)try_host(r, agg, nh->host, nh->port, &tp);
		return;
	}
	memset(&set, 0, sizeof(set));
	set.n_addrs = 1;
	set.addr[0].port = nh->port;
	smx_strlcpy(set.addr[0].text, nh->host, sizeof(set.addr[0].text));
	if (inet_pton(AF_INET, nh->host, bin) == 1) {
		set.addr[0].family = AF_INET;
		memcpy(set.addr[0].addr, bin, 4);
	} else if (inet_pton(AF_INET6, nh->host, bin) == 1) {
		set.addr[0].family = AF_INET6;
		memcpy(set.addr[0].addr, bin, 16);
	} else {
		outcome_agg_add_local(agg, "4.3.5", "bad next-hop address");
		return;
	}
	(void)try_addrs(r, agg, NULL, &set, &tp);
}

/* Every SRV target in order; TLS mandatory. */
static void
run_srv(struct run *r, const struct smx_route *rt, const char *domain,
    struct outcome_agg *agg)
{
	bool use_target = rt->is_ad && r->rq->cfg->dns_trust_ad;
	size_t i;

	r->route_name = "srv";
	outcome_agg_init(agg, OUTCOME_ROUTE_SRV, r->is_sos, domain);
	for (i = 0; i < rt->n_targets && !r->is_out_of_time; i++) {
		struct smx_route_tls_names names;
		struct target_policy tp = { .tls = SMTP_TLS_ENCRYPT,
			.is_verify = true };

		smx_route_tls_names(domain, rt->target[i].host, use_target,
		    &names);
		tp.names = names.names;
		tp.n_names = names.n_names;
		if (try_host(r, agg, rt->target[i].host, rt->target[i].port,
		        &tp))
			return;
	}
}

/* Every MX host in order: may (BES) or encrypt (SOS), unverified. */
static void
run_mx(struct run *r, const struct smx_route *rt, const char *domain,
    struct outcome_agg *agg)
{
	struct target_policy tp = {
		.tls = r->is_sos ? SMTP_TLS_ENCRYPT : SMTP_TLS_MAY,
	};
	size_t i;

	r->route_name = "mx";
	outcome_agg_init(agg, OUTCOME_ROUTE_MX, r->is_sos, domain);
	for (i = 0; i < rt->n_targets && !r->is_out_of_time; i++) {
		if (try_host(r, agg, rt->target[i].host, rt->target[i].port,
		        &tp))
			return;
	}
}

/*
 * Discovery for a domain: SRV, else MX. Returns true when *out is already
 * the outcome (DNS failure, null MX, no such domain).
 */
static bool
run_domain(struct run *r, const char *domain, struct outcome_agg *agg,
    struct outcome *out)
{
	struct smx_dns_opts o;
	struct smx_route rt;
	char reason[SMX_DNS_REASON_MAX];
	char text[SMX_DNS_REASON_MAX + SMX_DOMAIN_MAX + 96];
	char fmt[TRANSPORT_LINE_MAX + 1];
	enum smx_status st;

	r->route_name = "srv";
	if (!dns_opts(r, &o))
		return false;
	st = smx_route_srv(&o, domain, &rt, reason, sizeof(reason));
	if (st == SMX_OK) {
		smx_route_format(&rt, fmt, sizeof(fmt));
		smx_log_debug("%s: %s: %s", queue_id(r), domain, fmt);
		run_srv(r, &rt, domain, agg);
		return false;
	}
	if (st != SMX_NOTFOUND) {
		(void)snprintf(text, sizeof(text),
		    "DNS lookup of _secmx._tcp.%s failed: %s", domain, reason);
		outcome_set(out, SMX_TEMPFAIL, "4.4.3", text);
		return true;
	}
	r->route_name = "mx";
	if (!dns_opts(r, &o))
		return false;
	st = smx_route_mx(&o, domain, &rt, reason, sizeof(reason));
	if (st == SMX_OK && rt.is_null) {
		outcome_set(out, SMX_PERMFAIL, "5.1.10",
		    "Recipient address rejected: domain does not accept mail (null MX)");
		return true;
	}
	if (st == SMX_NOTFOUND) {
		(void)snprintf(text, sizeof(text),
		    "Host or domain name not found. Name service error for name=%s type=MX: Host not found",
		    domain);
		outcome_set(out, SMX_PERMFAIL, "5.1.2", text);
		return true;
	}
	if (st != SMX_OK) {
		(void)snprintf(text, sizeof(text),
		    "DNS lookup of MX for %s failed: %s", domain, reason);
		outcome_set(out, SMX_TEMPFAIL, "4.4.3", text);
		return true;
	}
	smx_route_format(&rt, fmt, sizeof(fmt));
	smx_log_debug("%s: %s: %s", queue_id(r), domain, fmt);
	run_mx(r, &rt, domain, agg);
	return false;
}

/*
 * The destination: the next hop, else the single domain of all
 * recipients. Also the domain used for destination_roles (dest_domain,
 * "" when there is none). false with *out set on failure.
 */
static bool
destination(struct run *r, struct smx_route_nexthop *nh, char *dest_domain,
    size_t size, struct outcome *out)
{
	const struct deliver_request *rq = r->rq;
	char first[SMX_DOMAIN_MAX + 3] = "";
	char d[SMX_DOMAIN_MAX + 3];
	char text[2 * SMX_DOMAIN_MAX + 128];
	size_t i;

	for (i = 0; i < rq->n_recipients; i++) {
		if (smx_route_address_domain(rq->recipients[i], d, sizeof(d)) !=
		    SMX_OK) {
			first[0] = '\0';
			if (rq->nexthop != NULL && rq->nexthop[0] != '\0')
				break;
			outcome_set(out, SMX_TEMPFAIL, "4.3.5",
			    "recipient address without a usable domain and no next hop");
			return false;
		}
		if (i == 0) {
			smx_strlcpy(first, d, sizeof(first));
		} else if (strcmp(first, d) != 0) {
			if (rq->nexthop != NULL && rq->nexthop[0] != '\0') {
				first[0] = '\0';
				break;
			}
			(void)snprintf(text, sizeof(text),
			    "recipients of different domains (%s, %s) without a next hop; set secmx_destination_recipient_limit = 1",
			    first, d);
			outcome_set(out, SMX_TEMPFAIL, "4.3.5", text);
			return false;
		}
	}
	if (rq->nexthop != NULL && rq->nexthop[0] != '\0') {
		if (smx_route_parse_nexthop(rq->nexthop, strlen(rq->nexthop),
		        nh) != SMX_OK) {
			outcome_set(out, SMX_TEMPFAIL, "4.3.5",
			    "bad next-hop argument");
			return false;
		}
	} else if (smx_route_parse_nexthop(first, strlen(first), nh) !=
	    SMX_OK) {
		outcome_set(out, SMX_TEMPFAIL, "4.3.5", "bad recipient domain");
		return false;
	}
	if (nh->kind == SMX_ROUTE_NEXTHOP_DOMAIN)
		smx_strlcpy(dest_domain, nh->host, size);
	else if (first[0] != '[')
		smx_strlcpy(dest_domain, first, size);
	else
		dest_domain[0] = '\0';
	return true;
}

void
deliver_run(const struct deliver_request *rq, struct outcome *out)
{
	struct run r;
	struct smx_route_nexthop nh;
	struct outcome_agg agg;
	char sender_domain[SMX_DOMAIN_MAX + 3];
	char dest_domain[SMX_DOMAIN_MAX + 3];
	bool is_done = false;

	memset(&r, 0, sizeof(r));
	r.rq = rq;
	r.route_name = "mx";
	memset(&nh, 0, sizeof(nh));
	outcome_agg_init(&agg, OUTCOME_ROUTE_RELAY, false, "");
	if (smx_route_address_domain(rq->sender, sender_domain,
	        sizeof(sender_domain)) != SMX_OK)
		sender_domain[0] = '\0';
	if (!destination(&r, &nh, dest_domain, sizeof(dest_domain), out)) {
		r.role_name = smx_role_name(
		    smx_route_sender_role(rq->cfg, sender_domain, NULL));
		goto done;
	}
	r.is_sos =
	    smx_route_sender_role(rq->cfg, sender_domain,
	        dest_domain[0] != '\0' ? dest_domain : NULL) == SMX_ROLE_SOS;
	r.role_name = r.is_sos ? "sos" : "bes";
	if (nh.kind == SMX_ROUTE_NEXTHOP_DOMAIN)
		is_done = run_domain(&r, nh.host, &agg, out);
	else
		run_relay(&r, &nh, &agg);
	if (is_done)
		goto done;
	if (r.is_local_failure) {
		*out = r.local;
	} else if (r.is_out_of_time && !agg.is_final) {
		char text[TRANSPORT_LINE_MAX + 1];
		struct outcome last;

		outcome_agg_finish(&agg, &last);
		(void)snprintf(text, sizeof(text),
		    "delivery time limit reached (%.3000s)",
		    agg.n_attempts > 0 ? last.line : "no attempt made");
		outcome_set(out, SMX_TEMPFAIL, "4.4.7", text);
		smx_strlcpy(out->relay, last.relay, sizeof(out->relay));
	} else {
		outcome_agg_finish(&agg, out);
	}
done:
	audit(&r, out->relay, out->tls_protocol, out->tls_cipher,
	    out->tls_verified, out->status, out->line);
	smx_tls_ctx_free(r.ctx_verify);
	smx_tls_ctx_free(r.ctx_none);
}
