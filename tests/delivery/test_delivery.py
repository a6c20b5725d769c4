"""Outgoing delivery (issue 5): the out runner against Postfix's smtp-sink
and against a small scripted SMTP server that answers chosen codes per
recipient, speaks STARTTLS / implicit TLS / AUTH, drops connections on cue
and records what it saw.

Messages go straight into the out queue with `mailman inject -q out`; with
no "recipients" in the metadata the out runner takes the list's regular
members (what the pipeline's member-recipients handler computes), so these
tests do not depend on the posting pipeline.  Every wait is bounded.
"""
import base64
import collections
import json
import os
import shutil
import signal
import socket
import socketserver
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mmtest  # noqa: E402

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
OPENSSL = shutil.which("openssl")
LIST = "team@example.com"
BOUNCES = "team-bounces@example.com"

# Runners that would consume what a test inspects are not started; the
# retry runner gets a short sleep so that retries happen within the test.
BASE_CFG = """
[runner.out]
sleep_time: 0.1s

[runner.retry]
sleep_time: 0.2s

[runner.bounces]
start: no

[runner.archive]
start: no

[mta]
smtp_connect_timeout: 5s
smtp_command_timeout: 20s
delivery_retry_backoff: 1s
delivery_retry_backoff_max: 1s
"""

MESSAGE = """\
From: poster@example.com
To: team@example.com
Subject: hello
Message-ID: <{tag}@test.example>

Hello, list.
.A line that starts with a dot.
"""


# ---- queue files --------------------------------------------------------


