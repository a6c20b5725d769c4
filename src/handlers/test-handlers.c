/* Unit tests of the pipeline handlers, one at a time, on real messages
 * (tests/data/handlers/ *.in.eml) against golden results (*.out.eml), with
 * a real SQLite database for the handlers that read the roster.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-handlers-fixture.h"

/* ---- golden cases --------------------------------------------------- */

typedef struct {
  const char *name;     /* the golden file is NAME.out.eml */
  const char *input;    /* NAME.in.eml when NULL */
  const char *handlers; /* comma-separated */
  const char *const *settings;
  const char *meta;
  const char *config; /* extra mailman.cfg text */
  MmHandlerResult result;
} GoldenCase;

#define SETTINGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const GoldenCase golden_cases[] = {
    /* The header work of the posting pipeline on a plain message. */
    {"plain", NULL, "cleanse,cook-headers,subject-prefix,rfc-2369,decorate",
     NULL, NULL, NULL, MM_HANDLER_CONTINUE},
    {"secrets", NULL, "cleanse", NULL, NULL, NULL, MM_HANDLER_CONTINUE},
    {"anonymous", NULL, "cleanse",
     SETTINGS("anonymous_list=yes", "description=Secret Club"), NULL, NULL,
     MM_HANDLER_CONTINUE},
    {"dkim", NULL, "cleanse-dkim", NULL, NULL,
     "[mta]\nremove_dkim_headers: yes\n", MM_HANDLER_CONTINUE},
    {"dkim-kept", "dkim", "cleanse-dkim", NULL, NULL, NULL,
     MM_HANDLER_CONTINUE},
    {"replyto-point", "replyto", "cook-headers",
     SETTINGS("reply_goes_to_list=point_to_list", "description=Test list"),
     NULL, NULL, MM_HANDLER_CONTINUE},
    {"replyto-explicit", "replyto", "cook-headers",
     SETTINGS("reply_goes_to_list=explicit_header",
              "reply_to_address=discuss@example.com",
              "first_strip_reply_to=yes"),
     NULL, NULL, MM_HANDLER_CONTINUE},
    {"replyto-full", "replyto", "cook-headers",
     SETTINGS("personalize=full", "description=Test list"), NULL, NULL,
     MM_HANDLER_CONTINUE},
    {"replyto-fasttrack", "replyto", "cook-headers",
     SETTINGS("reply_goes_to_list=point_to_list"),
     "{\"_fasttrack\": true, \"noack\": true}", NULL, MM_HANDLER_CONTINUE},
    /* Non-ASCII names, subjects and descriptions in several charsets. */
    {"intl", NULL, "cook-headers,subject-prefix,rfc-2369,decorate",
     SETTINGS("reply_goes_to_list=point_to_list",
              "description=Liste f\xc3\xbcr Tests",
              "subject_prefix=[T\xc3\xa9st] "),
     NULL, NULL, MM_HANDLER_CONTINUE},
    {"latin1", NULL, "subject-prefix,decorate", NULL, NULL, NULL,
     MM_HANDLER_CONTINUE},
    /* rfc-2369 variants. */
    {"rfc2369-reduced", "plain", "rfc-2369", SETTINGS("allow_list_posts=no"),
     "{\"reduced_list_headers\": true}", NULL, MM_HANDLER_CONTINUE},
    {"rfc2369-archivers", "plain", "rfc-2369",
     SETTINGS("allow_list_posts=no", "description=Archived \"list\""), NULL,
     "[archiver.mail_archive]\nenable: yes\n"
     "[archiver.mhonarc]\nenable: yes\n"
     "[archiver.prototype]\nenable: yes\n",
     MM_HANDLER_CONTINUE},
    {"rfc2369-oneclick", "plain", "rfc-2369", NULL, NULL,
     "[mailman]\nlist_unsubscribe_url: "
     "https://lists.example.com/unsubscribe/$list_id\n",
     MM_HANDLER_CONTINUE},
    {"rfc2369-off", "plain", "rfc-2369",
     SETTINGS("include_rfc2369_headers=no"), NULL, NULL, MM_HANDLER_CONTINUE},
    /* Content filtering. */
    {"mime-collapse", "alternative", "mime-delete",
     SETTINGS("filter_content=yes"), NULL, NULL, MM_HANDLER_CONTINUE},
    {"mime-html-to-text", "html-only", "mime-delete",
     SETTINGS("filter_content=yes", "convert_html_to_plaintext=yes"), NULL,
     "[mailman]\nhtml_to_plain_text_command: /bin/sed -e s/<[^>]*>//g "
     "$filename\n",
     MM_HANDLER_CONTINUE},
    {"mime-filter-types", "attachments", "mime-delete",
     SETTINGS("filter_content=yes", "filter_types=image|text/html"), NULL,
     "[mailman]\nfilter_report: yes\n", MM_HANDLER_CONTINUE},
    {"mime-filter-extensions", "attachments", "mime-delete",
     SETTINGS("filter_content=yes", "filter_extensions=exe",
              "collapse_alternatives=no"),
     NULL, NULL, MM_HANDLER_CONTINUE},
    {"mime-pass-types", "attachments", "mime-delete",
     SETTINGS("filter_content=yes", "pass_types=multipart|text/plain"), NULL,
     NULL, MM_HANDLER_CONTINUE},
    {"mime-signed", "signed", "mime-delete", SETTINGS("filter_content=yes"),
     NULL, NULL, MM_HANDLER_CONTINUE},
    {"mime-empty-first", "empty-first", "mime-delete",
     SETTINGS("filter_content=yes"), NULL, NULL, MM_HANDLER_CONTINUE},
    {"mime-off", "alternative", "mime-delete", NULL, NULL, NULL,
     MM_HANDLER_CONTINUE},
    /* Decoration. */
    {"decorate-alternative", "alternative", "decorate", NULL, NULL, NULL,
     MM_HANDLER_CONTINUE},
    {"decorate-html", "html-only", "decorate", NULL, NULL, NULL,
     MM_HANDLER_CONTINUE},
    {"decorate-mixed", "attachments", "decorate", NULL, NULL, NULL,
     MM_HANDLER_CONTINUE},
    {"decorate-signed", "signed", "decorate", NULL, NULL, NULL,
     MM_HANDLER_CONTINUE},
    {"decorate-skipped", "plain", "decorate", NULL, "{\"nodecorate\": true}",
     NULL, MM_HANDLER_CONTINUE},
    /* DMARC mitigations (the fixture resolver says p=reject). */
    {"dmarc-munge", "dmarc", "dmarc",
     SETTINGS("dmarc_mitigate_action=munge_from"), NULL, NULL,
     MM_HANDLER_CONTINUE},
    {"dmarc-munge-cc", "dmarc", "dmarc",
     SETTINGS("dmarc_mitigate_action=munge_from",
              "reply_goes_to_list=point_to_list"),
     "{\"dmarc\": true}", NULL, MM_HANDLER_CONTINUE},
    {"dmarc-wrap", "dmarc", "dmarc",
     SETTINGS("dmarc_mitigate_action=wrap_message"), "{\"dmarc\": true}", NULL,
     MM_HANDLER_CONTINUE},
    {"dmarc-wrap-text", "dmarc", "dmarc,decorate",
     SETTINGS("dmarc_mitigate_action=wrap_message",
              "dmarc_wrapped_message_text=This list rewrites posts from "
              "domains with a strict DMARC policy.  The original message is "
              "attached, unchanged."),
     "{\"dmarc\": true}", NULL, MM_HANDLER_CONTINUE},
    {"dmarc-noname", NULL, "dmarc",
     SETTINGS("dmarc_mitigate_action=munge_from"), "{\"dmarc\": true}", NULL,
     MM_HANDLER_CONTINUE},
    {"dmarc-rule-missed", "dmarc", "dmarc",
     SETTINGS("dmarc_mitigate_action=munge_from"),
     "{\"rule_misses\": [\"dmarc-mitigation\"]}", NULL, MM_HANDLER_CONTINUE},
    {"arc", NULL, "validate-authenticity", NULL, NULL,
     "[ARC]\nenabled: yes\nauthserv_id: lists.example.com\n"
     "privkey: " MM_TEST_DATA_DIR "/psl.dat\n"
     "trusted_authserv_ids: mx.example.com, other.example.com\n",
     MM_HANDLER_CONTINUE},
    {"arc-untrusted", "arc", "validate-authenticity", NULL, NULL,
     "[ARC]\nenabled: yes\nauthserv_id: lists.example.com\n"
     "privkey: " MM_TEST_DATA_DIR "/psl.dat\n",
     MM_HANDLER_CONTINUE},
    {"topics", NULL, "tagger",
     SETTINGS("topics_enabled=yes",
              "topics=snakes\tpython|snake|constrictor|lizards\tgecko"),
     NULL, NULL, MM_HANDLER_CONTINUE},
    /* A message the parser had to guess about still goes through. */
    {"malformed", NULL,
     "mime-delete,cleanse,cook-headers,subject-prefix,rfc-2369,decorate",
     SETTINGS("filter_content=yes"), NULL, NULL, MM_HANDLER_CONTINUE},
};

