#!/bin/sh
# Installs the Debian 12 packages this project needs to build and test,
# skipping those already present.  Run as root (or through sudo).
set -eu

BUILD="meson ninja-build pkg-config gcc libglib2.0-dev libgmime-3.0-dev
libsqlite3-dev libjansson-dev libcrypt-dev libssl-dev"
TEST="python3 openssl sqlite3 postfix swaks procps iproute2 libidn12"

missing=""
for p in $BUILD ${MM_WITH_TEST_DEPS:+$TEST}; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: missing packages:$missing (run as root to install)" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "install-deps: installing$missing"
# Postfix asks how to configure itself; the tests run private instances
# with their own configuration, so the system one stays unconfigured.
echo "postfix postfix/main_mailer_type select No configuration" |
  $SUDO debconf-set-selections
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
