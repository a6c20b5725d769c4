/* administrivia: an email command sent to the posting address (Mailman's
 * rules/administrivia.py).
 *
 * The Subject and the first [mailman] email_commands_max_lines non-blank
 * lines of the first text/plain part are split into words; a line whose
 * first word is a command with an acceptable number of arguments hits.
 * As in Mailman the part is read as transfer-encoded (a base64 body hides
 * its commands) and the Subject undecoded.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

static const struct {
  const char *word;
  int min_args;
  int max_args;
} commands[] = {
    {"confirm", 1, 1},     {"help", 0, 0},        {"info", 0, 0},
    {"lists", 0, 0},       {"options", 0, 0},     {"password", 2, 2},
    {"remove", 0, 0},      {"set", 3, 3},         {"subscribe", 0, 3},
    {"unsubscribe", 0, 1}, {"who", 0, 2},
};

static gboolean
line_is_command(const char *line)
{
  g_autofree char *lower = g_utf8_strdown(line, -1);
  g_auto(GStrv) split = g_strsplit_set(lower, " \t\r\n\f\v", -1);
  GPtrArray *words = g_ptr_array_new();
  for (char **w = split; *w != NULL; w++)
    if ((*w)[0] != '\0')
      g_ptr_array_add(words, *w);
  gboolean hit = FALSE;
  /* A blank Subject has no first word; Mailman's code fails on it, we
   * let it pass. */
  if (words->len > 0) {
    int args = (int)words->len - 1;
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
      if (strcmp(words->pdata[0], commands[i].word) == 0)
        hit = args >= commands[i].min_args && args <= commands[i].max_args;
  }
  g_ptr_array_free(words, TRUE);
  return hit;
}

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = FALSE;
  if (!mm_rules_list_flag(post, "administrivia"))
    return TRUE;

  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
  char *subject = mm_rules_post_header(post, "Subject");
  if (subject != NULL && subject[0] != '\0')
    g_ptr_array_add(lines, subject);
  else
    g_free(subject);

  gint64 max_lines = 10;
  const char *configured =
      post->config != NULL
          ? mm_config_get(post->config, "mailman", "email_commands_max_lines")
          : NULL;
  if (configured != NULL)
    g_ascii_string_to_signed(configured, 10, 0, G_MAXINT32, &max_lines, NULL);

  GMimePart *part = mm_rules_first_text_plain(post);
  if (part != NULL) {
    g_autofree char *payload = mm_rules_part_raw_payload(part);
    g_auto(GStrv) body = g_regex_split_simple("\r\n|\r|\n", payload, 0, 0);
    gint64 lineno = 0;
    for (char **l = body; *l != NULL; l++) {
      g_strstrip(*l);
      if ((*l)[0] == '\0')
        continue;
      if (++lineno > max_lines)
        break;
      g_ptr_array_add(lines, g_strdup(*l));
    }
  }

  for (guint i = 0; i < lines->len; i++) {
    if (line_is_command(lines->pdata[i])) {
      *hit_out = TRUE;
      mm_rules_hit(post, NULL, "Message contains administrivia");
      break;
    }
  }
  return TRUE;
}

const MmRule mm_rule_administrivia = {
    "administrivia", "Catch mis-addressed email commands.", TRUE, check,
};
