"""ctypes binding over libdbstreams' public API (include/dbstreams/dbstreams.h).

    import dbstreams
    with dbstreams.Stream(open("stream.json").read()) as s:
        print(s.stat())

The library is found through DBSTREAMS_LIB (a path), then the system's
loader ("libdbstreams.so.0").
"""
import ctypes
import json
import os

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


_lib = _load()
version = _lib.dbs_version().decode()


class Error(Exception):
    """A library call failed; `code` is the negative DBS_E* value."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _check(rc):
    if rc != 0:
        raise Error(rc, _lib.dbs_error_last().decode())


def validate(config):
    """Raise Error (with the JSON path in the message) if `config` is invalid."""
    data = config.encode() if isinstance(config, str) else json.dumps(config).encode()
    _check(_lib.dbs_config_validate(data, len(data)))


class Stream:
    """A running stream; created and started at construction."""

    def __init__(self, config, stream_id=None):
        self._h = None
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
