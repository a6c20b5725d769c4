/* Lotus Notes / HCL Domino delivery failure reports.
 *
 * Subject "DELIVERY FAILURE: ..." and a body in three labelled
 * paragraphs:
 *   Your message
 *     Subject: ...
 *   was not delivered to:
 *     addr
 *   because:
 *     reason
 * The addresses are the lines between "was not delivered to:" and
 * "because:" (permanent).  Domino's delay report has the same shape with
 * "has not yet been delivered to:" / "was delayed to:" (temporary), under
 * a "DELIVERY DELAY" subject.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

static MmBounceRe failed_start =
    MM_BOUNCE_RE("^\\s*was not delivered to:?\\s*$");
static MmBounceRe delayed_start = MM_BOUNCE_RE(
    "^\\s*(has not (yet )?been delivered|was delayed|is delayed) to:?\\s*$");
static MmBounceRe block_end = MM_BOUNCE_RE("^\\s*because:?\\s*$");
static MmBounceRe address_line = MM_BOUNCE_RE(
    "^\\s*([^<>]*<)?(?P<addr>[^\\s<>()\"@]+@[^\\s<>()\"@]+?)>?\\s*$");

void
mm_bounce_detect_domino(const MmBounceMessage *message,
                        MmBounceFindings *findings)
{
  GPtrArray *lines = message->body_lines;

  for (guint i = 0; i < lines->len; i++) {
    gboolean permanent;
    if (mm_bounce_re_search(&failed_start, lines->pdata[i]))
      permanent = TRUE;
    else if (mm_bounce_re_search(&delayed_start, lines->pdata[i]))
      permanent = FALSE;
    else
      continue;

    /* Only a block closed by "because:" is Domino's; collect first, add
     * when the close is found. */
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    for (guint j = i + 1; j < lines->len && j < i + 100; j++) {
      const char *line = lines->pdata[j];
      char *addr = NULL;
      if (mm_bounce_re_search(&block_end, line)) {
        for (guint k = 0; k < found->len; k++)
          mm_bounce_findings_add(findings, permanent, found->pdata[k], -1);
        break;
      }
      if (mm_bounce_re_capture(&address_line, line, &addr) && addr != NULL)
        g_ptr_array_add(found, addr);
      else
        g_free(addr);
    }
  }
}
