/* mime-delete: content filtering (mailman/handlers/mime_delete.py).
 *
 * Driven by filter_content, filter_types, pass_types, filter_extensions,
 * pass_extensions, collapse_alternatives, convert_html_to_plaintext and
 * filter_action, in Mailman's order:
 *   1. the whole message's type (or main type) in filter_types, or not in
 *      a non-empty pass_types, or its file extension filtered / not
 *      passed: the message is disposed of;
 *   2. sub-parts matching the same tests are removed, depth first; a
 *      multipart left empty goes too, and a message left empty is
 *      disposed of;
 *   3. collapse_alternatives: every multipart/alternative becomes its
 *      first alternative (the outer one too);
 *   4. a multipart with one part becomes that part (not below
 *      multipart/signed, so signatures stay valid);
 *   5. convert_html_to_plaintext: each text/html part goes through
 *      [mailman] html_to_plain_text_command and becomes text/plain;
 *   6. a two-part message whose first part is empty becomes its second;
 *   7. "X-Content-Filtered-By: Mailman/MimeDel <version>" when the number
 *      of parts changed or HTML was converted; [mailman] filter_report
 *      adds a list of what was removed.
 * Disposal follows filter_action: discard; reject (the sender is told);
 * forward (the list's owners and moderators get a copy, then discard);
 * preserve (a copy goes to the bad queue when [mailman]
 * filtered_messages_are_preservable, then discard).
 *
 * The type and extension lists are list settings holding one entry per
 * line (mm_handlers_list_strv()).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "handlers-private.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base-error.h"
#include "base-file.h"
#include "base-log.h"
#include "queue.h"

/* The HTML converter gets this long and may print this much. */
#define CONVERT_TIMEOUT_USEC (60 * G_USEC_PER_SEC)
#define CONVERT_MAX_OUTPUT (8 * 1024 * 1024)

typedef struct {
  char **filter_types, **pass_types;
  char **filter_extensions, **pass_extensions;
  GString *report;
  gboolean attach_report;
} Filter;

static void
filter_clear(Filter *filter)
{
  g_strfreev(filter->filter_types);
  g_strfreev(filter->pass_types);
  g_strfreev(filter->filter_extensions);
  g_strfreev(filter->pass_extensions);
  g_string_free(filter->report, TRUE);
}

static char **
lower_strv(char **values)
{
  for (char **v = values; *v != NULL; v++) {
    char *lower = g_ascii_strdown(*v, -1);
    g_free(*v);
    *v = lower;
  }
  return values;
}

/* The type or its main type is in @types. */
static gboolean
type_in(char **types, const char *type)
{
  const char *slash = strchr(type, '/');
  g_autofree char *main_type =
      g_strndup(type, slash != NULL ? (gsize)(slash - type) : strlen(type));
  return g_strv_contains((const char *const *)types, type) ||
         g_strv_contains((const char *const *)types, main_type);
}

/* The file name of @object (Content-Disposition filename, else
 * Content-Type name), decoded, or NULL. */
static char *
object_filename(GMimeObject *object)
{
  const char *name =
      g_mime_object_get_content_disposition_parameter(object, "filename");
  if (name == NULL)
    name = g_mime_object_get_content_type_parameter(object, "name");
  if (name == NULL || *name == '\0')
    return NULL;
  return mm_handlers_header_decode(name, NULL);
}

/* Mailman's get_file_ext(): os.path.splitext of the file name, without
 * the dot, lower-case; "" when there is none. */
static char *
file_extension(GMimeObject *object)
{
  g_autofree char *name = object_filename(object);
  if (name == NULL)
    return g_strdup("");
  const char *base = strrchr(name, '/');
  base = base != NULL ? base + 1 : name;
  while (*base == '.')
    base++;
  const char *dot = strrchr(base, '.');
  if (dot == NULL || dot[1] == '\0')
    return g_strdup("");
  return g_utf8_strdown(dot + 1, -1);
}

