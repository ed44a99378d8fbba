#!/bin/sh
# delivery.sh - benchmark scenario 4: delivery from a sending Postfix to
# a receiving Postfix over TLS, through secmx-transport found by SRV
# versus Postfix's own smtp(8); and the peak memory of secmx-transport
# for one 100 MiB message.
#
# What runs, all on loopback:
#
#   nsd     127.0.0.1, on the first free port outside the kernel's
#           ephemeral range from $BENCH_NSD_PORT (default 15381), the
#           next one when nsd cannot bind it (lib.sh's smx_port_start);
#           authoritative for "test.": _secmx._tcp.bench.test SRV 10 0
#           RXPORT mx.bench.test, mx.bench.test A 127.0.0.1.
#   rx      the receiver for bench.test on 127.0.0.1:RXPORT (default
#           2761): STARTTLS offered with a certificate for mx.bench.test
#           (test CA of scripts/make-test-certs), discard(8) delivery
#           (virtual_transport = discard), message_size_limit 200 MiB,
#           no limit on connections per client.
#   tx      the secmx sender on 127.0.0.1:RXPORT+1 (transport_rig.sh's
#           rig_sender: postfix-examples/master.cf.transport and
#           main.cf.sender, paths rewritten only). Its secmx.conf:
#           tls_verify = ca with the test CA, dns_nameservers = the nsd.
#           The sender sos@sos.sender.test is a Secure Only Sender.
#   txsmtp  the smtp(8) sender on 127.0.0.1:RXPORT+2: transport_maps
#           "bench.test smtp:[127.0.0.1]:RXPORT" (Postfix's resolver
#           cannot see the test nsd), smtp_tls_security_level = encrypt.
#
# Both senders make a new connection and a full TLS handshake for every
# message: secmx-transport is one process per message, and smtp(8) has
# no TLS session cache (smtp_tls_session_cache_database is empty) and
# does not reuse TLS connections (smtp_tls_connection_reuse = no, the
# default). One recipient per message. smtp(8) runs at most 20
# deliveries to bench.test at once (default_destination_concurrency_limit);
# the secmx service, with secmx_destination_recipient_limit = 1 as in
# main.cf.sender, applies that limit per recipient, so up to maxproc
# (default_process_limit, 100) secmx-transport processes run at once. secmx-transport verifies the certificate
# (chain and name); smtp(8) at "encrypt" does not.
#
# A timed run: MSGS messages (2 KiB body, one recipient each) are
# injected into the sender with smtp-source and held (header_checks
# HOLD), then released at once (postsuper -H ALL; postqueue -f). The
# clock runs from the release until the sender's queue is empty and
# the receiver logged MSGS more deliveries: msgs_per_s = MSGS / that
# time. cpu_s_per_msg: the CPU time (user + system) of the sender, the
# receiver and nsd during that time, divided by MSGS. It is read from a
# cgroup per instance (cgroup v2 cpu.stat or v1 cpuacct.usage), which
# counts processes that exited during the run too (smtpd, cleanup,
# pipe(8), secmx-transport, smtp(8), ...); where no cgroup can be made,
# the busy time of the whole machine from /proc/stat is used instead.
# Logging (postlogd of each instance) is counted, the test syslog sink
# is not. The two senders' runs alternate.
#
# bigmsg: secmx-transport run directly (as pipe(8) would, message on
# stdin) with -n [127.0.0.1]:RXPORT to the receiver, for a 100 MiB
# message; peak_rss_kib is its maximum resident set size from
# /usr/bin/time -f %M.
#
# Output: "RESULT scenario=delivery transport=secmx|smtp msgs=K
# msgs_per_s=X cpu_s_per_msg=Y errors=E" per run, "RESULT
# scenario=bigmsg transport=secmx size_mib=100 peak_rss_kib=R errors=E"
# per run, "COMMAND ..." and "NOTE ..." lines. An error is a message
# that was not delivered (or a bigmsg run that failed); exit status 1
# when any occurred, never because of speed.
#
# Usage (as root): bench/delivery.sh --build DIR [--runs N] [--msgs K]
#   [--size-mib S] [--smoke]
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
msgs=400
size_mib=100
smoke=
usage() {
	echo "usage: $0 --build DIR [--runs N] [--msgs K] [--size-mib S] [--smoke]" >&2
	exit 64
}
while [ $# -gt 0 ]; do
	case $1 in
	--build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
	--msgs) [ $# -ge 2 ] || usage; msgs=$2; shift 2 ;;
	--size-mib) [ $# -ge 2 ] || usage; size_mib=$2; shift 2 ;;
	--smoke) smoke=1; shift ;;
	*) usage ;;
	esac
