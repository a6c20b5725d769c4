/* DMARC policy discovery (RFC 7489 6.6.3) the way Mailman 3 does it
 * (mailman/rules/dmarc.py): the one implementation behind the
 * dmarc-mitigation rule (moderation) and the dmarc handler (From munging
 * and wrapping).
 *
 * The policy of mail From a domain is the one at _dmarc.<domain>; when that
 * name has no v=DMARC1 record, the one at _dmarc.<organizational domain>
 * (the public suffix list's registrable domain), whose sp= wins over its
 * p=.  Several v=DMARC1 records at one name count as no policy (logged).
 * A lookup that fails (timeout, SERVFAIL) counts as reject, as in Mailman:
 * a list errs on the side of mitigation.
 *
 * TXT lookups go through a resolver interface so that tests answer from a
 * fixture file; the system resolver is GResolver with a time limit per
 * lookup (GLib 2.74 has none of its own: the query runs in GLib's resolver
 * thread and a late answer is abandoned).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

/* Answers TXT questions: the TXT strings of @name (each record's strings
 * joined), NULL-terminated (transfer full); an empty vector for "no such
 * name / no TXT record"; NULL with @error for a failure. */
typedef struct {
  char **(*lookup)(gpointer user_data, const char *name, GError **error);
  gpointer user_data;
} MmDmarcResolver;

/* The system resolver waiting at most 5 s per lookup (Mailman's [dmarc]
 * resolver_lifetime default).  Static; never NULL. */
const MmDmarcResolver *mm_dmarc_resolver_system(void);

/* The system resolver waiting at most @lifetime_usec per lookup (0 or less:
 * 5 s).  Free with mm_dmarc_resolver_free(). */
MmDmarcResolver *mm_dmarc_resolver_new_system(gint64 lifetime_usec);

/* A resolver answering from a file of lines "NAME TXT-TEXT" (one record a
 * line, NAME compared case-insensitively; several lines make several
 * records; "NAME !" makes NAME fail like a timeout; '#' starts a comment;
 * at most 1 MiB).  NULL with @error (MM_ERROR) when it cannot be read. */
MmDmarcResolver *mm_dmarc_resolver_new_from_file(const char *path,
                                                 GError **error);

/* The resolver a runner uses: the fixture file named by the environment
 * variable MAILMAN_TEST_DNS_FIXTURE when it is set (test sites only; a
 * file that cannot be read is logged and ignored), else the system
 * resolver waiting at most @lifetime_usec ([dmarc] resolver_lifetime).
 * Free with mm_dmarc_resolver_free(). */
MmDmarcResolver *mm_dmarc_resolver_for_site(gint64 lifetime_usec);

void mm_dmarc_resolver_free(MmDmarcResolver *resolver);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmDmarcResolver, mm_dmarc_resolver_free)

/* Where the public suffix list is read from when the caller names none:
 * Debian's publicsuffix package. */
#define MM_DMARC_PSL_SYSTEM_PATH "/usr/share/publicsuffix/public_suffix_list.dat"

/* The organizational domain of @domain (Mailman's
 * get_organizational_domain()): the longest matching public suffix rule
 * (wildcards and exceptions as the list defines them) plus one label.
 * With no readable list at @psl_path (NULL: the system path), the last
 * two labels.  The list is parsed once per process and path.  Lower-case,
 * transfer full. */
char *mm_dmarc_organizational_domain(const char *domain, const char *psl_path);

typedef enum {
  MM_DMARC_NONE,       /* no record, p=none, or an unusable record */
  MM_DMARC_QUARANTINE, /* p=quarantine (or sp= at the organizational name) */
  MM_DMARC_REJECT,     /* p=reject, or a failed lookup */
} MmDmarcPolicy;

/* What the lookup found, for the callers' log lines. */
typedef struct {
  char *name;   /* the DNS name the policy came from, or NULL */
  char *record; /* the v=DMARC1 record, or NULL (also for a failed lookup) */
  gboolean failed; /* a lookup failed: the policy is REJECT by rule */
} MmDmarcFinding;

void mm_dmarc_finding_clear(MmDmarcFinding *finding);

/* The policy that applies to mail From @domain (see above); @resolver NULL
 * means the system resolver, @psl_path as for
 * mm_dmarc_organizational_domain().  Fills @finding (may be NULL; clear it
 * with mm_dmarc_finding_clear()).  Lookup failures and duplicate records
 * are logged to "error". */
MmDmarcPolicy mm_dmarc_policy_lookup(const MmDmarcResolver *resolver,
                                     const char *domain, const char *psl_path,
                                     MmDmarcFinding *finding);
