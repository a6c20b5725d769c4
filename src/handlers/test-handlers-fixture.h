/* Shared set-up of the handlers' unit tests: a private site (temporary
 * directory, mailman.cfg, a real SQLite database with the list
 * test@example.com), handler contexts built from the messages under
 * tests/data/handlers, and golden-file comparison.
 *
 * Golden files: <case>.in.eml goes through the handlers, the result is
 * compared with <case>.out.eml after normalising what is random (MIME
 * boundaries GMime invents, Message-IDs the server makes).
 * With MM_REGENERATE_GOLDEN=1 in the environment the .out.eml files are
 * written instead (then read them before committing).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib/gstdio.h>
#include <string.h>

#include "base-error.h"
#include "base-file.h"
#include "handlers-private.h"
#include "mm-test-site.h"
#include "queue.h"

#ifndef MM_TEST_DATA_DIR
#error "MM_TEST_DATA_DIR must name tests/data/handlers"
#endif

typedef struct {
  MmTestSite *site; /* owns dir, config, store and list */
  char *dir;
  MmConfig *config;
  MmStore *store;
  MmList *list;
  const char *queue_root;
  MmDmarcResolver *resolver;
} Fixture;

/* A site with @extra_cfg appended to its mailman.cfg. */
static inline void
fixture_init(Fixture *f, const char *extra_cfg)
{
  g_autoptr(GError) error = NULL;
  memset(f, 0, sizeof *f);
  f->site = mm_test_site_new(extra_cfg);
  f->dir = f->site->dir;
  f->config = f->site->config;
  f->store = f->site->store;
  f->list = f->site->list;
  f->queue_root = mm_config_path(f->config, "queue_dir");
  g_autofree char *dns = g_build_filename(MM_TEST_DATA_DIR, "dns.txt", NULL);
  f->resolver = mm_dmarc_resolver_new_from_file(dns, &error);
  g_assert_no_error(error);
}

static inline void
fixture_clear(Fixture *f)
{
  g_clear_pointer(&f->resolver, mm_dmarc_resolver_free);
  g_clear_pointer(&f->site, mm_test_site_free);
}

/* Sets list settings "name=value", '|' standing for a line break (the
 * list-valued settings hold one entry per line).  Settings storage does
 * not know go straight into the list's table. */
static inline void
fixture_set(Fixture *f, const char *const *settings)
{
  for (const char *const *s = settings; s != NULL && *s != NULL; s++) {
    const char *eq = strchr(*s, '=');
    g_assert_nonnull(eq);
    g_autofree char *name = g_strndup(*s, (gsize)(eq - *s));
    g_autofree char *value = g_strdup(eq + 1);
    g_strdelimit(value, "|", '\n');
    g_autoptr(GError) error = NULL;
    if (mm_store_list_set(f->store, f->list, name, value, &error))
      continue;
    g_assert_error(error, MM_STORE_ERROR, MM_STORE_ERROR_NOT_FOUND);
    g_hash_table_replace(f->list->settings, g_strdup(name),
                         g_steal_pointer(&value));
  }
}

static inline GBytes *
read_data(const char *name)
{
  g_autofree char *path = g_build_filename(MM_TEST_DATA_DIR, name, NULL);
  g_autoptr(GError) error = NULL;
  GBytes *bytes = mm_file_read_bounded(path, 16 * 1024 * 1024, &error);
  g_assert_no_error(error);
  return bytes;
}

/* A context for the message in tests/data/handlers/@eml with metadata
 * @meta_json (NULL: {}).  Clear it with mm_handler_context_clear(). */
static inline void
fixture_context(Fixture *f, MmHandlerContext *ctx, const char *eml,
                const char *meta_json)
{
  g_autoptr(GBytes) raw = read_data(eml);
  g_autoptr(GError) error = NULL;
  memset(ctx, 0, sizeof *ctx);
  ctx->config = f->config;
  ctx->store = f->store;
  ctx->queue_root = f->queue_root;
  ctx->resolver = f->resolver;
  ctx->list = f->list;
  ctx->pipeline = "test";
  ctx->message = mm_handlers_message_parse(raw, &error);
  g_assert_no_error(error);
  json_error_t json_error;
  ctx->meta = meta_json != NULL ? json_loads(meta_json, 0, &json_error)
                                : json_object();
  g_assert_nonnull(ctx->meta);
  ctx->message_id = g_strdup("<test@example.com>");
}

/* Runs the comma-separated @handlers; returns the first result that is
 * not CONTINUE (or CONTINUE). */
