/* Mailing-list settings: one table of Mailman 3 names, types and defaults,
 * and the text forms they are read and written in.
 *
 * Names and types follow mailman/model/mailinglist.py and the REST API
 * (mailman/rest/listconf.py); defaults are those of the legacy-default
 * style (mailman/styles/base.py: Identity, BasicOperation, Bounces, Public,
 * Discussion, Moderation), which is what `mailman create` applies.  Each
 * setting lives in the mailinglist column of the same name (created by
 * migration 1 in storage-schema.c; test-storage.c checks that every entry
 * here has its column).
 *
 * Text forms, chosen to read like Mailman's REST API: booleans "True" /
 * "False" (any of lazr.config's yes/no/true/false/on/off/1/0 accepted),
 * enums by Mailman's names ("hold", "confirm_then_moderate"), intervals as
 * lazr.config writes them ("7d", "1d12h"), floats like Python's repr
 * ("30.0"), dates as ISO 8601 UTC, NULL as "".
 *
 * Not in this table: the list-valued settings (accept/hold/reject/
 * discard_these_nonmembers, acceptable_aliases, header_matches) and
 * moderator_password, which have functions of their own
 * (storage-listdata.c, migration 2).  XXX: the *_uri template settings have
 * no home yet.  bounce_matching_headers
 * defaults to "" rather than Mailman's sample text.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

#include "base-address.h"
#include "config.h"

#include <math.h>
#include <string.h>

/* Free text settings (autoresponse texts, notices) can be long, but not
 * unboundedly: every list read carries them. */
#define SETTING_TEXT_MAX_LEN (64 * 1024)
#define SETTING_LINE_MAX_LEN 1024
/* Intervals: a hundred years is plenty and keeps the sums far from
 * overflow. */
#define INTERVAL_MAX_SEC ((gint64)100 * 366 * 24 * 3600)

/* ---- Enumerations (Mailman's integer values, which are what is stored) */

const MmEnumName mm_store_action_names[] = {
    {"hold", MM_ACTION_HOLD},       {"reject", MM_ACTION_REJECT},
    {"discard", MM_ACTION_DISCARD}, {"accept", MM_ACTION_ACCEPT},
    {"defer", MM_ACTION_DEFER},     {NULL, 0},
};

/* mailman.interfaces.action.FilterAction (the one the list uses). */
static const MmEnumName filter_action_names[] = {
    {"hold", 0},    {"reject", 1},  {"discard", 2},  {"accept", 3},
    {"defer", 4},   {"forward", 5}, {"preserve", 6}, {NULL, 0},
};

const MmEnumName mm_store_delivery_mode_names[] = {
    {"regular", MM_DELIVERY_REGULAR},
    {"plaintext_digests", MM_DELIVERY_PLAINTEXT_DIGESTS},
    {"mime_digests", MM_DELIVERY_MIME_DIGESTS},
    {"summary_digests", MM_DELIVERY_SUMMARY_DIGESTS},
    {NULL, 0},
};

const MmEnumName mm_store_delivery_status_names[] = {
    {"enabled", MM_STATUS_ENABLED},
    {"by_user", MM_STATUS_BY_USER},
    {"by_bounces", MM_STATUS_BY_BOUNCES},
    {"by_moderator", MM_STATUS_BY_MODERATOR},
    {"unknown", MM_STATUS_UNKNOWN},
    {NULL, 0},
};

const MmEnumName mm_store_role_names[] = {
    {"member", MM_ROLE_MEMBER},
    {"owner", MM_ROLE_OWNER},
    {"moderator", MM_ROLE_MODERATOR},
    {"nonmember", MM_ROLE_NONMEMBER},
    {NULL, 0},
};

static const MmEnumName subscription_policy_names[] = {
    {"open", 0}, {"confirm", 1}, {"moderate", 2}, {"confirm_then_moderate", 3},
    {NULL, 0},
};

static const MmEnumName reply_to_munging_names[] = {
    {"no_munging", 0},
    {"point_to_list", 1},
    {"explicit_header", 2},
    {"explicit_header_only", 3},
    {NULL, 0},
};

