#!/bin/sh
# test_dane.sh - DANE (RFC 7672, RFC 7673) with real components: zones
# signed at test time (ldnsutils) and served by nsd, unbound as the
# validating resolver that secmx believes (dns_trust_ad = yes), TLSA
# records computed from certificates made at test time, smx-smtp-peer
# receivers presenting them, and Postfix receivers for secmx-probe -R
# (dnssec_rig.sh, transport_rig.sh; zones in tests/data/dns/dnssec/).
#
# secmx-transport runs as pipe(8) runs it: the message on stdin,
# -f SENDER -q QUEUEID -- RECIPIENT, the recipient's domain looked up.
# Each case asserts the exit status and the one status line, the audit
# line's dnssec=, verify= and tlsa=, and through the peers' transcripts
# whether the message was sent, and that nothing went in plaintext.
# secmx-lookup shows a DANE route; secmx-probe's text reports are
# compared with tests/data/probe/*.ref (after dnssec_normalise), its
# JSON output is parsed (perl's core JSON::PP) and checked, and its
# exit statuses (0, 1, 75, 2) and -R (a Postfix Secure Only Receiver
# with secmx-policyd, and one without) are asserted.
#
# DNSSEC_UPDATE_REFS=1 writes the normalised reports into
# tests/data/probe/ instead of comparing them (review the diff).
#
# Needs root, nsd, unbound, ldnsutils, Postfix and perl. Loopback
# addresses 127.0.0.40-127.0.0.54 (port 2725, or 25 for MX hosts, as
# tests/data/dns/dnssec/dane.test.zone.in says), nsd from port 15391 and
# unbound from 15395 (lib.sh's smx_port_start).

# The JSON checks are perl expressions in single quotes.
# shellcheck disable=SC2016
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$SMX_SOURCE_DIR/tests/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=transport_rig.sh
. "$SMX_SOURCE_DIR/tests/integration/transport_rig.sh"
# shellcheck source-path=SCRIPTDIR source=dnssec_rig.sh
. "$SMX_SOURCE_DIR/tests/integration/dnssec_rig.sh"
smx_namespace "$@"
smx_init
started=$(date +%s)
[ -x "${SMX_TRANSPORT:-}" ] || smx_fatal "SMX_TRANSPORT is not executable"
[ -x "${SMX_PEER:-}" ] || smx_fatal "SMX_PEER is not executable"
[ -x "${SMX_PROBE:-}" ] || smx_fatal "SMX_PROBE is not executable"
[ -x "${SMX_LOOKUP:-}" ] || smx_fatal "SMX_LOOKUP is not executable"
[ -x "${SMX_POLICYD:-}" ] || smx_fatal "SMX_POLICYD is not executable"
perl -MJSON::PP -e 1 || smx_fatal "perl's JSON::PP is missing"
smx_ensure_user secmx
refs=$SMX_SOURCE_DIR/tests/data/probe
P=$DNSSEC_SRV_PORT

# Every address and port of the test, free before anything starts.
for ap in 127.0.0.40:$P 127.0.0.41:$P 127.0.0.42:$P 127.0.0.43:25 \
    127.0.0.44:$P 127.0.0.45:25 127.0.0.46:$P 127.0.0.47:$P 127.0.0.48:$P \
    127.0.0.49:25 127.0.0.50:25 127.0.0.51:25 127.0.0.52:25 \
    127.0.0.53:$P 127.0.0.54:$P; do
	! dnssec_listening "${ap%:*}" "${ap#*:}" ||
	    smx_fatal "$ap is in use: the test needs it"
done

dnssec_start

