/* The socketmap server spoken to over real sockets: by a netstring client
 * written here (well-formed, pipelined, byte-at-a-time, oversize, garbage,
 * stalled, one connection too many) and by Debian's own Postfix client
 * (`postmap -q KEY socketmap:inet:127.0.0.1:PORT:NAME`) when postfix is
 * installed.
 *
 * The server runs on its own GMainContext in a second thread, with its own
 * read-only connection to the database file; the test writes through
 * another connection, as `mailman create` would from another process.
 * Every socket read has a receive timeout, so a broken server fails the
 * test instead of hanging it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mta.h"
#include "mta-private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define POSTMAP "/usr/sbin/postmap"
#define RECV_TIMEOUT_SEC 20

/* What a test wants of its server (the fixture's data; NULL: defaults). */
typedef struct {
  gboolean short_timeouts;
  const char *lmtp_host; /* NULL: 127.0.0.1 */
} Options;

static const Options short_timeouts = {.short_timeouts = TRUE};
static const Options unix_lmtp = {.lmtp_host = "/run/mailman3/lmtp.sock"};

typedef struct {
  char *root;
  char *db_path;
  MmStore *writer;       /* the test's connection */
  MmStore *reader;       /* the server's connection */
  MmMtaSocketmap *server;
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;
  guint port;
} Fixture;

static gpointer
run_loop(gpointer data)
{
  Fixture *f = data;
  g_main_context_push_thread_default(f->context);
  g_main_loop_run(f->loop);
  g_main_context_pop_thread_default(f->context);
  return NULL;
}

static void
add_list(MmStore *store, const char *name, const char *host)
{
  GError *error = NULL;
  g_autoptr(MmList) list = mm_store_list_create(store, name, host,
                                                "[-_.0-9a-z]", &error);
  g_assert_no_error(error);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  f->root = g_dir_make_tmp("mm-sockmap-XXXXXX", &error);
  g_assert_no_error(error);
  f->db_path = g_build_filename(f->root, "mailman.db", NULL);
  f->writer = mm_store_open(f->db_path, MM_STORE_READ_WRITE, &error);
  g_assert_no_error(error);
  g_assert_true(mm_store_domain_add(f->writer, "example.com", "", NULL,
                                    &error));
  g_assert_true(mm_store_domain_add(f->writer, "example.org", "",
                                    "x.example.org", &error));
  g_assert_no_error(error);
  add_list(f->writer, "test", "example.com");
  add_list(f->writer, "foo-owner", "example.com");
  add_list(f->writer, "third", "example.org");

  f->reader = mm_store_open(f->db_path, MM_STORE_READ_ONLY, &error);
  g_assert_no_error(error);
  const Options *options = data;
  const char *lmtp_host = options != NULL && options->lmtp_host != NULL
                              ? options->lmtp_host
                              : "127.0.0.1";
  f->server = mm_mta_socketmap_new_full(f->reader, "127.0.0.1", 0, lmtp_host,
                                        8024, "+", NULL, &error);
  g_assert_no_error(error);
  /* Short limits only for the test of them: elsewhere a slow machine
   * must not see connections closed under it. */
  if (options != NULL && options->short_timeouts)
    mm_mta_socketmap_set_timeouts(f->server, 2, 1);
  f->context = g_main_context_new();
  f->loop = g_main_loop_new(f->context, FALSE);
  g_assert_true(mm_mta_socketmap_start(f->server, f->context, &error));
  g_assert_no_error(error);
  f->port = mm_mta_socketmap_get_port(f->server);
  g_assert_cmpuint(f->port, >, 0);
  f->thread = g_thread_new("socketmap", run_loop, f);
}

static gboolean
quit_and_free(gpointer data)
{
  Fixture *f = data;
  /* Freed on the thread that runs the context, as the API asks. */
  g_clear_pointer(&f->server, mm_mta_socketmap_free);
  g_main_loop_quit(f->loop);
  return G_SOURCE_REMOVE;
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  GSource *source = g_idle_source_new();
  g_source_set_callback(source, quit_and_free, f, NULL);
  g_source_attach(source, f->context);
  g_source_unref(source);
  g_thread_join(f->thread);
  g_main_loop_unref(f->loop);
  g_main_context_unref(f->context);
  mm_store_close(f->reader);
  mm_store_close(f->writer);
  g_unlink(f->db_path);
  g_autofree char *wal = g_strconcat(f->db_path, "-wal", NULL);
  g_autofree char *shm = g_strconcat(f->db_path, "-shm", NULL);
  g_unlink(wal);
  g_unlink(shm);
  g_rmdir(f->root);
  g_free(f->db_path);
  g_free(f->root);
}

