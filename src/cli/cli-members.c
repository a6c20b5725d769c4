/* mailman members | addmembers | delmembers | syncmembers
 *
 * Files of members are one "Display Name <address>" (or bare address) per
 * line; blank lines and lines starting with '#' are ignored; "-" reads
 * standard input.  Each command runs in one transaction: either every
 * change it reports is made, or none.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "base-address.h"
#include "base-log.h"

/* A member file is read whole; 64 MiB is some millions of addresses. */
#define MEMBER_FILE_MAX (64u << 20)

static gboolean
parse_role(const char *text, MmMemberRole *role_out, gboolean *admins_out,
           gboolean *any_out)
{
  *admins_out = *any_out = FALSE;
  *role_out = MM_ROLE_MEMBER;
  if (text == NULL || g_str_equal(text, "member"))
    return TRUE;
  if (g_str_equal(text, "owner"))
    *role_out = MM_ROLE_OWNER;
  else if (g_str_equal(text, "moderator"))
    *role_out = MM_ROLE_MODERATOR;
  else if (g_str_equal(text, "nonmember"))
    *role_out = MM_ROLE_NONMEMBER;
  else if (g_str_equal(text, "administrator"))
    *admins_out = TRUE;
  else if (g_str_equal(text, "any"))
    *any_out = TRUE;
  else
    return FALSE;
  return TRUE;
}

static gboolean
parse_delivery(const char *text, MmDeliveryMode *mode_out,
               gboolean *disabled_out)
{
  *disabled_out = FALSE;
  *mode_out = MM_DELIVERY_REGULAR;
  if (text == NULL || g_str_equal(text, "regular"))
    return TRUE;
  if (g_str_equal(text, "mime"))
    *mode_out = MM_DELIVERY_MIME_DIGESTS;
  else if (g_str_equal(text, "plain"))
    *mode_out = MM_DELIVERY_PLAINTEXT_DIGESTS;
  else if (g_str_equal(text, "summary"))
    *mode_out = MM_DELIVERY_SUMMARY_DIGESTS;
  else if (g_str_equal(text, "disabled"))
    *disabled_out = TRUE;
  else
    return FALSE;
  return TRUE;
}

static gboolean
status_matches(const char *nomail, MmDeliveryStatus status)
{
  if (nomail == NULL)
    return TRUE;
  if (g_str_equal(nomail, "enabled"))
    return status == MM_STATUS_ENABLED;
  if (g_str_equal(nomail, "any"))
    return status != MM_STATUS_ENABLED;
  if (g_str_equal(nomail, "unknown"))
    return status == MM_STATUS_UNKNOWN;
  if (g_str_equal(nomail, "byadmin"))
    return status == MM_STATUS_BY_MODERATOR;
  if (g_str_equal(nomail, "byuser"))
    return status == MM_STATUS_BY_USER;
  if (g_str_equal(nomail, "bybounces"))
    return status == MM_STATUS_BY_BOUNCES;
  return FALSE;
}

static gboolean
digest_matches(const char *digest, MmDeliveryMode mode)
{
  if (digest == NULL)
    return TRUE;
  if (g_str_equal(digest, "any"))
    return mode != MM_DELIVERY_REGULAR;
  if (g_str_equal(digest, "plaintext"))
    return mode == MM_DELIVERY_PLAINTEXT_DIGESTS;
  if (g_str_equal(digest, "mime"))
    return mode == MM_DELIVERY_MIME_DIGESTS;
  return FALSE;
}

/* The members of @list_id with @role, or every role with @any, or owners
 * and moderators with @admins; one roster query either way. */
