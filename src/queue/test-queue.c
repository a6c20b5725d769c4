/* Unit tests of the queue module on real temporary directories: format
 * round trip, FIFO, slices, claiming, corruption, recovery, shunt/unshunt.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "queue.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <utime.h>

/* ---- helpers ---- */

typedef struct {
  char *root;
} Fixture;

static void
fixture_set_up(Fixture *fx, gconstpointer data)
{
  GError *error = NULL;

  fx->root = g_dir_make_tmp("mm-queue-XXXXXX", &error);
  g_assert_no_error(error);
}

static void
remove_tree(const char *path)
{
  struct stat st;

  if (lstat(path, &st) < 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    chmod(path, 0700);
    GDir *dir = g_dir_open(path, 0, NULL);
    if (dir != NULL) {
      const char *name;
      while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *child = g_build_filename(path, name, NULL);
        remove_tree(child);
      }
      g_dir_close(dir);
    }
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

static void
fixture_tear_down(Fixture *fx, gconstpointer data)
{
  remove_tree(fx->root);
  g_free(fx->root);
}

/* Every name in @dir (dot files included), sorted. */
static GPtrArray *
dir_names(const char *dir_path)
{
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  GDir *dir = g_dir_open(dir_path, 0, NULL);

  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL)
      g_ptr_array_add(names, g_strdup(name));
    g_dir_close(dir);
  }
  g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
  return names;
}

static guint
dir_count(const char *dir_path)
{
  g_autoptr(GPtrArray) names = dir_names(dir_path);

  return names->len;
}

static MmQueue *
open_queue(const char *root, const char *name, guint slice, guint count)
{
  GError *error = NULL;
  MmQueue *queue = mm_queue_open(root, name, slice, count, &error);

  g_assert_no_error(error);
  g_assert_nonnull(queue);
  return queue;
}

static char *
enqueue_text(MmQueue *queue, const char *text, json_t *meta)
{
  GError *error = NULL;
  g_autoptr(GBytes) message = g_bytes_new(text, strlen(text));
  char *id = mm_queue_enqueue(queue, message, meta, &error);

  g_assert_no_error(error);
  g_assert_nonnull(id);
  g_assert_true(mm_queue_id_valid(id));
  return id;
}

static char *
entry_file(MmQueue *queue, const char *id, const char *ext)
{
  return g_strconcat(mm_queue_dir(queue), "/", id, ext, NULL);
}

static void
assert_bytes_equal(GBytes *got, const void *data, gsize len)
{
  gsize got_len = 0;
  const void *got_data = g_bytes_get_data(got, &got_len);

  g_assert_cmpmem(got_data, got_len, data, len);
}

/* ---- names ---- */

static void
test_names(void)
{
  g_assert_true(mm_queue_name_valid("in"));
  g_assert_true(mm_queue_name_valid("out"));
  g_assert_true(mm_queue_name_valid("my_queue-2"));
  g_assert_false(mm_queue_name_valid(""));
  g_assert_false(mm_queue_name_valid(NULL));
  g_assert_false(mm_queue_name_valid("In"));
  g_assert_false(mm_queue_name_valid("../in"));
  g_assert_false(mm_queue_name_valid("a/b"));
  g_assert_false(mm_queue_name_valid("a.b"));
  g_autofree char *long_name = g_strnfill(65, 'a');
  g_assert_false(mm_queue_name_valid(long_name));
  long_name[64] = '\0';
  g_assert_true(mm_queue_name_valid(long_name));

  g_assert_true(mm_queue_id_valid(
      "1700000000.123456+0123456789abcdef0123456789abcdef01234567"));
  g_assert_false(mm_queue_id_valid(
      "1700000000.123456+0123456789ABCDEF0123456789abcdef01234567"));
  g_assert_false(mm_queue_id_valid(
      "170000000.1234567+0123456789abcdef0123456789abcdef01234567"));
  g_assert_false(mm_queue_id_valid(
      "1700000000.123456-0123456789abcdef0123456789abcdef01234567"));
  g_assert_false(mm_queue_id_valid(
      "1700000000.123456+0123456789abcdef0123456789abcdef0123456"));
  g_assert_false(mm_queue_id_valid("../../etc/passwd"));
  g_assert_false(mm_queue_id_valid(NULL));
}

static void
test_open_invalid(Fixture *fx, gconstpointer data)
{
  const guint cases[][2] = {{0, 0}, {0, 3}, {1, 1}, {4, 4}, {2, 6}, {8, 2}};
  GError *error = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    MmQueue *queue = mm_queue_open(fx->root, "in", cases[i][0], cases[i][1],
                                   &error);
    g_assert_null(queue);
    g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID);
    g_clear_error(&error);
  }
  g_assert_null(mm_queue_open(fx->root, "../x", 0, 1, &error));
  g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID);
  g_clear_error(&error);

  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 3, 4);
  g_assert_cmpstr(mm_queue_name(queue), ==, "in");
  g_assert_true(g_path_is_absolute(mm_queue_dir(queue)));
  g_assert_true(g_file_test(mm_queue_dir(queue), G_FILE_TEST_IS_DIR));
}

/* ---- round trip ---- */

