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
printf 'default_sender_role = sos\nsmtp_timeout = 2s\n' >"$work/sosstall.conf"
printf 'default_sender_role = bes\nhelo_name = loop.example.test\n' \
    >"$work/loop.conf"
# destination_roles: mail to dest.example is Secure Only, whatever the
# sender and whatever the next hop names.
printf 'dest.example sos\n' >"$work/destination_roles"
printf 'default_sender_role = bes\ndestination_roles = %s/destination_roles\n' \
    "$work" >"$work/dest.conf"

# peer_start SCENARIO [PEER-OPTIONS...]: start smx-smtp-peer, set
# peer_pid and port.
peer_start() {
	_scen=$1
	shift
	rm -f "$work/port" "$work/transcript" "$work/pid"
	"$peer" -s "$_scen" "$@" -t "$work/transcript" -p "$work/pid" \
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
	fail "peer $_scen did not start"
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

# body_count: how many times the message body reached the peer.
body_count() {
	grep -c '^hello' "$work/transcript" 2>/dev/null || true
}

# Normal TLS delivery, both roles.
scenario "sos normal" normal sos.conf 0 "2.0.0 delivered via " "TLSv1."
scenario "bes normal" normal bes.conf 0 "2.0.0 delivered via " "TLSv1."
case "$line" in
*"[127.0.0.1]:$port"*) ;;
*) fail "bes normal: line '$line' lacks the relay [127.0.0.1]:$port" ;;
esac

# No STARTTLS: SOS defers (a relay next hop never bounces for TLS), BES
# delivers in plaintext. Every DSN names the stage and the class.
scenario "sos notls" notls sos.conf 75 "4.7.4 " "[stage=ehlo class=refused]"
scenario "bes notls" notls bes.conf 0 "2.0.0 delivered via " "without TLS"
# The role from sender_roles.
peer_start notls && {
	run roles.conf "$msg" -f a@secure.example -n "[127.0.0.1]:$port" \
	    -- rcpt@dest.example
	peer_stop
	expect "sender_roles sos" 75 "4.7.4 "
}
# destination_roles is keyed by the recipient's domain, not the next
# hop: a Best Effort Sender's mail to dest.example (sos) does not go
# through a relay in plaintext.
peer_start notls && {
	run dest.conf "$msg" -f a@open.example -n "[127.0.0.1]:$port" \
	    -- rcpt@dest.example
	peer_stop
	expect "destination_roles through a relay" 75 "4.7.4 " \
	    "class=refused"
	if grep -q '^MAIL' "$work/transcript"; then
		fail "destination_roles through a relay: MAIL sent in plaintext"
	fi
}
peer_start notls && {
	run dest.conf "$msg" -f a@open.example -n "[127.0.0.1]:$port" \
	    -- rcpt@other.example
	peer_stop
	expect "destination_roles: other domains" 0 "2.0.0 " "without TLS"
}

# Handshake failure: SOS defers, BES retries in plaintext.
scenario "sos hsfail" hsfail sos.conf 75 "4.7.5 " \
    "[stage=handshake class=transient]"
scenario "bes hsfail" hsfail bes.conf 0 "2.0.0 delivered via " \
    "without TLS"

# Faults in the STARTTLS stage are transient (defer), never a refusal.
scenario "sos stls_stall" stls_stall sosstall.conf 75 "4.4.2 " \
    "timed out while receiving the reply to STARTTLS [stage=starttls class=transient]"
scenario "sos stls_close" stls_close sos.conf 75 "4.4.2 " \
    "[stage=starttls class=transient]"
scenario "sos hs_stall" hs_stall sosstall.conf 75 "4.7.5 " \
    "[stage=handshake class=transient]"
scenario "sos hs_close" hs_close sos.conf 75 "4.7.5 " \
    "[stage=handshake class=transient]"
scenario "sos hs_reset" hs_reset sos.conf 75 "4.7.5 " \
    "[stage=handshake class=transient]"
# Refusals: a reply to STARTTLS, a fatal alert.
scenario "sos stls454" stls454 sos.conf 75 "4.7.0 " \
    "454 4.7.0 TLS not available now (in reply to STARTTLS command) [stage=starttls class=refused]"
