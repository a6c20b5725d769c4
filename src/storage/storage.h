/* The database: domains, mailing lists and their settings, users,
 * addresses, members and preferences; and what moderation keeps (bans,
 * list-valued settings, header matches, the moderator password, pendings,
 * held requests, the message store, automatic-response records).
 *
 * This header is the whole boundary.  Callers never see SQL or sqlite3
 * types; the SQLite implementation lives in storage-*.c and a PostgreSQL one
 * can later sit behind the same functions (MmStore is opaque; every call
 * takes it and returns plain C structs or GPtrArrays of them).
 *
 * Every name that reaches the database was validated first (base-address.h):
 * list names against listname_chars, domains against RFC 5321, addresses
 * against Mailman's rules; all case-folded.  The originally-cased address is
 * kept for display, as Mailman does.
 *
 * Errors: MM_STORE_ERROR with the codes below; the message is fit for a
 * person (it names the list or address) and never contains SQL.
 *
 * Lists are named by a "list spec" wherever a parameter is called
 * @list_id: either the list-id "name.host" or the fqdn "name@host", in any
 * case.  Text forms of settings and preferences: booleans are written
 * "True"/"False" (as Mailman's REST API shows them) and accepted as any of
 * yes/no, true/false, on/off, 1/0; enums by Mailman's names ("hold",
 * "confirm_then_moderate", "mime_digests"); intervals as "7d", "1d12h";
 * floats as "30.0"; dates as "2024-05-01T12:00:00" (UTC); unset as "".
 *
 * The store is one SQLite connection: use it from one thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#define MM_STORE_ERROR (mm_store_error_quark())
GQuark mm_store_error_quark(void);

typedef enum {
  MM_STORE_ERROR_FAILED,    /* the database said no; message says why */
  MM_STORE_ERROR_BUSY,      /* locked longer than the busy timeout */
  MM_STORE_ERROR_INVALID,   /* a bad name, address or setting value */
  MM_STORE_ERROR_NOT_FOUND, /* no such domain, list, address or member */
  MM_STORE_ERROR_EXISTS,    /* already there */
  MM_STORE_ERROR_SCHEMA,    /* the file's schema is newer than this build,
                             * or (read-only) missing or older */
} MmStoreError;

/* Enumerations keep Mailman 3's integer values (they are stored). */
typedef enum {
  MM_ROLE_MEMBER = 1,
  MM_ROLE_OWNER = 2,
  MM_ROLE_MODERATOR = 3,
  MM_ROLE_NONMEMBER = 4,
} MmMemberRole;

typedef enum {
  MM_DELIVERY_REGULAR = 1,
  MM_DELIVERY_PLAINTEXT_DIGESTS = 2,
  MM_DELIVERY_MIME_DIGESTS = 3,
  MM_DELIVERY_SUMMARY_DIGESTS = 4,
} MmDeliveryMode;

typedef enum {
  MM_STATUS_ENABLED = 1,
  MM_STATUS_BY_USER = 2,
  MM_STATUS_BY_BOUNCES = 3,
  MM_STATUS_BY_MODERATOR = 4,
  MM_STATUS_UNKNOWN = 5,
} MmDeliveryStatus;

typedef enum {
  /* Not stored: "no action of its own" (a member's moderation_action is
   * NULL, so the list's default_member_action applies).  Also makes the
   * enum signed, so that -1 compares as -1. */
  MM_ACTION_UNSET = -1,
  MM_ACTION_HOLD = 0,
  MM_ACTION_REJECT = 1,
  MM_ACTION_DISCARD = 2,
  MM_ACTION_ACCEPT = 3,
  MM_ACTION_DEFER = 4,
} MmAction;

typedef struct MmStore MmStore;

typedef enum {
  MM_STORE_READ_WRITE = 0,
  /* For processes that only look things up (the LMTP runner): opens the
   * file read-only and never migrates; fails if the schema is not current. */
  MM_STORE_READ_ONLY = 1 << 0,
} MmStoreFlags;

