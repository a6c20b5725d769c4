/* The progress journal of one out-queue entry: which recipients the MTA has
 * accepted, and how far the entry's aftermath (bounce events, retry entry)
 * got, so that a runner killed in the middle of a fan-out resumes without
 * sending anything twice.
 *
 * File: $var_dir/delivery/<entry id>.journal
 *   MMDJ1 <recipients> <sha1 of the recipient list>\n      (header)
 *   <fnv1a-32, 8 hex> <type><payload>\n                     (records)
 * Types: 'S' final dot sent for these indexes ("S3 4 5"), 'A' accepted,
 * 'F' failed, 'D' the failures of the finished run (compact JSON), 'B'
 * bounce events enqueued, 'T' retry entry enqueued, 'E' entry complete.
 *
 * Why an append-only journal, not one atomic file per update: the header
 * is created with mm_file_write_atomic() like every other file, but each
 * record must be durable before the connection that produced it starts
 * its next transaction, and VERP produces one transaction per recipient.
 * An atomic rewrite costs two fsyncs, a rename and a new inode (13 ms on
 * our test machine); an append with fdatasync() costs one flush (under
 * 1 ms).  A crash can tear only the last record: every record carries a
 * checksum, reading stops at the first bad one, and the file is cut back
 * there before anything is appended again.
 *
 * Why 'S': the MTA commits a message when it reads the final dot, and we
 * learn it a round trip later.  A kill -9 in between would make us resend
 * (a duplicate), and that window is most of a VERP transaction's life once
 * the flush is counted.  So the worker that wrote the dot notes it at once
 * with a plain write() (a killed process leaves it in the page cache), and
 * a journal read back treats "sent, no reply" as delivered.  What remains:
 * a kill between the dot's write() and the note's (microseconds) resends
 * one transaction; a power cut can lose unflushed 'S' notes, which resends
 * the transactions in flight, one per connection.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base-error.h"
#include "base-file.h"

#define JOURNAL_MAGIC "MMDJ1"
#define JOURNAL_SUFFIX ".journal"
/* A journal holds at most a few records per recipient; anything larger is
 * not ours. */
#define JOURNAL_MAX_BYTES (256u * 1024u * 1024u)

struct MmDeliveryJournal {
  char *path;
  int fd;
  guint n_recipients;
  guint8 *accepted; /* bitmap: 2xx to the final dot */
  guint8 *pending;  /* bitmap: dot sent, no reply recorded */
  guint n_accepted;
  guint n_pending;
  json_t *outcome;
  char steps[8]; /* NUL-terminated set of step letters seen */
  GMutex lock;     /* serialises writes (workers note 'S') and broken */
  gboolean broken; /* a write failed: the tail may be torn */
};

static guint32
fnv1a(const char *data, gsize len)
{
  guint32 h = 2166136261u;
  for (gsize i = 0; i < len; i++) {
    h ^= (guchar)data[i];
    h *= 16777619u;
  }
  return h;
}

static char *
journal_path(const char *dir, const char *entry_id)
{
  g_autofree char *name = g_strconcat(entry_id, JOURNAL_SUFFIX, NULL);
  return g_build_filename(dir, name, NULL);
}

static gboolean
bit_get(const guint8 *map, guint index)
{
  return (map[index / 8] & (1u << (index % 8))) != 0;
}

/* Sets or clears a bit, keeping @count right. */
static void
bit_set(guint8 *map, guint *count, guint index, gboolean on)
{
  guint8 bit = (guint8)(1u << (index % 8));
  if (on && (map[index / 8] & bit) == 0) {
    map[index / 8] |= bit;
    (*count)++;
  } else if (!on && (map[index / 8] & bit) != 0) {
    map[index / 8] &= (guint8)~bit;
    (*count)--;
  }
}

/* The state change of one recipient for record type @type. */
static void
apply_index(MmDeliveryJournal *journal, char type, guint index)
{
  if (index >= journal->n_recipients)
    return;
  switch (type) {
  case 'A':
    bit_set(journal->accepted, &journal->n_accepted, index, TRUE);
    bit_set(journal->pending, &journal->n_pending, index, FALSE);
    break;
  case 'F':
    bit_set(journal->pending, &journal->n_pending, index, FALSE);
    break;
  case 'S':
    if (!bit_get(journal->accepted, index))
      bit_set(journal->pending, &journal->n_pending, index, TRUE);
    break;
  default:
    break;
  }
}

