#!/bin/sh
# test_lmtpd.sh - secmx-lmtpd end to end: the SecMX sending matrix of
# test_transport_matrix.sh through LMTP instead of pipe(8), and what only
# the resident LMTP service does. A real Postfix (tx) relays through
# lmtp(8) to secmx-lmtpd (postfix-examples/master.cf.lmtp,
# main.cf.sender-lmtp, and the ExecStart line of secmx-lmtpd.service;
# paths rewritten only, plus -p for a pid file), which delivers to real
# Postfix receivers found through a real nsd (transport_rig.sh,
# RIG_MODE=lmtp).
#
#  0. postconf accepts the examples without warnings; secmx-lmtpd -t
#     accepts tx's secmx.conf and the example secmx.conf; the daemon
#     runs as secmx, its socket is mode 0660 group postfix, its pid file
#     names it.
#  1. The matrix: each sender role to each destination ends exactly as
#     rig_expect says for pipe mode (the same table), and the bounce
#     and deferral texts are the ones secmx-transport prints for the
#     same message; audit lines as secmx/lmtpd with Postfix's queue id.
#  2. One message to 10 recipients at a SOR, a BER and a plain domain,
#     from each role: the right outcome per recipient, each domain's
#     recipients in one SMTP transaction at its receiver, one DSN
#     naming each bounced recipient with its status.
#  3. A receiver that refuses one RCPT of three (550, and 450 in a
#     second message): that one bounced or deferred, the two others
#     delivered once, in one transaction.
#  4. secmx-lmtpd killed (SIGKILL) while a delivery hangs on an MX that
#     stalls (smx-smtp-peer, first connection only): Postfix defers the
#     message; restarted, the daemon replaces its stale socket and pid
#     file, and the message is delivered exactly once.
#  5. SIGHUP while batches of 20 messages are released at once, and
#     while a delivery to an MX that greets only after 3s is in
#     progress: a valid new secmx.conf (another helo_name) applies to
#     what starts after it, the delivery in progress keeps the one it
#     started with; a broken one is logged with file and line and the
#     running one kept; every message delivered once, the daemon still
#     the same process.
#  6. SIGTERM with an idle LMTP connection (answered 421) and a delivery
#     in progress (to the slow MX: it finishes, sent once): exit 0
#     within a bound, pid file removed, nothing answers on the socket.
#  7. The tally of everything sent: each recipient in exactly one place
#     (a receiver's maildir or a peer's transcript, a DSN at tx, tx's
#     queue), cross-checked against the files at the receivers.
#
# Needs root, Postfix, nsd, drill, swaks and perl; the addresses and
# ports of test_transport_matrix.sh, 127.0.0.11:25 for smx-smtp-peer.
# Environment: SMX_LMTPD, SMX_TRANSPORT (for the pipe-mode texts),
# SMX_POLICYD, SMX_PEER, besides lib.sh's. Sanitizer reports of the secmx
# programs fail the test.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$SMX_SOURCE_DIR/tests/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=transport_rig.sh
. "$SMX_SOURCE_DIR/tests/integration/transport_rig.sh"
smx_namespace "$@"
smx_init
[ -x "${SMX_TRANSPORT:-}" ] || smx_fatal "SMX_TRANSPORT is not executable"
[ -x "${SMX_PEER:-}" ] || smx_fatal "SMX_PEER is not executable"
smx_require perl runuser
RIG_MODE=lmtp
rig_start
d=$(smx_dir tx)
conf=$d/secmx/secmx.conf

# Case 3's receiver refuses some recipients, case 5 holds its batches at
# tx until they are released together: both before any mail is sent.
printf '%s\n' '/-bad@ber\.test$/ 550 5.1.1 Recipient refused by the test' \
    '/-temp@ber\.test$/ 450 4.2.1 Recipient deferred by the test' \
    >"$(smx_dir rx-ber)/etc/refuse.regexp"
rr=$(postconf -c "$(smx_dir rx-ber)/etc" -h smtpd_recipient_restrictions)
smx_postconf rx-ber "smtpd_recipient_restrictions = check_recipient_access regexp:$(smx_dir rx-ber)/etc/refuse.regexp, $rr"
smx_instance_reload rx-ber
echo '/^X-Rig-Hold: yes$/ HOLD' >"$d/etc/hold.regexp"
smx_postconf tx "header_checks = regexp:$d/etc/hold.regexp"
smx_instance_reload tx