# ---- The rig itself: what unbound says ------------------------------------
dnssec_assert_dns _secmx._tcp.ee.dane.test SRV secure
dnssec_assert_dns mx.ee.dane.test A secure
dnssec_assert_dns _2725._tcp.mx.ee.dane.test TLSA secure
dnssec_assert_dns _secmx._tcp.bogus-srv.dane.test SRV bogus
dnssec_assert_dns mx.bogus-tlsa.dane.test A secure
dnssec_assert_dns _2725._tcp.mx.bogus-tlsa.dane.test TLSA bogus
dnssec_assert_dns _secmx._tcp.insecure.dane.test SRV insecure
dnssec_assert_dns _2725._tcp.mx.insecure.dane.test TLSA insecure
for rr in "_secmx._tcp.bogus-srv.dane.test. SRV" \
    "_2725._tcp.mx.bogus-tlsa.dane.test. TLSA"; do
	if grep -q "validation failure <$rr IN>: signature expired" \
	    "$DNSSEC_ZONES/unbound.log"; then
		smx_pass "unbound: $rr is bogus because its RRSIG expired"
	else
		smx_fail "unbound logged no expired signature for $rr"
		smx_show "$DNSSEC_ZONES/unbound.log" 8
	fi
done

# ---- Receivers --------------------------------------------------------------
dnssec_peer ee 127.0.0.40 "$P" normal selfsigned
dnssec_peer ta 127.0.0.41 "$P" normal mx.ta.dane.test chain
dnssec_peer mismatch 127.0.0.42 "$P" normal mx.mismatch.dane.test
dnssec_peer mismatch-mx 127.0.0.43 25 normal mx.mxnone.dane.test
dnssec_peer bogus-srv 127.0.0.44 "$P" normal selfsigned
dnssec_peer bogus-srv-mx 127.0.0.45 25 normal mx.mxnone.dane.test
dnssec_peer bogus-tlsa 127.0.0.46 "$P" normal selfsigned
dnssec_peer insecure 127.0.0.47 "$P" normal insecure.dane.test
dnssec_peer unusable 127.0.0.48 "$P" normal wrongname
dnssec_peer notls 127.0.0.49 25 notls selfsigned
dnssec_peer mxee 127.0.0.50 25 normal selfsigned
dnssec_peer mxta 127.0.0.51 25 normal mxta.dane.test chain
dnssec_peer mxnone 127.0.0.52 25 normal mx.mxnone.dane.test

dnssec_conf sos "default_sender_role = sos"
dnssec_conf bes "default_sender_role = bes"
dnssec_conf sosdane "default_sender_role = sos" "sos_mx_security = dane"
dnssec_conf besdane "default_sender_role = bes" "sos_mx_security = dane"

# ---- secmx-transport --------------------------------------------------------
# DANE-EE on an SRV target: the certificate is self-signed and names
# only nothing.invalid; the TLSA record alone authenticates it.
for role in sos bes; do
	dnssec_send "$role" @ee.dane.test
	dnssec_expect "$role ee" 0 \
	    '^2\.0\.0 delivered via mx\.ee\.dane\.test\[127\.0\.0\.40\]:2725 TLSv1\.[23] '
	dnssec_assert_audit 'relay=mx\.ee\.dane\.test\[127\.0\.0\.40\]:2725' \
	    route=srv "role=$role" dnssec=secure 'tls=TLSv1\.[23]' \
	    verify=dane-ee 'tlsa=3\.1\.1' status=sent
	dnssec_assert_transcript ee sent "$role ee"
done

# DANE-TA: 2 0 1 of the test CA, the chain served; the certificate names
# the target host.
dnssec_send sos @ta.dane.test
dnssec_expect "sos ta" 0 '^2\.0\.0 delivered via mx\.ta\.dane\.test\[127\.0\.0\.41\]:2725 '
dnssec_assert_audit route=srv dnssec=secure verify=dane-ta 'tlsa=2\.0\.1' \
    status=sent
dnssec_assert_transcript ta sent "sos ta"

# A TLSA record that matches nothing presented, though the certificate
# is CA-signed for the target's name: deferred (class dane), for a Best
# Effort Sender too; never plaintext, and the domain's MX is not used.
for role in sos bes; do
	dnssec_send "$role" @mismatch.dane.test
	dnssec_expect "$role mismatch" 75 \
	    '^4\.7\.5 .*\[stage=handshake class=dane\]'
	dnssec_assert_audit 'relay=mx\.mismatch\.dane\.test\[127\.0\.0\.42\]:2725' \
	    dnssec=secure verify=fail status=deferred
	dnssec_assert_no_audit status=sent
	# The client rejects the certificate at the end of the handshake
	# and closes; whether the peer saw the handshake complete depends
	# on timing. No transaction either way.
	dnssec_assert_transcript mismatch 'tls|connected' "$role mismatch"
	dnssec_assert_transcript mismatch-mx none "$role mismatch: the MX"
