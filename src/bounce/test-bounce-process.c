/* Bounce processing over a real SQLite file with an injected clock: events
 * in the bounceevent table, the scoring timeline (threshold, same day,
 * stale reset, warnings, removal), the notices it queues in virgin,
 * process_bounces off, probes, re-enabling, unrecognised bounces.  Months
 * of bounces pass in milliseconds; nothing sleeps.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce.h"

#include <glib/gstdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base-file.h"
#include "mm-test-site.h"
#include "queue.h"
#include "storage-bounces.h"

#define HOUR (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC)
#define DAY (24 * HOUR)
/* 2024-05-01T12:00:00Z */
#define START (G_GINT64_CONSTANT(1714564800) * G_USEC_PER_SEC)

#define LIST "test@example.com"
#define LIST_ID "test.example.com"
#define ANNE "Anne@Example.org"

typedef struct {
  MmTestSite *site; /* owns dir, config, store and list */
  char *dir;
  MmConfig *config;
  MmStore *store;
  MmList *list;
  gint64 now;
  MmBounceProcessor processor;
  guint dsn_count;
} Fixture;

/* A queued notice, read back. */
typedef struct {
  json_t *meta;
  char *text;
} Notice;

static void
notice_free(Notice *notice)
{
  json_decref(notice->meta);
  g_free(notice->text);
  g_free(notice);
}

static gint64
fixture_clock(gpointer data)
{
  return ((Fixture *)data)->now;
}

static void
fixture_init(Fixture *f, const char *extra_cfg)
{
  g_autoptr(GError) error = NULL;
  memset(f, 0, sizeof *f);
  f->site = mm_test_site_new(extra_cfg);
  f->dir = f->site->dir;
  f->config = f->site->config;
  f->store = f->site->store;
  f->list = f->site->list;
  g_assert_true(mm_store_member_add(f->store, LIST, ANNE, "Anne Person",
                                    MM_ROLE_MEMBER, 0, &error));
  g_assert_true(mm_store_member_add(f->store, LIST, "bob@example.org", NULL,
                                    MM_ROLE_MEMBER, 0, &error));
  g_assert_true(mm_store_member_add(f->store, LIST, "owner@example.com",
                                    NULL, MM_ROLE_OWNER, 0, &error));
  g_assert_true(mm_store_member_add(f->store, LIST, "mod@example.com", NULL,
                                    MM_ROLE_MODERATOR, 0, &error));
  g_assert_no_error(error);
  f->now = START;
  f->processor = (MmBounceProcessor){
      .config = f->config,
      .store = f->store,
      .clock = fixture_clock,
      .clock_data = f,
  };
}

static void
fixture_clear(Fixture *f)
{
  mm_test_site_free(f->site);
}

static void
list_set(Fixture *f, const char *name, const char *value)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(mm_store_list_set(f->store, f->list, name, value, &error));
  g_assert_no_error(error);
}

/* A bounce of @email recorded now, with a DSN of its own. */
static void
bounce(Fixture *f, const char *email, MmBounceContext context)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *msgid =
      g_strdup_printf("<dsn-%u@mx.example.net>", ++f->dsn_count);
  g_autofree char *raw = g_strdup_printf(
      "From: MAILER-DAEMON@mx.example.net\nMessage-ID: %s\n"
      "Subject: failure %u\n\nmailbox unavailable\n",
      msgid, f->dsn_count);
  g_autoptr(GBytes) bytes = g_bytes_new(raw, strlen(raw));
  MmBounceEvent event = {.list_id = LIST_ID,
                         .email = (char *)email,
                         .timestamp_usec = f->now,
                         .message_id = msgid,
                         .context = context};
  g_assert_true(mm_bounce_event_record(
      f->store, mm_config_path(f->config, "messages_dir"), &event, bytes,
      &error));
  g_assert_no_error(error);
}

static guint
process(Fixture *f)
{
  g_autoptr(GError) error = NULL;
  guint n = 0;
  g_assert_true(mm_bounce_process_events(&f->processor, &n, &error));
  g_assert_no_error(error);
  g_assert_true(mm_bounce_process_warnings(&f->processor, &error));
  g_assert_no_error(error);
  return n;
}

