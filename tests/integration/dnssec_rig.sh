# shellcheck shell=sh
# dnssec_rig.sh - DNSSEC and DANE on loopback: test certificates, signed
# zones with TLSA records computed from those certificates, nsd serving
# them, unbound validating them, and smx-smtp-peer receivers presenting
# the certificates. Shared by test_dane.sh and scripts/demo; source
# after lib.sh and call smx_init first.
#
#	. "$SMX_SOURCE_DIR/tests/integration/dnssec_rig.sh"
#	dnssec_start			# certificates, zones, nsd, unbound
#	dnssec_peer ee 127.0.0.40 2725 normal selfsigned
#	dnssec_conf sos "default_sender_role = sos"
#	dnssec_send sos rcpt@ee.dane.test
#	dnssec_expect "ee" 0 '2\.0\.0 delivered via mx\.ee\.dane\.test'
#	dnssec_assert_audit verify=dane-ee tlsa=3\.1\.1 status=sent
#	dnssec_assert_transcript ee sent "ee"
#
# What runs (the zones are tests/data/dns/dnssec/*.in):
#
#   nsd      127.0.0.1:$DNSSEC_NSD_PORT, the first free port from 15391
#            (lib.sh's smx_port_start): dane.test. signed, and
#            insecure.dane.test. unsigned and delegated without DS.
#   unbound  127.0.0.1:$DNSSEC_PORT, the first free port from 15395: a
#            validating resolver whose only trust anchor is the DS of
#            dane.test. and which asks nothing but that nsd (stub zones
#            for dane.test., insecure.dane.test. and the root). Its log
#            is $DNSSEC_DIR/dns/unbound.log.
#   peers    smx-smtp-peer -M on fixed loopback addresses from
#            127.0.0.40 (dnssec_peer), port 2725 for SRV targets and 25
#            for MX hosts, as the zone says; transcript
#            $DNSSEC_DIR/peer-NAME.transcript.
#
# Certificates ($DNSSEC_DIR/certs, scripts/make-test-certs): the test
# CA; selfsigned.pem, self-signed for nothing.invalid (DANE-EE: names
# nothing useful, no CA); a CA-signed certificate per name in
# DNSSEC_CERT_NAMES, and NAME.chain.pem (leaf and CA) for DANE-TA.
#
# TLSA data: SHA2-256 of the DER public key (selector 1: openssl x509
# -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256) or
# of the DER certificate (selector 0), in DNSSEC_EE_SPKI (selfsigned),
# DNSSEC_CA_CERT (ca.pem), DNSSEC_OTHER_SPKI (expired.pem, presented by
# no server), DNSSEC_WRONG_SPKI (wrongname.pem), DNSSEC_SOR_SPKI and
# DNSSEC_OPEN_SPKI (mx.sor.dane.test, mx.open.dane.test).
#
# Signing (dnssec_sign): a ZSK and a KSK (ldns-keygen -a
# ECDSAP256SHA256 [-k]), ldns-signzone with NSEC, the DS of the KSK
# (ldns-key2ds) as unbound's trust anchor. Two RRsets must be bogus: the
# SRV RRset of bogus-srv.dane.test and the TLSA RRset of
# mx.bogus-tlsa.dane.test. The zone is signed twice with the same keys,
# once valid from now and once valid only in January 2020
# (ldns-signzone -i 20200101 -e 20200201), and the RRSIGs of exactly
# those two RRsets are taken from the second signing: their signatures
# are right but expired, while the DNSKEY RRset, the NSEC chain and
# every other RRset stay valid. That gives a bogus TLSA RRset beside a
# secure address record of the same host, which a separately delegated
# zone signed with expired signatures would not: there, everything at
# and below the cut is bogus.
#
# Environment: SMX_PEER (smx-smtp-peer), SMX_TRANSPORT (dnssec_send),
# SMX_PROBE (dnssec_probe), besides lib.sh's variables.

