/* SPDX-License-Identifier: MIT */
#ifndef SMX_POLICY_PROTO_H
#define SMX_POLICY_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_decision.h"
#include "smx_status.h"

/*
 * struct policy_scan - state of the framing scanner for one request. The
 * offsets count from the first byte of the request being framed, so the
 * caller may move the unconsumed bytes (for example into a connection's
 * partial buffer) between calls. Zero-initialise it, or call
 * policy_proto_scan_reset(), before the first byte of a request.
 */
struct policy_scan {
	size_t off;        /* bytes already examined */
	size_t line_start; /* offset of the line being scanned */
	size_t n_attrs;    /* attribute lines seen so far */
};

/* policy_proto_scan_reset - forget any partial request. */
void policy_proto_scan_reset(struct policy_scan *);

/*
 * policy_proto_scan - find the end of the request that starts at buf[0],
 * given len >= scan->off bytes of it (the same bytes as in earlier calls,
 * plus new ones). Only bytes after scan->off are examined, so feeding a
 * stream in pieces, even byte by byte, costs linear time. Enforces
 * POLICY_REQUEST_MAX (bytes with newlines, the empty line included),
 * POLICY_LINE_MAX (bytes in one line, without its newline),
 * POLICY_ATTRS_MAX (attribute lines) and refuses NUL bytes.
 * Returns:
 *	SMX_OK		a request of *req_len bytes (ending in the empty line)
 *			is complete; the scanner is reset for the next one,
 *			which starts at buf[*req_len];
 *	SMX_NOTFOUND	more bytes are needed;
 *	SMX_INVALID	a limit was broken; reason holds a short text.
 * Pure; does no I/O and never exits.
 */
enum smx_status policy_proto_scan(struct policy_scan *, const char *buf,
    size_t len, size_t *req_len, char *reason, size_t reasonlen);

/* The attributes secmx reads from a request; all others are ignored. */
enum policy_attr {
	POLICY_ATTR_REQUEST = 0,
	POLICY_ATTR_PROTOCOL_STATE,
	POLICY_ATTR_QUEUE_ID,
	POLICY_ATTR_SENDER,
	POLICY_ATTR_RECIPIENT,
	POLICY_ATTR_CLIENT_NAME,
	POLICY_ATTR_CLIENT_ADDRESS,
	POLICY_ATTR_ENCRYPTION_PROTOCOL,
	POLICY_ATTR_ENCRYPTION_CIPHER,
	POLICY_ATTR_ENCRYPTION_KEYSIZE,
	POLICY_ATTR_CCERT_FINGERPRINT,
	POLICY_ATTR_CCERT_PUBKEY_FINGERPRINT,
	POLICY_ATTR_INSTANCE,
	POLICY_ATTR_COUNT
};

/*
 * struct policy_request - one parsed request. value[a] points into the
 * caller's buffer at a NUL-terminated string of len[a] bytes; an
 * attribute that was not sent is "" with has[a] false. The strings live
 * as long as the buffer passed to policy_proto_parse().
 */
struct policy_request {
	const char *value[POLICY_ATTR_COUNT];
	size_t len[POLICY_ATTR_COUNT];
	bool has[POLICY_ATTR_COUNT];
	unsigned long encryption_keysize; /* valid when has_keysize */
	bool has_keysize;                 /* sent and not empty */
	size_t n_attrs;                   /* attribute lines, known or not */
};

/*
 * policy_proto_parse - parse one complete request: len bytes of
 * "name=value\n" lines, optionally followed by the empty line that ends
 * it (as framed by policy_proto_scan). Writes NUL bytes into buf in place
 * of newlines; allocates nothing and copies nothing. The last value of a
 * repeated name wins; unknown names are ignored; a CR is part of the
 * value. Returns SMX_OK with *out filled, or SMX_INVALID with a short
 * reason for: a line without '=', an empty name, a NUL byte, data after
 * the empty line, a missing request attribute or one other than
 * "smtpd_access_policy", an encryption_keysize that is not a decimal
 * number (empty counts as not sent). *out is undefined after an error.
 * Pure; never exits.
 */
enum smx_status policy_proto_parse(char *buf, size_t len,
    struct policy_request *out, char *reason, size_t reasonlen);

/* policy_proto_attr_name - the protocol name of an attribute. */
const char *policy_proto_attr_name(enum policy_attr);

/*
 * policy_proto_facts - point the fields of *facts at the values of *req
 * (no copies: the facts live as long as the request's buffer).
 */
void policy_proto_facts(const struct policy_request *req,
    struct smx_facts *facts);

/*
 * policy_proto_reply - format "action=ACTION\n\n" into out (size bytes)
 * and set *len. ACTION is read up to its NUL but never beyond
 * POLICY_REPLY_MAX bytes. Returns SMX_OK, or SMX_INVALID when the action
 * is empty, contains CR or LF, is not NUL-terminated within the limit, or
 * the reply does not fit: a reply Postfix would misread must never be
 * sent (an empty action means permit to Postfix). Never exits.
 */
enum smx_status policy_proto_reply(const char *action, char *out, size_t size,
    size_t *len);

#endif
