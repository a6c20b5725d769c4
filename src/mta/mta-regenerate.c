/* Regeneration: write the selected MTA's files, rebuild its indexed maps,
 * keep the lists' data directories in step with the database.
 *
 * Mailman 3 (mailman/mta/postfix.py LMTP.regenerate) takes the lock
 * $lock_dir/mta, writes each file as FILE.new and renames it, then runs
 * "postmap_command FILE" through the shell for hash tables and raises if
 * any failed.  We keep the lock and the order, but write through
 * base-file.h (fsync, rename, fsync of the directory), run postmap without a
 * shell and with a bounded capture of its stderr, and report which file
 * failed and what postmap said.
 *
 * What a crash leaves: every file is complete (old or new); if the crash
 * falls between writing postfix_lmtp and its postmap, the .db is older than
 * the text file until the next regeneration, which every `mailman start`
 * performs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mta.h"
#include "mta-private.h"

#include "base-error.h"
#include "base-file.h"
#include "base-lock.h"
#include "base-log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Map files are read by the MTA, which runs as another user: readable by
 * all (they hold list addresses, which are public), the umask permitting. */
#define MAP_FILE_MODE 0644
/* Mailman's makedirs() default for list data directories; the MTA's
 * routing process (Exim's require_files) must be able to search them. */
#define LIST_DIR_MODE 0755
/* postmap of a large map on a slow disk takes seconds, not minutes. */
#define MAP_COMMAND_TIMEOUT_SEC 300
/* Enough of a command's stderr to explain a failure. */
#define MAP_COMMAND_STDERR_MAX 8192

/* ---- Running postmap / makemap ---------------------------------------- */

/* Reads @fd until EOF or @deadline_usec (monotonic), keeping at most
 * MAP_COMMAND_STDERR_MAX bytes in @out and discarding the rest, so that a
 * chatty command can neither block on a full pipe nor fill our memory.
 * Returns FALSE on timeout. */
static gboolean
drain_bounded(int fd, GString *out, gint64 deadline_usec)
{
  char buf[4096];

  for (;;) {
    gint64 left_usec = deadline_usec - g_get_monotonic_time();
    if (left_usec <= 0)
      return FALSE;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int timeout_msec = (int)MIN(left_usec / 1000 + 1, G_MAXINT);
    int ready = poll(&pfd, 1, timeout_msec);
    if (ready < 0) {
      if (errno == EINTR)
        continue;
      return TRUE; /* nothing more we can read; the exit status decides */
    }
    if (ready == 0)
      continue; /* the deadline check above ends the loop */
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return TRUE;
    gsize room = MAP_COMMAND_STDERR_MAX - MIN(out->len, MAP_COMMAND_STDERR_MAX);
    g_string_append_len(out, buf, (gssize)MIN((gsize)n, room));
  }
}

/* A command's stderr as one printable line: lines joined with "; ",
 * control characters and invalid UTF-8 escaped (the text ends up in
 * logs and in `mailman aliases` output). */
static char *
one_line(const char *text)
{
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  g_autoptr(GString) joined = g_string_new(NULL);

  for (char **line = lines; *line != NULL; line++) {
    g_strstrip(*line);
    if ((*line)[0] == '\0')
      continue;
    if (joined->len > 0)
      g_string_append(joined, "; ");
    g_string_append(joined, *line);
  }
  return mm_log_escape(joined->str, (gssize)joined->len);
}

