#!/bin/sh
# Fan-out benchmark: one post through LMTP to lists of 1,000 and 10,000
# members, bulk and VERP, our server against Debian's GNU Mailman 3 and
# against smtp-source straight into smtp-sink.
#
# Usage: bench/fanout.sh [--mailman BIN] [--sizes 1000,10000] [--modes bulk,verp]
#        [--no-mailman3] [--sleep-time 0.1s] [--keep]
#        (bench/fanout.sh --help lists every parameter)
#
# Installs, when missing and run as root, Debian's postfix (for smtp-sink and
# smtp-source; its system instance stays unconfigured) and mailman3 (whose
# own service is not started: the benchmark runs private instances), builds
# our binary when the default build/ directory has no `mailman` yet, then
# runs bench/fanout.py, which prints the table.  It reports and never
# asserts; it is not part of the test suite.
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")

bin=""
prev=""
skip_m3=no
for a in "$@"; do
  case "$prev" in --mailman) bin=$a ;; esac
  case "$a" in
    --mailman=*) bin=${a#--mailman=} ;;
    --no-mailman3) skip_m3=yes ;;
    -h|--help) exec python3 "$here/fanout.py" --help ;;
  esac
  prev=$a
done

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

need=""
command -v smtp-sink >/dev/null 2>&1 || need="$need postfix"
[ "$skip_m3" = yes ] || installed mailman3 || need="$need mailman3"
if [ -n "$need" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "fanout: missing Debian packages:$need (run as root to install them)" >&2
  else
    echo "fanout: installing$need" >&2
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
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/tmp/fanout-apt.log 2>&1 ||
      echo "fanout: apt-get install$need failed (see /tmp/fanout-apt.log)" >&2
    [ -z "$policy" ] || rm -f "$policy"
  fi
fi

if [ -z "$bin" ] && [ ! -x "$top/build/src/cli/mailman" ] &&
   [ -f "$top/build/build.ninja" ]; then
  echo "fanout: building build/src/cli/mailman" >&2
  ninja -C "$top/build" src/cli/mailman >&2
fi

exec python3 "$here/fanout.py" "$@"
