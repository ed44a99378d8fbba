/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_log - Postfix-like logging to syslog or stderr
 * DESCRIPTION
 *	One formatted line per call, facility mail. Lines are sanitised here,
 *	not by callers: every byte outside printable ASCII becomes '?', so a
 *	hostile value cannot forge a second log line or a terminal escape.
 *
 *	Syslog lines are sent by this module, not by syslog(3): one
 *	datagram per line to /dev/log in the format glibc uses
 *	("<PRI>Mmm dd hh:mm:ss ident[pid]: text"), on a blocking socket, so
 *	a slow log daemon slows the program down but loses nothing, as with
 *	syslog(3). The process id is cached (and reset in a forked child)
 *	and the time stamp is formatted once per second, so a line costs
 *	one system call instead of syslog(3)'s two (getpid and send).
 *
 *	A log file (log_destination = /path, for hosts without a syslog
 *	daemon) gets the same lines as the traditional syslog file format
 *	that Postfix's maillog_file uses ("Mmm dd hh:mm:ss host
 *	ident[pid]: text"), one write(2) per line in append mode, so that
 *	several processes can share the file; smx_log_open reopens it (log
 *	rotation: SIGHUP). Lines on stderr carry the same time stamp unless
 *	systemd's journal reads them (JOURNAL_STREAM set), which stamps
 *	them itself.
 *
 *	In batch mode (smx_log_set_batch) info and debug lines are queued and
 *	sent together by smx_log_flush, which an event loop calls once per
 *	round and a delivery thread once per delivery: the lines of one round
 *	cost one system call (sendmmsg(2) to syslog, writev(2) to the file)
 *	and one wake-up of the log daemon. A warning or worse first flushes
 *	the queue and is then sent at once, so lines keep their order and
 *	problems are never delayed. Each line keeps the time it was logged.
 *
 *	Every function may be called from several threads. Batch mode and
 *	its queue belong to the thread that turned it on, so queueing takes
 *	no lock; one lock serialises what is sent, so that lines never mix.
 * LIMITS
 *	SMX_LOG_LINE_MAX bytes per line; longer lines are cut (logging must
 *	never fail because of input). A queue holds LOG_BATCH_MAX lines and
 *	LOG_QUEUE_BYTES bytes of text at most; a full queue is flushed.
 * DIAGNOSTICS
 *	None; logging failures are ignored, as syslog(3) does: a failed send
 *	reconnects to /dev/log once and retries, then drops the line(s).
 * SECURITY
 *	Under spawn(8), stderr is the Postfix connection: callers choose
 *	SMX_LOG_STDERR only for foreground runs.
 * SEE ALSO
 *	syslog(3), Postfix msg(3) conventions.
 */
#define _GNU_SOURCE /* sendmmsg */
#include "smx_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "smx_limits.h"
#include "smx_util.h"

#define LOG_PATH "/dev/log" /* _PATH_LOG, where syslog(3) sends */
#define LOG_IDENT_MAX 64
/* "<PRI>Mmm dd hh:mm:ss ident[pid]: " before the line. */
#define LOG_HEADER_MAX (5 + 16 + LOG_IDENT_MAX + 24)
#define LOG_DGRAM_MAX (LOG_HEADER_MAX + SMX_LOG_LINE_MAX + 1)
/* A file line has the host name besides, and a newline. */
#define LOG_FILE_LINE_MAX (LOG_DGRAM_MAX + 64)
#define LOG_BATCH_MAX 32
#define LOG_QUEUE_BYTES (8 * SMX_LOG_LINE_MAX)

/* One thread's lines in batch mode, not yet sent. */
struct log_queue {
	size_t n;
	size_t used; /* bytes of text */
	struct {
		int prio;
		time_t when;
		size_t off;
		size_t len;
	} line[LOG_BATCH_MAX];
	char text[LOG_QUEUE_BYTES];
};