gboolean
mm_mta_run_map_command(const char *command, const char *path,
                       gboolean stdin_from_path, guint timeout_sec,
                       GError **error)
{
  g_auto(GStrv) words = NULL;
  GError *local_error = NULL;
  int stdin_fd = -1;
  int stderr_fd = -1;
  GPid pid = 0;

  if (command == NULL || !g_shell_parse_argv(command, NULL, &words,
                                             &local_error)) {
    g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_CONFIG,
                "cannot parse the map command \"%s\": %s",
                command != NULL ? command : "",
                local_error != NULL ? local_error->message : "missing");
    g_clear_error(&local_error);
    return FALSE;
  }
  GStrvBuilder *builder = g_strv_builder_new();
  g_strv_builder_addv(builder, (const char **)words);
  g_strv_builder_add(builder, path);
  g_auto(GStrv) argv = g_strv_builder_end(builder);
  g_strv_builder_unref(builder);

  if (stdin_from_path) {
    stdin_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (stdin_fd < 0)
      return mm_error_from_errno(error, errno, path);
  }
  /* No shell: a data directory with spaces or quotes in its name is passed
   * as one argument, and nothing in the path is ever interpreted. */
  gboolean spawned = g_spawn_async_with_pipes_and_fds(
      NULL, (const char *const *)argv, NULL,
      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
          G_SPAWN_STDOUT_TO_DEV_NULL,
      NULL, NULL, stdin_fd, -1, -1, NULL, NULL, 0, &pid, NULL, NULL,
      &stderr_fd, &local_error);
  if (stdin_fd >= 0)
    close(stdin_fd);
  if (!spawned) {
    g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_COMMAND,
                "%s: cannot run \"%s\": %s", path, argv[0],
                local_error->message);
    g_error_free(local_error);
    return FALSE;
  }

  g_autoptr(GString) errors = g_string_new(NULL);
  gint64 deadline_usec =
      g_get_monotonic_time() + (gint64)timeout_sec * G_USEC_PER_SEC;
  gboolean in_time = drain_bounded(stderr_fd, errors, deadline_usec);
  close(stderr_fd);
  if (!in_time)
    kill(pid, SIGKILL);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid(pid);

  g_strstrip(errors->str);
  errors->len = strlen(errors->str);
  if (!in_time) {
    g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_COMMAND,
                "%s: \"%s\" did not finish within %u s and was killed", path,
                argv[0], timeout_sec);
    return FALSE;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return TRUE;

  g_autofree char *how =
      WIFEXITED(status)
          ? g_strdup_printf("exited with status %d", WEXITSTATUS(status))
          : g_strdup_printf("was killed by signal %d",
                            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  g_autofree char *said = one_line(errors->str);
  g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_COMMAND,
              "%s: \"%s\" %s%s%s", path, command, how,
              said[0] != '\0' ? ": " : "", said);
  return FALSE;
}

/* ---- Writing files ------------------------------------------------------ */

static gboolean
write_map(const char *directory, const char *name, const GString *contents,
          GPtrArray *written, GError **error)
{
  g_autofree char *path = g_build_filename(directory, name, NULL);

  if (!mm_file_write_atomic(path, contents->str, contents->len,
                            MAP_FILE_MODE, error))
    return FALSE;
  if (written != NULL)
    g_ptr_array_add(written, g_steal_pointer(&path));
  return TRUE;
}

/* Unlinks @directory/@name if it exists and makes that durable. */
static gboolean
remove_map(const char *directory, const char *name, GError **error)
{
  g_autofree char *path = g_build_filename(directory, name, NULL);

  if (unlink(path) < 0) {
    if (errno == ENOENT)
      return TRUE;
    return mm_error_from_errno(error, errno, path);
  }
  return mm_fsync_dir(directory, error);
}

/* Runs @command on each path of @paths; collects every failure (as Mailman
 * does) into one error so that one bad map does not hide another. */
static gboolean
run_on_each(const char *command, GPtrArray *paths, gboolean stdin_from_path,
            GError **error)
{
  g_autoptr(GString) failures = g_string_new(NULL);

  for (guint i = 0; i < paths->len; i++) {
    GError *local_error = NULL;
    if (!mm_mta_run_map_command(command, g_ptr_array_index(paths, i),
                                stdin_from_path, MAP_COMMAND_TIMEOUT_SEC,
                                &local_error)) {
      if (failures->len > 0)
        g_string_append(failures, "\n");
      g_string_append(failures, local_error->message);
      g_error_free(local_error);
    }
  }
  if (failures->len == 0)
    return TRUE;
  g_set_error_literal(error, MM_MTA_ERROR, MM_MTA_ERROR_COMMAND,
                      failures->str);
  return FALSE;
}

static gboolean
parse_lmtp(const MmConfig *config, const char **host_out, guint *port_out,
           GError **error)
{
  const char *host = mm_config_get(config, "mta", "lmtp_host");
  const char *port = mm_config_get(config, "mta", "lmtp_port");
  guint64 value = 0;

  /* Mailman's defaults, should the schema ever lack them. */
  if (host == NULL || host[0] == '\0')
    host = "127.0.0.1";
  if (port == NULL || port[0] == '\0')
    port = "8024";
  /* A Unix socket has no port (mm_mta_lmtp_nexthop() ignores it). */
  if (mm_mta_lmtp_host_is_unix(host)) {
    *host_out = host;
    *port_out = 0;
    return TRUE;
  }
  if (!g_ascii_string_to_unsigned(port, 10, 1, 65535, &value, NULL)) {
    g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_CONFIG,
                "[mta] lmtp_port: \"%s\" is not a port number", port);
    return FALSE;
  }
  *host_out = host;
  *port_out = (guint)value;
  return TRUE;
}

