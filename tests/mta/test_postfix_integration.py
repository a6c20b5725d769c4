"""Debian's Postfix in front of our MTA hook-up, on loopback only.

Each test class starts a private Postfix (its own config_directory,
queue_directory and data_directory under a temporary directory; the master
listens on 127.0.0.1 with a free non-25 port; nothing is relayed anywhere:
default_transport is an error transport).  Postfix is configured as
docs/mta.md tells a site, with the settings of the seed's "Basic Postfix
connections" and "Transport maps" sections, plus the virtual-domain set-ups
and, in the last class, the socketmap variant with no map files at all.

What works today, with the map files alone: Postfix accepts exactly the
list addresses (550 at RCPT time for everything else) and hands them to
the LMTP address written in postfix_lmtp.  A small LMTP sink in this file
stands in for our LMTP server and records what Postfix delivers, so the
routing (which recipient, with which extension, after which virtual
rewriting) is checked end to end.

What needs the real server (marked NEEDS_SERVER, skipped until then): that
a delivered post lands in the list's `in` queue, -request/-join/-leave in
`command`, -bounces and VERP bounces in `bounces`; and that `mailman
create` regenerates by itself.  Until the `mailman` command exists,
lists are created and maps regenerated with src/mta/mta-test-tool (path in
$MM_MTA_TEST_TOOL, which meson sets).

Run: python3 -m unittest tests/mta/test_postfix_integration.py (as root,
with Debian's postfix installed; skipped otherwise).

SPDX-License-Identifier: GPL-3.0-or-later
"""

import os
import shutil
import smtplib
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import unittest

POSTFIX = '/usr/sbin/postfix'
POSTMAP = '/usr/sbin/postmap'
TOOL = os.environ.get('MM_MTA_TEST_TOOL', '')
NEEDS_SERVER = 'needs the real LMTP server and the mailman CLI'

# Bounds for every wait below: generous for a slow CI machine, and never
# part of an assertion (we wait until something happens, then assert).
START_TIMEOUT = 60
DELIVERY_TIMEOUT = 60

MAP_SETTINGS = """\
# The seed's "Basic Postfix connections".
recipient_delimiter = +
unknown_local_recipient_reject_code = 550
owner_request_special = no
# The seed's "Transport maps" (hash tables built by postmap).
transport_maps = hash:{data}/postfix_lmtp
local_recipient_maps = hash:{data}/postfix_lmtp
# docs/mta.md "Lists in a domain of their own" (relay domain).
relay_domains = hash:{data}/postfix_domains
relay_recipient_maps = hash:{data}/postfix_lmtp
# docs/mta.md "A domain with an alias domain" (virtual alias domain).
virtual_alias_domains = example.org
virtual_alias_maps = hash:{data}/postfix_vmap
"""

SOCKETMAP_SETTINGS = """\
recipient_delimiter = +
unknown_local_recipient_reject_code = 550
owner_request_special = no
# docs/mta.md "Live lookups with socketmap": no map files at all.
transport_maps = socketmap:inet:127.0.0.1:{port}:transport
local_recipient_maps = socketmap:inet:127.0.0.1:{port}:recipients
relay_domains = socketmap:inet:127.0.0.1:{port}:domains
relay_recipient_maps = socketmap:inet:127.0.0.1:{port}:recipients
virtual_alias_domains = example.org
virtual_alias_maps = socketmap:inet:127.0.0.1:{port}:virtual
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/pdata
mail_owner = postfix
setgid_group = postdrop
myhostname = mta-test.localdomain
mydomain = localdomain
myorigin = $myhostname
mydestination = $myhostname, lists.example.com
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
# Nothing leaves this machine: whatever is not routed to LMTP bounces.
default_transport = error:no delivery outside the test
relay_transport = error:no delivery outside the test
disable_dns_lookups = yes
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
biff = no
{maps}"""

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class LmtpSink(socketserver.ThreadingTCPServer):
    """An LMTP server that accepts every recipient and records deliveries.

    A stand-in for our LMTP runner: it answers LHLO/MAIL/RCPT/DATA as RFC
    2033 asks (one reply per recipient after the dot) and stores
    (recipients, message bytes) per transaction.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.deliveries = []
        self.lock = threading.Lock()
        super().__init__(('127.0.0.1', 0), LmtpHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server_address[1]

    def stop(self):
        self.shutdown()
        self.server_close()

    def wait_for(self, recipient, timeout=DELIVERY_TIMEOUT):
        """The first delivery to `recipient` (exact, lower-case), or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for rcpts, data in self.deliveries:
                    if recipient in rcpts:
                        return data
            time.sleep(0.1)
        return None


