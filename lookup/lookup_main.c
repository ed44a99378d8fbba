/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	secmx-lookup - SecMX role tables and discovery, postmap(1) style and
 *	as a Postfix socketmap server
 * SYNOPSIS
 *	secmx-lookup [-v] [-c config] -q key table
 *	secmx-lookup [-v] [-c config] -s [-f] [-l endpoint]... [-m mode]
 *	    [-g group] [-u user] [-p pidfile]
 *	secmx-lookup -d
 *	secmx-lookup [-c config] -n
 *	secmx-lookup -h
 * DESCRIPTION
 *	With -q, loads the configuration and every table it names, looks key
 *	up in the named table and prints the value on stdout, exactly as the
 *	policy daemon, the transport and the socketmap server see it: the
 *	same code does the lookup, so an exact key beats a ".parent" key and
 *	the longest parent wins.
 *
 *	key is a domain or an address; for an address the part after the
 *	last '@' is looked up. A key that is not a host name is not found.
 *
 *	table is one of:
 *	receiver	receiver_roles (sor | ber)
 *	sender		sender_roles (sos | bes)
 *	destination	destination_roles (sos | bes)
 *	route		the domain's SecMX servers from _secmx._tcp SRV
 *			records, in delivery order, on one line (with -q
 *			followed by "# " lines: the DNSSEC status of each
 *			answer, each target's addresses and its TLSA records
 *			as secmx-transport would use them):
 *			"srv:[secmail.example.org]:25,
 *srv:[b.example.org]:2525". Not found when there are none, or only the null
 *			target "." (SecMX decidedly not offered).
 *	transport	not found for a domain this host receives mail for
 *			(a key of receiver_roles or local_domains);
 *			otherwise secmx_transport_name (default "secmx:")
 *			when the domain has SecMX servers, destination_roles
 *			says sos for it, or default_sender_role is sos; not
 *			found otherwise, so that transport_maps leaves Best
 *			Effort mail to Postfix's own smtp(8).
 *	sender_transport
 *			secmx_transport_name when sender_roles (or, for a
 *			domain not listed, default_sender_role) makes the
 *			sender domain sos; not found otherwise.
 *
 *	With -s, serves the same tables to Postfix over the socketmap
 *	protocol (socketmap_table(5)): a request netstring "table key" gets
 *	"OK value", "NOTFOUND ", "TEMP reason" (DNS trouble) or "PERM
 *	reason" (unknown table, malformed key). A malformed netstring is
 *	logged and the connection closed without a reply. A connection
 *	carries any number of requests and is closed after idle_timeout
 *	without one. Without -l, one connection is served on stdin and
 *	stdout (spawn(8)); nothing is then ever written to stderr, which
 *	is the Postfix connection too: logging goes to syslog. With -l the
 *	program is a daemon that serves each connection in a child
 *	process, because a lookup can wait on DNS for seconds.
 *
 *	With -d, prints every secmx.conf parameter with its default value,
 *	like postconf -d: one "name = value" line per parameter ("name ="
 *	for an empty default), in the order of the parameter table
 *	(smx_config_param). With -n, like postconf -n, prints the
 *	parameters that config sets, each with the value of its last
 *	setting as written there, in the same order and form; the file is
 *	checked as every program checks it, but the tables it names are not
 *	read. The test that compares the programs, conf/secmx.conf and
 *	secmx.conf(5) reads -d.
 * OPTIONS
 *	-c config	the configuration file (default /etc/secmx/secmx.conf,
 *			or as built with SECMX_CONFIG_PATH)
 *	-d		print every parameter with its default value
 *	-n		print the parameters config sets, with their values
 *	-h		print the usage on stdout and exit 0
 *	-q key		the domain or address to look up
 *	-s		serve the socketmap protocol
 *	-v		log debug lines too (every lookup)
 *	-l endpoint	with -s: listen on unix:PATH or inet:HOST:PORT (HOST an
 *			IPv4 address, [IPv6] or a name); may be repeated
 *	-m mode		octal mode of unix sockets (default 0660)
 *	-g group	group of unix sockets (name or number)
 *	-u user		after the sockets are bound, switch to user (not root)
 *	-f		stay in the foreground; logging may then go to stderr
 *			(log_destination = stderr)
 *	-p pidfile	write the daemon's process id there; removed at exit
 * SIGNALS
 *	Daemon: SIGHUP reloads the configuration; the next request on every
 *	connection, open ones included, is answered from it (a bad file is
 *	logged and the running one kept). SIGTERM and SIGINT stop it and its
 *	children, with exit status 0.
 * EXIT STATUS
 *	-q:	0 found, the value on stdout; 1 not found; 2 usage,
 *		configuration or table error (the message names the file and
 *		line), or output error; 75 (EX_TEMPFAIL) DNS failure for
 *		route and transport, with the reason on stderr.
 *	-s:	0 after the connection (spawn) or a signal (daemon) ended
 *		it; 2 usage, configuration or start-up error.
 *	-d, -n:	0 listed; 2 usage, configuration or output error.
 * CONFIGURATION
 *	secmx.conf(5): receiver_roles, sender_roles, destination_roles,
 *	local_domains, default_sender_role, dns_nameservers, dns_timeout,
 *	dns_trust_ad, tls_dane (-q route), secmx_transport_name, and with -s
 *	request_timeout, idle_timeout, log_destination. A table that is not
 *	configured is empty: every lookup in it is not found.
 * EXAMPLE
 *	secmx-lookup -q user@sub.example.org receiver
 *	secmx-lookup -q example.org route
 *	secmx-lookup -n -c /etc/secmx/secmx.conf
 * MASTER.CF (spawn mode)
 *	secmx-lookup unix - n n - 20 spawn
 *	    user=secmx argv=/usr/sbin/secmx-lookup -c /etc/secmx/secmx.conf -s
 * MAIN.CF
 *	transport_maps = socketmap:unix:private/secmx-lookup:transport
 *	sender_dependent_default_transport_maps =
 *	    socketmap:unix:private/secmx-lookup:sender_transport
 *	For a daemon instead of spawn(8):
 *	secmx-lookup -s -l unix:/var/spool/postfix/private/secmx-lookup
 *	    -m 0660 -g postfix -u secmx
 * LIMITS
 *	Those of smx_config, smx_table and socketmap; the key is at most
 *	SMX_ADDR_MAX bytes, a request SMX_SOCKETMAP_REQUEST_MAX, children
 *	SMX_SOCKETMAP_CHILDREN_MAX.
 * DIAGNOSTICS
 *	-q logs to stderr ("secmx/lookup[pid]: error: ..."); -s to syslog
 *	with the ident secmx/lookup (or stderr with -f and log_destination
 *	= stderr).
 * SECURITY
 *	-q runs with the caller's privileges and only reads the
 *	configuration, the tables and DNS. -s as a daemon starts as root
 *	only to bind; -u drops privileges before any request is read. Keys
 *	are untrusted text, used only as lookup keys and, once validated as
 *	host names, as DNS names.
 * SEE ALSO
 *	secmx-lookup(1) (man/secmx-lookup.1), secmx.conf(5), postmap(1),
 *	socketmap_table(5), transport(5), spawn(8), socketmap.c,
 *	lookup_server.c, smx_route.h, conf/secmx.conf.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_daemon.h"
