/* The pipelines: what happens to a post between moderation and delivery.
 *
 * Mailman 3 runs an accepted post through a pipeline, an ordered list of
 * handlers (mailman/pipelines/builtin.py and the modules of mailman/handlers):
 * content filtering, recipients, header cooking, the subject prefix, the
 * List-* headers, archiving, digests, bookkeeping, DMARC mitigation and, last,
 * the hand-over to the out queue.  This module is those handlers, one file
 * each, and the table that names the pipelines (handlers-pipeline.c).
 *
 * A runner hands over one queue entry (message bytes and metadata); the
 * pipeline parses it with GMime, edits it in memory and enqueues whatever
 * the handlers produce (archive, digest mailbox, notices in virgin, the
 * post in out).  Every header edit goes through GMime, so added and
 * changed headers are RFC 2047 encoded and folded; headers and parts the
 * pipeline does not touch are written out as they came, except that line
 * endings become LF.
 *
 * Decoration (the list's header and footer) is done here, last before
 * to-outgoing, not at delivery as in Mailman 3.3: a decorated message
 * carries metadata "nodecorate" so that delivery does not decorate it
 * again.  Lists with personalize other than none are left undecorated for
 * delivery, which knows each recipient and applies an MmHandlersDecorator
 * per copy ($user_* substitutions).
 *
 * Delivery is at least once, as everywhere in the queue design: a crash
 * after some of a pipeline's enqueues and before the runner finishes the
 * entry runs the pipeline again, which can archive a post twice, append
 * it twice to the digest mailbox or count it twice in post_id.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "dmarc.h"
#include "notice.h"
#include "storage.h"

/* ---- Pipelines ------------------------------------------------------ */

/* Where a pipeline run left the message. */
typedef enum {
  MM_PIPELINE_DONE,      /* ran to the end (the post is in `out`) */
  MM_PIPELINE_DISCARDED, /* a handler discarded it (logged to vette) */
  MM_PIPELINE_REJECTED,  /* a handler rejected it; the sender got a notice */
  MM_PIPELINE_BAD,       /* unparsable: the caller moves it to `bad` */
  MM_PIPELINE_NO_LIST,   /* its list does not exist: the caller shunts it */
  MM_PIPELINE_FAILED,    /* a handler failed (database, disk): shunt */
} MmPipelineOutcome;

/* What a run needs from the runner.  All borrowed. */
typedef struct {
  const MmConfig *config;
  MmStore *store;
  const char *queue_root; /* var/queue */
  /* DMARC TXT lookups (dmarc.h).  NULL: mm_dmarc_resolver_for_site()
   * with [dmarc] resolver_lifetime. */
  const MmDmarcResolver *resolver;
  const char *entry_id; /* the queue entry, for log lines; may be NULL */
} MmPipelineEnv;

/* Runs one message through a pipeline, as Mailman's pipeline runner
 * (@virgin FALSE: the list's owner_pipeline when metadata "to_owner" is
 * true, else its posting_pipeline) or virgin runner (@virgin TRUE: the
 * "virgin" pipeline, fast-tracked) does.  @raw and @meta are the queue
 * entry's; @meta is not changed (the run works on a copy, so a failed
 * run leaves the entry as it was for the shunt queue).
 *
 * Returns the outcome.  BAD, NO_LIST and FAILED come with @error (whose
 * message is fit for a log line); DONE, DISCARDED and REJECTED are
 * finished business: the caller finishes the entry. */
MmPipelineOutcome mm_handlers_pipeline_process(const MmPipelineEnv *env,
                                               gboolean virgin, GBytes *raw,
                                               json_t *meta, GError **error);

/* TRUE if a pipeline called @name exists ("default-posting-pipeline",
 * "default-owner-pipeline", "virgin"). */
gboolean mm_handlers_pipeline_exists(const char *name);

/* The handler names of pipeline @name in order, NULL-terminated (static),
 * or NULL for an unknown pipeline. */
const char *const *mm_handlers_pipeline_handler_names(const char *name);

/* ---- Per-recipient decoration (handlers-decorate.c) ------------------ */

/* Who a personalized copy is for. */
typedef struct {
  const char *recipient;    /* the envelope address of this copy */
  const char *email;        /* the member's address as subscribed (NULL:
                               @recipient) */
  const char *display_name; /* the member's name, "" or NULL for none */
  const char *language;     /* the member's preferred language code */
} MmHandlersRecipient;

/* The list's header and footer per recipient of a personalized list
 * (Mailman's DecoratingDelivery): the decorate handler's work with the
 * recipient's $member and $user_* variables added.  Made once per message
 * (it parses the message and loads the templates), then applied to every
 * copy; the caller skips digests and messages with metadata nodecorate.
 * Uses no database, so delivery threads may apply it, but one call at a
 * time (each call sets the recipient's variables in the decorator).
 * new: NULL with @error (unparsable message, unknown template). */
typedef struct MmHandlersDecorator MmHandlersDecorator;

MmHandlersDecorator *mm_handlers_decorator_new(const MmConfig *config,
                                               const MmList *list,
                                               GBytes *raw, json_t *meta,
                                               GError **error);
/* The copy for @recipient (transfer full); mail to the mail-archive.com
 * address comes back as it is.  NULL with @error. */
GBytes *mm_handlers_decorator_apply(MmHandlersDecorator *decorator,
                                    const MmHandlersRecipient *recipient,
                                    GError **error);
void mm_handlers_decorator_free(MmHandlersDecorator *decorator);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmHandlersDecorator, mm_handlers_decorator_free)

/* ---- Automatic responses (handlers-replybot.c) ----------------------- */

/* A list's autorespond_owner / _postings / _requests (Mailman's
 * ResponseAction). */
typedef enum {
  MM_REPLYBOT_NONE,
  MM_REPLYBOT_RESPOND_AND_DISCARD,
  MM_REPLYBOT_RESPOND_AND_CONTINUE,
} MmReplybotAction;

/* The action list setting @setting ("autorespond_owner", ...) names. */
MmReplybotAction mm_handlers_replybot_action(const MmList *list,
                                             const char *setting);

/* Mailman's replybot for one queue entry (@raw, @meta with its to_owner /
 * to_request / to_list route): sends the list's automatic response to the
 * sender when the route's autorespond_* asks for one and the grace period
 * allows, and records it (see handlers-replybot.c for every rule).  The
 * caller decides about the message itself: the in and command runners
 * drop it when the action is RESPOND_AND_DISCARD, as Mailman's do.
 * *@sent_out (may be NULL) tells whether a response went out.  FALSE with
 * @error when the database or the virgin queue failed. */
gboolean mm_handlers_replybot(const MmConfig *config, MmStore *store,
                              const MmList *list, GBytes *raw, json_t *meta,
                              gboolean *sent_out, GError **error);

/* Templates and notices: see notice.h. */
