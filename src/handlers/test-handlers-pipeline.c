/* Unit tests of whole pipeline runs (mm_handlers_pipeline_process): the
 * posting, owner and virgin pipelines on a real site, what each leaves in
 * the queues, and the outcomes a runner acts on (bad, no list, failed,
 * rejected).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-handlers-fixture.h"

static MmPipelineOutcome
process(Fixture *f, gboolean virgin, const char *eml, json_t *meta,
        GError **error)
{
  g_autoptr(GBytes) raw = read_data(eml);
  MmPipelineEnv env = {
      .config = f->config,
      .store = f->store,
      .queue_root = f->queue_root,
      .resolver = f->resolver,
      .entry_id = "test-entry",
  };
  return mm_handlers_pipeline_process(&env, virgin, raw, meta, error);
}

static json_t *
post_meta(void)
{
  return json_pack("{s:s, s:b, s:i}", "listid", "test.example.com", "to_list",
                   1, "original_size", 400);
}

static void
add_member(Fixture *f, const char *email, MmMemberRole role)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(mm_store_member_add(f->store, f->list->list_id, email, NULL,
                                    role, 0, &error));
}

/* A post for a list with members: recipients, headers, footer, and the
 * side queues. */
static void
test_posting(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  add_member(&f, "anne@example.com", MM_ROLE_MEMBER);
  add_member(&f, "bart@example.com", MM_ROLE_MEMBER);
  add_member(&f, "owner@example.com", MM_ROLE_OWNER);
  gint64 post_id = f.list->post_id;

  json_auto_t *meta = post_meta();
  g_autofree char *before = json_dumps(meta, JSON_SORT_KEYS);
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(process(&f, FALSE, "plain.in.eml", meta, &error), ==,
                  MM_PIPELINE_DONE);
  g_assert_no_error(error);
  /* The caller's metadata is left as it was. */
  g_autofree char *after = json_dumps(meta, JSON_SORT_KEYS);
  g_assert_cmpstr(before, ==, after);

  g_assert_cmpuint(queue_count(&f, "out"), ==, 1);
  g_assert_cmpuint(queue_count(&f, "archive"), ==, 1);
  g_assert_cmpuint(queue_count(&f, "virgin"), ==, 0);
  g_autoptr(GBytes) raw = NULL;
  json_auto_t *out_meta = NULL;
  queue_first(&f, "out", &raw, &out_meta);
  json_t *recipients = json_object_get(out_meta, "recipients");
  g_assert_cmpuint(json_array_size(recipients), ==, 2);
  g_assert_cmpstr(json_string_value(json_array_get(recipients, 0)), ==,
                  "anne@example.com");
  g_assert_cmpstr(json_string_value(json_array_get(recipients, 1)), ==,
                  "bart@example.com");
  g_assert_cmpstr(json_string_value(json_object_get(out_meta, "listid")), ==,
                  "test.example.com");
  g_assert_true(mm_handlers_meta_true(out_meta, "nodecorate"));
  g_assert_cmpstr(
      json_string_value(json_object_get(out_meta, "original_sender")), ==,
      "anne@example.com");

  MmHandlerContext ctx = {0};
  ctx.message = mm_handlers_message_parse(raw, NULL);
  assert_golden(&ctx, "pipeline-post.out.eml");
  g_clear_object(&ctx.message);

  g_autoptr(MmList) list =
      mm_store_list_get(f.store, "test.example.com", NULL);
  g_assert_cmpint(list->post_id, ==, post_id + 1);
  g_autofree char *digest =
      g_build_filename(mm_config_path(f.config, "list_data_dir"),
                       "test.example.com", "digest.mmdf", NULL);
  g_assert_true(g_file_test(digest, G_FILE_TEST_IS_REGULAR));
  fixture_clear(&f);
}

