/* Held messages: holding a post and a moderator's decisions on it
 * (Mailman's mailman/app/moderator.py hold_message() and
 * handle_message(), and the moderation part of the task runner).
 *
 * A held message is three records: the post in the message store (keyed
 * by Message-ID), a held-message request whose data (a "data" pending,
 * alive for moderator_request_life) is the post's metadata plus
 * Mailman's _mod_* keys, and the "held message" token of the notices
 * (alive for pending_request_life).  Request data values are JSON, as in
 * Mailman's pendedkeyvalue (where Mailman pickles non-strings, we store
 * their JSON).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "chains-private.h"

#include <string.h>

#include "message.h"

static char *
json_text(json_t *value)
{
  return json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
}

static char *
json_text_string(const char *text)
{
  g_autoptr(MmJson) value = json_string(text);
  if (value == NULL) {
    g_autofree char *valid = g_utf8_make_valid(text, -1);
    value = json_string(valid);
  }
  return json_text(value);
}

/* The string held in JSON text @text, or NULL when it is not one.
 * Transfer full. */
static char *
json_text_to_string(const char *text)
{
  if (text == NULL)
    return NULL;
  g_autoptr(MmJson) value = json_loads(text, JSON_DECODE_ANY, NULL);
  if (!json_is_string(value))
    return NULL;
  return g_strdup(json_string_value(value));
}

static gint64
config_seconds(const MmConfig *config, const char *key, gint64 fallback)
{
  const char *text = mm_config_get(config, "mailman", key);
  gint64 usec;
  if (text == NULL || !mm_config_parse_duration_usec(text, &usec))
    return fallback;
  return usec / G_USEC_PER_SEC;
}

gboolean
mm_chains_can_acknowledge(MmPost *post)
{
  GMimeMessage *message = mm_rules_post_mime(post);
  /* Mailman compares the names as written: only lower-case "x-no-ack"
   * and "precedence" count (a quirk kept for identical answers); any
   * List-* field counts in any case.  The names come from GMime's parse,
   * which keeps them as written. */
  if (message != NULL) {
    GMimeHeaderList *headers =
        g_mime_object_get_header_list(GMIME_OBJECT(message));
    int n = g_mime_header_list_get_count(headers);
    for (int i = 0; i < n; i++) {
      const char *name =
          g_mime_header_get_name(g_mime_header_list_get_header_at(headers, i));
      if (strcmp(name, "x-no-ack") == 0 || strcmp(name, "precedence") == 0 ||
          g_ascii_strncasecmp(name, "list-", 5) == 0)
        return FALSE;
    }
  }
  g_autofree char *ack = mm_rules_post_header(post, "X-Ack");
  if (ack != NULL && g_ascii_strcasecmp(ack, "no") == 0)
    return FALSE;
  g_autofree char *auto_submitted = mm_rules_post_header(post, "Auto-Submitted");
  if (auto_submitted != NULL && g_ascii_strcasecmp(auto_submitted, "no") != 0)
    return FALSE;
  g_autofree char *return_path = mm_rules_post_header(post, "Return-Path");
  if (g_strcmp0(return_path, "<>") == 0)
    return FALSE;
  return TRUE;
}

gint64
mm_chains_hold_message(MmPost *post, const char *reason,
                       gboolean *existing_out, GError **error)
{
  const MmList *list = post->list;
  if (existing_out != NULL)
    *existing_out = FALSE;
  g_autofree char *message_id = mm_rules_post_header(post, "Message-ID");
  if (message_id == NULL || message_id[0] == '\0') {
    g_clear_pointer(&message_id, g_free);
    message_id = mm_message_id_new(list->mail_host, NULL);
    mm_rules_post_header_append(post, "Message-ID", message_id);
  }

  g_autoptr(GError) local = NULL;
  gint64 existing = mm_store_request_find(post->store, list->list_id,
                                          MM_REQUEST_HELD_MESSAGE, message_id,
                                          &local);
  if (existing < 0) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot read held requests: %s", local->message);
    return 0;
  }
  if (existing > 0) {
    if (existing_out != NULL)
      *existing_out = TRUE;
    return existing;
  }

  g_autofree char *hash = mm_message_id_hash(message_id);
  const char *messages_dir = mm_config_path(post->config, "messages_dir");
  if (!mm_store_message_add(post->store, messages_dir, message_id, hash,
                            mm_rules_post_message(post), NULL, &local)) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot store the held message: %s", local->message);
    return 0;
  }

  /* A copy of the metadata, so later changes do not reach the request. */
  g_autoptr(GHashTable) data =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  const char *key;
  json_t *value;
  json_object_foreach(post->meta, key, value)
  {
    if (key[0] != '_')
      g_hash_table_replace(data, g_strdup(key), json_text(value));
  }
  g_autofree char *subject = mm_rules_post_header(post, "Subject");
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *hold_date = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%f");
  g_hash_table_replace(data, g_strdup("_mod_message_id"),
                       json_text_string(message_id));
  g_hash_table_replace(data, g_strdup("_mod_listid"),
                       json_text_string(list->list_id));
  g_hash_table_replace(data, g_strdup("_mod_sender"),
                       json_text_string(mm_rules_post_sender(post)));
  g_hash_table_replace(data, g_strdup("_mod_subject"),
                       json_text_string(subject != NULL ? subject
                                                        : "(no subject)"));
  g_hash_table_replace(data, g_strdup("_mod_reason"),
                       json_text_string(reason != NULL ? reason : ""));
  g_hash_table_replace(data, g_strdup("_mod_hold_date"),
                       json_text_string(hold_date));

  gint64 id = mm_store_request_add(
      post->store, list->list_id, MM_REQUEST_HELD_MESSAGE, message_id, data,
      config_seconds(post->config, "moderator_request_life", 180 * 86400),
      &local);
  if (id == 0)
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot hold the request: %s", local->message);
  return id;
}

