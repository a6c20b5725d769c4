/* Bounce processing: which addresses a bounce message names, whether each
 * failure is permanent or temporary, VERP decoding, bounce events, the
 * notice for unrecognised bounces, and Mailman 3's scoring rules.
 *
 * Detection follows Mailman 3 (mailman/runners/bounce.py,
 * mailman/app/bounces.py) and the detector chain of flufl.bounce: VERP
 * first, then an RFC 3464 delivery status notification, then heuristic
 * detectors for the formats real MTAs still send, tried in a fixed order
 * and stopping at the first that finds anything.  Warnings and delays are
 * reported as temporary and never count as bounces.  Auto-replies
 * (vacation, out of office, RFC 3834 Auto-Submitted) are not bounces.
 *
 * Parsing is GMime with bounds everywhere (input size, MIME parts, decoded
 * text, lines, line length): any byte string is a valid input and yields at
 * worst "nothing found".
 *
 * Detection does not log and does not touch the database.  Events,
 * scoring and what follows from it (bounce-event.c, bounce-process.c,
 * bounce-probe.c, bounce-notice.c) read and write the database through
 * storage-bounces.h, queue notices with notice.h, and log to "bounce" with
 * Mailman's lines: they decide what happens to a member, so they are the
 * layer that logs.  The scoring rules themselves are pure functions
 * (bounce-score.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "config.h"
#include "storage.h"

/* ---- Parsing and detection ------------------------------------------ */

/* A message parsed once for every step below (opaque). */
typedef struct MmBounceMessage MmBounceMessage;

/* Only the first MM_BOUNCE_PARSE_MAX_LEN bytes of a message are parsed: the
 * report parts of every format come before the returned original, which is
 * the only thing that makes a bounce big. */
#define MM_BOUNCE_PARSE_MAX_LEN (16u * 1024u * 1024u)

/* Parses @raw (any bytes).  Never fails: a message GMime cannot make sense
 * of gives a message with no parts.  Returns a new message (transfer
 * full); @raw is not referenced after the call. */
MmBounceMessage *mm_bounce_message_parse(GBytes *raw);
void mm_bounce_message_free(MmBounceMessage *message);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmBounceMessage, mm_bounce_message_free)

/* What the detectors found. */
typedef struct {
  /* Addresses, in the order found, each once (compared ignoring case).
   * Strings owned by the arrays.  The domain is lower-cased and in ASCII
   * (IDNA); the local part is as the report wrote it. */
  GPtrArray *permanent;
  GPtrArray *temporary;
  /* Name of the detector that recognised the message ("dsn", "postfix",
   * ...), or NULL when none did.  Static. */
  const char *detector;
  /* TRUE when nothing was found because the message is an auto-reply. */
  gboolean auto_reply;
} MmBounceScan;

void mm_bounce_scan_free(MmBounceScan *scan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmBounceScan, mm_bounce_scan_free)

/* Runs the detector chain on @message (flufl.bounce's all_failures): the
 * first detector that finds any address, permanent or temporary, decides.
 * A message that is an auto-reply and does not look like a delivery report
 * is not scanned at all.  Returns a new result (transfer full, never
 * NULL); both arrays empty means "not a bounce we understand". */
MmBounceScan *mm_bounce_scan(const MmBounceMessage *message);

/* Names of the detectors in the order they are tried, NULL-terminated,
 * static. */
const char *const *mm_bounce_detector_names(void);

/* TRUE for an auto-reply (vacation, out of office, Auto-Submitted other than
 * "no", X-Autoreply, X-Autorespond, Precedence: auto_reply, and the usual
 * subjects in English, German, French and Spanish) that does not look like
 * a delivery report (multipart/report, a MAILER-DAEMON or postmaster
 * sender, a delivery failure subject).  Exposed for tests. */
gboolean mm_bounce_message_is_auto_reply(const MmBounceMessage *message);

/* Normalises an address found in a report: removes surrounding space, one
 * pair of angle brackets and an "rfc822;" prefix, checks that it is
 * local@domain with a plausible local part and domain, quotes a local part
 * that is not a dot-atom, lower-cases the domain and converts an IDN domain
 * to ASCII.  Returns a new string, or NULL for something that is not an
 * address. */
