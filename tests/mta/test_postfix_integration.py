"""Debian's Postfix in front of the real server, on loopback only.

Each test class starts a private Mailman site with the real `mailman`
binary ($MAILMAN_BIN: `mailman create`, `mailman start`, see mtasite.py)
and a private Postfix (its own config_directory, queue_directory and
data_directory under a temporary directory; smtpd on 127.0.0.1 with a free
port; nothing leaves the machine: default_transport is an error transport).
Postfix is configured as the seed and docs/mta.md tell a site:
recipient_delimiter = +, unknown_local_recipient_reject_code = 550,
owner_request_special = no, transport_maps and local_recipient_maps =
hash:$var_dir/data/postfix_lmtp, plus the documented virtual-domain set-ups
(a relay domain from postfix_domains, a virtual alias domain whose lists
live at an alias_domain), and in the socketmap class the same with live
lookups and no map files at all.  The LMTP class runs our LMTP server on a
Unix socket, with the transport entries that needs.

Mail is sent with smtplib to Postfix's port; Postfix hands it over LMTP to
the site's LMTP runner, which queues it.  Only the LMTP runner moves
anything (mtasite.py), so every message is found exactly where the LMTP
server put it: a post in `in` (and, after one pass of the in and pipeline
runners, in `out`), -request/-join/-leave/-confirm in `command`, -owner in
`in` with to_owner, -bounces and VERP bounces in `bounces`.

Needs root and Debian's postfix; the classes skip themselves otherwise.
Run through meson (`meson test mta-postfix-integration`) or directly:
MAILMAN_BIN=.../mailman python3 tests/mta/test_postfix_integration.py

SPDX-License-Identifier: GPL-3.0-or-later
"""

import os
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest

import mtasite
from mtasite import DELIVERY_TIMEOUT, START_TIMEOUT, SENDER, mmtest

POSTFIX = '/usr/sbin/postfix'
POSTMAP = '/usr/sbin/postmap'

# The seed's "Basic Postfix connections" and "Transport maps", then
# docs/mta.md "Virtual domains", literally (with this site's data dir).
MAP_SETTINGS = """\
# Support the default VERP delimiter.
recipient_delimiter = +
# Unknown local recipients are a permanent failure.
unknown_local_recipient_reject_code = 550
# Do not treat owner- and -request addresses specially.
owner_request_special = no
transport_maps =
    hash:{data}/postfix_lmtp
local_recipient_maps =
    hash:{data}/postfix_lmtp
# Lists in a domain of their own (relay domain).
relay_domains = hash:{data}/postfix_domains
relay_recipient_maps = hash:{data}/postfix_lmtp
# A domain that is also a Postfix virtual alias domain.
virtual_alias_domains = example.org
virtual_alias_maps = hash:{data}/postfix_vmap
"""

