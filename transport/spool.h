/* SPDX-License-Identifier: MIT */
#ifndef SPOOL_H
#define SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "smx_limits.h"
#include "smx_status.h"

/*
 * struct spool - a whole message, read once from a descriptor (pipe(8)
 * stdin) and readable again from the start as often as needed, so that a
 * second server can be tried. The first SPOOL_MEM_MAX bytes are kept in
 * memory; the rest goes to an unlinked temporary file. The caller owns
 * the struct; spool_free() releases what it holds. One reader at a time:
 * the read position lives in the struct (threads that send the same
 * message at once each need their own struct spool, or a lock).
 */
struct spool {
	char *mem;                   /* SPOOL_MEM_MAX bytes, or NULL */
	size_t mem_len;              /* bytes of the message in mem */
	int fd;                      /* unlinked temporary file, or -1 */
	unsigned long long size;     /* bytes of the message in all */
	unsigned long long read_pos; /* next byte spool_read returns */
};

/* spool_init - an empty spool; allocates nothing. */
void spool_init(struct spool *);

/*
 * spool_read_fd - read fd until end of file into sp (which must be
 * freshly initialised). max_size bounds the message (0: no bound other
 * than the file system). Messages over SPOOL_MEM_MAX continue into a file
 * made with mkstemp(3) in $TMPDIR (when set to an absolute path) or /tmp
 * and unlinked at once, written in SPOOL_CHUNK pieces. Returns SMX_OK
 * (sp is rewound and ready to read), SMX_INVALID when the message is
 * larger than max_size, SMX_TEMPFAIL on read, write or memory trouble;
 * a short reason goes into reason. On failure sp holds nothing (as after
 * spool_free). Never exits.
 */
enum smx_status spool_read_fd(struct spool *sp, int fd,
    unsigned long long max_size, char *reason, size_t reason_size);

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
