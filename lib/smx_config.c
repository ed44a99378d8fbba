/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_config - secmx.conf, in Postfix main.cf syntax
 * DESCRIPTION
 *	"name = value" lines; '#' comment lines and blank lines are ignored;
 *	a line that starts with white space continues the previous logical
 *	line (the line break is dropped, the leading white space kept);
 *	white space around '=' and at the end of a line is not part of the
 *	value; a later setting of a name overrides an earlier one, as in
 *	Postfix. A CR directly before LF is part of the line end.
 *
 *	The parameters are one table, params[] below: name, kind, default
 *	text and the struct smx_config field. Defaults go through the same
 *	checks as settings from the file. A new parameter is a new row and
 *	a new field; a new kind of value is a new enum param_kind case.
 *	smx_config_param lists the table for others (secmx-lookup -d, the
 *	test that compares it with conf/secmx.conf and secmx.conf(5)), and
 *	a config keeps the text of each setting its file made
 *	(smx_config_setting, secmx-lookup -n).
 *
 *	Every setting is checked when it is read, so a bad value is an
 *	error even when a later line overrides it: the line number in the
 *	message then still points at the mistake.
 * LIMITS
 *	SMX_CONF_FILE_MAX bytes per file, SMX_CONF_LINE_MAX bytes per
 *	logical line, SMX_CONF_PATH_MAX bytes per path. No $name expansion
 *	and no "type:name" table syntax: table values are absolute paths of
 *	text files (smx_table).
 * DIAGNOSTICS
 *	Returns SMX_INVALID with "file, line N: problem" for the first bad
 *	line, "file: strerror" for a file that cannot be read, and the
 *	table's own "table, line N: problem" from smx_config_load_tables.
 *	SMX_TEMPFAIL when memory is short. Logs nothing.
 * SECURITY
 *	The file is bounded and checked like any other input: NUL bytes,
 *	bare CR and control characters are refused.
 * SEE ALSO
 *	postconf(5), "main.cf syntax"; smx_table.c; conf/secmx.conf.
 */
#include "smx_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smx_buf.h"
#include "smx_dns.h"
#include "smx_limits.h"
#include "smx_lines.h"
#include "smx_route.h"
#include "smx_util.h"

/* Keyword fields are enums stored through a generic int (store_int). */
_Static_assert(sizeof(enum smx_role) == sizeof(int), "enum size");
_Static_assert(sizeof(enum smx_tls_version) == sizeof(int), "enum size");
_Static_assert(sizeof(enum smx_audit) == sizeof(int), "enum size");
_Static_assert(sizeof(enum smx_log_dest) == sizeof(int), "enum size");
_Static_assert(sizeof(enum smx_tls_verify) == sizeof(int), "enum size");

enum param_kind {
	PARAM_PATH,       /* char *: absolute path, empty = NULL */
	PARAM_KEYWORD,    /* enum: one of keywords[], ASCII case-insensitive */
	PARAM_REPLY_CODE, /* unsigned: [min, max]; also sets sor_reject_dsn */
	PARAM_TIME,       /* unsigned long: smx_parse_time within [min, max] */
	PARAM_BOOL,       /* bool: yes or no, ASCII case-insensitive */
	PARAM_TEXT,       /* char *: text accepted by check(), empty = NULL */
	PARAM_DOMAINS,    /* char *: domains and table paths (local_domains) */
	PARAM_LOG,        /* enum smx_log_dest, and log_file for a path */
};

struct keyword {
	const char *name;
	int value;
};

struct param {
	const char *name;
	enum param_kind kind;
	const char *def; /* default, as it would be written in the file */
	size_t offset;   /* of the field in struct smx_config */
	const struct keyword *keywords; /* PARAM_KEYWORD, NULL-terminated */
	unsigned long min;              /* PARAM_REPLY_CODE, PARAM_TIME */
	unsigned long max;
	const char *expect; /* what a good value looks like, for messages */
	bool (*check)(const char *value, size_t len); /* PARAM_TEXT */
};

static const struct keyword sender_role_words[] = {
	{ "bes", SMX_ROLE_BES },
	{ "sos", SMX_ROLE_SOS },
	{ NULL, 0 },
};

