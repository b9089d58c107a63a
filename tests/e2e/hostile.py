#!/usr/bin/env python3
"""Hostile requests against dbs-server (the ASan build under meson).

Everything an attacker on the same machine, or a page in the operator's
browser, can send: deep and broken JSON, wrong types for every option,
huge and chunked bodies, every method on every route, odd paths, ids and
query strings, long and broken headers, idle and trickling connections,
stream creation against a database that never answers, create, stop and
resume from many threads, twenty clients creating one new name at once,
?file= pointing through a symbolic link, at a FIFO or past a %00, and
requests while the server starts. Every answer must be an expected 4xx/5xx
in the {"status":"error","message":...} shape (or a success), /healthz
must answer within a second throughout (asked from another client
address, as the per-client limit is per address), and the server must exit
cleanly with no sanitizer report.

Inputs: DBS_SERVER_BIN (meson), the harness's DBS_TEST_PG_* and
DBS_TEST_NATS_URL (a stream that resumes must keep its hub).
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SERVER_BIN = os.environ.get("DBS_SERVER_BIN")
TMP_ROOT = os.environ.get("DBS_TEST_TMPDIR") or tempfile.gettempdir()
HEALTH_SRC = "127.0.0.2"  # the prober's own client address
ATTACKER = "127.0.0.1"
UID = f"{os.getpid()}_{random.randrange(1 << 30)}"

failures = []
counts = {"requests": 0}


def fail(msg):
    failures.append(msg)
    print(f"FAIL [hostile]: {msg}", file=sys.stderr, flush=True)


STARTED = time.monotonic()


def note(msg):
    print(f"# [{time.monotonic() - STARTED:6.1f}] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- a small HTTP client over raw sockets: we choose every byte ----

class Answer:
    def __init__(self, status, headers, body, raw):
        self.status, self.headers, self.body, self.raw = status, headers, body, raw

    def json(self):
        return json.loads(self.body)


def parse_answer(raw, head=False):
    if not raw:
        return None
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return Answer(None, {}, b"", raw)
    lines = raw[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        status = None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return Answer(status, headers, raw[end + 4:], raw)


def send_raw(port, data, src=ATTACKER, timeout=15.0, half_close=True):
    """Send bytes, read until the server closes; the parsed answer or None."""
    counts["requests"] += 1
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))
    try:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before it has read it all
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            chunks.append(b)
        return parse_answer(b"".join(chunks))
    finally:
        s.close()


def request(port, method, path, body=None, headers=None, src=ATTACKER, timeout=15.0):
    h = {"Host": f"127.0.0.1:{port}"}
    if body is not None:
        h["Content-Type"] = "application/json"
        h["Content-Length"] = str(len(body))
    h.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in h.items() if v is not None) + "\r\n"
    data = head.encode("latin-1") + (body if isinstance(body, bytes) else (body or "").encode())
    return send_raw(port, data, src=src, timeout=timeout)


def check_answer(a, allowed, what, head=False):
    """An allowed status; 4xx/5xx in the error shape; HEAD without body."""
    if a is None or a.status is None:
        fail(f"{what}: no HTTP answer ({a.raw[:200] if a else b''!r})")
        return None
    if a.status not in allowed:
        fail(f"{what}: HTTP {a.status}, expected one of {sorted(allowed)}: {a.body[:300]!r}")
    if head:
        if a.body:
            fail(f"{what}: HEAD answered with a body: {a.body[:100]!r}")
        return a
    if a.status >= 400:
        if not a.headers.get("content-type", "").startswith("application/json"):
            fail(f"{what}: HTTP {a.status} not JSON: {a.headers} {a.body[:200]!r}")
        try:
            j = a.json()
            if j.get("status") != "error" or not isinstance(j.get("message"), str) or not j["message"]:
                fail(f"{what}: not the error shape: {a.body[:200]!r}")
        except ValueError:
            fail(f"{what}: HTTP {a.status} body is not JSON: {a.body[:200]!r}")
    if "access-control-allow-origin" in a.headers:
        fail(f"{what}: CORS header {a.headers['access-control-allow-origin']}")
    if a.headers.get("x-content-type-options") != "nosniff":
        fail(f"{what}: no X-Content-Type-Options: nosniff")
    return a


# ---- the server ----

class Server:
    def __init__(self, tmp, name, args, port=None):
        self.port = port or free_port()
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [SERVER_BIN, "--listen", f"127.0.0.1:{self.port}", "--log-level", "debug"] + args,
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait_healthy(self, secs=30):
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"dbs-server exited with {self.proc.returncode}: {self.tail()}")
            try:
                a = request(self.port, "GET", "/healthz", src=HEALTH_SRC, timeout=2)
                if a and a.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"dbs-server did not answer /healthz: {self.tail()}")

    def tail(self, n=40):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode(errors="replace")

    def text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, what):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail(f"{what}: dbs-server did not exit within 60 s of SIGTERM")
        if self.proc.returncode != 0:
            fail(f"{what}: dbs-server exited with {self.proc.returncode}: {self.tail()}")
        text = self.text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior"):
            if marker in text:
                fail(f"{what}: sanitizer report in the server log: {self.tail(60)}")
                break
        self.log.close()


class HealthMonitor(threading.Thread):
    """/healthz from another client address, ten times a second."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop_flag = threading.Event()
        self.worst = 0.0
        self.samples = 0
        self.bad = []

    def run(self):
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            try:
                a = request(self.port, "GET", "/healthz", src=HEALTH_SRC, timeout=5)
                ok = a is not None and a.status == 200
            except OSError as e:
                ok, a = False, e
            took = time.monotonic() - t0
            self.samples += 1
            self.worst = max(self.worst, took)
            if not ok or took > 1.0:
                self.bad.append((round(time.monotonic() - STARTED, 1), round(took, 3),
                                 a.status if isinstance(a, Answer) else repr(a)[:120]))
            self.stop_flag.wait(0.1)


