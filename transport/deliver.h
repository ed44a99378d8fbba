/* SPDX-License-Identifier: MIT */
#ifndef DELIVER_H
#define DELIVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "smx_config.h"
#include "smx_dns.h"
#include "smx_route.h"
#include "outcome.h"
#include "smtp_session.h"

struct spool;
struct smx_tls_ctx;
struct smx_tls_session_cache;
struct smtp_cache;

/*
 * deliver - the SecMX sending rules: which role, which destination,
 * which route, which TLS policy per target, and what a DNS answer or a
 * failed attempt means. The decisions are pure functions over plain
 * structs; deliver_run walks a route with the I/O of a struct deliver_io
 * (the real DNS and SMTP session, or fakes in tests).
 */

/*
 * deliver_role - the sending role for mail from sender to rcpt:
 * SMX_ROLE_SOS or SMX_ROLE_BES. sender_roles is looked up with the
 * sender's domain (the null sender skips it), else default_sender_role;
 * destination_roles is looked up with the recipient's domain, never a
 * next hop (smx_route_destination_sos); SOS wins. Pure.
 */
enum smx_role deliver_role(const struct smx_config *, const char *sender,
    const char *rcpt);

/*
 * deliver_destination - where mail for rcpt goes: nexthop when it is set
 * (pipe(8)'s ${nexthop}: a domain, "[host]:port" or "[address]:port"),
 * else the recipient's domain. Returns true with *out; false with *err
 * set (deferred 4.3.5: a bad next hop, a recipient without a usable
 * domain and no next hop). Pure.
 */
bool deliver_destination(const char *nexthop, const char *rcpt,
    struct smx_route_nexthop *out, struct outcome *err);

/*
 * What DNS said about a destination, for deliver_dns_outcome:
 * kind: SMX_ROUTE_SRV (the _secmx._tcp lookup) or SMX_ROUTE_MX; st: the
 * smx_route_srv or smx_route_mx status; rt: its route (read on SMX_OK).
 */
enum deliver_dns_step {
	DELIVER_DNS_GO_ON = 0, /* deliver along rt */
	DELIVER_DNS_NEXT,      /* no SecMX servers: look up MX */
	DELIVER_DNS_DECIDED,   /* *out is the outcome of every recipient */
};

/*
 * deliver_dns_outcome - the meaning of one route lookup for domain:
 * SRV targets: go on; no SRV records or the null target: next (MX);
 * MX hosts: go on; null MX: bounce 5.1.10; no such domain: bounce 5.1.2;
 * any DNS trouble: defer 4.4.3 (never a bounce). reason is the lookup's.
 * Pure.
 */
enum deliver_dns_step deliver_dns_outcome(enum smx_route_kind kind,
    enum smx_status st, const struct smx_route *rt, const char *domain,
    const char *reason, struct outcome *out);

/* How a target's certificate is checked. */
enum deliver_verify {
	DELIVER_VERIFY_NONE = 0, /* encrypt only */
	DELIVER_VERIFY_CONFIG,   /* tls_verify (ca or none), SRV targets */
	DELIVER_VERIFY_DANE,     /* the TLSA records, OpenSSL's DANE */
};

/* Why a target is not tried at all. */
enum deliver_skip {
	DELIVER_SKIP_NONE = 0,
	DELIVER_SKIP_DANE_FAILED, /* bogus or failed TLSA: transient */
	DELIVER_SKIP_NOT_DANE,    /* SOS, sos_mx_security = dane, an MX
	                           * without usable TLSA: refused */
};

/*
 * struct deliver_target - how one target is tried: the TLS policy and
 * how its certificate is checked, or why it is skipped.
 */
struct deliver_target {
	enum smtp_tls_policy tls;
	enum deliver_verify verify;
	enum deliver_skip skip;
};

/*
 * deliver_target_policy - the policy of one target:
 *	DANE FAILED: skipped (transient);
 *	DANE REQUIRED: TLS mandatory, DANE-verified, for both roles;
 *	DANE UNUSABLE: TLS mandatory, unverified;
 *	otherwise SRV targets: TLS mandatory and verified per tls_verify,
 *	for both roles; MX hosts and [relay] next hops: TLS mandatory
 *	(unverified) for a Secure Only Sender, opportunistic for a Best
 *	Effort Sender; except that with sos_mx_security = dane an MX host
 *	without DANE does not qualify for a Secure Only Sender (skipped,
 *	refused). Pure.
 */
