#!/bin/sh
# delivery.sh - benchmark scenario 4: delivery from a sending Postfix to
# a receiving Postfix over TLS, through secmx (secmx-transport under
# pipe(8), and the resident secmx-lmtpd behind lmtp(8)) versus Postfix's
# own smtp(8), each with and without its caches; the peak memory of
# secmx-transport for one 100 MiB message and of the secmx-lmtpd daemon
# for 20 concurrent 10 MiB messages; and, with --profile, where the
# daemon's CPU time goes (perf).
#
# What runs, all on loopback:
#
#   nsd     127.0.0.1, on the first free port outside the kernel's
#           ephemeral range from $BENCH_NSD_PORT (default 15381), the
#           next one when nsd cannot bind it (lib.sh's smx_port_start);
#           authoritative for "test.": _secmx._tcp.bench.test SRV 10 0
#           RXPORT mx.bench.test, mx.bench.test A 127.0.0.1; response
#           rate limiting off (rrl-ratelimit: 0).
#   rx      the receiver for bench.test on 127.0.0.1:RXPORT (default
#           2761): STARTTLS offered with a certificate for mx.bench.test
#           (test CA of scripts/make-test-certs), discard(8) delivery
#           (virtual_transport = discard), message_size_limit 200 MiB,
#           no limit on connections per client.
#   tx      secmx-transport: the secmx sender on 127.0.0.1:RXPORT+1
#           (transport_rig.sh's rig_sender: postfix-examples/
#           master.cf.transport and main.cf.sender, paths rewritten
#           only). Its secmx.conf: tls_verify = ca with the test CA,
#           dns_nameservers = the nsd. The sender sos@sos.sender.test is
#           a Secure Only Sender.
#   txsmtp  smtp-nocache: Postfix smtp(8) on 127.0.0.1:RXPORT+2 with
#           transport_maps "bench.test smtp:[127.0.0.1]:RXPORT"
#           (Postfix's resolver cannot see the test nsd) and
#           smtp_tls_policy_maps "[127.0.0.1]:RXPORT secure
#           match=mx.bench.test" with the test CA: certificate chain and
#           name verified, as secmx-transport does. No caches:
#           smtp_connection_cache_on_demand = no, no
#           smtp_tls_session_cache_database, smtp_tls_connection_reuse =
#           no.
#   txsmtpc smtp-cache: the same on RXPORT+3 with both of Postfix's
#           caches: smtp_connection_cache_on_demand = yes,
#           smtp_tls_session_cache_database =
#           btree:${data_directory}/smtp_scache (through tlsmgr(8)), and
#           smtp_tls_connection_reuse = yes with a tlsproxy(8) service:
#           without it smtp(8) never keeps a TLS connection, so that
#           the connection cache would do nothing for TLS mail. That is
#           Postfix's own way to reuse TLS connections, so it is the
#           fair counterpart of secmx-lmtpd's connection cache.
#   txlmtp  secmx-lmtpd-cache: a sending Postfix on RXPORT+4 with
#           postfix-examples/master.cf.lmtp and main.cf.sender-lmtp (all
#           mail through lmtp(8) to unix:private/secmx-lmtpd, at most 20
#           deliveries at once, up to 50 recipients per message), and
#           secmx-lmtpd started with the ExecStart line of
#           postfix-examples/secmx-lmtpd.service (paths rewritten) as
#           user secmx, inside txlmtp's cgroup, so that its CPU counts
#           as the sender's. Its secmx.conf is tx's with the caches at
#           their defaults (tls_session_cache_timeout = 3600s,
#           smtp_connection_cache_time_limit = 2s) and log_destination a
#           file of its own (its logging is then counted in the daemon,
#           as Postfix's postlogd is counted in each instance).
#   txlmtpn secmx-lmtpd-nocache: the same on RXPORT+5 with its own daemon,
#           tls_session_cache_timeout = 0 and
#           smtp_connection_cache_time_limit = 0.
#
# Fairness: every sender runs at most 20 deliveries at once
# (default_destination_concurrency_limit for smtp(8);
# secmx_lmtp_destination_concurrency_limit for lmtp(8) to secmx-lmtpd),
# except secmx-transport, whose service (secmx_destination_recipient_limit
# = 1 in main.cf.sender) makes the limit count per recipient, so that up
# to master.cf.transport's maxproc (20) processes run. Every sender
# verifies the receiver's certificate (chain and name). smtp(8) needs no
# DNS (its next hop is an address); secmx finds the receiver through
# _secmx._tcp SRV and an A lookup at nsd for every delivery, and that
# cost is counted (nsd's cgroup).
#
# A timed run: MSGS messages (--msgs, default 2000; 2 KiB body, RCPTS
# recipients each, all at bench.test) are injected into the sender with
# smtp-source and held (header_checks HOLD), then released at once
# (postsuper -H ALL; postqueue -f). The clock runs from the release
# until the sender's queue is empty and the receiver logged MSGS x RCPTS
# more deliveries: msgs_per_s = MSGS / that time. cpu_s_per_msg: the CPU
# time (user + system) of the sender, the receiver and nsd during that
# time, divided by MSGS. It is read from a cgroup per instance (cgroup
# v2 cpu.stat or v1 cpuacct.usage), which counts processes that exited
# during the run too (smtpd, cleanup, pipe(8), secmx-transport, smtp(8),
# tlsproxy, ...); where no cgroup can be made, the busy time of the
# whole machine from /proc/stat is used instead (then no split). The
# split per message: tx_cpu (the sending instance, secmx-lmtpd
# included), daemon_cpu (secmx-lmtpd alone, from /proc/PID/stat),
# rx_cpu, dns_cpu. Logging (postlogd of each instance, secmx-lmtpd's log
# file) is counted; the test syslog sink, where secmx-transport's audit
# lines go, is not.
# With 2000 messages a run lasts several seconds. A run of 400 took one
# or two and measured how fast the queue manager hands out the first
# deliveries, and the state of the receiver's file system (its cleanup
# processes create and remove a queue file per message), more than the
# deliveries themselves.
# rx_conns_per_msg: SMTP connections the receiver accepted per message;
# reused_pct: deliveries over a kept connection (smtp(8): status lines
# with conn_use=; secmx-lmtpd: audit lines with conn=reused);
# resumed_pct: secmx-lmtpd deliveries over a resumed TLS session
# (resumed=yes). Every transport runs with 1 recipient per message, all
# but secmx-transport (one recipient per run by design) also with 10; the
# runs of one round alternate between all of them.
#
# bigmsg: secmx-transport run directly (as pipe(8) would, message on
# stdin) with -n [127.0.0.1]:RXPORT to the receiver, for a 100 MiB
# message; peak_rss_kib is its maximum resident set size from
# /usr/bin/time -f %M.
#
# lmtpbig: a fresh secmx-lmtpd (the cache configuration, its own socket,
# its own cgroup) gets 20 messages of 10 MiB at once from
# secmx-lmtp-load (one LMTP connection each, every end of data sent at
# the same moment, so that 20 deliveries are in flight; the tool reports
# how many were and how many threads the daemon had); hwm_kib is the
# daemon's VmHWM from /proc/PID/status afterwards. It delivers through
# SRV to the receiver like the others.
#
# --profile: two more secmx-lmtpd-cache runs, at 1 and 10 recipients
# (not in the figures), with "perf record --call-graph dwarf" attached
# to the daemon; "PROFILE ..." lines give the share of its samples per
# library (dso), the top symbols and the inclusive share of the parts of
# a delivery.
#
# Output: "RESULT scenario=delivery transport=T rcpts=R msgs=K
# msgs_per_s=X cpu_s_per_msg=Y tx_cpu=.. [daemon_cpu=..] rx_cpu=..
# dns_cpu=.. rx_conns_per_msg=.. [reused_pct=..] [resumed_pct=..]
# errors=E" per run, with T one of secmx-transport, smtp-nocache,
# smtp-cache, secmx-lmtpd-nocache, secmx-lmtpd-cache; "RESULT
# scenario=bigmsg transport=secmx size_mib=100 peak_rss_kib=R errors=E"
# and "RESULT scenario=lmtpbig transport=secmx-lmtpd conns=20 size_mib=10
# hwm_kib=H max_inflight=M max_threads=T seconds=S errors=E" per run;
# "COMMAND ...", "NOTE ..." and "PROFILE ..." lines. An error is a
# message that was not delivered (or a big-message run that failed);
# exit status 1 when any occurred, never because of speed.
#
# Usage (as root): bench/delivery.sh --build DIR [--runs N] [--msgs K]
#   [--size-mib S] [--rcpts "1 10"] [--transports "..."]
#   [--big-conns C] [--big-size-mib M] [--profile] [--smoke]
#   Ports: 127.0.0.1:$BENCH_DELIVERY_PORT .. +5 (default 2761-2766);
#   nsd from 15381.
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
msgs=2000
size_mib=100
rcpts_list="1 10"
transports="secmx-transport smtp-nocache smtp-cache secmx-lmtpd-nocache secmx-lmtpd-cache"
big_conns=20
big_size_mib=10
profile=
smoke=
usage() {
	echo "usage: $0 --build DIR [--runs N] [--msgs K] [--size-mib S] [--rcpts \"1 10\"] [--transports \"...\"] [--big-conns C] [--big-size-mib M] [--profile] [--smoke]" >&2
	exit 64
}
while [ $# -gt 0 ]; do
	case $1 in
	--build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
	--msgs) [ $# -ge 2 ] || usage; msgs=$2; shift 2 ;;
	--size-mib) [ $# -ge 2 ] || usage; size_mib=$2; shift 2 ;;
	--rcpts) [ $# -ge 2 ] || usage; rcpts_list=$2; shift 2 ;;
	--transports) [ $# -ge 2 ] || usage; transports=$2; shift 2 ;;
	--big-conns) [ $# -ge 2 ] || usage; big_conns=$2; shift 2 ;;
	--big-size-mib) [ $# -ge 2 ] || usage; big_size_mib=$2; shift 2 ;;
	--profile) profile=1; shift ;;
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
	big_conns=3
	big_size_mib=1
