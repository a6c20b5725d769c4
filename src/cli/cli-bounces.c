/* mailman bounces | reenable
 *
 * `bounces LISTSPEC` shows the bounce state of a list's members: one line
 * per member, tab-separated under a header line, for people and scripts
 * alike (times in UTC, ISO 8601; "-" for never).  By default only members
 * with something to show (a score, a bounce on record, a warning, delivery
 * disabled by bounces); --all lists everyone.  --events N shows the list's
 * last N bounce events instead.
 *
 * `reenable LISTSPEC ADDRESS...` re-enables members (mm_bounce_member_
 * reenable): the bounce information is cleared and delivery disabled by
 * bounces is switched on again; a member who stopped delivery herself, or
 * was stopped by a moderator, keeps that status.  Mailman 3 has neither
 * command (its REST API and Postorius do this); the names are ours.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <stdio.h>

#include "base-log.h"
#include "bounce.h"
#include "storage-bounces.h"

#define EVENTS_MAX 100000

static const char *
status_name(MmDeliveryStatus status)
{
  switch (status) {
  case MM_STATUS_ENABLED:
    return "enabled";
  case MM_STATUS_BY_USER:
    return "by_user";
  case MM_STATUS_BY_BOUNCES:
    return "by_bounces";
  case MM_STATUS_BY_MODERATOR:
    return "by_moderator";
  case MM_STATUS_UNKNOWN:
    return "unknown";
  }
  return "unknown";
}

/* "2024-05-01T12:00:00Z", or "-" for never.  Transfer full. */
static char *
format_time(gint64 usec)
{
  if (usec == MM_STORE_BOUNCE_NEVER)
    return g_strdup("-");
  g_autoptr(GDateTime) time =
      g_date_time_new_from_unix_utc(usec / G_USEC_PER_SEC);
  if (time == NULL)
    return g_strdup("-");
  return g_date_time_format(time, "%Y-%m-%dT%H:%M:%SZ");
}

static int
show_events(MmCli *cli, MmStore *store, const MmList *list, gint count)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) events = mm_store_bounce_events_for(
      store, list->list_id, NULL, (guint)count, &error);
  if (events == NULL)
    return mm_cli_fail(cli, "%s", error->message);
  printf("time\temail\tcontext\tprocessed\tmessage_id\n");
  /* Oldest first, like a log. */
  for (guint i = events->len; i > 0; i--) {
    const MmStoreBounceEvent *event = events->pdata[i - 1];
    g_autofree char *when = format_time(event->timestamp_usec);
    g_autofree char *email = mm_log_escape(event->email, -1);
    g_autofree char *msgid =
        event->message_id ? mm_log_escape(event->message_id, -1)
                          : g_strdup("-");
    printf("%s\t%s\t%s\t%s\t%s\n", when, email,
           event->context == MM_STORE_BOUNCE_CONTEXT_PROBE ? "probe"
                                                            : "normal",
           event->processed ? "yes" : "no", msgid);
  }
  return 0;
}

int
mm_cli_bounces(MmCli *cli, int argc, char **argv)
{
  gboolean all = FALSE;
  gint events = 0;
  int status = 0;
  const GOptionEntry entries[] = {
      {"all", 'a', 0, G_OPTION_ARG_NONE, &all,
       "Show every member, not only those with bounce information", NULL},
      {"events", 'e', 0, G_OPTION_ARG_INT, &events,
       "Show the list's last N bounce events instead", "N"},
      {NULL}};

  if (!mm_cli_parse(cli, "LISTSPEC",
                    "Show the bounce state of a list's members.", entries,
                    &argc, &argv, &status))
    return status;
  if (argc != 2) {
    fprintf(stderr, "mailman bounces: give exactly one list\n");
    return MM_CLI_EXIT_USAGE;
  }
  if (events < 0 || events > EVENTS_MAX) {
    fprintf(stderr, "mailman bounces: --events takes 1 to %d\n", EVENTS_MAX);
    return MM_CLI_EXIT_USAGE;
  }

  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[1]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;
  if (events > 0)
    return show_events(cli, store, list, events);

  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) members =
      mm_store_member_bounces(store, list->list_id, !all, &error);
  if (members == NULL)
    return mm_cli_fail(cli, "%s", error->message);
  printf("email\tscore\tlast_bounce\twarnings\tlast_warning\tdelivery\n");
  for (guint i = 0; i < members->len; i++) {
    const MmStoreMemberBounce *m = members->pdata[i];
    g_autofree char *last_bounce = format_time(m->last_bounce_received_usec);
    g_autofree char *last_warning = format_time(m->last_warning_sent_usec);
    printf("%s\t%d\t%s\t%d\t%s\t%s\n", m->email, m->bounce_score, last_bounce,
           m->total_warnings_sent, last_warning,
           status_name(m->delivery_status));
  }
  return 0;
}

int
mm_cli_reenable(MmCli *cli, int argc, char **argv)
{
  int status = 0;
  const GOptionEntry entries[] = {{NULL}};

  if (!mm_cli_parse(cli, "LISTSPEC ADDRESS...",
                    "Re-enable delivery to members disabled by bounces and "
                    "clear their bounce information.",
                    entries, &argc, &argv, &status))
    return status;
  if (argc < 3) {
    fprintf(stderr, "mailman reenable: give a list and at least one "
                    "address\n");
    return MM_CLI_EXIT_USAGE;
  }
  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[1]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;

  int result = 0;
  for (int i = 2; i < argc; i++) {
    g_autoptr(GError) error = NULL;
    gboolean was_disabled = FALSE;
    if (!mm_bounce_member_reenable(store, list->list_id, argv[i],
                                   &was_disabled, &error)) {
      if (g_error_matches(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND) ||
          g_error_matches(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID))
        result = mm_cli_fail(cli, "%s is not a member of %s", argv[i],
                             list->fqdn_listname);
      else
        result = mm_cli_fail(cli, "%s", error->message);
      continue;
    }
    if (was_disabled) {
      printf("Re-enabled delivery to %s on %s\n", argv[i],
             list->fqdn_listname);
      g_autofree char *email_log = mm_log_escape(argv[i], -1);
      mm_log_info("bounce", "Delivery re-enabled for %s on list %s by the "
                            "administrator",
                  email_log, list->list_id);
    } else {
      printf("%s on %s was not disabled by bounces; its bounce "
             "information was cleared\n",
             argv[i], list->fqdn_listname);
    }
  }
  return result;
}
