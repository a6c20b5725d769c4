/* The bounces runner: every message to a list's -bounces address, and every
 * report of permanent SMTP refusals from the delivery engine (Mailman's
 * BounceRunner, runners/bounce.py, and the register() calls of
 * runners/outgoing.py).
 *
 * An entry is one of:
 *   - a delivery report: metadata "smtp": true with "bounce_events", a list
 *     of {"email", "code" (or "smtp_code"), "message", "context",
 *     "probe_token"} written by the delivery engine; each is an event, a
 *     probe's (its token resolved to the member, as Mailman's outgoing
 *     runner does) or a normal one, and the short report the engine wrote
 *     is the message kept for the notices; nothing is parsed;
 *   - a message from the MTA: mm_bounce_decide() (VERP, then probe tokens,
 *     then the detector chain) says what it is, and this file acts on it,
 *     logging to "bounce" with Mailman's lines:
 *       REGISTER      one bounce event per address;
 *       TEMPORARY     nothing (Mailman ignores temporary failures);
 *       UNRECOGNIZED  "VERPed bounce message but not a recognized DSN" or
 *                     "Bounce message w/no discernable addresses", then
 *                     mm_bounce_forward_unrecognized() (owners, site owner
 *                     or "Discarding unrecognized bounce");
 *       AUTO_REPLY    Mailman's line for an unrecognised message, then
 *                     dropped with a line saying so.
 * With process_bounces off, Mailman drops the message unread; as the
 * issue asks, we still record the events (scoring marks them processed
 * without acting) and forward nothing.
 *
 * Scoring (mm_bounce_process_events and mm_bounce_process_warnings) runs
 * after every entry, as Mailman's runner calls _do_periodic after each
 * file, and at every pass through mm_runner_bounces_periodic() when the
 * loop calls it.  A scoring failure is logged and does not fail the
 * entry: its events are recorded and wait for the next run.
 *
 * The clock is mm_bounce_clock_runner(): the system clock, or
 * MAILMAN_TEST_NOW in tests (test only; see bounce.h).
 *
 * Failure handling: events and notices are written durably before the
 * entry is finished.  A busy database keeps the entry for a retry, any
 * other failure shunts it (nothing is lost); a retry may record an event
 * twice, which scoring absorbs (one score per member and day).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner-private.h"

#include <string.h>

#include "base-error.h"
#include "base-log.h"
#include "bounce.h"
#include "message.h"

#define BOUNCE_LOG "bounce"

/* The Message-ID as Mailman logs it (msg.get('message-id', 'n/a')),
 * escaped for the log. */
static char *
message_id_for_log(GBytes *raw, char **raw_id_out)
{
  g_autofree char *value = NULL;

  if (!mm_message_header_get(raw, "Message-ID", &value) || value == NULL) {
    *raw_id_out = NULL;
    return g_strdup("n/a");
  }
  *raw_id_out = g_strdup(value);
  return mm_log_escape(value, -1);
}

/* The local part of the list's bounces address ("test-bounces"). */
static char *
bounces_local_of(const MmList *list)
{
  const char *address = mm_list_setting(list, "bounces_address");
  const char *at = address ? strrchr(address, '@') : NULL;

  if (at != NULL && at != address)
    return g_strndup(address, (gsize)(at - address));
  return g_strconcat(list->list_name, "-bounces", NULL);
}

static gboolean
list_flag(const MmList *list, const char *name, gboolean fallback)
{
  const char *text = mm_list_setting(list, name);
  gboolean value = fallback;

  if (text == NULL || !mm_config_parse_bool(text, &value))
    return fallback;
  return value;
}

/* A busy database is worth a retry; anything else shunts. */
static MmRunnerResult
failed(GError **error)
{
  if (error != NULL &&
      g_error_matches(*error, MM_STORE_ERROR, MM_STORE_ERROR_BUSY))
    return MM_RUNNER_KEEP;
  return MM_RUNNER_SHUNT;
}

static gboolean
record_event(MmRunnerContext *ctx, MmStore *store, const MmList *list,
             const char *email, MmBounceContext context, GBytes *raw,
             const char *raw_id, const char *why, GError **error)
{
  MmBounceEvent event = {
      .list_id = list->list_id,
      .email = (char *)email,
      .timestamp_usec = mm_bounce_clock_runner(NULL),
      .message_id = (char *)raw_id,
      .context = context,
  };
  if (!mm_bounce_event_record(store,
                              mm_config_path(ctx->config, "messages_dir"),
                              &event, raw, error))
    return FALSE;
  g_autofree char *email_log = mm_log_escape(email, -1);
  mm_log_debug(BOUNCE_LOG, "Bounce event for %s on list %s (%s%s)", email_log,
               list->list_id, why,
               context == MM_BOUNCE_CONTEXT_PROBE ? ", probe" : "");
  return TRUE;
}

