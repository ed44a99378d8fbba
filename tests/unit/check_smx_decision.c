/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/smx_decision.c: the receiver policy and its audit. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "smx_config.h"
#include "smx_decision.h"
#include "smx_log.h"
#include "smx_table.h"

#define SUFFIX " (SecMX Secure Only Receiver)"

static const char roles_text[] = "# receiver_roles\n"
                                 "sor.example\tsor\n"
                                 "ber.example\tber\n"
                                 ".sorparent.example sor\n"
                                 "s\xc3\xb6r.example sor\n"
                                 "xn--bcher-kva.example ber\n";

/* Receiver roles without any SOR domain. */
static const char ber_roles_text[] = "ber.example ber\n";

/* SHA-256 fingerprints as Postfix prints them: 32 bytes, ':'-separated. */
#define FP_CERT                                                                \
	"AA:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:"                     \
	"10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F"
#define FP_PKEY                                                                \
	"BB:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:"                     \
	"10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F"
#define FP_OTHER                                                               \
	"CC:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:"                     \
	"10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F"

static const char certs_text[] =
    FP_CERT " client-a\n"
            "bb:01:02:03:04:05:06:07:08:09:0a:0b:0c:"
            "0d:0e:0f:10:11:12:13:14:15:16:17:18:"
            "19:1a:1b:1c:1d:1e:1f client-b\n";

/*
 * Configurations used by the tests. conf is secmx.conf text; has_roles
 * and has_certs attach receiver_roles and sor_client_certs built from
 * the texts above (smx_config_parse loads no tables).
 */
enum conf_id {
	CONF_DEFAULT,      /* 530, TLSv1.2, audit=decisions */
	CONF_STRICT,       /* 450, TLSv1.3, audit=all */
	CONF_LOW,          /* TLSv1 minimum */
	CONF_CERTS,        /* default plus sor_client_certs */
	CONF_NO_ROLES,     /* no receiver_roles at all */
	CONF_ORIGIN,       /* unqualified_recipient_domain = sor.example */
	CONF_ORIGIN_BER,   /* ... = ber.example */
	CONF_ORIGIN_OTHER, /* ... = other.example */
	CONF_ORIGIN_SUB,   /* ... = mx.SORPARENT.example. */
	CONF_LITERAL_BER,  /* address_literal_role = ber */
	CONF_BER_ONLY,     /* receiver_roles without SOR domains */
};

static const struct {
	const char *conf;
	bool has_roles;
	bool has_certs;
	const char *roles; /* NULL: roles_text */
} confs[] = {
	[CONF_DEFAULT] = { "", true, false, NULL },
	[CONF_STRICT] = { "sor_reject_code = 450\n"
	                  "tls_min_protocol = TLSv1.3\n"
	                  "audit = all\n"
	                  "unqualified_recipient_domain = sor.example\n",
	    true, false, NULL },
	[CONF_LOW] = { "tls_min_protocol = TLSv1\n", true, false, NULL },
	[CONF_CERTS] = { "", true, true, NULL },
	[CONF_NO_ROLES] = { "audit = all\n", false, false, NULL },
	[CONF_ORIGIN] = { "unqualified_recipient_domain = sor.example\n", true,
	    false, NULL },
	[CONF_ORIGIN_BER] = { "unqualified_recipient_domain = ber.example\n",
	    true, false, NULL },
	[CONF_ORIGIN_OTHER] = { "unqualified_recipient_domain = other.example\n",
	    true, false, NULL },
	[CONF_ORIGIN_SUB] = { "unqualified_recipient_domain = "
	                      "mx.SORPARENT.example.\n",
	    true, false, NULL },
	[CONF_LITERAL_BER] = { "address_literal_role = ber\n", true, false,
	    NULL },
	[CONF_BER_ONLY] = { "", true, false, ber_roles_text },
};

static struct smx_config *
make_config(enum conf_id id)
{
	struct smx_config *cfg = NULL;
	char err[512] = "";
	enum smx_status st;

	st = smx_config_parse("test.conf", confs[id].conf,
	    strlen(confs[id].conf), &cfg, err, sizeof(err));
	ck_assert_msg(st == SMX_OK, "config %d: %s", (int)id, err);
	if (confs[id].has_roles) {
		const char *roles =
		    confs[id].roles != NULL ? confs[id].roles : roles_text;

		st = smx_table_parse("roles", roles, strlen(roles),
		    SMX_TABLE_RECEIVER, &cfg->receiver_roles, err, sizeof(err));
		ck_assert_msg(st == SMX_OK, "roles: %s", err);
	}
	if (confs[id].has_certs) {
		st = smx_table_parse("certs", certs_text, strlen(certs_text),
		    SMX_TABLE_CCERT, &cfg->sor_client_certs, err, sizeof(err));
		ck_assert_msg(st == SMX_OK, "certs: %s", err);
	}
	return cfg;
}

/* A plaintext RCPT request from a known client; callers adjust it. */
static void
base_facts(struct smx_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->protocol_state = "RCPT";
	f->queue_id = "";
	f->sender = "alice@sender.example";
	f->recipient = "bob@sor.example";
	f->client_name = "mx.sender.example";
	f->client_address = "192.0.2.1";
	f->encryption_protocol = "";
	f->encryption_cipher = "";
	f->ccert_fingerprint = "";
	f->ccert_pubkey_fingerprint = "";
	f->encryption_keysize = 0;
	f->has_keysize = true;
}

/* The invariants of every decision, whatever the input. */
static void
assert_sane(const struct smx_decision *d)
{
	size_t i;

	ck_assert_uint_gt(strlen(d->action), 0);
	/* Printable ASCII only: no CR, LF, control or non-ASCII byte. */
	for (i = 0; d->action[i] != '\0'; i++)
		ck_assert(d->action[i] >= 0x20 && d->action[i] < 0x7f);
	ck_assert_ptr_nonnull(d->reason);
	ck_assert_ptr_nonnull(d->tls);
	if (d->verdict == SMX_VERDICT_DUNNO)
		ck_assert_str_eq(d->action, "DUNNO");
	else
		ck_assert_uint_eq(strlen(d->action) > 10, 1);
}

