#!/usr/bin/env python3
"""Fan-out benchmark: one post through LMTP to a list of N members, timed
until Postfix's smtp-sink has received every copy, for bulk and for VERP
delivery; our server against Debian's GNU Mailman 3, and both against the
physical ceiling (smtp-source straight into smtp-sink with the same
message).  Reports, never asserts.

Per run it prints the seconds from the LMTP 250 to the sink's last
message, the CPU seconds that all server processes (master and runners)
spent meanwhile, and the sum of their peak resident memory (VmHWM).  The
sink counts messages (`smtp-sink -c`): in VERP mode one per member; in bulk
mode every member is in the .com bucket, so both servers send
ceil(N / max_recipients) messages (Mailman's chunking, which ours keeps).
In personalized mode (the list's personalize set to individual, through
`mailman shell` for Mailman 3 and the database for ours, which has no
command for list settings) each member gets a copy of its own with the
list's default footer expanded for that member: one per member.

Each server gets a private site in a temporary directory: NullMTA, LMTP
and the sink on free ports of 127.0.0.1, SQLite, default runners, the same
[mta] settings.  The post comes from a member, so that both servers accept
it without moderation.

Standard library only.  bench/fanout.sh installs what it needs; `--help`
lists the parameters.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import argparse
import math
import os
import re
import shutil
import signal
import sqlite3
import socket
import subprocess
import sys
import tempfile
import time

LIST = "fanout@example.com"
MAX_RECIPIENTS = 500


def log(*args):
    print("#", *args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def members(n):
    return [f"member{i:05d}@host{i % 97}.example.com" for i in range(n)]


def message(sender):
    body = "".join(f"Line {i} of a post of ordinary size, for the fan-out "
                   f"benchmark.\n" for i in range(40))
    return (f"From: {sender}\nTo: {LIST}\nSubject: fan-out benchmark\n"
            f"Message-ID: <{time.time_ns()}.fanout@example.com>\n"
            f"Date: Mon, 01 Jan 2024 00:00:00 +0000\n\n{body}")


# ---- processes --------------------------------------------------------------


def children(ppid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            out.append(int(name))
    return out


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pss_kb(pid):
    """Proportional set size: shared pages split among their users, so a
    sum over processes counts each page once."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


# ---- the sink -----------------------------------------------------------------


class Sink:
    """smtp-sink counting messages (-c), its counter line in a file."""

    def __init__(self, port):
        self.port = port
        self.out = tempfile.NamedTemporaryFile(prefix="fanout-sink-",
                                               delete=False)
        argv = ["smtp-sink", "-c"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        argv += [f"127.0.0.1:{port}", "1000"]
        self.proc = subprocess.Popen(argv, stdout=self.out,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def messages(self):
        with open(self.out.name, "rb") as f:
            f.seek(max(0, os.path.getsize(self.out.name) - 200))
            tail = f.read().decode("ascii", "replace")
        found = re.findall(r"mesg=(\d+)", tail)
        return int(found[-1]) if found else 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        os.unlink(self.out.name)


# ---- a server's site --------------------------------------------------------------


class Server:
    def __init__(self, label, binary, root, python):
        self.label, self.binary, self.root = label, binary, root
        self.python = python
        self.var = os.path.join(root, "var")
        self.cfg = os.path.join(root, "mailman.cfg")
        os.makedirs(root, exist_ok=True)

    def configure(self, lmtp_port, smtp_port, verp, sleep_time):
        paths = f"var_dir: {self.var}\n"
        extra = ""
        if self.python:
            # Mailman finds `master` and `runner` in bin_dir.
            paths += (f"bin_dir: "
                      f"{os.path.dirname(os.path.realpath(self.binary))}\n")
            extra = f"\n[webservice]\nhostname: 127.0.0.1\nport: {free_port()}\n"
        self.lmtp_port = lmtp_port
        with open(self.cfg, "w", encoding="utf-8") as f:
            f.write(f"""# Written by bench/fanout.py.
[mailman]
layout: bench
site_owner: admin@example.com

[paths.bench]
{paths}
[mta]
incoming: mailman.mta.null.NullMTA
outgoing: mailman.mta.deliver.deliver
lmtp_host: 127.0.0.1
lmtp_port: {lmtp_port}
smtp_host: 127.0.0.1
smtp_port: {smtp_port}
max_recipients: {MAX_RECIPIENTS}
verp_delivery_interval: {1 if verp else 0}

[runner.in]
sleep_time: {sleep_time}

[runner.pipeline]
sleep_time: {sleep_time}

[runner.out]
sleep_time: {sleep_time}
{extra}""")

    def personalize(self):
        """Sets the list's personalize to individual (Mailman's value 1)."""
        if self.python:
            with open(os.path.join(self.root, "mm_bench_personalize.py"), "w",
                      encoding="utf-8") as f:
                f.write("from mailman.interfaces.mailinglist import "
                        "Personalization\n\n"
                        "def personalize(mlist):\n"
                        "    mlist.personalize = Personalization.individual\n")
            self.run("shell", "-l", LIST, "-r",
                     "mm_bench_personalize.personalize",
                     env=dict(os.environ, PYTHONPATH=self.root))
        else:
            db = sqlite3.connect(os.path.join(self.var, "data", "mailman.db"),
                                 timeout=30)
            with db:
                db.execute("UPDATE mailinglist SET personalize = 1")
            db.close()

    def run(self, *args, timeout=1800, env=None):
        argv = [self.binary, "-C", self.cfg]
        if os.geteuid() == 0:
            argv.append("--run-as-root")
        argv += list(args)
        # Files, not pipes: `mailman start` leaves a daemon holding them.
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=timeout,
                                  cwd=self.root, env=env)
            out.seek(0)
            proc.stdout = out.read()
        if proc.returncode != 0:
            raise RuntimeError(f"{self.label}: mailman {' '.join(args)} "
                               f"exited {proc.returncode}: "
                               f"{proc.stdout.strip()[-1500:]}")
        return proc

    def setup(self, roster):
        self.run("create", LIST)
        path = os.path.join(self.root, "members.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(m + "\n" for m in roster)
        # -W: no welcome messages, which would reach the sink too.
        self.run("addmembers", "-W", path, LIST)

    def start(self):
        self.run("start")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.lmtp_port),
                                              2) as s:
                    if s.recv(512).startswith(b"220"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.label}: no LMTP greeting")

    def pids(self):
        try:
            with open(os.path.join(self.var, "master.pid"),
                      encoding="utf-8") as f:
                master = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [master] + children(master)

    def stop(self):
        pids = self.pids()
        try:
            self.run("stop", timeout=120)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            log(e)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
                os.path.exists(f"/proc/{p}") for p in pids):
            time.sleep(0.2)
        for p in pids:  # only the processes this site started
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


