/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	spool - a message kept so that it can be sent again
 * DESCRIPTION
 *	pipe(8) hands the message over once, on stdin, and may not seek; an
 *	LMTP server receives it once, in DATA. To try a second server after
 *	the first failed mid-DATA, the whole message is stored before the
 *	first connection: up to SPOOL_MEM_MAX bytes in memory, anything
 *	beyond in a temporary file that is unlinked as soon as it is
 *	created, so that nothing is left behind whatever happens to the
 *	process. One append path (spool_append) does the storing; reading a
 *	descriptor (spool_read_fd) is a loop around it.
 * LIMITS
 *	SPOOL_MEM_MAX bytes of memory plus one SPOOL_CHUNK buffer on the
 *	stack; the caller's max_size bounds the file.
 * DIAGNOSTICS
 *	Returns a status and a short reason; logs nothing. A failed append
 *	is final for that message: later appends fail the same way.
 * SECURITY
 *	The content is untrusted but only stored here. The temporary file
 *	is created mode 0600 by mkstemp(3) and has no name after creation.
 * SEE ALSO
 *	pipe(8) "message input"; mkstemp(3).
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smx_io.h"
#include "smx_util.h"

void
spool_init(struct spool *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	sp->mem_max = SPOOL_MEM_MAX;
}

/* read(2) until size bytes, EOF or error; EINTR is retried. */
static ssize_t
read_some(int fd, char *buf, size_t size)
{
	ssize_t n;

	do {
		n = read(fd, buf, size);
	} while (n < 0 && errno == EINTR);
	return n;
}

/* mkstemp in $TMPDIR (absolute only) or /tmp, unlinked at once. */
static int
make_temp(char *reason, size_t reason_size)
{
	char ebuf[128];
	char path[SMX_CONF_PATH_MAX];
	const char *dir = getenv("TMPDIR");
	int fd;
	int n;

	if (dir == NULL || dir[0] != '/')
		dir = "/tmp";
	n = snprintf(path, sizeof(path), "%s/secmx-spool.XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(reason, reason_size, "temporary directory too long");
		return -1;
	}
	if ((fd = mkstemp(path)) < 0) {
		snprintf(reason, reason_size, "mkstemp %s: %s", dir,
		    smx_strerror(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	/*
	 * Not inherited by programs that a threaded caller starts (mkostemp
	 * with O_CLOEXEC is not POSIX; the window until here is short).
	 */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(reason, reason_size, "fcntl %s: %s", path,
		    smx_strerror(errno, ebuf, sizeof(ebuf)));
		(void)unlink(path);
		(void)close(fd);
		return -1;
	}
	if (unlink(path) < 0) {
		snprintf(reason, reason_size, "unlink %s: %s", path,
		    smx_strerror(errno, ebuf, sizeof(ebuf)));
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* Give up on the message: release it and make the failure stick. */
static enum smx_status
append_fail(struct spool *sp, enum smx_status st)
{
	spool_free(sp);
	sp->failed = st;
	return st;
}

enum smx_status
spool_append(struct spool *sp, const char *buf, size_t len,
    unsigned long long max_size, char *reason, size_t reason_size)
{
	char ebuf[128];
	size_t room;

	if (sp->failed != SMX_OK) {
		snprintf(reason, reason_size, "earlier append failed");
		return sp->failed;
	}
	if (len == 0)
		return SMX_OK;
	/* Checked first: nothing of an oversized message is kept. */
	if (max_size != 0 &&
	    (sp->size > max_size || len > max_size - sp->size)) {
		snprintf(reason, reason_size, "message too large");
		return append_fail(sp, SMX_INVALID);
	}
	if (sp->mem == NULL && sp->fd < 0 &&
	    (sp->mem = malloc(sp->mem_max > 0 ? sp->mem_max : 1)) == NULL) {
		snprintf(reason, reason_size, "out of memory");
		return append_fail(sp, SMX_TEMPFAIL);
	}
	/* Memory first, while the file has nothing. */
	room = sp->fd < 0 ? sp->mem_max - sp->mem_len : 0;
	if (room > len)
		room = len;
	if (room > 0) {
		memcpy(sp->mem + sp->mem_len, buf, room);
		sp->mem_len += room;
		sp->size += room;
		buf += room;
		len -= room;
	}
	if (len == 0)
		return SMX_OK;
	if (sp->fd < 0 && (sp->fd = make_temp(reason, reason_size)) < 0)
		return append_fail(sp, SMX_TEMPFAIL);
	if (smx_io_write_all(sp->fd, buf, len, SMX_IO_FOREVER) != SMX_OK) {
		snprintf(reason, reason_size, "write temporary file: %s",
		    smx_strerror(errno, ebuf, sizeof(ebuf)));
		return append_fail(sp, SMX_TEMPFAIL);
	}
	sp->size += len;
	return SMX_OK;
}

enum smx_status
spool_finish(struct spool *sp, char *reason, size_t reason_size)
{
	if (sp->failed != SMX_OK) {
		snprintf(reason, reason_size, "earlier append failed");
		return sp->failed;
	}
	return spool_rewind(sp);
}

enum smx_status
spool_read_fd(struct spool *sp, int in, unsigned long long max_size,
    char *reason, size_t reason_size)
{
	char ebuf[128];
	char chunk[SPOOL_CHUNK];
	enum smx_status st;
	ssize_t n;

	spool_init(sp);
	while ((n = read_some(in, chunk, sizeof(chunk))) > 0) {
		st = spool_append(sp, chunk, (size_t)n, max_size, reason,
		    reason_size);
		if (st != SMX_OK)
			goto fail;
	}
	if (n < 0) {
		snprintf(reason, reason_size, "read message: %s",
		    smx_strerror(errno, ebuf, sizeof(ebuf)));
		st = SMX_TEMPFAIL;
		goto fail;
	}
	return spool_finish(sp, reason, reason_size);
fail:
	spool_free(sp);
	return st;
}

enum smx_status
spool_rewind(struct spool *sp)
{
	sp->read_pos = 0;
	return SMX_OK;
}

enum smx_status
spool_read(struct spool *sp, char *buf, size_t size, size_t *n_read)
{
	unsigned long long left = sp->size - sp->read_pos;
	ssize_t n;

	if (left < size)
		size = (size_t)left;
	if (size == 0) {
		*n_read = 0;
		return SMX_OK;
	}
	if (sp->read_pos < sp->mem_len) {
		size_t in_mem = sp->mem_len - (size_t)sp->read_pos;

		if (size > in_mem)
			size = in_mem;
		memcpy(buf, sp->mem + sp->read_pos, size);
		sp->read_pos += size;
		*n_read = size;
		return SMX_OK;
	}
	/* pread: the file offset never needs to be tracked or rewound. */
	do {
		n = pread(sp->fd, buf, size,
		    (off_t)(sp->read_pos - sp->mem_len));
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return SMX_TEMPFAIL;
	sp->read_pos += (unsigned long long)n;
	*n_read = (size_t)n;
	return SMX_OK;
}

unsigned long long
spool_size(const struct spool *sp)
{
	return sp->size;
}

bool
spool_is_file(const struct spool *sp)
{
	return sp->fd >= 0;
}

void
spool_free(struct spool *sp)
{
	size_t mem_max = sp->mem_max;

	free(sp->mem);
	sp->mem = NULL;
	if (sp->fd >= 0)
		(void)close(sp->fd);
	spool_init(sp);
	sp->mem_max = mem_max;
}
