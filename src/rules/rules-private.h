/* Internals shared by the files of the rules module (and its tests).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#define MM_WITH_GMIME
#define MM_WITH_JANSSON
#include "mm-autocleanups.h"

#include "rules.h"

#include "base-log.h"

/* Every rule, declared from rules-list.h: `extern const MmRule
 * mm_rule_max_size;` and so on. */
#define MM_RULE(ident) extern const MmRule mm_rule_##ident;
#include "rules-list.h"
#undef MM_RULE

/* A JSON string of @text, made valid UTF-8 first (header values may hold
 * anything).  Transfer full. */
json_t *mm_rules_json_string(const char *text);

/* The list's setting @name as text ("" when unknown).  Borrowed. */
const char *mm_rules_list_setting(MmPost *post, const char *name);
/* A boolean list setting ("True"/"False"). */
gboolean mm_rules_list_flag(MmPost *post, const char *name);
/* An integer list setting (0 when unset or malformed). */
gint64 mm_rules_list_int(MmPost *post, const char *name);

/* The first text/plain part of the message in depth-first order
 * (Python's typed_subpart_iterator(msg, 'text', 'plain')), or NULL.
 * Borrowed from the post's parse. */
GMimePart *mm_rules_first_text_plain(MmPost *post);
/* The part's content as the transfer encoding left it (Python's
 * get_payload() without decode), at most 16 MiB.  Transfer full. */
char *mm_rules_part_raw_payload(GMimePart *part);
/* The part's content decoded and converted to UTF-8 from its charset
 * (unknown charsets read as ASCII with replacement characters), as
 * Python's get_payload(decode=True).decode(charset, 'replace').
 * Transfer full. */
char *mm_rules_part_text(GMimePart *part);

/* Mailman's reason for a moderated list setting: wraps nothing, just
 * records @reason for @sender (the post's sender when NULL). */
void mm_rules_hit(MmPost *post, const char *sender, const char *reason);

/* Whether @sender is banned from the post's list (list and global bans).
 * FALSE with @error on a database failure. */
gboolean mm_rules_sender_banned(MmPost *post, const char *sender,
                                gboolean *banned_out, GError **error);
/* Whether any sender is banned; @which_out (may be NULL) gets the first
 * banned one (borrowed). */
gboolean mm_rules_any_sender_banned(MmPost *post, gboolean *banned_out,
                                    const char **which_out, GError **error);
/* Wraps a storage error as MM_RULES_ERROR_FAILED naming @what. */
gboolean mm_rules_fail(GError **error, GError *cause, const char *what);

/* Mailman's _find_sender_member(): the member behind any of the post's
 * senders (transfer full), or NULL in @member_out when there is none.
 * FALSE with @error on a database failure. */
gboolean mm_rules_find_sender_member(MmPost *post, MmMember **member_out,
                                     GError **error);
/* Mailman's name of @action ("hold", ...; "" for MM_ACTION_UNSET). */
const char *mm_rules_action_name(MmAction action);