done

# Bogus SRV answer (expired RRSIG): SERVFAIL from unbound, deferred
# 4.4.3; no target and no MX is tried.
for role in sos bes; do
	dnssec_send "$role" @bogus-srv.dane.test
	dnssec_expect "$role bogus SRV" 75 \
	    '^4\.4\.3 DNS lookup of _secmx\._tcp\.bogus-srv\.dane\.test failed: SERVFAIL'
	dnssec_assert_audit 'relay=none' status=deferred
	dnssec_assert_transcript bogus-srv none "$role bogus SRV"
	dnssec_assert_transcript bogus-srv-mx none "$role bogus SRV: the MX"
done

# Bogus TLSA answer for a target whose certificate would match it: the
# target is not used (4.7.5), nothing else is left: deferred.
for role in sos bes; do
	dnssec_send "$role" @bogus-tlsa.dane.test
	dnssec_expect "$role bogus TLSA" 75 \
	    '^4\.7\.5 TLSA lookup of _2725\._tcp\.mx\.bogus-tlsa\.dane\.test failed \(SERVFAIL from \[127\.0\.0\.1\]:[0-9]+\): DNSSEC says the answer is bogus'
	dnssec_assert_audit status=deferred
	dnssec_assert_transcript bogus-tlsa none "$role bogus TLSA"
done

# Insecure delegation: today's SecMX rules. The SRV answer is not
# validated, so its TLSA record (which matches nothing) is not used and
# the certificate is checked against the test CA for the destination
# domain.
dnssec_send sos @insecure.dane.test
dnssec_expect "sos insecure" 0 \
    '^2\.0\.0 delivered via mx\.insecure\.dane\.test\[127\.0\.0\.47\]:2725 '
dnssec_assert_audit route=srv dnssec=insecure verify=ca status=sent
dnssec_assert_no_audit 'tlsa=[0-9.]+'
dnssec_assert_transcript insecure sent "sos insecure"

# Only an unusable TLSA record (usage 1): TLS mandatory, not
# authenticated (the certificate names another host).
for role in sos bes; do
	dnssec_send "$role" @unusable.dane.test
	dnssec_expect "$role unusable" 0 \
	    '^2\.0\.0 delivered via mx\.unusable\.dane\.test\[127\.0\.0\.48\]:2725 TLSv1\.[23] '
	dnssec_assert_audit dnssec=secure 'tls=TLSv1\.[23]' verify=none \
	    status=sent
	dnssec_assert_transcript unusable sent "$role unusable"
done

# An MX host with TLSA records that offers no STARTTLS: deferred, for a
# Best Effort Sender too, never plaintext.
for role in bes sos; do
	dnssec_send "$role" @notls.dane.test
	dnssec_expect "$role notls" 75 \
	    '^4\.7\.4 TLS is required, but was not offered by host mx\.notls\.dane\.test.*class=dane\]'
	dnssec_assert_audit route=mx tls=none status=deferred
	dnssec_assert_no_audit status=sent
	dnssec_assert_transcript notls connected "$role notls"
done

# MX hosts authenticated by DANE (RFC 7672): DANE-EE, and DANE-TA with a
# certificate that names the destination domain, not the host.
dnssec_send sos @mxee.dane.test
dnssec_expect "sos mxee" 0 '^2\.0\.0 delivered via mx\.mxee\.dane\.test\[127\.0\.0\.50\]:25 '
dnssec_assert_audit route=mx dnssec=secure verify=dane-ee 'tlsa=3\.1\.1' \
    status=sent
dnssec_assert_transcript mxee sent "sos mxee"
dnssec_send bes @mxta.dane.test
dnssec_expect "bes mxta" 0 '^2\.0\.0 delivered via mx\.mxta\.dane\.test\[127\.0\.0\.51\]:25 '
dnssec_assert_audit route=mx dnssec=secure verify=dane-ta 'tlsa=2\.0\.1' \
    status=sent
dnssec_assert_transcript mxta sent "bes mxta"

