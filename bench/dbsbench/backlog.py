"""Backlog catch-up: a workload written into the source while its
followers are stopped, then each follower started in turn and timed until
the target holds everything.

What is timed, for each follower: from the moment it is started (dbs-cli
launched with the stream's id and resuming from its checkpoint; ALTER
SUBSCRIPTION … ENABLE; START SLAVE) until a reader of the target sees the
end marker, a row the source committed in its own transaction after the
workload. The follower applies in commit order, so the marker visible
means every row before it is committed at the target. A loop inside the
target server polls for it every 2 ms and reports the server's clock when
it appears (all servers share the machine's clock)."""
import concurrent.futures
import os
import subprocess
import time

from .db import BenchError, pq
from .followers import Dbs, MyReplica, PgSubscription, drop_slot
from .util import log, loadavg
from .workloads import (PG_DDL, MY_DDL, aggregates_sql, ddl, marker_sql, parse_aggregates,
                        workloads)

TABLES = ["products", "bench_marker"]


def aggregates(server, db, table):
    return parse_aggregates(server.run(db, aggregates_sql(server.engine, table)))


def make_followers(ctx, engine, srcdb, tag):
    src = ctx.src.pg if engine == "pg" else ctx.src.my
    dpg, dmy = ctx.dst.pg, ctx.dst.my
    fs = [Dbs(src, dpg, srcdb, f"{tag}_dbs_pg", ctx.workdir, ctx.cli, TABLES),
          Dbs(src, dmy, srcdb, f"{tag}_dbs_my", ctx.workdir, ctx.cli, TABLES)]
    if ctx.baseline:
        fs += [Dbs(src, dpg, srcdb, f"{tag}_base_pg", ctx.workdir, ctx.baseline, TABLES, True),
               Dbs(src, dmy, srcdb, f"{tag}_base_my", ctx.workdir, ctx.baseline, TABLES, True)]
    if engine == "pg":
        fs += [PgSubscription(src, dpg, srcdb, f"{tag}_on", ctx.workdir, "on", PG_DDL),
               PgSubscription(src, dpg, srcdb, f"{tag}_off", ctx.workdir, "off", PG_DDL)]
    else:
        fs.append(MyReplica(src, dmy, srcdb, tag, ctx.workdir, MY_DDL))
    return fs


def run(ctx):
    wls = workloads(ctx.sizes)
    records = []
    for rep in range(ctx.reps):
        for w in wls:
            if ctx.only_workloads and w.key not in ctx.only_workloads:
                continue
            for engine in ("my", "pg"):
                records += trial(ctx, engine, w, rep)
    return {"workloads": {w.key: {"title": w.title, "events": w.events, "transactions": w.txns,
                                  "base_rows": w.base} for w in wls},
            "records": records}


