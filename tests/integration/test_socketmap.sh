#!/bin/sh
# test_socketmap.sh - secmx-lookup -s, the socketmap server, with the
# distribution's Postfix as its client:
#
#  1. stdin/stdout: raw netstrings through a pipe, the exact replies,
#     nothing on stderr, a malformed netstring ends the stream unanswered;
#  2. daemon on a unix socket (-l, -m, -g, -u, -p, -f), queried with
#     Postfix's own "postmap -q KEY socketmap:unix:PATH:MAP";
#  3. spawn(8) in a throw-away Postfix instance, queried the same way;
#  4. the instance routes mail with transport_maps and
#     sender_dependent_default_transport_maps pointing at the daemon: SecMX
#     domains and SOS senders go to the "secmx" pipe(8) transport (a
#     script that records its arguments and defers), ordinary domains to
#     smtp(8), and a DNS failure defers the mail instead of sending it
#     Best Effort;
#  5. SIGHUP reloads the tables (a bad file keeps the running ones);
#     SIGTERM stops the daemon and its children with status 0.
#
# DNS: nsd on 127.0.0.1 serving tests/data/dns/socketmap/, on the first
# free port outside the kernel's ephemeral range from 15362 (lib.sh's
# smx_port_start: another one when nsd cannot bind it). Ports: 10051
# (SMTP of the instance; the test stops when it is taken) and the first
# free one from 10059 (nothing listens: smtp(8)'s relay). Every process
# is stopped by PID (lib.sh). Needs root; creates the system user
# "secmx" when missing.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$SMX_SOURCE_DIR/tests/integration/lib.sh"
smx_namespace "$@"
smx_init
[ -x "${SMX_LOOKUP:-}" ] || smx_fatal "SMX_LOOKUP is not executable"
smx_require nsd drill perl sendmail postmap
smx_ensure_user secmx

nsd_port=
smtp_port=10051
dead_port=
lookup=$SMX_LOOKUP
top=$SMX_TMP/lookup
sock=$top/socketmap.sock
targets='srv:[secmail.srv.socketmap.test]:25, srv:[backup.srv.socketmap.test]:2525'

# ns TEXT: TEXT as a netstring (keys here are ASCII).
ns() {
	printf '%d:%s,' "${#1}" "$1"
}

# ---- nsd ----------------------------------------------------------------
smx_port_free "$smtp_port" || smx_fatal "port $smtp_port is in use"
smx_port_pick 10059 || smx_fatal "no free port for the dead relay"
dead_port=$SMX_PORT
mkdir -p "$top/nsd"
chmod 0755 "$top"
cp "$SMX_SOURCE_DIR/tests/data/dns/socketmap/socketmap.test.zone" "$top/nsd/"
smx_port_start nsd_port 15362 smx_nsd_start \
	"$SMX_SOURCE_DIR/tests/data/dns/socketmap/nsd.conf.in" socketmap.test \
	"$top/nsd" || smx_fatal "nsd did not start"

