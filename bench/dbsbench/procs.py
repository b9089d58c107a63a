"""Child processes the benchmark starts, so that it can end them (by pid,
never by name) when it stops early."""
import os
import signal
import subprocess
import time

_live = []


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    _live.append(p)
    return p


def track(p):
    """A child started elsewhere (Pg.popen, My.popen), to end it on the way out."""
    _live.append(p)
    return p


def wait4(p, timeout):
    """Wait for a child started by spawn; return (status, rusage), or
    (None, None) on timeout. The rusage is that child's alone."""
    deadline = time.time() + timeout
    while True:
        if p.returncode is not None:  # already reaped by poll()
            forget(p)
            return _status(p.returncode), None
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            forget(p)
            return status, ru
        if time.time() > deadline:
            return None, None
        time.sleep(0.02)


def _status(code):
    """A wait status from an exit code (negative: killed by that signal)."""
    return -code if code < 0 else code << 8


def forget(p):
    if p in _live:
        _live.remove(p)


def kill(p, grace=10):
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        except ProcessLookupError:
            pass
    forget(p)


def kill_all():
    for p in list(_live):
        kill(p, grace=5)
