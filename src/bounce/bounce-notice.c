/* The notice that forwards an unrecognised bounce (Mailman's maybe_forward
 * in app/bounces.py, an OwnerNotification).
 *
 * The bounce is attached byte for byte as message/rfc822; the notice is
 * built as text around it, never by re-serialising the bounce through a
 * MIME library.  The boundary is chosen so that it does not occur in the
 * bounce.  Line endings follow the bounce's first line, so the result does
 * not mix LF and CRLF.  The Subject is Mailman's, since site owners filter
 * on it; the explanation is our own wording.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

#include <string.h>

#include "message.h"

/* A bounce bigger than this is attached as its header block only. */
#define ATTACH_MAX MM_BOUNCE_PARSE_MAX_LEN

static gboolean
contains(const char *data, gsize len, const char *needle)
{
  return memmem(data, len, needle, strlen(needle)) != NULL;
}

/* The header block of @data (up to and including the empty line). */
static gsize
header_block_len(const char *data, gsize len)
{
  for (gsize i = 0; i + 1 < len; i++) {
    if (data[i] == '\n' && data[i + 1] == '\n')
      return i + 2;
    if (data[i] == '\n' && i + 2 < len && data[i + 1] == '\r' &&
        data[i + 2] == '\n')
      return i + 3;
  }
  return MIN(len, 64u * 1024u);
}

GBytes *
mm_bounce_notice_unrecognized(const char *fqdn_listname,
                              const char *site_owner, const char *to_header,
                              gboolean to_site_owner, GBytes *bounce)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(bounce, &len);
  if (data == NULL)
    data = "";

  const char *first_lf = memchr(data, '\n', len);
  const char *eol =
      (first_lf != NULL && first_lf > data && first_lf[-1] == '\r') ? "\r\n"
                                                                     : "\n";
  gsize attach_len = len;
  gboolean truncated = FALSE;
  if (len > ATTACH_MAX) {
    attach_len = header_block_len(data, len);
    truncated = TRUE;
  }

  g_autofree char *boundary = NULL;
  do {
    g_free(boundary);
    boundary = g_strdup_printf("===============%08x%08x==", g_random_int(),
                               g_random_int());
  } while (contains(data, attach_len, boundary));

  /* RFC 2046 5.2.1: message/rfc822 allows 7bit, 8bit or binary only. */
  const char *encoding = "7bit";
  for (gsize i = 0; i < attach_len; i++) {
    if (data[i] == '\0') {
      encoding = "binary";
      break;
    }
    if ((guchar)data[i] >= 0x80)
      encoding = "8bit";
  }

  const char *at = strrchr(fqdn_listname, '@');
  g_autofree char *msgid =
      mm_message_id_new(at != NULL ? at + 1 : NULL, NULL);
  if (msgid == NULL)
    msgid = mm_message_id_new(NULL, NULL);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *date = g_date_time_format(now, "%a, %d %b %Y %H:%M:%S %z");

  GString *out = g_string_sized_new(attach_len + 2048);
  g_string_append_printf(out, "From: %s%s", site_owner, eol);
  g_string_append_printf(out, "To: %s%s", to_header, eol);
  g_string_append_printf(out, "Subject: Uncaught bounce notification%s", eol);
  g_string_append_printf(out, "Date: %s%s", date, eol);
  g_string_append_printf(out, "Message-ID: %s%s", msgid, eol);
  g_string_append_printf(out, "MIME-Version: 1.0%s", eol);
  g_string_append_printf(out,
                         "Content-Type: multipart/mixed; boundary=\"%s\"%s",
                         boundary, eol);
  g_string_append_printf(out, "Precedence: bulk%s", eol);
  g_string_append_printf(out, "Auto-Submitted: auto-generated%s%s", eol, eol);

  g_string_append_printf(out, "--%s%s", boundary, eol);
  g_string_append_printf(out, "Content-Type: text/plain; charset=\"us-ascii\"%s",
                         eol);
  g_string_append_printf(out, "Content-Transfer-Encoding: 7bit%s%s", eol, eol);
  g_string_append_printf(
      out,
      "A message arrived at the bounce address of the mailing list%s"
      "%s.%s"
      "It could not be read as a delivery failure report: either its%s"
      "format is not one the server knows, or it names no address that%s"
      "belongs to a member.%s%s"
      "The list is set up to pass such messages on to %s%s"
      "(setting forward_unrecognized_bounces_to), so here it is, attached%s"
      "as it was received.%s",
      eol, fqdn_listname, eol, eol, eol, eol, eol,
      to_site_owner ? "the site administrator" : "its administrators", eol,
      eol, eol);
  if (truncated)
    g_string_append_printf(out,
                           "%sIt was too big to attach whole; only its "
                           "header is attached.%s",
                           eol, eol);
  g_string_append_printf(out, "%s--%s%s", eol, boundary, eol);
  g_string_append_printf(out, "Content-Type: message/rfc822%s", eol);
  g_string_append_printf(out, "Content-Disposition: inline%s", eol);
  g_string_append_printf(out, "Content-Transfer-Encoding: %s%s%s", encoding,
                         eol, eol);
  g_string_append_len(out, data, (gssize)attach_len);
  if (attach_len > 0 && data[attach_len - 1] != '\n')
    g_string_append(out, eol);
  g_string_append_printf(out, "--%s--%s", boundary, eol);

  gsize out_len = out->len;
  return g_bytes_new_take(g_string_free(out, FALSE), out_len);
}
