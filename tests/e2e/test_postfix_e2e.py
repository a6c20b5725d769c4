"""The whole server end to end, between two halves of one private Postfix.

A private Debian Postfix (tests/mta/test_postfix_integration.py's set-up:
own config, queue and data directories, smtpd on 127.0.0.1) does both
jobs a site's MTA does:
  - incoming: configured as the seed says (recipient_delimiter = +,
    owner_request_special = no, transport_maps and local_recipient_maps =
    hash:$var_dir/data/postfix_lmtp), it hands list mail to our LMTP
    runner;
  - outgoing: the site's [mta] smtp_host/smtp_port is this Postfix's
    listener, so the out runner's SMTP deliveries come back to it, and it
    delivers mail for people.example (the subscribers' domain) into
    Maildirs under <tmp>/mail with its virtual(8) delivery agent
    (virtual_mailbox_domains/_maps/_base, static uid/gid "nobody").
Every assertion reads those Maildirs (plus `mailman held` / `members`).

Everything is started through the real binary ($MAILMAN_BIN `mailman
start`: all runners).  One class runs with Mailman's default bulk delivery
(the envelope sender is LIST-bounces@), one with verp_delivery_interval: 1
(LIST-bounces+user=domain@).  Every wait is bounded.  Needs root and
Debian's postfix; skips otherwise.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import email
import email.policy
import email.utils
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "mta"))
import mmtest  # noqa: E402
import mtasite  # noqa: E402
import test_postfix_integration as pf  # noqa: E402

LIST = "test@lists.example.com"
DOMAIN = "lists.example.com"
PEOPLE = "people.example"
MEMBERS = ("ann", "bob", "cat")
JOINER = "dan"
MAILBOXES = MEMBERS + (JOINER, "eve")
STRANGER = "stranger@elsewhere.example"
WAIT = 60  # a bound for one hop through both servers, never asserted

SITE_CFG = """
[mta]
configuration: {postfix_cfg}
verp_delivery_interval: {verp}

[runner.out]
sleep_time: 0.1s

[runner.command]
sleep_time: 0.1s

[runner.bounces]
sleep_time: 0.1s