/* Why @object must go, or NULL to keep it (the tests of filter_parts()). */
static const char *
refusal(Filter *filter, GMimeObject *object)
{
  g_autofree char *type = mm_handlers_object_type(object);
  g_autofree char *extension = file_extension(object);

  if (type_in(filter->filter_types, type))
    return "The message's content type was explicitly disallowed";
  if (filter->pass_types[0] != NULL && !type_in(filter->pass_types, type))
    return "The message's content type was not explicitly allowed";
  if (*extension != '\0') {
    if (g_strv_contains((const char *const *)filter->filter_extensions,
                        extension))
      return "The message's file extension was explicitly disallowed";
    if (filter->pass_extensions[0] != NULL &&
        !g_strv_contains((const char *const *)filter->pass_extensions,
                         extension))
      return "The message's file extension was not explicitly allowed";
  }
  return NULL;
}

static void
report_removed(Filter *filter, GMimeObject *object)
{
  g_autofree char *type = mm_handlers_object_type(object);
  g_autofree char *name = object_filename(object);
  g_string_append_printf(filter->report, "\nContent-Type: %s\n", type);
  if (name != NULL)
    g_string_append_printf(filter->report, "    Name: %s\n", name);
  filter->attach_report = TRUE;
}

/* Removes the parts of @object that the filter refuses, depth first.
 * Returns FALSE when @object had parts and has none left. */
static gboolean
filter_parts(Filter *filter, GMimeObject *object)
{
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart *multipart = GMIME_MULTIPART(object);
    int before = g_mime_multipart_get_count(multipart);
    for (int i = 0; i < g_mime_multipart_get_count(multipart);) {
      GMimeObject *child = g_mime_multipart_get_part(multipart, i);
      gboolean keep = filter_parts(filter, child);
      if (keep && refusal(filter, child) != NULL) {
        report_removed(filter, child);
        keep = FALSE;
      }
      if (keep) {
        i++;
      } else {
        GMimeObject *removed = g_mime_multipart_remove_at(multipart, i);
        g_object_unref(removed);
        mm_handlers_multipart_changed(multipart);
      }
    }
    return !(before > 0 && g_mime_multipart_get_count(multipart) == 0);
  }
  if (GMIME_IS_MESSAGE_PART(object)) {
    /* Python sees message/rfc822 as a container of one message. */
    GMimeMessage *inner =
        g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    GMimeObject *top =
        inner != NULL ? g_mime_message_get_mime_part(inner) : NULL;
    if (top == NULL)
      return TRUE;
    gboolean keep = filter_parts(filter, top);
    if (keep && refusal(filter, top) != NULL) {
      report_removed(filter, top);
      keep = FALSE;
    }
    return keep;
  }
  return TRUE;
}

static gboolean
is_type(GMimeObject *object, const char *wanted)
{
  g_autofree char *type = mm_handlers_object_type(object);
  return g_str_equal(type, wanted);
}

static void collapse_alternatives(Filter *filter, GMimeObject *object);

static void
collapse_in_message(Filter *filter, GMimeMessagePart *part)
{
  GMimeMessage *inner = g_mime_message_part_get_message(part);
  GMimeObject *top =
      inner != NULL ? g_mime_message_get_mime_part(inner) : NULL;
  if (top == NULL)
    return;
  if (is_type(top, "multipart/alternative") && GMIME_IS_MULTIPART(top)) {
    if (g_mime_multipart_get_count(GMIME_MULTIPART(top)) == 0)
      return;
    /* The inner message keeps its headers; its body becomes the first
     * alternative. */
    GMimeObject *first = g_mime_multipart_get_part(GMIME_MULTIPART(top), 0);
    g_object_ref(first);
    mm_handlers_message_set_body(inner, first);
    g_object_unref(first);
    g_string_append(filter->report,
                    "\nA multipart/alternative part was replaced by its "
                    "first alternative.\n");
    filter->attach_report = TRUE;
  } else {
    collapse_alternatives(filter, top);
  }
}

/* Replaces each multipart/alternative below @object with its first
 * alternative (Mailman's collapse_multipart_alternatives()). */
