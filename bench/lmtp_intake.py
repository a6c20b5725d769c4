#!/usr/bin/env python3
"""LMTP intake benchmark: our server against Debian's GNU Mailman 3.

Reports messages per second accepted over LMTP with 1 and 20 concurrent
connections (Postfix's `smtp-source -L`), 5 KB messages, each message fsynced
by the server before its 250.  It never asserts: it prints what it measured,
including whether every accepted message is in the queue afterwards.

Each server gets a private site in a temporary directory on disk (never
tmpfs, where fsync costs nothing): its own mailman.cfg (NullMTA, LMTP on a
free port of 127.0.0.1, SQLite), one list made with `mailman create`, started
with `mailman start` and stopped with `mailman stop`.  By default only the
LMTP runner is enabled on both sites (`--runners lmtp`), so that both
measure intake alone on the same footing; `--runners all` starts every
runner, as a site would.

Runs of the two servers are interleaved (ours, Mailman's, ours, ...) so that
drifting background load hits both alike; with `--repeat R` the median of R
runs is reported.

Standard library only.  Called by bench/lmtp-intake.sh, which installs the
Debian packages it needs; `--help` lists the parameters.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import argparse
import datetime
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

LIST = "bench@example.com"
SENDER = "sender@example.com"
HELO = "bench.example.com"
# Every runner Mailman 3.3 and our server know; with --runners lmtp all but
# the LMTP runner get `start: no`.
RUNNERS = ("archive", "bad", "bounces", "command", "digest", "in", "lmtp",
           "nntp", "out", "pipeline", "rest", "retry", "shunt", "task",
           "virgin")
# Queues an accepted post can be in after intake (brief: in, pipeline, out);
# every queue is counted too, to show strays.
INTAKE_QUEUES = ("in", "pipeline", "out")
WARMUP = 20


def log(*args):
    print("#", *args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fs_type(path):
    """The file system type of the mount holding path (from /proc/mounts)."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mnt = fields[1].replace("\\040", " ")
                inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best):
                    best, kind = mnt, fields[2]
    except OSError:
        pass
    return kind


def fsync_floor(directory, size, count):
    """Times the durable write both servers do per message, with nothing else.

    Returns the median milliseconds of (write+fsync+rename, the same plus a
    directory fsync), alternating the two so that a burst of background I/O
    hits both: the first is what Mailman's switchboard does per message, the
    second ours.  One connection served one message at a time cannot go
    faster than 1000 / these numbers.
    """
    payload = os.urandom(size)
    times = ([], [])
    for i in range(count):
        dir_sync = i % 2 == 1
        tmp = os.path.join(directory, f".probe{i}.tmp")
        final = os.path.join(directory, f"probe{i}.pck")
        start = time.monotonic()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, final)
        if dir_sync:
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        times[dir_sync].append((time.monotonic() - start) * 1000.0)
    for i in range(count):
        os.unlink(os.path.join(directory, f"probe{i}.pck"))
    return statistics.median(times[0]), statistics.median(times[1])


