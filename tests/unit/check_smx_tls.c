/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/smx_tls.c: contexts, handshakes against the test peer
 * (TLS from the first byte) with test certificates made by
 * scripts/make-test-certs, name matching, verification failures, protocol
 * floor, timeouts and I/O, DANE (OpenSSL's DANE API) with TLSA records
 * computed here from the test certificates, and session resumption
 * through the session cache (smx_tls_cache) in TLS 1.2 and 1.3, on a
 * test clock. Test code, so it uses OpenSSL directly to compute the
 * records.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "smx_tls.h"
#include "smx_tls_cache.h"
#include "peer_fixture.h"

static struct peer peer;

static int
connect_peer(void)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	peer_addr(&peer, &sin);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Who the peer must be: sni and reference names (no DANE). */
static const struct smx_tls_peer *
peer_of(const char *sni, const char *const *names, size_t n_names)
{
	static struct smx_tls_peer p;

	memset(&p, 0, sizeof(p));
	p.sni = sni;
	p.names = names;
	p.n_names = n_names;
	return &p;
}

static struct smx_tls_ctx *
make_ctx(enum smx_tls_verify verify, const char *min_protocol)
{
	struct smx_tls_options o;
	struct smx_tls_ctx *ctx = NULL;
	char ca[128];
	char reason[256];

	memset(&o, 0, sizeof(o));
	snprintf(ca, sizeof(ca), "%s/ca.pem", certs_dir);
	o.verify = verify;
	o.min_protocol = min_protocol;
	o.ca_file = ca;
	ck_assert_int_eq(smx_tls_ctx_new(&o, &ctx, reason, sizeof(reason)),
	    SMX_OK);
	return ctx;
}

static const struct {
	const char *min;
	enum smx_tls_verify verify;
	const char *ca_file;
	enum smx_status st;
} ctx_cases[] = {
	{ NULL, SMX_TLS_VERIFY_NONE, NULL, SMX_OK },
	{ "TLSv1.2", SMX_TLS_VERIFY_NONE, NULL, SMX_OK },
	{ "TLSv1.3", SMX_TLS_VERIFY_NONE, NULL, SMX_OK },
	{ "TLSv1.1", SMX_TLS_VERIFY_NONE, NULL, SMX_INVALID },
	{ "SSLv3", SMX_TLS_VERIFY_NONE, NULL, SMX_INVALID },
	{ "", SMX_TLS_VERIFY_NONE, NULL, SMX_INVALID },
	{ "tlsv1.2 ", SMX_TLS_VERIFY_NONE, NULL, SMX_INVALID },
	{ NULL, SMX_TLS_VERIFY_CA, NULL, SMX_OK }, /* system store */
	{ NULL, SMX_TLS_VERIFY_CA, "/nonexistent/ca.pem", SMX_TEMPFAIL },
};

START_TEST(test_smx_tls_ctx_options)
{
	struct smx_tls_options o;
	struct smx_tls_ctx *ctx = NULL;
	char reason[256] = "";

	memset(&o, 0, sizeof(o));
	o.min_protocol = ctx_cases[_i].min;
	o.verify = ctx_cases[_i].verify;
	o.ca_file = ctx_cases[_i].ca_file;
	ck_assert_int_eq(smx_tls_ctx_new(&o, &ctx, reason, sizeof(reason)),
	    ctx_cases[_i].st);
	if (ctx_cases[_i].st == SMX_OK)
		ck_assert_ptr_nonnull(ctx);
	else
		ck_assert_str_ne(reason, "");
	smx_tls_ctx_free(ctx);
}
END_TEST

static const struct {
	const char *cert;
	enum smx_tls_verify verify;
	const char *names[2];
	enum smx_status st;
	enum smx_tls_verified verified;
	const char *reason; /* verify_reason, or the certificate name matched */
} hs_cases[] = {
	{ CERT_NAME, SMX_TLS_VERIFY_CA, { CERT_NAME, NULL }, SMX_OK,
	    SMX_TLS_VERIFIED_CA, CERT_NAME },
	/* dot-nexthop: any host below the domain */
	{ CERT_NAME, SMX_TLS_VERIFY_CA, { ".example.test", NULL }, SMX_OK,
	    SMX_TLS_VERIFIED_CA, CERT_NAME },
	{ CERT_NAME, SMX_TLS_VERIFY_CA, { "other.example.test", CERT_NAME },
	    SMX_OK, SMX_TLS_VERIFIED_CA, CERT_NAME },
	{ CERT_NAME, SMX_TLS_VERIFY_CA, { "example.test", NULL }, SMX_PERMFAIL,
	    SMX_TLS_VERIFIED_FAIL, "hostname mismatch" },
	/* a leading dot does not match the domain itself */
	{ CERT_NAME, SMX_TLS_VERIFY_CA, { "." CERT_NAME, NULL }, SMX_PERMFAIL,
	    SMX_TLS_VERIFIED_FAIL, "hostname mismatch" },
	{ "wrongname", SMX_TLS_VERIFY_CA, { CERT_NAME, NULL }, SMX_PERMFAIL,
	    SMX_TLS_VERIFIED_FAIL, "hostname mismatch" },
	{ "expired", SMX_TLS_VERIFY_CA, { CERT_NAME, NULL }, SMX_PERMFAIL,
	    SMX_TLS_VERIFIED_FAIL, "certificate has expired" },
	{ "selfsigned", SMX_TLS_VERIFY_CA, { CERT_NAME, NULL }, SMX_PERMFAIL,
	    SMX_TLS_VERIFIED_FAIL, "self-signed certificate" },
	{ "STAR.wild.example.test", SMX_TLS_VERIFY_CA,
	    { "mx.wild.example.test", NULL }, SMX_OK, SMX_TLS_VERIFIED_CA,
	    "*.wild.example.test" },
	/* partial wildcards ("mx*") are refused */
	{ "mxSTAR.part.example.test", SMX_TLS_VERIFY_CA,
	    { "mx1.part.example.test", NULL }, SMX_PERMFAIL,
	    SMX_TLS_VERIFIED_FAIL, "hostname mismatch" },
	{ "wrongname", SMX_TLS_VERIFY_NONE, { NULL, NULL }, SMX_OK,
	    SMX_TLS_VERIFIED_NONE, "" },
};

START_TEST(test_smx_tls_handshake)
{
	struct smx_tls_ctx *ctx;
	struct smx_tls_conn *conn = NULL;
	struct smx_tls_info info;
	char reason[512] = "";
	size_t n_names = hs_cases[_i].names[1] != NULL ? 2
	    : hs_cases[_i].names[0] != NULL            ? 1
	                                               : 0;
	int fd;
	enum smx_status st;

	ck_assert(peer_start(&peer, "implicit", hs_cases[_i].cert, NULL));
	ctx = make_ctx(hs_cases[_i].verify, NULL);
	fd = connect_peer();
	st = smx_tls_connect(ctx, fd,
	    peer_of(CERT_NAME, hs_cases[_i].names, n_names), 5000, &conn, &info,
	    reason, sizeof(reason));
	ck_assert_msg(st == hs_cases[_i].st, "status %d, reason %s", st,
	    reason);
	ck_assert_int_eq(info.verified, hs_cases[_i].verified);
	ck_assert_str_eq(info.protocol, "TLSv1.3");
	ck_assert_str_ne(info.cipher, "");
	if (st == SMX_OK) {
		ck_assert_ptr_nonnull(conn);
		ck_assert_str_eq(info.peer_name, hs_cases[_i].reason);
	} else {
		ck_assert_ptr_null(conn);
		ck_assert_str_eq(info.verify_reason, hs_cases[_i].reason);
		ck_assert_ptr_nonnull(strstr(reason, hs_cases[_i].reason));
	}
	smx_tls_close(conn, 1000);
	close(fd);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

/* Read until buf holds a line; returns its length. */
static size_t
read_line(struct smx_tls_conn *conn, char *buf, size_t size)
{
	size_t len = 0;
	size_t n;
	char reason[256];

	while (len < size - 1 && memchr(buf, '\n', len) == NULL) {
		ck_assert_int_eq(smx_tls_read(conn, buf + len, size - 1 - len,
		                     &n, 5000, reason, sizeof(reason)),
		    SMX_OK);
		ck_assert_uint_gt(n, 0);
		len += n;
	}
	buf[len] = '\0';
	return len;
}

START_TEST(test_smx_tls_io)
{
	const char *names[] = { CERT_NAME };
	struct smx_tls_ctx *ctx;
	struct smx_tls_conn *conn = NULL;
	struct smx_tls_info info;
	char reason[512];
	char buf[512];
	size_t n = 99;
	int fd;

	ck_assert(peer_start(&peer, "implicit", CERT_NAME, NULL));
	ctx = make_ctx(SMX_TLS_VERIFY_CA, "TLSv1.2");
	fd = connect_peer();
	ck_assert_int_eq(smx_tls_connect(ctx, fd, peer_of(CERT_NAME, names, 1),
	                     5000, &conn, &info, reason, sizeof(reason)),
	    SMX_OK);
	read_line(conn, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "220 peer.test"));
	ck_assert(!smx_tls_pending(conn));
	ck_assert_int_eq(smx_tls_write(conn, "QUIT\r\n", 6, 5000, reason,
	                     sizeof(reason)),
	    SMX_OK);
	read_line(conn, buf, sizeof(buf));
	ck_assert_str_eq(buf, "221 2.0.0 Bye\r\n");
	/* The peer closes after QUIT: end of file, not an error. */
	ck_assert_int_eq(smx_tls_read(conn, buf, sizeof(buf), &n, 5000, reason,
	                     sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(n, 0);
	smx_tls_close(conn, 1000);
	close(fd);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

START_TEST(test_smx_tls_min_protocol)
{
	const char *names[] = { CERT_NAME };
	struct smx_tls_ctx *ctx;
	struct smx_tls_conn *conn = NULL;
	struct smx_tls_info info;
	char reason[512] = "";
	int fd;

	ck_assert(peer_start(&peer, "implicit", CERT_NAME, "TLSv1.2"));
	/* A TLSv1.2 server meets a TLSv1.3 floor: handshake failure. */
	ctx = make_ctx(SMX_TLS_VERIFY_CA, "TLSv1.3");
	fd = connect_peer();
	ck_assert_int_eq(smx_tls_connect(ctx, fd, peer_of(CERT_NAME, names, 1),
	                     5000, &conn, &info, reason, sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_ptr_null(conn);
	ck_assert_ptr_nonnull(strstr(reason, "handshake failure"));
	ck_assert_str_eq(info.protocol, "");
	close(fd);
	smx_tls_ctx_free(ctx);
	/* With the default floor the same server gives TLSv1.2. */
	ctx = make_ctx(SMX_TLS_VERIFY_CA, NULL);
	fd = connect_peer();
	ck_assert_int_eq(smx_tls_connect(ctx, fd, peer_of(CERT_NAME, names, 1),
	                     5000, &conn, &info, reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_str_eq(info.protocol, "TLSv1.2");
	ck_assert_int_eq(info.verified, SMX_TLS_VERIFIED_CA);
	smx_tls_close(conn, 1000);
	close(fd);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

START_TEST(test_smx_tls_timeout)
{
	const char *names[] = { CERT_NAME };
	struct smx_tls_ctx *ctx;
	struct smx_tls_conn *conn = NULL;
	struct smx_tls_info info;
	char reason[512] = "";
	int fd;

	ck_assert(peer_start(&peer, "stall", NULL, NULL));
	ctx = make_ctx(SMX_TLS_VERIFY_CA, NULL);
	fd = connect_peer();
	ck_assert_int_eq(smx_tls_connect(ctx, fd, peer_of(CERT_NAME, names, 1),
	                     500, &conn, &info, reason, sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_ptr_null(conn);
	ck_assert_str_eq(reason, "timeout");
	close(fd);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

START_TEST(test_smx_tls_bad_names)
{
	const char *crlf[] = { "mx1.example.test\r\nRSET" };
	const char *empty[] = { "" };
	const char *many[SMX_TLS_NAMES_MAX + 1];
	struct smx_tls_ctx *ctx;
	struct smx_tls_conn *conn = NULL;
	struct smx_tls_info info;
	char reason[256];
	size_t i;

	for (i = 0; i < SMX_TLS_NAMES_MAX + 1; i++)
		many[i] = CERT_NAME;
	ctx = make_ctx(SMX_TLS_VERIFY_CA, NULL);
	/* Refused before the socket is touched: -1 is never used. */
	ck_assert_int_eq(smx_tls_connect(ctx, -1, peer_of(NULL, NULL, 0), 100,
	                     &conn, &info, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_connect(ctx, -1, peer_of(NULL, crlf, 1), 100,
	                     &conn, &info, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_connect(ctx, -1, peer_of(NULL, empty, 1), 100,
	                     &conn, &info, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_connect(ctx, -1,
	                     peer_of(NULL, many, SMX_TLS_NAMES_MAX + 1), 100,
	                     &conn, &info, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_connect(ctx, -1, peer_of("a\nb", many, 1), 100,
	                     &conn, &info, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_ptr_null(conn);
	smx_tls_ctx_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- */
/* DANE                                                              */

/* The certificate in certs_dir/base.pem. */
static X509 *
load_cert(const char *base)
{
	char path[256];
	FILE *fp;
	X509 *x;

	snprintf(path, sizeof(path), "%s/%s.pem", certs_dir, base);
	ck_assert_ptr_nonnull(fp = fopen(path, "r"));
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	ck_assert_ptr_nonnull(x);
	return x;
}

/*
 * TLSA association data for a certificate: selector 0 (the whole
 * certificate) or 1 (SPKI), matching type 0 (full), 1 (SHA2-256) or 2
 * (SHA2-512), computed here the way RFC 6698 section 2.1 says.
 */
static size_t
tlsa_data(const char *base, unsigned selector, unsigned mtype,
    unsigned char *out, size_t size)
{
	X509 *x = load_cert(base);
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int len;

	if (selector == 0)
		len = i2d_X509(x, &der);
	else
		len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	ck_assert_int_gt(len, 0);
	if (mtype == 0) {
		ck_assert_int_le(len, (int)size);
		memcpy(out, der, (size_t)len);
		mdlen = (unsigned)len;
	} else {
		ck_assert(EVP_Digest(der, (size_t)len, out, &mdlen,
		    mtype == 1 ? EVP_sha256() : EVP_sha512(), NULL));
	}
	OPENSSL_free(der);
	X509_free(x);
	return mdlen;
}

/* The peer's chain file "chain": the leaf CERT_NAME and the test CA. */
static void
make_chain(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
	    "cat %1$s/%2$s.pem %1$s/ca.pem >%1$s/chain.pem && "
	    "cp %1$s/%2$s.key %1$s/chain.key",
	    certs_dir, CERT_NAME);
	ck_assert_int_eq(system(cmd), 0);
}

static const struct {
	const char *cert; /* what the peer presents */
	const char *of;   /* whose data the TLSA record holds */
	unsigned usage;   /* 2 DANE-TA, 3 DANE-EE, ... */
	unsigned selector;
	unsigned mtype;
	const char *base;  /* the TLSA base domain */
	const char *extra; /* another acceptable name, or NULL */
	enum smx_status st;
	enum smx_tls_verified verified;
	const char *match; /* tlsa_match, or the verify reason */
} dane_cases[] = {
	/* DANE-EE: no name check, any issuer, even expired. */
	{ "wrongname", "wrongname", 3, 1, 1, "mx1.example.test", NULL, SMX_OK,
	    SMX_TLS_VERIFIED_DANE_EE, "3.1.1" },
	{ "expired", "expired", 3, 1, 2, "mx1.example.test", NULL, SMX_OK,
	    SMX_TLS_VERIFIED_DANE_EE, "3.1.2" },
	{ "selfsigned", "selfsigned", 3, 0, 1, "other.test", NULL, SMX_OK,
	    SMX_TLS_VERIFIED_DANE_EE, "3.0.1" },
	{ CERT_NAME, CERT_NAME, 3, 1, 0, "x.test", NULL, SMX_OK,
	    SMX_TLS_VERIFIED_DANE_EE, "3.1.0" },
	/* A record of another certificate: refused, never unauthenticated. */
	{ CERT_NAME, "wrongname", 3, 1, 1, CERT_NAME, NULL, SMX_PERMFAIL,
	    SMX_TLS_VERIFIED_FAIL, "no matching DANE TLSA records" },
	/* DANE-TA: the chain to the trust anchor, and a name. */
	{ "chain", "ca", 2, 0, 1, CERT_NAME, NULL, SMX_OK,
	    SMX_TLS_VERIFIED_DANE_TA, "2.0.1" },
	{ "chain", "ca", 2, 1, 1, "dest.example", CERT_NAME, SMX_OK,
	    SMX_TLS_VERIFIED_DANE_TA, "2.1.1" },
	{ "chain", "ca", 2, 0, 1, "other.example.test", NULL, SMX_PERMFAIL,
	    SMX_TLS_VERIFIED_FAIL, "hostname mismatch" },
	/* The TA is not in the chain the peer sends: no match. */
	{ CERT_NAME, "ca", 2, 0, 1, CERT_NAME, NULL, SMX_PERMFAIL,
	    SMX_TLS_VERIFIED_FAIL, "" },
};

START_TEST(test_smx_tls_dane)
{
	unsigned char data[4096];
	struct smx_tls_tlsa tlsa;
	struct smx_tls_peer p;
	struct smx_tls_chain chain;
	const char *names[1];
	struct smx_tls_ctx *ctx;
	struct smx_tls_conn *conn = NULL;
	struct smx_tls_info info;
	char reason[512] = "";
	enum smx_status st;
	int fd;

	make_chain();
	memset(&tlsa, 0, sizeof(tlsa));
	tlsa.usage = (unsigned char)dane_cases[_i].usage;
	tlsa.selector = (unsigned char)dane_cases[_i].selector;
	tlsa.mtype = (unsigned char)dane_cases[_i].mtype;
	tlsa.len = tlsa_data(dane_cases[_i].of, dane_cases[_i].selector,
	    dane_cases[_i].mtype, data, sizeof(data));
	tlsa.data = data;
	ck_assert(smx_tls_tlsa_usable(&tlsa));
	memset(&p, 0, sizeof(p));
	p.sni = dane_cases[_i].base;
	p.dane_base = dane_cases[_i].base;
	names[0] = dane_cases[_i].extra;
	p.names = names;
	p.n_names = dane_cases[_i].extra != NULL ? 1 : 0;
	p.tlsa = &tlsa;
	p.n_tlsa = 1;
	p.chain = &chain;
	ck_assert(peer_start(&peer, "implicit", dane_cases[_i].cert, NULL));
	ctx = make_ctx(SMX_TLS_VERIFY_DANE, NULL);
	fd = connect_peer();
	st = smx_tls_connect(ctx, fd, &p, 5000, &conn, &info, reason,
	    sizeof(reason));
	ck_assert_msg(st == dane_cases[_i].st, "status %d, reason %s", st,
	    reason);
	ck_assert(info.is_dane);
	ck_assert_int_eq(info.verified, dane_cases[_i].verified);
	if (st == SMX_OK) {
		ck_assert_str_eq(info.tlsa_match, dane_cases[_i].match);
		smx_tls_close(conn, 1000);
	} else {
		ck_assert_int_eq(info.failure, SMX_TLS_FAIL_VERIFY);
		ck_assert_msg(strstr(info.verify_reason,
		                  dane_cases[_i].match) != NULL,
		    "%s", info.verify_reason);
		ck_assert_ptr_null(conn);
	}
	/* The chain is there for reports, also when verification fails. */
	ck_assert_uint_ge(chain.n_certs, 1);
	ck_assert_str_ne(chain.cert[0].subject, "");
	close(fd);
	smx_tls_ctx_free(ctx);
	peer_stop(&peer);
}
END_TEST

START_TEST(test_smx_tls_tlsa_usable)
{
	static const unsigned char d[64];
	static const struct {
		unsigned u, s, m;
		size_t len;
		bool usable;
	} cases[] = {
		{ 3, 1, 1, 32, true },
		{ 2, 0, 1, 32, true },
		{ 3, 0, 2, 64, true },
		{ 3, 1, 0, 10, true },
		{ 0, 0, 1, 32, false }, /* PKIX-TA: unusable for SMTP */
		{ 1, 1, 1, 32, false }, /* PKIX-EE */
		{ 4, 1, 1, 32, false },
		{ 3, 2, 1, 32, false },
		{ 3, 1, 3, 32, false },
		{ 3, 1, 1, 31, false },
		{ 3, 1, 2, 32, false },
		{ 3, 1, 0, 0, false },
		{ 255, 1, 1, 32, false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smx_tls_tlsa t = { (unsigned char)cases[i].u,
			(unsigned char)cases[i].s, (unsigned char)cases[i].m, d,
			cases[i].len };

		ck_assert_msg(smx_tls_tlsa_usable(&t) == cases[i].usable,
		    "case %zu", i);
	}
}
END_TEST

/* DANE with no usable record is refused before the socket is touched. */
START_TEST(test_smx_tls_dane_params)
{
	static const unsigned char d[32];
	struct smx_tls_tlsa pkix = { 1, 1, 1, d, 32 };
	struct smx_tls_peer p;
	struct smx_tls_ctx *ctx = make_ctx(SMX_TLS_VERIFY_DANE, NULL);
	struct smx_tls_conn *conn = NULL;
	struct smx_tls_info info;
	char reason[256];
	int fds[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	memset(&p, 0, sizeof(p));
	p.dane_base = "mx.example.test";
	ck_assert_int_eq(smx_tls_connect(ctx, fds[0], &p, 100, &conn, &info,
	                     reason, sizeof(reason)),
	    SMX_INVALID);
	p.tlsa = &pkix;
	p.n_tlsa = 1;
	ck_assert_int_eq(smx_tls_connect(ctx, fds[0], &p, 100, &conn, &info,
	                     reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_str_eq(reason, "no usable TLSA record");
	p.dane_base = NULL;
	ck_assert_int_eq(smx_tls_connect(ctx, fds[0], &p, 100, &conn, &info,
	                     reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_ptr_null(conn);
	close(fds[0]);
	close(fds[1]);
	smx_tls_ctx_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Session cache and resumption                                      */

static long long fake_now = 1000000;

static long long
fake_clock(void)
{
	return fake_now;
}

static struct smx_tls_session_cache *
make_cache(size_t max)
{
	struct smx_tls_session_cache *cache = NULL;

	ck_assert_int_eq(smx_tls_session_cache_new(max,
	                     SMX_TLS_SESSION_LIFETIME_DEFAULT, &cache),
	    SMX_OK);
	smx_tls_session_cache_set_clock(cache, fake_clock);
	return cache;
}

/*
 * One connection to the peer: the handshake, then the banner read (TLS
 * 1.3 tickets arrive with it), then close. Returns the handshake status.
 */
static enum smx_status
visit(struct smx_tls_ctx *ctx, const struct smx_tls_peer *p,
    struct smx_tls_info *info)
{
	struct smx_tls_conn *conn = NULL;
	char reason[512] = "";
	char buf[512];
	enum smx_status st;
	int fd = connect_peer();

	st = smx_tls_connect(ctx, fd, p, 5000, &conn, info, reason,
	    sizeof(reason));
	if (st == SMX_OK) {
		read_line(conn, buf, sizeof(buf));
		ck_assert_ptr_nonnull(strstr(buf, "220 peer.test"));
		smx_tls_close(conn, 1000);
	}
	close(fd);
	return st;
}

static const char *const resume_protocols[] = { "TLSv1.2", "TLSv1.3" };

/* A second connection resumes the first one's session; expiry ends it. */
START_TEST(test_smx_tls_resume)
{
	const char *names[] = { CERT_NAME };
	const char *proto = resume_protocols[_i];
	struct smx_tls_session_cache *cache = make_cache(8);
	struct smx_tls_ctx *ctx;
	struct smx_tls_peer p;
	struct smx_tls_info info;

	ck_assert(peer_start(&peer, "implicit", CERT_NAME, proto));
	ctx = make_ctx(SMX_TLS_VERIFY_CA, NULL);
	p = *peer_of(CERT_NAME, names, 1);
	p.cache = cache;
	p.where = "[127.0.0.1]:25";
	ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
	ck_assert(!info.is_resumed);
	ck_assert_str_eq(info.protocol, proto);
	ck_assert_int_eq(info.verified, SMX_TLS_VERIFIED_CA);
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 1);
	/* Resumed, with the verification result of the first handshake. */
	ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
	ck_assert(info.is_resumed);
	ck_assert_str_eq(info.protocol, proto);
	ck_assert_int_eq(info.verified, SMX_TLS_VERIFIED_CA);
	ck_assert_str_eq(info.peer_name, CERT_NAME);
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 1);
	/* Again: a resumption of a resumption. */
	ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
	ck_assert(info.is_resumed);
	/* Without a cache: a full handshake, nothing kept. */
	p.cache = NULL;
	ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
	ck_assert(!info.is_resumed);
	/* Resumptions never extend the lifetime of one verification. */
	p.cache = cache;
	fake_now += SMX_TLS_SESSION_LIFETIME_DEFAULT * 1000LL;
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 0);
	ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
	ck_assert(!info.is_resumed);
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 1);
	smx_tls_ctx_free(ctx);
	smx_tls_session_cache_free(cache);
	peer_stop(&peer);
}
END_TEST

/* Records of the test certificate for the DANE cases below. */
struct dane_fixture {
	unsigned char d311[64];
	unsigned char d301[64];
	struct smx_tls_tlsa t311;
	struct smx_tls_tlsa t301;
};

static void
dane_fixture(struct dane_fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->t311 = (struct smx_tls_tlsa){ 3, 1, 1, f->d311,
		tlsa_data(CERT_NAME, 1, 1, f->d311, sizeof(f->d311)) };
	f->t301 = (struct smx_tls_tlsa){ 3, 0, 1, f->d301,
		tlsa_data(CERT_NAME, 0, 1, f->d301, sizeof(f->d301)) };
}

/*
 * What must match for a resumption: a change of any of them means a
 * full handshake (and an entry of its own).
 */
enum variant {
	V_SNI,
	V_NAMES,
	V_WHERE,
	V_VERIFY_NONE,
	V_DANE,
	V_TLSA,
	V_NO_CA_FILE,
};

START_TEST(test_smx_tls_resume_key)
{
	const char *names[] = { CERT_NAME };
	const char *dot[] = { ".example.test" };
	struct smx_tls_session_cache *cache = make_cache(16);
	struct smx_tls_ctx *ca = NULL;
	struct smx_tls_ctx *none = NULL;
	struct smx_tls_ctx *dane = NULL;
	struct smx_tls_ctx *system_ca = NULL;
	struct smx_tls_options o;
	struct dane_fixture f;
	struct smx_tls_peer base;
	struct smx_tls_info info;
	char reason[256];
	int v;

	ck_assert(peer_start(&peer, "implicit", CERT_NAME, NULL));
	dane_fixture(&f);
	ca = make_ctx(SMX_TLS_VERIFY_CA, NULL);
	none = make_ctx(SMX_TLS_VERIFY_NONE, NULL);
	dane = make_ctx(SMX_TLS_VERIFY_DANE, NULL);
	/* Another CA setting: the same file under another name. */
	memset(&o, 0, sizeof(o));
	o.verify = SMX_TLS_VERIFY_CA;
	snprintf(reason, sizeof(reason), "%s/./ca.pem", certs_dir);
	o.ca_file = reason;
	ck_assert_int_eq(smx_tls_ctx_new(&o, &system_ca, reason,
	                     sizeof(reason)),
	    SMX_OK);
	base = *peer_of(CERT_NAME, names, 1);
	base.cache = cache;
	base.where = "[127.0.0.1]:25";
	ck_assert_int_eq(visit(ca, &base, &info), SMX_OK);
	ck_assert_int_eq(visit(ca, &base, &info), SMX_OK);
	ck_assert(info.is_resumed);
	for (v = V_SNI; v <= V_NO_CA_FILE; v++) {
		struct smx_tls_peer p = base;
		struct smx_tls_ctx *ctx = ca;

		switch (v) {
		case V_SNI:
			p.sni = "other.example.test";
			break;
		case V_NAMES:
			p.names = dot;
			break;
		case V_WHERE:
			p.where = "[127.0.0.1]:2525";
			break;
		case V_VERIFY_NONE:
			ctx = none;
			break;
		case V_DANE:
			ctx = dane;
			p.names = NULL;
			p.n_names = 0;
			p.dane_base = CERT_NAME;
			p.tlsa = &f.t311;
			p.n_tlsa = 1;
			break;
		case V_TLSA:
			ctx = dane;
			p.names = NULL;
			p.n_names = 0;
			p.dane_base = CERT_NAME;
			p.tlsa = &f.t301;
			p.n_tlsa = 1;
			break;
		case V_NO_CA_FILE:
			ctx = system_ca;
			break;
		}
		ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
		ck_assert_msg(!info.is_resumed, "variant %d resumed", v);
		/* Its own entry, resumed by the same variant. */
		ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
		ck_assert_msg(info.is_resumed, "variant %d not resumed", v);
	}
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 8);
	/* The first entry is still there. */
	ck_assert_int_eq(visit(ca, &base, &info), SMX_OK);
	ck_assert(info.is_resumed);
	smx_tls_ctx_free(ca);
	smx_tls_ctx_free(none);
	smx_tls_ctx_free(dane);
	smx_tls_ctx_free(system_ca);
	smx_tls_session_cache_free(cache);
	peer_stop(&peer);
}
END_TEST

/* DANE-EE and DANE-TA: a resumption reports what the TLSA records said. */
static const struct {
	const char *cert;
	const char *of;
	unsigned usage, selector, mtype;
	enum smx_tls_verified verified;
	const char *match;
	const char *proto;
} resume_dane_cases[] = {
	{ CERT_NAME, CERT_NAME, 3, 1, 1, SMX_TLS_VERIFIED_DANE_EE, "3.1.1",
	    "TLSv1.3" },
	{ CERT_NAME, CERT_NAME, 3, 1, 1, SMX_TLS_VERIFIED_DANE_EE, "3.1.1",
	    "TLSv1.2" },
	{ "chain", "ca", 2, 0, 1, SMX_TLS_VERIFIED_DANE_TA, "2.0.1",
	    "TLSv1.3" },
	{ "chain", "ca", 2, 0, 1, SMX_TLS_VERIFIED_DANE_TA, "2.0.1",
	    "TLSv1.2" },
};

START_TEST(test_smx_tls_resume_dane)
{
	struct smx_tls_session_cache *cache = make_cache(4);
	unsigned char data[4096];
	struct smx_tls_tlsa tlsa;
	struct smx_tls_peer p;
	struct smx_tls_ctx *ctx;
	struct smx_tls_info info;
	int i;

	make_chain();
	memset(&tlsa, 0, sizeof(tlsa));
	tlsa.usage = (unsigned char)resume_dane_cases[_i].usage;
	tlsa.selector = (unsigned char)resume_dane_cases[_i].selector;
	tlsa.mtype = (unsigned char)resume_dane_cases[_i].mtype;
	tlsa.len =
	    tlsa_data(resume_dane_cases[_i].of, resume_dane_cases[_i].selector,
	        resume_dane_cases[_i].mtype, data, sizeof(data));
	tlsa.data = data;
	memset(&p, 0, sizeof(p));
	p.sni = CERT_NAME;
	p.dane_base = CERT_NAME;
	p.tlsa = &tlsa;
	p.n_tlsa = 1;
	p.cache = cache;
	p.where = "[127.0.0.1]:25";
	ck_assert(peer_start(&peer, "implicit", resume_dane_cases[_i].cert,
	    resume_dane_cases[_i].proto));
	ctx = make_ctx(SMX_TLS_VERIFY_DANE, NULL);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
		ck_assert(info.is_resumed == (i == 1));
		ck_assert(info.is_dane);
		ck_assert_str_eq(info.protocol, resume_dane_cases[_i].proto);
		ck_assert_int_eq(info.verified, resume_dane_cases[_i].verified);
		ck_assert_str_eq(info.tlsa_match, resume_dane_cases[_i].match);
	}
	smx_tls_ctx_free(ctx);
	smx_tls_session_cache_free(cache);
	peer_stop(&peer);
}
END_TEST

/*
 * A server that does not resume (a new process, new ticket keys) gets a
 * full handshake and the entry is replaced; one whose certificate then
 * fails verification leaves no entry at all.
 */
START_TEST(test_smx_tls_resume_dropped)
{
	const char *names[] = { CERT_NAME };
	struct smx_tls_session_cache *cache = make_cache(4);
	struct smx_tls_ctx *ctx;
	struct smx_tls_peer p;
	struct smx_tls_info info;

	ctx = make_ctx(SMX_TLS_VERIFY_CA, NULL);
	p = *peer_of(CERT_NAME, names, 1);
	p.cache = cache;
	p.where = "[192.0.2.1]:25"; /* whichever peer runs now */
	ck_assert(peer_start(&peer, "implicit", CERT_NAME, NULL));
	ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
	peer_stop(&peer);
	ck_assert(peer_start(&peer, "implicit", CERT_NAME, NULL));
	ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
	ck_assert(!info.is_resumed);
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 1);
	ck_assert_int_eq(visit(ctx, &p, &info), SMX_OK);
	ck_assert(info.is_resumed); /* the new server's session */
	peer_stop(&peer);
	ck_assert(peer_start(&peer, "implicit", "wrongname", NULL));
	ck_assert_int_eq(visit(ctx, &p, &info), SMX_PERMFAIL);
	ck_assert(!info.is_resumed);
	ck_assert_int_eq(info.verified, SMX_TLS_VERIFIED_FAIL);
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 0);
	/* Nothing to offer: a full handshake, failing again, keeps nothing. */
	ck_assert_int_eq(visit(ctx, &p, &info), SMX_PERMFAIL);
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 0);
	smx_tls_ctx_free(ctx);
	smx_tls_session_cache_free(cache);
	peer_stop(&peer);
}
END_TEST

/* The store itself: bounds, the oldest entry first, expiry. */
START_TEST(test_smx_tls_session_cache_store)
{
	struct smx_tls_session_cache *cache = NULL;
	struct smx_tls_verdict v;
	struct smx_tls_verdict got;
	unsigned char key[3][SMX_TLS_DIGEST_SIZE];
	unsigned char *der;
	size_t len;
	int i;

	ck_assert_int_eq(smx_tls_session_cache_new(0, 3600, &cache),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_session_cache_new(SMX_TLS_SESSIONS_MAX + 1,
	                     3600, &cache),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_session_cache_new(2, 0, &cache), SMX_INVALID);
	ck_assert_int_eq(smx_tls_session_cache_new(2,
	                     SMX_TLS_SESSION_LIFETIME_MAX + 1, &cache),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_session_cache_new(2, 10, &cache), SMX_OK);
	smx_tls_session_cache_set_clock(cache, fake_clock);
	memset(&v, 0, sizeof(v));
	v.verified = SMX_TLS_VERIFIED_DANE_EE;
	snprintf(v.tlsa_match, sizeof(v.tlsa_match), "3.1.1");
	v.verified_ms = fake_now;
	for (i = 0; i < 3; i++) {
		memset(key[i], 'a' + i, sizeof(key[i]));
		der = malloc(4);
		memcpy(der, "DER", 4);
		smx_tls_session_cache_put(cache, key[i], der, 4, &v);
		fake_now += 1000;
	}
	/* Two entries: the first one made room for the third. */
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 2);
	ck_assert(!smx_tls_session_cache_get(cache, key[0], &der, &len, &got));
	ck_assert(smx_tls_session_cache_get(cache, key[2], &der, &len, &got));
	ck_assert_uint_eq(len, 4);
	ck_assert_str_eq((char *)der, "DER");
	ck_assert_int_eq(got.verified, SMX_TLS_VERIFIED_DANE_EE);
	ck_assert_str_eq(got.tlsa_match, "3.1.1");
	free(der);
	/* Too large: not kept; a drop forgets. */
	der = malloc(SMX_TLS_SESSION_DER_MAX + 1);
	memset(der, 0, SMX_TLS_SESSION_DER_MAX + 1);
	smx_tls_session_cache_put(cache, key[0], der,
	    SMX_TLS_SESSION_DER_MAX + 1, &v);
	ck_assert(!smx_tls_session_cache_get(cache, key[0], &der, &len, &got));
	smx_tls_session_cache_drop(cache, key[1]);
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 1);
	/* Ten seconds after the verification everything has expired, also
	 * a session stored later with the same verdict. */
	fake_now = v.verified_ms + 9999;
	ck_assert(smx_tls_session_cache_get(cache, key[2], &der, &len, &got));
	free(der);
	fake_now = v.verified_ms + 10000;
	ck_assert(!smx_tls_session_cache_get(cache, key[2], &der, &len, &got));
	der = malloc(4);
	memcpy(der, "DER", 4);
	smx_tls_session_cache_put(cache, key[2], der, 4, &v);
	ck_assert_uint_eq(smx_tls_session_cache_count(cache), 0);
	smx_tls_session_cache_free(cache);
	smx_tls_session_cache_free(NULL);
}
END_TEST

START_TEST(test_smx_tls_peer_digest)
{
	const char *a[] = { "a.example", "b.example" };
	const char *b[] = { "a.exampleb", ".example" };
	struct smx_tls_ctx *ctx = make_ctx(SMX_TLS_VERIFY_NONE, NULL);
	struct smx_tls_peer p;
	struct smx_tls_peer q;
	unsigned char d1[SMX_TLS_DIGEST_SIZE];
	unsigned char d2[SMX_TLS_DIGEST_SIZE];

	memset(&p, 0, sizeof(p));
	p.names = a;
	p.n_names = 2;
	q = p;
	q.names = b;
	/* "a.example" "b.example" is not "a.exampleb" ".example". */
	ck_assert_int_eq(smx_tls_peer_digest(ctx, &p, d1), SMX_OK);
	ck_assert_int_eq(smx_tls_peer_digest(ctx, &q, d2), SMX_OK);
	ck_assert(memcmp(d1, d2, sizeof(d1)) != 0);
	/* NULL is not "". */
	q = p;
	q.sni = "";
	ck_assert_int_eq(smx_tls_peer_digest(ctx, &q, d2), SMX_OK);
	ck_assert(memcmp(d1, d2, sizeof(d1)) != 0);
	/* Equal inputs, equal digests; the chain and cache do not count. */
	q = p;
	q.where = "[192.0.2.1]:25";
	ck_assert_int_eq(smx_tls_peer_digest(ctx, &q, d2), SMX_OK);
	ck_assert(memcmp(d1, d2, sizeof(d1)) == 0);
	smx_tls_ctx_free(ctx);
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("smx_tls");
	TCase *tc;

	tc = tcase_create("context");
	tcase_add_loop_test(tc, test_smx_tls_ctx_options, 0,
	    sizeof(ctx_cases) / sizeof(ctx_cases[0]));
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);

	tc = tcase_create("handshake");
	tcase_add_unchecked_fixture(tc, certs_make, certs_remove);
	tcase_add_loop_test(tc, test_smx_tls_handshake, 0,
	    sizeof(hs_cases) / sizeof(hs_cases[0]));
	tcase_add_test(tc, test_smx_tls_min_protocol);
	tcase_add_test(tc, test_smx_tls_timeout);
	tcase_add_test(tc, test_smx_tls_bad_names);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);

	tc = tcase_create("dane");
	tcase_add_unchecked_fixture(tc, certs_make, certs_remove);
	tcase_add_loop_test(tc, test_smx_tls_dane, 0,
	    sizeof(dane_cases) / sizeof(dane_cases[0]));
	tcase_add_test(tc, test_smx_tls_tlsa_usable);
	tcase_add_test(tc, test_smx_tls_dane_params);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);

	tc = tcase_create("resumption");
	tcase_add_unchecked_fixture(tc, certs_make, certs_remove);
	tcase_add_loop_test(tc, test_smx_tls_resume, 0,
	    sizeof(resume_protocols) / sizeof(resume_protocols[0]));
	tcase_add_test(tc, test_smx_tls_resume_key);
	tcase_add_loop_test(tc, test_smx_tls_resume_dane, 0,
	    sizeof(resume_dane_cases) / sizeof(resume_dane_cases[0]));
	tcase_add_test(tc, test_smx_tls_resume_dropped);
	tcase_add_test(tc, test_smx_tls_session_cache_store);
	tcase_add_test(tc, test_smx_tls_peer_digest);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("io");
	tcase_add_unchecked_fixture(tc, certs_make, certs_remove);
	tcase_add_test(tc, test_smx_tls_io);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tls_suite());
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
