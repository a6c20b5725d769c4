/* Tests of the config module: Mailman's file dialect, the schema defaults,
 * values, templates, paths, the MTA file, finding the file, `mailman conf`.
 *
 * The golden files tests/data/config/conf-defaults.out and *.conf.out are what
 * Mailman 3.3.8 prints for `mailman conf` (its lazr.config and schema run on
 * the same input), so the dump tests compare against Mailman itself.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "config-private.h"
#include "base-log.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define DATA(name) (MM_TEST_DATA_DIR "/" name)

/* ---- Helpers -------------------------------------------------------- */

static char *
make_tmpdir(void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("mm-config-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

/* rm -r of a test directory; bounded depth, since we made it. */
static void
remove_tree(const char *path, int depth)
{
  g_assert_cmpint(depth, <, 16);
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
          !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
        remove_tree(child, depth + 1);
      else
        g_unlink(child);
    }
    g_dir_close(dir);
  }
  g_rmdir(path);
}

static char *
write_file(const char *dir, const char *name, const char *text)
{
  char *path = g_build_filename(dir, name, NULL);
  GError *error = NULL;
  g_assert_true(g_file_set_contents(path, text, -1, &error));
  g_assert_no_error(error);
  return path;
}

/* Loads @text as a whole file "mailman.cfg" in a fresh directory, which
 * @dir_out receives (caller removes it). */
static MmConfig *
load_text(const char *text, char **dir_out, char **path_out, GError **error)
{
  char *dir = make_tmpdir();
  char *path = write_file(dir, "mailman.cfg", text);
  MmConfig *config = mm_config_load(path, error);
  *dir_out = dir;
  if (path_out)
    *path_out = path;
  else
    g_free(path);
  return config;
}

static gboolean
warnings_contain(const MmConfig *config, const char *needle)
{
  const GPtrArray *warnings = mm_config_warnings(config);
  for (guint i = 0; i < warnings->len; i++)
    if (strstr(warnings->pdata[i], needle) != NULL)
      return TRUE;
  return FALSE;
}

static char *
read_text(const char *path)
{
  char *text = NULL;
  GError *error = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, &error));
  g_assert_no_error(error);
  return text;
}

/* ---- Schema and defaults -------------------------------------------- */

static void
test_schema_table(void)
{
  gsize n;
  const MmConfigSchemaRow *rows = mm_config_schema_rows(&n);
  g_autoptr(GHashTable) seen =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

  g_assert_cmpuint(n, >, 200);
  for (gsize i = 0; i < n; i++) {
    const MmConfigSchemaRow *row = &rows[i];
    g_autofree char *id = g_strdup_printf("%s/%s", row->section,
                                          row->key ? row->key : "");
    /* No row twice; sections before their keys. */
    g_assert_false(g_hash_table_contains(seen, id));
    g_hash_table_add(seen, g_steal_pointer(&id));
    if (row->key != NULL) {
      g_autofree char *decl = g_strdup_printf("%s/", row->section);
      g_assert_true(g_hash_table_contains(seen, decl));
      /* Each key has a type row with a help line. */
      const MmConfigSchemaRow *type_row =
          mm_config_schema_lookup(row->section, row->key);
      g_assert_nonnull(type_row);
      g_assert_nonnull(type_row->help);
      g_assert_cmpuint(strlen(type_row->help), <, 80);
      g_assert_null(strchr(type_row->help, '\n'));
      g_assert_nonnull(row->value);
    }
  }
}

static void
test_defaults(void)
{
  GError *error = NULL;
  g_autoptr(MmConfig) config = mm_config_load(NULL, &error);
  g_assert_no_error(error);

  g_assert_null(mm_config_file(config));
  g_assert_cmpuint(mm_config_warnings(config)->len, ==, 0);
  g_assert_cmpstr(mm_config_get(config, "mailman", "layout"), ==, "here");
  g_assert_cmpstr(mm_config_get(config, "mailman", "site_owner"), ==,
                  "changeme@example.com");
  g_assert_null(mm_config_get(config, "mailman", "nonesuch"));
  g_assert_null(mm_config_get(config, "nonesuch", "layout"));
  g_assert_cmpint(mm_config_get_int(config, "mta", "lmtp_port"), ==, 8024);
  g_assert_cmpint(mm_config_get_int(config, "mta", "max_recipients"), ==,
                  500);
  g_assert_cmpint(mm_config_get_int(config, "nntp", "port"), ==, 0);
  g_assert_cmpstr(mm_config_get(config, "nntp", "port"), ==, "");
  g_assert_true(mm_config_get_bool(config, "mta", "smtp_verify_cert"));
  g_assert_false(mm_config_get_bool(config, "devmode", "enabled"));
  g_assert_cmpint(mm_config_get_duration_usec(config, "mta",
                                              "delivery_retry_period"),
                  ==, G_GINT64_CONSTANT(5) * 86400 * G_USEC_PER_SEC);
  g_assert_cmpint(
      mm_config_get_duration_usec(config, "mailman", "moderator_request_life"),
      ==, G_GINT64_CONSTANT(180) * 86400 * G_USEC_PER_SEC);
  g_assert_cmpstr(mm_config_get_enum(config, "mta", "smtp_secure_mode"), ==,
                  "smtp");
  g_assert_cmpint(mm_config_mta_kind(config), ==, MM_MTA_POSTFIX);

  /* The built-in mailman.cfg overlay: runners, layouts, English. */
  g_assert_cmpint(mm_config_get_duration_usec(config, "runner.retry",
                                              "sleep_time"),
                  ==, 15 * 60 * G_USEC_PER_SEC);
  g_assert_cmpint(mm_config_get_duration_usec(config, "runner.bounces",
                                              "sleep_time"),
                  ==, 2 * 60 * G_USEC_PER_SEC);
  g_assert_cmpint(
      mm_config_get_duration_usec(config, "runner.in", "sleep_time"), ==,
      G_USEC_PER_SEC);
  g_assert_false(mm_config_get_bool(config, "runner.shunt", "start"));
  g_assert_cmpstr(mm_config_get(config, "runner.lmtp", "path"), ==, "");
  g_assert_cmpstr(mm_config_get(config, "runner.in", "path"), ==,
                  "$QUEUE_DIR/$name");
  g_assert_cmpstr(mm_config_get(config, "paths.fhs", "queue_dir"), ==,
                  "/var/spool/mailman");
  g_assert_cmpstr(mm_config_get(config, "paths.fhs", "lock_file"), ==,
                  "$lock_dir/master.lck");
  g_assert_cmpstr(mm_config_get(config, "language.en", "charset"), ==,
                  "us-ascii");
  g_assert_cmpstr(mm_config_get(config, "language.pt_BR", "description"), ==,
                  "Portuguese (Brazil)");
  g_assert_cmpstr(mm_config_get(config, "logging.database", "level"), ==,
                  "warn");
  g_assert_cmpstr(mm_config_get(config, "logging.smtp", "path"), ==,
                  "smtp.log");
  g_assert_cmpstr(mm_config_get(config, "logging.error", "path"), ==,
                  "mailman.log");
  g_assert_cmpstr(mm_config_get(config, "logging.smtp", "failure"), ==,
                  "$msgid delivery to $recip failed with code $smtpcode, "
                  "$smtpmsg");
  g_assert_null(mm_config_get(config, "logging.error", "failure"));
  g_assert_cmpstr(mm_config_get(config, "digests", "plain_digest_keep_headers"),
                  ==, "\nMessage Date From\nSubject To Cc\nMessage-ID "
                      "Keywords\nContent-Type");
  /* [postfix] from python:mailman.config.postfix. */
  g_assert_cmpstr(mm_config_get(config, "postfix", "postmap_command"), ==,
                  "/usr/sbin/postmap");
  g_assert_cmpstr(mm_config_get_enum(config, "postfix",
                                     "transport_file_type"),
                  ==, "hash");

  g_auto(GStrv) runners = mm_config_section_names(config, "runner");
  g_autofree char *joined = g_strjoinv(",", runners);
  g_assert_cmpstr(joined, ==,
                  "archive,bad,bounces,command,digest,in,lmtp,nntp,out,"
                  "pipeline,rest,retry,shunt,task,virgin");
  g_auto(GStrv) languages = mm_config_section_names(config, "language");
  g_assert_cmpuint(g_strv_length(languages), ==, 39);
  g_auto(GStrv) archivers = mm_config_section_names(config, "archiver");
  g_autofree char *archivers_joined = g_strjoinv(",", archivers);
  g_assert_cmpstr(archivers_joined, ==, "mail_archive,mhonarc,prototype");
  g_auto(GStrv) loggers = mm_config_section_names(config, "logging");
  g_assert_cmpuint(g_strv_length(loggers), ==, 17);
  g_auto(GStrv) nothing = mm_config_section_names(config, "nonesuch");
  g_assert_cmpuint(g_strv_length(nothing), ==, 0);

  /* Layout "here": $cwd/var; bin_dir is this program's directory. */
  g_autofree char *cwd = g_get_current_dir();
  g_autofree char *var = g_build_filename(cwd, "var", NULL);
  g_autofree char *queue = g_build_filename(cwd, "var", "queue", NULL);
  g_autofree char *lock = g_build_filename(cwd, "var", "locks", "master.lck",
                                           NULL);
  g_assert_cmpstr(mm_config_path(config, "var_dir"), ==, var);
  g_assert_cmpstr(mm_config_path(config, "queue_dir"), ==, queue);
  g_assert_cmpstr(mm_config_path(config, "lock_file"), ==, lock);
  g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
  g_autofree char *exe_dir = g_path_get_dirname(exe);
  g_assert_cmpstr(mm_config_path(config, "bin_dir"), ==, exe_dir);
  g_assert_null(mm_config_path(config, "nonesuch_dir"));
  g_assert_null(mm_config_path(config, "cfg_file"));
}

