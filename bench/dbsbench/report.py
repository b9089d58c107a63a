"""Summary figures (medians with their spread) and the markdown report."""
from .util import spread

DBS_COLUMNS = [("dbs_my_pg", "My→PG"), ("dbs_pg_pg", "PG→PG"), ("dbs_my_my", "My→My"),
               ("dbs_pg_my", "PG→My")]
REF_COLUMNS = [("native_pg_sub_sync_on", "native PG→PG, sync commit on"),
               ("native_pg_sub_sync_off", "native PG→PG, sync commit off (default)"),
               ("native_my_replica", "native MariaDB replica"),
               ("pg_recvlogical", "pg_recvlogical (PG read)"),
               ("mysqlbinlog", "mariadb-binlog (MariaDB read)")]
BULK = [("copy_one", "COPY, one statement"),
        ("copy_1000", "COPY, 1000-row statements (one transaction)"),
        ("load_data", "LOAD DATA LOCAL INFILE"),
        ("pgloader", "pgloader MariaDB→PG (its reported import time)")]
# The native replication of each target engine, for the ratios.
NATIVE_OF = {"pg": "native_pg_sub_sync_on", "my": "native_my_replica"}


def summarize(result):
    out = {}
    bl = result.get("backlog")
    if bl:
        groups = {}
        for r in bl["records"]:
            groups.setdefault((r["workload"], r["method"]), []).append(r)
        rows = {}
        for (w, m), recs in sorted(groups.items()):
            ok = [r for r in recs if "rate" in r and "error" not in r]
            e = {"label": recs[0]["label"], "rate": spread([r["rate"] for r in ok]),
                 "errors": [r["error"][:500] for r in recs if "error" in r]}
            if recs[0]["kind"] == "dbstreams":
                e["cpu_us_per_event"] = spread([r.get("cpu_us_per_event") for r in ok])
                hwm = [r.get("vm_hwm_kb") for r in ok if r.get("vm_hwm_kb")]
                e["peak_rss_mb"] = max(hwm) / 1024 if hwm else None
            rows.setdefault(w, {})[m] = e
        out["backlog"] = rows
    ol = result.get("oltp")
    if ol:
        dirs = {}
        for d in ol["directions"]:
            e = {k: d.get(k) for k in ("source_max_tps", "bounded_at_source_max",
                                       "highest_bounded_tps")}
            e["error"] = d.get("error")
            for frac in ("50%", "80%"):
                st = [s for s in d["steps"] if s["purpose"] == frac]
                e[frac] = {"tps": spread([s["tps"] for s in st]),
                           "lag_p50": spread([s.get("lag_p50") for s in st]),
                           "lag_p99": spread([s.get("lag_p99") for s in st]),
                           "bounded": all(s.get("bounded") for s in st) if st else None,
                           "cpu_us_per_event": spread([s.get("cpu_us_per_event") for s in st])}
            hwm = [s.get("vm_hwm_kb") for s in d["steps"] if s.get("vm_hwm_kb")]
            if d.get("vm_hwm_kb"):
                hwm.append(d["vm_hwm_kb"])
            e["peak_rss_mb"] = max(hwm) / 1024 if hwm else None
            dirs[d["direction"]] = e
        out["oltp"] = dirs
    out["checks"] = checks(out)
    return out


def _med(summary, w, m, what="rate"):
    e = summary.get("backlog", {}).get(w, {}).get(m)
    s = e and e.get(what)
    return s["median"] if s else None