static inline MmHandlerResult
run_handlers(MmHandlerContext *ctx, const char *handlers)
{
  g_auto(GStrv) names = g_strsplit(handlers, ",", -1);
  for (char **name = names; *name != NULL; name++) {
    g_autoptr(GError) error = NULL;
    MmHandlerResult result = mm_handlers_run(*name, ctx, &error);
    if (result == MM_HANDLER_FAILED)
      g_test_message("%s failed: %s", *name,
                     error != NULL ? error->message : "?");
    if (result != MM_HANDLER_CONTINUE)
      return result;
  }
  return MM_HANDLER_CONTINUE;
}

/* Replaces what is random in @text: each distinct MIME boundary GMime
 * made ("=-..."), and the Message-IDs mm_message_id_new() made. */
static inline char *
normalise(const char *text)
{
  g_autoptr(GRegex) boundary =
      g_regex_new("=-[A-Za-z0-9+/=_-]{10,}", 0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
  g_regex_match(boundary, text, 0, &match);
  while (g_match_info_matches(match)) {
    char *b = g_match_info_fetch(match, 0);
    if (!g_ptr_array_find_with_equal_func(seen, b, g_str_equal, NULL))
      g_ptr_array_add(seen, b);
    else
      g_free(b);
    g_match_info_next(match, NULL);
  }
  char *out = g_strdup(text);
  for (guint i = 0; i < seen->len; i++) {
    g_autofree char *placeholder = g_strdup_printf("BOUNDARY%u", i + 1);
    g_autofree char *escaped = g_regex_escape_string(seen->pdata[i], -1);
    g_autoptr(GRegex) literal = g_regex_new(escaped, 0, 0, NULL);
    char *next =
        g_regex_replace_literal(literal, out, -1, 0, placeholder, 0, NULL);
    g_free(out);
    out = next;
  }
  g_autoptr(GRegex) msgid =
      g_regex_new("<[0-9]+\\.[0-9]+\\.[0-9a-f]+@", 0, 0, NULL);
  char *next =
      g_regex_replace_literal(msgid, out, -1, 0, "<GENERATED@", 0, NULL);
  g_free(out);
  out = next;
  return out;
}

/* Compares the message of @ctx with tests/data/handlers/@golden. */
static inline void
assert_golden(MmHandlerContext *ctx, const char *golden)
{
  g_autoptr(GBytes) bytes = mm_handlers_message_bytes(ctx->message);
  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);
  g_autofree char *text = g_strndup(data, len);
  g_autofree char *got = normalise(text);
  g_autofree char *path = g_build_filename(MM_TEST_DATA_DIR, golden, NULL);
  if (g_getenv("MM_REGENERATE_GOLDEN") != NULL) {
    g_assert_true(g_file_set_contents(path, got, -1, NULL));
    return;
  }
  g_autofree char *expected = NULL;
  g_autoptr(GError) error = NULL;
  g_file_get_contents(path, &expected, NULL, &error);
  g_assert_no_error(error);
  if (!g_str_equal(got, expected)) {
    g_test_message("%s differs; got:\n%s", golden, got);
    g_test_fail();
  }
}

/* The number of entries in queue @name. */
static inline guint
queue_count(Fixture *f, const char *name)
{
  g_autofree char *dir = g_build_filename(f->queue_root, name, NULL);
  GDir *d = g_dir_open(dir, 0, NULL);
  guint n = 0;
  const char *entry;
  while (d != NULL && (entry = g_dir_read_name(d)) != NULL)
    n += g_str_has_suffix(entry, ".pck");
  if (d != NULL)
    g_dir_close(d);
  return n;
}

static inline gint
compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reads the first entry of queue @name. */
static inline void
queue_first(Fixture *f, const char *name, GBytes **message_out,
            json_t **meta_out)
{
  g_autofree char *dir = g_build_filename(f->queue_root, name, NULL);
  GDir *d = g_dir_open(dir, 0, NULL);
  g_assert_nonnull(d);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  const char *entry;
  while ((entry = g_dir_read_name(d)) != NULL) {
    if (g_str_has_suffix(entry, ".pck"))
      g_ptr_array_add(names, g_strdup(entry));
  }
  g_dir_close(d);
  g_assert_cmpuint(names->len, >, 0);
  g_ptr_array_sort(names, compare_names);
  g_autofree char *path = g_build_filename(dir, names->pdata[0], NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(mm_queue_file_read(path, message_out, meta_out, &error));
  g_assert_no_error(error);
}
