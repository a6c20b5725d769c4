/* Internals shared by the files of the queue module; no other module
 * includes this.  queue-file.c owns the on-disk format (docs/queue-format.md),
 * queue.c the directories and the life of an entry.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "queue.h"

/* The largest file a reader accepts: both caps plus the framing lines. */
#define MM_QUEUE_MAX_FILE_LEN                                                  \
  ((gsize)MM_QUEUE_MAX_MESSAGE_LEN + MM_QUEUE_MAX_META_LEN + 256)

/* Writes @message and @meta (serialised as given, keys sorted) to @path
 * through MmAtomicFile: temporary name, fsync, rename, directory fsync.
 * Errors are in MM_QUEUE_ERROR (NO_SPACE, INVALID for over-cap input, IO). */
gboolean mm_queue_file_write(const char *path, GBytes *message,
                             const json_t *meta, GError **error);
/* The same with the message in @n_message_parts pieces (at most
 * MM_QUEUE_MAX_PARTS), written in order. */
gboolean mm_queue_file_write_parts(const char *path,
                                   GBytes *const *message_parts,
                                   guint n_message_parts, const json_t *meta,
                                   GError **error);
/* The total length of @n_parts pieces. */
gsize mm_queue_parts_size(GBytes *const *parts, guint n_parts);

/* Parses and verifies the bytes of a whole queue file.  @what names it in
 * messages.  Returns TRUE with the message (a slice of @data, transfer full)
 * and the metadata object (a new reference); FALSE with CORRUPT otherwise. */
gboolean mm_queue_file_parse(GBytes *data, const char *what,
                             GBytes **message_out, json_t **meta_out,
                             GError **error);

/* Reads @path (bounded by MM_QUEUE_MAX_FILE_LEN) and parses it.  A missing
 * file is GONE, a file over the cap or unparsable CORRUPT, anything else
 * IO. */
gboolean mm_queue_file_load(const char *path, GBytes **message_out,
                            json_t **meta_out, GError **error);

/* Copies a base-layer error (MM_ERROR) into MM_QUEUE_ERROR, keeping its
 * message: NO_SPACE stays NO_SPACE, NOT_FOUND becomes @not_found_code,
 * TOO_LARGE becomes CORRUPT, the rest IO.  Consumes @src. */
void mm_queue_error_propagate(GError **dest, GError *src,
                              MmQueueError not_found_code);
