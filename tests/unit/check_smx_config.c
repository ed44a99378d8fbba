/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/smx_config.c: secmx.conf syntax, values, tables. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_route.h"
#include "smx_limits.h"

#define BIN(s) s, sizeof(s) - 1

static struct smx_config *
parse_ok(const char *text)
{
	struct smx_config *cfg = NULL;
	char err[512] = "";
	enum smx_status st;

	st = smx_config_parse("c.conf", text, strlen(text), &cfg, err,
	    sizeof(err));
	ck_assert_msg(st == SMX_OK, "unexpected error: %s", err);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

static void
assert_defaults(const struct smx_config *cfg)
{
	ck_assert_ptr_null(cfg->receiver_roles_path);
	ck_assert_ptr_null(cfg->sender_roles_path);
	ck_assert_ptr_null(cfg->destination_roles_path);
	ck_assert_ptr_null(cfg->sor_client_certs_path);
	ck_assert_ptr_null(cfg->receiver_roles);
	ck_assert_ptr_null(cfg->sender_roles);
	ck_assert_ptr_null(cfg->destination_roles);
	ck_assert_ptr_null(cfg->sor_client_certs);
	ck_assert_int_eq(cfg->default_sender_role, SMX_ROLE_BES);
	ck_assert_uint_eq(cfg->sor_reject_code, 530);
	ck_assert_str_eq(cfg->sor_reject_dsn, "5.7.0");
	ck_assert_int_eq(cfg->tls_min_protocol, SMX_TLS_1_2);
	ck_assert_int_eq(cfg->audit, SMX_AUDIT_DECISIONS);
	ck_assert_int_eq(cfg->log_destination, SMX_LOG_SYSLOG);
	ck_assert_uint_eq(cfg->request_timeout, 10);
	ck_assert_uint_eq(cfg->idle_timeout, 3600);
	ck_assert_ptr_null(cfg->dns_nameservers);
	ck_assert_uint_eq(cfg->dns_timeout, 5);
	ck_assert(!cfg->dns_trust_ad);
	ck_assert_int_eq(cfg->tls_verify, SMX_TLS_VERIFY_CA);
	ck_assert_ptr_null(cfg->tls_ca_file);
	ck_assert_ptr_null(cfg->tls_ca_path);
	ck_assert_ptr_null(cfg->helo_name);
	ck_assert_uint_eq(cfg->smtp_connect_timeout, 30);
	ck_assert_uint_eq(cfg->smtp_timeout, 120);
	ck_assert_uint_eq(cfg->delivery_time_limit, 900);
	ck_assert_uint_eq(cfg->smtp_connection_cache_time_limit, 2);
	ck_assert_uint_eq(cfg->smtp_connection_reuse_time_limit, 300);
	ck_assert_str_eq(cfg->secmx_transport_name, "secmx:");
}

START_TEST(test_smx_config_defaults)
{
	struct smx_config *cfg;

	cfg = parse_ok("");
	assert_defaults(cfg);
	ck_assert_str_eq(cfg->path, "c.conf");
	smx_config_free(cfg);

	cfg = parse_ok("# only comments\n\n   \n\t# and blanks\n");
	assert_defaults(cfg);
	smx_config_free(cfg);

	/* An empty table path means "not set". */
	cfg = parse_ok("receiver_roles = /a\nreceiver_roles =\n");
	assert_defaults(cfg);
	smx_config_free(cfg);
	smx_config_free(NULL);
}
END_TEST

/* One setting and the field it must change. */
enum field {
	F_RECEIVER,
	F_SENDER,
	F_DESTINATION,
	F_CCERT,
	F_DEFAULT_SENDER_ROLE,
	F_REJECT_CODE,
	F_TLS,
	F_AUDIT,
	F_LOG,
	F_REQUEST_TIMEOUT,
	F_IDLE_TIMEOUT,
	F_DNS_NAMESERVERS,
	F_DNS_TIMEOUT,
	F_DNS_TRUST_AD,
	F_TLS_VERIFY,
	F_TLS_CA_FILE,
	F_TLS_CA_PATH,
	F_HELO,
	F_CONNECT_TIMEOUT,
	F_SMTP_TIMEOUT,
	F_DELIVERY_LIMIT,
	F_CONN_CACHE_LIMIT,
	F_CONN_REUSE_LIMIT,
	F_TRANSPORT_NAME,
	F_UNQUALIFIED,
	F_LITERAL_ROLE,
};

static const struct {
	const char *in;
	enum field field;
	unsigned long num; /* numeric fields and enums */
	const char *text;  /* paths and the DSN */
} good_cases[] = {
	{ "receiver_roles = /etc/secmx/receiver_roles", F_RECEIVER, 0,
	    "/etc/secmx/receiver_roles" },
	{ "sender_roles=/s", F_SENDER, 0, "/s" },
	{ "destination_roles =\t/d/with space  ", F_DESTINATION, 0,
	    "/d/with space" },
	{ "sor_client_certs = /etc/secmx/sor_client_certs", F_CCERT, 0,
	    "/etc/secmx/sor_client_certs" },
	{ "default_sender_role = sos", F_DEFAULT_SENDER_ROLE, SMX_ROLE_SOS,
	    NULL },
	{ "default_sender_role = BES", F_DEFAULT_SENDER_ROLE, SMX_ROLE_BES,
	    NULL },
	{ "sor_reject_code = 550", F_REJECT_CODE, 550, "5.7.0" },
	{ "sor_reject_code = 400", F_REJECT_CODE, 400, "4.7.0" },
	{ "sor_reject_code = 450", F_REJECT_CODE, 450, "4.7.0" },
	{ "sor_reject_code = 599", F_REJECT_CODE, 599, "5.7.0" },
	{ "tls_min_protocol = TLSv1", F_TLS, SMX_TLS_1_0, NULL },
	{ "tls_min_protocol = TLSv1.0", F_TLS, SMX_TLS_1_0, NULL },
	{ "tls_min_protocol = TLSv1.1", F_TLS, SMX_TLS_1_1, NULL },
	{ "tls_min_protocol = tlsv1.3", F_TLS, SMX_TLS_1_3, NULL },
	{ "audit = all", F_AUDIT, SMX_AUDIT_ALL, NULL },
	{ "audit = decisions", F_AUDIT, SMX_AUDIT_DECISIONS, NULL },
	{ "log_destination = stderr", F_LOG, SMX_LOG_STDERR, NULL },
	{ "log_destination = syslog", F_LOG, SMX_LOG_SYSLOG, NULL },
	{ "log_destination = /var/log/secmx.log", F_LOG, SMX_LOG_FILE,
	    "/var/log/secmx.log" },
	{ "request_timeout = 1", F_REQUEST_TIMEOUT, 1, NULL },
	{ "request_timeout = 1s", F_REQUEST_TIMEOUT, 1, NULL },
	{ "request_timeout = 2m", F_REQUEST_TIMEOUT, 120, NULL },
	{ "request_timeout = 1h", F_REQUEST_TIMEOUT, 3600, NULL },
	{ "request_timeout = 3600s", F_REQUEST_TIMEOUT, 3600, NULL },
	{ "idle_timeout = 1s", F_IDLE_TIMEOUT, 1, NULL },
	{ "idle_timeout = 90m", F_IDLE_TIMEOUT, 5400, NULL },
	{ "idle_timeout = 1d", F_IDLE_TIMEOUT, 86400, NULL },
	{ "idle_timeout = 24h", F_IDLE_TIMEOUT, 86400, NULL },
	{ "dns_nameservers = 127.0.0.1", F_DNS_NAMESERVERS, 0, "127.0.0.1" },
	{ "dns_nameservers = 127.0.0.1:5353, [::1]:53 192.0.2.1",
	    F_DNS_NAMESERVERS, 0, "127.0.0.1:5353, [::1]:53 192.0.2.1" },
	{ "dns_nameservers = 127.0.0.1\ndns_nameservers =", F_DNS_NAMESERVERS,
	    0, NULL },
	{ "dns_timeout = 1s", F_DNS_TIMEOUT, 1, NULL },
	{ "dns_timeout = 60", F_DNS_TIMEOUT, 60, NULL },
	{ "dns_timeout = 1m", F_DNS_TIMEOUT, 60, NULL },
	{ "dns_trust_ad = yes", F_DNS_TRUST_AD, 1, NULL },
	{ "dns_trust_ad = NO", F_DNS_TRUST_AD, 0, NULL },
	{ "tls_verify = none", F_TLS_VERIFY, SMX_TLS_VERIFY_NONE, NULL },
	{ "tls_verify = CA", F_TLS_VERIFY, SMX_TLS_VERIFY_CA, NULL },
	{ "tls_ca_file = /etc/ssl/certs/ca-certificates.crt", F_TLS_CA_FILE, 0,
	    "/etc/ssl/certs/ca-certificates.crt" },
	{ "tls_ca_path = /etc/ssl/certs", F_TLS_CA_PATH, 0, "/etc/ssl/certs" },
	{ "helo_name = mail.example.org", F_HELO, 0, "mail.example.org" },
	{ "helo_name = localhost", F_HELO, 0, "localhost" },
	{ "smtp_connect_timeout = 1", F_CONNECT_TIMEOUT, 1, NULL },
	{ "smtp_connect_timeout = 1h", F_CONNECT_TIMEOUT, 3600, NULL },
	{ "smtp_timeout = 2s", F_SMTP_TIMEOUT, 2, NULL },
	{ "smtp_timeout = 5m", F_SMTP_TIMEOUT, 300, NULL },
	{ "delivery_time_limit = 1s", F_DELIVERY_LIMIT, 1, NULL },
	{ "delivery_time_limit = 15m", F_DELIVERY_LIMIT, 900, NULL },
	{ "delivery_time_limit = 1d", F_DELIVERY_LIMIT, 86400, NULL },
	{ "smtp_connection_cache_time_limit = 0", F_CONN_CACHE_LIMIT, 0, NULL },
	{ "smtp_connection_cache_time_limit = 1", F_CONN_CACHE_LIMIT, 1, NULL },
	{ "smtp_connection_cache_time_limit = 5m", F_CONN_CACHE_LIMIT, 300,
	    NULL },
	{ "smtp_connection_reuse_time_limit = 1s", F_CONN_REUSE_LIMIT, 1,
	    NULL },
	{ "smtp_connection_reuse_time_limit = 1d", F_CONN_REUSE_LIMIT, 86400,
	    NULL },
	{ "secmx_transport_name = secmx:", F_TRANSPORT_NAME, 0, "secmx:" },
	{ "secmx_transport_name = smx-out:[relay.example]:2525",
	    F_TRANSPORT_NAME, 0, "smx-out:[relay.example]:2525" },
	{ "unqualified_recipient_domain = example.org", F_UNQUALIFIED, 0,
	    "example.org" },
	{ "unqualified_recipient_domain = mail.example.org.", F_UNQUALIFIED, 0,
	    "mail.example.org." },
	{ "unqualified_recipient_domain = localhost", F_UNQUALIFIED, 0,
	    "localhost" },
	{ "address_literal_role = ber", F_LITERAL_ROLE, SMX_ROLE_BER, NULL },
	{ "address_literal_role = SOR", F_LITERAL_ROLE, SMX_ROLE_SOR, NULL },
	{ "address_literal_role = ber\naddress_literal_role = sor",
	    F_LITERAL_ROLE, SMX_ROLE_SOR, NULL },
};

/*
 * Every configuration made gets a serial of its own, even from the same
 * text: what was kept under one (connections) is not used under another.
 */
START_TEST(test_smx_config_serial)
{
	struct smx_config *a = parse_ok("tls_verify = ca\n");
	struct smx_config *b = parse_ok("tls_verify = ca\n");

	ck_assert_uint_ne(a->serial, 0);
	ck_assert_uint_ne(b->serial, 0);
	ck_assert_uint_ne(a->serial, b->serial);
	smx_config_free(a);
	smx_config_free(b);
}
END_TEST

/*
 * The receiver's defaults for recipients without a DNS domain: address
 * literals are SOR (fail closed), and unqualified recipients belong to
 * this host's name in lower case, as Postfix's default $myorigin.
 */
START_TEST(test_smx_config_receiver_defaults)
{
	static const char *const texts[] = {
		"",
		"unqualified_recipient_domain = a.example\n"
		"unqualified_recipient_domain =\n",
	};
	char host[SMX_DOMAIN_MAX + 2] = "";
	struct smx_config *cfg;
	size_t len;
	size_t i;

	ck_assert_int_eq(gethostname(host, sizeof(host) - 1), 0);
	len = strlen(host);
	if (len > 0 && host[len - 1] == '.')
		host[--len] = '\0';
	for (i = 0; i < len; i++) {
		if (host[i] >= 'A' && host[i] <= 'Z')
			host[i] = (char)(host[i] - 'A' + 'a');
	}
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		cfg = parse_ok(texts[i]);
		ck_assert_int_eq(cfg->address_literal_role, SMX_ROLE_SOR);
		ck_assert_ptr_nonnull(cfg->unqualified_recipient_domain);
		ck_assert_str_eq(cfg->unqualified_recipient_domain, host);
		smx_config_free(cfg);
	}
}
END_TEST