static void
test_golden(gconstpointer data)
{
  const GoldenCase *c = data;
  Fixture f;
  MmHandlerContext ctx;

  fixture_init(&f, c->config);
  if (g_str_equal(c->name, "rfc2369-oneclick") &&
      mm_config_get(f.config, "mailman", "list_unsubscribe_url") == NULL) {
    /* The key is not in the lead's schema yet (see the report). */
    g_test_skip("[mailman] list_unsubscribe_url is not in the schema");
    fixture_clear(&f);
    return;
  }
  if (g_str_has_prefix(c->name, "decorate") ||
      g_str_equal(c->name, "dmarc-wrap-text")) {
    /* A site-wide header, so that header placement shows too. */
    g_autofree char *header =
        g_build_filename(f.dir, "var", "templates", "site", "en",
                         "list:member:regular:header.txt", NULL);
    mm_test_write_file(header, "Posted to $display_name\n");
  }
  fixture_set(&f, c->settings);
  g_autofree char *input =
      g_strconcat(c->input != NULL ? c->input : c->name, ".in.eml", NULL);
  fixture_context(&f, &ctx, input, c->meta);
  g_assert_cmpint(run_handlers(&ctx, c->handlers), ==, c->result);
  g_autofree char *golden = g_strconcat(c->name, ".out.eml", NULL);
  assert_golden(&ctx, golden);
  mm_handler_context_clear(&ctx);
  fixture_clear(&f);
}