static void
test_round_trip(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 0, 1);
  GError *error = NULL;
  GByteArray *raw = g_byte_array_new();

  /* Every byte value, NULs, CRLF and bare CR, 8-bit text, lines that look
   * like our own framing. */
  static const char head[] = "From: a@example.com\r\nSubject: caf\xc3\xa9\r\n"
                             "\r\nbody\r\n\r\nMMQ1\nmeta 5\nend sha1 x\n\r";
  g_byte_array_append(raw, (const guint8 *)head, sizeof head - 1);
  for (int i = 0; i < 256; i++) {
    guint8 b = (guint8)i;
    g_byte_array_append(raw, &b, 1);
  }
  g_byte_array_append(raw, (const guint8 *)"\0\0\xff\n", 4);
  g_autoptr(GBytes) message = g_byte_array_free_to_bytes(raw);

  json_error_t jerr;
  json_t *meta = json_loads(
      "{\"listid\": \"test.example.com\", \"recipients\": [\"a@b\", "
      "\"\\u00e9@x\"], \"nested\": {\"z\": 1, \"a\": [true, false, null]}, "
      "\"real\": 0.1, \"big\": 9007199254740993, \"nul\": \"a\\u0000b\"}",
      JSON_ALLOW_NUL, &jerr);
  g_assert_nonnull(meta);

  g_autofree char *id = mm_queue_enqueue(queue, message, meta, &error);
  g_assert_no_error(error);
  g_assert_nonnull(id);
  /* The caller's metadata is not consumed nor changed. */
  g_assert_null(json_object_get(meta, "version"));

  g_autoptr(MmQueueEntry) entry = mm_queue_claim(queue, id, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(mm_queue_entry_id(entry), ==, id);
  assert_bytes_equal(mm_queue_entry_message(entry),
                     g_bytes_get_data(message, NULL),
                     g_bytes_get_size(message));
  json_t *got = mm_queue_entry_meta(entry);
  g_assert_cmpint(json_integer_value(json_object_get(got, "version")), ==, 3);
  json_object_del(got, "version");
  g_assert_true(json_equal(got, meta));

  /* The empty message round-trips too. */
  g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
  g_autofree char *id2 = mm_queue_enqueue(queue, empty, NULL, &error);
  g_assert_no_error(error);
  g_autoptr(MmQueueEntry) entry2 = mm_queue_claim(queue, id2, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_bytes_get_size(mm_queue_entry_message(entry2)), ==, 0);
  g_assert_cmpint(json_object_size(mm_queue_entry_meta(entry2)), ==, 1);

  /* mm_queue_file_read reads the claimed (.bak) file without changing it. */
  g_autofree char *bak = entry_file(queue, id, ".bak");
  GBytes *read_message = NULL;
  json_t *read_meta = NULL;
  g_assert_true(mm_queue_file_read(bak, &read_message, &read_meta, &error));
  g_assert_no_error(error);
  assert_bytes_equal(read_message, g_bytes_get_data(message, NULL),
                     g_bytes_get_size(message));
  g_assert_true(json_is_object(read_meta));
  g_bytes_unref(read_message);
  json_decref(read_meta);

  g_assert_true(mm_queue_entry_finish(queue, entry, &error));
  g_assert_no_error(error);
  g_assert_true(mm_queue_entry_finish(queue, entry2, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(dir_count(mm_queue_dir(queue)), ==, 0);
  json_decref(meta);
}

/* The file is text-inspectable: magic line, length lines, trailer. */
static void
test_file_layout(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 0, 1);
  json_t *meta = json_pack("{s:s, s:i}", "zeta", "z", "alpha", 1);
  g_autofree char *id = enqueue_text(queue, "Subject: x\n\nhi\n", meta);
  g_autofree char *path = entry_file(queue, id, ".pck");
  g_autofree char *text = NULL;
  gsize len = 0;

  g_assert_true(g_file_get_contents(path, &text, &len, NULL));
  g_assert_true(g_str_has_prefix(
      text, "MMQ1\nmeta 34\n{\"alpha\":1,\"version\":3,\"zeta\":\"z\"}\n"
            "message 15\nSubject: x\n\nhi\n\nend sha1 "));
  g_assert_cmpuint(len, ==, strlen(text));
  g_assert_cmpint(text[len - 1], ==, '\n');

  /* The trailer is the SHA-1 of everything before it. */
  const char *trailer = strstr(text, "end sha1 ");
  g_autofree char *sum = g_compute_checksum_for_data(
      G_CHECKSUM_SHA1, (const guchar *)text, (gsize)(trailer - text));
  g_autofree char *want_trailer = g_strconcat(sum, "\n", NULL);
  g_assert_cmpstr(trailer + strlen("end sha1 "), ==, want_trailer);
  json_decref(meta);
}

static void
test_meta_filtering(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 0, 1);
  GError *error = NULL;
  json_t *meta = json_pack("{s:b, s:i, s:s, s:i, s:s}", "_parsemsg", 1,
                           "_bak_count", 2, "_private", "x", "version", 99,
                           "listid", "l.example.com");
  g_autofree char *id = enqueue_text(queue, "m", meta);
  g_autoptr(MmQueueEntry) entry = mm_queue_claim(queue, id, &error);
  g_assert_no_error(error);
  json_t *got = mm_queue_entry_meta(entry);

  g_assert_null(json_object_get(got, "_parsemsg"));
  g_assert_null(json_object_get(got, "_private"));
  g_assert_null(json_object_get(got, "_bak_count"));
  g_assert_cmpint(json_integer_value(json_object_get(got, "version")), ==, 3);
  g_assert_cmpstr(json_string_value(json_object_get(got, "listid")), ==,
                  "l.example.com");
  g_assert_cmpint(json_object_size(got), ==, 2);
  g_assert_true(mm_queue_entry_finish(queue, entry, &error));

  /* Not an object: refused, nothing written. */
  json_t *array = json_array();
  g_autoptr(GBytes) message = g_bytes_new("m", 1);
  g_assert_null(mm_queue_enqueue(queue, message, array, &error));
  g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_cmpuint(dir_count(mm_queue_dir(queue)), ==, 0);
  json_decref(array);
  json_decref(meta);
}

