/* The detector chain, its findings, and the auto-reply test.
 *
 * As flufl.bounce's all_failures(): detectors run in the order of
 * bounce-detectors.h and the first one that finds any address, permanent
 * or temporary, decides; the later ones never see the message.  One
 * addition: a detector may end the chain with nothing found (a DSN that
 * reports only successful deliveries), so that no heuristic reads a report
 * that a standard parser already understood.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

#include <string.h>

typedef void (*DetectFunc)(const MmBounceMessage *message,
                           MmBounceFindings *findings);

static const struct {
  const char *name;
  DetectFunc detect;
} detectors[] = {
#define MM_BOUNCE_DETECTOR(n) {#n, mm_bounce_detect_##n},
#include "bounce-detectors.h"
#undef MM_BOUNCE_DETECTOR
};

static const char *const detector_names[] = {
#define MM_BOUNCE_DETECTOR(n) #n,
#include "bounce-detectors.h"
#undef MM_BOUNCE_DETECTOR
    NULL,
};

const char *const *
mm_bounce_detector_names(void)
{
  return detector_names;
}

/* ---- findings ------------------------------------------------------------ */

void
mm_bounce_findings_init(MmBounceFindings *findings)
{
  findings->permanent = g_ptr_array_new_with_free_func(g_free);
  findings->temporary = g_ptr_array_new_with_free_func(g_free);
  findings->seen_permanent =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  findings->seen_temporary =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  findings->stop = FALSE;
}

void
mm_bounce_findings_clear(MmBounceFindings *findings)
{
  g_clear_pointer(&findings->permanent, g_ptr_array_unref);
  g_clear_pointer(&findings->temporary, g_ptr_array_unref);
  g_clear_pointer(&findings->seen_permanent, g_hash_table_unref);
  g_clear_pointer(&findings->seen_temporary, g_hash_table_unref);
}

gboolean
mm_bounce_findings_add(MmBounceFindings *findings, gboolean permanent,
                       const char *text, gssize len)
{
  GPtrArray *list = permanent ? findings->permanent : findings->temporary;
  GHashTable *seen =
      permanent ? findings->seen_permanent : findings->seen_temporary;

  if (list->len >= MM_BOUNCE_MAX_FINDINGS)
    return FALSE;
  char *address = mm_bounce_address_normalize(text, len);
  if (address == NULL)
    return FALSE;
  char *key = g_utf8_casefold(address, -1);
  if (g_hash_table_contains(seen, key)) {
    g_free(key);
    g_free(address);
    return FALSE;
  }
  g_hash_table_add(seen, key);
  g_ptr_array_add(list, address);
  return TRUE;
}

gboolean
mm_bounce_findings_empty(const MmBounceFindings *findings)
{
  return findings->permanent->len == 0 && findings->temporary->len == 0;
}

/* ---- auto-replies --------------------------------------------------------- */

/* Subjects of delivery reports in the languages we read.  A message that
 * looks like a report is never taken for an auto-reply: Postfix and Exim
 * put "Auto-Submitted: auto-replied" on their bounces (RFC 3834 says they
 * should), and an unrecognised bounce must reach the owners. */
static MmBounceRe report_subject = MM_BOUNCE_RE(
    "undeliver|delivery (status|failure|failed|notification|report|problem|"
    "delay)|returned mail|failure notice|non.?delivery|mail delivery|"
    "delivery has failed|could not be delivered|couldn.t be delivered|"
    "delayed mail|message .* delayed|"
    "nicht zustellbar|unzustellbar|zustellung|fehlgeschlagen|"
    "non remis|non distribu|non d[ée]livr|[ée]chec de (la )?(remise|"
    "distribution)|remise diff[ée]r[ée]e|"
    "no entregado|no se (ha )?pudo entregar|devoluci[óo]n de correo|"
    "entrega (retrasada|demorada|fallida)|message status");

static MmBounceRe report_sender =
    MM_BOUNCE_RE("^(mailer-daemon|mailer_daemon|mailerdaemon|mail-daemon|"
                 "postmaster|mmdf|mdaemon|mail-delivery)@");

static MmBounceRe report_from_name =
    MM_BOUNCE_RE("mail delivery (system|subsystem|service)|"
                 "mail administrator|mailer-daemon|postmaster");