fi
for n in "$runs" "$msgs" "$size_mib" "$big_conns" "$big_size_mib" \
    $rcpts_list; do
	case $n in '' | *[!0-9]* | 0) usage ;; esac
done
for t in $transports; do
	case $t in
	secmx-transport | smtp-nocache | smtp-cache | secmx-lmtpd-nocache | \
	    secmx-lmtpd-cache) ;;
	*) usage ;;
	esac
done

SMX_LOGSINK=$build/tests/integration/smx-logsink
SMX_TRANSPORT=$build/transport/secmx-transport
SMX_LMTPD=$build/transport/secmx-lmtpd
SMX_LMTP_LOAD=$build/bench/secmx-lmtp-load
SMX_POLICYD=$build/policyd/secmx-policyd
RX_PORT=${BENCH_DELIVERY_PORT:-2761}
RIG_TX_PORT=$((RX_PORT + 1))
TXSMTP_PORT=$((RX_PORT + 2))
TXSMTPC_PORT=$((RX_PORT + 3))
TXLMTP_PORT=$((RX_PORT + 4))
TXLMTPN_PORT=$((RX_PORT + 5))
RIG_NSD_PORT=${BENCH_NSD_PORT:-15381}
export SMX_LOGSINK SMX_TRANSPORT SMX_POLICYD
# shellcheck source-path=SCRIPTDIR source=../tests/integration/transport_rig.sh
. "$top/tests/integration/transport_rig.sh"
[ -x "$SMX_TRANSPORT" ] || smx_fatal "no secmx-transport in $build"
[ -x "$SMX_LMTPD" ] || smx_fatal "no secmx-lmtpd in $build"
[ -x "$SMX_LMTP_LOAD" ] || smx_fatal "no secmx-lmtp-load in $build"
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
	# nsd's response rate limiting (on by default in Debian's nsd: 200
	# answers a second per name and /24) would drop the answers to
	# secmx-lmtpd beyond that rate and turn them into 5s DNS timeouts:
	# off, as on a resolver that serves its own host.
	sed '/^[[:space:]]*server-count:/a\
	rrl-ratelimit: 0\
	rrl-whitelist-ratelimit: 0' \
	    "$SMX_SOURCE_DIR/tests/data/dns/matrix/nsd.conf.in" >"$_z/nsd.conf.in"
	smx_port_start RIG_NSD_PORT "$RIG_NSD_PORT" smx_nsd_start \
	    "$_z/nsd.conf.in" test "$_z" ||
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