/* The ID's hash is SHA-1(message + listid + time string), as Mailman's. */
static void
test_id_hash(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 0, 1);
  json_t *meta = json_pack("{s:s}", "listid", "ant.example.com");
  g_autofree char *id = enqueue_text(queue, "hello", meta);
  g_autofree char *id2 = enqueue_text(queue, "hello", NULL);
  g_autofree char *time1 = g_strndup(id, 17);
  g_autofree char *time2 = g_strndup(id2, 17);
  g_autofree char *food1 =
      g_strconcat("hello", "ant.example.com", time1, NULL);
  g_autofree char *food2 = g_strconcat("hello", "--nolist--", time2, NULL);
  g_autofree char *sum1 =
      g_compute_checksum_for_string(G_CHECKSUM_SHA1, food1, -1);
  g_autofree char *sum2 =
      g_compute_checksum_for_string(G_CHECKSUM_SHA1, food2, -1);

  g_assert_cmpstr(id + 18, ==, sum1);
  g_assert_cmpstr(id2 + 18, ==, sum2);
  json_decref(meta);
}

/* A message given in pieces is queued as their concatenation: same bytes,
 * same ID hash (over the whole message), empty pieces allowed. */
static void
test_enqueue_parts(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 0, 1);
  GError *error = NULL;
  g_autoptr(GBytes) head = g_bytes_new_static("Subject: x\r\n", 12);
  g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
  g_autoptr(GBytes) rest = g_bytes_new_static("\r\nbody\r\n", 8);
  GBytes *parts[] = {head, empty, rest};
  json_t *meta = json_pack("{s:s}", "listid", "ant.example.com");

  g_autofree char *id = mm_queue_enqueue_parts_to(
      fx->root, "in", parts, G_N_ELEMENTS(parts), meta, &error);
  g_assert_no_error(error);
  g_assert_nonnull(id);
  g_autofree char *time = g_strndup(id, 17);
  g_autofree char *food = g_strconcat("Subject: x\r\n\r\nbody\r\n",
                                      "ant.example.com", time, NULL);
  g_autofree char *sum =
      g_compute_checksum_for_string(G_CHECKSUM_SHA1, food, -1);
  g_assert_cmpstr(id + 18, ==, sum);

  g_autoptr(MmQueueEntry) entry = mm_queue_claim(queue, id, &error);
  g_assert_no_error(error);
  assert_bytes_equal(mm_queue_entry_message(entry),
                     "Subject: x\r\n\r\nbody\r\n", 20);
  g_assert_true(mm_queue_entry_finish(queue, entry, &error));
  json_decref(meta);
}

/* ---- ordering, uniqueness, slices ---- */

#define FIFO_ENTRIES 200

static void
test_fifo(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 0, 1);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
  GError *error = NULL;

  /* Alternate identical and distinct messages: identical bytes for one list
   * enqueued back to back must still get distinct names. */
  for (int i = 0; i < FIFO_ENTRIES; i++) {
    g_autofree char *text =
        i % 2 == 0 ? g_strdup("same") : g_strdup_printf("message %d", i);
    g_ptr_array_add(ids, enqueue_text(queue, text, NULL));
  }
  g_autoptr(GPtrArray) listed = mm_queue_list(queue, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(listed->len, ==, FIFO_ENTRIES);
  for (guint i = 0; i < FIFO_ENTRIES; i++)
    g_assert_cmpstr(listed->pdata[i], ==, ids->pdata[i]);
  g_assert_cmpint(mm_queue_count(queue), ==, FIFO_ENTRIES);

  /* Entries come back in order and with their own content. */
  for (guint i = 0; i < 4; i++) {
    g_autoptr(MmQueueEntry) entry =
        mm_queue_claim(queue, listed->pdata[i], &error);
    g_assert_no_error(error);
    g_autofree char *want =
        i % 2 == 0 ? g_strdup("same") : g_strdup_printf("message %u", i);
    assert_bytes_equal(mm_queue_entry_message(entry), want, strlen(want));
    g_assert_true(mm_queue_entry_finish(queue, entry, &error));
  }
  g_assert_cmpint(mm_queue_count(queue), ==, FIFO_ENTRIES - 4);
}

/* Foreign names in a queue directory are ignored by listing and counting. */
static void
test_list_ignores_foreign(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 0, 1);
  GError *error = NULL;
  const char *foreign[] = {
      "1700000000.1234567+0123456789abcdef0123456789abcdef01234567.pck",
      ".1700000000.123456+0123456789abcdef0123456789abcdef01234567.pck.1.tmp",
      "README", "x.pck"};

  for (gsize i = 0; i < G_N_ELEMENTS(foreign); i++) {
    g_autofree char *path =
        g_build_filename(mm_queue_dir(queue), foreign[i], NULL);
    g_assert_true(g_file_set_contents(path, "x", 1, NULL));
  }
  g_autofree char *id = enqueue_text(queue, "m", NULL);
  g_autoptr(GPtrArray) listed = mm_queue_list(queue, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(listed->len, ==, 1);
  g_assert_cmpstr(listed->pdata[0], ==, id);
  g_assert_cmpint(mm_queue_count(queue), ==, 1);
}

