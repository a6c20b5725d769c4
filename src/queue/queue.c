/* Switchboard: queue directories, entry names, and the life of an entry
 * (enqueue, list, claim, finish, shunt, recover, unshunt).
 *
 * Names inside a queue directory, and what they mean:
 *   ID.pck                 a complete entry waiting for a runner;
 *   ID.bak                 an entry a runner claimed (or left by a crash);
 *   .ID.pck.XXXXXXXX.tmp   a writer's temporary file (MmAtomicFile);
 * and under the queue root, bad/ID.psv for files kept for a human.
 * Invariant: a name ending in .pck or .bak always holds a complete, verified
 * file, because the only ways to create one are MmAtomicFile's rename and a
 * rename between those two names.
 *
 * Delivery is at least once.  Duplicates can appear: (1) a runner crashes
 * after enqueueing the next step and before finish: recovery replays the
 * .bak; (2) a crash between a shunt enqueue and the unlink of the .bak;
 * (3) a crash between unshunt's enqueue into the target queue and the
 * unlink in shunt.  Nothing is ever lost: each step that removes a name
 * happens after the step that made its successor durable.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "queue.h"
#include "queue-private.h"

#include "base-error.h"
#include "base-file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

G_DEFINE_QUARK(mm-queue-error-quark, mm_queue_error)

/* Mailman 3's QFILE_SCHEMA_VERSION. */
#define QUEUE_META_VERSION 3
/* Mailman creates its queue directories 0770. */
#define QUEUE_DIR_MODE 0770
#define SHUNT_QUEUE "shunt"
#define BAD_QUEUE "bad"
#define DEFAULT_WHICHQ "in"
#define NO_LIST_ID "--nolist--"
/* Lengths of the parts of an ID: "SSSSSSSSSS.UUUUUU+<40 hex>". */
#define ID_SECONDS_LEN 10
#define ID_TIME_LEN 17
#define ID_HASH_LEN 40
/* A temporary file this old was left by a writer that died; nobody is still
 * writing it (an enqueue takes milliseconds). */
#define STALE_TMP_AGE_SEC (24 * 60 * 60)
/* Attempts at a free ID before giving up; each bumps the time by 1 µs, so
 * only a directory full of one message's copies could exhaust them. */
#define ID_ATTEMPTS 1000

struct MmQueue {
  char *root; /* absolute queue root (var/queue) */
  char *name;
  char *dir; /* root/name */
  guint slice;
  guint count;
  guint slice_bits; /* log2(count) */
};

struct MmQueueEntry {
  char *id;
  char *bak_path;
  GBytes *message;
  json_t *meta;
  gboolean done; /* finished, shunted or moved to bad */
};

gboolean
mm_queue_name_valid(const char *name)
{
  gsize len;

  if (name == NULL)
    return FALSE;
  len = strlen(name);
  if (len == 0 || len > 64)
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    char ch = name[i];
    if (!(g_ascii_islower(ch) || g_ascii_isdigit(ch) || ch == '_' ||
          ch == '-'))
      return FALSE;
  }
  return TRUE;
}