/* ---- subject prefixes ------------------------------------------------ */

typedef struct {
  const char *prefix;   /* NULL: the default "[Test] " */
  const char *subject;  /* raw header value; NULL: no Subject */
  const char *expected; /* the new Subject, decoded */
  const char *stripped; /* metadata stripped_subject */
} SubjectCase;

static const SubjectCase subject_cases[] = {
    {NULL, "hello", "[Test] hello", "hello"},
    {NULL, "[Test] hello", "[Test] hello", "hello"},
    {NULL, "Re: [Test] hello", "[Test] Re: hello", "Re: hello"},
    {NULL, "[Test] Re: hello", "[Test] Re: hello", "Re: hello"},
    {NULL, "RE: AW: Sv: vs[2]: hello", "[Test] Re: hello",
     "RE: AW: Sv: vs[2]: hello"},
    {NULL, "Re: Re: [Test] Re: hello", "[Test] Re: hello",
     "Re: Re: Re: hello"},
    {NULL, "", "[Test] (no subject)", "(no subject)"},
    {NULL, "   ", "[Test] (no subject)", "(no subject)"},
    {NULL, NULL, "[Test] (no subject)", "(no subject)"},
    {NULL, "=?utf-8?q?Caf=C3=A9?= au lait", "[Test] Café au lait",
     "Café au lait"},
    {NULL, "Re: =?iso-8859-1?q?=5BTest=5D_Caf=E9?=", "[Test] Re: Café",
     "Re: Café"},
    {NULL, "=?koi8-r?b?8NLJ18XU?=", "[Test] Привет", "Привет"},
    {NULL, "=?windows-1252?q?=93quoted=94?=", "[Test] “quoted”", "“quoted”"},
    {NULL,
     "A very long subject line that goes on and on, well past the "
     "seventy-eight columns a header line should keep to",
     "[Test] A very long subject line that goes on and on, well past the "
     "seventy-eight columns a header line should keep to",
     "A very long subject line that goes on and on, well past the "
     "seventy-eight columns a header line should keep to"},
    {"[Test %d] ", "hello", "[Test 42] hello", "hello"},
    {"[Test %d] ", "Re: [Test 41] hello", "[Test 42] Re: hello", "Re: hello"},
    {"[Test %05d] ", "[Test 00041] Re: hello", "[Test 00042] Re: hello",
     "Re: hello"},
    {"[Test %d%%] ", "hello", "[Test 42%] hello", "hello"},
    {"[Test] %s", "hello", "[Test] 42hello", "hello"},
    {"[Tést] ", "Re: [Tést] ça va", "[Tést] Re: ça va", "Re: ça va"},
    {"   ", "hello", "hello", NULL},
};

static void
test_subject_prefix(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(subject_cases); i++) {
    const SubjectCase *c = &subject_cases[i];
    Fixture f;
    MmHandlerContext ctx;
    fixture_init(&f, NULL);
    if (c->prefix != NULL) {
      g_autofree char *setting =
          g_strconcat("subject_prefix=", c->prefix, NULL);
      fixture_set(&f, (const char *const[]){setting, NULL});
    }
    f.list->post_id = 42;
    fixture_context(&f, &ctx, "plain.in.eml", NULL);
    mm_handlers_header_remove(ctx.message, "Subject");
    if (c->subject != NULL)
      g_mime_object_append_header(GMIME_OBJECT(ctx.message), "Subject", "",
                                  NULL);
    if (c->subject != NULL) {
      GMimeHeaderList *headers =
          g_mime_object_get_header_list(GMIME_OBJECT(ctx.message));
      GMimeHeader *h = g_mime_header_list_get_header(headers, "Subject");
      g_autofree char *raw = g_strconcat(" ", c->subject, "\n", NULL);
      g_mime_header_set_raw_value(h, raw);
    }
    g_assert_cmpint(run_handlers(&ctx, "subject-prefix"), ==,
                    MM_HANDLER_CONTINUE);
    g_autofree char *subject = mm_handlers_header_get(ctx.message, "Subject");
    g_test_message("case %" G_GSIZE_FORMAT ": %s -> %s", i,
                   c->subject != NULL ? c->subject : "(none)", subject);
    g_assert_cmpstr(subject, ==, c->expected);
    g_assert_cmpstr(mm_handlers_meta_string(ctx.meta, "stripped_subject"), ==,
                    c->stripped);
    /* The header as written is ASCII, encoded where it must be. */
    g_autofree char *raw = mm_handlers_header_get_raw(ctx.message, "Subject");
    for (const char *p = raw; *p != '\0'; p++)
      g_assert_cmpint((unsigned char)*p, <, 0x80);
    mm_handler_context_clear(&ctx);
    fixture_clear(&f);
  }
}

