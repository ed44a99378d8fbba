/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the socketmap request path of secmx-lookup:
 * arbitrary bytes are framed as netstrings (whole, and again in two
 * pieces, which must agree), each payload is answered by
 * socketmap_handle() with a small fixed configuration and a fake route
 * function (no DNS). Invariants, checked with abort(): a framed payload
 * never exceeds SMX_SOCKETMAP_REQUEST_MAX and lies inside the input;
 * every reply is one netstring within Postfix 3.7's reply limit, starts
 * with "OK " and a non-empty value, "NOTFOUND ", "TEMP " or "PERM ", and
 * is printable ASCII.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smx_config.h"
#include "smx_limits.h"
#include "smx_log.h"
#include "smx_table.h"

#include "socketmap.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smx_config *cfg;

/* Fake DNS: names starting with "s" have a target, "t" fail, others none. */
static enum smx_status
fake_route(const struct smx_dns_opts *dns, const char *domain,
    struct smx_route *out, char *reason, size_t reason_size)
{
	(void)dns;
	memset(out, 0, sizeof(*out));
	if (domain[0] == 's') {
		snprintf(out->target[0].host, sizeof(out->target[0].host), "%s",
		    domain);
		out->target[0].port = 25;
		out->n_targets = 1;
		return SMX_OK;
	}
	if (domain[0] == 't') {
		snprintf(reason, reason_size, "SERVFAIL\r\n%s", domain);
		return SMX_TEMPFAIL;
	}
	return SMX_NOTFOUND;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char conf[] = "default_sender_role = bes\n";
	static const char senders[] = "sos.example sos\n.sos.example sos\n";
	static const char dests[] = "d.example sos\n";
	char err[512];

	(void)argc;
	(void)argv;
	smx_log_open("fuzz_socketmap", SMX_LOG_SYSLOG, NULL);
	if (smx_config_parse("fuzz", conf, sizeof(conf) - 1, &cfg, err,
	        sizeof(err)) != SMX_OK ||
	    smx_table_parse("senders", senders, sizeof(senders) - 1,
	        SMX_TABLE_SENDER, &cfg->sender_roles, err,
	        sizeof(err)) != SMX_OK ||
	    smx_table_parse("dests", dests, sizeof(dests) - 1,
	        SMX_TABLE_DESTINATION, &cfg->destination_roles, err,
	        sizeof(err)) != SMX_OK) {
		fprintf(stderr, "fuzz_socketmap: %s\n", err);
		abort();
	}
	return 0;
}

static void
check_reply(const char *reply, size_t len)
{
	const char *p = NULL;
	size_t plen = 0;
	size_t used = 0;
	char reason[128];
	size_t i;

	if (socketmap_netstring_parse(reply, len, SMX_SOCKETMAP_REPLY_MAX, &p,
	        &plen, &used, reason, sizeof(reason)) != SMX_OK ||
	    used != len)
		abort();
	if (!((plen > 3 && memcmp(p, "OK ", 3) == 0) ||
	        (plen == 9 && memcmp(p, "NOTFOUND ", 9) == 0) ||
	        (plen > 5 && memcmp(p, "TEMP ", 5) == 0) ||
	        (plen > 5 && memcmp(p, "PERM ", 5) == 0)))
		abort();
	for (i = 0; i < plen; i++) {
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
			abort();
	}
}

/* Frame buf in two pieces split at cut; return the status and length. */
static enum smx_status
parse_split(const char *buf, size_t len, size_t cut, size_t *used)
{
	const char *p;
	size_t plen;
	char reason[128];
	enum smx_status st;

	st = socketmap_netstring_parse(buf, cut, SMX_SOCKETMAP_REQUEST_MAX, &p,
	    &plen, used, reason, sizeof(reason));
	if (st != SMX_NOTFOUND)
		return st;
	return socketmap_netstring_parse(buf, len, SMX_SOCKETMAP_REQUEST_MAX,
	    &p, &plen, used, reason, sizeof(reason));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char reply[SOCKETMAP_REPLY_SIZE];
	const char *buf = (const char *)data;
	struct socketmap_ctx ctx = { cfg, NULL, fake_route };
	size_t pos = 0;

	while (pos < size) {
		const char *payload = NULL;
		size_t plen = 0;
		size_t used = 0;
		size_t split_used = 0;
		size_t rlen = 0;
		char reason[128];
		enum smx_status st;

		st = socketmap_netstring_parse(buf + pos, size - pos,
		    SMX_SOCKETMAP_REQUEST_MAX, &payload, &plen, &used, reason,
		    sizeof(reason));
		if (parse_split(buf + pos, size - pos, (size - pos) / 2,
		        &split_used) != st ||
		    (st == SMX_OK && split_used != used))
			abort();
		if (st != SMX_OK)
			break;
		if (plen > SMX_SOCKETMAP_REQUEST_MAX || used > size - pos ||
		    payload < buf + pos || payload + plen > buf + pos + used)
			abort();
		st = socketmap_handle(&ctx, payload, plen, reply, sizeof(reply),
		    &rlen);
		if (st == SMX_INVALID)
			abort();
		check_reply(reply, rlen);
		pos += used;
	}
	return 0;
}