# ---- the cases ----

def dead_port_config(extra=None, port=None):
    port = port or DEAD
    c = {"source": {"type": "postgresql", "connection": f"host=127.0.0.1 port={port} dbname=x",
                    "settings": {"replicationSlotName": "s", "publicationName": "p"}},
         "target": {"type": "postgresql", "connection": f"host=127.0.0.1 port={port} dbname=y"}}
    c.update(extra or {})
    return c


def blackhole_config(name=None):
    conn = f"host=127.0.0.1 port={BLACKHOLE} dbname=x connect_timeout=3"
    c = {"source": {"type": "postgresql", "connection": conn},
         "target": {"type": "postgresql", "connection": conn}}
    if name:
        c["name"] = name
    return c


def post(port, config, query="", src=ATTACKER, allowed=(200,), what="POST"):
    body = config if isinstance(config, (bytes, str)) else json.dumps(config)
    a = request(port, "POST", "/api/v1/streams" + query, body=body, src=src)
    return check_answer(a, set(allowed), what)


def case_bad_json(port):
    deep_array = "[" * 700 + "]" * 700
    deep_object = '{"source":' * 600 + "1" + "}" * 600
    deep_name = '{"name":"x","source":' + "[" * 5000 + "]" * 5000 + "}"
    for body, what in [(deep_array, "700 nested arrays"), (deep_object, "600 nested objects"),
                       (deep_name, "5000 nested arrays after a name")]:
        a = post(port, body, allowed=(400,), what=what)
        if a and "nested deeper" not in a.json().get("message", ""):
            fail(f"{what}: {a.body[:200]!r}")
    for body in ["{", "{\"source\":", "[]", "null", "0", "\"x\"", "{}x", "\ufeff{}", "{\"a\":1,}",
                 "{\"source\":{\"type\":\"postgresql\",\"connection\":\"a\\u0000b\"}}",
                 "{\"source\":\"\\ud800\"}", "{\"a\":1e999999}", "{\"a\":-}", "{\"a\":tru}",
                 "\x00\x01\x02", "{" + "\"k\":1," * 5000 + "\"k\":1}"]:
        post(port, body, allowed=(400,), what=f"bad JSON {body[:30]!r}")
    post(port, b"\xff\xfe{\"source\":1}\xc3\x28", allowed=(400,), what="invalid UTF-8")
    post(port, b"{\"source\":{\"type\":\"postgresql\",\"connection\":\"\x00\"}}", allowed=(400,),
         what="raw NUL in JSON")


