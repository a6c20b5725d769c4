#!/usr/bin/env python3
"""LMTP memory under large messages: ours against Debian's Mailman 3.

N clients (default 10) each send one message of S MiB (default 8) over
LMTP at the same time, to one list; the script reports the LMTP process's
peak resident memory (VmHWM) before and after, the wall time, and checks
that every accepted message is queued.  It reports and never asserts.

Usage: bench/lmtp_large.py [--clients N] [--mib S] [--no-mailman3] ...
Sites, configuration and start/stop are those of bench/lmtp_intake.py
(private sites under /var/tmp with only the LMTP runner started).
"""
import argparse
import os
import shutil
import smtplib
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmtp_intake as bench  # noqa: E402


def message(i, size):
    """A text message of about @size bytes, with dot-leading lines."""
    line = b"." + b"x" * 76 + b"\r\n"
    body = line * (size // len(line))
    return (b"From: sender@example.net\r\nTo: " + bench.LIST.encode() +
            b"\r\nSubject: large %d\r\nMessage-ID: <large.%d@example.net>\r\n"
            b"\r\n" % (i, i)) + body


def send_all(port, clients, size):
    """Every client sends its message at once; returns the 250 count."""
    results = [None] * clients
    barrier = threading.Barrier(clients)

    def client(i):
        data = message(i, size)
        try:
            lmtp = smtplib.LMTP("127.0.0.1", port, timeout=600)
            barrier.wait(60)
            refused = lmtp.sendmail("sender@example.net", [bench.LIST], data)
            lmtp.quit()
            results[i] = not refused
        except Exception as e:  # reported below
            results[i] = repr(e)

    threads = [threading.Thread(target=client, args=(i,))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    return results


class Sampler(threading.Thread):
    """Peak RssAnon (heap, stacks: what the process holds) and RssFile
    (mapped file pages, which the kernel can write out and drop) of @pid,
    sampled every 20 ms; VmHWM alone adds the two."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            for key in self.peak:
                kb = bench.proc_status_kb(self.pid, key)
                if kb is not None:
                    self.peak[key] = max(self.peak[key], kb)
            self.done.wait(0.02)


def measure(site, clients, size):
    if not site.start(120):
        return {"error": site.error}
    try:
        before = bench.proc_status_kb(site.lmtp_pid, "VmHWM")
        sampler = Sampler(site.lmtp_pid)
        sampler.start()
        start = time.monotonic()
        results = send_all(site.port, clients, size)
        wall = time.monotonic() - start
        sampler.done.set()
        sampler.join()
        after = bench.proc_status_kb(site.lmtp_pid, "VmHWM")
    finally:
        site.stop()
    counts = site.queue_counts()
    return {"before": before, "after": after, "wall": wall,
            "anon": sampler.peak["RssAnon"], "file": sampler.peak["RssFile"],
            "ok": sum(1 for r in results if r is True),
            "failures": [r for r in results if r is not True],
            "queued": sum(counts.get(q, 0) for q in bench.INTAKE_QUEUES)}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mailman", default=os.path.join(here, "..", "build", "src",
                                                      "cli", "mailman"))
    ap.add_argument("--mailman3", default="/usr/bin/mailman")
    ap.add_argument("--no-mailman3", action="store_true")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--mib", type=int, default=8, help="message size in MiB")
    ap.add_argument("--tmpdir", default="/var/tmp")
    args = ap.parse_args()

    size = args.mib * 1024 * 1024
    print(f"LMTP large messages: {args.clients} clients at once, one "
          f"{args.mib} MiB message each ({args.clients * args.mib} MiB in "
          f"flight), only the LMTP runner started")
    top = tempfile.mkdtemp(prefix="mm-large-", dir=args.tmpdir)
    try:
        sites = [("ours", os.path.realpath(args.mailman), False)]
        if not args.no_mailman3:
            sites.append(("Mailman 3", args.mailman3, True))
        for label, binary, python in sites:
            if not os.access(binary, os.X_OK):
                print(f"{label}: NOT MEASURED: {binary} not found")
                continue
            site = bench.Site(label, binary, os.path.join(top, label.replace(" ", "")),
                              "lmtp", python)
            r = measure(site, args.clients, size)
            if "error" in r:
                print(f"{label}: NOT MEASURED: {r['error']}")
                continue
            print(f"{label}: {r['ok']} of {args.clients} accepted in "
                  f"{r['wall']:.1f} s, {r['queued']} queued; LMTP process: "
                  f"peak RSS (VmHWM) {(r['before'] or 0) / 1024:.1f} MiB "
                  f"before, {(r['after'] or 0) / 1024:.1f} MiB after; during "
                  f"the run, sampled peaks: anonymous "
                  f"{r['anon'] / 1024:.1f} MiB, file-backed "
                  f"{r['file'] / 1024:.1f} MiB")
            for f in r["failures"][:3]:
                print(f"  failure: {f}")
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