#include "smx_limits.h"
#include "smx_lines.h"
#include "smx_listen.h"
#include "smx_log.h"
#include "smx_status.h"
#include "smx_route.h"
#include "smx_tls.h"
#include "smx_util.h"

#include "lookup_server.h"
#include "socketmap.h"

#define IDENT "secmx/lookup"
#define EXIT_FOUND 0
#define EXIT_NOTFOUND 1
#define EXIT_TROUBLE 2

struct options {
	const char *config;
	const char *key;
	const char *table;
	struct smx_daemon d; /* -l -m -g -u -f -p, with -s */
	bool is_serve;
	bool is_verbose;
	bool is_help;
	bool is_defaults; /* -d */
	bool is_settings; /* -n */
};

#define USAGE_QUERY                                                            \
	"usage: secmx-lookup [-v] [-c config] -q key receiver|sender|destination|route|transport|sender_transport"
#define USAGE_SERVE                                                            \
	"usage: secmx-lookup [-v] [-c config] -s [-f] [-l endpoint]... [-m mode] [-g group] [-u user] [-p pidfile]"
#define USAGE_PARAMS "usage: secmx-lookup -d | [-c config] -n"

static void
usage(void)
{
	smx_log_error("%s", USAGE_QUERY);
	smx_log_error("%s", USAGE_SERVE);
	smx_log_error("%s", USAGE_PARAMS);
}

