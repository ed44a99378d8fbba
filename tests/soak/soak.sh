#!/bin/sh
# soak.sh - the soak run of scripts/soak: every secmx daemon under steady,
# hostile load for a long time, watched every 10 s.
#
#   tests/soak/soak.sh --build DIR --out DIR [--minutes N] [--warmup S]
#       [--conns N] [--rate R] [--mail-interval S]
#
# What runs, all on loopback, at the same time:
#
#   policy  secmx-policyd in daemon mode, started with the ExecStart line
#           of postfix-examples/secmx-policyd.service (unix socket, -u
#           secmx), log_destination a file. secmx-soak-policy keeps
#           --conns connections (default 1000) to it that open and close
#           all the time, about --rate requests a second (default 1000),
#           valid ones of every address form and TLS state and malformed
#           ones, checks every answer, writes a changed configuration
#           and table with SIGHUP every 10 s and a broken one every 60 s
#           (the first 30 s in), rotates the log at each, and knows which
#           generation is in force (tests/soak/soak_policy.c).
#   pipe    a sending Postfix "tx" with secmx-transport as its pipe(8)
#           transport (postfix-examples/master.cf.transport and
#           main.cf.sender, paths rewritten only).
#   lmtp    a sending Postfix "txl" with lmtp(8) to secmx-lmtpd
#           (master.cf.lmtp, main.cf.sender-lmtp; the daemon started with
#           the ExecStart line of secmx-lmtpd.service). SIGHUP every 30 s
#           with a changed secmx.conf (a new generation, its caches
#           freed by the last delivery that used them). Once a minute
#           both daemons are stopped five times for 0.1 s (SIGSTOP,
#           SIGCONT), as a debugger or a frozen cgroup would.
#   peers   smx-smtp-peer receivers (-F, STARTTLS, a certificate each),
#           found through _secmx._tcp SRV records at an nsd on a port
#           outside the kernel's ephemeral range: ok.test (accepts; a
#           recipient with "temp" gets 450, one with "bad" 550),
#           stall.test (never answers), drop.test (closes the connection
#           in the middle of DATA), eod4.test and eod5.test (452 and 554
#           after the data), reset.test (a TCP reset in the TLS
#           handshake). Each one writes the recipients of every message
#           it accepts to an ack file (-A).
#   mail    first 40 messages to txl and 20 to tx at once, each with a
#           recipient at stall.test, so that both transports work at
#           their full concurrency (20; txl starts at it) during the
#           warm-up; then one message every --mail-interval seconds
#           (default 0.5), alternately into tx and txl with sendmail(1),
#           from a Secure Only or a Best Effort Sender, to one to three
#           recipients of twelve patterns over the receivers above;
#           every tenth message has a 256 KiB body. The senders retry
#           deferred mail after 15 to 60 s and give it up (bounce) after
#           3 minutes, so that the load is steady after a while.
#
# Every 10 s: VmRSS, VmHWM, open descriptors, children and threads of
# secmx-policyd and secmx-lmtpd, the secmx-transport processes running,
# the queues of both senders and the policy requests so far
# ($OUT/samples.tsv).
#
# At the end: the mail still queued is settled (deliveries to the
# secmx transports deferred, the running ones finished) and every
# recipient is looked up: in the receivers' ack files (delivered), in the
# DSNs in the senders' mailboxes (bounced, with the status) and in the
# senders' queues (deferred). Then the daemons are stopped by PID.
#
# Verdicts ($OUT/verdicts, "check NAME pass|fail DETAIL" lines):
#   answers    secmx-soak-policy found no wrong answer and no other error
#              (answers to malformed requests, connections closed or not
#              answered, reloads not taken up, log lines missing);
#   alive      secmx-policyd and secmx-lmtpd ran to the end and exited 0
#              on SIGTERM; no sanitizer report; no "panic" or "fatal" in
#              the log, no pipe(8) command killed by a signal or its time
#              limit, no LMTP conversation with secmx-lmtpd broken off;
#   rss-*, fds-*
#              after the warm-up (--warmup, default 30% of the run, at
#              least 20 s, and at least 5 minutes in a run that judges
#              RSS) the largest of the last three samples exceeds
#              the largest of the three that end the warm-up by less than
#              5%, or by less than a small absolute slack (1 MiB of RSS;
#              32 descriptors for secmx-policyd, whose 1,000 connections
#              churn, 48 for secmx-lmtpd, whose LMTP and SMTP connections
#              come and go with the mail): a sample is one moment of a
#              busy daemon on a busy machine. RSS is judged in runs of
#              10 minutes or more, and not with sanitizers;
#   tally      every recipient is in exactly one place: delivered once,
#              bounced once or deferred; none delivered that must not be,
#              none bounced permanently that must not be.
# The exit status is 0 when every check passed, 1 otherwise.
#
# Needs root, Postfix, nsd, drill; the build DIR with secmx-policyd,
# secmx-lmtpd, secmx-transport, smx-smtp-peer, smx-logsink and
# secmx-soak-policy. Every process it starts is stopped by PID.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
SMX_SOURCE_DIR=$top
export SMX_SOURCE_DIR
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
. "$top/tests/integration/lib.sh"
smx_namespace "$@"

