/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	policy_proto - Postfix SMTPD access policy delegation protocol
 * DESCRIPTION
 *	A request is a sequence of "name=value" lines, each ending in LF,
 *	and ends with an empty line; the reply is one "action=..." line
 *	followed by an empty line. This module has three pure parts:
 *	a framing scanner that finds the end of a request in a byte stream
 *	incrementally (bytes already examined are never examined again, so
 *	a stream fed byte by byte costs linear time), a parser that turns
 *	one framed request into pointers into the caller's buffer (no copy,
 *	no allocation), and a reply formatter that refuses any action
 *	Postfix could misread.
 * LIMITS
 *	POLICY_REQUEST_MAX bytes per request, POLICY_LINE_MAX bytes per line,
 *	POLICY_ATTRS_MAX attribute lines, POLICY_REPLY_MAX bytes per action
 *	(lib/smx_limits.h). The scanner stops at the first violation; it
 *	never waits for more input that could not be accepted anyway.
 * DIAGNOSTICS
 *	Functions return SMX_INVALID with a short reason (for the caller's
 *	log line); this module logs nothing.
 * SECURITY
 *	Every byte comes from the policy client and is untrusted. Postfix
 *	never sends CR, so a CR stays part of its value; the reply
 *	formatter rejects CR and LF in the action so that no value can
 *	inject a second reply line.
 * SEE ALSO
 *	Postfix SMTPD_POLICY_README; attr_scan_plain.c in the Postfix
 *	source for the wire format.
 */
#include "policy_proto.h"

#include <stdio.h>
#include <string.h>
#include <limits.h>

#include "smx_limits.h"
#include "smx_util.h"

/* The only request type SMTPD_POLICY_README defines. */
#define REQUEST_TYPE "smtpd_access_policy"

static const struct {
	const char *name;
	size_t len;
} attr_names[POLICY_ATTR_COUNT] = {
	[POLICY_ATTR_REQUEST] = { "request", 7 },
	[POLICY_ATTR_PROTOCOL_STATE] = { "protocol_state", 14 },
	[POLICY_ATTR_QUEUE_ID] = { "queue_id", 8 },
	[POLICY_ATTR_SENDER] = { "sender", 6 },
	[POLICY_ATTR_RECIPIENT] = { "recipient", 9 },
	[POLICY_ATTR_CLIENT_NAME] = { "client_name", 11 },
	[POLICY_ATTR_CLIENT_ADDRESS] = { "client_address", 14 },
	[POLICY_ATTR_ENCRYPTION_PROTOCOL] = { "encryption_protocol", 19 },
	[POLICY_ATTR_ENCRYPTION_CIPHER] = { "encryption_cipher", 17 },
	[POLICY_ATTR_ENCRYPTION_KEYSIZE] = { "encryption_keysize", 18 },
	[POLICY_ATTR_CCERT_FINGERPRINT] = { "ccert_fingerprint", 17 },
	[POLICY_ATTR_CCERT_PUBKEY_FINGERPRINT] = { "ccert_pubkey_fingerprint",
	    24 },
	[POLICY_ATTR_INSTANCE] = { "instance", 8 },
};

static enum smx_status
fail(char *reason, size_t reasonlen, const char *text)
{
	if (reasonlen > 0)
		smx_strlcpy(reason, text, reasonlen);
	return SMX_INVALID;
}

void
policy_proto_scan_reset(struct policy_scan *s)
{
	s->off = 0;
	s->line_start = 0;
	s->n_attrs = 0;
}

enum smx_status
policy_proto_scan(struct policy_scan *s, const char *buf, size_t len,
    size_t *req_len, char *reason, size_t reasonlen)
{
	while (s->off < len) {
		const char *nl = memchr(buf + s->off, '\n', len - s->off);
		size_t end = nl != NULL ? (size_t)(nl - buf) : len;

		/* A NUL cannot occur in a name or value (the protocol). */
		if (memchr(buf + s->off, '\0', end - s->off) != NULL)
			return fail(reason, reasonlen, "NUL byte in request");
		if (end - s->line_start > POLICY_LINE_MAX)
			return fail(reason, reasonlen, "line too long");
		if (nl == NULL) {
			s->off = len;
			break;
		}
		if (end + 1 > POLICY_REQUEST_MAX)
			return fail(reason, reasonlen, "request too long");
		if (end == s->line_start) {
			*req_len = end + 1;
			policy_proto_scan_reset(s);
			return SMX_OK;
		}
		if (++s->n_attrs > POLICY_ATTRS_MAX)
			return fail(reason, reasonlen, "too many attributes");
		s->line_start = end + 1;
		s->off = end + 1;
	}
	/* Incomplete: any completion would need a byte past the cap. */
	if (len >= POLICY_REQUEST_MAX)
		return fail(reason, reasonlen, "request too long");
	return SMX_NOTFOUND;
}

/* The attribute a name denotes, or POLICY_ATTR_COUNT for others. */
static enum policy_attr
attr_lookup(const char *name, size_t len)
{
	int a;

	for (a = 0; a < POLICY_ATTR_COUNT; a++) {
		if (attr_names[a].len == len &&
		    memcmp(attr_names[a].name, name, len) == 0)
			return (enum policy_attr)a;
	}
	return POLICY_ATTR_COUNT;
}

