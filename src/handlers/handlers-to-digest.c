/* to-digest (mailman/handlers/to_digest.py).
 *
 * With digests_enabled, each post is added to the list's digest mailbox,
 * $list_data_dir/<list_id>/digest.mmdf, in the MMDF format Python's
 * mailbox module (and so Mailman's digest code) reads: "\1\1\1\1\n", a
 * "From MAILER-DAEMON <asctime>" line, the message, "\n\1\1\1\1\n".
 *
 * Durability: the mailbox is rewritten through base-file's atomic writer
 * (old contents, then the new message; fsync; rename; fsync of the
 * directory), under an flock on digest.mmdf.lock so that two pipeline
 * slices cannot lose each other's posts.  A crash leaves either the old
 * mailbox or the new one, never half a message.  The cost is a copy of
 * the mailbox per post; the digest runner empties it at
 * digest_size_threshold (30 KB by default).
 *
 * XXX: sending the digest when the mailbox passes digest_size_threshold
 * (Mailman's maybe_send_digest_now) belongs to the digest issue; until
 * then the mailbox only grows.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base-error.h"
#include "base-file.h"
#include "base-lock.h"

#define MMDF_SEPARATOR "\001\001\001\001\n"

/* Copies the file at @path (if any) into @out in chunks. */
static gboolean
copy_existing(const char *path, MmAtomicFile *out, GError **error)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int saved = errno;
    if (saved == ENOENT)
      return TRUE;
    return mm_error_from_errno(error, saved, path);
  }
  char buffer[65536];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int saved = errno;
      close(fd);
      return mm_error_from_errno(error, saved, path);
    }
    if (n == 0)
      break;
    if (!mm_atomic_file_write(out, buffer, (gsize)n, error)) {
      close(fd);
      return FALSE;
    }
  }
  close(fd);
  return TRUE;
}

/* Python's time.asctime(time.gmtime()): "Thu Jan  1 00:00:00 1970". */
static char *
asctime_now(void)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  static const char *const days[] = {"Mon", "Tue", "Wed", "Thu",
                                     "Fri", "Sat", "Sun"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
  return g_strdup_printf(
      "%s %s %2d %02d:%02d:%02d %d",
      days[g_date_time_get_day_of_week(now) - 1],
      months[g_date_time_get_month(now) - 1],
      g_date_time_get_day_of_month(now), g_date_time_get_hour(now),
      g_date_time_get_minute(now), g_date_time_get_second(now),
      g_date_time_get_year(now));
}

MmHandlerResult
mm_handlers_to_digest(MmHandlerContext *ctx, GError **error)
{
  if (!mm_handlers_list_bool(ctx, "digests_enabled") ||
      mm_handlers_meta_true(ctx->meta, "isdigest"))
    return MM_HANDLER_CONTINUE;

  const char *data_dir = mm_config_path(ctx->config, "list_data_dir");
  g_autofree char *dir = g_build_filename(data_dir, ctx->list->list_id, NULL);
  if (!mm_mkdir_p(dir, 02770, error))
    return MM_HANDLER_FAILED;
  g_autofree char *path = g_build_filename(dir, "digest.mmdf", NULL);
  g_autofree char *lock_path = g_strconcat(path, ".lock", NULL);

  g_autoptr(MmLock) lock = mm_lock_acquire(lock_path, TRUE, NULL, error);
  if (lock == NULL)
    return MM_HANDLER_FAILED;

  g_autoptr(GBytes) bytes = mm_handlers_message_bytes(ctx->message);
  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);
  g_autofree char *date = asctime_now();
  g_autofree char *from_line =
      g_strdup_printf("From MAILER-DAEMON %s\n", date);
  gboolean newline_needed = len == 0 || data[len - 1] != '\n';

  g_autoptr(MmAtomicFile) out = mm_atomic_file_new(path, 0660, error);
  if (out == NULL || !copy_existing(path, out, error) ||
      !mm_atomic_file_write(out, MMDF_SEPARATOR, strlen(MMDF_SEPARATOR),
                            error) ||
      !mm_atomic_file_write(out, from_line, strlen(from_line), error) ||
      !mm_atomic_file_write(out, data, len, error) ||
      (newline_needed && !mm_atomic_file_write(out, "\n", 1, error)) ||
      !mm_atomic_file_write(out, "\n" MMDF_SEPARATOR,
                            strlen("\n" MMDF_SEPARATOR), error) ||
      !mm_atomic_file_commit(out, error))
    return MM_HANDLER_FAILED;
  return MM_HANDLER_CONTINUE;
}
