/* Tests for the membership workflows and for whole command messages, on a
 * real site in a temporary directory (SQLite file, queues): every policy,
 * tokens and their replay, expiry with a moved clock (no sleeping), a
 * restart between request and confirmation, moderators' decisions, the
 * notices each step queues in virgin, loop prevention, the reply limit,
 * and moderation of held posts by mail.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "commands-private.h"

#include <glib/gstdio.h>
#include <string.h>

#include "chains.h"
#include "mm-test-site.h"
#include "queue.h"

#define T0 ((gint64)1700000000)
#define DAY ((gint64)86400)

typedef struct {
  MmTestSite *site; /* owns dir and config */
  char *dir;
  MmConfig *config;
  MmStore *store;
  MmList *list;
  MmCommandsContext ctx;
} Fixture;

static void
reload_list(Fixture *f)
{
  GError *error = NULL;
  g_clear_pointer(&f->list, mm_list_free);
  f->list = mm_store_list_get(f->store, "test@example.com", &error);
  g_assert_no_error(error);
}

/* @data: extra [mta] configuration lines, or NULL. */
static void
fixture_setup(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_autofree char *mta =
      g_strdup_printf("[mta]\n%s", data != NULL ? (const char *)data : "");
  f->site = mm_test_site_new_full("admin@example.com", NULL, mta);
  f->dir = f->site->dir;
  f->config = f->site->config;
  /* A test may reopen the store and reload the list: both are the
   * fixture's own. */
  f->store = g_steal_pointer(&f->site->store);
  g_clear_pointer(&f->site->list, mm_list_free);
  g_assert_true(mm_store_member_add(f->store, "test@example.com",
                                    "owner@example.com", NULL, MM_ROLE_OWNER,
                                    0, &error));
  g_assert_true(mm_store_member_add(f->store, "test@example.com",
                                    "mod@example.com", NULL,
                                    MM_ROLE_MODERATOR, 0, &error));
  reload_list(f);
  f->ctx = (MmCommandsContext){f->config, f->store, T0};
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  g_clear_pointer(&f->list, mm_list_free);
  g_clear_pointer(&f->store, mm_store_close);
  g_clear_pointer(&f->site, mm_test_site_free);
}

static void
set(Fixture *f, const char *name, const char *value)
{
  GError *error = NULL;
  g_assert_true(mm_store_list_set(f->store, f->list, name, value, &error));
  g_assert_no_error(error);
}

/* ---- The virgin queue ---------------------------------------------------- */

typedef struct {
  char *text;       /* the whole message */
  json_t *meta;
} Sent;

static void
sent_free(Sent *sent)
{
  g_free(sent->text);
  json_decref(sent->meta);
  g_free(sent);
}

/* Takes every entry out of queue @name, oldest first (GPtrArray of Sent). */
static GPtrArray *
drain(Fixture *f, const char *name)
{
  GError *error = NULL;
  g_autoptr(MmQueue) queue = mm_queue_open(
      mm_config_path(f->config, "queue_dir"), name, 0, 1, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) ids = mm_queue_list(queue, &error);
  g_assert_no_error(error);
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)sent_free);
  for (guint i = 0; i < ids->len; i++) {
    g_autoptr(MmQueueEntry) entry =
        mm_queue_claim(queue, ids->pdata[i], &error);
    g_assert_no_error(error);
    Sent *sent = g_new0(Sent, 1);
    GBytes *bytes = mm_queue_entry_message(entry);
    sent->text = g_strndup(g_bytes_get_data(bytes, NULL),
                           g_bytes_get_size(bytes));
    sent->meta = json_incref(mm_queue_entry_meta(entry));
    g_assert_true(mm_queue_entry_finish(queue, entry, &error));
    g_ptr_array_add(out, sent);
  }
  return out;
}

static const char *
recipient(const Sent *sent)
{
  json_t *recipients = json_object_get(sent->meta, "recipients");
  return json_string_value(json_array_get(recipients, 0));
}

static gboolean
has_recipient(const Sent *sent, const char *email)
{
  json_t *recipients = json_object_get(sent->meta, "recipients");
  for (size_t i = 0; i < json_array_size(recipients); i++)
    if (g_strcmp0(json_string_value(json_array_get(recipients, i)), email) ==
        0)
      return TRUE;
  return FALSE;
}

/* The decoded Subject (GMime-free: our subjects are ASCII). */
static char *
subject_of(const Sent *sent)
{
  const char *start = strstr(sent->text, "\nSubject: ");
  g_assert_nonnull(start);
  start += strlen("\nSubject: ");
  return g_strndup(start, strcspn(start, "\n"));
}

/* The one entry whose subject contains @needle; asserts there is one. */
static const Sent *
find_sent(GPtrArray *sent, const char *needle)
{
  const Sent *found = NULL;
  for (guint i = 0; i < sent->len; i++) {
    g_autofree char *subject = subject_of(sent->pdata[i]);
    if (strstr(subject, needle) != NULL) {
      g_assert_null(found);
      found = sent->pdata[i];
    }
  }
  if (found == NULL)
    g_error("no notice with subject \"%s\" among %u", needle, sent->len);
  return found;
}

static char *
token_in(const Sent *sent)
{
  const char *at = strstr(sent->text, "test-confirm+");
  g_assert_nonnull(at);
  return g_strndup(at + strlen("test-confirm+"), 40);
}

