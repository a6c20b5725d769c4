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
 * delivery, which knows each recipient: through the out runner it makes
 * one MmHandlersDecorator per message and applies it to every copy, with Mailman's $member, $user_email, $user_address,
 * $user_delivered_to, $user_name, $user_name_or_address and
 * $user_language added to the variables.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#include "base-log.h"

static char *
template_for(MmHandlerContext *ctx, const char *name, GError **error)
{
  return mm_notice_template_load(ctx->config, ctx->list, name,
                                 mm_handlers_meta_string(ctx->meta, "lang"),
                                 error);
}

static char *
expand_decoration(const char *template, GHashTable *vars)
{
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

/* Puts the expanded @header and @footer around the body (see the top of
 * this file for where they go). */
static void
apply_decorations(MmHandlerContext *ctx, const char *header,
                  const char *footer)
{
  json_object_set_new(ctx->meta, "nodecorate", json_true());
  if (*header == '\0' && *footer == '\0')
    return;
  mm_handlers_message_ensure_mime_version(ctx->message);

  GMimeObject *body = g_mime_message_get_mime_part(ctx->message);
  if (body == NULL) {
    /* A message without a body: the decorations become one. */
    g_autofree char *text = g_strconcat(header, footer, NULL);
    GMimePart *part = decoration_part(ctx, text);
    mm_handlers_message_set_body(ctx->message, GMIME_OBJECT(part));
    g_object_unref(part);
    return;
  }
  g_autofree char *type = mm_handlers_object_type(body);
  if (g_str_equal(type, "text/plain") && GMIME_IS_PART(body) &&
      decorate_text(ctx, GMIME_PART(body), header, footer))
    return;
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
    return;
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
  return;
}

static MmHandlerResult
decorate_with(MmHandlerContext *ctx, GError **error)
{
  g_autoptr(GHashTable) vars = decoration_variables(ctx);
  g_autofree char *header_template =
      template_for(ctx, "list:member:regular:header", error);
  if (header_template == NULL)
    return MM_HANDLER_FAILED;
  g_autofree char *footer_template =
      template_for(ctx, "list:member:regular:footer", error);
  if (footer_template == NULL)
    return MM_HANDLER_FAILED;
  g_autofree char *header = expand_decoration(header_template, vars);
  g_autofree char *footer = expand_decoration(footer_template, vars);
  apply_decorations(ctx, header, footer);
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
  return decorate_with(ctx, error);
}

struct MmHandlersDecorator {
  const MmConfig *config; /* borrowed */
  const MmList *list;     /* borrowed */
  GBytes *raw;
  char *header_template;
  char *footer_template;
  GHashTable *vars; /* the list's; each copy adds its recipient's */
};

MmHandlersDecorator *
mm_handlers_decorator_new(const MmConfig *config, const MmList *list,
                          GBytes *raw, json_t *meta, GError **error)
{
  /* The metadata is only read here (language, decoration-data), and it
   * can be large (a recipients array of the whole list): a reference, not
   * a copy. */
  MmHandlerContext ctx = {
      .config = config,
      .list = list,
      .message = mm_handlers_message_parse(raw, error),
      .meta = json_incref(meta),
      .pipeline = "personalized delivery",
  };
  if (ctx.message == NULL) {
    mm_handler_context_clear(&ctx);
    return NULL;
  }
  g_autoptr(MmHandlersDecorator) d = g_new0(MmHandlersDecorator, 1);
  d->config = config;
  d->list = list;
  d->raw = g_bytes_ref(raw);
  d->vars = decoration_variables(&ctx);
  d->header_template = template_for(&ctx, "list:member:regular:header", error);
  if (d->header_template != NULL)
    d->footer_template =
        template_for(&ctx, "list:member:regular:footer", error);
  mm_handler_context_clear(&ctx);
  if (d->footer_template == NULL)
    return NULL;
  return g_steal_pointer(&d);
}

void
mm_handlers_decorator_free(MmHandlersDecorator *d)
{
  if (d == NULL)
    return;
  g_bytes_unref(d->raw);
  g_free(d->header_template);
  g_free(d->footer_template);
  g_hash_table_unref(d->vars);
  g_free(d);
}

static void
set_var(GHashTable *vars, const char *key, const char *value)
{
  g_hash_table_insert(vars, g_strdup(key), g_strdup(value));
}

/* Mailman's personalization variables (handlers/decorate.py). */
static void
set_recipient_variables(MmHandlersDecorator *d, const MmHandlersRecipient *r)
{
  const char *name = r->display_name != NULL ? r->display_name : "";
  const char *email = r->email != NULL ? r->email : r->recipient;
  g_hash_table_insert(d->vars, g_strdup("member"),
                      mm_handlers_address_format(name, email));
  set_var(d->vars, "user_email", r->recipient);
  set_var(d->vars, "user_address", r->recipient);
  set_var(d->vars, "user_delivered_to", email);
  set_var(d->vars, "user_name", name);
  set_var(d->vars, "user_name_or_address", *name != '\0' ? name : r->recipient);
  /* Mailman shows the language's description ("English (USA)"). */
  const char *description = NULL;
  if (r->language != NULL && *r->language != '\0') {
    g_autofree char *section = g_strconcat("language.", r->language, NULL);
    description = mm_config_get(d->config, section, "description");
  }
  set_var(d->vars, "user_language",
          description != NULL   ? description
          : r->language != NULL ? r->language
                                : "");
}

GBytes *
mm_handlers_decorator_apply(MmHandlersDecorator *d,
                            const MmHandlersRecipient *recipient,
                            GError **error)
{
  g_return_val_if_fail(recipient != NULL && recipient->recipient != NULL,
                       NULL);
  if (g_str_equal(recipient->recipient,
                  mm_handlers_mail_archive_recipient(d->config)))
    return g_bytes_ref(d->raw);
  set_recipient_variables(d, recipient);
  g_autofree char *header = expand_decoration(d->header_template, d->vars);
  g_autofree char *footer = expand_decoration(d->footer_template, d->vars);
  /* A fresh message per copy; its metadata only receives "nodecorate". */
  MmHandlerContext ctx = {
      .config = d->config,
      .list = d->list,
      .message = mm_handlers_message_parse(d->raw, error),
      .meta = json_object(),
      .pipeline = "personalized delivery",
  };
  GBytes *out = NULL;
  if (ctx.message != NULL) {
    apply_decorations(&ctx, header, footer);
    out = mm_handlers_message_bytes(ctx.message);
  }
  mm_handler_context_clear(&ctx);
  return out;
}
