/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	secmx-soak-policy - churning policy clients and table reloads for
 *	the soak run of secmx-policyd
 * SYNOPSIS
 *	secmx-soak-policy --prepare -D DIR -L LOGFILE [--seed N]
 *	secmx-soak-policy -s ENDPOINT -p PID -D DIR -L LOGFILE [-c CONNS]
 *	    [-d SECONDS] [-r RATE] [-R RELOAD] [-B BROKEN] [--seed N]
 *	    [--stats FILE]
 * DESCRIPTION
 *	Keeps CONNS connections (default 1000) to a secmx-policyd daemon
 *	at ENDPOINT (unix:PATH or inet:HOST:PORT on loopback) that open and
 *	close all the time: each connection sends 1 to 20 requests, one at
 *	a time, with a random pause before each (uniform, on average
 *	CONNS/RATE seconds, so about RATE requests a second in all), some
 *	of them written in two or three pieces, and then ends in one of
 *	four ways: it closes after the last answer; or its last request is
 *	malformed, and the daemon must close the connection without an
 *	answer; or it closes in the middle of a request; or it closes right
 *	after sending one, without reading the answer. A new connection
 *	replaces it at once.
 *
 *	The requests carry Postfix's attributes with a recipient of one of
 *	many forms: plain domains (some in upper case, some with a trailing
 *	dot), subdomains found by a ".parent" key and subdomains that are
 *	not, UTF-8 domains (SMTPUTF8) whose keys the tables hold in UTF-8 or
 *	as A-labels, IPv4 and IPv6 address literals, bare local parts,
 *	quoted local parts with and without a domain, '%' and '!' routing
 *	with and without '@', angle brackets, source routes naming listed
 *	domains (to be ignored), malformed addresses (the syntax fallback),
 *	domains that are not valid UTF-8, an empty recipient, other protocol
 *	states, repeated recipient attributes (the last one counts) and
 *	unknown attributes; in sessions that are plaintext, TLSv1.3,
 *	TLSv1.2, TLSv1, TLSv1.1, SSLv3, an unknown protocol, a protocol with
 *	key size 0, or no key size at all.
 *
 *	The configuration is this program's: it writes DIR/secmx.conf and
 *	DIR/receiver_roles for generation 0 (--prepare, before the daemon
 *	starts) and, every RELOAD seconds (default 10), a changed
 *	generation followed by SIGHUP to PID: every role in the table, the
 *	reply code (530 or 450), tls_min_protocol (TLSv1.2 or TLSv1.3),
 *	address_literal_role and unqualified_recipient_domain change, and
 *	the table is written in other spellings (keys in upper case, with a
 *	trailing dot, UTF-8 or A-labels). Every BROKEN seconds (default 60,
 *	a multiple of RELOAD; the first one half that far into the run)
 *	the change is a broken one instead (in turn: a comment after a
 *	value, a key without value, a bad reply code, a table that does not
 *	exist, a table the daemon cannot read, an unknown parameter), whose
 *	good parts differ from the running generation everywhere: the
 *	daemon must refuse it and keep the running one.
 *
 *	Each answer is checked exactly, against an oracle written here
 *	(not smx_decide): the recipient's effective domains in their order,
 *	their roles under a generation, the first SOR domain named, and the
 *	reply text of the TLS check that fails. Which generation is in
 *	force is known by events, not by time: after each SIGHUP the
 *	program watches /proc/PID/status until the signal is no longer
 *	pending; the daemon reloads as soon as it has taken the signal, in
 *	its only thread, so a request written after that is answered under
 *	the new generation (or the old one, for a broken change). A request
 *	is judged against every generation that can have been in force
 *	between its write and its answer: the one confirmed before the
 *	write, and every one signalled until the answer came. Outside the
 *	few milliseconds around a reload that is exactly one generation.
 *
 *	The daemon logs to LOGFILE (log_destination). Before each SIGHUP
 *	the file is renamed to LOGFILE.K (log rotation); after the reload
 *	the daemon must log into a new LOGFILE, and LOGFILE.K, complete
 *	then, is read and removed: it must hold the line of the reload
 *	before it ("configuration reloaded" or "reload failed", the one
 *	expected), and its audit lines and malformed-request warnings are
 *	counted. At the end one more change closes the last segment: the
 *	audit lines must lie between the requests certainly audited and
 *	those possibly audited (answers not read, answers in a reload
 *	window), and there must be one warning per malformed request.
 * OUTPUT
 *	With --stats, one line every 10 s: "t=SECONDS requests=N
 *	answered=N rejects=N wrong=N ambiguous=N malformed=N aborted=N hangups=N
 *	opened=N changes=N broken=N generation=G errors=N". At the end one
 *	line on stdout, "SOAKPOLICY" followed by key=value totals (those
 *	and audit_lines, audit_min, audit_max, warnings, reloads_ok,
 *	reloads_failed, barrier_max_ms), and the first wrong answers and
 *	other errors on stderr.
 * EXIT STATUS
 *	0 when every check passed; 1 when one failed (a wrong answer, an
 *	answer to a malformed request, a connection the daemon closed or
 *	refused, an answer not given within 30 s, a reload not taken up
 *	within 30 s, a log line missing or in the wrong place, the daemon
 *	gone); 2 for usage or set-up errors.
 * LIMITS
 *	CONNS <= 20000; answers up to ANSWER_MAX bytes.
 * SECURITY
 *	Test tool, never installed; loopback only. Runs as root next to a
 *	daemon running as its -u user: the files it writes are readable by
 *	everyone, except the one that must not be.
 * SEE ALSO
 *	scripts/soak, tests/soak/soak.sh, bench/policy_load.c, smx_decision.c
 *	and smx_addr.c (what the oracle restates).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "smx_io.h"
#include "smx_listen.h"
#include "smx_util.h"

#include "bench_net.h"

#define CONNS_MAX 20000
#define ANSWER_MAX 1024
#define ADDR_MAX 512
#define ENTRIES_MAX 8
#define NAME_MAX_SOAK 300
#define DOMAIN_TEXT_MAX 100 /* a domain of a generated recipient */
#define EVENTS_MAX 256
#define ANSWER_WAIT_MS 30000 /* an answer later than this: a hang */
#define BARRIER_WAIT_MS 30000
#define CONNECT_RETRY_MS 10
#define SHOW_MAX 10

/* The keys of the tables: 16 plain domains, 4 parents, 4 UTF-8 names. */
#define N_PLAIN 16
#define N_PARENT 4
#define N_UTF8 4
#define N_KEYS (N_PLAIN + N_PARENT + N_UTF8)
#define KEY_PARENT0 N_PLAIN
#define KEY_UTF80 (N_PLAIN + N_PARENT)

/* "sör" in UTF-8, and its A-label. */
#define SOR_UTF8 "s\xc3\xb6r.example"
#define SOR_ALABEL "xn--sr-fka.example"

enum role {
	ROLE_NONE = 0,
	ROLE_SOR,
	ROLE_BER,
};

enum entry_kind {
	E_DOMAIN,  /* key: index into the keys, or -1 */
	E_LITERAL, /* address_literal_role */
	E_UNQ,     /* unqualified_recipient_domain */
	E_BADIDN,  /* SOR while the table has any SOR key */
};

struct entry {
	enum entry_kind kind;
	int key;
	char name[NAME_MAX_SOAK];
};

/* TLS facts of a request. */
enum tls_kind {
	T_PLAIN,
	T_13,
	T_12,
	T_10,
	T_11,
	T_SSL3,
	T_UNKNOWN,
	T_13_KEY0,  /* TLSv1.3 with keysize 0: plaintext */
	T_13_NOKEY, /* TLSv1.3 without a key size: TLS */
	T_COUNT,
};

