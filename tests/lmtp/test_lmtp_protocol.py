#!/usr/bin/env python3
"""Protocol tests of the LMTP server (RFC 2033) over raw sockets.

Usage: test_lmtp_protocol.py PATH/TO/mm-lmtp-testd [unittest args]

Each test makes a site in a temporary directory (mailman.cfg, a database
with a domain and lists created by the test daemon), starts the daemon
with `--serve` and talks to it byte by byte: every reply, pipelining,
dot-stuffing round trips, the limits (size, line length, command length,
bad commands, recipients, idle timeout, session deadline, connection cap),
20 parallel clients beside a stalled one, a disconnect mid-DATA, a
`kill -9` right after the final reply, unix-domain and IPv6 sockets.
Queue files are read back with `mm-lmtp-testd --dump/--dump-meta`.

No timed assertions: waits are bounded (socket timeouts, retry counts)
and only guard against a hang; what is asserted is what was received.
Output is TAP.  Python 3 standard library only.
"""
import json
import os
import select
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

TESTD = None
IO_TIMEOUT = 30  # seconds; a hang guard, never an assertion


class Site:
    """A temporary Mailman site with the LMTP test daemon."""

    LISTS = ["foo@example.com", "bar@example.com", "foo-owner@example.com",
             "other@lists.example.org"]

    def __init__(self, lists=None, domains=("example.com=alias.example",),
                 lmtp_host="127.0.0.1", create=True, mta_extra=""):
        self.root = tempfile.mkdtemp(prefix="lmtp-test-")
        self.var = os.path.join(self.root, "var")
        self.cfg = os.path.join(self.root, "mailman.cfg")
        self.lmtp_host = lmtp_host
        with open(self.cfg, "w") as f:
            f.write("[mailman]\nlayout: testing\n"
                    "site_owner: siteowner@example.net\n\n"
                    "[paths.testing]\nvar_dir: %s\n\n"
                    "[mta]\nlmtp_host: %s\nlmtp_port: 0\n%s"
                    % (self.var, lmtp_host, mta_extra))
        self.proc = None
        self.port = None
        self.log = os.path.join(self.root, "daemon.log")
        if create:
            self.create(lists if lists is not None else self.LISTS, domains)

    def create(self, lists=(), domains=()):
        args = [TESTD, "-C", self.cfg]
        for d in domains:
            args += ["--domain", d]
        for name in lists:
            args += ["--list", name]
        with open(self.log, "ab") as logf:
            subprocess.run(args, check=True, stderr=logf, timeout=IO_TIMEOUT)

    def start(self, *options):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [TESTD, "-C", self.cfg, "--serve"] + list(options),
            stdout=subprocess.PIPE, stderr=logf)
        logf.close()
        ready, _, _ = select.select([self.proc.stdout], [], [], IO_TIMEOUT)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("READY "):
            raise AssertionError("daemon did not start: %r\n%s"
                                 % (line, self.log_text()))
        self.port = int(line.split()[1])
        return self

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def connect(self):
        if self.lmtp_host.startswith("unix:"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(IO_TIMEOUT)
            s.connect(self.lmtp_host[len("unix:"):])
        else:
            s = socket.create_connection((self.lmtp_host, self.port),
                                         timeout=IO_TIMEOUT)
        return Client(s)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=IO_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("daemon did not stop on SIGTERM")
            self.proc.stdout.close()
            self.proc = None
            return rc
        return None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=IO_TIMEOUT)
        self.proc.stdout.close()
        self.proc = None

    def cleanup(self):
        try:
            rc = self.stop()
            if rc not in (None, 0):
                raise AssertionError("daemon exit %s\n%s" % (rc, self.log_text()))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def queue_files(self, name):
        d = os.path.join(self.var, "queue", name)
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, f) for f in os.listdir(d)
                      if f.endswith(".pck"))

    def all_queued(self):
        return {q: self.queue_files(q) for q in ("in", "command", "bounces")}

    def total_queued(self):
        return sum(len(v) for v in self.all_queued().values())

    def message(self, path):
        return subprocess.run([TESTD, "--dump", path], check=True,
                              stdout=subprocess.PIPE,
                              timeout=IO_TIMEOUT).stdout

    def meta(self, path):
        out = subprocess.run([TESTD, "--dump-meta", path], check=True,
                             stdout=subprocess.PIPE,
                             timeout=IO_TIMEOUT).stdout
        return json.loads(out)


class Client:
    """A raw LMTP client: send bytes, read whole replies."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        assert line.endswith(b"\r"), line
        return line[:-1].decode("utf-8", "replace")

    def reply(self):
        """One reply: (code, [text lines]) with multi-line replies joined."""
        lines = []
        while True:
            line = self._line()
            assert len(line) >= 3 and line[:3].isdigit(), line
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), lines
            assert line[3] == "-", line

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def at_eof(self):
        """True if the server closed the connection (after any data)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.sock.close()


def message(subject="test", body="Hello.\r\n", extra=""):
    return ("From: sender@example.net\r\nTo: foo@example.com\r\n"
            "Subject: %s\r\nMessage-ID: <%s@example.net>\r\n%s\r\n%s"
            % (subject, subject.replace(" ", "."), extra, body)).encode()


def stuff(data):
    """Dot-stuff message bytes (RFC 5321 4.5.2) and add the end line."""
    lines = data.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = [b"." + l if l.startswith(b".") else l for l in lines]
    return b"\r\n".join(out) + b"\r\n.\r\n"


