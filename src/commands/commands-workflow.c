/* Subscription and unsubscription workflows (Mailman's
 * app/subscriptions.py SubscriptionWorkflow, UnSubscriptionWorkflow and
 * SubscriptionManager; app/workflow.py).
 *
 * A workflow is a queue of named steps run one after another.  A step
 * that must wait (for the subscriber's confirmation or a moderator) mints
 * a token, names the step to resume with, saves the workflow under the
 * token and stops; confirm() restores it by token and runs on.  The step
 * names and the saved attributes are Mailman's, so a saved workflow reads
 * like one of Mailman's.
 *
 * Tokens: each wait gets a new pending ("subscription" or
 * "unsubscription", Mailman's keys list_id, email, display_name, when,
 * token_owner; lifetime pending_request_life, or moderator_request_life
 * when a moderator owns it) and the previous one is deleted first, so a
 * token acts once (Mailman's anti-replay).  Deleting a pending deletes its
 * workflow row (the foreign key cascades).
 *
 * Every public call is one transaction: the steps, the token changes and
 * the notices queued on the way commit together, or the database is left
 * as it was (notices already queued stay queued: at least once).
 *
 * Deliberate differences from Mailman:
 *   - a token is checked against the list it is confirmed on (Mailman
 *     would resume another list's workflow on this list);
 *   - a second unsubscription request while one waits is refused as
 *     PENDING (Mailman starts another workflow and sends another
 *     confirmation);
 *   - a workflow whose time ran out is refused as EXPIRED even before the
 *     task runner evicts it;
 *   - the list's own addresses (-request, -owner, ...) cannot subscribe,
 *     not just its posting address.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "commands-private.h"

#include <string.h>

#include "base-address.h"
#include "base-log.h"

/* Mailman's SubscriptionPolicy. */
typedef enum {
  POLICY_OPEN = 0,
  POLICY_CONFIRM = 1,
  POLICY_MODERATE = 2,
  POLICY_CONFIRM_THEN_MODERATE = 3,
} Policy;

typedef struct {
  const MmCommandsContext *ctx;
  const MmList *list;
  gboolean subscription; /* FALSE: an unsubscription */
  char *email;           /* folded */
  char *original;        /* as the request spelled it; NULL after restore */
  char *display_name;
  gboolean pre_verified;
  gboolean pre_confirmed;
  gboolean pre_approved;
  gboolean invitation;
  int send_welcome_message; /* 0: the list decides; 1 yes; -1 no */
  MmDeliveryMode delivery_mode;
  MmDeliveryStatus delivery_status;
  char *token;
  MmTokenOwner token_owner;
  gint64 expires_at;
  const char *next; /* the step to run next (static), NULL when done */
  gboolean stopped; /* a step saved the workflow to wait */
  gboolean member_changed;
} Workflow;

typedef gboolean (*Step)(Workflow *wf, GError **error);

static void
workflow_clear(Workflow *wf)
{
  g_clear_pointer(&wf->email, g_free);
  g_clear_pointer(&wf->original, g_free);
  g_clear_pointer(&wf->display_name, g_free);
  g_clear_pointer(&wf->token, g_free);
}

void
mm_workflow_outcome_clear(MmWorkflowOutcome *outcome)
{
  if (outcome == NULL)
    return;
  g_clear_pointer(&outcome->token, g_free);
  outcome->token_owner = MM_TOKEN_OWNER_NO_ONE;
  outcome->member_changed = FALSE;
}

static Policy
list_policy(const MmList *list, const char *name)
{
  const char *text = mm_list_setting(list, name);
  if (text == NULL)
    return POLICY_CONFIRM;
  if (g_str_equal(text, "open"))
    return POLICY_OPEN;
  if (g_str_equal(text, "moderate"))
    return POLICY_MODERATE;
  if (g_str_equal(text, "confirm_then_moderate"))
    return POLICY_CONFIRM_THEN_MODERATE;
  return POLICY_CONFIRM;
}

static const char *
token_owner_name(MmTokenOwner owner)
{
  switch (owner) {
  case MM_TOKEN_OWNER_SUBSCRIBER:
    return "subscriber";
  case MM_TOKEN_OWNER_MODERATOR:
    return "moderator";
  case MM_TOKEN_OWNER_NO_ONE:
    break;
  }
  return "no_one";
}

static const char *
workflow_kind(const Workflow *wf)
{
  return wf->subscription ? "subscription" : "unsubscription";
}

static char *
json_string_text(const char *text)
{
  g_autoptr(MmJson) json = json_string(text != NULL ? text : "");
  if (json == NULL) /* not UTF-8: the caller validated it, but be safe */
    json = json_string("");
  return json_dumps(json, JSON_ENCODE_ANY);
}

