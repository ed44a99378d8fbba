#!/bin/sh
# test_package.sh - the Debian package on this machine, used the way an
# operator would: install it, configure the SYSTEM Postfix from the
# installed examples alone (/usr/share/doc/secmx/examples, as the README
# says), run the daemons as their systemd units would, send mail, remove
# and purge it. Asserts that:
#
#  - the package installs the programs, their manual pages, the conffile
#    /etc/secmx/secmx.conf, the examples and three hardened units, which
#    are neither enabled nor started, and creates the system user secmx;
#  - "systemd-analyze verify" is clean for each unit (which includes that
#    its Documentation= man page is installed), and "systemd-analyze
#    security" rates each at most 3.0 (the figures are printed);
#  - with main.cf.daemon, main.cf.sender-srv-only, master.cf.transport
#    and master.cf.lmtp appended, "postfix check" passes;
#  - secmx-policyd, secmx-lookup and secmx-lmtpd, started with their
#    units' ExecStart= under the units' bounding set, no_new_privs and
#    read-only file system (tests/package/unit-sandbox), run as secmx
#    with no capability, their sockets root:postfix mode 0660;
#  - plaintext mail for the SOR domain sor.example is refused (530
#    5.7.0), TLS mail to it and mail to the BER domain ber.example, in
#    plaintext and TLS, is delivered;
#  - a Secure Only Sender's message to dest.test (its _secmx._tcp SRV
#    record, from nsd on loopback, names a throw-away Postfix instance
#    that requires TLS) goes out over TLS through secmx-transport, and a
#    second one, after secmx_transport_name names the LMTP service and
#    secmx-lookup is reloaded, through secmx-lmtpd;
#  - "apt-get remove" keeps the conffile and the user; "apt-get purge"
#    leaves nothing of the package: no file, no user or group, no
#    socket, no systemd state; only the files the operator added to
#    /etc/secmx stay, as Debian's dpkg keeps them.
#
# It changes the machine: it installs and purges the package and
# configures, starts and stops the system Postfix. So it runs only
# where the machine is disposable (CI=true) and is skipped otherwise.
# Afterwards the machine is as it was: /etc/postfix restored (no main.cf
# when there was none), Postfix stopped, what it added under
# /var/spool/postfix and /var/lib/postfix removed, a secmx user that
# existed before re-created with its old uid and gid.
#
# Environment: SECMX_DEB (a built secmx_*.deb; default: build one with
# scripts/package into build/package), SMX_LOGSINK (smx-logsink; default:
# from build/release or build/dev, else built into build/package-test).
# Needs root, Postfix, nsd, drill, swaks. Ports: 127.0.0.1:25 (the
# system Postfix), 127.0.0.1:10082 (the receiver), nsd from 15401.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${CI:-}" != true ]; then
	echo "test_package.sh: skipped: it installs and purges the secmx package and configures, starts and stops the system Postfix, so it runs only on a disposable machine (CI=true)"
	exit 0
fi
SMX_SOURCE_DIR=${SMX_SOURCE_DIR:-$top}
export SMX_SOURCE_DIR
if [ -z "${SMX_LOGSINK:-}" ]; then
	for b in build/release build/dev build/package-test; do
		if [ -x "$top/$b/tests/integration/smx-logsink" ]; then
			SMX_LOGSINK=$top/$b/tests/integration/smx-logsink
			break
		fi
	done
fi
if [ -z "${SMX_LOGSINK:-}" ]; then
	cmake -S "$top" -B "$top/build/package-test" >/dev/null
	cmake --build "$top/build/package-test" --target smx-logsink >/dev/null
	SMX_LOGSINK=$top/build/package-test/tests/integration/smx-logsink
fi
export SMX_LOGSINK

# shellcheck source-path=SCRIPTDIR
# shellcheck source=../integration/lib.sh
. "$SMX_SOURCE_DIR/tests/integration/lib.sh"
smx_namespace "$@"
smx_init
smx_require dpkg-query apt-get systemd-analyze man setpriv nsd drill postmap \
	sendmail stat
