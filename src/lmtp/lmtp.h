/* LMTP intake (RFC 2033): the server an MTA delivers list mail to.
 *
 * The `lmtp` runner process creates one MmLmtpServer, attaches it to a
 * GMainContext and runs a GMainLoop until SIGTERM.  Everything happens on
 * that one thread except the durable writes: sockets are non-blocking and
 * every session is a small state machine driven by poll events, so one
 * slow client never blocks the others (Postfix opens up to 20 connections
 * in parallel); a message's queue files are written and fsynced by a pool
 * of commit threads, so that the fsyncs of concurrent sessions overlap
 * and the file system commits them together (group commit) instead of one
 * after another.
 *
 * What the MTA is promised: a recipient answered "250" after the final dot
 * has its own copy of the message durably in a queue directory (written,
 * fsynced, renamed, directory fsynced by src/queue/) before the reply is
 * written; every other answer means nothing of that recipient's copy was
 * queued.  Exactly one reply per accepted recipient, always (RFC 2033 4.2),
 * including for over-long lines, oversized and malformed messages, where
 * Mailman 3 answers once for all recipients.
 *
 * Listening address, from [mta] lmtp_host / lmtp_port:
 *   - an IPv4 or IPv6 literal ("127.0.0.1", "::1", "[::1]");
 *   - a host name, resolved once at start-up; every address it resolves to
 *     is bound (addresses the host does not have are skipped with a
 *     warning, as long as at least one can be bound);
 *   - a unix-domain socket: lmtp_host "unix:/path/to/socket" or any value
 *     starting with "/" (lmtp_port is then ignored).  A stale socket file
 *     left by a previous run is removed; any other file there is an error.
 *     The socket is removed again by mm_lmtp_server_free().
 * lmtp_port 0 binds an ephemeral port (tests; see mm_lmtp_server_port()).
 *
 * Limits (see MmLmtpLimits) come from [mta] keys this project adds beyond
 * Mailman's schema; a missing key or 0 means the built-in default.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "config.h"

#define MM_LMTP_ERROR (mm_lmtp_error_quark())
GQuark mm_lmtp_error_quark(void);

typedef enum {
  MM_LMTP_ERROR_CONFIG, /* a bad lmtp_host / lmtp_port / limit value */
  MM_LMTP_ERROR_BIND,   /* could not resolve, bind or listen */
} MmLmtpError;

/* Built-in defaults of the limits. */
#define MM_LMTP_DEFAULT_MAX_MESSAGE_SIZE 33554432 /* 32 MiB, as Mailman 3 */
#define MM_LMTP_DEFAULT_TIMEOUT_SEC 300           /* RFC 5321 4.5.3.2.7 */
#define MM_LMTP_DEFAULT_SESSION_DEADLINE_SEC 3600
#define MM_LMTP_DEFAULT_MAX_CONNECTIONS 64
#define MM_LMTP_DEFAULT_MAX_RECIPIENTS 1000
#define MM_LMTP_DEFAULT_MAX_BAD_COMMANDS 10

/* The bounds of one server.  Config keys, all in [mta]:
 *   lmtp_max_message_size   bytes, advertised as SIZE     (33554432)
 *   lmtp_timeout            idle time per read or write   (300s; a
 *                           duration as lazr.config writes it: 5m, 300s)
 *   lmtp_session_deadline   whole connection lifetime     (1h)
 *   lmtp_max_connections    concurrent sessions; the next gets 421 (64)
 *   lmtp_max_recipients     RCPTs per transaction; more get 452 (1000)
 *   lmtp_max_bad_commands   protocol errors before 421 and close (10) */
typedef struct {
  gint64 max_message_size;
  gint64 timeout_usec;
  gint64 session_deadline_usec;
  guint max_connections;
  guint max_recipients;
  guint max_bad_commands;
} MmLmtpLimits;

/* Fills @limits_out from @config (NULL: defaults only).  Returns FALSE with
 * @error (MM_LMTP_ERROR_CONFIG) for a value that is not a number or a
 * duration. */
gboolean mm_lmtp_limits_from_config(const MmConfig *config,
                                    MmLmtpLimits *limits_out, GError **error);

typedef struct MmLmtpServer MmLmtpServer;

/* Reads [mta] lmtp_host, lmtp_port, verp_delimiter and the limits,
 * [mailman] listname_chars and site_owner, the queue directory and the
 * database path from @config (borrowed: it must outlive the server), and
 * binds and listens.  The database is opened read-only lazily, at the first
 * RCPT, and reopened after a failure, so a server can start before the
 * first list exists.  Returns the server (transfer full) or NULL with
 * @error (MM_LMTP_ERROR). */
MmLmtpServer *mm_lmtp_server_new(const MmConfig *config, GError **error);

/* The same with explicit @limits (copied) instead of the configured ones. */
MmLmtpServer *mm_lmtp_server_new_with_limits(const MmConfig *config,
                                             const MmLmtpLimits *limits,
                                             GError **error);

/* Attaches the listening sources (and, later, every session's source) to
 * @context (NULL: the global default context).  The caller runs a GMainLoop
 * on it.  Returns FALSE with @error if already started. */
gboolean mm_lmtp_server_start(MmLmtpServer *server, GMainContext *context,
                              GError **error);

/* The TCP port of the first listening socket (useful with lmtp_port 0), or
 * 0 for a unix-domain socket. */
guint16 mm_lmtp_server_port(const MmLmtpServer *server);

/* Number of sessions open right now. */
guint mm_lmtp_server_session_count(const MmLmtpServer *server);

/* Closes every session (an open transaction is dropped: nothing of it was
 * acknowledged), the listening sockets and the database, and frees.  Safe
 * with NULL. */
void mm_lmtp_server_free(MmLmtpServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmLmtpServer, mm_lmtp_server_free)
