#!/usr/bin/env bash
# Issue 5, "large transactions in bounded memory": ONE MariaDB transaction
# of 1,000,000 rows (INSERT … SELECT over the SEQUENCE engine) streamed to
# PostgreSQL by `dbs-cli run` with limits.numberOfEvents 1000000. The run
# must end by itself (EVENT_LIMIT_REACHED, exit 0); the target must hold
# every row, a sample and the aggregates equal to the source's; and the
# process's peak RSS must stay under 200 MB. While the transaction is
# applied, no reader of the target may see part of it: the target commits
# it only with its last batch (checked by sampling the target's row count
# while its writer has the transaction open).
#
# The memory is measured on the release build's dbs-cli (DBS_RELEASE_CLI,
# exported by scripts/test), not on the ASan one the other e2e tests use:
# ASan's shadow memory and its quarantine of freed blocks would dominate
# the figure. The peak is the child's ru_maxrss as wait4() returns it, so
# it cannot miss a short-lived peak the way sampling /proc would.
#
# Prints the figures: seconds from the source's commit to the run's end,
# rows/s, peak RSS in MB.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg
for v in DBS_TEST_MYSQL_HOST DBS_TEST_MYSQL_PORT; do
	[ -n "${!v:-}" ] || fail "$v is not set: run the e2e suite through scripts/test, which starts the servers"
done
[ -n "${DBS_RELEASE_CLI:-}" ] ||
	fail "DBS_RELEASE_CLI is not set: it names the release (non-sanitizer) build's dbs-cli, whose memory this test measures; scripts/test exports it"
[ -x "$DBS_RELEASE_CLI" ] || fail "DBS_RELEASE_CLI=$DBS_RELEASE_CLI is not an executable"
if env -u LD_LIBRARY_PATH ldd "$DBS_RELEASE_CLI" | grep -Eq 'lib(a|ub)san'; then
	fail "DBS_RELEASE_CLI=$DBS_RELEASE_CLI is a sanitizer build: its RSS would not be the program's"
fi
command -v mariadb >/dev/null || fail "the mariadb client is not installed"

ROWS=1000000
RSS_LIMIT_MB=200
DEADLINE_S=300

SRC_DB="dbs_e2e_big_$E2E_UID"
TGT_DB="dbs_e2e_bigtgt_$E2E_UID"

my() {
	mariadb --no-defaults --default-character-set=utf8mb4 -h "$DBS_TEST_MYSQL_HOST" \
		-P "$DBS_TEST_MYSQL_PORT" -u root -N -B "$@"
}

at_exit "my -e 'DROP DATABASE IF EXISTS \`$SRC_DB\`'"
my -e "CREATE DATABASE \`$SRC_DB\` CHARACTER SET utf8mb4" || fail "cannot create $SRC_DB"
my "$SRC_DB" -e "CREATE TABLE products (id bigint PRIMARY KEY, name varchar(255),
	price decimal(10,2), weight double, created timestamp(6) NULL)" || fail "cannot create products"
new_db "$TGT_DB"

cat >"$E2E_TMP/stream.json" <<JSON
{
  "source": {
    "type": "mysql",
    "mode": "cdc",
    "connection": "root:@tcp($DBS_TEST_MYSQL_HOST:$DBS_TEST_MYSQL_PORT)/$SRC_DB",
    "filter": {
      "tables": [
        { "name": "products", "operations": ["insert", "update", "delete"] }
      ]
    }
  },
  "target": {
    "type": "postgresql",
    "connection": "$(pg_uri "$TGT_DB")"
  },
  "limits": {
    "numberOfEvents": $ROWS,
    "elapsedTime": 0
  }
}
JSON

# The wrapper starts dbs-cli, forwards SIGINT/SIGTERM to it, and once it
# has exited writes "EXIT_CODE MAXRSS_KB END_UNIX_TIME" to argv[1]. wait4()
# reports that one child's peak (the kernel carries the pre-exec image's
# peak over too: the few MB of a forked python, far below the limit).
cat >"$E2E_TMP/maxrss.py" <<'EOF'
import os, signal, sys, time
out = sys.argv[1]
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
def forward(sig, frame):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
signal.signal(signal.SIGTERM, forward)
signal.signal(signal.SIGINT, forward)
while True:
    try:
        _, status, ru = os.wait4(pid, 0)
        break
    except InterruptedError:
        continue
end = time.time()
code = os.waitstatus_to_exitcode(status)
with open(out + ".tmp", "w") as f:
    f.write(f"{code} {ru.ru_maxrss} {end:.6f}\n")
os.rename(out + ".tmp", out)
EOF