done
[ -n "$build" ] || usage
build=$(cd "$build" && pwd)
if [ -n "$smoke" ]; then
	runs=1
	msgs=10
	size_mib=2
fi
for n in "$runs" "$msgs" "$size_mib"; do
	case $n in '' | *[!0-9]* | 0) usage ;; esac
done

SMX_LOGSINK=$build/tests/integration/smx-logsink
SMX_TRANSPORT=$build/transport/secmx-transport
SMX_POLICYD=$build/policyd/secmx-policyd
RX_PORT=${BENCH_DELIVERY_PORT:-2761}
RIG_TX_PORT=$((RX_PORT + 1))
TXSMTP_PORT=$((RX_PORT + 2))
RIG_NSD_PORT=${BENCH_NSD_PORT:-15381}
export SMX_LOGSINK SMX_TRANSPORT SMX_POLICYD
# shellcheck source-path=SCRIPTDIR source=../tests/integration/transport_rig.sh
. "$top/tests/integration/transport_rig.sh"
[ -x "$SMX_TRANSPORT" ] || smx_fatal "no secmx-transport in $build"
smx_require smtp-source postsuper postqueue nsd drill awk /usr/bin/time
smx_init
smx_ensure_user secmx

ERRORS=0
CG_KIND=
CG_DIRS=

# ---- CPU accounting

# cg_setup: choose how CPU time is measured (CG_KIND v2, v1 or proc).
cg_setup() {
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		_self=$(sed -n 's/^0:://p' /proc/self/cgroup)
		CG_ROOT=/sys/fs/cgroup${_self%/}
		CG_KIND=v2
	elif [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
		_self=$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/ { print $3 }' /proc/self/cgroup)
		CG_ROOT=/sys/fs/cgroup/cpuacct${_self%/}
		CG_KIND=v1
	else
		CG_KIND=proc
		return 0
	fi
	_probe=$CG_ROOT/secmx-bench-$$-probe
	if mkdir "$_probe" 2>/dev/null && rmdir "$_probe"; then
		return 0
	fi
	CG_KIND=proc
}

# cg_dir NAME: the cgroup directory for NAME.
cg_dir() {
	echo "$CG_ROOT/secmx-bench-$$-$1"
}

# cg_enter NAME: move this shell into cgroup NAME (created if needed);
# everything it starts from now on is counted there.
cg_enter() {
	[ "$CG_KIND" != proc ] || return 0
	_c=$(cg_dir "$1")
	if [ ! -d "$_c" ]; then
		mkdir "$_c" || smx_fatal "cannot create cgroup $_c"
		CG_DIRS="$_c $CG_DIRS"
	fi
	echo "$$" >"$_c/cgroup.procs"
}

# cg_leave: move this shell back to where it started.
cg_leave() {
	[ "$CG_KIND" != proc ] || return 0
	echo "$$" >"$CG_ROOT/cgroup.procs"
}

# cpu_ns NAME...: CPU time used so far by the cgroups NAME..., in ns; or
# the busy time of the whole machine (CG_KIND proc).
cpu_ns() {
	case $CG_KIND in
	v2)
		for _g in "$@"; do
			awk '$1 == "usage_usec" { print $2 * 1000 }' \
			    "$(cg_dir "$_g")/cpu.stat"
		done
		;;
	v1)
		for _g in "$@"; do
			cat "$(cg_dir "$_g")/cpuacct.usage"
		done
		;;
	proc)
		# user nice system irq softirq steal, in USER_HZ ticks.
		awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {
		    print ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / hz }' /proc/stat
		;;
	esac | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# bench_exit: stop everything (lib.sh's cleanup), remove the cgroups.
# shellcheck disable=SC2317 # called from the EXIT trap
bench_exit() {
	_brc=$?
	trap - EXIT
	cg_leave 2>/dev/null || true
	for _i in $SMX_INSTANCES; do
		smx_instance_stop "$_i"
	done
	for _p in $SMX_PIDS; do
		[ "$_p" = "${SMX_LOGSINK_PID:-}" ] || ! smx_pid_child "$_p" ||
		    smx_stop_pid "$_p"
	done
	for _c in $CG_DIRS; do
		rmdir "$_c" 2>/dev/null || smx_log "cgroup $_c not removed"
	done
	set +e
	(exit "$_brc")
	smx_cleanup
}