/* Takes every notice out of virgin, oldest first. */
static GPtrArray *
drain_virgin(Fixture *f)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *notices =
      g_ptr_array_new_with_free_func((GDestroyNotify)notice_free);
  g_autoptr(MmQueue) queue = mm_queue_open(
      mm_config_path(f->config, "queue_dir"), "virgin", 0, 1, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) ids = mm_queue_list(queue, &error);
  g_assert_no_error(error);
  for (guint i = 0; i < ids->len; i++) {
    g_autoptr(MmQueueEntry) entry = mm_queue_claim(queue, ids->pdata[i],
                                                   &error);
    g_assert_no_error(error);
    Notice *notice = g_new0(Notice, 1);
    notice->meta = json_incref(mm_queue_entry_meta(entry));
    GBytes *bytes = mm_queue_entry_message(entry);
    notice->text =
        g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    if (g_getenv("MM_SHOW_NOTICES") != NULL)
    {
      char *dump = json_dumps(notice->meta, JSON_SORT_KEYS);
      g_printerr("----- %s\n%s\n", dump, notice->text);
      free(dump);
    }
    g_ptr_array_add(notices, notice);
    g_assert_true(mm_queue_entry_finish(queue, entry, &error));
  }
  return notices;
}

static const char *
notice_recipient(const Notice *notice, guint i)
{
  return json_string_value(
      json_array_get(json_object_get(notice->meta, "recipients"), i));
}

static gboolean
notice_has(const Notice *notice, const char *text)
{
  return strstr(notice->text, text) != NULL;
}

static MmStoreMemberBounce *
state_of(Fixture *f, const char *email)
{
  g_autoptr(GError) error = NULL;
  MmStoreMemberBounce *member =
      mm_store_member_bounce_get(f->store, LIST, email, &error);
  g_assert_no_error(error);
  return member;
}

static MmDeliveryStatus
status_of(Fixture *f, const char *email)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(MmMember) member =
      mm_store_member_get(f->store, LIST, email, MM_ROLE_MEMBER, &error);
  g_assert_no_error(error);
  return member->delivery_status;
}

/* ---- events in the database ------------------------------------------- */