build=
out=
minutes=10
warmup=
conns=1000
rate=1000
mail_interval=0.5
usage() {
	echo "usage: $0 --build DIR --out DIR [--minutes N] [--warmup SECONDS] [--conns N] [--rate R] [--mail-interval S]" >&2
	exit 64
}
while [ $# -gt 0 ]; do
	case $1 in
	--build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
	--out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
	--minutes) [ $# -ge 2 ] || usage; minutes=$2; shift 2 ;;
	--warmup) [ $# -ge 2 ] || usage; warmup=$2; shift 2 ;;
	--conns) [ $# -ge 2 ] || usage; conns=$2; shift 2 ;;
	--rate) [ $# -ge 2 ] || usage; rate=$2; shift 2 ;;
	--mail-interval) [ $# -ge 2 ] || usage; mail_interval=$2; shift 2 ;;
	*) usage ;;
	esac
done
if [ -z "$build" ] || [ -z "$out" ]; then
	usage
fi
for n in "$minutes" "$conns" "$rate" ${warmup:+"$warmup"}; do
	case $n in '' | *[!0-9]*) usage ;; esac
done
[ "$minutes" -ge 1 ] || usage
build=$(cd "$build" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
seconds=$((minutes * 60))
# A run under RSS_JUDGED_MINUTES is too short for secmx-lmtpd's memory
# to settle (TLS session and connection caches, malloc arenas, a new
# configuration every 30 s): RSS is shown but not judged there. Under
# this load it settles in about RSS_SETTLE_S (RELIABILITY.md: the
# samples of a 30-minute run), so a run that judges RSS warms up at
# least that long.
RSS_JUDGED_MINUTES=10
RSS_SETTLE_S=300
if [ -z "$warmup" ]; then
	warmup=$((seconds * 3 / 10 / 10 * 10))
	[ "$warmup" -ge 20 ] || warmup=20
	if [ "$minutes" -ge "$RSS_JUDGED_MINUTES" ] &&
	    [ "$warmup" -lt "$RSS_SETTLE_S" ]; then
		warmup=$RSS_SETTLE_S
	fi
fi

SMX_LOGSINK=$build/tests/integration/smx-logsink
SMX_POLICYD=$build/policyd/secmx-policyd
SMX_TRANSPORT=$build/transport/secmx-transport
LMTPD=$build/transport/secmx-lmtpd
PEER=$build/tests/integration/smx-smtp-peer
DRIVER=$build/tests/soak/secmx-soak-policy
for p in "$SMX_LOGSINK" "$SMX_POLICYD" "$SMX_TRANSPORT" "$LMTPD" "$PEER" \
    "$DRIVER"; do
	[ -x "$p" ] || smx_fatal "not built: $p"
done
export SMX_LOGSINK SMX_POLICYD
# A sanitizer build: its own memory (ASan's quarantine of freed blocks)
# grows, so RSS is shown but not judged there either.
sanitize=$(sed -n 's/^SECMX_SANITIZE:STRING=//p' "$build/CMakeCache.txt" \
    2>/dev/null || true)
smx_require nsd drill sendmail postqueue postconf awk
smx_init
smx_ensure_user secmx

# The receivers: NAME:SCENARIO.
PEERS="ok:normal stall:stall drop:dropdata eod4:eod4 eod5:eod5 reset:hs_reset"
rm -f "$out/samples.tsv" "$out/policy.stats" "$out/policy.summary" \
    "$out/policy.err" "$out/sent.tsv" "$out/tally.tsv" "$out/verdicts" \
    "$out/settings" "$out/log-checks"
: >"$out/verdicts"

# verdict NAME pass|fail|info DETAIL: one line of $out/verdicts, and on
# the terminal; info is a figure that is not judged.
verdict() {
	printf 'check %s %s %s\n' "$1" "$2" "$3" >>"$out/verdicts"
	case $2 in
	pass) smx_pass "$1: $3" ;;
	info) smx_log "$1 (not judged): $3" ;;
	*) smx_fail "$1: $3" ;;
	esac
}

# ---- set-up