scenario "bes stls454" stls454 bes.conf 0 "2.0.0 " "without TLS"
scenario "sos hs_alert" hs_alert sos.conf 75 "4.7.5 " \
    "[stage=handshake class=refused]"
scenario "bes hs_alert" hs_alert bes.conf 0 "2.0.0 " "without TLS"
# EHLO refused: HELO for a Best Effort Sender, a refusal for SOS.
scenario "bes ehlo5" ehlo5 bes.conf 0 "2.0.0 " "without TLS"
grep -q '^HELO ' "$work/transcript" || fail "bes ehlo5: no HELO sent"
scenario "sos ehlo5" ehlo5 sos.conf 75 "4." "[stage=ehlo class=refused]"

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

# Accepted at the end of data with an odd 250: sent (exit 0), once.
for odd in eod_utf8 eod_lf eod_long eod_extra; do
	scenario "$odd" "$odd" sos.conf 0 "2.0.0 delivered via " "queued as PEER1"
	[ "$(body_count)" = 1 ] ||
	    fail "$odd: the body reached the peer $(body_count) times"
done

# Connection dropped after DATA; a stalled server with smtp_timeout=2s.
scenario "dropdata" dropdata sos.conf 75 "4.4.2 " "class=transient"
scenario "stall" stall stall.conf 75 "4.4.2 " "[stage=banner class=transient]"
# delivery_time_limit too short for any attempt: 4.4.7, nothing sent.
scenario "time limit" stall short.conf 75 "4.4.7 " \
    "delivery time limit reached"

# Mail loops: a server that greets with our own name, and an address and
# port where this host's own Postfix listens (local_listeners).
peer_start loop -n loop.example.test && {
	run loop.conf "$msg" -f s@src.example -n "[127.0.0.1]:$port" \
	    -- rcpt@dest.example
	peer_stop
	expect "loop by name" 69 "5.4.6 " "loops back to myself"
	if grep -q '^MAIL' "$work/transcript"; then
		fail "loop by name: MAIL sent"
	fi
}
peer_start normal && {
	printf 'default_sender_role = bes\nlocal_listeners = %s\n' "$port" \
	    >"$work/self.conf"
	run self.conf "$msg" -f s@src.example -n "[127.0.0.1]:$port" \
	    -- rcpt@dest.example
	peer_stop
	expect "loop by address" 69 "5.4.6 " "is this host (local_listeners)"
	if [ -s "$work/transcript" ]; then
		fail "loop by address: the transport connected"
	fi
}

# SMTPUTF8 (RFC 6531): an address with non-ASCII bytes only to a server
# that offers it, with the SMTPUTF8 parameter; else bounced 5.6.7.
utf8_rcpt=$(printf 'b\303\266b@dest.example')
scenario "smtputf8 not offered" normal sos.conf 69 "5.6.7 " \
    "SMTPUTF8 is required, but was not offered" "$utf8_rcpt"
scenario "smtputf8 offered" utf8 sos.conf 0 "2.0.0 delivered via " "TLSv1." \
    "$utf8_rcpt"
grep -q '^MAIL FROM:<sender@src.example> SIZE=[0-9]* SMTPUTF8' \
    "$work/transcript" || fail "smtputf8 offered: no SMTPUTF8 parameter"

# More than one recipient: pipe(8) would take one status for all; the
# transport delivers nothing and asks for the recipient limit.
peer_start normal && {
	run bes.conf "$msg" -f s@src.example -n "[127.0.0.1]:$port" \
	    -- ok@dest.example bad@dest.example
	peer_stop
	expect "two recipients" 75 "4.3.5 " \
	    "secmx_destination_recipient_limit = 1"
	if [ -s "$work/transcript" ]; then
		fail "two recipients: the transport connected"
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
expect "two domains" 75 "4.3.5 " "secmx_destination_recipient_limit = 1"
run bes.conf "$msg" -f s@src.example -n "bad:nexthop" -- a@one.example
expect "bad nexthop" 75 "4.3.5 " "next-hop"
run bes.conf "$msg" -f s@src.example -- bob
expect "no domain" 75 "4.3.5 " "without a usable domain"
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
