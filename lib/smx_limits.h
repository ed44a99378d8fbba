/* SPDX-License-Identifier: MIT */
#ifndef SMX_LIMITS_H
#define SMX_LIMITS_H

/*
 * Every hard limit of secmx, in one place. Each names its source. A limit
 * that is reached gives SMX_INVALID plus a log line, never a silent
 * truncation, unless the comment says otherwise.
 */

/*
 * Policy delegation protocol (Postfix SMTPD_POLICY_README). Postfix itself
 * bounds SMTP command lines at line_length_limit (2048), so real requests
 * are far below these; they exist against hostile or broken clients.
 */
#define POLICY_REQUEST_MAX 65536 /* bytes in one request, with newlines */
#define POLICY_LINE_MAX 8192     /* bytes in one name=value line */
#define POLICY_ATTRS_MAX 256     /* attribute lines in one request */
#define POLICY_REPLY_MAX 1024    /* one "action=..." reply with newlines */

/* RFC 1035 section 2.3.4: 255 octets on the wire, 253 in text form. */
#define SMX_DOMAIN_MAX 253
/* RFC 1035 section 2.3.4: a label is at most 63 octets. */
#define SMX_LABEL_MAX 63
/*
 * Longest address we examine. Postfix line_length_limit (default 2048)
 * bounds what smtpd can pass us in a policy request.
 */
#define SMX_ADDR_MAX 2048
/*
 * Domains one address can route through: the domain after the last '@'
 * plus '%' and '!' hops in the local part (RFC 1123 section 5.2.16, the
 * percent hack; UUCP bang paths). Real addresses have one or two.
 */
#define SMX_ADDR_DOMAINS_MAX 16

/* Logging: one line, and one untrusted value within it (STYLE.md). */
#define SMX_LOG_LINE_MAX 2048
#define SMX_LOG_VALUE_MAX 256

/* Configuration file (Postfix main.cf syntax). */
#define SMX_CONF_FILE_MAX (1024 * 1024) /* bytes in secmx.conf */
#define SMX_CONF_LINE_MAX 8192          /* one logical line, joined */
#define SMX_CONF_PATH_MAX 4096          /* PATH_MAX on Linux */

/* Lookup tables (Postfix text-table form, postmap(1) input). */
#define SMX_TABLE_FILE_MAX (64 * 1024 * 1024) /* bytes in one table file */
#define SMX_TABLE_ENTRIES_MAX 1000000         /* entries in one table */
#define SMX_TABLE_LINE_MAX 8192               /* one logical line, joined */
#define SMX_TABLE_VALUE_MAX 1024              /* one value */

/* Time values in the config: one week, like Postfix's sanity bounds. */
#define SMX_TIME_MAX (7 * 24 * 3600)

#endif