static const struct {
	const char *protocol;
	const char *cipher;
	const char *keysize; /* NULL: no encryption_keysize attribute */
	int version;         /* 10 = 1.0 ... 13; 0 SSLv3; -1 unknown */
	const char *name;    /* as the daemon names the version */
} tls_facts[T_COUNT] = {
	[T_PLAIN] = { "", "", "0", 0, NULL },
	[T_13] = { "TLSv1.3", "TLS_AES_256_GCM_SHA384", "256", 13, NULL },
	[T_12] = { "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "128", 12,
	    "TLSv1.2" },
	[T_10] = { "TLSv1", "ECDHE-RSA-AES256-SHA", "256", 10, "TLSv1" },
	[T_11] = { "TLSv1.1", "ECDHE-RSA-AES256-SHA", "256", 11, "TLSv1.1" },
	[T_SSL3] = { "SSLv3", "DES-CBC3-SHA", "168", 0, "SSLv3" },
	[T_UNKNOWN] = { "TLSv1.9", "TLS_FUTURE", "256", -1, NULL },
	[T_13_KEY0] = { "TLSv1.3", "TLS_AES_256_GCM_SHA384", "0", 13, NULL },
	[T_13_NOKEY] = { "TLSv1.3", "TLS_AES_256_GCM_SHA384", NULL, 13, NULL },
};

/* One generation of the configuration. */
struct gen {
	unsigned number;
	unsigned code;     /* sor_reject_code */
	int min_version;   /* 12 or 13 */
	enum role literal; /* address_literal_role */
	int unq;           /* plain key of unqualified_recipient_domain */
	enum role roles[N_KEYS];
};

/* What a request is and what it expects. */
enum req_kind {
	R_VALID,
	R_MALFORMED,
	R_ABORT,  /* half of a valid request, then close */
	R_HANGUP, /* a valid request, then close without reading */
};

struct req {
	enum req_kind kind;
	bool is_rcpt;
	enum tls_kind tls;
	struct entry e[ENTRIES_MAX];
	size_t n_e;
	char addr[ADDR_MAX]; /* shown in diagnostics */
	size_t lo;           /* first change index that may apply */
	uint64_t sent_ms;
};

enum conn_state {
	C_CLOSED,
	C_CONNECTING,
	C_THINK,
	C_SENDING,
	C_SPLIT,   /* between the pieces of a request */
	C_WAITING, /* for the answer */
	C_DRAIN,   /* for the close after a malformed request */
};

struct conn {
	int fd;
	enum conn_state state;
	unsigned left; /* requests before the last one */
	enum req_kind last_kind;
	struct req r;
	char *out;
	size_t out_len;
	size_t out_off;
	size_t split[2]; /* offsets where the request pauses; 0: none */
	size_t n_split;
	char in[ANSWER_MAX];
	size_t in_len;
	uint64_t deadline_ms;
	uint32_t timer_seq;
	uint64_t connect_since;
	bool is_out_watched;
};

struct timer {
	uint64_t at;
	uint32_t conn;
	uint32_t seq;
};

struct opts {
	struct smx_listen_endpoint ep;
	struct in_addr addr; /* inet: a numeric loopback address */
	unsigned long port;
	bool has_ep;
	long pid;
	const char *dir;
	const char *log;
	const char *stats;
	unsigned long conns;
	unsigned long seconds;
	unsigned long rate;
	unsigned long reload;
	unsigned long broken;
	unsigned long seed;
	bool is_prepare;
};

struct counts {
	unsigned long requests, answered, rejects, wrong, ambiguous, malformed,
	    aborted, hangups, opened, changes, broken, errors;
	unsigned long audit_min, audit_max, audit_lines, warnings, reloads_ok,
	    reloads_failed, other_lines;
	uint64_t barrier_max_ms;
};

struct soak {
	struct opts o;
	struct conn *conns;
	int epfd;
	uint64_t rng;
	uint64_t t0;
	struct timer *heap;
	size_t n_heap;
	size_t cap_heap;
	/* Changes: change 0 is the start; gen_after[k] is the generation in
	 * force after change k (a broken change keeps the one before). */
	unsigned *gen_after;
	bool *is_broken_change;
	size_t n_changes_cap;
	size_t n_killed;    /* last change signalled */
	size_t n_confirmed; /* last change taken up */
	bool is_transition;
	uint64_t kill_ms;
	unsigned last_gen;
	uint64_t next_change_ms;
	bool is_issuing;
	struct counts n;
	unsigned n_shown;
	FILE *stats;
};

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

/* The project's one monotonic clock (lib/smx_io.h). */
static uint64_t
now_ms(void)
{
	return (uint64_t)smx_io_now_ms();
}

/* xorshift64*: a reproducible mix, not a secret. */
static uint64_t
rnd(struct soak *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ULL;
}

static unsigned
rnd_below(struct soak *s, unsigned n)
{
	return (unsigned)(rnd(s) >> 33) % n;
}

/* A hash of (seed, generation, key) for the roles. */
static uint64_t
mix(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL);

	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= c * 0x94D049BB133111EBULL;
	h ^= h >> 32;
	h *= 0xD6E8FEB86CA6C2C5ULL;
	return h ^ (h >> 31);
}

