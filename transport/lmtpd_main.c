/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	secmx-lmtpd - SecMX Level 2 sender as an LMTP service for Postfix
 * SYNOPSIS
 *	secmx-lmtpd [-c FILE] [-f] [-t] [-v] -l ENDPOINT...
 *	    [-m MODE] [-g GROUP] [-u USER] [-p PIDFILE]
 * DESCRIPTION
 *	A resident delivery agent for Postfix's lmtp(8) client: Postfix
 *	hands each message to it over LMTP (RFC 2033) and gets one reply
 *	per recipient. The delivery is secmx-transport's (deliver.c): the
 *	sending role from sender_roles, destination_roles and
 *	default_sender_role, SecMX servers from _secmx._tcp SRV records
 *	with mandatory, verified TLS, DANE where the records are
 *	DNSSEC-validated, else the MX hosts under the Secure Only or Best
 *	Effort Sender rules; the same enhanced codes and texts as pipe
 *	mode, as one reply per recipient: 250 sent, 451 deferred, 554
 *	bounced.
 *
 *	Unlike secmx-transport under pipe(8), one process serves every
 *	message: the TLS client contexts are made once per configuration,
 *	TLS sessions are resumed, idle connections to remote servers are
 *	kept for the next message (smtp_connection_cache_time_limit; one
 *	kept after mail to the same destination, role and configuration
 *	is taken before any DNS lookup, so DNS changes are seen once it
 *	expires, smtp_connection_reuse_time_limit), and the recipients of
 *	a message that share a destination and a role go to the remote
 *	server in one transaction.
 *
 *	The destination of a recipient is its domain: Postfix's next hop
 *	for lmtp(8) is this service, not a relay.
 * OPTIONS
 *	-c FILE	configuration file (default /etc/secmx/secmx.conf).
 *	-f	stay in the foreground; logging may then go to stderr
 *		(log_destination = stderr).
 *	-t	check the configuration and its tables, then exit: 0 when
 *		good, 1 with "file, line N: problem" on stderr otherwise.
 *	-v	verbose: add debug log lines.
 *	-l ENDPOINT
 *		listen on unix:PATH or inet:HOST:PORT (HOST an IPv4 address,
 *		[IPv6] or a name); may be repeated; at least one.
 *	-m MODE	octal mode of unix sockets (default 0660).
 *	-g GROUP
 *		group of unix sockets (name or number), for example postfix.
 *	-u USER	after the sockets are bound, switch to USER (its groups,
 *		group and user id); USER must not be root.
 *	-p PIDFILE
 *		write the daemon's process id there; removed at exit.
 * SIGNALS
 *	SIGHUP reloads the configuration and tables for the messages that
 *	follow; an invalid new configuration is logged and the running one
 *	kept. A log file is reopened either way. A SIGHUP during start-up
 *	waits until the daemon serves. SIGTERM and SIGINT stop accepting
 *connections; idle ones are closed with 421, messages being delivered finish
 *(no new attempt starts; what is left is deferred) and get their replies; then
 *the program exits with status 0. EXIT STATUS
 *	0	clean stop, or -t found the configuration good.
 *	1	usage, configuration or start-up error.
 * CONFIGURATION
 *	secmx.conf (conf/secmx.conf documents every parameter). Used here:
 *	what secmx-transport uses, but lmtpd_delivery_time_limit (below
 *	Postfix's lmtp_data_done_timeout) instead of delivery_time_limit;
 *	and request_timeout and idle_timeout (the LMTP client),
 *	smtp_connection_cache_time_limit, smtp_connection_reuse_time_limit
 *	and tls_session_cache_timeout.
 * EXAMPLE
 *	secmx-lmtpd -l unix:/var/spool/postfix/private/secmx-lmtpd
 *	    -m 0660 -g postfix -u secmx
 *	master.cf:
 *	  secmx_lmtp unix - - n - - lmtp
 *	main.cf:
 *	  default_transport = secmx_lmtp:unix:private/secmx-lmtpd
 *	(postfix-examples/main.cf.sender-lmtp and master.cf.lmtp.)
 * LIMITS
 *	LMTPD_CONNECTIONS_MAX connections; LMTP_RECIPIENTS_MAX recipients
 *	per message.
 * DIAGNOSTICS
 *	syslog ident "secmx/lmtpd", facility mail: the audit lines of
 *	deliver.c, one per attempt and recipient and one per outcome and
 *	recipient, prefixed with the Postfix queue id (from the Received:
 *	header Postfix's cleanup adds, or XFORWARD IDENT).
 * SECURITY
 *	Start as root only to bind; -u drops privileges before any
 *	connection is accepted, and the drop is verified. The LMTP client,
 *	the message, DNS answers and server replies are untrusted.
 * SEE ALSO
 *	secmx-lmtpd(8) (man/secmx-lmtpd.8), secmx.conf(5), lmtp(8),
 *	master(5), secmx-transport, lmtpd_server.c,
 *	lmtpd_session.c, deliver.c.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_daemon.h"
#include "smx_limits.h"
#include "smx_log.h"
#include "smx_util.h"
#include "lmtpd_server.h"

#define IDENT "secmx/lmtpd"

struct options {
	const char *config;
	struct smx_daemon d; /* -l -m -g -u -f -p */
	bool is_check;
	bool is_verbose;
	bool is_help;
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: secmx-lmtpd [-c FILE] [-f] [-t] [-v] -l ENDPOINT... [-m MODE] [-g GROUP] [-u USER] [-p PIDFILE]\n"
	    "       secmx-lmtpd -h\n");
}

static bool
parse_args(int argc, char **argv, struct options *o)
{
	char err[SMX_LOG_LINE_MAX];
	int ch;

	smx_daemon_init(&o->d);
	while ((ch = getopt(argc, argv, "c:htv" SMX_DAEMON_OPTIONS)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'h':
			o->is_help = true;
			return true;
		case 't':
			o->is_check = true;
			break;
		case 'v':
			o->is_verbose = true;
			break;
		default:
			switch (smx_daemon_option(&o->d, ch, optarg, err,
			    sizeof(err))) {
			case SMX_OK:
				break;
			case SMX_INVALID:
				fprintf(stderr, "secmx-lmtpd: %s\n", err);
				return false;
			default:
				return false;
			}
		}
	}
	if (optind != argc)
		return false;
	if (o->d.n_endpoints == 0 && !o->is_check) {
		fprintf(stderr, "secmx-lmtpd: no -l ENDPOINT\n");
		return false;
	}
	return true;
}

int
main(int argc, char **argv)
{
	static struct options o;
	char err[SMX_LOG_LINE_MAX];
	char config_path[PATH_MAX];
	struct lmtpd_server_opts so;
	struct smx_config *cfg = NULL;
	enum smx_status st;

	o.config = SMX_DEFAULT_CONFIG;
	if (!parse_args(argc, argv, &o)) {
		usage(stderr);
		return 1;
	}
	if (o.is_help) {
		usage(stdout);
		return 0;
	}
	/* A reload asked for during start-up waits for the event loop. */
	if (!o.is_check && !smx_daemon_hold_reload()) {
		perror("secmx-lmtpd: sigprocmask");
		return 1;
	}
	smx_log_open(IDENT, SMX_LOG_STDERR, NULL);
	smx_log_set_verbose(o.is_verbose);
	if (o.is_check)
		return smx_daemon_check_config(&o.d, o.config) == SMX_OK ? 0
		                                                         : 1;
	if (smx_config_load(o.config, &cfg, err, sizeof(err)) != SMX_OK) {
		smx_log_error("%s", err);
		return 1;
	}
	/*
	 * Each thread would get a malloc arena of its own, and memory freed
	 * in one is not reused by the others: a few arenas keep the
	 * resident size bounded by the messages in flight.
	 */
	(void)mallopt(M_ARENA_MAX, LMTPD_MALLOC_ARENAS);
	/* SIGHUP reloads it after chdir("/"). */
	if (realpath(o.config, config_path) == NULL)
		smx_strlcpy(config_path, o.config, sizeof(config_path));
	if (smx_daemon_start(&o.d, IDENT, cfg) != SMX_OK) {
		smx_daemon_stop(&o.d);
		smx_config_free(cfg);
		return 1;
	}
	memset(&so, 0, sizeof(so));
	so.config_path = config_path;
	so.config = cfg;
	so.listen_fds = o.d.fds;
	so.n_listen_fds = o.d.n_fds;
	so.log_ident = IDENT;
	so.allow_stderr = o.d.is_foreground;
	smx_log_info("starting");
	st = lmtpd_server_run(&so);
	smx_daemon_stop(&o.d);
	if (st != SMX_OK)
		return 1;
	smx_log_info("stopping");
	return 0;
}
