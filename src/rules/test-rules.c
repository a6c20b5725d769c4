/* Tests for the rules: every rule against real messages
 * (the .eml files of tests/data/chains) on a real site database in a temporary
 * directory, asserting hit or miss and the metadata and header changes
 * each rule makes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <glib/gstdio.h>
#include <string.h>

#include "mm-test-site.h"

typedef struct {
  MmTestSite *site; /* owns dir, config, store and list */
  char *dir;
  MmConfig *config;
  MmStore *store;
  MmList *list;
  MmDmarcResolver *resolver;
} Fixture;

/* @data: extra lines for the [mailman] section, or NULL. */
static void
fixture_setup(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  f->site = mm_test_site_new_full("admin@example.com", data, NULL);
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

static MmPost *
post_of_bytes(Fixture *f, GBytes *bytes)
{
  json_t *meta = json_pack("{s:s, s:I}", "listid", f->list->list_id,
                           "original_size",
                           (json_int_t)g_bytes_get_size(bytes));
  MmPost *post = mm_rules_post_new(f->config, f->store, f->list, bytes, meta);
  json_decref(meta);
  post->resolver = f->resolver;
  g_autofree char *psl =
      g_build_filename(MM_TEST_DATA, "public_suffix_list.dat", NULL);
  post->psl_path = g_intern_string(psl);
  return post;
}

static MmPost *
post_of(Fixture *f, const char *name)
{
  g_autoptr(GBytes) bytes = load(name);
  return post_of_bytes(f, bytes);
}

static MmPost *
post_of_text(Fixture *f, const char *text)
{
  g_autoptr(GBytes) bytes = g_bytes_new(text, strlen(text));
  return post_of_bytes(f, bytes);
}

static gboolean
check(MmPost *post, const char *rule_name)
{
  const MmRule *rule = mm_rules_find(rule_name);
  g_assert_nonnull(rule);
  gboolean hit = FALSE;
  GError *error = NULL;
  g_assert_true(rule->check(post, &hit, &error));
  g_assert_no_error(error);
  return hit;
}

static gboolean
rule_hits(Fixture *f, const char *rule_name, const char *file)
{
  g_autoptr(MmPost) post = post_of(f, file);
  return check(post, rule_name);
}

static const char *
meta_string(MmPost *post, const char *key)
{
  return json_string_value(json_object_get(post->meta, key));
}

/* The only reason recorded, or NULL. */
static const char *
only_reason(MmPost *post)
{
  json_t *reasons = json_object_get(post->meta, "moderation_reasons");
  if (!json_is_array(reasons) || json_array_size(reasons) != 1)
    return NULL;
  return json_string_value(json_array_get(reasons, 0));
}

static char *
body_of(MmPost *post)
{
  gsize len;
  const char *data = g_bytes_get_data(mm_rules_post_message(post), &len);
  return g_strndup(data, len);
}

/* ---- Registry and the post ---------------------------------------------- */

static void
test_registry(void)
{
  static const char *const names[] = {
      "dmarc-mitigation", "no-senders",     "approved",
      "emergency",        "loop",           "banned-address",
      "member-moderation", "nonmember-moderation", "administrivia",
      "implicit-dest",    "max-recipients", "max-size",
      "news-moderation",  "no-subject",     "digests",
      "suspicious-header", "any",           "truth"};
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    const MmRule *rule = mm_rules_find(names[i]);
    g_assert_nonnull(rule);
    g_assert_cmpstr(rule->name, ==, names[i]);
    gboolean unrecorded = g_str_equal(names[i], "any") ||
                          g_str_equal(names[i], "truth");
    g_assert_cmpint(rule->record, ==, !unrecorded);
  }
  gsize n;
  mm_rules_all(&n);
  g_assert_cmpuint(n, ==, G_N_ELEMENTS(names));
  g_assert_null(mm_rules_find("no-such-rule"));
}

