#!/bin/sh
# postfix.sh - benchmark scenario 3: Postfix end to end. smtp-source(1)
# sends mail in plaintext to four throw-away Postfix instances on
# loopback that differ only in their recipient restrictions:
#
#   none            permit_mynetworks, permit_sasl_authenticated,
#                   reject_unauth_destination
#   builtin         the same plus Postfix's own SOR check:
#                   check_recipient_access hash:sor_access, where
#                   sor_access maps every "sor" domain of receiver_roles
#                   to the restriction class secmx_sor =
#                   reject_plaintext_session (plaintext_reject_code = 530)
#   policyd-daemon  the same as none plus check_policy_service to one
#                   secmx-policyd daemon (postfix-examples/main.cf.daemon,
#                   secmx-policyd.service)
#   policyd-spawn   the same with secmx-policyd under spawn(8)
#                   (postfix-examples/main.cf.spawn, master.cf.spawn)
#
# Every instance offers STARTTLS (smtpd_tls_security_level = may, the
# same certificate) and delivers with discard(8) (virtual_transport =
# discard), so that the queue drains and delivery costs little.
# receiver_roles is postfix-examples/receiver_roles (sor.example and its
# subdomains sor, ber.example ber).
#
# What is measured: each timed run sends MSGS messages, half of them to
# recipients in ber.example (a Best Effort Receiver: accepted in
# plaintext, audited by secmx-policyd) and half to plain.example (not
# listed), from two smtp-source processes at once with SESSIONS/2
# parallel sessions each, one message per SMTP session (smtp-source
# disconnects after each message, as most MX clients do), RCPTS
# recipients per message with non-repeating local parts (-N), a 2 KiB
# body. So the SOR check (the access-map lookup, or the policy query)
# runs for every RCPT and answers "not SOR". msgs_per_s = MSGS / the
# wall time from the start of the two clients until both have finished,
# that is until smtpd accepted every message; deliveries run
# concurrently, as on a real MX. Before the next run the queue must
# drain and discard(8) must have logged every recipient; a recipient
# that smtpd refused or that never arrives counts as an error.
#
# The four instances run at once (idle ones cost nothing) and the runs
# are interleaved (none, builtin, daemon, spawn, none, ...), so that
# noise from the rest of the machine spreads evenly. Before timing,
# each instance gets checks that the restriction works: plaintext to
# sor.example is refused by builtin, policyd-daemon and policyd-spawn
# and accepted by none; STARTTLS to sor.example and plaintext to
# ber.example are accepted everywhere. A wrong answer is an error.
#
# Output: lines "RESULT scenario=postfix variant=... rcpts=1|10 msgs=K
# msgs_per_s=X errors=E" (one per run), "COMMAND ..." lines with the
# exact load commands and "CHECK ..." lines. Exit status 1 when any
# error occurred, never because of speed.
#
# Usage (as root): bench/postfix.sh --build DIR [--runs N] [--msgs K]
#   [--sessions S] [--smoke]
#   DIR is a CMake build tree with secmx-policyd and smx-logsink.
#   Ports: 127.0.0.1:$BENCH_POSTFIX_PORT .. +3 (default 2751-2754).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
SMX_SOURCE_DIR=$top
export SMX_SOURCE_DIR
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lib.sh
. "$top/tests/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$top/bench/common.sh"
smx_namespace "$@"

build=
runs=5
msgs=1000
sessions=8
smoke=
usage() {
	echo "usage: $0 --build DIR [--runs N] [--msgs K] [--sessions S] [--smoke]" >&2
	exit 64
}
while [ $# -gt 0 ]; do
	case $1 in
	--build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
	--msgs) [ $# -ge 2 ] || usage; msgs=$2; shift 2 ;;
	--sessions) [ $# -ge 2 ] || usage; sessions=$2; shift 2 ;;
	--smoke) smoke=1; shift ;;
	*) usage ;;
	esac
done
[ -n "$build" ] || usage
build=$(cd "$build" && pwd)
if [ -n "$smoke" ]; then
	runs=1
	msgs=20
	sessions=2
fi
for n in "$runs" "$msgs" "$sessions"; do
	case $n in '' | *[!0-9]* | 0) usage ;; esac
done
[ $((msgs % 2)) = 0 ] || msgs=$((msgs + 1))
[ $((sessions % 2)) = 0 ] || sessions=$((sessions + 1))