/* TLS 1.0 or later: "TLSv1" is how Postfix names 1.0. */
static const struct keyword tls_words[] = {
	{ "TLSv1", SMX_TLS_1_0 },
	{ "TLSv1.0", SMX_TLS_1_0 },
	{ "TLSv1.1", SMX_TLS_1_1 },
	{ "TLSv1.2", SMX_TLS_1_2 },
	{ "TLSv1.3", SMX_TLS_1_3 },
	{ NULL, 0 },
};

static const struct keyword audit_words[] = {
	{ "decisions", SMX_AUDIT_DECISIONS },
	{ "all", SMX_AUDIT_ALL },
	{ NULL, 0 },
};

static const struct keyword receiver_role_words[] = {
	{ "sor", SMX_ROLE_SOR },
	{ "ber", SMX_ROLE_BER },
	{ NULL, 0 },
};

static const struct keyword mx_security_words[] = {
	{ "encrypt", SMX_MX_ENCRYPT },
	{ "dane", SMX_MX_DANE },
	{ NULL, 0 },
};

static const struct keyword verify_words[] = {
	{ "none", SMX_TLS_VERIFY_NONE },
	{ "ca", SMX_TLS_VERIFY_CA },
	{ NULL, 0 },
};

/* dns_nameservers: what smx_dns accepts, or empty (resolv.conf). */
static bool
check_nameservers(const char *value, size_t len)
{
	struct smx_dns_servers servers;
	char reason[SMX_DNS_REASON_MAX];

	return smx_dns_servers_parse(value, len, &servers, reason,
	           sizeof(reason)) == SMX_OK;
}

/* helo_name: empty (the system's host name) or a host name. */
static bool
check_helo(const char *value, size_t len)
{
	return len == 0 || smx_is_hostname(value, len);
}

/* unqualified_recipient_domain: empty (this host's name) or a host name. */
static bool
check_domain(const char *value, size_t len)
{
	return len == 0 || (smx_is_hostname(value, len) && value[0] != '.');
}

/* local_listeners: what smx_route_self_parse accepts. */
static bool
check_listeners(const char *value, size_t len)
{
	struct smx_route_self self;

	return smx_route_self_parse(value, len, &self) == SMX_OK;
}

/*
 * secmx_transport_name: a transport_maps result, "transport:" or
 * "transport:nexthop" (transport(5)); the service name as master.cf
 * allows it, the next hop without white space or control characters.
 */
static bool
check_transport(const char *value, size_t len)
{
	const char *colon = memchr(value, ':', len);
	size_t i;

	if (colon == NULL || colon == value || len > SMX_TRANSPORT_NAME_MAX)
		return false;
	for (i = 0; value + i < colon; i++) {
		unsigned char c = (unsigned char)value[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		        c == '.'))
			return false;
	}
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

#define FIELD(f) offsetof(struct smx_config, f)
#define PATH_EXPECT "expected an absolute path"

