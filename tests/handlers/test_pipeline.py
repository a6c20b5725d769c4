#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end tests of the pipeline and virgin runners with the real binary.

A private site with a list and members; `mailman start` runs the runners
(the out runner is switched off so that what the pipeline produced stays
in the out queue to be read); posts are injected and the entries that
reach `out` are read back from their queue files (docs/queue-format.md):

- a member's post injected into `pipeline` comes out with List-Id,
  List-Post, List-Unsubscribe, the subject prefix, the footer, and
  metadata recipients = the members;
- the same through `in` (the posting chain, then the pipeline);
- mail to -owner goes to the owners only, undecorated;
- a notice in `virgin` keeps its recipients and gets the reduced headers;
- a queue entry whose message cannot be parsed ends in `bad`, and the
  runner carries on.
Every wait is bounded (mmtest.wait_for); nothing is timed.
"""
import email
import email.policy
import hashlib
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402

EXTRA_CFG = """
[runner.out]
start: no

[runner.archive]
start: no

[runner.digest]
start: no
"""

POST = """\
From: Anne Person <anne@example.com>
To: test@example.com
Subject: =?utf-8?q?Caf=C3=A9?= meeting
Message-ID: <post-1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

See you at the café.
"""


def read_queue_file(path):
    """(metadata dict, message bytes) of one MMQ1 queue file."""
    with open(path, "rb") as f:
        data = f.read()
    magic, rest = data.split(b"\n", 1)
    assert magic == b"MMQ1", magic
    meta_line, rest = rest.split(b"\n", 1)
    meta_len = int(meta_line.split()[1])
    meta = json.loads(rest[:meta_len])
    rest = rest[meta_len + 1:]
    msg_line, rest = rest.split(b"\n", 1)
    msg_len = int(msg_line.split()[1])
    message = rest[:msg_len]
    trailer = rest[msg_len + 1:]
    body_end = len(data) - len(trailer)
    expected = hashlib.sha1(data[:body_end]).hexdigest()
    assert trailer == b"end sha1 " + expected.encode() + b"\n", trailer
    return meta, message


def write_queue_file(path, meta, message):
    """Writes an MMQ1 queue file (atomically, by rename)."""
    meta_bytes = json.dumps(meta, sort_keys=True,
                            separators=(",", ":")).encode()
    body = (b"MMQ1\nmeta %d\n" % len(meta_bytes) + meta_bytes + b"\n"
            + b"message %d\n" % len(message) + message + b"\n")
    data = body + b"end sha1 " + hashlib.sha1(body).hexdigest().encode() + b"\n"
    tmp = path + ".tmp-test"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class PipelineRunner(unittest.TestCase):
    def setUp(self):
        self.site = mmtest.Site(extra_cfg=EXTRA_CFG, mta="null")
        self.site.run("create", "-o", "owner@example.com", "test@example.com")
        self.site.run("addmembers", "-", "test@example.com",
                      stdin="Anne Person <anne@example.com>\n"
                            "Bart <Bart@Example.com>\n")

    def tearDown(self):
        self.site.cleanup()

    def start(self):
        self.site.run("start")

    def wait_out(self, count=1, queue="out"):
        files = mmtest.wait_for(
            lambda: (len(self.site.queue_files(queue)) >= count
                     and self.site.queue_files(queue)),
            timeout=30, what=f"{count} entries in {queue}")
        return [read_queue_file(self.site.path("queue", queue, name))
                for name in files]

    def inject(self, queue, text, *metadata):
        args = ["inject", "-q", queue]
        for kv in metadata:
            args += ["-m", kv]
        args.append("test@example.com")
        self.site.run(*args, stdin=text)

    def check_post(self, meta, raw):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(sorted(meta["recipients"]),
                         ["anne@example.com", "bart@example.com"])
        self.assertEqual(meta["listid"], "test.example.com")
        self.assertEqual(msg["List-Id"], "<test.example.com>")
        self.assertEqual(msg["List-Post"], "<mailto:test@example.com>")
        self.assertEqual(msg["List-Unsubscribe"],
                         "<mailto:test-leave@example.com>")
        self.assertEqual(msg["List-Help"],
                         "<mailto:test-request@example.com?subject=help>")
        self.assertEqual(str(msg["Subject"]), "[Test] Café meeting")
        self.assertEqual(msg["Precedence"], "list")
        self.assertIn("X-Mailman-Version", msg)
        body = msg.get_body().get_content()
        self.assertTrue(body.startswith("See you at the café.\n"), body)
        self.assertIn("Test mailing list: test@example.com", body)
        self.assertTrue(body.rstrip().endswith(
            "To leave this list, write to test-leave@example.com"), body)
        # Headers as written are ASCII (RFC 2047 where needed).
        head = raw.split(b"\n\n", 1)[0]
        head.decode("ascii")

    def test_post_from_pipeline_queue(self):
        self.start()
        self.inject("pipeline", POST, "to_list=yes")
        [(meta, raw)] = self.wait_out()
        self.check_post(meta, raw)
        # The post was counted and queued for the digest.
        digest = self.site.path("lists", "test.example.com", "digest.mmdf")
        mmtest.wait_for(lambda: os.path.exists(digest), what="digest.mmdf")
        self.assertIn(b"Message-ID: <post-1@example.com>",
                      open(digest, "rb").read())
        # The archive runner is off: the copy for the archivers waits.
        self.assertEqual(len(self.site.queue_files("archive")), 1)

    def test_post_through_in(self):
        self.start()
        self.inject("in", POST, "to_list=yes")
        [(meta, raw)] = self.wait_out()
        self.check_post(meta, raw)

    def test_owner_mail(self):
        self.start()
        self.inject("pipeline", POST, "to_owner=yes")
        [(meta, raw)] = self.wait_out()
        self.assertEqual(meta["recipients"], ["owner@example.com"])
        self.assertTrue(meta["nodecorate"])
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertNotIn("List-Id", msg)
        self.assertNotIn("To leave this list", msg.get_body().get_content())

    def test_virgin_notice(self):
        self.start()
        notice = ("From: test-bounces@example.com\nTo: carol@example.org\n"
                  "Subject: A notice\nMessage-ID: <notice-1@example.com>\n"
                  "Precedence: bulk\n\nHello Carol.\n")
        path = self.site.path("queue", "virgin", "0000000001.000000+"
                              + "0" * 40 + ".pck")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_queue_file(path, {"listid": "test.example.com",
                                "recipients": ["carol@example.org"],
                                "nodecorate": True,
                                "reduced_list_headers": True,
                                "version": 3}, notice.encode())
        [(meta, raw)] = self.wait_out()
        self.assertEqual(meta["recipients"], ["carol@example.org"])
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(msg["List-Id"], "<test.example.com>")
        self.assertIn("List-Unsubscribe", msg)
        self.assertNotIn("List-Post", msg)
        self.assertEqual(msg["Subject"], "A notice")
        self.assertEqual(msg["Precedence"], "bulk")
        self.assertEqual(msg.get_body().get_content(), "Hello Carol.\n")

    def test_unparsable_goes_to_bad(self):
        self.start()
        path = self.site.path("queue", "pipeline", "0000000001.000000+"
                              + "0" * 40 + ".pck")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_queue_file(path, {"listid": "test.example.com", "version": 3},
                         b"\x00\x01 not a message \xff\n\n")
        mmtest.wait_for(lambda: self.site.queue_files("bad"),
                        what="an entry in bad")
        self.assertIn("cannot be parsed", self.site.log())
        # The runner is still there: a good post goes through afterwards.
        self.inject("pipeline", POST, "to_list=yes")
        [(meta, raw)] = self.wait_out()
        self.check_post(meta, raw)
        self.assertEqual(self.site.queue_files("shunt"), [])


if __name__ == "__main__":
    mmtest.run_tap()
