#!/bin/sh
# test_policyd_daemon.sh - secmx-policyd as a standalone daemon started
# with the ExecStart line of postfix-examples/secmx-policyd.service, and a
# real Postfix configured with postfix-examples/main.cf.daemon: first on
# the unix socket under the queue directory (private/secmx-policyd), then
# on inet:127.0.0.1. Also the fail-closed path: with the daemon stopped,
# Postfix answers 451 4.3.5. Creates the system user "secmx" (-u) when it
# is missing and leaves it in place.
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

# ---- unix socket under the queue directory, as in the example.
smx_instance_create rx 10027
smx_secmx_config rx
smx_example_main rx main.cf.daemon
d=$(smx_dir rx)
# Postfix creates private/ (owner postfix, mode 0700) at start.
smx_instance_start rx
smx_policyd_daemon rx
sock=$d/queue/private/secmx-policyd
if [ "$SMX_POLICYD_LISTEN" = "unix:$sock" ]; then
	smx_pass "daemon listens on the example's socket under the queue directory"
else
	smx_fail "expected listener unix:$sock, found $SMX_POLICYD_LISTEN"
fi
found=$(stat -c '%a %G' "$sock")
if [ "$found" = "660 postfix" ]; then
	smx_pass "socket mode 0660 group postfix (-m, -g)"
else
	smx_fail "socket: expected mode 660 group postfix, found $found"
fi
found=$(ps -o user= -p "$SMX_POLICYD_PID" | tr -d ' ')
if [ "$found" = secmx ]; then
	smx_pass "daemon runs as secmx (-u)"
else
	smx_fail "daemon: expected user secmx, found '$found'"
fi

smx_policyd_cases rx daemon-unix

# Fail closed: daemon stopped, Postfix applies its default action.
smx_policyd_stop
_w="daemon stopped"
smx_send rx @sor.example
smx_assert_rc 24 "$_w"
smx_assert_reply '^<\*\* +451 4\.3\.5 ' "$_w"
smx_assert_not_delivered rx "$SMX_TOKEN" "$_w"
smx_assert_log "postfix-rx/smtpd\[[0-9]+\]: warning: .*private/secmx-policyd" "$_w"
smx_send rx @sor.example --tls
smx_assert_reply '^<~\* +451 4\.3\.5 ' "$_w, STARTTLS too"
smx_assert_not_delivered rx "$SMX_TOKEN" "$_w, STARTTLS too"
smx_instance_stop rx

# ---- TCP on loopback: only the endpoint is rewritten.
pport=10045
smx_instance_create rxinet 10028
smx_secmx_config rxinet
smx_example_main rxinet main.cf.daemon \
	"s|unix:private/secmx-policyd|inet:127.0.0.1:$pport|"
smx_port_free "$pport" || smx_fatal "port $pport is in use"
smx_policyd_daemon rxinet "inet:127.0.0.1:$pport"
smx_instance_start rxinet
smx_policyd_cases rxinet daemon-inet
smx_instance_stop rxinet
smx_policyd_stop
smx_finish