def trial(ctx, engine, w, rep):
    src = ctx.src.pg if engine == "pg" else ctx.src.my
    srcdb = f"b_{engine}{w.key}{rep}"
    tag = f"{engine}{w.key}{rep}"
    log(f"backlog ({w.key}) {w.title}, {'PostgreSQL' if engine == 'pg' else 'MariaDB'} "
        f"source, repetition {rep + 1}/{ctx.reps}")
    src.create_db(srcdb)
    src.run(srcdb, ddl(engine))
    if engine == "pg":
        src.run(srcdb, "CREATE PUBLICATION bench_pub FOR TABLE products, bench_marker")
    followers = make_followers(ctx, engine, srcdb, tag)
    recv_slot = f"recv_{tag}"
    records = []
    t_setup = time.time()
    try:
        prime(src, srcdb, w, followers, ctx.timeout)
        log(f"  followers primed and stopped ({time.time() - t_setup:.1f} s)")

        # The backlog, written while every follower is stopped.
        if engine == "pg":
            start = src.run(srcdb, "SELECT lsn FROM pg_create_logical_replication_slot("
                                   f"'{recv_slot}', 'pgoutput')").strip()
        else:
            start = src.master_pos()
        write_s = write_backlog(src, srcdb, w)
        if engine == "pg":
            end = src.run(srcdb, "SELECT pg_current_wal_lsn()").strip()
        else:
            end = src.master_pos()
        want = aggregates(src, srcdb, "products")
        log(f"  backlog written in {write_s:.1f} s; source {want[0]} rows")

        # Each follower in turn; the order rotates with the repetition.
        k = rep % len(followers)
        for f in followers[k:] + followers[:k]:
            records.append(time_follower(ctx, f, w, engine, rep, want, write_s))
        records.append(read_ceiling(ctx, src, engine, srcdb, w, rep, start, end, recv_slot))
        if w.key == "a" and engine == "my" and not ctx.skip_bulk:
            records += bulk_references(ctx, src, srcdb, w, rep)
    finally:
        for f in followers:
            try:
                f.cleanup()
            except Exception as e:  # keep cleaning the rest
                log(f"  cleanup of {f.label}: {e}")
        if engine == "pg":
            drop_slot(src, srcdb, recv_slot)
            src.drop_db(srcdb)
        else:
            src.drop_db(srcdb)
            src.run(None, "FLUSH BINARY LOGS")
            cur = src.master_pos()[0]
            src.run(None, f"PURGE BINARY LOGS TO '{cur}'")
    return records


def prime(src, srcdb, w, followers, timeout):
    """Start the followers once and stop them again once they hold the
    rows (d) updates and marker 1, so that every one has created its
    tables before a clock runs."""
    engine = src.engine
    together(f.prepare for f in followers)
    together(f.first_start for f in followers)
    if w.base:
        src.run(srcdb, w.setup_sql(engine))
    src.run(srcdb, marker_sql(engine, 1))
    together(lambda f=f: f.wait_marker(1, timeout) for f in followers)
    together(f.stop for f in followers)


def write_backlog(src, srcdb, w):
    """The workload, written while every follower is stopped, and marker 2
    after it; the seconds the writing took."""
    engine = src.engine
    t = time.time()
    if engine == "pg":
        # The writer's own commits need not wait for the disk: the WAL is
        # the same, and marker 2 is committed durably.
        src.run(srcdb, "SET synchronous_commit = off;\n" + w.sql(engine))
    else:
        src.set_flush(False)
        try:
            src.run(srcdb, w.sql(engine))
        finally:
            src.set_flush(True)
    write_s = time.time() - t
    src.run(srcdb, marker_sql(engine, 2))
    return write_s


def together(calls):
    """Run the calls at once (they wait on servers and processes), re-raise
    the first failure. Only set-up steps run this way, never a timed one."""
    calls = list(calls)
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as ex:
        for fut in [ex.submit(c) for c in calls]:
            fut.result()


def base_record(method, label, kind, w, engine, target, rep):
    return {"method": method, "label": label, "kind": kind, "workload": w.key,
            "source": engine, "target": target, "rep": rep, "events": w.events,
            "loadavg": loadavg()}


def time_follower(ctx, f, w, engine, rep, want, write_s):
    rec = base_record(f.key, f.label, f.kind, w, engine, f.dst.engine, rep)
    rec["backlog_write_s"] = write_s
    t0 = time.time()
    try:
        f.resume()
        seen = f.wait_marker(2, ctx.timeout)
        rec.update(f.at_caught_up())
        rec["seconds"] = seen - t0
        rec["rate"] = w.events / rec["seconds"]
        # Checked while the follower still runs: the target must hold
        # everything when the clock stops, not only after a graceful stop.
        got = aggregates(f.dst, f.target_db(), f.qtable("products"))
        rec["verified"] = got == want
        if got != want:
            rec["error"] = f"target differs from source when the marker arrived: {got} != {want}"
    except (BenchError, subprocess.TimeoutExpired) as e:
        rec["error"] = f"{e}\n{f.diagnose()}"
    try:
        rec.update(f.stop())
    except BenchError as e:
        rec.setdefault("error", str(e))
    # CPU per event: the process's user + system time (all its threads)
    # from its launch to the moment it caught up, from /proc/PID/stat.
    if "cpu_s" in rec and "rate" in rec:
        rec["cpu_us_per_event"] = rec["cpu_s"] * 1e6 / w.events
    shown = (f"{rec['rate']:,.0f} rows/s in {rec['seconds']:.2f} s" if "rate" in rec
             else "FAILED")
    log(f"  {f.label}: {shown}" + (f"; {rec['cpu_us_per_event']:.1f} µs CPU/event"
                                   if "cpu_us_per_event" in rec else "")
        + ("" if rec.get("verified", False) else f"  [{rec.get('error', '')[:300]}]"))
    return rec


