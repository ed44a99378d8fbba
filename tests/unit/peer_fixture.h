/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	peer_fixture - start and stop smx-smtp-peer and test certificates
 * DESCRIPTION
 *	Shared by the unit tests that talk to a real server on loopback
 *	(check_smx_tls, check_smtp_session). certs_make() runs
 *	scripts/make-test-certs into a fresh temporary directory;
 *	peer_start() forks and executes the peer (SMX_SMTP_PEER, a compile
 *	definition) with one scenario, reads the port it listens on from a
 *	pipe, and peer_stop() ends it by its pid with SIGTERM and waitpid.
 *	The peer serves every connection in a child of its own (-F), so
 *	that a client may keep a connection idle and open another one, and
 *	counts the connections it accepts (-C, peer_connections()) and
 *	records which read brought each command (-R, peer_reads(),
 *	peer_pipelining()). peer_start_with() passes more options (-L:
 *	offer PIPELINING).
 *	The peer also gets SIGTERM from the kernel when the test process
 *	dies (PR_SET_PDEATHSIG), so a failed assertion leaks nothing.
 * LIMITS
 *	The peer must report its port within 10 s.
 * SECURITY
 *	Test code only. Loopback only.
 */
#ifndef PEER_FIXTURE_H
#define PEER_FIXTURE_H

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct peer {
	pid_t pid;
	unsigned port;
	char dir[64];
	char transcript[128];
	char pidfile[128];
	char countfile[128];
	char readsfile[128];
};

static char certs_dir[64];

/* Names in the certificates (see make-test-certs). */
#define CERT_NAME "mx1.example.test"

static inline void
certs_make(void)
{
	char cmd[512];
	int n;

	snprintf(certs_dir, sizeof(certs_dir), "/tmp/secmx-certs.XXXXXX");
	if (mkdtemp(certs_dir) == NULL)
		abort();
	n = snprintf(cmd, sizeof(cmd),
	    "sh %s/scripts/make-test-certs %s " CERT_NAME
	    " '*.wild.example.test' 'mx*.part.example.test' >/dev/null 2>&1",
	    SMX_SOURCE_DIR, certs_dir);
	if (n < 0 || (size_t)n >= sizeof(cmd) || system(cmd) != 0)
		abort();
}

static inline void
certs_remove(void)
{
	char cmd[128];

	if (certs_dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", certs_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", certs_dir);
	certs_dir[0] = '\0';
}

/*
 * Start the peer with scenario and certificate base name (file names
 * base.pem and base.key in certs_dir, or NULL), max_proto or NULL, and
 * the options in extra (NULL-terminated, or NULL).
 */
static inline bool
peer_start_with(struct peer *p, const char *scenario, const char *cert,
    const char *max_proto, const char *const *extra)
{
	char certf[128];
	char keyf[128];
	char line[16];
	struct pollfd pfd;
	int fds[2];
	ssize_t n;
	size_t len = 0;
	static char store[24][256];
	char *argv[24];
	const char *args[24];
	int ac = 0;
	int i;

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/secmx-peer.XXXXXX");
	if (mkdtemp(p->dir) == NULL)
		return false;
	snprintf(p->transcript, sizeof(p->transcript), "%s/transcript", p->dir);
	snprintf(p->pidfile, sizeof(p->pidfile), "%s/pid", p->dir);
	snprintf(p->countfile, sizeof(p->countfile), "%s/connections", p->dir);
	snprintf(p->readsfile, sizeof(p->readsfile), "%s/reads", p->dir);
	args[ac++] = SMX_SMTP_PEER;
	args[ac++] = "-s";
	args[ac++] = scenario;
	args[ac++] = "-t";
	args[ac++] = p->transcript;
	args[ac++] = "-p";
	args[ac++] = p->pidfile;
	args[ac++] = "-F";
	args[ac++] = "-C";
	args[ac++] = p->countfile;
	args[ac++] = "-R";
	args[ac++] = p->readsfile;
	if (cert != NULL) {
		snprintf(certf, sizeof(certf), "%s/%s.pem", certs_dir, cert);
		snprintf(keyf, sizeof(keyf), "%s/%s.key", certs_dir, cert);
		args[ac++] = "-c";
		args[ac++] = certf;
		args[ac++] = "-k";
		args[ac++] = keyf;
	}
	if (max_proto != NULL) {
		args[ac++] = "-m";
		args[ac++] = max_proto;
	}
	for (i = 0; extra != NULL && extra[i] != NULL && ac < 22; i++)
		args[ac++] = extra[i];
	/* execv wants modifiable strings. */
	for (i = 0; i < ac; i++) {
		snprintf(store[i], sizeof(store[i]), "%s", args[i]);
		argv[i] = store[i];
	}
	argv[ac] = NULL;
	if (pipe(fds) < 0)
		return false;
	if ((p->pid = fork()) < 0)
		return false;
	if (p->pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
		(void)dup2(fds[1], STDOUT_FILENO);
		(void)close(fds[0]);
		(void)close(fds[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	(void)close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while (len < sizeof(line) - 1 && memchr(line, '\n', len) == NULL) {
		if (poll(&pfd, 1, 10000) <= 0)
			break;
		if ((n = read(fds[0], line + len, sizeof(line) - 1 - len)) <= 0)
			break;
		len += (size_t)n;
	}
	(void)close(fds[0]);
	line[len] = '\0';
	p->port = (unsigned)strtoul(line, NULL, 10);
	return p->port > 0 && p->port < 65536;
}

static inline bool
peer_start(struct peer *p, const char *scenario, const char *cert,
    const char *max_proto)
{
	return peer_start_with(p, scenario, cert, max_proto, NULL);
}

static inline void
peer_stop(struct peer *p)
{
	char cmd[128];
	int status;

	if (p->pid > 0) {
		(void)kill(p->pid, SIGTERM);
		while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
			;
		p->pid = 0;
	}
	if (p->dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", p->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", p->dir);
		p->dir[0] = '\0';
	}
}

/* The whole transcript in a malloc'd buffer (caller frees), length set. */
static inline char *
peer_transcript(const struct peer *p, size_t *len)
{
	FILE *fp = fopen(p->transcript, "rb");
	char *buf;
	long size;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)size + 1)) == NULL) {
		fclose(fp);
		return NULL;
	}
	*len = fread(buf, 1, (size_t)size, fp);
	buf[*len] = '\0';
	fclose(fp);
	return buf;
}

