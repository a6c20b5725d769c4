/* dmarc-mitigation: the From domain publishes a DMARC policy of reject or
 * quarantine (Mailman's rules/dmarc.py).
 *
 * The policy is read from _dmarc.<domain> TXT, else from the
 * organizational domain's record (public suffix list; its sp= before its
 * p=).  No record at a name means "keep looking"; several v=DMARC1
 * records at one name are ignored (RFC 7489 6.6.3, logged); a failed
 * lookup counts as reject, so the list errs on the side of mitigation.
 * When the list's dmarc_mitigate_action is reject or discard the rule hits
 * and "dmarc_action" tells the dmarc chain which; for munge_from and
 * wrap_message it misses but sets metadata "dmarc" for the pipeline's
 * dmarc handler.
 *
 * XXX: Mailman downloads the public suffix list ([dmarc]
 * org_domain_data_url) into var_dir; this build reads a copy already
 * there, else the publicsuffix package's file, else takes the last two
 * labels of the domain.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

#include "base-file.h"

#define PSL_SYSTEM_PATH "/usr/share/publicsuffix/public_suffix_list.dat"
#define PSL_MAX_LEN (8 * 1024 * 1024)
#define PSL_CACHE_NAME "public_suffix_list.dat"

typedef enum { DMARC_NO, DMARC_YES, DMARC_KEEP_LOOKING } DmarcAnswer;

/* The parsed list: reversed-label key ("uk.co", "jp.kobe.*") -> TRUE for
 * an exception rule.  One per process, for the path it was read from. */
static GHashTable *psl_cache;
static char *psl_cache_path;

static GHashTable *
psl_load(const char *path)
{
  if (psl_cache != NULL && g_strcmp0(psl_cache_path, path) == 0)
    return psl_cache;
  g_clear_pointer(&psl_cache, g_hash_table_unref);
  g_clear_pointer(&psl_cache_path, g_free);
  psl_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  psl_cache_path = g_strdup(path);
  if (path == NULL)
    return psl_cache;
  g_autoptr(GBytes) bytes = mm_file_read_bounded(path, PSL_MAX_LEN, NULL);
  if (bytes == NULL)
    return psl_cache;
  gsize len;
  const char *data = g_bytes_get_data(bytes, &len);
  g_autofree char *text = g_strndup(data, len);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (char **l = lines; *l != NULL; l++) {
    char *line = *l;
    /* The rule ends at the first white space; comments start with "//". */
    char *end = strpbrk(line, " \t\r\f\v");
    if (end != NULL)
      *end = '\0';
    if (line[0] == '\0' || g_str_has_prefix(line, "//"))
      continue;
    gboolean exception = line[0] == '!';
    g_autofree char *lower = g_utf8_strdown(exception ? line + 1 : line, -1);
    g_auto(GStrv) labels = g_strsplit(lower, ".", -1);
    guint n = g_strv_length(labels);
    GString *key = g_string_new(NULL);
    for (guint i = n; i > 0; i--) {
      if (key->len > 0)
        g_string_append_c(key, '.');
      g_string_append(key, labels[i - 1]);
    }
    g_hash_table_replace(psl_cache, g_string_free(key, FALSE),
                         GINT_TO_POINTER(exception));
  }
  return psl_cache;
}

/* The domain made of the first @count reversed labels of @parts. */
static char *
domain_of(char **parts, guint n, guint count)
{
  count = MIN(count, n);
  GString *out = g_string_new(NULL);
  for (guint i = count; i > 0; i--) {
    if (out->len > 0)
      g_string_append_c(out, '.');
    g_string_append(out, parts[i - 1]);
  }
  return g_string_free(out, FALSE);
}

