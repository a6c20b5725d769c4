/* The schema: an ordered array of forward migrations and the code that
 * applies them.
 *
 * Tables follow Mailman 3's SQLAlchemy models (mailman/model/) so that
 * a site's data maps one to one: enums are Mailman's integers, UUIDs are 32
 * hex digits, booleans 0/1.  Dates are unix seconds (Mailman stores naive
 * UTC datetimes).  Deliberate differences: Mailman's pickled columns
 * (accept_these_nonmembers, topics, ...) are not columns; migration 2
 * gives the nonmember lists a table of their own (the others follow).  member.list_id references mailinglist.list_id with
 * ON DELETE CASCADE (Mailman deletes members in Python) and triggers delete
 * the preferences row of a deleted member, address or user.
 *
 * Invariant: the version recorded in schema_version is the number of
 * migrations applied, each in one transaction with its own record, so a
 * crash leaves the file at a whole version.  A shipped migration is never
 * edited; a change is a new migration appended to the array.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "storage.h"
#include "storage-private.h"

/* Migration 1: everything the core needs to hold lists and members.
 * Setting columns are nullable and carry no defaults: the settings table in
 * storage-settings.c is the one place defaults live, applied when a list is
 * created.  A later migration that adds a setting must also set its
 * default on the lists that exist. */