static void
test_senders(Fixture *f, gconstpointer data)
{
  g_autoptr(MmPost) post = post_of(f, "nonascii.eml");
  GPtrArray *senders = mm_rules_post_senders(post);
  /* From (lower-cased), then the envelope sender (X-MailFrom). */
  g_assert_cmpuint(senders->len, ==, 2);
  g_assert_cmpstr(senders->pdata[0], ==, "joerg@example.org");
  g_assert_cmpstr(senders->pdata[1], ==, "joerg@example.org");
  g_assert_cmpstr(mm_rules_post_sender(post), ==, "joerg@example.org");
  g_assert_cmpstr(mm_rules_post_message_id(post), ==,
                  "<nonascii.1@example.org>");

  g_autoptr(MmPost) bad = post_of(f, "malformed-sender.eml");
  g_assert_cmpuint(mm_rules_post_senders(bad)->len, ==, 0);
  g_assert_cmpstr(mm_rules_post_sender(bad), ==, "");

  /* Reply-To and Sender count too, in [mailman] sender_headers order. */
  g_autoptr(MmPost) many = post_of_text(
      f, "Sender: list-bot@example.net\nFrom: a@example.com, B@Example.com\n"
         "Reply-To: r@example.com\n\nx\n");
  senders = mm_rules_post_senders(many);
  g_assert_cmpuint(senders->len, ==, 4);
  g_assert_cmpstr(senders->pdata[0], ==, "a@example.com");
  g_assert_cmpstr(senders->pdata[1], ==, "b@example.com");
  g_assert_cmpstr(senders->pdata[2], ==, "r@example.com");
  g_assert_cmpstr(senders->pdata[3], ==, "list-bot@example.net");
}

static void
test_header_edits(Fixture *f, gconstpointer data)
{
  g_autoptr(MmPost) post = post_of(f, "member-plain.eml");
  mm_rules_post_header_append(
      post, "X-Mailman-Rule-Misses",
      "dmarc-mitigation; no-senders; approved; emergency; loop; "
      "banned-address; member-moderation; nonmember-moderation");
  g_autofree char *text = body_of(post);
  /* Folded at "; " to lines of at most 78 characters, before the empty
   * line, body untouched. */
  g_assert_nonnull(strstr(
      text, "X-MailFrom: anne@example.com\n"
            "X-Mailman-Rule-Misses: dmarc-mitigation; no-senders; approved; "
            "emergency;\n"
            " loop; banned-address; member-moderation; nonmember-moderation\n"
            "\nHello everyone,\n"));
  g_autofree char *value = mm_rules_post_header(post, "x-mailman-rule-misses");
  g_assert_cmpstr(value, ==,
                  "dmarc-mitigation; no-senders; approved; emergency; loop; "
                  "banned-address; member-moderation; nonmember-moderation");
  g_assert_cmpuint(mm_rules_post_header_remove(post, "X-Mailman-Rule-Misses"),
                   ==, 1);
  g_autofree char *again = body_of(post);
  g_autoptr(GBytes) original = load("member-plain.eml");
  g_assert_cmpstr(again, ==, g_bytes_get_data(original, NULL));

  /* CRLF messages get CRLF fields. */
  g_autoptr(MmPost) crlf =
      post_of_text(f, "From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n");
  mm_rules_post_header_append(crlf, "X-Test", "yes");
  g_autofree char *crlf_text = body_of(crlf);
  g_assert_cmpstr(crlf_text, ==,
                  "From: a@example.com\r\nSubject: x\r\nX-Test: yes\r\n\r\n"
                  "body\r\n");
}

/* ---- The rules ------------------------------------------------------------- */

static void
test_truth_any(Fixture *f, gconstpointer data)
{
  g_autoptr(MmPost) post = post_of(f, "member-plain.eml");
  g_assert_true(check(post, "truth"));
  g_assert_false(check(post, "any"));
  json_object_set_new(post->meta, "rule_hits", json_pack("[s]", "loop"));
  g_assert_true(check(post, "any"));
}

