/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	fuzz_dns_srv - libFuzzer harness for the DNS reply parsers
 * DESCRIPTION
 *	Feeds arbitrary bytes as a wire-format reply to smx_dns_srv_parse,
 *	smx_dns_mx_parse, smx_dns_addrs_parse and smx_dns_tlsa_parse (TLSA
 *	at _25._tcp.example.org), with the query ID taken
 *	from the input so that the fuzzer gets past the ID check, and checks
 *	what the parsers promise: no crash; on SMX_OK at most the cap of
 *	records, every target a host name in lower case without the trailing
 *	dot, is_null exactly when nothing else is returned; otherwise
 *	SMX_NOTFOUND or SMX_TEMPFAIL with the result untouched (the query
 *	name is valid, so never SMX_INVALID or SMX_PERMFAIL). SRV results
 *	are then ordered and must stay a permutation in priority order. A
 *	broken promise aborts, which libFuzzer reports as a crash.
 * LIMITS
 *	Inputs over SMX_DNS_REPLY_MAX + 16 bytes are cut there; the parser
 *	must refuse everything over SMX_DNS_REPLY_MAX anyway.
 * DIAGNOSTICS
 *	abort() on a broken invariant; nothing else.
 * SECURITY
 *	Test code only; not installed.
 * SEE ALSO
 *	lib/smx_dns.h, tests/fuzz/run-fuzzers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "smx_dns.h"
#include "smx_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QNAME "_secmx._tcp.example.org"
#define MXNAME "example.org"
#define TLSANAME "_25._tcp.example.org"

static void
check_host(const char *name)
{
	size_t len = strnlen(name, SMX_DOMAIN_MAX + 1);
	size_t i;

	if (len == 0 || len > SMX_DOMAIN_MAX || name[len - 1] == '.' ||
	    !smx_is_hostname(name, len))
		abort();
	for (i = 0; i < len; i++) {
		if (name[i] >= 'A' && name[i] <= 'Z')
			abort();
	}
}

static void
check_reason(const char *reason, size_t size)
{
	size_t len = strnlen(reason, size);
	size_t i;

	if (len == 0 || len == size)
		abort();
	for (i = 0; i < len; i++) {
		if ((unsigned char)reason[i] < 0x20)
			abort();
	}
}

/* The order draws from the input bytes: deterministic per input. */
struct bytes {
	const uint8_t *data;
	size_t size;
	size_t pos;
};

static uint64_t
bytes_rnd(uint64_t bound, void *ctx)
{
	struct bytes *b = ctx;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | (b->size ? b->data[b->pos++ % b->size] : 0);
	return v % bound;
}

static enum smx_status
fuzz_srv(const uint8_t *data, size_t size, uint16_t qid)
{
	static struct smx_dns_srv_set set;
	static struct smx_dns_srv before[SMX_SRV_MAX];
	char reason[SMX_DNS_REASON_MAX];
	struct bytes b = { data, size, 0 };
	enum smx_status st;
	size_t i;
	size_t j;

	memset(&set, 0x5a, sizeof(set));
	reason[0] = '\0';
	st = smx_dns_srv_parse(data, size, QNAME, qid, &set, reason,
	    sizeof(reason));
	if (st != SMX_OK) {
		if (st != SMX_NOTFOUND && st != SMX_TEMPFAIL)
			abort();
		if (set.n_srv != 0x5a5a5a5a5a5a5a5aULL)
			abort();
		check_reason(reason, sizeof(reason));
		return st;
	}
	if (set.n_srv > SMX_SRV_MAX || set.is_null != (set.n_srv == 0))
		abort();
	for (i = 0; i < set.n_srv; i++)
		check_host(set.srv[i].target);
	memcpy(before, set.srv, set.n_srv * sizeof(before[0]));
	smx_order_srv(set.srv, set.n_srv, bytes_rnd, &b);
	for (i = 0; i < set.n_srv; i++) {
		if (i > 0 && set.srv[i - 1].priority > set.srv[i].priority)
			abort();
		/* Every record still there: compare as multisets by port. */
		for (j = 0; j < set.n_srv; j++) {
			if (memcmp(&before[j], &set.srv[i],
			        sizeof(before[j])) == 0)
				break;
		}
		if (j == set.n_srv)
			abort();
	}
	return st;
}