/* ---- Listing ------------------------------------------------------------ */

void
mm_held_message_free(MmHeldMessage *held)
{
  if (held == NULL)
    return;
  g_free(held->message_id);
  g_free(held->sender);
  g_free(held->subject);
  g_free(held->reason);
  g_free(held->hold_date);
  g_free(held);
}

static char *
data_string(GHashTable *data, const char *key)
{
  char *value = json_text_to_string(g_hash_table_lookup(data, key));
  return value != NULL ? value : g_strdup("");
}

static MmHeldMessage *
held_from_request(const MmRequest *request)
{
  MmHeldMessage *held = g_new0(MmHeldMessage, 1);
  held->id = request->id;
  held->message_id = data_string(request->data, "_mod_message_id");
  if (held->message_id[0] == '\0') {
    g_free(held->message_id);
    held->message_id = g_strdup(request->key);
  }
  held->sender = data_string(request->data, "_mod_sender");
  held->subject = data_string(request->data, "_mod_subject");
  held->reason = data_string(request->data, "_mod_reason");
  held->hold_date = data_string(request->data, "_mod_hold_date");
  return held;
}

GPtrArray *
mm_chains_held_messages(MmStore *store, const MmList *list, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GPtrArray) requests = mm_store_requests(
      store, list->list_id, MM_REQUEST_HELD_MESSAGE, &local);
  if (requests == NULL) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot read the held messages of %s: %s", list->list_id,
                local->message);
    return NULL;
  }
  GPtrArray *held =
      g_ptr_array_new_with_free_func((GDestroyNotify)mm_held_message_free);
  for (guint i = 0; i < requests->len; i++)
    g_ptr_array_add(held, held_from_request(requests->pdata[i]));
  return held;
}

static MmRequest *
held_request(MmStore *store, const MmList *list, gint64 request_id,
             GError **error)
{
  g_autoptr(GError) local = NULL;
  MmRequest *request =
      mm_store_request_get(store, list->list_id, request_id, &local);
  if (request == NULL) {
    gboolean missing =
        g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
    g_set_error(error, MM_CHAINS_ERROR,
                missing ? MM_CHAINS_ERROR_NOT_FOUND : MM_CHAINS_ERROR_FAILED,
                "%s", local->message);
    return NULL;
  }
  if (request->type != MM_REQUEST_HELD_MESSAGE) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_NOT_FOUND,
                "Request %" G_GINT64_FORMAT " of %s is not a held message",
                request_id, list->list_id);
    mm_request_free(request);
    return NULL;
  }
  return request;
}

MmHeldMessage *
mm_chains_held_message_get(MmStore *store, const MmList *list,
                           gint64 request_id, GError **error)
{
  g_autoptr(MmRequest) request = held_request(store, list, request_id, error);
  return request != NULL ? held_from_request(request) : NULL;
}

GBytes *
mm_chains_held_message_bytes(const MmConfig *config, MmStore *store,
                             const MmList *list, gint64 request_id,
                             GError **error)
{
  g_autoptr(MmHeldMessage) held =
      mm_chains_held_message_get(store, list, request_id, error);
  if (held == NULL)
    return NULL;
  g_autoptr(GError) local = NULL;
  GBytes *bytes = mm_store_message_get(
      store, mm_config_path(config, "messages_dir"), held->message_id, &local);
  if (bytes == NULL) {
    gboolean missing =
        g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
    g_set_error(error, MM_CHAINS_ERROR,
                missing ? MM_CHAINS_ERROR_NOT_FOUND : MM_CHAINS_ERROR_FAILED,
                "%s", local->message);
  }
  return bytes;
}

