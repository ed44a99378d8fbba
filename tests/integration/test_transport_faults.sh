#!/bin/sh
# test_transport_faults.sh TRANSPORT PEER SOURCE_DIR WORKDIR -
# secmx-transport run as pipe(8) runs it, with -n [127.0.0.1]:PORT, against
# the fault-injecting smx-smtp-peer, as Secure Only Sender and as Best
# Effort Sender. Asserts the exit code (0, 75, 69), the one status line
# on stdout (enhanced code, "in reply to" command) and, for the message
# data, the peer's transcript. Every peer is started by this script on a
# port the kernel picks, and stopped by its PID before the next one.
# Needs no root, no Postfix and no DNS.
set -eu

transport=$1
peer=$2
srcdir=$3
work=$4
failures=0
peer_pid=

# peer_stop: stop the running smx-smtp-peer, if any, and reap it.
peer_stop() {
	if [ -n "$peer_pid" ]; then
		kill "$peer_pid" 2>/dev/null || true
		wait "$peer_pid" 2>/dev/null || true
		peer_pid=
	fi
}

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	peer_stop
	rm -rf "$work"
}
# INT and TERM end the script; the EXIT trap then cleans up.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -rf "$work"
mkdir -p "$work" || exit 1
work=$(cd "$work" && pwd) || exit 1

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

sh "$srcdir/scripts/make-test-certs" "$work/certs" mx1.example.test \
    >/dev/null 2>&1 || {
	echo "cannot make test certificates" >&2
	exit 1
}

printf 'default_sender_role = sos\n' >"$work/sos.conf"
printf 'default_sender_role = bes\n' >"$work/bes.conf"
printf 'default_sender_role = bes\nsmtp_timeout = 2s\n' >"$work/stall.conf"
printf 'default_sender_role = bes\ndelivery_time_limit = 3s\n' \
    >"$work/short.conf"
printf 'secure.example sos\n' >"$work/sender_roles"
printf 'sender_roles = %s/sender_roles\n' "$work" >"$work/roles.conf"

# peer_start SCENARIO: start smx-smtp-peer, set peer_pid and port.
peer_start() {
	rm -f "$work/port" "$work/transcript" "$work/pid"
	"$peer" -s "$1" -t "$work/transcript" -p "$work/pid" \
	    -c "$work/certs/mx1.example.test.pem" \
	    -k "$work/certs/mx1.example.test.key" >"$work/port" &
	peer_pid=$!
	i=0
	while [ "$i" -lt 100 ]; do
		port=$(head -n 1 "$work/port" 2>/dev/null || true)
		if [ -n "$port" ]; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	fail "peer $1 did not start"
	peer_stop
	return 1
}

# run CONF MESSAGE ARGS...: secmx-transport with the message on stdin;
# sets status, line (the first output line) and n_lines.
run() {
	conf=$1
	msg=$2
	shift 2
	status=0
	printf '%b' "$msg" | "$transport" -c "$work/$conf" "$@" \
	    >"$work/out" 2>"$work/err" || status=$?
	line=$(head -n 1 "$work/out")
	n_lines=$(wc -l <"$work/out")
}

# expect NAME STATUS LINE-PREFIX [SUBSTRING]: check the last run.
expect() {
	case "$line" in
	"$3"*) ;;
	*) fail "$1: line '$line', expected prefix '$3'" ;;
	esac
	if [ "$status" != "$2" ]; then
		fail "$1: exit $status, expected $2 (line '$line')"
	fi
	if [ "$n_lines" != 1 ]; then
		fail "$1: $n_lines output lines, expected 1"
	fi
	if [ -s "$work/err" ]; then
		fail "$1: wrote to stderr: $(cat "$work/err")"
	fi
	if [ $# -ge 4 ]; then
		case "$line" in
		*"$4"*) ;;
		*) fail "$1: line '$line' lacks '$4'" ;;
		esac
	fi
}

msg='Subject: test\n\nhello\n'
cr=$(printf '\r')

# scenario NAME SCENARIO CONF STATUS PREFIX [SUBSTRING] [RECIPIENT]
scenario() {
	name=$1
	scen=$2
	conf=$3
	want_status=$4
	prefix=$5
	sub=${6:-}
	rcpt=${7:-rcpt@dest.example}
	peer_start "$scen" || return
	run "$conf" "$msg" -f sender@src.example -q TESTQ1 \
	    -n "[127.0.0.1]:$port" -- "$rcpt"
	peer_stop
	if [ -n "$sub" ]; then
		expect "$name" "$want_status" "$prefix" "$sub"
	else
		expect "$name" "$want_status" "$prefix"
	fi
}

# Normal TLS delivery, both roles.
scenario "sos normal" normal sos.conf 0 "2.0.0 delivered via " "TLSv1."
scenario "bes normal" normal bes.conf 0 "2.0.0 delivered via " "TLSv1."
case "$line" in
*"[127.0.0.1]:$port"*) ;;
*) fail "bes normal: line '$line' lacks the relay [127.0.0.1]:$port" ;;
esac