static void
test_no_senders(Fixture *f, gconstpointer data)
{
  g_assert_false(rule_hits(f, "no-senders", "member-plain.eml"));
  g_autoptr(MmPost) post = post_of(f, "malformed-sender.eml");
  g_assert_true(check(post, "no-senders"));
  g_assert_cmpstr(meta_string(post, "moderation_sender"), ==, "N/A");
  g_assert_cmpstr(only_reason(post), ==, "The message has no valid senders");
}

static void
test_approved_header(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  /* No moderator password: the rule misses and leaves the header. */
  {
    g_autoptr(MmPost) post = post_of(f, "approved-header.eml");
    g_assert_false(check(post, "approved"));
    g_autofree char *value = mm_rules_post_header(post, "Approved");
    g_assert_cmpstr(value, ==, "s3cr3t pass");
    g_assert_null(json_object_get(post->meta, "has_approved"));
  }
  g_assert_true(mm_store_list_set_moderator_password(
      f->store, f->list->list_id, "s3cr3t pass", &error));
  g_assert_no_error(error);
  {
    g_autoptr(MmPost) post = post_of(f, "approved-header.eml");
    g_assert_true(check(post, "approved"));
    g_autofree char *value = mm_rules_post_header(post, "Approved");
    g_assert_null(value);
    g_assert_true(json_is_true(json_object_get(post->meta, "has_approved")));
  }
  /* A wrong password misses, and the header is removed all the same. */
  {
    g_autoptr(GBytes) raw = load("approved-header.eml");
    g_autofree char *text = g_strndup(g_bytes_get_data(raw, NULL),
                                      g_bytes_get_size(raw));
    g_autoptr(GString) wrong = g_string_new(text);
    g_string_replace(wrong, "Approved: s3cr3t pass", "X-Approve: guess", 1);
    g_autoptr(MmPost) post = post_of_text(f, wrong->str);
    g_assert_false(check(post, "approved"));
    g_autofree char *value = mm_rules_post_header(post, "X-Approve");
    g_assert_null(value);
    g_assert_true(json_is_true(json_object_get(post->meta, "has_approved")));
  }
}

static void
test_approved_body(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_true(mm_store_list_set_moderator_password(
      f->store, f->list->list_id, "s3cr3t pass", &error));
  g_autoptr(MmPost) post = post_of(f, "approved-body.eml");
  g_assert_true(check(post, "approved"));
  /* The password is gone from the plain part and from the HTML
   * alternative; the rest of the text is kept. */
  g_autofree char *text = body_of(post);
  g_assert_null(strstr(text, "s3cr3t"));
  g_assert_nonnull(strstr(text, "The real text starts here."));
  g_assert_nonnull(strstr(text, "<html><body><p></p><p>The real text"));
  GMimePart *plain = mm_rules_first_text_plain(post);
  g_autofree char *plain_text = mm_rules_part_text(plain);
  g_assert_cmpstr(plain_text, ==, "\nThe real text starts here.\n");
  /* The other headers are untouched. */
  g_autofree char *subject = mm_rules_post_header(post, "Subject");
  g_assert_cmpstr(subject, ==, "Approved in the body");

  /* Without the pseudo-header nothing changes. */
  g_autoptr(MmPost) plain_post = post_of(f, "member-plain.eml");
  g_assert_false(check(plain_post, "approved"));
  g_autofree char *unchanged = body_of(plain_post);
  g_autoptr(GBytes) original = load("member-plain.eml");
  g_assert_cmpstr(unchanged, ==, g_bytes_get_data(original, NULL));
}

static void
test_emergency(Fixture *f, gconstpointer data)
{
  g_assert_false(rule_hits(f, "emergency", "member-plain.eml"));
  set(f, "emergency", "yes");
  g_autoptr(MmPost) post = post_of(f, "member-plain.eml");
  g_assert_true(check(post, "emergency"));
  g_assert_cmpstr(only_reason(post),
                  ==, "Emergency moderation is in effect for this list");
  g_assert_cmpstr(meta_string(post, "moderation_sender"), ==,
                  "anne@example.com");
  g_autoptr(MmPost) approved = post_of(f, "member-plain.eml");
  json_object_set_new(approved->meta, "moderator_approved", json_true());
  g_assert_false(check(approved, "emergency"));
}

