"""What follows a source: dbstreams (dbs-cli run, default configuration),
PostgreSQL's native subscription, a native MariaDB replica. Each can be
started at the source's current log end, stopped, and resumed where it
stopped, so a backlog can be written while it is stopped and its catch-up
timed."""
import json
import os
import re
import signal
import time

from . import procs
from .db import BenchError, mq, pq
from .workloads import parse_seen, wait_marker_sql

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid):
    """User + system CPU of a process and all its threads so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


class Follower:
    kind = "native"
    label = "?"
    key = "?"

    def __init__(self, src, dst, srcdb, tag, workdir):
        self.src, self.dst, self.srcdb, self.tag, self.workdir = src, dst, srcdb, tag, workdir

    # The table a reader of the target sees the rows in.
    def target_table(self, name):
        raise NotImplementedError

    def target_db(self):
        raise NotImplementedError

    def wait_marker(self, k, timeout):
        out, err = self.dst.run_full(self.target_db(), wait_marker_sql(
            self.dst.engine, self.qtable("bench_marker"), k, timeout), timeout=timeout + 30)
        return parse_seen(out, err)

    def qtable(self, name):
        t = self.target_table(name)
        return pq(t) if self.dst.engine == "pg" else mq(t)

    def prepare(self):
        """Make what the target needs before the first start."""

    def first_start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def resume(self):
        raise NotImplementedError

    def at_caught_up(self):
        """Figures taken the moment the target has everything."""
        return {}

    def after_stop(self):
        return {}

    def cleanup(self):
        pass

    def diagnose(self):
        return ""


class Dbs(Follower):
    """dbstreams in its default configuration, as `dbs-cli run CONFIG` (the
    stream in one process: source, memory hub, target). Only what a user
    must give is set: connections, the tables, and (PostgreSQL source) a
    slot and publication name of its own so two streams can read one
    database."""
    kind = "dbstreams"

    def __init__(self, src, dst, srcdb, tag, workdir, cli, tables, baseline=False):
        super().__init__(src, dst, srcdb, tag, workdir)
        self.cli, self.tables = cli, tables
        names = {"pg": "PG", "my": "My"}
        # A baseline is another build of dbs-cli (--baseline) timed in the
        # same trials, so that two builds compare under the same load.
        self.label = (f"dbstreams{' baseline' if baseline else ''} "
                      f"{names[src.engine]}→{names[dst.engine]}")
        self.key = f"{'base' if baseline else 'dbs'}_{src.engine}_{dst.engine}"
        self.tdb = f"t_{tag}"
        self.slot = f"dbs_{tag}"
        self.stream_id = None
        self.proc = None
        self.runs = 0
        self.cfg_path = os.path.join(workdir, f"{tag}.json")
        self.log_prefix = os.path.join(workdir, tag)

    def target_db(self):
        return self.tdb

    def target_table(self, name):
        if self.dst.engine == "my":
            return f"{self.tdb}.{name}"
        # A PostgreSQL target keeps the source's schema: the database name
        # of a MySQL source, the schema of a PostgreSQL one.
        return f"{self.srcdb if self.src.engine == 'my' else 'public'}.{name}"

    def config(self):
        if self.src.engine == "pg":
            source = {"type": "postgresql", "connection": self.src.uri(self.srcdb),
                      "settings": {"replicationSlotName": self.slot,
                                   "publicationName": self.slot}}
        else:
            source = {"type": "mysql", "connection": self.src.dsn(self.srcdb)}
        source["filter"] = {"tables": [{"name": t} for t in self.tables]}
        if self.dst.engine == "pg":
            target = {"type": "postgresql", "connection": self.dst.uri(self.tdb)}
        else:
            target = {"type": "mysql", "connection": self.dst.dsn(self.tdb)}
        return {"source": source, "target": target}

    def prepare(self):
        self.dst.create_db(self.tdb)
        with open(self.cfg_path, "w") as f:
            json.dump(self.config(), f, indent=2)

    def _launch(self):
        self.runs += 1
        argv = [self.cli, "run"]
        if self.stream_id:
            argv += ["--id", self.stream_id]
        argv.append(self.cfg_path)
        self.err_path = f"{self.log_prefix}.{self.runs}.err"
        self.out_path = f"{self.log_prefix}.{self.runs}.out"
        out, err = open(self.out_path, "w"), open(self.err_path, "w")
        # Its own session: a Ctrl-C at the terminal reaches the benchmark,
        # which stops the stream itself.
        self.proc = procs.spawn(argv, stdout=out, stderr=err, start_new_session=True)
        out.close()
        err.close()
        self.t_launch = time.time()

    def _wait_ready(self, timeout=60):
        # READY shows in the library's log line or in dbs-cli's stat line;
        # the id in dbs-cli's own "stream ID started".
        deadline = time.time() + timeout
        started = re.compile(r"dbs-cli: stream (\S+) started")
        ready = re.compile(r"(stream \S+: .* READY|source (READY|RUNNING))")
        while time.time() < deadline:
            with open(self.err_path) as f:
                err = f.read()
            with open(self.out_path) as f:
                out = f.read()
            m = started.search(err)
            if m and (ready.search(err) or ready.search(out)):
                if self.stream_id is None:
                    self.stream_id = m.group(1)
                return
            if self.proc.poll() is not None:
                raise BenchError(f"{self.label}: dbs-cli exited ({self.proc.returncode}) before "
                                 f"READY:\n{self.diagnose()}")
            time.sleep(0.02)
        raise BenchError(f"{self.label}: not READY after {timeout} s:\n{self.diagnose()}")

    def first_start(self):
        self._launch()
        self._wait_ready()

    def resume(self):
        # No wait for READY: the backlog is already in the source's log and
        # the stream resumes from its checkpoint; the clock runs from the
        # launch.
        self._launch()

    def at_caught_up(self):
        pid = self.proc.pid
        return {"cpu_s": proc_cpu_seconds(pid), "vm_hwm_kb": proc_status_kb(pid, "VmHWM"),
                "wall_since_launch_s": time.time() - self.t_launch}

    def stop(self):
        """Stop gracefully (SIGINT, as Ctrl-C) and wait; the child's rusage
        gives its total CPU and its peak RSS."""
        p = self.proc
        if p is None:
            return {}
        try:
            os.kill(p.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        status, ru = procs.wait4(p, 120)
        self.proc = None
        if status is None:
            raise BenchError(f"{self.label}: dbs-cli did not stop within 120 s")
        code = os.waitstatus_to_exitcode(status)
        res = {"exit": code}
        if ru is not None:
            # ru_maxrss is kept for reference only: the kernel carries the
            # forking Python's peak over the exec, so VmHWM (read while the
            # process runs) is the figure reported.
            res.update(cpu_total_s=ru.ru_utime + ru.ru_stime, ru_maxrss_kb=ru.ru_maxrss)
        if code != 0:
            raise BenchError(f"{self.label}: dbs-cli exited {code}:\n{self.diagnose()}")
        return res

    def diagnose(self):
        text = []
        for path in (getattr(self, "err_path", None), getattr(self, "out_path", None)):
            if path and os.path.exists(path):
                with open(path) as f:
                    text.append(f"--- {path}\n" + "".join(f.readlines()[-15:]))
        return "\n".join(text)

    def cleanup(self):
        if self.proc is not None:
            procs.kill(self.proc)
            self.proc = None
        if self.src.engine == "pg":
            drop_slot(self.src, self.srcdb, self.slot)
        self.dst.drop_db(self.tdb)


def drop_slot(pg, db, slot, timeout=30):
    """Drop a replication slot once no walsender holds it."""
    deadline = time.time() + timeout
    while True:
        active = pg.run("postgres", "SELECT coalesce(bool_or(active), false) FROM "
                        f"pg_replication_slots WHERE slot_name = '{slot}'").strip()
        if active != "t":
            break
        if time.time() > deadline:
            pg.run("postgres", "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                               f"WHERE slot_name = '{slot}' AND active")
        time.sleep(0.1)
    pg.run("postgres", "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                       f"WHERE slot_name = '{slot}'")


class PgSubscription(Follower):
    """PostgreSQL's own logical replication: a subscription on the target
    server to a publication of the source's tables, with the
    subscription's synchronous_commit on (durable at every commit, like
    the target's other writers) or at its default, off."""

    def __init__(self, src, dst, srcdb, tag, workdir, sync, ddl):
        super().__init__(src, dst, srcdb, tag, workdir)
        self.sync, self.ddl = sync, ddl
        self.label = ("native PG subscription, synchronous_commit on" if sync == "on" else
                      "native PG subscription, synchronous_commit off (default)")
        self.key = f"native_pg_sub_sync_{sync}"
        self.tdb = f"t_{tag}"
        self.sub = f"sub_{tag}"

    def target_db(self):
        return self.tdb

    def target_table(self, name):
        return f"public.{name}"

    def prepare(self):
        self.dst.create_db(self.tdb)
        self.dst.run(self.tdb, self.ddl)

    def first_start(self):
        # The slot is made by CREATE SUBSCRIPTION, at the source's log end.
        self.dst.run(self.tdb, f"CREATE SUBSCRIPTION {self.sub} CONNECTION "
                               f"'{self.src.conninfo(self.srcdb)}' PUBLICATION bench_pub WITH "
                               f"(copy_data = false, synchronous_commit = '{self.sync}')")

    def stop(self):
        self.dst.run(self.tdb, f"ALTER SUBSCRIPTION {self.sub} DISABLE")
        deadline = time.time() + 60
        while time.time() < deadline:
            workers = self.dst.run(self.tdb, "SELECT count(pid) FROM pg_stat_subscription WHERE "
                                             f"subname = '{self.sub}'").strip()
            active = self.src.run("postgres", "SELECT count(*) FROM pg_replication_slots WHERE "
                                              f"slot_name = '{self.sub}' AND active").strip()
            if workers == "0" and active == "0":
                return {}
            time.sleep(0.05)
        raise BenchError(f"{self.label}: still running 60 s after DISABLE")

    def resume(self):
        self.dst.run(self.tdb, f"ALTER SUBSCRIPTION {self.sub} ENABLE")

    def cleanup(self):
        try:
            self.dst.run(self.tdb, f"ALTER SUBSCRIPTION {self.sub} DISABLE; "
                                   f"DROP SUBSCRIPTION {self.sub}")
        except BenchError:
            pass
        drop_slot(self.src, self.srcdb, self.sub)
        self.dst.drop_db(self.tdb)

    def diagnose(self):
        try:
            return self.dst.run(self.tdb, "SELECT * FROM pg_stat_subscription")
        except BenchError as e:
            return str(e)


