/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_decision - the SecMX receiver policy for one policy request
 * DESCRIPTION
 *	At protocol_state RCPT, looks up every effective recipient domain
 *	(smx_addr_domains) in receiver_roles; SOR wins over BER wins over
 *	none, and the first domain with the winning role is the one named.
 *	For SOR the session must be encrypted (encryption_protocol not empty
 *	and, when present, encryption_keysize not 0), at tls_min_protocol or
 *	newer, and, when sor_client_certs is configured, show a client
 *	certificate whose fingerprint or public-key fingerprint is listed.
 *	Checks run in that order and the first failure decides the reason:
 *	"plaintext", "protocol" or "ccert". Everything else is DUNNO.
 *
 *	A protocol name that smx_tls_version_parse does not know is treated
 *	as older than any minimum (fail closed) and the reply says so.
 *
 *	Addresses that smx_addr_domains rejects as malformed are not let
 *	through in plaintext just because they are malformed. The fallback
 *	splits the raw recipient at every byte that cannot occur in a host
 *	name (a superset of '@', '%', '!', ',', ':', quotes and brackets),
 *	then once more with non-ASCII bytes kept in the pieces (names in
 *	UTF-8), drops each piece's trailing dots, reads it as a domain
 *	(smx_addr_domain_parse), looks those up as for a well-formed
 *	address, then takes its address
 *	literals and, when it has no '@' at all, unqualified_recipient_domain
 *	(see below). The strongest role found is then applied exactly as for
 *	a well-formed address. When no piece is an SOR or BER domain the
 *	answer is DUNNO with reason "syntax" (and role none); Postfix's own
 *	address checks deal with the rest.
 *
 *	Recipient domains in UTF-8 (SMTPUTF8) are looked up as A-labels,
 *	the form the tables hold. A domain that is not valid UTF-8 IDNA2008
 *	cannot be matched, and might be an SOR domain written so that it
 *	cannot be: as soon as receiver_roles lists any SOR domain it counts
 *	as SOR, so plaintext is refused with reason "idn", and it is named
 *	as written with '?' for each non-ASCII byte.
 *
 *	Recipients without a DNS domain are not let through either. An
 *	address literal ("bob@[192.0.2.7]": this host, or one that is not
 *	in the DNS) has address_literal_role, SOR unless configured, and
 *	is named with its brackets. A recipient without '@' ("bob") is
 *	completed by Postfix with $myorigin and belongs to
 *	unqualified_recipient_domain, this host's name unless configured;
 *	that domain is the one named.
 *
 *	When the role is none, domain is the first effective domain, or "-"
 *	when there is none (empty recipient, syntax fallback, or a state
 *	other than RCPT).
 *	The decision's tls is "none" for plaintext and otherwise points to
 *	the request's encryption_protocol: it lives as long as the facts.
 * LIMITS
 *	At most SMX_ADDR_DOMAINS_MAX effective domains; more makes the
 *	address invalid and selects the fallback above. The action fits
 *	POLICY_REPLY_MAX; audit values are cut at SMX_LOG_VALUE_MAX.
 * DIAGNOSTICS
 *	smx_decide always produces an answer. The action is "DUNNO" or
 *	"<code> <dsn> <text>" and never empty; the text holds only fixed
 *	words, protocol names from our own table and a validated host name,
 *	address literal, or bad IDN name of host-name bytes and '?', so no
 *	request byte outside those (CR, LF, NUL, non-ASCII or other) can
 *	reach the reply.
 *	smx_decision_audit logs one info line.
 * SECURITY
 *	Every request value is untrusted. Raw values appear only in the
 *	audit line, bounded and made printable by smx_log.
 * SEE ALSO
 *	SecMX Level 2 section 5 (roles); Postfix SMTPD_POLICY_README
 *	(encryption_* and ccert_* attributes); RFC 3463 (X.7.0).
 */
#include "smx_decision.h"

#include <stdio.h>
#include <string.h>

#include "smx_addr.h"
#include "smx_log.h"
#include "smx_table.h"
#include "smx_util.h"

#define SOR_SUFFIX "(SecMX Secure Only Receiver)"

/* role_word - the lower-case word for receiver roles in audit lines. */
static const char *
role_word(enum smx_role role)
{
	switch (role) {
	case SMX_ROLE_SOR:
		return "sor";
	case SMX_ROLE_BER:
		return "ber";
	default:
		return "none";
	}
}

