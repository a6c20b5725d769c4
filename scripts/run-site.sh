#!/bin/sh
# Installs what is missing, builds, creates a default site and runs the
# server in the foreground with its logs on the terminal.
#
#   scripts/run-site.sh [VAR_DIR]      (VAR_DIR defaults to ./var)
#
# The site: SQLite database, LMTP on 127.0.0.1:8024, SMTP out to
# localhost:25, configuration in VAR_DIR/etc/mailman.cfg (kept if it
# exists, so you can edit it).  Like Mailman, the server will not run as
# root: started as root, this script hands the site to Debian's `list`
# user and runs the server as that user.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

sh scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

var=${1:-$top/var}
mkdir -p "$var/etc" "$var/bin"
var=$(cd "$var" && pwd)
cfg=$var/etc/mailman.cfg
if [ ! -f "$cfg" ]; then
  # Postfix maps only when a configured Postfix is there to read them
  # (postmap refuses to run without /etc/postfix/main.cf).
  if [ -x /usr/sbin/postmap ] && [ -f /etc/postfix/main.cf ]; then
    incoming=mailman.mta.postfix.LMTP
  else
    incoming=mailman.mta.null.NullMTA
  fi
  cat > "$cfg" <<CFG
# Written by scripts/run-site.sh; edit freely.  Every key and its default:
# 'mailman -C $cfg conf'.
[mailman]
layout: site
site_owner: postmaster@localhost

[paths.site]
var_dir: $var

[mta]
# mailman.mta.postfix.LMTP writes Postfix maps to $var/data (see
# docs/mta.md); mailman.mta.null.NullMTA writes none.
incoming: $incoming
outgoing: mailman.mta.deliver.deliver
lmtp_host: 127.0.0.1
lmtp_port: 8024
smtp_host: localhost
smtp_port: 25
CFG
fi
# A copy of the binary inside the site, so that the list user can run it
# wherever the checkout lives.
install -m 0755 build/src/cli/mailman "$var/bin/mailman"

if [ "$(id -u)" -eq 0 ]; then
  id list >/dev/null 2>&1 || useradd --system --home-dir "$var" list
  chown -R list: "$var"
  exec runuser -u list -- "$var/bin/mailman" -C "$cfg" start --foreground
fi
exec "$var/bin/mailman" -C "$cfg" start --foreground
