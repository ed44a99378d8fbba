/* SPDX-License-Identifier: MIT */
#ifndef SMX_STATUS_H
#define SMX_STATUS_H

/*
 * Outcome of every fallible library call. The order matters only for
 * smx_status_worse(): a later value is never "better" than an earlier one
 * except SMX_NOTFOUND, which is a normal answer and not an error.
 */
enum smx_status {
	SMX_OK = 0,       /* done */
	SMX_NOTFOUND = 1, /* lookup had no answer; not an error */
	SMX_TEMPFAIL = 2, /* try again later: resources, network, DNS */
	SMX_PERMFAIL = 3, /* will not work however often it is retried */
	SMX_INVALID = 4,  /* malformed input; caller decides the fate */
};

/*
 * smx_status_name - the lower-case name of a status ("ok", "notfound",
 * "tempfail", "permfail", "invalid") for logs. Never returns NULL.
 */
const char *smx_status_name(enum smx_status);

#endif