ex=/usr/share/doc/secmx/examples
units="secmx-policyd secmx-lookup secmx-lmtpd"
rx_port=10082
nsd_port=

# ---- The machine as it is now ----------------------------------------------
status=$(dpkg-query -W -f='${Status}' secmx 2>/dev/null || true)
case $status in
"" | "unknown ok not-installed" | *" not-installed") ;;
*) smx_fatal "the secmx package is there already ($status); this test installs and purges it" ;;
esac
[ ! -e /etc/secmx ] ||
	smx_fatal "/etc/secmx exists (a source install?); this test needs a machine without it"
mpid=$(tr -dc 0-9 2>/dev/null </var/spool/postfix/pid/master.pid || true)
if [ -n "$mpid" ] && [ "$(ps -o comm= -p "$mpid" 2>/dev/null)" = master ]; then
	smx_fatal "the system Postfix is running; this test configures and starts it"
fi
smx_port_free 25 || smx_fatal "port 25 is in use"
orig=$SMX_TMP/orig
mkdir -p "$orig"
cp -a /etc/postfix "$orig/etc-postfix"
had_main_cf=
[ -e /etc/postfix/main.cf ] && had_main_cf=1
find /var/spool/postfix /var/lib/postfix 2>/dev/null | sort >"$orig/files"
old_user=$(getent passwd secmx || true)
old_group=$(getent group secmx || true)

installed=
postfix_started=
sys_pids=

# pkg_restore: put the machine back as it was (also after a failure):
# daemons and Postfix stopped, package purged, /etc/postfix restored,
# new files under the Postfix directories removed, the old secmx user.
pkg_restore() {
	for _p in $sys_pids; do
		smx_stop_pid "$_p"
	done
	sys_pids=
	if [ -n "$postfix_started" ]; then
		/etc/init.d/postfix stop >/dev/null 2>&1 || postfix stop >/dev/null 2>&1 || true
		_m=$(tr -dc 0-9 2>/dev/null </var/spool/postfix/pid/master.pid || true)
		if [ -n "$_m" ] && [ "$(ps -o comm= -p "$_m" 2>/dev/null)" = master ]; then
			smx_retry 100 0.1 smx_pid_gone "$_m" || smx_stop_pid "$_m"
		fi
		postfix_started=
	fi
	if [ -n "$installed" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q secmx \
			>>"$SMX_TMP/apt.log" 2>&1 || true
		installed=
	fi
	rm -rf /etc/secmx
	rm -rf /etc/postfix
	cp -a "$orig/etc-postfix" /etc/postfix
	find /var/spool/postfix /var/lib/postfix 2>/dev/null | sort |
		comm -13 "$orig/files" - | sort -r | while IFS= read -r _f; do
		if [ -d "$_f" ] && [ ! -L "$_f" ]; then
			rmdir "$_f" 2>/dev/null || rm -rf "$_f"
		else
			rm -f "$_f"
		fi
	done
	if [ -n "$old_group" ] && ! getent group secmx >/dev/null; then
		groupadd --system -g "$(echo "$old_group" | cut -d: -f3)" secmx
	fi
	if [ -n "$old_user" ] && ! getent passwd secmx >/dev/null; then
		useradd --system -M -u "$(echo "$old_user" | cut -d: -f3)" \
			-g "$(echo "$old_user" | cut -d: -f4)" \
			-d "$(echo "$old_user" | cut -d: -f6)" \
			-s "$(echo "$old_user" | cut -d: -f7)" secmx
	fi
}

# shellcheck disable=SC2317 # the EXIT trap
pkg_exit() {
	_prc=$?
	# (exit N) must not end the trap before smx_cleanup.
	set +e
	pkg_restore
	(exit "$_prc")
	smx_cleanup
}
trap pkg_exit EXIT

# ---- The package --------------------------------------------------------------
deb=${SECMX_DEB:-}
if [ -z "$deb" ]; then
	"$top/scripts/package" -o "$top/build/package" >"$SMX_TMP/package.log" 2>&1 ||
		{ cat "$SMX_TMP/package.log" >&2; smx_fatal "scripts/package failed"; }
	sed -n '/^== lintian/,$p' "$SMX_TMP/package.log"
	deb=$(find "$top/build/package" -maxdepth 1 -name 'secmx_*.deb' | head -n 1)
fi
[ -f "$deb" ] || smx_fatal "no package $deb"
case $deb in /*) ;; *) deb=$PWD/$deb ;; esac

# The postinst must create the user: one left by other tests goes first
# (pkg_restore puts it back).
if [ -n "$old_user" ]; then
	userdel secmx
	getent group secmx >/dev/null && groupdel secmx
fi

installed=1
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends "$deb" >"$SMX_TMP/apt.log" 2>&1; then
	smx_pass "apt-get install ${deb##*/}"
