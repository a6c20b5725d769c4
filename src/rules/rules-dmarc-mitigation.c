/* dmarc-mitigation: the From domain publishes a DMARC policy of reject or
 * quarantine (Mailman's rules/dmarc.py).
 *
 * The policy comes from mm_dmarc_policy_lookup() (src/dmarc/: _dmarc.<domain>,
 * else the organizational domain's record; a failed lookup counts as
 * reject, so the list errs on the side of mitigation); a reject or
 * quarantine policy found in a record is logged to vette.
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

#define PSL_CACHE_NAME "public_suffix_list.dat"

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
  return MM_DMARC_PSL_SYSTEM_PATH;
}

/* Mailman's maybe_mitigate(): does the From domain ask for mitigation? */
static gboolean
maybe_mitigate(MmPost *post, const char *address)
{
  g_autofree char *email = g_utf8_strdown(address, -1);
  const char *at = strrchr(email, '@');
  if (at == NULL || at[1] == '\0')
    return FALSE;
  g_autoptr(MmDmarcResolver) own = NULL;
  const MmDmarcResolver *resolver = post->resolver;
  if (resolver == NULL) {
    own = mm_dmarc_resolver_new_system(
        post->config != NULL ? mm_config_get_duration_usec(
                                   post->config, "dmarc", "resolver_lifetime")
                             : 0);
    resolver = own;
  }
  g_autofree char *owned = NULL;
  MmDmarcFinding finding = {0};
  MmDmarcPolicy policy = mm_dmarc_policy_lookup(
      resolver, at + 1, psl_path_for(post, &owned), &finding);
  if (policy != MM_DMARC_NONE && finding.record != NULL) {
    g_autofree char *shown = mm_log_escape(email, -1);
    g_autofree char *shown_record = mm_log_escape(finding.record, -1);
    mm_log_info("vette", "%s: DMARC lookup for %s (%s) found p=%s in %s. = %s",
                post->list->list_name, shown, finding.name,
                policy == MM_DMARC_REJECT ? "reject" : "quarantine",
                finding.name, shown_record);
  }
  mm_dmarc_finding_clear(&finding);
  return policy != MM_DMARC_NONE;
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
