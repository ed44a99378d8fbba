# shellcheck shell=sh
# lib.sh - helpers for secmx integration tests with the distribution's
# Postfix. Source it from a test script run as root:
#
#	. "$SMX_SOURCE_DIR/tests/integration/lib.sh"
#	smx_namespace "$@"	# first: private mount namespace if needed
#	smx_init		# temp dir, traps, syslog capture
#	smx_instance_create rx 10025
#	...
#
# Environment: SMX_SOURCE_DIR (source tree), SMX_LOGSINK (smx-logsink),
# SMX_POLICYD (secmx-policyd; tests that run it), SMX_KEEP=1 keeps the temp
# directory for inspection.
#
# Each Postfix instance NAME lives in $SMX_TMP/NAME: etc/ (config_directory),
# queue/, data/, mail/ (maildirs, one per recipient domain), secmx/ (its
# secmx.conf). It listens on 127.0.0.1:PORT only and logs to syslog as
# postfix-NAME. Nothing under /etc/postfix is read or written. The test
# client address 127.0.0.1 is deliberately not in mynetworks, so that
# smtpd treats it like a client from the Internet.
#
# Syslog: smx-logsink captures everything sent to /dev/log in
# $SMX_SYSLOG. The test re-runs itself under "unshare --mount". Where
# /dev/log exists (a box with a syslog daemon), the sink's socket is
# bind-mounted over it inside that namespace only. Where it does not,
# /dev inside the namespace becomes a private copy (smx_private_dev) and
# the sink is bound at /dev/log there, so that nothing else on the
# machine logs into the capture; only where that cannot be done is the
# sink bound at the real /dev/log (and removed at the end).
#
# Every process a test starts (logsink, Postfix masters and their
# children, secmx-policyd daemons) is stopped by PID from an EXIT trap.

SMX_TMP=
SMX_SYSLOG=
SMX_PIDS=
SMX_INSTANCES=
SMX_DEVLOG_OWNED=
SMX_FAILURES=0
SMX_SEQ=0

smx_log() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
}

smx_fatal() {
	smx_log "FATAL: $*"
	exit 1
}

# smx_fail MSG: record a failed assertion; the test goes on, smx_finish
# exits non-zero.
smx_fail() {
	SMX_FAILURES=$((SMX_FAILURES + 1))
	printf 'FAIL: %s\n' "$*" >&2
}

smx_pass() {
	printf 'ok: %s\n' "$*"
}

# smx_namespace "$@": call first. Re-run the script in a private mount
# namespace, so that the syslog sink can be put at /dev/log without
# touching the system's logging.
smx_namespace() {
	[ "$(id -u)" = 0 ] || smx_fatal "integration tests must run as root"
	if [ -z "${SMX_IN_NAMESPACE:-}" ]; then
		SMX_IN_NAMESPACE=1
		export SMX_IN_NAMESPACE
		exec unshare --mount --propagation private -- sh "$0" "$@"
	fi
}

# smx_require CMD...: fail unless every command exists.
smx_require() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || smx_fatal "missing command: $c"
	done
}

# smx_init: temp directory, cleanup traps, sanitizer report directory and
# syslog capture.
smx_init() {
	[ -n "${SMX_SOURCE_DIR:-}" ] || smx_fatal "SMX_SOURCE_DIR is not set"
	[ -x "${SMX_LOGSINK:-}" ] || smx_fatal "SMX_LOGSINK is not executable"
	smx_require postfix postconf postqueue swaks openssl ss unshare
	# swaks --tls needs Net::SSLeay (Debian: libnet-ssleay-perl).
	perl -MNet::SSLeay -e 1 2>/dev/null ||
		smx_fatal "swaks --tls needs Net::SSLeay (libnet-ssleay-perl)"
	SMX_TMP=$(mktemp -d /tmp/secmx-it.XXXXXX)
	# Postfix and secmx run as unprivileged users below this directory.
	chmod 0755 "$SMX_TMP"
	trap smx_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# Sanitizer reports of secmx programs go to files, never to stderr:
	# under spawn(8) stderr is the policy connection. smx_finish fails
	# the test when a report exists.
	mkdir "$SMX_TMP/sanitizer"
	chmod 1777 "$SMX_TMP/sanitizer"
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$SMX_TMP/sanitizer/asan"
	UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$SMX_TMP/sanitizer/ubsan"
	export ASAN_OPTIONS UBSAN_OPTIONS
	smx_syslog_start
}

