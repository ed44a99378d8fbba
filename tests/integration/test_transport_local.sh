#!/bin/sh
# test_transport_local.sh - a host that is a Secure Only Receiver for its
# own domain and a sender at the same time, set up as an operator would:
# postfix-examples/main.cf.sender-srv-only (transport_maps and
# sender_dependent_default_transport_maps through secmx-lookup's
# socketmap), master.cf.transport, main.cf.spawn and master.cf.spawn for
# secmx-policyd, default_sender_role = sos, and its own _secmx._tcp SRV
# record published (nsd). Asserts that:
#
#  - mail for the host's own domain is delivered locally, once, and never
#    given to secmx-transport (the transport map answers "not found" for a
#    receiver_roles key: no 48-hop loop, no 5.1.2 bounce);
#  - local_domains works the same for a domain not in receiver_roles;
#  - mail for another domain whose SRV record names this host is bounced
#    by secmx-transport with 5.4.6 ("loops back to myself",
#    local_listeners), after one attempt, not after 48 hops;
#  - plaintext mail for the SOR domain from outside mynetworks is still
#    refused by secmx-policyd (the local submission passed by
#    permit_mynetworks, as the examples explain).
#
# Needs root, Postfix, nsd, drill and swaks. Ports: the instance's SMTP
# port (below the ephemeral range), nsd on a port from smx_port_start.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$SMX_SOURCE_DIR/tests/integration/lib.sh"
smx_namespace "$@"
smx_init
[ -x "${SMX_TRANSPORT:-}" ] || smx_fatal "SMX_TRANSPORT is not executable"
[ -x "${SMX_LOOKUP:-}" ] || smx_fatal "SMX_LOOKUP is not executable"
[ -x "${SMX_POLICYD:-}" ] || smx_fatal "SMX_POLICYD is not executable"
smx_require nsd drill postmap
smx_ensure_user secmx

smtp_port=10071
nsd_port=
d=$(smx_dir host)

# ---- DNS: the host's own SRV record, and loop.test pointing at it --------
z=$SMX_TMP/dns
mkdir -p "$z"
sed "s|@PORT@|$smtp_port|g" \
	"$SMX_SOURCE_DIR/tests/data/dns/local/test.zone.in" >"$z/test.zone"
smx_port_start nsd_port 15371 smx_nsd_start \
	"$SMX_SOURCE_DIR/tests/data/dns/matrix/nsd.conf.in" test "$z" ||
	smx_fatal "nsd did not start"

# ---- The instance: SOR for host.test, virtual.test local too --------------
smx_instance_create host "$smtp_port" host.test virtual.test
# The local submitter (127.0.0.1) is in mynetworks; 127.0.0.1 is also the
# SMTP client "from outside" below, so the outside test connects from
# 127.0.0.5 (not in mynetworks).
smx_postconf host "mynetworks = 127.0.0.1/32" "myhostname = host.test"
mkdir -p "$SMX_TMP/bin"
chmod 0755 "$SMX_TMP/bin"
cp "$SMX_TRANSPORT" "$SMX_TMP/bin/secmx-transport"
chmod 0755 "$SMX_TMP/bin/secmx-transport"
smx_secmx_config host
smx_example_main host main.cf.spawn
smx_example_master host master.cf.spawn
smx_example_main host main.cf.sender-srv-only
smx_example_master host master.cf.transport \
	"s|/usr/libexec/secmx/secmx-transport|$SMX_TMP/bin/secmx-transport|g"
smx_postconf host \
	"smtpd_tls_cert_file = $SMX_TMP/pki/server.pem" \
	"smtpd_tls_key_file = $SMX_TMP/pki/server.key"
printf 'host.test\tsor\n' >"$d/secmx/receiver_roles"
cat >>"$d/secmx/secmx.conf" <<EOF
# The sending half, on the same host.
default_sender_role = sos
local_domains = virtual.test
local_listeners = 127.0.0.1:$smtp_port
helo_name = host.test
dns_nameservers = 127.0.0.1:$nsd_port
dns_timeout = 2s
smtp_timeout = 10s
delivery_time_limit = 60s
EOF
chmod 0644 "$d/secmx/secmx.conf" "$d/secmx/receiver_roles"
smx_instance_start host

