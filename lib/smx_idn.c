/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_idn - internationalised domain names as lower-case A-labels
 * DESCRIPTION
 *	Domains reach secmx in UTF-8 from two sides: SMTPUTF8 recipients in
 *	policy requests ("bob@s\xc3\xb6r.example") and keys that operators
 *	write in tables. Tables, the DNS and Postfix's own lookups compare
 *	the ASCII form, so both are converted to A-labels (RFC 5890) before
 *	they are compared: IDNA2008 (RFC 5891) with the UTS #46
 *	non-transitional mapping and NFC, which is what libidn2's
 *	idn2_lookup_u8 does with IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL, and
 *	what browsers and current mail software use.
 *
 *	The name is split at '.' and converted label by label: an ASCII
 *	label is only lower-cased, without calling libidn2, so a name that
 *	is all ASCII never reaches it (the common case, and the case of
 *	every table key written as an A-label), and an ASCII label next to
 *	a UTF-8 one is treated the same way. A UTF-8 label goes through
 *	libidn2; UTS #46 may map characters such as U+3002 to '.', so its
 *	result can hold more than one label. The whole result must then be
 *	a host name (smx_is_hostname) of at most SMX_DOMAIN_MAX bytes.
 *
 *	This is the only module that includes idn2.h.
 * LIMITS
 *	SMX_IDN_INPUT_MAX bytes of input; a result of SMX_DOMAIN_MAX bytes,
 *	labels of SMX_LABEL_MAX (lib/smx_limits.h).
 * DIAGNOSTICS
 *	SMX_INVALID for input that is not a domain name in ASCII or valid
 *	UTF-8 IDNA2008, SMX_TEMPFAIL when libidn2 runs out of memory.
 *	Nothing is logged: callers decide what a bad name means.
 * SECURITY
 *	Names are untrusted. Input is bounded and checked for NUL before
 *	libidn2 sees it (it takes NUL-terminated strings); libidn2 itself
 *	validates the UTF-8. Its output is bounded and checked as a host
 *	name before it is copied out, so callers only ever see ASCII
 *	letters, digits, '-', '_' and '.'.
 * SEE ALSO
 *	RFC 5890, RFC 5891, Unicode Technical Standard #46; libidn2
 *	idn2_lookup_u8(3); RFC 6531 (SMTPUTF8).
 */
#include "smx_idn.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <idn2.h>

#include "smx_util.h"

static bool
is_ascii(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return false;
	}
	return true;
}

/*
 * append - len bytes of s to out (used bytes so far in *used), keeping
 * room for the terminator; false when it does not fit.
 */
static bool
append(char *out, size_t size, size_t *used, const char *s, size_t len)
{
	if (len >= size - *used)
		return false;
	memcpy(out + *used, s, len);
	*used += len;
	out[*used] = '\0';
	return true;
}

/*
 * utf8_label - one label with non-ASCII bytes (len bytes, no NUL) through
 * libidn2, appended to out.
 */
static enum smx_status
utf8_label(const char *label, size_t len, char *out, size_t size, size_t *used)
{
	char in[SMX_IDN_INPUT_MAX + 1];
	uint8_t *alabel = NULL;
	enum smx_status st = SMX_OK;
	int rc;

	if (len > SMX_IDN_INPUT_MAX)
		return SMX_INVALID;
	memcpy(in, label, len);
	in[len] = '\0';
	rc = idn2_lookup_u8((const uint8_t *)in, &alabel,
	    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc == IDN2_MALLOC)
		return SMX_TEMPFAIL;
	if (rc != IDN2_OK || alabel == NULL)
		st = SMX_INVALID;
	else if (!append(out, size, used, (const char *)alabel,
	             strnlen((const char *)alabel, SMX_DOMAIN_MAX + 1)))
		st = SMX_INVALID;
	idn2_free(alabel);
	return st;
}

enum smx_status
smx_idn_to_ascii(const char *name, size_t len, char *out, size_t size)
{
	char buf[SMX_DOMAIN_MAX + 1];
	bool has_dot = false;
	size_t used = 0;
	size_t start = 0;
	enum smx_status st;

	if (len == 0 || len > SMX_IDN_INPUT_MAX || size < SMX_DOMAIN_MAX + 1 ||
	    memchr(name, '\0', len) != NULL)
		return SMX_INVALID;
	if (len > 1 && name[len - 1] == '.') {
		has_dot = true;
		len--;
	}
	buf[0] = '\0';
	while (start <= len) {
		const char *dot = memchr(name + start, '.', len - start);
		size_t end = dot != NULL ? (size_t)(dot - name) : len;
		size_t n = end - start;

		if (n == 0)
			return SMX_INVALID;
		if (is_ascii(name + start, n)) {
			if (!append(buf, sizeof(buf), &used, name + start, n))
				return SMX_INVALID;
		} else if ((st = utf8_label(name + start, n, buf, sizeof(buf),
		                &used)) != SMX_OK) {
			return st;
		}
		if (dot != NULL && !append(buf, sizeof(buf), &used, ".", 1))
			return SMX_INVALID;
		start = end + 1;
	}
	/* A mapped last label may end in '.' (U+3002 and its kin): the
	 * trailing dot of the name, unless it had one already. */
	if (!has_dot && used > 1 && buf[used - 1] == '.')
		buf[--used] = '\0';
	if (used == 0 || buf[used - 1] == '.' || !smx_is_hostname(buf, used))
		return SMX_INVALID;
	smx_ascii_lower(buf, used);
	memcpy(out, buf, used + 1);
	return SMX_OK;
}

enum smx_status
smx_idn_key_domain(const char *key, size_t len, char *out, size_t size)
{
	size_t i = len;

	while (i > 0 && key[i - 1] != '@')
		i--;
	return smx_idn_to_ascii(key + i, len - i, out, size);
}