static void error_msg(struct soak *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An error: counted, and the first few shown on stderr. */
static void
error_msg(struct soak *s, const char *fmt, ...)
{
	va_list ap;

	s->n.errors++;
	if (s->n_shown++ >= SHOW_MAX)
		return;
	fprintf(stderr, "secmx-soak-policy: t=%.1fs: ",
	    (double)(now_ms() - s->t0) / 1000.0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------------ */
/* Generations and the files the daemon reads                          */

static void
gen_make(const struct soak *s, unsigned g, struct gen *out)
{
	bool has_sor = false;
	int k;

	memset(out, 0, sizeof(*out));
	out->number = g;
	out->code = g % 2 == 0 ? 530 : 450;
	out->min_version = g % 3 == 2 ? 13 : 12;
	out->literal = g % 4 < 2 ? ROLE_SOR : ROLE_BER;
	out->unq = (int)((g * 7 + 3) % N_PLAIN);
	for (k = 0; k < N_KEYS; k++) {
		out->roles[k] = (enum role)(mix(s->o.seed, g, (uint64_t)k) % 3);
		has_sor |= out->roles[k] == ROLE_SOR;
	}
	/* Bad IDN names count as SOR only while some key is SOR. */
	if (!has_sor)
		out->roles[0] = ROLE_SOR;
}

/* The table key of key index k as generation g spells it. */
static void
key_text(unsigned g, int k, char *out, size_t size)
{
	if (k < KEY_PARENT0) {
		/* Some keys in upper case, some with a trailing dot. */
		if ((g + (unsigned)k) % 5 == 0)
			(void)snprintf(out, size, "D%02d.SOAK.EXAMPLE", k);
		else if ((g + (unsigned)k) % 7 == 0)
			(void)snprintf(out, size, "d%02d.soak.example.", k);
		else
			(void)snprintf(out, size, "d%02d.soak.example", k);
	} else if (k < KEY_UTF80) {
		(void)snprintf(out, size, ".p%d.soak.example", k - KEY_PARENT0);
	} else if (g % 2 == 0) {
		(void)snprintf(out, size, "u%d." SOR_UTF8, k - KEY_UTF80);
	} else {
		(void)snprintf(out, size, "u%d." SOR_ALABEL, k - KEY_UTF80);
	}
}

static const char *
role_name(enum role r)
{
	return r == ROLE_SOR ? "sor" : r == ROLE_BER ? "ber" : "none";
}

/* Write path through a temporary file and rename: the daemon never
 * reads half a file. mode 0 makes it unreadable for the daemon's user. */
static bool
write_file(const char *path, const char *text, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text);
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return false;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return false;
	if (write(fd, text, len) != (ssize_t)len || fchmod(fd, mode) != 0) {
		(void)close(fd);
		return false;
	}
	if (close(fd) != 0)
		return false;
	return rename(tmp, path) == 0;
}

/* Broken variants, in turn. */
enum broken_kind {
	B_COMMENT, /* "key ber # note" */
	B_NOVALUE, /* "key" */
	B_CODE,    /* sor_reject_code = 250 */
	B_MISSING, /* receiver_roles names no file */
	B_UNREADABLE,
	B_UNKNOWN, /* an unknown parameter */
	B_COUNT,
};

static const char *const broken_names[B_COUNT] = { "comment after a value",
	"key without value", "bad reply code", "missing table",
	"unreadable table", "unknown parameter" };

static bool append(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool
append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *len)
		return false;
	*len += (size_t)n;
	return true;
}

/*
 * Write generation g, or (broken >= 0) a broken variant whose good parts
 * are generation g's.
 */
static bool
write_generation(const struct soak *s, unsigned g, int broken)
{
	char table[8192];
	char conf[4096];
	char path[PATH_MAX];
	char roles_path[PATH_MAX];
	char key[NAME_MAX_SOAK];
	size_t tlen = 0;
	size_t clen = 0;
	struct gen gen;
	bool ok = true;
	int k;

	gen_make(s, g, &gen);
	ok &= append(table, sizeof(table), &tlen,
	    "# receiver_roles of soak generation %u%s\n\n", g,
	    broken >= 0 ? " (broken)" : "");
	for (k = 0; k < N_KEYS; k++) {
		if (gen.roles[k] == ROLE_NONE)
			continue;
		key_text(g, k, key, sizeof(key));
		/* A comment line and a blank line now and then. */
		if (k % 6 == 5)
			ok &= append(table, sizeof(table), &tlen,
			    "  # role of %s\n\n", key);
		ok &= append(table, sizeof(table), &tlen, "%s\t%s\n", key,
		    role_name(gen.roles[k]));
	}
	if (broken == B_COMMENT)
		ok &= append(table, sizeof(table), &tlen,
		    "broken.soak.example ber # note\n");
	else if (broken == B_NOVALUE)
		ok &= append(table, sizeof(table), &tlen,
		    "broken.soak.example\n");
	key_text(g, gen.unq, key, sizeof(key));
	(void)snprintf(roles_path, sizeof(roles_path), "%s/receiver_roles%s",
	    s->o.dir, broken == B_MISSING ? ".missing" : "");
	ok &= append(conf, sizeof(conf), &clen,
	    "# secmx.conf of soak generation %u%s\n"
	    "receiver_roles = %s\n"
	    "sor_reject_code = %u\n"
	    "tls_min_protocol = TLSv1.%d\n"
	    "audit = decisions\n"
	    "log_destination = %s\n"
	    "request_timeout = 10s\n"
	    "unqualified_recipient_domain = d%02d.soak.example\n"
	    "address_literal_role = %s\n",
	    g, broken >= 0 ? " (broken)" : "", roles_path,
	    broken == B_CODE ? 250 : gen.code, gen.min_version - 10, s->o.log,
	    gen.unq, role_name(gen.literal));
	if (broken == B_UNKNOWN)
		ok &= append(conf, sizeof(conf), &clen,
		    "soak_unknown_parameter = yes\n");
	if (!ok)
		return false;
	(void)snprintf(path, sizeof(path), "%s/receiver_roles", s->o.dir);
	if (!write_file(path, table, broken == B_UNREADABLE ? 0 : 0644))
		return false;
	(void)snprintf(path, sizeof(path), "%s/secmx.conf", s->o.dir);
	return write_file(path, conf, 0644);
}

/* ------------------------------------------------------------------ */
/* Recipients and the oracle                                           */

static void
entry_add(struct req *r, enum entry_kind kind, int key, const char *name)
{
	if (r->n_e == ENTRIES_MAX)
		return;
	r->e[r->n_e].kind = kind;
	r->e[r->n_e].key = key;
	smx_strlcpy(r->e[r->n_e].name, name, sizeof(r->e[r->n_e].name));
	r->n_e++;
}

/*
 * An ASCII domain: its text in the address and, in *key and canon, the
 * table key it matches (-1: none) and its name as the daemon names it.
 * With is_final, also UTF-8 names and spellings that only the last
 * domain gets (upper case, trailing dot).
 */
static void
pick_domain(struct soak *s, bool is_final, char *text, size_t size, int *key,
    char *canon, size_t csize)
{
	unsigned kind = rnd_below(s, is_final ? 100 : 70);
	unsigned i = rnd_below(s, N_PLAIN);
	unsigned p = rnd_below(s, N_PARENT);
	unsigned h = rnd_below(s, 10);

	if (kind < 40) {
		(void)snprintf(canon, csize, "d%02u.soak.example", i);
		(void)snprintf(text, size, "%s", canon);
		*key = (int)i;
	} else if (kind < 52) {
		/* Subdomains of a ".parent" key, one or two levels down. */
		(void)snprintf(canon, csize, "%sh%u.p%u.soak.example",
		    h % 2 ? "a." : "", h, p);
		(void)snprintf(text, size, "%s", canon);
		*key = KEY_PARENT0 + (int)p;
	} else if (kind < 58) {
		/* The parent itself: ".pN" does not match it. */
		(void)snprintf(canon, csize, "p%u.soak.example", p);
		(void)snprintf(text, size, "%s", canon);
		*key = -1;
	} else if (kind < 64) {
		/* Below a plain key: no parent key, so no role. */
		(void)snprintf(canon, csize, "x.d%02u.soak.example", i);
		(void)snprintf(text, size, "%s", canon);
		*key = -1;
	} else if (kind < 70) {
		(void)snprintf(canon, csize, "other%u.example", h);
		(void)snprintf(text, size, "%s", canon);
		*key = -1;
	} else if (kind < 78) {
		(void)snprintf(canon, csize, "d%02u.soak.example", i);
		(void)snprintf(text, size, "D%02u.Soak.EXAMPLE", i);
		*key = (int)i;
	} else if (kind < 86) {
		(void)snprintf(canon, csize, "d%02u.soak.example", i);
		(void)snprintf(text, size, "d%02u.soak.example.", i);
		*key = (int)i;
	} else {
		/* UTF-8, looked up (and named) as its A-label. */
		(void)snprintf(canon, csize, "u%u." SOR_ALABEL, p);
		(void)snprintf(text, size, "%c%u." SOR_UTF8, h % 3 ? 'u' : 'U',
		    p);
		*key = KEY_UTF80 + (int)p;
	}
}

/* The recipient of a valid request and its effective domains, in the
 * order smx_addr_domains gives them (or the syntax fallback's). */
static void
make_recipient(struct soak *s, struct req *r)
{
	char a[DOMAIN_TEXT_MAX], b[DOMAIN_TEXT_MAX], c[DOMAIN_TEXT_MAX];
	char ca[DOMAIN_TEXT_MAX], cb[DOMAIN_TEXT_MAX], cc[DOMAIN_TEXT_MAX];
	int ka, kb, kc;
	unsigned form = rnd_below(s, 100);

	r->n_e = 0;
	pick_domain(s, true, a, sizeof(a), &ka, ca, sizeof(ca));
	pick_domain(s, false, b, sizeof(b), &kb, cb, sizeof(cb));
	pick_domain(s, false, c, sizeof(c), &kc, cc, sizeof(cc));
	if (form < 30) {
		(void)snprintf(r->addr, sizeof(r->addr), "%s@%s",
		    ka >= KEY_UTF80 ? "j\xc3\xb6rg" : "user", a);
		entry_add(r, E_DOMAIN, ka, ca);
	} else if (form < 35) {
		(void)snprintf(r->addr, sizeof(r->addr), "user@[192.0.2.%u]",
		    rnd_below(s, 250) + 1);
		entry_add(r, E_LITERAL, -1, strchr(r->addr, '['));
	} else if (form < 38) {
		smx_strlcpy(r->addr, "user@[IPv6:2001:DB8::7]",
		    sizeof(r->addr));
		entry_add(r, E_LITERAL, -1, "[ipv6:2001:db8::7]");
	} else if (form < 43) {
		smx_strlcpy(r->addr, rnd_below(s, 2) ? "postmaster" : "Bob",
		    sizeof(r->addr));
		entry_add(r, E_UNQ, -1, "");
	} else if (form < 48) {
		(void)snprintf(r->addr, sizeof(r->addr), "\"%s\"@%s",
		    rnd_below(s, 2) ? "john doe" : "a@x%y!z", a);
		entry_add(r, E_DOMAIN, ka, ca);
	} else if (form < 50) {
		smx_strlcpy(r->addr, "\"john doe\"", sizeof(r->addr));
		entry_add(r, E_UNQ, -1, "");
	} else if (form < 56) {
		(void)snprintf(r->addr, sizeof(r->addr), "user%%%s@%s", b, a);
		entry_add(r, E_DOMAIN, ka, ca);
		entry_add(r, E_DOMAIN, kb, cb);
	} else if (form < 60) {
		/* Percent domains from right to left: a, c, b. */
		(void)snprintf(r->addr, sizeof(r->addr), "user%%%s%%%s@%s", b,
		    c, a);
		entry_add(r, E_DOMAIN, ka, ca);
		entry_add(r, E_DOMAIN, kc, cc);
		entry_add(r, E_DOMAIN, kb, cb);
	} else if (form < 63) {
		(void)snprintf(r->addr, sizeof(r->addr), "user%%%s", b);
		entry_add(r, E_DOMAIN, kb, cb);
		entry_add(r, E_UNQ, -1, "");
	} else if (form < 68) {
		(void)snprintf(r->addr, sizeof(r->addr), "%s!user@%s", b, a);
		entry_add(r, E_DOMAIN, ka, ca);
		entry_add(r, E_DOMAIN, kb, cb);
	} else if (form < 71) {
		/* Bang hosts from left to right, then this host's domain. */
		(void)snprintf(r->addr, sizeof(r->addr), "%s!%s!user", b, c);
		entry_add(r, E_DOMAIN, kb, cb);
		entry_add(r, E_DOMAIN, kc, cc);
		entry_add(r, E_UNQ, -1, "");
	} else if (form < 75) {
		(void)snprintf(r->addr, sizeof(r->addr), "<user@%s>", a);
		entry_add(r, E_DOMAIN, ka, ca);
	} else if (form < 79) {
		/* A source route is ignored, even naming listed domains. */
		(void)snprintf(r->addr, sizeof(r->addr), "@%s,@%s:user@%s", b,
		    c, a);
		entry_add(r, E_DOMAIN, ka, ca);
	} else if (form < 84) {
		/* Malformed: the fallback finds the pieces, in order. */
		if (rnd_below(s, 2))
			(void)snprintf(r->addr, sizeof(r->addr), "<user@%s", b);
		else
			(void)snprintf(r->addr, sizeof(r->addr), "us\ter@%s",
			    b);
		entry_add(r, E_DOMAIN, kb, cb);
	} else if (form < 86) {
		(void)snprintf(r->addr, sizeof(r->addr), "<user@[192.0.2.9]");
		entry_add(r, E_LITERAL, -1, "[192.0.2.9]");
	} else if (form < 88) {
		smx_strlcpy(r->addr, "<postmaster", sizeof(r->addr));
		entry_add(r, E_UNQ, -1, "");
	} else if (form < 92) {
		/* Not UTF-8: a bad IDN name, named with '?'. */
		smx_strlcpy(r->addr,
		    "user@b\xff"
		    "d.SOAK.example",
		    sizeof(r->addr));
		entry_add(r, E_BADIDN, -1, "b?d.soak.example");
	} else if (form < 94) {
		r->addr[0] = '\0';
	} else {
		/* Another protocol state: DUNNO whatever the recipient. */
		(void)snprintf(r->addr, sizeof(r->addr), "user@%s", a);
		r->is_rcpt = false;
	}
}

/* The role of one entry under generation g, and its name in *name. */
static enum role
entry_role(const struct gen *g, const struct entry *e, char *name, size_t size)
{
	smx_strlcpy(name, e->name, size);
	switch (e->kind) {
	case E_LITERAL:
		return g->literal;
	case E_BADIDN:
		return ROLE_SOR;
	case E_UNQ:
		(void)snprintf(name, size, "d%02d.soak.example", g->unq);
		return g->roles[g->unq];
	case E_DOMAIN:
		break;
	}
	return e->key >= 0 ? g->roles[e->key] : ROLE_NONE;
}

/*
 * The action generation g gives request r, and whether it is audited
 * (audit = decisions: an SOR or BER domain decided).
 */
static void
oracle(const struct gen *g, const struct req *r, char *out, size_t size,
    bool *is_audited)
{
	char name[NAME_MAX_SOAK];
	char sor[NAME_MAX_SOAK] = "";
	bool has_ber = false;
	const char *dsn = g->code / 100 == 5 ? "5.7.0" : "4.7.0";
	int v;
	size_t i;

	smx_strlcpy(out, "DUNNO", size);
	*is_audited = false;
	if (!r->is_rcpt)
		return;
	for (i = 0; i < r->n_e; i++) {
		enum role role = entry_role(g, &r->e[i], name, sizeof(name));

		if (role == ROLE_SOR && sor[0] == '\0')
			smx_strlcpy(sor, name, sizeof(sor));
		has_ber |= role == ROLE_BER;
	}
	*is_audited = sor[0] != '\0' || has_ber;
	if (sor[0] == '\0')
		return;
	v = tls_facts[r->tls].version;
	if (r->tls == T_PLAIN || r->tls == T_13_KEY0)
		(void)snprintf(out, size,
		    "%u %s Mail for %s is accepted only over TLS (SecMX Secure Only Receiver)",
		    g->code, dsn, sor);
	else if (v < 0)
		(void)snprintf(out, size,
		    "%u %s Mail for %s requires TLSv1.%d or newer; an unknown TLS protocol counts as too old (SecMX Secure Only Receiver)",
		    g->code, dsn, sor, g->min_version - 10);
	else if (v < g->min_version)
		(void)snprintf(out, size,
		    "%u %s Mail for %s requires TLSv1.%d or newer; %s is too old (SecMX Secure Only Receiver)",
		    g->code, dsn, sor, g->min_version - 10,
		    v == 13 ? "TLSv1.3" : tls_facts[r->tls].name);
}

/* ------------------------------------------------------------------ */
/* Requests on the wire                                                */

static bool
out_reserve(struct conn *c, size_t need)
{
	char *p = realloc(c->out, need);

	if (p == NULL)
		return false;
	c->out = p;
	return true;
}

/* Postfix 3.7's attributes at RCPT, in its order. */
static bool
format_valid(struct soak *s, struct conn *c)
{
	const struct req *r = &c->r;
	char decoy[64] = "";
	char extra[64] = "";
	char keysize[64] = "";
	int n;

	/* A repeated recipient attribute: the last one counts. */
	if (rnd_below(s, 10) == 0)
		(void)snprintf(decoy, sizeof(decoy),
		    "recipient=decoy@d%02u.soak.example\n",
		    rnd_below(s, N_PLAIN));
	if (rnd_below(s, 10) == 0)
		smx_strlcpy(extra, "soak_unknown_attribute=1\n", sizeof(extra));
	if (tls_facts[r->tls].keysize != NULL)
		(void)snprintf(keysize, sizeof(keysize),
		    "encryption_keysize=%s\n", tls_facts[r->tls].keysize);
	if (!out_reserve(c, 4096))
		return false;
	n = snprintf(c->out, 4096,
	    "request=smtpd_access_policy\n"
	    "protocol_state=%s\n"
	    "protocol_name=ESMTP\n"
	    "client_address=192.0.2.%u\n"
	    "client_name=client%u.example.net\n"
	    "client_port=%u\n"
	    "reverse_client_name=client.example.net\n"
	    "server_address=127.0.0.1\n"
	    "server_port=25\n"
	    "helo_name=client.example.net\n"
	    "sender=alice@example.net\n"
	    "%s"
	    "recipient=%s\n"
	    "recipient_count=0\n"
	    "queue_id=\n"
	    "instance=%x.6b0b24ba.%05x.0\n"
	    "size=0\n"
	    "%s"
	    "sasl_method=\n"
	    "ccert_subject=\n"
	    "ccert_fingerprint=\n"
	    "ccert_pubkey_fingerprint=\n"
	    "encryption_protocol=%s\n"
	    "encryption_cipher=%s\n"
	    "%s"
	    "policy_context=\n"
	    "\n",
	    r->is_rcpt ? "RCPT" : (rnd_below(s, 2) ? "MAIL" : "DATA"),
	    rnd_below(s, 250) + 1, rnd_below(s, 1000),
	    1024 + rnd_below(s, 60000), decoy, r->addr, rnd_below(s, 65536),
	    rnd_below(s, 0xfffff), extra, tls_facts[r->tls].protocol,
	    tls_facts[r->tls].cipher, keysize);
	if (n < 0 || n >= 4096)
		return false;
	c->out_len = (size_t)n;
	return true;
}

/*
 * The kinds of malformed request, in the order of format_malformed's
 * cases: a line without '=', a NUL byte, another request type, no
 * request attribute, a bad encryption_keysize, a line too long, too
 * many attributes, a request too long.
 */
#define N_MALFORMED 8

#define MALFORMED_MAX (80 * 1024)

/* Append to a malformed request; false when it would not fit. */
static bool
put(struct conn *c, size_t *len, const char *text)
{
	size_t n = strlen(text);

	if (n > MALFORMED_MAX - *len)
		return false;
	memcpy(c->out + *len, text, n);
	*len += n;
	return true;
}

static bool
put_run(struct conn *c, size_t *len, int ch, size_t n)
{
	if (n > MALFORMED_MAX - *len)
		return false;
	memset(c->out + *len, ch, n);
	*len += n;
	return true;
}

static bool
format_malformed(struct soak *s, struct conn *c)
{
	static const char head[] = "request=smtpd_access_policy\n"
	                           "protocol_state=RCPT\n";
	static const char tail[] = "recipient=user@d00.soak.example\n\n";
	unsigned kind = rnd_below(s, N_MALFORMED);
	size_t len = 0;
	size_t i;
	bool ok = true;

	if (!out_reserve(c, MALFORMED_MAX))
		return false;
	switch (kind) {
	case 0:
		ok = put(c, &len, head) && put(c, &len, "garbage line\n");
		break;
	case 1:
		/* "sender=a", NUL, "b@example.net" */
		ok = put(c, &len, head) && put(c, &len, "sender=a") &&
		    put_run(c, &len, '\0', 1) &&
		    put(c, &len, "b@example.net\n");
		break;
	case 2:
		ok = put(c, &len, "request=other_request\n");
		break;
	case 3:
		ok = put(c, &len, "protocol_state=RCPT\n");
		break;
	case 4:
		ok = put(c, &len, head) &&
		    put(c, &len, "encryption_keysize=12x\n");
		break;
	case 5:
		ok = put(c, &len, head) && put(c, &len, "sender=") &&
		    put_run(c, &len, 'a', 8200) && put(c, &len, "\n");
		break;
	case 6:
		ok = put(c, &len, head);
		for (i = 0; ok && i < 260; i++)
			ok = put(c, &len, "x=1\n");
		break;
	default:
		ok = put(c, &len, head);
		for (i = 0; ok && i < 9; i++)
			ok = put(c, &len, "x=") &&
			    put_run(c, &len, 'b', 8000) && put(c, &len, "\n");
		break;
	}
	if (!ok || !put(c, &len, tail))
		return false;
	c->out_len = len;
	return true;
}

/* ------------------------------------------------------------------ */
/* Timers                                                               */

static void
timer_add(struct soak *s, struct conn *c, uint64_t at)
{
	size_t i;

	if (s->n_heap == s->cap_heap) {
		size_t cap = s->cap_heap ? s->cap_heap * 2 : 4096;
		struct timer *h = realloc(s->heap, cap * sizeof(*h));

		if (h == NULL) {
			error_msg(s, "out of memory for timers");
			return;
		}
		s->heap = h;
		s->cap_heap = cap;
	}
	c->timer_seq++;
	i = s->n_heap++;
	while (i > 0 && s->heap[(i - 1) / 2].at > at) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i].at = at;
	s->heap[i].conn = (uint32_t)(c - s->conns);
	s->heap[i].seq = c->timer_seq;
}