/*
 * Parse argv into o. Prints nothing (getopt's messages are off): under
 * spawn(8) stderr is the Postfix connection, and the log destination is
 * known only afterwards. false for any usage error.
 */
static bool
parse_args(int argc, char **argv, struct options *o)
{
	char err[SMX_LOG_LINE_MAX]; /* the caller prints the usage */
	int ch;

	smx_daemon_init(&o->d);
	opterr = 0;
	while (
	    (ch = getopt(argc, argv, "c:dhnq:sv" SMX_DAEMON_OPTIONS)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'd':
			o->is_defaults = true;
			break;
		case 'n':
			o->is_settings = true;
			break;
		case 'h':
			o->is_help = true;
			return true;
		case 'q':
			o->key = optarg;
			break;
		case 's':
			o->is_serve = true;
			break;
		case 'v':
			o->is_verbose = true;
			break;
		default:
			if (smx_daemon_option(&o->d, ch, optarg, err,
			        sizeof(err)) != SMX_OK)
				return false;
			break;
		}
	}
	if (o->is_defaults || o->is_settings)
		return !(o->is_defaults && o->is_settings) && !o->is_serve &&
		    o->key == NULL && optind == argc && o->d.n_endpoints == 0 &&
		    !o->d.has_options;
	if (o->is_serve)
		return o->key == NULL && optind == argc &&
		    (o->d.n_endpoints > 0 || !o->d.has_options);
	if (o->d.n_endpoints > 0 || o->d.has_options)
		return false;
	if (o->key == NULL || argc - optind != 1)
		return false;
	o->table = argv[optind];
	return true;
}

/* The TLSA records of one target, as the transport would see them. */
static void
tlsa_details(const struct smx_config *cfg, const struct smx_dns_opts *dns,
    const struct smx_route_target *t, bool is_secure)
{
	static struct smx_dns_tlsa_set tlsa;
	char reason[SMX_DNS_REASON_MAX];
	enum smx_status st;
	size_t i;
	size_t k;

	if (!smx_route_dane_wanted(cfg, is_secure, is_secure)) {
		printf("#   TLSA _%u._tcp.%s: not looked up (%s)\n",
		    (unsigned)t->port, t->host,
		    !cfg->tls_dane           ? "tls_dane = no"
		        : !cfg->dns_trust_ad ? "dns_trust_ad = no"
		                             : "not DNSSEC-validated");
		return;
	}
	memset(&tlsa, 0, sizeof(tlsa));
	st = smx_dns_lookup_tlsa(dns, t->port, t->host, &tlsa, reason,
	    sizeof(reason));
	printf("#   TLSA _%u._tcp.%s: %s", (unsigned)t->port, t->host,
	    smx_status_name(st));
	if (st == SMX_OK)
		printf(", dnssec=%s", tlsa.is_ad ? "secure" : "insecure");
	else
		printf(" (%s)", reason);
	switch (smx_route_dane_state(st, &tlsa)) {
	case SMX_DANE_REQUIRED:
		printf(", DANE required\n");
		break;
	case SMX_DANE_UNUSABLE:
		printf(", no usable record: TLS without authentication\n");
		break;
	case SMX_DANE_FAILED:
		printf(", target not used\n");
		break;
	case SMX_DANE_OFF:
		printf(", no DANE\n");
		break;
	}
	for (i = 0; st == SMX_OK && i < tlsa.n_rr; i++) {
		struct smx_tls_tlsa x = { tlsa.rr[i].usage, tlsa.rr[i].selector,
			tlsa.rr[i].mtype, tlsa.rr[i].data, tlsa.rr[i].len };

		printf("#     %u %u %u ", (unsigned)x.usage,
		    (unsigned)x.selector, (unsigned)x.mtype);
		for (k = 0; k < x.len; k++)
			printf("%02x", x.data[k]);
		printf(" (%s)\n",
		    smx_tls_tlsa_usable(&x) ? "usable" : "unusable");
	}
}

/*
 * -q DOMAIN route: after the route line, comment lines with the DNSSEC
 * status of each answer and the TLSA records of each target.
 */
