#!/bin/sh
# report.sh OUT FILE - write the "Soak" section of FILE (RELIABILITY.md)
# from the data of a soak run in OUT (tests/soak/soak.sh, scripts/soak):
# the machine, the commands, the verdicts, the request and message
# tallies, the samples every 10 s, and RSS over time as a text chart and
# as an SVG image. The image and the samples go next to FILE, into
# reliability/soak-rss.svg and reliability/soak-samples.tsv.
#
# FILE keeps everything outside the lines "<!-- soak: begin -->" and
# "<!-- soak: end -->"; a FILE that does not exist is created with the
# soak section and a "Fuzzing campaign" section to be filled in.
# Needs only sh, awk and sed.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 OUT FILE" >&2; exit 64; }
out=$1
file=$2
dir=$(dirname "$file")
img=$dir/reliability
mkdir -p "$img"
[ -s "$out/samples.tsv" ] || { echo "report.sh: no $out/samples.tsv" >&2; exit 1; }
cp "$out/samples.tsv" "$img/soak-samples.tsv"

# info KEY: a value of $out/run-info ("KEY=VALUE" lines).
info() {
	sed -n "s/^$1=//p" "$out/run-info" 2>/dev/null | head -n 1
}
# setting KEY: a value of $out/settings.
setting() {
	tr ' ' '\n' <"$out/settings" | sed -n "s/^$1=//p" | head -n 1
}

warmup=$(setting warmup_s)
minutes=$(setting minutes)

# ---- the SVG: RSS of both daemons over time, the end of the warm-up.
awk -F '\t' -v warm="$warmup" -v stop="$((minutes * 60))" '
BEGIN { n = 0 }
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
	t[n] = $1; p[n] = $(col["policyd_rss_kib"]); l[n] = $(col["lmtpd_rss_kib"])
	ph[n] = $(col["policyd_hwm_kib"]); lh[n] = $(col["lmtpd_hwm_kib"])
	if (p[n] + 0 > ymax) ymax = p[n] + 0
	if (l[n] + 0 > ymax) ymax = l[n] + 0
	if (lh[n] + 0 > ymax) ymax = lh[n] + 0
	if ($1 + 0 > xmax) xmax = $1 + 0
	n++
}
function x(v) { return 70 + (v / xmax) * 620 }
function y(v) { return 310 - (v / ymax) * 270 }
function line(arr, color, dash,    i, s) {
	s = ""
	for (i = 0; i < n; i++) if (arr[i] != "-") s = s sprintf("%.1f,%.1f ", x(t[i]), y(arr[i] / 1024))
	printf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"%s\"/>\n", color, dash, s
}
END {
	ymax = ymax / 1024
	step = ymax > 40 ? 10 : ymax > 16 ? 4 : 2
	ymax = (int(ymax / step) + 1) * step
	if (xmax == 0) xmax = 1
	print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"360\" font-family=\"sans-serif\" font-size=\"12\">"
	print "<rect width=\"720\" height=\"360\" fill=\"white\"/>"
	for (v = 0; v <= ymax; v += step) {
		printf "<line x1=\"70\" x2=\"690\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", y(v), y(v)
		printf "<text x=\"62\" y=\"%.1f\" text-anchor=\"end\">%d</text>\n", y(v) + 4, v
	}
	xs = xmax > 1200 ? 300 : xmax > 300 ? 60 : 10
	for (v = 0; v <= xmax; v += xs)
		printf "<text x=\"%.1f\" y=\"328\" text-anchor=\"middle\">%d</text>\n", x(v), v
	printf "<line x1=\"70\" x2=\"690\" y1=\"310\" y2=\"310\" stroke=\"black\"/>\n"
	printf "<line x1=\"70\" x2=\"70\" y1=\"40\" y2=\"310\" stroke=\"black\"/>\n"
	if (warm > 0 && warm <= xmax) {
		printf "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"40\" y2=\"310\" stroke=\"#888\" stroke-dasharray=\"4 4\"/>\n", x(warm), x(warm)
		printf "<text x=\"%.1f\" y=\"52\" fill=\"#555\">end of warm-up</text>\n", x(warm) + 4
	}
	if (stop > 0 && stop < xmax)
		printf "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"40\" y2=\"310\" stroke=\"#888\" stroke-dasharray=\"1 3\"/>\n", x(stop), x(stop)
	line(l, "#c0392b", ""); line(lh, "#c0392b", " stroke-dasharray=\"6 3\" stroke-opacity=\"0.5\"")
	line(p, "#2471a3", ""); line(ph, "#2471a3", " stroke-dasharray=\"6 3\" stroke-opacity=\"0.5\"")
	print "<text x=\"380\" y=\"350\" text-anchor=\"middle\">seconds</text>"
	print "<text x=\"18\" y=\"175\" transform=\"rotate(-90 18 175)\" text-anchor=\"middle\">MiB</text>"
	print "<text x=\"380\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">Resident set size during the soak run (dashed: VmHWM)</text>"
	print "<rect x=\"500\" y=\"255\" width=\"12\" height=\"4\" fill=\"#c0392b\"/><text x=\"518\" y=\"261\">secmx-lmtpd</text>"
	print "<rect x=\"500\" y=\"275\" width=\"12\" height=\"4\" fill=\"#2471a3\"/><text x=\"518\" y=\"281\">secmx-policyd</text>"
	print "</svg>"
}' "$out/samples.tsv" >"$img/soak-rss.svg"

