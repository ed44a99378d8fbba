#!/bin/sh
# test_config_agree.sh LOOKUP SAMPLE MANDIR WORKDIR - the parameters of
# secmx.conf and their defaults are the same in the three places that
# state them:
#
#  - the programs: "secmx-lookup -d" (LOOKUP), which prints the parameter
#    table of lib/smx_config.c, one "name = default" line each;
#  - the sample configuration SAMPLE (conf/secmx.conf): its
#    "#name = default" lines, those that check_smx_config's
#    sample_uncommented counts (a '#' directly followed by a lower-case
#    letter, and " =" in the line);
#  - the reference page MANDIR/secmx.conf.5: one list item per parameter,
#    ".It Cm NAME Pq default: Li VALUE" or ".It Cm NAME Pq default: empty"
#    ("\&" escapes are dropped from VALUE).
#
# A parameter missing from any of them, listed twice, or with a default
# that differs fails the test, which names it. The program pages
# (MANDIR/secmx-*.[18]) list the parameters each program uses in the same
# form: each of those must be a parameter, with the same default. Last,
# "secmx-lookup -n" (the settings of a file) against the sample: nothing
# for the sample as it is, and exactly the -d lines for the sample with
# every "#name = default" line uncommented. WORKDIR is created fresh and
# removed on exit.
set -eu

lookup=$1
sample=$2
mandir=$3
work=$4
page=$mandir/secmx.conf.5
failures=0

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -rf "$work"
mkdir -p "$work"

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

tab=$(printf '\t')

# name_value: "name = value" or "name =" lines on stdin to "name<TAB>value"
# on stdout; a line of any other form to "?<TAB>line".
name_value() {
	sed -e "s/^\([a-z][a-z0-9_]*\) =\$/\1$tab/" -e t \
		-e "s/^\([a-z][a-z0-9_]*\) = \(.*\)\$/\1$tab\2/" -e t \
		-e "s/^/?$tab/"
}

# ---- the programs: secmx-lookup -d -------------------------------------------
if ! "$lookup" -d >"$work/d.out" 2>"$work/d.err"; then
	fail "secmx-lookup -d failed: $(cat "$work/d.err")"
fi
[ ! -s "$work/d.err" ] || fail "secmx-lookup -d wrote to stderr: $(cat "$work/d.err")"
name_value <"$work/d.out" >"$work/d.tsv"

# ---- the sample: #name = default ---------------------------------------------
grep '^#[a-z]' "$sample" | grep ' =' | sed 's/^#//' | name_value >"$work/sample.tsv" || true

# ---- the reference page: .It Cm NAME Pq default: ... -------------------------
# man_params PAGE: its ".It Cm NAME Pq default: ..." items as
# "name<TAB>value", "\&" dropped; another ".It Cm NAME Pq default" form as
# "?<TAB>line".
man_params() {
	sed -n \
		-e "s/^\.It Cm \([a-z][a-z0-9_]*\) Pq default: Li \(.*\)\$/\1$tab\2/p" \
		-e t \
		-e "s/^\.It Cm \([a-z][a-z0-9_]*\) Pq default: empty\$/\1$tab/p" \
		-e t \
		-e "s/^\(\.It Cm [a-z][a-z0-9_]* Pq default.*\)\$/?$tab\1/p" \
		"$1" | sed 's/\\&//g'
}
man_params "$page" >"$work/man.tsv"
# A parameter documented without its default: ".It Cm NAME" alone.
cut -f1 "$work/d.tsv" >"$work/names"
sed -n 's/^\.It Cm \([a-z][a-z0-9_]*\)$/\1/p' "$page" | grep -Fxf "$work/names" |
	sed "s/^/?$tab.It Cm /; s/\$/ (no default)/" >>"$work/man.tsv" || true