# smx_retry TRIES DELAY CMD...: run CMD until it succeeds, at most TRIES
# times, sleeping DELAY seconds between tries.
smx_retry() {
	_tries=$1
	_delay=$2
	shift 2
	while [ "$_tries" -gt 0 ]; do
		"$@" && return 0
		_tries=$((_tries - 1))
		[ "$_tries" -gt 0 ] && sleep "$_delay"
	done
	return 1
}

# smx_pid_alive PID: PID exists and is not a zombie (an exited child of
# this shell that was not waited for yet).
smx_pid_alive() {
	_st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $_st in
	Z*) return 1 ;;
	esac
	return 0
}

smx_pid_gone() {
	! smx_pid_alive "$1"
}

# smx_track PID: stop PID at cleanup, in reverse order of tracking (the
# syslog sink goes last, so that it still sees the others' last lines).
smx_track() {
	SMX_PIDS="$1 $SMX_PIDS"
}

# smx_untrack PID: forget PID (it was stopped and waited for), so that
# cleanup never signals whatever process gets that number next.
smx_untrack() {
	_ut=
	for _u in $SMX_PIDS; do
		[ "$_u" = "$1" ] || _ut="$_ut $_u"
	done
	SMX_PIDS=${_ut# }
}

# smx_pid_child PID: PID is a live child of this shell. Tracked PIDs are
# stopped only then: a child that exited early may have been reaped by
# the shell, and its number taken by an unrelated process since (PIDs
# wrap soon where pid_max is 32768).
smx_pid_child() {
	[ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ] &&
		smx_pid_alive "$1"
}

# smx_stop_tracked: stop every tracked PID that is still a child of this
# shell (smx_stop_pid), in tracking order, and forget them all.
smx_stop_tracked() {
	for _p in $SMX_PIDS; do
		smx_pid_child "$_p" && smx_stop_pid "$_p"
	done
	SMX_PIDS=
}

# smx_stop_pid PID: SIGTERM, wait up to 10s, then SIGKILL.
smx_stop_pid() {
	smx_pid_alive "$1" || return 0
	kill -TERM "$1" 2>/dev/null || true
	if ! smx_retry 100 0.1 smx_pid_gone "$1"; then
		smx_log "pid $1 ignored SIGTERM; killing it"
		kill -KILL "$1" 2>/dev/null || true
		smx_retry 50 0.1 smx_pid_gone "$1" || true
	fi
}

# smx_descendants PID: every descendant of PID, children first.
smx_descendants() {
	for _c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		echo "$_c"
		smx_descendants "$_c"
	done
}

smx_syslog_ready() {
	[ -s "$SMX_TMP/logsink.pid" ]
}

# smx_private_mount_ns: this process runs in a mount namespace other
# than that of PID 1 (smx_namespace made it).
smx_private_mount_ns() {
	[ -n "${SMX_IN_NAMESPACE:-}" ] &&
		[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ]
}

# smx_private_dev: in a private mount namespace only, replace /dev by a
# copy on a tmpfs of its own (device nodes, symlinks and directories
# copied, the mounts below /dev moved over), where a socket at /dev/log
# is seen by the processes of this test alone. Returns 1 where /dev is
# not a mount point or the copy fails; /dev is then as it was.
smx_private_dev() {
	smx_private_mount_ns && mountpoint -q /dev || return 1
	# The old /dev is moved below $SMX_TMP for the copy and unmounted
	# right after; smx_cleanup removes $SMX_TMP within one file system
	# only, so that a mount left there by mistake is never emptied.
	_old=$SMX_TMP/dev.old
	mkdir "$_old" || return 1
	mount --move /dev "$_old" || return 1
	if mount -t tmpfs -o mode=0755,nosuid secmx-test-dev /dev; then
		for _e in "$_old"/* "$_old"/.[!.]*; do
			[ -e "$_e" ] || [ -L "$_e" ] || continue
			if mountpoint -q "$_e"; then
				mkdir -p "/dev/${_e##*/}" &&
					mount --move "$_e" "/dev/${_e##*/}"
			else
				cp -a "$_e" /dev/
			fi || break
		done
		if [ -c /dev/null ] && [ -e /dev/urandom ]; then
			umount -l "$_old" && rmdir "$_old"
			return 0
		fi
		umount -l /dev
	fi
	mount --move "$_old" /dev
	rmdir "$_old"
	return 1
}