static void
test_record(void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  fixture_init(&f, NULL);
  bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
  f.now += HOUR;
  bounce(&f, "gone@example.net", MM_BOUNCE_CONTEXT_PROBE);

  g_autoptr(GPtrArray) events =
      mm_store_bounce_events_for(f.store, LIST, NULL, 10, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(events->len, ==, 2);
  const MmStoreBounceEvent *newest = events->pdata[0];
  const MmStoreBounceEvent *oldest = events->pdata[1];
  g_assert_cmpstr(oldest->email, ==, ANNE);
  g_assert_cmpstr(oldest->list_id, ==, LIST_ID);
  g_assert_cmpint(oldest->timestamp_usec, ==, START);
  g_assert_cmpstr(oldest->message_id, ==, "<dsn-1@mx.example.net>");
  g_assert_cmpint(oldest->context, ==, MM_STORE_BOUNCE_CONTEXT_NORMAL);
  g_assert_false(oldest->processed);
  g_assert_cmpint(newest->context, ==, MM_STORE_BOUNCE_CONTEXT_PROBE);

  /* Kept in the message store for the notices. */
  g_autoptr(GBytes) dsn = mm_store_message_get(
      f.store, mm_config_path(f.config, "messages_dir"),
      "<dsn-1@mx.example.net>", &error);
  g_assert_no_error(error);
  g_assert_nonnull(dsn);

  /* The address lookup ignores case. */
  g_autoptr(GPtrArray) anne =
      mm_store_bounce_events_for(f.store, LIST, "anne@example.org", 10,
                                 &error);
  g_assert_cmpuint(anne->len, ==, 1);

  /* A probe event for a non-member and a normal one: both processed,
   * nothing else happens. */
  g_assert_cmpuint(process(&f), ==, 2);
  g_autoptr(GPtrArray) left =
      mm_store_bounce_events_unprocessed(f.store, 10, &error);
  g_assert_cmpuint(left->len, ==, 0);
  g_autoptr(MmStoreMemberBounce) state = state_of(&f, ANNE);
  g_assert_cmpint(state->bounce_score, ==, 1);
  g_assert_cmpint(state->last_bounce_received_usec, ==, START);
  g_autoptr(GPtrArray) notices = drain_virgin(&f);
  g_assert_cmpuint(notices->len, ==, 0);

  /* A claimed event is not claimed twice. */
  gboolean claimed = TRUE;
  g_assert_true(mm_store_bounce_event_claim(f.store, oldest->id, &claimed,
                                            &error));
  g_assert_false(claimed);
  fixture_clear(&f);
}

/* An event for a list removed since is dropped. */
static void
test_list_gone(void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  fixture_init(&f, NULL);
  bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
  g_assert_true(mm_store_list_remove(f.store, LIST, &error));
  g_assert_cmpuint(process(&f), ==, 1);
  g_autoptr(GPtrArray) left =
      mm_store_bounce_events_unprocessed(f.store, 10, &error);
  g_assert_cmpuint(left->len, ==, 0);
  fixture_clear(&f);
}

/* ---- the timeline ------------------------------------------------------- */

static void
test_timeline(void)
{
  Fixture f;
  fixture_init(&f, NULL);

  /* Four bounces on four days: the score climbs, nothing is sent. */
  for (int day = 1; day <= 4; day++) {
    bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
    /* A second bounce the same day does not count. */
    f.now += HOUR;
    bounce(&f, "anne@example.org", MM_BOUNCE_CONTEXT_NORMAL);
    process(&f);
    g_autoptr(MmStoreMemberBounce) state = state_of(&f, ANNE);
    g_assert_cmpint(state->bounce_score, ==, day);
    g_assert_cmpint(state->last_bounce_received_usec, ==, f.now);
    g_assert_cmpint(status_of(&f, ANNE), ==, MM_STATUS_ENABLED);
    g_autoptr(GPtrArray) none = drain_virgin(&f);
    g_assert_cmpuint(none->len, ==, 0);
    f.now += DAY - HOUR;
  }

  /* The fifth reaches the threshold: delivery is disabled, the owners
   * hear about it with the bounce attached, the member gets the first
   * warning at once. */
  bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
  process(&f);
  g_assert_cmpint(status_of(&f, ANNE), ==, MM_STATUS_BY_BOUNCES);
  g_assert_cmpint(status_of(&f, "bob@example.org"), ==, MM_STATUS_ENABLED);
  {
    g_autoptr(GPtrArray) notices = drain_virgin(&f);
    g_assert_cmpuint(notices->len, ==, 2);
    const Notice *owners = notices->pdata[0];
    g_assert_cmpstr(notice_recipient(owners, 0), ==, "owner@example.com");
    g_assert_cmpstr(notice_recipient(owners, 1), ==, "mod@example.com");
    g_assert_cmpstr(
        json_string_value(json_object_get(owners->meta, "envsender")), ==,
        "siteowner@example.net");
    g_assert_cmpstr(
        json_string_value(json_object_get(owners->meta, "listid")), ==,
        LIST_ID);
    g_assert_true(notice_has(owners, "From: siteowner@example.net"));
    g_assert_true(notice_has(owners, "To: test-owner@example.com"));
    g_assert_true(notice_has(owners, "subscription disabled on Test"));
    g_assert_true(notice_has(owners, "Anne Person <Anne@Example.org>"));
    g_assert_true(notice_has(owners, "message/rfc822"));
    g_assert_true(notice_has(owners, "Subject: failure 9"));

    const Notice *warning = notices->pdata[1];
    g_assert_cmpstr(notice_recipient(warning, 0), ==, ANNE);
    g_assert_true(notice_has(warning, "From: test-bounces@example.com"));
    g_assert_true(notice_has(warning, "has been disabled"));
  }
  g_autoptr(MmStoreMemberBounce) disabled = state_of(&f, ANNE);
  g_assert_cmpint(disabled->bounce_score, ==, 5);
  g_assert_cmpint(disabled->total_warnings_sent, ==, 1);
  g_assert_cmpint(disabled->last_warning_sent_usec, ==, f.now);

  /* More bounces are residual; warnings come every seven days. */
  f.now += DAY;
  bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
  process(&f);
  {
    g_autoptr(GPtrArray) none = drain_virgin(&f);
    g_assert_cmpuint(none->len, ==, 0);
  }
  f.now += 6 * DAY;
  process(&f);
  {
    g_autoptr(GPtrArray) second = drain_virgin(&f);
    g_assert_cmpuint(second->len, ==, 1);
    g_assert_cmpstr(notice_recipient(second->pdata[0], 0), ==, ANNE);
  }
  f.now += 7 * DAY - 1;
  process(&f);
  {
    g_autoptr(GPtrArray) early = drain_virgin(&f);
    g_assert_cmpuint(early->len, ==, 0);
  }
  f.now += 1;
  process(&f);
  {
    g_autoptr(GPtrArray) third = drain_virgin(&f);
    g_assert_cmpuint(third->len, ==, 1);
  }
  g_autoptr(MmStoreMemberBounce) warned = state_of(&f, ANNE);
  g_assert_cmpint(warned->total_warnings_sent, ==, 3);

  /* Seven days after the third warning: removed, with a goodbye to the
   * member and the removal notice to the owners. */
  f.now += 7 * DAY;
  process(&f);
  g_autoptr(GError) error = NULL;
  g_autoptr(MmMember) gone =
      mm_store_member_get(f.store, LIST, ANNE, MM_ROLE_MEMBER, &error);
  g_assert_null(gone);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  {
    g_autoptr(GPtrArray) notices = drain_virgin(&f);
    g_assert_cmpuint(notices->len, ==, 2);
    const Notice *goodbye = notices->pdata[0];
    g_assert_cmpstr(notice_recipient(goodbye, 0), ==, ANNE);
    g_assert_true(notice_has(goodbye, "unsubscribed from the Test mailing"));
    const Notice *removal = notices->pdata[1];
    g_assert_cmpstr(notice_recipient(removal, 0), ==, "owner@example.com");
    g_assert_true(notice_has(removal, "due to bounces"));
    g_assert_false(notice_has(removal, "message/rfc822"));
  }
  /* Nothing more, ever. */
  f.now += 30 * DAY;
  process(&f);
  g_autoptr(GPtrArray) after = drain_virgin(&f);
  g_assert_cmpuint(after->len, ==, 0);
  fixture_clear(&f);
}

/* bounce_info_stale_after: a bounce after a quiet week starts over. */
static void
test_stale(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  list_set(&f, "bounce_info_stale_after", "3d");
  for (int i = 0; i < 3; i++) {
    bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
    f.now += DAY;
  }
  process(&f);
  g_autoptr(MmStoreMemberBounce) three = state_of(&f, ANNE);
  g_assert_cmpint(three->bounce_score, ==, 3);
  /* Last bounce at START + 2 days; three days later exactly is not yet
   * stale (strictly older), a second later is. */
  f.now = START + 5 * DAY;
  bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
  process(&f);
  g_autoptr(MmStoreMemberBounce) four = state_of(&f, ANNE);
  g_assert_cmpint(four->bounce_score, ==, 4);
  f.now += 3 * DAY + 1;
  bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
  process(&f);
  g_autoptr(MmStoreMemberBounce) reset = state_of(&f, ANNE);
  g_assert_cmpint(reset->bounce_score, ==, 1);
  g_assert_cmpint(status_of(&f, ANNE), ==, MM_STATUS_ENABLED);
  fixture_clear(&f);
}

/* Owner notices follow the list's three switches. */
static void
test_owner_switches(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  list_set(&f, "bounce_score_threshold", "2");
  list_set(&f, "bounce_notify_owner_on_bounce_increment", "True");
  list_set(&f, "bounce_notify_owner_on_disable", "False");
  list_set(&f, "bounce_notify_owner_on_removal", "False");
  list_set(&f, "bounce_you_are_disabled_warnings", "0");

  bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
  process(&f);
  {
    g_autoptr(GPtrArray) notices = drain_virgin(&f);
    g_assert_cmpuint(notices->len, ==, 1);
    g_assert_true(notice_has(notices->pdata[0], "bounce score incremented"));
    g_assert_true(notice_has(notices->pdata[0], "Subject: failure 1"));
  }
  /* The second disables (increment notice, no disable notice) and, with
   * no warnings configured, removes at once; without removal notices and
   * admin_notify_mchanges off, the owners hear nothing more. */
  f.now += DAY;
  bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
  process(&f);
  {
    g_autoptr(GPtrArray) notices = drain_virgin(&f);
    g_assert_cmpuint(notices->len, ==, 2);
    g_assert_true(notice_has(notices->pdata[0], "bounce score incremented"));
    g_assert_cmpstr(notice_recipient(notices->pdata[1], 0), ==, ANNE);
    g_assert_true(notice_has(notices->pdata[1], "unsubscribed from"));
  }
  g_autoptr(GError) error = NULL;
  g_autoptr(MmStoreMemberBounce) removed =
      mm_store_member_bounce_get(f.store, LIST, ANNE, &error);
  g_assert_null(removed);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* With admin_notify_mchanges, the generic unsubscription notice. */
  list_set(&f, "admin_notify_mchanges", "True");
  f.now += DAY;
  bounce(&f, "bob@example.org", MM_BOUNCE_CONTEXT_NORMAL);
  f.now += DAY;
  bounce(&f, "bob@example.org", MM_BOUNCE_CONTEXT_NORMAL);
  process(&f);
  {
    g_autoptr(GPtrArray) notices = drain_virgin(&f);
    g_assert_cmpuint(notices->len, ==, 4);
    g_assert_true(notice_has(notices->pdata[3],
                             "Test unsubscription notification"));
    g_assert_cmpstr(notice_recipient(notices->pdata[3], 0), ==,
                    "owner@example.com");
  }
  fixture_clear(&f);
}

/* process_bounces off: the events are recorded and marked processed,
 * nothing else changes, no notice goes out. */
static void
test_process_bounces_off(void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  fixture_init(&f, NULL);
  list_set(&f, "process_bounces", "False");
  for (int i = 0; i < 6; i++) {
    bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
    f.now += DAY;
  }
  bounce(&f, ANNE, MM_BOUNCE_CONTEXT_PROBE);
  g_assert_cmpuint(process(&f), ==, 7);
  g_autoptr(GPtrArray) all =
      mm_store_bounce_events_for(f.store, LIST, ANNE, 100, &error);
  g_assert_cmpuint(all->len, ==, 7);
  for (guint i = 0; i < all->len; i++)
    g_assert_true(((MmStoreBounceEvent *)all->pdata[i])->processed);
  g_autoptr(MmStoreMemberBounce) state = state_of(&f, ANNE);
  g_assert_cmpint(state->bounce_score, ==, 0);
  g_assert_cmpint(state->last_bounce_received_usec, ==,
                  MM_STORE_BOUNCE_NEVER);
  g_assert_cmpint(status_of(&f, ANNE), ==, MM_STATUS_ENABLED);
  g_autoptr(GPtrArray) notices = drain_virgin(&f);
  g_assert_cmpuint(notices->len, ==, 0);

  /* A member disabled by bounces before the switch is neither warned nor
   * removed while it is off. */
  g_assert_true(mm_store_member_set_delivery_status(
      f.store, LIST, ANNE, MM_STATUS_BY_BOUNCES, &error));
  f.now += 60 * DAY;
  process(&f);
  g_autoptr(GPtrArray) still = drain_virgin(&f);
  g_assert_cmpuint(still->len, ==, 0);
  g_assert_cmpint(status_of(&f, ANNE), ==, MM_STATUS_BY_BOUNCES);
  fixture_clear(&f);
}

/* Re-enabling clears the state; the next bounce starts from 1. */
static void
test_reenable(void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  fixture_init(&f, NULL);
  for (int i = 0; i < 5; i++) {
    bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
    f.now += DAY;
  }
  process(&f);
  g_assert_cmpint(status_of(&f, ANNE), ==, MM_STATUS_BY_BOUNCES);
  g_autoptr(GPtrArray) notices = drain_virgin(&f);

  gboolean was = FALSE;
  g_assert_true(
      mm_bounce_member_reenable(f.store, LIST_ID, "ANNE@example.org", &was,
                                &error));
  g_assert_no_error(error);
  g_assert_true(was);
  g_assert_cmpint(status_of(&f, ANNE), ==, MM_STATUS_ENABLED);
  g_autoptr(MmStoreMemberBounce) state = state_of(&f, ANNE);
  g_assert_cmpint(state->bounce_score, ==, 0);
  g_assert_cmpint(state->total_warnings_sent, ==, 0);
  g_assert_cmpint(state->last_bounce_received_usec, ==,
                  MM_STORE_BOUNCE_NEVER);
  g_assert_cmpint(state->last_warning_sent_usec, ==, MM_STORE_BOUNCE_NEVER);

  bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
  process(&f);
  g_autoptr(MmStoreMemberBounce) again = state_of(&f, ANNE);
  g_assert_cmpint(again->bounce_score, ==, 1);

  /* A member who stopped delivery herself stays stopped. */
  g_assert_true(mm_store_member_set_delivery_status(
      f.store, LIST, "bob@example.org", MM_STATUS_BY_USER, &error));
  g_assert_true(mm_bounce_member_reenable(f.store, LIST, "bob@example.org",
                                          &was, &error));
  g_assert_false(was);
  g_assert_cmpint(status_of(&f, "bob@example.org"), ==, MM_STATUS_BY_USER);

  g_assert_false(mm_bounce_member_reenable(f.store, LIST,
                                           "nobody@example.org", &was,
                                           &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  fixture_clear(&f);
}

/* verp_probes: the threshold sends a probe instead of disabling; a bounce
 * of the probe disables at once. */
static void
test_probe(void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  fixture_init(&f, "[mta]\nverp_probes: yes\n");
  for (int i = 0; i < 5; i++) {
    bounce(&f, ANNE, MM_BOUNCE_CONTEXT_NORMAL);
    f.now += DAY;
  }
  process(&f);
  g_assert_cmpint(status_of(&f, ANNE), ==, MM_STATUS_ENABLED);
  g_autoptr(MmStoreMemberBounce) reset = state_of(&f, ANNE);
  g_assert_cmpint(reset->bounce_score, ==, 0);

  g_autoptr(GPtrArray) notices = drain_virgin(&f);
  g_assert_cmpuint(notices->len, ==, 1);
  const Notice *probe = notices->pdata[0];
  g_assert_cmpstr(notice_recipient(probe, 0), ==, ANNE);
  const char *token =
      json_string_value(json_object_get(probe->meta, "probe_token"));
  g_assert_nonnull(token);
  g_assert_cmpuint(strlen(token), ==, 40);
  g_autofree char *sender =
      g_strdup_printf("test-bounces+%s@example.com", token);
  g_assert_cmpstr(json_string_value(json_object_get(probe->meta, "sender")),
                  ==, sender);
  g_assert_true(json_is_false(json_object_get(probe->meta, "verp")));
  g_assert_true(notice_has(probe, "Test mailing list probe message"));
  g_assert_true(notice_has(probe, "Subject: failure 5"));

  /* The probe's token names Anne, once. */
  g_autofree char *who =
      mm_bounce_probe_resolve(f.store, f.list, token, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(who, ==, ANNE);
  g_autofree char *again =
      mm_bounce_probe_resolve(f.store, f.list, token, &error);
  g_assert_no_error(error);
  g_assert_null(again);
  g_autofree char *bogus = mm_bounce_probe_resolve(
      f.store, f.list, "0123456789012345678901234567890123456789", &error);
  g_assert_no_error(error);
  g_assert_null(bogus);

  /* The probe bounced: conclusive, the same day or not. */
  bounce(&f, who, MM_BOUNCE_CONTEXT_PROBE);
  process(&f);
  g_assert_cmpint(status_of(&f, ANNE), ==, MM_STATUS_BY_BOUNCES);
  g_autoptr(GPtrArray) after = drain_virgin(&f);
  g_assert_cmpuint(after->len, ==, 2); /* owners' disable, first warning */
  fixture_clear(&f);
}

/* A probe token of another list does not resolve there; a pending that is
 * not a probe's is left alone. */
static void
test_probe_other_list(void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  fixture_init(&f, NULL);
  g_autofree char *token = mm_bounce_probe_send(
      f.config, f.store, f.list, ANNE, "<x@example.net>", NULL, &error);
  g_assert_no_error(error);
  g_autoptr(MmList) other =
      mm_store_list_create(f.store, "other", "example.com", NULL, &error);
  g_assert_no_error(error);
  g_autofree char *there =
      mm_bounce_probe_resolve(f.store, other, token, &error);
  g_assert_null(there);
  g_assert_no_error(error);

  g_autofree char *pending =
      mm_store_pending_add(f.store, "held message", NULL, 3600, &error);
  g_assert_no_error(error);
  g_autofree char *not_probe =
      mm_bounce_probe_resolve(f.store, f.list, pending, &error);
  g_assert_null(not_probe);
  g_autoptr(GHashTable) kept =
      mm_store_pending_get(f.store, pending, FALSE, &error);
  g_assert_no_error(error);
  g_assert_nonnull(kept);
  fixture_clear(&f);
}

/* ---- unrecognised bounces ------------------------------------------------ */

static void
test_unrecognized(void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  fixture_init(&f, NULL);
  const char *raw = "From: someone@example.net\nSubject: odd\n"
                    "Message-ID: <odd@example.net>\n\ncaf\xc3\xa9\n";
  g_autoptr(GBytes) bytes = g_bytes_new_static(raw, strlen(raw));
  gboolean discarded = TRUE;
  g_assert_true(mm_bounce_forward_unrecognized(f.config, f.store, f.list,
                                               bytes, &discarded, &error));
  g_assert_no_error(error);
  g_assert_false(discarded);
  {
    g_autoptr(GPtrArray) notices = drain_virgin(&f);
    g_assert_cmpuint(notices->len, ==, 1);
    const Notice *n = notices->pdata[0];
    g_assert_cmpstr(notice_recipient(n, 0), ==, "owner@example.com");
    g_assert_cmpstr(notice_recipient(n, 1), ==, "mod@example.com");
    g_assert_true(notice_has(n, "Subject: Uncaught bounce notification"));
    g_assert_true(notice_has(n, "To: test-owner@example.com"));
    g_assert_true(notice_has(n, "message/rfc822"));
    g_assert_true(notice_has(n, "<odd@example.net>"));
  }
  list_set(&f, "forward_unrecognized_bounces_to", "site_owner");
  g_assert_true(mm_bounce_forward_unrecognized(f.config, f.store, f.list,
                                               bytes, &discarded, &error));
  {
    g_autoptr(GPtrArray) notices = drain_virgin(&f);
    g_assert_cmpuint(notices->len, ==, 1);
    g_assert_cmpstr(notice_recipient(notices->pdata[0], 0), ==,
                    "siteowner@example.net");
    g_assert_true(notice_has(notices->pdata[0], "To: siteowner@example.net"));
  }
  list_set(&f, "forward_unrecognized_bounces_to", "discard");
  g_assert_true(mm_bounce_forward_unrecognized(f.config, f.store, f.list,
                                               bytes, &discarded, &error));
  g_assert_true(discarded);
  g_autoptr(GPtrArray) none = drain_virgin(&f);
  g_assert_cmpuint(none->len, ==, 0);
  fixture_clear(&f);
}

static void
test_format_address(void)
{
  /* Exposed through the notices: formataddr's quoting. */
  Fixture f;
  g_autoptr(GError) error = NULL;
  fixture_init(&f, NULL);
  g_assert_true(mm_store_member_add(f.store, LIST, "carl@example.org",
                                    "Carl, Jr.", MM_ROLE_MEMBER, 0, &error));
  list_set(&f, "bounce_score_threshold", "1");
  bounce(&f, "carl@example.org", MM_BOUNCE_CONTEXT_NORMAL);
  process(&f);
  g_autoptr(GPtrArray) notices = drain_virgin(&f);
  g_assert_cmpuint(notices->len, ==, 2);
  g_assert_true(notice_has(notices->pdata[0],
                           "\"Carl, Jr.\" <carl@example.org>"));
  fixture_clear(&f);
}

static void
test_runner_clock(void)
{
  g_setenv("MAILMAN_TEST_NOW", "1714564800", TRUE);
  g_assert_cmpint(mm_bounce_clock_runner(NULL), ==, START);
  g_setenv("MAILMAN_TEST_NOW", "2024-05-01T12:00:00.5Z", TRUE);
  g_assert_cmpint(mm_bounce_clock_runner(NULL), ==, START + 500000);
  g_setenv("MAILMAN_TEST_NOW", "not a time", TRUE);
  gint64 now = g_get_real_time();
  g_assert_cmpint(mm_bounce_clock_runner(NULL), >=, now);
  g_unsetenv("MAILMAN_TEST_NOW");
  g_assert_cmpint(mm_bounce_clock_runner(NULL), >=, now);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/bounce/process/record", test_record);
  g_test_add_func("/bounce/process/list-gone", test_list_gone);
  g_test_add_func("/bounce/process/timeline", test_timeline);
  g_test_add_func("/bounce/process/stale", test_stale);
  g_test_add_func("/bounce/process/owner-switches", test_owner_switches);
  g_test_add_func("/bounce/process/process-bounces-off",
                  test_process_bounces_off);
  g_test_add_func("/bounce/process/reenable", test_reenable);
  g_test_add_func("/bounce/process/probe", test_probe);
  g_test_add_func("/bounce/process/probe-other-list", test_probe_other_list);
  g_test_add_func("/bounce/process/unrecognized", test_unrecognized);
  g_test_add_func("/bounce/process/format-address", test_format_address);
  g_test_add_func("/bounce/process/runner-clock", test_runner_clock);
  return g_test_run();
}
