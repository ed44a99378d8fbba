/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for policyd/policy_proto.c: request framing (incremental,
 * pipelined, every limit at the cap and one over), request parsing
 * (errors, repeats, unknown names, facts) and reply formatting.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smx_limits.h"

#include "policy_proto.h"

#define REQ_HEAD "request=smtpd_access_policy\n"

/* Read a test data file into a new NUL-terminated buffer. */
static char *
read_data(const char *name, size_t *len)
{
	char path[1024];
	FILE *fp;
	char *buf;
	long size;

	snprintf(path, sizeof(path), "%s/%s", SMX_TEST_DATA, name);
	fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	size = ftell(fp);
	ck_assert_int_ge(size, 0);
	rewind(fp);
	buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)size, fp), (size_t)size);
	buf[size] = '\0';
	fclose(fp);
	*len = (size_t)size;
	return buf;
}

/*
 * A well-formed request of exactly total bytes: the request line, then
 * filler lines "a=xxx" no longer than POLICY_LINE_MAX, then the empty
 * line.
 */
static char *
make_request(size_t total)
{
	size_t head = strlen(REQ_HEAD);
	char *buf = malloc(total + 1);
	size_t pos = head;
	size_t left;

	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_ge(total, head + 1);
	memcpy(buf, REQ_HEAD, head);
	left = total - head - 1;
	while (left > 0) {
		size_t chunk =
		    left < POLICY_LINE_MAX + 1 ? left : POLICY_LINE_MAX + 1;

		if (left - chunk > 0 && left - chunk < 3)
			chunk -= 3;
		ck_assert_uint_ge(chunk, 3);
		buf[pos] = 'a';
		buf[pos + 1] = '=';
		memset(buf + pos + 2, 'x', chunk - 3);
		buf[pos + chunk - 1] = '\n';
		pos += chunk;
		left -= chunk;
	}
	buf[pos++] = '\n';
	buf[pos] = '\0';
	ck_assert_uint_eq(pos, total);
	return buf;
}

/* A request with one attribute line of exactly line_len bytes. */
static char *
make_long_line(size_t line_len, size_t *len)
{
	size_t head = strlen(REQ_HEAD);
	char *buf = malloc(head + line_len + 3);

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, REQ_HEAD, head);
	buf[head] = 'a';
	buf[head + 1] = '=';
	memset(buf + head + 2, 'y', line_len - 2);
	buf[head + line_len] = '\n';
	buf[head + line_len + 1] = '\n';
	buf[head + line_len + 2] = '\0';
	*len = head + line_len + 2;
	return buf;
}

/* A request with n attribute lines in all, the request line included. */
static char *
make_attrs(size_t n, size_t *len)
{
	size_t head = strlen(REQ_HEAD);
	char *buf = malloc(head + 4 * n + 2);
	size_t pos = head;
	size_t i;

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, REQ_HEAD, head);
	for (i = 1; i < n; i++) {
		memcpy(buf + pos, "a=b\n", 4);
		pos += 4;
	}
	buf[pos++] = '\n';
	buf[pos] = '\0';
	*len = pos;
	return buf;
}

/* Scan all of buf at once. */
static enum smx_status
scan_whole(const char *buf, size_t len, size_t *req_len)
{
	struct policy_scan s;
	char reason[128];

	policy_proto_scan_reset(&s);
	return policy_proto_scan(&s, buf, len, req_len, reason, sizeof(reason));
}

/*
 * Scan buf one byte at a time. Returns the first status that is not
 * SMX_NOTFOUND (and where it came) or SMX_NOTFOUND at the end.
 */
static enum smx_status
scan_bytes(const char *buf, size_t len, size_t *req_len, size_t *at)
{
	struct policy_scan s;
	char reason[128];
	size_t i;

	policy_proto_scan_reset(&s);
	for (i = 1; i <= len; i++) {
		enum smx_status st = policy_proto_scan(&s, buf, i, req_len,
		    reason, sizeof(reason));

		if (st != SMX_NOTFOUND) {
			*at = i;
			return st;
		}
	}
	*at = len;
	return SMX_NOTFOUND;
}

