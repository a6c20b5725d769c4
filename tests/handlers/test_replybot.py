#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The list's automatic responses (Mailman's replybot) on a started site.

Mail arrives over LMTP, so its metadata (to_list, to_owner, to_request)
is what the lmtp runner sets; the out runner is off, so responses and
posts wait in `out` to be read with `mailman qfile`.  List settings no
command changes are written to the database directly.

- autorespond_postings respond_and_continue: the poster gets the list's
  text (variables expanded, wrapped), From -bounces, with "X-Ack: No";
  the post goes on; a second post within the grace period gets no second
  response, unless it asks with "X-Ack: yes"; with a grace period of 0
  every post is answered;
- Precedence bulk (without X-Ack: yes) and X-Ack: no get no response;
- autorespond_owner respond_and_discard: -owner mail is answered and goes
  no further (logged to vette);
- autorespond_requests respond_and_discard: -request mail is answered and
  its commands are not run; respond_and_continue runs them too.
Every wait is bounded (mmtest.wait_for); nothing is timed.
"""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402
from mmtest import wait_for  # noqa: E402

LIST = "test@example.com"
EXTRA_CFG = """
[runner.out]
start: no

[runner.archive]
start: no

[runner.digest]
start: no
"""
# Mailman's ResponseAction values, as stored.
NONE, RESPOND_AND_DISCARD, RESPOND_AND_CONTINUE = 0, 1, 2
TEXT = ("Thank you for writing to $display_name.  Its owners read "
        "$owneremail and commands go to $requestemail.")


def header(text, name):
    m = re.search(rf"^{name}: (.*)$", text, re.M | re.I)
    return m.group(1) if m else None


def is_response(text):
    """An automatic response (not a post that itself says X-Ack: no)."""
    return ((header(text, "X-Ack") or "").lower() == "no" and
            header(text, "From") == "test-bounces@example.com")


def message(sender, to, subject, mid, extra=""):
    return (f"From: {sender}\nTo: {to}\nSubject: {subject}\n"
            f"Message-ID: <{mid}>\n{extra}\nHello.\n")


class Replybot(unittest.TestCase):
    def setUp(self):
        self.site = mmtest.Site(extra_cfg=EXTRA_CFG, mta="null")
        self.site.run("create", LIST, "--owner", "owner@example.com")
        self.site.run("addmembers", "-", LIST,
                      stdin="Anne Person <anne@example.com>\n")
        self.set_setting("autoresponse_postings_text", TEXT)
        self.set_setting("autoresponse_owner_text", "Owners are away.")
        self.set_setting("autoresponse_request_text", "Robots answer here.")
        self.site.run("start")
        self.seen = []

    def tearDown(self):
        self.site.cleanup()

    def set_setting(self, column, value):
        self.site.set_list_column("test.example.com", column, value)

    def lmtp(self, sender, rcpt, text):
        self.assertEqual(self.site.lmtp_send(sender, rcpt, text), {})

    def quiet(self):
        wait_for(lambda: not any(self.site.queue_files(q, suffix)
                                 for q in ("in", "command", "pipeline",
                                           "virgin")
                                 for suffix in (".pck", ".bak")),
                 what="in, command, pipeline and virgin to drain")

    def out(self):
        """Every entry in out, read once (and removed) over the test."""
        for name in self.site.queue_files("out"):
            try:
                self.seen.append(self.site.qfile("out", name))
                os.unlink(self.site.path("queue", "out", name))
            except (AssertionError, FileNotFoundError):
                pass
        return self.seen

    def responses(self):
        return [(m, t) for m, t in self.out() if is_response(t)]

    def with_mid(self, mid):
        return [(m, t) for m, t in self.out() if f"<{mid}>" in t]

    def test_post_answered_once_in_grace_period_and_continues(self):
        self.set_setting("autorespond_postings", RESPOND_AND_CONTINUE)
        self.lmtp("anne@example.com", LIST,
                  message("anne@example.com", LIST, "First", "p1@example.com"))
        wait_for(lambda: self.with_mid("p1@example.com"),
                 what="the post in out")
        self.quiet()
        (meta, text), = self.responses()
        self.assertEqual(meta["recipients"], ["anne@example.com"])
        self.assertEqual(header(text, "From"), "test-bounces@example.com")
        self.assertEqual(header(text, "To"), "anne@example.com")
        self.assertIn("Test", header(text, "Subject"))
        body = text.split("\n\n", 1)[1]
        self.assertIn("Thank you for writing to Test.", body)
        self.assertIn("test-owner@example.com", body)
        self.assertIn("test-request@example.com", body)
        self.assertTrue(all(len(line) <= 70 for line in body.splitlines()),
                        body)

        # Within the grace period (90 days): no second response...
        self.lmtp("anne@example.com", LIST,
                  message("anne@example.com", LIST, "Second",
                          "p2@example.com"))
        wait_for(lambda: self.with_mid("p2@example.com"),
                 what="the second post in out")
        self.quiet()
        self.assertEqual(len(self.responses()), 1)
        # ... unless the sender asks for one.
        self.lmtp("anne@example.com", LIST,
                  message("anne@example.com", LIST, "Third",
                          "p3@example.com", "X-Ack: yes\n"))
        wait_for(lambda: len(self.responses()) == 2,
                 what="the response asked for with X-Ack: yes")

    def test_no_grace_period_robots_and_x_ack_no(self):
        self.set_setting("autorespond_postings", RESPOND_AND_CONTINUE)
        self.set_setting("autoresponse_grace_period", 0)
        for i in range(2):
            self.lmtp("anne@example.com", LIST,
                      message("anne@example.com", LIST, f"Post {i}",
                              f"g{i}@example.com"))
        self.lmtp("anne@example.com", LIST,
                  message("anne@example.com", LIST, "Bulk", "b@example.com",
                          "Precedence: bulk\n"))
        self.lmtp("anne@example.com", LIST,
                  message("anne@example.com", LIST, "Quiet", "q@example.com",
                          "X-Ack: no\n"))
        for mid in ("g0", "g1", "b", "q"):
            wait_for(lambda: self.with_mid(f"{mid}@example.com"),
                     what=f"post {mid} in out")
        self.quiet()
        self.assertEqual(len(self.responses()), 2)

    def test_owner_mail_answered_and_discarded(self):
        self.set_setting("autorespond_owner", RESPOND_AND_DISCARD)
        self.lmtp("bart@example.org", "test-owner@example.com",
                  message("bart@example.org", "test-owner@example.com",
                          "For the owners", "o1@example.org"))
        wait_for(self.responses, what="the response to -owner mail")
        self.quiet()
        (meta, text), = self.responses()
        self.assertEqual(meta["recipients"], ["bart@example.org"])
        self.assertIn("Owners are away.", text)
        self.assertEqual(self.with_mid("o1@example.org"), [])
        self.assertIn("<o1@example.org> -owner message discarded",
                      self.site.log("vette.log") + self.site.log())

    def test_request_answered_and_commands_not_run(self):
        self.set_setting("autorespond_requests", RESPOND_AND_DISCARD)
        self.lmtp("carl@example.org", "test-request@example.com",
                  message("carl@example.org", "test-request@example.com",
                          "join", "r1@example.org"))
        wait_for(self.responses, what="the response to -request mail")
        self.quiet()
        (meta, text), = self.responses()
        self.assertIn("Robots answer here.", text)
        # Only the response: no confirmation request for "join".
        self.assertEqual(len(self.out()), 1)

    def test_request_answered_and_commands_run(self):
        self.set_setting("autorespond_requests", RESPOND_AND_CONTINUE)
        self.lmtp("carl@example.org", "test-request@example.com",
                  message("carl@example.org", "test-request@example.com",
                          "join", "r2@example.org"))
        def confirmation():
            return [t for m, t in self.out() if not is_response(t) and
                    "confirm" in (header(t, "Subject") or "").lower()]
        wait_for(confirmation, what="the confirmation request for join")
        self.quiet()
        self.assertEqual(len(self.responses()), 1)


if __name__ == "__main__":
    mmtest.run_tap()
