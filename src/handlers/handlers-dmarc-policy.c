/* DMARC policy lookups for the dmarc handler: the From domain's policy as
 * Mailman's dmarc-mitigation rule finds it (mailman/rules/dmarc.py), through
 * a resolver interface that tests replace with a fixture file.
 *
 * The system resolver is GResolver; its lookups run in GLib's resolver
 * thread and we wait at most [dmarc] resolver_lifetime for an answer (a
 * late answer is abandoned and counts as a failure, which Mailman treats
 * as "reject").  The organizational domain comes from the public suffix
 * list Debian ships (package publicsuffix) rather than from a download at
 * run time, as Mailman's [dmarc] org_domain_data_url does.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers.h"

#include <gio/gio.h>
#include <string.h>

#include "base-error.h"
#include "base-file.h"
#include "base-log.h"

#define DEFAULT_PSL "/usr/share/publicsuffix/public_suffix_list.dat"
#define PSL_MAX_LEN (16 * 1024 * 1024)
#define FIXTURE_MAX_LEN (1024 * 1024)
/* How long a system lookup may take unless the caller says (Mailman's
 * [dmarc] resolver_lifetime default). */
#define SYSTEM_LOOKUP_USEC (5 * G_USEC_PER_SEC)

/* ---- system resolver ------------------------------------------------- */

typedef struct {
  GList *records;
  GError *error;
  gboolean done;
} AsyncLookup;

static void
lookup_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncLookup *lookup = user_data;
  lookup->records = g_resolver_lookup_records_finish(G_RESOLVER(source),
                                                     result, &lookup->error);
  lookup->done = TRUE;
}

static gboolean
lookup_timeout(gpointer user_data)
{
  g_cancellable_cancel(user_data);
  return G_SOURCE_REMOVE;
}

/* @user_data: NULL, or a gint64 with the deadline in microseconds. */
static char **
system_lookup(gpointer user_data, const char *name, GError **error)
{
  gint64 limit_usec =
      user_data != NULL ? *(const gint64 *)user_data : SYSTEM_LOOKUP_USEC;
  g_autoptr(GMainContext) context = g_main_context_new();
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autoptr(GResolver) resolver = g_resolver_get_default();
  AsyncLookup lookup = {0};

  g_main_context_push_thread_default(context);
  g_resolver_lookup_records_async(resolver, name, G_RESOLVER_RECORD_TXT,
                                  cancellable, lookup_done, &lookup);
  GSource *timer = g_timeout_source_new((guint)MAX(limit_usec / 1000, 1));
  g_source_set_callback(timer, lookup_timeout, cancellable, NULL);
  g_source_attach(timer, context);
  while (!lookup.done)
    g_main_context_iteration(context, TRUE);
  g_source_destroy(timer);
  g_source_unref(timer);
  g_main_context_pop_thread_default(context);

  if (lookup.error != NULL) {
    if (g_error_matches(lookup.error, G_RESOLVER_ERROR,
                        G_RESOLVER_ERROR_NOT_FOUND)) {
      g_error_free(lookup.error);
      return g_new0(char *, 1);
    }
    g_propagate_error(error, lookup.error);
    return NULL;
  }
  GPtrArray *out = g_ptr_array_new();
  for (GList *l = lookup.records; l != NULL; l = l->next) {
    g_autofree const char **strings = NULL;
    g_variant_get(l->data, "(^a&s)", &strings);
    g_autofree char *joined = g_strjoinv("", (char **)strings);
    g_ptr_array_add(out, g_steal_pointer(&joined));
  }
  g_list_free_full(lookup.records, (GDestroyNotify)g_variant_unref);
  g_ptr_array_add(out, NULL);
  return (char **)g_ptr_array_free(out, FALSE);
}

static const MmHandlersResolver system_resolver = {system_lookup, NULL};

const MmHandlersResolver *
mm_handlers_resolver_system(void)
{
  return &system_resolver;
}

MmHandlersResolver *
mm_handlers_resolver_new_system(gint64 lifetime_usec)
{
  MmHandlersResolver *resolver = g_new0(MmHandlersResolver, 1);
  gint64 *limit = g_new(gint64, 1);
  *limit = lifetime_usec > 0 ? lifetime_usec : SYSTEM_LOOKUP_USEC;
  resolver->lookup = system_lookup;
  resolver->user_data = limit;
  return resolver;
}

/* ---- fixture resolver ------------------------------------------------- */

/* name -> GPtrArray of TXT strings; a NULL array means "fail". */
static char **
fixture_lookup(gpointer user_data, const char *name, GError **error)
{
  GHashTable *records = user_data;
  g_autofree char *key = g_ascii_strdown(name, -1);
  gpointer value = NULL;

  if (!g_hash_table_lookup_extended(records, key, NULL, &value))
    return g_new0(char *, 1);
  if (value == NULL) {
    g_set_error(error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_TEMPORARY_FAILURE,
                "fixture: lookup of %s fails", name);
    return NULL;
  }
  GPtrArray *strings = value;
  char **out = g_new0(char *, strings->len + 1);
  for (guint i = 0; i < strings->len; i++)
    out[i] = g_strdup(strings->pdata[i]);
  return out;
}

