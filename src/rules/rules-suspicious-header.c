/* suspicious-header: a line "Header: regexp" of the list's
 * bounce_matching_headers matches the post (Mailman's rules/suspicious.py):
 * blank lines and lines starting with '#' are skipped, the regexp is
 * searched case-insensitively in each value of that header.  A line
 * without a colon or with a bad regexp is logged to "error" and skipped.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = FALSE;
  const char *text = mm_rules_list_setting(post, "bounce_matching_headers");
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (char **l = lines; *l != NULL && !*hit_out; l++) {
    char *line = g_strstrip(*l);
    if (line[0] == '\0' || line[0] == '#')
      continue;
    char *colon = strchr(line, ':');
    if (colon == NULL) {
      g_autofree char *shown = mm_log_escape(line, -1);
      mm_log_error("error", "bad bounce_matching_header line: %s\n%s",
                   mm_rules_list_setting(post, "display_name"), shown);
      continue;
    }
    *colon = '\0';
    const char *value = g_strchug(colon + 1);
    g_autoptr(GError) regex_error = NULL;
    g_autoptr(GRegex) regex =
        g_regex_new(value, G_REGEX_CASELESS, 0, &regex_error);
    if (regex == NULL) {
      g_autofree char *shown = mm_log_escape(value, -1);
      mm_log_error("error",
                   "bad regexp in bounce_matching_header line: %s %s "
                   "(cause: %s)",
                   mm_rules_list_setting(post, "display_name"), shown,
                   regex_error->message);
      continue;
    }
    g_auto(GStrv) values = mm_rules_post_header_values(post, line);
    for (char **v = values; *v != NULL; v++) {
      g_autofree char *valid = g_utf8_make_valid(*v, -1);
      if (g_regex_match(regex, valid, 0, NULL)) {
        g_autofree char *reason = g_strdup_printf(
            "Header \"%s\" matched a bounce_matching_header line", valid);
        mm_rules_hit(post, NULL, reason);
        *hit_out = TRUE;
        break;
      }
    }
  }
  return TRUE;
}

const MmRule mm_rule_suspicious_header = {
    "suspicious-header", "Catch messages with suspicious headers.", TRUE,
    check,
};