static void
test_slices(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) whole = open_queue(fx->root, "in", 0, 1);
  MmQueue *slices[4];
  GError *error = NULL;
  g_autoptr(GHashTable) seen =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  guint per_slice[4] = {0};

  for (int i = 0; i < 100; i++) {
    g_autofree char *text = g_strdup_printf("slice test %d", i);
    g_free(enqueue_text(whole, text, NULL));
  }
  for (guint s = 0; s < 4; s++) {
    slices[s] = open_queue(fx->root, "in", s, 4);
    g_autoptr(GPtrArray) ids = mm_queue_list(slices[s], &error);
    g_assert_no_error(error);
    per_slice[s] = ids->len;
    for (guint i = 0; i < ids->len; i++) {
      const char *id = ids->pdata[i];
      /* Top two bits of the hash are the slice number. */
      int top = g_ascii_xdigit_value(id[18]) >> 2;
      g_assert_cmpint(top, ==, (int)s);
      g_assert_false(g_hash_table_contains(seen, id));
      g_hash_table_add(seen, g_strdup(id));
      if (i > 0)
        g_assert_cmpstr(ids->pdata[i - 1], <, id);
    }
    /* Counting is over the whole queue, whatever the slice. */
    g_assert_cmpint(mm_queue_count(slices[s]), ==, 100);
  }
  g_assert_cmpuint(g_hash_table_size(seen), ==, 100);
  /* 100 SHA-1 hashes over 4 slices: an empty slice would mean a bug (the
   * chance of a fair hash leaving one empty is 4 * 0.75^100, ~1e-12). */
  for (guint s = 0; s < 4; s++)
    g_assert_cmpuint(per_slice[s], >, 0);

  /* A slice's runner only sees and claims its own entries; a claim by ID
   * from another slice still works (REST may name any entry). */
  g_autoptr(GPtrArray) ids0 = mm_queue_list(slices[0], &error);
  g_autoptr(MmQueueEntry) entry = mm_queue_claim(slices[1], ids0->pdata[0],
                                                 &error);
  g_assert_no_error(error);
  g_assert_true(mm_queue_entry_finish(slices[1], entry, &error));

  for (guint s = 0; s < 4; s++)
    mm_queue_free(slices[s]);
}

/* ---- claiming ---- */

static void
test_claim(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 0, 1);
  g_autoptr(MmQueue) other = open_queue(fx->root, "in", 0, 1);
  GError *error = NULL;
  g_autofree char *id = enqueue_text(queue, "claim me", NULL);
  g_autofree char *pck = entry_file(queue, id, ".pck");
  g_autofree char *bak = entry_file(queue, id, ".bak");

  g_autoptr(MmQueueEntry) entry = mm_queue_claim(queue, id, &error);
  g_assert_no_error(error);
  g_assert_false(g_file_test(pck, G_FILE_TEST_EXISTS));
  g_assert_true(g_file_test(bak, G_FILE_TEST_EXISTS));

  /* A second claim, by anyone, finds it gone; listing no longer shows it. */
  g_assert_null(mm_queue_claim(other, id, &error));
  g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_GONE);
  g_clear_error(&error);
  g_assert_null(mm_queue_claim(queue, id, &error));
  g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_GONE);
  g_clear_error(&error);
  g_autoptr(GPtrArray) listed = mm_queue_list(queue, &error);
  g_assert_cmpuint(listed->len, ==, 0);

  g_assert_null(mm_queue_claim(queue, "../../etc/passwd", &error));
  g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID);
  g_clear_error(&error);

  g_assert_true(mm_queue_entry_finish(queue, entry, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(dir_count(mm_queue_dir(queue)), ==, 0);
}

/* ---- corruption ---- */

static void
assert_claim_corrupt(MmQueue *queue, const char *root, const char *id)
{
  GError *error = NULL;
  MmQueueEntry *entry = mm_queue_claim(queue, id, &error);

  g_assert_null(entry);
  g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_CORRUPT);
  g_clear_error(&error);
  g_autofree char *psv = g_strconcat(root, "/bad/", id, ".psv", NULL);
  g_assert_true(g_file_test(psv, G_FILE_TEST_IS_REGULAR));
  g_unlink(psv);
  g_assert_cmpuint(dir_count(mm_queue_dir(queue)), ==, 0);
}

/* Writes @data under a fresh valid ID as a .pck, bypassing the module. */
static char *
plant(MmQueue *queue, const void *data, gsize len, guint serial)
{
  char *id = g_strdup_printf(
      "1600000000.%06u+%040x", serial, serial);
  g_autofree char *path = entry_file(queue, id, ".pck");

  g_assert_true(g_file_set_contents(path, data, (gssize)len, NULL));
  return id;
}