static const char migration_1[] =
    "CREATE TABLE preferences ("
    "  id INTEGER PRIMARY KEY,"
    "  acknowledge_posts INTEGER,"
    "  hide_address INTEGER,"
    "  preferred_language TEXT,"
    "  receive_list_copy INTEGER,"
    "  receive_own_postings INTEGER,"
    "  delivery_mode INTEGER,"
    "  delivery_status INTEGER"
    ");"

    "CREATE TABLE domain ("
    "  id INTEGER PRIMARY KEY,"
    "  mail_host TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  alias_domain TEXT"
    ");"

    "CREATE TABLE \"user\" ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id TEXT NOT NULL UNIQUE,"
    "  display_name TEXT NOT NULL DEFAULT '',"
    "  password TEXT,"
    "  created_on INTEGER NOT NULL,"
    "  is_server_owner INTEGER NOT NULL DEFAULT 0,"
    "  preferred_address_id INTEGER REFERENCES address(id) ON DELETE SET NULL,"
    "  preferences_id INTEGER NOT NULL REFERENCES preferences(id)"
    ");"

    "CREATE TABLE address ("
    "  id INTEGER PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE,"
    "  original_email TEXT NOT NULL,"
    "  display_name TEXT NOT NULL DEFAULT '',"
    "  verified_on INTEGER,"
    "  registered_on INTEGER NOT NULL,"
    "  user_id INTEGER REFERENCES \"user\"(id) ON DELETE SET NULL,"
    "  preferences_id INTEGER NOT NULL REFERENCES preferences(id)"
    ");"
    "CREATE INDEX address_user_id ON address(user_id);"

    "CREATE TABLE domain_owner ("
    "  user_id INTEGER NOT NULL REFERENCES \"user\"(id) ON DELETE CASCADE,"
    "  domain_id INTEGER NOT NULL REFERENCES domain(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (user_id, domain_id)"
    ");"

    "CREATE TABLE mailinglist ("
    "  id INTEGER PRIMARY KEY,"
    /* identity and counters */
    "  list_name TEXT NOT NULL,"
    "  mail_host TEXT NOT NULL REFERENCES domain(mail_host) ON DELETE CASCADE,"
    "  list_id TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  next_request_id INTEGER NOT NULL DEFAULT 1,"
    "  next_digest_number INTEGER NOT NULL DEFAULT 1,"
    "  digest_last_sent_at INTEGER,"
    "  volume INTEGER NOT NULL DEFAULT 1,"
    "  last_post_at INTEGER,"
    "  post_id INTEGER NOT NULL DEFAULT 1,"
    "  usenet_watermark INTEGER,"
    "  moderator_password TEXT,"
    /* settings (storage-settings.c) */
    "  display_name TEXT,"
    "  description TEXT,"
    "  info TEXT,"
    "  subject_prefix TEXT,"
    "  preferred_language TEXT,"
    "  advertised INTEGER,"
    "  include_rfc2369_headers INTEGER,"
    "  allow_list_posts INTEGER,"
    "  anonymous_list INTEGER,"
    "  encode_ascii_prefixes INTEGER,"
    "  emergency INTEGER,"
    "  personalize INTEGER,"
    "  default_member_action INTEGER,"
    "  default_nonmember_action INTEGER,"
    "  subscription_policy INTEGER,"
    "  unsubscription_policy INTEGER,"
    "  member_roster_visibility INTEGER,"
    "  admin_immed_notify INTEGER,"
    "  admin_notify_mchanges INTEGER,"
    "  respond_to_post_requests INTEGER,"
    "  obscure_addresses INTEGER,"
    "  collapse_alternatives INTEGER,"
    "  convert_html_to_plaintext INTEGER,"
    "  filter_action INTEGER,"
    "  filter_content INTEGER,"
    "  digests_enabled INTEGER,"
    "  digest_is_default INTEGER,"
    "  digest_size_threshold REAL,"
    "  digest_send_periodic INTEGER,"
    "  digest_volume_frequency INTEGER,"
    "  dmarc_mitigate_action INTEGER,"
    "  dmarc_mitigate_unconditionally INTEGER,"
    "  dmarc_moderation_notice TEXT,"
    "  dmarc_wrapped_message_text TEXT,"
    "  linked_newsgroup TEXT,"
    "  gateway_to_news INTEGER,"
    "  gateway_to_mail INTEGER,"
    "  nntp_prefix_subject_too INTEGER,"
    "  newsgroup_moderation INTEGER,"
    "  topics_enabled INTEGER,"
    "  topics_bodylines_limit INTEGER,"
    "  scrub_nondigest INTEGER,"
    "  archive_rendering_mode INTEGER,"
    "  forward_unrecognized_bounces_to INTEGER,"
    "  process_bounces INTEGER,"
    "  bounce_score_threshold INTEGER,"
    "  bounce_info_stale_after INTEGER,"
    "  bounce_you_are_disabled_warnings INTEGER,"
    "  bounce_you_are_disabled_warnings_interval INTEGER,"
    "  bounce_notify_owner_on_bounce_increment INTEGER,"
    "  bounce_notify_owner_on_disable INTEGER,"
    "  bounce_notify_owner_on_removal INTEGER,"
    "  bounce_matching_headers TEXT,"
    "  autorespond_owner INTEGER,"
    "  autoresponse_owner_text TEXT,"
    "  autorespond_postings INTEGER,"
    "  autoresponse_postings_text TEXT,"
    "  autorespond_requests INTEGER,"
    "  autoresponse_request_text TEXT,"
    "  autoresponse_grace_period INTEGER,"
    "  posting_chain TEXT,"
    "  posting_pipeline TEXT,"
    "  owner_chain TEXT,"
    "  owner_pipeline TEXT,"
    "  reply_goes_to_list INTEGER,"
    "  reply_to_address TEXT,"
    "  first_strip_reply_to INTEGER,"
    "  archive_policy INTEGER,"
    "  send_welcome_message INTEGER,"
    "  send_goodbye_message INTEGER,"
    "  max_num_recipients INTEGER,"
    "  max_message_size INTEGER,"
    "  max_days_to_hold INTEGER,"
    "  require_explicit_destination INTEGER,"
    "  administrivia INTEGER,"
    "  member_moderation_notice TEXT,"
    "  nonmember_rejection_notice TEXT,"
    "  forward_auto_discards INTEGER"
    ");"
    /* The child side of the domain cascade needs an index, or removing a
     * domain scans every list. */
    "CREATE INDEX mailinglist_mail_host ON mailinglist(mail_host);"

    "CREATE TABLE member ("
    "  id INTEGER PRIMARY KEY,"
    "  member_id TEXT NOT NULL UNIQUE,"
    "  role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 4),"
    "  list_id TEXT NOT NULL"
    "    REFERENCES mailinglist(list_id) ON DELETE CASCADE,"
    "  address_id INTEGER NOT NULL REFERENCES address(id) ON DELETE CASCADE,"
    "  moderation_action INTEGER,"
    "  preferences_id INTEGER NOT NULL REFERENCES preferences(id),"
    "  bounce_score INTEGER NOT NULL DEFAULT 0,"
    "  last_bounce_received INTEGER,"
    /* Mailman's default is datetime.min; 0 (the epoch) compares the same
     * way against any real date. */
    "  last_warning_sent INTEGER NOT NULL DEFAULT 0,"
    "  total_warnings_sent INTEGER NOT NULL DEFAULT 0,"
    /* Also the index for "members of a list", which every roster read
     * uses. */
    "  UNIQUE (list_id, address_id, role)"
    ");"
    "CREATE INDEX member_address_id ON member(address_id);"

    /* Each member, address and user owns one preferences row.  Deleting
     * the owner (directly or by a cascade) deletes it. */
    "CREATE TRIGGER member_delete_preferences AFTER DELETE ON member"
    " BEGIN DELETE FROM preferences WHERE id = OLD.preferences_id; END;"
    "CREATE TRIGGER address_delete_preferences AFTER DELETE ON address"
    " BEGIN DELETE FROM preferences WHERE id = OLD.preferences_id; END;"
    "CREATE TRIGGER user_delete_preferences AFTER DELETE ON \"user\""
    " BEGIN DELETE FROM preferences WHERE id = OLD.preferences_id; END;";

