#!/bin/sh
# test_lookup.sh LOOKUP WORKDIR - secmx-lookup against throw-away tables:
# exit codes 0 (found), 1 (not found), 2 (usage or configuration error),
# the printed value, parent matching, addresses, and error messages that
# name the file and line. Starts no background process; WORKDIR is
# created fresh and removed on exit.
set -u

lookup=$1
work=$2
failures=0

cleanup() {
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
rm -rf "$work"
mkdir -p "$work" || exit 1
# Table paths in secmx.conf must be absolute.
work=$(cd "$work" && pwd) || exit 1

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# expect STATUS STDOUT STDERR-SUBSTRING ARGS...: run secmx-lookup, compare.
expect() {
	want_status=$1
	want_out=$2
	want_err=$3
	shift 3
	"$lookup" "$@" >"$work/out" 2>"$work/err"
	status=$?
	out=$(cat "$work/out")
	if [ "$status" != "$want_status" ]; then
		fail "secmx-lookup $*: exit $status, expected $want_status ($(cat "$work/err"))"
	fi
	if [ "$out" != "$want_out" ]; then
		fail "secmx-lookup $*: printed '$out', expected '$want_out'"
	fi
	if [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$work/err"; then
		fail "secmx-lookup $*: stderr lacks '$want_err': $(cat "$work/err")"
	fi
	if [ -z "$want_err" ] && [ -s "$work/err" ]; then
		fail "secmx-lookup $*: unexpected stderr: $(cat "$work/err")"
	fi
}

cat >"$work/receiver_roles" <<'EOF'
# receiver roles
example.org		sor
.example.org		ber
.example.net		ber
.deep.example.net	sor
EOF
cat >"$work/sender_roles" <<'EOF'
example.org	SOS
EOF
cat >"$work/secmx.conf" <<EOF
# test configuration
receiver_roles = $work/receiver_roles
sender_roles =
    $work/sender_roles
EOF
conf=$work/secmx.conf

# Found: exact, parent, longest parent, any case, addresses.
expect 0 sor "" -c "$conf" -q example.org receiver
expect 0 sor "" -c "$conf" -q EXAMPLE.Org. receiver
expect 0 ber "" -c "$conf" -q mail.example.org receiver
expect 0 ber "" -c "$conf" -q a.b.example.org receiver
expect 0 sor "" -c "$conf" -q x.deep.example.net receiver
expect 0 ber "" -c "$conf" -q deep.example.net receiver
expect 0 sor "" -c "$conf" -q user@example.org receiver
expect 0 ber "" -c "$conf" -q '"odd@local"@Mail.Example.Org' receiver
expect 0 sos "" -c "$conf" -q example.org sender

# Not found: no entry, a parent key does not match its own name, an
# unconfigured table, a key that is not a domain.
expect 1 "" "" -c "$conf" -q example.com receiver
expect 1 "" "" -c "$conf" -q example.net receiver
expect 1 "" "" -c "$conf" -q sub.example.org sender
expect 1 "" "" -c "$conf" -q example.org destination
expect 1 "" "" -c "$conf" -q user@ receiver
expect 1 "" "" -c "$conf" -q 'bad domain.example.org' receiver

# Usage errors.
expect 2 "" "usage: secmx-lookup" -c "$conf" receiver
expect 2 "" "usage: secmx-lookup" -c "$conf" -q example.org
expect 2 "" "usage: secmx-lookup" -c "$conf" -q example.org receiver extra
expect 2 "" "unknown table \"route\"" -c "$conf" -q example.org route
expect 2 "" "usage: secmx-lookup" -x -q example.org receiver

# Configuration errors name the file and the line.
expect 2 "" "error: $work/missing.conf: No such file or directory" \
	-c "$work/missing.conf" -q example.org receiver
printf 'audit = all\nsor_reject_code = 200\n' >"$work/bad.conf"
expect 2 "" "error: $work/bad.conf, line 2: bad sor_reject_code value \"200\"" \
	-c "$work/bad.conf" -q example.org receiver
printf 'example.org sor\n\nexample.net bes\n' >"$work/bad_roles"
printf 'receiver_roles = %s\n' "$work/bad_roles" >"$work/bad_table.conf"
expect 2 "" "error: $work/bad_roles, line 3: bad value \"bes\" (expected sor or ber)" \
	-c "$work/bad_table.conf" -q example.org receiver

if [ "$failures" -ne 0 ]; then
	echo "test_lookup: $failures failure(s)" >&2
	exit 1
fi
echo "test_lookup: all passed"
exit 0