static void
test_loop(Fixture *f, gconstpointer data)
{
  g_assert_true(rule_hits(f, "loop", "loop.eml"));
  g_assert_false(rule_hits(f, "loop", "member-plain.eml"));
  /* Mailman's quirk: the <mailto:> form the list writes never matches. */
  g_autoptr(MmPost) post = post_of_text(
      f, "From: anne@example.com\nList-Post: <mailto:test@example.com>\n\nx\n");
  g_assert_false(check(post, "loop"));
}

static void
test_banned_address(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_false(rule_hits(f, "banned-address", "nonmember-attachment.eml"));
  g_assert_true(mm_store_ban_add(f->store, "test@example.com",
                                 "Bart@Example.org", &error));
  g_autoptr(MmPost) post = post_of(f, "nonmember-attachment.eml");
  g_assert_true(check(post, "banned-address"));
  g_assert_cmpstr(meta_string(post, "moderation_sender"), ==,
                  "bart@example.org");
  g_assert_cmpstr(only_reason(post), ==,
                  "Message sender bart@example.org is banned from this list");
  g_assert_true(mm_store_ban_remove(f->store, "test@example.com",
                                    "bart@example.org", &error));
  g_assert_false(rule_hits(f, "banned-address", "nonmember-attachment.eml"));
  /* A global pattern ban. */
  g_assert_true(mm_store_ban_add(f->store, NULL, "^.*@EXAMPLE\\.org$",
                                 &error));
  g_assert_true(rule_hits(f, "banned-address", "nonmember-attachment.eml"));
  g_assert_false(rule_hits(f, "banned-address", "member-plain.eml"));
}

static void
test_member_moderation(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  /* default_member_action is defer: the regular rules apply. */
  g_assert_false(rule_hits(f, "member-moderation", "member-plain.eml"));
  g_assert_false(rule_hits(f, "member-moderation",
                           "nonmember-attachment.eml"));
  g_assert_true(mm_store_member_set_moderation_action(
      f->store, "test@example.com", "anne@example.com", MM_ROLE_MEMBER,
      MM_ACTION_HOLD, &error));
  g_autoptr(MmPost) post = post_of(f, "html-only.eml");
  g_assert_true(check(post, "member-moderation"));
  g_assert_cmpstr(meta_string(post, "member_moderation_action"), ==, "hold");
  g_assert_cmpstr(only_reason(post), ==,
                  "The message comes from a moderated member");
  /* The list default applies when the member has none. */
  g_assert_true(mm_store_member_set_moderation_action(
      f->store, "test@example.com", "anne@example.com", MM_ROLE_MEMBER,
      MM_ACTION_UNSET, &error));
  set(f, "default_member_action", "discard");
  g_autoptr(MmPost) post2 = post_of(f, "signed.eml");
  g_assert_true(check(post2, "member-moderation"));
  g_assert_cmpstr(meta_string(post2, "member_moderation_action"), ==,
                  "discard");
  /* A banned sender is left to banned-address. */
  g_assert_true(mm_store_ban_add(f->store, "test@example.com",
                                 "anne@example.com", &error));
  g_assert_false(rule_hits(f, "member-moderation", "signed.eml"));
}

