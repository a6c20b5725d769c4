/* The runner classes this build knows, keyed by Mailman's class names.
 *
 * Each [runner.NAME] section names a Python class; a site's mailman.cfg
 * keeps working because the same names select our equivalents here.  Adding
 * a runner is one handler function and one line in this table.
 *
 * The handlers below are the plumbing between queues that the later parts
 * of the product fill in (rules and chains in `in`, the handlers of the
 * posting pipeline, SMTP delivery in `out`, bounce detection in `bounces`,
 * email commands in `command`).  A class whose handler is NULL is started,
 * recovers its slice and leaves entries queued, so nothing is dropped
 * before the code that handles it exists.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "runner.h"
#include "runner-private.h"

#include <string.h>

/* archive: with no archiver enabled (Mailman's default) there is nothing to
 * do with the copy, which Mailman's archive runner also drops. */
static MmRunnerResult
handle_archive(MmRunnerContext *ctx, MmQueueEntry *entry, GError **error)
{
  return MM_RUNNER_FINISH;
}

static const MmRunnerClass classes[] = {
    {"mailman.runners.incoming.IncomingRunner", MM_RUNNER_KIND_QUEUE,
     mm_runner_handle_in, NULL},
    {"mailman.runners.pipeline.PipelineRunner", MM_RUNNER_KIND_QUEUE,
     mm_runner_handle_pipeline, NULL},
    {"mailman.runners.virgin.VirginRunner", MM_RUNNER_KIND_QUEUE,
     mm_runner_handle_virgin, NULL},
    {"mailman.runners.retry.RetryRunner", MM_RUNNER_KIND_QUEUE,
     mm_runner_handle_retry, NULL},
    {"mailman.runners.outgoing.OutgoingRunner", MM_RUNNER_KIND_QUEUE,
     mm_runner_handle_out, NULL},
    {"mailman.runners.bounce.BounceRunner", MM_RUNNER_KIND_QUEUE,
     mm_runner_handle_bounces, NULL, mm_runner_bounces_periodic},
    {"mailman.runners.command.CommandRunner", MM_RUNNER_KIND_QUEUE,
     mm_runner_handle_command, NULL},
    {"mailman.runners.digest.DigestRunner", MM_RUNNER_KIND_QUEUE, NULL, NULL},
    {"mailman.runners.archive.ArchiveRunner", MM_RUNNER_KIND_QUEUE,
     handle_archive, NULL},
    {"mailman.runners.nntp.NNTPRunner", MM_RUNNER_KIND_QUEUE, NULL, NULL},
    {"mailman.runners.lmtp.LMTPRunner", MM_RUNNER_KIND_LMTP, NULL, NULL},
    {"mailman.runners.task.TaskRunner", MM_RUNNER_KIND_PERIODIC, NULL, NULL,
     mm_runner_task_run},
    {"mailman.runners.rest.RESTRunner", MM_RUNNER_KIND_PERIODIC, NULL,
     "the REST API is not part of this build yet"},
    {"mailman.runners.fake.BadRunner", MM_RUNNER_KIND_IDLE, NULL,
     "a holding area, never started"},
    {"mailman.runners.fake.ShuntRunner", MM_RUNNER_KIND_IDLE, NULL,
     "a holding area, never started"},
};

const MmRunnerClass *
mm_runner_class_lookup(const MmConfig *config, const char *name)
{
  g_autofree char *section = g_strconcat("runner.", name, NULL);
  const char *class_name = mm_config_get(config, section, "class");

  if (class_name == NULL)
    return NULL;
  for (gsize i = 0; i < G_N_ELEMENTS(classes); i++)
    if (g_str_equal(classes[i].class_name, class_name))
      return &classes[i];
  return NULL;
}

gboolean
mm_runner_available(const MmConfig *config, const char *name,
                    char **reason_out)
{
  g_autofree char *section = g_strconcat("runner.", name, NULL);
  const MmRunnerClass *klass = mm_runner_class_lookup(config, name);

  if (klass == NULL) {
    const char *class_name = mm_config_get(config, section, "class");
    *reason_out =
        class_name ? g_strdup_printf("unknown runner class %s", class_name)
                   : g_strdup_printf("no section [%s]", section);
    return FALSE;
  }
  if (klass->unavailable != NULL) {
    *reason_out = g_strdup(klass->unavailable);
    return FALSE;
  }
  return TRUE;
}
