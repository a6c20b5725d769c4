/* Postfix's bounce, delay and success reports, read from their text.
 *
 * Postfix sends multipart/report with a delivery-status part, which the
 * DSN detector reads first; this one is for reports whose status part was
 * lost (old Postfix sent multipart/mixed, some gateways flatten reports)
 * and for Postfix look-alikes.  The human-readable part is the one
 * described "Notification" (or the whole text of a flattened report from
 * MAILER-DAEMON).  After the signature line ("The mail system", "The
 * Postfix program") each recipient is a line "<addr>: reason", or
 * "<addr> (expanded from <alias>): reason", where the alias is what the
 * list sent to and so what we report.  A delay report says "THIS IS A
 * WARNING ONLY": its addresses are temporary.  A success report ("was
 * successfully delivered") reports nothing.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

static MmBounceRe signature =
    MM_BOUNCE_RE("^\\s*the\\s*(postfix program|mail system)\\s*$");
static MmBounceRe expanded =
    MM_BOUNCE_RE("^<[^>]*>\\s*\\(expanded from <(?P<addr>[^>]+)>\\)\\s*:");
static MmBounceRe recipient = MM_BOUNCE_RE("^<(?P<addr>[^>]+)>\\s*:");
static MmBounceRe warning = MM_BOUNCE_RE("this is a warning only");
static MmBounceRe success =
    MM_BOUNCE_RE("successfully delivered|delivery status report.*"
                 "successful|was delivered to");
static MmBounceRe flat_subject =
    MM_BOUNCE_RE("^(undelivered mail returned to sender|delayed mail|"
                 "undeliverable mail|mail delivery status report)");

static GPtrArray *
notification_lines(const MmBounceMessage *message)
{
  GPtrArray *lines =
      mm_bounce_message_leaf_lines(message, "text/plain", "notification");
  if (lines != NULL)
    return lines;

  /* A flattened report: the whole text, when the sender and subject are
   * Postfix's. */
  const char *subject = mm_bounce_message_header(message, "Subject");
  g_autofree char *from = mm_bounce_message_from_address(message);
  if (subject != NULL && mm_bounce_re_search(&flat_subject, subject) &&
      g_str_has_prefix(from, "mailer-daemon@"))
    return message->body_lines;
  return NULL;
}

void
mm_bounce_detect_postfix(const MmBounceMessage *message,
                         MmBounceFindings *findings)
{
  GPtrArray *lines = notification_lines(message);
  if (lines == NULL)
    return;

  gboolean permanent = TRUE;
  for (guint i = 0; i < lines->len; i++) {
    if (mm_bounce_re_search(&success, lines->pdata[i]))
      return;
    if (mm_bounce_re_search(&warning, lines->pdata[i]))
      permanent = FALSE;
  }

  gboolean signed_off = FALSE;
  for (guint i = 0; i < lines->len; i++) {
    const char *line = lines->pdata[i];
    if (!signed_off) {
      signed_off = mm_bounce_re_search(&signature, line);
      continue;
    }
    g_autofree char *addr = NULL;
    if (mm_bounce_re_capture(&expanded, line, &addr) ||
        mm_bounce_re_capture(&recipient, line, &addr))
      if (addr != NULL)
        mm_bounce_findings_add(findings, permanent, addr, -1);
  }
}
