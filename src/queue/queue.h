/* Durable queues: Mailman's switchboard, one directory per queue.
 *
 * An entry is one file holding the raw message bytes and its metadata (a
 * JSON object: listid, recipients, flags; Mailman's metadata keys).  Only
 * this module knows the names inside queue directories and the file
 * format, which docs/queue-format.md documents and `mailman qfile` prints.
 *
 * Life of an entry (Mailman 3 semantics, see mailman/core/switchboard.py):
 *   enqueue  write a temporary file, fsync, rename to ID.pck, fsync the
 *            directory; only then does the caller acknowledge anything;
 *   claim    rename ID.pck to ID.bak and read it back, verifying the
 *            trailer; the runner owns it now;
 *   finish   unlink ID.bak after whatever came next was enqueued durably.
 * A crash between claim and finish leaves ID.bak.  mm_queue_recover(), run
 * when a runner starts, turns each .bak of its slice back into .pck with
 * metadata "_bak_count" incremented; at the limit (3) the entry goes to the
 * shunt queue instead of looping forever.  Delivery is therefore at least
 * once; a crash after the next enqueue and before finish duplicates an
 * entry, never loses one.
 *
 * IDs are "<enqueue time, microseconds>+<40-hex SHA-1>", so listing sorted
 * by name is FIFO; the SHA-1 (of message, list id and time, as Mailman)
 * spreads entries over slices: slice i of n (n a power of two) owns the
 * hashes whose top log2(n) bits equal i.  The time is written as ten digits
 * of seconds (zero-padded), a dot and six digits of microseconds, e.g.
 * "1700000000.123456+3fa4...c9", so plain string order is time order.  IDs
 * made by one process strictly increase; the queue directory never holds two
 * entries with one ID.
 *
 * Other directories under the queue root that this module writes: "shunt"
 * (entries a runner gave up on, metadata "whichq" names their origin) and
 * "bad" (files that cannot be read, kept as ID.psv for a human).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <jansson.h>

#define MM_QUEUE_ERROR (mm_queue_error_quark())
GQuark mm_queue_error_quark(void);

typedef enum {
  MM_QUEUE_ERROR_IO,       /* a system call failed; see the message */
  MM_QUEUE_ERROR_NO_SPACE, /* disk full: the caller answers 452 */
  MM_QUEUE_ERROR_CORRUPT,  /* bad magic, lengths, JSON or trailer */
  MM_QUEUE_ERROR_GONE,     /* another process claimed the entry first */
  MM_QUEUE_ERROR_INVALID,  /* bad queue name or slice arguments */
} MmQueueError;

/* How many times a crashed-on entry is retried before it is shunted. */
#define MM_QUEUE_MAX_BAK_COUNT 3

/* Caps checked on enqueue (INVALID) and on read (CORRUPT), before anything
 * is allocated.  The message cap is twice the LMTP data limit (32 MiB) so
 * that a runner may grow a message (decorations, digests). */
#define MM_QUEUE_MAX_MESSAGE_LEN (64u * 1024u * 1024u)
#define MM_QUEUE_MAX_META_LEN (16u * 1024u * 1024u)

/* Length of an ID: 10 + 1 + 6 digits and dot, "+", 40 hex digits. */
#define MM_QUEUE_ID_LEN 58

typedef struct MmQueue MmQueue;
typedef struct MmQueueEntry MmQueueEntry;

/* Opens queue @name under @queue_root (var/queue), creating its directory,
 * as slice @slice of @count (count a power of two, slice < count; 0 of 1
 * for the whole queue).  Returns the queue (transfer full) or NULL. */
MmQueue *mm_queue_open(const char *queue_root, const char *name, guint slice,
                       guint count, GError **error);
void mm_queue_free(MmQueue *queue);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmQueue, mm_queue_free)

const char *mm_queue_name(const MmQueue *queue);
/* The queue's directory, absolute.  Borrowed. */
const char *mm_queue_dir(const MmQueue *queue);

/* Durably enqueues @message with @meta (a JSON object or NULL for {}; not
 * consumed; keys starting with "_" are dropped, and
 * "version" is set to 3, as Mailman does).  Returns the new entry's ID
 * (transfer full) or NULL with @error: NO_SPACE when the disk is full,
 * INVALID for a message or metadata over the caps or a non-object @meta, IO
 * otherwise.  On failure nothing is left under a .pck name and no temporary
 * file remains. */
char *mm_queue_enqueue(MmQueue *queue, GBytes *message, json_t *meta,
                       GError **error);

/* The same, into queue @name under @queue_root without opening it first
 * (the directory is created when missing; INVALID for a bad @name). */
char *mm_queue_enqueue_to(const char *queue_root, const char *name,
                          GBytes *message, json_t *meta, GError **error);

/* Pieces a message may be given in to mm_queue_enqueue_parts_to(). */
#define MM_QUEUE_MAX_PARTS 8

