/* TXT lookups for DMARC: GResolver with a time limit, and a fixture file
 * for tests.  See dmarc.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "dmarc.h"

#include <gio/gio.h>
#include <string.h>

#include "base-file.h"
#include "base-log.h"

#define FIXTURE_MAX_LEN (1024 * 1024)
/* Mailman's [dmarc] resolver_lifetime default. */
#define SYSTEM_LOOKUP_USEC (5 * G_USEC_PER_SEC)

/* ---- system resolver ------------------------------------------------- */

typedef struct {
  GList *records;
  GError *error;
  gboolean done;
} AsyncLookup;

static void
lookup_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncLookup *lookup = user_data;
  lookup->records = g_resolver_lookup_records_finish(G_RESOLVER(source),
                                                     result, &lookup->error);
  lookup->done = TRUE;
}

static gboolean
lookup_timeout(gpointer user_data)
{
  g_cancellable_cancel(user_data);
  return G_SOURCE_REMOVE;
}

/* @user_data: NULL, or a gint64 with the limit in microseconds.  The
 * lookup runs in GLib's resolver thread; we wait on a private context,
 * and cancelling abandons an answer that comes too late. */
static char **
system_lookup(gpointer user_data, const char *name, GError **error)
{
  gint64 limit_usec =
      user_data != NULL ? *(const gint64 *)user_data : SYSTEM_LOOKUP_USEC;
  g_autoptr(GMainContext) context = g_main_context_new();
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autoptr(GResolver) resolver = g_resolver_get_default();
  AsyncLookup lookup = {0};

  g_main_context_push_thread_default(context);
  g_resolver_lookup_records_async(resolver, name, G_RESOLVER_RECORD_TXT,
                                  cancellable, lookup_done, &lookup);
  GSource *timer = g_timeout_source_new((guint)MAX(limit_usec / 1000, 1));
  g_source_set_callback(timer, lookup_timeout, cancellable, NULL);
  g_source_attach(timer, context);
  while (!lookup.done)
    g_main_context_iteration(context, TRUE);
  g_source_destroy(timer);
  g_source_unref(timer);
  g_main_context_pop_thread_default(context);

  if (lookup.error != NULL) {
    if (g_error_matches(lookup.error, G_RESOLVER_ERROR,
                        G_RESOLVER_ERROR_NOT_FOUND)) {
      /* NXDOMAIN or no TXT record: Mailman's NXDOMAIN / NoAnswer. */
      g_error_free(lookup.error);
      return g_new0(char *, 1);
    }
    g_propagate_error(error, lookup.error);
    return NULL;
  }
  GPtrArray *out = g_ptr_array_new();
  for (GList *l = lookup.records; l != NULL; l = l->next) {
    /* Each record is ("(as)", strings): joined, as Mailman joins them. */
    g_autofree const char **strings = NULL;
    g_variant_get(l->data, "(^a&s)", &strings);
    g_ptr_array_add(out, g_strjoinv("", (char **)strings));
  }
  g_list_free_full(lookup.records, (GDestroyNotify)g_variant_unref);
  g_ptr_array_add(out, NULL);
  return (char **)g_ptr_array_free(out, FALSE);
}

static const MmDmarcResolver system_resolver = {system_lookup, NULL};

const MmDmarcResolver *
mm_dmarc_resolver_system(void)
{
  return &system_resolver;
}

MmDmarcResolver *
mm_dmarc_resolver_new_system(gint64 lifetime_usec)
{
  MmDmarcResolver *resolver = g_new0(MmDmarcResolver, 1);
  gint64 *limit = g_new(gint64, 1);
  *limit = lifetime_usec > 0 ? lifetime_usec : SYSTEM_LOOKUP_USEC;
  resolver->lookup = system_lookup;
  resolver->user_data = limit;
  return resolver;
}

/* ---- fixture resolver ------------------------------------------------- */

/* name -> GPtrArray of TXT strings; a NULL array means "fail". */
static char **
fixture_lookup(gpointer user_data, const char *name, GError **error)
{
  GHashTable *records = user_data;
  g_autofree char *key = g_ascii_strdown(name, -1);
  gpointer value = NULL;

  if (!g_hash_table_lookup_extended(records, key, NULL, &value))
    return g_new0(char *, 1);
  if (value == NULL) {
    g_set_error(error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_TEMPORARY_FAILURE,
                "fixture: lookup of %s fails", name);
    return NULL;
  }
  GPtrArray *strings = value;
  char **out = g_new0(char *, strings->len + 1);
  for (guint i = 0; i < strings->len; i++)
    out[i] = g_strdup(strings->pdata[i]);
  return out;
}

static void
free_strings(gpointer data)
{
  if (data != NULL)
    g_ptr_array_unref(data);
}

MmDmarcResolver *
mm_dmarc_resolver_new_from_file(const char *path, GError **error)
{
  g_autoptr(GBytes) bytes = mm_file_read_bounded(path, FIXTURE_MAX_LEN, error);
  if (bytes == NULL)
    return NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);
  g_autofree char *text = g_strndup(data != NULL ? data : "", len);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  GHashTable *records =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free_strings);

  for (char **line = lines; *line != NULL; line++) {
    g_strstrip(*line);
    if (**line == '\0' || **line == '#')
      continue;
    char *space = strpbrk(*line, " \t");
    if (space == NULL)
      continue; /* a name without a record says nothing */
    g_autofree char *name = g_ascii_strdown(*line, (gssize)(space - *line));
    const char *value = g_strchug(space + 1);
    if (g_str_equal(value, "!")) {
      g_hash_table_replace(records, g_steal_pointer(&name), NULL);
      continue;
    }
    gpointer existing = NULL;
    if (g_hash_table_lookup_extended(records, name, NULL, &existing)) {
      if (existing != NULL) /* a failing name stays failing */
        g_ptr_array_add(existing, g_strdup(value));
      continue;
    }
    GPtrArray *strings = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(strings, g_strdup(value));
    g_hash_table_replace(records, g_steal_pointer(&name), strings);
  }
  MmDmarcResolver *resolver = g_new0(MmDmarcResolver, 1);
  resolver->lookup = fixture_lookup;
  resolver->user_data = records;
  return resolver;
}

MmDmarcResolver *
mm_dmarc_resolver_for_site(gint64 lifetime_usec)
{
  /* Test sites point DMARC lookups at a file; sites never set this. */
  const char *fixture = g_getenv("MAILMAN_TEST_DNS_FIXTURE");
  if (fixture != NULL && *fixture != '\0') {
    g_autoptr(GError) error = NULL;
    MmDmarcResolver *resolver =
        mm_dmarc_resolver_new_from_file(fixture, &error);
    if (resolver != NULL)
      return resolver;
    mm_log_error("error", "DNS fixture %s: %s", fixture, error->message);
  }
  return mm_dmarc_resolver_new_system(lifetime_usec);
}

void
mm_dmarc_resolver_free(MmDmarcResolver *resolver)
{
  if (resolver == NULL)
    return;
  if (resolver->lookup == fixture_lookup)
    g_hash_table_unref(resolver->user_data);
  else if (resolver->lookup == system_lookup)
    g_free(resolver->user_data);
  g_free(resolver);
}