def timed_process(argv, stdout=subprocess.DEVNULL, timeout=3600, env=None):
    t0 = time.time()
    p = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout,
                       env=env)
    secs = time.time() - t0
    if p.returncode != 0:
        raise BenchError(f"{argv[0]} exited {p.returncode}: {p.stderr[-2000:]}")
    return secs, p


def read_ceiling(ctx, src, engine, srcdb, w, rep, start, end, slot):
    """The source's own reader over the same log range: pg_recvlogical
    through pgoutput (protocol 2, streaming on, as dbstreams asks), or
    mariadb-binlog reading from the server and decoding the rows."""
    if engine == "pg":
        rec = base_record("pg_recvlogical", "pg_recvlogical (PG read ceiling)", "reference", w,
                          engine, None, rep)
        argv = ["pg_recvlogical", "-h", src.host, "-p", str(src.port), "-U", src.user, "-d",
                srcdb, "--slot", slot, "--start", "--endpos", end, "--no-loop", "-o",
                "proto_version=2", "-o", "publication_names=bench_pub", "-o", "streaming=on",
                "-f", "/dev/null"]
    else:
        rec = base_record("mysqlbinlog", "mariadb-binlog (MariaDB read ceiling)", "reference",
                          w, engine, None, rep)
        logs = [line.split("\t")[0] for line in src.run(None, "SHOW BINARY LOGS").splitlines()]
        files = logs[logs.index(start[0]):logs.index(end[0]) + 1]
        argv = ["mariadb-binlog", "--no-defaults", "--read-from-remote-server",
                f"--host={src.host}", f"--port={src.port}", "--user=root",
                f"--start-position={start[1]}", f"--stop-position={end[1]}",
                "--base64-output=decode-rows", "--verbose", *files]
    try:
        secs, _ = timed_process(argv, timeout=ctx.timeout)
        rec["seconds"], rec["rate"] = secs, w.events / secs
        log(f"  {rec['label']}: {rec['rate']:,.0f} rows/s in {secs:.2f} s")
    except (BenchError, subprocess.TimeoutExpired) as e:
        rec["error"] = str(e)
        log(f"  {rec['label']}: FAILED {e}")
    return rec


