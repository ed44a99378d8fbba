/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_table - Postfix text tables of SecMX roles and client certificates
 * DESCRIPTION
 *	Reads the postmap(1) input form: "key whitespace value" lines, '#'
 *	comment lines and blank lines ignored, a line that starts with
 *	white space continues the previous logical line (the line break is
 *	dropped, the leading white space kept). Trailing white space is not
 *	part of the value. A CR directly before LF is part of the line end,
 *	so files written with CRLF line ends load as if they had LF.
 *
 *	Keys are checked for the table type (host names or ".parent"
 *	patterns, or certificate fingerprints), folded to lower case, and a
 *	trailing dot is removed. Domain keys may be written in UTF-8: they
 *	are stored as A-labels (smx_idn), the form in which recipients and
 *	lookup keys are compared, so "s\xc3\xb6r.example" and
 *	"xn--sr-fka.example" are the same key (and a duplicate if both are
 *	listed). Role values are checked and stored in lower
 *	case. The entries are then sorted, so that a lookup is a few binary
 *	searches without allocation: the policy daemon looks up a domain
 *	for every RCPT command.
 * LIMITS
 *	SMX_TABLE_FILE_MAX bytes per file, SMX_TABLE_LINE_MAX bytes per
 *	logical line, SMX_TABLE_VALUE_MAX bytes per value,
 *	SMX_TABLE_ENTRIES_MAX entries, fingerprints of
 *	SMX_FINGERPRINT_BYTES_MIN to SMX_FINGERPRINT_BYTES_MAX bytes, domain
 *	keys of SMX_DOMAIN_MAX bytes as A-labels (SMX_IDN_INPUT_MAX before).
 *	The pool of keys and values starts at the size of the input and
 *	grows only for keys whose A-labels are longer than their UTF-8.
 *	"..." quoting of keys (Postfix 3.2) is not supported: no valid key
 *	contains white space.
 * DIAGNOSTICS
 *	Returns SMX_INVALID with "name, line N: problem" for the first bad
 *	line (duplicate keys are found after all lines are read), "path:
 *	strerror" for a file that cannot be read, SMX_TEMPFAIL when memory
 *	is short or the file changes while it is read. Logs nothing: the
 *	caller decides how to report.
 * SECURITY
 *	The file is trusted no more than other input: NUL bytes, bare CR and
 *	other control characters are refused, everything is bounded.
 * SEE ALSO
 *	postmap(1), "INPUT FILE FORMAT"; RFC 1035 section 2.3.4.
 */
#include "smx_table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smx_buf.h"
#include "smx_idn.h"
#include "smx_limits.h"
#include "smx_lines.h"
#include "smx_log.h"
#include "smx_util.h"

/*
 * A string in the pool: its offset while the pool may still grow (keys
 * converted to A-labels can be longer than the text they come from), a
 * pointer once every line is read.
 */
union pool_ref {
	size_t off;
	const char *s;
};

struct table_entry {
	union pool_ref key; /* lower case */
	union pool_ref value;
	size_t line; /* where it was defined, for messages */
};

struct smx_table {
	enum smx_table_type type;
	struct table_entry *entries; /* sorted by key */
	size_t n_entries;
	char *pool;        /* every key and value, each NUL-terminated */
	size_t n_roles[2]; /* role tables: entries of each role_values() */
};

static bool
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static bool
is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* "AB:CD:..." of SMX_FINGERPRINT_BYTES_MIN..MAX bytes, any case. */
static bool
is_fingerprint(const char *s, size_t len)
{
	size_t n_bytes;
	size_t i;

	if ((len + 1) % 3 != 0)
		return false;
	n_bytes = (len + 1) / 3;
	if (n_bytes < SMX_FINGERPRINT_BYTES_MIN ||
	    n_bytes > SMX_FINGERPRINT_BYTES_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !is_hex((unsigned char)s[i]))
			return false;
	}
	return true;
}

/*
 * check_key - validate the key (len bytes) for the table type. A domain
 * key, or the domain of a ".parent" key, is converted to lower-case
 * A-labels without a trailing dot (smx_idn), so that keys may be written
 * in UTF-8; the result goes to buf (at least SMX_DOMAIN_MAX + 2 bytes)
 * and *key and *len are updated to it. Returns the problem, or NULL when
 * the key is good; *st tells a bad key (SMX_INVALID) from memory trouble.
 */
