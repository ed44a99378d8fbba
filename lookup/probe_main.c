/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	secmx-probe - what a SecMX sender sees for a domain
 * SYNOPSIS
 *	secmx-probe [-c FILE] [-r sos|bes] [-j] [-v] [-R ADDRESS] DOMAIN
 * DESCRIPTION
 *	Walks exactly the route that secmx-transport would walk for mail
 *	to DOMAIN (the same library code): the _secmx._tcp SRV records
 *	with their DNSSEC status, each target and its addresses, the TLSA
 *	records when DANE applies, and for each address the TCP
 *	connection, the banner, EHLO, STARTTLS, the TLS protocol and
 *	cipher, the server's certificate chain (subject, names, issuer,
 *	days to expiry) and how it was verified (names tried, CA result,
 *	the TLSA record that matched); then the MX route the same way when
 *	the SRV route does not decide. It never sends a message: no MAIL
 *	FROM, no DATA (only with -R, see below).
 *
 *	The report ends with one verdict per sending role, as the
 *	transport would decide it:
 *	    sos: deliver HOST[ADDR]:PORT (TLSv1.3, verify=dane-ee)
 *	    bes: bounce 5.7.4 ...    or    defer 4.x.x ...
 *	The details are those of the role chosen with -r (default sos);
 *	the other role's verdict comes from a second, silent run.
 * OPTIONS
 *	-c FILE	the configuration (default /etc/secmx/secmx.conf): the
 *		same DNS, TLS and role settings as secmx-transport.
 *	-r sos|bes
 *		the role whose route is shown and decides the exit status
 *		(default sos).
 *	-j	one JSON document on standard output instead of the text
 *		report (for monitoring).
 *	-v	debug logging on standard error.
 *	-R ADDRESS
 *		an address at DOMAIN: also check the receiving side of a
 *		Secure Only Receiver. On every address of every SRV
 *		target, in plaintext: MAIL FROM:<>, RCPT TO:<ADDRESS>,
 *		which must be refused (5xx, or 4.7.x while an SOR runs
 *		with a temporary sor_reject_code), then RSET and QUIT
 *		(never DATA). A target that accepts the recipient is
 *		reported as "not Secure Only".
 * EXIT STATUS
 *	0	the chosen role would deliver over TLS (a secure route);
 *	1	it would bounce, or deliver only in plaintext (bes), or a
 *		-R check found a target that is not Secure Only;
 *	75	it would defer (EX_TEMPFAIL);
 *	2	usage or configuration error.
 * CONFIGURATION
 *	secmx.conf(5) as secmx-transport reads it: sender roles do not
 *	apply (-r says the role); dns_*, tls_*, sos_mx_security,
 *	helo_name, local_listeners, smtp_*_timeout, delivery_time_limit.
 * DIAGNOSTICS
 *	Errors on standard error ("secmx/probe[pid]: error: ...").
 * SECURITY
 *	Runs with the caller's privileges; reads the configuration, DNS and
 *	what the servers send. Every value from DNS or a server is escaped
 *	in the report (text: '?' for unprintable bytes; JSON: \u00XX).
 * SEE ALSO
 *	secmx-probe(1) (man/secmx-probe.1), secmx.conf(5), secmx-transport,
 *	secmx-lookup; RFC 7672, RFC 7673; posttls-finger(1).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_idn.h"
#include "smx_io.h"
#include "smx_log.h"
#include "smx_route.h"
#include "smx_util.h"
#include "deliver.h"
#include "probe.h"

#define IDENT "secmx/probe"
#define EXIT_USAGE 2

struct options {
	const char *config;
	const char *domain;
	const char *rcpt;
	bool is_sos;
	bool is_json;
	bool is_verbose;
	bool is_help;
};

#define USAGE                                                                  \
	"usage: secmx-probe [-c FILE] [-r sos|bes] [-j] [-v] [-R ADDRESS] DOMAIN"

static void
usage(void)
{
	smx_log_error("%s", USAGE);
}

/*
 * The domain argument: a host name, lower case, no trailing dot; UTF-8 as
 * A-labels (smx_idn).
 */
static bool
domain_arg(const char *s, char *out, size_t size)
{
	return smx_idn_to_ascii(s, strlen(s), out, size) == SMX_OK;
}

