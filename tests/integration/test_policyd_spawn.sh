#!/bin/sh
# test_policyd_spawn.sh - secmx-policyd run by spawn(8) from a real
# Postfix, configured with postfix-examples/main.cf.spawn,
# master.cf.spawn, secmx.conf and receiver_roles (paths rewritten only).
# Creates the system user "secmx" (spawn's user=) when it is missing and
# leaves it in place. Sanitizer reports of the spawned processes go to
# files (lib.sh) and fail the test.
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

smx_instance_create rx 10026
smx_secmx_config rx
smx_example_main rx main.cf.spawn
smx_example_master rx master.cf.spawn
d=$(smx_dir rx)
# The example configuration is valid for the daemon itself.
if su -s /bin/sh -c "\"$SMX_POLICYD\" -t -c \"$d/secmx/secmx.conf\"" \
	secmx >"$d/check.out" 2>&1; then
	smx_pass "secmx-policyd -t accepts the example secmx.conf as secmx"
else
	smx_fail "secmx-policyd -t rejects the example secmx.conf:"
	smx_show "$d/check.out"
fi
smx_instance_start rx

smx_policyd_cases rx spawn

# The spawned daemons run as the unprivileged user of master.cf.
smx_assert_no_log "postfix-rx/spawn\[[0-9]+\]: warning" "spawn(8) warnings"

# reload_wait: "postfix reload", then wait for the smtpd processes that
# were running (each holding a spawned secmx-policyd) to exit, so that the
# next session gets a new smtpd and a newly spawned daemon.
reload_wait() {
	master=$(tr -dc 0-9 <"$d/queue/pid/master.pid")
	old=$(ps -o pid=,comm= --ppid "$master" | awk '$2 == "smtpd" { print $1 }')
	smx_instance_reload rx
	for p in $old; do
		smx_retry 100 0.1 smx_pid_gone "$p" ||
			smx_fatal "smtpd $p still running after reload"
	done
}

# Fail closed: a daemon that cannot start sends no reply, and Postfix
# applies smtpd_policy_service_default_action (451 4.3.5) to every
# recipient, so SOR mail is deferred, never accepted in plaintext.
mv "$d/secmx/secmx.conf" "$d/secmx/secmx.conf.off"
reload_wait
_w="spawn: daemon cannot start"
smx_send rx @sor.example
smx_assert_rc 24 "$_w"
smx_assert_reply '^<\*\* +451 4\.3\.5 ' "$_w"
smx_assert_not_delivered rx "$SMX_TOKEN" "$_w"
smx_assert_log "postfix-rx/smtpd\[[0-9]+\]: NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 451 4\.3\.5 <$(re_quote "$SMX_RCPT")>" "$_w"
mv "$d/secmx/secmx.conf.off" "$d/secmx/secmx.conf"
reload_wait

# And it recovers as soon as the configuration is back.
_w="spawn: configuration restored"
smx_send rx @ber.example
smx_assert_rc 0 "$_w"
smx_assert_delivered rx ber.example "$SMX_TOKEN" "$_w"

smx_instance_stop rx
smx_finish