SMX_LOGSINK=$build/tests/integration/smx-logsink
SMX_POLICYD=$build/policyd/secmx-policyd
export SMX_LOGSINK SMX_POLICYD
[ -x "$SMX_POLICYD" ] || smx_fatal "no secmx-policyd in $build"
smx_require smtp-source postmap postsuper awk
smx_init
smx_ensure_user secmx

port0=${BENCH_POSTFIX_PORT:-2751}
VARIANTS="none builtin policyd-daemon policyd-spawn"
ERRORS=0

# instance VARIANT: the Postfix instance name of VARIANT.
instance() {
	echo "pf-$1"
}

# queue_empty NAME: no message in any queue of instance NAME.
# shellcheck disable=SC2317 # called through smx_retry
queue_empty() {
	_q=$(smx_dir "$1")/queue
	[ -z "$(find "$_q/maildrop" "$_q/incoming" "$_q/active" \
	    "$_q/deferred" "$_q/hold" -type f 2>/dev/null | head -n 1)" ]
}

# discarded NAME: recipients discard(8) of instance NAME logged so far.
discarded() {
	grep -c "postfix-$1/discard\[[0-9]*\]: .*status=sent" \
	    "$(smx_dir "$1")/maillog" 2>/dev/null || true
}

# setup VARIANT PORT: create the instance for VARIANT.
setup() {
	_v=$1
	_n=$(instance "$_v")
	smx_instance_create "$_n" "$2" sor.example ber.example plain.example
	_d=$(smx_dir "$_n")
	smx_secmx_config "$_n"
	# Postfix logs through postlogd(8) into a file of its own: counting
	# deliveries must not depend on who owns /dev/log on a shared host.
	echo "postlog unix-dgram n - n - 1 postlogd" >>"$_d/etc/master.cf"
	smx_postconf "$_n" "maillog_file = $_d/maillog" \
	    "maillog_file_prefixes = $SMX_TMP" \
	    "virtual_transport = discard" \
	    "smtpd_tls_security_level = may" \
	    "smtpd_tls_cert_file = $SMX_TMP/pki/server.pem" \
	    "smtpd_tls_key_file = $SMX_TMP/pki/server.key"
	case $_v in
	none)
		smx_postconf "$_n" "smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
		;;
	builtin)
		awk '$1 !~ /^#/ && $2 == "sor" { print $1 "\tsecmx_sor" }' \
		    "$_d/secmx/receiver_roles" >"$_d/etc/sor_access"
		postmap -c "$_d/etc" "hash:$_d/etc/sor_access"
		smx_postconf "$_n" "smtpd_restriction_classes = secmx_sor" \
		    "secmx_sor = reject_plaintext_session" \
		    "plaintext_reject_code = 530" \
		    "smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, check_recipient_access hash:$_d/etc/sor_access"
		;;
	policyd-daemon)
		smx_example_main "$_n" main.cf.daemon
		;;
	policyd-spawn)
		smx_example_main "$_n" main.cf.spawn
		smx_example_master "$_n" master.cf.spawn
		;;
	esac
}

# check VARIANT WHAT EXPECT-RC TO [swaks options]: one swaks message to
# TO; EXPECT-RC is swaks' exit status (0 accepted, 24 refused).
check() {
	_v=$1
	_what=$2
	_want=$3
	shift 3
	smx_send "$(instance "$_v")" "$@"
	if [ "$SMX_RC" = "$_want" ]; then
		echo "CHECK variant=$_v $_what: ok"
	else
		echo "CHECK variant=$_v $_what: FAILED (swaks exit $SMX_RC, expected $_want)"
		smx_show "$SMX_OUT"
		bench_error "variant $_v: $_what"
	fi
}

# load NAME MSGS RCPTS SESSIONS TAG: the two smtp-source clients; returns
# non-zero when either failed (a refused command aborts smtp-source).
load() {
	_port=$(cat "$(smx_dir "$1")/port")
	_rc=0
	for _dom in ber.example plain.example; do
		smtp-source -4 -N -s "$(($4 / 2))" -m "$(($2 / 2))" -r "$3" \
		    -l 2048 -M client.example -f sender@client.example \
		    -t "$5@$_dom" "127.0.0.1:$_port" \
		    >"$SMX_TMP/source.$_dom.out" 2>&1 &
		echo "$!" >"$SMX_TMP/source.$_dom.pid"
		# Stopped at exit should the script end before the wait.
		smx_track "$!"
	done
	for _dom in ber.example plain.example; do
		_spid=$(cat "$SMX_TMP/source.$_dom.pid")
		wait "$_spid" || {
			_rc=1
			smx_show "$SMX_TMP/source.$_dom.out" 5
		}
		smx_untrack "$_spid"
	done
	return "$_rc"
}

