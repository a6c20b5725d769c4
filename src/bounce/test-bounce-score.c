/* Scoring timelines with an injected clock: months of bounces, warnings
 * and removals in microseconds, no sleeping.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce.h"

#define HOUR (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC)
#define MINUTE (G_GINT64_CONSTANT(60) * G_USEC_PER_SEC)
#define DAY (24 * HOUR)

/* 2024-05-01T12:00:00Z */
#define START (G_GINT64_CONSTANT(1714564800) * G_USEC_PER_SEC)

typedef struct {
  gint64 now;
} FakeClock;

static gint64
fake_now(gpointer data)
{
  return ((FakeClock *)data)->now;
}

typedef struct {
  FakeClock clock;
  MmBounceClock now;
  MmBouncePolicy policy;
  MmBounceMemberState state;
} Timeline;

static void
timeline_init(Timeline *t)
{
  t->clock.now = START;
  t->now = fake_now;
  mm_bounce_policy_init_default(&t->policy);
  mm_bounce_member_state_reset(&t->state);
}

/* A bounce now, then the clock moves on by @advance. */
static guint
bounce(Timeline *t, gint64 advance)
{
  guint actions = mm_bounce_score_event(&t->policy, &t->state,
                                        t->now(&t->clock),
                                        MM_BOUNCE_CONTEXT_NORMAL);
  t->clock.now += advance;
  return actions;
}

static guint
tick(Timeline *t)
{
  return mm_bounce_score_tick(&t->policy, &t->state, t->now(&t->clock));
}

static void
test_threshold(void)
{
  Timeline t;
  timeline_init(&t);

  for (int day = 1; day <= 4; day++) {
    g_assert_cmpuint(bounce(&t, DAY), ==, MM_BOUNCE_ACTION_SCORED);
    g_assert_cmpint(t.state.bounce_score, ==, day);
    g_assert_false(t.state.disabled_by_bounces);
  }
  g_assert_cmpuint(bounce(&t, DAY), ==,
                   MM_BOUNCE_ACTION_SCORED | MM_BOUNCE_ACTION_DISABLE |
                       MM_BOUNCE_ACTION_NOTIFY_OWNER_DISABLE);
  g_assert_cmpint(t.state.bounce_score, ==, 5);
  g_assert_true(t.state.disabled_by_bounces);
  g_assert_cmpint(t.state.total_warnings_sent, ==, 0);
  g_assert_cmpint(t.state.last_warning_sent_usec, ==, MM_BOUNCE_NEVER);

  /* Later bounces are residual. */
  MmBounceMemberState before = t.state;
  g_assert_cmpuint(bounce(&t, DAY), ==, MM_BOUNCE_ACTION_RESIDUAL);
  g_assert_cmpmem(&before, sizeof before, &t.state, sizeof t.state);
}

static void
test_same_day(void)
{
  Timeline t;
  timeline_init(&t);

  g_assert_cmpuint(bounce(&t, HOUR), ==, MM_BOUNCE_ACTION_SCORED);
  gint64 second = t.clock.now;
  g_assert_cmpuint(bounce(&t, HOUR), ==, MM_BOUNCE_ACTION_SAME_DAY);
  g_assert_cmpint(t.state.bounce_score, ==, 1);
  g_assert_cmpint(t.state.last_bounce_received_usec, ==, second);

  /* 23:59 and 00:01 UTC are different days. */
  t.clock.now = START + 11 * HOUR + 59 * MINUTE;
  g_assert_cmpuint(bounce(&t, 2 * MINUTE), ==,
                   MM_BOUNCE_ACTION_SAME_DAY);
  g_assert_cmpuint(bounce(&t, 0), ==, MM_BOUNCE_ACTION_SCORED);
  g_assert_cmpint(t.state.bounce_score, ==, 2);
}

