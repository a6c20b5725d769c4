/* Novell (Micro Focus) GroupWise Internet Agent reports, and NTMail's,
 * which share the layout.
 *
 * Recognised by the X-Mailer field ("Novell GroupWise Internet Agent",
 * "GroupWise ...", "NTMail ...").  The first text/plain part says the
 * message "was undeliverable to the following:" (or could not be
 * delivered), then lists one recipient per line, the address first and a
 * parenthesised reason after it ("  user@example.com (user not found)"),
 * or in angle brackets.  The list ends at an empty line once addresses were
 * seen, or at "Possible causes".  Permanent only.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

static MmBounceRe mailer =
    MM_BOUNCE_RE("^\\s*(novell\\s+)?groupwise|^\\s*ntmail");
static MmBounceRe start =
    MM_BOUNCE_RE("undeliverable to the following|could not be delivered|"
                 "was not delivered to|delivery failed");
static MmBounceRe stop = MM_BOUNCE_RE("possible causes|original message|"
                                      "^\\s*-{3,}");
static MmBounceRe angle = MM_BOUNCE_RE("<(?P<addr>[^\\s<>@]+@[^\\s<>@]+)>");
static MmBounceRe leading = MM_BOUNCE_RE(
    "^\\s*(?P<addr>[^\\s<>()\"@]+@[^\\s<>()\",;:@]+)\\s*([(:;,-].*)?$");

void
mm_bounce_detect_groupwise(const MmBounceMessage *message,
                           MmBounceFindings *findings)
{
  const char *x_mailer = mm_bounce_message_header(message, "X-Mailer");
  if (x_mailer == NULL || !mm_bounce_re_search(&mailer, x_mailer))
    return;
  GPtrArray *lines = mm_bounce_message_leaf_lines(message, "text/plain", NULL);
  if (lines == NULL)
    return;

  gboolean started = FALSE;
  guint added = 0;
  for (guint i = 0; i < lines->len; i++) {
    const char *line = lines->pdata[i];
    if (!started) {
      started = mm_bounce_re_search(&start, line);
      continue;
    }
    if (mm_bounce_re_search(&stop, line) ||
        (added > 0 && mm_bounce_line_blank(line)))
      break;
    g_autofree char *addr = NULL;
    if ((mm_bounce_re_capture(&angle, line, &addr) ||
         mm_bounce_re_capture(&leading, line, &addr)) &&
        addr != NULL && mm_bounce_findings_add(findings, TRUE, addr, -1))
      added++;
  }
}
