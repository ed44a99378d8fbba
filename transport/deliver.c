/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	deliver - one secmx delivery: role, destination, route, attempts
 * DESCRIPTION
 *	The decisions are pure functions: the sending role (deliver_role:
 *	sender_roles, default_sender_role, destination_roles keyed by the
 *	recipient's domain; SOS wins), the destination (deliver_destination:
 *	the next hop or the recipient's domain), what a DNS answer means
 *	(deliver_dns_outcome) and the TLS policy of each kind of target
 *	(deliver_target_policy):
 *
 *	- [host]:port next hop: that host only, with the TLS rules of an MX
 *	  route (no SRV or MX lookup, as Postfix's [] form);
 *	- _secmx._tcp SRV targets: every address of every target in order,
 *	  STARTTLS mandatory, the certificate checked per tls_verify against
 *	  the destination, ".destination" and, when the answer was
 *	  DNSSEC-validated and dns_trust_ad = yes, the target;
 *	- otherwise the MX hosts: STARTTLS when offered for a Best Effort
 *	  Sender (plaintext when not offered or when the handshake fails),
 *	  mandatory for a Secure Only Sender, unverified in both cases (MX
 *	  names are not authenticated without DANE).
 *
 *	deliver_run walks the route with the I/O of a struct deliver_io;
 *	every attempt is one session, outcome_agg_add classifies it
 *	(outcome_classify) and decides when to stop.
 *
 *	With a connection cache (secmx-lmtpd), a run first asks for a
 *	connection kept after an earlier delivery to the same destination
 *	under the same role and configuration, as Postfix smtp(8) looks up
 *	its cache by next-hop destination before DNS: that delivery's
 *	route, SRV or MX targets, TLS policy and verification chose the
 *	connection's server, and nothing of it has changed but, perhaps,
 *	DNS, which it trusts for at most smtp_connection_reuse_time_limit
 *	after the connection was opened. None, or a failed RSET probe: the
 *	route is looked up as always.
 *
 *	A resident sender (secmx-lmtpd) runs deliver_run in several
 *	threads at once. A run keeps its state in its own struct run; what
 *	runs share is the configuration (read only), the TLS contexts
 *	(made once under a lock) and the caches of struct deliver_cache
 *	(each with its own lock). Logging goes through smx_log.
 * LIMITS
 *	TRANSPORT_ATTEMPTS_MAX connections per run. Every attempt gets
 *	timeouts from outcome_time_budget so that it fits in what is left of
 *	delivery_time_limit; DNS waits at most dns_timeout (cut to the time
 *	left) per query and server.
 * DIAGNOSTICS
 *	syslog, one line per attempt and recipient, one per outcome and
 *	recipient, in the same space-separated key=value form as the
 *	policy server's audit lines: "QUEUEID: to=<r> relay=host[addr]:port
 *	route=srv role=sos stage=eod class=sent tls=TLSv1.3 cipher=...
 *	verify=ca status=sent (text)", with "resumed=yes" after verify= for
 *	a resumed TLS session and "conn=reused" for a kept connection
 *	(secmx-lmtpd only; taken by destination, the route, dnssec, verify
 *	and tlsa values are those of the delivery it was kept after).
 * SECURITY
 *	DNS answers, server replies and certificates are untrusted; values
 *	in log lines are bounded by SMX_LOG_VALUE_MAX and made printable by
 *	smx_log. An unvalidated SRV target name never counts as a
 *	certificate reference name. A recipient whose role is SOS never
 *	leaves in plaintext, whatever the next hop. A connection taken by
 *	destination serves only the destination, role and configuration
 *	(cfg->serial) it was kept under: a Best Effort Sender's never
 *	carries a Secure Only Sender's mail.
 * SEE ALSO
 *	smx_route.h, outcome.h, smtp_session.h; SecMX Level 2 section 5;
 *	Postfix TLS_README (security levels may, encrypt, secure).
 */
#include "deliver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smx_io.h"
#include "smx_limits.h"
#include "smx_log.h"
#include "smx_tls.h"
#include "smx_util.h"

#define W SMX_LOG_VALUE_MAX

/* ------------------------------------------------------------------ */
/* Decisions                                                            */

enum smx_role
deliver_role(const struct smx_config *cfg, const char *sender, const char *rcpt)
{
	char sender_domain[SMX_DOMAIN_MAX + 3];
	char rcpt_domain[SMX_DOMAIN_MAX + 3];

	if (smx_route_address_domain(sender, sender_domain,
	        sizeof(sender_domain)) != SMX_OK)
		sender_domain[0] = '\0';
	if (rcpt == NULL ||
	    smx_route_address_domain(rcpt, rcpt_domain, sizeof(rcpt_domain)) !=
	        SMX_OK)
		rcpt_domain[0] = '\0';
	return smx_route_sender_role(cfg, sender_domain,
	    rcpt_domain[0] != '\0' && rcpt_domain[0] != '[' ? rcpt_domain
	                                                    : NULL);
}

bool
deliver_destination(const char *nexthop, const char *rcpt,
    struct smx_route_nexthop *out, struct outcome *err)
{
	char domain[SMX_DOMAIN_MAX + 3];

	if (nexthop != NULL && nexthop[0] != '\0') {
		if (smx_route_parse_nexthop(nexthop, strlen(nexthop), out) ==
		    SMX_OK)
			return true;
		outcome_set(err, SMX_TEMPFAIL, "4.3.5",
		    "bad next-hop argument");
		return false;
	}
	if (smx_route_address_domain(rcpt, domain, sizeof(domain)) != SMX_OK ||
	    smx_route_parse_nexthop(domain, strlen(domain), out) != SMX_OK) {
		outcome_set(err, SMX_TEMPFAIL, "4.3.5",
		    "recipient address without a usable domain and no next hop");
		return false;
	}
	return true;
}

enum deliver_dns_step
deliver_dns_outcome(enum smx_route_kind kind, enum smx_status st,
    const struct smx_route *rt, const char *domain, const char *reason,
    struct outcome *out)
{
	char text[SMX_DNS_REASON_MAX + SMX_DOMAIN_MAX + 128];

	if (kind == SMX_ROUTE_SRV) {
		if (st == SMX_OK && rt->n_targets > 0 && !rt->is_null)
			return DELIVER_DNS_GO_ON;
		if (st == SMX_OK || st == SMX_NOTFOUND)
			return DELIVER_DNS_NEXT;
		(void)snprintf(text, sizeof(text),
		    "DNS lookup of _secmx._tcp.%s failed: %s", domain, reason);
		outcome_set(out, SMX_TEMPFAIL, "4.4.3", text);
		return DELIVER_DNS_DECIDED;
	}
	if (st == SMX_OK && rt->is_null) {
		outcome_set(out, SMX_PERMFAIL, "5.1.10",
		    "Recipient address rejected: domain does not accept mail (null MX)");
		return DELIVER_DNS_DECIDED;
	}
	if (st == SMX_OK && rt->n_targets > 0)
		return DELIVER_DNS_GO_ON;
	if (st == SMX_NOTFOUND) {
		(void)snprintf(text, sizeof(text),
		    "Host or domain name not found. Name service error for name=%s type=MX: Host not found",
		    domain);
		outcome_set(out, SMX_PERMFAIL, "5.1.2", text);
		return DELIVER_DNS_DECIDED;
	}
	(void)snprintf(text, sizeof(text), "DNS lookup of MX for %s failed: %s",
	    domain, reason);
	outcome_set(out, SMX_TEMPFAIL, "4.4.3", text);
	return DELIVER_DNS_DECIDED;
}

struct deliver_target
deliver_target_policy(bool is_sos, enum outcome_route route,
    enum smx_route_dane dane, enum smx_mx_security mx_security)
{
	struct deliver_target t;

	memset(&t, 0, sizeof(t));
	t.tls = SMTP_TLS_ENCRYPT;
	switch (dane) {
	case SMX_DANE_FAILED:
		t.skip = DELIVER_SKIP_DANE_FAILED;
		return t;
	case SMX_DANE_REQUIRED:
		t.verify = DELIVER_VERIFY_DANE;
		return t;
	case SMX_DANE_UNUSABLE:
		break;
	case SMX_DANE_OFF:
		if (route == OUTCOME_ROUTE_SRV)
			t.verify = DELIVER_VERIFY_CONFIG;
		else if (!is_sos)
			t.tls = SMTP_TLS_MAY;
		break;
	}
	if (is_sos && route == OUTCOME_ROUTE_MX && mx_security == SMX_MX_DANE)
		t.skip = DELIVER_SKIP_NOT_DANE;
	return t;
}

/* ------------------------------------------------------------------ */
/* I/O                                                                  */

bool
deliver_is_local_addr(int family, const unsigned char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool is_local;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, addr, 16);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, addr, 4);
		len = sizeof(*s4);
	}
	if ((fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	/* Binding works only to an address of this host (port 0: any). */
	is_local = bind(fd, (struct sockaddr *)&ss, len) == 0;
	(void)close(fd);
	return is_local;
}

const struct deliver_io deliver_io_default = {
	.route_srv = smx_route_srv,
	.route_mx = smx_route_mx,
	.lookup_addrs = smx_dns_lookup_addrs,
	.lookup_tlsa = smx_dns_lookup_tlsa,
	.session = smtp_session_deliver,
	.is_local_addr = deliver_is_local_addr,
	.now_ms = smx_io_now_ms,
};

void
deliver_tls_free(struct deliver_tls *t)
{
	smx_tls_ctx_free(t->verify);
	smx_tls_ctx_free(t->none);
	smx_tls_ctx_free(t->dane);
	memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------------ */
/* The run                                                              */

/* The state of one run. */
struct run {
	const struct deliver_request *rq;
	const struct deliver_io *io;
	const char *role_name;  /* "sos" or "bes" */
	const char *route_name; /* "srv" or "mx" */
	struct smx_route_self self;
	struct outcome_agg agg;
	size_t n_attempts;
	bool is_out_of_time;
	bool is_local_failure;
	struct outcome local; /* with is_local_failure */
	/* The recipients of the next attempt: the pending ones. */
	const char **rcpts;
	size_t *idx;
	struct smtp_rcpt_result *rr;
	/* With a connection cache: the destination as its key. */
	bool has_dest;
	struct smtp_dest dest;
};

static const char *
queue_id(const struct run *r)
{
	const char *q = r->rq->queue_id;

	return q != NULL && q[0] != '\0' ? q : "NOQUEUE";
}

/* Tell the observer, if there is one. */
static void
emit(const struct run *r, const struct deliver_event *ev)
{
	if (r->io->observe != NULL)
		r->io->observe(r->io->observe_ctx, ev);
}

/* One audit line for recipient i: what o says. */
static void
audit(const struct run *r, size_t i, const struct outcome *o)
{
	smx_log_info(
	    "%s: to=<%.*s> relay=%.*s route=%s role=%s stage=%s class=%s dnssec=%s tls=%s cipher=%s verify=%s%s%s%s%s status=%s (%.*s)",
	    queue_id(r), W, r->rq->recipients[i], W,
	    o->relay[0] != '\0' ? o->relay : "none", r->route_name,
	    r->role_name, smtp_stage_name(o->stage), outcome_class_name(o->cls),
	    o->is_secure ? "secure" : "insecure",
	    o->tls_protocol[0] != '\0' ? o->tls_protocol : "none",
	    o->tls_cipher[0] != '\0' ? o->tls_cipher : "none",
	    smx_tls_verified_name(o->tls_verified),
	    o->tlsa_match[0] != '\0' ? " tlsa=" : "", o->tlsa_match,
	    o->is_tls_resumed ? " resumed=yes" : "",
	    o->is_conn_reused ? " conn=reused" : "",
	    outcome_status_name(o->status), SMX_LOG_LINE_MAX, o->line);
}

/* One audit line per recipient the attempt carried. */
static void
audit_attempt(const struct run *r, const struct smtp_session_result *res,
    size_t n)
{
	struct outcome o;
	size_t i;

	for (i = 0; i < n; i++) {
		outcome_of_attempt(res, &r->rr[i], &o);
		audit(r, r->idx[i], &o);
	}
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
	r->local.cls = OUTCOME_LOCAL;
}

static struct smx_tls_ctx **
tls_slot(struct deliver_tls *tls, enum deliver_verify verify)
{
	return verify == DELIVER_VERIFY_DANE  ? &tls->dane
	    : verify == DELIVER_VERIFY_CONFIG ? &tls->verify
	                                      : &tls->none;
}

/* Make the context for verify into *slot. */
static enum smx_status
tls_make(const struct smx_config *cfg, enum deliver_verify verify,
    struct smx_tls_ctx **slot, char *reason, size_t reason_size)
{
	struct smx_tls_options o;

	memset(&o, 0, sizeof(o));
	/* STYLE: TLS 1.2 at least, whatever the receiving side accepts. */
	o.min_protocol =
	    cfg->tls_min_protocol >= SMX_TLS_1_3 ? "TLSv1.3" : "TLSv1.2";
	o.verify = verify == DELIVER_VERIFY_DANE ? SMX_TLS_VERIFY_DANE
	    : verify == DELIVER_VERIFY_CONFIG    ? cfg->tls_verify
	                                         : SMX_TLS_VERIFY_NONE;
	o.ca_file = cfg->tls_ca_file;
	o.ca_path = cfg->tls_ca_path;
	return smx_tls_ctx_new(&o, slot, reason, reason_size);
}

enum smx_status
deliver_tls_init(struct deliver_tls *t, const struct smx_config *cfg,
    char *reason, size_t reason_size)
{
	static const enum deliver_verify kinds[] = { DELIVER_VERIFY_NONE,
		DELIVER_VERIFY_CONFIG, DELIVER_VERIFY_DANE };
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (tls_make(cfg, kinds[i], tls_slot(t, kinds[i]), reason,
		        reason_size) != SMX_OK) {
			deliver_tls_free(t);
			return SMX_TEMPFAIL;
		}
	}
	return SMX_OK;
}

/*
 * The contexts of a struct deliver_tls are made all at once
 * (deliver_tls_init) or on first use, and shared by every run that uses
 * the struct, in a resident daemon by several threads at once: this lock
 * makes each context once and publishes it whole, whichever way the
 * caller chose. It is held while a slot is read, and while an empty one
 * is filled (which loads the CA files, once per context).
 */
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;

/* The context for a target, made on first use. NULL after local_failure. */
static struct smx_tls_ctx *
tls_ctx(struct run *r, enum deliver_verify verify)
{
	struct smx_tls_ctx **slot = tls_slot(r->rq->tls, verify);
	struct smx_tls_ctx *ctx;
	char reason[SMX_TLS_REASON_MAX] = "";
	char text[SMX_TLS_REASON_MAX + 64];

	if (pthread_mutex_lock(&tls_lock) != 0)
		smx_panic("deliver: cannot lock the TLS contexts");
	if (*slot == NULL)
		(void)tls_make(r->rq->cfg, verify, slot, reason,
		    sizeof(reason));
	ctx = *slot;
	if (pthread_mutex_unlock(&tls_lock) != 0)
		smx_panic("deliver: cannot unlock the TLS contexts");
	if (ctx == NULL) {
		smx_log_error("TLS client setup failed: %s", reason);
		(void)snprintf(text, sizeof(text),
		    "TLS client setup failed: %s", reason);
		local_failure(r, SMX_TEMPFAIL, "4.3.0", text);
	}
	return ctx;
}

static long long
remaining_ms(const struct run *r)
{
	return r->rq->deadline_ms - r->io->now_ms();
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

socklen_t
deliver_sockaddr(const struct smx_dns_addr *a, struct sockaddr_storage *ss)
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

/*
 * One target of the route: its host (NULL for an [address] next hop),
 * port, where it came from, and whether DNSSEC validated the answer
 * that named it (the SRV or MX RRset; a [host] next hop has none).
 */
struct target {
	const char *host;
	uint16_t port;
	enum outcome_route route;
	bool is_route_secure;
	bool use_target_name; /* SRV: the target name counts for verify=ca */
};

/* What a target is tried with, once DNS has said everything. */
struct attempt_plan {
	struct deliver_target policy;
	struct smx_tls_peer peer;
	const char *names[SMX_TLS_NAMES_MAX];
	struct smx_route_tls_names ca_names;
	struct smx_tls_tlsa tlsa[SMX_TLSA_MAX];
	bool is_secure; /* dnssec=secure: route and addresses validated */
};

/* The recipients that have no final outcome yet, into r->rcpts/idx. */
static size_t
pending(struct run *r)
{
	size_t n = 0;
	size_t i;

	for (i = 0; i < r->rq->n_recipients; i++) {
		if (r->agg.rcpt[i].is_final)
			continue;
		r->rcpts[n] = r->rq->recipients[i];
		r->idx[n] = i;
		n++;
	}
	return n;
}

/* This address and port is where this host's own Postfix listens. */
static bool
is_self(struct run *r, const struct smx_dns_addr *a, const char *host)
{
	char peer[SMTP_SESSION_PEER_MAX];

	if (!smx_route_self_match(&r->self, a->family, a->addr, a->port,
	        r->io->is_local_addr))
		return false;
	(void)snprintf(peer, sizeof(peer), "%s[%s]:%u",
	    host != NULL ? host : "", a->text, (unsigned)a->port);
	smx_log_warning("%s: %s is this host (local_listeners): skipped",
	    queue_id(r), peer);
	outcome_agg_add_loop(&r->agg, peer);
	{
		struct deliver_event ev = { .kind = DELIVER_EV_SKIP,
			.host = host,
			.port = a->port,
			.text = "this host (local_listeners)" };

		emit(r, &ev);
	}
	return true;
}

/* A kind of route as kept with a connection, and back. */
static enum smtp_dest_route
dest_route(enum outcome_route route)
{
	switch (route) {
	case OUTCOME_ROUTE_SRV:
		return SMTP_DEST_SRV;
	case OUTCOME_ROUTE_MX:
		return SMTP_DEST_MX;
	case OUTCOME_ROUTE_RELAY:
		break;
	}
	return SMTP_DEST_RELAY;
}

static enum outcome_route
outcome_route_of(enum smtp_dest_route route)
{
	switch (route) {
	case SMTP_DEST_SRV:
		return OUTCOME_ROUTE_SRV;
	case SMTP_DEST_MX:
		return OUTCOME_ROUTE_MX;
	case SMTP_DEST_RELAY:
		break;
	}
	return OUTCOME_ROUTE_RELAY;
}

/* One attempt at one address; true when the delivery is decided. */
static bool
try_addr(struct run *r, const struct target *t, const struct smx_dns_addr *a,
    const struct attempt_plan *plan, struct smx_tls_ctx *ctx)
{
	const struct deliver_request *rq = r->rq;
	struct smtp_session_params p;
	struct smtp_session_result res;
	struct sockaddr_storage ss;
	struct smtp_dest dest;
	int connect_ms;
	int timeout_ms;
	size_t n;

	if (is_self(r, a, t->host))
		return false;
	if (rq->stop != NULL && atomic_load(rq->stop)) {
		outcome_agg_add_local(&r->agg, "4.3.2",
		    "delivery stopped: the service is shutting down");
		return true;
	}
	if (r->n_attempts >= TRANSPORT_ATTEMPTS_MAX) {
		outcome_agg_add_local(&r->agg, "4.4.4",
		    "too many delivery attempts; trying again later");
		return true;
	}
	if (!outcome_time_budget(remaining_ms(r), rq->cfg->smtp_connect_timeout,
	        rq->cfg->smtp_timeout, &connect_ms, &timeout_ms)) {
		r->is_out_of_time = true;
		return true;
	}
	r->n_attempts++;
	n = pending(r);
	memset(&p, 0, sizeof(p));
	p.addr_len = deliver_sockaddr(a, &ss);
	p.addr = (const struct sockaddr *)&ss;
	p.host = t->host;
	p.helo = rq->helo;
	p.sender = rq->sender;
	p.recipients = r->rcpts;
	p.n_recipients = n;
	p.rcpt = r->rr;
	p.tls_policy = plan->policy.tls;
	p.tls_ctx = ctx;
	p.tls = plan->peer;
	p.connect_timeout_ms = connect_ms;
	p.timeout_ms = timeout_ms;
	p.message = rq->message;
	p.mode = rq->mode;
	p.is_8bitmime = rq->is_8bitmime;
	p.is_smtputf8 = rq->is_smtputf8;
	p.tls.chain = r->io->chain;
	p.is_sos = rq->is_sos;
	if (rq->cache != NULL) {
		p.conn_cache = rq->cache->conns;
		p.tls.cache = rq->cache->tls;
	}
	if (r->has_dest) {
		/* Kept with the connection: what this lookup chose. */
		dest = r->dest;
		dest.route = dest_route(t->route);
		dest.is_secure = plan->is_secure;
		p.dest = &dest;
	}
	(void)r->io->session(&p, &res);
	res.is_secure = plan->is_secure;
	audit_attempt(r, &res, n);
	{
		struct deliver_event ev = { .kind = DELIVER_EV_ATTEMPT,
			.host = t->host,
			.port = a->port,
			.params = &p,
			.result = &res };

		emit(r, &ev);
	}
	return outcome_agg_add(&r->agg, &res, r->rr, r->idx, n);
}

/*
 * Who the peer must be under the plan's policy: DANE (the TLSA base is
 * the host; DANE-TA may also name the destination domain, RFC 7672
 * section 3.2.2 and RFC 7673 section 3.2), the reference names of
 * tls_verify = ca (SRV), or nothing (encrypt only).
 */
static void
plan_peer(struct run *r, const struct target *t,
    const struct smx_dns_tlsa_set *tlsa, struct attempt_plan *plan)
{
	const char *domain = r->agg.domain;
	size_t i;

	memset(&plan->peer, 0, sizeof(plan->peer));
	if (plan->policy.verify == DELIVER_VERIFY_DANE) {
		for (i = 0; i < tlsa->n_rr && i < SMX_TLSA_MAX; i++) {
			plan->tlsa[i].usage = tlsa->rr[i].usage;
			plan->tlsa[i].selector = tlsa->rr[i].selector;
			plan->tlsa[i].mtype = tlsa->rr[i].mtype;
			plan->tlsa[i].data = tlsa->rr[i].data;
			plan->tlsa[i].len = tlsa->rr[i].len;
		}
		plan->peer.tlsa = plan->tlsa;
		plan->peer.n_tlsa = i;
		plan->peer.dane_base = t->host;
		if (domain[0] != '\0' &&
		    smx_ascii_casecmp(domain, t->host) != 0) {
			plan->names[0] = domain;
			plan->peer.names = plan->names;
			plan->peer.n_names = 1;
		}
		return;
	}
	if (plan->policy.verify == DELIVER_VERIFY_CONFIG &&
	    r->rq->cfg->tls_verify == SMX_TLS_VERIFY_CA) {
		smx_route_tls_names(domain, t->host, t->use_target_name,
		    &plan->ca_names);
		plan->peer.names = plan->ca_names.names;
		plan->peer.n_names = plan->ca_names.n_names;
	}
}

/*
 * The TLSA records of a target when DANE applies (smx_route_dane_wanted)
 * and what they mean (smx_route_dane_state). The set is only read with
 * SMX_DANE_REQUIRED.
 */
static enum smx_route_dane
dane_lookup(struct run *r, const struct target *t, bool is_addr_secure,
    struct smx_dns_tlsa_set *tlsa, char *reason, size_t size)
{
	struct smx_dns_opts o;
	enum smx_status st;

	if (t->host == NULL ||
	    !smx_route_dane_wanted(r->rq->cfg, t->is_route_secure,
	        is_addr_secure) ||
	    !dns_opts(r, &o))
		return SMX_DANE_OFF;
	memset(tlsa, 0, sizeof(*tlsa));
	st = r->io->lookup_tlsa(&o, t->port, t->host, tlsa, reason, size);
	{
		struct deliver_event ev = { .kind = DELIVER_EV_TLSA,
			.st = st,
			.reason = reason,
			.host = t->host,
			.port = t->port,
			.tlsa = tlsa,
			.dane = smx_route_dane_state(st, tlsa) };

		emit(r, &ev);
		return ev.dane;
	}
}

/*
 * A target that is not tried: DANE found no way to trust it (a bogus or
 * failed TLSA lookup: transient), or it does not qualify for a Secure
 * Only Sender (refused).
 */
static void
skip_target(struct run *r, const struct target *t,
    const struct deliver_target *policy, const char *reason)
{
	char text[SMX_DNS_REASON_MAX + 2 * SMX_DOMAIN_MAX + 128];
	struct deliver_event ev = { .kind = DELIVER_EV_SKIP,
		.host = t->host,
		.port = t->port,
		.text = text };

	if (policy->skip == DELIVER_SKIP_DANE_FAILED) {
		(void)snprintf(text, sizeof(text),
		    "TLSA lookup of _%u._tcp.%s failed (%s): DNSSEC says the answer is bogus or it could not be had; %s not used",
		    (unsigned)t->port, t->host, reason, t->host);
		smx_log_warning("%s: %s", queue_id(r), text);
		outcome_agg_add_local(&r->agg, "4.7.5", text);
	} else {
		(void)snprintf(text, sizeof(text),
		    "MX host %s has no usable DANE TLSA records: it does not qualify for a Secure Only Sender (sos_mx_security = dane)",
		    t->host);
		smx_log_info("%s: %s", queue_id(r), text);
		outcome_agg_add_refused(&r->agg, "4.7.4", text);
	}
	emit(r, &ev);
}

/* Every address of one host under its plan; true when decided. */
static bool
try_addrs(struct run *r, const struct target *t,
    const struct smx_dns_addr_set *set)
{
	struct smx_dns_tlsa_set *tlsa = NULL;
	struct attempt_plan *plan = NULL;
	struct smx_tls_ctx *ctx = NULL;
	char reason[SMX_DNS_REASON_MAX] = "";
	enum smx_route_dane dane;
	bool is_decided = false;
	size_t i;

	if ((tlsa = malloc(sizeof(*tlsa))) == NULL ||
	    (plan = calloc(1, sizeof(*plan))) == NULL) {
		local_failure(r, SMX_TEMPFAIL, "4.3.0", "out of memory");
		is_decided = true;
		goto out;
	}
	dane = dane_lookup(r, t, set->is_ad, tlsa, reason, sizeof(reason));
	plan->policy = deliver_target_policy(r->rq->is_sos, t->route, dane,
	    r->rq->cfg->sos_mx_security);
	plan->is_secure = t->is_route_secure && set->is_ad;
	if (plan->policy.skip != DELIVER_SKIP_NONE) {
		skip_target(r, t, &plan->policy, reason);
		goto out;
	}
	plan_peer(r, t, tlsa, plan);
	if (plan->policy.tls != SMTP_TLS_NONE &&
	    (ctx = tls_ctx(r, plan->policy.verify)) == NULL) {
		is_decided = true;
		goto out;
	}
	for (i = 0; i < set->n_addrs && !is_decided; i++)
		is_decided = try_addr(r, t, &set->addr[i], plan, ctx);
out:
	free(plan);
	free(tlsa);
	return is_decided;
}

/* Look up a host's addresses and try them; true when decided. */
static bool
try_host(struct run *r, const struct target *t)
{
	struct smx_dns_addr_set set;
	struct smx_dns_opts o;
	char reason[SMX_DNS_REASON_MAX];
	char text[SMX_DNS_REASON_MAX + SMX_DOMAIN_MAX + 64];
	enum smx_status st;

	if (!dns_opts(r, &o))
		return true;
	memset(&set, 0, sizeof(set));
	st = r->io->lookup_addrs(&o, t->host, t->port, &set, reason,
	    sizeof(reason));
	{
		struct deliver_event ev = { .kind = DELIVER_EV_ADDRS,
			.st = st,
			.reason = reason,
			.host = t->host,
			.port = t->port,
			.addrs = &set };

		emit(r, &ev);
	}
	if (st != SMX_OK) {
		(void)snprintf(text, sizeof(text),
		    "cannot find the addresses of %s: %s", t->host,
		    st == SMX_NOTFOUND ? "host not found" : reason);
		smx_log_warning("%s: %s", queue_id(r), text);
		outcome_agg_add_local(&r->agg,
		    st == SMX_NOTFOUND ? "4.4.4" : "4.4.3", text);
		return false;
	}
	return try_addrs(r, t, &set);
}

/*
 * The [host] or [address] next hop, with the TLS rules of an MX route; a
 * [host] whose addresses DNSSEC validated gets DANE as an MX host (there
 * is no MX RRset to validate).
 */
static void
run_relay(struct run *r, const struct smx_route_nexthop *nh)
{
	struct target t = { .host = nh->host,
		.port = nh->port,
		.route = OUTCOME_ROUTE_RELAY,
		.is_route_secure = true };
	struct smx_dns_addr_set set;
	unsigned char bin[16];

	r->route_name = "mx";
	if (nh->kind == SMX_ROUTE_NEXTHOP_HOST) {
		(void)try_host(r, &t);
		return;
	}
	t.host = NULL;
	t.is_route_secure = false;
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
		outcome_agg_add_local(&r->agg, "4.3.5", "bad next-hop address");
		return;
	}
	(void)try_addrs(r, &t, &set);
}

/* Every target of a route in order (SRV: TLS mandatory, verified). */
static void
run_route(struct run *r, const struct smx_route *rt, enum outcome_route route)
{
	size_t i;

	for (i = 0; i < rt->n_targets && !r->is_out_of_time; i++) {
		struct target t = { .host = rt->target[i].host,
			.port = rt->target[i].port,
			.route = route,
			.is_route_secure = rt->is_ad,
			.use_target_name =
			    rt->is_ad && r->rq->cfg->dns_trust_ad };

		if (try_host(r, &t))
			return;
	}
}

static void
emit_route(const struct run *r, enum smx_route_kind kind, enum smx_status st,
    const struct smx_route *rt, const char *reason)
{
	struct deliver_event ev = { .kind = DELIVER_EV_ROUTE,
		.route_kind = kind,
		.st = st,
		.reason = reason,
		.route = rt };

	emit(r, &ev);
}

static void
emit_decided(const struct run *r, const struct outcome *o)
{
	struct deliver_event ev = { .kind = DELIVER_EV_DECIDED,
		.st = o->status,
		.text = o->line };

	emit(r, &ev);
}

/*
 * Discovery for a domain: SRV, else MX. Returns true when every
 * recipient's outcome is *out (DNS failure, null MX, no such domain).
 */
static bool
run_domain(struct run *r, const char *domain, struct outcome *out)
{
	struct smx_dns_opts o;
	struct smx_route rt;
	char reason[SMX_DNS_REASON_MAX] = "";
	char fmt[TRANSPORT_LINE_MAX + 1];
	enum smx_status st;

	r->route_name = "srv";
	if (!dns_opts(r, &o))
		return false;
	memset(&rt, 0, sizeof(rt));
	st = r->io->route_srv(&o, domain, &rt, reason, sizeof(reason));
	emit_route(r, SMX_ROUTE_SRV, st, &rt, reason);
	switch (
	    deliver_dns_outcome(SMX_ROUTE_SRV, st, &rt, domain, reason, out)) {
	case DELIVER_DNS_DECIDED:
		emit_decided(r, out);
		return true;
	case DELIVER_DNS_GO_ON:
		smx_route_format(&rt, fmt, sizeof(fmt));
		smx_log_debug("%s: %s: %s", queue_id(r), domain, fmt);
		r->agg.route = OUTCOME_ROUTE_SRV;
		run_route(r, &rt, OUTCOME_ROUTE_SRV);
		return false;
	case DELIVER_DNS_NEXT:
		break;
	}
	r->route_name = "mx";
	r->agg.route = OUTCOME_ROUTE_MX;
	if (!dns_opts(r, &o))
		return false;
	memset(&rt, 0, sizeof(rt));
	st = r->io->route_mx(&o, domain, &rt, reason, sizeof(reason));
	emit_route(r, SMX_ROUTE_MX, st, &rt, reason);
	if (deliver_dns_outcome(SMX_ROUTE_MX, st, &rt, domain, reason, out) ==
	    DELIVER_DNS_DECIDED) {
		emit_decided(r, out);
		return true;
	}
	smx_route_format(&rt, fmt, sizeof(fmt));
	smx_log_debug("%s: %s: %s", queue_id(r), domain, fmt);
	run_route(r, &rt, OUTCOME_ROUTE_MX);
	return false;
}

/* The end of the run: out of time, local trouble, or the folding. */
static void
finish(struct run *r)
{
	char text[TRANSPORT_LINE_MAX + 1];
	struct outcome o;

	if (r->is_local_failure) {
		outcome_agg_decide(&r->agg, &r->local);
	} else if (r->is_out_of_time && r->agg.n_pending > 0) {
		const struct outcome *last = r->agg.n_transient > 0
		    ? &r->agg.best_transient
		    : &r->agg.best_refused;

		(void)snprintf(text, sizeof(text),
		    "delivery time limit reached (%.3000s)",
		    r->agg.n_attempts > 0 ? last->line : "no attempt made");
		outcome_set(&o, SMX_TEMPFAIL, "4.4.7", text);
		smx_strlcpy(o.relay, last->relay, sizeof(o.relay));
		outcome_agg_decide(&r->agg, &o);
	}
	outcome_agg_finish(&r->agg);
}

/* The arrays of one run; false when memory is short. */
static bool
run_alloc(struct run *r, size_t n)
{
	r->rcpts = calloc(n, sizeof(*r->rcpts));
	r->idx = calloc(n, sizeof(*r->idx));
	r->rr = calloc(n, sizeof(*r->rr));
	return r->rcpts != NULL && r->idx != NULL && r->rr != NULL;
}

static void
run_free(struct run *r)
{
	free(r->rcpts);
	free(r->idx);
	free(r->rr);
}

/*
 * The destination as the key of kept connections (secmx-lmtpd's
 * deliveries with a connection cache): the next hop, the role and the
 * configuration. Without one, or when the name does not fit, none.
 */
static void
dest_init(struct run *r)
{
	const struct deliver_request *rq = r->rq;
	const struct smx_route_nexthop *nh = rq->dest;
	struct smtp_dest *d = &r->dest;
	int n;

	if (rq->cache == NULL || rq->cache->conns == NULL ||
	    rq->mode != SMTP_MODE_DELIVER)
		return;
	memset(d, 0, sizeof(*d));
	if (nh->kind == SMX_ROUTE_NEXTHOP_DOMAIN)
		n = snprintf(d->name, sizeof(d->name), "%s", nh->host);
	else
		n = snprintf(d->name, sizeof(d->name), "[%s]:%u", nh->host,
		    (unsigned)nh->port);
	if (n < 0 || (size_t)n >= sizeof(d->name))
		return;
	d->is_sos = rq->is_sos;
	d->config_serial = rq->cfg->serial;
	r->has_dest = true;
}

/*
 * Before any DNS lookup: a kept connection that an earlier delivery to
 * this destination, under this role and configuration, chose (as
 * Postfix smtp(8) looks up its connection cache by next-hop destination
 * first). It carries the pending recipients with the route, DNSSEC
 * status and TLS verification of that delivery. None, or one that fails
 * its RSET probe: nothing happened, and the run looks up the route as
 * usual. True when the delivery is decided; otherwise the run goes on
 * with the recipients still pending, as after any attempt.
 */
static bool
try_dest_reuse(struct run *r)
{
	const struct deliver_request *rq = r->rq;
	enum outcome_route route = r->agg.route;
	const char *route_name = r->route_name;
	struct smtp_session_params p;
	struct smtp_session_result res;
	int connect_ms;
	int timeout_ms;
	size_t n;

	if (!r->has_dest || (rq->stop != NULL && atomic_load(rq->stop)) ||
	    !outcome_time_budget(remaining_ms(r), rq->cfg->smtp_connect_timeout,
	        rq->cfg->smtp_timeout, &connect_ms, &timeout_ms))
		return false;
	n = pending(r);
	memset(&p, 0, sizeof(p));
	p.helo = rq->helo;
	p.sender = rq->sender;
	p.recipients = r->rcpts;
	p.n_recipients = n;
	p.rcpt = r->rr;
	p.connect_timeout_ms = connect_ms;
	p.timeout_ms = timeout_ms;
	p.message = rq->message;
	p.mode = rq->mode;
	p.is_8bitmime = rq->is_8bitmime;
	p.is_smtputf8 = rq->is_smtputf8;
	p.is_sos = rq->is_sos;
	p.conn_cache = rq->cache->conns;
	p.tls.cache = rq->cache->tls;
	p.dest = &r->dest;
	p.is_dest_reuse = true;
	if (r->io->session(&p, &res) == SMX_NOTFOUND)
		return false;
	r->n_attempts++;
	r->agg.route = outcome_route_of(res.dest.route);
	r->route_name = res.dest.route == SMTP_DEST_SRV ? "srv" : "mx";
	res.is_secure = res.dest.is_secure;
	audit_attempt(r, &res, n);
	if (outcome_agg_add(&r->agg, &res, r->rr, r->idx, n))
		return true;
	/* Not decided: the route is looked up as if this had not been. */
	r->agg.route = route;
	r->route_name = route_name;
	return false;
}

void
deliver_run(const struct deliver_request *rq, struct outcome *out)
{
	const struct smx_route_nexthop *nh = rq->dest;
	struct run r;
	struct outcome decided;
	size_t i;

	memset(&r, 0, sizeof(r));
	r.rq = rq;
	r.io = rq->io != NULL ? rq->io : &deliver_io_default;
	r.role_name = rq->is_sos ? "sos" : "bes";
	r.route_name = "mx";
	outcome_agg_init(&r.agg,
	    nh->kind == SMX_ROUTE_NEXTHOP_DOMAIN ? OUTCOME_ROUTE_MX
	                                         : OUTCOME_ROUTE_RELAY,
	    rq->is_sos, nh->host, out, rq->n_recipients);
	if (rq->cfg->local_listeners != NULL &&
	    smx_route_self_parse(rq->cfg->local_listeners,
	        strlen(rq->cfg->local_listeners), &r.self) != SMX_OK)
		r.self.n_items = 0; /* checked when the config was loaded */
	dest_init(&r);
	if (!run_alloc(&r, rq->n_recipients)) {
		local_failure(&r, SMX_TEMPFAIL, "4.3.0", "out of memory");
	} else if (try_dest_reuse(&r)) {
		/* decided over a connection kept for this destination */
	} else if (nh->kind != SMX_ROUTE_NEXTHOP_DOMAIN) {
		run_relay(&r, nh);
	} else if (run_domain(&r, nh->host, &decided)) {
		outcome_agg_decide(&r.agg, &decided);
	}
	finish(&r);
	for (i = 0; i < rq->n_recipients; i++)
		audit(&r, i, &out[i]);
	run_free(&r);
}