/* The same with the message given as @n_parts pieces (at most
 * MM_QUEUE_MAX_PARTS) that are written one after the other, never joined in
 * memory: LMTP passes the rewritten header block and the body as received,
 * which may be a mapping of its spool file.  The entry is exactly as if
 * their concatenation had been enqueued. */
char *mm_queue_enqueue_parts_to(const char *queue_root, const char *name,
                                GBytes *const *parts, guint n_parts,
                                json_t *meta, GError **error);

/* Fails with NO_SPACE when the file system holding the queue has less than
 * @reserve_bytes + @need_bytes available to us (statvfs f_bavail), so that
 * LMTP can answer 452 before reading DATA.  IO if statvfs fails. */
gboolean mm_queue_space_check(const MmQueue *queue, guint64 reserve_bytes,
                              guint64 need_bytes, GError **error);

/* TRUE if @id has the shape of an ID (see above); claim and friends refuse
 * anything else with INVALID, so an ID from a peer cannot name a path. */
gboolean mm_queue_id_valid(const char *id);

/* IDs of the .pck entries of this queue's slice, oldest first (transfer
 * full, strings freed with the array).  Names that are not ours (temporary
 * files, Mailman 3 pickles left from before a switch-over) are skipped. */
GPtrArray *mm_queue_list(MmQueue *queue, GError **error);

/* Number of .pck files in the whole queue (all slices); -1 on error. */
gint64 mm_queue_count(const MmQueue *queue);

/* Claims entry @id: renames it to .bak and reads it.  GONE if another
 * process took it first (or it does not exist).  A file that cannot be
 * parsed is moved to the "bad" queue as ID.psv and CORRUPT is returned.  On
 * an IO error while reading, the .bak stays for mm_queue_recover().  Returns
 * the entry (transfer full). */
MmQueueEntry *mm_queue_claim(MmQueue *queue, const char *id, GError **error);

const char *mm_queue_entry_id(const MmQueueEntry *entry);
/* Borrowed; the message bytes exactly as enqueued. */
GBytes *mm_queue_entry_message(const MmQueueEntry *entry);
/* Borrowed and mutable: a runner may edit it before passing it on. */
json_t *mm_queue_entry_meta(const MmQueueEntry *entry);

/* Done with a claimed entry: unlinks its .bak and syncs the directory.
 * Call it only after whatever came next was enqueued durably.  GONE if the
 * .bak no longer exists. */
gboolean mm_queue_entry_finish(MmQueue *queue, MmQueueEntry *entry,
                               GError **error);

/* Moves a claimed entry to the shunt queue with metadata "whichq" set to
 * this queue's name (and "error" to @reason when not NULL), then finishes
 * it.  The entry's current metadata (as the runner edited it) is shunted.
 * Returns TRUE when the entry is in shunt.  If the shunt enqueue fails the
 * .bak is moved to "bad" as .psv and FALSE is returned with the enqueue's
 * @error; the caller is done with the entry either way. */
gboolean mm_queue_entry_shunt(MmQueue *queue, MmQueueEntry *entry,
                              const char *reason, GError **error);

void mm_queue_entry_free(MmQueueEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmQueueEntry, mm_queue_entry_free)

/* Start-up recovery of this slice's .bak files (see above).  Counts what
 * went back to .pck (@requeued_out) and what was shunted or preserved as
 * bad (@shunted_out; either may be NULL).  In the shunt queue itself an
 * entry at the limit goes to "bad" as .psv.  Temporary files older than a
 * day (left by a writer killed mid-write) are removed from the directory.
 * Per-entry trouble does not stop the pass; FALSE only if the directory
 * cannot be listed. */
gboolean mm_queue_recover(MmQueue *queue, guint *requeued_out,
                          guint *shunted_out, GError **error);

/* Reads a queue file at any path (.pck, .bak, .psv) without claiming it,
 * for `mailman qfile`.  Returns TRUE with both outputs (transfer full). */
gboolean mm_queue_file_read(const char *path, GBytes **message_out,
                            json_t **meta_out, GError **error);

/* `mailman unshunt`: recovers .bak files in shunt, then moves each entry
 * back to the queue its "whichq" names (default "in"), or deletes it with
 * @discard.  A moved entry gets a new ID in its queue and loses
 * "_bak_count", so it has its full number of retries again.  Per-entry
 * failures ("ID: reason") are appended to @failures (strings freed by the
 * array's free function; may be NULL) and the entry stays in shunt, except
 * that an unreadable one goes to "bad".  Counts the entries moved or
 * discarded. */
gboolean mm_queue_unshunt(const char *queue_root, gboolean discard,
                          guint *handled_out, GPtrArray *failures,
                          GError **error);

/* TRUE if @name is a safe queue name ([a-z0-9_-]{1,64}). */
gboolean mm_queue_name_valid(const char *name);
