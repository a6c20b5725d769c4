/* One out-queue entry from metadata to MTA and back: recipients, strategy,
 * the SMTP run with its progress journal, then bounce events, the retry
 * entry and the smtp log (Mailman 3's outgoing runner and
 * mailman.mta.deliver, with the differences delivery.h lists).
 *
 * Order of durable steps for an entry, and what a kill -9 after each one
 * leaves (the entry's .bak is recovered with the same id, or the journal
 * name travels in metadata "delivery_journal" when the entry is shunted):
 *   journal created        resume from nothing: nothing was sent
 *   'A' records            resume: send only to the recipients not in them
 *   'D' outcome            resume: no SMTP at all; classify the stored
 *                          failures again
 *   bounces enqueued, 'B'  (between the two: bounce events twice)
 *   retry enqueued, 'T'    (between the two: a second retry entry)
 *   'E'                    resume: nothing to do
 * The journal of a finished entry is removed when the next entry comes
 * (the out runner has then finished this one), or by the sweep.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define MM_WITH_JANSSON
#include "delivery-private.h"

#include <gmime/gmime.h>
#include <signal.h>
#include <string.h>

#include "base-error.h"
#include "base-file.h"
#include "base-log.h"
#include "message.h"
#include "mm-autocleanups.h"
#include "queue.h"

/* Sweep the journal directory at most this often. */
#define SWEEP_INTERVAL_USEC ((gint64)10 * 60 * G_USEC_PER_SEC)
/* A completed journal older than this belongs to a finished entry. */
#define DONE_JOURNAL_AGE_USEC ((gint64)3600 * G_USEC_PER_SEC)
/* An unfinished journal untouched this long belongs to an entry that left
 * for good (shunted after repeated crashes and not unshunted). */
#define STALE_JOURNAL_AGE_USEC ((gint64)14 * 24 * 3600 * G_USEC_PER_SEC)

struct MmDelivery {
  MmDeliverySettings settings;
  MmDeliveryEngine *engine;
  char *journal_dir;
  char *queue_root;
  char *finished_journal; /* removed when the next entry comes */
  gint64 last_sweep;
  gboolean connect_failure_logged; /* Mailman logs it once until a success */
  MmDeliveryDecorator decorator; /* personalized lists; prepare NULL: none */
  gboolean (*should_stop)(gpointer data); /* may be NULL */
  gpointer stop_data;
};

void
mm_delivery_set_stop_check(MmDelivery *delivery,
                           gboolean (*should_stop)(gpointer data),
                           gpointer data)
{
  delivery->should_stop = should_stop;
  delivery->stop_data = data;
}

void
mm_delivery_set_decorator(MmDelivery *delivery,
                          const MmDeliveryDecorator *decorator)
{
  delivery->decorator = *decorator;
}

MmDelivery *
mm_delivery_new(const MmConfig *config, GError **error)
{
  g_autoptr(MmDelivery) delivery = g_new0(MmDelivery, 1);
  if (!mm_delivery_settings_load(config, &delivery->settings, error))
    return NULL;
  /* OpenSSL writes to the socket with write(): a server that hangs up
   * would raise SIGPIPE and kill the runner. */
  signal(SIGPIPE, SIG_IGN);
  g_mime_init();
  delivery->engine = mm_delivery_engine_new(&delivery->settings.smtp,
                                            delivery->settings.connections,
                                            error);
  if (delivery->engine == NULL)
    return NULL;
  delivery->journal_dir =
      g_build_filename(delivery->settings.var_dir, "delivery", NULL);
  delivery->queue_root = g_strdup(mm_config_path(config, "queue_dir"));
  if (!mm_mkdir_p(delivery->journal_dir, 0770, error))
    return NULL;
  return g_steal_pointer(&delivery);
}

void
mm_delivery_free(MmDelivery *delivery)
{
  if (delivery == NULL)
    return;
  g_clear_pointer(&delivery->engine, mm_delivery_engine_free);
  mm_delivery_settings_clear(&delivery->settings);
  g_free(delivery->journal_dir);
  g_free(delivery->queue_root);
  g_free(delivery->finished_journal);
  g_free(delivery);
}

/* ---- times in metadata --------------------------------------------------- */

/* Mailman keeps naive UTC datetimes; we write their isoformat(), as the
 * LMTP runner writes received_time. */
static char *
iso_time(gint64 unix_usec)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(0);
  g_autoptr(GDateTime) at = g_date_time_add(t, unix_usec);
  return g_date_time_format(at, "%Y-%m-%dT%H:%M:%S.%f");
}

/* Unix microseconds of a metadata time, or @fallback. */
static gint64
meta_time(json_t *meta, const char *key, gint64 fallback)
{
  json_t *value = json_object_get(meta, key);
  if (json_is_number(value))
    return (gint64)(json_number_value(value) * G_USEC_PER_SEC);
  if (!json_is_string(value))
    return fallback;
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
  g_autoptr(GDateTime) t =
      g_date_time_new_from_iso8601(json_string_value(value), utc);
  return t != NULL ? g_date_time_to_unix(t) * G_USEC_PER_SEC +
                         g_date_time_get_microsecond(t)
                   : fallback;
}

gboolean
mm_delivery_entry_due(json_t *meta, gint64 now_usec)
{
  return meta_time(meta, "deliver_after", G_MININT64) <= now_usec;
}

/* ---- recipients ----------------------------------------------------------- */

