/* The handler table, the pipeline table, and a run of one message.
 *
 * Adding a handler is one file (handlers-NAME.c), one prototype in
 * handlers-private.h and one line in `handlers` below; adding a pipeline
 * is one array and one line in `pipelines`.  The names are Mailman 3's,
 * so a list's posting_pipeline / owner_pipeline setting means what it
 * means to Mailman.
 *
 * A run works on a parsed copy of the entry and a copy of its metadata;
 * what leaves the run is only what the handlers enqueued (archive, virgin,
 * out, ...) and what they wrote (digest mailbox, post counter).  See
 * handlers.h for the at-least-once consequences.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <string.h>

#include "base-error.h"
#include "base-log.h"

typedef struct {
  const char *name;
  MmHandlerFunc func;
} HandlerEntry;

static const HandlerEntry handlers[] = {
    {"validate-authenticity", mm_handlers_validate_authenticity},
    {"mime-delete", mm_handlers_mime_delete},
    {"tagger", mm_handlers_tagger},
    {"member-recipients", mm_handlers_member_recipients},
    {"avoid-duplicates", mm_handlers_avoid_duplicates},
    {"cleanse", mm_handlers_cleanse},
    {"cleanse-dkim", mm_handlers_cleanse_dkim},
    {"cook-headers", mm_handlers_cook_headers},
    {"subject-prefix", mm_handlers_subject_prefix},
    {"rfc-2369", mm_handlers_rfc_2369},
    {"to-archive", mm_handlers_to_archive},
    {"to-digest", mm_handlers_to_digest},
    {"to-usenet", mm_handlers_to_usenet},
    {"after-delivery", mm_handlers_after_delivery},
    {"acknowledge", mm_handlers_acknowledge},
    {"decorate", mm_handlers_decorate},
    {"dmarc", mm_handlers_dmarc},
    {"to-outgoing", mm_handlers_to_outgoing},
    {"owner-recipients", mm_handlers_owner_recipients},
};

/* Mailman's default-posting-pipeline (mailman/pipelines/builtin.py), with
 * one difference: Mailman 3.3 decorates at delivery, after the whole
 * pipeline; we decorate here, last before to-outgoing, so that the footer
 * lands where Mailman puts it (outside a DMARC-wrapped message, say), and
 * mark the message "nodecorate" so that delivery does not add it twice.
 * Lists that personalize keep decoration for delivery (see decorate). */
static const char *const posting_pipeline[] = {
    "validate-authenticity",
    "mime-delete",
    "tagger",
    "member-recipients",
    "avoid-duplicates",
    "cleanse",
    "cleanse-dkim",
    "cook-headers",
    "subject-prefix",
    "rfc-2369",
    "to-archive",
    "to-digest",
    "to-usenet",
    "after-delivery",
    "acknowledge",
    "dmarc",
    "decorate",
    "to-outgoing",
    NULL,
};

static const char *const owner_pipeline[] = {
    "owner-recipients",
    "to-outgoing",
    NULL,
};

/* mailman/pipelines/virgin.py */
static const char *const virgin_pipeline[] = {
    "cook-headers",
    "rfc-2369",
    "to-outgoing",
    NULL,
};

static const struct {
  const char *name;
  const char *const *handlers;
} pipelines[] = {
    {"default-posting-pipeline", posting_pipeline},
    {"default-owner-pipeline", owner_pipeline},
    {"virgin", virgin_pipeline},
};

const char *const *
mm_handlers_pipeline_handler_names(const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS(pipelines); i++) {
    if (g_str_equal(pipelines[i].name, name))
      return pipelines[i].handlers;
  }
  return NULL;
}

gboolean
mm_handlers_pipeline_exists(const char *name)
{
  return mm_handlers_pipeline_handler_names(name) != NULL;
}

MmHandlerResult
mm_handlers_run(const char *name, MmHandlerContext *ctx, GError **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS(handlers); i++) {
    if (g_str_equal(handlers[i].name, name))
      return handlers[i].func(ctx, error);
  }
  g_assert_not_reached();
}

MmHandlerResult
mm_handler_discard(MmHandlerContext *ctx, const char *reason)
{
  g_free(ctx->reason);
  ctx->reason = g_strdup(reason);
  return MM_HANDLER_DISCARD;
}

MmHandlerResult
mm_handler_reject(MmHandlerContext *ctx, const char *reason)
{
  g_free(ctx->reason);
  ctx->reason = g_strdup(reason);
  return MM_HANDLER_REJECT;
}

void
mm_handler_context_clear(MmHandlerContext *ctx)
{
  g_clear_object(&ctx->message);
  g_clear_pointer(&ctx->meta, json_decref);
  g_clear_pointer(&ctx->reason, g_free);
  g_clear_pointer(&ctx->message_id, g_free);
}

/* The language Mailman's runner puts in msgdata["lang"]: the sender's
 * preferred language when the sender is a member, else the list's. */
static void
set_language(MmHandlerContext *ctx)
{
  g_autofree char *sender =
      mm_handlers_message_sender(ctx->config, ctx->message);
  g_autofree char *language = NULL;

  if (sender != NULL)
    language = mm_store_preference_get(ctx->store, sender, ctx->list->list_id,
                                       "preferred_language", NULL);
  json_object_set_new(ctx->meta, "lang",
                      json_string(language != NULL
                                      ? language
                                      : ctx->list->preferred_language));
}

/* The resolver of a run: the caller's, else the site's (a fixture on test
 * sites, the system's with [dmarc] resolver_lifetime otherwise).
 * @made_out keeps what was made alive. */