struct deliver_target deliver_target_policy(bool is_sos,
    enum outcome_route route, enum smx_route_dane dane,
    enum smx_mx_security mx_security);

/*
 * struct deliver_event - what a run sees, one step at a time, for an
 * observer (secmx-probe reports it). Every pointer is borrowed for the
 * duration of the call.
 *	ROUTE	the SRV (route_kind SMX_ROUTE_SRV) or MX lookup of the
 *		destination: st, reason, route (with its DNSSEC status);
 *	ADDRS	the addresses of host at port: st, reason, addrs;
 *	TLSA	the TLSA lookup of host at port: st, reason, tlsa, dane;
 *	SKIP	host not tried: text (DANE, sos_mx_security, this host);
 *	ATTEMPT	one session: host, params (with the TLS peer), result;
 *	DECIDED	DNS decided every recipient: text (the status line).
 */
enum deliver_event_kind {
	DELIVER_EV_ROUTE = 0,
	DELIVER_EV_ADDRS,
	DELIVER_EV_TLSA,
	DELIVER_EV_SKIP,
	DELIVER_EV_ATTEMPT,
	DELIVER_EV_DECIDED,
};

struct deliver_event {
	enum deliver_event_kind kind;
	enum smx_route_kind route_kind;
	enum smx_status st;
	const char *reason;
	const struct smx_route *route;
	const char *host;
	uint16_t port;
	const struct smx_dns_addr_set *addrs;
	const struct smx_dns_tlsa_set *tlsa;
	enum smx_route_dane dane;
	const struct smtp_session_params *params;
	const struct smtp_session_result *result;
	const char *text;
};

/*
 * struct deliver_io - the I/O of a delivery run. deliver_io_default is
 * the real one: smx_route_srv, smx_route_mx, smx_dns_lookup_addrs,
 * smx_dns_lookup_tlsa, smtp_session_deliver, deliver_is_local_addr,
 * smx_io_now_ms.
 */
struct deliver_io {
	enum smx_status (*route_srv)(const struct smx_dns_opts *,
	    const char *domain, struct smx_route *, char *reason,
	    size_t reason_size);
	enum smx_status (*route_mx)(const struct smx_dns_opts *,
	    const char *domain, struct smx_route *, char *reason,
	    size_t reason_size);
	enum smx_status (*lookup_addrs)(const struct smx_dns_opts *,
	    const char *host, uint16_t port, struct smx_dns_addr_set *,
	    char *reason, size_t reason_size);
	enum smx_status (*lookup_tlsa)(const struct smx_dns_opts *,
	    uint16_t port, const char *host, struct smx_dns_tlsa_set *,
	    char *reason, size_t reason_size);
	enum smx_status (*session)(const struct smtp_session_params *,
	    struct smtp_session_result *);
	smx_route_is_local_fn *is_local_addr;
	long long (*now_ms)(void);
	/* Optional, for secmx-probe: NULL in deliveries. */
	void (*observe)(void *ctx, const struct deliver_event *);
	void *observe_ctx;
	struct smx_tls_chain *chain; /* every session's peer chain */
};

extern const struct deliver_io deliver_io_default;

/*
 * deliver_is_local_addr - true when the address belongs to this host:
 * a datagram socket can be bound to it. Never fails (false on error).
 */
bool deliver_is_local_addr(int family, const unsigned char *addr);

/*
 * deliver_sockaddr - one address from smx_dns (with its port) as a socket
 * address in *ss; returns its length. Never fails.
 */
socklen_t deliver_sockaddr(const struct smx_dns_addr *a,
    struct sockaddr_storage *ss);

/*
 * struct deliver_tls - the TLS client contexts of delivery runs, made
 * from the configuration all at once (deliver_tls_init) or on first use
 * (zero it before the first run), and kept by the caller across runs:
 * verify (per tls_verify, for SRV targets), none (encrypt only) and dane
 * (DANE-authenticated). Free with deliver_tls_free once no run uses it.
 * Runs in several threads may share one either way: a context made on
 * first use is made once under a lock, and an OpenSSL context is safe
 * to share once made.
 */