# secmx.conf and tables, readable by the secmx user.
cat >"$top/sender_roles" <<'EOF'
sos.example	sos
EOF
cat >"$top/destination_roles" <<'EOF'
sos.dest.example	sos
EOF
cat >"$top/secmx.conf" <<EOF
dns_nameservers = 127.0.0.1:$nsd_port
dns_timeout = 1s
sender_roles = $top/sender_roles
destination_roles = $top/destination_roles
EOF
chmod 0644 "$top"/*roles "$top/secmx.conf"
conf=$top/secmx.conf

# shellcheck disable=SC2317 # called through smx_retry
lookup_ready() {
	"$lookup" -c "$conf" -q srv.socketmap.test route >/dev/null 2>&1
}
smx_retry 50 0.2 lookup_ready ||
	smx_fatal "nsd did not start: $(cat "$top/nsd/nsd.out")"

# ---- 1. stdin/stdout ----------------------------------------------------
{
	ns "route srv.socketmap.test"
	ns "route nullsrv.socketmap.test"
	ns "transport plain.socketmap.test"
	ns "transport user@srv.socketmap.test"
	ns "sender_transport user@sos.example"
	ns "route example.org"
	ns "bogus srv.socketmap.test"
	ns "transport .socketmap.test"
	printf '5:hello!'
	ns "route srv.socketmap.test"
} >"$top/pipe.in"
{
	ns "OK $targets"
	ns "NOTFOUND "
	ns "NOTFOUND "
	ns "OK secmx:"
	ns "OK secmx:"
	ns "TEMP REFUSED from [127.0.0.1]:$nsd_port"
	ns "PERM unknown map name"
	ns "NOTFOUND "
} >"$top/pipe.want"
rc=0
"$lookup" -c "$conf" -s <"$top/pipe.in" >"$top/pipe.out" 2>"$top/pipe.err" ||
	rc=$?
w="stdin/stdout"
if [ "$rc" = 0 ] && cmp -s "$top/pipe.want" "$top/pipe.out"; then
	smx_pass "$w: replies in order, none after the malformed netstring"
else
	smx_fail "$w: exit $rc; expected $(cat "$top/pipe.want"); got $(cat "$top/pipe.out")"
fi
if [ -s "$top/pipe.err" ]; then
	smx_fail "$w: wrote to stderr: $(cat "$top/pipe.err")"
else
	smx_pass "$w: nothing on stderr"
fi
smx_assert_log 'secmx/lookup\[[0-9]+\]: warning: peer=.*, status=disconnected \(malformed request: no .,. after the payload\)' "$w"

# ---- 2. daemon on a unix socket ------------------------------------------
"$lookup" -c "$conf" -s -f -l "unix:$sock" -m 0660 -g postfix -u secmx \
	-p "$top/lookup.pid" >"$top/daemon.out" 2>&1 &
daemon=$!
smx_track "$daemon"
smx_wait_socket "$sock" ||
	smx_fatal "secmx-lookup did not listen on $sock: $(cat "$top/daemon.out")"
w="daemon"
found=$(stat -c '%a %G' "$sock")
if [ "$found" = "660 postfix" ]; then
	smx_pass "$w: socket mode 0660 group postfix (-m, -g)"
else
	smx_fail "$w: socket: expected mode 660 group postfix, found $found"
fi
found=$(ps -o user= -p "$daemon" | tr -d ' ')
if [ "$found" = secmx ]; then
	smx_pass "$w: runs as secmx (-u)"
else
	smx_fail "$w: expected user secmx, found '$found'"
fi
if [ "$(tr -dc 0-9 <"$top/lookup.pid")" = "$daemon" ]; then
	smx_pass "$w: pid file (-p)"
else
	smx_fail "$w: pid file holds '$(cat "$top/lookup.pid")', not $daemon"
fi

# The instance (not started yet) gives postmap its configuration.
smx_instance_create sm "$smtp_port" local.example
d=$(smx_dir sm)

# pm STATUS STDOUT STDERR-REGEX KEY MAP [SOCKET]: postmap -q KEY through
# socketmap; compare exit status, stdout and (when given) stderr.
pm() {
	_want_rc=$1
	_want_out=$2
	_want_err=$3
	_table=socketmap:unix:${6:-$sock}:$5
	_rc=0
	postmap -c "$d/etc" -q "$4" "$_table" >"$top/pm.out" 2>"$top/pm.err" ||
		_rc=$?
	_what="postmap -q $4 $_table"
	if [ "$_rc" != "$_want_rc" ] || [ "$(cat "$top/pm.out")" != "$_want_out" ]; then
		smx_fail "$_what: exit $_rc, printed '$(cat "$top/pm.out")'; expected $_want_rc, '$_want_out' ($(cat "$top/pm.err"))"
	elif [ -n "$_want_err" ] && ! grep -Eq -- "$_want_err" "$top/pm.err"; then
		smx_fail "$_what: stderr lacks /$_want_err/: $(cat "$top/pm.err")"
	elif [ -z "$_want_err" ] && [ -s "$top/pm.err" ]; then
		smx_fail "$_what: unexpected stderr: $(cat "$top/pm.err")"
	else
		smx_pass "$_what: exit $_rc '$_want_out'"
	fi
}

# postmap_cases SOCKET: the same answers over any socket.
postmap_cases() {
	pm 0 "$targets" "" srv.socketmap.test route "$1"
	pm 0 "$targets" "" user@srv.socketmap.test route "$1"
	pm 1 "" "" nullsrv.socketmap.test route "$1"
	pm 1 "" "" plain.socketmap.test route "$1"
	pm 1 "" "" nosuch.socketmap.test route "$1"
	pm 0 "secmx:" "" srv.socketmap.test transport "$1"
	pm 0 "secmx:" "" sos.dest.example transport "$1"
	pm 1 "" "" nullsrv.socketmap.test transport "$1"
	pm 1 "" "" plain.socketmap.test transport "$1"
	pm 0 "secmx:" "" user@sos.example sender_transport "$1"
	pm 1 "" "" user@client.example sender_transport "$1"
	pm 0 "sos" "" user@sos.example sender "$1"
	# TEMP (DNS failure) and PERM (unknown map) are lookup errors.
	pm 1 "" "query error" example.org route "$1"
	pm 1 "" "query error" example.org transport "$1"
	pm 1 "" "query error" srv.socketmap.test bogus "$1"
}
postmap_cases "$sock"
smx_assert_log "postfix-sm/postmap\[[0-9]+\]: warning: socketmap:unix:$sock:route socketmap server temporary error: REFUSED from \[127\.0\.0\.1\]:$nsd_port" "$w: TEMP reply"
smx_assert_log "postfix-sm/postmap\[[0-9]+\]: warning: socketmap:unix:$sock:bogus socketmap server permanent error: unknown map name" "$w: PERM reply"

# ---- 3. spawn(8) and 4. routing in a Postfix instance ---------------------
rec=$SMX_TMP/records
mkdir -p "$rec"
chown nobody "$rec"
cat >"$SMX_TMP/record.sh" <<EOF
#!/bin/sh
# The "secmx" transport of this test: record the arguments, then defer.
printf '%s\n' "\$*" >>"$rec/secmx.log"
exit 75
EOF
chmod 0755 "$SMX_TMP/record.sh"
cat >>"$d/etc/master.cf" <<EOF
secmx-lookup unix - n n - 10 spawn
  user=secmx argv=$lookup -c $conf -s
secmx unix - n n - - pipe
  user=nobody argv=$SMX_TMP/record.sh \${nexthop} \${sender} \${recipient}
EOF
smx_postconf sm "transport_maps = socketmap:unix:$sock:transport" \
	"sender_dependent_default_transport_maps = socketmap:unix:$sock:sender_transport" \
	"default_transport = smtp:[127.0.0.1]:$dead_port" \
	"secmx_destination_recipient_limit = 1"
smx_instance_start sm
spawn_sock=$d/queue/private/secmx-lookup
# master(8) binds relative to the queue directory, so ss(8) does not show
# this path: the socket file is the sign.
smx_retry 100 0.1 test -S "$spawn_sock" ||
	smx_fatal "no spawn socket $spawn_sock"
w="spawn"
postmap_cases "$spawn_sock"

# send SENDER RCPT: one message through sendmail(1); sets TOKEN.
SEQ=0
send() {
	SEQ=$((SEQ + 1))
	TOKEN=sm-$$-$SEQ
	printf 'Subject: %s\n\nbody %s\n' "$TOKEN" "$TOKEN" |
		sendmail -C "$d/etc" -f "$1" "$TOKEN@$2" ||
		smx_fail "sendmail $1 -> $TOKEN@$2 failed"
}

recorded() {
	grep -qF -- "$1" "$rec/secmx.log" 2>/dev/null
}

# via_secmx WHAT NEXTHOP SENDER: the last message went to the secmx pipe.
via_secmx() {
	if smx_retry "$(smx_tries 300)" 0.1 recorded "$TOKEN@"; then
		_line=$(grep -F -- "$TOKEN@" "$rec/secmx.log")
		if [ "$_line" = "$2 $3 $TOKEN@$2" ]; then
			smx_pass "$1: secmx transport got '$_line'"
		else
			smx_fail "$1: secmx transport got '$_line', expected '$2 $3 $TOKEN@$2'"
		fi
	else
		smx_fail "$1: not delivered to the secmx transport"
	fi
	smx_assert_log "postfix-sm/pipe\[[0-9]+\]: [0-9A-F]+: to=<$TOKEN@$2>, relay=secmx, .*status=deferred" "$1"
}

# via_smtp WHAT DOMAIN: the last message went to smtp(8), not secmx.
via_smtp() {
	smx_assert_log "postfix-sm/smtp\[[0-9]+\]: [0-9A-F]+: to=<$TOKEN@$2>, relay=none, .*status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:$dead_port" "$1"
	if recorded "$TOKEN@"; then
		smx_fail "$1: reached the secmx transport"
	else
		smx_pass "$1: not given to the secmx transport"
	fi
}

w="routing"
send sender@client.example srv.socketmap.test
via_secmx "$w: SecMX domain" srv.socketmap.test sender@client.example
send sender@client.example plain.socketmap.test
via_smtp "$w: ordinary domain, BES sender" plain.socketmap.test
send sender@client.example nullsrv.socketmap.test
via_smtp "$w: null SRV target" nullsrv.socketmap.test
send sender@sos.example plain.socketmap.test
via_secmx "$w: SOS sender to an ordinary domain" plain.socketmap.test \
	sender@sos.example
send sender@client.example sos.dest.example
via_secmx "$w: sos destination" sos.dest.example sender@client.example
# DNS failure (REFUSED): deferred by Postfix, never sent Best Effort.
send sender@client.example example.org
smx_assert_log "postfix-sm/trivial-rewrite\[[0-9]+\]: warning: socketmap:unix:$sock:transport socketmap server temporary error: REFUSED from" "$w: DNS failure"
smx_assert_log "postfix-sm/error\[[0-9]+\]: [0-9A-F]+: to=<$TOKEN@example.org>, relay=none, .*dsn=4\.3\.0, status=deferred \(address resolver failure\)" "$w: DNS failure"
smx_assert_no_log "postfix-sm/smtp\[[0-9]+\]: [0-9A-F]+: to=<$TOKEN@example.org>" "$w: DNS failure not sent by smtp"
if recorded "$TOKEN@"; then
	smx_fail "$w: DNS failure: reached the secmx transport"
else
	smx_pass "$w: DNS failure: not given to the secmx transport"
fi
smx_assert_no_log 'secmx/lookup\[[0-9]+\]: (error|fatal|panic)' "$w"

# ---- 5. SIGHUP and SIGTERM ----------------------------------------------
w="SIGHUP"
printf 'sos.example\tsos\nclient.example\tsos\n' >"$top/sender_roles.new"
chmod 0644 "$top/sender_roles.new"
mv "$top/sender_roles.new" "$top/sender_roles"
kill -HUP "$daemon"
# shellcheck disable=SC2317 # called through smx_retry
sos_client() {
	postmap -c "$d/etc" -q user@client.example \
		"socketmap:unix:$sock:sender_transport" >/dev/null 2>&1
}
if smx_retry 50 0.1 sos_client; then
	smx_pass "$w: reloaded tables answer new connections"
else
	smx_fail "$w: sender_roles change not seen after SIGHUP"
fi
smx_assert_log 'secmx/lookup\[[0-9]+\]: configuration reloaded' "$w"
# A bad file: logged, the running configuration kept.
printf 'client.example\tmaybe\n' >"$top/sender_roles"
kill -HUP "$daemon"
smx_assert_log "secmx/lookup\[[0-9]+\]: error: $top/sender_roles, line 1: .*keeping the running configuration" "$w: bad table"
pm 0 "secmx:" "" user@client.example sender_transport
if smx_pid_alive "$daemon"; then
	smx_pass "$w: daemon still running"
else
	smx_fail "$w: daemon died"
fi

w="SIGTERM"
# A client that holds its connection open keeps one child busy.
perl -MIO::Socket::UNIX -e \
	'my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "$!\n"; sleep 60' \
	"$sock" &
holder=$!
smx_track "$holder"
# shellcheck disable=SC2317 # called through smx_retry
has_child() {
	[ -n "$(ps -o pid= --ppid "$daemon" 2>/dev/null)" ]
}
smx_retry 50 0.1 has_child || smx_fail "$w: no child for the open connection"
child=$(ps -o pid= --ppid "$daemon" | tr -d ' ' | head -n 1)
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
smx_untrack "$daemon"
if [ "$rc" = 0 ]; then
	smx_pass "$w: daemon exited 0"
else
	smx_fail "$w: daemon exited $rc"
fi
if [ -n "$child" ] && smx_retry 50 0.1 smx_pid_gone "$child"; then
	smx_pass "$w: child $child stopped with the daemon"
else
	smx_fail "$w: child '$child' still running"
fi
smx_stop_pid "$holder"
wait "$holder" 2>/dev/null || true
smx_untrack "$holder"
smx_assert_log 'secmx/lookup\[[0-9]+\]: stopping' "$w"
smx_assert_no_log 'secmx/lookup\[[0-9]+\]: warning: child' "$w: no warning about children"

smx_finish
