/* Delivery strategy as Mailman 3 chooses it: the VERP decision
 * (mailman/runners/outgoing.py), bulk chunking (mailman/mta/bulk.py), the
 * VERP envelope sender (mailman/mta/verp.py), $-templates
 * (mailman/utilities/string.py expand) and what a refusal code means
 * (mailman/mta/deliver.py).  Pure functions, unit-tested in
 * test-delivery-plan.c.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <string.h>

/* ---- codes ------------------------------------------------------------- */

gboolean
mm_delivery_code_is_permanent(int code)
{
  /* RFC 5321 4.5.3.1.10: 552 for "too many recipients" is really 452, so
   * Mailman (and we) retry it. */
  return code >= 500 && code != 552;
}

/* ---- VERP decision ----------------------------------------------------- */

gboolean
mm_delivery_choose_verp(json_t *meta, gboolean personalized,
                        gboolean verp_personalized, guint interval,
                        gint64 post_id)
{
  json_t *given = json_object_get(meta, "verp");
  if (given != NULL) {
    /* Mailman keeps a Python bool; `mailman inject -m verp=yes` gives a
     * string, read as lazr.config reads booleans. */
    gboolean value = FALSE;
    if (json_is_string(given))
      return mm_config_parse_bool(json_string_value(given), &value) && value;
    return json_is_true(given) ||
           (json_is_integer(given) && json_integer_value(given) != 0);
  }

  gboolean verp;
  if (personalized) {
    /* Mailman sets the key only when it decides yes here. */
    if (!verp_personalized)
      return FALSE;
    verp = TRUE;
  } else if (interval == 0) {
    verp = FALSE;
  } else if (interval == 1) {
    verp = TRUE;
  } else {
    verp = post_id % (gint64)interval == 0;
  }
  json_object_set_new(meta, "verp", json_boolean(verp));
  return verp;
}

/* ---- templates --------------------------------------------------------- */

static gsize
identifier_len(const char *p)
{
  if (!(g_ascii_isalpha(*p) || *p == '_'))
    return 0;
  gsize n = 1;
  while (g_ascii_isalnum(p[n]) || p[n] == '_')
    n++;
  return n;
}

char *
mm_delivery_expand(const char *template, GHashTable *vars)
{
  GString *out = g_string_sized_new(strlen(template) + 32);
  const char *p = template;

  while (*p != '\0') {
    const char *dollar = strchr(p, '$');
    if (dollar == NULL) {
      g_string_append(out, p);
      break;
    }
    g_string_append_len(out, p, dollar - p);
    p = dollar + 1;
    if (*p == '$') {
      g_string_append_c(out, '$');
      p++;
      continue;
    }
    gboolean braced = *p == '{';
    const char *name = braced ? p + 1 : p;
    gsize n = identifier_len(name);
    if (n == 0 || (braced && name[n] != '}')) {
      g_string_append_c(out, '$'); /* left as written */
      continue;
    }
    g_autofree char *key = g_strndup(name, n);
    const char *value = vars ? g_hash_table_lookup(vars, key) : NULL;
    const char *after = name + n + (braced ? 1 : 0);
    if (value != NULL)
      g_string_append(out, value);
    else
      g_string_append_len(out, dollar, after - dollar);
    p = after;
  }
  return g_string_free(out, FALSE);
}

/* ---- VERP sender ------------------------------------------------------- */

char *
mm_delivery_verp_sender(const char *verp_format, GHashTable *vars,
                        const char *sender, const char *recipient)
{
  const char *sat = strchr(sender, '@');
  const char *rat = strchr(recipient, '@');
  if (sat == NULL || rat == NULL)
    return NULL;

  g_autoptr(GHashTable) all =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  if (vars != NULL) {
    GHashTableIter iter;
    gpointer k, v;
    g_hash_table_iter_init(&iter, vars);
    while (g_hash_table_iter_next(&iter, &k, &v))
      g_hash_table_insert(all, g_strdup(k), g_strdup(v));
  }
  g_hash_table_insert(all, g_strdup("bounces"),
                      g_strndup(sender, (gsize)(sat - sender)));
  g_hash_table_insert(all, g_strdup("local"),
                      g_strndup(recipient, (gsize)(rat - recipient)));
  g_hash_table_insert(all, g_strdup("domain"), g_strdup(rat + 1));
  g_autofree char *local = mm_delivery_expand(verp_format, all);
  return g_strconcat(local, sat, NULL);
}