static const char *
check_key(enum smx_table_type type, const char **key, size_t *len, char *buf,
    size_t size, enum smx_status *st)
{
	size_t skip = (*key)[0] == '.' ? 1 : 0;

	*st = SMX_INVALID;
	if (type == SMX_TABLE_CCERT)
		return is_fingerprint(*key, *len) ? NULL : "bad fingerprint";
	buf[0] = '.';
	*st =
	    smx_idn_to_ascii(*key + skip, *len - skip, buf + skip, size - skip);
	if (*st == SMX_TEMPFAIL)
		return "out of memory";
	if (*st != SMX_OK)
		return "bad domain name";
	*key = buf;
	*len = strlen(buf);
	return NULL;
}

/* The role names a table type accepts, in the order of the messages. */
static bool
role_values(enum smx_table_type type, const char **a, const char **b)
{
	switch (type) {
	case SMX_TABLE_RECEIVER:
		*a = "sor";
		*b = "ber";
		return true;
	case SMX_TABLE_SENDER:
	case SMX_TABLE_DESTINATION:
		*a = "sos";
		*b = "bes";
		return true;
	case SMX_TABLE_CCERT:
	case SMX_TABLE_DOMAINS:
		break;
	}
	return false;
}

struct table_parser {
	const char *name;
	enum smx_table_type type;
	struct table_entry *entries;
	size_t n_entries;
	size_t n_alloc;
	char *pool;
	size_t pool_len;
	size_t pool_size;
	size_t n_roles[2];
	char *err;
	size_t errlen;
};

/*
 * pool_reserve - room for need more bytes in the pool, which starts at
 * the size of the input (enough unless keys grow into A-labels) and
 * doubles when it must. False when memory is short.
 */
static bool
pool_reserve(struct table_parser *p, size_t need)
{
	size_t size = p->pool_size;
	char *pool;

	if (need <= size - p->pool_len)
		return true;
	if (need > SIZE_MAX / 2 - p->pool_len)
		return false;
	while (need > size - p->pool_len)
		size = size < SIZE_MAX / 2 ? size * 2 : SIZE_MAX;
	if ((pool = realloc(p->pool, size)) == NULL)
		return false;
	p->pool = pool;
	p->pool_size = size;
	return true;
}

static enum smx_status
add_entry(struct table_parser *p, size_t line, const char *key, size_t klen,
    const char *value, size_t vlen)
{
	struct table_entry *e;
	char *k;
	char *v;

	if (p->n_entries >= SMX_TABLE_ENTRIES_MAX) {
		smx_line_error(p->err, p->errlen, p->name, line,
		    "more than %d entries", SMX_TABLE_ENTRIES_MAX);
		return SMX_INVALID;
	}
	if (p->n_entries == p->n_alloc) {
		size_t n = p->n_alloc ? p->n_alloc * 2 : 64;

		if (n > SMX_TABLE_ENTRIES_MAX)
			n = SMX_TABLE_ENTRIES_MAX;
		e = realloc(p->entries, n * sizeof(*e));
		if (e == NULL)
			goto nomem;
		p->entries = e;
		p->n_alloc = n;
	}
	/* Both lengths are bounded by a line or a domain name. */
	if (!pool_reserve(p, klen + vlen + 2))
		goto nomem;
	k = p->pool + p->pool_len;
	memcpy(k, key, klen);
	k[klen] = '\0';
	smx_ascii_lower(k, klen);
	v = k + klen + 1;
	memcpy(v, value, vlen);
	v[vlen] = '\0';
	if (p->type != SMX_TABLE_CCERT)
		smx_ascii_lower(v, vlen);
	e = &p->entries[p->n_entries++];
	e->key.off = p->pool_len;
	e->value.off = p->pool_len + klen + 1;
	e->line = line;
	p->pool_len += klen + vlen + 2;
	return SMX_OK;

nomem:
	smx_line_error(p->err, p->errlen, p->name, line, "out of memory");
	return SMX_TEMPFAIL;
}

