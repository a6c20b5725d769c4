/* Files that survive kill -9: the one way this project writes a file.
 *
 * Every file the server writes (queue entries, MTA maps, the pid file, the
 * database's neighbours) goes through MmAtomicFile:
 *   1. a temporary name in the destination directory, O_CREAT|O_EXCL|O_CLOEXEC;
 *   2. every byte written, looping on short writes and EINTR;
 *   3. fsync() and close(), both checked;
 *   4. rename() onto the final name;
 *   5. fsync() of the directory.
 * A file under its final name is therefore always complete.  On any failure
 * the temporary file is unlinked and a GError (MM_ERROR) says what failed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

typedef struct MmAtomicFile MmAtomicFile;

/* Opens a temporary file beside @final_path (same directory, name starting
 * with "." and ending in ".tmp") with permissions @mode (umask applies).
 * Returns a new writer (transfer full) or NULL with @error set. */
MmAtomicFile *mm_atomic_file_new(const char *final_path, int mode,
                                 GError **error);

/* Appends @len bytes.  Returns FALSE with @error set on failure; the writer
 * stays valid and must still be freed (which discards it). */
gboolean mm_atomic_file_write(MmAtomicFile *file, const void *data, gsize len,
                              GError **error);

/* Appends the @n_parts buffers of @parts in order with as few system
 * calls as the kernel allows (writev), so that a file assembled from a few
 * pieces costs one write, not one per piece.  Same errors as
 * mm_atomic_file_write(). */
gboolean mm_atomic_file_write_parts(MmAtomicFile *file, const GBytes *const *parts,
                                    guint n_parts, GError **error);

/* Bytes written so far. */
guint64 mm_atomic_file_size(const MmAtomicFile *file);

/* Steps 3-5: fsync, close, rename onto the final path, fsync the directory.
 * After success the final file exists and is durable; the writer must still
 * be freed.  On failure the temporary file is removed. */
gboolean mm_atomic_file_commit(MmAtomicFile *file, GError **error);

/* Frees the writer; if it was not committed, the temporary file is unlinked
 * and nothing under the final name changes. */
void mm_atomic_file_free(MmAtomicFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmAtomicFile, mm_atomic_file_free)

/* The whole cycle for data already in memory. */
gboolean mm_file_write_atomic(const char *path, const void *data, gsize len,
                              int mode, GError **error);

/* fsync() the directory @dir_path so that a rename or unlink in it is
 * durable. */
gboolean mm_fsync_dir(const char *dir_path, GError **error);

/* rename() then fsync the directory of @to (and of @from when it differs). */
gboolean mm_rename_durable(const char *from, const char *to, GError **error);

/* Reads a whole regular file of at most @max_len bytes.  A larger file is
 * refused with MM_ERROR_TOO_LARGE before anything is read.  Returns the bytes
 * (transfer full) or NULL with @error set. */
GBytes *mm_file_read_bounded(const char *path, gsize max_len, GError **error);

/* mkdir -p with @mode for every component created. */
gboolean mm_mkdir_p(const char *path, int mode, GError **error);
