# shellcheck shell=sh
# transport_rig.sh - the SecMX sending matrix on loopback: nsd, three
# receiving Postfix instances and one sending Postfix instance that
# relays through secmx-transport (RIG_MODE=pipe, the default) or through
# the resident secmx-lmtpd (RIG_MODE=lmtp). Shared by
# test_transport_matrix.sh, test_lmtpd.sh and scripts/demo; source after
# lib.sh and call smx_init first.
#
#	. "$SMX_SOURCE_DIR/tests/integration/transport_rig.sh"
#	rig_start		# everything below, started and ready
#	rig_send sos sor.test	# one message; sets RIG_TOKEN
#	rig_wait_all 180	# until every message has an outcome
#	rig_outcome "$RIG_TOKEN"
#
# What runs (addresses and ports match tests/data/dns/matrix/test.zone):
#
#   nsd       127.0.0.1:$RIG_NSD_PORT, authoritative for "test."
#             (tests/data/dns/matrix/); REFUSED for other names. The
#             port is the first free one outside the kernel's ephemeral
#             range from RIG_NSD_PORT (default 15351), the next one when
#             nsd cannot bind it (lib.sh's smx_port_start).
#   rx-sor    Secure Only Receiver for sor.test and two.test:
#             127.0.0.1:2601 (certificate sor-mx.sor.test) and
#             127.0.0.1:2602 (certificate sor-mx.two.test);
#             smtpd_tls_security_level = encrypt and secmx-policyd
#             (postfix-examples/main.cf.spawn, master.cf.spawn) with
#             receiver_roles "sor.test sor", "two.test sor".
#   rx-ber    Best Effort Receiver for ber.test and dot.test on
#             127.0.0.2:25: STARTTLS offered (certificate ber-mx.ber.test),
#             secmx-policyd with receiver_roles "... ber".
#   rx-plain  an ordinary MX for plain.test on 127.0.0.3:25, no TLS.
#   tx        the sender: accepts mail from 127.0.0.1 on
#             127.0.0.1:$RIG_TX_PORT and relays all of it through
#             secmx-transport (postfix-examples/master.cf.transport and
#             main.cf.sender, paths rewritten only), user secmx; with
#             RIG_MODE=lmtp through secmx-lmtpd instead
#             (master.cf.lmtp, main.cf.sender-lmtp and the ExecStart
#             line of secmx-lmtpd.service, paths rewritten only: a
#             socket private/secmx-lmtpd in tx's queue directory, user
#             secmx; rig_lmtpd_start). Its secmx.conf: sender_roles
#             "sos.sender.test sos", default_sender_role = bes, dns_nameservers = the nsd above,
#             tls_verify = ca with the test CA. Bounces to the senders
#             sos@sos.sender.test and bes@bes.sender.test land in its
#             maildirs $SMX_TMP/tx/mail/{sos,bes}.sender.test/.
#
# 127.0.0.9 (an SRV target of two.test) has no listener. Certificates
# come from scripts/make-test-certs in $SMX_TMP/certs.
#
# Environment: SMX_TRANSPORT (secmx-transport; SMX_LMTPD, secmx-lmtpd,
# with RIG_MODE=lmtp) and SMX_POLICYD (secmx-policyd), besides lib.sh's
# variables.

# RIG_MODE: how tx hands mail to SecMX: pipe (pipe(8) runs
# secmx-transport per recipient) or lmtp (lmtp(8) talks to secmx-lmtpd).
RIG_MODE=${RIG_MODE:-pipe}
RIG_LMTPD_PID=
RIG_LMTPD_PIDFILE=
RIG_LMTPD_SOCKET=
RIG_NSD_PORT=${RIG_NSD_PORT:-15351}
RIG_TX_PORT=${RIG_TX_PORT:-2625}
RIG_SOR_ADDR=127.0.0.1
RIG_SOR_PORT=2601
RIG_SOR2_PORT=2602
RIG_BER_ADDR=127.0.0.2
RIG_PLAIN_ADDR=127.0.0.3
RIG_DEAD_ADDR=127.0.0.9
RIG_SENT=
RIG_TOKEN=
RIG_QID=

# The destinations of the matrix, in the order of the outcome table.
# shellcheck disable=SC2034 # used by the scripts that source this file
RIG_DOMAINS="sor.test two.test dot.test ber.test plain.test nullmx.test nx.test broken.example wrong.test"

# rig_expect ROLE DOMAIN: "OUTCOME DETAIL-REGEX" that SecMX Level 2
# requires for mail from a ROLE (sos or bes) sender to DOMAIN; see
# rig_outcome and rig_detail.
rig_expect() {
	case $2 in
	sor.test | two.test) echo 'delivered:rx-sor TLSv1\.[23]' ;;
	dot.test | ber.test) echo 'delivered:rx-ber TLSv1\.[23]' ;;
	plain.test)
		case $1 in
		sos) echo 'bounced 5\.7\.4' ;;
		*) echo 'delivered:rx-plain none' ;;
		esac
		;;
	nullmx.test) echo 'bounced 5\.1\.10' ;;
	nx.test) echo 'bounced 5\.[0-9]+\.[0-9]+' ;;
	wrong.test) echo 'deferred 4\.7\.[0-9]+' ;;
	*) echo 'deferred 4\.[0-9]+\.[0-9]+' ;;
	esac
}

