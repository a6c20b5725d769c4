/* mm-lmtp-testd: the LMTP server in the foreground, for protocol tests.
 *
 *   mm-lmtp-testd -C mailman.cfg [--domain HOST[=ALIAS]]... [--list FQDN]...
 *                 [--serve [--timeout SEC] [--deadline SEC] [--max-size N]
 *                  [--max-connections N] [--max-recipients N] [--max-bad N]]
 *   mm-lmtp-testd --dump FILE | --dump-meta FILE
 *
 * Creates the domains and lists named (as `mailman create` will), then,
 * with --serve, runs the server as the lmtp runner does, with the limits
 * of the configuration overridden by the options, prints "READY <port>"
 * on stdout once it accepts connections, and exits 0 on SIGTERM or SIGINT.
 * --dump prints the message of a queue file byte for byte, --dump-meta
 * its metadata as JSON.  Not installed; tests/lmtp/ drives it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp.h"

#include "base-log.h"
#include "config.h"
#include "queue.h"
#include "storage.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static gboolean
on_signal(gpointer data)
{
  g_main_loop_quit(data);
  return G_SOURCE_CONTINUE;
}

static gboolean
setup_names(const MmConfig *config, char **domains, char **lists,
            GError **error)
{
  g_autofree char *db_path = mm_config_database_path(config, error);
  if (db_path == NULL)
    return FALSE;
  g_autoptr(MmStore) store = mm_store_open(db_path, MM_STORE_READ_WRITE, error);
  if (store == NULL)
    return FALSE;
  for (char **d = domains; d != NULL && *d != NULL; d++) {
    g_auto(GStrv) parts = g_strsplit(*d, "=", 2);
    g_autoptr(GError) local_error = NULL;
    if (!mm_store_domain_add(store, parts[0], "", parts[1], &local_error) &&
        !g_error_matches(local_error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS)) {
      g_propagate_error(error, g_steal_pointer(&local_error));
      return FALSE;
    }
  }
  const char *chars = mm_config_get(config, "mailman", "listname_chars");
  for (char **l = lists; l != NULL && *l != NULL; l++) {
    const char *at = strchr(*l, '@');
    if (at == NULL) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                  "--list %s: want NAME@HOST", *l);
      return FALSE;
    }
    g_autofree char *name = g_strndup(*l, at - *l);
    g_autoptr(GError) local_error = NULL;
    if (!mm_store_domain_add(store, at + 1, "", NULL, &local_error) &&
        !g_error_matches(local_error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS)) {
      g_propagate_error(error, g_steal_pointer(&local_error));
      return FALSE;
    }
    g_autoptr(MmList) list = mm_store_list_create(
        store, name, at + 1, chars != NULL ? chars : "[-_.0-9a-z]", error);
    if (list == NULL)
      return FALSE;
  }
  return TRUE;
}

static int
dump(const char *path, gboolean meta_only)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) message = NULL;
  json_t *meta = NULL;
  if (!mm_queue_file_read(path, &message, &meta, &error)) {
    fprintf(stderr, "mm-lmtp-testd: %s\n", error->message);
    return 1;
  }
  if (meta_only) {
    char *text = json_dumps(meta, JSON_SORT_KEYS | JSON_COMPACT);
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
  } else {
    gsize len = 0;
    const void *data = g_bytes_get_data(message, &len);
    fwrite(data, 1, len, stdout);
  }
  json_decref(meta);
  return fflush(stdout) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  g_auto(GStrv) domains = NULL;
  g_auto(GStrv) lists = NULL;
  g_autofree char *dump_path = NULL;
  g_autofree char *dump_meta_path = NULL;
  gboolean serve = FALSE;
  int timeout_sec = 0, deadline_sec = 0, max_connections = 0;
  int max_recipients = 0, max_bad = 0;
  gint64 max_size = 0;

  GOptionEntry entries[] = {
      {"config", 'C', 0, G_OPTION_ARG_FILENAME, &config_path,
       "configuration file", "FILE"},
      {"domain", 0, 0, G_OPTION_ARG_STRING_ARRAY, &domains,
       "create a domain (with an alias domain)", "HOST[=ALIAS]"},
      {"list", 0, 0, G_OPTION_ARG_STRING_ARRAY, &lists, "create a list",
       "NAME@HOST"},
      {"serve", 0, 0, G_OPTION_ARG_NONE, &serve, "run the server", NULL},
      {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout_sec, "idle timeout",
       "SEC"},
      {"deadline", 0, 0, G_OPTION_ARG_INT, &deadline_sec, "session deadline",
       "SEC"},
      {"max-size", 0, 0, G_OPTION_ARG_INT64, &max_size, "message size limit",
       "BYTES"},
      {"max-connections", 0, 0, G_OPTION_ARG_INT, &max_connections,
       "concurrent sessions", "N"},
      {"max-recipients", 0, 0, G_OPTION_ARG_INT, &max_recipients,
       "recipients per transaction", "N"},
      {"max-bad", 0, 0, G_OPTION_ARG_INT, &max_bad, "bad commands", "N"},
      {"dump", 0, 0, G_OPTION_ARG_FILENAME, &dump_path,
       "print a queue file's message", "FILE"},
      {"dump-meta", 0, 0, G_OPTION_ARG_FILENAME, &dump_meta_path,
       "print a queue file's metadata", "FILE"},
      {NULL},
  };
  g_autoptr(GOptionContext) options = g_option_context_new(NULL);
  g_option_context_add_main_entries(options, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(options, &argc, &argv, &error)) {
    fprintf(stderr, "mm-lmtp-testd: %s\n", error->message);
    return 2;
  }
  if (dump_path != NULL)
    return dump(dump_path, FALSE);
  if (dump_meta_path != NULL)
    return dump(dump_meta_path, TRUE);

  mm_log_init();
  g_autoptr(MmConfig) config = mm_config_load(config_path, &error);
  if (config == NULL || !mm_config_ensure_dirs(config, &error)) {
    fprintf(stderr, "mm-lmtp-testd: %s\n", error->message);
    return 2;
  }
  const GPtrArray *warnings = mm_config_warnings(config);
  for (guint i = 0; i < warnings->len; i++)
    fprintf(stderr, "mm-lmtp-testd: warning: %s\n",
            (const char *)g_ptr_array_index(warnings, i));
  if ((domains != NULL || lists != NULL) &&
      !setup_names(config, domains, lists, &error)) {
    fprintf(stderr, "mm-lmtp-testd: %s\n", error->message);
    return 1;
  }
  if (!serve)
    return 0;

  MmLmtpLimits limits;
  if (!mm_lmtp_limits_from_config(config, &limits, &error)) {
    fprintf(stderr, "mm-lmtp-testd: %s\n", error->message);
    return 2;
  }
  if (timeout_sec > 0)
    limits.timeout_usec = (gint64)timeout_sec * G_USEC_PER_SEC;
  if (deadline_sec > 0)
    limits.session_deadline_usec = (gint64)deadline_sec * G_USEC_PER_SEC;
  if (max_size > 0)
    limits.max_message_size = max_size;
  if (max_connections > 0)
    limits.max_connections = (guint)max_connections;
  if (max_recipients > 0)
    limits.max_recipients = (guint)max_recipients;
  if (max_bad > 0)
    limits.max_bad_commands = (guint)max_bad;

  g_autoptr(MmLmtpServer) server =
      mm_lmtp_server_new_with_limits(config, &limits, &error);
  if (server == NULL) {
    fprintf(stderr, "mm-lmtp-testd: %s\n", error->message);
    return 1;
  }
  g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
  if (!mm_lmtp_server_start(server, NULL, &error)) {
    fprintf(stderr, "mm-lmtp-testd: %s\n", error->message);
    return 1;
  }
  g_unix_signal_add(SIGTERM, on_signal, loop);
  g_unix_signal_add(SIGINT, on_signal, loop);
  printf("READY %u\n", mm_lmtp_server_port(server));
  fflush(stdout);
  g_main_loop_run(loop);
  return 0;
}
