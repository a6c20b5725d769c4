/* Loading the configuration: defaults from the schema, files layered on
 * top as lazr.config pushes them, every value checked, the layout's paths
 * expanded; then the getters.
 *
 * Layering follows lazr.config's Config.push and Mailman's Configuration:
 *   1. the schema table gives every section and its defaults (a section of
 *      a category starts with its template's keys);
 *   2. the [meta] extends: chain is read, deepest base first, each file
 *      updating known sections and keys; a section of a category whose
 *      template is ".master" (paths, runner, archiver, language, plugin)
 *      may be created; the first such creation hides the ".master" section,
 *      as lazr.config pops it from the overlay (so [archiver.master] and
 *      [plugin.master] stay visible to `mailman conf` until a file creates
 *      an archiver or plugin, exactly as in Mailman);
 *   3. `[mta] configuration` names the file with [postfix] / [exim4] keys;
 *   4. every value a file supplied is parsed by its schema type; the first
 *      bad one (in file order) fails the load;
 *   5. [mailman] layout picks [paths.NAME], whose values are expanded.
 * Unknown sections and keys, and schema directives in a user file, are
 * warnings: Mailman records them as errors it never raises.
 *
 * Invariant: after mm_config_load() returns, every key of every section has
 * a value that passed its type check, and config->paths holds an absolute
 * path for every key of the selected layout.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config-private.h"
#include "base-error.h"
#include "base-file.h"
#include "base-log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

G_DEFINE_QUARK(mm-config-error-quark, mm_config_error)

/* ---- Sections and values -------------------------------------------- */

static void
value_free(gpointer data)
{
  MmConfigValue *value = data;
  g_free(value->value);
  g_free(value);
}

static MmConfigValue *
value_new_default(const MmConfigSchemaRow *type_row, const char *text)
{
  MmConfigValue *value = g_new0(MmConfigValue, 1);
  g_autofree char *reason = NULL;

  value->value = g_strdup(text);
  value->row = type_row;
  value->origin = -1;
  /* A default that fails its own type is a bug in the schema table. */
  if (!mm_config_value_check(type_row, text, &value->parsed, &reason))
    g_error("schema default [%s] %s = \"%s\": %s", type_row->section,
            type_row->key, text, reason);
  return value;
}

static void
section_free(gpointer data)
{
  MmConfigSection *section = data;
  g_hash_table_unref(section->values);
  g_free(section->name);
  g_free(section);
}

static char *
category_of(const char *name)
{
  const char *dot = strchr(name, '.');
  return dot ? g_strndup(name, (gsize)(dot - name)) : NULL;
}

/* A new section @name holding the defaults of @template's keys. */
static MmConfigSection *
section_new(MmConfig *config, const char *name, const MmConfigSchemaRow *decl,
            const char *template)
{
  MmConfigSection *section = g_new0(MmConfigSection, 1);
  section->name = g_strdup(name);
  section->decl = decl;
  section->values =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, value_free);
  if (template != NULL) {
    gsize n_rows;
    const MmConfigSchemaRow *rows = mm_config_schema_rows(&n_rows);
    for (gsize i = 0; i < n_rows; i++)
      if (rows[i].key != NULL && strcmp(rows[i].section, template) == 0)
        g_hash_table_replace(section->values, g_strdup(rows[i].key),
                             value_new_default(&rows[i], rows[i].value));
  }
  g_hash_table_replace(config->sections, section->name, section);
  return section;
}

const MmConfigSection *
mm_config_section_get(const MmConfig *config, const char *name)
{
  return g_hash_table_lookup(config->sections, name);
}

gboolean
mm_config_section_is_listed(const MmConfigSection *section)
{
  return section->decl == NULL ||
         (section->decl->flags & MM_SCHEMA_EXTERNAL) == 0;
}

/* lazr.config hides a category's .master once an overlay creates a section
 * of that category from it. */
static void
hide_master(MmConfig *config, const char *category)
{
  g_autofree char *master = g_strconcat(category, ".master", NULL);
  g_hash_table_remove(config->sections, master);
}

