/* The public suffix list and the policy search of dmarc.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "dmarc.h"

#include <string.h>

#include "base-file.h"
#include "base-log.h"

#define PSL_MAX_LEN (16 * 1024 * 1024)

/* ---- public suffix list ------------------------------------------------ */

typedef struct {
  char *path;
  GHashTable *rules; /* reversed rule ("uk.co", "jp.kobe.*") -> exception? */
} SuffixList;

/* The labels of @domain, last first ("mail.example.com" -> com, example,
 * mail), as the list's rules are keyed; their count in @n_out (may be
 * NULL). */
static char **
reversed_labels(const char *domain, guint *n_out)
{
  char **parts = g_strsplit(domain, ".", -1);
  guint n = g_strv_length(parts);
  for (guint i = 0; i < n / 2; i++) {
    char *tmp = parts[i];
    parts[i] = parts[n - 1 - i];
    parts[n - 1 - i] = tmp;
  }
  if (n_out != NULL)
    *n_out = n;
  return parts;
}

/* One parsed list per process (a different path replaces it: tests use
 * their own), behind a lock so that callers on any thread may ask. */
static G_LOCK_DEFINE(suffix_lock);
static SuffixList suffix_list;

/* Loads @path once.  Returns the table, or NULL when it cannot be read.
 * The table stays valid until another path is loaded. */
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
        /* A rule ends at the first white space; "//" starts a comment. */
        if (g_str_has_prefix(*line, "//"))
          continue;
        char *end = strpbrk(*line, " \t\r\f\v");
        if (end != NULL)
          *end = '\0';
        if (**line == '\0')
          continue;
        gboolean exception = **line == '!';
        g_autofree char *lower =
            g_utf8_strdown(*line + (exception ? 1 : 0), -1);
        g_auto(GStrv) parts = reversed_labels(lower, NULL);
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

char *
mm_dmarc_organizational_domain(const char *domain, const char *psl_path)
{
  g_autofree char *lower = g_ascii_strdown(domain, -1);
  guint n = 0;
  g_auto(GStrv) parts = reversed_labels(lower, &n);
  GHashTable *rules =
      suffix_rules(psl_path != NULL ? psl_path : MM_DMARC_PSL_SYSTEM_PATH);
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
reject_or_quarantine(const MmDmarcResolver *resolver, const char *name,
                     gboolean organizational, MmDmarcPolicy *policy_out,
                     MmDmarcFinding *finding)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) records = resolver->lookup(resolver->user_data, name, &error);

  if (records == NULL) {
    g_autofree char *shown = mm_log_escape(name, -1);
    mm_log_error("error",
                 "DMARC: cannot look up %s, taking the policy as reject: %s",
                 shown, error != NULL ? error->message : "unknown error");
    *policy_out = MM_DMARC_REJECT;
    finding->name = g_strdup(name);
    finding->failed = TRUE;
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
    g_autofree char *shown = mm_log_escape(name, -1);
    mm_log_error("error",
                 "DMARC: %s has %u v=DMARC1 records; ignoring them "
                 "(RFC 7489 6.6.3)",
                 shown, dmarcs->len);
    return LOOKUP_NO;
  }
  const char *record = dmarcs->pdata[0];
  g_autofree char *policy = organizational ? policy_tag(record, "sp") : NULL;
  if (policy == NULL)
    policy = policy_tag(record, "p");
  if (policy == NULL)
    return LOOKUP_NO;
  if (g_str_equal(policy, "reject"))
    *policy_out = MM_DMARC_REJECT;
  else if (g_str_equal(policy, "quarantine"))
    *policy_out = MM_DMARC_QUARANTINE;
  else
    return LOOKUP_NO;
  finding->name = g_strdup(name);
  finding->record = g_strdup(record);
  return LOOKUP_YES;
}

void
mm_dmarc_finding_clear(MmDmarcFinding *finding)
{
  if (finding == NULL)
    return;
  g_clear_pointer(&finding->name, g_free);
  g_clear_pointer(&finding->record, g_free);
  finding->failed = FALSE;
}

MmDmarcPolicy
mm_dmarc_policy_lookup(const MmDmarcResolver *resolver, const char *domain,
                       const char *psl_path, MmDmarcFinding *finding)
{
  MmDmarcFinding local = {0};
  MmDmarcPolicy policy = MM_DMARC_NONE;

  if (finding == NULL)
    finding = &local;
  if (resolver == NULL)
    resolver = mm_dmarc_resolver_system();
  if (domain == NULL || *domain == '\0')
    return MM_DMARC_NONE;
  g_autofree char *name = g_strconcat("_dmarc.", domain, NULL);
  LookupAnswer answer =
      reject_or_quarantine(resolver, name, FALSE, &policy, finding);
  if (answer == LOOKUP_KEEP_LOOKING) {
    g_autofree char *org = mm_dmarc_organizational_domain(domain, psl_path);
    if (g_ascii_strcasecmp(org, domain) != 0) {
      g_autofree char *org_name = g_strconcat("_dmarc.", org, NULL);
      answer = reject_or_quarantine(resolver, org_name, TRUE, &policy,
                                    finding);
    }
  }
  mm_dmarc_finding_clear(&local);
  return answer == LOOKUP_YES ? policy : MM_DMARC_NONE;
}
