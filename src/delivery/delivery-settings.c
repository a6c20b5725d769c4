/* Delivery settings from mailman.cfg: Mailman's [mta] keys, [devmode], the
 * [logging.smtp] templates, and keys of our own for what Mailman leaves to
 * Python's defaults (timeouts, parallel connections, the retry back-off,
 * plain-text AUTH).
 *
 * Our keys, [mta] section, with their defaults (zero means the default,
 * never "unlimited"):
 *   smtp_max_connections: 4        parallel connections per out process
 *   smtp_allow_plaintext_auth: no  AUTH without TLS
 *   smtp_helo_name:                EHLO name (empty: this host's name)
 *   smtp_connect_timeout: 30s      (Postfix's smtp_connect_timeout)
 *   smtp_command_timeout: 5m       greeting, EHLO, MAIL, RCPT, RSET, AUTH
 *   smtp_data_init_timeout: 2m     DATA until 354     (RFC 5321 4.5.3.2)
 *   smtp_data_block_timeout: 3m    each block of the message
 *   smtp_data_done_timeout: 10m    final dot until the reply
 *   delivery_retry_backoff: 15m    first wait before a retry, doubling
 *   delivery_retry_backoff_max: 2h longest wait between retries
 * They are read raw (mm_config_get) so that this module works before the
 * schema table declares them; once declared, the schema's defaults and
 * checks apply and the values read the same.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "delivery-private.h"

#include <string.h>

static gboolean
bad_value(GError **error, const char *key, const char *text)
{
  g_set_error(error, MM_DELIVERY_ERROR, MM_DELIVERY_ERROR_INVALID,
              "[mta] %s: bad value \"%s\"", key, text);
  return FALSE;
}

static gboolean
raw_bool(const MmConfig *config, const char *key, gboolean fallback,
         gboolean *out, GError **error)
{
  const char *text = mm_config_get(config, "mta", key);
  *out = fallback;
  if (text == NULL || *text == '\0')
    return TRUE;
  return mm_config_parse_bool(text, out) || bad_value(error, key, text);
}

static gboolean
raw_duration(const MmConfig *config, const char *key, gint64 fallback_usec,
             gint64 *out, GError **error)
{
  const char *text = mm_config_get(config, "mta", key);
  *out = fallback_usec;
  if (text == NULL || *text == '\0')
    return TRUE;
  gint64 usec = 0;
  if (!mm_config_parse_duration_usec(text, &usec) || usec < 0)
    return bad_value(error, key, text);
  if (usec > 0)
    *out = usec;
  return TRUE;
}

static gboolean
raw_uint(const MmConfig *config, const char *key, guint fallback, guint max,
         guint *out, GError **error)
{
  const char *text = mm_config_get(config, "mta", key);
  guint64 value = 0;
  *out = fallback;
  if (text == NULL || *text == '\0')
    return TRUE;
  if (!g_ascii_string_to_unsigned(text, 10, 0, max, &value, NULL))
    return bad_value(error, key, text);
  if (value > 0)
    *out = (guint)value;
  return TRUE;
}

static char *
template_of(const MmConfig *config, const char *key)
{
  const char *text = mm_config_get(config, "logging.smtp", key);
  /* As Mailman's deliver(): "no" in any case turns the line off. */
  if (text == NULL || g_ascii_strcasecmp(text, "no") == 0)
    return NULL;
  return g_strdup(text);
}

static char *
nonempty(const char *text)
{
  return text != NULL && *text != '\0' ? g_strdup(text) : NULL;
}

