"""Debian's Exim 4 with the router and transport of docs/mta.md.

Exim cannot be installed beside Postfix (both are the system MTA), so the
test runs the exim4 binary from the unpacked exim4-daemon-light package:
$MM_EXIM4_ROOT names a directory where the .deb was unpacked (dpkg -x);
without it the test unpacks one itself with `apt-get download` into a
cache directory.  The binary has the Debian-exim user compiled in and
re-executes /usr/sbin/exim4 to deliver, so each Exim command runs in a
private mount namespace (unshare -m, as root) where /etc/passwd and
/etc/group gain that user and /usr/sbin is the package's: nothing on the
host changes.

Checked with the map files our regeneration writes (exim_lists,
exim_domains): routing of every list address, subaddress and VERP form
(exim -bt), RCPT-time 550 for everything else through the ACL (exim -bh,
a fake SMTP session), and a real delivery over LMTP to a sink standing in
for our LMTP server, with the full recipient address
(rcpt_include_affixes).  Marked NEEDS_SERVER: the same with our server.

SPDX-License-Identifier: GPL-3.0-or-later
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import unittest

from test_postfix_integration import (LmtpSink, NEEDS_SERVER, Site, TOOL,
                                      DELIVERY_TIMEOUT)

CACHE = os.environ.get('MM_EXIM4_CACHE', '/tmp/mm-exim4-deb')

# The router and transport exactly as docs/mta.md gives them; {data},
# {port} are filled in (a site writes its paths and lmtp_port).
EXIM_RECIPE = """\
MM3_DATA = {data}
MM3_LMTP_HOST = 127.0.0.1
MM3_LMTP_PORT = {port}
domainlist mm_domains = lsearch;MM3_DATA/exim_domains
"""

EXIM_ROUTER = """\
mailman3_router:
  driver = accept
  domains = +mm_domains
  condition = ${{lookup{{$local_part@$domain}}lsearch{{MM3_DATA/exim_lists}}{{yes}}{{no}}}}
  local_part_suffix = +*
  local_part_suffix_optional
  transport = mailman3_transport
"""

EXIM_TRANSPORT = """\
mailman3_transport:
  driver = smtp
  protocol = lmtp
  allow_localhost
  hosts = MM3_LMTP_HOST
  port = MM3_LMTP_PORT
  rcpt_include_affixes = true
"""

EXIM_CONF = """\
{recipe}
primary_hostname = mta-test.localdomain
domainlist local_domains = @ : +mm_domains
spool_directory = {root}/spool
log_file_path = {root}/log/%slog
keep_environment =
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  require message = relay not permitted
          domains = +local_domains
  require verify = recipient
  accept

begin routers
{router}
no_such_list:
  driver = redirect
  data = :fail: no such list here
  allow_fail

