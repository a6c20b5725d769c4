"""Shared pieces of the Python integration tests.

Each test file is a unittest module run through run_tap(), which prints TAP
so that meson counts every test case.  Site makes a throw-away Mailman site
(its own var directory, configuration and free ports) and runs the real
`mailman` binary against it.  Every wait is bounded (wait_for).
"""
import json
import os
import re
import shutil
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

MAILMAN = os.environ.get("MAILMAN_BIN", "")


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Sanitizer builds run several times slower; scripts/test.sh scales every
# bounded wait by MM_WAIT_SCALE so that a slow machine fails no test.
WAIT_SCALE = float(os.environ.get("MM_WAIT_SCALE", "1") or 1)


def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Polls predicate until it returns a true value or timeout (times
    MM_WAIT_SCALE) passes."""
    timeout *= WAIT_SCALE
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Site:
    """A private site: var dir, mailman.cfg, and helpers to run commands."""

    def __init__(self, extra_cfg="", mta="postfix"):
        self.root = tempfile.mkdtemp(prefix="mm-site-")
        self.var = os.path.join(self.root, "var")
        self.lmtp_port = free_port()
        self.smtp_port = free_port()
        self.cfg = os.path.join(self.root, "mailman.cfg")
        incoming = {
            "postfix": "mailman.mta.postfix.LMTP",
            "exim4": "mailman.mta.exim4.LMTP",
            "null": "mailman.mta.null.NullMTA",
        }[mta]
        with open(self.cfg, "w", encoding="utf-8") as f:
            f.write(
                f"""[mailman]
layout: testing
site_owner: admin@example.com

[paths.testing]
var_dir: {self.var}

[mta]
incoming: {incoming}
outgoing: mailman.mta.deliver.deliver
lmtp_host: 127.0.0.1
lmtp_port: {self.lmtp_port}
smtp_host: 127.0.0.1
smtp_port: {self.smtp_port}

[runner.in]
sleep_time: 0.1s

[runner.pipeline]
sleep_time: 0.1s

[runner.virgin]
sleep_time: 0.1s

{extra_cfg}
"""
            )

    def path(self, *parts):
        return os.path.join(self.var, *parts)

    def run(self, *args, stdin=None, check=True, root_ok=True, env=None,
            timeout=60):
        """Runs `mailman -C cfg ARGS`; returns the CompletedProcess."""
        argv = [MAILMAN, "-C", self.cfg]
        if root_ok and os.geteuid() == 0:
            argv.append("--run-as-root")
        argv += list(args)
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.run(argv, input=stdin, capture_output=True,
                              text=True, timeout=timeout, env=full_env)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"mailman {' '.join(args)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def queue_files(self, queue, suffix=".pck"):
        d = self.path("queue", queue)
        if not os.path.isdir(d):
            return []
        return sorted(f for f in os.listdir(d) if f.endswith(suffix))

    def qfile(self, queue, name):
        """(metadata dict, message text) of one queue entry, as `mailman
        qfile` prints it."""
        out = self.run("qfile", self.path("queue", queue, name)).stdout
        m = re.match(r"\[----- metadata -----\]\n(.*?)\n\[----- message "
                     r"\(\d+ bytes\) -----\]\n(.*)\[----- end -----\]\n?$",
                     out, re.S)
        assert m, out[:500]
        return json.loads(m.group(1)), m.group(2)

    def set_list_column(self, list_id, column, value):
        """Writes a list setting no command changes straight into the
        database (tests only)."""
        conn = sqlite3.connect(self.path("data", "mailman.db"), timeout=10)
        with conn:
            conn.execute(f"UPDATE mailinglist SET {column} = ? "
                         "WHERE list_id = ?", (value, list_id))
        conn.close()

    def lmtp_send(self, sender, rcpt, text):
        """Delivers @text over LMTP (bounded retries while the lmtp runner
        starts); returns what smtplib reports as refused."""
        def connect():
            try:
                return smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=20)
            except OSError:
                return None  # the lmtp runner is still starting
        with wait_for(connect, what="the LMTP server") as lmtp:
            return lmtp.sendmail(sender, [rcpt], text.encode())

    def log(self, name="mailman.log"):
        try:
            with open(self.path("logs", name), encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if os.path.exists(self.path("master.pid")):
            self.run("stop", check=False)

    def cleanup(self):
        self.stop()
        if os.environ.get("MM_KEEP_SITES"):
            print(f"# kept {self.root}", flush=True)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


class _TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, ok, test, note=""):
        self.n += 1
        name = test.id().split(".", 1)[-1]
        print(f"{'ok' if ok else 'not ok'} {self.n} {name}{note}", flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(False, test)
        self._diag(err)

    def addError(self, test, err):
        super().addError(test, err)
        self._line(False, test)
        self._diag(err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(True, test, f" # SKIP {reason}")

    @staticmethod
    def _diag(err):
        for line in "".join(traceback.format_exception(*err)).splitlines():
            print(f"# {line}", flush=True)


def run_tap(module_name="__main__"):
    """Runs every test of the module and prints TAP; exits 1 on failure."""
    if not MAILMAN or not os.access(MAILMAN, os.X_OK):
        print("1..0 # SKIP MAILMAN_BIN not set")
        sys.exit(1)
    suite = unittest.defaultTestLoader.loadTestsFromName(module_name)
    print(f"1..{suite.countTestCases()}", flush=True)
    result = _TapResult()
    suite.run(result)
    sys.exit(0 if result.wasSuccessful() else 1)
