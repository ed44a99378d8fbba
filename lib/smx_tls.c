/* SPDX-License-Identifier: MIT */
/*
 * NAME
 *	smx_tls - TLS client contexts, handshakes and I/O with timeouts
 * DESCRIPTION
 *	The only module that includes OpenSSL. It builds a client context
 *	(minimum protocol, trust anchors, verify mode), runs a poll-driven
 *	client handshake on a caller-owned connected socket with SNI and a
 *	list of reference names, and then reads and writes with timeouts.
 *	Certificate chain and host-name checks are OpenSSL's own
 *	(X509_VERIFY_PARAM host names with partial wildcards refused); a
 *	".domain" reference name matches any host below the domain, as
 *	Postfix's "dot-nexthop". Verification failures are collected by a
 *	callback that lets the handshake finish, so that a failed check can
 *	be told apart from a failed handshake (Postfix smtp(8) reports them
 *	differently) and its reason reported.
 *
 *	With a session cache (smx_tls_cache, secmx-lmtpd) the client
 *	resumes sessions as Postfix's smtp(8) does with tlsmgr(8): new
 *	sessions are captured with a new-session callback (client cache
 *	mode, no OpenSSL store), TLS 1.3 tickets included, and kept in DER
 *	form under a digest of the context's rules, the server's address,
 *	SNI, names and TLSA records, with the verdict of the verification
 *	that made them; a resumed session reports that verdict.
 *
 *	Thread safety: a context is made once and then only read (SSL_new
 *	is safe on a shared SSL_CTX in OpenSSL 3); a connection belongs to
 *	one thread at a time; the callbacks find their connection through
 *	the SSL object's application data (no ex_data index of our own to
 *	create); the OpenSSL error queue is per thread.
 * LIMITS
 *	At most SMX_TLS_NAMES_MAX reference names; every wait is bounded by
 *	the caller's timeout; reasons are truncated to the caller's buffer.
 * DIAGNOSTICS
 *	Returns a status and a reason that includes the drained OpenSSL
 *	error queue; logs nothing itself.
 * SECURITY
 *	Everything from the peer is untrusted. Never TLS below 1.2, no
 *	compression, no renegotiation. With verify=ca a connection whose
 *	chain or name does not verify is shut down and not returned.
 *	The caller must ignore SIGPIPE (OpenSSL writes with write(2)).
 * SEE ALSO
 *	RFC 3207 (STARTTLS), RFC 6125 (host names in certificates), RFC 6066
 *	section 3 (SNI), X509_check_host(3), SSL_set1_host(3), Postfix
 *	TLS_README and postconf(5) smtp_tls_secure_cert_match.
 */
#include "smx_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "smx_io.h"
#include "smx_tls_cache.h"
#include "smx_util.h"

/* RFC 6698 section 7 (IANA registries of the TLSA fields). */
enum {
	TLSA_DANE_TA = 2,
	TLSA_DANE_EE = 3,
	TLSA_SELECTOR_CERT = 0,
	TLSA_SELECTOR_SPKI = 1,
	TLSA_MATCH_FULL = 0,
	TLSA_MATCH_SHA256 = 1,
	TLSA_MATCH_SHA512 = 2,
};

struct smx_tls_ctx {
	SSL_CTX *ssl_ctx;
	enum smx_tls_verify verify;
	unsigned char id[SMX_TLS_DIGEST_SIZE]; /* digest of the settings */
};

struct smx_tls_conn {
	SSL *ssl;
	int fd;
	enum smx_tls_failure failure; /* of the last failed I/O call */
	int alert;                    /* fatal alert received, or -1 */
	long first_verify_error;      /* first X509 error seen, or X509_V_OK */
	int first_verify_depth;
	/* With a session cache (peer->cache); NULL and false without. */
	struct smx_tls_session_cache *cache;
	unsigned char key[SMX_TLS_DIGEST_SIZE]; /* of the peer and where */
	bool is_offered;  /* a kept session was offered to the server */
	bool is_verified; /* checked and good: new sessions may be kept */
	struct smx_tls_verdict verdict; /* of the full handshake */
	unsigned char *pending; /* a session that came before the check */
	size_t pending_len;
};

const char *
smx_tls_verified_name(enum smx_tls_verified v)
{
	switch (v) {
	case SMX_TLS_VERIFIED_CA:
		return "ca";
	case SMX_TLS_VERIFIED_DANE_EE:
		return "dane-ee";
	case SMX_TLS_VERIFIED_DANE_TA:
		return "dane-ta";
	case SMX_TLS_VERIFIED_FAIL:
		return "fail";
	case SMX_TLS_VERIFIED_NONE:
		break;
	}
	return "none";
}

