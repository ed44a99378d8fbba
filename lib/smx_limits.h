/* SPDX-License-Identifier: MIT */
#ifndef SMX_LIMITS_H
#define SMX_LIMITS_H

/*
 * Every hard limit of secmx, in one place. Each names its source. A limit
 * that is reached gives SMX_INVALID plus a log line, never a silent
 * truncation, unless the comment says otherwise.
 */

/*
 * Policy delegation protocol (Postfix SMTPD_POLICY_README). Postfix itself
 * bounds SMTP command lines at line_length_limit (2048), so real requests
 * are far below these; they exist against hostile or broken clients.
 */
#define POLICY_REQUEST_MAX 65536 /* bytes in one request, with newlines */
#define POLICY_LINE_MAX 8192     /* bytes in one name=value line */
#define POLICY_ATTRS_MAX 256     /* attribute lines in one request */
#define POLICY_REPLY_MAX 1024    /* one "action=..." reply with newlines */

/* RFC 1035 section 2.3.4: 255 octets on the wire, 253 in text form. */
#define SMX_DOMAIN_MAX 253
/* RFC 1035 section 2.3.4: a label is at most 63 octets. */
#define SMX_LABEL_MAX 63
/*
 * A domain name in UTF-8 before it is converted to A-labels (smx_idn):
 * four bytes per code point (RFC 3629) for each of the SMX_DOMAIN_MAX
 * octets of a result. Longer input could reach a valid name only
 * through code points that UTS #46 maps to nothing, which no real name
 * needs.
 */
#define SMX_IDN_INPUT_MAX 1024
/*
 * Longest address we examine. Postfix line_length_limit (default 2048)
 * bounds what smtpd can pass us in a policy request.
 */
#define SMX_ADDR_MAX 2048
/*
 * Domains one address can route through: the domain after the last '@'
 * plus '%' and '!' hops in the local part (RFC 1123 section 5.2.16, the
 * percent hack; UUCP bang paths). Real addresses have one or two.
 */
#define SMX_ADDR_DOMAINS_MAX 16

/* Logging: one line, and one untrusted value within it (STYLE.md). */
#define SMX_LOG_LINE_MAX 2048
#define SMX_LOG_VALUE_MAX 256

/* Configuration file (Postfix main.cf syntax). */
#define SMX_CONF_FILE_MAX (1024 * 1024) /* bytes in secmx.conf */
#define SMX_CONF_LINE_MAX 8192          /* one logical line, joined */
#define SMX_CONF_PATH_MAX 4096          /* PATH_MAX on Linux */

/* Lookup tables (Postfix text-table form, postmap(1) input). */
#define SMX_TABLE_FILE_MAX (64 * 1024 * 1024) /* bytes in one table file */
#define SMX_TABLE_ENTRIES_MAX 1000000         /* entries in one table */
#define SMX_TABLE_LINE_MAX 8192               /* one logical line, joined */
#define SMX_TABLE_VALUE_MAX 1024              /* one value */
/*
 * Client certificate fingerprints in sor_client_certs, in bytes of digest:
 * from MD5 (16, RFC 1321) to SHA-512 (64, FIPS 180-4), the range of
 * Postfix smtpd_tls_fingerprint_digest (postconf(5)).
 */
#define SMX_FINGERPRINT_BYTES_MIN 16
#define SMX_FINGERPRINT_BYTES_MAX 64

/*
 * local_domains: inline domains plus table files, like Postfix's
 * mydestination; more than a handful of tables is a configuration smell.
 */
#define SMX_LOCAL_TABLES_MAX 16
/*
 * local_listeners: the [address:]port items where this host's Postfix
 * smtpd listens (master.cf inet services), for loop detection.
 */
#define SMX_LISTENERS_MAX 32

/* Time values in the config: one week, like Postfix's sanity bounds. */
#define SMX_TIME_MAX (7 * 24 * 3600)

/*
 * Listening endpoints (smx_listen). The path bound is sizeof(sun_path)
 * minus its terminator on Linux (unix(7)); a port is digits or a service
 * name from services(5); the text bound covers "inet:[IPv6]:port".
 */
