/* A byte sink that stays in memory up to a bound and spills to disk past
 * it: how the LMTP server holds a message while it arrives.
 *
 * Up to @memory_max bytes are kept on the heap.  The first append that
 * would go past it moves everything to an anonymous file (O_TMPFILE, or a
 * temporary name unlinked at once where the file system lacks it) in the
 * directory given, and later appends go there through a small buffer.
 * mm_spool_finish() hands the content out as one GBytes either way: the
 * heap buffer, or a read-only mapping of the file, whose pages belong to
 * the page cache, not to the process, so the kernel can write them out and
 * drop them under pressure.  The file has no name, so nothing is left
 * behind by a crash.
 *
 * Not a durable store: nothing here is fsynced.  The queue (src/queue/)
 * makes a message durable; the spool only keeps it while it is received.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

typedef struct MmSpool MmSpool;

/* A spool that spills into directory @dir (borrowed for the call only)
 * past @memory_max bytes. */
MmSpool *mm_spool_new(const char *dir, gsize memory_max);
void mm_spool_free(MmSpool *spool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmSpool, mm_spool_free)

/* Appends @len bytes.  FALSE with @error (MM_ERROR; NO_SPACE for a full
 * disk) when the spill file cannot be created or written; the spool then
 * refuses every later append with the same error, and must be freed. */
gboolean mm_spool_append(MmSpool *spool, const void *data, gsize len,
                         GError **error);

/* Bytes appended so far. */
guint64 mm_spool_size(const MmSpool *spool);

/* TRUE once the content lives in a file. */
gboolean mm_spool_spilled(const MmSpool *spool);

/* Drops the content (and any file), keeping the spool usable. */
void mm_spool_clear(MmSpool *spool);

/* The content (transfer full), or NULL with @error if the file could not
 * be written or mapped.  The spool is empty afterwards. */
GBytes *mm_spool_finish(MmSpool *spool, GError **error);
