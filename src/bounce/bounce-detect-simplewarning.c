/* Phrase heuristics for delay warnings (flufl.bounce's SimpleWarning idea,
 * our own phrases), in English, German, French and Spanish.  Everything it
 * finds is temporary: a warning never counts as a bounce.
 *
 * Same block scanner as the simplematch detector: a start phrase ("has not
 * yet been delivered", "Zustellung verzögert", "remise différée", "entrega
 * retrasada", ...), then addresses until the "no action is required"
 * sentence, a separator, or 40 lines.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

#define ADDR_PATTERN                                                          \
  "(?J)^[\\s*>·•-]*<?(?P<addr>[^\\s<>()\\[\\]\"',;:@]+@[^\\s<>()\\[\\]\"',;:@]+)>?" \
  "(\\s*$|[:;,]|\\s+[-:(\\[])|<(?P<addr>[^\\s<>@]+@[^\\s<>@]+)>|"             \
  "\"(?P<addr>[^\\s\"@]+@[^\\s\"@]+)\""

#define END_PATTERN                                                           \
  "no action is required|you do not need to|^\\s*-{3,}|^\\s*_{3,}|"           \
  "original message|keine (aktion|handlung)|sie müssen nichts|"               \
  "aucune action|vous n.avez rien|no (es necesario|necesita)|"                \
  "mensaje original|message d.origine|ursprüngliche nachricht|"               \
  "^\\s*(received|from|von|de|subject|betreff|objet|asunto)\\s*:"

#define ENTRY(start) \
  {MM_BOUNCE_RE(start), MM_BOUNCE_RE(END_PATTERN), MM_BOUNCE_RE(ADDR_PATTERN)}

static MmBouncePattern patterns[] = {
    /* English. */
    ENTRY("has not (yet )?been delivered|"
          "(delivery|message) (to the following recipients? )?(has been|is|"
          "was) (delayed|deferred|postponed)|"
          "delivery (attempts will continue|is delayed|delayed|deferred)|"
          "advisory-only|"
          "temporar(y|ily) (failure|failed|unable|error)|"
          "could not (yet )?be delivered.*(will|still) (re)?try"),
    /* German. */
    ENTRY("(wurde|konnte|ist) (bisher|noch) nicht zugestellt|"
          "noch nicht zugestellt|"
          "zustellung (ist |wurde )?(verzögert|verspätet|zurückgestellt)|"
          "verzögerte zustellung|"
          "vorübergehend(er|e)? (fehler|nicht zustellbar|problem)"),
    /* French. */
    ENTRY("n.a pas encore (pu )?été (remis|distribué|délivré|livré)|"
          "n.a pas encore pu être (remis|distribué|délivré|livré)|"
          "(remise|distribution|livraison) (différée|retardée|en attente|"
          "temporairement impossible)|"
          "échec temporaire|erreur temporaire"),
    /* Spanish. */
    ENTRY("(aún|todavía) no (se )?ha (sido |podido ser )?entregad[oa]|"
          "(entrega|envío) (retrasad[oa]|demorad[oa]|diferid[oa])|"
          "(fallo|error) temporal"),
};

void
mm_bounce_detect_simplewarning(const MmBounceMessage *message,
                               MmBounceFindings *findings)
{
  mm_bounce_patterns_scan(message->body_lines, patterns,
                          G_N_ELEMENTS(patterns), 40, FALSE, findings);
}