static const char *log_ident = "secmx";
static char log_path[sizeof(((struct sockaddr_un *)0)->sun_path)] = LOG_PATH;
static enum smx_log_dest log_dest = SMX_LOG_SYSLOG;
static bool log_verbose;
static smx_log_sink_fn *log_sink;
static void *log_sink_ctx;
static atomic_bool log_has_sink; /* log_sink != NULL, read without the lock */
static int log_fd = -1;
static int log_file_fd = -1;
static char log_host[64] = "localhost"; /* for file lines */
static bool log_stderr_stamp;           /* not under systemd's journal */
static bool log_stderr_copy;            /* errors to stderr as well */
static pid_t log_pid;                   /* 0: not known in this process yet */
static bool log_has_atfork;
static time_t log_stamp_time = (time_t)-1;
static char log_stamp[32]; /* "Mmm dd hh:mm:ss" of log_stamp_time */
/* Lines formatted for sending, under the lock. */
static char batch[LOG_BATCH_MAX][LOG_FILE_LINE_MAX];
static size_t batch_len[LOG_BATCH_MAX];
/* Whatever sends or changes the destination takes it. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* Batch mode of this thread: its queue, NULL when off. */
static _Thread_local struct log_queue *log_queue;

static void log_flush(void);

/*
 * fork(2) with the lock held in another thread would leave it locked for
 * good in the child: hold it across the fork. A forked child has another
 * pid and must not send the parent's queue.
 */
static void
log_atfork_prepare(void)
{
	(void)pthread_mutex_lock(&log_lock);
}

static void
log_atfork_parent(void)
{
	(void)pthread_mutex_unlock(&log_lock);
}

static void
log_atfork_child(void)
{
	log_pid = 0;
	if (log_queue != NULL)
		log_queue->n = log_queue->used = 0;
	(void)pthread_mutex_unlock(&log_lock);
}

static void
log_disconnect(void)
{
	if (log_fd >= 0)
		(void)close(log_fd);
	log_fd = -1;
}

/* Connect to /dev/log; on failure stay disconnected, retry next time. */
static bool
log_connect(void)
{
	struct sockaddr_un sun;

	if (log_fd >= 0)
		return true;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, log_path, sizeof(log_path));
	log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (log_fd < 0)
		return false;
	if (connect(log_fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		log_disconnect();
		return false;
	}
	return true;
}

/* The file for log_destination = /path; false with errno. */
static bool
log_file_open(const char *path)
{
	char *dot;

	if (log_file_fd >= 0)
		(void)close(log_file_fd);
	log_file_fd = -1;
	if (path == NULL || path[0] != '/') {
		errno = EINVAL;
		return false;
	}
	log_file_fd = open(path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
	    0640);
	if (log_file_fd < 0)
		return false;
	/* The short host name, as syslog daemons write it. */
	if (gethostname(log_host, sizeof(log_host)) != 0)
		smx_strlcpy(log_host, "localhost", sizeof(log_host));
	log_host[sizeof(log_host) - 1] = '\0';
	if ((dot = strchr(log_host, '.')) != NULL && dot != log_host)
		*dot = '\0';
	return true;
}

bool
smx_log_open(const char *ident, enum smx_log_dest dest, const char *path)
{
	bool is_ok = true;
	int saved = 0;

	(void)pthread_mutex_lock(&log_lock);
	log_flush();
	log_disconnect();
	if (dest == SMX_LOG_FILE && !log_file_open(path)) {
		saved = errno;
		dest = SMX_LOG_SYSLOG;
		is_ok = false;
	} else if (dest != SMX_LOG_FILE && log_file_fd >= 0) {
		(void)close(log_file_fd);
		log_file_fd = -1;
	}
	log_ident = ident;
	log_dest = dest;
	log_pid = 0;
	log_stderr_stamp = getenv("JOURNAL_STREAM") == NULL;
	if (!log_has_atfork)
		log_has_atfork = pthread_atfork(log_atfork_prepare,
		                     log_atfork_parent, log_atfork_child) == 0;
	if (dest == SMX_LOG_SYSLOG)
		(void)log_connect();
	(void)pthread_mutex_unlock(&log_lock);
	if (!is_ok) {
		errno = saved;
		smx_log_warning_errno("cannot open the log file %s; logging to "
		                      "syslog",
		    path != NULL ? path : "(none)");
	}
	return is_ok;
}

