/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_util - numbers, time values, bounded copies and ASCII helpers
 * DESCRIPTION
 *	The single place where text becomes a number, so that every caller
 *	gets the same checks (digits only, range, overflow).
 * LIMITS
 *	Numbers fit unsigned long; time values are checked against the
 *	caller's range before the unit is applied and after.
 * DIAGNOSTICS
 *	Returns SMX_INVALID for anything that is not exactly a number in
 *	range; logs nothing.
 * SECURITY
 *	No locale-dependent ctype calls: protocol text is ASCII.
 * SEE ALSO
 *	postconf(5), "time value" parameters.
 */
#include "smx_util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "smx_limits.h"

const char *
smx_status_name(enum smx_status st)
{
	switch (st) {
	case SMX_OK:
		return "ok";
	case SMX_NOTFOUND:
		return "notfound";
	case SMX_TEMPFAIL:
		return "tempfail";
	case SMX_PERMFAIL:
		return "permfail";
	case SMX_INVALID:
		return "invalid";
	}
	return "unknown";
}

const char *
smx_strerror(int err, char *buf, size_t size)
{
	int saved = errno;

	if (size == 0)
		return "";
	if (strerror_r(err, buf, size) != 0)
		(void)snprintf(buf, size, "error %d", err);
	errno = saved;
	return buf;
}

void
smx_wipe(void *p, size_t len)
{
	volatile unsigned char *v = p;

	while (len-- > 0)
		*v++ = 0;
}

enum smx_status
smx_parse_ulong(const char *s, size_t len, unsigned long min, unsigned long max,
    unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0)
		return SMX_INVALID;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return SMX_INVALID;
		d = (unsigned)(s[i] - '0');
		if (v > (ULONG_MAX - d) / 10)
			return SMX_INVALID;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return SMX_INVALID;
	*out = v;
	return SMX_OK;
}

enum smx_status
smx_parse_time(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	unsigned long mult = 1;
	unsigned long v;
	size_t len = strlen(s);

	if (len == 0)
		return SMX_INVALID;
	switch (s[len - 1]) {
	case 's':
		mult = 1;
		len--;
		break;
	case 'm':
		mult = 60;
		len--;
		break;
	case 'h':
		mult = 3600;
		len--;
		break;
	case 'd':
		mult = 86400;
		len--;
		break;
	case 'w':
		mult = 7 * 86400;
		len--;
		break;
	default:
		break;
	}
	if (smx_parse_ulong(s, len, 0, ULONG_MAX / mult, &v) != SMX_OK)
		return SMX_INVALID;
	v *= mult;
	if (v < min || v > max)
		return SMX_INVALID;
	*out = v;
	return SMX_OK;
}

size_t
smx_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

static int
ascii_tolower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

void
smx_ascii_lower(char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		s[i] = (char)ascii_tolower((unsigned char)s[i]);
}

int
smx_ascii_ncasecmp(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int ca = ascii_tolower((unsigned char)a[i]);
		int cb = ascii_tolower((unsigned char)b[i]);

		if (ca != cb)
			return ca - cb;
		if (ca == '\0')
			return 0;
	}
	return 0;
}

int
smx_ascii_casecmp(const char *a, const char *b)
{
	return smx_ascii_ncasecmp(a, b, (size_t)-1);
}

size_t
smx_escape(char *out, size_t size, size_t *used, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = *used;
	size_t i;

	if (size == 0)
		return 0;
	if (n >= size)
		n = size - 1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (n + 1 >= size)
				break;
			out[n++] = (char)c;
			continue;
		}
		if (n + 4 >= size)
			break;
		out[n++] = '\\';
		out[n++] = 'x';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 0xf];
	}
	out[n] = '\0';
	*used = n;
	return i;
}

bool
smx_is_host_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool
smx_is_hostname(const char *s, size_t len)
{
	size_t label = 0;
	size_t i;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > SMX_DOMAIN_MAX || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!smx_is_host_char(c))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > SMX_LABEL_MAX)
			return false;
	}
	return s[len - 1] != '-';
}