START_TEST(test_policy_proto_scan_reference_bytewise)
{
	size_t len;
	char *buf = read_data("policy/postfix-3.7.in", &len);
	const char *second = strstr(buf, "\n\nrequest=") + 2;
	size_t first_len = (size_t)(second - buf);
	size_t req_len = 0;
	size_t at = 0;

	/* Complete exactly at the empty line, not one byte earlier. */
	ck_assert_int_eq(scan_bytes(buf, len, &req_len, &at), SMX_OK);
	ck_assert_uint_eq(at, first_len);
	ck_assert_uint_eq(req_len, first_len);
	ck_assert_int_eq(scan_bytes(second, len - first_len, &req_len, &at),
	    SMX_OK);
	ck_assert_uint_eq(req_len, len - first_len);
	free(buf);
}
END_TEST

START_TEST(test_policy_proto_scan_pipelined)
{
	size_t one_len;
	char *one = read_data("policy/postfix-3.7.in", &one_len);
	const size_t n = 500;
	char *many = malloc(one_len * n);
	struct policy_scan s;
	char reason[128];
	size_t pos = 0;
	size_t count = 0;
	size_t i;

	ck_assert_ptr_nonnull(many);
	for (i = 0; i < n; i++)
		memcpy(many + i * one_len, one, one_len);
	policy_proto_scan_reset(&s);
	for (;;) {
		size_t req_len;
		enum smx_status st = policy_proto_scan(&s, many + pos,
		    one_len * n - pos, &req_len, reason, sizeof(reason));

		if (st == SMX_NOTFOUND)
			break;
		ck_assert_int_eq(st, SMX_OK);
		ck_assert(req_len > 0);
		pos += req_len;
		count++;
	}
	/* Two requests per copy of the file, nothing left over. */
	ck_assert_uint_eq(count, 2 * n);
	ck_assert_uint_eq(pos, one_len * n);
	free(many);
	free(one);
}
END_TEST

START_TEST(test_policy_proto_scan_chunks)
{
	size_t len;
	char *buf = read_data("policy/postfix-3.7.in", &len);
	static const size_t chunks[] = { 2, 7, 64, 100, 333 };
	size_t k;

	/* Growing windows of various steps find the same two requests. */
	for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct policy_scan s;
		char reason[128];
		size_t start = 0;
		size_t end = 0;
		size_t found = 0;

		policy_proto_scan_reset(&s);
		while (end < len) {
			size_t req_len;
			enum smx_status st;

			end = end + chunks[k] > len ? len : end + chunks[k];
			while ((st = policy_proto_scan(&s, buf + start,
			            end - start, &req_len, reason,
			            sizeof(reason))) == SMX_OK) {
				start += req_len;
				found++;
			}
			ck_assert_int_eq(st, SMX_NOTFOUND);
		}
		ck_assert_uint_eq(found, 2);
		ck_assert_uint_eq(start, len);
	}
	free(buf);
}
END_TEST

START_TEST(test_policy_proto_scan_request_cap)
{
	char *ok = make_request(POLICY_REQUEST_MAX);
	char *over = make_request(POLICY_REQUEST_MAX + 1);
	size_t req_len = 0;
	size_t at = 0;

	ck_assert_int_eq(scan_whole(ok, POLICY_REQUEST_MAX, &req_len), SMX_OK);
	ck_assert_uint_eq(req_len, POLICY_REQUEST_MAX);
	ck_assert_int_eq(scan_whole(over, POLICY_REQUEST_MAX + 1, &req_len),
	    SMX_INVALID);
	/* Fed byte by byte, the over-long one fails without its last byte. */
	ck_assert_int_eq(scan_bytes(ok, POLICY_REQUEST_MAX, &req_len, &at),
	    SMX_OK);
	ck_assert_uint_eq(at, POLICY_REQUEST_MAX);
	ck_assert_int_eq(scan_bytes(over, POLICY_REQUEST_MAX + 1, &req_len,
	                     &at),
	    SMX_INVALID);
	ck_assert_uint_eq(at, POLICY_REQUEST_MAX);
	free(ok);
	free(over);
}
END_TEST