static guint
member_count(Fixture *f)
{
  MmRosterQuery query = {.role = MM_ROLE_MEMBER};
  GError *error = NULL;
  g_autoptr(GPtrArray) members =
      mm_store_roster(f->store, f->list->list_id, &query, &error);
  g_assert_no_error(error);
  return members->len;
}

static gboolean
is_member(Fixture *f, const char *email)
{
  g_autoptr(MmMember) member = mm_store_member_get(
      f->store, f->list->list_id, email, MM_ROLE_MEMBER, NULL);
  return member != NULL;
}

/* ---- Subscription -------------------------------------------------------- */

static void
test_confirm_policy(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  MmSubscribeOptions options = {.display_name = "Anne Person"};
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "Anne@Example.com", &options, &outcome, &error));
  g_assert_no_error(error);
  g_assert_nonnull(outcome.token);
  g_assert_cmpint(outcome.token_owner, ==, MM_TOKEN_OWNER_SUBSCRIBER);
  g_assert_false(outcome.member_changed);
  g_autofree char *token = g_strdup(outcome.token);
  mm_workflow_outcome_clear(&outcome);

  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 1);
  const Sent *request = find_sent(sent, "Please confirm joining");
  g_assert_cmpstr(recipient(request), ==, "anne@example.com");
  g_autofree char *from_token = token_in(request);
  g_assert_cmpstr(from_token, ==, token);
  g_assert_nonnull(strstr(request->text, "From: test-confirm+"));
  /* Saved as Mailman saves it. */
  g_autoptr(MmWorkflowState) state =
      mm_store_workflow_get(f->store, token, T0, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(state->step, ==, "do_confirm_verify");
  g_assert_cmpstr(state->token_owner, ==, "subscriber");
  g_assert_cmpint(state->expires_at, ==, T0 + 3 * DAY);
  g_assert_nonnull(strstr(state->data, "\"address_key\":\"anne@example.com\""));
  g_autoptr(GHashTable) pended =
      mm_store_pending_get(f->store, token, FALSE, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(g_hash_table_lookup(pended, "type"), ==, "subscription");
  g_assert_cmpstr(g_hash_table_lookup(pended, "token_owner"), ==,
                  "\"subscriber\"");

  /* Asking again sends nothing new. */
  g_assert_false(mm_commands_subscription_start(&f->ctx, f->list,
                                                "anne@example.com", NULL,
                                                &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_PENDING);
  g_clear_error(&error);
  g_autoptr(GPtrArray) none = drain(f, "virgin");
  g_assert_cmpuint(none->len, ==, 0);

  f->ctx.now_sec = T0 + DAY;
  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, token,
                                             &outcome, &error));
  g_assert_no_error(error);
  g_assert_null(outcome.token);
  g_assert_true(outcome.member_changed);
  g_assert_true(is_member(f, "anne@example.com"));
  g_assert_true(mm_store_address_is_verified(f->store, "anne@example.com"));
  g_autoptr(GPtrArray) welcome = drain(f, "virgin");
  g_assert_cmpuint(welcome->len, ==, 1);
  const Sent *w = find_sent(welcome, "Welcome to the \"Test\" mailing list");
  g_assert_cmpstr(recipient(w), ==, "anne@example.com");
  g_assert_nonnull(strstr(w->text, "Anne Person <anne@example.com>"));

  /* The token is spent: a replay does nothing. */
  g_assert_false(mm_commands_workflow_confirm(&f->ctx, f->list, token,
                                              &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_NO_TOKEN);
  g_clear_error(&error);
  g_assert_cmpuint(member_count(f), ==, 1);
  g_autoptr(GPtrArray) nothing = drain(f, "virgin");
  g_assert_cmpuint(nothing->len, ==, 0);
  g_autoptr(GPtrArray) left =
      mm_store_pending_find(f->store, NULL, NULL, NULL, &error);
  g_assert_cmpuint(left->len, ==, 0);

  /* A member cannot subscribe again. */
  g_assert_false(mm_commands_subscription_start(
      &f->ctx, f->list, "anne@example.com", NULL, &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_ALREADY_MEMBER);
  g_clear_error(&error);
}

static void
test_refusals(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  static const char *const own[] = {"test@example.com",
                                    "test-request@example.com",
                                    "TEST-owner@example.com",
                                    "test-confirm+abc@example.com"};
  for (gsize i = 0; i < G_N_ELEMENTS(own); i++) {
    g_assert_false(mm_commands_subscription_start(&f->ctx, f->list, own[i],
                                                  NULL, &outcome, &error));
    g_assert_error(error, MM_COMMANDS_ERROR,
                   MM_COMMANDS_ERROR_INVALID_ADDRESS);
    g_clear_error(&error);
  }
  g_assert_false(mm_commands_subscription_start(&f->ctx, f->list,
                                                "not an address", NULL,
                                                &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_INVALID_ADDRESS);
  g_clear_error(&error);
  g_assert_true(
      mm_store_ban_add(f->store, f->list->list_id, "^.*@spam\\.example$",
                       &error));
  g_assert_false(mm_commands_subscription_start(
      &f->ctx, f->list, "eve@spam.example", NULL, &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_BANNED);
  g_clear_error(&error);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 0);
  /* A person whose address merely starts like the list's may join, and
   * keeps the spelling of the address. */
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "Test-Person@Example.com", NULL, &outcome, &error));
  g_assert_no_error(error);
  mm_workflow_outcome_clear(&outcome);
  g_autofree char *token = NULL;
  g_autoptr(GPtrArray) request = drain(f, "virgin");
  token = token_in(find_sent(request, "Please confirm joining"));
  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, token,
                                             &outcome, &error));
  g_autoptr(MmMember) member = mm_store_member_get(
      f->store, f->list->list_id, "test-person@example.com", MM_ROLE_MEMBER,
      &error);
  g_assert_no_error(error);
  g_assert_cmpstr(member->email, ==, "Test-Person@Example.com");
}