static void
test_nonmember_moderation(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr(MmPost) post = post_of(f, "nonmember-attachment.eml");
  g_assert_true(check(post, "nonmember-moderation"));
  g_assert_cmpstr(meta_string(post, "member_moderation_action"), ==, "hold");
  g_assert_cmpstr(meta_string(post, "moderation_sender"), ==,
                  "bart@example.org");
  g_assert_cmpstr(only_reason(post), ==,
                  "The message is not from a list member");
  /* The sender became a nonmember of the list. */
  g_autoptr(MmMember) nonmember =
      mm_store_member_get(f->store, "test@example.com", "bart@example.org",
                          MM_ROLE_NONMEMBER, &error);
  g_assert_no_error(error);
  g_assert_nonnull(nonmember);

  /* Members miss. */
  g_assert_false(rule_hits(f, "nonmember-moderation", "member-plain.eml"));

  /* The legacy lists, in the order accept, hold, reject, discard. */
  g_assert_true(mm_store_list_strings_add(f->store, "test@example.com",
                                          "discard_these_nonmembers",
                                          "^bart@.*", &error));
  g_autoptr(MmPost) discarded = post_of(f, "nonmember-attachment.eml");
  g_assert_true(check(discarded, "nonmember-moderation"));
  g_assert_cmpstr(meta_string(discarded, "member_moderation_action"), ==,
                  "discard");
  g_assert_cmpstr(only_reason(discarded), ==,
                  "The sender is in the nonmember discard list");
  g_assert_true(mm_store_list_strings_add(f->store, "test@example.com",
                                          "reject_these_nonmembers",
                                          "bart@example.org", &error));
  g_autoptr(MmPost) rejected = post_of(f, "nonmember-attachment.eml");
  g_assert_true(check(rejected, "nonmember-moderation"));
  g_assert_cmpstr(meta_string(rejected, "member_moderation_action"), ==,
                  "reject");
  g_assert_true(mm_store_list_strings_add(f->store, "test@example.com",
                                          "accept_these_nonmembers",
                                          "bart@example.org", &error));
  g_assert_false(
      rule_hits(f, "nonmember-moderation", "nonmember-attachment.eml"));
  /* Regexps are case-sensitive; a bad one is skipped. */
  g_assert_true(mm_store_list_strings_add(f->store, "test@example.com",
                                          "hold_these_nonmembers", "^(broken",
                                          &error));
  g_assert_true(mm_store_list_strings_add(f->store, "test@example.com",
                                          "hold_these_nonmembers",
                                          "^JOERG@", &error));
  g_autoptr(MmPost) joerg = post_of(f, "nonascii.eml");
  g_assert_true(check(joerg, "nonmember-moderation"));
  g_assert_cmpstr(meta_string(joerg, "member_moderation_action"), ==, "hold");
  g_assert_cmpstr(only_reason(joerg), ==,
                  "The message is not from a list member");

  /* The nonmember's own action wins over the lists. */
  g_assert_true(mm_store_member_set_moderation_action(
      f->store, "test@example.com", "bart@example.org", MM_ROLE_NONMEMBER,
      MM_ACTION_ACCEPT, &error));
  g_autoptr(MmPost) own = post_of(f, "nonmember-attachment.eml");
  g_assert_true(check(own, "nonmember-moderation"));
  g_assert_cmpstr(meta_string(own, "member_moderation_action"), ==, "accept");
  /* defer misses. */
  g_assert_true(mm_store_member_set_moderation_action(
      f->store, "test@example.com", "bart@example.org", MM_ROLE_NONMEMBER,
      MM_ACTION_DEFER, &error));
  g_assert_false(
      rule_hits(f, "nonmember-moderation", "nonmember-attachment.eml"));
}

static void
test_administrivia(Fixture *f, gconstpointer data)
{
  g_autoptr(MmPost) post = post_of(f, "administrivia.eml");
  g_assert_true(check(post, "administrivia"));
  g_assert_cmpstr(only_reason(post), ==, "Message contains administrivia");
  g_assert_true(rule_hits(f, "administrivia", "administrivia-body.eml"));
  g_assert_false(rule_hits(f, "administrivia", "member-plain.eml"));
  /* "set" takes exactly three arguments, "help" none. */
  g_autoptr(MmPost) two = post_of_text(f, "From: a@example.com\nSubject: "
                                          "set digest\n\nhelp me please\n");
  g_assert_false(check(two, "administrivia"));
  set(f, "administrivia", "no");
  g_assert_false(rule_hits(f, "administrivia", "administrivia.eml"));
}