gboolean
mm_delivery_settings_load(const MmConfig *config, MmDeliverySettings *out,
                          GError **error)
{
  memset(out, 0, sizeof *out);
  MmSmtpSettings *smtp = &out->smtp;

  smtp->host = g_strdup(mm_config_get(config, "mta", "smtp_host"));
  /* Port 0 is smtplib's "the default port". */
  gint64 port = mm_config_get_int(config, "mta", "smtp_port");
  smtp->port = port > 0 ? (guint)port : 25;
  const char *mode = mm_config_get_enum(config, "mta", "smtp_secure_mode");
  smtp->security = g_str_equal(mode, "smtps")      ? MM_SMTP_SECURITY_SMTPS
                   : g_str_equal(mode, "starttls") ? MM_SMTP_SECURITY_STARTTLS
                                                   : MM_SMTP_SECURITY_NONE;
  smtp->verify_cert = mm_config_get_bool(config, "mta", "smtp_verify_cert");
  /* Mailman: "verify_hostname will be ignored unless verify_cert is true". */
  smtp->verify_hostname =
      smtp->verify_cert &&
      mm_config_get_bool(config, "mta", "smtp_verify_hostname");
  /* Mailman logs in only when both are set. */
  const char *user = mm_config_get(config, "mta", "smtp_user");
  const char *pass = mm_config_get(config, "mta", "smtp_pass");
  if (user != NULL && *user != '\0' && pass != NULL && *pass != '\0') {
    smtp->user = g_strdup(user);
    smtp->password = g_strdup(pass);
  }
  gint64 sessions =
      mm_config_get_int(config, "mta", "max_sessions_per_connection");
  smtp->max_sessions_per_connection = sessions > 0 ? (guint)sessions : 0;
  smtp->helo_name = nonempty(mm_config_get(config, "mta", "smtp_helo_name"));
  if (smtp->helo_name == NULL)
    smtp->helo_name = g_strdup(g_get_host_name());

  if (mm_config_get_bool(config, "devmode", "enabled"))
    smtp->devmode_recipient =
        nonempty(mm_config_get(config, "devmode", "recipient"));

  if (!raw_bool(config, "smtp_allow_plaintext_auth", FALSE,
                &smtp->allow_plaintext_auth, error) ||
      !raw_duration(config, "smtp_connect_timeout", 30 * G_USEC_PER_SEC,
                    &smtp->connect_timeout_usec, error) ||
      !raw_duration(config, "smtp_command_timeout", 300 * G_USEC_PER_SEC,
                    &smtp->command_timeout_usec, error) ||
      !raw_duration(config, "smtp_data_init_timeout", 120 * G_USEC_PER_SEC,
                    &smtp->data_init_timeout_usec, error) ||
      !raw_duration(config, "smtp_data_block_timeout", 180 * G_USEC_PER_SEC,
                    &smtp->data_block_timeout_usec, error) ||
      !raw_duration(config, "smtp_data_done_timeout", 600 * G_USEC_PER_SEC,
                    &smtp->data_done_timeout_usec, error) ||
      !raw_uint(config, "smtp_max_connections", 4, 256, &out->connections,
                error) ||
      !raw_duration(config, "delivery_retry_backoff",
                    (gint64)15 * 60 * G_USEC_PER_SEC, &out->retry_backoff_usec,
                    error) ||
      !raw_duration(config, "delivery_retry_backoff_max",
                    (gint64)2 * 3600 * G_USEC_PER_SEC, &out->retry_backoff_max_usec,
                    error)) {
    mm_delivery_settings_clear(out);
    return FALSE;
  }
  if (out->retry_backoff_max_usec < out->retry_backoff_usec)
    out->retry_backoff_max_usec = out->retry_backoff_usec;

  gint64 max_recipients = mm_config_get_int(config, "mta", "max_recipients");
  out->max_recipients = max_recipients > 0 ? (guint)max_recipients : 0;
  out->verp_personalized_deliveries =
      mm_config_get_bool(config, "mta", "verp_personalized_deliveries");
  gint64 interval = mm_config_get_int(config, "mta", "verp_delivery_interval");
  out->verp_delivery_interval = interval > 0 ? (guint)interval : 0;
  out->verp_format = g_strdup(mm_config_get(config, "mta", "verp_format"));
  out->retry_period_usec =
      mm_config_get_duration_usec(config, "mta", "delivery_retry_period");
  out->site_owner = g_strdup(mm_config_get(config, "mailman", "site_owner"));
  out->var_dir = g_strdup(mm_config_path(config, "var_dir"));
  out->log_every = template_of(config, "every");
  out->log_success = template_of(config, "success");
  out->log_refused = template_of(config, "refused");
  out->log_failure = template_of(config, "failure");
  return TRUE;
}

void
mm_delivery_settings_clear(MmDeliverySettings *settings)
{
  MmSmtpSettings *smtp = &settings->smtp;
  g_clear_pointer(&smtp->host, g_free);
  g_clear_pointer(&smtp->user, g_free);
  if (smtp->password != NULL)
    memset(smtp->password, 0, strlen(smtp->password));
  g_clear_pointer(&smtp->password, g_free);
  g_clear_pointer(&smtp->helo_name, g_free);
  g_clear_pointer(&smtp->devmode_recipient, g_free);
  g_clear_pointer(&settings->verp_format, g_free);
  g_clear_pointer(&settings->site_owner, g_free);
  g_clear_pointer(&settings->var_dir, g_free);
  g_clear_pointer(&settings->log_every, g_free);
  g_clear_pointer(&settings->log_success, g_free);
  g_clear_pointer(&settings->log_refused, g_free);
  g_clear_pointer(&settings->log_failure, g_free);
}
