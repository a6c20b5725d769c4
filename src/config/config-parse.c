/* The configuration file reader: Python's RawConfigParser as lazr.config
 * drives it (strict=False), for mailman.cfg, its [meta] extends: bases and
 * the `[mta] configuration` file.
 *
 * Rules reproduced, line by line (lines end at \n, \r\n or \r, as Python's
 * universal newlines):
 *   - a line whose stripped text starts with '#' or ';' is a comment,
 *     wherever it is, even inside a multi-line value, and is skipped;
 *     there are no inline comments;
 *   - a blank line inside a value adds an empty line to it; trailing white
 *     space and blank lines of a value are cut at the end;
 *   - a line indented deeper than the key line that started the current
 *     value continues it (stripped, joined with "\n");
 *   - "[NAME]" starts a section: NAME is everything between the first '['
 *     and the last ']' (text after that is ignored); a repeated section is
 *     merged, a repeated key replaces the earlier value; [DEFAULT] supplies
 *     keys to every other section of the same file;
 *   - otherwise "key: value" or "key = value", split at the first ':' or
 *     '=', key stripped and lower-cased, value stripped.
 * Anything else stops the load with "FILE:LINE: reason", where Python would
 * raise (MissingSectionHeaderError, ParsingError).  Unlike Python we also
 * refuse non-ASCII bytes (lazr.config records them as errors), NUL bytes,
 * and lines over MM_CONFIG_MAX_LINE.
 *
 * This file knows nothing of the schema; config.c decides what the
 * sections and keys mean.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config-private.h"
#include "base-error.h"
#include "base-file.h"
#include "base-log.h"

#include <string.h>

static gboolean
is_space(char c)
{
  /* Python's str.strip() and \s, restricted to ASCII. */
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f' || (c >= 0x1c && c <= 0x1f);
}

static void
item_free(gpointer data)
{
  MmConfigItem *item = data;
  g_free(item->key);
  g_free(item->value);
  g_free(item);
}

static MmConfigFileSection *
file_section_new(const char *name, gsize len, int line)
{
  MmConfigFileSection *section = g_new0(MmConfigFileSection, 1);
  section->name = g_strndup(name, len);
  section->line = line;
  section->items = g_ptr_array_new_with_free_func(item_free);
  section->by_key = g_hash_table_new(g_str_hash, g_str_equal);
  return section;
}

static void
file_section_free(gpointer data)
{
  MmConfigFileSection *section = data;
  if (section == NULL)
    return;
  g_hash_table_unref(section->by_key);
  g_ptr_array_unref(section->items);
  g_free(section->name);
  g_free(section);
}

void
mm_config_file_free(MmConfigFile *file)
{
  if (file == NULL)
    return;
  g_ptr_array_unref(file->sections);
  file_section_free(file->defaults);
  g_free(file->path);
  g_free(file);
}

/* The text of a line for an error message: escaped and shortened. */
static char *
quote_line(const char *line, gsize len)
{
  g_autofree char *escaped = mm_log_escape(line, (gssize)MIN(len, 80));
  return g_strdup_printf("\"%s%s\"", escaped, len > 80 ? "..." : "");
}

typedef struct {
  const char *path;
  MmConfigFile *file;
  GHashTable *sections_by_name; /* name -> MmConfigFileSection* */
  GHashTable *buffers;          /* MmConfigItem* -> GString* being built */
  MmConfigFileSection *current; /* cursect */
  MmConfigItem *option;         /* optname: the value being continued */
  gsize indent_level;
} Parser;

static gboolean
parse_line(Parser *p, const char *line, gsize len, int lineno, GError **error)
{
  const char *start = line;
  const char *end = line + len;

  while (start < end && is_space(*start))
    start++;
  while (end > start && is_space(end[-1]))
    end--;

  if (start < end && (*start == '#' || *start == ';'))
    return TRUE; /* a comment, even amid a multi-line value */

  if (start == end) {
    /* A blank line belongs to the value being built, if any; it does not
     * end it (RawConfigParser's empty_lines_in_values). */
    if (p->current != NULL && p->option != NULL)
      g_string_append_c(g_hash_table_lookup(p->buffers, p->option), '\n');
    return TRUE;
  }

  gsize indent = (gsize)(start - line);
  if (p->current != NULL && p->option != NULL && indent > p->indent_level) {
    GString *buf = g_hash_table_lookup(p->buffers, p->option);
    g_string_append_c(buf, '\n');
    g_string_append_len(buf, start, end - start);
    return TRUE;
  }
  p->indent_level = indent;

  /* "[" NAME "]": Python's SECTCRE is \[(?P<header>.+)\] matched at the
   * start, so NAME runs to the last ']' and must not be empty. */
  if (*start == '[') {
    const char *close = NULL;
    for (const char *c = end - 1; c > start + 1; c--)
      if (*c == ']') {
        close = c;
        break;
      }
    if (close != NULL) {
      gsize name_len = (gsize)(close - start - 1);
      g_autofree char *name = g_strndup(start + 1, name_len);
      if (strcmp(name, "DEFAULT") == 0) {
        if (p->file->defaults == NULL)
          p->file->defaults = file_section_new(name, name_len, lineno);
        p->current = p->file->defaults;
      } else {
        MmConfigFileSection *section =
            g_hash_table_lookup(p->sections_by_name, name);
        if (section == NULL) {
          section = file_section_new(name, name_len, lineno);
          g_ptr_array_add(p->file->sections, section);
          g_hash_table_insert(p->sections_by_name, section->name, section);
        }
        p->current = section;
      }
      p->option = NULL;
      return TRUE;
    }
  }

  if (p->current == NULL) {
    g_autofree char *quoted = quote_line(start, (gsize)(end - start));
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX,
                "%s:%d: %s comes before any [section] header", p->path,
                lineno, quoted);
    return FALSE;
  }

  /* key, optional space, ':' or '=', optional space, value. */
  const char *delim = start;
  while (delim < end && *delim != ':' && *delim != '=')
    delim++;
  const char *key_end = delim;
  while (key_end > start && is_space(key_end[-1]))
    key_end--;
  if (delim == end || key_end == start) {
    g_autofree char *quoted = quote_line(start, (gsize)(end - start));
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX,
                "%s:%d: %s is not a [section], a \"key: value\" line or a "
                "comment",
                p->path, lineno, quoted);
    return FALSE;
  }
  const char *value = delim + 1;
  while (value < end && is_space(*value))
    value++;

  g_autofree char *key = g_ascii_strdown(start, key_end - start);
  MmConfigItem *item = g_hash_table_lookup(p->current->by_key, key);
  if (item == NULL) {
    item = g_new0(MmConfigItem, 1);
    item->key = g_steal_pointer(&key);
    g_ptr_array_add(p->current->items, item);
    g_hash_table_insert(p->current->by_key, item->key, item);
  }
  item->line = lineno;
  g_hash_table_insert(p->buffers, item,
                      g_string_new_len(value, end - value));
  p->option = item;
  return TRUE;
}

