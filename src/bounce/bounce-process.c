/* Scoring over the database: Mailman's BounceProcessor.process_event and
 * send_warnings_and_remove (model/bounce.py), run by the bounces runner
 * after each message and at every pass.
 *
 * The rules are the pure functions of bounce-score.c; this file loads a
 * member's state, calls them, performs the actions they return and saves
 * the state, one transaction per event or per member.  The log lines are
 * Mailman's, on the "bounce" logger.
 *
 * Transactions and crashes: an event is claimed (processed = 1) inside the
 * transaction that saves its outcome, so a failure or a crash before the
 * commit leaves it unprocessed for the next pass, and two bounces runners
 * never score one event twice (BEGIN IMMEDIATE serialises them; the second
 * finds it claimed).  Notices and probes are queued before the commit: a
 * crash between the two queues them again on the retry (at least once;
 * the alternative loses them).  A removal's goodbye and owner notice are
 * queued in the removal's transaction for the same reason.
 *
 * Departures from Mailman, each argued where it is made: process_bounces
 * off still records events (the rule) and marks them processed
 * without acting; the bounce kept for the notices is not deleted after the
 * first notice that attaches it (the task runner's eviction removes it),
 * so a disable notice after an increment notice still carries it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"


#include "base-error.h"
#include "base-log.h"
#include "storage-bounces.h"

#define BOUNCE_LOG "bounce"
/* Events read per query; the loop reads again until none are left. */
#define EVENT_BATCH 500

/* ---- the policy --------------------------------------------------------- */

static void
read_bool(const MmList *list, const char *name, gboolean *value)
{
  const char *text = mm_list_setting(list, name);
  gboolean parsed;
  if (text != NULL && mm_config_parse_bool(text, &parsed))
    *value = parsed;
}

static void
read_int(const MmList *list, const char *name, int *value)
{
  const char *text = mm_list_setting(list, name);
  gint64 parsed;
  if (text != NULL &&
      g_ascii_string_to_signed(text, 10, 0, G_MAXINT32, &parsed, NULL))
    *value = (int)parsed;
}

static void
read_interval(const MmList *list, const char *name, gint64 *usec)
{
  const char *text = mm_list_setting(list, name);
  gint64 parsed;
  if (text != NULL && mm_config_parse_duration_usec(text, &parsed))
    *usec = parsed;
}

void
mm_bounce_policy_from_list(MmBouncePolicy *policy, const MmConfig *config,
                           const MmList *list)
{
  mm_bounce_policy_init_default(policy);
  read_bool(list, "process_bounces", &policy->process_bounces);
  read_int(list, "bounce_score_threshold", &policy->bounce_score_threshold);
  read_interval(list, "bounce_info_stale_after",
                &policy->bounce_info_stale_after_usec);
  read_int(list, "bounce_you_are_disabled_warnings",
           &policy->bounce_you_are_disabled_warnings);
  read_interval(list, "bounce_you_are_disabled_warnings_interval",
                &policy->bounce_you_are_disabled_warnings_interval_usec);
  read_bool(list, "bounce_notify_owner_on_bounce_increment",
            &policy->bounce_notify_owner_on_bounce_increment);
  read_bool(list, "bounce_notify_owner_on_disable",
            &policy->bounce_notify_owner_on_disable);
  read_bool(list, "bounce_notify_owner_on_removal",
            &policy->bounce_notify_owner_on_removal);
  const char *probes = config != NULL
                           ? mm_config_get(config, "mta", "verp_probes")
                           : NULL;
  gboolean value;
  if (probes != NULL && mm_config_parse_bool(probes, &value))
    policy->verp_probes = value;
}

/* ---- state conversions -------------------------------------------------- */

static void
state_from_row(MmBounceMemberState *state, const MmStoreMemberBounce *row)
{
  state->bounce_score = row->bounce_score;
  state->last_bounce_received_usec = row->last_bounce_received_usec;
  state->disabled_by_bounces =
      row->own_delivery_status == MM_STATUS_BY_BOUNCES;
  state->total_warnings_sent = row->total_warnings_sent;
  state->last_warning_sent_usec = row->last_warning_sent_usec;
}