gboolean
mm_queue_id_valid(const char *id)
{
  if (id == NULL || strlen(id) != MM_QUEUE_ID_LEN)
    return FALSE;
  for (int i = 0; i < MM_QUEUE_ID_LEN; i++) {
    char ch = id[i];
    gboolean ok;
    if (i == ID_SECONDS_LEN)
      ok = ch == '.';
    else if (i == ID_TIME_LEN)
      ok = ch == '+';
    else if (i < ID_TIME_LEN)
      ok = g_ascii_isdigit(ch);
    else
      ok = g_ascii_isdigit(ch) || (ch >= 'a' && ch <= 'f');
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/* If @filename is "ID<ext>" with a valid ID, returns a copy of the ID. */
static char *
id_from_filename(const char *filename, const char *ext)
{
  gsize ext_len = strlen(ext);

  if (strlen(filename) != MM_QUEUE_ID_LEN + ext_len ||
      strcmp(filename + MM_QUEUE_ID_LEN, ext) != 0)
    return NULL;
  char *id = g_strndup(filename, MM_QUEUE_ID_LEN);
  if (!mm_queue_id_valid(id)) {
    g_free(id);
    return NULL;
  }
  return id;
}

/* Slice i of n owns the hashes whose top log2(n) bits equal i; the top 32
 * bits are the first 8 hex digits, and n is at most 2^31. */
static gboolean
id_in_slice(const MmQueue *queue, const char *id)
{
  if (queue->slice_bits == 0)
    return TRUE;
  char top_hex[9];
  memcpy(top_hex, id + ID_TIME_LEN + 1, 8);
  top_hex[8] = '\0';
  guint32 top = (guint32)g_ascii_strtoull(top_hex, NULL, 16);
  return (top >> (32 - queue->slice_bits)) == queue->slice;
}

static char *
entry_path(const char *dir, const char *id, const char *ext)
{
  return g_strconcat(dir, G_DIR_SEPARATOR_S, id, ext, NULL);
}

MmQueue *
mm_queue_open(const char *queue_root, const char *name, guint slice,
              guint count, GError **error)
{
  GError *local = NULL;

  g_return_val_if_fail(queue_root != NULL, NULL);
  if (!mm_queue_name_valid(name)) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID,
                "invalid queue name \"%s\"", name != NULL ? name : "(null)");
    return NULL;
  }
  if (count == 0 || (count & (count - 1)) != 0 || slice >= count) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID,
                "queue %s: slice %u of %u: the count must be a power of two "
                "and the slice below it",
                name, slice, count);
    return NULL;
  }

  MmQueue *queue = g_new0(MmQueue, 1);
  queue->root = g_canonicalize_filename(queue_root, NULL);
  queue->name = g_strdup(name);
  queue->dir = g_build_filename(queue->root, name, NULL);
  queue->slice = slice;
  queue->count = count;
  while ((1u << queue->slice_bits) < count)
    queue->slice_bits++;
  if (!mm_mkdir_p(queue->dir, QUEUE_DIR_MODE, &local)) {
    mm_queue_error_propagate(error, local, MM_QUEUE_ERROR_IO);
    mm_queue_free(queue);
    return NULL;
  }
  return queue;
}

void
mm_queue_free(MmQueue *queue)
{
  if (queue == NULL)
    return;
  g_free(queue->root);
  g_free(queue->name);
  g_free(queue->dir);
  g_free(queue);
}

const char *
mm_queue_name(const MmQueue *queue)
{
  return queue->name;
}

const char *
mm_queue_dir(const MmQueue *queue)
{
  return queue->dir;
}

gboolean
mm_queue_space_check(const MmQueue *queue, guint64 reserve_bytes,
                     guint64 need_bytes, GError **error)
{
  struct statvfs st;

  if (statvfs(queue->dir, &st) < 0) {
    int saved = errno;
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_IO, "%s: statvfs: %s",
                queue->dir, g_strerror(saved));
    return FALSE;
  }
  guint64 avail = (guint64)st.f_bavail * (guint64)st.f_frsize;
  if (avail < reserve_bytes || avail - reserve_bytes < need_bytes) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_NO_SPACE,
                "%s: %" G_GUINT64_FORMAT " bytes free, below the reserve of %"
                G_GUINT64_FORMAT " plus %" G_GUINT64_FORMAT " needed",
                queue->dir, avail, reserve_bytes, need_bytes);
    return FALSE;
  }
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Enqueue */

/* The enqueue clock: real time in microseconds, but strictly increasing
 * within this process.  Two enqueues in one microsecond (or after the clock
 * stepped back) would otherwise get IDs whose order is decided by the hash,
 * not by arrival, breaking FIFO for entries of one producer.  This is the
 * module's only static state: a clock, not data, so it does not make the
 * module harder to reason about. */
G_LOCK_DEFINE_STATIC(enqueue_clock);
static gint64 enqueue_clock_last_usec;

static gint64
enqueue_clock_next(void)
{
  gint64 now = g_get_real_time();

  G_LOCK(enqueue_clock);
  if (now <= enqueue_clock_last_usec)
    now = enqueue_clock_last_usec + 1;
  enqueue_clock_last_usec = now;
  G_UNLOCK(enqueue_clock);
  return now;
}

