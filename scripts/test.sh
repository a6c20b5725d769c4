#!/bin/sh
# The test command: installs what is missing, builds (warnings are
# errors), runs every test, and ends with one line "N passed, M failed".
set -eu
cd "$(dirname "$0")/.."

MM_WITH_TEST_DEPS=1 sh scripts/install-deps.sh

BUILD=${MM_BUILD_DIR:-build}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Dwerror=true >/dev/null
fi
ninja -C "$BUILD"

# meson's exit status is ignored here: the summary below is the verdict.
meson test -C "$BUILD" --print-errorlogs --num-processes 2 \
  --timeout-multiplier "${MM_TIMEOUT_MULTIPLIER:-1}" "$@" || true
python3 tests/summarize.py "$BUILD/meson-logs/testlog.json"
