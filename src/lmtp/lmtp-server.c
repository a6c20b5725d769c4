/* The LMTP server: listening sockets, the connection cap, and the services
 * sessions share (recipient lookups in the database, intake and enqueue).
 *
 * Owns the listening sockets, the set of live sessions and the read-only
 * database handle.  The database is opened on first use and closed after
 * any failure other than "not found", so that a missing file at start-up,
 * a schema migrated by a newer master, or a transient error heals by
 * itself at the next RCPT instead of needing a restart.
 *
 * Invariant: a recipient's "250" is produced here only after
 * mm_queue_enqueue_parts_to() returned its copy's ID, i.e. after the queue file
 * and its directory were fsynced (src/queue/).  Nothing is retried within
 * a transaction: a failed copy is answered 451/452 and the MTA retries
 * that recipient alone.
 *
 * Threads: everything runs on the main loop except commit_worker(), which
 * only calls mm_queue_enqueue_parts_to() for a job nobody else touches until it
 * is handed back through the done queue.  Judging and preparing a message
 * (GMime), the database, logging and every socket stay on the main
 * thread.  Why threads: the enqueue waits on two fsyncs; done one after
 * another in the loop they bound the server to one message per fsync pair
 * however many MTA connections are open, while concurrent fsyncs are
 * committed by the file system's journal as one.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lmtp-private.h"

#include "base-error.h"
#include "base-file.h"
#include "base-log.h"
#include "message.h"
#include "queue.h"
#include "storage.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK(mm-lmtp-error-quark, mm_lmtp_error)

/* How many connections one listener event accepts at most, so that a
 * flood cannot starve the sessions already open. */
#define ACCEPT_BATCH 32
/* After accept() fails for want of descriptors, pause listening this long
 * rather than spin on a listener that stays readable. */
#define ACCEPT_PAUSE_MSEC 1000
/* Commit threads at most.  Each one spends its time waiting in fsync, so
 * more threads than cores is the point: every session with a message in
 * flight gets one, up to this cap, and the file system's journal commits
 * the waiting ones together. */
#define COMMIT_THREADS_MAX 32

struct MmLmtpServer {
  const MmConfig *config; /* borrowed */
  MmLmtpLimits limits;
  char *hostname;
  char *queue_dir;
  char *db_path;
  char *verp_delimiter;
  char *listname_chars;
  char *site_owner;

  GPtrArray *listeners;      /* GSocket*, listening */
  GPtrArray *listen_sources; /* GSource*, while accepting */
  GSource *pause_source;     /* while accepting is paused */
  char *unix_path;           /* our socket file, removed at free */
  guint16 port;

  GMainContext *context;
  gboolean started;
  GHashTable *sessions; /* MmLmtpSession* set */
  guint64 next_serial;

  MmStore *store; /* NULL until first needed or after a failure */
  MmQueue *in_queue; /* for the free-space check only */

  /* Group commit: messages of different sessions are made durable by
   * worker threads at the same time, and come back through @done_jobs,
   * which @done_source drains on the main loop. */
  GThreadPool *commit_pool;
  GAsyncQueue *done_jobs; /* CommitJob* */
  GSource *done_source;
  gboolean stopping;
};

typedef struct {
  GSource base;
  MmLmtpServer *server;
} DoneSource;

static void commit_worker(gpointer data, gpointer user_data);
static guint drain_done_jobs(MmLmtpServer *server);
static GSourceFuncs done_source_funcs;

/* ---- Limits ------------------------------------------------------------ */

static gboolean
limit_int(const MmConfig *config, const char *key, gint64 fallback,
          gint64 max, gint64 *value_out, GError **error)
{
  const char *text = config != NULL ? mm_config_get(config, "mta", key) : NULL;
  guint64 value = 0;
  *value_out = fallback;
  if (text == NULL || *text == '\0')
    return TRUE;
  g_autofree char *trimmed = g_strstrip(g_strdup(text));
  if (!g_ascii_string_to_unsigned(trimmed, 10, 0, (guint64)max, &value,
                                  NULL)) {
    g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_CONFIG,
                "[mta] %s: not a number from 0 to %" G_GINT64_FORMAT ": %s",
                key, max, text);
    return FALSE;
  }
  /* Zero means the default, never "unlimited" (STYLE.md 6). */
  if (value > 0)
    *value_out = (gint64)value;
  return TRUE;
}