# smtp_sender NAME PORT: an smtp(8) sender for bench.test that verifies
# the receiver's certificate (chain and name mx.bench.test), as secmx
# does; without caches (smtp-nocache).
smtp_sender() {
	smx_instance_create "$1" "$2" sos.sender.test
	own_log "$1"
	hold_injected "$1"
	_d=$(smx_dir "$1")
	printf 'bench.test\tsmtp:[127.0.0.1]:%s\n' "$RX_PORT" >"$_d/etc/transport"
	printf '[127.0.0.1]:%s\tsecure match=mx.bench.test\n' "$RX_PORT" \
	    >"$_d/etc/tls_policy"
	smx_postconf "$1" "mynetworks = 127.0.0.1/32" \
	    "transport_maps = texthash:$_d/etc/transport" \
	    "smtp_tls_security_level = encrypt" \
	    "smtp_tls_policy_maps = texthash:$_d/etc/tls_policy" \
	    "smtp_tls_CAfile = $SMX_TMP/certs/ca.pem" \
	    "smtp_connection_cache_on_demand = no" \
	    "smtp_tls_session_cache_database =" \
	    "smtp_tls_connection_reuse = no"
}

# lmtp_sender NAME PORT CACHE: a sender through lmtp(8) to its own
# secmx-lmtpd (postfix-examples/master.cf.lmtp, main.cf.sender-lmtp) and
# that daemon's secmx.conf: tx's, with the caches at their defaults
# (CACHE on) or off, and a log file of its own.
lmtp_sender() {
	smx_instance_create "$1" "$2" sos.sender.test
	own_log "$1"
	hold_injected "$1"
	_d=$(smx_dir "$1")
	smx_postconf "$1" "mynetworks = 127.0.0.1/32"
	smx_example_master "$1" master.cf.lmtp
	smx_example_main "$1" main.cf.sender-lmtp
	lmtpd_config "$1" "$3"
}