/* Opens (creating if needed) the SQLite database at @path with WAL,
 * foreign keys and a busy timeout (5 s), and migrates it forward to the
 * current schema version; reopening a current database writes nothing.
 * With MM_STORE_READ_ONLY the file must exist and be current (SCHEMA
 * otherwise), and every write fails with FAILED.  Returns the store
 * (transfer full) or NULL with @error: SCHEMA for a database newer than
 * this build, BUSY if another process holds the lock through the timeout,
 * FAILED for a file that cannot be opened or is not a database. */
MmStore *mm_store_open(const char *path, MmStoreFlags flags, GError **error);
void mm_store_close(MmStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmStore, mm_store_close)

/* The schema version of the open database (the newest migration applied). */
int mm_store_schema_version(MmStore *store);

/* Transactions: a CLI command or a runner step that makes several changes
 * wraps them so that a failure leaves nothing half-written.  begin takes
 * the write lock at once (BEGIN IMMEDIATE); BUSY if it cannot.  Nesting is
 * not supported (begin fails with FAILED).  Without a transaction, each
 * write function is its own; inside one, a write function that fails
 * undoes only its own changes (a savepoint) and the transaction goes on.
 * A failed commit rolls back.  Keep transactions short: they hold the lock
 * every other writer waits for. */
gboolean mm_store_begin(MmStore *store, GError **error);
gboolean mm_store_commit(MmStore *store, GError **error);
void mm_store_rollback(MmStore *store);

/* ---- Domains ------------------------------------------------------- */

typedef struct {
  char *mail_host;    /* lower-case */
  char *description;  /* may be "" */
  char *alias_domain; /* NULL when none */
} MmDomain;

void mm_domain_free(MmDomain *domain);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmDomain, mm_domain_free)

/* Adds a domain (@description may be NULL for "", @alias_domain NULL for
 * none).  EXISTS if it is there, INVALID for a bad name or a description
 * with line breaks. */
gboolean mm_store_domain_add(MmStore *store, const char *mail_host,
                             const char *description, const char *alias_domain,
                             GError **error);
/* Returns the domain (transfer full) or NULL with NOT_FOUND. */
MmDomain *mm_store_domain_get(MmStore *store, const char *mail_host,
                              GError **error);
/* All domains sorted by mail_host: a GPtrArray of MmDomain (transfer
 * full, with free func).  NULL only with @error. */
GPtrArray *mm_store_domains(MmStore *store, GError **error);
/* Removes a domain and, with it, its lists and their members.
 * NOT_FOUND if there is no such domain. */
gboolean mm_store_domain_remove(MmStore *store, const char *mail_host,
                                GError **error);
/* Sets or (with NULL) clears the alias domain.  NOT_FOUND for an unknown
 * domain. */
gboolean mm_store_domain_set_alias(MmStore *store, const char *mail_host,
                                   const char *alias_domain, GError **error);

/* ---- Mailing lists -------------------------------------------------- */

/* A list and its settings.  Identity fields are read-only; settings are
 * changed with mm_store_list_set().  The settings with their Mailman 3
 * names, types and defaults are one table in storage-settings.c; the
 * struct carries the ones the core reads often as typed fields. */
typedef struct {
  gint64 id;
  char *list_name;  /* lower-case local part */
  char *mail_host;  /* lower-case domain */
  char *list_id;    /* "name.host" */
  char *fqdn_listname; /* "name@host" */
  char *display_name;
  char *description;
  char *subject_prefix;
  char *preferred_language;
  gboolean advertised;
  gint64 created_at; /* unix seconds */
  gint64 post_id;
  /* Every setting by Mailman name as text, including the above (so REST and
   * `mailman conf`-like dumps need no per-field code), the read-only
   * counters and dates, and the derived addresses (fqdn_listname,
   * posting_address, owner_address, request_address, bounces_address,
   * join_address, leave_address). */
  GHashTable *settings; /* char* -> char*, owned */
} MmList;