static gboolean
limit_duration(const MmConfig *config, const char *key, gint64 fallback_sec,
               gint64 *usec_out, GError **error)
{
  const char *text = config != NULL ? mm_config_get(config, "mta", key) : NULL;
  gint64 usec = 0;
  *usec_out = fallback_sec * G_USEC_PER_SEC;
  if (text == NULL || *text == '\0')
    return TRUE;
  if (!mm_config_parse_duration_usec(text, &usec)) {
    g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_CONFIG,
                "[mta] %s: not a duration: %s", key, text);
    return FALSE;
  }
  if (usec > 0)
    *usec_out = usec;
  return TRUE;
}

gboolean
mm_lmtp_limits_from_config(const MmConfig *config, MmLmtpLimits *limits_out,
                           GError **error)
{
  gint64 size, connections, recipients, bad;
  if (!limit_int(config, "lmtp_max_message_size",
                 MM_LMTP_DEFAULT_MAX_MESSAGE_SIZE, G_MAXINT32, &size, error) ||
      !limit_int(config, "lmtp_max_connections",
                 MM_LMTP_DEFAULT_MAX_CONNECTIONS, 100000, &connections,
                 error) ||
      !limit_int(config, "lmtp_max_recipients", MM_LMTP_DEFAULT_MAX_RECIPIENTS,
                 100000, &recipients, error) ||
      !limit_int(config, "lmtp_max_bad_commands",
                 MM_LMTP_DEFAULT_MAX_BAD_COMMANDS, 100000, &bad, error) ||
      !limit_duration(config, "lmtp_timeout", MM_LMTP_DEFAULT_TIMEOUT_SEC,
                      &limits_out->timeout_usec, error) ||
      !limit_duration(config, "lmtp_session_deadline",
                      MM_LMTP_DEFAULT_SESSION_DEADLINE_SEC,
                      &limits_out->session_deadline_usec, error))
    return FALSE;
  limits_out->max_message_size = size;
  limits_out->max_connections = (guint)connections;
  limits_out->max_recipients = (guint)recipients;
  limits_out->max_bad_commands = (guint)bad;
  return TRUE;
}

/* ---- Listening ----------------------------------------------------------- */

static gboolean
listen_on(MmLmtpServer *server, GSocketAddress *address, GError **error)
{
  g_autoptr(GSocket) socket =
      g_socket_new(g_socket_address_get_family(address), G_SOCKET_TYPE_STREAM,
                   G_SOCKET_PROTOCOL_DEFAULT, error);
  if (socket == NULL)
    return FALSE;
  g_socket_set_blocking(socket, FALSE);
  g_socket_set_listen_backlog(socket, 128);
  /* allow_reuse: a restarted runner must not wait for TIME_WAIT. */
  if (!g_socket_bind(socket, address, TRUE, error) ||
      !g_socket_listen(socket, error))
    return FALSE;
  if (server->port == 0 && G_IS_INET_SOCKET_ADDRESS(address)) {
    g_autoptr(GSocketAddress) local = g_socket_get_local_address(socket, NULL);
    if (local != NULL && G_IS_INET_SOCKET_ADDRESS(local))
      server->port =
          g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
  }
  g_ptr_array_add(server->listeners, g_steal_pointer(&socket));
  return TRUE;
}

static gboolean
listen_unix(MmLmtpServer *server, const char *path, GError **error)
{
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_BIND,
                  "%s exists and is not a socket", path);
      return FALSE;
    }
    /* A socket file: in use if something answers, else left by a crash. */
    g_autoptr(GSocketAddress) probe_address =
        g_unix_socket_address_new(path);
    g_autoptr(GSocket) probe =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                     G_SOCKET_PROTOCOL_DEFAULT, NULL);
    if (probe != NULL && g_socket_connect(probe, probe_address, NULL, NULL)) {
      g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_BIND,
                  "%s is in use by another server", path);
      return FALSE;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
      int saved_errno = errno;
      g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_BIND,
                  "cannot remove stale socket %s: %s", path,
                  g_strerror(saved_errno));
      return FALSE;
    }
  }
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
  if (!listen_on(server, address, error))
    return FALSE;
  server->unix_path = g_strdup(path);
  return TRUE;
}

