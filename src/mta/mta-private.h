/* Internals shared by the files of src/mta/ only.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "mta.h"

/* One list as the map builders see it.  Every string is borrowed from the
 * MmList / MmDomain arrays the entry was made from. */
typedef struct {
  const char *list_name;
  const char *mail_host;
  const char *effective; /* alias domain if the domain has one, else mail_host */
  gboolean has_alias;
} MmMtaEntry;

typedef enum {
  MM_MTA_ORDER_EFFECTIVE, /* effective domain, then list name (postfix_lmtp) */
  MM_MTA_ORDER_MAIL_HOST, /* mail_host, then list name (postfix_vmap, ours) */
} MmMtaOrder;

void mm_mta_entry_free(MmMtaEntry *entry);

/* Entries for @lists (GPtrArray of MmList) with @domains (of MmDomain, may
 * be NULL), sorted by @order.  Transfer full; borrows from the inputs. */
GPtrArray *mm_mta_entries(const GPtrArray *lists, const GPtrArray *domains,
                          MmMtaOrder order);

/* The mail_host an accepted domain name stands for.  Borrowed. */
const char *mm_mta_real_domain(const GPtrArray *lists,
                               const GPtrArray *domains, const char *name);

/* TRUE when @lmtp_host names a Unix socket the way the LMTP server takes
 * it ("unix:/path", or any value starting with "/"); its port is then
 * meaningless. */
gboolean mm_mta_lmtp_host_is_unix(const char *lmtp_host);

/* strcmp for g_ptr_array_sort over char*. */
int mm_mta_compare_strings(gconstpointer a, gconstpointer b);

/* The seven-line header comment with @now in UTC; @last_line is the
 * seventh line including its newline ("    \n" or "\n"). */
void mm_mta_append_header(GString *out, GDateTime *now,
                          const char *last_line);

/* Shorter limits than the defaults, for tests of the timeouts. */
void mm_mta_socketmap_set_timeouts(MmMtaSocketmap *server, guint idle_sec,
                                   guint request_sec);
