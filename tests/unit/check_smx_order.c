/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/smx_order.c: SRV and MX ordering with an injected
 * random source, and the production random source.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smx_dns.h"
#include "smx_order.h"

/* ---------------------------------------------------------------- */
/* Random sources                                                    */

/* A scripted source: returns draws[i] in turn and records each bound. */
struct script {
	const uint64_t *draws;
	size_t n_draws;
	size_t n_calls;
	uint64_t bounds[16];
};

static uint64_t
script_rnd(uint64_t bound, void *ctx)
{
	struct script *s = ctx;
	uint64_t v;

	ck_assert_uint_lt(s->n_calls, s->n_draws);
	v = s->draws[s->n_calls];
	if (s->n_calls < 16)
		s->bounds[s->n_calls] = bound;
	s->n_calls++;
	return v;
}

/* A seeded deterministic PRNG (splitmix64), uniform by rejection. */
static uint64_t
splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
seeded_rnd(uint64_t bound, void *ctx)
{
	uint64_t threshold = (0 - bound) % bound;
	uint64_t r;

	do {
		r = splitmix(ctx);
	} while (r < threshold);
	return r % bound;
}

/* Always out of range: the ordering must survive a broken source. */
static uint64_t
broken_rnd(uint64_t bound, void *ctx)
{
	(void)ctx;
	return bound + 12345;
}

static void
srv_fill(struct smx_dns_srv *s, const char *target, uint16_t prio,
    uint16_t weight)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->target, sizeof(s->target), "%s", target);
	s->priority = prio;
	s->weight = weight;
	s->port = 25;
}

/* ---------------------------------------------------------------- */
/* SRV ordering                                                      */

START_TEST(test_smx_order_srv_exact)
{
	static const uint64_t draws[] = { 0, 1310720 };
	struct script sc = { draws, 2, 0, { 0 } };
	struct smx_dns_srv s[4];

	/* Unsorted input: priority 20 first. */
	srv_fill(&s[0], "d", 20, 0);
	srv_fill(&s[1], "a", 10, 60);
	srv_fill(&s[2], "b", 10, 20);
	srv_fill(&s[3], "c", 10, 0);
	smx_order_srv(s, 4, script_rnd, &sc);
	/*
	 * Priority 10, effective weights a=60*65536, b=20*65536, c=1: draw 0
	 * picks a; then [b, c] with sum 1310721, draw 1310720 is the last
	 * value and falls on c. b is alone then, d is alone in its priority:
	 * no more draws.
	 */
	ck_assert_str_eq(s[0].target, "a");
	ck_assert_str_eq(s[1].target, "c");
	ck_assert_str_eq(s[2].target, "b");
	ck_assert_str_eq(s[3].target, "d");
	ck_assert_uint_eq(sc.n_calls, 2);
	ck_assert_uint_eq(sc.bounds[0], 80ULL * 65536 + 1);
	ck_assert_uint_eq(sc.bounds[1], 20ULL * 65536 + 1);
}
END_TEST

/* The draw is exclusive: [0, sum). Boundary values decide exactly. */
START_TEST(test_smx_order_srv_boundary)
{
	uint64_t draws[1];
	struct script sc = { draws, 1, 0, { 0 } };
	struct smx_dns_srv s[2];

	/* light (1) then heavy (1000): light owns draws [0, 65536). */
	draws[0] = 65535;
	srv_fill(&s[0], "light", 5, 1);
	srv_fill(&s[1], "heavy", 5, 1000);
	smx_order_srv(s, 2, script_rnd, &sc);
	ck_assert_str_eq(s[0].target, "light");
	ck_assert_uint_eq(sc.bounds[0], 1001ULL * 65536);

	draws[0] = 65536;
	sc.n_calls = 0;
	srv_fill(&s[0], "light", 5, 1);
	srv_fill(&s[1], "heavy", 5, 1000);
	smx_order_srv(s, 2, script_rnd, &sc);
	ck_assert_str_eq(s[0].target, "heavy");
	ck_assert_str_eq(s[1].target, "light");
}
END_TEST

START_TEST(test_smx_order_srv_priority)
{
	uint64_t seed = 42;
	struct smx_dns_srv s[SMX_SRV_MAX];
	size_t i;
	int round;

	for (round = 0; round < 200; round++) {
		for (i = 0; i < SMX_SRV_MAX; i++) {
			srv_fill(&s[i], "x", (uint16_t)(splitmix(&seed) % 5),
			    (uint16_t)(splitmix(&seed) % 3));
			s[i].port = (uint16_t)i;
		}
		smx_order_srv(s, SMX_SRV_MAX, seeded_rnd, &seed);
		for (i = 1; i < SMX_SRV_MAX; i++)
			ck_assert_uint_le(s[i - 1].priority, s[i].priority);
	}
	/* A broken source still yields a permutation in priority order. */
	srv_fill(&s[0], "b", 2, 5);
	srv_fill(&s[1], "a", 1, 5);
	srv_fill(&s[2], "c", 1, 0);
	smx_order_srv(s, 3, broken_rnd, NULL);
	ck_assert_uint_eq(s[0].priority, 1);
	ck_assert_uint_eq(s[1].priority, 1);
	ck_assert_str_eq(s[2].target, "b");
	ck_assert_str_ne(s[0].target, s[1].target);
	/* Empty and single inputs need no randomness. */
	smx_order_srv(s, 0, broken_rnd, NULL);
	smx_order_srv(s, 1, broken_rnd, NULL);
}
END_TEST