const char *
smx_tls_failure_name(enum smx_tls_failure f)
{
	switch (f) {
	case SMX_TLS_FAIL_TIMEOUT:
		return "timeout";
	case SMX_TLS_FAIL_LOST:
		return "lost";
	case SMX_TLS_FAIL_ALERT:
		return "alert";
	case SMX_TLS_FAIL_PROTOCOL:
		return "protocol";
	case SMX_TLS_FAIL_VERIFY:
		return "verify";
	case SMX_TLS_FAIL_NONE:
		break;
	}
	return "none";
}

/*
 * Write "what: queue entries" into reason and empty the OpenSSL error
 * queue so that nothing stale is reported for a later call.
 */
static void
set_reason(char *reason, size_t size, const char *what)
{
	unsigned long e;
	bool is_first = true;
	size_t len;
	int n;

	if (reason == NULL || size == 0) {
		ERR_clear_error();
		return;
	}
	n = snprintf(reason, size, "%s", what);
	len = n < 0 ? 0 : (size_t)n;
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		if (len + 3 >= size)
			continue; /* keep draining */
		ERR_error_string_n(e, one, sizeof(one));
		n = snprintf(reason + len, size - len, "%s%s",
		    is_first ? ": " : "; ", one);
		is_first = false;
		if (n < 0)
			break;
		len += (size_t)n;
		if (len >= size)
			len = size - 1;
	}
	ERR_clear_error();
}

/* Wait for the socket as OpenSSL asked; a failure is recorded in c. */
static enum smx_status
wait_io(struct smx_tls_conn *c, short events, long long deadline, char *reason,
    size_t size)
{
	char ebuf[128];
	enum smx_status st = smx_io_wait(c->fd, events, deadline);

	if (st == SMX_OK)
		return SMX_OK;
	c->failure =
	    st == SMX_NOTFOUND ? SMX_TLS_FAIL_TIMEOUT : SMX_TLS_FAIL_LOST;
	if (st == SMX_NOTFOUND)
		snprintf(reason, size, "timeout");
	else
		snprintf(reason, size, "poll: %s",
		    smx_strerror(errno, ebuf, sizeof(ebuf)));
	return SMX_TEMPFAIL;
}

/*
 * Handle a non-success return of an SSL I/O call: wait for the socket when
 * OpenSSL asks for it (SMX_OK: retry), otherwise fail with a reason and
 * the kind of failure in c->failure: a fatal alert from the peer, a
 * closed or reset connection, or anything else OpenSSL refused.
 */
static enum smx_status
retry_or_fail(struct smx_tls_conn *c, int rc, long long deadline,
    const char *what, char *reason, size_t size)
{
	char ebuf[128];
	char msg[160];
	int err = SSL_get_error(c->ssl, rc);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		return wait_io(c, POLLIN, deadline, reason, size);
	case SSL_ERROR_WANT_WRITE:
		return wait_io(c, POLLOUT, deadline, reason, size);
	case SSL_ERROR_SYSCALL:
		c->failure = SMX_TLS_FAIL_LOST;
		snprintf(msg, sizeof(msg), "%s: %s", what,
		    errno != 0 ? smx_strerror(errno, ebuf, sizeof(ebuf))
		               : "connection closed");
		set_reason(reason, size, msg);
		return SMX_TEMPFAIL;
	case SSL_ERROR_ZERO_RETURN:
		c->failure = SMX_TLS_FAIL_LOST;
		set_reason(reason, size, "connection closed by the server");
		return SMX_TEMPFAIL;
	default:
		/* OpenSSL 3 reports an EOF in the handshake as an error. */
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			c->failure = SMX_TLS_FAIL_LOST;
			snprintf(msg, sizeof(msg), "%s: connection closed",
			    what);
		} else if (c->alert >= 0) {
			c->failure = SMX_TLS_FAIL_ALERT;
			snprintf(msg, sizeof(msg),
			    "%s: alert %s from the server", what,
			    SSL_alert_desc_string_long(c->alert));
		} else {
			c->failure = SMX_TLS_FAIL_PROTOCOL;
			snprintf(msg, sizeof(msg), "%s", what);
		}
		set_reason(reason, size, msg);
		return SMX_TEMPFAIL;
	}
}

/* Remember a fatal alert the peer sent (SSL_set_info_callback(3)). */
static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct smx_tls_conn *c;

	if ((where & SSL_CB_READ_ALERT) == 0 ||
	    (c = SSL_get_app_data(ssl)) == NULL)
		return;
	/* ret: level in the high byte, description in the low byte. */
	if (((ret >> 8) & 0xff) == SSL3_AL_FATAL && c->alert < 0)
		c->alert = ret & 0xff;
}