static void
free_strings(gpointer data)
{
  if (data != NULL)
    g_ptr_array_unref(data);
}

MmHandlersResolver *
mm_handlers_resolver_new_from_file(const char *path, GError **error)
{
  g_autoptr(GBytes) bytes = mm_file_read_bounded(path, FIXTURE_MAX_LEN, error);
  if (bytes == NULL)
    return NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);
  g_autofree char *text = g_strndup(data != NULL ? data : "", len);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  GHashTable *records =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free_strings);

  for (char **line = lines; *line != NULL; line++) {
    g_strstrip(*line);
    if (**line == '\0' || **line == '#')
      continue;
    char *space = strpbrk(*line, " \t");
    g_autofree char *name =
        g_ascii_strdown(*line, space != NULL ? (gssize)(space - *line) : -1);
    const char *value = space != NULL ? g_strchug(space + 1) : "";
    if (g_str_equal(value, "!")) {
      g_hash_table_replace(records, g_steal_pointer(&name), NULL);
      continue;
    }
    GPtrArray *strings = g_hash_table_lookup(records, name);
    if (strings == NULL) {
      strings = g_ptr_array_new_with_free_func(g_free);
      g_hash_table_replace(records, g_strdup(name), strings);
    }
    g_ptr_array_add(strings, g_strdup(value));
  }
  MmHandlersResolver *resolver = g_new0(MmHandlersResolver, 1);
  resolver->lookup = fixture_lookup;
  resolver->user_data = records;
  return resolver;
}

void
mm_handlers_resolver_free(MmHandlersResolver *resolver)
{
  if (resolver == NULL)
    return;
  if (resolver->lookup == fixture_lookup)
    g_hash_table_unref(resolver->user_data);
  else if (resolver->lookup == system_lookup)
    g_free(resolver->user_data);
  g_free(resolver);
}

/* ---- public suffix list ------------------------------------------------ */

typedef struct {
  char *path;
  GHashTable *rules; /* reversed rule ("com.example") -> exception? */
} SuffixList;

static G_LOCK_DEFINE(suffix_lock);
static SuffixList suffix_list;

/* Loads @path once per process (a different path replaces the table:
 * tests use their own list).  Returns the table or NULL. */
static GHashTable *
suffix_rules(const char *path)
{
  G_LOCK(suffix_lock);
  if (suffix_list.path == NULL || !g_str_equal(suffix_list.path, path)) {
    g_clear_pointer(&suffix_list.rules, g_hash_table_unref);
    g_free(suffix_list.path);
    suffix_list.path = g_strdup(path);
    g_autoptr(GBytes) bytes = mm_file_read_bounded(path, PSL_MAX_LEN, NULL);
    if (bytes != NULL) {
      suffix_list.rules =
          g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
      gsize len = 0;
      const char *data = g_bytes_get_data(bytes, &len);
      g_autofree char *text = g_strndup(data != NULL ? data : "", len);
      g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
      for (char **line = lines; *line != NULL; line++) {
        if (g_str_has_prefix(*line, "//"))
          continue;
        char *end = strpbrk(*line, " \t\r");
        if (end != NULL)
          *end = '\0';
        if (**line == '\0')
          continue;
        gboolean exception = **line == '!';
        g_autofree char *lower =
            g_utf8_strdown(*line + (exception ? 1 : 0), -1);
        g_auto(GStrv) parts = g_strsplit(lower, ".", -1);
        guint n = g_strv_length(parts);
        for (guint i = 0; i < n / 2; i++) {
          char *tmp = parts[i];
          parts[i] = parts[n - 1 - i];
          parts[n - 1 - i] = tmp;
        }
        g_hash_table_replace(suffix_list.rules, g_strjoinv(".", parts),
                             GINT_TO_POINTER(exception));
      }
    }
  }
  GHashTable *rules = suffix_list.rules;
  G_UNLOCK(suffix_lock);
  return rules;
}

/* The last @labels + 1 labels of the domain whose labels, reversed, are
 * @parts (Mailman's get_domain()). */
static char *
domain_of(char **parts, guint n, guint labels)
{
  guint take = MIN(labels + 1, n);
  GString *out = g_string_new(NULL);
  for (guint i = take; i > 0; i--) {
    g_string_append(out, parts[i - 1]);
    if (i > 1)
      g_string_append_c(out, '.');
  }
  return g_string_free(out, FALSE);
}