# rig_about DOMAIN: what DNS says about DOMAIN, in words.
rig_about() {
	case $1 in
	sor.test) echo "SRV -> sor-mx.sor.test:2601 (Secure Only Receiver), no MX" ;;
	two.test) echo "SRV 10 -> dead.two.test (nothing listens), SRV 20 -> sor-mx.two.test:2602" ;;
	dot.test) echo "SRV \".\" (no SecMX), MX -> ber-mx.ber.test (Best Effort Receiver)" ;;
	ber.test) echo "no SRV, MX -> ber-mx.ber.test (Best Effort Receiver, STARTTLS)" ;;
	plain.test) echo "no SRV, MX -> mx.plain.test (no STARTTLS)" ;;
	nullmx.test) echo "null MX: accepts no mail (RFC 7505)" ;;
	nx.test) echo "does not exist (NXDOMAIN)" ;;
	wrong.test) echo "SRV -> sor-mx.sor.test:2601, whose certificate does not name wrong.test" ;;
	*) echo "the name server refuses to answer (DNS failure)" ;;
	esac
}

# rig_listening ADDR PORT: something listens on TCP ADDR:PORT, on the
# wildcard address or on every loopback address for PORT.
rig_listening() {
	ss -Hltn "( sport = :$2 )" 2>/dev/null | awk -v a="$1:$2" -v p=":$2" '
	    $4 == a || $4 == "0.0.0.0" p || $4 == "*" p || $4 == "[::]" p {
	    f = 1 } END { exit !f }'
}

rig_not_listening() {
	! rig_listening "$1" "$2"
}

# rig_check_free: fail early when an address or port the rig needs is
# taken (for instance a system MTA on port 25 of every address).
rig_check_free() {
	for _ap in "$RIG_SOR_ADDR $RIG_SOR_PORT" "$RIG_SOR_ADDR $RIG_SOR2_PORT" \
	    "$RIG_BER_ADDR 25" "$RIG_PLAIN_ADDR 25" "$RIG_DEAD_ADDR $RIG_SOR_PORT" \
	    "127.0.0.1 $RIG_TX_PORT"; do
		# shellcheck disable=SC2086 # "ADDR PORT"
		rig_not_listening $_ap || smx_fatal "TCP ${_ap% *}:${_ap#* } is in use"
	done
}

# rig_dns_ready: nsd answers for the zone.
rig_dns_ready() {
	drill -p "$RIG_NSD_PORT" _secmx._tcp.sor.test @127.0.0.1 SRV \
	    2>/dev/null | grep -q 'IN[[:space:]]*SRV[[:space:]]*10 0 2601'
}

# rig_dns_start: nsd in the foreground for "test.", stopped by PID at exit.
rig_dns_start() {
	_z=$SMX_TMP/dns
	mkdir -p "$_z"
	cp "$SMX_SOURCE_DIR/tests/data/dns/matrix/test.zone" "$_z/"
	smx_port_start RIG_NSD_PORT "$RIG_NSD_PORT" smx_nsd_start \
	    "$SMX_SOURCE_DIR/tests/data/dns/matrix/nsd.conf.in" test "$_z" ||
	    smx_fatal "nsd did not start"
	smx_retry 100 0.1 rig_dns_ready ||
	    smx_fatal "nsd did not answer on 127.0.0.1:$RIG_NSD_PORT: $(cat "$_z/nsd.out" "$_z/nsd.log" 2>/dev/null)"
}

# rig_certs: the test CA and one certificate per receiver host name.
rig_certs() {
	"$SMX_SOURCE_DIR/scripts/make-test-certs" "$SMX_TMP/certs" \
	    sor-mx.sor.test sor-mx.two.test ber-mx.ber.test \
	    >"$SMX_TMP/certs.log" 2>&1 ||
	    smx_fatal "make-test-certs failed: $(cat "$SMX_TMP/certs.log")"
	chmod 0755 "$SMX_TMP/certs"
	chmod 0644 "$SMX_TMP/certs/"*.pem
	chmod 0600 "$SMX_TMP/certs/"*.key
}

# rig_instance_listen NAME ADDR: move the SMTP listener of instance NAME
# (created by smx_instance_create) from 127.0.0.1 to ADDR, same port.
rig_instance_listen() {
	_d=$SMX_TMP/$1
	_p=$(cat "$_d/port")
	sed -i "s|^127\.0\.0\.1:$_p inet|$2:$_p inet|" "$_d/etc/master.cf"
	echo "$2" >"$_d/addr"
}

