/* tagger: topics (mailman/handlers/tagger.py).
 *
 * With topics_enabled, each topic's regular expression (its pattern
 * lines joined with '|', case-insensitive) is searched in the Subject and
 * Keywords headers and, per topics_bodylines_limit (0: none, negative:
 * all), in the "Subject:" and "Keywords:" lines among the first non-blank
 * body lines of a text/plain body (or the text/plain alternative).  The
 * names of the topics hit, sorted, go to metadata "topichits" and to an
 * X-Topics header.
 *
 * The topics are the list setting "topics" (storage migration 5), one per
 * line "NAME<TAB>PATTERN", where Mailman keeps a pickled list.  Member
 * topic filtering is off in Mailman 3 too (do_topic_filters is disabled).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#include "base-log.h"

/* The text/plain part whose lines Mailman scans, or NULL. */
static GMimePart *
scanned_part(GMimeMessage *message)
{
  GMimeObject *top = g_mime_message_get_mime_part(message);
  if (top == NULL)
    return NULL;
  g_autofree char *type = mm_handlers_object_type(top);
  if (g_str_equal(type, "text/plain") && GMIME_IS_PART(top))
    return GMIME_PART(top);
  if (g_str_equal(type, "multipart/alternative") && GMIME_IS_MULTIPART(top)) {
    GMimeMultipart *multipart = GMIME_MULTIPART(top);
    for (int i = 0; i < g_mime_multipart_get_count(multipart); i++) {
      GMimeObject *part = g_mime_multipart_get_part(multipart, i);
      g_autofree char *sub = mm_handlers_object_type(part);
      if (g_str_equal(sub, "text/plain") && GMIME_IS_PART(part))
        return GMIME_PART(part);
    }
  }
  return NULL;
}

/* Subject: and Keywords: values among the first @limit non-blank lines
 * (all when negative), read as a header block the way Mailman's forgiving
 * parser does: it stops at the first line that is neither a header nor a
 * continuation. */
static void
scan_body(GMimeMessage *message, gint64 limit, GPtrArray *lines_out)
{
  GMimePart *part = scanned_part(message);
  if (part == NULL)
    return;
  g_autofree char *text = mm_handlers_part_get_text(part, "us-ascii", NULL);
  if (text == NULL)
    return;
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  GString *current = NULL;
  char *current_name = NULL;
  gint64 taken = 0;

  for (char **line = lines; *line != NULL; line++) {
    if (limit >= 0 && taken >= limit)
      break;
    g_autofree char *stripped = g_strstrip(g_strdup(*line));
    if (*stripped == '\0')
      continue; /* blank lines do not count */
    taken++;
    if (**line == ' ' || **line == '\t') {
      if (current == NULL)
        break;
      g_string_append_printf(current, "\n\t%s", *line);
      continue;
    }
    char *colon = strchr(*line, ':');
    if (colon == NULL)
      break;
    if (current != NULL) {
      if (g_ascii_strcasecmp(current_name, "subject") == 0 ||
          g_ascii_strcasecmp(current_name, "keywords") == 0)
        g_ptr_array_add(lines_out, g_strdup(current->str));
      g_string_free(current, TRUE);
      g_free(current_name);
    }
    current_name = g_strndup(*line, (gsize)(colon - *line));
    current = g_string_new(g_strchug(colon + 1));
  }
  if (current != NULL) {
    if (g_ascii_strcasecmp(current_name, "subject") == 0 ||
        g_ascii_strcasecmp(current_name, "keywords") == 0)
      g_ptr_array_add(lines_out, g_strdup(current->str));
    g_string_free(current, TRUE);
    g_free(current_name);
  }
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

MmHandlerResult
mm_handlers_tagger(MmHandlerContext *ctx, GError **error)
{
  (void)error;
  if (!mm_handlers_list_bool(ctx, "topics_enabled"))
    return MM_HANDLER_CONTINUE;
  g_auto(GStrv) topics = mm_handlers_list_strv(ctx->list, "topics");
  if (topics[0] == NULL)
    return MM_HANDLER_CONTINUE;

  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
  const char *headers[] = {"Subject", "Keywords"};
  for (gsize i = 0; i < G_N_ELEMENTS(headers); i++) {
    char *value = mm_handlers_header_get(ctx->message, headers[i]);
    if (value != NULL && *value != '\0')
      g_ptr_array_add(lines, value);
    else
      g_free(value);
  }
  gint64 limit = mm_handlers_list_int(ctx, "topics_bodylines_limit");
  if (limit != 0)
    scan_body(ctx->message, limit, lines);

  g_autoptr(GPtrArray) hits = g_ptr_array_new_with_free_func(g_free);
  for (char **topic = topics; *topic != NULL; topic++) {
    char *tab = strchr(*topic, '\t');
    if (tab == NULL)
      continue;
    g_autofree char *name = g_strndup(*topic, (gsize)(tab - *topic));
    g_autoptr(GError) regex_error = NULL;
    g_autoptr(GRegex) regex =
        g_regex_new(tab + 1, G_REGEX_CASELESS, 0, &regex_error);
    if (regex == NULL) {
      mm_log_error("error", "%s: bad topic regexp for %s: %s",
                   ctx->list->list_id, name, regex_error->message);
      continue;
    }
    for (guint i = 0; i < lines->len; i++) {
      if (g_regex_match(regex, lines->pdata[i], 0, NULL)) {
        if (!g_ptr_array_find_with_equal_func(hits, name, g_str_equal, NULL))
          g_ptr_array_add(hits, g_strdup(name));
        break;
      }
    }
  }
  if (hits->len == 0)
    return MM_HANDLER_CONTINUE;
  g_ptr_array_sort(hits, compare_names);
  json_t *array = json_array();
  gboolean ascii = TRUE;
  for (guint i = 0; i < hits->len; i++) {
    json_array_append_new(array, json_string(hits->pdata[i]));
    for (const char *p = hits->pdata[i]; *p != '\0'; p++)
      ascii = ascii && g_ascii_isprint(*p);
  }
  json_object_set_new(ctx->meta, "topichits", array);
  g_ptr_array_add(hits, NULL);
  /* Mailman folds the names one a line; names GMime must encode are
   * joined with spaces and folded by GMime instead. */
  g_autofree char *value =
      g_strjoinv(ascii ? "\n\t" : " ", (char **)hits->pdata);
  if (ascii)
    mm_handlers_header_append_raw(ctx->message, "X-Topics", value);
  else
    mm_handlers_header_append(ctx->message, "X-Topics", value, NULL);
  return MM_HANDLER_CONTINUE;
}
