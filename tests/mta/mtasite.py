"""A real Mailman site for the MTA tests, and ways to look into its queues.

ListSite wraps tests/mmtest.py's Site: the real `mailman` binary
($MAILMAN_BIN) creates the lists and runs the server (`mailman start`), so
what an MTA delivers goes through our LMTP runner into our queues.

Only the LMTP runner (and the runners that consume nothing we look at) is
started: the runners that would take a message out of in, pipeline, out,
command or bounces are set to `start: no`, so that a delivered message stays
exactly where the LMTP server put it and every check is deterministic.  A
test that wants to see a post move on runs one pass of a runner itself
(`mailman runner -r in --once`), as Mailman 3's own command allows.

Messages are found by their Message-ID (each test sends its own), in .pck
files read with `mailman qfile`.

SPDX-License-Identifier: GPL-3.0-or-later
"""

import json
import os
import socket
import sqlite3
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir))
import mmtest  # noqa: E402  (tests/mmtest.py)

# Generous bounds for a slow machine; never part of an assertion (we wait
# until something happens, then assert).
START_TIMEOUT = 60
DELIVERY_TIMEOUT = 60

# The runners that would move or consume what LMTP queued.
QUIET_RUNNERS = ('in', 'pipeline', 'out', 'command', 'bounces')

SENDER = 'ann@sender.example'


def new_message_id():
    return '<%s@sender.example>' % uuid.uuid4().hex


def message_text(rcpt, message_id, sender=SENDER, subject=None):
    """A small message as a client would send it."""
    return ('From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n'
            '\r\nHello from the MTA test.\r\n'
            % (sender, rcpt, subject or 'test for %s' % rcpt, message_id))


def port_open(port, host='127.0.0.1'):
    try:
        with socket.create_connection((host, port), 2):
            return True
    except OSError:
        return False


class ListSite:
    """A private site run by the real binary, queues kept still."""

    def __init__(self, mta, extra_cfg='', lmtp_socket=None):
        """`lmtp_socket`: the path of the Unix socket `extra_cfg` makes the
        LMTP server listen on, instead of Site's TCP port."""
        quiet = ''.join('[runner.%s]\nstart: no\n\n' % name
                        for name in QUIET_RUNNERS)
        self.site = mmtest.Site(extra_cfg=extra_cfg + '\n' + quiet, mta=mta)
        self.root = self.site.root
        self.data = self.site.path('data')
        self.lmtp_port = self.site.lmtp_port
        self.lmtp_socket = lmtp_socket
        self.started = False

    def run(self, *args, **kwargs):
        return self.site.run(*args, **kwargs)

    def create(self, *fqdns):
        for fqdn in fqdns:
            self.run('create', fqdn)

    def add_member(self, fqdn, address=SENDER):
        self.run('addmembers', '-', fqdn, stdin=address + '\n')

    def set_alias_domain(self, mail_host, alias_domain):
        """Gives a domain an alias domain and regenerates the maps.

        There is no command for it (Mailman 3 sets it through REST or
        Postorius), so the test writes the database column directly, then
        runs `mailman aliases` as docs/mta.md tells a site to after such a
        change."""
        db = sqlite3.connect(os.path.join(self.data, 'mailman.db'),
                             timeout=30)
        try:
            with db:
                changed = db.execute(
                    'UPDATE domain SET alias_domain = ? WHERE mail_host = ?',
                    (alias_domain, mail_host)).rowcount
        finally:
            db.close()
        assert changed == 1, 'no domain %s' % mail_host
        self.run('aliases')

    def start(self, *extra_ports):
        """`mailman start`, then waits until the LMTP runner listens (and
        any other port the configuration makes it open)."""
        self.run('start')
        self.started = True
        if self.lmtp_socket is not None:
            mmtest.wait_for(lambda: os.path.exists(self.lmtp_socket),
                            timeout=START_TIMEOUT, what='the LMTP socket')
            ports = []
        else:
            ports = [self.lmtp_port]
        for port in ports + list(extra_ports):
            mmtest.wait_for(lambda: port_open(port), timeout=START_TIMEOUT,
                            what='port %d of the server' % port)

    def cleanup(self):
        self.site.cleanup()

    def log(self):
        return self.site.log()[-4000:]

    # ---- The queues ---------------------------------------------------

    def qfile(self, path):
        """(metadata dict, message text) of a queue file, via `mailman
        qfile`; None when the file went away meanwhile (a running runner,
        such as archive, took it)."""
        result = self.run('qfile', path, check=False)
        if result.returncode != 0:
            if not os.path.exists(path):
                return None
            raise AssertionError('mailman qfile %s: %s'
                                 % (path, result.stderr))
        out = result.stdout
        head, _, rest = out.partition('\n[----- message (')
        assert head.startswith('[----- metadata -----]\n'), out[:200]
        meta = json.loads(head[len('[----- metadata -----]\n'):])
        message = rest.split(' bytes) -----]\n', 1)[1]
        return meta, message

    def find(self, queue, message_id):
        """(metadata, message) of the entry of `queue` with `message_id`,
        or None.  Files are matched on their raw bytes first, so that
        `mailman qfile` runs only for the right one."""
        needle = message_id.encode('ascii')
        for name in self.site.queue_files(queue):
            path = self.site.path('queue', queue, name)
            try:
                with open(path, 'rb') as fp:
                    if needle not in fp.read():
                        continue
            except FileNotFoundError:
                continue
            found = self.qfile(path)
            if found is not None:
                return found
        return None

    def where(self, message_id):
        """Every queue holding an entry with `message_id`."""
        queue_dir = self.site.path('queue')
        names = sorted(os.listdir(queue_dir)) if os.path.isdir(queue_dir) \
            else []
        return [q for q in names if self.find(q, message_id) is not None]

    def wait_for_entry(self, queue, message_id, timeout=DELIVERY_TIMEOUT,
                       explain=lambda: ''):
        """Waits until `message_id` is queued in `queue`; returns (metadata,
        message).  On a timeout, fails naming the queues it is in, if any,
        plus `explain()` (for instance the MTA's log)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(queue, message_id)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    '%s not in queue %s after %ds (found in: %s)\n%s\n%s'
                    % (message_id, queue, timeout,
                       self.where(message_id) or 'no queue', explain(),
                       self.log()))
            time.sleep(0.1)
