"""The bounces runner end to end: `mailman inject -q bounces` puts a
message in the queue, `mailman runner --runner=bounces --once` handles it,
and the test looks at what it left: rows of the bounceevent table, the
message store, the virgin queue (the notice for an unrecognised bounce),
the shunt queue, the logs.  Scoring is in test_bounce_scoring.py.

List settings that no command changes yet (process_bounces,
forward_unrecognized_bounces_to) are set in the SQLite file directly.
"""
import json
import os
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402

LIST = "test@lists.example.org"
LIST_ID = "test.lists.example.org"


def dsn(to, recipient="gone@example.net", action="failed", status="5.1.1"):
    return f"""\
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{action}-{recipient}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Delivery to a recipient failed.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}

--B--
"""


UNRECOGNIZED = """\
From: someone@example.net
To: test-bounces@lists.example.org
Subject: what is this address?
Message-ID: <odd-one@example.net>

Hello, I got mail from this address and do not know why.
"""

VACATION = """\
From: anne@example.com
To: test-bounces+anne=example.com@lists.example.org
Subject: Out of office: [Test] hello
Message-ID: <away@example.com>

I am away until Monday.
"""


class BounceRunnerTest(unittest.TestCase):
    def setUp(self):
        self.site = mmtest.Site(mta="null")
        self.site.run("create", "-o", "owner@example.com", LIST)

    def tearDown(self):
        self.site.cleanup()

    # helpers

    def inject(self, text, *meta):
        args = ["inject", "-q", "bounces"]
        for m in meta:
            args += ["-m", m]
        self.site.run(*args, LIST, stdin=text)

    def run_runner(self):
        self.site.run("runner", "--runner=bounces", "--once")
        self.assertEqual(self.site.queue_files("bounces"), [])
        self.assertEqual(self.site.queue_files("bounces", ".bak"), [])

    def db(self):
        db = sqlite3.connect(self.site.path("data", "mailman.db"))
        db.row_factory = sqlite3.Row
        return db

    def events(self):
        db = self.db()
        rows = [dict(r) for r in db.execute(
            "SELECT * FROM bounceevent ORDER BY id")]
        db.close()
        return rows

    def stored_message_ids(self):
        db = self.db()
        ids = [r[0] for r in db.execute("SELECT message_id FROM message")]
        db.close()
        return ids

    def virgin(self):
        entries = []
        for name in self.site.queue_files("virgin"):
            out = self.site.run("qfile",
                                self.site.path("queue", "virgin", name)).stdout
            meta_text = out.split("[----- metadata -----]\n", 1)[1]
            meta_text, message = meta_text.split("\n[----- message", 1)
            entries.append((json.loads(meta_text), message))
        return entries

    def set_list(self, column, value):
        db = sqlite3.connect(self.site.path("data", "mailman.db"))
        with db:
            db.execute(f"UPDATE mailinglist SET {column} = ? WHERE list_id = ?",
                       (value, LIST_ID))
        db.close()

    # tests

    def test_verp_bounce_records_the_member(self):
        self.inject(dsn("test-bounces+anne=example.com@lists.example.org",
                        recipient="forwarded@example.net"))
        self.run_runner()
        events = self.events()
        self.assertEqual(len(events), 1)
        event = events[0]
        self.assertEqual(event["email"], "anne@example.com")
        self.assertEqual(event["list_id"], LIST_ID)
        self.assertEqual(event["context"], 1)  # normal
        self.assertEqual(event["message_id"],
                         "<dsn-failed-forwarded@example.net@mx.example.net>")
        # Microseconds, now.
        self.assertLess(abs(event["timestamp"] / 1e6 - time.time()), 600)
        # Anne is no member: scoring, right after, drops the event.
        self.assertEqual(event["processed"], 1)
        self.assertIn("Bounce message for a non subscriber: Email "
                      "anne@example.com is not a subscriber of " + LIST_ID,
                      self.site.log("bounce.log"))
        # The bounce is in the message store for the notices.
        self.assertEqual(self.stored_message_ids(),
                         ["<dsn-failed-forwarded@example.net@mx.example.net>"])
        self.assertEqual(self.virgin(), [])

    def test_dsn_without_verp(self):
        self.inject(dsn("test-bounces@lists.example.org",
                        recipient="bob@example.org"))
        self.run_runner()
        self.assertEqual([e["email"] for e in self.events()],
                         ["bob@example.org"])

    def test_temporary_failures_are_ignored(self):
        self.inject(dsn("test-bounces@lists.example.org", action="delayed",
                        status="4.4.1"))
        self.inject(dsn("test-bounces+anne=example.com@lists.example.org",
                        action="delayed", status="4.4.1"))
        self.run_runner()
        self.assertEqual(self.events(), [])
        self.assertEqual(self.virgin(), [])

    def test_unrecognized_goes_to_the_owners(self):
        self.inject(UNRECOGNIZED)
        self.run_runner()
        self.assertEqual(self.events(), [])
        entries = self.virgin()
        self.assertEqual(len(entries), 1)
        meta, message = entries[0]
        self.assertEqual(meta["recipients"], ["owner@example.com"])
        self.assertEqual(meta["listid"], LIST_ID)
        self.assertEqual(meta["envsender"], "admin@example.com")
        self.assertTrue(meta["nodecorate"])
        self.assertIn("Subject: Uncaught bounce notification", message)
        self.assertIn("To: test-owner@lists.example.org", message)
        self.assertIn("Content-Type: message/rfc822", message)
        self.assertIn("Hello, I got mail from this address", message)
        self.assertIn("Bounce message w/no discernable addresses: "
                      "<odd-one@example.net>", self.site.log("bounce.log"))

    def test_verped_non_report(self):
        self.inject(UNRECOGNIZED.replace(
            "To: test-bounces@", "To: test-bounces+anne=example.com@"))
        self.run_runner()
        self.assertIn("VERPed bounce message but not a recognized DSN: "
                      "<odd-one@example.net>", self.site.log("bounce.log"))
        self.assertEqual(len(self.virgin()), 1)
        self.assertEqual(self.events(), [])

    def test_auto_reply_is_dropped(self):
        self.inject(VACATION)
        self.run_runner()
        self.assertEqual(self.events(), [])
        self.assertEqual(self.virgin(), [])
        self.assertIn("Auto-reply, not a bounce, discarded: <away@example.com>",
                      self.site.log("bounce.log"))

    def test_forward_to_site_owner_or_discard(self):
        self.set_list("forward_unrecognized_bounces_to", 2)  # site_owner
        self.inject(UNRECOGNIZED)
        self.run_runner()
        entries = self.virgin()
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries[0][0]["recipients"], ["admin@example.com"])
        self.assertIn("To: admin@example.com", entries[0][1])
        os.unlink(self.site.path("queue", "virgin",
                                 self.site.queue_files("virgin")[0]))

        self.set_list("forward_unrecognized_bounces_to", 0)  # discard
        self.inject(UNRECOGNIZED)
        self.run_runner()
        self.assertEqual(self.virgin(), [])
        self.assertIn("Discarding unrecognized bounce: <odd-one@example.net>",
                      self.site.log("bounce.log"))

    def test_list_without_owners_reaches_the_site_owner(self):
        self.site.run("create", "lonely@lists.example.org")
        self.site.run("inject", "-q", "bounces", "lonely@lists.example.org",
                      stdin=UNRECOGNIZED)
        self.run_runner()
        entries = self.virgin()
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries[0][0]["recipients"], ["admin@example.com"])

    def test_process_bounces_off(self):
        self.set_list("process_bounces", 0)
        self.inject(dsn("test-bounces+anne=example.com@lists.example.org"))
        self.inject(UNRECOGNIZED)
        self.run_runner()
        # Recorded and marked processed without acting; nothing forwarded.
        events = self.events()
        self.assertEqual([e["email"] for e in events], ["anne@example.com"])
        self.assertEqual(events[0]["processed"], 1)
        self.assertEqual(self.virgin(), [])

    def test_missing_list_is_shunted(self):
        self.inject(dsn("test-bounces@lists.example.org"),
                    "listid=gone.lists.example.org")
        self.run_runner()
        self.assertEqual(len(self.site.queue_files("shunt")), 1)
        self.assertIn('runner "bounces" shunting message for missing list: '
                      "gone.lists.example.org", self.site.log("mailman.log"))
        self.assertEqual(self.events(), [])


if __name__ == "__main__":
    sys.exit(mmtest.run_tap())
