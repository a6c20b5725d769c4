/* Tests for the chains: real messages through the posting chain on a real
 * site (database, queues, message store in a temporary directory),
 * asserting the chain taken, the rule hits and misses, the headers, what
 * was queued where, and the moderator's decisions on held posts.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

#include <glib/gstdio.h>
#include <string.h>

#include "mm-test-site.h"

#include "queue.h"

typedef struct {
  MmTestSite *site; /* owns dir, config, store and list */
  char *dir;
  MmConfig *config;
  MmStore *store;
  MmList *list;
  MmDmarcResolver *resolver;
} Fixture;

#define ALL_MISSES                                                            \
  "dmarc-mitigation; no-senders; approved; emergency; loop; banned-address; " \
  "member-moderation; nonmember-moderation; administrivia; implicit-dest; "   \
  "max-recipients; max-size; news-moderation; no-subject; digests; "          \
  "suspicious-header"

/* @data: extra configuration text, or NULL. */
static void
fixture_setup(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  /* Extra text starting with a section goes at the end; anything else
   * belongs to [mailman]. */
  const char *extra = data != NULL ? data : "";
  gboolean sections = extra[0] == '[';
  f->site = mm_test_site_new_full("admin@example.com", sections ? "" : extra,
                                  sections ? extra : "");
  f->dir = f->site->dir;
  f->config = f->site->config;
  f->store = f->site->store;
  f->list = f->site->list;
  g_assert_no_error(error);
  g_assert_true(mm_store_member_add(f->store, "test@example.com",
                                    "anne@example.com", "Anne Person",
                                    MM_ROLE_MEMBER, 0, &error));
  g_assert_true(mm_store_member_add(f->store, "test@example.com",
                                    "owner@example.com", NULL, MM_ROLE_OWNER,
                                    0, &error));
  g_assert_true(mm_store_member_add(f->store, "test@example.com",
                                    "mod@example.com", NULL,
                                    MM_ROLE_MODERATOR, 0, &error));
  g_autofree char *fixture =
      g_build_filename(MM_TEST_DATA, "dns-fixture.txt", NULL);
  f->resolver = mm_dmarc_resolver_new_from_file(fixture, &error);
  g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  g_clear_pointer(&f->resolver, mm_dmarc_resolver_free);
  g_clear_pointer(&f->site, mm_test_site_free);
}

static void
set(Fixture *f, const char *name, const char *value)
{
  GError *error = NULL;
  g_assert_true(mm_store_list_set(f->store, f->list, name, value, &error));
  g_assert_no_error(error);
}

static GBytes *
load(const char *name)
{
  g_autofree char *path = g_build_filename(MM_TEST_DATA, name, NULL);
  char *data;
  gsize len;
  g_assert_true(g_file_get_contents(path, &data, &len, NULL));
  return g_bytes_new_take(data, len);
}

/* Runs @bytes through @chain; returns the post (for its metadata) and
 * the terminal chain taken in @taken_out. */
static MmPost *
run_bytes(Fixture *f, GBytes *bytes, const char *chain,
          const char **taken_out)
{
  json_t *meta = json_pack("{s:s, s:I, s:b}", "listid", f->list->list_id,
                           "original_size",
                           (json_int_t)g_bytes_get_size(bytes), "to_list", 1);
  MmPost *post = mm_rules_post_new(f->config, f->store, f->list, bytes, meta);
  json_decref(meta);
  post->resolver = f->resolver;
  GError *error = NULL;
  g_assert_true(mm_chains_process(post, chain, taken_out, &error));
  g_assert_no_error(error);
  return post;
}

static MmPost *
run(Fixture *f, const char *file, const char **taken_out)
{
  g_autoptr(GBytes) bytes = load(file);
  return run_bytes(f, bytes, "default-posting-chain", taken_out);
}

typedef struct {
  GBytes *message;
  json_t *meta;
} Entry;

static void
entry_free(Entry *entry)
{
  g_bytes_unref(entry->message);
  json_decref(entry->meta);
  g_free(entry);
}

/* The entries of queue @name, oldest first (GPtrArray of Entry). */
static GPtrArray *
queue_entries(Fixture *f, const char *name)
{
  GError *error = NULL;
  g_autoptr(MmQueue) queue = mm_queue_open(
      mm_config_path(f->config, "queue_dir"), name, 0, 1, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) ids = mm_queue_list(queue, &error);
  g_assert_no_error(error);
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)entry_free);
  for (guint i = 0; i < ids->len; i++) {
    g_autofree char *path = g_strdup_printf("%s/%s.pck", mm_queue_dir(queue),
                                            (char *)ids->pdata[i]);
    Entry *entry = g_new0(Entry, 1);
    g_assert_true(
        mm_queue_file_read(path, &entry->message, &entry->meta, &error));
    g_ptr_array_add(out, entry);
  }
  return out;
}

