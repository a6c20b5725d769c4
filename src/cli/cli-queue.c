/* mailman inject | unshunt | qfile
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base-file.h"
#include "base-log.h"
#include "message.h"
#include "queue.h"

/* The largest message inject takes: Mailman's LMTP limit. */
#define INJECT_MAX (32u << 20)

static const char *const known_queues[] = {
    "archive", "bad",     "bounces", "command", "digest", "in", "nntp",
    "out",     "pipeline", "retry",  "shunt",   "virgin", NULL};

int
mm_cli_inject(MmCli *cli, int argc, char **argv)
{
  g_autofree char *queue_name = NULL, *filename = NULL;
  g_auto(GStrv) keywords = NULL;
  gboolean show = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"queue", 'q', 0, G_OPTION_ARG_STRING, &queue_name,
       "The queue to inject into (default: in)", "QUEUE"},
      {"show", 's', 0, G_OPTION_ARG_NONE, &show,
       "List the queues and exit", NULL},
      {"filename", 'f', 0, G_OPTION_ARG_FILENAME, &filename,
       "The message file (default: standard input)", "FILE"},
      {"metadata", 'm', 0, G_OPTION_ARG_STRING_ARRAY, &keywords,
       "Extra metadata as KEY=VALUE (repeatable)", "KEY=VALUE"},
      {NULL}};

  if (!mm_cli_parse(cli, "LISTSPEC", "Put a message into a queue.", entries,
                    &argc, &argv, &status))
    return status;
  if (show) {
    printf("Available queues:\n");
    for (const char *const *q = known_queues; *q != NULL; q++)
      printf("    %s\n", *q);
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "mailman inject: give exactly one list\n");
    return MM_CLI_EXIT_USAGE;
  }
  const char *queue = queue_name ? queue_name : "in";
  if (!g_strv_contains(known_queues, queue))
    return mm_cli_fail(cli, "no such queue: %s", queue);

  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[1]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;

  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) raw = mm_cli_read_input(cli, filename, INJECT_MAX);
  if (raw == NULL)
    return MM_CLI_EXIT_FAILURE;
  if (g_bytes_get_size(raw) == 0)
    return mm_cli_fail(cli, "the message is empty");

  g_autofree char *message_id = NULL;
  g_autoptr(GBytes) prepared = mm_message_inject_prepare(
      raw, list->mail_host, &message_id, &error);
  if (prepared == NULL)
    return mm_cli_fail(cli, "%s", error->message);

  json_t *meta = json_object();
  json_object_set_new(meta, "listid", json_string(list->list_id));
  json_object_set_new(meta, "original_size",
                      json_integer((json_int_t)g_bytes_get_size(raw)));
  for (char **kv = keywords; kv != NULL && *kv != NULL; kv++) {
    const char *eq = strchr(*kv, '=');
    g_autofree char *key = eq ? g_strndup(*kv, (gsize)(eq - *kv))
                              : g_strdup(*kv);
    json_object_set_new(meta, key, json_string(eq ? eq + 1 : ""));
  }
  g_autofree char *id = mm_queue_enqueue_to(
      mm_config_path(cli->config, "queue_dir"), queue, prepared, meta, &error);
  json_decref(meta);
  if (id == NULL)
    return mm_cli_fail(cli, "%s", error->message);
  return 0;
}

int
mm_cli_unshunt(MmCli *cli, int argc, char **argv)
{
  gboolean discard = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"discard", 'd', 0, G_OPTION_ARG_NONE, &discard,
       "Delete the shunted messages instead", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, NULL,
                    "Move shunted messages back to the queues they came "
                    "from.",
                    entries, &argc, &argv, &status))
    return status;
  if (argc != 1) {
    fprintf(stderr, "mailman unshunt: takes no arguments\n");
    return MM_CLI_EXIT_USAGE;
  }
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func(g_free);
  guint handled = 0;
  if (!mm_queue_unshunt(mm_config_path(cli->config, "queue_dir"), discard,
                        &handled, failures, &error))
    return mm_cli_fail(cli, "%s", error->message);
  for (guint i = 0; i < failures->len; i++)
    fprintf(stderr, "Skipped: %s\n", (char *)failures->pdata[i]);
  if (handled > 0)
    printf("%u shunted message%s %s\n", handled, handled == 1 ? "" : "s",
           discard ? "discarded" : "moved back to their queues");
  return failures->len == 0 ? 0 : MM_CLI_EXIT_FAILURE;
}

int
mm_cli_qfile(MmCli *cli, int argc, char **argv)
{
  gboolean print = FALSE, no_print = FALSE, interactive = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"print", 'p', 0, G_OPTION_ARG_NONE, &print,
       "Print the metadata and the message (the default)", NULL},
      {"no-print", 'n', 0, G_OPTION_ARG_NONE, &no_print,
       "Only check that the file is readable", NULL},
      {"interactive", 'i', 0, G_OPTION_ARG_NONE, &interactive,
       "Not available (Mailman starts a Python shell)", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, "QFILE", "Show the contents of a queue file.",
                    entries, &argc, &argv, &status))
    return status;
  if (argc != 2) {
    fprintf(stderr, "mailman qfile: give exactly one queue file\n");
    return MM_CLI_EXIT_USAGE;
  }
  if (interactive)
    return mm_cli_fail(cli, "--interactive is not available: there is no "
                            "Python shell");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) message = NULL;
  json_t *meta = NULL;
  if (!mm_queue_file_read(argv[1], &message, &meta, &error))
    return mm_cli_fail(cli, "%s", error->message);
  if (!no_print) {
    char *dump = json_dumps(meta, JSON_INDENT(4) | JSON_SORT_KEYS);
    gsize len = 0;
    const char *data = g_bytes_get_data(message, &len);
    printf("[----- metadata -----]\n%s\n[----- message (%" G_GSIZE_FORMAT
           " bytes) -----]\n",
           dump, len);
    fwrite(data, 1, len, stdout);
    if (len > 0 && data[len - 1] != '\n')
      putchar('\n');
    printf("[----- end -----]\n");
    free(dump);
  }
  json_decref(meta);
  return 0;
}