static gboolean
listen_inet(MmLmtpServer *server, const char *host, guint16 port,
            GError **error)
{
  g_autofree char *bare = NULL;
  gsize host_len = strlen(host);
  if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']')
    bare = g_strndup(host + 1, host_len - 2);
  else
    bare = g_strdup(host);

  GList *addresses = NULL;
  GInetAddress *literal = g_inet_address_new_from_string(bare);
  if (literal != NULL) {
    addresses = g_list_append(NULL, literal);
  } else {
    g_autoptr(GResolver) resolver = g_resolver_get_default();
    g_autoptr(GError) resolve_error = NULL;
    addresses =
        g_resolver_lookup_by_name(resolver, bare, NULL, &resolve_error);
    if (addresses == NULL) {
      g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_BIND,
                  "[mta] lmtp_host %s: %s", host, resolve_error->message);
      return FALSE;
    }
  }

  gboolean single = addresses->next == NULL;
  GString *failures = g_string_new(NULL);
  for (GList *l = addresses; l != NULL; l = l->next) {
    /* With port 0 every address shares the port the first one got. */
    g_autoptr(GSocketAddress) address =
        g_inet_socket_address_new(l->data, server->port != 0 ? server->port
                                                             : port);
    g_autoptr(GError) bind_error = NULL;
    if (!listen_on(server, address, &bind_error)) {
      g_autofree char *text = g_inet_address_to_string(l->data);
      g_string_append_printf(failures, "%s[%s]: %s", failures->len ? "; " : "",
                             text, bind_error->message);
      if (!single)
        mm_log_warning("error", "LMTP: cannot listen on [%s]:%u: %s", text,
                       port, bind_error->message);
    }
  }
  g_resolver_free_addresses(addresses);
  if (server->listeners->len == 0) {
    g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_BIND,
                "cannot listen on %s port %u: %s", host, port, failures->str);
    g_string_free(failures, TRUE);
    return FALSE;
  }
  g_string_free(failures, TRUE);
  if (port != 0)
    server->port = port;
  return TRUE;
}

/* ---- Accepting ----------------------------------------------------------- */

static void start_accepting(MmLmtpServer *server);

static void
stop_accepting(MmLmtpServer *server)
{
  for (guint i = 0; i < server->listen_sources->len; i++)
    g_source_destroy(g_ptr_array_index(server->listen_sources, i));
  g_ptr_array_set_size(server->listen_sources, 0);
}

static gboolean
resume_accepting(gpointer data)
{
  MmLmtpServer *server = data;
  g_clear_pointer(&server->pause_source, g_source_unref);
  start_accepting(server);
  return G_SOURCE_REMOVE;
}

/* Refuses a connection over the cap with 421 4.3.2 (RFC 5321 3.8): one
 * non-blocking write, then close; the MTA retries later. */
static void
refuse_connection(MmLmtpServer *server, GSocket *socket)
{
  g_autofree char *line = g_strdup_printf(
      "%s\r\n", mm_lmtp_reply_text(MM_LMTP_REPLY_TOO_MANY_CONNECTIONS));
  g_socket_set_blocking(socket, FALSE);
  g_socket_send(socket, line, strlen(line), NULL, NULL);
  g_socket_close(socket, NULL);
  mm_log_warning("smtp",
                 "LMTP: connection refused, %u sessions open (the limit)",
                 g_hash_table_size(server->sessions));
}

static gboolean
on_listener_ready(GSocket *listener, GIOCondition condition, gpointer data)
{
  MmLmtpServer *server = data;

  for (int i = 0; i < ACCEPT_BATCH; i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) client = g_socket_accept(listener, NULL, &error);
    if (client == NULL) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      /* Out of descriptors or memory: pause rather than spin. */
      mm_log_error("error", "LMTP: accept failed: %s", error->message);
      stop_accepting(server);
      server->pause_source = g_timeout_source_new(ACCEPT_PAUSE_MSEC);
      g_source_set_callback(server->pause_source, resume_accepting, server,
                            NULL);
      g_source_attach(server->pause_source, server->context);
      return G_SOURCE_REMOVE;
    }
    if (g_hash_table_size(server->sessions) >= server->limits.max_connections) {
      refuse_connection(server, client);
      continue;
    }
    MmLmtpSession *session = mm_lmtp_session_new(
        server, client, server->context, ++server->next_serial);
    g_hash_table_add(server->sessions, session);
  }
  return G_SOURCE_CONTINUE;
}