[runner.retry]
sleep_time: 0.1s
"""

# The seed's incoming settings, plus the subscribers' domain delivered
# locally into Maildirs (a map value ending in "/" is a Maildir).
MAPS = """\
recipient_delimiter = +
unknown_local_recipient_reject_code = 550
owner_request_special = no
transport_maps = hash:{data}/postfix_lmtp
local_recipient_maps = hash:{data}/postfix_lmtp
virtual_mailbox_domains = {people}
virtual_mailbox_base = {mail}
virtual_mailbox_maps = hash:{vmailbox}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
"""

# The virtual delivery agent runs as root (unprivileged "n"), switching to
# the static uid itself.
MASTER_VIRTUAL = "virtual   unix  - n n - - virtual\n"


class PostfixE2E(pf.PostfixInstance):
    """The test's Postfix: smtpd on the site's smtp_port, with virtual."""

    def __init__(self, root, maps, port):
        super().__init__(root, maps)
        self.port = port
        with open(os.path.join(self.etc, "master.cf"), "w") as fp:
            fp.write(pf.MASTER_CF.format(port=port) + MASTER_VIRTUAL)

    def queue_empty(self):
        out = subprocess.run(["/usr/sbin/postqueue", "-c", self.etc, "-p"],
                             capture_output=True, text=True, timeout=60)
        return "Mail queue is empty" in out.stdout + out.stderr


class PostfixE2EBase(unittest.TestCase):
    verp = 0

    @classmethod
    def setUpClass(cls):
        if not pf.postfix_available():
            raise unittest.SkipTest("needs root and Debian postfix")
        cls.root = tempfile.mkdtemp(prefix="mm-e2e-")
        os.chmod(cls.root, 0o755)  # Postfix's daemons run as postfix
        cls.site = None
        cls.postfix = None
        try:
            cls.start_everything()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_everything(cls):
        etc = os.path.join(cls.root, "postfix-etc")
        os.makedirs(etc)
        # postmap reads a main.cf before Postfix's own is written.
        with open(os.path.join(etc, "main.cf"), "w") as fp:
            fp.write("compatibility_level = 3.6\n")
        postfix_cfg = os.path.join(cls.root, "postfix.cfg")
        with open(postfix_cfg, "w") as fp:
            fp.write("[postfix]\npostmap_command: %s -c %s\n"
                     "transport_file_type: hash\n" % (pf.POSTMAP, etc))
        cls.site = mmtest.Site(mta="postfix", extra_cfg=SITE_CFG.format(
            postfix_cfg=postfix_cfg, verp=cls.verp))

        # The subscribers' Maildirs, owned by the static delivery uid.
        cls.mail = os.path.join(cls.root, "mail")
        os.makedirs(os.path.join(cls.mail, PEOPLE))
        for d in (cls.mail, os.path.join(cls.mail, PEOPLE)):
            os.chown(d, 65534, 65534)
        vmailbox = os.path.join(cls.root, "vmailbox")
        with open(vmailbox, "w") as fp:
            for user in MAILBOXES:
                fp.write("%s@%s %s/%s/\n" % (user, PEOPLE, PEOPLE, user))

        cls.site.run("create", LIST)
        cls.site.run("addmembers", "-", LIST, stdin="".join(
            "%s@%s\n" % (u, PEOPLE) for u in MEMBERS))
        cls.site.run("start")
        mmtest.wait_for(lambda: mtasite.port_open(cls.site.lmtp_port),
                        timeout=WAIT, what="the LMTP runner")
        maps = MAPS.format(data=cls.site.path("data"), people=PEOPLE,
                           mail=cls.mail, vmailbox=vmailbox,
                           uid=65534, gid=65534)
        cls.postfix = PostfixE2E(cls.root, maps, cls.site.smtp_port)
        subprocess.run([pf.POSTMAP, "-c", cls.postfix.etc, vmailbox],
                       check=True, capture_output=True, timeout=60)
        cls.postfix.start()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "postfix", None) is not None:
            cls.postfix.stop()
        if getattr(cls, "site", None) is not None:
            cls.site.cleanup()
        shutil.rmtree(cls.root, ignore_errors=True)

    # ---- Helpers ---------------------------------------------------------

    def send(self, sender, rcpt, subject="hello", body="A post.\n",
             message_id=None):
        """Sends one message to Postfix's smtpd; returns its Message-ID."""
        message_id = message_id or "<%s@%s>" % (uuid.uuid4().hex,
                                                 sender.split("@")[1])
        text = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n"
                "\r\n%s" % (sender, rcpt, subject, message_id,
                            body.replace("\n", "\r\n")))
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=60) as smtp:
            refused = smtp.sendmail(sender, [rcpt], text)
        self.assertEqual(refused, {})
        return message_id

    def mailbox(self, user):
        """{file name: parsed message} of everything in user's Maildir."""
        found = {}
        base = os.path.join(self.mail, PEOPLE, user)
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            if not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "rb") as fp:
                    found[name] = email.message_from_bytes(
                        fp.read(), policy=email.policy.compat32)
        return found

    def copies(self, user, message_id):
        return [m for m in self.mailbox(user).values()
                if (m.get("Message-ID") or "").strip() == message_id]

    def explain(self):
        return "\n".join("# %s:\n%s" % (name, text[-3000:]) for name, text in (
            ("maillog", self.postfix.log()),
            ("mailman.log", self.site.log()),
            ("smtp.log", self.site.log("smtp.log")),
            ("vette.log", self.site.log("vette.log")),
            ("subscribe.log", self.site.log("subscribe.log"))))

    def wait(self, predicate, what):
        try:
            return mmtest.wait_for(predicate, timeout=WAIT, interval=0.2,
                                   what=what)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.explain())) from None

    def wait_delivered(self, message_id, users=MEMBERS):
        """Waits until each of `users` has the message; returns {user:
        [copies]}."""
        self.wait(lambda: all(self.copies(u, message_id) for u in users),
                  "%s in the mailboxes of %s" % (message_id, users))
        return {u: self.copies(u, message_id) for u in users}

    def wait_quiet(self):
        """Waits until neither server holds mail in flight, so that what is
        in the mailboxes is all there will be."""
        queues = ("in", "pipeline", "out", "virgin", "command", "retry")
        self.wait(lambda: not any(self.site.queue_files(q) for q in queues)
                  and self.postfix.queue_empty(), "both servers to go quiet")

    def members(self):
        return self.site.run("members", LIST).stdout

    def wait_new(self, user, seen, what):
        """Waits for a message in user's Maildir whose file is not in
        `seen` and that `what` accepts; returns it."""
        def find():
            for name, msg in self.mailbox(user).items():
                if name not in seen and what(msg):
                    seen.add(name)
                    return msg
            return None
        return self.wait(find, "a new message for %s" % user)

    def reply(self, sender, msg):
        """Answers a confirmation request as a mail client does: to its
        Reply-To (else From), keeping the subject."""
        to = email.utils.parseaddr(msg.get("Reply-To") or msg["From"])[1]
        self.assertTrue(to, msg)
        subject = str(msg["Subject"])
        self.send(sender, to, subject="Re: " + subject,
                  body="Yes, please.\n")