/* TLS states of a request: plaintext twice over, and encrypted. */
enum tls_state {
	PLAIN_EMPTY,   /* encryption_protocol "" and keysize 0 */
	PLAIN_KEYSIZE, /* a protocol name but keysize 0 */
	TLS,           /* protocol and keysize 256 */
	TLS_NO_KEY,    /* protocol, no encryption_keysize attribute */
};

static void
set_tls(struct smx_facts *f, enum tls_state s, const char *proto)
{
	switch (s) {
	case PLAIN_EMPTY:
		f->encryption_protocol = "";
		f->encryption_keysize = 0;
		f->has_keysize = true;
		break;
	case PLAIN_KEYSIZE:
		f->encryption_protocol = proto;
		f->encryption_keysize = 0;
		f->has_keysize = true;
		break;
	case TLS:
		f->encryption_protocol = proto;
		f->encryption_cipher = "TLS_AES_256_GCM_SHA384";
		f->encryption_keysize = 256;
		f->has_keysize = true;
		break;
	case TLS_NO_KEY:
		f->encryption_protocol = proto;
		f->has_keysize = false;
		break;
	}
}

/*
 * Hand-written cases with the exact expected outcome. verdict 1 is
 * reject; role/domain/reason/action as they must come out.
 */
static const struct {
	enum conf_id conf;
	const char *state;
	const char *rcpt;
	enum tls_state tls;
	const char *proto;
	const char *fp;
	const char *pkey_fp;
	int verdict;
	enum smx_role role;
	const char *domain;
	const char *reason;
	const char *tls_word;
	bool is_audited;
	const char *action;
} cases[] = {
	/* SOR: plaintext either way rejects; TLS at the minimum passes. */
	{ CONF_DEFAULT, "RCPT", "bob@sor.example", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@sor.example", PLAIN_KEYSIZE, "TLSv1.3", "",
	    "", 1, SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@sor.example", TLS, "TLSv1.3", "", "", 0,
	    SMX_ROLE_SOR, "sor.example", "tls", "TLSv1.3", true, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@sor.example", TLS, "TLSv1.2", "", "", 0,
	    SMX_ROLE_SOR, "sor.example", "tls", "TLSv1.2", true, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@sor.example", TLS_NO_KEY, "TLSv1.2", "",
	    "", 0, SMX_ROLE_SOR, "sor.example", "tls", "TLSv1.2", true,
	    "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@sor.example", TLS_NO_KEY, "", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	/* SOR: protocols below the minimum, and unknown ones, reject. */
	{ CONF_DEFAULT, "RCPT", "Bob@SOR.Example.", TLS, "TLSv1.1", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "protocol", "TLSv1.1", true,
	    "530 5.7.0 Mail for sor.example requires TLSv1.2 or newer; "
	    "TLSv1.1 is too old" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@sor.example", TLS, "TLSv1", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "protocol", "TLSv1", true,
	    "530 5.7.0 Mail for sor.example requires TLSv1.2 or newer; "
	    "TLSv1 is too old" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@sor.example", TLS, "SSLv3", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "protocol", "SSLv3", true,
	    "530 5.7.0 Mail for sor.example requires TLSv1.2 or newer; "
	    "SSLv3 is too old" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@sor.example", TLS, "TLSv9.9", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "protocol", "TLSv9.9", true,
	    "530 5.7.0 Mail for sor.example requires TLSv1.2 or newer; an "
	    "unknown TLS protocol counts as too old" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@sor.example", TLS, "TLSv1.3\r\n5", "", "",
	    1, SMX_ROLE_SOR, "sor.example", "protocol", "TLSv1.3\r\n5", true,
	    "530 5.7.0 Mail for sor.example requires TLSv1.2 or newer; an "
	    "unknown TLS protocol counts as too old" SUFFIX },
	/* 450 and TLSv1.3 minimum; audit=all. */
	{ CONF_STRICT, "RCPT", "bob@sor.example", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "450 4.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_STRICT, "RCPT", "bob@sor.example", TLS, "TLSv1.2", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "protocol", "TLSv1.2", true,
	    "450 4.7.0 Mail for sor.example requires TLSv1.3 or newer; "
	    "TLSv1.2 is too old" SUFFIX },
	{ CONF_STRICT, "RCPT", "bob@sor.example", TLS, "TLSv1.3", "", "", 0,
	    SMX_ROLE_SOR, "sor.example", "tls", "TLSv1.3", true, "DUNNO" },
	{ CONF_STRICT, "RCPT", "bob@other.example", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_NONE, "other.example", "none", "none", true, "DUNNO" },
	{ CONF_LOW, "RCPT", "bob@sor.example", TLS, "TLSv1", "", "", 0,
	    SMX_ROLE_SOR, "sor.example", "tls", "TLSv1", true, "DUNNO" },
	{ CONF_LOW, "RCPT", "bob@sor.example", TLS, "SSLv3", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "protocol", "SSLv3", true,
	    "530 5.7.0 Mail for sor.example requires TLSv1 or newer; "
	    "SSLv3 is too old" SUFFIX },
	/* Client certificates. */
	{ CONF_CERTS, "RCPT", "bob@sor.example", TLS, "TLSv1.3", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "ccert", "TLSv1.3", true,
	    "530 5.7.0 Mail for sor.example requires a listed TLS client "
	    "certificate" SUFFIX },
	{ CONF_CERTS, "RCPT", "bob@sor.example", TLS, "TLSv1.3", FP_OTHER,
	    FP_OTHER, 1, SMX_ROLE_SOR, "sor.example", "ccert", "TLSv1.3", true,
	    "530 5.7.0 Mail for sor.example requires a listed TLS client "
	    "certificate" SUFFIX },
	{ CONF_CERTS, "RCPT", "bob@sor.example", TLS, "TLSv1.3", FP_CERT,
	    FP_OTHER, 0, SMX_ROLE_SOR, "sor.example", "tls", "TLSv1.3", true,
	    "DUNNO" },
	{ CONF_CERTS, "RCPT", "bob@sor.example", TLS, "TLSv1.3", FP_OTHER,
	    FP_PKEY, 0, SMX_ROLE_SOR, "sor.example", "tls", "TLSv1.3", true,
	    "DUNNO" },
	{ CONF_CERTS, "RCPT", "bob@sor.example", TLS, "TLSv1.3", "", FP_PKEY, 0,
	    SMX_ROLE_SOR, "sor.example", "tls", "TLSv1.3", true, "DUNNO" },
	/* A listed certificate does not excuse plaintext or old TLS. */
	{ CONF_CERTS, "RCPT", "bob@sor.example", PLAIN_KEYSIZE, "TLSv1.3",
	    FP_CERT, FP_PKEY, 1, SMX_ROLE_SOR, "sor.example", "plaintext",
	    "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_CERTS, "RCPT", "bob@sor.example", TLS, "TLSv1.1", FP_CERT,
	    FP_PKEY, 1, SMX_ROLE_SOR, "sor.example", "protocol", "TLSv1.1",
	    true,
	    "530 5.7.0 Mail for sor.example requires TLSv1.2 or newer; "
	    "TLSv1.1 is too old" SUFFIX },
	/* Certificates are not asked of BER or other domains. */
	{ CONF_CERTS, "RCPT", "bob@ber.example", TLS, "TLSv1.3", "", "", 0,
	    SMX_ROLE_BER, "ber.example", "tls", "TLSv1.3", true, "DUNNO" },
	/* BER and none never reject. */
	{ CONF_DEFAULT, "RCPT", "bob@ber.example", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_BER, "ber.example", "plaintext", "none", true, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@ber.example", TLS, "SSLv3", "", "", 0,
	    SMX_ROLE_BER, "ber.example", "tls", "SSLv3", true, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@other.example", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_NONE, "other.example", "none", "none", false, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "", PLAIN_EMPTY, "", "", "", 0, SMX_ROLE_NONE,
	    "-", "none", "none", false, "DUNNO" },
	{ CONF_NO_ROLES, "RCPT", "bob@sor.example", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_NONE, "sor.example", "none", "none", true, "DUNNO" },
	/* Parent patterns. */
	{ CONF_DEFAULT, "RCPT", "bob@mx.SORPARENT.example", PLAIN_EMPTY, "", "",
	    "", 1, SMX_ROLE_SOR, "mx.sorparent.example", "plaintext", "none",
	    true,
	    "530 5.7.0 Mail for mx.sorparent.example is accepted only over "
	    "TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@sorparent.example", PLAIN_EMPTY, "", "",
	    "", 0, SMX_ROLE_NONE, "sorparent.example", "none", "none", false,
	    "DUNNO" },
	/* Mixed: any SOR hop wins, via '%' and '!', over BER and none. */
	{ CONF_DEFAULT, "RCPT", "user%sor.example@ber.example", PLAIN_EMPTY, "",
	    "", "", 1, SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "sor.example!user@other.example", TLS, "TLSv1",
	    "", "", 1, SMX_ROLE_SOR, "sor.example", "protocol", "TLSv1", true,
	    "530 5.7.0 Mail for sor.example requires TLSv1.2 or newer; "
	    "TLSv1 is too old" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "ber.example!user%other.example@x.example",
	    PLAIN_EMPTY, "", "", "", 0, SMX_ROLE_BER, "ber.example",
	    "plaintext", "none", true, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "user%ber.example@sor.example", TLS, "TLSv1.3",
	    "", "", 0, SMX_ROLE_SOR, "sor.example", "tls", "TLSv1.3", true,
	    "DUNNO" },
	/* Unparseable addresses: the syntax fallback. */
	{ CONF_DEFAULT, "RCPT", "\"unbalanced@sor.example", PLAIN_EMPTY, "", "",
	    "", 1, SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "\"unbalanced@sor.example", TLS, "TLSv1.3", "",
	    "", 0, SMX_ROLE_SOR, "sor.example", "tls", "TLSv1.3", true,
	    "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@SOR.example..", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@sor.example\r\nX: y", PLAIN_EMPTY, "", "",
	    "", 1, SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "x%bad..host%sor.example@relay.example",
	    PLAIN_EMPTY, "", "", "", 1, SMX_ROLE_SOR, "sor.example",
	    "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@ber.example>", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_BER, "ber.example", "plaintext", "none", true, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "\"unbalanced@other.example", PLAIN_EMPTY, "",
	    "", "", 0, SMX_ROLE_NONE, "-", "syntax", "none", false, "DUNNO" },
	/* Domains in UTF-8 match their A-labels, in either direction. */
	{ CONF_STRICT, "RCPT", "bob@exa\xc3\xa4mple.org", PLAIN_EMPTY, "", "",
	    "", 0, SMX_ROLE_NONE, "xn--example-7wa.org", "none", "none", true,
	    "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@s\xc3\xb6r.example", PLAIN_EMPTY, "", "",
	    "", 1, SMX_ROLE_SOR, "xn--sr-fka.example", "plaintext", "none",
	    true,
	    "530 5.7.0 Mail for xn--sr-fka.example is accepted only over "
	    "TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "<bob@S\xc3\x96R.Example.>", TLS, "TLSv1.3", "",
	    "", 0, SMX_ROLE_SOR, "xn--sr-fka.example", "tls", "TLSv1.3", true,
	    "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@XN--SR-FKA.example", PLAIN_EMPTY, "", "",
	    "", 1, SMX_ROLE_SOR, "xn--sr-fka.example", "plaintext", "none",
	    true,
	    "530 5.7.0 Mail for xn--sr-fka.example is accepted only over "
	    "TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT",
	    "bob@b\xc3\xbc"
	    "cher.example",
	    PLAIN_EMPTY, "", "", "", 0, SMX_ROLE_BER, "xn--bcher-kva.example",
	    "plaintext", "none", true, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@\xc5\xbfor.example", PLAIN_EMPTY, "", "",
	    "", 1, SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "user%s\xc3\xb6r.example@ber.example",
	    PLAIN_EMPTY, "", "", "", 1, SMX_ROLE_SOR, "xn--sr-fka.example",
	    "plaintext", "none", true,
	    "530 5.7.0 Mail for xn--sr-fka.example is accepted only over "
	    "TLS" SUFFIX },
	/* Not valid UTF-8 IDNA: SOR while any SOR domain is configured. */
	{ CONF_DEFAULT, "RCPT", "bob@s\xffr.example", PLAIN_EMPTY, "", "", "",
	    1, SMX_ROLE_SOR, "s?r.example", "idn", "none", true,
	    "530 5.7.0 Mail for s?r.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@\xe2\x98\x83.example", PLAIN_KEYSIZE,
	    "TLSv1.3", "", "", 1, SMX_ROLE_SOR, "???.example", "idn", "none",
	    true,
	    "530 5.7.0 Mail for ???.example is accepted only over TLS" SUFFIX },
	{ CONF_STRICT, "RCPT", "bob@s\xc3r.example", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "s?r.example", "idn", "none", true,
	    "450 4.7.0 Mail for s?r.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@s\xffr.example", TLS, "TLSv1.3", "", "", 0,
	    SMX_ROLE_SOR, "s?r.example", "tls", "TLSv1.3", true, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@s\xffr.example", TLS, "TLSv1.1", "", "", 1,
	    SMX_ROLE_SOR, "s?r.example", "protocol", "TLSv1.1", true,
	    "530 5.7.0 Mail for s?r.example requires TLSv1.2 or newer; "
	    "TLSv1.1 is too old" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "user%s\xffr.example@ber.example", PLAIN_EMPTY,
	    "", "", "", 1, SMX_ROLE_SOR, "s?r.example", "idn", "none", true,
	    "530 5.7.0 Mail for s?r.example is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "user%s\xffr.example@sor.example", PLAIN_EMPTY,
	    "", "", "", 1, SMX_ROLE_SOR, "sor.example", "plaintext", "none",
	    true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_BER_ONLY, "RCPT", "bob@s\xffr.example", PLAIN_EMPTY, "", "", "",
	    0, SMX_ROLE_NONE, "s?r.example", "none", "none", false, "DUNNO" },
	{ CONF_BER_ONLY, "RCPT", "user%s\xffr.example@ber.example", PLAIN_EMPTY,
	    "", "", "", 0, SMX_ROLE_BER, "ber.example", "plaintext", "none",
	    true, "DUNNO" },
	{ CONF_NO_ROLES, "RCPT", "bob@s\xffr.example", PLAIN_EMPTY, "", "", "",
	    0, SMX_ROLE_NONE, "s?r.example", "none", "none", true, "DUNNO" },
	/* The syntax fallback reads UTF-8 pieces the same way. */
	{ CONF_DEFAULT, "RCPT", "bob@s\xc3\xb6r.example..", PLAIN_EMPTY, "", "",
	    "", 1, SMX_ROLE_SOR, "xn--sr-fka.example", "plaintext", "none",
	    true,
	    "530 5.7.0 Mail for xn--sr-fka.example is accepted only over "
	    "TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "\"x@s\xffr.example", PLAIN_EMPTY, "", "", "",
	    1, SMX_ROLE_SOR, "s?r.example", "idn", "none", true,
	    "530 5.7.0 Mail for s?r.example is accepted only over TLS" SUFFIX },
	{ CONF_BER_ONLY, "RCPT", "\"x@s\xffr.example", PLAIN_EMPTY, "", "", "",
	    0, SMX_ROLE_NONE, "-", "syntax", "none", false, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "\"j\xc3\xb6rg@other.example", PLAIN_EMPTY, "",
	    "", "", 0, SMX_ROLE_NONE, "-", "syntax", "none", false, "DUNNO" },
	/* Address literals: address_literal_role, SOR by default. */
	{ CONF_DEFAULT, "RCPT", "bob@[192.0.2.1]", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "[192.0.2.1]", "plaintext", "none", true,
	    "530 5.7.0 Mail for [192.0.2.1] is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "<bob@[IPv6:2001:DB8::1]>", PLAIN_KEYSIZE,
	    "TLSv1.3", "", "", 1, SMX_ROLE_SOR, "[ipv6:2001:db8::1]",
	    "plaintext", "none", true,
	    "530 5.7.0 Mail for [ipv6:2001:db8::1] is accepted only over "
	    "TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "bob@[192.0.2.1]", TLS, "TLSv1.3", "", "", 0,
	    SMX_ROLE_SOR, "[192.0.2.1]", "tls", "TLSv1.3", true, "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "bob@[192.0.2.1]", TLS, "TLSv1.1", "", "", 1,
	    SMX_ROLE_SOR, "[192.0.2.1]", "protocol", "TLSv1.1", true,
	    "530 5.7.0 Mail for [192.0.2.1] requires TLSv1.2 or newer; "
	    "TLSv1.1 is too old" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "user%[192.0.2.1]@ber.example", PLAIN_EMPTY, "",
	    "", "", 1, SMX_ROLE_SOR, "[192.0.2.1]", "plaintext", "none", true,
	    "530 5.7.0 Mail for [192.0.2.1] is accepted only over TLS" SUFFIX },
	{ CONF_LITERAL_BER, "RCPT", "bob@[192.0.2.1]", PLAIN_EMPTY, "", "", "",
	    0, SMX_ROLE_BER, "[192.0.2.1]", "plaintext", "none", true,
	    "DUNNO" },
	{ CONF_LITERAL_BER, "RCPT", "user%sor.example@[192.0.2.1]", PLAIN_EMPTY,
	    "", "", "", 1, SMX_ROLE_SOR, "sor.example", "plaintext", "none",
	    true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_LITERAL_BER, "RCPT", "user%other.example@[192.0.2.1]",
	    PLAIN_EMPTY, "", "", "", 0, SMX_ROLE_BER, "[192.0.2.1]",
	    "plaintext", "none", true, "DUNNO" },
	/* Unqualified recipients: in unqualified_recipient_domain. */
	{ CONF_ORIGIN, "RCPT", "bob", PLAIN_EMPTY, "", "", "", 1, SMX_ROLE_SOR,
	    "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_ORIGIN, "RCPT", "<Postmaster>", PLAIN_KEYSIZE, "TLSv1.3", "", "",
	    1, SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_ORIGIN, "RCPT", "\"john doe\"", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_ORIGIN, "RCPT", "\"a@other.example\"", PLAIN_EMPTY, "", "", "",
	    1, SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_ORIGIN, "RCPT", "bob", TLS, "TLSv1.3", "", "", 0, SMX_ROLE_SOR,
	    "sor.example", "tls", "TLSv1.3", true, "DUNNO" },
	{ CONF_ORIGIN, "RCPT", "bob@other.example", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_NONE, "other.example", "none", "none", false, "DUNNO" },
	/* '%' and '!' name domains; $myorigin is reached as well when
	 * Postfix does not rewrite them. */
	{ CONF_ORIGIN, "RCPT", "user%ber.example", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_ORIGIN_OTHER, "RCPT", "user%sor.example", PLAIN_EMPTY, "", "",
	    "", 1, SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_ORIGIN_OTHER, "RCPT", "ber.example!user", PLAIN_EMPTY, "", "",
	    "", 0, SMX_ROLE_BER, "ber.example", "plaintext", "none", true,
	    "DUNNO" },
	{ CONF_ORIGIN_OTHER, "RCPT", "bob", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_NONE, "other.example", "none", "none", false, "DUNNO" },
	{ CONF_ORIGIN_BER, "RCPT", "bob", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_BER, "ber.example", "plaintext", "none", true, "DUNNO" },
	{ CONF_ORIGIN_SUB, "RCPT", "bob", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "mx.sorparent.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for mx.sorparent.example is accepted only over "
	    "TLS" SUFFIX },
	/* The syntax fallback knows literals and unqualified recipients. */
	{ CONF_DEFAULT, "RCPT", "bob@[192.0.2.1]>", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "[192.0.2.1]", "plaintext", "none", true,
	    "530 5.7.0 Mail for [192.0.2.1] is accepted only over TLS" SUFFIX },
	{ CONF_DEFAULT, "RCPT", "x@[[192.0.2.1]", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "[192.0.2.1]", "plaintext", "none", true,
	    "530 5.7.0 Mail for [192.0.2.1] is accepted only over TLS" SUFFIX },
	{ CONF_LITERAL_BER, "RCPT", "\"x@[192.0.2.1]", PLAIN_EMPTY, "", "", "",
	    0, SMX_ROLE_BER, "[192.0.2.1]", "plaintext", "none", true,
	    "DUNNO" },
	{ CONF_DEFAULT, "RCPT", "x[a b]@other..example", PLAIN_EMPTY, "", "",
	    "", 0, SMX_ROLE_NONE, "-", "syntax", "none", false, "DUNNO" },
	{ CONF_ORIGIN, "RCPT", "\"unbalanced", PLAIN_EMPTY, "", "", "", 1,
	    SMX_ROLE_SOR, "sor.example", "plaintext", "none", true,
	    "530 5.7.0 Mail for sor.example is accepted only over TLS" SUFFIX },
	{ CONF_ORIGIN, "RCPT", "\"unbalanced@other.example", PLAIN_EMPTY, "",
	    "", "", 0, SMX_ROLE_NONE, "-", "syntax", "none", false, "DUNNO" },
	{ CONF_ORIGIN_OTHER, "RCPT", "\"unbalanced", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_NONE, "-", "syntax", "none", false, "DUNNO" },
	/* Only RCPT is judged. */
	{ CONF_STRICT, "MAIL", "bob@sor.example", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_NONE, "-", "none", "none", false, "DUNNO" },
	{ CONF_STRICT, "DATA", "bob@sor.example", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_NONE, "-", "none", "none", false, "DUNNO" },
	{ CONF_STRICT, "END-OF-MESSAGE", "bob@sor.example", PLAIN_EMPTY, "", "",
	    "", 0, SMX_ROLE_NONE, "-", "none", "none", false, "DUNNO" },
	{ CONF_STRICT, "", "bob@sor.example", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_NONE, "-", "none", "none", false, "DUNNO" },
	{ CONF_STRICT, "RCPTX", "bob@sor.example", PLAIN_EMPTY, "", "", "", 0,
	    SMX_ROLE_NONE, "-", "none", "none", false, "DUNNO" },
};

START_TEST(test_smx_decision_cases)
{
	struct smx_config *cfg = make_config(cases[_i].conf);
	struct smx_decision d;
	struct smx_facts f;

	base_facts(&f);
	f.protocol_state = cases[_i].state;
	f.recipient = cases[_i].rcpt;
	set_tls(&f, cases[_i].tls, cases[_i].proto);
	f.ccert_fingerprint = cases[_i].fp;
	f.ccert_pubkey_fingerprint = cases[_i].pkey_fp;
	memset(&d, 0x5a, sizeof(d));
	smx_decide(cfg, &f, &d);
	assert_sane(&d);
	ck_assert_msg(d.verdict ==
	        (cases[_i].verdict ? SMX_VERDICT_REJECT : SMX_VERDICT_DUNNO),
	    "case %d: verdict %d", _i, (int)d.verdict);
	ck_assert_int_eq(d.role, cases[_i].role);
	ck_assert_str_eq(d.domain, cases[_i].domain);
	ck_assert_str_eq(d.reason, cases[_i].reason);
	ck_assert_str_eq(d.tls, cases[_i].tls_word);
	ck_assert_int_eq(d.is_audited, cases[_i].is_audited);
	ck_assert_str_eq(d.action, cases[_i].action);
	smx_config_free(cfg);
}
END_TEST

/*
 * The full grid: recipient role x TLS state x protocol x minimum. The
 * expected outcome follows the SecMX rule stated in smx_decision.h:
 * only SOR rejects, for plaintext first, then a protocol that is unknown
 * or below the minimum.
 */
static const struct {
	const char *rcpt;
	enum smx_role role;
	const char *domain;
} grid_rcpts[] = {
	{ "bob@sor.example", SMX_ROLE_SOR, "sor.example" },
	{ "bob@ber.example", SMX_ROLE_BER, "ber.example" },
	{ "bob@other.example", SMX_ROLE_NONE, "other.example" },
	{ "bob%sor.example@other.example", SMX_ROLE_SOR, "sor.example" },
	{ "sor.example!bob@ber.example", SMX_ROLE_SOR, "sor.example" },
	{ "ber.example!bob@other.example", SMX_ROLE_BER, "ber.example" },
};
static const enum tls_state grid_tls[] = { PLAIN_EMPTY, PLAIN_KEYSIZE, TLS };
static const struct {
	const char *name;
	int rank; /* 0 for unknown */
} grid_protos[] = {
	{ "SSLv3", 1 },
	{ "TLSv1", 2 },
	{ "TLSv1.1", 3 },
	{ "TLSv1.2", 4 },
	{ "TLSv1.3", 5 },
	{ "TLSv2", 0 },
};
static const struct {
	enum conf_id conf;
	const char *name;
	int rank;
	const char *code;
} grid_mins[] = {
	{ CONF_LOW, "TLSv1", 2, "530 5.7.0" },
	{ CONF_DEFAULT, "TLSv1.2", 4, "530 5.7.0" },
	{ CONF_STRICT, "TLSv1.3", 5, "450 4.7.0" },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define GRID_SIZE                                                              \
	(N_OF(grid_rcpts) * N_OF(grid_tls) * N_OF(grid_protos) *               \
	    N_OF(grid_mins))

START_TEST(test_smx_decision_grid)
{
	size_t i = (size_t)_i;
	size_t r = i % N_OF(grid_rcpts);
	size_t t = (i / N_OF(grid_rcpts)) % N_OF(grid_tls);
	size_t p = (i / N_OF(grid_rcpts) / N_OF(grid_tls)) % N_OF(grid_protos);
	size_t m = i / N_OF(grid_rcpts) / N_OF(grid_tls) / N_OF(grid_protos);
	struct smx_config *cfg = make_config(grid_mins[m].conf);
	bool is_plain = grid_tls[t] != TLS;
	const char *reason;
	char want[POLICY_REPLY_MAX];
	struct smx_decision d;
	struct smx_facts f;

	base_facts(&f);
	f.recipient = grid_rcpts[r].rcpt;
	set_tls(&f, grid_tls[t], grid_protos[p].name);
	smx_decide(cfg, &f, &d);
	assert_sane(&d);
	ck_assert_int_eq(d.role, grid_rcpts[r].role);
	ck_assert_str_eq(d.domain, grid_rcpts[r].domain);
	ck_assert_str_eq(d.tls, is_plain ? "none" : grid_protos[p].name);
	ck_assert_int_eq(d.is_audited,
	    grid_rcpts[r].role != SMX_ROLE_NONE ||
	        grid_mins[m].conf == CONF_STRICT);

	if (grid_rcpts[r].role == SMX_ROLE_NONE)
		reason = "none";
	else if (is_plain)
		reason = "plaintext";
	else if (grid_rcpts[r].role == SMX_ROLE_SOR &&
	    grid_protos[p].rank < grid_mins[m].rank)
		reason = "protocol"; /* unknown has rank 0 */
	else
		reason = "tls";
	ck_assert_str_eq(d.reason, reason);

	if (grid_rcpts[r].role != SMX_ROLE_SOR || strcmp(reason, "tls") == 0) {
		ck_assert_int_eq(d.verdict, SMX_VERDICT_DUNNO);
		ck_assert_str_eq(d.action, "DUNNO");
	} else if (is_plain) {
		ck_assert_int_eq(d.verdict, SMX_VERDICT_REJECT);
		snprintf(want, sizeof(want),
		    "%s Mail for sor.example is accepted only over TLS" SUFFIX,
		    grid_mins[m].code);
		ck_assert_str_eq(d.action, want);
	} else if (grid_protos[p].rank == 0) {
		ck_assert_int_eq(d.verdict, SMX_VERDICT_REJECT);
		snprintf(want, sizeof(want),
		    "%s Mail for sor.example requires %s or newer; an unknown TLS protocol counts as too old" SUFFIX,
		    grid_mins[m].code, grid_mins[m].name);
		ck_assert_str_eq(d.action, want);
	} else {
		ck_assert_int_eq(d.verdict, SMX_VERDICT_REJECT);
		snprintf(want, sizeof(want),
		    "%s Mail for sor.example requires %s or newer; %s is too old" SUFFIX,
		    grid_mins[m].code, grid_mins[m].name, grid_protos[p].name);
		ck_assert_str_eq(d.action, want);
	}
	smx_config_free(cfg);
}
END_TEST

/* A hostile recipient never reaches the action; only the domain does. */
START_TEST(test_smx_decision_action_safe)
{
	static const char *const rcpts[] = {
		"bob@sor.example\r\n\r\naction=OK",
		"\"\r\n\"@sor.example",
		"sor.example!\n",
		"%sor.example\r",
		"x\"%sor.example",
		"bob@sor.example\xff\r\n",
		"bob@sor.example\xe2\x80\xa8\r\n",
	};
	/* Non-ASCII domains that cannot be converted: '?' in the reply. */
	static const char *const idn_rcpts[] = {
		"bob@sor.example\xe2\x80\xa8",
		"<bob@SOR.example\xe2\x80\xa8>",
	};
	struct smx_config *cfg = make_config(CONF_DEFAULT);
	struct smx_decision d;
	struct smx_facts f;
	size_t i;

	for (i = 0; i < N_OF(rcpts); i++) {
		base_facts(&f);
		f.recipient = rcpts[i];
		smx_decide(cfg, &f, &d);
		assert_sane(&d);
		ck_assert_int_eq(d.verdict, SMX_VERDICT_REJECT);
		ck_assert_str_eq(d.action,
		    "530 5.7.0 Mail for sor.example is accepted only over "
		    "TLS" SUFFIX);
	}
	for (i = 0; i < N_OF(idn_rcpts); i++) {
		base_facts(&f);
		f.recipient = idn_rcpts[i];
		smx_decide(cfg, &f, &d);
		assert_sane(&d);
		ck_assert_int_eq(d.verdict, SMX_VERDICT_REJECT);
		ck_assert_str_eq(d.reason, "idn");
		ck_assert_str_eq(d.action,
		    "530 5.7.0 Mail for sor.example??? is accepted only over "
		    "TLS" SUFFIX);
	}
	smx_config_free(cfg);
}
END_TEST

/* Without unqualified_recipient_domain a bare local part names none. */
START_TEST(test_smx_decision_no_origin)
{
	struct smx_config *cfg = make_config(CONF_ORIGIN);
	struct smx_decision d;
	struct smx_facts f;

	free(cfg->unqualified_recipient_domain);
	cfg->unqualified_recipient_domain = NULL;
	base_facts(&f);
	f.recipient = "bob";
	smx_decide(cfg, &f, &d);
	assert_sane(&d);
	ck_assert_int_eq(d.verdict, SMX_VERDICT_DUNNO);
	ck_assert_int_eq(d.role, SMX_ROLE_NONE);
	ck_assert_str_eq(d.domain, "-");
	ck_assert_str_eq(d.reason, "none");
	/* '%' hops still count. */
	f.recipient = "bob%sor.example";
	smx_decide(cfg, &f, &d);
	ck_assert_int_eq(d.verdict, SMX_VERDICT_REJECT);
	ck_assert_str_eq(d.domain, "sor.example");
	smx_config_free(cfg);
}
END_TEST

/* Captured log lines for the audit tests. */
static char captured[4][SMX_LOG_LINE_MAX + 1];
static int n_captured;
static int captured_prio;

static void
capture(int prio, const char *line, void *ctx)
{
	(void)ctx;
	captured_prio = prio;
	if (n_captured < (int)N_OF(captured))
		snprintf(captured[n_captured], sizeof(captured[0]), "%s", line);
	n_captured++;
}

static const struct {
	const char *queue_id;
	const char *state;
	const char *rcpt;
	enum tls_state tls;
	const char *proto;
	const char *client_name;
	const char *client_addr;
	const char *line;
} audit_cases[] = {
	{ "", "RCPT", "a@sor.example", PLAIN_EMPTY, "", "host", "192.0.2.1",
	    "NOQUEUE: action=reject role=sor domain=sor.example "
	    "rcpt=<a@sor.example> client=host[192.0.2.1] tls=none "
	    "reason=plaintext" },
	{ "4BmQ9X1abc", "RCPT", "a@SOR.example", TLS, "TLSv1.3",
	    "mx.sender.example", "2001:db8::1",
	    "4BmQ9X1abc: action=dunno role=sor domain=sor.example "
	    "rcpt=<a@SOR.example> client=mx.sender.example[2001:db8::1] "
	    "tls=TLSv1.3 reason=tls" },
	{ "", "RCPT", "a@sor.example", TLS, "TLSv1.1", "unknown", "192.0.2.9",
	    "NOQUEUE: action=reject role=sor domain=sor.example "
	    "rcpt=<a@sor.example> client=unknown[192.0.2.9] tls=TLSv1.1 "
	    "reason=protocol" },
	{ "Q1", "RCPT", "a@ber.example", PLAIN_KEYSIZE, "TLSv1.2", "h",
	    "192.0.2.2",
	    "Q1: action=dunno role=ber domain=ber.example rcpt=<a@ber.example> "
	    "client=h[192.0.2.2] tls=none reason=plaintext" },
	{ "Q2", "RCPT", "a@other.example", PLAIN_EMPTY, "", "h", "192.0.2.2",
	    "Q2: action=dunno role=none domain=other.example "
	    "rcpt=<a@other.example> client=h[192.0.2.2] tls=none "
	    "reason=none" },
	{ "Q3", "RCPT", "", PLAIN_EMPTY, "", "h", "192.0.2.2",
	    "Q3: action=dunno role=none domain=- rcpt=<> client=h[192.0.2.2] "
	    "tls=none reason=none" },
	{ "Q4", "RCPT", "\"x@other.example", PLAIN_EMPTY, "", "h", "192.0.2.2",
	    "Q4: action=dunno role=none domain=- rcpt=<\"x@other.example> "
	    "client=h[192.0.2.2] tls=none reason=syntax" },
	{ "Q6", "RCPT", "bob@[192.0.2.7]", PLAIN_EMPTY, "", "h", "192.0.2.2",
	    "Q6: action=reject role=sor domain=[192.0.2.7] "
	    "rcpt=<bob@[192.0.2.7]> client=h[192.0.2.2] tls=none "
	    "reason=plaintext" },
	{ "Q7", "RCPT", "bob", PLAIN_EMPTY, "", "h", "192.0.2.2",
	    "Q7: action=reject role=sor domain=sor.example rcpt=<bob> "
	    "client=h[192.0.2.2] tls=none reason=plaintext" },
	{ "Q8", "RCPT", "bob@s\xc3\xb6r.example", PLAIN_EMPTY, "", "h",
	    "192.0.2.2",
	    "Q8: action=reject role=sor domain=xn--sr-fka.example "
	    "rcpt=<bob@s??r.example> client=h[192.0.2.2] tls=none "
	    "reason=plaintext" },
	{ "Q9", "RCPT", "bob@s\xffr.example", PLAIN_EMPTY, "", "h", "192.0.2.2",
	    "Q9: action=reject role=sor domain=s?r.example "
	    "rcpt=<bob@s?r.example> client=h[192.0.2.2] tls=none "
	    "reason=idn" },
	/* Control bytes in values are made printable by the logger. */
	{ "Q\n5", "RCPT", "a@sor.example\r\nx", PLAIN_EMPTY, "", "h\tx",
	    "192.0.2.2",
	    "Q?5: action=reject role=sor domain=sor.example "
	    "rcpt=<a@sor.example??x> client=h?x[192.0.2.2] tls=none "
	    "reason=plaintext" },
};

START_TEST(test_smx_decision_audit_line)
{
	struct smx_config *cfg = make_config(CONF_STRICT);
	struct smx_decision d;
	struct smx_facts f;

	base_facts(&f);
	f.queue_id = audit_cases[_i].queue_id;
	f.protocol_state = audit_cases[_i].state;
	f.recipient = audit_cases[_i].rcpt;
	f.client_name = audit_cases[_i].client_name;
	f.client_address = audit_cases[_i].client_addr;
	set_tls(&f, audit_cases[_i].tls, audit_cases[_i].proto);
	/* CONF_STRICT wants TLSv1.3; use the default minimum for TLSv1.2+. */
	cfg->tls_min_protocol = SMX_TLS_1_2;
	cfg->sor_reject_code = 530;
	snprintf(cfg->sor_reject_dsn, sizeof(cfg->sor_reject_dsn), "5.7.0");
	smx_decide(cfg, &f, &d);
	ck_assert(d.is_audited);

	smx_log_open("secmx/test", SMX_LOG_STDERR, NULL);
	n_captured = 0;
	smx_log_set_sink(capture, NULL);
	smx_decision_audit(&f, &d);
	smx_log_set_sink(NULL, NULL);
	ck_assert_int_eq(n_captured, 1);
	ck_assert_int_eq(captured_prio, LOG_INFO);
	ck_assert_str_eq(captured[0], audit_cases[_i].line);
	smx_config_free(cfg);
}
END_TEST

/* Untrusted values are cut at SMX_LOG_VALUE_MAX each. */
START_TEST(test_smx_decision_audit_bounded)
{
	static char rcpt[SMX_ADDR_MAX + 100];
	static char client[1000];
	static char want[SMX_LOG_LINE_MAX + 1];
	struct smx_config *cfg = make_config(CONF_DEFAULT);
	struct smx_decision d;
	struct smx_facts f;

	memset(rcpt, 'r', sizeof(rcpt) - 1);
	memcpy(rcpt + sizeof(rcpt) - 1 - strlen("@sor.example"), "@sor.example",
	    strlen("@sor.example"));
	memset(client, 'c', sizeof(client) - 1);
	base_facts(&f);
	f.recipient = rcpt;
	f.client_name = client;
	f.queue_id = client;
	smx_decide(cfg, &f, &d);
	/* Too long to parse, but the fallback still finds sor.example. */
	ck_assert_int_eq(d.verdict, SMX_VERDICT_REJECT);
	ck_assert_str_eq(d.domain, "sor.example");

	smx_log_open("secmx/test", SMX_LOG_STDERR, NULL);
	n_captured = 0;
	smx_log_set_sink(capture, NULL);
	smx_decision_audit(&f, &d);
	smx_log_set_sink(NULL, NULL);
	ck_assert_int_eq(n_captured, 1);
	snprintf(want, sizeof(want),
	    "%.*s: action=reject role=sor domain=sor.example rcpt=<%.*s> client=%.*s[192.0.2.1] tls=none reason=plaintext",
	    SMX_LOG_VALUE_MAX, client, SMX_LOG_VALUE_MAX, rcpt,
	    SMX_LOG_VALUE_MAX, client);
	ck_assert_str_eq(captured[0], want);
	smx_config_free(cfg);
}
END_TEST

static Suite *
decision_suite(void)
{
	Suite *s = suite_create("smx_decision");
	TCase *tc;

	tc = tcase_create("cases");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_smx_decision_cases, 0, N_OF(cases));
	tcase_add_test(tc, test_smx_decision_action_safe);
	tcase_add_test(tc, test_smx_decision_no_origin);
	suite_add_tcase(s, tc);

	tc = tcase_create("grid");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_smx_decision_grid, 0, GRID_SIZE);
	suite_add_tcase(s, tc);

	tc = tcase_create("audit");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_smx_decision_audit_line, 0,
	    N_OF(audit_cases));
	tcase_add_test(tc, test_smx_decision_audit_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(decision_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
