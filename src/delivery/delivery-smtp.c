/* The SMTP client (RFC 5321) that hands messages to the site's MTA:
 * session set-up (EHLO/HELO, STARTTLS or implicit TLS, AUTH PLAIN/LOGIN),
 * pipelined transactions (RFC 2920), SIZE (RFC 1870) and 8BITMIME (RFC
 * 6152), and per-recipient results.
 *
 * Every reply is read through the bounded parser with the deadline of its
 * phase (RFC 5321 4.5.3.2: 5 minutes for the greeting, EHLO, MAIL and RCPT,
 * 2 for DATA, 3 per block of message data, 10 for the final dot).  On any
 * failure the connection is dropped, never reused: after a timeout we no
 * longer know which reply belongs to which command.
 *
 * This file owns protocol decisions only; what a code means for the
 * recipient (bounce or retry) is delivery-plan.c's
 * mm_delivery_code_is_permanent().
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <string.h>

/* A pipelined group is written in one go and its replies read before the
 * next group: bounded by commands and bytes, it stays far below any socket
 * buffer, so neither side can block writing while the other writes too. */
#define PIPELINE_MAX_COMMANDS 100
#define PIPELINE_MAX_BYTES (16 * 1024)
/* Message data goes out in blocks, each with the data-block deadline. */
#define DATA_BLOCK_BYTES (64 * 1024)
/* QUIT is a courtesy; nobody waits long for its answer. */
#define QUIT_TIMEOUT_USEC (5 * G_USEC_PER_SEC)

struct MmSmtpClient {
  const MmSmtpSettings *settings;
  SSL_CTX *tls;
  MmSmtpIo *io;
  MmSmtpReplyParser *parser;
  char inbuf[16 * 1024];
  gsize in_start;
  gsize in_end;
  /* Capabilities from the last EHLO. */
  gboolean pipelining;
  gboolean eightbitmime;
  gboolean starttls;
  gboolean auth_plain;
  gboolean auth_login;
  guint64 size_limit; /* 0: none announced */
  guint transactions;
  gint64 last_used;
};

void
mm_smtp_status_set(MmSmtpStatus *status, int code, const char *text)
{
  g_free(status->text);
  status->code = code;
  /* Servers send any bytes; the text ends up in JSON (journal, bounce
   * events), which takes UTF-8 only. */
  status->text = g_utf8_make_valid(text ? text : "", -1);
}

void
mm_smtp_status_clear(MmSmtpStatus *status)
{
  g_clear_pointer(&status->text, g_free);
  status->code = 0;
}

MmSmtpClient *
mm_smtp_client_new(const MmSmtpSettings *settings, SSL_CTX *tls)
{
  MmSmtpClient *client = g_new0(MmSmtpClient, 1);
  client->settings = settings;
  client->tls = tls;
  return client;
}

static void
client_close(MmSmtpClient *client)
{
  g_clear_pointer(&client->io, mm_smtp_io_free);
  g_clear_pointer(&client->parser, mm_smtp_reply_parser_free);
  client->in_start = client->in_end = 0;
}

void
mm_smtp_client_free(MmSmtpClient *client)
{
  if (client == NULL)
    return;
  mm_smtp_client_quit(client);
  g_free(client);
}

gboolean
mm_smtp_client_is_open(const MmSmtpClient *client)
{
  return client->io != NULL;
}

gint64
mm_smtp_client_last_used(const MmSmtpClient *client)
{
  return client->last_used;
}

static gint64
deadline(gint64 timeout_usec)
{
  return g_get_monotonic_time() + timeout_usec;
}

/* Reads the next reply.  On failure the connection is closed. */
static MmSmtpReply *
read_reply(MmSmtpClient *client, gint64 timeout_usec, GError **error)
{
  gint64 until = deadline(timeout_usec);
  for (;;) {
    if (client->in_start < client->in_end) {
      MmSmtpReply *reply = NULL;
      gssize used = mm_smtp_reply_parser_feed(
          client->parser, client->inbuf + client->in_start,
          client->in_end - client->in_start, &reply, error);
      if (used < 0) {
        client_close(client);
        return NULL;
      }
      client->in_start += (gsize)used;
      if (reply != NULL)
        return reply;
    }
    client->in_start = client->in_end = 0;
    gssize n = mm_smtp_io_read(client->io, client->inbuf,
                               sizeof client->inbuf, until, error);
    if (n < 0) {
      client_close(client);
      return NULL;
    }
    client->in_end = (gsize)n;
  }
}

