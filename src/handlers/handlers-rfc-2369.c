/* rfc-2369: the List-* headers (mailman/handlers/rfc_2369.py).
 *
 * With include_rfc2369_headers (the default), every message gets
 *   List-Id: <description> <name.host>     (RFC 2919; "<name.host>"
 *                                           without a description)
 *   List-Help: <mailto:NAME-request@HOST?subject=help>
 *   List-Owner: <mailto:NAME-owner@HOST>
 *   List-Subscribe: <mailto:NAME-join@HOST>
 *   List-Unsubscribe: <mailto:NAME-leave@HOST>
 * and, unless metadata reduced_list_headers says it is a notice,
 *   List-Post: <mailto:NAME@HOST>          ("NO" without allow_list_posts)
 *   List-Archive / Archived-At              (RFC 2369 / RFC 5064; one of
 *                                           each per enabled archiver, when
 *                                           archive_policy is not never)
 * replacing any the message had.  They are added sorted by name and value,
 * as Mailman does, a value longer than the line folded after each ", ".
 *
 * RFC 8058 one-click unsubscription: with [mailman] list_unsubscribe_post
 * (default yes) and an HTTPS address in [mailman] list_unsubscribe_url
 * (a template: $list_id, $listname, $short_listname, $domain, ...; empty by
 * default), posts also get "List-Unsubscribe-Post:
 * List-Unsubscribe=One-Click" and the URL first in List-Unsubscribe.  RFC
 * 8058 section 3.1 requires the HTTPS URI, so without one the header is
 * not written: a mailto: alone cannot be unsubscribed with a POST.  A URL
 * naming the recipient ($user_email, $user_address, $user_delivered_to)
 * is left to personalised delivery: lists with personalize none do not
 * get it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#include "base-log.h"

#define CONTINUATION ",\n\t"

typedef struct {
  char *name;
  char *value;
} Field;

static void
field_free(gpointer data)
{
  Field *field = data;
  g_free(field->name);
  g_free(field->value);
  g_free(field);
}

static void
add_field(GPtrArray *fields, const char *name, char *value)
{
  Field *field = g_new(Field, 1);
  field->name = g_strdup(name);
  field->value = value; /* transfer full */
  g_ptr_array_add(fields, field);
}

static gint
compare_fields(gconstpointer a, gconstpointer b)
{
  const Field *x = *(const Field *const *)a;
  const Field *y = *(const Field *const *)b;
  int by_name = strcmp(x->name, y->name);
  return by_name != 0 ? by_name : strcmp(x->value, y->value);
}

static gboolean
is_ascii(const char *text)
{
  for (const char *p = text; *p != '\0'; p++) {
    if ((unsigned char)*p >= 0x80)
      return FALSE;
  }
  return TRUE;
}

/* The List-Id value, encoded. */
static char *
list_id_value(MmHandlerContext *ctx)
{
  const char *list_id = ctx->list->list_id;
  g_autofree char *description = mm_handlers_list_description_line(ctx);
  if (*description == '\0')
    return g_strdup_printf("<%s>", list_id);
  if (is_ascii(description)) {
    /* formataddr's quoting; the "address" is the list-id. */
    g_autofree char *formatted =
        mm_handlers_address_format(description, list_id);
    return g_steal_pointer(&formatted);
  }
  g_autofree char *phrase = g_mime_utils_header_encode_phrase(
      NULL, description, mm_handlers_list_charset(ctx));
  return g_strdup_printf("%s <%s>", phrase, list_id);
}

