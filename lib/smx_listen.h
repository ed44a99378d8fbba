/* SPDX-License-Identifier: MIT */
#ifndef SMX_LISTEN_H
#define SMX_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "smx_limits.h"
#include "smx_status.h"

enum smx_listen_kind {
	SMX_LISTEN_UNIX = 0, /* unix:PATH */
	SMX_LISTEN_INET,     /* inet:HOST:PORT */
};

/*
 * struct smx_listen_endpoint - one parsed endpoint. For SMX_LISTEN_UNIX
 * only path is set; for SMX_LISTEN_INET host (without brackets) and port
 * (digits or a service name). text is the endpoint as given, for logs.
 */
struct smx_listen_endpoint {
	enum smx_listen_kind kind;
	char path[SMX_LISTEN_PATH_MAX + 1];
	char host[SMX_DOMAIN_MAX + 1];
	char port[SMX_LISTEN_PORT_MAX + 1];
	char text[SMX_LISTEN_TEXT_MAX + 1];
};

/*
 * struct smx_listen_opts - how to create listeners. mode and gid apply to
 * unix sockets only: the socket file gets mode (default 0660) and, when
 * has_gid, group gid, so that only the owner and that group (Postfix)
 * can connect. backlog is passed to listen(2) (0: SOMAXCONN).
 */
struct smx_listen_opts {
	mode_t mode;
	gid_t gid;
	bool has_gid;
	int backlog;
};

/* smx_listen_opts_init - mode 0660, no group, backlog SOMAXCONN. */
void smx_listen_opts_init(struct smx_listen_opts *);

/*
 * smx_listen_parse - parse "unix:PATH" or "inet:HOST:PORT" (HOST an IPv4
 * address, "[IPv6]" or a host name; PORT digits or a service name).
 * Returns SMX_OK with *out filled, or SMX_INVALID with a reason in err
 * (unknown type, empty or too long path, missing host or port, bad
 * brackets, bad characters). Pure; never exits.
 */
enum smx_status smx_listen_parse(const char *spec,
    struct smx_listen_endpoint *out, char *err, size_t errlen);

/*
 * smx_listen_parse_mode - parse an octal file mode ("660", "0660") up to
 * 0777. Returns SMX_OK with *out, or SMX_INVALID. Pure.
 */
enum smx_status smx_listen_parse_mode(const char *s, mode_t *out);

/*
 * smx_listen_open - create the listening sockets of one endpoint: stream
 * sockets, non-blocking and close-on-exec. inet endpoints get
 * SO_REUSEADDR and one socket per address the host resolves to (at most
 * max_fds). A unix endpoint is bound inside a new private directory
 * next to its path (".secmx-XXXXXX", mode 0700) with a umask that
 * leaves it closed to others, gets the group and mode of opts there and
 * is then renamed to its path, replacing a stale socket; anything else
 * at the path is an error, and no name in the path's directory is ever
 * followed. Returns SMX_OK with fds[0..*n_fds) (the caller owns and
 * closes them), SMX_INVALID for a name that does not resolve, a path
 * that is not a socket or one too long for the private directory, or
 * SMX_TEMPFAIL for other system errors, with "endpoint: problem" in err.
 * On error no descriptor, socket file or directory is left behind.
 * Never exits.
 */
enum smx_status smx_listen_open(const struct smx_listen_endpoint *,
    const struct smx_listen_opts *, int *fds, size_t max_fds, size_t *n_fds,
    char *err, size_t errlen);

/*
 * smx_listen_open_all - parse and open every endpoint of specs (the -l
 * arguments) with the same options, appending descriptors to fds. On
 * error returns the failing endpoint's status with its reason in err;
 * sockets opened so far stay in fds[0..*n_fds) for the caller to close.
 */
enum smx_status smx_listen_open_all(const char *const *specs, size_t n_specs,
    const struct smx_listen_opts *, int *fds, size_t max_fds, size_t *n_fds,
    char *err, size_t errlen);

/*
 * smx_listen_unlink_own - remove the unix sockets this process created
 * with smx_listen_open, each only while its name still holds that very
 * socket (not one a successor put there). For a daemon's exit. Never
 * fails.
 */
void smx_listen_unlink_own(void);

/*
 * smx_listen_accept - accept one connection on a listening socket as a
 * non-blocking, close-on-exec descriptor. Returns SMX_OK with *fd (the
 * caller owns it), SMX_NOTFOUND when none is pending (or the peer gave up
 * before it was accepted), or SMX_TEMPFAIL with errno set for resource
 * errors such as EMFILE (the caller should pause accepting). Never exits.
 */
enum smx_status smx_listen_accept(int lfd, int *fd);

/*
 * smx_listen_peer - a printable name of the peer of a connected socket
 * for logs: "[addr]:port" for inet, "unix:pid=N,uid=N" for unix sockets
 * (from SO_PEERCRED), or "fd N" when neither is known. Never fails.
 */
void smx_listen_peer(int fd, char *out, size_t outlen);

#endif