# smx_syslog_start: start smx-logsink; lines go to $SMX_SYSLOG.
smx_syslog_start() {
	SMX_SYSLOG=$SMX_TMP/syslog.log
	: >"$SMX_SYSLOG"
	if [ -e /dev/log ] || [ -L /dev/log ]; then
		smx_private_mount_ns ||
			smx_fatal "/dev/log exists: call smx_namespace first"
		_sock=$SMX_TMP/log.sock
	elif smx_private_dev; then
		_sock=/dev/log
	else
		_sock=/dev/log
		SMX_DEVLOG_OWNED=1
	fi
	"$SMX_LOGSINK" "$_sock" "$SMX_SYSLOG" "$SMX_TMP/logsink.pid" \
		2>>"$SMX_TMP/logsink.err" &
	SMX_LOGSINK_PID=$!
	smx_track "$SMX_LOGSINK_PID"
	smx_retry 50 0.1 smx_syslog_ready ||
		smx_fatal "smx-logsink did not start: $(cat "$SMX_TMP/logsink.err")"
	if [ "$_sock" != /dev/log ]; then
		mount --bind "$_sock" /dev/log ||
			smx_fatal "cannot bind-mount $_sock over /dev/log"
	fi
	logger -t secmx-test "syslog capture for ${0##*/} started" 2>/dev/null ||
		true
}

# smx_instance_stop NAME: "postfix stop", then make sure by PID that the
# master and every process below it are gone.
smx_instance_stop() {
	_d=$SMX_TMP/$1
	[ -f "$_d/started" ] || return 0
	_mpid=$(tr -dc 0-9 <"$_d/queue/pid/master.pid" 2>/dev/null || true)
	# A stale pid file may name an unrelated process by now.
	if [ -n "$_mpid" ] &&
		[ "$(ps -o comm= -p "$_mpid" 2>/dev/null)" != master ]; then
		_mpid=
	fi
	_kids=
	[ -n "$_mpid" ] && _kids=$(smx_descendants "$_mpid")
	postfix -c "$_d/etc" stop >/dev/null 2>&1 || true
	if [ -n "$_mpid" ]; then
		smx_retry 100 0.1 smx_pid_gone "$_mpid" || smx_stop_pid "$_mpid"
	fi
	for _k in $_kids; do
		smx_retry 50 0.1 smx_pid_gone "$_k" || smx_stop_pid "$_k"
	done
	rm -f "$_d/started"
}

smx_cleanup() {
	_rc=$?
	trap - EXIT INT TERM
	for _i in $SMX_INSTANCES; do
		smx_instance_stop "$_i"
	done
	smx_stop_tracked
	if [ -n "${SMX_IN_NAMESPACE:-}" ] && [ -n "$SMX_TMP" ]; then
		umount /dev/log 2>/dev/null || true
	fi
	if [ -n "$SMX_DEVLOG_OWNED" ] && [ -S /dev/log ]; then
		rm -f /dev/log
	fi
	if [ -n "$SMX_TMP" ] && [ -d "$SMX_TMP" ]; then
		if [ "$_rc" != 0 ] && [ -s "$SMX_SYSLOG" ]; then
			echo "---- captured syslog ($SMX_SYSLOG)" >&2
			tail -n 80 "$SMX_SYSLOG" >&2
		fi
		if [ -n "${SMX_KEEP:-}" ]; then
			smx_log "kept $SMX_TMP"
		else
			rm -rf --one-file-system "$SMX_TMP"
		fi
	fi
	exit "$_rc"
}

