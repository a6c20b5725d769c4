/* Subscription and unsubscription workflows waiting for someone: Mailman's
 * workflowstate table (model/workflowstate.py).
 *
 * A workflow that stops to wait for the subscriber's confirmation or a
 * moderator's approval is saved under the token of its pending (the
 * "subscription" or "unsubscription" pending made by
 * mm_store_pending_add()): the next step to run and the workflow's saved
 * attributes as a JSON text, as in Mailman.  Beside Mailman's three
 * columns the row keeps what the command line and the duplicate check ask
 * about without decoding the JSON: the list, the kind of workflow, the
 * address, whom the token waits for, and when it was made and expires.
 *
 * Invariants: the row belongs to its pending (deleting or evicting the
 * pending deletes the row: the foreign key cascades, as Mailman's
 * confirm(expunge=True) discards the workflow) and to its list (removing
 * the list removes its workflows).  A row whose expires_at has passed
 * reads as gone, whatever the pending says; every reader takes "now" from
 * its caller, so tests can move the clock without sleeping.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "storage.h"

typedef struct {
  char *token;       /* 40 hex digits: the pending's token */
  char *step;        /* the step to run on resumption; NULL when none */
  char *data;        /* the saved attributes, a JSON object as text */
  char *list_id;     /* folded list-id */
  char *workflow;    /* "subscription" or "unsubscription" */
  char *email;       /* the folded address the workflow is about */
  char *token_owner; /* "subscriber" or "moderator" (Mailman's TokenOwner) */
  gint64 created_at; /* unix seconds */
  gint64 expires_at; /* unix seconds; the row is gone after this */
} MmWorkflowState;

void mm_workflow_state_free(MmWorkflowState *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmWorkflowState, mm_workflow_state_free)

/* Saves @state (every field but step may not be NULL), replacing a row
 * with the same token.  The token must be a live pending's (NOT_FOUND
 * otherwise, also for an unknown list); INVALID for a data text that is
 * not a JSON object's shape ('{' first) or over 1 MiB, or an unknown
 * workflow or token owner. */
gboolean mm_store_workflow_save(MmStore *store, const MmWorkflowState *state,
                                GError **error);

/* The workflow saved under @token, or NULL with NOT_FOUND when there is
 * none or it expired before @now_sec.  Transfer full. */
MmWorkflowState *mm_store_workflow_get(MmStore *store, const char *token,
                                       gint64 now_sec, GError **error);

/* Deletes the workflow under @token; an unknown token is not an error.
 * The pending stays (delete it with mm_store_pending_delete(), which
 * takes the row with it). */
gboolean mm_store_workflow_delete(MmStore *store, const char *token,
                                  GError **error);

/* The workflows alive at @now_sec matching every non-NULL filter: @list_id
 * (a list spec), @workflow, @email (folded here), @token_owner; oldest
 * first (GPtrArray of MmWorkflowState, transfer full; empty when none).
 * INVALID for a bad list spec or address. */
GPtrArray *mm_store_workflows(MmStore *store, const char *list_id,
                              const char *workflow, const char *email,
                              const char *token_owner, gint64 now_sec,
                              GError **error);

/* Deletes the workflows that expired before @now_sec together with their
 * pendings.  Returns how many workflows went, or -1 with @error. */
gint64 mm_store_workflow_evict(MmStore *store, gint64 now_sec,
                               GError **error);
