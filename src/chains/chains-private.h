/* Internals shared by the files of the chains module (and its tests).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#define MM_WITH_GMIME
#define MM_WITH_JANSSON
#include "mm-autocleanups.h"

#include "chains.h"
#include "notice.h"

#include "base-log.h"

/* Mailman's LinkAction. */
typedef enum {
  MM_LINK_JUMP,   /* switch to the target chain */
  MM_LINK_DETOUR, /* run the target chain, then come back */
  MM_LINK_DEFER,  /* only record the hit */
  MM_LINK_RUN,    /* run the chain's terminal action */
  MM_LINK_STOP,   /* stop all processing */
} MmLinkAction;

/* One link of a chain as the engine walks it.  Either @rule is set, or
 * @header and @pattern make a header-match rule named @rule_name. */
typedef struct {
  const MmRule *rule;
  char *rule_name;
  char *header;
  char *pattern;
  MmLinkAction action;
  char *target; /* JUMP, DETOUR: a chain name */
} MmChainLink;

void mm_chain_link_free(MmChainLink *link);

typedef struct MmChain MmChain;

struct MmChain {
  const char *name;
  const char *description;
  /* The links for @post (GPtrArray of MmChainLink, transfer full).
   * Terminal chains leave it NULL and set @process; jump chains set
   * @jump_to. */
  GPtrArray *(*links)(const MmChain *chain, MmPost *post);
  /* Terminal chains: the action.  FALSE with @error when it failed before
   * anything was enqueued. */
  gboolean (*process)(MmPost *post, GError **error);
  /* Jump chains (moderation, dmarc): the chain to jump to, from the
   * metadata; NULL when the metadata names nothing valid. */
  const char *(*jump_to)(MmPost *post);
};

/* The chains, one file each. */
extern const MmChain mm_chain_builtin;
extern const MmChain mm_chain_header_match;
extern const MmChain mm_chain_moderation;
extern const MmChain mm_chain_dmarc;
extern const MmChain mm_chain_accept;
extern const MmChain mm_chain_hold;
extern const MmChain mm_chain_reject;
extern const MmChain mm_chain_discard;
extern const MmChain mm_chain_owner;

/* The chain called @name, or NULL. */
const MmChain *mm_chains_find(const char *name);

/* A link for rule @rule_name (which must exist). */
MmChainLink *mm_chain_link_new(const char *rule_name, MmLinkAction action,
                               const char *target);

/* Adds X-Mailman-Rule-Hits / X-Mailman-Rule-Misses ("; "-joined) when the
 * metadata has any, as the accept, hold and reject chains do. */
void mm_chains_add_rule_headers(MmPost *post);

/* The metadata's moderation_reasons as strings (transfer full, NULL-
 * terminated); @fallback alone when there are none. */
char **mm_chains_reasons(MmPost *post, const char *fallback);

/* ---- Notices (chains-notice.c) ----------------------------------------- */

/* Queues @notice (mm_notice_send()) and reports failure in the chains'
 * error domain. */
gboolean mm_chains_notice_send(const MmConfig *config, const MmNotice *notice,
                               GError **error);

/* Loads template @name ("list:user:notice:hold") for @list in @language
 * with Mailman's file lookup order under [paths] template_dir (list,
 * domain, site; language, list language, site default, en) and expands
 * it with the list's standard variables and @extra (char* -> char*; may be
 * NULL); our own built-in text when no file exists.  Transfer full. */
char *mm_chains_template(const MmConfig *config, const MmList *list,
                         const char *name, const char *language,
                         GHashTable *extra);

/* The address the confirmation token @token is sent to:
 * [mta] verp_confirm_format with $address = "<list>-confirm" and $cookie
 * = @token, at the list's host. */
char *mm_chains_confirm_address(const MmConfig *config, const MmList *list,
                                const char *token);

/* The owners and moderators of @list whose delivery is enabled, or the
 * site owner when there are none (the owner pipeline's recipients). */
GPtrArray *mm_chains_list_administrators(const MmConfig *config,
                                         MmStore *store, const MmList *list,
                                         GError **error);

/* The preferred language of @email on @list (member's, else the list's). */
char *mm_chains_language_for(MmStore *store, const MmList *list,
                             const char *email);

/* Enqueues @raw with @meta (not consumed) to queue @name under the
 * configured queue_dir. */
gboolean mm_chains_enqueue(const MmConfig *config, const char *name,
                           GBytes *raw, json_t *meta, GError **error);

/* ---- Holding (chains-moderator.c) --------------------------------------- */

/* Mailman's hold_message(): stores the post and holds a request for it
 * with @reason.  Returns the request id (> 0); @existing_out (may be
 * NULL) is TRUE when this list already held this Message-ID (a replay
 * after a crash), in which case nothing new was made.  0 with @error. */
gint64 mm_chains_hold_message(MmPost *post, const char *reason,
                              gboolean *existing_out, GError **error);

/* Mailman's can_acknowledge(). */
gboolean mm_chains_can_acknowledge(MmPost *post);