static void
collapse_alternatives(Filter *filter, GMimeObject *object)
{
  if (GMIME_IS_MESSAGE_PART(object)) {
    collapse_in_message(filter, GMIME_MESSAGE_PART(object));
    return;
  }
  if (!GMIME_IS_MULTIPART(object))
    return;
  GMimeMultipart *multipart = GMIME_MULTIPART(object);
  for (int i = 0; i < g_mime_multipart_get_count(multipart);) {
    GMimeObject *child = g_mime_multipart_get_part(multipart, i);
    if (is_type(child, "multipart/alternative") && GMIME_IS_MULTIPART(child)) {
      GMimeMultipart *alternative = GMIME_MULTIPART(child);
      if (g_mime_multipart_get_count(alternative) == 0) {
        /* Mailman's IndexError is swallowed and the part left out. */
        GMimeObject *removed = g_mime_multipart_remove_at(multipart, i);
        g_object_unref(removed);
        mm_handlers_multipart_changed(multipart);
        continue;
      }
      GMimeObject *first = g_mime_multipart_get_part(alternative, 0);
      g_object_ref(first);
      GMimeObject *old = g_mime_multipart_replace(multipart, i, first);
      g_object_unref(old);
      g_object_unref(first);
      mm_handlers_multipart_changed(multipart);
      g_string_append(filter->report,
                      "\nA multipart/alternative part was replaced by its "
                      "first alternative.\n");
      filter->attach_report = TRUE;
    } else {
      collapse_alternatives(filter, child);
    }
    i++;
  }
}

/* Mailman's recast_multipart(): returns what should stand in @object's
 * place (a new reference). */
static GMimeObject *
recast(GMimeObject *object)
{
  if (is_type(object, "multipart/signed"))
    return g_object_ref(object);
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart *multipart = GMIME_MULTIPART(object);
    if (g_mime_multipart_get_count(multipart) == 1)
      return recast(g_mime_multipart_get_part(multipart, 0));
    for (int i = 0; i < g_mime_multipart_get_count(multipart); i++) {
      GMimeObject *child = g_mime_multipart_get_part(multipart, i);
      GMimeObject *replacement = recast(child);
      if (replacement != child) {
        GMimeObject *old = g_mime_multipart_replace(multipart, i, replacement);
        g_object_unref(old);
        mm_handlers_multipart_changed(multipart);
      }
      g_object_unref(replacement);
    }
  } else if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage *inner =
        g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    GMimeObject *top =
        inner != NULL ? g_mime_message_get_mime_part(inner) : NULL;
    if (top != NULL) {
      GMimeObject *replacement = recast(top);
      if (replacement != top)
        mm_handlers_message_set_body(inner, replacement);
      g_object_unref(replacement);
    }
  }
  return g_object_ref(object);
}

/* Python's len(list(msg.walk())). */
static guint
count_parts(GMimeObject *object)
{
  guint n = 1;
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart *multipart = GMIME_MULTIPART(object);
    for (int i = 0; i < g_mime_multipart_get_count(multipart); i++)
      n += count_parts(g_mime_multipart_get_part(multipart, i));
  } else if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage *inner =
        g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    GMimeObject *top =
        inner != NULL ? g_mime_message_get_mime_part(inner) : NULL;
    if (top != NULL)
      n += count_parts(top);
  }
  return n;
}

/* ---- HTML to text ------------------------------------------------------ */

/* Runs @argv with no input, collecting at most CONVERT_MAX_OUTPUT bytes of
 * its standard output within CONVERT_TIMEOUT_USEC.  Returns the output
 * (transfer full) or NULL with @error (failed to start, killed, non-zero
 * exit, too much output). */
static GBytes *
run_converter(char **argv, GError **error)
{
  GPid pid = 0;
  int out_fd = -1;

  if (!g_spawn_async_with_pipes(NULL, argv, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD |
                                    G_SPAWN_STDERR_TO_DEV_NULL,
                                NULL, NULL, &pid, NULL, &out_fd, NULL, error))
    return NULL;

  GByteArray *output = g_byte_array_new();
  gint64 deadline = g_get_monotonic_time() + CONVERT_TIMEOUT_USEC;
  const char *failure = NULL;
  for (;;) {
    gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0) {
      failure = "timed out";
      break;
    }
    struct pollfd pfd = {.fd = out_fd, .events = POLLIN};
    int ready = poll(&pfd, 1, (int)MIN(left / 1000 + 1, G_MAXINT));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready < 0) {
      failure = g_strerror(errno);
      break;
    }
    if (ready == 0)
      continue;
    guint8 buffer[16384];
    ssize_t n = read(out_fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      failure = g_strerror(errno);
      break;
    }
    if (n == 0)
      break;
    if (output->len + (gsize)n > CONVERT_MAX_OUTPUT) {
      failure = "too much output";
      break;
    }
    g_byte_array_append(output, buffer, (guint)n);
  }
  close(out_fd);
  if (failure != NULL)
    kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid(pid);
  if (failure == NULL && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    failure = "exited with an error";
  if (failure != NULL) {
    g_set_error(error, MM_ERROR, MM_ERROR_FAILED, "%s: %s", argv[0], failure);
    g_byte_array_unref(output);
    return NULL;
  }
  return g_byte_array_free_to_bytes(output);
}

