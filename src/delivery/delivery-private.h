/* Internals shared by the files of the delivery module (and its unit
 * tests): settings, the SMTP reply parser, the transport, the SMTP client,
 * wire encoding, strategy, the progress journal and the connection pool.
 *
 * Threads: the pool (delivery-engine.c) runs one SMTP client per worker
 * thread.  A worker touches only its client, the immutable job data and
 * the engine's queues; every piece of bookkeeping (journal, outcomes,
 * logging) happens in the thread that called mm_delivery_engine_run().
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "delivery.h"

/* ---- settings (delivery-settings.c) ----------------------------------- */

typedef enum {
  MM_SMTP_SECURITY_NONE,     /* smtp: plain text */
  MM_SMTP_SECURITY_SMTPS,    /* smtps: TLS from the first byte */
  MM_SMTP_SECURITY_STARTTLS, /* starttls: STARTTLS right after EHLO */
} MmSmtpSecurity;

/* What one SMTP client needs.  Timeouts are in microseconds and never 0. */
typedef struct {
  char *host;
  guint port;
  MmSmtpSecurity security;
  gboolean verify_cert;
  gboolean verify_hostname; /* only with verify_cert, as Mailman */
  char *user;               /* NULL: no AUTH (also when pass is empty) */
  char *password;
  gboolean allow_plaintext_auth;
  char *helo_name;
  guint max_sessions_per_connection; /* 0: no limit */
  gint64 connect_timeout_usec;
  gint64 command_timeout_usec; /* greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT,
                                  RSET */
  gint64 data_init_timeout_usec;  /* DATA -> 354 */
  gint64 data_block_timeout_usec; /* each write of the message */
  gint64 data_done_timeout_usec;  /* final dot -> reply */
  char *devmode_recipient; /* non-NULL: every RCPT TO goes there instead */
} MmSmtpSettings;

typedef struct {
  MmSmtpSettings smtp;
  guint connections;    /* parallel SMTP connections, >= 1 */
  guint max_recipients; /* per bulk transaction; 0: one chunk */
  gboolean verp_personalized_deliveries;
  guint verp_delivery_interval;
  char *verp_format;
  gint64 retry_period_usec;
  gint64 retry_backoff_usec;
  gint64 retry_backoff_max_usec;
  char *site_owner;
  char *var_dir;
  /* [logging.smtp] templates; NULL when set to "no". */
  char *log_every;
  char *log_success;
  char *log_refused;
  char *log_failure;
} MmDeliverySettings;

/* Reads every delivery setting from @config into @out (cleared first).
 * Keys that this build's schema may not declare yet are read raw and fall
 * back to their defaults when absent; zero means the default.  FALSE with
 * INVALID for a value that does not parse. */
gboolean mm_delivery_settings_load(const MmConfig *config,
                                   MmDeliverySettings *out, GError **error);
void mm_delivery_settings_clear(MmDeliverySettings *settings);

/* ---- SMTP replies (delivery-reply.c) ---------------------------------- */

/* RFC 5321 4.5.3.1.5 allows 512 bytes per reply line; servers send more
 * (long EHLO keywords, verbose texts), so we allow 4 KiB, CRLF included,
 * and at most this many lines per reply. */
#define MM_SMTP_REPLY_LINE_MAX 4096
#define MM_SMTP_REPLY_LINES_MAX 100

typedef struct {
  int code;         /* 200..599 */
  GPtrArray *lines; /* char *, the text after "NNN-"/"NNN ", no line end */
} MmSmtpReply;

void mm_smtp_reply_free(MmSmtpReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmSmtpReply, mm_smtp_reply_free)

/* The reply's text, lines joined with a space (for logs and bounce
 * records; peer-supplied: escape before logging).  Transfer full. */
char *mm_smtp_reply_text(const MmSmtpReply *reply);

typedef struct MmSmtpReplyParser MmSmtpReplyParser;

MmSmtpReplyParser *mm_smtp_reply_parser_new(void);
void mm_smtp_reply_parser_free(MmSmtpReplyParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmSmtpReplyParser, mm_smtp_reply_parser_free)

