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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smx_buf.h"
#include "smx_limits.h"
#include "smx_util.h"

#define STR2(x) #x
#define STR(x) STR2(x)

/* Keyword fields are enums stored through a generic int (store_int). */
_Static_assert(sizeof(enum smx_role) == sizeof(int), "enum size");
_Static_assert(sizeof(enum smx_tls_version) == sizeof(int), "enum size");
_Static_assert(sizeof(enum smx_audit) == sizeof(int), "enum size");
_Static_assert(sizeof(enum smx_log_dest) == sizeof(int), "enum size");

enum param_kind {
	PARAM_PATH,       /* char *: absolute path, empty = NULL */
	PARAM_KEYWORD,    /* enum: one of keywords[], ASCII case-insensitive */
	PARAM_REPLY_CODE, /* unsigned: [min, max]; also sets sor_reject_dsn */
	PARAM_TIME,       /* unsigned long: smx_parse_time within [min, max] */
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

static const struct keyword log_words[] = {
	{ "syslog", SMX_LOG_SYSLOG },
	{ "stderr", SMX_LOG_STDERR },
	{ NULL, 0 },
};

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
	    .kind = PARAM_KEYWORD,
	    .def = "syslog",
	    .offset = FIELD(log_destination),
	    .keywords = log_words,
	    .expect = "expected syslog or stderr" },
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
};

#define N_PARAMS (sizeof(params) / sizeof(params[0]))

/*
 * The logical-line reader, as in smx_table.c: physical lines in, logical
 * lines out, every byte of every line checked.
 */
struct line_reader {
	const char *data;
	size_t len;
	size_t pos;         /* start of the next physical line */
	size_t n_line;      /* number of the next physical line */
	struct smx_buf buf; /* the logical line being built */
	size_t start_line;  /* where buf's logical line started */
	size_t bad_line;    /* where a problem was found */
	const char *problem;
};

static bool
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* Find the end of the physical line at pos; check its bytes. */
static bool
physical_line(struct line_reader *r, size_t *end, size_t *next)
{
	size_t i;

	for (i = r->pos; i < r->len; i++) {
		unsigned char c = (unsigned char)r->data[i];

		if (c == '\n')
			break;
		if (c == '\0') {
			r->problem = "NUL character";
			return false;
		}
		if (c == '\r') {
			if (i + 1 < r->len && r->data[i + 1] == '\n')
				continue;
			r->problem = "bare CR character";
			return false;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			r->problem = "control character";
			return false;
		}
	}
	*next = i < r->len ? i + 1 : i;
	if (i > r->pos && r->data[i - 1] == '\r')
		i--;
	*end = i;
	return true;
}

/*
 * next_line - the next logical line in r->buf (trailing white space
 * removed), starting at r->start_line. SMX_OK, SMX_NOTFOUND at the end,
 * SMX_INVALID with r->problem and r->bad_line, SMX_TEMPFAIL.
 */
static enum smx_status
next_line(struct line_reader *r)
{
	bool have = false;
	enum smx_status st;

	smx_buf_reset(&r->buf);
	while (r->pos < r->len) {
		const char *s = r->data + r->pos;
		size_t end;
		size_t next;
		size_t i;

		if (have && !is_blank(*s) && *s != '#' && *s != '\n' &&
		    *s != '\r')
			break;
		r->bad_line = r->n_line;
		if (!physical_line(r, &end, &next))
			return SMX_INVALID;
		for (i = r->pos; i < end && is_blank(r->data[i]); i++)
			continue;
		if (i == end || r->data[i] == '#') {
			/* Blank and comment lines never end a logical line. */
		} else if (is_blank(*s) && !have) {
			r->problem = "continuation line before any parameter";
			return SMX_INVALID;
		} else {
			if (!have)
				r->start_line = r->n_line;
			have = true;
			st = smx_buf_append(&r->buf, s, end - r->pos);
			if (st != SMX_OK) {
				r->bad_line = r->start_line;
				r->problem = st == SMX_INVALID
				    ? "line too long (over " STR(
				          SMX_CONF_LINE_MAX) " bytes)"
				    : "out of memory";
				return st;
			}
		}
		r->pos = next;
		r->n_line++;
	}
	if (!have)
		return SMX_NOTFOUND;
	while (r->buf.len > 0 && is_blank(r->buf.data[r->buf.len - 1]))
		r->buf.len--;
	r->buf.data[r->buf.len] = '\0';
	return SMX_OK;
}