class LmtpTest(unittest.TestCase):
    start_options = ()

    def setUp(self):
        self.site = Site()
        self.site.start(*self.start_options)
        self.c = self.site.connect()
        code, _ = self.c.reply()
        self.assertEqual(code, 220)

    def tearDown(self):
        try:
            self.c.close()
        finally:
            self.site.cleanup()

    def lhlo(self, c=None):
        code, lines = (c or self.c).cmd("LHLO client.example")
        self.assertEqual(code, 250)
        return lines

    def deliver(self, rcpts, data, sender="sender@example.net", c=None):
        """A transaction; returns the RCPT replies and the final replies."""
        c = c or self.c
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % sender)[0], 250)
        rcpt_replies = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        accepted = sum(1 for code, _ in rcpt_replies if code == 250)
        code, _ = c.cmd("DATA")
        if accepted == 0:
            self.assertEqual(code, 503)
            return rcpt_replies, []
        self.assertEqual(code, 354)
        c.send(stuff(data))
        return rcpt_replies, c.replies(accepted)


class Greeting(LmtpTest):
    def test_greeting_and_lhlo(self):
        lines = self.lhlo()
        self.assertEqual(lines[1:], ["PIPELINING", "ENHANCEDSTATUSCODES",
                                     "8BITMIME", "SIZE 33554432"])
        # LHLO may be repeated; it resets the transaction.
        self.assertEqual(self.c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        self.lhlo()
        self.assertEqual(self.c.cmd("RCPT TO:<foo@example.com>")[0], 503)

    def test_helo_ehlo_refused(self):
        for verb in ("HELO", "EHLO"):
            code, lines = self.c.cmd(verb + " client.example")
            self.assertEqual(code, 500)
            self.assertTrue(lines[0].startswith("5.5.1 "), lines)
        self.assertEqual(self.c.cmd("MAIL FROM:<a@b.example>")[0], 503)

    def test_lhlo_needs_argument(self):
        code, lines = self.c.cmd("LHLO")
        self.assertEqual((code, lines[0][:5]), (501, "5.5.4"))

    def test_sequence_errors(self):
        for line in ("MAIL FROM:<a@b.example>", "RCPT TO:<foo@example.com>",
                     "DATA"):
            code, lines = self.c.cmd(line)
            self.assertEqual((code, lines[0][:5]), (503, "5.5.1"), line)
        self.lhlo()
        for line in ("RCPT TO:<foo@example.com>", "DATA"):
            code, lines = self.c.cmd(line)
            self.assertEqual((code, lines[0][:5]), (503, "5.5.1"), line)
        self.assertEqual(self.c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        code, lines = self.c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual((code, lines[0][:5]), (503, "5.5.1"))
        # DATA without an accepted recipient (RFC 2033 4.2).
        self.assertEqual(self.c.cmd("RCPT TO:<nosuch@example.com>")[0], 550)
        code, lines = self.c.cmd("DATA")
        self.assertEqual((code, lines[0][:5]), (503, "5.5.1"))
        self.assertEqual(self.c.cmd("RSET")[0], 250)
        self.assertEqual(self.c.cmd("MAIL FROM:<a@b.example>")[0], 250)

    def test_other_commands(self):
        self.assertEqual(self.c.cmd("NOOP"), (250, ["2.0.0 Ok"]))
        self.assertEqual(self.c.cmd("NOOP with text")[0], 250)
        code, lines = self.c.cmd("VRFY foo@example.com")
        self.assertEqual((code, lines[0][:5]), (252, "2.5.0"))
        self.assertEqual(self.c.cmd("VRFY")[0], 501)
        code, lines = self.c.cmd("HELP")
        self.assertEqual(code, 214)
        self.assertIn("LHLO", lines[0])
        code, lines = self.c.cmd("STARTTLS")
        self.assertEqual((code, lines[0][:5]), (500, "5.5.1"))
        self.assertEqual(self.c.cmd("RSET"), (250, ["2.0.0 Ok"]))
        self.assertEqual(self.c.cmd("DATA extra")[0], 501)
        self.assertEqual(self.c.cmd("QUIT")[0], 221)
        self.assertTrue(self.c.at_eof())

    def test_mail_parameters(self):
        self.lhlo()
        code, lines = self.c.cmd("MAIL FROM:<a@b.example> SIZE=33554433")
        self.assertEqual((code, lines[0][:5]), (552, "5.3.4"))
        code, lines = self.c.cmd("MAIL FROM:<a@b.example> SIZE=x")
        self.assertEqual((code, lines[0][:5]), (501, "5.5.4"))
        code, lines = self.c.cmd("MAIL FROM:<a@b.example> BODY=BINARYMIME")
        self.assertEqual((code, lines[0][:5]), (501, "5.5.4"))
        code, lines = self.c.cmd("MAIL FROM:<a@b.example> SMTPUTF8")
        self.assertEqual((code, lines[0][:5]), (555, "5.5.4"))
        code, lines = self.c.cmd("MAIL FROM:<a b@b.example>")
        self.assertEqual((code, lines[0][:5]), (501, "5.1.7"))
        code, lines = self.c.cmd("MAIL TO:<a@b.example>")
        self.assertEqual((code, lines[0][:5]), (501, "5.5.4"))
        code, lines = self.c.cmd(
            "MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME")
        self.assertEqual((code, lines[0][:5]), (250, "2.1.0"))
        code, lines = self.c.cmd("RCPT TO:<foo@example.com> NOTIFY=NEVER")
        self.assertEqual((code, lines[0][:5]), (555, "5.5.4"))
        code, lines = self.c.cmd("RCPT TO:<>")
        self.assertEqual((code, lines[0][:5]), (501, "5.1.3"))
        code, lines = self.c.cmd("RCPT TO:<foo@example.com>")
        self.assertEqual((code, lines[0][:5]), (250, "2.1.5"))
        self.assertEqual(self.c.cmd("RSET")[0], 250)
        # The null reverse-path (bounces).
        self.assertEqual(self.c.cmd("MAIL FROM:<>")[0], 250)

    def test_smtplib_lmtp(self):
        self.c.close()
        lmtp = smtplib.LMTP("127.0.0.1", self.site.port, timeout=IO_TIMEOUT)
        try:
            code, _ = lmtp.ehlo()  # smtplib.LMTP sends LHLO
            self.assertEqual(code, 250)
            self.assertTrue(lmtp.has_extn("pipelining"))
            self.assertTrue(lmtp.has_extn("enhancedstatuscodes"))
            self.assertEqual(lmtp.has_extn("size") and
                             lmtp.esmtp_features["size"], "33554432")
            refused = lmtp.sendmail("a@b.example",
                                    ["foo@example.com", "bar@example.com"],
                                    message("smtplib"))
            self.assertEqual(refused, {})
        finally:
            lmtp.quit()
        self.c = self.site.connect()
        self.assertEqual(len(self.site.queue_files("in")), 2)


class Recipients(LmtpTest):
    ROUTES = [
        # address, queue, list-id, metadata subset
        ("foo@example.com", "in", "foo.example.com", {"to_list": True}),
        ("FOO@Example.COM", "in", "foo.example.com", {"to_list": True}),
        ("foo+tag@example.com", "in", "foo.example.com", {"to_list": True}),
        ("foo@alias.example", "in", "foo.example.com", {"to_list": True}),
        ("foo-bounces@example.com", "bounces", "foo.example.com",
         {"subaddress": "bounces"}),
        ("foo-bounces+anne=example.net@example.com", "bounces",
         "foo.example.com", {"subaddress": "bounces"}),
        ("foo-confirm+0123456789abcdef@example.com", "command",
         "foo.example.com", {"subaddress": "confirm"}),
        ("foo-join@example.com", "command", "foo.example.com",
         {"subaddress": "join"}),
        ("foo-subscribe@example.com", "command", "foo.example.com",
         {"subaddress": "join"}),
        ("foo-leave@example.com", "command", "foo.example.com",
         {"subaddress": "leave"}),
        ("foo-unsubscribe@example.com", "command", "foo.example.com",
         {"subaddress": "leave"}),
        ("foo-request@example.com", "command", "foo.example.com",
         {"subaddress": "request", "to_request": True}),
        ("bar-owner@example.com", "in", "bar.example.com",
         {"subaddress": "owner", "to_owner": True,
          "envsender": "siteowner@example.net"}),
        # A list whose own name ends in a subaddress word.
        ("foo-owner@example.com", "in", "foo-owner.example.com",
         {"to_list": True}),
        ("Other-Request@LISTS.example.org", "command", "other.lists.example.org",
         {"subaddress": "request", "to_request": True}),
    ]

    def test_routes_and_metadata(self):
        self.lhlo()
        data = message("routes")
        rcpt, final = self.deliver([r[0] for r in self.ROUTES], data)
        self.assertEqual([c for c, _ in rcpt], [250] * len(self.ROUTES))
        self.assertEqual(len(final), len(self.ROUTES))
        for code, lines in final:
            self.assertEqual(code, 250)
            self.assertTrue(lines[0].startswith("2.0.0 "), lines)
            self.assertIn("queued as ", lines[0])
        # One queue entry per recipient address, each with its route.
        queued = {}
        for q in ("in", "command", "bounces"):
            for path in self.site.queue_files(q):
                ident = os.path.basename(path)[:-len(".pck")]
                queued[ident] = (q, self.site.meta(path), path)
        self.assertEqual(len(queued), len(self.ROUTES))
        times = set()
        for (address, queue, list_id, subset), (_, lines) in zip(self.ROUTES,
                                                                 final):
            ident = lines[0].split("queued as ")[1].strip()
            q, meta, path = queued[ident]
            self.assertEqual(q, queue, address)
            self.assertEqual(meta["listid"], list_id, address)
            self.assertEqual(meta["original_size"], len(data), address)
            for k, v in subset.items():
                self.assertEqual(meta.get(k), v, (address, k))
            for k in ("to_list", "to_owner", "to_request", "subaddress"):
                if k not in subset:
                    self.assertNotIn(k, meta, (address, k))
            times.add(meta["received_time"])
            body = self.site.message(path)
            self.assertIn(b"\r\nX-MailFrom: sender@example.net\r\n", body)
            self.assertIn(b"\r\nMessage-ID-Hash: ", body)
            self.assertIn(b"\r\nX-Message-ID-Hash: ", body)
        # One timestamp for the whole transaction, as Mailman.
        self.assertEqual(len(times), 1)

    def test_unknown_recipients(self):
        self.lhlo()
        self.assertEqual(self.c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        for rcpt in ("nosuch@example.com", "foo-bogus@example.com",
                     "foo@nosuch.example", "bar@lists.example.org",
                     "postmaster", "foo@bad_domain", "../foo@example.com",
                     "-bounces@example.com", "+x@example.com",
                     "foo\u00e9@example.com"):
            code, lines = self.c.cmd("RCPT TO:<%s>" % rcpt)
            self.assertEqual((code, lines[0][:5]), (550, "5.1.1"), rcpt)
        self.assertEqual(self.c.cmd("DATA")[0], 503)
        self.assertEqual(self.site.total_queued(), 0)

    def test_null_sender_and_missing_message_id(self):
        self.lhlo()
        data = (b"From: MAILER-DAEMON@example.net\r\nSubject: bounce\r\n\r\n"
                b"Your message could not be delivered.\r\n")
        rcpt, final = self.deliver(["foo-bounces@example.com"], data,
                                   sender="")
        self.assertEqual(final[0][0], 250)
        path, = self.site.queue_files("bounces")
        body = self.site.message(path)
        self.assertIn(b"\r\nX-MailFrom: <>\r\n", body)
        self.assertIn(b"\r\nMessage-ID: <", body)
        self.assertTrue(body.endswith(b"\r\n\r\nYour message could not be "
                                      b"delivered.\r\n"))

    def test_too_many_recipients(self):
        self.c.close()
        self.site.stop()
        self.site.start("--max-recipients", "3")
        self.c = self.site.connect()
        self.c.reply()
        self.lhlo()
        self.assertEqual(self.c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        for _ in range(3):
            self.assertEqual(self.c.cmd("RCPT TO:<foo@example.com>")[0], 250)
        code, lines = self.c.cmd("RCPT TO:<bar@example.com>")
        self.assertEqual((code, lines[0][:5]), (452, "4.5.3"))
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        self.c.send(stuff(message("three")))
        self.assertEqual([c for c, _ in self.c.replies(3)], [250] * 3)
        self.assertEqual(len(self.site.queue_files("in")), 3)


class Pipelining(LmtpTest):
    def test_everything_in_one_send(self):
        data = message("pipelined")
        self.c.send(b"LHLO client.example\r\n"
                    b"MAIL FROM:<a@b.example>\r\n"
                    b"RCPT TO:<foo@example.com>\r\n"
                    b"RCPT TO:<nosuch@example.com>\r\n"
                    b"RCPT TO:<bar-request@example.com>\r\n"
                    b"DATA\r\n" + stuff(data) +
                    b"MAIL FROM:<c@d.example>\r\n"
                    b"RCPT TO:<bar@example.com>\r\n"
                    b"DATA\r\n" + stuff(message("second")) +
                    b"NOOP\r\nQUIT\r\n")
        codes = [self.c.reply()[0] for _ in range(14)]
        self.assertEqual(codes, [250, 250, 250, 550, 250, 354, 250, 250,
                                 250, 250, 354, 250, 250, 221])
        self.assertTrue(self.c.at_eof())
        self.assertEqual(len(self.site.queue_files("in")), 2)
        self.assertEqual(len(self.site.queue_files("command")), 1)

    def test_byte_at_a_time(self):
        data = b"LHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<foo@example.com>\r\nDATA\r\n"
        for i in range(len(data)):
            self.c.send(data[i:i + 1])
        self.assertEqual([self.c.reply()[0] for _ in range(4)],
                         [250, 250, 250, 354])
        for b in stuff(message("bytewise")):
            self.c.send(bytes([b]))
        self.assertEqual(self.c.reply()[0], 250)


class DotStuffing(LmtpTest):
    BODY = (b".\r\n"
            b"..\r\n"
            b". leading dot and space\r\n"
            b"...three\r\n"
            b"x.\r\n"
            b"\r\n"
            b".\r\n"
            b"trailing spaces   \r\n"
            b"tab\there\r\n"
            b"8bit \xc3\xa9\xff\xfe\r\n"
            b"bare\rcr\r\n"
            b"nul\x00byte\r\n"
            b".\r\n")

    def test_round_trip_byte_for_byte(self):
        self.lhlo()
        head = (b"From: sender@example.net\r\nTo: foo@example.com\r\n"
                b"Subject: dots\r\nMessage-ID: <dots@example.net>\r\n")
        data = head + b"\r\n" + self.BODY
        rcpt, final = self.deliver(["foo@example.com"], data)
        self.assertEqual(final[0][0], 250)
        path, = self.site.queue_files("in")
        queued = self.site.message(path)
        # Original header fields first, the intake fields after them, then
        # the body exactly as sent before stuffing.
        self.assertTrue(queued.startswith(head), queued)
        self.assertTrue(queued.endswith(b"\r\n\r\n" + self.BODY), queued)
        added = queued[len(head):-len(b"\r\n" + self.BODY)]
        names = [l.split(b":")[0] for l in added.split(b"\r\n") if l]
        self.assertEqual(names, [b"Message-ID-Hash", b"X-Message-ID-Hash",
                                 b"X-MailFrom"])
        self.assertEqual(self.site.meta(path)["original_size"], len(data))

    def test_large_message_round_trip(self):
        # 3 MiB: past what a session keeps in memory (1 MiB), so the body
        # goes through the spool file and is queued from its mapping; it
        # must come out byte for byte, to two lists, with nothing left
        # beside the queues.
        self.lhlo()
        head = (b"From: sender@example.net\r\nTo: foo@example.com\r\n"
                b"Subject: big\r\nMessage-ID: <big@example.net>\r\n")
        lines = []
        for i in range(48000):
            lines.append(b"%s%05d %s\r\n" % (b"." if i % 7 == 0 else b"",
                                            i, bytes([32 + i % 90]) * 60))
        body = b"".join(lines) + self.BODY
        data = head + b"\r\n" + body
        self.assertGreater(len(data), 3 * 1024 * 1024)
        rcpt, final = self.deliver(["foo@example.com", "bar@example.com"],
                                   data)
        self.assertEqual([x[0] for x in final], [250, 250])
        for path in self.site.queue_files("in"):
            queued = self.site.message(path)
            self.assertTrue(queued.startswith(head))
            self.assertTrue(queued.endswith(b"\r\n\r\n" + body))
            self.assertEqual(self.site.meta(path)["original_size"], len(data))
        self.assertEqual(len(self.site.queue_files("in")), 2)
        queue_root = os.path.join(self.site.var, "queue")
        self.assertEqual([f for f in os.listdir(queue_root)
                          if not os.path.isdir(os.path.join(queue_root, f))],
                         [])

    def test_bare_lf_is_a_line_break(self):
        self.lhlo()
        self.assertEqual(self.c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        self.assertEqual(self.c.cmd("RCPT TO:<foo@example.com>")[0], 250)
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        # "\n.\n" and "\n.\r\n" do not end the data (no smuggling).
        self.c.send(b"Subject: lf\nMessage-ID: <lf@x.example>\n\nline\n.\n"
                    b"still data\n.\r\nNOOP\r\n.\r\n")
        code, _ = self.c.reply()
        self.assertEqual(code, 250)
        path, = self.site.queue_files("in")
        queued = self.site.message(path)
        self.assertTrue(queued.endswith(
            b"\r\n\r\nline\r\n\r\nstill data\r\n\r\nNOOP\r\n"), queued)
        self.assertEqual(self.c.cmd("NOOP")[0], 250)


class Refusals(LmtpTest):
    start_options = ("--max-size", "10000")

    def test_oversize_message(self):
        lines = self.lhlo()
        self.assertEqual(lines[-1], "SIZE 10000")
        code, lines = self.c.cmd("MAIL FROM:<a@b.example> SIZE=10001")
        self.assertEqual((code, lines[0][:5]), (552, "5.3.4"))
        big = message("big", body=("y" * 78 + "\r\n") * 200)
        self.assertGreater(len(big), 10000)
        rcpt, final = self.deliver(["foo@example.com", "bar@example.com"], big)
        self.assertEqual([(c, l[0][:5]) for c, l in final],
                         [(552, "5.3.4")] * 2)
        self.assertEqual(self.site.total_queued(), 0)
        # The session is still in step.
        self.assertEqual(self.c.cmd("NOOP")[0], 250)
        rcpt, final = self.deliver(["foo@example.com"], message("small"))
        self.assertEqual(final[0][0], 250)

    def test_over_long_line(self):
        self.lhlo()
        ok = message("ok", body="z" * 998 + "\r\n")
        rcpt, final = self.deliver(["foo@example.com"], ok)
        self.assertEqual(final[0][0], 250)
        long = message("long", body="z" * 999 + "\r\nmore\r\n")
        rcpt, final = self.deliver(["foo@example.com", "bar@example.com",
                                    "nosuch@example.com"], long)
        self.assertEqual([(c, l[0][:5]) for c, l in final],
                         [(500, "5.5.2")] * 2)
        self.assertEqual(len(self.site.queue_files("in")), 1)
        self.assertEqual(self.c.cmd("NOOP")[0], 250)

    def test_defective_message(self):
        self.lhlo()
        bad = b"Subject: x\r\nnot a header line\r\n\r\nbody\r\n"
        rcpt, final = self.deliver(["foo@example.com", "bar@example.com"], bad)
        # One reply per recipient, unlike Mailman's single 501.
        self.assertEqual([(c, l[0][:5]) for c, l in final],
                         [(554, "5.6.0")] * 2)
        nobound = (b"Subject: x\r\nMessage-ID: <nb@x.example>\r\n"
                   b"Content-Type: multipart/mixed\r\n\r\nbody\r\n")
        rcpt, final = self.deliver(["foo@example.com"], nobound)
        self.assertEqual(final[0][0], 554)
        self.assertEqual(self.site.total_queued(), 0)
        # A missing closing boundary is accepted (Mailman refuses it).
        open_mime = (b"Subject: x\r\nMessage-ID: <open@x.example>\r\n"
                     b"MIME-Version: 1.0\r\n"
                     b"Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
                     b"--BB\r\nContent-Type: text/plain\r\n\r\npart\r\n")
        rcpt, final = self.deliver(["foo@example.com"], open_mime)
        self.assertEqual(final[0][0], 250)
        path, = self.site.queue_files("in")
        self.assertTrue(self.site.message(path).endswith(b"\r\n\r\n--BB\r\n"
                        b"Content-Type: text/plain\r\n\r\npart\r\n"))

    def test_long_command_line(self):
        code, lines = self.c.cmd("NOOP " + "a" * 5000)
        self.assertEqual((code, lines[0][:5]), (500, "5.5.2"))
        code, lines = self.c.cmd("NOOP " + "a" * 4089)  # 4096 with CRLF
        self.assertEqual(code, 250)
        code, lines = self.c.cmd("RCPT TO:<" + "a" * 5000 + "@example.com>")
        self.assertEqual((code, lines[0][:5]), (500, "5.5.2"))
        self.assertEqual(self.c.cmd("NOOP")[0], 250)
        code, lines = self.c.cmd("NOOP a\x00b")
        self.assertEqual((code, lines[0][:5]), (500, "5.5.2"))

    def test_too_many_bad_commands(self):
        for i in range(10):
            code, lines = self.c.cmd("BOGUS %d" % i)
            self.assertEqual(code, 500, i)
        code, lines = self.c.cmd("BOGUS 10")
        self.assertEqual((code, lines[0][:5]), (421, "4.7.0"))
        self.assertTrue(self.c.at_eof())

    def test_disconnect_mid_data(self):
        self.lhlo()
        self.assertEqual(self.c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        self.assertEqual(self.c.cmd("RCPT TO:<foo@example.com>")[0], 250)
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        self.c.send(b"Subject: cut\r\n\r\nhalf a message\r\n.")
        self.c.close()
        # The server goes on serving; the cut message was never queued.
        self.c = self.site.connect()
        self.assertEqual(self.c.reply()[0], 220)
        self.lhlo()
        rcpt, final = self.deliver(["bar@example.com"], message("after"))
        self.assertEqual(final[0][0], 250)
        self.assertEqual(self.c.cmd("QUIT")[0], 221)
        self.assertTrue(self.c.at_eof())
        path, = self.site.queue_files("in")
        self.assertEqual(self.site.meta(path)["listid"], "bar.example.com")
        self.assertEqual(self.site.total_queued(), 1)


class Timeouts(LmtpTest):
    start_options = ("--timeout", "1", "--deadline", "4")

    def test_idle_client(self):
        code, lines = self.c.reply()  # blocks until the server gives up
        self.assertEqual((code, lines[0][:5]), (421, "4.4.2"))
        self.assertTrue(self.c.at_eof())

    def test_stalled_in_data(self):
        self.lhlo()
        self.assertEqual(self.c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        self.assertEqual(self.c.cmd("RCPT TO:<foo@example.com>")[0], 250)
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        self.c.send(b"Subject: stall\r\n\r\nand then nothing")
        code, lines = self.c.reply()
        self.assertEqual((code, lines[0][:5]), (421, "4.4.2"))
        self.assertTrue(self.c.at_eof())
        self.assertEqual(self.site.total_queued(), 0)

    def test_session_deadline(self):
        # A client that keeps talking is still cut at the deadline.
        for _ in range(1000):
            code, lines = self.c.cmd("NOOP")
            if code != 250:
                break
            select.select([], [], [], 0.1)
        self.assertEqual((code, lines[0][:5]), (421, "4.4.2"))
        self.assertTrue(self.c.at_eof())


class Connections(unittest.TestCase):
    def setUp(self):
        self.site = Site()

    def tearDown(self):
        self.site.cleanup()

    def test_connection_cap(self):
        self.site.start("--max-connections", "3")
        open_ = [self.site.connect() for _ in range(3)]
        for c in open_:
            self.assertEqual(c.reply()[0], 220)
        extra = self.site.connect()
        code, lines = extra.reply()
        self.assertEqual((code, lines[0][:5]), (421, "4.3.2"))
        self.assertTrue(extra.at_eof())
        extra.close()
        # When one leaves, a newcomer is served (bounded retries: the
        # server notices the close asynchronously).
        self.assertEqual(open_[0].cmd("QUIT")[0], 221)
        self.assertTrue(open_[0].at_eof())
        for _ in range(200):
            c = self.site.connect()
            code, _ = c.reply()
            if code == 220:
                break
            c.close()
            select.select([], [], [], 0.05)
        self.assertEqual(code, 220)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        for x in open_[1:] + [c]:
            x.close()

    def test_twenty_parallel_with_a_stalled_one(self):
        self.site.start()
        stalled = self.site.connect()
        self.assertEqual(stalled.reply()[0], 220)
        self.assertEqual(stalled.cmd("LHLO stall")[0], 250)
        self.assertEqual(stalled.cmd("MAIL FROM:<a@b.example>")[0], 250)
        self.assertEqual(stalled.cmd("RCPT TO:<foo@example.com>")[0], 250)
        self.assertEqual(stalled.cmd("DATA")[0], 354)
        stalled.send(b"Subject: slow\r\n\r\nhalf")
        results = [None] * 20
        barrier = threading.Barrier(20, timeout=IO_TIMEOUT)

        def worker(i):
            try:
                c = self.site.connect()
                assert c.reply()[0] == 220
                barrier.wait()  # all 20 connected at once
                assert c.cmd("LHLO w%d" % i)[0] == 250
                assert c.cmd("MAIL FROM:<w%d@b.example>" % i)[0] == 250
                assert c.cmd("RCPT TO:<bar@example.com>")[0] == 250
                assert c.cmd("DATA")[0] == 354
                c.send(stuff(message("parallel %d" % i)))
                results[i] = c.reply()[0]
                c.cmd("QUIT")
                c.close()
            except Exception as e:  # reported by the assertion below
                results[i] = repr(e)

        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(IO_TIMEOUT * 2)
        self.assertEqual(results, [250] * 20)
        self.assertEqual(len(self.site.queue_files("in")), 20)
        # The stalled client is still there and can finish.
        stalled.send(b" and the rest\r\n.\r\n")
        self.assertEqual(stalled.reply()[0], 250)
        stalled.close()
        self.assertEqual(len(self.site.queue_files("in")), 21)

    def test_kill9_after_final_reply(self):
        self.site.start()
        c = self.site.connect()
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO x")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<foo@example.com>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<foo-request@example.com>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        data = message("durable", body="must survive\r\n")
        c.send(stuff(data))
        final = c.replies(2)
        self.site.kill9()  # at once: no chance to finish anything
        c.close()
        self.assertEqual([x[0] for x in final], [250, 250])
        ids = sorted(x[1][0].split("queued as ")[1] for x in final)
        files = self.site.queue_files("in") + self.site.queue_files("command")
        self.assertEqual(sorted(os.path.basename(f)[:-4] for f in files), ids)
        for f in files:
            body = self.site.message(f)  # complete: the trailer verifies
            self.assertTrue(body.endswith(b"\r\n\r\nmust survive\r\n"))
        # Nothing half-written is left beside them.
        for q in ("in", "command"):
            d = os.path.join(self.site.var, "queue", q)
            self.assertEqual([f for f in os.listdir(d)
                              if not f.endswith(".pck")], [])

    def run_clients(self, n, work):
        """Runs work(i) in n threads at once; returns their results."""
        results = [None] * n
        barrier = threading.Barrier(n, timeout=IO_TIMEOUT)

        def worker(i):
            try:
                barrier.wait()
                results[i] = work(i)
            except Exception as e:  # reported by the caller's assertions
                results[i] = repr(e)

        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(IO_TIMEOUT * 4)
        return results

    def queued_subjects(self, queue="in"):
        """{entry ID: Subject} of every entry in @queue."""
        out = {}
        for f in self.site.queue_files(queue):
            for line in self.site.message(f).split(b"\r\n"):
                if line.startswith(b"Subject: "):
                    out[os.path.basename(f)[:-4]] = line[9:].decode()
                    break
        return out

    def test_parallel_commits_each_answered_for_its_own_copy(self):
        # 20 sessions commit at the same time (the server's commit
        # threads): every copy gets its own 250 with its own ID, the ID
        # names the entry holding that very message, and each session's
        # replies stay in RCPT order even with the next transaction
        # pipelined behind the final dot.
        self.site.start()

        def client(i):
            c = self.site.connect()
            assert c.reply()[0] == 220
            assert c.cmd("LHLO p%d" % i)[0] == 250
            got = []
            for k in range(0, 6, 2):
                # Two transactions in one send: the second waits for the
                # first one's commit.
                batch = b""
                for j in (k, k + 1):
                    batch += (b"MAIL FROM:<p%d@b.example>\r\n"
                              b"RCPT TO:<foo@example.com>\r\n"
                              b"RCPT TO:<bar@example.com>\r\nDATA\r\n"
                              % i)
                    batch += stuff(message("par %d %d" % (i, j)))
                c.send(batch)
                for j in (k, k + 1):
                    codes = [x[0] for x in c.replies(4)]
                    assert codes == [250, 250, 250, 354], codes
                    final = c.replies(2)
                    got.append(("par %d %d" % (i, j),
                                [x[0] for x in final],
                                [x[1][0].split("queued as ")[-1]
                                 for x in final]))
            assert c.cmd("QUIT")[0] == 221
            c.close()
            return got

        results = self.run_clients(20, client)
        for r in results:
            self.assertIsInstance(r, list, r)
        answered = {}
        for r in results:
            for subject, codes, ids in r:
                self.assertEqual(codes, [250, 250], subject)
                for entry_id in ids:
                    self.assertNotIn(entry_id, answered)
                    answered[entry_id] = subject
        self.assertEqual(len(answered), 20 * 6 * 2)
        self.assertEqual(self.queued_subjects(), answered)

    def test_client_gone_before_its_replies(self):
        # Clients send their message and go away at once, without reading
        # the final reply: half of them close (FIN: the server has every
        # byte, so the message is queued exactly once), half reset the
        # connection (RST: the kernel may drop what the server had not read
        # yet, so at most once).  A reset that lands while the commit is in
        # flight exercises the session that dies before its replies.  The
        # server goes on serving either way.
        self.site.start()

        def client(i):
            c = self.site.connect()
            assert c.reply()[0] == 220
            c.send(b"LHLO g\r\nMAIL FROM:<g@b.example>\r\n"
                   b"RCPT TO:<foo@example.com>\r\nDATA\r\n")
            assert [x[0] for x in c.replies(4)] == [250, 250, 250, 354]
            if i % 2:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.send(stuff(message("gone %d" % i)))
            c.close()  # before the final reply
            return True

        self.assertEqual(self.run_clients(40, client), [True] * 40)
        closed = sorted("gone %d" % i for i in range(0, 40, 2))
        for _ in range(600):  # bounded: the server finishes on its own
            got = sorted(self.queued_subjects().values())
            if all(x in got for x in closed):
                break
            select.select([], [], [], 0.05)
        got = sorted(self.queued_subjects().values())
        self.assertEqual(len(got), len(set(got)), "queued twice")
        self.assertEqual([x for x in got if x in closed], closed)
        self.assertTrue(all(x.startswith("gone ") for x in got))
        c = self.site.connect()
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO x")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()

    def test_sigterm_answers_what_it_queued(self):
        # SIGTERM while 20 sessions have just sent their final dots: every
        # message that is queued was answered 250 before the 421, and every
        # 250 names a queued entry, so the MTA neither loses nor resends.
        self.site.start()
        clients = []
        for i in range(20):
            c = self.site.connect()
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("LHLO t")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<t@b.example>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<foo@example.com>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            clients.append(c)
        for i, c in enumerate(clients):
            c.send(stuff(message("term %d" % i)))
        self.site.proc.send_signal(signal.SIGTERM)
        answered = {}
        for i, c in enumerate(clients):
            code, lines = c.reply()
            if code == 250:
                answered[lines[0].split("queued as ")[1]] = "term %d" % i
                code, lines = c.reply()
            self.assertEqual(code, 421, lines)
            self.assertTrue(c.at_eof())
            c.close()
        self.assertEqual(self.site.stop(), 0)
        self.assertEqual(self.queued_subjects(), answered)

    def test_queue_failure_is_per_recipient(self):
        # The "in" queue cannot be written (a file where its directory
        # should be): its recipients get 451 (try later), the others 250.
        os.makedirs(os.path.join(self.site.var, "queue"), exist_ok=True)
        with open(os.path.join(self.site.var, "queue", "in"), "w") as f:
            f.write("not a directory\n")
        self.site.start()
        c = self.site.connect()
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO x")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        for rcpt in ("foo@example.com", "foo-request@example.com",
                     "bar@example.com"):
            self.assertEqual(c.cmd("RCPT TO:<%s>" % rcpt)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(stuff(message("partial")))
        final = c.replies(3)
        self.assertEqual([(code, lines[0][:5]) for code, lines in final],
                         [(451, "4.3.0"), (250, "2.0.0"), (451, "4.3.0")])
        # No internal detail reaches the client.
        self.assertNotIn("queue", final[0][1][0].lower())
        self.assertEqual(len(self.site.queue_files("command")), 1)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()

    def test_disk_full_at_mail(self):
        # A size limit beyond any disk makes the free-space reserve
        # (twice the limit) unreachable: MAIL is answered 452 4.3.1.
        self.site.start("--max-size", "1000000000000000")
        c = self.site.connect()
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO x")[0], 250)
        code, lines = c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual((code, lines[0][:5]), (452, "4.3.1"))
        self.assertEqual(c.cmd("RCPT TO:<foo@example.com>")[0], 503)
        c.close()

    def test_database_created_after_start(self):
        # No database yet: the server starts, refuses with 451 (try later),
        # then serves the list once it exists, without a restart.
        site = Site(create=False)
        try:
            site.start()
            c = site.connect()
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("LHLO x")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@b.example>")[0], 250)
            code, lines = c.cmd("RCPT TO:<late@example.com>")
            self.assertEqual((code, lines[0][:5]), (451, "4.3.0"))
            site.create(lists=["late@example.com"])
            code, lines = c.cmd("RCPT TO:<late@example.com>")
            self.assertEqual(code, 250)
            # A list created while the server runs is found at once.
            self.assertEqual(c.cmd("RCPT TO:<later@example.com>")[0], 550)
            site.create(lists=["later@example.com"])
            self.assertEqual(c.cmd("RCPT TO:<later@example.com>")[0], 250)
            c.close()
        finally:
            site.cleanup()

    def test_limits_from_configuration(self):
        site = Site(mta_extra="lmtp_max_message_size: 5000\n"
                              "lmtp_timeout: 1s\n"
                              "lmtp_max_connections: 1\n")
        try:
            site.start()
            if "unknown key [mta] lmtp_" in site.log_text():
                self.skipTest("the configuration schema has no lmtp_* keys")
            c = site.connect()
            self.assertEqual(c.reply()[0], 220)
            extra = site.connect()
            self.assertEqual(extra.reply()[0], 421)
            extra.close()
            code, lines = c.cmd("LHLO x")
            self.assertEqual(lines[-1], "SIZE 5000")
            code, lines = c.reply()  # the idle timeout
            self.assertEqual((code, lines[0][:5]), (421, "4.4.2"))
            c.close()
        finally:
            site.cleanup()

    def test_unix_socket(self):
        path = os.path.join(tempfile.mkdtemp(prefix="lmtp-u-"), "lmtp.sock")
        site = Site(lmtp_host="unix:" + path)
        try:
            site.start()
            c = site.connect()
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("LHLO x")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@b.example>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<foo@example.com>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(stuff(message("unix")))
            self.assertEqual(c.reply()[0], 250)
            c.close()
            self.assertEqual(site.stop(), 0)
            self.assertFalse(os.path.exists(path))
            # A stale socket file left by a crash does not stop a restart.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.close()
            site.start()
            c = site.connect()
            self.assertEqual(c.reply()[0], 220)
            c.close()
        finally:
            site.cleanup()
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)

    def test_ipv6_literal(self):
        try:
            probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            probe.bind(("::1", 0))
            probe.close()
        except OSError:
            self.skipTest("no IPv6 loopback")
        site = Site(lmtp_host="::1")
        try:
            site.start()
            c = site.connect()
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("LHLO x")[0], 250)
            c.close()
        finally:
            site.cleanup()


class TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _emit(self, ok, test, note=""):
        self.n += 1
        print("%s %d - %s%s" % ("ok" if ok else "not ok", self.n, test.id(),
                                note), flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._emit(True, test)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._emit(True, test, " # SKIP " + reason)

    def _fail(self, test, err, kind):
        self._emit(False, test)
        for line in self._exc_info_to_string(err, test).splitlines():
            print("# " + line)
        if getattr(test, "site", None) is not None:
            for line in test.site.log_text().splitlines()[-30:]:
                print("#   log: " + line)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err, "failure")

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err, "error")


def main():
    global TESTD
    if len(sys.argv) < 2:
        sys.exit("usage: test_lmtp_protocol.py PATH/TO/mm-lmtp-testd [-k pattern]")
    TESTD = os.path.abspath(sys.argv[1])
    loader = unittest.TestLoader()
    patterns = [a for a in sys.argv[2:]]
    if patterns:
        loader.testNamePatterns = ["*%s*" % p for p in patterns]
    suite = loader.loadTestsFromModule(sys.modules[__name__])
    print("1..%d" % suite.countTestCases(), flush=True)
    result = TapResult()
    suite.run(result)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