# logged NAME WANT: discard(8) of NAME logged WANT recipients in total.
# shellcheck disable=SC2317 # called through smx_retry
logged() {
	[ "$(discarded "$1")" -ge "$2" ]
}

# run VARIANT RCPTS: one timed run; prints its RESULT line.
run() {
	_n=$(instance "$1")
	_before=$(discarded "$_n")
	_want=$((_before + msgs * $2))
	_t0=$(now)
	_err=0
	load "$_n" "$msgs" "$2" "$sessions" "r$2" || _err=1
	_t1=$(now)
	# Bounded: discard(8) drains thousands of recipients per second;
	# postlogd writes the last lines soon after.
	smx_retry 600 0.1 queue_empty "$_n" || true
	smx_retry 30 0.1 logged "$_n" "$_want" || true
	_got=$(($(discarded "$_n") - _before))
	_lost=$((msgs * $2 - _got))
	[ "$_lost" -ge 0 ] || _lost=0
	_err=$((_err + _lost))
	[ "$_err" = 0 ] || bench_error "$1 rcpts=$2: $_err error(s), $_got of $((msgs * $2)) recipients delivered"
	awk -v v="$1" -v r="$2" -v m="$msgs" -v t0="$_t0" -v t1="$_t1" \
	    -v e="$_err" 'BEGIN { printf "RESULT scenario=postfix variant=%s rcpts=%d msgs=%d msgs_per_s=%.1f errors=%d\n", v, r, m, m / (t1 - t0), e }'
}

# Copy the program where the unprivileged user secmx can run it (a build
# tree may sit below a private home directory).
mkdir -p "$SMX_TMP/bin"
chmod 0755 "$SMX_TMP/bin"
cp "$SMX_POLICYD" "$SMX_TMP/bin/secmx-policyd"
chmod 0755 "$SMX_TMP/bin/secmx-policyd"
SMX_POLICYD=$SMX_TMP/bin/secmx-policyd

p=$port0
for v in $VARIANTS; do
	smx_port_free "$p" || smx_fatal "port $p is in use (set BENCH_POSTFIX_PORT)"
	setup "$v" "$p"
	smx_instance_start "$(instance "$v")"
	[ "$v" = policyd-daemon ] && smx_policyd_daemon "$(instance "$v")"
	p=$((p + 1))
done

for v in $VARIANTS; do
	case $v in
	none) sor_rc=0 ;;
	*) sor_rc=24 ;;
	esac
	check "$v" "plaintext to sor.example" "$sor_rc" @sor.example
	check "$v" "STARTTLS to sor.example accepted" 0 @sor.example --tls
	check "$v" "plaintext to ber.example accepted" 0 @ber.example
	# Warm up: smtpd, cleanup, the policy service and the caches.
	load "$(instance "$v")" "$((sessions * 2))" 1 "$sessions" warm ||
	    bench_error "variant $v: warm-up load failed"
done
for v in $VARIANTS; do
	smx_retry 300 0.1 queue_empty "$(instance "$v")" ||
	    bench_error "variant $v: queue did not drain after the checks"
done

for r in 1 10; do
	echo "COMMAND smtp-source -4 -N -s $((sessions / 2)) -m $((msgs / 2)) -r $r -l 2048 -M client.example -f sender@client.example -t r$r@ber.example 127.0.0.1:PORT & smtp-source (the same with -t r$r@plain.example) 127.0.0.1:PORT"
done
i=1
while [ "$i" -le "$runs" ]; do
	for r in 1 10; do
		for v in $VARIANTS; do
			run "$v" "$r"
		done
	done
	i=$((i + 1))
done

# Every secmx-policyd answer came from a working server: no warnings.
if grep -Eq 'secmx/policyd\[[0-9]+\]: (warning|error|fatal|panic)' "$SMX_SYSLOG"; then
	grep -E 'secmx/policyd\[[0-9]+\]: (warning|error|fatal|panic)' \
	    "$SMX_SYSLOG" | smx_show /dev/stdin 5
	bench_error "secmx-policyd logged warnings or errors"
fi
smx_policyd_stop >/dev/null
for v in $VARIANTS; do
	smx_instance_stop "$(instance "$v")"
done
[ "$ERRORS" = 0 ] || smx_fatal "$ERRORS error(s)"
smx_log "done"
smx_finish >/dev/null
