#!/bin/sh
# LMTP intake benchmark: our server against Debian's GNU Mailman 3.
#
# Usage: bench/lmtp-intake.sh [--mailman BIN] [--messages N] [--repeat R] ...
#        (bench/lmtp-intake.sh --help lists every parameter)
#
# Installs, when missing and run as root, Debian's postfix (for smtp-source;
# its system instance stays unconfigured) and mailman3 (whose own service is
# not started: the benchmark runs a private instance), builds our binary when
# the default build/ directory has no `mailman` yet, then runs
# bench/lmtp_intake.py, which prints the table.  It reports and never
# asserts; it is not part of the test suite.
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")

# Our binary: --mailman BIN if given, otherwise build/src/cli/mailman.
bin=""
prev=""
for a in "$@"; do
  case "$prev" in --mailman) bin=$a ;; esac
  case "$a" in --mailman=*) bin=${a#--mailman=} ;; esac
  prev=$a
done
skip_m3=no
for a in "$@"; do
  case "$a" in
    --no-mailman3) skip_m3=yes ;;
    -h|--help) exec python3 "$here/lmtp_intake.py" --help ;;
  esac
done

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

need=""
command -v smtp-source >/dev/null 2>&1 || need="$need postfix"
[ "$skip_m3" = yes ] || installed mailman3 || need="$need mailman3"
if [ -n "$need" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "lmtp-intake: missing Debian packages:$need (run as root to install them)" >&2
  else
    echo "lmtp-intake: installing$need" >&2
    echo "postfix postfix/main_mailer_type select No configuration" |
      debconf-set-selections
    # Neither package's service is wanted: refuse service starts for the
    # duration of the install, unless the site already has a policy.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      policy=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
    fi
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/tmp/lmtp-intake-apt.log 2>&1 ||
      echo "lmtp-intake: apt-get install$need failed (see /tmp/lmtp-intake-apt.log)" >&2
    [ -z "$policy" ] || rm -f "$policy"
  fi
fi

if [ -z "$bin" ] && [ ! -x "$top/build/src/cli/mailman" ] &&
   [ -f "$top/build/build.ninja" ]; then
  echo "lmtp-intake: building build/src/cli/mailman" >&2
  ninja -C "$top/build" src/cli/mailman >&2
fi

exec python3 "$here/lmtp_intake.py" "$@"