# ---- the text chart: 16 rows, at most CHART_COLUMNS columns; a column
# stands for one sample, or for several in a row in a long run (their
# largest value).
CHART_COLUMNS=72
samples=$(($(wc -l <"$out/samples.tsv") - 1))
per_column=$(((samples + CHART_COLUMNS - 1) / CHART_COLUMNS))
[ "$per_column" -ge 1 ] || per_column=1
chart() {
	awk -F '\t' -v k="$per_column" '
	BEGIN { n = 0 }
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{
		j = int(n / k); n++
		pv = $(col["policyd_rss_kib"]) / 1024; lv = $(col["lmtpd_rss_kib"]) / 1024
		if (pv > p[j]) p[j] = pv
		if (lv > l[j]) l[j] = lv
		if (pv > ymax) ymax = pv
		if (lv > ymax) ymax = lv
		tend = $1
	}
	END {
		m = int((n + k - 1) / k)
		rows = 16
		ymax = int(ymax) + 1
		for (r = rows; r >= 1; r--) {
			lo = ymax * (r - 1) / rows; hi = ymax * r / rows
			s = ""
			for (i = 0; i < m; i++) {
				c = " "
				if (l[i] > lo && l[i] <= hi) c = "l"
				if (p[i] > lo && p[i] <= hi) c = (c == "l") ? "*" : "p"
				s = s c
			}
			printf "%5.1f |%s\n", hi, s
		}
		s = ""; for (i = 0; i < m; i++) s = s "-"
		printf "  MiB +%s\n", s
		s = sprintf("%d s", tend)
		pad = ""; for (i = 0; i < m - 2 - length(s); i++) pad = pad " "
		printf "       0%s%s\n", pad, s
	}' "$out/samples.tsv"
}

# ---- the section
kv() {
	tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}
summary=$(sed 's/^SOAKPOLICY //' "$out/policy.summary" 2>/dev/null || true)
tally=$(head -n 1 "$out/tally.summary" 2>/dev/null || true)
if grep -q '^check [^ ]* fail' "$out/verdicts"; then
	result="**FAILED**"
else
	result="**passed**"
fi