/* ---- Tokens and saving --------------------------------------------------- */

/* Mailman's _set_token(): the old token goes (and its saved state with
 * it), a new one is pended unless @owner is no one. */
static gboolean
set_token(Workflow *wf, MmTokenOwner owner, GError **error)
{
  MmStore *store = wf->ctx->store;
  g_autoptr(GError) local = NULL;
  if (wf->token != NULL) {
    if (!mm_store_pending_delete(store, wf->token, &local))
      return mm_commands_error_from(local, error, "Cannot spend a token");
    g_clear_pointer(&wf->token, g_free);
  }
  wf->token_owner = owner;
  if (owner == MM_TOKEN_OWNER_NO_ONE)
    return TRUE;

  gint64 lifetime =
      owner == MM_TOKEN_OWNER_MODERATOR
          ? mm_commands_config_seconds(wf->ctx->config,
                                       "moderator_request_life", 180 * 86400)
          : mm_commands_config_seconds(wf->ctx->config,
                                       "pending_request_life", 3 * 86400);
  gint64 now = mm_commands_now(wf->ctx);
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc(now);
  g_autofree char *when_text =
      when != NULL ? g_date_time_format(when, "%Y-%m-%dT%H:%M:%S")
                   : g_strdup("");
  g_autoptr(GHashTable) values =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
  g_hash_table_insert(values, "list_id", json_string_text(wf->list->list_id));
  g_hash_table_insert(values, "email", json_string_text(wf->email));
  g_hash_table_insert(values, "display_name",
                      json_string_text(wf->display_name));
  g_hash_table_insert(values, "when", json_string_text(when_text));
  g_hash_table_insert(values, "token_owner",
                      json_string_text(token_owner_name(owner)));
  wf->token = mm_store_pending_add(store, workflow_kind(wf), values, lifetime,
                                   &local);
  if (wf->token == NULL)
    return mm_commands_error_from(local, error, "Cannot make a token");
  wf->expires_at = now + lifetime;
  return TRUE;
}

/* Mailman's Workflow.save(): the next step and SAVE_ATTRIBUTES. */
static gboolean
save(Workflow *wf, GError **error)
{
  g_autoptr(MmJson) data = json_object();
  json_object_set_new(data, "pre_approved", json_boolean(wf->pre_approved));
  json_object_set_new(data, "pre_confirmed", json_boolean(wf->pre_confirmed));
  json_object_set_new(data, "address_key", json_string(wf->email));
  /* WhichSubscriber.address: we subscribe addresses. */
  json_object_set_new(data, "subscriber_key", json_integer(1));
  json_object_set_new(data, "user_key", json_null());
  json_object_set_new(data, "token_owner_key",
                      json_integer((json_int_t)wf->token_owner));
  json_object_set_new(data, "display_name",
                      json_string(wf->display_name != NULL
                                      ? wf->display_name
                                      : ""));
  if (wf->subscription) {
    json_object_set_new(data, "pre_verified", json_boolean(wf->pre_verified));
    json_object_set_new(data, "invitation", json_boolean(wf->invitation));
    json_object_set_new(data, "send_welcome_message",
                        wf->send_welcome_message == 0
                            ? json_null()
                            : json_boolean(wf->send_welcome_message > 0));
    json_object_set_new(data, "delivery_mode",
                        wf->delivery_mode != 0
                            ? json_integer(wf->delivery_mode)
                            : json_null());
    json_object_set_new(data, "delivery_status",
                        wf->delivery_status != 0
                            ? json_integer(wf->delivery_status)
                            : json_null());
  }
  g_autofree char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
  MmWorkflowState state = {
      .token = wf->token,
      .step = (char *)wf->next,
      .data = text,
      .list_id = wf->list->list_id,
      .workflow = (char *)workflow_kind(wf),
      .email = wf->email,
      .token_owner = (char *)token_owner_name(wf->token_owner),
      .created_at = mm_commands_now(wf->ctx),
      .expires_at = wf->expires_at,
  };
  g_autoptr(GError) local = NULL;
  if (!mm_store_workflow_save(wf->ctx->store, &state, &local))
    return mm_commands_error_from(local, error, "Cannot save the workflow");
  return TRUE;
}

