/* decorate: the list's header and footer (mailman/handlers/decorate.py).
 *
 * Templates list:member:regular:header and list:member:regular:footer
 * (the footer falls back to list:member:generic:footer), expanded with
 * the list's standard variables, fqdn_listname, list_name, mail_host,
 * display_name, request_address, description, info, a <name>_url
 * permalink per enabled archiver, and metadata "decoration-data".  Where
 * they go, as Mailman:
 *   - a text/plain message that is not multipart: header and footer
 *     joined to the text, which is written again in the first charset of
 *     (list's, message's, UTF-8) that holds it; format= and delsp= stay;
 *   - multipart/mixed: the header as a first and the footer as a last
 *     inline text/plain part;
 *   - anything else (HTML only, multipart/alternative, signed, a text
 *     that cannot be decoded): the body is wrapped in a new
 *     multipart/mixed of [header, original body, footer].
 * Skipped for digests, metadata nodecorate, mail to the mail-archive.com
 * address alone, and when both texts are empty.
 *
 * Mailman 3.3 decorates at delivery; we do it in the pipeline (see the
 * pipeline table) and then set nodecorate so that delivery does not
 * decorate again.  Lists with personalize other than none are left for
 * delivery, which knows each recipient: it calls
 * mm_handlers_decorate_recipient() (through the out runner) for every
 * copy, with Mailman's $member, $user_email, $user_address,
 * $user_delivered_to, $user_name, $user_name_or_address and
 * $user_language added to the variables.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#include "base-log.h"

static char *
decoration(MmHandlerContext *ctx, const char *name, GHashTable *vars,
           GError **error)
{
  g_autofree char *template = mm_notice_template_load(
      ctx->config, ctx->list, name, mm_handlers_meta_string(ctx->meta, "lang"),
      error);
  if (template == NULL)
    return NULL;
  g_autofree char *text = mm_notice_template_expand(template, vars);
  /* Mailman turns CRLF into LF in decorations. */
  GString *out = g_string_sized_new(strlen(text));
  for (const char *p = text; *p != '\0'; p++) {
    if (p[0] == '\r' && p[1] == '\n')
      continue;
    g_string_append_c(out, *p);
  }
  return g_string_free(out, FALSE);
}

static GHashTable *
decoration_variables(MmHandlerContext *ctx)
{
  GHashTable *vars = mm_notice_template_variables(ctx->config, ctx->list);
  static const char *const settings[] = {
      "fqdn_listname",   "list_name",   "mail_host", "display_name",
      "request_address", "description", "info",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(settings); i++)
    g_hash_table_insert(vars, g_strdup(settings[i]),
                        g_strdup(mm_handlers_list_text(ctx, settings[i])));
  g_autoptr(GPtrArray) archivers = mm_handlers_archivers(ctx);
  for (guint i = 0; i < archivers->len; i++) {
    const MmHandlersArchiver *archiver = archivers->pdata[i];
    if (archiver->permalink != NULL)
      g_hash_table_insert(vars, g_strdup_printf("%s_url", archiver->name),
                          g_strdup(archiver->permalink));
  }
  json_t *extra = json_object_get(ctx->meta, "decoration-data");
  const char *key;
  json_t *value;
  json_object_foreach(extra, key, value) {
    if (json_is_string(value))
      g_hash_table_insert(vars, g_strdup(key),
                          g_strdup(json_string_value(value)));
  }
  return vars;
}

/* text/plain: header + text + footer in one part.  FALSE when the text
 * cannot be decoded or written again (the caller wraps instead). */
static gboolean
decorate_text(MmHandlerContext *ctx, GMimePart *part, const char *header,
              const char *footer)
{
  const char *charset =
      g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
  g_autofree char *message_charset =
      g_strdup(charset != NULL && *charset != '\0' ? charset : "us-ascii");
  g_autofree char *old =
      mm_handlers_part_get_text(part, message_charset, NULL);
  if (old == NULL)
    return FALSE;
  const char *front =
      *header != '\0' && !g_str_has_suffix(header, "\n") ? "\n" : "";
  const char *end =
      *footer != '\0' && !g_str_has_suffix(old, "\n") ? "\n" : "";
  g_autofree char *text = g_strconcat(header, front, old, end, footer, NULL);
  const char *charsets[] = {mm_handlers_list_charset(ctx), message_charset,
                            "utf-8"};
  for (gsize i = 0; i < G_N_ELEMENTS(charsets); i++) {
    if (mm_handlers_part_set_text(part, text, charsets[i]))
      return TRUE;
  }
  return FALSE;
}

static GMimePart *
decoration_part(MmHandlerContext *ctx, const char *text)
{
  return mm_handlers_text_part_new(text, mm_handlers_list_charset(ctx),
                                   "inline");
}

/* The decoration itself, with @extra (may be NULL) added to the
 * variables: the recipient's for personalized delivery. */