# No STARTTLS: SOS defers (a relay next hop never bounces for TLS), BES
# delivers in plaintext.
scenario "sos notls" notls sos.conf 75 "4.7.4 " "(in reply to EHLO command)"
scenario "bes notls" notls bes.conf 0 "2.0.0 delivered via " "without TLS"
# The role from sender_roles.
peer_start notls && {
	run roles.conf "$msg" -f a@secure.example -n "[127.0.0.1]:$port" \
	    -- rcpt@dest.example
	peer_stop
	expect "sender_roles sos" 75 "4.7.4 "
}

# Handshake failure: SOS defers, BES retries in plaintext.
scenario "sos hsfail" hsfail sos.conf 75 "4.7.5 " \
    "(in reply to STARTTLS command)"
scenario "bes hsfail" hsfail bes.conf 0 "2.0.0 delivered via " \
    "without TLS"

# Data after the STARTTLS 220 reply (CVE-2011-0411): defer, with the
# reason.
scenario "sos inject" inject sos.conf 75 "4.7.5 " "command injection"
scenario "bes inject" inject bes.conf 75 "4." "command injection"

# Receiver replies: 4xx defers, 5xx bounces, with the receiver's code and
# the command.
scenario "mail4" mail4 sos.conf 75 "4.3.0 " \
    "451 4.3.0 Try again later (in reply to MAIL FROM command)"
scenario "mail5" mail5 sos.conf 69 "5.7.1 " \
    "550 5.7.1 Sender rejected (in reply to MAIL FROM command)"
scenario "rcpt4" normal sos.conf 75 "4.2.1 " "(in reply to RCPT TO command)" \
    temp@dest.example
scenario "rcpt5" normal bes.conf 69 "5.1.1 " "(in reply to RCPT TO command)" \
    bad@dest.example
scenario "data4" data4 sos.conf 75 "4.3.0 " "(in reply to DATA command)"
scenario "data5" data5 bes.conf 69 "5.5.0 " "(in reply to DATA command)"
scenario "eod4" eod4 sos.conf 75 "4.3.1 " \
    "(in reply to end of DATA command)"
scenario "eod5" eod5 bes.conf 69 "5.6.0 " \
    "(in reply to end of DATA command)"

# Connection dropped after DATA; a stalled server with smtp_timeout=2s.
scenario "dropdata" dropdata sos.conf 75 "4.4.2 "
scenario "stall" stall stall.conf 75 "4.4.2 "
# delivery_time_limit too short for any attempt: 4.4.7, nothing sent.
scenario "time limit" stall short.conf 75 "4.4.7 " \
    "delivery time limit reached"

# Several recipients: one refused permanently -> bounce, and no DATA.
peer_start normal && {
	run bes.conf "$msg" -f s@src.example -n "[127.0.0.1]:$port" \
	    -- ok@dest.example bad@dest.example
	peer_stop
	expect "mixed recipients" 69 "5.1.1 " "(in reply to RCPT TO command)"
	if grep -q '^DATA' "$work/transcript"; then
		fail "mixed recipients: DATA was sent"
	fi
	if ! grep -q '^RSET' "$work/transcript"; then
		fail "mixed recipients: no RSET"
	fi
}

# The message: bare LF and bare CR become CRLF, lines starting with '.'
# are dot-stuffed, a last line without newline is ended, and CRLF.CRLF
# comes exactly once; the null sender is <>.
peer_start normal && {
	run sos.conf 'Subject: x\n\n.dot\nbare\rcr\n..two\n.\nlast' \
	    -f "" -n "[127.0.0.1]:$port" -- rcpt@dest.example
	peer_stop
	expect "message data" 0 "2.0.0 delivered via " "TLSv1."
	printf 'DATA\r\nSubject: x\r\n\r\n..dot\r\nbare\r\ncr\r\n...two\r\n..\r\nlast\r\n.\r\nQUIT\r\n' \
	    >"$work/want"
	size=$(wc -c <"$work/want")
	if ! tail -c "$size" "$work/transcript" | cmp -s - "$work/want"; then
		fail "message data: transcript ends with '$(tail -c "$size" "$work/transcript" | od -c | head -n 8)'"
	fi
	if [ "$(grep -c "^\.$cr\$" "$work/transcript" || true)" != 1 ]; then
		fail "message data: not exactly one final '.'"
	fi
	if ! grep -q '^MAIL FROM:<> SIZE=' "$work/transcript"; then
		fail "message data: null sender not sent as <>"
	fi
}

# Local trouble: never a bounce, nothing on stderr, no network.
run bes.conf "$msg" -f s@src.example -- a@one.example b@two.example
expect "mixed domains" 75 "4.3.5 " "different domains"
run bes.conf "$msg" -f s@src.example -n "bad:nexthop" -- a@one.example
expect "bad nexthop" 75 "4.3.5 " "next-hop"
run bes.conf "$msg" -f s@src.example
expect "no recipients" 75 "4.3.5 " "usage"
run bes.conf "$msg" -- a@one.example
expect "no sender" 75 "4.3.5 " "usage"
run missing.conf "$msg" -f s@src.example -- a@one.example
expect "missing config" 75 "4.3.5 " "missing.conf"
printf 'smtp_timeout = forever\n' >"$work/bad.conf"
run bad.conf "$msg" -f s@src.example -- a@one.example
expect "bad config" 75 "4.3.5 " "line 1"

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "all transport fault tests passed"
exit 0