class LmtpHandler(socketserver.StreamRequestHandler):
    timeout = 120

    def reply(self, line):
        self.wfile.write(line.encode('ascii') + b'\r\n')
        self.wfile.flush()

    def handle(self):
        self.reply('220 sink LMTP')
        rcpts = []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b'LHLO':
                self.reply('250-sink')
                self.reply('250-PIPELINING')
                self.reply('250 ENHANCEDSTATUSCODES')
            elif verb == b'MAIL':
                rcpts = []
                self.reply('250 2.1.0 Ok')
            elif verb == b'RCPT':
                addr = line.split(b':', 1)[1].strip().split(b' ')[0]
                rcpts.append(addr.strip(b'<>').decode().lower())
                self.reply('250 2.1.5 Ok')
            elif verb == b'DATA':
                self.reply('354 go ahead')
                chunks = []
                while True:
                    data = self.rfile.readline(1 << 20)
                    if not data or data == b'.\r\n':
                        break
                    chunks.append(data)
                with self.server.lock:
                    self.server.deliveries.append((list(rcpts), b''.join(chunks)))
                for _ in rcpts:
                    self.reply('250 2.0.0 queued')
            elif verb == b'RSET' or verb == b'NOOP':
                self.reply('250 2.0.0 Ok')
            elif verb == b'QUIT':
                self.reply('221 2.0.0 Bye')
                return
            else:
                self.reply('500 5.5.2 what?')