else
	smx_show "$SMX_TMP/apt.log"
	smx_fatal "apt-get install $deb failed"
fi

for f in /usr/sbin/secmx-policyd /usr/sbin/secmx-lookup /usr/sbin/secmx-probe \
	/usr/sbin/secmx-lmtpd /usr/libexec/secmx/secmx-transport; do
	if [ -x "$f" ]; then smx_pass "installed $f"; else smx_fail "no $f"; fi
done
for f in README main.cf.daemon main.cf.spawn main.cf.sender \
	main.cf.sender-srv-only main.cf.sender-lmtp master.cf.spawn \
	master.cf.transport master.cf.lmtp receiver_roles secmx.conf; do
	[ -f "$ex/$f" ] || smx_fail "no example $ex/$f"
done
if dpkg-query -W -f='${Conffiles}\n' secmx | grep -q '^ /etc/secmx/secmx.conf '; then
	smx_pass "/etc/secmx/secmx.conf is a conffile"
else
	smx_fail "/etc/secmx/secmx.conf is not a conffile"
fi
pw=$(getent passwd secmx || true)
uid=$(echo "$pw" | cut -d: -f3)
if [ -n "$pw" ] && [ "$uid" -lt 1000 ] &&
	[ "$(echo "$pw" | cut -d: -f7)" = /usr/sbin/nologin ] &&
	getent group secmx >/dev/null; then
	smx_pass "postinst made the system user secmx ($pw)"
else
	smx_fail "no system user secmx with group secmx and no login shell: '$pw'"