begin transports
{transport}"""


def find_exim_root():
    """A directory with the unpacked exim4-daemon-light, or None."""
    root = os.environ.get('MM_EXIM4_ROOT')
    if root:
        return root
    binary = os.path.join(CACHE, 'usr', 'sbin', 'exim4')
    if os.path.exists(binary):
        return CACHE
    if not shutil.which('apt-get') or not shutil.which('dpkg'):
        return None
    download = tempfile.mkdtemp(prefix='mm-exim-dl-')
    try:
        subprocess.run(['apt-get', 'download', 'exim4-daemon-light'],
                       cwd=download, check=True, capture_output=True,
                       timeout=300)
        debs = [n for n in os.listdir(download) if n.endswith('.deb')]
        subprocess.run(['dpkg', '-x', os.path.join(download, debs[0]),
                        CACHE], check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, IndexError, OSError):
        return None
    finally:
        shutil.rmtree(download, ignore_errors=True)
    return CACHE if os.path.exists(binary) else None


class TestEximRouter(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or not TOOL or not os.path.exists(TOOL) \
                or not shutil.which('unshare'):
            raise unittest.SkipTest('needs root, unshare and '
                                    '$MM_MTA_TEST_TOOL')
        cls.exim_root = find_exim_root()
        if cls.exim_root is None:
            raise unittest.SkipTest('exim4-daemon-light not available')
        cls.root = tempfile.mkdtemp(prefix='mm-exim-')
        os.chmod(cls.root, 0o755)
        cls.sink = LmtpSink()
        cls.site = Site(cls.root, cls.sink.port,
                        incoming='mailman.mta.exim4.LMTP')
        cls.site.populate()
        cls.site.tool('regenerate')
        # Exim reads the lsearch files as its own user: the site must let
        # it (docs/mta.md); here the directories are simply opened up.
        for d in (cls.site.var, cls.site.data):
            os.chmod(d, 0o755)
        for d in ('spool', 'log'):
            os.makedirs(os.path.join(cls.root, d), mode=0o777)
            os.chmod(os.path.join(cls.root, d), 0o777)
        cls.conf = os.path.join(cls.root, 'exim.conf')
        with open(cls.conf, 'w') as fp:
            fp.write(EXIM_CONF.format(
                recipe=EXIM_RECIPE.format(data=cls.site.data,
                                          port=cls.sink.port),
                router=EXIM_ROUTER.format(), transport=EXIM_TRANSPORT,
                root=cls.root))
        cls.wrapper = cls.make_namespace_wrapper()
        probe = cls.exim('-bV')
        if probe.returncode != 0:
            raise unittest.SkipTest('exim4 does not run here: %s'
                                    % probe.stderr[-500:])

    @classmethod
    def make_namespace_wrapper(cls):
        lines = ['set -e']
        try:
            pwd.getpwnam('Debian-exim')
        except KeyError:
            for name, extra in (('passwd', 'Debian-exim:x:64999:64999::'
                                 '/nonexistent:/usr/sbin/nologin\n'),
                                ('group', 'Debian-exim:x:64999:\n')):
                path = os.path.join(cls.root, name)
                with open('/etc/' + name) as src, open(path, 'w') as dst:
                    dst.write(src.read() + extra)
                lines.append('mount --bind %s /etc/%s' % (path, name))
        lines.append('mount --bind %s/usr/sbin /usr/sbin' % cls.exim_root)
        lines.append('exec /usr/sbin/exim4 -C %s "$@"' % cls.conf)
        path = os.path.join(cls.root, 'exim.sh')
        with open(path, 'w') as fp:
            fp.write('\n'.join(lines) + '\n')
        return path

    @classmethod
    def exim(cls, *args, stdin=None):
        return subprocess.run(['unshare', '-m', 'sh', cls.wrapper]
                              + list(args), input=stdin, capture_output=True,
                              text=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.sink.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def route(self, address):
        result = self.exim('-bt', address)
        return result.stdout + result.stderr

    def test_list_addresses_route_to_lmtp(self):
        for address in ('test@lists.example.com',
                        'test-request@lists.example.com',
                        'test-join@lists.example.com',
                        'test-leave@lists.example.com',
                        'test-owner@lists.example.com',
                        'test-bounces@lists.example.com',
                        'test-bounces+ann=example.net@lists.example.com',
                        'test-confirm+0123abcd@lists.example.com',
                        'test-subscribe@lists.example.com',
                        'test-unsubscribe@lists.example.com',
                        'Test@Lists.Example.COM',
                        'foo-owner@lists.example.com',
                        'foo-owner-request@lists.example.com',
                        'ant@lists.example.net',
                        'third@example.org', 'third-join@x.example.org'):
            self.assertIn('transport = mailman3_transport',
                          self.route(address), address)

    def test_other_addresses_do_not(self):
        for address in ('nobody@lists.example.com',
                        'test-admin@lists.example.com',
                        'test-bounces-x@lists.example.com',
                        'nobody@x.example.org'):
            self.assertIn('is undeliverable', self.route(address), address)

    def test_rcpt_time_refusal(self):
        session = ('EHLO client.example\r\n'
                   'MAIL FROM:<someone@sender.example>\r\n'
                   'RCPT TO:<test-bounces+x=y.example@lists.example.com>\r\n'
                   'RCPT TO:<nobody@lists.example.com>\r\n'
                   'RCPT TO:<someone@elsewhere.example>\r\n'
                   'QUIT\r\n')
        out = self.exim('-bh', '127.0.0.1', stdin=session).stdout
        codes = [line[:3] for line in out.splitlines()
                 if line[:3].isdigit() and line[3:4] == ' ']
        # 220, EHLO, MAIL, then the three RCPTs, then QUIT.
        self.assertEqual(codes[3:6], ['250', '550', '550'], out)

    def test_delivery_over_lmtp(self):
        rcpt = 'test-bounces+ann=example.net@lists.example.com'
        msg = ('From: someone@sender.example\nTo: %s\nSubject: exim\n\n'
               'Hello from Exim.\n' % rcpt)
        # -odf: deliver in the foreground, so the delivery is done (or
        # failed) when the command returns.
        result = self.exim('-odf', '-f', 'someone@sender.example', rcpt,
                           stdin=msg)
        self.assertEqual(result.returncode, 0, result.stderr)
        data = self.sink.wait_for(rcpt, timeout=DELIVERY_TIMEOUT)
        log = ''
        try:
            with open(os.path.join(self.root, 'log', 'mainlog')) as fp:
                log = fp.read()[-3000:]
        except OSError:
            pass
        self.assertIsNotNone(data, log)
        self.assertIn(b'Hello from Exim.', data)

    @unittest.skip(NEEDS_SERVER)
    def test_deliveries_reach_queues(self):
        """The same deliveries land in the in/command/bounces queues."""


if __name__ == '__main__':
    unittest.main()