# lmtpd_config NAME CACHE: $SMX_TMP/NAME/secmx/secmx.conf for a
# secmx-lmtpd of sender NAME.
lmtpd_config() {
	_d=$(smx_dir "$1")
	mkdir -p "$_d/secmx"
	chmod 0755 "$_d/secmx"
	: >"$_d/secmx-lmtpd.log"
	chown secmx "$_d/secmx-lmtpd.log"
	{
		sed "s|^local_listeners = .*|local_listeners = 127.0.0.1:$(cat "$_d/port" 2>/dev/null || echo 1)|" \
		    "$(smx_dir tx)/secmx/secmx.conf"
		echo "log_destination = $_d/secmx-lmtpd.log"
		if [ "$2" = off ]; then
			echo "tls_session_cache_timeout = 0"
			echo "smtp_connection_cache_time_limit = 0"
		fi
	} >"$_d/secmx/secmx.conf"
	chmod 0644 "$_d/secmx/secmx.conf"
}

# lmtpd_ready SOCKET: secmx-lmtpd listens there (it renames the socket
# into place once it listens).
# shellcheck disable=SC2317 # called through smx_retry
lmtpd_ready() {
	[ -S "$1" ]
}

# lmtpd_start NAME [SOCKET]: secmx-lmtpd with the ExecStart line of
# postfix-examples/secmx-lmtpd.service, paths rewritten for instance NAME
# (the socket private/secmx-lmtpd in its queue directory, or SOCKET),
# started inside NAME's cgroup. Sets LMTPD_PID.
lmtpd_start() {
	_d=$(smx_dir "$1")
	smx_example_rewrite "$1" >"$_d/lmtpd-unit.sed"
	echo "s|/usr/sbin/secmx-lmtpd|$SMX_LMTPD|g" >>"$_d/lmtpd-unit.sed"
	[ $# -lt 2 ] || echo "s|-l unix:[^ ]*|-l unix:$2|" >>"$_d/lmtpd-unit.sed"
	_cmd=$(sed -n 's/^ExecStart=//p' \
	    "$SMX_SOURCE_DIR/postfix-examples/secmx-lmtpd.service" |
	    sed -f "$_d/lmtpd-unit.sed")
	_sock=$(echo "$_cmd" | sed -n 's/.* -l unix:\([^ ]*\).*/\1/p')
	[ -n "$_sock" ] || smx_fatal "secmx-lmtpd.service: no unix socket in $_cmd"
	echo "$_cmd" >"$_d/lmtpd.cmd"
	cg_enter "$1"
	# shellcheck disable=SC2086 # the unit's command line, word-split
	$_cmd >>"$_d/lmtpd.out" 2>&1 &
	LMTPD_PID=$!
	cg_leave
	smx_track "$LMTPD_PID"
	echo "$LMTPD_PID" >"$_d/lmtpd.pid"
	smx_retry 100 0.1 lmtpd_ready "$_sock" ||
	    smx_fatal "secmx-lmtpd ($_cmd) did not listen on $_sock: $(cat "$_d/lmtpd.out")"
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
	# No per-client connection limit: every sender connects from
	# 127.0.0.1 (Postfix's default of 50 would answer 421 to some of
	# the 20 connections of the lmtpbig run while another sender's are
	# still closing).
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

	smtp_sender txsmtp "$TXSMTP_PORT"
	smtp_sender txsmtpc "$TXSMTPC_PORT"
	# Postfix's caches: TLS sessions (tlsmgr), and TLS connections kept
	# through tlsproxy(8) and scache(8).
	echo "tlsproxy  unix  -       -       n       -       0       tlsproxy" \
	    >>"$(smx_dir txsmtpc)/etc/master.cf"
	smx_postconf txsmtpc "smtp_connection_cache_on_demand = yes" \
	    "smtp_tls_session_cache_database = btree:\${data_directory}/smtp_scache" \
	    "smtp_tls_connection_reuse = yes"
	lmtp_sender txlmtp "$TXLMTP_PORT" on
	lmtp_sender txlmtpn "$TXLMTPN_PORT" off

	for _i in rx tx txsmtp txsmtpc txlmtp txlmtpn; do
		smx_port_free "$(cat "$(smx_dir "$_i")/port")" ||
		    smx_fatal "port $(cat "$(smx_dir "$_i")/port") is in use (set BENCH_DELIVERY_PORT)"
		cg_enter "$_i"
		smx_instance_start "$_i"
		cg_leave
	done
	lmtpd_start txlmtp
	lmtpd_start txlmtpn
}

# instance TRANSPORT: the sending instance of TRANSPORT.
instance() {
	case $1 in
	secmx-transport) echo tx ;;
	smtp-nocache) echo txsmtp ;;
	smtp-cache) echo txsmtpc ;;
	secmx-lmtpd-nocache) echo txlmtpn ;;
	secmx-lmtpd-cache) echo txlmtp ;;
	esac
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