# ---- compare ----------------------------------------------------------------
# Prints one line per disagreement.
awk -F '\t' -v lookup="secmx-lookup -d" -v sample="$sample" -v page="$page" '
{
	src = FILENAME == ARGV[1] ? "d" : FILENAME == ARGV[2] ? "sample" : "man"
	where = src == "d" ? lookup : src == "sample" ? sample : page
	if ($1 == "?") {
		printf "%s: not understood: %s\n", where, $2
		next
	}
	if (($1, src) in val) {
		printf "%s: %s is listed twice\n", where, $1
		next
	}
	val[$1, src] = $2
	if (!($1 in seen)) {
		seen[$1] = 1
		order[++n] = $1
	}
}
END {
	for (i = 1; i <= n; i++) {
		p = order[i]
		if (!((p, "d") in val)) {
			if ((p, "sample") in val)
				printf "%s: in %s but not a parameter of %s\n", p, sample, lookup
			if ((p, "man") in val)
				printf "%s: in %s but not a parameter of %s\n", p, page, lookup
			continue
		}
		d = val[p, "d"]
		if (!((p, "sample") in val))
			printf "%s: missing from %s\n", p, sample
		else if (val[p, "sample"] != d)
			printf "%s: default \"%s\" in %s, \"%s\" in %s\n", p, d, lookup, val[p, "sample"], sample
		if (!((p, "man") in val))
			printf "%s: missing from %s\n", p, page
		else if (val[p, "man"] != d)
			printf "%s: default \"%s\" in %s, \"%s\" in %s\n", p, d, lookup, val[p, "man"], page
	}
}' "$work/d.tsv" "$work/sample.tsv" "$work/man.tsv" >"$work/diff"
n_params=$(wc -l <"$work/d.tsv")
if [ "$n_params" -lt 1 ]; then
	fail "secmx-lookup -d listed no parameter"
fi
if [ -s "$work/diff" ]; then
	while IFS= read -r line; do
		fail "$line"
	done <"$work/diff"
else
	echo "ok: $n_params parameters, the same defaults in secmx-lookup -d, ${sample##*/} and secmx.conf.5"
fi

# ---- the program pages ----------------------------------------------------------
for p in "$mandir"/secmx-*.[18]; do
	[ -f "$p" ] || continue
	n=0
	man_params "$p" >"$work/prog.tsv"
	while IFS="$tab" read -r name value; do
		n=$((n + 1))
		if [ "$name" = "?" ]; then
			fail "${p##*/}: not understood: $value"
			continue
		fi
		d=$(awk -F '\t' -v p="$name" '$1 == p { print "=" $2; exit }' "$work/d.tsv")
		if [ -z "$d" ]; then
			fail "${p##*/}: $name is not a parameter of secmx-lookup -d"
		elif [ "$d" != "=$value" ]; then
			fail "${p##*/}: $name: default \"$value\", secmx-lookup -d says \"${d#=}\""
		fi
	done <"$work/prog.tsv"
	echo "ok: ${p##*/}: $n parameters checked"
done

# ---- secmx-lookup -n ------------------------------------------------------------
if "$lookup" -n -c "$sample" >"$work/n.out" 2>"$work/n.err"; then
	if [ -s "$work/n.out" ]; then
		fail "secmx-lookup -n -c ${sample##*/}: the sample sets nothing, but -n printed: $(cat "$work/n.out")"
	else
		echo "ok: secmx-lookup -n: the sample sets nothing"
	fi
else
	fail "secmx-lookup -n -c $sample failed: $(cat "$work/n.err")"
fi
sed 's/^#\([a-z].* =.*\)$/\1/' "$sample" >"$work/uncommented.conf"
if "$lookup" -n -c "$work/uncommented.conf" >"$work/n.out" 2>"$work/n.err"; then
	if cmp -s "$work/n.out" "$work/d.out"; then
		echo "ok: secmx-lookup -n of the uncommented sample is secmx-lookup -d"
	else
		fail "secmx-lookup -n of the uncommented sample differs from secmx-lookup -d:"
		diff "$work/d.out" "$work/n.out" >&2 || true
	fi
else
	fail "secmx-lookup -n -c (the uncommented sample) failed: $(cat "$work/n.err")"
fi

if [ "$failures" -gt 0 ]; then
	echo "$failures problem(s)" >&2
	exit 1
fi