# smx_finish: check for sanitizer reports, then exit 0 or 1.
smx_finish() {
	for _f in "$SMX_TMP"/sanitizer/*; do
		[ -e "$_f" ] || continue
		smx_fail "sanitizer report $_f:"
		cat "$_f" >&2
	done
	if [ "$SMX_FAILURES" -gt 0 ]; then
		smx_log "$SMX_FAILURES assertion(s) failed"
		exit 1
	fi
	smx_log "all assertions passed"
	exit 0
}

# smx_pki: a test CA and a server certificate for localhost/127.0.0.1 in
# $SMX_TMP/pki (ca.pem, server.pem, server.key). Idempotent.
smx_pki() {
	_p=$SMX_TMP/pki
	[ -f "$_p/server.pem" ] && return 0
	mkdir -p "$_p"
	(
		cd "$_p"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout ca.key -out ca.pem -days 2 \
			-subj "/CN=secmx test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign"
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout server.key -out server.csr \
			-subj "/CN=localhost"
		printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
			"basicConstraints=CA:FALSE" \
			"extendedKeyUsage=serverAuth" >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
			-CAcreateserial -days 2 -extfile server.ext \
			-out server.pem
	) >"$SMX_TMP/pki.log" 2>&1 || smx_fatal "openssl failed: $(cat "$SMX_TMP/pki.log")"
	chmod 0644 "$_p/server.pem" "$_p/ca.pem"
	chmod 0600 "$_p/server.key" "$_p/ca.key"
}

# smx_dir NAME: the instance directory.
smx_dir() {
	printf '%s\n' "$SMX_TMP/$1"
}

# smx_postconf NAME "param = value"...: set main.cf parameters.
smx_postconf() {
	_n=$1
	shift
	postconf -c "$SMX_TMP/$_n/etc" -e "$@"
}

# smx_instance_create NAME PORT [DOMAIN...]: a Postfix instance listening
# on 127.0.0.1:PORT that delivers mail for DOMAIN... (default: the test
# domains sor.example, sub.sor.example, ber.example, plain.example) into
# maildirs $SMX_TMP/NAME/mail/DOMAIN/. Not started.
smx_instance_create() {
	_n=$1
	_port=$2
	shift 2
	[ $# -gt 0 ] || set -- sor.example sub.sor.example ber.example \
		plain.example
	_d=$SMX_TMP/$_n
	[ ! -e "$_d" ] || smx_fatal "instance $_n exists"
	smx_pki
	mkdir -p "$_d/etc" "$_d/queue" "$_d/data" "$_d/mail" "$_d/secmx"
	chmod 0755 "$_d" "$_d/etc" "$_d/queue" "$_d/secmx"
	chown postfix "$_d/data"
	chown nobody:nogroup "$_d/mail"
	: >"$_d/etc/vmailbox"
	for _dom in "$@"; do
		printf '@%s %s/\n' "$_dom" "$_dom" >>"$_d/etc/vmailbox"
	done
	_doms=$(echo "$*" | sed 's/ /, /g')
	cat >"$_d/etc/main.cf" <<EOF
# Throw-away Postfix instance "$_n" for a secmx integration test.
compatibility_level = 3.6
queue_directory = $_d/queue
data_directory = $_d/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-$_n
maillog_file =
myhostname = $_n.test
mydomain = test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.2/32
alias_maps =
alias_database =
local_recipient_maps =
relay_domains =
biff = no
append_dot_mydomain = no
readme_directory = no
smtputf8_enable = no
smtpd_banner = \$myhostname ESMTP secmx-test
virtual_mailbox_domains = $_doms
virtual_mailbox_base = $_d/mail
virtual_mailbox_maps = texthash:$_d/etc/vmailbox
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
smtpd_tls_received_header = yes
# This host's certificate, as an operator's main.cf names it (the
# examples do not: which one is the operator's choice).
smtpd_tls_cert_file = $SMX_TMP/pki/server.pem
smtpd_tls_key_file = $SMX_TMP/pki/server.key
smtp_tls_security_level = may
smtp_tls_CAfile = $SMX_TMP/pki/ca.pem
# Fail fast in tests when the policy service is down.
smtpd_policy_service_try_limit = 1
smtpd_policy_service_timeout = 10s
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS
export_environment = TZ MAIL_CONFIG LANG ASAN_OPTIONS UBSAN_OPTIONS
EOF
	# No chroot: the instance's queue directory is not set up as one.
	cat >"$_d/etc/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$_port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
EOF
	echo "$_port" >"$_d/port"
	SMX_INSTANCES="$SMX_INSTANCES $_n"
}

# smx_example_rewrite NAME: sed script that turns the Debian paths of
# postfix-examples/ into the instance's paths. Only paths, ports and user
# names are ever rewritten.
smx_example_rewrite() {
	_d=$SMX_TMP/$1
	printf '%s\n' \
		"s|/usr/sbin/secmx-policyd|${SMX_POLICYD:-/usr/sbin/secmx-policyd}|g" \
		"s|/etc/secmx/|$_d/secmx/|g" \
		"s|/var/spool/postfix/|$_d/queue/|g"
}

# smx_example_main NAME FILE [SED-EXPR...]: append
# postfix-examples/FILE to the instance's main.cf (later settings win),
# with the standard path rewrite and any extra sed expressions.
smx_example_main() {
	_n=$1
	_f=$2
	shift 2
	_smx_example "$_n" "$_f" main.cf "$@"
}

# smx_example_master NAME FILE [SED-EXPR...]: the same for master.cf.
smx_example_master() {
	_n=$1
	_f=$2
	shift 2
	_smx_example "$_n" "$_f" master.cf "$@"
}

_smx_example() {
	_n=$1
	_src=$SMX_SOURCE_DIR/postfix-examples/$2
	_dst=$SMX_TMP/$1/etc/$3
	shift 3
	[ -f "$_src" ] || smx_fatal "no example $_src"
	smx_example_rewrite "$_n" >"$SMX_TMP/$_n/rewrite.sed"
	for _e in "$@"; do
		printf '%s\n' "$_e" >>"$SMX_TMP/$_n/rewrite.sed"
	done
	{
		echo
		echo "# ---- from postfix-examples/${_src##*/}"
		sed -f "$SMX_TMP/$_n/rewrite.sed" "$_src"
	} >>"$_dst"
}

