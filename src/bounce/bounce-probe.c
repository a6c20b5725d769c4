/* VERP probes (Mailman's app/bounces.py send_probe and ProbeVERP).
 *
 * A probe is a message to one member whose envelope sender carries a
 * token: "<list>-bounces+<token>@<domain>" by the default
 * verp_probe_format.  The token is a pending of type "probe" holding the
 * member's member_id (Mailman's pendable, JSON-encoded as every pending
 * value here) and the Message-ID of the bounce that prompted it.  If the
 * probe bounces, by DSN to that address or by an SMTP refusal that the
 * delivery engine reports with the probe_token, the bounce names the
 * member beyond doubt: it is recorded with the probe context and disables
 * delivery at once.  If it does not bounce, the token expires after ten
 * days and nothing happens: the member stays enabled with a score of 0.
 *
 * Probes go out with verp false (the token is the VERP) and without a
 * Precedence field in Mailman; the notice module always adds
 * "Precedence: bulk" (XXX: ask it for a switch), which matters only to
 * auto-responders.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define MM_WITH_JANSSON
#include "bounce-private.h"

#include <stdlib.h>
#include <string.h>

#include "base-error.h"
#include "mm-autocleanups.h"
#include "notice.h"
#include "storage-bounces.h"

#define PROBE_PENDING_TYPE "probe"

/* A JSON string literal for a pending value (transfer full). */
static char *
json_text(const char *value)
{
  g_autoptr(MmJson) string = value != NULL ? json_string(value) : json_null();
  if (string == NULL) /* not UTF-8 */
    string = json_null();
  return json_dumps(string, JSON_ENCODE_ANY | JSON_COMPACT);
}

char *
mm_bounce_probe_send(const MmConfig *config, MmStore *store,
                     const MmList *list, const char *email,
                     const char *message_id, GBytes *dsn, GError **error)
{
  g_autoptr(MmStoreMemberBounce) member =
      mm_store_member_bounce_get(store, list->list_id, email, error);
  if (member == NULL)
    return NULL;

  g_autoptr(GHashTable) values =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, free);
  g_hash_table_insert(values, "member_id", json_text(member->member_id));
  g_hash_table_insert(values, "message_id", json_text(message_id));
  g_autofree char *token = mm_store_pending_add(
      store, PROBE_PENDING_TYPE, values, MM_BOUNCE_PROBE_LIFETIME_SEC, error);
  if (token == NULL)
    return NULL;

  const char *bounces = mm_list_setting(list, "bounces_address");
  const char *at = bounces != NULL ? strrchr(bounces, '@') : NULL;
  if (at == NULL) {
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                "list %s has no bounces address", list->list_id);
    return NULL;
  }
  g_autofree char *mailbox = g_strndup(bounces, (gsize)(at - bounces));
  const char *format = mm_config_get(config, "mta", "verp_probe_format");
  if (format == NULL)
    format = "$bounces+$token@$domain";
  g_autoptr(GHashTable) vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, NULL);
  g_hash_table_insert(vars, "bounces", mailbox);
  g_hash_table_insert(vars, "token", token);
  g_hash_table_insert(vars, "domain", (char *)(at + 1));
  g_autofree char *sender = mm_notice_template_expand(format, vars);

  g_autofree char *language = mm_store_preference_get(
      store, member->email, list->list_id, "preferred_language", NULL);
  const char *owner = mm_list_setting(list, "owner_address");
  const char *const extra[] = {"sender_email", member->email,
                               "address",      member->email,
                               "email",        member->email,
                               "owneraddr",    owner,
                               NULL};
  g_autofree char *text = mm_notice_render(
      config, list, "list:user:notice:probe", language, extra, error);
  if (text == NULL)
    return NULL;
  g_autofree char *subject =
      g_strdup_printf("%s mailing list probe message", list->display_name);
  g_autoptr(MmJson) meta = json_pack("{s:s, s:b, s:s}", "sender", sender,
                                     "verp", 0, "probe_token", token);
  const char *recipients[] = {member->email, NULL};
  MmNotice notice = {
      .list = list,
      .recipients = recipients,
      .from = sender,
      .to = member->email,
      .subject = subject,
      .text = text,
      .attachment = dsn,
      .extra_meta = meta,
      /* Mailman sends probes without Precedence: bulk, so that the
       * recipient's server treats it as ordinary mail and bounces it. */
      .no_precedence = TRUE,
  };
  g_autofree char *id = mm_notice_send(config, &notice, error);
  if (id == NULL)
    return NULL;
  return g_steal_pointer(&token);
}

char *
mm_bounce_probe_resolve(MmStore *store, const MmList *list,
                        const char *token, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GHashTable) values =
      mm_store_pending_get(store, token, FALSE, &local);
  if (values == NULL) {
    if (g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND) ||
        g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_INVALID))
      return NULL;
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  /* Any pending's token can appear after the delimiter of a bounces
   * address; only a probe's names a member, and only a probe's is used up
   * here (a confirmation token must survive a forged bounce). */
  const char *type = g_hash_table_lookup(values, "type");
  const char *member_json = g_hash_table_lookup(values, "member_id");
  if (type == NULL || !g_str_equal(type, PROBE_PENDING_TYPE) ||
      member_json == NULL)
    return NULL;
  if (!mm_store_pending_delete(store, token, error))
    return NULL;
  g_autoptr(MmJson) parsed =
      json_loads(member_json, JSON_DECODE_ANY, NULL);
  const char *member_id = json_string_value(parsed);
  if (member_id == NULL)
    return NULL;

  g_autoptr(MmStoreMemberBounce) member =
      mm_store_member_bounce_by_id(store, member_id, &local);
  if (member == NULL) {
    if (g_error_matches(local, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND))
      return NULL;
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  if (!g_str_equal(list->list_id, member->list_id))
    return NULL;
  return g_steal_pointer(&member->email);
}