char *mm_bounce_address_normalize(const char *text, gssize len);

/* ---- VERP ----------------------------------------------------------- */

/* The compiled [mta] verp_regexp and verp_probe_regexp (opaque). */
typedef struct MmBounceVerp MmBounceVerp;

/* Compiles the two regular expressions (Python syntax as in mailman.cfg;
 * named groups (?P<name>...) work, matching ignores case as in Mailman).
 * @probe_regexp may be NULL (no probe decoding).  Returns a new object or
 * NULL with @error (MM_ERROR_INVALID) when a pattern does not compile or
 * lacks its groups: bounces, local, domain; bounces, token. */
MmBounceVerp *mm_bounce_verp_new(const char *verp_regexp,
                                 const char *probe_regexp, GError **error);
void mm_bounce_verp_free(MmBounceVerp *verp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmBounceVerp, mm_bounce_verp_free)

/* Decodes one VERP address, e.g. "list-bounces+jo=example.com@host" with
 * @bounces_local "list-bounces" gives "jo@example.com".  @address may be an
 * addr-spec with a quoted local part (quotes are removed before matching).
 * The bounces group must equal @bounces_local (ignoring case), as in
 * Mailman.  The decoded local part is split from the domain at the last
 * '=' (a domain never holds one; Mailman's default pattern would cut
 * "a=b=example.com" at the first and produce a non-address), quoted when it
 * is not a dot-atom; the domain is lower-cased and converted to ASCII when
 * it is an IDN.  Returns a new string or NULL when @address is not a VERP
 * address of this list. */
char *mm_bounce_verp_decode_address(const MmBounceVerp *verp,
                                    const char *address,
                                    const char *bounces_local);

/* Mailman's StandardVERP: every address in the To, Delivered-To,
 * Envelope-To and Apparently-To fields (and X-Original-To, which Postfix's
 * local and pipe agents add) of @message decoded as above.  Returns a new
 * array of new strings, each once; empty when none matches. */
GPtrArray *mm_bounce_verp_addresses(const MmBounceVerp *verp,
                                    const MmBounceMessage *message,
                                    const char *bounces_local);

/* Mailman's ProbeVERP, first half: the tokens of verp_probe_regexp in the
 * same fields, for this list.  Resolving a token to a member needs the
 * pendings database.  Returns a new array (empty without a probe
 * pattern). */
GPtrArray *mm_bounce_verp_probe_tokens(const MmBounceVerp *verp,
                                       const MmBounceMessage *message,
                                       const char *bounces_local);

/* ---- What to do with a message at the -bounces address ---------------- */

typedef enum {
  MM_BOUNCE_CONTEXT_NORMAL = 1, /* Mailman's BounceContext values */
  MM_BOUNCE_CONTEXT_PROBE = 2,
} MmBounceContext;

typedef enum {
  MM_BOUNCE_VERDICT_REGISTER,     /* record a bounce event per address */
  MM_BOUNCE_VERDICT_TEMPORARY,    /* only temporary failures: ignore */
  MM_BOUNCE_VERDICT_UNRECOGNIZED, /* forward per forward_unrecognized_bounces_to */
  MM_BOUNCE_VERDICT_AUTO_REPLY,   /* not a bounce at all: drop */
} MmBounceVerdictKind;

typedef struct {
  MmBounceVerdictKind kind;
  gboolean verp;           /* decided by VERP addresses */
  MmBounceContext context; /* REGISTER: normal, or probe */
  /* REGISTER: the addresses to record; TEMPORARY: the addresses that failed
   * temporarily (the VERP addresses when @verp).  Owned. */
  GPtrArray *addresses;
  const char *detector; /* "verp", "probe" or a detector name; may be NULL */
} MmBounceVerdict;

void mm_bounce_verdict_free(MmBounceVerdict *verdict);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmBounceVerdict, mm_bounce_verdict_free)

