"""Bounces end to end through Debian's Postfix.

A list whose one member has a mailbox that does not exist: the member
posts through Postfix, the list's runners (in, pipeline, out) send the
post back to Postfix with a VERP envelope sender (verp_delivery_interval:
1), and the member's bounce score rises to 1, by either road:
  - a DSN: the member is a local user of the test Postfix that does not
    exist; Postfix accepts the copy, its local delivery agent fails, and
    Postfix sends its DSN to
    test-bounces+gone=mta-test.localdomain@lists.example.com, which it
    routes to our LMTP server by the site's transport map; the bounces
    runner decodes the VERP address;
  - an SMTP refusal: the member's domain is not Postfix's and nothing
    leaves the machine, so Postfix refuses the recipient with 550 at RCPT;
    the delivery engine reports it to the bounces queue.

The Postfix set-up is tests/mta/test_postfix_integration.py's (a private
instance on loopback), with the seed's maps, listening on the site's
smtp_port so that our delivery engine talks to it.  Needs root, Debian's
postfix and an out runner with the delivery engine; skips otherwise.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import os
import shutil
import smtplib
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "mta"))
import mmtest  # noqa: E402
import test_postfix_integration as pf  # noqa: E402

LIST = "test@lists.example.com"
RUNNERS_CFG = """
[mta]
configuration: {postfix_cfg}
verp_delivery_interval: 1

[runner.out]
sleep_time: 0.1s

[runner.bounces]
sleep_time: 0.1s

[runner.retry]
sleep_time: 0.1s
"""

# The seed's Postfix settings (docs/mta.md), except that local recipients
# are not checked at RCPT, so that a copy for a local user who does not
# exist is accepted and then bounced with a DSN.  lists.example.com and
# mta-test.localdomain are the test Postfix's own domains (mydestination).
MAPS = """\
recipient_delimiter = +
unknown_local_recipient_reject_code = 550
owner_request_special = no
transport_maps = hash:{data}/postfix_lmtp
local_recipient_maps =
"""

POST = """\
From: {sender}
To: {to}
Subject: hello
Message-ID: <post-1@example.net>

A post whose only recipient does not exist.
"""


class PostfixAt(pf.PostfixInstance):
    """The test's Postfix, with smtpd on a port of our choosing."""

    def __init__(self, root, maps, port):
        super().__init__(root, maps)
        self.port = port
        with open(os.path.join(self.etc, "master.cf"), "w") as fp:
            fp.write(pf.MASTER_CF.format(port=port))


class BouncePostfixTest(unittest.TestCase):
    def setUp(self):
        if not pf.postfix_available():
            self.skipTest("needs root and Debian postfix")
        self.root = tempfile.mkdtemp(prefix="mm-bounce-postfix-")
        os.chmod(self.root, 0o755)  # Postfix's daemons run as postfix
        self.postfix = None
        etc = os.path.join(self.root, "postfix-etc")
        os.makedirs(etc)
        # postmap reads a main.cf before Postfix's own is written.
        with open(os.path.join(etc, "main.cf"), "w") as fp:
            fp.write("compatibility_level = 3.6\n")
        postfix_cfg = os.path.join(self.root, "postfix.cfg")
        with open(postfix_cfg, "w") as fp:
            fp.write("[postfix]\npostmap_command: %s -c %s\n"
                     "transport_file_type: hash\n" % (pf.POSTMAP, etc))
        self.site = mmtest.Site(
            mta="postfix", extra_cfg=RUNNERS_CFG.format(postfix_cfg=postfix_cfg))

    def tearDown(self):
        if self.postfix is not None:
            self.postfix.stop()
        if getattr(self, "site", None) is not None:
            self.site.cleanup()
        shutil.rmtree(getattr(self, "root", ""), ignore_errors=True)

    def out_runner_delivers(self):
        self.site.run("runner", "--runner=out", "--once")
        log = self.site.log("mailman.log") + self.site.log("runner.log")
        return "no handler in this build" not in log

    def post_and_wait(self, member):
        """Runs the site and Postfix, posts from @member (the list's only
        member) and waits until its score is 1."""
        if not self.out_runner_delivers():
            self.skipTest("the out runner has no delivery engine in this "
                          "build")
        self.site.run("create", LIST)
        self.site.run("addmembers", "-", LIST, stdin=member + "\n")
        self.site.run("start")
        mmtest.wait_for(lambda: pf.mtasite.port_open(self.site.lmtp_port),
                        timeout=60, what="the LMTP runner")
        self.postfix = PostfixAt(
            self.root, MAPS.format(data=self.site.path("data")),
            self.site.smtp_port)
        self.postfix.start()

        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=60) as smtp:
            refused = smtp.sendmail(member, [LIST],
                                    POST.format(sender=member, to=LIST))
        self.assertEqual(refused, {})

        def score():
            out = self.site.run("bounces", LIST).stdout.splitlines()[1:]
            rows = [line.split("\t") for line in out]
            return [r for r in rows if r[0] == member and r[1] == "1"]

        try:
            mmtest.wait_for(score, timeout=120, interval=0.5,
                            what="the member's bounce score to rise")
        except AssertionError:
            for name, text in (("maillog", self.postfix.log()),
                               ("bounce.log", self.site.log("bounce.log")),
                               ("smtp.log", self.site.log("smtp.log"))):
                print(f"# {name}:\n# " + text.replace("\n", "\n# "))
            raise
        out = self.site.run("bounces", "--events", "5", LIST).stdout
        self.assertIn(member + "\tnormal\tyes", out)

    def test_verp_dsn_raises_the_score(self):
        member = "gone@mta-test.localdomain"
        self.post_and_wait(member)
        # Postfix's DSN went to the VERP address, over LMTP to us.
        log = self.postfix.log()
        self.assertIn("to=<test-bounces+gone=mta-test.localdomain@"
                      "lists.example.com>", log)
        self.assertIn("relay=127.0.0.1", log)
        self.assertIn("status=bounced", log)
        self.assertNotIn("SMTP refusal", self.site.log("bounce.log"))

    def test_smtp_refusal_raises_the_score(self):
        member = "gone@nowhere.example"
        self.post_and_wait(member)
        self.assertIn("Recipient address rejected", self.postfix.log())
        self.assertIn(f"SMTP refusal 550 for {member}",
                      self.site.log("bounce.log"))


if __name__ == "__main__":
    sys.exit(mmtest.run_tap())