static const MmEnumName personalization_names[] = {
    {"none", 0}, {"individual", 1}, {"full", 2}, {NULL, 0},
};

static const MmEnumName archive_policy_names[] = {
    {"never", 0}, {"private", 1}, {"public", 2}, {NULL, 0},
};

static const MmEnumName dmarc_action_names[] = {
    {"no_mitigation", 0}, {"munge_from", 1}, {"wrap_message", 2},
    {"reject", 3},        {"discard", 4},    {NULL, 0},
};

static const MmEnumName digest_frequency_names[] = {
    {"yearly", 0}, {"monthly", 1}, {"quarterly", 2},
    {"weekly", 3}, {"daily", 4},   {NULL, 0},
};

static const MmEnumName response_action_names[] = {
    {"none", 0}, {"respond_and_discard", 1}, {"respond_and_continue", 2},
    {NULL, 0},
};

static const MmEnumName bounce_disposition_names[] = {
    {"discard", 0}, {"administrators", 1}, {"site_owner", 2}, {NULL, 0},
};

static const MmEnumName newsgroup_moderation_names[] = {
    {"none", 0}, {"open_moderated", 1}, {"moderated", 2}, {NULL, 0},
};

static const MmEnumName roster_visibility_names[] = {
    {"public", 0}, {"members", 1}, {"moderators", 2}, {NULL, 0},
};

static const MmEnumName rendering_mode_names[] = {
    {"text", 1}, {"markdown", 2}, {NULL, 0},
};

/* ---- The table ------------------------------------------------------- */

/* The UPDATE is spelled out at compile time from the name, so no SQL is
 * ever assembled at run time; the name is also the column. */