DNSSEC_NSD_PORT=${DNSSEC_NSD_PORT:-15391}
DNSSEC_PORT=${DNSSEC_PORT:-15395}
# shellcheck disable=SC2034 # used by the scripts that source this file
DNSSEC_SRV_PORT=2725
DNSSEC_DIR=
DNSSEC_CERTS=
DNSSEC_ZONES=
DNSSEC_UNBOUND_PID=
DNSSEC_QID=
DNSSEC_RCPT=
DNSSEC_TOKEN=
DNSSEC_RC=
DNSSEC_LINE=
# The CA-signed server certificates (besides selfsigned.pem for
# nothing.invalid, wrongname.pem and expired.pem of make-test-certs).
DNSSEC_CERT_NAMES="mx.ta.dane.test mx.mismatch.dane.test insecure.dane.test mxta.dane.test mx.mxnone.dane.test mx.sor.dane.test mx.open.dane.test"

# dnssec_listening ADDR PORT: something listens on TCP ADDR:PORT, on the
# wildcard address or on every loopback address for PORT.
dnssec_listening() {
	ss -Hltn "( sport = :$2 )" 2>/dev/null | awk -v a="$1:$2" -v p=":$2" '
	    $4 == a || $4 == "0.0.0.0" p || $4 == "*" p || $4 == "[::]" p {
	    f = 1 } END { exit !f }'
}

# dnssec_spki CERT: the SHA2-256 of CERT's public key (TLSA selector 1,
# matching type 1), in lower-case hex.
dnssec_spki() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
	    openssl dgst -sha256 -r | cut -d' ' -f1
}

# dnssec_cert_digest CERT: the SHA2-256 of the whole DER certificate
# (TLSA selector 0, matching type 1).
dnssec_cert_digest() {
	openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -r |
	    cut -d' ' -f1
}

# dnssec_certs: the certificates and the TLSA digests (see above).
dnssec_certs() {
	DNSSEC_CERTS=$DNSSEC_DIR/certs
	# shellcheck disable=SC2086 # the list of names
	"$SMX_SOURCE_DIR/scripts/make-test-certs" "$DNSSEC_CERTS" \
	    nothing.invalid $DNSSEC_CERT_NAMES >"$DNSSEC_DIR/certs.log" 2>&1 ||
	    smx_fatal "make-test-certs failed: $(cat "$DNSSEC_DIR/certs.log")"
	for _n in $DNSSEC_CERT_NAMES; do
		cat "$DNSSEC_CERTS/$_n.pem" "$DNSSEC_CERTS/ca.pem" \
		    >"$DNSSEC_CERTS/$_n.chain.pem"
	done
	chmod 0755 "$DNSSEC_CERTS"
	chmod 0644 "$DNSSEC_CERTS/"*.pem
	chmod 0600 "$DNSSEC_CERTS/"*.key
	DNSSEC_EE_SPKI=$(dnssec_spki "$DNSSEC_CERTS/selfsigned.pem")
	DNSSEC_CA_CERT=$(dnssec_cert_digest "$DNSSEC_CERTS/ca.pem")
	DNSSEC_OTHER_SPKI=$(dnssec_spki "$DNSSEC_CERTS/expired.pem")
	DNSSEC_WRONG_SPKI=$(dnssec_spki "$DNSSEC_CERTS/wrongname.pem")
	DNSSEC_SOR_SPKI=$(dnssec_spki "$DNSSEC_CERTS/mx.sor.dane.test.pem")
	DNSSEC_OPEN_SPKI=$(dnssec_spki "$DNSSEC_CERTS/mx.open.dane.test.pem")
	for _h in "$DNSSEC_EE_SPKI" "$DNSSEC_CA_CERT" "$DNSSEC_OTHER_SPKI" \
	    "$DNSSEC_WRONG_SPKI" "$DNSSEC_SOR_SPKI" "$DNSSEC_OPEN_SPKI"; do
		printf '%s\n' "$_h" | grep -Eqx '[0-9a-f]{64}' ||
		    smx_fatal "not a SHA2-256 digest: '$_h'"
	done
}