static void
test_corrupt(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 0, 1);
  GError *error = NULL;
  json_t *meta = json_pack("{s:s}", "listid", "a.b");
  g_autofree char *id = enqueue_text(queue, "Subject: s\r\n\r\nbody\r\n", meta);
  g_autofree char *pck = entry_file(queue, id, ".pck");
  g_autofree char *good = NULL;
  gsize good_len = 0;
  guint serial = 1;

  g_assert_true(g_file_get_contents(pck, &good, &good_len, NULL));
  g_unlink(pck);

  /* Cut short at every length. */
  for (gsize len = 0; len < good_len; len++) {
    g_autofree char *bad_id = plant(queue, good, len, serial++);
    g_autofree char *path = entry_file(queue, bad_id, ".pck");
    GBytes *m = NULL;
    json_t *j = NULL;
    g_assert_false(mm_queue_file_read(path, &m, &j, &error));
    g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_CORRUPT);
    g_clear_error(&error);
    assert_claim_corrupt(queue, fx->root, bad_id);
  }
  /* Any single byte changed. */
  for (gsize pos = 0; pos < good_len; pos++) {
    g_autofree char *copy = g_memdup2(good, good_len);
    copy[pos] ^= 0x01;
    g_autofree char *bad_id = plant(queue, copy, good_len, serial++);
    assert_claim_corrupt(queue, fx->root, bad_id);
  }
  /* Anything appended. */
  {
    g_autofree char *longer = g_strconcat(good, "x", NULL);
    g_autofree char *bad_id = plant(queue, longer, good_len + 1, serial++);
    assert_claim_corrupt(queue, fx->root, bad_id);
  }
  /* The unmodified bytes are accepted (so the loops above tested framing,
   * not a file the reader would refuse anyway). */
  {
    g_autofree char *ok_id = plant(queue, good, good_len, serial++);
    g_autoptr(MmQueueEntry) entry = mm_queue_claim(queue, ok_id, &error);
    g_assert_no_error(error);
    assert_bytes_equal(mm_queue_entry_message(entry),
                       "Subject: s\r\n\r\nbody\r\n", 20);
    g_assert_true(mm_queue_entry_finish(queue, entry, &error));
  }

  /* Well framed, right checksum, but lengths over the caps, non-canonical
   * numbers, bad JSON, duplicate keys, or a non-object. */
  const char *bodies[] = {
      "MMQ1\nmeta 99999999999\n{}\nmessage 0\n\n",
      "MMQ1\nmeta 16777217\n{}\nmessage 0\n\n",
      "MMQ1\nmeta 02\n{}\nmessage 0\n\n",
      "MMQ1\nmeta +2\n{}\nmessage 0\n\n",
      "MMQ1\nmeta 2\n{}\nmessage 67108865\n\n",
      "MMQ1\nmeta 2\n{]\nmessage 0\n\n",
      "MMQ1\nmeta 15\n{\"a\":1,\"a\":2}\nmessage 0\n\n",
      "MMQ1\nmeta 2\n[]\nmessage 0\n\n",
      "MMQ2\nmeta 2\n{}\nmessage 0\n\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bodies); i++) {
    g_autofree char *sum =
        g_compute_checksum_for_string(G_CHECKSUM_SHA1, bodies[i], -1);
    g_autofree char *file = g_strconcat(bodies[i], "end sha1 ", sum, "\n",
                                        NULL);
    g_autofree char *bad_id = plant(queue, file, strlen(file), serial++);
    assert_claim_corrupt(queue, fx->root, bad_id);
  }
  /* ...while the same framing with sane values is accepted. */
  {
    const char *body = "MMQ1\nmeta 2\n{}\nmessage 0\n\n";
    g_autofree char *sum =
        g_compute_checksum_for_string(G_CHECKSUM_SHA1, body, -1);
    g_autofree char *file = g_strconcat(body, "end sha1 ", sum, "\n", NULL);
    g_autofree char *ok_id = plant(queue, file, strlen(file), serial++);
    g_autoptr(MmQueueEntry) entry = mm_queue_claim(queue, ok_id, &error);
    g_assert_no_error(error);
    g_assert_true(mm_queue_entry_finish(queue, entry, &error));
  }
  json_decref(meta);
}

/* ---- failures leave nothing behind ---- */

static void
test_no_leftovers(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "in", 0, 1);
  GError *error = NULL;
  struct rlimit saved, small;

  /* A write that fails half-way (the file size limit stands in for a full
   * disk): an error, and no temporary or final file. */
  g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &saved), ==, 0);
  signal(SIGXFSZ, SIG_IGN);
  small = saved;
  small.rlim_cur = 4096;
  g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &small), ==, 0);
  g_autofree char *big = g_strnfill(100000, 'x');
  g_autoptr(GBytes) message = g_bytes_new(big, 100000);
  g_autofree char *id = mm_queue_enqueue(queue, message, NULL, &error);
  g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &saved), ==, 0);
  signal(SIGXFSZ, SIG_DFL);
  g_assert_null(id);
  g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_IO);
  g_clear_error(&error);
  g_assert_cmpuint(dir_count(mm_queue_dir(queue)), ==, 0);

  /* Over the message cap: refused before anything is created. */
  gsize huge_len = (gsize)MM_QUEUE_MAX_MESSAGE_LEN + 1;
  g_autoptr(GBytes) huge = g_bytes_new_take(g_malloc0(huge_len), huge_len);
  g_assert_null(mm_queue_enqueue(queue, huge, NULL, &error));
  g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_cmpuint(dir_count(mm_queue_dir(queue)), ==, 0);

  /* Bad queue name for enqueue_to. */
  g_assert_null(mm_queue_enqueue_to(fx->root, "../in", message, NULL, &error));
  g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_cmpuint(dir_count(fx->root), ==, 1);

  /* The space check: nobody has 2^64 bytes free. */
  g_assert_true(mm_queue_space_check(queue, 0, 0, &error));
  g_assert_no_error(error);
  g_assert_false(mm_queue_space_check(queue, G_MAXUINT64, 1, &error));
  g_assert_error(error, MM_QUEUE_ERROR, MM_QUEUE_ERROR_NO_SPACE);
  g_clear_error(&error);
}