# ---- the rig

# dns_ready: nsd answers with the SRV record of bench.test.
# shellcheck disable=SC2317 # called through smx_retry
dns_ready() {
	drill -p "$RIG_NSD_PORT" _secmx._tcp.bench.test @127.0.0.1 SRV \
	    2>/dev/null | grep -q "IN[[:space:]]*SRV[[:space:]]*10 0 $RX_PORT"
}

dns_start() {
	_z=$SMX_TMP/dns
	mkdir -p "$_z"
	cat >"$_z/test.zone" <<EOF
; bench/delivery.sh: bench.test is a Secure Only Receiver found by SRV.
\$ORIGIN test.
\$TTL 300
@		IN SOA	ns.test. hostmaster.test. 1 3600 600 86400 300
@		IN NS	ns
ns		IN A	127.0.0.1
_secmx._tcp.bench	IN SRV	10 0 $RX_PORT mx.bench
mx.bench	IN A	127.0.0.1
EOF
	smx_port_start RIG_NSD_PORT "$RIG_NSD_PORT" smx_nsd_start \
	    "$SMX_SOURCE_DIR/tests/data/dns/matrix/nsd.conf.in" test "$_z" ||
	    smx_fatal "nsd did not start"
	smx_retry 100 0.1 dns_ready ||
	    smx_fatal "nsd did not answer on 127.0.0.1:$RIG_NSD_PORT: $(cat "$_z/nsd.out" "$_z/nsd.log" 2>/dev/null)"
}

# own_log NAME: instance NAME logs through postlogd(8) into
# $SMX_TMP/NAME/maillog: counting deliveries does not depend on who
# owns /dev/log on a shared host.
own_log() {
	_d=$(smx_dir "$1")
	echo "postlog unix-dgram n - n - 1 postlogd" >>"$_d/etc/master.cf"
	smx_postconf "$1" "maillog_file = $_d/maillog" \
	    "maillog_file_prefixes = $SMX_TMP"
}

# hold_injected NAME: messages injected by the load generator (Subject
# secmx-bench) go on hold, so that they are released all at once.
hold_injected() {
	_d=$(smx_dir "$1")
	echo '/^Subject: secmx-bench$/ HOLD' >"$_d/etc/hold.regexp"
	smx_postconf "$1" "header_checks = regexp:$_d/etc/hold.regexp"
}

setup() {
	"$SMX_SOURCE_DIR/scripts/make-test-certs" "$SMX_TMP/certs" \
	    mx.bench.test >"$SMX_TMP/certs.log" 2>&1 ||
	    smx_fatal "make-test-certs failed: $(cat "$SMX_TMP/certs.log")"
	chmod 0755 "$SMX_TMP/certs"
	chmod 0644 "$SMX_TMP/certs/"*.pem
	chmod 0600 "$SMX_TMP/certs/"*.key
	cg_enter dns
	dns_start
	cg_leave

	smx_instance_create rx "$RX_PORT" bench.test
	own_log rx
	# No per-client connection limit: both senders connect from
	# 127.0.0.1, and the secmx service of main.cf.sender
	# (secmx_destination_recipient_limit = 1) makes Postfix's
	# concurrency limit per recipient, so that up to maxproc (100)
	# secmx-transport processes connect at once; Postfix's default (50)
	# would answer 421 to the rest.
	smx_postconf rx "mynetworks = 127.0.0.254/32" \
	    "smtpd_client_connection_count_limit = 0" \
	    "virtual_transport = discard" \
	    "message_size_limit = 209715200" \
	    "smtpd_tls_security_level = may" \
	    "smtpd_tls_cert_file = $SMX_TMP/certs/mx.bench.test.pem" \
	    "smtpd_tls_key_file = $SMX_TMP/certs/mx.bench.test.key"

	rig_sender
	own_log tx
	hold_injected tx
	sed -i 's/^default_sender_role = .*/default_sender_role = sos/' \
	    "$(smx_dir tx)/secmx/secmx.conf"

	smx_instance_create txsmtp "$TXSMTP_PORT" sos.sender.test
	own_log txsmtp
	hold_injected txsmtp
	_d=$(smx_dir txsmtp)
	printf 'bench.test\tsmtp:[127.0.0.1]:%s\n' "$RX_PORT" >"$_d/etc/transport"
	smx_postconf txsmtp "mynetworks = 127.0.0.1/32" \
	    "transport_maps = texthash:$_d/etc/transport" \
	    "smtp_tls_security_level = encrypt"

	for _i in rx tx txsmtp; do
		smx_port_free "$(cat "$(smx_dir "$_i")/port")" ||
		    smx_fatal "port $(cat "$(smx_dir "$_i")/port") is in use (set BENCH_DELIVERY_PORT)"
		cg_enter "$_i"
		smx_instance_start "$_i"
		cg_leave
	done
}