/* lookup_role - the receiver role of one domain; none when unlisted. */
static enum smx_role
lookup_role(const struct smx_config *cfg, const char *domain, size_t len)
{
	const char *v;

	if (cfg->receiver_roles == NULL)
		return SMX_ROLE_NONE;
	v = smx_table_lookup_domain(cfg->receiver_roles, domain, len);
	if (v == NULL)
		return SMX_ROLE_NONE;
	if (smx_ascii_casecmp(v, "sor") == 0)
		return SMX_ROLE_SOR;
	if (smx_ascii_casecmp(v, "ber") == 0)
		return SMX_ROLE_BER;
	return SMX_ROLE_NONE;
}

/*
 * consider - fold one candidate domain (a host name, an address literal
 * or a bad IDN name, len bytes) of the given role into the best role so
 * far; the first domain of a stronger role replaces the one recorded, and
 * the first domain of all is recorded while the role is none. Roles are
 * ranked SOR > BER > none. True when this domain was recorded.
 */
static bool
consider(const char *domain, size_t len, enum smx_role role,
    struct smx_decision *out)
{
	static const int rank[] = { [SMX_ROLE_NONE] = 0,
		[SMX_ROLE_SOR] = 2,
		[SMX_ROLE_BER] = 1,
		[SMX_ROLE_SOS] = 0,
		[SMX_ROLE_BES] = 0 };

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > SMX_DOMAIN_MAX)
		return false;
	if (rank[role] > rank[out->role] ||
	    (out->role == SMX_ROLE_NONE && strcmp(out->domain, "-") == 0)) {
		out->role = rank[role] > 0 ? role : SMX_ROLE_NONE;
		memcpy(out->domain, domain, len);
		out->domain[len] = '\0';
		smx_ascii_lower(out->domain, len);
		return true;
	}
	return false;
}

/*
 * entry_role - the receiver role of one effective domain, and in *name
 * the name it goes by (NULL when there is none): a host name has its
 * receiver role; an address literal has address_literal_role; an
 * unqualified recipient belongs to unqualified_recipient_domain; a name
 * that is not valid UTF-8 IDNA counts as SOR as soon as any SOR domain
 * is configured, because it might be one written in a form we cannot
 * convert.
 */
static enum smx_role
entry_role(const struct smx_config *cfg, const struct smx_addr_domain *d,
    const char **name)
{
	*name = d->name;
	switch (d->kind) {
	case SMX_ADDR_LITERAL:
		return cfg->address_literal_role;
	case SMX_ADDR_BAD_IDN:
		return smx_table_count_role(cfg->receiver_roles, "sor") > 0
		    ? SMX_ROLE_SOR
		    : SMX_ROLE_NONE;
	case SMX_ADDR_UNQUALIFIED:
		*name = cfg->unqualified_recipient_domain;
		if (*name == NULL)
			return SMX_ROLE_NONE;
		break;
	case SMX_ADDR_DOMAIN:
		break;
	}
	return lookup_role(cfg, *name, strlen(*name));
}

/*
 * consider_entry - fold one effective domain in (entry_role); for the
 * syntax fallback (is_fallback) only SOR and BER domains. Sets
 * *is_bad_idn when a bad IDN name becomes the deciding SOR domain.
 */
static void
consider_entry(const struct smx_config *cfg, const struct smx_addr_domain *d,
    bool is_fallback, struct smx_decision *out, bool *is_bad_idn)
{
	const char *name;
	enum smx_role role = entry_role(cfg, d, &name);

	if (name == NULL || (is_fallback && role == SMX_ROLE_NONE))
		return;
	if (consider(name, strlen(name), role, out) &&
	    d->kind == SMX_ADDR_BAD_IDN && role == SMX_ROLE_SOR)
		*is_bad_idn = true;
}

/*
 * is_name_byte - the bytes of a domain piece for the syntax fallback:
 * host-name bytes and '.', and with utf8 also non-ASCII bytes.
 */
static bool
is_name_byte(unsigned char c, bool utf8)
{
	return smx_is_host_char(c) || c == '.' || (utf8 && c >= 0x80);
}

/*
 * fallback_pieces - the domain pieces of a raw recipient for the syntax
 * fallback, split at every byte that cannot occur in a name in ASCII
 * or, with utf8, only those pieces that hold non-ASCII bytes.
 */