# dnssec_zone_in TEMPLATE OUT: the zone template with its digests.
dnssec_zone_in() {
	sed -e "s/@EE_SPKI@/$DNSSEC_EE_SPKI/g" \
	    -e "s/@CA_CERT@/$DNSSEC_CA_CERT/g" \
	    -e "s/@OTHER_SPKI@/$DNSSEC_OTHER_SPKI/g" \
	    -e "s/@WRONG_SPKI@/$DNSSEC_WRONG_SPKI/g" \
	    -e "s/@SOR_SPKI@/$DNSSEC_SOR_SPKI/g" \
	    -e "s/@OPEN_SPKI@/$DNSSEC_OPEN_SPKI/g" \
	    "$SMX_SOURCE_DIR/tests/data/dns/dnssec/$1" >"$2"
	! grep -v '^;' "$2" | grep -q '@[A-Z_]*@' ||
	    smx_fatal "$1: a placeholder is left"
}

# The RRsets that get an expired RRSIG: "OWNER:TYPE" (absolute owners).
DNSSEC_BOGUS="_secmx._tcp.bogus-srv.dane.test.:SRV _2725._tcp.mx.bogus-tlsa.dane.test.:TLSA"

# dnssec_sign: keys for dane.test., the zone signed (with the bogus
# RRsets spliced in, see above) into dane.test.signed, the trust anchor
# into dane.test.ds.
dnssec_sign() {
	(
		cd "$DNSSEC_ZONES" || exit 1
		zsk=$(ldns-keygen -a ECDSAP256SHA256 dane.test) || exit 1
		ksk=$(ldns-keygen -a ECDSAP256SHA256 -k dane.test) || exit 1
		ldns-signzone -o dane.test. -f dane.test.valid dane.test.zone \
		    "$zsk" "$ksk" || exit 1
		ldns-signzone -o dane.test. -i 20200101 -e 20200201 \
		    -f dane.test.expired dane.test.zone "$zsk" "$ksk" || exit 1
		ldns-key2ds -n -2 "$ksk.key" >dane.test.ds || exit 1
	) >"$DNSSEC_ZONES/sign.log" 2>&1 ||
	    smx_fatal "signing dane.test. failed: $(cat "$DNSSEC_ZONES/sign.log")"
	# ldns-signzone writes one RR per line: owner TTL class type rdata.
	awk -v bogus="$DNSSEC_BOGUS" '
	    BEGIN { n = split(bogus, b, " "); for (i = 1; i <= n; i++) want[b[i]] = 1 }
	    FNR == NR {
		if ($4 == "RRSIG" && (($1 ":" $5) in want)) old[$1 ":" $5] = $0
		next
	    }
	    $4 == "RRSIG" && (($1 ":" $5) in old) { print old[$1 ":" $5]; next }
	    { print }' "$DNSSEC_ZONES/dane.test.expired" \
	    "$DNSSEC_ZONES/dane.test.valid" >"$DNSSEC_ZONES/dane.test.signed"
	_nb=$(diff "$DNSSEC_ZONES/dane.test.valid" \
	    "$DNSSEC_ZONES/dane.test.signed" | grep -c '^>' || true)
	[ "$_nb" = 2 ] ||
	    smx_fatal "expected 2 expired RRSIGs spliced into dane.test., found $_nb"
	grep -q 'IN[[:space:]]*DS[[:space:]]' "$DNSSEC_ZONES/dane.test.ds" ||
	    smx_fatal "no DS record for dane.test."
}