/* ---- Decisions ------------------------------------------------------------ */

/* Mailman's _lost_message(): a stand-in for a post whose stored copy has
 * gone (cross-posted and handled on another list). */
static GBytes *
lost_message(const MmList *list, const char *subject, const char *sender,
             const char *message_id)
{
  MmNotice notice = {
      .list = list,
      .from = sender,
      .to = mm_list_setting(list, "posting_address"),
      .subject = subject,
      .text = "The content of this message was lost.  It was probably "
              "cross-posted to several lists and handled on another list "
              "before.\n"};
  g_autoptr(GBytes) rendered = mm_notice_message(&notice, NULL);
  if (rendered == NULL)
    return NULL;
  g_autoptr(MmPost) post = mm_rules_post_new(NULL, NULL, list, rendered, NULL);
  mm_rules_post_header_remove(post, "Message-ID");
  mm_rules_post_header_append(post, "Message-ID", message_id);
  return g_bytes_ref(mm_rules_post_message(post));
}

static gboolean
accept_held(const MmConfig *config, MmStore *store, const MmList *list,
            const MmRequest *request, const MmHeldMessage *held,
            GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GBytes) bytes = mm_store_message_get(
      store, mm_config_path(config, "messages_dir"), held->message_id, &local);
  if (bytes == NULL) {
    if (!g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND)) {
      g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                  "Cannot read the held message: %s", local->message);
      return FALSE;
    }
    bytes = lost_message(list, held->subject, held->sender, held->message_id);
  }

  /* The metadata the post was held with, without the moderation keys. */
  g_autoptr(MmJson) meta = json_object();
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init(&iter, request->data);
  while (g_hash_table_iter_next(&iter, &key, &value)) {
    if (g_str_has_prefix(key, "_mod_") || strcmp(key, "type") == 0 ||
        ((const char *)key)[0] == '_')
      continue;
    json_t *decoded = json_loads(value, JSON_DECODE_ANY, NULL);
    if (decoded != NULL)
      json_object_set_new(meta, key, decoded);
  }
  json_object_set_new(meta, "approved", json_true());
  json_object_set_new(meta, "moderator_approved", json_true());
  json_object_set_new(meta, "listid", json_string(list->list_id));

  g_autoptr(MmPost) post = mm_rules_post_new(config, store, list, bytes, meta);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *date = g_date_time_format(now, "%a, %d %b %Y %H:%M:%S %z");
  mm_rules_post_header_append(post, "X-Mailman-Approved-At", date);
  if (!mm_chains_enqueue(config, "pipeline", mm_rules_post_message(post),
                         post->meta, error))
    return FALSE;
  mm_log_info("vette", "held message approved, message-id: %s",
              mm_rules_post_message_id(post));
  return TRUE;
}

static gboolean
refuse_held(const MmConfig *config, MmStore *store, const MmList *list,
            const MmHeldMessage *held, const char *comment, GError **error)
{
  if (held->sender[0] == '\0')
    return TRUE;
  g_autofree char *language =
      mm_chains_language_for(store, list, held->sender);
  g_autofree char *subject_line = g_strdelimit(g_strdup(held->subject), "\r\n",
                                               ' ');
  g_autofree char *request_text =
      g_strdup_printf("Posting of your message titled \"%s\"", subject_line);
  g_autoptr(GHashTable) vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, NULL);
  g_hash_table_insert(vars, "reason",
                      (gpointer)(comment != NULL && comment[0] != '\0'
                                     ? comment
                                     : "[No reason given]"));
  g_hash_table_insert(vars, "request", request_text);
  g_hash_table_insert(vars, "adminaddr",
                      (gpointer)mm_list_setting(list, "owner_address"));
  g_autofree char *text = mm_chains_template(
      config, list, "list:user:notice:refuse", language, vars);
  g_autofree char *wrapped = mm_notice_wrap(text, 70);
  g_autofree char *subject = g_strdup_printf(
      "Request to mailing list \"%s\" rejected", list->display_name);
  const char *recipients[] = {held->sender, NULL};
  MmNotice notice = {.list = list,
                     .recipients = recipients,
                     .from = mm_list_setting(list, "bounces_address"),
                     .to = held->sender,
                     .subject = subject,
                     .text = wrapped};
  return mm_chains_notice_send(config, &notice, error);
}

/* Deletes the request, the poster's token and, when no other request
 * refers to it, the stored message.  Inside the caller's transaction. */