# Programs that run as secmx (pipe(8)'s user=, -u) must be reachable.
bin=$SMX_TMP/bin
mkdir -p "$bin"
chmod 0755 "$bin"
for p in "$SMX_POLICYD" "$SMX_TRANSPORT" "$LMTPD"; do
	cp "$p" "$bin/"
	chmod 0755 "$bin/${p##*/}"
done
SMX_POLICYD=$bin/secmx-policyd

certs=$SMX_TMP/certs
names=
for pe in $PEERS; do
	names="$names mx.${pe%%:*}.test"
done
# shellcheck disable=SC2086 # host names without blanks
"$top/scripts/make-test-certs" "$certs" $names >"$SMX_TMP/certs.log" 2>&1 ||
    smx_fatal "make-test-certs failed: $(cat "$SMX_TMP/certs.log")"
chmod 0755 "$certs"
chmod 0644 "$certs"/*.pem
chmod 0600 "$certs"/*.key

acks=$SMX_TMP/acks
mkdir -p "$acks"
zone=$SMX_TMP/dns
mkdir -p "$zone"
cat >"$zone/test.zone" <<EOF
; tests/soak/soak.sh: one SecMX receiver (smx-smtp-peer) per domain.
\$ORIGIN test.
\$TTL 300
@		IN SOA	ns.test. hostmaster.test. 1 3600 600 86400 300
@		IN NS	ns
ns		IN A	127.0.0.1
EOF
for pe in $PEERS; do
	name=${pe%%:*}
	"$PEER" -F -s "${pe#*:}" -c "$certs/mx.$name.test.pem" \
	    -k "$certs/mx.$name.test.key" -t /dev/null \
	    -p "$SMX_TMP/peer-$name.pid" -A "$acks/$name" \
	    >"$SMX_TMP/peer-$name.port" 2>"$SMX_TMP/peer-$name.err" &
	smx_track $!
	smx_retry 100 0.1 test -s "$SMX_TMP/peer-$name.port" ||
	    smx_fatal "smx-smtp-peer $name did not start: $(cat "$SMX_TMP/peer-$name.err")"
	printf '_secmx._tcp.%s\tIN SRV\t10 0 %s mx.%s\nmx.%s\t\tIN A\t127.0.0.1\n' \
	    "$name" "$(head -n 1 "$SMX_TMP/peer-$name.port")" "$name" \
	    "$name" >>"$zone/test.zone"
done

# dns_ready: nsd answers with the SRV record of ok.test.
# shellcheck disable=SC2317 # called through smx_retry
dns_ready() {
	drill -p "$nsd_port" _secmx._tcp.ok.test @127.0.0.1 SRV 2>/dev/null |
	    grep -q 'IN[[:space:]]*SRV[[:space:]]*10 0'
}
nsd_port=15401
smx_port_start nsd_port "$nsd_port" smx_nsd_start \
    "$top/tests/data/dns/matrix/nsd.conf.in" test "$zone" ||
    smx_fatal "nsd did not start"
smx_retry 100 0.1 dns_ready || smx_fatal "nsd does not answer for ok.test"

# sender NAME PORT HELO: a sending instance with its secmx.conf.
sender() {
	smx_instance_create "$1" "$2" sos.sender.test bes.sender.test
	_d=$(smx_dir "$1")
	smx_postconf "$1" "mynetworks = 127.0.0.1/32" \
	    "queue_run_delay = 15s" "minimal_backoff_time = 15s" \
	    "maximal_backoff_time = 60s" "maximal_queue_lifetime = 3m" \
	    "bounce_queue_lifetime = 3m"
	printf 'sos.sender.test\tsos\n' >"$_d/secmx/sender_roles"
	cat >"$_d/secmx/secmx.conf" <<EOF
# secmx.conf of the soak sender $1.
sender_roles = $_d/secmx/sender_roles
default_sender_role = bes
dns_nameservers = 127.0.0.1:$nsd_port
dns_timeout = 5s
tls_verify = ca
tls_ca_file = $certs/ca.pem
helo_name = $3
local_listeners = 127.0.0.1:$2
smtp_connect_timeout = 5s
smtp_timeout = 5s
delivery_time_limit = 300s
EOF
	chmod 0644 "$_d/secmx/secmx.conf" "$_d/secmx/sender_roles"
}

smx_port_pick 2680 || smx_fatal "no port for tx"
tx_port=$SMX_PORT
smx_port_pick 2681 || smx_fatal "no port for txl"
txl_port=$SMX_PORT
sender tx "$tx_port" tx.test
smx_example_master tx master.cf.transport \
    "s|/usr/libexec/secmx/secmx-transport|$bin/secmx-transport|g"
smx_example_main tx main.cf.sender
sender txl "$txl_port" txl.test
smx_example_master txl master.cf.lmtp
smx_example_main txl main.cf.sender-lmtp
# The example's concurrency limit (20) from the first delivery on, not
# after Postfix's slow start: the warm-up reaches it.
smx_postconf txl "secmx_lmtp_initial_destination_concurrency = 20"
smx_instance_start tx
smx_instance_start txl

# secmx-lmtpd as its unit starts it, paths rewritten only.
txl=$(smx_dir txl)
smx_example_rewrite txl >"$txl/unit.sed"
echo "s|/usr/sbin/secmx-lmtpd|$bin/secmx-lmtpd|" >>"$txl/unit.sed"
lmtpd_cmd=$(sed -n 's/^ExecStart=//p' \
    "$top/postfix-examples/secmx-lmtpd.service" | sed -f "$txl/unit.sed")
lmtpd_sock=$(echo "$lmtpd_cmd" | sed -n 's/.* -l unix:\([^ ]*\).*/\1/p')
[ -n "$lmtpd_sock" ] || smx_fatal "no unix: listener in secmx-lmtpd.service"
# shellcheck disable=SC2086 # the unit's command line, word-split
$lmtpd_cmd >>"$SMX_TMP/lmtpd.out" 2>&1 &
lmtpd_pid=$!
smx_track "$lmtpd_pid"
smx_wait_socket "$lmtpd_sock" ||
    smx_fatal "secmx-lmtpd ($lmtpd_cmd) did not listen: $(cat "$SMX_TMP/lmtpd.out")"