/* Resolves a probe token to the probed member's address (transfer full),
 * or NULL when the token is unknown or used up. */
typedef char *(*MmBounceProbeResolver)(const char *token, gpointer data);

/* The decision of Mailman's BounceRunner._dispose for @message at the list
 * whose bounces address has local part @bounces_local:
 *   1. VERP addresses found: the scan's temporary failures make it
 *      TEMPORARY; no permanent failure makes it UNRECOGNIZED (a VERPed
 *      non-report, e.g. a vacation reply: AUTO_REPLY when it is one);
 *      otherwise REGISTER the VERP addresses (not the scanned ones).
 *   2. Else probe tokens that @resolve (may be NULL) turns into addresses:
 *      REGISTER them with context PROBE.
 *   3. Else the scan: permanent failures are REGISTERed; only temporary
 *      ones make it TEMPORARY; nothing makes it AUTO_REPLY or
 *      UNRECOGNIZED.
 * @verp may be NULL (no VERP decoding).  Returns a new verdict. */
MmBounceVerdict *mm_bounce_decide(const MmBounceVerp *verp,
                                  const MmBounceMessage *message,
                                  const char *bounces_local,
                                  MmBounceProbeResolver resolve,
                                  gpointer resolve_data);

/* ---- Bounce events ---------------------------------------------------- */

/* One bounce of one address on one list (Mailman's bounceevent row). */
typedef struct {
  char *list_id;
  char *email;
  gint64 timestamp_usec; /* unix time, microseconds, UTC */
  char *message_id;      /* the bounce's Message-ID, may be NULL */
  MmBounceContext context;
  gboolean processed;
} MmBounceEvent;

void mm_bounce_event_free(MmBounceEvent *event);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmBounceEvent, mm_bounce_event_free)

/* Records @event as an unprocessed bounceevent row (Mailman's
 * BounceProcessor.register; event->processed is ignored).  When @message
 * is not NULL and the event has a Message-ID, the bounce is also kept in
 * the message store under @messages_dir (once per Message-ID), for the
 * owner notices and the probe that attach it.  FALSE with @error
 * (MM_STORE_ERROR, or MM_ERROR when the message file cannot be written). */
gboolean mm_bounce_event_record(MmStore *store, const char *messages_dir,
                                const MmBounceEvent *event, GBytes *message,
                                GError **error);

/* ---- Scoring (Mailman's BounceProcessor), pure functions -------------- */

/* "Never" for the times below (Mailman's None / datetime.min). */
#define MM_BOUNCE_NEVER G_MININT64

/* A member's bounce information (Mailman's member columns bounce_score,
 * last_bounce_received, last_warning_sent, total_warnings_sent, and
 * whether its delivery status is by_bounces). */
typedef struct {
  int bounce_score;
  gint64 last_bounce_received_usec; /* MM_BOUNCE_NEVER when none */
  gboolean disabled_by_bounces;
  int total_warnings_sent;
  gint64 last_warning_sent_usec; /* MM_BOUNCE_NEVER when none */
} MmBounceMemberState;

/* The list settings (and [mta] verp_probes) that scoring reads. */
typedef struct {
  gboolean process_bounces;
  int bounce_score_threshold;
  gint64 bounce_info_stale_after_usec;
  int bounce_you_are_disabled_warnings;
  gint64 bounce_you_are_disabled_warnings_interval_usec;
  gboolean bounce_notify_owner_on_bounce_increment;
  gboolean bounce_notify_owner_on_disable;
  gboolean bounce_notify_owner_on_removal;
  gboolean verp_probes;
} MmBouncePolicy;

/* Mailman's list defaults (threshold 5, stale after 7 days, 3 warnings 7
 * days apart, notify on disable and removal, not on increment, no probes,
 * processing on). */
void mm_bounce_policy_init_default(MmBouncePolicy *policy);