class Site:
    """A Mailman configuration and database driven by mta-test-tool."""

    def __init__(self, root, lmtp_port,
                 incoming='mailman.mta.postfix.LMTP'):
        self.root = root
        self.var = os.path.join(root, 'var')
        self.data = os.path.join(self.var, 'data')
        self.cfg = os.path.join(root, 'mailman.cfg')
        with open(os.path.join(root, 'postfix.cfg'), 'w') as fp:
            fp.write('[postfix]\npostmap_command: %s -c %s\n'
                     'transport_file_type: hash\n'
                     % (POSTMAP, os.path.join(root, 'postfix-etc')))
        with open(self.cfg, 'w') as fp:
            fp.write('[mailman]\nlayout: testing\n\n'
                     '[paths.testing]\nvar_dir: %s\n\n'
                     '[database]\nurl: sqlite:///%s/mailman.db\n\n'
                     '[mta]\nincoming: %s\n'
                     'lmtp_host: 127.0.0.1\nlmtp_port: %d\n'
                     'configuration: %s/postfix.cfg\n'
                     % (self.var, self.data, incoming, lmtp_port, root))

    def tool(self, *args):
        # NEEDS_SERVER: becomes `mailman create` / `mailman aliases`.
        result = subprocess.run([TOOL, self.cfg] + list(args),
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise AssertionError('mta-test-tool %s: %s'
                                 % (' '.join(args), result.stderr))

    def populate(self):
        self.tool('domain', 'lists.example.com')
        self.tool('domain', 'lists.example.net')
        self.tool('domain', 'example.org', 'x.example.org')
        for fqdn in ('test@lists.example.com', 'foo@lists.example.com',
                     'foo-owner@lists.example.com', 'ant@lists.example.net',
                     'third@example.org'):
            self.tool('list', fqdn)


class PostfixInstance:
    def __init__(self, root, maps):
        self.root = root
        self.etc = os.path.join(root, 'postfix-etc')
        self.port = free_port()
        os.makedirs(self.etc, exist_ok=True)
        with open(os.path.join(self.etc, 'main.cf'), 'w') as fp:
            fp.write(MAIN_CF.format(root=root, maps=maps))
        with open(os.path.join(self.etc, 'master.cf'), 'w') as fp:
            fp.write(MASTER_CF.format(port=self.port))
        self.started = False

    def postfix(self, *args, check=True):
        return subprocess.run([POSTFIX, '-c', self.etc] + list(args),
                              capture_output=True, text=True, timeout=120,
                              check=check)

    def start(self):
        # The queue directory must exist; `postfix check` then creates its
        # subdirectories and the data directory with the right owners.
        os.makedirs(os.path.join(self.root, 'queue'), mode=0o755,
                    exist_ok=True)
        result = self.postfix('check', check=False)
        if result.returncode == 0:
            result = self.postfix('start', check=False)
        if result.returncode != 0:
            raise AssertionError('postfix check/start failed: %s%s\n%s'
                                 % (result.stdout, result.stderr, self.log()))
        self.started = True
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(('127.0.0.1', self.port), 2):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError('postfix did not listen on %d:\n%s'
                             % (self.port, self.log()))

    def stop(self):
        if self.started:
            if self.postfix('stop', check=False).returncode != 0:
                self.postfix('abort', check=False)
            self.started = False

    def log(self):
        try:
            with open(os.path.join(self.root, 'maillog')) as fp:
                return fp.read()[-5000:]
        except OSError:
            return '(no maillog)'


def postfix_available():
    return (os.path.exists(POSTFIX) and os.path.exists(POSTMAP)
            and os.geteuid() == 0 and TOOL and os.path.exists(TOOL))


class PostfixTestBase(unittest.TestCase):
    """Starts the sink, the site and Postfix once per class."""

    settings = MAP_SETTINGS
    socketmap = False

    @classmethod
    def setUpClass(cls):
        if not postfix_available():
            raise unittest.SkipTest('needs root, Debian postfix and '
                                    '$MM_MTA_TEST_TOOL')
        cls.root = tempfile.mkdtemp(prefix='mm-postfix-')
        # Postfix's daemons run as the postfix user and read our maps.
        os.chmod(cls.root, 0o755)
        cls.sink = LmtpSink()
        cls.site = Site(cls.root, cls.sink.port)
        cls.site.populate()
        cls.socketmap_proc = None
        if cls.socketmap:
            port = free_port()
            cls.socketmap_proc = subprocess.Popen(
                [TOOL, cls.site.cfg, 'socketmap', '127.0.0.1', str(port)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            ready = cls.socketmap_proc.stdout.readline()
            assert ready.startswith('ready'), ready
            maps = cls.settings.format(port=port)
        else:
            os.makedirs(os.path.join(cls.root, 'postfix-etc'), exist_ok=True)
            with open(os.path.join(cls.root, 'postfix-etc', 'main.cf'),
                      'w') as fp:
                fp.write('compatibility_level = 3.6\n')  # for postmap -c
            cls.site.tool('regenerate')
            maps = cls.settings.format(data=cls.site.data)
        cls.postfix = PostfixInstance(cls.root, maps)
        try:
            cls.postfix.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.postfix.stop() if hasattr(cls, 'postfix') else None
        if cls.socketmap_proc is not None:
            cls.socketmap_proc.stdin.close()
            try:
                cls.socketmap_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cls.socketmap_proc.kill()
                cls.socketmap_proc.wait()
        cls.sink.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def send(self, rcpt, sender='someone@sender.example'):
        """Sends one message; returns smtplib's refusal dict (empty = ok)."""
        msg = ('From: %s\r\nTo: %s\r\nSubject: test %s\r\n'
               'Message-ID: <%s.%f@sender.example>\r\n\r\nHello.\r\n'
               % (sender, rcpt, rcpt, rcpt.replace('@', '.'), time.time()))
        with smtplib.SMTP('127.0.0.1', self.postfix.port, timeout=60) as smtp:
            return smtp.sendmail(sender, [rcpt], msg)

    def assert_refused(self, rcpt, code=550):
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as caught:
            self.send(rcpt)
        got = caught.exception.recipients[rcpt][0]
        self.assertEqual(got, code, caught.exception.recipients)

    def assert_delivered(self, rcpt, lmtp_rcpt=None):
        self.assertEqual(self.send(rcpt), {})
        data = self.sink.wait_for((lmtp_rcpt or rcpt).lower())
        self.assertIsNotNone(data, 'not delivered to LMTP: %s\n%s'
                             % (rcpt, self.postfix.log()))
        return data

    # ---- Local list domain (mydestination): the seed's set-up ----------

    def test_post_reaches_lmtp(self):
        data = self.assert_delivered('test@lists.example.com')
        self.assertIn(b'Hello.', data)

    def test_subaddresses_reach_lmtp(self):
        for sub in ('request', 'join', 'leave', 'owner', 'bounces',
                    'confirm', 'subscribe', 'unsubscribe'):
            self.assert_delivered('test-%s@lists.example.com' % sub)

    def test_verp_forms_reach_lmtp(self):
        # Postfix keeps the extension in the recipient it hands over.
        self.assert_delivered(
            'test-bounces+ann=example.net@lists.example.com')
        self.assert_delivered('test-confirm+0123456789abcdef@lists.example.com')

    def test_list_named_like_a_subaddress(self):
        self.assert_delivered('foo-owner@lists.example.com')
        self.assert_delivered('foo-owner-request@lists.example.com')

    def test_non_list_refused_at_rcpt(self):
        self.assert_refused('nobody@lists.example.com')
        self.assert_refused('test-admin@lists.example.com')
        self.assert_refused('test-bounces-x@lists.example.com')

    # ---- Relay domain (not in mydestination) ----------------------------

    def test_relay_domain(self):
        self.assert_delivered('ant@lists.example.net')
        self.assert_delivered('ant-bounces+x=y.example@lists.example.net')
        self.assert_refused('nobody@lists.example.net')

    # ---- Domain with an alias domain (virtual alias domain) --------------

    def test_alias_domain(self):
        # Addresses at the mail_host are rewritten by postfix_vmap to the
        # alias domain, which postfix_lmtp routes; our LMTP server maps
        # the alias domain back to the mail_host.
        self.assert_delivered('third@example.org', 'third@x.example.org')
        self.assert_delivered('third-request@example.org',
                              'third-request@x.example.org')
        self.assert_delivered('third@x.example.org')
        self.assert_refused('nobody@example.org')
        self.assert_refused('nobody@x.example.org')

    # ---- Lists created while Postfix runs -------------------------------

    def test_list_created_later(self):
        self.site.tool('list', 'later@lists.example.com')
        if not self.socketmap:
            # NEEDS_SERVER: `mailman create` regenerates by itself.
            self.site.tool('regenerate')
        if self.socketmap:
            # Live lookups: the very first message gets through.
            self.assert_delivered('later@lists.example.com')
            return
        # With hash maps, each Postfix process notices the rebuilt .db only
        # after it finishes its current work: for some seconds smtpd may
        # already accept the address while trivial-rewrite still routes it
        # with the old table (locally, where it bounces).  Mailman 3 has
        # the same window; docs/mta.md says so and how to close it.  Here:
        # retry, bounded, until a copy reaches LMTP, then assert.
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        data = None
        while data is None and time.monotonic() < deadline:
            try:
                self.send('later@lists.example.com')
            except smtplib.SMTPRecipientsRefused:
                time.sleep(0.5)
                continue
            data = self.sink.wait_for('later@lists.example.com', timeout=3)
        self.assertIsNotNone(data, self.postfix.log())

    # ---- With the real server -------------------------------------------

    @unittest.skip(NEEDS_SERVER)
    def test_post_reaches_in_queue(self):
        """A post sent to Postfix is found in the list's `in` queue."""

    @unittest.skip(NEEDS_SERVER)
    def test_subaddresses_reach_their_queues(self):
        """-request/-join/-leave: command; -owner: in; -bounces and VERP
        bounces: bounces."""

    @unittest.skip(NEEDS_SERVER)
    def test_mailman_create_regenerates(self):
        """`mailman create` makes the new list reachable with no manual
        step."""


class TestPostfixHashMaps(PostfixTestBase):
    """The seed's configuration with hash maps from postfix_lmtp et al."""

    def test_files_are_there(self):
        for name in ('postfix_lmtp', 'postfix_lmtp.db', 'postfix_domains',
                     'postfix_domains.db', 'postfix_vmap', 'postfix_vmap.db'):
            self.assertTrue(os.path.exists(os.path.join(self.site.data, name)),
                            name)


class TestPostfixSocketmap(PostfixTestBase):
    """The same deliveries and refusals with live socketmap lookups."""

    settings = SOCKETMAP_SETTINGS
    socketmap = True

    def test_no_map_files(self):
        names = os.listdir(self.site.data) if os.path.isdir(self.site.data) \
            else []
        self.assertEqual([n for n in names if n.startswith('postfix_')], [])


del PostfixTestBase  # only the concrete classes run

if __name__ == '__main__':
    unittest.main()