/* Migration 2: what the rules and moderation need (issue 4).
 *
 * Mailman's own tables, one to one: ban (list_id NULL for a global ban;
 * "^" entries are regexps), acceptablealias, headermatch, _request (held
 * messages and held (un)subscriptions; data_hash is the token of a "data"
 * pending), pended and pendedkeyvalue (confirmation tokens and request
 * data; values JSON-encoded except the key "type"), message (the message
 * store; path is relative to messages_dir) and autoresponserecord.
 * these_nonmembers replaces the four pickled *_these_nonmembers columns of
 * Mailman's mailinglist: one row per entry, with Mailman's Action integer
 * saying which list it is in, ordered by id.
 *
 * Dates: pended.expiration_date is unix seconds; autoresponserecord's
 * date_sent is the local date "YYYY-MM-DD", as Mailman's today().
 * Everything that belongs to a list goes with it (ON DELETE CASCADE);
 * the pendings of its requests are removed by a trigger. */
static const char migration_2[] =
    "CREATE TABLE ban ("
    "  id INTEGER PRIMARY KEY,"
    "  email TEXT NOT NULL,"
    "  list_id TEXT REFERENCES mailinglist(list_id) ON DELETE CASCADE"
    ");"
    /* COALESCE: NULL is never equal to NULL, and two global bans of one
     * address must collide too. */
    "CREATE UNIQUE INDEX ban_email_list ON ban(email, COALESCE(list_id, ''));"
    "CREATE INDEX ban_list_id ON ban(list_id);"

    "CREATE TABLE acceptablealias ("
    "  id INTEGER PRIMARY KEY,"
    "  mailing_list_id INTEGER NOT NULL"
    "    REFERENCES mailinglist(id) ON DELETE CASCADE,"
    "  alias TEXT NOT NULL,"
    "  UNIQUE (mailing_list_id, alias)"
    ");"

    "CREATE TABLE these_nonmembers ("
    "  id INTEGER PRIMARY KEY,"
    "  mailing_list_id INTEGER NOT NULL"
    "    REFERENCES mailinglist(id) ON DELETE CASCADE,"
    "  action INTEGER NOT NULL CHECK (action BETWEEN 0 AND 3),"
    "  address TEXT NOT NULL,"
    "  UNIQUE (mailing_list_id, action, address)"
    ");"

    "CREATE TABLE headermatch ("
    "  id INTEGER PRIMARY KEY,"
    "  mailing_list_id INTEGER NOT NULL"
    "    REFERENCES mailinglist(id) ON DELETE CASCADE,"
    "  position INTEGER NOT NULL DEFAULT 0,"
    "  header TEXT NOT NULL,"
    "  pattern TEXT NOT NULL,"
    "  chain TEXT,"
    "  tag TEXT,"
    "  UNIQUE (mailing_list_id, header, pattern)"
    ");"
    "CREATE INDEX headermatch_position ON headermatch(mailing_list_id, position);"

    "CREATE TABLE pended ("
    "  id INTEGER PRIMARY KEY,"
    "  token TEXT NOT NULL UNIQUE,"
    "  expiration_date INTEGER NOT NULL"
    ");"
    "CREATE INDEX pended_expiration ON pended(expiration_date);"
    "CREATE TABLE pendedkeyvalue ("
    "  id INTEGER PRIMARY KEY,"
    "  \"key\" TEXT NOT NULL,"
    "  value TEXT,"
    "  pended_id INTEGER NOT NULL REFERENCES pended(id) ON DELETE CASCADE"
    ");"
    "CREATE INDEX pendedkeyvalue_pended_id ON pendedkeyvalue(pended_id);"
    "CREATE INDEX pendedkeyvalue_key_value ON pendedkeyvalue(\"key\", value);"

    "CREATE TABLE _request ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  \"key\" TEXT NOT NULL,"
    "  request_type INTEGER NOT NULL CHECK (request_type BETWEEN 1 AND 3),"
    "  data_hash TEXT,"
    "  mailing_list_id INTEGER NOT NULL"
    "    REFERENCES mailinglist(id) ON DELETE CASCADE"
    ");"
    "CREATE INDEX _request_mailing_list_id ON _request(mailing_list_id);"
    "CREATE INDEX _request_key ON _request(\"key\");"
    /* A request's data lives in a pending; it goes with the request. */
    "CREATE TRIGGER _request_delete_data AFTER DELETE ON _request"
    " WHEN OLD.data_hash IS NOT NULL"
    " BEGIN DELETE FROM pended WHERE token = OLD.data_hash; END;"

    "CREATE TABLE message ("
    "  id INTEGER PRIMARY KEY,"
    "  message_id TEXT NOT NULL UNIQUE,"
    "  message_id_hash TEXT NOT NULL,"
    "  path TEXT NOT NULL"
    ");"
    "CREATE INDEX message_id_hash ON message(message_id_hash);"

    "CREATE TABLE autoresponserecord ("
    "  id INTEGER PRIMARY KEY,"
    "  address_id INTEGER NOT NULL REFERENCES address(id) ON DELETE CASCADE,"
    "  mailing_list_id INTEGER NOT NULL"
    "    REFERENCES mailinglist(id) ON DELETE CASCADE,"
    "  response_type INTEGER NOT NULL,"
    "  date_sent TEXT NOT NULL"
    ");"
    "CREATE INDEX autoresponserecord_lookup"
    "  ON autoresponserecord(mailing_list_id, address_id, response_type,"
    "  date_sent);";