static void
load_defaults(MmConfig *config)
{
  gsize n_rows;
  const MmConfigSchemaRow *rows = mm_config_schema_rows(&n_rows);
  GPtrArray *hidden = g_ptr_array_new_with_free_func(g_free);

  for (gsize i = 0; i < n_rows; i++) {
    const MmConfigSchemaRow *row = &rows[i];
    if (g_str_has_suffix(row->section, ".template"))
      continue; /* a template is not a section (lazr.config) */
    g_autofree char *category = category_of(row->section);
    const char *template = mm_config_schema_template(category);

    if (row->key == NULL) {
      g_assert(!g_hash_table_contains(config->sections, row->section));
      gboolean is_template =
          template != NULL && strcmp(template, row->section) == 0;
      section_new(config, row->section, row,
                  is_template ? row->section : template);
      if (row->flags & MM_SCHEMA_OVERLAY)
        g_ptr_array_add(hidden, g_strdup(category));
      continue;
    }

    MmConfigSection *section =
        g_hash_table_lookup(config->sections, row->section);
    g_assert(section != NULL); /* declared before its keys */
    const MmConfigSchemaRow *type_row =
        mm_config_schema_lookup(row->section, row->key);
    g_assert(type_row != NULL);
    /* An override row (SET) must name a key its template declares. */
    g_assert(type_row == row || row->help == NULL);
    g_hash_table_replace(section->values, g_strdup(row->key),
                         value_new_default(type_row, row->value));
  }
  for (guint i = 0; i < hidden->len; i++)
    hide_master(config, hidden->pdata[i]);
  g_ptr_array_unref(hidden);
}

/* ---- Applying files ------------------------------------------------- */

static void
warn(MmConfig *config, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
warn(MmConfig *config, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  g_ptr_array_add(config->warnings, g_strdup_vprintf(format, args));
  va_end(args);
}

/* "FILE:LINE: " for a value a file supplied, "" for a default. */
static char *
where(const MmConfig *config, const MmConfigValue *value)
{
  if (value == NULL || value->origin < 0)
    return g_strdup("");
  return g_strdup_printf("%s:%d: ",
                         (const char *)config->origins->pdata[value->origin],
                         value->line);
}

/* ConfigParser (not Raw) reads the `[mta] configuration` file in Mailman,
 * so "%%" there means "%".  Interpolation proper ("%(name)s") is not
 * supported; a stray '%' is an error in Python too. */
static char *
unescape_percent(const char *text, char **reason_out)
{
  GString *out = g_string_new(NULL);
  for (const char *p = text; *p != '\0'; p++) {
    if (*p != '%') {
      g_string_append_c(out, *p);
    } else if (p[1] == '%') {
      g_string_append_c(out, '%');
      p++;
    } else {
      *reason_out = g_strdup(
          p[1] == '(' ? "%(name)s interpolation is not supported"
                      : "a lone '%' must be written '%%' in this file");
      g_string_free(out, TRUE);
      return NULL;
    }
  }
  return g_string_free(out, FALSE);
}

static gboolean
apply_item(MmConfig *config, MmConfigSection *section, const MmConfigItem *item,
           int origin, gboolean external, GError **error)
{
  const char *path = config->origins->pdata[origin];
  MmConfigValue *value = g_hash_table_lookup(section->values, item->key);

  if (value == NULL) {
    warn(config, "%s:%d: unknown key [%s] %s", path, item->line,
         section->name, item->key);
    return TRUE;
  }
  char *text;
  if (external) {
    g_autofree char *reason = NULL;
    text = unescape_percent(item->value, &reason);
    if (text == NULL) {
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE,
                  "%s:%d: [%s] %s: %s", path, item->line, section->name,
                  item->key, reason);
      return FALSE;
    }
  } else {
    text = g_strdup(item->value);
  }
  g_free(value->value);
  value->value = text;
  value->origin = origin;
  value->line = item->line;
  return TRUE;
}

/* Applies one parsed file.  @external: the `[mta] configuration` file,
 * which may only hold the external sections ([postfix], [exim4]). */
static gboolean
apply_file(MmConfig *config, const MmConfigFile *file, gboolean external,
           GError **error)
{
  int origin = (int)config->origins->len;
  g_ptr_array_add(config->origins, g_strdup(file->path));

  for (guint i = 0; i < file->sections->len; i++) {
    const MmConfigFileSection *fs = file->sections->pdata[i];
    g_autoptr(GPtrArray) items = mm_config_file_section_items(file, fs);
    const char *name = fs->name;

    if (!external && strcmp(name, "meta") == 0) {
      for (guint k = 0; k < items->len; k++) {
        const MmConfigItem *item = items->pdata[k];
        if (strcmp(item->key, "extends") != 0)
          warn(config, "%s:%d: unknown key [meta] %s", file->path,
               item->line, item->key);
      }
      continue;
    }
    if (!external && mm_config_schema_is_directive(name)) {
      warn(config,
           "%s:%d: section [%s] is a schema template; a configuration file "
           "cannot change it (ignored, as by Mailman)",
           file->path, fs->line, name);
      continue;
    }
    const char *dot = strchr(name, '.');
    if (!external && dot != NULL && strchr(dot + 1, '.') != NULL) {
      /* lazr.config's category.name split raises here. */
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX,
                  "%s:%d: section name [%s] has more than one dot",
                  file->path, fs->line, name);
      return FALSE;
    }

    MmConfigSection *section = g_hash_table_lookup(config->sections, name);
    gboolean section_external =
        section != NULL && section->decl != NULL &&
        (section->decl->flags & MM_SCHEMA_EXTERNAL) != 0;
    if (section != NULL && section_external != external)
      section = NULL;
    if (section == NULL && !external && dot != NULL && dot != name &&
        dot[1] != '\0') {
      g_autofree char *category = category_of(name);
      const char *template = mm_config_schema_template(category);
      if (template != NULL && g_str_has_suffix(template, ".master")) {
        section = section_new(config, name, NULL, template);
        hide_master(config, category);
      }
    }
    if (section == NULL) {
      warn(config, "%s:%d: unknown section [%s]", file->path, fs->line,
           name);
      continue;
    }
    for (guint k = 0; k < items->len; k++)
      if (!apply_item(config, section, items->pdata[k], origin, external,
                      error))
        return FALSE;
  }
  return TRUE;
}