# ---- 0. Configuration, start-up -----------------------------------------
w="examples"
for o in -n -M; do
	if postconf -c "$d/etc" "$o" >/dev/null 2>"$SMX_TMP/postconf.err" &&
	    [ ! -s "$SMX_TMP/postconf.err" ]; then
		smx_pass "$w: postconf $o accepts main.cf.sender-lmtp and master.cf.lmtp"
	else
		smx_fail "$w: postconf $o complains:"
		smx_show "$SMX_TMP/postconf.err"
	fi
done
if postconf -c "$d/etc" -h default_transport | grep -qx 'secmx_lmtp:unix:private/secmx-lmtpd'; then
	smx_pass "$w: default_transport is the example's LMTP socket"
else
	smx_fail "$w: default_transport is $(postconf -c "$d/etc" -h default_transport)"
fi
# The example secmx.conf, paths rewritten, and tx's own.
smx_instance_create lmtpcheck 2627 lmtpcheck.test
smx_secmx_config lmtpcheck
for c in "$(smx_dir lmtpcheck)/secmx/secmx.conf" "$conf"; do
	rc=0
	"$SMX_LMTPD" -t -c "$c" >"$SMX_TMP/check.out" 2>&1 || rc=$?
	if [ "$rc" = 0 ] && [ ! -s "$SMX_TMP/check.out" ]; then
		smx_pass "$w: secmx-lmtpd -t -c ${c#"$SMX_TMP"/} exits 0"
	else
		smx_fail "$w: secmx-lmtpd -t -c $c exits $rc:"
		smx_show "$SMX_TMP/check.out"
	fi
done
printf 'helo_name = tx.test\nsmtp_timeout = soon\n' >"$SMX_TMP/bad.conf"
rc=0
"$SMX_LMTPD" -t -c "$SMX_TMP/bad.conf" >"$SMX_TMP/check.out" 2>&1 || rc=$?
if [ "$rc" = 1 ] && grep -q "$SMX_TMP/bad.conf, line 2: " "$SMX_TMP/check.out"; then
	smx_pass "$w: secmx-lmtpd -t on a broken file exits 1 and names file and line"
else
	smx_fail "$w: secmx-lmtpd -t on a broken file exits $rc:"
	smx_show "$SMX_TMP/check.out"
fi

w="start"
if [ "$RIG_LMTPD_SOCKET" = "$d/queue/private/secmx-lmtpd" ]; then
	smx_pass "$w: listens on private/secmx-lmtpd in tx's queue directory"
else
	smx_fail "$w: listens on $RIG_LMTPD_SOCKET"
fi
found=$(stat -c '%a %G' "$RIG_LMTPD_SOCKET")
if [ "$found" = "660 postfix" ]; then
	smx_pass "$w: socket mode 0660 group postfix (-m, -g)"
else
	smx_fail "$w: socket: expected mode 660 group postfix, found $found"
fi
found=$(ps -o user= -p "$RIG_LMTPD_PID" | tr -d ' ')
if [ "$found" = secmx ]; then
	smx_pass "$w: runs as secmx (-u)"
else
	smx_fail "$w: expected user secmx, found '$found'"
fi
if [ "$(tr -dc 0-9 <"$RIG_LMTPD_PIDFILE")" = "$RIG_LMTPD_PID" ]; then
	smx_pass "$w: pid file (-p)"
else
	smx_fail "$w: pid file holds '$(cat "$RIG_LMTPD_PIDFILE")', not $RIG_LMTPD_PID"
fi
smx_assert_log "secmx/lmtpd\[$RIG_LMTPD_PID\]: starting" "$w"

# ---- Mail for cases 1-3, all sent at once -------------------------------
for role in sos bes; do
	for dom in $RIG_DOMAINS; do
		rig_send "$role" "$dom"
	done
done
# 2. Ten recipients at three domains, from each role.
send_ten() {
	rig_send_rcpts "$1" r01@sor.test r02@sor.test r03@sor.test \
	    r04@sor.test r05@ber.test r06@ber.test r07@ber.test \
	    r08@plain.test r09@plain.test r10@plain.test
}
send_ten sos
multi_sos=$RIG_TOKEN
send_ten bes
multi_bes=$RIG_TOKEN
# 3. Three recipients at the BER; it refuses the middle one.
rig_send_rcpts sos r1@ber.test bad@ber.test r2@ber.test
refuse5=$RIG_TOKEN
rig_send_rcpts bes r1@ber.test temp@ber.test r2@ber.test
refuse4=$RIG_TOKEN
rig_wait_all "$(smx_tries 240)" ||
    smx_fail "not every message was delivered, bounced or deferred in time"

# ---- 1. The matrix through LMTP ------------------------------------------
# The expectations of pipe mode (rig_expect), row by row.
for role in sos bes; do
	for dom in $RIG_DOMAINS; do
		want=$(rig_expect "$role" "$dom")
		rig_check "$role" "$dom" "${want%% *}" "${want#* }"
	done
