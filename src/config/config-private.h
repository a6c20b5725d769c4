/* Internals shared by the files of the config module; nothing outside
 * src/config/ includes this.
 *
 * config-schema.c  the schema table (every default) and the value types;
 * config-parse.c   the lazr.config / RawConfigParser file reader;
 * config.c         load (layering, validation, paths), getters, find;
 * config-dump.c    `mailman conf` output and section listings.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "config.h"

/* Bounds on what we read: Mailman has none; ours keep a corrupt or hostile
 * file from costing more than a moment.  A real mailman.cfg is a few KiB. */
#define MM_CONFIG_MAX_FILE_SIZE (1024 * 1024)
#define MM_CONFIG_MAX_LINE 16384
#define MM_CONFIG_MAX_EXTENDS 8

/* ---- Schema (config-schema.c) ---------------------------------------- */

typedef enum {
  MM_CONFIG_TYPE_STRING,   /* anything */
  MM_CONFIG_TYPE_BOOL,     /* lazr.config as_boolean */
  MM_CONFIG_TYPE_INT,      /* Python int(), within [min, max] */
  MM_CONFIG_TYPE_DURATION, /* lazr.config as_timedelta */
  MM_CONFIG_TYPE_LOGLEVEL, /* a Python logging level name */
  MM_CONFIG_TYPE_ENUM,     /* one of `choices` */
  MM_CONFIG_TYPE_PATH,     /* a string with $variables, expanded for the
                              selected layout only */
} MmConfigType;

typedef enum {
  MM_SCHEMA_ICASE = 1 << 0,    /* ENUM: compare case-insensitively */
  MM_SCHEMA_EMPTY_OK = 1 << 1, /* an empty value is allowed (reads as 0) */
  MM_SCHEMA_POW2 = 1 << 2,     /* INT: must be a power of two */
  /* Section rows only: */
  MM_SCHEMA_OVERLAY = 1 << 3,  /* created by Mailman's built-in mailman.cfg
                                  rather than schema.cfg; like a user file,
                                  it hides its category's .master section */
  MM_SCHEMA_EXTERNAL = 1 << 4, /* lives in the `[mta] configuration` file,
                                  not in mailman.cfg (never dumped) */
} MmSchemaFlags;

/* One row of the schema.  A row with key == NULL declares a section; every
 * section is declared before its keys.  Sections "CAT.master" and
 * "CAT.template" are templates: each section "CAT.NAME" starts with their
 * keys and defaults, and a key row of such a section overrides the default
 * only (type, bounds and choices always come from the template row). */
typedef struct {
  const char *section;
  const char *key;
  MmConfigType type;
  const char *value; /* the default, as Mailman's parser yields it */
  gint64 min, max;   /* INT */
  const char *choices; /* ENUM: "a|b|c" */
  unsigned flags;      /* MmSchemaFlags */
  const char *help;    /* one line; NULL in rows that only override */
} MmConfigSchemaRow;

const MmConfigSchemaRow *mm_config_schema_rows(gsize *n_rows_out);

/* The template row describing key @key of section @section: the section's
 * own row, else its category template's.  NULL if the schema has none. */
const MmConfigSchemaRow *mm_config_schema_lookup(const char *section,
                                                 const char *key);

/* The declaring row of @section (key == NULL), or NULL. */
const MmConfigSchemaRow *mm_config_schema_section(const char *section);

/* "CAT.master" or "CAT.template" if the schema has a template for @category,
 * else NULL.  Static. */
const char *mm_config_schema_template(const char *category);

/* TRUE if @name ends in ".master", ".template" or ".optional": lazr.config
 * treats such sections in a configuration file as schema directives. */
gboolean mm_config_schema_is_directive(const char *name);

/* Parsed form of a validated value. */
typedef union {
  gboolean b;
  gint64 i;      /* INT, DURATION (usec), LOGLEVEL (MmLogLevel) */
  const char *e; /* ENUM: the choice as the schema spells it (interned) */
} MmConfigParsed;

/* Checks @text against @row's type.  Returns TRUE with @parsed_out filled,
 * or FALSE with @reason_out (transfer full) saying why, in words for a
 * site administrator. */
gboolean mm_config_value_check(const MmConfigSchemaRow *row, const char *text,
                               MmConfigParsed *parsed_out, char **reason_out);

/* ---- File reader (config-parse.c) ----------------------------------- */

typedef struct {
  char *key;   /* case-folded */
  char *value; /* continuation lines joined with "\n", trailing space cut */
  int line;    /* of the key */
} MmConfigItem;

typedef struct {
  char *name; /* as written between the brackets */
  int line;   /* of its first header */
  GPtrArray *items;   /* MmConfigItem*, first appearance order */
  GHashTable *by_key; /* key -> MmConfigItem* (borrowed) */
} MmConfigFileSection;

typedef struct {
  char *path;
  GPtrArray *sections;     /* MmConfigFileSection*, first appearance order,
                              without [DEFAULT] */
  MmConfigFileSection *defaults; /* [DEFAULT], or NULL */
} MmConfigFile;

/* Parses @len bytes of @text read from @path with Python's RawConfigParser
 * rules (strict=False, as lazr.config uses it).  Returns the file (transfer
 * full) or NULL with MM_CONFIG_ERROR_SYNTAX and "PATH:LINE: reason". */
MmConfigFile *mm_config_file_parse(const char *path, const char *text,
                                   gsize len, GError **error);

/* Reads (bounded) and parses @path.  A missing or unreadable file is
 * MM_CONFIG_ERROR_NOT_FOUND. */
MmConfigFile *mm_config_file_read(const char *path, GError **error);

void mm_config_file_free(MmConfigFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmConfigFile, mm_config_file_free)

/* The effective items of @section: [DEFAULT]'s, then the section's own
 * (which win), as RawConfigParser.items() returns them.  Returns a new array
 * of borrowed items. */
GPtrArray *mm_config_file_section_items(const MmConfigFile *file,
                                        const MmConfigFileSection *section);

/* ---- The loaded configuration (config.c) ----------------------------- */

typedef struct {
  char *value;
  const MmConfigSchemaRow *row; /* type information (template row) */
  MmConfigParsed parsed;
  int origin; /* index into MmConfig.origins; -1 for built-in */
  int line;
} MmConfigValue;

typedef struct {
  char *name;
  const MmConfigSchemaRow *decl; /* schema declaration; NULL if created by a
                                    file from a .master template */
  GHashTable *values;            /* key -> MmConfigValue* */
} MmConfigSection;

struct MmConfig {
  char *file;          /* absolute, or NULL */
  GPtrArray *warnings; /* char* */
  GPtrArray *origins;  /* char*: files that supplied values */
  GHashTable *sections; /* name -> MmConfigSection* */
  GHashTable *paths;    /* lower-case variable -> absolute value: the
                           layout's *_dir / *_file, cwd, argv, cfg_file */
  MmMtaKind mta_kind;
};

/* The section @name, or NULL. */
const MmConfigSection *mm_config_section_get(const MmConfig *config,
                                             const char *name);

/* TRUE if @section is shown by `mailman conf` and listings. */
gboolean mm_config_section_is_listed(const MmConfigSection *section);
