/* mailman.cfg: find it, read it as Mailman 3 does, validate it, answer.
 *
 * Mailman 3 reads lazr.config files: INI sections, "key: value" or
 * "key = value", indented continuation lines, #/; comments, category
 * sections ([runner.NAME], [archiver.NAME], [logging.NAME], [paths.NAME],
 * [language.NAME], [plugin.NAME]) that inherit the keys and defaults of their
 * template section ([runner.master], [logging.template], ...).  The built-in
 * defaults are one schema table (config-schema.c) equal to Mailman 3's
 * schema.cfg plus its built-in mailman.cfg overlay, for every section this
 * project uses; the user's file is layered on top.
 *
 * Everything is parsed and type-checked once, at load: a bad value stops
 * start-up with "FILE:LINE: [section] key: reason"; an unknown key or
 * section is a warning (mm_config_warnings()), since Mailman ignores them.
 * After load the configuration is immutable: hand out `const MmConfig *`.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#define MM_CONFIG_ERROR (mm_config_error_quark())
GQuark mm_config_error_quark(void);

typedef enum {
  MM_CONFIG_ERROR_NOT_FOUND, /* an explicitly named file does not exist */
  MM_CONFIG_ERROR_SYNTAX,    /* a line that is not a section, key or comment */
  MM_CONFIG_ERROR_VALUE,     /* a value of the wrong type or out of range */
  MM_CONFIG_ERROR_PATHS,     /* $variable expansion that does not terminate,
                                unknown layout */
} MmConfigError;

typedef struct MmConfig MmConfig;

/* Which `[mta] incoming` implementation the site selected.  The Python class
 * names a Mailman site already has map onto these. */
typedef enum {
  MM_MTA_POSTFIX,  /* mailman.mta.postfix.LMTP */
  MM_MTA_EXIM4,    /* mailman.mta.exim4.LMTP */
  MM_MTA_SENDMAIL, /* ours: mailman_c.mta.sendmail (no Mailman equivalent) */
  MM_MTA_NULL,     /* mailman.mta.null.NullMTA */
} MmMtaKind;

/* Finds the configuration file the way Mailman does: @explicit_path (from
 * -C; must exist), else $MAILMAN_CONFIG_FILE, else the first existing of
 * ./mailman.cfg, ./var/etc/mailman.cfg, ~/.mailman.cfg, /etc/mailman.cfg,
 * /etc/mailman3/mailman.cfg, <dir of @argv0>/../etc/mailman.cfg.  Returns an
 * absolute path (transfer full), or NULL with no error when none exists
 * (built-in defaults only), or NULL with @error when @explicit_path or the
 * environment names a missing file. */
char *mm_config_find(const char *explicit_path, const char *argv0,
                     GError **error);

/* Loads built-in defaults and, when @path is not NULL, the file on top
 * (with its [meta] extends: chain, and the file named by
 * `[mta] configuration`, which supplies [postfix] / [exim4] keys; the
 * Python resource names python:mailman.config.postfix / .exim4 select the
 * built-in defaults).  $MAILMAN_VAR_DIR overrides the layout's var_dir.
 * Returns the configuration (transfer full) or NULL with @error. */
MmConfig *mm_config_load(const char *path, GError **error);

void mm_config_free(MmConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmConfig, mm_config_free)

/* The file loaded, absolute, or NULL for defaults only.  Borrowed. */
const char *mm_config_file(const MmConfig *config);

/* Warnings collected while loading ("FILE:LINE: unknown key [mta] foo"),
 * each a string owned by the configuration. */
const GPtrArray *mm_config_warnings(const MmConfig *config);

/* The effective raw value of [section] key, continuation lines joined with
 * "\n", or NULL if the section or key does not exist.  Borrowed. */
const char *mm_config_get(const MmConfig *config, const char *section,
                          const char *key);

/* Typed getters for keys the schema declares with that type.  Asking for an
 * undeclared key or the wrong type is a programming error (g_assert), since
 * every value was validated at load. */
gboolean mm_config_get_bool(const MmConfig *config, const char *section,
                            const char *key);
gint64 mm_config_get_int(const MmConfig *config, const char *section,
                         const char *key);
/* Durations ("1w2d3h4m5.5s", "15m", "90", ...) in microseconds. */
gint64 mm_config_get_duration_usec(const MmConfig *config, const char *section,
                                   const char *key);

/* The selected layout's path @name ("var_dir", "queue_dir", "log_dir",
 * "lock_dir", "data_dir", "list_data_dir", "messages_dir", "etc_dir",
 * "cache_dir", "template_dir", "archive_dir", "ext_dir", "bin_dir",
 * "pid_file", "lock_file"), with every $variable expanded; absolute.
 * Borrowed.  NULL for an unknown name. */
const char *mm_config_path(const MmConfig *config, const char *name);

/* Expands $var / ${var} path variables ($var_dir, $queue_dir, $QUEUE_DIR,
 * ..., $cwd, $cfg_file, and the extra pairs in @extra, NULL-terminated
 * name/value list, e.g. {"name", "in", NULL}) in @text.  Returns a new
 * string. */
char *mm_config_expand(const MmConfig *config, const char *text,
                       const char *const *extra);

/* Names (after the dot) of the existing sections of @category ("runner",
 * "logging", "archiver", "language", ...), sorted, excluding the template
 * ("master"/"template").  Returns a NULL-terminated vector (transfer full). */
char **mm_config_section_names(const MmConfig *config, const char *category);

/* The SQLite database file from [database] url (sqlite:///PATH with $VARS
 * expanded).  Returns a new string, or NULL with @error for a URL this
 * build cannot open. */
char *mm_config_database_path(const MmConfig *config, GError **error);

/* The MTA selected by [mta] incoming. */
MmMtaKind mm_config_mta_kind(const MmConfig *config);

/* Creates every *_dir of the layout (mode 02770 under umask 007, as
 * Mailman), and writes a commented stub $etc_dir/mailman.cfg if none
 * exists. */
gboolean mm_config_ensure_dirs(const MmConfig *config, GError **error);

/* Points each [logging.NAME] logger at its file (path relative to log_dir)
 * and level. */
gboolean mm_config_setup_logging(const MmConfig *config, GError **error);

/* Appends what `mailman conf` prints to @out: every "[section] key: value"
 * line sorted by section then key, limited to @section and/or @key when not
 * NULL; just the value when both are given.  Returns FALSE with @error
 * (MM_CONFIG_ERROR_NOT_FOUND) for an unknown section or key. */
gboolean mm_config_dump(const MmConfig *config, const char *section,
                        const char *key, GString *out, GError **error);