/* Mailman's get_organizational_domain(). */
static char *
organizational_domain(const char *psl_path, const char *domain)
{
  GHashTable *psl = psl_load(psl_path);
  g_autofree char *lower = g_ascii_strdown(domain, -1);
  g_auto(GStrv) labels = g_strsplit(lower, ".", -1);
  guint n = g_strv_length(labels);
  /* Reversed: "mail.example.co.uk" -> uk, co, example, mail. */
  g_autofree char **parts = g_new0(char *, n + 1);
  for (guint i = 0; i < n; i++)
    parts[i] = labels[n - 1 - i];

  guint label = 0;
  gboolean hit = FALSE;
  GString *prefix = g_string_new(NULL);
  for (guint k = 1; k <= n; k++) {
    /* The PSL's wildcards stand for the leftmost label, the last of a
     * reversed key. */
    g_autofree char *wild = g_strconcat(prefix->str, prefix->len ? "." : "",
                                        "*", NULL);
    if (prefix->len > 0)
      g_string_append_c(prefix, '.');
    g_string_append(prefix, parts[k - 1]);
    const char *candidates[] = {prefix->str, wild};
    for (gsize c = 0; c < G_N_ELEMENTS(candidates); c++) {
      gpointer exception;
      if (!g_hash_table_lookup_extended(psl, candidates[c], NULL, &exception))
        continue;
      hit = TRUE;
      if (GPOINTER_TO_INT(exception)) {
        g_string_free(prefix, TRUE);
        return domain_of(parts, n, k - 1);
      }
      label = MAX(label, k);
    }
  }
  g_string_free(prefix, TRUE);
  return domain_of(parts, n, hit ? label + 1 : 2);
}

static DmarcAnswer
lookup_policy(MmPost *post, const char *email, const char *dmarc_domain,
              gboolean org)
{
  const MmRulesResolver *resolver =
      post->resolver != NULL ? post->resolver : mm_rules_resolver_system();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) records =
      resolver->lookup(resolver->user_data, dmarc_domain, &error);
  if (records == NULL) {
    g_autofree char *shown = mm_log_escape(email, -1);
    mm_log_error("error",
                 "DNSException: Unable to query DMARC policy for %s (%s). %s",
                 shown, dmarc_domain,
                 error != NULL ? error->message : "unknown error");
    return DMARC_YES;
  }
  if (records[0] == NULL)
    return DMARC_KEEP_LOOKING;
  g_autoptr(GPtrArray) dmarcs = g_ptr_array_new();
  for (char **r = records; *r != NULL; r++)
    if (g_str_has_prefix(*r, "v=DMARC1;"))
      g_ptr_array_add(dmarcs, *r);
  if (dmarcs->len == 0)
    return DMARC_KEEP_LOOKING;
  if (dmarcs->len > 1) {
    mm_log_error("error",
                 "RRset of TXT records for %s has %u v=DMARC1 entries; "
                 "ignoring them per RFC 7849",
                 dmarc_domain, dmarcs->len);
    return DMARC_NO;
  }
  const char *entry = dmarcs->pdata[0];
  g_autofree char *policy = NULL;
  g_autoptr(GMatchInfo) match = NULL;
  if (org) {
    g_autoptr(GRegex) sp = g_regex_new("\\bsp=(\\w*)\\b", G_REGEX_CASELESS,
                                       0, NULL);
    if (g_regex_match(sp, entry, 0, &match))
      policy = g_match_info_fetch(match, 1);
  }
  if (policy == NULL) {
    g_clear_pointer(&match, g_match_info_free);
    g_autoptr(GRegex) p =
        g_regex_new("\\bp=(\\w*)\\b", G_REGEX_CASELESS, 0, NULL);
    if (g_regex_match(p, entry, 0, &match))
      policy = g_match_info_fetch(match, 1);
  }
  if (policy == NULL)
    return DMARC_NO;
  g_autofree char *lower = g_ascii_strdown(policy, -1);
  if (strcmp(lower, "reject") == 0 || strcmp(lower, "quarantine") == 0) {
    g_autofree char *shown = mm_log_escape(email, -1);
    g_autofree char *shown_entry = mm_log_escape(entry, -1);
    mm_log_info("vette", "%s: DMARC lookup for %s (%s) found p=%s in %s. = %s",
                post->list->list_name, shown, dmarc_domain, lower,
                dmarc_domain, shown_entry);
    return DMARC_YES;
  }
  return DMARC_NO;
}