# dnssec_unbound_on PORT: unbound in the foreground on 127.0.0.1:PORT;
# returns 0 once it answers a validated (AD) SOA of dane.test., or 1,
# after stopping it, when it exits (it could not bind PORT) or does not
# answer within 10s. For smx_port_start. Sets DNSSEC_UNBOUND_PID.
dnssec_unbound_on() {
	sed -e "s|@DIR@|$DNSSEC_ZONES|g" -e "s|@PORT@|$1|g" \
	    -e "s|@NSD_PORT@|$DNSSEC_NSD_PORT|g" \
	    "$SMX_SOURCE_DIR/tests/data/dns/dnssec/unbound.conf.in" \
	    >"$DNSSEC_ZONES/unbound.conf"
	unbound-checkconf "$DNSSEC_ZONES/unbound.conf" \
	    >"$DNSSEC_ZONES/checkconf.log" 2>&1 ||
	    smx_fatal "unbound.conf: $(cat "$DNSSEC_ZONES/checkconf.log")"
	unbound -d -c "$DNSSEC_ZONES/unbound.conf" \
	    >>"$DNSSEC_ZONES/unbound.log" 2>&1 &
	DNSSEC_UNBOUND_PID=$!
	smx_track "$DNSSEC_UNBOUND_PID"
	_ubn=0
	while [ "$_ubn" -lt 100 ]; do
		# TCP: refused at once while unbound is not up yet.
		if drill -t -D -p "$1" dane.test @127.0.0.1 SOA 2>/dev/null |
		    grep -q '^;; flags: qr.* ad'; then
			return 0
		fi
		smx_pid_alive "$DNSSEC_UNBOUND_PID" || break
		sleep 0.1
		_ubn=$((_ubn + 1))
	done
	smx_log "unbound on 127.0.0.1:$1: $(tail -n 3 "$DNSSEC_ZONES/unbound.log")"
	smx_stop_pid "$DNSSEC_UNBOUND_PID"
	wait "$DNSSEC_UNBOUND_PID" 2>/dev/null || true
	smx_untrack "$DNSSEC_UNBOUND_PID"
	return 1
}

# dnssec_start: certificates, zones, nsd and unbound, ready.
dnssec_start() {
	smx_require nsd unbound unbound-checkconf drill ldns-keygen \
	    ldns-signzone ldns-key2ds openssl awk ss
	DNSSEC_DIR=$SMX_TMP/dane
	DNSSEC_ZONES=$DNSSEC_DIR/dns
	mkdir -p "$DNSSEC_ZONES"
	chmod 0755 "$DNSSEC_DIR"
	dnssec_certs
	dnssec_zone_in dane.test.zone.in "$DNSSEC_ZONES/dane.test.zone"
	dnssec_zone_in insecure.dane.test.zone.in \
	    "$DNSSEC_ZONES/insecure.dane.test.zone"
	dnssec_sign
	smx_port_start DNSSEC_NSD_PORT "$DNSSEC_NSD_PORT" smx_nsd_start \
	    "$SMX_SOURCE_DIR/tests/data/dns/dnssec/nsd.conf.in" dane.test \
	    "$DNSSEC_ZONES" || smx_fatal "nsd did not start"
	smx_port_start DNSSEC_PORT "$DNSSEC_PORT" dnssec_unbound_on ||
	    smx_fatal "unbound did not start"
}

# dnssec_dns NAME TYPE: what unbound says about NAME TYPE, in one word:
# "secure" (NOERROR, AD, an answer), "insecure" (NOERROR without AD),
# "bogus" (SERVFAIL), or the rcode in lower case.
dnssec_dns() {
	drill -t -D -p "$DNSSEC_PORT" "$1" @127.0.0.1 "$2" \
	    >"$DNSSEC_DIR/drill.out" 2>&1 || true
	awk '
	    /^;; ->>HEADER<<-/ { for (i = 1; i <= NF; i++) if ($i == "rcode:") rc = $(i + 1); sub(",", "", rc) }
	    /^;; flags:/ { ad = / ad / }
	    /^;; flags:/ { for (i = 1; i <= NF; i++) if ($i == "ANSWER:") an = $(i + 1) + 0 }
	    END {
		if (rc == "SERVFAIL") print "bogus"
		else if (rc != "NOERROR") print tolower(rc)
		else if (an == 0) print "nodata"
		else print ad ? "secure" : "insecure"
	    }' "$DNSSEC_DIR/drill.out"
}