static bool
parse_args(int argc, char **argv, struct options *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->config = SMX_DEFAULT_CONFIG;
	o->is_sos = true;
	opterr = 0;
	while ((c = getopt(argc, argv, "c:hr:jvR:")) != -1) {
		switch (c) {
		case 'h':
			o->is_help = true;
			return true;
		case 'c':
			o->config = optarg;
			break;
		case 'r':
			if (strcmp(optarg, "sos") == 0)
				o->is_sos = true;
			else if (strcmp(optarg, "bes") == 0)
				o->is_sos = false;
			else
				return false;
			break;
		case 'j':
			o->is_json = true;
			break;
		case 'v':
			o->is_verbose = true;
			smx_log_set_verbose(true);
			break;
		case 'R':
			o->rcpt = optarg;
			break;
		default:
			return false;
		}
	}
	if (argc - optind != 1)
		return false;
	o->domain = argv[optind];
	return true;
}

/* helo_name, or this host's name; NULL when that is no host name. */
static const char *
helo_name(const struct smx_config *cfg, char *buf, size_t size)
{
	size_t len;

	if (cfg->helo_name != NULL)
		smx_strlcpy(buf, cfg->helo_name, size);
	else if (gethostname(buf, size) != 0)
		return NULL;
	buf[size - 1] = '\0';
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '.')
		buf[--len] = '\0';
	return smx_is_hostname(buf, len) ? buf : NULL;
}

/* One probe run as sos or bes; with io->observe the detailed one. */
static void
run_role(const struct smx_config *cfg, const struct deliver_io *io,
    const char *domain, const char *rcpt, const char *helo, bool is_sos,
    struct outcome *out)
{
	struct smx_route_nexthop dest;
	struct deliver_request rq;
	struct deliver_tls tls;
	const char *rcpts[1] = { rcpt };

	memset(&tls, 0, sizeof(tls));
	memset(&dest, 0, sizeof(dest));
	dest.kind = SMX_ROUTE_NEXTHOP_DOMAIN;
	smx_strlcpy(dest.host, domain, sizeof(dest.host));
	dest.port = 25;
	memset(&rq, 0, sizeof(rq));
	rq.cfg = cfg;
	rq.io = io;
	rq.tls = &tls;
	rq.queue_id = "PROBE";
	rq.sender = "";
	rq.recipients = rcpts;
	rq.n_recipients = 1;
	rq.dest = &dest;
	rq.is_sos = is_sos;
	rq.helo = helo;
	rq.mode = SMTP_MODE_PROBE;
	rq.deadline_ms =
	    smx_io_now_ms() + (long long)cfg->delivery_time_limit * 1000;
	deliver_run(&rq, out);
	deliver_tls_free(&tls);
}

/*
 * -R: every address of every SRV target, in plaintext, must refuse the
 * recipient with 5xx (MAIL FROM:<>, RCPT TO, RSET, QUIT; never DATA).
 */
static void
check_receivers(const struct smx_config *cfg, struct probe_report *r,
    const char *helo)
{
	const struct smx_route *rt = &r->srv.route;
	struct smx_dns_opts o;
	size_t i;
	size_t k;

	if (!r->srv.is_done || r->srv.st != SMX_OK)
		return;
	smx_dns_opts_init(&o);
	o.nameservers = cfg->dns_nameservers;
	o.trust_ad = cfg->dns_trust_ad;
	o.timeout = (unsigned)cfg->dns_timeout;
	for (i = 0; i < rt->n_targets; i++) {
		struct smx_dns_addr_set set;
		char reason[SMX_DNS_REASON_MAX];

		memset(&set, 0, sizeof(set));
		if (smx_dns_lookup_addrs(&o, rt->target[i].host,
		        rt->target[i].port, &set, reason,
		        sizeof(reason)) != SMX_OK)
			continue;
		for (k = 0; k < set.n_addrs && r->n_checks < PROBE_CHECKS_MAX;
		     k++) {
			struct probe_rcpt_check *c = &r->check[r->n_checks++];
			struct smtp_session_params p;
			struct smtp_session_result res;
			struct smtp_rcpt_result rr[1];
			struct sockaddr_storage ss;
			const char *rcpts[1] = { r->rcpt_address };

			memset(&p, 0, sizeof(p));
			memset(&ss, 0, sizeof(ss));
			p.addr_len = deliver_sockaddr(&set.addr[k], &ss);
			p.addr = (const struct sockaddr *)&ss;
			p.host = rt->target[i].host;
			p.helo = helo;
			p.sender = "";
			p.recipients = rcpts;
			p.n_recipients = 1;
			p.rcpt = rr;
			p.tls_policy = SMTP_TLS_NONE;
			p.connect_timeout_ms =
			    (int)cfg->smtp_connect_timeout * 1000;
			p.timeout_ms = (int)cfg->smtp_timeout * 1000;
			p.mode = SMTP_MODE_PROBE_RCPT;
			c->st = smtp_session_deliver(&p, &res);
			smx_strlcpy(c->peer, res.peer, sizeof(c->peer));
			c->reply_code = rr[0].reply_code;
			smx_strlcpy(c->text,
			    rr[0].reply_code != 0 ? rr[0].text : res.text,
			    sizeof(c->text));
			/*
			 * 5xx, or a 4.7.x security refusal: secmx-policyd with
			 * a temporary sor_reject_code while an SOR is rolled
			 * out.
			 */
			c->is_secure_only = rr[0].reply_code / 100 == 5 ||
			    (rr[0].reply_code / 100 == 4 &&
			        strncmp(rr[0].enhanced, "4.7.", 4) == 0);
		}
	}
}

