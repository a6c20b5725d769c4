#!/usr/bin/env python3
"""Email commands and membership workflows on a started site.

Mail goes to the list's -join, -leave, -request and -confirm addresses over
LMTP (the lmtp runner is running) or with `mailman inject -q command`; the
command runner acts; what the server sends is read from the `out` queue
with `mailman qfile` (the out runner is not started, so every notice waits
there to be looked at); membership is read with `mailman members`, pending
requests with `mailman requests`.  Covered: join, confirmation, welcome,
leave, confirmation, goodbye, owner notices; moderated subscriptions
approved by the command line and by mail, rejected by the command line;
an expired token; a confirmation replayed; forged auto-replies; a
10,000-line body and garbage.
"""
import glob
import os
import re
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402
from mmtest import wait_for  # noqa: E402

LIST = "test@example.com"

EXTRA_CFG = """
[runner.command]
sleep_time: 0.1s

[runner.out]
start: no
"""


def header(text, name):
    m = re.search(rf"^{name}: (.*)$", text, re.M | re.I)
    return m.group(1) if m else None


class Outbox:
    """What reached `out`: each entry is read once, then removed."""

    def __init__(self, site):
        self.site = site

    def take(self):
        found = []
        for name in self.site.queue_files("out"):
            try:
                found.append(self.site.qfile("out", name))
                os.unlink(self.site.path("queue", "out", name))
            except (AssertionError, FileNotFoundError):
                pass
        return found