#define SMX_LISTEN_PATH_MAX 107
#define SMX_LISTEN_PORT_MAX 32
#define SMX_LISTEN_TEXT_MAX (SMX_DOMAIN_MAX + SMX_LISTEN_PORT_MAX + 16)
/* Sockets one inet endpoint may bind: the addresses its name resolves to. */
#define SMX_LISTEN_FDS_MAX 8

/*
 * SMTP replies (transport/smtp_reply). RFC 5321 section 4.5.3.1.5: a reply
 * line is at most 512 octets including the reply code and <CRLF>. RFC 5321
 * sets no bound on the lines of a multi-line reply; 100 lines covers any
 * real EHLO answer (Postfix sends about a dozen). The joined text bound
 * keeps one reply within what a DSN line can carry.
 */
#define SMTP_REPLY_LINE_MAX 512
#define SMTP_REPLY_LINES_MAX 100
#define SMTP_REPLY_TEXT_MAX 8192
/*
 * The reply to the end of data is read without the caps above (a 2xx
 * there means the message was delivered, however odd the reply), but
 * never more than this in all: a server that streams forever is cut off.
 */
#define SMTP_REPLY_SCAN_MAX (1024 * 1024)
/* Bytes one complete reply can take on the wire: every line at the cap. */
#define SMTP_REPLY_WIRE_MAX (SMTP_REPLY_LINES_MAX * SMTP_REPLY_LINE_MAX)
/*
 * RFC 3463 section 2: "class.subject.detail", subject and detail 1-3
 * digits each, so at most 9 characters ("5.123.456").
 */
#define SMTP_ENHANCED_MAX 9
/*
 * SMTP commands we send (transport/smtp_session). RFC 5321 section
 * 4.5.3.1.4: a command line is at most 512 octets including <CRLF>;
 * section 4.5.3.1.3: a path is at most 256 octets.
 */
#define SMTP_COMMAND_MAX 512
#define SMTP_PATH_MAX 256
/*
 * Commands sent in one write before their replies are read, when the
 * server offers PIPELINING (RFC 2920 section 3.1: the client must not
 * fill the server's or its own buffers so far that neither side can go
 * on). Postfix smtp(8) uses the same bound (PIPELINING_BUFSIZE, 4096
 * bytes, src/smtp/smtp_proto.c): the unanswered commands always fit in
 * a socket's send buffer. At least one command at its cap must fit.
 */
#define SMTP_PIPELINE_MAX 4096
/*
 * Recipients in one delivery: pipe(8) passes one argument per recipient,
 * bounded by transport_destination_recipient_limit (default 50,
 * default_destination_recipient_limit in postconf(5)); RFC 5321 section
 * 4.5.3.1.8 requires servers to accept at least 100.
 */
#define SMTP_RECIPIENTS_MAX 1000
/*
 * Idle SMTP connections a resident sender keeps (transport/smtp_cache,
 * secmx-lmtpd). Each holds a descriptor and a session slot at a remote
 * server (Postfix smtpd limits a client to 50 at once by default,
 * smtpd_client_connection_count_limit); with the default idle limit of
 * 2 s few are kept at any time. 256 stays well below the usual 1024
 * descriptors per process, beside the LMTP connections from Postfix
 * (default_process_limit 100) and the connections in use.
 */
#define SMTP_CACHE_CONNS_MAX 256
/*
 * Its time limits in seconds (smtp_connection_cache_time_limit and
 * smtp_connection_reuse_time_limit): keeping an idle connection longer
 * than a server's own idle timeout (RFC 5321 section 4.5.3.2.7, 5
 * minutes) is of no use; reuse up to a day.
 */
#define SMTP_CACHE_IDLE_TIME_MAX 300
#define SMTP_CACHE_REUSE_TIME_MAX 86400
/*
 * Seconds a reused connection may take to answer RSET before it counts
 * as dead and a new one is opened (Postfix smtp_rset_timeout, 20s).
 */
#define SMTP_RSET_TIME_MAX 20
/*
 * Message data (transport/smtp_data, transport/spool, the LMTP DATA
 * decoder in transport/lmtp_proto). The writer and the decoder buffer at
 * most SMTP_DATA_CHUNK bytes of output; the spool keeps the first
 * SPOOL_MEM_MAX bytes in memory and moves larger messages to an unlinked
 * temporary file, copying in SPOOL_CHUNK pieces, so resident memory stays
 * bounded whatever the message size (Postfix message_size_limit, default
 * 10240000, is enforced by the caller's maximum).
 */