static char *
text_of(GBytes *bytes)
{
  return g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
}

static char *
header_of(GBytes *bytes, const char *name)
{
  g_autoptr(MmPost) post = mm_rules_post_new(NULL, NULL, NULL, bytes, NULL);
  return mm_rules_post_header(post, name);
}

static char *
joined(json_t *array)
{
  GString *out = g_string_new(NULL);
  size_t i;
  json_t *value;
  json_array_foreach(array, i, value)
  {
    if (out->len > 0)
      g_string_append(out, "; ");
    g_string_append(out, json_string_value(value));
  }
  return g_string_free(out, FALSE);
}

static void
assert_rules(MmPost *post, const char *hits, const char *misses)
{
  g_autofree char *h = joined(json_object_get(post->meta, "rule_hits"));
  g_autofree char *m = joined(json_object_get(post->meta, "rule_misses"));
  g_assert_cmpstr(h, ==, hits);
  g_assert_cmpstr(m, ==, misses);
}

static guint
queue_count(Fixture *f, const char *name)
{
  g_autoptr(GPtrArray) entries = queue_entries(f, name);
  return entries->len;
}

/* ---- Accept --------------------------------------------------------------- */

static void
test_member_accepted(Fixture *f, gconstpointer data)
{
  static const char *const files[] = {"member-plain.eml", "html-only.eml",
                                      "signed.eml"};
  for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
    const char *taken = NULL;
    g_autoptr(MmPost) post = run(f, files[i], &taken);
    g_assert_cmpstr(taken, ==, "accept");
    assert_rules(post, "", ALL_MISSES);
  }
  g_autoptr(GPtrArray) pipeline = queue_entries(f, "pipeline");
  g_assert_cmpuint(pipeline->len, ==, 3);
  g_assert_cmpuint(queue_count(f, "virgin"), ==, 0);
  Entry *entry = pipeline->pdata[0];
  g_autofree char *misses =
      header_of(entry->message, "X-Mailman-Rule-Misses");
  g_assert_cmpstr(misses, ==, ALL_MISSES);
  g_autofree char *hits = header_of(entry->message, "X-Mailman-Rule-Hits");
  g_assert_null(hits);
  g_assert_cmpstr(json_string_value(json_object_get(entry->meta, "listid")),
                  ==, "test.example.com");
  g_assert_cmpuint(json_array_size(json_object_get(entry->meta, "rule_misses")),
                   ==, 16);
  /* The body is passed on byte for byte. */
  g_autofree char *text = text_of(entry->message);
  g_assert_true(g_str_has_suffix(
      text, "\nHello everyone,\n\nshall we meet on Saturday?\n\nAnne\n"));
  /* A member post does not make nonmembers. */
  g_autoptr(GError) error = NULL;
  g_autoptr(MmMember) nonmember =
      mm_store_member_get(f->store, "test@example.com", "anne@example.com",
                          MM_ROLE_NONMEMBER, &error);
  g_assert_null(nonmember);
}

static void
test_approved_accepted(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_true(mm_store_list_set_moderator_password(
      f->store, "test@example.com", "s3cr3t pass", &error));
  const char *taken = NULL;
  g_autoptr(MmPost) post = run(f, "approved-header.eml", &taken);
  g_assert_cmpstr(taken, ==, "accept");
  assert_rules(post, "approved", "dmarc-mitigation; no-senders");
  g_autoptr(GPtrArray) pipeline = queue_entries(f, "pipeline");
  g_assert_cmpuint(pipeline->len, ==, 1);
  Entry *entry = pipeline->pdata[0];
  g_autofree char *approved = header_of(entry->message, "Approved");
  g_assert_null(approved);
  g_autofree char *hits = header_of(entry->message, "X-Mailman-Rule-Hits");
  g_assert_cmpstr(hits, ==, "approved");
  g_assert_true(json_is_true(json_object_get(entry->meta, "has_approved")));
}

static void
test_moderation_accept(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_true(mm_store_member_set_moderation_action(
      f->store, "test@example.com", "anne@example.com", MM_ROLE_MEMBER,
      MM_ACTION_ACCEPT, &error));
  const char *taken = NULL;
  /* No subject would be held, but the member's accept comes first. */
  g_autoptr(MmPost) post = run(f, "no-subject.eml", &taken);
  g_assert_cmpstr(taken, ==, "accept");
  assert_rules(post, "member-moderation",
               "dmarc-mitigation; no-senders; approved; emergency; loop; "
               "banned-address");
  g_assert_cmpuint(queue_count(f, "pipeline"), ==, 1);
}