# sos_mx_security = dane: an MX with usable TLSA qualifies ...
dnssec_send sosdane @mxee.dane.test
dnssec_expect "sos_mx_security=dane mxee" 0 \
    '^2\.0\.0 delivered via mx\.mxee\.dane\.test\[127\.0\.0\.50\]:25 '
dnssec_assert_audit route=mx role=sos verify=dane-ee 'tlsa=3\.1\.1' status=sent
dnssec_assert_transcript mxee sent "sos_mx_security=dane mxee"
# ... one without TLSA does not: bounced 5.7.4, never connected. The
# same MX is good enough under sos_mx_security = encrypt, and for a
# Best Effort Sender.
dnssec_send sosdane @mxnone.dane.test
dnssec_expect "sos_mx_security=dane mxnone" 69 \
    '^5\.7\.4 No MX host of mxnone\.dane\.test is DANE-authenticated \(sos_mx_security = dane\): '
dnssec_assert_audit route=mx role=sos status=bounced
dnssec_assert_transcript mxnone none "sos_mx_security=dane mxnone"
dnssec_send sos @mxnone.dane.test
dnssec_expect "sos_mx_security=encrypt mxnone" 0 \
    '^2\.0\.0 delivered via mx\.mxnone\.dane\.test\[127\.0\.0\.52\]:25 TLSv1\.[23] '
dnssec_assert_audit route=mx dnssec=secure verify=none status=sent
dnssec_assert_transcript mxnone sent "sos_mx_security=encrypt mxnone"
dnssec_send besdane @mxnone.dane.test
dnssec_expect "bes, sos_mx_security=dane, mxnone" 0 '^2\.0\.0 delivered via '
dnssec_assert_transcript mxnone sent "bes, sos_mx_security=dane, mxnone"

# Nothing reached a peer after its case was checked, in plaintext or as
# a transaction. (A TLS handshake that a client abandoned may complete
# at the peer just after the check: "tls" is not a transaction.)
for name in ee ta mismatch mismatch-mx bogus-srv bogus-srv-mx bogus-tlsa \
    insecure unusable notls mxee mxta mxnone; do
	dnssec_assert_transcript "$name" 'none|tls' \
	    "$name after the transport cases"
done

# ---- secmx-lookup -q DOMAIN route ---------------------------------------------
rc=0
"$SMX_LOOKUP" -c "$DNSSEC_DIR/sos.conf" -q ee.dane.test route \
    >"$DNSSEC_DIR/lookup.out" 2>&1 || rc=$?
if [ "$rc" = 0 ] &&
    head -n 1 "$DNSSEC_DIR/lookup.out" | grep -qx 'srv:\[mx\.ee\.dane\.test\]:2725' &&
    grep -q '^# _secmx\._tcp\.ee\.dane\.test: 1 target(s), dnssec=secure$' \
        "$DNSSEC_DIR/lookup.out" &&
    grep -q "^#     3 1 1 $DNSSEC_EE_SPKI" "$DNSSEC_DIR/lookup.out"; then
	smx_pass "secmx-lookup route: dnssec=secure and the TLSA record"
else
	smx_fail "secmx-lookup -q ee.dane.test route (exit $rc):"
	smx_show "$DNSSEC_DIR/lookup.out"
fi

# ---- secmx-probe --------------------------------------------------------------
# probe_case NAME CONF DOMAIN EXIT [OPTIONS...]: secmx-probe exits EXIT
# and its report, normalised by dnssec_normalise (dnssec_rig.sh), equals
# tests/data/probe/NAME.ref. The normalisation takes out only what
# legitimately varies between runs and machines: the TLSA digests of
# the certificates made at run time (written as the zone template's
# @NAME@), the cipher suite, a certificate's days left and the
# resolver's port in a SERVFAIL text. Addresses and the servers' ports
# are fixed by the zone and stay as they are.
probe_case() {
	_n=$1
	_c=$2
	_d=$3
	_x=$4
	shift 4
	dnssec_probe "$_n" "$_c" "$_d" "$@"
	if [ "$DNSSEC_RC" = "$_x" ]; then
		smx_pass "secmx-probe ${*:+$* }$_d: exit $_x"
	else
		smx_fail "secmx-probe ${*:+$* }$_d: exit $DNSSEC_RC, expected $_x"
		smx_show "$DNSSEC_DIR/probe-$_n.err" 5
	fi
	dnssec_normalise <"$DNSSEC_DIR/probe-$_n.out" >"$DNSSEC_DIR/probe-$_n.txt"
	if [ -n "${DNSSEC_UPDATE_REFS:-}" ]; then
		cp "$DNSSEC_DIR/probe-$_n.txt" "$refs/$_n.ref"
		smx_log "wrote $refs/$_n.ref"
	elif diff -u "$refs/$_n.ref" "$DNSSEC_DIR/probe-$_n.txt" \
	    >"$DNSSEC_DIR/probe-$_n.diff"; then
		smx_pass "secmx-probe $_d: report equals $_n.ref"
	else
		smx_fail "secmx-probe $_d: report differs from $_n.ref:"
		smx_show "$DNSSEC_DIR/probe-$_n.diff" 40
	fi
}

