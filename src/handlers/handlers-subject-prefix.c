/* subject-prefix (mailman/handlers/subject_prefix.py).
 *
 * Puts the list's subject_prefix in front of the Subject, once:
 *   - "%d" (or "%05d" and the like) in the prefix becomes the list's
 *     post_id, and then matches any number in an old prefix;
 *   - every copy of the prefix already in the subject is removed, as are
 *     leading "Re:" chains ("RE", "AW", "SV", "VS", optionally "[n]",
 *     any case), which come back as one "Re: " after the prefix: a reply
 *     to "[Test] hello" is "[Test] Re: hello", never "[Test] Re: [Test]
 *     hello";
 *   - an empty subject becomes "(no subject)".
 * The subject is decoded first (RFC 2047, any charset iconv knows) and the
 * result encoded again by GMime in the list's charset when it can hold the
 * text, else in a charset that can.  An encoded word in a charset nobody
 * knows is kept byte for byte after the new prefix (Mailman raises on
 * those and shunts the post).  Metadata original_subject (the raw value)
 * and stripped_subject (without prefix) are recorded for other handlers.
 * Digests and fast-tracked messages are left alone; so is everything when
 * the prefix is blank.
 *
 * Like Mailman, the new Subject goes to the end of the header block.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#define RE_PATTERN "^\\s*((RE|AW|SV|VS)(\\[\\d+\\])?\\s*:\\s*)+"

/* Python's "prefix % post_id" for the conversions a prefix can sensibly
 * hold (%d, %i, %u, %s with flags '-', '0' and a width; "%%").  Python
 * raises TypeError, which Mailman ignores, unless there is exactly one
 * conversion; anything we do not understand leaves the prefix as is. */
static char *
format_prefix(const char *prefix, gint64 post_id)
{
  GString *out = g_string_new(NULL);
  guint conversions = 0;

  for (const char *p = prefix; *p != '\0'; p++) {
    if (*p != '%') {
      g_string_append_c(out, *p);
      continue;
    }
    p++;
    if (*p == '%') {
      g_string_append_c(out, '%');
      continue;
    }
    gboolean left = FALSE, zero = FALSE;
    while (*p == '-' || *p == '0' || *p == '+' || *p == ' ' || *p == '#') {
      left = left || *p == '-';
      zero = zero || *p == '0';
      p++;
    }
    guint width = 0;
    while (g_ascii_isdigit(*p) && width < 100)
      width = width * 10 + (guint)(*p++ - '0');
    if (*p != 'd' && *p != 'i' && *p != 'u' && *p != 's') {
      g_string_free(out, TRUE);
      return g_strdup(prefix);
    }
    conversions++;
    g_autofree char *number = g_strdup_printf("%" G_GINT64_FORMAT, post_id);
    gsize len = strlen(number);
    gsize pad = width > len ? width - len : 0;
    if (left) {
      g_string_append(out, number);
      for (gsize i = 0; i < pad; i++)
        g_string_append_c(out, ' ');
    } else if (zero && *p != 's') {
      gboolean negative = number[0] == '-';
      if (negative)
        g_string_append_c(out, '-');
      for (gsize i = 0; i < pad; i++)
        g_string_append_c(out, '0');
      g_string_append(out, number + (negative ? 1 : 0));
    } else {
      for (gsize i = 0; i < pad; i++)
        g_string_append_c(out, ' ');
      g_string_append(out, number);
    }
  }
  if (conversions != 1) {
    g_string_free(out, TRUE);
    return g_strdup(prefix);
  }
  return g_string_free(out, FALSE);
}

/* The regexp that finds the prefix in a subject: the prefix quoted, and
 * with "%d"-like conversions matching a number (only when one appears
 * after the first character, as Mailman's p.search(prefix, 1)). */
static GRegex *
prefix_regex(const char *prefix)
{
  g_autofree char *escaped = g_regex_escape_string(prefix, -1);
  g_autoptr(GRegex) number = g_regex_new("%\\d*d", 0, 0, NULL);
  g_autofree char *pattern = NULL;
  if (strlen(prefix) > 1 && g_regex_match(number, prefix + 1, 0, NULL))
    pattern = g_regex_replace_literal(number, escaped, -1, 0, "\\s*\\d+\\s*",
                                      0, NULL);
  else
    pattern = g_strdup(escaped);
  return g_regex_new(pattern, 0, 0, NULL);
}

/* Removes every prefix, then a leading Re: chain.  Sets @re_out when
 * there was one.  Returns a new string. */