/* Mailman's restore(): the saved attributes back into @wf. */
static gboolean
restore(Workflow *wf, const MmWorkflowState *state)
{
  g_autoptr(MmJson) data = json_loads(state->data, 0, NULL);
  if (!json_is_object(data))
    return FALSE;
  wf->subscription = g_str_equal(state->workflow, "subscription");
  wf->email = g_strdup(state->email);
  const char *name = json_string_value(json_object_get(data, "display_name"));
  wf->display_name = g_strdup(name != NULL ? name : "");
  wf->pre_approved = json_is_true(json_object_get(data, "pre_approved"));
  wf->pre_confirmed = json_is_true(json_object_get(data, "pre_confirmed"));
  wf->pre_verified = json_is_true(json_object_get(data, "pre_verified"));
  wf->invitation = json_is_true(json_object_get(data, "invitation"));
  json_t *welcome = json_object_get(data, "send_welcome_message");
  wf->send_welcome_message = json_is_boolean(welcome)
                                 ? (json_is_true(welcome) ? 1 : -1)
                                 : 0;
  json_t *mode = json_object_get(data, "delivery_mode");
  wf->delivery_mode =
      json_is_integer(mode) ? (MmDeliveryMode)json_integer_value(mode) : 0;
  json_t *status = json_object_get(data, "delivery_status");
  wf->delivery_status =
      json_is_integer(status) ? (MmDeliveryStatus)json_integer_value(status)
                              : 0;
  wf->token = g_strdup(state->token);
  wf->token_owner = g_str_equal(state->token_owner, "moderator")
                        ? MM_TOKEN_OWNER_MODERATOR
                        : MM_TOKEN_OWNER_SUBSCRIBER;
  wf->expires_at = state->expires_at;
  return TRUE;
}

/* A step that waits: the workflow is saved to resume at @resume_at, and
 * stops. */
static gboolean
wait_for(Workflow *wf, MmTokenOwner owner, const char *resume_at,
         GError **error)
{
  if (!set_token(wf, owner, error))
    return FALSE;
  wf->next = resume_at;
  if (!save(wf, error))
    return FALSE;
  wf->stopped = TRUE;
  return TRUE;
}

/* ---- Subscription steps -------------------------------------------------- */

static gboolean
sub_sanity_checks(Workflow *wf, GError **error)
{
  MmStore *store = wf->ctx->store;
  const MmList *list = wf->list;
  g_autoptr(GError) local = NULL;

  if (mm_commands_is_list_address(list, wf->email)) {
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_INVALID_ADDRESS,
                "%s is an address of the list itself", wf->email);
    return FALSE;
  }
  /* Mailman makes the user (and address) first, keeping the spelling. */
  if (!mm_store_address_ensure(store,
                               wf->original != NULL ? wf->original
                                                    : wf->email,
                               wf->display_name[0] != '\0' ? wf->display_name
                                                           : NULL,
                               &local)) {
    if (g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_INVALID)) {
      g_set_error(error, MM_COMMANDS_ERROR,
                  MM_COMMANDS_ERROR_INVALID_ADDRESS, "%s", local->message);
      return FALSE;
    }
    return mm_commands_error_from(local, error, "Cannot record the address");
  }
  g_autoptr(MmMember) member = mm_store_member_get(
      store, list->list_id, wf->email, MM_ROLE_MEMBER, &local);
  if (member != NULL) {
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_ALREADY_MEMBER,
                "%s is already a member of %s", wf->email,
                list->fqdn_listname);
    return FALSE;
  }
  if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND))
    return mm_commands_error_from(local, error, "Cannot read members");
  g_clear_error(&local);

  gboolean banned = FALSE;
  if (!mm_store_ban_check(store, list->list_id, wf->email, &banned, &local))
    return mm_commands_error_from(local, error, "Cannot read bans");
  if (banned) {
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_BANNED,
                "%s is not allowed to subscribe to %s", wf->email,
                list->fqdn_listname);
    return FALSE;
  }
  g_autoptr(GPtrArray) waiting =
      mm_store_workflows(store, list->list_id, "subscription", wf->email,
                         NULL, mm_commands_now(wf->ctx), &local);
  if (waiting == NULL)
    return mm_commands_error_from(local, error, "Cannot read requests");
  if (waiting->len > 0) {
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_PENDING,
                "%s has a subscription request waiting for %s", wf->email,
                list->fqdn_listname);
    return FALSE;
  }
  wf->next = "verification_checks";
  return TRUE;
}

static gboolean
sub_verification_checks(Workflow *wf, GError **error)
{
  if (wf->invitation) {
    wf->next = "send_invitation";
    return TRUE;
  }
  if (!mm_store_address_is_verified(wf->ctx->store, wf->email)) {
    if (!wf->pre_verified) {
      /* The confirmation also verifies the address. */
      wf->next = "send_confirmation";
      return TRUE;
    }
    g_autoptr(GError) local = NULL;
    if (!mm_store_address_set_verified(wf->ctx->store, wf->email, TRUE,
                                       &local))
      return mm_commands_error_from(local, error, "Cannot verify");
  }
  wf->next = "confirmation_checks";
  return TRUE;
}