START_TEST(test_smx_config_values)
{
	struct smx_config *cfg = parse_ok(good_cases[_i].in);
	const char *text = NULL;
	unsigned long num = 0;

	switch (good_cases[_i].field) {
	case F_RECEIVER:
		text = cfg->receiver_roles_path;
		break;
	case F_SENDER:
		text = cfg->sender_roles_path;
		break;
	case F_DESTINATION:
		text = cfg->destination_roles_path;
		break;
	case F_CCERT:
		text = cfg->sor_client_certs_path;
		break;
	case F_DEFAULT_SENDER_ROLE:
		num = cfg->default_sender_role;
		break;
	case F_REJECT_CODE:
		num = cfg->sor_reject_code;
		text = cfg->sor_reject_dsn;
		break;
	case F_TLS:
		num = cfg->tls_min_protocol;
		break;
	case F_AUDIT:
		num = cfg->audit;
		break;
	case F_LOG:
		num = cfg->log_destination;
		text = cfg->log_file;
		if (good_cases[_i].text == NULL)
			ck_assert_ptr_null(text);
		break;
	case F_REQUEST_TIMEOUT:
		num = cfg->request_timeout;
		break;
	case F_IDLE_TIMEOUT:
		num = cfg->idle_timeout;
		break;
	case F_DNS_NAMESERVERS:
		text = cfg->dns_nameservers;
		if (good_cases[_i].text == NULL)
			ck_assert_ptr_null(text);
		break;
	case F_DNS_TIMEOUT:
		num = cfg->dns_timeout;
		break;
	case F_DNS_TRUST_AD:
		num = cfg->dns_trust_ad;
		break;
	case F_TLS_VERIFY:
		num = cfg->tls_verify;
		break;
	case F_TLS_CA_FILE:
		text = cfg->tls_ca_file;
		break;
	case F_TLS_CA_PATH:
		text = cfg->tls_ca_path;
		break;
	case F_HELO:
		text = cfg->helo_name;
		break;
	case F_CONNECT_TIMEOUT:
		num = cfg->smtp_connect_timeout;
		break;
	case F_SMTP_TIMEOUT:
		num = cfg->smtp_timeout;
		break;
	case F_DELIVERY_LIMIT:
		num = cfg->delivery_time_limit;
		break;
	case F_CONN_CACHE_LIMIT:
		num = cfg->smtp_connection_cache_time_limit;
		break;
	case F_CONN_REUSE_LIMIT:
		num = cfg->smtp_connection_reuse_time_limit;
		break;
	case F_TRANSPORT_NAME:
		text = cfg->secmx_transport_name;
		break;
	case F_UNQUALIFIED:
		text = cfg->unqualified_recipient_domain;
		break;
	case F_LITERAL_ROLE:
		num = cfg->address_literal_role;
		break;
	}
	ck_assert_uint_eq(num, good_cases[_i].num);
	if (good_cases[_i].text != NULL) {
		ck_assert_ptr_nonnull(text);
		ck_assert_str_eq(text, good_cases[_i].text);
	}
	smx_config_free(cfg);
}
END_TEST

