/* Mailman's named logs on top of GLib structured logging.
 *
 * Mailman 3 writes to named loggers ("smtp", "bounce", "vette", "error", ...)
 * whose level and file come from [logging.NAME] sections; sites keep their
 * logrotate rules for those files, so we keep the names, the default files
 * (mailman.log, smtp.log, bounce.log, ...) and the line format
 * "Mon DD HH:MM:SS YYYY (pid) message".
 *
 * Lower layers do not log (they return GErrors); the layer that decides logs
 * once.  GLib's own warnings and criticals land in the "error" log.  Until a
 * logger is configured its lines go to stderr, so start-up failures are
 * visible.  Text a peer supplied must pass through mm_log_escape() first.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

typedef enum {
  MM_LOG_DEBUG,
  MM_LOG_INFO,
  MM_LOG_WARNING,
  MM_LOG_ERROR,
  MM_LOG_CRITICAL,
} MmLogLevel;

/* Installs the GLib writer.  Call once, early in main(). */
void mm_log_init(void);

/* Points logger @name at the file @path (absolute; NULL or "" means stderr)
 * and drops lines below @level.  Loggers sharing a path share one
 * descriptor.  Returns FALSE with @error if the file cannot be opened. */
gboolean mm_log_configure(const char *name, const char *path,
                          MmLogLevel level, GError **error);

/* Also copy every line to stderr (the foreground mode of `mailman start`). */
void mm_log_set_tee_stderr(gboolean tee);

/* Re-opens every log file (after logrotate moved them; SIGHUP). */
gboolean mm_log_reopen(GError **error);

/* Parses a Python logging level name (debug, info, warn, warning, error,
 * critical, fatal; any case).  Returns FALSE for anything else. */
gboolean mm_log_level_parse(const char *text, MmLogLevel *level_out);

/* Writes one line to logger @name. */
void mm_log(const char *name, MmLogLevel level, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

/* Escapes control characters and non-UTF-8 bytes of peer-supplied text so
 * that a line in a log is always one line.  Returns a new string. */
char *mm_log_escape(const char *text, gssize len);

#define mm_log_info(name, ...) mm_log((name), MM_LOG_INFO, __VA_ARGS__)
#define mm_log_warning(name, ...) mm_log((name), MM_LOG_WARNING, __VA_ARGS__)
#define mm_log_error(name, ...) mm_log((name), MM_LOG_ERROR, __VA_ARGS__)
#define mm_log_debug(name, ...) mm_log((name), MM_LOG_DEBUG, __VA_ARGS__)
