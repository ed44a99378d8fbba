/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	probe - the report of secmx-probe
 * DESCRIPTION
 *	Collects the events of one delivery run in probe mode (the route
 *	lookups with their DNSSEC status, each target's addresses and TLSA
 *	records, every session with its TLS details and certificate chain)
 *	and writes them, with the verdict of each sending role, as text or
 *	as one JSON document.
 * LIMITS
 *	PROBE_TARGETS_MAX targets, SMX_DNS_ADDRS_MAX attempts per target,
 *	PROBE_CHECKS_MAX recipient checks; text fields as the events give
 *	them (bounded by the library's caps).
 * DIAGNOSTICS
 *	None: a target that cannot be stored for lack of memory is left
 *	out of the report (the verdicts do not depend on it).
 * SECURITY
 *	Everything here came from DNS and remote servers: JSON strings are
 *	escaped (control and non-ASCII bytes as \u00XX), text output is
 *	made printable.
 * SEE ALSO
 *	probe_main.c, deliver.h; RFC 8259 (JSON).
 */
#include "probe.h"

#include <stdlib.h>
#include <string.h>

#include "smx_util.h"

void
probe_report_init(struct probe_report *r, const char *domain, bool is_sos)
{
	memset(r, 0, sizeof(*r));
	smx_strlcpy(r->domain, domain, sizeof(r->domain));
	r->is_sos = is_sos;
}

void
probe_report_free(struct probe_report *r)
{
	size_t i;

	for (i = 0; i < r->n_targets; i++)
		free(r->target[i]);
	r->n_targets = 0;
}

/* The target for host:port, the last one if it is the same, or a new one. */
static struct probe_target *
target_for(struct probe_report *r, const char *host, unsigned port)
{
	struct probe_target *t;

	if (host == NULL)
		host = "";
	if (r->n_targets > 0) {
		t = r->target[r->n_targets - 1];
		if (strcmp(t->host, host) == 0 && t->port == port)
			return t;
	}
	if (r->n_targets == PROBE_TARGETS_MAX ||
	    (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	smx_strlcpy(t->host, host, sizeof(t->host));
	t->port = port;
	r->target[r->n_targets++] = t;
	return t;
}

static void
record_attempt(struct probe_target *t, const struct deliver_event *ev)
{
	const struct smtp_session_params *p = ev->params;
	struct probe_attempt *a;
	size_t i;

	if (t->n_attempts == SMX_DNS_ADDRS_MAX)
		return;
	a = &t->attempt[t->n_attempts++];
	a->res = *ev->result;
	a->policy = p->tls_policy;
	a->is_dane = p->tls.n_tlsa > 0;
	if (a->is_dane && p->tls.dane_base != NULL)
		smx_strlcpy(a->names[a->n_names++], p->tls.dane_base,
		    sizeof(a->names[0]));
	for (i = 0; i < p->tls.n_names && a->n_names < SMX_TLS_NAMES_MAX; i++)
		smx_strlcpy(a->names[a->n_names++], p->tls.names[i],
		    sizeof(a->names[0]));
	/* The chain is the session's only when a handshake completed. */
	if (p->tls.chain != NULL && ev->result->tls.protocol[0] != '\0')
		a->chain = *p->tls.chain;
}

/*
 * The reason of an event: the DNS functions write their reason buffer
 * only for a failure and may leave anything there on success (the
 * first words they prepare are "out of memory"), so a success has none.
 */
static const char *
event_reason(const struct deliver_event *ev)
{
	return ev->st == SMX_OK || ev->reason == NULL ? "" : ev->reason;
}

void
probe_observe(void *ctx, const struct deliver_event *ev)
{
	struct probe_report *r = ctx;
	struct probe_route *route;
	struct probe_target *t;

	switch (ev->kind) {
	case DELIVER_EV_ROUTE:
		route = ev->route_kind == SMX_ROUTE_SRV ? &r->srv : &r->mx;
		route->is_done = true;
		route->st = ev->st;
		smx_strlcpy(route->reason, event_reason(ev),
		    sizeof(route->reason));
		route->route = *ev->route;
		return;
	case DELIVER_EV_DECIDED:
		smx_strlcpy(r->decided, ev->text, sizeof(r->decided));
		return;
	default:
		break;
	}
	if ((t = target_for(r, ev->host, ev->port)) == NULL)
		return;
	switch (ev->kind) {
	case DELIVER_EV_ADDRS:
		t->addr_st = ev->st;
		smx_strlcpy(t->addr_reason, event_reason(ev),
		    sizeof(t->addr_reason));
		t->addrs = *ev->addrs;
		break;
	case DELIVER_EV_TLSA:
		t->has_tlsa = true;
		t->tlsa_st = ev->st;
		smx_strlcpy(t->tlsa_reason, event_reason(ev),
		    sizeof(t->tlsa_reason));
		if (ev->st == SMX_OK)
			t->tlsa = *ev->tlsa;
		t->dane = ev->dane;
		break;
	case DELIVER_EV_SKIP:
		smx_strlcpy(t->skip, ev->text, sizeof(t->skip));
		break;
	case DELIVER_EV_ATTEMPT:
		record_attempt(t, ev);
		break;
	default:
		break;
	}
}

static const struct outcome *
chosen(const struct probe_report *r)
{
	return r->is_sos ? &r->verdict_sos : &r->verdict_bes;
}

int
probe_verdict_exit(const struct probe_report *r)
{
	const struct outcome *o = chosen(r);
	size_t i;

	for (i = 0; i < r->n_checks; i++) {
		if (r->check[i].reply_code / 100 == 2)
			return 1;
	}
	switch (o->status) {
	case SMX_OK:
		return o->tls_protocol[0] != '\0' ? 0 : 1;
	case SMX_PERMFAIL:
		return 1;
	default:
		return 75;
	}
}

/* ------------------------------------------------------------------ */
/* Words                                                                */

static const char *
dnssec_word(bool is_ad)
{
	return is_ad ? "secure" : "insecure";
}

static const char *
dane_word(enum smx_route_dane d)
{
	switch (d) {
	case SMX_DANE_REQUIRED:
		return "required";
	case SMX_DANE_UNUSABLE:
		return "unusable";
	case SMX_DANE_FAILED:
		return "failed";
	case SMX_DANE_OFF:
		break;
	}
	return "off";
}

static const char *
policy_word(enum smtp_tls_policy p, bool is_dane)
{
	if (is_dane)
		return "dane";
	switch (p) {
	case SMTP_TLS_ENCRYPT:
		return "mandatory";
	case SMTP_TLS_MAY:
		return "opportunistic";
	case SMTP_TLS_NONE:
		break;
	}
	return "none";
}

/* "deliver", "bounce" or "defer". */
static const char *
action_word(const struct outcome *o)
{
	return o->status == SMX_OK      ? "deliver"
	    : o->status == SMX_PERMFAIL ? "bounce"
	                                : "defer";
}

/* The TLSA record's data in hex, cut at 32 bytes ("..." after). */
static void
hex_data(const struct smx_dns_tlsa *t, char *out, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 0;
	size_t i;

	for (i = 0; i < t->len && i < 32 && n + 3 < size; i++) {
		out[n++] = digits[t->data[i] >> 4];
		out[n++] = digits[t->data[i] & 0xf];
	}
	if (i < t->len && n + 4 < size) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static bool
tlsa_is_usable(const struct smx_dns_tlsa *t)
{
	struct smx_tls_tlsa x = { t->usage, t->selector, t->mtype, t->data,
		t->len };

	return smx_tls_tlsa_usable(&x);
}

/* ------------------------------------------------------------------ */
/* Text                                                                 */

/* Untrusted text made printable ('?' for other bytes). */
static void
put_text(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		fputc(c >= 0x20 && c < 0x7f ? c : '?', fp);
	}
}

static void
text_route(const struct probe_report *r, const struct probe_route *pr,
    const char *what, FILE *fp)
{
	size_t i;

	if (!pr->is_done)
		return;
	fprintf(fp, "%s %s%s: ", what, pr == &r->srv ? "_secmx._tcp." : "",
	    r->domain);
	if (pr->st != SMX_OK &&
	    !(pr->st == SMX_NOTFOUND && pr->route.is_null)) {
		fprintf(fp, "%s (", smx_status_name(pr->st));
		put_text(fp, pr->reason);
		fprintf(fp, ")\n");
		return;
	}
	if (pr->route.is_null) {
		fprintf(fp, "null (\".\": %s), dnssec=%s\n",
		    pr == &r->srv ? "SecMX not offered" : "no mail accepted",
		    dnssec_word(pr->route.is_ad));
		return;
	}
	fprintf(fp, "%zu target(s), dnssec=%s\n", pr->route.n_targets,
	    dnssec_word(pr->route.is_ad));
	for (i = 0; i < pr->route.n_targets; i++)
		fprintf(fp, "  %u %s port %u\n",
		    (unsigned)pr->route.target[i].pref,
		    pr->route.target[i].host,
		    (unsigned)pr->route.target[i].port);
}

static void
text_chain(const struct smx_tls_chain *c, FILE *fp)
{
	size_t i;

	for (i = 0; i < c->n_certs; i++) {
		fprintf(fp, "      certificate %zu: subject ", i);
		put_text(fp, c->cert[i].subject);
		fprintf(fp, "\n        issuer ");
		put_text(fp, c->cert[i].issuer);
		fprintf(fp, "\n        names ");
		put_text(fp,
		    c->cert[i].names[0] != '\0' ? c->cert[i].names : "-");
		fprintf(fp, "\n        %s %ld days\n",
		    c->cert[i].days_left >= 0 ? "expires in" : "expired",
		    c->cert[i].days_left >= 0 ? c->cert[i].days_left
		                              : -c->cert[i].days_left);
	}
}

static void
text_attempt(const struct probe_attempt *a, FILE *fp)
{
	const struct smtp_session_result *res = &a->res;
	char line[TRANSPORT_LINE_MAX + 1];
	size_t i;

	fprintf(fp, "    attempt ");
	put_text(fp, res->peer);
	fprintf(fp, ": TLS %s\n", policy_word(a->policy, a->is_dane));
	fprintf(fp, "      reached: %s%s\n", smtp_stage_name(res->stage),
	    res->is_helo ? " (HELO)" : "");
	if (res->has_tls || res->tls.protocol[0] != '\0') {
		fprintf(fp, "      TLS: ");
		put_text(fp, res->tls.protocol);
		fprintf(fp, " ");
		put_text(fp, res->tls.cipher);
		fprintf(fp, "\n");
	}
	text_chain(&a->chain, fp);
	if (a->policy != SMTP_TLS_NONE) {
		fprintf(fp, "      verify=%s",
		    smx_tls_verified_name(res->tls.verified));
		if (res->tls.tlsa_match[0] != '\0')
			fprintf(fp, " (TLSA %s matched)", res->tls.tlsa_match);
		if (res->tls.verify_reason[0] != '\0') {
			fprintf(fp, " (");
			put_text(fp, res->tls.verify_reason);
			fprintf(fp, ")");
		}
		fprintf(fp, "\n");
		if (a->n_names > 0) {
			fprintf(fp, "      names tried:");
			for (i = 0; i < a->n_names; i++)
				fprintf(fp, "%s %s", i ? "," : "", a->names[i]);
			fprintf(fp, "\n");
		}
	}
	outcome_attempt_line(res, line, sizeof(line));
	fprintf(fp, "      result: ");
	put_text(fp, line);
	fprintf(fp, "\n");
}

static void
text_target(const struct probe_target *t, FILE *fp)
{
	char hex[80];
	size_t i;

	fprintf(fp, "target %s port %u\n", t->host[0] ? t->host : "-", t->port);
	if (t->addr_st != SMX_OK) {
		fprintf(fp, "  addresses: %s (", smx_status_name(t->addr_st));
		put_text(fp, t->addr_reason);
		fprintf(fp, ")\n");
	} else {
		fprintf(fp, "  addresses:");
		for (i = 0; i < t->addrs.n_addrs; i++)
			fprintf(fp, " %s", t->addrs.addr[i].text);
		fprintf(fp, ", dnssec=%s\n", dnssec_word(t->addrs.is_ad));
	}
	if (t->has_tlsa) {
		fprintf(fp, "  TLSA _%u._tcp.%s: ", t->port, t->host);
		if (t->tlsa_st == SMX_OK)
			fprintf(fp, "%zu record(s), dnssec=%s", t->tlsa.n_rr,
			    dnssec_word(t->tlsa.is_ad));
		else {
			fprintf(fp, "%s (", smx_status_name(t->tlsa_st));
			put_text(fp, t->tlsa_reason);
			fprintf(fp, ")");
		}
		fprintf(fp, ", dane=%s\n", dane_word(t->dane));
		for (i = 0; t->tlsa_st == SMX_OK && i < t->tlsa.n_rr; i++) {
			hex_data(&t->tlsa.rr[i], hex, sizeof(hex));
			fprintf(fp, "    %u %u %u %s (%s)\n",
			    (unsigned)t->tlsa.rr[i].usage,
			    (unsigned)t->tlsa.rr[i].selector,
			    (unsigned)t->tlsa.rr[i].mtype, hex,
			    tlsa_is_usable(&t->tlsa.rr[i]) ? "usable"
			                                   : "unusable");
		}
	}
	if (t->skip[0] != '\0') {
		fprintf(fp, "  not tried: ");
		put_text(fp, t->skip);
		fprintf(fp, "\n");
	}
	for (i = 0; i < t->n_attempts; i++)
		text_attempt(&t->attempt[i], fp);
}

static void
text_verdict(const char *role, const struct outcome *o, FILE *fp)
{
	fprintf(fp, "%s: %s ", role, action_word(o));
	if (o->status == SMX_OK) {
		put_text(fp, o->relay);
		fprintf(fp, " (%s, verify=%s)\n",
		    o->tls_protocol[0] != '\0' ? o->tls_protocol
		                               : "without TLS",
		    smx_tls_verified_name(o->tls_verified));
		return;
	}
	put_text(fp, o->line);
	fprintf(fp, "\n");
}

void
probe_write_text(const struct probe_report *r, FILE *fp)
{
	size_t i;

	fprintf(fp, "secmx-probe %s (details as a %s)\n", r->domain,
	    r->is_sos ? "Secure Only Sender" : "Best Effort Sender");
	text_route(r, &r->srv, "SRV", fp);
	text_route(r, &r->mx, "MX", fp);
	for (i = 0; i < r->n_targets; i++)
		text_target(r->target[i], fp);
	if (r->decided[0] != '\0') {
		fprintf(fp, "DNS decided: ");
		put_text(fp, r->decided);
		fprintf(fp, "\n");
	}
	for (i = 0; i < r->n_checks; i++) {
		const struct probe_rcpt_check *c = &r->check[i];

		fprintf(fp, "recipient check ");
		put_text(fp, c->peer);
		fprintf(fp, " RCPT TO:<%s> in plaintext: %s (", r->rcpt_address,
		    c->is_secure_only && c->reply_code / 100 == 4
		        ? "refused for now (4xx), Secure Only"
		        : c->is_secure_only        ? "refused, Secure Only"
		        : c->reply_code / 100 == 2 ? "ACCEPTED: not Secure Only"
		                                   : "not decided");
		put_text(fp, c->text);
		fprintf(fp, ")\n");
	}
	text_verdict("sos", &r->verdict_sos, fp);
	text_verdict("bes", &r->verdict_bes, fp);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                 */

/* A JSON string: quotes, backslash and every byte outside 0x20-0x7e
 * escaped (RFC 8259 section 7), so hostile bytes stay data. */
static void
json_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

static void
json_kv(FILE *fp, const char *key, const char *value, bool is_last)
{
	json_str(fp, key);
	fputc(':', fp);
	json_str(fp, value);
	if (!is_last)
		fputc(',', fp);
}

static void
json_route(const struct probe_route *pr, FILE *fp)
{
	size_t i;

	if (!pr->is_done) {
		fprintf(fp, "null");
		return;
	}
	fputc('{', fp);
	json_kv(fp, "status", smx_status_name(pr->st), false);
	json_kv(fp, "reason", pr->reason, false);
	fprintf(fp,
	    "\"null\":%s,\"dnssec\":", pr->route.is_null ? "true" : "false");
	json_str(fp, dnssec_word(pr->route.is_ad));
	fprintf(fp, ",\"targets\":[");
	for (i = 0; i < pr->route.n_targets; i++) {
		fprintf(fp, "%s{\"host\":", i ? "," : "");
		json_str(fp, pr->route.target[i].host);
		fprintf(fp, ",\"port\":%u,\"preference\":%u}",
		    (unsigned)pr->route.target[i].port,
		    (unsigned)pr->route.target[i].pref);
	}
	fprintf(fp, "]}");
}

static void
json_attempt(const struct probe_attempt *a, FILE *fp)
{
	const struct smtp_session_result *res = &a->res;
	char line[TRANSPORT_LINE_MAX + 1];
	size_t i;

	outcome_attempt_line(res, line, sizeof(line));
	fputc('{', fp);
	json_kv(fp, "peer", res->peer, false);
	json_kv(fp, "tls_policy", policy_word(a->policy, a->is_dane), false);
	json_kv(fp, "stage", smtp_stage_name(res->stage), false);
	json_kv(fp, "class", outcome_class_name(outcome_classify(res)), false);
	json_kv(fp, "protocol", res->tls.protocol, false);
	json_kv(fp, "cipher", res->tls.cipher, false);
	json_kv(fp, "verify", smx_tls_verified_name(res->tls.verified), false);
	json_kv(fp, "verify_reason", res->tls.verify_reason, false);
	json_kv(fp, "tlsa_match", res->tls.tlsa_match, false);
	fprintf(fp, "\"names\":[");
	for (i = 0; i < a->n_names; i++) {
		if (i > 0)
			fputc(',', fp);
		json_str(fp, a->names[i]);
	}
	fprintf(fp, "],\"certificates\":[");
	for (i = 0; i < a->chain.n_certs; i++) {
		fprintf(fp, "%s{", i ? "," : "");
		json_kv(fp, "subject", a->chain.cert[i].subject, false);
		json_kv(fp, "issuer", a->chain.cert[i].issuer, false);
		json_kv(fp, "names", a->chain.cert[i].names, false);
		fprintf(fp, "\"days_left\":%ld}", a->chain.cert[i].days_left);
	}
	fprintf(fp, "],");
	json_kv(fp, "result", line, true);
	fputc('}', fp);
}

static void
json_target(const struct probe_target *t, FILE *fp)
{
	char hex[80];
	size_t i;

	fputc('{', fp);
	json_kv(fp, "host", t->host, false);
	fprintf(fp, "\"port\":%u,", t->port);
	json_kv(fp, "addresses_status", smx_status_name(t->addr_st), false);
	fprintf(fp, "\"addresses\":[");
	for (i = 0; t->addr_st == SMX_OK && i < t->addrs.n_addrs; i++) {
		if (i > 0)
			fputc(',', fp);
		json_str(fp, t->addrs.addr[i].text);
	}
	fprintf(fp, "],");
	json_kv(fp, "addresses_dnssec", dnssec_word(t->addrs.is_ad), false);
	if (t->has_tlsa) {
		fprintf(fp, "\"tlsa\":{");
		json_kv(fp, "status", smx_status_name(t->tlsa_st), false);
		json_kv(fp, "dnssec", dnssec_word(t->tlsa.is_ad), false);
		json_kv(fp, "dane", dane_word(t->dane), false);
		fprintf(fp, "\"records\":[");
		for (i = 0; t->tlsa_st == SMX_OK && i < t->tlsa.n_rr; i++) {
			hex_data(&t->tlsa.rr[i], hex, sizeof(hex));
			fprintf(fp,
			    "%s{\"usage\":%u,\"selector\":%u,\"mtype\":%u,\"usable\":%s,",
			    i ? "," : "", (unsigned)t->tlsa.rr[i].usage,
			    (unsigned)t->tlsa.rr[i].selector,
			    (unsigned)t->tlsa.rr[i].mtype,
			    tlsa_is_usable(&t->tlsa.rr[i]) ? "true" : "false");
			json_kv(fp, "data", hex, true);
			fputc('}', fp);
		}
		fprintf(fp, "]},");
	} else {
		fprintf(fp, "\"tlsa\":null,");
	}
	json_kv(fp, "skipped", t->skip, false);
	fprintf(fp, "\"attempts\":[");
	for (i = 0; i < t->n_attempts; i++) {
		if (i > 0)
			fputc(',', fp);
		json_attempt(&t->attempt[i], fp);
	}
	fprintf(fp, "]}");
}

static void
json_verdict(const struct outcome *o, FILE *fp)
{
	fputc('{', fp);
	json_kv(fp, "action", action_word(o), false);
	json_kv(fp, "relay", o->relay, false);
	json_kv(fp, "tls", o->tls_protocol, false);
	json_kv(fp, "verify", smx_tls_verified_name(o->tls_verified), false);
	json_kv(fp, "dnssec", dnssec_word(o->is_secure), false);
	json_kv(fp, "line", o->line, true);
	fputc('}', fp);
}

void
probe_write_json(const struct probe_report *r, FILE *fp)
{
	size_t i;

	fputc('{', fp);
	json_kv(fp, "domain", r->domain, false);
	json_kv(fp, "role", r->is_sos ? "sos" : "bes", false);
	fprintf(fp, "\"srv\":");
	json_route(&r->srv, fp);
	fprintf(fp, ",\"mx\":");
	json_route(&r->mx, fp);
	fprintf(fp, ",\"targets\":[");
	for (i = 0; i < r->n_targets; i++) {
		if (i > 0)
			fputc(',', fp);
		json_target(r->target[i], fp);
	}
	fprintf(fp, "],");
	json_kv(fp, "dns_decided", r->decided, false);
	fprintf(fp, "\"recipient_checks\":[");
	for (i = 0; i < r->n_checks; i++) {
		fprintf(fp, "%s{", i ? "," : "");
		json_kv(fp, "peer", r->check[i].peer, false);
		json_kv(fp, "address", r->rcpt_address, false);
		fprintf(fp, "\"reply_code\":%u,\"secure_only\":%s,",
		    r->check[i].reply_code,
		    r->check[i].is_secure_only ? "true" : "false");
		json_kv(fp, "text", r->check[i].text, true);
		fputc('}', fp);
	}
	fprintf(fp, "],\"verdicts\":{\"sos\":");
	json_verdict(&r->verdict_sos, fp);
	fprintf(fp, ",\"bes\":");
	json_verdict(&r->verdict_bes, fp);
	fprintf(fp, "},\"exit\":%d}\n", probe_verdict_exit(r));
}