/*
 * Record the first verification problem and let the handshake go on, so
 * that a bad certificate is reported as such and not as a handshake
 * failure. The decision is taken after the handshake in smx_tls_connect.
 */
static int
verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl;
	struct smx_tls_conn *c;

	if (ok)
		return 1;
	ssl = X509_STORE_CTX_get_ex_data(store,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL || (c = SSL_get_app_data(ssl)) == NULL)
		return 0;
	if (c->first_verify_error == X509_V_OK) {
		c->first_verify_error = X509_STORE_CTX_get_error(store);
		c->first_verify_depth = X509_STORE_CTX_get_error_depth(store);
	}
	return 1;
}

/*
 * One field of a digest: a byte that tells NULL from "", eight bytes of
 * length, then the bytes, so that no two sequences of fields give the
 * same input.
 */
static bool
digest_field(EVP_MD_CTX *md, const void *p, size_t len, bool is_null)
{
	unsigned char prefix[9];
	unsigned long long v = len;
	size_t i;

	prefix[0] = is_null ? 0 : 1;
	for (i = 0; i < 8; i++)
		prefix[1 + i] = (unsigned char)(v >> (56 - 8 * i));
	return EVP_DigestUpdate(md, prefix, sizeof(prefix)) == 1 &&
	    (len == 0 || EVP_DigestUpdate(md, p, len) == 1);
}

static bool
digest_text(EVP_MD_CTX *md, const char *text)
{
	return digest_field(md, text, text != NULL ? strlen(text) : 0,
	    text == NULL);
}

/* A count before a list of fields, as eight bytes. */
static bool
digest_count(EVP_MD_CTX *md, size_t n)
{
	unsigned char b[8];
	unsigned long long v = n;
	size_t i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	return digest_field(md, b, sizeof(b), false);
}

static EVP_MD_CTX *
digest_start(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	return md;
}

static bool
digest_end(EVP_MD_CTX *md, bool ok, unsigned char out[SMX_TLS_DIGEST_SIZE])
{
	unsigned int len = 0;

	ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1 &&
	    len == SMX_TLS_DIGEST_SIZE;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

/* The identity of a context's settings: what its verification trusts. */
static bool
ctx_identity(const struct smx_tls_options *opts, int min_version,
    unsigned char out[SMX_TLS_DIGEST_SIZE])
{
	EVP_MD_CTX *md = digest_start();
	unsigned char head[2];

	if (md == NULL)
		return false;
	head[0] = (unsigned char)opts->verify;
	head[1] = (unsigned char)(min_version & 0xff);
	return digest_end(md,
	    digest_field(md, head, sizeof(head), false) &&
	        digest_text(md, opts->ca_file) &&
	        digest_text(md, opts->ca_path),
	    out);
}

enum smx_status
smx_tls_peer_digest(const struct smx_tls_ctx *ctx,
    const struct smx_tls_peer *peer, unsigned char out[SMX_TLS_DIGEST_SIZE])
{
	EVP_MD_CTX *md = digest_start();
	bool ok;
	size_t i;

	if (md == NULL)
		return SMX_TEMPFAIL;
	ok = digest_field(md, ctx->id, sizeof(ctx->id), false) &&
	    digest_text(md, peer->sni) && digest_text(md, peer->dane_base) &&
	    digest_count(md, peer->n_names);
	for (i = 0; ok && i < peer->n_names; i++)
		ok = digest_text(md, peer->names[i]);
	ok = ok && digest_count(md, peer->n_tlsa);
	for (i = 0; ok && i < peer->n_tlsa; i++) {
		const struct smx_tls_tlsa *t = &peer->tlsa[i];
		unsigned char head[3] = { t->usage, t->selector, t->mtype };

		ok = digest_field(md, head, sizeof(head), false) &&
		    digest_field(md, t->data, t->len, t->data == NULL);
	}
	return digest_end(md, ok, out) ? SMX_OK : SMX_TEMPFAIL;
}

/* The key of a session: the peer's digest and where it is. */
static bool
session_key(const struct smx_tls_ctx *ctx, const struct smx_tls_peer *peer,
    unsigned char key[SMX_TLS_DIGEST_SIZE])
{
	unsigned char d[SMX_TLS_DIGEST_SIZE];
	EVP_MD_CTX *md;

	if (smx_tls_peer_digest(ctx, peer, d) != SMX_OK ||
	    (md = digest_start()) == NULL)
		return false;
	return digest_end(md,
	    digest_field(md, d, sizeof(d), false) &&
	        digest_text(md, peer->where),
	    key);
}

/* Free a session's DER form, wiped first (it holds the master secret). */
static void
der_free(unsigned char *der, size_t len)
{
	if (der != NULL)
		smx_wipe(der, len);
	free(der);
}

/*
 * A new session from the server (SSL_CTX_sess_set_new_cb, client cache
 * mode without OpenSSL's own store): a TLS 1.2 session near the end of
 * the handshake, TLS 1.3 tickets after it, whenever the connection
 * reads. Kept only for a connection with a cache, and only once its
 * handshake has been verified; one that comes before that waits in
 * c->pending. Returns 0: OpenSSL keeps no reference for us.
 */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct smx_tls_conn *c = SSL_get_app_data(ssl);
	unsigned char *der;
	unsigned char *p;
	int len;

	if (c == NULL || c->cache == NULL || !SSL_SESSION_is_resumable(sess))
		return 0;
	(void)ERR_set_mark();
	len = i2d_SSL_SESSION(sess, NULL);
	if (len <= 0 || len > SMX_TLS_SESSION_DER_MAX ||
	    (der = malloc((size_t)len)) == NULL) {
		(void)ERR_pop_to_mark();
		return 0;
	}
	p = der;
	if (i2d_SSL_SESSION(sess, &p) != len) {
		(void)ERR_pop_to_mark();
		der_free(der, (size_t)len);
		return 0;
	}
	(void)ERR_pop_to_mark();
	if (c->is_verified) {
		smx_tls_session_cache_put(c->cache, c->key, der, (size_t)len,
		    &c->verdict);
		return 0;
	}
	der_free(c->pending, c->pending_len);
	c->pending = der;
	c->pending_len = (size_t)len;
	return 0;
}

