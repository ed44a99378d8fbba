#!/bin/sh
# test_lookup.sh LOOKUP WORKDIR DNSDATA - secmx-lookup against throw-away
# tables: exit codes 0 (found), 1 (not found), 2 (usage or configuration
# error), the printed value, parent matching, addresses, and error
# messages that name the file and line. Then the DNS maps route,
# transport and sender_transport against nsd(8) serving
# DNSDATA/socketmap.test.zone on 127.0.0.1: SRV targets, the null
# target ".", no SRV, NXDOMAIN, REFUSED and a timeout (a port where
# nothing listens) for exit 75. Both ports are the first free ones
# outside the kernel's ephemeral range from 15361 and 15360 (lib.sh's
# smx_port_pick); when nsd cannot bind its port, the next one is tried.
# nsd is stopped by PID from the EXIT trap; WORKDIR is created fresh and
# removed on exit.
set -eu

lookup=$1
work=$2
dnsdata=$3
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
nsd_port=
dead_port=
failures=0

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	smx_stop_tracked
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -rf "$work"
mkdir -p "$work"
# Table paths in secmx.conf must be absolute.
work=$(cd "$work" && pwd)

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
	status=0
	"$lookup" "$@" >"$work/out" 2>"$work/err" || status=$?
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
bücher.example		sor
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
# Internationalised names: UTF-8 keys and entries meet as A-labels.
expect 0 sor "" -c "$conf" -q xn--bcher-kva.example receiver
expect 0 sor "" -c "$conf" -q 'jörg@BÜCHER.example' receiver

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
expect 2 "" "unknown table \"routes\"" -c "$conf" -q example.org routes
expect 2 "" "usage: secmx-lookup" -c "$conf" -q example.org -l unix:/x route
expect 2 "" "usage: secmx-lookup" -c "$conf" -s -l "unix:$work/x.sock" -q example.org
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

# ---- DNS maps against nsd ---------------------------------------------
for c in nsd drill ss sed; do
	command -v "$c" >/dev/null 2>&1 || {
		echo "test_lookup: missing command: $c" >&2
		exit 1
	}
done
mkdir "$work/nsd"
cp "$dnsdata/socketmap.test.zone" "$work/nsd/"
smx_port_start nsd_port 15361 smx_nsd_start "$dnsdata/nsd.conf.in" \
	socketmap.test "$work/nsd" || {
	echo "test_lookup: nsd did not start" >&2
	exit 1
}
smx_port_pick 15360 || exit 1
dead_port=$SMX_PORT

cat >"$work/dest_roles" <<'EOF2'
sos.dest.example	sos
bes.dest.example	bes
EOF2
cat >"$work/snd_roles" <<'EOF2'
sos.example	sos
.sos.example	sos
bes.example	bes
EOF2
cat >"$work/dns.conf" <<EOF2
dns_nameservers = 127.0.0.1:$nsd_port
dns_timeout = 1s
destination_roles = $work/dest_roles
sender_roles = $work/snd_roles
EOF2
sed -e "s/^dns_nameservers = .*/dns_nameservers = 127.0.0.1:$dead_port/" \
	"$work/dns.conf" >"$work/dead.conf"
{
	cat "$work/dns.conf"
	echo "default_sender_role = sos"
	echo "secmx_transport_name = secmx-sos:"
} >"$work/sos.conf"
dns=$work/dns.conf

targets='srv:[secmail.srv.socketmap.test]:25, srv:[backup.srv.socketmap.test]:2525'

# route: the SRV targets in priority order; none for ".", no SRV, NXDOMAIN
# and keys that are not host names (Postfix's ".parent" and "*").
# With -q, "# " lines follow: the DNSSEC status of each answer, the
# addresses of each target and its TLSA records (not looked up here:
# without dns_trust_ad nothing is DNSSEC-validated, RFC 7672 section 2.2).
details=$(printf '%s\n' \
    "$targets" \
    '# _secmx._tcp.srv.socketmap.test: 2 target(s), dnssec=insecure' \
    '# secmail.srv.socketmap.test port 25: 192.0.2.25, dnssec=insecure' \
    '#   TLSA _25._tcp.secmail.srv.socketmap.test: not looked up (dns_trust_ad = no)' \
    '# backup.srv.socketmap.test port 2525: 192.0.2.26, dnssec=insecure' \
    '#   TLSA _2525._tcp.backup.srv.socketmap.test: not looked up (dns_trust_ad = no)')
expect 0 "$details" "" -c "$dns" -q srv.socketmap.test route
expect 0 "$details" "" -c "$dns" -q user@SRV.SocketMap.Test. route
expect 1 "" "" -c "$dns" -q nullsrv.socketmap.test route
expect 1 "" "" -c "$dns" -q plain.socketmap.test route
expect 1 "" "" -c "$dns" -q nosuch.socketmap.test route
expect 1 "" "" -c "$dns" -q .srv.socketmap.test route
expect 1 "" "" -c "$dns" -q '*' route
# DNS failure: REFUSED (outside nsd's zone) and a timeout.
expect 75 "" "status=tempfail (REFUSED from [127.0.0.1]:$nsd_port)" \
	-c "$dns" -q example.org route
expect 75 "" "status=tempfail (timeout from [127.0.0.1]:$dead_port)" \
	-c "$work/dead.conf" -q srv.socketmap.test route

# transport: secmx: for SecMX domains and sos destinations, not found for
# ordinary domains and ".".
expect 0 "secmx:" "" -c "$dns" -q srv.socketmap.test transport
expect 0 "secmx:" "" -c "$dns" -q someone@srv.socketmap.test transport
expect 1 "" "" -c "$dns" -q nullsrv.socketmap.test transport
expect 1 "" "" -c "$dns" -q plain.socketmap.test transport
expect 1 "" "" -c "$dns" -q '<>' transport
# destination_roles sos decides without DNS (a dead server proves it).
expect 0 "secmx:" "" -c "$work/dead.conf" -q sos.dest.example transport
expect 75 "" "status=tempfail (timeout from [127.0.0.1]:$dead_port)" \
	-c "$work/dead.conf" -q bes.dest.example transport
expect 75 "" "status=tempfail (REFUSED from" -c "$dns" -q example.org transport
# default_sender_role = sos: every domain goes through secmx, named as
# secmx_transport_name says.
expect 0 "secmx-sos:" "" -c "$work/sos.conf" -q plain.socketmap.test transport
expect 0 "secmx-sos:" "" -c "$work/sos.conf" -q srv.socketmap.test transport

# sender_transport: sender_roles, then default_sender_role; no DNS.
expect 0 "secmx:" "" -c "$dns" -q user@sos.example sender_transport
expect 0 "secmx:" "" -c "$dns" -q @mail.sos.example sender_transport
expect 1 "" "" -c "$dns" -q user@bes.example sender_transport
expect 1 "" "" -c "$dns" -q user@srv.socketmap.test sender_transport
expect 1 "" "" -c "$dns" -q '<>' sender_transport
expect 0 "secmx-sos:" "" -c "$work/sos.conf" -q user@other.example \
	sender_transport
expect 1 "" "" -c "$work/sos.conf" -q user@bes.example sender_transport
expect 0 "secmx:" "" -c "$work/dead.conf" -q user@sos.example sender_transport

if [ "$failures" -ne 0 ]; then
	echo "test_lookup: $failures failure(s)" >&2
	exit 1
fi
echo "test_lookup: all passed"
exit 0