static void
fuzz_mx(const uint8_t *data, size_t size, uint16_t qid)
{
	static struct smx_dns_mx_set set;
	char reason[SMX_DNS_REASON_MAX];
	enum smx_status st;
	size_t i;

	memset(&set, 0x5a, sizeof(set));
	st = smx_dns_mx_parse(data, size, MXNAME, qid, &set, reason,
	    sizeof(reason));
	if (st != SMX_OK) {
		if ((st != SMX_NOTFOUND && st != SMX_TEMPFAIL) ||
		    set.n_mx != 0x5a5a5a5a5a5a5a5aULL)
			abort();
		check_reason(reason, sizeof(reason));
		return;
	}
	if (set.n_mx > SMX_MX_MAX || set.is_null != (set.n_mx == 0) ||
	    set.is_implicit)
		abort();
	for (i = 0; i < set.n_mx; i++)
		check_host(set.mx[i].exchange);
}

static void
fuzz_addrs(const uint8_t *data, size_t size, uint16_t qid, int family)
{
	static struct smx_dns_addr_set set;
	char reason[SMX_DNS_REASON_MAX];
	enum smx_status st;
	size_t i;

	memset(&set, 0, sizeof(set));
	st = smx_dns_addrs_parse(data, size, MXNAME, qid, family, 25, &set,
	    reason, sizeof(reason));
	if (st != SMX_OK) {
		if ((st != SMX_NOTFOUND && st != SMX_TEMPFAIL) ||
		    set.n_addrs != 0)
			abort();
		return;
	}
	if (set.n_addrs == 0 || set.n_addrs > SMX_DNS_ADDRS_FAMILY_MAX)
		abort();
	for (i = 0; i < set.n_addrs; i++) {
		if (set.addr[i].family != family || set.addr[i].port != 25 ||
		    strnlen(set.addr[i].text, sizeof(set.addr[i].text)) ==
		        sizeof(set.addr[i].text))
			abort();
	}
}

static void
fuzz_tlsa(const uint8_t *data, size_t size, uint16_t qid)
{
	static struct smx_dns_tlsa_set set;
	char reason[SMX_DNS_REASON_MAX];
	enum smx_status st;
	size_t i;

	memset(&set, 0x5a, sizeof(set));
	st = smx_dns_tlsa_parse(data, size, TLSANAME, qid, &set, reason,
	    sizeof(reason));
	if (st != SMX_OK) {
		if ((st != SMX_NOTFOUND && st != SMX_TEMPFAIL) ||
		    set.n_rr != 0x5a5a5a5a5a5a5a5aULL)
			abort();
		check_reason(reason, sizeof(reason));
		return;
	}
	if (set.n_rr == 0 || set.n_rr > SMX_TLSA_MAX)
		abort();
	for (i = 0; i < set.n_rr; i++) {
		if (set.rr[i].len == 0 || set.rr[i].len > SMX_TLSA_DATA_MAX)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t qid = 0;

	if (size > SMX_DNS_REPLY_MAX + 16)
		size = SMX_DNS_REPLY_MAX + 16;
	if (size >= 2)
		qid = (uint16_t)(data[0] << 8 | data[1]);
	fuzz_srv(data, size, qid);
	/* With any other ID the reply must be refused. */
	if (fuzz_srv(data, size, (uint16_t)(qid + 1)) == SMX_OK)
		abort();
	fuzz_mx(data, size, qid);
	fuzz_addrs(data, size, qid, AF_INET);
	fuzz_addrs(data, size, qid, AF_INET6);
	fuzz_tlsa(data, size, qid);
	return 0;
}