static void
test_open_policy(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  set(f, "subscription_policy", "open");
  set(f, "admin_notify_mchanges", "yes");
  /* A verified address joins at once. */
  MmSubscribeOptions verified = {.pre_verified = TRUE,
                                 .delivery_mode = MM_DELIVERY_MIME_DIGESTS};
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "bart@example.com", &verified, &outcome, &error));
  g_assert_no_error(error);
  g_assert_true(outcome.member_changed);
  g_assert_null(outcome.token);
  g_autoptr(MmMember) bart = mm_store_member_get(
      f->store, f->list->list_id, "bart@example.com", MM_ROLE_MEMBER, &error);
  g_assert_cmpint(bart->delivery_mode, ==, MM_DELIVERY_MIME_DIGESTS);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 2);
  const Sent *welcome = find_sent(sent, "(Digest mode)");
  g_assert_cmpstr(recipient(welcome), ==, "bart@example.com");
  const Sent *owners = find_sent(sent, "Test subscription notification");
  g_assert_true(has_recipient(owners, "owner@example.com"));
  g_assert_true(has_recipient(owners, "mod@example.com"));
  g_assert_nonnull(strstr(owners->text, "From: admin@example.com"));

  /* An unverified one confirms its address first. */
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "cris@example.com", NULL, &outcome, &error));
  g_assert_cmpint(outcome.token_owner, ==, MM_TOKEN_OWNER_SUBSCRIBER);
  g_autofree char *token = g_strdup(outcome.token);
  g_autoptr(GPtrArray) request = drain(f, "virgin");
  g_assert_cmpuint(request->len, ==, 1);
  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, token,
                                             &outcome, &error));
  g_assert_true(is_member(f, "cris@example.com"));
  mm_workflow_outcome_clear(&outcome);
}

static void
test_moderate_policy(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  set(f, "subscription_policy", "moderate");
  MmSubscribeOptions options = {.pre_verified = TRUE,
                                .display_name = "Dora"};
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "dora@example.com", &options, &outcome, &error));
  g_assert_no_error(error);
  g_assert_cmpint(outcome.token_owner, ==, MM_TOKEN_OWNER_MODERATOR);
  g_autofree char *token = g_strdup(outcome.token);
  mm_workflow_outcome_clear(&outcome);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 1);
  const Sent *notice =
      find_sent(sent, "New subscription request to Test from dora@example.com");
  g_assert_true(has_recipient(notice, "owner@example.com"));
  g_assert_true(has_recipient(notice, "mod@example.com"));
  g_autofree char *reply_token = token_in(notice);
  g_assert_cmpstr(reply_token, ==, token);

  /* Listed for the moderators; the moderator's token lives 180 days. */
  g_autoptr(GPtrArray) waiting =
      mm_commands_requests(&f->ctx, f->list, "moderator", &error);
  g_assert_cmpuint(waiting->len, ==, 1);
  const MmWorkflowState *state = waiting->pdata[0];
  g_assert_cmpstr(state->email, ==, "dora@example.com");
  g_assert_cmpstr(state->workflow, ==, "subscription");
  g_assert_cmpint(state->expires_at, ==, T0 + 180 * DAY);

  f->ctx.now_sec = T0 + 30 * DAY;
  g_assert_true(mm_commands_request_decide(&f->ctx, f->list, token,
                                           MM_ACTION_DEFER, NULL, &error));
  g_assert_false(is_member(f, "dora@example.com"));
  g_assert_true(mm_commands_request_decide(&f->ctx, f->list, token,
                                           MM_ACTION_ACCEPT, NULL, &error));
  g_assert_no_error(error);
  g_assert_true(is_member(f, "dora@example.com"));
  g_autoptr(GPtrArray) welcome = drain(f, "virgin");
  g_assert_cmpuint(welcome->len, ==, 1);
  g_autoptr(GPtrArray) after =
      mm_commands_requests(&f->ctx, f->list, NULL, &error);
  g_assert_cmpuint(after->len, ==, 0);
}

static void
test_confirm_then_moderate(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  set(f, "subscription_policy", "confirm_then_moderate");
  set(f, "admin_immed_notify", "no");
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "eric@example.com", NULL, &outcome, &error));
  g_autofree char *first = g_strdup(outcome.token);
  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, first,
                                             &outcome, &error));
  g_assert_no_error(error);
  g_assert_cmpint(outcome.token_owner, ==, MM_TOKEN_OWNER_MODERATOR);
  g_autofree char *second = g_strdup(outcome.token);
  g_assert_cmpstr(first, !=, second);
  /* admin_immed_notify off: only the confirmation request went out. */
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 1);
  g_assert_false(mm_commands_workflow_confirm(&f->ctx, f->list, first,
                                              &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_NO_TOKEN);
  g_clear_error(&error);
  g_assert_false(is_member(f, "eric@example.com"));
  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, second,
                                             &outcome, &error));
  g_assert_true(outcome.member_changed);
  g_assert_true(is_member(f, "eric@example.com"));
  mm_workflow_outcome_clear(&outcome);
}

