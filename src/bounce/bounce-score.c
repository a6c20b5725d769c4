/* Mailman 3's bounce scoring (model/bounce.py BounceProcessor and
 * model/member.py memberships_pending_warning/removal) as pure functions
 * over one member's state.
 *
 * The scoring functions read no clock (the two clocks at the end are for
 * their callers): the event carries its time and the periodic step gets
 * "now", so a test drives months of bounces in microseconds.  The
 * caller (bounce-process.c) loads the state, calls these, performs the
 * returned actions (notices, probe, status change, removal) and stores the
 * state.
 *
 * Time rules kept from Mailman: "the same day" compares UTC calendar dates
 * (Mailman stores naive UTC datetimes and compares .date()); "stale" is
 * last bounce < event time - bounce_info_stale_after (strictly older); a
 * warning is due when last warning + interval <= now, and a member never
 * warned (datetime.min) is due at once.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

#define DAY_USEC (G_USEC_PER_SEC * G_GINT64_CONSTANT(86400))

void
mm_bounce_policy_init_default(MmBouncePolicy *policy)
{
  /* Mailman's MailingList defaults (styles/base.py BasicOperation). */
  *policy = (MmBouncePolicy){
      .process_bounces = TRUE,
      .bounce_score_threshold = 5,
      .bounce_info_stale_after_usec = 7 * DAY_USEC,
      .bounce_you_are_disabled_warnings = 3,
      .bounce_you_are_disabled_warnings_interval_usec = 7 * DAY_USEC,
      .bounce_notify_owner_on_bounce_increment = FALSE,
      .bounce_notify_owner_on_disable = TRUE,
      .bounce_notify_owner_on_removal = TRUE,
      .verp_probes = FALSE,
  };
}

void
mm_bounce_member_state_reset(MmBounceMemberState *state)
{
  *state = (MmBounceMemberState){
      .bounce_score = 0,
      .last_bounce_received_usec = MM_BOUNCE_NEVER,
      .disabled_by_bounces = FALSE,
      .total_warnings_sent = 0,
      .last_warning_sent_usec = MM_BOUNCE_NEVER,
  };
}

/* The UTC day number of @usec (floor division, so times before 1970 work
 * too). */
static gint64
utc_day(gint64 usec)
{
  gint64 day = usec / DAY_USEC;
  return (usec % DAY_USEC < 0) ? day - 1 : day;
}

/* Mailman's _disable_delivery: nothing if already disabled by bounces. */
static guint
disable(const MmBouncePolicy *policy, MmBounceMemberState *state)
{
  if (state->disabled_by_bounces)
    return MM_BOUNCE_ACTION_NONE;
  state->disabled_by_bounces = TRUE;
  state->total_warnings_sent = 0;
  state->last_warning_sent_usec = MM_BOUNCE_NEVER;
  guint actions = MM_BOUNCE_ACTION_DISABLE;
  if (policy->bounce_notify_owner_on_disable)
    actions |= MM_BOUNCE_ACTION_NOTIFY_OWNER_DISABLE;
  return actions;
}

guint
mm_bounce_score_event(const MmBouncePolicy *policy, MmBounceMemberState *state,
                      gint64 event_usec, MmBounceContext context)
{
  /* The rule, not Mailman's (which never records an event for a
   * list with process_bounces off): recorded, not acted on. */
  if (!policy->process_bounces)
    return MM_BOUNCE_ACTION_IGNORED;

  /* A bounce of a probe is conclusive. */
  if (context == MM_BOUNCE_CONTEXT_PROBE)
    return disable(policy, state);

  if (state->disabled_by_bounces)
    return MM_BOUNCE_ACTION_RESIDUAL;

  if (state->last_bounce_received_usec != MM_BOUNCE_NEVER &&
      utc_day(state->last_bounce_received_usec) == utc_day(event_usec)) {
    state->last_bounce_received_usec = event_usec;
    return MM_BOUNCE_ACTION_SAME_DAY;
  }

  if (state->last_bounce_received_usec == MM_BOUNCE_NEVER ||
      state->last_bounce_received_usec <
          event_usec - policy->bounce_info_stale_after_usec)
    state->bounce_score = 1;
  else
    state->bounce_score++;
  state->last_bounce_received_usec = event_usec;

  guint actions = MM_BOUNCE_ACTION_SCORED;
  /* Mailman sends the increment notice unless a probe is about to be
   * sent in place of disabling. */
  if (policy->bounce_notify_owner_on_bounce_increment &&
      (state->bounce_score < policy->bounce_score_threshold ||
       !policy->verp_probes))
    actions |= MM_BOUNCE_ACTION_NOTIFY_OWNER_INCREMENT;

  if (state->bounce_score >= policy->bounce_score_threshold) {
    if (policy->verp_probes) {
      state->bounce_score = 0; /* send_probe() resets it */
      actions |= MM_BOUNCE_ACTION_SEND_PROBE;
    } else {
      actions |= disable(policy, state);
    }
  }
  return actions;
}

/* last + interval <= now, without overflow, "never" being always due. */
static gboolean
interval_passed(gint64 last_usec, gint64 interval_usec, gint64 now_usec)
{
  if (last_usec == MM_BOUNCE_NEVER)
    return TRUE;
  return last_usec <= now_usec - interval_usec;
}

guint
mm_bounce_score_tick(const MmBouncePolicy *policy, MmBounceMemberState *state,
                     gint64 now_usec)
{
  if (!policy->process_bounces || !state->disabled_by_bounces)
    return MM_BOUNCE_ACTION_NONE;

  guint actions = MM_BOUNCE_ACTION_NONE;
  gint64 interval = policy->bounce_you_are_disabled_warnings_interval_usec;
  int limit = policy->bounce_you_are_disabled_warnings;

  /* Warnings first, then removal, in one step, as Mailman's
   * send_warnings_and_remove: the removal check sees the warning just
   * sent, whose interval has not passed, so removal comes one interval
   * after the last warning. */
  if (state->total_warnings_sent < limit &&
      interval_passed(state->last_warning_sent_usec, interval, now_usec)) {
    state->total_warnings_sent++;
    state->last_warning_sent_usec = now_usec;
    actions |= MM_BOUNCE_ACTION_WARN_MEMBER;
  }
  if (state->total_warnings_sent >= limit &&
      (interval_passed(state->last_warning_sent_usec, interval, now_usec) ||
       limit == 0)) {
    actions |= MM_BOUNCE_ACTION_REMOVE;
    if (policy->bounce_notify_owner_on_removal)
      actions |= MM_BOUNCE_ACTION_NOTIFY_OWNER_REMOVAL;
  }
  return actions;
}

gint64
mm_bounce_clock_system(gpointer data)
{
  return g_get_real_time();
}

gint64
mm_bounce_clock_runner(gpointer data)
{
  /* Test only (see bounce.h): sites never set MAILMAN_TEST_NOW. */
  const char *text = g_getenv("MAILMAN_TEST_NOW");
  if (text == NULL || *text == '\0')
    return g_get_real_time();

  char *end = NULL;
  double seconds = g_ascii_strtod(text, &end);
  if (end != NULL && end != text && *end == '\0' && seconds >= 0 &&
      seconds < 1e11)
    return (gint64)(seconds * G_USEC_PER_SEC);

  g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
  g_autoptr(GDateTime) time = g_date_time_new_from_iso8601(text, utc);
  if (time == NULL)
    return g_get_real_time();
  return g_date_time_to_unix(time) * G_USEC_PER_SEC +
         g_date_time_get_microsecond(time);
}