void mm_list_free(MmList *list);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmList, mm_list_free)

/* A setting of @list as text ("" when unset), or NULL for an unknown
 * name.  Borrowed from @list. */
const char *mm_list_setting(const MmList *list, const char *name);

/* Creates list @list_name@@mail_host with Mailman 3's legacy-default style.
 * The domain must exist (NOT_FOUND otherwise); the name is validated
 * against @listname_chars (a regexp character class such as "[-_.0-9a-z]";
 * NULL for that default) and folded.  display_name becomes the capitalized
 * name ("Test") and subject_prefix "[Test] ".  Returns the new list
 * (transfer full) or NULL with @error: INVALID, NOT_FOUND (domain), EXISTS
 * (also when another list has the same list-id, as a.b@example.com and
 * a@b.example.com would). */
MmList *mm_store_list_create(MmStore *store, const char *list_name,
                             const char *mail_host, const char *listname_chars,
                             GError **error);

/* Looks a list up by fqdn ("name@host") or list-id ("name.host"),
 * case-insensitively.  NULL with NOT_FOUND when there is none, INVALID for
 * a spec no list could have. */
MmList *mm_store_list_get(MmStore *store, const char *spec, GError **error);

/* All lists sorted by fqdn listname; GPtrArray of MmList (transfer full). */
GPtrArray *mm_store_lists(MmStore *store, GError **error);

/* Removes a list with its members and their member-level preferences
 * (not the users or addresses).  NOT_FOUND if there is no such list. */
gboolean mm_store_list_remove(MmStore *store, const char *list_id,
                              GError **error);

/* Sets setting @name from its text form ("yes", "40", "hold", ...), parsed
 * and checked against the setting's type; INVALID with the reason
 * otherwise (also for a read-only setting), NOT_FOUND for an unknown
 * setting.  Updates @list too (its settings and typed fields). */
gboolean mm_store_list_set(MmStore *store, MmList *list, const char *name,
                           const char *value, GError **error);

/* Counts a post to @list_id as Mailman's after-delivery handler does: the
 * list's post_id is incremented and last_post_at set to now.  The post id
 * this post had (the value before the increment, the one a "%d" subject
 * prefix shows) goes to @post_id_out.  NOT_FOUND if the list is gone. */
gboolean mm_store_list_note_post(MmStore *store, const char *list_id,
                                 gint64 *post_id_out, GError **error);

/* ---- Members -------------------------------------------------------- */

typedef struct {
  char *email;        /* as given, original case */
  char *display_name; /* may be "" */
  MmMemberRole role;
  /* Effective values after preference resolution: member, then address,
   * then user, then Mailman's defaults. */
  MmDeliveryMode delivery_mode;
  MmDeliveryStatus delivery_status;
  MmAction moderation_action; /* MM_ACTION_UNSET (-1) when unset: the
                               * list's default_member_action applies */
  char *preferred_language;   /* NULL when no level sets one: the list's
                               * applies */
} MmMember;

void mm_member_free(MmMember *member);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmMember, mm_member_free)

/* Subscribes @email to @list_id with @role.  The address (and a user for
 * it) is created if new, keeping @email's spelling for display;
 * @display_name may be NULL (an existing address keeps its name).  @mode
 * becomes the member's own delivery mode; 0 sets none, so the address's or
 * user's applies.  Owners and moderators get moderation_action accept, as
 * Mailman does.  EXISTS if the address already has that role on the list;
 * NOT_FOUND for an unknown list; INVALID for a bad address, role, mode or
 * a display name with line breaks. */
gboolean mm_store_member_add(MmStore *store, const char *list_id,
                             const char *email, const char *display_name,
                             MmMemberRole role, MmDeliveryMode mode,
                             GError **error);

/* Unsubscribes; NOT_FOUND if @email has no @role on the list. */
gboolean mm_store_member_remove(MmStore *store, const char *list_id,
                                const char *email, MmMemberRole role,
                                GError **error);

