/* cleanse-dkim (mailman/handlers/cleanse_dkim.py).
 *
 * With [mta] remove_dkim_headers, the signatures our changes are about to
 * break go: DomainKey-Signature, DKIM-Signature and
 * Authentication-Results.  The MTA may sign the result afresh.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

MmHandlerResult
mm_handlers_cleanse_dkim(MmHandlerContext *ctx, GError **error)
{
  (void)error;
  if (!mm_config_get_bool(ctx->config, "mta", "remove_dkim_headers"))
    return MM_HANDLER_CONTINUE;
  mm_handlers_header_remove(ctx->message, "DomainKey-Signature");
  mm_handlers_header_remove(ctx->message, "DKIM-Signature");
  mm_handlers_header_remove(ctx->message, "Authentication-Results");
  return MM_HANDLER_CONTINUE;
}