/* Mail to -owner goes to the owners and moderators, unchanged. */
static void
test_owner(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  add_member(&f, "anne@example.com", MM_ROLE_MEMBER);
  add_member(&f, "owner@example.com", MM_ROLE_OWNER);
  add_member(&f, "mod@example.com", MM_ROLE_MODERATOR);
  json_auto_t *meta = post_meta();
  json_object_set_new(meta, "to_owner", json_true());
  json_object_del(meta, "to_list");
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(process(&f, FALSE, "plain.in.eml", meta, &error), ==,
                  MM_PIPELINE_DONE);
  g_assert_cmpuint(queue_count(&f, "archive"), ==, 0);
  g_autoptr(GBytes) raw = NULL;
  json_auto_t *out_meta = NULL;
  queue_first(&f, "out", &raw, &out_meta);
  json_t *recipients = json_object_get(out_meta, "recipients");
  g_assert_cmpuint(json_array_size(recipients), ==, 2);
  g_assert_cmpstr(json_string_value(json_array_get(recipients, 0)), ==,
                  "mod@example.com");
  g_assert_true(mm_handlers_meta_true(out_meta, "verp"));
  g_autoptr(GMimeMessage) message = mm_handlers_message_parse(raw, NULL);
  g_assert_false(mm_handlers_header_has(message, "List-Id"));
  g_autofree char *subject = mm_handlers_header_get(message, "Subject");
  g_assert_cmpstr(subject, ==, "Hello list");
  fixture_clear(&f);
}

/* A notice the server wrote: reduced List-* headers, no Reply-To munging,
 * no prefix, no footer, its own recipients. */
static void
test_virgin(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(mm_store_list_set(f.store, f.list, "reply_goes_to_list",
                                  "point_to_list", &error));
  json_auto_t *meta = json_pack(
      "{s:s, s:[s], s:b, s:b}", "listid", "test.example.com", "recipients",
      "someone@example.org", "nodecorate", 1, "reduced_list_headers", 1);
  g_assert_cmpint(process(&f, TRUE, "replyto.in.eml", meta, &error), ==,
                  MM_PIPELINE_DONE);
  g_assert_no_error(error);
  g_autoptr(GBytes) raw = NULL;
  json_auto_t *out_meta = NULL;
  queue_first(&f, "out", &raw, &out_meta);
  json_t *recipients = json_object_get(out_meta, "recipients");
  g_assert_cmpuint(json_array_size(recipients), ==, 1);
  g_assert_cmpstr(json_string_value(json_array_get(recipients, 0)), ==,
                  "someone@example.org");
  g_assert_null(json_object_get(out_meta, "_fasttrack"));
  g_autoptr(GMimeMessage) message = mm_handlers_message_parse(raw, NULL);
  g_assert_true(mm_handlers_header_has(message, "List-Id"));
  g_assert_true(mm_handlers_header_has(message, "List-Unsubscribe"));
  g_assert_false(mm_handlers_header_has(message, "List-Post"));
  g_assert_true(mm_handlers_header_has(message, "X-Mailman-Version"));
  g_autofree char *reply_to = mm_handlers_header_get(message, "Reply-To");
  g_assert_cmpstr(reply_to, ==, "\"Doe, John\" <john@example.org>");
  g_autofree char *subject = mm_handlers_header_get(message, "Subject");
  g_assert_cmpstr(subject, ==, "Reply to whom?");
  fixture_clear(&f);
}

