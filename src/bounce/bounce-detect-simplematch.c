/* Phrase heuristics for failure reports: flufl.bounce's SimpleMatch idea
 * with our own phrase table, in English, German, French and Spanish.
 *
 * Each entry is (start, end, address): a line matching start opens a
 * block, each following line (and the start line itself) is tried for an
 * address, and the block closes at a line matching end or after 40 lines.
 * The first entry that yields an address wins.  Start phrases are the
 * sentences MTAs and mail services put before their list of failed
 * recipients; "label" entries are lines that carry the address themselves
 * ("Undeliverable address: x@y").
 *
 * A report that says it is only a warning (will retry, no action needed)
 * is left to the simplewarning detector: its "could not be delivered yet"
 * must not be read as a permanent failure.
 *
 * Adding a phrasing: one entry below, one sample in tests/data/bounce.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

/* An address alone on its line (after indentation or a bullet), possibly
 * followed by a colon and a reason, or an address in angle brackets
 * anywhere on the line.  (?J): both alternatives name their group addr. */
#define ADDR_PATTERN                                                          \
  "(?J)^[\\s*>·•-]*<?(?P<addr>[^\\s<>()\\[\\]\"',;:@]+@[^\\s<>()\\[\\]\"',;:@]+)>?" \
  "(\\s*$|[:;,]|\\s+[-:(\\[])|<(?P<addr>[^\\s<>@]+@[^\\s<>@]+)>"

/* Where the list of recipients is over: a separator, the returned
 * message, or a header line of it, in the four languages. */
#define END_PATTERN                                                           \
  "^\\s*-{3,}|^\\s*_{3,}|^\\s*={3,}|original message|"                        \
  "message (headers|text|body) follows?|copy of (the|your) (original )?"      \
  "message|ursprüngliche nachricht|originalnachricht|kopie (der|ihrer) "      \
  "nachricht|message d.origine|message original|copie (du|de votre) "         \
  "message|mensaje original|copia del mensaje|"                               \
  "^\\s*(received|from|von|de|subject|betreff|objet|asunto|date|datum|"       \
  "fecha|reporting-mta|final-recipient|diagnostic-code)\\s*:"

#define ADDRESS_IN_LABEL "\\s*:\\s*<?(?P<addr>[^\\s<>@]+@[^\\s<>@]+?)>?\\s*$"

#define ENTRY(start) \
  {MM_BOUNCE_RE(start), MM_BOUNCE_RE(END_PATTERN), MM_BOUNCE_RE(ADDR_PATTERN)}
#define LABEL(label)                                                          \
  {MM_BOUNCE_RE(label ADDRESS_IN_LABEL), MM_BOUNCE_RE(END_PATTERN),           \
   MM_BOUNCE_RE(label ADDRESS_IN_LABEL)}