static const MmConfigItem *
find_extends(const MmConfigFile *file)
{
  for (guint i = 0; i < file->sections->len; i++) {
    const MmConfigFileSection *fs = file->sections->pdata[i];
    if (strcmp(fs->name, "meta") != 0)
      continue;
    const MmConfigItem *item = g_hash_table_lookup(fs->by_key, "extends");
    if (item == NULL && file->defaults != NULL)
      item = g_hash_table_lookup(file->defaults->by_key, "extends");
    return item;
  }
  return NULL;
}

/* Reads @path and the files it extends; applies the deepest base first. */
static gboolean
load_chain(MmConfig *config, const char *path, GError **error)
{
  g_autoptr(GPtrArray) chain =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_config_file_free);
  MmConfigFile *file = mm_config_file_read(path, error);

  if (file == NULL)
    return FALSE;
  g_ptr_array_add(chain, file);
  for (;;) {
    const MmConfigItem *extends = find_extends(file);
    if (extends == NULL)
      break;
    /* lazr.config joins the name to the including file's directory.  An
     * absolute name is taken as is (lazr.config would glue it under that
     * directory, which no working site can rely on). */
    g_autofree char *dir = g_path_get_dirname(file->path);
    g_autofree char *base = g_canonicalize_filename(extends->value, dir);
    if (*extends->value == '\0') {
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX,
                  "%s:%d: [meta] extends: empty file name", file->path,
                  extends->line);
      return FALSE;
    }
    for (guint i = 0; i < chain->len; i++)
      if (strcmp(((MmConfigFile *)chain->pdata[i])->path, base) == 0) {
        g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX,
                    "%s:%d: [meta] extends: %s is already being read "
                    "(an extends loop)",
                    file->path, extends->line, base);
        return FALSE;
      }
    if (chain->len > MM_CONFIG_MAX_EXTENDS) {
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX,
                  "%s:%d: [meta] extends: more than %d files deep",
                  file->path, extends->line, MM_CONFIG_MAX_EXTENDS);
      return FALSE;
    }
    g_autoptr(GError) local = NULL;
    MmConfigFile *next = mm_config_file_read(base, &local);
    if (next == NULL) {
      if (local->code == MM_CONFIG_ERROR_NOT_FOUND)
        g_set_error(error, MM_CONFIG_ERROR, local->code,
                    "%s:%d: [meta] extends: %s", file->path, extends->line,
                    local->message);
      else
        g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    g_ptr_array_add(chain, next);
    file = next;
  }
  for (guint i = chain->len; i > 0; i--)
    if (!apply_file(config, chain->pdata[i - 1], FALSE, error))
      return FALSE;
  return TRUE;
}

static const MmConfigValue *
lookup_value(const MmConfig *config, const char *section, const char *key)
{
  const MmConfigSection *s = g_hash_table_lookup(config->sections, section);
  return s ? g_hash_table_lookup(s->values, key) : NULL;
}

/* `[mta] configuration`: Python resources of mailman.config map to the
 * built-in defaults; anything else is a file with [postfix] / [exim4]. */
static gboolean
load_mta_configuration(MmConfig *config, GError **error)
{
  static const char *const builtin[] = {
      "mailman.config.postfix", "mailman.config.exim4",
      /* Accepted because sites copy them around; they configure other
       * subsystems, so they add no [postfix] / [exim4] keys. */
      "mailman.config.passlib", "mailman.config.gunicorn",
      "mailman.config.mhonarc", "mailman.config.mail_archive",
  };
  const MmConfigValue *value = lookup_value(config, "mta", "configuration");
  const char *text = value->value;
  g_autofree char *location = where(config, value);

  if (g_str_has_prefix(text, "python:")) {
    for (gsize i = 0; i < G_N_ELEMENTS(builtin); i++)
      if (strcmp(text + 7, builtin[i]) == 0)
        return TRUE;
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE,
                "%s[mta] configuration: unknown Python resource \"%s\"; use "
                "python:mailman.config.postfix, python:mailman.config.exim4 "
                "or the path of a file",
                location, text);
    return FALSE;
  }
  if (*text == '\0') {
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE,
                "%s[mta] configuration: empty", location);
    return FALSE;
  }
  /* Mailman wants an absolute path; a relative one is taken relative to
   * the file that names it, never to whatever the current directory is. */
  g_autofree char *dir =
      value->origin >= 0
          ? g_path_get_dirname(config->origins->pdata[value->origin])
          : g_get_current_dir();
  g_autofree char *path = g_canonicalize_filename(text, dir);
  g_autoptr(GError) local = NULL;
  g_autoptr(MmConfigFile) file = mm_config_file_read(path, &local);
  if (file == NULL) {
    if (local->code == MM_CONFIG_ERROR_NOT_FOUND)
      g_set_error(error, MM_CONFIG_ERROR, local->code,
                  "%s[mta] configuration: %s", location, local->message);
    else
      g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  return apply_file(config, file, TRUE, error);
}