static void
test_stale(void)
{
  Timeline t;
  timeline_init(&t);

  bounce(&t, DAY);
  bounce(&t, 7 * DAY); /* score 2, then exactly bounce_info_stale_after */
  g_assert_cmpint(t.state.bounce_score, ==, 2);
  /* Exactly seven days later is not stale (Mailman: strictly older). */
  g_assert_cmpuint(bounce(&t, 7 * DAY + 1), ==, MM_BOUNCE_ACTION_SCORED);
  g_assert_cmpint(t.state.bounce_score, ==, 3);
  /* A microsecond more than seven days: stale, start again at 1. */
  g_assert_cmpuint(bounce(&t, DAY), ==, MM_BOUNCE_ACTION_SCORED);
  g_assert_cmpint(t.state.bounce_score, ==, 1);

  /* A shorter setting. */
  t.policy.bounce_info_stale_after_usec = 2 * DAY;
  bounce(&t, 3 * DAY);
  g_assert_cmpint(t.state.bounce_score, ==, 2);
  bounce(&t, 0);
  g_assert_cmpint(t.state.bounce_score, ==, 1);
}

static void
test_probes(void)
{
  Timeline t;
  timeline_init(&t);
  t.policy.verp_probes = TRUE;
  t.policy.bounce_score_threshold = 3;

  bounce(&t, DAY);
  bounce(&t, DAY);
  g_assert_cmpuint(bounce(&t, DAY), ==,
                   MM_BOUNCE_ACTION_SCORED | MM_BOUNCE_ACTION_SEND_PROBE);
  g_assert_cmpint(t.state.bounce_score, ==, 0);
  g_assert_false(t.state.disabled_by_bounces);

  /* The probe bounces: conclusive, disable at once. */
  g_assert_cmpuint(mm_bounce_score_event(&t.policy, &t.state, t.clock.now,
                                         MM_BOUNCE_CONTEXT_PROBE),
                   ==,
                   MM_BOUNCE_ACTION_DISABLE |
                       MM_BOUNCE_ACTION_NOTIFY_OWNER_DISABLE);
  g_assert_true(t.state.disabled_by_bounces);
  /* A second probe bounce changes nothing. */
  g_assert_cmpuint(mm_bounce_score_event(&t.policy, &t.state, t.clock.now,
                                         MM_BOUNCE_CONTEXT_PROBE),
                   ==, MM_BOUNCE_ACTION_NONE);
}

static void
test_owner_notices(void)
{
  Timeline t;
  timeline_init(&t);
  t.policy.bounce_notify_owner_on_bounce_increment = TRUE;
  t.policy.bounce_notify_owner_on_disable = FALSE;
  t.policy.bounce_score_threshold = 2;

  g_assert_cmpuint(bounce(&t, DAY), ==,
                   MM_BOUNCE_ACTION_SCORED |
                       MM_BOUNCE_ACTION_NOTIFY_OWNER_INCREMENT);
  /* Without probes the increment notice goes out with the disable. */
  g_assert_cmpuint(bounce(&t, DAY), ==,
                   MM_BOUNCE_ACTION_SCORED |
                       MM_BOUNCE_ACTION_NOTIFY_OWNER_INCREMENT |
                       MM_BOUNCE_ACTION_DISABLE);

  /* With probes, not at the threshold (the probe is sent instead). */
  timeline_init(&t);
  t.policy.bounce_notify_owner_on_bounce_increment = TRUE;
  t.policy.verp_probes = TRUE;
  t.policy.bounce_score_threshold = 2;
  g_assert_cmpuint(bounce(&t, DAY), ==,
                   MM_BOUNCE_ACTION_SCORED |
                       MM_BOUNCE_ACTION_NOTIFY_OWNER_INCREMENT);
  g_assert_cmpuint(bounce(&t, DAY), ==,
                   MM_BOUNCE_ACTION_SCORED | MM_BOUNCE_ACTION_SEND_PROBE);
}

