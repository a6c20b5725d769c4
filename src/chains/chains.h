/* Moderation chains: what happens to a post once the rules have been
 * asked (Mailman 3's mailman/chains/ and mailman/core/chains.py), and the
 * moderator's side of held messages (mailman/app/moderator.py).
 *
 * A chain is a list of links (rule, action, target chain).  The engine
 * walks them: a link whose rule hits jumps to another chain, detours
 * through one and comes back, defers (only records the hit), or runs a
 * terminal chain's action and stops.  Every hit and miss of a recorded
 * rule goes to metadata "rule_hits" / "rule_misses" in order.  Terminal
 * chains: accept (on to the pipeline queue), hold (message store, request,
 * notices), reject (a notice to the sender), discard, and the owner chain
 * for -owner mail.  Each decision is logged to "vette".  Chains are one
 * file each (chains-NAME.c) and one line in the table of chains.c.
 *
 * Notices are messages in the virgin queue with metadata "recipients",
 * "listid", "nodecorate" and "reduced_list_headers", as Mailman's
 * UserNotification.send(); the delivery engine sends them.
 *
 * Queue semantics: a terminal chain enqueues durably before the caller
 * finishes the entry.  A crash in between runs the chains again: accept
 * then enqueues the post twice (at least once, as everywhere); hold finds
 * the request it already made (same list, same Message-ID) and does not
 * hold or notify again.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "rules.h"
#include "storage.h"

#define MM_CHAINS_ERROR (mm_chains_error_quark())
GQuark mm_chains_error_quark(void);

typedef enum {
  MM_CHAINS_ERROR_FAILED,    /* a rule, the database or a queue failed */
  MM_CHAINS_ERROR_NO_CHAIN,  /* a chain name nothing defines */
  MM_CHAINS_ERROR_NOT_FOUND, /* no such held request */
  MM_CHAINS_ERROR_INVALID,   /* an action that does not apply */
} MmChainsError;

/* Runs @post through the chain called @start_chain (the list's
 * posting_chain, or owner_chain for -owner mail), as Mailman's
 * process() does: metadata "rule_hits" and "rule_misses" are reset and
 * filled, the terminal chain acts (enqueues, holds, notifies, logs).
 * Queues and the message store are found through post->config
 * (queue_dir, messages_dir).
 *
 * Returns TRUE with @taken_out (may be NULL) set to the name of the
 * terminal chain that ran ("accept", "hold", "reject", "discard",
 * "default-owner-chain"; static), or to NULL when the chains ended
 * without one.  FALSE with @error when a rule or a terminal chain failed
 * (the database is busy, a queue is full): nothing was enqueued, so the
 * caller may retry the whole entry later. */
gboolean mm_chains_process(MmPost *post, const char *start_chain,
                           const char **taken_out, GError **error);

/* TRUE if a chain called @name exists. */
gboolean mm_chains_exists(const char *name);

/* ---- Held messages (moderators) --------------------------------------- */

/* A held message as the moderator sees it. */
typedef struct {
  gint64 id;          /* the request id */
  char *message_id;
  char *sender;
  char *subject;
  char *reason;
  char *hold_date;    /* ISO 8601, UTC, as Mailman's _mod_hold_date */
} MmHeldMessage;

void mm_held_message_free(MmHeldMessage *held);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmHeldMessage, mm_held_message_free)

/* The messages held for @list, oldest first (GPtrArray of MmHeldMessage,
 * transfer full). */
GPtrArray *mm_chains_held_messages(MmStore *store, const MmList *list,
                                   GError **error);

/* One held message, or NULL with MM_CHAINS_ERROR_NOT_FOUND. */
MmHeldMessage *mm_chains_held_message_get(MmStore *store, const MmList *list,
                                          gint64 request_id, GError **error);

/* The bytes of held message @request_id from the message store (transfer
 * full), or NULL with NOT_FOUND. */
GBytes *mm_chains_held_message_bytes(const MmConfig *config, MmStore *store,
                                     const MmList *list, gint64 request_id,
                                     GError **error);

/* A moderator's decision on held message @request_id of @list (Mailman's
 * handle_message()):
 *   MM_ACTION_ACCEPT   the stored message goes to the pipeline queue with
 *                      metadata "approved" and "moderator_approved" and an
 *                      X-Mailman-Approved-At header; the rules are not run
 *                      again;
 *   MM_ACTION_REJECT   the poster gets a refusal notice quoting @comment
 *                      ("[No reason given]" when NULL);
 *   MM_ACTION_DISCARD  the message is dropped;
 *   MM_ACTION_DEFER, MM_ACTION_HOLD  nothing: it stays held.
 * Except for defer and hold, the request, its tokens and (unless another
 * request refers to it) the stored message are deleted, and the decision
 * is logged to "vette".  NOT_FOUND for an unknown request; FAILED when
 * the database or a queue fails (nothing changed, unless the failure came
 * after the enqueue, when a second accept could queue the post twice). */
gboolean mm_chains_moderate(const MmConfig *config, MmStore *store,
                            const MmList *list, gint64 request_id,
                            MmAction action, const char *comment,
                            GError **error);

/* The periodic clean-up of Mailman's task runner for moderation data:
 * expired pendings are deleted, then requests whose data expired with them
 * (moderator_request_life: a held message is silently dropped, as in
 * Mailman), then stored messages no request refers to.  Counts go to the
 * "task" log.  FALSE with @error on a database failure. */
gboolean mm_chains_evict_expired(const MmConfig *config, MmStore *store,
                                 GError **error);