static GPtrArray *
select_roster(MmStore *store, const char *list_id, MmMemberRole role,
              gboolean admins, gboolean any, GError **error)
{
  MmRosterQuery query = {.role = (admins || any) ? 0 : role};
  GPtrArray *all = mm_store_roster(store, list_id, &query, error);

  if (all == NULL || !admins)
    return all;
  /* Owners win over moderators when an address is both, as Mailman's
   * administrators roster. */
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)mm_member_free);
  GHashTable *owners = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < all->len; i++) {
    MmMember *m = all->pdata[i];
    if (m->role == MM_ROLE_OWNER)
      g_hash_table_add(owners, m->email);
  }
  for (guint i = all->len; i > 0; i--) {
    MmMember *m = g_ptr_array_steal_index(all, i - 1);
    if (m->role == MM_ROLE_OWNER ||
        (m->role == MM_ROLE_MODERATOR &&
         !g_hash_table_contains(owners, m->email)))
      g_ptr_array_insert(out, 0, m);
    else
      mm_member_free(m);
  }
  g_hash_table_destroy(owners);
  g_ptr_array_unref(all);
  return out;
}

int
mm_cli_members(MmCli *cli, int argc, char **argv)
{
  g_autofree char *output = NULL, *role_text = NULL, *digest = NULL;
  g_autofree char *nomail = NULL;
  gboolean regular = FALSE, email_only = FALSE, count_only = FALSE;
  gboolean no_op = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
       "Write to FILE instead of standard output", "FILE"},
      {"role", 'R', 0, G_OPTION_ARG_STRING, &role_text,
       "any, owner, moderator, nonmember, member (default), administrator",
       "ROLE"},
      {"regular", 'r', 0, G_OPTION_ARG_NONE, &regular,
       "Only regular-delivery members", NULL},
      {"digest", 'd', 0, G_OPTION_ARG_STRING, &digest,
       "Only digest members: any, plaintext, mime", "KIND"},
      {"nomail", 'n', 0, G_OPTION_ARG_STRING, &nomail,
       "Only members whose delivery is: enabled, any (disabled), unknown, "
       "byadmin, byuser, bybounces",
       "STATUS"},
      {"email-only", 'e', 0, G_OPTION_ARG_NONE, &email_only,
       "Print addresses without display names", NULL},
      {"count-only", 'c', 0, G_OPTION_ARG_NONE, &count_only,
       "Print only the number of members", NULL},
      {"no-change", 'N', 0, G_OPTION_ARG_NONE, &no_op,
       "Accepted for compatibility; does nothing", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, "LISTSPEC", "Show a list's members.", entries, &argc,
                    &argv, &status))
    return status;
  if (argc != 2) {
    fprintf(stderr, "mailman members: give exactly one list\n");
    return MM_CLI_EXIT_USAGE;
  }
  MmMemberRole role;
  gboolean admins, any;
  if (!parse_role(role_text, &role, &admins, &any)) {
    fprintf(stderr, "mailman members: unknown role %s\n", role_text);
    return MM_CLI_EXIT_USAGE;
  }
  if (digest != NULL && !g_strv_contains((const char *const[]){"any",
                                         "plaintext", "mime", NULL}, digest)) {
    fprintf(stderr, "mailman members: unknown digest kind %s\n", digest);
    return MM_CLI_EXIT_USAGE;
  }
  if (nomail != NULL &&
      !g_strv_contains((const char *const[]){"enabled", "any", "unknown",
                                             "byadmin", "byuser", "bybounces",
                                             NULL},
                       nomail)) {
    fprintf(stderr, "mailman members: unknown delivery status %s\n", nomail);
    return MM_CLI_EXIT_USAGE;
  }

  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[1]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) roster =
      select_roster(store, list->list_id, role, admins, any, &error);
  if (roster == NULL)
    return mm_cli_fail(cli, "%s", error->message);

  GString *out = g_string_new(NULL);
  guint count = 0;
  for (guint i = 0; i < roster->len; i++) {
    MmMember *m = roster->pdata[i];
    if (regular && m->delivery_mode != MM_DELIVERY_REGULAR)
      continue;
    if (!digest_matches(digest, m->delivery_mode) ||
        !status_matches(nomail, m->delivery_status))
      continue;
    count++;
    if (email_only || m->display_name == NULL || *m->display_name == '\0')
      g_string_append_printf(out, "%s\n", m->email);
    else
      g_string_append_printf(out, "%s <%s>\n", m->display_name, m->email);
  }
  if (count_only) {
    g_string_truncate(out, 0);
    g_string_append_printf(out, "%u\n", count);
  } else if (count == 0) {
    g_string_append_printf(out, "%s has no members\n", list->list_id);
  }

  int rc = 0;
  if (output != NULL) {
    if (!g_file_set_contents(output, out->str, (gssize)out->len, &error))
      rc = mm_cli_fail(cli, "%s", error->message);
  } else {
    fwrite(out->str, 1, out->len, stdout);
  }
  g_string_free(out, TRUE);
  return rc;
}

