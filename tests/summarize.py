#!/usr/bin/env python3
"""Reads meson's testlog.json and prints the one closing line CI reads.

A TAP test counts each of its subtests; any other test counts once.  A TAP
test that crashed or timed out counts one failure beyond its subtests, so a
dying test can never look green.  Exits 1 when anything failed.
"""
import json
import sys


def main(path):
    passed = failed = skipped = 0
    with open(path, encoding="utf-8") as log:
        for line in log:
            if not line.strip():
                continue
            test = json.loads(line)
            result = test.get("result")
            sub_ok = sub_fail = sub_skip = 0
            for raw in (test.get("stdout") or "").splitlines():
                s = raw.strip()
                if s.startswith("ok "):
                    if "# SKIP" in s:
                        sub_skip += 1
                    else:
                        sub_ok += 1
                elif s.startswith("not ok "):
                    if "# TODO" in s:
                        continue
                    sub_fail += 1
            if test.get("protocol", "") == "tap" or sub_ok + sub_fail:
                passed += sub_ok
                failed += sub_fail
                skipped += sub_skip
                if result not in ("OK", "SKIP", "EXPECTEDFAIL") and sub_fail == 0:
                    failed += 1
            elif result == "OK":
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