/* One member, or NULL with NOT_FOUND. */
MmMember *mm_store_member_get(MmStore *store, const char *list_id,
                              const char *email, MmMemberRole role,
                              GError **error);

/* Sets the member's own delivery status / mode preference (its membership
 * with role member).  NOT_FOUND if there is none. */
gboolean mm_store_member_set_delivery_status(MmStore *store,
                                             const char *list_id,
                                             const char *email,
                                             MmDeliveryStatus status,
                                             GError **error);
gboolean mm_store_member_set_delivery_mode(MmStore *store, const char *list_id,
                                           const char *email,
                                           MmDeliveryMode mode,
                                           GError **error);

/* Filters for mm_store_roster(); zero fields mean "any". */
typedef struct {
  MmMemberRole role;             /* 0: every role */
  MmDeliveryMode delivery_mode;  /* 0: any */
  gboolean digest_only;          /* any of the digest modes */
  MmDeliveryStatus delivery_status; /* 0: any */
  gboolean disabled_only;        /* any status but enabled */
} MmRosterQuery;

/* The members of @list_id matching @query (NULL: everyone), sorted by
 * folded email, as a GPtrArray of MmMember (transfer full; empty when no
 * one matches).  One query for the whole roster, whatever its size: this
 * is what delivery reads.  NOT_FOUND for an unknown list. */
GPtrArray *mm_store_roster(MmStore *store, const char *list_id,
                           const MmRosterQuery *query, GError **error);

/* ---- Addresses, users and preferences -------------------------------- */

/* Ensures an address row (and a user owning it) exists.  Returns TRUE if
 * it exists afterwards; INVALID for a bad address or display name. */
gboolean mm_store_address_ensure(MmStore *store, const char *email,
                                 const char *display_name, GError **error);

/* Marks an address verified now (or unverified with FALSE).  NOT_FOUND
 * for an unknown address. */
gboolean mm_store_address_set_verified(MmStore *store, const char *email,
                                       gboolean verified, GError **error);
/* TRUE if the address exists and is verified (FALSE for anything else,
 * including an invalid address or a database error). */
gboolean mm_store_address_is_verified(MmStore *store, const char *email);

/* Preference levels for mm_store_preference_set(). */
typedef enum {
  MM_PREF_LEVEL_ADDRESS,
  MM_PREF_LEVEL_USER, /* the user owning the address */
  MM_PREF_LEVEL_MEMBER,
} MmPrefLevel;

/* Sets preference @name (acknowledge_posts, hide_address,
 * preferred_language, receive_list_copy, receive_own_postings,
 * delivery_mode, delivery_status) at @level for @email (and, for the member
 * level, its membership in @list_id with role member).  @value is text
 * ("yes", "regular", "by_user", "en"); NULL clears it so that the next
 * level down applies.  @list_id is used for the member level only.
 * NOT_FOUND for an unknown preference, address or membership; INVALID for
 * a bad value. */
gboolean mm_store_preference_set(MmStore *store, MmPrefLevel level,
                                 const char *email, const char *list_id,
                                 const char *name, const char *value,
                                 GError **error);

/* The effective preference for @email's membership (role member) in
 * @list_id as text, resolved member -> address -> user -> default (for
 * preferred_language: then the list's language).  With @list_id NULL,
 * resolves address -> user -> default.  Transfer full; NULL with NOT_FOUND
 * for an unknown preference or address, or if @email is not a member. */
char *mm_store_preference_get(MmStore *store, const char *email,
                              const char *list_id, const char *name,
                              GError **error);

/* Sets @email's moderation_action in its membership with @role on
 * @list_id (MM_ACTION_UNSET clears it, so the list's default applies).
 * NOT_FOUND if there is no such membership; INVALID for a bad action. */
gboolean mm_store_member_set_moderation_action(MmStore *store,
                                               const char *list_id,
                                               const char *email,
                                               MmMemberRole role,
                                               MmAction action,
                                               GError **error);