int
mm_cli_addmembers(MmCli *cli, int argc, char **argv)
{
  g_autofree char *delivery = NULL;
  gboolean invite = FALSE, welcome = FALSE, no_welcome = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"delivery", 'd', 0, G_OPTION_ARG_STRING, &delivery,
       "regular (default), mime, plain, summary or disabled", "MODE"},
      {"invite", 'i', 0, G_OPTION_ARG_NONE, &invite,
       "Invite rather than subscribe (not supported yet)", NULL},
      {"welcome-msg", 'w', 0, G_OPTION_ARG_NONE, &welcome,
       "Send welcome messages (not sent yet: no delivery engine)", NULL},
      {"no-welcome-msg", 'W', 0, G_OPTION_ARG_NONE, &no_welcome,
       "Do not send welcome messages", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, "FILENAME LISTSPEC",
                    "Add members from FILENAME ('-' for standard input).",
                    entries, &argc, &argv, &status))
    return status;
  if (argc != 3) {
    fprintf(stderr, "mailman addmembers: give a file name and a list\n");
    return MM_CLI_EXIT_USAGE;
  }
  MmDeliveryMode mode;
  gboolean disabled;
  if (!parse_delivery(delivery, &mode, &disabled)) {
    fprintf(stderr, "mailman addmembers: unknown delivery mode %s\n",
            delivery);
    return MM_CLI_EXIT_USAGE;
  }
  if (invite)
    return mm_cli_fail(cli, "--invite needs the invitation workflow, which "
                            "this version does not have yet");

  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[2]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_auto(GStrv) lines = mm_cli_read_lines(cli, argv[1], MEMBER_FILE_MAX);
  if (lines == NULL)
    return MM_CLI_EXIT_FAILURE;

  g_autoptr(GError) error = NULL;
  if (!mm_store_begin(store, &error))
    return mm_cli_fail(cli, "%s", error->message);
  guint added = 0;
  for (char **line = lines; *line != NULL; line++) {
    const char *text = g_strstrip(*line);
    if (*text == '\0' || *text == '#')
      continue;
    g_autofree char *name = NULL, *email = NULL;
    if (!mm_address_parse_line(text, &name, &email)) {
      fprintf(stderr, "Skipping a line with no valid address: %s\n", text);
      continue;
    }
    if (!mm_store_member_add(store, list->list_id, email, name, MM_ROLE_MEMBER,
                             mode, &error)) {
      if (g_error_matches(error, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS)) {
        fprintf(stderr, "Skipping %s: already a member\n", email);
      } else if (g_error_matches(error, MM_STORE_ERROR,
                                 MM_STORE_ERROR_INVALID)) {
        fprintf(stderr, "Skipping %s: %s\n", email, error->message);
      } else {
        mm_store_rollback(store);
        return mm_cli_fail(cli, "%s", error->message);
      }
      g_clear_error(&error);
      continue;
    }
    if (disabled &&
        !mm_store_member_set_delivery_status(store, list->list_id, email,
                                             MM_STATUS_BY_MODERATOR, &error)) {
      mm_store_rollback(store);
      return mm_cli_fail(cli, "%s", error->message);
    }
    added++;
  }
  if (!mm_store_commit(store, &error)) {
    mm_store_rollback(store);
    return mm_cli_fail(cli, "%s", error->message);
  }
  mm_log_info("subscribe", "%s: %u members added by the command line",
              list->list_id, added);
  return 0;
}

/* Removes @email from @list_id; prints a note when it is not a member. */
static gboolean
remove_member(MmCli *cli, MmStore *store, const char *list_id,
              const char *email, guint *removed, GError **error)
{
  if (mm_store_member_remove(store, list_id, email, MM_ROLE_MEMBER, error)) {
    (*removed)++;
    return TRUE;
  }
  if (g_error_matches(*error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND) ||
      g_error_matches(*error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID)) {
    fprintf(stderr, "Skipping %s: not a member of %s\n", email, list_id);
    g_clear_error(error);
    return TRUE;
  }
  return FALSE;
}

