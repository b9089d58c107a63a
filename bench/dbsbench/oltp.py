"""Steady OLTP load: sysbench oltp_write_only on the source while dbstreams
(default configuration, one `dbs-cli run` per direction) follows it, at
stepped rates, with a lag probe.

The probe: a writer session on the source commits one row into
bench_probe(id, src_ts) every 20 ms, each in its own transaction, and
reads the clock right after each COMMIT returns: that is the row's source
commit time. On the target a loop inside the server asks for max(id) of
the probe table every 2 ms and notes the clock just before each query
that shows new rows: the target commit time (when a reader of the target
first sees the row). Rows arrive in commit order, so every id up to the
maximum seen is there. Lag = target time - source time; both come from the
machine's one clock. The 2 ms poll adds 0-2 ms (1 ms on average)."""
import os
import re
import statistics
import subprocess
import time

from . import procs
from .db import BenchError
from .followers import Dbs, proc_cpu_seconds, proc_status_kb
from .util import log, loadavg, percentile
from .workloads import marker_sql

PROBE_EVERY = 0.02
POLL_EVERY = 0.002
DIRECTIONS = ["my-pg", "pg-pg", "my-my", "pg-my"]
MIN_RATE = 5  # tx/s: below it the search gives up


def sbtest_ddl(engine, tables):
    """sysbench's oltp table (ids given by the client: `run` names them)."""
    out = []
    for i in range(1, tables + 1):
        if engine == "pg":
            out.append(f"CREATE TABLE sbtest{i} (id integer NOT NULL, k integer DEFAULT 0 NOT "
                       "NULL, c char(120) DEFAULT '' NOT NULL, pad char(60) DEFAULT '' NOT NULL, "
                       f"PRIMARY KEY (id)); CREATE INDEX k_{i} ON sbtest{i}(k);")
        else:
            out.append(f"CREATE TABLE sbtest{i} (id int NOT NULL, k int DEFAULT 0 NOT NULL, "
                       "c char(120) DEFAULT '' NOT NULL, pad char(60) DEFAULT '' NOT NULL, "
                       f"PRIMARY KEY (id), KEY k_{i} (k)) ENGINE=InnoDB;")
    if engine == "pg":
        out.append("CREATE TABLE bench_probe (id bigint PRIMARY KEY, src_ts double precision);"
                   "CREATE TABLE bench_marker (id bigint PRIMARY KEY, at double precision);")
    else:
        out.append("CREATE TABLE bench_probe (id bigint PRIMARY KEY, src_ts double) "
                   "ENGINE=InnoDB; CREATE TABLE bench_marker (id bigint PRIMARY KEY, at double) "
                   "ENGINE=InnoDB;")
    return "\n".join(out) + "\n"


def fill_sql(engine, i, n):
    if engine == "pg":
        return (f"INSERT INTO sbtest{i} (id, k, c, pad) SELECT g, (g * 7919) % {n} + 1, "
                "rpad(g || '-', 119, '0123456789-'), rpad(g || '-', 59, 'abcdefghij-') "
                f"FROM generate_series(1, {n}) g;\n")
    return (f"INSERT INTO sbtest{i} (id, k, c, pad) SELECT seq, (seq * 7919) % {n} + 1, "
            "RPAD(CONCAT(seq, '-'), 119, '0123456789-'), RPAD(CONCAT(seq, '-'), 59, "
            f"'abcdefghij-') FROM seq_1_to_{n};\n")