bool
smx_log_set_socket(const char *path)
{
	bool is_ok = true;

	(void)pthread_mutex_lock(&log_lock);
	if (smx_strlcpy(log_path, path, sizeof(log_path)) >= sizeof(log_path)) {
		smx_strlcpy(log_path, LOG_PATH, sizeof(log_path));
		is_ok = false;
	} else {
		log_disconnect();
	}
	(void)pthread_mutex_unlock(&log_lock);
	return is_ok;
}

void
smx_log_set_batch(bool on)
{
	if (on && log_queue == NULL) {
		/* Without the memory this thread logs line by line. */
		log_queue = calloc(1, sizeof(*log_queue));
	} else if (!on && log_queue != NULL) {
		smx_log_flush();
		free(log_queue);
		log_queue = NULL;
	}
}

/* log_stamp: "Mmm dd hh:mm:ss" of when, formatted once per second. */
static void
log_stamp_at(time_t when)
{
	if (when != log_stamp_time) {
		struct tm tm;

		if (localtime_r(&when, &tm) == NULL ||
		    strftime(log_stamp, sizeof(log_stamp), "%h %e %T", &tm) ==
		        0)
			memcpy(log_stamp, "Jan  1 00:00:00",
			    sizeof("Jan  1 00:00:00"));
		log_stamp_time = when;
	}
	if (log_pid == 0)
		log_pid = getpid();
}

/* One line to be sent: sanitised text, its priority and time. */
struct log_line {
	int prio;
	time_t when;
	const char *text;
	size_t len;
};

/*
 * batch[k]: line l as the destination takes it, a syslog datagram
 * ("<PRI>Mmm dd hh:mm:ss ident[pid]: text", as syslog(3) formats) or a
 * file line ("Mmm dd hh:mm:ss host ident[pid]: text\n"). False when it
 * does not fit (never: the text is at most SMX_LOG_LINE_MAX).
 */
static bool
log_format(size_t k, const struct log_line *l)
{
	char *d = batch[k];
	size_t room;
	int n;

	log_stamp_at(l->when);
	if (log_dest == SMX_LOG_FILE)
		n = snprintf(d, LOG_FILE_LINE_MAX,
		    "%s %s %.*s[%ld]: ", log_stamp, log_host, LOG_IDENT_MAX,
		    log_ident, (long)log_pid);
	else
		n = snprintf(d, LOG_FILE_LINE_MAX,
		    "<%d>%s %.*s[%ld]: ", LOG_MAIL | l->prio, log_stamp,
		    LOG_IDENT_MAX, log_ident, (long)log_pid);
	room = log_dest == SMX_LOG_FILE ? LOG_FILE_LINE_MAX - 1 : LOG_DGRAM_MAX;
	if (n < 0 || (size_t)n > room || l->len > room - (size_t)n)
		return false;
	memcpy(d + n, l->text, l->len);
	batch_len[k] = (size_t)n + l->len;
	if (log_dest == SMX_LOG_FILE)
		d[batch_len[k]++] = '\n';
	return true;
}

/* Send batch[0..n) with sendmmsg; reconnect once on failure. */
static void
log_send(size_t n)
{
	struct mmsghdr msgs[LOG_BATCH_MAX];
	struct iovec iov[LOG_BATCH_MAX];
	size_t done = 0;
	bool is_retried = false;
	size_t i;

	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < n; i++) {
		iov[i].iov_base = batch[i];
		iov[i].iov_len = batch_len[i];
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (done < n) {
		int r = -1;

		if (log_connect())
			r = sendmmsg(log_fd, msgs + done, (unsigned)(n - done),
			    MSG_NOSIGNAL);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		/* The log daemon restarted, or is not there: once more. */
		log_disconnect();
		if (is_retried)
			return;
		is_retried = true;
	}
}

/*
 * Append batch[0..n) to the file in one writev(2): in append mode the
 * lines go in whole and together, whoever else writes the file.
 */
static void
log_file_write(size_t n)
{
	struct iovec iov[LOG_BATCH_MAX];
	ssize_t w;
	size_t i;

	for (i = 0; i < n; i++) {
		iov[i].iov_base = batch[i];
		iov[i].iov_len = batch_len[i];
	}
	do {
		w = writev(log_file_fd, iov, (int)n);
	} while (w < 0 && errno == EINTR);
}