def bulk_references(ctx, src, srcdb, w, rep):
    """The targets' bulk-load ceilings on the rows of (a): COPY in one
    statement, COPY in 1000-row statements (one transaction), LOAD DATA
    LOCAL INFILE, and pgloader MariaDB → PostgreSQL. Each into an empty
    table in a database of its own on the target servers."""
    dpg, dmy = ctx.dst.pg, ctx.dst.my
    tsv = os.path.join(ctx.workdir, "rows.tsv")
    with open(tsv, "w") as out:
        p = subprocess.run(src.argv(srcdb, "-e", "SELECT * FROM products ORDER BY id"),
                           stdout=out, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise BenchError(f"exporting the rows failed: {p.stderr}")
    n = w.events
    recs = []
    pg_products = PG_DDL.split(";")[0] + ";"
    my_products = MY_DDL.split(";")[0] + ";"
    clock_pg = "SELECT extract(epoch from clock_timestamp());\n"
    clock_my = "SELECT UNIX_TIMESTAMP(SYSDATE(6));\n"

    def measure(method, label, server, db, make, load, table="products"):
        rec = base_record(method, label, "reference", w, "my", server.engine, rep)
        try:
            server.create_db(db)
            server.run(db, make)
            secs = load(db, rec)
            count = int(server.run(db, f"SELECT count(*) FROM {table}").split()[0])
            if count != n:
                raise BenchError(f"{label}: {count} rows loaded, expected {n}")
            rec["seconds"], rec["rate"], rec["verified"] = secs, n / secs, True
            log(f"  {label}: {rec['rate']:,.0f} rows/s in {secs:.2f} s")
        except (BenchError, subprocess.TimeoutExpired, ValueError) as e:
            rec["error"] = str(e)
            log(f"  {label}: FAILED {e}")
        finally:
            try:
                server.drop_db(db)
            except BenchError:
                pass
        recs.append(rec)
        return rec

    def two_clocks(out):
        nums = [float(x) for x in out.split()]
        return nums[-1] - nums[0]

    measure("copy_one", "COPY, one statement", dpg, f"r_copy{rep}", pg_products,
            lambda db, rec: two_clocks(dpg.run(db, f"{clock_pg}\\copy products FROM '{tsv}'\n"
                                              f"{clock_pg}", timeout=ctx.timeout)))

    script = os.path.join(ctx.workdir, "copy1000.sql")
    with open(tsv) as fin, open(script, "w") as fout:
        fout.write(clock_pg + "BEGIN;\n")
        lines = fin.readlines()
        for i in range(0, len(lines), 1000):
            fout.write("COPY products FROM STDIN;\n")
            fout.writelines(lines[i:i + 1000])
            fout.write("\\.\n")
        fout.write("COMMIT;\n" + clock_pg)
        del lines

    def copy1000(db, rec):
        p = subprocess.run(dpg.argv(db, "-f", script), capture_output=True, text=True,
                           timeout=ctx.timeout)
        if p.returncode != 0:
            raise BenchError(p.stderr[-2000:])
        return two_clocks(p.stdout)

    measure("copy_1000", "COPY, 1000-row statements in one transaction", dpg,
            f"r_copyk{rep}", pg_products, copy1000)
    os.unlink(script)

    measure("load_data", "LOAD DATA LOCAL INFILE", dmy, f"r_load{rep}", my_products,
            lambda db, rec: two_clocks(dmy.run(db, f"{clock_my}LOAD DATA LOCAL INFILE '{tsv}' "
                                              f"INTO TABLE products;\n{clock_my}",
                                          timeout=ctx.timeout)))

    def pgloader(db, rec):
        # pgloader creates the table itself, in a schema named after the
        # source database. Timed by its own report (its start-up, a few
        # seconds of loading its Lisp image, is left out); the wall time of
        # the whole command is kept too.
        argv = ["pgloader", "--no-ssl-cert-verification",
                f"mysql://root@{src.host}:{src.port}/{srcdb}",
                f"postgresql://{dpg.user}@{dpg.host}:{dpg.port}/{db}"]
        wall, p = timed_process(argv, stdout=subprocess.PIPE, timeout=ctx.timeout)
        rec["wall_s"] = wall
        for line in (p.stdout + p.stderr).splitlines():
            if "Total import time" in line:
                return parse_duration(line.split()[-1])
        raise BenchError("no 'Total import time' in pgloader's report")

    measure("pgloader", "pgloader MariaDB → PostgreSQL", dpg, f"r_pgl{rep}", "SELECT 1;",
            pgloader, table=pq(f"{srcdb}.products"))

    os.unlink(tsv)
    return recs


def parse_duration(text):
    """pgloader's durations: 1.234s, 1m2.345s, 1h2m3.4s."""
    total, num = 0.0, ""
    for ch in text:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in "hms":
            total += float(num) * {"h": 3600, "m": 60, "s": 1}[ch]
            num = ""
    return total
