/* What the bounces runner does with one message: Mailman's
 * BounceRunner._dispose (runners/bounce.py) as a pure decision, so that
 * the runner and `mailman scan-bounce --list` share it and tests reach it
 * without a queue or a database.
 *
 * The one addition to Mailman: a message that is not understood and is an
 * auto-reply is AUTO_REPLY rather than UNRECOGNIZED, so vacation messages
 * are not forwarded to the list owners as unrecognised bounces.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

void
mm_bounce_verdict_free(MmBounceVerdict *verdict)
{
  if (verdict == NULL)
    return;
  g_clear_pointer(&verdict->addresses, g_ptr_array_unref);
  g_free(verdict);
}

static MmBounceVerdict *
verdict_new(MmBounceVerdictKind kind, GPtrArray *addresses)
{
  MmBounceVerdict *verdict = g_new0(MmBounceVerdict, 1);

  verdict->kind = kind;
  verdict->context = MM_BOUNCE_CONTEXT_NORMAL;
  verdict->addresses =
      addresses ? addresses : g_ptr_array_new_with_free_func(g_free);
  return verdict;
}

static GPtrArray *
copy_strings(GPtrArray *strings)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func(g_free);

  for (guint i = 0; i < strings->len; i++)
    g_ptr_array_add(copy, g_strdup(strings->pdata[i]));
  return copy;
}

/* Nothing found: an auto-reply, or something the owners should see. */
static MmBounceVerdict *
not_understood(const MmBounceMessage *message, gboolean verp,
               GPtrArray *addresses)
{
  MmBounceVerdictKind kind = mm_bounce_message_is_auto_reply(message)
                                 ? MM_BOUNCE_VERDICT_AUTO_REPLY
                                 : MM_BOUNCE_VERDICT_UNRECOGNIZED;
  MmBounceVerdict *verdict = verdict_new(kind, addresses);

  verdict->verp = verp;
  return verdict;
}

MmBounceVerdict *
mm_bounce_decide(const MmBounceVerp *verp, const MmBounceMessage *message,
                 const char *bounces_local, MmBounceProbeResolver resolve,
                 gpointer resolve_data)
{
  /* 1. Standard VERP: quick, and names the member exactly. */
  if (verp != NULL && bounces_local != NULL) {
    g_autoptr(GPtrArray) addresses =
        mm_bounce_verp_addresses(verp, message, bounces_local);
    if (addresses->len > 0) {
      g_autoptr(MmBounceScan) scan = mm_bounce_scan(message);
      MmBounceVerdict *verdict;
      /* Mailman: any temporary failure, and the VERPed bounce is ignored;
       * no permanent failure, and it is not a delivery report at all. */
      if (scan->temporary->len > 0)
        verdict = verdict_new(MM_BOUNCE_VERDICT_TEMPORARY,
                              g_steal_pointer(&addresses));
      else if (scan->permanent->len == 0)
        return not_understood(message, TRUE, g_steal_pointer(&addresses));
      else
        verdict = verdict_new(MM_BOUNCE_VERDICT_REGISTER,
                              g_steal_pointer(&addresses));
      verdict->verp = TRUE;
      verdict->detector = "verp";
      return verdict;
    }

    /* 2. A probe we sent: conclusive when the token is still pending. */
    g_autoptr(GPtrArray) tokens =
        mm_bounce_verp_probe_tokens(verp, message, bounces_local);
    GPtrArray *probed = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; resolve != NULL && i < tokens->len; i++) {
      char *address = resolve(tokens->pdata[i], resolve_data);
      if (address != NULL)
        g_ptr_array_add(probed, address);
    }
    if (probed->len > 0) {
      MmBounceVerdict *verdict = verdict_new(MM_BOUNCE_VERDICT_REGISTER, probed);
      verdict->verp = TRUE;
      verdict->context = MM_BOUNCE_CONTEXT_PROBE;
      verdict->detector = "probe";
      return verdict;
    }
    g_ptr_array_unref(probed);
  }

  /* 3. The detectors.  Mailman scores permanent failures only. */
  g_autoptr(MmBounceScan) scan = mm_bounce_scan(message);
  if (scan->permanent->len > 0) {
    MmBounceVerdict *verdict =
        verdict_new(MM_BOUNCE_VERDICT_REGISTER, copy_strings(scan->permanent));
    verdict->detector = scan->detector;
    return verdict;
  }
  if (scan->temporary->len > 0) {
    MmBounceVerdict *verdict = verdict_new(MM_BOUNCE_VERDICT_TEMPORARY,
                                           copy_strings(scan->temporary));
    verdict->detector = scan->detector;
    return verdict;
  }
  if (scan->auto_reply)
    return verdict_new(MM_BOUNCE_VERDICT_AUTO_REPLY, NULL);
  return not_understood(message, FALSE, NULL);
}