/* The one-click URL for this message, or NULL. */
static char *
one_click_url(MmHandlerContext *ctx)
{
  const char *enabled =
      mm_config_get(ctx->config, "mailman", "list_unsubscribe_post");
  gboolean on = TRUE;
  if (enabled != NULL && !mm_config_parse_bool(enabled, &on))
    on = TRUE;
  const char *url =
      mm_config_get(ctx->config, "mailman", "list_unsubscribe_url");
  if (!on || url == NULL || *url == '\0')
    return NULL;
  g_autoptr(GHashTable) vars =
      mm_notice_template_variables(ctx->config, ctx->list);
  g_autofree char *expanded = mm_notice_template_expand(url, vars);
  if (g_ascii_strncasecmp(expanded, "https://", 8) != 0 ||
      !is_ascii(expanded) || strpbrk(expanded, " \t\r\n<>,") != NULL) {
    mm_log_error("error",
                 "[mailman] list_unsubscribe_url must be an https: URL; "
                 "not adding List-Unsubscribe-Post");
    return NULL;
  }
  if ((strstr(expanded, "$user_") != NULL ||
       strstr(expanded, "${user_") != NULL) &&
      g_str_equal(mm_handlers_list_text(ctx, "personalize"), "none"))
    return NULL;
  return g_steal_pointer(&expanded);
}

MmHandlerResult
mm_handlers_rfc_2369(MmHandlerContext *ctx, GError **error)
{
  (void)error;
  if (!mm_handlers_list_bool(ctx, "include_rfc2369_headers"))
    return MM_HANDLER_CONTINUE;

  g_autofree char *list_id = list_id_value(ctx);
  mm_handlers_header_remove(ctx->message, "List-Id");
  mm_handlers_header_append_raw(ctx->message, "List-Id", list_id);

  gboolean reduced = mm_handlers_meta_true(ctx->meta, "reduced_list_headers");
  g_autofree char *one_click = reduced ? NULL : one_click_url(ctx);
  g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func(field_free);
  add_field(fields, "List-Help",
            g_strdup_printf("<mailto:%s?subject=help>",
                            mm_handlers_list_text(ctx, "request_address")));
  add_field(fields, "List-Owner",
            g_strdup_printf("<mailto:%s>",
                            mm_handlers_list_text(ctx, "owner_address")));
  const char *leave = mm_handlers_list_text(ctx, "leave_address");
  add_field(fields, "List-Unsubscribe",
            one_click != NULL
                ? g_strdup_printf("<%s>, <mailto:%s>", one_click, leave)
                : g_strdup_printf("<mailto:%s>", leave));
  add_field(fields, "List-Subscribe",
            g_strdup_printf("<mailto:%s>",
                            mm_handlers_list_text(ctx, "join_address")));
  if (!reduced) {
    add_field(fields, "List-Post",
              mm_handlers_list_bool(ctx, "allow_list_posts")
                  ? g_strdup_printf("<mailto:%s>", mm_handlers_list_text(
                                                       ctx, "posting_address"))
                  : g_strdup("NO"));
    if (one_click != NULL)
      add_field(fields, "List-Unsubscribe-Post",
                g_strdup("List-Unsubscribe=One-Click"));
    if (!g_str_equal(mm_handlers_list_text(ctx, "archive_policy"), "never")) {
      g_autoptr(GPtrArray) archivers = mm_handlers_archivers(ctx);
      for (guint i = 0; i < archivers->len; i++) {
        const MmHandlersArchiver *archiver = archivers->pdata[i];
        if (archiver->list_url != NULL && is_ascii(archiver->list_url))
          add_field(fields, "List-Archive",
                    g_strdup_printf("<%s>", archiver->list_url));
        if (archiver->permalink != NULL && is_ascii(archiver->permalink))
          add_field(fields, "Archived-At",
                    g_strdup_printf("<%s>", archiver->permalink));
      }
    }
  }

  /* Remove every old one first: the new set may hold a name twice. */
  for (guint i = 0; i < fields->len; i++)
    mm_handlers_header_remove(ctx->message, ((Field *)fields->pdata[i])->name);
  g_ptr_array_sort(fields, compare_fields);
  for (guint i = 0; i < fields->len; i++) {
    Field *field = fields->pdata[i];
    g_autofree char *value = NULL;
    if (strlen(field->name) + 2 + strlen(field->value) > 78) {
      g_auto(GStrv) pieces = g_strsplit(field->value, ", ", -1);
      value = g_strjoinv(CONTINUATION, pieces);
    } else {
      value = g_strdup(field->value);
    }
    mm_handlers_header_append_raw(ctx->message, field->name, value);
  }
  return MM_HANDLER_CONTINUE;
}