static void
test_implicit_dest(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autoptr(MmPost) post = post_of(f, "implicit-dest.eml");
  g_assert_true(check(post, "implicit-dest"));
  g_assert_cmpstr(only_reason(post), ==, "Message has implicit destination");
  g_assert_false(rule_hits(f, "implicit-dest", "member-plain.eml"));
  g_assert_false(rule_hits(f, "implicit-dest", "nonmember-attachment.eml"));
  g_assert_true(mm_store_list_strings_add(f->store, "test@example.com",
                                          "acceptable_aliases",
                                          "^FRIENDS@.*\\.net", &error));
  g_assert_false(rule_hits(f, "implicit-dest", "implicit-dest.eml"));
  g_assert_true(mm_store_list_strings_remove(f->store, "test@example.com",
                                             "acceptable_aliases",
                                             "^friends@.*\\.net", &error));
  g_assert_true(rule_hits(f, "implicit-dest", "implicit-dest.eml"));
  g_assert_true(mm_store_list_strings_add(f->store, "test@example.com",
                                          "acceptable_aliases",
                                          "Friends@example.net", &error));
  g_assert_false(rule_hits(f, "implicit-dest", "implicit-dest.eml"));
  g_assert_false(mm_store_list_strings_add(f->store, "test@example.com",
                                           "acceptable_aliases", "no-at-sign",
                                           &error));
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
  g_clear_error(&error);
  set(f, "require_explicit_destination", "no");
  g_autoptr(MmPost) off = post_of_text(f, "From: a@example.com\nTo: "
                                          "x@example.net\n\nx\n");
  g_assert_false(check(off, "implicit-dest"));
}

static void
test_max_recipients(Fixture *f, gconstpointer data)
{
  /* Six in To, two in Cc and two in a group: ten, the default limit. */
  g_autoptr(MmPost) post = post_of(f, "many-recipients.eml");
  g_assert_true(check(post, "max-recipients"));
  g_assert_cmpstr(only_reason(post), ==, "Message has more than 10 recipients");
  g_assert_false(rule_hits(f, "max-recipients", "member-plain.eml"));
  set(f, "max_num_recipients", "11");
  g_assert_false(rule_hits(f, "max-recipients", "many-recipients.eml"));
  set(f, "max_num_recipients", "0");
  g_assert_false(rule_hits(f, "max-recipients", "many-recipients.eml"));
}

static void
test_max_size(Fixture *f, gconstpointer data)
{
  g_autoptr(MmPost) post = post_of(f, "nonmember-attachment.eml");
  g_assert_false(check(post, "max-size"));
  json_object_set_new(post->meta, "original_size",
                      json_integer(40 * 1024 + 1));
  g_assert_true(check(post, "max-size"));
  g_assert_cmpstr(only_reason(post), ==,
                  "The message is larger than the 40 KB maximum size");
  json_object_set_new(post->meta, "original_size", json_integer(40 * 1024));
  g_assert_false(check(post, "max-size"));
  set(f, "max_message_size", "0");
  json_object_set_new(post->meta, "original_size", json_integer(1 << 30));
  g_assert_false(check(post, "max-size"));
}

static void
test_news_moderation(Fixture *f, gconstpointer data)
{
  g_assert_false(rule_hits(f, "news-moderation", "member-plain.eml"));
  set(f, "newsgroup_moderation", "moderated");
  g_autoptr(MmPost) post = post_of(f, "member-plain.eml");
  g_assert_true(check(post, "news-moderation"));
  g_assert_cmpstr(only_reason(post), ==,
                  "Post to a moderated newsgroup gateway");
  set(f, "newsgroup_moderation", "open_moderated");
  g_assert_false(rule_hits(f, "news-moderation", "member-plain.eml"));
}

