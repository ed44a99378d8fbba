/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_addr - effective recipient domains of an envelope address
 * DESCRIPTION
 *	Finds every domain that an address, as Postfix passes it in a policy
 *	request, can route mail to, so that the receiver policy can apply
 *	the strictest role of any of them. The address is split as follows:
 *	- one pair of angle brackets is tolerated and removed;
 *	- an RFC 5321 source route ("@a.example,@b.example:") is checked for
 *	  syntax and then ignored, as RFC 5321 section 3.3 tells a receiver
 *	  to do; only the final mailbox counts;
 *	- quoted strings ('"' to '"', with backslash escaping the next byte)
 *	  are opaque: '@', '%' and '!' inside them are plain characters;
 *	- the domain is what follows the last '@' outside quotes;
 *	- the local part is split at every '%', '@' and '!' outside quotes.
 *	  A piece that follows '%' or '@' is a percent-hack domain
 *	  ("user%sor.example@relay", RFC 1123 section 5.2.16); a piece that
 *	  is followed by '!' is a UUCP bang-path host ("sor.example!user").
 *	  The remaining pieces are user names and are not examined. This is
 *	  deliberately generous: a piece that either reading would route to
 *	  is treated as a domain.
 *	The result order is defined as: the domain after the last '@'; then
 *	percent-hack domains from right to left (the order in which relays
 *	strip them: "a%b%c@relay" gives relay, c, b); then bang-path hosts
 *	from left to right (the order of delivery: "h1!h2!user@relay" gives
 *	relay, h1, h2). Each domain is lower-cased, has its trailing dot
 *	removed, and appears once (its first position). Address literals
 *	("[192.0.2.1]", "[IPv6:2001:db8::1]") are reported as such, with
 *	their brackets: the host they name is not in the DNS. A domain in
 *	UTF-8 (SMTPUTF8, RFC 6531) is converted to A-labels, so that it
 *	matches tables, which hold that form; one that cannot be converted
 *	is reported as a bad IDN name rather than dropped, so that the
 *	caller can fail closed.
 *	The percent and bang rules also apply to an address without '@'
 *	("user%sor.example" gives sor.example). Such an address, and a bare
 *	local part such as "postmaster", also gets one unqualified entry,
 *	last: Postfix completes it with $myorigin, and with
 *	allow_percent_hack or swap_bangpath off it does so even when '%' or
 *	'!' name a domain.
 * LIMITS
 *	SMX_ADDR_MAX bytes of address (Postfix line_length_limit); at most
 *	the caller's max domains (SMX_ADDR_DOMAINS_MAX in practice); each
 *	domain at most SMX_DOMAIN_MAX bytes (smx_is_hostname), an address
 *	literal too, brackets included.
 * DIAGNOSTICS
 *	SMX_INVALID, without logging, for an address over SMX_ADDR_MAX, any
 *	control byte (NUL, CR, LF, other bytes below 0x20, DEL; RFC 5321
 *	section 4.1.2 allows none of them, even quoted), an unbalanced
 *	quote or angle bracket, a bad source route, a domain piece that is
 *	neither a host name nor an address literal, or more than max
 *	distinct domains. The caller decides what an invalid address means.
 * SECURITY
 *	The address is untrusted. Parsing is a bounded single pass over at
 *	most SMX_ADDR_MAX bytes into fixed arrays; nothing is allocated.
 *	Non-ASCII bytes are allowed in the local part (SMTPUTF8); in a
 *	domain they must be UTF-8 that smx_idn converts to A-labels, and
 *	they never reach the caller: a domain that cannot be converted is
 *	reported as such, its non-ASCII bytes replaced by '?'.
 * SEE ALSO
 *	RFC 5321 sections 3.3, 4.1.2 and 4.1.3; RFC 1123 section 5.2.16;
 *	Postfix allow_percent_hack and swap_bangpath in postconf(5).
 */
#include "smx_addr.h"

#include <stdbool.h>
#include <string.h>

#include "smx_idn.h"
#include "smx_util.h"

_Static_assert(SMX_ADDR_MAX <= 65535, "positions are unsigned short");

static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * is_literal - the len bytes inside "[...]" look like an address literal:
 * RFC 5321 section 4.1.3 allows IPv4 digits and dots, "IPv6:" forms and
 * general "tag:content" forms; we accept their union of characters.
 */
static bool
is_literal(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == ':' ||
		        c == '-'))
			return false;
	}
	return true;
}

static bool
is_bracketed(const char *s, size_t len)
{
	return len >= 2 && s[0] == '[' && s[len - 1] == ']';
}

/*
 * is_domain - smx_is_hostname, and not ending in "..": smx_is_hostname
 * strips one trailing dot and then accepts a name that still ends in a
 * dot, which would leave an empty last label.
 */
