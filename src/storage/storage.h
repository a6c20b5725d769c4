/* The database: domains, mailing lists and their settings, users,
 * addresses, members and preferences.
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
  MM_STORE_ERROR_SCHEMA,    /* the file's schema is newer than this build */
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
 * foreign keys and a busy timeout, and migrates it forward to the current
 * schema version.  Returns the store (transfer full) or NULL with @error. */
MmStore *mm_store_open(const char *path, MmStoreFlags flags, GError **error);
void mm_store_close(MmStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmStore, mm_store_close)

/* The schema version of the open database (the newest migration applied). */
int mm_store_schema_version(MmStore *store);

/* Transactions: a CLI command or a runner step that makes several changes
 * wraps them so that a failure leaves nothing half-written.  begin takes
 * the write lock at once (BEGIN IMMEDIATE).  Nesting is not supported. */
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

/* Adds a domain.  EXISTS if it is there, INVALID for a bad name. */
gboolean mm_store_domain_add(MmStore *store, const char *mail_host,
                             const char *description, const char *alias_domain,
                             GError **error);
/* Returns the domain (transfer full) or NULL with NOT_FOUND. */
MmDomain *mm_store_domain_get(MmStore *store, const char *mail_host,
                              GError **error);
/* All domains sorted by mail_host: a GPtrArray of MmDomain (transfer
 * full, with free func).  NULL only with @error. */
GPtrArray *mm_store_domains(MmStore *store, GError **error);
/* Removes a domain and, with it, its lists. */
gboolean mm_store_domain_remove(MmStore *store, const char *mail_host,
                                GError **error);
/* Sets or (with NULL) clears the alias domain. */
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
   * `mailman conf`-like dumps need no per-field code). */
  GHashTable *settings; /* char* -> char*, owned */
} MmList;

void mm_list_free(MmList *list);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmList, mm_list_free)

/* A setting of @list as text, or NULL for an unknown name.  Borrowed. */
const char *mm_list_setting(const MmList *list, const char *name);

/* Creates list @list_name@@mail_host with Mailman 3's legacy-default style.
 * The domain must exist (NOT_FOUND otherwise); the name is validated
 * against @listname_chars (a regexp character class such as "[-_.0-9a-z]").
 * Returns the new list (transfer full) or NULL with @error. */
MmList *mm_store_list_create(MmStore *store, const char *list_name,
                             const char *mail_host, const char *listname_chars,
                             GError **error);

/* Looks a list up by fqdn ("name@host") or list-id ("name.host"),
 * case-insensitively.  NULL with NOT_FOUND when there is none. */
MmList *mm_store_list_get(MmStore *store, const char *spec, GError **error);

/* All lists sorted by fqdn listname; GPtrArray of MmList (transfer full). */
GPtrArray *mm_store_lists(MmStore *store, GError **error);

/* Removes a list with its members (not the users or addresses). */
gboolean mm_store_list_remove(MmStore *store, const char *list_id,
                              GError **error);

/* Sets setting @name from its text form ("yes", "40", "hold", ...), parsed
 * and checked against the setting's type; INVALID with the reason
 * otherwise, NOT_FOUND for an unknown setting.  Updates @list too. */
gboolean mm_store_list_set(MmStore *store, MmList *list, const char *name,
                           const char *value, GError **error);

/* ---- Members -------------------------------------------------------- */

typedef struct {
  char *email;        /* as given, original case */
  char *display_name; /* may be "" */
  MmMemberRole role;
  /* Effective values after preference resolution: member, then address,
   * then user, then Mailman's defaults. */
  MmDeliveryMode delivery_mode;
  MmDeliveryStatus delivery_status;
  MmAction moderation_action; /* -1 when unset (list default applies) */
} MmMember;

void mm_member_free(MmMember *member);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmMember, mm_member_free)

/* Subscribes @email to @list_id with @role.  The address (and a user for
 * it) is created if new; @display_name may be NULL.  Owners and moderators
 * get moderation_action accept, as Mailman does.  EXISTS if the address
 * already has that role on the list; INVALID for a bad address. */
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

/* Sets the member's own delivery status / mode preference. */
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

/* The members of @list_id matching @query, sorted by email, as a
 * GPtrArray of MmMember (transfer full).  One query for the whole roster,
 * whatever its size: this is what delivery reads. */
GPtrArray *mm_store_roster(MmStore *store, const char *list_id,
                           const MmRosterQuery *query, GError **error);

/* ---- Addresses, users and preferences -------------------------------- */

/* Ensures an address row (and a user owning it) exists.  Returns TRUE if
 * it exists afterwards. */
gboolean mm_store_address_ensure(MmStore *store, const char *email,
                                 const char *display_name, GError **error);

/* Marks an address verified now (or unverified with FALSE). */
gboolean mm_store_address_set_verified(MmStore *store, const char *email,
                                       gboolean verified, GError **error);
/* TRUE if the address exists and is verified. */
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
 * level down applies. */
gboolean mm_store_preference_set(MmStore *store, MmPrefLevel level,
                                 const char *email, const char *list_id,
                                 const char *name, const char *value,
                                 GError **error);

/* The effective preference for @email's membership in @list_id as text,
 * resolved member -> address -> user -> default.  Transfer full. */
char *mm_store_preference_get(MmStore *store, const char *email,
                              const char *list_id, const char *name,
                              GError **error);
