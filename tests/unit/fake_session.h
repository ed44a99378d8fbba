/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	fake_session - attempt results as smtp_session_deliver fills them
 * DESCRIPTION
 *	One builder per kind of attempt outcome, shared by the unit tests of
 *	the pure delivery decisions (check_outcome, check_deliver), so that
 *	both use exactly the results the real session produces: the stage,
 *	the fault, the reply and the per-recipient RCPT results.
 * SECURITY
 *	Test code only.
 */
#ifndef FAKE_SESSION_H
#define FAKE_SESSION_H

#include <stdio.h>
#include <string.h>

#include "smtp_session.h"

/* Bounded copy into a char array of the fake results. */
#define FAKE_SET(d, s) snprintf((d), sizeof(d), "%s", (s))

enum fake_kind {
	K_END = 0,
	K_SENT_TLS,     /* 250 at end of data over TLS */
	K_SENT_PLAIN,   /* the same without TLS */
	K_CONNECT,      /* connection refused */
	K_CONNECT_TIME, /* connect timeout */
	K_BANNER_TIME,  /* no greeting */
	K_BANNER5,      /* 554 greeting */
	K_EHLO4,        /* 421 to EHLO */
	K_NOTLS,        /* EHLO without STARTTLS, TLS required */
	K_EHLO5,        /* EHLO refused with 550, TLS required */
	K_STLS_TIME,    /* no reply to STARTTLS */
	K_STLS_LOST,    /* connection closed instead of a reply */
	K_STLS454,      /* 454 4.7.0 to STARTTLS */
	K_STLS554,      /* 554 5.7.0 to STARTTLS */
	K_INJECT,       /* bytes after the STARTTLS reply */
	K_HS_TIME,      /* handshake timeout */
	K_HS_LOST,      /* handshake: connection reset */
	K_HS_ALERT,     /* handshake: fatal alert from the server */
	K_HS_GARBAGE,   /* handshake: bytes that are not TLS */
	K_VERIFY,       /* certificate not verified */
	K_LOOP,         /* greets with our own name */
	K_SMTPUTF8,     /* SMTPUTF8 needed, not offered */
	K_SIZE,         /* larger than SIZE */
	K_MAIL4,        /* 451 to MAIL FROM */
	K_MAIL5,        /* 550 to MAIL FROM */
	K_RCPT4,        /* 450 4.2.1 to every RCPT TO */
	K_RCPT5,        /* 550 5.1.1 to every RCPT TO */
	K_RCPT_MIXED,   /* first recipient accepted, second 550: sent */
	K_DATA4,        /* 451 to DATA */
	K_BODY_LOST,    /* lost while sending the message */
	K_EOD4,         /* 452 at end of data */
	K_EOD5,         /* 554 at end of data */
	K_EOD_TIME,     /* no reply to the end of data */
	K_INVALID,      /* bad parameters: local trouble */
	K_NOADDR,       /* (not a session) no addresses for the host */
	K_SELF,         /* (not a session) the address is this host */
	K_NOTDANE,      /* (not a session) MX host without DANE under
	                   sos_mx_security = dane: does not qualify */
};

/* The TLS details of a session that got that far. */
static inline void
fake_tls(struct smtp_session_result *r)
{
	r->has_tls = true;
	FAKE_SET(r->tls.protocol, "TLSv1.3");
	FAKE_SET(r->tls.cipher, "TLS_AES_256_GCM_SHA384");
}

static inline void
fake_fail(struct smtp_session_result *r, enum smx_status st,
    enum smtp_stage stage, enum smtp_fault fault, unsigned code,
    const char *enhanced, const char *text)
{
	r->status = st;
	r->stage = stage;
	r->fault = fault;
	r->reply_code = code;
	FAKE_SET(r->enhanced, enhanced);
	FAKE_SET(r->text, text);
}

/* Every recipient gets the same RCPT reply (or is accepted). */
static inline void
fake_rcpts(struct smtp_rcpt_result *rr, size_t n, unsigned code,
    const char *enhanced, const char *text)
{
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&rr[i], 0, sizeof(rr[i]));
		rr[i].is_accepted = code / 100 == 2;
		rr[i].reply_code = code;
		FAKE_SET(rr[i].enhanced, enhanced);
		FAKE_SET(rr[i].text, text);
	}
}