static gboolean
regenerate_postfix(const MmConfig *config, const char *directory,
                   const GPtrArray *lists, const GPtrArray *domains,
                   GDateTime *now, GError **error)
{
  const char *type = mm_config_get(config, "postfix", "transport_file_type");
  const char *postmap = mm_config_get(config, "postfix", "postmap_command");
  const char *lmtp_host = NULL;
  guint lmtp_port = 0;

  if (type == NULL || type[0] == '\0')
    type = "hash";
  if (postmap == NULL || postmap[0] == '\0')
    postmap = "/usr/sbin/postmap";
  /* Mailman decorates keys for "regex" and runs postmap for "hash"; any
   * other value would silently produce a map nobody can read. */
  if (!g_str_equal(type, "hash") && !g_str_equal(type, "regex")) {
    g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_CONFIG,
                "[postfix] transport_file_type: \"%s\" is neither hash nor "
                "regex",
                type);
    return FALSE;
  }
  gboolean regex = g_str_equal(type, "regex");
  if (!parse_lmtp(config, &lmtp_host, &lmtp_port, error))
    return FALSE;

  g_autoptr(GPtrArray) written = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GString) transport = mm_mta_postfix_transport(
      lists, domains, lmtp_host, lmtp_port, regex, now);
  g_autoptr(GString) relay = mm_mta_postfix_domains(lists, domains, regex,
                                                    now);
  g_autoptr(GString) vmap = mm_mta_postfix_vmap(lists, domains, regex, now);
  if (!write_map(directory, "postfix_lmtp", transport, written, error) ||
      !write_map(directory, "postfix_domains", relay, written, error))
    return FALSE;

  if (vmap != NULL) {
    if (!write_map(directory, "postfix_vmap", vmap, written, error))
      return FALSE;
  } else {
    /* Mailman removes the text file when no domain has an alias.  A
     * postfix_vmap.db left from before would go on rewriting addresses to
     * an alias domain that is gone, so we empty it first (through a
     * header-only postfix_vmap, then removed as Mailman does); a site
     * whose main.cf still names the map keeps a valid, empty one. */
    g_autofree char *db = g_build_filename(directory, "postfix_vmap.db", NULL);
    if (!regex && g_file_test(db, G_FILE_TEST_EXISTS)) {
      g_autoptr(GString) empty = g_string_new(NULL);
      mm_mta_append_header(empty, now, "    \n");
      g_autoptr(GPtrArray) one = g_ptr_array_new_with_free_func(g_free);
      if (!write_map(directory, "postfix_vmap", empty, one, error) ||
          !run_on_each(postmap, one, FALSE, error))
        return FALSE;
    }
    if (!remove_map(directory, "postfix_vmap", error))
      return FALSE;
  }

  if (regex)
    return TRUE;
  return run_on_each(postmap, written, FALSE, error);
}

static gboolean
regenerate_exim(const char *directory, const GPtrArray *lists,
                const GPtrArray *domains, GDateTime *now, GError **error)
{
  g_autoptr(GString) addresses = mm_mta_exim_lists(lists, domains, now);
  g_autoptr(GString) names = mm_mta_exim_domains(lists, domains, now);

  /* lsearch reads the text file at each lookup: no rebuild step. */
  return write_map(directory, "exim_lists", addresses, NULL, error) &&
         write_map(directory, "exim_domains", names, NULL, error);
}

static gboolean
regenerate_sendmail(const MmConfig *config, const char *directory,
                    const GPtrArray *lists, const GPtrArray *domains,
                    GDateTime *now, GError **error)
{
  const char *makemap = mm_config_get(config, "sendmail", "makemap_command");
  const char *lmtp_host = NULL;
  guint lmtp_port = 0;

  if (!parse_lmtp(config, &lmtp_host, &lmtp_port, error))
    return FALSE;
  g_autoptr(GPtrArray) written = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GString) mailertable =
      mm_mta_sendmail_mailertable(lists, domains, lmtp_host, now);
  g_autoptr(GString) access = mm_mta_sendmail_access(lists, domains, now);
  g_autoptr(GString) relay = mm_mta_sendmail_domains(lists, domains, now);
  if (!write_map(directory, "sendmail_mailertable", mailertable, written,
                 error) ||
      !write_map(directory, "sendmail_access", access, written, error) ||
      !write_map(directory, "sendmail_domains", relay, NULL, error))
    return FALSE;
  /* makemap reads the source on stdin and writes FILE.db. */
  if (makemap == NULL || makemap[0] == '\0')
    return TRUE;
  return run_on_each(makemap, written, TRUE, error);
}

