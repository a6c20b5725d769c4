/* digests: a reply to a digest, caught only when [mailman] hold_digest is
 * on (Mailman's rules/digests.py): the Subject ends in "<name> Digest, Vol
 * N, Issue M", or the text parts quote at least [mailman]
 * masthead_threshold lines of the digest masthead.
 *
 * XXX: the masthead must be the one the digest runner writes
 * (list:member:digest:masthead); no digest module exists yet, so the text
 * below is ours and the two must be kept the same when it lands.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

#include <string.h>

static const char masthead_template[] =
    "Send $display_name mailing list submissions to\n"
    "\t$listname\n"
    "\n"
    "To subscribe or unsubscribe by email, send a message with the word\n"
    "\"help\" in the subject or body to\n"
    "\t$request_email\n"
    "\n"
    "You can reach the people who run the list at\n"
    "\t$owner_email\n"
    "\n"
    "When replying, please edit your Subject line so that it says more\n"
    "than \"Re: Contents of $display_name digest...\"\n";

static gboolean
config_flag(MmPost *post, const char *key, gboolean fallback)
{
  const char *text =
      post->config != NULL ? mm_config_get(post->config, "mailman", key) : NULL;
  gboolean value;
  if (text == NULL || !mm_config_parse_bool(text, &value))
    return fallback;
  return value;
}

static void
collect_text(GMimeObject *object, GString *out, int depth)
{
  if (object == NULL || depth > 64)
    return;
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart *multipart = GMIME_MULTIPART(object);
    int n = g_mime_multipart_get_count(multipart);
    for (int i = 0; i < n; i++)
      collect_text(g_mime_multipart_get_part(multipart, i), out, depth + 1);
    return;
  }
  if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage *inner =
        g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    if (inner != NULL)
      collect_text(g_mime_message_get_mime_part(inner), out, depth + 1);
    return;
  }
  GMimeContentType *type = g_mime_object_get_content_type(object);
  if (GMIME_IS_PART(object) &&
      (type == NULL || g_mime_content_type_is_type(type, "text", "*"))) {
    g_autofree char *text = mm_rules_part_text(GMIME_PART(object));
    g_string_append(out, text);
  }
}

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  *hit_out = FALSE;
  if (!config_flag(post, "hold_digest", FALSE))
    return TRUE;
  g_autofree char *subject = mm_rules_post_header(post, "Subject");
  if (subject != NULL &&
      g_regex_match_simple(" Digest, Vol \\d+, Issue \\d+$",
                           g_strstrip(subject), G_REGEX_CASELESS, 0)) {
    *hit_out = TRUE;
    mm_rules_hit(post, NULL, "Message has a digest subject");
    return TRUE;
  }

  /* The masthead without addresses, as Mailman expands it for this
   * comparison. */
  const char *display_name = mm_rules_list_setting(post, "display_name");
  g_autofree char *masthead = NULL;
  {
    GString *m = g_string_new(NULL);
    for (const char *p = masthead_template; *p != '\0';) {
      static const struct {
        const char *var;
        gboolean keep;
      } vars[] = {{"$display_name", TRUE},
                  {"$listname", FALSE},
                  {"$request_email", FALSE},
                  {"$owner_email", FALSE}};
      gboolean replaced = FALSE;
      for (gsize v = 0; v < G_N_ELEMENTS(vars) && !replaced; v++) {
        gsize n = strlen(vars[v].var);
        if (strncmp(p, vars[v].var, n) == 0) {
          if (vars[v].keep)
            g_string_append(m, display_name);
          p += n;
          replaced = TRUE;
        }
      }
      if (!replaced)
        g_string_append_c(m, *p++);
    }
    masthead = g_string_free(m, FALSE);
  }

  GMimeMessage *message = mm_rules_post_mime(post);
  if (message == NULL)
    return TRUE;
  g_autoptr(GString) text = g_string_new(NULL);
  collect_text(g_mime_message_get_mime_part(message), text, 0);
  gint64 threshold = 4;
  const char *configured =
      post->config != NULL
          ? mm_config_get(post->config, "mailman", "masthead_threshold")
          : NULL;
  if (configured != NULL)
    g_ascii_string_to_signed(configured, 10, 0, G_MAXINT32, &threshold, NULL);
  gint64 matches = 0;
  g_auto(GStrv) lines = g_strsplit(masthead, "\n", -1);
  for (char **l = lines; *l != NULL; l++) {
    char *line = g_strstrip(*l);
    if (line[0] != '\0' && strstr(text->str, line) != NULL)
      matches++;
  }
  if (matches >= threshold) {
    *hit_out = TRUE;
    mm_rules_hit(post, NULL, "Message quotes digest boilerplate");
  }
  return TRUE;
}

const MmRule mm_rule_digests = {
    "digests", "Catch messages with digest Subject or boilerplate quote.",
    TRUE, check,
};
