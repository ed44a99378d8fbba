/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	secmx-policyd - SecMX Level 2 receiver policy for Postfix
 * SYNOPSIS
 *	secmx-policyd [-c FILE] [-f] [-t] [-v] [-l ENDPOINT]...
 *	    [-m MODE] [-g GROUP] [-u USER] [-p PIDFILE]
 * DESCRIPTION
 *	Answers Postfix SMTPD access policy requests (check_policy_service)
 *	for a Secure Only Receiver: a RCPT request for a domain listed as
 *	"sor" in receiver_roles is rejected when the SMTP session is not
 *	encrypted, uses a TLS version below tls_min_protocol, or (with
 *	sor_client_certs) lacks a listed client certificate. Everything else
 *	gets DUNNO. Decisions are audited to syslog. Recipient domains in
 *	UTF-8 are matched as A-labels; an address literal has
 *	address_literal_role and a recipient without "@domain" is in
 *	unqualified_recipient_domain (smx_decision.c).
 *
 *	Without -l the program runs in spawn mode: spawn(8) connects stdin
 *	and stdout to one smtpd process, and the program exits when that
 *	connection closes. Nothing is ever written to stderr in this mode,
 *	because it is the Postfix connection too; logging goes to syslog.
 *
 *	With -l the program is a standalone daemon serving any number of
 *	persistent connections on each ENDPOINT.
 * OPTIONS
 *	-c FILE	configuration file (default /etc/secmx/secmx.conf).
 *	-f	daemon mode: stay in the foreground; logging may then go to
 *		stderr (log_destination = stderr).
 *	-t	check the configuration and its tables, then exit: 0 when
 *		good, 1 with "file, line N: problem" on stderr otherwise.
 *	-v	verbose: add debug log lines.
 *	-l ENDPOINT
 *		listen on unix:PATH or inet:HOST:PORT (HOST an IPv4 address,
 *		[IPv6] or a name); may be repeated.
 *	-m MODE	octal mode of unix sockets (default 0660).
 *	-g GROUP
 *		group of unix sockets (name or number), for example postfix.
 *		Mode and group are set before the socket gets its name: it
 *		is bound in a new private directory next to PATH and then
 *		renamed to PATH (smx_listen.c).
 *	-u USER	after the sockets are bound, switch to USER (its groups,
 *		group and user id); USER must not be root.
 *	-p PIDFILE
 *		write the daemon's process id there; removed at exit when
 *		still possible.
 * SIGNALS
 *	SIGHUP reloads the configuration and tables; an invalid new
 *	configuration is logged and the running one kept. A log file is
 *	reopened either way. A SIGHUP during start-up waits until the daemon
 *	serves. SIGTERM and SIGINT end the program with status 0.
 * EXIT STATUS
 *	0	clean exit (signal, or end of the spawn(8) connection), or -t
 *		found the configuration good.
 *	1	usage, configuration or start-up error.
 * CONFIGURATION
 *	secmx.conf, Postfix main.cf syntax:
 *		receiver_roles = /etc/secmx/receiver_roles
 *		tls_min_protocol = TLSv1.2
 *		sor_reject_code = 530
 *		request_timeout = 10s
 *		idle_timeout = 3600s
 *		unqualified_recipient_domain =	(this host's name)
 *		address_literal_role = sor
 *	receiver_roles holds "domain sor" or "domain ber" lines, with no
 *	comment after the value; domains may be written in UTF-8. Also used:
 *	sor_client_certs, audit, log_destination (secmx.conf(5)).
 * MASTER.CF (spawn mode)
 *	secmx-policy unix - n n - 0 spawn
 *	    user=secmx argv=/usr/sbin/secmx-policyd -c /etc/secmx/secmx.conf
 * MAIN.CF
 *	secmx-policy_time_limit = 3600
 *	smtpd_recipient_restrictions = permit_mynetworks,
 *	    reject_unauth_destination,
 *	    check_policy_service unix:private/secmx-policy
 *	smtpd_tls_auth_only = yes
 *	Clients permitted before check_policy_service (permit_mynetworks,
 *	permit_sasl_authenticated) are never asked about: the SOR check
 *	does not apply to them.
 *	For a daemon (Debian's smtpd is chrooted, so use the queue directory
 *	or loopback TCP):
 *	secmx-policyd -l unix:/var/spool/postfix/private/secmx-policyd
 *	    -m 0660 -g postfix -u secmx
 *	and check_policy_service unix:private/secmx-policyd (the default
 *	smtpd_policy_service_default_action, 451 4.3.5, keeps it fail-closed).
 * SECURITY
 *	Start as root only to bind; -u drops privileges before any request
 *	is read, and the drop is verified. Tables are reloaded with the
 *	dropped privileges.
 * SEE ALSO
 *	secmx-policyd(8) (man/secmx-policyd.8), secmx.conf(5); Postfix
 *	SMTPD_POLICY_README, spawn(8), master(5).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_daemon.h"
#include "smx_limits.h"
#include "smx_listen.h"
#include "smx_log.h"
#include "smx_util.h"

#include "policyd_server.h"

#define IDENT "secmx/policyd"

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
	    "usage: secmx-policyd [-c FILE] [-f] [-t] [-v] [-l ENDPOINT]... [-m MODE] [-g GROUP] [-u USER] [-p PIDFILE]\n"
	    "       secmx-policyd -h\n"
	    "Without -l, policy requests are read from stdin as spawn(8) runs it.\n");
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
				fprintf(stderr, "secmx-policyd: %s\n", err);
				return false;
			default:
				return false;
			}
		}
	}
	return optind == argc;
}

