/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "base-error.h"

#include <errno.h>
#include <string.h>

G_DEFINE_QUARK(mm-error-quark, mm_error)

gboolean
mm_error_from_errno(GError **error, int saved_errno, const char *what)
{
  MmErrorCode code;

  switch (saved_errno) {
  case ENOSPC:
  case EDQUOT:
    code = MM_ERROR_NO_SPACE;
    break;
  case ENOENT:
    code = MM_ERROR_NOT_FOUND;
    break;
  case EEXIST:
    code = MM_ERROR_EXISTS;
    break;
  default:
    code = MM_ERROR_IO;
    break;
  }
  g_set_error(error, MM_ERROR, code, "%s: %s", what, g_strerror(saved_errno));
  return FALSE;
}
