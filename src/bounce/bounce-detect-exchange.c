/* Microsoft Exchange and Office 365 non-delivery reports, from their text
 * (modern ones also carry a delivery-status part, which the DSN detector
 * reads first).
 *
 * The generations, each a block opened by a fixed sentence:
 *   - Exchange 5.5 to 2003: "did not reach the following recipient(s):" or
 *     "The following recipient(s) could not be reached:", then one line
 *     per recipient "addr on DATE" (or "SMTP=addr; on DATE", or a quoted
 *     'addr'); the block ends at an "MSEXCH:" diagnostic.  A recipient
 *     shown by display name only cannot be used.
 *   - Exchange 2007 and later: "Delivery has failed to these recipients or
 *     groups:", then lines "addr", "Name (addr)" or "Name<mailto:addr>",
 *     until "Diagnostic information for administrators".  The delay notice
 *     says "Delivery is delayed to these recipients or groups:":
 *     temporary.
 *   - Office 365 since 2017: "Your message to addr couldn't be delivered."
 * "Delivery to the following recipients has been delayed." (Exchange
 * 2003's delay notice) opens a temporary block of the first kind.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

static MmBounceRe old_start = MM_BOUNCE_RE(
    "did not reach the following recipient|"
    "following recipient\\(?s?\\)? (could|can)not be reached");
static MmBounceRe old_delay_start =
    MM_BOUNCE_RE("delivery to the following recipients? (has been|was) "
                 "delayed");
static MmBounceRe old_end =
    MM_BOUNCE_RE("msexch:|^\\s*-{3,}|original message|^\\s*reporting-mta");
static MmBounceRe old_address = MM_BOUNCE_RE(
    "^\\s*'?(smtp[=:])?<?(?P<addr>[^\\s;'<>@]+@[^\\s;'<>@]+?)>?'?;?\\s+on\\s");

static MmBounceRe new_start =
    MM_BOUNCE_RE("delivery has failed to these recipients or (groups|"
                 "distribution lists)");
static MmBounceRe new_delay_start =
    MM_BOUNCE_RE("delivery is delayed to these recipients or (groups|"
                 "distribution lists)");
static MmBounceRe new_end =
    MM_BOUNCE_RE("diagnostic information for administrators|"
                 "^\\s*original message headers|"
                 "this message hasn.t been delivered yet");
static MmBounceRe new_mailto = MM_BOUNCE_RE("<mailto:(?P<addr>[^>]+)>");
static MmBounceRe new_address = MM_BOUNCE_RE(
    "^\\s*([^()]*\\()?<?(?P<addr>[^\\s()<>@]+@[^\\s()<>@]+?)>?\\)?\\s*$");

static MmBounceRe o365_failed = MM_BOUNCE_RE(
    "your message to (?P<addr>[^\\s@]+@[^\\s@]+?) couldn.t be delivered");
static MmBounceRe o365_delayed = MM_BOUNCE_RE(
    "your message to (?P<addr>[^\\s@]+@[^\\s@]+?) (hasn.t|has not) been "
    "delivered");

/* Reads the block after line @first with @address until @end or 50
 * lines, whichever comes first. */
static void
read_block(GPtrArray *lines, guint first, MmBounceRe *end, gboolean permanent,
           gboolean with_mailto, MmBounceFindings *findings)
{
  for (guint i = first; i < lines->len && i < first + 50; i++) {
    const char *line = lines->pdata[i];
    g_autofree char *addr = NULL;
    if (mm_bounce_re_search(end, line))
      break;
    if ((with_mailto && mm_bounce_re_capture(&new_mailto, line, &addr)) ||
        mm_bounce_re_capture(with_mailto ? &new_address : &old_address, line,
                             &addr))
      if (addr != NULL)
        mm_bounce_findings_add(findings, permanent, addr, -1);
  }
}

void
mm_bounce_detect_exchange(const MmBounceMessage *message,
                          MmBounceFindings *findings)
{
  GPtrArray *lines = message->body_lines;

  for (guint i = 0; i < lines->len; i++) {
    const char *line = lines->pdata[i];
    g_autofree char *addr = NULL;

    if (mm_bounce_re_capture(&o365_failed, line, &addr)) {
      if (addr != NULL)
        mm_bounce_findings_add(findings, TRUE, addr, -1);
    } else if (mm_bounce_re_capture(&o365_delayed, line, &addr)) {
      if (addr != NULL)
        mm_bounce_findings_add(findings, FALSE, addr, -1);
    } else if (mm_bounce_re_search(&new_start, line)) {
      read_block(lines, i + 1, &new_end, TRUE, TRUE, findings);
    } else if (mm_bounce_re_search(&new_delay_start, line)) {
      read_block(lines, i + 1, &new_end, FALSE, TRUE, findings);
    } else if (mm_bounce_re_search(&old_start, line)) {
      read_block(lines, i + 1, &old_end, TRUE, FALSE, findings);
    } else if (mm_bounce_re_search(&old_delay_start, line)) {
      read_block(lines, i + 1, &old_end, FALSE, FALSE, findings);
    }
  }
}