# delivered: deliveries (recipients) the receiver logged so far.
delivered() {
	grep -c 'postfix-rx/discard\[[0-9]*\]: .*status=sent' \
	    "$(smx_dir rx)/maillog" 2>/dev/null || true
}

# rx_conns: SMTP connections the receiver accepted so far.
rx_conns() {
	grep -c 'postfix-rx/smtpd\[[0-9]*\]: connect from ' \
	    "$(smx_dir rx)/maillog" 2>/dev/null || true
}

# lines FILE: the number of lines in FILE (0 when there is none).
lines() {
	if [ -f "$1" ]; then
		wc -l <"$1"
	else
		echo 0
	fi
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

# inject NAME COUNT RCPTS: COUNT messages with RCPTS recipients each into
# the hold queue of sender NAME.
inject() {
	_port=$(cat "$(smx_dir "$1")/port")
	smtp-source -4 -N -s 4 -m "$2" -r "$3" -l 2048 -S secmx-bench \
	    -M client.test -f sos@sos.sender.test -t rcpt@bench.test \
	    "127.0.0.1:$_port" >"$SMX_TMP/inject.out" 2>&1 || {
		smx_show "$SMX_TMP/inject.out" 5
		return 1
	}
	smx_retry 600 0.1 held "$1" "$2"
}

# proc_cpu_ticks PID: user + system time of process PID (all its
# threads), in clock ticks; 0 when there is none.
proc_cpu_ticks() {
	[ -n "$1" ] && sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null |
	    awk '{ print $12 + $13 }' || echo 0
}

# run TRANSPORT RCPTS [MSGS]: one timed run through the sender of
# TRANSPORT; prints its RESULT line.
run() {
	_t=$1
	_r=$2
	_m=${3:-$msgs}
	_n=$(instance "$_t")
	_log=$(smx_dir "$_n")/maillog
	_dlog=$(smx_dir "$_n")/secmx-lmtpd.log
	_dpid=$(cat "$(smx_dir "$_n")/lmtpd.pid" 2>/dev/null || true)
	_err=0
	inject "$_n" "$_m" "$_r" || {
		bench_error "$_t: injecting $_m messages failed"
		_err=$_m
	}
	_before=$(delivered)
	_conns0=$(rx_conns)
	_l0=$(lines "$_log")
	_a0=$(lines "$_dlog")
	_tx0=$(cpu_ns "$_n")
	_rx0=$(cpu_ns rx)
	_dns0=$(cpu_ns dns)
	_d0=$(proc_cpu_ticks "$_dpid")
	_t0=$(now)
	postsuper -c "$(smx_dir "$_n")/etc" -H ALL 2>/dev/null
	postqueue -c "$(smx_dir "$_n")/etc" -f
	# Bounded: loopback delivery takes well under a second per message.
	smx_retry "$((_m * 10 + 600))" 0.1 done_run "$_n" \
	    "$((_before + _m * _r))" || true
	_t1=$(now)
	_tx1=$(cpu_ns "$_n")
	_rx1=$(cpu_ns rx)
	_dns1=$(cpu_ns dns)
	_d1=$(proc_cpu_ticks "$_dpid")
	_got=$(($(delivered) - _before))
	_conns=$(($(rx_conns) - _conns0))
	if [ "$_got" -lt "$((_m * _r))" ] && [ "$_err" = 0 ]; then
		_err=$(((_m * _r - _got + _r - 1) / _r))
		bench_error "$_t: $_got of $((_m * _r)) deliveries made"
		grep -E "postfix-$_n/(pipe|smtp|lmtp)\[" "$_log" |
		    grep -v 'status=sent' | smx_show /dev/stdin 5
		# Do not let leftovers spoil the next run.
		postsuper -c "$(smx_dir "$_n")/etc" -d ALL 2>/dev/null || true
	fi
	# Connection and TLS session reuse in this run, as the sender saw it.
	_extra=
	case $_t in
	smtp-*)
		_extra=$(tail -n "+$((_l0 + 1))" "$_log" |
		    grep "postfix-$_n/smtp\[[0-9]*\]: .* status=sent" |
		    awk '{ n++ } / conn_use=/ { u++ } END {
		    if (n) printf " reused_pct=%.1f", 100 * u / n }')
		;;
	secmx-lmtpd-*)
		_extra=$(tail -n "+$((_a0 + 1))" "$_dlog" |
		    grep 'secmx/lmtpd\[[0-9]*\]: .* status=sent' |
		    awk '{ n++ } / conn=reused/ { u++ } / resumed=yes/ { r++ } END {
		    if (n) printf " reused_pct=%.1f resumed_pct=%.1f", 100 * u / n, 100 * r / n }')
		_extra=" daemon_cpu=$(awk -v a="$_d0" -v b="$_d1" -v hz="$(getconf CLK_TCK)" -v m="$_m" 'BEGIN { printf "%.5f", (b - a) / hz / m }')$_extra"
		;;
	esac
	awk -v t="$_t" -v r="$_r" -v m="$_m" -v t0="$_t0" -v t1="$_t1" \
	    -v tx="$((_tx1 - _tx0))" -v rx="$((_rx1 - _rx0))" \
	    -v dns="$((_dns1 - _dns0))" -v c="$_conns" -v x="$_extra" \
	    -v e="$_err" -v kind="$CG_KIND" 'BEGIN {
	    split_ = ""
	    if (kind != "proc")
		split_ = sprintf(" tx_cpu=%.5f rx_cpu=%.5f dns_cpu=%.5f", tx / 1e9 / m, rx / 1e9 / m, dns / 1e9 / m)
	    # With /proc/stat each figure is the whole machine: count it once.
	    cpu = kind == "proc" ? tx : tx + rx + dns
	    printf "RESULT scenario=delivery transport=%s rcpts=%d msgs=%d msgs_per_s=%.2f cpu_s_per_msg=%.5f%s%s rx_conns_per_msg=%.3f errors=%d\n",
	    t, r, m, m / (t1 - t0), cpu / 1e9 / m, split_, x, c / m, e }'
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

