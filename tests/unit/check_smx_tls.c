/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/smx_tls.c: contexts, handshakes against the test peer
 * (TLS from the first byte) with test certificates made by
 * scripts/make-test-certs, name matching, verification failures, protocol
 * floor, timeouts and I/O, and DANE (OpenSSL's DANE API) with TLSA
 * records computed here from the test certificates. Test code, so it
 * uses OpenSSL directly to compute the records.
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