static gboolean
path_exists(const char *path)
{
  struct stat st;

  return lstat(path, &st) == 0 || errno != ENOENT;
}

/* The metadata as stored: a copy without volatile "_" keys, with "version"
 * set.  Mailman's switchboard drops them too, "_bak_count" included, so an
 * entry's crash count starts again in every queue it enters; recovery
 * writes its count with mm_queue_file_write(), not through here. */
static json_t *
meta_for_enqueue(json_t *meta)
{
  json_t *copy = meta != NULL ? json_deep_copy(meta) : json_object();
  const char *key;
  json_t *value;
  void *tmp;

  json_object_foreach_safe(copy, tmp, key, value) {
    (void)value;
    if (key[0] == '_')
      json_object_del(copy, key);
  }
  json_object_set_new(copy, "version", json_integer(QUEUE_META_VERSION));
  return copy;
}

/* Picks a free ID in @dir for @message.  The hash input is what Mailman's
 * switchboard hashes: message bytes, list id (or "--nolist--") and the time
 * string.  rename() cannot refuse an existing name, so a name already taken
 * (as .pck or .bak) bumps the time by a microsecond, as Mailman nudges equal
 * times.  XXX: two processes enqueueing the same bytes for the same list in
 * the same microsecond could still race between this check and the rename;
 * the later would replace the earlier.  That needs one message injected
 * twice at once into one queue by two processes; we accept it. */
static char *
choose_id(const char *dir, GBytes *const *parts, guint n_parts,
          const char *list_id, GError **error)
{
  for (int attempt = 0; attempt < ID_ATTEMPTS; attempt++) {
    gint64 usec = enqueue_clock_next();
    char time_str[32];
    g_snprintf(time_str, sizeof time_str, "%0*" G_GINT64_FORMAT ".%06d",
               ID_SECONDS_LEN, usec / G_USEC_PER_SEC,
               (int)(usec % G_USEC_PER_SEC));
    /* Ten digits of seconds last until 2286; after that the width grows and
     * mm_queue_id_valid() refuses the name, loudly. */
    g_assert(strlen(time_str) == ID_TIME_LEN);

    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA1);
    for (guint i = 0; i < n_parts; i++) {
      gsize len = 0;
      const guchar *data = g_bytes_get_data(parts[i], &len);
      if (len > 0)
        g_checksum_update(sum, data, (gssize)len);
    }
    g_checksum_update(sum, (const guchar *)list_id, (gssize)strlen(list_id));
    g_checksum_update(sum, (const guchar *)time_str, (gssize)strlen(time_str));
    char *id = g_strconcat(time_str, "+", g_checksum_get_string(sum), NULL);

    g_autofree char *pck = entry_path(dir, id, ".pck");
    g_autofree char *bak = entry_path(dir, id, ".bak");
    if (!path_exists(pck) && !path_exists(bak))
      return id;
    g_free(id);
  }
  g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_IO,
              "%s: no free entry name after %d attempts", dir, ID_ATTEMPTS);
  return NULL;
}

static char *
enqueue_in_dir(const char *dir, GBytes *const *parts, guint n_parts,
               json_t *meta, GError **error)
{
  g_return_val_if_fail(n_parts >= 1 && n_parts <= MM_QUEUE_MAX_PARTS, NULL);
  for (guint i = 0; i < n_parts; i++)
    g_return_val_if_fail(parts[i] != NULL, NULL);
  if (meta != NULL && !json_is_object(meta)) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID,
                "%s: metadata is not a JSON object", dir);
    return NULL;
  }
  gsize message_len = mm_queue_parts_size(parts, n_parts);
  if (message_len > MM_QUEUE_MAX_MESSAGE_LEN) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID,
                "%s: message of %" G_GSIZE_FORMAT
                " bytes is over the queue cap of %u",
                dir, message_len, MM_QUEUE_MAX_MESSAGE_LEN);
    return NULL;
  }

  json_t *stored = meta_for_enqueue(meta);
  const char *list_id = json_string_value(json_object_get(stored, "listid"));
  if (list_id == NULL)
    list_id = NO_LIST_ID;

  g_autofree char *id = choose_id(dir, parts, n_parts, list_id, error);
  if (id == NULL) {
    json_decref(stored);
    return NULL;
  }
  g_autofree char *path = entry_path(dir, id, ".pck");
  gboolean ok = mm_queue_file_write_parts(path, parts, n_parts, stored, error);
  json_decref(stored);
  if (!ok && path_exists(path)) {
    /* The rename happened but the directory fsync failed: the caller will
     * not acknowledge, so the sender retries; a file left here would be a
     * duplicate.  The name was free before, so the file is ours. */
    unlink(path);
  }
  return ok ? g_steal_pointer(&id) : NULL;
}