/* Feeds @len bytes of server output.  Consumes bytes up to and including
 * the line that completes a reply, sets @reply_out (transfer full) and
 * stops there, so that pipelined replies come out one at a time; otherwise
 * consumes everything and leaves @reply_out NULL.  Returns the number of
 * bytes consumed, or -1 with MM_DELIVERY_ERROR_PROTOCOL for a line over
 * MM_SMTP_REPLY_LINE_MAX, a reply over MM_SMTP_REPLY_LINES_MAX lines, a
 * line that does not start with a code 200-599 followed by ' ', '-' or
 * the line end, or continuation lines with different codes.  After an
 * error the parser is unusable (the connection is closed anyway).  Lines
 * end in LF; a CR before it is dropped. */
gssize mm_smtp_reply_parser_feed(MmSmtpReplyParser *parser, const char *data,
                                 gsize len, MmSmtpReply **reply_out,
                                 GError **error);

/* ---- transport (delivery-io.c) ---------------------------------------- */

typedef struct MmSmtpIo MmSmtpIo;

/* Connects to @host:@port (every address getaddrinfo returns, in order)
 * before the monotonic @deadline_usec.  CONNECT on failure. */
MmSmtpIo *mm_smtp_io_connect(const char *host, guint port,
                             gint64 deadline_usec, GError **error);
/* TLS client handshake on the connection with @ctx; verification as
 * @ctx's verify mode says; with @verify_hostname the certificate must name
 * @host (X509_VERIFY_PARAM_set1_host, or _set1_ip_asc for an address).
 * SNI is sent for host names.  TLS on failure, with the verify result. */
gboolean mm_smtp_io_start_tls(MmSmtpIo *io, SSL_CTX *ctx, const char *host,
                              gboolean verify_hostname, gint64 deadline_usec,
                              GError **error);
gboolean mm_smtp_io_is_tls(const MmSmtpIo *io);
/* Reads at most @cap bytes; returns the number (> 0), or -1 with CLOSED
 * (end of stream), TIMEOUT (deadline passed), TLS or IO. */
gssize mm_smtp_io_read(MmSmtpIo *io, char *buf, gsize cap,
                       gint64 deadline_usec, GError **error);
/* Writes all @len bytes before @deadline_usec or fails like read. */
gboolean mm_smtp_io_write(MmSmtpIo *io, const void *data, gsize len,
                          gint64 deadline_usec, GError **error);
void mm_smtp_io_free(MmSmtpIo *io);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmSmtpIo, mm_smtp_io_free)

/* The client TLS context for @settings: system CA store (and
 * $SSL_CERT_FILE / $SSL_CERT_DIR, as OpenSSL reads them), peer
 * verification per verify_cert, TLS 1.2 or later.  NULL with TLS. */
SSL_CTX *mm_smtp_tls_context_new(const MmSmtpSettings *settings,
                                 GError **error);

/* ---- SMTP client (delivery-smtp.c) ------------------------------------ */

typedef struct MmSmtpClient MmSmtpClient;

/* A per-recipient result: code 0 while unknown; a 2xx code only when the
 * final dot of the recipient's transaction was accepted.  @text is the
 * server's text made valid UTF-8 (owned by the status), or ours for codes
 * we make up (444: connection trouble, as Mailman). */
typedef struct {
  int code;
  char *text;
} MmSmtpStatus;

void mm_smtp_status_set(MmSmtpStatus *status, int code, const char *text);
void mm_smtp_status_clear(MmSmtpStatus *status);

/* One mail transaction: the message is @head then @body, both already in
 * wire form (mm_wire_encode()): CRLF line ends, dot-stuffed, @body ending
 * in CRLF (or empty, with @head ending in CRLF). */
typedef struct {
  const char *sender;
  const char *const *recipients;
  guint n_recipients;
  GBytes *head;
  GBytes *body;
  gboolean eightbit; /* the message has bytes >= 0x80: BODY=8BITMIME */
  /* Called right after the final dot went out, before its reply is read,
   * with the recipients RCPT accepted (n_recipients flags); may be NULL.
   * From that moment the MTA may have the message, whatever happens to
   * us. */
  void (*dot_sent)(const gboolean *accepted, gpointer data);
  gpointer dot_data;
} MmSmtpTransaction;

/* A client for @settings and @tls (NULL for plain smtp), both borrowed
 * and outliving it.  Not connected yet. */
MmSmtpClient *mm_smtp_client_new(const MmSmtpSettings *settings,
                                 SSL_CTX *tls);
/* Sends QUIT (when open) and frees. */
void mm_smtp_client_free(MmSmtpClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmSmtpClient, mm_smtp_client_free)

