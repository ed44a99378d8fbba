/* SPDX-License-Identifier: MIT */
#ifndef SMX_IO_H
#define SMX_IO_H

#include <stddef.h>

#include "smx_status.h"

/*
 * Small I/O helpers every program shares: the monotonic clock in
 * milliseconds, a bounded wait for a descriptor, and a bounded write of a
 * whole buffer. Deadlines are smx_io_now_ms() values; SMX_IO_FOREVER
 * means no deadline.
 */

#define SMX_IO_FOREVER (-1LL)

/*
 * smx_clock_fn - a clock in milliseconds, smx_io_now_ms or a test's own,
 * for code that keeps things for a while (the caches of secmx-lmtpd).
 */
typedef long long smx_clock_fn(void);

/*
 * smx_io_now_ms - CLOCK_MONOTONIC in milliseconds. CLOCK_MONOTONIC cannot
 * fail on Linux; should it, that is a broken invariant (smx_panic).
 */
long long smx_io_now_ms(void);

/*
 * smx_io_deadline - smx_io_now_ms() + ms, or SMX_IO_FOREVER for ms < 0.
 */
long long smx_io_deadline(long long ms);

/*
 * smx_io_wait - wait until fd is ready for events (POLLIN, POLLOUT) or
 * deadline passes. Hang-ups and errors count as ready (the next read or
 * write reports them). EINTR is retried with the time left. Returns
 * SMX_OK when ready, SMX_NOTFOUND on timeout (errno ETIMEDOUT),
 * SMX_TEMPFAIL when poll(2) fails (errno set). Never exits.
 */
enum smx_status smx_io_wait(int fd, short events, long long deadline);

/*
 * smx_io_wait_for - smx_io_wait for callers that report a reason: SMX_OK
 * when ready, else SMX_TEMPFAIL with "timeout WHAT" (what may be "") or
 * "poll: ERROR" in reason (size bytes). Never exits.
 */
enum smx_status smx_io_wait_for(int fd, short events, long long deadline,
    const char *what, char *reason, size_t size);

/*
 * smx_io_write_all - write all len bytes of buf to fd, blocking or not,
 * waiting for room until deadline. Sockets are written with MSG_NOSIGNAL
 * (no SIGPIPE); other descriptors with write(2). Returns SMX_OK,
 * SMX_NOTFOUND on timeout (errno ETIMEDOUT), SMX_TEMPFAIL on an error or
 * a write that makes no progress (errno set, EPIPE for the latter).
 * Never exits.
 */
enum smx_status smx_io_write_all(int fd, const void *buf, size_t len,
    long long deadline);

#endif
