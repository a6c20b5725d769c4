/* approved: the post carries the list's moderator password (Mailman's
 * rules/approved.py).
 *
 * The password comes from the first of the Approve, Approved, X-Approve
 * and X-Approved headers (all four are then removed, whatever the
 * password), or else from the first non-blank line of the first
 * text/plain part when it reads "Approved: password" (or one of the other
 * three names).  That line is removed from the part, and the same
 * "Name: password" text from every other text part (an HTML alternative
 * would otherwise leak it).  A list without a moderator password never
 * hits.  Metadata "has_approved" records that a password was given, for
 * the confirm command.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

static const char *const headers[] = {"approve", "approved", "x-approve",
                                      "x-approved"};

static gboolean
is_approve_name(const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS(headers); i++)
    if (g_ascii_strcasecmp(name, headers[i]) == 0)
      return TRUE;
  return FALSE;
}

/* Replaces the content of @part with @text (UTF-8), written back in the
 * part's own charset when it can be (else UTF-8), with a transfer
 * encoding that suits it, as Mailman's reset_payload() keeps the type,
 * charset, format and delsp. */
static void
part_set_text(GMimePart *part, const char *text)
{
  const char *charset =
      g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
  g_autofree char *encoded = NULL;
  gsize encoded_len = 0;
  if (charset != NULL && g_ascii_strcasecmp(charset, "utf-8") != 0 &&
      g_ascii_strcasecmp(charset, "us-ascii") != 0)
    encoded = g_convert(text, -1, g_mime_charset_iconv_name(charset),
                        "UTF-8", NULL, &encoded_len, NULL);
  if (encoded == NULL) {
    gboolean ascii = TRUE;
    for (const char *p = text; *p != '\0' && ascii; p++)
      ascii = (guchar)*p < 0x80;
    if (!ascii || (charset != NULL &&
                   g_ascii_strcasecmp(charset, "us-ascii") != 0))
      g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset",
                                               ascii ? charset : "utf-8");
    encoded = g_strdup(text);
    encoded_len = strlen(text);
  }
  g_autoptr(GMimeStream) stream =
      g_mime_stream_mem_new_with_buffer(encoded, encoded_len);
  GMimeDataWrapper *content =
      g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
  g_mime_part_set_content(part, content);
  g_object_unref(content);
  g_mime_part_set_content_encoding(
      part, g_mime_part_get_best_content_encoding(
                part, GMIME_ENCODING_CONSTRAINT_7BIT));
}

static void
strip_from_text_parts(GMimeObject *object, GRegex *regex, int depth)
{
  if (object == NULL || depth > 64)
    return;
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart *multipart = GMIME_MULTIPART(object);
    int n = g_mime_multipart_get_count(multipart);
    for (int i = 0; i < n; i++)
      strip_from_text_parts(g_mime_multipart_get_part(multipart, i), regex,
                            depth + 1);
    return;
  }
  if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage *inner =
        g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    if (inner != NULL)
      strip_from_text_parts(g_mime_message_get_mime_part(inner), regex,
                            depth + 1);
    return;
  }
  GMimeContentType *type = g_mime_object_get_content_type(object);
  if (!GMIME_IS_PART(object) ||
      (type != NULL && !g_mime_content_type_is_type(type, "text", "*")))
    return;
  g_autofree char *text = mm_rules_part_text(GMIME_PART(object));
  if (!g_regex_match(regex, text, 0, NULL))
    return;
  g_autofree char *stripped =
      g_regex_replace_literal(regex, text, -1, 0, "", 0, NULL);
  if (stripped != NULL)
    part_set_text(GMIME_PART(object), stripped);
}

/* The pseudo-header in the body: returns the password (transfer full)
 * and rewrites the message without it, or NULL. */
static char *
password_from_body(MmPost *post)
{
  GMimePart *part = mm_rules_first_text_plain(post);
  if (part == NULL)
    return NULL;
  g_autofree char *text = mm_rules_part_text(part);
  /* Python's splitlines(True): keep the endings so the text is rebuilt
   * exactly. */
  GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
  for (const char *p = text; *p != '\0';) {
    const char *e = p;
    while (*e != '\0' && *e != '\n' && *e != '\r')
      e++;
    if (*e == '\r' && e[1] == '\n')
      e += 2;
    else if (*e != '\0')
      e++;
    g_ptr_array_add(lines, g_strndup(p, e - p));
    p = e;
  }
  guint lineno = 0;
  for (; lineno < lines->len; lineno++) {
    g_autofree char *stripped = g_strstrip(g_strdup(lines->pdata[lineno]));
    if (stripped[0] != '\0')
      break;
  }
  char *password = NULL;
  g_autofree char *name = NULL;
  if (lineno < lines->len) {
    const char *line = lines->pdata[lineno];
    const char *colon = strchr(line, ':');
    if (colon != NULL) {
      name = g_strndup(line, colon - line);
      if (is_approve_name(name))
        password = g_strstrip(g_strdup(colon + 1));
    }
  }
  if (password == NULL) {
    g_ptr_array_free(lines, TRUE);
    return NULL;
  }
  g_ptr_array_remove_index(lines, lineno);
  GString *rest = g_string_new(NULL);
  for (guint i = 0; i < lines->len; i++)
    g_string_append(rest, lines->pdata[i]);
  g_ptr_array_free(lines, TRUE);
  part_set_text(part, rest->str);
  g_string_free(rest, TRUE);

  /* Then every text part, in case an alternative repeats the line.  As
   * Mailman, the name is used as written and the password escaped. */
  g_autofree char *escaped = g_regex_escape_string(password, -1);
  g_autofree char *escaped_name = g_regex_escape_string(name, -1);
  g_autofree char *pattern =
      g_strdup_printf("%s:(\\s|&nbsp;)*%s", escaped_name, escaped);
  g_autoptr(GRegex) regex = g_regex_new(pattern, 0, 0, NULL);
  GMimeMessage *message = mm_rules_post_mime(post);
  if (regex != NULL)
    strip_from_text_parts(g_mime_message_get_mime_part(message), regex, 0);

  g_autofree char *serialised =
      g_mime_object_to_string(GMIME_OBJECT(message), NULL);
  /* The parse is the one just edited: take the bytes without reparsing
   * them now. */
  gsize len = strlen(serialised);
  mm_rules_post_set_message(post,
                            g_bytes_new_take(g_steal_pointer(&serialised), len));
  return password;
}

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = FALSE;
  if (!mm_store_list_has_moderator_password(post->store, post->list->list_id))
    return TRUE;

  char *password = NULL;
  for (gsize i = 0; i < G_N_ELEMENTS(headers) && password == NULL; i++)
    password = mm_rules_post_header(post, headers[i]);
  if (password != NULL) {
    for (gsize i = 0; i < G_N_ELEMENTS(headers); i++)
      mm_rules_post_header_remove(post, headers[i]);
  } else {
    password = password_from_body(post);
  }
  if (password == NULL)
    return TRUE;

  json_object_set_new(post->meta, "has_approved", json_true());
  g_autoptr(GError) local = NULL;
  gboolean valid = FALSE;
  gboolean ok = mm_store_list_verify_moderator_password(
      post->store, post->list->list_id, password, &valid, &local);
  memset(password, 0, strlen(password));
  g_free(password);
  if (!ok)
    return mm_rules_fail(error, local, "Cannot check the moderator password");
  *hit_out = valid;
  return TRUE;
}

const MmRule mm_rule_approved = {
    "approved", "The message has a matching Approve or Approved header.",
    TRUE, check,
};