#define SET(name, type, def, names, flags)                                    \
  {#name, MM_SETTING_##type, def, names, flags,                               \
   "UPDATE mailinglist SET " #name " = ?1 WHERE id = ?2"}
#define BOOL(name, def) SET(name, BOOL, def, NULL, 0)
#define INT(name, def) SET(name, INT, def, NULL, 0)
#define ENUM(name, def, names) SET(name, ENUM, def, names, 0)
#define TEXT(name, def) SET(name, STRING, def, NULL, 0)
#define LINE(name, def) SET(name, STRING, def, NULL, MM_SETTING_SINGLE_LINE)
#define INTERVAL(name, def) SET(name, INTERVAL, def, NULL, 0)
#define IDENT(name, def) SET(name, STRING, def, NULL, MM_SETTING_IDENTIFIER)
/* Read-only: stored, shown, changed only by the core itself. */
#define RO(name, type) {#name, MM_SETTING_##type, NULL, NULL, MM_SETTING_READ_ONLY, NULL}
/* Derived from the list's name; no column. */
#define DERIVED(name)                                                         \
  {#name, MM_SETTING_STRING, NULL, NULL,                                      \
   MM_SETTING_READ_ONLY | MM_SETTING_DERIVED, NULL}

static const MmSetting settings[] = {
    /* Identity (styles/base.py Identity, Public, Discussion).  display_name
     * and subject_prefix default to the capitalized list name and
     * "[Display_name] ", computed at creation. */
    SET(display_name, STRING, NULL, NULL, MM_SETTING_SINGLE_LINE),
    LINE(description, ""),
    TEXT(info, ""),
    SET(subject_prefix, STRING, NULL, NULL, MM_SETTING_SINGLE_LINE),
    SET(preferred_language, STRING, "en", NULL, MM_SETTING_LANGUAGE),
    BOOL(advertised, "True"),
    BOOL(include_rfc2369_headers, "True"),
    BOOL(allow_list_posts, "True"),
    BOOL(anonymous_list, "False"),
    /* English is us-ascii, so Mailman leaves ASCII prefixes unencoded. */
    BOOL(encode_ascii_prefixes, "False"),
    BOOL(send_welcome_message, "True"),
    BOOL(send_goodbye_message, "True"),

    /* Posting and moderation (BasicOperation, Moderation). */
    BOOL(emergency, "False"),
    ENUM(default_member_action, "defer", mm_store_action_names),
    ENUM(default_nonmember_action, "hold", mm_store_action_names),
    BOOL(administrivia, "True"),
    BOOL(require_explicit_destination, "True"),
    INT(max_num_recipients, "10"),
    INT(max_message_size, "40"), /* KB */
    INT(max_days_to_hold, "0"),
    BOOL(respond_to_post_requests, "True"),
    BOOL(admin_immed_notify, "True"),
    BOOL(admin_notify_mchanges, "False"),
    TEXT(member_moderation_notice, ""),
    TEXT(nonmember_rejection_notice, ""),
    BOOL(forward_auto_discards, "True"),
    TEXT(bounce_matching_headers, ""),
    IDENT(posting_chain, "default-posting-chain"),
    IDENT(posting_pipeline, "default-posting-pipeline"),
    IDENT(owner_chain, "default-owner-chain"),
    IDENT(owner_pipeline, "default-owner-pipeline"),

    /* Membership. */
    ENUM(subscription_policy, "confirm", subscription_policy_names),
    ENUM(unsubscription_policy, "confirm", subscription_policy_names),
    ENUM(member_roster_visibility, "moderators", roster_visibility_names),

    /* Headers. */
    ENUM(reply_goes_to_list, "no_munging", reply_to_munging_names),
    SET(reply_to_address, STRING, "", NULL,
        MM_SETTING_SINGLE_LINE | MM_SETTING_ADDRESS),
    BOOL(first_strip_reply_to, "False"),
    ENUM(personalize, "none", personalization_names),
    BOOL(obscure_addresses, "True"),

    /* Content filtering. */
    BOOL(filter_content, "False"),
    ENUM(filter_action, "discard", filter_action_names),
    BOOL(collapse_alternatives, "True"),
    BOOL(convert_html_to_plaintext, "False"),
    BOOL(scrub_nondigest, "False"),
    /* Mailman keeps these as rows of contentfilter and a pickled topics
     * list; we keep one entry per line (topics: "name<TAB>regexp"), which
     * is what the pipeline reads (migration 5). */
    TEXT(filter_types, ""),
    TEXT(pass_types, ""),
    TEXT(filter_extensions, ""),
    TEXT(pass_extensions, ""),
    TEXT(topics, ""),
    BOOL(topics_enabled, "False"),
    INT(topics_bodylines_limit, "5"),

    /* DMARC. */
    ENUM(dmarc_mitigate_action, "no_mitigation", dmarc_action_names),
    BOOL(dmarc_mitigate_unconditionally, "False"),
    TEXT(dmarc_moderation_notice, ""),
    TEXT(dmarc_wrapped_message_text, ""),

    /* Digests. */
    BOOL(digests_enabled, "True"),
    BOOL(digest_is_default, "False"),
    BOOL(digest_send_periodic, "True"),
    SET(digest_size_threshold, FLOAT, "30.0", NULL, 0), /* KB */
    ENUM(digest_volume_frequency, "monthly", digest_frequency_names),

    /* Bounces (Bounces). */
    BOOL(process_bounces, "True"),
    INT(bounce_score_threshold, "5"),
    INTERVAL(bounce_info_stale_after, "7d"),
    INT(bounce_you_are_disabled_warnings, "3"),
    INTERVAL(bounce_you_are_disabled_warnings_interval, "7d"),
    BOOL(bounce_notify_owner_on_bounce_increment, "False"),
    BOOL(bounce_notify_owner_on_disable, "True"),
    BOOL(bounce_notify_owner_on_removal, "True"),
    ENUM(forward_unrecognized_bounces_to, "administrators",
         bounce_disposition_names),

    /* Autoresponder. */
    ENUM(autorespond_owner, "none", response_action_names),
    TEXT(autoresponse_owner_text, ""),
    ENUM(autorespond_postings, "none", response_action_names),
    TEXT(autoresponse_postings_text, ""),
    ENUM(autorespond_requests, "none", response_action_names),
    TEXT(autoresponse_request_text, ""),
    INTERVAL(autoresponse_grace_period, "90d"),

    /* Archiving. */
    ENUM(archive_policy, "public", archive_policy_names),
    ENUM(archive_rendering_mode, "text", rendering_mode_names),

    /* NNTP gateway. */
    BOOL(gateway_to_news, "False"),
    BOOL(gateway_to_mail, "False"),
    LINE(linked_newsgroup, ""),
    ENUM(newsgroup_moderation, "none", newsgroup_moderation_names),
    BOOL(nntp_prefix_subject_too, "True"),

    /* Read-only identity, counters and dates. */
    RO(list_name, STRING),
    RO(mail_host, STRING),
    RO(list_id, STRING),
    RO(created_at, TIMESTAMP),
    RO(last_post_at, TIMESTAMP),
    RO(digest_last_sent_at, TIMESTAMP),
    RO(post_id, INT),
    RO(volume, INT),
    RO(next_digest_number, INT),
    RO(usenet_watermark, INT),
    DERIVED(fqdn_listname),
    DERIVED(posting_address),
    DERIVED(owner_address),
    DERIVED(request_address),
    DERIVED(bounces_address),
    DERIVED(join_address),
    DERIVED(leave_address),
};

#undef SET
#undef BOOL
#undef INT
#undef ENUM
#undef TEXT
#undef LINE
#undef INTERVAL
#undef IDENT
#undef RO
#undef DERIVED

const MmSetting *
mm_store_settings(gsize *n_out)
{
  *n_out = G_N_ELEMENTS(settings);
  return settings;
}

const MmSetting *
mm_store_setting_find(const char *name)
{
  if (name == NULL)
    return NULL;
  /* A hundred entries, looked up on list reads and writes only: a linear
   * scan costs less than keeping an index in sync. */
  for (gsize i = 0; i < G_N_ELEMENTS(settings); i++) {
    if (strcmp(settings[i].name, name) == 0)
      return &settings[i];
  }
  return NULL;
}

/* ---- Text forms ----------------------------------------------------- */

gboolean
mm_store_enum_parse(const MmEnumName *names, const char *name, int *value_out)
{
  for (const MmEnumName *e = names; e->name != NULL; e++) {
    if (g_ascii_strcasecmp(e->name, name) == 0) {
      *value_out = e->value;
      return TRUE;
    }
  }
  return FALSE;
}

const char *
mm_store_enum_name(const MmEnumName *names, int value)
{
  for (const MmEnumName *e = names; e->name != NULL; e++) {
    if (e->value == value)
      return e->name;
  }
  return NULL;
}

const char *
mm_store_bool_text(gboolean value)
{
  return value ? "True" : "False";
}

gboolean
mm_store_language_valid(const char *code)
{
  gsize len = strlen(code);
  if (len < 2 || len > 16 || !g_ascii_isalpha(code[0]))
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    char c = code[i];
    if (!g_ascii_isalnum(c) && c != '_' && c != '-')
      return FALSE;
  }
  return TRUE;
}