typedef struct {
  MmHandlerContext *ctx;
  char *dir;
  guint counter;
  guint changed;
} Converter;

static void
convert_part(Converter *converter, GMimePart *part)
{
  MmHandlerContext *ctx = converter->ctx;
  const char *param =
      g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
  g_autofree char *charset =
      g_strdup(param != NULL && *param != '\0' ? param : "us-ascii");

  /* Python decodes with errors='replace'. */
  g_autoptr(GBytes) bytes = mm_handlers_part_get_bytes(part);
  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);
  g_autofree char *html = g_convert_with_fallback(
      data != NULL ? data : "", (gssize)len, "UTF-8",
      g_mime_charset_iconv_name(charset), "?", NULL, NULL, NULL);
  if (html == NULL)
    html = g_utf8_make_valid(data != NULL ? data : "", (gssize)len);

  g_autofree char *name = g_strdup_printf("%u.html", converter->counter++);
  g_autofree char *path = g_build_filename(converter->dir, name, NULL);
  g_autoptr(GError) error = NULL;
  if (!mm_file_write_atomic(path, html, strlen(html), 0600, &error)) {
    mm_log_error("error", "HTML -> text/plain: %s", error->message);
    return;
  }
  const char *command =
      mm_config_get(ctx->config, "mailman", "html_to_plain_text_command");
  if (command == NULL || *command == '\0')
    command = "/usr/bin/lynx -dump $filename";
  g_autoptr(GHashTable) vars = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_insert(vars, "filename", path);
  g_autofree char *expanded = mm_notice_template_expand(command, vars);
  g_auto(GStrv) argv = g_strsplit_set(expanded, " \t\n", -1);
  /* Python's str.split() drops empty fields. */
  guint n = 0;
  for (guint i = 0; argv[i] != NULL; i++) {
    if (*argv[i] != '\0')
      argv[n++] = argv[i];
    else
      g_free(argv[i]);
  }
  argv[n] = NULL;
  if (n == 0)
    return;

  g_autoptr(GBytes) output = run_converter(argv, &error);
  unlink(path);
  if (output == NULL) {
    mm_log_error("error", "%s: HTML -> text/plain command error: %s",
                 ctx->message_id, error->message);
    return;
  }
  gsize out_len = 0;
  const char *out_data = g_bytes_get_data(output, &out_len);
  g_autofree char *text =
      g_utf8_make_valid(out_data != NULL ? out_data : "", (gssize)out_len);
  g_mime_content_type_set_media_subtype(
      g_mime_object_get_content_type(GMIME_OBJECT(part)), "plain");
  if (!mm_handlers_part_set_text(part, text, charset))
    mm_handlers_part_set_text(part, text, "utf-8");
  converter->changed++;
}

static void
convert_html(Converter *converter, GMimeObject *object)
{
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart *multipart = GMIME_MULTIPART(object);
    for (int i = 0; i < g_mime_multipart_get_count(multipart); i++)
      convert_html(converter, g_mime_multipart_get_part(multipart, i));
  } else if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage *inner =
        g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    GMimeObject *top =
        inner != NULL ? g_mime_message_get_mime_part(inner) : NULL;
    if (top != NULL)
      convert_html(converter, top);
  } else if (GMIME_IS_PART(object) && is_type(object, "text/html")) {
    convert_part(converter, GMIME_PART(object));
  }
}

static guint
to_plaintext(MmHandlerContext *ctx, GMimeObject *top)
{
  g_autoptr(GError) error = NULL;
  Converter converter = {.ctx = ctx};
  converter.dir = g_dir_make_tmp("mm-mimedel-XXXXXX", &error);
  if (converter.dir == NULL) {
    mm_log_error("error", "HTML -> text/plain: %s", error->message);
    return 0;
  }
  convert_html(&converter, top);
  rmdir(converter.dir);
  g_free(converter.dir);
  return converter.changed;
}

/* ---- disposal ---------------------------------------------------------- */