/* ---- recovery ---- */

static void
test_recover_counts(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) queue = open_queue(fx->root, "pipeline", 0, 1);
  GError *error = NULL;
  g_autofree char *id = enqueue_text(queue, "crashy\n", NULL);
  guint requeued = 99, shunted = 99;

  /* Nothing to do on a clean queue. */
  g_assert_true(mm_queue_recover(queue, &requeued, &shunted, &error));
  g_assert_cmpuint(requeued, ==, 0);
  g_assert_cmpuint(shunted, ==, 0);

  for (json_int_t round = 1; round < MM_QUEUE_MAX_BAK_COUNT; round++) {
    /* A runner claims and "crashes" (drops the entry without finishing). */
    MmQueueEntry *entry = mm_queue_claim(queue, id, &error);
    g_assert_no_error(error);
    mm_queue_entry_free(entry);

    g_assert_true(mm_queue_recover(queue, &requeued, &shunted, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(requeued, ==, 1);
    g_assert_cmpuint(shunted, ==, 0);
    g_autoptr(GPtrArray) listed = mm_queue_list(queue, &error);
    g_assert_cmpuint(listed->len, ==, 1);
    g_assert_cmpstr(listed->pdata[0], ==, id); /* same ID, same place */
    g_assert_cmpuint(dir_count(mm_queue_dir(queue)), ==, 1);

    g_autofree char *pck = entry_file(queue, id, ".pck");
    GBytes *m = NULL;
    json_t *j = NULL;
    g_assert_true(mm_queue_file_read(pck, &m, &j, &error));
    g_assert_cmpint(json_integer_value(json_object_get(j, "_bak_count")), ==,
                    round);
    assert_bytes_equal(m, "crashy\n", 7);
    g_bytes_unref(m);
    json_decref(j);
  }
  /* Claimed and crashed once more. */
  mm_queue_entry_free(mm_queue_claim(queue, id, &error));
  g_assert_no_error(error);
  /* The third recovery shunts it, with whichq and the count. */
  g_assert_true(mm_queue_recover(queue, &requeued, &shunted, &error));
  g_assert_cmpuint(requeued, ==, 0);
  g_assert_cmpuint(shunted, ==, 1);
  g_assert_cmpuint(dir_count(mm_queue_dir(queue)), ==, 0);

  g_autoptr(MmQueue) shunt = open_queue(fx->root, "shunt", 0, 1);
  g_autoptr(GPtrArray) in_shunt = mm_queue_list(shunt, &error);
  g_assert_cmpuint(in_shunt->len, ==, 1);
  g_autoptr(MmQueueEntry) shunted_entry =
      mm_queue_claim(shunt, in_shunt->pdata[0], &error);
  g_assert_no_error(error);
  json_t *meta = mm_queue_entry_meta(shunted_entry);
  g_assert_cmpstr(json_string_value(json_object_get(meta, "whichq")), ==,
                  "pipeline");
  /* The count does not follow it into shunt (enqueue drops "_" keys):
   * after unshunt it has its full retries again.  The reason says why. */
  g_assert_null(json_object_get(meta, "_bak_count"));
  g_assert_nonnull(strstr(json_string_value(json_object_get(meta, "error")),
                          "3 times"));
  assert_bytes_equal(mm_queue_entry_message(shunted_entry), "crashy\n", 7);
  g_assert_true(mm_queue_entry_finish(shunt, shunted_entry, &error));
}

/* Recovery touches only its slice; an unreadable .bak goes to bad; a stale
 * temporary file is removed and a young one left alone. */
static void
test_recover_slice_and_bad(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) whole = open_queue(fx->root, "in", 0, 1);
  GError *error = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);

  for (int i = 0; i < 40; i++) {
    g_autofree char *text = g_strdup_printf("m%d", i);
    char *id = enqueue_text(whole, text, NULL);
    mm_queue_entry_free(mm_queue_claim(whole, id, &error));
    g_assert_no_error(error);
    g_ptr_array_add(ids, id);
  }
  g_autoptr(MmQueue) half = open_queue(fx->root, "in", 1, 2);
  guint requeued = 0, shunted = 0;
  g_assert_true(mm_queue_recover(half, &requeued, &shunted, &error));
  g_autoptr(GPtrArray) listed = mm_queue_list(whole, &error);
  g_assert_cmpuint(listed->len, ==, requeued);
  g_assert_cmpuint(shunted, ==, 0);
  for (guint i = 0; i < ids->len; i++) {
    const char *id = ids->pdata[i];
    gboolean mine = g_ascii_xdigit_value(id[18]) >= 8;
    g_autofree char *pck = entry_file(whole, id, ".pck");
    g_autofree char *bak = entry_file(whole, id, ".bak");
    g_assert_cmpint(g_file_test(pck, G_FILE_TEST_EXISTS), ==, mine);
    g_assert_cmpint(g_file_test(bak, G_FILE_TEST_EXISTS), ==, !mine);
  }

  /* Damage one remaining .bak of slice 0; recovery preserves it as bad. */
  const char *victim = NULL;
  for (guint i = 0; i < ids->len && victim == NULL; i++)
    if (g_ascii_xdigit_value(((char *)ids->pdata[i])[18]) < 8)
      victim = ids->pdata[i];
  g_assert_nonnull(victim);
  g_autofree char *victim_bak = entry_file(whole, victim, ".bak");
  g_assert_cmpint(truncate(victim_bak, 10), ==, 0);

  g_autofree char *stale =
      g_build_filename(mm_queue_dir(whole), ".x.pck.00000000.tmp", NULL);
  g_autofree char *young =
      g_build_filename(mm_queue_dir(whole), ".y.pck.00000000.tmp", NULL);
  g_assert_true(g_file_set_contents(stale, "x", 1, NULL));
  g_assert_true(g_file_set_contents(young, "x", 1, NULL));
  struct utimbuf old_times = {.actime = 1000000000, .modtime = 1000000000};
  g_assert_cmpint(utime(stale, &old_times), ==, 0);

  g_autoptr(MmQueue) other_half = open_queue(fx->root, "in", 0, 2);
  g_assert_true(mm_queue_recover(other_half, &requeued, &shunted, &error));
  g_assert_cmpuint(shunted, ==, 1);
  g_assert_cmpuint(requeued, ==, 40 - listed->len - 1);
  g_autofree char *psv =
      g_strconcat(fx->root, "/bad/", victim, ".psv", NULL);
  g_assert_true(g_file_test(psv, G_FILE_TEST_IS_REGULAR));
  g_assert_false(g_file_test(stale, G_FILE_TEST_EXISTS));
  g_assert_true(g_file_test(young, G_FILE_TEST_EXISTS));
  g_unlink(young);
  g_assert_cmpint(mm_queue_count(whole), ==, 39);
  g_assert_cmpuint(dir_count(mm_queue_dir(whole)), ==, 39);
}

