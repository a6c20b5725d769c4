/* Outgoing delivery: hands every copy of a message to the site's MTA over
 * SMTP, as Mailman 3's outgoing runner and mailman.mta.deliver do.
 *
 * The out runner calls mm_delivery_process() once per queue entry.  It
 * decides the strategy as Mailman does (bulk in chunks of max_recipients
 * grouped by domain; one copy per recipient when the message is VERPed or
 * the list personalized), talks SMTP over several parallel connections,
 * and routes every recipient to exactly one outcome:
 *   delivered   the MTA answered 250 to the final dot of its transaction;
 *   bounced     a 5xx other than 552 (RFC 5321 4.5.3.1.10), or a
 *               recipient-specific 4xx/552 still failing after
 *               [mta] delivery_retry_period: a bounce event is written;
 *   retried     any other failure (4xx, 552, lost connection, timeout,
 *               refused connection): the recipient goes into a new "retry"
 *               entry with deliver_until and deliver_after (back-off);
 *   dropped     connection-level failures (444, 421) still failing after
 *               delivery_retry_period: logged to "smtp" and given up, as
 *               Mailman gives up, since they say nothing about the member.
 * Per recipient, individual delivery sets To: (personalize full, with the
 * member's display name) and X-Mailman-Copy (metadata "add-dup-header"),
 * as mailman/mta/personalized.py and verp.py do.
 * Personalized lists also get a header and footer per copy through the
 * decorator the out runner sets (mm_delivery_set_decorator(),
 * mailman/mta/decorating.py).  XXX: ARC sealing of personalized copies
 * (arc_signing.py) is not done.
 *
 * Bounce events (for the bounce runner, which owns scoring) are one entry
 * per out-queue entry in the "bounces" queue: the message is a short
 * plain-text report ("SMTP Delivery Failure", as Mailman's fake DSN), and
 * the metadata says what happened, so that the bounce runner never needs
 * to parse the text:
 *   {"listid": "...", "smtp": true, "original_message_id": "<...>",
 *    "bounce_events": [{"email": "...", "code": 550, "message": "...",
 *                       "context": "normal" | "probe",
 *                       "probe_token": "..." (probe only)}, ...]}
 *
 * Never twice to an accepted recipient: a progress journal per entry
 * (delivery-journal.c, under $var_dir/delivery/) records, for every
 * transaction, that its final dot went out (noted by the connection's
 * thread the moment it is written) and then its reply (flushed with
 * fdatasync before that connection starts its next transaction).  A
 * runner restarted after kill -9 recovers the entry (same id), reads the
 * journal and sends only to the recipients that were neither accepted nor
 * had their final dot sent.  What remains:
 *   - a kill between the write() of a final dot and the write() of its
 *     note (a few microseconds) resends that transaction;
 *   - a power cut can lose notes not yet flushed: the transactions in
 *     flight, at most one per connection (max_recipients recipients in
 *     bulk mode, one in VERP and personalized mode), are resent;
 *   - a final dot that left but never reached the MTA (the machine died
 *     with it in a socket buffer) counts as delivered: that transaction is
 *     lost rather than duplicated;
 *   - a connection lost after the final dot and before its reply, while
 *     we keep running, is the classic RFC 1047 case: those recipients are
 *     retried and may get the message twice;
 *   - an entry shunted after three crashes (mm_queue_recover) and then
 *     unshunted gets a new id, and with it a new journal: resent to all.
 * An entry shunted by this module keeps its journal: metadata
 * "delivery_journal" names it, and an unshunted copy resumes from it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "storage.h"

#define MM_DELIVERY_ERROR (mm_delivery_error_quark())
GQuark mm_delivery_error_quark(void);

typedef enum {
  MM_DELIVERY_ERROR_CONNECT,  /* could not reach the MTA (DNS, refused,
                                 connect timeout) */
  MM_DELIVERY_ERROR_TIMEOUT,  /* the MTA did not answer within the phase's
                                 deadline */
  MM_DELIVERY_ERROR_CLOSED,   /* the MTA closed the connection, or said 421 */
  MM_DELIVERY_ERROR_PROTOCOL, /* a reply we cannot parse, or over the bounds */
  MM_DELIVERY_ERROR_TLS,      /* handshake or certificate failure */
  MM_DELIVERY_ERROR_AUTH,     /* AUTH refused, impossible or not allowed */
  MM_DELIVERY_ERROR_IO,       /* a socket or file call failed */
  MM_DELIVERY_ERROR_INVALID,  /* bad metadata or settings */
  MM_DELIVERY_ERROR_INTERRUPTED, /* stopped early on request; the entry's
                                    metadata names its journal, and
                                    handing it in again resumes */
} MmDeliveryError;

typedef struct MmDelivery MmDelivery;