done

# pipe_line ROLE DOMAIN TOKEN: the status line that secmx-transport, run
# as pipe(8) runs it (user secmx, the same secmx.conf), prints for the
# same message. Only for rows that neither deliver nor reach a receiver.
pipe_line() {
	printf 'Subject: %s\n\ntoken %s\n' "$3" "$3" |
	    runuser -u secmx -- "$SMX_TMP/bin/secmx-transport" -c "$conf" \
	    -f "$1@$1.sender.test" -q PIPEMODE -n "$2" -- "$3@$2" \
	    2>/dev/null || true
}

# lmtp_line TOKEN: what secmx-lmtpd answered for TOKEN, as lmtp(8) logged
# it: "X.Y.Z text".
lmtp_line() {
	rig_agent_log "$1" |
	    sed -n 's/.* said: [45][0-9][0-9] \(.*\) (in reply to end of DATA command))$/\1/p'
}

cp "$SMX_TRANSPORT" "$SMX_TMP/bin/secmx-transport"
chmod 0755 "$SMX_TMP/bin/secmx-transport"
for role in sos bes; do
	for dom in $RIG_DOMAINS; do
		case $(rig_expect "$role" "$dom") in
		delivered*) continue ;;
		esac
		t=$(rig_token "$role" "$dom")
		l=$(lmtp_line "$t")
		p=$(pipe_line "$role" "$dom" "$t")
		if [ -n "$l" ] && [ "$l" = "$p" ]; then
			smx_pass "$role -> $dom: the same text as pipe mode ($l)"
		else
			smx_fail "$role -> $dom: LMTP said '$l', pipe mode prints '$p'"
		fi
	done
done

# Audit lines: secmx/lmtpd, labelled with tx's queue id.
rig_qid() {
	awk -v t="$1" '$1 == t { print $4; exit }' "$RIG_SENT"
}
t=$(rig_token sos sor.test)
rig_assert_audit "$t" "$(rig_qid "$t"): to=<$t@sor\\.test>" \
    'relay=sor-mx\.sor\.test\[127\.0\.0\.1\]:2601' route=srv role=sos \
    'tls=TLSv1\.3' verify=ca status=sent
t=$(rig_token sos two.test)
rig_assert_audit "$t" 'relay=dead\.two\.test\[127\.0\.0\.9\]:2601' route=srv \
    tls=none status=deferred
rig_assert_audit "$t" "$(rig_qid "$t"): to=<$t@two\\.test>" \
    'relay=sor-mx\.two\.test\[127\.0\.0\.1\]:2602' 'tls=TLSv1\.3' status=sent
t=$(rig_token sos ber.test)
rig_assert_audit "$t" 'relay=ber-mx\.ber\.test\[127\.0\.0\.2\]:25' route=mx \
    role=sos 'tls=TLSv1\.3' status=sent
t=$(rig_token bes plain.test)
rig_assert_audit "$t" 'relay=mx\.plain\.test\[127\.0\.0\.3\]:25' route=mx \
    role=bes tls=none status=sent
t=$(rig_token sos plain.test)
rig_assert_audit "$t" "$(rig_qid "$t"): to=<$t@plain\\.test>" \
    'relay=mx\.plain\.test\[127\.0\.0\.3\]:25' role=sos tls=none status=bounced
t=$(rig_token sos wrong.test)
rig_assert_audit "$t" route=srv role=sos verify=fail status=deferred
smx_assert_no_log 'secmx/lmtpd\[[0-9]+\]: NOQUEUE: ' \
    "every audit line has Postfix's queue id"
smx_assert_no_log 'postfix-rx-sor/smtpd\[[0-9]+\]: .*Must issue a STARTTLS' \
    "no plaintext attempt at the SOR"

# ---- 2. Ten recipients at three domains -----------------------------------
# receiver_id TOKEN: the queue id that the receiver gave TOKEN's copy
# (its Received: header).
receiver_id() {
	_f=$(rig_file "$1")
	[ -n "$_f" ] || return 0
	rig_received "$_f" | sed -n 's/.* with [A-Z]* id \([0-9A-Za-z]*\).*/\1/p'
}

