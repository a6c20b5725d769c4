/* VERP decoding (Mailman's StandardVERP and ProbeVERP, app/bounces.py).
 *
 * The envelope recipient of a bounce is not in the message we queue, so,
 * like Mailman, we read the VERP address back from the fields MTAs write
 * it into: To (the bounce is addressed to the original envelope sender),
 * Delivered-To (Postfix local, qmail), Envelope-To (Exim), Apparently-To,
 * and X-Original-To (Postfix local/pipe; not read by Mailman, harmless:
 * the address must still match the pattern and name this list).
 *
 * The patterns are the site's [mta] verp_regexp and verp_probe_regexp,
 * written in Python's syntax; PCRE, behind GRegex, reads the (?P<name>...)
 * groups they use.  Departures from Mailman, each because Mailman's result
 * would be an address no member has:
 *   - a quoted local part is unquoted before matching, so
 *     "list-bounces+john doe=example.com"@host and
 *     list-bounces+"john doe"=example.com@host both decode;
 *   - the member's local part and domain are split at the last '=', not
 *     the first (the default pattern's [^=]+ cuts "a=b=example.com" into
 *     "a" and "b=example.com");
 *   - the bounces group is compared ignoring case (LMTP folds case too);
 *   - an IDN domain is returned in ASCII, as member addresses are stored.
 * The decoded local part is quoted when it is not a dot-atom.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

#include <string.h>

#include "base-error.h"

struct MmBounceVerp {
  GRegex *standard;
  GRegex *probe; /* may be NULL */
};

/* Fields the decoded addresses come from, Mailman's four first. */
static const char *const verp_fields[] = {
    "To", "Delivered-To", "Envelope-To", "Apparently-To", "X-Original-To",
};

#define MAX_ADDRESSES_PER_FIELD 100

static GRegex *
compile(const char *pattern, const char *const *groups, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GRegex) regex =
      g_regex_new(pattern, G_REGEX_CASELESS, 0, &local_error);

  if (regex == NULL) {
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                "bad VERP pattern %s: %s", pattern, local_error->message);
    return NULL;
  }
  for (const char *const *g = groups; *g != NULL; g++)
    if (g_regex_get_string_number(regex, *g) < 0) {
      g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                  "bad VERP pattern %s: no group named %s", pattern, *g);
      return NULL;
    }
  return g_steal_pointer(&regex);
}

MmBounceVerp *
mm_bounce_verp_new(const char *verp_regexp, const char *probe_regexp,
                   GError **error)
{
  static const char *const standard_groups[] = {"bounces", "local", "domain",
                                                NULL};
  static const char *const probe_groups[] = {"bounces", "token", NULL};

  g_return_val_if_fail(verp_regexp != NULL, NULL);
  MmBounceVerp *verp = g_new0(MmBounceVerp, 1);
  verp->standard = compile(verp_regexp, standard_groups, error);
  if (verp->standard != NULL && probe_regexp != NULL && *probe_regexp != '\0')
    verp->probe = compile(probe_regexp, probe_groups, error);
  if (verp->standard == NULL ||
      (probe_regexp != NULL && *probe_regexp != '\0' && verp->probe == NULL)) {
    mm_bounce_verp_free(verp);
    return NULL;
  }
  return verp;
}

void
mm_bounce_verp_free(MmBounceVerp *verp)
{
  if (verp == NULL)
    return;
  g_clear_pointer(&verp->standard, g_regex_unref);
  g_clear_pointer(&verp->probe, g_regex_unref);
  g_free(verp);
}

/* Removes the double quotes of quoted strings (and their backslash
 * escapes) from an addr-spec.  Transfer full. */
static char *
dequote(const char *address)
{
  GString *out = g_string_new(NULL);
  gboolean quoted = FALSE;

  for (const char *p = address; *p != '\0'; p++) {
    if (*p == '"') {
      quoted = !quoted;
      continue;
    }
    if (*p == '\\' && quoted && p[1] != '\0')
      p++;
    g_string_append_c(out, *p);
  }
  return g_string_free(out, FALSE);
}

/* The addr-specs of an address-list field value: the contents of <...>
 * when there are angle brackets, else each comma-separated item; comments
 * dropped, quoted strings kept as they are. */
static void
field_addresses(const char *value, GPtrArray *out)
{
  GString *item = g_string_new(NULL);
  GString *angle = NULL;
  gboolean quoted = FALSE;
  int comment = 0;
  guint count = 0;

  for (const char *p = value;; p++) {
    char c = *p;
    if (c == '\0' || (c == ',' && !quoted && comment == 0 && angle == NULL)) {
      g_strstrip(item->str);
      const char *text = item->str;
      if (*text != '\0' && strchr(text, '@') != NULL &&
          count++ < MAX_ADDRESSES_PER_FIELD)
        g_ptr_array_add(out, g_strdup(text));
      g_string_truncate(item, 0);
      if (c == '\0')
        break;
      continue;
    }
    if (quoted) {
      g_string_append_c(angle ? angle : item, c);
      if (c == '\\' && p[1] != '\0')
        g_string_append_c(angle ? angle : item, *++p);
      else if (c == '"')
        quoted = FALSE;
      continue;
    }
    if (comment > 0) {
      if (c == '(')
        comment++;
      else if (c == ')')
        comment--;
      else if (c == '\\' && p[1] != '\0')
        p++;
      continue;
    }
    switch (c) {
    case '"':
      quoted = TRUE;
      g_string_append_c(angle ? angle : item, c);
      break;
    case '(':
      comment = 1;
      break;
    case '<':
      /* A display name before it is not part of the address. */
      if (angle != NULL)
        g_string_free(angle, TRUE);
      angle = g_string_new(NULL);
      break;
    case '>':
      if (angle != NULL) {
        g_string_assign(item, angle->str);
        g_string_free(angle, TRUE);
        angle = NULL;
      }
      break;
    default:
      g_string_append_c(angle ? angle : item, c);
      break;
    }
  }
  if (angle != NULL)
    g_string_free(angle, TRUE);
  g_string_free(item, TRUE);
}

