/* Finding the commands in a message (Mailman's CommandFinder in
 * runners/command.py).
 *
 * Mailman reads the Subject and then the first email_commands_max_lines
 * lines of the first text/plain part, every line a command.  Real mail
 * answers a confirmation request with a quote of it and ends with a
 * signature, so besides Mailman's rules we drop quoted lines ("> ...")
 * and everything after the signature separator: otherwise every quoted
 * line would come back as "No such command", and a quoted "confirm
 * TOKEN" would be run a second time.  A body without a text/plain part
 * (HTML only) is not read at all; the reply says so.  Every line is cut
 * at MM_COMMANDS_LINE_MAX bytes and at most MM_COMMANDS_IGNORED_MAX of the
 * lines past the limit are kept for the reply, so a 10,000-line body
 * costs one pass over it and a short answer.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define MM_WITH_GMIME
#include "commands-private.h"

#include <string.h>

#include "message.h"

/* Mailman's default [mta] verp_confirm_regexp. */
#define DEFAULT_CONFIRM_REGEXP                                                \
  "^(.*<)?(?P<addr>[^+]+?)\\+(?P<cookie>[^@]+)@.*$"

static void
gmime_init_once(void)
{
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    g_mime_init();
    g_once_init_leave(&done, 1);
  }
}

void
mm_command_script_free(MmCommandScript *script)
{
  if (script == NULL)
    return;
  g_clear_pointer(&script->lines, g_ptr_array_unref);
  g_clear_pointer(&script->ignored, g_ptr_array_unref);
  g_free(script);
}

static MmCommandScript *
script_new(void)
{
  MmCommandScript *script = g_new0(MmCommandScript, 1);
  script->lines = g_ptr_array_new_with_free_func(g_free);
  script->ignored = g_ptr_array_new_with_free_func(g_free);
  return script;
}

/* @text (@len bytes) as valid UTF-8 cut at MM_COMMANDS_LINE_MAX bytes on a
 * character boundary.  Transfer full. */
static char *
line_copy(const char *text, gsize len)
{
  g_autofree char *valid = g_utf8_make_valid(text, (gssize)len);
  gsize valid_len = strlen(valid);
  if (valid_len <= MM_COMMANDS_LINE_MAX)
    return g_steal_pointer(&valid);
  const char *end = valid + MM_COMMANDS_LINE_MAX;
  /* Back up to the start of the character the cut falls in. */
  while (end > valid && ((guchar)*end & 0xc0) == 0x80)
    end--;
  return g_strndup(valid, (gsize)(end - valid));
}

char **
mm_commands_line_split(const char *line)
{
  GPtrArray *words = g_ptr_array_new();
  GString *word = g_string_new(NULL);
  for (const char *p = line;; p++) {
    guchar c = (guchar)*p;
    if (c == '\0' || g_ascii_isspace(c)) {
      if (word->len > 0) {
        g_ptr_array_add(words, g_strdup(word->str));
        g_string_truncate(word, 0);
      }
      if (c == '\0')
        break;
      continue;
    }
    /* Commands are ASCII: anything else is dropped, as Mailman's
     * decode('ascii', 'ignore') does; control characters too. */
    if (c >= 0x80 || c < 0x20 || c == 0x7f)
      continue;
    g_string_append_c(word, (char)g_ascii_tolower(c));
  }
  g_string_free(word, TRUE);
  g_ptr_array_add(words, NULL);
  return (char **)g_ptr_array_free(words, FALSE);
}

/* The subject with non-ASCII characters dropped (Mailman encodes it to
 * us-ascii with 'ignore'). */
static char *
ascii_only(const char *text)
{
  GString *out = g_string_new(NULL);
  for (const char *p = text; p != NULL && *p != '\0' &&
                             out->len < MM_COMMANDS_LINE_MAX;
       p++)
    if ((guchar)*p < 0x80)
      g_string_append_c(out, *p == '\t' ? ' ' : *p);
  return g_string_free(out, FALSE);
}

/* ---- Finding the text/plain part ----------------------------------------- */

typedef struct {
  GMimeTextPart *plain; /* the first text/plain part (borrowed) */
  guint others;         /* leaf parts that are neither it nor text/html */
  guint html;
} PartSearch;

static void
search_parts(GMimeObject *object, PartSearch *search, guint depth)
{
  /* MIME nesting deeper than this is an attack, not a command message. */
  if (object == NULL || depth > 32)
    return;
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart *multipart = GMIME_MULTIPART(object);
    int n = g_mime_multipart_get_count(multipart);
    for (int i = 0; i < n; i++)
      search_parts(g_mime_multipart_get_part(multipart, i), search,
                   depth + 1);
    return;
  }
  GMimeContentType *type = g_mime_object_get_content_type(object);
  if (GMIME_IS_TEXT_PART(object) &&
      (type == NULL || g_mime_content_type_is_type(type, "text", "plain"))) {
    if (search->plain == NULL) {
      search->plain = GMIME_TEXT_PART(object);
      return;
    }
  } else if (type != NULL && g_mime_content_type_is_type(type, "text",
                                                         "html")) {
    search->html++;
    return;
  }
  /* Attached messages are not read: their lines are not the sender's
   * commands. */
  search->others++;
}

/* The decoded text of @part as UTF-8 (transfer full). */
static char *
part_text(GMimeTextPart *part)
{
  char *text = g_mime_text_part_get_text(part);
  if (text != NULL) {
    char *valid = g_utf8_make_valid(text, -1);
    g_free(text);
    return valid;
  }
  /* An unknown charset: the transfer-decoded bytes, made valid. */
  GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(part));
  if (content == NULL)
    return g_strdup("");
  g_autoptr(GMimeStream) stream = g_mime_stream_mem_new();
  g_mime_data_wrapper_write_to_stream(content, stream);
  GByteArray *bytes =
      g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
  return g_utf8_make_valid((const char *)bytes->data, (gssize)bytes->len);
}