static gboolean
identifier_valid(const char *text)
{
  gsize len = strlen(text);
  if (len == 0 || len > 64)
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    char c = text[i];
    if (!g_ascii_islower(c) && !g_ascii_isdigit(c) && c != '-' && c != '_')
      return FALSE;
  }
  return TRUE;
}

/* lazr.config's as_timedelta, integers only: "<n>w<n>d<n>h<n>m<n>s", each
 * unit at most once. */
static gboolean
interval_parse(const char *text, gint64 *seconds_out)
{
  static const char units[] = "wdhms";
  static const gint64 unit_sec[] = {7 * 86400, 86400, 3600, 60, 1};
  gboolean seen[5] = {FALSE};
  gint64 total = 0;
  const char *p = text;

  if (*p == '\0')
    return FALSE;
  while (*p != '\0') {
    if (!g_ascii_isdigit(*p))
      return FALSE;
    gint64 n = 0;
    /* Bounded by the digit count check: at most 12 digits per component. */
    int digits = 0;
    while (g_ascii_isdigit(*p)) {
      if (++digits > 12)
        return FALSE;
      n = n * 10 + (*p - '0');
      p++;
    }
    const char *u = strchr(units, g_ascii_tolower(*p));
    if (*p == '\0' || u == NULL)
      return FALSE;
    gsize k = (gsize)(u - units);
    if (seen[k])
      return FALSE;
    seen[k] = TRUE;
    if (n > INTERVAL_MAX_SEC / unit_sec[k])
      return FALSE;
    total += n * unit_sec[k];
    if (total > INTERVAL_MAX_SEC)
      return FALSE;
    p++;
  }
  *seconds_out = total;
  return TRUE;
}

