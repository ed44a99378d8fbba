/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	fuzz_addr - libFuzzer harness for smx_addr_domains
 * DESCRIPTION
 *	Feeds arbitrary bytes as an envelope address and checks what the
 *	parser promises: on SMX_OK at most max domains, each of its kind's
 *	form (a host name without a trailing dot, or a bracketed address
 *	literal, found in the input and in lower case; or one unqualified
 *	entry, last, with an empty name), and no two the same; on any other
 *	status only SMX_INVALID. The same input is also tried with a small
 *	max so that the count limit is exercised. A broken promise aborts,
 *	which libFuzzer reports as a crash.
 * LIMITS
 *	Inputs longer than SMX_ADDR_MAX + 16 are cut there; everything over
 *	SMX_ADDR_MAX must be refused anyway.
 * DIAGNOSTICS
 *	abort() on a broken invariant; nothing else.
 * SECURITY
 *	Test code only; not installed.
 * SEE ALSO
 *	lib/smx_addr.h, tests/fuzz/run-fuzzers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smx_addr.h"
#include "smx_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const char *addr, size_t len, size_t max)
{
	struct smx_addr_domain d[SMX_ADDR_DOMAINS_MAX];
	size_t n = (size_t)-1;
	enum smx_status st;
	size_t i;
	size_t j;

	st = smx_addr_domains(addr, len, d, max, &n);
	if (st != SMX_OK) {
		if (st != SMX_INVALID || n != (size_t)-1)
			abort();
		return;
	}
	if (len > SMX_ADDR_MAX || n > max)
		abort();
	for (i = 0; i < n; i++) {
		size_t dlen = strnlen(d[i].name, sizeof(d[i].name));

		if (d[i].kind == SMX_ADDR_UNQUALIFIED) {
			if (dlen != 0 || i != n - 1 || len == 0)
				abort();
			continue;
		}
		if (dlen == 0 || dlen > SMX_DOMAIN_MAX)
			abort();
		if (d[i].kind == SMX_ADDR_LITERAL) {
			if (d[i].name[0] != '[' || d[i].name[dlen - 1] != ']')
				abort();
		} else if (d[i].kind != SMX_ADDR_DOMAIN ||
		    !smx_is_hostname(d[i].name, dlen) ||
		    d[i].name[dlen - 1] == '.') {
			abort();
		}
		for (j = 0; j < dlen; j++) {
			if (d[i].name[j] >= 'A' && d[i].name[j] <= 'Z')
				abort();
		}
		/* Each domain must be in the input, ignoring case. */
		for (j = 0; j + dlen <= len; j++) {
			if (smx_ascii_ncasecmp(addr + j, d[i].name, dlen) == 0)
				break;
		}
		if (j + dlen > len)
			abort();
		for (j = 0; j < i; j++) {
			if (d[i].kind == d[j].kind &&
			    strcmp(d[i].name, d[j].name) == 0)
				abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *addr = (const char *)data;

	if (size > SMX_ADDR_MAX + 16)
		size = SMX_ADDR_MAX + 16;
	check(addr, size, SMX_ADDR_DOMAINS_MAX);
	check(addr, size, 2);
	return 0;
}