# secmx-lookup as in main.cf.sender-srv-only: a daemon on the socket the
# example names (private/secmx-lookup under the queue directory).
sock=$d/queue/private/secmx-lookup
"$SMX_LOOKUP" -c "$d/secmx/secmx.conf" -s -f -l "unix:$sock" -m 0660 \
	-g postfix -u secmx >"$SMX_TMP/lookup.out" 2>&1 &
smx_track $!
smx_wait_socket "$sock" ||
	smx_fatal "secmx-lookup did not listen: $(cat "$SMX_TMP/lookup.out")"

# pm KEY MAP STATUS [VALUE]: postmap -q through the socketmap.
pm() {
	_rc=0
	_out=$(postmap -c "$d/etc" -q "$1" "socketmap:unix:$sock:$2" 2>&1) ||
		_rc=$?
	if [ "$_rc" = "$3" ] && [ "$_out" = "${4:-}" ]; then
		smx_pass "transport map: $1 -> exit $_rc '$_out'"
	else
		smx_fail "transport map: $1: exit $_rc '$_out', expected $3 '${4:-}'"
	fi
}
pm host.test transport 1
pm someone@host.test transport 1
pm virtual.test transport 1
pm loop.test transport 0 secmx:
pm elsewhere.test transport 0 secmx:

# delivered_once DOMAIN TOKEN WHAT: in the maildir of DOMAIN, once.
delivered_once() {
	smx_assert_delivered host "$1" "$2" "$3"
	_n=$(grep -rlF -- "$2" "$d/mail/$1/new" 2>/dev/null | wc -l)
	if [ "$_n" = 1 ]; then
		smx_pass "$3: one copy"
	else
		smx_fail "$3: $_n copies"
	fi
}

# ---- Local mail stays local, once -------------------------------------------
for dom in host.test virtual.test; do
	smx_send host "@$dom" --from sender@host.test
	smx_assert_rc 0 "local mail to $dom accepted"
	delivered_once "$dom" "$SMX_TOKEN" "local mail to $dom"
	smx_assert_no_log "postfix-host/pipe\[[0-9]+\]: .*to=<$SMX_TOKEN@$dom>" \
		"local mail to $dom never given to secmx-transport"
	smx_assert_no_log "postfix-host/.*($SMX_TOKEN@$dom.*(too many hops|5\.4\.6|5\.1\.2))" \
		"local mail to $dom: no loop, no bounce"
done

# ---- A foreign domain whose SRV record names this host: 5.4.6 ----------------
smx_send host "@loop.test" --from sender@host.test
smx_assert_rc 0 "mail to loop.test accepted"
t=$SMX_TOKEN
smx_assert_log "postfix-host/pipe\[[0-9]+\]: [0-9A-F]+: to=<$t@loop.test>, relay=secmx, .*dsn=5\.4\.6, status=bounced .*loops back to myself" \
	"loop.test: bounced 5.4.6 by secmx-transport"
smx_assert_log "secmx/transport\[[0-9]+\]: .*to=<$t@loop.test> relay=mx\.host\.test\[127\.0\.0\.1\]:$smtp_port .*class=loop" \
	"loop.test: the audit line names the host and the class"
smx_assert_no_log "postfix-host/smtpd\[[0-9]+\]: .*helo=<host\.test>" \
	"loop.test: secmx-transport never connected to its own host"
smx_assert_no_log "too many hops" "loop.test: no mail loop through Postfix"
# The bounce comes back to the local sender, once.
# shellcheck disable=SC2317 # called through smx_retry
bounce_there() {
	grep -rlF -- "$t@loop.test" "$d/mail/host.test/new" >/dev/null 2>&1
}
if smx_retry "$(smx_tries 300)" 0.1 bounce_there; then
	f=$(grep -rlF -- "$t@loop.test" "$d/mail/host.test/new" | head -n 1)
	if grep -q '^Status: 5\.4\.6' "$f"; then
		smx_pass "loop.test: the DSN says 5.4.6"
	else
		smx_fail "loop.test: the DSN lacks Status: 5.4.6"
	fi
else
	smx_fail "loop.test: no bounce for the sender"
fi

# ---- Still a Secure Only Receiver from outside mynetworks ------------------
smx_send host "@host.test" --from sender@client.example --local-interface 127.0.0.5
smx_assert_rc 24 "plaintext from outside to host.test"
smx_assert_reply '^<\*\* +530 5\.7\.0 .*host\.test' \
	"plaintext from outside to host.test refused by secmx-policyd"
smx_assert_not_delivered host "$SMX_TOKEN" "plaintext from outside"

smx_instance_stop host
smx_finish
