/* Named log files with Mailman's line format.
 *
 * One table maps logger names to an output (a path and its descriptor) and a
 * threshold.  Lines are formatted in full and written with one write() on an
 * O_APPEND descriptor, so lines from the master and its runners, which share
 * files, never interleave within a line.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "base-log.h"
#include "base-error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  char *path; /* NULL: stderr */
  int fd;
} LogOutput;

typedef struct {
  LogOutput *output; /* borrowed from outputs */
  MmLogLevel level;
} Logger;

static GMutex log_lock;
static GHashTable *loggers; /* name -> Logger* */
static GPtrArray *outputs;  /* LogOutput* */
static gboolean tee_stderr;

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR",
                                          "CRITICAL"};

static void
write_all(int fd, const char *data, gsize len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return; /* nowhere left to report a failing log */
    }
    data += n;
    len -= (gsize)n;
  }
}

static void
emit_line(const char *name, MmLogLevel level, const char *message)
{
  Logger *logger = loggers ? g_hash_table_lookup(loggers, name) : NULL;
  if (logger == NULL && loggers)
    logger = g_hash_table_lookup(loggers, "root");
  if (logger != NULL && level < logger->level)
    return;

  char stamp[64];
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(stamp, sizeof stamp, "%b %d %H:%M:%S %Y", &tm);

  g_autofree char *line = NULL;
  if (level >= MM_LOG_WARNING)
    line = g_strdup_printf("%s (%d) %s: %s\n", stamp, (int)getpid(),
                           level_names[level], message);
  else
    line = g_strdup_printf("%s (%d) %s\n", stamp, (int)getpid(), message);

  int fd = (logger != NULL && logger->output->fd >= 0) ? logger->output->fd
                                                       : STDERR_FILENO;
  write_all(fd, line, strlen(line));
  if (tee_stderr && fd != STDERR_FILENO) {
    g_autofree char *tagged = g_strdup_printf("[%s] %s", name, line);
    write_all(STDERR_FILENO, tagged, strlen(tagged));
  }
}

static GLogWriterOutput
writer(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields,
       gpointer user_data)
{
  const char *message = NULL;
  const char *name = NULL;
  MmLogLevel level = MM_LOG_ERROR;

  for (gsize i = 0; i < n_fields; i++) {
    if (g_str_equal(fields[i].key, "MESSAGE"))
      message = fields[i].value;
    else if (g_str_equal(fields[i].key, "MM_LOGGER"))
      name = fields[i].value;
  }
  if (message == NULL)
    return G_LOG_WRITER_UNHANDLED;

  if (name == NULL) {
    /* A message from GLib or a library: debug chatter is dropped, anything
     * else is an error worth seeing. */
    if (log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
      return G_LOG_WRITER_HANDLED;
    name = "error";
    level = (log_level & G_LOG_LEVEL_WARNING) ? MM_LOG_WARNING : MM_LOG_ERROR;
  } else if (log_level & G_LOG_LEVEL_DEBUG) {
    level = MM_LOG_DEBUG;
  } else if (log_level & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_MESSAGE)) {
    level = MM_LOG_INFO;
  } else if (log_level & G_LOG_LEVEL_WARNING) {
    level = MM_LOG_WARNING;
  } else {
    level = MM_LOG_ERROR;
  }
  /* mm_log() passes its exact level; GLib's flags cannot tell ERROR from
   * CRITICAL without making one of them fatal. */
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal(fields[i].key, "MM_LEVEL"))
      level = (MmLogLevel)(*(const char *)fields[i].value - '0');

  g_mutex_lock(&log_lock);
  emit_line(name, level, message);
  g_mutex_unlock(&log_lock);
  return G_LOG_WRITER_HANDLED;
}

void
mm_log_init(void)
{
  g_mutex_lock(&log_lock);
  if (loggers == NULL) {
    loggers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    outputs = g_ptr_array_new();
    g_log_set_writer_func(writer, NULL, NULL);
  }
  g_mutex_unlock(&log_lock);
}

static int
open_log(const char *path, GError **error)
{
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0660);
  if (fd < 0)
    mm_error_from_errno(error, errno, path);
  return fd;
}