class Commands(unittest.TestCase):
    def setUp(self):
        self.site = mmtest.Site(extra_cfg=EXTRA_CFG, mta="null")
        self.site.run("create", LIST, "--owner", "owner@example.com")
        self.site.run("start")
        self.outbox = Outbox(self.site)
        self.mails = []

    def tearDown(self):
        self.site.cleanup()

    # ---- helpers ---------------------------------------------------------

    def db(self):
        paths = glob.glob(self.site.path("data", "*.db"))
        self.assertEqual(len(paths), 1, paths)
        conn = sqlite3.connect(paths[0], timeout=10)
        conn.isolation_level = None
        return conn

    def set_setting(self, column, value):
        self.site.set_list_column("test.example.com", column, value)

    def inject(self, text, subaddress):
        self.site.run("inject", "-q", "command", "-m",
                      f"subaddress={subaddress}", LIST, stdin=text)

    def lmtp(self, sender, rcpt, text):
        self.assertEqual(self.site.lmtp_send(sender, rcpt, text), {})

    def quiet(self):
        """Waits until command, virgin and pipeline hold nothing."""
        wait_for(lambda: not any(self.site.queue_files(q, suffix)
                                 for q in ("command", "virgin", "pipeline")
                                 for suffix in (".pck", ".bak")),
                 what="the command, virgin and pipeline queues to drain")

    def wait_mail(self, subject_part, to=None):
        """The first new mail in out whose subject contains subject_part."""
        def look():
            self.mails.extend(self.outbox.take())
            for i, (meta, text) in enumerate(self.mails):
                subject = header(text, "Subject") or ""
                if subject_part in subject and (
                        to is None or to in meta["recipients"]):
                    return self.mails.pop(i)
            return None
        return wait_for(look, what=f"a mail about {subject_part!r}")

    def no_more_mail(self):
        self.quiet()
        self.mails.extend(self.outbox.take())
        self.assertEqual([header(t, "Subject") for _, t in self.mails], [])

    def members(self):
        out = self.site.run("members", LIST).stdout
        return sorted(re.findall(r"[\w.+-]+@[\w.-]+", out))

    def requests(self):
        out = self.site.run("requests", LIST).stdout
        return re.findall(r"^([0-9a-f]{40})\t(\S+)\t(\S+)\twaiting for (\S+)",
                          out, re.M)

    @staticmethod
    def token_of(text):
        m = re.search(r"test-confirm\+([0-9a-f]{40})@example\.com", text)
        assert m, text
        return m.group(1)

    def confirm_by_reply(self, notice_text, sender, subaddress="confirm",
                         extra_headers=""):
        token = self.token_of(notice_text)
        subject = header(notice_text, "Subject")
        self.inject(f"From: {sender}\n"
                    f"To: test-confirm+{token}@example.com\n"
                    f"Subject: Re: {subject}\n{extra_headers}\n"
                    f"> quoted text of the request\n", subaddress)
        return token

    # ---- tests -----------------------------------------------------------

    def test_join_confirm_welcome_leave_goodbye(self):
        self.set_setting("admin_notify_mchanges", 1)
        self.lmtp("anne@example.com", "test-join@example.com",
                  "From: Anne Person <anne@example.com>\n"
                  "To: test-join@example.com\nSubject: subscribe me\n"
                  "Message-ID: <join.1@example.com>\n\nplease\n")
        meta, text = self.wait_mail("Please confirm joining",
                                    to="anne@example.com")
        self.assertEqual(meta["recipients"], ["anne@example.com"])
        self.assertTrue(header(text, "From").startswith("test-confirm+"))
        self.assertEqual(header(text, "Auto-Submitted"), "auto-generated")
        token = self.token_of(text)
        self.assertIn(f"confirm {token}", text)
        self.assertEqual(self.members(), [])

        # The reply goes to the address the request came from.
        self.lmtp("anne@example.com", f"test-confirm+{token}@example.com",
                  f"From: Anne Person <anne@example.com>\n"
                  f"To: test-confirm+{token}@example.com\n"
                  f"Subject: Re: {header(text, 'Subject')}\n\n> quoted\n")
        wait_for(lambda: self.members() == ["anne@example.com"],
                 what="anne to be a member")
        _, welcome = self.wait_mail('Welcome to the "Test" mailing list',
                                    to="anne@example.com")
        self.assertIn("test@example.com", welcome)
        owners, _ = self.wait_mail("Test subscription notification")
        self.assertEqual(owners["recipients"], ["owner@example.com"])
        # No results reply: the welcome message is the answer.
        self.no_more_mail()
        self.assertIn("test@example.com: new member anne@example.com",
                      self.site.log("subscribe.log") + self.site.log())

        # A post from the new member goes out to her.
        self.site.run("inject", LIST,
                      stdin="From: anne@example.com\nTo: test@example.com\n"
                            "Subject: Hello\nMessage-ID: <post.1@example.com>"
                            "\n\nHi all.\n")
        post, _ = self.wait_mail("Hello")
        self.assertIn("anne@example.com", post["recipients"])

        self.lmtp("anne@example.com", "test-leave@example.com",
                  "From: anne@example.com\nTo: test-leave@example.com\n"
                  "Subject: bye\n\n")
        _, request = self.wait_mail("Please confirm leaving",
                                    to="anne@example.com")
        self.assertEqual(self.members(), ["anne@example.com"])
        self.confirm_by_reply(request, "anne@example.com")
        wait_for(lambda: self.members() == [], what="anne to have left")
        self.wait_mail("You have left the Test", to="anne@example.com")
        self.wait_mail("Test unsubscription notification")
        self.no_more_mail()

    def test_moderated_approved_by_command_line(self):
        self.set_setting("subscription_policy", 2)  # moderate
        self.inject("From: bart@example.com\nSubject: join\n\n", "request")
        # First the address is verified.
        _, results = self.wait_mail("The results of your email commands",
                                    to="bart@example.com")
        self.assertIn("A confirmation request was sent to bart@example.com",
                      results)
        _, request = self.wait_mail("Please confirm joining",
                                    to="bart@example.com")
        self.confirm_by_reply(request, "bart@example.com")
        moderators, notice = self.wait_mail(
            "New subscription request to Test from bart@example.com")
        self.assertEqual(moderators["recipients"], ["owner@example.com"])
        _, waiting = self.wait_mail("The results of your email commands",
                                    to="bart@example.com")
        self.assertIn("waits for a moderator", waiting)
        pending = self.requests()
        self.assertEqual(len(pending), 1)
        token, kind, email, owner = pending[0]
        self.assertEqual((kind, email, owner),
                         ("subscription", "bart@example.com", "moderator"))
        self.assertEqual(self.token_of(notice), token)
        self.assertEqual(self.members(), [])

        # Mailman's `notify` reminds the moderators.
        out = self.site.run("notify", "-n", "-v").stdout
        self.assertIn("The test@example.com list has 1 moderation requests "
                      "waiting.", out)
        self.quiet()
        self.no_more_mail()
        self.site.run("notify", "-l", LIST)
        reminder, text = self.wait_mail("1 moderation request waiting")
        self.assertEqual(reminder["recipients"], ["owner@example.com"])
        self.assertIn("bart@example.com", text)

        out = self.site.run("requests", LIST, "--approve", token).stdout
        self.assertIn(f"Approved request {token}", out)
        self.assertEqual(self.members(), ["bart@example.com"])
        self.assertEqual(self.requests(), [])
        self.wait_mail("Welcome", to="bart@example.com")
        again = self.site.run("requests", LIST, "--approve", token,
                              check=False)
        self.assertEqual(again.returncode, 1)
        self.assertEqual(self.members(), ["bart@example.com"])

    def test_moderated_approved_by_mail_and_rejected(self):
        self.set_setting("subscription_policy", 3)  # confirm_then_moderate
        for who in ("cris", "dora"):
            self.inject(f"From: {who}@example.com\nSubject: x\n\n", "join")
            _, request = self.wait_mail("Please confirm joining",
                                        to=f"{who}@example.com")
            self.confirm_by_reply(request, f"{who}@example.com")
            self.wait_mail(f"New subscription request to Test from "
                           f"{who}@example.com")
        self.quiet()
        pending = {email: token for token, _, email, _ in self.requests()}
        self.assertEqual(sorted(pending), ["cris@example.com",
                                           "dora@example.com"])

        # The owner replies to the request notice: approved.
        self.inject(f"From: owner@example.com\n"
                    f"To: test-confirm+{pending['cris@example.com']}"
                    f"@example.com\nSubject: Re: New subscription request\n\n"
                    f"ok\n", "confirm")
        wait_for(lambda: self.members() == ["cris@example.com"],
                 what="cris to be a member")
        self.wait_mail("Welcome", to="cris@example.com")

        out = self.site.run("requests", LIST, "--reject",
                            pending["dora@example.com"], "--reason",
                            "Members of the club only").stdout
        self.assertIn("Rejected request", out)
        _, refusal = self.wait_mail('Request to mailing list "Test" rejected',
                                    to="dora@example.com")
        self.assertIn("Members of the club only", refusal)
        self.assertEqual(self.members(), ["cris@example.com"])
        self.assertEqual(self.requests(), [])

    def test_send_notice(self):
        text = self.site.run("send-notice", LIST, "list:user:notice:welcome",
                             "--print").stdout
        self.assertIn("test@example.com", text)
        out = self.site.run("send-notice", LIST, "list:user:action:subscribe",
                            "--to", "ida@example.com").stdout
        self.assertIn("Queued a sample", out)
        meta, mail = self.wait_mail("Sample of the list:user:action:subscribe",
                                    to="ida@example.com")
        self.assertIn("confirm 0000000000000000000000000000000000000000",
                      mail)
        bad = self.site.run("send-notice", LIST, "list:no:such", "--print",
                            check=False)
        self.assertEqual(bad.returncode, 1)

    def test_expired_token_refused(self):
        self.inject("From: eve@example.com\nSubject: x\n\n", "join")
        _, request = self.wait_mail("Please confirm joining",
                                    to="eve@example.com")
        self.quiet()
        # Four days pass.
        with self.db() as conn:
            conn.execute("UPDATE pended SET expiration_date = "
                         "expiration_date - 4 * 86400")
            conn.execute("UPDATE workflowstate SET expires_at = "
                         "expires_at - 4 * 86400")
        self.confirm_by_reply(request, "eve@example.com")
        _, reply = self.wait_mail("The results of your email commands",
                                  to="eve@example.com")
        self.assertIn("has expired", reply)
        self.assertEqual(self.members(), [])
        # Asking again works.
        self.inject("From: eve@example.com\nSubject: x\n\n", "join")
        self.wait_mail("Please confirm joining", to="eve@example.com")

    def test_replayed_confirmation_and_repeated_join(self):
        join = "From: finn@example.com\nSubject: join\n\n"
        self.inject(join, "join")
        _, request = self.wait_mail("Please confirm joining",
                                    to="finn@example.com")
        # Asking again before confirming sends no second request.
        self.inject(join, "join")
        _, pending = self.wait_mail("The results of your email commands",
                                    to="finn@example.com")
        self.assertIn("already has a subscription request waiting", pending)
        self.confirm_by_reply(request, "finn@example.com")
        wait_for(lambda: self.members() == ["finn@example.com"],
                 what="finn to be a member")
        self.wait_mail("Welcome", to="finn@example.com")
        self.no_more_mail()
        self.confirm_by_reply(request, "finn@example.com")
        _, reply = self.wait_mail("The results of your email commands",
                                  to="finn@example.com")
        self.assertIn("did not match", reply)
        self.assertEqual(self.members(), ["finn@example.com"])
        self.no_more_mail()

    def test_forged_auto_replies_get_nothing(self):
        self.inject("From: gus@example.com\nSubject: x\n\n", "join")
        _, request = self.wait_mail("Please confirm joining",
                                    to="gus@example.com")
        token = self.token_of(request)
        for headers in ("Auto-Submitted: auto-replied\n",
                        "Precedence: junk\n",
                        "X-Autoreply: yes\n"):
            self.inject(f"From: gus@example.com\n"
                        f"To: test-confirm+{token}@example.com\n{headers}"
                        f"Subject: Out of office\n\nI am away.\n", "confirm")
        self.inject("From: test-bounces@example.com\nSubject: help\n\n",
                    "request")
        self.no_more_mail()
        self.assertEqual(self.members(), [])
        self.assertEqual(len(self.requests()), 1)
        self.assertIn("discarded, not answered",
                      self.site.log("vette.log") + self.site.log())

    def test_long_bodies_html_and_garbage(self):
        body = "".join(f"echo line {i}\n" for i in range(10000))
        self.inject(f"From: hal@example.com\nSubject: \n\n{body}", "request")
        _, reply = self.wait_mail("The results of your email commands",
                                  to="hal@example.com")
        self.assertIn("echo line 9\n", reply)
        self.assertNotIn("echo line 10\n", reply.split("- Ignored")[0])
        self.assertIn("and 9970 more lines", reply)
        self.assertLess(len(reply), 10000)

        self.inject("From: hal@example.com\nSubject: \nMIME-Version: 1.0\n"
                    "Content-Type: text/html\n\n<p>join</p>\n", "request")
        _, html = self.wait_mail("The results of your email commands",
                                 to="hal@example.com")
        self.assertIn("no plain text part", html)

        garbage = ("From: hal@example.com\nSubject: \x01\x02 zap!\n"
                   "Content-Type: multipart/mixed; boundary=x\n\n"
                   "--x\nContent-Transfer-Encoding: base64\n\n@@@@\n")
        self.inject(garbage, "request")
        _, reply = self.wait_mail("The results of your email commands",
                                  to="hal@example.com")
        self.assertIn("- Done.", reply)
        self.assertEqual(self.members(), [])
        # The runner is alive and nothing was shunted.
        self.assertEqual(self.site.queue_files("shunt"), [])
        self.inject("From: hal@example.com\nSubject: echo still here\n\n",
                    "request")
        _, alive = self.wait_mail("The results of your email commands",
                                  to="hal@example.com")
        self.assertIn("echo still here", alive)


if __name__ == "__main__":
    mmtest.run_tap()
