/* Exim's own bounce and delay-warning texts.
 *
 * A failure report carries X-Failed-Recipients: the addresses, permanent
 * (as flufl.bounce reads them).  Without that field the text is read: after
 * Exim's "created automatically by mail delivery software" opening, the
 * paragraph ending "address(es) failed:" lists each address indented by
 * two spaces, its reasons by four; "(generated from X)" under an address
 * means the list sent to X, which is the one to report.  A delay warning
 * ("has not yet been delivered ... after more than N hours") lists the
 * addresses still queued under "The address(es) to which the message has
 * not yet been delivered": temporary.  The copy of the message starts with
 * a "------ This is a copy" line, where reading stops.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

#include <string.h>

static MmBounceRe intro =
    MM_BOUNCE_RE("created automatically by mail delivery software");
static MmBounceRe failed_start =
    MM_BOUNCE_RE("address(\\(es\\)|es)? failed:\\s*$");
static MmBounceRe delayed_start =
    MM_BOUNCE_RE("to which the message has not yet been delivered (is|are)");
static MmBounceRe block_end =
    MM_BOUNCE_RE("^\\s*-{4,}|^no action is required|^reporting-mta:");
static MmBounceRe address_line =
    MM_BOUNCE_RE("^\\s{1,8}<?(?P<addr>[^\\s<>()@,]+@[^\\s<>()@,]+?)>?:?\\s*$");
static MmBounceRe generated_from =
    MM_BOUNCE_RE("^\\s+\\(generated from (?P<addr>[^\\s()@]+@[^\\s()@]+)\\)");

static void
read_block(GPtrArray *lines, guint first, gboolean permanent,
           MmBounceFindings *findings)
{
  g_autofree char *pending = NULL;

  for (guint i = first; i < lines->len; i++) {
    const char *line = lines->pdata[i];
    char *addr = NULL;
    if (mm_bounce_re_search(&block_end, line))
      break;
    if (mm_bounce_re_capture(&generated_from, line, &addr)) {
      /* The parent address replaces the one above it. */
      if (pending != NULL && addr != NULL) {
        g_free(pending);
        pending = addr;
      } else {
        g_free(addr);
      }
      continue;
    }
    if (mm_bounce_re_capture(&address_line, line, &addr)) {
      if (pending != NULL)
        mm_bounce_findings_add(findings, permanent, pending, -1);
      g_free(pending);
      pending = addr;
    }
  }
  if (pending != NULL)
    mm_bounce_findings_add(findings, permanent, pending, -1);
}

/* Addresses of one X-Failed-Recipients value: comma-separated, possibly
 * in angle brackets. */
static void
add_failed_field(const char *value, MmBounceFindings *findings)
{
  g_auto(GStrv) items = g_strsplit_set(value, ", \t", 200);

  for (char **item = items; *item != NULL; item++)
    if (**item != '\0')
      mm_bounce_findings_add(findings, TRUE, *item, -1);
}

void
mm_bounce_detect_exim(const MmBounceMessage *message,
                      MmBounceFindings *findings)
{
  for (guint i = 0; i < message->headers->len; i++) {
    const MmBounceHeader *header = message->headers->pdata[i];
    if (g_ascii_strcasecmp(header->name, "X-Failed-Recipients") == 0)
      add_failed_field(header->value, findings);
  }
  if (!mm_bounce_findings_empty(findings))
    return;

  GPtrArray *lines = message->body_lines;
  gboolean exim = FALSE;
  for (guint i = 0; i < lines->len; i++) {
    const char *line = lines->pdata[i];
    if (!exim) {
      exim = mm_bounce_re_search(&intro, line);
      continue;
    }
    if (mm_bounce_re_search(&failed_start, line)) {
      read_block(lines, i + 1, TRUE, findings);
      return;
    }
    if (mm_bounce_re_search(&delayed_start, line)) {
      read_block(lines, i + 1, FALSE, findings);
      return;
    }
  }
}