static char *
interval_format(gint64 seconds)
{
  if (seconds <= 0)
    return g_strdup("0s");
  GString *out = g_string_new(NULL);
  gint64 days = seconds / 86400;
  gint64 hours = seconds % 86400 / 3600;
  gint64 minutes = seconds % 3600 / 60;
  gint64 secs = seconds % 60;
  if (days > 0)
    g_string_append_printf(out, "%" G_GINT64_FORMAT "d", days);
  if (hours > 0)
    g_string_append_printf(out, "%" G_GINT64_FORMAT "h", hours);
  if (minutes > 0)
    g_string_append_printf(out, "%" G_GINT64_FORMAT "m", minutes);
  if (secs > 0)
    g_string_append_printf(out, "%" G_GINT64_FORMAT "s", secs);
  return g_string_free(out, FALSE);
}

static char *
float_format(double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_dtostr(buf, sizeof buf, value);
  /* Python's repr keeps ".0" on whole numbers; REST clients see 30.0. */
  if (strpbrk(buf, ".eEn") == NULL)
    return g_strconcat(buf, ".0", NULL);
  return g_strdup(buf);
}

static char *
timestamp_format(gint64 seconds)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(seconds);
  if (dt == NULL)
    return g_strdup("");
  return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
}

static gboolean
setting_invalid(GError **error, const MmSetting *setting, const char *why)
{
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID,
              "Invalid value for %s: %s", setting->name, why);
  return FALSE;
}

static char *
enum_choices(const MmEnumName *names)
{
  GString *out = g_string_new(NULL);
  for (const MmEnumName *e = names; e->name != NULL; e++) {
    if (out->len > 0)
      g_string_append(out, ", ");
    g_string_append(out, e->name);
  }
  return g_string_free(out, FALSE);
}

