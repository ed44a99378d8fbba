/* SPDX-License-Identifier: MIT */
#ifndef SMX_CONFIG_H
#define SMX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_limits.h"
#include "smx_log.h"
#include "smx_status.h"
#include "smx_table.h"
#include "smx_tls.h"

#ifndef SMX_DEFAULT_CONFIG
#define SMX_DEFAULT_CONFIG "/etc/secmx/secmx.conf"
#endif

/* SecMX roles (SecMX Level 2, section 5). */
enum smx_role {
	SMX_ROLE_NONE = 0, /* not a SecMX domain */
	SMX_ROLE_SOR,      /* Secure Only Receiver */
	SMX_ROLE_BER,      /* Best Effort Receiver */
	SMX_ROLE_SOS,      /* Secure Only Sender */
	SMX_ROLE_BES,      /* Best Effort Sender */
};

/*
 * TLS protocol versions, ordered so that they compare. Values follow the
 * names Postfix puts in encryption_protocol and accepts in its
 * *_tls_protocols parameters.
 */
enum smx_tls_version {
	SMX_TLS_NONE = 0,
	SMX_TLS_SSL3 = 30,
	SMX_TLS_1_0 = 31,
	SMX_TLS_1_1 = 32,
	SMX_TLS_1_2 = 33,
	SMX_TLS_1_3 = 34,
};

/* What an MX host must offer a Secure Only Sender (sos_mx_security). */
enum smx_mx_security {
	SMX_MX_ENCRYPT = 0, /* STARTTLS and a handshake (SecMX Level 2) */
	SMX_MX_DANE,        /* a DANE-authenticated TLS session (RFC 7672) */
};

enum smx_audit {
	SMX_AUDIT_DECISIONS = 0, /* SOR/BER domains only */
	SMX_AUDIT_ALL,           /* every RCPT request */
};

/*
 * struct smx_config - one loaded configuration with its tables. Built by
 * smx_config_load(), immutable afterwards, freed by smx_config_free().
 * A reload builds a new one and swaps pointers, so the old one stays
 * whole until the new one is known to be good.
 */
struct smx_config {
	char *path; /* the file it came from */
	/*
	 * Distinct for every configuration smx_config_parse made in this
	 * process (from 1): state kept across deliveries (secmx-lmtpd's
	 * connection cache) names the configuration it was made under.
	 */
	unsigned long long serial;
	/*
	 * Per parameter, in smx_config_param order: the text of its last
	 * setting in the file as written (after the '='), NULL when the
	 * file does not set it. See smx_config_setting.
	 */
	char **settings;

	/* Tables: NULL path means "not configured" (empty table). */
	char *receiver_roles_path;
	struct smx_table *receiver_roles;
	char *sender_roles_path;
	struct smx_table *sender_roles;
	char *destination_roles_path;
	struct smx_table *destination_roles;
	char *sor_client_certs_path;
	struct smx_table *sor_client_certs;

	enum smx_role default_sender_role;     /* SOS or BES; default BES */
	unsigned sor_reject_code;              /* 4xx or 5xx; default 530 */
	char sor_reject_dsn[8];                /* "5.7.0" or "4.7.0" by class */
	enum smx_tls_version tls_min_protocol; /* default TLSv1.2 */
	enum smx_audit audit;                  /* default decisions */
	enum smx_log_dest log_destination;     /* default syslog */
	char *log_file; /* log_destination as a path (SMX_LOG_FILE) */
	unsigned long request_timeout; /* stalled mid-request; default 10s */
	unsigned long idle_timeout;    /* between requests; default 3600s */

	/*
	 * Sender side (secmx-transport) and discovery (secmx-lookup).
	 * Strings are NULL when empty, except secmx_transport_name.
	 */
	char *dns_nameservers;          /* smx_dns_servers_parse list; NULL =
	                                 * /etc/resolv.conf */
	unsigned long dns_timeout;      /* per query and server; default 5s */
	bool dns_trust_ad;              /* believe the AD bit; default no */
	enum smx_tls_verify tls_verify; /* SRV routes; default ca */
	char *tls_ca_file;              /* PEM bundle; NULL = system store */
	char *tls_ca_path;              /* hashed directory; NULL = system */
	char *helo_name;                /* EHLO name; NULL = gethostname(2) */
	unsigned long smtp_connect_timeout; /* default 30s */
	unsigned long smtp_timeout;         /* each command; default 120s */
	unsigned long delivery_time_limit;  /* the whole run; default 900s,
	                                     * below secmx_time_limit */
	unsigned long lmtpd_delivery_time_limit; /* one message in
	                                          * secmx-lmtpd; default
	                                          * 500s */
	/* secmx-lmtpd's cache of idle SMTP connections (not pipe mode). */
	unsigned long smtp_connection_cache_time_limit; /* idle; default 2s */
	unsigned long smtp_connection_reuse_time_limit; /* since connect;
	                                                 * default 300s */
	unsigned long tls_session_cache_timeout;        /* secmx-lmtpd; 0 = off;
	                                                 * default 3600s */
	char *secmx_transport_name; /* transport_maps result; "secmx:" */
	char *local_listeners;      /* [addr:]port list; default "25" */
	bool tls_dane;              /* DANE for SRV and MX; default yes */
	enum smx_mx_security sos_mx_security; /* default encrypt */