static MmHandlerResult
decorate_with(MmHandlerContext *ctx, GHashTable *extra, GError **error)
{
  g_autoptr(GHashTable) vars = decoration_variables(ctx);
  if (extra != NULL) {
    GHashTableIter iter;
    gpointer key, value;
    g_hash_table_iter_init(&iter, extra);
    while (g_hash_table_iter_next(&iter, &key, &value))
      g_hash_table_insert(vars, g_strdup(key), g_strdup(value));
  }
  g_autofree char *header =
      decoration(ctx, "list:member:regular:header", vars, error);
  if (header == NULL)
    return MM_HANDLER_FAILED;
  g_autofree char *footer =
      decoration(ctx, "list:member:regular:footer", vars, error);
  if (footer == NULL)
    return MM_HANDLER_FAILED;
  json_object_set_new(ctx->meta, "nodecorate", json_true());
  if (*header == '\0' && *footer == '\0')
    return MM_HANDLER_CONTINUE;
  mm_handlers_message_ensure_mime_version(ctx->message);

  GMimeObject *body = g_mime_message_get_mime_part(ctx->message);
  if (body == NULL) {
    /* A message without a body: the decorations become one. */
    g_autofree char *text = g_strconcat(header, footer, NULL);
    GMimePart *part = decoration_part(ctx, text);
    mm_handlers_message_set_body(ctx->message, GMIME_OBJECT(part));
    g_object_unref(part);
    return MM_HANDLER_CONTINUE;
  }
  g_autofree char *type = mm_handlers_object_type(body);
  if (g_str_equal(type, "text/plain") && GMIME_IS_PART(body) &&
      decorate_text(ctx, GMIME_PART(body), header, footer))
    return MM_HANDLER_CONTINUE;
  if (g_str_equal(type, "multipart/mixed") && GMIME_IS_MULTIPART(body)) {
    GMimeMultipart *mixed = GMIME_MULTIPART(body);
    if (*footer != '\0') {
      GMimePart *part = decoration_part(ctx, footer);
      g_mime_multipart_add(mixed, GMIME_OBJECT(part));
      g_object_unref(part);
    }
    if (*header != '\0') {
      GMimePart *part = decoration_part(ctx, header);
      g_mime_multipart_insert(mixed, 0, GMIME_OBJECT(part));
      g_object_unref(part);
    }
    mm_handlers_multipart_changed(mixed);
    return MM_HANDLER_CONTINUE;
  }

  /* Wrap: the original body, with its own Content-* headers, becomes the
   * middle part of a new multipart/mixed. */
  g_object_ref(body);
  GMimeMultipart *wrapper = g_mime_multipart_new_with_subtype("mixed");
  if (*header != '\0') {
    GMimePart *part = decoration_part(ctx, header);
    g_mime_multipart_add(wrapper, GMIME_OBJECT(part));
    g_object_unref(part);
  }
  g_mime_multipart_add(wrapper, body);
  if (*footer != '\0') {
    GMimePart *part = decoration_part(ctx, footer);
    g_mime_multipart_add(wrapper, GMIME_OBJECT(part));
    g_object_unref(part);
  }
  mm_handlers_message_set_body(ctx->message, GMIME_OBJECT(wrapper));
  g_object_unref(wrapper);
  g_object_unref(body);
  return MM_HANDLER_CONTINUE;
}

MmHandlerResult
mm_handlers_decorate(MmHandlerContext *ctx, GError **error)
{
  if (mm_handlers_meta_true(ctx->meta, "isdigest") ||
      mm_handlers_meta_true(ctx->meta, "nodecorate") ||
      !g_str_equal(mm_handlers_list_text(ctx, "personalize"), "none"))
    return MM_HANDLER_CONTINUE;
  json_t *recipients = json_object_get(ctx->meta, "recipients");
  if (json_is_array(recipients) && json_array_size(recipients) == 1) {
    const char *only = json_string_value(json_array_get(recipients, 0));
    if (only != NULL &&
        g_str_equal(only, mm_handlers_mail_archive_recipient(ctx->config)))
      return MM_HANDLER_CONTINUE;
  }
  return decorate_with(ctx, NULL, error);
}

/* Mailman's personalization variables (handlers/decorate.py). */
static GHashTable *
recipient_variables(const MmConfig *config, const MmHandlersRecipient *r)
{
  GHashTable *vars =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  const char *name = r->display_name != NULL ? r->display_name : "";
  const char *email = r->email != NULL ? r->email : r->recipient;
  g_hash_table_insert(vars, g_strdup("member"),
                      mm_handlers_address_format(name, email));
  g_hash_table_insert(vars, g_strdup("user_email"), g_strdup(r->recipient));
  g_hash_table_insert(vars, g_strdup("user_address"), g_strdup(r->recipient));
  g_hash_table_insert(vars, g_strdup("user_delivered_to"), g_strdup(email));
  g_hash_table_insert(vars, g_strdup("user_name"), g_strdup(name));
  g_hash_table_insert(vars, g_strdup("user_name_or_address"),
                      g_strdup(*name != '\0' ? name : r->recipient));
  /* Mailman shows the language's description ("English (USA)"). */
  const char *description = NULL;
  if (r->language != NULL && *r->language != '\0') {
    g_autofree char *section = g_strconcat("language.", r->language, NULL);
    description = mm_config_get(config, section, "description");
  }
  g_hash_table_insert(vars, g_strdup("user_language"),
                      g_strdup(description != NULL   ? description
                               : r->language != NULL ? r->language
                                                     : ""));
  return vars;
}

GBytes *
mm_handlers_decorate_recipient(const MmConfig *config, const MmList *list,
                               GBytes *raw, json_t *meta,
                               const MmHandlersRecipient *recipient,
                               GError **error)
{
  g_return_val_if_fail(recipient != NULL && recipient->recipient != NULL,
                       NULL);
  if (g_str_equal(recipient->recipient,
                  mm_handlers_mail_archive_recipient(config)))
    return g_bytes_ref(raw);
  GMimeMessage *message = mm_handlers_message_parse(raw, error);
  if (message == NULL)
    return NULL;
  MmHandlerContext ctx = {
      .config = config,
      .list = list,
      .message = message,
      .meta = json_deep_copy(meta),
      .pipeline = "personalized delivery",
  };
  g_autoptr(GHashTable) extra = recipient_variables(config, recipient);
  MmHandlerResult result = decorate_with(&ctx, extra, error);
  GBytes *out = result == MM_HANDLER_CONTINUE
                    ? mm_handlers_message_bytes(ctx.message)
                    : NULL;
  mm_handler_context_clear(&ctx);
  return out;
}