/* Check the values whose syntax matters after the last one has won. */
static enum smx_status
check_request(struct policy_request *out, char *reason, size_t reasonlen)
{
	static const size_t type_len = sizeof(REQUEST_TYPE) - 1;
	const char *ks;
	size_t kslen;

	if (!out->has[POLICY_ATTR_REQUEST])
		return fail(reason, reasonlen, "missing request attribute");
	if (out->len[POLICY_ATTR_REQUEST] != type_len ||
	    memcmp(out->value[POLICY_ATTR_REQUEST], REQUEST_TYPE, type_len) !=
	        0)
		return fail(reason, reasonlen, "unsupported request type");
	ks = out->value[POLICY_ATTR_ENCRYPTION_KEYSIZE];
	kslen = out->len[POLICY_ATTR_ENCRYPTION_KEYSIZE];
	/* SMTPD_POLICY_README: an unavailable value may be sent empty. */
	if (kslen > 0) {
		if (smx_parse_ulong(ks, kslen, 0, ULONG_MAX,
		        &out->encryption_keysize) != SMX_OK)
			return fail(reason, reasonlen,
			    "bad encryption_keysize");
		out->has_keysize = true;
	}
	return SMX_OK;
}

enum smx_status
policy_proto_parse(char *buf, size_t len, struct policy_request *out,
    char *reason, size_t reasonlen)
{
	size_t pos = 0;
	int a;

	for (a = 0; a < POLICY_ATTR_COUNT; a++) {
		out->value[a] = "";
		out->len[a] = 0;
		out->has[a] = false;
	}
	out->encryption_keysize = 0;
	out->has_keysize = false;
	out->n_attrs = 0;

	while (pos < len) {
		char *line = buf + pos;
		char *nl = memchr(line, '\n', len - pos);
		size_t llen;
		char *eq;
		size_t nlen;
		enum policy_attr attr;

		if (nl == NULL)
			return fail(reason, reasonlen, "line without newline");
		llen = (size_t)(nl - line);
		if (llen == 0) {
			if (pos + 1 != len)
				return fail(reason, reasonlen,
				    "data after end of request");
			break;
		}
		if (memchr(line, '\0', llen) != NULL)
			return fail(reason, reasonlen, "NUL byte in request");
		eq = memchr(line, '=', llen);
		if (eq == NULL)
			return fail(reason, reasonlen, "line without '='");
		nlen = (size_t)(eq - line);
		if (nlen == 0)
			return fail(reason, reasonlen, "empty attribute name");
		out->n_attrs++;
		*nl = '\0';
		attr = attr_lookup(line, nlen);
		if (attr != POLICY_ATTR_COUNT) {
			out->value[attr] = eq + 1;
			out->len[attr] = llen - nlen - 1;
			out->has[attr] = true;
		}
		pos += llen + 1;
	}
	return check_request(out, reason, reasonlen);
}

const char *
policy_proto_attr_name(enum policy_attr a)
{
	if ((int)a < 0 || a >= POLICY_ATTR_COUNT)
		return "unknown";
	return attr_names[a].name;
}

void
policy_proto_facts(const struct policy_request *req, struct smx_facts *facts)
{
	facts->protocol_state = req->value[POLICY_ATTR_PROTOCOL_STATE];
	facts->queue_id = req->value[POLICY_ATTR_QUEUE_ID];
	facts->sender = req->value[POLICY_ATTR_SENDER];
	facts->recipient = req->value[POLICY_ATTR_RECIPIENT];
	facts->client_name = req->value[POLICY_ATTR_CLIENT_NAME];
	facts->client_address = req->value[POLICY_ATTR_CLIENT_ADDRESS];
	facts->encryption_protocol =
	    req->value[POLICY_ATTR_ENCRYPTION_PROTOCOL];
	facts->encryption_cipher = req->value[POLICY_ATTR_ENCRYPTION_CIPHER];
	facts->ccert_fingerprint = req->value[POLICY_ATTR_CCERT_FINGERPRINT];
	facts->ccert_pubkey_fingerprint =
	    req->value[POLICY_ATTR_CCERT_PUBKEY_FINGERPRINT];
	facts->encryption_keysize = req->encryption_keysize;
	facts->has_keysize = req->has_keysize;
}

enum smx_status
policy_proto_reply(const char *action, char *out, size_t size, size_t *len)
{
	static const char head[] = "action=";
	const size_t head_len = sizeof(head) - 1;
	size_t alen = strnlen(action, POLICY_REPLY_MAX);

	if (alen == 0 || alen == POLICY_REPLY_MAX)
		return SMX_INVALID;
	if (memchr(action, '\n', alen) != NULL ||
	    memchr(action, '\r', alen) != NULL)
		return SMX_INVALID;
	if (size < head_len + alen + 2)
		return SMX_INVALID;
	memcpy(out, head, head_len);
	memcpy(out + head_len, action, alen);
	out[head_len + alen] = '\n';
	out[head_len + alen + 1] = '\n';
	*len = head_len + alen + 2;
	return SMX_OK;
}
