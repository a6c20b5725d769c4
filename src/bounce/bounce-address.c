/* Addresses found in bounces: from whatever a report wrote to one
 * canonical spelling, or nothing.
 *
 * Reports write addresses in every way: "<a@b>", "rfc822;a@b", "'a@b'",
 * "a@b." at the end of a sentence, IDN domains in UTF-8 or ACE, quoted
 * local parts.  The canonical form is local@domain with the local part as
 * written (a dot-atom, or quoted when it is not one, RFC 5322 3.4.1) and
 * the domain lower-cased in ASCII (IDNA), since member addresses are
 * stored that way.  Anything that is not plausibly an address is refused:
 * a detector that picks up a word with an '@' in prose must not make a
 * bounce event of it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bounce-private.h"

#include <string.h>

#define LOCAL_MAX 64     /* RFC 5321 4.5.3.1.1 */
#define DOMAIN_MAX 253   /* RFC 1035 */
#define ADDRESS_MAX 254  /* RFC 5321 4.5.3.1.3 with the path's brackets */

/* RFC 5322 atext, plus any non-ASCII byte (RFC 6532 UTF-8 local parts). */
static gboolean
is_atext(guchar c)
{
  return g_ascii_isalnum(c) || c >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~", c);
}

static gboolean
is_dot_atom(const char *s)
{
  gboolean last_dot = TRUE; /* no leading dot */

  if (*s == '\0')
    return FALSE;
  for (const guchar *p = (const guchar *)s; *p != '\0'; p++) {
    if (*p == '.') {
      if (last_dot)
        return FALSE;
      last_dot = TRUE;
    } else if (is_atext(*p)) {
      last_dot = FALSE;
    } else {
      return FALSE;
    }
  }
  return !last_dot;
}

char *
mm_bounce_local_quote(const char *local)
{
  if (is_dot_atom(local))
    return g_strdup(local);
  for (const guchar *p = (const guchar *)local; *p != '\0'; p++)
    if (*p < 0x20 || *p == 0x7f)
      return NULL; /* not even a quoted string may hold these */
  GString *quoted = g_string_new("\"");
  for (const char *p = local; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_c(quoted, '\\');
    g_string_append_c(quoted, *p);
  }
  g_string_append_c(quoted, '"');
  return g_string_free(quoted, FALSE);
}

/* Unquotes a local part "..." (with backslash escapes).  NULL if @s is not
 * exactly one quoted string. */
static char *
unquote(const char *s, gsize len)
{
  if (len < 2 || s[0] != '"' || s[len - 1] != '"')
    return NULL;
  GString *out = g_string_new(NULL);
  for (gsize i = 1; i < len - 1; i++) {
    if (s[i] == '\\' && i + 1 < len - 1)
      i++;
    else if (s[i] == '"')
      return (g_string_free(out, TRUE), NULL);
    g_string_append_c(out, s[i]);
  }
  return g_string_free(out, FALSE);
}

char *
mm_bounce_domain_normalize(const char *domain)
{
  gsize len = strlen(domain);

  while (len > 0 && domain[len - 1] == '.')
    len--; /* "example.com." is the same domain */
  if (len == 0 || len > DOMAIN_MAX * 4)
    return NULL;
  g_autofree char *copy = g_strndup(domain, len);

  if (copy[0] == '[') {
    /* An address literal: "[192.0.2.1]" or "[IPv6:...]". */
    if (copy[len - 1] != ']' || len < 3)
      return NULL;
    for (gsize i = 1; i < len - 1; i++)
      if (!g_ascii_isalnum(copy[i]) && !strchr(".:", copy[i]))
        return NULL;
    return g_ascii_strdown(copy, -1);
  }

  g_autofree char *ascii = NULL;
  if (!g_str_is_ascii(copy)) {
    ascii = g_hostname_to_ascii(copy);
    if (ascii == NULL)
      return NULL;
  } else {
    ascii = g_strdup(copy);
  }
  char *lower = g_ascii_strdown(ascii, -1);
  gsize n = strlen(lower);

  /* LDH labels (plus '_', which real hosts use), 1..63 octets, not
   * starting or ending with '-', at least two of them: a bare host name
   * ("localhost") is never a subscriber's domain. */
  gsize label = 0;
  guint labels = 1;
  if (n == 0 || n > DOMAIN_MAX)
    goto bad;
  for (gsize i = 0; i <= n; i++) {
    char c = lower[i];
    if (c == '.' || c == '\0') {
      if (label == 0 || label > 63 || lower[i - 1] == '-')
        goto bad;
      if (c == '.')
        labels++;
      label = 0;
    } else if (g_ascii_isalnum(c) || c == '_' || (c == '-' && label > 0)) {
      label++;
    } else {
      goto bad;
    }
  }
  if (labels < 2)
    goto bad;
  return lower;
bad:
  g_free(lower);
  return NULL;
}

char *
mm_bounce_address_normalize(const char *text, gssize len)
{
  if (text == NULL)
    return NULL;
  gsize n = len < 0 ? strlen(text) : (gsize)len;
  if (n == 0 || n > ADDRESS_MAX * 4 || !g_utf8_validate(text, (gssize)n, NULL))
    return NULL;
  g_autofree char *copy = g_strndup(text, n);
  char *s = g_strstrip(copy);

  /* Address-type prefix of DSN fields, when a caller passes one. */
  if (g_ascii_strncasecmp(s, "rfc822", 6) == 0) {
    const char *p = mm_bounce_skip_space(s + 6);
    if (*p == ';')
      s = (char *)mm_bounce_skip_space(p + 1);
  }
  /* Trailing sentence punctuation, then wrapping <...>, '...', "...". */
  gsize l = strlen(s);
  while (l > 0 && strchr(".,;:", s[l - 1]))
    s[--l] = '\0';
  for (int round = 0; round < 2 && l >= 2; round++) {
    char first = s[0], last = s[l - 1];
    if ((first == '<' && last == '>') ||
        (first == '\'' && last == '\'') ||
        (first == '"' && last == '"' && strchr(s + 1, '"') == s + l - 1)) {
      s[l - 1] = '\0';
      s++;
      l -= 2;
    }
  }
  if (l == 0)
    return NULL;

  char *at = strrchr(s, '@');
  if (at == NULL || at == s || at[1] == '\0')
    return NULL;
  *at = '\0';
  const char *local_text = s;
  const char *domain_text = at + 1;

  g_autofree char *local = NULL;
  if (local_text[0] == '"') {
    local = unquote(local_text, strlen(local_text));
    if (local == NULL || *local == '\0')
      return NULL;
  } else {
    /* Unquoted: only what may appear in a dot-atom, though consecutive or
     * edge dots are tolerated (old mobile providers issued such
     * addresses; they come out quoted). */
    for (const guchar *p = (const guchar *)local_text; *p != '\0'; p++)
      if (!is_atext(*p) && *p != '.')
        return NULL;
    local = g_strdup(local_text);
  }
  if (strlen(local) > LOCAL_MAX)
    return NULL;
  g_autofree char *quoted = mm_bounce_local_quote(local);
  g_autofree char *domain = mm_bounce_domain_normalize(domain_text);
  if (quoted == NULL || domain == NULL)
    return NULL;
  char *address = g_strdup_printf("%s@%s", quoted, domain);
  if (strlen(address) > ADDRESS_MAX)
    return (g_free(address), NULL);
  return address;
}