static bool
is_domain(const char *s, size_t len)
{
	if (len >= 2 && s[len - 1] == '.' && s[len - 2] == '.')
		return false;
	return smx_is_hostname(s, len);
}

/*
 * add_entry - append name (len bytes, lower-cased on the way) of kind to
 * out unless an entry of that kind and name is there already.
 * SMX_INVALID when out is full.
 */
static enum smx_status
add_entry(enum smx_addr_kind kind, const char *name, size_t len,
    struct smx_addr_domain *out, size_t max, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (out[i].kind == kind && strlen(out[i].name) == len &&
		    smx_ascii_ncasecmp(out[i].name, name, len) == 0)
			return SMX_OK;
	}
	if (*n >= max || len > SMX_DOMAIN_MAX)
		return SMX_INVALID;
	out[*n].kind = kind;
	memcpy(out[*n].name, name, len);
	out[*n].name[len] = '\0';
	smx_ascii_lower(out[*n].name, len);
	(*n)++;
	return SMX_OK;
}

/* copy_lower - len bytes of s as a lower-case name of d; kind set. */
static void
copy_lower(struct smx_addr_domain *d, enum smx_addr_kind kind, const char *s,
    size_t len)
{
	d->kind = kind;
	memcpy(d->name, s, len);
	d->name[len] = '\0';
	smx_ascii_lower(d->name, len);
}

/*
 * parse_idn - a domain piece with non-ASCII bytes: its A-labels, or, when
 * it cannot be converted but has only host-name and non-ASCII bytes, a
 * bad IDN name: at most SMX_DOMAIN_MAX bytes of it, '?' for each
 * non-ASCII byte and for the last byte kept of a name that is cut. SMX_INVALID
 * for other pieces ("a b.s\xc3\xb6r").
 */
static enum smx_status
parse_idn(const char *s, size_t len, struct smx_addr_domain *d)
{
	char name[SMX_DOMAIN_MAX + 1];
	size_t i;

	if (len >= 2 && s[len - 1] == '.' && s[len - 2] == '.')
		return SMX_INVALID; /* as is_domain */
	if (smx_idn_to_ascii(s, len, name, sizeof(name)) == SMX_OK) {
		copy_lower(d, SMX_ADDR_DOMAIN, name, strlen(name));
		return SMX_OK;
	}
	if (len > 1 && s[len - 1] == '.')
		len--;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c >= 0x80 || smx_is_host_char(c) || c == '.'))
			return SMX_INVALID;
		if (i < SMX_DOMAIN_MAX)
			name[i] = c >= 0x80 ? '?' : (char)c;
	}
	/* A name cut short ends in '?' too. */
	if (len > SMX_DOMAIN_MAX) {
		len = SMX_DOMAIN_MAX;
		name[len - 1] = '?';
	}
	copy_lower(d, SMX_ADDR_BAD_IDN, name, len);
	return SMX_OK;
}

enum smx_status
smx_addr_domain_parse(const char *s, size_t len, struct smx_addr_domain *out)
{
	struct smx_addr_domain d;
	size_t i;

	if (is_bracketed(s, len)) {
		if (len > SMX_DOMAIN_MAX || !is_literal(s + 1, len - 2))
			return SMX_INVALID;
		copy_lower(&d, SMX_ADDR_LITERAL, s, len);
		*out = d;
		return SMX_OK;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80) {
			if (parse_idn(s, len, &d) != SMX_OK)
				return SMX_INVALID;
			*out = d;
			return SMX_OK;
		}
	}
	if (!is_domain(s, len))
		return SMX_INVALID;
	if (s[len - 1] == '.')
		len--;
	copy_lower(&d, SMX_ADDR_DOMAIN, s, len);
	*out = d;
	return SMX_OK;
}

/*
 * add_domain - append one domain piece (smx_addr_domain_parse) unless it
 * is there already. SMX_INVALID for a piece that is not a domain, or
 * when out is full.
 */
static enum smx_status
add_domain(const char *s, size_t len, struct smx_addr_domain *out, size_t max,
    size_t *n)
{
	struct smx_addr_domain d;

	if (smx_addr_domain_parse(s, len, &d) != SMX_OK)
		return SMX_INVALID;
	return add_entry(d.kind, d.name, strlen(d.name), out, max, n);
}

/*
 * skip_route - addr starts with '@': check "@dom(,@dom)*:" and return in
 * *skip the bytes up to and including the ':'. Route domains are host
 * names or address literals; they are not reported.
 */
