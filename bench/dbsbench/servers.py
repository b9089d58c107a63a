"""The benchmark's servers: two sets started with tests/harness/servers, a
source set (PostgreSQL and MariaDB, server id 1) and a target set
(PostgreSQL and MariaDB, server id 2), all with durable commits."""
import os
import subprocess

from .db import BenchError, My, Pg

# Durable commits everywhere: PostgreSQL flushes its WAL at every commit
# (fsync, synchronous_commit, full_page_writes are PostgreSQL's defaults;
# the harness turns fsync off for the tests, so it is turned back on here);
# MariaDB flushes its redo log and its binlog at every commit. The sizes keep
# checkpoints and buffer pool evictions from dominating a 1M-row run.
PG_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "max_replication_slots": "20",
    "max_wal_senders": "20",
    # PostgreSQL 15's launcher starts subscription workers at most once per
    # wal_retrieve_retry_interval (5 s by default) across all subscriptions:
    # a subscription enabled right after another would wait for it.
    "wal_retrieve_retry_interval": "100ms",
}
MY_SETTINGS = {
    "innodb-flush-log-at-trx-commit": "1",
    "sync-binlog": "1",
    "innodb-buffer-pool-size": "512M",
    "innodb-log-file-size": "512M",
    "local-infile": "1",
    "max-connections": "300",
}


class ServerSet:
    def __init__(self, root, workdir, name, server_id):
        self.root, self.name, self.server_id = root, name, server_id
        self.dir = os.path.join(workdir, name)
        self.pg = self.my = None
        self.started = False

    def start(self):
        env = dict(os.environ)
        env["DBS_HARNESS_PG_EXTRA"] = " ".join(f"-c {k}={v}" for k, v in PG_SETTINGS.items())
        env["DBS_HARNESS_MYSQL_EXTRA"] = " ".join(
            [f"--{k}={v}" for k, v in MY_SETTINGS.items()] + [f"--server-id={self.server_id}"])
        harness = os.path.join(self.root, "tests", "harness", "servers")
        self.started = True
        p = subprocess.run([harness, "start", self.dir, "pg", "mysql"], env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise BenchError(f"starting the {self.name} servers failed:\n{p.stderr[-3000:]}")
        vals = {}
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                if line.startswith("export "):
                    k, _, v = line[len("export "):].strip().partition("=")
                    vals[k] = v.strip("'")
        self.pg = Pg("127.0.0.1", vals["DBS_TEST_PG_PORT"])
        self.my = My("127.0.0.1", vals["DBS_TEST_MYSQL_PORT"], vals.get("DBS_TEST_MYSQL_SOCKET"))
        self.check()

    def check(self):
        """Refuse to measure unless the durable settings are in force."""
        got = dict(line.split("|", 1) for line in self.pg.run(
            "postgres", "SELECT name, setting FROM pg_settings WHERE name IN "
                        "('fsync', 'synchronous_commit', 'full_page_writes')").split())
        if got != {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}:
            raise BenchError(f"{self.name} PostgreSQL is not durable: {got}")
        flush, sync, sid = self.my.run(
            None, "SELECT @@innodb_flush_log_at_trx_commit, @@sync_binlog, @@server_id").split()
        if (flush, sync, sid) != ("1", "1", str(self.server_id)):
            raise BenchError(f"{self.name} MariaDB settings wrong: flush {flush}, sync_binlog "
                             f"{sync}, server_id {sid}")

    def versions(self):
        return {"postgresql": self.pg.run("postgres", "SHOW server_version").strip(),
                "mariadb": self.my.run(None, "SELECT VERSION()").strip()}

    def stop(self):
        if not self.started:
            return
        self.started = False
        harness = os.path.join(self.root, "tests", "harness", "servers")
        subprocess.run([harness, "stop", self.dir], capture_output=True, text=True)
