"""ctypes binding over libdbstreams' public API (include/dbstreams/dbstreams.h),
and a client of dbs-server's REST API.

    import dbstreams
    with dbstreams.Stream(open("stream.json").read()) as s:
        print(s.stat())

    server = dbstreams.Client("http://127.0.0.1:8020", token_file="/etc/dbstreams/token")
    sid = server.create(open("stream.json").read())["id"]
    print(server.stat(sid))

The library is found through DBSTREAMS_LIB (a path), then the system's
loader ("libdbstreams.so.0"). Client needs no library.
"""
import ctypes
import json
import os
import ssl
import time
import urllib.error
import urllib.request

_NODE_MESSAGE_MAX = 512


class _NodeStat(ctypes.Structure):
    _fields_ = [
        ("status", ctypes.c_int),
        ("counter", ctypes.c_uint64),
        ("started_ns", ctypes.c_int64),
        ("elapsed_ns", ctypes.c_int64),
        ("bytes", ctypes.c_uint64),
        ("message", ctypes.c_char * _NODE_MESSAGE_MAX),
    ]


class _ConnStat(ctypes.Structure):
    _fields_ = [
        ("reconnects", ctypes.c_uint64),
        ("reconnecting", ctypes.c_int),
        ("lost_since_ns", ctypes.c_int64),
        ("last_error", ctypes.c_char * _NODE_MESSAGE_MAX),
    ]


class _Stat(ctypes.Structure):
    """dbs_stat version 3."""
    _fields_ = [
        ("version", ctypes.c_uint),
        ("stream_id", ctypes.c_char * 28),
        ("source", _NodeStat),
        ("target", _NodeStat),
        ("source_conn", _ConnStat),
        ("target_conn", _ConnStat),
        ("hub_conn", _ConnStat),
        ("source_lag_bytes", ctypes.c_uint64),
        ("lag_ns", ctypes.c_int64),
        ("last_commit_ns", ctypes.c_int64),
        ("target_dead_letters", ctypes.c_uint64),
        ("stalled", ctypes.c_int),
        ("stalled_since_ns", ctypes.c_int64),
    ]


class _Options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("log", ctypes.c_void_p),
        ("log_user_data", ctypes.c_void_p),
        ("log_level", ctypes.c_int),
        ("stream_id", ctypes.c_char_p),
        ("default_hub", ctypes.c_char_p),
        ("registry", ctypes.c_void_p),
    ]


def _load():
    path = os.environ.get("DBSTREAMS_LIB", "libdbstreams.so.0")
    lib = ctypes.CDLL(path)
    lib.dbs_version.restype = ctypes.c_char_p
    lib.dbs_error_last.restype = ctypes.c_char_p
    lib.dbs_status_name.restype = ctypes.c_char_p
    lib.dbs_status_name.argtypes = [ctypes.c_int]
    lib.dbs_stream_create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p,
                                      ctypes.c_size_t, ctypes.POINTER(_Options)]
    lib.dbs_stream_stat.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Stat)]
    lib.dbs_stream_stop.argtypes = [ctypes.c_void_p]
    lib.dbs_stream_wait.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.dbs_stream_free.argtypes = [ctypes.c_void_p]
    lib.dbs_stream_id.argtypes = [ctypes.c_void_p]
    lib.dbs_stream_id.restype = ctypes.c_char_p
    lib.dbs_stream_config_json.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
    lib.dbs_free.argtypes = [ctypes.c_void_p]
    lib.dbs_config_validate.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    return lib


try:
    _lib = _load()
    version = _lib.dbs_version().decode()
except OSError:
    # Only Client works without the library.
    _lib = None
    version = None