class TestBulk(PostfixE2EBase):
    """Default bulk delivery: one envelope, sender LIST-bounces@."""

    verp = 0

    def test_1_member_post_reaches_every_member(self):
        sender = "ann@" + PEOPLE
        message_id = self.send(sender, LIST, subject="hello all")
        got = self.wait_delivered(message_id)
        for user, copies in got.items():
            msg = copies[0]
            self.assertEqual(msg["List-Id"].strip().split()[-1],
                             "<test.lists.example.com>", user)
            self.assertEqual(msg["List-Post"].strip(),
                             "<mailto:%s>" % LIST)
            self.assertIn("mailto:test-leave@%s" % DOMAIN,
                          msg["List-Unsubscribe"])
            self.assertEqual(str(msg["Subject"]).strip(), "[Test] hello all")
            self.assertEqual(msg["Return-Path"].strip(),
                             "<test-bounces@%s>" % DOMAIN)
            self.assertEqual(msg["Delivered-To"].strip(),
                             "%s@%s" % (user, PEOPLE))
            self.assertIn("A post.", msg.get_payload())

    def test_3_nonmember_post_is_held_then_accepted_once(self):
        message_id = self.send(STRANGER, LIST, subject="from outside")

        def held():
            out = self.site.run("held", LIST).stdout
            for line in out.splitlines():
                fields = line.split("\t")
                if len(fields) >= 4 and fields[2] == STRANGER:
                    return fields[0]
            return None
        request_id = self.wait(held, "the post to be held")
        for user in MEMBERS:
            self.assertEqual(self.copies(user, message_id), [], user)

        out = self.site.run("moderate", LIST, request_id, "--accept").stdout
        self.assertIn(request_id, out)
        self.wait_delivered(message_id)
        self.wait_quiet()
        for user in MEMBERS:
            copies = self.copies(user, message_id)
            self.assertEqual(len(copies), 1, user)
            self.assertEqual(str(copies[0]["Subject"]).strip(),
                             "[Test] from outside")
        self.assertNotIn(STRANGER, self.site.run("held", LIST).stdout)

    def test_4_join_confirm_post_leave_by_mail(self):
        who = "%s@%s" % (JOINER, PEOPLE)
        seen = set(self.mailbox(JOINER))
        self.assertNotIn(who, self.members())

        # Join: a confirmation request comes back; answering it subscribes.
        self.send(who, "test-join@" + DOMAIN, subject="join")
        request = self.wait_new(JOINER, seen,
                                lambda m: "confirm" in str(m["Subject"]))
        self.reply(who, request)
        self.wait(lambda: who in self.members(), "the join to take effect")
        self.wait_new(JOINER, seen,
                      lambda m: "Welcome" in str(m["Subject"]))

        # A member's post now reaches the new member too.
        message_id = self.send("ann@" + PEOPLE, LIST, subject="hi dan")
        self.wait_delivered(message_id, users=MEMBERS + (JOINER,))

        # Leave: another confirmation; answering it unsubscribes.
        self.send(who, "test-leave@" + DOMAIN, subject="leave")
        request = self.wait_new(JOINER, seen,
                                lambda m: "confirm" in str(m["Subject"]))
        self.reply(who, request)
        self.wait(lambda: who not in self.members(),
                  "the leave to take effect")


class TestVerp(PostfixE2EBase):
    """verp_delivery_interval: 1: one envelope per member, its sender
    naming the member."""

    verp = 1

    def test_2_verp_return_path(self):
        message_id = self.send("bob@" + PEOPLE, LIST, subject="verp me")
        got = self.wait_delivered(message_id)
        for user, copies in got.items():
            self.assertEqual(
                copies[0]["Return-Path"].strip(),
                "<test-bounces+%s=%s@%s>" % (user, PEOPLE, DOMAIN), user)
            self.assertEqual(str(copies[0]["Subject"]).strip(),
                             "[Test] verp me")


del PostfixE2EBase  # only the concrete classes run

if __name__ == "__main__":
    mmtest.run_tap(__name__)