# rig_instance_start NAME: smx_instance_start for a listener on any
# loopback address (several instances share port 25 on distinct
# addresses).
rig_instance_start() {
	_d=$SMX_TMP/$1
	_p=$(cat "$_d/port")
	_a=$(cat "$_d/addr" 2>/dev/null || echo 127.0.0.1)
	rig_not_listening "$_a" "$_p" || smx_fatal "$_a:$_p is already in use"
	postconf -c "$_d/etc" -n >/dev/null 2>"$_d/postconf.err" || true
	if [ -s "$_d/postconf.err" ]; then
		smx_fatal "instance $1 main.cf: $(cat "$_d/postconf.err")"
	fi
	touch "$_d/started"
	postfix -c "$_d/etc" start >"$_d/start.log" 2>&1 ||
	    smx_fatal "postfix start $1 failed: $(cat "$_d/start.log")"
	smx_retry 100 0.1 test -s "$_d/queue/pid/master.pid" ||
	    smx_fatal "instance $1: no master pid file"
	smx_retry 100 0.1 rig_listening "$_a" "$_p" ||
	    smx_fatal "instance $1: $_a:$_p not open"
}

# rig_receiver NAME PORT ADDR ROLE CERT DOMAIN...: a receiving instance.
# ROLE sor or ber: secmx-policyd (spawn mode, postfix-examples/) with
# receiver_roles "DOMAIN ROLE"; sor also requires TLS of every client.
# ROLE none: an ordinary MX without STARTTLS. CERT names the
# certificate in $SMX_TMP/certs (ignored for none).
rig_receiver() {
	_n=$1
	_port=$2
	_addr=$3
	_role=$4
	_cert=$5
	shift 5
	smx_instance_create "$_n" "$_port" "$@"
	[ "$_addr" = 127.0.0.1 ] || rig_instance_listen "$_n" "$_addr"
	_d=$SMX_TMP/$_n
	# Nothing on loopback counts as a trusted network for the receivers:
	# every SMTP client is treated like one from the Internet.
	smx_postconf "$_n" "mynetworks = 127.0.0.254/32"
	case $_role in
	none)
		smx_postconf "$_n" "smtpd_tls_security_level = none"
		return 0
		;;
	esac
	smx_secmx_config "$_n"
	{
		echo "# receiver_roles of the SecMX sending matrix"
		for _dom in "$@"; do
			printf '%s\t%s\n' "$_dom" "$_role"
		done
	} >"$_d/secmx/receiver_roles"
	smx_example_main "$_n" main.cf.spawn
	smx_example_master "$_n" master.cf.spawn
	smx_postconf "$_n" \
	    "smtpd_tls_cert_file = $SMX_TMP/certs/$_cert.pem" \
	    "smtpd_tls_key_file = $SMX_TMP/certs/$_cert.key"
	# A Secure Only Receiver is not an MX: it may refuse plaintext
	# outright (RFC 3207 section 4 forbids that only to a public MX).
	[ "$_role" = sor ] &&
	    smx_postconf "$_n" "smtpd_tls_security_level = encrypt"
	return 0
}

# rig_sender: the sending instance tx with the sender examples of
# RIG_MODE (not started; in lmtp mode rig_lmtpd_start starts secmx-lmtpd
# once tx runs).
rig_sender() {
	smx_instance_create tx "$RIG_TX_PORT" sos.sender.test bes.sender.test
	_d=$SMX_TMP/tx
	# pipe(8) runs the transport as user secmx, which may not be able to
	# reach a build tree under a private home directory: run a copy
	# (and of secmx-lmtpd, which runs as secmx too).
	mkdir -p "$SMX_TMP/bin"
	chmod 0755 "$SMX_TMP/bin"
	# The local test client may relay: it stands for the users of tx.
	smx_postconf tx "mynetworks = 127.0.0.1/32"
	case $RIG_MODE in
	lmtp)
		cp "$SMX_LMTPD" "$SMX_TMP/bin/secmx-lmtpd"
		chmod 0755 "$SMX_TMP/bin/secmx-lmtpd"
		smx_example_master tx master.cf.lmtp
		smx_example_main tx main.cf.sender-lmtp
		# The pid file (-p) where a systemd RuntimeDirectory= would
		# put it: a directory of user secmx, so that the daemon,
		# no longer root, removes the file when it stops.
		mkdir -p "$SMX_TMP/run"
		chown secmx "$SMX_TMP/run"
		chmod 0755 "$SMX_TMP/run"
		RIG_LMTPD_PIDFILE=$SMX_TMP/run/secmx-lmtpd.pid
		;;
	*)
		cp "$SMX_TRANSPORT" "$SMX_TMP/bin/secmx-transport"
		chmod 0755 "$SMX_TMP/bin/secmx-transport"
		smx_example_master tx master.cf.transport \
		    "s|/usr/libexec/secmx/secmx-transport|$SMX_TMP/bin/secmx-transport|g"
		smx_example_main tx main.cf.sender
		;;
	esac
	printf '%s\n' "# sender_roles of the SecMX sending matrix" \
	    "sos.sender.test	sos" >"$_d/secmx/sender_roles"
	cat >"$_d/secmx/secmx.conf" <<EOF
