/* max-size: the post is larger than max_message_size KB (Mailman's
 * rules/max_size.py), measured on its size at intake (metadata
 * "original_size", else the bytes as they are now).
 *
 * XXX: [mailman] check_max_size_on_filtered_message (measure after
 * content filtering) needs the pipeline's mime-delete handler, which this
 * layer cannot call; the raw size is used, Mailman's default behaviour.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "rules-private.h"

static gboolean
check(MmPost *post, gboolean *hit_out, GError **error)
{
  gint64 limit_kb = mm_rules_list_int(post, "max_message_size");
  *hit_out = FALSE;
  if (limit_kb == 0)
    return TRUE;
  json_t *original = json_object_get(post->meta, "original_size");
  gint64 size = json_is_integer(original)
                    ? json_integer_value(original)
                    : (gint64)g_bytes_get_size(mm_rules_post_message(post));
  *hit_out = (double)size / 1024.0 > (double)limit_kb;
  if (*hit_out) {
    g_autofree char *reason = g_strdup_printf(
        "The message is larger than the %" G_GINT64_FORMAT " KB maximum size",
        limit_kb);
    mm_rules_hit(post, NULL, reason);
  }
  return TRUE;
}

const MmRule mm_rule_max_size = {
    "max-size", "Catch messages that are bigger than a specified maximum.",
    TRUE, check,
};
