/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the policy request path: arbitrary bytes go
 * through the framing scanner (whole, and again in two pieces, which must
 * agree), the parser, smx_decide() and the reply formatter, with a small
 * fixed configuration (among it a UTF-8 table key and an SOR domain for
 * unqualified recipients). Invariants, checked with abort(): a framed
 * request never exceeds POLICY_REQUEST_MAX; the action is never empty
 * and holds only printable ASCII (no CR, LF, NUL, or non-ASCII byte
 * from a recipient); every decision yields a well-formed reply.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smx_config.h"
#include "smx_decision.h"
#include "smx_limits.h"
#include "smx_log.h"
#include "smx_table.h"

#include "policy_proto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smx_config *cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char conf[] = "tls_min_protocol = TLSv1.2\n"
	                           "audit = all\n"
	                           "unqualified_recipient_domain = "
	                           "sor.example\n";
	static const char roles[] = "sor.example sor\n"
	                            "ber.example ber\n"
	                            ".sub.sor.example sor\n"
	                            "s\xc3\xb6r.example sor\n";
	static const char certs[] =
	    "A0:A1:A2:A3:A4:A5:A6:A7:A8:A9:AA:AB:AC:AD:AE:AF:"
	    "B0:B1:B2:B3:B4:B5:B6:B7:B8:B9:BA:BB:BC:BD:BE:BF cert\n";
	char err[512];

	(void)argc;
	(void)argv;
	/* Audit lines go nowhere: the harness tests the engine, not syslog. */
	smx_log_open("fuzz_policy_request", SMX_LOG_SYSLOG, NULL);
	if (smx_config_parse("fuzz", conf, sizeof(conf) - 1, &cfg, err,
	        sizeof(err)) != SMX_OK ||
	    smx_table_parse("roles", roles, sizeof(roles) - 1,
	        SMX_TABLE_RECEIVER, &cfg->receiver_roles, err,
	        sizeof(err)) != SMX_OK ||
	    smx_table_parse("certs", certs, sizeof(certs) - 1, SMX_TABLE_CCERT,
	        &cfg->sor_client_certs, err, sizeof(err)) != SMX_OK) {
		fprintf(stderr, "fuzz_policy_request: %s\n", err);
		abort();
	}
	return 0;
}

static void
check_action(const char *action)
{
	size_t len = strnlen(action, POLICY_REPLY_MAX);
	char reply[POLICY_REPLY_MAX + 16];
	size_t rlen;
	size_t i;

	if (len == 0 || len == POLICY_REPLY_MAX)
		abort();
	for (i = 0; i < len; i++) {
		if (action[i] < 0x20 || action[i] >= 0x7f)
			abort();
	}
	if (policy_proto_reply(action, reply, sizeof(reply), &rlen) != SMX_OK)
		abort();
	if (rlen != len + 9 || memcmp(reply, "action=", 7) != 0 ||
	    reply[rlen - 2] != '\n' || reply[rlen - 1] != '\n')
		abort();
}

/* Frame buf in two pieces split at cut; return the status and length. */
static enum smx_status
scan_split(const char *buf, size_t len, size_t cut, size_t *req_len)
{
	struct policy_scan s;
	char reason[128];
	enum smx_status st;

	policy_proto_scan_reset(&s);
	st = policy_proto_scan(&s, buf, cut, req_len, reason, sizeof(reason));
	if (st != SMX_NOTFOUND)
		return st;
	return policy_proto_scan(&s, buf, len, req_len, reason, sizeof(reason));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	size_t pos = 0;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	while (pos < size) {
		struct policy_scan scan;
		struct policy_request pr;
		struct smx_facts facts;
		struct smx_decision dec;
		char reason[128];
		size_t req_len = 0;
		size_t split_len = 0;
		enum smx_status st;

		policy_proto_scan_reset(&scan);
		st = policy_proto_scan(&scan, buf + pos, size - pos, &req_len,
		    reason, sizeof(reason));
		/* Incremental framing must agree with framing all at once. */
		if (scan_split(buf + pos, size - pos, (size - pos) / 2,
		        &split_len) != st ||
		    (st == SMX_OK && split_len != req_len))
			abort();
		if (st != SMX_OK)
			break;
		if (req_len == 0 || req_len > POLICY_REQUEST_MAX ||
		    req_len > size - pos)
			abort();
		if (policy_proto_parse(buf + pos, req_len, &pr, reason,
		        sizeof(reason)) == SMX_OK) {
			policy_proto_facts(&pr, &facts);
			smx_decide(cfg, &facts, &dec);
			check_action(dec.action);
			if (dec.is_audited)
				smx_decision_audit(&facts, &dec);
		} else if (reason[0] == '\0') {
			abort();
		}
		pos += req_len;
	}
	free(buf);
	return 0;
}
