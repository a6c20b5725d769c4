#!/usr/bin/env python3
"""End-to-end tests of the `mailman` command line against a real site.

create -> lists -> addmembers -> members -> delmembers -> syncmembers ->
remove, plus the failure paths: hostile list names, bad configuration
values, running as root, unknown lists.
"""
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402


class CliRoundTrip(unittest.TestCase):
    def setUp(self):
        self.site = mmtest.Site(mta="null")

    def tearDown(self):
        self.site.cleanup()

    def test_create_lists_remove(self):
        out = self.site.run("create", "ant@example.com").stdout
        self.assertIn("ant@example.com", out)
        self.site.run("create", "-q", "Bee@Example.COM")
        lists = self.site.run("lists").stdout.splitlines()
        self.assertEqual(lists[0], "2 matching mailing lists:")
        self.assertEqual(lists[1:], ["ant@example.com", "bee@example.com"])
        # Names with display names and descriptions.
        named = self.site.run("lists", "-n", "-q").stdout.splitlines()
        self.assertEqual(named, ["ant@example.com [Ant]", "bee@example.com [Bee]"])
        # Domain filter.
        self.site.run("create", "cat@other.example.org")
        only = self.site.run("lists", "-q", "--domain", "other.example.org").stdout
        self.assertEqual(only.split(), ["cat@other.example.org"])
        # A duplicate fails, leaving one list.
        dup = self.site.run("create", "ant@example.com", check=False)
        self.assertEqual(dup.returncode, 1)
        self.assertIn("ant@example.com", dup.stderr)
        self.assertEqual(len(dup.stderr.strip().splitlines()), 1)
        # Remove by list-id.
        self.site.run("remove", "bee.example.com")
        lists = self.site.run("lists", "-q").stdout.split()
        self.assertEqual(lists, ["ant@example.com", "cat@other.example.org"])
        gone = self.site.run("remove", "bee@example.com", check=False)
        self.assertEqual(gone.returncode, 1)
        self.assertIn("no such list", gone.stderr)

    def test_create_notify(self):
        self.site.run("create", "-o", "boss@example.org", "--notify",
                      "news@example.com")
        files = self.site.queue_files("virgin")
        self.assertEqual(len(files), 1)
        dump = self.site.run("qfile", self.site.path("queue", "virgin",
                                                     files[0])).stdout
        self.assertIn('"boss@example.org"', dump)
        self.assertIn("news-request@example.com", dump)
        self.assertIn("From: admin@example.com", dump)

    def test_no_domain_flag(self):
        r = self.site.run("create", "-D", "x@nowhere.example", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nowhere.example", r.stderr)
        self.assertEqual(self.site.run("lists", "-q").stdout, "")

    def test_hostile_names(self):
        hostile = ["../x@example.com", "a b@example.com", "x\n@example.com",
                   "a" * 300 + "@example.com", "@example.com", "x@",
                   "x@../etc", "x@exa mple.com", "x/y@example.com",
                   "x@example.com\nfoo"]
        for name in hostile:
            r = self.site.run("create", name, check=False)
            self.assertEqual(r.returncode, 1, name)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertEqual(self.site.run("lists", "-q").stdout, "")
        # Nothing escaped the site: no stray directory was made.
        self.assertFalse(os.path.exists(os.path.join(self.site.root, "x")))

    def test_members_round_trip(self):
        self.site.run("create", "-o", "Owner@Example.com", "team@example.com")
        members = "\n".join([
            "Anne Person <anne@example.com>",
            "bart@example.com",
            "# a comment",
            "",
            "Cris Person <Cris@Example.com>",
            "not an address",
            "anne@example.com",
        ]) + "\n"
        r = self.site.run("addmembers", "-", "team@example.com", stdin=members)
        self.assertIn("not an address", r.stderr)
        self.assertIn("anne@example.com", r.stderr)  # already a member
        out = self.site.run("members", "team@example.com").stdout.splitlines()
        self.assertEqual(out, ["Anne Person <anne@example.com>",
                               "bart@example.com",
                               "Cris Person <Cris@Example.com>"])
        self.assertEqual(self.site.run("members", "-c", "team@example.com").stdout,
                         "3\n")
        emails = self.site.run("members", "-e", "team.example.com").stdout.split()
        self.assertEqual(emails, ["anne@example.com", "bart@example.com",
                                  "Cris@Example.com"])
        owners = self.site.run("members", "-R", "owner", "team@example.com").stdout
        self.assertEqual(owners.split(), ["Owner@Example.com"])
        admins = self.site.run("members", "-R", "administrator",
                               "team@example.com").stdout
        self.assertEqual(admins.split(), ["Owner@Example.com"])
        # Output to a file.
        target = os.path.join(self.site.root, "out.txt")
        self.site.run("members", "-o", target, "team@example.com")
        with open(target, encoding="utf-8") as f:
            self.assertEqual(len(f.read().splitlines()), 3)
        # Digest members.
        self.site.run("addmembers", "-d", "mime", "-", "team@example.com",
                      stdin="dora@example.com\n")
        digest = self.site.run("members", "-d", "any", "team@example.com").stdout
        self.assertEqual(digest.split(), ["dora@example.com"])
        regular = self.site.run("members", "-r", "-e", "team@example.com").stdout
        self.assertNotIn("dora@example.com", regular)
        # Disabled delivery.
        self.site.run("addmembers", "-d", "disabled", "-", "team@example.com",
                      stdin="ed@example.com\n")
        nomail = self.site.run("members", "-n", "byadmin", "team@example.com").stdout
        self.assertEqual(nomail.split(), ["ed@example.com"])

        # delmembers: one named, one not a member.
        r = self.site.run("delmembers", "-l", "team@example.com",
                          "-m", "bart@example.com", "-m", "zed@example.com")
        self.assertIn("zed@example.com", r.stderr)
        out = self.site.run("members", "-e", "team@example.com").stdout.split()
        self.assertNotIn("bart@example.com", out)
        self.assertIn("anne@example.com", out)

        # syncmembers: exactly the file afterwards.
        r = self.site.run("syncmembers", "-", "team@example.com",
                          stdin="anne@example.com\nNew One <new@example.com>\n")
        self.assertIn("[ADD] New One <new@example.com>", r.stdout)
        self.assertIn("[DEL] Cris Person <Cris@Example.com>", r.stdout)
        out = self.site.run("members", "-e", "team@example.com").stdout.split()
        self.assertEqual(out, ["anne@example.com", "new@example.com"])
        again = self.site.run("syncmembers", "-", "team@example.com",
                              stdin="anne@example.com\nnew@example.com\n")
        self.assertNotIn("[ADD]", again.stdout)
        self.assertNotIn("[DEL]", again.stdout)

        # delmembers --all empties the list; the owner stays.
        self.site.run("delmembers", "-l", "team@example.com", "--all")
        self.assertIn("has no members",
                      self.site.run("members", "team@example.com").stdout)
        owners = self.site.run("members", "-R", "owner", "team@example.com").stdout
        self.assertEqual(owners.split(), ["Owner@Example.com"])

        # remove drops the list with its memberships.
        self.site.run("remove", "team@example.com")
        r = self.site.run("members", "team@example.com", check=False)
        self.assertEqual(r.returncode, 1)

    def test_unknown_list(self):
        for args in (["members", "nope@example.com"],
                     ["addmembers", "-", "nope@example.com"],
                     ["inject", "nope@example.com"]):
            r = self.site.run(*args, stdin="", check=False)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn("nope@example.com", r.stderr)

    def test_usage_errors_exit_2(self):
        self.assertEqual(self.site.run("create", check=False).returncode, 2)
        self.assertEqual(self.site.run("members", "--role", "boss", "x@y.z",
                                       check=False).returncode, 2)
        self.assertEqual(self.site.run("frobnicate", check=False).returncode, 2)
        self.assertEqual(self.site.run("lists", "--bogus", check=False).returncode, 2)

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_refuses_root(self):
        r = self.site.run("lists", check=False, root_ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--run-as-root", r.stderr)

    def test_bad_config_value(self):
        with open(self.site.cfg, "a", encoding="utf-8") as f:
            f.write("\n[mailman]\npending_request_life: soon\n")
        r = self.site.run("lists", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(self.site.cfg, r.stderr)
        self.assertIn("pending_request_life", r.stderr)
        lines = open(self.site.cfg, encoding="utf-8").read().splitlines()
        self.assertIn(f":{len(lines)}", r.stderr)

    def test_conf_and_info(self):
        port = self.site.run("conf", "-s", "mta", "-k", "lmtp_port").stdout
        self.assertEqual(port.strip(), str(self.site.lmtp_port))
        mta = self.site.run("conf", "-s", "mta").stdout.splitlines()
        self.assertIn(f"[mta] lmtp_port: {self.site.lmtp_port}", mta)
        self.assertEqual(mta, sorted(mta))
        r = self.site.run("conf", "-s", "nosuchsection", check=False)
        self.assertEqual(r.returncode, 1)
        info = self.site.run("info", "-v").stdout
        self.assertIn(self.site.cfg, info)
        self.assertIn(os.path.join(self.site.var, "queue"), info)

    def test_inject_qfile_unshunt(self):
        self.site.run("create", "post@example.com")
        msg = "From: a@example.com\nTo: post@example.com\nSubject: hi\n\nbody\n"
        self.site.run("inject", "post@example.com", stdin=msg)
        files = self.site.queue_files("in")
        self.assertEqual(len(files), 1)
        q = self.site.run("qfile", self.site.path("queue", "in", files[0])).stdout
        self.assertIn('"listid": "post.example.com"', q)
        self.assertIn("Message-ID-Hash:", q)
        self.assertIn("Subject: hi", q)
        # Into a named queue with extra metadata.
        self.site.run("inject", "-q", "shunt", "-m", "whichq=virgin",
                      "post@example.com", stdin=msg)
        self.assertEqual(len(self.site.queue_files("shunt")), 1)
        self.site.run("unshunt")
        self.assertEqual(self.site.queue_files("shunt"), [])
        self.assertEqual(len(self.site.queue_files("virgin")), 1)
        bad = self.site.run("inject", "-q", "nosuch", "post@example.com",
                            stdin=msg, check=False)
        self.assertEqual(bad.returncode, 1)

    def test_database_is_sqlite_with_schema_version(self):
        self.site.run("create", "db@example.com")
        db = sqlite3.connect(self.site.path("data", "mailman.db"))
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        self.assertEqual(mode, "wal")
        db.close()


if __name__ == "__main__":
    mmtest.run_tap()