static gboolean
sub_confirmation_checks(Workflow *wf, GError **error)
{
  Policy policy = list_policy(wf->list, "subscription_policy");
  if (policy == POLICY_OPEN)
    wf->next = "do_subscription";
  else if (policy == POLICY_MODERATE)
    wf->next = "moderation_checks";
  else if (wf->pre_confirmed)
    wf->next = policy == POLICY_CONFIRM_THEN_MODERATE ? "moderation_checks"
                                                      : "do_subscription";
  else
    wf->next = "send_confirmation";
  return TRUE;
}

static gboolean
moderation_checks(Workflow *wf, GError **error)
{
  if (wf->pre_approved)
    wf->next = wf->subscription ? "do_subscription" : "do_unsubscription";
  else
    wf->next = "get_moderator_approval";
  return TRUE;
}

static gboolean
get_moderator_approval(Workflow *wf, GError **error)
{
  if (!wait_for(wf, MM_TOKEN_OWNER_MODERATOR,
                wf->subscription ? "subscribe_from_restored"
                                 : "unsubscribe_from_restored",
                error))
    return FALSE;
  g_autofree char *shown = mm_log_escape(wf->email, -1);
  mm_log_info(MM_COMMANDS_LOG_SUBSCRIBE, "%s: held %s request from %s",
              wf->list->fqdn_listname, workflow_kind(wf), shown);
  if (!mm_commands_list_flag(wf->list, "admin_immed_notify", TRUE))
    return TRUE;
  return mm_commands_notice_moderator_request(wf->ctx, wf->list,
                                              wf->subscription, wf->email,
                                              wf->display_name, wf->token,
                                              error);
}

static gboolean
sub_send_confirmation(Workflow *wf, GError **error)
{
  if (!wait_for(wf, MM_TOKEN_OWNER_SUBSCRIBER, "do_confirm_verify", error))
    return FALSE;
  return mm_commands_notice_confirmation(wf->ctx, wf->list,
                                         wf->invitation ? "invite"
                                                        : "subscribe",
                                         wf->email, wf->token, error);
}

static gboolean
sub_do_confirm_verify(Workflow *wf, GError **error)
{
  if (!set_token(wf, MM_TOKEN_OWNER_NO_ONE, error))
    return FALSE;
  /* Answering the confirmation proves the address works. */
  if (!mm_store_address_is_verified(wf->ctx->store, wf->email)) {
    g_autoptr(GError) local = NULL;
    if (!mm_store_address_set_verified(wf->ctx->store, wf->email, TRUE,
                                       &local) &&
        !g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND))
      return mm_commands_error_from(local, error, "Cannot verify");
  }
  Policy policy = list_policy(wf->list, "subscription_policy");
  gboolean moderated =
      policy == POLICY_MODERATE || policy == POLICY_CONFIRM_THEN_MODERATE;
  wf->next = moderated && !wf->invitation ? "moderation_checks"
                                          : "do_subscription";
  return TRUE;
}

static gboolean
sub_from_restored(Workflow *wf, GError **error)
{
  if (!set_token(wf, MM_TOKEN_OWNER_NO_ONE, error))
    return FALSE;
  wf->next = "do_subscription";
  return TRUE;
}

