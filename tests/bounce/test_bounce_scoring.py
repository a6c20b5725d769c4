"""Bounce scoring end to end, with the runner's test clock.

`mailman inject -q bounces` queues a bounce for a member, `mailman runner
--runner=bounces --once` records and scores it, with MAILMAN_TEST_NOW
(test only) setting the runner's clock, so weeks pass between two runs.
`mailman bounces` shows the state, `mailman reenable` undoes it; notices
are read from the virgin queue.

The delivery engine's reports of permanent SMTP refusals (metadata "smtp"
and "bounce_events") cannot be made with `mailman inject`, which writes
string metadata only; the test writes those queue files itself, in the
format of docs/queue-format.md.
"""
import hashlib
import json
import os
import re
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402

LIST = "test@lists.example.org"
LIST_ID = "test.lists.example.org"
ANNE = "anne@example.com"
DAY = 86400
# 2024-05-01T12:00:00Z
START = 1714564800


def dsn(to, recipient=ANNE, n=0):
    return f"""\
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{n}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Delivery to a recipient failed.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1

--B--
"""


VERP_TO = "test-bounces+anne=example.com@lists.example.org"


class BounceScoringTest(unittest.TestCase):
    extra_cfg = ""

    def setUp(self):
        self.site = mmtest.Site(mta="null", extra_cfg=self.extra_cfg)
        self.site.run("create", "-o", "owner@example.com", LIST)
        self.site.run("addmembers", "-", LIST,
                      stdin=f"Anne Person <{ANNE}>\nbob@example.org\n")
        self.now = START
        self.n = 0

    def tearDown(self):
        self.site.cleanup()

    # helpers

    def env(self):
        return {"MAILMAN_TEST_NOW": str(self.now)}

    def bounce(self, to=VERP_TO, recipient=ANNE):
        self.n += 1
        self.site.run("inject", "-q", "bounces", LIST,
                      stdin=dsn(to, recipient, self.n))

    def run_runner(self):
        self.site.run("runner", "--runner=bounces", "--once", env=self.env())
        self.assertEqual(self.site.queue_files("bounces"), [])
        self.assertEqual(self.site.queue_files("shunt"), [])

    def state(self):
        """`mailman bounces --all` as {email: row dict}."""
        out = self.site.run("bounces", "--all", LIST).stdout
        lines = out.splitlines()
        header = lines[0].split("\t")
        self.assertEqual(header, ["email", "score", "last_bounce", "warnings",
                                  "last_warning", "delivery"])
        return {fields[0]: dict(zip(header, fields))
                for fields in (line.split("\t") for line in lines[1:])}

    def virgin(self):
        """Takes the notices out of virgin: [(meta, message)]."""
        entries = []
        for name in self.site.queue_files("virgin"):
            path = self.site.path("queue", "virgin", name)
            out = self.site.run("qfile", path).stdout
            meta_text = out.split("[----- metadata -----]\n", 1)[1]
            meta_text, message = meta_text.split("\n[----- message", 1)
            entries.append((json.loads(meta_text), message))
            os.unlink(path)
        return entries

    def enqueue_raw(self, queue, meta, message):
        """Writes a queue file as docs/queue-format.md describes."""
        meta = dict(meta, version=3)
        body = message.encode()
        meta_bytes = json.dumps(meta, sort_keys=True,
                                separators=(",", ":")).encode()
        stamp = f"{int(time.time()):010d}.{int(time.time() * 1e6) % 1000000:06d}"
        digest = hashlib.sha1(body + meta["listid"].encode()
                              + stamp.encode()).hexdigest()
        data = (b"MMQ1\nmeta %d\n" % len(meta_bytes) + meta_bytes
                + b"\nmessage %d\n" % len(body) + body + b"\n")
        data += b"end sha1 " + hashlib.sha1(data).hexdigest().encode() + b"\n"
        d = self.site.path("queue", queue)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, f".{stamp}+{digest}.pck.test.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(d, f"{stamp}+{digest}.pck"))

    def smtp_report(self, events):
        self.n += 1
        message = (f"From: Mailman <test@lists.example.org>\n"
                   f"To: Mailman Bounces <test-bounces@lists.example.org>\n"
                   f"Subject: SMTP Delivery Failure\n"
                   f"Message-ID: <smtp-{self.n}@lists.example.org>\n\n"
                   f"The outgoing SMTP server refused a message.\n")
        self.enqueue_raw("bounces", {"listid": LIST_ID, "smtp": True,
                                     "original_message_id": "<post@x>",
                                     "bounce_events": events}, message)

    def set_list(self, column, value):
        db = sqlite3.connect(self.site.path("data", "mailman.db"))
        with db:
            db.execute(f"UPDATE mailinglist SET {column} = ? WHERE list_id = ?",
                       (value, LIST_ID))
        db.close()

    # tests

    def test_disabled_warned_and_removed(self):
        for day in range(1, 5):
            self.bounce()
            self.run_runner()
            row = self.state()[ANNE]
            self.assertEqual(row["score"], str(day))
            self.assertEqual(row["delivery"], "enabled")
            self.assertEqual(self.virgin(), [])
            self.now += DAY
        self.assertEqual(self.state()["bob@example.org"]["score"], "0")
        # Only the members with something to show, without --all.
        out = self.site.run("bounces", LIST).stdout
        self.assertIn(ANNE, out)
        self.assertNotIn("bob@example.org", out)

        # The fifth: disabled, owners told, first warning to Anne.
        self.bounce()
        self.run_runner()
        row = self.state()[ANNE]
        self.assertEqual(row["delivery"], "by_bounces")
        self.assertEqual(row["score"], "5")
        self.assertEqual(row["warnings"], "1")
        self.assertEqual(row["last_bounce"], "2024-05-05T12:00:00Z")
        self.assertEqual(row["last_warning"], "2024-05-05T12:00:00Z")
        notices = self.virgin()
        self.assertEqual(len(notices), 2)
        (owner_meta, owner_msg), (warn_meta, warn_msg) = notices
        self.assertEqual(owner_meta["recipients"], ["owner@example.com"])
        self.assertIn("Anne Person <anne@example.com>'s subscription disabled",
                      owner_msg)
        self.assertIn("message/rfc822", owner_msg)
        self.assertIn("<dsn-5@mx.example.net>", owner_msg)
        self.assertEqual(warn_meta["recipients"], [ANNE])
        self.assertIn("From: test-bounces@lists.example.org", warn_msg)
        log = self.site.log("bounce.log")
        self.assertIn(f"Member {ANNE} on list {LIST_ID}, bounce score = 4.",
                      log)
        self.assertIn(f"Disabling delivery for {ANNE} on list {LIST_ID} by "
                      "bounce", log)
        # `mailman members` agrees.
        self.assertIn(ANNE, self.site.run("members", "-n", "bybounces",
                                          LIST).stdout)

        # A residual bounce a week later drives the runner: second warning.
        self.now += 7 * DAY
        self.bounce()
        self.run_runner()
        self.assertIn(f"Residual bounce received for member {ANNE}",
                      self.site.log("bounce.log"))
        notices = self.virgin()
        self.assertEqual([m["recipients"] for m, _ in notices], [[ANNE]])
        self.assertEqual(self.state()[ANNE]["warnings"], "2")
        self.now += 7 * DAY
        self.bounce()
        self.run_runner()
        self.assertEqual(len(self.virgin()), 1)
        self.assertEqual(self.state()[ANNE]["warnings"], "3")

        # A week after the third warning: removed.
        self.now += 7 * DAY
        self.bounce()
        self.run_runner()
        self.assertNotIn(ANNE, self.state())
        notices = self.virgin()
        self.assertEqual(len(notices), 2)
        self.assertEqual(notices[0][0]["recipients"], [ANNE])
        self.assertIn("You have been unsubscribed", notices[0][1])
        self.assertEqual(notices[1][0]["recipients"], ["owner@example.com"])
        self.assertIn("due to bounces", notices[1][1])
        self.assertIn(f"Removed {ANNE} as a member of Test mailing list due "
                      "to excessive bounces", self.site.log("bounce.log"))
        self.assertNotIn(ANNE, self.site.run("members", LIST).stdout)

        # The event log of the list.
        out = self.site.run("bounces", "--events", "3", LIST).stdout.splitlines()
        self.assertEqual(out[0], "time\temail\tcontext\tprocessed\tmessage_id")
        self.assertEqual(len(out), 4)
        self.assertTrue(out[-1].startswith("2024-05-26T12:00:00Z\t" + ANNE +
                                           "\tnormal\tyes\t<dsn-8@"))

    def test_periodic_pass_sends_warnings(self):
        """The runner's pass (no entry at all) sends warnings: needs the
        loop's per-pass hook (MmRunnerClass.periodic for queue runners)."""
        self.set_list("bounce_score_threshold", 1)
        self.bounce()
        self.run_runner()
        self.assertEqual(len(self.virgin()), 2)
        self.now += 7 * DAY
        self.run_runner()
        notices = self.virgin()
        self.assertEqual([m["recipients"] for m, _ in notices], [[ANNE]])

    def test_same_day_and_stale(self):
        self.bounce()
        self.bounce(to="test-bounces@lists.example.org")  # a plain DSN
        self.run_runner()
        self.assertEqual(self.state()[ANNE]["score"], "1")
        self.assertIn(f"Member {ANNE} already scored a bounce on list "
                      f"{LIST_ID} today.", self.site.log("bounce.log"))
        self.now += DAY
        self.bounce()
        self.run_runner()
        self.assertEqual(self.state()[ANNE]["score"], "2")
        # bounce_info_stale_after (7 days): the score starts over.
        self.now += 8 * DAY
        self.bounce()
        self.run_runner()
        self.assertEqual(self.state()[ANNE]["score"], "1")

    def test_reenable(self):
        self.set_list("bounce_score_threshold", 2)
        for _ in range(2):
            self.bounce()
            self.run_runner()
            self.now += DAY
        self.assertEqual(self.state()[ANNE]["delivery"], "by_bounces")
        out = self.site.run("reenable", LIST, ANNE).stdout
        self.assertIn(f"Re-enabled delivery to {ANNE} on {LIST}", out)
        row = self.state()[ANNE]
        self.assertEqual((row["delivery"], row["score"], row["warnings"],
                          row["last_bounce"]), ("enabled", "0", "0", "-"))
        self.assertIn(f"Delivery re-enabled for {ANNE} on list {LIST_ID}",
                      self.site.log("bounce.log"))
        out = self.site.run("reenable", LIST, "bob@example.org").stdout
        self.assertIn("was not disabled by bounces", out)
        r = self.site.run("reenable", LIST, "nobody@example.org", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nobody@example.org is not a member", r.stderr)
        r = self.site.run("reenable", LIST, check=False)
        self.assertEqual(r.returncode, 2)
        r = self.site.run("bounces", "nolist@lists.example.org", check=False)
        self.assertEqual(r.returncode, 1)

    def test_process_bounces_off(self):
        self.set_list("process_bounces", 0)
        for _ in range(6):
            self.bounce()
            self.run_runner()
            self.now += DAY
        row = self.state()[ANNE]
        self.assertEqual((row["score"], row["delivery"]), ("0", "enabled"))
        self.assertEqual(self.virgin(), [])
        out = self.site.run("bounces", "--events", "10", LIST).stdout
        self.assertEqual(out.count("\tyes\t"), 6)

    def test_smtp_refusals(self):
        self.smtp_report([{"email": ANNE, "code": 550,
                           "message": "5.1.1 no such user",
                           "context": "normal"},
                          {"email": "bob@example.org", "smtp_code": 554,
                           "message": "rejected"}])
        self.run_runner()
        state = self.state()
        self.assertEqual(state[ANNE]["score"], "1")
        self.assertEqual(state["bob@example.org"]["score"], "1")
        self.assertIn(f"SMTP refusal 550 for {ANNE} on list {LIST_ID}",
                      self.site.log("bounce.log"))


class ProbeTest(BounceScoringTest):
    extra_cfg = "[mta]\nverp_probes: yes\n"

    def probe_token(self):
        self.set_list("bounce_score_threshold", 1)
        self.bounce()
        self.run_runner()
        notices = self.virgin()
        self.assertEqual(len(notices), 1)
        meta, message = notices[0]
        self.assertEqual(meta["recipients"], [ANNE])
        self.assertIn("Test mailing list probe message", message)
        token = meta["probe_token"]
        self.assertRegex(token, r"^[0-9a-f]{40}$")
        self.assertEqual(meta["sender"],
                         f"test-bounces+{token}@lists.example.org")
        self.assertFalse(meta["verp"])
        self.assertIn("sending probe", self.site.log("bounce.log"))
        row = self.state()[ANNE]
        self.assertEqual((row["score"], row["delivery"]), ("0", "enabled"))
        return token

    def test_probe_bounce_by_dsn(self):
        token = self.probe_token()
        # The probe's bounce names someone else (forwarding): the token
        # decides.
        self.bounce(to=f"test-bounces+{token}@lists.example.org",
                    recipient="forwarded@example.net")
        self.run_runner()
        self.assertEqual(self.state()[ANNE]["delivery"], "by_bounces")
        self.assertIn(f"Probe bounce received for member {ANNE}",
                      self.site.log("bounce.log"))
        # The token is used up: the same bounce again is an ordinary DSN
        # for an address that is no member.
        self.bounce(to=f"test-bounces+{token}@lists.example.org",
                    recipient="forwarded@example.net")
        self.run_runner()
        self.assertIn("Email forwarded@example.net is not a subscriber",
                      self.site.log("bounce.log"))

    def test_probe_refused_at_smtp(self):
        token = self.probe_token()
        self.smtp_report([{"email": ANNE, "code": 550, "message": "no",
                           "context": "probe", "probe_token": token}])
        self.run_runner()
        self.assertEqual(self.state()[ANNE]["delivery"], "by_bounces")
        # An unknown token is ignored.
        self.smtp_report([{"email": "bob@example.org", "code": 550,
                           "message": "no", "context": "probe",
                           "probe_token": "0" * 40}])
        self.run_runner()
        self.assertEqual(self.state()["bob@example.org"]["score"], "0")
        self.assertTrue(re.search(r"probe token is unknown or used",
                                  self.site.log("bounce.log")))

    # The scoring tests above run again with probes on where they apply;
    # those that count to the threshold expect no probe.
    test_disabled_warned_and_removed = None
    test_periodic_pass_sends_warnings = None
    test_reenable = None


if __name__ == "__main__":
    sys.exit(mmtest.run_tap())
