/* SPDX-License-Identifier: MIT */
#ifndef SPOOL_H
#define SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"

/*
 * struct spool - a whole message, stored once (read from a descriptor such
 * as pipe(8) stdin, or appended piece by piece as a server receives it)
 * and readable again from the start as often as needed, so that a second
 * server can be tried. The first mem_max bytes are kept in memory;
 * the rest goes to an unlinked temporary file. The caller owns the
 * struct; spool_free() releases what it holds. One reader at a time: the
 * read position lives in the struct (threads that send the same message
 * at once each need their own struct spool, or a lock).
 */
struct spool {
	char *mem;                   /* mem_max bytes, or NULL */
	size_t mem_max;              /* memory before the file; spool_init
	                              * sets SPOOL_MEM_MAX, a caller may
	                              * lower it before the first append */
	size_t mem_len;              /* bytes of the message in mem */
	int fd;                      /* unlinked temporary file, or -1 */
	unsigned long long size;     /* bytes of the message in all */
	unsigned long long read_pos; /* next byte spool_read returns */
	enum smx_status failed;      /* SMX_OK, or why an append failed */
};

/* spool_init - an empty spool; allocates nothing. */
void spool_init(struct spool *);

/*
 * spool_read_fd - read fd until end of file into sp, which is initialised
 * here (anything it held is not released: pass a new or freed spool).
 * The bytes go through spool_append in SPOOL_CHUNK pieces: max_size bounds
 * the message (0: no bound other than the file system); messages over
 * SPOOL_MEM_MAX continue into a file made with mkstemp(3) in $TMPDIR (when
 * set to an absolute path) or /tmp and unlinked at once. Returns SMX_OK
 * (sp is rewound and ready to read), SMX_INVALID when the message is
 * larger than max_size, SMX_TEMPFAIL on read, write or memory trouble;
 * a short reason goes into reason. On failure sp holds nothing (as after
 * spool_free). Never exits.
 */
enum smx_status spool_read_fd(struct spool *sp, int fd,
    unsigned long long max_size, char *reason, size_t reason_size);

/*
 * spool_append - add len bytes of buf at the end of the message in sp
 * (initialised with spool_init; any number of calls, of any size,
 * including 0). The first SPOOL_MEM_MAX bytes go to memory (allocated at
 * the first byte; mem_max of them), the rest to a temporary file made as for
 * spool_read_fd. max_size bounds the whole message (0: no bound other
 * than the file system). Returns SMX_OK; SMX_INVALID ("message too
 * large") when the message would exceed max_size; SMX_TEMPFAIL on memory
 * or file trouble; a short reason goes into reason. A failure releases
 * what sp held (as spool_free) and sticks: every later spool_append and
 * spool_finish fails with the same status, so a message with a hole can
 * never be finished; spool_free or spool_init starts afresh. Never exits.
 */
enum smx_status spool_append(struct spool *sp, const char *buf, size_t len,
    unsigned long long max_size, char *reason, size_t reason_size);

/*
 * spool_finish - end a message built with spool_append: returns SMX_OK
 * with sp rewound and ready to read, or the status of an earlier failed
 * append (sp then holds nothing) with a short reason. Never exits.
 */
enum smx_status spool_finish(struct spool *sp, char *reason,
    size_t reason_size);

/*
 * spool_rewind - make the next spool_read start at the first byte.
 * Returns SMX_OK, or SMX_TEMPFAIL when the file cannot be repositioned.
 */
enum smx_status spool_rewind(struct spool *);

/*
 * spool_read - copy up to size bytes from the current position into buf;
 * *n_read is 0 at the end of the message. Returns SMX_OK or SMX_TEMPFAIL
 * (I/O error, or the file is shorter than recorded). Never exits.
 */
enum smx_status spool_read(struct spool *, char *buf, size_t size,
    size_t *n_read);

/* spool_size - bytes in the message. */
unsigned long long spool_size(const struct spool *);

/* spool_is_file - true when part of the message is in the temporary file. */
bool spool_is_file(const struct spool *);

/* spool_free - release memory and close the file; sp is empty again. */
void spool_free(struct spool *);

#endif