static void
test_no_subject(Fixture *f, gconstpointer data)
{
  g_autoptr(MmPost) post = post_of(f, "no-subject.eml");
  g_assert_true(check(post, "no-subject"));
  g_assert_cmpstr(only_reason(post), ==, "Message has no subject");
  g_assert_true(rule_hits(f, "no-subject", "malformed-sender.eml") == FALSE);
  g_assert_false(rule_hits(f, "no-subject", "nonascii.eml"));
  g_autoptr(MmPost) none = post_of_text(f, "From: a@example.com\n\nx\n");
  g_assert_true(check(none, "no-subject"));
}

static void
test_digests(Fixture *f, gconstpointer data)
{
  g_autoptr(MmPost) post = post_of(f, "digest-reply.eml");
  if (data == NULL) {
    /* [mailman] hold_digest is off by default. */
    g_assert_false(check(post, "digests"));
    return;
  }
  g_assert_true(check(post, "digests"));
  g_assert_cmpstr(only_reason(post), ==, "Message has a digest subject");
  /* Four quoted masthead lines are enough without the subject. */
  g_autoptr(GBytes) raw = load("digest-reply.eml");
  g_autoptr(GString) text = g_string_new_len(g_bytes_get_data(raw, NULL),
                                             g_bytes_get_size(raw));
  g_string_replace(text, "Re: Test Digest, Vol 3, Issue 7", "Re: hello", 1);
  g_autoptr(MmPost) quoted = post_of_text(f, text->str);
  g_assert_true(check(quoted, "digests"));
  g_assert_cmpstr(only_reason(quoted), ==,
                  "Message quotes digest boilerplate");
  g_assert_false(rule_hits(f, "digests", "member-plain.eml"));
}

static void
test_suspicious_header(Fixture *f, gconstpointer data)
{
  g_assert_false(rule_hits(f, "suspicious-header", "spam.eml"));
  set(f, "bounce_matching_headers",
      "# comments and bogus lines are skipped\nno colon here\n"
      "X-Spam-Score: [(\n"
      "X-Spam-Flag: ^yes");
  g_autoptr(MmPost) post = post_of(f, "spam.eml");
  g_assert_true(check(post, "suspicious-header"));
  g_assert_cmpstr(only_reason(post), ==,
                  "Header \"YES\" matched a bounce_matching_header line");
  g_assert_false(rule_hits(f, "suspicious-header", "member-plain.eml"));
}

static void
test_dmarc(Fixture *f, gconstpointer data)
{
  /* No mitigation configured: no lookup, no metadata. */
  {
    g_autoptr(MmPost) post = post_of(f, "dmarc.eml");
    g_assert_false(check(post, "dmarc-mitigation"));
    g_assert_null(json_object_get(post->meta, "dmarc"));
  }
  set(f, "dmarc_mitigate_action", "reject");
  {
    g_autoptr(MmPost) post = post_of(f, "dmarc.eml");
    g_assert_true(check(post, "dmarc-mitigation"));
    g_assert_true(json_is_true(json_object_get(post->meta, "dmarc")));
    g_assert_cmpstr(meta_string(post, "dmarc_action"), ==, "reject");
    g_assert_cmpstr(meta_string(post, "moderation_sender"), ==,
                    "yolanda@strict.example");
    g_assert_nonnull(strstr(only_reason(post), "test-owner@example.com"));
  }
  set(f, "dmarc_moderation_notice", "Not from strict domains, please.");
  {
    g_autoptr(MmPost) post = post_of(f, "dmarc.eml");
    g_assert_true(check(post, "dmarc-mitigation"));
    g_assert_cmpstr(only_reason(post), ==, "Not from strict domains, please.");
  }
  set(f, "dmarc_mitigate_action", "discard");
  {
    g_autoptr(MmPost) post = post_of(f, "dmarc.eml");
    g_assert_true(check(post, "dmarc-mitigation"));
    g_assert_cmpstr(meta_string(post, "dmarc_action"), ==, "discard");
    g_assert_cmpstr(only_reason(post), ==, "DMARC moderation");
  }
  set(f, "dmarc_mitigate_action", "munge_from");
  {
    /* Munging is the pipeline's: the rule misses but flags the post. */
    g_autoptr(MmPost) post = post_of(f, "dmarc.eml");
    g_assert_false(check(post, "dmarc-mitigation"));
    g_assert_true(json_is_true(json_object_get(post->meta, "dmarc")));
    g_assert_null(json_object_get(post->meta, "dmarc_action"));
  }
  set(f, "dmarc_mitigate_action", "reject");
  static const struct {
    const char *from;
    gboolean hit;
  } cases[] = {
      {"a@lax.example", FALSE},       /* p=none */
      {"a@nothing.example", FALSE},   /* no record anywhere */
      {"a@broken.example", TRUE},     /* lookup fails: mitigate */
      {"a@twice.example", FALSE},     /* two DMARC1 records: ignored */
      {"a@example.co.uk", TRUE},      /* p=quarantine */
      {"a@mail.example.co.uk", TRUE}, /* organizational domain's sp=reject */
      {"a@member.example.com", FALSE},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *text = g_strdup_printf(
        "From: Someone <%s>\nTo: test@example.com\nSubject: x\n\nx\n",
        cases[i].from);
    g_autoptr(MmPost) post = post_of_text(f, text);
    g_assert_cmpint(check(post, "dmarc-mitigation"), ==, cases[i].hit);
  }
}