# lmtpbig_run I: a fresh secmx-lmtpd (instance directory lmtpbigI, cache
# configuration, its own socket and cgroup) gets big_conns messages of
# big_size_mib MiB at once from secmx-lmtp-load; its VmHWM afterwards.
lmtpbig_run() {
	_n=lmtpbig$1
	_d=$(smx_dir "$_n")
	mkdir -p "$_d"
	chmod 0755 "$_d"
	echo "$TXLMTP_PORT" >"$_d/port"
	lmtpd_config "$_n" on
	mkdir -p "$_d/run"
	chown secmx "$_d/run"
	lmtpd_start "$_n" "$_d/run/secmx-lmtpd"
	_before=$(delivered)
	_err=0
	"$SMX_LMTP_LOAD" -s "unix:$_d/run/secmx-lmtpd" -c "$big_conns" \
	    -z "$((big_size_mib * 1024))" -p "$LMTPD_PID" \
	    -f sos@sos.sender.test -r big@bench.test \
	    >"$SMX_TMP/lmtpbig.out" 2>"$SMX_TMP/lmtpbig.err" || _err=1
	if [ "$_err" != 0 ] || [ ! -s "$SMX_TMP/lmtpbig.out" ]; then
		bench_error "lmtpbig: secmx-lmtp-load failed: $(tail -n 3 "$SMX_TMP/lmtpbig.err")"
		_err=1
	elif ! smx_retry 600 0.1 done_run rx "$((_before + big_conns))"; then
		_err=1
		bench_error "lmtpbig: the receiver did not deliver every message"
	fi
	smx_stop_pid "$LMTPD_PID"
	wait "$LMTPD_PID" 2>/dev/null || true
	smx_untrack "$LMTPD_PID"
	# conns=N size_kib=S ok=K max_inflight=M max_threads=T seconds=X hwm_kib=H errors=E
	awk -v e="$_err" -v mib="$big_size_mib" '{
	    for (i = 1; i <= NF; i++) { k = index($i, "="); f[substr($i, 1, k - 1)] = substr($i, k + 1) }
	    printf "RESULT scenario=lmtpbig transport=secmx-lmtpd conns=%d size_mib=%d hwm_kib=%d max_inflight=%d max_threads=%d seconds=%s errors=%d\n",
	    f["conns"], mib, f["hwm_kib"], f["max_inflight"], f["max_threads"], f["seconds"], (e + 0 > 0 || f["errors"] + 0 > 0) }' \
	    "$SMX_TMP/lmtpbig.out"
	[ -s "$SMX_TMP/lmtpbig.out" ] ||
	    echo "RESULT scenario=lmtpbig transport=secmx-lmtpd conns=$big_conns size_mib=$big_size_mib errors=1"
}