fi
# The manual pages of man/, as cmake --install puts them (compressed by
# dh_compress); man(1) finds each.
mans=$(dpkg -L secmx | grep '^/usr/share/man/.' | grep -v '/$' || true)
for m in man1/secmx-lookup.1 man1/secmx-probe.1 man5/secmx.conf.5 \
	man8/secmx-lmtpd.8 man8/secmx-policyd.8 man8/secmx-transport.8; do
	name=${m#*/}
	if echo "$mans" | grep -q "^/usr/share/man/$m\(\.gz\)\{0,1\}\$" &&
		man -w "${name##*.}" "${name%.*}" >/dev/null 2>&1; then
		smx_pass "man page $m"
	else
		smx_fail "no man page $m (package: $(echo "$mans" | tr '\n' ' '))"
	fi
done

# ---- The units ------------------------------------------------------------
for u in $units; do
	f=/lib/systemd/system/$u.service
	[ -f "$f" ] || { smx_fail "no unit $f"; continue; }
	for kv in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
		PrivateTmp=yes PrivateDevices=yes \
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
		"CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_SETUID CAP_SETGID" \
		ReadWritePaths=/var/spool/postfix/private; do
		grep -qxF -- "$kv" "$f" || smx_fail "$u.service: no line $kv"
	done
	# Neither enabled nor started.
	if ls /etc/systemd/system/*.wants/"$u.service" >/dev/null 2>&1; then
		smx_fail "$u.service is enabled"
	fi
	if pgrep -f "^/usr/sbin/$u " >/dev/null; then
		smx_fail "$u runs after installation"
	fi
	# verify checks, among the rest, that the Documentation= man page
	# is installed (the package's own).
	page=$(sed -n 's/^Documentation=man:\([^ (]*\)(\([0-9]\)).*/\2 \1/p' "$f")
	# shellcheck disable=SC2086 # "SECTION NAME"
	man -w $page >/dev/null 2>&1 ||
		smx_fail "$u.service: Documentation= names '$page', which man -w does not find"
	if systemd-analyze verify "$f" >"$SMX_TMP/verify.$u" 2>&1 &&
		! [ -s "$SMX_TMP/verify.$u" ]; then
		smx_pass "systemd-analyze verify $u.service (Documentation= included): clean"
	else
		smx_fail "systemd-analyze verify $u.service:"
		smx_show "$SMX_TMP/verify.$u"
	fi
	level=$(systemd-analyze security --offline=yes "$f" 2>/dev/null |
		sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
	if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }'; then
		smx_pass "systemd-analyze security $u.service: exposure $level"
	else
		smx_fail "systemd-analyze security $u.service: exposure '${level:-?}' (at most 3.0 expected)"
	fi
done
if ls /etc/systemd/system/multi-user.target.wants/secmx-* >/dev/null 2>&1; then
	smx_fail "a secmx unit is enabled after installation"
else
	smx_pass "no secmx unit enabled after installation"
fi

# ---- DNS and the SecMX receiver of dest.test ----------------------------------
"$SMX_SOURCE_DIR/scripts/make-test-certs" "$SMX_TMP/certs" rx.dest.test \
	mx.pkg.test >"$SMX_TMP/certs.log" 2>&1 ||
	smx_fatal "make-test-certs failed: $(cat "$SMX_TMP/certs.log")"
chmod 0755 "$SMX_TMP/certs"
chmod 0644 "$SMX_TMP/certs/"*.pem
z=$SMX_TMP/dns
mkdir -p "$z"
sed "s|@PORT@|$rx_port|g" "$SMX_SOURCE_DIR/tests/data/dns/package/test.zone.in" \
	>"$z/test.zone"
smx_port_start nsd_port 15401 smx_nsd_start \
	"$SMX_SOURCE_DIR/tests/data/dns/matrix/nsd.conf.in" test "$z" ||
	smx_fatal "nsd did not start"
smx_instance_create rx "$rx_port" dest.test
smx_postconf rx "mynetworks = 127.0.0.254/32" \
	"smtpd_tls_security_level = encrypt" \
	"smtpd_tls_cert_file = $SMX_TMP/certs/rx.dest.test.pem" \
	"smtpd_tls_key_file = $SMX_TMP/certs/rx.dest.test.key"
smx_instance_start rx

# ---- Configure as the README says -------------------------------------------
# secmx.conf: the packaged sample (all commented out), then the example
# for a receiving MX and the sending side's settings. The daemons run
# with a private /tmp, so the test CA goes to /etc/secmx.
cp "$ex/receiver_roles" /etc/secmx/receiver_roles
printf '%s\n' "# Secure Only Senders" "sos.sender.test sos" >/etc/secmx/sender_roles
cp "$SMX_TMP/certs/ca.pem" /etc/secmx/test-ca.pem
{
	echo
	echo "# ---- from $ex/secmx.conf"
	cat "$ex/secmx.conf"
	cat <<EOF
# ---- the sending side
sender_roles = /etc/secmx/sender_roles
default_sender_role = bes
local_domains = mx.pkg.test, localhost
helo_name = mx.pkg.test
dns_nameservers = 127.0.0.1:$nsd_port
dns_timeout = 5s
tls_ca_file = /etc/secmx/test-ca.pem
smtp_timeout = 30s
delivery_time_limit = 120s
EOF
} >>/etc/secmx/secmx.conf
chmod 0644 /etc/secmx/receiver_roles /etc/secmx/sender_roles \
	/etc/secmx/test-ca.pem
if secmx-policyd -t -c /etc/secmx/secmx.conf >"$SMX_TMP/t.out" 2>&1; then
	smx_pass "secmx-policyd -t"
else
	smx_fail "secmx-policyd -t: $(cat "$SMX_TMP/t.out")"
fi

# main.cf: the operator's own part (Debian's main.cf, this host's names,
# local mailboxes for the receiving domains; mynetworks holds no test
# client, which stands for a host on the Internet), then the examples as
# they are, then a real certificate instead of the snakeoil one.
sd=$SMX_TMP/sys
mkdir -p "$sd/mail"
chown nobody:nogroup "$sd/mail"
echo 25 >"$sd/port"
printf '%s\n' "@sor.example sor.example/" "@ber.example ber.example/" \
	>/etc/postfix/vmailbox
cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
postconf -e "myhostname = mx.pkg.test" "mydestination = mx.pkg.test, localhost" \
	"inet_interfaces = 127.0.0.1" "inet_protocols = ipv4" \
	"mynetworks = 127.0.0.254/32" "alias_maps =" "alias_database =" \
	"smtputf8_enable = no" \
	"virtual_mailbox_domains = sor.example, ber.example" \
	"virtual_mailbox_base = $sd/mail" \
	"virtual_mailbox_maps = texthash:/etc/postfix/vmailbox" \
	"virtual_uid_maps = static:$(id -u nobody)" \
	"virtual_gid_maps = static:$(id -g nobody)" \
	"smtpd_tls_received_header = yes"
for f in main.cf.daemon main.cf.sender-srv-only; do
	{ echo; echo "# ---- from $ex/$f"; cat "$ex/$f"; } >>/etc/postfix/main.cf
done
for f in master.cf.transport master.cf.lmtp; do
	{ echo; echo "# ---- from $ex/$f"; cat "$ex/$f"; } >>/etc/postfix/master.cf
done
postconf -e "smtpd_tls_cert_file = $SMX_TMP/certs/mx.pkg.test.pem" \
	"smtpd_tls_key_file = $SMX_TMP/certs/mx.pkg.test.key"
if postfix check >"$SMX_TMP/check.out" 2>&1 && ! [ -s "$SMX_TMP/check.out" ]; then
	smx_pass "postfix check"
else
	smx_fail "postfix check:"
	smx_show "$SMX_TMP/check.out"
fi
if postconf -n >/dev/null 2>"$SMX_TMP/postconf.err" && ! [ -s "$SMX_TMP/postconf.err" ]; then
	smx_pass "postconf -n: no warnings"
else
	smx_fail "postconf -n:"
	smx_show "$SMX_TMP/postconf.err"
fi

# ---- The daemons, as their units start them ----------------------------------
for u in $units; do
	f=/lib/systemd/system/$u.service
	sock=/var/spool/postfix/private/$u
	"$SMX_SOURCE_DIR/tests/package/unit-sandbox" "$f" >"$SMX_TMP/$u.out" 2>&1 &
	p=$!
	sys_pids="$sys_pids $p"
	eval "pid_$(echo "$u" | tr - _)=$p"
	if ! smx_wait_socket "$sock"; then
		smx_fail "$u: no socket $sock: $(cat "$SMX_TMP/$u.out")"
		continue
	fi
	# shellcheck disable=SC2016 # expanded by the inner shell
	smx_retry 50 0.1 sh -c '[ "$(ps -o user= -p "$1")" = secmx ]' sh "$p" || true
	st=$(ps -o user=,group= -p "$p" | tr -s ' ')
	caps=$(sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$p/status")
	nnp=$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' "/proc/$p/status")
	if [ "$st" = "secmx secmx" ] && [ "$caps" = 0000000000000000 ] &&
		[ "$nnp" = 1 ]; then
		smx_pass "$u runs as secmx:secmx, no capability, no_new_privs"
	else
		smx_fail "$u: user/group '$st', CapEff $caps, NoNewPrivs $nnp"
	fi
	sm=$(stat -c '%F %U:%G %a' "$sock")
	if [ "$sm" = "socket root:postfix 660" ]; then
		smx_pass "$u: $sock is a socket root:postfix 0660"
	else
		smx_fail "$u: $sock is '$sm'"
	fi
done

# The system Postfix, started as Debian starts it (chroot set-up first).
postfix_started=1
/etc/init.d/postfix start >"$SMX_TMP/postfix-start.log" 2>&1 ||
	smx_fatal "postfix start: $(cat "$SMX_TMP/postfix-start.log")"
smx_wait_port 25 || smx_fatal "the system Postfix does not listen on port 25"
smx_pass "system Postfix started"

# ---- Receiving: SOR and BER, plaintext and TLS -------------------------------
smx_send sys "@sor.example"
smx_assert_rc 24 "plaintext to sor.example"
smx_assert_reply '^<\*\* +530 5\.7\.0 ' "plaintext to sor.example refused"
smx_assert_not_delivered sys "$SMX_TOKEN" "plaintext to sor.example"
smx_assert_log "secmx/policyd\[[0-9]+\]: .*action=reject role=sor domain=sor\.example rcpt=<$SMX_TOKEN@sor\.example>" \
	"secmx-policyd audit line for the refusal"

smx_send sys "@sor.example" --tls
smx_assert_rc 0 "TLS to sor.example"
smx_assert_delivered sys sor.example "$SMX_TOKEN" "TLS to sor.example"
smx_assert_msg_grep '\(using TLSv1\.[23] with cipher' "TLS to sor.example: Received over TLS"

smx_send sys "@ber.example"
smx_assert_rc 0 "plaintext to ber.example"
smx_assert_delivered sys ber.example "$SMX_TOKEN" "plaintext to ber.example"
smx_assert_log "secmx/policyd\[[0-9]+\]: .*role=ber domain=ber\.example rcpt=<$SMX_TOKEN@ber\.example>" \
	"secmx-policyd audit line for ber.example"

smx_send sys "@ber.example" --tls
smx_assert_rc 0 "TLS to ber.example"
smx_assert_delivered sys ber.example "$SMX_TOKEN" "TLS to ber.example"

# ---- Sending: one Secure Only Sender message, pipe(8), then LMTP -------------
# qmap KEY: what the socketmap answers for KEY, as Postfix's chrooted
# trivial-rewrite asks it (relative to the queue directory).
qmap() {
	(cd /var/spool/postfix && postmap -q "$1" socketmap:unix:private/secmx-lookup:transport) 2>&1 || true
}
v=$(qmap dest.test)
if [ "$v" = secmx: ]; then
	smx_pass "transport map: dest.test -> secmx:"
else
	smx_fail "transport map: dest.test -> '$v', expected secmx:"
fi

# sos_send: a message from sos@sos.sender.test to TOKEN@dest.test,
# submitted locally with sendmail(1). Sets SMX_TOKEN.
sos_send() {
	SMX_SEQ=$((SMX_SEQ + 1))
	SMX_TOKEN=smx-$$-$SMX_SEQ
	printf 'From: sos@sos.sender.test\nTo: %s@dest.test\nSubject: %s\n\ntoken %s\n' \
		"$SMX_TOKEN" "$SMX_TOKEN" "$SMX_TOKEN" |
		sendmail -f sos@sos.sender.test "$SMX_TOKEN@dest.test" ||
		smx_fail "sendmail did not take $SMX_TOKEN"
}

sos_send
t=$SMX_TOKEN
smx_assert_delivered rx dest.test "$t" "SOS via secmx-transport: delivered to dest.test"
smx_assert_msg_grep '\(using TLSv1\.[23] with cipher' "SOS via secmx-transport: over TLS"
smx_assert_log "postfix/pipe\[[0-9]+\]: [0-9A-F]+: to=<$t@dest\.test>, relay=secmx, .*status=sent" \
	"SOS via secmx-transport: Postfix's pipe(8) line"
smx_assert_log "secmx/transport\[[0-9]+\]: .*to=<$t@dest\.test> relay=rx\.dest\.test\[127\.0\.0\.1\]:$rx_port route=srv role=sos .*class=sent .*tls=TLSv1\.[23] .*verify=ca" \
	"SOS via secmx-transport: audit line"

# LMTP mode: secmx_transport_name names the LMTP service (README, "LMTP
# mode"), secmx-lookup reloads as its unit's ExecReload= does, and
# Postfix reconnects to the socketmap after a reload.
echo "secmx_transport_name = secmx_lmtp:unix:private/secmx-lmtpd" >>/etc/secmx/secmx.conf
reload=$(sed -n 's/^ExecReload=//p' /lib/systemd/system/secmx-lookup.service)
# shellcheck disable=SC2154 # set by eval above
reload=$(echo "$reload" | sed "s/\\\$MAINPID/$pid_secmx_lookup/")
$reload || smx_fail "secmx-lookup: $reload failed"
# shellcheck disable=SC2317 # called through smx_retry
lmtp_route() {
	[ "$(qmap dest.test)" = secmx_lmtp:unix:private/secmx-lmtpd ]
}
if smx_retry 50 0.1 lmtp_route; then
	smx_pass "after ExecReload: dest.test -> secmx_lmtp:unix:private/secmx-lmtpd"
else
	smx_fail "after ExecReload: dest.test -> '$(qmap dest.test)'"
fi
postfix reload >/dev/null 2>&1 || smx_fail "postfix reload"
sleep 1
sos_send
t=$SMX_TOKEN
smx_assert_delivered rx dest.test "$t" "SOS via secmx-lmtpd: delivered to dest.test"
smx_assert_msg_grep '\(using TLSv1\.[23] with cipher' "SOS via secmx-lmtpd: over TLS"
smx_assert_log "postfix/lmtp\[[0-9]+\]: [0-9A-F]+: to=<$t@dest\.test>, relay=.*secmx-lmtpd.*status=sent" \
	"SOS via secmx-lmtpd: Postfix's lmtp(8) line"
smx_assert_log "secmx/lmtpd\[[0-9]+\]: .*to=<$t@dest\.test> relay=rx\.dest\.test\[127\.0\.0\.1\]:$rx_port route=srv role=sos .*class=sent .*tls=TLSv1\.[23] .*verify=ca" \
	"SOS via secmx-lmtpd: audit line"

# ---- Stop: SIGTERM, as systemctl stop sends it --------------------------------
for p in $sys_pids; do
	kill -TERM "$p" 2>/dev/null || true
	if smx_retry 100 0.1 smx_pid_gone "$p"; then
		rc=0
		wait "$p" || rc=$?
		if [ "$rc" = 0 ]; then
			smx_pass "daemon $p exited 0 on SIGTERM"
		else
			smx_fail "daemon $p exited $rc on SIGTERM"
		fi
	else
		smx_fail "daemon $p ignored SIGTERM"
	fi
done
sys_pids=
/etc/init.d/postfix stop >/dev/null 2>&1 || smx_fail "postfix stop"
mpid=$(tr -dc 0-9 2>/dev/null </var/spool/postfix/pid/master.pid || true)
[ -z "$mpid" ] || smx_retry 100 0.1 smx_pid_gone "$mpid" ||
	smx_fail "the Postfix master did not stop"
postfix_started=
smx_instance_stop rx

# ---- Remove, then purge -------------------------------------------------------
dpkg -L secmx >"$SMX_TMP/files" 2>/dev/null
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q secmx >>"$SMX_TMP/apt.log" 2>&1 ||
	smx_fail "apt-get remove secmx"
if [ -f /etc/secmx/secmx.conf ] && getent passwd secmx >/dev/null; then
	smx_pass "apt-get remove keeps /etc/secmx/secmx.conf and the user secmx"
else
	smx_fail "apt-get remove took the conffile or the user secmx"
fi
[ ! -e /usr/sbin/secmx-policyd ] || smx_fail "apt-get remove left the programs"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q secmx >>"$SMX_TMP/apt.log" 2>&1 ||
	smx_fail "apt-get purge secmx"
installed=
status=$(dpkg-query -W -f='${Status}' secmx 2>/dev/null || true)
case $status in
"" | "unknown ok not-installed" | *" not-installed") smx_pass "secmx purged" ;;
*) smx_fail "after purge: dpkg status '$status'" ;;
esac
# Every file of the package is gone, and its own directories; shared
# ones (/usr/sbin, /lib/systemd/system) stay, and so does /etc/secmx
# while it holds files of the operator.
left=
while IFS= read -r f; do
	if [ -d "$f" ]; then
		case $f in
		/usr/libexec/secmx | /usr/share/doc/secmx*) left="$left $f" ;;
		esac
	elif [ -e "$f" ] || [ -L "$f" ]; then
		left="$left $f"
	fi