probe_case ee sos ee.dane.test 0
probe_case ta sos ta.dane.test 0
probe_case mismatch sos mismatch.dane.test 75
probe_case bogus-srv sos bogus-srv.dane.test 75
probe_case bogus-tlsa sos bogus-tlsa.dane.test 75
probe_case insecure sos insecure.dane.test 0
probe_case unusable sos unusable.dane.test 0
probe_case notls-bes sos notls.dane.test 75 -r bes
probe_case mxta sos mxta.dane.test 0
probe_case mxee-sosdane sosdane mxee.dane.test 0
probe_case mxnone-sosdane sosdane mxnone.dane.test 1
# A probe never sends a message.
for name in ee ta mismatch insecure unusable notls mxee mxta mxnone; do
	case $(dnssec_transcript "$name") in
	plaintext | sent) smx_fail "secmx-probe: peer $name saw a transaction" ;;
	*) smx_pass "secmx-probe: peer $name saw no transaction" ;;
	esac
	if grep -q '^\(MAIL\|RCPT\|DATA\)' "$DNSSEC_DIR/peer-$name.transcript"; then
		smx_fail "secmx-probe: peer $name got MAIL, RCPT or DATA"
	fi
	: >"$DNSSEC_DIR/peer-$name.transcript"
done

# The JSON report: valid JSON, and the fields a monitor reads.
# json_check NAME CONF DOMAIN EXIT PERL-CONDITION [OPTIONS...]: the
# document parses, its "exit" is EXIT and the process exited EXIT, and
# the perl expression holds for it ($j).
json_check() {
	_n=$1
	_c=$2
	_d=$3
	_x=$4
	_cond=$5
	shift 5
	dnssec_probe "$_n-json" "$_c" "$_d" -j "$@"
	if perl -MJSON::PP -e '
	    local $/; my $j = decode_json(<STDIN>);
	    exit(($j->{exit} == $ARGV[0] && ('"$_cond"')) ? 0 : 1)' "$_x" \
	    <"$DNSSEC_DIR/probe-$_n-json.out" 2>"$DNSSEC_DIR/json.err" &&
	    [ "$DNSSEC_RC" = "$_x" ] &&
	    [ "$(wc -l <"$DNSSEC_DIR/probe-$_n-json.out")" = 1 ]; then
		smx_pass "secmx-probe -j $_d: exit $_x, valid JSON, fields as expected"
	else
		smx_fail "secmx-probe -j $_d (exit $DNSSEC_RC, expected $_x): not $_cond"
		cat "$DNSSEC_DIR/json.err" "$DNSSEC_DIR/probe-$_n-json.out" |
		    smx_show /dev/stdin 5
	fi
}

