/* SPDX-License-Identifier: MIT */
#ifndef LMTP_PROTO_H
#define LMTP_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"

/*
 * The server side of LMTP (RFC 2033) as Postfix's lmtp(8) client speaks
 * it: a line reader for the command phase, a command parser, a decoder of
 * DATA content and a reply formatter. All pure: no I/O, no logging, no
 * allocation; the caller owns every struct (usually inside its session).
 */

/*
 * Why a line or command is refused, and the reply it deserves
 * (lmtp_error_reply). The parser uses LINE to PARAM; NON_ASCII comes from
 * lmtp_command_check_8bit; the rest are for the session's own checks, so
 * that every refusal has its code in one table.
 */
enum lmtp_error {
	LMTP_ERROR_NONE = 0,
	LMTP_ERROR_LINE,       /* 500 5.5.2 too long, bare CR, control byte */
	LMTP_ERROR_VERB,       /* 500 5.5.1 unknown command */
	LMTP_ERROR_SYNTAX,     /* 501 5.5.4 bad or missing arguments */
	LMTP_ERROR_SENDER,     /* 501 5.1.7 bad MAIL FROM path */
	LMTP_ERROR_RECIPIENT,  /* 501 5.1.3 bad RCPT TO path */
	LMTP_ERROR_PARAM,      /* 555 5.5.4 unknown or malformed parameter */
	LMTP_ERROR_NON_ASCII,  /* 553 5.6.7 8-bit address without SMTPUTF8 */
	LMTP_ERROR_USE_LHLO,   /* 500 5.5.1 EHLO or HELO (RFC 2033 4.1) */
	LMTP_ERROR_SEQUENCE,   /* 503 5.5.1 command out of order */
	LMTP_ERROR_RECIPIENTS, /* 452 4.5.3 over LMTP_RECIPIENTS_MAX */
	LMTP_ERROR_TOO_LARGE,  /* 552 5.3.4 over the message size limit */
};

/*
 * lmtp_error_reply - the reply for e: *code (500, 501, ...), *enhanced
 * ("5.5.2", ...) and a short *text ("Error: command not recognized"),
 * static strings. LMTP_ERROR_NONE and unknown values give 451 4.3.0, a
 * deferral (when unsure, defer). Never fails.
 */
void lmtp_error_reply(enum lmtp_error e, unsigned *code, const char **enhanced,
    const char **text);

/*
 * struct lmtp_line_scan - state of the command line reader between calls.
 * Zero-initialise it, or call lmtp_line_scan_reset, before the first byte
 * of the command phase.
 */
struct lmtp_line_scan {
	size_t off;       /* bytes of the current line already examined */
	bool is_skipping; /* discarding the rest of a refused line */
};

/* lmtp_line_scan_reset - forget any partial line. */
void lmtp_line_scan_reset(struct lmtp_line_scan *);

/*
 * lmtp_line_next - find the next command line in buf (len bytes: what was
 * received and not yet used, starting at the first byte not used by an
 * earlier call). A line ends in CRLF or in a bare LF (as Postfix smtpd
 * accepts); a CR not followed by LF is refused. Bytes already examined
 * are not examined again, so a stream fed byte by byte costs linear time.
 * After every call, whatever it returns, the caller drops the first *used
 * bytes of its buffer. Returns:
 *	SMX_OK		*line (inside buf) and *line_len: the line without its
 *			line end, at most LMTP_LINE_MAX bytes; *used counts it
 *			and its line end (and bytes of an earlier refused line
 *			discarded before it). Bytes after it are the next
 *			commands (PIPELINING, RFC 2920): call again.
 *	SMX_NOTFOUND	no complete line yet: read more and call again with
 *			the bytes kept (*used is non-zero only when the rest of
 *			a refused line was discarded).
 *	SMX_INVALID	the line is refused (reason: "line too long" as soon
 *			as its byte LMTP_LINE_MAX + 1 arrives and is not a line
 *			end, "bare CR in command"); the caller answers it
 *			(LMTP_ERROR_LINE) and drops *used bytes. When its
 *			line end was not yet received, the reader discards
 *			the rest of the line by itself in later calls, up to
 *			its LF.
 * *line and *line_len are written only on SMX_OK. Pure; never exits.
 */
enum smx_status lmtp_line_next(struct lmtp_line_scan *, const char *buf,
    size_t len, const char **line, size_t *line_len, size_t *used, char *reason,
    size_t reason_size);