static MmBounceRe auto_subject = MM_BOUNCE_RE(
    "^\\s*(auto(matic|matische|matique)?[ -]?(reply|response|answer|"
    "antwort|r[ée]ponse)|auto:|autoreply|auto-reply|out of (the )?office|"
    "vacation|on leave|away from|abwesen|automatische antwort|urlaub|"
    "au[ßs]er haus|r[ée]ponse automatique|absence|absent|"
    "respuesta autom[áa]tica|fuera de la oficina|ausencia|vacaciones|"
    "cong[ée]s)");

/* Header patterns run on at most this much of a field: a subject is a
 * line, and an unfolded 64 KiB field must not cost more than one. */
#define FIELD_MATCH_MAX 998

static gboolean
field_matches(MmBounceRe *re, const char *value)
{
  if (value == NULL)
    return FALSE;
  if (strlen(value) <= FIELD_MATCH_MAX)
    return mm_bounce_re_search(re, value);
  const char *end = g_utf8_find_prev_char(value, value + FIELD_MATCH_MAX + 1);
  g_autofree char *cut = g_strndup(value, end ? (gsize)(end - value) : 0);
  return mm_bounce_re_search(re, cut);
}

static gboolean
looks_like_report(const MmBounceMessage *message)
{
  if (g_str_equal(message->content_type, "multipart/report"))
    return TRUE;
  g_autofree char *from = mm_bounce_message_from_address(message);
  if (field_matches(&report_sender, from))
    return TRUE;
  if (field_matches(&report_from_name,
                    mm_bounce_message_header(message, "From")))
    return TRUE;
  return field_matches(&report_subject,
                       mm_bounce_message_header(message, "Subject"));
}

gboolean
mm_bounce_message_is_auto_reply(const MmBounceMessage *message)
{
  if (looks_like_report(message))
    return FALSE;

  /* RFC 3834: any value but "no" marks an automatic message. */
  const char *submitted = mm_bounce_message_header(message, "Auto-Submitted");
  if (submitted != NULL && *submitted != '\0' &&
      g_ascii_strncasecmp(submitted, "no", 2) != 0)
    return TRUE;
  if (mm_bounce_message_header(message, "X-Autoreply") != NULL ||
      mm_bounce_message_header(message, "X-Autorespond") != NULL ||
      mm_bounce_message_header(message, "X-Autoresponse") != NULL)
    return TRUE;
  const char *precedence = mm_bounce_message_header(message, "Precedence");
  if (precedence != NULL && g_ascii_strcasecmp(precedence, "auto_reply") == 0)
    return TRUE;
  return field_matches(&auto_subject,
                       mm_bounce_message_header(message, "Subject"));
}

/* ---- the chain ------------------------------------------------------------ */

void
mm_bounce_scan_free(MmBounceScan *scan)
{
  if (scan == NULL)
    return;
  g_clear_pointer(&scan->permanent, g_ptr_array_unref);
  g_clear_pointer(&scan->temporary, g_ptr_array_unref);
  g_free(scan);
}

MmBounceScan *
mm_bounce_scan(const MmBounceMessage *message)
{
  MmBounceScan *scan = g_new0(MmBounceScan, 1);

  if (mm_bounce_message_is_auto_reply(message)) {
    scan->permanent = g_ptr_array_new_with_free_func(g_free);
    scan->temporary = g_ptr_array_new_with_free_func(g_free);
    scan->auto_reply = TRUE;
    return scan;
  }
  for (gsize i = 0; i < G_N_ELEMENTS(detectors); i++) {
    MmBounceFindings findings;
    mm_bounce_findings_init(&findings);
    detectors[i].detect(message, &findings);
    if (!mm_bounce_findings_empty(&findings) || findings.stop) {
      scan->detector = detectors[i].name;
      scan->permanent = g_steal_pointer(&findings.permanent);
      scan->temporary = g_steal_pointer(&findings.temporary);
      mm_bounce_findings_clear(&findings);
      return scan;
    }
    mm_bounce_findings_clear(&findings);
  }
  scan->permanent = g_ptr_array_new_with_free_func(g_free);
  scan->temporary = g_ptr_array_new_with_free_func(g_free);
  return scan;
}