char *
mm_queue_enqueue(MmQueue *queue, GBytes *message, json_t *meta,
                 GError **error)
{
  return enqueue_in_dir(queue->dir, &message, 1, meta, error);
}

char *
mm_queue_enqueue_to(const char *queue_root, const char *name,
                    GBytes *message, json_t *meta, GError **error)
{
  return mm_queue_enqueue_parts_to(queue_root, name, &message, 1, meta, error);
}

char *
mm_queue_enqueue_parts_to(const char *queue_root, const char *name,
                          GBytes *const *parts, guint n_parts, json_t *meta,
                          GError **error)
{
  GError *local = NULL;

  if (!mm_queue_name_valid(name)) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID,
                "invalid queue name \"%s\"", name != NULL ? name : "(null)");
    return NULL;
  }
  g_autofree char *dir = g_build_filename(queue_root, name, NULL);
  if (!mm_mkdir_p(dir, QUEUE_DIR_MODE, &local)) {
    mm_queue_error_propagate(error, local, MM_QUEUE_ERROR_IO);
    return NULL;
  }
  return enqueue_in_dir(dir, parts, n_parts, meta, error);
}

/* ------------------------------------------------------------------ */
/* Listing */

static gint
compare_ids(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* IDs of files "ID<ext>" in this slice, sorted (oldest first).  The fixed
 * width of the time part makes string order time order. */
static GPtrArray *
list_ext(const MmQueue *queue, const char *ext, gboolean all_slices,
         GError **error)
{
  GError *local = NULL;
  GDir *dir = g_dir_open(queue->dir, 0, &local);

  if (dir == NULL) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_IO, "%s",
                local->message);
    g_error_free(local);
    return NULL;
  }
  GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
  const char *filename;
  while ((filename = g_dir_read_name(dir)) != NULL) {
    char *id = id_from_filename(filename, ext);
    if (id == NULL)
      continue;
    if (!all_slices && !id_in_slice(queue, id)) {
      g_free(id);
      continue;
    }
    g_ptr_array_add(ids, id);
  }
  g_dir_close(dir);
  g_ptr_array_sort(ids, compare_ids);
  return ids;
}

GPtrArray *
mm_queue_list(MmQueue *queue, GError **error)
{
  return list_ext(queue, ".pck", FALSE, error);
}

gint64
mm_queue_count(const MmQueue *queue)
{
  g_autoptr(GPtrArray) ids = list_ext(queue, ".pck", TRUE, NULL);

  return ids != NULL ? (gint64)ids->len : -1;
}

/* ------------------------------------------------------------------ */
/* Claiming and finishing */

/* Moves @path to root/bad/ID.psv for a human to look at. */
static gboolean
preserve_as_bad(const char *root, const char *id, const char *path,
                GError **error)
{
  GError *local = NULL;
  g_autofree char *bad_dir = g_build_filename(root, BAD_QUEUE, NULL);
  g_autofree char *psv = entry_path(bad_dir, id, ".psv");

  if (!mm_mkdir_p(bad_dir, QUEUE_DIR_MODE, &local) ||
      !mm_rename_durable(path, psv, &local)) {
    mm_queue_error_propagate(error, local, MM_QUEUE_ERROR_IO);
    return FALSE;
  }
  return TRUE;
}

