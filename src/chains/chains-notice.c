/* Notices the chains and the moderator send (held-message notices,
 * rejections, refusals), their templates and their recipients.
 *
 * A notice is built with GMime, so its Subject and display names are
 * RFC 2047 encoded when they need it and its body gets a transfer
 * encoding that suits it; it is queued in virgin with Mailman's notice
 * metadata (UserNotification.send()).
 *
 * Templates are found by Mailman's file lookup under [paths] template_dir
 * (lists/<list-id>/<lang>/, lists/<fqdn>/<lang>/, domains/<host>/<lang>/,
 * site/<lang>/ for the language asked, the list's, the site's and "en");
 * without a file our own built-in wording is used.  XXX: Mailman's
 * template table in the database (URIs per list/domain/site) is not read
 * here; the pipeline's template loader, when it exists below both
 * modules, should replace this lookup.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

#include <string.h>

#include "base-file.h"
#include "message.h"
#include "queue.h"

#define TEMPLATE_MAX_LEN (64 * 1024)

/* Our own wording of the templates the chains use (Mailman's names). */
static const struct {
  const char *name;
  const char *text;
} builtin_templates[] = {
    {"list:user:notice:hold",
     "Your message to $listname with the subject\n"
     "\n"
     "    $subject\n"
     "\n"
     "is waiting for a moderator of the list to look at it.  It was held "
     "because:\n"
     "\n"
     "$reasons\n"
     "\n"
     "You will either see it on the list or hear what the moderators "
     "decided.  To withdraw the message instead, send an empty message "
     "to\n"
     "\n"
     "    $confirm_address\n"},
    {"list:admin:action:post",
     "A post to a list you moderate waits for your decision:\n"
     "\n"
     "    List:    $listname\n"
     "    From:    $sender_email\n"
     "    Subject: $subject\n"
     "\n"
     "It was held because:\n"
     "\n"
     "$reasons\n"
     "\n"
     "Decide with the mailman command (mailman held, mailman moderate), "
     "or by mail: reply to\n"
     "\n"
     "    $confirm_address\n"
     "\n"
     "keeping the subject, with \"Approved: <the moderator password>\" as "
     "the first line of the reply to let the post through.  A reply "
     "without that line discards it.\n"},
    {"list:admin:action:post:stub",
     "Replying to this message with the Subject kept as it is discards the "
     "held post; do that for spam.  Put \"Approved: <the moderator "
     "password>\" in a header or on the first line of the reply to post "
     "it to the list instead.\n"},
    {"list:user:notice:rejected",
     "Your message to the $listname mailing list was not accepted, for "
     "these reasons:\n"
     "\n"
     "$reasons\n"
     "\n"
     "Your message is attached as it was received.\n"},
    {"list:user:notice:refuse",
     "A moderator of the $listname mailing list refused your request:\n"
     "\n"
     "    $request\n"
     "\n"
     "The moderator's reason:\n"
     "\n"
     "    \"$reason\"\n"
     "\n"
     "Questions can go to the list owners at $owner_email.\n"},
    {"list:user:notice:no-more-today",
     "A message from $sender_email asked the $listname mailing list for an "
     "automatic answer.  You have had $count automatic answers from this "
     "list today already; to keep mail loops in check there will be no "
     "more until tomorrow.\n"
     "\n"
     "Questions can go to the list owners at $owner_email.\n"},
};

/* ---- Expansion and wrapping ------------------------------------------- */

static gboolean
is_ident_start(char c)
{
  return g_ascii_isalpha(c) || c == '_';
}

static gboolean
is_ident(char c)
{
  return g_ascii_isalnum(c) || c == '_';
}

char *
mm_chains_expand(const char *text, GHashTable *vars)
{
  GString *out = g_string_sized_new(strlen(text) + 64);
  for (const char *p = text; *p != '\0';) {
    if (*p != '$') {
      g_string_append_c(out, *p++);
      continue;
    }
    if (p[1] == '$') {
      g_string_append_c(out, '$');
      p += 2;
      continue;
    }
    const char *start, *end;
    gboolean braced = p[1] == '{';
    start = p + (braced ? 2 : 1);
    end = start;
    if (is_ident_start(*end))
      while (is_ident(*end))
        end++;
    if (end == start || (braced && *end != '}')) {
      /* Not a placeholder: left as written (safe_substitute). */
      g_string_append_c(out, *p++);
      continue;
    }
    g_autofree char *name = g_strndup(start, end - start);
    const char *value = vars != NULL ? g_hash_table_lookup(vars, name) : NULL;
    const char *after = braced ? end + 1 : end;
    if (value == NULL)
      g_string_append_len(out, p, after - p);
    else
      g_string_append(out, value);
    p = after;
  }
  return g_string_free(out, FALSE);
}

