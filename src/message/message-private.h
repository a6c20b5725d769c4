/* Internals of the message module: the header-block scanner shared by the
 * intake edits and the defect check.  No other module includes this.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "message.h"

typedef enum {
  MM_HEADER_FIELD_NAMED,       /* "Name: value" and its continuation lines */
  MM_HEADER_FIELD_EMPTY_NAME,  /* ": value" (a defect) */
  MM_HEADER_FIELD_UNIX_FROM,   /* "From ..." as the first line */
  MM_HEADER_FIELD_MISPLACED_FROM, /* "From ..." anywhere else (a defect) */
  MM_HEADER_FIELD_ORPHAN,      /* continuation lines with no field (defect) */
} MmHeaderFieldKind;

typedef struct {
  MmHeaderFieldKind kind;
  gsize start;    /* offset of the field's first byte */
  gsize end;      /* offset just after its last line ending (or the data) */
  gsize name_len; /* NAMED: bytes before the ':' */
} MmHeaderField;

/* A scanned header block.  Borrows the bytes it was made from. */
typedef struct {
  const char *data;
  gsize len;
  GArray *fields;       /* MmHeaderField, in order */
  gsize headers_end;    /* offset of the line that ended the block, or len */
  gboolean ended_by_garbage; /* that line is not empty and not a field */
  gsize garbage_line;   /* 1-based line number of that line */
  gboolean crlf;        /* the first line ends in CRLF */
} MmHeaderBlock;

void mm_header_block_scan(MmHeaderBlock *block, const char *data, gsize len);
void mm_header_block_clear(MmHeaderBlock *block);

/* The first NAMED field called @name (ASCII case-insensitive), or NULL. */
const MmHeaderField *mm_header_block_find(const MmHeaderBlock *block,
                                          const char *name);

/* The value unfolded and trimmed (see mm_message_header_get()). */
char *mm_header_field_value_unfolded(const MmHeaderBlock *block,
                                     const MmHeaderField *field);

/* The value as Python's compat32 policy returns it: what follows the colon,
 * leading spaces and tabs removed, the continuation lines kept verbatim,
 * trailing CR and LF characters removed.  May contain NUL bytes; the length
 * is in @len_out. */
char *mm_header_field_value_raw(const MmHeaderBlock *block,
                                const MmHeaderField *field, gsize *len_out);