# one_transaction INSTANCE WHAT TOKEN...: the copies for the recipients
# TOKEN... reached INSTANCE in one SMTP transaction: one queue id in
# their Received: headers, which INSTANCE's qmgr logged with as many
# recipients.
one_transaction() {
	_in=$1
	_w=$2
	shift 2
	_ids=$(for _t in "$@"; do receiver_id "$_t"; done | sort -u)
	_n=$(printf '%s\n' "$_ids" | grep -c . || true)
	if [ "$_n" = 1 ] && grep "postfix-$_in/qmgr\[" "$SMX_SYSLOG" |
	    grep -q ": $_ids: from=<.*>, size=[0-9]*, nrcpt=$# "; then
		smx_pass "$_w: $# recipients in one transaction at $_in ($_ids)"
	else
		smx_fail "$_w: not one transaction with $# recipients at $_in: queue ids '$(echo "$_ids" | tr '\n' ' ')'"
	fi
}

# unfold FILE: FILE with each continuation line (leading white space)
# joined to the line before it.
unfold() {
	awk 'NR > 1 && /^[ \t]/ { sub(/^[ \t]+/, " "); l = l $0; next }
	    NR > 1 { print l } { l = $0 } END { print l }' "$1"
}

# recipient_tokens MESSAGE-TOKEN DOMAIN: the recipient tokens of that
# message at DOMAIN.
recipient_tokens() {
	awk -v m="$1-" -v d="$2" 'index($1, m) == 1 && $3 == d { print $1 }' \
	    "$RIG_SENT"
}

for role in sos bes; do
	case $role in
	sos) m=$multi_sos ;;
	*) m=$multi_bes ;;
	esac
	w="$role, 10 recipients"
	for dom in sor.test ber.test plain.test; do
		want=$(rig_expect "$role" "$dom")
		for t in $(recipient_tokens "$m" "$dom"); do
			rig_check_token "$role" "$dom" "$t" "${want%% *}" \
			    "${want#* }"
		done
	done
	# shellcheck disable=SC2046 # one token per word
	one_transaction rx-sor "$w, sor.test" $(recipient_tokens "$m" sor.test)
	# shellcheck disable=SC2046
	one_transaction rx-ber "$w, ber.test" $(recipient_tokens "$m" ber.test)
	case $role in
	bes)
		# shellcheck disable=SC2046
		one_transaction rx-plain "$w, plain.test" \
		    $(recipient_tokens "$m" plain.test)
		;;
	sos)
		# One DSN names each bounced recipient, failed with 5.7.4,
		# and no other.
		f=$(rig_file "$m-r08")
		[ -z "$f" ] || unfold "$f" >"$SMX_TMP/dsn.txt"
		n=0
		for t in $(recipient_tokens "$m" plain.test); do
			if [ -n "$f" ] && grep -qF "<$t@plain.test>: host tx.test[private/secmx-lmtpd] said: 554 5.7.4 TLS is not available from any MX host of plain.test" "$SMX_TMP/dsn.txt" &&
			    [ "$(rig_dsn_status "$f" "$t")" = 5.7.4 ] &&
			    awk -v r="Final-Recipient: rfc822; $t@" 'BEGIN { RS = "" }
			    index($0, r) && /\nAction: failed\n/ { f = 1 }
			    END { exit !f }' "$f"; then
				n=$((n + 1))
			fi
		done
		if [ "$n" = 3 ] && [ "$(grep -c '^Final-Recipient: ' "$f")" = 3 ]; then
			smx_pass "$w: one DSN names the 3 plain.test recipients, each failed 5.7.4"
		else
			smx_fail "$w: the DSN does not name each plain.test recipient as failed 5.7.4 (found $n):"
			[ -z "$f" ] || smx_show "$f" 60
		fi
		;;
	esac
done

# ---- 3. One recipient of three refused -----------------------------------
w="550 for one of three"
rig_check_token sos ber.test "$refuse5-r1" delivered:rx-ber 'TLSv1\.[23]'
rig_check_token sos ber.test "$refuse5-bad" bounced '5\.1\.1'
rig_check_token sos ber.test "$refuse5-r2" delivered:rx-ber 'TLSv1\.[23]'
one_transaction rx-ber "$w" "$refuse5-r1" "$refuse5-r2"
f=$(rig_file "$refuse5-bad")
if [ -n "$f" ] && grep -q "^Final-Recipient: rfc822; $refuse5-bad@ber.test" "$f" &&
    [ "$(grep -c '^Final-Recipient: ' "$f")" = 1 ] &&
    grep -q 'Recipient refused by the test' "$f"; then
	smx_pass "$w: the DSN names the refused recipient alone, with the receiver's text"
else
	smx_fail "$w: no DSN for the refused recipient alone"
	[ -z "$f" ] || smx_show "$f" 60