START_TEST(test_policy_proto_scan_line_cap)
{
	size_t len;
	char *ok = make_long_line(POLICY_LINE_MAX, &len);
	size_t req_len = 0;
	size_t at = 0;
	char *over;

	ck_assert_int_eq(scan_whole(ok, len, &req_len), SMX_OK);
	ck_assert_uint_eq(req_len, len);
	free(ok);
	over = make_long_line(POLICY_LINE_MAX + 1, &len);
	ck_assert_int_eq(scan_whole(over, len, &req_len), SMX_INVALID);
	/* Detected as soon as the line is one byte too long. */
	ck_assert_int_eq(scan_bytes(over, len, &req_len, &at), SMX_INVALID);
	ck_assert_uint_eq(at, strlen(REQ_HEAD) + POLICY_LINE_MAX + 1);
	free(over);
}
END_TEST

START_TEST(test_policy_proto_scan_attrs_cap)
{
	size_t len;
	char *ok = make_attrs(POLICY_ATTRS_MAX, &len);
	char *over;
	size_t req_len = 0;
	struct policy_request pr;
	char reason[128];

	ck_assert_int_eq(scan_whole(ok, len, &req_len), SMX_OK);
	ck_assert_uint_eq(req_len, len);
	ck_assert_int_eq(policy_proto_parse(ok, len, &pr, reason,
	                     sizeof(reason)),
	    SMX_OK);
	ck_assert_uint_eq(pr.n_attrs, POLICY_ATTRS_MAX);
	free(ok);
	over = make_attrs(POLICY_ATTRS_MAX + 1, &len);
	ck_assert_int_eq(scan_whole(over, len, &req_len), SMX_INVALID);
	free(over);
}
END_TEST

static const struct {
	const char *in;
	size_t len; /* 0: strlen(in) */
	enum smx_status st;
} scan_cases[] = {
	{ "\n", 0, SMX_OK }, /* framed; the parser rejects it */
	{ "", 0, SMX_NOTFOUND },
	{ "request=smtpd_access_policy\n", 0, SMX_NOTFOUND },
	{ "request=smtpd_access_policy", 0, SMX_NOTFOUND },
	{ "request=smtpd\0_access_policy\n\n", 30, SMX_INVALID },
	{ "request=smtpd_access_policy\n\0\n", 30, SMX_INVALID },
	{ "\0", 1, SMX_INVALID },
	{ "a=b\r\n\r\n", 0, SMX_NOTFOUND }, /* CR is not a line end */
	{ "a=b\n\n\n", 0, SMX_OK },
};

START_TEST(test_policy_proto_scan_cases)
{
	const char *in = scan_cases[_i].in;
	size_t len = scan_cases[_i].len ? scan_cases[_i].len : strlen(in);
	size_t req_len;
	size_t at;

	ck_assert_int_eq(scan_whole(in, len, &req_len), scan_cases[_i].st);
	/* Byte-by-byte feeding reaches the same verdict. */
	ck_assert_int_eq(scan_bytes(in, len, &req_len, &at), scan_cases[_i].st);
}
END_TEST

static const struct {
	const char *in;
	const char *reason; /* NULL: must parse */
} parse_cases[] = {
	{ "request=smtpd_access_policy\n\n", NULL },
	{ "request=smtpd_access_policy\n", NULL },
	{ "request=smtpd_access_policy\nencryption_keysize=\n\n", NULL },
	{ "", "missing request attribute" },
	{ "\n", "missing request attribute" },
	{ "protocol_state=RCPT\n\n", "missing request attribute" },
	{ "request=junk\n\n", "unsupported request type" },
	{ "request=\n\n", "unsupported request type" },
	{ "request=smtpd_access_policyx\n\n", "unsupported request type" },
	{ "request=SMTPD_ACCESS_POLICY\n\n", "unsupported request type" },
	{ "request=smtpd_access_policy\r\n\n", "unsupported request type" },
	{ "request=smtpd_access_policy\nfoo\n\n", "line without '='" },
	{ "request=smtpd_access_policy\n=x\n\n", "empty attribute name" },
	{ "request=smtpd_access_policy\nencryption_keysize=abc\n\n",
	    "bad encryption_keysize" },
	{ "request=smtpd_access_policy\nencryption_keysize=-1\n\n",
	    "bad encryption_keysize" },
	{ "request=smtpd_access_policy\nencryption_keysize= 1\n\n",
	    "bad encryption_keysize" },
	{ "request=smtpd_access_policy\nencryption_keysize=256\r\n\n",
	    "bad encryption_keysize" },
	{ "request=smtpd_access_policy\nencryption_keysize="
	  "99999999999999999999999\n\n",
	    "bad encryption_keysize" },
	{ "request=smtpd_access_policy\n\nx=y\n\n",
	    "data after end of request" },
	{ "request=smtpd_access_policy\nsender=a", "line without newline" },
	{ "request=smtpd_access_policy\nsender=\xc3\xa9\n\n", NULL },
};