/* Split one logical line into key and value, check and store them. */
static enum smx_status
parse_entry(struct table_parser *p, size_t line, char *text, size_t len)
{
	char buf[SMX_DOMAIN_MAX + 2];
	const char *key = text;
	const char *role_a;
	const char *role_b;
	const char *problem;
	enum smx_status st;
	size_t klen;
	size_t vlen;
	char *value;

	for (klen = 0; klen < len && !is_blank(text[klen]); klen++)
		continue;
	value = text + klen;
	while (value < text + len && is_blank(*value))
		value++;
	vlen = (size_t)(text + len - value);
	if (vlen == 0) {
		smx_line_error(p->err, p->errlen, p->name, line,
		    "missing value");
		return SMX_INVALID;
	}
	if ((problem = check_key(p->type, &key, &klen, buf, sizeof(buf),
	         &st)) != NULL) {
		smx_line_error(p->err, p->errlen, p->name, line, "%s \"%.*s\"",
		    problem,
		    (int)(klen < SMX_LOG_VALUE_MAX ? klen : SMX_LOG_VALUE_MAX),
		    text);
		return st;
	}
	if (vlen > SMX_TABLE_VALUE_MAX) {
		smx_line_error(p->err, p->errlen, p->name, line,
		    "value too long (over %d bytes)", SMX_TABLE_VALUE_MAX);
		return SMX_INVALID;
	}
	if (role_values(p->type, &role_a, &role_b) &&
	    !((vlen == 3 && smx_ascii_ncasecmp(value, role_a, 3) == 0) ||
	        (vlen == 3 && smx_ascii_ncasecmp(value, role_b, 3) == 0))) {
		smx_line_error(p->err, p->errlen, p->name, line,
		    "bad value \"%.*s\" (expected %s or %s)",
		    (int)(vlen < SMX_LOG_VALUE_MAX ? vlen : SMX_LOG_VALUE_MAX),
		    value, role_a, role_b);
		return SMX_INVALID;
	}
	if (role_values(p->type, &role_a, &role_b))
		p->n_roles[smx_ascii_ncasecmp(value, role_a, 3) == 0 ? 0 : 1]++;
	return add_entry(p, line, key, klen, value, vlen);
}

