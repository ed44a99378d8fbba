#!/bin/sh
# test_operator.sh - the edges an operator meets before any mail flows:
#
# - every program answers -h with its usage on stdout and exit 0;
# - secmx-policyd and secmx-lookup -s without -l refuse a terminal on
#   stdin (spawn(8) never gives them one);
# - -t checks the configuration as the -u user will read it;
# - under spawn(8) a start-up failure is written to stderr too (Postfix
#   logs what it reads from the connection);
# - one daemon per socket and per pid file; at exit a daemon removes only
#   its own socket;
# - log_destination = /path: lines in the maillog_file format, the file
#   reopened on SIGHUP (log rotation), also when the reload is refused;
#   a SIGHUP during start-up waits for the event loop;
# - SIGHUP reaches open secmx-lookup connections: the next request on an
#   existing connection is answered from the new configuration.
#
# Needs root (-u secmx), script(1) (util-linux) for a terminal, perl for
# a socketmap client. No Postfix instance, no network: unix sockets in the
# test directory only.
set -eu
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$SMX_SOURCE_DIR/tests/integration/lib.sh"
smx_namespace "$@"
smx_init
for v in SMX_POLICYD SMX_LOOKUP SMX_PROBE SMX_TRANSPORT SMX_LMTPD; do
	eval "p=\${$v:-}"
	[ -x "$p" ] || smx_fatal "$v is not executable"
done
smx_require script perl
smx_ensure_user secmx

t=$SMX_TMP/op
mkdir -p "$t"
chmod 0755 "$t"
# The programs run as secmx below: a copy it can reach.
for p in "$SMX_POLICYD" "$SMX_LOOKUP" "$SMX_PROBE" "$SMX_TRANSPORT" \
    "$SMX_LMTPD"; do
	cp "$p" "$t/"
	chmod 0755 "$t/$(basename "$p")"
done
POLICYD=$t/secmx-policyd
LOOKUP=$t/secmx-lookup

# ---- -h
for p in secmx-policyd secmx-lookup secmx-probe secmx-transport secmx-lmtpd; do
	if "$t/$p" -h >"$t/h.out" 2>"$t/h.err" &&
	    head -n 1 "$t/h.out" | grep -q "^usage: $p " && [ ! -s "$t/h.err" ]; then
		smx_pass "$p -h: usage on stdout, exit 0"
	else
		smx_fail "$p -h: no usage on stdout with exit 0"
		smx_show "$t/h.out"
		smx_show "$t/h.err"
	fi
done

# ---- a terminal on stdin
printf 'receiver_roles = %s\n' "$t/roles" >"$t/secmx.conf"
printf 'sor.example sor\n' >"$t/roles"
chmod 0644 "$t/secmx.conf" "$t/roles"
for cmd in "$POLICYD -c $t/secmx.conf" "$LOOKUP -c $t/secmx.conf -s"; do
	rc=0
	# script(1) gives the command a terminal; it exits with its status.
	timeout 10 script -qec "$cmd" /dev/null </dev/null >"$t/tty.out" 2>&1 ||
	    rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 124 ] &&
	    grep -q 'standard input is a terminal' "$t/tty.out"; then
		smx_pass "${cmd%% *}: refuses a terminal on stdin"
	else
		smx_fail "${cmd%% *}: rc=$rc, no refusal of a terminal"
		smx_show "$t/tty.out"
	fi
done

# ---- -t as the -u user
chmod 0600 "$t/roles"
for p in secmx-policyd secmx-lmtpd; do
	if "$t/$p" -t -c "$t/secmx.conf" 2>"$t/t.err"; then
		smx_pass "$p -t: good as root"
	else
		smx_fail "$p -t: refused as root"
		smx_show "$t/t.err"
	fi
	if "$t/$p" -t -c "$t/secmx.conf" -u secmx 2>"$t/t.err"; then
		smx_fail "$p -t -u secmx: passed a table secmx cannot read"
	elif grep -q "as user secmx: $t/roles: Permission denied" "$t/t.err"; then
		smx_pass "$p -t -u secmx: names the table secmx cannot read"
	else
		smx_fail "$p -t -u secmx: no reason given"
		smx_show "$t/t.err"
	fi
done
chmod 0644 "$t/roles"
if "$POLICYD" -t -c "$t/secmx.conf" -u secmx 2>"$t/t.err"; then
	smx_pass "secmx-policyd -t -u secmx: good once readable"
else
	smx_fail "secmx-policyd -t -u secmx: refused a readable table"
	smx_show "$t/t.err"
fi

# ---- spawn mode: a start-up failure on stderr too
printf 'receiver_roles = %s\nbogus = 1\n' "$t/roles" >"$t/bad.conf"
rc=0
"$POLICYD" -c "$t/bad.conf" </dev/null >"$t/spawn.out" 2>"$t/spawn.err" ||
    rc=$?
if [ "$rc" = 1 ] &&
    grep -q "secmx/policyd: error: $t/bad.conf, line 2: unknown parameter" \
        "$t/spawn.err"; then
	smx_pass "spawn mode: a configuration error goes to stderr as well"