/* An encoded word in a charset nobody knows stays as it was. */
static void
test_subject_unknown_charset(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  mm_handlers_header_remove(ctx.message, "Subject");
  mm_handlers_header_append_raw(ctx.message, "Subject",
                                "Re: [Test] =?x-no-such?q?caf=E9?= time");
  g_assert_cmpint(run_handlers(&ctx, "subject-prefix"), ==,
                  MM_HANDLER_CONTINUE);
  g_autofree char *raw = mm_handlers_header_get_raw(ctx.message, "Subject");
  g_assert_cmpstr(raw, ==, "[Test] Re: =?x-no-such?q?caf=E9?= time");
  mm_handler_context_clear(&ctx);
  fixture_clear(&f);
}

/* ---- recipients (storage-backed) -------------------------------------- */

static void
add_member(Fixture *f, const char *email, MmMemberRole role,
           MmDeliveryMode mode)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(mm_store_member_add(f->store, f->list->list_id, email, NULL,
                                    role, mode, &error));
  g_assert_no_error(error);
}

static void
set_preference(Fixture *f, MmPrefLevel level, const char *email,
               const char *name, const char *value)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(mm_store_preference_set(
      f->store, level, email, f->list->list_id, name, value, &error));
  g_assert_no_error(error);
}

static char *
recipients_of(MmHandlerContext *ctx)
{
  json_t *recipients = json_object_get(ctx->meta, "recipients");
  g_assert_true(json_is_array(recipients));
  GString *out = g_string_new(NULL);
  size_t i;
  json_t *item;
  json_array_foreach(recipients, i, item) {
    if (out->len > 0)
      g_string_append_c(out, ' ');
    g_string_append(out, json_string_value(item));
  }
  return g_string_free(out, FALSE);
}

static void
test_member_recipients(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  add_member(&f, "Anne@Example.com", MM_ROLE_MEMBER, 0);
  add_member(&f, "bart@example.com", MM_ROLE_MEMBER, MM_DELIVERY_REGULAR);
  add_member(&f, "cris@example.com", MM_ROLE_MEMBER, MM_DELIVERY_MIME_DIGESTS);
  add_member(&f, "dave@example.com", MM_ROLE_MEMBER, 0);
  add_member(&f, "elly@example.com", MM_ROLE_MEMBER, 0);
  add_member(&f, "owner@example.com", MM_ROLE_OWNER, 0);
  add_member(&f, "nonmember@example.com", MM_ROLE_NONMEMBER, 0);
  g_autoptr(GError) error = NULL;
  g_assert_true(mm_store_member_set_delivery_status(
      f.store, f.list->list_id, "dave@example.com", MM_STATUS_BY_USER,
      &error));
  /* elly's delivery mode comes from her address's preference. */
  set_preference(&f, MM_PREF_LEVEL_ADDRESS, "elly@example.com",
                 "delivery_mode", "plaintext_digests");

  /* Anne posts and wants her own posts (the default). */
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  g_assert_cmpint(run_handlers(&ctx, "member-recipients"), ==,
                  MM_HANDLER_CONTINUE);
  g_autofree char *all = recipients_of(&ctx);
  g_assert_cmpstr(all, ==, "anne@example.com bart@example.com");
  mm_handler_context_clear(&ctx);

  /* Now she does not. */
  set_preference(&f, MM_PREF_LEVEL_MEMBER, "anne@example.com",
                 "receive_own_postings", "no");
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  g_assert_cmpint(run_handlers(&ctx, "member-recipients"), ==,
                  MM_HANDLER_CONTINUE);
  g_autofree char *without = recipients_of(&ctx);
  g_assert_cmpstr(without, ==, "bart@example.com");
  mm_handler_context_clear(&ctx);

  /* Recipients already there are left alone, even an empty set. */
  fixture_context(&f, &ctx, "plain.in.eml", "{\"recipients\": []}");
  g_assert_cmpint(run_handlers(&ctx, "member-recipients"), ==,
                  MM_HANDLER_CONTINUE);
  g_assert_cmpuint(json_array_size(json_object_get(ctx.meta, "recipients")),
                   ==, 0);
  mm_handler_context_clear(&ctx);
  fixture_clear(&f);
}

static void
test_owner_recipients(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  /* Nobody: the site owner. */
  fixture_context(&f, &ctx, "plain.in.eml", "{\"to_owner\": true}");
  g_assert_cmpint(run_handlers(&ctx, "owner-recipients"), ==,
                  MM_HANDLER_CONTINUE);
  g_autofree char *site = recipients_of(&ctx);
  g_assert_cmpstr(site, ==, "siteowner@example.net");
  g_assert_true(mm_handlers_meta_true(ctx.meta, "nodecorate"));
  g_assert_true(mm_handlers_meta_true(ctx.meta, "verp"));
  mm_handler_context_clear(&ctx);

  add_member(&f, "Owner@example.com", MM_ROLE_OWNER, 0);
  add_member(&f, "mod@example.com", MM_ROLE_MODERATOR, 0);
  add_member(&f, "both@example.com", MM_ROLE_OWNER, 0);
  add_member(&f, "both@example.com", MM_ROLE_MODERATOR, 0);
  add_member(&f, "member@example.com", MM_ROLE_MEMBER, 0);
  fixture_context(&f, &ctx, "plain.in.eml", "{\"to_owner\": true}");
  g_assert_cmpint(run_handlers(&ctx, "owner-recipients"), ==,
                  MM_HANDLER_CONTINUE);
  g_autofree char *admins = recipients_of(&ctx);
  g_assert_cmpstr(admins, ==,
                  "both@example.com mod@example.com owner@example.com");
  mm_handler_context_clear(&ctx);
  fixture_clear(&f);
}