static gboolean
sub_do_subscription(Workflow *wf, GError **error)
{
  MmStore *store = wf->ctx->store;
  const MmList *list = wf->list;
  g_autoptr(GError) local = NULL;

  /* The ban may have come while the request waited (Mailman's
   * mlist.subscribe() checks again). */
  gboolean banned = FALSE;
  if (!mm_store_ban_check(store, list->list_id, wf->email, &banned, &local))
    return mm_commands_error_from(local, error, "Cannot read bans");
  if (banned) {
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_BANNED,
                "%s is not allowed to subscribe to %s", wf->email,
                list->fqdn_listname);
    return FALSE;
  }
  if (!mm_store_member_add(store, list->list_id, wf->email,
                           wf->display_name[0] != '\0' ? wf->display_name
                                                       : NULL,
                           MM_ROLE_MEMBER, wf->delivery_mode, &local)) {
    if (g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_EXISTS)) {
      g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_ALREADY_MEMBER,
                  "%s is already a member of %s", wf->email,
                  list->fqdn_listname);
      return FALSE;
    }
    return mm_commands_error_from(local, error, "Cannot subscribe");
  }
  if (wf->delivery_status != 0 &&
      !mm_store_member_set_delivery_status(store, list->list_id, wf->email,
                                           wf->delivery_status, &local))
    return mm_commands_error_from(local, error, "Cannot subscribe");
  wf->member_changed = TRUE;
  g_autofree char *shown = mm_log_escape(wf->email, -1);
  mm_log_info(MM_COMMANDS_LOG_SUBSCRIBE, "%s: new member %s",
              list->fqdn_listname, shown);

  /* Mailman's handle_SubscriptionEvent. */
  if (mm_commands_list_flag(list, "admin_notify_mchanges", FALSE) &&
      !mm_commands_notice_admin_change(wf->ctx, list, TRUE, wf->email,
                                       wf->display_name, error))
    return FALSE;
  gboolean welcome = wf->send_welcome_message != 0
                         ? wf->send_welcome_message > 0
                         : mm_commands_list_flag(list, "send_welcome_message",
                                                 TRUE);
  if (welcome) {
    g_autoptr(MmMember) member = mm_store_member_get(
        store, list->list_id, wf->email, MM_ROLE_MEMBER, NULL);
    MmDeliveryMode mode =
        member != NULL ? member->delivery_mode : MM_DELIVERY_REGULAR;
    if (!mm_commands_notice_welcome(wf->ctx, list, wf->email,
                                    wf->display_name, mode, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
sub_send_invitation(Workflow *wf, GError **error)
{
  return sub_send_confirmation(wf, error);
}

/* ---- Unsubscription steps ------------------------------------------------ */

static gboolean
unsub_subscription_checks(Workflow *wf, GError **error)
{
  MmStore *store = wf->ctx->store;
  g_autoptr(GError) local = NULL;
  g_autoptr(MmMember) member = mm_store_member_get(
      store, wf->list->list_id, wf->email, MM_ROLE_MEMBER, &local);
  if (member == NULL) {
    if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND) &&
        !g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_INVALID))
      return mm_commands_error_from(local, error, "Cannot read members");
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_NOT_MEMBER,
                "%s is not a member of %s", wf->email,
                wf->list->fqdn_listname);
    return FALSE;
  }
  if (wf->display_name[0] == '\0' && member->display_name != NULL) {
    g_free(wf->display_name);
    wf->display_name = g_strdup(member->display_name);
  }
  g_autoptr(GPtrArray) waiting =
      mm_store_workflows(store, wf->list->list_id, "unsubscription",
                         wf->email, NULL, mm_commands_now(wf->ctx), &local);
  if (waiting == NULL)
    return mm_commands_error_from(local, error, "Cannot read requests");
  if (waiting->len > 0) {
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_PENDING,
                "%s has an unsubscription request waiting for %s", wf->email,
                wf->list->fqdn_listname);
    return FALSE;
  }
  wf->next = "confirmation_checks";
  return TRUE;
}

static gboolean
unsub_confirmation_checks(Workflow *wf, GError **error)
{
  Policy policy = list_policy(wf->list, "unsubscription_policy");
  if (policy == POLICY_OPEN)
    wf->next = "do_unsubscription";
  else if (policy == POLICY_MODERATE)
    wf->next = "moderation_checks";
  else if (wf->pre_confirmed)
    /* Even for confirm_then_moderate, as in Mailman. */
    wf->next = "do_unsubscription";
  else
    wf->next = "send_confirmation";
  return TRUE;
}

static gboolean
unsub_send_confirmation(Workflow *wf, GError **error)
{
  if (!wait_for(wf, MM_TOKEN_OWNER_SUBSCRIBER, "do_confirm_verify", error))
    return FALSE;
  return mm_commands_notice_confirmation(wf->ctx, wf->list, "unsubscribe",
                                         wf->email, wf->token, error);
}

static gboolean
unsub_do_confirm_verify(Workflow *wf, GError **error)
{
  if (!set_token(wf, MM_TOKEN_OWNER_NO_ONE, error))
    return FALSE;
  /* The member may have gone while we waited: finish quietly. */
  g_autoptr(MmMember) member = mm_store_member_get(
      wf->ctx->store, wf->list->list_id, wf->email, MM_ROLE_MEMBER, NULL);
  if (member == NULL)
    return TRUE;
  Policy policy = list_policy(wf->list, "unsubscription_policy");
  wf->next = policy == POLICY_MODERATE || policy == POLICY_CONFIRM_THEN_MODERATE
                 ? "moderation_checks"
                 : "do_unsubscription";
  return TRUE;
}

static gboolean
unsub_from_restored(Workflow *wf, GError **error)
{
  if (!set_token(wf, MM_TOKEN_OWNER_NO_ONE, error))
    return FALSE;
  wf->next = "do_unsubscription";
  return TRUE;
}

