/* cleanse (mailman/handlers/cleanse.py).
 *
 * Removes headers that could carry a password (Approved, Approve,
 * X-Approved, X-Approve, Urgent), headers that fish for the membership
 * (Return-Receipt-To, Disposition-Notification-To, X-Confirm-Reading-To,
 * X-PMRQC) and Archived-At, which only the list may set (RFC 5064).
 *
 * On an anonymous_list, the poster disappears: From, Reply-To, Sender,
 * Organization, Return-Path, X-Originating-Email, Received, X-MailFrom,
 * X-Envelope-From go, the Message-ID is replaced, every X- header not
 * matched by a regexp of [mailman] anonymous_list_keep_headers goes, and
 * From becomes the list (its description as the name), Reply-To the
 * posting address.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#include "base-log.h"
#include "message.h"

/* Removes the X- headers no keep-regexp matches. */
static void
remove_nonkeepers(MmHandlerContext *ctx)
{
  const char *setting =
      mm_config_get(ctx->config, "mailman", "anonymous_list_keep_headers");
  g_auto(GStrv) patterns =
      g_strsplit_set(setting != NULL ? setting : "", " \t\n", -1);
  g_autoptr(GPtrArray) regexes =
      g_ptr_array_new_with_free_func((GDestroyNotify)g_regex_unref);
  for (char **p = patterns; *p != NULL; p++) {
    if (**p == '\0')
      continue;
    /* Mailman turns a trailing ':' into an end anchor. */
    g_autofree char *pattern = g_strdup(*p);
    gsize len = strlen(pattern);
    if (pattern[len - 1] == ':')
      pattern[len - 1] = '$';
    g_autoptr(GError) error = NULL;
    GRegex *regex = g_regex_new(pattern, G_REGEX_CASELESS, 0, &error);
    if (regex == NULL) {
      mm_log_error("error",
                   "Ignored bad anonymous_list_keep_headers regexp %s: %s", *p,
                   error->message);
      continue;
    }
    g_ptr_array_add(regexes, regex);
  }

  GMimeHeaderList *headers =
      g_mime_object_get_header_list(GMIME_OBJECT(ctx->message));
  g_autoptr(GPtrArray) doomed = g_ptr_array_new_with_free_func(g_free);
  for (int i = 0; i < g_mime_header_list_get_count(headers); i++) {
    const char *name =
        g_mime_header_get_name(g_mime_header_list_get_header_at(headers, i));
    if (g_ascii_strncasecmp(name, "x-", 2) != 0)
      continue;
    gboolean keep = FALSE;
    for (guint r = 0; r < regexes->len && !keep; r++)
      keep = g_regex_match(regexes->pdata[r], name, 0, NULL);
    if (!keep)
      g_ptr_array_add(doomed, g_strdup(name));
  }
  for (guint i = 0; i < doomed->len; i++)
    mm_handlers_header_remove(ctx->message, doomed->pdata[i]);
}

static gboolean
anonymize(MmHandlerContext *ctx, GError **error)
{
  g_autofree char *from = mm_handlers_header_get(ctx->message, "From");
  g_autofree char *escaped = mm_log_escape(from != NULL ? from : "", -1);
  mm_log_info("smtp", "post to %s from %s anonymized",
              ctx->list->fqdn_listname, escaped);

  const char *gone[] = {"From",           "Reply-To",    "Sender",
                        "Organization",   "Return-Path", "X-Originating-Email",
                        "Received",       "Message-ID",  "X-MailFrom",
                        "X-Envelope-From"};
  for (gsize i = 0; i < G_N_ELEMENTS(gone); i++)
    mm_handlers_header_remove(ctx->message, gone[i]);
  g_autofree char *message_id = mm_message_id_new(ctx->list->mail_host, error);
  if (message_id == NULL)
    return FALSE;
  mm_handlers_header_append_raw(ctx->message, "Message-ID", message_id);
  remove_nonkeepers(ctx);

  const char *posting = mm_handlers_list_text(ctx, "posting_address");
  g_autofree char *description = mm_handlers_list_description_line(ctx);
  g_autofree char *new_from = mm_handlers_address_format(description, posting);
  mm_handlers_header_append(ctx->message, "From", new_from,
                            mm_handlers_list_charset(ctx));
  mm_handlers_header_append(ctx->message, "Reply-To", posting, NULL);
  return TRUE;
}

MmHandlerResult
mm_handlers_cleanse(MmHandlerContext *ctx, GError **error)
{
  const char *secrets[] = {"Approved", "Approve", "X-Approved", "X-Approve",
                           "Urgent"};
  for (gsize i = 0; i < G_N_ELEMENTS(secrets); i++)
    mm_handlers_header_remove(ctx->message, secrets[i]);
  if (mm_handlers_list_bool(ctx, "anonymous_list") && !anonymize(ctx, error))
    return MM_HANDLER_FAILED;
  const char *fishing[] = {"Return-Receipt-To", "Disposition-Notification-To",
                           "X-Confirm-Reading-To", "X-PMRQC", "Archived-At"};
  for (gsize i = 0; i < G_N_ELEMENTS(fishing); i++)
    mm_handlers_header_remove(ctx->message, fishing[i]);
  return MM_HANDLER_CONTINUE;
}