enum smx_status
smx_tls_ctx_new(const struct smx_tls_options *opts, struct smx_tls_ctx **out,
    char *reason, size_t reason_size)
{
	struct smx_tls_ctx *c;
	int min_version;
	enum smx_status st = SMX_TEMPFAIL;
	int ok;

	if (opts->min_protocol == NULL ||
	    strcmp(opts->min_protocol, "TLSv1.2") == 0)
		min_version = TLS1_2_VERSION;
	else if (strcmp(opts->min_protocol, "TLSv1.3") == 0)
		min_version = TLS1_3_VERSION;
	else {
		snprintf(reason, reason_size, "unsupported minimum protocol");
		return SMX_INVALID;
	}
	if (opts->verify != SMX_TLS_VERIFY_NONE &&
	    opts->verify != SMX_TLS_VERIFY_CA &&
	    opts->verify != SMX_TLS_VERIFY_DANE) {
		snprintf(reason, reason_size, "unknown verify mode");
		return SMX_INVALID;
	}
	ERR_clear_error();
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(reason, reason_size, "out of memory");
		return SMX_TEMPFAIL;
	}
	c->verify = opts->verify;
	if (!ctx_identity(opts, min_version, c->id)) {
		snprintf(reason, reason_size, "cannot digest TLS settings");
		goto fail;
	}
	if ((c->ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		set_reason(reason, reason_size, "SSL_CTX_new");
		goto fail;
	}
	if (SSL_CTX_set_min_proto_version(c->ssl_ctx, min_version) != 1) {
		set_reason(reason, reason_size,
		    "SSL_CTX_set_min_proto_version");
		goto fail;
	}
	/*
	 * No compression (CRIME), no renegotiation; an EOF without
	 * close_notify is a lost connection: SMTP has its own framing.
	 */
	SSL_CTX_set_options(c->ssl_ctx,
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	        SSL_OP_IGNORE_UNEXPECTED_EOF);
	/*
	 * A record in one read(2), not its header and body in two. What is
	 * read ahead shows in SSL_has_pending (smx_tls_pending), which the
	 * check for unasked input on a kept connection asks besides poll.
	 */
	SSL_CTX_set_read_ahead(c->ssl_ctx, 1);
	/*
	 * New sessions go to new_session_cb, which keeps them only for a
	 * connection with a session cache; OpenSSL's own store stays off.
	 * Without a cache this changes nothing on the wire.
	 */
	(void)SSL_CTX_set_session_cache_mode(c->ssl_ctx,
	    SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(c->ssl_ctx, new_session_cb);
	if (opts->verify == SMX_TLS_VERIFY_CA) {
		if (opts->ca_file != NULL || opts->ca_path != NULL)
			ok = SSL_CTX_load_verify_locations(c->ssl_ctx,
			    opts->ca_file, opts->ca_path);
		else
			ok = SSL_CTX_set_default_verify_paths(c->ssl_ctx);
		if (ok != 1) {
			set_reason(reason, reason_size,
			    "cannot load CA certificates");
			goto fail;
		}
		SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, verify_cb);
	} else if (opts->verify == SMX_TLS_VERIFY_DANE) {
		/* SSL_CTX_dane_enable(3): once per context. */
		if (SSL_CTX_dane_enable(c->ssl_ctx) <= 0) {
			set_reason(reason, reason_size, "SSL_CTX_dane_enable");
			goto fail;
		}
		SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, verify_cb);
	} else {
		SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_NONE, NULL);
	}
	*out = c;
	return SMX_OK;