def lmtp_post(port, sender, rcpt, text):
    with socket.create_connection(("127.0.0.1", port), 30) as s:
        f = s.makefile("rb")

        def reply():
            while True:
                line = f.readline()
                if not line:
                    raise RuntimeError("LMTP connection closed")
                if line[3:4] != b"-":
                    return line

        reply()
        for cmd in (b"LHLO bench.example.com", f"MAIL FROM:<{sender}>".encode(),
                    f"RCPT TO:<{rcpt}>".encode(), b"DATA"):
            s.sendall(cmd + b"\r\n")
            line = reply()
            if not line[:1] in (b"2", b"3"):
                raise RuntimeError(f"LMTP {cmd!r}: {line!r}")
        data = text.replace("\n", "\r\n").encode()
        s.sendall(data + b".\r\n")
        line = reply()
        if not line.startswith(b"250"):
            raise RuntimeError(f"LMTP DATA: {line!r}")
        s.sendall(b"QUIT\r\n")


def measure(server, n, mode, timeout, sleep_time):
    """Seconds until the sink has every copy, CPU seconds, memory."""
    sink_port, lmtp_port = free_port(), free_port()
    roster = members(n)
    server.configure(lmtp_port, sink_port, mode == "verp", sleep_time)
    log(f"{server.label}: {n} members, {mode}: setting up")
    server.setup(roster)
    if mode == "personalized":
        server.personalize()
    expected = n if mode != "bulk" else math.ceil(n / MAX_RECIPIENTS)
    sink = Sink(sink_port)
    try:
        server.start()
        time.sleep(2)  # let every runner settle before the clock starts
        # Whatever a server sends on its own (none expected) is not ours.
        expected += sink.messages()
        pids = server.pids()
        cpu0 = {p: cpu_seconds(p) for p in pids}
        t0 = time.monotonic()
        lmtp_post(lmtp_port, roster[0], LIST, message(roster[0]))
        deadline = t0 + timeout
        pss, next_sample = 0, 0.0
        while sink.messages() < expected and time.monotonic() < deadline:
            if time.monotonic() >= next_sample:
                pss = max(pss, sum(pss_kb(p) for p in server.pids()))
                next_sample = time.monotonic() + 0.25
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        got = sink.messages()
        pids = server.pids()
        pss = max(pss, sum(pss_kb(p) for p in pids)) / 1024
        cpu = sum(cpu_seconds(p) - cpu0.get(p, 0.0) for p in pids)
        rss = sum(peak_rss_kb(p) for p in pids) / 1024
        result = {"seconds": elapsed, "cpu": cpu, "rss": rss, "pss": pss,
                  "procs": len(pids), "got": got, "expected": expected}
        log(f"{server.label}: {n} {mode}: {got}/{expected} messages in "
            f"{elapsed:.2f}s, cpu {cpu:.2f}s, {len(pids)} processes, peak "
            f"RSS sum {rss:.0f} MB, PSS sum {pss:.0f} MB")
        return result
    finally:
        server.stop()
        sink.stop()