struct deliver_tls {
	struct smx_tls_ctx *verify;
	struct smx_tls_ctx *none;
	struct smx_tls_ctx *dane;
};

/*
 * deliver_tls_init - make all three contexts of *t from cfg now, so that
 * runs in several threads share them without making any. Returns SMX_OK,
 * or SMX_TEMPFAIL with a reason (and *t empty).
 */
enum smx_status deliver_tls_init(struct deliver_tls *t,
    const struct smx_config *cfg, char *reason, size_t reason_size);

/* deliver_tls_free - free the contexts and zero *t. */
void deliver_tls_free(struct deliver_tls *t);

/*
 * struct deliver_cache - what a resident sender (secmx-lmtpd) keeps
 * between runs and shares between its threads: TLS sessions to resume
 * (smx_tls_cache.h) and idle SMTP connections (smtp_cache.h); either
 * may be NULL. The caller makes and frees them; pipe mode has none.
 */
struct deliver_cache {
	struct smx_tls_session_cache *tls;
	struct smtp_cache *conns;
};

/*
 * struct deliver_request - one group of recipients of one message that
 * share the destination and the sending role. Everything is borrowed
 * from the caller and must outlive deliver_run.
 * io: NULL for deliver_io_default. tls: the caller's contexts.
 * cache: NULL (pipe mode), or the caches every attempt may use: a
 *   connection is reused only for the same address, port, host, helo,
 *   TLS policy, TLS rules (context, names, TLSA records) and role; or,
 *   before any DNS lookup, for the same destination (next hop), role,
 *   configuration (cfg->serial) and helo as the delivery it was kept
 *   after (with mode SMTP_MODE_DELIVER).
 * queue_id: for the audit log ("NOQUEUE" when unknown).
 * sender: the envelope sender, "" for the null sender.
 * recipients: 1..SMTP_RECIPIENTS_MAX addresses.
 * dest: from deliver_destination. is_sos: from deliver_role.
 * helo: our EHLO name. message: the spooled message (NULL with mode
 * SMTP_MODE_PROBE). deadline_ms: now_ms() value at which
 * delivery_time_limit ends.
 * is_8bitmime, is_smtputf8: MAIL FROM had BODY=8BITMIME, SMTPUTF8 (LMTP
 * mode); passed on to servers that offer them.
 * stop: when not NULL and set, no further attempt starts; the recipients
 * left are deferred (4.3.2).
 */
struct deliver_request {
	const struct smx_config *cfg;
	const struct deliver_io *io;
	struct deliver_tls *tls;
	struct deliver_cache *cache;
	const char *queue_id;
	const char *sender;
	const char *const *recipients;
	size_t n_recipients;
	const struct smx_route_nexthop *dest;
	bool is_sos;
	const char *helo;
	struct spool *message;
	enum smtp_mode mode;
	long long deadline_ms;
	bool is_8bitmime;
	bool is_smtputf8;
	const atomic_bool *stop;
};

/*
 * deliver_run - deliver the message under the Secure Only Sender or Best
 * Effort Sender rules along the destination's route: the [host] next hop
 * alone (MX rules, no SRV or MX lookup), the _secmx._tcp SRV targets
 * with mandatory, verified TLS, else the MX hosts; every address of each
 * target in order, within the deadline, skipping addresses that are this
 * host (local_listeners). Each attempt carries the recipients that have
 * no final outcome yet. Logs one audit line per attempt and recipient
 * and one per outcome and recipient. out[0..n_recipients) is always
 * filled: delivered, deferred or bounced with its status line. Local
 * trouble (TLS setup, memory, bad arguments) is deferred. Audit lines
 * add resumed=yes for a resumed TLS session and conn=reused for a
 * connection from rq->cache. With rq->cache, a run first tries a
 * connection kept after an earlier delivery to the same destination
 * under the same role and configuration (within
 * smtp_connection_reuse_time_limit of its opening), without any DNS
 * lookup: its audit lines give the route, DNSSEC status, TLS
 * verification and TLSA match of that earlier delivery. When there is
 * none, or its RSET probe fails, or its attempt leaves recipients
 * pending, the route is looked up as usual. Several runs may go on at
 * once in different threads with distinct requests, sharing cfg (read
 * only), tls and cache. Never exits; the caller must ignore SIGPIPE.
 */
void deliver_run(const struct deliver_request *, struct outcome *out);

#endif