/* The connections the peer has accepted so far. */
static inline size_t
peer_connections(const struct peer *p)
{
	FILE *fp = fopen(p->countfile, "r");
	size_t n = 0;
	int ch;

	if (fp == NULL)
		return 0;
	while ((ch = fgetc(fp)) != EOF)
		n += ch == '\n';
	fclose(fp);
	return n;
}

/* The -R file so far: "CONN FIRST LAST VERB" per command line. */
struct peer_read {
	unsigned long conn;  /* the connection, from 1 */
	unsigned long first; /* the read on it that brought its first byte */
	unsigned long last;  /* and its last */
	char verb[16];
};

/* Up to max lines of the -R file into r, in order; how many. */
static inline size_t
peer_reads(const struct peer *p, struct peer_read *r, size_t max)
{
	FILE *fp = fopen(p->readsfile, "r");
	size_t n = 0;

	if (fp == NULL)
		return 0;
	while (n < max &&
	    fscanf(fp, "%lu %lu %lu %15s", &r[n].conn, &r[n].first, &r[n].last,
	        r[n].verb) == 4)
		n++;
	fclose(fp);
	return n;
}

static inline bool
peer_is_verb(const struct peer_read *r, const char *verb)
{
	return strcmp(r->verb, verb) == 0;
}

/*
 * How the transactions arrived: *n_piped counts MAIL commands that came
 * in one read together with at least one RCPT and everything up to
 * DATA (or the last RCPT) after them on their connection: one write of
 * the client; *n_serial counts the others.
 */
static inline void
peer_pipelining(const struct peer *p, size_t *n_piped, size_t *n_serial)
{
	static struct peer_read r[4096];
	size_t n = peer_reads(p, r, sizeof(r) / sizeof(r[0]));
	size_t i;
	size_t j;

	*n_piped = *n_serial = 0;
	for (i = 0; i < n; i++) {
		bool is_one = r[i].first == r[i].last;
		size_t n_after = 0;

		if (!peer_is_verb(&r[i], "MAIL"))
			continue;
		/* What followed on the same connection. */
		for (j = i + 1; j < n; j++) {
			if (r[j].conn != r[i].conn)
				continue;
			if (!peer_is_verb(&r[j], "RCPT") &&
			    !peer_is_verb(&r[j], "DATA"))
				break;
			is_one = is_one && r[j].first == r[i].first &&
			    r[j].last == r[i].first;
			n_after++;
			if (peer_is_verb(&r[j], "DATA"))
				break;
		}
		*(is_one && n_after > 0 ? n_piped : n_serial) += 1;
	}
}

static inline void
peer_addr(const struct peer *p, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)p->port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

#endif