/* The member (role member) a post from @email belongs to, as Mailman's
 * moderation rules find it: @email's own membership, else the membership
 * of any other address of the user owning @email.  Returns the member
 * (transfer full; its email is the subscribed address) or NULL: with
 * NOT_FOUND when there is none, another code on failure. */
MmMember *mm_store_member_find_for_sender(MmStore *store, const char *list_id,
                                          const char *email, GError **error);

/* ---- Rules and moderation: list-valued settings ---------------------- */

/* The list-valued settings Mailman keeps pickled or in side tables, by
 * Mailman's attribute name: "accept_these_nonmembers",
 * "hold_these_nonmembers", "reject_these_nonmembers",
 * "discard_these_nonmembers" (addresses or "^regexp" entries, kept as
 * written, in insertion order) and "acceptable_aliases" (addresses or
 * "^regexp" entries, lower-cased as Mailman does; an entry must start with
 * '^' or contain '@').  Returns the entries (GPtrArray of char*, transfer
 * full; empty when none); NOT_FOUND for an unknown list or name. */
GPtrArray *mm_store_list_strings(MmStore *store, const char *list_id,
                                 const char *name, GError **error);
/* Appends @value; EXISTS if it is there, INVALID for an empty value, a
 * line break, or an alias that is neither "^..." nor contains '@'. */
gboolean mm_store_list_strings_add(MmStore *store, const char *list_id,
                                   const char *name, const char *value,
                                   GError **error);
/* Removes @value; NOT_FOUND if it is not there. */
gboolean mm_store_list_strings_remove(MmStore *store, const char *list_id,
                                      const char *name, const char *value,
                                      GError **error);

/* One of a list's header_matches (Mailman's headermatch table). */
typedef struct {
  int position;  /* 0, 1, ... in the order they are checked */
  char *header;  /* lower-case field name */
  char *pattern; /* a regexp, searched case-insensitively */
  char *chain;   /* chain to jump to, NULL: [antispam] jump_chain */
  char *tag;     /* NULL when none */
} MmHeaderMatch;

void mm_header_match_free(MmHeaderMatch *match);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmHeaderMatch, mm_header_match_free)

/* The list's header matches ordered by position (GPtrArray of
 * MmHeaderMatch, transfer full).  NOT_FOUND for an unknown list. */
GPtrArray *mm_store_header_matches(MmStore *store, const char *list_id,
                                   GError **error);
/* Appends a header match after the last one.  @chain and @tag may be NULL.
 * EXISTS when the list has this header and pattern already (as Mailman's
 * "Pattern already exists"); INVALID for an empty header or pattern. */
gboolean mm_store_header_match_add(MmStore *store, const char *list_id,
                                   const char *header, const char *pattern,
                                   const char *chain, const char *tag,
                                   GError **error);
/* Removes one and renumbers the rest; NOT_FOUND if there is no such one. */
gboolean mm_store_header_match_remove(MmStore *store, const char *list_id,
                                      const char *header, const char *pattern,
                                      GError **error);

/* ---- Bans ------------------------------------------------------------- */

/* Bans @email on @list_id, or site-wide when @list_id is NULL.  An entry
 * starting with '^' is a regexp matched case-insensitively at the start of
 * the address; any other entry is an address, stored lower-cased.  Banning
 * twice is not an error (as Mailman).  INVALID for an empty entry or a
 * line break, NOT_FOUND for an unknown list. */
gboolean mm_store_ban_add(MmStore *store, const char *list_id,
                          const char *email, GError **error);
/* Lifts a ban; not being banned is not an error. */
gboolean mm_store_ban_remove(MmStore *store, const char *list_id,
                             const char *email, GError **error);
/* The bans of @list_id (NULL: the global ones), sorted (GPtrArray of
 * char*, transfer full). */
GPtrArray *mm_store_bans(MmStore *store, const char *list_id, GError **error);
/* Mailman's IBanManager.is_banned for the lower-cased address @email:
 * the list's exact bans, the global exact bans, the list's patterns, the
 * global patterns (@list_id NULL: the global ones only).  A pattern that
 * does not compile never matches.  Sets @banned_out; FALSE only with
 * @error (a database failure). */