# profile_run: two secmx-lmtpd-cache runs, at 1 and at 10 recipients,
# with perf recording the daemon (DWARF call graphs with 64 KiB of stack, 999 Hz); PROFILE
# lines with the share of samples per library and per symbol (self
# time), and the inclusive share of the parts of a delivery.
profile_run() {
	if ! command -v perf >/dev/null 2>&1; then
		echo "NOTE profile: perf is not installed; no profile"
		return 0
	fi
	_pid=$(cat "$(smx_dir txlmtp)/lmtpd.pid")
	_pd=$SMX_TMP/perf.data
	perf record --call-graph dwarf,65528 -F 999 -p "$_pid" -o "$_pd" \
	    >"$SMX_TMP/perf.out" 2>&1 &
	_perf=$!
	smx_track "$_perf"
	sleep 1
	: >"$SMX_TMP/profile.result"
	for _r in 1 10; do
		run secmx-lmtpd-cache "$_r" >>"$SMX_TMP/profile.result"
	done
	kill -INT "$_perf" 2>/dev/null || true
	wait "$_perf" 2>/dev/null || true
	smx_untrack "$_perf"
	if [ ! -s "$_pd" ]; then
		echo "NOTE profile: perf record failed: $(tail -n 2 "$SMX_TMP/perf.out" | tr '\n' ' ')"
		return 0
	fi
	echo "COMMAND perf record --call-graph dwarf,65528 -F 999 -p SECMX-LMTPD-PID during two secmx-lmtpd-cache runs of $msgs messages (1 and 10 recipients); perf report --no-children --sort dso / dso,sym; perf report --children --sort sym"
	sed 's/^RESULT /PROFILE run /' "$SMX_TMP/profile.result"
	perf report -i "$_pd" --no-children --sort dso --stdio -g none \
	    2>/dev/null |
	    awk '/^ *[0-9.]+%/ { sub(/%/, "", $1); if (n++ < 12) printf "PROFILE dso pct=%s name=%s\n", $1, $2 }'
	perf report -i "$_pd" --no-children --sort dso,sym --stdio -g none \
	    2>/dev/null |
	    awk '/^ *[0-9.]+%/ { p = $1; sub(/%/, "", p); d = $2; $1 = ""; $2 = ""; $3 = ""; sub(/^ +/, ""); if (n++ < 25) printf "PROFILE sym pct=%s dso=%s name=%s\n", p, d, $0 }'
	# Inclusive shares of the parts of a delivery.
	perf report -i "$_pd" --children --sort sym --stdio -g none 2>/dev/null |
	    awk '/^ *[0-9.]+%/ { c = $1; sub(/%/, "", c); $1 = ""; $2 = ""; $3 = ""; sub(/^ +/, "");
	    if ($0 ~ /^(lmtpd_session_run|lmtp_data_feed|spool_append|deliver_run|smx_route_srv|smx_dns_lookup_srv|smx_dns_lookup_addrs|ldns_resolver_send_pkt|deliver_is_local_addr|smtp_session_deliver|smtp_cache_take|smtp_cache_put|smtp_cache_discard|smtp_conn_open|smtp_conn_starttls|smx_tls_connect|SSL_do_handshake|smx_tls_peer_digest|smtp_conn_write|smtp_conn_read_reply|smtp_conn_read_final_reply|smtp_data_send_spool|SSL_write|SSL_read|smx_log_info|log_file_line|expire_idle|smtp_cache_expire|__libc_malloc|malloc|free|__clone3|start_thread)$/)
		if (!seen[$0]++) printf "PROFILE incl pct=%s name=%s\n", c, $0 }'
}