# secmx-policyd with generation 0 of secmx-soak-policy's configuration.
rx=$SMX_TMP/rx
mkdir -p "$rx/secmx" "$rx/queue/private" "$rx/log"
chmod 0755 "$rx" "$rx/secmx" "$rx/queue"
chown secmx "$rx/log"
policyd_log=$rx/log/policyd.log
"$DRIVER" --prepare -D "$rx/secmx" -L "$policyd_log" ||
    smx_fatal "secmx-soak-policy --prepare failed"
smx_policyd_daemon rx
policyd_pid=$SMX_POLICYD_PID

{
	echo "minutes=$minutes warmup_s=$warmup conns=$conns rate=$rate mail_interval_s=$mail_interval"
	echo "policyd_cmd=$(cat "$rx/policyd.cmd")"
	echo "lmtpd_cmd=$lmtpd_cmd"
	echo "nsd_port=$nsd_port tx_port=$tx_port txl_port=$txl_port"
} | sed "s|$SMX_TMP|\$TMP|g" >"$out/settings"

# ---- the mail

small=$SMX_TMP/body.small
big=$SMX_TMP/body.big
printf 'A soak message.\n' >"$small"
# 256 KiB of 64-character lines.
awk 'BEGIN { for (i = 0; i < 4096; i++)
    printf "%063d\n", i }' >"$big"

# recipients I TOKEN: the recipients of message I, "ADDRESS CLASS" per
# line; CLASS is what must become of it: sent, bounce (permanent) or
# defer (deferred, or bounced with a 4.x.x status once it expires).
recipients() {
	case $(($1 % 12)) in
	0) echo "$2-a@ok.test sent" ;;
	1) printf '%s\n' "$2-a@ok.test sent" "$2-temp@ok.test defer" ;;
	2) printf '%s\n' "$2-a@ok.test sent" "$2-bad@ok.test bounce" ;;
	3) printf '%s\n' "$2-a@ok.test sent" "$2-b@ok.test sent" ;;
	4) echo "$2-x@stall.test defer" ;;
	5) echo "$2-x@drop.test defer" ;;
	6) echo "$2-x@eod4.test defer" ;;
	7) echo "$2-x@eod5.test bounce" ;;
	8) echo "$2-x@reset.test defer" ;;
	9) printf '%s\n' "$2-a@ok.test sent" "$2-x@eod5.test bounce" \
	    "$2-x@stall.test defer" ;;
	10) printf '%s\n' "$2-a@ok.test sent" "$2-temp@ok.test defer" \
	    "$2-bad@ok.test bounce" ;;
	*) printf '%s\n' "$2-a@ok.test sent" "$2-x@drop.test defer" ;;
	esac
}