done <"$SMX_TMP/files"
if [ -z "$left" ]; then
	smx_pass "purge: no file of the package left"
else
	smx_fail "purge left:$left"
fi
kept=$(find /etc/secmx -mindepth 1 -printf '%f ' 2>/dev/null | tr ' ' '\n' | sort | tr '\n' ' ')
if [ "$kept" = "receiver_roles sender_roles test-ca.pem " ]; then
	smx_pass "purge: /etc/secmx holds only the operator's files ($kept)"
else
	smx_fail "purge: /etc/secmx holds '$kept'"
fi
if getent passwd secmx >/dev/null || getent group secmx >/dev/null; then
	smx_fail "purge left the user or group secmx"
else
	smx_pass "purge: no user or group secmx"
fi
for u in $units; do
	[ ! -e "/var/spool/postfix/private/$u" ] ||
		smx_fail "purge left /var/spool/postfix/private/$u"
done
if ls /var/lib/systemd/deb-systemd-helper-enabled/*secmx* \
	/var/lib/systemd/deb-systemd-helper-masked/*secmx* >/dev/null 2>&1; then
	smx_fail "purge left deb-systemd-helper state"
fi
if pgrep -f '^/usr/sbin/secmx-' >/dev/null; then
	smx_fail "a secmx daemon still runs"
fi

# ---- The machine as it was ---------------------------------------------------
pkg_restore
if [ -z "$had_main_cf" ] && [ -e /etc/postfix/main.cf ]; then
	smx_fail "restore: /etc/postfix/main.cf is there"
fi
if diff -r "$orig/etc-postfix" /etc/postfix >/dev/null 2>&1; then
	smx_pass "restore: /etc/postfix as before"
else
	smx_fail "restore: /etc/postfix differs"
fi
if find /var/spool/postfix /var/lib/postfix 2>/dev/null | sort |
	cmp -s - "$orig/files"; then
	smx_pass "restore: /var/spool/postfix and /var/lib/postfix as before"
else
	smx_fail "restore: files left under /var/spool/postfix or /var/lib/postfix"
fi
if [ "$(getent passwd secmx || true)" = "$old_user" ]; then
	smx_pass "restore: user secmx as before"
else
	smx_fail "restore: user secmx '$(getent passwd secmx || true)', was '$old_user'"
fi
smx_finish
