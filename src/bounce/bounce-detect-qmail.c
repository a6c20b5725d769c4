/* qmail's bounce format (QSBMF, http://cr.yp.to/proto/qsbmf.txt) and the
 * qmail derivatives that keep it.
 *
 * An introductory paragraph ("Hi. This is the qmail-send program at
 * HOST."), then one paragraph per recipient starting "<addr>:", then a
 * break paragraph starting with '-' ("--- Below this line is a copy of the
 * message."), where reading stops.  qmail-send only reports when it has
 * given up, so every address is permanent.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

static MmBounceRe intro = MM_BOUNCE_RE(
    "^(hi\\.\\s+)?this is the (qmail-send|qmail-local|netqmail) program|"
    "^hi\\.\\s+this is the .* program at|"
    "wasn.t able to deliver your message to the following address");
static MmBounceRe recipient = MM_BOUNCE_RE("^<(?P<addr>[^>]*)>:");

void
mm_bounce_detect_qmail(const MmBounceMessage *message,
                       MmBounceFindings *findings)
{
  enum { START, INTRO, RECIPIENTS } state = START;
  GPtrArray *lines = message->body_lines;

  for (guint i = 0; i < lines->len; i++) {
    const char *line = mm_bounce_skip_space(lines->pdata[i]);
    switch (state) {
    case START:
      if (mm_bounce_re_search(&intro, line))
        state = INTRO;
      break;
    case INTRO:
      if (*line == '\0')
        state = RECIPIENTS;
      break;
    case RECIPIENTS: {
      if (*line == '-')
        return; /* the break paragraph */
      g_autofree char *addr = NULL;
      if (mm_bounce_re_capture(&recipient, line, &addr) && addr != NULL)
        mm_bounce_findings_add(findings, TRUE, addr, -1);
      break;
    }
    }
  }
}