def writer_sql(engine, lo, hi):
    """Commit probe rows lo..hi, one every PROBE_EVERY seconds; print each
    one's commit time (the clock right after its COMMIT returned)."""
    if engine == "pg":
        return f"""
DO $$
DECLARE t0 double precision := extract(epoch from clock_timestamp());
        ts double precision[] := '{{}}';
BEGIN
  FOR i IN {lo}..{hi} LOOP
    INSERT INTO bench_probe VALUES (i, extract(epoch from clock_timestamp()));
    COMMIT;
    ts := ts || extract(epoch from clock_timestamp());
    PERFORM pg_sleep(greatest(0, t0 + (i - {lo} + 1) * {PROBE_EVERY}
                                 - extract(epoch from clock_timestamp())));
  END LOOP;
  RAISE NOTICE 'committed %', array_to_string(ts, ' ');
END $$;
"""
    return f"""
SET SESSION group_concat_max_len = 16777216;
CREATE TEMPORARY TABLE bench_committed (id bigint PRIMARY KEY, at decimal(20,6)) ENGINE=MEMORY;
DELIMITER //
BEGIN NOT ATOMIC
  DECLARE t0 DOUBLE DEFAULT UNIX_TIMESTAMP(SYSDATE(6));
  DECLARE i BIGINT DEFAULT {lo};
  DECLARE d DOUBLE;
  WHILE i <= {hi} DO
    INSERT INTO bench_probe VALUES (i, UNIX_TIMESTAMP(SYSDATE(6)));
    INSERT INTO bench_committed VALUES (i, UNIX_TIMESTAMP(SYSDATE(6)));
    SET d = t0 + (i - {lo} + 1) * {PROBE_EVERY} - UNIX_TIMESTAMP(SYSDATE(6));
    IF d > 0 THEN DO SLEEP(d); END IF;
    SET i = i + 1;
  END WHILE;
END//
DELIMITER ;
SELECT CONCAT('committed ', GROUP_CONCAT(at ORDER BY id SEPARATOR ' ')) FROM bench_committed;
"""


def poller_sql(engine, qtable, lo, hi, limit_s):
    """Note when probe rows lo..hi become visible on the target; print the
    times, in id order. Gives up limit_s seconds after it starts."""
    if engine == "pg":
        # Arrays, not a table: the loop's transactions then take no xid and
        # write nothing; COMMIT releases each snapshot (no old xmin held).
        return f"""
DO $$
DECLARE last bigint := {lo - 1}; v bigint; t double precision; polls bigint := 0;
        t0 double precision := extract(epoch from clock_timestamp());
        deadline double precision := extract(epoch from clock_timestamp()) + {limit_s};
        seen double precision[] := '{{}}';
BEGIN
  LOOP
    t := extract(epoch from clock_timestamp());
    polls := polls + 1;
    EXECUTE 'SELECT max(id) FROM {qtable}' INTO v;
    IF v > last THEN
      FOR j IN last + 1 .. least(v, {hi}) LOOP
        seen := seen || t;
      END LOOP;
      last := v;
    END IF;
    COMMIT;
    EXIT WHEN last >= {hi} OR t > deadline;
    PERFORM pg_sleep({POLL_EVERY});
  END LOOP;
  RAISE NOTICE 'seen %', array_to_string(seen, ' ');
  RAISE NOTICE 'polls % %', polls, extract(epoch from clock_timestamp()) - t0;
END $$;
"""
    return f"""
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
SET SESSION group_concat_max_len = 16777216;
CREATE TEMPORARY TABLE bench_seen (id bigint PRIMARY KEY, at decimal(20,6)) ENGINE=MEMORY;
DELIMITER //
BEGIN NOT ATOMIC
  DECLARE last BIGINT DEFAULT {lo - 1};
  DECLARE v BIGINT;
  DECLARE t DECIMAL(20,6);
  DECLARE polls BIGINT DEFAULT 0;
  DECLARE t0 DECIMAL(20,6) DEFAULT UNIX_TIMESTAMP(SYSDATE(6));
  DECLARE deadline DOUBLE DEFAULT UNIX_TIMESTAMP(SYSDATE(6)) + {limit_s};
  poll: LOOP
    SET t = UNIX_TIMESTAMP(SYSDATE(6));
    SET polls = polls + 1;
    SELECT MAX(id) INTO v FROM {qtable};
    IF v > last THEN
      INSERT INTO bench_seen SELECT seq, t FROM seq_{lo}_to_{hi} WHERE seq > last AND seq <= v;
      SET last = v;
    END IF;
    IF last >= {hi} OR t > deadline THEN LEAVE poll; END IF;
    DO SLEEP({POLL_EVERY});
  END LOOP;
  SELECT CONCAT('polls ', polls, ' ', UNIX_TIMESTAMP(SYSDATE(6)) - t0);
END//
DELIMITER ;
SELECT CONCAT('seen ', COALESCE(GROUP_CONCAT(at ORDER BY id SEPARATOR ' '), '')) FROM bench_seen;
"""


