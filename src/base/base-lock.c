/* flock(2)-based lock files.  See base-lock.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "base-lock.h"
#include "base-error.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct MmLock {
  char *path;
  int fd;
};

gboolean
mm_pid_alive(int pid)
{
  if (pid <= 0)
    return FALSE;
  return kill(pid, 0) == 0 || errno == EPERM;
}

static gboolean
parse_holder(const char *text, char **host_out, int *pid_out)
{
  char host[256];
  int pid = 0;

  if (sscanf(text, "%255s %d", host, &pid) != 2 || pid <= 0)
    return FALSE;
  if (host_out)
    *host_out = g_strdup(host);
  if (pid_out)
    *pid_out = pid;
  return TRUE;
}

gboolean
mm_lock_read_holder(const char *path, char **host_out, int *pid_out)
{
  g_autofree char *text = NULL;
  gsize len = 0;

  if (!g_file_get_contents(path, &text, &len, NULL) || len > 512)
    return FALSE;
  return parse_holder(text, host_out, pid_out);
}

gboolean
mm_lock_is_held(const char *path)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  gboolean held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
  close(fd);
  return held;
}

MmLock *
mm_lock_acquire(const char *path, gboolean wait, gboolean *stale_out,
                GError **error)
{
  if (stale_out)
    *stale_out = FALSE;

  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
  if (fd < 0) {
    mm_error_from_errno(error, errno, path);
    return NULL;
  }
  while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
    int saved = errno;
    if (saved == EINTR)
      continue;
    close(fd);
    if (saved == EWOULDBLOCK) {
      g_autofree char *host = NULL;
      int pid = 0;
      if (mm_lock_read_holder(path, &host, &pid))
        g_set_error(error, MM_ERROR, MM_ERROR_LOCKED,
                    "%s is held by process %d on %s", path, pid, host);
      else
        g_set_error(error, MM_ERROR, MM_ERROR_LOCKED, "%s is held", path);
      return NULL;
    }
    mm_error_from_errno(error, saved, path);
    return NULL;
  }

  /* We hold it.  Whoever the file still names is dead (or it is us after a
   * fork, which never happens: the descriptor is close-on-exec). */
  char old[512];
  ssize_t n = pread(fd, old, sizeof old - 1, 0);
  if (n > 0) {
    old[n] = '\0';
    if (stale_out && parse_holder(old, NULL, NULL))
      *stale_out = TRUE;
  }

  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  g_autofree char *me = g_strdup_printf("%s %d\n", host, (int)getpid());
  if (ftruncate(fd, 0) < 0 || pwrite(fd, me, strlen(me), 0) < 0 ||
      fsync(fd) < 0) {
    int saved = errno;
    close(fd);
    mm_error_from_errno(error, saved, path);
    return NULL;
  }

  MmLock *lock = g_new0(MmLock, 1);
  lock->path = g_strdup(path);
  lock->fd = fd;
  return lock;
}

void
mm_lock_release(MmLock *lock)
{
  if (lock == NULL)
    return;
  /* Truncate, never unlink: a waiter blocked on the old inode would get
   * the lock on a file no longer in the directory while a newcomer created
   * and locked a fresh one.  An empty file names no holder. */
  if (ftruncate(lock->fd, 0) < 0) {
    /* The lock is released by close() regardless; the stale holder line is
     * reported as such by the next mm_lock_acquire(). */
  }
  close(lock->fd);
  g_free(lock->path);
  g_free(lock);
}