fi
w="450 for one of three"
rig_check_token bes ber.test "$refuse4-r1" delivered:rx-ber 'TLSv1\.[23]'
rig_check_token bes ber.test "$refuse4-temp" deferred '4\.2\.1'
rig_check_token bes ber.test "$refuse4-r2" delivered:rx-ber 'TLSv1\.[23]'
one_transaction rx-ber "$w" "$refuse4-r1" "$refuse4-r2"

# ---- 4. SIGKILL while a delivery hangs -----------------------------------
w="SIGKILL mid-delivery"
rig_fault_peer stall 127.0.0.11 stall -f 1 -M
peer1=$RIG_PEER_PID
rig_send sos stall.test
t=$RIG_TOKEN
# peer_connected NAME: the peer accepted a connection.
# shellcheck disable=SC2317 # called through smx_retry
peer_connected() {
	grep -q '^=== connection' "$SMX_TMP/peer-$1.transcript" 2>/dev/null
}
smx_retry "$(smx_tries 300)" 0.1 peer_connected stall ||
    smx_fail "$w: secmx-lmtpd never connected to the stalling MX"
old=$RIG_LMTPD_PID
kill -KILL "$old"
rc=0
wait "$old" || rc=$?
smx_untrack "$old"
[ "$rc" = 137 ] || smx_fail "$w: secmx-lmtpd exited $rc, not by SIGKILL"
if smx_retry "$(smx_tries 300)" 0.1 rig_agent_status "$t" deferred; then
	smx_pass "$w: Postfix deferred the message"
else
	smx_fail "$w: Postfix did not defer the message"
fi
smx_assert_log "postfix-tx/lmtp\[[0-9]+\]: .*to=<$t@stall\.test>.*status=deferred \(lost connection with " \
    "$w: lmtp(8) lost the connection"
if [ -S "$RIG_LMTPD_SOCKET" ] && [ -f "$RIG_LMTPD_PIDFILE" ]; then
	smx_pass "$w: the socket and the pid file are left behind"
else
	smx_fail "$w: socket or pid file gone after SIGKILL"
fi
rig_lmtpd_start
if [ "$(tr -dc 0-9 <"$RIG_LMTPD_PIDFILE")" = "$RIG_LMTPD_PID" ]; then
	smx_pass "$w: restarted; the pid file names the new daemon"
else
	smx_fail "$w: pid file holds '$(cat "$RIG_LMTPD_PIDFILE")', not $RIG_LMTPD_PID"
fi
rig_flush
if smx_retry "$(smx_tries 300)" 0.1 rig_agent_status "$t" sent; then
	smx_pass "$w: delivered on the retry"
else
	smx_fail "$w: not delivered on the retry"
fi
n=$(tr -d '\r' <"$SMX_TMP/peer-stall.transcript" | grep -cxF "token $t" || true)
if [ "$n" = 1 ]; then
	smx_pass "$w: the receiver got the message once"
else
	smx_fail "$w: the receiver got the message $n times"
fi
smx_assert_no_log "to=<$t@stall\.test>.*status=bounced" "$w: never bounced"

# ---- 5. SIGHUP under load -------------------------------------------------
# The MX of stall.test now greets 3s after each connection: a delivery
# there is surely in progress when the SIGHUP comes. -F: a connection
# that secmx-lmtpd keeps idle does not hold up the next one.
smx_stop_pid "$peer1"
wait "$peer1" 2>/dev/null || true
smx_untrack "$peer1"
rig_fault_peer slow 127.0.0.11 slow -M -F
slow_peer=$RIG_PEER_PID
slow_transcript=$SMX_TMP/peer-slow.transcript

# n_conns: the connections the slow MX accepted so far.
n_conns() {
	grep -c '^=== connection' "$slow_transcript" 2>/dev/null || true
}

# more_conns N: it accepted more than N.
# shellcheck disable=SC2317 # called through smx_retry
more_conns() {
	[ "$(n_conns)" -gt "$1" ]
}

# peer_ehlo TOKEN: the EHLO name in the slow MX's connection that
# carried TOKEN's recipient (the last EHLO, after STARTTLS).
peer_ehlo() {
	tr -d '\r' <"$slow_transcript" | awk -v r="RCPT TO:<$1@" '
	    /^=== connection/ { e = "" }
	    /^EHLO / { e = $2 }
	    index($0, r) == 1 { print e; exit }'
}

# peer_copies TOKEN: how many copies of TOKEN's message the slow MX got.
peer_copies() {
	tr -d '\r' <"$slow_transcript" | grep -cxF "token $1" || true
}

