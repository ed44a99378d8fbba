# shellcheck shell=sh
# bench/common.sh - helpers shared by the benchmark scenario scripts
# (bench/postfix.sh, bench/delivery.sh); sourced, not run.

# bench_error: count an error (a lost message, a wrong answer) and say so.
# Errors fail a smoke run; times never do.
bench_error() {
	ERRORS=$((ERRORS + 1))
	printf 'ERROR: %s\n' "$*" >&2
}

# now: seconds since the epoch with nanoseconds, for elapsed times.
now() {
	date +%s.%N
}