/* ---- Validation ----------------------------------------------------- */

typedef struct {
  const MmConfigSection *section;
  const char *key;
  MmConfigValue *value;
  char *reason;
} BadValue;

static gboolean
validate_values(MmConfig *config, GError **error)
{
  BadValue first = {0};
  GHashTableIter si;
  gpointer sdata;

  g_hash_table_iter_init(&si, config->sections);
  while (g_hash_table_iter_next(&si, NULL, &sdata)) {
    MmConfigSection *section = sdata;
    GHashTableIter vi;
    gpointer key, vdata;
    g_hash_table_iter_init(&vi, section->values);
    while (g_hash_table_iter_next(&vi, &key, &vdata)) {
      MmConfigValue *value = vdata;
      char *reason = NULL;
      if (value->origin < 0)
        continue; /* defaults were checked when built */
      if (mm_config_value_check(value->row, value->value, &value->parsed,
                                &reason))
        continue;
      /* Report the first bad value in reading order, so the message does
       * not depend on hash order. */
      if (first.value == NULL || value->origin < first.value->origin ||
          (value->origin == first.value->origin &&
           value->line < first.value->line)) {
        g_free(first.reason);
        first = (BadValue){section, key, value, reason};
      } else {
        g_free(reason);
      }
    }
  }
  if (first.value == NULL)
    return TRUE;
  g_autofree char *location = where(config, first.value);
  g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE, "%s[%s] %s: %s",
              location, first.section->name, first.key, first.reason);
  g_free(first.reason);
  return FALSE;
}

/* ARC: Mailman refuses to start when ARC is enabled without a usable key
 * or with a signature that would not cover From. */
static gboolean
validate_arc(MmConfig *config, GError **error)
{
  const MmConfigValue *enabled = lookup_value(config, "ARC", "enabled");
  if (!enabled->parsed.b)
    return TRUE;

  const MmConfigValue *headers = lookup_value(config, "ARC", "sig_headers");
  g_auto(GStrv) names = g_strsplit(headers->value, ",", -1);
  gboolean has_from = FALSE;
  for (char **n = names; *n != NULL; n++)
    has_from |= g_ascii_strcasecmp(g_strstrip(*n), "from") == 0;
  if (!has_from) {
    g_autofree char *location = where(config, headers);
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE,
                "%s[ARC] sig_headers: must include From when ARC is enabled",
                location);
    return FALSE;
  }

  const MmConfigValue *privkey = lookup_value(config, "ARC", "privkey");
  g_autofree char *key_path = g_strstrip(g_strdup(privkey->value));
  g_autofree char *location =
      where(config, privkey->origin >= 0 ? privkey : enabled);
  if (*key_path == '\0') {
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE,
                "%s[ARC] privkey: ARC is enabled but no private key is set",
                location);
    return FALSE;
  }
  g_autoptr(GError) local = NULL;
  g_autoptr(GBytes) pem = mm_file_read_bounded(key_path, 64 * 1024, &local);
  if (pem == NULL) {
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE,
                "%s[ARC] privkey: cannot read %s", location, local->message);
    return FALSE;
  }
  gsize len;
  const guchar *data = g_bytes_get_data(pem, &len);
  for (gsize i = 0; i < len; i++)
    if (data[i] >= 0x80) {
      g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE,
                  "%s[ARC] privkey: %s contains non-ASCII bytes", location,
                  key_path);
      return FALSE;
    }
  return TRUE;
}

/* ---- Path variables ------------------------------------------------- */

/* Looks a $variable up.  Returns FALSE with @error to stop; otherwise
 * TRUE with @value_out a new string, or NULL to leave the text as is. */
typedef gboolean (*LookupFunc)(gpointer data, const char *name,
                               char **value_out, GError **error);

static gboolean
is_ident_start(char c)
{
  return g_ascii_isalpha(c) || c == '_';
}