	/*
	 * Local delivery: the domains this host receives mail for (keys of
	 * receiver_roles, plus local_domains: inline domains and tables).
	 * local_domain_tables[0] holds the inline domains, the rest one table
	 * each; n_local_domain_tables counts the loaded ones.
	 */
	char *local_domains;
	struct smx_table *local_domain_tables[SMX_LOCAL_TABLES_MAX + 1];
	size_t n_local_domain_tables;

	/* Receiver side: recipients without a DNS domain. */
	char *unqualified_recipient_domain; /* default: this host's name */
	enum smx_role address_literal_role; /* SOR (default) or BER */
};

/*
 * smx_config_parse - parse len bytes of secmx.conf text (Postfix main.cf
 * syntax) into a new config with defaults for what is not set. Loads no
 * tables (see smx_config_load_tables). name is used in messages. The new
 * config gets the next serial. Returns
 * SMX_OK with *out (free with smx_config_free), SMX_INVALID with
 * "name, line N: problem" in err, or SMX_TEMPFAIL when memory is short.
 * Does no I/O; never exits.
 */
enum smx_status smx_config_parse(const char *name, const char *data, size_t len,
    struct smx_config **out, char *err, size_t errlen);

/*
 * smx_config_load_tables - load every table whose path is set. On error
 * returns the table loader's status with its message in err and leaves
 * the config's tables as they were (none loaded).
 */
enum smx_status smx_config_load_tables(struct smx_config *, char *err,
    size_t errlen);

/*
 * smx_config_load - read path (SMX_DEFAULT_CONFIG when NULL), parse it and
 * load its tables. A missing file is SMX_INVALID with "path: strerror".
 */
enum smx_status smx_config_load(const char *path, struct smx_config **out,
    char *err, size_t errlen);

/*
 * smx_config_param - the i-th parameter of secmx.conf, counting from 0 in
 * the order of the parameter table (the one programs and tests list them
 * in, like postconf -d). Returns true with its name and its default as
 * it would be written in the file ("" for an empty default), both static
 * strings; false when i is past the last parameter. Never fails.
 */
bool smx_config_param(size_t i, const char **name, const char **def);

/* smx_config_n_params - how many parameters smx_config_param knows. */
size_t smx_config_n_params(void);

/*
 * smx_config_setting - the value the file of cfg gave the i-th parameter
 * (smx_config_param order), as written after '=' (white space around it
 * dropped, continuation lines joined; "" for an empty setting), from its
 * last setting; NULL when the file does not set it or i is past the
 * last parameter. The string belongs to cfg. For listings like
 * postconf -n.
 */
const char *smx_config_setting(const struct smx_config *, size_t i);

/* smx_config_free - release a config and its tables; NULL is fine. */
void smx_config_free(struct smx_config *);

/*
 * smx_config_log_open - log as ident to log_destination: syslog, a file
 * (reopened by every call, for log rotation on SIGHUP), or stderr when
 * allow_stderr (a foreground run; otherwise syslog). Returns what
 * smx_log_open returns.
 */
bool smx_config_log_open(const struct smx_config *, const char *ident,
    bool allow_stderr);

/*
 * Names and parsers of the enums above, shared by config, tables, the
 * policy engine and secmx-lookup. The parsers are ASCII case-insensitive
 * and return SMX_INVALID for an unknown name. smx_tls_version_parse
 * accepts "SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3".
 */
const char *smx_role_name(enum smx_role);
enum smx_status smx_role_parse(const char *, enum smx_role *);
const char *smx_tls_version_name(enum smx_tls_version);
enum smx_status smx_tls_version_parse(const char *, enum smx_tls_version *);

#endif
