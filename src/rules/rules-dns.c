/* TXT lookups for the DMARC rule: the system resolver and a fixture file
 * for tests (the same format as the pipeline's, see rules.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <gio/gio.h>
#include <string.h>

#include "base-file.h"

#define FIXTURE_MAX_LEN (1024 * 1024)

static char **
system_lookup(gpointer user_data, const char *name, GError **error)
{
  GResolver *resolver = g_resolver_get_default();
  GError *local = NULL;
  GList *records = g_resolver_lookup_records(
      resolver, name, G_RESOLVER_RECORD_TXT, NULL, &local);
  g_object_unref(resolver);
  if (local != NULL) {
    if (g_error_matches(local, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND)) {
      /* NXDOMAIN or no TXT record: Mailman's NXDOMAIN / NoAnswer. */
      g_error_free(local);
      return g_new0(char *, 1);
    }
    g_propagate_error(error, local);
    return NULL;
  }
  GPtrArray *out = g_ptr_array_new();
  for (GList *r = records; r != NULL; r = r->next) {
    /* Each record is ("(as)", strings): join its strings, as Mailman. */
    g_autofree const char **strings = NULL;
    g_variant_get((GVariant *)r->data, "(^a&s)", &strings);
    g_ptr_array_add(out, g_strjoinv("", (char **)strings));
  }
  g_list_free_full(records, (GDestroyNotify)g_variant_unref);
  g_ptr_array_add(out, NULL);
  return (char **)g_ptr_array_free(out, FALSE);
}

static const MmRulesResolver system_resolver = {system_lookup, NULL};

const MmRulesResolver *
mm_rules_resolver_system(void)
{
  return &system_resolver;
}

/* name (lower-case) -> GPtrArray of records, or NULL for "fails". */
typedef struct {
  GHashTable *names;
} Fixture;

static char **
fixture_lookup(gpointer user_data, const char *name, GError **error)
{
  Fixture *fixture = user_data;
  g_autofree char *key = g_ascii_strdown(name, -1);
  gpointer value;
  if (!g_hash_table_lookup_extended(fixture->names, key, NULL, &value))
    return g_new0(char *, 1);
  if (value == NULL) {
    g_set_error(error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_TEMPORARY_FAILURE,
                "Temporary failure looking up %s (fixture)", name);
    return NULL;
  }
  GPtrArray *records = value;
  char **out = g_new0(char *, records->len + 1);
  for (guint i = 0; i < records->len; i++)
    out[i] = g_strdup(records->pdata[i]);
  return out;
}

static void
records_free(gpointer records)
{
  if (records != NULL)
    g_ptr_array_unref(records);
}

MmRulesResolver *
mm_rules_resolver_new_from_file(const char *path, GError **error)
{
  g_autoptr(GBytes) bytes = mm_file_read_bounded(path, FIXTURE_MAX_LEN, error);
  if (bytes == NULL)
    return NULL;
  gsize len;
  const char *data = g_bytes_get_data(bytes, &len);
  g_autofree char *text = g_strndup(data, len);
  Fixture *fixture = g_new0(Fixture, 1);
  fixture->names =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, records_free);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (char **l = lines; *l != NULL; l++) {
    char *line = g_strstrip(*l);
    if (line[0] == '\0' || line[0] == '#')
      continue;
    char *space = strpbrk(line, " \t");
    if (space == NULL)
      continue;
    *space = '\0';
    char *record = g_strstrip(space + 1);
    char *name = g_ascii_strdown(line, -1);
    if (strcmp(record, "!") == 0) {
      g_hash_table_replace(fixture->names, name, NULL);
      continue;
    }
    gpointer existing;
    if (g_hash_table_lookup_extended(fixture->names, name, NULL, &existing)) {
      g_free(name);
      if (existing != NULL)
        g_ptr_array_add(existing, g_strdup(record));
      continue;
    }
    GPtrArray *records = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(records, g_strdup(record));
    g_hash_table_replace(fixture->names, name, records);
  }
  MmRulesResolver *resolver = g_new0(MmRulesResolver, 1);
  resolver->lookup = fixture_lookup;
  resolver->user_data = fixture;
  return resolver;
}

void
mm_rules_resolver_free(MmRulesResolver *resolver)
{
  if (resolver == NULL)
    return;
  if (resolver->lookup == fixture_lookup) {
    Fixture *fixture = resolver->user_data;
    g_hash_table_unref(fixture->names);
    g_free(fixture);
  }
  g_free(resolver);
}