static void
state_to_row(MmStoreMemberBounce *row, const MmBounceMemberState *state)
{
  row->bounce_score = state->bounce_score;
  row->last_bounce_received_usec = state->last_bounce_received_usec;
  row->total_warnings_sent = state->total_warnings_sent;
  row->last_warning_sent_usec = state->last_warning_sent_usec;
}

static gint64
processor_now(const MmBounceProcessor *processor)
{
  return processor->clock != NULL ? processor->clock(processor->clock_data)
                                  : mm_bounce_clock_system(NULL);
}

/* ---- events ------------------------------------------------------------- */

/* The stored bounce of @message_id, or NULL when there is none any more
 * (Mailman's _get_dsn). */
static GBytes *
stored_bounce(const MmBounceProcessor *processor, const char *message_id)
{
  if (message_id == NULL)
    return NULL;
  const char *dir = mm_config_path(processor->config, "messages_dir");
  g_autoptr(GError) error = NULL;
  GBytes *bytes =
      mm_store_message_get(processor->store, dir, message_id, &error);
  if (bytes == NULL &&
      !g_error_matches(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND))
    mm_log_warning(BOUNCE_LOG, "Cannot read the stored bounce %s: %s",
                   message_id, error->message);
  return bytes;
}

/* The owner notice for an event (list:admin:notice:increment or
 * :disable), with the bounce attached when it is still stored. */
static gboolean
notify_owners_of_event(const MmBounceProcessor *processor, const MmList *list,
                       const MmStoreMemberBounce *member, gboolean disable,
                       GBytes *dsn, GError **error)
{
  g_autofree char *who =
      mm_bounce_format_address(member->display_name, member->email);
  g_autofree char *subject =
      disable ? g_strdup_printf("%s's subscription disabled on %s", who,
                                list->display_name)
              : g_strdup_printf("%s's bounce score incremented on %s", who,
                                list->display_name);
  const char *const extra[] = {"member", who, NULL};
  return mm_bounce_notice_owners(
      processor->config, processor->store, list,
      disable ? "list:admin:notice:disable" : "list:admin:notice:increment",
      subject, extra, dsn, error);
}

/* The part of one event's processing inside its transaction.  Returns
 * FALSE with @error to roll the whole event back. */