TEMPLATE = {
    "name": "n",
    "source": {
        "type": "postgresql", "mode": "cdc", "connection": "host=127.0.0.1 port=1",
        "initialLoad": False, "dataBundleSize": 100, "reportingInterval": 0,
        "settings": {"sslCA": "a", "sslCert": "b", "sslKey": "c", "replicationSlotName": "s",
                     "publicationName": "p"},
        "filter": {"tables": [{"name": "t", "operations": ["insert"]}]},
    },
    "target": {
        "type": "postgresql", "connection": "host=127.0.0.1 port=1", "reportingInterval": 0,
        "settings": {"sslCA": "a", "sslCert": "b", "sslKey": "c"},
        "options": {"noCreateTables": False, "zeroDates": "fail", "deadLetterTable": "dl",
                    "tables": [{"name": "t", "noCreateIndexes": False}]},
    },
    "limits": {"numberOfEvents": 0, "elapsedTime": 0},
    "hub": {"type": "memory", "capacity": 64},
    "reconnect": {"giveUpAfter": 300},
}
WRONG = [123, -1, 1.5, "text", True, None, [], [1, "x"], {}, {"x": 1}]


def same_kind(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return True
    return type(a) is type(b)


def leaves(node, path):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + [k])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, path + [i])


def case_wrong_types(port):
    n = 0
    for path, value in leaves(TEMPLATE, []):
        if not path:
            continue
        for wrong in WRONG:
            if same_kind(wrong, value):
                continue
            c = json.loads(json.dumps(TEMPLATE))
            node = c
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = wrong
            text = ".".join(str(p) for p in path)
            a = post(port, c, allowed=(400,), what=f"{text} = {wrong!r}")
            n += 1
            if a and a.status == 400:
                msg = a.json()["message"]
                key = [p for p in path if isinstance(p, str)][-1]
                if not msg.startswith(path[0]) or key not in msg:
                    fail(f"{text} = {wrong!r}: message does not name the key: {msg}")
    # Out of range and unknown keys too.
    for patch in [{"limits": {"numberOfEvents": -1}}, {"limits": {"elapsedTime": 1e30}},
                  {"hub": {"capacity": 0}}, {"unknown": 1}, {"source": {"type": "oracle"}}]:
        c = json.loads(json.dumps(TEMPLATE))
        for k, v in patch.items():
            if isinstance(v, dict) and isinstance(c.get(k), dict):
                c[k].update(v)
            else:
                c[k] = v
        post(port, c, allowed=(400,), what=f"out of range {patch}")
        n += 1
    note(f"wrong types: {n} configurations refused")


ROUTES = ["/healthz", "/metrics", "/api/v1/streams", "/api/v1/streams/stat",
          "/api/v1/streams/source/metrics", "/api/v1/streams/target/metrics",
          "/api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM",
          "/api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM/stat",
          "/api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM/source/metrics", "/nowhere", "/"]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
           "PROPFIND", "FOO"]


def case_methods(port):
    for route in ROUTES:
        for m in METHODS:
            body = None if m in ("GET", "HEAD", "OPTIONS", "TRACE", "CONNECT") else "{}"
            a = request(port, m, route, body=body,
                        headers={"Origin": None} if m != "OPTIONS" else
                        {"Access-Control-Request-Method": "DELETE"})
            check_answer(a, {200, 400, 404, 405, 501, 415}, f"{m} {route}", head=(m == "HEAD"))
            if a and m == "HEAD" and a.status == 200 and "content-length" not in a.headers:
                fail(f"HEAD {route}: no Content-Length")
    # HEAD of a GET route says what GET would send.
    a = request(port, "HEAD", "/healthz")
    check_answer(a, {200}, "HEAD /healthz", head=True)
    if a and a.headers.get("content-length") != "15":
        fail(f"HEAD /healthz: Content-Length {a.headers.get('content-length')}")


