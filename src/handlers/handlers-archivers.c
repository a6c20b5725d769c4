/* The archivers' addresses: List-Archive and Archived-At (rfc-2369) and
 * the $<archiver>_url placeholders of decorations.
 *
 * Mailman asks each enabled archiver plugin for list_url(mlist) and
 * permalink(mlist, msg).  We cannot run Python plugins, so the plugins a
 * site is likely to have are recognised by their [archiver.NAME] class and
 * their URLs computed here as the plugin computes them:
 *   mailman.archiving.mailarchive.MailArchive  base_url + quoted posting
 *       address; base_url + Message-ID-Hash; public lists only;
 *   mailman.archiving.mhonarc.MHonArc  base_url expanded with the list;
 *       urljoin(list_url, Message-ID-Hash);
 *   mailman_hyperkitty.Archiver  base_url + "list/<fqdn>/";
 *       list_url + "message/<Message-ID-Hash>/";
 *   mailman.archiving.prototype.Prototype and anything else: no URLs.
 * base_url comes from the file named by the section's "configuration"
 * key ([general] base_url), or the plugin's shipped default for a
 * "python:" resource.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#include "base-file.h"
#include "message.h"

#define ARCHIVER_CONFIG_MAX_LEN (64 * 1024)

void
mm_handlers_archiver_free(MmHandlersArchiver *archiver)
{
  if (archiver == NULL)
    return;
  g_free(archiver->name);
  g_free(archiver->list_url);
  g_free(archiver->permalink);
  g_free(archiver);
}

/* [general] @key of the lazr.config-style file @path, or NULL. */
static char *
external_value(const MmConfig *config, const char *path, const char *key)
{
  g_autofree char *expanded = mm_config_expand(config, path, NULL);
  g_autoptr(GBytes) bytes =
      mm_file_read_bounded(expanded, ARCHIVER_CONFIG_MAX_LEN, NULL);
  if (bytes == NULL)
    return NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);
  g_autofree char *text = g_strndup(data != NULL ? data : "", len);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  gboolean in_general = FALSE;

  for (char **line = lines; *line != NULL; line++) {
    g_strchomp(*line);
    if (**line == '[') {
      in_general = g_str_has_prefix(*line, "[general]");
      continue;
    }
    if (!in_general || **line == '#' || **line == ';')
      continue;
    gsize key_len = strlen(key);
    if (strncmp(*line, key, key_len) != 0)
      continue;
    const char *rest = *line + key_len;
    while (*rest == ' ' || *rest == '\t')
      rest++;
    if (*rest != ':' && *rest != '=')
      continue;
    return g_strstrip(g_strdup(rest + 1));
  }
  return NULL;
}

/* The plugin's base_url: from its configuration file, else @fallback. */
static char *
base_url(const MmConfig *config, const char *section, const char *fallback)
{
  const char *configuration = mm_config_get(config, section, "configuration");
  if (configuration != NULL && *configuration != '\0' &&
      !g_str_has_prefix(configuration, "python:")) {
    char *value = external_value(config, configuration, "base_url");
    if (value != NULL)
      return value;
  }
  return g_strdup(fallback);
}

/* Python's urljoin(base, relative) for a relative path without "..":
 * the relative path replaces what follows the base's last '/'. */
static char *
url_join(const char *base, const char *relative)
{
  const char *scheme_end = strstr(base, "://");
  const char *path = scheme_end != NULL ? strchr(scheme_end + 3, '/') : NULL;
  if (scheme_end != NULL && path == NULL)
    return g_strconcat(base, "/", relative, NULL);
  const char *slash = strrchr(base, '/');
  if (slash == NULL)
    return g_strdup(relative);
  g_autofree char *prefix = g_strndup(base, (gsize)(slash - base) + 1);
  return g_strconcat(prefix, relative, NULL);
}

/* The message's Message-ID-Hash (or X-Message-ID-Hash), or NULL. */
static char *
message_hash(GMimeMessage *message)
{
  char *hash = mm_handlers_header_get_raw(message, "Message-ID-Hash");
  if (hash == NULL)
    hash = mm_handlers_header_get_raw(message, "X-Message-ID-Hash");
  return hash;
}

static gboolean
public_list(const MmHandlerContext *ctx)
{
  return g_str_equal(mm_handlers_list_text(ctx, "archive_policy"), "public");
}

static MmHandlersArchiver *
archiver_for(const MmHandlerContext *ctx, const char *name)
{
  g_autofree char *section = g_strconcat("archiver.", name, NULL);
  const char *klass = mm_config_get(ctx->config, section, "class");
  MmHandlersArchiver *archiver = g_new0(MmHandlersArchiver, 1);
  g_autofree char *hash = message_hash(ctx->message);

  /* Mailman's archiver names use '-' where the section uses '_'. */
  archiver->name = g_strdelimit(g_strdup(name), "_", '-');
  if (klass == NULL)
    return archiver;

  if (g_str_equal(klass, "mailman.archiving.mailarchive.MailArchive")) {
    if (!public_list(ctx))
      return archiver;
    g_autofree char *base =
        base_url(ctx->config, section, "https://www.mail-archive.com/");
    g_autofree char *quoted = g_uri_escape_string(
        mm_handlers_list_text(ctx, "posting_address"), "/", FALSE);
    archiver->list_url = url_join(base, quoted);
    if (hash != NULL)
      archiver->permalink = url_join(base, hash);
  } else if (g_str_equal(klass, "mailman.archiving.mhonarc.MHonArc")) {
    g_autofree char *base = base_url(
        ctx->config, section, "http://$hostname/archives/$fqdn_listname");
    g_autoptr(GHashTable) vars =
        mm_notice_template_variables(ctx->config, ctx->list);
    g_hash_table_insert(vars, g_strdup("hostname"),
                        g_strdup(ctx->list->mail_host));
    g_hash_table_insert(vars, g_strdup("fqdn_listname"),
                        g_strdup(ctx->list->fqdn_listname));
    archiver->list_url = mm_notice_template_expand(base, vars);
    if (hash != NULL)
      archiver->permalink = url_join(archiver->list_url, hash);
  } else if (g_str_equal(klass, "mailman_hyperkitty.Archiver")) {
    g_autofree char *base =
        base_url(ctx->config, section, "http://localhost/archives/");
    g_autofree char *relative =
        g_strdup_printf("list/%s/", ctx->list->fqdn_listname);
    archiver->list_url = url_join(base, relative);
    if (hash == NULL) {
      g_autofree char *message_id =
          mm_handlers_header_get_raw(ctx->message, "Message-ID");
      if (message_id != NULL)
        hash = mm_message_id_hash(message_id);
    }
    if (hash != NULL) {
      g_autofree char *message = g_strdup_printf("message/%s/", hash);
      archiver->permalink = url_join(archiver->list_url, message);
    }
  }
  return archiver;
}

GPtrArray *
mm_handlers_archivers(const MmHandlerContext *ctx)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(
      (GDestroyNotify)mm_handlers_archiver_free);
  g_auto(GStrv) names = mm_config_section_names(ctx->config, "archiver");

  for (char **name = names; *name != NULL; name++) {
    g_autofree char *section = g_strconcat("archiver.", *name, NULL);
    if (!mm_config_get_bool(ctx->config, section, "enable"))
      continue;
    g_ptr_array_add(out, archiver_for(ctx, *name));
  }
  return out;
}

const char *
mm_handlers_mail_archive_recipient(const MmConfig *config)
{
  (void)config;
  /* The plugin's shipped configuration (mailman/config/mail_archive.cfg). */
  return "archive@mail-archive.com";
}