/* ---- shunt and unshunt ---- */

static void
test_shunt_unshunt(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) out = open_queue(fx->root, "out", 0, 1);
  g_autoptr(MmQueue) shunt = open_queue(fx->root, "shunt", 0, 1);
  GError *error = NULL;
  json_t *meta = json_pack("{s:s}", "listid", "x.example.com");
  g_autofree char *id = enqueue_text(out, "to be shunted", meta);

  g_autoptr(MmQueueEntry) entry = mm_queue_claim(out, id, &error);
  g_assert_no_error(error);
  /* The runner's edits travel with the entry. */
  json_object_set_new(mm_queue_entry_meta(entry), "_bak_count",
                      json_integer(2));
  json_object_set_new(mm_queue_entry_meta(entry), "edited", json_true());
  g_assert_true(mm_queue_entry_shunt(out, entry, "SMTP said \xff no", &error));
  g_assert_no_error(error);
  g_assert_cmpuint(dir_count(mm_queue_dir(out)), ==, 0);
  g_assert_cmpint(mm_queue_count(shunt), ==, 1);

  /* Peek at the shunted copy. */
  {
    g_autoptr(GPtrArray) ids = mm_queue_list(shunt, &error);
    g_autofree char *path = entry_file(shunt, ids->pdata[0], ".pck");
    GBytes *m = NULL;
    json_t *j = NULL;
    g_assert_true(mm_queue_file_read(path, &m, &j, &error));
    g_assert_cmpstr(json_string_value(json_object_get(j, "whichq")), ==,
                    "out");
    g_assert_true(
        g_str_has_prefix(json_string_value(json_object_get(j, "error")),
                         "SMTP said "));
    g_assert_true(json_is_true(json_object_get(j, "edited")));
    g_bytes_unref(m);
    json_decref(j);
  }

  /* An entry without whichq goes to "in"; one with a bad whichq stays. */
  json_t *no_whichq = json_pack("{s:s}", "listid", "y.example.com");
  json_t *bad_whichq = json_pack("{s:s}", "whichq", "../etc");
  g_autoptr(GBytes) m1 = g_bytes_new("to in", 5);
  g_autoptr(GBytes) m2 = g_bytes_new("stays", 5);
  g_autofree char *id1 =
      mm_queue_enqueue_to(fx->root, "shunt", m1, no_whichq, &error);
  g_assert_no_error(error);
  g_autofree char *id2 =
      mm_queue_enqueue_to(fx->root, "shunt", m2, bad_whichq, &error);
  g_assert_no_error(error);
  /* A crashed unshunt left one .bak in shunt: it is recovered first. */
  mm_queue_entry_free(mm_queue_claim(shunt, id1, &error));
  g_assert_no_error(error);

  g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func(g_free);
  guint handled = 0;
  g_assert_true(mm_queue_unshunt(fx->root, FALSE, &handled, failures, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(handled, ==, 2);
  g_assert_cmpuint(failures->len, ==, 1);
  g_assert_true(g_str_has_prefix(failures->pdata[0], id2));

  /* Back in "out", bytes intact, crash count reset. */
  g_autoptr(GPtrArray) out_ids = mm_queue_list(out, &error);
  g_assert_cmpuint(out_ids->len, ==, 1);
  g_autoptr(MmQueueEntry) back = mm_queue_claim(out, out_ids->pdata[0], &error);
  g_assert_no_error(error);
  assert_bytes_equal(mm_queue_entry_message(back), "to be shunted", 13);
  g_assert_null(json_object_get(mm_queue_entry_meta(back), "_bak_count"));
  g_assert_cmpstr(json_string_value(json_object_get(mm_queue_entry_meta(back),
                                                    "listid")),
                  ==, "x.example.com");
  g_assert_true(mm_queue_entry_finish(out, back, &error));

  g_autoptr(MmQueue) in = open_queue(fx->root, "in", 0, 1);
  g_assert_cmpint(mm_queue_count(in), ==, 1);

  /* The bad-whichq entry is still in shunt as a .pck; discard removes it. */
  g_autoptr(GPtrArray) left = mm_queue_list(shunt, &error);
  g_assert_cmpuint(left->len, ==, 1);
  g_assert_cmpstr(left->pdata[0], ==, id2);
  g_ptr_array_set_size(failures, 0);
  g_assert_true(mm_queue_unshunt(fx->root, TRUE, &handled, failures, &error));
  g_assert_cmpuint(handled, ==, 1);
  g_assert_cmpuint(failures->len, ==, 0);
  g_assert_cmpuint(dir_count(mm_queue_dir(shunt)), ==, 0);

  json_decref(meta);
  json_decref(no_whichq);
  json_decref(bad_whichq);
}

/* When even the shunt queue refuses, the entry is preserved in bad. */
static void
test_shunt_fails_to_bad(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) out = open_queue(fx->root, "out", 0, 1);
  GError *error = NULL;
  g_autofree char *id = enqueue_text(out, "nowhere to go", NULL);
  g_autofree char *shunt_path = g_build_filename(fx->root, "shunt", NULL);

  /* A plain file where the shunt directory should be. */
  g_assert_true(g_file_set_contents(shunt_path, "", 0, NULL));
  g_autoptr(MmQueueEntry) entry = mm_queue_claim(out, id, &error);
  g_assert_no_error(error);
  g_assert_false(mm_queue_entry_shunt(out, entry, NULL, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_assert_cmpuint(dir_count(mm_queue_dir(out)), ==, 0);
  g_autofree char *psv = g_strconcat(fx->root, "/bad/", id, ".psv", NULL);
  GBytes *m = NULL;
  json_t *j = NULL;
  g_assert_true(mm_queue_file_read(psv, &m, &j, &error));
  assert_bytes_equal(m, "nowhere to go", 13);
  g_bytes_unref(m);
  json_decref(j);
}

/* In the shunt queue itself, the crash limit leads to bad, not a loop. */
static void
test_recover_in_shunt(Fixture *fx, gconstpointer data)
{
  g_autoptr(MmQueue) shunt = open_queue(fx->root, "shunt", 0, 1);
  GError *error = NULL;
  json_t *meta = json_pack("{s:s}", "whichq", "in");
  g_autofree char *id = enqueue_text(shunt, "looping", meta);
  guint requeued = 0, shunted = 0;

  /* Two crashes are recovered in place... */
  for (int crash = 1; crash < MM_QUEUE_MAX_BAK_COUNT; crash++) {
    mm_queue_entry_free(mm_queue_claim(shunt, id, &error));
    g_assert_no_error(error);
    g_assert_true(mm_queue_recover(shunt, &requeued, &shunted, &error));
    g_assert_cmpuint(requeued, ==, 1);
    g_assert_cmpuint(shunted, ==, 0);
  }
  /* ...the third goes to bad. */
  mm_queue_entry_free(mm_queue_claim(shunt, id, &error));
  g_assert_no_error(error);
  g_assert_true(mm_queue_recover(shunt, &requeued, &shunted, &error));
  g_assert_cmpuint(requeued, ==, 0);
  g_assert_cmpuint(shunted, ==, 1);
  g_assert_cmpuint(dir_count(mm_queue_dir(shunt)), ==, 0);
  g_autofree char *psv = g_strconcat(fx->root, "/bad/", id, ".psv", NULL);
  g_assert_true(g_file_test(psv, G_FILE_TEST_IS_REGULAR));
  json_decref(meta);
}

#define ADD(path, func)                                                        \
  g_test_add(path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/queue/names", test_names);
  ADD("/queue/open-invalid", test_open_invalid);
  ADD("/queue/round-trip", test_round_trip);
  ADD("/queue/file-layout", test_file_layout);
  ADD("/queue/meta-filtering", test_meta_filtering);
  ADD("/queue/id-hash", test_id_hash);
  ADD("/queue/enqueue-parts", test_enqueue_parts);
  ADD("/queue/fifo", test_fifo);
  ADD("/queue/list-ignores-foreign", test_list_ignores_foreign);
  ADD("/queue/slices", test_slices);
  ADD("/queue/claim", test_claim);
  ADD("/queue/corrupt", test_corrupt);
  ADD("/queue/no-leftovers", test_no_leftovers);
  ADD("/queue/recover-counts", test_recover_counts);
  ADD("/queue/recover-slice-and-bad", test_recover_slice_and_bad);
  ADD("/queue/shunt-unshunt", test_shunt_unshunt);
  ADD("/queue/shunt-fails-to-bad", test_shunt_fails_to_bad);
  ADD("/queue/recover-in-shunt", test_recover_in_shunt);
  return g_test_run();
}