static void
test_header_match(Fixture *f, gconstpointer data)
{
  g_autoptr(MmPost) post = post_of(f, "spam.eml");
  g_assert_true(mm_rules_header_match(post, "x-spam-flag", "yes"));
  g_assert_cmpstr(only_reason(post), ==,
                  "Header \"x-spam-flag: YES\" matched a header rule");
  g_assert_false(mm_rules_header_match(post, "x-spam-flag", "^no"));
  g_assert_false(mm_rules_header_match(post, "x-spam-flag", "(unclosed"));
  g_assert_false(mm_rules_header_match(post, "x-absent", "."));
  /* Values are RFC 2047 decoded before matching. */
  g_autoptr(MmPost) encoded = post_of(f, "nonascii.eml");
  g_assert_true(mm_rules_header_match(encoded, "subject", "grüße aus"));
  /* Headers of every MIME part count. */
  g_autoptr(MmPost) parts = post_of(f, "nonmember-attachment.eml");
  g_assert_true(mm_rules_header_match(parts, "content-disposition",
                                      "figures\\.pdf"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_setenv("G_MESSAGES_DEBUG", "", TRUE);
  g_test_add_func("/rules/registry", test_registry);
#define ADD(path, fn, data)                                                   \
  g_test_add("/rules/" path, Fixture, data, fixture_setup, fn,                \
             fixture_teardown)
  ADD("senders", test_senders, NULL);
  ADD("header-edits", test_header_edits, NULL);
  ADD("truth-any", test_truth_any, NULL);
  ADD("no-senders", test_no_senders, NULL);
  ADD("approved/header", test_approved_header, NULL);
  ADD("approved/body", test_approved_body, NULL);
  ADD("emergency", test_emergency, NULL);
  ADD("loop", test_loop, NULL);
  ADD("banned-address", test_banned_address, NULL);
  ADD("member-moderation", test_member_moderation, NULL);
  ADD("nonmember-moderation", test_nonmember_moderation, NULL);
  ADD("administrivia", test_administrivia, NULL);
  ADD("implicit-dest", test_implicit_dest, NULL);
  ADD("max-recipients", test_max_recipients, NULL);
  ADD("max-size", test_max_size, NULL);
  ADD("news-moderation", test_news_moderation, NULL);
  ADD("no-subject", test_no_subject, NULL);
  ADD("digests/off", test_digests, NULL);
  ADD("digests/on", test_digests, "hold_digest: yes");
  ADD("suspicious-header", test_suspicious_header, NULL);
  ADD("dmarc-mitigation", test_dmarc, NULL);
  ADD("header-match", test_header_match, NULL);
#undef ADD
  return g_test_run();
}