fail:
	smx_tls_ctx_free(c);
	return st;
}

void
smx_tls_ctx_free(struct smx_tls_ctx *c)
{
	if (c == NULL)
		return;
	SSL_CTX_free(c->ssl_ctx);
	free(c);
}

static bool
has_line_break(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") != NULL;
}

/* Host name checks without partial wildcards ("mx*.example"). */
static void
strict_names(SSL *ssl)
{
	X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl),
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
}

/*
 * DANE on a new SSL object (SSL_CTX_dane_enable(3)): the base domain,
 * no name checks for DANE-EE (RFC 7672 section 3.1.1), the other names
 * a DANE-TA certificate may carry, and every usable TLSA record.
 */
static enum smx_status
setup_dane(SSL *ssl, const struct smx_tls_peer *peer, char *reason, size_t size)
{
	size_t n_usable = 0;
	size_t i;

	if (SSL_dane_enable(ssl, peer->dane_base) <= 0) {
		set_reason(reason, size, "SSL_dane_enable");
		return SMX_INVALID;
	}
	(void)SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	strict_names(ssl);
	for (i = 0; i < peer->n_names; i++) {
		if (SSL_add1_host(ssl, peer->names[i]) != 1) {
			set_reason(reason, size, "cannot set reference name");
			return SMX_INVALID;
		}
	}
	for (i = 0; i < peer->n_tlsa; i++) {
		const struct smx_tls_tlsa *t = &peer->tlsa[i];

		if (!smx_tls_tlsa_usable(t))
			continue;
		/* > 0 added, 0 unusable, < 0 malformed: skip both. */
		if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype,
		        t->data, t->len) > 0)
			n_usable++;
		ERR_clear_error();
	}
	if (n_usable == 0) {
		snprintf(reason, size, "no usable TLSA record");
		return SMX_INVALID;
	}
	return SMX_OK;
}

/* Set SNI, the reference names or DANE on a new SSL object. */
static enum smx_status
setup_peer(struct smx_tls_ctx *ctx, SSL *ssl, const struct smx_tls_peer *peer,
    char *reason, size_t size)
{
	char name[SMX_DOMAIN_MAX + 1];
	size_t i;

	/* A copy: the OpenSSL macro takes a non-const pointer. */
	if (peer->sni != NULL &&
	    (smx_strlcpy(name, peer->sni, sizeof(name)) >= sizeof(name) ||
	        SSL_set_tlsext_host_name(ssl, name) != 1)) {
		set_reason(reason, size, "cannot set server name indication");
		return SMX_INVALID;
	}
	if (ctx->verify == SMX_TLS_VERIFY_DANE)
		return setup_dane(ssl, peer, reason, size);
	if (ctx->verify != SMX_TLS_VERIFY_CA)
		return SMX_OK;
	strict_names(ssl);
	for (i = 0; i < peer->n_names; i++) {
		int ok = i == 0 ? SSL_set1_host(ssl, peer->names[i])
		                : SSL_add1_host(ssl, peer->names[i]);

		if (ok != 1) {
			set_reason(reason, size, "cannot set reference name");
			return SMX_INVALID;
		}
	}
	return SMX_OK;
}

/* One name of an X509_NAME in RFC 2253 form into out. */
static void
name_text(const X509_NAME *name, char *out, size_t size)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;

	out[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (len = BIO_get_mem_data(b, &data)) > 0)
		(void)snprintf(out, size, "%.*s", (int)len, data);
	BIO_free(b);
}

/* The subjectAltName DNS names of a certificate, ", " separated. */
static void
san_text(X509 *x, char *out, size_t size)
{
	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t len = 0;
	int i;

	out[0] = '\0';
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int dlen;
		int n;

		if (g->type != GEN_DNS)
			continue;
		d = ASN1_STRING_get0_data(g->d.dNSName);
		dlen = ASN1_STRING_length(g->d.dNSName);
		n = snprintf(out + len, size - len, "%s%.*s", len ? ", " : "",
		    dlen, (const char *)d);
		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
	}
	GENERAL_NAMES_free(gens);
}

