#!/usr/bin/env python3
"""The secrets matrix: a marker password in every connection-string form a
user may write, and in the malformed ones drivers choke on and quote, as
source, as target and as hub; through dbs-server (role all, and the API
node of a cluster), dbs-cli verify and the server's own --nats. The marker,
and every piece of it a URI parser could cut it into, must appear in no
response, no metric, no log line and no error message.

Inputs: DBS_SERVER_BIN, DBS_CLI_BIN (meson) and the harness's DBS_TEST_*.
"""
import concurrent.futures
import json
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SERVER_BIN = os.environ.get("DBS_SERVER_BIN")
HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness", "servers")
CLI_BIN = os.environ.get("DBS_CLI_BIN")
ENV = {k: os.environ.get("DBS_TEST_" + k) for k in
       ("PG_HOST", "PG_PORT", "PG_USER", "MYSQL_HOST", "MYSQL_PORT", "MYSQL_SOCKET", "MYSQL_USER",
        "NATS_URL", "TMPDIR")}
UID = f"{os.getpid()}_{random.randrange(1 << 30)}"
# Letters only, twelve of them: no six in a row turn up by chance in a log.
rng = random.Random()
MARK = "".join(rng.choice(string.ascii_letters) for _ in range(12))
HALF = 6

failures = []
seen_text = []  # everything the user could see


def fail(msg):
    failures.append(msg)
    print(f"FAIL [secrets]: {msg}", file=sys.stderr, flush=True)


def note(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def leaks(text):
    """The marker, or any six of its characters in a row."""
    return [MARK[i:i + HALF] for i in range(len(MARK) - HALF + 1) if MARK[i:i + HALF] in text]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=body.encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read().decode(errors="replace")
            status = r.status
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        status = e.code
    seen_text.append(f"{method} {path} -> {status} {text}")
    return status, text


class Server:
    def __init__(self, tmp, name, args):
        self.port = free_port()
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SERVER_BIN, "--listen", f"127.0.0.1:{self.port}",
                                      "--log-level", "debug"] + args,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"dbs-server exited: {self.text()[-2000:]}")
            try:
                if http(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("dbs-server did not start")

    def text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("dbs-server did not stop within 60 s")
        if self.proc.returncode != 0:
            fail(f"dbs-server exited with {self.proc.returncode}")
        text = self.text()
        self.log.close()
        if "AddressSanitizer" in text or "runtime error:" in text:
            fail(f"sanitizer report: {text[-3000:]}")
        return text


def psql(db, sql, check=True):
    return subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", ENV["PG_HOST"],
                           "-p", ENV["PG_PORT"], "-U", ENV["PG_USER"], "-d", db, "-c", sql],
                          check=check, capture_output=True, text=True).stdout.strip()


def mysql(sql):
    subprocess.run(["mariadb", "-h", ENV["MYSQL_HOST"], "-P", ENV["MYSQL_PORT"], "--protocol=TCP",
                    "-u", ENV["MYSQL_USER"], "-e", sql], check=True, capture_output=True)


def pg_cases(h, p, role, db):
    """(label, connection) with the marker; the ones that must connect first."""
    m, a, b = MARK, MARK[:HALF], MARK[HALF:]
    return [
        ("pg uri", f"postgresql://{role}:{m}@{h}:{p}/{db}", True),
        ("pg key=value", f"host={h} port={p} user={role} password={m} dbname={db}", True),
        ("pg key = value", f"host={h} port={p} user={role} password = {m} dbname={db}", True),
        ("pg ?password=", f"postgresql://{role}@{h}:{p}/{db}?sslmode=disable&password={m}", True),
        ("pg quoted", f"host={h} port={p} user={role} password='{m}' dbname={db}", True),
        ("pg ?sslpassword=", f"postgresql://{role}@{h}:{p}/{db}?sslpassword={m}", False),
        ("pg bad %", f"postgresql://{role}:{a}%zz{b}@{h}:{p}/{db}", False),
        ("pg %00", f"postgresql://{role}:{m}%00@{h}:{p}/{db}", False),
        ("pg / in password", f"postgresql://{role}:{a}/{b}@{h}:{p}/{db}", False),
        ("pg @ in password", f"postgresql://{role}:{a}@{b}@{h}:{p}/{db}", False),
        ("pg [::1 typo", f"postgresql://{role}:{m}@[::1:{p}/{db}", False),
        ("pg bad port", f"postgresql://{role}:{m}@{h}:port/{db}", False),
        ("pg bad sslmode", f"postgresql://{role}:{m}@{h}:{p}/{db}?sslmode=bogus", False),
        ("pg bad option", f"host={h} port={p} password={m} bogus=1", False),
        ("pg unterminated quote", f"host={h} port={p} password='{m}", False),
        ("pg missing =", f"host={h} port={p} password={m} dbname", False),
        ("mysql dsn as pg", f"{role}:{m}@tcp({h}:{p})/{db}", False),
        ("pg wrong password", f"postgresql://{role}:{b}{a}@{h}:{p}/{db}", False),
        ("pg missing database", f"postgresql://{role}:{m}@{h}:{p}/nodb_{UID}", False),
        ("pg dbname uri", f"dbname=postgresql://{role}:{a}%zz{b}@{h}:{p}/{db}", False),
    ]