static int
entry_order(const void *a, const void *b)
{
	const struct table_entry *x = a;
	const struct table_entry *y = b;
	int c = strcmp(x->key.s, y->key.s);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* After sorting: the earliest line that repeats a key, or 0. */
static size_t
first_duplicate(const struct table_parser *p, const char **key)
{
	size_t best = 0;
	size_t i;

	for (i = 1; i < p->n_entries; i++) {
		const struct table_entry *e = &p->entries[i];

		if (strcmp(e->key.s, p->entries[i - 1].key.s) == 0 &&
		    (best == 0 || e->line < best)) {
			best = e->line;
			*key = e->key.s;
		}
	}
	return best;
}

enum smx_status
smx_table_parse(const char *name, const char *data, size_t len,
    enum smx_table_type type, struct smx_table **out, char *err, size_t errlen)
{
	struct table_parser p = { .name = name,
		.type = type,
		.err = err,
		.errlen = errlen };
	struct smx_lines r;
	struct smx_table *t = NULL;
	enum smx_status st;
	const char *dup = NULL;
	size_t line;
	size_t i;

	if (len > SMX_TABLE_FILE_MAX) {
		if (errlen > 0)
			snprintf(err, errlen,
			    "%s: file too large (over %d bytes)", name,
			    SMX_TABLE_FILE_MAX);
		return SMX_INVALID;
	}
	smx_lines_init(&r, data, len, SMX_TABLE_LINE_MAX, "entry");
	/* Every key and value is a part of a line, plus its terminator,
	 * unless a key is converted to longer A-labels (pool_reserve). */
	p.pool_size = len + 2;
	if ((p.pool = malloc(p.pool_size)) == NULL) {
		st = SMX_TEMPFAIL;
		if (errlen > 0)
			snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	while ((st = smx_lines_next(&r)) == SMX_OK) {
		st = parse_entry(&p, r.line, r.text, r.text_len);
		if (st != SMX_OK)
			goto out;
	}
	if (st != SMX_NOTFOUND) {
		smx_line_error(err, errlen, name, r.bad_line, "%s", r.problem);
		goto out;
	}
	/* The pool is final: offsets become pointers. */
	for (i = 0; i < p.n_entries; i++) {
		p.entries[i].key.s = p.pool + p.entries[i].key.off;
		p.entries[i].value.s = p.pool + p.entries[i].value.off;
	}
	if (p.n_entries > 0)
		qsort(p.entries, p.n_entries, sizeof(p.entries[0]),
		    entry_order);
	if ((line = first_duplicate(&p, &dup)) != 0) {
		smx_line_error(err, errlen, name, line, "duplicate key \"%s\"",
		    dup);
		st = SMX_INVALID;
		goto out;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		st = SMX_TEMPFAIL;
		if (errlen > 0)
			snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	t->type = type;
	t->entries = p.entries;
	t->n_entries = p.n_entries;
	t->pool = p.pool;
	t->n_roles[0] = p.n_roles[0];
	t->n_roles[1] = p.n_roles[1];
	p.entries = NULL;
	p.pool = NULL;
	*out = t;
	st = SMX_OK;

out:
	smx_lines_free(&r);
	free(p.entries);
	free(p.pool);
	return st;
}

enum smx_status
smx_table_load(const char *path, enum smx_table_type type,
    struct smx_table **out, char *err, size_t errlen)
{
	enum smx_status st;
	char *data = NULL;
	size_t len = 0;
	char dummy[1];

	if (errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	st = smx_read_file(path, SMX_TABLE_FILE_MAX, &data, &len, err, errlen);
	if (st != SMX_OK)
		return st;
	st = smx_table_parse(path, data, len, type, out, err, errlen);
	free(data);
	return st;
}

/*
 * Compare a lower-case key with qlen bytes of q in any case, in the order
 * entry_order sorts by.
 */
static int
key_cmp(const char *key, const char *q, size_t qlen)
{
	size_t i;

	for (i = 0; i < qlen; i++) {
		int a = (unsigned char)key[i];
		int b = (unsigned char)q[i];

		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		if (a != b)
			return a - b;
	}
	return key[qlen] != '\0';
}

static const struct table_entry *
find(const struct smx_table *t, const char *q, size_t qlen)
{
	size_t lo = 0;
	size_t hi = t->n_entries;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(t->entries[mid].key.s, q, qlen);

		if (c == 0)
			return &t->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *
smx_table_lookup_domain(const struct smx_table *t, const char *domain,
    size_t len)
{
	const struct table_entry *e;
	size_t i;

	if (t == NULL || domain == NULL || !smx_is_hostname(domain, len))
		return NULL;
	if (domain[len - 1] == '.')
		len--;
	if ((e = find(t, domain, len)) != NULL)
		return e->value.s;
	/* The leftmost dot gives the longest parent, so it is tried first. */
	for (i = 0; i < len; i++) {
		if (domain[i] == '.' &&
		    (e = find(t, domain + i, len - i)) != NULL)
			return e->value.s;
	}
	return NULL;
}

const char *
smx_table_lookup_exact(const struct smx_table *t, const char *key)
{
	const struct table_entry *e;
	size_t len;

	if (t == NULL || key == NULL)
		return NULL;
	/* No key is longer than a line; do not scan hostile text further. */
	len = strnlen(key, SMX_TABLE_LINE_MAX + 1);
	if (len == 0 || len > SMX_TABLE_LINE_MAX)
		return NULL;
	e = find(t, key, len);
	return e != NULL ? e->value.s : NULL;
}

size_t
smx_table_count(const struct smx_table *t)
{
	return t != NULL ? t->n_entries : 0;
}

size_t
smx_table_count_role(const struct smx_table *t, const char *role)
{
	const char *role_a;
	const char *role_b;

	if (t == NULL || !role_values(t->type, &role_a, &role_b))
		return 0;
	if (smx_ascii_casecmp(role, role_a) == 0)
		return t->n_roles[0];
	if (smx_ascii_casecmp(role, role_b) == 0)
		return t->n_roles[1];
	return 0;
}

void
smx_table_free(struct smx_table *t)
{
	if (t == NULL)
		return;
	free(t->entries);
	free(t->pool);
	free(t);
}