def checks(s):
    """The figures issue 14 asks to show, each against its threshold."""
    res = []

    def ratio(name, w, m, ref, need, goal=None):
        a, b = _med(s, w, m), _med(s, w, ref)
        v = a / b if a and b else None
        res.append({"check": name, "value": v, "unit": "×", "need": need, "goal": goal,
                    "met": None if v is None else v >= need})

    for m, d in DBS_COLUMNS:
        tgt = m.split("_")[2]
        ratio(f"(c) {d} vs native replication of the target", "c", m, NATIVE_OF[tgt], 5.0)
    for m, d in DBS_COLUMNS:
        tgt = m.split("_")[2]
        ratio(f"(d) {d} vs native replication of the target", "d", m, NATIVE_OF[tgt], 1.0)
    ratio("(a) My→PG vs COPY in 1000-row statements", "a", "dbs_my_pg", "copy_1000", 0.6, 1.0)
    for w in "ab":
        ratio(f"({w}) PG→PG vs native subscription (sync commit on)", w, "dbs_pg_pg",
              "native_pg_sub_sync_on", 1.0, 1.5)
    for w in "ab":
        ratio(f"({w}) My→My vs native replica", w, "dbs_my_my", "native_my_replica", 0.6, 0.8)
    for w in "ab":
        for m, d in DBS_COLUMNS:
            v = _med(s, w, m, "cpu_us_per_event")
            res.append({"check": f"({w}) {d} CPU per event", "value": v, "unit": "µs",
                        "need": 5.0, "goal": 3.0, "max": True,
                        "met": None if v is None else v <= 5.0})
    rss = [e.get("peak_rss_mb") for w in s.get("backlog", {}).values()
           for m, e in w.items() if e.get("peak_rss_mb") and not m.startswith("base_")]
    rss += [d.get("peak_rss_mb") for d in s.get("oltp", {}).values() if d.get("peak_rss_mb")]
    v = max(rss) if rss else None
    res.append({"check": "peak RSS, every workload", "value": v, "unit": "MB", "need": 64.0,
                "max": True, "met": None if v is None else v <= 64.0})
    for name, d in s.get("oltp", {}).items():
        b = d.get("bounded_at_source_max")
        res.append({"check": f"OLTP {arrow(name)}: lag bounded at the source's maximum rate",
                    "value": b, "unit": "", "need": True, "met": b})
        p99 = d.get("80%", {}).get("lag_p99")
        v = p99["median"] * 1000 if p99 else None
        res.append({"check": f"OLTP {arrow(name)}: lag p99 at 80% of the highest bounded rate",
                    "value": v, "unit": "ms", "need": 50.0, "goal": 20.0, "max": True,
                    "met": None if v is None else v <= 50.0})
    return res


def arrow(direction):
    a, b = direction.split("-")
    n = {"pg": "PG", "my": "My"}
    return f"{n[a]}→{n[b]}"


def k(v):
    """Rows/s as 123k or 1.2M."""
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def med_spread(s, fmt=k):
    if not s:
        return "–"
    if s["n"] == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def ms(v):
    return "–" if v is None else (f"{v * 1000:.0f}" if v >= 0.01 else f"{v * 1000:.1f}")