else
	smx_fail "spawn mode: rc=$rc, configuration error not on stderr"
	smx_show "$t/spawn.err"
fi
if smx_retry 50 0.1 smx_syslog_has \
    "secmx/policyd\[[0-9]+\]: error: $t/bad.conf, line 2"; then
	smx_pass "spawn mode: and to syslog"
else
	smx_fail "spawn mode: configuration error not in syslog"
fi

# ---- one daemon per socket and pid file; its own socket removed at exit
sock=$t/policy.sock
"$POLICYD" -f -c "$t/secmx.conf" -l "unix:$sock" -p "$t/p1.pid" \
    2>"$t/d1.err" &
d1=$!
smx_track "$d1"
smx_wait_socket "$sock" || smx_fatal "first daemon: no socket"
rc=0
timeout 10 "$POLICYD" -f -c "$t/secmx.conf" -l "unix:$sock" \
    -p "$t/p2.pid" 2>"$t/d2.err" || rc=$?
if [ "$rc" = 1 ] && grep -q 'another server answers on this socket' "$t/d2.err"; then
	smx_pass "a second daemon refuses a socket a live one answers on"
else
	smx_fail "a second daemon on a live socket: rc=$rc"
	smx_show "$t/d2.err"
fi
rc=0
timeout 10 "$POLICYD" -f -c "$t/secmx.conf" -l "unix:$t/other.sock" \
    -p "$t/p1.pid" 2>"$t/d3.err" || rc=$?
if [ "$rc" = 1 ] && grep -q "pid file $t/p1.pid is locked by a running daemon (pid $d1)" "$t/d3.err"; then
	smx_pass "a second daemon refuses a pid file a live one holds"
else
	smx_fail "a second daemon on a held pid file: rc=$rc"
	smx_show "$t/d3.err"
fi
if [ ! -e "$t/other.sock" ] && smx_pid_alive "$d1" &&
    [ "$(cat "$t/p1.pid")" = "$d1" ]; then
	smx_pass "the first daemon is untouched (pid file, process)"
else
	smx_fail "the refused daemons disturbed the first one"
fi
smx_stop_pid "$d1"
wait "$d1" 2>/dev/null || true
smx_untrack "$d1"
if [ ! -e "$sock" ] && [ ! -e "$t/p1.pid" ]; then
	smx_pass "at exit the daemon removes its socket and pid file"
else
	smx_fail "socket or pid file left after a clean stop"
fi

# A successor's socket is not removed by its predecessor's exit.
"$POLICYD" -f -c "$t/secmx.conf" -l "unix:$sock" 2>"$t/d4.err" &
d4=$!
smx_track "$d4"
smx_wait_socket "$sock" || smx_fatal "daemon 4: no socket"
# Its socket moved away, a successor starts on the name.
mv "$sock" "$t/old.sock"
"$POLICYD" -f -c "$t/secmx.conf" -l "unix:$sock" 2>"$t/d5.err" &
d5=$!
smx_track "$d5"
smx_wait_socket "$sock" || smx_fatal "daemon 5: no socket"
smx_stop_pid "$d4"
wait "$d4" 2>/dev/null || true
smx_untrack "$d4"
if [ -S "$sock" ]; then
	smx_pass "an old daemon's exit leaves its successor's socket alone"
else
	smx_fail "an old daemon's exit removed its successor's socket"
fi
rm -f "$t/old.sock"
smx_stop_pid "$d5"
wait "$d5" 2>/dev/null || true
smx_untrack "$d5"

# ---- log_destination = /path, reopened on SIGHUP
log=$t/log/secmx.log
mkdir -p "$t/log"
chown secmx "$t/log"
printf 'receiver_roles = %s\nlog_destination = %s\n' "$t/roles" "$log" \
    >"$t/file.conf"
chmod 0644 "$t/file.conf"
"$POLICYD" -f -c "$t/file.conf" -l "unix:$sock" -u secmx 2>"$t/d6.err" &
d6=$!
smx_track "$d6"
smx_wait_socket "$sock" || smx_fatal "log file daemon: no socket"
policy_request() {
	perl -MIO::Socket::UNIX -e '
	    my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!";
	    print $s "request=smtpd_access_policy\nprotocol_state=RCPT\n",
	        "recipient=$ARGV[1]\nclient_address=192.0.2.1\n",
	        "client_name=client.example\nencryption_protocol=\n\n";
	    my $a = <$s>; print $a;' "$sock" "$1"
}
policy_request bob@sor.example >"$t/answer" ||
    smx_fail "policy request over the socket failed"
# "Mmm dd hh:mm:ss host secmx/policyd[pid]: ...", as Postfix's maillog_file.
line_re='^[A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]{8} [^ ]+ secmx/policyd\[[0-9]+\]: '
if smx_retry 50 0.1 grep -Eq "${line_re}NOQUEUE: action=reject role=sor domain=sor.example rcpt=<bob@sor.example>" "$log"; then
	smx_pass "log_destination = file: the audit line, maillog_file format"