static GPtrArray *
administrators(MmHandlerContext *ctx, GError **error)
{
  GPtrArray *emails = g_ptr_array_new_with_free_func(g_free);
  const MmMemberRole roles[] = {MM_ROLE_OWNER, MM_ROLE_MODERATOR};
  for (gsize r = 0; r < G_N_ELEMENTS(roles); r++) {
    MmRosterQuery query = {.role = roles[r]};
    g_autoptr(GPtrArray) members =
        mm_store_roster(ctx->store, ctx->list->list_id, &query, error);
    if (members == NULL) {
      g_ptr_array_unref(emails);
      return NULL;
    }
    for (guint i = 0; i < members->len; i++) {
      const MmMember *member = members->pdata[i];
      char *email = g_ascii_strdown(member->email, -1);
      if (g_ptr_array_find_with_equal_func(emails, email, g_str_equal, NULL))
        g_free(email);
      else
        g_ptr_array_add(emails, email);
    }
  }
  return emails;
}

static MmHandlerResult
dispose(MmHandlerContext *ctx, const char *why, GError **error)
{
  const char *action = mm_handlers_list_text(ctx, "filter_action");
  json_t *fwd = json_object_get(ctx->meta, "fwd_preserve");
  gboolean fwd_preserve =
      fwd == NULL || mm_handlers_meta_true(ctx->meta, "fwd_preserve");

  if (g_str_equal(action, "reject"))
    return mm_handler_reject(ctx, why);
  if (g_str_equal(action, "forward") && fwd_preserve) {
    g_autoptr(GPtrArray) admins = administrators(ctx, error);
    if (admins == NULL)
      return MM_HANDLER_FAILED;
    if (admins->len > 0) {
      g_ptr_array_add(admins, NULL);
      g_autofree char *text = g_strdup_printf(
          "The attached message was not sent to the members of the %s\n"
          "mailing list: its content did not pass the list's content\n"
          "filter.  This is the only copy left of it.\n",
          ctx->list->display_name);
      const char *site_owner =
          mm_config_get(ctx->config, "mailman", "site_owner");
      if (!mm_handlers_notice_send(
              ctx, (const char *const *)admins->pdata, site_owner,
              mm_handlers_list_text(ctx, "owner_address"),
              "Content filter notice", text, ctx->message, NULL, error))
        return MM_HANDLER_FAILED;
    }
  } else if (g_str_equal(action, "preserve") && fwd_preserve) {
    if (mm_config_get_bool(ctx->config, "mailman",
                           "filtered_messages_are_preservable")) {
      /* The copy goes to the bad queue for the site administrator. */
      g_autoptr(GBytes) bytes = mm_handlers_message_bytes(ctx->message);
      g_autofree char *id =
          mm_queue_enqueue_to(ctx->queue_root, "bad", bytes, ctx->meta, error);
      if (id == NULL)
        return MM_HANDLER_FAILED;
      mm_log_info("error", "%s preserved in file base %s", ctx->message_id,
                  id);
    }
  } else if (!g_str_equal(action, "discard") && fwd_preserve &&
             !g_str_equal(action, "forward") &&
             !g_str_equal(action, "preserve")) {
    mm_log_error("error", "%s invalid FilterAction: %s.  Treating as discard",
                 ctx->list->fqdn_listname, action);
  }
  return mm_handler_discard(ctx, why);
}

/* The raw content of a leaf part is empty (Python's get_payload() == ''). */
static gboolean
empty_leaf(GMimeObject *object)
{
  if (!GMIME_IS_PART(object))
    return FALSE;
  GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(object));
  if (content == NULL)
    return TRUE;
  GMimeStream *stream = g_mime_data_wrapper_get_stream(content);
  return stream == NULL || g_mime_stream_length(stream) == 0;
}

