"""SQL clients: psql and mariadb run as subprocesses (no Python driver is
needed), with the script on stdin and errors raised with the server's
message."""
import subprocess


class BenchError(Exception):
    pass


def _check(proc, what, sql):
    if proc.returncode != 0:
        first = sql.strip().splitlines()[0][:200] if sql.strip() else ""
        raise BenchError(f"{what} failed (exit {proc.returncode}) running: {first}\n"
                         f"{proc.stderr.strip()[-2000:]}")


class Pg:
    """A PostgreSQL server on loopback, reached as the superuser postgres."""
    engine = "pg"

    def __init__(self, host, port, user="postgres"):
        self.host, self.port, self.user = host, int(port), user

    def argv(self, db, *extra):
        return ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.host,
                "-p", str(self.port), "-U", self.user, "-d", db, *extra]

    def run_full(self, db, sql, timeout=None):
        """Run a script; return (stdout, stderr). NOTICEs arrive on stderr."""
        p = subprocess.run(self.argv(db, "-f", "-"), input=sql, capture_output=True,
                           text=True, timeout=timeout)
        _check(p, f"psql on {db}", sql)
        return p.stdout, p.stderr

    def run(self, db, sql, timeout=None):
        return self.run_full(db, sql, timeout)[0]

    def popen(self, db, sql, stdout, stderr):
        """Start a script in the background; its output goes to the files."""
        p = subprocess.Popen(self.argv(db, "-f", "-"), stdin=subprocess.PIPE, stdout=stdout,
                             stderr=stderr, text=True)
        p.stdin.write(sql)
        p.stdin.close()
        return p

    def uri(self, db):
        return f"postgresql://{self.user}@{self.host}:{self.port}/{db}"

    def conninfo(self, db):
        return f"host={self.host} port={self.port} user={self.user} dbname={db}"

    def create_db(self, db):
        self.drop_db(db)
        self.run("postgres", f'CREATE DATABASE "{db}"')

    def drop_db(self, db):
        self.run("postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


class My:
    """A MariaDB server on loopback, reached as root without a password."""
    engine = "my"

    def __init__(self, host, port, socket=None):
        self.host, self.port, self.socket = host, int(port), socket

    def argv(self, db=None, *extra):
        a = ["mariadb", "--no-defaults", "-h", self.host, "-P", str(self.port), "-uroot", "-N",
             "-B", "--local-infile=1", "--default-character-set=utf8mb4", *extra]
        if db:
            a.append(db)
        return a

    def run_full(self, db, sql, timeout=None):
        p = subprocess.run(self.argv(db), input=sql, capture_output=True, text=True,
                           timeout=timeout)
        _check(p, f"mariadb on {db or '(no database)'}", sql)
        return p.stdout, p.stderr

    def run(self, db, sql, timeout=None):
        return self.run_full(db, sql, timeout)[0]

    def popen(self, db, sql, stdout, stderr):
        p = subprocess.Popen(self.argv(db), stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
                             text=True)
        p.stdin.write(sql)
        p.stdin.close()
        return p

    def dsn(self, db):
        """go-sql-driver form, as dbstreams takes it."""
        return f"root:@tcp({self.host}:{self.port})/{db}"

    def create_db(self, db):
        self.run(None, f"DROP DATABASE IF EXISTS `{db}`; "
                       f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")

    def drop_db(self, db):
        self.run(None, f"DROP DATABASE IF EXISTS `{db}`")

    def master_pos(self):
        f, pos = self.run(None, "SHOW MASTER STATUS").split("\t")[:2]
        return f, int(pos)

    def set_flush(self, durable):
        """Commit flushing of this server: durable (flush the redo log and the
        binlog at every commit) or relaxed (only while a backlog is written:
        what goes into the binlog is the same)."""
        if durable:
            self.run(None, "SET GLOBAL innodb_flush_log_at_trx_commit = 1, GLOBAL sync_binlog = 1")
        else:
            self.run(None, "SET GLOBAL innodb_flush_log_at_trx_commit = 0, GLOBAL sync_binlog = 0")


def pq(name):
    """A quoted PostgreSQL identifier, or schema.table with both quoted."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def mq(name):
    return ".".join("`" + part.replace("`", "``") + "`" for part in name.split("."))
