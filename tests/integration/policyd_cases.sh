# shellcheck shell=sh
# policyd_cases.sh - the receiver cases shared by test_policyd_spawn.sh
# and test_policyd_daemon.sh; source after lib.sh.
#
# smx_policyd_cases NAME MODE: with instance NAME running
# postfix-examples/ (receiver_roles: sor.example and .sor.example sor,
# ber.example ber), send plaintext and STARTTLS mail to an SOR, an SOR
# subdomain, a BER and an ordinary domain; assert the SMTP replies, the
# maildirs and secmx-policyd's audit lines. MODE labels the output.

# re_quote STRING: STRING as a literal extended regular expression.
re_quote() {
	# shellcheck disable=SC2016 # a literal sed expression
	printf '%s\n' "$1" | sed 's/[].[*+?^$(){}|\\/]/\\&/g'
}

# audit_re ACTION ROLE DOMAIN TLS REASON: the audit line for SMX_RCPT.
audit_re() {
	printf '%s' "secmx/policyd\[[0-9]+\]: NOQUEUE: action=$1 role=$2 domain=$(re_quote "$3") rcpt=<$(re_quote "$SMX_RCPT")> client=localhost\[127\.0\.0\.1\] tls=$4 reason=$5"
}

smx_policyd_cases() {
	_n=$1
	_mode=$2

	# Secure Only Receiver, plaintext: refused at RCPT, nothing stored.
	_w="$_mode: SOR plaintext"
	smx_send "$_n" @sor.example
	smx_assert_rc 24 "$_w"
	smx_assert_reply '^<\*\* +530 5\.7\.0 .*sor\.example.*Secure Only Receiver' "$_w"
	smx_assert_no_reply '^<- +354 ' "$_w"
	smx_assert_not_delivered "$_n" "$SMX_TOKEN" "$_w"
	smx_assert_log "$(audit_re reject sor sor.example none plaintext)" "$_w"
	smx_assert_log "postfix-$_n/smtpd\[[0-9]+\]: NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 530 5\.7\.0 <$(re_quote "$SMX_RCPT")>" "$_w"
	# Facility mail, severity info (<22>, RFC 3164 section 4.1.1).
	smx_assert_log "^<22>.*$(audit_re reject sor sor.example none plaintext)" "$_w syslog facility"

	# A subdomain, through the ".sor.example" table entry.
	_w="$_mode: SOR subdomain plaintext"
	smx_send "$_n" @sub.sor.example
	smx_assert_rc 24 "$_w"
	smx_assert_reply '^<\*\* +530 5\.7\.0 .*sor\.example' "$_w"
	smx_assert_not_delivered "$_n" "$SMX_TOKEN" "$_w"
	smx_assert_log "secmx/policyd\[[0-9]+\]: .*action=reject role=sor .*rcpt=<$(re_quote "$SMX_RCPT")>.* tls=none reason=plaintext" "$_w"

	# Secure Only Receiver over STARTTLS: accepted and delivered.
	_w="$_mode: SOR STARTTLS"
	smx_send "$_n" @sor.example --tls
	smx_assert_rc 0 "$_w"
	smx_assert_reply '^<~ +250 .*queued as' "$_w"
	smx_assert_delivered "$_n" sor.example "$SMX_TOKEN" "$_w"
	smx_assert_msg_grep '\(using TLSv1\.3 with cipher' "$_w"
	smx_assert_log "$(audit_re dunno sor sor.example TLSv1\\.3 tls)" "$_w"

	# Best Effort Receiver: accepted both ways, audited both ways.
	_w="$_mode: BER plaintext"
	smx_send "$_n" @ber.example
	smx_assert_rc 0 "$_w"
	smx_assert_reply '^<- +250 .*queued as' "$_w"
	smx_assert_delivered "$_n" ber.example "$SMX_TOKEN" "$_w"
	smx_assert_log "$(audit_re dunno ber ber.example none plaintext)" "$_w"

	_w="$_mode: BER STARTTLS"
	smx_send "$_n" @ber.example --tls
	smx_assert_rc 0 "$_w"
	smx_assert_reply '^<~ +250 .*queued as' "$_w"
	smx_assert_delivered "$_n" ber.example "$SMX_TOKEN" "$_w"
	smx_assert_log "$(audit_re dunno ber ber.example TLSv1\\.3 tls)" "$_w"

	# An ordinary domain: accepted both ways; audit = decisions does not
	# log it.
	_w="$_mode: ordinary plaintext"
	smx_send "$_n" @plain.example
	smx_assert_rc 0 "$_w"
	smx_assert_delivered "$_n" plain.example "$SMX_TOKEN" "$_w"
	_plain_rcpt=$SMX_RCPT

	_w="$_mode: ordinary STARTTLS"
	smx_send "$_n" @plain.example --tls
	smx_assert_rc 0 "$_w"
	smx_assert_delivered "$_n" plain.example "$SMX_TOKEN" "$_w"
	smx_assert_no_log "secmx/policyd.*rcpt=<($(re_quote "$_plain_rcpt")|$(re_quote "$SMX_RCPT"))>" \
		"$_mode: ordinary domain not audited"

	# Several recipients in one session: only the SOR one is refused.
	_w="$_mode: mixed recipients plaintext"
	smx_send "$_n" "@sor.example,@ber.example"
	smx_assert_rc 0 "$_w"
	smx_assert_reply '^<\*\* +530 5\.7\.0 .*sor\.example' "$_w"
	smx_assert_delivered "$_n" ber.example "$SMX_TOKEN" "$_w"
	if grep -rqsF -- "$SMX_TOKEN" "$SMX_TMP/$_n/mail/sor.example"; then
		smx_fail "$_w: message reached the sor.example maildir"
	else
		smx_pass "$_w: nothing in the sor.example maildir"
	fi
}