# batch NAME: one message to the slow MX (its token in NAME_slow), then
# 20 (both roles, the SOR and the BER; their tokens in NAME), all held
# at tx until release_and_hup releases them together.
batch() {
	rig_send sos stall.test --add-header 'X-Rig-Hold: yes'
	eval "$1_slow=\$RIG_TOKEN"
	_b=
	_i=0
	while [ "$_i" -lt 20 ]; do
		case $((_i % 4)) in
		0) rig_send sos sor.test --add-header 'X-Rig-Hold: yes' ;;
		1) rig_send bes ber.test --add-header 'X-Rig-Hold: yes' ;;
		2) rig_send bes sor.test --add-header 'X-Rig-Hold: yes' ;;
		*) rig_send sos ber.test --add-header 'X-Rig-Hold: yes' ;;
		esac
		_b="$_b $RIG_TOKEN"
		_i=$((_i + 1))
	done
	eval "$1=\$_b"
}

# n_held TOKEN...: how many of them are on hold at tx.
n_held() {
	rig_queue_json >"$SMX_TMP/held.json"
	_n=0
	for _t in "$@"; do
		grep -F "\"$_t@" "$SMX_TMP/held.json" |
		    grep -q '"queue_name": *"hold"' && _n=$((_n + 1))
	done
	echo "$_n"
}

