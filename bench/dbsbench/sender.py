"""bench/sender: what the PostgreSQL source's walsender does for each
follower of one backlog.

Starts the benchmark's durable servers, primes dbstreams PG→PG and the
native subscription (synchronous_commit on) as bench/run does, writes the
workload into the source, then lets each follower catch up in turn
(the order rotates with the repetition) with `perf stat` on the
walsender that serves it: its CPU time, its context switches, its system
calls (send and receive) and the packets it put on the loopback device
itself. Both followers read the same WAL through the same publication;
what differs is how they read."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from . import procs
from .backlog import TABLES, prime, write_backlog
from .followers import Dbs, PgSubscription
from .servers import ServerSet
from .util import log
from .workloads import PG_DDL, SIZES, workloads

EVENTS = ["task-clock", "context-switches", "syscalls:sys_enter_sendto",
          "syscalls:sys_enter_recvfrom", "net:net_dev_queue"]


def walsender_pid(src, slot, timeout=10):
    """The walsender holding the follower's replication slot."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pid = src.run("postgres", "SELECT active_pid FROM pg_replication_slots WHERE "
                                  f"slot_name = '{slot}' AND active").strip()
        if pid:
            return pid
        time.sleep(0.02)
    raise RuntimeError("no walsender streaming")


def parse_stat(path):
    got = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1] in EVENTS:
                got[parts[1]] = float(parts[0].replace(",", ""))
            elif len(parts) >= 3 and parts[2] in EVENTS:  # "1234.5 msec task-clock"
                got[parts[2]] = float(parts[0].replace(",", ""))
    return got


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench/sender", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", help="dbs-cli (default build/release/cli/dbs-cli)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workload", default="b", choices="abcd")
    ap.add_argument("--quick", action="store_true", help="the quick sizes (checks the tool)")
    args = ap.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cli = os.path.abspath(args.cli or os.path.join(root, "build", "release", "cli", "dbs-cli"))
    if not shutil.which("perf"):
        sys.exit("bench/sender: perf is not installed")
    w = {x.key: x for x in workloads(SIZES["quick" if args.quick else "full"])}[args.workload]
    work = tempfile.mkdtemp(prefix="dbss.", dir="/tmp")
    os.chmod(work, 0o755)
    src, dst = ServerSet(root, work, "src", 1), ServerSet(root, work, "dst", 2)
    rows = []
    try:
        src.start()
        dst.start()
        s, d = src.pg, dst.pg
        for rep in range(args.reps):
            db = f"s_{rep}"
            s.create_db(db)
            s.run(db, PG_DDL)
            s.run(db, "CREATE PUBLICATION bench_pub FOR TABLE products, bench_marker")
            fs = [Dbs(s, d, db, f"d{rep}", work, cli, TABLES),
                  PgSubscription(s, d, db, f"n{rep}", work, "on", PG_DDL)]
            prime(s, db, w, fs, 600)
            write_backlog(s, db, w)
            for f in (fs if rep % 2 == 0 else fs[::-1]):
                out = os.path.join(work, f"stat-{rep}-{f.key}.txt")
                t0 = time.time()
                f.resume()
                stat = procs.spawn(["perf", "stat", "-e", ",".join(EVENTS), "-p",
                                    walsender_pid(s, f.slot if isinstance(f, Dbs) else f.sub), "-o", out])
                secs = f.wait_marker(2, 3600) - t0
                stat.send_signal(2)
                procs.wait4(stat, 60)
                f.stop()
                got = parse_stat(out)
                rows.append((rep, f.label, w.events / secs, got))
                log(f"rep {rep + 1}: {f.label}: {w.events / secs:,.0f} rows/s; walsender "
                    f"{got.get('task-clock', 0) / 1000:.1f} s CPU, "
                    f"{got.get('syscalls:sys_enter_sendto', 0):,.0f} sends, "
                    f"{got.get('syscalls:sys_enter_recvfrom', 0):,.0f} receives, "
                    f"{got.get('net:net_dev_queue', 0):,.0f} packets, "
                    f"{got.get('context-switches', 0):,.0f} context switches")
            for f in fs:
                f.cleanup()
            s.drop_db(db)
    finally:
        procs.kill_all()
        src.stop()
        dst.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"| repetition | follower | rows/s | walsender CPU s | sends | receives | "
          f"packets sent | context switches |\n|---|---|---|---|---|---|---|---|")
    for rep, label, rate, got in rows:
        print(f"| {rep + 1} | {label} | {rate:,.0f} | {got.get('task-clock', 0) / 1000:.1f} | "
              f"{got.get('syscalls:sys_enter_sendto', 0):,.0f} | "
              f"{got.get('syscalls:sys_enter_recvfrom', 0):,.0f} | "
              f"{got.get('net:net_dev_queue', 0):,.0f} | "
              f"{got.get('context-switches', 0):,.0f} |")
    return 0