static gboolean
write_all(MmSmtpClient *client, const void *data, gsize len,
          gint64 timeout_usec, GError **error)
{
  if (!mm_smtp_io_write(client->io, data, len, deadline(timeout_usec),
                        error)) {
    client_close(client);
    return FALSE;
  }
  return TRUE;
}

/* Sends one command and reads its reply. */
static MmSmtpReply *
command(MmSmtpClient *client, const char *line, gint64 timeout_usec,
        GError **error)
{
  g_autofree char *wire = g_strconcat(line, "\r\n", NULL);
  if (!write_all(client, wire, strlen(wire), timeout_usec, error))
    return NULL;
  return read_reply(client, timeout_usec, error);
}

/* Fails the session set-up with @reply's code and text. */
static gboolean
refused(MmSmtpClient *client, MmSmtpReply *reply, MmDeliveryError code,
        const char *what, GError **error)
{
  g_autofree char *text = mm_smtp_reply_text(reply);
  g_set_error(error, MM_DELIVERY_ERROR,
              reply->code == 421 ? MM_DELIVERY_ERROR_CLOSED : code,
              "%s: %d %s", what, reply->code, text);
  client_close(client);
  return FALSE;
}

static void
parse_capabilities(MmSmtpClient *client, const MmSmtpReply *reply)
{
  client->pipelining = client->eightbitmime = client->starttls = FALSE;
  client->auth_plain = client->auth_login = FALSE;
  client->size_limit = 0;
  /* The first line is the greeting text; each later line a keyword with
   * parameters (RFC 5321 4.1.1.1), in any case. */
  for (guint i = 1; i < reply->lines->len; i++) {
    g_auto(GStrv) words = g_strsplit_set(reply->lines->pdata[i], " =", -1);
    if (words[0] == NULL)
      continue;
    const char *keyword = words[0];
    if (g_ascii_strcasecmp(keyword, "PIPELINING") == 0)
      client->pipelining = TRUE;
    else if (g_ascii_strcasecmp(keyword, "8BITMIME") == 0)
      client->eightbitmime = TRUE;
    else if (g_ascii_strcasecmp(keyword, "STARTTLS") == 0)
      client->starttls = TRUE;
    else if (g_ascii_strcasecmp(keyword, "SIZE") == 0) {
      guint64 limit = 0;
      if (words[1] != NULL &&
          g_ascii_string_to_unsigned(words[1], 10, 0, G_MAXUINT64, &limit,
                                     NULL))
        client->size_limit = limit;
    } else if (g_ascii_strcasecmp(keyword, "AUTH") == 0) {
      /* "AUTH PLAIN LOGIN", or the pre-standard "AUTH=PLAIN LOGIN". */
      for (guint k = 1; words[k] != NULL; k++) {
        if (g_ascii_strcasecmp(words[k], "PLAIN") == 0)
          client->auth_plain = TRUE;
        else if (g_ascii_strcasecmp(words[k], "LOGIN") == 0)
          client->auth_login = TRUE;
      }
    }
  }
}

static gboolean
hello(MmSmtpClient *client, GError **error)
{
  const MmSmtpSettings *s = client->settings;
  g_autofree char *ehlo = g_strdup_printf("EHLO %s", s->helo_name);
  g_autoptr(MmSmtpReply) reply =
      command(client, ehlo, s->command_timeout_usec, error);
  if (reply == NULL)
    return FALSE;
  if (reply->code == 250) {
    parse_capabilities(client, reply);
    return TRUE;
  }
  if (reply->code < 500)
    return refused(client, reply, MM_DELIVERY_ERROR_PROTOCOL,
                   "EHLO refused", error);
  /* RFC 5321 4.1.4: a server that does not know EHLO says 5xx; old
   * servers still take HELO, with no extensions. */
  g_autofree char *helo = g_strdup_printf("HELO %s", s->helo_name);
  g_autoptr(MmSmtpReply) again =
      command(client, helo, s->command_timeout_usec, error);
  if (again == NULL)
    return FALSE;
  if (again->code != 250)
    return refused(client, again, MM_DELIVERY_ERROR_PROTOCOL,
                   "HELO refused", error);
  parse_capabilities(client, again); /* clears them all */
  return TRUE;
}