static void
test_outcomes(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  g_autoptr(GError) error = NULL;

  /* Not a message at all: BAD. */
  json_auto_t *meta = post_meta();
  g_assert_cmpint(process(&f, FALSE, "garbage.in.eml", meta, &error), ==,
                  MM_PIPELINE_BAD);
  g_assert_error(error, MM_ERROR, MM_ERROR_INVALID);
  g_clear_error(&error);

  /* No list, or a list that is gone: NO_LIST. */
  json_auto_t *nolist = json_object();
  g_assert_cmpint(process(&f, FALSE, "plain.in.eml", nolist, &error), ==,
                  MM_PIPELINE_NO_LIST);
  g_clear_error(&error);
  json_auto_t *gone = json_pack("{s:s}", "listid", "gone.example.com");
  g_assert_cmpint(process(&f, FALSE, "plain.in.eml", gone, &error), ==,
                  MM_PIPELINE_NO_LIST);
  g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* "listname" (an fqdn) works too. */
  json_auto_t *by_name = json_pack("{s:s}", "listname", "test@example.com");
  g_assert_cmpint(process(&f, FALSE, "plain.in.eml", by_name, &error), ==,
                  MM_PIPELINE_DONE);

  /* A pipeline nobody knows: FAILED. */
  g_assert_true(mm_store_list_set(f.store, f.list, "posting_pipeline",
                                  "no-such-pipeline", &error));
  g_assert_cmpint(process(&f, FALSE, "plain.in.eml", meta, &error), ==,
                  MM_PIPELINE_FAILED);
  g_assert_nonnull(strstr(error->message, "no-such-pipeline"));
  g_clear_error(&error);
  g_assert_true(mm_store_list_set(f.store, f.list, "posting_pipeline",
                                  "default-posting-pipeline", &error));

  /* Content filtering rejects: the sender hears why, with the message. */
  guint out_before = queue_count(&f, "out");
  g_assert_true(
      mm_store_list_set(f.store, f.list, "filter_content", "yes", &error));
  g_assert_true(
      mm_store_list_set(f.store, f.list, "filter_action", "reject", &error));
  g_hash_table_replace(f.list->settings, g_strdup("filter_types"),
                       g_strdup("text/html"));
  /* The run reads the list from the database, where filter_types does not
   * exist yet; reach it through the storage-less path instead. */
  MmHandlerContext ctx;
  fixture_context(&f, &ctx, "html-only.in.eml", NULL);
  g_assert_cmpint(run_handlers(&ctx, "mime-delete"), ==, MM_HANDLER_REJECT);
  g_assert_true(mm_handlers_notice_reject(&ctx, ctx.reason, &error));
  mm_handler_context_clear(&ctx);
  g_assert_cmpuint(queue_count(&f, "out"), ==, out_before);
  g_autoptr(GBytes) raw = NULL;
  json_auto_t *notice_meta = NULL;
  queue_first(&f, "virgin", &raw, &notice_meta);
  g_autoptr(GMimeMessage) notice = mm_handlers_message_parse(raw, NULL);
  g_autofree char *to = mm_handlers_header_get(notice, "To");
  g_autofree char *from = mm_handlers_header_get(notice, "From");
  g_autofree char *subject = mm_handlers_header_get(notice, "Subject");
  g_assert_cmpstr(to, ==, "anne@example.com");
  g_assert_cmpstr(from, ==, "test-owner@example.com");
  g_assert_cmpstr(subject, ==, "Only HTML");
  GMimeObject *body = g_mime_message_get_mime_part(notice);
  g_assert_true(GMIME_IS_MULTIPART(body));
  GMimeObject *text = g_mime_multipart_get_part(GMIME_MULTIPART(body), 0);
  g_autofree char *reason =
      mm_handlers_part_get_text(GMIME_PART(text), "us-ascii", NULL);
  g_assert_cmpstr(reason, ==,
                  "The message's content type was explicitly disallowed");
  g_assert_true(GMIME_IS_MESSAGE_PART(
      g_mime_multipart_get_part(GMIME_MULTIPART(body), 1)));
  fixture_clear(&f);
}