static void
add_step(MmDeliveryJournal *journal, char step)
{
  if (strchr(journal->steps, step) == NULL) {
    gsize n = strlen(journal->steps);
    if (n + 1 < sizeof journal->steps)
      journal->steps[n] = step;
  }
}

/* Applies one record body (type and payload).  FALSE if it is not one. */
static gboolean
apply_record(MmDeliveryJournal *journal, const char *body, gsize len)
{
  if (len == 0)
    return FALSE;
  g_autofree char *payload = g_strndup(body + 1, len - 1);
  switch (body[0]) {
  case 'A':
  case 'F':
  case 'S': {
    g_auto(GStrv) numbers = g_strsplit(payload, " ", -1);
    for (guint i = 0; numbers[i] != NULL; i++) {
      guint64 index = 0;
      if (!g_ascii_string_to_unsigned(numbers[i], 10, 0,
                                      journal->n_recipients - 1, &index, NULL))
        return FALSE;
    }
    for (guint i = 0; numbers[i] != NULL; i++)
      apply_index(journal, body[0],
                  (guint)g_ascii_strtoull(numbers[i], NULL, 10));
    return TRUE;
  }
  case 'D': {
    json_t *outcome = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
    if (outcome == NULL)
      return FALSE;
    if (journal->outcome != NULL)
      json_decref(journal->outcome);
    journal->outcome = outcome;
    return TRUE;
  }
  case 'B':
  case 'T':
  case 'E':
    if (len != 1)
      return FALSE;
    add_step(journal, body[0]);
    return TRUE;
  default:
    return FALSE;
  }
}

/* Reads an existing journal.  Returns the length of its valid prefix, or
 * 0 when it is not a journal of this entry (wrong header). */
static gsize
load(MmDeliveryJournal *journal, GBytes *bytes, const char *header)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);
  gsize header_len = strlen(header);
  if (len < header_len || memcmp(data, header, header_len) != 0)
    return 0;

  gsize pos = header_len;
  while (pos < len) {
    const char *nl = memchr(data + pos, '\n', len - pos);
    if (nl == NULL)
      break; /* torn */
    gsize line_len = (gsize)(nl - (data + pos));
    if (line_len < 10 || data[pos + 8] != ' ')
      break;
    char hex[9];
    memcpy(hex, data + pos, 8);
    hex[8] = '\0';
    guint64 sum = 0;
    if (!g_ascii_string_to_unsigned(hex, 16, 0, G_MAXUINT32, &sum, NULL))
      break;
    const char *body = data + pos + 9;
    gsize body_len = line_len - 9;
    if (fnv1a(body, body_len) != (guint32)sum ||
        !apply_record(journal, body, body_len))
      break;
    pos += line_len + 1;
  }
  return pos;
}

MmDeliveryJournal *
mm_delivery_journal_open(const char *dir, const char *entry_id,
                         guint n_recipients, const char *fingerprint,
                         GError **error)
{
  g_autofree char *path = journal_path(dir, entry_id);
  g_autofree char *header =
      g_strdup_printf(JOURNAL_MAGIC " %u %s\n", n_recipients, fingerprint);
  MmDeliveryJournal *journal = g_new0(MmDeliveryJournal, 1);
  journal->fd = -1;
  journal->path = g_strdup(path);
  journal->n_recipients = n_recipients;
  journal->accepted = g_new0(guint8, n_recipients / 8 + 1);
  journal->pending = g_new0(guint8, n_recipients / 8 + 1);
  g_mutex_init(&journal->lock);

  g_autoptr(GError) read_error = NULL;
  g_autoptr(GBytes) old =
      mm_file_read_bounded(path, JOURNAL_MAX_BYTES, &read_error);
  gsize valid = old != NULL ? load(journal, old, header) : 0;
  if (valid == 0) {
    /* New, or another entry's leftovers under this id (cannot happen with
     * our ids, but a wrong journal must never suppress a delivery). */
    memset(journal->accepted, 0, n_recipients / 8 + 1);
    memset(journal->pending, 0, n_recipients / 8 + 1);
    journal->n_accepted = journal->n_pending = 0;
    g_clear_pointer(&journal->outcome, json_decref);
    journal->steps[0] = '\0';
    if (!mm_file_write_atomic(path, header, strlen(header), 0660, error)) {
      mm_delivery_journal_free(journal);
      return NULL;
    }
    valid = strlen(header);
  }
  journal->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (journal->fd < 0) {
    mm_error_from_errno(error, errno, path);
    mm_delivery_journal_free(journal);
    return NULL;
  }
  if (old != NULL && valid < g_bytes_get_size(old)) {
    /* Cut the torn tail, durably, before appending after it. */
    if (ftruncate(journal->fd, (off_t)valid) < 0 ||
        fdatasync(journal->fd) < 0) {
      mm_error_from_errno(error, errno, path);
      mm_delivery_journal_free(journal);
      return NULL;
    }
  }
  return journal;
}