MmQueueEntry *
mm_queue_claim(MmQueue *queue, const char *id, GError **error)
{
  GError *local = NULL;
  GBytes *message = NULL;
  json_t *meta = NULL;

  if (!mm_queue_id_valid(id)) {
    g_set_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID,
                "%s: invalid entry ID", queue->dir);
    return NULL;
  }
  g_autofree char *pck = entry_path(queue->dir, id, ".pck");
  g_autofree char *bak = entry_path(queue->dir, id, ".bak");

  /* The rename is the claim: of two runners racing for one file exactly one
   * succeeds.  No directory fsync: if a power cut undoes the rename, the
   * entry is simply processed again (at least once). */
  if (rename(pck, bak) < 0) {
    int saved = errno;
    g_set_error(error, MM_QUEUE_ERROR,
                saved == ENOENT ? MM_QUEUE_ERROR_GONE : MM_QUEUE_ERROR_IO,
                "%s: %s", pck, g_strerror(saved));
    return NULL;
  }
  if (!mm_queue_file_load(bak, &message, &meta, &local)) {
    if (g_error_matches(local, MM_QUEUE_ERROR, MM_QUEUE_ERROR_CORRUPT)) {
      GError *move_error = NULL;
      if (!preserve_as_bad(queue->root, id, bak, &move_error)) {
        /* Leave the .bak: recovery will try to preserve it again. */
        g_prefix_error(&local, "(and could not move it to bad: %s) ",
                       move_error->message);
        g_error_free(move_error);
      }
    }
    g_propagate_error(error, local);
    return NULL;
  }

  MmQueueEntry *entry = g_new0(MmQueueEntry, 1);
  entry->id = g_strdup(id);
  entry->bak_path = g_steal_pointer(&bak);
  entry->message = message;
  entry->meta = meta;
  return entry;
}

const char *
mm_queue_entry_id(const MmQueueEntry *entry)
{
  return entry->id;
}

GBytes *
mm_queue_entry_message(const MmQueueEntry *entry)
{
  return entry->message;
}

json_t *
mm_queue_entry_meta(const MmQueueEntry *entry)
{
  return entry->meta;
}

void
mm_queue_entry_free(MmQueueEntry *entry)
{
  if (entry == NULL)
    return;
  g_free(entry->id);
  g_free(entry->bak_path);
  g_clear_pointer(&entry->message, g_bytes_unref);
  g_clear_pointer(&entry->meta, json_decref);
  g_free(entry);
}

/* Unlinks @bak and syncs its directory, so that a power cut does not bring
 * back an entry whose successor was already enqueued. */
static gboolean
unlink_durable(const char *dir, const char *bak, GError **error)
{
  GError *local = NULL;

  if (unlink(bak) < 0) {
    int saved = errno;
    g_set_error(error, MM_QUEUE_ERROR,
                saved == ENOENT ? MM_QUEUE_ERROR_GONE : MM_QUEUE_ERROR_IO,
                "%s: %s", bak, g_strerror(saved));
    return FALSE;
  }
  if (!mm_fsync_dir(dir, &local)) {
    mm_queue_error_propagate(error, local, MM_QUEUE_ERROR_IO);
    return FALSE;
  }
  return TRUE;
}

gboolean
mm_queue_entry_finish(MmQueue *queue, MmQueueEntry *entry, GError **error)
{
  g_return_val_if_fail(entry != NULL && !entry->done, FALSE);
  entry->done = TRUE;
  return unlink_durable(queue->dir, entry->bak_path, error);
}

/* Gives a claimed entry back: ID.bak becomes ID.pck again. */
static gboolean
entry_release(MmQueue *queue, MmQueueEntry *entry, GError **error)
{
  GError *local = NULL;
  g_autofree char *pck = entry_path(queue->dir, entry->id, ".pck");

  entry->done = TRUE;
  if (!mm_rename_durable(entry->bak_path, pck, &local)) {
    mm_queue_error_propagate(error, local, MM_QUEUE_ERROR_GONE);
    return FALSE;
  }
  return TRUE;
}

/* Enqueues a copy of @message/@meta into shunt with "whichq" = @whichq and
 * "error" = @reason (when not NULL). */