static const MmDmarcResolver *
choose_resolver(const MmPipelineEnv *env, MmDmarcResolver **made_out)
{
  if (env->resolver != NULL)
    return env->resolver;
  *made_out = mm_dmarc_resolver_for_site(
      mm_config_get_duration_usec(env->config, "dmarc", "resolver_lifetime"));
  return *made_out;
}

static MmPipelineOutcome
run_pipeline(MmHandlerContext *ctx, const char *const *names, GError **error)
{
  for (const char *const *name = names; *name != NULL; name++) {
    mm_log_debug("debug", "%s pipeline %s processing: %s", ctx->message_id,
                 ctx->pipeline, *name);
    MmHandlerResult result = mm_handlers_run(*name, ctx, error);
    switch (result) {
    case MM_HANDLER_CONTINUE:
      continue;
    case MM_HANDLER_DISCARD:
      mm_log_info("vette",
                  "%s discarded by \"%s\" pipeline handler \"%s\": %s",
                  ctx->message_id, ctx->pipeline, *name,
                  ctx->reason != NULL ? ctx->reason : "");
      return MM_PIPELINE_DISCARDED;
    case MM_HANDLER_REJECT: {
      mm_log_info("vette", "%s rejected by \"%s\" pipeline handler \"%s\": %s",
                  ctx->message_id, ctx->pipeline, *name,
                  ctx->reason != NULL ? ctx->reason : "");
      if (!mm_handlers_notice_reject(ctx, ctx->reason, error))
        return MM_PIPELINE_FAILED;
      return MM_PIPELINE_REJECTED;
    }
    case MM_HANDLER_FAILED:
      g_assert(error == NULL || *error != NULL);
      g_prefix_error(error, "pipeline %s, handler %s: ", ctx->pipeline, *name);
      return MM_PIPELINE_FAILED;
    }
  }
  return MM_PIPELINE_DONE;
}

MmPipelineOutcome
mm_handlers_pipeline_process(const MmPipelineEnv *env, gboolean virgin,
                             GBytes *raw, json_t *meta, GError **error)
{
  g_return_val_if_fail(env != NULL && env->config != NULL &&
                           env->store != NULL && raw != NULL,
                       MM_PIPELINE_FAILED);
  g_autoptr(MmDmarcResolver) resolver = NULL;
  MmHandlerContext ctx = {
      .config = env->config,
      .store = env->store,
      .queue_root = env->queue_root,
      .entry_id = env->entry_id,
      .meta = meta != NULL ? json_deep_copy(meta) : json_object(),
  };
  ctx.resolver = choose_resolver(env, &resolver);

  ctx.message = mm_handlers_message_parse(raw, error);
  if (ctx.message == NULL) {
    mm_handler_context_clear(&ctx);
    return MM_PIPELINE_BAD;
  }
  ctx.message_id = mm_handlers_header_get_raw(ctx.message, "Message-ID");
  if (ctx.message_id == NULL)
    ctx.message_id = g_strdup("n/a");

  /* Mailman's runner finds the list by listid, else by listname, and
   * shunts the message when there is none. */
  const char *spec = mm_handlers_meta_string(ctx.meta, "listid");
  if (spec == NULL)
    spec = mm_handlers_meta_string(ctx.meta, "listname");
  if (spec == NULL) {
    g_set_error(error, MM_ERROR, MM_ERROR_NOT_FOUND,
                "%s: no list named in the metadata", ctx.message_id);
    mm_handler_context_clear(&ctx);
    return MM_PIPELINE_NO_LIST;
  }
  g_autoptr(GError) list_error = NULL;
  g_autoptr(MmList) list = mm_store_list_get(env->store, spec, &list_error);
  if (list == NULL) {
    gboolean missing =
        g_error_matches(list_error, MM_STORE_ERROR,
                        MM_STORE_ERROR_NOT_FOUND) ||
        g_error_matches(list_error, MM_STORE_ERROR, MM_STORE_ERROR_INVALID);
    g_propagate_prefixed_error(error, g_steal_pointer(&list_error),
                               "%s: list %s: ", ctx.message_id, spec);
    mm_handler_context_clear(&ctx);
    return missing ? MM_PIPELINE_NO_LIST : MM_PIPELINE_FAILED;
  }
  ctx.list = list;
  set_language(&ctx);

  if (virgin) {
    /* Mailman's VirginRunner fast-tracks what the server wrote itself. */
    json_object_set_new(ctx.meta, "_fasttrack", json_true());
    ctx.pipeline = "virgin";
  } else if (mm_handlers_meta_true(ctx.meta, "to_owner")) {
    ctx.pipeline = mm_list_setting(list, "owner_pipeline");
  } else {
    ctx.pipeline = mm_list_setting(list, "posting_pipeline");
  }
  const char *const *names =
      ctx.pipeline != NULL ? mm_handlers_pipeline_handler_names(ctx.pipeline)
                           : NULL;
  if (names == NULL) {
    g_set_error(error, MM_ERROR, MM_ERROR_NOT_FOUND,
                "%s: list %s names an unknown pipeline \"%s\"", ctx.message_id,
                list->list_id, ctx.pipeline != NULL ? ctx.pipeline : "");
    mm_handler_context_clear(&ctx);
    return MM_PIPELINE_FAILED;
  }
  MmPipelineOutcome outcome = run_pipeline(&ctx, names, error);
  mm_handler_context_clear(&ctx);
  return outcome;
}
