/* The schema: every section, key, type and default this project knows, in
 * one table, and the value types that check them.
 *
 * The defaults are exactly what Mailman 3.3.8 computes from its
 * mailman/config/schema.cfg with its built-in mailman/config/mailman.cfg
 * pushed on top (rows of that overlay carry MM_SCHEMA_OVERLAY), plus the
 * [postfix] and [exim4] sections of mailman/config/postfix.cfg and
 * exim4.cfg, which Mailman reads from `[mta] configuration` instead.  A value
 * here is what Mailman's RawConfigParser yields, so a multi-line default
 * whose first line is empty starts with "\n".  Defaults live only here; no
 * other file spells one.
 *
 * The types follow how Mailman interprets each key when it uses it
 * (lazr.config's as_boolean / as_timedelta / as_log_level, int(), and the
 * few enumerations it checks); Mailman checks late, we check at load.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config-private.h"
#include "base-log.h"

#include <string.h>

#define SECTION(name, flags)                                                  \
  {(name), NULL, MM_CONFIG_TYPE_STRING, NULL, 0, 0, NULL, (flags), NULL}
#define STR(s, k, v, help)                                                    \
  {(s), (k), MM_CONFIG_TYPE_STRING, (v), 0, 0, NULL, 0, (help)}
#define PATHV(s, k, v, help)                                                  \
  {(s), (k), MM_CONFIG_TYPE_PATH, (v), 0, 0, NULL, 0, (help)}
#define BOOL(s, k, v, help)                                                   \
  {(s), (k), MM_CONFIG_TYPE_BOOL, (v), 0, 0, NULL, 0, (help)}
#define INT(s, k, v, lo, hi, flags, help)                                     \
  {(s), (k), MM_CONFIG_TYPE_INT, (v), (lo), (hi), NULL, (flags), (help)}
#define DUR(s, k, v, help)                                                    \
  {(s), (k), MM_CONFIG_TYPE_DURATION, (v), 0, 0, NULL, 0, (help)}
#define LEVEL(s, k, v, help)                                                  \
  {(s), (k), MM_CONFIG_TYPE_LOGLEVEL, (v), 0, 0, NULL, 0, (help)}
#define ENUM(s, k, v, choices, flags, help)                                   \
  {(s), (k), MM_CONFIG_TYPE_ENUM, (v), 0, 0, (choices), (flags), (help)}
/* A different default for a key the section's template declares. */
#define SET(s, k, v) {(s), (k), MM_CONFIG_TYPE_STRING, (v), 0, 0, NULL, 0, NULL}


/* A predefined language: schema.cfg gives each its name and utf-8. */
#define LANG(code, name)                                                      \
  SECTION("language." code, 0), SET("language." code, "description", name),  \
      SET("language." code, "charset", "utf-8")

/* A runner section of the built-in mailman.cfg. */
#define RUNNER(name, klass)                                                   \
  SECTION("runner." name, MM_SCHEMA_OVERLAY),                                 \
      SET("runner." name, "class", klass)

