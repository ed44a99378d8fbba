/* SPDX-License-Identifier: MIT */
#ifndef SMX_DECISION_H
#define SMX_DECISION_H

#include <stdbool.h>

#include "smx_config.h"
#include "smx_limits.h"

/*
 * struct smx_facts - what the receiver knows about one SMTP command, taken
 * from a Postfix policy request. Every pointer is a NUL-terminated string,
 * possibly empty, never NULL; the caller owns them. has_keysize is false
 * when the request had no encryption_keysize attribute.
 */
struct smx_facts {
	const char *protocol_state; /* "RCPT", "MAIL", ... */
	const char *queue_id;
	const char *sender;
	const char *recipient;
	const char *client_name;
	const char *client_address;
	const char *encryption_protocol; /* "TLSv1.3" or "" */
	const char *encryption_cipher;
	const char *ccert_fingerprint;
	const char *ccert_pubkey_fingerprint;
	unsigned long encryption_keysize;
	bool has_keysize;
};

enum smx_verdict {
	SMX_VERDICT_DUNNO = 0, /* no opinion: Postfix goes on */
	SMX_VERDICT_REJECT,    /* refuse with reply_code/reply_dsn/text */
};

/*
 * Why a decision was made; printed as reason= in the audit line:
 * "plaintext", "protocol" (TLS too old), "ccert" (no listed client
 * certificate), "tls" (TLS, accepted), "idn" (plaintext, and a recipient
 * domain that is not valid UTF-8 IDNA counts as SOR), "syntax"
 * (recipient address cannot be parsed), "none" (not a SecMX domain or
 * not RCPT).
 */
struct smx_decision {
	enum smx_verdict verdict;
	enum smx_role role;              /* SOR, BER or NONE */
	char domain[SMX_DOMAIN_MAX + 1]; /* the domain that decided */
	const char *reason;              /* static string, see above */
	const char *tls;                 /* "none" or the protocol */
	char action[POLICY_REPLY_MAX];   /* value of action=, never "" */
	bool is_audited;                 /* log it under this config */
};

/*
 * smx_decide - the receiver policy for one request:
 *	- protocol_state other than RCPT: DUNNO;
 *	- plaintext is encryption_protocol empty or keysize 0;
 *	- for each effective recipient domain (smx_addr_domains) look up
 *	  receiver_roles; an address literal has address_literal_role; a
 *	  recipient without '@' is in unqualified_recipient_domain (when
 *	  set); a domain in UTF-8 is looked up as A-labels, and one that is
 *	  not valid UTF-8 IDNA is SOR when receiver_roles has any SOR entry;
 *	  SOR wins over BER over none;
 *	- SOR and plaintext: reject; SOR and a protocol below
 *	  tls_min_protocol: reject; SOR with sor_client_certs set and neither
 *	  fingerprint listed: reject; otherwise DUNNO;
 *	- BER: DUNNO, audited; others: DUNNO, audited only with audit=all.
 * A recipient that smx_addr_domains cannot parse is split at every byte
 * that cannot occur in a host name and each piece is looked up, so that a
 * malformed address cannot hide an SOR domain; with no SOR/BER piece the
 * answer is DUNNO with reason "syntax".
 * A reject's action is "<code> <dsn> <text>" with sor_reject_code, its
 * DSN class, and a text naming the domain and what is missing. The
 * action never contains CR, LF or NUL and is never empty. Pure; never
 * exits.
 */
void smx_decide(const struct smx_config *, const struct smx_facts *,
    struct smx_decision *out);

/*
 * smx_decision_audit - log one audit line for a decision at info level:
 * "QUEUEID: action=reject role=sor domain=sor.example
 * rcpt=<a@sor.example> client=host[192.0.2.1] tls=none reason=plaintext"
 * ("NOQUEUE" when queue_id is empty; action is "reject" or "dunno").
 */
void smx_decision_audit(const struct smx_facts *, const struct smx_decision *);

#endif
