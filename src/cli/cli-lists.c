/* mailman create | remove | lists
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "base-log.h"
#include "cli-notice.h"
#include "mta.h"

/* Commits the open transaction after regenerating the MTA maps from it, so that a failing postmap leaves neither the change nor
 * maps that mention it. */
static gboolean
commit_with_mta(MmCli *cli, MmStore *store)
{
  if (!mm_cli_regenerate_mta(cli, store, NULL)) {
    mm_store_rollback(store);
    /* Put the maps back in line with the database as it now is; the
     * failure was reported once already. */
    g_autoptr(GError) again = NULL;
    if (!mm_mta_regenerate(cli->config, store, NULL, &again))
      mm_log_error("error", "regenerating the MTA maps after a rollback: %s",
                   again->message);
    return FALSE;
  }
  g_autoptr(GError) error = NULL;
  if (!mm_store_commit(store, &error)) {
    mm_cli_fail(cli, "%s", error->message);
    mm_store_rollback(store);
    return FALSE;
  }
  return TRUE;
}

int
mm_cli_create(MmCli *cli, int argc, char **argv)
{
  g_autofree char *language = NULL;
  g_auto(GStrv) owners = NULL;
  gboolean notify = FALSE, no_notify = FALSE, quiet = FALSE;
  gboolean domain = FALSE, no_domain = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"language", 0, 0, G_OPTION_ARG_STRING, &language,
       "The list's preferred language", "CODE"},
      {"owner", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &owners,
       "An owner of the list (repeatable)", "ADDRESS"},
      {"notify", 'n', 0, G_OPTION_ARG_NONE, &notify,
       "Tell the owners that the list was created", NULL},
      {"no-notify", 0, 0, G_OPTION_ARG_NONE, &no_notify,
       "Do not tell the owners (the default)", NULL},
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing", NULL},
      {"domain", 'd', 0, G_OPTION_ARG_NONE, &domain,
       "Create the domain if it does not exist (the default)", NULL},
      {"no-domain", 'D', 0, G_OPTION_ARG_NONE, &no_domain,
       "Fail if the domain does not exist", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, "LISTNAME@DOMAIN", "Create a mailing list.", entries,
                    &argc, &argv, &status))
    return status;
  if (argc != 2) {
    fprintf(stderr, "mailman create: give exactly one list name, as "
                    "name@domain\n");
    return MM_CLI_EXIT_USAGE;
  }
  const char *fqdn = argv[1];
  const char *at = strrchr(fqdn, '@');
  if (at == NULL || at == fqdn || at[1] == '\0')
    return mm_cli_fail(cli, "not a list name of the form name@domain: %s",
                       fqdn);
  g_autofree char *name = g_strndup(fqdn, (gsize)(at - fqdn));
  const char *mail_host = at + 1;
  g_autofree char *language_section =
      language ? g_strconcat("language.", language, NULL) : NULL;
  if (language != NULL &&
      mm_config_get(cli->config, language_section, "charset") == NULL)
    return mm_cli_fail(cli, "unknown language code: %s", language);

  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  if (!mm_store_begin(store, &error))
    return mm_cli_fail(cli, "%s", error->message);

  g_autoptr(MmDomain) existing = mm_store_domain_get(store, mail_host, NULL);
  if (existing == NULL) {
    if (no_domain) {
      mm_store_rollback(store);
      return mm_cli_fail(cli, "no such domain: %s", mail_host);
    }
    if (!mm_store_domain_add(store, mail_host, "", NULL, &error)) {
      mm_store_rollback(store);
      return mm_cli_fail(cli, "%s", error->message);
    }
  }
  const char *listname_chars =
      mm_config_get(cli->config, "mailman", "listname_chars");
  g_autoptr(MmList) list = mm_store_list_create(store, name, mail_host,
                                                listname_chars, &error);
  if (list == NULL) {
    mm_store_rollback(store);
    return mm_cli_fail(cli, "%s", error->message);
  }
  if (language != NULL &&
      !mm_store_list_set(store, list, "preferred_language", language,
                         &error)) {
    mm_store_rollback(store);
    return mm_cli_fail(cli, "%s", error->message);
  }
  for (char **o = owners; o != NULL && *o != NULL; o++) {
    if (!mm_store_member_add(store, list->list_id, *o, NULL, MM_ROLE_OWNER,
                             MM_DELIVERY_REGULAR, &error)) {
      mm_store_rollback(store);
      return mm_cli_fail(cli, "cannot add owner %s: %s", *o, error->message);
    }
  }
  if (!commit_with_mta(cli, store))
    return MM_CLI_EXIT_FAILURE;

  if (!quiet)
    printf("Created mailing list %s\n", list->fqdn_listname);
  if (notify && !no_notify && owners != NULL) {
    if (!mm_cli_notice_list_created(cli, list, (const char *const *)owners,
                                    &error))
      return mm_cli_fail(cli, "the list was created, but the notice to its "
                              "owners could not be queued: %s",
                         error->message);
  }
  return 0;
}