class MyReplica(Follower):
    """A native MariaDB replica: the target MariaDB replicating from the
    source by binlog file and position, single SQL thread (the default),
    flushing its redo log at every commit."""
    label = "native MariaDB replica"
    key = "native_my_replica"

    def __init__(self, src, dst, srcdb, tag, workdir, ddl):
        super().__init__(src, dst, srcdb, tag, workdir)
        self.ddl = ddl

    def target_db(self):
        return self.srcdb

    def target_table(self, name):
        return f"{self.srcdb}.{name}"

    def prepare(self):
        # The replica applies into the source's database name.
        self.dst.create_db(self.srcdb)
        self.dst.run(self.srcdb, self.ddl)

    def first_start(self):
        f, pos = self.src.master_pos()
        self.dst.run(None, f"STOP SLAVE; RESET SLAVE ALL; CHANGE MASTER TO "
                           f"MASTER_HOST = '{self.src.host}', MASTER_PORT = {self.src.port}, "
                           f"MASTER_USER = 'root', MASTER_PASSWORD = '', "
                           f"MASTER_LOG_FILE = '{f}', MASTER_LOG_POS = {pos}, "
                           f"MASTER_USE_GTID = no; START SLAVE")

    def stop(self):
        self.dst.run(None, "STOP SLAVE")
        return {}

    def resume(self):
        self.dst.run(None, "START SLAVE")

    def cleanup(self):
        self.dst.run(None, "STOP SLAVE; RESET SLAVE ALL")
        self.dst.drop_db(self.srcdb)

    def diagnose(self):
        try:
            return self.dst.run(None, "SHOW SLAVE STATUS\\G")
        except BenchError as e:
            return str(e)