section=$out/soak-section.md
{
	echo "<!-- soak: begin -->"
	echo "## Soak"
	echo
	echo "Generated by \`$(info invocation)\` on $(info started) ($(info elapsed_min) minutes in all);"
	echo "do not edit by hand. Every figure below comes from the files the run wrote"
	echo "(\`reliability/soak-samples.tsv\` holds the samples). Result: $result."
	echo
	echo "### Machine"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| CPUs (nproc) | $(info cpus) |"
	echo "| CPU model | $(info cpu_model) |"
	echo "| Memory | $(info mem_mib) MiB |"
	echo "| Kernel | $(info kernel) |"
	echo "| OS | $(info os) |"
	echo "| Load average (1, 5, 15 min) | before $(info load_before); after $(info load_after) |"
	echo "| secmx | $(info revision) ($(info build_type)) |"
	echo "| Postfix | $(info postfix) |"
	echo "| OpenSSL | $(info openssl) |"
	echo
	echo "The machine may be shared with other work (the load averages say how"
	echo "busy it was); no check depends on timing."
	echo
	echo "### Commands"
	echo
	echo "    $(info invocation)"
	echo
	echo "ran, after the build (\`$(info build_command)\`):"
	echo
	echo "    $(info soak_command)"
	echo
	echo "which starts the daemons as their units do (paths rewritten, \`\$TMP\` is its"
	echo "temporary directory):"
	echo
	sed -n 's/^policyd_cmd=/    /p; s/^lmtpd_cmd=/    /p' "$out/settings"
	echo
	echo "and the policy clients:"
	echo
	sed -n 's/^driver_cmd=/    /p' "$out/settings"
	echo
	echo "Settings: \`$(head -n 1 "$out/settings")\`."
	echo
	echo "### What ran"
	echo
	echo "For $minutes minutes, at the same time (\`tests/soak/soak.sh\` has the details):"
	echo
	echo "- **secmx-policyd** (daemon mode) with $(setting conns) connections of"
	echo "  \`secmx-soak-policy\` that open and close all the time (1 to 20"
	echo "  requests each, then a normal close, a malformed request, a close in"
	echo "  the middle of a request or right after one), about $(setting rate) requests"
	echo "  a second: plaintext and TLS sessions (TLSv1.3, 1.2, 1, 1.1, SSLv3, an"
	echo "  unknown protocol, key size 0, no key size) and recipients of every"
	echo "  form (plain, upper case, trailing dot, \`.parent\` subdomains, UTF-8"
	echo "  domains, IPv4 and IPv6 literals, bare and quoted local parts, \`%\` and"
	echo "  \`!\` routing, source routes, malformed addresses, invalid UTF-8,"
	echo "  other protocol states, repeated and unknown attributes). Every"
	echo "  10 s a changed configuration and table (every role, the reply code,"
	echo "  \`tls_min_protocol\`, \`address_literal_role\`,"
	echo "  \`unqualified_recipient_domain\`, the spelling of the keys) and SIGHUP;"
	echo "  every 60 s (the first after 30 s) a broken one instead, which must be"
	echo "  refused. The log file is rotated at every SIGHUP. Each answer is"
	echo "  compared with an oracle for the generation in force, known from the"
	echo "  moment the daemon takes the signal (\`/proc/PID/status\`)."
	echo "- **secmx-transport** under Postfix's pipe(8) and **secmx-lmtpd** under"
	echo "  Postfix's lmtp(8) (the \`postfix-examples/\` files), SIGHUP to"
	echo "  secmx-lmtpd every 30 s, delivering to \`smx-smtp-peer\` receivers found"
	echo "  by SRV: one that accepts (but refuses \"temp\" recipients with 450 and"
	echo "  \"bad\" ones with 550), one that never answers, one that drops the"
	echo "  connection during DATA, 452 and 554 after the data, a TCP reset in the"
	echo "  TLS handshake. One message every $(setting mail_interval_s) s, alternately through each,"
	echo "  one to three recipients; a warm-up burst of 60 messages first."
	echo
	echo "### Verdicts"
	echo
	echo "| Check | Result | Detail |"
	echo "|---|---|---|"
	sed -n 's/^check \([^ ]*\) \([^ ]*\) \(.*\)$/| \1 | \2 | \3 |/p' "$out/verdicts" |
	    sed 's/| fail |/| **FAIL** |/; s/| info |/| not judged |/'
	echo
	echo "RSS and descriptors: the largest of the three samples that end the"
	echo "warm-up ($warmup s) against the largest of the last three taken under load;"
	echo "the growth must stay under 5%, or under a small absolute slack (1 MiB;"
	echo "32 descriptors of secmx-policyd, whose connections churn; 48 of"
	echo "secmx-lmtpd, whose LMTP and SMTP connections come and go with the mail)."
	echo
	echo "### Policy requests"
	echo
	echo "| Requests | Answered | Rejections | Wrong | Either of two generations | Malformed (closed unanswered) | Closed mid-request | Closed before the answer | Connections | Changes (broken, refused) | Audit lines (expected) | Reload taken up within |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s (%s, %s) | %s (%s-%s) | %s ms |\n' \
	    "$(echo "$summary" | kv requests)" "$(echo "$summary" | kv answered)" \
	    "$(echo "$summary" | kv rejects)" "$(echo "$summary" | kv wrong)" \
	    "$(echo "$summary" | kv ambiguous)" "$(echo "$summary" | kv malformed)" \
	    "$(echo "$summary" | kv aborted)" "$(echo "$summary" | kv hangups)" \
	    "$(echo "$summary" | kv opened)" "$(echo "$summary" | kv changes)" \
	    "$(echo "$summary" | kv broken)" "$(echo "$summary" | kv reloads_failed)" \
	    "$(echo "$summary" | kv audit_lines)" "$(echo "$summary" | kv audit_min)" \
	    "$(echo "$summary" | kv audit_max)" "$(echo "$summary" | kv barrier_max_ms)"
	echo
	echo "\"Either of two generations\": requests written before the daemon took a"
	echo "SIGHUP and answered after it, which may be answered under the old or the"
	echo "new table (both answers were checked); all others had exactly one right"
	echo "answer."
	echo
	echo "### Messages"
	echo
	echo "| Messages | Recipients | Delivered | Bounced | Deferred | Lost | Duplicated | Wrong outcome |"
	echo "|---|---|---|---|---|---|---|---|"
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' \
	    "$(cut -d' ' -f1 "$out/sent.tsv" | sort -u | wc -l)" \
	    "$(echo "$tally" | kv recipients)" "$(echo "$tally" | kv delivered)" \
	    "$(echo "$tally" | kv bounced)" "$(echo "$tally" | kv deferred)" \
	    "$(echo "$tally" | kv lost)" "$(echo "$tally" | kv duplicated)" \
	    "$(echo "$tally" | kv wrong)"
	echo
	echo "Each recipient was looked up in the receivers' records of what they"
	echo "accepted (delivered), in the DSNs in the senders' mailboxes (bounced) and"
	echo "in the senders' queues (deferred); it must be in exactly one place."
	echo "By what must become of it:"
	echo
	echo "| Expected | Outcome | Recipients |"
	echo "|---|---|---|"
	sed -n 's/^class \([^ ]*\) \([^ ]*\) \([0-9]*\)$/| \1 | \2 | \3 |/p' "$out/tally.summary" | sort
	echo
	echo "\"defer\" recipients (receivers that stall, reset, drop or answer 4xx)"
	echo "are bounced with a 4.x.x status once they are 3 minutes old"
	echo "(\`maximal_queue_lifetime\`); \"bounce\" ones are refused with 5xx."
	echo
	echo "Log lines counted: \`$(tr '\n' ' ' <"$out/log-checks" | sed 's/ $//')\`"
	echo "(pipe(8) and lmtp(8) deliveries with their status, including every"
	echo "retry; secmx-lmtpd's reloads; secmx-transport's and secmx-lmtpd's"
	echo "audit lines with a status)."
	echo
	echo "### Samples"
	echo
	echo "Every 10 s: VmRSS and VmHWM (KiB), open descriptors, child processes and"
	echo "threads of each daemon; secmx-transport processes running; messages in"
	echo "the senders' active queues and deferred; policy requests so far."
	echo
	awk -F '\t' '
	NR == 1 {
		print "| t (s) | policyd RSS | HWM | fds | children | threads | lmtpd RSS | HWM | fds | children | threads | transports | tx queue | tx deferred | txl queue | txl deferred | requests |"
		print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		next
	}
	{ s = "|"; for (i = 1; i <= NF; i++) s = s " " $i " |"; print s }' "$out/samples.tsv"
	echo
	echo "The last row is taken after the load ended."
	echo
	echo "### RSS over time"
	echo
	echo "![RSS of secmx-policyd and secmx-lmtpd over time](reliability/soak-rss.svg)"
	echo
	echo "The same as text (p: secmx-policyd, l: secmx-lmtpd, *: both; one column"
	if [ "$per_column" = 1 ]; then
		echo "per sample):"
	else
		echo "per $per_column samples in a row, at the largest of them):"
	fi
	echo
	echo '```'
	chart
	echo '```'
	echo "<!-- soak: end -->"
} >"$section"

if [ ! -f "$file" ]; then
	{
		echo "# secmx reliability"
		echo
		echo "How the secmx programs behave over time and under hostile input, with"
		echo "the commands that reproduce each figure."
		echo
		cat "$section"
		echo
		echo "## Fuzzing campaign"
		echo
		echo "To be filled in: \`scripts/fuzz\`, the executions, coverage and crashes"
		echo "per harness."
	} >"$file"
elif grep -q '^<!-- soak: begin -->$' "$file"; then
	awk -v sec="$section" '
	/^<!-- soak: begin -->$/ { while ((getline l < sec) > 0) print l; skip = 1; next }
	/^<!-- soak: end -->$/ { skip = 0; next }
	!skip' "$file" >"$file.new"
	mv "$file.new" "$file"
else
	{
		cat "$file"
		echo
		cat "$section"
	} >"$file.new"
	mv "$file.new" "$file"
fi
echo "report.sh: wrote the soak section of $file and $img/soak-rss.svg"