/* Broken input goes all the way through without a critical. */
static void
test_malformed(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  add_member(&f, "anne@example.com", MM_ROLE_MEMBER);
  g_autoptr(GError) error = NULL;
  g_assert_true(
      mm_store_list_set(f.store, f.list, "filter_content", "yes", &error));
  json_auto_t *meta = post_meta();
  g_assert_cmpint(process(&f, FALSE, "malformed.in.eml", meta, &error), ==,
                  MM_PIPELINE_DONE);
  g_assert_no_error(error);
  const char *inputs[] = {"intl.in.eml",        "signed.in.eml",
                          "attachments.in.eml", "dmarc.in.eml",
                          "empty-first.in.eml", "anonymous.in.eml"};
  for (gsize i = 0; i < G_N_ELEMENTS(inputs); i++) {
    g_assert_cmpint(process(&f, FALSE, inputs[i], meta, &error), ==,
                    MM_PIPELINE_DONE);
    g_assert_no_error(error);
  }
  g_assert_cmpuint(queue_count(&f, "out"), ==, 1 + G_N_ELEMENTS(inputs));
  fixture_clear(&f);
}

/* The DNS fixture hook: with no resolver given, MAILMAN_TEST_DNS_FIXTURE
 * names the file, and a strict From domain gets its From munged. */
static void
test_dmarc_fixture_hook(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(mm_store_list_set(f.store, f.list, "dmarc_mitigate_action",
                                  "munge_from", &error));
  g_autofree char *dns = g_build_filename(MM_TEST_DATA_DIR, "dns.txt", NULL);
  g_setenv("MAILMAN_TEST_DNS_FIXTURE", dns, TRUE);
  g_autoptr(GBytes) raw = read_data("dmarc.in.eml");
  json_auto_t *meta = post_meta();
  MmPipelineEnv env = {
      .config = f.config, .store = f.store, .queue_root = f.queue_root};
  g_assert_cmpint(mm_handlers_pipeline_process(&env, FALSE, raw, meta, &error),
                  ==, MM_PIPELINE_DONE);
  g_unsetenv("MAILMAN_TEST_DNS_FIXTURE");
  g_autoptr(GBytes) out = NULL;
  json_auto_t *out_meta = NULL;
  queue_first(&f, "out", &out, &out_meta);
  g_autoptr(GMimeMessage) message = mm_handlers_message_parse(out, NULL);
  g_autofree char *from = mm_handlers_header_get(message, "From");
  g_assert_cmpstr(from, ==, "Rita Reject via Test <test@example.com>");
  fixture_clear(&f);
}

static void
test_tables(void)
{
  g_assert_true(mm_handlers_pipeline_exists("default-posting-pipeline"));
  g_assert_true(mm_handlers_pipeline_exists("default-owner-pipeline"));
  g_assert_true(mm_handlers_pipeline_exists("virgin"));
  g_assert_false(mm_handlers_pipeline_exists("built-in"));
  const char *const *posting =
      mm_handlers_pipeline_handler_names("default-posting-pipeline");
  g_assert_cmpstr(posting[0], ==, "validate-authenticity");
  guint n = g_strv_length((char **)posting);
  g_assert_cmpstr(posting[n - 1], ==, "to-outgoing");
  const char *const *virgin = mm_handlers_pipeline_handler_names("virgin");
  g_assert_cmpstr(virgin[0], ==, "cook-headers");
  g_assert_cmpstr(virgin[1], ==, "rfc-2369");
  g_assert_cmpstr(virgin[2], ==, "to-outgoing");
  g_assert_null(virgin[3]);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  mm_message_gmime_init();
  g_test_add_func("/handlers/pipeline/tables", test_tables);
  g_test_add_func("/handlers/pipeline/posting", test_posting);
  g_test_add_func("/handlers/pipeline/owner", test_owner);
  g_test_add_func("/handlers/pipeline/virgin", test_virgin);
  g_test_add_func("/handlers/pipeline/outcomes", test_outcomes);
  g_test_add_func("/handlers/pipeline/malformed", test_malformed);
  g_test_add_func("/handlers/pipeline/dmarc-fixture-hook",
                  test_dmarc_fixture_hook);
  return g_test_run();
}