static void line_error(char *err, size_t errlen, const char *name, size_t line,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
line_error(char *err, size_t errlen, const char *name, size_t line,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errlen == 0)
		return;
	n = snprintf(err, errlen, "%s, line %zu: ", name, line);
	if (n < 0 || (size_t)n >= errlen)
		return; /* a truncated message is still a message */
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void
store_int(struct smx_config *cfg, size_t offset, int v)
{
	memcpy((char *)cfg + offset, &v, sizeof(v));
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
		line_error(err, errlen, name, line, "missing '=' in \"%.*s\"",
		    value_width(len), text);
		return SMX_INVALID;
	}
	for (nlen = (size_t)(eq - text); nlen > 0 && is_blank(text[nlen - 1]);)
		nlen--;
	if (!is_param_name(text, nlen)) {
		line_error(err, errlen, name, line,
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
		line_error(err, errlen, name, line,
		    "unknown parameter \"%.*s\"", value_width(nlen), text);
		return SMX_INVALID;
	}
	for (value = eq + 1; is_blank(*value); value++)
		continue;
	st = set_param(cfg, p, value);
	if (st == SMX_INVALID)
		line_error(err, errlen, name, line,
		    "bad %s value \"%.*s\" (%s)", p->name,
		    value_width(strlen(value)), value, p->expect);
	else if (st != SMX_OK)
		line_error(err, errlen, name, line, "out of memory");
	return st;
}

/* A new config with every default; NULL when memory is short. */
static struct smx_config *
config_defaults(const char *name)
{
	struct smx_config *cfg;
	size_t i;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return NULL;
	if ((cfg->path = strdup(name)) == NULL) {
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

enum smx_status
smx_config_parse(const char *name, const char *data, size_t len,
    struct smx_config **out, char *err, size_t errlen)
{
	struct line_reader r = { .data = data, .len = len, .n_line = 1 };
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
	smx_buf_init(&r.buf, SMX_CONF_LINE_MAX);
	while ((st = next_line(&r)) == SMX_OK) {
		st = parse_setting(cfg, name, r.start_line, r.buf.data,
		    r.buf.len, err, errlen);
		if (st != SMX_OK)
			goto out;
	}
	if (st != SMX_NOTFOUND) {
		line_error(err, errlen, name, r.bad_line, "%s", r.problem);
		goto out;
	}
	*out = cfg;
	cfg = NULL;
	st = SMX_OK;

out:
	smx_buf_free(&r.buf);
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

enum smx_status
smx_config_load_tables(struct smx_config *cfg, char *err, size_t errlen)
{
	struct smx_table *loaded[N_TABLES] = { NULL };
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

/* As smx_table.c's reader: the whole regular file, at most max bytes. */
static enum smx_status
read_file(const char *path, size_t max, char **data, size_t *len, char *err,
    size_t errlen)
{
	enum smx_status st = SMX_INVALID;
	struct stat sb;
	char *buf = NULL;
	size_t size;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return SMX_INVALID;
	}
	if (fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (sb.st_size < 0 || (unsigned long long)sb.st_size > max) {
		snprintf(err, errlen, "%s: file too large (over %zu bytes)",
		    path, max);
		goto out;
	}
	size = (size_t)sb.st_size;
	/* One byte more than expected, to notice a file that grows. */
	if ((buf = malloc(size + 2)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		st = SMX_TEMPFAIL;
		goto out;
	}
	while (got <= size) {
		ssize_t n = read(fd, buf + got, size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != size) {
		snprintf(err, errlen, "%s: file changed while it was read",
		    path);
		st = SMX_TEMPFAIL;
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
	st = SMX_OK;

out:
	free(buf);
	if (fd >= 0)
		(void)close(fd); /* already failing; the first error is kept */
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
	st = read_file(path, SMX_CONF_FILE_MAX, &data, &len, err, errlen);
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
		char **path = (char **)((char *)cfg + config_tables[i].path);
		struct smx_table **t =
		    (struct smx_table **)((char *)cfg + config_tables[i].table);

		smx_table_free(*t);
		free(*path);
	}
	free(cfg->path);
	free(cfg);
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