static const MmConfigSchemaRow schema_rows[] = {
    /* ---- [mailman] ---- */
    SECTION("mailman", 0),
    STR("mailman", "site_owner", "changeme@example.com",
        "address of the human who runs this site; gets mail nobody else can"),
    STR("mailman", "noreply_address", "noreply",
        "local part of the From address of mail that takes no replies"),
    STR("mailman", "default_language", "en",
        "language code used when nothing more specific applies"),
    STR("mailman", "sender_headers", "from from_ reply-to sender",
        "headers, in order, that name a post's senders (from_ = envelope)"),
    STR("mailman", "anonymous_list_keep_headers",
        "^x-mailman- ^x-content-filtered-by: ^x-topics:\n"
        "^x-ack: ^x-beenthere: ^x-list-administrivia: ^x-spam-",
        "regexps of X- headers that survive on anonymous lists"),
    INT("mailman", "email_commands_max_lines", "10", 0, G_MAXINT32, 0,
        "body lines scanned for email commands"),
    DUR("mailman", "pending_request_life", "3d",
        "how long a confirmation token stays valid"),
    DUR("mailman", "moderator_request_life", "180d",
        "how long requests waiting for a moderator are kept"),
    DUR("mailman", "cache_life", "7d", "how long cached files are kept"),
    DUR("mailman", "run_tasks_every", "1h",
        "interval of the task runner's housekeeping"),
    STR("mailman", "layout", "here", "which [paths.NAME] section to use"),
    BOOL("mailman", "filtered_messages_are_preservable", "no",
         "whether list owners may preserve content-filtered messages"),
    STR("mailman", "html_to_plain_text_command",
        "/usr/bin/lynx -dump $filename",
        "command converting HTML to text; $filename is its input"),
    BOOL("mailman", "filter_report", "no",
         "append a note of what content filtering removed"),
    /* Ours (RFC 8058): one-click unsubscription needs an https URL. */
    BOOL("mailman", "list_unsubscribe_post", "yes",
         "add RFC 8058 List-Unsubscribe-Post when list_unsubscribe_url is set"),
    STR("mailman", "list_unsubscribe_url", "",
        "https: one-click unsubscription URL template ($list_id, ...)"),
    STR("mailman", "listname_chars", "[-_.0-9a-z]",
        "regexp character class of characters allowed in list names"),
    BOOL("mailman", "hold_digest", "no",
         "hold posts that quote a digest's subject or masthead"),
    INT("mailman", "masthead_threshold", "4", 0, G_MAXINT32, 0,
        "masthead lines a post must quote to count as quoting a digest"),
    BOOL("mailman", "check_max_size_on_filtered_message", "no",
         "check the size limit after content filtering, not before"),
    STR("mailman", "pre_hook", "", "deprecated and ignored"),
    STR("mailman", "post_hook", "", "deprecated and ignored"),

    /* ---- [plugin.master] ---- */
    SECTION("plugin.master", 0),
    STR("plugin.master", "class", "", "Python class of the plugin"),
    BOOL("plugin.master", "enabled", "no", "whether the plugin is loaded"),
    STR("plugin.master", "configuration", "",
        "the plugin's own configuration file"),
    STR("plugin.master", "component_package", "",
        "Python package searched for the plugin's components"),

    /* ---- [shell] ---- */
    SECTION("shell", 0),
    STR("shell", "prompt", ">>>", "prompt of `mailman shell`"),
    STR("shell", "banner",
        /* Python Mailman's greeting; ours says what the key is. */
        "The interactive shell of Python Mailman; this server has none.",
        "text printed when `mailman shell` starts"),
    STR("shell", "use_ipython", "no", "no, yes or debug"),
    STR("shell", "history_file", "", "readline history file of the shell"),

    /* ---- [paths.master] and the layouts ---- */
    SECTION("paths.master", 0),
    PATHV("paths.master", "var_dir", "/var/tmp/mailman",
          "root of Mailman's run-time data"),
    PATHV("paths.master", "queue_dir", "$var_dir/queue",
          "queue directories of the runners"),
    PATHV("paths.master", "bin_dir", "$argv",
          "directory of the runner and master programs"),
    PATHV("paths.master", "list_data_dir", "$var_dir/lists",
          "per-list data, one directory per list id"),
    PATHV("paths.master", "log_dir", "$var_dir/logs", "log files"),
    PATHV("paths.master", "lock_dir", "$var_dir/locks", "lock files"),
    PATHV("paths.master", "data_dir", "$var_dir/data",
          "site data: the database, MTA maps"),
    PATHV("paths.master", "cache_dir", "$var_dir/cache", "cached files"),
    PATHV("paths.master", "etc_dir", "$var_dir/etc", "configuration files"),
    PATHV("paths.master", "ext_dir", "$var_dir/ext", "extensions"),
    PATHV("paths.master", "messages_dir", "$var_dir/messages",
          "the message store"),
    PATHV("paths.master", "archive_dir", "$var_dir/archives",
          "archivers' files"),
    PATHV("paths.master", "template_dir", "$var_dir/templates",
          "site template overrides"),
    PATHV("paths.master", "pid_file", "$var_dir/master.pid",
          "pid file of the master"),
    PATHV("paths.master", "lock_file", "$lock_dir/master.lck",
          "lock held by the running master"),

    SECTION("paths.local", MM_SCHEMA_OVERLAY),
    SECTION("paths.dev", MM_SCHEMA_OVERLAY),
    SET("paths.dev", "var_dir", "$cfg_file/../.."),
    SECTION("paths.here", MM_SCHEMA_OVERLAY),
    SET("paths.here", "var_dir", "$cwd/var"),
    SECTION("paths.fhs", MM_SCHEMA_OVERLAY),
    SET("paths.fhs", "bin_dir", "/sbin"),
    SET("paths.fhs", "var_dir", "/var/lib/mailman"),
    SET("paths.fhs", "queue_dir", "/var/spool/mailman"),
    SET("paths.fhs", "log_dir", "/var/log/mailman"),
    SET("paths.fhs", "lock_dir", "/var/lock/mailman"),
    SET("paths.fhs", "etc_dir", "/etc"),
    SET("paths.fhs", "ext_dir", "/etc/mailman.d"),
    SET("paths.fhs", "pid_file", "/var/run/mailman/master.pid"),

    /* ---- [devmode] ---- */
    SECTION("devmode", 0),
    BOOL("devmode", "enabled", "no",
         "developer mode: every delivery goes to `recipient`"),
    STR("devmode", "recipient", "",
        "the address that receives all mail in developer mode"),
    BOOL("devmode", "testing", "no", "set by test suites"),
    DUR("devmode", "wait", "60s", "how long tests wait for subprocesses"),

    /* ---- [passwords] ---- */
    SECTION("passwords", 0),
    STR("passwords", "configuration", "python:mailman.config.passlib",
        "password hashing configuration"),
    INT("passwords", "password_length", "8", 0, G_MAXINT32, 0,
        "length of generated passwords"),

    /* ---- [runner.master] and the runners ---- */
    SECTION("runner.master", 0),
    STR("runner.master", "class", "mailman.core.runner.Runner",
        "which runner this section starts"),
    PATHV("runner.master", "path", "$QUEUE_DIR/$name",
          "queue directory the runner scans; empty for non-queue runners"),
    INT("runner.master", "instances", "1", 1, 1 << 20, MM_SCHEMA_POW2,
        "parallel processes, each with a slice of the queue; a power of 2"),
    BOOL("runner.master", "start", "yes",
         "whether `mailman start` runs it"),
    INT("runner.master", "max_restarts", "10", 0, G_MAXINT32, 0,
        "how often the master restarts it after a crash"),
    DUR("runner.master", "sleep_time", "1s",
        "pause between scans of the queue"),

    RUNNER("archive", "mailman.runners.archive.ArchiveRunner"),
    RUNNER("bad", "mailman.runners.fake.BadRunner"),
    SET("runner.bad", "start", "no"),
    RUNNER("bounces", "mailman.runners.bounce.BounceRunner"),
    SET("runner.bounces", "sleep_time", "2m"),
    RUNNER("command", "mailman.runners.command.CommandRunner"),
    RUNNER("in", "mailman.runners.incoming.IncomingRunner"),
    RUNNER("lmtp", "mailman.runners.lmtp.LMTPRunner"),
    SET("runner.lmtp", "path", ""),
    RUNNER("nntp", "mailman.runners.nntp.NNTPRunner"),
    RUNNER("out", "mailman.runners.outgoing.OutgoingRunner"),
    RUNNER("pipeline", "mailman.runners.pipeline.PipelineRunner"),
    RUNNER("rest", "mailman.runners.rest.RESTRunner"),
    SET("runner.rest", "path", ""),
    RUNNER("retry", "mailman.runners.retry.RetryRunner"),
    SET("runner.retry", "sleep_time", "15m"),
    RUNNER("shunt", "mailman.runners.fake.ShuntRunner"),
    SET("runner.shunt", "start", "no"),
    RUNNER("task", "mailman.runners.task.TaskRunner"),
    SET("runner.task", "sleep_time", "1m"),
    SET("runner.task", "path", ""),
    RUNNER("virgin", "mailman.runners.virgin.VirginRunner"),
    RUNNER("digest", "mailman.runners.digest.DigestRunner"),

    /* ---- [database] ---- */
    SECTION("database", 0),
    STR("database", "class", "mailman.database.sqlite.SQLiteDatabase",
        "database driver"),
    STR("database", "url", "sqlite:///$DATA_DIR/mailman.db",
        "database URL; $UPPER_CASE path variables are expanded"),
    BOOL("database", "debug", "no", "log every SQL statement"),

    /* ---- [logging.template] and the loggers ---- */
    SECTION("logging.template", 0),
    STR("logging.template", "format", "%(asctime)s (%(process)d) %(message)s",
        "Python logging format of a line"),
    STR("logging.template", "datefmt", "%b %d %H:%M:%S %Y",
        "strftime format of the time stamp"),
    BOOL("logging.template", "propagate", "no",
         "also pass lines to the root logger (stderr)"),
    LEVEL("logging.template", "level", "info",
          "lowest level written: debug, info, warning, error, critical"),
    STR("logging.template", "path", "mailman.log",
        "log file, relative to log_dir unless absolute"),

    SECTION("logging.root", 0),
    SECTION("logging.archiver", 0),
    SECTION("logging.bounce", 0),
    SET("logging.bounce", "path", "bounce.log"),
    SECTION("logging.config", 0),
    SECTION("logging.database", 0),
    SET("logging.database", "level", "warn"),
    SECTION("logging.debug", 0),
    SET("logging.debug", "path", "debug.log"),
    SET("logging.debug", "level", "info"),
    SECTION("logging.error", 0),
    SECTION("logging.fromusenet", 0),
    SECTION("logging.http", 0),
    SET("logging.http", "format",
        "%(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\""),
    SECTION("logging.locks", 0),
    SECTION("logging.mischief", 0),
    SECTION("logging.plugins", 0),
    SET("logging.plugins", "path", "plugins.log"),
    SECTION("logging.runner", 0),
    SECTION("logging.smtp", 0),
    SET("logging.smtp", "path", "smtp.log"),
    STR("logging.smtp", "every",
        "$msgid smtp to $listname for $recip recips, completed in $time "
        "seconds",
        "line logged per delivered message; no disables it"),
    STR("logging.smtp", "success",
        "$msgid post to $listname from $sender, $size bytes",
        "line logged per successful delivery; no disables it"),
    STR("logging.smtp", "refused",
        "$msgid post to $listname from $sender, $size bytes, $refused "
        "failures",
        "line logged per delivery with refused recipients; no disables it"),
    STR("logging.smtp", "failure",
        "$msgid delivery to $recip failed with code $smtpcode, $smtpmsg",
        "line logged per failed recipient; no disables it"),
    SECTION("logging.subscribe", 0),
    SECTION("logging.task", 0),
    SECTION("logging.vette", 0),

    /* ---- [webservice] ---- */
    SECTION("webservice", 0),
    STR("webservice", "hostname", "localhost",
        "address the REST API listens on, and host of its links"),
    INT("webservice", "port", "8001", 0, 65535, 0, "port of the REST API"),
    BOOL("webservice", "use_https", "no", "write https links (no TLS here)"),
    BOOL("webservice", "show_tracebacks", "yes", "kept for compatibility"),
    STR("webservice", "api_version", "3.1", "newest REST API version"),
    STR("webservice", "admin_user", "restadmin", "REST API user name"),
    STR("webservice", "admin_pass", "restpass", "REST API password"),
    INT("webservice", "workers", "2", 1, 1024, 0,
        "worker processes of the REST server"),
    STR("webservice", "configuration", "python:mailman.config.gunicorn",
        "the web server's own configuration file"),

    /* ---- [language.master] and the languages ---- */
    SECTION("language.master", 0),
    STR("language.master", "description", "English (USA)",
        "name of the language in English"),
    STR("language.master", "charset", "us-ascii",
        "character set of mail in this language"),
    BOOL("language.master", "enabled", "yes",
         "whether lists may use the language"),
    LANG("ar", "Arabic"),
    LANG("ast", "Asturian"),
    LANG("bg", "Bulgarian"),
    LANG("ca", "Catalan"),
    LANG("cs", "Czech"),
    LANG("da", "Danish"),
    LANG("de", "German"),
    LANG("el", "Greek"),
    LANG("es", "Spanish"),
    LANG("et", "Estonian"),
    LANG("eu", "Euskara"),
    LANG("fi", "Finnish"),
    LANG("fr", "French"),
    LANG("gl", "Galician"),
    LANG("he", "Hebrew"),
    LANG("hr", "Croatian"),
    LANG("hu", "Hungarian"),
    LANG("ia", "Interlingua"),
    LANG("it", "Italian"),
    LANG("ja", "Japanese"),
    LANG("ko", "Korean"),
    LANG("lt", "Lithuanian"),
    LANG("nl", "Dutch"),
    LANG("no", "Norwegian"),
    LANG("pl", "Polish"),
    LANG("pt", "Portuguese"),
    LANG("pt_BR", "Portuguese (Brazil)"),
    LANG("ro", "Romanian"),
    LANG("ru", "Russian"),
    LANG("sk", "Slovak"),
    LANG("sl", "Slovenian"),
    LANG("sr", "Serbian"),
    LANG("sv", "Swedish"),
    LANG("tr", "Turkish"),
    LANG("uk", "Ukrainian"),
    LANG("vi", "Vietnamese"),
    LANG("zh_CN", "Chinese"),
    LANG("zh_TW", "Chinese (Taiwan)"),
    /* English keeps the template's values (mailman.cfg declares it). */
    SECTION("language.en", MM_SCHEMA_OVERLAY),

    /* ---- [ARC] ---- */
    SECTION("ARC", 0),
    BOOL("ARC", "enabled", "no", "sign and check ARC headers"),
    BOOL("ARC", "dmarc", "yes", "do DMARC checks for ARC"),
    BOOL("ARC", "dkim", "yes", "do DKIM checks for ARC"),
    STR("ARC", "authserv_id", "",
        "this server's name in Authentication-Results"),
    STR("ARC", "trusted_authserv_ids", "",
        "comma-separated servers whose Authentication-Results we trust"),
    STR("ARC", "privkey", "", "PEM file of the signing key"),
    STR("ARC", "selector", "", "DKIM selector of the signing key"),
    STR("ARC", "domain", "", "DKIM domain of the signing key"),
    STR("ARC", "sig_headers",
        "From, Sender, Reply-To, Subject, Date, Message-ID, To, Cc, "
        "MIME-Version, Content-Type, Content-Transfer-Encoding, Content-ID, "
        "Content-Description, Resent-Date, Resent-From, Resent-Sender, "
        "Resent-To, Resent-Cc, Resent-Message-ID, In-Reply-To, References, "
        "List-Id, List-Help, List-Unsubscribe, List-Subscribe, List-Post, "
        "List-Owner, List-Archive",
        "comma-separated headers covered by the signature; must name From"),

    /* ---- [antispam] ---- */
    SECTION("antispam", 0),
    STR("antispam", "header_checks", "",
        "one `Header: regexp` per line; a match sends the post to jump_chain"),
    STR("antispam", "jump_chain", "hold",
        "chain taken when a header check matches"),

    /* ---- [mta] ---- */
    SECTION("mta", 0),
    ENUM("mta", "incoming", "mailman.mta.postfix.LMTP",
         "mailman.mta.postfix.LMTP|mailman.mta.exim4.LMTP|"
         "mailman.mta.null.NullMTA|mailman_c.mta.sendmail",
         0, "the MTA that hands mail to us, and whose maps we write"),
    ENUM("mta", "outgoing", "mailman.mta.deliver.deliver",
         "mailman.mta.deliver.deliver", 0, "how mail leaves: SMTP to smtp_host"),
    STR("mta", "smtp_host", "localhost", "host of the outgoing MTA"),
    INT("mta", "smtp_port", "25", 0, 65535, 0, "port of the outgoing MTA"),
    STR("mta", "smtp_user", "", "SMTP AUTH user, with smtp_pass"),
    STR("mta", "smtp_pass", "", "SMTP AUTH password, with smtp_user"),
    ENUM("mta", "smtp_secure_mode", "smtp", "smtp|smtps|starttls",
         MM_SCHEMA_ICASE, "smtp (plain), smtps (TLS) or starttls"),
    BOOL("mta", "smtp_verify_cert", "yes",
         "require a valid certificate in TLS modes"),
    BOOL("mta", "smtp_verify_hostname", "yes",
         "check the certificate names smtp_host"),
    STR("mta", "lmtp_host", "127.0.0.1", "address the LMTP server listens on"),
    INT("mta", "lmtp_port", "8024", 0, 65535, 0, "port of the LMTP server"),
    INT("mta", "max_recipients", "500", 0, G_MAXINT32, 0,
        "recipients per SMTP transaction; 0 for no limit"),
    INT("mta", "max_sessions_per_connection", "0", 0, G_MAXINT32, 0,
        "transactions per SMTP connection; 0 for no limit"),
    INT("mta", "max_delivery_threads", "0", 0, G_MAXINT32, 0,
        "kept for compatibility"),
    DUR("mta", "delivery_retry_period", "5d",
        "how long temporary delivery failures are retried"),
    STR("mta", "verp_delimiter", "+",
        "separates a local part from its extension"),
    STR("mta", "verp_format", "${bounces}+${local}=${domain}",
        "local part of a VERP envelope sender"),
    STR("mta", "verp_confirm_format", "$address+$cookie",
        "local part of a confirmation reply address"),
    STR("mta", "verp_regexp",
        "^(?P<bounces>[^+]+?)\\+(?P<local>[^=]+)=(?P<domain>[^@]+)@.*$",
        "decodes a VERP address (bounces, local, domain)"),
    STR("mta", "verp_confirm_regexp",
        "^(.*<)?(?P<addr>[^+]+?)\\+(?P<cookie>[^@]+)@.*$",
        "decodes a confirmation reply address (addr, cookie)"),
    BOOL("mta", "verp_confirmations", "yes",
         "put the confirmation token in the reply address"),
    BOOL("mta", "verp_personalized_deliveries", "no",
         "VERP every personalized delivery"),
    INT("mta", "verp_delivery_interval", "0", 0, G_MAXINT32, 0,
        "VERP every Nth post; 0 never, 1 always"),
    STR("mta", "verp_probe_format", "$bounces+$token@$domain",
        "envelope sender of bounce probes"),
    STR("mta", "verp_probe_regexp",
        "^(?P<bounces>[^+]+?)\\+(?P<token>[^@]+)@.*$",
        "decodes a probe address (bounces, token)"),
    BOOL("mta", "verp_probes", "no",
         "probe a bouncing address before disabling it"),
    INT("mta", "max_autoresponses_per_day", "10", 0, G_MAXINT32, 0,
        "automatic replies per address per list per day; 0 for no limit"),
    BOOL("mta", "remove_dkim_headers", "no",
         "strip DKIM signatures from posts"),
    STR("mta", "configuration", "python:mailman.config.postfix",
        "MTA-specific file: python:mailman.config.postfix, .exim4, or a path"),
    /* Ours, not Mailman's (which ignores unknown keys, so a file that sets
     * them still works there): LMTP server limits, then the Postfix
     * socketmap server.  Zero means the default, never "unlimited". */
    INT("mta", "lmtp_max_message_size", "33554432", 0, G_MAXINT32, 0,
        "largest message the LMTP server accepts, bytes (advertised as SIZE)"),
    DUR("mta", "lmtp_timeout", "5m", "LMTP idle timeout per read or write"),
    DUR("mta", "lmtp_session_deadline", "1h", "longest LMTP connection"),
    INT("mta", "lmtp_max_connections", "64", 0, 100000, 0,
        "concurrent LMTP sessions; the next gets 421"),
    INT("mta", "lmtp_max_recipients", "1000", 0, 100000, 0,
        "RCPTs per LMTP transaction"),
    INT("mta", "lmtp_max_bad_commands", "10", 0, 100000, 0,
        "LMTP protocol errors before 421"),
    /* Ours: the SMTP client (src/delivery/).  Zero means the default. */
    INT("mta", "smtp_max_connections", "4", 0, 256, 0,
        "parallel SMTP connections per out runner process"),
    BOOL("mta", "smtp_allow_plaintext_auth", "no",
         "send smtp_user/smtp_pass without TLS"),
    STR("mta", "smtp_helo_name", "",
        "name given in EHLO (empty: this host's name)"),
    DUR("mta", "smtp_connect_timeout", "30s", "SMTP connect timeout"),
    DUR("mta", "smtp_command_timeout", "5m",
        "SMTP greeting, EHLO, MAIL, RCPT, RSET, AUTH reply timeout"),
    DUR("mta", "smtp_data_init_timeout", "2m", "SMTP DATA reply timeout"),
    DUR("mta", "smtp_data_block_timeout", "3m",
        "SMTP timeout per block of message data"),
    DUR("mta", "smtp_data_done_timeout", "10m",
        "SMTP timeout for the reply to the final dot"),
    DUR("mta", "delivery_retry_backoff", "15m",
        "first wait before retrying a temporary failure; doubles each time"),
    DUR("mta", "delivery_retry_backoff_max", "2h",
        "longest wait between retries"),
    STR("mta", "socketmap_host", "",
        "socketmap server address (empty: off; absolute path: unix socket)"),
    INT("mta", "socketmap_port", "0", 0, 65535, 0,
        "port of the Postfix socketmap server (0: off)"),

    /* ---- [bounces] ---- */
    SECTION("bounces", 0),
    DUR("bounces", "register_bounces_every", "15m", "kept for compatibility"),

    /* ---- [archiver.master] and the archivers ---- */
    SECTION("archiver.master", 0),
    STR("archiver.master", "class", "", "the archiver implementation"),
    BOOL("archiver.master", "enable", "no", "whether lists may use it"),
    STR("archiver.master", "configuration", "changeme",
        "the archiver's own configuration file"),
    ENUM("archiver.master", "clobber_date", "maybe", "never|maybe|always", 0,
         "replace the Date header: never, always, or when off by clobber_skew"),
    DUR("archiver.master", "clobber_skew", "1d",
        "how far off a Date may be before `maybe` replaces it"),
    SECTION("archiver.mhonarc", 0),
    SET("archiver.mhonarc", "class", "mailman.archiving.mhonarc.MHonArc"),
    SET("archiver.mhonarc", "configuration", "python:mailman.config.mhonarc"),
    SECTION("archiver.mail_archive", 0),
    SET("archiver.mail_archive", "class",
        "mailman.archiving.mailarchive.MailArchive"),
    SET("archiver.mail_archive", "configuration",
        "python:mailman.config.mail_archive"),
    SECTION("archiver.prototype", 0),
    SET("archiver.prototype", "class", "mailman.archiving.prototype.Prototype"),

    /* ---- [styles] ---- */
    SECTION("styles", 0),
    STR("styles", "default", "legacy-default", "style applied to new lists"),

    /* ---- [digests] ---- */
    SECTION("digests", 0),
    STR("digests", "mime_digest_keep_headers",
        "\nDate From To Cc Subject Message-ID Keywords\n"
        "In-Reply-To References Content-Type MIME-Version\n"
        "Content-Transfer-Encoding Precedence Reply-To\n"
        "Message List-Post",
        "headers kept in MIME digests, in order"),
    STR("digests", "plain_digest_keep_headers",
        "\nMessage Date From\n"
        "Subject To Cc\n"
        "Message-ID Keywords\n"
        "Content-Type",
        "headers kept in plain-text (RFC 1153) digests, in order"),

    /* ---- [nntp] ---- */
    SECTION("nntp", 0),
    STR("nntp", "user", "", "NNTP user, if the server wants one"),
    STR("nntp", "password", "", "NNTP password"),
    STR("nntp", "host", "", "NNTP server; empty for localhost"),
    INT("nntp", "port", "", 0, 65535, MM_SCHEMA_EMPTY_OK,
        "NNTP port; empty for 119"),
    STR("nntp", "remove_headers",
        "\nnntp-posting-host nntp-posting-date x-trace\n"
        "x-complaints-to xref date-received posted\n"
        "posting-version relay-version received",
        "headers removed before posting to a newsgroup"),
    STR("nntp", "rewrite_duplicate_headers",
        "\nTo X-Original-To\n"
        "CC X-Original-CC\n"
        "Content-Transfer-Encoding X-Original-Content-Transfer-Encoding\n"
        "MIME-Version X-MIME-Version",
        "pairs: a repeated first header is renamed to the second"),
    DUR("nntp", "gatenews_every", "5m", "interval of news gatewaying"),

    /* ---- [dmarc] ---- */
    SECTION("dmarc", 0),
    DUR("dmarc", "resolver_timeout", "3s", "DNS answer timeout"),
    DUR("dmarc", "resolver_lifetime", "5s", "total time for a DNS question"),
    STR("dmarc", "org_domain_data_url",
        "https://publicsuffix.org/list/public_suffix_list.dat",
        "where the public suffix list is fetched from"),
    DUR("dmarc", "cache_lifetime", "7d",
        "how long the fetched suffix list is used"),

    /* ---- `[mta] configuration` files (postfix.cfg, exim4.cfg) ---- */
    SECTION("postfix", MM_SCHEMA_EXTERNAL),
    STR("postfix", "postmap_command", "/usr/sbin/postmap",
        "command run on each hash map we write, with the path appended"),
    ENUM("postfix", "transport_file_type", "hash", "hash|regex", 0,
         "form of the maps we write for Postfix"),
    SECTION("exim4", MM_SCHEMA_EXTERNAL),
    /* Ours: Sendmail has no Mailman equivalent. */
    SECTION("sendmail", MM_SCHEMA_EXTERNAL),
    STR("sendmail", "makemap_command", "/usr/sbin/makemap hash",
        "builds a Sendmail database from a map on stdin (empty: none)"),
};