def fsync_parallel(directory, size, writers, count):
    """Files per second when `writers` threads each do write+fsync+rename+
    directory fsync at once: how far concurrent connections could go if the
    server overlapped its fsyncs (ext4's journal commits them together)."""
    payload = os.urandom(size)

    def writer(tid):
        for i in range(count // writers):
            tmp = os.path.join(directory, f".par{tid}.{i}.tmp")
            final = os.path.join(directory, f"par{tid}.{i}.pck")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, final)
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(writers)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    return writers * (count // writers) / elapsed


def proc_children(ppid):
    """PIDs whose parent is ppid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            out.append(int(name))
    return out


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def proc_cpu_sec(pid):
    """(user, system) CPU seconds of pid, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def proc_status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            stat = f.read()
        return stat[stat.rfind(")") + 2] != "Z"
    except OSError:
        return False


def lmtp_greets(port, timeout=2.0):
    """True when 127.0.0.1:port answers with a 220 greeting."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            banner = s.recv(512)
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(512)
            except OSError:
                pass
            return banner.startswith(b"220")
    except OSError:
        return False


class Site:
    """A private site of one server: directory, configuration, commands."""

    def __init__(self, label, binary, root, runners, python_mailman):
        self.label = label
        self.binary = binary
        self.root = root
        self.var = os.path.join(root, "var")
        self.cfg = os.path.join(root, "mailman.cfg")
        self.port = None
        self.runners = runners
        self.python_mailman = python_mailman
        self.master_pid = None
        self.lmtp_pid = None
        self.error = None
        os.makedirs(root, exist_ok=True)

    def _write_cfg(self):
        # Ports are chosen right before the start so that they are still free.
        self.port = free_port()
        paths = [f"var_dir: {self.var}"]
        extra = ""
        if self.python_mailman:
            # Mailman finds `master` and `runner` in bin_dir, whose default
            # ($argv) is wherever the `mailman` symlink lives.
            bin_dir = os.path.dirname(os.path.realpath(self.binary))
            paths.append(f"bin_dir: {bin_dir}")
            extra += f"\n[webservice]\nhostname: 127.0.0.1\nport: {free_port()}\n"
        if self.runners == "lmtp":
            for r in RUNNERS:
                if r != "lmtp":
                    extra += f"\n[runner.{r}]\nstart: no\n"
        paths_text = "\n".join(paths)
        with open(self.cfg, "w", encoding="utf-8") as f:
            f.write(f"""# Written by bench/lmtp_intake.py for one benchmark run.
[mailman]
layout: bench
site_owner: admin@example.com

[paths.bench]
{paths_text}

[mta]
incoming: mailman.mta.null.NullMTA
outgoing: mailman.mta.deliver.deliver
lmtp_host: 127.0.0.1
lmtp_port: {self.port}
smtp_host: 127.0.0.1
smtp_port: {free_port()}
{extra}""")

    def run(self, *args, timeout=180):
        argv = [self.binary, "-C", self.cfg]
        if os.geteuid() == 0:
            argv.append("--run-as-root")
        argv += list(args)
        # Output goes to files, not pipes: `mailman start` forks a daemon that
        # inherits them, and a pipe would then never reach end-of-file.
        with tempfile.TemporaryFile(mode="w+") as out, \
                tempfile.TemporaryFile(mode="w+") as err:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=err, timeout=timeout, cwd=self.root)
            out.seek(0)
            err.seek(0)
            proc.stdout, proc.stderr = out.read(), err.read()
        return proc

    def _fail(self, what, proc):
        self.error = (f"`mailman {what}` exited {proc.returncode}: "
                      f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        return False

    def start(self, ready_timeout):
        """Creates the list, starts the site and waits for the greeting."""
        self._write_cfg()
        try:
            proc = self.run("create", LIST)
            if proc.returncode != 0:
                return self._fail(f"create {LIST}", proc)
            proc = self.run("start")
            if proc.returncode != 0:
                return self._fail("start", proc)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.error = f"{type(e).__name__}: {e}"
            return False
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if lmtp_greets(self.port):
                break
            time.sleep(0.2)
        else:
            self.error = (f"no LMTP greeting on 127.0.0.1:{self.port} after "
                          f"{ready_timeout}s; log tail: {self.log_tail()}")
            return False
        self.master_pid = self._read_pid()
        if self.master_pid:
            for pid in proc_children(self.master_pid):
                if "--runner=lmtp" in proc_cmdline(pid):
                    self.lmtp_pid = pid
        return True

    def _read_pid(self):
        try:
            with open(os.path.join(self.var, "master.pid"), encoding="utf-8") as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def log_tail(self, limit=1500):
        logs = os.path.join(self.var, "logs")
        text = ""
        try:
            for name in sorted(os.listdir(logs)):
                with open(os.path.join(logs, name), encoding="utf-8",
                          errors="replace") as f:
                    text += f"[{name}] " + f.read()[-limit:]
        except OSError:
            pass
        return text[-limit:]

    def stop(self, timeout=60):
        """`mailman stop`, then waits (bounded) for the master to go.

        If it does not go, only the master and the LMTP runner this script
        started are signalled, by PID.
        """
        if not os.path.exists(self.cfg):
            return
        if self.master_pid is None:
            self.master_pid = self._read_pid()
        try:
            self.run("stop", timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            pass
        deadline = time.monotonic() + timeout
        pids = [p for p in (self.master_pid, self.lmtp_pid) if p]
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = [p for p in pids if pid_alive(p)]
            if not alive:
                break
            log(f"{self.label}: still running after stop, sending {sig.name} to {alive}")
            for p in alive:
                try:
                    os.kill(p, sig)
                except OSError:
                    pass
            time.sleep(2)

    def queue_counts(self):
        """{queue: number of entries (.pck and .bak)} for every queue dir."""
        counts = {}
        qdir = os.path.join(self.var, "queue")
        try:
            names = sorted(os.listdir(qdir))
        except OSError:
            return counts
        for q in names:
            try:
                counts[q] = sum(1 for n in os.listdir(os.path.join(qdir, q))
                                if n.endswith((".pck", ".bak")))
            except OSError:
                pass
        return counts


def smtp_source(site, sessions, count, size, reuse, timeout):
    """Sends count messages with smtp-source; returns (seconds, rc, stderr)."""
    argv = ["smtp-source", "-L", "-s", str(sessions), "-m", str(count),
            "-l", str(size), "-f", SENDER, "-t", LIST, "-M", HELO]
    if reuse:
        argv.append("-d")
    argv.append(f"127.0.0.1:{site.port}")
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout)
        rc, err = proc.returncode, proc.stderr.strip()
    except subprocess.TimeoutExpired:
        rc, err = None, f"timed out after {timeout}s"
    return time.monotonic() - start, rc, err


class Result:
    """What was measured for one server."""

    def __init__(self, label):
        self.label = label
        self.runs = {}          # sessions -> [(msgs, seconds, rc, err, cpu)]
        self.sent = 0           # messages smtp-source reported as sent
        self.hwm_kb = None
        self.rss_kb = None
        self.counts = {}
        self.error = None

    def median(self, sessions):
        runs = [r for r in self.runs.get(sessions, []) if r[2] == 0]
        if not runs:
            return None
        runs.sort(key=lambda r: r[0] / r[1])
        return runs[len(runs) // 2]


def wait_drained(sites, timeout=60):
    """With --runners all, waits (bounded) until no site has work in its
    in, pipeline or virgin queue, so that a run does not share the CPU with
    the previous run's backlog."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for s in sites:
            c = s.queue_counts()
            if c.get("in", 0) or c.get("pipeline", 0) or c.get("virgin", 0):
                busy = True
        if not busy:
            return
        time.sleep(0.5)


def start_site(site, res, args):
    """Starts a site and sends the warm-up; False (res.error set) on failure."""
    log(f"starting {site.label}")
    t0 = time.monotonic()
    if not site.start(ready_timeout=120):
        res.error = site.error
        log(f"{site.label}: {site.error}")
        site.stop()
        return False
    log(f"{site.label}: up in {time.monotonic() - t0:.1f}s, LMTP on "
        f"127.0.0.1:{site.port}, master {site.master_pid}, lmtp {site.lmtp_pid}")
    # Warm-up: the first connection opens the database, fills caches.
    _, rc, err = smtp_source(site, 1, WARMUP, args.size, not args.no_reuse, 120)
    if rc != 0:
        res.error = f"warm-up failed (rc {rc}): {err[-500:]}"
        log(f"{site.label}: {res.error}")
        site.stop()
        return False
    res.sent += WARMUP
    return True


def timed_run(site, res, sessions, n, rep, args):
    cpu0 = proc_cpu_sec(site.lmtp_pid) if site.lmtp_pid else None
    # Generous bound: 5 messages/s would be pathological.
    secs, rc, err = smtp_source(site, sessions, n, args.size,
                                not args.no_reuse, 60 + n / 5)
    cpu1 = proc_cpu_sec(site.lmtp_pid) if site.lmtp_pid else None
    cpu = ((cpu1[0] - cpu0[0], cpu1[1] - cpu0[1])
           if cpu0 is not None and cpu1 is not None else None)
    if rc == 0:
        res.sent += n
    res.runs.setdefault(sessions, []).append((n, secs, rc, err, cpu))
    log(f"{site.label}: run {rep + 1}, {sessions} conn: {n} msgs "
        f"in {secs:.2f}s = {n / secs:.1f}/s"
        + (f", lmtp cpu user {cpu[0] * 1000 / n:.2f} + sys "
           f"{cpu[1] * 1000 / n:.2f} ms/msg" if cpu else "")
        + ("" if rc == 0 else f"  smtp-source rc {rc}: {err[-300:]}"))


def measure_phase(phase, by_site, sessions_list, args):
    """Starts the sites of one phase, runs every timed run, stops them."""
    live = []
    try:
        for site, n in phase:
            if start_site(site, by_site[id(site)], args):
                live.append((site, n))
        for rep in range(args.repeat):
            for sessions in sessions_list:
                for site, n in live:
                    if args.runners == "all":
                        wait_drained([site])
                    timed_run(site, by_site[id(site)], sessions, n, rep, args)
        for site, _ in live:
            res = by_site[id(site)]
            if site.lmtp_pid:
                res.hwm_kb = proc_status_kb(site.lmtp_pid, "VmHWM")
                res.rss_kb = proc_status_kb(site.lmtp_pid, "VmRSS")
    finally:
        for site, _ in phase:
            site.stop()
    for site, _ in live:
        by_site[id(site)].counts = site.queue_counts()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mailman", default=os.path.join(here, "..", "build", "src", "cli", "mailman"),
                    help="our mailman binary (default: build/src/cli/mailman)")
    ap.add_argument("--mailman3", default="/usr/bin/mailman",
                    help="Debian's Mailman 3 command (default: /usr/bin/mailman)")
    ap.add_argument("--no-mailman3", action="store_true",
                    help="measure our server only")
    ap.add_argument("--messages", type=int, default=2000,
                    help="messages per timed run for our server (default 2000)")
    ap.add_argument("--mailman3-messages", type=int, default=0,
                    help="messages per timed run for Mailman 3 (default: messages/4)")
    ap.add_argument("--sessions", default="1,20",
                    help="comma-separated concurrent connections (default 1,20)")
    ap.add_argument("--size", type=int, default=5120,
                    help="message payload in bytes, smtp-source -l (default 5120)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed runs per configuration; the median is shown (default 3)")
    ap.add_argument("--runners", choices=("lmtp", "all"), default="lmtp",
                    help="lmtp: only the LMTP runner on both sites (default); all: every runner")
    ap.add_argument("--no-reuse", action="store_true",
                    help="one connection per message (default: smtp-source -d, "
                         "connections reused as Postfix's LMTP client caches them)")
    ap.add_argument("--tmpdir", default="/var/tmp",
                    help="where the sites are made; must be on disk (default /var/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the site directories")
    ap.add_argument("--wait-idle", type=int, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS for the 1-minute load average "
                         "to drop below 1 (on a shared machine); default 0")
    args = ap.parse_args()

    sessions_list = [int(x) for x in args.sessions.split(",") if x.strip()]
    m3_messages = args.mailman3_messages or max(1, args.messages // 4)
    wall_start = time.monotonic()

    if not shutil.which("smtp-source"):
        print("smtp-source not found (Debian package postfix); nothing measured")
        return 1
    binary = os.path.realpath(args.mailman)
    if not os.access(binary, os.X_OK):
        print(f"our mailman binary {binary} is missing; build it with "
              f"`ninja -C build src/cli/mailman` or pass --mailman")
        return 1

    if args.wait_idle > 0:
        deadline = time.monotonic() + args.wait_idle
        while os.getloadavg()[0] >= 1.0 and time.monotonic() < deadline:
            time.sleep(5)
        wall_start = time.monotonic()
    os.makedirs(args.tmpdir, exist_ok=True)
    top = tempfile.mkdtemp(prefix="mm-bench-", dir=args.tmpdir)
    try:
        return measure_and_report(args, top, binary, sessions_list,
                                  m3_messages, wall_start)
    finally:
        if args.keep:
            print(f"sites kept in {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)


def measure_and_report(args, top, binary, sessions_list, m3_messages,
                       wall_start):
    fstype = fs_type(top)
    load = os.getloadavg()
    print(f"LMTP intake benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Linux "
          f"{platform.release()}; load average at start "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"sites under {top} ({fstype})"
          + ("  ** tmpfs: fsync is free here, numbers are meaningless **"
             if fstype in ("tmpfs", "ramfs") else ""))
    print(f"load: smtp-source -L{'' if args.no_reuse else ' -d'} -l {args.size}, "
          f"sessions {sessions_list}, runners: {args.runners}, "
          f"{args.repeat} timed run(s) each (median shown), "
          f"{args.messages} msgs/run ours, {m3_messages} msgs/run Mailman 3")

    probe_dir = os.path.join(top, "probe")
    os.makedirs(probe_dir)
    plain_ms, dir_ms = fsync_floor(probe_dir, args.size + 600, 400)
    print(f"durable-write floor on this disk ({args.size + 600} B, median): "
          f"write+fsync+rename {plain_ms:.2f} ms ({1000 / plain_ms:.0f}/s serial), "
          f"+ directory fsync {dir_ms:.2f} ms ({1000 / dir_ms:.0f}/s serial); "
          f"8 writers in parallel {fsync_parallel(probe_dir, args.size + 600, 8, 800):.0f}/s")
    print(flush=True)

    results = []
    ours = Site("ours", binary, os.path.join(top, "ours"), args.runners, False)
    specs = [(ours, args.messages)]
    res_ours = Result("ours")
    results.append(res_ours)
    res_m3 = Result("Mailman 3")
    m3 = None
    if args.no_mailman3:
        res_m3.error = "not run (--no-mailman3)"
    elif not os.access(args.mailman3, os.X_OK):
        res_m3.error = (f"{args.mailman3} not found: Debian's mailman3 is not "
                        f"installed (bench/lmtp-intake.sh installs it)")
    else:
        m3 = Site("Mailman 3", args.mailman3, os.path.join(top, "mailman3"),
                  args.runners, True)
        specs.append((m3, m3_messages))
    results.append(res_m3)
    by_site = {id(ours): res_ours}
    if m3:
        by_site[id(m3)] = res_m3

    # With only the LMTP runner, idle sites cost nothing: run both at once
    # and interleave their runs.  With every runner, a site's runners work
    # through its backlog between runs and would steal the other's CPU: one
    # site at a time.
    if args.runners == "lmtp":
        phases = [specs]
    else:
        phases = [[spec] for spec in specs]
    for phase in phases:
        measure_phase(phase, by_site, sessions_list, args)

    # ---- report ----
    print()
    w = 16
    head = (f"{'configuration':<{w}} | {'ours':^24} | {'Mailman 3':^24} | ratio")
    sub = (f"{'':<{w}} | {'msgs':>6} {'s':>7} {'msgs/s':>9} | "
           f"{'msgs':>6} {'s':>7} {'msgs/s':>9} | ours/M3")
    print(head)
    print(sub)
    print("-" * len(sub))
    one_conn_m3 = None
    for sessions in sessions_list:
        cells = []
        rates = []
        for res in (res_ours, res_m3):
            r = res.median(sessions)
            if r is None:
                cells.append(f"{'-':>6} {'-':>7} {'-':>9}")
                rates.append(None)
            else:
                cells.append(f"{r[0]:>6} {r[1]:>7.2f} {r[0] / r[1]:>9.1f}")
                rates.append(r[0] / r[1])
        ratio = (f"{rates[0] / rates[1]:.1f}x" if None not in rates else "-")
        name = f"{sessions} connection{'s' if sessions != 1 else ''}"
        print(f"{name:<{w}} | {cells[0]} | {cells[1]} | {ratio}")
        if sessions == 1:
            one_conn_m3 = rates[1]
    print()
    # One connection carries one message at a time, so no server can beat
    # one durable write per message there: the disk's floor, measured above,
    # caps the ratio whatever the server does.
    # The disk's speed drifts during a run: probe again and use the mean.
    plain_after, dir_after = fsync_floor(probe_dir, args.size + 600, 400)
    floor_ms = (dir_ms + dir_after) / 2
    m3_text = (f" = {1000 / floor_ms / one_conn_m3:.1f}x Mailman 3's measured rate"
               if one_conn_m3 else "")
    print(f"durable-write floor again after the runs: write+fsync+rename "
          f"{plain_after:.2f} ms, + directory fsync {dir_after:.2f} ms")
    print(f"one-connection ceiling of any server that makes each message durable "
          f"as ours does before its 250 (1000 / {floor_ms:.2f} ms, the mean of "
          f"the two probes): {1000 / floor_ms:.0f} msgs/s{m3_text}")
    print()
    for res in results:
        if res.error:
            print(f"{res.label}: NOT MEASURED: {res.error}")
            continue
        all_rates = {s: ", ".join(f"{n / t:.0f}" for n, t, rc, _, _ in runs if rc == 0)
                     for s, runs in res.runs.items()}
        cpu = {s: [(c[0] * 1000 / n, c[1] * 1000 / n)
                   for n, _, rc, _, c in runs if rc == 0 and c]
               for s, runs in res.runs.items()}
        failed = [(s, rc, err) for s, runs in res.runs.items()
                  for _, _, rc, err, _ in runs if rc != 0]
        print(f"{res.label}:")
        print("  every run (msgs/s): " + "; ".join(
            f"{s} conn: {v}" for s, v in all_rates.items()))
        print("  LMTP process CPU per message, user + system (ms, median): "
              + "; ".join(
                  f"{s} conn: {statistics.median(u for u, _ in v):.2f} + "
                  f"{statistics.median(y for _, y in v):.2f}"
                  for s, v in cpu.items() if v))
        if res.hwm_kb is not None:
            print(f"  LMTP process peak RSS (VmHWM): {res.hwm_kb / 1024:.1f} MiB "
                  f"(RSS at end {res.rss_kb / 1024:.1f} MiB)")
        intake = sum(res.counts.get(q, 0) for q in INTAKE_QUEUES)
        total = sum(res.counts.values())
        others = {q: c for q, c in res.counts.items()
                  if c and q not in INTAKE_QUEUES}
        verdict = ("all accepted messages are queued" if intake == res.sent
                   else f"{res.sent - intake:+d} missing" if intake < res.sent
                   else f"{intake - res.sent} more than sent")
        if args.runners == "all" and intake < res.sent:
            verdict += (" -- expected with --runners all: the runners move "
                        "them on (to retry, as nothing listens on the SMTP "
                        "port); the check is exact only with --runners lmtp")
        print(f"  queued afterwards in in+pipeline+out: {intake} of {res.sent} sent "
              f"({verdict}); all queues {total}"
              + (f", elsewhere {others}" if others else ""))
        for s, rc, err in failed:
            print(f"  FAILED run with {s} conn: smtp-source rc {rc}: {err[-500:]}")
    print()
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"total wall time {time.monotonic() - wall_start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
