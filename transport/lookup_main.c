/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	secmx-lookup - query the SecMX role tables, postmap(1) style
 * SYNOPSIS
 *	secmx-lookup [-v] [-c config] -q key table
 * DESCRIPTION
 *	Loads the configuration and every table it names, looks key up in
 *	the named table and prints the value on stdout, exactly as the
 *	policy daemon and the transport would see it: the same code loads
 *	the tables and does the lookup, so an exact key beats a ".parent"
 *	key and the longest parent wins.
 *
 *	key is a domain or an address; for an address the part after the
 *	last '@' is looked up.
 *
 *	table is one of:
 *	receiver	receiver_roles (sor | ber)
 *	sender		sender_roles (sos | bes)
 *	destination	destination_roles (sos | bes)
 * OPTIONS
 *	-c config	the configuration file (default /etc/secmx/secmx.conf,
 *			or as built with SECMX_CONFIG_PATH)
 *	-q key		the domain or address to look up
 *	-v		log debug lines too
 * EXIT STATUS
 *	0	found; the value is on stdout
 *	1	not found, or key is not a valid domain
 *	2	usage error, configuration or table error (the message on
 *		stderr names the file and line), or output error
 * CONFIGURATION
 *	secmx.conf(5): receiver_roles, sender_roles, destination_roles.
 *	A table that is not configured is empty: every lookup exits 1.
 * EXAMPLE
 *	secmx-lookup -q user@sub.example.org receiver
 *	It is an interactive tool, not a Postfix service: it needs no
 *	master.cf entry.
 * LIMITS
 *	Those of smx_config and smx_table; the key is at most SMX_ADDR_MAX
 *	bytes.
 * DIAGNOSTICS
 *	Logs to stderr ("secmx/lookup[pid]: error: ...").
 * SECURITY
 *	Runs with the caller's privileges; it only reads the configuration
 *	and the tables. The key is untrusted text and only used as a lookup
 *	key.
 * SEE ALSO
 *	postmap(1), smx_table.c, smx_config.c, conf/secmx.conf.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smx_config.h"
#include "smx_limits.h"
#include "smx_log.h"
#include "smx_status.h"
#include "smx_table.h"

#define EXIT_FOUND 0
#define EXIT_NOTFOUND 1
#define EXIT_TROUBLE 2

/* The tables secmx-lookup can query, by name: add a row for a new one. */
static const struct {
	const char *name;
	size_t table; /* offset of the struct smx_table * in smx_config */
} lookup_tables[] = {
	{ "receiver", offsetof(struct smx_config, receiver_roles) },
	{ "sender", offsetof(struct smx_config, sender_roles) },
	{ "destination", offsetof(struct smx_config, destination_roles) },
};

#define N_LOOKUP_TABLES (sizeof(lookup_tables) / sizeof(lookup_tables[0]))

static void
usage(void)
{
	smx_log_error(
	    "usage: secmx-lookup [-v] [-c config] -q key receiver|sender|destination");
}

/* The row for name, or -1. */
static int
find_table(const char *name)
{
	size_t i;

	for (i = 0; i < N_LOOKUP_TABLES; i++) {
		if (strcmp(lookup_tables[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/*
 * lookup_key - the domain of key (after the last '@', if any) in the
 * table; NULL when not found or not a domain.
 */
static const char *
lookup_key(const struct smx_table *table, const char *key)
{
	const char *at = strrchr(key, '@');
	const char *domain = at != NULL ? at + 1 : key;

	return smx_table_lookup_domain(table, domain, strlen(domain));
}

int
main(int argc, char **argv)
{
	const char *config = NULL;
	const char *key = NULL;
	const struct smx_table *table;
	struct smx_config *cfg = NULL;
	char err[SMX_LOG_LINE_MAX];
	const char *value;
	int row;
	int c;

	smx_log_open("secmx/lookup", SMX_LOG_STDERR);
	while ((c = getopt(argc, argv, "c:q:v")) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'q':
			key = optarg;
			break;
		case 'v':
			smx_log_set_verbose(true);
			break;
		default:
			usage();
			return EXIT_TROUBLE;
		}
	}
	if (key == NULL || argc - optind != 1) {
		usage();
		return EXIT_TROUBLE;
	}
	if ((row = find_table(argv[optind])) < 0) {
		smx_log_error("unknown table \"%.*s\"", SMX_LOG_VALUE_MAX,
		    argv[optind]);
		usage();
		return EXIT_TROUBLE;
	}
	if (strlen(key) > SMX_ADDR_MAX) {
		smx_log_error("key too long (over %d bytes)", SMX_ADDR_MAX);
		return EXIT_TROUBLE;
	}
	if (smx_config_load(config, &cfg, err, sizeof(err)) != SMX_OK) {
		smx_log_error("%s", err);
		return EXIT_TROUBLE;
	}
	table = *(struct smx_table **)((char *)cfg + lookup_tables[row].table);
	value = lookup_key(table, key);
	smx_log_debug("table=%s, key=<%.*s>, result=%s",
	    lookup_tables[row].name, SMX_LOG_VALUE_MAX, key,
	    value != NULL ? value : "(not found)");
	if (value != NULL &&
	    (printf("%s\n", value) < 0 || fflush(stdout) != 0)) {
		smx_log_error_errno("write to stdout");
		smx_config_free(cfg);
		return EXIT_TROUBLE;
	}
	smx_config_free(cfg);
	return value != NULL ? EXIT_FOUND : EXIT_NOTFOUND;
}