def parse_times(path, word):
    with open(path) as f:
        text = f.read()
    m = re.search(word + r" ([-0-9.e ]*)", text)
    if not m:
        raise BenchError(f"no '{word}' line in {path}: {text[-500:]}")
    return [float(x) for x in m.group(1).split()]


def sysbench_argv(server, db, cfg, rate, seconds):
    argv = ["sysbench", "oltp_write_only", f"--tables={cfg['tables']}",
            f"--table-size={cfg['table_size']}", f"--threads={cfg['threads']}",
            f"--time={seconds}", f"--rate={int(rate)}", "--report-interval=0"]
    if server.engine == "pg":
        argv += ["--db-driver=pgsql", f"--pgsql-host={server.host}",
                 f"--pgsql-port={server.port}", f"--pgsql-user={server.user}",
                 "--pgsql-password=", f"--pgsql-db={db}"]
    else:
        argv += ["--db-driver=mysql", f"--mysql-host={server.host}",
                 f"--mysql-port={server.port}", "--mysql-user=root", "--mysql-password=",
                 f"--mysql-db={db}"]
    return argv + ["run"]


def parse_sysbench(text):
    out = {}
    m = re.search(r"transactions:\s+(\d+)\s+\(([\d.]+) per sec", text)
    if m:
        out["transactions"], out["tps"] = int(m.group(1)), float(m.group(2))
    m = re.search(r"write:\s+(\d+)", text)
    if m:
        out["writes"] = int(m.group(1))
    m = re.search(r"ignored errors:\s+(\d+)", text)
    if m:
        out["ignored_errors"] = int(m.group(1))
    if "tps" not in out or "writes" not in out:
        raise BenchError(f"sysbench output not understood:\n{text[-1500:]}")
    return out


