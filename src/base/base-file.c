/* Atomic, durable file writes.  See base-file.h for the five steps.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "base-file.h"
#include "base-error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct MmAtomicFile {
  char *final_path;
  char *tmp_path;
  int fd;
  guint64 size;
  gboolean committed;
};

MmAtomicFile *
mm_atomic_file_new(const char *final_path, int mode, GError **error)
{
  g_autofree char *dir = g_path_get_dirname(final_path);
  g_autofree char *base = g_path_get_basename(final_path);
  int fd = -1;
  char *tmp = NULL;

  /* The random part makes concurrent writers of the same final name safe;
   * O_EXCL makes a collision an error rather than a shared file. */
  for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
    g_free(tmp);
    tmp = g_strdup_printf("%s/.%s.%08x.tmp", dir, base, g_random_int());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) {
      int saved = errno;
      mm_error_from_errno(error, saved, tmp);
      g_free(tmp);
      return NULL;
    }
  }
  if (fd < 0) {
    g_set_error(error, MM_ERROR, MM_ERROR_IO,
                "%s: could not find a free temporary name", final_path);
    g_free(tmp);
    return NULL;
  }

  MmAtomicFile *file = g_new0(MmAtomicFile, 1);
  file->final_path = g_strdup(final_path);
  file->tmp_path = tmp;
  file->fd = fd;
  return file;
}

gboolean
mm_atomic_file_write(MmAtomicFile *file, const void *data, gsize len,
                     GError **error)
{
  const char *p = data;

  g_return_val_if_fail(file->fd >= 0, FALSE);
  while (len > 0) {
    ssize_t n = write(file->fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return mm_error_from_errno(error, errno, file->tmp_path);
    }
    p += n;
    len -= (gsize)n;
    file->size += (guint64)n;
  }
  return TRUE;
}

/* IOV_MAX is 1024 on Linux; callers pass a handful. */
#define WRITE_PARTS_MAX 16

gboolean
mm_atomic_file_write_parts(MmAtomicFile *file, const GBytes *const *parts,
                           guint n_parts, GError **error)
{
  struct iovec iov[WRITE_PARTS_MAX];
  int n_iov = 0;

  g_return_val_if_fail(file->fd >= 0, FALSE);
  g_return_val_if_fail(n_parts <= WRITE_PARTS_MAX, FALSE);
  for (guint i = 0; i < n_parts; i++) {
    gsize len = 0;
    const void *data = g_bytes_get_data((GBytes *)parts[i], &len);
    if (len == 0)
      continue;
    iov[n_iov].iov_base = (void *)data;
    iov[n_iov].iov_len = len;
    n_iov++;
  }
  int first = 0;
  while (first < n_iov) {
    ssize_t n = writev(file->fd, iov + first, n_iov - first);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return mm_error_from_errno(error, errno, file->tmp_path);
    }
    file->size += (guint64)n;
    /* A short write: skip what went out, resume inside a buffer. */
    while (first < n_iov && (gsize)n >= iov[first].iov_len) {
      n -= (ssize_t)iov[first].iov_len;
      first++;
    }
    if (first < n_iov) {
      iov[first].iov_base = (char *)iov[first].iov_base + n;
      iov[first].iov_len -= (gsize)n;
    }
  }
  return TRUE;
}

guint64
mm_atomic_file_size(const MmAtomicFile *file)
{
  return file->size;
}

gboolean
mm_atomic_file_commit(MmAtomicFile *file, GError **error)
{
  g_return_val_if_fail(file->fd >= 0 && !file->committed, FALSE);

  /* fsync before rename: otherwise a crash can leave the final name pointing
   * at an empty inode (ext4 with data=writeback, XFS).  close() is checked
   * because NFS reports write errors there. */
  if (fsync(file->fd) < 0) {
    int saved = errno;
    close(file->fd);
    file->fd = -1;
    unlink(file->tmp_path);
    return mm_error_from_errno(error, saved, file->tmp_path);
  }
  if (close(file->fd) < 0) {
    int saved = errno;
    file->fd = -1;
    unlink(file->tmp_path);
    return mm_error_from_errno(error, saved, file->tmp_path);
  }
  file->fd = -1;
  if (rename(file->tmp_path, file->final_path) < 0) {
    int saved = errno;
    unlink(file->tmp_path);
    return mm_error_from_errno(error, saved, file->final_path);
  }
  file->committed = TRUE;

  /* The rename is only durable once the directory is synced.  If that fails
   * the file exists but may not survive a power cut; report it so that the
   * caller does not acknowledge anything. */
  g_autofree char *dir = g_path_get_dirname(file->final_path);
  return mm_fsync_dir(dir, error);
}