/*
 * fake_result - the result of kind k at host number host ("mx.example"
 * at 192.0.2.HOST port 25), for n recipients (rr may be NULL when n 0).
 */
static inline void
fake_result(enum fake_kind k, int host, struct smtp_session_result *r,
    struct smtp_rcpt_result *rr, size_t n)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < n; i++)
		memset(&rr[i], 0, sizeof(rr[i]));
	snprintf(r->peer, sizeof(r->peer), "mx.example[192.0.2.%d]:25", host);
	switch (k) {
	case K_SENT_TLS:
	case K_SENT_PLAIN:
	case K_RCPT_MIXED:
		fake_rcpts(rr, n, 250, "2.1.5", "250 2.1.5 Ok");
		if (k == K_RCPT_MIXED && n > 1)
			fake_rcpts(rr + 1, n - 1, 550, "5.1.1",
			    "550 5.1.1 unknown user");
		fake_fail(r, SMX_OK, SMTP_STAGE_END_OF_DATA, SMTP_FAULT_NONE,
		    250, "2.0.0", "250 2.0.0 Ok: queued as X");
		r->is_delivered = true;
		r->n_accepted = k == K_RCPT_MIXED ? 1 : n;
		if (k != K_SENT_PLAIN)
			fake_tls(r);
		break;
	case K_CONNECT:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_CONNECT, SMTP_FAULT_LOST,
		    0, "4.4.1", "connect to x: Connection refused");
		break;
	case K_CONNECT_TIME:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_CONNECT,
		    SMTP_FAULT_TIMEOUT, 0, "4.4.1",
		    "connect to x: timeout while connecting");
		break;
	case K_BANNER_TIME:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_BANNER,
		    SMTP_FAULT_TIMEOUT, 0, "4.4.2",
		    "conversation with x timed out while receiving the initial server greeting");
		break;
	case K_BANNER5:
		fake_fail(r, SMX_PERMFAIL, SMTP_STAGE_BANNER, SMTP_FAULT_REPLY,
		    554, "5.0.0", "554 go away");
		break;
	case K_EHLO4:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_EHLO, SMTP_FAULT_REPLY,
		    421, "4.3.2", "421 4.3.2 busy");
		break;
	case K_NOTLS:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_EHLO, SMTP_FAULT_NO_TLS,
		    0, "4.7.4",
		    "TLS is required, but was not offered by host x");
		break;
	case K_EHLO5:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_EHLO, SMTP_FAULT_NO_TLS,
		    550, "4.5.1", "550 5.5.1 EHLO not accepted");
		break;
	case K_STLS_TIME:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_STARTTLS,
		    SMTP_FAULT_TIMEOUT, 0, "4.4.2",
		    "conversation with x timed out while receiving the reply to STARTTLS");
		break;
	case K_STLS_LOST:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_STARTTLS, SMTP_FAULT_LOST,
		    0, "4.4.2",
		    "lost connection with x while receiving the reply to STARTTLS: connection closed by the server");
		break;
	case K_STLS454:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_STARTTLS,
		    SMTP_FAULT_REPLY, 454, "4.7.0",
		    "454 4.7.0 TLS not available");
		break;
	case K_STLS554:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_STARTTLS,
		    SMTP_FAULT_REPLY, 554, "4.7.0", "554 5.7.0 No TLS here");
		break;
	case K_INJECT:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_STARTTLS,
		    SMTP_FAULT_PROTOCOL, 0, "4.7.5",
		    "Cannot start TLS with x: plaintext data received after the STARTTLS reply (possible command injection)");
		break;
	case K_HS_TIME:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_HANDSHAKE,
		    SMTP_FAULT_TIMEOUT, 0, "4.7.5",
		    "Cannot start TLS: handshake failure with x: timeout");
		break;
	case K_HS_LOST:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_HANDSHAKE,
		    SMTP_FAULT_LOST, 0, "4.7.5",
		    "Cannot start TLS: handshake failure with x: Connection reset by peer");
		break;
	case K_HS_ALERT:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_HANDSHAKE,
		    SMTP_FAULT_TLS_ALERT, 0, "4.7.5",
		    "Cannot start TLS: handshake failure with x: alert handshake failure from the server");
		break;
	case K_HS_GARBAGE:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_HANDSHAKE,
		    SMTP_FAULT_PROTOCOL, 0, "4.7.5",
		    "Cannot start TLS: handshake failure with x: wrong version number");
		break;
	case K_VERIFY:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_HANDSHAKE,
		    SMTP_FAULT_TLS_VERIFY, 0, "4.7.5",
		    "Server certificate not verified: hostname mismatch");
		r->tls.verified = SMX_TLS_VERIFIED_FAIL;
		break;
	case K_LOOP:
		fake_fail(r, SMX_PERMFAIL, SMTP_STAGE_BANNER, SMTP_FAULT_LOOP,
		    0, "5.4.6", "mail for x loops back to myself");
		break;
	case K_SMTPUTF8:
		fake_fail(r, SMX_PERMFAIL, SMTP_STAGE_EHLO, SMTP_FAULT_SMTPUTF8,
		    0, "5.6.7",
		    "SMTPUTF8 is required, but was not offered by host x");
		fake_tls(r);
		break;
	case K_SIZE:
		fake_fail(r, SMX_PERMFAIL, SMTP_STAGE_EHLO, SMTP_FAULT_SIZE, 0,
		    "5.3.4", "message size 9 exceeds size limit 1");
		break;
	case K_MAIL4:
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_MAIL, SMTP_FAULT_REPLY,
		    451, "4.3.0", "451 4.3.0 try later");
		break;
	case K_MAIL5:
		fake_fail(r, SMX_PERMFAIL, SMTP_STAGE_MAIL, SMTP_FAULT_REPLY,
		    550, "5.7.1", "550 5.7.1 sender rejected");
		break;
	case K_RCPT4:
		fake_rcpts(rr, n, 450, "4.2.1", "450 4.2.1 busy");
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_RCPT, SMTP_FAULT_REPLY,
		    450, "4.2.1", "450 4.2.1 busy");
		fake_tls(r);
		break;
	case K_RCPT5:
		fake_rcpts(rr, n, 550, "5.1.1", "550 5.1.1 unknown user");
		fake_fail(r, SMX_PERMFAIL, SMTP_STAGE_RCPT, SMTP_FAULT_REPLY,
		    550, "5.1.1", "550 5.1.1 unknown user");
		fake_tls(r);
		break;
	case K_DATA4:
		fake_rcpts(rr, n, 250, "2.1.5", "250 2.1.5 Ok");
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_DATA, SMTP_FAULT_REPLY,
		    451, "4.3.0", "451 4.3.0 no data now");
		break;
	case K_BODY_LOST:
		fake_rcpts(rr, n, 250, "2.1.5", "250 2.1.5 Ok");
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_BODY, SMTP_FAULT_LOST, 0,
		    "4.4.2",
		    "lost connection with x while sending message body: Broken pipe");
		break;
	case K_EOD4:
		fake_rcpts(rr, n, 250, "2.1.5", "250 2.1.5 Ok");
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_END_OF_DATA,
		    SMTP_FAULT_REPLY, 452, "4.3.1", "452 4.3.1 storage");
		break;
	case K_EOD5:
		fake_rcpts(rr, n, 250, "2.1.5", "250 2.1.5 Ok");
		fake_fail(r, SMX_PERMFAIL, SMTP_STAGE_END_OF_DATA,
		    SMTP_FAULT_REPLY, 554, "5.6.0", "554 5.6.0 rejected");
		break;
	case K_EOD_TIME:
		fake_rcpts(rr, n, 250, "2.1.5", "250 2.1.5 Ok");
		fake_fail(r, SMX_TEMPFAIL, SMTP_STAGE_END_OF_DATA,
		    SMTP_FAULT_TIMEOUT, 0, "4.4.2",
		    "conversation with x timed out while receiving the reply to end of DATA");
		break;
	case K_INVALID:
		fake_fail(r, SMX_INVALID, SMTP_STAGE_NONE, SMTP_FAULT_LOCAL, 0,
		    "4.3.0", "invalid delivery parameters");
		break;
	case K_NOADDR:
	case K_SELF:
	case K_NOTDANE:
	case K_END:
		break;
	}
}

#endif
