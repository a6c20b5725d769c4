#!/usr/bin/env python3
"""Sendmail hook-up: the files regeneration writes are accepted by Debian's
own `makemap hash` (from the sendmail-bin package, unpacked here with
`apt-get download`, since Sendmail cannot be installed beside Postfix), and
the resulting databases answer the lookups the docs/mta.md recipe makes.

$MM_SENDMAIL_ROOT may name a directory where sendmail-bin was unpacked.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402

_ROOT = None


def sendmail_root():
    global _ROOT
    if _ROOT:
        return _ROOT
    root = os.environ.get("MM_SENDMAIL_ROOT")
    if root and os.path.exists(os.path.join(root, "usr/sbin/makemap")):
        _ROOT = root
        return root
    work = tempfile.mkdtemp(prefix="mm-sendmail-")
    subprocess.run(["apt-get", "download", "sendmail-bin"], cwd=work,
                   check=True, capture_output=True, timeout=180)
    deb = [f for f in os.listdir(work) if f.endswith(".deb")][0]
    subprocess.run(["dpkg-deb", "-x", deb, "root"], cwd=work, check=True,
                   timeout=60)
    _ROOT = os.path.join(work, "root")
    return _ROOT


def dump(makemap, db):
    """The key<TAB>value lines of a hash database, with makemap -u.  makemap
    folds keys to lower case (Sendmail's lookups do the same)."""
    cf = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(db))),
                      "sendmail.cf")
    out = subprocess.run([makemap, "-C", cf, "-u", "hash", db],
                         capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return dict(line.split(None, 1) for line in out.splitlines() if line)


class SendmailMaps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.makemap = os.path.join(sendmail_root(), "usr/sbin/makemap")

    def setUp(self):
        self.site = mmtest.Site(mta="null")
        # makemap reads sendmail.cf (for TrustedUser); a site has one in
        # /etc/mail, the test an empty one of its own.
        sendmail_cf = os.path.join(self.site.root, "sendmail.cf")
        open(sendmail_cf, "w").close()
        cfg = os.path.join(self.site.root, "sendmail.cfg")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(f"[sendmail]\nmakemap_command: {self.makemap} "
                    f"-C {sendmail_cf} hash\n")
        with open(self.site.cfg, encoding="utf-8") as f:
            text = f.read()
        text = text.replace("incoming: mailman.mta.null.NullMTA",
                            "incoming: mailman_c.mta.sendmail\n"
                            f"configuration: {cfg}")
        with open(self.site.cfg, "w", encoding="utf-8") as f:
            f.write(text)

    def tearDown(self):
        self.site.cleanup()

    def test_makemap_accepts_the_maps(self):
        self.site.run("create", "ant@example.com")
        self.site.run("create", "bee@lists.example.org")
        data = self.site.path("data")
        for name in ("sendmail_mailertable", "sendmail_access"):
            self.assertTrue(os.path.exists(os.path.join(data, name + ".db")),
                            name)
        table = dump(self.makemap, os.path.join(data, "sendmail_mailertable.db"))
        self.assertIn("example.com", table)
        self.assertIn("lists.example.org", table)
        self.assertTrue(table["example.com"].startswith("mailman3:"))
        access = dump(self.makemap, os.path.join(data, "sendmail_access.db"))
        for suffix in ("", "-bounces", "-confirm", "-join", "-leave",
                       "-owner", "-request", "-subscribe", "-unsubscribe"):
            self.assertEqual(access.get(f"to:ant{suffix}@example.com"), "OK",
                             suffix)
        self.assertTrue(access["to:example.com"].startswith("ERROR:5.1.1"))
        with open(os.path.join(data, "sendmail_domains"), encoding="utf-8") as f:
            domains = f.read().split()
        self.assertEqual(sorted(domains), ["example.com", "lists.example.org"])

    def test_removal_updates_the_databases(self):
        self.site.run("create", "ant@example.com")
        self.site.run("create", "cat@example.com")
        self.site.run("remove", "ant@example.com")
        access = dump(self.makemap,
                      self.site.path("data", "sendmail_access.db"))
        self.assertNotIn("to:ant@example.com", access)
        self.assertEqual(access.get("to:cat@example.com"), "OK")


if __name__ == "__main__":
    mmtest.run_tap()