def ceiling(n, mode, directory):
    """smtp-source into smtp-sink, one connection, the same message."""
    port = free_port()
    path = os.path.join(directory, "ceiling.eml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(message("member00000@host0.example.com"))
    per = 1 if mode != "bulk" else MAX_RECIPIENTS
    count = n if mode != "bulk" else math.ceil(n / MAX_RECIPIENTS)
    sink = Sink(port)
    try:
        t0 = time.monotonic()
        subprocess.run(["smtp-source", "-d", "-s", "1", "-m", str(count),
                        "-r", str(per), "-F", path,
                        "-f", "fanout-bounces@example.com",
                        "-t", "member@example.com", f"127.0.0.1:{port}"],
                       check=True, stdout=subprocess.DEVNULL)
        while sink.messages() < count and time.monotonic() - t0 < 600:
            time.sleep(0.01)
        return {"seconds": time.monotonic() - t0}
    finally:
        sink.stop()


def fmt(value, spec):
    width = int(spec.split(".")[0] or 0)
    return f"{'-':>{width}}" if value is None else format(value, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--mailman", default=os.path.join(
        os.path.dirname(here), "build", "src", "cli", "mailman"),
        help="our mailman binary (default: build/src/cli/mailman)")
    ap.add_argument("--mailman3", default="/usr/bin/mailman",
                    help="Debian's Mailman 3 command")
    ap.add_argument("--no-mailman3", action="store_true",
                    help="measure our server and the ceiling only")
    ap.add_argument("--sizes", default="1000,10000",
                    help="list sizes, comma-separated (default 1000,10000)")
    ap.add_argument("--modes", default="bulk,verp",
                    help="comma-separated: bulk, verp, personalized "
                         "(default bulk,verp)")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="longest wait for one fan-out, seconds")
    ap.add_argument("--sleep-time", default="0.1s",
                    help="sleep_time of the in, pipeline and out runners of "
                         "both servers "
                         "(default 0.1s: a post crosses three queues, and "
                         "Mailman's 1s would add up to 3s of polling to a "
                         "delivery that takes less)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the sites (printed) for inspection")
    args = ap.parse_args()

    sizes = [int(s) for s in args.sizes.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    top = tempfile.mkdtemp(prefix="mm-fanout-")
    rows = []
    try:
        for n in sizes:
            for mode in modes:
                row = {"n": n, "mode": mode}
                row["ceiling"] = ceiling(n, mode, top)
                for key, label, binary, python in (
                        ("ours", "ours", args.mailman, False),
                        ("m3", "Mailman 3", args.mailman3, True)):
                    if key == "m3" and args.no_mailman3:
                        continue
                    root = os.path.join(top, f"{key}-{n}-{mode}")
                    try:
                        row[key] = measure(Server(label, binary, root, python),
                                           n, mode, args.timeout,
                                           args.sleep_time)
                    except (RuntimeError, OSError,
                            subprocess.TimeoutExpired) as e:
                        log(f"{label}: {n} {mode}: failed: {e}")
                        row[key] = None
                rows.append(row)
    finally:
        if args.keep:
            log(f"sites kept in {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)

    print(f"sleep_time {args.sleep_time}; seconds from the LMTP 250 to the "
          f"sink's last message; cpu: seconds of all server processes; "
          f"MB: peak sum of PSS (shared pages counted once) over them")
    print(f"{'members':>8} {'mode':>5} {'ceiling s':>10} {'ours s':>8} "
          f"{'M3 s':>8} {'M3/ours':>8} {'ours/ceil':>9} {'ours cpu':>9} "
          f"{'M3 cpu':>8} {'ours MB':>8} {'M3 MB':>8} {'M3/ours MB':>10}")
    for r in rows:
        ours, m3 = r.get("ours"), r.get("m3")
        o_s = ours["seconds"] if ours else None
        m_s = m3["seconds"] if m3 else None
        c_s = r["ceiling"]["seconds"]
        incomplete = [k for k in ("ours", "m3") if r.get(k) and
                      r[k]["got"] < r[k]["expected"]]
        print(f"{r['n']:>8} {r['mode']:>5} {c_s:>10.2f} {fmt(o_s, '8.2f')} "
              f"{fmt(m_s, '8.2f')} "
              f"{fmt(m_s / o_s if o_s and m_s else None, '8.1f')} "
              f"{fmt(o_s / c_s if o_s else None, '9.2f')} "
              f"{fmt(ours['cpu'] if ours else None, '9.2f')} "
              f"{fmt(m3['cpu'] if m3 else None, '8.2f')} "
              f"{fmt(ours['pss'] if ours else None, '8.0f')} "
              f"{fmt(m3['pss'] if m3 else None, '8.0f')} "
              f"{fmt(m3['pss'] / ours['pss'] if ours and m3 else None, '10.1f')}"
              + (f"  (incomplete: {', '.join(incomplete)})" if incomplete
                 else ""))


if __name__ == "__main__":
    main()