static gboolean
is_ident_char(char c)
{
  return g_ascii_isalnum(c) || c == '_';
}

/* One pass of Python's string.Template substitution: "$$", "$name",
 * "${name}"; any other '$' stays. */
static char *
substitute(const char *text, LookupFunc lookup, gpointer data, GError **error)
{
  GString *out = g_string_new(NULL);
  const char *p = text;

  while (*p != '\0') {
    if (*p != '$') {
      g_string_append_c(out, *p++);
      continue;
    }
    const char *start = p;
    const char *name = NULL;
    gsize name_len = 0;
    if (p[1] == '$') {
      g_string_append_c(out, '$');
      p += 2;
      continue;
    } else if (p[1] == '{' && is_ident_start(p[2])) {
      const char *e = p + 2;
      while (is_ident_char(*e))
        e++;
      if (*e == '}') {
        name = p + 2;
        name_len = (gsize)(e - name);
        p = e + 1;
      }
    } else if (is_ident_start(p[1])) {
      const char *e = p + 1;
      while (is_ident_char(*e))
        e++;
      name = p + 1;
      name_len = (gsize)(e - name);
      p = e;
    }
    if (name == NULL) {
      g_string_append_c(out, '$');
      p++;
      continue;
    }
    g_autofree char *var = g_strndup(name, name_len);
    char *value = NULL;
    if (!lookup(data, var, &value, error)) {
      g_string_free(out, TRUE);
      return NULL;
    }
    if (value != NULL)
      g_string_append(out, value);
    else
      g_string_append_len(out, start, p - start);
    g_free(value);
  }
  return g_string_free(out, FALSE);
}

typedef struct {
  MmConfig *config;
  const MmConfigSection *layout;
  const char *var_dir_env; /* $MAILMAN_VAR_DIR, or NULL */
  GHashTable *literal;     /* name -> value: cwd, argv, cfg_file */
  GHashTable *done;        /* name -> expanded text */
  GPtrArray *stack;        /* names being expanded, outermost first */
} PathExpander;

static char *expand_layout_key(PathExpander *x, const char *key,
                               GError **error);

static gboolean
path_lookup(gpointer data, const char *name, char **value_out, GError **error)
{
  PathExpander *x = data;
  g_autofree char *lower = g_ascii_strdown(name, -1);
  const char *literal = g_hash_table_lookup(x->literal, lower);

  if (literal != NULL) {
    *value_out = g_strdup(literal);
    return TRUE;
  }
  if (g_hash_table_contains(x->layout->values, lower)) {
    *value_out = expand_layout_key(x, lower, error);
    return *value_out != NULL;
  }
  /* Mailman keeps substituting until nothing changes and then reports an
   * expansion loop; naming the variable is more use. */
  const char *key = x->stack->pdata[x->stack->len - 1];
  const MmConfigValue *value = g_hash_table_lookup(x->layout->values, key);
  g_autofree char *location = where(x->config, value);
  g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_PATHS,
              "%s[%s] %s: unknown variable $%s", location, x->layout->name,
              key, name);
  return FALSE;
}

static char *
expand_layout_key(PathExpander *x, const char *key, GError **error)
{
  const char *done = g_hash_table_lookup(x->done, key);
  if (done != NULL)
    return g_strdup(done);

  for (guint i = 0; i < x->stack->len; i++) {
    if (strcmp(x->stack->pdata[i], key) != 0)
      continue;
    GString *loop = g_string_new(NULL);
    for (guint j = i; j < x->stack->len; j++)
      g_string_append_printf(loop, "$%s -> ",
                             (const char *)x->stack->pdata[j]);
    g_string_append_printf(loop, "$%s", key);
    const MmConfigValue *value = g_hash_table_lookup(x->layout->values, key);
    g_autofree char *location = where(x->config, value);
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_PATHS,
                "%s[%s] %s: path expansion never ends (%s)", location,
                x->layout->name, key, loop->str);
    g_string_free(loop, TRUE);
    return NULL;
  }

  const MmConfigValue *value = g_hash_table_lookup(x->layout->values, key);
  const char *raw = value->value;
  if (strcmp(key, "var_dir") == 0 && x->var_dir_env != NULL)
    raw = x->var_dir_env;
  g_ptr_array_add(x->stack, (gpointer)key);
  char *expanded = substitute(raw, path_lookup, x, error);
  g_ptr_array_remove_index(x->stack, x->stack->len - 1);
  if (expanded != NULL)
    g_hash_table_insert(x->done, g_strdup(key), g_strdup(expanded));
  return expanded;
}

static char *
running_binary_dir(void)
{
  /* Mailman's $argv is the directory of the Python interpreter; ours is
   * the directory of this program. */
  g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
  if (exe == NULL)
    return g_get_current_dir();
  return g_path_get_dirname(exe);
}