static void
start_accepting(MmLmtpServer *server)
{
  for (guint i = 0; i < server->listeners->len; i++) {
    GSource *source = g_socket_create_source(
        g_ptr_array_index(server->listeners, i), G_IO_IN, NULL);
    g_source_set_callback(source, G_SOURCE_FUNC(on_listener_ready), server,
                          NULL);
    g_source_set_name(source, "mm-lmtp-listener");
    g_source_attach(source, server->context);
    g_ptr_array_add(server->listen_sources, source);
  }
}

/* ---- Public API ---------------------------------------------------------- */

MmLmtpServer *
mm_lmtp_server_new(const MmConfig *config, GError **error)
{
  MmLmtpLimits limits;
  if (!mm_lmtp_limits_from_config(config, &limits, error))
    return NULL;
  return mm_lmtp_server_new_with_limits(config, &limits, error);
}

static char *
config_string(const MmConfig *config, const char *section, const char *key,
              const char *fallback)
{
  const char *value = mm_config_get(config, section, key);
  return g_strdup(value != NULL ? value : fallback);
}

MmLmtpServer *
mm_lmtp_server_new_with_limits(const MmConfig *config,
                               const MmLmtpLimits *limits, GError **error)
{
  g_return_val_if_fail(config != NULL && limits != NULL, NULL);

  g_autoptr(MmLmtpServer) server = g_new0(MmLmtpServer, 1);
  server->config = config;
  server->limits = *limits;
  server->hostname = g_strdup(g_get_host_name());
  server->listeners = g_ptr_array_new_with_free_func(g_object_unref);
  server->listen_sources =
      g_ptr_array_new_with_free_func((GDestroyNotify)g_source_unref);
  server->sessions = g_hash_table_new(NULL, NULL);
  server->done_jobs = g_async_queue_new();
  server->done_source =
      g_source_new(&done_source_funcs, sizeof(DoneSource));
  ((DoneSource *)server->done_source)->server = server;
  g_source_set_name(server->done_source, "mm-lmtp-commits");
  g_source_set_ready_time(server->done_source, -1);
  server->commit_pool =
      g_thread_pool_new(commit_worker, server,
                        (gint)MIN(limits->max_connections, COMMIT_THREADS_MAX),
                        FALSE, NULL);
  server->verp_delimiter = config_string(config, "mta", "verp_delimiter", "+");
  server->listname_chars =
      config_string(config, "mailman", "listname_chars", "[-_.0-9a-z]");
  server->site_owner = config_string(config, "mailman", "site_owner", "");

  const char *queue_dir = mm_config_path(config, "queue_dir");
  if (queue_dir == NULL) {
    g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_CONFIG,
                "no queue directory configured");
    return NULL;
  }
  server->queue_dir = g_strdup(queue_dir);
  /* The queue root is also where sessions spill large messages, before any
   * queue directory below it exists. */
  g_autoptr(GError) dir_error = NULL;
  if (!mm_mkdir_p(queue_dir, 0770, &dir_error)) {
    g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_CONFIG, "%s",
                dir_error->message);
    return NULL;
  }
  g_autoptr(GError) db_error = NULL;
  server->db_path = mm_config_database_path(config, &db_error);
  if (server->db_path == NULL) {
    g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_CONFIG, "%s",
                db_error->message);
    return NULL;
  }

  const char *host = mm_config_get(config, "mta", "lmtp_host");
  if (host == NULL || *host == '\0')
    host = "127.0.0.1";
  gint64 port = mm_config_get_int(config, "mta", "lmtp_port");
  if (port < 0 || port > 65535) {
    g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_CONFIG,
                "[mta] lmtp_port %" G_GINT64_FORMAT " out of range", port);
    return NULL;
  }
  gboolean ok;
  if (g_str_has_prefix(host, "unix:"))
    ok = listen_unix(server, host + strlen("unix:"), error);
  else if (host[0] == '/')
    ok = listen_unix(server, host, error);
  else
    ok = listen_inet(server, host, (guint16)port, error);
  if (!ok)
    return NULL;
  return g_steal_pointer(&server);
}