static const struct param params[] = {
	{ .name = "receiver_roles",
	    .kind = PARAM_PATH,
	    .def = "",
	    .offset = FIELD(receiver_roles_path),
	    .expect = PATH_EXPECT },
	{ .name = "sender_roles",
	    .kind = PARAM_PATH,
	    .def = "",
	    .offset = FIELD(sender_roles_path),
	    .expect = PATH_EXPECT },
	{ .name = "destination_roles",
	    .kind = PARAM_PATH,
	    .def = "",
	    .offset = FIELD(destination_roles_path),
	    .expect = PATH_EXPECT },
	{ .name = "sor_client_certs",
	    .kind = PARAM_PATH,
	    .def = "",
	    .offset = FIELD(sor_client_certs_path),
	    .expect = PATH_EXPECT },
	{ .name = "default_sender_role",
	    .kind = PARAM_KEYWORD,
	    .def = "bes",
	    .offset = FIELD(default_sender_role),
	    .keywords = sender_role_words,
	    .expect = "expected bes or sos" },
	{ .name = "sor_reject_code",
	    .kind = PARAM_REPLY_CODE,
	    .def = "530",
	    .offset = FIELD(sor_reject_code),
	    .min = 400,
	    .max = 599,
	    .expect = "expected a 4xx or 5xx code" },
	{ .name = "tls_min_protocol",
	    .kind = PARAM_KEYWORD,
	    .def = "TLSv1.2",
	    .offset = FIELD(tls_min_protocol),
	    .keywords = tls_words,
	    .expect = "expected TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3" },
	{ .name = "audit",
	    .kind = PARAM_KEYWORD,
	    .def = "decisions",
	    .offset = FIELD(audit),
	    .keywords = audit_words,
	    .expect = "expected decisions or all" },
	{ .name = "log_destination",
	    .kind = PARAM_LOG,
	    .def = "syslog",
	    .offset = FIELD(log_destination),
	    .expect = "expected syslog, stderr or an absolute path" },
	{ .name = "request_timeout",
	    .kind = PARAM_TIME,
	    .def = "10s",
	    .offset = FIELD(request_timeout),
	    .min = 1,
	    .max = 3600,
	    .expect = "expected a time from 1s to 1h" },
	{ .name = "idle_timeout",
	    .kind = PARAM_TIME,
	    .def = "3600s",
	    .offset = FIELD(idle_timeout),
	    .min = 1,
	    .max = 86400,
	    .expect = "expected a time from 1s to 1d" },
	{ .name = "dns_nameservers",
	    .kind = PARAM_TEXT,
	    .def = "",
	    .offset = FIELD(dns_nameservers),
	    .check = check_nameservers,
	    .expect = "expected IP addresses with optional ports" },
	{ .name = "dns_timeout",
	    .kind = PARAM_TIME,
	    .def = "5s",
	    .offset = FIELD(dns_timeout),
	    .min = 1,
	    .max = SMX_DNS_TIMEOUT_MAX,
	    .expect = "expected a time from 1s to 60s" },
	{ .name = "dns_trust_ad",
	    .kind = PARAM_BOOL,
	    .def = "no",
	    .offset = FIELD(dns_trust_ad),
	    .expect = "expected yes or no" },
	{ .name = "tls_verify",
	    .kind = PARAM_KEYWORD,
	    .def = "ca",
	    .offset = FIELD(tls_verify),
	    .keywords = verify_words,
	    .expect = "expected none or ca" },
	{ .name = "tls_ca_file",
	    .kind = PARAM_PATH,
	    .def = "",
	    .offset = FIELD(tls_ca_file),
	    .expect = PATH_EXPECT },
	{ .name = "tls_ca_path",
	    .kind = PARAM_PATH,
	    .def = "",
	    .offset = FIELD(tls_ca_path),
	    .expect = PATH_EXPECT },
	{ .name = "helo_name",
	    .kind = PARAM_TEXT,
	    .def = "",
	    .offset = FIELD(helo_name),
	    .check = check_helo,
	    .expect = "expected a host name" },
	{ .name = "smtp_connect_timeout",
	    .kind = PARAM_TIME,
	    .def = "30s",
	    .offset = FIELD(smtp_connect_timeout),
	    .min = 1,
	    .max = 3600,
	    .expect = "expected a time from 1s to 1h" },
	{ .name = "smtp_timeout",
	    .kind = PARAM_TIME,
	    .def = "120s",
	    .offset = FIELD(smtp_timeout),
	    .min = 1,
	    .max = 3600,
	    .expect = "expected a time from 1s to 1h" },
	{ .name = "delivery_time_limit",
	    .kind = PARAM_TIME,
	    .def = "900s",
	    .offset = FIELD(delivery_time_limit),
	    .min = 1,
	    .max = 86400,
	    .expect = "expected a time from 1s to 1d" },
	{ .name = "lmtpd_delivery_time_limit",
	    .kind = PARAM_TIME,
	    .def = "500s",
	    .offset = FIELD(lmtpd_delivery_time_limit),
	    .min = 10,
	    .max = 3600,
	    .expect = "expected a time from 10s to 1h" },
	/*
	 * Postfix smtp_connection_cache_time_limit and
	 * smtp_connection_reuse_time_limit, with their defaults; the bounds
	 * are in smx_limits.h.
	 */
	{ .name = "smtp_connection_cache_time_limit",
	    .kind = PARAM_TIME,
	    .def = "2s",
	    .offset = FIELD(smtp_connection_cache_time_limit),
	    .min = 0,
	    .max = SMTP_CACHE_IDLE_TIME_MAX,
	    .expect = "expected a time from 0s (off) to 5m" },
	{ .name = "smtp_connection_reuse_time_limit",
	    .kind = PARAM_TIME,
	    .def = "300s",
	    .offset = FIELD(smtp_connection_reuse_time_limit),
	    .min = 1,
	    .max = SMTP_CACHE_REUSE_TIME_MAX,
	    .expect = "expected a time from 1s to 1d" },
	/* Postfix smtp_tls_session_cache_timeout, with its default. */
	{ .name = "tls_session_cache_timeout",
	    .kind = PARAM_TIME,
	    .def = "3600s",
	    .offset = FIELD(tls_session_cache_timeout),
	    .min = 0,
	    .max = SMX_TLS_SESSION_LIFETIME_MAX,
	    .expect = "expected a time from 0s (off) to 1d" },
	{ .name = "secmx_transport_name",
	    .kind = PARAM_TEXT,
	    .def = "secmx:",
	    .offset = FIELD(secmx_transport_name),
	    .check = check_transport,
	    .expect = "expected transport: or transport:nexthop" },
	{ .name = "local_listeners",
	    .kind = PARAM_TEXT,
	    .def = "25",
	    .offset = FIELD(local_listeners),
	    .check = check_listeners,
	    .expect = "expected ports, ADDRESS:PORT or [IPv6]:PORT items" },
	{ .name = "tls_dane",
	    .kind = PARAM_BOOL,
	    .def = "yes",
	    .offset = FIELD(tls_dane),
	    .expect = "expected yes or no" },
	{ .name = "sos_mx_security",
	    .kind = PARAM_KEYWORD,
	    .def = "encrypt",
	    .offset = FIELD(sos_mx_security),
	    .keywords = mx_security_words,
	    .expect = "expected encrypt or dane" },
	{ .name = "local_domains",
	    .kind = PARAM_DOMAINS,
	    .def = "",
	    .offset = FIELD(local_domains),
	    .expect =
	        "expected domains, .domains and absolute paths of tables" },
	{ .name = "unqualified_recipient_domain",
	    .kind = PARAM_TEXT,
	    .def = "",
	    .offset = FIELD(unqualified_recipient_domain),
	    .check = check_domain,
	    .expect = "expected a domain name" },
	{ .name = "address_literal_role",
	    .kind = PARAM_KEYWORD,
	    .def = "sor",
	    .offset = FIELD(address_literal_role),
	    .keywords = receiver_role_words,
	    .expect = "expected sor or ber" },
};

