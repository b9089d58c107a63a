import statistics
import sys
import time

_t_start = time.time()


def log(msg):
    el = time.time() - _t_start
    print(f"[{int(el // 60):3d}:{el % 60:04.1f}] {msg}", file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def spread(values):
    """Median, min, max and (max - min) / median of the values that exist."""
    v = [x for x in values if x is not None]
    if not v:
        return None
    med = statistics.median(v)
    return {"median": med, "min": min(v), "max": max(v), "n": len(v),
            "spread": (max(v) - min(v)) / med if med else None}


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]