static gboolean
forget_held(const MmConfig *config, MmStore *store, const MmList *list,
            const MmHeldMessage *held, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree char *list_json = json_text_string(list->list_id);
  g_autoptr(GPtrArray) tokens = mm_store_pending_find(
      store, "held message", "list_id", list_json, &local);
  gboolean ok = tokens != NULL;
  g_autofree char *id_text = g_strdup_printf("%" G_GINT64_FORMAT, held->id);
  for (guint i = 0; ok && i < tokens->len; i++) {
    g_autoptr(GHashTable) values =
        mm_store_pending_get(store, tokens->pdata[i], FALSE, NULL);
    if (values != NULL &&
        g_strcmp0(g_hash_table_lookup(values, "id"), id_text) == 0)
      ok = mm_store_pending_delete(store, tokens->pdata[i], &local);
  }
  if (ok)
    ok = mm_store_request_delete(store, held->id, &local);
  if (ok) {
    g_autofree char *message_json = json_text_string(held->message_id);
    g_autoptr(GPtrArray) others = mm_store_pending_find(
        store, "data", "_mod_message_id", message_json, &local);
    ok = others != NULL;
    if (ok && others->len == 0)
      ok = mm_store_message_delete(
          store, mm_config_path(config, "messages_dir"), held->message_id,
          &local);
  }
  if (!ok)
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot delete held request %" G_GINT64_FORMAT ": %s",
                held->id, local != NULL ? local->message : "unknown error");
  return ok;
}

gboolean
mm_chains_moderate(const MmConfig *config, MmStore *store, const MmList *list,
                   gint64 request_id, MmAction action, const char *comment,
                   GError **error)
{
  if (action == MM_ACTION_DEFER || action == MM_ACTION_HOLD) {
    /* Nothing to do but make sure there is such a request. */
    g_autoptr(MmRequest) request =
        held_request(store, list, request_id, error);
    return request != NULL;
  }
  if (action != MM_ACTION_ACCEPT && action != MM_ACTION_REJECT &&
      action != MM_ACTION_DISCARD) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_INVALID,
                "Invalid moderation action %d", (int)action);
    return FALSE;
  }

  g_autoptr(GError) local = NULL;
  if (!mm_store_begin(store, &local)) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED, "%s",
                local->message);
    return FALSE;
  }
  /* Read under the write lock: two moderators deciding at once must not
   * both accept. */
  g_autoptr(MmRequest) request = held_request(store, list, request_id, error);
  gboolean ok = request != NULL;
  g_autoptr(MmHeldMessage) held = ok ? held_from_request(request) : NULL;
  const char *rejection = NULL;
  if (ok) {
    switch (action) {
    case MM_ACTION_ACCEPT:
      ok = accept_held(config, store, list, request, held, error);
      break;
    case MM_ACTION_REJECT:
      rejection = "Refused";
      ok = refuse_held(config, store, list, held, comment, error);
      break;
    default:
      rejection = "Discarded";
      break;
    }
  }
  if (ok)
    ok = forget_held(config, store, list, held, error);
  if (!ok) {
    mm_store_rollback(store);
    return FALSE;
  }
  if (!mm_store_commit(store, &local)) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED, "%s",
                local->message);
    return FALSE;
  }
  if (rejection != NULL) {
    g_autofree char *sender = mm_log_escape(held->sender, -1);
    g_autofree char *subject = mm_log_escape(held->subject, -1);
    if (comment != NULL && comment[0] != '\0') {
      g_autofree char *reason = mm_log_escape(comment, -1);
      mm_log_info("vette",
                  "%s: %s posting:\tFrom: %s\tSubject: %s\tReason: %s",
                  list->fqdn_listname, rejection, sender, subject, reason);
    } else {
      mm_log_info("vette", "%s: %s posting:\tFrom: %s\tSubject: %s",
                  list->fqdn_listname, rejection, sender, subject);
    }
  }
  return TRUE;
}

/* ---- Expiry ----------------------------------------------------------------- */

gboolean
mm_chains_evict_expired(const MmConfig *config, MmStore *store,
                        GError **error)
{
  g_autoptr(GError) local = NULL;
  gint64 pendings = mm_store_pending_evict(store, g_get_real_time() /
                                                      G_USEC_PER_SEC,
                                           &local);
  gint64 requests =
      pendings >= 0 ? mm_store_request_evict_orphans(store, &local) : -1;
  gint64 messages =
      requests >= 0
          ? mm_store_message_evict_orphans(
                store, mm_config_path(config, "messages_dir"), &local)
          : -1;
  if (messages < 0) {
    g_set_error(error, MM_CHAINS_ERROR, MM_CHAINS_ERROR_FAILED,
                "Cannot evict expired moderation data: %s", local->message);
    return FALSE;
  }
  mm_log_info("task", "Task runner evicted %" G_GINT64_FORMAT
              " expired pendings", pendings);
  mm_log_info("task", "Task runner deleted %" G_GINT64_FORMAT
              " orphaned requests", requests);
  mm_log_info("task", "Task runner deleted %" G_GINT64_FORMAT
              " orphaned messages", messages);
  return TRUE;
}