gboolean mm_store_ban_check(MmStore *store, const char *list_id,
                            const char *email, gboolean *banned_out,
                            GError **error);

/* ---- The moderator password ------------------------------------------ */

/* Sets the list's moderator password (stored as a sha512-crypt hash,
 * "$6$rounds=656000$salt$...", the scheme and rounds of Mailman's passlib
 * default), or clears it with NULL.  NOT_FOUND for an unknown list,
 * INVALID for an empty password or one with line breaks or NULs. */
gboolean mm_store_list_set_moderator_password(MmStore *store,
                                              const char *list_id,
                                              const char *password,
                                              GError **error);
/* TRUE if the list has a moderator password. */
gboolean mm_store_list_has_moderator_password(MmStore *store,
                                              const char *list_id);
/* Checks @password against the list's stored hash (sha512-crypt or
 * sha256-crypt, as passlib writes them).  Sets @valid_out (FALSE also when
 * the list has no password).  FALSE only with @error. */
gboolean mm_store_list_verify_moderator_password(MmStore *store,
                                                 const char *list_id,
                                                 const char *password,
                                                 gboolean *valid_out,
                                                 GError **error);

/* ---- Pendings (confirmation tokens) ---------------------------------- */

/* A key -> value table for pendings and request data: values are JSON
 * texts (the caller encodes and decodes them), except "type", a plain
 * string, as in Mailman's pendedkeyvalue table.  char* -> char*. */

/* Pends @values (a GHashTable of char* -> char*, JSON texts; may be NULL)
 * with type @type ("held message", "data", ...) for @lifetime_sec seconds.
 * Returns the new token, 40 lower-case hex digits from the system's random
 * source (transfer full), or NULL with @error. */
char *mm_store_pending_add(MmStore *store, const char *type,
                           GHashTable *values, gint64 lifetime_sec,
                           GError **error);
/* The values of @token with "type" among them (a new GHashTable, char* ->
 * char*), or NULL with NOT_FOUND for an unknown or expired token.  With
 * @expunge the pending is deleted as well (Mailman's confirm()). */
GHashTable *mm_store_pending_get(MmStore *store, const char *token,
                                 gboolean expunge, GError **error);
/* Deletes a pending; an unknown token is not an error. */
gboolean mm_store_pending_delete(MmStore *store, const char *token,
                                 GError **error);
/* Tokens of the live pendings of @type whose key @key has the JSON value
 * @json_value (either may be NULL for "any"), oldest first (GPtrArray of
 * char*, transfer full). */
GPtrArray *mm_store_pending_find(MmStore *store, const char *type,
                                 const char *key, const char *json_value,
                                 GError **error);
/* Deletes every pending whose expiration date is before @now_sec.
 * Returns the number deleted, or -1 with @error. */
gint64 mm_store_pending_evict(MmStore *store, gint64 now_sec, GError **error);

/* ---- Held requests ---------------------------------------------------- */

/* Mailman's RequestType values. */
typedef enum {
  MM_REQUEST_HELD_MESSAGE = 1,
  MM_REQUEST_SUBSCRIPTION = 2,
  MM_REQUEST_UNSUBSCRIPTION = 3,
} MmRequestType;

typedef struct {
  gint64 id;          /* site-wide, as Mailman's request ids */
  MmRequestType type;
  char *key;          /* a held message's Message-ID, an address, ... */
  char *list_id;
  GHashTable *data;   /* char* -> char* (JSON texts) incl. "type"; empty
                       * when the request has no data */
} MmRequest;

void mm_request_free(MmRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmRequest, mm_request_free)

/* Holds a request on @list_id (Mailman's ListRequests.hold_request): its
 * @data (char* -> char* JSON texts; may be NULL) is pended as type "data"
 * for @lifetime_sec (moderator_request_life).  Returns the new request id
 * (> 0), or 0 with @error (NOT_FOUND for an unknown list). */