static MmBouncePattern patterns[] = {
    /* English. */
    ENTRY("(could not|couldn.t|cannot|can.t|was not|wasn.t) be delivered to "
          "(the following|these|one or more|all|any)|"
          "undeliverable to the following|"
          "delivery to the following recipients? (failed|was aborted)|"
          "delivery has failed to the following|"
          "the following (addresses|recipients|address|recipient)"
          "(\\(e?s\\))? (failed|could not be (reached|delivered)|"
          "(was|were) rejected|(is|are) (unknown|invalid|not valid))|"
          "permanent(ly)? (failed|failure|error|fatal errors?) (for|to|with) "
          "the following|"
          "unable to deliver (your )?(message|mail) to the following"),
    LABEL("(undeliverable|unknown|invalid|failed|bad|rejected|unreachable) "
          "(e-?mail )?(address|recipient)(es|s)?"),
    {MM_BOUNCE_RE("(message|mail) (to|for) <?(?P<addr>[^\\s<>@]+@[^\\s<>@]+?)>? "
                  "(could not|couldn.t|cannot|was not|wasn.t) be delivered"),
     MM_BOUNCE_RE(END_PATTERN),
     MM_BOUNCE_RE("(message|mail) (to|for) <?(?P<addr>[^\\s<>@]+@[^\\s<>@]+?)>? "
                  "(could not|couldn.t|cannot|was not|wasn.t) be delivered")},
    /* German. */
    ENTRY("(konnte|kann|ist) (an )?(die |den )?(folgenden?|nachstehenden?) "
          "(empfänger(in|innen)?|adressen?|empfängeradressen?) nicht "
          "zugestellt|"
          "nicht (an die folgenden?|an folgende|an den folgenden) "
          "(empfänger|adressen?|empfängeradressen?) zugestellt|"
          "folgenden? (empfänger|adressen?|empfängeradressen?) (ist|sind|war|"
          "waren) (ungültig|unbekannt|nicht erreichbar)|"
          "zustellung an (folgende|die folgenden?|den folgenden) "
          "(empfänger|adressen?) (ist |war )?fehlgeschlagen|"
          "unzustellbar an"),
    LABEL("(unzustellbare|ungültige|unbekannte|fehlerhafte) "
          "(e-?mail-?)?(adresse|empfänger(adresse)?)n?"),
    /* French. */
    ENTRY("n.a (pas )?pu être (remis|distribué|délivré|livré|acheminé)e?s? "
          "(aux? |à )?(l.|les )?(destinataires?|adresses?) suivante?s?|"
          "(aux|à l.adresse|au destinataire|aux destinataires) suivante?s? "
          "n.a pas pu|"
          "les (destinataires|adresses) suivante?s? (sont|est) "
          "(introuvables?|inconnue?s?|invalides?|non valides?)|"
          "échec de (la )?(remise|distribution|livraison) (aux|au|à)"),
    LABEL("(adresse|destinataire)s? (introuvable|inconnue?|invalide|"
          "non valide|erronée?)s?"),
    /* Spanish. */
    ENTRY("no (se )?(ha |han )?(pudo|podido|puede|pudieron) (ser )?"
          "entregar(se)? (el mensaje |su mensaje )?a (los|las|la|el) "
          "(siguientes?|destinatarios? siguientes?|direcci[oó]n(es)? "
          "siguientes?)|"
          "(los|las) siguientes? (destinatarios|direcciones) no (existen|"
          "son v[aá]lid[oa]s|se pudieron entregar|pudieron ser alcanzad[oa]s)|"
          "(su|tu) mensaje no (pudo|ha podido) ser entregado a"),
    LABEL("(direcci[oó]n|destinatario)(es|s)? (desconocid[oa]|no v[aá]lid[oa]|"
          "inv[aá]lid[oa]|inexistente)s?"),
};

/* A report that is only a warning, in the four languages. */
static MmBounceRe warning_only = MM_BOUNCE_RE(
    "warning (message )?only|this is (just |only )?a warning|"
    "no action is required|you do not need to (resend|take any action|do "
    "anything)|will (continue to |keep )?(re)?try|will be retried|"
    "nur eine warnung|keine (aktion|handlung) erforderlich|sie müssen nichts|"
    "nicht erneut senden|weitere zustellversuche|wird (weiterhin |erneut )?"
    "versucht|"
    "(simplement |seulement )?un avertissement|aucune action (n.est )?"
    "(requise|nécessaire)|nouvelles? tentatives?|sera (de nouveau )?"
    "réessay|"
    "(solo |sólo )?una advertencia|no (es necesario|necesita) (hacer nada|"
    "reenviar|volver a enviar)|se (seguirá|volverá a) intentar");

void
mm_bounce_detect_simplematch(const MmBounceMessage *message,
                             MmBounceFindings *findings)
{
  GPtrArray *lines = message->body_lines;

  for (guint i = 0; i < lines->len; i++)
    if (mm_bounce_re_search(&warning_only, lines->pdata[i]))
      return;
  mm_bounce_patterns_scan(lines, patterns, G_N_ELEMENTS(patterns), 40, TRUE,
                          findings);
}
