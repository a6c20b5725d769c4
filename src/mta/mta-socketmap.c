/* Postfix socketmap server: live map lookups from the database.
 *
 * Postfix's socketmap client (src/global/dict_sockmap.c, protocol from
 * Sendmail's socketmap) keeps a connection open and sends one netstring
 * per lookup, "LEN:NAME KEY,", waiting for one netstring reply before the
 * next.  We answer from the database at each request, so a list created a
 * millisecond ago is routable and a removed one is not: no map file, no
 * postmap, nothing that can be stale.
 *
 * Every read is bounded: a netstring length has at most six digits and at
 * most 100000 bytes (Postfix's own socketmap_max_reply_size default; no
 * Postfix key comes near it), input is read in 4 KiB pieces and parsed as
 * it arrives, and we stop reading while replies are waiting to be sent, so
 * a client that sends and never reads holds at most a few kilobytes.  Time
 * is bounded too: a connection idle for idle_sec, or a request begun and
 * not finished within request_sec, is closed; so is one that breaks the
 * protocol (after a PERM reply naming the problem).
 *
 * Everything runs on the GMainContext given to start(), in the LMTP
 * runner's process; no threads.  A database error becomes TEMP, which makes
 * Postfix defer the mail rather than bounce it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mta.h"
#include "mta-private.h"

#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NETSTRING_MAX 100000
#define NETSTRING_MAX_DIGITS 6
#define MAX_CONNECTIONS 64
#define DEFAULT_IDLE_SEC 60
#define DEFAULT_REQUEST_SEC 10
#define READ_CHUNK 4096
/* Stop reading while this much output is queued (back-pressure). */
#define OUTPUT_HIGH_WATER 16384

typedef struct Connection Connection;

struct MmMtaSocketmap {
  MmStore *store;
  MmStore *own_store; /* set when we opened it ourselves */
  char *listen_host;
  guint listen_port;
  char *transport_value; /* mm_mta_lmtp_nexthop() */
  char *verp_delimiter;
  char *listname_chars;
  guint idle_sec;
  guint request_sec;

  GMainContext *context;
  GSocket *listener;
  GSource *accept_source;
  GSource *sweep_source;
  char *unix_path; /* to unlink at free */
  guint bound_port;
  GList *connections; /* of Connection*, owned */
  guint n_connections;
};

struct Connection {
  MmMtaSocketmap *server;
  GSocket *socket;
  GSource *source;
  GIOCondition watching;
  GByteArray *in;
  GString *out;
  gint64 last_activity_usec;
  gint64 request_start_usec; /* 0 when no partial request is buffered */
  gboolean close_after_flush;
  gboolean draining; /* reply sent and write side shut: discarding input */
};

/* ---- Connections ----------------------------------------------------- */

static gboolean connection_ready(GSocket *socket, GIOCondition condition,
                                 gpointer data);

static void
connection_free(Connection *conn)
{
  MmMtaSocketmap *server = conn->server;

  server->connections = g_list_remove(server->connections, conn);
  server->n_connections--;
  if (conn->source != NULL) {
    g_source_destroy(conn->source);
    g_source_unref(conn->source);
  }
  g_socket_close(conn->socket, NULL);
  g_object_unref(conn->socket);
  g_byte_array_unref(conn->in);
  g_string_free(conn->out, TRUE);
  g_free(conn);
}

/* (Re)installs the socket watch for what the connection needs next: input
 * unless output is backed up or we are closing; output while any is
 * queued. */
static void
connection_watch(Connection *conn)
{
  GIOCondition want = 0;

  if (conn->out->len > 0)
    want |= G_IO_OUT;
  if ((!conn->close_after_flush && conn->out->len < OUTPUT_HIGH_WATER) ||
      conn->draining)
    want |= G_IO_IN;
  if (conn->source != NULL && want == conn->watching)
    return;
  if (conn->source != NULL) {
    g_source_destroy(conn->source);
    g_source_unref(conn->source);
  }
  conn->watching = want;
  conn->source = g_socket_create_source(conn->socket, want, NULL);
  g_source_set_callback(conn->source, G_SOURCE_FUNC(connection_ready), conn,
                        NULL);
  g_source_attach(conn->source, conn->server->context);
}