# inject I [INSTANCE TOKEN PATTERN]: message I into tx (even I) or
# txl (odd I), from a Secure Only Sender (I % 4 < 2) or a Best Effort
# Sender, to the recipients of pattern I (or PATTERN); one line per
# recipient in $out/sent.tsv: "TOKEN INSTANCE SENDER ADDRESS CLASS".
inject() {
	if [ $# -gt 1 ]; then
		_inst=$2
		_tok=$3
	elif [ $(($1 % 2)) = 0 ]; then
		_inst=tx
		_tok=s$1p
	else
		_inst=txl
		_tok=s$1l
	fi
	if [ $(($1 % 4)) -lt 2 ]; then
		_from=sos@sos.sender.test
	else
		_from=bes@bes.sender.test
	fi
	_body=$small
	[ $(($1 % 10)) != 9 ] || _body=$big
	recipients "${4:-$1}" "$_tok" >"$SMX_TMP/rcpts"
	# shellcheck disable=SC2046 # addresses without blanks
	if ! {
		printf 'From: <%s>\nTo: undisclosed-recipients:;\nSubject: %s\nMessage-ID: <%s@soak.test>\n\n' \
		    "$_from" "$_tok" "$_tok"
		cat "$_body"
	} | sendmail -C "$(smx_dir "$_inst")/etc" -f "$_from" -- \
	    $(cut -d' ' -f1 "$SMX_TMP/rcpts"); then
		echo "sendmail: message $_tok not taken" >>"$out/inject.err"
		return 0
	fi
	sed "s/^/$_tok $_inst $_from /" "$SMX_TMP/rcpts" >>"$out/sent.tsv"
}

# inject_loop END: first, for the warm-up, 40 messages to txl and 20 to
# tx with a recipient at ok.test, one at eod5.test and one at the
# stalling stall.test, so that both transports reach their full
# concurrency (20) at once and the daemons' memory its level for it;
# then a message every mail_interval seconds until END.
inject_loop() {
	_i=0
	while [ "$_i" -lt 60 ]; do
		if [ "$_i" -lt 40 ]; then
			inject "$_i" txl "w${_i}l" 9
		else
			inject "$_i" tx "w${_i}p" 9
		fi
		_i=$((_i + 1))
	done
	_i=0
	while [ "$(date +%s)" -lt "$1" ]; do
		inject "$_i"
		_i=$((_i + 1))
		sleep "$mail_interval"
	done
}

# ---- the samples

# status_kib PID FIELD: a kB field of /proc/PID/status ("-" when gone).
status_field() {
	awk -v f="$2:" '$1 == f { print $2; found = 1 }
	    END { if (!found) print "-" }' "/proc/$1/status" 2>/dev/null ||
	    echo -
}

# fds PID: open descriptors of PID.
fds() {
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

children() {
	ps -o pid= --ppid "$1" 2>/dev/null | wc -l
}

# queue_count NAME SUBDIR...: files in those queue directories.
queue_count() {
	_q=$(smx_dir "$1")/queue
	shift
	for _s in "$@"; do
		find "$_q/$_s" -type f 2>/dev/null
	done | wc -l
}

# transports: secmx-transport processes of the instance tx.
transports() {
	_m=$(tr -dc 0-9 <"$(smx_dir tx)/queue/pid/master.pid" 2>/dev/null)
	[ -n "$_m" ] || { echo 0; return; }
	for _p in $(smx_descendants "$_m"); do
		ps -o comm= -p "$_p" 2>/dev/null
	done | grep -c '^secmx-transport$' || true
}

# sample T: one line of samples.tsv.
sample() {
	_req=$(sed -n 's/.* requests=\([0-9]*\) .*/\1/p' "$out/policy.stats" \
	    2>/dev/null | tail -n 1)
	printf '%s' "$1"
	for _p in "$policyd_pid" "$lmtpd_pid"; do
		printf '\t%s\t%s\t%s\t%s\t%s' "$(status_field "$_p" VmRSS)" \
		    "$(status_field "$_p" VmHWM)" "$(fds "$_p")" \
		    "$(children "$_p")" "$(status_field "$_p" Threads)"
	done
	printf '\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(transports)" \
	    "$(queue_count tx incoming active maildrop)" \
	    "$(queue_count tx deferred)" \
	    "$(queue_count txl incoming active maildrop)" \
	    "$(queue_count txl deferred)" "${_req:-0}"
}

# ---- the run

printf 't_s\tpolicyd_rss_kib\tpolicyd_hwm_kib\tpolicyd_fds\tpolicyd_children\tpolicyd_threads\tlmtpd_rss_kib\tlmtpd_hwm_kib\tlmtpd_fds\tlmtpd_children\tlmtpd_threads\ttransports\ttx_queue\ttx_deferred\ttxl_queue\ttxl_deferred\tpolicy_requests\n' \
    >"$out/samples.tsv"
echo "driver_cmd=secmx-soak-policy -s $SMX_POLICYD_LISTEN -p PID -D $rx/secmx -L $policyd_log -d $seconds -c $conns -r $rate --stats OUT/policy.stats" |
    sed "s|$SMX_TMP|\$TMP|g" >>"$out/settings"
t0=$(date +%s)
end=$((t0 + seconds))
smx_log "soak: $minutes minute(s), warm-up ${warmup}s; policyd pid $policyd_pid, lmtpd pid $lmtpd_pid"
"$DRIVER" -s "$SMX_POLICYD_LISTEN" -p "$policyd_pid" -D "$rx/secmx" \
    -L "$policyd_log" -d "$seconds" -c "$conns" -r "$rate" \
    --stats "$out/policy.stats" >"$out/policy.summary" \
    2>"$out/policy.err" &
driver_pid=$!
smx_track "$driver_pid"
inject_loop "$end" &
inject_pid=$!
smx_track "$inject_pid"

lmtpd_gen=0
next=$t0
while smx_pid_alive "$driver_pid"; do
	now=$(date +%s)
	if [ "$now" -ge "$next" ]; then
		sample "$((now - t0))" >>"$out/samples.tsv"
		# secmx-lmtpd: a new generation every 30 s.
		if [ "$now" -gt "$t0" ] && [ $(((now - t0) % 30)) -lt 10 ]; then
			lmtpd_gen=$((lmtpd_gen + 1))
			sed -i '/^smtp_connection_cache_time_limit/d' \
			    "$txl/secmx/secmx.conf"
			echo "smtp_connection_cache_time_limit = $((2 + lmtpd_gen % 2))s" \
			    >>"$txl/secmx/secmx.conf"
			kill -HUP "$lmtpd_pid" 2>/dev/null || true
		fi
		# Both daemons stopped five times for 0.1 s once a minute (a
		# debugger, a frozen cgroup, an overloaded host): their waits
		# end with EINTR, which must change nothing.
		if [ $(((now - t0) % 60)) -ge 20 ] &&
		    [ $(((now - t0) % 60)) -lt 30 ]; then
			for _s in 1 2 3 4 5; do
				kill -STOP "$policyd_pid" "$lmtpd_pid" \
				    2>/dev/null || true
				sleep 0.1
				kill -CONT "$policyd_pid" "$lmtpd_pid" \
				    2>/dev/null || true
				sleep 0.4
			done
		fi
		next=$((next + 10))
	fi
	sleep 1
done
driver_rc=0
wait "$driver_pid" || driver_rc=$?
smx_untrack "$driver_pid"
wait "$inject_pid" 2>/dev/null || true
smx_untrack "$inject_pid"
sample "$(($(date +%s) - t0))" >>"$out/samples.tsv"
smx_log "soak: load done after $(($(date +%s) - t0))s; settling the mail"

# ---- the end: settle, tally, stop

# settled NAME...: nothing waiting or being delivered in those senders.
# shellcheck disable=SC2317 # called through smx_retry
settled() {
	for _n in "$@"; do
		[ "$(queue_count "$_n" incoming active maildrop)" = 0 ] ||
		    return 1
	done
}
# The last messages get their first attempt (up to 20 s: smtp_timeout
# is 5 s; retries of deferred mail keep coming, so the queues may not
# empty); then new attempts to the secmx transports are deferred at
# once, the running ones finish, and nothing moves while the places of
# the recipients are read.
smx_retry 200 0.1 settled tx txl || true
for n in tx txl; do
	smx_postconf "$n" "defer_transports = secmx secmx_lmtp"
	smx_instance_reload "$n"
done
smx_retry 600 0.1 settled tx txl ||
    verdict settle fail "mail still being delivered 60s after the load ended"
sleep 1

# The places of every recipient.
for n in tx txl; do
	postqueue -c "$(smx_dir "$n")/etc" -j 2>/dev/null |
	    grep -o '"address": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' |
	    sed "s/^/queued $n /"
done >"$SMX_TMP/places"
cat "$acks"/* 2>/dev/null | sed 's/^/acked /' >>"$SMX_TMP/places"
# DSNs: "Final-Recipient: rfc822; ADDRESS", "Action: failed", "Status:".
find "$(smx_dir tx)/mail" "$(smx_dir txl)/mail" -type f 2>/dev/null |
    while read -r f; do
	    awk '/^Final-Recipient:/ { sub(/.*;[ \t]*/, ""); r = $0; a = "" }
		/^Action:/ { a = $2 }
		/^Status:/ { if (a == "failed" && r != "") print "bounced", r, $2; r = "" }' "$f"
    done >>"$SMX_TMP/places"