/* Lines l[0..n) (n at most LOG_BATCH_MAX) out, with the lock held. */
static void
log_write(const struct log_line *l, size_t n)
{
	size_t k = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (log_dest != SMX_LOG_STDERR) {
			if (log_format(k, &l[i]))
				k++;
		} else if (log_stderr_stamp) {
			log_stamp_at(l[i].when);
			fprintf(stderr, "%s %s[%ld]: %.*s\n", log_stamp,
			    log_ident, (long)getpid(), (int)l[i].len,
			    l[i].text);
		} else {
			fprintf(stderr, "%s[%ld]: %.*s\n", log_ident,
			    (long)getpid(), (int)l[i].len, l[i].text);
		}
		if (log_stderr_copy && log_dest != SMX_LOG_STDERR &&
		    l[i].prio <= LOG_WARNING)
			fprintf(stderr, "%s: %.*s\n", log_ident, (int)l[i].len,
			    l[i].text);
	}
	if (k > 0 && log_dest == SMX_LOG_FILE)
		log_file_write(k);
	else if (k > 0)
		log_send(k);
}

/* Send this thread's queue, with the lock held. */
static void
log_flush(void)
{
	struct log_line l[LOG_BATCH_MAX];
	struct log_queue *q = log_queue;
	int saved_errno = errno;
	size_t i;

	if (q == NULL || q->n == 0)
		return;
	for (i = 0; i < q->n; i++) {
		l[i].prio = q->line[i].prio;
		l[i].when = q->line[i].when;
		l[i].text = q->text + q->line[i].off;
		l[i].len = q->line[i].len;
	}
	log_write(l, q->n);
	q->n = q->used = 0;
	errno = saved_errno;
}

void
smx_log_flush(void)
{
	/* Nothing queued, nothing to wait for. */
	if (log_queue == NULL || log_queue->n == 0)
		return;
	(void)pthread_mutex_lock(&log_lock);
	log_flush();
	(void)pthread_mutex_unlock(&log_lock);
}

void
smx_log_set_stderr_copy(bool on)
{
	(void)pthread_mutex_lock(&log_lock);
	log_stderr_copy = on;
	(void)pthread_mutex_unlock(&log_lock);
}

void
smx_log_set_verbose(bool on)
{
	log_verbose = on;
}

void
smx_log_set_sink(smx_log_sink_fn *fn, void *ctx)
{
	(void)pthread_mutex_lock(&log_lock);
	log_sink = fn;
	log_sink_ctx = ctx;
	atomic_store(&log_has_sink, fn != NULL);
	(void)pthread_mutex_unlock(&log_lock);
}

/* Queue a line of this thread's batch, sending the queue when full. */
static void
log_queue_add(const struct log_line *l)
{
	struct log_queue *q = log_queue;

	if (q->n == LOG_BATCH_MAX || l->len > sizeof(q->text) - q->used)
		smx_log_flush();
	q->line[q->n].prio = l->prio;
	q->line[q->n].when = l->when;
	q->line[q->n].off = q->used;
	q->line[q->n].len = l->len;
	memcpy(q->text + q->used, l->text, l->len);
	q->used += l->len;
	q->n++;
}

static void emit(int, const char *, bool, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

static void
emit(int prio, const char *prefix, bool with_errno, const char *fmt, va_list ap)
{
	char line[SMX_LOG_LINE_MAX + 1];
	int saved_errno = errno;
	struct log_line l;
	bool is_queued;
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
	l.prio = prio;
	l.when = time(NULL);
	l.text = line;
	l.len = len;
	is_queued =
	    log_queue != NULL && (prio == LOG_INFO || prio == LOG_DEBUG);
	if (is_queued && !atomic_load(&log_has_sink)) {
		log_queue_add(&l);
		errno = saved_errno;
		return;
	}
	(void)pthread_mutex_lock(&log_lock);
	if (log_sink != NULL)
		log_sink(prio, line, log_sink_ctx);
	if (is_queued) {
		(void)pthread_mutex_unlock(&log_lock);
		log_queue_add(&l);
	} else {
		/* What is queued goes first: lines keep their order. */
		log_flush();
		log_write(&l, 1);
		(void)pthread_mutex_unlock(&log_lock);
	}
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