json_check ee sos ee.dane.test 0 '
    $j->{domain} eq "ee.dane.test" && $j->{role} eq "sos" &&
    $j->{srv}{status} eq "ok" && $j->{srv}{reason} eq "" &&
    $j->{srv}{dnssec} eq "secure" && $j->{srv}{targets}[0]{host} eq "mx.ee.dane.test" &&
    $j->{srv}{targets}[0]{port} == 2725 &&
    $j->{targets}[0]{addresses}[0] eq "127.0.0.40" &&
    $j->{targets}[0]{addresses_dnssec} eq "secure" &&
    $j->{targets}[0]{tlsa}{dane} eq "required" &&
    $j->{targets}[0]{tlsa}{records}[0]{usage} == 3 &&
    $j->{targets}[0]{tlsa}{records}[0]{selector} == 1 &&
    $j->{targets}[0]{tlsa}{records}[0]{mtype} == 1 &&
    $j->{targets}[0]{tlsa}{records}[0]{usable} &&
    $j->{targets}[0]{tlsa}{records}[0]{data} eq "'"$DNSSEC_EE_SPKI"'" &&
    $j->{targets}[0]{attempts}[0]{tls_policy} eq "dane" &&
    $j->{targets}[0]{attempts}[0]{verify} eq "dane-ee" &&
    $j->{targets}[0]{attempts}[0]{tlsa_match} eq "3.1.1" &&
    $j->{targets}[0]{attempts}[0]{protocol} =~ /^TLSv1\.[23]$/ &&
    $j->{targets}[0]{attempts}[0]{certificates}[0]{subject} =~ /nothing\.invalid/ &&
    $j->{verdicts}{sos}{action} eq "deliver" &&
    $j->{verdicts}{sos}{verify} eq "dane-ee" &&
    $j->{verdicts}{sos}{dnssec} eq "secure" &&
    $j->{verdicts}{bes}{action} eq "deliver"'
json_check ta sos ta.dane.test 0 '
    $j->{targets}[0]{attempts}[0]{verify} eq "dane-ta" &&
    $j->{targets}[0]{attempts}[0]{tlsa_match} eq "2.0.1" &&
    @{$j->{targets}[0]{attempts}[0]{certificates}} == 2 &&
    $j->{targets}[0]{attempts}[0]{certificates}[1]{subject} =~ /secmx test CA/'
json_check mismatch sos mismatch.dane.test 75 '
    $j->{targets}[0]{attempts}[0]{verify} eq "fail" &&
    $j->{targets}[0]{attempts}[0]{class} eq "dane" &&
    !defined $j->{mx} &&
    $j->{verdicts}{sos}{action} eq "defer" && $j->{verdicts}{bes}{action} eq "defer"'
json_check bogus-srv sos bogus-srv.dane.test 75 '
    $j->{srv}{status} eq "tempfail" && $j->{srv}{reason} =~ /SERVFAIL/ &&
    @{$j->{targets}} == 0 && $j->{verdicts}{sos}{line} =~ /^4\.4\.3 /'
json_check bogus-tlsa sos bogus-tlsa.dane.test 75 '
    $j->{targets}[0]{tlsa}{dane} eq "failed" &&
    @{$j->{targets}[0]{attempts}} == 0 && $j->{targets}[0]{skipped} =~ /TLSA lookup/'
json_check insecure sos insecure.dane.test 0 '
    $j->{srv}{dnssec} eq "insecure" && !defined $j->{targets}[0]{tlsa} &&
    $j->{verdicts}{sos}{verify} eq "ca" && $j->{verdicts}{sos}{dnssec} eq "insecure"'
json_check mxnone-sosdane sosdane mxnone.dane.test 1 '
    $j->{srv}{status} eq "notfound" &&
    $j->{mx}{status} eq "ok" && $j->{mx}{reason} eq "" &&
    $j->{mx}{dnssec} eq "secure" && $j->{verdicts}{sos}{action} eq "bounce" &&
    $j->{verdicts}{sos}{line} =~ /^5\.7\.4 / && $j->{verdicts}{bes}{action} eq "deliver"'

# Exit status 2: usage and configuration errors, with nothing on stdout.
for args in "-c $DNSSEC_DIR/missing.conf ee.dane.test" \
    "-c $DNSSEC_DIR/sos.conf" \
    "-c $DNSSEC_DIR/sos.conf -r xyz ee.dane.test" \
    "-c $DNSSEC_DIR/sos.conf -R someone@other.test ee.dane.test"; do
	rc=0
	# shellcheck disable=SC2086 # the arguments, word-split
	"$SMX_PROBE" $args >"$DNSSEC_DIR/probe2.out" 2>"$DNSSEC_DIR/probe2.err" ||
	    rc=$?
	if [ "$rc" = 2 ] && [ ! -s "$DNSSEC_DIR/probe2.out" ] &&
	    [ -s "$DNSSEC_DIR/probe2.err" ]; then
		smx_pass "secmx-probe $args: exit 2 ($(head -n 1 "$DNSSEC_DIR/probe2.err"))"
	else
		smx_fail "secmx-probe $args: exit $rc, expected 2 and a message"
		smx_show "$DNSSEC_DIR/probe2.err" 3
	fi
