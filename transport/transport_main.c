/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	secmx-transport - SecMX Level 2 sender for Postfix pipe(8)
 * SYNOPSIS
 *	secmx-transport [-c FILE] [-v] -f SENDER [-q QUEUE_ID]
 *	    [-n NEXTHOP] -- RECIPIENT...
 * DESCRIPTION
 *	Delivers one message, read from standard input until end of file
 *	(LF line ends, no dot-stuffing, as pipe(8) writes it), to the
 *	recipients by SMTP as a Secure Only Sender (SOS) or Best Effort
 *	Sender (BES) of SecMX Level 2:
 *
 *	1. The message is spooled first, before any network work, so that
 *	   it can be sent to a second server.
 *	2. The role: sender_roles looked up with the sender's domain, else
 *	   default_sender_role; destination_roles looked up with the
 *	   recipient's domain (never the next hop) can make it SOS (SOS
 *	   wins). A Secure Only recipient never leaves in plaintext,
 *	   whatever route the next hop names.
 *	3. The destination: NEXTHOP, else the recipient's domain.
 *	   NEXTHOP "[host]", "[host]:port" or "[192.0.2.1]:2525" means that
 *	   host only, with the TLS rules of an MX route (no SRV or MX
 *	   lookup).
 *	4. SecMX servers from _secmx._tcp.<domain> SRV records, in RFC 2782
 *	   order, every address of each: STARTTLS mandatory, TLS at least
 *	   tls_min_protocol (and never below TLSv1.2), certificate checked
 *	   per tls_verify. A failed server is skipped for the next one; when
 *	   all fail, the mail is deferred.
 *	5. Without SecMX servers, the MX hosts: a BES uses STARTTLS when
 *	   offered and plaintext otherwise; an SOS only hosts that offer
 *	   STARTTLS and complete the handshake. When every MX host answered
 *	   and none qualified, an SOS bounces the mail (5.7.4); a null MX
 *	   bounces (5.1.10), a domain that does not exist bounces (5.1.2).
 *
 *	A receiver's 4xx reply defers, its 5xx reply bounces, with its
 *	enhanced status code and the command it answered. A fault (timeout,
 *	lost connection, at any stage) defers, never bounces; once the
 *	receiver answered the end of data with 2xx the message is sent. A
 *	server that is this host (it greets with helo_name, or it is an
 *	address of this host at a port of local_listeners) is skipped: a
 *	mail loop bounces with 5.4.6.
 *
 *	pipe(8) takes one exit status for all recipients of a run, so the
 *	transport takes exactly one recipient (main.cf:
 *	secmx_destination_recipient_limit = 1); with more it delivers
 *	nothing and defers (4.3.5).
 * OPTIONS
 *	-c FILE	configuration file (default /etc/secmx/secmx.conf).
 *	-v	debug logging (never message content or secrets).
 *	-f SENDER
 *		envelope sender; an empty argument is the null sender <>.
 *	-q QUEUE_ID
 *		Postfix queue id, for the log.
 *	-n NEXTHOP
 *		destination domain or [host]:port; default: the recipient's
 *		domain.
 *	--	ends the options; the one further argument is the
 *		recipient.
 * EXIT STATUS
 *	Exactly one line on standard output, which pipe(8) puts into the
 *	log and the DSN; it starts with an enhanced status code (the
 *	receiver's when it gave one).
 *	0	delivered: "2.0.0 delivered via host[addr]:port TLSv1.3 ...".
 *	75	EX_TEMPFAIL, Postfix defers: "4.x.x ...". Also for every local
 *		trouble: usage and configuration errors (4.3.5), spool,
 *		memory and TLS setup trouble (4.3.0), because Postfix bounces
 *		EX_USAGE, EX_CONFIG and EX_SOFTWARE.
 *	69	EX_UNAVAILABLE, Postfix bounces: "5.x.x ...".
 *	The run ends within delivery_time_limit (then "4.4.7 delivery time
 *	limit reached"), which must stay below Postfix's
 *	secmx_time_limit (default $command_time_limit, 1000s): past that,
 *	Postfix kills the command and bounces the mail.
 * CONFIGURATION
 *	secmx.conf (conf/secmx.conf documents every parameter). Used here:
 *	sender_roles, destination_roles, default_sender_role,
 *	tls_min_protocol, tls_verify, tls_ca_file, tls_ca_path,
 *	dns_nameservers, dns_timeout, dns_trust_ad, helo_name,
 *	local_listeners, smtp_connect_timeout, smtp_timeout,
 *	delivery_time_limit, tls_dane, sos_mx_security.
 *	log_destination = stderr counts as syslog: standard output and
 *	standard error are read by pipe(8); a log file is honoured.
 * EXAMPLE
 *	master.cf:
 *	  secmx unix - n n - - pipe flags=q null_sender= user=secmx
 *	    argv=/usr/libexec/secmx/secmx-transport -c /etc/secmx/secmx.conf
 *	    -f ${sender} -q ${queue_id} -n ${nexthop} -- ${recipient}
 *	main.cf:
 *	  transport_maps = hash:/etc/postfix/transport
 *	  secmx_destination_recipient_limit = 1
 *	  secmx_time_limit = 1000s
 *	/etc/postfix/transport:
 *	  example.govt.nz  secmx:
 * LIMITS
 *	SMTP_RECIPIENTS_MAX recipients; SMTP_PATH_MAX bytes per address;
 *	TRANSPORT_LINE_MAX bytes of output; TRANSPORT_ATTEMPTS_MAX
 *	connections.
 * DIAGNOSTICS
 *	syslog ident "secmx/transport", facility mail: one audit line per
 *	attempt and recipient and one per outcome and recipient (deliver.c).
 * SECURITY
 *	Runs as the unprivileged user of pipe(8) user=. argv, the message,
 *	DNS answers and server replies are untrusted. SIGPIPE is ignored;
 *	a SIGALRM at delivery_time_limit is the last line of defence
 *	against a run that would overrun.
 * SEE ALSO
 *	secmx-transport(8) (man/secmx-transport.8), secmx.conf(5), pipe(8),
 *	transport(5); deliver.c, outcome.c, lib/smx_route.c; SecMX
 *Level 2 section 5.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_io.h"
#include "smx_limits.h"
#include "smx_log.h"
#include "smx_util.h"
#include "deliver.h"
#include "outcome.h"
#include "spool.h"

#define IDENT "secmx/transport"

/*
 * The backstop: when delivery_time_limit passes anyway (a session with
 * many slow commands), defer before Postfix's time limit bounces. Only
 * async-signal-safe calls; SIGALRM is blocked while the real result is
 * printed, so there is never more than one line.
 */
static void
on_alarm(int sig)
{
	static const char line[] = "4.4.7 delivery time limit reached\n";
	ssize_t n;

	(void)sig;
	n = write(STDOUT_FILENO, line, sizeof(line) - 1);
	(void)n;
	_exit(EX_TEMPFAIL);
}

/* Print o's line and return the exit code for it. */
static int
finish(const struct outcome *o)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	if (printf("%s\n", o->line) < 0 || fflush(stdout) != 0)
		smx_log_error_errno("cannot write the status line");
	return outcome_exit_code(o->status);
}

static int
fail(enum smx_status st, const char *enhanced, const char *text)
{
	struct outcome o;

	outcome_set(&o, st, enhanced, text);
	return finish(&o);
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

struct args {
	bool is_help;
	const char *config;
	const char *sender;
	const char *queue_id;
	const char *nexthop;
	const char *const *recipients;
	size_t n_recipients;
};

/* false with a reason on a usage error. */
static bool
parse_args(int argc, char **argv, struct args *a, const char **why)
{
	int c;

	memset(a, 0, sizeof(*a));
	opterr = 0;
	while ((c = getopt(argc, argv, "+c:hvf:q:n:")) != -1) {
		switch (c) {
		case 'h':
			a->is_help = true;
			return true;
		case 'c':
			a->config = optarg;
			break;
		case 'v':
			smx_log_set_verbose(true);
			break;
		case 'f':
			a->sender = optarg;
			break;
		case 'q':
			a->queue_id = optarg;
			break;
		case 'n':
			a->nexthop = optarg;
			break;
		default:
			*why = "unknown option or missing option argument";
			return false;
		}
	}
	if (a->sender == NULL) {
		*why = "missing -f sender";
		return false;
	}
	if (optind >= argc) {
		*why = "no recipients";
		return false;
	}
	if ((size_t)(argc - optind) > SMTP_RECIPIENTS_MAX) {
		*why = "too many recipients";
		return false;
	}
	a->recipients = (const char *const *)(argv + optind);
	a->n_recipients = (size_t)(argc - optind);
	return true;
}

int
main(int argc, char **argv)
{
	struct smx_config *cfg = NULL;
	struct deliver_request rq;
	struct deliver_tls tls;
	struct smx_route_nexthop dest;
	struct outcome out;
	struct spool sp;
	struct args a;
	const char *why = "";
	char err[1024];
	char text[1200];
	char helo[SMX_DOMAIN_MAX + 2];
	long long start = smx_io_now_ms();
	bool is_ok;
	int rc;

	(void)signal(SIGPIPE, SIG_IGN);
	smx_log_open(IDENT, SMX_LOG_SYSLOG, NULL);
	spool_init(&sp);
	memset(&tls, 0, sizeof(tls));
	is_ok = parse_args(argc, argv, &a, &why);
	if (is_ok && a.is_help) {
		printf(
		    "usage: secmx-transport [-c FILE] [-v] -f SENDER [-q QUEUE_ID] [-n NEXTHOP] -- RECIPIENT\n"
		    "       secmx-transport -h\n"
		    "Run by Postfix pipe(8): the message on stdin, one status line on stdout.\n");
		return ferror(stdout) ? EX_TEMPFAIL : 0;
	}
	if (!is_ok) {
		smx_log_error("usage error: %s", why);
		(void)snprintf(text, sizeof(text),
		    "secmx-transport usage error: %s", why);
		return fail(SMX_TEMPFAIL, "4.3.5", text);
	}
	/*
	 * pipe(8) takes one exit status for every recipient of a run: with
	 * several, delivered ones would be bounced or sent again.
	 */
	if (a.n_recipients > 1) {
		smx_log_error(
		    "%s: %zu recipients in one run; set secmx_destination_recipient_limit = 1 in main.cf",
		    a.queue_id != NULL ? a.queue_id : "NOQUEUE",
		    a.n_recipients);
		return fail(SMX_TEMPFAIL, "4.3.5",
		    "secmx-transport takes one recipient per run: set secmx_destination_recipient_limit = 1 in main.cf");
	}
	/* Spool first: the whole message is ours before any network work. */
	if (spool_read_fd(&sp, STDIN_FILENO, 0, err, sizeof(err)) != SMX_OK) {
		smx_log_error("cannot spool the message: %s", err);
		(void)snprintf(text, sizeof(text),
		    "cannot spool the message: %s", err);
		return fail(SMX_TEMPFAIL, "4.3.0", text);
	}
	if (smx_config_load(a.config, &cfg, err, sizeof(err)) != SMX_OK) {
		smx_log_error("configuration error: %s", err);
		(void)snprintf(text, sizeof(text),
		    "secmx configuration error: %s", err);
		rc = fail(SMX_TEMPFAIL, "4.3.5", text);
		goto out;
	}
	/* A log file, when configured; never stderr (pipe(8) reads it). */
	(void)smx_config_log_open(cfg, IDENT, false);
	(void)signal(SIGALRM, on_alarm);
	(void)alarm((unsigned)cfg->delivery_time_limit);
	if (helo_name(cfg, helo, sizeof(helo)) == NULL) {
		smx_log_error(
		    "the host name is not usable in EHLO; set helo_name in %s",
		    cfg->path);
		rc = fail(SMX_TEMPFAIL, "4.3.5",
		    "secmx configuration error: no usable helo_name");
		goto out;
	}
	if (!deliver_destination(a.nexthop, a.recipients[0], &dest, &out)) {
		rc = finish(&out);
		goto out;
	}
	memset(&rq, 0, sizeof(rq));
	rq.cfg = cfg;
	rq.tls = &tls;
	rq.cache = NULL; /* one message per process: nothing to keep */
	rq.queue_id = a.queue_id;
	rq.sender = a.sender;
	rq.recipients = a.recipients;
	rq.n_recipients = 1;
	rq.dest = &dest;
	rq.is_sos =
	    deliver_role(cfg, a.sender, a.recipients[0]) == SMX_ROLE_SOS;
	rq.helo = helo;
	rq.message = &sp;
	/* Leave a second for the last line before the alarm. */
	rq.deadline_ms =
	    start + (long long)cfg->delivery_time_limit * 1000 - 1000;
	deliver_run(&rq, &out);
	rc = finish(&out);
out:
	deliver_tls_free(&tls);
	smx_config_free(cfg);
	spool_free(&sp);
	return rc;
}