/* `mailman conf` on the defaults, byte for byte as Mailman prints it, plus
 * our own [mta] keys (LMTP limits, socketmap). */
static void
test_dump_defaults_golden(void)
{
  GError *error = NULL;
  g_autoptr(MmConfig) config = mm_config_load(NULL, &error);
  g_assert_no_error(error);
  g_autoptr(GString) out = g_string_new(NULL);
  g_assert_true(mm_config_dump(config, NULL, NULL, out, &error));
  g_autofree char *golden = read_text(DATA("conf-defaults.out"));
  g_assert_cmpstr(out->str, ==, golden);
  /* Mailman shows the archiver and plugin templates, never [postfix]. */
  g_assert_nonnull(strstr(out->str, "\n[archiver.master] class: \n"));
  g_assert_nonnull(strstr(out->str, "\n[plugin.master] enabled: no\n"));
  g_assert_null(strstr(out->str, "[runner.master]"));
  g_assert_null(strstr(out->str, "[postfix]"));
}

static void
test_dump_selection(void)
{
  GError *error = NULL;
  g_autoptr(MmConfig) config = mm_config_load(NULL, &error);
  g_assert_no_error(error);
  g_autoptr(GString) out = g_string_new(NULL);

  /* -s -k: the value alone; a multi-line value as is. */
  g_assert_true(mm_config_dump(config, "mta", "lmtp_port", out, &error));
  g_assert_cmpstr(out->str, ==, "8024\n");
  g_string_truncate(out, 0);
  g_assert_true(mm_config_dump(config, "nntp", "remove_headers", out,
                               &error));
  g_assert_cmpstr(out->str, ==,
                  "\nnntp-posting-host nntp-posting-date x-trace\n"
                  "x-complaints-to xref date-received posted\n"
                  "posting-version relay-version received\n");

  /* -s: every key of the section, sorted. */
  g_string_truncate(out, 0);
  g_assert_true(mm_config_dump(config, "runner.retry", NULL, out, &error));
  g_assert_cmpstr(out->str, ==,
                  "[runner.retry] class: mailman.runners.retry.RetryRunner\n"
                  "[runner.retry] instances: 1\n"
                  "[runner.retry] max_restarts: 10\n"
                  "[runner.retry] path: $QUEUE_DIR/$name\n"
                  "[runner.retry] sleep_time: 15m\n"
                  "[runner.retry] start: yes\n");

  /* -k: that key in every section having it, sections sorted. */
  g_string_truncate(out, 0);
  g_assert_true(mm_config_dump(config, NULL, "charset", out, &error));
  g_assert_true(g_str_has_prefix(out->str,
                                 "[language.ar] charset: utf-8\n"
                                 "[language.ast] charset: utf-8\n"));
  g_assert_nonnull(strstr(out->str, "[language.en] charset: us-ascii\n"));
  g_string_truncate(out, 0);
  g_assert_true(mm_config_dump(config, NULL, "nonesuch", out, &error));
  g_assert_cmpstr(out->str, ==, "");

  /* Errors, worded as Mailman's. */
  g_assert_false(mm_config_dump(config, "nonesuch", NULL, out, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND);
  g_assert_cmpstr(error->message, ==, "No such section: nonesuch");
  g_clear_error(&error);
  g_assert_false(mm_config_dump(config, "mta", "nonesuch", out, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND);
  g_assert_cmpstr(error->message, ==, "Section mta: No such key: nonesuch");
  g_clear_error(&error);
  g_assert_false(mm_config_dump(config, "postfix", NULL, out, &error));
  g_clear_error(&error);
  g_assert_false(mm_config_dump(config, "runner.master", "class", out,
                                &error));
  g_clear_error(&error);
}

/* ---- Real files ----------------------------------------------------- */

static void
test_site_file(void)
{
  GError *error = NULL;
  g_autoptr(MmConfig) config =
      mm_config_load(DATA("site-mailman.cfg"), &error);
  g_assert_no_error(error);

  g_assert_cmpstr(mm_config_file(config), ==, DATA("site-mailman.cfg"));
  g_assert_cmpuint(mm_config_warnings(config)->len, ==, 0);
  g_assert_cmpint(mm_config_mta_kind(config), ==, MM_MTA_POSTFIX);
  g_assert_cmpstr(mm_config_get(config, "mta", "outgoing"), ==,
                  "mailman.mta.deliver.deliver");
  g_assert_cmpstr(mm_config_get(config, "mta", "lmtp_host"), ==,
                  "mail.example.com");
  g_assert_cmpint(mm_config_get_int(config, "mta", "lmtp_port"), ==, 8024);
  g_assert_cmpstr(mm_config_get(config, "mta", "smtp_host"), ==,
                  "mail.example.com");
  g_assert_cmpint(mm_config_get_int(config, "mta", "smtp_port"), ==, 25);
  g_assert_cmpstr(mm_config_get(config, "webservice", "admin_pass"), ==,
                  "3kr1t");
  g_assert_cmpstr(mm_config_get(config, "mailman", "site_owner"), ==,
                  "listmaster@example.com");

  /* [runner.out] instances: 4 keeps the other keys of the section. */
  g_assert_cmpint(mm_config_get_int(config, "runner.out", "instances"), ==,
                  4);
  g_assert_cmpint(
      mm_config_get_duration_usec(config, "runner.out", "sleep_time"), ==,
      G_USEC_PER_SEC);
  g_assert_cmpstr(mm_config_get(config, "runner.out", "class"), ==,
                  "mailman.runners.outgoing.OutgoingRunner");

  /* A new archiver: template keys, and the template no longer listed. */
  g_assert_true(mm_config_get_bool(config, "archiver.hyperkitty", "enable"));
  g_assert_cmpstr(mm_config_get(config, "archiver.hyperkitty",
                                "clobber_date"),
                  ==, "maybe");
  g_assert_null(mm_config_get(config, "archiver.master", "class"));
  g_auto(GStrv) archivers = mm_config_section_names(config, "archiver");
  g_autofree char *joined = g_strjoinv(",", archivers);
  g_assert_cmpstr(joined, ==, "hyperkitty,mail_archive,mhonarc,prototype");
}

static void
test_debian_file(void)
{
  GError *error = NULL;
  g_autoptr(MmConfig) config =
      mm_config_load(DATA("debian-mailman.cfg"), &error);
  g_assert_no_error(error);

  g_assert_cmpstr(mm_config_path(config, "var_dir"), ==, "/var/lib/mailman3");
  g_assert_cmpstr(mm_config_path(config, "queue_dir"), ==,
                  "/var/lib/mailman3/queue");
  g_assert_cmpstr(mm_config_path(config, "data_dir"), ==,
                  "/var/lib/mailman3/data");
  g_assert_cmpstr(mm_config_path(config, "log_dir"), ==, "/var/log/mailman3");
  g_assert_cmpstr(mm_config_path(config, "etc_dir"), ==, "/etc/mailman3");
  g_assert_cmpstr(mm_config_path(config, "bin_dir"), ==,
                  "/usr/lib/mailman3/bin");
  g_assert_cmpstr(mm_config_path(config, "pid_file"), ==,
                  "/run/mailman3/master.pid");
  g_assert_cmpstr(mm_config_path(config, "lock_file"), ==,
                  "/var/lib/mailman3/locks/master.lck");
  g_assert_cmpstr(mm_config_path(config, "cfg_file"), ==,
                  DATA("debian-mailman.cfg"));
  g_autofree char *db = mm_config_database_path(config, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(db, ==, "/var/lib/mailman3/data/mailman.db");

  /* Mailman has no [logging.debian]: a warning naming file and line. */
  g_autofree char *warning =
      g_strdup_printf("%s:81: unknown section [logging.debian]",
                      DATA("debian-mailman.cfg"));
  g_assert_true(warnings_contain(config, warning));
  g_assert_cmpuint(mm_config_warnings(config)->len, ==, 1);
  g_assert_cmpstr(mm_config_get(config, "shell", "banner"), ==,
                  "Welcome to the GNU Mailman shell");

  g_autoptr(GString) out = g_string_new(NULL);
  g_assert_true(mm_config_dump(config, NULL, NULL, out, &error));
  g_autofree char *golden = read_text(DATA("debian-mailman.conf.out"));
  g_assert_cmpstr(out->str, ==, golden);
}

/* ---- The file dialect ----------------------------------------------- */

typedef struct {
  const char *text;
  const char *section;
  const char *key;
  const char *value; /* NULL: the key must not exist */
} SyntaxCase;

static const SyntaxCase syntax_cases[] = {
    /* key: value and key = value, space around the delimiter. */
    {"[mailman]\nsite_owner: a@example.com\n", "mailman", "site_owner",
     "a@example.com"},
    {"[mailman]\nsite_owner = a@example.com\n", "mailman", "site_owner",
     "a@example.com"},
    {"[mailman]\nsite_owner=a@example.com", "mailman", "site_owner",
     "a@example.com"},
    {"[mailman]\nsite_owner   :   a@example.com   \n", "mailman",
     "site_owner", "a@example.com"},
    /* Split at the first ':' or '='. */
    {"[mta]\nverp_format: a=b:c\n", "mta", "verp_format", "a=b:c"},
    {"[mta]\nverp_format = a:b=c\n", "mta", "verp_format", "a:b=c"},
    /* Keys are case-folded; section names are not. */
    {"[mailman]\nSITE_Owner: a@example.com\n", "mailman", "site_owner",
     "a@example.com"},
    {"[ARC]\nAuthServ_ID: x.example.com\n", "ARC", "authserv_id",
     "x.example.com"},
    /* Empty values. */
    {"[mailman]\nsite_owner:\n", "mailman", "site_owner", ""},
    {"[mailman]\nsite_owner =   \n", "mailman", "site_owner", ""},
    /* Continuation lines: stripped, joined with \n. */
    {"[antispam]\nheader_checks:\n  X-Spam: yes\n  X-Bad: (a|b)\n",
     "antispam", "header_checks", "\nX-Spam: yes\nX-Bad: (a|b)"},
    {"[shell]\nbanner: one\n\ttwo\n  three  \n", "shell", "banner",
     "one\ntwo\nthree"},
    /* A blank line inside a value is kept; trailing ones are cut. */
    {"[shell]\nbanner: one\n\n  two\n\n\n", "shell", "banner", "one\n\ntwo"},
    /* A comment line never ends or joins a value. */
    {"[shell]\nbanner: one\n# note\n  two\n", "shell", "banner", "one\ntwo"},
    {"[shell]\nbanner: one\n  ; note\n  two\n", "shell", "banner",
     "one\ntwo"},
    /* No inline comments. */
    {"[shell]\nprompt: >>> # not a comment\n", "shell", "prompt",
     ">>> # not a comment"},
    /* A deeper-indented key line after a key is a continuation. */
    {"[shell]\nprompt: a\n  banner: b\n", "shell", "prompt", "a\nbanner: b"},
    {"[shell]\nprompt: a\n  banner: b\n", "shell", "banner",
     "The interactive shell of Python Mailman; this server has none."},
    /* Indentation is relative: a wholly indented file reads the same. */
    {"  [shell]\n  prompt: a\n    b\n  history_file: h\n", "shell",
     "history_file", "h"},
    /* CRLF and CR line ends. */
    {"[shell]\r\nprompt: a\r\n  b\r\n", "shell", "prompt", "a\nb"},
    {"[shell]\rprompt: a\r  b\r", "shell", "prompt", "a\nb"},
    /* A repeated key wins; a repeated section merges. */
    {"[shell]\nprompt: a\nprompt: b\n", "shell", "prompt", "b"},
    {"[shell]\nprompt: a\n[mta]\n[shell]\nhistory_file: h\n", "shell",
     "prompt", "a"},
    /* [DEFAULT] keys go to every section of the file. */
    {"[DEFAULT]\nprompt: d\n[shell]\n", "shell", "prompt", "d"},
    {"[DEFAULT]\nprompt: d\n[shell]\nprompt: s\n", "shell", "prompt", "s"},
    /* The section name runs to the last ']'; text after it is ignored. */
    {"[shell] trailing text\nprompt: p\n", "shell", "prompt", "p"},
    /* Tabs before the delimiter, '=' inside the value. */
    {"[database]\nurl\t= sqlite:///$DATA_DIR/x.db?a=b\n", "database", "url",
     "sqlite:///$DATA_DIR/x.db?a=b"},
};

static void
test_syntax_table(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(syntax_cases); i++) {
    const SyntaxCase *c = &syntax_cases[i];
    GError *error = NULL;
    g_autofree char *dir = NULL;
    g_test_message("syntax case %" G_GSIZE_FORMAT, i);
    g_autoptr(MmConfig) config = load_text(c->text, &dir, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(mm_config_get(config, c->section, c->key), ==, c->value);
    remove_tree(dir, 0);
  }
}

typedef struct {
  const char *text;
  int code;
  int line;            /* expected "FILE:LINE: " prefix */
  const char *message; /* expected in the message */
} BadCase;

static const BadCase bad_cases[] = {
    /* Values. */
    {"[devmode]\nenabled: maybe\n", MM_CONFIG_ERROR_VALUE, 2,
     "[devmode] enabled: \"maybe\" is not a boolean"},
    {"[runner.retry]\n\nsleep_time: 15 minutes\n", MM_CONFIG_ERROR_VALUE, 3,
     "[runner.retry] sleep_time: \"15 minutes\" is not a duration"},
    {"[runner.retry]\nsleep_time: 90\n", MM_CONFIG_ERROR_VALUE, 2,
     "[runner.retry] sleep_time: \"90\" is not a duration"},
    {"[runner.retry]\nsleep_time: 2d1w\n", MM_CONFIG_ERROR_VALUE, 2,
     "is not a duration"},
    {"[runner.retry]\nsleep_time: 1H\n", MM_CONFIG_ERROR_VALUE, 2,
     "is not a duration"},
    {"[mta]\nsmtp_port: twenty-five\n", MM_CONFIG_ERROR_VALUE, 2,
     "[mta] smtp_port: \"twenty-five\" is not an integer"},
    {"[mta]\nsmtp_port: 65536\n", MM_CONFIG_ERROR_VALUE, 2,
     "[mta] smtp_port: 65536 is out of range (0..65535)"},
    {"[mta]\nmax_recipients: -1\n", MM_CONFIG_ERROR_VALUE, 2,
     "is out of range"},
    {"[mta]\nmax_recipients: 99999999999999999999999\n",
     MM_CONFIG_ERROR_VALUE, 2, "is out of range"},
    {"[runner.out]\ninstances: 3\n", MM_CONFIG_ERROR_VALUE, 2,
     "[runner.out] instances: 3 is not a power of 2"},
    {"[logging.smtp]\nlevel: loud\n", MM_CONFIG_ERROR_VALUE, 2,
     "[logging.smtp] level: \"loud\" is not a log level"},
    {"[mta]\nsmtp_secure_mode: tls\n", MM_CONFIG_ERROR_VALUE, 2,
     "[mta] smtp_secure_mode: \"tls\" is not one of: smtp, smtps, starttls"},
    {"[archiver.mhonarc]\nclobber_date: Always\n", MM_CONFIG_ERROR_VALUE, 2,
     "[archiver.mhonarc] clobber_date: \"Always\" is not one of"},
    {"[mta]\nincoming: mailman.mta.qmail.LMTP\n", MM_CONFIG_ERROR_VALUE, 2,
     "[mta] incoming: \"mailman.mta.qmail.LMTP\" is not one of: "
     "mailman.mta.postfix.LMTP"},
    {"[mta]\noutgoing: mailman.mta.fake.deliver\n", MM_CONFIG_ERROR_VALUE, 2,
     "[mta] outgoing: "},
    {"[mta]\nconfiguration: python:mailman.config.qmail\n",
     MM_CONFIG_ERROR_VALUE, 2, "[mta] configuration: unknown Python resource"},
    {"[mta]\nconfiguration: no-such-postfix.cfg\n", MM_CONFIG_ERROR_NOT_FOUND,
     2, "[mta] configuration: cannot read"},
    /* The first bad value in file order is the one reported. */
    {"[mta]\nsmtp_port: x\n[devmode]\nenabled: x\n[mailman]\nlayout: x\n",
     MM_CONFIG_ERROR_VALUE, 2, "[mta] smtp_port"},
    /* Layout. */
    {"[mailman]\nsite_owner: a@example.com\nlayout: nonesuch\n",
     MM_CONFIG_ERROR_PATHS, 3,
     "[mailman] layout: no [paths.nonesuch] section"},
    {"[mailman]\nlayout: master\n", MM_CONFIG_ERROR_PATHS, 2,
     "[mailman] layout"},
    /* Syntax. */
    {"site_owner: a@example.com\n[mailman]\n", MM_CONFIG_ERROR_SYNTAX, 1,
     "comes before any [section]"},
    {"[mailman]\nthis line has no delimiter\n", MM_CONFIG_ERROR_SYNTAX, 2,
     "is not a [section], a \"key: value\" line or a comment"},
    {"[mailman]\n: value without a key\n", MM_CONFIG_ERROR_SYNTAX, 2,
     "is not a [section]"},
    {"[mailman]\n[]\n", MM_CONFIG_ERROR_SYNTAX, 2, "is not a [section]"},
    {"[runner.a.b]\nstart: no\n", MM_CONFIG_ERROR_SYNTAX, 1,
     "section name [runner.a.b] has more than one dot"},
    {"[mailman]\n# caf\xc3\xa9\nsite_owner: a@example.com\n",
     MM_CONFIG_ERROR_SYNTAX, 2, "non-ASCII byte 0xc3"},
    {"[mailman]\r\n\r\nsite_owner: \xe9t\xe9\r\n", MM_CONFIG_ERROR_SYNTAX, 3,
     "non-ASCII"},
    /* [meta] extends. */
    {"[meta]\nextends: missing.cfg\n", MM_CONFIG_ERROR_NOT_FOUND, 2,
     "[meta] extends: cannot read"},
    {"[meta]\nextends: mailman.cfg\n", MM_CONFIG_ERROR_SYNTAX, 2,
     "extends loop"},
    /* ARC enabled without a key. */
    {"[ARC]\nenabled: yes\n", MM_CONFIG_ERROR_VALUE, 2,
     "[ARC] privkey: ARC is enabled but no private key is set"},
    {"[ARC]\nenabled: yes\nsig_headers: To, Subject\n",
     MM_CONFIG_ERROR_VALUE, 3, "[ARC] sig_headers: must include From"},
    {"[ARC]\nenabled: yes\nprivkey: /nonexistent/key.pem\n",
     MM_CONFIG_ERROR_VALUE, 3, "[ARC] privkey: cannot read"},
};

static void
test_bad_table(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
    const BadCase *c = &bad_cases[i];
    GError *error = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    g_test_message("bad case %" G_GSIZE_FORMAT ": %s", i, c->message);
    g_autoptr(MmConfig) config = load_text(c->text, &dir, &path, &error);
    g_assert_null(config);
    g_assert_error(error, MM_CONFIG_ERROR, c->code);
    g_autofree char *prefix = g_strdup_printf("%s:%d: ", path, c->line);
    if (!g_str_has_prefix(error->message, prefix))
      g_error("case %" G_GSIZE_FORMAT ": \"%s\" does not start with \"%s\"",
              i, error->message, prefix);
    if (strstr(error->message, c->message) == NULL)
      g_error("case %" G_GSIZE_FORMAT ": \"%s\" does not contain \"%s\"", i,
              error->message, c->message);
    g_clear_error(&error);
    remove_tree(dir, 0);
  }
}

static void
test_bounds(void)
{
  GError *error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;

  /* A line over 16 KiB, on line 3. */
  GString *text = g_string_new("[shell]\n\nbanner: ");
  for (int i = 0; i < MM_CONFIG_MAX_LINE; i++)
    g_string_append_c(text, 'x');
  g_string_append_c(text, '\n');
  g_autoptr(MmConfig) config = load_text(text->str, &dir, &path, &error);
  g_assert_null(config);
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX);
  g_autofree char *prefix = g_strdup_printf("%s:3: line longer than", path);
  g_assert_true(g_str_has_prefix(error->message, prefix));
  g_clear_error(&error);
  remove_tree(dir, 0);
  g_clear_pointer(&dir, g_free);

  /* A file over 1 MiB, in short lines. */
  g_string_assign(text, "[shell]\nbanner: x\n");
  while (text->len <= MM_CONFIG_MAX_FILE_SIZE)
    g_string_append(text, "  more text\n");
  g_autoptr(MmConfig) big = load_text(text->str, &dir, NULL, &error);
  g_assert_null(big);
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX);
  g_assert_nonnull(strstr(error->message, "larger than"));
  g_clear_error(&error);
  remove_tree(dir, 0);
  g_clear_pointer(&dir, g_free);

  /* A NUL byte. */
  char *nul_dir = make_tmpdir();
  g_autofree char *nul_path = g_build_filename(nul_dir, "mailman.cfg", NULL);
  g_assert_true(g_file_set_contents(nul_path, "[shell]\nprompt: a\0b\n", 20,
                                    NULL));
  g_assert_null(mm_config_load(nul_path, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX);
  g_assert_nonnull(strstr(error->message, ":2: NUL byte"));
  g_clear_error(&error);
  remove_tree(nul_dir, 0);
  g_free(nul_dir);

  /* A missing file. */
  g_assert_null(mm_config_load("/nonexistent/mailman.cfg", &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_string_free(text, TRUE);
}

static void
test_unknown_warns(void)
{
  GError *error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(MmConfig) config = load_text(
      "[mta]\nsmtp_hots: typo.example.com\n\n[mailmen]\nlayout: x\n"
      "[logging.mine]\nlevel: debug\n[runner.master]\nstart: no\n"
      "[meta]\nversion: 2\n[postfix]\npostmap_command: /bin/true\n",
      &dir, &path, &error);
  g_assert_no_error(error);
  const char *expected[] = {
      ":2: unknown key [mta] smtp_hots",
      ":4: unknown section [mailmen]",
      ":6: unknown section [logging.mine]",
      ":8: section [runner.master] is a schema template",
      ":11: unknown key [meta] version",
      ":12: unknown section [postfix]",
  };
  g_assert_cmpuint(mm_config_warnings(config)->len, ==,
                   G_N_ELEMENTS(expected));
  for (gsize i = 0; i < G_N_ELEMENTS(expected); i++) {
    g_autofree char *warning = g_strconcat(path, expected[i], NULL);
    g_assert_true(warnings_contain(config, warning));
  }
  g_assert_cmpstr(mm_config_get(config, "mta", "smtp_host"), ==, "localhost");
  g_assert_null(mm_config_get(config, "logging.mine", "level"));
  g_assert_cmpstr(mm_config_get(config, "postfix", "postmap_command"), ==,
                  "/usr/sbin/postmap");
  remove_tree(dir, 0);
}

/* ---- Templates ------------------------------------------------------ */

static void
test_templates(void)
{
  GError *error = NULL;
  g_autofree char *dir = NULL;
  g_autoptr(MmConfig) config = load_text(
      "[runner.out]\ninstances: 4\n"
      "[runner.custom]\nclass: example.CustomRunner\nsleep_time: 1w2d3h4m5.5s"
      "\n"
      "[language.eo]\ndescription: Esperanto\ncharset: utf-8\n"
      "[plugin.example]\nclass: example.Plugin\nenabled: yes\n"
      "[logging.smtp]\nevery: no\nlevel: DEBUG\n",
      &dir, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(mm_config_warnings(config)->len, ==, 0);

  g_assert_cmpint(mm_config_get_int(config, "runner.out", "instances"), ==,
                  4);
  g_assert_cmpint(
      mm_config_get_duration_usec(config, "runner.out", "sleep_time"), ==,
      G_USEC_PER_SEC);

  /* A new runner: the template's keys, its own values. */
  g_assert_cmpstr(mm_config_get(config, "runner.custom", "class"), ==,
                  "example.CustomRunner");
  g_assert_cmpstr(mm_config_get(config, "runner.custom", "path"), ==,
                  "$QUEUE_DIR/$name");
  g_assert_true(mm_config_get_bool(config, "runner.custom", "start"));
  g_assert_cmpint(mm_config_get_int(config, "runner.custom", "max_restarts"),
                  ==, 10);
  g_assert_cmpint(
      mm_config_get_duration_usec(config, "runner.custom", "sleep_time"), ==,
      ((((G_GINT64_CONSTANT(9) * 24 + 3) * 60 + 4) * 60) * G_USEC_PER_SEC) +
          5500000);
  g_auto(GStrv) runners = mm_config_section_names(config, "runner");
  g_assert_true(g_strv_contains((const char *const *)runners, "custom"));
  g_assert_cmpuint(g_strv_length(runners), ==, 16);

  g_assert_cmpstr(mm_config_get(config, "language.eo", "description"), ==,
                  "Esperanto");
  g_assert_true(mm_config_get_bool(config, "language.eo", "enabled"));
  g_assert_true(mm_config_get_bool(config, "plugin.example", "enabled"));
  /* Creating a plugin hides [plugin.master], as in Mailman. */
  g_assert_null(mm_config_get(config, "plugin.master", "class"));
  g_auto(GStrv) plugins = mm_config_section_names(config, "plugin");
  g_assert_cmpuint(g_strv_length(plugins), ==, 1);

  g_assert_cmpstr(mm_config_get(config, "logging.smtp", "every"), ==, "no");
  g_assert_cmpstr(mm_config_get(config, "logging.smtp", "path"), ==,
                  "smtp.log");
  remove_tree(dir, 0);
}

/* ---- Paths ---------------------------------------------------------- */

static void
test_paths(void)
{
  GError *error = NULL;
  g_autofree char *dir = make_tmpdir();
  g_autofree char *text = g_strdup_printf(
      "[mailman]\nlayout: custom\n"
      "[paths.custom]\n"
      "var_dir: %s/var\n"
      "queue_dir: ${var_dir}/spool/../q\n"
      "log_dir: $LOCK_DIR/../logs\n"
      "data_dir: relative/data\n"
      "template_dir: $$HOME/$nothing_like_this_is_ok_here\n",
      dir);
  /* template_dir names a variable that does not exist. */
  g_autofree char *path = write_file(dir, "mailman.cfg", text);
  g_assert_null(mm_config_load(path, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_PATHS);
  g_autofree char *prefix = g_strdup_printf(
      "%s:8: [paths.custom] template_dir: unknown variable "
      "$nothing_like_this_is_ok_here",
      path);
  g_assert_cmpstr(error->message, ==, prefix);
  g_clear_error(&error);

  g_autofree char *good = g_strdup_printf(
      "[mailman]\nlayout: custom\n"
      "[paths.custom]\n"
      "var_dir: %s/var\n"
      "queue_dir: ${var_dir}/spool/../q\n"
      "log_dir: $LOCK_DIR/../logs\n"
      "data_dir: relative/data\n"
      "pid_file: $cfg_file.pid\n",
      dir);
  g_free(write_file(dir, "mailman.cfg", good));
  g_autoptr(MmConfig) config = mm_config_load(path, &error);
  g_assert_no_error(error);
  g_autofree char *var = g_build_filename(dir, "var", NULL);
  g_autofree char *queue = g_build_filename(dir, "var", "q", NULL);
  g_autofree char *logs = g_build_filename(dir, "var", "logs", NULL);
  g_autofree char *cwd = g_get_current_dir();
  g_autofree char *data = g_build_filename(cwd, "relative", "data", NULL);
  g_autofree char *pid = g_strconcat(path, ".pid", NULL);
  g_assert_cmpstr(mm_config_path(config, "var_dir"), ==, var);
  g_assert_cmpstr(mm_config_path(config, "queue_dir"), ==, queue);
  g_assert_cmpstr(mm_config_path(config, "log_dir"), ==, logs);
  g_assert_cmpstr(mm_config_path(config, "data_dir"), ==, data);
  g_assert_cmpstr(mm_config_path(config, "pid_file"), ==, pid);
  g_assert_cmpstr(mm_config_path(config, "cfg_file"), ==, path);

  /* mm_config_expand: one pass, both spellings, extras first. */
  g_autofree char *runner_path = mm_config_expand(
      config, mm_config_get(config, "runner.out", "path"),
      (const char *const[]){"name", "out", NULL});
  g_autofree char *want_runner = g_build_filename(queue, "out", NULL);
  g_assert_cmpstr(runner_path, ==, want_runner);
  g_autofree char *mixed = mm_config_expand(
      config, "$var_dir|${VAR_DIR}|$$x|$unknown|${x|$|$name", NULL);
  g_autofree char *want_mixed =
      g_strdup_printf("%s|%s|$x|$unknown|${x|$|$name", var, var);
  g_assert_cmpstr(mixed, ==, want_mixed);

  /* $MAILMAN_VAR_DIR replaces var_dir, and is itself expanded. */
  g_setenv("MAILMAN_VAR_DIR", "$cwd/elsewhere", TRUE);
  g_autoptr(MmConfig) env_config = mm_config_load(path, &error);
  g_unsetenv("MAILMAN_VAR_DIR");
  g_assert_no_error(error);
  g_autofree char *elsewhere = g_build_filename(cwd, "elsewhere", "q", NULL);
  g_assert_cmpstr(mm_config_path(env_config, "queue_dir"), ==, elsewhere);

  remove_tree(dir, 0);
}

static void
test_path_loops(void)
{
  GError *error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;

  /* A loop through two keys. */
  g_autoptr(MmConfig) config = load_text(
      "[paths.here]\nlock_dir: $log_dir/locks\nlog_dir: $LOCK_DIR/logs\n",
      &dir, &path, &error);
  g_assert_null(config);
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_PATHS);
  g_autofree char *prefix = g_strdup_printf("%s:2: [paths.here] lock_dir: "
                                            "path expansion never ends "
                                            "($lock_dir -> $log_dir -> "
                                            "$lock_dir)",
                                            path);
  g_assert_cmpstr(error->message, ==, prefix);
  g_clear_error(&error);
  remove_tree(dir, 0);
  g_clear_pointer(&dir, g_free);
  g_clear_pointer(&path, g_free);

  /* A key naming itself. */
  g_autoptr(MmConfig) self = load_text("[paths.here]\nvar_dir: $var_dir/x\n",
                                       &dir, &path, &error);
  g_assert_null(self);
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_PATHS);
  g_autofree char *self_prefix = g_strdup_printf("%s:2: ", path);
  g_assert_true(g_str_has_prefix(error->message, self_prefix));
  g_assert_nonnull(strstr(error->message, "never ends"));
  g_clear_error(&error);
  remove_tree(dir, 0);
  g_clear_pointer(&dir, g_free);
  g_clear_pointer(&path, g_free);

  /* Mailman's own test: a variable that does not exist. */
  g_autoptr(MmConfig) missing = load_text(
      "[paths.here]\nlog_dir: $nopath/log_dir\n", &dir, &path, &error);
  g_assert_null(missing);
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_PATHS);
  g_assert_nonnull(strstr(error->message, ":2: [paths.here] log_dir: "
                                          "unknown variable $nopath"));
  g_clear_error(&error);
  remove_tree(dir, 0);
  g_clear_pointer(&dir, g_free);
  g_clear_pointer(&path, g_free);

  /* The dev layout: $cfg_file/../.. normalised lexically. */
  g_autoptr(MmConfig) dev =
      load_text("[mailman]\nlayout: dev\n", &dir, &path, &error);
  g_assert_no_error(error);
  g_autofree char *parent = g_path_get_dirname(dir);
  g_assert_cmpstr(mm_config_path(dev, "var_dir"), ==, parent);
  remove_tree(dir, 0);
}

static void
test_database(void)
{
  GError *error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;

  g_autoptr(MmConfig) config = load_text(
      "[paths.here]\nvar_dir: /srv/mm\n"
      "[database]\nurl: sqlite:///$data_dir/../db/mailman.db\n",
      &dir, &path, &error);
  g_assert_no_error(error);
  g_autofree char *db = mm_config_database_path(config, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(db, ==, "/srv/mm/db/mailman.db");
  remove_tree(dir, 0);
  g_clear_pointer(&dir, g_free);
  g_clear_pointer(&path, g_free);

  static const struct {
    const char *url;
    const char *message;
  } refused[] = {
      {"postgresql://mailman3:pw@localhost/mailman3",
       "scheme \"postgresql\" is not supported; this build supports SQLite "
       "only"},
      {"mysql+pymysql://mailman3:pw@localhost/mailman3",
       "scheme \"mysql+pymysql\""},
      {"sqlite:///relative.db", "does not name an absolute file"},
      {"sqlite://", "scheme \"sqlite\""},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
    g_autofree char *text =
        g_strdup_printf("[database]\nurl: %s\n", refused[i].url);
    g_autoptr(MmConfig) c = load_text(text, &dir, &path, &error);
    g_assert_no_error(error);
    g_assert_null(mm_config_database_path(c, &error));
    g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_PATHS);
    g_autofree char *prefix = g_strdup_printf("%s:2: [database] url: ", path);
    g_assert_true(g_str_has_prefix(error->message, prefix));
    g_assert_nonnull(strstr(error->message, refused[i].message));
    g_clear_error(&error);
    remove_tree(dir, 0);
    g_clear_pointer(&dir, g_free);
    g_clear_pointer(&path, g_free);
  }
}

/* ---- The MTA ------------------------------------------------------- */

static void
test_mta(void)
{
  GError *error = NULL;

  /* postfix.cfg by a path relative to the file naming it. */
  g_autoptr(MmConfig) config = mm_config_load(DATA("mta-by-path.cfg"), &error);
  g_assert_no_error(error);
  g_assert_cmpstr(mm_config_get(config, "postfix", "postmap_command"), ==,
                  "/usr/local/sbin/postmap");
  g_assert_cmpstr(mm_config_get_enum(config, "postfix",
                                     "transport_file_type"),
                  ==, "regex");
  g_assert_cmpstr(mm_config_get(config, "mta", "smtp_secure_mode"), ==,
                  "STARTTLS");
  g_assert_cmpstr(mm_config_get_enum(config, "mta", "smtp_secure_mode"), ==,
                  "starttls");

  /* By absolute path, with a bad value, an unknown key and section. */
  g_autofree char *dir = make_tmpdir();
  g_autofree char *pf = write_file(
      dir, "pf.cfg",
      "[postfix]\npostmap_command: /usr/sbin/postmap -o 100%%\n"
      "color: blue\n[qmail]\nx: y\n");
  g_autofree char *main_text = g_strdup_printf(
      "[mta]\nincoming: mailman.mta.exim4.LMTP\nconfiguration: %s\n", pf);
  g_autofree char *main_path = write_file(dir, "mailman.cfg", main_text);
  g_autoptr(MmConfig) abs_config = mm_config_load(main_path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(mm_config_mta_kind(abs_config), ==, MM_MTA_EXIM4);
  g_assert_cmpstr(mm_config_get(abs_config, "postfix", "postmap_command"), ==,
                  "/usr/sbin/postmap -o 100%");
  g_assert_cmpstr(mm_config_get(abs_config, "postfix",
                                "transport_file_type"),
                  ==, "hash");
  g_autofree char *w1 = g_strconcat(pf, ":3: unknown key [postfix] color",
                                    NULL);
  g_autofree char *w2 = g_strconcat(pf, ":4: unknown section [qmail]", NULL);
  g_assert_true(warnings_contain(abs_config, w1));
  g_assert_true(warnings_contain(abs_config, w2));

  g_free(write_file(dir, "pf.cfg", "[postfix]\ntransport_file_type: btree\n"));
  g_assert_null(mm_config_load(main_path, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE);
  g_autofree char *prefix = g_strconcat(
      pf, ":2: [postfix] transport_file_type: \"btree\" is not one of: hash, "
          "regex",
      NULL);
  g_assert_cmpstr(error->message, ==, prefix);
  g_clear_error(&error);

  /* Python resource names. */
  static const struct {
    const char *text;
    MmMtaKind kind;
  } kinds[] = {
      {"[mta]\nincoming: mailman.mta.postfix.LMTP\n"
       "configuration: python:mailman.config.postfix\n",
       MM_MTA_POSTFIX},
      {"[mta]\nincoming: mailman.mta.exim4.LMTP\n"
       "configuration: python:mailman.config.exim4\n",
       MM_MTA_EXIM4},
      {"[mta]\nincoming: mailman.mta.null.NullMTA\n"
       "configuration: python:mailman.config.passlib\n",
       MM_MTA_NULL},
      {"[mta]\nincoming: mailman_c.mta.sendmail\n", MM_MTA_SENDMAIL},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(kinds); i++) {
    g_free(write_file(dir, "mailman.cfg", kinds[i].text));
    g_autoptr(MmConfig) c = mm_config_load(main_path, &error);
    g_assert_no_error(error);
    g_assert_cmpint(mm_config_mta_kind(c), ==, kinds[i].kind);
    g_assert_cmpstr(mm_config_get(c, "postfix", "postmap_command"), ==,
                    "/usr/sbin/postmap");
  }
  remove_tree(dir, 0);
}

/* ---- [meta] extends ------------------------------------------------- */

static void
test_extends(void)
{
  GError *error = NULL;
  g_autoptr(MmConfig) config = mm_config_load(DATA("extends-top.cfg"),
                                              &error);
  g_assert_no_error(error);
  g_assert_cmpstr(mm_config_get(config, "mailman", "site_owner"), ==,
                  "base@example.com");
  g_assert_cmpstr(mm_config_get(config, "mta", "smtp_host"), ==,
                  "top.example.com");
  g_assert_cmpint(mm_config_get_int(config, "mta", "smtp_port"), ==, 2525);
  g_assert_cmpuint(mm_config_warnings(config)->len, ==, 0);
  g_assert_cmpstr(mm_config_file(config), ==, DATA("extends-top.cfg"));

  /* A bad value in the base is reported against the base. */
  g_autofree char *dir = make_tmpdir();
  g_autofree char *base = write_file(dir, "base.cfg",
                                     "[mta]\n\nlmtp_port: x\n");
  g_autofree char *top = write_file(dir, "top.cfg",
                                    "[meta]\nextends: base.cfg\n");
  g_assert_null(mm_config_load(top, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE);
  g_autofree char *prefix = g_strconcat(base, ":3: [mta] lmtp_port", NULL);
  g_assert_true(g_str_has_prefix(error->message, prefix));
  g_clear_error(&error);

  /* A chain deeper than the bound. */
  for (int i = 0; i < MM_CONFIG_MAX_EXTENDS + 2; i++) {
    g_autofree char *name = g_strdup_printf("c%d.cfg", i);
    g_autofree char *text =
        g_strdup_printf("[meta]\nextends: c%d.cfg\n", i + 1);
    g_free(write_file(dir, name, text));
  }
  g_autofree char *first = g_build_filename(dir, "c0.cfg", NULL);
  g_assert_null(mm_config_load(first, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_SYNTAX);
  g_assert_nonnull(strstr(error->message, "more than"));
  g_clear_error(&error);
  remove_tree(dir, 0);
}

/* ---- Finding the file ----------------------------------------------- */

static void
test_find(void)
{
  GError *error = NULL;
  g_autofree char *old_cwd = g_get_current_dir();
  g_autofree char *dir = make_tmpdir();
  g_autofree char *explicit_path = write_file(dir, "explicit.cfg", "");
  g_autofree char *env_path = write_file(dir, "env.cfg", "");

  /* -C wins, must exist, must not be a directory. */
  g_setenv("MAILMAN_CONFIG_FILE", env_path, TRUE);
  g_autofree char *found = mm_config_find(explicit_path, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(found, ==, explicit_path);
  g_autofree char *missing = g_build_filename(dir, "missing.cfg", NULL);
  g_assert_null(mm_config_find(missing, NULL, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND);
  g_clear_error(&error);
  g_assert_null(mm_config_find(dir, NULL, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND);
  g_clear_error(&error);

  /* Then $MAILMAN_CONFIG_FILE, which must exist too. */
  g_autofree char *from_env = mm_config_find(NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(from_env, ==, env_path);
  g_setenv("MAILMAN_CONFIG_FILE", missing, TRUE);
  g_assert_null(mm_config_find(NULL, NULL, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "MAILMAN_CONFIG_FILE"));
  g_clear_error(&error);
  g_setenv("MAILMAN_CONFIG_FILE", "", TRUE); /* empty: not set */

  /* Then the search path, from a scratch working directory and HOME. */
  g_autofree char *work = g_build_filename(dir, "work", NULL);
  g_autofree char *home = g_build_filename(dir, "home", NULL);
  g_autofree char *prefix = g_build_filename(dir, "prefix", NULL);
  g_autofree char *prefix_etc = g_build_filename(prefix, "etc", NULL);
  g_autofree char *work_var_etc = g_build_filename(work, "var", "etc", NULL);
  g_assert_cmpint(g_mkdir_with_parents(work_var_etc, 0700), ==, 0);
  g_assert_cmpint(g_mkdir_with_parents(home, 0700), ==, 0);
  g_assert_cmpint(g_mkdir_with_parents(prefix_etc, 0700), ==, 0);
  g_autofree char *old_home = g_strdup(g_getenv("HOME"));
  g_setenv("HOME", home, TRUE);
  g_assert_cmpint(chdir(work), ==, 0);
  g_autofree char *argv0 = g_build_filename(prefix, "bin", "mailman", NULL);
  gboolean system_file = g_file_test("/etc/mailman.cfg", G_FILE_TEST_EXISTS) ||
                         g_file_test("/etc/mailman3/mailman.cfg",
                                     G_FILE_TEST_EXISTS);

  /* Lowest first: each new file must win over the ones before. */
  g_autofree char *by_argv0 = write_file(prefix_etc, "mailman.cfg", "");
  g_autofree char *got = mm_config_find(NULL, argv0, &error);
  g_assert_no_error(error);
  if (!system_file)
    g_assert_cmpstr(got, ==, by_argv0);
  g_clear_pointer(&got, g_free);
  g_autofree char *in_home = write_file(home, ".mailman.cfg", "");
  got = mm_config_find(NULL, argv0, &error);
  g_assert_cmpstr(got, ==, in_home);
  g_clear_pointer(&got, g_free);
  g_autofree char *in_var = write_file(work_var_etc, "mailman.cfg", "");
  got = mm_config_find(NULL, argv0, &error);
  g_assert_cmpstr(got, ==, in_var);
  g_clear_pointer(&got, g_free);
  g_autofree char *in_cwd = write_file(work, "mailman.cfg", "");
  got = mm_config_find(NULL, argv0, &error);
  g_assert_cmpstr(got, ==, in_cwd);
  g_clear_pointer(&got, g_free);

  /* Nothing anywhere: NULL without an error. */
  g_unlink(in_cwd);
  g_unlink(in_var);
  g_unlink(in_home);
  g_unlink(by_argv0);
  got = mm_config_find(NULL, argv0, &error);
  g_assert_no_error(error);
  if (!system_file)
    g_assert_null(got);
  g_clear_pointer(&got, g_free);

  g_assert_cmpint(chdir(old_cwd), ==, 0);
  if (old_home != NULL)
    g_setenv("HOME", old_home, TRUE);
  g_unsetenv("MAILMAN_CONFIG_FILE");
  remove_tree(dir, 0);
}

/* ---- Start-up side effects ------------------------------------------ */

static void
test_ensure_dirs_and_logging(void)
{
  GError *error = NULL;
  g_autofree char *dir = make_tmpdir();
  g_autofree char *abs_log = g_build_filename(dir, "elsewhere.log", NULL);
  g_autofree char *text = g_strdup_printf(
      "[mailman]\nlayout: test\n[paths.test]\nvar_dir: %s/var\n"
      "bin_dir: $var_dir/bin\n"
      "[logging.vette]\npath: %s\n",
      dir, abs_log);
  g_autofree char *path = write_file(dir, "mailman.cfg", text);
  g_autoptr(MmConfig) config = mm_config_load(path, &error);
  g_assert_no_error(error);

  g_assert_true(mm_config_ensure_dirs(config, &error));
  g_assert_no_error(error);
  static const char *const dirs[] = {
      "var_dir", "queue_dir", "bin_dir", "list_data_dir", "log_dir",
      "lock_dir", "data_dir", "cache_dir", "etc_dir", "messages_dir",
      "archive_dir", "template_dir",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(dirs); i++)
    g_assert_true(
        g_file_test(mm_config_path(config, dirs[i]), G_FILE_TEST_IS_DIR));
  g_assert_false(
      g_file_test(mm_config_path(config, "ext_dir"), G_FILE_TEST_EXISTS));

  /* The stub is written once and then left alone. */
  g_autofree char *stub =
      g_build_filename(mm_config_path(config, "etc_dir"), "mailman.cfg", NULL);
  g_autofree char *stub_text = read_text(stub);
  g_assert_true(g_str_has_prefix(stub_text, "#"));
  g_autoptr(MmConfig) from_stub = mm_config_load(stub, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(mm_config_warnings(from_stub)->len, ==, 0);
  g_assert_true(g_file_set_contents(stub, "# mine\n", -1, NULL));
  g_assert_true(mm_config_ensure_dirs(config, &error));
  g_autofree char *kept = read_text(stub);
  g_assert_cmpstr(kept, ==, "# mine\n");

  /* Each logger's file: relative to log_dir, or absolute. */
  g_assert_true(mm_config_setup_logging(config, &error));
  g_assert_no_error(error);
  static const char *const files[] = {"mailman.log", "smtp.log", "bounce.log",
                                      "debug.log", "plugins.log"};
  for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
    g_autofree char *log =
        g_build_filename(mm_config_path(config, "log_dir"), files[i], NULL);
    g_assert_true(g_file_test(log, G_FILE_TEST_IS_REGULAR));
  }
  g_assert_true(g_file_test(abs_log, G_FILE_TEST_IS_REGULAR));
  /* Send the logs back to stderr before the files go away. */
  g_auto(GStrv) loggers = mm_config_section_names(config, "logging");
  for (char **name = loggers; *name != NULL; name++)
    mm_log_configure(*name, NULL, MM_LOG_INFO, NULL);
  remove_tree(dir, 0);
}

static void
test_arc_key(void)
{
  GError *error = NULL;
  g_autofree char *dir = make_tmpdir();
  g_autofree char *key = write_file(dir, "key.pem",
                                    "-----BEGIN RSA PRIVATE KEY-----\n");
  g_autofree char *text = g_strdup_printf(
      "[ARC]\nenabled: yes\nprivkey: %s\nselector: s\ndomain: example.org\n",
      key);
  g_autofree char *path = write_file(dir, "mailman.cfg", text);
  g_autoptr(MmConfig) config = mm_config_load(path, &error);
  g_assert_no_error(error);
  g_assert_true(mm_config_get_bool(config, "ARC", "enabled"));

  g_free(write_file(dir, "key.pem", "\xc2\xa2\xc2\xa2\n"));
  g_assert_null(mm_config_load(path, &error));
  g_assert_error(error, MM_CONFIG_ERROR, MM_CONFIG_ERROR_VALUE);
  g_assert_nonnull(strstr(error->message, ":3: [ARC] privkey: "));
  g_assert_nonnull(strstr(error->message, "non-ASCII"));
  g_clear_error(&error);
  remove_tree(dir, 0);
}

/* ---- Value parsers -------------------------------------------------- */

static void
test_value_parsers(void)
{
  static const struct {
    const char *text;
    gint64 usec; /* -1: refused */
  } durations[] = {
      {"1w2d", (G_GINT64_CONSTANT(9) * 86400) * G_USEC_PER_SEC},
      {"15m", 900 * G_USEC_PER_SEC},
      {"1.5s", 1500000},
      {".5s", 500000},
      {"5.s", 5000000},
      {"3.25w", G_GINT64_CONSTANT(1965600) * G_USEC_PER_SEC},
      {"0.0000015s", 2}, /* rounded half to even */
      {"0.0000025s", 2},
      {"01m", 60 * G_USEC_PER_SEC},
      {"0s", 0},
      {"90", -1},
      {"", -1},
      {"1H", -1},
      {"2d1w", -1},
      {"1s1s", -1},
      {"1.2.3s", -1},
      {".s", -1},
      {" 1s", -1},
      {"1s ", -1},
      {"1x", -1},
      {"-1s", -1},
      {"99999999999d", -1},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(durations); i++) {
    gint64 usec = -1;
    gboolean ok = mm_config_parse_duration_usec(durations[i].text, &usec);
    g_test_message("duration \"%s\"", durations[i].text);
    g_assert_cmpint(ok, ==, durations[i].usec >= 0);
    if (ok)
      g_assert_cmpint(usec, ==, durations[i].usec);
  }

  static const struct {
    const char *text;
    int value; /* -1: refused */
  } bools[] = {
      {"yes", 1},     {"No", 0},       {"TRUE", 1},      {"false", 0},
      {"on", 1},      {"OFF", 0},      {"1", 1},         {"0", 0},
      {"enable", 1},  {"Enabled", 1},  {"disable", 0},   {"DISABLED", 0},
      {"y", -1},      {"", -1},        {" yes", -1},     {"2", -1},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bools); i++) {
    gboolean value = FALSE;
    gboolean ok = mm_config_parse_bool(bools[i].text, &value);
    g_assert_cmpint(ok, ==, bools[i].value >= 0);
    if (ok)
      g_assert_cmpint(value, ==, bools[i].value);
  }

  /* Python int(): underscores between digits, sign, leading zeros. */
  const MmConfigSchemaRow *row = mm_config_schema_lookup("mta", "smtp_port");
  static const struct {
    const char *text;
    gint64 value; /* -1: refused */
  } ints[] = {
      {"25", 25}, {"+25", 25}, {"0025", 25}, {"2_5", 25}, {"2__5", -1},
      {"_25", -1}, {"25_", -1}, {"0x19", -1}, {"", -1},   {"2 5", -1},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(ints); i++) {
    MmConfigParsed parsed;
    g_autofree char *reason = NULL;
    gboolean ok = mm_config_value_check(row, ints[i].text, &parsed, &reason);
    g_assert_cmpint(ok, ==, ints[i].value >= 0);
    if (ok)
      g_assert_cmpint(parsed.i, ==, ints[i].value);
  }
}

/* Asking for the wrong type is our bug, and stops the program. */
static void
test_wrong_type_asserts(void)
{
  if (g_test_subprocess()) {
    g_autoptr(MmConfig) config = mm_config_load(NULL, NULL);
    mm_config_get_bool(config, "mta", "smtp_port");
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed();
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  /* The tests decide what the environment says. */
  g_unsetenv("MAILMAN_VAR_DIR");
  g_unsetenv("MAILMAN_CONFIG_FILE");

  g_test_add_func("/config/schema-table", test_schema_table);
  g_test_add_func("/config/defaults", test_defaults);
  g_test_add_func("/config/dump/defaults-golden", test_dump_defaults_golden);
  g_test_add_func("/config/dump/selection", test_dump_selection);
  g_test_add_func("/config/file/site", test_site_file);
  g_test_add_func("/config/file/debian", test_debian_file);
  g_test_add_func("/config/syntax/table", test_syntax_table);
  g_test_add_func("/config/syntax/bad-table", test_bad_table);
  g_test_add_func("/config/syntax/bounds", test_bounds);
  g_test_add_func("/config/unknown-warns", test_unknown_warns);
  g_test_add_func("/config/templates", test_templates);
  g_test_add_func("/config/paths/expand", test_paths);
  g_test_add_func("/config/paths/loops", test_path_loops);
  g_test_add_func("/config/database", test_database);
  g_test_add_func("/config/mta", test_mta);
  g_test_add_func("/config/extends", test_extends);
  g_test_add_func("/config/find", test_find);
  g_test_add_func("/config/ensure-dirs-and-logging",
                  test_ensure_dirs_and_logging);
  g_test_add_func("/config/arc-key", test_arc_key);
  g_test_add_func("/config/value-parsers", test_value_parsers);
  g_test_add_func("/config/wrong-type-asserts", test_wrong_type_asserts);
  return g_test_run();
}
