/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/smx_tls.c: contexts, handshakes against the test peer
 * (TLS from the first byte) with test certificates made by
 * scripts/make-test-certs, name matching, verification failures, protocol
 * floor, timeouts and I/O.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
	    SMX_TLS_VERIFIED_OK, CERT_NAME },
	/* dot-nexthop: any host below the domain */
	{ CERT_NAME, SMX_TLS_VERIFY_CA, { ".example.test", NULL }, SMX_OK,
	    SMX_TLS_VERIFIED_OK, CERT_NAME },
	{ CERT_NAME, SMX_TLS_VERIFY_CA, { "other.example.test", CERT_NAME },
	    SMX_OK, SMX_TLS_VERIFIED_OK, CERT_NAME },
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
	    { "mx.wild.example.test", NULL }, SMX_OK, SMX_TLS_VERIFIED_OK,
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
	st = smx_tls_connect(ctx, fd, CERT_NAME, hs_cases[_i].names, n_names,
	    5000, &conn, &info, reason, sizeof(reason));
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
	ck_assert_int_eq(smx_tls_connect(ctx, fd, CERT_NAME, names, 1, 5000,
	                     &conn, &info, reason, sizeof(reason)),
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
	ck_assert_int_eq(smx_tls_connect(ctx, fd, CERT_NAME, names, 1, 5000,
	                     &conn, &info, reason, sizeof(reason)),
	    SMX_TEMPFAIL);
	ck_assert_ptr_null(conn);
	ck_assert_ptr_nonnull(strstr(reason, "handshake failure"));
	ck_assert_str_eq(info.protocol, "");
	close(fd);
	smx_tls_ctx_free(ctx);
	/* With the default floor the same server gives TLSv1.2. */
	ctx = make_ctx(SMX_TLS_VERIFY_CA, NULL);
	fd = connect_peer();
	ck_assert_int_eq(smx_tls_connect(ctx, fd, CERT_NAME, names, 1, 5000,
	                     &conn, &info, reason, sizeof(reason)),
	    SMX_OK);
	ck_assert_str_eq(info.protocol, "TLSv1.2");
	ck_assert_int_eq(info.verified, SMX_TLS_VERIFIED_OK);
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
	ck_assert_int_eq(smx_tls_connect(ctx, fd, CERT_NAME, names, 1, 500,
	                     &conn, &info, reason, sizeof(reason)),
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
	ck_assert_int_eq(smx_tls_connect(ctx, -1, NULL, NULL, 0, 100, &conn,
	                     &info, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_connect(ctx, -1, NULL, crlf, 1, 100, &conn,
	                     &info, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_connect(ctx, -1, NULL, empty, 1, 100, &conn,
	                     &info, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_connect(ctx, -1, NULL, many,
	                     SMX_TLS_NAMES_MAX + 1, 100, &conn, &info, reason,
	                     sizeof(reason)),
	    SMX_INVALID);
	ck_assert_int_eq(smx_tls_connect(ctx, -1, "a\nb", many, 1, 100, &conn,
	                     &info, reason, sizeof(reason)),
	    SMX_INVALID);
	ck_assert_ptr_null(conn);
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