static struct timer
timer_pop(struct soak *s)
{
	struct timer top = s->heap[0];
	struct timer last = s->heap[--s->n_heap];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1;
		size_t m = l;

		if (l >= s->n_heap)
			break;
		if (l + 1 < s->n_heap && s->heap[l + 1].at < s->heap[l].at)
			m = l + 1;
		if (s->heap[m].at >= last.at)
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	if (s->n_heap > 0)
		s->heap[i] = last;
	return top;
}

/* ------------------------------------------------------------------ */
/* Connections                                                          */

static void conn_open(struct soak *s, struct conn *c);
static void conn_send_next(struct soak *s, struct conn *c);

static void
watch(struct soak *s, struct conn *c, bool is_out)
{
	struct epoll_event ev;

	if (c->is_out_watched == is_out)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (is_out ? EPOLLOUT : 0);
	ev.data.u32 = (uint32_t)(c - s->conns);
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->is_out_watched = is_out;
}

/* Close c and, while issuing, open its successor at once. */
static void
conn_close(struct soak *s, struct conn *c)
{
	if (c->fd >= 0) {
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		(void)close(c->fd);
	}
	c->fd = -1;
	c->state = C_CLOSED;
	c->timer_seq++;
	if (s->is_issuing)
		conn_open(s, c);
}