static gboolean
process_one(const MmBounceProcessor *processor, const MmStoreBounceEvent *event,
            GError **error)
{
  MmStore *store = processor->store;
  g_autofree char *email_log = mm_log_escape(event->email, -1);

  gboolean claimed = FALSE;
  if (!mm_store_bounce_event_claim(store, event->id, &claimed, error))
    return FALSE;
  if (!claimed)
    return TRUE; /* another bounces runner took it */

  g_autoptr(GError) local = NULL;
  g_autoptr(MmList) list = mm_store_list_get(store, event->list_id, &local);
  if (list == NULL) {
    if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND) &&
        !g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_INVALID)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    mm_log_info(BOUNCE_LOG,
                "Bounce message for a non subscriber: Bounce for "
                "non-existent list %s",
                event->list_id);
    return TRUE;
  }
  g_autoptr(MmStoreMemberBounce) member =
      mm_store_member_bounce_get(store, list->list_id, event->email, &local);
  if (member == NULL) {
    if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND) &&
        !g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_INVALID)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    mm_log_info(BOUNCE_LOG,
                "Bounce message for a non subscriber: Email %s is not a "
                "subscriber of %s",
                email_log, list->list_id);
    return TRUE;
  }

  MmBouncePolicy policy;
  mm_bounce_policy_from_list(&policy, processor->config, list);
  MmBounceMemberState state, before;
  state_from_row(&state, member);
  before = state;
  MmBounceContext context = event->context == MM_STORE_BOUNCE_CONTEXT_PROBE
                                ? MM_BOUNCE_CONTEXT_PROBE
                                : MM_BOUNCE_CONTEXT_NORMAL;
  guint actions =
      mm_bounce_score_event(&policy, &state, event->timestamp_usec, context);

  if (actions & MM_BOUNCE_ACTION_IGNORED) {
    mm_log_info(BOUNCE_LOG,
                "List %s does not process bounces: bounce of %s recorded, "
                "not acted on",
                list->list_id, email_log);
    return TRUE;
  }
  if (context == MM_BOUNCE_CONTEXT_PROBE)
    mm_log_info(BOUNCE_LOG, "Probe bounce received for member %s on list %s.",
                email_log, list->list_id);
  if (actions & MM_BOUNCE_ACTION_RESIDUAL) {
    mm_log_info(BOUNCE_LOG, "Residual bounce received for member %s on list "
                            "%s.",
                email_log, list->list_id);
    return TRUE;
  }
  if (actions & MM_BOUNCE_ACTION_SAME_DAY)
    mm_log_info(BOUNCE_LOG,
                "Member %s already scored a bounce on list %s today.",
                email_log, list->list_id);
  /* The score this event gave, before a probe reset it to 0. */
  int scored = state.bounce_score;
  if (actions & MM_BOUNCE_ACTION_SEND_PROBE)
    scored = (before.last_bounce_received_usec == MM_BOUNCE_NEVER ||
              before.last_bounce_received_usec <
                  event->timestamp_usec - policy.bounce_info_stale_after_usec)
                 ? 1
                 : before.bounce_score + 1;
  if (actions & MM_BOUNCE_ACTION_SCORED)
    mm_log_info(BOUNCE_LOG, "Member %s on list %s, bounce score = %d.",
                email_log, list->list_id, scored);

  /* The state first: a probe or status change below works on the saved
   * row. */
  state_to_row(member, &state);
  if (!mm_store_member_bounce_set(store, member, error))
    return FALSE;

  g_autoptr(GBytes) dsn = NULL;
  if (actions & (MM_BOUNCE_ACTION_NOTIFY_OWNER_INCREMENT |
                 MM_BOUNCE_ACTION_NOTIFY_OWNER_DISABLE |
                 MM_BOUNCE_ACTION_SEND_PROBE))
    dsn = stored_bounce(processor, event->message_id);

  if ((actions & MM_BOUNCE_ACTION_NOTIFY_OWNER_INCREMENT) &&
      !notify_owners_of_event(processor, list, member, FALSE, dsn, error))
    return FALSE;

  if (actions & MM_BOUNCE_ACTION_SEND_PROBE) {
    g_autofree char *token =
        mm_bounce_probe_send(processor->config, store, list, member->email,
                             event->message_id, dsn, error);
    if (token == NULL)
      return FALSE;
    mm_log_info(BOUNCE_LOG,
                "Member %s on list %s, bounce score %d >= threshold %d, "
                "sending probe.",
                email_log, list->list_id, scored,
                policy.bounce_score_threshold);
  }

  if (actions & MM_BOUNCE_ACTION_DISABLE) {
    if (!mm_store_member_set_delivery_status(store, list->list_id,
                                             member->email,
                                             MM_STATUS_BY_BOUNCES, error))
      return FALSE;
    mm_log_info(BOUNCE_LOG, "Disabling delivery for %s on list %s by bounce",
                email_log, list->list_id);
    if (context != MM_BOUNCE_CONTEXT_PROBE)
      mm_log_info(BOUNCE_LOG,
                  "Member %s on list %s, bounce score %d >= threshold %d, "
                  "disabling delivery.",
                  email_log, list->list_id, state.bounce_score,
                  policy.bounce_score_threshold);
  }
  if ((actions & MM_BOUNCE_ACTION_NOTIFY_OWNER_DISABLE) &&
      !notify_owners_of_event(processor, list, member, TRUE, dsn, error))
    return FALSE;
  return TRUE;
}

gboolean
mm_bounce_process_events(const MmBounceProcessor *processor, guint *n_out,
                         GError **error)
{
  MmStore *store = processor->store;
  guint n = 0;
  gboolean ok = TRUE;

  if (n_out != NULL)
    *n_out = 0;
  mm_log_debug(BOUNCE_LOG, "Processing bounce events.");
  for (;;) {
    g_autoptr(GPtrArray) events =
        mm_store_bounce_events_unprocessed(store, EVENT_BATCH, error);
    if (events == NULL)
      return FALSE;
    for (guint i = 0; ok && i < events->len; i++) {
      const MmStoreBounceEvent *event = events->pdata[i];
      if (!mm_store_begin(store, error)) {
        ok = FALSE;
        break;
      }
      if (!process_one(processor, event, error)) {
        mm_store_rollback(store);
        ok = FALSE;
        break;
      }
      if (!mm_store_commit(store, error)) {
        ok = FALSE;
        break;
      }
      n++;
    }
    /* A short batch was the last; a full one may have more behind it. */
    if (!ok || events->len < EVENT_BATCH)
      break;
  }
  if (n_out != NULL)
    *n_out = n;
  return ok;
}