# docs/mta.md "Live lookups with socketmap (no map files)".
SOCKETMAP_SETTINGS = """\
recipient_delimiter = +
unknown_local_recipient_reject_code = 550
owner_request_special = no
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

# The lists every class creates (`mailman create` creates their domains).
LISTS = ('test@lists.example.com', 'foo-owner@lists.example.com',
         'ant@lists.example.net', 'third@example.org')


class PostfixInstance:
    def __init__(self, root, maps):
        self.root = root
        self.etc = os.path.join(root, 'postfix-etc')
        self.port = mmtest.free_port()
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
        mmtest.wait_for(lambda: mtasite.port_open(self.port),
                        timeout=START_TIMEOUT,
                        what='postfix on port %d' % self.port)

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
            and os.geteuid() == 0)


class PostfixTestBase(unittest.TestCase):
    """Starts a site, then Postfix, once per class."""

    socketmap = False
    lmtp_socket = None  # a path: the LMTP server listens there

    @classmethod
    def setUpClass(cls):
        if not postfix_available():
            raise unittest.SkipTest('needs root and Debian postfix')
        cls.root = tempfile.mkdtemp(prefix='mm-postfix-')
        # Postfix's daemons run as the postfix user in here.
        os.chmod(cls.root, 0o755)
        cls.site = None
        cls.postfix = None
        try:
            cls.start_site_and_postfix()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def site_config(cls):
        """Extra mailman.cfg text, and the Postfix map settings."""
        etc = os.path.join(cls.root, 'postfix-etc')
        # postmap reads a main.cf: point it at the test's, not /etc/postfix.
        postfix_cfg = os.path.join(cls.root, 'postfix.cfg')
        with open(postfix_cfg, 'w') as fp:
            fp.write('[postfix]\npostmap_command: %s -c %s\n'
                     'transport_file_type: hash\n' % (POSTMAP, etc))
        return '[mta]\nconfiguration: %s\n' % postfix_cfg, 'postfix'

    @classmethod
    def start_site_and_postfix(cls):
        extra, mta = cls.site_config()
        cls.site = mtasite.ListSite(mta, extra_cfg=extra,
                                    lmtp_socket=cls.lmtp_socket)
        # `postmap -c` reads a main.cf before Postfix's own is written.
        etc = os.path.join(cls.root, 'postfix-etc')
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, 'main.cf'), 'w') as fp:
            fp.write('compatibility_level = 3.6\n')
        cls.site.create(*LISTS)
        cls.site.add_member('test@lists.example.com')
        cls.site.set_alias_domain('example.org', 'x.example.org')
        extra_ports = [cls.socketmap_port] if cls.socketmap else []
        cls.site.start(*extra_ports)
        if cls.lmtp_socket is not None:
            # The server creates the socket with Mailman's umask (007); a
            # site lets Postfix's lmtp client (user postfix) in by adding
            # postfix to Mailman's group (docs/mta.md).  Here the socket is
            # simply opened up.
            os.chmod(cls.lmtp_socket, 0o777)
        if cls.socketmap:
            maps = SOCKETMAP_SETTINGS.format(port=cls.socketmap_port)
        else:
            maps = MAP_SETTINGS.format(data=cls.site.data)
        cls.postfix = PostfixInstance(cls.root, maps)
        cls.postfix.start()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, 'postfix', None) is not None:
            cls.postfix.stop()
        if getattr(cls, 'site', None) is not None:
            cls.site.cleanup()
        shutil.rmtree(cls.root, ignore_errors=True)

    # ---- Helpers ---------------------------------------------------------

    def send(self, rcpt, message_id=None, sender=SENDER):
        """Sends one message through Postfix; returns its Message-ID."""
        message_id = message_id or mtasite.new_message_id()
        with smtplib.SMTP('127.0.0.1', self.postfix.port, timeout=60) as smtp:
            refused = smtp.sendmail(
                sender, [rcpt], mtasite.message_text(rcpt, message_id, sender))
        self.assertEqual(refused, {})
        return message_id

    def assert_refused(self, rcpt, code=550):
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as caught:
            self.send(rcpt)
        got = caught.exception.recipients[rcpt][0]
        self.assertEqual(got, code, caught.exception.recipients)

    def assert_queued(self, rcpt, queue, listid):
        """Sends to `rcpt`; returns (metadata, message) of the copy the LMTP
        server queued in `queue` for list `listid`."""
        message_id = self.send(rcpt)
        meta, message = self.site.wait_for_entry(
            queue, message_id, explain=self.postfix.log)
        self.assertEqual(meta.get('listid'), listid, meta)
        # What Mailman 3's LMTP runner adds at intake.
        self.assertIn('X-MailFrom: %s' % SENDER, message)
        self.assertIn('Message-ID-Hash: ', message)
        self.assertIn('X-Message-ID-Hash: ', message)
        return meta, message

    # ---- The seed's set-up: the list domain is Postfix's own -------------

    def test_post_reaches_in_queue(self):
        meta, message = self.assert_queued('test@lists.example.com', 'in',
                                           'test.lists.example.com')
        self.assertTrue(meta.get('to_list'), meta)
        self.assertIn('Hello from the MTA test.', message)
        self.assertIn('original_size', meta)

    def test_post_moves_on_to_out(self):
        # One pass of the in runner, then of the pipeline runner (today a
        # pass-through): the member's post ends in `out`.
        message_id = self.send('test@lists.example.com')
        self.site.wait_for_entry('in', message_id, explain=self.postfix.log)
        self.site.run('runner', '-r', 'in', '--once')
        self.assertIsNotNone(self.site.find('pipeline', message_id),
                             self.site.where(message_id))
        self.site.run('runner', '-r', 'pipeline', '--once')
        meta, message = self.site.wait_for_entry('out', message_id,
                                                 timeout=5)
        self.assertEqual(meta.get('listid'), 'test.lists.example.com')
        self.assertIn('X-MailFrom: %s' % SENDER, message)
        # Gone from where it was, and neither shunted nor bad.  (Other
        # copies, such as the archive's, are the pipeline's business.)
        where = self.site.where(message_id)
        for queue in ('in', 'pipeline', 'shunt', 'bad'):
            self.assertNotIn(queue, where)

    def test_request_join_leave_reach_command(self):
        for sub, canonical in (('request', 'request'), ('join', 'join'),
                               ('leave', 'leave'), ('subscribe', 'join'),
                               ('unsubscribe', 'leave')):
            # (No subTest: mmtest's TAP result reports whole tests.)
            meta, _ = self.assert_queued(
                'test-%s@lists.example.com' % sub, 'command',
                'test.lists.example.com')
            self.assertEqual(meta.get('subaddress'), canonical, (sub, meta))
            self.assertEqual(bool(meta.get('to_request')), sub == 'request',
                             (sub, meta))

    def test_confirm_with_token_reaches_command(self):
        meta, _ = self.assert_queued(
            'test-confirm+0123456789abcdef@lists.example.com', 'command',
            'test.lists.example.com')
        self.assertEqual(meta.get('subaddress'), 'confirm', meta)

    def test_owner_reaches_in_with_to_owner(self):
        meta, _ = self.assert_queued('test-owner@lists.example.com', 'in',
                                     'test.lists.example.com')
        self.assertTrue(meta.get('to_owner'), meta)
        self.assertEqual(meta.get('subaddress'), 'owner', meta)
        self.assertNotIn('to_list', meta)

    def test_bounces_reach_bounces(self):
        meta, _ = self.assert_queued('test-bounces@lists.example.com',
                                     'bounces', 'test.lists.example.com')
        self.assertEqual(meta.get('subaddress'), 'bounces', meta)

    def test_verp_bounce_reaches_bounces(self):
        meta, message = self.assert_queued(
            'test-bounces+user=example.org@lists.example.com', 'bounces',
            'test.lists.example.com')
        self.assertEqual(meta.get('subaddress'), 'bounces', meta)

    def test_list_named_like_a_subaddress(self):
        # foo-owner is a list: its posting address is a post, not the
        # owner of a list "foo" (which does not exist).
        meta, _ = self.assert_queued('foo-owner@lists.example.com', 'in',
                                     'foo-owner.lists.example.com')
        self.assertTrue(meta.get('to_list'), meta)
        meta, _ = self.assert_queued('foo-owner-request@lists.example.com',
                                     'command', 'foo-owner.lists.example.com')

    def test_nonexistent_list_refused_at_rcpt(self):
        self.assert_refused('nobody@lists.example.com')
        self.assert_refused('test-admin@lists.example.com')
        self.assert_refused('test-bounces-x@lists.example.com')

    # ---- Lists in a domain of their own (relay domain) -------------------

    def test_relay_domain(self):
        self.assert_queued('ant@lists.example.net', 'in',
                           'ant.lists.example.net')
        self.assert_queued('ant-bounces+x=y.example@lists.example.net',
                           'bounces', 'ant.lists.example.net')
        self.assert_refused('nobody@lists.example.net')

    # ---- A virtual alias domain whose lists live at an alias_domain -----

    def test_alias_domain(self):
        # example.org is a Postfix virtual alias domain; its lists are
        # rewritten (postfix_vmap or the `virtual` socketmap) to the alias
        # domain x.example.org, routed there to LMTP, and our LMTP server
        # maps the alias domain back to example.org.
        meta, _ = self.assert_queued('third@example.org', 'in',
                                     'third.example.org')
        self.assertTrue(meta.get('to_list'), meta)
        self.assert_queued('third-request@example.org', 'command',
                           'third.example.org')
        self.assert_queued('third-bounces+u=example.net@example.org',
                           'bounces', 'third.example.org')
        self.assert_queued('third@x.example.org', 'in', 'third.example.org')
        self.assert_refused('nobody@example.org')
        self.assert_refused('nobody@x.example.org')

    # ---- A list created while everything runs ---------------------------

    def test_list_created_later(self):
        # `mailman create` regenerates the maps (and runs postmap) itself.
        self.site.create('later@lists.example.com')
        if self.socketmap:
            # Live lookups: the very first message gets through.
            self.assert_queued('later@lists.example.com', 'in',
                               'later.lists.example.com')
            return
        # With hash maps, each Postfix process notices the rebuilt .db only
        # after it finishes its current work: for a few seconds smtpd may
        # still refuse the address (550) or accept it while trivial-rewrite
        # routes it with the old table (locally, where it bounces).
        # Mailman 3 has the same window; docs/mta.md says so and how to
        # close it.  Here: retry, bounded, until one copy is queued.
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        sent = []
        while time.monotonic() < deadline:
            try:
                sent.append(self.send('later@lists.example.com'))
            except smtplib.SMTPRecipientsRefused:
                time.sleep(0.5)
                continue
            waited = time.monotonic() + 3
            while time.monotonic() < waited:
                for message_id in sent:
                    found = self.site.find('in', message_id)
                    if found is not None:
                        self.assertEqual(found[0].get('listid'),
                                         'later.lists.example.com')
                        return
                time.sleep(0.1)
        self.fail('later@lists.example.com never reached the in queue\n%s'
                  % self.postfix.log())


class TestPostfixHashMaps(PostfixTestBase):
    """The seed's configuration: hash maps written by `mailman create`,
    `mailman aliases` and `mailman start`."""

    def test_map_files_are_there(self):
        for name in ('postfix_lmtp', 'postfix_lmtp.db', 'postfix_domains',
                     'postfix_domains.db', 'postfix_vmap', 'postfix_vmap.db'):
            self.assertTrue(os.path.exists(os.path.join(self.site.data, name)),
                            name)
        with open(os.path.join(self.site.data, 'postfix_lmtp')) as fp:
            self.assertIn('lmtp:[127.0.0.1]:%d' % self.site.lmtp_port,
                          fp.read())


class TestPostfixSocketmap(PostfixTestBase):
    """The same deliveries and refusals with live socketmap lookups served
    by the LMTP runner, and no map files at all (Null MTA)."""

    socketmap = True

    @classmethod
    def site_config(cls):
        cls.socketmap_port = mmtest.free_port()
        return ('[mta]\nsocketmap_host: 127.0.0.1\nsocketmap_port: %d\n'
                % cls.socketmap_port, 'null')

    def test_no_map_files(self):
        names = os.listdir(self.site.data)
        self.assertEqual([n for n in names if n.startswith('postfix_')], [])


class TestPostfixLmtpUnixSocket(PostfixTestBase):
    """lmtp_host a Unix socket: postfix_lmtp says lmtp:unix:PATH, and
    Postfix delivers through it (a smaller set of cases)."""

    @classmethod
    def site_config(cls):
        extra, mta = super().site_config()
        cls.lmtp_socket = os.path.join(cls.root, 'lmtp', 'mailman.sock')
        os.makedirs(os.path.dirname(cls.lmtp_socket), mode=0o755)
        return extra + 'lmtp_host: unix:%s\n' % cls.lmtp_socket, mta

    def test_map_routes_to_the_socket(self):
        with open(os.path.join(self.site.data, 'postfix_lmtp')) as fp:
            self.assertIn(' lmtp:unix:%s\n' % self.lmtp_socket, fp.read())

    # The full set runs in the classes above; over a Unix socket, a post,
    # a VERP bounce, the owner and a refusal show the transport works.
    test_request_join_leave_reach_command = None
    test_confirm_with_token_reaches_command = None
    test_bounces_reach_bounces = None
    test_list_named_like_a_subaddress = None
    test_relay_domain = None
    test_alias_domain = None
    test_list_created_later = None
    test_post_moves_on_to_out = None


del PostfixTestBase  # only the concrete classes run

if __name__ == '__main__':
    mmtest.run_tap(__name__)