RUN_OUT="$E2E_TMP/run.out"
RUN_ERR="$E2E_TMP/run.err"
RESULT="$E2E_TMP/result"
# meson test points LD_LIBRARY_PATH at the build under test (ASan): the
# release dbs-cli must load its own library (its RUNPATH), and runs without
# MALLOC_PERTURB_, as a user runs it.
env -u LD_LIBRARY_PATH -u MALLOC_PERTURB_ \
	python3 "$E2E_TMP/maxrss.py" "$RESULT" "$DBS_RELEASE_CLI" run "$E2E_TMP/stream.json" \
	--stat-interval 5 >"$RUN_OUT" 2>"$RUN_ERR" &
RUN_PID=$!
at_exit "kill -TERM $RUN_PID 2>/dev/null || true; wait $RUN_PID 2>/dev/null || true"

# dbs-cli prints this line once dbs_stream_create returned: both nodes are
# open and the stream is READY, which promises that every change committed
# from now on is delivered.
run_started() {
	grep -q 'started; Ctrl-C stops it' "$RUN_ERR" 2>/dev/null
}
run_ended() {
	! kill -0 "$RUN_PID" 2>/dev/null
}
for i in $(seq 1 300); do
	run_started && break
	run_ended && fail "dbs-cli run ended before it was READY: $(cat "$RUN_OUT" "$RUN_ERR")"
	sleep 0.1
done
run_started || fail "dbs-cli run was not READY within 30 s: $(cat "$RUN_ERR")"
grep -q 'INIT FAILED' "$RUN_OUT" && fail "a node could not open its database: $(cat "$RUN_OUT")"

# ---- one transaction of 1,000,000 rows ----
# Names repeat (every 250,007th row) and carry a non-ASCII character;
# prices and timestamps vary in every digit.
t0=$(date +%s.%N)
my "$SRC_DB" -e "SET SESSION time_zone = '+00:00';
	START TRANSACTION;
	INSERT INTO products (id, name, price, weight, created)
	SELECT seq, concat('product ', seq % 250007, ' ✓'), (seq % 9999991) / 100, seq / 7,
		TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq * 1000003 MICROSECOND
	FROM seq_1_to_$ROWS;
	COMMIT" || fail "the 1,000,000-row transaction failed in MariaDB"
t1=$(date +%s.%N)
[ "$(my "$SRC_DB" -e 'SELECT count(*) FROM products')" = "$ROWS" ] || fail "the source does not hold $ROWS rows"
note "source transaction of $ROWS rows committed in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"