/* The peer's certificates, leaf first, for a report. */
static void
fill_chain(SSL *ssl, struct smx_tls_chain *chain)
{
	STACK_OF(X509) *sk = SSL_get_peer_cert_chain(ssl);
	int i;

	memset(chain, 0, sizeof(*chain));
	for (i = 0; sk != NULL && i < sk_X509_num(sk) &&
	     chain->n_certs < SMX_TLS_CHAIN_MAX;
	     i++) {
		X509 *x = sk_X509_value(sk, i);
		struct smx_tls_cert *c = &chain->cert[chain->n_certs++];
		int days = 0;
		int secs = 0;

		name_text(X509_get_subject_name(x), c->subject,
		    sizeof(c->subject));
		name_text(X509_get_issuer_name(x), c->issuer,
		    sizeof(c->issuer));
		san_text(x, c->names, sizeof(c->names));
		if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)))
			c->days_left = days;
	}
	ERR_clear_error();
}

/*
 * After a DANE handshake: authenticated only with a verified chain and a
 * matched TLSA record (SSL_get0_dane_authority >= 0); which one.
 */
static void
dane_result(struct smx_tls_conn *c, struct smx_tls_info *info)
{
	uint8_t usage = 0;
	uint8_t selector = 0;
	uint8_t mtype = 0;
	unsigned const char *data = NULL;
	size_t dlen = 0;

	if (SSL_get0_dane_authority(c->ssl, NULL, NULL) < 0 ||
	    SSL_get0_dane_tlsa(c->ssl, &usage, &selector, &mtype, &data,
	        &dlen) < 0) {
		info->verified = SMX_TLS_VERIFIED_FAIL;
		return;
	}
	info->verified = usage == TLSA_DANE_TA ? SMX_TLS_VERIFIED_DANE_TA
	                                       : SMX_TLS_VERIFIED_DANE_EE;
	(void)snprintf(info->tlsa_match, sizeof(info->tlsa_match), "%u.%u.%u",
	    (unsigned)usage, (unsigned)selector, (unsigned)mtype);
}

/* Fill info from a finished handshake and decide on verification. */
static enum smx_status
check_peer(struct smx_tls_ctx *ctx, struct smx_tls_conn *c,
    struct smx_tls_info *info, char *reason, size_t size)
{
	const char *s;
	long err;

	smx_strlcpy(info->protocol, SSL_get_version(c->ssl),
	    sizeof(info->protocol));
	s = SSL_get_cipher_name(c->ssl);
	smx_strlcpy(info->cipher, s != NULL ? s : "", sizeof(info->cipher));
	if (c->is_offered && SSL_session_reused(c->ssl)) {
		/*
		 * Resumed: the certificate is not sent again, the session
		 * stands for the verification of the full handshake that
		 * made it, under the same key (same rules, same peer).
		 */
		info->is_resumed = true;
		info->verified = c->verdict.verified;
		smx_strlcpy(info->peer_name, c->verdict.peer_name,
		    sizeof(info->peer_name));
		smx_strlcpy(info->tlsa_match, c->verdict.tlsa_match,
		    sizeof(info->tlsa_match));
		return SMX_OK;
	}
	if (ctx->verify == SMX_TLS_VERIFY_NONE) {
		info->verified = SMX_TLS_VERIFIED_NONE;
		return SMX_OK;
	}
	err = c->first_verify_error;
	if (err == X509_V_OK)
		err = SSL_get_verify_result(c->ssl);
	if (err == X509_V_OK && SSL_get0_peer_certificate(c->ssl) == NULL)
		err = X509_V_ERR_UNSPECIFIED;
	if (err == X509_V_OK && ctx->verify == SMX_TLS_VERIFY_DANE) {
		dane_result(c, info);
		if (info->verified == SMX_TLS_VERIFIED_FAIL)
			err = X509_V_ERR_DANE_NO_MATCH;
	}
	if (err != X509_V_OK) {
		info->verified = SMX_TLS_VERIFIED_FAIL;
		smx_strlcpy(info->verify_reason,
		    X509_verify_cert_error_string(err),
		    sizeof(info->verify_reason));
		snprintf(reason, size, "certificate verification failed: %s",
		    info->verify_reason);
		return SMX_PERMFAIL;
	}
	if (ctx->verify == SMX_TLS_VERIFY_CA)
		info->verified = SMX_TLS_VERIFIED_CA;
	s = SSL_get0_peername(c->ssl);
	smx_strlcpy(info->peer_name, s != NULL ? s : "",
	    sizeof(info->peer_name));
	return SMX_OK;
}

bool
smx_tls_tlsa_usable(const struct smx_tls_tlsa *t)
{
	if (t->usage != TLSA_DANE_TA && t->usage != TLSA_DANE_EE)
		return false;
	if (t->selector != TLSA_SELECTOR_CERT &&
	    t->selector != TLSA_SELECTOR_SPKI)
		return false;
	switch (t->mtype) {
	case TLSA_MATCH_FULL:
		return t->len > 0;
	case TLSA_MATCH_SHA256:
		return t->len == 32;
	case TLSA_MATCH_SHA512:
		return t->len == 64;
	default:
		return false;
	}
}