static gboolean
expand_paths(MmConfig *config, GError **error)
{
  const MmConfigValue *layout = lookup_value(config, "mailman", "layout");
  g_autofree char *section_name = g_strconcat("paths.", layout->value, NULL);
  const MmConfigSection *section =
      g_hash_table_lookup(config->sections, section_name);

  if (section == NULL || strcmp(layout->value, "master") == 0) {
    g_autofree char *location = where(config, layout);
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_PATHS,
                "%s[mailman] layout: no [paths.%s] section for layout "
                "\"%s\"",
                location, layout->value, layout->value);
    return FALSE;
  }

  g_autofree char *cwd = g_get_current_dir();
  PathExpander x = {
      .config = config,
      .layout = section,
      .literal = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free),
      .done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
      .stack = g_ptr_array_new(),
  };
  const char *env = g_getenv("MAILMAN_VAR_DIR");
  x.var_dir_env = (env != NULL && *env != '\0') ? env : NULL;
  g_hash_table_insert(x.literal, "cwd", g_strdup(cwd));
  g_hash_table_insert(x.literal, "argv", running_binary_dir());
  if (config->file != NULL)
    g_hash_table_insert(x.literal, "cfg_file", g_strdup(config->file));

  gboolean ok = TRUE;
  gpointer key, data;
  /* In key order, so that which error is reported does not depend on hash
   * order. */
  g_autoptr(GList) keys = g_hash_table_get_keys(section->values);
  keys = g_list_sort(keys, (GCompareFunc)strcmp);
  for (GList *k = keys; ok && k != NULL; k = k->next) {
    key = k->data;
    const MmConfigValue *value = g_hash_table_lookup(section->values, key);
    g_autofree char *expanded = NULL;
    if (strcmp(key, "template_dir") == 0 &&
        strcmp(value->value, ":source:") == 0) {
      /* Mailman's in-tree templates; we have no Python package tree. */
      g_autofree char *location = where(config, value);
      warn(config,
           "%s[%s] template_dir: \":source:\" (Mailman's in-tree templates) "
           "is not available here; using $var_dir/templates",
           location, section->name);
      g_autofree char *var_dir = expand_layout_key(&x, "var_dir", error);
      if (var_dir == NULL) {
        ok = FALSE;
        break;
      }
      expanded = g_build_filename(var_dir, "templates", NULL);
    } else {
      expanded = expand_layout_key(&x, key, error);
      if (expanded == NULL) {
        ok = FALSE;
        break;
      }
    }
    /* os.path.abspath: relative to the current directory, normalised
     * lexically ("$cfg_file/../.." relies on that). */
    g_hash_table_insert(config->paths, g_strdup(key),
                        g_canonicalize_filename(expanded, cwd));
  }
  if (ok) {
    GHashTableIter li;
    g_hash_table_iter_init(&li, x.literal);
    while (g_hash_table_iter_next(&li, &key, &data))
      g_hash_table_insert(config->paths, g_strdup(key),
                          g_canonicalize_filename(data, cwd));
  }
  g_hash_table_unref(x.literal);
  g_hash_table_unref(x.done);
  g_ptr_array_unref(x.stack);
  return ok;
}

/* ---- Load ----------------------------------------------------------- */

MmConfig *
mm_config_load(const char *path, GError **error)
{
  g_autoptr(MmConfig) config = g_new0(MmConfig, 1);
  config->warnings = g_ptr_array_new_with_free_func(g_free);
  config->origins = g_ptr_array_new_with_free_func(g_free);
  config->sections =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, section_free);
  config->paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        g_free);

  load_defaults(config);
  if (path != NULL) {
    config->file = g_canonicalize_filename(path, NULL);
    if (!load_chain(config, config->file, error))
      return NULL;
  }
  if (!load_mta_configuration(config, error) ||
      !validate_values(config, error) || !expand_paths(config, error) ||
      !validate_arc(config, error))
    return NULL;

  const char *incoming = lookup_value(config, "mta", "incoming")->parsed.e;
  if (strcmp(incoming, "mailman.mta.exim4.LMTP") == 0)
    config->mta_kind = MM_MTA_EXIM4;
  else if (strcmp(incoming, "mailman.mta.null.NullMTA") == 0)
    config->mta_kind = MM_MTA_NULL;
  else if (strcmp(incoming, "mailman_c.mta.sendmail") == 0)
    config->mta_kind = MM_MTA_SENDMAIL;
  else
    config->mta_kind = MM_MTA_POSTFIX;
  return g_steal_pointer(&config);
}

void
mm_config_free(MmConfig *config)
{
  if (config == NULL)
    return;
  g_clear_pointer(&config->sections, g_hash_table_unref);
  g_clear_pointer(&config->paths, g_hash_table_unref);
  g_clear_pointer(&config->warnings, g_ptr_array_unref);
  g_clear_pointer(&config->origins, g_ptr_array_unref);
  g_free(config->file);
  g_free(config);
}

