#!/bin/sh
# test_transport_matrix.sh - the SecMX sending matrix end to end: a real
# Postfix relays through secmx-transport (postfix-examples/
# master.cf.transport and main.cf.sender, paths rewritten only) to real
# Postfix receivers found through a real nsd (transport_rig.sh).
#
# For each sender role (Secure Only Sender, Best Effort Sender) and each
# destination of tests/data/dns/matrix/test.zone one message is sent;
# the test waits (bounded) until each one is delivered (in a receiver's
# maildir), bounced (the DSN in the sender's maildir) or deferred (in
# the sending queue), asserts each outcome with its TLS protocol, DSN
# status or deferral status, checks secmx-transport's audit lines for
# several rows, and that every message is in exactly one place. The
# sender keeps tls_verify = ca: wrong.test, whose SRV target presents a
# certificate for another domain, must be deferred. The outcome table
# goes to the test log.
#
# Then faults and odd replies through the same Postfix, with
# smx-smtp-peer (SMX_PEER) as the MX of stall.test and odd-*.test.
#
# Needs root, Postfix, nsd, drill and swaks; loopback addresses
# 127.0.0.1-3 and 127.0.0.11-15 (port 25 of .2, .3 and .11-.15) and 127.0.0.1 ports 2601, 2602 and
# 2625, and one for nsd from 15351 up (transport_rig.sh). Sanitizer
# reports of the secmx programs fail the test.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$SMX_SOURCE_DIR/tests/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=transport_rig.sh
. "$SMX_SOURCE_DIR/tests/integration/transport_rig.sh"
smx_namespace "$@"
smx_init
rig_start

# The other routing variant parses cleanly with the same master.cf.
smx_instance_create srvonly 2626 srvonly.test
smx_example_master srvonly master.cf.transport
smx_example_main srvonly main.cf.sender-srv-only
if postconf -c "$(smx_dir srvonly)/etc" -n >/dev/null \
    2>"$SMX_TMP/srvonly.err" && [ ! -s "$SMX_TMP/srvonly.err" ]; then
	smx_pass "main.cf.sender-srv-only: postconf accepts it"
else
	smx_fail "main.cf.sender-srv-only: postconf complains:"
	smx_show "$SMX_TMP/srvonly.err"
fi

for role in sos bes; do
	for dom in $RIG_DOMAINS; do
		rig_send "$role" "$dom"
	done
done
# Bounded: every delivery decides within seconds on loopback; the
# slowest case is the refused SRV target of two.test.
rig_wait_all "$(smx_tries 240)" ||
    smx_fail "not every message was delivered, bounced or deferred in time"

# Delivered over TLS to the SOR (found by SRV) or the BER (found by MX)
# for both roles; plain.test: the Secure Only Sender bounces (5.7.4), the
# Best Effort Sender delivers in plaintext; null MX (5.1.10) and NXDOMAIN
# bounce; a DNS failure and a certificate that does not name the
# destination defer (rig_expect).
for role in sos bes; do
	for dom in $RIG_DOMAINS; do
		want=$(rig_expect "$role" "$dom")
		rig_check "$role" "$dom" "${want%% *}" "${want#* }"
	done
done

# Which receiver got it, as its Received: header says.
for row in "sos sor.test rx-sor" "bes two.test rx-sor" "sos dot.test rx-ber" \
    "bes plain.test rx-plain"; do
	# shellcheck disable=SC2086 # "ROLE DOMAIN INSTANCE"
	set -- $row
	f=$(rig_file "$(rig_token "$1" "$2")")
	if [ -n "$f" ] && rig_received "$f" | grep -Eq "by $3\.test \(Postfix\)"; then
		smx_pass "$1 -> $2: Received: by $3.test"
	else
		smx_fail "$1 -> $2: no Received: header by $3.test"
		[ -z "$f" ] || rig_received "$f" | smx_show /dev/stdin 3
	fi
done

# secmx-transport's audit lines: one per attempt and one per outcome.
rig_assert_audit "$(rig_token sos sor.test)" 'relay=sor-mx\.sor\.test\[127\.0\.0\.1\]:2601' \
    route=srv role=sos 'tls=TLSv1\.3' verify=ca status=sent
rig_assert_audit "$(rig_token sos two.test)" 'relay=dead\.two\.test\[127\.0\.0\.9\]:2601' \
    route=srv tls=none status=deferred
rig_assert_audit "$(rig_token sos two.test)" 'relay=sor-mx\.two\.test\[127\.0\.0\.1\]:2602' \
    route=srv role=sos 'tls=TLSv1\.3' verify=ca status=sent
rig_assert_audit "$(rig_token bes sor.test)" route=srv role=bes verify=ca status=sent
rig_assert_audit "$(rig_token sos ber.test)" 'relay=ber-mx\.ber\.test\[127\.0\.0\.2\]:25' \
    route=mx role=sos 'tls=TLSv1\.3' status=sent
rig_assert_audit "$(rig_token bes plain.test)" 'relay=mx\.plain\.test\[127\.0\.0\.3\]:25' \
    route=mx role=bes tls=none status=sent
