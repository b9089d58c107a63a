"""bench/profile: where dbs-cli's time goes on one backlog workload.

Starts the benchmark's durable servers, primes a stream as bench/run does
(first start, marker, stop), writes the workload into the source, then
resumes the stream under `perf record` (CPU samples with DWARF call
graphs, and every context switch) until a reader of the target sees the
end marker. One perf.data per job, and a text summary next to it: the
CPU by thread and by library, the heaviest functions with their callees
included, and how many times each thread went to sleep per event."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from . import procs
from .backlog import TABLES, prime, write_backlog
from .followers import Dbs
from .servers import ServerSet
from .util import log
from .workloads import SIZES, ddl, workloads

WRAPPER = """#!/bin/sh
# dbs-cli under perf for the timed (resumed) run only.
case " $* " in
*" --id "*)
	exec perf record -q -F {freq} -e cpu-clock/call-graph=dwarf/ \\
		-e sched:sched_switch/call-graph=no/ --call-graph dwarf,8192 \\
		-o "$DBS_PROFILE_OUT" -- {cli} "$@" ;;
esac
exec {cli} "$@"
"""


def report(data, events, seconds, out):
    def perf(*args):
        p = subprocess.run(["perf", "report", "-i", data, "--stdio", *args],
                           capture_output=True, text=True)
        return "\n".join(line for line in p.stdout.splitlines()
                         if line.strip() and not line.startswith("#"))

    script = subprocess.run(["perf", "script", "-i", data, "-F", "tid,event"],
                            capture_output=True, text=True).stdout
    per = {}
    for line in script.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            per.setdefault(parts[0], {}).setdefault(parts[1].rstrip(":"), 0)
            per[parts[0]][parts[1].rstrip(":")] += 1
    with open(out, "w") as f:
        f.write(f"{events} events in {seconds:.2f} s ({events / seconds:,.0f}/s)\n\n")
        f.write("samples per thread (cpu-clock samples; sched_switch samples, which perf may "
                "thin out: see the event count of `perf report`)\n")
        for tid, c in sorted(per.items(), key=lambda kv: -sum(kv[1].values())):
            f.write(f"  {tid}: {c}\n")
        # Each report has a part per event: CPU samples first, then the
        # context switches.
        f.write("\nby library\n" + perf("--no-children", "-g", "none", "--sort", "dso"))
        f.write("\n\nheaviest functions, callees included\n" +
                perf("--children", "-g", "none", "--sort", "sym", "--percent-limit", "2"))
        f.write("\n")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench/profile", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jobs", nargs="+", metavar="W:SRC:DST",
                    help="workload and direction, e.g. c:my:pg a:pg:pg")
    ap.add_argument("--cli", help="dbs-cli to profile (default build/release/cli/dbs-cli)")
    ap.add_argument("--out", help="directory for the results (default bench/out/profile)")
    ap.add_argument("--size", action="append", default=[], metavar="KEY=N",
                    help="workload size (as bench/run --size); default a=200000, c=20000, "
                         "d=40000")
    ap.add_argument("--freq", type=int, default=499, help="CPU samples per second")
    args = ap.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cli = os.path.abspath(args.cli or os.path.join(root, "build", "release", "cli", "dbs-cli"))
    if not shutil.which("perf"):
        sys.exit("bench/profile: perf is not installed")
    sizes = dict(SIZES["quick"], a=200_000, c=20_000, d=40_000)
    for item in args.size:
        key, _, val = item.partition("=")
        if key not in sizes or not val.isdigit():
            sys.exit(f"bench/profile: --size {item}")
        sizes[key] = int(val)
    wl = {w.key: w for w in workloads(sizes)}
    out = os.path.abspath(args.out or os.path.join(root, "bench", "out", "profile"))
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="dbsp.", dir="/tmp")
    os.chmod(work, 0o755)
    wrapper = os.path.join(work, "dbs-cli-perf")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(freq=args.freq, cli=cli))
    os.chmod(wrapper, 0o755)
    src, dst = ServerSet(root, work, "src", 1), ServerSet(root, work, "dst", 2)
    try:
        src.start()
        dst.start()
        for job in args.jobs:
            k, se, de = job.split(":")
            w = wl[k]
            s = src.pg if se == "pg" else src.my
            d = dst.pg if de == "pg" else dst.my
            db = f"p_{se}{de}{k}"
            s.create_db(db)
            s.run(db, ddl(se))
            fol = Dbs(s, d, db, f"{se}{de}{k}", work, wrapper, TABLES)
            prime(s, db, w, [fol], 600)
            write_backlog(s, db, w)
            data = os.path.join(out, f"{k}_{se}_{de}.data")
            os.environ["DBS_PROFILE_OUT"] = data
            t0 = time.time()
            fol.resume()
            seconds = fol.wait_marker(2, 3600) - t0
            log(f"{job}: {w.events} events in {seconds:.2f} s")
            try:
                fol.stop()
            except Exception as e:  # perf's exit status is the stream's signal
                log(f"{job}: stop: {str(e).splitlines()[0]}")
            fol.cleanup()
            s.drop_db(db)
            report(data, w.events, seconds, data[:-5] + ".txt")
            log(f"{job}: {data[:-5]}.txt")
    finally:
        procs.kill_all()
        src.stop()
        dst.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0
