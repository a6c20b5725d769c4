/* Small helpers of the handlers: list settings by type, metadata truth,
 * enqueueing the message being processed, and Mailman's text wrapping.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#include "queue.h"

const char *
mm_handlers_list_text(const MmHandlerContext *ctx, const char *name)
{
  const char *value = mm_list_setting(ctx->list, name);
  return value != NULL ? value : "";
}

gboolean
mm_handlers_list_bool(const MmHandlerContext *ctx, const char *name)
{
  gboolean value = FALSE;
  const char *text = mm_handlers_list_text(ctx, name);
  return *text != '\0' && mm_config_parse_bool(text, &value) && value;
}

gint64
mm_handlers_list_int(const MmHandlerContext *ctx, const char *name)
{
  gint64 value = 0;
  const char *text = mm_handlers_list_text(ctx, name);
  if (!g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, &value,
                                NULL))
    return 0;
  return value;
}

char **
mm_handlers_list_strv(const MmList *list, const char *name)
{
  const char *value = mm_list_setting(list, name);
  GPtrArray *out = g_ptr_array_new();

  if (value != NULL) {
    g_auto(GStrv) lines = g_strsplit(value, "\n", -1);
    for (char **line = lines; *line != NULL; line++) {
      g_strstrip(*line);
      if (**line != '\0')
        g_ptr_array_add(out, g_strdup(*line));
    }
  }
  g_ptr_array_add(out, NULL);
  return (char **)g_ptr_array_free(out, FALSE);
}

char *
mm_handlers_list_description_line(const MmHandlerContext *ctx)
{
  const char *description = mm_handlers_list_text(ctx, "description");
  const char *newline = strchr(description, '\n');
  if (newline == NULL)
    return g_strdup(description);
  g_autofree char *first =
      g_strndup(description, (gsize)(newline - description));
  return g_strconcat(first, " [...]", NULL);
}

const char *
mm_handlers_language_charset(const MmConfig *config, const char *code)
{
  if (code == NULL || *code == '\0')
    code = "en";
  g_autofree char *section = g_strconcat("language.", code, NULL);
  const char *charset = mm_config_get(config, section, "charset");
  if (charset != NULL && *charset != '\0')
    return charset;
  /* Mailman's built-in language table gives English us-ascii and every
   * other language it ships utf-8 (or a legacy charset a site sets). */
  return g_str_equal(code, "en") ? "us-ascii" : "utf-8";
}

const char *
mm_handlers_list_charset(const MmHandlerContext *ctx)
{
  return mm_handlers_language_charset(
      ctx->config, mm_handlers_list_text(ctx, "preferred_language"));
}

gboolean
mm_handlers_meta_true(json_t *meta, const char *key)
{
  json_t *value = json_object_get(meta, key);
  if (value == NULL)
    return FALSE;
  switch (json_typeof(value)) {
  case JSON_TRUE:
    return TRUE;
  case JSON_INTEGER:
    return json_integer_value(value) != 0;
  case JSON_REAL:
    return json_real_value(value) != 0.0;
  case JSON_STRING:
    return json_string_length(value) > 0;
  case JSON_ARRAY:
    return json_array_size(value) > 0;
  case JSON_OBJECT:
    return json_object_size(value) > 0;
  default:
    return FALSE;
  }
}

const char *
mm_handlers_meta_string(json_t *meta, const char *key)
{
  return json_string_value(json_object_get(meta, key));
}

gboolean
mm_handlers_meta_array_has(json_t *meta, const char *key, const char *value)
{
  json_t *array = json_object_get(meta, key);
  size_t i;
  json_t *item;

  if (!json_is_array(array))
    return FALSE;
  json_array_foreach(array, i, item) {
    if (json_is_string(item) && g_str_equal(json_string_value(item), value))
      return TRUE;
  }
  return FALSE;
}