void
mm_atomic_file_free(MmAtomicFile *file)
{
  if (file == NULL)
    return;
  if (file->fd >= 0)
    close(file->fd);
  if (!file->committed && file->tmp_path != NULL)
    unlink(file->tmp_path);
  g_free(file->final_path);
  g_free(file->tmp_path);
  g_free(file);
}

gboolean
mm_file_write_atomic(const char *path, const void *data, gsize len, int mode,
                     GError **error)
{
  g_autoptr(MmAtomicFile) file = mm_atomic_file_new(path, mode, error);

  return file != NULL && mm_atomic_file_write(file, data, len, error) &&
         mm_atomic_file_commit(file, error);
}

gboolean
mm_fsync_dir(const char *dir_path, GError **error)
{
  int fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return mm_error_from_errno(error, errno, dir_path);
  /* Some file systems refuse fsync on directories (EINVAL); the rename is as
   * durable there as it will ever be. */
  if (fsync(fd) < 0 && errno != EINVAL) {
    int saved = errno;
    close(fd);
    return mm_error_from_errno(error, saved, dir_path);
  }
  close(fd);
  return TRUE;
}

gboolean
mm_rename_durable(const char *from, const char *to, GError **error)
{
  if (rename(from, to) < 0)
    return mm_error_from_errno(error, errno, to);

  g_autofree char *to_dir = g_path_get_dirname(to);
  g_autofree char *from_dir = g_path_get_dirname(from);
  if (!mm_fsync_dir(to_dir, error))
    return FALSE;
  return g_str_equal(to_dir, from_dir) || mm_fsync_dir(from_dir, error);
}

GBytes *
mm_file_read_bounded(const char *path, gsize max_len, GError **error)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;

  if (fd < 0) {
    mm_error_from_errno(error, errno, path);
    return NULL;
  }
  if (fstat(fd, &st) < 0) {
    mm_error_from_errno(error, errno, path);
    close(fd);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID, "%s: not a regular file",
                path);
    close(fd);
    return NULL;
  }
  if ((guint64)st.st_size > max_len) {
    g_set_error(error, MM_ERROR, MM_ERROR_TOO_LARGE,
                "%s: %" G_GUINT64_FORMAT " bytes, more than the limit of %"
                G_GSIZE_FORMAT,
                path, (guint64)st.st_size, max_len);
    close(fd);
    return NULL;
  }

  /* Read to end of file but never past the bound, even if the file grew. */
  GByteArray *buf = g_byte_array_sized_new((guint)st.st_size + 1);
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      mm_error_from_errno(error, errno, path);
      close(fd);
      g_byte_array_unref(buf);
      return NULL;
    }
    if (n == 0)
      break;
    if (buf->len + (gsize)n > max_len) {
      g_set_error(error, MM_ERROR, MM_ERROR_TOO_LARGE,
                  "%s: grew past the limit of %" G_GSIZE_FORMAT " bytes",
                  path, max_len);
      close(fd);
      g_byte_array_unref(buf);
      return NULL;
    }
    g_byte_array_append(buf, (const guint8 *)chunk, (guint)n);
  }
  close(fd);
  return g_byte_array_free_to_bytes(buf);
}

gboolean
mm_mkdir_p(const char *path, int mode, GError **error)
{
  if (g_mkdir_with_parents(path, mode) < 0)
    return mm_error_from_errno(error, errno, path);
  return TRUE;
}