# secmx.conf of the sending instance of the SecMX sending matrix.
sender_roles = $_d/secmx/sender_roles
default_sender_role = bes
dns_nameservers = 127.0.0.1:$RIG_NSD_PORT
dns_timeout = 5s
tls_verify = ca
tls_ca_file = $SMX_TMP/certs/ca.pem
tls_min_protocol = TLSv1.2
helo_name = tx.test
# Only tx's own smtpd is this host: the receivers share port 25 of
# other loopback addresses (the default, 25, would call them loops).
local_listeners = 127.0.0.1:$RIG_TX_PORT
smtp_connect_timeout = 10s
smtp_timeout = 10s
delivery_time_limit = 300s
EOF
	chmod 0644 "$_d/secmx/secmx.conf" "$_d/secmx/sender_roles"
}

# rig_lmtp_greeting SOCKET: the first line that the server on the unix
# SOCKET sends within 5s; fails when nothing answers there.
rig_lmtp_greeting() {
	perl -MIO::Socket::UNIX -e '
	    my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 1;
	    local $SIG{ALRM} = sub { exit 1 };
	    alarm 5;
	    my $l = <$s>;
	    defined $l or exit 1;
	    print $l;' "$1"
}

# rig_lmtpd_ready: the secmx-lmtpd just started is running and greets
# on its socket (a socket left by a daemon that was killed refuses
# connections).
rig_lmtpd_ready() {
	smx_pid_alive "$RIG_LMTPD_PID" &&
	    rig_lmtp_greeting "$RIG_LMTPD_SOCKET" 2>/dev/null | grep -q '^220 '
}

# rig_lmtpd_start: start secmx-lmtpd for tx (RIG_MODE=lmtp) with the
# ExecStart line of postfix-examples/secmx-lmtpd.service, paths
# rewritten only, and -p $RIG_LMTPD_PIDFILE; wait until it greets on its
# socket. Sets RIG_LMTPD_PID (tracked), RIG_LMTPD_CMD (the command
# line) and RIG_LMTPD_SOCKET; its stdout and stderr go to
# $SMX_TMP/tx/lmtpd.out.
rig_lmtpd_start() {
	_d=$SMX_TMP/tx
	smx_example_rewrite tx >"$_d/lmtpd-unit.sed"
	printf '%s\n' "s|/usr/sbin/secmx-lmtpd|$SMX_TMP/bin/secmx-lmtpd|g" \
	    >>"$_d/lmtpd-unit.sed"
	RIG_LMTPD_CMD=$(sed -n 's/^ExecStart=//p' \
	    "$SMX_SOURCE_DIR/postfix-examples/secmx-lmtpd.service" |
	    sed -f "$_d/lmtpd-unit.sed")
	[ -n "$RIG_LMTPD_CMD" ] || smx_fatal "no ExecStart in secmx-lmtpd.service"
	RIG_LMTPD_CMD="$RIG_LMTPD_CMD -p $RIG_LMTPD_PIDFILE"
	RIG_LMTPD_SOCKET=$(echo "$RIG_LMTPD_CMD" |
	    sed -n 's/.* -l unix:\([^ ]*\).*/\1/p')
	[ -n "$RIG_LMTPD_SOCKET" ] ||
	    smx_fatal "secmx-lmtpd.service: no unix socket in $RIG_LMTPD_CMD"
	# shellcheck disable=SC2086 # the unit's command line, word-split
	$RIG_LMTPD_CMD >>"$_d/lmtpd.out" 2>&1 &
	RIG_LMTPD_PID=$!
	smx_track "$RIG_LMTPD_PID"
	smx_retry 100 0.1 rig_lmtpd_ready ||
	    smx_fatal "secmx-lmtpd ($RIG_LMTPD_CMD) does not greet on $RIG_LMTPD_SOCKET: $(cat "$_d/lmtpd.out")"
}

