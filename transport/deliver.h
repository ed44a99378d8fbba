/* SPDX-License-Identifier: MIT */
#ifndef DELIVER_H
#define DELIVER_H

#include <stddef.h>

#include "smx_config.h"
#include "outcome.h"

struct spool;

/*
 * struct deliver_request - one pipe(8) delivery request. Everything is
 * borrowed from the caller and must outlive deliver_run.
 * queue_id: for the audit log ("NOQUEUE" when unknown).
 * sender: the envelope sender, "" for the null sender.
 * recipients: 1..SMTP_RECIPIENTS_MAX addresses.
 * nexthop: NULL or "" for the recipients' domain, else as
 *   smx_route_parse_nexthop accepts ("example.org", "[relay]:2525").
 * helo: our EHLO name. message: the spooled message.
 * deadline_ms: smx_io_now_ms() value at which delivery_time_limit ends.
 */
struct deliver_request {
	const struct smx_config *cfg;
	const char *queue_id;
	const char *sender;
	const char *const *recipients;
	size_t n_recipients;
	const char *nexthop;
	const char *helo;
	struct spool *message;
	long long deadline_ms;
};

/*
 * deliver_run - deliver the message under the Secure Only Sender or Best
 * Effort Sender rules: the sending role from the tables, the SecMX SRV
 * targets with mandatory TLS, else the MX hosts (opportunistic TLS for
 * BES, mandatory TLS for SOS), or the [host] next hop alone; every
 * address of each target in order, within the deadline. Logs one audit
 * line per attempt and recipient and one per outcome and recipient.
 * *out is always filled (outcome.h): delivered, deferred or bounced with
 * its status line. Local trouble (TLS setup, bad arguments) is deferred.
 * Never exits; the caller must ignore SIGPIPE.
 */
void deliver_run(const struct deliver_request *, struct outcome *out);

#endif