int
mm_cli_delmembers(MmCli *cli, int argc, char **argv)
{
  g_auto(GStrv) lists = NULL, members = NULL;
  g_autofree char *file = NULL;
  gboolean all = FALSE, fromall = FALSE;
  gboolean goodbye = FALSE, no_goodbye = FALSE, notify = FALSE,
           no_notify = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"list", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &lists,
       "The list to remove members from (repeatable)", "LISTSPEC"},
      {"file", 'f', 0, G_OPTION_ARG_FILENAME, &file,
       "A file of addresses to remove ('-' for standard input)", "FILENAME"},
      {"member", 'm', 0, G_OPTION_ARG_STRING_ARRAY, &members,
       "An address to remove (repeatable)", "ADDRESS"},
      {"all", 'a', 0, G_OPTION_ARG_NONE, &all,
       "Remove every member of the lists", NULL},
      {"fromall", 0, 0, G_OPTION_ARG_NONE, &fromall,
       "Remove the addresses from every list", NULL},
      {"goodbye-msg", 'g', 0, G_OPTION_ARG_NONE, &goodbye,
       "Send goodbye messages", NULL},
      {"no-goodbye-msg", 'G', 0, G_OPTION_ARG_NONE, &no_goodbye,
       "Do not send goodbye messages", NULL},
      {"admin-notify", 'n', 0, G_OPTION_ARG_NONE, &notify,
       "Notify the list owners", NULL},
      {"no-admin-notify", 'N', 0, G_OPTION_ARG_NONE, &no_notify,
       "Do not notify the list owners", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, NULL, "Remove members from lists.", entries, &argc,
                    &argv, &status))
    return status;
  if (argc != 1) {
    fprintf(stderr, "mailman delmembers: unexpected argument %s\n", argv[1]);
    return MM_CLI_EXIT_USAGE;
  }
  if (fromall && (lists != NULL || all)) {
    fprintf(stderr,
            "mailman delmembers: --fromall goes with neither --list nor "
            "--all\n");
    return MM_CLI_EXIT_USAGE;
  }
  if (!fromall && lists == NULL) {
    fprintf(stderr, "mailman delmembers: name a list with -l, or use "
                    "--fromall\n");
    return MM_CLI_EXIT_USAGE;
  }
  if (!all && file == NULL && members == NULL) {
    fprintf(stderr, "mailman delmembers: name members with -m or -f, or use "
                    "--all\n");
    return MM_CLI_EXIT_USAGE;
  }

  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(GError) error = NULL;

  /* The addresses named, from -m and -f. */
  g_autoptr(GPtrArray) emails = g_ptr_array_new_with_free_func(g_free);
  for (char **m = members; m != NULL && *m != NULL; m++)
    g_ptr_array_add(emails, g_strdup(*m));
  if (file != NULL) {
    g_auto(GStrv) lines = mm_cli_read_lines(cli, file, MEMBER_FILE_MAX);
    if (lines == NULL)
      return MM_CLI_EXIT_FAILURE;
    for (char **line = lines; *line != NULL; line++) {
      const char *text = g_strstrip(*line);
      g_autofree char *name = NULL, *email = NULL;
      if (*text == '\0' || *text == '#')
        continue;
      if (!mm_address_parse_line(text, &name, &email)) {
        fprintf(stderr, "Skipping a line with no valid address: %s\n", text);
        continue;
      }
      g_ptr_array_add(emails, g_steal_pointer(&email));
    }
  }

  /* The lists to act on. */
  g_autoptr(GPtrArray) targets =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_list_free);
  if (fromall) {
    g_autoptr(GPtrArray) every = mm_store_lists(store, &error);
    if (every == NULL)
      return mm_cli_fail(cli, "%s", error->message);
    while (every->len > 0)
      g_ptr_array_add(targets, g_ptr_array_steal_index(every, 0));
  } else {
    for (char **l = lists; *l != NULL; l++) {
      MmList *list = mm_cli_get_list(cli, store, *l);
      if (list == NULL)
        return MM_CLI_EXIT_FAILURE;
      g_ptr_array_add(targets, list);
    }
  }

  if (!mm_store_begin(store, &error))
    return mm_cli_fail(cli, "%s", error->message);
  guint removed = 0;
  for (guint t = 0; t < targets->len; t++) {
    MmList *list = targets->pdata[t];
    if (all) {
      MmRosterQuery query = {.role = MM_ROLE_MEMBER};
      g_autoptr(GPtrArray) roster =
          mm_store_roster(store, list->list_id, &query, &error);
      for (guint i = 0; roster != NULL && i < roster->len; i++) {
        MmMember *m = roster->pdata[i];
        if (!remove_member(cli, store, list->list_id, m->email, &removed,
                           &error))
          break;
      }
    } else {
      for (guint i = 0; i < emails->len; i++) {
        /* --fromall names addresses that most lists do not have: quiet. */
        if (fromall) {
          g_autoptr(MmMember) m = mm_store_member_get(
              store, list->list_id, emails->pdata[i], MM_ROLE_MEMBER, NULL);
          if (m == NULL)
            continue;
        }
        if (!remove_member(cli, store, list->list_id, emails->pdata[i],
                           &removed, &error))
          break;
      }
    }
    if (error != NULL) {
      mm_store_rollback(store);
      return mm_cli_fail(cli, "%s", error->message);
    }
  }
  if (!mm_store_commit(store, &error)) {
    mm_store_rollback(store);
    return mm_cli_fail(cli, "%s", error->message);
  }
  mm_log_info("subscribe", "%u memberships removed by the command line",
              removed);
  return 0;
}