/* ---- A small netstring client ------------------------------------------ */

static int
client_connect(Fixture *f)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint(fd, >=, 0);
  struct timeval tv = {.tv_sec = RECV_TIMEOUT_SEC};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((guint16)f->port)};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  g_assert_cmpint(connect(fd, (struct sockaddr *)&sin, sizeof sin), ==, 0);
  return fd;
}

static void
send_bytes(int fd, const char *data, gsize len)
{
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    g_assert_cmpint(n, >, 0);
    data += n;
    len -= (gsize)n;
  }
}

static void
send_request(int fd, const char *request)
{
  g_autofree char *framed = g_strdup_printf("%zu:%s,", strlen(request),
                                            request);
  send_bytes(fd, framed, strlen(framed));
}

/* Reads one netstring reply; NULL when the server closed the connection
 * first.  Fails the test on a timeout or a malformed reply. */
static char *
read_reply(int fd)
{
  GString *buf = g_string_new(NULL);
  gsize len = 0;
  char c;

  for (;;) {
    ssize_t n = recv(fd, &c, 1, 0);
    if (n == 0 && buf->len == 0) {
      g_string_free(buf, TRUE);
      return NULL;
    }
    if (n < 0 && errno == ECONNRESET && buf->len == 0) {
      /* Closed with our request unread: a reset instead of an EOF. */
      g_string_free(buf, TRUE);
      return NULL;
    }
    g_assert_cmpint(n, ==, 1);
    if (c == ':')
      break;
    g_assert_true(g_ascii_isdigit(c));
    g_assert_cmpuint(buf->len, <, 6);
    g_string_append_c(buf, c);
  }
  len = (gsize)g_ascii_strtoull(buf->str, NULL, 10);
  g_string_truncate(buf, 0);
  for (gsize i = 0; i < len + 1; i++) {
    ssize_t n = recv(fd, &c, 1, 0);
    g_assert_cmpint(n, ==, 1);
    g_string_append_c(buf, c);
  }
  g_assert_cmpint(buf->str[len], ==, ',');
  g_string_truncate(buf, len);
  return g_string_free(buf, FALSE);
}

/* TRUE when the server has closed the connection (EOF before any byte). */
static gboolean
closed_by_server(int fd)
{
  char c;
  ssize_t n = recv(fd, &c, 1, 0);
  g_assert_cmpint(n, >=, 0); /* a timeout (-1) means it never closed */
  return n == 0;
}

static void
expect(int fd, const char *request, const char *reply)
{
  send_request(fd, request);
  g_autofree char *got = read_reply(fd);
  g_assert_cmpstr(got, ==, reply);
}

/* ---- Tests ---------------------------------------------------------------- */

static void
test_lookups(Fixture *f, gconstpointer data)
{
  int fd = client_connect(f);
  const char *lmtp = "OK lmtp:[127.0.0.1]:8024";
  const char *names[] = {"test", "foo-owner", "third", "third", "third"};
  const char *hosts[] = {"example.com", "example.com", "x.example.org",
                         "example.org", "EXAMPLE.org"};

  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    g_auto(GStrv) addresses = mm_mta_list_addresses(names[i], hosts[i]);
    for (char **a = addresses; *a != NULL; a++) {
      g_autofree char *request = g_strdup_printf("transport %s", *a);
      expect(fd, request, lmtp);
    }
  }
  expect(fd, "transport test-bounces+ann=example.net@example.com", lmtp);
  expect(fd, "transport test-confirm+c0ffee@example.com", lmtp);
  expect(fd, "transport Test+anything@Example.COM", lmtp);
  expect(fd, "transport foo-owner-request@example.com", lmtp);
  expect(fd, "transport foo@example.com", "NOTFOUND ");
  expect(fd, "transport nobody@example.com", "NOTFOUND ");
  expect(fd, "transport test-admin@example.com", "NOTFOUND ");
  expect(fd, "transport example.com", "NOTFOUND ");
  expect(fd, "transport .example.com", "NOTFOUND ");
  expect(fd, "transport test", "NOTFOUND ");

  expect(fd, "recipients test-join@example.com", "OK test@example.com");
  expect(fd, "recipients third-owner@x.example.org", "OK third@example.org");
  expect(fd, "recipients nobody@example.com", "NOTFOUND ");

  expect(fd, "domains example.com", "OK example.com");
  expect(fd, "domains x.example.org", "OK example.org");
  expect(fd, "domains example.org", "NOTFOUND "); /* virtual alias domain */
  expect(fd, "domains example.net", "NOTFOUND ");

  expect(fd, "virtual third-bounces@example.org",
         "OK third-bounces@x.example.org");
  expect(fd, "virtual third@x.example.org", "NOTFOUND ");
  expect(fd, "virtual test@example.com", "NOTFOUND ");
  expect(fd, "virtual nobody@example.org", "NOTFOUND ");

  /* Unknown map names and a request without a key are permanent errors,
   * and the connection goes on. */
  send_request(fd, "aliases test@example.com");
  g_autofree char *perm = read_reply(fd);
  g_assert_true(g_str_has_prefix(perm, "PERM "));
  send_request(fd, "transport");
  g_autofree char *perm2 = read_reply(fd);
  g_assert_true(g_str_has_prefix(perm2, "PERM "));
  expect(fd, "transport test@example.com", lmtp);
  close(fd);
}