static gboolean
authenticate(MmSmtpClient *client, GError **error)
{
  const MmSmtpSettings *s = client->settings;
  if (!mm_smtp_io_is_tls(client->io) && !s->allow_plaintext_auth) {
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_AUTH,
                "not sending the SMTP password over a plain connection "
                "(use smtp_secure_mode starttls or smtps, or set "
                "smtp_allow_plaintext_auth)");
    client_close(client);
    return FALSE;
  }
  g_autoptr(MmSmtpReply) reply = NULL;
  if (client->auth_plain) {
    /* RFC 4616: authzid NUL authcid NUL password, as initial response. */
    gsize ulen = strlen(s->user), plen = strlen(s->password);
    g_autofree char *blob = g_malloc(ulen + plen + 2);
    blob[0] = '\0';
    memcpy(blob + 1, s->user, ulen);
    blob[ulen + 1] = '\0';
    memcpy(blob + ulen + 2, s->password, plen);
    g_autofree char *b64 = g_base64_encode((const guchar *)blob, ulen + plen + 2);
    memset(blob, 0, ulen + plen + 2);
    g_autofree char *line = g_strconcat("AUTH PLAIN ", b64, NULL);
    reply = command(client, line, s->command_timeout_usec, error);
    memset(line, 0, strlen(line));
  } else if (client->auth_login) {
    reply = command(client, "AUTH LOGIN", s->command_timeout_usec, error);
    for (int step = 0; step < 2 && reply != NULL && reply->code == 334;
         step++) {
      const char *secret = step == 0 ? s->user : s->password;
      g_autofree char *b64 =
          g_base64_encode((const guchar *)secret, strlen(secret));
      g_clear_pointer(&reply, mm_smtp_reply_free);
      reply = command(client, b64, s->command_timeout_usec, error);
      memset(b64, 0, strlen(b64));
    }
  } else {
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_AUTH,
                "the server offers neither AUTH PLAIN nor AUTH LOGIN");
    client_close(client);
    return FALSE;
  }
  if (reply == NULL)
    return FALSE;
  if (reply->code != 235)
    return refused(client, reply, MM_DELIVERY_ERROR_AUTH,
                   "authentication failed", error);
  return TRUE;
}

gboolean
mm_smtp_client_open(MmSmtpClient *client, GError **error)
{
  const MmSmtpSettings *s = client->settings;
  g_return_val_if_fail(client->io == NULL, FALSE);

  client->io = mm_smtp_io_connect(s->host, s->port,
                                  deadline(s->connect_timeout_usec), error);
  if (client->io == NULL)
    return FALSE;
  client->parser = mm_smtp_reply_parser_new();
  client->transactions = 0;

  if (s->security == MM_SMTP_SECURITY_SMTPS &&
      !mm_smtp_io_start_tls(client->io, client->tls, s->host,
                            s->verify_cert && s->verify_hostname,
                            deadline(s->command_timeout_usec), error)) {
    client_close(client);
    return FALSE;
  }
  g_autoptr(MmSmtpReply) greeting =
      read_reply(client, s->command_timeout_usec, error);
  if (greeting == NULL)
    return FALSE;
  if (greeting->code != 220)
    return refused(client, greeting, MM_DELIVERY_ERROR_CONNECT,
                   "the server refused the session", error);
  if (!hello(client, error))
    return FALSE;

  if (s->security == MM_SMTP_SECURITY_STARTTLS) {
    if (!client->starttls) {
      g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_TLS,
                  "smtp_secure_mode is starttls but the server does not "
                  "offer STARTTLS");
      client_close(client);
      return FALSE;
    }
    g_autoptr(MmSmtpReply) go =
        command(client, "STARTTLS", s->command_timeout_usec, error);
    if (go == NULL)
      return FALSE;
    if (go->code != 220)
      return refused(client, go, MM_DELIVERY_ERROR_TLS, "STARTTLS refused",
                     error);
    /* RFC 3207 4.2: nothing the server sent before the handshake counts
     * (a server could have pipelined text in clear behind its 220). */
    client->in_start = client->in_end = 0;
    if (!mm_smtp_io_start_tls(client->io, client->tls, s->host,
                              s->verify_cert && s->verify_hostname,
                              deadline(s->command_timeout_usec), error)) {
      client_close(client);
      return FALSE;
    }
    if (!hello(client, error))
      return FALSE;
  }
  if (s->user != NULL && !authenticate(client, error))
    return FALSE;
  client->last_used = g_get_monotonic_time();
  return TRUE;
}