# tally: one line per recipient in $out/tally.tsv and the totals.
awk -v out="$out/tally.tsv" '
    FILENAME == ARGV[1] {
	if ($1 == "queued") q[$3]++
	else if ($1 == "acked") d[$2]++
	else if ($1 == "bounced") { b[$2]++; st[$2] = $3 }
	next
    }
    {
	addr = $4; cls = $5; n++
	nd = d[addr] + 0; nb = b[addr] + 0; nq = q[addr] + 0
	s = st[addr]
	if (nd + nb + nq == 0) o = "lost"
	else if (nd + nb + nq > 1) o = "duplicated"
	else if (nd) o = "delivered"
	else if (nb) o = "bounced"
	else o = "deferred"
	bad = ""
	if (o == "lost" || o == "duplicated") bad = o
	else if (o == "delivered" && cls != "sent") bad = "delivered, expected " cls
	else if (o == "bounced" && s ~ /^5/ && cls != "bounce") bad = "bounced " s ", expected " cls
	else if (o == "bounced" && s !~ /^[45]/) bad = "bounced without a status"
	if (o == "deferred" && cls != "defer") late++
	count[o]++
	bycls[cls " " o]++
	if (bad != "") { nbad++; if (nbad <= 10) print "tally: " $1 " " addr ": " bad > "/dev/stderr" }
	printf "%s\t%s\t%s\t%s\t%s\t%s\n", $1, $2, addr, cls, o, s > out
    }
    END {
	printf "recipients=%d delivered=%d bounced=%d deferred=%d lost=%d duplicated=%d wrong=%d deferred_not_expected=%d\n",
	    n, count["delivered"], count["bounced"], count["deferred"],
	    count["lost"], count["duplicated"], nbad, late
	for (k in bycls) printf "class %s %d\n", k, bycls[k]
    }' "$SMX_TMP/places" "$out/sent.tsv" >"$out/tally.summary" ||
    smx_fail "tally: awk failed"
