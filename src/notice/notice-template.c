/* Templates: Mailman 3's names, its file search order, its $-expansion,
 * and our own built-in texts.
 *
 * A site that switches from Mailman keeps its template directory: the same
 * names (list:member:regular:footer.txt, ...) in the same places
 * ($template_dir/lists/<list_id>/<lang>/, domains/<host>/<lang>/,
 * site/<lang>/) are found in the same order (mailman/utilities/i18n.py
 * search(), mailman/model/template.py TemplateLoader).  When no file
 * exists we fall back to the texts below, written for this project
 * (Mailman's own wording is not copied).
 *
 * It depends on config and storage only: every module that writes a
 * notice (chains, handlers, commands, bounce) finds templates through it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "notice.h"

#include <string.h>

#include "base-error.h"
#include "base-file.h"

/* A template file larger than this is refused (STYLE: files we read are
 * bounded). */
#define TEMPLATE_MAX_LEN (1024 * 1024)

typedef struct {
  const char *name;
  const char *text; /* NULL: no built-in text (Mailman has no file) */
} BuiltinTemplate;

/* Every name Mailman's ITemplateLoader knows (mailman/interfaces/
 * template.py ALL_TEMPLATES), with our built-in text. */
static const BuiltinTemplate builtins[] = {
    {"domain:admin:notice:new-list",
     "Your new mailing list $listname is ready.\n"
     "\n"
     "Members can manage their subscription by email: a message with the\n"
     "word \"help\" as its subject, sent to\n"
     "\n"
     "    $request_email\n"
     "\n"
     "answers with the list of commands.  For anything else, write to\n"
     "$site_email.\n"},
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
    {"list:admin:action:subscribe",
     "A subscription to $listname needs a moderator's approval.\n"
     "\n"
     "    Address: $member\n"
     "    List:    $listname\n"
     "\n"
     "To approve it, reply to this message, or send a message to\n"
     "$request_email holding only this line:\n"
     "\n"
     "    confirm $token\n"
     "\n"
     "To reject or discard it, use `mailman requests`.\n"},
    {"list:admin:action:unsubscribe",
     "An unsubscription from $listname needs a moderator's approval.\n"
     "\n"
     "    Address: $member\n"
     "    List:    $listname\n"
     "\n"
     "To approve it, reply to this message, or send a message to\n"
     "$request_email holding only this line:\n"
     "\n"
     "    confirm $token\n"
     "\n"
     "To reject or discard it, use `mailman requests`.\n"},
    {"list:admin:notice:disable",
     "Delivery to $member on $listname has been switched off: its bounce\n"
     "score passed the list's threshold.\n"
     "\n"
     "The bounce that triggered this is attached when there was one.\n"},
    {"list:admin:notice:increment",
     "The bounce score of $member on $listname went up.\n"
     "\n"
     "The bounce that triggered this is attached when there was one.\n"},
    {"list:admin:notice:pending",
     "$count requests for $listname are waiting for a moderator.\n"
     "\n"
     "$data\n"
     "Please look at them soon.\n"},
    {"list:admin:notice:removal",
     "$member was removed from $listname because mail to it kept "
     "bouncing.\n"},
    {"list:admin:notice:subscribe",
     "$member is now a member of $display_name.\n"},
    {"list:admin:notice:unrecognized",
     "The attached message came back to the list's bounce address, but it\n"
     "could not be read as a bounce, or it named no member.  The list is set\n"
     "up to pass such messages on to its administrators.\n"},
    {"list:admin:notice:unsubscribe",
     "$member is no longer a member of $display_name.\n"},
    {"list:member:digest:footer", NULL},
    {"list:member:digest:header", ""},
    {"list:member:digest:masthead",
     "To post to the $display_name list, write to\n"
     "\t$listname\n"
     "\n"
     "To subscribe or unsubscribe by email, send the word 'help' as the\n"
     "subject or body of a message to\n"
     "\t$request_email\n"
     "\n"
     "The people who run the list can be reached at\n"
     "\t$owner_email\n"
     "\n"
     "When you reply, please give your message a more specific subject than\n"
     "\"Re: Contents of $display_name digest...\"\n"},
    {"list:member:generic:footer",
     "_______________________________________________\n"
     "$display_name mailing list: $listname\n"
     "To leave this list, write to ${short_listname}-leave@${domain}\n"},
    {"list:member:regular:footer", NULL},
    {"list:member:regular:header", ""},
    {"list:user:action:invite",
     "The owner of the $short_listname list at $domain invites\n"
     "\"$user_email\" to join it.  Reply to this message to accept, or send\n"
     "a message to $request_email holding only this line:\n"
     "\n"
     "    confirm $token\n"
     "\n"
     "To decline, ignore this message.  Questions go to $owner_email.\n"},
    {"list:user:action:subscribe",
     "Please confirm your address\n"
     "\n"
     "The list server at $domain was asked to register the address\n"
     "\n"
     "    $user_email\n"
     "\n"
     "To confirm that it is yours, reply to this message, or send a message\n"
     "to $request_email holding only this line:\n"
     "\n"
     "    confirm $token\n"
     "\n"
     "If you did not ask for this, ignore this message.  Questions go to\n"
     "\n"
     "    $owner_email\n"},
    {"list:user:action:unsubscribe",
     "Please confirm that you want to leave\n"
     "\n"
     "The list server at $domain was asked to unsubscribe the address\n"
     "\n"
     "    $user_email\n"
     "\n"
     "To confirm, reply to this message, or send a message to\n"
     "$request_email holding only this line:\n"
     "\n"
     "    confirm $token\n"
     "\n"
     "If you did not ask for this, ignore this message.  Questions go to\n"
     "\n"
     "    $owner_email\n"},
    {"list:user:notice:goodbye",
     "You have left the \"$display_name\" mailing list.\n"},
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
    {"list:user:notice:no-more-today",
     "A message from $sender_email asked the $listname mailing list for an "
     "automatic answer.  You have had $count automatic answers from this "
     "list today already; to keep mail loops in check there will be no "
     "more until tomorrow.\n"
     "\n"
     "Questions can go to the list owners at $owner_email.\n"},
    {"list:user:notice:post",
     "The $display_name mailing list received your message\n"
     "\n"
     "    $subject\n"
     "\n"
     "and sent it on to its members.\n"},
    {"list:user:notice:probe",
     "This is a test message from the $listname mailing list.  Mail to your\n"
     "address seems to bounce, so we check whether it still works.  You do\n"
     "not need to do anything.\n"},
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
    {"list:user:notice:rejected",
     "Your message to the $listname mailing list was not accepted, for "
     "these reasons:\n"
     "\n"
     "$reasons\n"
     "\n"
     "Your message is attached as it was received.\n"},
    {"list:user:notice:warning",
     "Delivery of $listname to your address has been switched off because\n"
     "mail to it bounced too often.  Write to $owner_email to have it\n"
     "switched on again.\n"},
    {"list:user:notice:welcome",
     "Welcome to the \"$display_name\" mailing list.\n"
     "\n"
     "To post, write to\n"
     "\n"
     "    $listname\n"
     "\n"
     "To unsubscribe or change your options, send a message with the word\n"
     "'help' as its subject to $request_email.\n"},
};

