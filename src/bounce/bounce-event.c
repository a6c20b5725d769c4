/* Bounce events on disk, until the bounceevent table exists.
 *
 * One small JSON file per event in $data_dir/bounce-events, written with
 * mm_file_write_atomic (temporary file, fsync, rename, fsync of the
 * directory), so an event under its final name is complete and a crash
 * leaves at worst a temporary file.  Appending to a shared file would need
 * locking across runner processes and could tear; one file per event
 * needs neither.  Names start with the event time, so a listing sorted by
 * name is oldest first; the random suffix keeps two events of the same
 * microsecond apart.
 *
 * The bounce message itself is kept once per Message-ID under
 * messages/<Message-ID-Hash>.eml, as Mailman keeps it in its message store
 * for the owner notices that attach it.
 *
 * XXX: a later migration moves these files into the bounceevent table (and
 * the messages into the message store) and the scoring step then reads the
 * table; until then nothing consumes or expires them.  A runner crash after
 * recording and before finishing its queue entry records the events again
 * when the entry is retried: scoring counts one bounce per member and day,
 * so the duplicate changes nothing.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define MM_WITH_JANSSON
#include "bounce-private.h"

#include <errno.h>
#include <string.h>

#include "base-error.h"
#include "base-file.h"
#include "message.h"
#include "mm-autocleanups.h"

#define EVENT_FILE_MAX (64u * 1024u)
#define MESSAGES_SUBDIR "messages"

void
mm_bounce_event_free(MmBounceEvent *event)
{
  if (event == NULL)
    return;
  g_free(event->list_id);
  g_free(event->email);
  g_free(event->message_id);
  g_free(event);
}

char *
mm_bounce_event_dir(const char *data_dir)
{
  return g_build_filename(data_dir, "bounce-events", NULL);
}

/* "YYYY-MM-DDTHH:MM:SS.ffffff" in UTC (Mailman's naive UTC datetime). */
static char *
format_time(gint64 usec)
{
  gint64 seconds = usec / G_USEC_PER_SEC;
  gint64 fraction = usec % G_USEC_PER_SEC;
  if (fraction < 0) {
    fraction += G_USEC_PER_SEC;
    seconds--;
  }
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc(seconds);
  if (time == NULL)
    return g_strdup("1970-01-01T00:00:00.000000");
  g_autofree char *whole = g_date_time_format(time, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf("%s.%06" G_GINT64_FORMAT, whole, fraction);
}

static gboolean
parse_time(const char *text, gint64 *usec_out)
{
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
  g_autoptr(GDateTime) time = g_date_time_new_from_iso8601(text, utc);

  if (time == NULL)
    return FALSE;
  *usec_out = g_date_time_to_unix(time) * G_USEC_PER_SEC +
              g_date_time_get_microsecond(time);
  return TRUE;
}

static gboolean
keep_message(const char *dir, const char *message_id, GBytes *message,
             GError **error)
{
  g_autofree char *hash = mm_message_id_hash(message_id);
  g_autofree char *messages = g_build_filename(dir, MESSAGES_SUBDIR, NULL);
  g_autofree char *name = g_strconcat(hash, ".eml", NULL);
  g_autofree char *path = g_build_filename(messages, name, NULL);

  /* Mailman: "It doesn't matter if we save it more than once.  Only one
   * copy will be saved". */
  if (g_file_test(path, G_FILE_TEST_EXISTS))
    return TRUE;
  if (!mm_mkdir_p(messages, 0770, error))
    return FALSE;
  gsize len = 0;
  const void *data = g_bytes_get_data(message, &len);
  return mm_file_write_atomic(path, data, len, 0660, error);
}

gboolean
mm_bounce_event_record(const char *dir, const MmBounceEvent *event,
                       GBytes *message, GError **error)
{
  g_return_val_if_fail(event->list_id != NULL && event->email != NULL, FALSE);
  if (!mm_mkdir_p(dir, 0770, error))
    return FALSE;

  g_autofree char *timestamp = format_time(event->timestamp_usec);
  g_autoptr(MmJson) object = json_pack(
      "{s:s, s:s, s:s, s:o, s:s, s:b}", "list_id", event->list_id, "email",
      event->email, "timestamp", timestamp, "message_id",
      event->message_id ? json_string(event->message_id) : json_null(),
      "context",
      event->context == MM_BOUNCE_CONTEXT_PROBE ? "probe" : "normal",
      "processed", event->processed);
  if (object == NULL) {
    /* json_pack refuses strings that are not UTF-8. */
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                "bounce event for %s is not valid UTF-8", event->list_id);
    return FALSE;
  }
  g_autofree char *json =
      json_dumps(object, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
  g_autofree char *text = g_strconcat(json, "\n", NULL);

  gint64 seconds = event->timestamp_usec / G_USEC_PER_SEC;
  gint64 fraction = event->timestamp_usec % G_USEC_PER_SEC;
  if (fraction < 0 || seconds < 0)
    seconds = fraction = 0;
  g_autofree char *name = g_strdup_printf(
      "%010" G_GINT64_FORMAT ".%06" G_GINT64_FORMAT "-%08x%08x.json", seconds,
      fraction, g_random_int(), g_random_int());
  g_autofree char *path = g_build_filename(dir, name, NULL);

  if (message != NULL && event->message_id != NULL &&
      !keep_message(dir, event->message_id, message, error))
    return FALSE;
  return mm_file_write_atomic(path, text, strlen(text), 0660, error);
}

static MmBounceEvent *
event_from_json(json_t *object)
{
  const char *list_id = json_string_value(json_object_get(object, "list_id"));
  const char *email = json_string_value(json_object_get(object, "email"));
  const char *timestamp =
      json_string_value(json_object_get(object, "timestamp"));
  json_t *message_id = json_object_get(object, "message_id");
  json_t *context = json_object_get(object, "context");
  gint64 usec = 0;

  if (list_id == NULL || email == NULL || timestamp == NULL ||
      !parse_time(timestamp, &usec))
    return NULL;
  MmBounceEvent *event = g_new0(MmBounceEvent, 1);
  event->list_id = g_strdup(list_id);
  event->email = g_strdup(email);
  event->timestamp_usec = usec;
  event->message_id = g_strdup(json_string_value(message_id));
  event->context = MM_BOUNCE_CONTEXT_NORMAL;
  if ((json_is_string(context) &&
       g_str_equal(json_string_value(context), "probe")) ||
      (json_is_integer(context) &&
       json_integer_value(context) == MM_BOUNCE_CONTEXT_PROBE))
    event->context = MM_BOUNCE_CONTEXT_PROBE;
  event->processed = json_is_true(json_object_get(object, "processed"));
  return event;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
mm_bounce_event_list(const char *dir, GPtrArray *bad, GError **error)
{
  GPtrArray *events =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_bounce_event_free);
  g_autoptr(GError) dir_error = NULL;
  g_autoptr(GDir) handle = g_dir_open(dir, 0, &dir_error);

  if (handle == NULL) {
    if (g_error_matches(dir_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return events;
    g_set_error(error, MM_ERROR, MM_ERROR_IO, "cannot list %s: %s", dir,
                dir_error->message);
    g_ptr_array_unref(events);
    return NULL;
  }
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  const char *name;
  while ((name = g_dir_read_name(handle)) != NULL)
    if (name[0] != '.' && g_str_has_suffix(name, ".json"))
      g_ptr_array_add(names, g_strdup(name));
  g_ptr_array_sort(names, compare_names);

  for (guint i = 0; i < names->len; i++) {
    g_autofree char *path = g_build_filename(dir, names->pdata[i], NULL);
    g_autoptr(GBytes) bytes = mm_file_read_bounded(path, EVENT_FILE_MAX, NULL);
    MmBounceEvent *event = NULL;
    if (bytes != NULL) {
      gsize len = 0;
      const char *data = g_bytes_get_data(bytes, &len);
      g_autoptr(MmJson) object =
          json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
      if (json_is_object(object))
        event = event_from_json(object);
    }
    if (event != NULL)
      g_ptr_array_add(events, event);
    else if (bad != NULL)
      g_ptr_array_add(bad, g_strdup(names->pdata[i]));
  }
  return events;
}