const MmConfigSchemaRow *
mm_config_schema_rows(gsize *n_rows_out)
{
  *n_rows_out = G_N_ELEMENTS(schema_rows);
  return schema_rows;
}

static const MmConfigSchemaRow *
find_row(const char *section, const char *key)
{
  /* A linear scan of a few hundred rows: done while loading and by the
   * typed getters, never per message. */
  for (gsize i = 0; i < G_N_ELEMENTS(schema_rows); i++) {
    const MmConfigSchemaRow *row = &schema_rows[i];
    if (strcmp(row->section, section) == 0 &&
        g_strcmp0(row->key, key) == 0 && (key != NULL || row->key == NULL))
      return row;
  }
  return NULL;
}

const MmConfigSchemaRow *
mm_config_schema_section(const char *section)
{
  return find_row(section, NULL);
}

const char *
mm_config_schema_template(const char *category)
{
  static const char *const templates[] = {
      "paths.master",    "runner.master",  "archiver.master",
      "language.master", "plugin.master",  "logging.template",
  };
  if (category == NULL)
    return NULL;
  for (gsize i = 0; i < G_N_ELEMENTS(templates); i++) {
    const char *dot = strchr(templates[i], '.');
    if (strlen(category) == (gsize)(dot - templates[i]) &&
        strncmp(templates[i], category, (gsize)(dot - templates[i])) == 0)
      return templates[i];
  }
  return NULL;
}

