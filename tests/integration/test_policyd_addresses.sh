#!/bin/sh
# test_policyd_addresses.sh - secmx-policyd (spawn mode, as in
# postfix-examples/) and a real Postfix smtpd with recipients that name no
# ASCII DNS domain: a bare local part, an address literal, and a domain
# in UTF-8 whose A-label receiver_roles lists as SOR. In plaintext each is
# refused with secmx-policyd's reply; over STARTTLS none is refused by
# the policy. Asserts the SMTP replies, smtpd's reject lines and the
# audit lines.
#
# Postfix must let each recipient reach check_policy_service, after
# reject_unauth_destination, so the instance adds to lib.sh's defaults:
#   myorigin = sor.example	smtpd completes "bob" with $myorigin for
#		its own checks; sor.example is a virtual mailbox domain,
#		so reject_unauth_destination passes it. secmx.conf sets
#		unqualified_recipient_domain = sor.example to match, as the
#		README tells an operator to.
#   inet_interfaces = 127.0.0.1 (lib.sh): [127.0.0.1] is this host, so
#		smtpd treats bob@[127.0.0.1] as local, not as relaying.
#		Neither resolve_numeric_domain (bare "bob@127.0.0.1") nor
#		allow_untrusted_routing ('%' and '!' routing) is involved.
#   local_transport = discard:	the literal recipient accepted over TLS
#		is local mail for a user who does not exist; discard it
#		instead of bouncing it to the test sender.
#   smtputf8_enable = yes	smtpd accepts a UTF-8 address only from a
#		client that declares SMTPUTF8 on MAIL FROM. swaks
#		(20201014) has no option for it, so the sender string
#		carries it: MAIL FROM:<sender@client.example> SMTPUTF8
#		ENVID=<> (ENVID closes the '>' that swaks appends).
#   virtual_mailbox_domains with s\303\266r.example in UTF-8: Postfix
#		3.7 compares UTF-8 domains with its tables as they are, so
#		reject_unauth_destination needs that form, while
#		receiver_roles lists the A-label xn--sr-fka.example; the
#		policy must match the two.
# Creates the system user "secmx" (spawn's user=) when it is missing and
# leaves it in place.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$SMX_SOURCE_DIR/tests/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=policyd_cases.sh
. "$SMX_SOURCE_DIR/tests/integration/policyd_cases.sh"
smx_namespace "$@"
smx_init
[ -x "${SMX_POLICYD:-}" ] || smx_fatal "SMX_POLICYD is not executable"
smx_ensure_user secmx

utf8=$(printf 's\303\266r.example')
alabel=xn--sr-fka.example
smx_instance_create rx 10029 sor.example ber.example plain.example "$utf8"
smx_secmx_config rx \
	"s|^unqualified_recipient_domain =.*|unqualified_recipient_domain = sor.example|"
d=$(smx_dir rx)
printf '%s\tsor\n' "$alabel" >>"$d/secmx/receiver_roles"
smx_example_main rx main.cf.spawn
smx_example_master rx master.cf.spawn
smx_postconf rx "myorigin = sor.example" "smtputf8_enable = yes" \
	"local_transport = discard:"
smx_instance_start rx

# send TO [swaks options]: one message to TO (as it is: no token in the
# address), declaring SMTPUTF8 (see above).
send() {
	_to=$1
	shift
	smx_send rx "$_to" --from 'sender@client.example> SMTPUTF8 ENVID=<' \
		--header "From: <sender@client.example>" "$@"
}

# logged ADDR: ADDR as secmx and Postfix log it, non-ASCII bytes as '?'.
logged() {
	printf '%s' "$1" | LC_ALL=C tr '\200-\377' '?'
}

# refused WHAT TO DOMAIN: plaintext mail to TO is refused at RCPT with
# secmx-policyd's reply naming DOMAIN, nothing is queued, and both smtpd
# and secmx-policyd log it.
refused() {
	_w="$1 plaintext"
	send "$2"
	_r=$(re_quote "$(logged "$2")")
	_dom=$(re_quote "$3")
	smx_assert_rc 24 "$_w"
	smx_assert_reply "^<\*\* +530 5\.7\.0 <$(re_quote "$2")>: Recipient address rejected: Mail for $_dom is accepted only over TLS \(SecMX Secure Only Receiver\)" "$_w"
	smx_assert_no_reply '^<- +354 ' "$_w"
	smx_assert_not_delivered rx "$SMX_TOKEN" "$_w"
	smx_assert_log "postfix-rx/smtpd\[[0-9]+\]: NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 530 5\.7\.0 <$_r>: Recipient address rejected: Mail for $_dom is accepted only over TLS" "$_w"
	smx_assert_log "secmx/policyd\[[0-9]+\]: NOQUEUE: action=reject role=sor domain=$_dom rcpt=<$_r> client=localhost\[127\.0\.0\.1\] tls=none reason=plaintext" "$_w"
}

# accepted WHAT TO DOMAIN: the same over STARTTLS is not refused: queued,
# and audited as SOR over TLS.
accepted() {
	_w="$1 STARTTLS"
	send "$2" --tls
	_r=$(re_quote "$(logged "$2")")
	smx_assert_rc 0 "$_w"
	smx_assert_reply '^<~ +250 2\.1\.5 ' "$_w"
	smx_assert_reply '^<~ +250 .*queued as' "$_w"
	smx_assert_log "secmx/policyd\[[0-9]+\]: NOQUEUE: action=dunno role=sor domain=$(re_quote "$3") rcpt=<$_r> client=localhost\[127\.0\.0\.1\] tls=TLSv1\.3 reason=tls" "$_w"
}

# A bare local part: in unqualified_recipient_domain (sor.example).
bare=bob-$$-1
refused "unqualified <$bare>" "$bare" sor.example
accepted "unqualified <$bare>" "$bare" sor.example
smx_assert_delivered rx sor.example "$SMX_TOKEN" "unqualified STARTTLS"
smx_assert_msg_grep "^Delivered-To: $bare@sor\.example" "unqualified STARTTLS"

# An address literal: address_literal_role, sor by default.
literal="bob-$$-2@[127.0.0.1]"
refused "address literal" "$literal" "[127.0.0.1]"
accepted "address literal" "$literal" "[127.0.0.1]"
smx_assert_log "postfix-rx/discard\[[0-9]+\]: [0-9A-F]+: to=<$(re_quote "$literal")>.* status=sent" \
	"address literal STARTTLS delivered (discarded)"

# A domain in UTF-8 that receiver_roles lists as an A-label.
intl=bob-$$-3@$utf8
refused "UTF-8 domain" "$intl" "$alabel"
accepted "UTF-8 domain" "$intl" "$alabel"
smx_assert_delivered rx "$utf8" "$SMX_TOKEN" "UTF-8 domain STARTTLS"

# Ordinary recipients in the same instance are unaffected.
send "bob-$$-4@plain.example"
smx_assert_rc 0 "ordinary domain plaintext"
smx_assert_delivered rx plain.example "$SMX_TOKEN" "ordinary domain plaintext"

smx_assert_no_log "postfix-rx/spawn\[[0-9]+\]: warning" "spawn(8) warnings"
smx_instance_stop rx
smx_finish
