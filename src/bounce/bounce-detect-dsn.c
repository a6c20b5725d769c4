/* RFC 3464 delivery status notifications (and RFC 6533's
 * message/global-delivery-status).
 *
 * Each message/delivery-status leaf holds header-like groups separated by
 * empty lines: the per-message fields, then one group per recipient.  For
 * each recipient group:
 *   - Action "failed" (and OpenSMTPD's non-standard "error") is permanent,
 *     "delayed" temporary, anything else (delivered, relayed, expanded)
 *     not a failure.  Action decides over Status: an MTA that gives up
 *     after days of 4.x.x answers reports "failed" with a 4.x.x Status, and
 *     it has stopped trying.  Without a usable Action, Status 5.x.x is
 *     permanent and 4.x.x temporary.  Comments "(...)" are ignored.
 *   - The address is Original-Recipient when it has a known type, else
 *     Final-Recipient (as flufl.bounce: the original is what we sent to).
 *     Types "rfc822" and "utf-8" (RFC 6533, with \x{HHHH} escapes) are
 *     read; a value with no type but an <angle-addr> is accepted too (some
 *     gateways write that).
 * Fields may be folded and may carry RFC 2047 encoded words.  Groups run
 * together without their empty line are split where a recipient field
 * repeats.  A report that names recipients but no failure (a success
 * notice) ends the detector chain with nothing found.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define MM_WITH_GMIME
#include "bounce-private.h"

#include <string.h>

#include "mm-autocleanups.h"

#define MAX_GROUPS 1000

typedef struct {
  char *original; /* Original-Recipient value, or NULL */
  char *final;    /* Final-Recipient value, or NULL */
  char *action;
  char *status;
  gboolean any;   /* had any field */
} Group;

static void
group_clear(Group *group)
{
  g_clear_pointer(&group->original, g_free);
  g_clear_pointer(&group->final, g_free);
  g_clear_pointer(&group->action, g_free);
  g_clear_pointer(&group->status, g_free);
  group->any = FALSE;
}

/* Removes RFC 822 comments, decodes encoded words, trims.  Transfer full. */
static char *
clean_value(const char *raw)
{
  g_autofree char *decoded = g_mime_utils_header_decode_text(NULL, raw);
  const char *text = decoded ? decoded : raw;
  GString *out = g_string_new(NULL);
  int depth = 0;
  gboolean quoted = FALSE;

  for (const char *p = text; *p != '\0'; p++) {
    if (!quoted && *p == '(') {
      depth++;
      continue;
    }
    if (!quoted && depth > 0 && *p == ')') {
      depth--;
      continue;
    }
    if (depth > 0)
      continue;
    if (*p == '"')
      quoted = !quoted;
    g_string_append_c(out, *p);
  }
  g_strstrip(out->str);
  return g_string_free(out, FALSE);
}

/* RFC 6533 utf-8-addr-xtext: \x{HHHH} stands for one character. */
static char *
decode_utf8_escapes(const char *text)
{
  GString *out = g_string_new(NULL);

  for (const char *p = text; *p != '\0'; p++) {
    if (p[0] == '\\' && p[1] == 'x' && p[2] == '{') {
      char *end = NULL;
      guint64 cp = g_ascii_strtoull(p + 3, &end, 16);
      if (end != NULL && *end == '}' && end > p + 3 && cp > 0 &&
          cp <= 0x10FFFF && g_unichar_validate((gunichar)cp)) {
        g_string_append_unichar(out, (gunichar)cp);
        p = end;
        continue;
      }
    }
    g_string_append_c(out, *p);
  }
  return g_string_free(out, FALSE);
}

/* The address of a recipient field, or NULL when its type is not one we
 * read.  Transfer full. */
static char *
recipient_address(const char *raw)
{
  if (raw == NULL)
    return NULL;
  g_autofree char *value = clean_value(raw);
  const char *semi = strchr(value, ';');

  if (semi == NULL) {
    gsize len = strlen(value);
    if (len > 2 && value[0] == '<' && value[len - 1] == '>')
      return g_strndup(value + 1, len - 2);
    return NULL;
  }
  g_autofree char *type = g_strndup(value, (gsize)(semi - value));
  g_strstrip(type);
  const char *address = mm_bounce_skip_space(semi + 1);
  const char *open = strchr(address, '<');
  g_autofree char *bare = NULL;
  if (open != NULL && strchr(open, '>') != NULL)
    bare = g_strndup(open + 1, (gsize)(strchr(open, '>') - open - 1));
  else
    bare = g_strdup(address);
  g_strstrip(bare);

  if (g_ascii_strcasecmp(type, "rfc822") == 0)
    return g_steal_pointer(&bare);
  if (g_ascii_strcasecmp(type, "utf-8") == 0)
    return decode_utf8_escapes(bare);
  return NULL;
}

