/* `mailman conf` and section listings.
 *
 * Output follows mailman/commands/cli_conf.py: one "[section] key: value"
 * line per key, sections and keys sorted by code point, values printed raw
 * (unexpanded, a multi-line value with its embedded newlines, a value whose
 * first line is empty right after "key: ").  With both a section and a key
 * only the value is printed.  The sections listed are those of Mailman's
 * configuration object: the [postfix] / [exim4] keys, which Mailman keeps
 * in a separate file, are not among them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config-private.h"

#include <string.h>

/* Python's sorted() on str: code point order, which is strcmp on ASCII. */
static gint
compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static GPtrArray *
sorted_section_names(const MmConfig *config)
{
  GPtrArray *names = g_ptr_array_new();
  GHashTableIter iter;
  gpointer key, data;

  g_hash_table_iter_init(&iter, config->sections);
  while (g_hash_table_iter_next(&iter, &key, &data))
    if (mm_config_section_is_listed(data))
      g_ptr_array_add(names, key);
  g_ptr_array_sort(names, compare_names);
  return names;
}

static GPtrArray *
sorted_keys(const MmConfigSection *section)
{
  GPtrArray *keys = g_ptr_array_new();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init(&iter, section->values);
  while (g_hash_table_iter_next(&iter, &key, NULL))
    g_ptr_array_add(keys, key);
  g_ptr_array_sort(keys, compare_names);
  return keys;
}

static void
print_value(GString *out, const MmConfigSection *section, const char *key)
{
  const MmConfigValue *value = g_hash_table_lookup(section->values, key);
  g_string_append_printf(out, "[%s] %s: %s\n", section->name, key,
                         value->value);
}

static const MmConfigSection *
listed_section(const MmConfig *config, const char *name)
{
  const MmConfigSection *section = mm_config_section_get(config, name);
  return (section != NULL && mm_config_section_is_listed(section)) ? section
                                                                    : NULL;
}

gboolean
mm_config_dump(const MmConfig *config, const char *section, const char *key,
               GString *out, GError **error)
{
  if (section != NULL) {
    const MmConfigSection *s = listed_section(config, section);
    if (s == NULL) {
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND,
                  "No such section: %s", section);
      return FALSE;
    }
    if (key != NULL) {
      const MmConfigValue *value = g_hash_table_lookup(s->values, key);
      if (value == NULL) {
        g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND,
                    "Section %s: No such key: %s", section, key);
        return FALSE;
      }
      g_string_append_printf(out, "%s\n", value->value);
      return TRUE;
    }
    g_autoptr(GPtrArray) keys = sorted_keys(s);
    for (guint i = 0; i < keys->len; i++)
      print_value(out, s, keys->pdata[i]);
    return TRUE;
  }

  g_autoptr(GPtrArray) names = sorted_section_names(config);
  for (guint i = 0; i < names->len; i++) {
    const MmConfigSection *s = mm_config_section_get(config, names->pdata[i]);
    if (key != NULL) {
      /* A key alone: every section that has it; none is not an error. */
      if (g_hash_table_contains(s->values, key))
        print_value(out, s, key);
      continue;
    }
    g_autoptr(GPtrArray) keys = sorted_keys(s);
    for (guint k = 0; k < keys->len; k++)
      print_value(out, s, keys->pdata[k]);
  }
  return TRUE;
}

char **
mm_config_section_names(const MmConfig *config, const char *category)
{
  g_autofree char *prefix = g_strconcat(category, ".", NULL);
  gsize prefix_len = strlen(prefix);
  g_autoptr(GPtrArray) names = sorted_section_names(config);
  GPtrArray *result = g_ptr_array_new();

  for (guint i = 0; i < names->len; i++) {
    const char *name = names->pdata[i];
    if (!g_str_has_prefix(name, prefix))
      continue;
    const char *sub = name + prefix_len;
    if (strcmp(sub, "master") == 0 || strcmp(sub, "template") == 0)
      continue;
    g_ptr_array_add(result, g_strdup(sub));
  }
  g_ptr_array_add(result, NULL);
  return (char **)g_ptr_array_free(result, FALSE);
}
