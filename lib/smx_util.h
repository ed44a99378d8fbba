/* SPDX-License-Identifier: MIT */
#ifndef SMX_UTIL_H
#define SMX_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_status.h"

/*
 * smx_parse_ulong - the one number parser for untrusted text: decimal
 * digits only (no sign, no space, no base prefix), len bytes of s, value
 * within [min, max]. Writes *out only on SMX_OK; SMX_INVALID otherwise.
 */
enum smx_status smx_parse_ulong(const char *s, size_t len, unsigned long min,
    unsigned long max, unsigned long *out);

/*
 * smx_parse_time - a Postfix time value: digits with an optional unit
 * s (seconds, the default), m, h, d or w, as in postconf(5). The result in
 * seconds must lie within [min, max]. Writes *out only on SMX_OK;
 * SMX_INVALID otherwise.
 */
enum smx_status smx_parse_time(const char *s, unsigned long min,
    unsigned long max, unsigned long *out);

/*
 * smx_strlcpy - copy src into dst of size bytes, always NUL-terminated when
 * size > 0. Returns strlen(src); a result >= size means it was truncated.
 */
size_t smx_strlcpy(char *dst, const char *src, size_t size);

/*
 * smx_strerror - the text of err in buf (size bytes) and buf itself, for
 * code that may run in several threads at once: strerror(3) may return a
 * buffer shared by all threads (POSIX leaves it not thread-safe); this
 * uses the XSI strerror_r(3). Unknown numbers give "error N". Never
 * fails; preserves errno.
 */
const char *smx_strerror(int err, char *buf, size_t size);

/*
 * smx_wipe - overwrite len bytes at p with zeros in a way the compiler
 * may not drop, before secrets (TLS session state) are freed. NULL is
 * fine when len is 0.
 */
void smx_wipe(void *p, size_t len);

/* smx_ascii_lower - lower-case A-Z in place, independent of the locale. */
void smx_ascii_lower(char *s, size_t len);

/* smx_ascii_casecmp - strcasecmp(3) in ASCII, independent of the locale. */
int smx_ascii_casecmp(const char *a, const char *b);

/* smx_ascii_ncasecmp - the same for at most n bytes. */
int smx_ascii_ncasecmp(const char *a, const char *b, size_t n);

/*
 * smx_escape - append len bytes of in to out (size bytes; out[*used..]
 * is where writing starts and *used is advanced; always NUL-terminated
 * when size > 0) with control bytes, DEL, backslash and non-ASCII bytes
 * as "\xNN", so that untrusted text (a server's reply) can be logged
 * without losing what it was. Stops at the first byte whose escape would
 * not fit; returns the number of input bytes taken. Never fails.
 */
size_t smx_escape(char *out, size_t size, size_t *used, const char *in,
    size_t len);

/*
 * smx_is_host_char - true for the bytes a host name label may hold: ASCII
 * letters, digits, '-' and '_' (smx_is_hostname). Locale-independent.
 */
bool smx_is_host_char(int c);

/*
 * smx_is_hostname - true when the len bytes of s are a host name: labels
 * of letters, digits and hyphens (underscore allowed, as in SRV owner
 * labels), no empty label, no label over SMX_LABEL_MAX, no leading or
 * trailing hyphen in a label, at most SMX_DOMAIN_MAX in all, an optional
 * single trailing dot.
 */
bool smx_is_hostname(const char *s, size_t len);

#endif
