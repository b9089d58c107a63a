"""bench/run: the whole benchmark in one run (see bench/README.md)."""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile

from . import backlog, oltp, procs, report
from .db import BenchError
from .servers import MY_SETTINGS, PG_SETTINGS, ServerSet
from .util import log, loadavg
from .workloads import SIZES

OLTP_SETTINGS = {
    # step_s: seconds of load per rate step; drain_s: how long the probe
    # poller waits after a step for the stream to catch up; refine:
    # bisections searching for the highest rate with bounded lag; reps:
    # repetitions of the 50% and 80% steps.
    "full": {"step_s": 20, "drain_s": 120, "refine": 2, "reps": 3, "tables": 4,
             "table_size": 100_000, "threads": 8},
    "quick": {"step_s": 5, "drain_s": 30, "refine": 0, "reps": 1, "tables": 4,
              "table_size": 5_000, "threads": 8},
}


class Ctx:
    pass


def git(root, *args):
    try:
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def machine():
    info = {"cpus": os.cpu_count(), "kernel": platform.release(), "cpu_model": None,
            "mem_total_kb": None}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                info["mem_total_kb"] = int(line.split()[1])
    return info


def tool_versions():
    out = {}
    for name, argv in {"sysbench": ["sysbench", "--version"],
                       "pgloader": ["pgloader", "--version"],
                       "pg_recvlogical": ["pg_recvlogical", "--version"],
                       "mariadb-binlog": ["mariadb-binlog", "--version"]}.items():
        try:
            out[name] = subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            out[name] = None
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, one repetition: checks the suite works (minutes)")
    ap.add_argument("--reps", type=int, help="repetitions (default 3, --quick 1)")
    ap.add_argument("--only", help="backlog workloads to run, e.g. a,c (default all)")
    ap.add_argument("--no-backlog", action="store_true", help="skip the backlog workloads")
    ap.add_argument("--no-oltp", action="store_true", help="skip the steady OLTP load")
    ap.add_argument("--no-bulk", action="store_true",
                    help="skip COPY, LOAD DATA and pgloader")
    ap.add_argument("--directions", help="OLTP directions, e.g. my-pg,pg-pg (default all four)")
    ap.add_argument("--cli", help="dbs-cli to measure (default build/release/cli/dbs-cli)")
    ap.add_argument("--baseline", metavar="CLI",
                    help="another dbs-cli timed in the same backlog trials, beside --cli "
                         "(e.g. a build of the commit before a change)")
    ap.add_argument("--size", action="append", default=[], metavar="KEY=N",
                    help="override one workload size (a, b_txns, b_rows, c, d, d_per_txn); "
                         "repeatable")
    ap.add_argument("--out", help="directory for the JSON and markdown (default: bench/ for a "
                                  "full run, bench/out/ otherwise)")
    ap.add_argument("--timeout", type=float, help="seconds one follower may take to catch up")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--render", metavar="JSON",
                    help="print the markdown of an earlier run's JSON and exit (runs nothing)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.render:
        with open(args.render) as f:
            r = json.load(f)
        r["summary"] = report.summarize(r)
        sys.stdout.write(report.markdown(r))
        return 0
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    mode = "quick" if args.quick else "full"
    ctx = Ctx()
    ctx.root, ctx.mode = root, mode
    ctx.cli = os.path.abspath(args.cli or os.path.join(root, "build", "release", "cli", "dbs-cli"))
    if not os.access(ctx.cli, os.X_OK):
        sys.exit(f"bench: {ctx.cli} is not an executable (build it: see bench/README.md)")
    ctx.baseline = None
    if args.baseline:
        ctx.baseline = os.path.abspath(args.baseline)
        if not os.access(ctx.baseline, os.X_OK):
            sys.exit(f"bench: {ctx.baseline} is not an executable")
    ctx.sizes = dict(SIZES[mode])
    for item in args.size:
        key, _, val = item.partition("=")
        if key not in ctx.sizes or not val.isdigit() or int(val) <= 0:
            sys.exit(f"bench: --size {item}: expected one of {', '.join(ctx.sizes)}=N")
        ctx.sizes[key] = int(val)
    ctx.reps = args.reps or (1 if args.quick else 3)
    ctx.timeout = args.timeout or (600 if args.quick else 1800)
    ctx.only_workloads = set(args.only.split(",")) if args.only else None
    ctx.skip_bulk = args.no_bulk
    ctx.oltp = dict(OLTP_SETTINGS[mode])
    if args.reps:
        ctx.oltp["reps"] = args.reps
    ctx.directions = args.directions.split(",") if args.directions else None
    complete = not (args.only or args.no_backlog or args.no_oltp or args.no_bulk
                    or args.directions or args.cli or args.reps or args.baseline
                    or args.size)
    out_dir = args.out or (os.path.join(root, "bench") if mode == "full" and complete
                           else os.path.join(root, "bench", "out"))

    ctx.workdir = tempfile.mkdtemp(prefix="dbsb.", dir="/tmp")
    os.chmod(ctx.workdir, 0o755)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = datetime.datetime.now(datetime.timezone.utc)
    result = {
        "suite": "dbstreams bench/run", "format": 1, "mode": mode, "complete": complete,
        "started": started.isoformat(timespec="seconds"),
        "commit": git(root, "rev-parse", "HEAD"),
        "dirty": bool(git(root, "status", "--porcelain", "--untracked-files=no")),
        "dbs_cli": ctx.cli, "baseline_cli": ctx.baseline, "machine": machine(), "loadavg_start": loadavg(),
        "settings": {"postgresql": PG_SETTINGS, "mariadb": MY_SETTINGS, "sizes": ctx.sizes,
                     "reps": ctx.reps, "oltp": ctx.oltp},
        "tools": tool_versions(),
    }
    ctx.src = ServerSet(root, ctx.workdir, "src", 1)
    ctx.dst = ServerSet(root, ctx.workdir, "dst", 2)
    failed = None
    try:
        log(f"bench: {mode} run, work directory {ctx.workdir}, load average "
            f"{result['loadavg_start']}")
        log("starting the source and target servers (durable settings)")
        ctx.src.start()
        ctx.dst.start()
        result["servers"] = {"source": ctx.src.versions(), "target": ctx.dst.versions()}
        if not args.no_backlog:
            result["backlog"] = backlog.run(ctx)
        if not args.no_oltp:
            result["oltp"] = oltp.run(ctx)
    except KeyboardInterrupt:
        failed = "interrupted"
        log("bench: interrupted, cleaning up")
    except BenchError as e:
        failed = str(e)
        log(f"bench: FAILED: {e}")
    finally:
        procs.kill_all()
        ctx.src.stop()
        ctx.dst.stop()
        if args.keep:
            log(f"bench: work directory kept: {ctx.workdir}")
        else:
            shutil.rmtree(ctx.workdir, ignore_errors=True)
    ended = datetime.datetime.now(datetime.timezone.utc)
    result["ended"] = ended.isoformat(timespec="seconds")
    result["duration_s"] = round((ended - started).total_seconds(), 1)
    result["loadavg_end"] = loadavg()
    if failed:
        result["failed"] = failed
    result["summary"] = report.summarize(result)

    os.makedirs(out_dir, exist_ok=True)
    if out_dir == os.path.join(root, "bench") and mode == "full" and not failed:
        base = os.path.join(out_dir, "results")
        md_path = os.path.join(out_dir, "RESULTS.md")
    else:
        stamp = started.strftime("%Y%m%d-%H%M%S")
        base = os.path.join(out_dir, f"{mode}-{stamp}")
        md_path = base + ".md"
    with open(base + ".json", "w") as f:
        json.dump(result, f, indent=1, default=str)
        f.write("\n")
    with open(md_path, "w") as f:
        f.write(report.markdown(result))
    log(f"bench: wrote {base}.json and {md_path} ({result['duration_s'] / 60:.1f} min)")
    return 1 if failed else 0
