/* Memory-then-file byte sink.  See base-spool.h.
 *
 * Invariant: at most one of @memory (before the spill) and @fd (after) is
 * in use; @buffer holds file-bound bytes not yet written, never more than
 * SPILL_BUFFER.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "base-spool.h"
#include "base-error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Writes to the spill file go out in pieces this large, not one system
 * call per appended line. */
#define SPILL_BUFFER (64 * 1024)

struct MmSpool {
  char *dir;
  gsize memory_max;
  guint64 size;
  GByteArray *memory; /* before the spill */
  int fd;             /* after the spill, -1 before */
  GByteArray *buffer; /* after the spill: bytes not yet written */
  GError *failure;    /* sticky: the first write error */
};

MmSpool *
mm_spool_new(const char *dir, gsize memory_max)
{
  MmSpool *spool = g_new0(MmSpool, 1);
  spool->dir = g_strdup(dir);
  spool->memory_max = memory_max;
  spool->memory = g_byte_array_sized_new((guint)MIN(memory_max, 64 * 1024));
  spool->fd = -1;
  return spool;
}

static void
close_file(MmSpool *spool)
{
  if (spool->fd >= 0)
    close(spool->fd);
  spool->fd = -1;
  g_clear_pointer(&spool->buffer, g_byte_array_unref);
}

void
mm_spool_free(MmSpool *spool)
{
  if (spool == NULL)
    return;
  close_file(spool);
  g_clear_pointer(&spool->memory, g_byte_array_unref);
  g_clear_error(&spool->failure);
  g_free(spool->dir);
  g_free(spool);
}

/* An anonymous file in @dir: O_TMPFILE where the file system has it,
 * otherwise a fresh name removed at once. */
static int
open_anonymous(const char *dir, GError **error)
{
#ifdef O_TMPFILE
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    mm_error_from_errno(error, errno, dir);
    return -1;
  }
#endif
  g_autofree char *template = g_build_filename(dir, ".spool.XXXXXX", NULL);
  int fd2 = g_mkstemp_full(template, O_RDWR | O_CLOEXEC, 0600);
  if (fd2 < 0) {
    mm_error_from_errno(error, errno, template);
    return -1;
  }
  unlink(template);
  return fd2;
}

static gboolean
write_all(int fd, const guint8 *data, gsize len, GError **error)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return mm_error_from_errno(error, errno, "spool file");
    }
    data += n;
    len -= (gsize)n;
  }
  return TRUE;
}

static gboolean
flush_buffer(MmSpool *spool, GError **error)
{
  if (spool->buffer->len == 0)
    return TRUE;
  if (!write_all(spool->fd, spool->buffer->data, spool->buffer->len, error))
    return FALSE;
  g_byte_array_set_size(spool->buffer, 0);
  return TRUE;
}

static gboolean
spill(MmSpool *spool, GError **error)
{
  spool->fd = open_anonymous(spool->dir, error);
  if (spool->fd < 0)
    return FALSE;
  spool->buffer = g_byte_array_sized_new(SPILL_BUFFER);
  if (!write_all(spool->fd, spool->memory->data, spool->memory->len, error))
    return FALSE;
  /* The heap copy is what spilling is for: give it back now. */
  g_byte_array_unref(spool->memory);
  spool->memory = NULL;
  return TRUE;
}

static gboolean
fail(MmSpool *spool, GError *local, GError **error)
{
  spool->failure = g_error_copy(local);
  g_propagate_error(error, local);
  close_file(spool);
  g_clear_pointer(&spool->memory, g_byte_array_unref);
  return FALSE;
}

gboolean
mm_spool_append(MmSpool *spool, const void *data, gsize len, GError **error)
{
  GError *local = NULL;

  if (spool->failure != NULL) {
    g_propagate_error(error, g_error_copy(spool->failure));
    return FALSE;
  }
  if (len == 0)
    return TRUE;
  if (spool->fd < 0 && spool->memory->len + len > spool->memory_max &&
      !spill(spool, &local))
    return fail(spool, local, error);
  spool->size += len;
  if (spool->fd < 0) {
    g_byte_array_append(spool->memory, data, (guint)len);
    return TRUE;
  }
  if (spool->buffer->len + len > SPILL_BUFFER && !flush_buffer(spool, &local))
    return fail(spool, local, error);
  if (len >= SPILL_BUFFER) {
    if (!write_all(spool->fd, data, len, &local))
      return fail(spool, local, error);
  } else {
    g_byte_array_append(spool->buffer, data, (guint)len);
  }
  return TRUE;
}

guint64
mm_spool_size(const MmSpool *spool)
{
  return spool->size;
}

gboolean
mm_spool_spilled(const MmSpool *spool)
{
  return spool->fd >= 0;
}

void
mm_spool_clear(MmSpool *spool)
{
  close_file(spool);
  g_clear_error(&spool->failure);
  if (spool->memory != NULL)
    g_byte_array_set_size(spool->memory, 0);
  else
    spool->memory = g_byte_array_new();
  spool->size = 0;
}

GBytes *
mm_spool_finish(MmSpool *spool, GError **error)
{
  GError *local = NULL;

  if (spool->failure != NULL) {
    g_propagate_error(error, g_error_copy(spool->failure));
    return NULL;
  }
  if (spool->fd < 0) {
    GBytes *bytes = g_byte_array_free_to_bytes(spool->memory);
    spool->memory = g_byte_array_new();
    spool->size = 0;
    return bytes;
  }
  if (!flush_buffer(spool, &local)) {
    fail(spool, local, error);
    return NULL;
  }
  GMappedFile *mapped = g_mapped_file_new_from_fd(spool->fd, FALSE, &local);
  if (mapped == NULL) {
    g_set_error(error, MM_ERROR, MM_ERROR_IO, "spool file: %s",
                local->message);
    g_error_free(local);
    mm_spool_clear(spool);
    return NULL;
  }
  /* The mapping outlives the descriptor and holds the file's only
   * reference once it is closed. */
  GBytes *bytes = g_mapped_file_get_bytes(mapped);
  g_mapped_file_unref(mapped);
  mm_spool_clear(spool);
  return bytes;
}