/* The commands a server reads; LMTP_VERB_UNKNOWN for anything else. */
enum lmtp_verb {
	LMTP_VERB_UNKNOWN = 0,
	LMTP_VERB_LHLO,
	LMTP_VERB_MAIL,
	LMTP_VERB_RCPT,
	LMTP_VERB_DATA,
	LMTP_VERB_RSET,
	LMTP_VERB_NOOP,
	LMTP_VERB_QUIT,
	LMTP_VERB_VRFY, /* the server answers 252 (RFC 5321 3.5.3) */
	LMTP_VERB_EHLO, /* recognised so that the server answers "use LHLO" */
	LMTP_VERB_HELO,
	LMTP_VERB_XFORWARD, /* Postfix's queue id (XFORWARD_README) */
};

/* BODY= of MAIL FROM (RFC 6152). */
enum lmtp_body {
	LMTP_BODY_NONE = 0, /* not given */
	LMTP_BODY_7BIT,
	LMTP_BODY_8BITMIME,
};

/*
 * struct lmtp_command - one parsed command line.
 * arg: MAIL FROM and RCPT TO: the mailbox of the path without the angle
 *	brackets and without a source route, as sent (a quoted local part
 *	stays quoted), ready to be sent again as "<arg>"; "" for the null
 *	sender "<>". LHLO: the domain or address literal. "" otherwise.
 *	NUL-terminated; no control byte; never more than SMTP_PATH_MAX - 2.
 * has_8bit: arg holds bytes over 0x7e (RFC 6531 needs SMTPUTF8 for them:
 *	see lmtp_command_check_8bit); is_utf8: they are well-formed UTF-8.
 * size, body, is_smtputf8: the MAIL FROM parameters SIZE=, BODY= and
 *	SMTPUTF8 (RFC 1870, RFC 6152, RFC 6531); has_size when SIZE= was given.
 * error, reason: after SMX_INVALID, why (a static string, never NULL);
 *	LMTP_ERROR_NONE and "" after SMX_OK.
 */
struct lmtp_command {
	enum lmtp_verb verb;
	char arg[SMTP_PATH_MAX - 1];
	size_t arg_len;
	bool has_8bit;
	bool is_utf8;
	bool has_size;
	unsigned long long size;
	enum lmtp_body body;
	bool is_smtputf8;
	bool is_null_path; /* MAIL FROM:<> */
	bool has_ident;    /* XFORWARD IDENT= with a usable queue id */
	char ident[LMTP_IDENT_MAX + 1];
	enum lmtp_error error;
	const char *reason;
};

/*
 * lmtp_command_parse - parse one command line of len bytes (without its
 * line end, as lmtp_line_next gives it). The verb is case-insensitive:
 *	LHLO domain		a host name or an address literal "[...]"
 *	MAIL FROM:<path> [SP params]	path "<>" is the null sender
 *	RCPT TO:<path> [SP params]	"<Postmaster>" needs no domain
 *	DATA, RSET, QUIT	no argument
 *	NOOP [SP string], VRFY SP string	the string is not kept
 *	EHLO, HELO		anything after them is ignored
 *	XFORWARD SP name=value...	the attributes of Postfix's
 *				XFORWARD_README (NAME, ADDR, PORT, PROTO,
 *				HELO, IDENT, SOURCE; others refused as
 *				LMTP_ERROR_SYNTAX); only IDENT is kept, in
 *				ident, when its xtext value is 1 to
 *				LMTP_IDENT_MAX letters and digits (a Postfix
 *				queue id); has_ident tells
 * Paths (RFC 5321 section 4.1.2): "<", an optional source route "@a,@b:"
 * (dropped, RFC 5321 section 4.1.1.3), a local part (dot-string or quoted
 * string) "@" a domain (labels or an address literal), ">", within
 * SMTP_PATH_MAX bytes with the brackets. Spaces after the colon are
 * tolerated, as Postfix smtpd does; trailing spaces are ignored.
 * Parameters (RFC 5321 section 4.1.2): keyword[=value] separated by
 * spaces; MAIL knows SIZE=digits (at most 20, RFC 1870), BODY=7BIT or
 * 8BITMIME and SMTPUTF8 (no value), each at most once; RCPT knows none
 * (we offer no DSN). No control byte (NUL, TAB, CR, LF, ...) anywhere;
 * bytes over 0x7e only in a path (reported in has_8bit) and in the
 * string of NOOP or VRFY.
 * Returns SMX_OK with *out filled, or SMX_INVALID with out->verb (the
 * verb, when it was recognised), out->error and out->reason set (the
 * other fields are then unspecified): LMTP_ERROR_LINE (empty line, over
 * LMTP_LINE_MAX, control byte), LMTP_ERROR_VERB, LMTP_ERROR_SYNTAX,
 * LMTP_ERROR_SENDER, LMTP_ERROR_RECIPIENT (path syntax or length), or
 * LMTP_ERROR_PARAM (unknown, repeated or malformed parameter: 555 5.5.4).
 * Pure; never exits.
 */
enum smx_status lmtp_command_parse(const char *line, size_t len,
    struct lmtp_command *out);