# rig_start: certificates, nsd, the three receivers and the sender,
# all started and listening.
rig_start() {
	case $RIG_MODE in
	lmtp)
		[ -x "${SMX_LMTPD:-}" ] ||
		    smx_fatal "SMX_LMTPD is not executable"
		;;
	*)
		[ -x "${SMX_TRANSPORT:-}" ] ||
		    smx_fatal "SMX_TRANSPORT is not executable"
		;;
	esac
	[ -x "${SMX_POLICYD:-}" ] || smx_fatal "SMX_POLICYD is not executable"
	smx_require nsd drill awk
	smx_ensure_user secmx
	rig_check_free
	rig_certs
	rig_dns_start
	rig_receiver rx-sor "$RIG_SOR_PORT" "$RIG_SOR_ADDR" sor sor-mx.sor.test \
	    sor.test two.test
	# The second SOR listener presents the certificate for two.test.
	printf '%s\n' "$RIG_SOR_ADDR:$RIG_SOR2_PORT inet n - n - - smtpd" \
	    "  -o smtpd_tls_cert_file=$SMX_TMP/certs/sor-mx.two.test.pem" \
	    "  -o smtpd_tls_key_file=$SMX_TMP/certs/sor-mx.two.test.key" \
	    >>"$SMX_TMP/rx-sor/etc/master.cf"
	rig_receiver rx-ber 25 "$RIG_BER_ADDR" ber ber-mx.ber.test \
	    ber.test dot.test
	rig_receiver rx-plain 25 "$RIG_PLAIN_ADDR" none - plain.test
	rig_sender
	for _i in rx-sor rx-ber rx-plain tx; do
		rig_instance_start "$_i"
	done
	smx_retry 100 0.1 rig_listening "$RIG_SOR_ADDR" "$RIG_SOR2_PORT" ||
	    smx_fatal "rx-sor: $RIG_SOR_ADDR:$RIG_SOR2_PORT not open"
	# tx's master made private/ in its queue directory, where
	# secmx-lmtpd puts its socket.
	[ "$RIG_MODE" != lmtp ] || rig_lmtpd_start
	RIG_SENT=$SMX_TMP/rig.sent
	: >"$RIG_SENT"
}

# rig_fault_peer NAME ADDR SCENARIO [PEER-OPTIONS...]: smx-smtp-peer
# (SMX_PEER) on ADDR:25 with a certificate, as the MX of a test domain;
# its transcript is $SMX_TMP/peer-NAME.transcript. Sets RIG_PEER_PID;
# stopped by PID at exit.
rig_fault_peer() {
	_pn=$1
	_pa=$2
	_ps=$3
	shift 3
	[ -x "${SMX_PEER:-}" ] || smx_fatal "SMX_PEER is not executable"
	rig_not_listening "$_pa" 25 || smx_fatal "$_pa:25 is already in use"
	"$SMX_PEER" -s "$_ps" "$@" -a "$_pa" -P 25 \
	    -t "$SMX_TMP/peer-$_pn.transcript" -p "$SMX_TMP/peer-$_pn.pid" \
	    -c "$SMX_TMP/certs/ber-mx.ber.test.pem" \
	    -k "$SMX_TMP/certs/ber-mx.ber.test.key" \
	    >"$SMX_TMP/peer-$_pn.port" 2>"$SMX_TMP/peer-$_pn.err" &
	RIG_PEER_PID=$!
	smx_track "$RIG_PEER_PID"
	smx_retry 100 0.1 test -s "$SMX_TMP/peer-$_pn.port" ||
	    smx_fatal "smx-smtp-peer $_pn did not start: $(cat "$SMX_TMP/peer-$_pn.err")"
}

# rig_inject ROLE DOMAIN: one message from ROLE@ROLE.sender.test to
# TOKEN@DOMAIN through tx, not counted in the matrix (its receiver is not
# a Postfix instance). Sets RIG_TOKEN.
rig_inject() {
	SMX_SEQ=$((SMX_SEQ + 1))
	RIG_TOKEN=m$$-$SMX_SEQ-$1-${2%%.*}
	swaks --server "127.0.0.1:$RIG_TX_PORT" --from "$1@$1.sender.test" \
	    --to "$RIG_TOKEN@$2" --helo client.test --timeout 30 \
	    --header "Subject: $RIG_TOKEN" --body "token $RIG_TOKEN" \
	    >"$SMX_TMP/inject.$SMX_SEQ.log" 2>&1 ||
	    smx_fail "tx did not accept $RIG_TOKEN"
}

# rig_agent: the Postfix delivery agent that hands tx's mail to SecMX
# (RIG_MODE), as it logs: pipe or lmtp.
rig_agent() {
	case $RIG_MODE in
	lmtp) echo lmtp ;;
	*) echo pipe ;;
	esac
}

# rig_ident: the syslog ident of the secmx program that delivers tx's
# mail (RIG_MODE) and writes the audit lines.
rig_ident() {
	case $RIG_MODE in
	lmtp) echo secmx/lmtpd ;;
	*) echo secmx/transport ;;
	esac
}

# rig_agent_status TOKEN STATUS: tx's delivery agent (pipe(8) or
# lmtp(8)) logged STATUS for TOKEN.
rig_agent_status() {
	grep -F -- "to=<$1@" "$SMX_SYSLOG" | grep "postfix-tx/$(rig_agent)\[" |
	    grep -q "status=$2"
}