# dnssec_assert_dns NAME TYPE WORD: dnssec_dns says WORD.
dnssec_assert_dns() {
	_dw=$(dnssec_dns "$1" "$2")
	if [ "$_dw" = "$3" ]; then
		smx_pass "unbound: $1 $2 is $3"
	else
		smx_fail "unbound: $1 $2 is $_dw, expected $3"
		smx_show "$DNSSEC_DIR/drill.out" 12
	fi
}

# dnssec_peer NAME ADDR PORT SCENARIO CERT [chain]: smx-smtp-peer -M on
# ADDR:PORT presenting $DNSSEC_CERTS/CERT.pem (with "chain":
# CERT.chain.pem, leaf and CA) and CERT.key; its transcript is
# $DNSSEC_DIR/peer-NAME.transcript. Stopped by PID at exit.
dnssec_peer() {
	[ -x "${SMX_PEER:-}" ] || smx_fatal "SMX_PEER is not executable"
	_pc=$DNSSEC_CERTS/$5.pem
	[ "${6:-}" != chain ] || _pc=$DNSSEC_CERTS/$5.chain.pem
	! dnssec_listening "$2" "$3" || smx_fatal "$2:$3 is already in use"
	: >"$DNSSEC_DIR/peer-$1.transcript"
	"$SMX_PEER" -M -s "$4" -a "$2" -P "$3" -c "$_pc" \
	    -k "$DNSSEC_CERTS/$5.key" -t "$DNSSEC_DIR/peer-$1.transcript" \
	    -p "$DNSSEC_DIR/peer-$1.pid" >"$DNSSEC_DIR/peer-$1.port" \
	    2>"$DNSSEC_DIR/peer-$1.err" &
	smx_track $!
	smx_retry 100 0.1 test -s "$DNSSEC_DIR/peer-$1.port" ||
	    smx_fatal "smx-smtp-peer $1 did not start: $(cat "$DNSSEC_DIR/peer-$1.err")"
}

# dnssec_conf NAME [LINE...]: $DNSSEC_DIR/NAME.conf, the secmx.conf of a
# sending host whose resolver is the test unbound, plus LINE...
dnssec_conf() {
	_cf=$DNSSEC_DIR/$1.conf
	shift
	cat >"$_cf" <<EOF
# secmx.conf of the DANE tests: a validating resolver on loopback whose
# AD bit secmx believes (dns_trust_ad), DANE on (tls_dane), the test CA
# for tls_verify = ca.
dns_nameservers = 127.0.0.1:$DNSSEC_PORT
dns_trust_ad = yes
dns_timeout = 5s
tls_dane = yes
tls_verify = ca
tls_ca_file = $DNSSEC_CERTS/ca.pem
tls_min_protocol = TLSv1.2
helo_name = tx.dane.test
# No smtpd of this host takes part: the receivers share port 25 of other
# loopback addresses, which the default (25) would call mail loops.
local_listeners = 127.0.0.1:2724
smtp_connect_timeout = 5s
smtp_timeout = 10s
delivery_time_limit = 60s
EOF
	for _l in "$@"; do
		printf '%s\n' "$_l" >>"$_cf"
	done
	chmod 0644 "$_cf"
}

