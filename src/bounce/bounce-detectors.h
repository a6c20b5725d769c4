/* The bounce detectors, in the order they are tried (most authoritative
 * first, as flufl.bounce's _find_detectors).  Adding a detector is one
 * file, bounce-detect-NAME.c, one line here and its name in meson.build.
 *
 * This file is included with MM_BOUNCE_DETECTOR(name) defined: once for
 * the prototypes (bounce-private.h), once for the table (bounce-scan.c).
 * No include guard, on purpose.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
/* RFC 3464 delivery status notifications: standard, so first. */
MM_BOUNCE_DETECTOR(dsn)
/* Formats identified by a header or a fixed sender: no guessing. */
MM_BOUNCE_DETECTOR(exim)
MM_BOUNCE_DETECTOR(yahoo)
MM_BOUNCE_DETECTOR(aol)
MM_BOUNCE_DETECTOR(groupwise)
/* MTA text formats with a recognisable frame. */
MM_BOUNCE_DETECTOR(postfix)
MM_BOUNCE_DETECTOR(sendmail)
MM_BOUNCE_DETECTOR(qmail)
MM_BOUNCE_DETECTOR(exchange)
MM_BOUNCE_DETECTOR(domino)
/* Phrase heuristics in several languages: last, as in flufl.bounce. */
MM_BOUNCE_DETECTOR(simplematch)
MM_BOUNCE_DETECTOR(simplewarning)