static void
test_reject_and_discard(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  set(f, "subscription_policy", "moderate");
  MmSubscribeOptions options = {.pre_verified = TRUE};
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "fay@example.com", &options, &outcome, &error));
  g_autofree char *fay = g_strdup(outcome.token);
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "gus@example.com", &options, &outcome, &error));
  g_autofree char *gus = g_strdup(outcome.token);
  mm_workflow_outcome_clear(&outcome);
  g_autoptr(GPtrArray) requests = drain(f, "virgin");
  g_assert_cmpuint(requests->len, ==, 2);

  g_assert_true(mm_commands_request_decide(&f->ctx, f->list, fay,
                                           MM_ACTION_REJECT, "No strangers",
                                           &error));
  g_assert_no_error(error);
  g_assert_true(mm_commands_request_decide(&f->ctx, f->list, gus,
                                           MM_ACTION_DISCARD, NULL, &error));
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 1);
  const Sent *refusal =
      find_sent(sent, "Request to mailing list \"Test\" rejected");
  g_assert_cmpstr(recipient(refusal), ==, "fay@example.com");
  g_assert_nonnull(strstr(refusal->text, "No strangers"));
  g_assert_cmpuint(member_count(f), ==, 0);
  g_assert_false(mm_commands_request_decide(&f->ctx, f->list, fay,
                                            MM_ACTION_ACCEPT, NULL, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_NO_TOKEN);
  g_clear_error(&error);
  /* A new request may follow a discarded one. */
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "gus@example.com", &options, &outcome, &error));
  mm_workflow_outcome_clear(&outcome);
}

static void
test_expiry(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "hal@example.com", NULL, &outcome, &error));
  g_autofree char *token = g_strdup(outcome.token);
  mm_workflow_outcome_clear(&outcome);
  /* Alive to the last second of pending_request_life, gone after. */
  f->ctx.now_sec = T0 + 3 * DAY + 1;
  g_assert_false(mm_commands_workflow_confirm(&f->ctx, f->list, token,
                                              &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_EXPIRED);
  g_clear_error(&error);
  g_assert_false(is_member(f, "hal@example.com"));
  /* An expired request does not block a new one. */
  g_autoptr(GPtrArray) waiting =
      mm_commands_requests(&f->ctx, f->list, NULL, &error);
  g_assert_cmpuint(waiting->len, ==, 0);
  g_assert_cmpint(mm_commands_requests_evict(&f->ctx, &error), ==, 1);
  g_assert_false(mm_commands_workflow_confirm(&f->ctx, f->list, token,
                                              &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_NO_TOKEN);
  g_clear_error(&error);
  g_autoptr(GHashTable) pended =
      mm_store_pending_get(f->store, token, FALSE, &error);
  g_assert_null(pended);
  g_clear_error(&error);
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "hal@example.com", NULL, &outcome, &error));
  g_assert_nonnull(outcome.token);
  mm_workflow_outcome_clear(&outcome);
}

/* A restart between request and confirmation: a new store on the same
 * file resumes the workflow. */
static void
test_resume_after_restart(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  set(f, "subscription_policy", "confirm_then_moderate");
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "ivy@example.com", NULL, &outcome, &error));
  g_autofree char *token = g_strdup(outcome.token);
  mm_workflow_outcome_clear(&outcome);

  g_clear_pointer(&f->store, mm_store_close);
  g_autofree char *db = mm_config_database_path(f->config, &error);
  f->store = mm_store_open(db, MM_STORE_READ_WRITE, &error);
  g_assert_no_error(error);
  f->ctx.store = f->store;
  reload_list(f);

  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, token,
                                             &outcome, &error));
  g_assert_no_error(error);
  g_assert_cmpint(outcome.token_owner, ==, MM_TOKEN_OWNER_MODERATOR);
  g_autofree char *moderator = g_strdup(outcome.token);
  mm_workflow_outcome_clear(&outcome);
  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, moderator,
                                             &outcome, &error));
  g_assert_true(is_member(f, "ivy@example.com"));
}

static void
test_wrong_list(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  g_autoptr(MmList) other =
      mm_store_list_create(f->store, "other", "example.com", NULL, &error);
  g_assert_no_error(error);
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "jon@example.com", NULL, &outcome, &error));
  g_autofree char *token = g_strdup(outcome.token);
  mm_workflow_outcome_clear(&outcome);
  g_assert_false(mm_commands_workflow_confirm(&f->ctx, other, token,
                                              &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_WRONG_LIST);
  g_clear_error(&error);
  /* Still good on its own list. */
  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, token,
                                             &outcome, &error));
  g_assert_true(is_member(f, "jon@example.com"));
}

static void
test_invitation(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  set(f, "subscription_policy", "moderate");
  MmSubscribeOptions options = {.invitation = TRUE};
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "kim@example.com", &options, &outcome, &error));
  g_autofree char *token = g_strdup(outcome.token);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  find_sent(sent, "Invitation to join");
  /* Accepting an invitation needs no moderator. */
  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, token,
                                             &outcome, &error));
  g_assert_true(outcome.member_changed);
  mm_workflow_outcome_clear(&outcome);
}

static void
test_welcome_off(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  set(f, "subscription_policy", "open");
  set(f, "send_welcome_message", "no");
  MmSubscribeOptions options = {.pre_verified = TRUE};
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "lea@example.com", &options, &outcome, &error));
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 0);
  /* The caller's choice overrides the list's. */
  options.send_welcome_message = 1;
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "max@example.com", &options, &outcome, &error));
  g_autoptr(GPtrArray) one = drain(f, "virgin");
  g_assert_cmpuint(one->len, ==, 1);
}