gboolean
mm_lmtp_server_start(MmLmtpServer *server, GMainContext *context,
                     GError **error)
{
  if (server->started) {
    g_set_error(error, MM_LMTP_ERROR, MM_LMTP_ERROR_CONFIG,
                "LMTP server already started");
    return FALSE;
  }
  server->started = TRUE;
  server->context =
      g_main_context_ref(context != NULL ? context : g_main_context_default());
  g_source_attach(server->done_source, server->context);
  start_accepting(server);
  if (server->unix_path != NULL)
    mm_log_info("runner", "LMTP server listening on unix:%s",
                server->unix_path);
  else
    mm_log_info("runner", "LMTP server listening on %u socket(s), port %u",
                server->listeners->len, server->port);
  return TRUE;
}

guint16
mm_lmtp_server_port(const MmLmtpServer *server)
{
  return server->unix_path != NULL ? 0 : server->port;
}

guint
mm_lmtp_server_session_count(const MmLmtpServer *server)
{
  return g_hash_table_size(server->sessions);
}

void
mm_lmtp_server_free(MmLmtpServer *server)
{
  if (server == NULL)
    return;
  server->stopping = TRUE;
  if (server->listen_sources != NULL) {
    stop_accepting(server);
    g_ptr_array_unref(server->listen_sources);
  }
  if (server->commit_pool != NULL) {
    /* Let every commit in flight finish, then send its replies: a message
     * made durable is acknowledged before the 421, so the MTA does not
     * send it again. */
    g_thread_pool_free(server->commit_pool, FALSE, TRUE);
    server->commit_pool = NULL;
    drain_done_jobs(server);
  }
  if (server->sessions != NULL) {
    GHashTableIter iter;
    gpointer session;
    g_hash_table_iter_init(&iter, server->sessions);
    while (g_hash_table_iter_next(&iter, &session, NULL)) {
      g_hash_table_iter_remove(&iter);
      mm_lmtp_session_abort(session);
    }
    g_hash_table_unref(server->sessions);
  }
  if (server->done_source != NULL) {
    g_source_destroy(server->done_source);
    g_source_unref(server->done_source);
  }
  g_clear_pointer(&server->done_jobs, g_async_queue_unref);
  if (server->pause_source != NULL) {
    g_source_destroy(server->pause_source);
    g_source_unref(server->pause_source);
  }
  if (server->listeners != NULL) {
    for (guint i = 0; i < server->listeners->len; i++)
      g_socket_close(g_ptr_array_index(server->listeners, i), NULL);
    g_ptr_array_unref(server->listeners);
  }
  if (server->unix_path != NULL)
    unlink(server->unix_path);
  g_clear_pointer(&server->store, mm_store_close);
  g_clear_pointer(&server->in_queue, mm_queue_free);
  g_clear_pointer(&server->context, g_main_context_unref);
  g_free(server->unix_path);
  g_free(server->hostname);
  g_free(server->queue_dir);
  g_free(server->db_path);
  g_free(server->verp_delimiter);
  g_free(server->listname_chars);
  g_free(server->site_owner);
  g_free(server);
}

/* ---- Services for sessions ------------------------------------------------ */

const MmLmtpLimits *
mm_lmtp_server_limits(const MmLmtpServer *server)
{
  return &server->limits;
}

const char *
mm_lmtp_server_hostname(const MmLmtpServer *server)
{
  return server->hostname;
}

const char *
mm_lmtp_server_spool_dir(const MmLmtpServer *server)
{
  return server->queue_dir;
}

void
mm_lmtp_server_session_gone(MmLmtpServer *server, MmLmtpSession *session)
{
  g_hash_table_remove(server->sessions, session);
}

static MmStore *
server_store(MmLmtpServer *server, GError **error)
{
  if (server->store == NULL)
    server->store = mm_store_open(server->db_path, MM_STORE_READ_ONLY, error);
  return server->store;
}