static enum smx_status
route_details(const struct smx_config *cfg, const struct smx_dns_opts *dns,
    const char *key)
{
	struct smx_route rt;
	char domain[SMX_DOMAIN_MAX + 3];
	char reason[SMX_DNS_REASON_MAX];
	size_t i;
	size_t k;

	if (smx_route_address_domain(key, domain, sizeof(domain)) != SMX_OK &&
	    smx_strlcpy(domain, key, sizeof(domain)) >= sizeof(domain))
		return SMX_OK;
	if (smx_route_srv(dns, domain, &rt, reason, sizeof(reason)) != SMX_OK)
		return SMX_OK; /* changed since the line above: nothing more */
	printf("# _secmx._tcp.%s: %zu target(s), dnssec=%s\n", domain,
	    rt.n_targets, rt.is_ad ? "secure" : "insecure");
	for (i = 0; i < rt.n_targets; i++) {
		struct smx_dns_addr_set set;
		enum smx_status st;

		memset(&set, 0, sizeof(set));
		st = smx_dns_lookup_addrs(dns, rt.target[i].host,
		    rt.target[i].port, &set, reason, sizeof(reason));
		printf("# %s port %u:", rt.target[i].host,
		    (unsigned)rt.target[i].port);
		if (st != SMX_OK) {
			printf(" addresses %s (%s)\n", smx_status_name(st),
			    reason);
			continue;
		}
		for (k = 0; k < set.n_addrs; k++)
			printf(" %s", set.addr[k].text);
		printf(", dnssec=%s\n", set.is_ad ? "secure" : "insecure");
		tlsa_details(cfg, dns, &rt.target[i], rt.is_ad && set.is_ad);
	}
	return ferror(stdout) ? SMX_TEMPFAIL : SMX_OK;
}

/*
 * -d: every parameter with its default; -n: those the file sets, with
 * the value of the last setting (postconf -d and -n). One "name = value"
 * line each, in the order of the parameter table. -n parses and checks
 * the file but loads no table: it lists, it does not test the tables.
 */
static int
print_params(const struct options *o)
{
	struct smx_config *cfg = NULL;
	char err[SMX_LOG_LINE_MAX];
	const char *name;
	const char *def;
	const char *value;
	char *data = NULL;
	size_t len = 0;
	size_t i;
	int rc = 0;

	if (o->is_settings) {
		if (smx_read_file(o->config, SMX_CONF_FILE_MAX, &data, &len,
		        err, sizeof(err)) != SMX_OK ||
		    smx_config_parse(o->config, data, len, &cfg, err,
		        sizeof(err)) != SMX_OK) {
			smx_log_error("%s", err);
			free(data);
			return EXIT_TROUBLE;
		}
		free(data);
	}
	for (i = 0; smx_config_param(i, &name, &def); i++) {
		value = cfg != NULL ? smx_config_setting(cfg, i) : def;
		if (value != NULL &&
		    printf("%s =%s%s\n", name, value[0] != '\0' ? " " : "",
		        value) < 0)
			break;
	}
	if (ferror(stdout) || fflush(stdout) != 0) {
		smx_log_error_errno("write to stdout");
		rc = EXIT_TROUBLE;
	}
	smx_config_free(cfg);
	return rc;
}

/*
 * -q: one lookup, the value on stdout; the exit status of the manual.
 */
static int
query(const struct options *o)
{
	struct smx_config *cfg = NULL;
	struct smx_dns_opts dns;
	struct socketmap_ctx ctx;
	enum socketmap_map map;
	char err[SMX_LOG_LINE_MAX];
	char value[SOCKETMAP_VALUE_SIZE];
	char reason[SMX_DNS_REASON_MAX];
	enum smx_status st;
	int rc;

	if (socketmap_map_parse(o->table, strlen(o->table), &map) != SMX_OK) {
		smx_log_error("unknown table \"%.*s\"", SMX_LOG_VALUE_MAX,
		    o->table);
		usage();
		return EXIT_TROUBLE;
	}
	if (strlen(o->key) > SMX_ADDR_MAX) {
		smx_log_error("key too long (over %d bytes)", SMX_ADDR_MAX);
		return EXIT_TROUBLE;
	}
	if (smx_config_load(o->config, &cfg, err, sizeof(err)) != SMX_OK) {
		smx_log_error("%s", err);
		return EXIT_TROUBLE;
	}
	socketmap_dns_opts(cfg, &dns);
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.dns = &dns;
	st = socketmap_lookup(&ctx, map, o->key, value, sizeof(value), reason,
	    sizeof(reason));
	switch (st) {
	case SMX_OK:
		rc = EXIT_FOUND;
		if (printf("%s\n", value) < 0 ||
		    (map == SOCKETMAP_ROUTE &&
		        route_details(cfg, &dns, o->key) != SMX_OK) ||
		    fflush(stdout) != 0) {
			smx_log_error_errno("write to stdout");
			rc = EXIT_TROUBLE;
		}
		break;
	case SMX_NOTFOUND:
		rc = EXIT_NOTFOUND;
		break;
	default:
		smx_log_error("table=%s, key=<%.*s>, status=tempfail (%s)",
		    socketmap_map_name(map), SMX_LOG_VALUE_MAX, o->key, reason);
		rc = EX_TEMPFAIL;
		break;
	}
	smx_config_free(cfg);
	return rc;
}

