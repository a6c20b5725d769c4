/* MTA hook-up: what the mail server needs to know about our lists.
 *
 * Mailman 3 (mailman/mta/postfix.py, exim4.py, null.py, aliases.py) tells
 * the MTA which addresses are list addresses by writing map files that the
 * MTA reads; the MTA then hands exactly those recipients to our LMTP server
 * and refuses every other address of the list domains at RCPT time.  This
 * module owns
 *   - the file formats (pure functions from arrays of lists and domains to
 *     file contents, so they are testable without a database):
 *     Postfix postfix_lmtp / postfix_domains / postfix_vmap byte for byte as
 *     Mailman 3 writes them (hash or regex keys), the Exim lsearch files
 *     exim_lists / exim_domains and the Sendmail sendmail_mailertable /
 *     sendmail_access / sendmail_domains (ours: Mailman 3 writes none);
 *   - mm_mta_regenerate(): the one entry point that rewrites the selected
 *     MTA's files atomically under the $lock_dir/mta lock and rebuilds the
 *     MTA's indexed maps (postmap, makemap);
 *   - mm_mta_recipient_resolve(): "is this address one of our lists?", the
 *     rule of Mailman 3's LMTP runner, the one implementation of it, used
 *     by the LMTP server and the socketmap server;
 *   - mm_mta_lmtp_nexthop(): how Postfix names our LMTP server;
 *   - the Postfix socketmap server (live lookups, no files at all).
 * It deliberately does not decide when to regenerate (callers do: `mailman
 * aliases`, `genaliases`, `start`, list and domain creation and removal),
 * nor does it remove a list's data directory when a list is deleted (the
 * list lifecycle code does that, as Mailman's remove_list does).
 *
 * Invariant: a map file under its final name is always complete (written
 * through base-file.h), and a .db beside it is rebuilt before
 * mm_mta_regenerate() reports success.
 *
 * docs/mta.md is the site administrator's page for all of this.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "config.h"
#include "storage.h"

#define MM_MTA_ERROR (mm_mta_error_quark())
GQuark mm_mta_error_quark(void);

typedef enum {
  MM_MTA_ERROR_CONFIG,   /* a setting this module reads is missing or bad */
  MM_MTA_ERROR_COMMAND,  /* postmap / makemap failed; message has its stderr */
} MmMtaError;

/* ---- Addresses of a list ------------------------------------------------ */

/* Number of addresses a list has at one domain: the posting address and
 * the eight subaddresses. */
#define MM_MTA_LIST_ADDRESS_COUNT 9

/* The subaddress words, sorted ("bounces", "confirm", "join", "leave",
 * "owner", "request", "subscribe", "unsubscribe"), NULL-terminated.
 * Static storage. */
const char *const *mm_mta_subaddresses(void);

/* The nine addresses of list @list_name at @domain in Mailman 3's order:
 * "name@domain", then "name-SUB@domain" for each subaddress above.
 * Returns a NULL-terminated vector (transfer full). */
char **mm_mta_list_addresses(const char *list_name, const char *domain);

/* The domain under which the MTA sees list addresses of @mail_host: the
 * domain's alias_domain when @domains (GPtrArray of MmDomain) has one for
 * it, else @mail_host itself.  Borrowed from @domains or @mail_host. */
const char *mm_mta_effective_domain(const GPtrArray *domains,
                                    const char *mail_host);

/* ---- File contents (pure) ------------------------------------------------ *
 *
 * Every builder takes @lists, a GPtrArray of MmList (only list_name and
 * mail_host are read; any order), @domains, a GPtrArray of MmDomain (only
 * mail_host and alias_domain are read; may be NULL for "no alias domains"),
 * and @now, the time written into the header comment (converted to UTC and
 * printed as Mailman does, "2005-08-01 07:49:23").  Each returns a new
 * GString (transfer full); none fails. */

/* The Postfix next-hop of our LMTP server, the value of every postfix_lmtp
 * entry and of the socketmap's transport answers:
 *   - "lmtp:unix:/path" when @lmtp_host names a Unix socket, as the LMTP
 *     server accepts it ("unix:/path", or any value starting with "/");
 *     @lmtp_port is then ignored;
 *   - else "lmtp:[HOST]:PORT" (Mailman 3's form; an IPv6 literal written
 *     "[::1]" keeps one pair of brackets).
 * Transfer full. */
char *mm_mta_lmtp_nexthop(const char *lmtp_host, guint lmtp_port);