static gboolean
directory_alias_host(gpointer data, const char *domain, char **host_out,
                     GError **error)
{
  MmLmtpServer *server = data;
  *host_out = NULL;
  MmStore *store = server_store(server, error);
  if (store == NULL)
    return FALSE;
  g_autoptr(GPtrArray) domains = mm_store_domains(store, error);
  if (domains == NULL)
    return FALSE;
  for (guint i = 0; i < domains->len; i++) {
    const MmDomain *candidate = g_ptr_array_index(domains, i);
    if (candidate->alias_domain != NULL &&
        g_ascii_strcasecmp(candidate->alias_domain, domain) == 0) {
      *host_out = g_strdup(candidate->mail_host);
      break;
    }
  }
  return TRUE;
}

static gboolean
directory_list_find(gpointer data, const char *fqdn, char **list_id_out,
                    GError **error)
{
  MmLmtpServer *server = data;
  *list_id_out = NULL;
  MmStore *store = server_store(server, error);
  if (store == NULL)
    return FALSE;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(MmList) list = mm_store_list_get(store, fqdn, &local_error);
  if (list == NULL) {
    if (g_error_matches(local_error, MM_STORE_ERROR,
                        MM_STORE_ERROR_NOT_FOUND))
      return TRUE;
    g_propagate_error(error, g_steal_pointer(&local_error));
    return FALSE;
  }
  *list_id_out = g_strdup(list->list_id);
  return TRUE;
}

MmLmtpRecipient *
mm_lmtp_server_resolve(MmLmtpServer *server, const char *address,
                       GError **error)
{
  const MmLmtpDirectory directory = {
      .alias_host = directory_alias_host,
      .list_find = directory_list_find,
      .data = server,
  };
  g_autoptr(GError) local_error = NULL;
  MmLmtpRecipient *recipient =
      mm_lmtp_recipient_resolve(address, server->verp_delimiter,
                                server->listname_chars, &directory,
                                &local_error);
  if (recipient == NULL) {
    if (mm_lmtp_reply_for_recipient_error(local_error) ==
        MM_LMTP_REPLY_LOCAL_ERROR) {
      /* Reopen at the next lookup: the file may have been replaced,
       * migrated, or be missing until the first list is created. */
      g_clear_pointer(&server->store, mm_store_close);
    }
    g_propagate_error(error, g_steal_pointer(&local_error));
  }
  return recipient;
}

gboolean
mm_lmtp_server_check_space(MmLmtpServer *server, guint64 need_bytes,
                           GError **error)
{
  if (server->in_queue == NULL) {
    g_autoptr(GError) open_error = NULL;
    server->in_queue =
        mm_queue_open(server->queue_dir, "in", 0, 1, &open_error);
    if (server->in_queue == NULL) {
      /* Not a reason to refuse mail: the enqueue will say what is wrong. */
      mm_log_error("error", "LMTP: cannot open the in queue: %s",
                   open_error->message);
      return TRUE;
    }
  }
  /* Keep room for two messages of the largest size beyond this one, like
   * Postfix's queue_minfree of 1.5 message_size_limit. */
  guint64 reserve = 2 * (guint64)server->limits.max_message_size;
  g_autoptr(GError) local_error = NULL;
  if (mm_queue_space_check(server->in_queue, reserve, need_bytes,
                           &local_error))
    return TRUE;
  if (!g_error_matches(local_error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_NO_SPACE)) {
    mm_log_error("error", "LMTP: free space check failed: %s",
                 local_error->message);
    return TRUE;
  }
  g_propagate_error(error, g_steal_pointer(&local_error));
  return FALSE;
}

static char *
received_time_now(void)
{
  /* Mailman stores a naive UTC datetime; ISO 8601 with microseconds is its
   * isoformat(). */
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  return g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%f");
}

/* ---- Delivery: judging on the main thread, commits on worker threads ---- */

/* One recipient's copy of a message being committed. */
typedef struct {
  char *queue;
  char *list_id;
  MmLmtpSubaddress subaddress;
  json_t *meta;
  char *entry_id; /* set by the commit thread on success */
  GError *error;  /* set by the commit thread on failure */
} CommitCopy;

/* A message on its way to the queues: made on the main thread, committed
 * by one worker thread, answered on the main thread.  Between
 * g_thread_pool_push() and the done queue only the worker touches it. */