#define N_PARAMS (sizeof(params) / sizeof(params[0]))

static bool
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static void
store_int(struct smx_config *cfg, size_t offset, int v)
{
	memcpy((char *)cfg + offset, &v, sizeof(v));
}

static bool
is_list_separator(int c)
{
	return c == ' ' || c == '\t' || c == ',';
}

/*
 * next_item - the next item of a list separated by blanks or commas,
 * from *pos in s (len bytes); false when none is left.
 */
static bool
next_item(const char *s, size_t len, size_t *pos, const char **item,
    size_t *item_len)
{
	size_t i = *pos;

	while (i < len && is_list_separator((unsigned char)s[i]))
		i++;
	if (i >= len)
		return false;
	*item = s + i;
	while (i < len && !is_list_separator((unsigned char)s[i]))
		i++;
	*item_len = (size_t)(s + i - *item);
	*pos = i;
	return true;
}

/*
 * set_domains - local_domains: the inline domains become table 0 at
 * once (so a bad domain is an error on its own line); table paths are
 * checked here and loaded by smx_config_load_tables.
 */
static enum smx_status
set_domains(struct smx_config *cfg, const struct param *p, const char *value,
    size_t len)
{
	struct smx_table *inline_table = NULL;
	struct smx_buf text;
	char **field = (char **)((char *)cfg + p->offset);
	char err[SMX_LOG_LINE_MAX];
	const char *item;
	size_t item_len;
	size_t n_paths = 0;
	size_t pos = 0;
	enum smx_status st = SMX_OK;
	char *copy = NULL;

	smx_buf_init(&text, SMX_CONF_LINE_MAX * 8);
	while (st == SMX_OK && next_item(value, len, &pos, &item, &item_len)) {
		if (item[0] == '/') {
			if (++n_paths > SMX_LOCAL_TABLES_MAX ||
			    item_len >= SMX_CONF_PATH_MAX)
				st = SMX_INVALID;
			continue;
		}
		st =
		    smx_buf_appendf(&text, "%.*s local\n", (int)item_len, item);
	}
	if (st == SMX_OK && text.len > 0)
		st = smx_table_parse(p->name, text.data, text.len,
		    SMX_TABLE_DOMAINS, &inline_table, err, sizeof(err));
	if (st == SMX_OK && len > 0 && (copy = strdup(value)) == NULL)
		st = SMX_TEMPFAIL;
	smx_buf_free(&text);
	if (st != SMX_OK) {
		smx_table_free(inline_table);
		return st;
	}
	free(*field);
	*field = copy;
	smx_table_free(cfg->local_domain_tables[0]);
	cfg->local_domain_tables[0] = inline_table;
	return SMX_OK;
}