/* Mailman's ALT_TEMPLATE_NAMES. */
static const struct {
  const char *name, *alternative;
} alternatives[] = {
    {"list:member:digest:footer", "list:member:generic:footer"},
    {"list:member:regular:footer", "list:member:generic:footer"},
};

static const BuiltinTemplate *
builtin_find(const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS(builtins); i++) {
    if (g_str_equal(builtins[i].name, name))
      return &builtins[i];
  }
  return NULL;
}

/* Language codes reach file names: letters, digits, '_' and '-' only. */
static gboolean
language_ok(const char *code)
{
  if (code == NULL || *code == '\0' || strlen(code) > 32)
    return FALSE;
  for (const char *p = code; *p != '\0'; p++) {
    if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
      return FALSE;
  }
  return TRUE;
}

static void
add_language(GPtrArray *languages, const char *code)
{
  if (language_ok(code))
    g_ptr_array_add(languages, (gpointer)code);
}

/* Reads @path when it exists.  Returns TRUE with @text_out set (NULL when
 * the file does not exist); FALSE with @error when it exists but cannot be
 * read. */
static gboolean
read_template(const char *path, char **text_out, GError **error)
{
  g_autoptr(GError) local = NULL;
  *text_out = NULL;
  g_autoptr(GBytes) bytes =
      mm_file_read_bounded(path, TEMPLATE_MAX_LEN, &local);
  if (bytes == NULL) {
    if (g_error_matches(local, MM_ERROR, MM_ERROR_NOT_FOUND))
      return TRUE;
    g_propagate_prefixed_error(error, g_steal_pointer(&local),
                               "template %s: ", path);
    return FALSE;
  }
  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);
  /* Mailman opens templates as UTF-8; we replace what is not. */
  *text_out = g_utf8_make_valid(data != NULL ? data : "", (gssize)len);
  return TRUE;
}

/* One search for @name (Mailman's find()).  Returns TRUE with @text_out
 * (NULL when nothing was found); FALSE on a read error. */