/* postfix_lmtp, the transport map (also used as local_recipient_maps).
 * Lists are grouped by effective domain (sorted), sorted by list name
 * within a group; each list contributes its nine addresses in the
 * effective domain, the key left-justified to (longest address + dots in
 * the posting address + 10) columns and followed by
 * mm_mta_lmtp_nexthop(@lmtp_host, @lmtp_port), then a blank line.  With @regex the keys
 * are anchored regular expressions ("/^name@example\.com$/", and
 * "/^name-bounces(\+.*)?@example\.com$/" for -bounces and -confirm, which
 * carry VERP/cookie extensions); column widths are computed on the plain
 * addresses, exactly as Mailman 3 does.  Unlike Mailman, every regular
 * expression metacharacter a list name may contain is escaped, not just
 * dots, and at least one space always separates key and value. */
GString *mm_mta_postfix_transport(const GPtrArray *lists,
                                  const GPtrArray *domains,
                                  const char *lmtp_host, guint lmtp_port,
                                  gboolean regex, GDateTime *now);

/* postfix_domains, for relay_domains: one line "EFFECTIVE MAIL_HOST" per
 * distinct mail_host that has at least one list, sorted by mail_host, then
 * a blank line.  With @regex the key is "/^effective\.domain$/". */
GString *mm_mta_postfix_domains(const GPtrArray *lists,
                                const GPtrArray *domains, gboolean regex,
                                GDateTime *now);

/* postfix_vmap, for virtual_alias_maps: for each list whose domain has an
 * alias_domain, its nine addresses at mail_host mapped to the same
 * addresses at the alias domain, grouped by mail_host (sorted), lists
 * sorted by name, key width (longest local part + length of mail_host +
 * 14).  Returns NULL when no list's domain has an alias domain: then the
 * file must not exist (Mailman removes it). */
GString *mm_mta_postfix_vmap(const GPtrArray *lists, const GPtrArray *domains,
                             gboolean regex, GDateTime *now);

/* exim_lists, an Exim lsearch file: "ADDRESS: LIST_ID" for the nine
 * addresses of every list at its mail_host and, when the domain has an
 * alias domain, at the alias domain too (the LMTP server accepts both).
 * Lists sorted by mail_host then name, a blank line after each. */
GString *mm_mta_exim_lists(const GPtrArray *lists, const GPtrArray *domains,
                           GDateTime *now);

/* exim_domains, an Exim lsearch file usable as a domain list
 * ("lsearch;FILE"): "DOMAIN: MAIL_HOST" for every mail_host with a list and
 * its alias domain, sorted. */
GString *mm_mta_exim_domains(const GPtrArray *lists, const GPtrArray *domains,
                             GDateTime *now);

/* sendmail_mailertable, for FEATURE(`mailertable'): "DOMAIN
 * mailman3:[@lmtp_host]" for every domain of exim_domains, sorted. */
GString *mm_mta_sendmail_mailertable(const GPtrArray *lists,
                                     const GPtrArray *domains,
                                     const char *lmtp_host, GDateTime *now);

/* sendmail_access, for the access map with FEATURE(`blocklist_recipients'):
 * "To:ADDRESS OK" for every address of exim_lists (Sendmail's own +detail
 * handling covers VERP forms), then, per domain, "To:DOMAIN
 * ERROR:5.1.1:550 ..." so that every other address is refused at RCPT. */
GString *mm_mta_sendmail_access(const GPtrArray *lists,
                                const GPtrArray *domains, GDateTime *now);

/* sendmail_domains, a class file for RELAY_DOMAIN_FILE: one domain per
 * line, the domains of exim_domains, and nothing else (no header comment:
 * Sendmail would read every word of a class file as a domain). */
GString *mm_mta_sendmail_domains(const GPtrArray *lists,
                                 const GPtrArray *domains, GDateTime *now);

/* ---- Regeneration --------------------------------------------------------- */

/* Rewrites every file of the MTA selected by `[mta] incoming` in
 * @directory (NULL: the layout's data_dir, created if missing), under the
 * lock $lock_dir/mta (waiting for it), from the lists and domains in
 * @store:
 *   Postfix   postfix_lmtp, postfix_domains, postfix_vmap (or removes it),
 *             then, when `[postfix] transport_file_type` is hash, runs
 *             `[postfix] postmap_command FILE` on each;
 *   Exim 4    exim_lists, exim_domains (read live by lsearch: no rebuild);
 *   Sendmail  sendmail_mailertable, sendmail_access, sendmail_domains, then
 *             `[sendmail] makemap_command FILE < FILE` on the first two
 *             when that key is set;
 *   Null      nothing.
 * For every MTA but Null it also creates the data directory
 * $list_data_dir/<list_id> of every list that lacks one (Mailman 3's Exim
 * recipe tests for it) and removes empty directories there whose name is
 * no list's id (see docs/mta.md for why only empty ones).
 * Commands run without a shell (the command line is split as a shell would,
 * then executed directly).  Returns FALSE with @error on the first failure:
 * MM_MTA_ERROR_COMMAND names the file and quotes the command's stderr;
 * MM_ERROR_* from base for file and lock errors; MM_STORE_ERROR_* from the
 * database.  Files written before a failing command stay written. */