void
mm_delivery_journal_free(MmDeliveryJournal *journal)
{
  if (journal == NULL)
    return;
  if (journal->fd >= 0)
    close(journal->fd);
  g_clear_pointer(&journal->outcome, json_decref);
  g_free(journal->accepted);
  g_free(journal->pending);
  g_mutex_clear(&journal->lock);
  g_free(journal->path);
  g_free(journal);
}

gboolean
mm_delivery_journal_done(const MmDeliveryJournal *journal, guint index)
{
  return index < journal->n_recipients &&
         (bit_get(journal->accepted, index) || bit_get(journal->pending, index));
}

guint
mm_delivery_journal_n_accepted(const MmDeliveryJournal *journal)
{
  return journal->n_accepted;
}

guint
mm_delivery_journal_n_in_doubt(const MmDeliveryJournal *journal)
{
  return journal->n_pending;
}

json_t *
mm_delivery_journal_outcome(const MmDeliveryJournal *journal)
{
  return journal->outcome;
}

gboolean
mm_delivery_journal_has_step(const MmDeliveryJournal *journal, char step)
{
  return strchr(journal->steps, step) != NULL;
}

/* Appends "<sum> <body>\n" for each body to @line. */
static void
format_record(GString *line, const char *body, gsize len)
{
  g_string_append_printf(line, "%08x ", fnv1a(body, len));
  g_string_append_len(line, body, len);
  g_string_append_c(line, '\n');
}

/* Writes whole records in one write() under the lock. */
static gboolean
write_records(MmDeliveryJournal *journal, const GString *records,
              GError **error)
{
  g_mutex_lock(&journal->lock);
  gboolean ok = !journal->broken;
  int saved = EIO;
  const char *p = records->str;
  gsize left = records->len;
  while (ok && left > 0) {
    ssize_t n = write(journal->fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      saved = n < 0 ? errno : EIO;
      journal->broken = TRUE;
      ok = FALSE;
      break;
    }
    p += n;
    left -= (gsize)n;
  }
  g_mutex_unlock(&journal->lock);
  if (!ok)
    return mm_error_from_errno(error, saved, journal->path);
  return TRUE;
}

/* Writes records and flushes them to the disk. */
static gboolean
append(MmDeliveryJournal *journal, const GString *records, GError **error)
{
  if (!write_records(journal, records, error))
    return FALSE;
  /* fdatasync also writes the new file size: the record is durable. */
  if (fdatasync(journal->fd) < 0) {
    int saved = errno;
    g_mutex_lock(&journal->lock);
    journal->broken = TRUE;
    g_mutex_unlock(&journal->lock);
    return mm_error_from_errno(error, saved, journal->path);
  }
  return TRUE;
}

static void
indexes_record(GString *records, char type, const guint *indexes, guint n)
{
  if (n == 0)
    return;
  g_autoptr(GString) body = g_string_new(NULL);
  g_string_append_c(body, type);
  for (guint i = 0; i < n; i++)
    g_string_append_printf(body, i == 0 ? "%u" : " %u", indexes[i]);
  format_record(records, body->str, body->len);
}