/* ---- Finding the file ----------------------------------------------- */

/* Python's os.path.dirname. */
static char *
py_dirname(const char *path)
{
  const char *slash = strrchr(path, '/');
  if (slash == NULL)
    return g_strdup("");
  gsize len = (gsize)(slash - path) + 1;
  gsize only_slashes = 0;
  while (only_slashes < len && path[only_slashes] == '/')
    only_slashes++;
  if (only_slashes < len)
    while (len > 0 && path[len - 1] == '/')
      len--;
  return g_strndup(path, len);
}

static char *
existing_file(const char *path, const char *from, GError **error)
{
  struct stat st;

  if (stat(path, &st) < 0) {
    int saved = errno;
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND,
                "configuration file %s (%s): %s", path, from,
                g_strerror(saved));
    return NULL;
  }
  if (S_ISDIR(st.st_mode)) {
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND,
                "configuration file %s (%s) is a directory", path, from);
    return NULL;
  }
  /* click's resolve_path: the real path. */
  char *real = realpath(path, NULL);
  if (real == NULL)
    return g_canonicalize_filename(path, NULL);
  char *result = g_strdup(real);
  free(real);
  return result;
}

char *
mm_config_find(const char *explicit_path, const char *argv0, GError **error)
{
  if (explicit_path != NULL)
    return existing_file(explicit_path, "-C", error);
  const char *env = g_getenv("MAILMAN_CONFIG_FILE");
  if (env != NULL && *env != '\0')
    return existing_file(env, "$MAILMAN_CONFIG_FILE", error);

  g_autoptr(GPtrArray) candidates = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(candidates, g_strdup("mailman.cfg"));
  g_ptr_array_add(candidates, g_build_filename("var", "etc", "mailman.cfg",
                                               NULL));
  const char *home = g_getenv("HOME");
  if (home != NULL)
    g_ptr_array_add(candidates, g_build_filename(home, ".mailman.cfg", NULL));
  g_ptr_array_add(candidates, g_strdup("/etc/mailman.cfg"));
  g_ptr_array_add(candidates, g_strdup("/etc/mailman3/mailman.cfg"));
  if (argv0 != NULL) {
    g_autofree char *bindir = py_dirname(argv0);
    g_autofree char *parent = py_dirname(bindir);
    g_ptr_array_add(candidates,
                    *parent ? g_build_filename(parent, "etc", "mailman.cfg",
                                               NULL)
                            : g_strdup("etc/mailman.cfg"));
  }
  for (guint i = 0; i < candidates->len; i++)
    if (g_file_test(candidates->pdata[i], G_FILE_TEST_EXISTS))
      return g_canonicalize_filename(candidates->pdata[i], NULL);
  return NULL;
}

/* ---- Getters -------------------------------------------------------- */

const char *
mm_config_file(const MmConfig *config)
{
  return config->file;
}

const GPtrArray *
mm_config_warnings(const MmConfig *config)
{
  return config->warnings;
}

const char *
mm_config_get(const MmConfig *config, const char *section, const char *key)
{
  const MmConfigValue *value = lookup_value(config, section, key);
  return value ? value->value : NULL;
}

static const MmConfigValue *
typed_value(const MmConfig *config, const char *section, const char *key,
            MmConfigType type)
{
  const MmConfigValue *value = lookup_value(config, section, key);
  if (value == NULL)
    g_error("config: no key [%s] %s", section, key);
  if (value->row->type != type)
    g_error("config: [%s] %s is not of the type asked for", section, key);
  return value;
}

gboolean
mm_config_get_bool(const MmConfig *config, const char *section,
                   const char *key)
{
  return typed_value(config, section, key, MM_CONFIG_TYPE_BOOL)->parsed.b;
}

gint64
mm_config_get_int(const MmConfig *config, const char *section,
                  const char *key)
{
  return typed_value(config, section, key, MM_CONFIG_TYPE_INT)->parsed.i;
}

gint64
mm_config_get_duration_usec(const MmConfig *config, const char *section,
                            const char *key)
{
  return typed_value(config, section, key, MM_CONFIG_TYPE_DURATION)->parsed.i;
}

const char *
mm_config_get_enum(const MmConfig *config, const char *section,
                   const char *key)
{
  return typed_value(config, section, key, MM_CONFIG_TYPE_ENUM)->parsed.e;
}

const char *
mm_config_path(const MmConfig *config, const char *name)
{
  return g_hash_table_lookup(config->paths, name);
}

MmMtaKind
mm_config_mta_kind(const MmConfig *config)
{
  return config->mta_kind;
}

typedef struct {
  const MmConfig *config;
  const char *const *extra;
} ExpandContext;

