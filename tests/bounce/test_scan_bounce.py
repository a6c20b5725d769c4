"""`mailman scan-bounce` over the bounce corpus (tests/data/bounce).

Every NAME.eml must print exactly the lines of NAME.expected (in any
order); a message that is not a bounce prints nothing; the exit status is
0 either way.  Also: standard input, several files, --list (VERP first, as
the bounces runner decides), and a missing file.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402

CORPUS = os.environ.get("BOUNCE_CORPUS") or os.path.join(
    os.path.dirname(__file__), "..", "data", "bounce")

VERPED_DSN = """\
From: MAILER-DAEMON@mx.example.net
To: test-bounces+anne=example.com@lists.example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="V"

--V
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; forwarded.copy@example.net
Action: failed
Status: 5.1.1

--V--
"""


def expected_lines(name):
    with open(os.path.join(CORPUS, name + ".expected"), encoding="utf-8") as f:
        return sorted(line.rstrip("\n") for line in f
                      if line.strip() and not line.startswith("#"))


def corpus_names():
    return sorted(n[:-4] for n in os.listdir(CORPUS) if n.endswith(".eml"))


class ScanBounceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.site = mmtest.Site(mta="null")

    @classmethod
    def tearDownClass(cls):
        cls.site.cleanup()

    def scan(self, *args, stdin=None, check=True):
        return self.site.run("scan-bounce", *args, stdin=stdin, check=check)

    def test_corpus(self):
        names = corpus_names()
        self.assertGreater(len(names), 30)
        wrong = []
        for name in names:
            proc = self.scan(os.path.join(CORPUS, name + ".eml"))
            got = sorted(l for l in proc.stdout.split("\n") if l)
            if got != expected_lines(name) or proc.returncode != 0:
                wrong.append((name, got, proc.returncode))
        self.assertEqual(wrong, [])

    def test_stdin_and_many_files(self):
        path = os.path.join(CORPUS, "qmail-multi.eml")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        proc = self.scan(stdin=text)
        self.assertEqual(sorted(l for l in proc.stdout.split("\n") if l),
                         expected_lines("qmail-multi"))
        proc = self.scan("-", stdin=text)
        self.assertEqual(sorted(l for l in proc.stdout.split("\n") if l),
                         expected_lines("qmail-multi"))

        names = ["exim-failed", "ordinary-post", "dsn-delayed"]
        proc = self.scan(*[os.path.join(CORPUS, n + ".eml") for n in names])
        want = sorted(sum((expected_lines(n) for n in names), []))
        self.assertEqual(sorted(l for l in proc.stdout.split("\n") if l), want)

    def test_nothing_for_non_bounces(self):
        for name in corpus_names():
            if name.startswith(("ordinary-", "autoreply-")):
                proc = self.scan(os.path.join(CORPUS, name + ".eml"))
                self.assertEqual(proc.stdout, "", name)
        proc = self.scan(stdin="")
        self.assertEqual(proc.stdout, "")

    def test_verbose(self):
        proc = self.scan("-v", os.path.join(CORPUS, "qmail-basic.eml"),
                         os.path.join(CORPUS, "autoreply-de.eml"))
        self.assertIn("qmail-basic.eml: qmail", proc.stderr)
        self.assertIn("autoreply-de.eml: auto-reply", proc.stderr)

    def test_list_decides_like_the_runner(self):
        # VERP first: the member's address, not the one the DSN names.
        proc = self.scan("--list", "test@lists.example.org", stdin=VERPED_DSN)
        self.assertEqual(proc.stdout, "anne@example.com\tpermanent\n")
        # Another list: the VERP address is not its own, the DSN decides.
        proc = self.scan("--list", "other@lists.example.org",
                         stdin=VERPED_DSN)
        self.assertEqual(proc.stdout, "forwarded.copy@example.net\tpermanent\n")
        # A VERPed delay is a temporary failure of the member.
        delayed = VERPED_DSN.replace("Action: failed", "Action: delayed")
        proc = self.scan("-l", "test@lists.example.org", "-v", stdin=delayed)
        self.assertEqual(proc.stdout, "anne@example.com\ttemporary\n")
        self.assertIn("VERP", proc.stderr)
        # A VERPed vacation message: nothing.
        vacation = ("From: anne@example.com\n"
                    "To: test-bounces+anne=example.com@lists.example.org\n"
                    "Subject: Out of office\n\nAway.\n")
        proc = self.scan("-l", "test@lists.example.org", "-v", stdin=vacation)
        self.assertEqual(proc.stdout, "")
        self.assertIn("auto-reply", proc.stderr)
        bad = self.scan("--list", "nonsense", stdin=vacation, check=False)
        self.assertEqual(bad.returncode, 2)

    def test_missing_file(self):
        proc = self.scan("/nonexistent/bounce.eml", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("scan-bounce", proc.stderr)


if __name__ == "__main__":
    sys.exit(mmtest.run_tap())