static void
fallback_pieces(const struct smx_config *cfg, const char *rcpt, size_t len,
    bool utf8, struct smx_decision *out, bool *is_bad_idn)
{
	struct smx_addr_domain d;
	size_t i = 0;

	while (i < len) {
		bool has_utf8 = false;
		size_t start;
		size_t end;

		while (i < len && !is_name_byte((unsigned char)rcpt[i], utf8))
			i++;
		start = i;
		for (; i < len && is_name_byte((unsigned char)rcpt[i], utf8);
		     i++)
			has_utf8 |= (unsigned char)rcpt[i] >= 0x80;
		/* Every trailing dot goes: "sor.example.." still names it. */
		end = i;
		while (end > start && rcpt[end - 1] == '.')
			end--;
		if (end > start && has_utf8 == utf8 &&
		    smx_addr_domain_parse(rcpt + start, end - start, &d) ==
		        SMX_OK)
			consider_entry(cfg, &d, true, out, is_bad_idn);
	}
}

/*
 * fallback_roles - the syntax fallback (see DESCRIPTION): the strongest
 * role among the domain pieces of a raw recipient, in ASCII and then in
 * UTF-8, its address literals, and, when it has no '@' at all,
 * unqualified_recipient_domain. Only SOR and BER domains are recorded,
 * so a malformed address never names a domain of role none.
 */
static void
fallback_roles(const struct smx_config *cfg, const char *rcpt,
    struct smx_decision *out, bool *is_bad_idn)
{
	struct smx_addr_domain d;
	size_t len = strlen(rcpt);
	const char *open;
	size_t i;

	fallback_pieces(cfg, rcpt, len, false, out, is_bad_idn);
	fallback_pieces(cfg, rcpt, len, true, out, is_bad_idn);
	/* One pass: a literal runs from the last '[' to the next ']'. */
	for (i = 0, open = NULL; i < len; i++) {
		if (rcpt[i] == '[') {
			open = rcpt + i;
		} else if (rcpt[i] == ']' && open != NULL) {
			if (smx_addr_domain_parse(open,
			        (size_t)(rcpt + i - open) + 1, &d) == SMX_OK)
				consider_entry(cfg, &d, true, out, is_bad_idn);
			open = NULL;
		}
	}
	if (len > 0 && strchr(rcpt, '@') == NULL) {
		d.kind = SMX_ADDR_UNQUALIFIED;
		d.name[0] = '\0';
		consider_entry(cfg, &d, true, out, is_bad_idn);
	}
}

/* is_plaintext - Postfix sends an empty protocol and keysize 0 then. */
static bool
is_plaintext(const struct smx_facts *f)
{
	return f->encryption_protocol[0] == '\0' ||
	    (f->has_keysize && f->encryption_keysize == 0);
}

/*
 * ccert_listed - true when sor_client_certs is not configured, or when
 * either fingerprint is a key of it. A configured table that is not
 * loaded lists nothing (fail closed).
 */
static bool
ccert_listed(const struct smx_config *cfg, const struct smx_facts *f)
{
	if (cfg->sor_client_certs_path == NULL && cfg->sor_client_certs == NULL)
		return true;
	if (cfg->sor_client_certs == NULL)
		return false;
	if (f->ccert_fingerprint[0] != '\0' &&
	    smx_table_lookup_exact(cfg->sor_client_certs,
	        f->ccert_fingerprint) != NULL)
		return true;
	if (f->ccert_pubkey_fingerprint[0] != '\0' &&
	    smx_table_lookup_exact(cfg->sor_client_certs,
	        f->ccert_pubkey_fingerprint) != NULL)
		return true;
	return false;
}

/*
 * reject - format "<code> <dsn> Mail for <domain> <requirement>". The
 * code and DSN come from the config; should they ever be out of range
 * the reply is still a valid permanent-or-temporary reject, never
 * "DUNNO" (fail closed).
 */
static void
reject(const struct smx_config *cfg, struct smx_decision *out,
    const char *requirement)
{
	unsigned code = cfg->sor_reject_code;
	char dsn[sizeof(cfg->sor_reject_dsn)];
	int n;

	if (code < 400 || code > 599)
		code = 530;
	if (strlen(cfg->sor_reject_dsn) == 5 &&
	    cfg->sor_reject_dsn[0] == (char)('0' + code / 100) &&
	    memcmp(cfg->sor_reject_dsn + 1, ".7.", 3) == 0 &&
	    cfg->sor_reject_dsn[4] >= '0' && cfg->sor_reject_dsn[4] <= '9')
		memcpy(dsn, cfg->sor_reject_dsn, 6);
	else
		(void)snprintf(dsn, sizeof(dsn), "%u.7.0", code / 100);
	out->verdict = SMX_VERDICT_REJECT;
	n = snprintf(out->action, sizeof(out->action), "%u %s Mail for %s %s",
	    code, dsn, out->domain, requirement);
	if (n < 0 || (size_t)n >= sizeof(out->action))
		(void)snprintf(out->action, sizeof(out->action),
		    "%u %s TLS required " SOR_SUFFIX, code, dsn);
}