cg_setup
trap bench_exit EXIT
setup
echo "NOTE delivery cpu_s_per_msg measured with: $(case $CG_KIND in
v2) echo "cgroup v2 cpu.stat usage_usec of the sender (secmx-lmtpd included), the receiver and nsd" ;;
v1) echo "cgroup v1 cpuacct.usage of the sender (secmx-lmtpd included), the receiver and nsd" ;;
*) echo "/proc/stat busy time of the whole machine (no cgroup available)" ;;
esac)"

# has_rcpts TRANSPORT RCPTS: TRANSPORT runs with RCPTS recipients
# (secmx-transport takes one recipient per run: only 1).
has_rcpts() {
	[ "$1" != secmx-transport ] || [ "$2" = 1 ]
}

# Warm up every path (process start, DNS, TLS, caches) and check that it
# delivers.
warm=$((msgs < 50 ? msgs : 50))
for r in $rcpts_list; do
	for t in $transports; do
		! has_rcpts "$t" "$r" || run "$t" "$r" "$warm" >/dev/null
	done
done
echo "COMMAND smtp-source -4 -N -s 4 -m $msgs -r RCPTS -l 2048 -S secmx-bench -M client.test -f sos@sos.sender.test -t rcpt@bench.test 127.0.0.1:SENDER-PORT (held), then postsuper -c SENDER-CONFIG -H ALL; postqueue -c SENDER-CONFIG -f; wait for an empty queue and $msgs x RCPTS deliveries (RCPTS: $rcpts_list)"
i=1
while [ "$i" -le "$runs" ]; do
	for r in $rcpts_list; do
		for t in $transports; do
			! has_rcpts "$t" "$r" || run "$t" "$r"
		done
	done
	i=$((i + 1))
done

# The secmx paths really used SRV and TLS with a verified certificate.
if grep -q 'secmx/transport\[' "$SMX_SYSLOG"; then
	if grep 'secmx/transport\[' "$SMX_SYSLOG" | grep 'status=sent' |
	    grep -v 'route=srv .*verify=ca' | grep -q .; then
		bench_error "secmx-transport delivered other than by SRV with a verified certificate"
	fi
else
	case " $transports " in
	*" secmx-transport "*)
		echo "NOTE no secmx/transport audit lines captured (syslog sink unavailable)" ;;
	esac
fi
for n in txlmtp txlmtpn; do
	f=$(smx_dir "$n")/secmx-lmtpd.log
	if grep 'secmx/lmtpd\[' "$f" | grep 'status=sent' |
	    grep -v 'route=srv .*verify=ca' | grep -q .; then
		bench_error "secmx-lmtpd ($n) delivered other than by SRV with a verified certificate"
	fi
	if grep -Eq 'secmx/lmtpd\[[0-9]+\]: (error|fatal|panic|warning):' "$f"; then
		grep -E 'secmx/lmtpd\[[0-9]+\]: (error|fatal|panic|warning):' "$f" |
		    sed "s/^/NOTE $n: /" | head -n 5
	fi
done
# The caches did what they are for, and only where they are on.
if grep 'secmx/lmtpd\[' "$(smx_dir txlmtpn)/secmx-lmtpd.log" |
    grep -Eq ' (conn=reused|resumed=yes)'; then
	bench_error "secmx-lmtpd-nocache reused a connection or TLS session"
fi
if grep "postfix-txsmtp/smtp\[" "$(smx_dir txsmtp)/maillog" | grep -q ' conn_use='; then
	bench_error "smtp-nocache reused a connection"
fi

[ -z "$profile" ] || profile_run

big=$SMX_TMP/bigmsg.eml
bigmsg_make "$big"
echo "COMMAND /usr/bin/time -f %M secmx-transport -c secmx.conf -f sos@sos.sender.test -q BIGMSG -n [127.0.0.1]:$RX_PORT -- big@bench.test < ${size_mib}MiB message"
i=1
while [ "$i" -le "$runs" ]; do
	bigmsg_run "$big"
	i=$((i + 1))
done
rm -f "$big"

echo "COMMAND secmx-lmtp-load -s unix:SOCKET -c $big_conns -z $((big_size_mib * 1024)) -p SECMX-LMTPD-PID -f sos@sos.sender.test -r big@bench.test (a fresh secmx-lmtpd per run, its VmHWM afterwards)"
i=1
while [ "$i" -le "$runs" ]; do
	lmtpbig_run "$i"
	i=$((i + 1))
done

[ "$ERRORS" = 0 ] || smx_fatal "$ERRORS error(s)"
smx_log "done"
smx_finish >/dev/null