# smx_secmx_config NAME [SED-EXPR...]: the instance's secmx.conf and
# receiver_roles from postfix-examples/, readable by the secmx user.
smx_secmx_config() {
	_n=$1
	shift
	_d=$SMX_TMP/$_n
	smx_example_rewrite "$_n" >"$_d/secmx.sed"
	for _e in "$@"; do
		printf '%s\n' "$_e" >>"$_d/secmx.sed"
	done
	sed -f "$_d/secmx.sed" "$SMX_SOURCE_DIR/postfix-examples/secmx.conf" \
		>"$_d/secmx/secmx.conf"
	cp "$SMX_SOURCE_DIR/postfix-examples/receiver_roles" "$_d/secmx/"
	chmod 0644 "$_d/secmx/secmx.conf" "$_d/secmx/receiver_roles"
}

# smx_ensure_user NAME: create the system user NAME (no home directory,
# no login shell) unless it exists. It is left in place afterwards, as a
# package installation would leave it.
smx_ensure_user() {
	getent passwd "$1" >/dev/null 2>&1 && return 0
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$1" ||
		smx_fatal "cannot create user $1"
	smx_log "created system user $1"
}

smx_port_listening() {
	[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# Ports. A fixed port can be taken by anything else on the machine, and
# one inside the kernel's ephemeral range (net.ipv4.ip_local_port_range,
# 32768-60999 by default) by any outgoing connection or DNS query. So a
# test server gets its port from the kernel where it can bind port 0
# (smx-smtp-peer); the others (nsd, ldns-testns) get a candidate from
# smx_port_pick and are started through smx_port_start, which tries the
# next candidate when the server still cannot bind (someone took the
# port in between). Postfix instances keep fixed ports below 32768 and
# stop with a clear message when one is taken (smx_instance_start).

SMX_PORTS_PICKED=

# smx_port_ephemeral PORT: PORT lies in the kernel's ephemeral range.
smx_port_ephemeral() {
	if [ -z "${SMX_EPHEMERAL:-}" ]; then
		# tr, not read: procfs answers a one-byte read at an offset
		# with end of file, and dash's read reads a byte at a time.
		SMX_EPHEMERAL=$(tr -s ' \t' '  ' \
			</proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) || true
		case $SMX_EPHEMERAL in
		[0-9]*' '[0-9]*) ;;
		*) SMX_EPHEMERAL='32768 60999' ;;
		esac
	fi
	[ "$1" -ge "${SMX_EPHEMERAL% *}" ] && [ "$1" -le "${SMX_EPHEMERAL#* }" ]
}

# smx_port_unused PORT: no TCP or UDP socket, in any state and on any
# address, has the local port PORT.
smx_port_unused() {
	[ -z "$(ss -Hantu "( sport = :$1 )" 2>/dev/null)" ]
}

# smx_port_pick BASE: set SMX_PORT to the first port from BASE upwards
# (at most 200 candidates, wrapping to 1024 after 65535) that is outside
# the ephemeral range, unused for TCP and UDP, and not picked before by
# this script. Returns 1 when there is none.
smx_port_pick() {
	_pkp=$1
	_pkn=0
	while [ "$_pkn" -lt 200 ]; do
		[ "$_pkp" -le 65535 ] || _pkp=1024
		if ! smx_port_ephemeral "$_pkp" &&
			case " $SMX_PORTS_PICKED " in
			*" $_pkp "*) false ;;
			*) true ;;
			esac && smx_port_unused "$_pkp"; then
			SMX_PORT=$_pkp
			SMX_PORTS_PICKED="$SMX_PORTS_PICKED $_pkp"
			return 0
		fi
		_pkp=$((_pkp + 1))
		_pkn=$((_pkn + 1))
	done
	smx_log "no free port from $1 upwards"
	return 1
}