/* ---- Unsubscription ------------------------------------------------------ */

static void
add_member(Fixture *f, const char *email)
{
  GError *error = NULL;
  g_assert_true(mm_store_member_add(f->store, f->list->list_id, email, NULL,
                                    MM_ROLE_MEMBER, 0, &error));
  g_assert_no_error(error);
}

static void
test_unsubscribe_confirm(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  set(f, "admin_notify_mchanges", "yes");
  add_member(f, "nia@example.com");
  g_assert_true(mm_commands_unsubscription_start(
      &f->ctx, f->list, "nia@example.com", FALSE, FALSE, &outcome, &error));
  g_assert_no_error(error);
  g_assert_cmpint(outcome.token_owner, ==, MM_TOKEN_OWNER_SUBSCRIBER);
  g_autofree char *token = g_strdup(outcome.token);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  const Sent *request = find_sent(sent, "Please confirm leaving");
  g_assert_cmpstr(recipient(request), ==, "nia@example.com");
  /* A second request waits for the first. */
  g_assert_false(mm_commands_unsubscription_start(
      &f->ctx, f->list, "nia@example.com", FALSE, FALSE, &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_PENDING);
  g_clear_error(&error);

  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, token,
                                             &outcome, &error));
  g_assert_true(outcome.member_changed);
  g_assert_false(is_member(f, "nia@example.com"));
  g_autoptr(GPtrArray) notices = drain(f, "virgin");
  g_assert_cmpuint(notices->len, ==, 2);
  const Sent *goodbye = find_sent(notices, "You have left the Test");
  g_assert_cmpstr(recipient(goodbye), ==, "nia@example.com");
  const Sent *owners = find_sent(notices, "Test unsubscription notification");
  g_assert_true(has_recipient(owners, "owner@example.com"));

  g_assert_false(mm_commands_unsubscription_start(
      &f->ctx, f->list, "nia@example.com", FALSE, FALSE, &outcome, &error));
  g_assert_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_NOT_MEMBER);
  g_clear_error(&error);
}

static void
test_unsubscribe_policies(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  MmWorkflowOutcome outcome = {0};
  add_member(f, "oli@example.com");
  add_member(f, "pam@example.com");
  add_member(f, "quin@example.com");
  set(f, "unsubscription_policy", "open");
  set(f, "send_goodbye_message", "no");
  g_assert_true(mm_commands_unsubscription_start(
      &f->ctx, f->list, "oli@example.com", FALSE, FALSE, &outcome, &error));
  g_assert_true(outcome.member_changed);
  g_autoptr(GPtrArray) none = drain(f, "virgin");
  g_assert_cmpuint(none->len, ==, 0);

  set(f, "unsubscription_policy", "moderate");
  g_assert_true(mm_commands_unsubscription_start(
      &f->ctx, f->list, "pam@example.com", FALSE, FALSE, &outcome, &error));
  g_assert_cmpint(outcome.token_owner, ==, MM_TOKEN_OWNER_MODERATOR);
  g_autofree char *token = g_strdup(outcome.token);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  find_sent(sent, "New unsubscription request to Test from pam@example.com");
  g_assert_true(mm_commands_request_decide(&f->ctx, f->list, token,
                                           MM_ACTION_ACCEPT, NULL, &error));
  g_assert_false(is_member(f, "pam@example.com"));

  /* The member went away meanwhile: the confirmation finishes quietly. */
  set(f, "unsubscription_policy", "confirm");
  g_assert_true(mm_commands_unsubscription_start(
      &f->ctx, f->list, "quin@example.com", FALSE, FALSE, &outcome, &error));
  g_autofree char *quin = g_strdup(outcome.token);
  g_autoptr(GPtrArray) request = drain(f, "virgin");
  g_assert_true(mm_store_member_remove(f->store, f->list->list_id,
                                       "quin@example.com", MM_ROLE_MEMBER,
                                       &error));
  g_assert_true(mm_commands_workflow_confirm(&f->ctx, f->list, quin,
                                             &outcome, &error));
  g_assert_no_error(error);
  g_assert_false(outcome.member_changed);
  g_autoptr(GPtrArray) quiet = drain(f, "virgin");
  g_assert_cmpuint(quiet->len, ==, 0);
  mm_workflow_outcome_clear(&outcome);
}

/* ---- Whole command messages ---------------------------------------------- */

static MmCommandsOutcome
process(Fixture *f, const char *text, const char *subaddress)
{
  GError *error = NULL;
  g_autoptr(GBytes) raw = g_bytes_new(text, strlen(text));
  json_t *meta = json_pack("{s:s}", "listid", f->list->list_id);
  if (subaddress != NULL)
    json_object_set_new(meta, "subaddress", json_string(subaddress));
  MmCommandsOutcome outcome;
  g_assert_true(mm_commands_message_process(&f->ctx, f->list, raw, meta,
                                            &outcome, &error));
  g_assert_no_error(error);
  json_decref(meta);
  return outcome;
}