gint64 mm_store_request_add(MmStore *store, const char *list_id,
                            MmRequestType type, const char *key,
                            GHashTable *data, gint64 lifetime_sec,
                            GError **error);
/* Request @id of @list_id, or NULL with NOT_FOUND when there is no such
 * request on that list or its data has expired. */
MmRequest *mm_store_request_get(MmStore *store, const char *list_id,
                                gint64 id, GError **error);
/* The live requests of @list_id of @type (0: every type), by id
 * (GPtrArray of MmRequest, transfer full). */
GPtrArray *mm_store_requests(MmStore *store, const char *list_id,
                             MmRequestType type, GError **error);
/* The id of the request of @type on @list_id whose key is @key, or 0
 * (with no error) when there is none; -1 with @error. */
gint64 mm_store_request_find(MmStore *store, const char *list_id,
                             MmRequestType type, const char *key,
                             GError **error);
/* Deletes request @id and its data.  NOT_FOUND if there is none. */
gboolean mm_store_request_delete(MmStore *store, gint64 id, GError **error);
/* Deletes the requests whose data pending has gone (expired and evicted),
 * as Mailman's task runner does.  Returns how many, -1 with @error. */
gint64 mm_store_request_evict_orphans(MmStore *store, GError **error);

/* ---- The message store ------------------------------------------------ */

/* Stores @raw under @message_id (the Message-ID field value as written)
 * with its @message_id_hash (mm_message_id_hash()) in a file below
 * @messages_dir ("AB/CD/<hash>", Mailman's layout; raw bytes instead of a
 * pickle), written atomically and durably before the row is added.  If
 * the Message-ID is stored already the existing copy is kept and
 * @added_out (may be NULL) is FALSE.  FALSE with @error on failure. */
gboolean mm_store_message_add(MmStore *store, const char *messages_dir,
                              const char *message_id,
                              const char *message_id_hash, GBytes *raw,
                              gboolean *added_out, GError **error);
/* The bytes stored for @message_id (transfer full), or NULL with
 * NOT_FOUND (also when the file has gone, in which case the row is
 * dropped, as Mailman does).  Files over 64 MiB are refused. */
GBytes *mm_store_message_get(MmStore *store, const char *messages_dir,
                             const char *message_id, GError **error);
/* Deletes the row and the file; an unknown Message-ID is not an error. */
gboolean mm_store_message_delete(MmStore *store, const char *messages_dir,
                                 const char *message_id, GError **error);
/* Deletes stored messages that no held-message request refers to
 * (Mailman's task runner).  Returns how many, -1 with @error. */
gint64 mm_store_message_evict_orphans(MmStore *store,
                                      const char *messages_dir,
                                      GError **error);

/* ---- Automatic responses ---------------------------------------------- */

/* Mailman's Response values (autoresponserecord.response_type). */
typedef enum {
  MM_RESPONSE_HOLD = 1,
  MM_RESPONSE_COMMAND = 2,
  MM_RESPONSE_OWNER = 3,
  MM_RESPONSE_POSTINGS = 4,
} MmResponseType;

/* How many responses of @type @list_id sent @email today (local date).
 * -1 with @error. */
gint64 mm_store_autoresponse_count_today(MmStore *store, const char *list_id,
                                         const char *email,
                                         MmResponseType type, GError **error);
/* The date ("YYYY-MM-DD", local) of the latest response of @type that
 * @list_id sent @email, in *@date_out (transfer full), NULL when none.
 * FALSE with @error. */
gboolean mm_store_autoresponse_last(MmStore *store, const char *list_id,
                                    const char *email, MmResponseType type,
                                    char **date_out, GError **error);
/* Records one response sent today (the address is created if new). */
gboolean mm_store_autoresponse_record(MmStore *store, const char *list_id,
                                      const char *email, MmResponseType type,
                                      GError **error);