gboolean
mm_config_schema_is_directive(const char *name)
{
  return g_str_has_suffix(name, ".master") ||
         g_str_has_suffix(name, ".template") ||
         g_str_has_suffix(name, ".optional");
}

const MmConfigSchemaRow *
mm_config_schema_lookup(const char *section, const char *key)
{
  const char *dot = strchr(section, '.');
  if (dot != NULL) {
    g_autofree char *category = g_strndup(section, (gsize)(dot - section));
    const char *template = mm_config_schema_template(category);
    if (template != NULL) {
      const MmConfigSchemaRow *row = find_row(template, key);
      if (row != NULL)
        return row;
    }
  }
  return find_row(section, key);
}

/* ---- Value types ---------------------------------------------------- */

gboolean
mm_config_parse_bool(const char *text, gboolean *value_out)
{
  /* lazr.config as_boolean: lower-cased, not stripped. */
  static const char *const yes[] = {"true", "yes", "1", "on", "enabled",
                                    "enable"};
  static const char *const no[] = {"false", "no", "0", "off", "disabled",
                                   "disable"};
  for (gsize i = 0; i < G_N_ELEMENTS(yes); i++) {
    if (g_ascii_strcasecmp(text, yes[i]) == 0) {
      *value_out = TRUE;
      return TRUE;
    }
    if (g_ascii_strcasecmp(text, no[i]) == 0) {
      *value_out = FALSE;
      return TRUE;
    }
  }
  return FALSE;
}

