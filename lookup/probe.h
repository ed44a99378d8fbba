/* SPDX-License-Identifier: MIT */
#ifndef PROBE_H
#define PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "deliver.h"
#include "outcome.h"
#include "smx_dns.h"
#include "smx_route.h"
#include "smx_tls.h"

/*
 * The report of secmx-probe: what a SecMX sender sees for one domain,
 * collected from the events of one deliver_run (probe_observe) and the
 * verdicts of both sending roles, written as text or JSON. The model is
 * plain data; rendering does no I/O but to the given stream.
 */

/* One session to one address of a target. */
struct probe_attempt {
	struct smtp_session_result res;
	enum smtp_tls_policy policy;
	bool is_dane;
	char names[SMX_TLS_NAMES_MAX][SMX_DOMAIN_MAX + 2]; /* tried */
	size_t n_names;
	struct smx_tls_chain chain;
};

/* One host of a route, with what DNS and the sessions said about it. */
struct probe_target {
	char host[SMX_DOMAIN_MAX + 1];
	unsigned port;
	enum smx_status addr_st;
	char addr_reason[SMX_DNS_REASON_MAX];
	struct smx_dns_addr_set addrs;
	bool has_tlsa;
	enum smx_status tlsa_st;
	char tlsa_reason[SMX_DNS_REASON_MAX];
	struct smx_dns_tlsa_set tlsa;
	enum smx_route_dane dane;
	char skip[512];
	struct probe_attempt attempt[SMX_DNS_ADDRS_MAX];
	size_t n_attempts;
};

/* The SRV or MX lookup of the domain. */
struct probe_route {
	bool is_done;
	enum smx_status st;
	char reason[SMX_DNS_REASON_MAX];
	struct smx_route route;
};

/* The -R check of one address of one SRV target. */
struct probe_rcpt_check {
	char peer[SMTP_SESSION_PEER_MAX];
	enum smx_status st;  /* of the session */
	unsigned reply_code; /* to RCPT TO, 0 when not reached */
	char text[SMTP_SESSION_TEXT_MAX];
	bool is_secure_only; /* refused in plaintext: 5xx, or 4.7.x */
};

#define PROBE_TARGETS_MAX (SMX_SRV_MAX + SMX_MX_MAX)
#define PROBE_CHECKS_MAX 32

struct probe_report {
	char domain[SMX_DOMAIN_MAX + 1];
	bool is_sos; /* the role of the detailed run (-r) */
	struct probe_route srv;
	struct probe_route mx;
	struct probe_target *target[PROBE_TARGETS_MAX]; /* owned */
	size_t n_targets;
	char decided[TRANSPORT_LINE_MAX + 1]; /* DNS decided: the line */
	struct outcome verdict_sos;
	struct outcome verdict_bes;
	char rcpt_address[SMTP_PATH_MAX + 1]; /* -R, or "" */
	struct probe_rcpt_check check[PROBE_CHECKS_MAX];
	size_t n_checks;
};

/* probe_report_init - an empty report for domain; free with _free. */
void probe_report_init(struct probe_report *, const char *domain, bool is_sos);

/* probe_report_free - release the targets. */
void probe_report_free(struct probe_report *);

/*
 * probe_observe - a deliver_io observer (ctx: the report) that records
 * every event of one run. Memory shortage drops the event's details.
 */
void probe_observe(void *ctx, const struct deliver_event *);

/*
 * probe_verdict_exit - the exit status for the chosen role's verdict: 0
 * it would deliver over TLS, 1 it would bounce (or deliver only in
 * plaintext), 75 it would defer; 1 also when a -R check found a target
 * that is not Secure Only.
 */
int probe_verdict_exit(const struct probe_report *);

/* probe_write_text - the report for people, on fp. */
void probe_write_text(const struct probe_report *, FILE *fp);

/* probe_write_json - the report as one JSON document, on fp. */
void probe_write_json(const struct probe_report *, FILE *fp);

#endif