static const struct {
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *msg;
} error_cases[] = {
	{ "receiver_roles = relative/path\n", 0,
	    "c.conf, line 1: bad receiver_roles value \"relative/path\" (expected an absolute path)" },
	{ "sender_roles = hash:/etc/secmx/s\n", 0,
	    "c.conf, line 1: bad sender_roles value \"hash:/etc/secmx/s\" (expected an absolute path)" },
	{ "default_sender_role = sor\n", 0,
	    "c.conf, line 1: bad default_sender_role value \"sor\" (expected bes or sos)" },
	{ "default_sender_role = none\n", 0,
	    "c.conf, line 1: bad default_sender_role value \"none\" (expected bes or sos)" },
	{ "sor_reject_code = 250\n", 0,
	    "c.conf, line 1: bad sor_reject_code value \"250\" (expected a 4xx or 5xx code)" },
	{ "sor_reject_code = 399\n", 0,
	    "c.conf, line 1: bad sor_reject_code value \"399\" (expected a 4xx or 5xx code)" },
	{ "sor_reject_code = 600\n", 0,
	    "c.conf, line 1: bad sor_reject_code value \"600\" (expected a 4xx or 5xx code)" },
	{ "sor_reject_code = 5300\n", 0,
	    "c.conf, line 1: bad sor_reject_code value \"5300\" (expected a 4xx or 5xx code)" },
	{ "sor_reject_code = -530\n", 0,
	    "c.conf, line 1: bad sor_reject_code value \"-530\" (expected a 4xx or 5xx code)" },
	{ "sor_reject_code = 5 30\n", 0,
	    "c.conf, line 1: bad sor_reject_code value \"5 30\" (expected a 4xx or 5xx code)" },
	{ "sor_reject_code =\n", 0,
	    "c.conf, line 1: bad sor_reject_code value \"\" (expected a 4xx or 5xx code)" },
	{ "tls_min_protocol = SSLv3\n", 0,
	    "c.conf, line 1: bad tls_min_protocol value \"SSLv3\" (expected TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)" },
	{ "tls_min_protocol = TLSv1.4\n", 0,
	    "c.conf, line 1: bad tls_min_protocol value \"TLSv1.4\" (expected TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)" },
	{ "tls_min_protocol = !SSLv2, !SSLv3\n", 0,
	    "c.conf, line 1: bad tls_min_protocol value \"!SSLv2, !SSLv3\" (expected TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)" },
	{ "audit = some\n", 0,
	    "c.conf, line 1: bad audit value \"some\" (expected decisions or all)" },
	{ "log_destination = var/log/secmx.log\n", 0,
	    "c.conf, line 1: bad log_destination value \"var/log/secmx.log\" (expected syslog, stderr or an absolute path)" },
	{ "log_destination = /var/log/\n", 0,
	    "c.conf, line 1: bad log_destination value \"/var/log/\" (expected syslog, stderr or an absolute path)" },
	{ "log_destination = maillog\n", 0,
	    "c.conf, line 1: bad log_destination value \"maillog\" (expected syslog, stderr or an absolute path)" },
	{ "request_timeout = 0\n", 0,
	    "c.conf, line 1: bad request_timeout value \"0\" (expected a time from 1s to 1h)" },
	{ "request_timeout = 3601s\n", 0,
	    "c.conf, line 1: bad request_timeout value \"3601s\" (expected a time from 1s to 1h)" },
	{ "request_timeout = 2h\n", 0,
	    "c.conf, line 1: bad request_timeout value \"2h\" (expected a time from 1s to 1h)" },
	{ "request_timeout = 10x\n", 0,
	    "c.conf, line 1: bad request_timeout value \"10x\" (expected a time from 1s to 1h)" },
	{ "request_timeout = 10 s\n", 0,
	    "c.conf, line 1: bad request_timeout value \"10 s\" (expected a time from 1s to 1h)" },
	{ "idle_timeout = 86401\n", 0,
	    "c.conf, line 1: bad idle_timeout value \"86401\" (expected a time from 1s to 1d)" },
	{ "idle_timeout = 2d\n", 0,
	    "c.conf, line 1: bad idle_timeout value \"2d\" (expected a time from 1s to 1d)" },
	{ "idle_timeout = 1w\n", 0,
	    "c.conf, line 1: bad idle_timeout value \"1w\" (expected a time from 1s to 1d)" },
	{ "idle_timeout = \xc3\xa4\n", 0,
	    "c.conf, line 1: bad idle_timeout value \"\xc3\xa4\" (expected a time from 1s to 1d)" },
	{ "audit = all\n# c\n\nno_such_thing = 1\n", 0,
	    "c.conf, line 4: unknown parameter \"no_such_thing\"" },
	{ "Audit = all\n", 0, "c.conf, line 1: bad parameter name \"Audit\"" },
	{ "audit all\n", 0, "c.conf, line 1: missing '=' in \"audit all\"" },
	{ "audit\n", 0, "c.conf, line 1: missing '=' in \"audit\"" },
	{ "= all\n", 0, "c.conf, line 1: bad parameter name \"\"" },
	{ "my audit = all\n", 0,
	    "c.conf, line 1: bad parameter name \"my audit\"" },
	{ "\xc3\xa4udit = all\n", 0,
	    "c.conf, line 1: bad parameter name \"\xc3\xa4udit\"" },
	{ " audit = all\n", 0,
	    "c.conf, line 1: continuation line before any parameter" },
	{ "# c\n\n\taudit = all\n", 0,
	    "c.conf, line 3: continuation line before any parameter" },
	{ "audit =\n  sometimes\n", 0,
	    "c.conf, line 1: bad audit value \"sometimes\" (expected decisions or all)" },
	{ BIN("audit = all\nlog_destination = st\0derr\n"),
	    "c.conf, line 2: NUL character" },
	{ BIN("# \0\n"), "c.conf, line 1: NUL character" },
	{ "audit = all\r\n\raudit = all\n", 0,
	    "c.conf, line 2: bare CR character" },
	{ "audit = all\r", 0, "c.conf, line 1: bare CR character" },
	{ "audit = a\033ll\n", 0, "c.conf, line 1: control character" },
	{ "dns_nameservers = ns.example.org\n", 0,
	    "c.conf, line 1: bad dns_nameservers value \"ns.example.org\" (expected IP addresses with optional ports)" },
	{ "audit = all\ndns_nameservers = 127.0.0.1:0\n", 0,
	    "c.conf, line 2: bad dns_nameservers value \"127.0.0.1:0\" (expected IP addresses with optional ports)" },
	{ "dns_nameservers = 1 2 3 4 5 6 7 8 9\n", 0,
	    "c.conf, line 1: bad dns_nameservers value \"1 2 3 4 5 6 7 8 9\" (expected IP addresses with optional ports)" },
	{ "dns_timeout = 0\n", 0,
	    "c.conf, line 1: bad dns_timeout value \"0\" (expected a time from 1s to 60s)" },
	{ "dns_timeout = 61s\n", 0,
	    "c.conf, line 1: bad dns_timeout value \"61s\" (expected a time from 1s to 60s)" },
	{ "dns_trust_ad = true\n", 0,
	    "c.conf, line 1: bad dns_trust_ad value \"true\" (expected yes or no)" },
	{ "dns_trust_ad =\n", 0,
	    "c.conf, line 1: bad dns_trust_ad value \"\" (expected yes or no)" },
	{ "tls_verify = secure\n", 0,
	    "c.conf, line 1: bad tls_verify value \"secure\" (expected none or ca)" },
	{ "tls_ca_file = certs/ca.pem\n", 0,
	    "c.conf, line 1: bad tls_ca_file value \"certs/ca.pem\" (expected an absolute path)" },
	{ "tls_ca_path = ~/certs\n", 0,
	    "c.conf, line 1: bad tls_ca_path value \"~/certs\" (expected an absolute path)" },
	{ "helo_name = mail example\n", 0,
	    "c.conf, line 1: bad helo_name value \"mail example\" (expected a host name)" },
	{ "helo_name = -mail.example\n", 0,
	    "c.conf, line 1: bad helo_name value \"-mail.example\" (expected a host name)" },
	{ "helo_name = [192.0.2.1]\n", 0,
	    "c.conf, line 1: bad helo_name value \"[192.0.2.1]\" (expected a host name)" },
	{ "smtp_connect_timeout = 0\n", 0,
	    "c.conf, line 1: bad smtp_connect_timeout value \"0\" (expected a time from 1s to 1h)" },
	{ "smtp_timeout = 2h\n", 0,
	    "c.conf, line 1: bad smtp_timeout value \"2h\" (expected a time from 1s to 1h)" },
	{ "delivery_time_limit = 0s\n", 0,
	    "c.conf, line 1: bad delivery_time_limit value \"0s\" (expected a time from 1s to 1d)" },
	{ "delivery_time_limit = 2d\n", 0,
	    "c.conf, line 1: bad delivery_time_limit value \"2d\" (expected a time from 1s to 1d)" },
	{ "smtp_connection_cache_time_limit = 301s\n", 0,
	    "c.conf, line 1: bad smtp_connection_cache_time_limit value \"301s\" (expected a time from 0s (off) to 5m)" },
	{ "tls_session_cache_timeout = 2d\n", 0,
	    "c.conf, line 1: bad tls_session_cache_timeout value \"2d\" (expected a time from 0s (off) to 1d)" },
	{ "smtp_connection_reuse_time_limit = 0s\n", 0,
	    "c.conf, line 1: bad smtp_connection_reuse_time_limit value \"0s\" (expected a time from 1s to 1d)" },
	{ "smtp_connection_reuse_time_limit = 2d\n", 0,
	    "c.conf, line 1: bad smtp_connection_reuse_time_limit value \"2d\" (expected a time from 1s to 1d)" },
	{ "secmx_transport_name = secmx\n", 0,
	    "c.conf, line 1: bad secmx_transport_name value \"secmx\" (expected transport: or transport:nexthop)" },
	{ "secmx_transport_name =\n", 0,
	    "c.conf, line 1: bad secmx_transport_name value \"\" (expected transport: or transport:nexthop)" },
	{ "secmx_transport_name = :relay\n", 0,
	    "c.conf, line 1: bad secmx_transport_name value \":relay\" (expected transport: or transport:nexthop)" },
	{ "secmx_transport_name = se/cmx:\n", 0,
	    "c.conf, line 1: bad secmx_transport_name value \"se/cmx:\" (expected transport: or transport:nexthop)" },
	{ "unqualified_recipient_domain = [192.0.2.1]\n", 0,
	    "c.conf, line 1: bad unqualified_recipient_domain value \"[192.0.2.1]\" (expected a domain name)" },
	{ "unqualified_recipient_domain = .example.org\n", 0,
	    "c.conf, line 1: bad unqualified_recipient_domain value \".example.org\" (expected a domain name)" },
	{ "audit = all\n\nunqualified_recipient_domain = exa..mple\n", 0,
	    "c.conf, line 3: bad unqualified_recipient_domain value \"exa..mple\" (expected a domain name)" },
	{ "unqualified_recipient_domain = example org\n", 0,
	    "c.conf, line 1: bad unqualified_recipient_domain value \"example org\" (expected a domain name)" },
	{ "unqualified_recipient_domain = bob@example.org\n", 0,
	    "c.conf, line 1: bad unqualified_recipient_domain value \"bob@example.org\" (expected a domain name)" },
	{ "address_literal_role = none\n", 0,
	    "c.conf, line 1: bad address_literal_role value \"none\" (expected sor or ber)" },
	{ "# literals\naddress_literal_role = sos\n", 0,
	    "c.conf, line 2: bad address_literal_role value \"sos\" (expected sor or ber)" },
	{ "address_literal_role =\n", 0,
	    "c.conf, line 1: bad address_literal_role value \"\" (expected sor or ber)" },
	/* A bad value is an error even when a later line overrides it. */
	{ "audit = sometimes\naudit = all\n", 0,
	    "c.conf, line 1: bad audit value \"sometimes\" (expected decisions or all)" },
};