/* Mailman's delete_member(). */
static gboolean
unsub_do_unsubscription(Workflow *wf, GError **error)
{
  MmStore *store = wf->ctx->store;
  const MmList *list = wf->list;
  g_autofree char *language = mm_commands_language_for(wf->ctx, list,
                                                       wf->email);
  g_autoptr(GError) local = NULL;
  if (!mm_store_member_remove(store, list->list_id, wf->email,
                              MM_ROLE_MEMBER, &local)) {
    /* Gone already: nothing to say to anyone. */
    if (g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND))
      return TRUE;
    return mm_commands_error_from(local, error, "Cannot unsubscribe");
  }
  wf->member_changed = TRUE;
  g_autofree char *shown = mm_log_escape(wf->email, -1);
  mm_log_info(MM_COMMANDS_LOG_SUBSCRIBE, "%s: deleted %s",
              list->fqdn_listname, shown);
  if (mm_commands_list_flag(list, "send_goodbye_message", TRUE) &&
      !mm_commands_notice_goodbye(wf->ctx, list, wf->email, language, error))
    return FALSE;
  if (mm_commands_list_flag(list, "admin_notify_mchanges", FALSE) &&
      !mm_commands_notice_admin_change(wf->ctx, list, FALSE, wf->email,
                                       wf->display_name, error))
    return FALSE;
  return TRUE;
}

/* ---- The machine --------------------------------------------------------- */

typedef struct {
  const char *name;
  Step run;
} StepEntry;

static const StepEntry subscription_steps[] = {
    {"sanity_checks", sub_sanity_checks},
    {"verification_checks", sub_verification_checks},
    {"confirmation_checks", sub_confirmation_checks},
    {"moderation_checks", moderation_checks},
    {"get_moderator_approval", get_moderator_approval},
    {"subscribe_from_restored", sub_from_restored},
    {"do_subscription", sub_do_subscription},
    {"send_confirmation", sub_send_confirmation},
    {"send_invitation", sub_send_invitation},
    {"do_confirm_verify", sub_do_confirm_verify},
};

static const StepEntry unsubscription_steps[] = {
    {"subscription_checks", unsub_subscription_checks},
    {"confirmation_checks", unsub_confirmation_checks},
    {"send_confirmation", unsub_send_confirmation},
    {"moderation_checks", moderation_checks},
    {"get_moderator_approval", get_moderator_approval},
    {"do_confirm_verify", unsub_do_confirm_verify},
    {"unsubscribe_from_restored", unsub_from_restored},
    {"do_unsubscription", unsub_do_unsubscription},
};

/* The static name of step @name of @wf's kind, or NULL. */
static const StepEntry *
step_find(gboolean subscription, const char *name)
{
  const StepEntry *steps =
      subscription ? subscription_steps : unsubscription_steps;
  gsize n = subscription ? G_N_ELEMENTS(subscription_steps)
                         : G_N_ELEMENTS(unsubscription_steps);
  for (gsize i = 0; name != NULL && i < n; i++)
    if (g_str_equal(steps[i].name, name))
      return &steps[i];
  return NULL;
}

static gboolean
run(Workflow *wf, GError **error)
{
  /* Every path through either machine is shorter than this; a longer one
   * is a loop in our own tables. */
  guint budget = 16;
  while (wf->next != NULL && !wf->stopped) {
    g_assert(budget-- > 0);
    const StepEntry *step = step_find(wf->subscription, wf->next);
    g_assert(step != NULL);
    wf->next = NULL;
    if (!step->run(wf, error))
      return FALSE;
  }
  return TRUE;
}

/* Runs @wf in one transaction and fills @outcome. */
static gboolean
run_transaction(Workflow *wf, MmWorkflowOutcome *outcome, GError **error)
{
  g_autoptr(GError) local = NULL;
  if (!mm_store_begin(wf->ctx->store, &local))
    return mm_commands_error_from(local, error, "Cannot start a workflow");
  if (!run(wf, error)) {
    mm_store_rollback(wf->ctx->store);
    return FALSE;
  }
  if (!mm_store_commit(wf->ctx->store, &local))
    return mm_commands_error_from(local, error, "Cannot save a workflow");
  if (outcome != NULL) {
    mm_workflow_outcome_clear(outcome);
    outcome->token = g_strdup(wf->token);
    outcome->token_owner = wf->token_owner;
    outcome->member_changed = wf->member_changed;
  }
  return TRUE;
}

static char *
fold_address(const char *email, GError **error)
{
  g_autoptr(GError) local = NULL;
  char *folded = mm_address_fold_email(email != NULL ? email : "", -1, NULL,
                                       NULL, &local);
  if (folded == NULL)
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_INVALID_ADDRESS,
                "Invalid email address: %s", local->message);
  return folded;
}

