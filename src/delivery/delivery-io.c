/* The byte stream to the MTA: a non-blocking TCP socket, optionally wrapped
 * in OpenSSL, where every call takes a monotonic deadline and waits with
 * poll(), so no read or write can hang a runner.
 *
 * Blocking-style calls over non-blocking descriptors: simple to read, one
 * connection per thread, and the deadline is exact (an SO_RCVTIMEO would
 * restart with every byte a slow server trickles).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct MmSmtpIo {
  int fd;
  SSL *ssl;
};

/* Waits until @fd is ready for @events or the deadline passes. */
static gboolean
wait_fd(int fd, short events, gint64 deadline_usec, const char *what,
        GError **error)
{
  for (;;) {
    gint64 left = deadline_usec - g_get_monotonic_time();
    if (left <= 0) {
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_TIMEOUT,
                  "timed out %s", what);
      return FALSE;
    }
    struct pollfd pfd = {.fd = fd, .events = events};
    /* Round up so that a deadline 0.5 ms away is not a busy loop. */
    int ms = (int)MIN((left + 999) / 1000, (gint64)G_MAXINT);
    int n = poll(&pfd, 1, ms);
    if (n > 0)
      return TRUE; /* readable, writable, or an error the next call reports */
    if (n < 0 && errno != EINTR) {
      int saved = errno;
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_IO,
                  "poll failed %s: %s", what, g_strerror(saved));
      return FALSE;
    }
  }
}

/* The first error of OpenSSL's (per-thread) queue, emptied. */
static char *
tls_error_text(void)
{
  char buf[256];
  unsigned long code = ERR_get_error();
  if (code == 0)
    return g_strdup("no details");
  ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return g_strdup(buf);
}

static gboolean
try_connect(const struct addrinfo *ai, gint64 deadline_usec, int *fd_out,
            GError **error)
{
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  ai->ai_protocol);
  if (fd < 0) {
    int saved = errno;
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CONNECT,
                "socket: %s", g_strerror(saved));
    return FALSE;
  }
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
    int saved = errno;
    if (saved != EINPROGRESS) {
      close(fd);
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CONNECT, "%s",
                  g_strerror(saved));
      return FALSE;
    }
    GError *wait_error = NULL;
    if (!wait_fd(fd, POLLOUT, deadline_usec, "connecting", &wait_error)) {
      close(fd);
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CONNECT, "%s",
                  wait_error->message);
      g_error_free(wait_error);
      return FALSE;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
      so_error = errno;
    if (so_error != 0) {
      close(fd);
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CONNECT, "%s",
                  g_strerror(so_error));
      return FALSE;
    }
  }
  /* Our writes are whole command groups and message blocks already; Nagle
   * would only hold back the last small segment (the final dot) until the
   * peer's delayed ACK, a 40 ms stall per transaction. */
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  *fd_out = fd;
  return TRUE;
}

MmSmtpIo *
mm_smtp_io_connect(const char *host, guint port, gint64 deadline_usec,
                   GError **error)
{
  char service[16];
  g_snprintf(service, sizeof service, "%u", port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *list = NULL;

  /* XXX: getaddrinfo has no timeout; smtp_host is normally localhost or an
   * address, which resolve without asking DNS. */
  int rc = getaddrinfo(host, service, &hints, &list);
  if (rc != 0) {
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CONNECT,
                "cannot resolve %s: %s", host, gai_strerror(rc));
    return NULL;
  }
  g_autoptr(GError) last = NULL;
  int fd = -1;
  for (struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
    g_clear_error(&last);
    if (!try_connect(ai, deadline_usec, &fd, &last))
      fd = -1;
  }
  freeaddrinfo(list);
  if (fd < 0) {
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CONNECT,
                "cannot connect to %s port %u: %s", host, port,
                last ? last->message : "no address");
    return NULL;
  }
  MmSmtpIo *io = g_new0(MmSmtpIo, 1);
  io->fd = fd;
  return io;
}

SSL_CTX *
mm_smtp_tls_context_new(const MmSmtpSettings *settings, GError **error)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) {
    g_autofree char *why = tls_error_text();
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_TLS,
                "cannot create a TLS context: %s", why);
    return NULL;
  }
  /* As Python's ssl.create_default_context() in Mailman's connection.py:
   * the system's CA store, TLS 1.2 at least. */
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (settings->verify_cert && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    g_autofree char *why = tls_error_text();
    SSL_CTX_free(ctx);
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_TLS,
                "cannot load the system's CA certificates: %s", why);
    return NULL;
  }
  SSL_CTX_set_verify(ctx, settings->verify_cert ? SSL_VERIFY_PEER
                                                : SSL_VERIFY_NONE,
                     NULL);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

/* Turns the result of an SSL call into "wait for this" (TRUE, *events set)
 * or an error. */
static gboolean
tls_want(MmSmtpIo *io, int rc, short *events, const char *what,
         GError **error)
{
  int saved = errno;
  switch (SSL_get_error(io->ssl, rc)) {
  case SSL_ERROR_WANT_READ:
    *events = POLLIN;
    return TRUE;
  case SSL_ERROR_WANT_WRITE:
    *events = POLLOUT;
    return TRUE;
  case SSL_ERROR_ZERO_RETURN:
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CLOSED,
                "the server closed the connection %s", what);
    return FALSE;
  case SSL_ERROR_SYSCALL:
    ERR_clear_error();
    if (saved == 0 || saved == ECONNRESET || saved == EPIPE)
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CLOSED,
                  "the server closed the connection %s", what);
    else
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_IO, "%s: %s",
                  what, g_strerror(saved));
    return FALSE;
  default: {
    g_autofree char *why = tls_error_text();
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_TLS, "TLS %s: %s",
                what, why);
    return FALSE;
  }
  }
}