/* Adds @address unless an equal one (ASCII case-insensitive) is there. */
static void
add_recipient(GPtrArray *out, GHashTable *seen, const char *address)
{
  if (address == NULL || *address == '\0')
    return;
  char *folded = g_ascii_strdown(address, -1);
  if (!g_hash_table_add(seen, folded))
    return;
  g_ptr_array_add(out, g_strdup(address));
}

/* The recipients of the entry (see mm_delivery_process()); NULL with
 * INVALID for a "recipients" that is not an array of strings. */
static GPtrArray *
recipients_of(json_t *meta, MmStore *store, const MmList *list,
              GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GHashTable) seen =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  json_t *given = json_object_get(meta, "recipients");

  if (given != NULL) {
    if (!json_is_array(given)) {
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_INVALID,
                  "metadata \"recipients\" is not an array");
      return NULL;
    }
    size_t i;
    json_t *item;
    json_array_foreach(given, i, item) {
      if (!json_is_string(item)) {
        g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_INVALID,
                    "metadata \"recipients\" holds a non-string");
        return NULL;
      }
      add_recipient(out, seen, json_string_value(item));
    }
  } else if (list != NULL) {
    /* The pipeline's member-recipients handler sets "recipients"; an entry
     * that skipped the pipeline (`mailman inject -q out`) gets what that
     * handler computes: regular members whose delivery is enabled (without
     * the sender's receive_own_postings exclusion, which needs the
     * pipeline's knowledge of the sender). */
    MmRosterQuery query = {.role = MM_ROLE_MEMBER,
                           .delivery_mode = MM_DELIVERY_REGULAR,
                           .delivery_status = MM_STATUS_ENABLED};
    g_autoptr(GPtrArray) roster =
        mm_store_roster(store, list->list_id, &query, error);
    if (roster == NULL)
      return NULL;
    for (guint i = 0; i < roster->len; i++)
      add_recipient(out, seen, ((MmMember *)roster->pdata[i])->email);
  }
  return g_steal_pointer(&out);
}

static char *
fingerprint_of(GPtrArray *recipients)
{
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA1);
  for (guint i = 0; i < recipients->len; i++) {
    g_checksum_update(sum, recipients->pdata[i], -1);
    g_checksum_update(sum, (const guchar *)"\n", 1);
  }
  return g_strdup(g_checksum_get_string(sum));
}

/* Lower-cased strings of metadata @key (an array, or an object's keys: a
 * pickled set or dict in Mailman); NULL when absent or empty. */
static GHashTable *
address_set(json_t *meta, const char *key)
{
  json_t *value = json_object_get(meta, key);
  GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          NULL);
  if (json_is_array(value)) {
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item) if (json_is_string(item))
        g_hash_table_add(set, g_ascii_strdown(json_string_value(item), -1));
  } else if (json_is_object(value)) {
    const char *k;
    json_t *v;
    json_object_foreach(value, k, v) g_hash_table_add(set,
                                                      g_ascii_strdown(k, -1));
  }
  if (g_hash_table_size(set) == 0)
    g_clear_pointer(&set, g_hash_table_unref);
  return set;
}

/* ---- per-recipient headers -------------------------------------------- */

/* A member as a personalized copy needs them (decoration). */
typedef struct {
  char *email;
  char *display_name;
  char *language;
} MemberFacts;

static void
member_facts_free(MemberFacts *facts)
{
  g_free(facts->email);
  g_free(facts->display_name);
  g_free(facts->language);
  g_free(facts);
}

typedef struct {
  const char *const *recipients;
  GBytes *raw_head;   /* X-Mailman-Copy removed (individual delivery) */
  GBytes *wire_head;  /* raw_head in wire form */
  GHashTable *dup;    /* folded addresses flagged as explicit duplicates */
  GHashTable *to;     /* folded address -> To: value (full personalization) */
  /* Decoration per copy (personalized lists), else NULL: */
  GHashTable *members; /* folded address -> MemberFacts */
  const MmDeliveryDecorator *decorator;
  gpointer prepared;   /* the decorator's, for this entry */
  const char *preferred_language; /* the list's, for non-members */
  const char *log_id;
  GMutex *decorate_lock; /* decorations one at a time */
} HeadData;

/* @raw_head edited for @rcpt (To: for full personalization, the duplicate
 * flag), in wire form. */
static GBytes *
personal_head(const HeadData *h, GBytes *raw_head, GBytes *wire_head,
              const char *rcpt)
{
  g_autofree char *folded = g_ascii_strdown(rcpt, -1);
  gboolean dup = h->dup != NULL && g_hash_table_contains(h->dup, folded);

  if (!dup && h->to == NULL)
    return g_bytes_ref(wire_head);
  g_autoptr(GBytes) head = g_bytes_ref(raw_head);
  if (h->to != NULL) {
    /* mailman/mta/personalized.py: To: becomes the recipient, with the
     * user's display name when there is one. */
    const char *value = g_hash_table_lookup(h->to, folded);
    GBytes *edited = mm_wire_header_replace(head, "To", value ? value : rcpt);
    g_bytes_unref(head);
    head = edited;
  }
  if (dup) {
    /* mailman/mta/verp.py avoid_duplicates. */
    GBytes *edited = mm_wire_header_append(head, "X-Mailman-Copy", "yes");
    g_bytes_unref(head);
    head = edited;
  }
  gsize len = 0;
  const char *bytes = g_bytes_get_data(head, &len);
  return mm_wire_encode(bytes, len, FALSE);
}

/* Runs in worker threads: reads only HeadData, which nobody changes while
 * the run lasts, and uses no GMime (the To: values are made beforehand). */