static char *
strip_subject(GRegex *prefix, const char *text, gboolean *re_out)
{
  g_autofree char *stripped =
      prefix != NULL
          ? g_regex_replace_literal(prefix, text, -1, 0, "", 0, NULL)
          : g_strdup(text);
  if (stripped == NULL)
    stripped = g_strdup(text);
  g_autoptr(GRegex) re = g_regex_new(RE_PATTERN, G_REGEX_CASELESS, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  *re_out = FALSE;
  if (g_regex_match(re, stripped, 0, &match)) {
    int end = 0;
    g_match_info_fetch_pos(match, 0, NULL, &end);
    *re_out = TRUE;
    return g_strdup(stripped + end);
  }
  return g_steal_pointer(&stripped);
}

static gboolean
all_ascii(const char *text)
{
  for (const char *p = text; *p != '\0'; p++) {
    if ((unsigned char)*p >= 0x80)
      return FALSE;
  }
  return TRUE;
}

/* Subjects holding encoded words in a charset we cannot decode: only the
 * plain text before the first encoded word is examined, and the rest is
 * kept as written (Mailman's mixed_charsets(), which looks at the first
 * chunk only). */
static void
prefix_raw(MmHandlerContext *ctx, GRegex *regex, const char *prefix,
           const char *raw)
{
  const char *word = strstr(raw, "=?");
  g_autofree char *leading =
      g_strndup(raw, word != NULL ? (gsize)(word - raw) : strlen(raw));
  gboolean re = FALSE;
  g_autofree char *rest = strip_subject(regex, leading, &re);

  g_autofree char *encoded_prefix = NULL;
  if (all_ascii(prefix)) {
    encoded_prefix = g_strdup(prefix);
  } else {
    g_autofree char *trimmed = g_strchomp(g_strdup(prefix));
    g_autofree char *words = g_mime_utils_header_encode_text(
        NULL, trimmed, mm_handlers_list_charset(ctx));
    encoded_prefix = g_strconcat(words, prefix + strlen(trimmed), NULL);
  }
  g_autofree char *stripped =
      g_strconcat(rest, word != NULL ? word : "", NULL);
  json_object_set_new(ctx->meta, "stripped_subject", json_string(stripped));
  g_autofree char *value =
      g_strconcat(encoded_prefix, re ? "Re: " : "", g_strchug(rest),
                  word != NULL ? word : "", NULL);
  mm_handlers_header_remove(ctx->message, "Subject");
  mm_handlers_header_append_raw(ctx->message, "Subject", value);
}

MmHandlerResult
mm_handlers_subject_prefix(MmHandlerContext *ctx, GError **error)
{
  (void)error;
  if (mm_handlers_meta_true(ctx->meta, "isdigest") ||
      mm_handlers_meta_true(ctx->meta, "_fasttrack"))
    return MM_HANDLER_CONTINUE;
  const char *setting = mm_handlers_list_text(ctx, "subject_prefix");
  g_autofree char *blank = g_strstrip(g_strdup(setting));
  if (*blank == '\0')
    return MM_HANDLER_CONTINUE;

  g_autofree char *raw = mm_handlers_header_get_raw(ctx->message, "Subject");
  if (raw == NULL)
    raw = g_strdup("");
  g_autofree char *original = g_utf8_make_valid(raw, -1);
  json_object_set_new(ctx->meta, "original_subject", json_string(original));
  g_autoptr(GRegex) regex = prefix_regex(setting);
  g_autofree char *prefix = format_prefix(setting, ctx->list->post_id);

  gboolean unknown = FALSE;
  g_autofree char *text = mm_handlers_header_decode(raw, &unknown);
  if (unknown && all_ascii(raw)) {
    prefix_raw(ctx, regex, prefix, raw);
    return MM_HANDLER_CONTINUE;
  }

  g_autofree char *stripped = NULL;
  gboolean re = FALSE;
  g_autofree char *trimmed = g_strstrip(g_strdup(text));
  if (*trimmed == '\0') {
    stripped = g_strdup("(no subject)");
  } else {
    stripped = regex != NULL
                   ? g_regex_replace_literal(regex, text, -1, 0, "", 0, NULL)
                   : NULL;
    if (stripped == NULL)
      stripped = g_strdup(text);
  }
  json_object_set_new(ctx->meta, "stripped_subject", json_string(stripped));
  g_autofree char *rest = strip_subject(NULL, stripped, &re);
  g_autofree char *subject = g_strconcat(prefix, re ? "Re: " : "", rest, NULL);

  mm_handlers_header_remove(ctx->message, "Subject");
  mm_handlers_header_append(ctx->message, "Subject", subject,
                            mm_handlers_list_charset(ctx));
  return MM_HANDLER_CONTINUE;
}