/* Migrations 3 and 4 live in their own files, beside the code that uses
 * their tables. */
extern const char mm_store_migration_3[];
extern const char mm_store_migration_4[];
extern const char mm_store_migration_5[];

static const MmMigration migrations[] = {
    {1, "domains, lists, users, addresses, members, preferences",
     migration_1},
    {2, "bans, aliases, nonmember lists, header matches, held requests, "
        "pendings, message store, autoresponses",
     migration_2},
    {3, "subscription workflows", mm_store_migration_3},
    {4, "bounce events and member bounce state", mm_store_migration_4},
    {5, "content filter lists and topics", mm_store_migration_5},
};

const MmMigration *
mm_store_migrations(gsize *n_out)
{
  *n_out = G_N_ELEMENTS(migrations);
  return migrations;
}

int
mm_store_schema_current(void)
{
  return (int)G_N_ELEMENTS(migrations);
}

/* Reads the recorded version: 0 for an empty file, -1 with @error. */
static int
schema_read_version(MmStore *store, GError **error)
{
  g_auto(MmStmt) exists = mm_store_sql_prepare(
      store,
      "SELECT count(*) FROM sqlite_master"
      " WHERE type = 'table' AND name = 'schema_version'",
      error);
  if (exists == NULL)
    return -1;
  int rc = sqlite3_step(exists);
  if (rc != SQLITE_ROW) {
    g_autofree char *context =
        g_strdup_printf("Cannot read the database %s", store->path);
    mm_store_sql_error(store, rc, context, error);
    return -1;
  }
  if (sqlite3_column_int(exists, 0) == 0)
    return 0;

  g_auto(MmStmt) stmt = mm_store_sql_prepare(
      store, "SELECT COALESCE(MAX(version), 0) FROM schema_version", error);
  if (stmt == NULL)
    return -1;
  rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    g_autofree char *context = g_strdup_printf(
        "Cannot read the schema version of %s", store->path);
    mm_store_sql_error(store, rc, context, error);
    return -1;
  }
  return sqlite3_column_int(stmt, 0);
}