#define SMTP_DATA_CHUNK 8192
#define SPOOL_MEM_MAX (1024 * 1024)
#define SPOOL_CHUNK 65536
/*
 * LMTP server side (transport/lmtp_proto), for Postfix's lmtp(8) client
 * (RFC 2033). A command line is at most LMTP_LINE_MAX bytes without its
 * line end: Postfix's line_length_limit (default 2048, postconf(5)) is
 * the longest command line its smtpd reads, so it bounds the addresses of
 * mail received by SMTP that the lmtp(8) client later sends (RFC 5321
 * section 4.5.3.1.4 allows 512 bytes, more with extensions). A
 * transaction has at most LMTP_RECIPIENTS_MAX recipients: the delivery
 * relays them in one run, bounded as SMTP_RECIPIENTS_MAX; RFC 5321 section
 * 4.5.3.1.10 answers the one over the bound with 452 (4.5.3).
 */
#define LMTP_LINE_MAX 2048
#define LMTP_RECIPIENTS_MAX SMTP_RECIPIENTS_MAX
/*
 * XFORWARD IDENT (Postfix XFORWARD_README): a queue id, 10 to 12 letters
 * and digits with the short form, up to 17 with enable_long_queue_ids;
 * anything longer is not a Postfix queue id and is dropped.
 */
#define LMTP_IDENT_MAX 32
/*
 * Postfix's own Received: header (the queue id for log lines when there
 * is no XFORWARD IDENT) is the first field of the header: looked for in
 * the first LMTP_HEADER_SCAN_MAX bytes, and at most LMTP_RECEIVED_MAX
 * bytes of it kept (Postfix's is about 200 with its folds).
 */
#define LMTP_HEADER_SCAN_MAX 8192
#define LMTP_RECEIVED_MAX 1024
/*
 * secmx-lmtpd (transport/lmtpd_server, lmtpd_session). One connection is
 * one lmtp(8) process of Postfix, whose default_process_limit is 100: a
 * few times that is never reached by a working set-up, and beyond it a
 * new connection gets 421 (Postfix retries). Refused commands end a
 * connection at LMTPD_ERRORS_MAX (Postfix smtpd_hard_error_limit, 20).
 * A reply that cannot be written within LMTPD_WRITE_TIMEOUT seconds ends
 * it too (Postfix lmtp reads each reply with lmtp_*_timeout of 300s and
 * more; a client that does not read for this long is gone). Each message
 * in flight keeps LMTPD_SPOOL_MEM_MAX bytes in memory, the rest in a
 * file, so that many concurrent large messages stay within a small
 * resident size; LMTPD_MALLOC_ARENAS bounds glibc's per-thread arenas
 * for the same reason (mallopt M_ARENA_MAX).
 */
#define LMTPD_CONNECTIONS_MAX 256
#define LMTPD_ERRORS_MAX 20
#define LMTPD_WRITE_TIMEOUT 300
#define LMTPD_SPOOL_MEM_MAX (256 * 1024)
#define LMTPD_MALLOC_ARENAS 2
/*
 * TLS (lib/smx_tls): reference names per connection (nexthop, dot-nexthop
 * and a few SRV/MX names, as Postfix smtp_tls_secure_cert_match), and the
 * error text kept from the OpenSSL error queue.
 */
#define SMX_TLS_NAMES_MAX 16
#define SMX_TLS_REASON_MAX 256
/* Certificates of a peer's chain kept for a report (secmx-probe). */
#define SMX_TLS_CHAIN_MAX 4
/*
 * TLS session cache of a resident sender (secmx-lmtpd, lib/smx_tls): one
 * entry per server address and TLS identity (SNI, reference names, TLSA
 * records), like the keys of Postfix's tlsmgr(8) client cache. A busy
 * sender talks to a few hundred servers within one session lifetime
 * (smtp_tls_session_cache_timeout, default 3600 s; at most one day
 * here); the oldest entry makes room for a new one. A session is kept
 * in DER form with the server's certificate and its ticket: a few KiB;
 * larger ones are not kept (resumption only saves time), so the cache
 * holds at most SMX_TLS_SESSIONS_MAX * SMX_TLS_SESSION_DER_MAX bytes.
 */