static void
test_avoid_duplicates(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  const char *members[] = {"anne@example.com", "bart@example.com",
                           "cris@example.com", "dave@example.com",
                           "erin@example.com"};
  for (gsize i = 0; i < G_N_ELEMENTS(members); i++)
    add_member(&f, members[i], MM_ROLE_MEMBER, 0);
  /* Cris and Bart, both named, do not want the list's copy; Dave does. */
  set_preference(&f, MM_PREF_LEVEL_MEMBER, "cris@example.com",
                 "receive_list_copy", "no");
  set_preference(&f, MM_PREF_LEVEL_ADDRESS, "bart@example.com",
                 "receive_list_copy", "no");

  fixture_context(&f, &ctx, "dups.in.eml", NULL);
  g_assert_cmpint(run_handlers(&ctx, "member-recipients,avoid-duplicates"), ==,
                  MM_HANDLER_CONTINUE);
  g_autofree char *recipients = recipients_of(&ctx);
  g_assert_cmpstr(recipients, ==,
                  "anne@example.com dave@example.com erin@example.com");
  json_t *dups = json_object_get(ctx.meta, "add-dup-header");
  g_assert_cmpuint(json_array_size(dups), ==, 1);
  g_assert_cmpstr(json_string_value(json_array_get(dups, 0)), ==,
                  "dave@example.com");
  /* One CC header, Cris gone, the list's own address kept. */
  assert_golden(&ctx, "dups.out.eml");
  mm_handler_context_clear(&ctx);
  fixture_clear(&f);
}

/* ---- side effects: queues, digest, counters, notices ------------------ */

static void
test_to_archive(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  fixture_context(&f, &ctx, "plain.in.eml", "{\"recipients\": [\"a@b.c\"]}");
  g_assert_cmpint(run_handlers(&ctx, "to-archive"), ==, MM_HANDLER_CONTINUE);
  g_assert_cmpuint(queue_count(&f, "archive"), ==, 1);
  mm_handler_context_clear(&ctx);

  /* X-No-Archive, "X-Archive: No", digests and archive_policy never. */
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  mm_handlers_header_append(ctx.message, "X-No-Archive", "yes", NULL);
  run_handlers(&ctx, "to-archive");
  mm_handler_context_clear(&ctx);
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  mm_handlers_header_append(ctx.message, "X-Archive", "No", NULL);
  run_handlers(&ctx, "to-archive");
  mm_handler_context_clear(&ctx);
  fixture_context(&f, &ctx, "plain.in.eml", "{\"isdigest\": true}");
  run_handlers(&ctx, "to-archive");
  mm_handler_context_clear(&ctx);
  fixture_set(&f, SETTINGS("archive_policy=never"));
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  run_handlers(&ctx, "to-archive");
  mm_handler_context_clear(&ctx);
  g_assert_cmpuint(queue_count(&f, "archive"), ==, 1);

  g_autoptr(GBytes) message = NULL;
  json_auto_t *meta = NULL;
  queue_first(&f, "archive", &message, &meta);
  g_assert_cmpstr(json_string_value(json_object_get(meta, "listid")), ==,
                  "test.example.com");
  fixture_clear(&f);
}

static void
test_to_digest(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  for (int i = 0; i < 2; i++) {
    fixture_context(&f, &ctx, i == 0 ? "plain.in.eml" : "intl.in.eml", NULL);
    g_assert_cmpint(run_handlers(&ctx, "to-digest"), ==, MM_HANDLER_CONTINUE);
    mm_handler_context_clear(&ctx);
  }
  g_autofree char *path =
      g_build_filename(mm_config_path(f.config, "list_data_dir"),
                       "test.example.com", "digest.mmdf", NULL);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_auto(GStrv) records = g_strsplit(text, "\001\001\001\001\n", -1);
  /* "", msg1, "", msg2, "" around the separators. */
  g_assert_cmpuint(g_strv_length(records), ==, 5);
  g_assert_true(g_str_has_prefix(records[1], "From MAILER-DAEMON "));
  g_assert_nonnull(strstr(records[1], "Message-ID: <plain-1@example.com>"));
  g_assert_true(g_str_has_suffix(records[1], "two lines.\n\n"));
  g_assert_nonnull(strstr(records[3], "Message-ID: <intl-1@example.de>"));
  g_assert_cmpstr(records[4], ==, "");

  /* Digests off: nothing more is added. */
  fixture_set(&f, SETTINGS("digests_enabled=no"));
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  run_handlers(&ctx, "to-digest");
  mm_handler_context_clear(&ctx);
  g_autofree char *again = NULL;
  g_assert_true(g_file_get_contents(path, &again, NULL, NULL));
  g_assert_cmpstr(again, ==, text);
  fixture_clear(&f);
}