# While it runs, look at the target every 0.3 s: the source transaction
# is committed at the target only at its end, so no reader may ever see
# part of it (nor the table, which the writer creates in that same
# transaction). Each sample first reads whether the stream's writer
# session (application_name dbstreams) holds a transaction that has
# written (backend_xid set), then the row count: samples taken while it
# does prove the check looked while the transaction was being applied.
TGT_TABLE="\"$SRC_DB\".products"
partial_max=0
partial_seen=0
samples_open=0
for i in $(seq 1 $((DEADLINE_S * 10))); do
	[ -s "$RESULT" ] && break
	run_ended && break
	if [ $((i % 3)) -eq 0 ]; then
		writing=$(pg "$TGT_DB" -c "SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'dbstreams'
			AND backend_xid IS NOT NULL" 2>/dev/null) || writing=0
		count=0
		if [ "$(pg "$TGT_DB" -c "SELECT to_regclass('$TGT_TABLE') IS NOT NULL" 2>/dev/null)" = t ]; then
			count=$(pg "$TGT_DB" -c "SELECT count(*) FROM $TGT_TABLE" 2>/dev/null) || count=0
		fi
		if [ "${count:-0}" -gt 0 ] && [ "${count:-0}" -lt "$ROWS" ]; then
			partial_seen=$((partial_seen + 1))
			[ "$count" -gt "$partial_max" ] && partial_max=$count
		fi
		[ "${writing:-0}" -gt 0 ] && [ "${count:-0}" -lt "$ROWS" ] && samples_open=$((samples_open + 1))
	fi
	sleep 0.1
done
if [ ! -s "$RESULT" ]; then
	if ! run_ended; then
		note "last stat lines: $(tail -n 3 "$RUN_OUT")"
		fail "dbs-cli run did not end within $DEADLINE_S s of the commit; log: $(tail -n 20 "$RUN_ERR")"
	fi
	fail "the measuring wrapper ended without a result: $(tail -n 20 "$RUN_ERR")"
fi
wait "$RUN_PID" || true
read -r code maxrss_kb t2 <"$RESULT"
[ "$code" -eq 0 ] || fail "dbs-cli run exited $code: $(tail -n 3 "$RUN_OUT"); log: $(tail -n 20 "$RUN_ERR")"
tail -n 1 "$RUN_OUT" | grep -Eq "source EVENT_LIMIT_REACHED, $ROWS events.*target [A-Z_]+, $ROWS events" ||
	fail "run's last line: $(tail -n 1 "$RUN_OUT")"

# ---- figures ----
secs=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')
rate=$(awk -v n="$ROWS" -v a="$t1" -v b="$t2" 'BEGIN { printf "%.0f", n / (b - a) }')
rss_mb=$(awk -v k="$maxrss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
echo "large_txn: $ROWS rows in one MariaDB transaction -> PostgreSQL: ${secs} s from commit to exit, ${rate} rows/s, peak RSS ${rss_mb} MB (limit $RSS_LIMIT_MB MB; release dbs-cli)"

[ "$partial_seen" -eq 0 ] ||
	fail "part of the source transaction was visible at the target $partial_seen times while it was applied (up to $partial_max of $ROWS rows): it must be committed only at its end"
[ "$samples_open" -gt 0 ] ||
	fail "no sample was taken while the target's writer had the transaction open: the check above saw nothing"
note "$samples_open samples taken while the target applied the transaction: none saw part of it"


# ---- the target holds what the source holds ----
n=$(pg "$TGT_DB" -c "SELECT count(*) FROM $TGT_TABLE") || fail "cannot count $TGT_TABLE in $TGT_DB"
[ "$n" = "$ROWS" ] || fail "the target holds $n rows, expected $ROWS"

# Aggregates: count, id sum and range, exact price sum, distinct names,
# earliest and latest timestamp (as Unix epoch with microseconds, so the
# session time zones do not matter), and the weight sum (doubles summed in
# another order: compared within a relative 1e-12).
my "$SRC_DB" -e "SELECT count(*), sum(id), min(id), max(id), sum(price), count(DISTINCT name),
	unix_timestamp(min(created)), unix_timestamp(max(created)), sum(weight) FROM products" \
	>"$E2E_TMP/my.agg" || fail "source aggregates"
pg "$TGT_DB" -F $'\t' -c "SELECT count(*), sum(id), min(id), max(id), sum(price), count(DISTINCT name),
	extract(epoch FROM min(created)), extract(epoch FROM max(created)), sum(weight) FROM $TGT_TABLE" \
	>"$E2E_TMP/pg.agg" || fail "target aggregates"
# A sample of whole rows, spread over the transaction, first and last.
SAMPLE="id % 9973 = 0 OR id IN (1, 2, $((ROWS - 1)), $ROWS)"
my "$SRC_DB" -e "SELECT id, name, price, weight, unix_timestamp(created) FROM products
	WHERE $SAMPLE ORDER BY id" >"$E2E_TMP/my.rows" || fail "source sample"
pg "$TGT_DB" -F $'\t' -c "SELECT id, name, price, weight, extract(epoch FROM created) FROM $TGT_TABLE
	WHERE $SAMPLE ORDER BY id" >"$E2E_TMP/pg.rows" || fail "target sample"
python3 - "$E2E_TMP" <<'EOF' || fail "the target differs from the source"
import decimal, math, sys
D = decimal.Decimal
d = sys.argv[1]

def lines(name):
    with open(f"{d}/{name}", encoding="utf-8") as f:
        return [l.rstrip("\n").split("\t") for l in f if l.strip()]

my_agg, pg_agg = lines("my.agg")[0], lines("pg.agg")[0]
names = ["count", "sum(id)", "min(id)", "max(id)", "sum(price)", "count(DISTINCT name)",
         "min(created)", "max(created)"]
bad = []
for i, name in enumerate(names):
    if D(my_agg[i]) != D(pg_agg[i]):
        bad.append(f"{name}: MariaDB {my_agg[i]}, PostgreSQL {pg_agg[i]}")
if not math.isclose(float(my_agg[8]), float(pg_agg[8]), rel_tol=1e-12):
    bad.append(f"sum(weight): MariaDB {my_agg[8]}, PostgreSQL {pg_agg[8]}")

def canon(r):
    return (int(r[0]), r[1], D(r[2]), float(r[3]), D(r[4]))

src = [canon(r) for r in lines("my.rows")]
dst = [canon(r) for r in lines("pg.rows")]
if len(src) != len(dst) or len(src) < 100:
    bad.append(f"sample: {len(src)} rows in MariaDB, {len(dst)} in PostgreSQL")
for a, b in zip(src, dst):
    if a != b:
        bad.append(f"row: MariaDB {a} != PostgreSQL {b}")
        break
if bad:
    sys.exit("\n".join(bad))
print(f"# aggregates equal ({', '.join(names)}, sum(weight)); {len(src)} sampled rows equal",
      file=sys.stderr)
EOF

# Last: the memory bound (the data checks above hold either way).
awk -v k="$maxrss_kb" -v l="$RSS_LIMIT_MB" 'BEGIN { exit !(k < l * 1024) }' ||
	fail "peak RSS of dbs-cli run was $rss_mb MB for a $ROWS-row transaction: over the $RSS_LIMIT_MB MB bound of issue 5"
note "ok"