int
main(int argc, char **argv)
{
	static struct options o;
	char err[SMX_LOG_LINE_MAX];
	char config_path[PATH_MAX];
	struct policyd_server_opts so;
	struct smx_config *cfg = NULL;
	enum smx_status st;
	bool is_spawn;

	o.config = SMX_DEFAULT_CONFIG;
	if (!parse_args(argc, argv, &o)) {
		usage(stderr);
		return 1;
	}
	if (o.is_help) {
		usage(stdout);
		return 0;
	}
	is_spawn = o.d.n_endpoints == 0 && !o.is_check;
	/* A reload asked for during start-up waits for the event loop. */
	if (!is_spawn && !o.is_check && !smx_daemon_hold_reload()) {
		perror("secmx-policyd: sigprocmask");
		return 1;
	}
	/* Someone typed the command: spawn(8) never gives it a terminal. */
	if (is_spawn && isatty(STDIN_FILENO)) {
		fprintf(stderr,
		    "secmx-policyd: standard input is a terminal: without -l the program serves spawn(8);\n"
		    "use -l ENDPOINT for a daemon, -t to check the configuration, -h for help\n");
		return 1;
	}
	/* Before the config is known: stderr, except under spawn(8). */
	smx_log_open(IDENT, is_spawn ? SMX_LOG_SYSLOG : SMX_LOG_STDERR, NULL);
	/*
	 * Under spawn(8) a start-up failure goes to stderr too: Postfix logs
	 * what it reads from the connection, next to its 451.
	 */
	smx_log_set_stderr_copy(is_spawn);
	smx_log_set_verbose(o.is_verbose);
	if (o.is_check)
		return smx_daemon_check_config(&o.d, o.config) == SMX_OK ? 0
		                                                         : 1;
	if (smx_config_load(o.config, &cfg, err, sizeof(err)) != SMX_OK) {
		smx_log_error("%s", err);
		return 1;
	}
	/* SIGHUP reloads it after chdir("/"). */
	if (realpath(o.config, config_path) == NULL)
		smx_strlcpy(config_path, o.config, sizeof(config_path));
	if (smx_daemon_start(&o.d, IDENT, cfg) != SMX_OK)
		goto fail;

	memset(&so, 0, sizeof(so));
	so.config_path = config_path;
	so.config = cfg;
	so.listen_fds = o.d.fds;
	so.n_listen_fds = o.d.n_fds;
	so.in_fd = 0;
	so.out_fd = 1;
	so.log_ident = IDENT;
	so.allow_stderr = !is_spawn && o.d.is_foreground;
	smx_log_set_stderr_copy(false);
	smx_log_info("starting%s", is_spawn ? " (spawn mode)" : "");
	st = policyd_server_run(&so);
	smx_daemon_stop(&o.d);
	if (st != SMX_OK)
		return 1;
	smx_log_info("stopping");
	return 0;
fail:
	smx_daemon_stop(&o.d);
	smx_config_free(cfg);
	return 1;
}