START_TEST(test_policy_proto_parse_cases)
{
	char buf[256];
	size_t len = strlen(parse_cases[_i].in);
	struct policy_request pr;
	char reason[128] = "";
	enum smx_status st;

	memcpy(buf, parse_cases[_i].in, len + 1);
	st = policy_proto_parse(buf, len, &pr, reason, sizeof(reason));
	if (parse_cases[_i].reason == NULL) {
		ck_assert_msg(st == SMX_OK, "case %d: %s", _i, reason);
	} else {
		ck_assert_int_eq(st, SMX_INVALID);
		ck_assert_str_eq(reason, parse_cases[_i].reason);
	}
}
END_TEST

START_TEST(test_policy_proto_parse_nul)
{
	char buf[] = "request=smtpd_access_policy\nsender=a\0b\n\n";
	struct policy_request pr;
	char reason[128];

	ck_assert_int_eq(policy_proto_parse(buf, sizeof(buf) - 1, &pr, reason,
	                     sizeof(reason)),
	    SMX_INVALID);
	ck_assert_str_eq(reason, "NUL byte in request");
}
END_TEST

START_TEST(test_policy_proto_parse_repeat_unknown)
{
	char buf[] = "request=smtpd_access_policy\n"
	             "recipient=first@a.example\n"
	             "x_future_attribute=whatever=with=equals\n"
	             "encryption_keysize=zzz\n"
	             "recipient=last@b.example\n"
	             "encryption_keysize=128\n"
	             "client_name=host\r\n"
	             "\n";
	struct policy_request pr;
	char reason[128];

	ck_assert_int_eq(policy_proto_parse(buf, strlen(buf), &pr, reason,
	                     sizeof(reason)),
	    SMX_OK);
	/* The last value wins, even over an earlier bad one. */
	ck_assert_str_eq(pr.value[POLICY_ATTR_RECIPIENT], "last@b.example");
	ck_assert_uint_eq(pr.len[POLICY_ATTR_RECIPIENT], 14);
	ck_assert(pr.has_keysize);
	ck_assert_uint_eq(pr.encryption_keysize, 128);
	/* A CR stays in the value. */
	ck_assert_str_eq(pr.value[POLICY_ATTR_CLIENT_NAME], "host\r");
	/* Absent attributes are "" and flagged. */
	ck_assert_str_eq(pr.value[POLICY_ATTR_SENDER], "");
	ck_assert(!pr.has[POLICY_ATTR_SENDER]);
	ck_assert(pr.has[POLICY_ATTR_RECIPIENT]);
	ck_assert_uint_eq(pr.n_attrs, 7);
}
END_TEST

START_TEST(test_policy_proto_parse_reference)
{
	size_t len;
	char *buf = read_data("policy/postfix-3.7.in", &len);
	char *second = strstr(buf, "\n\nrequest=") + 2;
	size_t first_len = (size_t)(second - buf);
	struct policy_request pr;
	struct smx_facts f;
	char reason[128];

	ck_assert_int_eq(policy_proto_parse(buf, first_len, &pr, reason,
	                     sizeof(reason)),
	    SMX_OK);
	policy_proto_facts(&pr, &f);
	ck_assert_str_eq(f.protocol_state, "RCPT");
	ck_assert_str_eq(f.queue_id, "");
	ck_assert_str_eq(f.sender, "alice@sender1.example.net");
	ck_assert_str_eq(f.recipient, "bob@sor.example");
	ck_assert_str_eq(f.client_name, "localhost");
	ck_assert_str_eq(f.client_address, "127.0.0.1");
	ck_assert_str_eq(f.encryption_protocol, "");
	ck_assert_str_eq(f.encryption_cipher, "");
	ck_assert_str_eq(f.ccert_fingerprint, "");
	ck_assert_str_eq(f.ccert_pubkey_fingerprint, "");
	ck_assert(f.has_keysize);
	ck_assert_uint_eq(f.encryption_keysize, 0);
	ck_assert_str_eq(pr.value[POLICY_ATTR_INSTANCE],
	    "2785.6b0b24ba.d1e0c.0");
	ck_assert_uint_eq(pr.n_attrs, 29);

	ck_assert_int_eq(policy_proto_parse(second, len - first_len, &pr,
	                     reason, sizeof(reason)),
	    SMX_OK);
	policy_proto_facts(&pr, &f);
	ck_assert_str_eq(f.recipient, "carol@other.example");
	ck_assert_str_eq(f.encryption_protocol, "TLSv1.3");
	ck_assert_str_eq(f.encryption_cipher, "TLS_AES_256_GCM_SHA384");
	ck_assert_uint_eq(f.encryption_keysize, 256);
	free(buf);
}
END_TEST