static GBytes *
head_for(const MmDeliveryTx *tx, gpointer data)
{
  HeadData *h = data;
  const char *rcpt = h->recipients[g_array_index(tx->indexes, guint, 0)];
  return personal_head(h, h->raw_head, h->wire_head, rcpt);
}

/* Runs in worker threads: the decorated copy for the transaction's one
 * recipient, head edited as head_for() does.  The decorator (GMime) runs
 * under the run's lock.  FALSE after logging when decoration failed: the
 * copy goes out undecorated. */
static gboolean
message_for(const MmDeliveryTx *tx, gpointer data, GBytes **head_out,
            GBytes **body_out)
{
  HeadData *h = data;
  const char *rcpt = h->recipients[g_array_index(tx->indexes, guint, 0)];
  g_autofree char *folded = g_ascii_strdown(rcpt, -1);
  const MemberFacts *facts = g_hash_table_lookup(h->members, folded);
  MmDeliveryRecipient who = {
      .recipient = rcpt,
      .email = facts != NULL ? facts->email : rcpt,
      .display_name = facts != NULL ? facts->display_name : "",
      .language = facts != NULL && facts->language != NULL
                      ? facts->language
                      : h->preferred_language,
  };
  g_autoptr(GError) error = NULL;
  g_mutex_lock(h->decorate_lock);
  g_autoptr(GBytes) decorated =
      h->decorator->decorate(h->prepared, &who, &error);
  g_mutex_unlock(h->decorate_lock);
  if (decorated == NULL) {
    g_autofree char *safe = mm_log_escape(error->message, -1);
    mm_log_error("smtp", "%s not decorated for one recipient, sent as it "
                 "is: %s", h->log_id, safe);
    return FALSE;
  }
  g_autoptr(GBytes) raw_head = NULL;
  g_autoptr(GBytes) raw_body = NULL;
  mm_wire_split(decorated, &raw_head, &raw_body);
  GBytes *cleaned = mm_wire_header_remove(raw_head, "X-Mailman-Copy");
  g_bytes_unref(raw_head);
  raw_head = cleaned;
  gsize len = 0;
  const char *bytes = g_bytes_get_data(raw_body, &len);
  *body_out = mm_wire_encode(bytes, len, TRUE);
  bytes = g_bytes_get_data(raw_head, &len);
  g_autoptr(GBytes) wire_head =
      mm_wire_encode(bytes, len, g_bytes_get_size(raw_body) == 0);
  *head_out = personal_head(h, raw_head, wire_head, rcpt);
  return TRUE;
}

/* folded address -> MemberFacts for the list's members: one roster query
 * (which resolves each member's preferred language too). */
static GHashTable *
member_facts(MmStore *store, const MmList *list)
{
  GHashTable *members = g_hash_table_new_full(
      g_str_hash, g_str_equal, g_free, (GDestroyNotify)member_facts_free);
  g_autoptr(GError) error = NULL;
  MmRosterQuery query = {.role = MM_ROLE_MEMBER};
  g_autoptr(GPtrArray) roster =
      store ? mm_store_roster(store, list->list_id, &query, &error) : NULL;
  for (guint i = 0; roster != NULL && i < roster->len; i++) {
    const MmMember *m = roster->pdata[i];
    MemberFacts *facts = g_new0(MemberFacts, 1);
    facts->email = g_strdup(m->email);
    facts->display_name = g_strdup(m->display_name ? m->display_name : "");
    facts->language = g_strdup(m->preferred_language);
    g_hash_table_insert(members, g_ascii_strdown(m->email, -1), facts);
  }
  return members;
}

/* folded address -> "Display Name <address>", RFC 2047-encoded, for the
 * list members that have a display name (from member_facts()). */
static GHashTable *
to_values(GHashTable *members)
{
  GHashTable *to =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init(&iter, members);
  while (g_hash_table_iter_next(&iter, &key, &value)) {
    const MemberFacts *facts = value;
    if (*facts->display_name == '\0')
      continue;
    InternetAddress *ia =
        internet_address_mailbox_new(facts->display_name, facts->email);
    char *text = internet_address_to_string(ia, NULL, TRUE);
    g_object_unref(ia);
    g_hash_table_insert(to, g_strdup(key), text);
  }
  return to;
}

/* ---- journal commits ------------------------------------------------------- */

static void
note_sent(const guint *indexes, guint n, gpointer data)
{
  mm_delivery_journal_note_sent(data, indexes, n);
}

static gboolean
commit_results(const guint *accepted, guint n_accepted, const guint *failed,
               guint n_failed, gpointer data, GError **error)
{
  return mm_delivery_journal_add_results(data, accepted, n_accepted, failed,
                                         n_failed, error);
}

/* ---- logging --------------------------------------------------------------- */

static void
vars_set(GHashTable *vars, const char *key, const char *value)
{
  g_hash_table_insert(vars, g_strdup(key), g_strdup(value ? value : ""));
}