/* The think time before a request, uniform around CONNS/RATE s. */
static void
conn_think(struct soak *s, struct conn *c)
{
	uint64_t mean = s->o.conns * 1000 / s->o.rate;

	c->state = C_THINK;
	timer_add(s, c, now_ms() + rnd(s) % (2 * mean + 1));
}

static void
conn_open(struct soak *s, struct conn *c)
{
	struct epoll_event ev;
	int fd;
	int rc;

	c->in_len = 0;
	c->out_len = 0;
	c->out_off = 0;
	c->is_out_watched = false;
	c->left = rnd_below(s, 20);
	switch (rnd_below(s, 100) / 3) {
	case 0:
		c->last_kind = R_ABORT;
		break;
	case 1:
		c->last_kind = R_HANGUP;
		break;
	case 2:
	case 3:
		c->last_kind = R_MALFORMED;
		break;
	default:
		c->last_kind = R_VALID;
		break;
	}
	if (c->connect_since == 0)
		c->connect_since = now_ms();
	if (s->o.ep.kind == SMX_LISTEN_UNIX) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		smx_strlcpy(sun.sun_path, s->o.ep.path, sizeof(sun.sun_path));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		rc = fd < 0 ? -1
		            : connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	} else {
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)s->o.port);
		sin.sin_addr = s->o.addr;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		rc = fd < 0 ? -1
		            : connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	}
	if (fd < 0) {
		error_msg(s, "socket: %s", strerror(errno));
		c->state = C_CLOSED;
		return;
	}
	if (rc != 0 && errno == EAGAIN) {
		/* A full listen queue: try again shortly. */
		(void)close(fd);
		c->fd = -1;
		c->state = C_CLOSED;
		if (now_ms() - c->connect_since > ANSWER_WAIT_MS)
			error_msg(s, "cannot connect for %d s",
			    ANSWER_WAIT_MS / 1000);
		else
			timer_add(s, c, now_ms() + CONNECT_RETRY_MS);
		return;
	}
	if (rc != 0 && errno != EINPROGRESS) {
		error_msg(s, "connect: %s", strerror(errno));
		(void)close(fd);
		c->fd = -1;
		c->state = C_CLOSED;
		timer_add(s, c, now_ms() + 1000);
		return;
	}
	c->fd = fd;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (rc != 0 ? EPOLLOUT : 0);
	ev.data.u32 = (uint32_t)(c - s->conns);
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		error_msg(s, "epoll_ctl: %s", strerror(errno));
		(void)close(fd);
		c->fd = -1;
		c->state = C_CLOSED;
		return;
	}
	c->is_out_watched = rc != 0;
	c->connect_since = 0;
	s->n.opened++;
	if (rc != 0) {
		c->state = C_CONNECTING;
		c->deadline_ms = now_ms() + ANSWER_WAIT_MS;
		return;
	}
	conn_think(s, c);
}

/* Write what is due of the request; pause at a split point. */
static void
conn_write(struct soak *s, struct conn *c)
{
	size_t stop = c->out_len;

	if (c->n_split > 0 && c->split[0] > c->out_off)
		stop = c->split[0];
	while (c->out_off < stop) {
		ssize_t n =
		    write(c->fd, c->out + c->out_off, stop - c->out_off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				watch(s, c, true);
				return;
			}
			if (c->r.kind == R_MALFORMED) {
				/* The daemon closed it before the end. */
				c->state = C_DRAIN;
				watch(s, c, false);
				return;
			}
			error_msg(s, "write: %s (recipient \"%s\")",
			    strerror(errno), c->r.addr);
			conn_close(s, c);
			return;
		}
		c->out_off += (size_t)n;
	}
	watch(s, c, false);
	if (c->out_off < c->out_len) {
		/* A pause of 1 to 20 ms inside the request. */
		c->split[0] = c->split[1];
		c->n_split--;
		c->state = C_SPLIT;
		timer_add(s, c, now_ms() + 1 + rnd_below(s, 20));
		return;
	}
	/* Complete: from now on the daemon decides it. */
	c->r.lo = s->n_confirmed;
	switch (c->r.kind) {
	case R_HANGUP:
		/* Answered and audited, perhaps: the answer is not read. */
		s->n.hangups++;
		s->n.audit_max++;
		conn_close(s, c);
		return;
	case R_ABORT:
		conn_close(s, c);
		return;
	case R_MALFORMED:
		c->state = C_DRAIN;
		break;
	default:
		c->state = C_WAITING;
		break;
	}
	c->deadline_ms = now_ms() + ANSWER_WAIT_MS;
}