/*
 * set_param - check value (NUL-terminated) for p and store it in cfg.
 * SMX_OK, SMX_INVALID (bad value), SMX_TEMPFAIL (memory).
 */
static enum smx_status
set_param(struct smx_config *cfg, const struct param *p, const char *value)
{
	size_t len = strlen(value);
	unsigned long n;
	char **field;
	char *copy;
	int i;

	switch (p->kind) {
	case PARAM_PATH:
		field = (char **)((char *)cfg + p->offset);
		if (len == 0) {
			free(*field);
			*field = NULL;
			return SMX_OK;
		}
		if (value[0] != '/' || len >= SMX_CONF_PATH_MAX)
			return SMX_INVALID;
		if ((copy = strdup(value)) == NULL)
			return SMX_TEMPFAIL;
		free(*field);
		*field = copy;
		return SMX_OK;
	case PARAM_KEYWORD:
		for (i = 0; p->keywords[i].name != NULL; i++) {
			if (smx_ascii_casecmp(value, p->keywords[i].name) ==
			    0) {
				store_int(cfg, p->offset, p->keywords[i].value);
				return SMX_OK;
			}
		}
		return SMX_INVALID;
	case PARAM_REPLY_CODE:
		if (smx_parse_ulong(value, len, p->min, p->max, &n) != SMX_OK ||
		    (n / 100 != 4 && n / 100 != 5))
			return SMX_INVALID;
		*(unsigned *)((char *)cfg + p->offset) = (unsigned)n;
		/* RFC 3463: x.7.0 "other or undefined security status". */
		smx_strlcpy(cfg->sor_reject_dsn,
		    n / 100 == 5 ? "5.7.0" : "4.7.0",
		    sizeof(cfg->sor_reject_dsn));
		return SMX_OK;
	case PARAM_TIME:
		if (smx_parse_time(value, p->min, p->max, &n) != SMX_OK)
			return SMX_INVALID;
		*(unsigned long *)((char *)cfg + p->offset) = n;
		return SMX_OK;
	case PARAM_BOOL:
		if (smx_ascii_casecmp(value, "yes") == 0)
			*(bool *)((char *)cfg + p->offset) = true;
		else if (smx_ascii_casecmp(value, "no") == 0)
			*(bool *)((char *)cfg + p->offset) = false;
		else
			return SMX_INVALID;
		return SMX_OK;
	case PARAM_DOMAINS:
		return set_domains(cfg, p, value, len);
	case PARAM_LOG:
		copy = NULL;
		if (smx_ascii_casecmp(value, "syslog") == 0)
			cfg->log_destination = SMX_LOG_SYSLOG;
		else if (smx_ascii_casecmp(value, "stderr") == 0)
			cfg->log_destination = SMX_LOG_STDERR;
		else if (value[0] == '/' && len < SMX_CONF_PATH_MAX &&
		    value[len - 1] != '/') {
			if ((copy = strdup(value)) == NULL)
				return SMX_TEMPFAIL;
			cfg->log_destination = SMX_LOG_FILE;
		} else {
			return SMX_INVALID;
		}
		free(cfg->log_file);
		cfg->log_file = copy;
		return SMX_OK;
	case PARAM_TEXT:
		field = (char **)((char *)cfg + p->offset);
		if (!p->check(value, len))
			return SMX_INVALID;
		copy = NULL;
		if (len > 0 && (copy = strdup(value)) == NULL)
			return SMX_TEMPFAIL;
		free(*field);
		*field = copy;
		return SMX_OK;
	}
	return SMX_INVALID;
}

static bool
is_param_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	}
	return true;
}

static int
value_width(size_t len)
{
	return (int)(len < SMX_LOG_VALUE_MAX ? len : SMX_LOG_VALUE_MAX);
}