static char *
shunt_copy(const char *root, const char *whichq, GBytes *message,
           json_t *meta, const char *reason, GError **error)
{
  json_t *copy = json_deep_copy(meta);
  json_object_set_new(copy, "whichq", json_string(whichq));
  if (reason != NULL) {
    /* json_string() refuses invalid UTF-8; an error text from a peer may
     * be anything, so fall back to an escaped copy. */
    json_t *text = json_string(reason);
    if (text == NULL) {
      g_autofree char *valid = g_utf8_make_valid(reason, -1);
      text = json_string(valid);
    }
    json_object_set_new(copy, "error", text);
  }
  char *id = mm_queue_enqueue_to(root, SHUNT_QUEUE, message, copy, error);
  json_decref(copy);
  return id;
}

gboolean
mm_queue_entry_shunt(MmQueue *queue, MmQueueEntry *entry, const char *reason,
                     GError **error)
{
  GError *local = NULL;

  g_return_val_if_fail(entry != NULL && !entry->done, FALSE);
  g_autofree char *shunt_id = shunt_copy(queue->root, queue->name,
                                         entry->message, entry->meta, reason,
                                         &local);
  if (shunt_id == NULL) {
    /* Even the shunt queue refused it (disk full?): keep the file where a
     * human will find it rather than replaying it forever. */
    GError *move_error = NULL;
    entry->done = TRUE;
    if (!preserve_as_bad(queue->root, entry->id, entry->bak_path,
                         &move_error)) {
      g_prefix_error(&local, "(and could not move it to bad: %s) ",
                     move_error->message);
      g_error_free(move_error);
    }
    g_propagate_error(error, local);
    return FALSE;
  }
  return mm_queue_entry_finish(queue, entry, error);
}

/* ------------------------------------------------------------------ */
/* Recovery */

/* Removes temporary files left by writers killed mid-write.  Only old ones:
 * a young one may belong to an enqueue in progress in another process. */
static void
remove_stale_temporaries(const MmQueue *queue)
{
  GDir *dir = g_dir_open(queue->dir, 0, NULL);
  const char *filename;
  gint64 now_sec = g_get_real_time() / G_USEC_PER_SEC;

  if (dir == NULL)
    return;
  while ((filename = g_dir_read_name(dir)) != NULL) {
    struct stat st;
    if (filename[0] != '.' || !g_str_has_suffix(filename, ".tmp"))
      continue;
    g_autofree char *path = g_build_filename(queue->dir, filename, NULL);
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        now_sec - (gint64)st.st_mtime > STALE_TMP_AGE_SEC)
      unlink(path);
  }
  g_dir_close(dir);
}

typedef enum {
  RECOVER_REQUEUED,
  RECOVER_SHUNTED,
  RECOVER_LEFT, /* could not act; the .bak stays for the next start */
} RecoverResult;

static RecoverResult
recover_one(MmQueue *queue, const char *id)
{
  GError *local = NULL;
  GBytes *message = NULL;
  json_t *meta = NULL;
  g_autofree char *bak = entry_path(queue->dir, id, ".bak");
  g_autofree char *pck = entry_path(queue->dir, id, ".pck");

  if (!mm_queue_file_load(bak, &message, &meta, &local)) {
    gboolean corrupt =
        g_error_matches(local, MM_QUEUE_ERROR, MM_QUEUE_ERROR_CORRUPT);
    g_clear_error(&local);
    if (corrupt && preserve_as_bad(queue->root, id, bak, NULL))
      return RECOVER_SHUNTED;
    return RECOVER_LEFT;
  }
  g_autoptr(GBytes) message_owned = message;

  json_int_t count = 0;
  json_t *old = json_object_get(meta, "_bak_count");
  if (json_is_integer(old) && json_integer_value(old) > 0)
    count = json_integer_value(old);
  count++;
  json_object_set_new(meta, "_bak_count", json_integer(count));

  RecoverResult result = RECOVER_LEFT;
  if (count >= MM_QUEUE_MAX_BAK_COUNT) {
    if (strcmp(queue->name, SHUNT_QUEUE) == 0) {
      /* Shunting into shunt would loop; Mailman preserves it as bad. */
      if (preserve_as_bad(queue->root, id, bak, NULL))
        result = RECOVER_SHUNTED;
    } else {
      g_autofree char *reason = g_strdup_printf(
          "recovered %" JSON_INTEGER_FORMAT " times after a crash", count);
      g_autofree char *shunt_id =
          shunt_copy(queue->root, queue->name, message, meta, reason, NULL);
      /* A crash right here leaves the entry both in shunt and as .bak:
       * the next start shunts it again (a duplicate in shunt, no loss). */
      if (shunt_id != NULL && unlink_durable(queue->dir, bak, NULL))
        result = RECOVER_SHUNTED;
    }
  } else {
    /* Rewrite the .bak with the new count (atomically, over itself), then
     * rename it to .pck.  A crash between the two leaves a .bak whose count
     * is already raised: the next start raises it again, so a crash can
     * only make us give up sooner, never loop longer or lose the entry. */
    if (mm_queue_file_write(bak, message, meta, NULL) &&
        mm_rename_durable(bak, pck, NULL))
      result = RECOVER_REQUEUED;
  }
  json_decref(meta);
  return result;
}