static void
conn_send_next(struct soak *s, struct conn *c)
{
	struct req *r = &c->r;
	enum req_kind kind = c->left > 0 ? R_VALID : c->last_kind;
	bool ok;

	if (!s->is_issuing) {
		conn_close(s, c);
		return;
	}
	if (c->left > 0)
		c->left--;
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->is_rcpt = true;
	r->sent_ms = now_ms();
	c->out_off = 0;
	c->n_split = 0;
	c->in_len = 0;
	if (kind == R_MALFORMED) {
		ok = format_malformed(s, c);
		s->n.malformed++;
		smx_strlcpy(r->addr, "(malformed)", sizeof(r->addr));
	} else {
		unsigned t = rnd_below(s, 100);

		r->tls = t < 40 ? T_PLAIN
		    : t < 70    ? T_13
		    : t < 85    ? T_12
		                : (enum tls_kind)(T_10 + rnd_below(s, 6));
		make_recipient(s, r);
		ok = format_valid(s, c);
		if (kind == R_ABORT) {
			/* Half a request, then the connection closes. */
			c->out_len /= 2;
			s->n.aborted++;
		} else if (rnd_below(s, 5) == 0 && c->out_len > 8) {
			c->split[0] =
			    1 + rnd_below(s, (unsigned)c->out_len - 1);
			c->split[1] = c->split[0] +
			    rnd_below(s, (unsigned)(c->out_len - c->split[0]));
			c->n_split = c->split[1] > c->split[0] ? 2 : 1;
		}
		if (kind != R_ABORT)
			s->n.requests++;
	}
	if (!ok) {
		error_msg(s, "cannot format a request");
		conn_close(s, c);
		return;
	}
	c->state = C_SENDING;
	conn_write(s, c);
}

/* Check an answer against every generation that may have applied. */
static void
check_answer(struct soak *s, struct conn *c)
{
	const struct req *r = &c->r;
	const char *value = c->in + 7;
	size_t vlen = c->in_len - 9;
	char want[ANSWER_MAX];
	char first[ANSWER_MAX] = "";
	bool audited_all = true;
	bool audited_any = false;
	bool is_match = false;
	bool is_differ = false;
	size_t hi = s->n_killed;
	size_t k;

	s->n.answered++;
	if (c->in_len < 9 || memcmp(c->in, "action=", 7) != 0 ||
	    memchr(value, '\n', vlen) != NULL) {
		error_msg(s, "malformed answer \"%.*s\"", (int)c->in_len,
		    c->in);
		s->n.wrong++;
		return;
	}
	for (k = r->lo; k <= hi; k++) {
		struct gen g;
		bool is_audited;

		gen_make(s, s->gen_after[k], &g);
		oracle(&g, r, want, sizeof(want), &is_audited);
		audited_all &= is_audited;
		audited_any |= is_audited;
		if (k == r->lo)
			smx_strlcpy(first, want, sizeof(first));
		else if (strcmp(first, want) != 0)
			is_differ = true;
		if (strlen(want) == vlen && memcmp(want, value, vlen) == 0)
			is_match = true;
	}
	if (is_differ)
		s->n.ambiguous++;
	if (vlen != 5 || memcmp(value, "DUNNO", 5) != 0)
		s->n.rejects++;
	if (audited_all)
		s->n.audit_min++;
	if (audited_any)
		s->n.audit_max++;
	if (is_match)
		return;
	s->n.wrong++;
	error_msg(s,
	    "wrong answer: recipient \"%s\" tls=%s state=%s generations %u..%u: expected \"%s\", got \"%.*s\"",
	    r->addr, tls_facts[r->tls].protocol, r->is_rcpt ? "RCPT" : "other",
	    s->gen_after[r->lo], s->gen_after[hi], first, (int)vlen, value);
}

static void
conn_readable(struct soak *s, struct conn *c)
{
	ssize_t n;
	char *end;

	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* A malformed request: the daemon closes, at once or at the end. */
	if (c->state == C_DRAIN ||
	    (c->r.kind == R_MALFORMED &&
	        (c->state == C_SENDING || c->state == C_SPLIT))) {
		if (n > 0)
			error_msg(s,
			    "an answer to a malformed request: \"%.*s\"",
			    (int)n, c->in);
		conn_close(s, c);
		return;
	}
	if (n <= 0) {
		if (c->state == C_WAITING || c->state == C_SENDING ||
		    c->state == C_SPLIT)
			error_msg(s,
			    "the daemon closed the connection (%s) before answering recipient \"%s\"",
			    n == 0 ? "end of file" : strerror(errno),
			    c->r.addr);
		else
			error_msg(s,
			    "the daemon closed an idle connection (%s)",
			    n == 0 ? "end of file" : strerror(errno));
		conn_close(s, c);
		return;
	}
	if (c->state != C_WAITING) {
		error_msg(s, "data from the daemon when no answer was due");
		conn_close(s, c);
		return;
	}
	c->in_len += (size_t)n;
	end = memmem(c->in, c->in_len, "\n\n", 2);
	if (end == NULL) {
		if (c->in_len == sizeof(c->in)) {
			error_msg(s, "answer too long");
			conn_close(s, c);
		}
		return;
	}
	if ((size_t)(end + 2 - c->in) != c->in_len) {
		error_msg(s, "data after the answer");
		conn_close(s, c);
		return;
	}
	check_answer(s, c);
	c->in_len = 0;
	if (c->left == 0 && c->last_kind == R_VALID) {
		conn_close(s, c);
		return;
	}
	conn_think(s, c);
}

static void
conn_event(struct soak *s, struct conn *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    err != 0) {
			error_msg(s, "connect: %s", strerror(err));
			conn_close(s, c);
			return;
		}
		watch(s, c, false);
		conn_think(s, c);
		return;
	}
	if ((events & EPOLLOUT) && c->state == C_SENDING)
		conn_write(s, c);
	if (c->fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		conn_readable(s, c);
}

static void
on_timer(struct soak *s, struct conn *c)
{
	switch (c->state) {
	case C_CLOSED:
		conn_open(s, c);
		break;
	case C_THINK:
		conn_send_next(s, c);
		break;
	case C_SPLIT:
		c->state = C_SENDING;
		conn_write(s, c);
		break;
	default:
		break;
	}
}

/* Answers overdue: the daemon hangs (or dropped a request). */
static void
check_deadlines(struct soak *s, uint64_t now)
{
	size_t i;

	for (i = 0; i < s->o.conns; i++) {
		struct conn *c = &s->conns[i];

		if (c->fd < 0 ||
		    (c->state != C_WAITING && c->state != C_DRAIN &&
		        c->state != C_CONNECTING) ||
		    now < c->deadline_ms)
			continue;
		error_msg(s, "%s after %d s (recipient \"%s\")",
		    c->state == C_WAITING     ? "no answer"
		        : c->state == C_DRAIN ? "a malformed request not closed"
		                              : "connect not completed",
		    ANSWER_WAIT_MS / 1000, c->r.addr);
		conn_close(s, c);
	}
}

/* ------------------------------------------------------------------ */
/* Reloads, their barrier, and the log segments                        */

/* The daemon has SIGHUP pending (not yet taken up). */
static int
hup_pending(long pid)
{
	char path[64];
	char line[256];
	FILE *fp;
	int pending = 0;

	(void)snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned long long mask;

		if (strncmp(line, "SigPnd:", 7) != 0 &&
		    strncmp(line, "ShdPnd:", 7) != 0)
			continue;
		mask = strtoull(line + 7, NULL, 16);
		if (mask & (1ULL << (SIGHUP - 1)))
			pending = 1;
	}
	(void)fclose(fp);
	return pending;
}

/*
 * Read and remove the log segment of change k (LOG.k): count its lines;
 * for k >= 2 it must hold exactly the reload line of change k - 1.
 */