gboolean
mm_smtp_io_start_tls(MmSmtpIo *io, SSL_CTX *ctx, const char *host,
                     gboolean verify_hostname, gint64 deadline_usec,
                     GError **error)
{
  g_return_val_if_fail(io->ssl == NULL, FALSE);
  ERR_clear_error();
  io->ssl = SSL_new(ctx);
  if (io->ssl == NULL || SSL_set_fd(io->ssl, io->fd) != 1) {
    g_autofree char *why = tls_error_text();
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_TLS,
                "cannot start TLS: %s", why);
    return FALSE;
  }
  struct in6_addr addr;
  gboolean is_address = inet_pton(AF_INET, host, &addr) == 1 ||
                        inet_pton(AF_INET6, host, &addr) == 1;
  /* SNI takes names only (RFC 6066 3). */
  if (!is_address)
    SSL_set_tlsext_host_name(io->ssl, host);
  if (verify_hostname) {
    X509_VERIFY_PARAM *param = SSL_get0_param(io->ssl);
    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = is_address ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
                        : X509_VERIFY_PARAM_set1_host(param, host, 0);
    if (ok != 1) {
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_TLS,
                  "cannot check the certificate against %s", host);
      return FALSE;
    }
  }
  for (;;) {
    int rc = SSL_connect(io->ssl);
    if (rc == 1)
      return TRUE;
    short events = 0;
    long verify = SSL_get_verify_result(io->ssl);
    g_autoptr(GError) local = NULL;
    if (!tls_want(io, rc, &events, "handshake", &local)) {
      if (verify != X509_V_OK)
        g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_TLS,
                    "certificate of %s refused: %s", host,
                    X509_verify_cert_error_string(verify));
      else
        g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_TLS, "%s",
                    local->message);
      return FALSE;
    }
    if (!wait_fd(io->fd, events, deadline_usec, "in the TLS handshake",
                 error))
      return FALSE;
  }
}

gboolean
mm_smtp_io_is_tls(const MmSmtpIo *io)
{
  return io->ssl != NULL;
}

gssize
mm_smtp_io_read(MmSmtpIo *io, char *buf, gsize cap, gint64 deadline_usec,
                GError **error)
{
  int chunk = (int)MIN(cap, (gsize)G_MAXINT);
  for (;;) {
    short events = POLLIN;
    if (io->ssl != NULL) {
      ERR_clear_error();
      int n = SSL_read(io->ssl, buf, chunk);
      if (n > 0)
        return n;
      if (!tls_want(io, n, &events, "while reading", error))
        return -1;
    } else {
      ssize_t n = recv(io->fd, buf, (size_t)chunk, 0);
      if (n > 0)
        return n;
      if (n == 0) {
        g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CLOSED,
                    "the server closed the connection");
        return -1;
      }
      int saved = errno;
      if (saved == ECONNRESET) {
        g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CLOSED,
                    "the server reset the connection");
        return -1;
      }
      if (saved != EAGAIN && saved != EWOULDBLOCK && saved != EINTR) {
        g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_IO,
                    "read: %s", g_strerror(saved));
        return -1;
      }
    }
    if (!wait_fd(io->fd, events, deadline_usec, "waiting for the server",
                 error))
      return -1;
  }
}

gboolean
mm_smtp_io_write(MmSmtpIo *io, const void *data, gsize len,
                 gint64 deadline_usec, GError **error)
{
  const char *p = data;
  while (len > 0) {
    int chunk = (int)MIN(len, (gsize)(1 << 20));
    short events = POLLOUT;
    if (io->ssl != NULL) {
      ERR_clear_error();
      int n = SSL_write(io->ssl, p, chunk);
      if (n > 0) {
        p += n;
        len -= (gsize)n;
        continue;
      }
      if (!tls_want(io, n, &events, "while writing", error))
        return FALSE;
    } else {
      /* MSG_NOSIGNAL: a closed peer is an error here, not a SIGPIPE. */
      ssize_t n = send(io->fd, p, (size_t)chunk, MSG_NOSIGNAL);
      if (n > 0) {
        p += n;
        len -= (gsize)n;
        continue;
      }
      int saved = errno;
      if (saved == EPIPE || saved == ECONNRESET) {
        g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CLOSED,
                    "the server closed the connection");
        return FALSE;
      }
      if (n < 0 && saved != EAGAIN && saved != EWOULDBLOCK &&
          saved != EINTR) {
        g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_IO,
                    "write: %s", g_strerror(saved));
        return FALSE;
      }
    }
    if (!wait_fd(io->fd, events, deadline_usec, "sending to the server",
                 error))
      return FALSE;
  }
  return TRUE;
}

void
mm_smtp_io_free(MmSmtpIo *io)
{
  if (io == NULL)
    return;
  if (io->ssl != NULL) {
    /* One non-blocking close_notify, not waited for: the SMTP session is
     * over (QUIT answered, or the connection is broken). */
    ERR_clear_error();
    (void)SSL_shutdown(io->ssl);
    ERR_clear_error();
    SSL_free(io->ssl);
  }
  if (io->fd >= 0)
    close(io->fd);
  g_free(io);
}