/* ---- probe tokens -------------------------------------------------------- */

typedef struct {
  MmStore *store;
  const MmList *list;
  GError *error; /* the first database failure */
} ProbeLookup;

static char *
resolve_probe(const char *token, gpointer data)
{
  ProbeLookup *lookup = data;
  if (lookup->error != NULL)
    return NULL;
  return mm_bounce_probe_resolve(lookup->store, lookup->list, token,
                                 &lookup->error);
}

/* ---- the delivery engine's reports --------------------------------------- */

/* Mailman's outgoing runner registers each permanent failure, and for a
 * probe the member its token names. */
static gboolean
record_smtp_events(MmRunnerContext *ctx, MmStore *store, const MmList *list,
                   json_t *events, GBytes *raw, const char *raw_id,
                   GError **error)
{
  size_t i;
  json_t *item;
  json_array_foreach(events, i, item) {
    const char *email = json_string_value(json_object_get(item, "email"));
    const char *context = json_string_value(json_object_get(item, "context"));
    const char *token =
        json_string_value(json_object_get(item, "probe_token"));
    json_t *code = json_object_get(item, "code");
    if (code == NULL)
      code = json_object_get(item, "smtp_code");
    if (email == NULL || *email == '\0') {
      mm_log_error(BOUNCE_LOG, "SMTP bounce report %s for %s names no "
                               "address; ignored",
                   raw_id ? raw_id : "n/a", list->list_id);
      continue;
    }
    g_autofree char *email_log = mm_log_escape(email, -1);

    if (token != NULL ||
        (context != NULL && g_str_equal(context, "probe"))) {
      if (token == NULL)
        continue;
      g_autofree char *member =
          mm_bounce_probe_resolve(store, list, token, error);
      if (member == NULL) {
        if (error != NULL && *error != NULL)
          return FALSE;
        /* Mailman: "It's possible the token has been confirmed out of the
         * database.  Just ignore that." */
        mm_log_info(BOUNCE_LOG,
                    "SMTP refusal of a probe to %s on list %s: the probe "
                    "token is unknown or used; ignored",
                    email_log, list->list_id);
        continue;
      }
      if (!record_event(ctx, store, list, member, MM_BOUNCE_CONTEXT_PROBE,
                        raw, raw_id, "smtp", error))
        return FALSE;
      continue;
    }
    mm_log_info(BOUNCE_LOG, "SMTP refusal %" JSON_INTEGER_FORMAT
                            " for %s on list %s recorded as a bounce",
                json_integer_value(code), email_log, list->list_id);
    if (!record_event(ctx, store, list, email, MM_BOUNCE_CONTEXT_NORMAL, raw,
                      raw_id, "smtp", error))
      return FALSE;
  }
  return TRUE;
}

/* ---- scoring --------------------------------------------------------------- */

gboolean
mm_runner_bounces_periodic(MmRunnerContext *ctx, GError **error)
{
  MmStore *store = mm_runner_store(ctx, error);
  if (store == NULL)
    return FALSE;
  MmBounceProcessor processor = {
      .config = ctx->config,
      .store = store,
      .clock = mm_bounce_clock_runner,
  };
  guint n = 0;
  if (!mm_bounce_process_events(&processor, &n, error))
    return FALSE;
  return mm_bounce_process_warnings(&processor, error);
}

static void
score_now(MmRunnerContext *ctx)
{
  g_autoptr(GError) error = NULL;
  if (!mm_runner_bounces_periodic(ctx, &error))
    mm_log_error("error", "runner %s: bounce scoring: %s", ctx->name,
                 error->message);
}

/* ---- the handler ------------------------------------------------------------ */