static void
read_segment(struct soak *s, size_t k, const char *path, bool is_expect)
{
	char line[4096];
	unsigned long ok = 0;
	unsigned long failed = 0;
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		error_msg(s, "log segment %s: %s", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strstr(line, "configuration reloaded from") != NULL)
			ok++;
		else if (strstr(line, "reload failed") != NULL)
			failed++;
		else if (strstr(line, ": action=") != NULL &&
		    strstr(line, " role=") != NULL)
			s->n.audit_lines++;
		else if (strstr(line, "malformed request") != NULL)
			s->n.warnings++;
		else if (strstr(line, "starting") == NULL) {
			s->n.other_lines++;
			if (strstr(line, "fatal:") != NULL ||
			    strstr(line, "panic:") != NULL ||
			    strstr(line, "warning:") != NULL ||
			    strstr(line, "error:") != NULL)
				error_msg(s, "log: %.200s", line);
		}
	}
	(void)fclose(fp);
	s->n.reloads_ok += ok;
	s->n.reloads_failed += failed;
	if (is_expect) {
		bool is_broken = s->is_broken_change[k - 1];

		if (ok + failed != 1 || (is_broken ? failed : ok) != 1)
			error_msg(s,
			    "log segment %zu: %lu \"configuration reloaded\" and %lu \"reload failed\" lines; expected the one of change %zu (%s)",
			    k, ok, failed, k - 1,
			    is_broken ? "broken" : "good");
	}
	if (unlink(path) != 0)
		error_msg(s, "unlink %s: %s", path, strerror(errno));
}

static bool
changes_reserve(struct soak *s, size_t k)
{
	if (k < s->n_changes_cap)
		return true;
	size_t cap = s->n_changes_cap ? s->n_changes_cap * 2 : 256;
	unsigned *g = realloc(s->gen_after, cap * sizeof(*g));
	bool *b;

	if (g == NULL)
		return false;
	s->gen_after = g;
	b = realloc(s->is_broken_change, cap * sizeof(*b));
	if (b == NULL)
		return false;
	s->is_broken_change = b;
	s->n_changes_cap = cap;
	return true;
}

/* Start change k: write the files, rotate the log, SIGHUP. */
static bool
change_start(struct soak *s, bool is_broken)
{
	size_t k = s->n_killed + 1;
	char seg[PATH_MAX];
	int broken = -1;

	if (!changes_reserve(s, k))
		return false;
	if (is_broken) {
		broken = (int)(s->n.broken % B_COUNT);
		s->gen_after[k] = s->gen_after[k - 1];
		s->n.broken++;
	} else {
		s->gen_after[k] = ++s->last_gen;
	}
	s->is_broken_change[k] = is_broken;
	if (!write_generation(s, is_broken ? s->last_gen + 1 : s->last_gen,
	        broken)) {
		error_msg(s, "cannot write generation files in %s: %s",
		    s->o.dir, strerror(errno));
		return false;
	}
	(void)snprintf(seg, sizeof(seg), "%s.%zu", s->o.log, k);
	if (rename(s->o.log, seg) != 0)
		error_msg(s,
		    "cannot rotate %s before change %zu: %s (the daemon did not reopen it after change %zu%s)",
		    s->o.log, k, strerror(errno), k - 1,
		    k >= 2 && s->is_broken_change[k - 1] ? ", a failed reload"
		                                         : "");
	if (kill((pid_t)s->o.pid, SIGHUP) != 0) {
		error_msg(s, "kill -HUP %ld: %s", s->o.pid, strerror(errno));
		return false;
	}
	s->n_killed = k;
	s->n.changes++;
	s->is_transition = true;
	s->kill_ms = now_ms();
	if (is_broken)
		fprintf(stderr,
		    "secmx-soak-policy: t=%.0fs change %zu: broken (%s), generation %u stays\n",
		    (double)(s->kill_ms - s->t0) / 1000.0, k,
		    broken_names[broken], s->gen_after[k]);
	return true;
}

/* The barrier: the daemon took the signal, so it has reloaded. */
static bool
change_poll(struct soak *s)
{
	char seg[PATH_MAX];
	uint64_t now = now_ms();
	int p = hup_pending(s->o.pid);

	if (p < 0) {
		error_msg(s, "the daemon (pid %ld) is gone", s->o.pid);
		return false;
	}
	if (p > 0) {
		if (now - s->kill_ms > BARRIER_WAIT_MS) {
			error_msg(s, "SIGHUP not taken up within %d s",
			    BARRIER_WAIT_MS / 1000);
			return false;
		}
		return true;
	}
	if (now - s->kill_ms > s->n.barrier_max_ms)
		s->n.barrier_max_ms = now - s->kill_ms;
	s->n_confirmed = s->n_killed;
	s->is_transition = false;
	(void)snprintf(seg, sizeof(seg), "%s.%zu", s->o.log, s->n_killed);
	if (access(seg, F_OK) == 0)
		read_segment(s, s->n_killed, seg, s->n_killed >= 2);
	return true;
}

/* ------------------------------------------------------------------ */
/* Main loop                                                           */

static void
print_counts(struct soak *s, FILE *fp, const char *prefix)
{
	fprintf(fp,
	    "%srequests=%lu answered=%lu rejects=%lu wrong=%lu ambiguous=%lu malformed=%lu aborted=%lu hangups=%lu opened=%lu changes=%lu broken=%lu generation=%u errors=%lu",
	    prefix, s->n.requests, s->n.answered, s->n.rejects, s->n.wrong,
	    s->n.ambiguous, s->n.malformed, s->n.aborted, s->n.hangups,
	    s->n.opened, s->n.changes, s->n.broken,
	    s->gen_after[s->n_confirmed], s->n.errors);
}

static int
run(struct soak *s)
{
	struct epoll_event events[EVENTS_MAX];
	uint64_t end_ms = s->t0 + s->o.seconds * 1000;
	uint64_t next_stats = s->t0 + 10000;
	uint64_t next_check = s->t0 + 1000;
	size_t i;

	s->is_issuing = true;
	s->next_change_ms = s->t0 + s->o.reload * 1000;
	for (i = 0; i < s->o.conns; i++) {
		s->conns[i].fd = -1;
		conn_open(s, &s->conns[i]);
	}
	for (;;) {
		uint64_t now = now_ms();
		int timeout = 1000;
		int n;

		if (got_signal)
			break;
		if (s->is_issuing && now >= end_ms) {
			/* Stop: no new requests; the outstanding ones end. */
			s->is_issuing = false;
			for (i = 0; i < s->o.conns; i++) {
				struct conn *c = &s->conns[i];

				if (c->state == C_THINK ||
				    c->state == C_CONNECTING ||
				    c->state == C_CLOSED)
					conn_close(s, c);
			}
		}
		if (!s->is_issuing && !s->is_transition) {
			bool is_busy = false;

			for (i = 0; i < s->o.conns && !is_busy; i++)
				is_busy = s->conns[i].fd >= 0;
			if (!is_busy)
				break;
			if (now > end_ms + 2 * ANSWER_WAIT_MS) {
				error_msg(s,
				    "connections still open at the end");
				break;
			}
		}
		if (s->is_transition) {
			if (!change_poll(s))
				return 1;
			timeout = 2;
		} else if (s->is_issuing && now >= s->next_change_ms) {
			/* The first broken change half a period in. */
			size_t period = s->o.broken / s->o.reload;
			bool is_broken = period > 1 &&
			    (s->n_killed + 1) % period == period / 2;

			if (!change_start(s, is_broken))
				return 1;
			s->next_change_ms += s->o.reload * 1000;
			timeout = 2;
		}
		while (s->n_heap > 0 && s->heap[0].at <= now) {
			struct timer t = timer_pop(s);
			struct conn *c = &s->conns[t.conn];

			if (t.seq == c->timer_seq)
				on_timer(s, c);
		}
		if (s->n_heap > 0 && s->heap[0].at - now < (uint64_t)timeout)
			timeout = (int)(s->heap[0].at - now);
		if (now >= next_check) {
			check_deadlines(s, now);
			if (kill((pid_t)s->o.pid, 0) != 0) {
				error_msg(s, "the daemon (pid %ld) is gone",
				    s->o.pid);
				return 1;
			}
			next_check += 1000;
		}
		if (now >= next_stats) {
			if (s->stats != NULL) {
				fprintf(s->stats, "t=%" PRIu64 " ",
				    (now - s->t0) / 1000);
				print_counts(s, s->stats, "");
				fputc('\n', s->stats);
				(void)fflush(s->stats);
			}
			next_stats += 10000;
		}
		n = epoll_wait(s->epfd, events, EVENTS_MAX, timeout);
		if (n < 0 && errno != EINTR) {
			perror("secmx-soak-policy: epoll_wait");
			return 2;
		}
		for (i = 0; n > 0 && i < (size_t)n; i++)
			conn_event(s, &s->conns[events[i].data.u32],
			    events[i].events);
	}
	return 0;
}