static void
add_report(MmHandlerContext *ctx, Filter *filter)
{
  GMimeObject *top = g_mime_message_get_mime_part(ctx->message);
  g_autofree char *report =
      g_strconcat("\n___________________________________________\n"
                  "The list's content filter removed these parts\n"
                  "from this message:\n",
                  filter->report->str, NULL);
  if (GMIME_IS_MULTIPART(top)) {
    GMimePart *part = mm_handlers_text_part_new(report, "us-ascii", NULL);
    g_mime_multipart_add(GMIME_MULTIPART(top), GMIME_OBJECT(part));
    g_object_unref(part);
    mm_handlers_multipart_changed(GMIME_MULTIPART(top));
    return;
  }
  if (!GMIME_IS_PART(top))
    return;
  const char *param = g_mime_object_get_content_type_parameter(top, "charset");
  g_autofree char *charset =
      g_strdup(param != NULL && *param != '\0' ? param : "us-ascii");
  g_autofree char *text =
      mm_handlers_part_get_text(GMIME_PART(top), charset, NULL);
  if (text == NULL)
    return;
  g_autofree char *joined = g_strconcat(
      text, g_str_has_suffix(text, "\n") || *text == '\0' ? "" : "\n", report,
      NULL);
  if (!mm_handlers_part_set_text(GMIME_PART(top), joined, charset))
    mm_handlers_part_set_text(GMIME_PART(top), joined, "utf-8");
}

MmHandlerResult
mm_handlers_mime_delete(MmHandlerContext *ctx, GError **error)
{
  if (!mm_handlers_list_bool(ctx, "filter_content") ||
      mm_handlers_meta_true(ctx->meta, "isdigest"))
    return MM_HANDLER_CONTINUE;
  GMimeObject *top = g_mime_message_get_mime_part(ctx->message);
  if (top == NULL)
    return MM_HANDLER_CONTINUE;

  Filter filter = {
      .filter_types =
          lower_strv(mm_handlers_list_strv(ctx->list, "filter_types")),
      .pass_types = lower_strv(mm_handlers_list_strv(ctx->list, "pass_types")),
      .filter_extensions =
          lower_strv(mm_handlers_list_strv(ctx->list, "filter_extensions")),
      .pass_extensions =
          lower_strv(mm_handlers_list_strv(ctx->list, "pass_extensions")),
      .report = g_string_new(NULL),
  };
  MmHandlerResult result = MM_HANDLER_CONTINUE;
  g_autofree char *outer_type = mm_handlers_object_type(top);

  const char *why = refusal(&filter, top);
  if (why != NULL) {
    result = dispose(ctx, why, error);
    goto out;
  }
  guint parts_before = count_parts(top);
  if (!filter_parts(&filter, top)) {
    result =
        dispose(ctx, "After content filtering, the message was empty", error);
    goto out;
  }
  if (mm_handlers_list_bool(ctx, "collapse_alternatives")) {
    collapse_alternatives(&filter, top);
    if (g_str_equal(outer_type, "multipart/alternative") &&
        GMIME_IS_MULTIPART(top) &&
        g_mime_multipart_get_count(GMIME_MULTIPART(top)) > 0) {
      /* Mailman does not report this one: most posts from HTML mailers
       * would carry the report otherwise. */
      GMimeObject *first = g_mime_multipart_get_part(GMIME_MULTIPART(top), 0);
      mm_handlers_message_set_body(ctx->message, first);
      top = g_mime_message_get_mime_part(ctx->message);
    }
  }
  if (GMIME_IS_MULTIPART(top) || GMIME_IS_MESSAGE_PART(top)) {
    GMimeObject *replacement = recast(top);
    if (replacement != top) {
      mm_handlers_message_set_body(ctx->message, replacement);
      top = g_mime_message_get_mime_part(ctx->message);
    }
    g_object_unref(replacement);
  }
  guint changed = count_parts(top) != parts_before ? 1 : 0;
  if (mm_handlers_list_bool(ctx, "convert_html_to_plaintext"))
    changed += to_plaintext(ctx, top);
  if (GMIME_IS_MULTIPART(top) &&
      g_mime_multipart_get_count(GMIME_MULTIPART(top)) == 2 &&
      empty_leaf(g_mime_multipart_get_part(GMIME_MULTIPART(top), 0))) {
    GMimeObject *useful = g_mime_multipart_get_part(GMIME_MULTIPART(top), 1);
    mm_handlers_message_set_body(ctx->message, useful);
    changed = 1;
  }
  if (changed > 0) {
    mm_handlers_message_ensure_mime_version(ctx->message);
    mm_handlers_header_append_raw(ctx->message, "X-Content-Filtered-By",
                                  "Mailman/MimeDel " MM_VERSION);
  }
  if (filter.attach_report &&
      mm_config_get_bool(ctx->config, "mailman", "filter_report"))
    add_report(ctx, &filter);
out:
  filter_clear(&filter);
  return result;
}