gboolean
mm_commands_subscription_start(const MmCommandsContext *ctx,
                               const MmList *list, const char *email,
                               const MmSubscribeOptions *options,
                               MmWorkflowOutcome *outcome, GError **error)
{
  g_return_val_if_fail(ctx != NULL && list != NULL, FALSE);
  static const MmSubscribeOptions defaults = {0};
  if (options == NULL)
    options = &defaults;
  Workflow wf = {.ctx = ctx, .list = list, .subscription = TRUE};
  wf.email = fold_address(email, error);
  if (wf.email == NULL)
    return FALSE;
  wf.original = g_strstrip(g_strdup(email));
  const char *name = options->display_name;
  if (name == NULL || !g_utf8_validate(name, -1, NULL) ||
      strpbrk(name, "\r\n") != NULL)
    name = "";
  wf.display_name = g_strdup(name);
  /* An invitation is pre-everything (Mailman). */
  wf.invitation = options->invitation;
  wf.pre_verified = options->invitation || options->pre_verified;
  wf.pre_confirmed = options->invitation || options->pre_confirmed;
  wf.pre_approved = options->invitation || options->pre_approved;
  wf.send_welcome_message = options->send_welcome_message;
  wf.delivery_mode = options->delivery_mode;
  wf.delivery_status = options->delivery_status;
  wf.next = "sanity_checks";
  gboolean ok = run_transaction(&wf, outcome, error);
  workflow_clear(&wf);
  return ok;
}

gboolean
mm_commands_unsubscription_start(const MmCommandsContext *ctx,
                                 const MmList *list, const char *email,
                                 gboolean pre_confirmed, gboolean pre_approved,
                                 MmWorkflowOutcome *outcome, GError **error)
{
  g_return_val_if_fail(ctx != NULL && list != NULL, FALSE);
  Workflow wf = {.ctx = ctx, .list = list, .subscription = FALSE};
  wf.email = fold_address(email, error);
  if (wf.email == NULL) {
    /* Not an address can be no member either. */
    g_clear_error(error);
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_NOT_MEMBER,
                "%s is not a member of %s", email != NULL ? email : "",
                list->fqdn_listname);
    return FALSE;
  }
  wf.display_name = g_strdup("");
  wf.pre_confirmed = pre_confirmed;
  wf.pre_approved = pre_approved;
  wf.next = "subscription_checks";
  gboolean ok = run_transaction(&wf, outcome, error);
  workflow_clear(&wf);
  return ok;
}

gboolean
mm_commands_token_expired(const MmCommandsContext *ctx, const char *token)
{
  g_autoptr(MmWorkflowState) state =
      mm_store_workflow_get(ctx->store, token, G_MININT64, NULL);
  return state != NULL && state->expires_at < mm_commands_now(ctx);
}

/* Inside a transaction: the workflow waiting on @token of @list. */
static MmWorkflowState *
find_waiting(const MmCommandsContext *ctx, const MmList *list,
             const char *token, GError **error)
{
  g_autoptr(GError) local = NULL;
  MmWorkflowState *state = mm_store_workflow_get(
      ctx->store, token, mm_commands_now(ctx), &local);
  if (state == NULL) {
    if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND)) {
      mm_commands_error_from(local, error, "Cannot read the request");
      return NULL;
    }
    if (mm_commands_token_expired(ctx, token))
      g_set_error_literal(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_EXPIRED,
                          "The confirmation token has expired");
    else
      g_set_error_literal(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_NO_TOKEN,
                          "No request is waiting on this token");
    return NULL;
  }
  if (g_ascii_strcasecmp(state->list_id, list->list_id) != 0) {
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_WRONG_LIST,
                "The token belongs to another list than %s",
                list->fqdn_listname);
    mm_workflow_state_free(state);
    return NULL;
  }
  return state;
}

gboolean
mm_commands_workflow_confirm(const MmCommandsContext *ctx, const MmList *list,
                             const char *token, MmWorkflowOutcome *outcome,
                             GError **error)
{
  g_return_val_if_fail(ctx != NULL && list != NULL, FALSE);
  g_autoptr(GError) local = NULL;
  /* The read and everything after it are one write transaction, so two
   * processes confirming one token cannot both act on it. */
  if (!mm_store_begin(ctx->store, &local))
    return mm_commands_error_from(local, error, "Cannot confirm");
  g_autoptr(MmWorkflowState) state = find_waiting(ctx, list, token, error);
  Workflow wf = {.ctx = ctx, .list = list};
  gboolean ok = state != NULL;
  if (ok) {
    const StepEntry *step = restore(&wf, state)
                                ? step_find(wf.subscription, state->step)
                                : NULL;
    if (step != NULL) {
      wf.next = step->name;
    } else {
      /* A row we cannot read is as good as none. */
      g_set_error_literal(error, MM_COMMANDS_ERROR,
                          MM_COMMANDS_ERROR_NO_TOKEN,
                          "No request is waiting on this token");
      ok = FALSE;
    }
  }
  ok = ok && run(&wf, error);
  if (!ok) {
    mm_store_rollback(ctx->store);
    workflow_clear(&wf);
    return FALSE;
  }
  if (!mm_store_commit(ctx->store, &local)) {
    workflow_clear(&wf);
    return mm_commands_error_from(local, error, "Cannot confirm");
  }
  if (outcome != NULL) {
    mm_workflow_outcome_clear(outcome);
    outcome->token = g_strdup(wf.token);
    outcome->token_owner = wf.token_owner;
    outcome->member_changed = wf.member_changed;
  }
  workflow_clear(&wf);
  return TRUE;
}

