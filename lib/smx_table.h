/* SPDX-License-Identifier: MIT */
#ifndef SMX_TABLE_H
#define SMX_TABLE_H

#include <stddef.h>

#include "smx_status.h"

/*
 * What a table maps, which decides how its keys and values are checked
 * when it is loaded:
 *	SMX_TABLE_RECEIVER	domain -> "sor" | "ber"	(receiver_roles)
 *	SMX_TABLE_SENDER	domain -> "sos" | "bes"	(sender_roles)
 *	SMX_TABLE_DESTINATION	domain -> "sos" | "bes"	(destination_roles)
 *	SMX_TABLE_CCERT		fingerprint -> any text	(sor_client_certs)
 *	SMX_TABLE_DOMAINS	domain -> any text	(local_domains)
 * Domain keys are host names, or ".parent" patterns, in ASCII or UTF-8
 * (stored as lower-case A-labels); fingerprint keys are hex bytes
 * separated by ':' as Postfix prints ccert_fingerprint.
 */
enum smx_table_type {
	SMX_TABLE_RECEIVER,
	SMX_TABLE_SENDER,
	SMX_TABLE_DESTINATION,
	SMX_TABLE_CCERT,
	SMX_TABLE_DOMAINS,
};

/* An immutable, loaded table. Opaque. */
struct smx_table;

/*
 * smx_table_parse - parse len bytes of Postfix text-table input (postmap(1)
 * "key whitespace value" lines, '#' comments, blank lines, a line starting
 * with white space continues the previous one). Keys are folded to lower
 * case, domains in UTF-8 converted to A-labels, and a trailing dot is
 * removed. name is used only in messages.
 * Returns SMX_OK and a new table in *out (the caller frees it with
 * smx_table_free), or SMX_INVALID with "name, line N: problem" in err (a
 * bad line, a bad key or value for the type, a duplicate key, over a
 * limit in smx_limits.h), or SMX_TEMPFAIL when memory is short. Does no
 * I/O; never exits.
 */
enum smx_status smx_table_parse(const char *name, const char *data, size_t len,
    enum smx_table_type, struct smx_table **out, char *err, size_t errlen);

/*
 * smx_table_load - read the file at path (at most SMX_TABLE_FILE_MAX
 * bytes) and parse it as smx_table_parse does. A missing or unreadable
 * file is SMX_INVALID with "path: strerror" in err.
 */
enum smx_status smx_table_load(const char *path, enum smx_table_type,
    struct smx_table **out, char *err, size_t errlen);

/*
 * smx_table_lookup_domain - the value for a domain (len bytes, any case,
 * optional trailing dot): an exact key wins; otherwise the longest
 * ".parent" key that the domain is strictly under. ".example.org" matches
 * "a.example.org" but not "example.org". Returns NULL when nothing
 * matches or the domain is not a valid host name. The value is owned by
 * the table.
 */
const char *smx_table_lookup_domain(const struct smx_table *,
    const char *domain, size_t len);

/*
 * smx_table_lookup_exact - the value for exactly this key, compared without
 * regard to ASCII case (fingerprint tables). NULL when not found.
 */
const char *smx_table_lookup_exact(const struct smx_table *, const char *key);

/* smx_table_count - number of entries. */
size_t smx_table_count(const struct smx_table *);

/*
 * smx_table_count_role - the number of entries whose value is role (ASCII
 * case-insensitive) in a role table (receiver, sender, destination);
 * 0 for any other table or word, or a NULL table. Counted when the table
 * is parsed: no cost per call.
 */
size_t smx_table_count_role(const struct smx_table *, const char *role);

/* smx_table_free - release a table; NULL is fine. */
void smx_table_free(struct smx_table *);

#endif
