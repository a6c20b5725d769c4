/* Validation and case-folding of list names, domains and email addresses.
 *
 * Owns the character sets and length limits documented in base-address.h;
 * every name that later reaches a path, an SQL parameter or a map file went
 * through one of these functions.  It deliberately does not look anything up
 * (does the domain exist?) and does not accept what Mailman would refuse:
 * no quoted local parts, no IDN/EAI, no address literals.
 *
 * Invariant: a non-NULL return is pure printable ASCII, lower-case, within
 * the documented length, and free of '/', spaces and control characters.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "base-address.h"
#include "base-error.h"
#include "base-log.h"

#include <string.h>

/* RFC 5321 4.5.3.1: domain 255 octets on the wire, 253 as text; RFC 1035
 * label 63; local part 64; a path of 256 including the angle brackets, so
 * 254 for the address itself. */
#define DOMAIN_MAX_LEN 253
#define LABEL_MAX_LEN 63
#define LOCAL_MAX_LEN 64
#define EMAIL_MAX_LEN 254
#define LISTNAME_MAX_LEN 64

/* How much of a hostile input an error message quotes. */
#define QUOTE_MAX_LEN 64

/* Mailman's maximal list-name set (mailman.app.lifecycle); listname_chars
 * may only narrow it. */
#define LISTNAME_MAX_SET "-_.+=!$*{}~0123456789abcdefghijklmnopqrstuvwxyz"
#define LISTNAME_DEFAULT_CLASS "[-_.0-9a-z]"

/* Mailman's local-part set (mailman.email.validate) without '@'. */
#define LOCAL_SET "-0123456789abcdefghijklmnopqrstuvwxyz!#$%&'*+./=?_`{}~"

/* The input quoted for an error message: escaped (it may contain NULs,
 * newlines or terminal escapes) and shortened. */
static char *
quote_input(const char *text, gsize len)
{
  gsize shown = MIN(len, (gsize)QUOTE_MAX_LEN);
  g_autofree char *escaped = mm_log_escape(text, (gssize)shown);
  return g_strdup_printf("\"%s\"%s", escaped, shown < len ? "..." : "");
}

static gboolean
fail(GError **error, const char *what, const char *text, gsize len,
     const char *why)
{
  g_autofree char *quoted = quote_input(text, len);
  g_set_error(error, MM_ERROR, MM_ERROR_INVALID, "Invalid %s %s: %s", what,
              quoted, why);
  return FALSE;
}

/* The reason a byte is refused everywhere, or NULL when it may be judged by
 * the caller's own character set. */
static const char *
refused_byte(guchar c)
{
  if (c == '\0')
    return "it contains a NUL byte";
  if (c == '\n' || c == '\r')
    return "it contains a line break";
  if (c < 0x20 || c == 0x7f)
    return "it contains a control character";
  if (c == ' ')
    return "it contains a space";
  if (c == '/')
    return "it contains '/'";
  if (c >= 0x80)
    return "it contains a non-ASCII character";
  return NULL;
}

/* Checks @domain (already folded, @len octets) as LDH labels; @what and
 * @orig/@orig_len name the input in the error. */
static gboolean
check_domain(const char *domain, gsize len, const char *what, const char *orig,
             gsize orig_len, GError **error)
{
  if (len == 0)
    return fail(error, what, orig, orig_len, "the domain is empty");
  if (len > DOMAIN_MAX_LEN)
    return fail(error, what, orig, orig_len, "the domain is too long");

  guint labels = 0;
  gsize start = 0;
  for (gsize i = 0; i <= len; i++) {
    if (i < len && domain[i] != '.') {
      char c = domain[i];
      if (!(g_ascii_isdigit(c) || (c >= 'a' && c <= 'z') || c == '-'))
        return fail(error, what, orig, orig_len,
                    "a domain may only contain letters, digits, '-' and '.'");
      continue;
    }
    gsize label_len = i - start;
    if (label_len == 0)
      return fail(error, what, orig, orig_len, "the domain has an empty label");
    if (label_len > LABEL_MAX_LEN)
      return fail(error, what, orig, orig_len,
                  "a domain label is longer than 63 characters");
    if (domain[start] == '-' || domain[i - 1] == '-')
      return fail(error, what, orig, orig_len,
                  "a domain label starts or ends with '-'");
    labels++;
    start = i + 1;
  }
  /* Mailman refuses unqualified domains ("localhost"): mail to a list must
   * be routable by the MTA under a real name. */
  if (labels < 2)
    return fail(error, what, orig, orig_len,
                "the domain needs at least two labels");
  return TRUE;
}

/* Copies @text lower-cased after refusing the bytes that are never allowed.
 * NULL with @error otherwise. */
static char *
fold_checked(const char *what, const char *text, gsize len, GError **error)
{
  for (gsize i = 0; i < len; i++) {
    const char *why = refused_byte((guchar)text[i]);
    if (why != NULL) {
      fail(error, what, text, len, why);
      return NULL;
    }
  }
  return g_ascii_strdown(text, (gssize)len);
}