static gboolean
expand_lookup(gpointer data, const char *name, char **value_out,
              GError **error)
{
  ExpandContext *ctx = data;

  for (const char *const *e = ctx->extra; e != NULL && e[0] != NULL && e[1];
       e += 2)
    if (strcmp(e[0], name) == 0) {
      *value_out = g_strdup(e[1]);
      return TRUE;
    }
  g_autofree char *lower = g_ascii_strdown(name, -1);
  const char *path = g_hash_table_lookup(ctx->config->paths, lower);
  *value_out = g_strdup(path);
  return TRUE;
}

char *
mm_config_expand(const MmConfig *config, const char *text,
                 const char *const *extra)
{
  ExpandContext ctx = {config, extra};
  return substitute(text, expand_lookup, &ctx, NULL);
}

char *
mm_config_database_path(const MmConfig *config, GError **error)
{
  const MmConfigValue *url = lookup_value(config, "database", "url");
  g_autofree char *location = where(config, url);
  g_autofree char *expanded = mm_config_expand(config, url->value, NULL);
  static const char prefix[] = "sqlite:///";

  if (!g_str_has_prefix(expanded, prefix)) {
    const char *colon = strchr(expanded, ':');
    g_autofree char *scheme =
        colon ? g_strndup(expanded, (gsize)(colon - expanded))
              : g_strdup(expanded);
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_PATHS,
                "%s[database] url: scheme \"%s\" is not supported; this "
                "build supports SQLite only for now (sqlite:///PATH)",
                location, scheme);
    return NULL;
  }
  const char *file = expanded + strlen(prefix);
  if (*file != '/' || strchr(file, '?') != NULL) {
    g_set_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_PATHS,
                "%s[database] url: \"%s\" does not name an absolute file "
                "(want sqlite:////absolute/path, e.g. "
                "sqlite:///$DATA_DIR/mailman.db)",
                location, expanded);
    return NULL;
  }
  return g_canonicalize_filename(file, NULL);
}

/* ---- Start-up side effects ------------------------------------------ */

static const char stub_text[] =
    "# mailman.cfg: this site's settings for the Mailman core.\n"
    "#\n"
    "# Written once, at first start, because no file was here; nothing\n"
    "# rewrites it afterwards.  Every setting has a built-in default, and\n"
    "# `mailman conf` prints the values in effect.  Add only what you want\n"
    "# to change, in sections as `mailman conf` shows them; for instance,\n"
    "# to send every message to one test address:\n"
    "#\n"
    "# [devmode]\n"
    "# enabled: yes\n"
    "# recipient: you@example.org\n";

gboolean
mm_config_ensure_dirs(const MmConfig *config, GError **error)
{
  /* Mailman's initialize_1: owner and group share everything, others get
   * nothing. */
  umask(007);

  g_autoptr(GList) keys = g_hash_table_get_keys(config->paths);
  keys = g_list_sort(keys, (GCompareFunc)strcmp);
  for (GList *k = keys; k != NULL; k = k->next) {
    const char *key = k->data;
    /* Mailman's DIR_NAMES leave ext_dir out; it only names a place. */
    if (!g_str_has_suffix(key, "_dir") || strcmp(key, "ext_dir") == 0)
      continue;
    if (!mm_mkdir_p(g_hash_table_lookup(config->paths, key), 02770, error))
      return FALSE;
  }

  g_autofree char *stub =
      g_build_filename(mm_config_path(config, "etc_dir"), "mailman.cfg",
                       NULL);
  if (g_file_test(stub, G_FILE_TEST_EXISTS))
    return TRUE;
  /* XXX: two processes starting at once may both write the stub; the
   * content is the same and the write is atomic, so either wins. */
  return mm_file_write_atomic(stub, stub_text, sizeof stub_text - 1, 0660,
                              error);
}

gboolean
mm_config_setup_logging(const MmConfig *config, GError **error)
{
  g_auto(GStrv) names = mm_config_section_names(config, "logging");
  const char *log_dir = mm_config_path(config, "log_dir");

  for (char **name = names; *name != NULL; name++) {
    g_autofree char *section = g_strconcat("logging.", *name, NULL);
    const MmConfigValue *level = lookup_value(config, section, "level");
    const char *path = mm_config_get(config, section, "path");
    g_autofree char *file = NULL;

    /* Mailman's root logger writes to stderr (logging.basicConfig); the
     * others to normpath(join(LOG_DIR, path)). */
    if (strcmp(*name, "root") != 0) {
      g_autofree char *joined = g_build_filename(log_dir, path, NULL);
      file = g_path_is_absolute(path) ? g_canonicalize_filename(path, NULL)
                                      : g_canonicalize_filename(joined, NULL);
    }
    if (!mm_log_configure(*name, file, (MmLogLevel)level->parsed.i, error))
      return FALSE;
  }
  return TRUE;
}