/* Table for the statistical test: weights of three records, one priority. */
static const struct {
	uint16_t w[3];
	double lo[3]; /* bounds on the fraction of first places */
	double hi[3];
} stat_cases[] = {
	{ { 60, 30, 10 }, { 0.58, 0.28, 0.09 }, { 0.62, 0.32, 0.11 } },
	{ { 10, 30, 60 }, { 0.09, 0.28, 0.58 }, { 0.11, 0.32, 0.62 } },
	{ { 0, 0, 0 }, { 0.31, 0.31, 0.31 }, { 0.35, 0.35, 0.35 } },
	{ { 1, 1, 1 }, { 0.31, 0.31, 0.31 }, { 0.35, 0.35, 0.35 } },
	/* weight 0 next to weights: first at most 3 times in 20000 */
	{ { 0, 50, 50 }, { 0, 0.48, 0.48 }, { 0.00015, 0.52, 0.52 } },
};

START_TEST(test_smx_order_srv_statistics)
{
	const int rounds = 20000;
	static const char *names[3] = { "r0", "r1", "r2" };
	uint64_t seed = 0x5ec3c0ffeeULL + (uint64_t)_i;
	struct smx_dns_srv s[3];
	int first[3] = { 0, 0, 0 };
	double f;
	int round;
	int k;

	for (round = 0; round < rounds; round++) {
		for (k = 0; k < 3; k++)
			srv_fill(&s[k], names[k], 7, stat_cases[_i].w[k]);
		smx_order_srv(s, 3, seeded_rnd, &seed);
		first[s[0].target[1] - '0']++;
	}
	for (k = 0; k < 3; k++) {
		f = (double)first[k] / rounds;
		ck_assert_msg(f >= stat_cases[_i].lo[k] &&
		        f <= stat_cases[_i].hi[k],
		    "case %d record %d first %.4f, want [%.4f, %.4f]", _i, k, f,
		    stat_cases[_i].lo[k], stat_cases[_i].hi[k]);
	}
}
END_TEST

/*
 * Weights 1 and 1000: the light record must come first about 1/1001 of
 * the time. The RFC's literal inclusive draw in [0, sum] would give it
 * 2/1001. 200000 rounds: expected 200 (inclusive: 400), sigma about 14.
 */
START_TEST(test_smx_order_srv_no_inclusive_bias)
{
	const int rounds = 200000;
	uint64_t seed = 1001;
	struct smx_dns_srv s[2];
	int light = 0;
	int round;

	for (round = 0; round < rounds; round++) {
		srv_fill(&s[0], "light", 1, 1);
		srv_fill(&s[1], "heavy", 1, 1000);
		smx_order_srv(s, 2, seeded_rnd, &seed);
		light += strcmp(s[0].target, "light") == 0;
	}
	ck_assert_msg(light >= 140 && light <= 260, "light first %d times",
	    light);
}
END_TEST

/* ---------------------------------------------------------------- */
/* MX ordering                                                       */

START_TEST(test_smx_order_mx)
{
	uint64_t seed = 7;
	struct smx_dns_mx m[4];
	int a_first = 0;
	int round;

	for (round = 0; round < 10000; round++) {
		memset(m, 0, sizeof(m));
		snprintf(m[0].exchange, sizeof(m[0].exchange), "c");
		m[0].preference = 20;
		snprintf(m[1].exchange, sizeof(m[1].exchange), "a");
		m[1].preference = 10;
		snprintf(m[2].exchange, sizeof(m[2].exchange), "b");
		m[2].preference = 10;
		snprintf(m[3].exchange, sizeof(m[3].exchange), "z");
		m[3].preference = 0;
		smx_order_mx(m, 4, seeded_rnd, &seed);
		ck_assert_str_eq(m[0].exchange, "z");
		ck_assert_uint_eq(m[1].preference, 10);
		ck_assert_uint_eq(m[2].preference, 10);
		ck_assert_str_eq(m[3].exchange, "c");
		a_first += m[1].exchange[0] == 'a';
	}
	ck_assert_msg(a_first > 4700 && a_first < 5300, "a first %d", a_first);
}
END_TEST

START_TEST(test_smx_order_random)
{
	int seen[7] = { 0 };
	uint64_t v;
	int i;

	ck_assert_uint_eq(smx_random(1, NULL), 0);
	ck_assert_uint_eq(smx_random(0, NULL), 0);
	for (i = 0; i < 7000; i++) {
		v = smx_random(7, NULL);
		ck_assert_uint_lt(v, 7);
		seen[v]++;
	}
	for (i = 0; i < 7; i++)
		ck_assert_int_gt(seen[i], 700);
	v = smx_random(UINT64_MAX, NULL);
	ck_assert_uint_lt(v, UINT64_MAX);
}
END_TEST

static Suite *
order_suite(void)
{
	Suite *s = suite_create("smx_order");
	TCase *tc;

	tc = tcase_create("srv_order");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_smx_order_srv_exact);
	tcase_add_test(tc, test_smx_order_srv_boundary);
	tcase_add_test(tc, test_smx_order_srv_priority);
	tcase_add_loop_test(tc, test_smx_order_srv_statistics, 0,
	    (int)(sizeof(stat_cases) / sizeof(stat_cases[0])));
	tcase_add_test(tc, test_smx_order_srv_no_inclusive_bias);
	suite_add_tcase(s, tc);

	tc = tcase_create("mx_order");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_smx_order_mx);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_smx_order_random);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(order_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
