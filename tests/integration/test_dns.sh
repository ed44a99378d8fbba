#!/bin/sh
# test_dns.sh PROBE DATADIR - smx_dns against real DNS servers on loopback.
#
# nsd(8) serves tests/data/dns/secmx.test.zone (SRV with priorities and
# weights, null SRV, "." among others, a bad target, MX, null MX, an
# implicit MX, NODATA, NXDOMAIN, a CNAME, more addresses than the cap);
# ldns-testns(1) serves tests/data/dns/testns.data (SERVFAIL, TC without
# and with TCP, a wrong reply ID, a wrong question, AD, REFUSED). A port
# where nothing listens gives timeouts. PROBE is smx-dns-probe, which
# prints what the library returns; this script asserts on it.
#
# Ports: nsd on 127.0.0.1, ldns-testns on every IPv4 address, and one
# where nothing listens (127.0.0.1, and ::1 where IPv6 exists), each the
# first free port outside the kernel's ephemeral range from 15341,
# 15342 and 15349 (lib.sh's smx_port_pick); a server that cannot bind
# its port is tried on the next one. Both servers are stopped by PID
# from the EXIT trap, and the temporary directory is removed.
set -eu

probe=$1
data=$2
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

tmp=
failures=0

log() {
	printf '%s\n' "$*" >&2
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	smx_stop_tracked
	if [ -n "$tmp" ]; then
		if [ "$failures" -ne 0 ] && [ -f "$tmp/nsd.log" ]; then
			log "--- nsd.log"
			tail -n 20 "$tmp/nsd.log" >&2 || true
		fi
		rm -rf "$tmp"
	fi
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for c in nsd ldns-testns drill ss sed awk; do
	command -v "$c" >/dev/null 2>&1 || {
		log "missing command: $c"
		exit 1
	}
done
[ -x "$probe" ] || {
	log "not executable: $probe"
	exit 1
}

tmp=$(mktemp -d /tmp/secmx-dns.XXXXXX)
cp "$data/secmx.test.zone" "$tmp/"

# run ARGS...: the probe's output in $tmp/out.
run() {
	"$probe" -t 1 "$@" >"$tmp/out" 2>"$tmp/err" || {
		log "probe failed: $*"
		cat "$tmp/err" >&2
		return 1
	}
}

ready() {
	run -s "$1" "$2" "$3" >/dev/null 2>&1 && grep -q "$4" "$tmp/out"
}

# testns_start PORT: ldns-testns on PORT; 0 once it answers, 1 after
# stopping it when it exits (it could not bind PORT) or stays silent.
testns_start() {
	ldns-testns -p "$1" "$data/testns.data" >"$tmp/testns.out" 2>&1 &
	testns_pid=$!
	smx_track "$testns_pid"
	n=0
	while [ "$n" -lt 50 ]; do
		ready "127.0.0.1:$1" srv servfail.testns.test 'reason=SERVFAIL' &&
			return 0
		smx_pid_alive "$testns_pid" || break
		sleep 0.2
		n=$((n + 1))
	done
	log "ldns-testns on port $1: $(tail -n 3 "$tmp/testns.out")"
	smx_stop_pid "$testns_pid"
	wait "$testns_pid" 2>/dev/null || true
	smx_untrack "$testns_pid"
	return 1
}

nsd_port=
testns_port=
if ! smx_port_start nsd_port 15341 smx_nsd_start "$data/nsd.conf.in" \
	secmx.test "$tmp" ||
	! smx_port_start testns_port 15342 testns_start ||
	! smx_port_pick 15349; then
	log "DNS servers did not start"
	failures=1
	exit 1
fi
dead_port=$SMX_PORT
NSD=127.0.0.1:$nsd_port
TESTNS=127.0.0.1:$testns_port
DEAD=127.0.0.1:$dead_port

fail() {
	failures=$((failures + 1))
	printf 'FAIL: %s\n' "$*" >&2
	sed 's/^/	| /' "$tmp/out" >&2
}

pass() {
	printf 'ok: %s\n' "$*"
}

# check DESC LINE...: every LINE (a grep -x pattern) is in the output.
check() {
	desc=$1
	shift
	for want in "$@"; do
		if ! grep -qx -- "$want" "$tmp/out"; then
			fail "$desc: missing line: $want"
			return 0
		fi
	done
	pass "$desc"
}

# record N: the N-th record line (after the summary) of the output.
record() {
	sed -n "$(($1 + 1))p" "$tmp/out"
}

# --- SRV from nsd ---------------------------------------------------------
run -s "$NSD" srv multi.secmx.test
check "srv: several priorities" \
	'status=ok n=4 null=0 implicit=0 ad=0 dropped=0 reason=' \
	'srv 10 60 2525 a.multi.secmx.test' \
	'srv 10 30 2525 b.multi.secmx.test' \
	'srv 10 0 2525 c.multi.secmx.test'
if [ "$(record 4)" = 'srv 20 0 2526 d.multi.secmx.test' ]; then
	pass "srv: priority 20 comes last"
else
	fail "srv: priority 20 not last"
fi

# Within priority 10 the first place follows the weights 60:30:0.
a_first=0
c_first=0
for seed in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	run -S "$seed" -s "$NSD" srv multi.secmx.test
	case $(record 1) in
	*" a.multi.secmx.test") a_first=$((a_first + 1)) ;;
	*" c.multi.secmx.test") c_first=$((c_first + 1)) ;;
	esac
	[ "$(record 4)" = 'srv 20 0 2526 d.multi.secmx.test' ] ||
		fail "srv: seed $seed: priority order broken"
