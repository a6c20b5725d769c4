#!/bin/sh
# The test command: installs what is missing, builds (warnings are
# errors), runs every test, and ends with one line "N passed, M failed".
set -eu
cd "$(dirname "$0")/.."

MM_WITH_TEST_DEPS=1 sh scripts/install-deps.sh

# The tests run against a build with AddressSanitizer and UBSan (set
# MM_SANITIZE=0 for a plain one): a memory error anywhere, in a unit test or
# in a runner started by an integration test, fails the run.
BUILD=${MM_BUILD_DIR:-build-test}
if [ ! -f "$BUILD/build.ninja" ]; then
  if [ "${MM_SANITIZE:-1}" = 1 ]; then
    meson setup "$BUILD" -Dwerror=true -Db_sanitize=address,undefined >/dev/null
  else
    meson setup "$BUILD" -Dwerror=true >/dev/null
  fi
fi
ninja -C "$BUILD"
# Sanitized binaries are slower: give every bounded wait in the tests more
# room (a wait ends as soon as its condition holds).
if [ "${MM_SANITIZE:-1}" = 1 ]; then
  export MM_WAIT_SCALE=${MM_WAIT_SCALE:-3}
  MM_TIMEOUT_MULTIPLIER=${MM_TIMEOUT_MULTIPLIER:-3}
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# meson's exit status is ignored here: the summary below is the verdict.
meson test -C "$BUILD" --print-errorlogs --num-processes 2 \
  --timeout-multiplier "${MM_TIMEOUT_MULTIPLIER:-1}" "$@" || true
python3 tests/summarize.py "$BUILD/meson-logs/testlog.json"