typedef struct {
  MmLmtpSession *session; /* kept alive by its "committing" state */
  char *session_id;
  char *sender_escaped;
  char *message_id_escaped;
  /* The message as queued, in two pieces never joined in memory: the
   * rewritten header block and the rest as received (a slice of the
   * session's buffer or spool mapping).  NULL when refused. */
  GBytes *head;
  GBytes *rest;
  GPtrArray *copies; /* CommitCopy* */
  GPtrArray *replies; /* one per recipient, filled before the answer */
} CommitJob;

static void
commit_copy_free(CommitCopy *copy)
{
  g_free(copy->queue);
  g_free(copy->list_id);
  if (copy->meta != NULL)
    json_decref(copy->meta);
  g_free(copy->entry_id);
  g_clear_error(&copy->error);
  g_free(copy);
}

static void
commit_job_free(CommitJob *job)
{
  g_free(job->session_id);
  g_free(job->sender_escaped);
  g_free(job->message_id_escaped);
  g_clear_pointer(&job->head, g_bytes_unref);
  g_clear_pointer(&job->rest, g_bytes_unref);
  g_clear_pointer(&job->copies, g_ptr_array_unref);
  g_clear_pointer(&job->replies, g_ptr_array_unref);
  g_free(job);
}

/* Hands a finished job to the main loop.  Any thread. */
static void
commit_job_done(MmLmtpServer *server, CommitJob *job)
{
  g_async_queue_push(server->done_jobs, job);
  /* Thread-safe, and wakes the context up. */
  g_source_set_ready_time(server->done_source, 0);
}

/* Worker thread: the durable writes, and nothing else (no logging, no
 * GMime, no database), so that the only state it shares is the queue
 * module's ID clock, which has its own lock. */
static void
commit_worker(gpointer data, gpointer user_data)
{
  CommitJob *job = data;
  MmLmtpServer *server = user_data;

  for (guint i = 0; i < job->copies->len; i++) {
    CommitCopy *copy = g_ptr_array_index(job->copies, i);
    GBytes *parts[] = {job->head, job->rest};
    copy->entry_id = mm_queue_enqueue_parts_to(server->queue_dir, copy->queue,
                                               parts, G_N_ELEMENTS(parts),
                                               copy->meta, &copy->error);
  }
  commit_job_done(server, job);
}

/* Main thread: one reply and one log line per copy. */
static void
commit_job_answer(CommitJob *job)
{
  for (guint i = 0; i < job->copies->len; i++) {
    CommitCopy *copy = g_ptr_array_index(job->copies, i);
    if (copy->entry_id == NULL) {
      MmLmtpReply reply = mm_lmtp_reply_for_enqueue_error(copy->error);
      mm_log_error("error",
                   "LMTP %s: Message-ID %s for %s: enqueue to %s failed: %s",
                   job->session_id, job->message_id_escaped, copy->list_id,
                   copy->queue, copy->error->message);
      g_ptr_array_add(job->replies, g_strdup(mm_lmtp_reply_text(reply)));
      continue;
    }
    mm_log_info("smtp",
                "LMTP %s: Message-ID %s from <%s> for %s%s%s queued as %s "
                "in %s",
                job->session_id, job->message_id_escaped,
                job->sender_escaped, copy->list_id,
                copy->subaddress != MM_LMTP_SUB_NONE ? " -" : "",
                copy->subaddress != MM_LMTP_SUB_NONE
                    ? mm_lmtp_subaddress_name(copy->subaddress)
                    : "",
                copy->entry_id, copy->queue);
    g_ptr_array_add(job->replies, g_strdup_printf("250 2.0.0 Ok: queued as %s",
                                                  copy->entry_id));
  }
}

/* Main thread: answers every finished job.  Returns how many. */
static guint
drain_done_jobs(MmLmtpServer *server)
{
  guint n = 0;
  CommitJob *job;
  while ((job = g_async_queue_try_pop(server->done_jobs)) != NULL) {
    if (job->head != NULL)
      commit_job_answer(job);
    g_assert(job->replies->len == job->copies->len);
    mm_lmtp_session_delivered(job->session, job->replies);
    commit_job_free(job);
    n++;
  }
  return n;
}