/* A list created after the server started is found at once: nothing to
 * regenerate.  A removed one is gone at once. */
static void
test_live(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  int fd = client_connect(f);

  expect(fd, "transport fresh@example.com", "NOTFOUND ");
  add_list(f->writer, "fresh", "example.com");
  expect(fd, "transport fresh-bounces+x=y@example.com",
         "OK lmtp:[127.0.0.1]:8024");
  g_assert_true(mm_store_list_remove(f->writer, "fresh.example.com", &error));
  g_assert_no_error(error);
  expect(fd, "transport fresh@example.com", "NOTFOUND ");
  close(fd);
}

/* Several requests in one packet are answered in order; one request sent a
 * byte at a time is answered once complete. */
static void
test_pipelined_and_split(Fixture *f, gconstpointer data)
{
  int fd = client_connect(f);
  const char *batch = "26:transport test@example.com,"
                      "28:transport nobody@example.com,"
                      "19:domains example.com,";

  send_bytes(fd, batch, strlen(batch));
  g_autofree char *r1 = read_reply(fd);
  g_autofree char *r2 = read_reply(fd);
  g_autofree char *r3 = read_reply(fd);
  g_assert_cmpstr(r1, ==, "OK lmtp:[127.0.0.1]:8024");
  g_assert_cmpstr(r2, ==, "NOTFOUND ");
  g_assert_cmpstr(r3, ==, "OK example.com");

  const char *one = "34:transport test-request@example.com,";
  for (const char *p = one; *p != '\0'; p++)
    send_bytes(fd, p, 1);
  g_autofree char *r4 = read_reply(fd);
  g_assert_cmpstr(r4, ==, "OK lmtp:[127.0.0.1]:8024");
  close(fd);
}

/* Each malformed input gets a PERM reply and then the connection closes. */
static void
test_garbage(Fixture *f, gconstpointer data)
{
  const struct {
    const char *bytes;
    gsize len;
  } cases[] = {
    {"100001:", 7},                       /* over Postfix's limit */
    {"9999999:", 8},                      /* too many digits */
    {"12345678901234567890", 20},         /* digits that never end */
    {"abc", 3},                           /* not a netstring */
    {":transport x,", 13},                /* no length */
    {"5:hello;", 8},                      /* wrong terminator */
    {"3:a\0b,", 6},                       /* NUL inside */
    {"4:\xff\xfe\xfd\xfc,", 7},           /* not UTF-8 */
    {"-1:x,", 5},                         /* negative length */
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    int fd = client_connect(f);
    send_bytes(fd, cases[i].bytes, cases[i].len);
    g_autofree char *reply = read_reply(fd);
    g_test_message("case %zu: %s", i, reply != NULL ? reply : "(closed)");
    g_assert_nonnull(reply);
    g_assert_true(g_str_has_prefix(reply, "PERM "));
    g_assert_true(closed_by_server(fd));
    close(fd);
  }

  /* The largest allowed netstring is read and answered (NOTFOUND: no such
   * address), not refused. */
  int fd = client_connect(f);
  GString *big = g_string_new("transport ");
  while (big->len < 100000 - strlen("@example.com"))
    g_string_append_c(big, 'a');
  g_string_append(big, "@example.com");
  g_assert_cmpuint(big->len, ==, 100000);
  send_request(fd, big->str);
  g_string_free(big, TRUE);
  g_autofree char *reply = read_reply(fd);
  g_assert_cmpstr(reply, ==, "NOTFOUND ");
  close(fd);
}

/* A request begun and never finished, and an idle connection, are closed
 * by the server (limits of 1 s and 2 s for this test); the receive
 * timeout of 20 s only bounds the wait. */
static void
test_timeouts(Fixture *f, gconstpointer data)
{
  int fd = client_connect(f);
  send_bytes(fd, "30:transport te", 15);
  g_assert_true(closed_by_server(fd));
  close(fd);

  fd = client_connect(f);
  expect(fd, "transport test@example.com", "OK lmtp:[127.0.0.1]:8024");
  g_assert_true(closed_by_server(fd));
  close(fd);
}

