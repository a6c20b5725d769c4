/* The rules this build knows: one MM_RULE(identifier) line per rule, each
 * defined in rules-<name>.c as `const MmRule mm_rule_<identifier>`.  The
 * registry (rules.c) and the declarations (rules-private.h) both expand
 * this list, so adding a rule is its file and one line here.
 *
 * No include guard: it is meant to be included with MM_RULE defined.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
MM_RULE(administrivia)
MM_RULE(any)
MM_RULE(approved)
MM_RULE(banned_address)
MM_RULE(digests)
MM_RULE(dmarc_mitigation)
MM_RULE(emergency)
MM_RULE(implicit_dest)
MM_RULE(loop)
MM_RULE(max_recipients)
MM_RULE(max_size)
MM_RULE(member_moderation)
MM_RULE(news_moderation)
MM_RULE(no_senders)
MM_RULE(no_subject)
MM_RULE(nonmember_moderation)
MM_RULE(suspicious_header)
MM_RULE(truth)