/*
 * With a session cache: the key of this peer, and the session kept for
 * it offered to the server with the verdict that goes with it. Without
 * a key (no memory) the connection keeps nothing.
 */
static void
offer_session(struct smx_tls_ctx *ctx, struct smx_tls_conn *c,
    const struct smx_tls_peer *peer)
{
	const unsigned char *p;
	unsigned char *der = NULL;
	size_t len = 0;
	SSL_SESSION *sess;

	if (!session_key(ctx, peer, c->key))
		return;
	c->cache = peer->cache;
	if (!smx_tls_session_cache_get(c->cache, c->key, &der, &len,
	        &c->verdict))
		return;
	p = der;
	sess = d2i_SSL_SESSION(NULL, &p, (long)len);
	der_free(der, len);
	if (sess == NULL || SSL_set_session(c->ssl, sess) != 1) {
		smx_tls_session_cache_drop(c->cache, c->key);
		memset(&c->verdict, 0, sizeof(c->verdict));
	} else {
		c->is_offered = true;
	}
	SSL_SESSION_free(sess);
	ERR_clear_error();
}

/*
 * After a verified handshake: new sessions may now be kept, with the
 * verdict of this handshake (or, resumed, the one that came with the
 * session); one that came during the handshake is kept now.
 */
static void
keep_sessions(struct smx_tls_conn *c, const struct smx_tls_info *info)
{
	if (c->cache == NULL)
		return;
	if (!info->is_resumed) {
		memset(&c->verdict, 0, sizeof(c->verdict));
		c->verdict.verified = info->verified;
		smx_strlcpy(c->verdict.peer_name, info->peer_name,
		    sizeof(c->verdict.peer_name));
		smx_strlcpy(c->verdict.tlsa_match, info->tlsa_match,
		    sizeof(c->verdict.tlsa_match));
		c->verdict.verified_ms = smx_tls_session_cache_now(c->cache);
	}
	c->is_verified = true;
	if (c->pending != NULL) {
		smx_tls_session_cache_put(c->cache, c->key, c->pending,
		    c->pending_len, &c->verdict);
		c->pending = NULL;
		c->pending_len = 0;
	}
}

/* Free a connection that smx_tls_connect did not return. */
static void
conn_free(struct smx_tls_conn *c)
{
	SSL_free(c->ssl);
	der_free(c->pending, c->pending_len);
	free(c);
}

enum smx_status
smx_tls_connect(struct smx_tls_ctx *ctx, int fd,
    const struct smx_tls_peer *peer, int timeout_ms, struct smx_tls_conn **out,
    struct smx_tls_info *info, char *reason, size_t reason_size)
{
	char ebuf[128];
	const char *sni = peer->sni;
	const char *const *names = peer->names;
	size_t n_names = peer->n_names;
	struct smx_tls_conn *c;
	enum smx_status st;
	long long deadline = smx_io_deadline(timeout_ms > 0 ? timeout_ms : 0);
	int flags;
	int rc;
	size_t i;