/* Connects and gets the session ready for mail: greeting, EHLO (HELO when
 * the server refuses EHLO with 5xx), implicit TLS or STARTTLS with a fresh
 * EHLO, AUTH PLAIN or LOGIN when a user is configured (only over TLS
 * unless allow_plaintext_auth).  FALSE with CONNECT, TIMEOUT, CLOSED,
 * PROTOCOL, TLS or AUTH; the client is then closed. */
gboolean mm_smtp_client_open(MmSmtpClient *client, GError **error);
gboolean mm_smtp_client_is_open(const MmSmtpClient *client);
/* Sends QUIT (short deadline, reply ignored) and closes. */
void mm_smtp_client_quit(MmSmtpClient *client);
/* Monotonic time of the end of the last transaction or of the opening. */
gint64 mm_smtp_client_last_used(const MmSmtpClient *client);

/* Runs one transaction on an open client: RSET first unless it is the
 * first transaction of the connection, then MAIL, RCPTs and DATA (in
 * windows of pipelined commands when the server offers PIPELINING), the
 * message, the final dot.  Fills @status_out (n_recipients entries, all
 * code 0 on entry): refusals from RCPT, MAIL or DATA, the final reply for
 * the accepted ones.  A message over the server's SIZE is refused here with
 * 554 5.3.4 for everyone (it would never fit).  Returns TRUE when the
 * transaction ended in protocol terms.  FALSE with an error when the
 * connection failed (TIMEOUT, CLOSED, PROTOCOL, IO, TLS): statuses already
 * set are final (an RCPT refused before the connection died), the others
 * stay 0, and the client is closed.  @stale_out is TRUE when the failure
 * came before any reply to this transaction on a connection that had
 * served earlier transactions (a cached connection the server dropped):
 * nothing was committed, and the caller may retry on a new connection.
 * Counts the transaction and QUITs once max_sessions_per_connection is
 * reached. */
gboolean mm_smtp_client_send(MmSmtpClient *client,
                             const MmSmtpTransaction *tx,
                             MmSmtpStatus *status_out, gboolean *stale_out,
                             GError **error);

/* ---- wire form and header edits (delivery-wire.c) --------------------- */

/* Splits @raw at the end of its header block: @head_out gets the header
 * fields and the empty line after them (if any), @body_out the rest.  The
 * header block ends at the first empty line; without one the whole
 * message is header.  Both transfer full. */
void mm_wire_split(GBytes *raw, GBytes **head_out, GBytes **body_out);

/* SMTP wire form of @len bytes that start at a line start: every LF
 * without a CR before it becomes CRLF, a '.' starting a line is doubled
 * (RFC 5321 4.5.2), and, with @terminate and @len > 0, a final CRLF is
 * added when missing.  Transfer full. */
GBytes *mm_wire_encode(const char *data, gsize len, gboolean terminate);

/* TRUE if any byte of @data is >= 0x80. */
gboolean mm_wire_is_8bit(GBytes *data);

/* Header-block edits on @head (as mm_wire_split() returns it, raw form).
 * Names compare ASCII case-insensitively; a field's continuation lines go
 * with it; @value is written as given (the caller folds and encodes) with
 * the block's line ending.  Each returns a new block (transfer full). */
GBytes *mm_wire_header_remove(GBytes *head, const char *name);
/* Replaces the first field @name in place, keeping its name as written
 * (and later fields of that name, as Python's replace_header), or appends
 * it before the empty line. */
GBytes *mm_wire_header_replace(GBytes *head, const char *name,
                               const char *value);
GBytes *mm_wire_header_append(GBytes *head, const char *name,
                              const char *value);

/* ---- strategy (delivery-plan.c) --------------------------------------- */

/* Mailman's bulk chunking (mailman/mta/bulk.py chunkify): recipients are
 * put into buckets by top-level domain (com 1; net, org 2; edu, us, ca 3;
 * the rest 0), buckets are filled largest first, every bucket starts a new
 * chunk and no chunk exceeds @max_recipients (0: one chunk).  Within a
 * bucket, recipients are ordered by domain (reversed labels) and then
 * local part, so that each chunk groups the domains an MTA queues
 * together.  @indexes (n) select from @recipients.  Returns a GPtrArray
 * of GArray of guint (transfer full, with free functions). */
GPtrArray *mm_delivery_chunk(const char *const *recipients,
                             const guint *indexes, guint n,
                             guint max_recipients);

