/* The master: lock, pid file, runner children, restarts, signals.
 *
 * All signals are blocked and taken synchronously with sigtimedwait(), so
 * there is no handler code and no race between a SIGCHLD and the decision
 * it drives.  The loop's timeout is the next pending restart.
 *
 * Restart policy (Mailman 3.3.8 only restarts runners that exit for
 * SIGUSR1, and never resets its counter, so ten `mailman restart`s leave
 * the runners down; we do what its documentation promised): a runner that
 * exits because `mailman restart` asked is started again at once and not
 * counted; one that dies otherwise is restarted after 1, 2, 4 ... 60 s, at
 * most max_restarts times; a runner that stayed up for 10 minutes has its
 * count reset; a runner that exits with the configuration status (78) is
 * not restarted, since it would fail the same way.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base-error.h"
#include "base-file.h"
#include "base-lock.h"
#include "base-log.h"
#include "runner.h"

#define BACKOFF_MAX_SEC 60
#define STABLE_AFTER_SEC 600
#define STOP_GRACE_SEC 30

typedef struct {
  char *name;
  guint slice;
  guint count;
  pid_t pid;             /* 0 while not running */
  guint restarts;        /* unexpected deaths counted against the budget */
  gint64 max_restarts;
  gint64 started_usec;   /* monotonic */
  gint64 restart_at_usec; /* monotonic; 0: none scheduled */
  gboolean given_up;
} Child;

typedef struct {
  const MmConfig *config;
  const MmMasterOptions *options;
  GPtrArray *children; /* Child* */
  gboolean stopping;
  gboolean restarting; /* a SIGUSR1 is being passed on */
} Master;

static void
child_free(Child *child)
{
  g_free(child->name);
  g_free(child);
}

