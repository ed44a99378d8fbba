/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_log - Postfix-like logging to syslog or stderr
 * DESCRIPTION
 *	One formatted line per call, facility mail. Lines are sanitised here,
 *	not by callers: every byte outside printable ASCII becomes '?', so a
 *	hostile value cannot forge a second log line or a terminal escape.
 * LIMITS
 *	SMX_LOG_LINE_MAX bytes per line; longer lines are cut (logging must
 *	never fail because of input).
 * DIAGNOSTICS
 *	None; logging failures are ignored, as syslog(3) does.
 * SECURITY
 *	Under spawn(8), stderr is the Postfix connection: callers choose
 *	SMX_LOG_STDERR only for foreground runs.
 * SEE ALSO
 *	syslog(3), Postfix msg(3) conventions.
 */
#include "smx_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "smx_limits.h"

static const char *log_ident = "secmx";
static enum smx_log_dest log_dest = SMX_LOG_SYSLOG;
static bool log_verbose;
static bool log_is_open;
static smx_log_sink_fn *log_sink;
static void *log_sink_ctx;

void
smx_log_open(const char *ident, enum smx_log_dest dest)
{
	if (log_is_open)
		closelog();
	log_ident = ident;
	log_dest = dest;
	if (dest == SMX_LOG_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	log_is_open = dest == SMX_LOG_SYSLOG;
}

void
smx_log_set_verbose(bool on)
{
	log_verbose = on;
}

void
smx_log_set_sink(smx_log_sink_fn *fn, void *ctx)
{
	log_sink = fn;
	log_sink_ctx = ctx;
}

static void emit(int, const char *, bool, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

static void
emit(int prio, const char *prefix, bool with_errno, const char *fmt, va_list ap)
{
	char line[SMX_LOG_LINE_MAX + 1];
	int saved_errno = errno;
	size_t len;
	size_t i;
	int n;

	n = snprintf(line, sizeof(line), "%s", prefix);
	len = n < 0 ? 0 : (size_t)n;
	if (len < sizeof(line)) {
		n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		len = n < 0 ? len : len + (size_t)n;
	}
	if (with_errno && len < sizeof(line)) {
		n = snprintf(line + len, sizeof(line) - len, ": %s",
		    strerror(saved_errno));
		len = n < 0 ? len : len + (size_t)n;
	}
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	line[len] = '\0';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c > 0x7e)
			line[i] = '?';
	}
	if (log_sink != NULL)
		log_sink(prio, line, log_sink_ctx);
	if (log_dest == SMX_LOG_STDERR)
		fprintf(stderr, "%s[%ld]: %s\n", log_ident, (long)getpid(),
		    line);
	else
		syslog(prio, "%s", line);
	errno = saved_errno;
}

#define SMX_LOG_FN(name, prio, prefix, with_errno, guard)                      \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
                                                                               \
		if (!(guard))                                                  \
			return;                                                \
		va_start(ap, fmt);                                             \
		emit((prio), (prefix), (with_errno), fmt, ap);                 \
		va_end(ap);                                                    \
	}

SMX_LOG_FN(smx_log_info, LOG_INFO, "", false, true)
SMX_LOG_FN(smx_log_warning, LOG_WARNING, "warning: ", false, true)
SMX_LOG_FN(smx_log_warning_errno, LOG_WARNING, "warning: ", true, true)
SMX_LOG_FN(smx_log_error, LOG_ERR, "error: ", false, true)
SMX_LOG_FN(smx_log_error_errno, LOG_ERR, "error: ", true, true)
SMX_LOG_FN(smx_log_debug, LOG_DEBUG, "", false, log_verbose)

void
smx_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_CRIT, "panic: ", false, fmt, ap);
	va_end(ap);
	abort();
}
