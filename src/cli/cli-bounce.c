/* `mailman scan-bounce [-l LIST] [-v] [FILE...]`: what the bounce detection
 * makes of a message.
 *
 * For each FILE (standard input when none, or "-"), prints every address
 * the detectors report, one per line, a TAB, and "permanent" or
 * "temporary"; nothing for a message that is not a bounce (an auto-reply,
 * ordinary mail, a format no detector knows).  With --list it decides as
 * the bounces runner of that list would, VERP first (so a VERPed bounce
 * prints the member's address, and a VERPed non-report prints nothing).
 * With --verbose, stderr says which detector recognised each message.
 * Site administrators use it to understand a bounce; tests use it too.
 * Mailman 3 has no such command.
 *
 * Exit status 0, also when nothing is found; 1 when a file cannot be read.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "bounce.h"

/* A bounce bigger than the queue accepts never reaches the runner. */
#define SCAN_INPUT_MAX (64u * 1024u * 1024u)

static void
print_addresses(GPtrArray *addresses, const char *permanence)
{
  for (guint i = 0; i < addresses->len; i++)
    printf("%s\t%s\n", (const char *)addresses->pdata[i], permanence);
}

static void
scan_one(const MmBounceMessage *message, const char *name, gboolean verbose)
{
  g_autoptr(MmBounceScan) scan = mm_bounce_scan(message);

  print_addresses(scan->permanent, "permanent");
  print_addresses(scan->temporary, "temporary");
  if (verbose)
    fprintf(stderr, "%s: %s\n", name,
            scan->auto_reply ? "auto-reply, not a bounce"
            : scan->detector ? scan->detector
                             : "not recognised");
}

static void
decide_one(const MmBounceMessage *message, const MmBounceVerp *verp,
           const char *bounces_local, const char *name, gboolean verbose)
{
  g_autoptr(MmBounceVerdict) verdict =
      mm_bounce_decide(verp, message, bounces_local, NULL, NULL);
  const char *what = "";

  switch (verdict->kind) {
  case MM_BOUNCE_VERDICT_REGISTER:
    print_addresses(verdict->addresses, "permanent");
    what = "bounce, recorded";
    break;
  case MM_BOUNCE_VERDICT_TEMPORARY:
    print_addresses(verdict->addresses, "temporary");
    what = "temporary failure, ignored";
    break;
  case MM_BOUNCE_VERDICT_UNRECOGNIZED:
    what = "not recognised, forwarded";
    break;
  case MM_BOUNCE_VERDICT_AUTO_REPLY:
    what = "auto-reply, dropped";
    break;
  }
  if (verbose)
    fprintf(stderr, "%s: %s%s (%s)\n", name, verdict->verp ? "VERP, " : "",
            what, verdict->detector ? verdict->detector : "no detector");
}

int
mm_cli_scan_bounce(MmCli *cli, int argc, char **argv)
{
  g_autofree char *list = NULL;
  gboolean verbose = FALSE;
  const GOptionEntry entries[] = {
      {"list", 'l', 0, G_OPTION_ARG_STRING, &list,
       "Decide as the bounces runner of LIST (name@domain) would, VERP first",
       "LIST"},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
       "Say on standard error what each message was taken for", NULL},
      {NULL},
  };
  int status = 0;

  if (!mm_cli_parse(cli, "[FILE...]",
                    "Print the addresses a bounce message reports as failed, "
                    "each with\n\"permanent\" or \"temporary\".",
                    entries, &argc, &argv, &status))
    return status;

  g_autoptr(MmBounceVerp) verp = NULL;
  g_autofree char *bounces_local = NULL;
  if (list != NULL) {
    const char *at = strchr(list, '@');
    if (at == NULL || at == list || strchr(at + 1, '@') != NULL) {
      fprintf(stderr, "mailman %s: --list wants name@domain, not %s\n",
              cli->command, list);
      return MM_CLI_EXIT_USAGE;
    }
    g_autoptr(GError) error = NULL;
    verp = mm_bounce_verp_new(
        mm_config_get(cli->config, "mta", "verp_regexp"),
        mm_config_get(cli->config, "mta", "verp_probe_regexp"), &error);
    if (verp == NULL)
      return mm_cli_fail(cli, "%s", error->message);
    /* Mailman's bounces address is always NAME-bounces@DOMAIN. */
    g_autofree char *name = g_strndup(list, (gsize)(at - list));
    bounces_local = g_strconcat(name, "-bounces", NULL);
  }

  g_autoptr(GPtrArray) files = g_ptr_array_new();
  for (int i = 1; i < argc; i++)
    g_ptr_array_add(files, argv[i]);
  if (files->len == 0)
    g_ptr_array_add(files, (gpointer) "-");
  for (guint i = 0; i < files->len; i++) {
    const char *file = files->pdata[i];
    g_autoptr(GBytes) raw = mm_cli_read_input(cli, file, SCAN_INPUT_MAX);
    if (raw == NULL)
      return MM_CLI_EXIT_FAILURE;
    g_autoptr(MmBounceMessage) message = mm_bounce_message_parse(raw);
    const char *name = g_str_equal(file, "-") ? "(stdin)" : file;
    if (verp != NULL)
      decide_one(message, verp, bounces_local, name, verbose);
    else
      scan_one(message, name, verbose);
  }
  fflush(stdout);
  return 0;
}