/* ---- warnings and removal ------------------------------------------------ */

/* Mailman's delete_member(admin_notif, userack=True) after bounces. */
static gboolean
remove_member(const MmBounceProcessor *processor, const MmList *list,
              const MmBouncePolicy *policy, const MmStoreMemberBounce *member,
              const char *language, GError **error)
{
  MmStore *store = processor->store;
  if (!mm_store_member_remove(store, list->list_id, member->email,
                              MM_ROLE_MEMBER, error))
    return FALSE;

  /* userack=True: the goodbye goes out whatever send_goodbye_message
   * says, as Mailman's _remove_memberships does. */
  g_autofree char *subject = g_strdup_printf(
      "You have been unsubscribed from the %s mailing list",
      list->display_name);
  const char *const goodbye_extra[] = {
      "user_email",    member->email,
      "user_address",  member->email,
      "fqdn_listname", list->fqdn_listname,
      "list_name",     list->display_name,
      "list_requests", mm_list_setting(list, "request_address"),
      NULL};
  if (!mm_bounce_notice_user(processor->config, list, member->email, language,
                             "list:user:notice:goodbye", subject,
                             goodbye_extra, error))
    return FALSE;

  g_autofree char *who =
      mm_bounce_format_address(member->display_name, member->email);
  if (policy->bounce_notify_owner_on_removal) {
    g_autofree char *owner_subject = g_strdup_printf(
        "%s unsubscribed from %s mailing list due to bounces", who,
        list->display_name);
    const char *const extra[] = {"member", who, "mlist", list->display_name,
                                 NULL};
    if (!mm_bounce_notice_owners(processor->config, store, list,
                                 "list:admin:notice:removal", owner_subject,
                                 extra, NULL, error))
      return FALSE;
  } else {
    /* admin_notif=None: the list's admin_notify_mchanges decides. */
    gboolean mchanges = FALSE;
    const char *text = mm_list_setting(list, "admin_notify_mchanges");
    if (text != NULL && mm_config_parse_bool(text, &mchanges) && mchanges) {
      g_autofree char *owner_subject = g_strdup_printf(
          "%s unsubscription notification", list->display_name);
      const char *const extra[] = {"member", who, NULL};
      if (!mm_bounce_notice_owners(processor->config, store, list,
                                   "list:admin:notice:unsubscribe",
                                   owner_subject, extra, NULL, error))
        return FALSE;
    }
  }
  return TRUE;
}

/* One member's warning or removal, inside its transaction. */
static gboolean
tick_one(const MmBounceProcessor *processor, const MmList *list,
         const MmBouncePolicy *policy, const char *email, gint64 now,
         GError **error)
{
  MmStore *store = processor->store;
  g_autoptr(GError) local = NULL;
  /* Read again under the write lock: another runner may have acted. */
  g_autoptr(MmStoreMemberBounce) member =
      mm_store_member_bounce_get(store, list->list_id, email, &local);
  if (member == NULL) {
    if (g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND))
      return TRUE;
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  MmBounceMemberState state;
  state_from_row(&state, member);
  guint actions = mm_bounce_score_tick(policy, &state, now);
  if (actions == MM_BOUNCE_ACTION_NONE)
    return TRUE;

  g_autofree char *email_log = mm_log_escape(member->email, -1);
  g_autofree char *language = mm_store_preference_get(
      store, member->email, list->list_id, "preferred_language", NULL);

  if (actions & MM_BOUNCE_ACTION_WARN_MEMBER) {
    mm_log_debug(BOUNCE_LOG,
                 "Sending membership disabled warning no. %d to %s due to "
                 "excessive bounces on %s mailing list",
                 state.total_warnings_sent, email_log, list->display_name);
    g_autofree char *subject = g_strdup_printf(
        "Your subscription for %s mailing list has been disabled",
        list->display_name);
    const char *const extra[] = {"sender_email", member->email, NULL};
    if (!mm_bounce_notice_user(processor->config, list, member->email,
                               language, "list:user:notice:warning", subject,
                               extra, error))
      return FALSE;
  }
  if (actions & MM_BOUNCE_ACTION_REMOVE) {
    if (!remove_member(processor, list, policy, member, language, error))
      return FALSE;
    mm_log_info(BOUNCE_LOG,
                "Removed %s as a member of %s mailing list due to excessive "
                "bounces",
                email_log, list->display_name);
    return TRUE;
  }
  state_to_row(member, &state);
  return mm_store_member_bounce_set(store, member, error);
}