static void
append_netstring(GString *out, const char *text)
{
  g_string_append_printf(out, "%" G_GSIZE_FORMAT ":%s,", strlen(text), text);
}

/* ---- Lookups ----------------------------------------------------------- */

/* The reply for one request "NAME KEY" (without netstring framing).
 * Returns a new string. */
static char *
answer(MmMtaSocketmap *server, const char *request)
{
  const char *space = strchr(request, ' ');
  if (space == NULL || space == request)
    return g_strdup("PERM malformed request, expected \"NAME KEY\"");
  g_autofree char *name = g_strndup(request, (gsize)(space - request));
  g_autofree char *key = g_ascii_strdown(space + 1, -1);
  GError *error = NULL;

  if (g_str_equal(name, "domains")) {
    g_autoptr(GPtrArray) domains = mm_store_domains(server->store, &error);
    if (domains == NULL) {
      char *reply = g_strdup_printf("TEMP %s", error->message);
      g_error_free(error);
      return reply;
    }
    /* As postfix_domains: a domain with an alias domain is relayed under
     * the alias only; its mail_host is left to virtual_alias_domains (a
     * domain in both classes draws Postfix warnings). */
    for (guint i = 0; i < domains->len; i++) {
      const MmDomain *d = g_ptr_array_index(domains, i);
      const char *relayed =
          d->alias_domain != NULL && d->alias_domain[0] != '\0'
              ? d->alias_domain
              : d->mail_host;
      if (g_str_equal(relayed, key))
        return g_strdup_printf("OK %s", d->mail_host);
    }
    return g_strdup("NOTFOUND ");
  }

  gboolean transport = g_str_equal(name, "transport");
  gboolean recipients = g_str_equal(name, "recipients");
  gboolean virtual_map = g_str_equal(name, "virtual");
  if (!transport && !recipients && !virtual_map)
    return g_strdup_printf("PERM unknown map \"%s\", expected transport, "
                           "recipients, domains or virtual",
                           name);
  /* Postfix also asks transport and virtual maps for bare domains and
   * parent domains; only whole addresses are ours. */
  const char *at = strchr(key, '@');
  if (at == NULL)
    return g_strdup("NOTFOUND ");

  g_autofree char *alias = NULL;
  if (virtual_map) {
    /* Only addresses at a mail_host that has an alias domain are
     * rewritten; answering for the alias domain itself would loop. */
    g_autoptr(GPtrArray) domains = mm_store_domains(server->store, &error);
    if (domains == NULL) {
      char *reply = g_strdup_printf("TEMP %s", error->message);
      g_error_free(error);
      return reply;
    }
    for (guint i = 0; i < domains->len && alias == NULL; i++) {
      const MmDomain *d = g_ptr_array_index(domains, i);
      if (g_str_equal(d->mail_host, at + 1) && d->alias_domain != NULL &&
          d->alias_domain[0] != '\0')
        alias = g_strdup(d->alias_domain);
    }
    if (alias == NULL)
      return g_strdup("NOTFOUND ");
  }
  g_autoptr(MmMtaRecipient) recipient =
      mm_mta_recipient_resolve(server->store, key, server->verp_delimiter,
                               server->listname_chars, &error);
  if (recipient == NULL) {
    gboolean not_list = mm_mta_recipient_error_is_not_list(error);
    char *reply = not_list ? g_strdup("NOTFOUND ")
                           : g_strdup_printf("TEMP %s", error->message);
    g_error_free(error);
    return reply;
  }
  if (transport)
    return g_strdup_printf("OK %s", server->transport_value);
  if (recipients)
    return g_strdup_printf("OK %s", recipient->posting_address);
  return g_strdup_printf("OK %.*s@%s", (int)(at - key), key, alias);
}