/* The delivery engine of one out runner process: settings read from
 * @config ([mta], [devmode], [logging.smtp]; see delivery-settings.c for
 * every key and its default), a pool of SMTP connections that is kept
 * across entries, and the progress journal directory ($var_dir/delivery,
 * created).  Ignores SIGPIPE for the whole process (a peer that closes
 * must not kill a runner).  @config must outlive the engine.  Returns the
 * engine (transfer full) or NULL with @error (INVALID for bad settings, IO
 * when the directory cannot be made, TLS when OpenSSL cannot be set up). */
MmDelivery *mm_delivery_new(const MmConfig *config, GError **error);
void mm_delivery_free(MmDelivery *delivery);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmDelivery, mm_delivery_free)

/* Who a personalized copy is for (see MmDeliveryDecorateFunc). */
typedef struct {
  const char *recipient;    /* the envelope address of this copy */
  const char *email;        /* the member's address as subscribed */
  const char *display_name; /* "" when none */
  const char *language;     /* preferred language code */
} MmDeliveryRecipient;

/* How copies of a personalized list get their own header and footer.
 * This module does not know how decorations are made; the out runner hands
 * over the handlers module's (mm_handlers_decorator_*()).
 *   prepare  once per entry, in the run's thread: whatever the copies share
 *            (the parsed templates); NULL with @error when it cannot be
 *            made (every copy then goes out undecorated, logged);
 *   decorate per copy, from the engine's connection threads but never two
 *            at a time: the copy to send (transfer full) or NULL with
 *            @error (that copy goes out undecorated, logged);
 *   release  after the run. */
typedef struct {
  gpointer (*prepare)(gpointer data, const MmList *list, GBytes *message,
                      json_t *meta, GError **error);
  GBytes *(*decorate)(gpointer prepared, const MmDeliveryRecipient *recipient,
                      GError **error);
  void (*release)(gpointer prepared);
  gpointer data;
} MmDeliveryDecorator;

/* Sets the decorator (copied) used for personalized lists (personalize
 * individual or full) on entries without metadata "nodecorate" or
 * "isdigest": each copy then gets its own header and footer, as Mailman's
 * DecoratingDelivery does.  A failed decoration sends the copy as it is
 * and logs: a missing footer is better than bouncing members for our own
 * error.  Without a decorator (the default) copies are sent as the
 * pipeline left them. */
void mm_delivery_set_decorator(MmDelivery *delivery,
                               const MmDeliveryDecorator *decorator);

/* Sets the question asked between SMTP replies during a fan-out: when
 * @should_stop returns TRUE (the runner got SIGTERM), no new transaction
 * starts, the ones in flight finish and are recorded in the journal, and
 * mm_delivery_process() fails with INTERRUPTED; the out runner keeps the
 * entry, whose next run sends only to who is left.  Without it (the
 * default) a fan-out runs to its end. */
void mm_delivery_set_stop_check(MmDelivery *delivery,
                                gboolean (*should_stop)(gpointer data),
                                gpointer data);

/* Delivers the out-queue entry @entry_id (@message and its metadata @meta,
 * both borrowed; @meta may be edited: "verp" is set as Mailman sets it).
 * @store is used to find the list named by metadata "listid" and, when
 * there is no "recipients" key, to read the list's regular members (see
 * below); it may be NULL only for entries without "listid".
 *
 * Recipients come from metadata "recipients" (a JSON array of strings, as
 * the pipeline's member-recipients handler sets it).  Without that key the
 * recipients are the list's members with role member, regular delivery and
 * delivery enabled: what Mailman's member-recipients handler computes
 * (without its receive_own_postings exclusion, which needs the pipeline's
 * knowledge of the sender).  Duplicates (compared case-insensitively) are
 * delivered once.  An entry without recipients is logged and done.
 *
 * An entry whose "deliver_after" lies in the future is moved to the retry
 * queue untouched (Mailman keeps it in out, which spins).
 *
 * Returns TRUE when the entry is done: every recipient delivered, bounced
 * or enqueued for retry (the out runner finishes it).  FALSE with @error
 * when it could not be handled (INVALID metadata, a database, queue or
 * journal error); the out runner shunts it, and metadata
 * "delivery_journal" (set here) lets the unshunted copy resume. */
gboolean mm_delivery_process(MmDelivery *delivery, MmStore *store,
                             const char *entry_id, GBytes *message,
                             json_t *meta, GError **error);

/* Whether an entry's "deliver_after" (ISO 8601 UTC, as written by this
 * module) has passed at @now_usec (unix microseconds).  TRUE when the key
 * is absent or unreadable, so a malformed value never parks an entry
 * forever.  The retry runner uses it to honour the back-off. */
gboolean mm_delivery_entry_due(json_t *meta, gint64 now_usec);
