/* SPDX-License-Identifier: MIT */
#ifndef SMX_LOG_H
#define SMX_LOG_H

#include <stdbool.h>

enum smx_log_dest {
	SMX_LOG_SYSLOG = 0, /* syslog(3), facility LOG_MAIL, LOG_PID */
	SMX_LOG_STDERR = 1, /* foreground runs only: "[Mmm dd hh:mm:ss ]
	                     * ident[pid]: text" */
	SMX_LOG_FILE = 2,   /* "Mmm dd hh:mm:ss host ident[pid]: text" */
};

/*
 * smx_log_sink_fn - optional observer of every line that is logged, after
 * sanitising (tests use it to assert audit lines). prio is a syslog(3)
 * priority. It runs under the log's lock: it must not log.
 */
typedef void smx_log_sink_fn(int prio, const char *line, void *ctx);

/*
 * smx_log_open - set the ident ("secmx/policyd") and destination; path is
 * the file for SMX_LOG_FILE (an absolute path, opened for appending,
 * created mode 0640, never through a symbolic link) and ignored
 * otherwise. The ident string must stay valid while logging is in use.
 * May be called again, for example after a reload, and reopens the file
 * (log rotation). Returns false when the file cannot be opened: lines
 * then go to syslog, the first one a warning that says why. Never exits.
 */
bool smx_log_open(const char *ident, enum smx_log_dest, const char *path);

/*
 * smx_log_set_socket - the syslog socket to send to instead of /dev/log
 * (the path syslog(3) uses). Takes effect at the next line. Returns false
 * (and keeps /dev/log) when the path is too long for a socket address.
 */
bool smx_log_set_socket(const char *path);

/*
 * smx_log_set_batch - batch mode of the calling thread: its info and
 * debug lines are queued until it calls smx_log_flush (or until the queue
 * is full), then sent with one system call; warnings and worse flush the
 * queue and go out at once. An event loop turns it on and flushes once
 * per round; a thread that serves deliveries, once per delivery and
 * before it waits for its client. Turning it off flushes; a thread that
 * turned it on turns it off before it ends. Other threads are not
 * affected. Never exits.
 */
void smx_log_set_batch(bool);

/*
 * smx_log_flush - send the calling thread's queued lines, in order, with
 * as few system calls as possible. Blocks while the log daemon's queue is
 * full, as syslog(3) does. Preserves errno; never exits.
 */
void smx_log_flush(void);

/*
 * smx_log_set_stderr_copy - also write warnings and worse to stderr as
 * "ident: line" (besides syslog or the file). For the start-up of a
 * program under spawn(8), whose stderr is the Postfix connection: Postfix
 * logs what it reads there, where the operator looks first. Turn it off
 * before serving. Never exits.
 */
void smx_log_set_stderr_copy(bool);

/* smx_log_set_verbose - enable or disable smx_log_debug() lines. */
void smx_log_set_verbose(bool);

/* smx_log_set_sink - install (or with NULL remove) an observer. */
void smx_log_set_sink(smx_log_sink_fn *, void *ctx);

/*
 * Logging functions. Each formats one line, replaces every byte that is
 * not printable ASCII with '?', truncates the line to SMX_LOG_LINE_MAX,
 * and prefixes warnings, errors and panics the way Postfix does
 * ("warning: ..."). Untrusted strings should be passed with "%.*s" and
 * SMX_LOG_VALUE_MAX so that one value cannot crowd out the rest. All
 * preserve errno. The *_errno variants append ": strerror(errno)".
 */
void smx_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void smx_log_warning(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void smx_log_warning_errno(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void smx_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void smx_log_error_errno(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void smx_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * smx_panic - a broken invariant: log "panic: ..." and abort(). No input
 * may ever reach it.
 */
void smx_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