/* ---- bulk chunking ----------------------------------------------------- */

typedef struct {
  guint index;
  char *key; /* reversed domain labels, 0x01, local part */
} Sortable;

static int
sortable_cmp(gconstpointer a, gconstpointer b)
{
  const Sortable *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
}

static int
bucket_of(const char *address)
{
  const char *at = strchr(address, '@');
  const char *domain = at ? at + 1 : "";
  const char *dot = strrchr(domain, '.');
  const char *tld = dot ? dot + 1 : domain;
  static const struct {
    const char *tld;
    int bucket;
  } map[] = {{"com", 1}, {"net", 2}, {"org", 2},
             {"edu", 3}, {"us", 3},  {"ca", 3}};
  for (gsize i = 0; i < G_N_ELEMENTS(map); i++)
    if (g_ascii_strcasecmp(tld, map[i].tld) == 0)
      return map[i].bucket;
  return 0;
}

/* "com.example.mail", 0x01, "local" (the domain lower-cased): sorting by
 * it groups a domain and its subdomains. */
static char *
sort_key(const char *address)
{
  const char *at = strchr(address, '@');
  g_autofree char *domain = g_ascii_strdown(at ? at + 1 : "", -1);
  g_auto(GStrv) labels = g_strsplit(domain, ".", -1);
  guint n = g_strv_length(labels);
  GString *key = g_string_new(NULL);
  for (guint i = n; i > 0; i--) {
    g_string_append(key, labels[i - 1]);
    if (i > 1)
      g_string_append_c(key, '.');
  }
  g_string_append_c(key, '\x01');
  if (at != NULL)
    g_string_append_len(key, address, at - address);
  else
    g_string_append(key, address);
  return g_string_free(key, FALSE);
}

static void
sortable_clear(gpointer p)
{
  g_free(((Sortable *)p)->key);
}

GPtrArray *
mm_delivery_chunk(const char *const *recipients, const guint *indexes,
                  guint n, guint max_recipients)
{
  GArray *buckets[4];
  int first_seen[4];
  int seen = 0;
  for (int b = 0; b < 4; b++) {
    buckets[b] = g_array_new(FALSE, FALSE, sizeof(Sortable));
    g_array_set_clear_func(buckets[b], sortable_clear);
    first_seen[b] = -1;
  }
  for (guint i = 0; i < n; i++) {
    const char *address = recipients[indexes[i]];
    int b = bucket_of(address);
    if (first_seen[b] < 0)
      first_seen[b] = seen++;
    Sortable s = {indexes[i], sort_key(address)};
    g_array_append_val(buckets[b], s);
  }
  /* Largest bucket first; equal sizes in order of first appearance (what
   * Python's stable sort of the bucket dict gives). */
  int order[4] = {0, 1, 2, 3};
  for (int i = 0; i < 4; i++)
    for (int j = i + 1; j < 4; j++) {
      GArray *a = buckets[order[i]], *b = buckets[order[j]];
      if (b->len > a->len ||
          (b->len == a->len && first_seen[order[j]] < first_seen[order[i]])) {
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }

  GPtrArray *chunks = g_ptr_array_new_with_free_func(
      (GDestroyNotify)g_array_unref);
  GArray *chunk = NULL;
  for (int k = 0; k < 4; k++) {
    GArray *bucket = buckets[order[k]];
    g_array_sort(bucket, sortable_cmp);
    for (guint i = 0; i < bucket->len; i++) {
      if (chunk == NULL)
        chunk = g_array_new(FALSE, FALSE, sizeof(guint));
      g_array_append_val(chunk, g_array_index(bucket, Sortable, i).index);
      if (max_recipients > 0 && chunk->len == max_recipients) {
        g_ptr_array_add(chunks, chunk);
        chunk = NULL;
      }
    }
    /* Every bucket starts a new chunk (unless everything is one chunk). */
    if (chunk != NULL && max_recipients > 0) {
      g_ptr_array_add(chunks, chunk);
      chunk = NULL;
    }
  }
  if (chunk != NULL)
    g_ptr_array_add(chunks, chunk);
  for (int b = 0; b < 4; b++)
    g_array_unref(buckets[b]);
  return chunks;
}