def bounded(lags):
    """Lag is bounded when the median of the step's last quarter exceeds
    that of its first quarter by at most max(100 ms, half the first)."""
    q = max(1, len(lags) // 4)
    m1, m4 = statistics.median(lags[:q]), statistics.median(lags[-q:])
    return m4 - m1 <= max(0.1, 0.5 * m1), m1, m4


class Direction:
    def __init__(self, ctx, name):
        self.ctx, self.name = ctx, name
        se, de = name.split("-")
        self.src = ctx.src.pg if se == "pg" else ctx.src.my
        self.dst = ctx.dst.pg if de == "pg" else ctx.dst.my
        self.cfg = ctx.oltp
        self.srcdb = f"o_{se}{de}"
        self.tables = [f"sbtest{i}" for i in range(1, self.cfg["tables"] + 1)] + [
            "bench_probe", "bench_marker"]
        self.dbs = Dbs(self.src, self.dst, self.srcdb, f"o{se}{de}", ctx.workdir, ctx.cli,
                       self.tables)
        self.next_probe = 1
        self.marker = 1
        self.steps = []

    def setup(self):
        s = self.src
        s.create_db(self.srcdb)
        s.run(self.srcdb, sbtest_ddl(s.engine, self.cfg["tables"]))
        self.dbs.prepare()
        self.dbs.first_start()
        for i in range(1, self.cfg["tables"] + 1):
            s.run(self.srcdb, fill_sql(s.engine, i, self.cfg["table_size"]))
        s.run(self.srcdb, "INSERT INTO bench_probe VALUES (0, 0);\n")
        self.catch_up(self.ctx.timeout)

    def catch_up(self, timeout):
        self.marker += 1
        self.src.run(self.srcdb, marker_sql(self.src.engine, self.marker))
        self.dbs.wait_marker(self.marker, timeout)

    def step(self, rate, purpose):
        cfg, w = self.cfg, self.cfg["step_s"]
        n = int(round(w / PROBE_EVERY))
        lo, hi = self.next_probe, self.next_probe + n - 1
        self.next_probe = hi + 1
        tag = f"{self.name}.{len(self.steps)}"
        paths = {k: os.path.join(self.ctx.workdir, f"oltp.{tag}.{k}")
                 for k in ("poll.out", "poll.err", "write.out", "write.err")}
        files = {k: open(p, "w") for k, p in paths.items()}
        pid = self.dbs.proc.pid
        poller = writer = None
        rec = {"direction": self.name, "purpose": purpose, "rate_asked": rate or None,
               "probes": n, "loadavg": loadavg()}
        try:
            poller = procs.track(self.dst.popen(
                self.dbs.target_db(),
                poller_sql(self.dst.engine, self.dbs.qtable("bench_probe"), lo, hi,
                           w + cfg["drain_s"]),
                files["poll.out"], files["poll.err"]))
            time.sleep(0.5)  # the poller is polling before the first probe
            cpu0, t0 = proc_cpu_seconds(pid), time.time()
            writer = procs.track(self.src.popen(self.srcdb, writer_sql(self.src.engine, lo, hi),
                                                files["write.out"], files["write.err"]))
            sb = subprocess.run(sysbench_argv(self.src, self.srcdb, cfg, rate, w),
                                capture_output=True, text=True, timeout=w + 120)
            if sb.returncode != 0:
                raise BenchError(f"sysbench failed:\n{sb.stdout[-1500:]}\n{sb.stderr[-1500:]}")
            rec.update(parse_sysbench(sb.stdout))
            writer.wait(timeout=w + 120)
            procs.forget(writer)
            poller.wait(timeout=w + cfg["drain_s"] + 120)
            procs.forget(poller)
            cpu1, t1 = proc_cpu_seconds(pid), time.time()
            for k in files:
                files[k].close()
            if writer.returncode != 0 or poller.returncode != 0:
                raise BenchError("probe writer or poller failed: " + open(paths["write.err"]).read()
                                 + open(paths["poll.err"]).read())
            committed = parse_times(paths["write.err" if self.src.engine == "pg"
                                          else "write.out"], "committed")
            poll_out = paths["poll.err" if self.dst.engine == "pg" else "poll.out"]
            seen = parse_times(poll_out, "seen")
            polls, poll_s = parse_times(poll_out, "polls")
        except BaseException:
            for p in (writer, poller):
                if p is not None:
                    procs.kill(p)
            raise
        finally:
            for f in files.values():
                f.close()
        if len(committed) != n:
            raise BenchError(f"{len(committed)} probe commit times, expected {n}")
        # A probe the poller never saw counts with the lag it had when the
        # poller gave up: a lower bound, so the percentiles are too.
        lags = [s - c for s, c in zip(seen, committed)] + [t1 - c for c in committed[len(seen):]]
        events = rec["writes"] + n
        rec.update(events=events, cpu_s=cpu1 - cpu0, window_s=t1 - t0,
                   cpu_us_per_event=(cpu1 - cpu0) * 1e6 / events,
                   vm_rss_kb=proc_status_kb(pid, "VmRSS"), vm_hwm_kb=proc_status_kb(pid, "VmHWM"),
                   missing=n - len(seen), lags_lower_bounds=len(seen) < n,
                   events_per_s=events / w,
                   poll_interval_ms=poll_s * 1000 / polls)
        if lags:
            s = sorted(lags)
            ok, m1, m4 = bounded(lags)
            rec.update(lag_p50=percentile(s, 50), lag_p99=percentile(s, 99),
                       lag_max=s[-1], lag_first_quarter_p50=m1, lag_last_quarter_p50=m4,
                       bounded=ok and rec["missing"] == 0)
        else:
            rec["bounded"] = False
        asked = "max" if not rate else f"{rate:,.0f}"
        missing = f", {rec['missing']} probes missing" if rec["missing"] else ""
        log(f"  {self.name} {purpose}: {rec['tps']:,.0f} tx/s (asked {asked}), lag p50 "
            f"{fmt_ms(rec.get('lag_p50'))} p99 {fmt_ms(rec.get('lag_p99'))}, "
            f"{'bounded' if rec['bounded'] else 'NOT bounded'}{missing}; "
            f"{rec['cpu_us_per_event']:.1f} µs CPU/event")
        self.steps.append(rec)
        if rec["missing"]:
            # Behind: let the stream catch up before the next step.
            self.catch_up(max(self.ctx.timeout, 600))
        return rec

    def run(self):
        """The source's maximum (unthrottled), then the highest rate with
        bounded lag: halve the rate until the lag is bounded, then bisect
        `refine` times between that rate and the next unbounded one; then
        `reps` times each of 50% and 80% of it."""
        cfg = self.cfg
        top = self.step(0, "source maximum")
        rmax = top["tps"]
        rsus = None
        if top["bounded"]:
            rsus = rmax
        else:
            hi, lo, r = rmax, None, rmax / 2
            while r >= MIN_RATE:
                if self.step(r, "search")["bounded"]:
                    lo = r
                    break
                hi, r = r, r / 2
            if lo is not None:
                for _ in range(cfg["refine"]):
                    mid = (lo + hi) / 2
                    if self.step(mid, "search")["bounded"]:
                        lo = mid
                    else:
                        hi = mid
                rsus = lo
        out = {"direction": self.name, "source_max_tps": rmax,
               "bounded_at_source_max": top["bounded"], "highest_bounded_tps": rsus}
        if rsus:
            for _ in range(cfg["reps"]):
                for frac in (0.5, 0.8):
                    self.step(max(1, frac * rsus), f"{int(frac * 100)}%")
        return out

    def finish(self):
        """Catch up, check the target's tables against the source's, stop."""
        self.catch_up(max(self.ctx.timeout, 600))
        diffs = []
        for t in self.tables[:-2]:
            q = "SELECT count(*), coalesce(sum(id), 0), coalesce(sum(k), 0) FROM {};\n"
            # psql separates columns with |, mariadb with tabs.
            a = self.src.run(self.srcdb, q.format(t)).replace("|", " ").split()
            b = self.dst.run(self.dbs.target_db(),
                             q.format(self.dbs.qtable(t))).replace("|", " ").split()
            if a != b:
                diffs.append(f"{t}: source {a}, target {b}")
        pid = self.dbs.proc.pid
        hwm = proc_status_kb(pid, "VmHWM")
        stop = self.dbs.stop()
        res = {"vm_hwm_kb": hwm, "verified": not diffs, **stop}
        if diffs:
            res["error"] = "target differs from source after catching up: " + "; ".join(diffs)
            log(f"  {self.name}: {res['error']}")
        return res


def fmt_ms(v):
    return "-" if v is None else f"{v * 1000:.0f} ms"


def run(ctx):
    out = {"settings": dict(ctx.oltp, probe_every_s=PROBE_EVERY, poll_every_s=POLL_EVERY),
           "directions": []}
    for name in ctx.directions or DIRECTIONS:
        log(f"steady OLTP {name}: sysbench oltp_write_only, {ctx.oltp['threads']} threads, "
            f"{ctx.oltp['tables']} × {ctx.oltp['table_size']:,} rows, "
            f"{ctx.oltp['step_s']} s steps")
        d = Direction(ctx, name)
        res = {"direction": name}
        try:
            d.setup()
            res.update(d.run())
            res.update(d.finish())
        except (BenchError, subprocess.TimeoutExpired) as e:
            res["error"] = f"{e}\n{d.dbs.diagnose()}"
            log(f"  {name}: FAILED: {e}")
        finally:
            res["steps"] = d.steps
            try:
                d.dbs.cleanup()
            finally:
                d.src.drop_db(d.srcdb)
        out["directions"].append(res)
    return out