/* What the caller must do after a scoring step (several may be set). */
typedef enum {
  MM_BOUNCE_ACTION_NONE = 0,
  MM_BOUNCE_ACTION_IGNORED = 1 << 0,   /* process_bounces off: no change */
  MM_BOUNCE_ACTION_RESIDUAL = 1 << 1,  /* already disabled by bounces */
  MM_BOUNCE_ACTION_SAME_DAY = 1 << 2,  /* already scored today: time only */
  MM_BOUNCE_ACTION_SCORED = 1 << 3,    /* bounce_score changed */
  MM_BOUNCE_ACTION_NOTIFY_OWNER_INCREMENT = 1 << 4,
  MM_BOUNCE_ACTION_SEND_PROBE = 1 << 5, /* score reset to 0 */
  MM_BOUNCE_ACTION_DISABLE = 1 << 6,    /* delivery status := by_bounces */
  MM_BOUNCE_ACTION_NOTIFY_OWNER_DISABLE = 1 << 7,
  MM_BOUNCE_ACTION_WARN_MEMBER = 1 << 8, /* send list:user:notice:warning */
  MM_BOUNCE_ACTION_REMOVE = 1 << 9,      /* unsubscribe, goodbye message */
  MM_BOUNCE_ACTION_NOTIFY_OWNER_REMOVAL = 1 << 10,
} MmBounceAction;

/* Applies one bounce event (time @event_usec, context @context) to @state,
 * as Mailman's process_event: a probe bounce disables at once; an event
 * for a member already disabled by bounces is residual; a second bounce on
 * the same UTC calendar day only moves last_bounce_received; otherwise the
 * score becomes 1 when the last bounce is older than
 * bounce_info_stale_after (or there was none) and grows by one when not;
 * at the threshold a probe is sent (score reset to 0) when verp_probes is
 * on, else delivery is disabled (warnings count and time reset).  Returns
 * the actions (MmBounceAction bits). */
guint mm_bounce_score_event(const MmBouncePolicy *policy,
                            MmBounceMemberState *state, gint64 event_usec,
                            MmBounceContext context);

/* The periodic step for a member disabled by bounces (Mailman's
 * send_warnings_and_remove) at time @now_usec: a warning when fewer than
 * bounce_you_are_disabled_warnings were sent and the interval has passed
 * since the last one; then removal when all warnings were sent and the
 * interval has passed since the last (or no warnings are configured).
 * Nothing for a member not disabled by bounces or a list that does not
 * process bounces.  Returns the actions. */
guint mm_bounce_score_tick(const MmBouncePolicy *policy,
                           MmBounceMemberState *state, gint64 now_usec);

/* Re-enabling a member (the member confirms, or an admin) clears the
 * bounce information. */
void mm_bounce_member_state_reset(MmBounceMemberState *state);

/* A clock for the glue that calls the functions above; tests inject their
 * own.  Returns unix time in microseconds. */
typedef gint64 (*MmBounceClock)(gpointer data);
gint64 mm_bounce_clock_system(gpointer data);

/* The runner's clock: the system clock, unless the environment variable
 * MAILMAN_TEST_NOW holds a time, as unix seconds ("1714564800", fractions
 * allowed) or ISO 8601 with a zone ("2024-05-01T12:00:00Z").  TEST ONLY:
 * integration tests move a runner through weeks of bounces with it; sites
 * never set it.  Read at every call; a value that does not parse is
 * ignored. */
gint64 mm_bounce_clock_runner(gpointer data);

/* ---- Processing: Mailman's BounceProcessor over the database ----------- */

/* What the processing functions work with (borrowed). */
typedef struct {
  const MmConfig *config;
  MmStore *store;
  MmBounceClock clock; /* NULL: the system clock */
  gpointer clock_data;
} MmBounceProcessor;

/* Fills @policy from @list's settings (process_bounces,
 * bounce_score_threshold, bounce_info_stale_after, ...) and [mta]
 * verp_probes, each falling back to Mailman's default when unset or
 * unreadable. */
void mm_bounce_policy_from_list(MmBouncePolicy *policy,
                                const MmConfig *config, const MmList *list);