static void
fill_paragraph(GString *out, GPtrArray *words, guint column)
{
  guint width = 0;
  for (guint i = 0; i < words->len; i++) {
    const char *word = words->pdata[i];
    guint len = (guint)g_utf8_strlen(word, -1);
    if (width > 0 && width + 1 + len > column) {
      g_string_append_c(out, '\n');
      width = 0;
    }
    if (width > 0) {
      g_string_append_c(out, ' ');
      width++;
    }
    g_string_append(out, word);
    width += len;
  }
  if (words->len > 0)
    g_string_append_c(out, '\n');
  g_ptr_array_set_size(words, 0);
}

char *
mm_chains_wrap(const char *text, guint column)
{
  GString *out = g_string_new(NULL);
  g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (char **l = lines; *l != NULL; l++) {
    const char *line = *l;
    if (line[0] == '\0' || line[0] == ' ' || line[0] == '\t') {
      fill_paragraph(out, words, column);
      /* The split leaves one empty string after a final newline. */
      if (l[1] != NULL || line[0] != '\0') {
        g_string_append(out, line);
        g_string_append_c(out, '\n');
      }
      continue;
    }
    g_auto(GStrv) split = g_strsplit_set(line, " \t", -1);
    for (char **w = split; *w != NULL; w++)
      if ((*w)[0] != '\0')
        g_ptr_array_add(words, g_strdup(*w));
  }
  fill_paragraph(out, words, column);
  return g_string_free(out, FALSE);
}

/* ---- Templates ---------------------------------------------------------- */

static char *
template_from_files(const MmConfig *config, const MmList *list,
                    const char *name, const char *language)
{
  const char *template_dir =
      config != NULL ? mm_config_path(config, "template_dir") : NULL;
  if (template_dir == NULL)
    return NULL;
  const char *site_language =
      config != NULL ? mm_config_get(config, "mailman", "default_language")
                     : NULL;
  const char *languages[] = {language, list->preferred_language,
                             site_language, "en"};
  g_autofree char *file = g_strconcat(name, ".txt", NULL);
  for (gsize l = 0; l < G_N_ELEMENTS(languages); l++) {
    const char *lang = languages[l];
    if (lang == NULL || lang[0] == '\0' || strchr(lang, '/') != NULL ||
        strstr(lang, "..") != NULL)
      continue;
    char *candidates[] = {
        g_build_filename(template_dir, "lists", list->list_id, lang, file,
                         NULL),
        g_build_filename(template_dir, "lists", list->fqdn_listname, lang,
                         file, NULL),
        g_build_filename(template_dir, "domains", list->mail_host, lang, file,
                         NULL),
        g_build_filename(template_dir, "site", lang, file, NULL),
    };
    char *found = NULL;
    for (gsize c = 0; c < G_N_ELEMENTS(candidates); c++) {
      g_autoptr(GBytes) bytes =
          found == NULL
              ? mm_file_read_bounded(candidates[c], TEMPLATE_MAX_LEN, NULL)
              : NULL;
      if (bytes != NULL) {
        gsize len;
        const char *data = g_bytes_get_data(bytes, &len);
        found = g_utf8_make_valid(data, (gssize)len);
      }
      g_free(candidates[c]);
    }
    if (found != NULL)
      return found;
  }
  return NULL;
}