static gboolean
schema_newer_error(MmStore *store, int version, GError **error)
{
  g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_SCHEMA,
              "The database %s has schema version %d, newer than the %d this "
              "program knows; run a newer version of this program",
              store->path, version, mm_store_schema_current());
  return FALSE;
}

static gboolean
schema_apply(MmStore *store, const MmMigration *migration, GError **error)
{
  char *message = NULL;
  /* Migrations are static text with several statements and no
   * parameters, which is what sqlite3_exec is for. */
  int rc = sqlite3_exec(store->db, migration->sql, NULL, NULL, &message);
  if (rc != SQLITE_OK) {
    /* The SQLite message names our own schema, not user data: it goes to
     * whoever runs the migration, who needs it to report the bug. */
    g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_FAILED,
                "Cannot upgrade the database %s to schema version %d: %s",
                store->path, migration->version,
                message != NULL ? message : sqlite3_errstr(rc));
    sqlite3_free(message);
    return FALSE;
  }
  g_auto(MmStmt) record = mm_store_sql_prepare(
      store,
      "INSERT INTO schema_version (version, description, applied_at)"
      " VALUES (?1, ?2, ?3)",
      error);
  if (record == NULL)
    return FALSE;
  sqlite3_bind_int(record, 1, migration->version);
  sqlite3_bind_text(record, 2, migration->description, -1, SQLITE_STATIC);
  sqlite3_bind_int64(record, 3, mm_store_now());
  return mm_store_sql_run(store, record, "Cannot record the schema version",
                          error);
}

gboolean
mm_store_schema_migrate(MmStore *store, GError **error)
{
  int current = mm_store_schema_current();
  int version = schema_read_version(store, error);
  if (version < 0)
    return FALSE;
  if (version > current)
    return schema_newer_error(store, version, error);
  if (version == current) {
    /* Nothing to do: reopening a current database writes nothing. */
    store->schema_version = version;
    return TRUE;
  }

  if (store->flags & MM_STORE_READ_ONLY) {
    if (version == 0)
      g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_SCHEMA,
                  "The database %s has no schema yet; start a process that "
                  "opens it read-write first",
                  store->path);
    else
      g_set_error(error, MM_STORE_ERROR, MM_STORE_ERROR_SCHEMA,
                  "The database %s has schema version %d, older than %d; "
                  "start a process that opens it read-write to upgrade it",
                  store->path, version, current);
    return FALSE;
  }

  /* Each migration in its own IMMEDIATE transaction, re-reading the
   * version under the lock: two processes starting together both see an
   * old version, and the second must not apply a migration twice. */
  const MmMigration *list;
  gsize n;
  list = mm_store_migrations(&n);
  for (gsize i = 0; i < n; i++) {
    if (!mm_store_write_begin(store, error))
      return FALSE;
    gboolean ok = mm_store_sql_exec(
        store,
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "  version INTEGER PRIMARY KEY,"
        "  description TEXT NOT NULL,"
        "  applied_at INTEGER NOT NULL)",
        "Cannot create the schema version table", error);
    if (ok) {
      version = schema_read_version(store, error);
      ok = version >= 0;
    }
    if (ok && version > current) {
      ok = schema_newer_error(store, version, error);
    } else if (ok && list[i].version > version) {
      /* Migrations are dense and ordered: the next to apply is version+1. */
      g_assert(list[i].version == version + 1);
      ok = schema_apply(store, &list[i], error);
    }
    if (!mm_store_write_end(store, ok, error))
      return FALSE;
  }
  store->schema_version = current;
  return TRUE;
}