class Error(Exception):
    """A library call failed; `code` is the negative DBS_E* value."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _check(rc):
    if _lib is None:
        raise OSError("libdbstreams is not loaded (set DBSTREAMS_LIB)")
    if rc != 0:
        raise Error(rc, _lib.dbs_error_last().decode())


def validate(config):
    """Raise Error (with the JSON path in the message) if `config` is invalid."""
    data = config.encode() if isinstance(config, str) else json.dumps(config).encode()
    _check(0)
    _check(_lib.dbs_config_validate(data, len(data)))


class Stream:
    """A running stream; created and started at construction."""

    def __init__(self, config, stream_id=None):
        self._h = None
        _check(0)
        data = config.encode() if isinstance(config, str) else json.dumps(config).encode()
        opts = _Options(1, None, None, 2, stream_id.encode() if stream_id else None, None, None)
        handle = ctypes.c_void_p()
        _check(_lib.dbs_stream_create(ctypes.byref(handle), data, len(data), ctypes.byref(opts)))
        self._h = handle

    @property
    def id(self):
        return _lib.dbs_stream_id(self._h).decode()

    def stat(self):
        """{"streamID", "source": {...}, "target": {...}, "hub": {...}} with raw
        numbers: each node's status and counters, its connection health
        (reconnects, reconnecting, lost_since_ns, connection_error), the
        source's lag_bytes and the target's lag_ns, last_commit_ns and dead_letters;
        "stalled" and, while stalled, "stalled_since_ns"."""
        st = _Stat()
        st.version = 3
        _check(_lib.dbs_stream_stat(self._h, ctypes.byref(st)))

        def conn(c):
            return {"reconnects": c.reconnects, "reconnecting": bool(c.reconnecting),
                    "lost_since_ns": c.lost_since_ns,
                    "connection_error": c.last_error.decode(errors="replace")}

        def node(n, c):
            d = {"status": _lib.dbs_status_name(n.status).decode(), "counter": n.counter,
                 "started_ns": n.started_ns, "elapsed_ns": n.elapsed_ns,
                 "message": n.message.decode(errors="replace")}
            d.update(conn(c))
            return d
        source = node(st.source, st.source_conn)
        source["lag_bytes"] = st.source_lag_bytes
        target = node(st.target, st.target_conn)
        target["lag_ns"] = st.lag_ns
        target["last_commit_ns"] = st.last_commit_ns
        target["dead_letters"] = st.target_dead_letters
        out = {"streamID": st.stream_id.decode(), "source": source, "target": target,
               "hub": conn(st.hub_conn), "stalled": bool(st.stalled)}
        if st.stalled:
            out["stalled_since_ns"] = st.stalled_since_ns
        return out

    def config(self):
        out = ctypes.c_void_p()
        _check(_lib.dbs_stream_config_json(ctypes.byref(out), self._h))
        try:
            return json.loads(ctypes.string_at(out).decode())
        finally:
            _lib.dbs_free(out)

    def wait(self, timeout_ms=-1):
        """True when both nodes ended within the timeout."""
        return _lib.dbs_stream_wait(self._h, timeout_ms) == 0

    def stop(self):
        _check(_lib.dbs_stream_stop(self._h))

    def close(self):
        if getattr(self, "_h", None):
            _lib.dbs_stream_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class ServerError(Exception):
    """dbs-server refused a request: `status` is the HTTP code, the message
    the server's own ({"status":"error","message":...})."""

    def __init__(self, status, message):
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message


def _read_token(path):
    with open(path, encoding="utf-8") as f:
        token = f.readline().rstrip("\r\n")
    if not token or any(ord(c) < 0x20 or ord(c) == 0x7f for c in token):
        raise ValueError(f"{path}: not a token")
    return token


class Client:
    """dbs-server's REST API (DBConvert Streams 0.x, and streams by id).

    token, token_file: the server's API token (--token-file there), sent as
    "Authorization: Bearer"; without either, DBS_API_TOKEN when set.
    cafile: CA certificate to verify an https server with."""

    def __init__(self, url="http://127.0.0.1:8020", token=None, token_file=None, timeout=30.0,
                 cafile=None):
        self.url = url.rstrip("/")
        if token is None and token_file is not None:
            token = _read_token(token_file)
        if token is None:
            token = os.environ.get("DBS_API_TOKEN") or None
        self._token = token
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=cafile) if cafile else None

    def _request(self, method, path, body=None):
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ssl) as resp:
                text = resp.read().decode()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                message = json.loads(text)["message"]
            except (ValueError, KeyError, TypeError):
                message = text[:1024]
            raise ServerError(e.code, message) from None

    @staticmethod
    def _path(stream_id, suffix=""):
        return "/api/v1/streams" + (f"/{stream_id}" if stream_id else "") + suffix

    def health(self):
        return self._request("GET", "/healthz")

    def create(self, config, stream_id=None, wait=True):
        """Create and start a stream; its configuration as the server shows it
        (passwords masked, "id" first). With wait, return once its databases
        answered (its stat no longer says STARTING)."""
        path = "/api/v1/streams" + (f"?id={stream_id}" if stream_id else "")
        data = self._request("POST", path, config)["data"]
        if wait:
            deadline = time.monotonic() + self.timeout
            while self.stat(data["id"])["source"]["status"] == "STARTING":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"stream {data['id']} is still STARTING")
                time.sleep(0.1)
        return data

    def stat(self, stream_id=None):
        return self._request("GET", self._path(stream_id, "/stat"))

    def config(self, stream_id=None):
        return self._request("GET", self._path(stream_id))

    def stop(self, stream_id=None):
        return self._request("DELETE", self._path(stream_id))