# shellcheck disable=SC2317 # called through smx_retry
all_held() {
	[ "$(n_held "$@")" = $# ]
}

# n_sent TOKEN...: how many of them lmtp(8) logged as sent.
n_sent() {
	_n=0
	for _t in "$@"; do
		rig_agent_status "$_t" sent && _n=$((_n + 1))
	done
	echo "$_n"
}

# all_sent TOKEN...: lmtp(8) logged each of them as sent.
# shellcheck disable=SC2317 # called through smx_retry
all_sent() {
	for _t in "$@"; do
		rig_agent_status "$_t" sent || return 1
	done
}

# log_line REGEX: the number of the first captured log line matching
# the extended REGEX, or 0.
log_line() {
	_l=$(grep -nE -- "$1" "$SMX_SYSLOG" | head -n 1 | cut -d: -f1)
	echo "${_l:-0}"
}

# release_and_hup WHAT SLOW TOKEN...: release the held messages, send
# SIGHUP as soon as the slow MX accepted the connection for SLOW, and
# check that every one is then delivered once.
release_and_hup() {
	_w=$1
	_s=$2
	shift 2
	smx_retry 100 0.1 all_held "$_s" "$@" ||
	    smx_fail "$_w: only $(n_held "$_s" "$@") of $(($# + 1)) messages on hold"
	_c=$(n_conns)
	postsuper -c "$d/etc" -H ALL >/dev/null 2>&1 ||
	    smx_fail "$_w: postsuper -H failed"
	rig_flush
	smx_retry "$(smx_tries 300)" 0.05 more_conns "$_c" ||
	    smx_fail "$_w: secmx-lmtpd never connected to the slow MX"
	kill -HUP "$RIG_LMTPD_PID"
	if rig_agent_status "$_s" sent; then
		smx_fail "$_w: the delivery to the slow MX was over before the SIGHUP"
	else
		smx_pass "$_w: SIGHUP while a delivery is in progress ($(($# - $(n_sent "$@"))) of the other $# messages not delivered yet)"
	fi
	if smx_retry "$(smx_tries 600)" 0.1 all_sent "$_s" "$@"; then
		smx_pass "$_w: all $(($# + 1)) delivered"
	else
		smx_fail "$_w: only $(n_sent "$_s" "$@") of $(($# + 1)) delivered"
	fi
	_n=$(peer_copies "$_s")
	if [ "$_n" = 1 ]; then
		smx_pass "$_w: the delivery in progress arrived once"
	else
		smx_fail "$_w: the delivery in progress arrived $_n times"
	fi
}

# helo_of TOKEN: the HELO name in the Received: header of TOKEN's copy.
helo_of() {
	_f=$(rig_file "$1")
	[ -n "$_f" ] || return 0
	rig_received "$_f" | sed -n 's/^Received: from \([^ ]*\) .*/\1/p'
}

# assert_helo WHAT NAME TOKEN...: every copy came with HELO NAME.
assert_helo() {
	_w=$1
	_h=$2
	shift 2
	_bad=
	for _t in "$@"; do
		[ "$(helo_of "$_t")" = "$_h" ] || _bad="$_bad $_t:$(helo_of "$_t")"
	done
	if [ -z "$_bad" ]; then
		smx_pass "$_w: all $# arrived with HELO $_h"
	else
		smx_fail "$_w: not with HELO $_h:$_bad"
	fi
}

pid=$RIG_LMTPD_PID
cp "$conf" "$conf.orig"

w="SIGHUP, valid configuration"
batch a
# A valid new secmx.conf: another helo_name, which the receivers see.
sed 's/^helo_name = tx\.test$/helo_name = tx2.test/' "$conf.orig" >"$conf.new"
grep -q '^helo_name = tx2\.test$' "$conf.new" || smx_fatal "no helo_name in $conf"
chmod 0644 "$conf.new"
mv "$conf.new" "$conf"
# shellcheck disable=SC2154,SC2086 # set by batch; one token per word
release_and_hup "$w" "$a_slow" $a
re="secmx/lmtpd\[$pid\]: configuration reloaded from $conf\$"
smx_assert_log "$re" "$w"
# The delivery in progress kept the configuration it started with, and
# ended after the reload.
if [ "$(peer_ehlo "$a_slow")" = tx.test ] &&
    [ "$(log_line "$re")" -lt "$(log_line "secmx/lmtpd\[$pid\]: .* to=<$a_slow@.* status=sent")" ]; then
	smx_pass "$w: the delivery in progress finished after the reload, with the configuration it started with (EHLO tx.test)"
else
	smx_fail "$w: the delivery in progress: EHLO '$(peer_ehlo "$a_slow")', not tx.test, or it ended before the reload"
fi

w="SIGHUP, broken configuration"
batch b
# The same change to tx3.test, and a bad value on the last line: none
# of it may apply.
sed 's/^helo_name = tx\.test$/helo_name = tx3.test/' "$conf.orig" >"$conf.new"
echo 'smtp_timeout = soon' >>"$conf.new"
bad_line=$(wc -l <"$conf.new")
chmod 0644 "$conf.new"
mv "$conf.new" "$conf"
# shellcheck disable=SC2154,SC2086
release_and_hup "$w" "$b_slow" $b
smx_assert_log "secmx/lmtpd\[$pid\]: error: reload failed, keeping the previous configuration: $conf, line $bad_line: " \
    "$w: logged with file and line"
if [ "$(peer_ehlo "$b_slow")" = tx2.test ]; then
	smx_pass "$w: the delivery in progress used the running configuration (EHLO tx2.test)"
else
	smx_fail "$w: the delivery in progress: EHLO '$(peer_ehlo "$b_slow")', not tx2.test"
fi
rig_send sos sor.test
c=$RIG_TOKEN
rig_send bes ber.test
c="$c $RIG_TOKEN"
# shellcheck disable=SC2086
smx_retry "$(smx_tries 300)" 0.1 all_sent $c ||
    smx_fail "$w: the messages after it were not delivered"
# The second batch started after the valid reload, the last two after
# the broken one: all with the valid new configuration.
# shellcheck disable=SC2086
assert_helo "SIGHUP" tx2.test $b $c
if smx_pid_alive "$pid" && [ "$RIG_LMTPD_PID" = "$pid" ]; then
	smx_pass "SIGHUP: secmx-lmtpd still running as pid $pid"
else
	smx_fail "SIGHUP: secmx-lmtpd $pid is gone"
fi
mv "$conf.orig" "$conf"

# Stopped for longer than smtp_connection_cache_time_limit (2s) right
# after a delivery, then continued: epoll_wait ends with EINTR and the
# kept connection has expired, so the loop closes it (QUIT over TLS)
# before it looks at why the wait ended; the EINTR must survive that
# (found by the soak run: "epoll_wait: Success", and the daemon gone).
w="SIGSTOP, SIGCONT"
rig_send bes ber.test
smx_retry "$(smx_tries 300)" 0.1 all_sent "$RIG_TOKEN" ||
    smx_fail "$w: the message before the stop was not delivered"
kill -STOP "$pid"
sleep 2.5
kill -CONT "$pid"
sleep 1.5
if smx_pid_alive "$pid"; then
	smx_pass "$w: secmx-lmtpd goes on after a stop longer than the cache time"
else
	smx_fail "$w: secmx-lmtpd $pid ended after SIGCONT"
	grep "secmx/lmtpd\[$pid\]: error" "$SMX_SYSLOG" >&2 || true
fi

# ---- 6. SIGTERM -----------------------------------------------------------
w="SIGTERM"
# A delivery in progress: to the slow MX, restarted, so that the
# connection secmx-lmtpd may keep from the last one is gone and a new
# one (with the slow greeting) is needed.
smx_stop_pid "$slow_peer"
wait "$slow_peer" 2>/dev/null || true
smx_untrack "$slow_peer"
rig_fault_peer slow2 127.0.0.11 slow -M -F
slow_transcript=$SMX_TMP/peer-slow2.transcript
cn=$(n_conns)
rig_send sos stall.test
tterm=$RIG_TOKEN
smx_retry "$(smx_tries 300)" 0.1 more_conns "$cn" ||
    smx_fail "$w: secmx-lmtpd never connected to the slow MX"
# An idle LMTP client: greeting, LHLO, then whatever comes until EOF.
perl -MIO::Socket::UNIX -e '
    my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!\n";
    $| = 1;
    local $SIG{ALRM} = sub { exit 2 };
    alarm 60;
    my $l = <$s>;
    print $l;
    print $s "LHLO idle.test\r\n";
    print while <$s>;' "$RIG_LMTPD_SOCKET" >"$SMX_TMP/idle.out" 2>&1 &
idle=$!
smx_track "$idle"
# idle_ready: its LHLO was answered.
# shellcheck disable=SC2317 # called through smx_retry
idle_ready() {
	grep -q '^250 ' "$SMX_TMP/idle.out"
}
smx_retry 50 0.1 idle_ready || smx_fail "$w: the idle client got no LHLO reply"
start=$(date +%s)
kill -TERM "$pid"
# Bounded by the delivery in progress (3s) and smtp_timeout (10s).
smx_retry 300 0.1 smx_pid_gone "$pid" || true
took=$(($(date +%s) - start))
if smx_pid_gone "$pid"; then
	rc=0
	wait "$pid" || rc=$?
	smx_untrack "$pid"
	if [ "$rc" = 0 ]; then
		smx_pass "$w: exited 0 after ${took}s"
	else
		smx_fail "$w: exited $rc; its output:"
		smx_show "$SMX_TMP/tx/lmtpd.out"
	fi
else
	smx_fail "$w: still running after ${took}s"
fi
smx_retry 50 0.1 smx_pid_gone "$idle" || true
smx_stop_pid "$idle"
wait "$idle" 2>/dev/null || true
smx_untrack "$idle"
if grep -q '^421 4\.3\.2 ' "$SMX_TMP/idle.out"; then
	smx_pass "$w: the idle connection was answered 421 4.3.2"
else
	smx_fail "$w: the idle connection got no 421:"
	smx_show "$SMX_TMP/idle.out"
fi
if smx_retry 100 0.1 rig_agent_status "$tterm" sent &&
    [ "$(peer_copies "$tterm")" = 1 ]; then
	smx_pass "$w: the delivery in progress finished: sent, once"
else
	smx_fail "$w: the delivery in progress did not finish ($(peer_copies "$tterm") copies):"
	rig_agent_log "$tterm" | smx_show /dev/stdin 2
fi
smx_assert_log "secmx/lmtpd\[$pid\]: stopping: waiting for [0-9]+ connections?$" "$w"
smx_assert_log "secmx/lmtpd\[$pid\]: stopping$" "$w"
if [ ! -e "$RIG_LMTPD_PIDFILE" ]; then
	smx_pass "$w: pid file removed"
else
	smx_fail "$w: pid file left behind"
fi
if rig_lmtp_greeting "$RIG_LMTPD_SOCKET" >/dev/null 2>&1; then
	smx_fail "$w: something still answers on $RIG_LMTPD_SOCKET"
else
	smx_pass "$w: nothing answers on the socket"
fi

# ---- 7. The tally ---------------------------------------------------------
# Without a flush: secmx-lmtpd is gone, what was deferred stays so.
rig_wait_all "$(smx_tries 120)" noflush ||
    smx_fail "not every message has an outcome"
rig_tally
# Cross-checks: the files at the receivers are the copies counted, and
# tx's queue holds exactly the deferred recipients.
for i in rx-sor rx-ber rx-plain; do
	nf=$(find "$(smx_dir "$i")/mail" -type f -path '*/new/*' | wc -l)
	no=$(grep -c " delivered:$i\$" "$SMX_TMP/rig.outcomes" || true)
	if [ "$nf" = "$no" ]; then
		smx_pass "tally: $nf messages at $i, each counted once"
	else
		smx_fail "tally: $nf messages at $i, $no counted"
	fi
done
rig_queue_json >"$SMX_TMP/queue.json"
nq=$(grep -o '"address": *"[^"]*"' "$SMX_TMP/queue.json" | wc -l)
no=$(grep -c ' deferred$' "$SMX_TMP/rig.outcomes" || true)
if [ "$nq" = "$no" ]; then
	smx_pass "tally: $nq recipients in tx's queue, all deferred ones"
else
	smx_fail "tally: $nq recipients in tx's queue, $no deferred"
fi
echo
echo "SecMX sending through secmx-lmtpd ($RIG_TALLY):"
rig_table

for i in tx rx-plain rx-ber rx-sor; do
	smx_instance_stop "$i"
done
smx_finish