static const char *
psl_path_for(MmPost *post, char **owned)
{
  if (post->psl_path != NULL)
    return post->psl_path;
  const char *var_dir =
      post->config != NULL ? mm_config_path(post->config, "var_dir") : NULL;
  if (var_dir != NULL) {
    *owned = g_build_filename(var_dir, PSL_CACHE_NAME, NULL);
    if (g_file_test(*owned, G_FILE_TEST_IS_REGULAR))
      return *owned;
  }
  return PSL_SYSTEM_PATH;
}

/* Mailman's maybe_mitigate(). */
static gboolean
maybe_mitigate(MmPost *post, const char *address)
{
  g_autofree char *email = g_utf8_strdown(address, -1);
  const char *at = strrchr(email, '@');
  if (at == NULL || at[1] == '\0')
    return FALSE;
  const char *from_domain = at + 1;
  g_autofree char *name = g_strconcat("_dmarc.", from_domain, NULL);
  DmarcAnswer answer = lookup_policy(post, email, name, FALSE);
  if (answer != DMARC_KEEP_LOOKING)
    return answer == DMARC_YES;
  g_autofree char *owned = NULL;
  g_autofree char *org =
      organizational_domain(psl_path_for(post, &owned), from_domain);
  if (strcmp(org, from_domain) != 0) {
    g_autofree char *org_name = g_strconcat("_dmarc.", org, NULL);
    answer = lookup_policy(post, email, org_name, TRUE);
    if (answer != DMARC_KEEP_LOOKING)
      return answer == DMARC_YES;
  }
  return FALSE;
}

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = FALSE;
  const char *action = mm_rules_list_setting(post, "dmarc_mitigate_action");
  if (action[0] == '\0' || strcmp(action, "no_mitigation") == 0)
    return TRUE;
  g_autofree char *from = mm_rules_post_header(post, "From");
  if (from == NULL)
    return TRUE;
  g_autoptr(InternetAddressList) list = internet_address_list_parse(NULL, from);
  const char *address = NULL;
  for (int i = 0; list != NULL && i < internet_address_list_length(list);
       i++) {
    InternetAddress *a = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
      address = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
      break;
    }
  }
  if (address == NULL || !maybe_mitigate(post, address))
    return TRUE;

  json_object_set_new(post->meta, "dmarc", json_true());
  g_autofree char *lower = g_utf8_strdown(address, -1);
  if (strcmp(action, "discard") == 0) {
    json_object_set_new(post->meta, "dmarc_action", json_string("discard"));
    mm_rules_post_add_reason(post, lower, "DMARC moderation");
  } else if (strcmp(action, "reject") == 0) {
    const char *notice = mm_rules_list_setting(post, "dmarc_moderation_notice");
    g_autofree char *reason = NULL;
    if (notice[0] != '\0')
      reason = g_strdup(notice);
    else
      reason = g_strdup_printf(
          "This list does not accept posts From: a domain whose DMARC "
          "policy is reject or quarantine, so your message was rejected.  "
          "If you think this is a mistake, write to the list owner at %s.",
          mm_rules_list_setting(post, "owner_address"));
    json_object_set_new(post->meta, "dmarc_action", json_string("reject"));
    mm_rules_post_add_reason(post, lower, reason);
  } else {
    /* munge_from, wrap_message: the pipeline's dmarc handler acts. */
    return TRUE;
  }
  *hit_out = TRUE;
  return TRUE;
}

const MmRule mm_rule_dmarc_mitigation = {
    "dmarc-mitigation", "Find DMARC policy of From: domain.", TRUE, check,
};