/* Mailman's expand() substitutions for @list plus deliver()'s. */
static GHashTable *
log_vars(const MmDelivery *d, const MmList *list, const char *msgid,
         const char *sender, guint n_recipients, gsize size)
{
  GHashTable *vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  vars_set(vars, "site_email", d->settings.site_owner);
  if (list != NULL) {
    vars_set(vars, "listname", list->fqdn_listname);
    vars_set(vars, "list_id", list->list_id);
    vars_set(vars, "display_name", list->display_name);
    vars_set(vars, "short_listname", list->list_name);
    vars_set(vars, "domain", list->mail_host);
    vars_set(vars, "description", list->description);
    vars_set(vars, "info", mm_list_setting(list, "info"));
    vars_set(vars, "request_email", mm_list_setting(list, "request_address"));
    vars_set(vars, "owner_email", mm_list_setting(list, "owner_address"));
    vars_set(vars, "language", list->preferred_language);
  }
  vars_set(vars, "msgid", msgid);
  vars_set(vars, "sender", sender);
  g_hash_table_insert(vars, g_strdup("recip"),
                      g_strdup_printf("%u", n_recipients));
  g_hash_table_insert(vars, g_strdup("size"),
                      g_strdup_printf("%" G_GSIZE_FORMAT, size));
  vars_set(vars, "smtpcode", "n/a");
  vars_set(vars, "smtpmsg", "n/a");
  return vars;
}

static void
log_template(const char *template, GHashTable *vars)
{
  if (template == NULL)
    return;
  g_autofree char *line = mm_delivery_expand(template, vars);
  g_autofree char *safe = mm_log_escape(line, -1);
  mm_log_info("smtp", "%s", safe);
}

/* The original sender for the log: metadata "original-sender" (Mailman's
 * key) or the first From: address. */
static char *
sender_for_log(GBytes *message, json_t *meta)
{
  json_t *given = json_object_get(meta, "original-sender");
  if (json_is_string(given))
    return g_strdup(json_string_value(given));
  g_autofree char *from = NULL;
  if (!mm_message_header_get(message, "From", &from))
    return g_strdup("");
  InternetAddressList *addresses = internet_address_list_parse(NULL, from);
  char *address = NULL;
  if (addresses != NULL && internet_address_list_length(addresses) > 0) {
    InternetAddress *ia = internet_address_list_get_address(addresses, 0);
    if (INTERNET_ADDRESS_IS_MAILBOX(ia))
      address = g_strdup(
          internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
  }
  if (addresses != NULL)
    g_object_unref(addresses);
  return address ? address : g_strdup(from);
}

/* ---- aftermath: bounce events and the retry entry ------------------------- */

/* Connection-level failures (ours: 444; the server going away: 421) say
 * nothing about the recipient. */
static gboolean
code_is_about_recipient(int code)
{
  return code != 444 && code != 421;
}

/* The report that goes with the bounce events: Mailman's "fake DSN"
 * (outgoing.py _fake_dsn), one per entry for all its failures. */
static GBytes *
bounce_report(const MmList *list, const char *msgid, json_t *events)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *new_id = mm_message_id_new(list->mail_host, &error);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *date = g_date_time_format(now, "%a, %d %b %Y %H:%M:%S %z");
  GString *text = g_string_new(NULL);

  g_string_append_printf(text, "From: Mailman <%s>\n",
                         mm_list_setting(list, "posting_address"));
  g_string_append_printf(text, "To: Mailman Bounces <%s>\n",
                         mm_list_setting(list, "bounces_address"));
  g_string_append(text, "Subject: SMTP Delivery Failure\n");
  g_string_append_printf(text, "Message-ID: %s\n",
                         new_id ? new_id : "<unknown@localhost>");
  g_string_append_printf(text, "Date: %s\n", date);
  g_string_append(text, "MIME-Version: 1.0\n"
                        "Content-Type: text/plain; charset=\"utf-8\"\n"
                        "Content-Transfer-Encoding: 8bit\n\n");
  g_string_append_printf(text,
                         "The outgoing SMTP server refused message %s for "
                         "these recipients:\n\n",
                         msgid);
  size_t i;
  json_t *event;
  json_array_foreach(events, i, event) {
    /* Server text goes into a message body: keep it on one line. */
    g_autofree char *reason = mm_log_escape(
        json_string_value(json_object_get(event, "message")), -1);
    g_string_append_printf(
        text, "  %s\n    code %" JSON_INTEGER_FORMAT ": %s\n",
        json_string_value(json_object_get(event, "email")),
        json_integer_value(json_object_get(event, "code")), reason);
  }
  return g_string_free_to_bytes(text);
}

static json_t *
bounce_event(const char *email, int code, const char *text, json_t *meta)
{
  json_t *probe = json_object_get(meta, "probe_token");
  json_t *event = json_pack("{s:s, s:i, s:s, s:s}", "email", email, "code",
                            code, "message", text ? text : "", "context",
                            json_is_string(probe) ? "probe" : "normal");
  if (json_is_string(probe))
    json_object_set(event, "probe_token", probe);
  return event;
}

/* Back-off before retry number @attempt (1, 2, ...): the configured first
 * wait, doubled each time, capped. */
static gint64
backoff_usec(const MmDeliverySettings *s, gint64 attempt)
{
  gint64 wait = s->retry_backoff_usec;
  for (gint64 i = 1; i < attempt && wait < s->retry_backoff_max_usec; i++)
    wait *= 2;
  return MIN(wait, s->retry_backoff_max_usec);
}

typedef struct {
  guint delivered;   /* in this entry, over all its runs */
  guint bounced;
  guint retried;
  guint dropped;     /* expired with connection-level failures */
} Tally;

/* Classifies the failures in @outcome, writes bounce events and the retry
 * entry (each at most once, per the journal), and counts. */