gboolean mm_mta_regenerate(const MmConfig *config, MmStore *store,
                           const char *directory, GError **error);

/* Runs the map-building command line @command (split like a shell would:
 * quotes allowed, no expansion) with @path appended as its last argument.
 * With @stdin_from_path, the file @path is also its standard input (what
 * makemap wants).  Standard output is discarded, standard error kept (at
 * most 8 KiB) for the message.  Returns FALSE with MM_MTA_ERROR_COMMAND
 * when the command cannot be started, is killed, exits non-zero or runs
 * longer than @timeout_sec. */
gboolean mm_mta_run_map_command(const char *command, const char *path,
                                gboolean stdin_from_path, guint timeout_sec,
                                GError **error);

/* ---- Recipient resolution --------------------------------------------------- *
 *
 * "Is this address one of our lists, and which of its addresses?"  The one
 * implementation of Mailman 3's rule (mailman/runners/lmtp.py,
 * split_recipient() and the RCPT handler), used by the LMTP server for RCPT
 * and by the socketmap server for every Postfix lookup, so that Postfix and
 * the LMTP server can never disagree about an address.  The rule is pure:
 * the database is reached through an MmMtaDirectory, so it is tested
 * without one (test-mta-recipient.c, and the LMTP tests through it). */

/* Mailman 3's canonical subaddresses. */
typedef enum {
  MM_MTA_SUB_NONE, /* the posting address */
  MM_MTA_SUB_BOUNCES,
  MM_MTA_SUB_CONFIRM,
  MM_MTA_SUB_JOIN,
  MM_MTA_SUB_LEAVE,
  MM_MTA_SUB_OWNER,
  MM_MTA_SUB_REQUEST,
} MmMtaSubaddress;

/* The canonical name ("bounces", "join", ...; NULL for NONE).  Static. */
const char *mm_mta_subaddress_name(MmMtaSubaddress sub);

/* The subaddress a suffix word names, "subscribe" and "unsubscribe"
 * included (JOIN, LEAVE); case-sensitive (callers lower-case first); NONE
 * for any other word. */
MmMtaSubaddress mm_mta_subaddress_parse(const char *word);

/* The storage-free part of Mailman's split_recipient(). */
typedef struct {
  char *local;    /* local part after the VERP cut */
  char *listname; /* local, or the part before "-SUBADDRESS" */
  char *suffix;   /* the subaddress word as written, NULL if none */
  MmMtaSubaddress subaddress;
  char *domain;   /* lower-cased, not yet validated */
} MmMtaAddress;

/* Lower-cases @address, splits it at the first "@", cuts the local part at
 * the first @verp_delimiter (NULL or "" for no cut), then splits it at the
 * last "-" when the word after it is a subaddress and both sides are
 * non-empty.  Refuses control bytes, blanks, non-ASCII, an empty local part
 * or domain with MM_ERROR_INVALID.  Fills @out (every string transfer
 * full; release with mm_mta_address_clear()); @out is zeroed on failure. */
gboolean mm_mta_address_split(const char *address, const char *verp_delimiter,
                              MmMtaAddress *out, GError **error);
void mm_mta_address_clear(MmMtaAddress *address);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(MmMtaAddress, mm_mta_address_clear)

/* What resolution needs from the database.  Both callbacks return FALSE
 * with @error only when the lookup itself failed. */
typedef struct {
  /* *@host_out = the mail_host of the domain whose alias_domain is @domain
   * (folded), transfer full, or NULL when no domain has that alias. */
  gboolean (*alias_host)(gpointer data, const char *domain, char **host_out,
                         GError **error);
  /* *@list_id_out = the list-id of list @fqdn ("name@host", folded and
   * validated), transfer full, or NULL when there is no such list. */
  gboolean (*list_find)(gpointer data, const char *fqdn, char **list_id_out,
                        GError **error);
  gpointer data;
} MmMtaDirectory;

typedef struct {
  char *list_id;         /* "name.mail_host" */
  char *posting_address; /* "name@mail_host" (never the alias domain) */
  MmMtaSubaddress subaddress;
} MmMtaRecipient;

void mm_mta_recipient_free(MmMtaRecipient *recipient);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmMtaRecipient, mm_mta_recipient_free)

/* Mailman's rule: split @address (above); validate and fold the domain; a
 * domain that is some domain's alias_domain stands for that domain; prefer
 * a list literally named "NAME-SUFFIX" (lists named like "foo-owner" get
 * their own mail) over list NAME with a subaddress; validate each candidate
 * name against @listname_chars ([mailman] listname_chars; a name that fails
 * is never looked up) and look it up in @directory.  Returns the recipient
 * (transfer full), or NULL with MM_ERROR_INVALID (not an address any list
 * could have), MM_ERROR_NOT_FOUND (no such list) or the error a lookup
 * returned (our trouble: answer "try again later"). */