void
mm_smtp_client_quit(MmSmtpClient *client)
{
  if (client->io == NULL)
    return;
  g_autoptr(GError) ignored = NULL;
  if (mm_smtp_io_write(client->io, "QUIT\r\n", 6, deadline(QUIT_TIMEOUT_USEC),
                       &ignored)) {
    g_autoptr(MmSmtpReply) reply =
        read_reply(client, QUIT_TIMEOUT_USEC, &ignored);
  }
  client_close(client);
}

/* ---- transactions ------------------------------------------------------ */

typedef enum {
  CMD_RSET,
  CMD_MAIL,
  CMD_RCPT,
  CMD_DATA,
} CommandKind;

typedef struct {
  MmSmtpClient *client;
  const MmSmtpTransaction *tx;
  MmSmtpStatus *status;
  gboolean *accepted; /* per recipient: RCPT got 2xx */
  guint n_accepted;
  int mail_code;      /* 0 until MAIL is answered */
  char *mail_text;
  gboolean replied;   /* any reply to this transaction yet */
  gboolean closing;   /* the server said 421 */
  int data_code;
  char *data_text;
} Tx;

/* Whether @address can go into a command line as is. */
static gboolean
address_ok(const char *address)
{
  for (const char *p = address; *p; p++)
    if ((guchar)*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
      return FALSE;
  return strlen(address) <= 1000;
}

static void
append_command(Tx *t, GString *out, CommandKind kind, guint rcpt)
{
  const MmSmtpSettings *s = t->client->settings;
  switch (kind) {
  case CMD_RSET:
    g_string_append(out, "RSET\r\n");
    break;
  case CMD_MAIL:
    g_string_append_printf(out, "MAIL FROM:<%s>", t->tx->sender);
    /* SIZE= only to a server that announced SIZE (RFC 1870 6). */
    if (t->client->size_limit > 0)
      g_string_append_printf(out, " SIZE=%" G_GSIZE_FORMAT,
                             g_bytes_get_size(t->tx->head) +
                                 g_bytes_get_size(t->tx->body));
    if (t->tx->eightbit && t->client->eightbitmime)
      g_string_append(out, " BODY=8BITMIME");
    g_string_append(out, "\r\n");
    break;
  case CMD_RCPT:
    g_string_append_printf(out, "RCPT TO:<%s>\r\n",
                           s->devmode_recipient ? s->devmode_recipient
                                                : t->tx->recipients[rcpt]);
    break;
  case CMD_DATA:
    g_string_append(out, "DATA\r\n");
    break;
  }
}

/* Records the reply to one command.  FALSE (with @error) when the
 * connection cannot go on. */
static gboolean
take_reply(Tx *t, CommandKind kind, guint rcpt, MmSmtpReply *reply,
           GError **error)
{
  g_autofree char *text = mm_smtp_reply_text(reply);
  if (reply->code == 421)
    t->closing = TRUE;
  switch (kind) {
  case CMD_RSET:
    /* Not counted as a reply of the transaction: a cached connection that
     * the server timed out answers RSET with 421 or not at all, and the
     * transaction can go to a new connection unharmed. */
    if (reply->code / 100 == 2)
      return TRUE;
    g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_CLOSED,
                "RSET refused: %d %s", reply->code, text);
    return FALSE;
  case CMD_MAIL:
    t->replied = TRUE;
    t->mail_code = reply->code;
    t->mail_text = g_strdup(text);
    return TRUE;
  case CMD_RCPT:
    t->replied = TRUE;
    if (t->mail_code / 100 != 2)
      mm_smtp_status_set(&t->status[rcpt], t->mail_code, t->mail_text);
    else if (reply->code / 100 == 2) {
      t->accepted[rcpt] = TRUE;
      t->n_accepted++;
    } else
      mm_smtp_status_set(&t->status[rcpt], reply->code, text);
    return TRUE;
  case CMD_DATA:
    t->replied = TRUE;
    t->data_code = reply->code;
    t->data_text = g_strdup(text);
    return TRUE;
  }
  return TRUE;
}