	memset(info, 0, sizeof(*info));
	if (n_names > SMX_TLS_NAMES_MAX ||
	    (ctx->verify == SMX_TLS_VERIFY_CA && n_names == 0) ||
	    has_line_break(sni)) {
		snprintf(reason, reason_size, "bad TLS reference names");
		return SMX_INVALID;
	}
	if (ctx->verify == SMX_TLS_VERIFY_DANE &&
	    (peer->dane_base == NULL || peer->dane_base[0] == '\0' ||
	        has_line_break(peer->dane_base) || peer->n_tlsa == 0 ||
	        peer->n_tlsa > SMX_TLSA_MAX)) {
		snprintf(reason, reason_size, "bad DANE parameters");
		return SMX_INVALID;
	}
	if (peer->cache != NULL &&
	    (peer->where == NULL || peer->where[0] == '\0' ||
	        has_line_break(peer->where))) {
		snprintf(reason, reason_size, "bad TLS session cache key");
		return SMX_INVALID;
	}
	info->is_dane = ctx->verify == SMX_TLS_VERIFY_DANE;
	for (i = 0; i < n_names; i++) {
		if (names[i] == NULL || names[i][0] == '\0' ||
		    has_line_break(names[i])) {
			snprintf(reason, reason_size, "bad TLS reference name");
			return SMX_INVALID;
		}
	}
	if ((flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		snprintf(reason, reason_size, "fcntl: %s",
		    smx_strerror(errno, ebuf, sizeof(ebuf)));
		return SMX_TEMPFAIL;
	}
	ERR_clear_error();
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(reason, reason_size, "out of memory");
		return SMX_TEMPFAIL;
	}
	c->fd = fd;
	c->alert = -1;
	c->first_verify_error = X509_V_OK;
	if ((c->ssl = SSL_new(ctx->ssl_ctx)) == NULL) {
		set_reason(reason, reason_size, "SSL_new");
		st = SMX_TEMPFAIL;
		goto fail;
	}
	if (SSL_set_fd(c->ssl, fd) != 1 || SSL_set_app_data(c->ssl, c) != 1) {
		set_reason(reason, reason_size, "SSL_set_fd");
		st = SMX_TEMPFAIL;
		goto fail;
	}
	st = setup_peer(ctx, c->ssl, peer, reason, reason_size);
	if (st != SMX_OK)
		goto fail;
	if (peer->cache != NULL)
		offer_session(ctx, c, peer);
	SSL_set_info_callback(c->ssl, info_cb);
	while ((rc = SSL_connect(c->ssl)) != 1) {
		st = retry_or_fail(c, rc, deadline, "handshake failure", reason,
		    reason_size);
		if (st != SMX_OK) {
			info->failure = c->failure;
			if (c->alert >= 0)
				smx_strlcpy(info->alert,
				    SSL_alert_desc_string_long(c->alert),
				    sizeof(info->alert));
			goto fail;
		}
	}
	if (c->is_offered && !SSL_session_reused(c->ssl)) {
		/* The server did not take it: it is of no further use. */
		smx_tls_session_cache_drop(c->cache, c->key);
		c->is_offered = false;
	}
	if (peer->chain != NULL)
		fill_chain(c->ssl, peer->chain);
	if ((st = check_peer(ctx, c, info, reason, reason_size)) != SMX_OK) {
		info->failure = SMX_TLS_FAIL_VERIFY;
		if (c->cache != NULL)
			smx_tls_session_cache_drop(c->cache, c->key);
		smx_tls_close(c, 0);
		return st;
	}
	keep_sessions(c, info);
	*out = c;
	return SMX_OK;
fail:
	if (info->failure == SMX_TLS_FAIL_NONE)
		info->failure = SMX_TLS_FAIL_PROTOCOL;
	if (c->is_offered)
		smx_tls_session_cache_drop(c->cache, c->key);
	conn_free(c);
	return st;
}

enum smx_status
smx_tls_read(struct smx_tls_conn *c, void *buf, size_t size, size_t *n_read,
    int timeout_ms, char *reason, size_t reason_size)
{
	long long deadline = smx_io_deadline(timeout_ms > 0 ? timeout_ms : 0);
	enum smx_status st;
	size_t got;
	int rc;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		rc = SSL_read_ex(c->ssl, buf, size, &got);
		if (rc == 1) {
			*n_read = got;
			return SMX_OK;
		}
		if (SSL_get_error(c->ssl, rc) == SSL_ERROR_ZERO_RETURN) {
			*n_read = 0;
			return SMX_OK;
		}
		st = retry_or_fail(c, rc, deadline, "TLS read", reason,
		    reason_size);
		if (st != SMX_OK)
			return st;
	}
}

enum smx_status
smx_tls_write(struct smx_tls_conn *c, const void *buf, size_t len,
    int timeout_ms, char *reason, size_t reason_size)
{
	long long deadline = smx_io_deadline(timeout_ms > 0 ? timeout_ms : 0);
	enum smx_status st;
	size_t done;
	int rc;

	if (len == 0)
		return SMX_OK;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		/* Without partial writes SSL_write_ex sends all or nothing. */
		rc = SSL_write_ex(c->ssl, buf, len, &done);
		if (rc == 1)
			return SMX_OK;
		st = retry_or_fail(c, rc, deadline, "TLS write", reason,
		    reason_size);
		if (st != SMX_OK)
			return st;
	}
}

enum smx_tls_failure
smx_tls_failure(const struct smx_tls_conn *c)
{
	return c->failure;
}

bool
smx_tls_pending(struct smx_tls_conn *c)
{
	return SSL_pending(c->ssl) > 0 || SSL_has_pending(c->ssl);
}

void
smx_tls_close(struct smx_tls_conn *c, int timeout_ms)
{
	long long deadline = smx_io_deadline(timeout_ms > 0 ? timeout_ms : 0);
	char scratch[64];
	int rc;
	int err;

	if (c == NULL)
		return;
	/* Send our close_notify; do not wait for the peer's. */
	for (;;) {
		ERR_clear_error();
		rc = SSL_shutdown(c->ssl);
		if (rc >= 0)
			break;
		err = SSL_get_error(c->ssl, rc);
		if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ)
			break;
		if (smx_io_wait_for(c->fd,
		        err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN,
		        deadline, "", scratch, sizeof(scratch)) != SMX_OK)
			break;
	}
	ERR_clear_error();
	conn_free(c);
}
