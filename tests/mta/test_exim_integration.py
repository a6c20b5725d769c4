"""Debian's Exim 4 with the router and transport of docs/mta.md, in front of
the real server.

Exim cannot be installed beside Postfix (both are the system MTA), so the
test runs the exim4 binary from the unpacked exim4-daemon-light package:
$MM_EXIM4_ROOT names a directory where the .deb was unpacked (dpkg -x);
without it the test unpacks one itself with `apt-get download` into a
cache directory.  The binary has the Debian-exim user compiled in and
re-executes /usr/sbin/exim4 to deliver, so each Exim command runs in a
private mount namespace (unshare -m, as root) where /etc/passwd and
/etc/group gain that user and /usr/sbin is the package's: nothing on the
host changes.

The site is real (mtasite.py): `mailman create` writes exim_lists and
exim_domains, `mailman start` runs our LMTP server.  Checked: routing of
every list address, subaddress and VERP form (exim -bt), RCPT-time 550 for
everything else through the ACL (exim -bh, a fake SMTP session), and real
deliveries over LMTP (exim -odf: delivered in the foreground) that land in
the queues Mailman 3 sends them to: the posting address in `in`, -request
in `command`, -bounces and a VERP bounce in `bounces`, the owner in `in`
with to_owner, and a list address at an alias domain.

SPDX-License-Identifier: GPL-3.0-or-later
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import unittest

import mtasite
from mtasite import SENDER, mmtest

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
        if os.geteuid() != 0 or not shutil.which('unshare'):
            raise unittest.SkipTest('needs root and unshare')
        cls.exim_root = find_exim_root()
        if cls.exim_root is None:
            raise unittest.SkipTest('exim4-daemon-light not available')
        cls.root = tempfile.mkdtemp(prefix='mm-exim-')
        os.chmod(cls.root, 0o755)
        cls.site = None
        try:
            cls.start_site()
            cls.write_exim_config()
        except BaseException:
            cls.tearDownClass()
            raise
        probe = cls.exim('-bV')
        if probe.returncode != 0:
            cls.tearDownClass()
            raise unittest.SkipTest('exim4 does not run here: %s'
                                    % probe.stderr[-500:])

    @classmethod
    def start_site(cls):
        cls.site = mtasite.ListSite('exim4')
        cls.site.create('test@lists.example.com', 'foo-owner@lists.example.com',
                        'ant@lists.example.net', 'third@example.org')
        cls.site.set_alias_domain('example.org', 'x.example.org')
        cls.site.start()
        # Exim reads the lsearch files as its own user, which docs/mta.md
        # tells a site to add to Mailman's group: the wrapper does that
        # (inside its namespace).  The files and directories keep the modes
        # `mailman` gives them; only the test's own directory above the
        # site's var_dir is opened to the group.
        os.chmod(cls.site.root, 0o750)

    @classmethod
    def write_exim_config(cls):
        for d in ('spool', 'log'):
            os.makedirs(os.path.join(cls.root, d), mode=0o777)
            os.chmod(os.path.join(cls.root, d), 0o777)
        cls.conf = os.path.join(cls.root, 'exim.conf')
        with open(cls.conf, 'w') as fp:
            fp.write(EXIM_CONF.format(
                recipe=EXIM_RECIPE.format(data=cls.site.data,
                                          port=cls.site.lmtp_port),
                router=EXIM_ROUTER.format(), transport=EXIM_TRANSPORT,
                root=cls.root))
        cls.wrapper = cls.make_namespace_wrapper()

    @classmethod
    def make_namespace_wrapper(cls):
        """A script that runs exim4 in a private mount namespace where the
        Debian-exim user exists and belongs to the group of Mailman's data
        directory (`adduser Debian-exim list` on a real site)."""
        lines = ['set -e']
        try:
            pwd.getpwnam('Debian-exim')
            passwd_extra = group_extra = ''
        except KeyError:
            passwd_extra = ('Debian-exim:x:64999:64999::/nonexistent:'
                            '/usr/sbin/nologin\n')
            group_extra = 'Debian-exim:x:64999:\n'
        mailman_gid = os.stat(cls.site.data).st_gid
        with open('/etc/group') as fp:
            groups = fp.read().splitlines()
        for i, line in enumerate(groups):
            fields = line.split(':')
            if len(fields) == 4 and fields[2] == str(mailman_gid):
                members = [m for m in fields[3].split(',') if m]
                fields[3] = ','.join(members + ['Debian-exim'])
                groups[i] = ':'.join(fields)
        files = [('group', '\n'.join(groups) + '\n' + group_extra)]
        if passwd_extra:
            with open('/etc/passwd') as fp:
                files.append(('passwd', fp.read() + passwd_extra))
        for name, text in files:
            path = os.path.join(cls.root, name)
            with open(path, 'w') as fp:
                fp.write(text)
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
        if getattr(cls, 'site', None) is not None:
            cls.site.cleanup()
            cls.site = None
        shutil.rmtree(cls.root, ignore_errors=True)

    def mainlog(self):
        try:
            with open(os.path.join(self.root, 'log', 'mainlog')) as fp:
                return fp.read()[-3000:]
        except OSError:
            return '(no mainlog)'

    def route(self, address):
        result = self.exim('-bt', address)
        return result.stdout + result.stderr

    def deliver(self, rcpt, queue, listid):
        """Exim delivers a message to `rcpt` in the foreground (-odf);
        returns (metadata, message) of the copy queued in `queue`."""
        message_id = mtasite.new_message_id()
        result = self.exim('-odf', '-f', SENDER, rcpt,
                           stdin=mtasite.message_text(rcpt, message_id)
                           .replace('\r\n', '\n'))
        self.assertEqual(result.returncode, 0, result.stderr)
        meta, message = self.site.wait_for_entry(queue, message_id,
                                                 explain=self.mainlog)
        self.assertEqual(meta.get('listid'), listid, meta)
        self.assertIn('X-MailFrom: %s' % SENDER, message)
        self.assertIn('Message-ID-Hash: ', message)
        return meta, message

    # ---- Routing and refusal ---------------------------------------------

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

    # ---- Deliveries to the real server -----------------------------------

    def test_post_reaches_in_queue(self):
        meta, message = self.deliver('test@lists.example.com', 'in',
                                     'test.lists.example.com')
        self.assertTrue(meta.get('to_list'), meta)
        self.assertIn('Hello from the MTA test.', message)

    def test_request_reaches_command(self):
        meta, _ = self.deliver('test-request@lists.example.com', 'command',
                               'test.lists.example.com')
        self.assertEqual(meta.get('subaddress'), 'request', meta)
        self.assertTrue(meta.get('to_request'), meta)

    def test_bounces_reach_bounces(self):
        meta, _ = self.deliver('test-bounces@lists.example.com', 'bounces',
                               'test.lists.example.com')
        self.assertEqual(meta.get('subaddress'), 'bounces', meta)

    def test_verp_bounce_reaches_bounces(self):
        # rcpt_include_affixes: our server sees the whole VERP address.
        meta, _ = self.deliver(
            'test-bounces+user=example.org@lists.example.com', 'bounces',
            'test.lists.example.com')
        self.assertEqual(meta.get('subaddress'), 'bounces', meta)

    def test_owner_reaches_in_with_to_owner(self):
        meta, _ = self.deliver('test-owner@lists.example.com', 'in',
                               'test.lists.example.com')
        self.assertTrue(meta.get('to_owner'), meta)

    def test_alias_domain(self):
        meta, _ = self.deliver('third-join@x.example.org', 'command',
                               'third.example.org')
        self.assertEqual(meta.get('subaddress'), 'join', meta)
        self.deliver('third@example.org', 'in', 'third.example.org')


if __name__ == '__main__':
    mmtest.run_tap(__name__)