static enum smx_status
skip_route(const char *addr, size_t len, size_t *skip)
{
	size_t i = 0;

	for (;;) {
		size_t start;

		if (i >= len || addr[i] != '@')
			return SMX_INVALID;
		start = ++i;
		while (i < len && addr[i] != ',' && addr[i] != ':')
			i++;
		if (i >= len)
			return SMX_INVALID;
		if (start < len && addr[start] == '[') {
			/* An IPv6 literal holds ':'; find its ']' first. */
			const char *end =
			    memchr(addr + start, ']', len - start);

			if (end == NULL)
				return SMX_INVALID;
			i = (size_t)(end - addr) + 1;
			if (i >= len || (addr[i] != ',' && addr[i] != ':') ||
			    !is_literal(addr + start + 1, i - start - 2))
				return SMX_INVALID;
		} else if (!is_domain(addr + start, i - start)) {
			return SMX_INVALID;
		}
		if (addr[i] == ':') {
			*skip = i + 1;
			return SMX_OK;
		}
		i++; /* past ',' */
	}
}

/*
 * local_domains - the percent-hack and bang-path domains of a local part
 * of len bytes whose quotes are known to balance. See DESCRIPTION for the
 * rules and the order.
 */
static enum smx_status
local_domains(const char *local, size_t len, struct smx_addr_domain *out,
    size_t max, size_t *n)
{
	/* Positions of '%', '@' and '!' outside quotes; len <= SMX_ADDR_MAX. */
	unsigned short pos[SMX_ADDR_MAX];
	size_t n_pos = 0;
	bool in_quote = false;
	enum smx_status st;
	size_t i;

	for (i = 0; i < len && n_pos < sizeof(pos) / sizeof(pos[0]); i++) {
		char c = local[i];

		if (in_quote) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_quote = false;
		} else if (c == '"') {
			in_quote = true;
		} else if (c == '%' || c == '@' || c == '!') {
			pos[n_pos++] = (unsigned short)i;
		}
	}
	/* Piece k spans (k == 0 ? 0 : pos[k-1] + 1) to (k == n_pos ? len :
	 * pos[k]). Percent pieces, right to left. */
	for (i = n_pos; i > 0; i--) {
		size_t start = pos[i - 1] + 1;
		size_t end = i == n_pos ? len : pos[i];

		if (local[pos[i - 1]] == '!')
			continue;
		st = add_domain(local + start, end - start, out, max, n);
		if (st != SMX_OK)
			return st;
	}
	/* Bang hosts, left to right. */
	for (i = 0; i < n_pos; i++) {
		size_t start = i == 0 ? 0 : pos[i - 1] + 1;

		if (local[pos[i]] != '!')
			continue;
		st = add_domain(local + start, pos[i] - start, out, max, n);
		if (st != SMX_OK)
			return st;
	}
	return SMX_OK;
}

enum smx_status
smx_addr_domains(const char *addr, size_t len, struct smx_addr_domain *out,
    size_t max, size_t *n_out)
{
	bool in_quote = false;
	size_t n = 0;
	size_t at;
	size_t i;
	enum smx_status st;

	if (len > SMX_ADDR_MAX)
		return SMX_INVALID;
	for (i = 0; i < len; i++) {
		if (is_ctl((unsigned char)addr[i]))
			return SMX_INVALID;
	}
	if (len > 0 && addr[0] == '<') {
		if (len < 2 || addr[len - 1] != '>')
			return SMX_INVALID;
		addr++;
		len -= 2;
	}
	if (len == 0) {
		*n_out = 0;
		return SMX_OK;
	}
	if (addr[0] == '@') {
		size_t skip = 0;

		if (skip_route(addr, len, &skip) != SMX_OK || skip >= len)
			return SMX_INVALID;
		addr += skip;
		len -= skip;
	}
	/* The last '@' outside quotes; quotes must balance. */
	at = len;
	for (i = 0; i < len; i++) {
		char c = addr[i];

		if (in_quote) {
			if (c == '\\') {
				if (i + 1 >= len)
					return SMX_INVALID;
				i++;
			} else if (c == '"') {
				in_quote = false;
			}
		} else if (c == '"') {
			in_quote = true;
		} else if (c == '@') {
			at = i;
		}
	}
	if (in_quote)
		return SMX_INVALID;
	if (at < len) {
		st = add_domain(addr + at + 1, len - at - 1, out, max, &n);
		if (st != SMX_OK)
			return st;
	}
	st = local_domains(addr, at, out, max, &n);
	if (st != SMX_OK)
		return st;
	if (at == len) {
		st = add_entry(SMX_ADDR_UNQUALIFIED, "", 0, out, max, &n);
		if (st != SMX_OK)
			return st;
	}
	*n_out = n;
	return SMX_OK;
}