/* Matches @plain (a dequoted address) against @regex and checks its
 * bounces group.  Returns the match (transfer full) or NULL.  The match
 * points into @plain (GRegex does not copy the subject), so @plain must
 * outlive it. */
static GMatchInfo *
match_for_list(GRegex *regex, const char *plain, const char *bounces_local)
{
  GMatchInfo *info = NULL;

  if (!g_utf8_validate(plain, -1, NULL) ||
      !g_regex_match(regex, plain, 0, &info)) {
    g_clear_pointer(&info, g_match_info_free);
    return NULL;
  }
  g_autofree char *bounces = g_match_info_fetch_named(info, "bounces");
  if (bounces == NULL || g_ascii_strcasecmp(bounces, bounces_local) != 0) {
    g_match_info_free(info);
    return NULL;
  }
  return info;
}

char *
mm_bounce_verp_decode_address(const MmBounceVerp *verp, const char *address,
                              const char *bounces_local)
{
  g_return_val_if_fail(verp != NULL && address != NULL, NULL);
  if (bounces_local == NULL)
    return NULL;
  g_autofree char *plain = dequote(address);
  g_autoptr(GMatchInfo) info =
      match_for_list(verp->standard, plain, bounces_local);
  if (info == NULL)
    return NULL;
  g_autofree char *local = g_match_info_fetch_named(info, "local");
  g_autofree char *domain = g_match_info_fetch_named(info, "domain");
  if (local == NULL || domain == NULL)
    return NULL;

  /* A domain never holds '=': if the pattern's domain group took one, the
   * member's local part had it (file comment). */
  char *last_eq = strrchr(domain, '=');
  if (last_eq != NULL) {
    *last_eq = '\0';
    char *joined = g_strconcat(local, "=", domain, NULL);
    char *rest = g_strdup(last_eq + 1);
    g_free(local);
    g_free(domain);
    local = joined;
    domain = rest;
  }
  if (*local == '\0' || *domain == '\0')
    return NULL;
  g_autofree char *quoted = mm_bounce_local_quote(local);
  if (quoted == NULL)
    return NULL;
  g_autofree char *joined = g_strdup_printf("%s@%s", quoted, domain);
  return mm_bounce_address_normalize(joined, -1);
}

/* Every address of every VERP field, in order. */
static GPtrArray *
verp_field_addresses(const MmBounceMessage *message)
{
  GPtrArray *addresses = g_ptr_array_new_with_free_func(g_free);

  for (guint i = 0; i < message->headers->len; i++) {
    const MmBounceHeader *header = message->headers->pdata[i];
    for (gsize f = 0; f < G_N_ELEMENTS(verp_fields); f++)
      if (g_ascii_strcasecmp(header->name, verp_fields[f]) == 0)
        field_addresses(header->value, addresses);
  }
  return addresses;
}

static void
add_once(GPtrArray *list, char *address)
{
  for (guint i = 0; i < list->len; i++)
    if (g_ascii_strcasecmp(list->pdata[i], address) == 0) {
      g_free(address);
      return;
    }
  g_ptr_array_add(list, address);
}

GPtrArray *
mm_bounce_verp_addresses(const MmBounceVerp *verp,
                         const MmBounceMessage *message,
                         const char *bounces_local)
{
  GPtrArray *found = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) addresses = verp_field_addresses(message);

  for (guint i = 0; i < addresses->len; i++) {
    char *decoded =
        mm_bounce_verp_decode_address(verp, addresses->pdata[i], bounces_local);
    if (decoded != NULL)
      add_once(found, decoded);
  }
  return found;
}

GPtrArray *
mm_bounce_verp_probe_tokens(const MmBounceVerp *verp,
                            const MmBounceMessage *message,
                            const char *bounces_local)
{
  GPtrArray *tokens = g_ptr_array_new_with_free_func(g_free);

  if (verp->probe == NULL || bounces_local == NULL)
    return tokens;
  g_autoptr(GPtrArray) addresses = verp_field_addresses(message);
  for (guint i = 0; i < addresses->len; i++) {
    g_autofree char *plain = dequote(addresses->pdata[i]);
    g_autoptr(GMatchInfo) info =
        match_for_list(verp->probe, plain, bounces_local);
    if (info == NULL)
      continue;
    char *token = g_match_info_fetch_named(info, "token");
    if (token != NULL && *token != '\0')
      add_once(tokens, token);
    else
      g_free(token);
  }
  return tokens;
}