static void
test_after_delivery(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  gint64 before = f.list->post_id;
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  g_assert_cmpint(run_handlers(&ctx, "after-delivery,after-delivery"), ==,
                  MM_HANDLER_CONTINUE);
  mm_handler_context_clear(&ctx);
  g_autoptr(MmList) list =
      mm_store_list_get(f.store, "test.example.com", NULL);
  g_assert_cmpint(list->post_id, ==, before + 2);
  g_assert_cmpstr(mm_list_setting(list, "last_post_at"), !=, "");
  fixture_clear(&f);
}

static void
test_to_outgoing(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  fixture_context(&f, &ctx, "plain.in.eml",
                  "{\"recipients\": [\"x@example.com\", \"y@example.com\"],"
                  " \"_fasttrack\": true}");
  g_assert_cmpint(run_handlers(&ctx, "to-outgoing"), ==, MM_HANDLER_CONTINUE);
  mm_handler_context_clear(&ctx);
  g_autoptr(GBytes) message = NULL;
  json_auto_t *meta = NULL;
  queue_first(&f, "out", &message, &meta);
  g_assert_cmpstr(json_string_value(json_object_get(meta, "listid")), ==,
                  "test.example.com");
  g_assert_cmpuint(json_array_size(json_object_get(meta, "recipients")), ==,
                   2);
  g_assert_null(json_object_get(meta, "_fasttrack"));
  fixture_clear(&f);
}

static void
test_to_usenet(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  fixture_set(&f, SETTINGS("gateway_to_news=yes"));
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  run_handlers(&ctx, "to-usenet"); /* no newsgroup: logged, nothing queued */
  mm_handler_context_clear(&ctx);
  g_assert_cmpuint(queue_count(&f, "nntp"), ==, 0);
  fixture_set(&f, SETTINGS("linked_newsgroup=comp.test"));
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  run_handlers(&ctx, "to-usenet");
  mm_handler_context_clear(&ctx);
  fixture_context(&f, &ctx, "plain.in.eml", "{\"fromusenet\": true}");
  run_handlers(&ctx, "to-usenet");
  mm_handler_context_clear(&ctx);
  g_assert_cmpuint(queue_count(&f, "nntp"), ==, 1);
  fixture_clear(&f);
}

static void
test_acknowledge(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  add_member(&f, "anne@example.com", MM_ROLE_MEMBER, 0);

  /* Not wanted (the default): nothing. */
  fixture_context(&f, &ctx, "plain.in.eml", NULL);
  g_assert_cmpint(run_handlers(&ctx, "acknowledge"), ==, MM_HANDLER_CONTINUE);
  mm_handler_context_clear(&ctx);
  g_assert_cmpuint(queue_count(&f, "virgin"), ==, 0);

  set_preference(&f, MM_PREF_LEVEL_USER, "anne@example.com",
                 "acknowledge_posts", "yes");
  fixture_context(&f, &ctx, "plain.in.eml", "{\"lang\": \"en\"}");
  g_assert_cmpint(run_handlers(&ctx, "subject-prefix,acknowledge"), ==,
                  MM_HANDLER_CONTINUE);
  mm_handler_context_clear(&ctx);
  g_assert_cmpuint(queue_count(&f, "virgin"), ==, 1);

  g_autoptr(GBytes) raw = NULL;
  json_auto_t *meta = NULL;
  queue_first(&f, "virgin", &raw, &meta);
  g_autoptr(GMimeMessage) notice = mm_handlers_message_parse(raw, NULL);
  g_autofree char *to = mm_handlers_header_get(notice, "To");
  g_autofree char *from = mm_handlers_header_get(notice, "From");
  g_autofree char *subject = mm_handlers_header_get(notice, "Subject");
  g_autofree char *precedence = mm_handlers_header_get(notice, "Precedence");
  g_assert_cmpstr(to, ==, "anne@example.com");
  g_assert_cmpstr(from, ==, "test-bounces@example.com");
  g_assert_cmpstr(subject, ==, "Test: your post was received");
  g_assert_cmpstr(precedence, ==, "bulk");
  g_assert_true(mm_handlers_header_has(notice, "Message-ID"));
  g_assert_true(mm_handlers_header_has(notice, "Date"));
  GMimeObject *body = g_mime_message_get_mime_part(notice);
  g_autofree char *text =
      mm_handlers_part_get_text(GMIME_PART(body), "us-ascii", NULL);
  g_assert_nonnull(strstr(text, "[Test] Hello list"));
  g_assert_true(mm_handlers_meta_true(meta, "nodecorate"));
  g_assert_true(mm_handlers_meta_true(meta, "reduced_list_headers"));
  g_assert_cmpstr(json_string_value(
                      json_array_get(json_object_get(meta, "recipients"), 0)),
                  ==, "anne@example.com");

  /* A nonmember gets nothing, whatever their address says. */
  set_preference(&f, MM_PREF_LEVEL_ADDRESS, "anne@example.com",
                 "acknowledge_posts", "yes");
  fixture_context(&f, &ctx, "dmarc.in.eml", NULL);
  run_handlers(&ctx, "acknowledge");
  mm_handler_context_clear(&ctx);
  g_assert_cmpuint(queue_count(&f, "virgin"), ==, 1);
  fixture_clear(&f);
}

