/* Internals shared by the files of the bounce module: the parsed message
 * view the detectors read, the findings they fill, compiled patterns and
 * the block scanner of the "simple" detectors.
 *
 * A detector is one file, bounce-detect-NAME.c, defining
 *   void mm_bounce_detect_NAME(const MmBounceMessage *message,
 *                              MmBounceFindings *findings);
 * and one line in bounce-detectors.h (which fixes the order they run in).
 * A detector adds what it is sure of and nothing else; it never fails.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "bounce.h"

/* Bounds of the parsed view.  Real reports are a few KiB of text; the
 * limits only stop a hostile message from costing more than that. */
#define MM_BOUNCE_MAX_LEAVES 256       /* MIME leaves looked at */
#define MM_BOUNCE_MAX_DEPTH 32         /* multipart nesting followed */
#define MM_BOUNCE_MAX_PART_TEXT (1024u * 1024u) /* decoded bytes per leaf */
#define MM_BOUNCE_MAX_TEXT (4u * 1024u * 1024u) /* decoded bytes in all */
#define MM_BOUNCE_MAX_LINE 4096        /* longer lines are cut */
#define MM_BOUNCE_MAX_LINES 20000      /* lines per leaf */
#define MM_BOUNCE_MAX_HEADERS 500      /* top-level header fields kept */
#define MM_BOUNCE_MAX_FINDINGS 1000    /* addresses per result */

/* One MIME leaf of the report (never one inside a returned message). */
typedef struct {
  char *content_type; /* "text/plain", lower-case */
  char *description;  /* Content-Description, lower-case, "" when none */
  /* Decoded to UTF-8, split into lines without their line endings, for
   * text/... and message/delivery-status leaves; NULL for other types. */
  GPtrArray *lines;
} MmBounceLeaf;

typedef struct {
  char *name;  /* as written */
  char *value; /* unfolded, RFC 2047 decoded, UTF-8 */
} MmBounceHeader;

struct MmBounceMessage {
  char *content_type;  /* top level, lower-case; "text/plain" by default */
  GPtrArray *headers;  /* MmBounceHeader*, top level, in order */
  GPtrArray *leaves;   /* MmBounceLeaf*, in document order */
  /* Python's body_line_iterator over the report: the lines of every text
   * leaf (text/html only when there is no other text, with tags removed),
   * in order.  Borrowed pointers into the leaves' lines. */
  GPtrArray *body_lines;
};

/* First top-level field @name (any case), or NULL.  Borrowed. */
const char *mm_bounce_message_header(const MmBounceMessage *message,
                                     const char *name);

/* The address in the From field, lower-case, or "" (transfer full). */
char *mm_bounce_message_from_address(const MmBounceMessage *message);

/* ---- findings ------------------------------------------------------------ */

typedef struct {
  GPtrArray *permanent; /* char*, normalised, each once */
  GPtrArray *temporary;
  GHashTable *seen_permanent; /* folded address -> NULL */
  GHashTable *seen_temporary;
  /* Set by a detector that recognised a report that names no failure
   * (a DSN whose recipients were all delivered or relayed): the chain
   * stops there, so heuristics never read a success report. */
  gboolean stop;
} MmBounceFindings;

void mm_bounce_findings_init(MmBounceFindings *findings);
void mm_bounce_findings_clear(MmBounceFindings *findings);
/* Normalises @text (see mm_bounce_address_normalize) and adds it once;
 * anything that is not an address is ignored.  Returns TRUE if added. */
gboolean mm_bounce_findings_add(MmBounceFindings *findings,
                                gboolean permanent, const char *text,
                                gssize len);
gboolean mm_bounce_findings_empty(const MmBounceFindings *findings);

/* ---- patterns -------------------------------------------------------------- */

/* A pattern compiled on first use, once per process (thread-safe).  All
 * patterns are ours and constant, so one that does not compile is our bug
 * (g_assert).  Matching ignores case; patterns are UTF-8. */