static MmRunnerResult
handle_message(MmRunnerContext *ctx, MmStore *store, const MmList *list,
               GBytes *raw, const char *raw_id, const char *msgid_log,
               GError **error)
{
  gboolean process = list_flag(list, "process_bounces", TRUE);

  g_autoptr(GError) verp_error = NULL;
  g_autoptr(MmBounceVerp) verp = mm_bounce_verp_new(
      mm_config_get(ctx->config, "mta", "verp_regexp"),
      mm_config_get(ctx->config, "mta", "verp_probe_regexp"), &verp_error);
  if (verp == NULL)
    mm_log_error("error", "Bad VERP pattern: %s", verp_error->message);

  g_autofree char *bounces_local = bounces_local_of(list);
  g_autoptr(MmBounceMessage) message = mm_bounce_message_parse(raw);
  ProbeLookup lookup = {.store = store, .list = list};
  g_autoptr(MmBounceVerdict) verdict = mm_bounce_decide(
      verp, message, bounces_local, resolve_probe, &lookup);
  if (lookup.error != NULL) {
    g_propagate_error(error, lookup.error);
    return failed(error);
  }

  switch (verdict->kind) {
  case MM_BOUNCE_VERDICT_REGISTER:
    for (guint i = 0; i < verdict->addresses->len; i++)
      if (!record_event(ctx, store, list, verdict->addresses->pdata[i],
                        verdict->context, raw, raw_id,
                        verdict->detector ? verdict->detector : "?", error))
        return failed(error);
    break;
  case MM_BOUNCE_VERDICT_TEMPORARY:
    break;
  case MM_BOUNCE_VERDICT_UNRECOGNIZED:
  case MM_BOUNCE_VERDICT_AUTO_REPLY: {
    if (!process) {
      mm_log_debug(BOUNCE_LOG, "Not forwarding %s: list %s does not process "
                   "bounces", msgid_log, list->list_id);
      break;
    }
    if (verdict->verp)
      mm_log_info(BOUNCE_LOG,
                  "VERPed bounce message but not a recognized DSN: %s",
                  msgid_log);
    else
      mm_log_info(BOUNCE_LOG, "Bounce message w/no discernable addresses: %s",
                  msgid_log);
    if (verdict->kind == MM_BOUNCE_VERDICT_AUTO_REPLY) {
      mm_log_info(BOUNCE_LOG, "Auto-reply, not a bounce, discarded: %s",
                  msgid_log);
      break;
    }
    gboolean discarded = FALSE;
    if (!mm_bounce_forward_unrecognized(ctx->config, store, list, raw,
                                        &discarded, error))
      return failed(error);
    if (discarded)
      mm_log_error(BOUNCE_LOG, "Discarding unrecognized bounce: %s",
                   msgid_log);
    break;
  }
  }
  return MM_RUNNER_FINISH;
}

MmRunnerResult
mm_runner_handle_bounces(MmRunnerContext *ctx, MmQueueEntry *entry,
                         GError **error)
{
  GBytes *raw = mm_queue_entry_message(entry);
  json_t *meta = mm_queue_entry_meta(entry);
  const char *list_id = json_string_value(json_object_get(meta, "listid"));
  g_autofree char *raw_id = NULL;
  g_autofree char *msgid_log = message_id_for_log(raw, &raw_id);

  MmStore *store = mm_runner_store(ctx, error);
  if (store == NULL)
    return MM_RUNNER_SHUNT;
  g_autoptr(GError) list_error = NULL;
  g_autoptr(MmList) list =
      list_id ? mm_store_list_get(store, list_id, &list_error) : NULL;
  if (list == NULL) {
    if (list_error != NULL &&
        !g_error_matches(list_error, MM_STORE_ERROR,
                         MM_STORE_ERROR_NOT_FOUND) &&
        !g_error_matches(list_error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID)) {
      g_propagate_error(error, g_steal_pointer(&list_error));
      return failed(error);
    }
    /* Mailman's core runner does the same for every queue. */
    g_autofree char *id_log = mm_log_escape(list_id ? list_id : "None", -1);
    mm_log_error("error", "%s runner \"%s\" shunting message for missing "
                 "list: %s", msgid_log, ctx->name, id_log);
    g_set_error(error, MM_ERROR, MM_ERROR_NOT_FOUND, "no such list: %s",
                id_log);
    return MM_RUNNER_SHUNT;
  }

  MmRunnerResult result;
  json_t *events = json_object_get(meta, "bounce_events");
  if (json_is_true(json_object_get(meta, "smtp")) && json_is_array(events)) {
    result = record_smtp_events(ctx, store, list, events, raw, raw_id, error)
                 ? MM_RUNNER_FINISH
                 : failed(error);
  } else {
    result = handle_message(ctx, store, list, raw, raw_id, msgid_log, error);
  }
  if (result == MM_RUNNER_FINISH)
    score_now(ctx);
  return result;
}