int
main(int argc, char **argv)
{
	static struct probe_report report;
	struct smx_config *cfg = NULL;
	struct deliver_io io = deliver_io_default;
	struct smx_tls_chain chain;
	struct options o;
	char domain[SMX_DOMAIN_MAX + 1];
	char rcpt[SMX_DOMAIN_MAX + 16];
	char helo[SMX_DOMAIN_MAX + 2];
	char err[1024];
	int rc;

	(void)signal(SIGPIPE, SIG_IGN);
	smx_log_open(IDENT, SMX_LOG_STDERR, NULL);
	if (parse_args(argc, argv, &o) && o.is_help) {
		printf("%s\n       secmx-probe -h\n", USAGE);
		return ferror(stdout) ? EXIT_USAGE : 0;
	}
	if (o.domain == NULL || !domain_arg(o.domain, domain, sizeof(domain))) {
		usage();
		return EXIT_USAGE;
	}
	if (o.rcpt != NULL) {
		char d[SMX_DOMAIN_MAX + 3];

		if (strlen(o.rcpt) > SMTP_PATH_MAX - 2 ||
		    strpbrk(o.rcpt, "\r\n<> ") != NULL ||
		    smx_route_address_domain(o.rcpt, d, sizeof(d)) != SMX_OK ||
		    strcmp(d, domain) != 0) {
			smx_log_error("-R %.*s: not an address at %s",
			    SMX_LOG_VALUE_MAX, o.rcpt, domain);
			return EXIT_USAGE;
		}
	}
	if (smx_config_load(o.config, &cfg, err, sizeof(err)) != SMX_OK) {
		smx_log_error("%s", err);
		return EXIT_USAGE;
	}
	if (helo_name(cfg, helo, sizeof(helo)) == NULL) {
		smx_log_error(
		    "the host name is not usable in EHLO; set helo_name in %s",
		    cfg->path);
		smx_config_free(cfg);
		return EXIT_USAGE;
	}
	probe_report_init(&report, domain, o.is_sos);
	/* The recipient of the runs only names the destination. */
	(void)snprintf(rcpt, sizeof(rcpt), "postmaster@%s", domain);
	smx_strlcpy(report.rcpt_address, o.rcpt != NULL ? o.rcpt : "",
	    sizeof(report.rcpt_address));
	/*
	 * From here on the runs' audit lines go to syslog, as the
	 * transport's do; -v shows them (and the debug lines) on stderr.
	 */
	if (!o.is_verbose)
		smx_log_open(IDENT, SMX_LOG_SYSLOG, NULL);
	io.observe = probe_observe;
	io.observe_ctx = &report;
	io.chain = &chain;
	run_role(cfg, &io, domain, rcpt, helo, o.is_sos,
	    o.is_sos ? &report.verdict_sos : &report.verdict_bes);
	run_role(cfg, &deliver_io_default, domain, rcpt, helo, !o.is_sos,
	    o.is_sos ? &report.verdict_bes : &report.verdict_sos);
	if (o.rcpt != NULL)
		check_receivers(cfg, &report, helo);
	if (o.is_json)
		probe_write_json(&report, stdout);
	else
		probe_write_text(&report, stdout);
	rc = probe_verdict_exit(&report);
	if (fflush(stdout) != 0) {
		smx_log_error_errno("write to stdout");
		rc = EXIT_USAGE;
	}
	probe_report_free(&report);
	smx_config_free(cfg);
	return rc;
}