static gboolean
settle(MmDelivery *d, MmDeliveryJournal *journal, const MmList *list,
       GPtrArray *recipients, GBytes *message, json_t *meta,
       json_t *outcome, const char *msgid, Tally *tally, GError **error)
{
  const MmDeliverySettings *s = &d->settings;
  gint64 now = g_get_real_time();
  g_autofree char *log_id = mm_log_escape(msgid, -1);
  g_autoptr(MmJson) events = json_array();
  g_autoptr(MmJson) temporary = json_array(); /* [address, code, text] */

  size_t i;
  json_t *item;
  json_array_foreach(outcome, i, item) {
    guint index = (guint)json_integer_value(json_array_get(item, 0));
    int code = (int)json_integer_value(json_array_get(item, 1));
    const char *text = json_string_value(json_array_get(item, 2));
    if (index >= recipients->len)
      continue;
    const char *address = recipients->pdata[index];
    if (mm_delivery_code_is_permanent(code))
      json_array_append_new(events, bounce_event(address, code, text, meta));
    else
      json_array_append_new(temporary,
                            json_pack("[s, i, s]", address, code,
                                      text ? text : ""));
  }

  /* Mailman's retry bookkeeping (outgoing.py): a run that failed for as
   * many recipients as the last one made no progress; after
   * deliver_until without progress the temporary failures are given up.
   * Mailman then drops them silently; we turn the recipient-specific ones
   * into bounce events (the issue asks for "permanent"), and drop only
   * those that never got an answer about the recipient (connection
   * trouble), which must not cost members their subscription. */
  g_autoptr(MmJson) retry = json_array();
  if (json_array_size(temporary) > 0) {
    gint64 last = json_integer_value(json_object_get(meta, "last_recip_count"));
    gint64 until = meta_time(meta, "deliver_until", now);
    gboolean progress = (gint64)json_array_size(temporary) != last;
    if (!progress && now > until) {
      json_array_foreach(temporary, i, item) {
        int code = (int)json_integer_value(json_array_get(item, 1));
        const char *address = json_string_value(json_array_get(item, 0));
        const char *text = json_string_value(json_array_get(item, 2));
        if (code_is_about_recipient(code)) {
          json_array_append_new(events,
                                bounce_event(address, code, text, meta));
        } else {
          tally->dropped++;
          g_autofree char *safe = mm_log_escape(address, -1);
          mm_log_error("smtp",
                       "%s giving up on %s after delivery_retry_period "
                       "of connection failures",
                       log_id, safe);
        }
      }
    } else {
      json_array_foreach(temporary, i, item)
          json_array_append(retry, json_array_get(item, 0));
    }
  }
  tally->bounced = (guint)json_array_size(events);
  tally->retried = (guint)json_array_size(retry);

  if (json_array_size(events) > 0 &&
      !mm_delivery_journal_has_step(journal, 'B')) {
    if (list == NULL) {
      /* Mailman registers bounces against a list only. */
      mm_log_error("smtp", "%s %u permanent failures for a message of no "
                           "list: not recorded as bounces",
                   log_id, tally->bounced);
    } else {
      g_autoptr(MmJson) bmeta = json_object();
      json_object_set_new(bmeta, "listid", json_string(list->list_id));
      json_object_set_new(bmeta, "smtp", json_true());
      json_object_set_new(bmeta, "original_message_id", json_string(msgid));
      json_object_set(bmeta, "bounce_events", events);
      g_autoptr(GBytes) report = bounce_report(list, msgid, events);
      g_autofree char *id = mm_queue_enqueue_to(d->queue_root, "bounces",
                                                report, bmeta, error);
      if (id == NULL)
        return FALSE;
    }
    if (!mm_delivery_journal_add_step(journal, 'B', error))
      return FALSE;
  }

  if (json_array_size(retry) > 0 &&
      !mm_delivery_journal_has_step(journal, 'T')) {
    g_autoptr(MmJson) rmeta = json_deep_copy(meta);
    gint64 last = json_integer_value(json_object_get(meta, "last_recip_count"));
    gint64 until = meta_time(meta, "deliver_until", now);
    if ((gint64)json_array_size(temporary) != last)
      until = now + s->retry_period_usec;
    gint64 attempt =
        json_integer_value(json_object_get(meta, "delivery_attempts")) + 1;
    g_autofree char *until_text = iso_time(until);
    g_autofree char *after_text = iso_time(now + backoff_usec(s, attempt));
    json_object_set(rmeta, "recipients", retry);
    json_object_set_new(rmeta, "last_recip_count",
                        json_integer((json_int_t)json_array_size(temporary)));
    json_object_set_new(rmeta, "deliver_until", json_string(until_text));
    json_object_set_new(rmeta, "deliver_after", json_string(after_text));
    json_object_set_new(rmeta, "delivery_attempts", json_integer(attempt));
    /* A new entry with new recipients: its own journal. */
    json_object_del(rmeta, "delivery_journal");
    g_autofree char *id = mm_queue_enqueue_to(d->queue_root, "retry",
                                              message, rmeta, error);
    if (id == NULL)
      return FALSE;
    if (!mm_delivery_journal_add_step(journal, 'T', error))
      return FALSE;
  }
  return TRUE;
}

/* ---- the SMTP run ---------------------------------------------------------- */

/* Sends to every recipient the journal does not list as accepted; returns
 * the failures as [[index, code, text], ...] (transfer full). */