static void
test_warnings_and_removal(void)
{
  Timeline t;
  timeline_init(&t);

  /* Not disabled: nothing to do. */
  g_assert_cmpuint(tick(&t), ==, MM_BOUNCE_ACTION_NONE);
  for (int i = 0; i < 5; i++)
    bounce(&t, i < 4 ? DAY : 0);
  g_assert_true(t.state.disabled_by_bounces);
  gint64 disabled_at = t.clock.now;

  /* First warning at once (never warned), then every seven days. */
  g_assert_cmpuint(tick(&t), ==, MM_BOUNCE_ACTION_WARN_MEMBER);
  g_assert_cmpint(t.state.total_warnings_sent, ==, 1);
  g_assert_cmpint(t.state.last_warning_sent_usec, ==, disabled_at);
  t.clock.now += DAY;
  g_assert_cmpuint(tick(&t), ==, MM_BOUNCE_ACTION_NONE);
  t.clock.now = disabled_at + 7 * DAY - 1;
  g_assert_cmpuint(tick(&t), ==, MM_BOUNCE_ACTION_NONE);
  t.clock.now = disabled_at + 7 * DAY;
  g_assert_cmpuint(tick(&t), ==, MM_BOUNCE_ACTION_WARN_MEMBER);
  t.clock.now = disabled_at + 14 * DAY;
  g_assert_cmpuint(tick(&t), ==, MM_BOUNCE_ACTION_WARN_MEMBER);
  g_assert_cmpint(t.state.total_warnings_sent, ==, 3);

  /* Removal one interval after the last warning. */
  t.clock.now = disabled_at + 20 * DAY;
  g_assert_cmpuint(tick(&t), ==, MM_BOUNCE_ACTION_NONE);
  t.clock.now = disabled_at + 21 * DAY;
  g_assert_cmpuint(tick(&t), ==,
                   MM_BOUNCE_ACTION_REMOVE |
                       MM_BOUNCE_ACTION_NOTIFY_OWNER_REMOVAL);

  /* Without the removal notice setting. */
  t.policy.bounce_notify_owner_on_removal = FALSE;
  g_assert_cmpuint(tick(&t), ==, MM_BOUNCE_ACTION_REMOVE);
}

static void
test_no_warnings(void)
{
  Timeline t;
  timeline_init(&t);
  t.policy.bounce_you_are_disabled_warnings = 0;
  t.policy.bounce_score_threshold = 1;

  bounce(&t, 0);
  g_assert_true(t.state.disabled_by_bounces);
  g_assert_cmpuint(tick(&t), ==,
                   MM_BOUNCE_ACTION_REMOVE |
                       MM_BOUNCE_ACTION_NOTIFY_OWNER_REMOVAL);
}

static void
test_process_bounces_off(void)
{
  Timeline t;
  timeline_init(&t);
  t.policy.process_bounces = FALSE;

  MmBounceMemberState before = t.state;
  for (int i = 0; i < 10; i++)
    g_assert_cmpuint(bounce(&t, DAY), ==, MM_BOUNCE_ACTION_IGNORED);
  g_assert_cmpmem(&before, sizeof before, &t.state, sizeof t.state);

  /* A member disabled earlier is neither warned nor removed. */
  t.state.disabled_by_bounces = TRUE;
  g_assert_cmpuint(tick(&t), ==, MM_BOUNCE_ACTION_NONE);
}

static void
test_reenable(void)
{
  Timeline t;
  timeline_init(&t);
  t.policy.bounce_score_threshold = 2;

  bounce(&t, DAY);
  bounce(&t, DAY);
  tick(&t);
  g_assert_true(t.state.disabled_by_bounces);
  g_assert_cmpint(t.state.total_warnings_sent, ==, 1);

  mm_bounce_member_state_reset(&t.state);
  g_assert_false(t.state.disabled_by_bounces);
  g_assert_cmpint(t.state.total_warnings_sent, ==, 0);
  g_assert_cmpuint(tick(&t), ==, MM_BOUNCE_ACTION_NONE);
  /* The next bounce starts from 1, even a day later. */
  g_assert_cmpuint(bounce(&t, 0), ==, MM_BOUNCE_ACTION_SCORED);
  g_assert_cmpint(t.state.bounce_score, ==, 1);
}

static void
test_system_clock(void)
{
  gint64 before = g_get_real_time();
  gint64 now = mm_bounce_clock_system(NULL);
  g_assert_cmpint(now, >=, before);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/bounce/score/threshold", test_threshold);
  g_test_add_func("/bounce/score/same-day", test_same_day);
  g_test_add_func("/bounce/score/stale", test_stale);
  g_test_add_func("/bounce/score/probes", test_probes);
  g_test_add_func("/bounce/score/owner-notices", test_owner_notices);
  g_test_add_func("/bounce/score/warnings-and-removal",
                  test_warnings_and_removal);
  g_test_add_func("/bounce/score/no-warnings", test_no_warnings);
  g_test_add_func("/bounce/score/process-bounces-off",
                  test_process_bounces_off);
  g_test_add_func("/bounce/score/reenable", test_reenable);
  g_test_add_func("/bounce/score/system-clock", test_system_clock);
  return g_test_run();
}