/* One "name = value" logical line (modified in place). */
static enum smx_status
parse_setting(struct smx_config *cfg, const char *name, size_t line, char *text,
    size_t len, char *err, size_t errlen)
{
	const struct param *p = NULL;
	enum smx_status st;
	char *eq;
	char *value;
	size_t nlen;
	size_t i;

	if ((eq = memchr(text, '=', len)) == NULL) {
		smx_line_error(err, errlen, name, line,
		    "missing '=' in \"%.*s\"", value_width(len), text);
		return SMX_INVALID;
	}
	for (nlen = (size_t)(eq - text); nlen > 0 && is_blank(text[nlen - 1]);)
		nlen--;
	if (!is_param_name(text, nlen)) {
		smx_line_error(err, errlen, name, line,
		    "bad parameter name \"%.*s\"", value_width(nlen), text);
		return SMX_INVALID;
	}
	for (i = 0; i < N_PARAMS; i++) {
		if (strlen(params[i].name) == nlen &&
		    memcmp(params[i].name, text, nlen) == 0) {
			p = &params[i];
			break;
		}
	}
	if (p == NULL) {
		smx_line_error(err, errlen, name, line,
		    "unknown parameter \"%.*s\"", value_width(nlen), text);
		return SMX_INVALID;
	}
	for (value = eq + 1; is_blank(*value); value++)
		continue;
	st = set_param(cfg, p, value);
	if (st == SMX_OK) {
		char **setting = &cfg->settings[p - params];
		char *copy = strdup(value);

		if (copy == NULL) {
			st = SMX_TEMPFAIL;
		} else {
			free(*setting);
			*setting = copy;
		}
	}
	if (st == SMX_INVALID)
		smx_line_error(err, errlen, name, line,
		    "bad %s value \"%.*s\" (%s)", p->name,
		    value_width(strlen(value)), value, p->expect);
	else if (st != SMX_OK)
		smx_line_error(err, errlen, name, line, "out of memory");
	return st;
}

/* A new config with every default; NULL when memory is short. */
static struct smx_config *
config_defaults(const char *name)
{
	/* The serial of the last configuration made; threads may parse. */
	static atomic_ullong last_serial;
	struct smx_config *cfg;
	size_t i;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return NULL;
	cfg->serial = atomic_fetch_add(&last_serial, 1) + 1;
	if ((cfg->path = strdup(name)) == NULL ||
	    (cfg->settings = calloc(N_PARAMS, sizeof(char *))) == NULL) {
		free(cfg->path);
		free(cfg);
		return NULL;
	}
	for (i = 0; i < N_PARAMS; i++) {
		switch (set_param(cfg, &params[i], params[i].def)) {
		case SMX_OK:
			break;
		case SMX_INVALID:
			smx_panic("bad default for %s: %s", params[i].name,
			    params[i].def);
		default:
			smx_config_free(cfg);
			return NULL;
		}
	}
	return cfg;
}

/*
 * default_origin - unqualified_recipient_domain when it is not set: this
 * host's name (gethostname(2)), lower case without a trailing dot, as
 * Postfix's default myorigin ($myhostname). A name that is no host name
 * leaves it unset (bare local parts then name no domain).
 */
static enum smx_status
default_origin(struct smx_config *cfg)
{
	char host[SMX_DOMAIN_MAX + 2];
	size_t len;

	if (gethostname(host, sizeof(host)) != 0)
		return SMX_OK;
	host[sizeof(host) - 1] = '\0';
	len = strlen(host);
	if (len > 0 && host[len - 1] == '.')
		host[--len] = '\0';
	if (len == 0 || !smx_is_hostname(host, len))
		return SMX_OK;
	smx_ascii_lower(host, len);
	if ((cfg->unqualified_recipient_domain = strdup(host)) == NULL)
		return SMX_TEMPFAIL;
	return SMX_OK;
}

enum smx_status
smx_config_parse(const char *name, const char *data, size_t len,
    struct smx_config **out, char *err, size_t errlen)
{
	struct smx_lines r;
	struct smx_config *cfg;
	enum smx_status st;