static json_t *
run_smtp(MmDelivery *d, MmStore *store, const MmList *list,
         MmDeliveryJournal *journal, GPtrArray *recipients, GBytes *message,
         json_t *meta, const char *sender, gboolean verp,
         gboolean individual, gboolean personalized, gboolean personalize_to,
         const char *msgid, guint *transactions_out, guint *connections_out,
         gboolean *interrupted_out)
{
  const MmDeliverySettings *s = &d->settings;
  const char *const *rcpts = (const char *const *)recipients->pdata;
  g_autoptr(GArray) todo = g_array_new(FALSE, FALSE, sizeof(guint));
  for (guint i = 0; i < recipients->len; i++)
    if (!mm_delivery_journal_done(journal, i))
      g_array_append_val(todo, i);

  /* The strategy: one transaction per recipient for VERP and personalized
   * lists (Mailman's Deliver agent), chunks otherwise (BulkDelivery). */
  g_autoptr(GPtrArray) txs =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_delivery_tx_free);
  g_autoptr(GHashTable) vars = NULL;
  if (verp) {
    vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    vars_set(vars, "site_email", s->site_owner);
    if (list != NULL) {
      vars_set(vars, "listname", list->fqdn_listname);
      vars_set(vars, "list_id", list->list_id);
      vars_set(vars, "short_listname", list->list_name);
      vars_set(vars, "display_name", list->display_name);
    }
  }
  if (individual) {
    for (guint k = 0; k < todo->len; k++) {
      guint index = g_array_index(todo, guint, k);
      g_autofree char *verp_sender =
          verp ? mm_delivery_verp_sender(s->verp_format, vars, sender,
                                         rcpts[index])
               : NULL;
      MmDeliveryTx *tx = mm_delivery_tx_new(verp_sender ? verp_sender
                                                        : sender);
      g_array_append_val(tx->indexes, index);
      g_ptr_array_add(txs, tx);
    }
  } else {
    g_autoptr(GPtrArray) chunks = mm_delivery_chunk(
        rcpts, (const guint *)todo->data, todo->len, s->max_recipients);
    for (guint c = 0; c < chunks->len; c++) {
      GArray *chunk = chunks->pdata[c];
      MmDeliveryTx *tx = mm_delivery_tx_new(sender);
      g_array_append_vals(tx->indexes, chunk->data, chunk->len);
      g_ptr_array_add(txs, tx);
    }
  }

  /* The message in wire form: the body once for everyone, the header
   * block once, or per recipient when it differs. */
  g_autoptr(GBytes) raw_head = NULL;
  g_autoptr(GBytes) raw_body = NULL;
  mm_wire_split(message, &raw_head, &raw_body);
  if (individual) {
    GBytes *cleaned = mm_wire_header_remove(raw_head, "X-Mailman-Copy");
    g_bytes_unref(raw_head);
    raw_head = cleaned;
  }
  gsize len = 0;
  const char *bytes = g_bytes_get_data(raw_body, &len);
  g_autoptr(GBytes) body = mm_wire_encode(bytes, len, TRUE);
  bytes = g_bytes_get_data(raw_head, &len);
  /* A message that is all header gets its line end here. */
  g_autoptr(GBytes) head = mm_wire_encode(bytes, len,
                                          g_bytes_get_size(raw_body) == 0);
  g_autoptr(GHashTable) dup = individual ? address_set(meta, "add-dup-header")
                                         : NULL;
  /* Mailman's DecoratingDelivery: personalized lists get a header and
   * footer per copy, except digests and what was decorated already. */
  gboolean decorate = personalized && individual && list != NULL &&
                      d->decorator.prepare != NULL &&
                      !json_is_true(json_object_get(meta, "nodecorate")) &&
                      !json_is_true(json_object_get(meta, "isdigest"));
  /* One roster query serves both the To: values and the decorations. */
  g_autoptr(GHashTable) members =
      (personalize_to || decorate) && list != NULL ? member_facts(store, list)
                                                   : NULL;
  g_autoptr(GHashTable) to =
      personalize_to && members != NULL ? to_values(members) : NULL;
  HeadData head_data = {rcpts, raw_head, head, dup, to};
  g_autofree char *head_log_id = mm_log_escape(msgid, -1);
  gpointer prepared = NULL;
  if (decorate) {
    g_autoptr(GError) prepare_error = NULL;
    prepared = d->decorator.prepare(d->decorator.data, list, message, meta,
                                    &prepare_error);
    if (prepared == NULL) {
      g_autofree char *safe = mm_log_escape(prepare_error->message, -1);
      mm_log_error("smtp", "%s not decorated, sent as it is: %s",
                   head_log_id, safe);
      decorate = FALSE;
    }
  }
  GMutex decorate_lock;
  g_mutex_init(&decorate_lock);
  if (decorate) {
    head_data.members = members;
    head_data.decorator = &d->decorator;
    head_data.prepared = prepared;
    head_data.preferred_language = list->preferred_language;
    head_data.log_id = head_log_id;
    head_data.decorate_lock = &decorate_lock;
  }

  MmDeliveryRun run = {
      .recipients = rcpts,
      .n_recipients = recipients->len,
      .txs = txs,
      .head = head,
      .head_func = (dup != NULL || to != NULL) ? head_for : NULL,
      .head_data = &head_data,
      .message_func = decorate ? message_for : NULL,
      .should_stop = d->should_stop,
      .stop_data = d->stop_data,
      .body = body,
      .eightbit = mm_wire_is_8bit(message),
      .sent = note_sent,
      .commit = commit_results,
      .journal_data = journal,
  };
  MmSmtpStatus *outcomes = g_new0(MmSmtpStatus, recipients->len);
  MmDeliveryStats stats = {0};
  mm_delivery_engine_run(d->engine, &run, outcomes, &stats);
  g_mutex_clear(&decorate_lock);
  if (prepared != NULL)
    d->decorator.release(prepared);

  /* Problems once each, as Mailman logs "low level smtp error" per chunk;
   * the unreachable MTA once until it answers again, as its out runner. */
  g_autofree char *log_id = mm_log_escape(msgid, -1);
  g_autoptr(GHashTable) said = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < stats.problems->len; i++) {
    const char *problem = stats.problems->pdata[i];
    if (!g_hash_table_add(said, (gpointer)problem))
      continue;
    g_autofree char *safe = mm_log_escape(problem, -1);
    mm_log_error("smtp", "%s low level smtp error: %s", log_id, safe);
  }
  if (stats.transactions == 0 && stats.problems->len > 0) {
    if (!d->connect_failure_logged)
      mm_log_error("error", "Cannot connect to SMTP server %s on port %u",
                   s->smtp.host, s->smtp.port);
    d->connect_failure_logged = TRUE;
  } else if (stats.transactions > 0) {
    d->connect_failure_logged = FALSE;
  }
  *transactions_out = stats.transactions;
  *connections_out = stats.connections_opened;
  g_ptr_array_unref(stats.problems);
  *interrupted_out = stats.interrupted > 0;
  if (stats.interrupted > 0) {
    /* Stopped early: the journal holds what was done, and the recipients
     * never tried have no outcome yet.  No failures: the next run
     * resumes. */
    for (guint i = 0; i < recipients->len; i++)
      mm_smtp_status_clear(&outcomes[i]);
    g_free(outcomes);
    return NULL;
  }

  json_t *failures = json_array();
  for (guint k = 0; k < todo->len; k++) {
    guint index = g_array_index(todo, guint, k);
    MmSmtpStatus *st = &outcomes[index];
    if (st->code / 100 != 2) {
      /* A failure lost here would count as delivered: never. */
      json_t *failure = json_pack("[i, i, s]", index,
                                  st->code ? st->code : 444,
                                  st->text ? st->text : "no result");
      g_assert(failure != NULL);
      json_array_append_new(failures, failure);
    }
  }
  for (guint i = 0; i < recipients->len; i++)
    mm_smtp_status_clear(&outcomes[i]);
  g_free(outcomes);
  return failures;
}