static void
string_free(gpointer data)
{
  g_string_free(data, TRUE);
}

static void
finish_section(Parser *p, MmConfigFileSection *section)
{
  if (section == NULL)
    return;
  for (guint i = 0; i < section->items->len; i++) {
    MmConfigItem *item = section->items->pdata[i];
    GString *buf = g_hash_table_lookup(p->buffers, item);
    /* '\n'.join(lines).rstrip() */
    gsize n = buf->len;
    while (n > 0 && is_space(buf->str[n - 1]))
      n--;
    g_free(item->value);
    item->value = g_strndup(buf->str, n);
  }
}

static gboolean
check_bytes(const char *path, const char *text, gsize len, GError **error)
{
  int lineno = 1;

  for (gsize i = 0; i < len; i++) {
    guchar c = (guchar)text[i];
    if (c == '\n' || (c == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) {
      lineno++;
    } else if (c == '\0') {
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX,
                  "%s:%d: NUL byte; not a text file", path, lineno);
      return FALSE;
    } else if (c >= 0x80) {
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX,
                  "%s:%d: non-ASCII byte 0x%02x; Mailman's configuration "
                  "files must be plain ASCII",
                  path, lineno, c);
      return FALSE;
    }
  }
  return TRUE;
}

MmConfigFile *
mm_config_file_parse(const char *path, const char *text, gsize len,
                     GError **error)
{
  if (!check_bytes(path, text, len, error))
    return NULL;

  g_autoptr(MmConfigFile) file = g_new0(MmConfigFile, 1);
  file->path = g_strdup(path);
  file->sections = g_ptr_array_new_with_free_func(file_section_free);

  Parser p = {
      .path = path,
      .file = file,
      .sections_by_name = g_hash_table_new(g_str_hash, g_str_equal),
      .buffers = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                       string_free),
  };
  gboolean ok = TRUE;
  gsize pos = 0;
  int lineno = 0;

  /* Every iteration consumes at least one byte or ends the loop. */
  while (ok && pos < len) {
    gsize eol = pos;
    while (eol < len && text[eol] != '\n' && text[eol] != '\r')
      eol++;
    lineno++;
    if (eol - pos > MM_CONFIG_MAX_LINE) {
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX,
                  "%s:%d: line longer than %d bytes", path, lineno,
                  MM_CONFIG_MAX_LINE);
      ok = FALSE;
      break;
    }
    ok = parse_line(&p, text + pos, eol - pos, lineno, error);
    pos = eol;
    if (pos < len && text[pos] == '\r')
      pos++;
    if (pos < len && text[pos] == '\n' && (pos == eol || text[eol] == '\r'))
      pos++;
  }

  if (ok) {
    finish_section(&p, file->defaults);
    for (guint i = 0; i < file->sections->len; i++)
      finish_section(&p, file->sections->pdata[i]);
  }
  g_hash_table_unref(p.sections_by_name);
  g_hash_table_unref(p.buffers);
  if (!ok)
    return NULL;
  return g_steal_pointer(&file);
}

MmConfigFile *
mm_config_file_read(const char *path, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GBytes) bytes =
      mm_file_read_bounded(path, MM_CONFIG_MAX_FILE_SIZE, &local);

  if (bytes == NULL) {
    if (g_error_matches(local, MM_ERROR, MM_ERROR_TOO_LARGE))
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX,
                  "%s: larger than %d bytes; not a configuration file", path,
                  MM_CONFIG_MAX_FILE_SIZE);
    else
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND,
                  "cannot read %s", local->message);
    return NULL;
  }
  gsize len;
  const char *text = g_bytes_get_data(bytes, &len);
  return mm_config_file_parse(path, text ? text : "", len, error);
}

GPtrArray *
mm_config_file_section_items(const MmConfigFile *file,
                             const MmConfigFileSection *section)
{
  GPtrArray *items = g_ptr_array_new();

  if (file->defaults != NULL)
    for (guint i = 0; i < file->defaults->items->len; i++) {
      MmConfigItem *item = file->defaults->items->pdata[i];
      if (!g_hash_table_contains(section->by_key, item->key))
        g_ptr_array_add(items, item);
    }
  for (guint i = 0; i < section->items->len; i++)
    g_ptr_array_add(items, section->items->pdata[i]);
  return items;
}