def mysql_cases(h, p, user, db):
    m, a, b = MARK, MARK[:HALF], MARK[HALF:]
    return [
        ("mysql dsn", f"{user}:{m}@tcp({h}:{p})/{db}", True),
        ("mysql @ in password", f"{user}:{a}@{b}@tcp({h}:{p})/{db}", False),
        ("mysql / in password", f"{user}:{a}/{b}@tcp({h}:{p})/{db}", False),
        ("mysql unclosed (", f"{user}:{m}@tcp({h}:{p}/{db}", False),
        ("mysql ?password=", f"{user}:{m}@tcp({h}:{p})/{db}?password={m}", False),
        ("mysql bad protocol", f"{user}:{m}@bogus({h}:{p})/{db}", False),
        ("pg uri as mysql", f"postgresql://{user}:{m}@{h}:{p}/{db}", False),
        ("mysql wrong password", f"{user}:{b}{a}@tcp({h}:{p})/{db}", False),
    ]


def wait_started(port, sid):
    deadline = time.monotonic() + 60
    st = {}
    while time.monotonic() < deadline:
        status, text = http(port, "GET", f"/api/v1/streams/{sid}/stat")
        if status != 200:
            fail(f"stat {sid}: {status} {text}")
            return {}
        st = json.loads(text)
        if st["source"]["status"] != "STARTING":
            return st
        time.sleep(0.1)
    fail(f"{sid} still STARTING")
    return st


def run_case(port, label, config, must_connect):
    status, text = http(port, "POST", "/api/v1/streams", json.dumps(config))
    if status != 200:
        # A form the configuration itself refuses: its message must be clean too.
        if status != 400:
            fail(f"{label}: POST answered {status}: {text}")
        return
    sid = json.loads(text)["data"]["id"]
    st = wait_started(port, sid)
    nodes = (st.get("source", {}).get("status"), st.get("target", {}).get("status"))
    if must_connect and "INIT FAILED" in nodes:
        fail(f"{label}: a valid connection string did not connect: {st}")
    if not must_connect and "INIT FAILED" not in nodes and "FAILED" not in nodes:
        fail(f"{label}: a broken connection string was not refused: {st}")
    for path in (f"/api/v1/streams/{sid}", f"/api/v1/streams/{sid}/stat",
                 f"/api/v1/streams/{sid}/source/metrics", f"/api/v1/streams/{sid}/target/metrics",
                 "/api/v1/streams", "/api/v1/streams/stat", "/metrics"):
        http(port, "GET", path)
    http(port, "DELETE", f"/api/v1/streams/{sid}")


