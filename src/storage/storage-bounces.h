/* Bounce events and the bounce state of members (Mailman's bounceevent
 * table and the member columns bounce_score, last_bounce_received,
 * last_warning_sent, total_warnings_sent).
 *
 * The storage side only: what a bounce means is decided by the bounce
 * module above, which reads and writes through these functions.  Times are
 * unix microseconds (UTC), as the bounce module computes with them; "never"
 * is MM_STORE_BOUNCE_NEVER (Mailman's None for last_bounce_received and
 * datetime.min for last_warning_sent).
 *
 * Errors are MM_STORE_ERROR as in storage.h.  Each write is its own
 * transaction, or a savepoint inside mm_store_begin(), so a caller can
 * make an event's whole outcome (state, delivery status, processed flag)
 * one transaction.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "storage.h"

#define MM_STORE_BOUNCE_NEVER G_MININT64

/* Mailman's BounceContext values (bounceevent.context). */
#define MM_STORE_BOUNCE_CONTEXT_NORMAL 1
#define MM_STORE_BOUNCE_CONTEXT_PROBE 2

/* One bounceevent row. */
typedef struct {
  gint64 id;
  char *list_id;
  char *email;           /* as recorded (the address the bounce named) */
  gint64 timestamp_usec; /* when it was recorded */
  char *message_id;      /* the bounce's Message-ID, NULL when unknown */
  int context;           /* MM_STORE_BOUNCE_CONTEXT_* */
  gboolean processed;
} MmStoreBounceEvent;

void mm_store_bounce_event_free(MmStoreBounceEvent *event);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmStoreBounceEvent, mm_store_bounce_event_free)

/* Records an unprocessed event.  @list_id is stored as given (lower-cased:
 * a list removed since still gets its event, which scoring then discards,
 * as Mailman does); @email must be valid UTF-8 without control characters
 * and at most 1 KiB (INVALID otherwise); @message_id may be NULL; @context
 * is normal or probe (INVALID otherwise).  Returns the new row id (> 0), or
 * 0 with @error. */
gint64 mm_store_bounce_event_add(MmStore *store, const char *list_id,
                                 const char *email, gint64 timestamp_usec,
                                 const char *message_id, int context,
                                 GError **error);

/* Up to @limit unprocessed events, oldest first (by id, which is the order
 * they were recorded in).  GPtrArray of MmStoreBounceEvent (transfer full,
 * with free func); NULL only with @error. */
GPtrArray *mm_store_bounce_events_unprocessed(MmStore *store, guint limit,
                                              GError **error);

/* Up to @limit events of @list_id (a list spec; the list need not exist
 * any more) and, when @email is not NULL, of that address (any case),
 * newest first, processed or not.  GPtrArray of MmStoreBounceEvent. */
GPtrArray *mm_store_bounce_events_for(MmStore *store, const char *list_id,
                                      const char *email, guint limit,
                                      GError **error);

/* Marks event @id processed if it was not: @claimed_out (may be NULL) is
 * TRUE when this call changed it, FALSE when it was processed already or
 * is gone (another process got there first).  Inside mm_store_begin() the
 * claim is undone by a rollback, so an event whose outcome could not be
 * saved is processed again later. */
gboolean mm_store_bounce_event_claim(MmStore *store, gint64 id,
                                     gboolean *claimed_out, GError **error);

/* A member's bounce information, with what the bounce module needs to act
 * on it. */
typedef struct {
  char *list_id;
  char *email;        /* the subscribed address, original case */
  char *display_name; /* the address's or its user's; may be "" */
  char *member_id;    /* 32 hex digits, Mailman's member_id */
  /* The member's own delivery status preference (0 when unset): Mailman's
   * bounce processor reads and writes member.preferences.delivery_status,
   * not the resolved value. */
  MmDeliveryStatus own_delivery_status;
  MmDeliveryStatus delivery_status; /* resolved, as MmMember */
  int bounce_score;
  gint64 last_bounce_received_usec; /* MM_STORE_BOUNCE_NEVER: none */
  gint64 last_warning_sent_usec;    /* MM_STORE_BOUNCE_NEVER: never */
  int total_warnings_sent;
} MmStoreMemberBounce;

void mm_store_member_bounce_free(MmStoreMemberBounce *member);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmStoreMemberBounce, mm_store_member_bounce_free)

/* The bounce state of @email's membership with role member in @list_id
 * (a list spec; @email in any case).  Transfer full, or NULL with
 * NOT_FOUND (no such list, or not a member), INVALID for a bad spec or
 * address. */
MmStoreMemberBounce *mm_store_member_bounce_get(MmStore *store,
                                                const char *list_id,
                                                const char *email,
                                                GError **error);

/* The member whose member_id is @member_id (any role but only members are
 * probed), or NULL with NOT_FOUND. */
MmStoreMemberBounce *mm_store_member_bounce_by_id(MmStore *store,
                                                  const char *member_id,
                                                  GError **error);

/* Writes bounce_score, last_bounce_received, last_warning_sent and
 * total_warnings_sent of @state to the membership (role member) of
 * @state->email in @state->list_id.  The delivery status is not touched
 * (mm_store_member_set_delivery_status does that).  NOT_FOUND if the
 * membership is gone. */
gboolean mm_store_member_bounce_set(MmStore *store,
                                    const MmStoreMemberBounce *state,
                                    GError **error);

/* The members (role member) of @list_id, sorted by folded email, with
 * their bounce state.  With @bouncing_only, only those with a score, a
 * bounce on record, a warning sent, or delivery disabled by bounces.
 * GPtrArray of MmStoreMemberBounce (transfer full); NOT_FOUND for an
 * unknown list. */
GPtrArray *mm_store_member_bounces(MmStore *store, const char *list_id,
                                   gboolean bouncing_only, GError **error);

/* Every membership (role member) on the site whose own delivery status is
 * by_bounces, by list-id then email: the candidates for Mailman's
 * memberships_pending_warning / memberships_pending_removal, which the
 * caller filters with each list's settings.  GPtrArray of
 * MmStoreMemberBounce (transfer full). */
GPtrArray *mm_store_member_bounces_disabled(MmStore *store, GError **error);
