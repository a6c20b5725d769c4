#!/usr/bin/env python3
"""The master and its runners as processes: start/stop/status, the lock,
restart of crashed runners, and the queue's crash guarantees:

- kill -9 of a runner between claim and finish leaves the entry to be
  processed again, never lost;
- an entry that crashes its runner three times is shunted;
- kill -9 of the master takes its runners down, and the next start takes
  over the stale lock.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402
from mmtest import wait_for  # noqa: E402

MSG = ("From: a@example.com\nTo: crash@example.com\nSubject: crash test\n"
       "X-Test-Crash: yes\n\nbody\n")


def children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


class Master(unittest.TestCase):
    def setUp(self):
        # These tests watch entries arrive in `out`; with delivery running
        # they would move on (to retry: no MTA listens), so out stays off.
        self.site = mmtest.Site(mta="null",
                                extra_cfg="[runner.out]\nstart: no\n")
        self.site.run("create", "crash@example.com")
        # The test posts come from a member, so moderation lets them pass.
        self.site.run("addmembers", "-", "crash@example.com",
                      stdin="a@example.com\n")

    def tearDown(self):
        self.site.cleanup()

    def master_pid(self):
        with open(self.site.path("master.pid")) as f:
            return int(f.read())

    def test_start_status_stop(self):
        r = self.site.run("status", check=False)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.site.run("start")
        pid = self.master_pid()
        r = self.site.run("status", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(str(pid), r.stdout)
        # A second start is refused with a clear message.
        r = self.site.run("start", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already running", r.stderr)
        self.assertIn(str(pid), r.stderr)
        # One process per runner that has work in this build.
        kids = wait_for(lambda: len(children_of(pid)) >= 9 and children_of(pid),
                        what="runner processes")
        self.assertGreaterEqual(len(kids), 9)
        self.site.run("stop")
        self.assertFalse(pid_alive(pid))
        for k in kids:
            wait_for(lambda: not pid_alive(k), what=f"runner {k} to exit")
        self.assertFalse(os.path.exists(self.site.path("master.pid")))
        self.assertEqual(self.site.run("status", check=False).returncode, 0)

    def test_messages_flow_between_queues(self):
        self.site.run("start")
        self.site.run("inject", "crash@example.com",
                      stdin=MSG.replace("X-Test-Crash: yes\n", ""))
        # in -> pipeline -> out; out has no delivery engine yet, so it stays.
        wait_for(lambda: len(self.site.queue_files("out")) == 1,
                 what="the entry to reach the out queue")
        self.assertEqual(self.site.queue_files("in"), [])
        self.assertEqual(self.site.queue_files("pipeline"), [])

    def test_runner_killed_between_claim_and_finish(self):
        once = tempfile.mkdtemp(prefix="mm-once-")
        env = {"MAILMAN_TEST_CRASH_QUEUE": "in",
               "MAILMAN_TEST_CRASH_ONCE_DIR": once}
        self.site.run("start", env=env)
        self.site.run("inject", "crash@example.com", stdin=MSG)
        # The runner claims, dies with SIGKILL, is restarted, recovers the
        # .bak and processes the entry: exactly one copy moves on.
        wait_for(lambda: len(self.site.queue_files("out")) == 1, timeout=30,
                 what="the recovered entry to reach out")
        self.assertEqual(len(os.listdir(once)), 1)  # it did crash once
        self.assertEqual(self.site.queue_files("in"), [])
        self.assertEqual(self.site.queue_files("in", ".bak"), [])
        self.assertEqual(self.site.queue_files("shunt"), [])
        log = self.site.log()
        self.assertIn("killed by signal 9", log)
        self.assertIn("recovered 1", self.site.log())

    def test_entry_that_keeps_crashing_is_shunted(self):
        env = {"MAILMAN_TEST_CRASH_QUEUE": "in"}
        self.site.run("start", env=env)
        self.site.run("inject", "crash@example.com", stdin=MSG)
        wait_for(lambda: len(self.site.queue_files("shunt")) == 1, timeout=60,
                 what="the entry to be shunted")
        # The copy lands in shunt just before the .bak is unlinked.
        wait_for(lambda: self.site.queue_files("in", ".bak") == [],
                 what="the .bak to go")
        self.assertEqual(self.site.queue_files("in"), [])
        self.assertEqual(self.site.queue_files("out"), [])
        shunted = self.site.path("queue", "shunt", self.site.queue_files("shunt")[0])
        dump = self.site.run("qfile", shunted).stdout
        self.assertIn('"whichq": "in"', dump)
        self.assertIn("X-Test-Crash: yes", dump)
        # The runner survives the bad entry: a good one still flows.
        self.site.run("inject", "crash@example.com",
                      stdin=MSG.replace("X-Test-Crash: yes\n", ""))
        wait_for(lambda: len(self.site.queue_files("out")) == 1, timeout=30,
                 what="a good entry after the shunt")

    def test_restart_budget_is_capped(self):
        # A runner that keeps dying is restarted max_restarts times, then
        # left down with an error in the log; the master stays up.
        with open(self.site.cfg, "a", encoding="utf-8") as f:
            f.write("\n[runner.in]\nmax_restarts: 1\n")
        self.site.run("start", env={"MAILMAN_TEST_CRASH_QUEUE": "in"})
        self.site.run("inject", "crash@example.com", stdin=MSG)
        wait_for(lambda: "giving up" in self.site.log(), timeout=30,
                 what="the master to give up on the in runner")
        pid = self.master_pid()
        self.assertTrue(pid_alive(pid))
        self.assertIn("restart 1 of at most 1", self.site.log())
        # The entry is not lost: it waits as .bak for the next start.
        self.assertEqual(len(self.site.queue_files("in", ".bak")), 1)

    def test_sliced_runner(self):
        # instances: 2 starts two slices that together take every entry.
        with open(self.site.cfg, "a", encoding="utf-8") as f:
            f.write("\n[runner.in]\ninstances: 2\n")
        self.site.run("start")
        pid = self.master_pid()
        wait_for(lambda: sum("--runner=in:" in c for c in
                             self._cmdlines(pid)) == 2,
                 what="two in slices")
        for i in range(20):
            self.site.run("inject", "crash@example.com",
                          stdin=MSG.replace("X-Test-Crash: yes\n",
                                            f"X-Seq: {i}\n"))
        wait_for(lambda: len(self.site.queue_files("out")) == 20, timeout=30,
                 what="all 20 entries to reach out")
        self.assertEqual(self.site.queue_files("in"), [])

    @staticmethod
    def _cmdlines(pid):
        out = []
        for k in children_of(pid):
            try:
                with open(f"/proc/{k}/cmdline", "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode())
            except FileNotFoundError:
                pass
        return out

    def test_master_killed_leaves_stale_lock(self):
        self.site.run("start")
        pid = self.master_pid()
        kids = wait_for(lambda: children_of(pid), what="runners")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), what="the master to die")
        # Its runners follow it (no orphans competing with a new master).
        for k in kids:
            wait_for(lambda: not pid_alive(k), what=f"runner {k} to exit")
        r = self.site.run("status", check=False)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.site.run("start")
        self.assertNotEqual(self.master_pid(), pid)
        self.assertIn("stale", self.site.log())
        self.site.run("stop")

    def test_restart_and_reopen(self):
        self.site.run("start")
        pid = self.master_pid()
        before = set(wait_for(lambda: len(children_of(pid)) >= 9 and
                              children_of(pid), what="runners"))
        self.site.run("restart")
        wait_for(lambda: not (set(children_of(pid)) & before) and
                 len(children_of(pid)) >= 9,
                 what="every runner to be replaced")
        # logrotate: move the log away, reopen, the new file appears.
        os.rename(self.site.path("logs", "mailman.log"),
                  self.site.path("logs", "mailman.log.1"))
        self.site.run("reopen")
        wait_for(lambda: os.path.exists(self.site.path("logs", "mailman.log")),
                 what="a reopened mailman.log")
        self.site.run("stop")


if __name__ == "__main__":
    mmtest.run_tap()