static void
test_owner_chain(Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) bytes = load("owner.eml");
  const char *taken = NULL;
  g_autoptr(MmPost) post =
      run_bytes(f, bytes, "default-owner-chain", &taken);
  g_assert_cmpstr(taken, ==, "default-owner-chain");
  assert_rules(post, "", "");
  g_autoptr(GPtrArray) pipeline = queue_entries(f, "pipeline");
  g_assert_cmpuint(pipeline->len, ==, 1);
  Entry *entry = pipeline->pdata[0];
  g_assert_true(json_is_true(json_object_get(entry->meta, "to_owner")));
  /* Unchanged: no rule headers. */
  g_assert_true(g_bytes_equal(entry->message, bytes));
  /* Nobody became a nonmember. */
  g_autoptr(GError) error = NULL;
  g_autoptr(MmMember) nonmember =
      mm_store_member_get(f->store, "test@example.com", "bart@example.org",
                          MM_ROLE_NONMEMBER, &error);
  g_assert_null(nonmember);
}

/* ---- Discard and reject --------------------------------------------------- */

static void
test_discards(Fixture *f, gconstpointer data)
{
  const char *taken = NULL;
  g_autoptr(MmPost) loop = run(f, "loop.eml", &taken);
  g_assert_cmpstr(taken, ==, "discard");
  assert_rules(loop, "loop",
               "dmarc-mitigation; no-senders; approved; emergency");
  g_autoptr(MmPost) nosender = run(f, "malformed-sender.eml", &taken);
  g_assert_cmpstr(taken, ==, "discard");
  assert_rules(nosender, "no-senders", "dmarc-mitigation");

  GError *error = NULL;
  g_assert_true(mm_store_ban_add(f->store, NULL, "^bart@", &error));
  g_autoptr(MmPost) banned = run(f, "nonmember-attachment.eml", &taken);
  g_assert_cmpstr(taken, ==, "discard");
  assert_rules(banned, "banned-address",
               "dmarc-mitigation; no-senders; approved; emergency; loop");
  g_assert_cmpuint(queue_count(f, "pipeline"), ==, 0);
  g_assert_cmpuint(queue_count(f, "virgin"), ==, 0);
}

static void
test_reject(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_true(mm_store_member_set_moderation_action(
      f->store, "test@example.com", "anne@example.com", MM_ROLE_MEMBER,
      MM_ACTION_REJECT, &error));
  const char *taken = NULL;
  g_autoptr(MmPost) post = run(f, "member-plain.eml", &taken);
  g_assert_cmpstr(taken, ==, "reject");
  g_assert_cmpuint(queue_count(f, "pipeline"), ==, 0);
  g_autoptr(GPtrArray) virgin = queue_entries(f, "virgin");
  g_assert_cmpuint(virgin->len, ==, 1);
  Entry *entry = virgin->pdata[0];
  g_autofree char *recipients = joined(json_object_get(entry->meta,
                                                       "recipients"));
  g_assert_cmpstr(recipients, ==, "anne@example.com");
  g_assert_true(json_is_true(json_object_get(entry->meta, "nodecorate")));
  g_assert_true(
      json_is_true(json_object_get(entry->meta, "reduced_list_headers")));
  g_autofree char *subject = header_of(entry->message, "Subject");
  g_assert_cmpstr(subject, ==, "Plans for the weekend");
  g_autofree char *from = header_of(entry->message, "From");
  g_assert_cmpstr(from, ==, "test-owner@example.com");
  g_autofree char *precedence = header_of(entry->message, "Precedence");
  g_assert_cmpstr(precedence, ==, "bulk");
  g_autofree char *text = text_of(entry->message);
  g_assert_nonnull(strstr(text, "multipart/mixed"));
  g_assert_nonnull(strstr(text, "The message comes from a moderated member"));
  g_assert_nonnull(strstr(text, "Your message to the Test mailing list"));
  /* The post rides along with its rule headers. */
  g_assert_nonnull(strstr(text, "message/rfc822"));
  g_assert_nonnull(strstr(text, "X-Mailman-Rule-Hits: member-moderation"));
  g_assert_nonnull(strstr(text, "shall we meet on Saturday?"));
}