/* ---- mime-delete disposal ---------------------------------------------- */

static void
test_mime_dispose(void)
{
  static const struct {
    const char *action;
    MmHandlerResult result;
    const char *queue; /* where a copy goes, or NULL */
  } actions[] = {
      {"discard", MM_HANDLER_DISCARD, NULL},
      {"reject", MM_HANDLER_REJECT, NULL},
      {"forward", MM_HANDLER_DISCARD, "virgin"},
      {"preserve", MM_HANDLER_DISCARD, "bad"},
      {"hold", MM_HANDLER_DISCARD, NULL},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(actions); i++) {
    Fixture f;
    MmHandlerContext ctx;
    fixture_init(&f, "[mailman]\nfiltered_messages_are_preservable: yes\n");
    add_member(&f, "owner@example.com", MM_ROLE_OWNER, 0);
    add_member(&f, "mod@example.com", MM_ROLE_MODERATOR, 0);
    g_autofree char *action =
        g_strconcat("filter_action=", actions[i].action, NULL);
    fixture_set(
        &f, SETTINGS("filter_content=yes", "filter_types=text/html", action));
    fixture_context(&f, &ctx, "html-only.in.eml", NULL);
    g_assert_cmpint(run_handlers(&ctx, "mime-delete"), ==, actions[i].result);
    g_assert_cmpstr(ctx.reason, ==,
                    "The message's content type was explicitly disallowed");
    mm_handler_context_clear(&ctx);
    g_assert_cmpuint(queue_count(&f, "virgin"), ==,
                     g_strcmp0(actions[i].queue, "virgin") == 0);
    g_assert_cmpuint(queue_count(&f, "bad"), ==,
                     g_strcmp0(actions[i].queue, "bad") == 0);
    if (g_strcmp0(actions[i].queue, "virgin") == 0) {
      g_autoptr(GBytes) raw = NULL;
      json_auto_t *meta = NULL;
      queue_first(&f, "virgin", &raw, &meta);
      g_assert_cmpuint(json_array_size(json_object_get(meta, "recipients")),
                       ==, 2);
      g_autoptr(GMimeMessage) notice = mm_handlers_message_parse(raw, NULL);
      GMimeObject *body = g_mime_message_get_mime_part(notice);
      g_assert_true(GMIME_IS_MULTIPART(body));
      g_assert_true(GMIME_IS_MESSAGE_PART(
          g_mime_multipart_get_part(GMIME_MULTIPART(body), 1)));
    }
    fixture_clear(&f);
  }

  /* Everything filtered away: "empty" is the reason. */
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  fixture_set(&f, SETTINGS("filter_content=yes",
                           "pass_types=multipart/mixed|image/gif"));
  fixture_context(&f, &ctx, "attachments.in.eml", NULL);
  g_assert_cmpint(run_handlers(&ctx, "mime-delete"), ==, MM_HANDLER_DISCARD);
  g_assert_cmpstr(ctx.reason, ==,
                  "After content filtering, the message was empty");
  mm_handler_context_clear(&ctx);
  /* By extension, for the whole message. */
  fixture_set(&f, SETTINGS("pass_types=", "pass_extensions=txt|pdf"));
  fixture_context(&f, &ctx, "html-only.in.eml", NULL);
  g_mime_object_set_content_type_parameter(
      g_mime_message_get_mime_part(ctx.message), "name", "page.html");
  g_assert_cmpint(run_handlers(&ctx, "mime-delete"), ==, MM_HANDLER_DISCARD);
  g_assert_cmpstr(ctx.reason, ==,
                  "The message's file extension was not explicitly allowed");
  mm_handler_context_clear(&ctx);
  fixture_clear(&f);
}

/* ---- per-recipient decoration -------------------------------------------- */

/* One decorator per message, applied to several copies: each gets its own
 * recipient's variables, the body once, and the mail-archive.com address
 * gets the message untouched. */