static gboolean
is_python_space(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f' || (c >= 0x1c && c <= 0x1f);
}

/* Python's int(str): surrounding white space, an optional sign, decimal
 * digits with single underscores between them.  FALSE also when the number
 * does not fit in 64 bits (it is then out of any range we allow). */
static gboolean
parse_python_int(const char *text, gint64 *value_out, gboolean *overflow_out)
{
  const char *p = text;
  gboolean negative = FALSE;
  guint64 magnitude = 0;
  gboolean overflow = FALSE;
  int digits = 0;

  *overflow_out = FALSE;
  while (is_python_space(*p))
    p++;
  if (*p == '+' || *p == '-')
    negative = *p++ == '-';
  while (g_ascii_isdigit(*p) || (*p == '_' && digits > 0 &&
                                 g_ascii_isdigit(p[1]))) {
    if (*p == '_') {
      p++;
      continue;
    }
    guint64 d = (guint64)(*p - '0');
    if (magnitude > (G_MAXUINT64 - d) / 10)
      overflow = TRUE;
    else
      magnitude = magnitude * 10 + d;
    digits++;
    p++;
  }
  while (is_python_space(*p))
    p++;
  if (digits == 0 || *p != '\0')
    return FALSE;
  if (overflow || magnitude > (guint64)G_MAXINT64 + (negative ? 1 : 0)) {
    *overflow_out = TRUE;
    return FALSE;
  }
  *value_out = negative ? (gint64)(0 - magnitude) : (gint64)magnitude;
  return TRUE;
}