/* ---- Netstring parsing ------------------------------------------------- */

typedef enum {
  PARSE_NEED_MORE,
  PARSE_REQUEST,
  PARSE_ERROR,
} ParseResult;

/* Parses one netstring at the start of @in.  On PARSE_REQUEST, @request_out
 * is the payload (transfer full, NUL-terminated) and @consumed_out its
 * framed length.  On PARSE_ERROR, @problem_out says why (static). */
static ParseResult
parse_netstring(const GByteArray *in, char **request_out,
                gsize *consumed_out, const char **problem_out)
{
  gsize digits = 0;
  gsize len = 0;

  while (digits < in->len && g_ascii_isdigit(in->data[digits])) {
    if (digits == NETSTRING_MAX_DIGITS) {
      *problem_out = "netstring length too long";
      return PARSE_ERROR;
    }
    len = len * 10 + (gsize)(in->data[digits] - '0');
    digits++;
  }
  if (digits == in->len) {
    if (digits > NETSTRING_MAX_DIGITS) {
      *problem_out = "netstring length too long";
      return PARSE_ERROR;
    }
    return PARSE_NEED_MORE;
  }
  if (digits == 0 || in->data[digits] != ':') {
    *problem_out = "malformed netstring";
    return PARSE_ERROR;
  }
  if (len > NETSTRING_MAX) {
    *problem_out = "netstring longer than 100000 bytes";
    return PARSE_ERROR;
  }
  gsize total = digits + 1 + len + 1;
  if (in->len < total)
    return PARSE_NEED_MORE;
  if (in->data[total - 1] != ',') {
    *problem_out = "netstring not terminated by a comma";
    return PARSE_ERROR;
  }
  const guint8 *payload = in->data + digits + 1;
  if (memchr(payload, '\0', len) != NULL ||
      !g_utf8_validate((const char *)payload, (gssize)len, NULL)) {
    *problem_out = "request contains NUL or invalid UTF-8";
    return PARSE_ERROR;
  }
  *request_out = g_strndup((const char *)payload, len);
  *consumed_out = total;
  return PARSE_REQUEST;
}

/* Answers every complete request in the input buffer. */
static void
connection_process(Connection *conn)
{
  while (conn->in->len > 0 && !conn->close_after_flush) {
    char *request = NULL;
    gsize consumed = 0;
    const char *problem = NULL;

    switch (parse_netstring(conn->in, &request, &consumed, &problem)) {
    case PARSE_NEED_MORE:
      if (conn->request_start_usec == 0)
        conn->request_start_usec = g_get_monotonic_time();
      return;
    case PARSE_ERROR: {
      g_autofree char *reply = g_strdup_printf("PERM %s", problem);
      append_netstring(conn->out, reply);
      /* After a framing error nothing further can be parsed reliably. */
      conn->close_after_flush = TRUE;
      g_byte_array_set_size(conn->in, 0);
      return;
    }
    case PARSE_REQUEST: {
      g_autofree char *reply = answer(conn->server, request);
      g_free(request);
      append_netstring(conn->out, reply);
      g_byte_array_remove_range(conn->in, 0, (guint)consumed);
      conn->request_start_usec = 0;
      break;
    }
    }
  }
}

/* Sends what it can.  Returns FALSE when the connection is dead. */
static gboolean
connection_flush(Connection *conn)
{
  while (conn->out->len > 0) {
    GError *error = NULL;
    gssize n = g_socket_send(conn->socket, conn->out->str, conn->out->len,
                             NULL, &error);
    if (n < 0) {
      gboolean again = g_error_matches(error, G_IO_ERROR,
                                       G_IO_ERROR_WOULD_BLOCK);
      g_error_free(error);
      return again;
    }
    g_string_erase(conn->out, 0, n);
  }
  return TRUE;
}