static void
test_dmarc_chain(Fixture *f, gconstpointer data)
{
  set(f, "dmarc_mitigate_action", "reject");
  const char *taken = NULL;
  g_autoptr(MmPost) post = run(f, "dmarc.eml", &taken);
  g_assert_cmpstr(taken, ==, "reject");
  assert_rules(post, "dmarc-mitigation", "");
  g_autoptr(GPtrArray) virgin = queue_entries(f, "virgin");
  g_assert_cmpuint(virgin->len, ==, 1);
  Entry *entry = virgin->pdata[0];
  g_autofree char *recipients =
      joined(json_object_get(entry->meta, "recipients"));
  g_assert_cmpstr(recipients, ==, "yolanda@strict.example");
  set(f, "dmarc_mitigate_action", "discard");
  g_autoptr(MmPost) discarded = run(f, "dmarc.eml", &taken);
  g_assert_cmpstr(taken, ==, "discard");
}

/* ---- Header matches ------------------------------------------------------- */

static void
test_header_match_list(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_true(mm_store_header_match_add(f->store, "test@example.com",
                                          "X-Spam-Flag", "^yes", "discard",
                                          NULL, &error));
  const char *taken = NULL;
  g_autoptr(MmPost) post = run(f, "spam.eml", &taken);
  g_assert_cmpstr(taken, ==, "discard");
  assert_rules(post, "header-match-test.example.com-0",
               "dmarc-mitigation; no-senders; approved; emergency; loop; "
               "banned-address; member-moderation");
  /* Without a chain of its own a match jumps to [antispam] jump_chain
   * (hold). */
  g_assert_true(mm_store_header_match_remove(f->store, "test@example.com",
                                             "x-spam-flag", "^yes", &error));
  g_assert_true(mm_store_header_match_add(f->store, "test@example.com",
                                          "subject", "watches", NULL, NULL,
                                          &error));
  g_autoptr(MmPost) held = run(f, "spam.eml", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  g_autoptr(MmPost) clean = run(f, "member-plain.eml", &taken);
  g_assert_cmpstr(taken, ==, "accept");
  g_autofree char *misses =
      joined(json_object_get(clean->meta, "rule_misses"));
  g_assert_nonnull(strstr(misses, "header-match-test.example.com-0"));
}

static void
test_header_match_site(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  /* A list rule that would discard loses to the site's checks. */
  g_assert_true(mm_store_header_match_add(f->store, "test@example.com",
                                          "X-Spam-Flag", "yes", "discard",
                                          NULL, &error));
  const char *taken = NULL;
  g_autoptr(MmPost) post = run(f, "spam.eml", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  /* Named by line index, as Mailman; the value starts with an empty line
   * (the key's own), so the checks are lines 1 and 2. */
  assert_rules(post, "header-match-config-2",
               "dmarc-mitigation; no-senders; approved; emergency; loop; "
               "banned-address; member-moderation; header-match-config-1");
  g_assert_cmpuint(queue_count(f, "virgin"), ==, 2);
}

/* ---- Hold ------------------------------------------------------------------ */

static Entry *
find_notice(GPtrArray *entries, const char *subject_prefix)
{
  for (guint i = 0; i < entries->len; i++) {
    Entry *entry = entries->pdata[i];
    g_autofree char *subject = header_of(entry->message, "Subject");
    if (subject != NULL && g_str_has_prefix(subject, subject_prefix))
      return entry;
  }
  return NULL;
}

static void
test_nonmember_held(Fixture *f, gconstpointer data)
{
  const char *taken = NULL;
  g_autoptr(MmPost) post = run(f, "nonmember-attachment.eml", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  assert_rules(post, "nonmember-moderation",
               "dmarc-mitigation; no-senders; approved; emergency; loop; "
               "banned-address; member-moderation");
  g_assert_cmpuint(queue_count(f, "pipeline"), ==, 0);

  /* The request. */
  GError *error = NULL;
  g_autoptr(GPtrArray) held = mm_chains_held_messages(f->store, f->list,
                                                      &error);
  g_assert_no_error(error);
  g_assert_cmpuint(held->len, ==, 1);
  const MmHeldMessage *m = held->pdata[0];
  g_assert_cmpstr(m->message_id, ==, "<nonmember-attachment.1@example.org>");
  g_assert_cmpstr(m->sender, ==, "bart@example.org");
  g_assert_cmpstr(m->subject, ==, "Quarterly figures");
  g_assert_cmpstr(m->reason, ==, "The message is not from a list member");
  g_assert_true(g_regex_match_simple(
      "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}$", m->hold_date, 0,
      0));
  /* The stored post is the one with the rule headers. */
  g_autoptr(GBytes) stored = mm_chains_held_message_bytes(
      f->config, f->store, f->list, m->id, &error);
  g_assert_no_error(error);
  g_autofree char *hits = header_of(stored, "X-Mailman-Rule-Hits");
  g_assert_cmpstr(hits, ==, "nonmember-moderation");

  /* Two notices: the poster's and the moderators'. */
  g_autoptr(GPtrArray) virgin = queue_entries(f, "virgin");
  g_assert_cmpuint(virgin->len, ==, 2);
  Entry *poster = find_notice(virgin, "Your message to test@example.com");
  g_assert_nonnull(poster);
  g_autofree char *poster_subject = header_of(poster->message, "Subject");
  g_assert_cmpstr(poster_subject, ==,
                  "Your message to test@example.com awaits moderator approval");
  g_autofree char *poster_from = header_of(poster->message, "From");
  g_assert_cmpstr(poster_from, ==, "test-bounces@example.com");
  g_autofree char *poster_rcpt =
      joined(json_object_get(poster->meta, "recipients"));
  g_assert_cmpstr(poster_rcpt, ==, "bart@example.org");
  g_autofree char *poster_text = text_of(poster->message);
  g_assert_nonnull(strstr(poster_text, "    Quarterly figures"));
  g_assert_nonnull(strstr(poster_text,
                          "    The message is not from a list member"));

  Entry *admin = find_notice(virgin, "test@example.com post from");
  g_assert_nonnull(admin);
  g_autofree char *admin_subject = header_of(admin->message, "Subject");
  g_assert_cmpstr(admin_subject, ==,
                  "test@example.com post from bart@example.org requires "
                  "approval");
  g_autofree char *admin_to = header_of(admin->message, "To");
  g_assert_cmpstr(admin_to, ==, "test-owner@example.com");
  g_autofree char *admin_rcpt =
      joined(json_object_get(admin->meta, "recipients"));
  g_assert_cmpstr(admin_rcpt, ==, "owner@example.com; mod@example.com");
  g_autofree char *admin_text = text_of(admin->message);
  g_assert_nonnull(strstr(admin_text, "From:    bart@example.org"));
  g_assert_nonnull(strstr(admin_text, "figures.pdf"));

  /* The token: pended, named in the confirm address and the stub. */
  g_autoptr(GPtrArray) tokens =
      mm_store_pending_find(f->store, "held message", NULL, NULL, &error);
  g_assert_cmpuint(tokens->len, ==, 1);
  const char *token = tokens->pdata[0];
  g_assert_cmpuint(strlen(token), ==, 40);
  g_autofree char *confirm =
      g_strdup_printf("test-confirm+%s@example.com", token);
  g_assert_nonnull(strstr(admin_text, confirm));
  g_assert_nonnull(strstr(poster_text, confirm));
  g_autofree char *stub = g_strdup_printf("Subject: confirm %s", token);
  g_assert_nonnull(strstr(admin_text, stub));
  g_assert_nonnull(strstr(admin_text, "From: test-request@example.com"));
  g_autoptr(GHashTable) values =
      mm_store_pending_get(f->store, token, FALSE, &error);
  g_autofree char *id_text = g_strdup_printf("%" G_GINT64_FORMAT, m->id);
  g_assert_cmpstr(g_hash_table_lookup(values, "id"), ==, id_text);
  g_assert_cmpstr(g_hash_table_lookup(values, "list_id"), ==,
                  "\"test.example.com\"");

  /* A replay (a crash before the entry was finished) holds nothing new. */
  g_autoptr(MmPost) again = run(f, "nonmember-attachment.eml", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  g_autoptr(GPtrArray) held_again =
      mm_chains_held_messages(f->store, f->list, &error);
  g_assert_cmpuint(held_again->len, ==, 1);
  g_assert_cmpuint(queue_count(f, "virgin"), ==, 2);
}

static void
test_deferred_rules_hold(Fixture *f, gconstpointer data)
{
  const char *taken = NULL;
  g_autoptr(MmPost) post = run(f, "implicit-dest.eml", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  assert_rules(post, "implicit-dest",
               "dmarc-mitigation; no-senders; approved; emergency; loop; "
               "banned-address; member-moderation; nonmember-moderation; "
               "administrivia; max-recipients; max-size; news-moderation; "
               "no-subject; digests; suspicious-header");
  g_autoptr(MmPost) two = run(f, "administrivia.eml", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  g_autofree char *hits = joined(json_object_get(two->meta, "rule_hits"));
  g_assert_cmpstr(hits, ==, "administrivia");
  /* Non-ASCII subjects and names come out right in the notices. */
  g_autoptr(MmPost) joerg = run(f, "nonascii.eml", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  g_autoptr(GPtrArray) virgin = queue_entries(f, "virgin");
  Entry *admin = find_notice(virgin, "test@example.com post from joerg");
  g_assert_nonnull(admin);
  g_autoptr(GBytes) first = g_bytes_ref(admin->message);
  g_autoptr(MmPost) parsed = mm_rules_post_new(NULL, NULL, NULL, first, NULL);
  GMimeMessage *message = mm_rules_post_mime(parsed);
  GMimeObject *body = g_mime_message_get_mime_part(message);
  g_assert_true(GMIME_IS_MULTIPART(body));
  g_assert_cmpint(g_mime_multipart_get_count(GMIME_MULTIPART(body)), ==, 3);
  GMimeObject *text = g_mime_multipart_get_part(GMIME_MULTIPART(body), 0);
  g_autofree char *decoded = g_mime_text_part_get_text(GMIME_TEXT_PART(text));
  g_assert_nonnull(
      strstr(decoded, "Subject: Grüße aus München — Treffen"));
}

static void
test_hold_quiet(Fixture *f, gconstpointer data)
{
  set(f, "respond_to_post_requests", "no");
  const char *taken = NULL;
  g_autoptr(MmPost) post = run(f, "nonmember-attachment.eml", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  g_autoptr(GPtrArray) virgin = queue_entries(f, "virgin");
  g_assert_cmpuint(virgin->len, ==, 1);
  g_assert_nonnull(find_notice(virgin, "test@example.com post from"));
  set(f, "admin_immed_notify", "no");
  g_autoptr(MmPost) two = run(f, "nonascii.eml", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  g_assert_cmpuint(queue_count(f, "virgin"), ==, 1);
  /* A post that asks not to be answered gets no notice. */
  set(f, "respond_to_post_requests", "yes");
  g_autoptr(GBytes) raw = load("implicit-dest.eml");
  g_autoptr(GString) text =
      g_string_new_len(g_bytes_get_data(raw, NULL), g_bytes_get_size(raw));
  g_string_replace(text, "Subject:", "Auto-Submitted: auto-replied\nSubject:",
                   1);
  g_autoptr(GBytes) bytes = g_bytes_new(text->str, text->len);
  g_autoptr(MmPost) three =
      run_bytes(f, bytes, "default-posting-chain", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  g_assert_cmpuint(queue_count(f, "virgin"), ==, 1);
}

static void
test_autoresponse_limit(Fixture *f, gconstpointer data)
{
  set(f, "admin_immed_notify", "no");
  for (int i = 0; i < 4; i++) {
    g_autofree char *text = g_strdup_printf(
        "From: bart@example.org\nTo: test@example.com\nSubject: post %d\n"
        "Message-ID: <limit.%d@example.org>\n\nbody\n",
        i, i);
    g_autoptr(GBytes) bytes = g_bytes_new(text, strlen(text));
    const char *taken = NULL;
    g_autoptr(MmPost) post =
        run_bytes(f, bytes, "default-posting-chain", &taken);
    g_assert_cmpstr(taken, ==, "hold");
  }
  /* [mta] max_autoresponses_per_day is 2: two notices, then the last one
   * for today, then silence. */
  g_autoptr(GPtrArray) virgin = queue_entries(f, "virgin");
  g_assert_cmpuint(virgin->len, ==, 3);
  g_autofree char *s0 = header_of(((Entry *)virgin->pdata[0])->message,
                                  "Subject");
  g_autofree char *s2 = header_of(((Entry *)virgin->pdata[2])->message,
                                  "Subject");
  g_assert_cmpstr(s0, ==,
                  "Your message to test@example.com awaits moderator approval");
  g_assert_cmpstr(s2, ==, "Last autoresponse notification for today");
  g_autofree char *from2 = header_of(((Entry *)virgin->pdata[2])->message,
                                     "From");
  g_assert_cmpstr(from2, ==, "test-owner@example.com");
  GError *error = NULL;
  g_assert_cmpint(mm_store_autoresponse_count_today(
                      f->store, "test@example.com", "bart@example.org",
                      MM_RESPONSE_HOLD, &error),
                  ==, 3);
}

/* ---- Moderator decisions ---------------------------------------------------- */

static gint64
hold_one(Fixture *f)
{
  const char *taken = NULL;
  g_autoptr(MmPost) post = run(f, "nonmember-attachment.eml", &taken);
  g_assert_cmpstr(taken, ==, "hold");
  GError *error = NULL;
  g_autoptr(GPtrArray) held = mm_chains_held_messages(f->store, f->list,
                                                      &error);
  g_assert_cmpuint(held->len, ==, 1);
  return ((MmHeldMessage *)held->pdata[0])->id;
}

static guint
stored_messages(Fixture *f)
{
  GError *error = NULL;
  g_autoptr(GBytes) bytes = mm_store_message_get(
      f->store, mm_config_path(f->config, "messages_dir"),
      "<nonmember-attachment.1@example.org>", &error);
  return bytes != NULL ? 1 : 0;
}

static void
test_moderate_accept(Fixture *f, gconstpointer data)
{
  gint64 id = hold_one(f);
  g_assert_cmpuint(stored_messages(f), ==, 1);
  GError *error = NULL;
  g_assert_true(mm_chains_moderate(f->config, f->store, f->list, id,
                                   MM_ACTION_ACCEPT, NULL, &error));
  g_assert_no_error(error);
  g_autoptr(GPtrArray) pipeline = queue_entries(f, "pipeline");
  g_assert_cmpuint(pipeline->len, ==, 1);
  Entry *entry = pipeline->pdata[0];
  g_assert_true(json_is_true(json_object_get(entry->meta, "approved")));
  g_assert_true(
      json_is_true(json_object_get(entry->meta, "moderator_approved")));
  g_assert_null(json_object_get(entry->meta, "_mod_message_id"));
  g_assert_null(json_object_get(entry->meta, "type"));
  g_assert_cmpstr(json_string_value(json_object_get(entry->meta, "listid")),
                  ==, "test.example.com");
  g_autofree char *approved_at =
      header_of(entry->message, "X-Mailman-Approved-At");
  g_assert_nonnull(approved_at);
  g_autofree char *message_id = header_of(entry->message, "Message-ID");
  g_assert_cmpstr(message_id, ==, "<nonmember-attachment.1@example.org>");
  g_autofree char *text = text_of(entry->message);
  g_assert_nonnull(strstr(text, "JVBERi0xLjQK"));

  /* Everything about the request is gone; a second accept finds nothing. */
  g_autoptr(GPtrArray) held = mm_chains_held_messages(f->store, f->list,
                                                      &error);
  g_assert_cmpuint(held->len, ==, 0);
  g_assert_cmpuint(stored_messages(f), ==, 0);
  g_autoptr(GPtrArray) tokens =
      mm_store_pending_find(f->store, NULL, NULL, NULL, &error);
  g_assert_cmpuint(tokens->len, ==, 0);
  g_assert_false(mm_chains_moderate(f->config, f->store, f->list, id,
                                    MM_ACTION_ACCEPT, NULL, &error));
  g_assert_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_cmpuint(queue_count(f, "pipeline"), ==, 1);
}

static void
test_moderate_reject_discard_defer(Fixture *f, gconstpointer data)
{
  gint64 id = hold_one(f);
  GError *error = NULL;
  guint before = queue_count(f, "virgin");
  g_assert_true(mm_chains_moderate(f->config, f->store, f->list, id,
                                   MM_ACTION_DEFER, NULL, &error));
  g_assert_true(mm_chains_moderate(f->config, f->store, f->list, id,
                                   MM_ACTION_HOLD, NULL, &error));
  g_assert_cmpuint(queue_count(f, "virgin"), ==, before);
  g_autoptr(MmHeldMessage) still =
      mm_chains_held_message_get(f->store, f->list, id, &error);
  g_assert_nonnull(still);

  g_assert_true(mm_chains_moderate(f->config, f->store, f->list, id,
                                   MM_ACTION_REJECT, "Off topic here",
                                   &error));
  g_assert_no_error(error);
  g_autoptr(GPtrArray) virgin = queue_entries(f, "virgin");
  g_assert_cmpuint(virgin->len, ==, before + 1);
  Entry *refusal = find_notice(virgin, "Request to mailing list");
  g_assert_nonnull(refusal);
  g_autofree char *subject = header_of(refusal->message, "Subject");
  g_assert_cmpstr(subject, ==, "Request to mailing list \"Test\" rejected");
  g_autofree char *rcpt = joined(json_object_get(refusal->meta, "recipients"));
  g_assert_cmpstr(rcpt, ==, "bart@example.org");
  g_autofree char *text = text_of(refusal->message);
  g_assert_nonnull(strstr(text, "\"Off topic here\""));
  g_assert_nonnull(
      strstr(text, "Posting of your message titled \"Quarterly figures\""));
  g_assert_cmpuint(stored_messages(f), ==, 0);
  g_assert_cmpuint(queue_count(f, "pipeline"), ==, 0);

  /* Discard: the post goes, silently. */
  gint64 second = hold_one(f);
  guint notices = queue_count(f, "virgin");
  g_assert_true(mm_chains_moderate(f->config, f->store, f->list, second,
                                   MM_ACTION_DISCARD, NULL, &error));
  g_assert_cmpuint(queue_count(f, "virgin"), ==, notices);
  g_assert_cmpuint(queue_count(f, "pipeline"), ==, 0);
  g_assert_cmpuint(stored_messages(f), ==, 0);
}

static void
test_expiry(Fixture *f, gconstpointer data)
{
  gint64 id = hold_one(f);
  GError *error = NULL;
  /* Nothing has expired yet. */
  g_assert_true(mm_chains_evict_expired(f->config, f->store, &error));
  g_autoptr(MmHeldMessage) held =
      mm_chains_held_message_get(f->store, f->list, id, &error);
  g_assert_nonnull(held);
  /* moderator_request_life is 1s here: two seconds on, it has expired
   * (dates have a resolution of one second). */
  g_usleep(2100 * 1000);
  g_assert_true(mm_chains_evict_expired(f->config, f->store, &error));
  g_assert_no_error(error);
  g_autoptr(MmHeldMessage) gone =
      mm_chains_held_message_get(f->store, f->list, id, &error);
  g_assert_null(gone);
  g_assert_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_cmpuint(stored_messages(f), ==, 0);
}

static void
test_unknown_chain(Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) bytes = load("member-plain.eml");
  g_autoptr(MmPost) post =
      mm_rules_post_new(f->config, f->store, f->list, bytes, NULL);
  GError *error = NULL;
  g_assert_false(mm_chains_process(post, "no-such-chain", NULL, &error));
  g_assert_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_NO_CHAIN);
  g_clear_error(&error);
  g_assert_true(mm_chains_exists("default-posting-chain"));
  g_assert_true(mm_chains_exists("default-owner-chain"));
  g_assert_false(mm_chains_exists("nope"));
}

static void
test_templates(Fixture *f, gconstpointer data)
{
  g_autoptr(GHashTable) vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, NULL);
  g_hash_table_insert(vars, "who", "World");
  g_autofree char *out =
      mm_notice_template_expand("Hello $who, ${who}! $$5 $unknown ${bad", vars);
  g_assert_cmpstr(out, ==, "Hello World, World! $5 $unknown ${bad");
  g_autofree char *wrapped = mm_notice_wrap(
      "one two three four five six seven eight nine ten eleven twelve\n"
      "\n    kept   as is\n",
      20);
  g_assert_cmpstr(wrapped, ==,
                  "one two three four\nfive six seven eight\n"
                  "nine ten eleven\ntwelve\n\n    kept   as is\n");
  /* A site template file overrides our wording. */
  g_autofree char *dir = g_build_filename(
      mm_config_path(f->config, "template_dir"), "site", "en", NULL);
  g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
  g_autofree char *file =
      g_build_filename(dir, "list:user:notice:refuse.txt", NULL);
  g_assert_true(g_file_set_contents(file, "No, $display_name says.", -1,
                                    NULL));
  g_autofree char *text = mm_chains_template(
      f->config, f->list, "list:user:notice:refuse", NULL, NULL);
  g_assert_cmpstr(text, ==, "No, Test says.");
  g_autofree char *confirm =
      mm_chains_confirm_address(f->config, f->list, "abc");
  g_assert_cmpstr(confirm, ==, "test-confirm+abc@example.com");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn, data)                                                   \
  g_test_add("/chains/" path, Fixture, data, fixture_setup, fn,               \
             fixture_teardown)
  ADD("accept/member", test_member_accepted, NULL);
  ADD("accept/approved", test_approved_accepted, NULL);
  ADD("moderation/accept", test_moderation_accept, NULL);
  ADD("owner", test_owner_chain, NULL);
  ADD("discard", test_discards, NULL);
  ADD("reject", test_reject, NULL);
  ADD("dmarc", test_dmarc_chain, NULL);
  ADD("header-match/list", test_header_match_list, NULL);
  ADD("header-match/site", test_header_match_site,
      "[antispam]\nheader_checks:\n X-Spam-Level: \\*\\*\\*\n"
      " X-Spam-Score: ^1[0-9]\njump_chain: hold\n");
  ADD("hold/nonmember", test_nonmember_held, NULL);
  ADD("hold/deferred-rules", test_deferred_rules_hold, NULL);
  ADD("hold/quiet", test_hold_quiet, NULL);
  ADD("hold/autoresponse-limit", test_autoresponse_limit,
      "[mta]\nmax_autoresponses_per_day: 2\n");
  ADD("moderate/accept", test_moderate_accept, NULL);
  ADD("moderate/reject-discard-defer", test_moderate_reject_discard_defer,
      NULL);
  ADD("moderate/expiry", test_expiry,
      "moderator_request_life: 1s\n");
  ADD("unknown-chain", test_unknown_chain, NULL);
  ADD("templates", test_templates, NULL);
#undef ADD
  return g_test_run();
}