START_TEST(test_smx_config_errors)
{
	struct smx_config *cfg = (struct smx_config *)&cfg;
	size_t len = error_cases[_i].len ? error_cases[_i].len
	                                 : strlen(error_cases[_i].in);
	char err[512] = "";

	ck_assert_int_eq(smx_config_parse("c.conf", error_cases[_i].in, len,
	                     &cfg, err, sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err, error_cases[_i].msg);
	ck_assert_ptr_eq(cfg, (struct smx_config *)&cfg);
}
END_TEST

START_TEST(test_smx_config_syntax)
{
	struct smx_config *cfg;

	/* Later settings override earlier ones; continuation lines after
	 * blank and comment lines; CRLF; white space around '='; no final
	 * newline. */
	cfg = parse_ok("audit = all\n"
	               "sor_reject_code = 450\r\n"
	               "request_timeout =\n"
	               "\n"
	               "# the value follows\n"
	               "   20s   \n"
	               "receiver_roles = /first\n"
	               "receiver_roles\t=\t/second\t\n"
	               "sor_reject_code = 554\n"
	               "audit=decisions");
	ck_assert_int_eq(cfg->audit, SMX_AUDIT_DECISIONS);
	ck_assert_uint_eq(cfg->sor_reject_code, 554);
	ck_assert_str_eq(cfg->sor_reject_dsn, "5.7.0");
	ck_assert_uint_eq(cfg->request_timeout, 20);
	ck_assert_str_eq(cfg->receiver_roles_path, "/second");
	smx_config_free(cfg);
}
END_TEST

/* A config of exactly n bytes: text, then comment padding. */
static char *
padded(const char *text, size_t n)
{
	size_t len = strlen(text);
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_ge(n, len);
	memcpy(s, text, len);
	memset(s + len, ' ', n - len);
	s[n] = '\0';
	return s;
}

START_TEST(test_smx_config_limits)
{
	struct smx_config *cfg = NULL;
	char err[512] = "";
	char *s;
	char *path;

	/* A logical line of exactly SMX_CONF_LINE_MAX bytes. */
	s = padded("audit = all", SMX_CONF_LINE_MAX);
	cfg = parse_ok(s);
	ck_assert_int_eq(cfg->audit, SMX_AUDIT_ALL);
	smx_config_free(cfg);
	free(s);
	s = padded("audit = all", SMX_CONF_LINE_MAX + 1);
	ck_assert_int_eq(smx_config_parse("c.conf", s, strlen(s), &cfg, err,
	                     sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err,
	    "c.conf, line 1: line too long (over 8192 bytes)");
	free(s);

	/* A whole file of exactly SMX_CONF_FILE_MAX bytes, and one more. */
	s = padded("audit = all\n#", SMX_CONF_FILE_MAX);
	cfg = parse_ok(s);
	smx_config_free(cfg);
	free(s);
	s = padded("audit = all\n#", SMX_CONF_FILE_MAX + 1);
	ck_assert_int_eq(smx_config_parse("c.conf", s, strlen(s), &cfg, err,
	                     sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err, "c.conf: file too large (over 1048576 bytes)");
	free(s);

	/* Paths up to SMX_CONF_PATH_MAX - 1 bytes. */
	path = padded("/", SMX_CONF_PATH_MAX - 1);
	memset(path + 1, 'p', SMX_CONF_PATH_MAX - 2);
	s = malloc(SMX_CONF_PATH_MAX + 32);
	ck_assert_ptr_nonnull(s);
	snprintf(s, SMX_CONF_PATH_MAX + 32, "sender_roles = %s", path);
	cfg = parse_ok(s);
	ck_assert_str_eq(cfg->sender_roles_path, path);
	smx_config_free(cfg);
	snprintf(s, SMX_CONF_PATH_MAX + 32, "sender_roles = %sp", path);
	ck_assert_int_eq(smx_config_parse("c.conf", s, strlen(s), &cfg, err,
	                     sizeof(err)),
	    SMX_INVALID);
	ck_assert_msg(
	    strncmp(err, "c.conf, line 1: bad sender_roles value \"/ppp",
	        strlen("c.conf, line 1: bad sender_roles value \"/ppp")) == 0,
	    "%s", err);
	free(s);
	free(path);
}
END_TEST

START_TEST(test_smx_config_names)
{
	enum smx_tls_version v = SMX_TLS_NONE;
	enum smx_role r = SMX_ROLE_NONE;

	ck_assert_str_eq(smx_role_name(SMX_ROLE_SOR), "sor");
	ck_assert_str_eq(smx_role_name(SMX_ROLE_BER), "ber");
	ck_assert_str_eq(smx_role_name(SMX_ROLE_SOS), "sos");
	ck_assert_str_eq(smx_role_name(SMX_ROLE_BES), "bes");
	ck_assert_str_eq(smx_role_name(SMX_ROLE_NONE), "none");
	ck_assert_int_eq(smx_role_parse("SoR", &r), SMX_OK);
	ck_assert_int_eq(r, SMX_ROLE_SOR);
	ck_assert_int_eq(smx_role_parse("bes", &r), SMX_OK);
	ck_assert_int_eq(r, SMX_ROLE_BES);
	ck_assert_int_eq(smx_role_parse("none", &r), SMX_INVALID);
	ck_assert_int_eq(smx_role_parse("", &r), SMX_INVALID);
	ck_assert_int_eq(smx_role_parse("sorx", &r), SMX_INVALID);
	ck_assert_int_eq(r, SMX_ROLE_BES);

	ck_assert_str_eq(smx_tls_version_name(SMX_TLS_SSL3), "SSLv3");
	ck_assert_str_eq(smx_tls_version_name(SMX_TLS_1_0), "TLSv1");
	ck_assert_str_eq(smx_tls_version_name(SMX_TLS_1_1), "TLSv1.1");
	ck_assert_str_eq(smx_tls_version_name(SMX_TLS_1_2), "TLSv1.2");
	ck_assert_str_eq(smx_tls_version_name(SMX_TLS_1_3), "TLSv1.3");
	ck_assert_str_eq(smx_tls_version_name(SMX_TLS_NONE), "none");
	ck_assert_int_eq(smx_tls_version_parse("sslv3", &v), SMX_OK);
	ck_assert_int_eq(v, SMX_TLS_SSL3);
	ck_assert_int_eq(smx_tls_version_parse("TLSv1", &v), SMX_OK);
	ck_assert_int_eq(v, SMX_TLS_1_0);
	ck_assert_int_eq(smx_tls_version_parse("TLSv1.0", &v), SMX_OK);
	ck_assert_int_eq(v, SMX_TLS_1_0);
	ck_assert_int_eq(smx_tls_version_parse("TLSv1.3", &v), SMX_OK);
	ck_assert_int_eq(v, SMX_TLS_1_3);
	ck_assert_int_eq(smx_tls_version_parse("TLSv1.4", &v), SMX_INVALID);
	ck_assert_int_eq(smx_tls_version_parse("SSLv2", &v), SMX_INVALID);
	ck_assert_int_eq(v, SMX_TLS_1_3);
	/* The versions compare in protocol order. */
	ck_assert_int_lt(SMX_TLS_1_1, SMX_TLS_1_2);
}
END_TEST

static char tmpdir[] = "/tmp/check_smx_config.XXXXXX";
static const char *const tmpfiles[] = { "secmx.conf", "roles", "local" };

static void
tmp_setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
tmp_teardown(void)
{
	char path[sizeof(tmpdir) + 32];
	size_t i;

	for (i = 0; i < sizeof(tmpfiles) / sizeof(tmpfiles[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, tmpfiles[i]);
		(void)unlink(path);
	}
	ck_assert_int_eq(rmdir(tmpdir), 0);
}

/* Write text to tmpdir/name; the path goes to path. */
static void
write_tmp(const char *name, const char *text, char *path, size_t size)
{
	size_t len = strlen(text);
	int fd;

	snprintf(path, size, "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

#define DATA SMX_TEST_DATA "/conf/"
#define SAMPLE SMX_TEST_DATA "/../../conf/secmx.conf"

/*
 * The sample configuration with every "#name = value" line uncommented,
 * parsed; the number of such lines must be the number of parameters.
 */
static enum smx_status
sample_uncommented(struct smx_config **out, char *err, size_t errlen)
{
	static char text[64 * 1024];
	enum smx_status st;
	size_t len = 0;
	size_t n_set = 0;
	FILE *fp;
	char line[512];

	fp = fopen(SAMPLE, "r");
	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		const char *p = line;
		size_t n;

		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
		    strstr(line, " =") != NULL) {
			p = line + 1;
			n_set++;
		}
		n = strlen(p);
		ck_assert_uint_lt(len + n, sizeof(text));
		memcpy(text + len, p, n);
		len += n;
	}
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_uint_eq(n_set, smx_config_n_params());
	st = smx_config_parse(SAMPLE, text, len, out, err, errlen);
	ck_assert_msg(st == SMX_OK, "%s", err);
	return st;
}

START_TEST(test_smx_config_load)
{
	struct smx_config *cfg = NULL;
	char err[1024] = "";

	ck_assert_int_eq(smx_config_load(DATA "settings.conf", &cfg, err,
	                     sizeof(err)),
	    SMX_OK);
	ck_assert_str_eq(cfg->path, DATA "settings.conf");
	ck_assert_int_eq(cfg->default_sender_role, SMX_ROLE_SOS);
	ck_assert_uint_eq(cfg->sor_reject_code, 450);
	ck_assert_str_eq(cfg->sor_reject_dsn, "4.7.0");
	ck_assert_int_eq(cfg->tls_min_protocol, SMX_TLS_1_3);
	ck_assert_int_eq(cfg->audit, SMX_AUDIT_ALL);
	ck_assert_int_eq(cfg->log_destination, SMX_LOG_STDERR);
	ck_assert_uint_eq(cfg->request_timeout, 30);
	ck_assert_uint_eq(cfg->idle_timeout, 7200);
	ck_assert_ptr_null(cfg->receiver_roles);
	smx_config_free(cfg);
	cfg = NULL;

	/* The sample configuration is all defaults. */
	ck_assert_int_eq(smx_config_load(SMX_TEST_DATA "/../../conf/secmx.conf",
	                     &cfg, err, sizeof(err)),
	    SMX_OK);
	assert_defaults(cfg);
	smx_config_free(cfg);
	cfg = NULL;

	/* Its commented-out values are the defaults: uncommented, they
	 * change nothing. */
	ck_assert_int_eq(sample_uncommented(&cfg, err, sizeof(err)), SMX_OK);
	assert_defaults(cfg);
	smx_config_free(cfg);
	cfg = NULL;

	ck_assert_int_eq(smx_config_load(DATA "settings_bad.conf", &cfg, err,
	                     sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err,
	    DATA
	    "settings_bad.conf, line 3: bad sor_reject_code value \"250\" (expected a 4xx or 5xx code)");
	ck_assert_int_eq(smx_config_load(DATA "no-such.conf", &cfg, err,
	                     sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err, DATA "no-such.conf: No such file or directory");
	ck_assert_int_eq(smx_config_load(SMX_TEST_DATA "/conf", &cfg, err,
	                     sizeof(err)),
	    SMX_INVALID);
	ck_assert_str_eq(err, SMX_TEST_DATA "/conf: not a regular file");
	ck_assert_ptr_null(cfg);
}
END_TEST

START_TEST(test_smx_config_tables)
{
	struct smx_config *cfg = NULL;
	char path[sizeof(tmpdir) + 32];
	char roles[sizeof(tmpdir) + 32];
	char text[4096];
	char err[1024] = "";

	snprintf(text, sizeof(text),
	    "receiver_roles = %s\nsender_roles = %s\n"
	    "destination_roles = %s\nsor_client_certs = %s\n",
	    DATA "receiver_roles", DATA "sender_roles",
	    DATA "destination_roles", DATA "sor_client_certs");
	write_tmp("secmx.conf", text, path, sizeof(path));
	ck_assert_int_eq(smx_config_load(path, &cfg, err, sizeof(err)), SMX_OK);
	ck_assert_str_eq(smx_table_lookup_domain(cfg->receiver_roles,
	                     "a.example.org", 13),
	    "ber");
	ck_assert_str_eq(smx_table_lookup_domain(cfg->sender_roles,
	                     "example.org", 11),
	    "sos");
	ck_assert_str_eq(smx_table_lookup_domain(cfg->destination_roles,
	                     "partner.example", 15),
	    "sos");
	ck_assert_uint_eq(smx_table_count(cfg->sor_client_certs), 2);
	smx_config_free(cfg);
	cfg = NULL;

	/* A bad table: its own file and line in the message, nothing loaded
	 * and the config unchanged. */
	write_tmp("roles", "# receiver roles\nexample.org\tsos\n", roles,
	    sizeof(roles));
	snprintf(text, sizeof(text), "sender_roles = %s\nreceiver_roles = %s\n",
	    DATA "sender_roles", roles);
	write_tmp("secmx.conf", text, path, sizeof(path));
	ck_assert_int_eq(smx_config_load(path, &cfg, err, sizeof(err)),
	    SMX_INVALID);
	snprintf(text, sizeof(text),
	    "%s, line 2: bad value \"sos\" (expected sor or ber)", roles);
	ck_assert_str_eq(err, text);
	ck_assert_ptr_null(cfg);

	snprintf(text, sizeof(text), "sender_roles = %s\nreceiver_roles = %s\n",
	    DATA "sender_roles", roles);
	cfg = parse_ok(text);
	ck_assert_int_eq(smx_config_load_tables(cfg, err, sizeof(err)),
	    SMX_INVALID);
	ck_assert_ptr_null(cfg->sender_roles);
	ck_assert_ptr_null(cfg->receiver_roles);
	/* Fixed, the same config loads; loading again replaces the tables. */
	write_tmp("roles", "example.org sor\n", roles, sizeof(roles));
	ck_assert_int_eq(smx_config_load_tables(cfg, err, sizeof(err)), SMX_OK);
	ck_assert_str_eq(smx_table_lookup_domain(cfg->receiver_roles,
	                     "example.org", 11),
	    "sor");
	write_tmp("roles", "example.org ber\n", roles, sizeof(roles));
	ck_assert_int_eq(smx_config_load_tables(cfg, err, sizeof(err)), SMX_OK);
	ck_assert_str_eq(smx_table_lookup_domain(cfg->receiver_roles,
	                     "example.org", 11),
	    "ber");
	ck_assert_ptr_nonnull(cfg->sender_roles);
	/* A missing table leaves the loaded ones in place. */
	ck_assert_int_eq(unlink(roles), 0);
	ck_assert_int_eq(smx_config_load_tables(cfg, err, sizeof(err)),
	    SMX_INVALID);
	snprintf(text, sizeof(text), "%s: No such file or directory", roles);
	ck_assert_str_eq(err, text);
	ck_assert_str_eq(smx_table_lookup_domain(cfg->receiver_roles,
	                     "example.org", 11),
	    "ber");
	smx_config_free(cfg);
}
END_TEST

/*
 * The sending side's local settings: local_domains (inline domains and
 * table files), local_listeners, tls_dane and sos_mx_security.
 */
START_TEST(test_smx_config_local)
{
	static const struct {
		const char *in;
		const char *msg;
	} bad[] = {
		{ "local_domains = a..example\n",
		    "c.conf, line 1: bad local_domains value \"a..example\" (expected domains, .domains and absolute paths of tables)" },
		{ "local_domains = ok.example,\n  bad_name!\n",
		    "c.conf, line 1: bad local_domains value \"ok.example,  bad_name!\" (expected domains, .domains and absolute paths of tables)" },
		{ "local_listeners = 127.0.0.1:0\n",
		    "c.conf, line 1: bad local_listeners value \"127.0.0.1:0\" (expected ports, ADDRESS:PORT or [IPv6]:PORT items)" },
		{ "local_listeners = localhost:25\n",
		    "c.conf, line 1: bad local_listeners value \"localhost:25\" (expected ports, ADDRESS:PORT or [IPv6]:PORT items)" },
		{ "local_listeners = [::1]\n",
		    "c.conf, line 1: bad local_listeners value \"[::1]\" (expected ports, ADDRESS:PORT or [IPv6]:PORT items)" },
		{ "tls_dane = maybe\n",
		    "c.conf, line 1: bad tls_dane value \"maybe\" (expected yes or no)" },
		{ "sos_mx_security = secure\n",
		    "c.conf, line 1: bad sos_mx_security value \"secure\" (expected encrypt or dane)" },
	};
	struct smx_config *cfg;
	struct smx_route_self self;
	char path[sizeof(tmpdir) + 32];
	char table[sizeof(tmpdir) + 32];
	char text[1024];
	char err[512];
	size_t i;

	cfg = parse_ok("");
	ck_assert_str_eq(cfg->local_listeners, "25");
	ck_assert(cfg->tls_dane);
	ck_assert_int_eq(cfg->sos_mx_security, SMX_MX_ENCRYPT);
	ck_assert_ptr_null(cfg->local_domains);
	ck_assert_ptr_null(cfg->local_domain_tables[0]);
	ck_assert(!smx_route_is_local(cfg, "example.org"));
	smx_config_free(cfg);

	cfg = parse_ok("local_listeners = 25, 127.0.0.1:2525 [::1]:587\n"
	               "tls_dane = no\nsos_mx_security = DANE\n");
	ck_assert(!cfg->tls_dane);
	ck_assert_int_eq(cfg->sos_mx_security, SMX_MX_DANE);
	ck_assert_int_eq(smx_route_self_parse(cfg->local_listeners,
	                     strlen(cfg->local_listeners), &self),
	    SMX_OK);
	ck_assert_uint_eq(self.n_items, 3);
	smx_config_free(cfg);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = NULL;
		ck_assert_int_eq(smx_config_parse("c.conf", bad[i].in,
		                     strlen(bad[i].in), &cfg, err, sizeof(err)),
		    SMX_INVALID);
		ck_assert_str_eq(err, bad[i].msg);
		ck_assert_ptr_null(cfg);
	}

	/* Inline domains and a table file, loaded with the other tables. */
	write_tmp("local",
	    "# virtual domains\nvirt.example x\n.sub.example x\n", table,
	    sizeof(table));
	snprintf(text, sizeof(text),
	    "local_domains = mail.example, .parent.example\n %s\n", table);
	write_tmp("secmx.conf", text, path, sizeof(path));
	cfg = NULL;
	ck_assert_int_eq(smx_config_load(path, &cfg, err, sizeof(err)), SMX_OK);
	ck_assert(smx_route_is_local(cfg, "mail.example"));
	ck_assert(smx_route_is_local(cfg, "MAIL.example."));
	ck_assert(smx_route_is_local(cfg, "a.parent.example"));
	ck_assert(!smx_route_is_local(cfg, "parent.example"));
	ck_assert(smx_route_is_local(cfg, "virt.example"));
	ck_assert(smx_route_is_local(cfg, "a.sub.example"));
	ck_assert(!smx_route_is_local(cfg, "other.example"));
	ck_assert_uint_eq(cfg->n_local_domain_tables, 1);
	smx_config_free(cfg);

	/* A bad table names its file and line; nothing is loaded. */
	write_tmp("local", "ok.example x\nbad..example x\n", table,
	    sizeof(table));
	cfg = NULL;
	ck_assert_int_eq(smx_config_load(path, &cfg, err, sizeof(err)),
	    SMX_INVALID);
	snprintf(text, sizeof(text), "%s, line 2: bad domain name", table);
	ck_assert_msg(strncmp(err, text, strlen(text)) == 0, "%s", err);
	ck_assert_ptr_null(cfg);
}
END_TEST

/*
 * The parameter table as smx_config_param lists it: names unique, every
 * default accepted when written in a file, and a setting of each
 * recorded as written (smx_config_setting, for secmx-lookup -n).
 */
START_TEST(test_smx_config_param_list)
{
	const char *name;
	const char *def;
	const char *other;
	char text[256];
	struct smx_config *cfg;
	size_t n = 0;
	size_t i;
	size_t k;

	while (smx_config_param(n, &name, &def))
		n++;
	ck_assert_uint_eq(n, smx_config_n_params());
	ck_assert_uint_ge(n, 32);
	ck_assert(smx_config_param(0, &name, &def));
	ck_assert_str_eq(name, "receiver_roles");
	ck_assert_str_eq(def, "");
	for (i = 0; i < n; i++) {
		ck_assert(smx_config_param(i, &name, &def));
		for (k = i + 1; k < n; k++) {
			ck_assert(smx_config_param(k, &other, &def));
			ck_assert_str_ne(name, other);
		}
		ck_assert(smx_config_param(i, &name, &def));
		snprintf(text, sizeof(text), "%s = %s\n", name, def);
		cfg = parse_ok(text);
		ck_assert_str_eq(smx_config_setting(cfg, i), def);
		for (k = 0; k < n; k++) {
			if (k != i)
				ck_assert_ptr_null(smx_config_setting(cfg, k));
		}
		smx_config_free(cfg);
	}
	ck_assert(!smx_config_param(n, &name, &def));

	/* Nothing set: no settings; past the end: NULL. */
	cfg = parse_ok("# comments only\n");
	for (i = 0; i < n; i++)
		ck_assert_ptr_null(smx_config_setting(cfg, i));
	ck_assert_ptr_null(smx_config_setting(cfg, n));
	smx_config_free(cfg);

	/* The last setting wins, as written: units, case and continuation
	 * lines kept, white space around the value dropped. */
	cfg = parse_ok("sor_reject_code = 450\n"
	               "request_timeout = 1m\n"
	               "sor_reject_code =   550  \n"
	               "local_listeners = 25,\n"
	               "  127.0.0.1:2525\n"
	               "tls_dane = No\n"
	               "helo_name =\n");
	for (i = 0; smx_config_param(i, &name, &def); i++) {
		const char *v = smx_config_setting(cfg, i);

		if (strcmp(name, "sor_reject_code") == 0)
			ck_assert_str_eq(v, "550");
		else if (strcmp(name, "request_timeout") == 0)
			ck_assert_str_eq(v, "1m");
		else if (strcmp(name, "local_listeners") == 0)
			ck_assert_str_eq(v, "25,  127.0.0.1:2525");
		else if (strcmp(name, "tls_dane") == 0)
			ck_assert_str_eq(v, "No");
		else if (strcmp(name, "helo_name") == 0)
			ck_assert_str_eq(v, "");
		else
			ck_assert_ptr_null(v);
	}
	ck_assert_uint_eq(cfg->sor_reject_code, 550);
	smx_config_free(cfg);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("smx_config");
	TCase *tc;

	tc = tcase_create("values");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_smx_config_defaults);
	tcase_add_test(tc, test_smx_config_receiver_defaults);
	tcase_add_test(tc, test_smx_config_serial);
	tcase_add_loop_test(tc, test_smx_config_values, 0,
	    sizeof(good_cases) / sizeof(good_cases[0]));
	tcase_add_test(tc, test_smx_config_names);
	tcase_add_test(tc, test_smx_config_param_list);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_smx_config_errors, 0,
	    sizeof(error_cases) / sizeof(error_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("syntax");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_smx_config_syntax);
	tcase_add_test(tc, test_smx_config_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_set_timeout(tc, 10);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_smx_config_load);
	tcase_add_test(tc, test_smx_config_tables);
	tcase_add_test(tc, test_smx_config_local);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