/* One component of a duration, "<digits-and-dots><unit>", to microseconds,
 * as datetime.timedelta(unit=int or float) would give: exact decimal
 * arithmetic, rounded half to even. */
static gboolean
component_usec(const char *number, gsize len, guint64 unit_sec,
               guint64 *usec_out)
{
  const char *dot = memchr(number, '.', len);
  gsize int_len = dot ? (gsize)(dot - number) : len;
  const char *frac = dot ? dot + 1 : NULL;
  gsize frac_len = dot ? len - int_len - 1 : 0;
  guint64 whole = 0;

  if (frac != NULL && memchr(frac, '.', frac_len) != NULL)
    return FALSE; /* float("1.2.3") */
  if (int_len == 0 && frac_len == 0)
    return FALSE; /* float(".") */
  for (gsize i = 0; i < int_len; i++) {
    if (whole > (G_MAXINT64 / 10))
      return FALSE;
    whole = whole * 10 + (guint64)(number[i] - '0');
  }
  guint64 unit_usec = unit_sec * G_USEC_PER_SEC;
  if (whole > (guint64)G_MAXINT64 / unit_usec)
    return FALSE;
  guint64 total = whole * unit_usec;

  if (frac_len > 0) {
    /* f / 10^n units, n <= 18 digits kept; further digits only break ties.
     * usec = f * unit_sec * 10^6 / 10^n. */
    /* f / 10^n units: usec = f * unit_sec * 10^6 / 10^n.  Digits past the
     * 18th are ignored (no configuration needs attoseconds). */
    guint64 f = 0;
    gsize n = MIN(frac_len, 18);
    for (gsize i = 0; i < n; i++)
      f = f * 10 + (guint64)(frac[i] - '0');
    guint64 usec;
    gboolean round_up = FALSE;
    if (n <= 6) {
      guint64 scale = 1;
      for (gsize i = n; i < 6; i++)
        scale *= 10;
      usec = f * unit_sec * scale; /* < 10^6 * 604800 * 10^6 < 2^63 */
    } else {
      guint64 d = 1;
      for (gsize i = 6; i < n; i++)
        d *= 10;
      guint64 q = f / d, r = f % d;
      guint64 rr = r * unit_sec; /* < 10^12 * 604800 < 2^63 */
      usec = q * unit_sec + rr / d;
      guint64 rem = rr % d;
      round_up = rem * 2 > d || (rem * 2 == d && (usec & 1) != 0);
    }
    usec += round_up ? 1 : 0;
    if (usec > (guint64)G_MAXINT64 - total)
      return FALSE;
    total += usec;
  }
  *usec_out = total;
  return TRUE;
}