/* Connections over the cap are closed at once; the others keep working. */
static void
test_connection_cap(Fixture *f, gconstpointer data)
{
  int fds[65];

  for (guint i = 0; i < G_N_ELEMENTS(fds); i++)
    fds[i] = client_connect(f);
  /* Make sure the first 64 were accepted before judging the last. */
  for (guint i = 0; i < 64; i++)
    expect(fds[i], "domains example.com", "OK example.com");
  g_assert_true(closed_by_server(fds[64]));
  close(fds[64]);
  expect(fds[0], "domains example.com", "OK example.com");
  close(fds[0]);
  /* With one slot free a new client gets in. */
  int again = -1;
  for (guint attempt = 0; attempt < 50 && again < 0; attempt++) {
    int fd = client_connect(f);
    send_request(fd, "domains example.com");
    g_autofree char *reply = read_reply(fd);
    if (reply != NULL)
      again = fd;
    else
      close(fd); /* the server had not yet seen the close of fds[0] */
  }
  g_assert_cmpint(again, >=, 0);
  close(again);
  for (guint i = 1; i < 64; i++)
    close(fds[i]);
}

/* lmtp_host naming a Unix socket: the transport answer is the next-hop
 * Postfix's lmtp client needs for it; the other maps do not change. */
static void
test_unix_lmtp(Fixture *f, gconstpointer data)
{
  int fd = client_connect(f);
  const char *lmtp = "OK lmtp:unix:/run/mailman3/lmtp.sock";
  expect(fd, "transport test@example.com", lmtp);
  expect(fd, "transport test-bounces+ann=example.net@example.com", lmtp);
  expect(fd, "transport third-request@x.example.org", lmtp);
  expect(fd, "transport nobody@example.com", "NOTFOUND ");
  expect(fd, "recipients test-join@example.com", "OK test@example.com");
  close(fd);
}

/* Postfix's own socketmap client agrees with us. */
static void
test_postfix_client(Fixture *f, gconstpointer data)
{
  if (!g_file_test(POSTMAP, G_FILE_TEST_IS_EXECUTABLE)) {
    g_test_skip("Debian's postfix is not installed (no " POSTMAP ")");
    return;
  }
  g_autofree char *conf = g_build_filename(f->root, "postfix", NULL);
  g_autofree char *main_cf = g_build_filename(conf, "main.cf", NULL);
  g_mkdir_with_parents(conf, 0755);
  g_assert_true(g_file_set_contents(main_cf, "compatibility_level = 3.6\n",
                                    -1, NULL));
  const struct {
    const char *map;
    const char *key;
    const char *want; /* NULL: not found */
  } cases[] = {
    {"transport", "test-bounces+ann=example.net@example.com",
     "lmtp:[127.0.0.1]:8024"},
    {"transport", "third@x.example.org", "lmtp:[127.0.0.1]:8024"},
    {"transport", "nobody@example.com", NULL},
    {"recipients", "foo-owner@example.com", "foo-owner@example.com"},
    {"domains", "x.example.org", "example.org"},
    {"virtual", "third@example.org", "third@x.example.org"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *table = g_strdup_printf("socketmap:inet:127.0.0.1:%u:%s",
                                             f->port, cases[i].map);
    const char *argv[] = {POSTMAP, "-c", conf, "-q", cases[i].key, table,
                          NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = 0;
    GError *error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT,
                               NULL, NULL, &out, &err, &status, &error));
    g_assert_no_error(error);
    g_test_message("%s %s -> status %d, %s %s", cases[i].map, cases[i].key,
                   status, out, err);
    if (cases[i].want == NULL) {
      g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    } else {
      g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      g_assert_cmpstr(g_strstrip(out), ==, cases[i].want);
    }
  }
  g_unlink(main_cf);
  g_rmdir(conf);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn)                                                        \
  g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  g_test_add("/mta/socketmap/timeouts", Fixture, &short_timeouts,
             fixture_setup, test_timeouts, fixture_teardown);
  g_test_add("/mta/socketmap/unix-lmtp", Fixture, &unix_lmtp, fixture_setup,
             test_unix_lmtp, fixture_teardown);
  ADD("/mta/socketmap/lookups", test_lookups);
  ADD("/mta/socketmap/live", test_live);
  ADD("/mta/socketmap/pipelined-and-split", test_pipelined_and_split);
  ADD("/mta/socketmap/garbage", test_garbage);
  ADD("/mta/socketmap/connection-cap", test_connection_cap);
  ADD("/mta/socketmap/postfix-client", test_postfix_client);
#undef ADD
  return g_test_run();
}
