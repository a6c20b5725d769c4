/* Internals shared by the files of the runners module.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "queue.h"
#include "storage.h"

typedef struct MmRunnerContext MmRunnerContext;

/* What a handler asks the loop to do with the entry it was given. */
typedef enum {
  MM_RUNNER_FINISH, /* done: whatever comes next was enqueued durably */
  MM_RUNNER_KEEP,   /* try again later: re-enqueue a fresh copy here */
  MM_RUNNER_SHUNT,  /* failed: park it in shunt with the error */
} MmRunnerResult;

typedef MmRunnerResult (*MmRunnerHandler)(MmRunnerContext *ctx,
                                          MmQueueEntry *entry,
                                          GError **error);

typedef enum {
  MM_RUNNER_KIND_QUEUE,   /* scans its queue directory */
  MM_RUNNER_KIND_LMTP,    /* serves LMTP on a GMainLoop */
  MM_RUNNER_KIND_PERIODIC, /* no queue: wakes every sleep_time */
  MM_RUNNER_KIND_IDLE,    /* holding area (shunt, bad): never started */
} MmRunnerKind;

/* The work of a periodic runner, run every time it wakes. */
typedef gboolean (*MmRunnerPeriodic)(MmRunnerContext *ctx, GError **error);

typedef struct {
  const char *class_name; /* Mailman's class, e.g. mailman.runners.incoming.IncomingRunner */
  MmRunnerKind kind;
  MmRunnerHandler handler; /* queue runners; NULL: not implemented yet */
  const char *unavailable; /* non-NULL: why this build cannot run it */
  MmRunnerPeriodic periodic; /* periodic runners; NULL: nothing to do */
} MmRunnerClass;

/* Looks up the class configured for [runner.@name]; NULL if unknown. */
const MmRunnerClass *mm_runner_class_lookup(const MmConfig *config,
                                            const char *name);

struct MmRunnerContext {
  const MmConfig *config;
  const char *name;       /* section name: "in", "out", ... */
  const char *queue_root; /* var/queue */
  MmStore *store;         /* opened on first use: mm_runner_store() */
  gint64 last_task_usec;  /* periodic runners: monotonic time of the last
                             run, 0 before the first */
};

/* TRUE when a stop signal (SIGTERM, SIGINT, SIGUSR1) is waiting for this
 * queue runner: they are blocked and taken between entries, so a handler
 * that runs long (a large fan-out) asks this to stop early and keep its
 * entry. */
gboolean mm_runner_stop_requested(void);

/* The site database, opened read-write on first use and kept for the life
 * of the runner.  Borrowed; NULL with @error if it cannot be opened. */
MmStore *mm_runner_store(MmRunnerContext *ctx, GError **error);

/* Enqueues a copy of @entry into queue @next (metadata as is).  The helper
 * every forwarding handler uses. */
MmRunnerResult mm_runner_forward(MmRunnerContext *ctx, MmQueueEntry *entry,
                                 const char *next, GError **error);

/* Queue handlers, one file each (runner-NAME.c), wired in runner-table.c. */
MmRunnerResult mm_runner_handle_in(MmRunnerContext *ctx, MmQueueEntry *entry,
                                   GError **error);
MmRunnerResult mm_runner_handle_pipeline(MmRunnerContext *ctx,
                                         MmQueueEntry *entry, GError **error);
MmRunnerResult mm_runner_handle_virgin(MmRunnerContext *ctx,
                                       MmQueueEntry *entry, GError **error);
MmRunnerResult mm_runner_handle_out(MmRunnerContext *ctx, MmQueueEntry *entry,
                                    GError **error);
MmRunnerResult mm_runner_handle_retry(MmRunnerContext *ctx,
                                      MmQueueEntry *entry, GError **error);
MmRunnerResult mm_runner_handle_bounces(MmRunnerContext *ctx,
                                        MmQueueEntry *entry, GError **error);
MmRunnerResult mm_runner_handle_command(MmRunnerContext *ctx,
                                        MmQueueEntry *entry, GError **error);

/* The bounce runner's scoring pass (runner-bounces.c). */
gboolean mm_runner_bounces_periodic(MmRunnerContext *ctx, GError **error);

/* The task runner's work (runner-task.c). */
gboolean mm_runner_task_run(MmRunnerContext *ctx, GError **error);

/* The LMTP runner body (runner-lmtp.c). */
int mm_runner_run_lmtp(const MmConfig *config);