/*
 * -s: serve spawn(8)'s connection on stdin/stdout, or run the daemon on
 * the -l endpoints until a signal stops it.
 */
static int
serve(struct options *o)
{
	char err[SMX_LOG_LINE_MAX];
	char config_path[PATH_MAX];
	struct lookup_server_opts so;
	struct smx_config *cfg = NULL;
	bool is_daemon = o->d.n_endpoints > 0;
	enum smx_status st;

	/* A reload asked for during start-up waits for the event loop. */
	if (is_daemon && !smx_daemon_hold_reload()) {
		smx_log_error_errno("sigprocmask");
		return EXIT_TROUBLE;
	}
	/* Under spawn(8): start-up failures on stderr too, which Postfix logs.
	 */
	smx_log_set_stderr_copy(!is_daemon);
	if (smx_config_load(o->config, &cfg, err, sizeof(err)) != SMX_OK) {
		smx_log_error("%s", err);
		return EXIT_TROUBLE;
	}
	/* SIGHUP reloads it after chdir("/"). */
	if (realpath(o->config, config_path) == NULL)
		(void)smx_strlcpy(config_path, o->config, sizeof(config_path));
	if (smx_daemon_start(&o->d, IDENT, cfg) != SMX_OK)
		goto fail;

	memset(&so, 0, sizeof(so));
	so.config_path = config_path;
	so.config = cfg;
	so.listen_fds = o->d.fds;
	so.n_listen_fds = o->d.n_fds;
	so.in_fd = STDIN_FILENO;
	so.out_fd = STDOUT_FILENO;
	so.log_ident = IDENT;
	so.allow_stderr = is_daemon && o->d.is_foreground;
	smx_log_set_stderr_copy(false);
	if (is_daemon)
		smx_log_info("starting socketmap server");
	st = lookup_server_run(&so);
	smx_daemon_stop(&o->d);
	if (st != SMX_OK)
		return EXIT_TROUBLE;
	if (is_daemon)
		smx_log_info("stopping");
	return 0;
fail:
	smx_daemon_stop(&o->d);
	smx_config_free(cfg);
	return EXIT_TROUBLE;
}

int
main(int argc, char **argv)
{
	static struct options o;
	bool is_ok;

	o.config = SMX_DEFAULT_CONFIG;
	is_ok = parse_args(argc, argv, &o);
	if (is_ok && o.is_help) {
		printf("%s\n%s\n%s\n       secmx-lookup -h\n", USAGE_QUERY,
		    USAGE_SERVE, USAGE_PARAMS);
		return ferror(stdout) ? EXIT_TROUBLE : 0;
	}
	/* -s without -l serves spawn(8), which never gives it a terminal. */
	if (is_ok && o.is_serve && o.d.n_endpoints == 0 &&
	    isatty(STDIN_FILENO)) {
		fprintf(stderr,
		    "secmx-lookup: standard input is a terminal: -s without -l serves spawn(8);\n"
		    "use -l ENDPOINT for a daemon, -q to query, -h for help\n");
		return EXIT_TROUBLE;
	}
	/* Under spawn(8), stderr is the Postfix connection: syslog only. */
	smx_log_open(IDENT,
	    o.is_serve && o.d.n_endpoints == 0 ? SMX_LOG_SYSLOG
	                                       : SMX_LOG_STDERR,
	    NULL);
	smx_log_set_verbose(o.is_verbose);
	if (!is_ok) {
		usage();
		return EXIT_TROUBLE;
	}
	if (o.is_defaults || o.is_settings)
		return print_params(&o);
	return o.is_serve ? serve(&o) : query(&o);
}
