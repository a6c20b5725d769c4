#!/usr/bin/env python3
"""Moderation on a started site, through the real binary and its runners.

A member's post goes straight through `in` and `pipeline` to `out`; a
nonmember's post is held: the request shows in `mailman held`, the
moderators' notice is queued (virgin, then out), and after `mailman
moderate --accept` the post reaches `out` exactly once.  Rejecting and
discarding a held post, and the runner's handling of a post for a list
that has gone, are checked too.
"""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402
from mmtest import wait_for  # noqa: E402

MEMBER_POST = """\
From: Anne Person <anne@example.com>
To: test@example.com
Subject: Member post
Message-ID: <member.1@example.com>

From a member.
"""

NONMEMBER_POST = """\
From: Bart Outsider <bart@example.org>
To: test@example.com
Subject: Nonmember post
Message-ID: <{mid}>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit

Gr\u00fc\u00dfe from outside.
"""


def read_queue_file(path):
    """(metadata dict, message bytes) of one of our queue files."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(b"MMQ1\n"), path
    pos = 5
    end = data.index(b"\n", pos)
    meta_len = int(data[pos:end].split()[1])
    meta = json.loads(data[end + 1:end + 1 + meta_len])
    pos = end + 1 + meta_len + 1
    end = data.index(b"\n", pos)
    msg_len = int(data[pos:end].split()[1])
    message = data[end + 1:end + 1 + msg_len]
    return meta, message


def queue(site, name):
    out = []
    for f in site.queue_files(name):
        try:
            out.append(read_queue_file(site.path("queue", name, f)))
        except FileNotFoundError:
            pass  # claimed by a runner meanwhile
    return out


def with_message_id(entries, mid):
    return [e for e in entries if f"<{mid}>".encode() in e[1]]


def accepted(entries, mid):
    """The post itself (not a notice quoting it): the pipeline may have
    prefixed its subject."""
    return [e for e in with_message_id(entries, mid)
            if (subject_of(e[1]) or "").endswith("Nonmember post")]


def subject_of(message):
    m = re.search(rb"^Subject: (.*)$", message, re.M)
    return m.group(1).decode() if m else None


class Moderation(unittest.TestCase):
    def setUp(self):
        # The out runner stays off, so what reaches `out` waits there to
        # be counted (delivery has tests of its own).
        self.site = mmtest.Site(mta="null",
                                extra_cfg="[runner.out]\nstart: no\n")
        self.site.run("create", "test@example.com", "--owner",
                      "owner@example.com")
        self.site.run("addmembers", "-", "test@example.com",
                      stdin="Anne Person <anne@example.com>\n")
        self.site.run("start")

    def tearDown(self):
        self.site.cleanup()

    def quiet(self):
        """Waits until in, pipeline and virgin are empty."""
        # A claimed entry is a .bak: count those too.
        wait_for(lambda: not any(self.site.queue_files(q, suffix)
                                 for q in ("in", "pipeline", "virgin")
                                 for suffix in (".pck", ".bak")),
                 what="the in, pipeline and virgin queues to drain")

    def held(self):
        out = self.site.run("held", "test@example.com").stdout
        return re.findall(r"^(\d+)\t(\S+)\t(\S+)\t(.*)$", out, re.M)

    def test_member_post_goes_out(self):
        self.site.run("inject", "test@example.com", stdin=MEMBER_POST)
        wait_for(lambda: with_message_id(queue(self.site, "out"),
                                         "member.1@example.com"),
                 what="the member's post in out")
        self.quiet()
        posts = with_message_id(queue(self.site, "out"),
                                "member.1@example.com")
        self.assertEqual(len(posts), 1)
        meta, message = posts[0]
        self.assertIn(b"X-Mailman-Rule-Misses: dmarc-mitigation;", message)
        self.assertNotIn(b"X-Mailman-Rule-Hits", message)
        self.assertEqual(meta["listid"], "test.example.com")
        self.assertEqual(meta["rule_hits"], [])
        self.assertEqual(len(meta["rule_misses"]), 16)
        self.assertEqual(self.held(), [])
        self.assertIn("ACCEPT: <member.1@example.com>",
                      self.site.log("vette.log") + self.site.log())

    def test_nonmember_post_held_then_accepted_once(self):
        mid = "held.1@example.org"
        self.site.run("inject", "test@example.com",
                      stdin=NONMEMBER_POST.format(mid=mid))
        held = wait_for(self.held, what="the held request")
        self.assertEqual(len(held), 1)
        request_id, date, sender, subject = held[0]
        self.assertEqual(sender, "bart@example.org")
        self.assertEqual(subject, "Nonmember post")
        self.quiet()
        # Nothing of the post reached out; the notices did.
        out = queue(self.site, "out")
        self.assertEqual(accepted(out, mid), [])
        notices = {subject_of(m): meta for meta, m in out}
        admin = notices.get(
            "test@example.com post from bart@example.org requires approval")
        self.assertIsNotNone(admin, list(notices))
        self.assertEqual(admin["recipients"], ["owner@example.com"])
        poster = notices.get(
            "Your message to test@example.com awaits moderator approval")
        self.assertIsNotNone(poster, list(notices))
        self.assertEqual(poster["recipients"], ["bart@example.org"])
        show = self.site.run("held", "test@example.com", "--show",
                             request_id).stdout
        self.assertIn("X-Mailman-Rule-Hits: nonmember-moderation", show)
        self.assertIn("HOLD: test@example.com post from bart@example.org",
                      self.site.log("vette.log") + self.site.log())

        r = self.site.run("moderate", "test@example.com", request_id,
                          "--accept", "--add-to-accept-nonmembers")
        self.assertIn(f"Accepted request {request_id}", r.stdout)
        wait_for(lambda: accepted(queue(self.site, "out"), mid),
                 what="the accepted post in out")
        self.quiet()
        posts = accepted(queue(self.site, "out"), mid)
        self.assertEqual(len(posts), 1)
        meta, message = posts[0]
        self.assertTrue(meta.get("approved"))
        self.assertTrue(meta.get("moderator_approved"))
        self.assertIn(b"X-Mailman-Approved-At:", message)
        self.assertEqual(self.held(), [])
        # Accepting again finds nothing and queues nothing.
        again = self.site.run("moderate", "test@example.com", request_id,
                              "--accept", check=False)
        self.assertEqual(again.returncode, 1)
        self.assertEqual(len(accepted(queue(self.site, "out"), mid)), 1)
        # The sender is on accept_these_nonmembers now: the next post goes
        # straight through.
        self.site.run("inject", "test@example.com",
                      stdin=NONMEMBER_POST.format(mid="held.2@example.org"))
        wait_for(lambda: accepted(queue(self.site, "out"),
                                  "held.2@example.org"),
                 what="the second post in out")
        self.assertEqual(self.held(), [])

    def test_reject_and_discard(self):
        for n in (1, 2):
            self.site.run("inject", "test@example.com",
                          stdin=NONMEMBER_POST.format(mid=f"r.{n}@example.org"))
        held = wait_for(lambda: len(self.held()) == 2 and self.held(),
                        what="two held requests")
        self.quiet()
        first, second = held[0][0], held[1][0]
        self.site.run("moderate", "test@example.com", first, "--reject",
                      "Please post from your subscribed address")
        self.site.run("moderate", "test@example.com", second, "--discard")
        self.assertEqual(self.held(), [])
        wait_for(lambda: any(subject_of(m) ==
                             'Request to mailing list "Test" rejected'
                             for _, m in queue(self.site, "out")),
                 what="the refusal notice")
        self.quiet()
        for mid in ("r.1@example.org", "r.2@example.org"):
            self.assertEqual(accepted(queue(self.site, "out"), mid), [])
        refusal = [m for _, m in queue(self.site, "out")
                   if subject_of(m) == 'Request to mailing list "Test" rejected']
        self.assertEqual(len(refusal), 1)
        self.assertIn(b"Please post from your subscribed address", refusal[0])
        log = self.site.log("vette.log") + self.site.log()
        self.assertIn("Refused posting", log)
        self.assertIn("Discarded posting", log)

    def test_usage(self):
        r = self.site.run("moderate", "test@example.com", "1", check=False)
        self.assertEqual(r.returncode, 2)
        r = self.site.run("moderate", "test@example.com", "999", "--accept",
                          check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("999", r.stderr)
        r = self.site.run("held", "nope@example.com", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("No held messages", self.site.run(
            "held", "test@example.com").stdout)


if __name__ == "__main__":
    mmtest.run_tap()