static gboolean
done_source_dispatch(GSource *source, GSourceFunc callback,
                     gpointer user_data)
{
  (void)callback;
  (void)user_data;
  /* Disarm before draining: a job pushed after the last pop re-arms it. */
  g_source_set_ready_time(source, -1);
  drain_done_jobs(((DoneSource *)source)->server);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs done_source_funcs = {
    .dispatch = done_source_dispatch,
};

/* Answers every recipient of @job with @reply, without committing. */
static void
commit_job_refuse(MmLmtpServer *server, CommitJob *job, MmLmtpReply reply)
{
  for (guint i = 0; i < job->copies->len; i++)
    g_ptr_array_add(job->replies, g_strdup(mm_lmtp_reply_text(reply)));
  commit_job_done(server, job);
}

void
mm_lmtp_server_deliver(MmLmtpServer *server, MmLmtpSession *session,
                       const char *session_id, GBytes *raw,
                       const char *mail_from, GPtrArray *recipients)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *message_id = NULL;
  CommitJob *job = g_new0(CommitJob, 1);
  job->session = session;
  job->session_id = g_strdup(session_id);
  job->sender_escaped = mm_log_escape(mail_from, -1);
  job->copies =
      g_ptr_array_new_full(recipients->len, (GDestroyNotify)commit_copy_free);
  job->replies = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < recipients->len; i++) {
    const MmLmtpRecipient *recipient = g_ptr_array_index(recipients, i);
    CommitCopy *copy = g_new0(CommitCopy, 1);
    copy->queue = g_strdup(mm_lmtp_recipient_queue(recipient));
    copy->list_id = g_strdup(recipient->list_id);
    copy->subaddress = recipient->subaddress;
    g_ptr_array_add(job->copies, copy);
  }

  g_autofree char *reason = NULL;
  if (!mm_lmtp_message_acceptable(raw, &reason)) {
    mm_log_info("smtp", "LMTP %s: message from <%s> refused: %s", session_id,
                job->sender_escaped, reason != NULL ? reason : "defective");
    commit_job_refuse(server, job, MM_LMTP_REPLY_MALFORMED);
    return;
  }

  /* Mailman (aiosmtpd) records the null reverse-path as "<>", and so
   * writes "X-MailFrom: <>" on bounces. */
  gsize rest_offset = 0;
  job->head = mm_message_intake_prepare_head(
      raw, mail_from[0] != '\0' ? mail_from : "<>", server->hostname,
      &message_id, &rest_offset, &error);
  if (job->head == NULL) {
    MmLmtpReply reply = mm_lmtp_reply_for_message_error(error);
    if (reply == MM_LMTP_REPLY_LOCAL_ERROR || reply == MM_LMTP_REPLY_NO_SPACE)
      mm_log_error("error", "LMTP %s: message from <%s> not prepared: %s",
                   session_id, job->sender_escaped, error->message);
    else
      mm_log_info("smtp", "LMTP %s: message from <%s> refused: %s",
                  session_id, job->sender_escaped, error->message);
    commit_job_refuse(server, job, reply);
    return;
  }

  job->rest = g_bytes_new_from_bytes(raw, rest_offset,
                                     g_bytes_get_size(raw) - rest_offset);
  job->message_id_escaped =
      mm_log_escape(message_id != NULL ? message_id : "", -1);
  g_autofree char *received_time = received_time_now();
  gint64 original_size = (gint64)g_bytes_get_size(raw);
  /* One copy per recipient address, as Mailman: posting to two lists, or
   * to a list and its -owner, queues two entries. */
  for (guint i = 0; i < recipients->len; i++) {
    CommitCopy *copy = g_ptr_array_index(job->copies, i);
    copy->meta =
        mm_lmtp_recipient_meta(g_ptr_array_index(recipients, i), original_size,
                               received_time, server->site_owner);
  }
  /* A failure means only that no new thread could be started: the job
   * stays queued for the threads there are (GLib's contract). */
  g_autoptr(GError) push_error = NULL;
  if (!g_thread_pool_push(server->commit_pool, job, &push_error))
    mm_log_warning("error", "LMTP %s: commit queued without a new thread: %s",
                   session_id, push_error->message);
}

gboolean
mm_lmtp_server_stopping(const MmLmtpServer *server)
{
  return server->stopping;
}