static gboolean
search(const MmConfig *config, const MmList *list, const char *name,
       const char *language, char **text_out, GError **error)
{
  const char *template_dir = mm_config_path(config, "template_dir");
  g_autoptr(GPtrArray) languages = g_ptr_array_new();
  add_language(languages, language);
  if (list != NULL)
    add_language(languages, list->preferred_language);
  add_language(languages,
               mm_config_get(config, "mailman", "default_language"));
  add_language(languages, "en");
  g_autofree char *file = g_strconcat(name, ".txt", NULL);
  const BuiltinTemplate *builtin = builtin_find(name);

  *text_out = NULL;
  for (guint i = 0; i < languages->len; i++) {
    const char *lang = languages->pdata[i];
    g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func(g_free);
    if (list != NULL) {
      g_ptr_array_add(dirs, g_build_filename(template_dir, "lists",
                                             list->list_id, lang, NULL));
      g_ptr_array_add(dirs, g_build_filename(template_dir, "lists",
                                             list->fqdn_listname, lang, NULL));
      g_ptr_array_add(dirs, g_build_filename(template_dir, "domains",
                                             list->mail_host, lang, NULL));
    }
    g_ptr_array_add(dirs, g_build_filename(template_dir, "site", lang, NULL));
    for (guint d = 0; d < dirs->len; d++) {
      g_autofree char *path = g_build_filename(dirs->pdata[d], file, NULL);
      if (!read_template(path, text_out, error))
        return FALSE;
      if (*text_out != NULL)
        return TRUE;
    }
    /* Mailman's in-tree templates come next; ours are English only. */
    if (g_str_equal(lang, "en") && builtin != NULL && builtin->text != NULL) {
      *text_out = g_strdup(builtin->text);
      return TRUE;
    }
  }
  return TRUE;
}

char *
mm_notice_template_load(const MmConfig *config, const MmList *list,
                          const char *name, const char *language,
                          GError **error)
{
  g_return_val_if_fail(config != NULL && name != NULL, NULL);
  if (builtin_find(name) == NULL) {
    g_set_error(error, MM_ERROR, MM_ERROR_NOT_FOUND, "no template named %s",
                name);
    return NULL;
  }
  char *text = NULL;
  if (!search(config, list, name, language, &text, error))
    return NULL;
  if (text != NULL)
    return text;
  for (gsize i = 0; i < G_N_ELEMENTS(alternatives); i++) {
    if (!g_str_equal(alternatives[i].name, name))
      continue;
    if (!search(config, list, alternatives[i].alternative, language, &text,
                error))
      return NULL;
    if (text != NULL)
      return text;
  }
  /* Only reached for a name whose built-in is NULL and that has no
   * alternative: none in the table today. */
  return g_strdup("");
}

GHashTable *
mm_notice_template_variables(const MmConfig *config, const MmList *list)
{
  GHashTable *vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  const char *site_owner = mm_config_get(config, "mailman", "site_owner");
  g_hash_table_insert(vars, g_strdup("site_email"),
                      g_strdup(site_owner != NULL ? site_owner : ""));
  if (list == NULL)
    return vars;

  static const struct {
    const char *variable, *setting;
  } from_settings[] = {
      {"description", "description"},
      {"info", "info"},
      {"request_email", "request_address"},
      {"owner_email", "owner_address"},
  };
  g_hash_table_insert(vars, g_strdup("listname"),
                      g_strdup(list->fqdn_listname));
  g_hash_table_insert(vars, g_strdup("list_id"), g_strdup(list->list_id));
  g_hash_table_insert(vars, g_strdup("display_name"),
                      g_strdup(list->display_name));
  g_hash_table_insert(vars, g_strdup("short_listname"),
                      g_strdup(list->list_name));
  g_hash_table_insert(vars, g_strdup("domain"), g_strdup(list->mail_host));
  g_hash_table_insert(vars, g_strdup("language"),
                      g_strdup(list->preferred_language));
  for (gsize i = 0; i < G_N_ELEMENTS(from_settings); i++) {
    const char *value = mm_list_setting(list, from_settings[i].setting);
    g_hash_table_insert(vars, g_strdup(from_settings[i].variable),
                        g_strdup(value != NULL ? value : ""));
  }
  return vars;
}

/* ---- wrap --------------------------------------------------------------- */

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
mm_notice_wrap(const char *text, guint column)
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

char *
mm_notice_template_expand(const char *text, GHashTable *variables)
{
  GString *out = g_string_sized_new(strlen(text));
  const char *p = text;

  while (*p != '\0') {
    if (*p != '$') {
      g_string_append_c(out, *p++);
      continue;
    }
    if (p[1] == '$') { /* "$$" is an escaped "$" */
      g_string_append_c(out, '$');
      p += 2;
      continue;
    }
    gboolean braced = p[1] == '{';
    const char *start = p + (braced ? 2 : 1);
    const char *end = start;
    /* Python's Template idpattern (?a:[_a-z][_a-z0-9]*) under
     * re.IGNORECASE: ASCII letters of either case. */
    if (g_ascii_isalpha(*end) || *end == '_') {
      while (g_ascii_isalnum(*end) || *end == '_')
        end++;
    }
    if (end == start || (braced && *end != '}')) {
      /* Not a placeholder: safe_substitute leaves it. */
      g_string_append_c(out, *p++);
      continue;
    }
    g_autofree char *name = g_strndup(start, (gsize)(end - start));
    const char *value =
        variables != NULL ? g_hash_table_lookup(variables, name) : NULL;
    const char *after = end + (braced ? 1 : 0);
    if (value != NULL)
      g_string_append(out, value);
    else
      g_string_append_len(out, p, after - p);
    p = after;
  }
  return g_string_free(out, FALSE);
}