/* The last change: its barrier completes the last log segment. */
static void
finish(struct soak *s)
{
	char line[4096];
	uint64_t until;
	bool is_found = false;

	if (!change_start(s, false))
		return;
	while (s->is_transition && change_poll(s))
		(void)usleep(2000);
	/* The reload line, written after the reload, in a new log file. */
	until = now_ms() + 5000;
	while (!is_found && now_ms() < until) {
		FILE *fp = fopen(s->o.log, "r");

		while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
			is_found |=
			    strstr(line, "configuration reloaded from") != NULL;
		if (fp != NULL)
			(void)fclose(fp);
		if (!is_found)
			(void)usleep(50000);
	}
	if (is_found)
		s->n.reloads_ok++;
	else
		error_msg(s,
		    "no \"configuration reloaded\" line in %s after the last change",
		    s->o.log);
	if (s->n.audit_lines < s->n.audit_min ||
	    s->n.audit_lines > s->n.audit_max)
		error_msg(s, "%lu audit lines logged; expected from %lu to %lu",
		    s->n.audit_lines, s->n.audit_min, s->n.audit_max);
	if (s->n.warnings != s->n.malformed)
		error_msg(s,
		    "%lu malformed-request warnings logged for %lu malformed requests",
		    s->n.warnings, s->n.malformed);
	if (s->n.reloads_ok + s->n.reloads_failed != s->n.changes ||
	    s->n.reloads_failed != s->n.broken)
		error_msg(s,
		    "%lu reloads and %lu refusals logged for %lu changes of which %lu broken",
		    s->n.reloads_ok, s->n.reloads_failed, s->n.changes,
		    s->n.broken);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: secmx-soak-policy --prepare -D DIR -L LOGFILE [--seed N]\n"
	    "       secmx-soak-policy -s ENDPOINT -p PID -D DIR -L LOGFILE [-c CONNS] [-d SECONDS] [-r RATE] [-R RELOAD] [-B BROKEN] [--seed N] [--stats FILE]\n");
}

static bool
num(const char *arg, unsigned long min, unsigned long max, unsigned long *out)
{
	if (smx_parse_ulong(arg, strlen(arg), min, max, out) == SMX_OK)
		return true;
	fprintf(stderr, "secmx-soak-policy: bad number \"%s\" (%lu to %lu)\n",
	    arg, min, max);
	return false;
}

static bool
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = { { "seed", 1, NULL, 'e' },
		{ "stats", 1, NULL, 'S' }, { "prepare", 0, NULL, 'P' },
		{ NULL, 0, NULL, 0 } };
	unsigned long pid = 0;
	char err[256];
	int ch;
	bool ok = true;

	o->conns = 1000;
	o->seconds = 600;
	o->rate = 1000;
	o->reload = 10;
	o->broken = 60;
	o->seed = 1;
	while (ok &&
	    (ch = getopt_long(argc, argv, "s:p:D:L:c:d:r:R:B:", longopts,
	         NULL)) != -1) {
		switch (ch) {
		case 's':
			ok = smx_listen_parse(optarg, &o->ep, err,
			         sizeof(err)) == SMX_OK &&
			    (o->ep.kind == SMX_LISTEN_UNIX ||
			        bench_is_loopback_host(o->ep.host, err,
			            sizeof(err)));
			if (!ok)
				fprintf(stderr, "secmx-soak-policy: %s\n", err);
			else if (o->ep.kind == SMX_LISTEN_INET &&
			    (inet_pton(AF_INET, o->ep.host, &o->addr) != 1 ||
			        !num(o->ep.port, 1, 65535, &o->port))) {
				fprintf(stderr,
				    "secmx-soak-policy: inet: needs an IPv4 address and a port number\n");
				ok = false;
			}
			o->has_ep = true;
			break;
		case 'p':
			ok = num(optarg, 2, 4194304, &pid);
			o->pid = (long)pid;
			break;
		case 'D':
			o->dir = optarg;
			break;
		case 'L':
			o->log = optarg;
			break;
		case 'c':
			ok = num(optarg, 1, CONNS_MAX, &o->conns);
			break;
		case 'd':
			ok = num(optarg, 1, 86400, &o->seconds);
			break;
		case 'r':
			ok = num(optarg, 1, 1000000, &o->rate);
			break;
		case 'R':
			ok = num(optarg, 1, 3600, &o->reload);
			break;
		case 'B':
			ok = num(optarg, 1, 86400, &o->broken);
			break;
		case 'e':
			ok = num(optarg, 1, ULONG_MAX, &o->seed);
			break;
		case 'S':
			o->stats = optarg;
			break;
		case 'P':
			o->is_prepare = true;
			break;
		default:
			ok = false;
			break;
		}
	}
	if (!ok || optind != argc || o->dir == NULL || o->log == NULL ||
	    o->dir[0] != '/' || o->log[0] != '/')
		return false;
	if (o->is_prepare)
		return true;
	if (!o->has_ep || o->pid == 0 || o->broken % o->reload != 0 ||
	    o->broken < 2 * o->reload) {
		fprintf(stderr,
		    "secmx-soak-policy: -s and -p are required; -B must be a multiple of -R, at least twice it\n");
		return false;
	}
	/* At least one millisecond of thinking on average. */
	if (o->conns * 1000 / o->rate == 0)
		o->rate = o->conns * 1000;
	return true;
}

int
main(int argc, char **argv)
{
	static struct soak s;
	int rc;
	size_t i;

	if (!parse_args(argc, argv, &s.o)) {
		usage();
		return 2;
	}
	s.rng = s.o.seed * 0x9E3779B97F4A7C15ULL + 1;
	if (s.o.is_prepare) {
		if (!write_generation(&s, 0, -1)) {
			perror("secmx-soak-policy: write generation 0");
			return 2;
		}
		return 0;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGINT, on_signal);
	(void)signal(SIGTERM, on_signal);
	if (!bench_raise_nofile(s.o.conns + 64)) {
		perror("secmx-soak-policy: setrlimit RLIMIT_NOFILE");
		return 2;
	}
	if (s.o.stats != NULL && (s.stats = fopen(s.o.stats, "a")) == NULL) {
		perror("secmx-soak-policy: stats file");
		return 2;
	}
	s.conns = calloc(s.o.conns, sizeof(*s.conns));
	s.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s.conns == NULL || s.epfd < 0 || !changes_reserve(&s, 0)) {
		perror("secmx-soak-policy: set-up");
		return 2;
	}
	s.gen_after[0] = 0;
	s.is_broken_change[0] = false;
	s.t0 = now_ms();
	rc = run(&s);
	if (rc == 0 && !got_signal)
		finish(&s);
	printf("SOAKPOLICY ");
	print_counts(&s, stdout, "");
	printf(
	    " audit_lines=%lu audit_min=%lu audit_max=%lu warnings=%lu reloads_ok=%lu reloads_failed=%lu other_lines=%lu barrier_max_ms=%" PRIu64
	    "\n",
	    s.n.audit_lines, s.n.audit_min, s.n.audit_max, s.n.warnings,
	    s.n.reloads_ok, s.n.reloads_failed, s.n.other_lines,
	    s.n.barrier_max_ms);
	(void)fflush(stdout);
	for (i = 0; i < s.o.conns; i++) {
		if (s.conns[i].fd >= 0)
			(void)close(s.conns[i].fd);
		free(s.conns[i].out);
	}
	free(s.conns);
	free(s.heap);
	free(s.gen_after);
	free(s.is_broken_change);
	if (s.stats != NULL)
		(void)fclose(s.stats);
	(void)close(s.epfd);
	if (rc != 0)
		return rc;
	return s.n.errors > 0 || got_signal ? 1 : 0;
}