/*
 * lmtp_command_check_8bit - may the address of cmd (a parsed MAIL or RCPT)
 * be accepted? is_smtputf8 says whether the transaction's MAIL FROM had
 * SMTPUTF8 (for MAIL itself its own parameter counts too). Returns
 * LMTP_ERROR_NONE for an ASCII address or well-formed UTF-8 under
 * SMTPUTF8; LMTP_ERROR_NON_ASCII for 8-bit bytes without SMTPUTF8 (RFC
 * 6531 section 3.5: 553 5.6.7); LMTP_ERROR_SENDER or
 * LMTP_ERROR_RECIPIENT for bytes that are not UTF-8. Pure; never fails.
 */
enum lmtp_error lmtp_command_check_8bit(const struct lmtp_command *cmd,
    bool is_smtputf8);

/*
 * lmtp_verb_name - "LHLO", "MAIL", ... or "unknown", for logs. Never NULL.
 */
const char *lmtp_verb_name(enum lmtp_verb);

/*
 * lmtp_data_sink_fn - where the decoded message goes: store all len
 * bytes (at most SMTP_DATA_CHUNK) or fail. Returns SMX_OK or a failure,
 * which the decoder remembers and reports (lmtp_data_result).
 */
typedef enum smx_status lmtp_data_sink_fn(void *ctx, const char *buf,
    size_t len);

/* Private to the decoder: where in a line the last byte left it. */
enum lmtp_data_state {
	LMTP_DATA_LINE_START = 0, /* at the start of a line */
	LMTP_DATA_IN_LINE,        /* inside a line */
	LMTP_DATA_CR,             /* inside a line, after a CR */
	LMTP_DATA_DOT,            /* a line that began with '.' */
	LMTP_DATA_DOT_CR,         /* a line that began with "." CR */
	LMTP_DATA_DONE,           /* the end-of-data line was taken */
};

/* Private to the decoder: how the previous line ended. */
enum lmtp_data_end {
	LMTP_DATA_END_NONE = 0, /* no line yet: right after DATA */
	LMTP_DATA_END_CRLF,
	LMTP_DATA_END_LF,
};

/*
 * struct lmtp_data - the decoder of one message. Fill with
 * lmtp_data_init; feed with lmtp_data_feed; read the outcome with
 * lmtp_data_result. Holds no pointers and no memory of its own.
 */
struct lmtp_data {
	enum lmtp_data_state state;
	enum lmtp_data_end prev_end;
	unsigned long long max_size; /* 0: no bound */
	unsigned long long n_stored; /* message bytes decoded, also those
	                              * discarded (over max_size, no sink) */
	unsigned long long n_wire;   /* bytes taken from the client */
	bool is_too_large;           /* n_stored went over max_size */
	enum smx_status sink_status; /* SMX_OK, or the sink's first failure */
	bool has_bare_lf;            /* a line ended in LF alone */
	bool has_bare_cr;            /* a CR without LF was taken as data */
	bool has_odd_dot; /* a "." line that is not the end (see below) */
};

/*
 * lmtp_data_init - start decoding the message that follows a 354 reply to
 * DATA. max_size bounds the decoded message (0: no bound); over it, the
 * decoder keeps decoding to the end of data but stores nothing more, so
 * that the server can answer 552 5.3.4 in the right place.
 */
void lmtp_data_init(struct lmtp_data *, unsigned long long max_size);

/*
 * lmtp_data_feed - decode len bytes of what the client sent after the 354
 * reply (chunks may split a line or a line end anywhere), writing the
 * stored form to sink(ctx, ...) in pieces of at most SMTP_DATA_CHUNK
 * bytes; everything decoded is written before the call returns. sink
 * NULL discards the output (it is still counted and checked).
 *
 * Wire form to stored form (RFC 5321 section 4.5.2; RFC 2033 section 4.2):
 *	- a line ends in CRLF or in a bare LF; it is stored ending in LF;
 *	- a line that starts with '.' and has more bytes loses that '.';
 *	- a CR not followed by LF is stored as LF: smtp_data, which sends
 *	  the message on, turns every CR into a line end anyway, and a CR
 *	  kept in the stored form could merge with the LF after it into one
 *	  line end. It does not start a line here: a '.' after it is data,
 *	  never unstuffed, never part of an end marker;
 *	- the end of data is a line "." that ends in CRLF after a line that
 *	  ended in CRLF, or ends in LF after a line that ended in LF (or
 *	  either, right after DATA). Mixed forms (LF "." CRLF, CRLF "." LF)
 *	  are content: the line is stored as ".", smtp_data stuffs it again
 *	  when sending, and has_odd_dot is set. Another MTA could read such
 *	  a form as the end of data (SMTP smuggling, CVE-2023-51764; RFC
 *	  5321 section 2.3.8): by never reading it as the end, the message
 *	  ends where a strict reader ends it, and whatever follows stays
 *	  inside the message. The server may refuse such a message.
 *
 * Returns SMX_OK when the end-of-data line was taken: *used is the number
 * of bytes of buf up to and including it; bytes after it are the next
 * command (PIPELINING). Later calls return SMX_OK with *used 0. Returns
 * SMX_NOTFOUND when all len bytes were taken (*used = len) and the end
 * has not come yet. A message over max_size or a failing sink does not
 * stop decoding: lmtp_data_result reports it once the end has come.
 * Never exits.
 */
