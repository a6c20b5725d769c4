/* Error domains shared by the lower layers.
 *
 * MM_ERROR is for failures that callers branch on by code; each module with
 * richer needs declares its own domain in its own header.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#define MM_ERROR (mm_error_quark())
GQuark mm_error_quark(void);

typedef enum {
  MM_ERROR_FAILED,      /* generic, message says why */
  MM_ERROR_IO,          /* a system call failed; message has the path */
  MM_ERROR_NO_SPACE,    /* disk full or below the reserve */
  MM_ERROR_INVALID,     /* malformed input (name, value, file) */
  MM_ERROR_NOT_FOUND,   /* the thing named does not exist */
  MM_ERROR_EXISTS,      /* the thing to create exists already */
  MM_ERROR_LOCKED,      /* someone else holds the lock */
  MM_ERROR_TOO_LARGE,   /* input over a configured bound */
} MmErrorCode;

/* Fill @error from errno @saved_errno, naming @what (a path or an action).
 * Maps ENOSPC and EDQUOT to MM_ERROR_NO_SPACE, ENOENT to NOT_FOUND,
 * EEXIST to EXISTS, everything else to IO.  Always returns FALSE so that
 * callers can write `return mm_error_from_errno(...)`. */
gboolean mm_error_from_errno(GError **error, int saved_errno,
                             const char *what);