def case_paths(port):
    odd = ["//", "/api//v1/streams", "/api/v1/streams/../../healthz", "/api/v1/streams/%2e%2e/stat",
           "/healthz%00", "/healthz%00.json", "/%0aFAKE-LOG-LINE", "/a%0d%0aSet-Cookie:x",
           "/api/v1/streams/" + "A" * 27, "/api/v1/streams/" + "0" * 27 + "/stat",
           "/api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffz%4D", "/api/v1/streams/%ff%fe",
           "/api/v1/streams/stat/../stat", "/" + "x" * 10000, "/api/v1/streams?" + "a=1&" * 3000,
           "/%", "/%zz", "/api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM/../../../etc/passwd",
           "/api/v1/streams/\u00e9\u00e9", "/metrics?x=%0aFAKE-LOG-LINE"]
    for p in odd:
        a = request(port, "GET", p.encode("utf-8").decode("latin-1"))
        check_answer(a, {200, 400, 404, 414, 413}, f"GET {p[:60]!r}")
    for q in ["?id=", "?id=%00", "?id=2Fdj6JALDAm53S7Q4NxzH3sffzM%00", "?id=" + "9" * 500,
              "?file=", "?file=%00", "?file=c.json%00.txt", "?file=..%2F..%2Fetc%2Fpasswd",
              "?file=" + "a" * 300, "?file=c.json&file=d.json", "?id=x&id=y", "?file=%2e%2e"]:
        a = request(port, "POST", "/api/v1/streams" + q)
        check_answer(a, {400, 404, 413}, f"POST {q[:60]!r}")