# rig_send ROLE DOMAIN [SWAKS-OPTION...]: inject one message from
# ROLE@ROLE.sender.test (ROLE sos or bes) to TOKEN@DOMAIN through tx's
# smtpd, with any further swaks options. Sets RIG_TOKEN (unique, also in
# the subject and body) and RIG_QID (tx's queue id) and records "TOKEN
# ROLE DOMAIN QID" in $RIG_SENT. Fails the test when tx does not accept
# the message.
rig_send() {
	_role=$1
	_dom=$2
	shift 2
	SMX_SEQ=$((SMX_SEQ + 1))
	RIG_TOKEN=m$$-$SMX_SEQ-$_role-${_dom%%.*}
	_out=$SMX_TMP/send.$SMX_SEQ.log
	if swaks --server "127.0.0.1:$RIG_TX_PORT" \
	    --from "$_role@$_role.sender.test" \
	    --to "$RIG_TOKEN@$_dom" --helo client.test --timeout 30 \
	    --header "Subject: $RIG_TOKEN" --body "token $RIG_TOKEN" "$@" \
	    >"$_out" 2>&1; then
		RIG_QID=$(sed -n 's/^<- *250 .*queued as \([0-9A-Za-z]*\).*/\1/p' "$_out")
	else
		RIG_QID=
		smx_fail "tx did not accept $RIG_TOKEN"
		smx_show "$_out"
	fi
	echo "$RIG_TOKEN $_role $_dom ${RIG_QID:--}" >>"$RIG_SENT"
}

# rig_send_rcpts ROLE SUFFIX@DOMAIN...: one message from
# ROLE@ROLE.sender.test to several recipients, TOKEN-SUFFIX@DOMAIN each
# (TOKEN unique, as rig_send makes it). The To: header names none of
# them, so that a delivered copy names its recipient only in its
# Delivered-To: header (virtual(8)) and a DSN only the recipients it
# reports. Records "TOKEN-SUFFIX ROLE DOMAIN QID" in $RIG_SENT for each
# recipient: each is an entry of its own for rig_outcome and rig_tally.
# Sets RIG_TOKEN and RIG_QID.
rig_send_rcpts() {
	_role=$1
	shift
	SMX_SEQ=$((SMX_SEQ + 1))
	RIG_TOKEN=m$$-$SMX_SEQ-$_role-multi
	_to=
	for _a in "$@"; do
		_to="$_to,$RIG_TOKEN-$_a"
	done
	_out=$SMX_TMP/send.$SMX_SEQ.log
	if swaks --server "127.0.0.1:$RIG_TX_PORT" \
	    --from "$_role@$_role.sender.test" --to "${_to#,}" \
	    --helo client.test --timeout 30 \
	    --header "To: undisclosed-recipients:;" \
	    --header "Subject: $RIG_TOKEN" --body "token $RIG_TOKEN" \
	    >"$_out" 2>&1; then
		RIG_QID=$(sed -n 's/^<- *250 .*queued as \([0-9A-Za-z]*\).*/\1/p' "$_out")
	else
		RIG_QID=
		smx_fail "tx did not accept $RIG_TOKEN"
		smx_show "$_out"
	fi
	for _a in "$@"; do
		echo "$RIG_TOKEN-${_a%%@*} $_role ${_a#*@} ${RIG_QID:--}" >>"$RIG_SENT"
	done
}

# rig_flush: ask tx to deliver its queue now.
rig_flush() {
	postqueue -c "$SMX_TMP/tx/etc" -f 2>/dev/null || true
}

# rig_queue_json: tx's queue, one JSON object per message (postqueue -j).
rig_queue_json() {
	postqueue -c "$SMX_TMP/tx/etc" -j 2>/dev/null || true
}

# rig_places TOKEN [QUEUE-FILE]: every place where the recipient
# TOKEN@... is, one per line: "delivered INSTANCE FILE" (a receiver's
# maildir, or once per copy of the message that the smx-smtp-peer NAME
# received, as INSTANCE peer-NAME), "bounced FILE" (a DSN in a sender's
# maildir at tx) or "queue QUEUE_NAME" (still in tx's queue; QUEUE-FILE
# is an earlier rig_queue_json output).
rig_places() {
	for _f in "$SMX_TMP"/peer-*.transcript; do
		[ -f "$_f" ] || continue
		_pn=${_f##*/}
		_pn=${_pn%.transcript}
		# The body of rig_send's message, as the peer received it.
		tr -d '\r' <"$_f" | grep -xF -- "token $1" |
		    sed "s|.*|delivered $_pn $_f|"
	done
	grep -rlF -- "$1@" "$SMX_TMP"/*/mail/*/new 2>/dev/null |
	    while read -r _f; do
		case $_f in
		"$SMX_TMP"/tx/*) echo "bounced $_f" ;;
		*)
			_i=${_f#"$SMX_TMP"/}
			echo "delivered ${_i%%/*} $_f"
			;;
		esac
	done
	if [ -n "${2:-}" ]; then
		grep -F -- "\"$1@" "$2" |
		    sed -n 's/.*"queue_name": *"\([a-z]*\)".*/queue \1/p'
	fi
}

# rig_outcome TOKEN [QUEUE-FILE]: one word for where TOKEN ended:
# delivered:INSTANCE, bounced, deferred, pending (not yet decided) or
# lost/duplicated (more or fewer places than one).
rig_outcome() {
	_pl=$(rig_places "$1" "${2:-}")
	_np=$(printf '%s' "$_pl" | grep -c . || true)
	case $_np:$_pl in
	0:*) echo lost ;;
	1:"delivered "*) echo "delivered:$(echo "$_pl" | cut -d' ' -f2)" ;;
	1:"bounced "*) echo bounced ;;
	"1:queue deferred") echo deferred ;;
	1:"queue "*) echo pending ;;
	*) echo duplicated ;;
	esac
}