gboolean
mm_bounce_process_warnings(const MmBounceProcessor *processor, GError **error)
{
  MmStore *store = processor->store;
  gint64 now = processor_now(processor);

  mm_log_debug(BOUNCE_LOG,
               "Sending warnings to members with disabled delivery.");
  g_autoptr(GPtrArray) members =
      mm_store_member_bounces_disabled(store, error);
  if (members == NULL)
    return FALSE;

  /* Members come sorted by list: read each list once. */
  g_autoptr(MmList) list = NULL;
  MmBouncePolicy policy;
  mm_bounce_policy_init_default(&policy);
  for (guint i = 0; i < members->len; i++) {
    const MmStoreMemberBounce *member = members->pdata[i];
    if (list == NULL || !g_str_equal(list->list_id, member->list_id)) {
      g_clear_pointer(&list, mm_list_free);
      g_autoptr(GError) local = NULL;
      list = mm_store_list_get(store, member->list_id, &local);
      if (list == NULL) {
        if (!g_error_matches(local, MM_STORE_ERROR,
                             MM_STORE_ERROR_NOT_FOUND)) {
          g_propagate_error(error, g_steal_pointer(&local));
          return FALSE;
        }
        continue;
      }
      mm_bounce_policy_from_list(&policy, processor->config, list);
    }
    if (!policy.process_bounces)
      continue;
    /* Most disabled members are between warnings: decide on the snapshot
     * first, and take the write lock only for those with something due
     * (tick_one decides again under the lock). */
    MmBounceMemberState snapshot;
    state_from_row(&snapshot, member);
    if (mm_bounce_score_tick(&policy, &snapshot, now) ==
        MM_BOUNCE_ACTION_NONE)
      continue;
    if (!mm_store_begin(store, error))
      return FALSE;
    if (!tick_one(processor, list, &policy, member->email, now, error)) {
      mm_store_rollback(store);
      return FALSE;
    }
    if (!mm_store_commit(store, error))
      return FALSE;
  }
  return TRUE;
}

/* ---- re-enabling --------------------------------------------------------- */

gboolean
mm_bounce_member_reenable(MmStore *store, const char *list_id,
                          const char *email, gboolean *was_disabled_out,
                          GError **error)
{
  if (was_disabled_out != NULL)
    *was_disabled_out = FALSE;
  if (!mm_store_begin(store, error))
    return FALSE;
  g_autoptr(MmStoreMemberBounce) member =
      mm_store_member_bounce_get(store, list_id, email, error);
  gboolean ok = member != NULL;
  gboolean disabled =
      ok && member->own_delivery_status == MM_STATUS_BY_BOUNCES;
  if (ok) {
    MmBounceMemberState state;
    mm_bounce_member_state_reset(&state);
    state_to_row(member, &state);
    ok = mm_store_member_bounce_set(store, member, error);
  }
  /* Only a status the bounces set is undone: a member who stopped
   * delivery (by_user) or was stopped by a moderator stays so. */
  if (ok && disabled)
    ok = mm_store_member_set_delivery_status(store, member->list_id,
                                             member->email,
                                             MM_STATUS_ENABLED, error);
  if (!ok) {
    mm_store_rollback(store);
    return FALSE;
  }
  if (!mm_store_commit(store, error))
    return FALSE;
  if (was_disabled_out != NULL)
    *was_disabled_out = disabled;
  return TRUE;
}