	if (len > SMX_CONF_FILE_MAX) {
		if (errlen > 0)
			snprintf(err, errlen,
			    "%s: file too large (over %d bytes)", name,
			    SMX_CONF_FILE_MAX);
		return SMX_INVALID;
	}
	if ((cfg = config_defaults(name)) == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: out of memory", name);
		return SMX_TEMPFAIL;
	}
	smx_lines_init(&r, data, len, SMX_CONF_LINE_MAX, "parameter");
	while ((st = smx_lines_next(&r)) == SMX_OK) {
		st = parse_setting(cfg, name, r.line, r.text, r.text_len, err,
		    errlen);
		if (st != SMX_OK)
			goto out;
	}
	if (st != SMX_NOTFOUND) {
		smx_line_error(err, errlen, name, r.bad_line, "%s", r.problem);
		goto out;
	}
	if (cfg->unqualified_recipient_domain == NULL &&
	    default_origin(cfg) != SMX_OK) {
		if (errlen > 0)
			snprintf(err, errlen, "%s: out of memory", name);
		st = SMX_TEMPFAIL;
		goto out;
	}
	*out = cfg;
	cfg = NULL;
	st = SMX_OK;

out:
	smx_lines_free(&r);
	smx_config_free(cfg);
	return st;
}

/* The tables of a config: where their path is, where the table goes. */
static const struct {
	size_t path;
	size_t table;
	enum smx_table_type type;
} config_tables[] = {
	{ FIELD(receiver_roles_path), FIELD(receiver_roles),
	    SMX_TABLE_RECEIVER },
	{ FIELD(sender_roles_path), FIELD(sender_roles), SMX_TABLE_SENDER },
	{ FIELD(destination_roles_path), FIELD(destination_roles),
	    SMX_TABLE_DESTINATION },
	{ FIELD(sor_client_certs_path), FIELD(sor_client_certs),
	    SMX_TABLE_CCERT },
};

#define N_TABLES (sizeof(config_tables) / sizeof(config_tables[0]))

/*
 * load_local_tables - the table files named in local_domains, into
 * loaded[0..*n). On error the tables loaded so far stay in loaded[].
 */
static enum smx_status
load_local_tables(const struct smx_config *cfg, struct smx_table **loaded,
    size_t *n, char *err, size_t errlen)
{
	const char *list = cfg->local_domains;
	char path[SMX_CONF_PATH_MAX];
	const char *item;
	size_t item_len;
	size_t pos = 0;
	enum smx_status st;

	*n = 0;
	while (list != NULL &&
	    next_item(list, strlen(list), &pos, &item, &item_len)) {
		if (item[0] != '/' || *n >= SMX_LOCAL_TABLES_MAX ||
		    item_len >= sizeof(path))
			continue;
		memcpy(path, item, item_len);
		path[item_len] = '\0';
		st = smx_table_load(path, SMX_TABLE_DOMAINS, &loaded[*n], err,
		    errlen);
		if (st != SMX_OK)
			return st;
		(*n)++;
	}
	return SMX_OK;
}

enum smx_status
smx_config_load_tables(struct smx_config *cfg, char *err, size_t errlen)
{
	struct smx_table *loaded[N_TABLES] = { NULL };
	struct smx_table *local[SMX_LOCAL_TABLES_MAX] = { NULL };
	size_t n_local = 0;
	enum smx_status st = SMX_OK;
	size_t i;

	for (i = 0; i < N_TABLES; i++) {
		const char *path =
		    *(char **)((char *)cfg + config_tables[i].path);

		if (path == NULL)
			continue;
		st = smx_table_load(path, config_tables[i].type, &loaded[i],
		    err, errlen);
		if (st != SMX_OK)
			break;
	}
	if (st == SMX_OK)
		st = load_local_tables(cfg, local, &n_local, err, errlen);
	for (i = 0; i < SMX_LOCAL_TABLES_MAX; i++) {
		if (st != SMX_OK) {
			smx_table_free(local[i]);
			continue;
		}
		smx_table_free(cfg->local_domain_tables[i + 1]);
		cfg->local_domain_tables[i + 1] = local[i];
	}
	if (st == SMX_OK)
		cfg->n_local_domain_tables = n_local;
	for (i = 0; i < N_TABLES; i++) {
		struct smx_table **slot =
		    (struct smx_table **)((char *)cfg + config_tables[i].table);

		if (st != SMX_OK) {
			smx_table_free(loaded[i]);
			continue;
		}
		smx_table_free(*slot);
		*slot = loaded[i];
	}
	return st;
}