MmMtaRecipient *mm_mta_recipient_resolve_with(const char *address,
                                              const char *verp_delimiter,
                                              const char *listname_chars,
                                              const MmMtaDirectory *directory,
                                              GError **error);

/* The same with @store (borrowed) as the directory.  A store error is
 * returned as is (MM_STORE_ERROR). */
MmMtaRecipient *mm_mta_recipient_resolve(MmStore *store, const char *address,
                                         const char *verp_delimiter,
                                         const char *listname_chars,
                                         GError **error);

/* TRUE when @error (from a resolve above) means "no list has this
 * address", FALSE when the lookup failed. */
gboolean mm_mta_recipient_error_is_not_list(const GError *error);

/* ---- Postfix socketmap server --------------------------------------------- *
 *
 * Answers Postfix's socketmap(5) lookups (transport_maps =
 * socketmap:inet:127.0.0.1:PORT:transport, and the maps below) from the
 * database at each query, so a new list is reachable the moment it is
 * committed, without regeneration or postmap.  Protocol: each request is a
 * netstring "LEN:NAME KEY," (LEN at most 100000, the limit Postfix itself
 * enforces); each reply a netstring "OK VALUE", "NOTFOUND ", "TEMP REASON"
 * or "PERM REASON".  Map names:
 *   transport   list addresses, subaddresses and their +extension / VERP
 *               forms, at the mail_host or the alias domain ->
 *               mm_mta_lmtp_nexthop() ("lmtp:[lmtp_host]:lmtp_port" or
 *               "lmtp:unix:/path"); anything else (including bare
 *               domains, which Postfix also asks) NOTFOUND;
 *   recipients  the same keys -> the list's posting address (for
 *               local_recipient_maps or relay_recipient_maps);
 *   domains     as postfix_domains (relay_domains): the alias domain of a
 *               domain that has one, else its mail_host -> the mail_host;
 *               unlike the file, also for domains that have no list yet;
 *   virtual     for domains with an alias domain, an address of a list at
 *               its mail_host -> the same address at the alias domain
 *               (virtual_alias_maps, as postfix_vmap).
 * An unknown map name gets PERM; a malformed netstring gets "PERM" and the
 * connection is closed; a database failure gets TEMP.  Limits: 64
 * connections (more are closed at once), 60 s idle, 10 s to finish a
 * request once begun. */

typedef struct MmMtaSocketmap MmMtaSocketmap;

/* TRUE when `[mta] socketmap_host` is set and non-empty and either names
 * a Unix socket (absolute path) or `socketmap_port` is set and not 0. */
gboolean mm_mta_socketmap_configured(const MmConfig *config);

/* Creates a server from the configuration: listens on [mta]
 * socketmap_host:socketmap_port (an IPv4 or IPv6 literal or a host name,
 * or an absolute path for a Unix socket, then socketmap_port is ignored),
 * answers with [mta] lmtp_host / lmtp_port, verp_delimiter and [mailman]
 * listname_chars (so it accepts exactly what the LMTP server accepts), and
 * opens the database read-only.  Returns NULL with MM_MTA_ERROR_CONFIG when not
 * configured or malformed, or with the store's error. */
MmMtaSocketmap *mm_mta_socketmap_new(const MmConfig *config, GError **error);

/* Same, with every input explicit: @store is borrowed and must outlive the
 * server (the LMTP runner may pass its own read-only store); @listen_host
 * as above, @listen_port 0 picks a free port (see
 * mm_mta_socketmap_get_port()); @verp_delimiter NULL means "+",
 * @listname_chars NULL the default "[-_.0-9a-z]". */
MmMtaSocketmap *mm_mta_socketmap_new_full(MmStore *store,
                                          const char *listen_host,
                                          guint listen_port,
                                          const char *lmtp_host,
                                          guint lmtp_port,
                                          const char *verp_delimiter,
                                          const char *listname_chars,
                                          GError **error);

/* Binds and listens, then serves on @context (NULL: the global default
 * context) whenever that context is iterated, e.g. by a GMainLoop.  Returns
 * FALSE with a GIO error if the address cannot be bound. */
gboolean mm_mta_socketmap_start(MmMtaSocketmap *server, GMainContext *context,
                                GError **error);

/* The TCP port listened on after a successful start (0 for a Unix
 * socket). */
guint mm_mta_socketmap_get_port(const MmMtaSocketmap *server);

/* Closes the listener and every connection and frees the server (and the
 * store it opened itself).  Call from the thread that runs @context. */
void mm_mta_socketmap_free(MmMtaSocketmap *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmMtaSocketmap, mm_mta_socketmap_free)