# dnssec_send CONF RCPT: secmx-transport as pipe(8) runs it (the message
# on stdin, -f SENDER -q QUEUEID -- RECIPIENT, no -n: the recipient's
# domain is looked up) with $DNSSEC_DIR/CONF.conf. RCPT "@DOMAIN" gets a
# unique local part. Sets DNSSEC_QID, DNSSEC_RCPT, DNSSEC_TOKEN (in the
# subject and body), DNSSEC_RC, DNSSEC_LINE (the first line on stdout),
# and keeps stdout and stderr in $DNSSEC_DIR/send.{out,err}.
dnssec_send() {
	[ -x "${SMX_TRANSPORT:-}" ] || smx_fatal "SMX_TRANSPORT is not executable"
	SMX_SEQ=$((SMX_SEQ + 1))
	DNSSEC_QID=DANE$$N$SMX_SEQ
	DNSSEC_TOKEN=dane-$$-$SMX_SEQ
	case $2 in
	@*) DNSSEC_RCPT=$DNSSEC_TOKEN$2 ;;
	*) DNSSEC_RCPT=$2 ;;
	esac
	DNSSEC_RC=0
	printf 'From: sender@tx.dane.test\nTo: %s\nSubject: %s\n\ntoken %s\n' \
	    "$DNSSEC_RCPT" "$DNSSEC_TOKEN" "$DNSSEC_TOKEN" |
	    "$SMX_TRANSPORT" -c "$DNSSEC_DIR/$1.conf" -f sender@tx.dane.test \
	    -q "$DNSSEC_QID" -- "$DNSSEC_RCPT" >"$DNSSEC_DIR/send.out" \
	    2>"$DNSSEC_DIR/send.err" || DNSSEC_RC=$?
	DNSSEC_LINE=$(head -n 1 "$DNSSEC_DIR/send.out")
}

# dnssec_expect WHAT STATUS LINE-REGEX: the last dnssec_send exited
# STATUS and printed exactly one line, matching the extended LINE-REGEX,
# and nothing on stderr.
dnssec_expect() {
	_nl=$(wc -l <"$DNSSEC_DIR/send.out")
	if [ "$DNSSEC_RC" = "$2" ] && [ "$_nl" = 1 ] &&
	    printf '%s\n' "$DNSSEC_LINE" | grep -Eq -- "$3" &&
	    [ ! -s "$DNSSEC_DIR/send.err" ]; then
		smx_pass "$1: exit $2, $DNSSEC_LINE"
	else
		smx_fail "$1: expected exit $2 and one line /$3/; got exit $DNSSEC_RC, $_nl line(s):"
		cat "$DNSSEC_DIR/send.out" "$DNSSEC_DIR/send.err" |
		    smx_show /dev/stdin 5
	fi
}

# dnssec_audit: the secmx/transport audit lines of the last dnssec_send,
# without the syslog priority.
dnssec_audit() {
	grep -F -- "]: $DNSSEC_QID: to=<" "$SMX_SYSLOG" |
	    grep 'secmx/transport\[' | sed 's/^<[0-9]*>//'
}

# dnssec_audit_has KEY=VALUE...: one audit line of the last run has every
# KEY=VALUE (VALUE an extended regex).
dnssec_audit_has() {
	dnssec_audit >"$DNSSEC_DIR/audit.all"
	cp "$DNSSEC_DIR/audit.all" "$DNSSEC_DIR/audit.one"
	for _kv in "$@"; do
		grep -E -- "(^| )$_kv( |$)" "$DNSSEC_DIR/audit.one" \
		    >"$DNSSEC_DIR/audit.next" || true
		mv "$DNSSEC_DIR/audit.next" "$DNSSEC_DIR/audit.one"
	done
	[ -s "$DNSSEC_DIR/audit.one" ]
}

# dnssec_assert_audit KEY=VALUE...: wait up to 5s for an audit line of
# the last run with every KEY=VALUE.
dnssec_assert_audit() {
	if smx_retry "$(smx_tries 50)" 0.1 dnssec_audit_has "$@"; then
		smx_pass "audit line of $DNSSEC_QID: $*"
	else
		smx_fail "audit line of $DNSSEC_QID: no line with all of $*:"
		smx_show "$DNSSEC_DIR/audit.all" 6
	fi
}

# dnssec_assert_no_audit KEY=VALUE...: no audit line of the last run
# has every KEY=VALUE (after its lines have arrived: call it after a
# dnssec_assert_audit for the same run).
dnssec_assert_no_audit() {
	if dnssec_audit_has "$@"; then
		smx_fail "audit line of $DNSSEC_QID: unexpected line with $*:"
		smx_show "$DNSSEC_DIR/audit.one" 6
	else
		smx_pass "audit lines of $DNSSEC_QID: none with $*"
	fi
}