static gsize
input_len(const char *text, gssize len)
{
  return len < 0 ? strlen(text) : (gsize)len;
}

char *
mm_address_fold_domain(const char *domain, gssize len, GError **error)
{
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  if (domain == NULL) {
    g_set_error_literal(error, MM_ERROR, MM_ERROR_INVALID, "No domain given");
    return NULL;
  }
  gsize n = input_len(domain, len);
  if (n > DOMAIN_MAX_LEN) {
    fail(error, "domain", domain, n, "it is longer than 253 characters");
    return NULL;
  }
  g_autofree char *folded = fold_checked("domain", domain, n, error);
  if (folded == NULL)
    return NULL;
  if (!check_domain(folded, n, "domain", domain, n, error))
    return NULL;
  return g_steal_pointer(&folded);
}

char *
mm_address_fold_listname(const char *name, gssize len,
                         const char *listname_chars, GError **error)
{
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  if (name == NULL) {
    g_set_error_literal(error, MM_ERROR, MM_ERROR_INVALID,
                        "No list name given");
    return NULL;
  }
  gsize n = input_len(name, len);
  if (n == 0) {
    fail(error, "list name", name, n, "it is empty");
    return NULL;
  }
  if (n > LISTNAME_MAX_LEN) {
    fail(error, "list name", name, n, "it is longer than 64 characters");
    return NULL;
  }
  g_autofree char *folded = fold_checked("list name", name, n, error);
  if (folded == NULL)
    return NULL;
  /* The maximal set first, whatever the site configured: a careless
   * listname_chars (say "[^ ]" or one that closes our group) must not let a
   * path separator or a shell metacharacter through. */
  for (gsize i = 0; i < n; i++) {
    if (strchr(LISTNAME_MAX_SET, folded[i]) == NULL) {
      g_autofree char *bad = mm_log_escape(folded + i, 1);
      g_autofree char *why =
          g_strdup_printf("'%s' is not allowed in a list name", bad);
      fail(error, "list name", name, n, why);
      return NULL;
    }
  }
  /* "." and ".." would name directories above the list's data directory;
   * a leading dot would make a hidden one. */
  if (folded[0] == '.') {
    fail(error, "list name", name, n, "it starts with '.'");
    return NULL;
  }

  const char *cls = (listname_chars != NULL && listname_chars[0] != '\0')
                        ? listname_chars
                        : LISTNAME_DEFAULT_CLASS;
  g_autofree char *pattern = g_strdup_printf("^(?:%s)+$", cls);
  g_autoptr(GError) regex_error = NULL;
  /* DOLLAR_ENDONLY: PCRE's '$' would otherwise also match before a final
   * newline (which the byte check above refuses anyway). */
  g_autoptr(GRegex) regex = g_regex_new(
      pattern, G_REGEX_CASELESS | G_REGEX_DOLLAR_ENDONLY, 0, &regex_error);
  if (regex == NULL) {
    g_autofree char *quoted = quote_input(cls, strlen(cls));
    /* GRegex's message may span lines and quote the pattern. */
    g_autofree char *why = mm_log_escape(regex_error->message, -1);
    g_set_error(error, MM_ERROR, MM_ERROR_INVALID,
                "The listname_chars setting %s is not a valid regular "
                "expression: %s",
                quoted, why);
    return NULL;
  }
  if (!g_regex_match(regex, folded, 0, NULL)) {
    g_autofree char *why = g_strdup_printf(
        "it contains characters outside listname_chars %s", cls);
    fail(error, "list name", name, n, why);
    return NULL;
  }
  return g_steal_pointer(&folded);
}