int
mm_cli_syncmembers(MmCli *cli, int argc, char **argv)
{
  g_autofree char *delivery = NULL;
  gboolean welcome = FALSE, no_welcome = FALSE, goodbye = FALSE,
           no_goodbye = FALSE, notify = FALSE, no_notify = FALSE,
           dry_run = FALSE;
  int status = 0;
  const GOptionEntry entries[] = {
      {"delivery", 'd', 0, G_OPTION_ARG_STRING, &delivery,
       "Delivery mode of added members: regular, mime, plain, summary, "
       "disabled",
       "MODE"},
      {"welcome-msg", 'w', 0, G_OPTION_ARG_NONE, &welcome,
       "Send welcome messages", NULL},
      {"no-welcome-msg", 'W', 0, G_OPTION_ARG_NONE, &no_welcome,
       "Do not send welcome messages", NULL},
      {"goodbye-msg", 'g', 0, G_OPTION_ARG_NONE, &goodbye,
       "Send goodbye messages", NULL},
      {"no-goodbye-msg", 'G', 0, G_OPTION_ARG_NONE, &no_goodbye,
       "Do not send goodbye messages", NULL},
      {"admin-notify", 'a', 0, G_OPTION_ARG_NONE, &notify,
       "Notify the list owners", NULL},
      {"no-admin-notify", 'A', 0, G_OPTION_ARG_NONE, &no_notify,
       "Do not notify the list owners", NULL},
      {"no-change", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
       "Show what would change without changing anything", NULL},
      {NULL}};

  if (!mm_cli_parse(cli, "FILENAME LISTSPEC",
                    "Make the list's members exactly those in FILENAME "
                    "('-' for standard input).",
                    entries, &argc, &argv, &status))
    return status;
  if (argc != 3) {
    fprintf(stderr, "mailman syncmembers: give a file name and a list\n");
    return MM_CLI_EXIT_USAGE;
  }
  MmDeliveryMode mode;
  gboolean disabled;
  if (!parse_delivery(delivery, &mode, &disabled)) {
    fprintf(stderr, "mailman syncmembers: unknown delivery mode %s\n",
            delivery);
    return MM_CLI_EXIT_USAGE;
  }

  g_autoptr(MmStore) store = mm_cli_open_store(cli);
  if (store == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_autoptr(MmList) list = mm_cli_get_list(cli, store, argv[2]);
  if (list == NULL)
    return MM_CLI_EXIT_FAILURE;
  g_auto(GStrv) lines = mm_cli_read_lines(cli, argv[1], MEMBER_FILE_MAX);
  if (lines == NULL)
    return MM_CLI_EXIT_FAILURE;

  /* Wanted: folded address -> (name, address as written). */
  g_autoptr(GHashTable) wanted =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                            (GDestroyNotify)g_strfreev);
  g_autoptr(GPtrArray) wanted_order = g_ptr_array_new();
  for (char **line = lines; *line != NULL; line++) {
    const char *text = g_strstrip(*line);
    g_autofree char *name = NULL, *email = NULL;
    if (*text == '\0' || *text == '#')
      continue;
    if (!mm_address_parse_line(text, &name, &email)) {
      fprintf(stderr, "Skipping a line with no valid address: %s\n", text);
      continue;
    }
    g_autoptr(GError) invalid = NULL;
    char *folded = mm_address_fold_email(email, -1, NULL, NULL, &invalid);
    if (folded == NULL) {
      fprintf(stderr, "Skipping %s: %s\n", email, invalid->message);
      continue;
    }
    if (g_hash_table_contains(wanted, folded)) {
      g_free(folded);
      continue;
    }
    char **pair = g_new0(char *, 3);
    pair[0] = g_steal_pointer(&name);
    pair[1] = g_steal_pointer(&email);
    g_hash_table_insert(wanted, folded, pair);
    g_ptr_array_add(wanted_order, folded);
  }

  g_autoptr(GError) error = NULL;
  if (!dry_run && !mm_store_begin(store, &error))
    return mm_cli_fail(cli, "%s", error->message);
  MmRosterQuery query = {.role = MM_ROLE_MEMBER};
  g_autoptr(GPtrArray) roster =
      mm_store_roster(store, list->list_id, &query, &error);
  if (roster == NULL) {
    if (!dry_run)
      mm_store_rollback(store);
    return mm_cli_fail(cli, "%s", error->message);
  }

  g_autoptr(GHashTable) current =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  guint changes = 0;
  for (guint i = 0; i < roster->len; i++) {
    MmMember *m = roster->pdata[i];
    g_hash_table_add(current, g_ascii_strdown(m->email, -1));
  }
  for (guint i = 0; i < wanted_order->len; i++) {
    const char *folded = wanted_order->pdata[i];
    if (g_hash_table_contains(current, folded))
      continue;
    char **pair = g_hash_table_lookup(wanted, folded);
    changes++;
    if (pair[0] != NULL && *pair[0] != '\0')
      printf("[ADD] %s <%s>\n", pair[0], pair[1]);
    else
      printf("[ADD] %s\n", pair[1]);
    if (dry_run)
      continue;
    if (!mm_store_member_add(store, list->list_id, pair[1], pair[0],
                             MM_ROLE_MEMBER, mode, &error) ||
        (disabled &&
         !mm_store_member_set_delivery_status(store, list->list_id, pair[1],
                                              MM_STATUS_BY_MODERATOR,
                                              &error))) {
      mm_store_rollback(store);
      return mm_cli_fail(cli, "%s", error->message);
    }
  }
  for (guint i = 0; i < roster->len; i++) {
    MmMember *m = roster->pdata[i];
    g_autofree char *folded = g_ascii_strdown(m->email, -1);
    if (g_hash_table_contains(wanted, folded))
      continue;
    changes++;
    if (m->display_name != NULL && *m->display_name != '\0')
      printf("[DEL] %s <%s>\n", m->display_name, m->email);
    else
      printf("[DEL] %s\n", m->email);
    if (dry_run)
      continue;
    if (!mm_store_member_remove(store, list->list_id, m->email,
                                MM_ROLE_MEMBER, &error)) {
      mm_store_rollback(store);
      return mm_cli_fail(cli, "%s", error->message);
    }
  }
  if (changes == 0)
    printf("Nothing to change.\n");
  if (!dry_run && !mm_store_commit(store, &error)) {
    mm_store_rollback(store);
    return mm_cli_fail(cli, "%s", error->message);
  }
  return 0;
}