gboolean
mm_config_parse_duration_usec(const char *text, gint64 *usec_out)
{
  /* lazr.config as_timedelta: the value must be exactly a sequence of
   * "<digits and dots><w|d|h|m|s>" components, units in that order, each at
   * most once, at least one.  A bare number matches no component and is
   * refused; so are upper-case units and white space. */
  static const struct {
    char unit;
    guint64 seconds;
  } units[] = {{'w', 7 * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60},
               {'s', 1}};
  const char *p = text;
  int next_unit = 0;
  guint64 total = 0;

  if (*p == '\0')
    return FALSE;
  while (*p != '\0') {
    const char *start = p;
    while (g_ascii_isdigit(*p) || *p == '.')
      p++;
    if (p == start)
      return FALSE;
    int u = next_unit;
    while (u < (int)G_N_ELEMENTS(units) && units[u].unit != *p)
      u++;
    if (u == (int)G_N_ELEMENTS(units))
      return FALSE; /* no unit, unknown unit, or out of order / repeated */
    guint64 usec;
    if (!component_usec(start, (gsize)(p - start), units[u].seconds, &usec))
      return FALSE;
    if (usec > (guint64)G_MAXINT64 - total)
      return FALSE;
    total += usec;
    next_unit = u + 1;
    p++;
  }
  *usec_out = (gint64)total;
  return TRUE;
}