static void
test_message_join_and_confirm(Fixture *f, gconstpointer data)
{
  static const char join[] = "From: Anne Person <anne@example.com>\n"
                             "To: test-join@example.com\n"
                             "Subject: please\n"
                             "Message-ID: <join.1@example.com>\n\n"
                             "whatever\n";
  g_assert_cmpint(process(f, join, "join"), ==, MM_COMMANDS_QUIET);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 1);
  g_autofree char *token = token_in(find_sent(sent, "Please confirm"));

  g_autofree char *confirm = g_strdup_printf(
      "From: anne@example.com\nTo: test-confirm+%s@example.com\n"
      "Subject: Re: Please confirm joining\n"
      "Message-ID: <confirm.1@example.com>\n\n> quoted\n",
      token);
  g_assert_cmpint(process(f, confirm, "confirm"), ==, MM_COMMANDS_QUIET);
  g_assert_true(is_member(f, "anne@example.com"));
  g_autoptr(GPtrArray) welcome = drain(f, "virgin");
  find_sent(welcome, "Welcome");
  g_assert_cmpuint(welcome->len, ==, 1);

  /* The same confirmation again: a clear reply, no second member. */
  g_assert_cmpint(process(f, confirm, "confirm"), ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) reply = drain(f, "virgin");
  g_assert_cmpuint(reply->len, ==, 1);
  const Sent *results = find_sent(reply, "The results of your email commands");
  g_assert_cmpstr(recipient(results), ==, "anne@example.com");
  g_assert_nonnull(strstr(results->text, "did not match"));
  g_assert_nonnull(
      strstr(results->text, "In-Reply-To: <confirm.1@example.com>"));
  g_assert_nonnull(strstr(results->text, "From: test-bounces@example.com"));
  g_assert_cmpuint(member_count(f), ==, 1);

  /* Joining again says so. */
  g_assert_cmpint(process(f, join, "join"), ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) again = drain(f, "virgin");
  g_assert_nonnull(strstr(((Sent *)again->pdata[0])->text,
                          "anne@example.com is already a member"));
}

static void
test_message_expired(Fixture *f, gconstpointer data)
{
  static const char join[] = "From: bea@example.com\nSubject: join\n\n";
  g_assert_cmpint(process(f, join, "request"), ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 2);
  const Sent *reply = find_sent(sent, "The results");
  g_assert_nonnull(strstr(reply->text, "A confirmation request was sent to"));
  g_autofree char *token = token_in(find_sent(sent, "Please confirm"));
  f->ctx.now_sec = T0 + 4 * DAY;
  g_autofree char *confirm = g_strdup_printf(
      "From: bea@example.com\nSubject: Re: confirm %s\n\n", token);
  g_assert_cmpint(process(f, confirm, "request"), ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) refused = drain(f, "virgin");
  g_assert_cmpuint(refused->len, ==, 1);
  g_assert_nonnull(strstr(((Sent *)refused->pdata[0])->text, "has expired"));
  g_assert_false(is_member(f, "bea@example.com"));
}

