#!/bin/sh
# test_man_lint.sh MANDIR - "mandoc -Tlint -Wall" on every manual page in
# MANDIR (NAME.SECTION files); the test fails on any message.
#
# One kind of message is about this machine rather than the page, and is
# checked here instead: mandoc looks up each .Xr reference among the
# installed manuals, and says "referenced manual not found" (a page not
# installed) or "outdated mandoc.db lacks NAME(SECTION) entry" (a page
# installed, but no mandoc database lists it; Debian's Postfix pages are
# named NAME.8postfix). A reference is good when the page is one of
# MANDIR's own (not installed while the tests run) or installed in
# /usr/share/man (Postfix and manpages-dev, which scripts/install-deps
# installs); any other, like every other message, fails the test.
#
# Needs mandoc (Debian package mandoc; scripts/install-deps).
set -eu

dir=$1
failures=0
n_pages=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# ref_ok NAME SECTION: the page is ours or installed.
ref_ok() {
	[ -f "$dir/$1.$2" ] && return 0
	for _f in "/usr/share/man/man$2/$1.$2"*; do
		[ -e "$_f" ] && return 0
	done
	return 1
}

if ! command -v mandoc >/dev/null 2>&1; then
	echo "FAIL: mandoc is not installed (Debian package mandoc; scripts/install-deps)" >&2
	exit 1
fi
for page in "$dir"/*.[1-8]; do
	[ -f "$page" ] || continue
	n_pages=$((n_pages + 1))
	name=${page##*/}
	# mandoc exits non-zero when it reports anything: the messages decide.
	msgs=$(mandoc -Tlint -Wall "$page" 2>&1 || true)
	n_bad=0
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		ref=$(printf '%s\n' "$line" | sed -n \
			-e 's/.*: STYLE: referenced manual not found: Xr \([^ ]*\) \([0-9][a-z]*\)\( (.*)\)\{0,1\}$/\1 \2/p' \
			-e 's/^mandoc: outdated mandoc\.db lacks \([^(]*\)(\([0-9][a-z]*\)) entry, .*/\1 \2/p')
		if [ -n "$ref" ]; then
			# shellcheck disable=SC2086 # NAME SECTION
			ref_ok $ref && continue
			fail "$name: refers to $(echo "$ref" | sed 's/ \(.*\)/(\1)/'), which is neither in $dir nor installed"
		else
			fail "$name: $line"
		fi
		n_bad=$((n_bad + 1))
	done <<MSGS
$msgs
MSGS
	[ "$n_bad" -gt 0 ] || echo "ok: mandoc -Tlint -Wall $name: clean"
done
if [ "$n_pages" -eq 0 ]; then
	fail "no manual pages in $dir"
fi
if [ "$failures" -gt 0 ]; then
	echo "$failures problem(s) in $n_pages page(s)" >&2
	exit 1
fi
echo "all $n_pages pages clean"