static const char *
enum_match(const char *choices, const char *text, gboolean icase)
{
  g_auto(GStrv) options = g_strsplit(choices, "|", -1);
  for (char **o = options; *o != NULL; o++)
    if (icase ? g_ascii_strcasecmp(*o, text) == 0 : strcmp(*o, text) == 0)
      return g_intern_string(*o);
  return NULL;
}

gboolean
mm_config_value_check(const MmConfigSchemaRow *row, const char *text,
                      MmConfigParsed *parsed_out, char **reason_out)
{
  MmConfigParsed parsed = {0};

  if (*text == '\0' && (row->flags & MM_SCHEMA_EMPTY_OK)) {
    if (row->type == MM_CONFIG_TYPE_ENUM)
      parsed.e = "";
    *parsed_out = parsed;
    return TRUE;
  }
  switch (row->type) {
  case MM_CONFIG_TYPE_STRING:
  case MM_CONFIG_TYPE_PATH:
    break;
  case MM_CONFIG_TYPE_BOOL:
    if (!mm_config_parse_bool(text, &parsed.b)) {
      *reason_out = g_strdup_printf(
          "\"%s\" is not a boolean (use yes/no, true/false, on/off, 1/0, "
          "enable/disable)",
          text);
      return FALSE;
    }
    break;
  case MM_CONFIG_TYPE_INT: {
    gboolean overflow;
    if (!parse_python_int(text, &parsed.i, &overflow) && !overflow) {
      *reason_out = g_strdup_printf("\"%s\" is not an integer", text);
      return FALSE;
    }
    if (overflow || parsed.i < row->min || parsed.i > row->max) {
      *reason_out = g_strdup_printf(
          "%s is out of range (%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT ")",
          text, row->min, row->max);
      return FALSE;
    }
    if ((row->flags & MM_SCHEMA_POW2) && (parsed.i & (parsed.i - 1)) != 0) {
      *reason_out = g_strdup_printf("%s is not a power of 2", text);
      return FALSE;
    }
    break;
  }
  case MM_CONFIG_TYPE_DURATION:
    if (!mm_config_parse_duration_usec(text, &parsed.i)) {
      *reason_out = g_strdup_printf(
          "\"%s\" is not a duration (weeks, days, hours, minutes, seconds "
          "in that order, each a number and a lower-case unit: 1w2d, 15m, "
          "1.5s)",
          text);
      return FALSE;
    }
    break;
  case MM_CONFIG_TYPE_LOGLEVEL: {
    MmLogLevel level;
    if (!mm_log_level_parse(text, &level)) {
      *reason_out = g_strdup_printf(
          "\"%s\" is not a log level (debug, info, warning, error, "
          "critical)",
          text);
      return FALSE;
    }
    parsed.i = level;
    break;
  }
  case MM_CONFIG_TYPE_ENUM:
    parsed.e =
        enum_match(row->choices, text, (row->flags & MM_SCHEMA_ICASE) != 0);
    if (parsed.e == NULL) {
      g_auto(GStrv) options = g_strsplit(row->choices, "|", -1);
      g_autofree char *list = g_strjoinv(", ", options);
      *reason_out =
          g_strdup_printf("\"%s\" is not one of: %s", text, list);
      return FALSE;
    }
    break;
  }
  *parsed_out = parsed;
  return TRUE;
}