done

# ---- secmx-probe -R: Postfix as the SRV target ----------------------------
# rx-sor: a Secure Only Receiver whose plaintext refusal comes from
# secmx-policyd (receiver_roles "sor.dane.test sor"; smtpd itself only
# offers TLS, so that the refusal is the policy server's). rx-open: the
# same Postfix without secmx-policyd, accepting mail in plaintext. Both
# offer STARTTLS with a certificate that their TLSA record names.
rig_receiver rx-sor "$P" 127.0.0.53 sor - sor.dane.test
smx_postconf rx-sor "smtpd_tls_security_level = may" \
    "smtpd_tls_cert_file = $DNSSEC_CERTS/mx.sor.dane.test.pem" \
    "smtpd_tls_key_file = $DNSSEC_CERTS/mx.sor.dane.test.key"
rig_receiver rx-open "$P" 127.0.0.54 none - open.dane.test
smx_postconf rx-open "smtpd_tls_security_level = may" \
    "smtpd_tls_cert_file = $DNSSEC_CERTS/mx.open.dane.test.pem" \
    "smtpd_tls_key_file = $DNSSEC_CERTS/mx.open.dane.test.key"
rig_instance_start rx-sor
rig_instance_start rx-open

probe_case sor-R sos sor.dane.test 0 -R someone@sor.dane.test
if grep -q '^recipient check mx\.sor\.dane\.test\[127\.0\.0\.53\]:2725 RCPT TO:<someone@sor\.dane\.test> in plaintext: refused, Secure Only (530 ' \
    "$DNSSEC_DIR/probe-sor-R.out"; then
	smx_pass "secmx-probe -R: rx-sor refused the recipient in plaintext"
else
	smx_fail "secmx-probe -R: no refusal by rx-sor in the report"
fi
smx_assert_log 'secmx/policyd\[[0-9]+\]: NOQUEUE: action=reject role=sor domain=sor\.dane\.test rcpt=<someone@sor\.dane\.test> .*tls=none reason=plaintext' \
    "secmx-policyd refused the plaintext recipient"
probe_case open-R sos open.dane.test 1 -R someone@open.dane.test
if grep -q 'RCPT TO:<someone@open\.dane\.test> in plaintext: ACCEPTED: not Secure Only (250 ' \
    "$DNSSEC_DIR/probe-open-R.out"; then
	smx_pass "secmx-probe -R: rx-open reported not Secure Only"
else
	smx_fail "secmx-probe -R: rx-open not reported as not Secure Only"
fi
json_check open-R sos open.dane.test 1 '
    $j->{recipient_checks}[0]{reply_code} == 250 &&
    !$j->{recipient_checks}[0]{secure_only} &&
    $j->{recipient_checks}[0]{address} eq "someone\@open.dane.test" &&
    $j->{verdicts}{sos}{action} eq "deliver" && $j->{verdicts}{sos}{verify} eq "dane-ee"' \
    -R someone@open.dane.test
# -R never sends DATA, and nothing reached a mailbox.
smx_assert_log 'postfix-rx-open/smtpd\[[0-9]+\]: disconnect from .* rcpt=1' \
    "rx-open: the probe's session ended"
smx_assert_no_log 'postfix-rx-(sor|open)/smtpd\[[0-9]+\]: disconnect from .* data=' \
    "no DATA at the Postfix receivers"
if find "$SMX_TMP/rx-sor/mail" "$SMX_TMP/rx-open/mail" -type f | grep -q .; then
	smx_fail "secmx-probe -R: a message reached a mailbox"
else
	smx_pass "secmx-probe -R: no message in any mailbox"
fi

smx_log "test_dane took $(($(date +%s) - started))s"
smx_finish