done
if [ "$a_first" -ge 6 ] && [ "$a_first" -le 19 ] && [ "$c_first" -eq 0 ]; then
	pass "srv: weighted order (a first $a_first/20, weight 0 never)"
else
	fail "srv: weighted order: a first $a_first/20, c first $c_first/20"
fi

run -s "$NSD" srv MULTI.SecMX.test.
check "srv: absolute name, any case" 'status=ok n=4 .*'

run -s "$NSD" srv nullsrv.secmx.test
check "srv: single \".\" target" \
	'status=ok n=0 null=1 implicit=0 ad=0 dropped=0 reason='

run -s "$NSD" srv mixed.secmx.test
check "srv: \".\" among several is dropped" \
	'status=ok n=1 null=0 implicit=0 ad=0 dropped=1 reason=' \
	'srv 10 0 25 mx.mixed.secmx.test'

run -s "$NSD" srv badtarget.secmx.test
check "srv: target that is not a host name" \
	'status=ok n=1 null=0 implicit=0 ad=0 dropped=1 reason=' \
	'srv 10 0 25 ok.badtarget.secmx.test'

run -s "$NSD" srv nosuch.secmx.test
check "srv: NXDOMAIN" 'status=notfound .* reason=no SecMX servers (NXDOMAIN)'

run -s "$NSD" srv nodata.secmx.test
check "srv: NODATA" \
	'status=notfound .* reason=no SecMX servers (no SRV records)'

# --- MX from nsd ----------------------------------------------------------
run -s "$NSD" mx multi.secmx.test
check "mx: preferences" \
	'status=ok n=3 null=0 implicit=0 ad=0 dropped=0 reason=' \
	'mx 10 mx1.multi.secmx.test' 'mx 10 mx2.multi.secmx.test'
if [ "$(record 3)" = 'mx 20 mx3.multi.secmx.test' ]; then
	pass "mx: preference 20 comes last"
else
	fail "mx: preference 20 not last"
fi

run -s "$NSD" mx nullmx.secmx.test
check "mx: null MX" 'status=ok n=0 null=1 implicit=0 ad=0 dropped=0 reason='

run -s "$NSD" mx implicit.secmx.test
check "mx: implicit MX" \
	'status=ok n=1 null=0 implicit=1 ad=0 dropped=0 reason=' \
	'mx 0 implicit.secmx.test'

run -s "$NSD" mx nosuch.secmx.test
check "mx: NXDOMAIN" 'status=notfound .* reason=NXDOMAIN'