gboolean
mm_store_setting_bind(const MmSetting *setting, sqlite3_stmt *stmt, int index,
                      const char *text, GError **error)
{
  g_assert(!(setting->flags & MM_SETTING_DERIVED));
  if (text == NULL)
    return setting_invalid(error, setting, "no value given");

  switch (setting->type) {
  case MM_SETTING_BOOL: {
    gboolean value;
    if (!mm_config_parse_bool(text, &value))
      return setting_invalid(error, setting,
                             "expected yes/no, true/false, on/off or 1/0");
    sqlite3_bind_int(stmt, index, value ? 1 : 0);
    return TRUE;
  }
  case MM_SETTING_INT:
  case MM_SETTING_TIMESTAMP: {
    gint64 value;
    /* Mailman's integer_ge_zero_validator; the upper bound keeps the
     * value an int for every reader. */
    if (!g_ascii_string_to_signed(text, 10, 0, G_MAXINT32, &value, NULL))
      return setting_invalid(error, setting,
                             "expected a whole number from 0 to 2147483647");
    sqlite3_bind_int64(stmt, index, value);
    return TRUE;
  }
  case MM_SETTING_FLOAT: {
    char *end = NULL;
    double value = g_ascii_strtod(text, &end);
    if (text[0] == '\0' || end == NULL || *end != '\0' || !isfinite(value) ||
        value < 0)
      return setting_invalid(error, setting,
                             "expected a number of 0 or more, like 30 or 2.5");
    sqlite3_bind_double(stmt, index, value);
    return TRUE;
  }
  case MM_SETTING_INTERVAL: {
    gint64 seconds;
    if (!interval_parse(text, &seconds))
      return setting_invalid(error, setting,
                             "expected an interval like 7d, 12h or 1d12h "
                             "(units w, d, h, m, s)");
    sqlite3_bind_int64(stmt, index, seconds);
    return TRUE;
  }
  case MM_SETTING_ENUM: {
    int value;
    if (!mm_store_enum_parse(setting->names, text, &value)) {
      g_autofree char *choices = enum_choices(setting->names);
      g_autofree char *why = g_strdup_printf("expected one of %s", choices);
      return setting_invalid(error, setting, why);
    }
    sqlite3_bind_int(stmt, index, value);
    return TRUE;
  }
  case MM_SETTING_STRING: {
    gboolean single = (setting->flags & MM_SETTING_SINGLE_LINE) != 0;
    if (!mm_store_text_check(setting->name, text, single,
                             single ? SETTING_LINE_MAX_LEN
                                    : SETTING_TEXT_MAX_LEN,
                             error))
      return FALSE;
    if ((setting->flags & MM_SETTING_LANGUAGE) &&
        !mm_store_language_valid(text))
      return setting_invalid(error, setting,
                             "expected a language code like en or pt_BR");
    if ((setting->flags & MM_SETTING_IDENTIFIER) && !identifier_valid(text))
      return setting_invalid(error, setting,
                             "expected a name of lower-case letters, digits, "
                             "'-' and '_'");
    if ((setting->flags & MM_SETTING_ADDRESS) && text[0] != '\0') {
      g_autoptr(GError) address_error = NULL;
      g_autofree char *folded =
          mm_address_fold_email(text, -1, NULL, NULL, &address_error);
      if (folded == NULL)
        return setting_invalid(error, setting, address_error->message);
    }
    sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
    return TRUE;
  }
  }
  g_assert_not_reached();
}

char *
mm_store_setting_format(const MmSetting *setting, sqlite3_stmt *stmt, int col)
{
  if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
    return g_strdup("");

  switch (setting->type) {
  case MM_SETTING_BOOL:
    return g_strdup(mm_store_bool_text(sqlite3_column_int(stmt, col) != 0));
  case MM_SETTING_INT:
    return g_strdup_printf("%" G_GINT64_FORMAT,
                           (gint64)sqlite3_column_int64(stmt, col));
  case MM_SETTING_FLOAT:
    return float_format(sqlite3_column_double(stmt, col));
  case MM_SETTING_INTERVAL:
    return interval_format(sqlite3_column_int64(stmt, col));
  case MM_SETTING_TIMESTAMP:
    return timestamp_format(sqlite3_column_int64(stmt, col));
  case MM_SETTING_ENUM: {
    int value = sqlite3_column_int(stmt, col);
    const char *name = mm_store_enum_name(setting->names, value);
    /* A value this build has no name for (written by a newer one) is
     * shown as its number rather than hidden. */
    return name != NULL ? g_strdup(name) : g_strdup_printf("%d", value);
  }
  case MM_SETTING_STRING: {
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return g_strdup(text != NULL ? text : "");
  }
  }
  g_assert_not_reached();
}

/* Migration 5: the content filter lists and topics as settings. */
const char mm_store_migration_5[] =
    "ALTER TABLE mailinglist ADD COLUMN filter_types TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE mailinglist ADD COLUMN pass_types TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE mailinglist ADD COLUMN filter_extensions TEXT NOT NULL "
    "DEFAULT '';"
    "ALTER TABLE mailinglist ADD COLUMN pass_extensions TEXT NOT NULL "
    "DEFAULT '';"
    "ALTER TABLE mailinglist ADD COLUMN topics TEXT NOT NULL DEFAULT '';";
