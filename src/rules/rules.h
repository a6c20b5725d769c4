/* Moderation rules: the questions Mailman 3's posting chain asks about a
 * post ("is the sender banned?", "is it too big?").
 *
 * A rule looks at a post (MmPost: the message, its metadata and the list)
 * and answers hit or miss; on a hit it records why in the metadata
 * ("moderation_reasons", "moderation_sender", and for the moderation
 * rules "member_moderation_action"), as Mailman's rules do
 * (mailman/rules/).  Rules never decide what happens to the post:
 * the chains (src/chains/) do.  One rule is one file rules-NAME.c and one
 * line in rules-list.h.
 *
 * The post carries its message as raw bytes, edited in place only where a
 * rule must change it (the approved rule removes the password), and a
 * GMime parse of those bytes made on first use for the rules that look
 * into headers and parts.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <gmime/gmime.h>
#include <jansson.h>

#include "config.h"
#include "dmarc.h"
#include "storage.h"

#define MM_RULES_ERROR (mm_rules_error_quark())
GQuark mm_rules_error_quark(void);

typedef enum {
  MM_RULES_ERROR_FAILED,  /* something below failed; message says what */
  MM_RULES_ERROR_INVALID, /* a message or metadata we cannot work with */
} MmRulesError;

/* ---- The post under judgement ------------------------------------------ */

typedef struct MmPostPrivate MmPostPrivate;

/* Context fields are public (callers fill them); the message itself is
 * reached through the functions below. */
typedef struct {
  const MmConfig *config;          /* borrowed */
  MmStore *store;                  /* borrowed */
  const MmList *list;              /* borrowed */
  json_t *meta;                    /* owned reference: Mailman's msgdata */
  /* DMARC TXT lookups (dmarc.h): borrowed; NULL: the system resolver
   * waiting [dmarc] resolver_lifetime. */
  const MmDmarcResolver *resolver;
  /* The public suffix list for DMARC's organizational domains; NULL: the
   * cached copy in var_dir, then the publicsuffix package's file. */
  const char *psl_path;
  MmPostPrivate *priv;
} MmPost;

/* A post of @raw (the queue entry's bytes, referenced) to @list with
 * metadata @meta (a reference is taken; NULL for a new {}).  The senders
 * are computed here, from [mailman] sender_headers ("from_" is the last
 * X-MailFrom field, which intake appends: our queue keeps no Unix From
 * line).  Never fails: a message GMime cannot parse has no senders and no
 * parts. */
MmPost *mm_rules_post_new(const MmConfig *config, MmStore *store,
                          const MmList *list, GBytes *raw, json_t *meta);
void mm_rules_post_free(MmPost *post);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmPost, mm_rules_post_free)

/* The message as it stands now (borrowed). */
GBytes *mm_rules_post_message(MmPost *post);
/* Replaces the message (a reference is taken); the parse is redone on
 * the next mm_rules_post_mime(). */
void mm_rules_post_set_message(MmPost *post, GBytes *raw);
/* The GMime parse of the current message (borrowed; NULL when GMime can
 * make nothing of it). */
GMimeMessage *mm_rules_post_mime(MmPost *post);

/* Mailman's msg.senders: valid lower-case addresses, in header order,
 * duplicates kept (borrowed array of char*). */
GPtrArray *mm_rules_post_senders(MmPost *post);
/* Mailman's msg.sender: the first sender, "" when there is none. */
const char *mm_rules_post_sender(MmPost *post);
/* The Message-ID for log lines ("n/a" without one).  Borrowed. */
const char *mm_rules_post_message_id(MmPost *post);

/* All values of header @name (ASCII case-insensitive) in the top-level
 * header, unfolded and trimmed as Python's str(msg[name]) gives them (no
 * RFC 2047 decoding).  A NULL-terminated vector (transfer full). */
char **mm_rules_post_header_values(MmPost *post, const char *name);
/* The first value, or NULL.  Transfer full. */
char *mm_rules_post_header(MmPost *post, const char *name);

/* Appends "Name: value" at the end of the header block, folded at "; "
 * when long (Mailman appends with msg[name] = value).  Other bytes are
 * kept. */
void mm_rules_post_header_append(MmPost *post, const char *name,
                                 const char *value);
/* Removes every field called @name from the header block.  Returns how
 * many were removed. */
guint mm_rules_post_header_remove(MmPost *post, const char *name);

/* Appends @reason to metadata "moderation_reasons" and sets
 * "moderation_sender" to @sender (NULL: leave it). */
void mm_rules_post_add_reason(MmPost *post, const char *sender,
                              const char *reason);

/* ---- Rules ------------------------------------------------------------- */

typedef struct {
  const char *name;        /* Mailman's rule name: "max-size" */
  const char *description; /* one line */
  gboolean record;         /* hits and misses go to rule_hits/_misses */
  /* Sets @hit_out.  FALSE with @error when the rule could not decide (a
   * database failure): the runner retries the post later. */
  gboolean (*check)(MmPost *post, gboolean *hit_out, GError **error);
} MmRule;

/* The rule called @name, or NULL.  Static. */
const MmRule *mm_rules_find(const char *name);
/* Every rule, in the order of rules-list.h (static, @n_out entries). */
const MmRule *const *mm_rules_all(gsize *n_out);

/* Mailman's HeaderMatchRule check (used by the header-match chain): hits
 * when any value of header @header in any MIME part, RFC 2047 decoded,
 * contains a match of @pattern (case-insensitive).  A pattern that does
 * not compile is logged to "error" and misses.  On a hit the reason
 * 'Header "<header>" matched a header rule' is recorded. */
gboolean mm_rules_header_match(MmPost *post, const char *header,
                               const char *pattern);