START_TEST(test_policy_proto_attr_names)
{
	ck_assert_str_eq(policy_proto_attr_name(POLICY_ATTR_REQUEST),
	    "request");
	ck_assert_str_eq(policy_proto_attr_name(
	                     POLICY_ATTR_CCERT_PUBKEY_FINGERPRINT),
	    "ccert_pubkey_fingerprint");
	ck_assert_str_eq(policy_proto_attr_name(POLICY_ATTR_COUNT), "unknown");
}
END_TEST

START_TEST(test_policy_proto_reply)
{
	char out[POLICY_REPLY_MAX + 16];
	char action[POLICY_REPLY_MAX + 1];
	size_t len = 0;

	ck_assert_int_eq(policy_proto_reply("DUNNO", out, sizeof(out), &len),
	    SMX_OK);
	ck_assert_uint_eq(len, 14);
	ck_assert_mem_eq(out, "action=DUNNO\n\n", 14);
	ck_assert_int_eq(policy_proto_reply("", out, sizeof(out), &len),
	    SMX_INVALID);
	ck_assert_int_eq(policy_proto_reply("530 x\r", out, sizeof(out), &len),
	    SMX_INVALID);
	ck_assert_int_eq(policy_proto_reply("530 x\nDUNNO", out, sizeof(out),
	                     &len),
	    SMX_INVALID);
	/* Too small an output buffer. */
	ck_assert_int_eq(policy_proto_reply("DUNNO", out, 13, &len),
	    SMX_INVALID);
	ck_assert_int_eq(policy_proto_reply("DUNNO", out, 14, &len), SMX_OK);
	/* Longest action that fits the limit, and one over. */
	memset(action, 'a', sizeof(action));
	action[POLICY_REPLY_MAX - 1] = '\0';
	ck_assert_int_eq(policy_proto_reply(action, out, sizeof(out), &len),
	    SMX_OK);
	ck_assert_uint_eq(len, POLICY_REPLY_MAX - 1 + 9);
	action[POLICY_REPLY_MAX - 1] = 'a';
	action[POLICY_REPLY_MAX] = '\0';
	ck_assert_int_eq(policy_proto_reply(action, out, sizeof(out), &len),
	    SMX_INVALID);
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("policy_proto");
	TCase *tc;

	tc = tcase_create("scan");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_policy_proto_scan_reference_bytewise);
	tcase_add_test(tc, test_policy_proto_scan_pipelined);
	tcase_add_test(tc, test_policy_proto_scan_chunks);
	tcase_add_loop_test(tc, test_policy_proto_scan_cases, 0,
	    sizeof(scan_cases) / sizeof(scan_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_policy_proto_scan_request_cap);
	tcase_add_test(tc, test_policy_proto_scan_line_cap);
	tcase_add_test(tc, test_policy_proto_scan_attrs_cap);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_policy_proto_parse_cases, 0,
	    sizeof(parse_cases) / sizeof(parse_cases[0]));
	tcase_add_test(tc, test_policy_proto_parse_nul);
	tcase_add_test(tc, test_policy_proto_parse_repeat_unknown);
	tcase_add_test(tc, test_policy_proto_parse_reference);
	tcase_add_test(tc, test_policy_proto_attr_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("reply");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_policy_proto_reply);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