static gboolean
is_blank(const char *line, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isspace(line[i]))
      return FALSE;
  return TRUE;
}

/* "-- " (RFC 3676 4.3), and the "--" many programs leave after trimming. */
static gboolean
is_signature(const char *line, gsize len)
{
  return (len == 3 && memcmp(line, "-- ", 3) == 0) ||
         (len == 2 && memcmp(line, "--", 2) == 0);
}

/* The line a mail program writes above a quote ("On Monday, Anne
 * wrote:"). */
static gboolean
is_attribution(const char *line, gsize len)
{
  while (len > 0 && g_ascii_isspace(line[len - 1]))
    len--;
  return len >= 6 && memcmp(line + len - 6, "wrote:", 6) == 0;
}

static gboolean
is_quoted(const char *line, gsize len)
{
  gsize i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  return i < len && line[i] == '>';
}

/* Walks @text line by line (LF, CRLF or CR) without splitting it all. */
static void
read_body(MmCommandScript *script, const char *text, guint max_lines)
{
  guint taken = 0;
  gboolean in_signature = FALSE;
  const char *p = text;
  while (*p != '\0') {
    gsize len = strcspn(p, "\r\n");
    const char *line = p;
    p += len;
    if (*p == '\r' && p[1] == '\n')
      p += 2;
    else if (*p != '\0')
      p++;

    if (in_signature)
      continue;
    if (is_signature(line, len)) {
      in_signature = TRUE;
      script->dropped_signature = TRUE;
      continue;
    }
    gboolean within = taken < max_lines;
    if (within)
      taken++;
    if (is_blank(line, len) || is_attribution(line, len))
      continue;
    if (is_quoted(line, len)) {
      if (within)
        script->dropped_quoted++;
      continue;
    }
    if (within) {
      g_ptr_array_add(script->lines, line_copy(line, len));
    } else {
      script->ignored_count++;
      if (script->ignored->len < MM_COMMANDS_IGNORED_MAX)
        g_ptr_array_add(script->ignored, line_copy(line, len));
    }
  }
}

/* "confirm TOKEN" from the To header, as Mailman matches
 * verp_confirm_regexp against it; NULL when it does not match. */
static char *
confirm_from_to(GBytes *raw, const char *confirm_regexp)
{
  g_autofree char *to = NULL;
  if (!mm_message_header_get(raw, "To", &to) || to == NULL)
    return NULL;
  if (confirm_regexp == NULL || confirm_regexp[0] == '\0')
    confirm_regexp = DEFAULT_CONFIRM_REGEXP;
  g_autoptr(GRegex) regex =
      g_regex_new(confirm_regexp, G_REGEX_DOTALL, G_REGEX_MATCH_ANCHORED,
                  NULL);
  if (regex == NULL)
    regex = g_regex_new(DEFAULT_CONFIRM_REGEXP, G_REGEX_DOTALL,
                        G_REGEX_MATCH_ANCHORED, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  if (regex == NULL || !g_regex_match(regex, to, 0, &match))
    return NULL;
  g_autofree char *cookie = g_match_info_fetch_named(match, "cookie");
  if (cookie == NULL || cookie[0] == '\0')
    return NULL;
  g_autofree char *line = g_strconcat("confirm ", cookie, NULL);
  return line_copy(line, strlen(line));
}

MmCommandScript *
mm_commands_script_parse(GBytes *raw, const char *subaddress,
                         const char *confirm_regexp, guint max_lines)
{
  MmCommandScript *script = script_new();
  if (g_strcmp0(subaddress, "join") == 0) {
    g_ptr_array_add(script->lines, g_strdup("join"));
    script->implicit = TRUE;
    return script;
  }
  if (g_strcmp0(subaddress, "leave") == 0) {
    g_ptr_array_add(script->lines, g_strdup("leave"));
    script->implicit = TRUE;
    return script;
  }
  if (g_strcmp0(subaddress, "confirm") == 0) {
    char *line = confirm_from_to(raw, confirm_regexp);
    if (line != NULL) {
      g_ptr_array_add(script->lines, line);
      script->implicit = TRUE;
      return script;
    }
  }

  gmime_init_once();
  gsize len;
  const char *data = g_bytes_get_data(raw, &len);
  g_autoptr(GMimeStream) stream =
      g_mime_stream_mem_new_with_buffer(data != NULL ? data : "", len);
  g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(stream);
  g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
  g_autoptr(GMimeMessage) message =
      g_mime_parser_construct_message(parser, NULL);

  const char *subject =
      message != NULL ? g_mime_message_get_subject(message) : NULL;
  g_autofree char *raw_subject = NULL;
  if (message == NULL && mm_message_header_get(raw, "Subject", &raw_subject))
    subject = raw_subject;
  g_autofree char *line = ascii_only(subject);
  g_strstrip(line);
  if (line[0] != '\0')
    g_ptr_array_add(script->lines, g_steal_pointer(&line));

  /* Nothing GMime can read as a message has no body to look at. */
  if (message == NULL)
    return script;
  PartSearch search = {0};
  search_parts(g_mime_message_get_mime_part(message), &search, 0);
  script->skipped_parts = search.others > 0;
  if (search.plain == NULL) {
    script->no_text_part = TRUE;
    return script;
  }
  g_autofree char *text = part_text(search.plain);
  read_body(script, text, max_lines);
  return script;
}
