/* mailman.cfg: find it, read it as Mailman 3 does, validate it, answer.
 *
 * Mailman 3 reads lazr.config files: INI sections, "key: value" or
 * "key = value", indented continuation lines, #/; comments, category
 * sections ([runner.NAME], [archiver.NAME], [logging.NAME], [paths.NAME],
 * [language.NAME], [plugin.NAME]) that inherit the keys and defaults of their
 * template section ([runner.master], [logging.template], ...).  The built-in
 * defaults are one schema table (config-schema.c) equal to Mailman 3's
 * schema.cfg plus its built-in mailman.cfg overlay, for every section this
 * project uses; the user's file is layered on top.  As in lazr.config, a
 * user file may create new sections only in the categories whose template is
 * a ".master" section (paths, runner, archiver, language, plugin); a new
 * [logging.NAME] is an unknown section, as it is to Mailman.
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
  MM_CONFIG_ERROR_NOT_FOUND, /* an explicitly named file does not exist, or
                                cannot be read; no such section or key */
  MM_CONFIG_ERROR_SYNTAX,    /* a line that is not a section, key or comment;
                                non-ASCII; a file or line over the bounds */
  MM_CONFIG_ERROR_VALUE,     /* a value of the wrong type or out of range */
  MM_CONFIG_ERROR_PATHS,     /* $variable expansion that does not terminate,
                                unknown layout, unsupported database URL */
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
 * -C; must exist and not be a directory), else $MAILMAN_CONFIG_FILE when set
 * and not empty (must exist, as click's -C envvar), else the first existing
 * of ./mailman.cfg, ./var/etc/mailman.cfg, $HOME/.mailman.cfg,
 * /etc/mailman.cfg, /etc/mailman3/mailman.cfg, and
 * dirname(dirname(@argv0))/etc/mailman.cfg (Python's dirname; @argv0 may be
 * NULL).  Returns an absolute path (transfer full), or NULL with no error
 * when none exists (built-in defaults only), or NULL with @error
 * (MM_CONFIG_ERROR_NOT_FOUND) when @explicit_path or the environment names a
 * missing file. */
char *mm_config_find(const char *explicit_path, const char *argv0,
                     GError **error);

/* Loads built-in defaults and, when @path is not NULL, the file on top
 * (with its [meta] extends: chain, at most 8 deep, and the file named by
 * `[mta] configuration`, which supplies [postfix] / [exim4] keys; the
 * Python resource names python:mailman.config.postfix / .exim4 select the
 * built-in defaults).  Each file is at most 1 MiB, each line at most 16 KiB,
 * and must be ASCII.  $MAILMAN_VAR_DIR overrides the layout's var_dir.
 * Returns the configuration (transfer full) or NULL with @error; the message
 * starts with "FILE:LINE: " whenever a line is to blame. */
MmConfig *mm_config_load(const char *path, GError **error);

void mm_config_free(MmConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmConfig, mm_config_free)

/* The file loaded, absolute, or NULL for defaults only.  Borrowed. */
const char *mm_config_file(const MmConfig *config);

/* Warnings collected while loading ("FILE:LINE: unknown key [mta] foo",
 * "FILE:LINE: unknown section [foo]"), each a string owned by the
 * configuration.  Never NULL. */
const GPtrArray *mm_config_warnings(const MmConfig *config);

/* The effective raw value of [section] key, continuation lines joined with
 * "\n" (a value whose first line is empty starts with "\n", as in Mailman),
 * or NULL if the section or key does not exist.  Borrowed. */
const char *mm_config_get(const MmConfig *config, const char *section,
                          const char *key);

/* Typed getters for keys the schema declares with that type.  Asking for an
 * undeclared key or the wrong type is a programming error (g_assert), since
 * every value was validated at load.  An empty value, which the schema
 * allows only for a few keys ([nntp] port), reads as 0. */
gboolean mm_config_get_bool(const MmConfig *config, const char *section,
                            const char *key);
gint64 mm_config_get_int(const MmConfig *config, const char *section,
                         const char *key);
/* Durations (lazr.config's as_timedelta: "1w2d3h4m5.5s", "15m", "1.5s";
 * a bare number is not a duration) in microseconds. */
gint64 mm_config_get_duration_usec(const MmConfig *config, const char *section,
                                   const char *key);
/* For keys of enumerated type ([mta] smtp_secure_mode, [postfix]
 * transport_file_type, [archiver.*] clobber_date, [mta] incoming, ...): the
 * schema's spelling of the choice the value names (so "STARTTLS" reads as
 * "starttls").  Borrowed, static. */
const char *mm_config_get_enum(const MmConfig *config, const char *section,
                               const char *key);

/* Value parsers with Mailman's rules, for settings that arrive by other
 * roads (REST, list settings).  Each returns FALSE for text Mailman would
 * refuse.  Booleans: yes/no, true/false, on/off, 1/0, enable(d)/disable(d),
 * any case.  Durations: lazr.config's as_timedelta, in microseconds. */
gboolean mm_config_parse_bool(const char *text, gboolean *value_out);
gboolean mm_config_parse_duration_usec(const char *text, gint64 *usec_out);

/* The selected layout's path @name ("var_dir", "queue_dir", "log_dir",
 * "lock_dir", "data_dir", "list_data_dir", "messages_dir", "etc_dir",
 * "cache_dir", "template_dir", "archive_dir", "ext_dir", "bin_dir",
 * "pid_file", "lock_file"), with every $variable expanded; absolute and
 * normalised.  "cwd", "argv" (this program's directory) and "cfg_file"
 * (NULL without a file) answer too.  Borrowed.  NULL for an unknown name. */
const char *mm_config_path(const MmConfig *config, const char *name);

/* Expands $var / ${var} path variables ($var_dir, $queue_dir, $QUEUE_DIR,
 * ..., $cwd, $argv, $cfg_file, and the extra pairs in @extra, NULL-terminated
 * name/value list, e.g. {"name", "in", NULL}, which are looked up first and
 * by exact name) in @text, once, like Python's Template.safe_substitute:
 * "$$" is "$", an unknown variable is left as written.  Path variables match
 * in any case.  Returns a new string. */
char *mm_config_expand(const MmConfig *config, const char *text,
                       const char *const *extra);

/* Names (after the dot) of the existing sections of @category ("runner",
 * "logging", "archiver", "language", ...), sorted, excluding the template
 * ("master"/"template").  Returns a NULL-terminated vector (transfer full),
 * empty for an unknown category. */
char **mm_config_section_names(const MmConfig *config, const char *category);

/* The SQLite database file from [database] url (sqlite:///PATH with $VARS
 * expanded; PATH must come out absolute).  Returns a new string, or NULL
 * with @error (MM_CONFIG_ERROR_PATHS) for a URL this build cannot open
 * (postgresql://, mysql://, ...: this build supports SQLite only). */
char *mm_config_database_path(const MmConfig *config, GError **error);

/* The MTA selected by [mta] incoming. */
MmMtaKind mm_config_mta_kind(const MmConfig *config);

/* Sets the process umask to 007 (as Mailman's start-up does), creates every
 * *_dir of the layout that Mailman creates (all but ext_dir) with mode
 * 02770, and writes a commented stub $etc_dir/mailman.cfg if none exists. */
gboolean mm_config_ensure_dirs(const MmConfig *config, GError **error);

/* Points each [logging.NAME] logger at its file (path relative to log_dir
 * unless absolute) and level.  [logging.root] goes to stderr, as Mailman's
 * root logger does. */
gboolean mm_config_setup_logging(const MmConfig *config, GError **error);

/* Appends what `mailman conf` prints to @out: every "[section] key: value"
 * line (a multi-line value printed as is) sorted by section then key,
 * limited to @section and/or @key when not NULL; just the value and a
 * newline when both are given.  Returns FALSE with @error
 * (MM_CONFIG_ERROR_NOT_FOUND, "No such section: S" or "Section S: No such
 * key: K") for an unknown section, or an unknown key of a given section;
 * a @key alone that no section has prints nothing, as in Mailman. */
gboolean mm_config_dump(const MmConfig *config, const char *section,
                        const char *key, GString *out, GError **error);