def main():
    if not SERVER_BIN or not CLI_BIN:
        sys.exit("DBS_SERVER_BIN / DBS_CLI_BIN are not set: run through meson (scripts/test)")
    for k in ("PG_HOST", "PG_PORT", "PG_USER", "MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER"):
        if not ENV[k]:
            sys.exit(f"DBS_TEST_{k} is not set: run through scripts/test, which starts the servers")
    tmp = tempfile.mkdtemp(prefix="e2e-secrets.", dir=ENV["TMPDIR"] or None)
    role, db, mdb = f"sec_{UID}", f"dbs_sec_{UID}", f"dbs_sec_{UID}"
    myuser = f"sec{UID.replace('_', '')}"[:32]
    slots = []
    started = time.monotonic()
    try:
        psql("postgres", f"CREATE ROLE {role} LOGIN SUPERUSER REPLICATION PASSWORD '{MARK}' "
                         "IN ROLE dbs_password_users")
        psql("postgres", f'CREATE DATABASE "{db}" OWNER {role}')
        psql(db, "CREATE TABLE t (id int PRIMARY KEY)")
        mysql(f"CREATE DATABASE `{mdb}`; CREATE USER '{myuser}'@'%' IDENTIFIED BY '{MARK}'; "
              f"GRANT ALL ON *.* TO '{myuser}'@'%'")
        h, p = ENV["PG_HOST"], ENV["PG_PORT"]
        plain_pg = f"postgresql://{ENV['PG_USER']}@{h}:{p}/{db}"
        # A NATS server of its own: the API node below fills its control
        # stream, which other suites' nodes on the shared server would follow.
        own_nats = os.path.join(tmp, "nats")
        r = subprocess.run([HARNESS, "start", own_nats, "nats"], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"cannot start a NATS server of this test's own: {r.stderr[-500:]}")
        with open(os.path.join(own_nats, "env")) as f:
            nats_url = [ln.split("=", 1)[1].strip().strip("'") for ln in f
                        if ln.startswith("export DBS_TEST_NATS_URL=")][0]
        nats_host = nats_url.split("//", 1)[1]
        server = Server(tmp, "all", ["--state-dir", os.path.join(tmp, "state")])
        configs = []
        k = 0
        for label, conn, ok in pg_cases(h, p, role, db):
            for side in ("source", "target"):
                k += 1
                slot = f"sec_{UID}_{k}"
                slots.append(slot)
                src = conn if side == "source" else plain_pg
                tgt = conn if side == "target" else plain_pg
                c = {"source": {"type": "postgresql", "connection": src,
                                "settings": {"replicationSlotName": slot, "publicationName": slot},
                                "filter": {"tables": [{"name": "t"}]}},
                     "target": {"type": "postgresql", "connection": tgt}}
                configs.append((f"{label} as {side}", c, ok))
        for label, conn, ok in mysql_cases(ENV["MYSQL_HOST"], ENV["MYSQL_PORT"], myuser, mdb):
            k += 1
            slot = f"sec_{UID}_{k}"
            slots.append(slot)
            configs.append((f"{label} as target", {
                "source": {"type": "postgresql", "connection": plain_pg,
                           "settings": {"replicationSlotName": slot, "publicationName": slot},
                           "filter": {"tables": [{"name": "t"}]}},
                "target": {"type": "mysql", "connection": conn}}, ok))
        for label, url in [("nats token", f"nats://{MARK}@{nats_host}"),
                           ("nats user:password", f"nats://u:{MARK}@{nats_host}"),
                           ("nats list", f"nats://{nats_host},nats://u:{MARK[:HALF]}/{MARK[HALF:]}@{nats_host}")]:
            k += 1
            slot = f"sec_{UID}_{k}"
            slots.append(slot)
            configs.append((f"hub {label}", {
                "source": {"type": "postgresql", "connection": plain_pg,
                           "settings": {"replicationSlotName": slot, "publicationName": slot},
                           "filter": {"tables": [{"name": "t"}]}},
                "target": {"type": "postgresql", "connection": plain_pg},
                "hub": {"type": "nats", "url": url}}, None))
        # Four at a time: each waits for its databases.
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda case: run_case(server.port, case[0], case[1],
                                                case[2] if case[2] is not None else True),
                          configs))
        seen_text.append(server.stop())
        note(f"role all: {len(configs)} configurations in {time.monotonic() - started:.0f} s")

        # The API node shows what it hands out with the library's masker;
        # its own --nats URL carries a token.
        api = Server(tmp, "api", ["--role", "api", "--nats", f"nats://{MARK}@{nats_host}"])
        for label, c, _ in configs:
            status, text = http(api.port, "POST", "/api/v1/streams", json.dumps(c))
            if status == 200:
                sid = json.loads(text)["data"]["id"]
                http(api.port, "GET", f"/api/v1/streams/{sid}")
        seen_text.append(api.stop())

        # dbs-cli verify connects by itself: its errors are scrubbed too.
        def verify(case):
            label, c, ok = case
            if ok or "hub" in c:
                return
            path = os.path.join(tmp, f"verify-{abs(hash(label))}.json")
            with open(path, "w") as f:
                json.dump(c, f)
            r = subprocess.run([CLI_BIN, "verify", path], capture_output=True, text=True, timeout=120)
            seen_text.append(f"verify {label}: {r.returncode} {r.stdout} {r.stderr}")
            if r.returncode == 0:
                fail(f"verify {label}: succeeded")

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(verify, configs))
    finally:
        subprocess.run([HARNESS, "stop", os.path.join(tmp, "nats")], capture_output=True)
        for slot in slots:
            psql("postgres", f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                             f"WHERE slot_name = '{slot}' AND NOT active", check=False)
        psql("postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', check=False)
        psql("postgres", f"DROP ROLE IF EXISTS {role}", check=False)
        try:
            mysql(f"DROP DATABASE IF EXISTS `{mdb}`; DROP USER IF EXISTS '{myuser}'@'%'")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)
    for text in seen_text:
        found = leaks(text)
        if found:
            i = text.find(found[0])
            fail(f"the password shows ({found[0]!r}): ...{text[max(0, i - 200):i + 100]}...")
    note(f"{len(seen_text)} answers, logs and messages checked in {time.monotonic() - started:.0f} s")
    if failures:
        return 1
    note("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
