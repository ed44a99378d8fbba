/* SPDX-License-Identifier: MIT */
#ifndef SMX_BENCH_NET_H
#define SMX_BENCH_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_listen.h"

/*
 * bench_is_loopback_host - true when host (an address or a name) resolves
 * only to loopback addresses (127.0.0.0/8, ::1), so that benchmark
 * traffic never leaves the machine. Otherwise false with a reason in err.
 * Never exits.
 */
bool bench_is_loopback_host(const char *host, char *err, size_t errlen);

/*
 * bench_raise_nofile - raise the RLIMIT_NOFILE soft limit to at least
 * need descriptors (need 0: to the hard limit); the hard limit is raised
 * too when need exceeds it and the process may do so. Returns false with
 * errno set when the limit stays below need. Never exits.
 */
bool bench_raise_nofile(size_t need);

/*
 * bench_connect - open a blocking stream connection to a parsed endpoint
 * (inet endpoints must be loopback). Returns the descriptor (the caller
 * owns and closes it), or -1 with a reason in err. Never exits.
 */
int bench_connect(const struct smx_listen_endpoint *ep, char *err,
    size_t errlen);

#endif