# ---- measuring

# queue_count NAME [QUEUE...]: messages in the queues of instance NAME
# (default: all of them).
# shellcheck disable=SC2317 # called through smx_retry
queue_count() {
	_q=$(smx_dir "$1")/queue
	shift
	[ $# -gt 0 ] || set -- maildrop incoming active deferred hold
	for _s in "$@"; do
		find "$_q/$_s" -type f 2>/dev/null
	done | wc -l
}

# delivered: deliveries the receiver logged so far.
delivered() {
	grep -c 'postfix-rx/discard\[[0-9]*\]: .*status=sent' \
	    "$(smx_dir rx)/maillog" 2>/dev/null || true
}

# held NAME COUNT: COUNT messages wait in the hold queue of NAME.
# shellcheck disable=SC2317 # called through smx_retry
held() {
	[ "$(queue_count "$1" hold)" -ge "$2" ] &&
	    [ "$(queue_count "$1" maildrop incoming active)" = 0 ]
}

# done_run NAME WANT: the sender NAME has an empty queue and the receiver
# logged WANT deliveries in total.
# shellcheck disable=SC2317 # called through smx_retry
done_run() {
	[ "$(queue_count "$1")" = 0 ] && [ "$(delivered)" -ge "$2" ]
}

# inject NAME COUNT: COUNT messages into the hold queue of sender NAME.
inject() {
	_port=$(cat "$(smx_dir "$1")/port")
	smtp-source -4 -N -s 4 -m "$2" -l 2048 -S secmx-bench \
	    -M client.test -f sos@sos.sender.test -t rcpt@bench.test \
	    "127.0.0.1:$_port" >"$SMX_TMP/inject.out" 2>&1 || {
		smx_show "$SMX_TMP/inject.out" 5
		return 1
	}
	smx_retry 600 0.1 held "$1" "$2"
}

# run TRANSPORT: one timed run through sender tx (secmx) or txsmtp.
run() {
	case $1 in
	secmx) _n=tx ;;
	*) _n=txsmtp ;;
	esac
	_err=0
	inject "$_n" "$msgs" || {
		bench_error "$1: injecting $msgs messages failed"
		_err=$msgs
	}
	_before=$(delivered)
	_c0=$(cpu_ns "$_n" rx dns)
	_t0=$(now)
	postsuper -c "$(smx_dir "$_n")/etc" -H ALL 2>/dev/null
	postqueue -c "$(smx_dir "$_n")/etc" -f
	# Bounded: loopback delivery takes well under a second per message.
	smx_retry "$((msgs * 10 + 600))" 0.1 done_run "$_n" \
	    "$((_before + msgs))" || true
	_t1=$(now)
	_c1=$(cpu_ns "$_n" rx dns)
	_got=$(($(delivered) - _before))
	if [ "$_got" -lt "$msgs" ] && [ "$_err" = 0 ]; then
		_err=$((msgs - _got))
		bench_error "$1: $_got of $msgs messages delivered"
		grep -E "postfix-$_n/(pipe|smtp)\[" "$(smx_dir "$_n")/maillog" |
		    grep -v 'status=sent' | smx_show /dev/stdin 5
		# Do not let leftovers spoil the next run.
		postsuper -c "$(smx_dir "$_n")/etc" -d ALL 2>/dev/null || true
	fi
	awk -v t="$1" -v m="$msgs" -v t0="$_t0" -v t1="$_t1" -v c0="$_c0" \
	    -v c1="$_c1" -v e="$_err" 'BEGIN {
	    printf "RESULT scenario=delivery transport=%s msgs=%d msgs_per_s=%.2f cpu_s_per_msg=%.5f errors=%d\n",
	    t, m, m / (t1 - t0), (c1 - c0) / 1e9 / m, e }'
}