/* sor_checks - apply the SOR requirements in their documented order. */
static void
sor_checks(const struct smx_config *cfg, const struct smx_facts *f,
    struct smx_decision *out)
{
	enum smx_tls_version min = cfg->tls_min_protocol;
	enum smx_tls_version v = SMX_TLS_NONE;
	const char *min_name = smx_tls_version_name(min);
	char text[160];

	if (min_name == NULL)
		min_name = "TLSv1.2";
	if (is_plaintext(f)) {
		out->reason = "plaintext";
		reject(cfg, out, "is accepted only over TLS " SOR_SUFFIX);
		return;
	}
	if (smx_tls_version_parse(f->encryption_protocol, &v) != SMX_OK) {
		out->reason = "protocol";
		(void)snprintf(text, sizeof(text),
		    "requires %s or newer; an unknown TLS protocol counts as too old " SOR_SUFFIX,
		    min_name);
		reject(cfg, out, text);
		return;
	}
	if (v < min) {
		out->reason = "protocol";
		(void)snprintf(text, sizeof(text),
		    "requires %s or newer; %s is too old " SOR_SUFFIX, min_name,
		    smx_tls_version_name(v));
		reject(cfg, out, text);
		return;
	}
	if (!ccert_listed(cfg, f)) {
		out->reason = "ccert";
		reject(cfg, out,
		    "requires a listed TLS client certificate " SOR_SUFFIX);
		return;
	}
	out->reason = "tls";
}

void
smx_decide(const struct smx_config *cfg, const struct smx_facts *f,
    struct smx_decision *out)
{
	struct smx_addr_domain domains[SMX_ADDR_DOMAINS_MAX];
	size_t n_domains = 0;
	bool is_syntax_error = false;
	bool is_bad_idn = false;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->verdict = SMX_VERDICT_DUNNO;
	out->role = SMX_ROLE_NONE;
	out->domain[0] = '-';
	out->reason = "none";
	out->tls = is_plaintext(f) ? "none" : f->encryption_protocol;
	(void)smx_strlcpy(out->action, "DUNNO", sizeof(out->action));

	if (smx_ascii_casecmp(f->protocol_state, "RCPT") != 0)
		return;

	if (smx_addr_domains(f->recipient, strlen(f->recipient), domains,
	        SMX_ADDR_DOMAINS_MAX, &n_domains) == SMX_OK) {
		for (i = 0; i < n_domains; i++)
			consider_entry(cfg, &domains[i], false, out,
			    &is_bad_idn);
	} else {
		is_syntax_error = true;
		fallback_roles(cfg, f->recipient, out, &is_bad_idn);
	}

	switch (out->role) {
	case SMX_ROLE_SOR:
		sor_checks(cfg, f, out);
		if (is_bad_idn && strcmp(out->reason, "plaintext") == 0)
			out->reason = "idn";
		out->is_audited = true;
		break;
	case SMX_ROLE_BER:
		out->reason = is_plaintext(f) ? "plaintext" : "tls";
		out->is_audited = true;
		break;
	default:
		out->role = SMX_ROLE_NONE;
		out->reason = is_syntax_error ? "syntax" : "none";
		out->is_audited = cfg->audit == SMX_AUDIT_ALL;
		break;
	}
}

void
smx_decision_audit(const struct smx_facts *f, const struct smx_decision *d)
{
	const char *queue_id = f->queue_id[0] != '\0' ? f->queue_id : "NOQUEUE";
	const char *tls = d->tls != NULL ? d->tls : "none";

	smx_log_info(
	    "%.*s: action=%s role=%s domain=%.*s rcpt=<%.*s> client=%.*s[%.*s] tls=%.*s reason=%s",
	    SMX_LOG_VALUE_MAX, queue_id,
	    d->verdict == SMX_VERDICT_REJECT ? "reject" : "dunno",
	    role_word(d->role), SMX_DOMAIN_MAX, d->domain, SMX_LOG_VALUE_MAX,
	    f->recipient, SMX_LOG_VALUE_MAX, f->client_name, SMX_LOG_VALUE_MAX,
	    f->client_address, SMX_LOG_VALUE_MAX, tls,
	    d->reason != NULL ? d->reason : "none");
}