rig_assert_audit "$(rig_token sos plain.test)" 'relay=mx\.plain\.test\[127\.0\.0\.3\]:25' \
    route=mx role=sos tls=none status=bounced
rig_assert_audit "$(rig_token sos nullmx.test)" role=sos status=bounced
rig_assert_audit "$(rig_token sos broken.example)" route=srv role=sos status=deferred
rig_assert_audit "$(rig_token bes broken.example)" route=srv role=bes status=deferred
# tls_verify = ca: a certificate that does not name the destination is
# refused after the handshake, and nothing reaches the SOR.
rig_assert_audit "$(rig_token sos wrong.test)" 'relay=sor-mx\.sor\.test\[127\.0\.0\.1\]:2601' \
    route=srv role=sos verify=fail status=deferred
rig_assert_audit "$(rig_token bes wrong.test)" route=srv verify=fail status=deferred

# Postfix saw the same: no command time limit, no pipe(8) warnings.
smx_assert_no_log 'postfix-tx/pipe\[[0-9]+\]: .*(warning|Command time limit)' \
    "pipe(8) ran secmx-transport cleanly"
# The receivers were reached only as the matrix says: nothing arrived at
# the SOR in plaintext.
smx_assert_no_log 'postfix-rx-sor/smtpd\[[0-9]+\]: .*Must issue a STARTTLS' \
    "no plaintext attempt at the SOR"

rig_tally
echo
echo "SecMX sending matrix (tls_verify = ca; $RIG_TALLY):"
rig_table

# ---- Faults and odd replies, through the real Postfix --------------------
# A Secure Only Sender meets a STARTTLS stall on the only MX (its first
# connection; the next one works): a glitch, not a refusal: deferred, and
# delivered once on the retry.
rig_fault_peer stall 127.0.0.11 stls_stall -f 1
rig_inject sos stall.test
t=$RIG_TOKEN
if smx_retry "$(smx_tries 300)" 0.1 rig_agent_status "$t" deferred; then
	smx_pass "sos -> stall.test: deferred after the STARTTLS stall"
else
	smx_fail "sos -> stall.test: not deferred"
fi
smx_assert_no_log "to=<$t@stall.test>.*status=bounced" \
    "sos -> stall.test: never bounced"
smx_assert_log "postfix-tx/pipe.*to=<$t@stall.test>.*dsn=4\.4\.2, status=deferred.*mx\.stall\.test\[127\.0\.0\.11\]:25.*stage=starttls class=transient" \
    "sos -> stall.test: the DSN names the host, the stage and the class"
rig_assert_audit "$t" 'relay=mx\.stall\.test\[127\.0\.0\.11\]:25' \
    stage=starttls class=transient status=deferred
rig_flush
if smx_retry "$(smx_tries 300)" 0.1 rig_agent_status "$t" sent; then
	smx_pass "sos -> stall.test: delivered on the retry"
else
	smx_fail "sos -> stall.test: not delivered on the retry"
fi
n=$(grep -c "token $t" "$SMX_TMP/peer-stall.transcript" || true)
if [ "$n" = 1 ]; then
	smx_pass "sos -> stall.test: the receiver got the message once"
else
	smx_fail "sos -> stall.test: the receiver got the message $n times"
fi

# Accepted at the end of data with an odd 250 (UTF-8 text, a bare LF, a
# 2000-byte line, bytes after the reply): sent, and never sent again.
i=12
for o in utf8 lf long extra; do
	rig_fault_peer "odd-$o" "127.0.0.$i" "eod_$o"
	i=$((i + 1))
	rig_inject sos "odd-$o.test"
	eval "odd_$o=\$RIG_TOKEN"
done
rig_flush
for o in utf8 lf long extra; do
	eval "t=\$odd_$o"
	if smx_retry "$(smx_tries 300)" 0.1 rig_agent_status "$t" sent; then
		smx_pass "sos -> odd-$o.test: sent"
	else
		smx_fail "sos -> odd-$o.test: not sent"
	fi
done
rig_flush
sleep 1
for o in utf8 lf long extra; do
	eval "t=\$odd_$o"
	n=$(grep -c "token $t" "$SMX_TMP/peer-odd-$o.transcript" || true)
	if [ "$n" = 1 ]; then
		smx_pass "sos -> odd-$o.test: the receiver got it once"
	else
		smx_fail "sos -> odd-$o.test: the receiver got it $n times"
	fi
	smx_assert_no_log "to=<$t@odd-$o.test>.*status=deferred" \
	    "sos -> odd-$o.test: never deferred"
done
# The reply with UTF-8 text is logged escaped.
smx_assert_log "secmx/transport.*to=<$odd_utf8@odd-utf8\.test>.*PEER1 \\\\xe2\\\\x9c\\\\x93" \
    "odd-utf8: the reply logged with its bytes escaped"

for i in tx rx-plain rx-ber rx-sor; do
	smx_instance_stop "$i"
done
smx_finish