void
mm_delivery_journal_note_sent(MmDeliveryJournal *journal, const guint *indexes,
                              guint n)
{
  g_autoptr(GString) records = g_string_new(NULL);
  indexes_record(records, 'S', indexes, n);
  /* A failure marks the journal broken; the next add_results reports it
   * in the run's thread. */
  if (records->len > 0)
    write_records(journal, records, NULL);
}

gboolean
mm_delivery_journal_add_results(MmDeliveryJournal *journal,
                                const guint *accepted, guint n_accepted,
                                const guint *failed, guint n_failed,
                                GError **error)
{
  if (n_accepted + n_failed == 0)
    return TRUE;
  for (guint i = 0; i < n_accepted; i++)
    g_return_val_if_fail(accepted[i] < journal->n_recipients, FALSE);
  for (guint i = 0; i < n_failed; i++)
    g_return_val_if_fail(failed[i] < journal->n_recipients, FALSE);
  g_autoptr(GString) records = g_string_new(NULL);
  indexes_record(records, 'A', accepted, n_accepted);
  indexes_record(records, 'F', failed, n_failed);
  if (!append(journal, records, error))
    return FALSE;
  for (guint i = 0; i < n_accepted; i++)
    apply_index(journal, 'A', accepted[i]);
  for (guint i = 0; i < n_failed; i++)
    apply_index(journal, 'F', failed[i]);
  return TRUE;
}

gboolean
mm_delivery_journal_add_outcome(MmDeliveryJournal *journal, json_t *outcome,
                                GError **error)
{
  /* Compact JSON escapes every control character: one line. */
  g_autofree char *text = json_dumps(outcome, JSON_COMPACT);
  if (text == NULL) {
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_INVALID,
                "cannot serialise the delivery outcome");
    return FALSE;
  }
  g_autofree char *body = g_strconcat("D", text, NULL);
  g_autoptr(GString) records = g_string_new(NULL);
  format_record(records, body, strlen(body));
  if (!append(journal, records, error))
    return FALSE;
  if (journal->outcome != NULL)
    json_decref(journal->outcome);
  journal->outcome = json_incref(outcome);
  return TRUE;
}

gboolean
mm_delivery_journal_add_step(MmDeliveryJournal *journal, char step,
                             GError **error)
{
  g_return_val_if_fail(step == 'B' || step == 'T' || step == 'E', FALSE);
  char body[1] = {step};
  g_autoptr(GString) records = g_string_new(NULL);
  format_record(records, body, 1);
  if (!append(journal, records, error))
    return FALSE;
  add_step(journal, step);
  return TRUE;
}

void
mm_delivery_journal_remove(const char *dir, const char *entry_id)
{
  g_autofree char *path = journal_path(dir, entry_id);
  (void)unlink(path);
}

/* Whether the journal at @path ends with its 'E' record. */
static gboolean
is_complete(const char *path)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  char tail[12];
  struct stat st;
  gboolean done = FALSE;
  if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof tail &&
      pread(fd, tail, sizeof tail, st.st_size - (off_t)sizeof tail) ==
          (ssize_t)sizeof tail)
    done = tail[0] == '\n' && tail[9] == ' ' && tail[10] == 'E' &&
           tail[11] == '\n';
  close(fd);
  return done;
}

guint
mm_delivery_journal_sweep(const char *dir, gint64 done_age_usec,
                          gint64 stale_age_usec)
{
  g_autoptr(GDir) handle = g_dir_open(dir, 0, NULL);
  if (handle == NULL)
    return 0;
  gint64 now = g_get_real_time();
  guint removed = 0;
  const char *name;
  while ((name = g_dir_read_name(handle)) != NULL) {
    if (!g_str_has_suffix(name, JOURNAL_SUFFIX))
      continue;
    g_autofree char *path = g_build_filename(dir, name, NULL);
    struct stat st;
    if (stat(path, &st) < 0)
      continue;
    gint64 age = now - (gint64)st.st_mtime * G_USEC_PER_SEC;
    if (age > stale_age_usec || (age > done_age_usec && is_complete(path))) {
      if (unlink(path) == 0)
        removed++;
    }
  }
  return removed;
}