/* ---- List data directories ------------------------------------------------ */

/* Creates $list_data_dir/<list_id> for every list that lacks one and
 * removes the empty directories there that belong to no list.  Only empty
 * ones: a removed list's directory may still hold its digest mailbox or
 * files a site put there, and deleting data is the list lifecycle's
 * decision (Mailman's remove_list), not a side effect of regenerating
 * maps.  Empty leftovers matter because Mailman's Exim recipe routes any
 * address whose directory exists to LMTP. */
static gboolean
sync_list_dirs(const char *list_data_dir, const GPtrArray *lists,
               GError **error)
{
  g_autoptr(GHashTable) ids = g_hash_table_new(g_str_hash, g_str_equal);

  if (!mm_mkdir_p(list_data_dir, LIST_DIR_MODE, error))
    return FALSE;
  for (guint i = 0; i < lists->len; i++) {
    const MmList *list = g_ptr_array_index(lists, i);
    g_hash_table_add(ids, list->list_id);
    g_autofree char *path = g_build_filename(list_data_dir, list->list_id,
                                             NULL);
    if (mkdir(path, LIST_DIR_MODE) == 0) {
      /* The umask must not take the search bit away from the MTA. */
      if (chmod(path, LIST_DIR_MODE) < 0)
        return mm_error_from_errno(error, errno, path);
    } else if (errno != EEXIST) {
      return mm_error_from_errno(error, errno, path);
    }
  }

  GError *local_error = NULL;
  GDir *dir = g_dir_open(list_data_dir, 0, &local_error);
  if (dir == NULL) {
    g_propagate_error(error, local_error);
    return FALSE;
  }
  gboolean removed = FALSE;
  const char *name;
  while ((name = g_dir_read_name(dir)) != NULL) {
    if (g_hash_table_contains(ids, name))
      continue;
    g_autofree char *path = g_build_filename(list_data_dir, name, NULL);
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
      continue;
    if (rmdir(path) == 0)
      removed = TRUE;
    /* ENOTEMPTY / EEXIST: it holds data; EACCES etc.: not ours to force. */
  }
  g_dir_close(dir);
  return !removed || mm_fsync_dir(list_data_dir, error);
}

/* ---- Entry point ---------------------------------------------------------- */

gboolean
mm_mta_regenerate(const MmConfig *config, MmStore *store,
                  const char *directory, GError **error)
{
  MmMtaKind kind = mm_config_mta_kind(config);

  if (kind == MM_MTA_NULL)
    return TRUE;

  const char *lock_dir = mm_config_path(config, "lock_dir");
  const char *list_data_dir = mm_config_path(config, "list_data_dir");
  if (directory == NULL)
    directory = mm_config_path(config, "data_dir");
  g_return_val_if_fail(lock_dir != NULL && list_data_dir != NULL &&
                           directory != NULL,
                       FALSE);
  if (!mm_mkdir_p(lock_dir, 02770, error) ||
      !mm_mkdir_p(directory, 02770, error))
    return FALSE;

  /* Serialises regenerations from concurrent `mailman` commands and
   * runners; reading the database under the lock means the last writer
   * always wrote the newest state. */
  g_autofree char *lock_path = g_build_filename(lock_dir, "mta", NULL);
  g_autoptr(MmLock) lock = mm_lock_acquire(lock_path, TRUE, NULL, error);
  if (lock == NULL)
    return FALSE;

  g_autoptr(GPtrArray) lists = mm_store_lists(store, error);
  if (lists == NULL)
    return FALSE;
  g_autoptr(GPtrArray) domains = mm_store_domains(store, error);
  if (domains == NULL)
    return FALSE;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();

  if (!sync_list_dirs(list_data_dir, lists, error))
    return FALSE;

  switch (kind) {
  case MM_MTA_POSTFIX:
    return regenerate_postfix(config, directory, lists, domains, now, error);
  case MM_MTA_EXIM4:
    return regenerate_exim(directory, lists, domains, now, error);
  case MM_MTA_SENDMAIL:
    return regenerate_sendmail(config, directory, lists, domains, now, error);
  case MM_MTA_NULL:
    break;
  }
  return TRUE;
}