static char *
organizational_domain(const char *domain, const char *psl_path)
{
  g_autofree char *lower = g_ascii_strdown(domain, -1);
  g_auto(GStrv) parts = g_strsplit(lower, ".", -1);
  guint n = g_strv_length(parts);
  for (guint i = 0; i < n / 2; i++) {
    char *tmp = parts[i];
    parts[i] = parts[n - 1 - i];
    parts[n - 1 - i] = tmp;
  }
  GHashTable *rules = suffix_rules(psl_path);
  if (rules == NULL)
    return domain_of(parts, n, 1);

  /* Rules match the domain's last k labels, the leftmost of them possibly
   * as "*".  The longest rule wins; an exception rule ("!") stops at its
   * own length. */
  guint longest = 0;
  GString *key = g_string_new(NULL);
  for (guint k = 1; k <= n; k++) {
    for (int wildcard = 0; wildcard <= 1; wildcard++) {
      g_string_truncate(key, 0);
      for (guint i = 0; i < k; i++) {
        if (i > 0)
          g_string_append_c(key, '.');
        g_string_append(key, wildcard && i == k - 1 ? "*" : parts[i]);
      }
      gpointer exception = NULL;
      if (!g_hash_table_lookup_extended(rules, key->str, NULL, &exception))
        continue;
      if (GPOINTER_TO_INT(exception)) {
        g_string_free(key, TRUE);
        return domain_of(parts, n, k - 1);
      }
      longest = MAX(longest, k);
    }
  }
  g_string_free(key, TRUE);
  return domain_of(parts, n, longest > 0 ? longest : 1);
}

/* ---- policy ----------------------------------------------------------- */

typedef enum {
  LOOKUP_KEEP_LOOKING,
  LOOKUP_NO,
  LOOKUP_YES,
} LookupAnswer;

/* The policy tag @tag ("p" or "sp") of @record, lower-case, or NULL
 * (Mailman's re.search(r'\bp=(\w*)\b', entry, re.I)). */
static char *
policy_tag(const char *record, const char *tag)
{
  g_autofree char *pattern = g_strdup_printf("\\b%s=(\\w*)\\b", tag);
  g_autoptr(GRegex) regex = g_regex_new(pattern, G_REGEX_CASELESS, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  if (!g_regex_match(regex, record, 0, &match))
    return NULL;
  g_autofree char *value = g_match_info_fetch(match, 1);
  return g_ascii_strdown(value, -1);
}

static LookupAnswer
reject_or_quarantine(const MmHandlersResolver *resolver, const char *name,
                     gboolean organizational,
                     MmHandlersDmarcPolicy *policy_out)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) records = resolver->lookup(resolver->user_data, name, &error);

  if (records == NULL) {
    mm_log_error("error", "DMARC: cannot look up %s: %s", name,
                 error != NULL ? error->message : "unknown error");
    *policy_out = MM_HANDLERS_DMARC_REJECT;
    return LOOKUP_YES;
  }
  g_autoptr(GPtrArray) dmarcs = g_ptr_array_new();
  for (char **r = records; *r != NULL; r++) {
    if (g_str_has_prefix(*r, "v=DMARC1;"))
      g_ptr_array_add(dmarcs, *r);
  }
  if (dmarcs->len == 0)
    return LOOKUP_KEEP_LOOKING;
  if (dmarcs->len > 1) {
    mm_log_error("error",
                 "DMARC: %s has %u v=DMARC1 records; ignoring them "
                 "(RFC 7489)",
                 name, dmarcs->len);
    return LOOKUP_NO;
  }
  const char *record = dmarcs->pdata[0];
  g_autofree char *policy = organizational ? policy_tag(record, "sp") : NULL;
  if (policy == NULL)
    policy = policy_tag(record, "p");
  if (policy == NULL)
    return LOOKUP_NO;
  if (g_str_equal(policy, "reject")) {
    *policy_out = MM_HANDLERS_DMARC_REJECT;
    return LOOKUP_YES;
  }
  if (g_str_equal(policy, "quarantine")) {
    *policy_out = MM_HANDLERS_DMARC_QUARANTINE;
    return LOOKUP_YES;
  }
  return LOOKUP_NO;
}

MmHandlersDmarcPolicy
mm_handlers_dmarc_policy_lookup(const MmHandlersResolver *resolver,
                                const char *domain, const char *psl_path)
{
  MmHandlersDmarcPolicy policy = MM_HANDLERS_DMARC_NONE;

  if (resolver == NULL)
    resolver = mm_handlers_resolver_system();
  if (domain == NULL || *domain == '\0')
    return MM_HANDLERS_DMARC_NONE;
  g_autofree char *name = g_strconcat("_dmarc.", domain, NULL);
  LookupAnswer answer = reject_or_quarantine(resolver, name, FALSE, &policy);
  if (answer != LOOKUP_KEEP_LOOKING)
    return answer == LOOKUP_YES ? policy : MM_HANDLERS_DMARC_NONE;

  g_autofree char *org =
      organizational_domain(domain, psl_path != NULL ? psl_path : DEFAULT_PSL);
  if (g_ascii_strcasecmp(org, domain) == 0)
    return MM_HANDLERS_DMARC_NONE;
  g_autofree char *org_name = g_strconcat("_dmarc.", org, NULL);
  answer = reject_or_quarantine(resolver, org_name, TRUE, &policy);
  return answer == LOOKUP_YES ? policy : MM_HANDLERS_DMARC_NONE;
}
