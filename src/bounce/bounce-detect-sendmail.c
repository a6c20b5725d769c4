/* Sendmail's text reports (the part a reader sees; the DSN detector reads
 * the delivery-status part when there is one).
 *
 * Sendmail frames the recipients between dashed banners:
 *   ----- The following addresses had permanent fatal errors -----
 *   <addr>
 *       (reason: 550 5.1.1 User unknown)
 *       (expanded from: <alias>)
 *   ----- Transcript of session follows -----
 * "permanent fatal errors" are permanent; "transient non-fatal errors" (the
 * banner of its delay warnings) temporary.  "(expanded from: <alias>)"
 * names what the list sent to, which replaces the address above it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

static MmBounceRe permanent_banner =
    MM_BOUNCE_RE("^\\s*-+\\s*the following addresses? (had|has) permanent "
                 "(fatal )?errors?");
static MmBounceRe temporary_banner =
    MM_BOUNCE_RE("^\\s*-+\\s*the following addresses? (had|has) transient "
                 "(non-fatal )?errors?");
static MmBounceRe banner_end = MM_BOUNCE_RE("^\\s*-{3,}");
static MmBounceRe address_line =
    MM_BOUNCE_RE("^\\s*<?(?P<addr>[^\\s<>()@]+@[^\\s<>()@]+?)>?\\s*$");
static MmBounceRe expanded_from =
    MM_BOUNCE_RE("^\\s+\\(expanded from:?\\s*<?(?P<addr>[^\\s<>()@]+@"
                 "[^\\s<>()@]+?)>?\\)");

static void
read_block(GPtrArray *lines, guint first, gboolean permanent,
           MmBounceFindings *findings)
{
  g_autofree char *pending = NULL;

  for (guint i = first; i < lines->len; i++) {
    const char *line = lines->pdata[i];
    char *addr = NULL;
    if (mm_bounce_re_search(&banner_end, line))
      break;
    if (mm_bounce_re_capture(&expanded_from, line, &addr)) {
      if (pending != NULL && addr != NULL) {
        g_free(pending);
        pending = addr;
      } else {
        g_free(addr);
      }
    } else if (mm_bounce_re_capture(&address_line, line, &addr)) {
      if (pending != NULL)
        mm_bounce_findings_add(findings, permanent, pending, -1);
      g_free(pending);
      pending = addr;
    }
  }
  if (pending != NULL)
    mm_bounce_findings_add(findings, permanent, pending, -1);
}

void
mm_bounce_detect_sendmail(const MmBounceMessage *message,
                          MmBounceFindings *findings)
{
  GPtrArray *lines = message->body_lines;

  for (guint i = 0; i < lines->len; i++) {
    if (mm_bounce_re_search(&permanent_banner, lines->pdata[i]))
      read_block(lines, i + 1, TRUE, findings);
    else if (mm_bounce_re_search(&temporary_banner, lines->pdata[i]))
      read_block(lines, i + 1, FALSE, findings);
  }
}