/* Mailman's _process_events: every unprocessed event, oldest first, each
 * in its own transaction (claimed, so that two processes never score one
 * event twice): an event for a list or member that is gone is dropped
 * ("Bounce message for a non subscriber"); on a list with process_bounces
 * off it is marked processed and nothing else happens; otherwise
 * mm_bounce_score_event() decides and this function saves the state,
 * disables delivery (by_bounces), sends the probe and queues the owner
 * notices (list:admin:notice:increment and :disable with the bounce
 * attached when the message store still has it).  The member hears about
 * the disabling from the first warning, which mm_bounce_process_warnings()
 * sends at once.  A notice is queued before its transaction commits: a
 * crash in between sends it again with the retried event (at least once).
 * Sets @n_out (may be NULL) to the number of events processed.  FALSE
 * with @error when the database or the queue fails; the event in hand
 * stays unprocessed and the rest wait for the next call. */
gboolean mm_bounce_process_events(const MmBounceProcessor *processor,
                                  guint *n_out, GError **error);

/* Mailman's send_warnings_and_remove at the processor's "now": for every
 * member disabled by bounces on a list that processes bounces,
 * mm_bounce_score_tick() decides; a warning is list:user:notice:warning to
 * the member, a removal unsubscribes the member, sends the goodbye
 * (list:user:notice:goodbye, always, as Mailman) and either
 * list:admin:notice:removal (bounce_notify_owner_on_removal) or, when the
 * list has admin_notify_mchanges, list:admin:notice:unsubscribe.  One
 * transaction per member.  FALSE with @error as above. */
gboolean mm_bounce_process_warnings(const MmBounceProcessor *processor,
                                    GError **error);

/* Re-enables @email on @list_id (the admin's `mailman reenable`, or a
 * member who asks): its bounce information is cleared and, when its own
 * delivery status is by_bounces, delivery is enabled; one transaction.
 * @was_disabled_out (may be NULL) says whether it was disabled by
 * bounces.  NOT_FOUND (MM_STORE_ERROR) when @email is not a member. */
gboolean mm_bounce_member_reenable(MmStore *store, const char *list_id,
                                   const char *email,
                                   gboolean *was_disabled_out, GError **error);

/* ---- VERP probes (Mailman's send_probe and ProbeVERP) ------------------ */

/* How long a probe token lives: Mailman's PENDABLE_LIFETIME, 10 days. */
#define MM_BOUNCE_PROBE_LIFETIME_SEC (10 * 24 * 3600)

/* Sends a probe to @email, a member of @list: a pending of type "probe"
 * with the member's member_id and @message_id (may be NULL), whose token
 * goes into the envelope sender built from [mta] verp_probe_format; the
 * text is list:user:notice:probe with @dsn (may be NULL) attached, queued
 * in virgin with metadata sender, verp false and probe_token, so that a
 * bounce of the probe, by DSN or by SMTP refusal, names the token.
 * Returns the token (transfer full) or NULL with @error. */
char *mm_bounce_probe_send(const MmConfig *config, MmStore *store,
                           const MmList *list, const char *email,
                           const char *message_id, GBytes *dsn,
                           GError **error);

/* Resolves (and uses up) probe token @token: the address of the member
 * it was sent to when that member is still on @list, else NULL.  A
 * database failure is NULL with @error; an unknown, expired or used token,
 * or one that is not a probe's, is NULL without. */
char *mm_bounce_probe_resolve(MmStore *store, const MmList *list,
                              const char *token, GError **error);

/* ---- Notices ------------------------------------------------------------ */

/* Mailman's maybe_forward: passes an unrecognised bounce @raw on as
 * forward_unrecognized_bounces_to says: "administrators" (owners and
 * moderators; the site owner when there are none, so it is never lost),
 * "site_owner", or "discard" (nothing is queued, @discarded_out TRUE).
 * The notice is list:admin:notice:unrecognized with the bounce attached
 * (its header block only when it is over MM_BOUNCE_PARSE_MAX_LEN).
 * Returns FALSE with @error when the notice cannot be queued. */
gboolean mm_bounce_forward_unrecognized(const MmConfig *config,
                                        MmStore *store, const MmList *list,
                                        GBytes *raw, gboolean *discarded_out,
                                        GError **error);