char *
mm_address_fold_email(const char *email, gssize len, char **local_out,
                      char **domain_out, GError **error)
{
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  if (local_out != NULL)
    *local_out = NULL;
  if (domain_out != NULL)
    *domain_out = NULL;
  if (email == NULL) {
    g_set_error_literal(error, MM_ERROR, MM_ERROR_INVALID,
                        "No email address given");
    return NULL;
  }
  gsize n = input_len(email, len);
  if (n == 0) {
    fail(error, "email address", email, n, "it is empty");
    return NULL;
  }
  if (n > EMAIL_MAX_LEN) {
    fail(error, "email address", email, n,
         "it is longer than 254 characters");
    return NULL;
  }
  g_autofree char *folded = fold_checked("email address", email, n, error);
  if (folded == NULL)
    return NULL;

  const char *at = strchr(folded, '@');
  if (at == NULL) {
    fail(error, "email address", email, n, "it has no '@'");
    return NULL;
  }
  if (strchr(at + 1, '@') != NULL) {
    fail(error, "email address", email, n, "it has more than one '@'");
    return NULL;
  }
  gsize local_len = (gsize)(at - folded);
  if (local_len == 0) {
    fail(error, "email address", email, n, "the local part is empty");
    return NULL;
  }
  if (local_len > LOCAL_MAX_LEN) {
    fail(error, "email address", email, n,
         "the local part is longer than 64 characters");
    return NULL;
  }
  for (gsize i = 0; i < local_len; i++) {
    if (strchr(LOCAL_SET, folded[i]) == NULL) {
      g_autofree char *bad = mm_log_escape(folded + i, 1);
      g_autofree char *why =
          g_strdup_printf("'%s' is not allowed in the local part", bad);
      fail(error, "email address", email, n, why);
      return NULL;
    }
  }
  /* RFC 5322 dot-atom: no leading, trailing or doubled dot. */
  if (folded[0] == '.' || folded[local_len - 1] == '.' ||
      g_strstr_len(folded, (gssize)local_len, "..") != NULL) {
    fail(error, "email address", email, n,
         "the local part has a leading, trailing or doubled '.'");
    return NULL;
  }
  const char *domain = at + 1;
  if (!check_domain(domain, n - local_len - 1, "email address", email, n,
                    error))
    return NULL;

  if (local_out != NULL)
    *local_out = g_strndup(folded, local_len);
  if (domain_out != NULL)
    *domain_out = g_strdup(domain);
  return g_steal_pointer(&folded);
}

/* ---- Address lines ----------------------------------------------------- */

static gboolean
is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
         c == '\v';
}

/* A new string of [start, end) without surrounding white space. */
static char *
strip_range(const char *start, const char *end)
{
  while (start < end && is_space(*start))
    start++;
  while (end > start && is_space(end[-1]))
    end--;
  return g_strndup(start, (gsize)(end - start));
}

/* Something that looks like an address: non-empty on both sides of an '@',
 * no white space, no angle brackets.  Full validation is the caller's
 * (mm_address_fold_email); this only decides whether the line has one. */
static gboolean
looks_like_address(const char *text)
{
  const char *at = strrchr(text, '@');
  if (at == NULL || at == text || at[1] == '\0')
    return FALSE;
  for (const char *p = text; *p != '\0'; p++) {
    if (is_space(*p) || *p == '<' || *p == '>' || *p == '"')
      return FALSE;
  }
  return TRUE;
}

/* Removes one level of double quotes ("Last, First" -> Last, First) and
 * the backslash escapes inside them. */
static char *
unquote_name(char *name)
{
  gsize len = strlen(name);
  if (len < 2 || name[0] != '"' || name[len - 1] != '"')
    return name;
  GString *out = g_string_sized_new(len);
  for (gsize i = 1; i + 1 < len; i++) {
    if (name[i] == '\\' && i + 2 < len)
      i++;
    g_string_append_c(out, name[i]);
  }
  g_free(name);
  return g_string_free(out, FALSE);
}

gboolean
mm_address_parse_line(const char *line, char **name_out, char **email_out)
{
  g_return_val_if_fail(line != NULL, FALSE);
  g_return_val_if_fail(name_out != NULL && email_out != NULL, FALSE);
  *name_out = NULL;
  *email_out = NULL;

  g_autofree char *text = strip_range(line, line + strlen(line));
  /* Blank lines and '#' comments carry no address (as in the files that
   * `mailman addmembers` reads). */
  if (text[0] == '\0' || text[0] == '#')
    return FALSE;

  /* Find the first '<' outside a quoted string, so that a display name
   * like "A <b> C" <a@b> is not mistaken for the address. */
  const char *open = NULL;
  gboolean quoted = FALSE;
  for (const char *p = text; *p != '\0'; p++) {
    if (quoted && *p == '\\' && p[1] != '\0') {
      p++;
      continue;
    }
    if (*p == '"')
      quoted = !quoted;
    else if (!quoted && *p == '<') {
      open = p;
      break;
    }
  }

  g_autofree char *name = NULL;
  g_autofree char *email = NULL;
  if (open != NULL) {
    /* Name <addr@example.com> */
    const char *close = strchr(open + 1, '>');
    if (close == NULL)
      return FALSE;
    for (const char *p = close + 1; *p != '\0'; p++) {
      if (!is_space(*p))
        return FALSE;
    }
    email = strip_range(open + 1, close);
    name = unquote_name(strip_range(text, open));
  } else {
    gsize len = strlen(text);
    const char *paren = strchr(text, '(');
    if (paren != NULL && text[len - 1] == ')') {
      /* addr@example.com (Name) */
      email = strip_range(text, paren);
      name = strip_range(paren + 1, text + len - 1);
    } else {
      email = g_strdup(text);
      name = g_strdup("");
    }
  }
  if (!looks_like_address(email))
    return FALSE;
  *name_out = g_steal_pointer(&name);
  *email_out = g_steal_pointer(&email);
  return TRUE;
}