gboolean
mm_handlers_enqueue(MmHandlerContext *ctx, const char *queue,
                    GMimeMessage *message, json_t *meta, GError **error)
{
  g_autoptr(GBytes) bytes =
      mm_handlers_message_bytes(message != NULL ? message : ctx->message);
  json_t *data = meta != NULL ? meta : ctx->meta;

  /* Mailman's switchboards are given listid=mlist.list_id explicitly. */
  json_object_set_new(data, "listid", json_string(ctx->list->list_id));
  g_autofree char *id =
      mm_queue_enqueue_to(ctx->queue_root, queue, bytes, data, error);
  return id != NULL;
}

/* ---- wrap ------------------------------------------------------------- */

/* Fills one paragraph (lines joined by spaces) to @column, greedily, as
 * Python's TextWrapper with break_on_hyphens off.  Words longer than the
 * column stand alone on their line.  fix_sentence_endings: two spaces
 * after a sentence's full stop, as Python's wrapper writes them. */
static void
fill_paragraph(GString *out, const char *paragraph, guint column)
{
  g_auto(GStrv) words = g_strsplit_set(paragraph, " \t\n", -1);
  guint line_len = 0;
  gboolean first = TRUE;
  gboolean sentence_end = FALSE;

  for (char **word = words; *word != NULL; word++) {
    if (**word == '\0')
      continue;
    guint word_len = (guint)g_utf8_strlen(*word, -1);
    guint space = first ? 0 : (sentence_end ? 2 : 1);
    if (!first && line_len + space + word_len > column) {
      g_string_append_c(out, '\n');
      line_len = 0;
      space = 0;
    }
    for (guint i = 0; i < space; i++)
      g_string_append_c(out, ' ');
    g_string_append(out, *word);
    line_len += space + word_len;
    first = FALSE;
    gsize n = strlen(*word);
    char last = (*word)[n - 1];
    /* Python's sentence_end_re: a lower-case letter, then [.!?], then an
     * optional quote. */
    char before = n >= 2 ? (*word)[n - 2] : '\0';
    if (last == '"' || last == '\'') {
      last = before;
      before = n >= 3 ? (*word)[n - 3] : '\0';
    }
    sentence_end =
        (last == '.' || last == '!' || last == '?') && g_ascii_islower(before);
  }
  g_string_append_c(out, '\n');
}

char *
mm_handlers_text_wrap(const char *text, guint column)
{
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  GString *out = g_string_new(NULL);
  GString *paragraph = g_string_new(NULL);
  gboolean paragraph_indented = FALSE;
  guint n = g_strv_length(lines);

  /* A trailing newline does not make one more (empty) line. */
  if (n > 0 && *lines[n - 1] == '\0')
    n--;
  for (guint i = 0; i <= n; i++) {
    const char *line = i < n ? lines[i] : NULL;
    gboolean blank = line != NULL && *line == '\0';
    gboolean indented = line != NULL && (*line == ' ' || *line == '\t');

    /* A paragraph ends at a blank line, at a change of indentation and at
     * the end of the text. */
    if (paragraph->len > 0 &&
        (line == NULL || blank || indented != paragraph_indented)) {
      if (paragraph_indented)
        g_string_append(out, paragraph->str); /* kept verbatim */
      else
        fill_paragraph(out, paragraph->str, column);
      g_string_truncate(paragraph, 0);
    }
    if (line == NULL)
      break;
    if (blank) {
      g_string_append_c(out, '\n');
      continue;
    }
    paragraph_indented = indented;
    g_string_append(paragraph, line);
    g_string_append_c(paragraph, '\n');
  }
  g_string_free(paragraph, TRUE);
  /* Python's fill() leaves the last line without its newline. */
  if (out->len > 0 && out->str[out->len - 1] == '\n' &&
      !g_str_has_suffix(text, "\n"))
    g_string_truncate(out, out->len - 1);
  return g_string_free(out, FALSE);
}
