#!/bin/sh
# test_rig.sh - self-test of the integration rig without secmx programs:
# a throw-away Postfix on loopback delivers plaintext and STARTTLS mail
# into maildirs, syslog lines are captured, relaying is refused, a policy
# service that is down gives the fail-closed 451 4.3.5 reply, and "stop"
# leaves no process behind.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$SMX_SOURCE_DIR/tests/integration/lib.sh"
smx_namespace "$@"
smx_init

port=10025
smx_instance_create rx "$port"
smx_postconf rx "smtpd_tls_security_level = may" \
	"smtpd_tls_cert_file = $SMX_TMP/pki/server.pem" \
	"smtpd_tls_key_file = $SMX_TMP/pki/server.key" \
	"smtpd_tls_loglevel = 1"
smx_instance_start rx
master=$(tr -dc 0-9 <"$(smx_dir rx)/queue/pid/master.pid")

smx_send rx user@plain.example
smx_assert_rc 0 "plaintext to plain.example"
smx_assert_reply '^<- +250 .*queued as' "plaintext to plain.example"
smx_assert_delivered rx plain.example "$SMX_TOKEN" "plaintext to plain.example"
smx_assert_no_log "$SMX_TOKEN" "message token in the log"

smx_send rx user@ber.example --tls
smx_assert_rc 0 "STARTTLS to ber.example"
smx_assert_reply '^<- +220 .*Ready to start TLS' "STARTTLS to ber.example"
smx_assert_delivered rx ber.example "$SMX_TOKEN" "STARTTLS to ber.example"
smx_assert_msg_grep '\(using TLSv1\.3 with cipher' "STARTTLS to ber.example"

smx_send rx user@elsewhere.example
smx_assert_rc 24 "relay to elsewhere.example"
smx_assert_reply '^<\*\* +454 4\.7\.1 .*Relay access denied' \
	"relay to elsewhere.example"
smx_assert_not_delivered rx "$SMX_TOKEN" "relay to elsewhere.example"

smx_assert_log "postfix-rx/smtpd\[[0-9]+\]: connect from localhost\[127\.0\.0\.1\]" \
	"syslog capture"
smx_assert_log "postfix-rx/smtpd\[[0-9]+\]: Anonymous TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.3" \
	"TLS logging"
smx_assert_log "postfix-rx/virtual\[[0-9]+\]: [0-9A-F]+: to=<user@plain\.example>.*status=sent" \
	"delivery logging"
# <22> is facility mail (2), severity info (6): RFC 3164 section 4.1.1.
smx_assert_log "^<22>.*postfix-rx/qmgr" "mail facility"

# A policy service nobody listens on: Postfix's default action applies.
smx_postconf rx "smtpd_recipient_restrictions = reject_unauth_destination, check_policy_service unix:private/nobody-home"
smx_instance_reload rx
smx_send rx user@sor.example
smx_assert_rc 24 "policy service down"
smx_assert_reply '^<\*\* +451 4\.3\.5 ' "policy service down"
smx_assert_not_delivered rx "$SMX_TOKEN" "policy service down"
smx_assert_log "postfix-rx/smtpd\[[0-9]+\]: warning: connect to private/nobody-home: " \
	"policy service down"

smx_instance_stop rx
if smx_pid_gone "$master" && ! smx_port_listening "$port"; then
	smx_pass "postfix stop: master $master is gone, port closed"
else
	smx_fail "postfix stop: master $master or port $port still there"
fi
smx_finish