# dnssec_transcript NAME [TOKEN]: what peer NAME saw since its transcript
# was last emptied, in one word: "none" (no connection), "plaintext"
# (MAIL, RCPT, DATA or TOKEN before a TLS handshake in some
# connection), "sent" (TOKEN over TLS, nothing in plaintext),
# "transaction" (MAIL, RCPT or DATA over TLS, but not TOKEN), "tls" (a
# TLS session without a transaction) or "connected" (no TLS, no
# transaction).
dnssec_transcript() {
	awk -v tok="${2:-}" '
	    /^=== connection/ { tls = 0; conn = 1; next }
	    /^=== tls/ { tls = 1; ntls = 1; next }
	    /^(MAIL FROM|RCPT TO|DATA)/ { if (tls) txn = 1; else plain = 1 }
	    tok != "" && index($0, tok) { if (tls) sent = 1; else plain = 1 }
	    END {
		if (plain) print "plaintext"
		else if (sent) print "sent"
		else if (txn) print "transaction"
		else if (ntls) print "tls"
		else if (conn) print "connected"
		else print "none"
	    }' "$DNSSEC_DIR/peer-$1.transcript"
}

# dnssec_assert_transcript NAME WORDS WHAT: dnssec_transcript NAME with
# the last run's token says a word that the extended regex WORDS matches
# whole ("sent", "tls|connected"); then the transcript is emptied.
dnssec_assert_transcript() {
	_tw=$(dnssec_transcript "$1" "$DNSSEC_TOKEN")
	if printf '%s\n' "$_tw" | grep -Eqx -- "$2"; then
		smx_pass "$3: peer $1 saw: $2"
	else
		smx_fail "$3: peer $1 saw: $_tw, expected $2"
		smx_show "$DNSSEC_DIR/peer-$1.transcript" 12
	fi
	: >"$DNSSEC_DIR/peer-$1.transcript"
}

# dnssec_probe NAME CONF DOMAIN [OPTIONS...]: secmx-probe -c
# $DNSSEC_DIR/CONF.conf OPTIONS DOMAIN; its standard output goes to
# $DNSSEC_DIR/probe-NAME.out, standard error to probe-NAME.err. Sets
# DNSSEC_RC.
dnssec_probe() {
	[ -x "${SMX_PROBE:-}" ] || smx_fatal "SMX_PROBE is not executable"
	_pn=$1
	_pcf=$2
	_pd=$3
	shift 3
	DNSSEC_RC=0
	"$SMX_PROBE" -c "$DNSSEC_DIR/$_pcf.conf" "$@" "$_pd" \
	    >"$DNSSEC_DIR/probe-$_pn.out" 2>"$DNSSEC_DIR/probe-$_pn.err" ||
	    DNSSEC_RC=$?
}

# dnssec_normalise: sed filter for a secmx-probe text report, taking out
# what legitimately differs from run to run: the TLSA digests of the
# certificates made at test time (back to the zone template's @NAME@),
# the cipher suite (depends on the OpenSSL build), the days a
# certificate has left, the resolver's port (a SERVFAIL names it).
dnssec_normalise() {
	sed -e "s/$DNSSEC_EE_SPKI/@EE_SPKI@/g" \
	    -e "s/$DNSSEC_CA_CERT/@CA_CERT@/g" \
	    -e "s/$DNSSEC_OTHER_SPKI/@OTHER_SPKI@/g" \
	    -e "s/$DNSSEC_WRONG_SPKI/@WRONG_SPKI@/g" \
	    -e "s/$DNSSEC_SOR_SPKI/@SOR_SPKI@/g" \
	    -e "s/$DNSSEC_OPEN_SPKI/@OPEN_SPKI@/g" \
	    -e 's/^\(      TLS: TLSv1\.[0-9]\) [A-Za-z0-9_-]*$/\1 CIPHER/' \
	    -e 's/\(expires in\|expired\) [0-9]* days$/\1 N days/' \
	    -e "s/\[127\.0\.0\.1\]:$DNSSEC_PORT\([^0-9]\|$\)/[127.0.0.1]:PORT\1/g"
}