enum smx_status lmtp_data_feed(struct lmtp_data *, const char *buf, size_t len,
    size_t *used, lmtp_data_sink_fn *sink, void *ctx);

/*
 * lmtp_data_result - the outcome of a message: SMX_NOTFOUND before the
 * end of data; then SMX_INVALID when it was larger than max_size (552
 * 5.3.4; the sink got its first max_size bytes, whatever the pieces fed,
 * which the caller throws away), else the sink's first failure (SMX_NOTFOUND
 * from a sink counts as SMX_TEMPFAIL), else SMX_OK. Never fails.
 */
enum smx_status lmtp_data_result(const struct lmtp_data *);

/*
 * lmtp_reply_format - one reply into out (size bytes, NUL-terminated):
 * lines "CODE-ENH text" CRLF ... "CODE ENH text" CRLF, each at most
 * SMTP_REPLY_LINE_MAX bytes with its CRLF (RFC 5321 section 4.5.3.1.5)
 * and at most SMTP_REPLY_LINES_MAX lines. code is three digits, first 2-5
 * and second 0-5 (RFC 5321 section 4.2). enhanced (RFC 3463; RFC 2034: on
 * every line) may be NULL or "" for none (the LHLO reply); one that is
 * not a valid code becomes "C.0.0", and its class is forced to the first
 * digit of code. text (NULL for none) is split into lines at each LF and,
 * when too long for one line, at the last space that fits, else within a
 * word; control bytes become spaces and bytes over 0x7e become '?'. Text
 * that does not fit in size or the line cap is cut, and the last line
 * written becomes the final one: the reply is always well-formed. Returns
 * SMX_OK with *len the bytes written (without the NUL), or SMX_INVALID
 * (nothing usable in out) for a bad code or a size that cannot hold one
 * line with the enhanced code. Never exits.
 */
enum smx_status lmtp_reply_format(unsigned code, const char *enhanced,
    const char *text, char *out, size_t size, size_t *len);

/*
 * lmtp_reply_status - the reply after the end of data for one recipient,
 * from its delivery status line ("2.0.0 text", "4.x.x text" or "5.x.x
 * text", as struct outcome's line): 250, 451 or 554 by the class of its
 * enhanced code, with that code and the text. A line without a valid
 * code gives 451 4.3.0 with the whole line as text (when unsure, defer).
 * Returns as lmtp_reply_format.
 */
enum smx_status lmtp_reply_status(const char *line, char *out, size_t size,
    size_t *len);

/*
 * The queue id of the local Postfix, for log lines: Postfix's lmtp(8)
 * sends XFORWARD IDENT only for mail that came with one, but its cleanup
 * puts its own Received: header at the top of every message it queues,
 * with "id QUEUEID". struct lmtp_header_scan finds the first Received:
 * field in the message as it is decoded (stored form, LF line ends), in
 * at most LMTP_HEADER_SCAN_MAX bytes of header; zero it (or call
 * lmtp_header_scan_init) before the first byte.
 */
struct lmtp_header_scan {
	unsigned long long n_seen; /* header bytes looked at */
	bool is_done;              /* header over, or the field complete */
	bool at_line_start;
	bool in_received; /* collecting the Received: field */
	size_t line_len;  /* bytes of the current line so far */
	char field[LMTP_RECEIVED_MAX + 1];
	size_t field_len;
	char name[10]; /* the start of the current line: "Received:" */
	size_t name_len;
};

/* lmtp_header_scan_init - ready for the first byte of a message. */
void lmtp_header_scan_init(struct lmtp_header_scan *);

/*
 * lmtp_header_scan_feed - look at len more bytes of the stored message;
 * stops looking by itself after the first Received: field, the end of
 * the header or LMTP_HEADER_SCAN_MAX bytes. Pure; never fails.
 */
void lmtp_header_scan_feed(struct lmtp_header_scan *, const char *buf,
    size_t len);

/*
 * lmtp_header_scan_id - the queue id in the first Received: field: the
 * word after " id " (any case, the word separated by blanks or a line
 * fold), kept when it is 1 to LMTP_IDENT_MAX letters and digits, into
 * out (size bytes). Returns true with out set, false when there is none.
 */
bool lmtp_header_scan_id(const struct lmtp_header_scan *, char *out,
    size_t size);

#endif
