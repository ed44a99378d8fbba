/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	fuzz_addr - libFuzzer harness for smx_addr_domains
 * DESCRIPTION
 *	Feeds arbitrary bytes as an envelope address and checks what the
 *	parser promises: on SMX_OK at most max domains, each of its kind's
 *	form, in lower case and printable ASCII: a host name without a
 *	trailing dot (found in the input unless the input has non-ASCII
 *	bytes, which become A-labels), a bracketed address literal found in
 *	the input, a bad IDN name of host-name bytes and at least one '?',
 *	or one unqualified entry, last, with an empty name; no two the
 *	same; on any other status only SMX_INVALID. Every domain is also
 *	read alone by smx_addr_domain_parse, which must agree. The same
 *	input is also tried with a small max so that the count limit is
 *	exercised. A broken promise aborts, which libFuzzer reports as a
 *	crash.
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
#include <stdbool.h>
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
	bool has_utf8 = false;
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
	for (i = 0; i < len; i++)
		has_utf8 |= (unsigned char)addr[i] >= 0x80;
	for (i = 0; i < n; i++) {
		size_t dlen = strnlen(d[i].name, sizeof(d[i].name));
		struct smx_addr_domain again;

		if (d[i].kind == SMX_ADDR_UNQUALIFIED) {
			if (dlen != 0 || i != n - 1 || len == 0)
				abort();
			continue;
		}
		if (dlen == 0 || dlen > SMX_DOMAIN_MAX)
			abort();
		for (j = 0; j < dlen; j++) {
			unsigned char c = (unsigned char)d[i].name[j];

			if ((c >= 'A' && c <= 'Z') || c < 0x20 || c >= 0x7f)
				abort();
		}
		switch (d[i].kind) {
		case SMX_ADDR_LITERAL:
			if (d[i].name[0] != '[' || d[i].name[dlen - 1] != ']')
				abort();
			break;
		case SMX_ADDR_DOMAIN:
			if (!smx_is_hostname(d[i].name, dlen) ||
			    d[i].name[dlen - 1] == '.')
				abort();
			break;
		case SMX_ADDR_BAD_IDN:
			if (!has_utf8 || strchr(d[i].name, '?') == NULL)
				abort();
			for (j = 0; j < dlen; j++) {
				if (!smx_is_host_char(d[i].name[j]) &&
				    d[i].name[j] != '.' && d[i].name[j] != '?')
					abort();
			}
			continue;
		default:
			abort();
		}
		/* The name read alone is the same entry. */
		if (smx_addr_domain_parse(d[i].name, dlen, &again) != SMX_OK ||
		    again.kind != d[i].kind ||
		    strcmp(again.name, d[i].name) != 0)
			abort();
		/* Each domain must be in the input, ignoring case, unless it
		 * was converted from UTF-8. */
		for (j = 0; j + dlen <= len; j++) {
			if (smx_ascii_ncasecmp(addr + j, d[i].name, dlen) == 0)
				break;
		}
		if (j + dlen > len && !has_utf8)
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