static void
test_message_loops(Fixture *f, gconstpointer data)
{
  static const char *const automatic[] = {
      "From: anne@example.com\nAuto-Submitted: auto-replied\n"
      "Subject: join\n\n",
      "From: anne@example.com\nAuto-Submitted: Auto-Generated; x=y\n"
      "Subject: join\n\n",
      "From: anne@example.com\nPrecedence: bulk\nSubject: join\n\n",
      "From: anne@example.com\nPrecedence: junk\nSubject: join\n\n",
      "From: anne@example.com\nX-Autoreply: yes\nSubject: join\n\n",
      "From: anne@example.com\nX-MailFrom: <>\nSubject: join\n\n",
      "From: test-bounces@example.com\nSubject: join\n\n",
      "From: TEST@example.com\nSubject: help\n\n",
      "Subject: help\n\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(automatic); i++) {
    g_test_message("automatic %zu", i);
    g_assert_cmpint(process(f, automatic[i], "request"), ==,
                    MM_COMMANDS_DROPPED);
    g_autoptr(GPtrArray) sent = drain(f, "virgin");
    g_assert_cmpuint(sent->len, ==, 0);
  }
  /* A vacation reply to a confirmation request confirms nothing. */
  g_assert_cmpint(process(f, "From: cy@example.com\nSubject: join\n\n",
                          "request"),
                  ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_autofree char *token = token_in(find_sent(sent, "Please confirm"));
  g_autofree char *vacation = g_strdup_printf(
      "From: cy@example.com\nTo: test-confirm+%s@example.com\n"
      "Auto-Submitted: auto-replied\nSubject: Out of office\n\n",
      token);
  g_assert_cmpint(process(f, vacation, "confirm"), ==, MM_COMMANDS_DROPPED);
  g_assert_false(is_member(f, "cy@example.com"));
  /* Precedence: bulk with X-Ack: yes is answered. */
  g_assert_cmpint(process(f,
                          "From: cy@example.com\nPrecedence: bulk\n"
                          "X-Ack: yes\nSubject: echo hi\n\n",
                          "request"),
                  ==, MM_COMMANDS_REPLIED);
}

static void
test_message_reply_limit(Fixture *f, gconstpointer data)
{
  static const char help[] = "From: dan@example.com\nSubject: help\n\n";
  for (int i = 0; i < 2; i++) {
    g_assert_cmpint(process(f, help, "request"), ==, MM_COMMANDS_REPLIED);
    g_autoptr(GPtrArray) sent = drain(f, "virgin");
    g_assert_cmpuint(sent->len, ==, 1);
  }
  /* At the limit: one last notice, then silence. */
  g_assert_cmpint(process(f, help, "request"), ==, MM_COMMANDS_QUIET);
  g_autoptr(GPtrArray) last = drain(f, "virgin");
  g_assert_cmpuint(last->len, ==, 1);
  find_sent(last, "Last autoresponse notification for today");
  g_assert_cmpint(process(f, help, "request"), ==, MM_COMMANDS_QUIET);
  g_autoptr(GPtrArray) none = drain(f, "virgin");
  g_assert_cmpuint(none->len, ==, 0);
}

static void
test_message_script(Fixture *f, gconstpointer data)
{
  add_member(f, "eve@example.com");
  static const char text[] =
      "From: eve@example.com\nSubject: Re: echo hello\n\n"
      "frobnicate now\nhelp join\nwho\necho after who\nend\necho never\n"
      "-- \nEve\n";
  g_assert_cmpint(process(f, text, "request"), ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 1);
  const char *body = ((Sent *)sent->pdata[0])->text;
  g_assert_nonnull(strstr(body, "echo hello"));
  g_assert_nonnull(strstr(body, "No such command: frobnicate"));
  g_assert_nonnull(strstr(body, "join [digest=<no|mime|plain>]"));
  /* member_roster_visibility is "moderators" by default. */
  g_assert_nonnull(strstr(body, "not allowed to see the members"));
  /* who stops the script; the rest is listed as not run. */
  g_assert_nonnull(strstr(body, "echo never"));
  g_assert_null(strstr(body, "> echo after who"));
  g_assert_nonnull(strstr(body, "> frobnicate now\nNo such command"));

  set(f, "member_roster_visibility", "members");
  g_assert_cmpint(process(f, "From: eve@example.com\nSubject: who\n\n",
                          "request"),
                  ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) roster = drain(f, "virgin");
  g_assert_nonnull(
      strstr(((Sent *)roster->pdata[0])->text, "    eve@example.com"));
  /* Not a member, not shown. */
  g_assert_cmpint(process(f, "From: zed@example.com\nSubject: who\n\n",
                          "request"),
                  ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) hidden = drain(f, "virgin");
  g_assert_null(strstr(((Sent *)hidden->pdata[0])->text, "eve@example.com"));
}

static void
test_message_leave(Fixture *f, gconstpointer data)
{
  add_member(f, "fin@example.com");
  g_assert_cmpint(process(f, "From: fin@example.com\nSubject: x\n\n",
                          "leave"),
                  ==, MM_COMMANDS_QUIET);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_autofree char *token = token_in(find_sent(sent, "Please confirm leaving"));
  g_autofree char *confirm = g_strdup_printf(
      "From: fin@example.com\nTo: <test-confirm+%s@example.com>\n"
      "Subject: Re: x\n\n",
      token);
  g_assert_cmpint(process(f, confirm, "confirm"), ==, MM_COMMANDS_QUIET);
  g_assert_false(is_member(f, "fin@example.com"));
  g_autoptr(GPtrArray) goodbye = drain(f, "virgin");
  find_sent(goodbye, "You have left");
  /* Not a member any more: a reply says so. */
  g_assert_cmpint(process(f, "From: fin@example.com\nSubject: x\n\n",
                          "leave"),
                  ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) reply = drain(f, "virgin");
  g_assert_nonnull(strstr(((Sent *)reply->pdata[0])->text,
                          "fin@example.com is not a member"));
}

static void
test_message_html_only(Fixture *f, gconstpointer data)
{
  static const char text[] =
      "From: gil@example.com\nSubject: \nMIME-Version: 1.0\n"
      "Content-Type: text/html\n\n<p>join</p>\n";
  g_assert_cmpint(process(f, text, "request"), ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 1);
  g_assert_nonnull(
      strstr(((Sent *)sent->pdata[0])->text, "no plain text part"));
  g_assert_false(is_member(f, "gil@example.com"));
}

/* A held post, decided by a reply carrying its token. */
static char *
hold_post(Fixture *f, const char *message_id)
{
  GError *error = NULL;
  g_autofree char *text = g_strdup_printf(
      "From: outsider@example.org\nTo: test@example.com\nSubject: Held\n"
      "Message-ID: <%s>\n\nA post.\n",
      message_id);
  g_autoptr(GBytes) raw = g_bytes_new(text, strlen(text));
  json_t *meta = json_pack("{s:s, s:b}", "listid", f->list->list_id,
                           "to_list", 1);
  g_autoptr(MmPost) post =
      mm_rules_post_new(f->config, f->store, f->list, raw, meta);
  json_decref(meta);
  const char *taken = NULL;
  g_assert_true(
      mm_chains_process(post, "default-posting-chain", &taken, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(taken, ==, "hold");
  g_autoptr(GPtrArray) notices = drain(f, "virgin");
  g_autofree char *json = g_strdup_printf("\"%s\"", f->list->list_id);
  g_autoptr(GPtrArray) tokens =
      mm_store_pending_find(f->store, "held message", NULL, NULL, &error);
  g_assert_cmpuint(tokens->len, >=, 1);
  return g_strdup(tokens->pdata[tokens->len - 1]);
}

static guint
held_count(Fixture *f)
{
  GError *error = NULL;
  g_autoptr(GPtrArray) held = mm_chains_held_messages(f->store, f->list,
                                                      &error);
  g_assert_no_error(error);
  return held->len;
}

static void
test_message_moderate_by_mail(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_true(mm_store_list_set_moderator_password(
      f->store, f->list->list_id, "s3cret", &error));
  g_autofree char *token = hold_post(f, "held.1@example.org");
  g_assert_cmpuint(held_count(f), ==, 1);

  /* A wrong password changes nothing. */
  g_autofree char *wrong = g_strdup_printf(
      "From: mod@example.com\nSubject: Re: confirm %s\n"
      "Approved: guess\n\nThanks.\n", token);
  g_assert_cmpint(process(f, wrong, "request"), ==, MM_COMMANDS_REPLIED);
  g_autoptr(GPtrArray) reply = drain(f, "virgin");
  g_assert_nonnull(
      strstr(((Sent *)reply->pdata[0])->text, "Invalid Approved: password"));
  g_assert_cmpuint(held_count(f), ==, 1);

  g_autofree char *right = g_strdup_printf(
      "From: mod@example.com\nSubject: Re: confirm %s\n"
      "Approved: s3cret\n\nThanks.\n", token);
  g_assert_cmpint(process(f, right, "request"), ==, MM_COMMANDS_REPLIED);
  g_assert_cmpuint(held_count(f), ==, 0);
  g_autoptr(GPtrArray) pipeline = drain(f, "pipeline");
  g_assert_cmpuint(pipeline->len, ==, 1);
  g_assert_nonnull(
      strstr(((Sent *)pipeline->pdata[0])->text, "<held.1@example.org>"));
  g_autoptr(GPtrArray) accepted = drain(f, "virgin");
  g_assert_nonnull(
      strstr(((Sent *)accepted->pdata[0])->text, "held message was accepted"));

  /* Without Approved the post is discarded (an empty message is how the
   * poster withdraws it); the token then is gone. */
  g_autofree char *second = hold_post(f, "held.2@example.org");
  g_autofree char *discard = g_strdup_printf(
      "From: outsider@example.org\nTo: test-confirm+%s@example.com\n"
      "Subject: Re: x\n\n",
      second);
  g_assert_cmpint(process(f, discard, "confirm"), ==, MM_COMMANDS_QUIET);
  g_assert_cmpuint(held_count(f), ==, 0);
  g_autoptr(GPtrArray) nothing = drain(f, "pipeline");
  g_assert_cmpuint(nothing->len, ==, 0);
  g_assert_cmpint(process(f, discard, "confirm"), ==, MM_COMMANDS_REPLIED);
}

static void
test_pending_reminder(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  guint count = 99;
  g_assert_true(mm_commands_pending_reminder(&f->ctx, f->list, TRUE, &count,
                                             &error));
  g_assert_cmpuint(count, ==, 0);
  g_autoptr(GPtrArray) none = drain(f, "virgin");
  g_assert_cmpuint(none->len, ==, 0);

  set(f, "subscription_policy", "moderate");
  MmWorkflowOutcome outcome = {0};
  MmSubscribeOptions options = {.pre_verified = TRUE};
  g_assert_true(mm_commands_subscription_start(
      &f->ctx, f->list, "hugo@example.com", &options, &outcome, &error));
  mm_workflow_outcome_clear(&outcome);
  g_autofree char *held = hold_post(f, "held.3@example.org");
  g_autoptr(GPtrArray) before = drain(f, "virgin");
  g_assert_true(mm_commands_pending_reminder(&f->ctx, f->list, TRUE, &count,
                                             &error));
  g_assert_cmpuint(count, ==, 2);
  g_autoptr(GPtrArray) sent = drain(f, "virgin");
  g_assert_cmpuint(sent->len, ==, 1);
  const Sent *reminder = sent->pdata[0];
  g_assert_true(has_recipient(reminder, "owner@example.com"));
  g_assert_nonnull(strstr(reminder->text, "hugo@example.com"));
  g_assert_nonnull(strstr(reminder->text, "outsider@example.org"));
}

#define ADD(path, func)                                                       \
  g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  ADD("/commands/workflow/confirm-policy", test_confirm_policy);
  ADD("/commands/workflow/refusals", test_refusals);
  ADD("/commands/workflow/open-policy", test_open_policy);
  ADD("/commands/workflow/moderate-policy", test_moderate_policy);
  ADD("/commands/workflow/confirm-then-moderate", test_confirm_then_moderate);
  ADD("/commands/workflow/reject-and-discard", test_reject_and_discard);
  ADD("/commands/workflow/expiry", test_expiry);
  ADD("/commands/workflow/resume-after-restart", test_resume_after_restart);
  ADD("/commands/workflow/wrong-list", test_wrong_list);
  ADD("/commands/workflow/invitation", test_invitation);
  ADD("/commands/workflow/welcome-off", test_welcome_off);
  ADD("/commands/workflow/unsubscribe-confirm", test_unsubscribe_confirm);
  ADD("/commands/workflow/unsubscribe-policies", test_unsubscribe_policies);
  ADD("/commands/message/join-and-confirm", test_message_join_and_confirm);
  ADD("/commands/message/expired", test_message_expired);
  ADD("/commands/message/loops", test_message_loops);
  g_test_add("/commands/message/reply-limit", Fixture,
             "max_autoresponses_per_day: 2", fixture_setup,
             test_message_reply_limit, fixture_teardown);
  ADD("/commands/message/script", test_message_script);
  ADD("/commands/message/leave", test_message_leave);
  ADD("/commands/message/html-only", test_message_html_only);
  ADD("/commands/message/moderate-by-mail", test_message_moderate_by_mail);
  ADD("/commands/reminder", test_pending_reminder);
  return g_test_run();
}