tally=$(head -n 1 "$out/tally.summary")
messages=$(cut -d' ' -f1 "$out/sent.tsv" | sort -u | wc -l)
case $tally in
*" lost=0 duplicated=0 wrong=0 "*)
	if [ "$messages" -gt 0 ] && [ ! -s "$out/inject.err" ]; then
		verdict tally pass "$messages messages, $tally"
	else
		verdict tally fail "$messages messages, $tally; $(head -n 3 "$out/inject.err" 2>/dev/null)"
	fi
	;;
*) verdict tally fail "$messages messages, $tally" ;;
esac

# The daemons ran to the end; they stop cleanly.
for n in tx txl; do
	smx_instance_stop "$n"
done
for d in "policyd $policyd_pid" "lmtpd $lmtpd_pid"; do
	name=${d% *}
	pid=${d#* }
	if ! smx_pid_alive "$pid"; then
		_st=0
		wait "$pid" || _st=$?
		verdict "alive-$name" fail "secmx-$name died during the run (status $_st)"
		smx_untrack "$pid"
		continue
	fi
	smx_stop_pid "$pid"
	_st=0
	wait "$pid" || _st=$?
	smx_untrack "$pid"
	if [ "$_st" = 0 ]; then
		verdict "alive-$name" pass "secmx-$name ran to the end and exited 0 on SIGTERM"
	else
		verdict "alive-$name" fail "secmx-$name exited $_st on SIGTERM"
	fi
done

# What the logs say (the policy daemon's own log is secmx-soak-policy's).
{
	echo "pipe_sent=$(grep -c 'postfix-tx/pipe\[.* status=sent' "$SMX_SYSLOG" || true)"
	echo "pipe_deferred=$(grep -c 'postfix-tx/pipe\[.* status=deferred' "$SMX_SYSLOG" || true)"
	echo "pipe_bounced=$(grep -c 'postfix-tx/pipe\[.* status=bounced' "$SMX_SYSLOG" || true)"
	echo "lmtp_sent=$(grep -c 'postfix-txl/lmtp\[.* status=sent' "$SMX_SYSLOG" || true)"
	echo "lmtp_deferred=$(grep -c 'postfix-txl/lmtp\[.* status=deferred' "$SMX_SYSLOG" || true)"
	echo "lmtp_bounced=$(grep -c 'postfix-txl/lmtp\[.* status=bounced' "$SMX_SYSLOG" || true)"
	echo "lmtpd_reloads=$(grep -c 'secmx/lmtpd\[.*configuration reloaded' "$SMX_SYSLOG" || true)"
	echo "transport_audit=$(grep -c 'secmx/transport\[.* status=' "$SMX_SYSLOG" || true)"
	echo "lmtpd_audit=$(grep -c 'secmx/lmtpd\[.* status=' "$SMX_SYSLOG" || true)"
} >"$out/log-checks"
grep -E '(postfix-txl?|secmx)/[^ ]*: (fatal|panic):|Command died with signal|Command time limit exceeded|postfix-txl/lmtp\[[0-9]+\]: .*\((lost connection with|conversation with|connect to) [^ ]*\[private/secmx-lmtpd\]' \
    "$SMX_SYSLOG" >"$SMX_TMP/bad-lines" || true
if [ -s "$SMX_TMP/bad-lines" ]; then
	verdict logs fail "$(wc -l <"$SMX_TMP/bad-lines") bad log line(s), the first: $(head -n 1 "$SMX_TMP/bad-lines" | sed 's/^<[0-9]*>//')"
	head -n 10 "$SMX_TMP/bad-lines" >&2
else
	verdict logs pass "no panic or fatal, no pipe(8) command killed, no LMTP conversation with secmx-lmtpd broken off"
fi

# Sanitizer reports (lib.sh points ASAN_OPTIONS and UBSAN_OPTIONS there).
n_reports=$(find "$SMX_TMP/sanitizer" -type f | wc -l)
if [ "$n_reports" = 0 ]; then
	verdict sanitizer pass "no sanitizer report"
else
	verdict sanitizer fail "$n_reports sanitizer report(s)"
	find "$SMX_TMP/sanitizer" -type f -exec cat {} + | head -n 40 >&2
fi

# The policy answers.
summary=$(cat "$out/policy.summary" 2>/dev/null || true)
if [ "$driver_rc" = 0 ] && case $summary in *" wrong=0 "*" errors=0 "*) true ;; *) false ;; esac; then
	verdict answers pass "$(echo "$summary" | sed 's/^SOAKPOLICY //' | cut -d' ' -f1-12)"
