/* Names that reach paths, queries and map files: list names, domains and
 * email addresses, validated and case-folded before anything uses them.
 *
 * Rules follow Mailman 3 (mailman.utilities.email / the list manager),
 * tightened where Mailman is lax in ways that would be unsafe for us:
 *   - a domain is 1..253 octets of dot-separated LDH labels (RFC 1035/5321),
 *     each 1..63 octets, not starting or ending with '-', at least two
 *     labels, lower-cased;
 *   - an address local part uses Mailman's character set
 *     [-0-9a-z!#$%&'*+./=?_`{}~], 1..64 octets, no leading, trailing or
 *     doubled dot; the whole address at most 254 octets;
 *   - a list name matches [mailman] listname_chars (a regexp character
 *     class, default "[-_.0-9a-z]", always a subset of
 *     [-_.+=!$*{}~0-9a-z]), 1..64 octets, not "." or "..", no leading dot.
 * NUL, control characters, spaces, '/' and non-ASCII are refused
 * everywhere.  Errors are MM_ERROR_INVALID with a message that quotes the
 * offending input escaped (it may be hostile).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

/* Validates @domain (@len octets, may contain NULs, which are refused).
 * Returns the folded domain (transfer full) or NULL with @error. */
char *mm_address_fold_domain(const char *domain, gssize len, GError **error);

/* Validates a list name against @listname_chars.  Returns it folded
 * (transfer full) or NULL with @error. */
char *mm_address_fold_listname(const char *name, gssize len,
                               const char *listname_chars, GError **error);

/* Validates an email address.  Returns the lower-cased address (transfer
 * full) or NULL with @error.  @local_out / @domain_out, when not NULL,
 * receive the folded parts (transfer full). */
char *mm_address_fold_email(const char *email, gssize len, char **local_out,
                            char **domain_out, GError **error);

/* Splits "Display Name <addr@example.com>" / "addr@example.com" /
 * "addr@example.com (Name)" as in the files of `mailman addmembers`.
 * Returns TRUE with @email_out (as written, not folded) and @name_out
 * (possibly "") as new strings, FALSE if no address is found. */
gboolean mm_address_parse_line(const char *line, char **name_out,
                               char **email_out);
