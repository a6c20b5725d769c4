/* Lock files: one holder at a time, named in the file, gone when it dies.
 *
 * Mailman 3 uses flufl.lock (hard-linked claim files with an mtime expiry);
 * a crashed master leaves such a lock behind and the next start needs
 * --force.  We use flock(2) on the lock file instead: the kernel releases it
 * when the holder dies, so a lock is held exactly while its holder lives.
 * The file still records "hostname pid" so that `mailman status` and the
 * refusal message can name the holder, and a file left by a dead holder is
 * recognised as stale and reported.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

typedef struct MmLock MmLock;

/* Takes the lock at @path (creating the file).  With @wait, blocks until it
 * is free; otherwise fails at once with MM_ERROR_LOCKED and a message naming
 * the holder.  If @stale_out is not NULL it is set to TRUE when the file
 * named a holder that no longer runs (a crash left it).  Returns the lock
 * (transfer full) or NULL with @error set.  The descriptor is close-on-exec,
 * so children do not inherit the lock. */
MmLock *mm_lock_acquire(const char *path, gboolean wait, gboolean *stale_out,
                        GError **error);

/* Releases and frees; the file is emptied so that it names nobody. */
void mm_lock_release(MmLock *lock);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmLock, mm_lock_release)

/* Reads the holder recorded in @path.  Returns FALSE if the file does not
 * exist or names nobody.  @host_out is transfer full. */
gboolean mm_lock_read_holder(const char *path, char **host_out,
                             int *pid_out);

/* TRUE if the file at @path is locked by a live process right now. */
gboolean mm_lock_is_held(const char *path);

/* TRUE if process @pid exists on this host. */
gboolean mm_pid_alive(int pid);