/* Sends the message after 354 and reads the final reply. */
static gboolean
send_data(Tx *t, GError **error)
{
  MmSmtpClient *client = t->client;
  const MmSmtpSettings *s = client->settings;
  GBytes *parts[2] = {t->tx->head, t->tx->body};

  /* After 354 with no accepted recipient (RFC 2920 3.1) an empty message
   * goes out: the server refuses it, and the session stays in step. */
  if (t->n_accepted > 0) {
    for (int p = 0; p < 2; p++) {
      gsize len = 0;
      const char *data = g_bytes_get_data(parts[p], &len);
      for (gsize off = 0; off < len; off += DATA_BLOCK_BYTES)
        if (!write_all(client, data + off, MIN(DATA_BLOCK_BYTES, len - off),
                       s->data_block_timeout_usec, error))
          return FALSE;
    }
  }
  if (!write_all(client, ".\r\n", 3, s->data_block_timeout_usec, error))
    return FALSE;
  if (t->n_accepted > 0 && t->tx->dot_sent != NULL)
    t->tx->dot_sent(t->accepted, t->tx->dot_data);
  g_autoptr(MmSmtpReply) reply =
      read_reply(client, s->data_done_timeout_usec, error);
  if (reply == NULL)
    return FALSE;
  if (reply->code == 421)
    t->closing = TRUE;
  g_autofree char *text = mm_smtp_reply_text(reply);
  for (guint i = 0; i < t->tx->n_recipients; i++)
    if (t->accepted[i])
      mm_smtp_status_set(&t->status[i], reply->code, text);
  return TRUE;
}

/* The commands of a transaction, in order: (kind, recipient). */
typedef struct {
  CommandKind kind;
  guint rcpt;
} Command;

static gboolean
run_commands(Tx *t, GError **error)
{
  MmSmtpClient *client = t->client;
  const MmSmtpSettings *s = client->settings;
  const MmSmtpTransaction *tx = t->tx;
  g_autoptr(GArray) commands = g_array_new(FALSE, FALSE, sizeof(Command));

  if (client->transactions > 0)
    g_array_append_val(commands, ((Command){CMD_RSET, 0}));
  g_array_append_val(commands, ((Command){CMD_MAIL, 0}));
  for (guint i = 0; i < tx->n_recipients; i++)
    if (t->status[i].code == 0)
      g_array_append_val(commands, ((Command){CMD_RCPT, i}));
  g_array_append_val(commands, ((Command){CMD_DATA, 0}));

  guint next = 0;
  g_autoptr(GString) group = g_string_new(NULL);
  while (next < commands->len) {
    /* Without PIPELINING every group is one command.  With it, a group
     * ends at the bounds, and DATA is always last (RFC 2920 3.1). */
    guint start = next;
    g_string_truncate(group, 0);
    do {
      Command *c = &g_array_index(commands, Command, next);
      append_command(t, group, c->kind, c->rcpt);
      next++;
    } while (client->pipelining && next < commands->len &&
             next - start < PIPELINE_MAX_COMMANDS &&
             group->len < PIPELINE_MAX_BYTES);

    if (!write_all(client, group->str, group->len, s->command_timeout_usec,
                   error))
      return FALSE;
    for (guint k = start; k < next; k++) {
      Command *c = &g_array_index(commands, Command, k);
      g_autoptr(MmSmtpReply) reply = read_reply(
          client,
          c->kind == CMD_DATA ? s->data_init_timeout_usec
                              : s->command_timeout_usec,
          error);
      if (reply == NULL)
        return FALSE;
      if (!take_reply(t, c->kind, c->rcpt, reply, error)) {
        client_close(client);
        return FALSE;
      }
      if (t->closing)
        return TRUE;
    }
    /* Stop as soon as the outcome is known: MAIL refused (pipelined, after
     * the replies of its group), or no recipient left for DATA. */
    if (t->mail_code != 0 && t->mail_code / 100 != 2)
      break;
    if (!client->pipelining && next < commands->len &&
        g_array_index(commands, Command, next).kind == CMD_DATA &&
        t->n_accepted == 0)
      break;
  }
  if (t->data_code == 354)
    return send_data(t, error);
  return TRUE;
}