def read_queue_file(path):
    """(metadata, message bytes) of a queue file (docs/queue-format.md)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(b"MMQ1\n"), path
    pos = 5
    nl = data.index(b"\n", pos)
    meta_len = int(data[pos:nl].split()[1])
    meta = json.loads(data[nl + 1:nl + 1 + meta_len])
    pos = nl + 1 + meta_len + 1
    nl = data.index(b"\n", pos)
    msg_len = int(data[pos:nl].split()[1])
    message = data[nl + 1:nl + 1 + msg_len]
    return meta, message


def entries(site, queue):
    d = site.path("queue", queue)
    if not os.path.isdir(d):
        return []
    return [read_queue_file(os.path.join(d, f)) for f in sorted(os.listdir(d))
            if f.endswith(".pck") or f.endswith(".bak")]


# ---- smtp-sink ------------------------------------------------------------


class Sink:
    """Postfix's smtp-sink on @port, one dump file per accepted message."""

    def __init__(self, port, *extra):
        self.dir = tempfile.mkdtemp(prefix="mm-sink-")
        os.chmod(self.dir, 0o777)  # smtp-sink writes as nobody
        argv = [SMTP_SINK]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        argv += ["-d", os.path.join(self.dir, "msg."), *extra,
                 f"127.0.0.1:{port}", "1000"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.port = port

        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return self.proc.poll() is not None
        mmtest.wait_for(listening, what="smtp-sink to listen")
        if self.proc.poll() is not None:
            raise AssertionError("smtp-sink failed: "
                                 + self.proc.stderr.read().decode())

    def messages(self):
        """Complete dumps: dicts with mail (X-Mail-Args), rcpts, text."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    data = f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                continue  # an aborted transaction, removed meanwhile
            mail, rcpts = None, []
            for line in data.split("\n"):
                if line.startswith("X-Mail-Args: "):
                    mail = line[13:].split()[0].strip("<>")
                elif line.startswith("X-Rcpt-Args: "):
                    rcpts.append(line[13:].split()[0].strip("<>"))
                elif line.startswith("Received: "):
                    break
            body = data.split("\n\t", 2)[-1]
            out.append({"mail": mail, "rcpts": rcpts, "text": data,
                        "body": body})
        return out

    def recipients(self):
        return collections.Counter(r for m in self.messages()
                                   for r in m["rcpts"])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- the scripted server ----------------------------------------------------


class Script:
    """What the scripted server does; the handler keeps its records here."""

    def __init__(self):
        self.ehlo = True           # False: an old server, HELO only
        self.pipelining = True
        self.size = 0              # SIZE to announce; 0: none
        self.eightbitmime = True
        self.starttls = None       # ssl.SSLContext: offer STARTTLS
        self.smtps = None          # ssl.SSLContext: TLS from the start
        self.auth = None           # (user, password)
        self.auth_mechs = "PLAIN LOGIN"
        self.require_auth = False
        self.replies = {}          # rcpt -> [code, code, ...] per attempt
        self.drop_on_rcpt = set()  # close without reply, first time only
        self.stall_on_rcpt = set()  # never answer that RCPT
        self.long_reply_on_rcpt = set()  # answer with a 5,000-byte line
        self.lock = threading.Lock()
        self.attempts = collections.Counter()
        self.sessions = []         # per session: dict
        self.delivered = []        # (mail from, [rcpts], message bytes)

    def reply_for(self, rcpt):
        with self.lock:
            n = self.attempts[rcpt]
            self.attempts[rcpt] += 1
        codes = self.replies.get(rcpt.split("@")[0], [250])
        return codes[min(n, len(codes) - 1)]

    def accepted(self):
        return collections.Counter(r for _, rcpts, _ in self.delivered
                                   for r in rcpts)


class _Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.script = self.server.script
        self.buf = b""
        self.session = {"commands": [], "max_batch": 0, "tls": False,
                        "auth": None, "ehlo": None, "aborted_rcpts": None}
        with self.script.lock:
            self.script.sessions.append(self.session)
        self.sock = self.request
        self.sock.settimeout(30)

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def readline(self, command=True):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("client closed")
            self.buf += chunk
            # How many commands arrived together: pipelining evidence.
            if command:
                self.session["max_batch"] = max(self.session["max_batch"],
                                                self.buf.count(b"\n"))
            if len(self.buf) > 1 << 20:
                raise ConnectionError("line too long")
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def ehlo_lines(self):
        lines = ["scripted.example"]
        if self.script.pipelining:
            lines.append("PIPELINING")
        if self.script.size:
            lines.append(f"SIZE {self.script.size}")
        if self.script.eightbitmime:
            lines.append("8BITMIME")
        if self.script.starttls and not self.session["tls"]:
            lines.append("STARTTLS")
        if self.script.auth:
            lines.append("AUTH " + self.script.auth_mechs)
        return lines

    def handle(self):
        try:
            self.converse()
        except (ConnectionError, OSError, ssl.SSLError):
            pass

    def converse(self):
        s = self.script
        if s.smtps:
            self.sock = s.smtps.wrap_socket(self.sock, server_side=True)
            self.session["tls"] = True
        self.send("220 scripted.example ESMTP")
        mail_from, rcpts = None, []
        while True:
            line = self.readline()
            self.session["commands"].append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO" and not s.ehlo:
                self.send("502 5.5.2 what is EHLO")
            elif verb == "EHLO":
                self.session["ehlo"] = line
                lines = self.ehlo_lines()
                for i, text in enumerate(lines):
                    sep = " " if i == len(lines) - 1 else "-"
                    self.send(f"250{sep}{text}")
            elif verb == "HELO":
                self.send("250 scripted.example")
            elif verb == "STARTTLS" and s.starttls:
                self.send("220 2.0.0 go ahead")
                self.sock = s.starttls.wrap_socket(self.sock,
                                                   server_side=True)
                self.session["tls"] = True
                self.buf = b""
            elif verb == "AUTH" and s.auth:
                self.authenticate(line)
            elif verb == "MAIL":
                if s.require_auth and not self.session["auth"]:
                    self.send("530 5.7.0 authentication required")
                    continue
                mail_from = line[10:].split(">")[0].lstrip("<")
                rcpts = []
                self.send("250 2.1.0 ok")
            elif verb == "RCPT":
                rcpt = line[8:].split(">")[0].lstrip("<")
                if rcpt.split("@")[0] in s.drop_on_rcpt:
                    with s.lock:
                        s.drop_on_rcpt.discard(rcpt.split("@")[0])
                    self.session["aborted_rcpts"] = rcpts + [rcpt]
                    self.sock.close()
                    return
                local = rcpt.split("@")[0]
                if local in s.stall_on_rcpt:
                    self.sock.settimeout(60)
                    while self.sock.recv(4096):
                        pass  # until the client gives up and closes
                    return
                if local in s.long_reply_on_rcpt:
                    self.send("250 " + "x" * 5000)
                    continue
                code = s.reply_for(rcpt)
                if code == 250:
                    rcpts.append(rcpt)
                self.send(f"{code} {code // 100}.0.0 rcpt {rcpt}")
            elif verb == "DATA":
                if not rcpts:
                    self.send("554 5.5.1 no valid recipients")
                    continue
                self.send("354 go on")
                data = []
                while True:
                    l2 = self.readline(command=False)
                    if l2 == ".":
                        break
                    data.append(l2[1:] if l2.startswith(".") else l2)
                with s.lock:
                    s.delivered.append((mail_from, list(rcpts),
                                        "\n".join(data)))
                self.send("250 2.0.0 queued")
                rcpts = []
            elif verb == "RSET":
                rcpts = []
                self.send("250 2.0.0 reset")
            elif verb == "QUIT":
                self.send("221 2.0.0 bye")
                return
            else:
                self.send("502 5.5.2 unknown command")

    def authenticate(self, line):
        user, password = self.script.auth
        parts = line.split()
        mech = parts[1].upper()
        if mech == "PLAIN":
            blob = parts[2] if len(parts) > 2 else None
            if blob is None:
                self.send("334 ")
                blob = self.readline()
            fields = base64.b64decode(blob).split(b"\0")
            ok = fields[1:] == [user.encode(), password.encode()]
        elif mech == "LOGIN":
            self.send("334 VXNlcm5hbWU6")
            got_user = base64.b64decode(self.readline()).decode()
            self.send("334 UGFzc3dvcmQ6")
            got_pass = base64.b64decode(self.readline()).decode()
            ok = (got_user, got_pass) == (user, password)
        else:
            self.send("504 5.5.4 unknown mechanism")
            return
        if ok:
            self.session["auth"] = mech
            self.send("235 2.7.0 authenticated")
        else:
            self.send("535 5.7.8 bad credentials")


class ScriptedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, script):
        self.script = script
        super().__init__(("127.0.0.1", port), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


def make_certificate(directory, san):
    """A self-signed certificate (its own CA) for @san, by openssl req."""
    key = os.path.join(directory, "key.pem")
    cert = os.path.join(directory, "cert.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=mailman test", "-addext",
                    f"subjectAltName={san}"],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return cert, ctx


# ---- the tests ----------------------------------------------------------------


class DeliveryTest(unittest.TestCase):
    members = ["anne@example.com", "bob@example.org", "cris@example.net",
               "dave@example.de", "erin@sub.example.com", "fred@example.edu"]

    def setUp(self):
        self.sink = None
        self.server = None
        self.site = None
        self.tmp = tempfile.mkdtemp(prefix="mm-delivery-test-")

    def tearDown(self):
        if self.site is not None:
            self.site.cleanup()
        if self.sink is not None:
            self.sink.stop()
        if self.server is not None:
            self.server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers

    def make_site(self, extra="", members=None, env=None):
        # The null MTA: no maps to write (delivery is what is tested).
        self.site = mmtest.Site(BASE_CFG + extra, mta="null")
        self.site.run("create", LIST)
        members = self.members if members is None else members
        if members:
            self.site.run("addmembers", "-", LIST,
                          stdin="".join(m + "\n" for m in members))
        self.site.run("start", env=env)
        return self.site

    def start_sink(self, *extra):
        self.sink = Sink(self.site.smtp_port, *extra)
        return self.sink

    def start_server(self, script):
        self.server = ScriptedServer(self.site.smtp_port, script)
        return script

    def inject(self, tag="m1", queue="out", message=None, meta=()):
        args = ["inject", "-q", queue]
        for kv in meta:
            args += ["-m", kv]
        self.site.run(*args, LIST,
                      stdin=message or MESSAGE.format(tag=tag))

    def wait_out_empty(self, timeout=30):
        mmtest.wait_for(lambda: not self.site.queue_files("out")
                        and not self.site.queue_files("out", ".bak"),
                        timeout=timeout, what="the out queue to empty")

    def set_list_column(self, column, value):
        db = sqlite3.connect(self.site.path("data", "mailman.db"),
                             timeout=10)
        with db:
            db.execute(f"UPDATE mailinglist SET {column} = ?", (value,))
        db.close()

    def smtp_log(self):
        return self.site.log("smtp.log")

    # -- bulk, VERP, personalization against smtp-sink

    def test_bulk_chunks_to_sink(self):
        members = [f"user{i}@host{i % 4}.example.{tld}"
                   for i, tld in zip(range(30), ["com", "org", "de"] * 10)]
        self.make_site("[mta]\nmax_recipients: 7\n", members=members)
        sink = self.start_sink()
        self.inject()
        mmtest.wait_for(lambda: sum(sink.recipients().values()) >= 30,
                        what="30 recipients at the sink")
        self.wait_out_empty()
        got = sink.recipients()
        self.assertEqual(sorted(got), sorted(members))
        self.assertEqual(set(got.values()), {1})
        messages = sink.messages()
        self.assertTrue(all(m["mail"] == BOUNCES for m in messages))
        self.assertTrue(all(len(m["rcpts"]) <= 7 for m in messages))
        # Buckets (com 10, org 10, rest 10) each start a chunk: 2 x 3.
        self.assertEqual(len(messages), 6)
        for m in messages:
            self.assertIn("Subject: hello", m["text"])
            self.assertIn("\n.A line that starts with a dot.", m["text"])
        mmtest.wait_for(lambda: "for 30 recips" in self.smtp_log(),
                        what="the every line in smtp.log")

    def test_verp_to_sink(self):
        self.make_site("[mta]\nverp_delivery_interval: 1\n")
        sink = self.start_sink()
        self.inject()
        mmtest.wait_for(lambda: len(sink.messages()) >= len(self.members),
                        what="one message per member")
        self.wait_out_empty()
        messages = sink.messages()
        self.assertEqual(len(messages), len(self.members))
        for m in messages:
            self.assertEqual(len(m["rcpts"]), 1)
            local, domain = m["rcpts"][0].split("@")
            self.assertEqual(m["mail"],
                             f"team-bounces+{local}={domain}@example.com")
        self.assertEqual(sorted(r for m in messages for r in m["rcpts"]),
                         sorted(self.members))

    def test_personalized_to(self):
        self.make_site(members=[])
        self.site.run("addmembers", "-", LIST,
                      stdin="Anne Person <anne@example.com>\n"
                            "bob@example.org\n")
        self.set_list_column("personalize", 2)  # full
        sink = self.start_sink()
        self.inject()
        mmtest.wait_for(lambda: len(sink.messages()) >= 2,
                        what="two personalized copies")
        self.wait_out_empty()
        by_rcpt = {m["rcpts"][0]: m for m in sink.messages()}
        self.assertEqual(set(by_rcpt), {"anne@example.com",
                                        "bob@example.org"})
        self.assertIn("\nTo: Anne Person <anne@example.com>\n",
                      by_rcpt["anne@example.com"]["text"])
        self.assertIn("\nTo: bob@example.org\n",
                      by_rcpt["bob@example.org"]["text"])
        # Personalized but not VERPed (verp_personalized_deliveries: no).
        self.assertTrue(all(m["mail"] == BOUNCES for m in by_rcpt.values()))

    def test_personalized_decoration_per_copy(self):
        # personalize individual: each copy gets the list's header and
        # footer with its own recipient's variables (Mailman's
        # DecoratingDelivery); a notice the server sends (nodecorate)
        # gets none.
        self.make_site(members=[])
        self.site.run("addmembers", "-", LIST,
                      stdin="Anne Person <anne@example.com>\n"
                            "bob@example.org\n")
        self.set_list_column("personalize", 1)  # individual
        tdir = self.site.path("templates", "lists", "team.example.com", "en")
        os.makedirs(tdir)
        with open(os.path.join(tdir, "list:member:regular:footer.txt"),
                  "w") as f:
            f.write("-- \nTo $user_address, $user_name_or_address "
                    "($user_language), member $member\n")
        with open(os.path.join(tdir, "list:member:regular:header.txt"),
                  "w") as f:
            f.write("Hello $user_name_or_address\n")
        sink = self.start_sink()
        self.inject()
        mmtest.wait_for(lambda: len(sink.messages()) >= 2,
                        what="two decorated copies")
        self.wait_out_empty()
        by_rcpt = {m["rcpts"][0]: m["text"] for m in sink.messages()
                   if "<m1@test.example>" in m["text"]}
        self.assertEqual(set(by_rcpt), {"anne@example.com",
                                        "bob@example.org"})
        anne, bob = by_rcpt["anne@example.com"], by_rcpt["bob@example.org"]
        self.assertIn("Hello Anne Person\n", anne)
        self.assertIn("To anne@example.com, Anne Person (English (USA)), "
                      "member Anne Person <anne@example.com>", anne)
        self.assertIn("Hello bob@example.org\n", bob)
        self.assertIn("To bob@example.org, bob@example.org (English (USA)), "
                      "member bob@example.org", bob)
        self.assertNotIn("Anne", bob)
        # The body is there once, between header and footer.
        for text in (anne, bob):
            self.assertEqual(text.count("Subject: hello"), 1)

        # A notice the server writes (here a sample of the welcome text)
        # carries nodecorate: no header, no footer.
        self.site.run("send-notice", "--to", "anne@example.com", LIST,
                      "list:user:notice:welcome")
        mmtest.wait_for(lambda: len(sink.messages()) >= 3,
                        what="the notice at the sink")
        self.wait_out_empty()
        notices = [m["text"] for m in sink.messages()
                   if "<m1@test.example>" not in m["text"]]
        self.assertEqual(len(notices), 1)
        self.assertNotIn("Hello Anne", notices[0])
        self.assertNotIn("-- \nTo ", notices[0])

    def test_duplicate_flag_header(self):
        # add-dup-header comes from the avoid-duplicates handler; here it is
        # a string, which only matters for individual delivery.
        self.make_site("[mta]\nverp_delivery_interval: 1\n",
                       members=["anne@example.com", "bob@example.org"])
        sink = self.start_sink()
        msg = MESSAGE.format(tag="dup").replace(
            "Subject: hello", "Subject: hello\nX-Mailman-Copy: stale")
        self.inject(message=msg)
        mmtest.wait_for(lambda: len(sink.messages()) >= 2, what="two copies")
        for m in sink.messages():
            self.assertNotIn("X-Mailman-Copy: stale", m["text"])

    def test_virgin_goes_out(self):
        self.make_site(members=["anne@example.com"])
        sink = self.start_sink()
        self.inject(queue="virgin", tag="notice")
        mmtest.wait_for(lambda: sink.recipients()["anne@example.com"] == 1,
                        what="the notice at the sink")

    def test_no_recipients(self):
        self.make_site(members=[])
        sink = self.start_sink()
        self.inject(tag="nobody")
        self.wait_out_empty()
        mmtest.wait_for(lambda: "no recipients" in self.smtp_log(),
                        what="the no-recipients line")
        self.assertEqual(sink.messages(), [])

    # -- failures and retries against the scripted server

    def test_mixed_codes_route_exactly(self):
        members = ["ok1@example.com", "ok2@example.org", "soft1@example.com",
                   "soft2@example.net", "hard1@example.com",
                   "hard2@example.de", "ok3@example.com"]
        self.make_site("[runner.retry]\nstart: no\n", members=members)
        script = Script()
        script.replies = {"soft1": [450], "soft2": [451],
                          "hard1": [550], "hard2": [553]}
        self.start_server(script)
        self.inject(tag="mixed")
        self.wait_out_empty()
        self.assertEqual(sorted(script.accepted()),
                         ["ok1@example.com", "ok2@example.org",
                          "ok3@example.com"])
        self.assertEqual(set(script.accepted().values()), {1})
        retry = entries(self.site, "retry")
        self.assertEqual(len(retry), 1)
        meta, _ = retry[0]
        self.assertEqual(sorted(meta["recipients"]),
                         ["soft1@example.com", "soft2@example.net"])
        self.assertEqual(meta["last_recip_count"], 2)
        self.assertIn("deliver_until", meta)
        self.assertIn("deliver_after", meta)
        bounces = entries(self.site, "bounces")
        self.assertEqual(len(bounces), 1)
        bmeta, report = bounces[0]
        self.assertEqual(bmeta["listid"], "team.example.com")
        self.assertTrue(bmeta["smtp"])
        events = {e["email"]: e for e in bmeta["bounce_events"]}
        self.assertEqual(set(events), {"hard1@example.com",
                                       "hard2@example.de"})
        self.assertEqual(events["hard1@example.com"]["code"], 550)
        self.assertEqual(events["hard2@example.de"]["code"], 553)
        self.assertEqual(events["hard1@example.com"]["context"], "normal")
        self.assertIn(b"Subject: SMTP Delivery Failure", report)
        log = self.smtp_log()
        self.assertIn("delivery to hard1@example.com failed with code 550",
                      log)
        self.assertIn("4 failures", log)

    def test_retry_until_delivered(self):
        self.make_site(members=["now@example.com", "later@example.com"])
        script = Script()
        script.replies = {"later": [450, 451, 250]}
        self.start_server(script)
        self.inject(tag="retry")
        mmtest.wait_for(lambda: script.accepted()["later@example.com"] == 1,
                        timeout=30, what="the third attempt to succeed")
        mmtest.wait_for(lambda: not self.site.queue_files("retry"),
                        what="the retry queue to empty")
        self.wait_out_empty()
        self.assertEqual(script.accepted(),
                         collections.Counter({"now@example.com": 1,
                                              "later@example.com": 1}))
        self.assertEqual(script.attempts["later@example.com"], 3)
        self.assertEqual(script.attempts["now@example.com"], 1)

    def test_retry_period_expires_into_bounce(self):
        self.make_site("[mta]\ndelivery_retry_period: 2s\n",
                       members=["ok@example.com", "never@example.com"])
        script = Script()
        script.replies = {"never": [452]}
        self.start_server(script)
        self.inject(tag="expire")

        def bounced():
            return [e for meta, _ in entries(self.site, "bounces")
                    for e in meta["bounce_events"]]
        events = mmtest.wait_for(bounced, timeout=40,
                                 what="a bounce event after the period")
        self.assertEqual([(e["email"], e["code"]) for e in events],
                         [("never@example.com", 452)])
        mmtest.wait_for(lambda: not self.site.queue_files("retry"),
                        what="the retry queue to empty")
        self.assertGreaterEqual(script.attempts["never@example.com"], 2)
        self.assertEqual(script.accepted(),
                         collections.Counter({"ok@example.com": 1}))

    def test_dropped_connection_retries_only_the_unaccepted(self):
        members = [f"m{i}@example.com" for i in range(9)] + ["drop@example.com"]
        self.make_site("[runner.retry]\nstart: no\n"
                       "[mta]\nmax_recipients: 3\nsmtp_max_connections: 1\n",
                       members=members)
        script = Script()
        script.drop_on_rcpt = {"drop"}
        self.start_server(script)
        self.inject(tag="drop")
        self.wait_out_empty()
        aborted = [s["aborted_rcpts"] for s in script.sessions
                   if s["aborted_rcpts"]]
        self.assertEqual(len(aborted), 1)
        retry = entries(self.site, "retry")
        self.assertEqual(len(retry), 1)
        # The aborted transaction's recipients, including the ones it had
        # not reached yet: everything that had no final answer.
        retried = set(retry[0][0]["recipients"])
        self.assertTrue(set(aborted[0]) <= retried)
        delivered = set(script.accepted())
        self.assertEqual(delivered | retried, set(members))
        self.assertEqual(delivered & retried, set())
        self.assertLessEqual(len(retried), 3)
        self.assertEqual(set(script.accepted().values()), {1})
        self.assertIn("low level smtp error", self.smtp_log())

    def test_silent_server_times_out(self):
        self.make_site("[runner.retry]\nstart: no\n"
                       "[mta]\nsmtp_command_timeout: 1s\n"
                       "smtp_max_connections: 1\n",
                       members=["slow@example.com"])
        script = Script()
        script.stall_on_rcpt = {"slow"}
        self.start_server(script)
        self.inject(tag="slow")
        self.wait_out_empty(timeout=30)
        retry = entries(self.site, "retry")
        self.assertEqual([m["recipients"] for m, _ in retry],
                         [["slow@example.com"]])
        self.assertIn("timed out", self.smtp_log())

    def test_overlong_reply_line(self):
        self.make_site("[runner.retry]\nstart: no\n"
                       "[mta]\nsmtp_max_connections: 1\n",
                       members=["long@example.com"])
        script = Script()
        script.long_reply_on_rcpt = {"long"}
        self.start_server(script)
        self.inject(tag="long")
        self.wait_out_empty()
        self.assertEqual(script.delivered, [])
        self.assertEqual(len(entries(self.site, "retry")), 1)
        self.assertIn("reply line is too long", self.smtp_log())

    def test_connection_refused_goes_to_retry(self):
        self.make_site("[runner.retry]\nstart: no\n",
                       members=["anne@example.com", "bob@example.org"])
        self.inject(tag="refused")  # nothing listens on smtp_port
        self.wait_out_empty()
        retry = entries(self.site, "retry")
        self.assertEqual(len(retry), 1)
        self.assertEqual(sorted(retry[0][0]["recipients"]),
                         ["anne@example.com", "bob@example.org"])
        mmtest.wait_for(lambda: "Cannot connect to SMTP server"
                        in self.site.log("mailman.log") + self.site.log(
                            "error.log"), what="the cannot-connect line")

    # -- protocol features

    def test_pipelined_server(self):
        self.make_site(members=self.members)
        script = self.start_server(Script())
        self.inject(tag="pipe")
        self.wait_out_empty()
        self.assertEqual(sorted(script.accepted()), sorted(self.members))
        self.assertGreater(max(s["max_batch"] for s in script.sessions), 2)

    def test_unpipelined_server(self):
        self.make_site("[mta]\nmax_recipients: 4\nsmtp_max_connections: 1\n",
                       members=self.members)
        script = Script()
        script.pipelining = False
        script.replies = {"bob": [550]}
        self.start_server(script)
        self.inject(tag="nopipe")
        self.inject(tag="nopipe2")
        self.wait_out_empty()
        accepted = script.accepted()
        expected = {m: 2 for m in self.members if not m.startswith("bob")}
        self.assertEqual(dict(accepted), expected)
        # One command per read: the client waited for every reply.
        self.assertEqual(max(s["max_batch"] for s in script.sessions), 1)
        # Several transactions on one connection, RSET between them.
        commands = [c.split()[0].upper() for s in script.sessions
                    for c in s["commands"]]
        self.assertIn("RSET", commands)

    def test_helo_only_server(self):
        self.make_site(members=self.members[:3])
        script = Script()
        script.ehlo = False
        self.start_server(script)
        msg = MESSAGE.format(tag="helo").replace("Hello, list.", "Grüße.")
        self.inject(message=msg)
        self.wait_out_empty()
        self.assertEqual(sorted(script.accepted()), sorted(self.members[:3]))
        commands = [c.split()[0].upper() for s in script.sessions
                    for c in s["commands"]]
        self.assertIn("HELO", commands)
        # No extensions: no pipelining, no BODY= parameter.
        self.assertEqual(max(s["max_batch"] for s in script.sessions), 1)
        mails = [c for s in script.sessions for c in s["commands"]
                 if c.upper().startswith("MAIL")]
        self.assertTrue(all("BODY=" not in m for m in mails))

    def test_max_sessions_per_connection(self):
        self.make_site("[mta]\nverp_delivery_interval: 1\n"
                       "max_sessions_per_connection: 2\n"
                       "smtp_max_connections: 1\n", members=self.members)
        script = self.start_server(Script())
        self.inject(tag="sessions")
        self.wait_out_empty()
        self.assertEqual(sorted(script.accepted()), sorted(self.members))
        mails = [sum(1 for c in s["commands"] if c.upper().startswith("MAIL"))
                 for s in script.sessions]
        self.assertEqual(mails, [2, 2, 2])

    def test_eightbit_and_size(self):
        self.make_site(members=["anne@example.com"])
        script = Script()
        script.size = 100000
        self.start_server(script)
        msg = MESSAGE.format(tag="8bit").replace("Hello, list.",
                                                 "Grüße, Liste.")
        self.inject(message=msg)
        self.wait_out_empty()
        mails = [c for s in script.sessions for c in s["commands"]
                 if c.upper().startswith("MAIL")]
        self.assertEqual(len(mails), 1)
        self.assertIn("BODY=8BITMIME", mails[0])
        self.assertIn("SIZE=", mails[0])
        self.assertIn("Grüße", script.delivered[0][2])

    def test_oversized_message_is_not_sent(self):
        self.make_site("[runner.retry]\nstart: no\n",
                       members=["anne@example.com"])
        script = Script()
        script.size = 50
        self.start_server(script)
        self.inject(tag="big")
        self.wait_out_empty()
        self.assertEqual(script.delivered, [])
        events = [e for meta, _ in entries(self.site, "bounces")
                  for e in meta["bounce_events"]]
        self.assertEqual([(e["email"], e["code"]) for e in events],
                         [("anne@example.com", 554)])

    # -- TLS and AUTH

    def tls_site(self, extra, san="IP:127.0.0.1", trust=False):
        cert, ctx = make_certificate(self.tmp, san)
        env = {"SSL_CERT_FILE": cert} if trust else None
        self.make_site(extra, members=["anne@example.com"], env=env)
        return ctx

    def test_starttls_without_verification(self):
        ctx = self.tls_site("[mta]\nsmtp_secure_mode: starttls\n"
                            "smtp_verify_cert: no\n")
        script = Script()
        script.starttls = ctx
        self.start_server(script)
        self.inject(tag="tls")
        self.wait_out_empty()
        self.assertEqual(list(script.accepted()), ["anne@example.com"])
        self.assertTrue(all(s["tls"] for s in script.sessions
                            if s["commands"]))
        # EHLO again after the handshake (RFC 3207 4.2).
        ehlos = [c for c in script.sessions[0]["commands"]
                 if c.upper().startswith("EHLO")]
        self.assertEqual(len(ehlos), 2)

    def test_starttls_verified(self):
        ctx = self.tls_site("[mta]\nsmtp_secure_mode: starttls\n", trust=True)
        script = Script()
        script.starttls = ctx
        self.start_server(script)
        self.inject(tag="tlsok")
        self.wait_out_empty()
        self.assertEqual(list(script.accepted()), ["anne@example.com"])

    def test_untrusted_certificate_refused(self):
        ctx = self.tls_site("[runner.retry]\nstart: no\n"
                            "[mta]\nsmtp_secure_mode: starttls\n")
        script = Script()
        script.starttls = ctx
        self.start_server(script)
        self.inject(tag="tlsbad")
        self.wait_out_empty()
        self.assertEqual(script.delivered, [])
        self.assertEqual(len(entries(self.site, "retry")), 1)
        self.assertIn("certificate", self.smtp_log())

    def test_certificate_for_another_host_refused(self):
        ctx = self.tls_site("[runner.retry]\nstart: no\n"
                            "[mta]\nsmtp_secure_mode: starttls\n",
                            san="DNS:other.example", trust=True)
        script = Script()
        script.starttls = ctx
        self.start_server(script)
        self.inject(tag="tlsname")
        self.wait_out_empty()
        self.assertEqual(script.delivered, [])
        self.assertIn("certificate", self.smtp_log())

    def test_certificate_name_ignored_without_hostname_check(self):
        ctx = self.tls_site("[mta]\nsmtp_secure_mode: starttls\n"
                            "smtp_verify_hostname: no\n",
                            san="DNS:other.example", trust=True)
        script = Script()
        script.starttls = ctx
        self.start_server(script)
        self.inject(tag="tlsnoname")
        self.wait_out_empty()
        self.assertEqual(list(script.accepted()), ["anne@example.com"])

    def test_smtps(self):
        ctx = self.tls_site("[mta]\nsmtp_secure_mode: smtps\n"
                            "smtp_verify_cert: no\n")
        script = Script()
        script.smtps = ctx
        self.start_server(script)
        self.inject(tag="smtps")
        self.wait_out_empty()
        self.assertEqual(list(script.accepted()), ["anne@example.com"])
        self.assertTrue(script.sessions[0]["tls"])

    def test_auth_plain_over_starttls(self):
        ctx = self.tls_site("[mta]\nsmtp_secure_mode: starttls\n"
                            "smtp_verify_cert: no\n"
                            "smtp_user: mailman\nsmtp_pass: s3cret\n")
        script = Script()
        script.starttls = ctx
        script.auth = ("mailman", "s3cret")
        script.require_auth = True
        self.start_server(script)
        self.inject(tag="auth")
        self.wait_out_empty()
        self.assertEqual(list(script.accepted()), ["anne@example.com"])
        self.assertEqual(script.sessions[0]["auth"], "PLAIN")
        self.assertNotIn("s3cret", self.smtp_log())

    def test_auth_not_sent_in_clear(self):
        self.make_site("[runner.retry]\nstart: no\n"
                       "[mta]\nsmtp_user: mailman\nsmtp_pass: s3cret\n",
                       members=["anne@example.com"])
        script = Script()
        script.auth = ("mailman", "s3cret")
        script.require_auth = True
        self.start_server(script)
        self.inject(tag="noauth")
        self.wait_out_empty()
        self.assertEqual(script.delivered, [])
        commands = [c for s in script.sessions for c in s["commands"]]
        self.assertFalse(any(c.upper().startswith("AUTH") for c in commands))
        self.assertIn("plain connection", self.smtp_log())
        self.assertEqual(len(entries(self.site, "retry")), 1)

    def test_auth_login_when_plaintext_allowed(self):
        self.make_site("[mta]\nsmtp_user: mailman\nsmtp_pass: s3cret\n"
                       "smtp_allow_plaintext_auth: yes\n",
                       members=["anne@example.com"])
        script = Script()
        script.auth = ("mailman", "s3cret")
        script.auth_mechs = "LOGIN"
        script.require_auth = True
        self.start_server(script)
        self.inject(tag="login")
        self.wait_out_empty()
        self.assertEqual(list(script.accepted()), ["anne@example.com"])
        self.assertEqual(script.sessions[0]["auth"], "LOGIN")

    # -- crash safety

    def test_kill_mid_fanout_delivers_each_once(self):
        n = 5000
        members = [f"member{i:04d}@host{i % 50}.example.com" for i in range(n)]
        self.make_site("[mta]\nverp_delivery_interval: 1\n", members=members)
        # 1% of DATA commands wait a second: the fan-out takes long enough
        # to be caught in the middle.
        sink = self.start_sink("-W", "data:1:1")
        self.inject(tag="crash")
        mmtest.wait_for(lambda: len(os.listdir(sink.dir)) >= 1000,
                        timeout=120, what="a fifth of the fan-out")
        with open(self.site.path("master.pid")) as f:
            master = int(f.read().strip())
        out_pid = self.find_runner(master, "out")
        os.kill(out_pid, signal.SIGKILL)
        before = len(sink.messages())
        self.assertLess(before, n, "the fan-out ended before the kill")
        # The master restarts the runner, which resumes from the journal.
        mmtest.wait_for(lambda: self.find_runner(master, "out", out_pid),
                        timeout=30, what="the out runner to come back")
        self.assert_resumed_each_once(sink, n)

    def test_stop_mid_fanout_resumes_at_next_start(self):
        # `mailman stop` during a long fan-out: the out runner stops
        # between transactions instead of finishing the whole list, keeps
        # the entry, and the next start sends only to who is left.
        n = 3000
        members = [f"member{i:04d}@host{i % 50}.example.com" for i in range(n)]
        self.make_site("[mta]\nverp_delivery_interval: 1\n", members=members)
        sink = self.start_sink("-W", "data:1:1")
        self.inject(tag="stop")
        mmtest.wait_for(lambda: len(os.listdir(sink.dir)) >= 300,
                        timeout=120, what="a tenth of the fan-out")
        with open(self.site.path("master.pid")) as f:
            master = int(f.read().strip())
        self.site.run("stop")
        mmtest.wait_for(lambda: not os.path.exists(f"/proc/{master}"),
                        timeout=60, what="the master to exit")
        before = len(sink.messages())
        self.assertLess(before, n, "the fan-out ran to its end before "
                                   "stopping")
        self.assertIn("delivery stopped by a stop request", self.smtp_log())
        # The entry waits in out, naming its journal.
        self.assertEqual(len(self.site.queue_files("out")), 1)
        self.site.run("start")
        self.assert_resumed_each_once(sink, n)

    def assert_resumed_each_once(self, sink, n):
        """After an interrupted fan-out: all n recipients reach the sink,
        each exactly once, and the runner said it resumed."""
        mmtest.wait_for(lambda: sum(sink.recipients().values()) >= n,
                        timeout=300, what="every recipient at the sink")
        self.wait_out_empty(timeout=60)
        time.sleep(1)  # anything still in flight would show up now
        got = sink.recipients()
        self.assertEqual(len(got), n)
        twice = [r for r, c in got.items() if c != 1]
        self.assertEqual(twice, [])
        self.assertIn("resuming an interrupted delivery", self.smtp_log())

    @staticmethod
    def find_runner(master, name, not_pid=None):
        out = subprocess.run(["ps", "--ppid", str(master), "-o", "pid=,args="],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            pid, _, args = line.strip().partition(" ")
            if f"--runner={name}" in args and int(pid) != not_pid:
                return int(pid)
        return None


def setUpModule():
    if not os.path.exists(SMTP_SINK):
        raise unittest.SkipTest("smtp-sink (package postfix) is missing")
    if OPENSSL is None:
        raise unittest.SkipTest("openssl is missing")


if __name__ == "__main__":
    mmtest.run_tap()