char *
mm_chains_template(const MmConfig *config, const MmList *list,
                   const char *name, const char *language, GHashTable *extra)
{
  g_autofree char *text = template_from_files(config, list, name, language);
  if (text == NULL) {
    for (gsize i = 0; i < G_N_ELEMENTS(builtin_templates); i++)
      if (strcmp(builtin_templates[i].name, name) == 0)
        text = g_strdup(builtin_templates[i].text);
  }
  g_assert(text != NULL);

  g_autoptr(GHashTable) vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, NULL);
  const char *site_owner =
      config != NULL ? mm_config_get(config, "mailman", "site_owner") : NULL;
  g_hash_table_insert(vars, "site_email",
                      (gpointer)(site_owner != NULL ? site_owner : ""));
  g_hash_table_insert(vars, "listname", list->fqdn_listname);
  g_hash_table_insert(vars, "list_id", list->list_id);
  g_hash_table_insert(vars, "display_name", list->display_name);
  g_hash_table_insert(vars, "short_listname", list->list_name);
  g_hash_table_insert(vars, "domain", list->mail_host);
  g_hash_table_insert(vars, "description", list->description);
  g_hash_table_insert(vars, "info",
                      (gpointer)mm_list_setting(list, "info"));
  g_hash_table_insert(vars, "request_email",
                      (gpointer)mm_list_setting(list, "request_address"));
  g_hash_table_insert(vars, "owner_email",
                      (gpointer)mm_list_setting(list, "owner_address"));
  g_hash_table_insert(vars, "language",
                      (gpointer)(language != NULL ? language
                                                  : list->preferred_language));
  if (extra != NULL) {
    GHashTableIter iter;
    gpointer key, value;
    g_hash_table_iter_init(&iter, extra);
    while (g_hash_table_iter_next(&iter, &key, &value))
      g_hash_table_replace(vars, key, value);
  }
  return mm_chains_expand(text, vars);
}

char *
mm_chains_confirm_address(const MmConfig *config, const MmList *list,
                          const char *token)
{
  const char *format =
      config != NULL ? mm_config_get(config, "mta", "verp_confirm_format")
                     : NULL;
  if (format == NULL || format[0] == '\0')
    format = "$address+$cookie";
  g_autofree char *address = g_strconcat(list->list_name, "-confirm", NULL);
  g_autoptr(GHashTable) vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, NULL);
  g_hash_table_insert(vars, "address", address);
  g_hash_table_insert(vars, "cookie", (gpointer)token);
  g_autofree char *local = mm_chains_expand(format, vars);
  return g_strconcat(local, "@", list->mail_host, NULL);
}

/* ---- Recipients and languages ------------------------------------------ */

GPtrArray *
mm_chains_list_administrators(const MmConfig *config, MmStore *store,
                              const MmList *list, GError **error)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
  static const MmMemberRole roles[] = {MM_ROLE_OWNER, MM_ROLE_MODERATOR};
  for (gsize r = 0; r < G_N_ELEMENTS(roles); r++) {
    MmRosterQuery query = {.role = roles[r],
                           .delivery_status = MM_STATUS_ENABLED};
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) members =
        mm_store_roster(store, list->list_id, &query, &local);
    if (members == NULL) {
      g_ptr_array_unref(out);
      g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                  "Cannot read the administrators of %s: %s", list->list_id,
                  local->message);
      return NULL;
    }
    for (guint i = 0; i < members->len; i++) {
      const MmMember *member = members->pdata[i];
      g_autofree char *lower = g_utf8_strdown(member->email, -1);
      gboolean seen = FALSE;
      for (guint j = 0; j < out->len && !seen; j++)
        seen = strcmp(out->pdata[j], lower) == 0;
      if (!seen)
        g_ptr_array_add(out, g_steal_pointer(&lower));
    }
  }
  if (out->len == 0) {
    const char *site_owner =
        config != NULL ? mm_config_get(config, "mailman", "site_owner") : NULL;
    g_ptr_array_add(out, g_strdup(site_owner != NULL ? site_owner
                                                     : "changeme@example.com"));
  }
  return out;
}

char *
mm_chains_language_for(MmStore *store, const MmList *list, const char *email)
{
  if (email != NULL && email[0] != '\0') {
    char *language = mm_store_preference_get(store, email, list->list_id,
                                              "preferred_language", NULL);
    if (language != NULL)
      return language;
  }
  return g_strdup(list->preferred_language != NULL ? list->preferred_language
                                                   : "en");
}

/* ---- Notices ------------------------------------------------------------ */

MmNotice *
mm_notice_new(const char *to, const char *from, const char *subject,
              const char *text)
{
  MmNotice *notice = g_new0(MmNotice, 1);
  notice->to = g_strdup(to);
  notice->from = g_strdup(from);
  notice->subject = g_strdup(subject);
  notice->text = g_strdup(text);
  notice->attachments =
      g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  notice->recipients = g_ptr_array_new_with_free_func(g_free);
  return notice;
}

