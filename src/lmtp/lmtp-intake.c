/* Is a received message well-formed enough to queue?
 *
 * Mailman 3 refuses a message with any top-level defect of Python's email
 * parser (mailman/runners/lmtp.py, "501 Message has defects");
 * mm_message_defects_check() reproduces that list.  We follow it with one
 * exception the issue asks for: a multipart message whose closing boundary
 * line is missing is accepted, since every MIME parser downstream copes
 * (it is how truncated and some mobile-client messages look) and refusing
 * it bounces legitimate mail.
 *
 * The exception is decided without knowing the check's reason strings: if
 * the message passes once a closing delimiter is appended, a missing close
 * was its only defect.  Appending cannot fix any other defect (a header
 * problem, a missing boundary parameter, a close before any opening
 * delimiter).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include "message.h"

#include <string.h>

/* The boundary parameter of a Content-Type value (RFC 2045 5.1), quoted
 * or not; NULL when there is none.  RFC 2231 continuations are not
 * decoded: such a message is simply judged as Mailman would. */
char *
mm_lmtp_content_type_boundary(const char *content_type)
{
  const char *p = strchr(content_type, ';');
  while (p != NULL) {
    p++;
    while (*p == ' ' || *p == '\t')
      p++;
    const char *name = p;
    while (*p != '\0' && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
      p++;
    gsize name_len = p - name;
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p != '=') {
      p = strchr(p, ';');
      continue;
    }
    p++;
    while (*p == ' ' || *p == '\t')
      p++;
    g_autoptr(GString) value = g_string_new(NULL);
    if (*p == '"') {
      for (p++; *p != '\0' && *p != '"'; p++) {
        if (*p == '\\' && p[1] != '\0')
          p++;
        g_string_append_c(value, *p);
      }
    } else {
      while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t')
        g_string_append_c(value, *p++);
    }
    if (name_len == strlen("boundary") &&
        g_ascii_strncasecmp(name, "boundary", name_len) == 0 &&
        value->len > 0)
      return g_string_free(g_steal_pointer(&value), FALSE);
    p = strchr(p, ';');
  }
  return NULL;
}

gboolean
mm_lmtp_message_acceptable(GBytes *raw, char **reason_out)
{
  g_autofree char *reason = NULL;
  if (mm_message_defects_check(raw, &reason))
    return TRUE;

  g_autofree char *content_type = NULL;
  g_autofree char *boundary = NULL;
  if (mm_message_header_get(raw, "Content-Type", &content_type))
    boundary = mm_lmtp_content_type_boundary(content_type);
  if (boundary != NULL) {
    gsize len = 0;
    const char *data = g_bytes_get_data(raw, &len);
    const char *lf = memchr(data, '\n', len);
    const char *eol = lf != NULL && lf > data && lf[-1] == '\r' ? "\r\n" : "\n";
    g_autoptr(GByteArray) patched = g_byte_array_sized_new(len + 128);
    g_byte_array_append(patched, (const guint8 *)data, len);
    if (len > 0 && data[len - 1] != '\n')
      g_byte_array_append(patched, (const guint8 *)eol, strlen(eol));
    g_autofree char *close = g_strdup_printf("--%s--%s", boundary, eol);
    g_byte_array_append(patched, (const guint8 *)close, strlen(close));
    g_autoptr(GBytes) patched_bytes =
        g_byte_array_free_to_bytes(g_steal_pointer(&patched));
    if (mm_message_defects_check(patched_bytes, NULL))
      return TRUE;
  }
  if (reason_out != NULL)
    *reason_out = g_steal_pointer(&reason);
  return FALSE;
}