static gboolean
connection_ready(GSocket *socket, GIOCondition condition, gpointer data)
{
  Connection *conn = data;

  conn->last_activity_usec = g_get_monotonic_time();
  if (conn->draining) {
    /* Read and drop whatever the client still sends until it closes (or
     * the sweep's request deadline passes): closing a socket with unread
     * input makes the kernel send a reset, which can destroy the PERM
     * reply before the client has read it. */
    guint8 buf[READ_CHUNK];
    gssize n = g_socket_receive(socket, (char *)buf, sizeof buf, NULL, NULL);
    if (n == 0 || (n < 0 && !(condition & G_IO_IN)) ||
        (condition & (G_IO_HUP | G_IO_ERR))) {
      connection_free(conn);
      return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
  }
  if (condition & G_IO_IN) {
    guint8 buf[READ_CHUNK];
    GError *error = NULL;
    gssize n = g_socket_receive(socket, (char *)buf, sizeof buf, NULL, &error);
    if (n < 0) {
      gboolean again = g_error_matches(error, G_IO_ERROR,
                                       G_IO_ERROR_WOULD_BLOCK);
      g_error_free(error);
      if (!again) {
        connection_free(conn);
        return G_SOURCE_REMOVE;
      }
    } else if (n == 0) {
      /* Postfix closes idle connections itself; so may any client. */
      connection_free(conn);
      return G_SOURCE_REMOVE;
    } else {
      g_byte_array_append(conn->in, buf, (guint)n);
      connection_process(conn);
    }
  } else if (condition & (G_IO_HUP | G_IO_ERR)) {
    connection_free(conn);
    return G_SOURCE_REMOVE;
  }

  if (!connection_flush(conn)) {
    connection_free(conn);
    return G_SOURCE_REMOVE;
  }
  if (conn->close_after_flush && conn->out->len == 0) {
    g_socket_shutdown(conn->socket, FALSE, TRUE, NULL);
    conn->draining = TRUE;
    conn->request_start_usec = g_get_monotonic_time();
  }
  GSource *before = conn->source;
  connection_watch(conn);
  /* connection_watch() replaced (and destroyed) this source when the set
   * of conditions changed; it must not be dispatched again. */
  return conn->source == before ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* ---- Listener and timeouts -------------------------------------------- */

static gboolean
accept_ready(GSocket *socket, GIOCondition condition, gpointer data)
{
  MmMtaSocketmap *server = data;

  /* Accept everything pending; each accept is non-blocking. */
  for (guint i = 0; i < MAX_CONNECTIONS * 2; i++) {
    GError *error = NULL;
    GSocket *client = g_socket_accept(socket, NULL, &error);
    if (client == NULL) {
      g_error_free(error);
      break;
    }
    if (server->n_connections >= MAX_CONNECTIONS) {
      /* Postfix reconnects on its next lookup; better to refuse one client
       * than to let a flood exhaust descriptors of the LMTP process. */
      g_socket_close(client, NULL);
      g_object_unref(client);
      continue;
    }
    g_socket_set_blocking(client, FALSE);
    Connection *conn = g_new0(Connection, 1);
    conn->server = server;
    conn->socket = client;
    conn->in = g_byte_array_new();
    conn->out = g_string_new(NULL);
    conn->last_activity_usec = g_get_monotonic_time();
    server->connections = g_list_prepend(server->connections, conn);
    server->n_connections++;
    connection_watch(conn);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
sweep(gpointer data)
{
  MmMtaSocketmap *server = data;
  gint64 now = g_get_monotonic_time();
  GList *next = NULL;

  for (GList *l = server->connections; l != NULL; l = next) {
    Connection *conn = l->data;
    next = l->next;
    gboolean idle = now - conn->last_activity_usec >
                    (gint64)server->idle_sec * G_USEC_PER_SEC;
    gboolean slow = conn->request_start_usec != 0 &&
                    now - conn->request_start_usec >
                        (gint64)server->request_sec * G_USEC_PER_SEC;
    if (idle || slow)
      connection_free(conn);
  }
  return G_SOURCE_CONTINUE;
}

/* ---- Public API -------------------------------------------------------- */

gboolean
mm_mta_socketmap_configured(const MmConfig *config)
{
  const char *host = mm_config_get(config, "mta", "socketmap_host");
  const char *port = mm_config_get(config, "mta", "socketmap_port");

  if (host == NULL || host[0] == '\0')
    return FALSE;
  /* A port of 0 (an integer key's natural "unset") also disables it. */
  return host[0] == '/' ||
         (port != NULL && port[0] != '\0' && strcmp(port, "0") != 0);
}

static gboolean
parse_port(const char *text, const char *what, guint min, guint *port_out,
           GError **error)
{
  guint64 value = 0;

  if (text == NULL ||
      !g_ascii_string_to_unsigned(text, 10, min, 65535, &value, NULL)) {
    g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_CONFIG,
                "[mta] %s: \"%s\" is not a port number", what,
                text != NULL ? text : "");
    return FALSE;
  }
  *port_out = (guint)value;
  return TRUE;
}

MmMtaSocketmap *
mm_mta_socketmap_new_full(MmStore *store, const char *listen_host,
                          guint listen_port, const char *lmtp_host,
                          guint lmtp_port, const char *verp_delimiter,
                          const char *listname_chars, GError **error)
{
  g_return_val_if_fail(store != NULL && listen_host != NULL &&
                           lmtp_host != NULL,
                       NULL);
  MmMtaSocketmap *server = g_new0(MmMtaSocketmap, 1);
  server->store = store;
  server->listen_host = g_strdup(listen_host);
  server->listen_port = listen_port;
  server->transport_value = mm_mta_lmtp_nexthop(lmtp_host, lmtp_port);
  /* The LMTP server's reading of these settings (lmtp-server.c): a missing
   * key means Mailman's default, an empty delimiter means no VERP cut. */
  server->verp_delimiter =
      g_strdup(verp_delimiter != NULL ? verp_delimiter : "+");
  server->listname_chars =
      g_strdup(listname_chars != NULL ? listname_chars : "[-_.0-9a-z]");
  server->idle_sec = DEFAULT_IDLE_SEC;
  server->request_sec = DEFAULT_REQUEST_SEC;
  return server;
}

MmMtaSocketmap *
mm_mta_socketmap_new(const MmConfig *config, GError **error)
{
  guint listen_port = 0;
  guint lmtp_port = 0;

  if (!mm_mta_socketmap_configured(config)) {
    g_set_error(error, MM_MTA_ERROR, MM_MTA_ERROR_CONFIG,
                "[mta] socketmap_host and socketmap_port are not set");
    return NULL;
  }
  const char *host = mm_config_get(config, "mta", "socketmap_host");
  if (host[0] != '/' &&
      !parse_port(mm_config_get(config, "mta", "socketmap_port"),
                  "socketmap_port", 1, &listen_port, error))
    return NULL;
  const char *lmtp_host = mm_config_get(config, "mta", "lmtp_host");
  if (lmtp_host == NULL || lmtp_host[0] == '\0')
    lmtp_host = "127.0.0.1";
  const char *lmtp_port_text = mm_config_get(config, "mta", "lmtp_port");
  /* The port does not matter for a Unix socket (mm_mta_lmtp_nexthop). */
  if (!mm_mta_lmtp_host_is_unix(lmtp_host) &&
      !parse_port(lmtp_port_text != NULL ? lmtp_port_text : "8024",
                  "lmtp_port", 1, &lmtp_port, error))
    return NULL;

  g_autofree char *db_path = mm_config_database_path(config, error);
  if (db_path == NULL)
    return NULL;
  /* Read-only: this process only looks things up (STYLE §6). */
  MmStore *store = mm_store_open(db_path, MM_STORE_READ_ONLY, error);
  if (store == NULL)
    return NULL;
  MmMtaSocketmap *server = mm_mta_socketmap_new_full(
      store, host, listen_port, lmtp_host, lmtp_port,
      mm_config_get(config, "mta", "verp_delimiter"),
      mm_config_get(config, "mailman", "listname_chars"), error);
  server->own_store = store;
  return server;
}

void
mm_mta_socketmap_set_timeouts(MmMtaSocketmap *server, guint idle_sec,
                              guint request_sec)
{
  server->idle_sec = MAX(idle_sec, 1);
  server->request_sec = MAX(request_sec, 1);
}

static GSocketAddress *
listen_address(MmMtaSocketmap *server, GError **error)
{
  const char *host = server->listen_host;

  if (host[0] == '/') {
    /* A socket file left by a previous run (kill -9) would make bind fail;
     * remove it only if it is a socket, never a regular file. */
    struct stat st;
    if (lstat(host, &st) == 0 && S_ISSOCK(st.st_mode))
      unlink(host);
    server->unix_path = g_strdup(host);
    return g_unix_socket_address_new(host);
  }
  g_autofree char *bare = NULL;
  gsize len = strlen(host);
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
    host = bare = g_strndup(host + 1, len - 2);
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(host);
  if (inet == NULL) {
    g_autoptr(GResolver) resolver = g_resolver_get_default();
    GList *found = g_resolver_lookup_by_name(resolver, host, NULL, error);
    if (found == NULL)
      return NULL;
    inet = g_object_ref(found->data);
    g_resolver_free_addresses(found);
  }
  return g_inet_socket_address_new(inet, (guint16)server->listen_port);
}

gboolean
mm_mta_socketmap_start(MmMtaSocketmap *server, GMainContext *context,
                       GError **error)
{
  g_return_val_if_fail(server->listener == NULL, FALSE);
  g_autoptr(GSocketAddress) address = listen_address(server, error);
  if (address == NULL)
    return FALSE;

  g_autoptr(GSocket) socket =
      g_socket_new(g_socket_address_get_family(address),
                   G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (socket == NULL)
    return FALSE;
  g_socket_set_blocking(socket, FALSE);
  if (!g_socket_bind(socket, address, TRUE, error) ||
      !g_socket_listen(socket, error))
    return FALSE;
  if (G_IS_INET_SOCKET_ADDRESS(address)) {
    g_autoptr(GSocketAddress) local = g_socket_get_local_address(socket,
                                                                 error);
    if (local == NULL)
      return FALSE;
    server->bound_port =
        g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
  }

  server->context = context != NULL ? g_main_context_ref(context)
                                    : g_main_context_ref(
                                          g_main_context_default());
  server->listener = g_steal_pointer(&socket);
  server->accept_source = g_socket_create_source(server->listener, G_IO_IN,
                                                 NULL);
  g_source_set_callback(server->accept_source, G_SOURCE_FUNC(accept_ready),
                        server, NULL);
  g_source_attach(server->accept_source, server->context);
  server->sweep_source = g_timeout_source_new_seconds(1);
  g_source_set_callback(server->sweep_source, sweep, server, NULL);
  g_source_attach(server->sweep_source, server->context);
  return TRUE;
}

guint
mm_mta_socketmap_get_port(const MmMtaSocketmap *server)
{
  return server->bound_port;
}

void
mm_mta_socketmap_free(MmMtaSocketmap *server)
{
  if (server == NULL)
    return;
  while (server->connections != NULL)
    connection_free(server->connections->data);
  if (server->accept_source != NULL) {
    g_source_destroy(server->accept_source);
    g_source_unref(server->accept_source);
  }
  if (server->sweep_source != NULL) {
    g_source_destroy(server->sweep_source);
    g_source_unref(server->sweep_source);
  }
  if (server->listener != NULL) {
    g_socket_close(server->listener, NULL);
    g_object_unref(server->listener);
  }
  if (server->unix_path != NULL)
    unlink(server->unix_path);
  g_clear_pointer(&server->context, g_main_context_unref);
  g_clear_pointer(&server->own_store, mm_store_close);
  g_free(server->unix_path);
  g_free(server->listen_host);
  g_free(server->transport_value);
  g_free(server->verp_delimiter);
  g_free(server->listname_chars);
  g_free(server);
}