def case_headers(port):
    big = "x" * 20000
    cases = [
        (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + big.encode() + b"\r\n\r\n", "20 KB header"),
        (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", "200 headers"),
        (b"GET /healthz\r\n\r\n", "no version"),
        (b"GARBAGE\r\n\r\n", "garbage line"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64), "TLS hello to HTTP"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/2 preface"),
        (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", "HTTP/9.9"),
        (b"GET http://attacker.example/healthz HTTP/1.1\r\nHost: attacker.example\r\n\r\n", "absolute URI"),
        (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\n\r\n", "two Hosts"),
        (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "pipelined"),
        (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n", "unknown transfer encoding"),
        (b"\r\n\r\n\r\n", "empty lines"),
        (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\nhello", "two lengths"),
    ]
    for data, what in cases:
        a = send_raw(port, data)
        if a is None:
            continue  # closed without a word is fine for garbage
        check_answer(a, {200, 400, 403, 404, 405, 411, 413, 414, 431, 500, 501, 505}, what)


def chunked(data, size=8192):
    out = b""
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def case_bodies(port):
    head = (f"POST /api/v1/streams HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n").encode()
    two_mib = b'{"pad":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    for data, allowed, what in [
        (head + b"Content-Length: %d\r\n\r\n" % len(two_mib) + two_mib, {413}, "2 MiB body"),
        (head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(two_mib), {413}, "2 MiB chunked"),
        (head + b"Content-Length: 999999999999\r\n\r\n{}", {413}, "huge Content-Length"),
        (head + b"Content-Length: -5\r\n\r\n{}", {400, 411}, "negative Content-Length"),
        (head + b"Content-Length: abc\r\n\r\n{}", {400, 411}, "garbage Content-Length"),
        (head + b"Content-Length: 100\r\n\r\n{\"source\":", {400}, "body cut short"),
        (head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", {400}, "bad chunk size"),
        (head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(json.dumps(dead_port_config()).encode(), 7)[:-5], {400}, "unterminated chunks"),
        (head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"[" * 3000 + b"]" * 3000, 100), {400}, "deep JSON in chunks"),
    ]:
        check_answer(send_raw(port, data, timeout=30), allowed, what)


def case_files(port, config_dir, outside):
    os.symlink(outside, os.path.join(config_dir, "link.json"))
    os.mkfifo(os.path.join(config_dir, "fifo.json"))
    os.mkdir(os.path.join(config_dir, "dir.json"))
    with open(os.path.join(config_dir, "deep.json"), "w") as f:
        f.write("[" * 2000 + "]" * 2000)
    for name, what in [("link.json", "symbolic link out of --config-dir"),
                       ("fifo.json", "FIFO"), ("dir.json", "directory"),
                       ("deep.json", "deep JSON file"), ("missing.json", "missing file")]:
        t0 = time.monotonic()
        a = request(port, "POST", f"/api/v1/streams?file={name}", timeout=10)
        check_answer(a, {400}, f"?file= {what}")
        if time.monotonic() - t0 > 5:
            fail(f"?file= {what}: took {time.monotonic() - t0:.1f} s")
    a = request(port, "POST", "/api/v1/streams?file=link.json")
    if a and a.status == 400 and b"symbolic link" not in a.body:
        fail(f"?file= symbolic link: {a.body!r}")


def slow_sockets(port, n_idle, n_trickle):
    """Idle and trickling connections from the attacker's address; returns
    how many the server closed (it must close them all, soon)."""
    socks = []
    for i in range(n_idle + n_trickle):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(ATTACKER, 0))
            socks.append((s, i >= n_idle))
        except OSError:
            pass
    start = time.monotonic()
    closed = set()
    line = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode()
    pos = 0
    while len(closed) < len(socks) and time.monotonic() - start < 20:
        for k, (s, trickle) in enumerate(socks):
            if k in closed:
                continue
            try:
                if trickle:
                    s.send(line[pos % len(line):pos % len(line) + 1] or b"a")
                s.setblocking(False)
                try:
                    s.recv(4096)
                    closed.add(k)  # an answer, or the end
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
            except OSError:
                closed.add(k)
        pos += 1
        time.sleep(0.5)
    took = time.monotonic() - start
    for s, _ in socks:
        s.close()
    return len(socks), len(closed), took


def slow_body(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=("127.0.0.3", 0))
    s.sendall(f"POST /api/v1/streams HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
              "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode())
    start = time.monotonic()
    raw = b""
    try:
        while time.monotonic() - start < 25:
            s.send(b" ")
            s.setblocking(False)
            try:
                b = s.recv(4096)
                if not b:
                    break
                raw += b
                if b"\r\n\r\n" in raw:
                    break
            except BlockingIOError:
                pass
            s.setblocking(True)
            time.sleep(1)
    except OSError:
        pass
    s.close()
    return parse_answer(raw), time.monotonic() - start


def case_slow(port):
    result = {}
    t = threading.Thread(target=lambda: result.update(body=slow_body(port)))
    t.start()
    total, closed, took = slow_sockets(port, 30, 10)
    t.join()
    if closed < total:
        fail(f"slow connections: {total - closed} of {total} still open after {took:.0f} s")
    note(f"slow connections: {total} opened, all closed in {took:.1f} s")
    a, took = result["body"]
    # Cut off: a 408, or the connection simply closed.
    if a is not None:
        check_answer(a, {408}, "trickled body")
    if took > 20:
        fail(f"a trickled body held a worker for {took:.0f} s")
    note(f"trickled body: cut off after {took:.1f} s")


class Blackhole:
    """A TCP port that takes connections and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]


def stat_of(port, sid, src=ATTACKER):
    a = request(port, "GET", f"/api/v1/streams/{sid}/stat", src=src)
    check_answer(a, {200}, f"stat {sid}")
    return a.json() if a and a.status == 200 else {}


def case_blackhole(port):
    t0 = time.monotonic()
    ids = []
    for i in range(10):
        a = post(port, blackhole_config(), src=f"127.0.0.{20 + i}", what="POST to a silent database")
        if a and a.status == 200:
            ids.append(a.json()["data"]["id"])
    took = time.monotonic() - t0
    if took > 5:
        fail(f"10 creations against a database that never answers took {took:.1f} s")
    note(f"10 creations against a silent database answered in {took:.2f} s")
    if not ids:
        return
    st = stat_of(port, ids[0])
    if st.get("source", {}).get("status") != "STARTING":
        fail(f"a stream whose database is connecting: {st}")
    # Creating it again, by id, while it starts: one writer per id.
    a = post(port, blackhole_config(), query=f"?id={ids[1]}", allowed=(409,), what="POST ?id= of a starting stream")
    # Resumes by id do not queue behind each other.
    t0 = time.monotonic()
    threads = [threading.Thread(target=post, args=(port, blackhole_config()),
                                kwargs={"query": f"?id=2Fdj6JALDAm53S7Q4NxzH3s{k:04d}", "src": f"127.0.0.{40 + k}"})
               for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if time.monotonic() - t0 > 5:
        fail(f"four resumes by id against a silent database took {time.monotonic() - t0:.1f} s")
    # Stopped while starting: answered at once, STOPPED, and stays so.
    t0 = time.monotonic()
    a = request(port, "DELETE", f"/api/v1/streams/{ids[2]}")
    check_answer(a, {200}, "DELETE of a starting stream")
    if time.monotonic() - t0 > 2:
        fail(f"DELETE of a starting stream took {time.monotonic() - t0:.1f} s")
    if a and a.status == 200 and a.json().get("Source", {}).get("status") != "STOPPED":
        fail(f"DELETE of a starting stream: {a.body!r}")
    return ids


def case_concurrent(port):
    errors = []
    names = [f"conc-{UID}-{k}" for k in range(3)]
    known = []
    lock = threading.Lock()

    def worker(k):
        src = f"127.0.1.{k + 1}"
        rnd = random.Random(k)
        for _ in range(8):
            op = rnd.choice(["create", "create_named", "resume", "stop", "stop_current", "stat",
                             "metrics", "config"])
            try:
                if op in ("create", "create_named"):
                    extra = {"name": rnd.choice(names)} if op == "create_named" else None
                    a = post(port, dead_port_config(extra), src=src, allowed=(200, 409, 503),
                             what=f"concurrent {op}")
                    if a and a.status == 200:
                        with lock:
                            known.append(a.json()["data"]["id"])
                elif op == "resume":
                    with lock:
                        sid = rnd.choice(known) if known else "2Fdj6JALDAm53S7Q4NxzH3sffzM"
                    post(port, dead_port_config(), query=f"?id={sid}", src=src,
                         allowed=(200, 409, 503), what="concurrent resume")
                else:
                    with lock:
                        sid = rnd.choice(known) if known else None
                    path = {"stop": f"/api/v1/streams/{sid}", "stop_current": "/api/v1/streams",
                            "stat": f"/api/v1/streams/{sid}/stat", "metrics": "/metrics",
                            "config": f"/api/v1/streams/{sid}"}[op]
                    if sid is None and op in ("stop", "stat", "config"):
                        continue
                    a = request(port, "DELETE" if op.startswith("stop") else "GET", path, src=src)
                    check_answer(a, {200, 400, 404}, f"concurrent {op}")
            except OSError as e:
                errors.append(f"{op}: {e}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for e in errors:
        fail(f"concurrent: {e}")
    note(f"concurrent: {len(known)} streams created by 8 clients")


def case_name_race(port, state_dir):
    name = f"race-{UID}"
    barrier = threading.Barrier(20)
    answers = []

    def one(k):
        barrier.wait()
        a = post(port, dead_port_config({"name": name}), src=f"127.0.2.{k + 1}",
                 allowed=(200, 409), what="simultaneous create by name")
        answers.append(a)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # One name, one stream: later requests find it running (409) or, once
    # its databases refused it, create it again under the same id.
    created = [a for a in answers if a and a.status == 200]
    ids = {a.json()["data"]["id"] for a in created}
    if len(ids) != 1:
        fail(f"20 simultaneous creations of one new name made {len(ids)} streams")
    named = [r for r in records(state_dir) if r.get("config", {}).get("name") == name]
    if len(named) != 1:
        fail(f"20 simultaneous creations of one new name left {len(named)} records")
    if created:
        request(port, "DELETE", f"/api/v1/streams/{created[0].json()['data']['id']}")


def records(state_dir):
    out = []
    d = os.path.join(state_dir, "streams")
    for f in os.listdir(d):
        if f.endswith(".json"):
            try:
                with open(os.path.join(d, f)) as fh:
                    out.append(json.load(fh))
            except (OSError, ValueError):
                pass
    return out


def case_state_growth(port, state_dir):
    """Every POST writes a record; ended ones beyond the newest 32 must go
    while the server runs, and a name is found without reading them."""
    times = []
    prefix = f"grow-{UID}-"
    for k in range(45):
        t0 = time.monotonic()
        post(port, dead_port_config({"name": f"{prefix}{k}"}), src="127.0.0.4",
             what="named stream for the state directory")
        times.append(time.monotonic() - t0)
    # Their databases refuse: each ends at once and the watcher records it.
    # A record written a moment ago may not be pruned yet: the count must
    # come down to 32.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        recs = records(state_dir)
        grown = [r for r in recs if str(r.get("config", {}).get("name", "")).startswith(prefix)]
        ended = [r for r in recs if r.get("state") == "ended"]
        if all(r.get("state") == "ended" for r in grown) and len(ended) <= 32:
            break
        time.sleep(0.5)
    if len(ended) > 32:
        fail(f"the state directory holds {len(ended)} ended records: not pruned while the "
             f"server runs")
    if len(grown) > 32:
        fail(f"{len(grown)} of the 45 ended named streams are still recorded")
    note(f"state directory: {len(recs)} records, {len(ended)} ended; named POSTs took "
         f"{sum(times[:5]) / 5:.3f} s first, {sum(times[-5:]) / 5:.3f} s last")


def case_log_forging(server):
    text = server.text()
    for line in text.splitlines():
        if line.startswith("FAKE-LOG-LINE") or line.startswith("Set-Cookie"):
            fail(f"a request forged a log line: {line!r}")


def hammer_startup(tmp, blackhole):
    """Requests from the moment the socket opens: 503 in the error shape
    until the server is ready, never CivetWeb's bare 404."""
    state = os.path.join(tmp, "state-startup")
    os.makedirs(os.path.join(state, "streams"))
    for k in range(3):
        sid = f"2Fdj6JALDAm53S7Q4NxzH3sf{k:03d}"
        rec = {"format": 1, "id": sid, "state": "running", "config": blackhole_config()}
        with open(os.path.join(state, "streams", f"{sid}.json"), "w") as f:
            json.dump(rec, f)
    port = free_port()
    server = Server(tmp, "startup", ["--state-dir", state], port=port)
    seen = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            a = request(port, "GET", "/api/v1/streams/stat", src=HEALTH_SRC, timeout=5)
        except OSError:
            time.sleep(0.002)
            continue
        check_answer(a, {200, 503}, "a request while the server starts")
        if a:
            seen[a.status] = seen.get(a.status, 0) + 1
            if a.status == 200:
                break
    if seen.get(200, 0) == 0:
        fail(f"the server never answered while resuming streams whose database is silent: {seen}")
    note(f"startup: answers {seen}")
    server.stop("startup server")


def resumed_keeps_hub(tmp):
    pg = {k: os.environ.get(f"DBS_TEST_PG_{k}") for k in ("HOST", "PORT", "USER")}
    nats = os.environ.get("DBS_TEST_NATS_URL")
    if not all(pg.values()) or not nats:
        fail("DBS_TEST_PG_* and DBS_TEST_NATS_URL are not set: run through scripts/test")
        return
    db = f"dbs_e2e_hub_{UID}"
    psql = ["psql", "-X", "-q", "-tA", "-h", pg["HOST"], "-p", pg["PORT"], "-U", pg["USER"]]
    subprocess.run(psql + ["-d", "postgres", "-c", f'CREATE DATABASE "{db}"'], check=True)
    slot, pub = f"hub_slot_{UID}", f"hub_pub_{UID}"
    try:
        subprocess.run(psql + ["-d", db, "-c", "CREATE TABLE t (id int PRIMARY KEY)"], check=True)
        uri = f"postgresql://{pg['USER']}@{pg['HOST']}:{pg['PORT']}/{db}"
        config = {"source": {"type": "postgresql", "connection": uri,
                             "settings": {"replicationSlotName": slot, "publicationName": pub},
                             "filter": {"tables": [{"name": "t"}]}},
                  "target": {"type": "postgresql", "connection": uri}}
        state = os.path.join(tmp, "state-hub")
        s1 = Server(tmp, "hub1", ["--state-dir", state])
        s1.wait_healthy()
        a = post(s1.port, config, src=HEALTH_SRC, what="stream on the memory hub")
        sid = a.json()["data"]["id"] if a and a.status == 200 else None
        deadline = time.monotonic() + 30
        while sid and time.monotonic() < deadline and \
                stat_of(s1.port, sid, src=HEALTH_SRC).get("source", {}).get("status") == "STARTING":
            time.sleep(0.1)
        s1.stop("first hub server")
        s2 = Server(tmp, "hub2", ["--state-dir", state, "--nats", nats])
        s2.wait_healthy()
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline:
            lines = [ln for ln in s2.text().splitlines() if sid and sid in ln and " hub" in ln and "READY" in ln]
            if lines:
                line = lines[0]
                break
            time.sleep(0.2)
        if "through memory hub" not in line:
            fail(f"a stream recorded on the memory hub resumed as: {line or s2.tail()}")
        request(s2.port, "DELETE", f"/api/v1/streams/{sid}", src=HEALTH_SRC)
        s2.stop("second hub server")
    finally:
        subprocess.run(psql + ["-d", "postgres", "-c",
                               f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}'"],
                       check=False, stdout=subprocess.DEVNULL)
        subprocess.run(psql + ["-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'],
                       check=False)


def main():
    global DEAD, BLACKHOLE
    if not SERVER_BIN:
        sys.exit("DBS_SERVER_BIN is not set: run the e2e suite through meson (scripts/test)")
    tmp = tempfile.mkdtemp(prefix="e2e-hostile.", dir=TMP_ROOT)
    started = time.monotonic()
    try:
        DEAD = free_port()
        blackhole = Blackhole()
        BLACKHOLE = blackhole.port
        config_dir = os.path.join(tmp, "configs")
        state_dir = os.path.join(tmp, "state")
        os.makedirs(config_dir)
        outside = os.path.join(tmp, "outside.json")
        with open(outside, "w") as f:
            json.dump(dead_port_config(), f)
        server = Server(tmp, "server", ["--config-dir", config_dir, "--state-dir", state_dir,
                                        "--threads", "16", "--max-client-connections", "6"])
        server.wait_healthy()
        monitor = HealthMonitor(server.port)
        monitor.start()
        port = server.port
        for name, fn in [("bad JSON", lambda: case_bad_json(port)),
                         ("wrong types", lambda: case_wrong_types(port)),
                         ("methods", lambda: case_methods(port)),
                         ("paths", lambda: case_paths(port)),
                         ("headers", lambda: case_headers(port)),
                         ("bodies", lambda: case_bodies(port)),
                         ("files", lambda: case_files(port, config_dir, outside)),
                         ("slow", lambda: case_slow(port)),
                         ("silent database", lambda: case_blackhole(port)),
                         ("concurrent", lambda: case_concurrent(port)),
                         ("name race", lambda: case_name_race(port, state_dir)),
                         ("state growth", lambda: case_state_growth(port, state_dir))]:
            t0 = time.monotonic()
            fn()
            note(f"{name}: {time.monotonic() - t0:.1f} s")
        monitor.stop_flag.set()
        monitor.join()
        note(f"/healthz: {monitor.samples} answers, slowest {monitor.worst:.3f} s")
        if monitor.bad:
            fail(f"/healthz was slow or failed {len(monitor.bad)} times: {monitor.bad[:5]}")
        case_log_forging(server)
        server.stop("hostile server")
        hammer_startup(tmp, blackhole)
        resumed_keeps_hub(tmp)
        note(f"{counts['requests']} requests in {time.monotonic() - started:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failures", file=sys.stderr)
        return 1
    note("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