/* PEP 292 safe_substitute, as Mailman's expand(): "$name" and "${name}"
 * (name: ASCII letter or '_', then letters, digits, '_'; looked up as
 * written) are replaced from @vars (char * -> char *), "$$" becomes "$",
 * anything else stays as written.  Transfer full. */
char *mm_delivery_expand(const char *template, GHashTable *vars);

/* The VERP envelope sender for @recipient (mailman/mta/verp.py): @sender
 * split at its first '@', @verp_format expanded with @vars plus bounces
 * (sender's local part), local and domain (the recipient's), then "@" and
 * the sender's domain.  NULL when either address has no '@' (Mailman then
 * sends un-VERPed).  Transfer full. */
char *mm_delivery_verp_sender(const char *verp_format, GHashTable *vars,
                              const char *sender, const char *recipient);

/* Mailman's VERP decision (mailman/runners/outgoing.py): an existing
 * metadata "verp" wins; a personalized list VERPs iff
 * @verp_personalized; otherwise @interval 0 never, 1 always, N when
 * @post_id % N == 0.  Writes "verp" into @meta when Mailman would and
 * returns the decision. */
gboolean mm_delivery_choose_verp(json_t *meta, gboolean personalized,
                                 gboolean verp_personalized, guint interval,
                                 gint64 post_id);

/* Mailman's classification of a refusal (mailman/mta/deliver.py): codes
 * >= 500 except 552 are permanent, everything else temporary. */
gboolean mm_delivery_code_is_permanent(int code);

/* ---- progress journal (delivery-journal.c) ---------------------------- */

typedef struct MmDeliveryJournal MmDeliveryJournal;

/* Opens the journal of entry @entry_id in @dir, for @n_recipients
 * recipients whose list hashes to @fingerprint (40 hex digits).  An
 * existing journal with the same header is read back (a torn last record
 * is cut off); one with another header is replaced (the entry changed, so
 * its indexes mean nothing).  A new journal is created with
 * mm_file_write_atomic().  NULL with IO or INVALID.
 *
 * A recipient goes through: sent (the final dot of its transaction went
 * out: the MTA may have it), then accepted or failed (the reply).  A
 * journal read back after a crash treats "sent" without a reply as
 * delivered: the final dot reached the MTA, which commits on it (RFC 1047
 * leaves no better choice, and resending is what the journal is there to
 * prevent). */
MmDeliveryJournal *mm_delivery_journal_open(const char *dir,
                                            const char *entry_id,
                                            guint n_recipients,
                                            const char *fingerprint,
                                            GError **error);
void mm_delivery_journal_free(MmDeliveryJournal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmDeliveryJournal, mm_delivery_journal_free)

/* Whether recipient @index must not be sent to again: accepted in an
 * earlier run, or sent without a reply before a crash. */
gboolean mm_delivery_journal_done(const MmDeliveryJournal *journal,
                                  guint index);
/* Counts of the above, as read back and recorded since. */
guint mm_delivery_journal_n_accepted(const MmDeliveryJournal *journal);
guint mm_delivery_journal_n_in_doubt(const MmDeliveryJournal *journal);

/* Notes that the final dot for @indexes went out.  Called from worker
 * threads (the journal serialises writes); written with write() and no
 * flush: a process killed after it keeps the record in the page cache, and
 * the flush of the reply's record, soon after, covers a power cut as well
 * as it can (see delivery.h).  Errors are remembered and returned by the
 * next record of the calling thread's owner. */
void mm_delivery_journal_note_sent(MmDeliveryJournal *journal,
                                   const guint *indexes, guint n);
/* Records the replies of finished transactions: @accepted (2xx to the
 * final dot) and @failed (everything else), in one write and one
 * fdatasync() before returning. */
gboolean mm_delivery_journal_add_results(MmDeliveryJournal *journal,
                                         const guint *accepted,
                                         guint n_accepted,
                                         const guint *failed, guint n_failed,
                                         GError **error);
/* Outcome: the failures of the finished SMTP run, a JSON array (see
 * delivery.c).  Steps: 'B' bounce events enqueued, 'T' retry entry
 * enqueued, 'E' entry complete.  Both durable before returning. */
gboolean mm_delivery_journal_add_outcome(MmDeliveryJournal *journal,
                                         json_t *outcome, GError **error);
gboolean mm_delivery_journal_add_step(MmDeliveryJournal *journal, char step,
                                      GError **error);