# smx_port_start VAR BASE FN [ARG...]: pick a port (smx_port_pick BASE),
# store it in the variable VAR and call FN ARG... PORT; FN starts a
# server on PORT and returns 0 once it answers there, or stops what it
# started and returns non-zero (typically: it could not bind). Up to 5
# ports are tried. Returns 1 when none worked.
smx_port_start() {
	_psv=$1
	_psb=$2
	shift 2
	_pst=1
	while :; do
		smx_port_pick "$_psb" || return 1
		eval "$_psv=\$SMX_PORT"
		"$@" "$SMX_PORT" && return 0
		[ "$_pst" -lt 5 ] || break
		smx_log "$1: nothing answered on port $SMX_PORT; trying another port"
		_psb=$((SMX_PORT + 1))
		_pst=$((_pst + 1))
	done
	smx_log "$1: gave up after $_pst ports"
	return 1
}

# smx_nsd_start CONF_IN ZONE DIR PORT: nsd(8) in the foreground on
# 127.0.0.1:PORT with the configuration CONF_IN, its @DIR@ and @PORT@
# replaced by DIR (which holds the zone files) and PORT. Returns 0 once
# nsd answers authoritatively for ZONE; returns 1, after stopping it,
# when nsd exits (it could not bind PORT) or does not answer within
# 10s. Sets SMX_NSD_PID and tracks it (smx_track). For smx_port_start:
#
#	smx_port_start port 15341 smx_nsd_start "$conf_in" example.test "$dir"
smx_nsd_start() {
	sed -e "s|@DIR@|$3|g" -e "s|@PORT@|$4|g" "$1" >"$3/nsd.conf"
	rm -f "$3/nsd.log" "$3/nsd.pid"
	nsd -d -c "$3/nsd.conf" >"$3/nsd.out" 2>&1 &
	SMX_NSD_PID=$!
	smx_track "$SMX_NSD_PID"
	_nsn=0
	while [ "$_nsn" -lt 100 ]; do
		# TCP: refused at once while nsd is not up yet, where a UDP
		# query would wait out drill's timeout and retries (15s).
		if drill -t -p "$4" "$2" @127.0.0.1 SOA 2>/dev/null |
			grep -q '^;; flags: qr aa'; then
			return 0
		fi
		smx_pid_alive "$SMX_NSD_PID" || break
		sleep 0.1
		_nsn=$((_nsn + 1))
	done
	smx_log "nsd on 127.0.0.1:$4: $(cat "$3/nsd.out" "$3/nsd.log" 2>/dev/null | tail -n 3)"
	smx_stop_pid "$SMX_NSD_PID"
	wait "$SMX_NSD_PID" 2>/dev/null || true
	smx_untrack "$SMX_NSD_PID"
	return 1
}

smx_port_free() {
	! smx_port_listening "$1"
}

# smx_socket_listening PATH: a socket exists at PATH. secmx programs bind
# in a private directory and rename the socket to PATH only once it
# listens (lib/smx_listen.c), so a socket there is a listener; ss(8)
# cannot tell, because it shows the name a socket was bound under.
smx_socket_listening() {
	[ -S "$1" ]
}

# smx_wait_port PORT: wait up to 10s for a TCP listener on PORT.
smx_wait_port() {
	smx_retry 100 0.1 smx_port_listening "$1"
}

# smx_wait_socket PATH: wait up to 10s for a secmx listener at a fresh
# PATH (a stale socket left at PATH would satisfy it at once).
smx_wait_socket() {
	smx_retry 100 0.1 smx_socket_listening "$1"
}

# smx_instance_start NAME: check the configuration, start the master and
# wait for its pid file and SMTP port.
smx_instance_start() {
	_d=$SMX_TMP/$1
	_port=$(cat "$_d/port")
	smx_port_free "$_port" || smx_fatal "port $_port is already in use"
	postconf -c "$_d/etc" -n >/dev/null 2>"$_d/postconf.err" || true
	if [ -s "$_d/postconf.err" ]; then
		smx_fatal "instance $1 main.cf: $(cat "$_d/postconf.err")"
	fi
	touch "$_d/started"
	postfix -c "$_d/etc" start >"$_d/start.log" 2>&1 ||
		smx_fatal "postfix start $1 failed: $(cat "$_d/start.log")"
	smx_retry 100 0.1 test -s "$_d/queue/pid/master.pid" ||
		smx_fatal "instance $1: no master pid file"
	smx_wait_port "$_port" || smx_fatal "instance $1: port $_port not open"
}