int
mm_cli_remove(MmCli *cli, int argc, char **argv)
{
  gboolean quiet = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, "LISTSPEC", "Remove a mailing list.", entries, &argc,
                    &argv, &status))
    return status;
  if (argc != 2) {
    fprintf(stderr, "mailman remove: give exactly one list\n");
    return MM_CLI_EXIT_USAGE;
  }
  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[1]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;

  g_autoptr(GError) error = NULL;
  if (!mm_store_begin(store, &error))
    return mm_cli_fail(cli, "%s", error->message);
  if (!mm_store_list_remove(store, list->list_id, &error)) {
    mm_store_rollback(store);
    return mm_cli_fail(cli, "%s", error->message);
  }
  if (!commit_with_mta(cli, store))
    return MM_CLI_EXIT_FAILURE;
  if (!quiet)
    printf("Removed mailing list %s\n", list->fqdn_listname);
  return 0;
}

int
mm_cli_lists(MmCli *cli, int argc, char **argv)
{
  gboolean advertised = FALSE, names = FALSE, no_names = FALSE;
  gboolean descriptions = FALSE, no_descriptions = FALSE, quiet = FALSE;
  g_auto(GStrv) domains = NULL;
  int status = 0;
  const GOptionEntry entries[] = {
      {"advertised", 'a', 0, G_OPTION_ARG_NONE, &advertised,
       "Only advertised lists", NULL},
      {"names", 'n', 0, G_OPTION_ARG_NONE, &names,
       "Show display names too", NULL},
      {"no-names", 'N', 0, G_OPTION_ARG_NONE, &no_names,
       "Do not show display names (the default)", NULL},
      {"descriptions", 'd', 0, G_OPTION_ARG_NONE, &descriptions,
       "Show descriptions too", NULL},
      {"no-descriptions", 'D', 0, G_OPTION_ARG_NONE, &no_descriptions,
       "Do not show descriptions (the default)", NULL},
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
       "Print only the lists, no header line", NULL},
      {"domain", 0, 0, G_OPTION_ARG_STRING_ARRAY, &domains,
       "Only lists in this domain (repeatable)", "DOMAIN"},
      {NULL}};

  if (!mm_cli_parse(cli, NULL, "List the mailing lists.", entries, &argc,
                    &argv, &status))
    return status;
  if (argc != 1) {
    fprintf(stderr, "mailman lists: takes no arguments\n");
    return MM_CLI_EXIT_USAGE;
  }
  names = names && !no_names;
  descriptions = descriptions && !no_descriptions;

  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = mm_store_lists(store, &error);
  if (all == NULL)
    return mm_cli_fail(cli, "%s", error->message);

  g_autoptr(GPtrArray) shown = g_ptr_array_new();
  for (guint i = 0; i < all->len; i++) {
    MmList *list = all->pdata[i];
    if (advertised && !list->advertised)
      continue;
    if (domains != NULL) {
      gboolean match = FALSE;
      for (char **d = domains; *d != NULL; d++)
        match = match || g_ascii_strcasecmp(*d, list->mail_host) == 0;
      if (!match)
        continue;
    }
    g_ptr_array_add(shown, list);
  }
  if (shown->len == 0) {
    if (!quiet)
      printf("No mailing lists match.\n");
    return 0;
  }
  if (!quiet)
    printf("%u matching mailing list%s:\n", shown->len,
           shown->len == 1 ? "" : "s");

  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
  gsize longest = 0;
  for (guint i = 0; i < shown->len; i++) {
    MmList *list = shown->pdata[i];
    char *id = names ? g_strdup_printf("%s [%s]", list->fqdn_listname,
                                       list->display_name)
                     : g_strdup(list->fqdn_listname);
    longest = MAX(longest, strlen(id));
    g_ptr_array_add(ids, id);
  }
  for (guint i = 0; i < shown->len; i++) {
    MmList *list = shown->pdata[i];
    if (descriptions)
      printf("%-*s - %s\n", (int)longest, (char *)ids->pdata[i],
             list->description);
    else
      printf("%s\n", (char *)ids->pdata[i]);
  }
  return 0;
}