enum smx_status
smx_config_load(const char *path, struct smx_config **out, char *err,
    size_t errlen)
{
	struct smx_config *cfg = NULL;
	enum smx_status st;
	char *data = NULL;
	size_t len = 0;
	char dummy[1];

	if (path == NULL)
		path = SMX_DEFAULT_CONFIG;
	if (errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	st = smx_read_file(path, SMX_CONF_FILE_MAX, &data, &len, err, errlen);
	if (st != SMX_OK)
		return st;
	st = smx_config_parse(path, data, len, &cfg, err, errlen);
	free(data);
	if (st != SMX_OK)
		return st;
	if ((st = smx_config_load_tables(cfg, err, errlen)) != SMX_OK) {
		smx_config_free(cfg);
		return st;
	}
	*out = cfg;
	return SMX_OK;
}

void
smx_config_free(struct smx_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < N_TABLES; i++) {
		struct smx_table **t =
		    (struct smx_table **)((char *)cfg + config_tables[i].table);

		smx_table_free(*t);
	}
	for (i = 0; i <= SMX_LOCAL_TABLES_MAX; i++)
		smx_table_free(cfg->local_domain_tables[i]);
	/* Every string parameter, table paths included. */
	for (i = 0; i < N_PARAMS; i++) {
		if (params[i].kind == PARAM_PATH ||
		    params[i].kind == PARAM_TEXT ||
		    params[i].kind == PARAM_DOMAINS) {
			char **field =
			    (char **)((char *)cfg + params[i].offset);

			free(*field);
			*field = NULL;
		}
	}
	for (i = 0; cfg->settings != NULL && i < N_PARAMS; i++)
		free(cfg->settings[i]);
	free(cfg->settings);
	free(cfg->log_file);
	free(cfg->path);
	free(cfg);
}

bool
smx_config_param(size_t i, const char **name, const char **def)
{
	if (i >= N_PARAMS)
		return false;
	*name = params[i].name;
	*def = params[i].def;
	return true;
}

size_t
smx_config_n_params(void)
{
	return N_PARAMS;
}

const char *
smx_config_setting(const struct smx_config *cfg, size_t i)
{
	if (i >= N_PARAMS || cfg->settings == NULL)
		return NULL;
	return cfg->settings[i];
}

static const struct {
	enum smx_role role;
	const char *name;
} role_names[] = {
	{ SMX_ROLE_SOR, "sor" },
	{ SMX_ROLE_BER, "ber" },
	{ SMX_ROLE_SOS, "sos" },
	{ SMX_ROLE_BES, "bes" },
};

const char *
smx_role_name(enum smx_role role)
{
	size_t i;

	for (i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
		if (role_names[i].role == role)
			return role_names[i].name;
	}
	return "none";
}

enum smx_status
smx_role_parse(const char *s, enum smx_role *out)
{
	size_t i;

	for (i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
		if (smx_ascii_casecmp(s, role_names[i].name) == 0) {
			*out = role_names[i].role;
			return SMX_OK;
		}
	}
	return SMX_INVALID;
}

/* Postfix names, as in encryption_protocol; the first name of a value wins. */
static const struct {
	enum smx_tls_version version;
	const char *name;
} tls_names[] = {
	{ SMX_TLS_SSL3, "SSLv3" },
	{ SMX_TLS_1_0, "TLSv1" },
	{ SMX_TLS_1_0, "TLSv1.0" },
	{ SMX_TLS_1_1, "TLSv1.1" },
	{ SMX_TLS_1_2, "TLSv1.2" },
	{ SMX_TLS_1_3, "TLSv1.3" },
};

const char *
smx_tls_version_name(enum smx_tls_version v)
{
	size_t i;

	for (i = 0; i < sizeof(tls_names) / sizeof(tls_names[0]); i++) {
		if (tls_names[i].version == v)
			return tls_names[i].name;
	}
	return "none";
}

enum smx_status
smx_tls_version_parse(const char *s, enum smx_tls_version *out)
{
	size_t i;

	for (i = 0; i < sizeof(tls_names) / sizeof(tls_names[0]); i++) {
		if (smx_ascii_casecmp(s, tls_names[i].name) == 0) {
			*out = tls_names[i].version;
			return SMX_OK;
		}
	}
	return SMX_INVALID;
}

bool
smx_config_log_open(const struct smx_config *cfg, const char *ident,
    bool allow_stderr)
{
	enum smx_log_dest dest = cfg->log_destination;

	if (dest == SMX_LOG_STDERR && !allow_stderr)
		dest = SMX_LOG_SYSLOG;
	return smx_log_open(ident, dest, cfg->log_file);
}