static void
test_decorator(void)
{
  Fixture f;
  fixture_init(&f, NULL);
  g_autofree char *dir =
      g_build_filename(mm_config_path(f.config, "template_dir"), "lists",
                       "test.example.com", "en", NULL);
  g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
  g_autofree char *footer =
      g_build_filename(dir, "list:member:regular:footer.txt", NULL);
  g_assert_true(g_file_set_contents(
      footer, "-- \nfor $user_name_or_address ($user_language) "
              "<$user_delivered_to> as $user_address\n",
      -1, NULL));
  g_autofree char *path =
      g_build_filename(MM_TEST_DATA_DIR, "plain.in.eml", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) raw = mm_file_read_bounded(path, 1 << 20, &error);
  g_assert_no_error(error);
  json_auto_t *meta = json_pack("{s:s, s:[s, s]}", "lang", "en", "recipients",
                                "anne@example.com", "bob@example.org");

  g_autoptr(MmHandlersDecorator) d =
      mm_handlers_decorator_new(f.config, f.list, raw, meta, &error);
  g_assert_no_error(error);
  const MmHandlersRecipient anne = {"anne@example.com", "Anne@Example.com",
                                    "Anne Person", "en"};
  const MmHandlersRecipient bob = {"bob@example.org", NULL, "", NULL};
  g_autoptr(GBytes) for_anne = mm_handlers_decorator_apply(d, &anne, &error);
  g_assert_no_error(error);
  g_autoptr(GBytes) for_bob = mm_handlers_decorator_apply(d, &bob, &error);
  g_assert_no_error(error);
  g_autofree char *a = g_strndup(g_bytes_get_data(for_anne, NULL),
                                 g_bytes_get_size(for_anne));
  g_autofree char *b = g_strndup(g_bytes_get_data(for_bob, NULL),
                                 g_bytes_get_size(for_bob));
  g_assert_nonnull(strstr(a, "for Anne Person (English (USA)) "
                             "<Anne@Example.com> as anne@example.com"));
  g_assert_nonnull(strstr(b, "for bob@example.org () <bob@example.org> as "
                             "bob@example.org"));
  g_assert_null(strstr(b, "Anne Person ("));
  for (const char *text = a; text != NULL; text = text == a ? b : NULL) {
    const char *body = strstr(text, "This is a plain message.");
    g_assert_nonnull(body);
    g_assert_null(strstr(body + 1, "This is a plain message."));
  }
  /* The caller's metadata is only read. */
  g_assert_null(json_object_get(meta, "nodecorate"));

  const MmHandlersRecipient archive = {
      mm_handlers_mail_archive_recipient(f.config), NULL, "", NULL};
  g_autoptr(GBytes) same = mm_handlers_decorator_apply(d, &archive, &error);
  g_assert_true(g_bytes_equal(same, raw));
  fixture_clear(&f);
}

/* ---- helpers ------------------------------------------------------------ */

static void
test_wrap(void)
{
  g_autofree char *wrapped = mm_handlers_text_wrap(
      "This list rewrites posts from domains with a strict DMARC policy.  "
      "The original is attached.\n"
      "\n"
      "    An indented line stays as it is, however long it happens to be "
      "written.\n",
      40);
  g_assert_cmpstr(wrapped, ==,
                  "This list rewrites posts from domains\n"
                  "with a strict DMARC policy.  The\n"
                  "original is attached.\n"
                  "\n"
                  "    An indented line stays as it is, however long it "
                  "happens to be written.\n");
}

static void
test_sender(void)
{
  Fixture f;
  MmHandlerContext ctx;
  fixture_init(&f, NULL);
  fixture_context(&f, &ctx, "anonymous.in.eml", NULL);
  g_autofree char *sender = mm_handlers_message_sender(f.config, ctx.message);
  g_assert_cmpstr(sender, ==, "anne@example.com");
  mm_handlers_header_remove(ctx.message, "From");
  g_autofree char *reply = mm_handlers_message_sender(f.config, ctx.message);
  g_assert_cmpstr(reply, ==, "anne.private@example.org");
  mm_handlers_header_remove(ctx.message, "Reply-To");
  mm_handlers_header_remove(ctx.message, "Sender");
  g_assert_null(mm_handlers_message_sender(f.config, ctx.message));
  mm_handler_context_clear(&ctx);
  fixture_clear(&f);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  mm_message_gmime_init();
  for (gsize i = 0; i < G_N_ELEMENTS(golden_cases); i++) {
    g_autofree char *path =
        g_strconcat("/handlers/golden/", golden_cases[i].name, NULL);
    g_test_add_data_func(path, &golden_cases[i], test_golden);
  }
  g_test_add_func("/handlers/subject-prefix/cases", test_subject_prefix);
  g_test_add_func("/handlers/subject-prefix/unknown-charset",
                  test_subject_unknown_charset);
  g_test_add_func("/handlers/member-recipients", test_member_recipients);
  g_test_add_func("/handlers/owner-recipients", test_owner_recipients);
  g_test_add_func("/handlers/avoid-duplicates", test_avoid_duplicates);
  g_test_add_func("/handlers/to-archive", test_to_archive);
  g_test_add_func("/handlers/to-digest", test_to_digest);
  g_test_add_func("/handlers/after-delivery", test_after_delivery);
  g_test_add_func("/handlers/to-outgoing", test_to_outgoing);
  g_test_add_func("/handlers/to-usenet", test_to_usenet);
  g_test_add_func("/handlers/acknowledge", test_acknowledge);
  g_test_add_func("/handlers/decorator", test_decorator);
  g_test_add_func("/handlers/mime-delete/dispose", test_mime_dispose);
  g_test_add_func("/handlers/util/wrap", test_wrap);
  g_test_add_func("/handlers/util/sender", test_sender);
  return g_test_run();
}
