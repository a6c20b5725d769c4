/* Yahoo! Mail's own bounce text.
 *
 * From MAILER-DAEMON at a yahoo domain.  After "Sorry, we were unable to
 * deliver your message to the following address." (older: "Message from
 * yahoo.com.", "Unable to deliver message to the following address(es).")
 * each recipient is a line "<addr>:" followed by the remote host's answer;
 * the copy of the message starts at "--- Below this line is a copy of the
 * message." (or "--- Original message follows.").  Permanent only.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

static MmBounceRe start = MM_BOUNCE_RE(
    "unable to deliver (your )?message to the following address|"
    "^\\s*message from\\s+yahoo\\.");
static MmBounceRe recipient = MM_BOUNCE_RE("^\\s*<(?P<addr>[^>]+)>:");
static MmBounceRe end = MM_BOUNCE_RE(
    "^\\s*-{2,}\\s*(below this line|original message)|"
    "^\\s*-{5,}\\s*forwarded message");

void
mm_bounce_detect_yahoo(const MmBounceMessage *message,
                       MmBounceFindings *findings)
{
  g_autofree char *from = mm_bounce_message_from_address(message);
  if (!g_str_has_prefix(from, "mailer-daemon@yahoo") &&
      !(g_str_has_prefix(from, "mailer-daemon@") &&
        g_strstr_len(from, -1, ".yahoo") != NULL))
    return;

  gboolean started = FALSE;
  GPtrArray *lines = message->body_lines;
  for (guint i = 0; i < lines->len; i++) {
    const char *line = lines->pdata[i];
    if (!started) {
      started = mm_bounce_re_search(&start, line);
      continue;
    }
    g_autofree char *addr = NULL;
    if (mm_bounce_re_capture(&recipient, line, &addr)) {
      if (addr != NULL)
        mm_bounce_findings_add(findings, TRUE, addr, -1);
    } else if (mm_bounce_re_search(&end, line)) {
      break;
    }
  }
}
