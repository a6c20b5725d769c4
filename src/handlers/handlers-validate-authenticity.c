/* validate-authenticity (mailman/handlers/validate_authenticity.py).
 *
 * With [ARC] enabled, Mailman verifies DKIM, DMARC and the ARC chain of
 * the incoming message and puts its verdict in a new
 * Authentication-Results header at the top, replacing the ones that came
 * with the message.  We do not verify signatures here (no signing either:
 * arc-sign belongs to delivery).  What we record is what we know:
 *   - the dkim=, dmarc= and arc= results of the first
 *     Authentication-Results header when its authserv-id is one of
 *     [ARC] trusted_authserv_ids (the MTA in front of us checked them),
 *     dkim and dmarc only when [ARC] dkim / dmarc are on;
 *   - otherwise "arc=none" when the message carries no ARC set, and
 *     "none" (RFC 8601: no results) when it does.
 * The header is "Authentication-Results: <[ARC] authserv_id>; <results>".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

/* The authserv-id of an Authentication-Results value: its first token,
 * before ';' and any version or comment (RFC 8601 2.2). */
static char *
authserv_id(const char *value)
{
  const char *end = strchr(value, ';');
  g_autofree char *head =
      g_strndup(value, end != NULL ? (gsize)(end - value) : strlen(value));
  g_strstrip(head);
  char *space = strpbrk(head, " \t(");
  if (space != NULL)
    *space = '\0';
  return g_ascii_strdown(head, -1);
}

static gboolean
trusted(const MmConfig *config, const char *id)
{
  const char *setting = mm_config_get(config, "ARC", "trusted_authserv_ids");
  if (setting == NULL)
    return FALSE;
  g_auto(GStrv) ids = g_strsplit(setting, ",", -1);
  for (char **t = ids; *t != NULL; t++) {
    g_strstrip(*t);
    if (**t != '\0' && g_ascii_strcasecmp(*t, id) == 0)
      return TRUE;
  }
  return FALSE;
}

/* The results of @value for the methods we keep, "; "-joined. */
static char *
kept_results(const MmConfig *config, const char *value)
{
  const char *rest = strchr(value, ';');
  if (rest == NULL)
    return g_strdup("");
  g_auto(GStrv) results = g_strsplit(rest + 1, ";", -1);
  GPtrArray *kept = g_ptr_array_new();
  for (char **r = results; *r != NULL; r++) {
    g_strstrip(*r);
    gboolean keep = g_ascii_strncasecmp(*r, "arc=", 4) == 0 ||
                    (g_ascii_strncasecmp(*r, "dkim=", 5) == 0 &&
                     mm_config_get_bool(config, "ARC", "dkim")) ||
                    (g_ascii_strncasecmp(*r, "dmarc=", 6) == 0 &&
                     mm_config_get_bool(config, "ARC", "dmarc"));
    if (keep)
      g_ptr_array_add(kept, *r);
  }
  g_ptr_array_add(kept, NULL);
  char *joined = g_strjoinv("; ", (char **)kept->pdata);
  g_ptr_array_free(kept, TRUE);
  return joined;
}

MmHandlerResult
mm_handlers_validate_authenticity(MmHandlerContext *ctx, GError **error)
{
  if (!mm_config_get_bool(ctx->config, "ARC", "enabled"))
    return MM_HANDLER_CONTINUE;

  g_autofree char *previous =
      mm_handlers_header_get(ctx->message, "Authentication-Results");
  g_autofree char *results = NULL;
  if (previous != NULL) {
    g_autofree char *id = authserv_id(previous);
    if (trusted(ctx->config, id))
      results = kept_results(ctx->config, previous);
  }
  if (results == NULL || *results == '\0') {
    g_free(results);
    results = g_strdup(mm_handlers_header_has(ctx->message, "ARC-Seal")
                           ? "none"
                           : "arc=none");
  }
  const char *own_id = mm_config_get(ctx->config, "ARC", "authserv_id");
  if (own_id == NULL || *own_id == '\0')
    own_id = g_get_host_name();
  g_autofree char *value = g_strdup_printf("%s; %s", own_id, results);
  /* Folding and any non-ASCII bytes are dropped: the header we write is
   * ASCII on one logical line. */
  g_strcanon(value,
             " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
             "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
             '?');

  mm_handlers_header_remove(ctx->message, "Authentication-Results");
  mm_handlers_header_prepend_raw(ctx->message, "Authentication-Results",
                                 value);
  (void)error;
  return MM_HANDLER_CONTINUE;
}