# smx_instance_reload NAME: "postfix reload" after a config change.
smx_instance_reload() {
	postfix -c "$SMX_TMP/$1/etc" reload >/dev/null 2>&1 ||
		smx_fatal "postfix reload $1 failed"
}

# smx_policyd_daemon NAME [LISTEN]: start secmx-policyd in daemon mode for
# instance NAME with the ExecStart line of postfix-examples/
# secmx-policyd.service, its paths rewritten and, when given, its
# listener replaced by LISTEN (unix:PATH or inet:127.0.0.1:PORT). Sets
# SMX_POLICYD_PID and SMX_POLICYD_LISTEN and waits for the listener.
smx_policyd_daemon() {
	_n=$1
	_d=$SMX_TMP/$_n
	[ -x "${SMX_POLICYD:-}" ] || smx_fatal "SMX_POLICYD is not executable"
	smx_example_rewrite "$_n" >"$_d/unit.sed"
	[ $# -lt 2 ] || printf '%s\n' "s|-l [^ ]*|-l $2|" >>"$_d/unit.sed"
	_cmd=$(sed -n 's/^ExecStart=//p' \
		"$SMX_SOURCE_DIR/postfix-examples/secmx-policyd.service" |
		sed -f "$_d/unit.sed")
	[ -n "$_cmd" ] || smx_fatal "no ExecStart in secmx-policyd.service"
	_listen=$(echo "$_cmd" | sed -n 's/.* -l \([^ ]*\).*/\1/p')
	# shellcheck disable=SC2034 # read by the tests
	SMX_POLICYD_LISTEN=$_listen
	echo "$_cmd" >"$_d/policyd.cmd"
	# shellcheck disable=SC2086 # the unit's command line, word-split
	$_cmd >>"$_d/policyd.out" 2>&1 &
	SMX_POLICYD_PID=$!
	smx_track "$SMX_POLICYD_PID"
	case $_listen in
	unix:*) smx_wait_socket "${_listen#unix:}" ;;
	inet:*) smx_wait_port "${_listen##*:}" ;;
	esac || smx_fatal "secmx-policyd ($_cmd) did not listen on $_listen: $(cat "$_d/policyd.out")"
}

# smx_policyd_stop: stop the daemon started by smx_policyd_daemon and
# check that it exited cleanly.
smx_policyd_stop() {
	smx_stop_pid "$SMX_POLICYD_PID"
	if wait "$SMX_POLICYD_PID"; then
		smx_pass "secmx-policyd exited 0 on SIGTERM"
	else
		smx_fail "secmx-policyd exited $? on SIGTERM"
	fi
	smx_untrack "$SMX_POLICYD_PID"
}

# smx_send NAME TO [swaks options...]: one message from
# sender@client.example to TO through instance NAME, with a unique token
# in the subject. TO is a comma-separated list; an "@DOMAIN" in it gets
# the token as its local part, so that log lines about it are unique too. Sets SMX_TOKEN, SMX_RCPT,
# SMX_OUT (swaks transcript) and SMX_RC (swaks exit status: 0 accepted,
# 24 no recipient accepted).
smx_send() {
	_n=$1
	_to=$2
	shift 2
	SMX_SEQ=$((SMX_SEQ + 1))
	SMX_TOKEN=smx-$$-$SMX_SEQ
	SMX_OUT=$SMX_TMP/swaks.$SMX_SEQ.log
	SMX_RC=0
	SMX_RCPT=$(printf '%s\n' "$_to" | sed "s/\(^\|,\)@/\1$SMX_TOKEN@/g")
	swaks --server "127.0.0.1:$(cat "$SMX_TMP/$_n/port")" \
		--from sender@client.example --to "$SMX_RCPT" \
		--helo client.example --timeout 30 \
		--header "Subject: $SMX_TOKEN" --body "token $SMX_TOKEN" \
		"$@" >"$SMX_OUT" 2>&1 || SMX_RC=$?
}

# smx_show FILE [LINES]: indented tail of FILE for a failure message.
smx_show() {
	tail -n "${2:-20}" "$1" | sed 's/^/    | /' >&2
}