/* ---- the entry --------------------------------------------------------------- */

static void
housekeeping(MmDelivery *d)
{
  /* The previous entry was finished by the runner before it claimed this
   * one; its journal has done its job. */
  if (d->finished_journal != NULL) {
    mm_delivery_journal_remove(d->journal_dir, d->finished_journal);
    g_clear_pointer(&d->finished_journal, g_free);
  }
  gint64 now = g_get_monotonic_time();
  if (d->last_sweep == 0 || now - d->last_sweep > SWEEP_INTERVAL_USEC) {
    d->last_sweep = now;
    mm_delivery_journal_sweep(d->journal_dir, DONE_JOURNAL_AGE_USEC,
                              STALE_JOURNAL_AGE_USEC);
  }
}

gboolean
mm_delivery_process(MmDelivery *d, MmStore *store, const char *entry_id,
                    GBytes *message, json_t *meta, GError **error)
{
  const MmDeliverySettings *s = &d->settings;
  housekeeping(d);

  g_autofree char *msgid = NULL;
  if (!mm_message_header_get(message, "Message-ID", &msgid)) {
    g_free(msgid);
    msgid = g_strdup("n/a");
  }
  /* For our own log lines; the templates are escaped once expanded. */
  g_autofree char *log_id = mm_log_escape(msgid, -1);

  if (!mm_delivery_entry_due(meta, g_get_real_time())) {
    /* Not yet: the retry runner holds entries until their time. */
    g_autofree char *id =
        mm_queue_enqueue_to(d->queue_root, "retry", message, meta, error);
    return id != NULL;
  }

  /* The journal follows the entry when it is re-queued under a new id
   * (kept or shunted and unshunted): metadata names it. */
  const char *journal_key = entry_id;
  json_t *named = json_object_get(meta, "delivery_journal");
  if (json_is_string(named) && mm_queue_id_valid(json_string_value(named)))
    journal_key = json_string_value(named);
  g_autofree char *key = g_strdup(journal_key);
  json_object_set_new(meta, "delivery_journal", json_string(key));

  g_autoptr(MmList) list = NULL;
  const char *listid = json_string_value(json_object_get(meta, "listid"));
  if (listid != NULL) {
    g_autoptr(GError) local = NULL;
    if (store == NULL) {
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_INVALID,
                  "no database to look up list %s", listid);
      return FALSE;
    }
    list = mm_store_list_get(store, listid, &local);
    if (list == NULL) {
      if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND)) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
      }
      /* As Mailman's runner: a message for a list that is gone is
       * dropped. */
      g_autofree char *safe = mm_log_escape(listid, -1);
      mm_log_error("smtp", "%s dropping message for missing list %s", log_id,
                   safe);
      return TRUE;
    }
  }

  g_autoptr(GPtrArray) recipients = recipients_of(meta, store, list, error);
  if (recipients == NULL)
    return FALSE;
  if (recipients->len == 0) {
    mm_log_info("smtp", "%s no recipients for %s: nothing to deliver", log_id,
                list ? list->fqdn_listname : "(no list)");
    return TRUE;
  }

  const char *personalize = list ? mm_list_setting(list, "personalize") : NULL;
  gboolean personalized =
      personalize != NULL && *personalize != '\0' &&
      g_ascii_strcasecmp(personalize, "none") != 0;
  gboolean verp = mm_delivery_choose_verp(
      meta, personalized, s->verp_personalized_deliveries,
      s->verp_delivery_interval, list ? list->post_id : 0);
  gboolean individual = verp || personalized;
  const char *sender = json_string_value(json_object_get(meta, "sender"));
  if (sender == NULL)
    sender = list ? mm_list_setting(list, "bounces_address") : s->site_owner;

  g_autofree char *fingerprint = fingerprint_of(recipients);
  g_autoptr(MmDeliveryJournal) journal = mm_delivery_journal_open(
      d->journal_dir, key, recipients->len, fingerprint, error);
  if (journal == NULL)
    return FALSE;
  if (mm_delivery_journal_has_step(journal, 'E')) {
    d->finished_journal = g_strdup(key);
    return TRUE;
  }

  guint resumed = mm_delivery_journal_n_accepted(journal);
  guint in_doubt = mm_delivery_journal_n_in_doubt(journal);
  if (resumed + in_doubt > 0 && mm_delivery_journal_outcome(journal) == NULL)
    mm_log_warning("smtp",
                   "%s resuming an interrupted delivery: %u of %u "
                   "recipients were accepted before, %u more had the final "
                   "dot sent without a reply and count as delivered",
                   log_id, resumed, recipients->len, in_doubt);

  gint64 t0 = g_get_monotonic_time();
  guint transactions = 0, connections = 0;
  gboolean ran = FALSE;
  if (mm_delivery_journal_outcome(journal) == NULL) {
    gboolean interrupted = FALSE;
    g_autoptr(MmJson) failures = run_smtp(
        d, store, list, journal, recipients, message, meta, sender, verp,
        individual, personalized,
        personalized && g_ascii_strcasecmp(personalize, "full") == 0, msgid,
        &transactions, &connections, &interrupted);
    if (interrupted) {
      guint done = mm_delivery_journal_n_accepted(journal) +
                   mm_delivery_journal_n_in_doubt(journal);
      mm_log_warning("smtp",
                     "%s delivery stopped by a stop request: %u of %u "
                     "recipients done, the rest at the next start",
                     log_id, done, recipients->len);
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_INTERRUPTED,
                  "delivery stopped with %u of %u recipients done; it "
                  "resumes from its journal",
                  done, recipients->len);
      return FALSE;
    }
    ran = TRUE;
    if (!mm_delivery_journal_add_outcome(journal, failures, error))
      return FALSE;
  }
  double seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
  json_t *outcome = mm_delivery_journal_outcome(journal);

  Tally tally = {0};
  tally.delivered = recipients->len - (guint)json_array_size(outcome);
  if (!settle(d, journal, list, recipients, message, meta, outcome, msgid,
              &tally, error))
    return FALSE;
  if (!mm_delivery_journal_add_step(journal, 'E', error))
    return FALSE;
  d->finished_journal = g_strdup(key);

  if (ran) {
    /* mailman/mta/deliver.py: "every", then "refused" or "success", then
     * "failure" per refused recipient. */
    g_autofree char *from = sender_for_log(message, meta);
    json_t *size_meta = json_object_get(meta, "original_size");
    gsize size = json_is_integer(size_meta)
                     ? (gsize)json_integer_value(size_meta)
                     : g_bytes_get_size(message);
    g_autoptr(GHashTable) vars =
        log_vars(d, list, msgid, from, recipients->len, size);
    g_hash_table_insert(vars, g_strdup("time"),
                        g_strdup_printf("%.3f", seconds));
    g_hash_table_insert(vars, g_strdup("refused"),
                        g_strdup_printf("%zu", json_array_size(outcome)));
    log_template(s->log_every, vars);
    if (json_array_size(outcome) > 0) {
      log_template(s->log_refused, vars);
    } else {
      /* deliver(): for mail not sent to the list (owner, notices), the
       * success line's $recip is the To and Cc addresses. */
      if (!json_is_true(json_object_get(meta, "to_list"))) {
        g_autofree char *to = NULL;
        g_autofree char *cc = NULL;
        mm_message_header_get(message, "To", &to);
        mm_message_header_get(message, "Cc", &cc);
        g_autofree char *recips = g_strjoin(
            ",", to ? to : "", cc ? cc : NULL, NULL);
        vars_set(vars, "recip", recips);
      }
      log_template(s->log_success, vars);
    }
    size_t i;
    json_t *item;
    json_array_foreach(outcome, i, item) {
      guint index = (guint)json_integer_value(json_array_get(item, 0));
      if (index >= recipients->len)
        continue;
      vars_set(vars, "recip", recipients->pdata[index]);
      g_hash_table_insert(
          vars, g_strdup("smtpcode"),
          g_strdup_printf("%" JSON_INTEGER_FORMAT,
                          json_integer_value(json_array_get(item, 1))));
      vars_set(vars, "smtpmsg", json_string_value(json_array_get(item, 2)));
      log_template(s->log_failure, vars);
    }
  }
  mm_log_info("smtp",
              "%s %s delivery to %s: %u recipients, %u delivered, %u "
              "bounced, %u to retry, %u dropped; %" G_GSIZE_FORMAT
              " bytes, %u transactions over %u new connections, %.3f s",
              log_id, individual ? (verp ? "VERP" : "personalized") : "bulk",
              list ? list->fqdn_listname : "(no list)", recipients->len,
              tally.delivered, tally.bounced, tally.retried, tally.dropped,
              g_bytes_get_size(message), transactions, connections, seconds);
  return TRUE;
}