typedef struct {
  const char *pattern;
  GRegex *regex;
  gsize once;
} MmBounceRe;

#define MM_BOUNCE_RE(p) {(p), NULL, 0}

GRegex *mm_bounce_re(MmBounceRe *re);

/* TRUE if @re matches somewhere in @text. */
gboolean mm_bounce_re_search(MmBounceRe *re, const char *text);

/* Searches @text; on a match returns TRUE and, when @addr_out is not NULL,
 * the named group "addr" (or NULL when it did not take part), transfer
 * full. */
gboolean mm_bounce_re_capture(MmBounceRe *re, const char *text,
                              char **addr_out);

/* The block scanner of flufl.bounce's SimpleMatch, generalised: for each
 * pattern in turn, find a line matching @start (from which @addr is also
 * tried); then every following line is tried with @addr until a line
 * matches @end or @max_lines lines have been read (0: no limit).  The first
 * pattern that yields addresses wins.  Returns the number added. */
typedef struct {
  MmBounceRe start;
  MmBounceRe end;
  MmBounceRe addr; /* must have a group named "addr" */
} MmBouncePattern;

guint mm_bounce_patterns_scan(GPtrArray *lines, MmBouncePattern *patterns,
                              gsize n_patterns, guint max_lines,
                              gboolean permanent, MmBounceFindings *findings);

/* Lines of the first text leaf whose Content-Description is @description
 * (lower-case), or NULL.  Borrowed. */
GPtrArray *mm_bounce_message_leaf_lines(const MmBounceMessage *message,
                                        const char *content_type,
                                        const char *description);

/* ---- the detector table --------------------------------------------------- */

#define MM_BOUNCE_DETECTOR(name)                                              \
  void mm_bounce_detect_##name(const MmBounceMessage *message,                \
                               MmBounceFindings *findings);
#include "bounce-detectors.h"
#undef MM_BOUNCE_DETECTOR

/* Quotes @local (RFC 5322 quoted-string) unless it is a dot-atom.  NULL
 * when it holds control characters.  Transfer full. */
char *mm_bounce_local_quote(const char *local);
/* Lower-cased ASCII (IDNA) form of @domain, or NULL when it is not a
 * plausible mail domain (see bounce-address.c).  Transfer full. */
char *mm_bounce_domain_normalize(const char *domain);

/* Text helpers for the detectors. */

/* The part of @line after leading spaces and tabs.  Borrowed. */
const char *mm_bounce_skip_space(const char *line);
/* TRUE if @line holds nothing but spaces and tabs. */
gboolean mm_bounce_line_blank(const char *line);

/* ---- notices (bounce-notice.c) --------------------------------------------- */

/* Mailman's mlist.administrators: owners then moderators, each address
 * once (GPtrArray of char*, transfer full), or NULL with @error. */
GPtrArray *mm_bounce_administrators(MmStore *store, const MmList *list,
                                    GError **error);

/* Python's email.utils.formataddr((display_name, email)).  Transfer
 * full. */
char *mm_bounce_format_address(const char *display_name, const char *email);

/* Queues Mailman's OwnerNotification: template @template_name for @list
 * with @extra (NULL-terminated name, value pairs; may be NULL), subject
 * @subject, @attachment (may be NULL) attached, to the administrators.
 * A list without any is logged and not an error. */
gboolean mm_bounce_notice_owners(const MmConfig *config, MmStore *store,
                                 const MmList *list, const char *template_name,
                                 const char *subject, const char *const *extra,
                                 GBytes *attachment, GError **error);

/* Queues Mailman's UserNotification from the list's -bounces address to
 * @email, template @template_name in @language (may be NULL). */
gboolean mm_bounce_notice_user(const MmConfig *config, const MmList *list,
                               const char *email, const char *language,
                               const char *template_name, const char *subject,
                               const char *const *extra, GError **error);
