/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx-dns-probe - run one smx_dns lookup and print the result
 * DESCRIPTION
 *	Test driver for tests/integration/test_dns.sh:
 *
 *	smx-dns-probe [-a] [-v] [-s servers] [-t timeout] [-r resolv.conf]
 *	    [-S seed] srv|mx|addrs NAME [PORT]
 *
 *	-a sets trust_ad, -s dns_nameservers, -t dns_timeout, -r the
 *	resolv.conf to read, -S a seed for a deterministic random source
 *	(splitmix64) instead of getrandom(2), -v debug logging to stderr.
 *	Prints one summary line, then one line per record:
 *
 *	status=ok n=2 null=0 implicit=0 ad=0 dropped=0 reason=
 *	srv PRIORITY WEIGHT PORT TARGET
 *	mx PREFERENCE EXCHANGE
 *	addr inet|inet6 ADDRESS PORT
 * LIMITS
 *	Those of smx_dns.
 * DIAGNOSTICS
 *	Exit 0 when the lookup ran (whatever its status), 2 on bad usage.
 * SECURITY
 *	Test code only; not installed.
 * SEE ALSO
 *	lib/smx_dns.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smx_dns.h"
#include "smx_log.h"
#include "smx_util.h"

static uint64_t
seeded_rnd(uint64_t bound, void *ctx)
{
	uint64_t *state = ctx;
	uint64_t threshold = (0 - bound) % bound;
	uint64_t z;

	do {
		z = (*state += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
	} while (z < threshold);
	return z % bound;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: smx-dns-probe [-a] [-v] [-s servers] "
	    "[-t timeout] [-r resolv.conf] [-S seed] "
	    "srv|mx|addrs NAME [PORT]\n");
	exit(2);
}

static void
summary(enum smx_status st, size_t n, bool is_null, bool is_implicit,
    bool is_ad, size_t n_dropped, const char *reason)
{
	printf("status=%s n=%zu null=%d implicit=%d ad=%d dropped=%zu "
	       "reason=%s\n",
	    smx_status_name(st), n, is_null, is_implicit, is_ad, n_dropped,
	    st == SMX_OK ? "" : reason);
}

static void
run_srv(const struct smx_dns_opts *o, const char *name)
{
	struct smx_dns_srv_set *set = calloc(1, sizeof(*set));
	char reason[SMX_DNS_REASON_MAX] = "";
	enum smx_status st;
	size_t i;

	if (set == NULL)
		exit(1);
	st = smx_dns_lookup_srv(o, name, set, reason, sizeof(reason));
	summary(st, set->n_srv, set->is_null, false, set->is_ad, set->n_dropped,
	    reason);
	for (i = 0; st == SMX_OK && i < set->n_srv; i++)
		printf("srv %u %u %u %s\n", set->srv[i].priority,
		    set->srv[i].weight, set->srv[i].port, set->srv[i].target);
	free(set);
}

static void
run_mx(const struct smx_dns_opts *o, const char *name)
{
	struct smx_dns_mx_set *set = calloc(1, sizeof(*set));
	char reason[SMX_DNS_REASON_MAX] = "";
	enum smx_status st;
	size_t i;

	if (set == NULL)
		exit(1);
	st = smx_dns_lookup_mx(o, name, set, reason, sizeof(reason));
	summary(st, set->n_mx, set->is_null, set->is_implicit, set->is_ad,
	    set->n_dropped, reason);
	for (i = 0; st == SMX_OK && i < set->n_mx; i++)
		printf("mx %u %s\n", set->mx[i].preference,
		    set->mx[i].exchange);
	free(set);
}

static void
run_addrs(const struct smx_dns_opts *o, const char *name, uint16_t port)
{
	struct smx_dns_addr_set set;
	char reason[SMX_DNS_REASON_MAX] = "";
	enum smx_status st;
	size_t i;

	memset(&set, 0, sizeof(set));
	st = smx_dns_lookup_addrs(o, name, port, &set, reason, sizeof(reason));
	summary(st, set.n_addrs, false, false, set.is_ad, set.n_dropped,
	    reason);
	for (i = 0; st == SMX_OK && i < set.n_addrs; i++)
		printf("addr %s %s %u\n",
		    set.addr[i].family == AF_INET6 ? "inet6" : "inet",
		    set.addr[i].text, set.addr[i].port);
}

int
main(int argc, char **argv)
{
	struct smx_dns_opts o;
	unsigned long v;
	uint64_t seed = 0;
	uint16_t port = 25;
	int c;

	smx_log_open("secmx/dns-probe", SMX_LOG_STDERR, NULL);
	smx_dns_opts_init(&o);
	while ((c = getopt(argc, argv, "ar:s:S:t:v")) != -1) {
		switch (c) {
		case 'a':
			o.trust_ad = true;
			break;
		case 'r':
			o.resolv_conf = optarg;
			break;
		case 's':
			o.nameservers = optarg;
			break;
		case 'S':
			if (smx_parse_ulong(optarg, strlen(optarg), 0,
			        UINT32_MAX, &v) != SMX_OK)
				usage();
			seed = v;
			o.random = seeded_rnd;
			o.random_ctx = &seed;
			break;
		case 't':
			if (smx_parse_ulong(optarg, strlen(optarg), 0,
			        SMX_DNS_TIMEOUT_MAX, &v) != SMX_OK)
				usage();
			o.timeout = (unsigned)v;
			break;
		case 'v':
			smx_log_set_verbose(true);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || argc > 3)
		usage();
	if (argc == 3) {
		if (smx_parse_ulong(argv[2], strlen(argv[2]), 0, 65535, &v) !=
		    SMX_OK)
			usage();
		port = (uint16_t)v;
	}
	if (strcmp(argv[0], "srv") == 0)
		run_srv(&o, argv[1]);
	else if (strcmp(argv[0], "mx") == 0)
		run_mx(&o, argv[1]);
	else if (strcmp(argv[0], "addrs") == 0)
		run_addrs(&o, argv[1], port);
	else
		usage();
	return fflush(stdout) == 0 ? 0 : 1;
}