run -s "$NSD" mx nodata.secmx.test
check "mx: no MX and no addresses" 'status=notfound .*'

# --- addresses from nsd ---------------------------------------------------
run -s "$NSD" addrs a.multi.secmx.test 2525
check "addrs: AAAA and A" 'status=ok n=2 .*' \
	'addr inet6 2001:db8::1 2525' 'addr inet 192.0.2.1 2525'
if [ "$(record 1)" = 'addr inet6 2001:db8::1 2525' ]; then
	pass "addrs: AAAA first"
else
	fail "addrs: AAAA not first"
fi

run -s "$NSD" addrs many.secmx.test
check "addrs: capped per family" \
	'status=ok n=8 null=0 implicit=0 ad=0 dropped=2 reason='

run -s "$NSD" addrs alias.secmx.test 25
check "addrs: through a CNAME" 'status=ok n=2 .*' 'addr inet 192.0.2.1 25'

run -s "$NSD" addrs nosuch.secmx.test
check "addrs: NXDOMAIN" 'status=notfound .*'

# --- ldns-testns: broken and special replies ------------------------------
run -s "$TESTNS" srv servfail.testns.test
check "SERVFAIL" "status=tempfail .* reason=SERVFAIL from \[127.0.0.1\]:$testns_port"

run -s "$TESTNS" srv tc.testns.test
check "TC without TCP" 'status=tempfail .* reason=truncated reply, TCP retry failed: .*'

run -s "$TESTNS" srv tcok.testns.test
check "TC, then TCP" 'status=ok n=1 .*' 'srv 10 0 2525 big.tcok.testns.test'

run -s "$TESTNS" srv wrongid.testns.test
check "wrong reply ID" 'status=tempfail .* reason=reply does not match query from .*'

run -s "$TESTNS" srv wrongq.testns.test
check "wrong question" 'status=tempfail .* reason=reply does not match query from .*'

run -s "$TESTNS" srv ad.testns.test
check "AD ignored without trust_ad" 'status=ok n=1 null=0 implicit=0 ad=0 .*'
run -a -s "$TESTNS" srv ad.testns.test
check "AD reported with trust_ad" 'status=ok n=1 null=0 implicit=0 ad=1 .*'
run -a -s "$NSD" srv multi.secmx.test
check "no AD from an authoritative server" 'status=ok n=4 null=0 implicit=0 ad=0 .*'

run -s "$TESTNS" srv example.org
check "REFUSED" 'status=tempfail .* reason=REFUSED from .*'

# --- timeouts and failover ------------------------------------------------
start=$(date +%s)
run -s "$DEAD" srv multi.secmx.test
end=$(date +%s)
check "timeout" "status=tempfail .* reason=timeout from \[127.0.0.1\]:$dead_port"
if [ $((end - start)) -le 3 ]; then
	pass "timeout bounded ($((end - start))s for 1s)"
else
	fail "timeout took $((end - start))s for 1s"
fi

servers="$DEAD $TESTNS,$NSD"
if [ -n "$(ip -6 addr show lo 2>/dev/null)" ]; then
	servers="$DEAD [::1]:$dead_port $TESTNS,$NSD"
fi
start=$(date +%s)
run -s "$servers" srv multi.secmx.test
end=$(date +%s)
check "failover to the next server and port" 'status=ok n=4 .*'
if [ $((end - start)) -le 4 ]; then
	pass "failover bounded ($((end - start))s)"
else
	fail "failover took $((end - start))s"
fi

run -s "$DEAD,$TESTNS" srv multi.secmx.test
check "all servers fail" \
	"status=tempfail .* reason=REFUSED from \[127.0.0.1\]:$testns_port"

run -s "$NSD,$DEAD" srv nosuch.secmx.test
check "NXDOMAIN is an answer: no failover" 'status=notfound .*'

run -s "nonsense" srv multi.secmx.test
check "bad nameserver list" 'status=tempfail .* reason=bad dns_nameservers: .*'

if [ "$failures" -ne 0 ]; then
	log "$failures failure(s)"
	exit 1
fi
echo "all DNS checks passed"