# rig_file TOKEN: the maildir file holding the recipient TOKEN@...
# (delivered or bounced).
rig_file() {
	grep -rlF -- "$1@" "$SMX_TMP"/*/mail/*/new 2>/dev/null | head -n 1
}

# rig_pending: at least one sent message has no outcome yet, or its
# outcome has not reached the captured log yet (the delivery agent's line
# and the audit lines arrive through syslog, a little later than the
# queue changes on a busy machine).
rig_pending() {
	rig_queue_json >"$SMX_TMP/queue.json"
	while read -r _t _r _dom _q; do
		case $(rig_outcome "$_t" "$SMX_TMP/queue.json") in
		pending | lost) return 0 ;;
		esac
		[ -n "$(rig_agent_log "$_t")" ] || return 0
	done <"$RIG_SENT"
	return 1
}

# rig_wait_all SECONDS [noflush]: flush tx's queue (unless told not to)
# and wait until every message sent has been delivered, bounced or
# deferred. Returns 1 on timeout.
rig_wait_all() {
	[ "${2:-}" = noflush ] || rig_flush
	_tries=$(($1 * 2))
	while [ "$_tries" -gt 0 ]; do
		rig_pending || return 0
		_tries=$((_tries - 1))
		sleep 0.5
	done
	return 1
}

# rig_dsn_status FILE [TOKEN]: the "Status:" of the recipient TOKEN@...
# in a DSN, or its first per-recipient "Status:" without TOKEN.
rig_dsn_status() {
	awk -v r="${2:-}" 'BEGIN { RS = "" }
	    /(^|\n)Status: *[245]\./ && (r == "" ||
	    index($0, "Final-Recipient: rfc822; " r "@")) {
		sub(/.*(^|\n)Status: */, "")
		sub(/[^.0-9].*/, "")
		print
		exit
	    }' "$1"
}

# rig_received FILE: the Received: header that the receiver added (the
# first one), unfolded.
rig_received() {
	awk 'inr && /^[ \t]/ { r = r " " $0; next }
	    inr { print r; exit }
	    /^Received:/ { r = $0; inr = 1 }' "$1" | tr -s ' \t' '  '
}

# rig_tls FILE: "TLSv1.3" (the protocol) when the receiver's Received:
# header shows a TLS session, "none" otherwise.
rig_tls() {
	_p=$(rig_received "$1" | sed -n 's/.*(using \(TLSv[0-9.]*\) with cipher.*/\1/p')
	echo "${_p:-none}"
}

# rig_audit TOKEN: the audit lines of secmx-transport or secmx-lmtpd
# (rig_ident) for TOKEN's recipient, without the syslog priority.
rig_audit() {
	grep -F -- "to=<$1@" "$SMX_SYSLOG" | grep "$(rig_ident)\[" |
	    sed 's/^<[0-9]*>//'
}

# rig_agent_log TOKEN: the last delivery log line of tx's delivery agent
# (pipe(8) or lmtp(8)) for TOKEN.
rig_agent_log() {
	grep -F -- "to=<$1@" "$SMX_SYSLOG" | grep "postfix-tx/$(rig_agent)\[" |
	    sed 's/^<[0-9]*>//' | tail -n 1
}

# rig_token ROLE DOMAIN: the token of the message rig_send sent from ROLE
# to DOMAIN (the first one).
rig_token() {
	awk -v r="$1" -v d="$2" '$2 == r && $3 == d { print $1; exit }' \
	    "$RIG_SENT"
}

# rig_detail TOKEN OUTCOME: what an outcome looked like: the TLS protocol
# of the receiving session (delivered), the DSN status (bounced) or the
# status of the deferral (deferred).
rig_detail() {
	case $2 in
	delivered:peer-*) echo peer ;;
	delivered:*) rig_tls "$(rig_file "$1")" ;;
	bounced) rig_dsn_status "$(rig_file "$1")" "$1" ;;
	deferred)
		rig_agent_log "$1" |
		    sed -n 's/.* dsn=\([245][.0-9]*\), status=deferred.*/\1/p'
		;;
	esac
}

