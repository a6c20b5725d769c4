/* AOL's bounce text, which names the failed recipients by screen name.
 *
 * A text/plain message from an aol.com address.  After the sentence
 * "mail to the following recipients could not be delivered", each line
 * holds one recipient: a full address, or a bare screen name, which is the
 * local part of an aol.com address.  The list ends at the first line that
 * is not a single word.  Permanent only.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

#include <string.h>

static MmBounceRe start = MM_BOUNCE_RE(
    "mail to the following recipients? could not be delivered");
static MmBounceRe screen_name = MM_BOUNCE_RE("^[a-z0-9][a-z0-9._-]{0,63}$");

void
mm_bounce_detect_aol(const MmBounceMessage *message,
                     MmBounceFindings *findings)
{
  if (!g_str_equal(message->content_type, "text/plain"))
    return;
  g_autofree char *from = mm_bounce_message_from_address(message);
  if (!g_str_has_suffix(from, "@aol.com"))
    return;

  gboolean started = FALSE;
  GPtrArray *lines = message->body_lines;
  for (guint i = 0; i < lines->len; i++) {
    if (!started) {
      started = mm_bounce_re_search(&start, lines->pdata[i]);
      continue;
    }
    g_autofree char *word = g_strdup(lines->pdata[i]);
    g_strstrip(word);
    if (*word == '\0')
      continue;
    if (strpbrk(word, " \t") != NULL)
      break;
    if (strchr(word, '@') != NULL) {
      mm_bounce_findings_add(findings, TRUE, word, -1);
    } else if (mm_bounce_re_search(&screen_name, word)) {
      g_autofree char *address = g_strconcat(word, "@aol.com", NULL);
      mm_bounce_findings_add(findings, TRUE, address, -1);
    } else {
      break;
    }
  }
}