static pid_t
spawn_runner(Master *master, Child *child)
{
  g_autofree char *spec =
      g_strdup_printf("--runner=%s:%u:%u", child->name, child->slice,
                      child->count);
  const char *cfg = mm_config_file(master->config);
  GPtrArray *argv = g_ptr_array_new();

  g_ptr_array_add(argv, (char *)"mailman");
  if (cfg != NULL) {
    g_ptr_array_add(argv, (char *)"-C");
    g_ptr_array_add(argv, (char *)cfg);
  }
  if (master->options->run_as_root)
    g_ptr_array_add(argv, (char *)"--run-as-root");
  g_ptr_array_add(argv, (char *)"runner");
  g_ptr_array_add(argv, spec);
  g_ptr_array_add(argv, NULL);

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    mm_log_error("error", "cannot start runner %s: fork: %s", child->name,
                 g_strerror(saved));
    g_ptr_array_free(argv, TRUE);
    return -1;
  }
  if (pid == 0) {
    /* A runner must not outlive its master: a new master would start a
     * second set competing for the same slices. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
      _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    g_setenv("MAILMAN_UNDER_MASTER_CONTROL", "1", TRUE);
    execv("/proc/self/exe", (char **)argv->pdata);
    _exit(127);
  }
  g_ptr_array_free(argv, TRUE);
  child->pid = pid;
  child->started_usec = g_get_monotonic_time();
  child->restart_at_usec = 0;
  mm_log_info("runner", "master: started runner %s slice %u/%u (pid %d)",
              child->name, child->slice, child->count, (int)pid);
  return pid;
}

static void
build_children(Master *master)
{
  g_auto(GStrv) names = mm_config_section_names(master->config, "runner");

  for (char **name = names; *name != NULL; name++) {
    g_autofree char *section = g_strconcat("runner.", *name, NULL);
    const char *const *only = master->options->runner_names;
    if (only != NULL) {
      if (!g_strv_contains(only, *name))
        continue;
    } else if (!mm_config_get_bool(master->config, section, "start")) {
      continue;
    }
    g_autofree char *reason = NULL;
    if (!mm_runner_available(master->config, *name, &reason)) {
      mm_log_info("runner", "master: not starting runner %s: %s", *name,
                  reason);
      continue;
    }
    gint64 instances = mm_config_get_int(master->config, section,
                                         "instances");
    if (instances < 1 || (instances & (instances - 1)) != 0) {
      mm_log_error("error",
                   "master: [%s] instances must be a power of two, not %"
                   G_GINT64_FORMAT "; starting 1",
                   section, instances);
      instances = 1;
    }
    for (gint64 slice = 0; slice < instances; slice++) {
      Child *child = g_new0(Child, 1);
      child->name = g_strdup(*name);
      child->slice = (guint)slice;
      child->count = (guint)instances;
      child->max_restarts =
          mm_config_get_int(master->config, section, "max_restarts");
      g_ptr_array_add(master->children, child);
    }
  }
}

static Child *
find_child(Master *master, pid_t pid)
{
  for (guint i = 0; i < master->children->len; i++) {
    Child *child = master->children->pdata[i];
    if (child->pid == pid)
      return child;
  }
  return NULL;
}

static void
signal_children(Master *master, int sig)
{
  for (guint i = 0; i < master->children->len; i++) {
    Child *child = master->children->pdata[i];
    if (child->pid > 0)
      kill(child->pid, sig);
  }
}

static guint
running_children(Master *master)
{
  guint n = 0;
  for (guint i = 0; i < master->children->len; i++)
    if (((Child *)master->children->pdata[i])->pid > 0)
      n++;
  return n;
}

static void
describe_status(int status, char *buf, gsize len)
{
  if (WIFEXITED(status))
    g_snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    g_snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
               g_strsignal(WTERMSIG(status)));
  else
    g_snprintf(buf, len, "ended with wait status %d", status);
}

static void
reap_children(Master *master)
{
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0)
      return;
    Child *child = find_child(master, pid);
    if (child == NULL)
      continue;
    child->pid = 0;

    char what[128];
    describe_status(status, what, sizeof what);
    if (master->stopping) {
      mm_log_info("runner", "master: runner %s slice %u/%u stopped: %s",
                  child->name, child->slice, child->count, what);
      continue;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == SIGUSR1) {
      /* `mailman restart`: not a failure. */
      spawn_runner(master, child);
      continue;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == MM_RUNNER_EXIT_CONFIG) {
      mm_log_error("error",
                   "master: runner %s slice %u/%u %s (configuration); not "
                   "restarting it",
                   child->name, child->slice, child->count, what);
      child->given_up = TRUE;
      continue;
    }

    gint64 now = g_get_monotonic_time();
    if (now - child->started_usec > STABLE_AFTER_SEC * G_USEC_PER_SEC)
      child->restarts = 0;
    if ((gint64)child->restarts >= child->max_restarts) {
      mm_log_error("error",
                   "master: runner %s slice %u/%u %s; it was restarted %u "
                   "times, the limit (max_restarts); giving up on it",
                   child->name, child->slice, child->count, what,
                   child->restarts);
      child->given_up = TRUE;
      continue;
    }
    gint64 delay_sec = MIN((gint64)1 << MIN(child->restarts, 6u),
                           (gint64)BACKOFF_MAX_SEC);
    child->restarts++;
    child->restart_at_usec = now + delay_sec * G_USEC_PER_SEC;
    mm_log_error("error",
                 "master: runner %s slice %u/%u %s; restarting it in %"
                 G_GINT64_FORMAT " s (restart %u of at most %" G_GINT64_FORMAT
                 ")",
                 child->name, child->slice, child->count, what, delay_sec,
                 child->restarts, child->max_restarts);
  }
}

/* Microseconds until the next scheduled restart, or @idle when none. */
static gint64
next_timeout(Master *master, gint64 idle)
{
  gint64 now = g_get_monotonic_time();
  gint64 best = idle;
  for (guint i = 0; i < master->children->len; i++) {
    Child *child = master->children->pdata[i];
    if (child->pid == 0 && child->restart_at_usec > 0) {
      gint64 left = MAX(child->restart_at_usec - now, 0);
      best = MIN(best, left);
    }
  }
  return best;
}

static void
start_due_children(Master *master)
{
  gint64 now = g_get_monotonic_time();
  for (guint i = 0; i < master->children->len; i++) {
    Child *child = master->children->pdata[i];
    if (child->pid == 0 && child->restart_at_usec > 0 &&
        child->restart_at_usec <= now)
      spawn_runner(master, child);
  }
}

