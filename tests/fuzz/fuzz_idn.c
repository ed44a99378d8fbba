/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	fuzz_idn - libFuzzer harness for smx_idn
 * DESCRIPTION
 *	Feeds arbitrary bytes to smx_idn_to_ascii and smx_idn_key_domain
 *	and checks what they promise: the status is SMX_OK, SMX_INVALID or
 *	SMX_TEMPFAIL; on SMX_OK the result is a host name of at most
 *	SMX_DOMAIN_MAX bytes, lower case, without a trailing dot, and
 *	converting it again gives itself; ASCII input is converted exactly
 *	when it is a host name, to itself in lower case; the key form is the
 *	conversion of the part after the last '@'. A broken promise aborts,
 *	which libFuzzer reports as a crash.
 * LIMITS
 *	Inputs longer than SMX_IDN_INPUT_MAX + 16 are cut there; everything
 *	over SMX_IDN_INPUT_MAX must be refused anyway.
 * DIAGNOSTICS
 *	abort() on a broken invariant; nothing else.
 * SECURITY
 *	Test code only; not installed.
 * SEE ALSO
 *	lib/smx_idn.h, tests/fuzz/run-fuzzers.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smx_idn.h"
#include "smx_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_result(const char *out)
{
	size_t len = strnlen(out, SMX_DOMAIN_MAX + 1);
	char again[SMX_DOMAIN_MAX + 1];
	size_t i;

	if (len == 0 || len > SMX_DOMAIN_MAX || out[len - 1] == '.' ||
	    !smx_is_hostname(out, len))
		abort();
	for (i = 0; i < len; i++) {
		if (out[i] >= 'A' && out[i] <= 'Z')
			abort();
	}
	if (smx_idn_to_ascii(out, len, again, sizeof(again)) != SMX_OK ||
	    strcmp(again, out) != 0)
		abort();
}

/* ascii_expected - what ASCII input must give, or false for invalid. */
static bool
ascii_expected(const char *in, size_t len, char *want)
{
	if (len > 1 && in[len - 1] == '.')
		len--;
	if (len == 0 || in[len - 1] == '.' || !smx_is_hostname(in, len))
		return false;
	memcpy(want, in, len);
	want[len] = '\0';
	smx_ascii_lower(want, len);
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char out[SMX_DOMAIN_MAX + 1];
	char key_out[SMX_DOMAIN_MAX + 1];
	char want[SMX_IDN_INPUT_MAX + 17];
	enum smx_status st;
	enum smx_status key_st;
	bool is_ascii = true;
	size_t at = 0;
	size_t i;

	if (size > SMX_IDN_INPUT_MAX + 16)
		size = SMX_IDN_INPUT_MAX + 16;
	for (i = 0; i < size; i++) {
		if (data[i] >= 0x80)
			is_ascii = false;
		if (data[i] == '@')
			at = i + 1;
	}
	st = smx_idn_to_ascii(in, size, out, sizeof(out));
	if (st != SMX_OK && st != SMX_INVALID && st != SMX_TEMPFAIL)
		abort();
	if (st == SMX_OK)
		check_result(out);
	if (size > SMX_IDN_INPUT_MAX && st != SMX_INVALID)
		abort();
	if (is_ascii && size <= SMX_IDN_INPUT_MAX &&
	    memchr(in, '\0', size) == NULL) {
		bool ok = ascii_expected(in, size, want);

		if (ok != (st == SMX_OK) || (ok && strcmp(out, want) != 0))
			abort();
	}
	/* The key form: the same conversion after the last '@'. */
	key_st = smx_idn_key_domain(in, size, key_out, sizeof(key_out));
	st = smx_idn_to_ascii(in + at, size - at, out, sizeof(out));
	if (key_st != st || (st == SMX_OK && strcmp(key_out, out) != 0))
		abort();
	return 0;
}