else
	smx_fail "log_destination = file: no audit line in $log"
	smx_show "$log"
fi
mv "$log" "$log.1"
kill -HUP "$d6"
smx_retry 50 0.1 test -s "$log" || true
policy_request alice@sor.example >"$t/answer" || true
if smx_retry 50 0.1 grep -q 'rcpt=<alice@sor.example>' "$log" &&
    ! grep -q 'alice@' "$log.1"; then
	smx_pass "log_destination = file: reopened on SIGHUP (rotation)"
else
	smx_fail "log_destination = file: not reopened after SIGHUP"
fi
if [ "$(stat -c %U "$log")" = secmx ]; then
	smx_pass "the log file is created by the -u user"
else
	smx_fail "the log file owner is $(stat -c %U "$log")"
fi
smx_stop_pid "$d6"
wait "$d6" 2>/dev/null || true
smx_untrack "$d6"

# A refused reload reopens the log file too: logrotate's SIGHUP does not
# know whether the configuration is good (policyd: check_policyd_server).
# The SIGHUP comes right after "starting", while secmx-lmtpd still sets
# up its TLS contexts: it waits for the event loop instead of ending the
# daemon (SIGHUP's default action).
llog=$t/log/lmtpd.log
printf 'log_destination = %s\nhelo_name = tx.example\n' "$llog" \
    >"$t/lmtpd.conf"
chmod 0644 "$t/lmtpd.conf"
"$t/secmx-lmtpd" -f -c "$t/lmtpd.conf" -l "unix:$t/lmtpd.sock" -u secmx \
    2>"$t/m.err" &
m1=$!
smx_track "$m1"
# As soon as "starting" is there (at most 10 s).
n=0
while ! grep -q starting "$llog" 2>/dev/null && [ "$n" -lt 5000 ]; do
	n=$((n + 1))
done
kill -HUP "$m1"
if smx_wait_socket "$t/lmtpd.sock" &&
    smx_retry 50 0.1 grep -q 'configuration reloaded' "$llog" &&
    smx_pid_alive "$m1"; then
	smx_pass "secmx-lmtpd: a SIGHUP during start-up waits for the event loop"
else
	smx_fail "secmx-lmtpd: a SIGHUP during start-up ended the daemon"
	smx_show "$llog"
fi
mv "$llog" "$llog.1"
printf 'log_destination = %s\nhelo_name = tx.example\nno equals\n' \
    "$llog" >"$t/lmtpd.conf"
kill -HUP "$m1"
if smx_retry 50 0.1 grep -q 'reload failed' "$llog" &&
    ! grep -q 'reload failed' "$llog.1"; then
	smx_pass "secmx-lmtpd: a refused reload reopens the log file"
else
	smx_fail "secmx-lmtpd: a refused reload did not reopen the log file"
	smx_show "$llog.1"
fi
smx_stop_pid "$m1"
wait "$m1" 2>/dev/null || true
smx_untrack "$m1"

# ---- SIGHUP reaches an open secmx-lookup connection
lsock=$t/lookup.sock
printf 'receiver_roles = %s\n' "$t/roles" >"$t/lookup.conf"
chmod 0644 "$t/lookup.conf"
"$LOOKUP" -s -f -c "$t/lookup.conf" -l "unix:$lsock" -p "$t/lookup.pid" \
    -u secmx 2>"$t/l.err" &
l1=$!
smx_track "$l1"
smx_wait_socket "$lsock" || smx_fatal "secmx-lookup: no socket"
mkfifo "$t/go"
# One connection, two requests: the second after the table changed and
# SIGHUP was sent, answered on the same connection.
perl -MIO::Socket::UNIX -e '
    $| = 1;
    my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!";
    sub ask { my $q = "receiver $_[0]";
        print $s length($q), ":", $q, ",";
        my ($len, $c) = ("", "");
        while (read($s, $c, 1) == 1 && $c ne ":") { $len .= $c }
        read($s, my $v, $len); read($s, $c, 1); print "$v\n"; }
    ask("sor.example");
    open(my $go, "<", $ARGV[1]) or die; <$go>;
    ask("sor.example");' "$lsock" "$t/go" >"$t/lookup.out" &
cl=$!
smx_track "$cl"
smx_retry 50 0.1 test -s "$t/lookup.out" || true
printf 'sor.example ber\n' >"$t/roles"
kill -HUP "$l1"
smx_retry 50 0.1 smx_syslog_has 'secmx/lookup\[[0-9]+\]: configuration reloaded' ||
    smx_fail "secmx-lookup: no reload logged"
echo go >"$t/go"
wait "$cl" 2>/dev/null || true
smx_untrack "$cl"
if [ "$(cat "$t/lookup.out")" = "OK sor
OK ber" ]; then
	smx_pass "secmx-lookup: an open connection answers from the reloaded table"
else
	smx_fail "secmx-lookup: open connection answers: $(tr '\n' ' ' <"$t/lookup.out")"
fi
smx_stop_pid "$l1"
wait "$l1" 2>/dev/null || true
smx_untrack "$l1"
smx_finish
