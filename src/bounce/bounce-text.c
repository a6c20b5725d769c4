/* Text helpers for the detectors: patterns compiled once, the block
 * scanner of the "simple" detectors, small line predicates.
 *
 * Every pattern runs on one line of at most MM_BOUNCE_MAX_LINE bytes of
 * valid UTF-8 (bounce-message.c guarantees both), so matching time is
 * bounded by the line bound times the number of lines.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

#include <string.h>

GRegex *
mm_bounce_re(MmBounceRe *re)
{
  if (g_once_init_enter(&re->once)) {
    g_autoptr(GError) error = NULL;
    re->regex = g_regex_new(re->pattern, G_REGEX_CASELESS | G_REGEX_OPTIMIZE,
                            0, &error);
    if (re->regex == NULL)
      g_error("bounce pattern %s does not compile: %s", re->pattern,
              error->message);
    g_once_init_leave(&re->once, 1);
  }
  return re->regex;
}

gboolean
mm_bounce_re_search(MmBounceRe *re, const char *text)
{
  return g_regex_match(mm_bounce_re(re), text, 0, NULL);
}

gboolean
mm_bounce_re_capture(MmBounceRe *re, const char *text, char **addr_out)
{
  g_autoptr(GMatchInfo) info = NULL;

  if (!g_regex_match(mm_bounce_re(re), text, 0, &info))
    return FALSE;
  if (addr_out != NULL) {
    char *addr = g_match_info_fetch_named(info, "addr");
    if (addr != NULL && *addr == '\0')
      g_clear_pointer(&addr, g_free);
    *addr_out = addr;
  }
  return TRUE;
}

guint
mm_bounce_patterns_scan(GPtrArray *lines, MmBouncePattern *patterns,
                        gsize n_patterns, guint max_lines, gboolean permanent,
                        MmBounceFindings *findings)
{
  if (lines == NULL)
    return 0;
  for (gsize p = 0; p < n_patterns; p++) {
    MmBouncePattern *pattern = &patterns[p];
    gboolean in_block = FALSE;
    guint read = 0, added = 0;

    for (guint i = 0; i < lines->len; i++) {
      const char *line = lines->pdata[i];
      if (!in_block) {
        if (!mm_bounce_re_search(&pattern->start, line))
          continue;
        in_block = TRUE;
      } else if (++read > max_lines && max_lines > 0) {
        break;
      }
      /* The start line itself may hold the address ("Undeliverable
       * address: x@y"), so it goes through @addr too. */
      g_autofree char *addr = NULL;
      if (mm_bounce_re_capture(&pattern->addr, line, &addr)) {
        if (addr != NULL &&
            mm_bounce_findings_add(findings, permanent, addr, -1))
          added++;
      } else if (read > 0 && mm_bounce_re_search(&pattern->end, line)) {
        break;
      }
    }
    if (added > 0)
      return added;
  }
  return 0;
}

const char *
mm_bounce_skip_space(const char *line)
{
  while (*line == ' ' || *line == '\t')
    line++;
  return line;
}

gboolean
mm_bounce_line_blank(const char *line)
{
  return *mm_bounce_skip_space(line) == '\0';
}