# bigmsg_make FILE: a message of exactly size_mib MiB (base64 lines).
bigmsg_make() {
	_hdr="From: <sos@sos.sender.test>
To: <big@bench.test>
Subject: secmx-bench bigmsg
Message-ID: <bigmsg.$$@sos.sender.test>
"
	_total=$((size_mib * 1048576))
	_body=$((_total - ${#_hdr} - 2))
	{
		printf '%s\n' "$_hdr"
		head -c "$((_body * 3 / 4 + 4096))" /dev/urandom | base64 -w 76 |
		    head -c "$_body"
		echo
	} >"$1"
	[ "$(wc -c <"$1")" = "$_total" ] || smx_fatal "bigmsg: wrong size"
}

# bigmsg_run FILE: secmx-transport delivers FILE to the receiver.
bigmsg_run() {
	_before=$(delivered)
	_rc=0
	/usr/bin/time -f %M -o "$SMX_TMP/bigmsg.rss" "$SMX_TRANSPORT" \
	    -c "$(smx_dir tx)/secmx/secmx.conf" -f sos@sos.sender.test \
	    -q BIGMSG -n "[127.0.0.1]:$RX_PORT" -- big@bench.test \
	    <"$1" >"$SMX_TMP/bigmsg.out" 2>&1 || _rc=$?
	_rss=$(tail -n 1 "$SMX_TMP/bigmsg.rss")
	_err=0
	if [ "$_rc" != 0 ]; then
		_err=1
		bench_error "bigmsg: secmx-transport exited $_rc: $(head -n 1 "$SMX_TMP/bigmsg.out")"
	elif ! smx_retry 600 0.1 done_run rx "$((_before + 1))"; then
		_err=1
		bench_error "bigmsg: the receiver did not deliver the message"
	fi
	echo "RESULT scenario=bigmsg transport=secmx size_mib=$size_mib peak_rss_kib=$_rss errors=$_err"
}

cg_setup
trap bench_exit EXIT
setup
echo "NOTE delivery cpu_s_per_msg measured with: $(case $CG_KIND in
v2) echo "cgroup v2 cpu.stat usage_usec of the sender, the receiver and nsd" ;;
v1) echo "cgroup v1 cpuacct.usage of the sender, the receiver and nsd" ;;
*) echo "/proc/stat busy time of the whole machine (no cgroup available)" ;;
esac)"

# Warm up both paths (process start, DNS, TLS) and check they deliver.
for t in secmx smtp; do
	run "$t" >/dev/null
done
echo "COMMAND smtp-source -4 -N -s 4 -m $msgs -l 2048 -S secmx-bench -M client.test -f sos@sos.sender.test -t rcpt@bench.test 127.0.0.1:SENDER-PORT (held), then postsuper -c SENDER-CONFIG -H ALL; postqueue -c SENDER-CONFIG -f; wait for an empty queue and $msgs deliveries"
i=1
while [ "$i" -le "$runs" ]; do
	for t in secmx smtp; do
		run "$t"
	done
	i=$((i + 1))
done

# The secmx path really used SRV and TLS with a verified certificate.
if grep -q 'secmx/transport\[' "$SMX_SYSLOG"; then
	if grep 'secmx/transport\[' "$SMX_SYSLOG" | grep 'status=sent' |
	    grep -v 'route=srv .*verify=ca' | grep -q .; then
		bench_error "secmx-transport delivered other than by SRV with a verified certificate"
	fi
else
	echo "NOTE no secmx/transport audit lines captured (syslog sink unavailable)"
fi

big=$SMX_TMP/bigmsg.eml
bigmsg_make "$big"
echo "COMMAND /usr/bin/time -f %M secmx-transport -c secmx.conf -f sos@sos.sender.test -q BIGMSG -n [127.0.0.1]:$RX_PORT -- big@bench.test < ${size_mib}MiB message"
i=1
while [ "$i" -le "$runs" ]; do
	bigmsg_run "$big"
	i=$((i + 1))
done
rm -f "$big"

[ "$ERRORS" = 0 ] || smx_fatal "$ERRORS error(s)"
smx_log "done"
smx_finish >/dev/null