gboolean
mm_commands_request_decide(const MmCommandsContext *ctx, const MmList *list,
                           const char *token, MmAction action,
                           const char *reason, GError **error)
{
  g_return_val_if_fail(ctx != NULL && list != NULL, FALSE);
  if (action == MM_ACTION_ACCEPT)
    return mm_commands_workflow_confirm(ctx, list, token, NULL, error);
  if (action != MM_ACTION_REJECT && action != MM_ACTION_DISCARD &&
      action != MM_ACTION_DEFER && action != MM_ACTION_HOLD) {
    g_set_error(error, MM_COMMANDS_ERROR, MM_COMMANDS_ERROR_INVALID,
                "Not an action on a request: %d", (int)action);
    return FALSE;
  }
  g_autoptr(GError) local = NULL;
  if (!mm_store_begin(ctx->store, &local))
    return mm_commands_error_from(local, error, "Cannot decide");
  g_autoptr(MmWorkflowState) state = find_waiting(ctx, list, token, error);
  gboolean ok = state != NULL;
  if (ok && (action == MM_ACTION_REJECT || action == MM_ACTION_DISCARD)) {
    /* The pending goes and its workflow with it. */
    ok = mm_store_pending_delete(ctx->store, token, &local);
    if (!ok)
      mm_commands_error_from(local, error, "Cannot drop the request");
    if (ok && action == MM_ACTION_REJECT)
      ok = mm_commands_notice_refuse(
          ctx, list, g_str_equal(state->workflow, "subscription"),
          state->email, reason, error);
  }
  if (!ok) {
    mm_store_rollback(ctx->store);
    return FALSE;
  }
  if (!mm_store_commit(ctx->store, &local))
    return mm_commands_error_from(local, error, "Cannot decide");
  if (action == MM_ACTION_REJECT || action == MM_ACTION_DISCARD) {
    g_autofree char *shown = mm_log_escape(state->email, -1);
    mm_log_info(MM_COMMANDS_LOG_SUBSCRIBE, "%s: %s %s request from %s",
                list->fqdn_listname,
                action == MM_ACTION_REJECT ? "rejected" : "discarded",
                state->workflow, shown);
  }
  return TRUE;
}

GPtrArray *
mm_commands_requests(const MmCommandsContext *ctx, const MmList *list,
                     const char *token_owner, GError **error)
{
  g_autoptr(GError) local = NULL;
  GPtrArray *states =
      mm_store_workflows(ctx->store, list->list_id, NULL, NULL, token_owner,
                         mm_commands_now(ctx), &local);
  if (states == NULL)
    mm_commands_error_from(local, error, "Cannot read requests");
  return states;
}

gint64
mm_commands_requests_evict(const MmCommandsContext *ctx, GError **error)
{
  g_autoptr(GError) local = NULL;
  gint64 count =
      mm_store_workflow_evict(ctx->store, mm_commands_now(ctx), &local);
  if (count < 0)
    mm_commands_error_from(local, error, "Cannot evict requests");
  return count;
}

gboolean
mm_commands_held_token(const MmCommandsContext *ctx, const char *token,
                       gint64 *request_id_out, char **list_id_out,
                       GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GHashTable) values =
      mm_store_pending_get(ctx->store, token, FALSE, &local);
  if (values == NULL) {
    if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND))
      mm_commands_error_from(local, error, "Cannot read the token");
    return FALSE;
  }
  const char *type = g_hash_table_lookup(values, "type");
  if (type == NULL || !g_str_equal(type, "held message"))
    return FALSE;
  const char *id_text = g_hash_table_lookup(values, "id");
  const char *list_text = g_hash_table_lookup(values, "list_id");
  g_autoptr(MmJson) id = id_text != NULL
                             ? json_loads(id_text, JSON_DECODE_ANY, NULL)
                             : NULL;
  g_autoptr(MmJson) list_id =
      list_text != NULL ? json_loads(list_text, JSON_DECODE_ANY, NULL) : NULL;
  gint64 request_id = 0;
  if (json_is_integer(id))
    request_id = json_integer_value(id);
  else if (json_is_string(id))
    g_ascii_string_to_signed(json_string_value(id), 10, 1, G_MAXINT64,
                             &request_id, NULL);
  if (request_id <= 0 || !json_is_string(list_id))
    return FALSE;
  *request_id_out = request_id;
  *list_id_out = g_strdup(json_string_value(list_id));
  return TRUE;
}