gboolean
mm_smtp_client_send(MmSmtpClient *client, const MmSmtpTransaction *tx,
                    MmSmtpStatus *status_out, gboolean *stale_out,
                    GError **error)
{
  g_return_val_if_fail(client->io != NULL, FALSE);
  *stale_out = FALSE;

  gsize size = g_bytes_get_size(tx->head) + g_bytes_get_size(tx->body);
  if (client->size_limit > 0 && size > client->size_limit) {
    g_autofree char *text = g_strdup_printf(
        "5.3.4 message of %" G_GSIZE_FORMAT " bytes is over the server's "
        "SIZE limit of %" G_GUINT64_FORMAT " (not sent)",
        size, client->size_limit);
    for (guint i = 0; i < tx->n_recipients; i++)
      mm_smtp_status_set(&status_out[i], 554, text);
    return TRUE;
  }
  if (!address_ok(tx->sender)) {
    for (guint i = 0; i < tx->n_recipients; i++)
      mm_smtp_status_set(&status_out[i], 553,
                         "5.1.7 unusable envelope sender (not sent)");
    return TRUE;
  }
  guint usable = 0;
  for (guint i = 0; i < tx->n_recipients; i++) {
    if (address_ok(tx->recipients[i]))
      usable++;
    else
      mm_smtp_status_set(&status_out[i], 553,
                         "5.1.3 unusable recipient address (not sent)");
  }
  if (usable == 0)
    return TRUE;

  Tx t = {.client = client, .tx = tx, .status = status_out};
  t.accepted = g_new0(gboolean, tx->n_recipients);
  gboolean reused = client->transactions > 0;
  gboolean ok = run_commands(&t, error);

  if (ok && (t.mail_code == 0 || t.mail_code / 100 == 2) &&
      t.data_code != 0 && t.data_code != 354) {
    /* DATA refused: everyone RCPT accepted shares its answer. */
    for (guint i = 0; i < tx->n_recipients; i++)
      if (t.accepted[i])
        mm_smtp_status_set(&status_out[i], t.data_code, t.data_text);
  }
  if (ok && t.closing) {
    /* 421: the server is going away (RFC 5321 3.8).  Whoever has no final
     * answer yet shares that fate; the connection is done. */
    for (guint i = 0; i < tx->n_recipients; i++)
      if (status_out[i].code == 0)
        mm_smtp_status_set(&status_out[i], 421,
                           "4.4.2 the server closed the session");
    client_close(client);
  }
  if (!ok && reused && !t.replied)
    *stale_out = TRUE;
  if (ok) {
    /* Recipients never asked about, because MAIL was refused without
     * pipelining, share MAIL's answer; nothing else can be left, but a
     * missing answer must never read as delivered. */
    gboolean mail_refused = t.mail_code != 0 && t.mail_code / 100 != 2;
    for (guint i = 0; i < tx->n_recipients; i++)
      if (status_out[i].code == 0)
        mm_smtp_status_set(&status_out[i], mail_refused ? t.mail_code : 451,
                           mail_refused ? t.mail_text
                                        : "4.3.0 no final reply (not sent)");
  }
  /* When the connection failed, accepted recipients without a final
   * answer keep code 0: the caller decides (444, as Mailman). */
  g_free(t.accepted);
  g_free(t.mail_text);
  g_free(t.data_text);

  client->last_used = g_get_monotonic_time();
  if (ok && client->io != NULL) {
    client->transactions++;
    if (client->settings->max_sessions_per_connection > 0 &&
        client->transactions >= client->settings->max_sessions_per_connection)
      mm_smtp_client_quit(client);
  }
  return ok;
}