# smx_assert_rc EXPECTED WHAT: SMX_RC must equal EXPECTED.
smx_assert_rc() {
	if [ "$SMX_RC" = "$1" ]; then
		smx_pass "$2: swaks exit status $1"
	else
		smx_fail "$2: expected swaks exit status $1, found $SMX_RC"
		smx_show "$SMX_OUT"
	fi
}

# smx_assert_reply REGEX WHAT: the SMTP transcript has a server line
# ("<- " or "<** ") matching the extended REGEX.
smx_assert_reply() {
	if grep -E '^<[-*~ ]* ' "$SMX_OUT" | grep -Eq -- "$1"; then
		smx_pass "$2: server replied /$1/"
	else
		smx_fail "$2: expected a server reply matching /$1/; found:"
		smx_show "$SMX_OUT"
	fi
}

smx_assert_no_reply() {
	if grep -E '^<[-*~ ]* ' "$SMX_OUT" | grep -Eq -- "$1"; then
		smx_fail "$2: unexpected server reply matching /$1/:"
		smx_show "$SMX_OUT"
	else
		smx_pass "$2: no server reply /$1/"
	fi
}

# smx_tries NORMAL: NORMAL, or a tenth of it once an assertion has failed,
# so that a broken build fails quickly instead of waiting out every step.
smx_tries() {
	if [ "$SMX_FAILURES" -gt 0 ]; then
		echo $(($1 / 10 + 1))
	else
		echo "$1"
	fi
}

smx_token_in_maildir() {
	grep -rqsF -- "$2" "$1"
}

# smx_assert_delivered NAME DOMAIN TOKEN WHAT: wait up to 30s (3s after a
# failure) for the message with TOKEN in the maildir of DOMAIN. Sets
# SMX_MSG to its file.
smx_assert_delivered() {
	_m=$SMX_TMP/$1/mail/$2
	if smx_retry "$(smx_tries 300)" 0.1 smx_token_in_maildir "$_m/new" "$3"; then
		SMX_MSG=$(grep -rlF -- "$3" "$_m/new" | head -n 1)
		smx_pass "$4: delivered to maildir $2"
	else
		SMX_MSG=
		smx_fail "$4: expected message $3 in $_m/new; found:"
		find "$SMX_TMP/$1/mail" -type f | sed 's/^/    | /' >&2
		grep "postfix-$1/" "$SMX_SYSLOG" | smx_show /dev/stdin 10
	fi
}

# smx_assert_not_delivered NAME TOKEN WHAT: TOKEN is in no maildir and no
# queue file of instance NAME.
smx_assert_not_delivered() {
	if grep -rlsF -- "$2" "$SMX_TMP/$1/mail" "$SMX_TMP/$1/queue" \
		>"$SMX_TMP/found" 2>/dev/null; then
		smx_fail "$3: message $2 should not exist, found in:"
		smx_show "$SMX_TMP/found"
	else
		smx_pass "$3: message not delivered or queued"
	fi
}

# smx_assert_msg_grep REGEX WHAT: the last delivered message (SMX_MSG)
# matches the extended REGEX.
smx_assert_msg_grep() {
	if [ -n "${SMX_MSG:-}" ] && grep -Eq -- "$1" "$SMX_MSG"; then
		smx_pass "$2: message matches /$1/"
	else
		smx_fail "$2: expected the delivered message to match /$1/"
		[ -n "${SMX_MSG:-}" ] && smx_show "$SMX_MSG" 30
	fi
}

smx_syslog_has() {
	grep -Eq -- "$1" "$SMX_SYSLOG"
}

# smx_assert_log REGEX WHAT: wait up to 5s for a captured syslog line
# matching the extended REGEX.
smx_assert_log() {
	if smx_retry "$(smx_tries 50)" 0.1 smx_syslog_has "$1"; then
		smx_pass "$2: log line /$1/"
	else
		smx_fail "$2: expected a syslog line matching /$1/; last lines:"
		smx_show "$SMX_SYSLOG" 15
	fi
}

# smx_assert_no_log REGEX WHAT: no captured line matches.
smx_assert_no_log() {
	if smx_syslog_has "$1"; then
		smx_fail "$2: unexpected syslog line(s):"
		grep -E -- "$1" "$SMX_SYSLOG" | smx_show /dev/stdin 10
	else
		smx_pass "$2: no log line /$1/"
	fi
}