typedef enum { KIND_NONE, KIND_PERMANENT, KIND_TEMPORARY, KIND_OTHER } Kind;

static Kind
group_kind(const Group *group)
{
  if (group->action != NULL) {
    g_autofree char *action = clean_value(group->action);
    if (g_ascii_strncasecmp(action, "fail", 4) == 0 ||
        g_ascii_strncasecmp(action, "error", 5) == 0)
      return KIND_PERMANENT;
    if (g_ascii_strncasecmp(action, "delay", 5) == 0)
      return KIND_TEMPORARY;
    if (*action != '\0')
      return KIND_OTHER;
  }
  if (group->status != NULL) {
    g_autofree char *status = clean_value(group->status);
    if (status[0] == '5' && status[1] == '.')
      return KIND_PERMANENT;
    if (status[0] == '4' && status[1] == '.')
      return KIND_TEMPORARY;
    if (status[0] == '2' && status[1] == '.')
      return KIND_OTHER;
  }
  return KIND_NONE;
}

typedef struct {
  MmBounceFindings *findings;
  guint recipients;  /* groups naming a recipient */
  guint failures;    /* of which reported a failure */
} State;

static void
group_finish(State *state, Group *group)
{
  if (group->original == NULL && group->final == NULL) {
    group_clear(group);
    return;
  }
  state->recipients++;
  Kind kind = group_kind(group);
  if (kind == KIND_PERMANENT || kind == KIND_TEMPORARY) {
    state->failures++;
    /* The original when it is a usable address, else the final one. */
    g_autofree char *original = recipient_address(group->original);
    g_autofree char *usable =
        original ? mm_bounce_address_normalize(original, -1) : NULL;
    g_autofree char *address =
        usable ? g_steal_pointer(&usable) : recipient_address(group->final);
    if (address != NULL)
      mm_bounce_findings_add(state->findings, kind == KIND_PERMANENT, address,
                             -1);
  }
  group_clear(group);
}

/* Sets *@slot to a copy of @value; a recipient field that repeats within a
 * group starts the next group. */
static void
set_field(State *state, Group *group, char **slot, const char *value,
          gboolean starts_group)
{
  if (*slot != NULL && starts_group)
    group_finish(state, group);
  g_free(*slot);
  *slot = g_strdup(value);
  group->any = TRUE;
}

static void
parse_status(GPtrArray *lines, State *state)
{
  Group group = {0};
  char **last = NULL; /* the field a continuation line extends */
  guint groups = 0;

  for (guint i = 0; i <= lines->len && groups < MAX_GROUPS; i++) {
    const char *line = i < lines->len ? lines->pdata[i] : "";
    if (mm_bounce_line_blank(line)) {
      if (group.any)
        groups++;
      group_finish(state, &group);
      last = NULL;
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      if (last != NULL && *last != NULL && strlen(*last) < 4096) {
        char *joined = g_strconcat(*last, " ", mm_bounce_skip_space(line),
                                   NULL);
        g_free(*last);
        *last = joined;
      }
      continue;
    }
    const char *colon = strchr(line, ':');
    if (colon == NULL) {
      last = NULL;
      continue;
    }
    g_autofree char *name = g_strndup(line, (gsize)(colon - line));
    g_strstrip(name);
    const char *value = mm_bounce_skip_space(colon + 1);
    last = NULL;
    if (g_ascii_strcasecmp(name, "Original-Recipient") == 0) {
      set_field(state, &group, &group.original, value, TRUE);
      last = &group.original;
    } else if (g_ascii_strcasecmp(name, "Final-Recipient") == 0) {
      set_field(state, &group, &group.final, value, TRUE);
      last = &group.final;
    } else if (g_ascii_strcasecmp(name, "Action") == 0) {
      set_field(state, &group, &group.action, value, TRUE);
      last = &group.action;
    } else if (g_ascii_strcasecmp(name, "Status") == 0) {
      set_field(state, &group, &group.status, value, TRUE);
      last = &group.status;
    } else {
      group.any = TRUE;
    }
  }
  group_clear(&group);
}

void
mm_bounce_detect_dsn(const MmBounceMessage *message,
                     MmBounceFindings *findings)
{
  State state = {.findings = findings};

  for (guint i = 0; i < message->leaves->len; i++) {
    MmBounceLeaf *leaf = message->leaves->pdata[i];
    if (leaf->lines == NULL ||
        (!g_str_equal(leaf->content_type, "message/delivery-status") &&
         !g_str_equal(leaf->content_type, "message/global-delivery-status")))
      continue;
    parse_status(leaf->lines, &state);
  }
  if (state.recipients > 0 && state.failures == 0)
    findings->stop = TRUE;
}