else
	verdict answers fail "secmx-soak-policy exited $driver_rc: $(echo "$summary" | sed 's/^SOAKPOLICY //')"
	head -n 20 "$out/policy.err" >&2
fi

# Flat after the warm-up: the largest of the three samples ending the
# warm-up against the largest of the last three taken under load.
flat() {
	awk -F '\t' -v col="$1" -v w="$warmup" -v pct=5 -v slack="$2" \
	    -v what="$3" -v stop="$seconds" '
	BEGIN { n = 0 }
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
	$c == "-" || $1 >= stop { next }
	{ t[n] = $1; v[n] = $c; n++ }
	END {
		if (!c || n == 0) { print "fail no samples of " col; exit }
		for (i = 0; i < n; i++) if (t[i] <= w) last_w = i
		if (last_w == "" || last_w >= n - 1) { print "fail no samples after the warm-up"; exit }
		base = 0; for (i = last_w - 2; i <= last_w; i++) if (i >= 0 && v[i] > base) base = v[i]
		end = 0; for (i = n - 3; i < n; i++) if (i > last_w && v[i] > end) end = v[i]
		g = end - base
		p = base > 0 ? 100 * g / base : 0
		ok = g <= base * pct / 100 || g <= slack
		printf "%s %s %d at %ds, %d at the end: %+d (%+.1f%%; limit 5%% or %d)\n",
		    ok ? "pass" : "fail", what, base, t[last_w], end, g, p, slack
	}' "$out/samples.tsv"
}
for spec in "policyd_rss_kib 1024 secmx-policyd VmRSS (KiB)" \
    "policyd_fds 32 secmx-policyd descriptors" \
    "lmtpd_rss_kib 1024 secmx-lmtpd VmRSS (KiB)" \
    "lmtpd_fds 48 secmx-lmtpd descriptors"; do
	# shellcheck disable=SC2086 # "COLUMN SLACK WHAT..."
	set -- $spec
	col=$1
	slack=$2
	shift 2
	r=$(flat "$col" "$slack" "$*")
	name=$(echo "$col" | sed 's/_kib$//; s/_/-/')
	case $col:$sanitize in
	*_rss_kib:?*)
		verdict "$name" info "${r#* } (SECMX_SANITIZE=$sanitize)"
		;;
	*_rss_kib:)
		if [ "$minutes" -lt "$RSS_JUDGED_MINUTES" ]; then
			verdict "$name" info "${r#* } (a run under $RSS_JUDGED_MINUTES minutes: caches and allocator still filling)"
		else
			verdict "$name" "${r%% *}" "${r#* }"
		fi
		;;
	*) verdict "$name" "${r%% *}" "${r#* }" ;;
	esac
done

smx_log "soak: verdicts in $out/verdicts"
smx_finish
