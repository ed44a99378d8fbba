/* SPDX-License-Identifier: MIT */
/*
 * Golden transcripts of the policy engine: each tests/data/policy/NAME.in
 * holds one or more requests as Postfix sends them; they go through the
 * framing scanner, the parser and smx_decide() with the configuration
 * tests/data/policy/secmx.conf.in, and the replies the daemon would send
 * must equal NAME.ref byte for byte. A malformed request ends the
 * transcript, as it ends the connection: nothing is sent for it or after
 * it. With SMX_GOLDEN_UPDATE=1 in the environment the .ref files are
 * written instead (review the difference before committing it).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smx_buf.h"
#include "smx_config.h"
#include "smx_decision.h"
#include "smx_limits.h"

#include "policy_proto.h"

#define DATA_DIR SMX_TEST_DATA "/policy"
#define NAMES_MAX 64
#define FILE_MAX (1024 * 1024)

static char *names[NAMES_MAX];
static int n_names;

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	struct smx_buf b;
	char chunk[4096];
	size_t n;

	if (fp == NULL)
		return NULL;
	smx_buf_init(&b, FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		ck_assert_int_eq(smx_buf_append(&b, chunk, n), SMX_OK);
	fclose(fp);
	if (b.data == NULL)
		ck_assert_int_eq(smx_buf_append(&b, "", 0), SMX_OK);
	*len = b.len;
	return b.data;
}

/* The golden configuration with @DATA@ replaced by DATA_DIR. */
static struct smx_config *
golden_config(void)
{
	static const char mark[] = "@DATA@";
	struct smx_config *cfg = NULL;
	struct smx_buf text;
	char err[512];
	size_t len;
	char *raw = slurp(DATA_DIR "/secmx.conf.in", &len);
	const char *p;
	const char *hit;

	ck_assert_ptr_nonnull(raw);
	smx_buf_init(&text, FILE_MAX);
	for (p = raw; (hit = strstr(p, mark)) != NULL;
	     p = hit + sizeof(mark) - 1) {
		ck_assert_int_eq(smx_buf_append(&text, p, (size_t)(hit - p)),
		    SMX_OK);
		ck_assert_int_eq(smx_buf_append(&text, DATA_DIR,
		                     strlen(DATA_DIR)),
		    SMX_OK);
	}
	ck_assert_int_eq(smx_buf_append(&text, p, strlen(p)), SMX_OK);
	ck_assert_msg(smx_config_parse("secmx.conf.in", text.data, text.len,
	                  &cfg, err, sizeof(err)) == SMX_OK,
	    "%s", err);
	ck_assert_msg(smx_config_load_tables(cfg, err, sizeof(err)) == SMX_OK,
	    "%s", err);
	smx_buf_free(&text);
	free(raw);
	return cfg;
}

/* Run a transcript: the bytes a daemon would send for these requests. */
static void
run_transcript(const struct smx_config *cfg, char *in, size_t len,
    struct smx_buf *out)
{
	struct policy_scan scan;
	char reason[128];
	size_t pos = 0;

	policy_proto_scan_reset(&scan);
	while (pos < len) {
		struct policy_request pr;
		struct smx_facts f;
		struct smx_decision d;
		char reply[POLICY_REPLY_MAX + 16];
		size_t req_len;
		size_t rlen;

		if (policy_proto_scan(&scan, in + pos, len - pos, &req_len,
		        reason, sizeof(reason)) != SMX_OK)
			return;
		if (policy_proto_parse(in + pos, req_len, &pr, reason,
		        sizeof(reason)) != SMX_OK)
			return;
		policy_proto_facts(&pr, &f);
		smx_decide(cfg, &f, &d);
		ck_assert_int_eq(policy_proto_reply(d.action, reply,
		                     sizeof(reply), &rlen),
		    SMX_OK);
		ck_assert_int_eq(smx_buf_append(out, reply, rlen), SMX_OK);
		pos += req_len;
	}
}

START_TEST(test_policy_golden_transcript)
{
	struct smx_config *cfg = golden_config();
	char in_path[1024];
	char ref_path[1024];
	struct smx_buf out;
	size_t in_len;
	size_t ref_len;
	char *in;
	char *ref;

	snprintf(in_path, sizeof(in_path), "%s/%s.in", DATA_DIR, names[_i]);
	snprintf(ref_path, sizeof(ref_path), "%s/%s.ref", DATA_DIR, names[_i]);
	in = slurp(in_path, &in_len);
	ck_assert_ptr_nonnull(in);
	smx_buf_init(&out, FILE_MAX);
	run_transcript(cfg, in, in_len, &out);
	if (getenv("SMX_GOLDEN_UPDATE") != NULL) {
		FILE *fp = fopen(ref_path, "wb");

		ck_assert_ptr_nonnull(fp);
		if (out.len > 0)
			ck_assert_uint_eq(fwrite(out.data, 1, out.len, fp),
			    out.len);
		ck_assert_int_eq(fclose(fp), 0);
	}
	ref = slurp(ref_path, &ref_len);
	ck_assert_msg(ref != NULL, "missing %s", ref_path);
	ck_assert_msg(ref_len == out.len &&
	        (out.len == 0 || memcmp(ref, out.data, out.len) == 0),
	    "%s: output differs from %s:\n%.*s", in_path, ref_path,
	    (int)out.len, out.len > 0 ? out.data : "");
	free(ref);
	free(in);
	smx_buf_free(&out);
	smx_config_free(cfg);
}
END_TEST

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every NAME.in in the data directory, sorted. */
static void
find_transcripts(void)
{
	DIR *d = opendir(DATA_DIR);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && n_names < NAMES_MAX) {
		size_t len = strlen(e->d_name);

		if (len > 3 && strcmp(e->d_name + len - 3, ".in") == 0 &&
		    strcmp(e->d_name, "secmx.conf.in") != 0) {
			names[n_names] = strndup(e->d_name, len - 3);
			if (names[n_names] != NULL)
				n_names++;
		}
	}
	closedir(d);
	qsort(names, (size_t)n_names, sizeof(names[0]), name_cmp);
}

START_TEST(test_policy_golden_found)
{
	/* The reference requests are among the transcripts. */
	int i;
	int has_reference = 0;

	for (i = 0; i < n_names; i++)
		has_reference |= strcmp(names[i], "postfix-3.7") == 0;
	ck_assert_int_ge(n_names, 5);
	ck_assert(has_reference);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("policy_golden");
	TCase *tc = tcase_create("transcripts");
	SRunner *sr;
	int failed;
	int i;

	find_transcripts();
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_policy_golden_found);
	tcase_add_loop_test(tc, test_policy_golden_transcript, 0, n_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	for (i = 0; i < n_names; i++)
		free(names[i]);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