/* The outcome recorded by an earlier run, or NULL.  Borrowed. */
json_t *mm_delivery_journal_outcome(const MmDeliveryJournal *journal);
gboolean mm_delivery_journal_has_step(const MmDeliveryJournal *journal,
                                      char step);

/* Removes the journal of @entry_id (missing is fine). */
void mm_delivery_journal_remove(const char *dir, const char *entry_id);
/* Removes journals of completed entries older than @done_age_usec and any
 * journal untouched for @stale_age_usec (an entry shunted after crashes:
 * its id is gone).  Returns how many went. */
guint mm_delivery_journal_sweep(const char *dir, gint64 done_age_usec,
                                gint64 stale_age_usec);

/* ---- the connection pool (delivery-engine.c) -------------------------- */

typedef struct MmDeliveryEngine MmDeliveryEngine;

/* One transaction of a run: an envelope sender and the recipients (indexes
 * into the run's recipients). */
typedef struct {
  char *sender;
  GArray *indexes; /* guint */
} MmDeliveryTx;

MmDeliveryTx *mm_delivery_tx_new(const char *sender);
void mm_delivery_tx_free(MmDeliveryTx *tx);

/* Builds the wire header block for @tx; called from worker threads, so it
 * may read only immutable data.  Transfer full. */
typedef GBytes *(*MmDeliveryHeadFunc)(const MmDeliveryTx *tx, gpointer data);
/* Notes that the final dot for @indexes went out; called from worker
 * threads, right after the dot and before its reply. */
typedef void (*MmDeliverySentFunc)(const guint *indexes, guint n,
                                   gpointer data);
/* Makes the replies durable: @accepted got 2xx to their final dot,
 * @failed did not; called in the run's thread.  FALSE stops the run (the
 * rest fail temporarily). */
typedef gboolean (*MmDeliveryCommitFunc)(const guint *accepted,
                                         guint n_accepted,
                                         const guint *failed, guint n_failed,
                                         gpointer data, GError **error);

/* Builds the whole message (head and body in wire form) for @tx when its
 * body differs per recipient (decoration); called from worker threads.
 * FALSE to send the shared head and body instead. */
typedef gboolean (*MmDeliveryMessageFunc)(const MmDeliveryTx *tx,
                                          gpointer data, GBytes **head_out,
                                          GBytes **body_out);

typedef struct {
  const char *const *recipients;
  guint n_recipients;
  GPtrArray *txs; /* MmDeliveryTx */
  GBytes *head;   /* shared head, when head_func is NULL */
  MmDeliveryHeadFunc head_func;
  gpointer head_data;
  MmDeliveryMessageFunc message_func; /* may be NULL; takes head_data */
  /* Asked between replies (run's thread); TRUE stops the run early: no
   * new transaction starts, those in flight finish.  May be NULL. */
  gboolean (*should_stop)(gpointer data);
  gpointer stop_data;
  GBytes *body;
  gboolean eightbit;
  MmDeliverySentFunc sent;  /* may be NULL */
  MmDeliveryCommitFunc commit;
  gpointer journal_data;    /* for sent and commit */
} MmDeliveryRun;

typedef struct {
  guint interrupted;         /* transactions never started (should_stop) */
  guint transactions;        /* completed in protocol terms */
  guint connections_opened;
  GPtrArray *problems;       /* char *: connection-level failures, to log */
} MmDeliveryStats;

/* A pool of @connections workers for @settings (borrowed, must outlive the
 * engine).  Threads start lazily, connections on first use.  NULL with TLS
 * when a TLS context is needed and cannot be made. */
MmDeliveryEngine *mm_delivery_engine_new(const MmSmtpSettings *settings,
                                         guint connections, GError **error);
/* QUITs every connection and joins the workers. */
void mm_delivery_engine_free(MmDeliveryEngine *engine);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmDeliveryEngine, mm_delivery_engine_free)

/* Runs every transaction of @run over the pool and fills @outcomes
 * (indexed like run->recipients; only the indexes of @run's transactions
 * are touched, each exactly once).  Results are committed in this thread,
 * several at a time when they arrive together; a worker waits for the
 * commit of its transaction before it starts the next.  A worker that
 * cannot connect stops for the run and hands its transaction back; when
 * no worker is left, what remains fails with 444 and the reason.  @stats
 * (cleared by the caller, problems array created here) gets counts. */
void mm_delivery_engine_run(MmDeliveryEngine *engine, const MmDeliveryRun *run,
                            MmSmtpStatus *outcomes, MmDeliveryStats *stats);