# rig_check ROLE DOMAIN OUTCOME DETAIL-REGEX: the message from ROLE to
# DOMAIN ended as OUTCOME (see rig_outcome) with a detail (rig_detail)
# matching the extended DETAIL-REGEX. Passes or fails, and adds a row
# to the outcome table $SMX_TMP/rig.table.
rig_check() {
	rig_check_token "$1" "$2" "$(rig_token "$1" "$2")" "$3" "$4"
}

# rig_check_token ROLE DOMAIN TOKEN OUTCOME DETAIL-REGEX: rig_check for
# the recipient TOKEN@DOMAIN of a message from ROLE.
rig_check_token() {
	_t=$3
	rig_queue_json >"$SMX_TMP/queue.json"
	_o=$(rig_outcome "$_t" "$SMX_TMP/queue.json")
	_x=$(rig_detail "$_t" "$_o")
	_w="$1 -> $_t@$2"
	[ "$_t" != "$(rig_token "$1" "$2")" ] || _w="$1 -> $2"
	if [ "$_o" = "$4" ] && printf '%s\n' "$_x" | grep -Eqx -- "$5"; then
		_v=ok
		smx_pass "$_w: $_o ($_x)"
	else
		_v=FAIL
		smx_fail "$_w: expected $4 ($5), found $_o (${_x:-?}); token $_t"
		rig_audit "$_t" | smx_show /dev/stdin 5
		rig_agent_log "$_t" | smx_show /dev/stdin 2
	fi
	printf '%-4s %-15s %-18s %-18s %-8s %s\n' "$1" "$2" "$4" "$_o" \
	    "${_x:--}" "$_v" >>"$SMX_TMP/rig.table"
}

# rig_table: print the outcome table.
rig_table() {
	printf '%-4s %-15s %-18s %-18s %-8s %s\n' role destination expected \
	    outcome detail check
	cat "$SMX_TMP/rig.table"
}

# rig_audit_has TOKEN KEY=VALUE...: one audit line (rig_audit) for
# TOKEN's recipient has every KEY=VALUE (VALUE an extended regex).
rig_audit_has() {
	_t=$1
	shift
	rig_audit "$_t" >"$SMX_TMP/audit.all"
	cp "$SMX_TMP/audit.all" "$SMX_TMP/audit.one"
	for _kv in "$@"; do
		grep -E -- "(^|[ ,])$_kv(,| |$)" "$SMX_TMP/audit.one" \
		    >"$SMX_TMP/audit.next" || true
		mv "$SMX_TMP/audit.next" "$SMX_TMP/audit.one"
	done
	[ -s "$SMX_TMP/audit.one" ]
}

# rig_assert_audit TOKEN KEY=VALUE...: wait up to 5s for one
# audit line (rig_audit) for TOKEN's recipient with every KEY=VALUE
# (VALUE an extended regex).
rig_assert_audit() {
	_t=$1
	shift
	if smx_retry "$(smx_tries 50)" 0.1 rig_audit_has "$_t" "$@"; then
		smx_pass "audit line for $_t: $*"
	else
		smx_fail "audit line for $_t: no line with all of $*:"
		smx_show "$SMX_TMP/audit.all" 6
	fi
}

# rig_tally: every message sent is in exactly one place; prints
# "sent=N delivered=D bounced=B deferred=F" and fails unless N = D+B+F.
# Each entry's outcome goes to $SMX_TMP/rig.outcomes ("TOKEN OUTCOME").
rig_tally() {
	rig_queue_json >"$SMX_TMP/queue.json"
	: >"$SMX_TMP/rig.outcomes"
	_ns=0
	_nd=0
	_nb=0
	_nf=0
	while read -r _t _r _dom _q; do
		_ns=$((_ns + 1))
		_o=$(rig_outcome "$_t" "$SMX_TMP/queue.json")
		echo "$_t $_o" >>"$SMX_TMP/rig.outcomes"
		case $_o in
		delivered:*) _nd=$((_nd + 1)) ;;
		bounced) _nb=$((_nb + 1)) ;;
		deferred) _nf=$((_nf + 1)) ;;
		*) smx_fail "tally: $_t ($_r -> $_dom) is $_o" ;;
		esac
	done <"$RIG_SENT"
	RIG_TALLY="sent=$_ns delivered=$_nd bounced=$_nb deferred=$_nf"
	if [ "$_ns" -eq $((_nd + _nb + _nf)) ] && [ "$_ns" -gt 0 ]; then
		smx_pass "tally: $RIG_TALLY"
	else
		smx_fail "tally: $RIG_TALLY: messages lost or duplicated"
	fi
}