#define SMX_TLS_SESSIONS_MAX 1000
#define SMX_TLS_SESSION_DER_MAX 16384
#define SMX_TLS_SESSION_LIFETIME_MAX 86400

/*
 * DNS discovery (smx_dns). RFC 2782 and RFC 5321 section 5.1 set no bound
 * on the records of one answer; these caps bound the work done on hostile
 * answers. A reply over the cap is not refused: the records with the best
 * (lowest) priority or preference are kept, as Postfix keeps only the
 * best smtp_mx_address_limit addresses (postconf(5)).
 */
#define SMX_SRV_MAX 32 /* SRV records used from one answer */
#define SMX_MX_MAX 32  /* MX records used from one answer */
/* Addresses used per target host and family (A, AAAA), and in all. */
#define SMX_DNS_ADDRS_FAMILY_MAX 8
#define SMX_DNS_ADDRS_MAX (2 * SMX_DNS_ADDRS_FAMILY_MAX)
/*
 * Nameservers consulted per lookup. glibc reads at most MAXNS (3) from
 * resolv.conf (resolv.h); dns_nameservers in secmx.conf may list up to
 * this many, and with dns_timeout it bounds the time of one query.
 */
#define SMX_DNS_SERVERS_MAX 8
#define SMX_DNS_SERVERS_TEXT_MAX 1024 /* bytes of dns_nameservers */
/* dns_timeout in seconds per query and server; Postfix's default is 10. */
#define SMX_DNS_TIMEOUT_MAX 60
/*
 * CNAME links followed inside one answer (RFC 1034 section 3.6.2: the
 * resolver restarts at the canonical name). Real chains have one or two.
 */
#define SMX_DNS_CNAME_MAX 8
/*
 * TLSA records (RFC 6698) used from one answer, and the bytes of one
 * record's certificate association data: a SHA2-512 digest is 64 bytes;
 * matching type 0 (the whole certificate or key) rarely exceeds 2 KiB.
 * Larger records are dropped (counted), as unusable ones are.
 */
#define SMX_TLSA_MAX 16
#define SMX_TLSA_DATA_MAX 2048
/* RFC 1035 section 4.2.2: a DNS message has a 16-bit length. */
#define SMX_DNS_REPLY_MAX 65535

/*
 * secmx_transport_name: a transport(5) "transport:nexthop" value; the
 * service name is short and the next hop a host name with brackets and
 * port (SMX_DOMAIN_MAX plus some), so 512 bytes is ample.
 */
#define SMX_TRANSPORT_NAME_MAX 512
/*
 * secmx-transport's one output line: pipe(8) captures at most 4096
 * bytes (VSTREAM_BUFSIZE, src/global/pipe_command.c); staying below 4000
 * keeps the whole DSN text with room to spare.
 */
#define TRANSPORT_LINE_MAX 3999

/*
 * socketmap protocol (Postfix socketmap_table(5), src/util/dict_sockmap.c),
 * served by secmx-lookup -s. A request netstring carries at most
 * SMX_SOCKETMAP_REQUEST_MAX bytes: the default of socketmap_max_query_size,
 * added in Postfix 3.12 (older clients send any length, but their keys
 * are addresses bounded by line_length_limit). A reply carries at most
 * SMX_SOCKETMAP_REPLY_MAX bytes, without the netstring framing: the limit
 * hard-coded in Postfix 3.7 (made socketmap_max_reply_size in 3.10).
 */
#define SMX_SOCKETMAP_REQUEST_MAX 10000
#define SMX_SOCKETMAP_REPLY_MAX 100000
/*
 * Connections secmx-lookup -l serves at once, each in a forked child
 * because a lookup can block on DNS for seconds. Postfix keeps one
 * socketmap connection per client process, and default_process_limit
 * (postconf(5)) is 100; the rest is room for postmap(1) and queries by
 * hand. At the cap the daemon stops accepting until a child exits.
 */
#define SMX_SOCKETMAP_CHILDREN_MAX 128

/*
 * Connections secmx-transport opens in one run, over all targets and
 * addresses; Postfix's smtp_mx_address_limit (5) and
 * smtp_mx_session_limit (2) are tighter, but SRV targets are few and
 * each of them deserves an attempt.
 */
#define TRANSPORT_ATTEMPTS_MAX 20

#endif