def markdown(r):
    s = r.get("summary", {})
    L = []
    m = r["machine"]
    L.append("# dbstreams benchmark results\n")
    L.append(f"Generated by `bench/run{' --quick' if r['mode'] == 'quick' else ''}` "
             f"({r['mode']} run{'' if r.get('complete') else ', partial'}), started "
             f"{r['started']}, {r.get('duration_s', 0) / 60:.0f} min. How it measures: "
             "[README.md](README.md).\n")
    L.append("> A full run's figures are only valid when it ran on a quiet machine: the "
             "servers, the stream and the load generators share the machine's cores and its "
             "disk, so other work running at the same time changes every figure. Check the "
             "load averages below; quote ratios between figures of one run, never absolute "
             "rates across runs or machines.\n")
    if r["mode"] == "quick":
        L.append("> **Quick run**: small sizes and one repetition, to check that the suite "
                 "works. Its figures are not for quoting.\n")
    if r.get("failed"):
        L.append(f"> **The run did not finish**: {r['failed']}\n")
    L.append(f"- Machine: {m['cpus']} CPUs ({m.get('cpu_model')}), "
             f"{(m.get('mem_total_kb') or 0) / 1048576:.0f} GiB, Linux {m['kernel']}; load "
             f"average (1, 5, 15 min) {fmt_load(r.get('loadavg_start'))} at the start, "
             f"{fmt_load(r.get('loadavg_end'))} at the end.")
    L.append(f"- Code: commit `{(r.get('commit') or '?')[:12]}`"
             f"{' with uncommitted changes' if r.get('dirty') else ''}; `{r['dbs_cli']}`.")
    sv = r.get("servers", {}).get("source", {})
    L.append(f"- Servers: PostgreSQL {sv.get('postgresql', '?')}, MariaDB "
             f"{sv.get('mariadb', '?')}; a source and a target instance of each, durable "
             "(PostgreSQL fsync and synchronous_commit on; MariaDB "
             "innodb_flush_log_at_trx_commit=1, sync_binlog=1).")
    L.append(f"- Repetitions: {r['settings']['reps']} (figures are medians, with the lowest and "
             "highest in parentheses).\n")

    bl = s.get("backlog")
    if bl:
        wl = r["backlog"]["workloads"]
        L.append("## Backlog catch-up, rows/s\n")
        L.append("The workload is written while the followers are stopped; each is then "
                 "started and timed until a reader of the target sees the row committed "
                 "after the workload. dbstreams runs in its default configuration "
                 "(`dbs-cli run`, memory hub).\n")
        cols = [(mm, f"dbstreams {d}") for mm, d in DBS_COLUMNS] + REF_COLUMNS
        L.append("| workload | " + " | ".join(c[1] for c in cols) + " |")
        L.append("|---" * (len(cols) + 1) + "|")
        for w in sorted(bl):
            row = [f"({w}) {wl[w]['title']}"]
            for mm, _ in cols:
                e = bl[w].get(mm)
                cell = med_spread(e["rate"]) if e else "–"
                if e and e["errors"]:
                    cell += f" ⚠{len(e['errors'])}"
                row.append(cell)
            L.append("| " + " | ".join(row) + " |")
        L.append("")
        if "a" in bl and any(mm in bl["a"] for mm, _ in BULK):
            L.append(f"Bulk loads of (a)'s {wl['a']['events']:,} rows into an empty table "
                     "(the targets' ceilings), rows/s:\n")
            L.append("| method | rows/s |")
            L.append("|---|---|")
            for mm, d in BULK:
                e = bl["a"].get(mm)
                if e:
                    L.append(f"| {d} | {med_spread(e['rate'])}"
                             f"{' ⚠' + str(len(e['errors'])) if e['errors'] else ''} |")
            L.append("")
        L.append("dbstreams CPU per event (µs, the process's user + system time until "
                 "caught up, divided by the rows) and peak RSS (MB, VmHWM):\n")
        L.append("| workload | " + " | ".join(d for _, d in DBS_COLUMNS) + " |")
        L.append("|---" * (len(DBS_COLUMNS) + 1) + "|")
        for w in sorted(bl):
            row = [f"({w})"]
            for mm, _ in DBS_COLUMNS:
                e = bl[w].get(mm)
                if not e or not e.get("cpu_us_per_event"):
                    row.append("–")
                    continue
                row.append(f"{med_spread(e['cpu_us_per_event'], lambda v: f'{v:.1f}')} µs, "
                           f"{e['peak_rss_mb']:.0f} MB")
            L.append("| " + " | ".join(row) + " |")
        L.append("")

    if bl and any(mm.replace("dbs_", "base_", 1) in bl[w] for w in bl for mm, _ in DBS_COLUMNS):
        L.append("## Against the baseline build, same trials\n")
        L.append(f"`--baseline {r.get('baseline_cli')}` was timed in the same trials as "
                 f"`{r['dbs_cli']}` (followers in turn, same load). Rows/s, and CPU µs per "
                 "event:\n")
        L.append("| workload | direction | baseline rows/s | rows/s | × | baseline CPU µs/event "
                 "| CPU µs/event | baseline / peak RSS, MB |")
        L.append("|---|---|---|---|---|---|---|---|")
        one = lambda v: f"{v:.1f}"
        for w in sorted(bl):
            for mm, d in DBS_COLUMNS:
                b, e = bl[w].get(mm.replace("dbs_", "base_", 1)), bl[w].get(mm)
                if not b or not e:
                    continue
                br, er = b["rate"] and b["rate"]["median"], e["rate"] and e["rate"]["median"]
                L.append(f"| ({w}) | {d} | {med_spread(b['rate'])} | {med_spread(e['rate'])} | "
                         f"{f'{er / br:.2f}' if br and er else '–'} | "
                         f"{med_spread(b.get('cpu_us_per_event'), one)} | "
                         f"{med_spread(e.get('cpu_us_per_event'), one)} | "
                         f"{mb(b.get('peak_rss_mb'))} / {mb(e.get('peak_rss_mb'))} |")
        L.append("")

    ol = s.get("oltp")
    if ol:
        st = r["oltp"]["settings"]
        L.append("## Steady OLTP load\n")
        L.append(f"`sysbench oltp_write_only` ({st['threads']} threads, {st['tables']} tables of "
                 f"{st['table_size']:,} rows, 4 row changes per transaction) on the source, "
                 f"{st['step_s']} s per rate step, while dbstreams follows it; a probe row "
                 f"every {st['probe_every_s'] * 1000:.0f} ms, lag from its source commit to its "
                 "first visibility on the target. *Highest bounded* is the highest rate tried "
                 "whose lag did not grow during the step.\n")
        L.append("| direction | source max, tx/s | lag bounded at max | highest bounded, tx/s "
                 "| lag p50 / p99 at 50%, ms | lag p50 / p99 at 80%, ms | CPU at 80%, µs/event "
                 "| peak RSS, MB |")
        L.append("|---|---|---|---|---|---|---|---|")
        for name, d in ol.items():
            def lag(frac):
                x = d.get(frac) or {}
                if not x.get("lag_p50"):
                    return "–"
                return f"{med_spread(x['lag_p50'], ms)} / {med_spread(x['lag_p99'], ms)}"
            cpu = (d.get("80%") or {}).get("cpu_us_per_event")
            L.append(f"| {arrow(name)} | {k(d.get('source_max_tps'))} | "
                     f"{yes(d.get('bounded_at_source_max'))} | "
                     f"{k(d.get('highest_bounded_tps')) if d.get('highest_bounded_tps') else 'none found'} | "
                     f"{lag('50%')} | {lag('80%')} | "
                     f"{med_spread(cpu, lambda v: f'{v:.1f}')} | "
                     f"{mb(d.get('peak_rss_mb'))} |")
        L.append("")
        L.append("<details><summary>Every step</summary>\n")
        L.append("| direction | step | asked, tx/s | got, tx/s | lag p50, ms | lag p99, ms | "
                 "lag max, ms | bounded | CPU, µs/event | poll every, ms | load |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for d in r["oltp"]["directions"]:
            for x in d["steps"]:
                ge = "≥ " if x.get("lags_lower_bounds") else ""
                L.append(f"| {arrow(d['direction'])} | {x['purpose']} | "
                         f"{k(x['rate_asked']) if x.get('rate_asked') else 'max'} | "
                         f"{k(x.get('tps'))} | {ge}{ms(x.get('lag_p50'))} | {ge}{ms(x.get('lag_p99'))} | "
                         f"{ge}{ms(x.get('lag_max'))} | {yes(x.get('bounded'))} | "
                         f"{x.get('cpu_us_per_event', 0):.1f} | "
                         f"{x.get('poll_interval_ms', 0):.1f} | {x['loadavg'][0]:.1f} |")
        L.append("\n≥: some probes had not arrived when the poller gave up; their lag counts "
                 "as it was then.\n\n</details>\n")

    ch = s.get("checks")
    if ch and (bl or ol):
        L.append("## Issue 14's targets\n")
        L.append("| figure | measured | needed | goal | met |")
        L.append("|---|---|---|---|---|")
        for c in ch:
            if c["value"] is None:
                continue
            op = "≤" if c.get("max") else "≥"
            val = (yes(c["value"]) if isinstance(c["value"], bool) else
                   f"{c['value']:.2f}{c['unit']}" if c["unit"] == "×" else
                   f"{c['value']:.1f} {c['unit']}")
            need = "yes" if c["need"] is True else f"{op} {c['need']:g}{c['unit'] if c['unit'] == '×' else ' ' + c['unit']}"
            goal = "" if c.get("goal") is None else f"{op} {c['goal']:g}"
            L.append(f"| {c['check']} | {val} | {need} | {goal} | {yes(c['met'])} |")
        L.append("")
        L += ceiling_lines(s)

    errs = []
    for rec in (r.get("backlog") or {}).get("records", []):
        if "error" in rec:
            errs.append(f"({rec['workload']}) {rec['label']}, repetition {rec['rep'] + 1}: "
                        f"{first_line(rec['error'])}")
    for d in (r.get("oltp") or {}).get("directions", []):
        if d.get("error"):
            errs.append(f"OLTP {arrow(d['direction'])}: {first_line(d['error'])}")
    if errs:
        L.append("## Failures\n")
        L += [f"- {e}" for e in errs]
        L.append("\nThe JSON file next to this one holds the full messages.\n")
    return "\n".join(L) + "\n"


def ceiling_lines(s):
    """(a) My→My beside the target's own bulk load of the same rows: no
    client of the server was found to write rows faster than LOAD DATA
    (docs/performance.md), so this says how far the replica's bar is
    within a client's reach. Figures only, no verdict."""
    mymy, ld, rep = (_med(s, "a", m) for m in ("dbs_my_my", "load_data", "native_my_replica"))
    if not (mymy and ld and rep):
        return []
    return ["For the My→My bars: the target's own bulk load of the same rows in the same "
            "run, the fastest way found for a client to write them.\n",
            "| figure | measured |", "|---|---|",
            f"| (a) My→My vs LOAD DATA LOCAL of the same rows | {mymy / ld:.2f}× |",
            f"| (a) LOAD DATA LOCAL vs native replica | {ld / rep:.2f}× |", ""]


def first_line(text):
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def mb(v):
    return "–" if v is None else f"{v:.0f}"


def yes(v):
    return "–" if v is None else ("yes" if v else "**no**")


def fmt_load(v):
    return "–" if not v else ", ".join(f"{x:.2f}" for x in v)