static int
wait_for_signal(const sigset_t *set, gint64 timeout_usec)
{
  struct timespec ts = {.tv_sec = timeout_usec / G_USEC_PER_SEC,
                        .tv_nsec = (timeout_usec % G_USEC_PER_SEC) * 1000};
  int sig = sigtimedwait(set, NULL, &ts);
  return sig < 0 ? 0 : sig;
}

int
mm_master_run(const MmConfig *config, const MmMasterOptions *options)
{
  g_autoptr(GError) error = NULL;
  const char *lock_file = mm_config_path(config, "lock_file");
  const char *pid_file = mm_config_path(config, "pid_file");
  gboolean stale = FALSE;

  mm_log_set_tee_stderr(options->foreground);
  /* The runners inherit the terminal; tell them to copy their lines to it
   * too, so the foreground mode shows every process's log. */
  if (options->foreground)
    g_setenv("MAILMAN_LOG_TEE", "1", TRUE);

  g_autoptr(MmLock) lock = mm_lock_acquire(lock_file, FALSE, &stale, &error);
  if (lock == NULL) {
    if (g_error_matches(error, MM_ERROR, MM_ERROR_LOCKED))
      fprintf(stderr, "GNU Mailman is already running: %s\n",
              error->message);
    else
      fprintf(stderr, "Cannot take the master lock: %s\n", error->message);
    return 1;
  }
  if (stale) {
    /* flock() guarantees the previous holder is gone; its runners died
     * with it (PR_SET_PDEATHSIG), and their claimed entries are recovered
     * by the new runners.  Mailman asks for --force here; there is nothing
     * to be forced. */
    mm_log_warning("runner",
                   "master: a previous master did not exit cleanly; its lock "
                   "%s was stale and has been taken over",
                   lock_file);
  }

  g_autofree char *pid_text = g_strdup_printf("%d\n", (int)getpid());
  if (!mm_file_write_atomic(pid_file, pid_text, strlen(pid_text), 0660,
                            &error)) {
    fprintf(stderr, "Cannot write the pid file: %s\n", error->message);
    return 1;
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);

  Master master = {
      .config = config,
      .options = options,
      .children = g_ptr_array_new_with_free_func((GDestroyNotify)child_free),
  };
  build_children(&master);
  mm_log_info("runner", "master: started (pid %d) with %u runner processes",
              (int)getpid(), master.children->len);
  for (guint i = 0; i < master.children->len; i++)
    spawn_runner(&master, master.children->pdata[i]);

  gint64 stop_deadline = 0;
  while (!master.stopping || running_children(&master) > 0) {
    gint64 timeout = next_timeout(&master, 60 * G_USEC_PER_SEC);
    if (master.stopping)
      timeout = MIN(timeout, MAX(stop_deadline - g_get_monotonic_time(), 0));
    int sig = wait_for_signal(&set, timeout);

    switch (sig) {
    case SIGCHLD:
      reap_children(&master);
      break;
    case SIGTERM:
    case SIGINT:
      if (!master.stopping) {
        mm_log_info("runner", "master: stopping the runners (signal %d)", sig);
        master.stopping = TRUE;
        stop_deadline =
            g_get_monotonic_time() + STOP_GRACE_SEC * G_USEC_PER_SEC;
        signal_children(&master, SIGTERM);
      }
      break;
    case SIGUSR1:
      mm_log_info("runner", "master: restarting the runners");
      signal_children(&master, SIGUSR1);
      break;
    case SIGHUP:
      if (!mm_log_reopen(&error)) {
        mm_log_error("error", "master: cannot reopen logs: %s",
                     error->message);
        g_clear_error(&error);
      }
      mm_log_info("runner", "master: logs reopened");
      signal_children(&master, SIGHUP);
      break;
    default:
      break;
    }
    reap_children(&master);
    if (!master.stopping)
      start_due_children(&master);
    else if (g_get_monotonic_time() >= stop_deadline &&
             running_children(&master) > 0) {
      mm_log_error("error",
                   "master: runners still running %d s after SIGTERM; "
                   "killing them",
                   STOP_GRACE_SEC);
      signal_children(&master, SIGKILL);
      stop_deadline = G_MAXINT64;
    }
  }

  mm_log_info("runner", "master: stopped");
  unlink(pid_file);
  g_ptr_array_free(master.children, TRUE);
  return 0;
}