void
mm_notice_free(MmNotice *notice)
{
  if (notice == NULL)
    return;
  g_free(notice->to);
  g_free(notice->from);
  g_free(notice->subject);
  g_free(notice->text);
  g_ptr_array_unref(notice->attachments);
  g_ptr_array_unref(notice->recipients);
  g_free(notice);
}

static GMimeObject *
text_part(const char *text)
{
  GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
  g_mime_text_part_set_text(part, text);
  g_mime_part_set_content_encoding(
      GMIME_PART(part),
      g_mime_part_get_best_content_encoding(GMIME_PART(part),
                                            GMIME_ENCODING_CONSTRAINT_7BIT));
  return GMIME_OBJECT(part);
}

static GMimeObject *
message_part(GBytes *raw)
{
  gsize len;
  const char *data = g_bytes_get_data(raw, &len);
  g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer(data, len);
  g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
  g_autoptr(GMimeMessage) message =
      g_mime_parser_construct_message(parser, NULL);
  GMimeMessagePart *part = g_mime_message_part_new_with_message("rfc822",
                                                                message);
  return GMIME_OBJECT(part);
}

static void
set_addresses(GMimeMessage *message, GMimeAddressType type, const char *text)
{
  if (text == NULL)
    return;
  InternetAddressList *list = g_mime_message_get_addresses(message, type);
  InternetAddressList *parsed = internet_address_list_parse(NULL, text);
  if (parsed != NULL) {
    internet_address_list_append(list, parsed);
    g_object_unref(parsed);
  }
}

/* GMime must be initialised once per process; a command-line process
 * may render a notice before anything else touched GMime. */
static void
gmime_init_once(void)
{
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    g_mime_init();
    g_once_init_leave(&done, 1);
  }
}

GBytes *
mm_notice_render(const MmNotice *notice, const MmList *list)
{
  gmime_init_once();
  g_autoptr(GMimeMessage) message = g_mime_message_new(TRUE);
  set_addresses(message, GMIME_ADDRESS_TYPE_FROM, notice->from);
  set_addresses(message, GMIME_ADDRESS_TYPE_TO, notice->to);
  g_mime_message_set_subject(message, notice->subject, "utf-8");
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_mime_message_set_date(message, now);
  g_autofree char *message_id = mm_message_id_new(list->mail_host, NULL);
  if (message_id != NULL) {
    /* GMime adds the angle brackets itself. */
    g_autofree char *bare = g_strndup(message_id + 1, strlen(message_id) - 2);
    g_mime_message_set_message_id(message, bare);
  }
  g_mime_object_set_header(GMIME_OBJECT(message), "Precedence", "bulk",
                           NULL);

  GMimeObject *body = text_part(notice->text != NULL ? notice->text : "");
  if (notice->attachments->len > 0) {
    GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
    g_mime_multipart_add(mixed, body);
    g_object_unref(body);
    for (guint i = 0; i < notice->attachments->len; i++) {
      GMimeObject *attached = message_part(notice->attachments->pdata[i]);
      g_mime_multipart_add(mixed, attached);
      g_object_unref(attached);
    }
    body = GMIME_OBJECT(mixed);
  }
  g_mime_message_set_mime_part(message, body);
  g_object_unref(body);
  char *text = g_mime_object_to_string(GMIME_OBJECT(message), NULL);
  return g_bytes_new_take(text, strlen(text));
}

gboolean
mm_notice_send(const MmNotice *notice, const MmList *list,
               const char *queue_root, GError **error)
{
  g_autoptr(GBytes) bytes = mm_notice_render(notice, list);
  json_t *recipients = json_array();
  for (guint i = 0; i < notice->recipients->len; i++)
    json_array_append_new(recipients,
                          json_string(notice->recipients->pdata[i]));
  g_autoptr(MmJson) meta =
      json_pack("{s:s, s:o, s:b, s:b}", "listid", list->list_id, "recipients",
                recipients, "nodecorate", 1, "reduced_list_headers", 1);
  g_autoptr(GError) local = NULL;
  g_autofree char *id =
      mm_queue_enqueue_to(queue_root, "virgin", bytes, meta, &local);
  if (id == NULL) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot queue a notice: %s", local->message);
    return FALSE;
  }
  return TRUE;
}