gboolean
mm_queue_recover(MmQueue *queue, guint *requeued_out, guint *shunted_out,
                 GError **error)
{
  guint requeued = 0, shunted = 0;

  remove_stale_temporaries(queue);
  g_autoptr(GPtrArray) ids = list_ext(queue, ".bak", FALSE, error);
  if (ids == NULL)
    return FALSE;
  for (guint i = 0; i < ids->len; i++) {
    switch (recover_one(queue, ids->pdata[i])) {
    case RECOVER_REQUEUED:
      requeued++;
      break;
    case RECOVER_SHUNTED:
      shunted++;
      break;
    case RECOVER_LEFT:
      break;
    }
  }
  if (requeued_out != NULL)
    *requeued_out = requeued;
  if (shunted_out != NULL)
    *shunted_out = shunted;
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Unshunt */

static void
add_failure(GPtrArray *failures, const char *id, const char *reason)
{
  if (failures != NULL)
    g_ptr_array_add(failures, g_strdup_printf("%s: %s", id, reason));
}

gboolean
mm_queue_unshunt(const char *queue_root, gboolean discard, guint *handled_out,
                 GPtrArray *failures, GError **error)
{
  guint handled = 0;
  g_autoptr(MmQueue) shunt = mm_queue_open(queue_root, SHUNT_QUEUE, 0, 1, error);

  if (shunt == NULL || !mm_queue_recover(shunt, NULL, NULL, error))
    return FALSE;
  g_autoptr(GPtrArray) ids = mm_queue_list(shunt, error);
  if (ids == NULL)
    return FALSE;

  for (guint i = 0; i < ids->len; i++) {
    const char *id = ids->pdata[i];
    GError *local = NULL;
    g_autoptr(MmQueueEntry) entry = mm_queue_claim(shunt, id, &local);

    if (entry == NULL) {
      /* GONE: someone else (another unshunt) took it; not a failure. */
      if (!g_error_matches(local, MM_QUEUE_ERROR, MM_QUEUE_ERROR_GONE))
        add_failure(failures, id, local->message);
      g_clear_error(&local);
      continue;
    }
    if (discard) {
      if (mm_queue_entry_finish(shunt, entry, &local))
        handled++;
      else
        add_failure(failures, id, local->message);
      g_clear_error(&local);
      continue;
    }

    json_t *whichq_json = json_object_get(entry->meta, "whichq");
    const char *whichq =
        whichq_json == NULL ? DEFAULT_WHICHQ : json_string_value(whichq_json);
    if (!mm_queue_name_valid(whichq)) {
      add_failure(failures, id, "\"whichq\" is not a valid queue name");
      entry_release(shunt, entry, NULL);
      continue;
    }
    /* A fresh start in its queue: the crash count belonged to the past. */
    json_object_del(entry->meta, "_bak_count");
    g_autofree char *new_id = mm_queue_enqueue_to(
        queue_root, whichq, entry->message, entry->meta, &local);
    if (new_id == NULL) {
      add_failure(failures, id, local->message);
      g_clear_error(&local);
      entry_release(shunt, entry, NULL);
      continue;
    }
    if (mm_queue_entry_finish(shunt, entry, &local))
      handled++;
    else
      add_failure(failures, id, local->message);
    g_clear_error(&local);
  }
  if (handled_out != NULL)
    *handled_out = handled;
  return TRUE;
}