gboolean
mm_log_configure(const char *name, const char *path, MmLogLevel level,
                 GError **error)
{
  LogOutput *output = NULL;
  const char *wanted = (path != NULL && *path != '\0') ? path : NULL;

  mm_log_init();
  g_mutex_lock(&log_lock);
  for (guint i = 0; i < outputs->len; i++) {
    LogOutput *o = outputs->pdata[i];
    if (g_strcmp0(o->path, wanted) == 0)
      output = o;
  }
  if (output == NULL) {
    int fd = -1;
    if (wanted != NULL) {
      fd = open_log(wanted, error);
      if (fd < 0) {
        g_mutex_unlock(&log_lock);
        return FALSE;
      }
    }
    output = g_new0(LogOutput, 1);
    output->path = g_strdup(wanted);
    output->fd = fd;
    g_ptr_array_add(outputs, output);
  }
  Logger *logger = g_new0(Logger, 1);
  logger->output = output;
  logger->level = level;
  g_hash_table_replace(loggers, g_strdup(name), logger);
  g_mutex_unlock(&log_lock);
  return TRUE;
}

void
mm_log_set_tee_stderr(gboolean tee)
{
  tee_stderr = tee;
}

gboolean
mm_log_reopen(GError **error)
{
  gboolean ok = TRUE;

  mm_log_init();
  g_mutex_lock(&log_lock);
  for (guint i = 0; i < outputs->len; i++) {
    LogOutput *o = outputs->pdata[i];
    if (o->path == NULL)
      continue;
    /* Open the new file before closing the old one, so a failure leaves the
     * logger writing somewhere. */
    int fd = open_log(o->path, ok ? error : NULL);
    if (fd < 0) {
      ok = FALSE;
      continue;
    }
    if (o->fd >= 0)
      close(o->fd);
    o->fd = fd;
  }
  g_mutex_unlock(&log_lock);
  return ok;
}

gboolean
mm_log_level_parse(const char *text, MmLogLevel *level_out)
{
  static const struct {
    const char *name;
    MmLogLevel level;
  } table[] = {
      {"debug", MM_LOG_DEBUG},     {"info", MM_LOG_INFO},
      {"warn", MM_LOG_WARNING},    {"warning", MM_LOG_WARNING},
      {"error", MM_LOG_ERROR},     {"critical", MM_LOG_CRITICAL},
      {"fatal", MM_LOG_CRITICAL},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(table); i++)
    if (g_ascii_strcasecmp(text, table[i].name) == 0) {
      *level_out = table[i].level;
      return TRUE;
    }
  return FALSE;
}

void
mm_log(const char *name, MmLogLevel level, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  g_autofree char *message = g_strdup_vprintf(format, args);
  va_end(args);

  static const GLogLevelFlags glib_levels[] = {
      G_LOG_LEVEL_DEBUG, G_LOG_LEVEL_INFO, G_LOG_LEVEL_WARNING,
      G_LOG_LEVEL_CRITICAL, G_LOG_LEVEL_CRITICAL};
  char level_digit[2] = {(char)('0' + level), '\0'};
  const GLogField fields[] = {
      {"MESSAGE", message, -1},
      {"MM_LOGGER", name, -1},
      {"MM_LEVEL", level_digit, -1},
      {"GLIB_DOMAIN", "mailman", -1},
  };
  /* Write directly: g_log_structured_array would treat CRITICAL as fatal
   * under G_DEBUG=fatal-criticals, and an error log line is not a bug. */
  mm_log_init();
  writer(glib_levels[level], fields, G_N_ELEMENTS(fields), NULL);
}

char *
mm_log_escape(const char *text, gssize len)
{
  if (text == NULL)
    return g_strdup("(null)");
  if (len < 0)
    len = (gssize)strlen(text);

  GString *out = g_string_sized_new((gsize)len + 8);
  for (gssize i = 0; i < len; i++) {
    guchar c = (guchar)text[i];
    if (c == '\\')
      g_string_append(out, "\\\\");
    else if (c < 0x20 || c == 0x7f || c >= 0x80)
      g_string_append_printf(out, "\\x%02x", c);
    else
      g_string_append_c(out, (char)c);
  }
  return g_string_free(out, FALSE);
}
