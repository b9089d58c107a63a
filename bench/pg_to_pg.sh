#!/usr/bin/env bash
# PostgreSQL -> PostgreSQL end to end, side by side with the engine's own
# tools on the same rows, in one run:
#   copy      COPY of the rows into an empty target table (the bulk-load ceiling)
#   recv      pg_recvlogical reading the same transaction through pgoutput
#             (the log-read ceiling)
#   dbstreams dbs-cli run: capture, hub, apply with checkpoint, until the
#             target has every row (EVENT_LIMIT_REACHED)
# The workload is DBConvert Streams' published one: one INSERT ... SELECT
# transaction into products(id bigint PK, name varchar(255), price
# decimal(10,2), weight double precision, created timestamp).
#
#   bench/pg_to_pg.sh [ROWS]        (default 1000000)
#
# Uses the test harness's throwaway PostgreSQL (fsync=off: the figures are
# CPU and protocol bound, not disk bound) and the release build.
set -euo pipefail
rows=${1:-1000000}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build/release
pgbin=/usr/lib/postgresql/15/bin

"$root/scripts/setup" >/dev/null
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$root" -Dbuildtype=release -Dtests=false >/dev/null
fi
ninja -C "$build" >/dev/null

work=$(mktemp -d /tmp/dbsb.XXXXXX)
chmod 755 "$work"
cleanup() {
	[ -n "${PGPORT:-}" ] && psql -q -d postgres -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'bench_%'" >/dev/null 2>&1 || true
	"$root/tests/harness/servers" stop "$work/srv" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
"$root/tests/harness/servers" start "$work/srv" pg >/dev/null
# shellcheck disable=SC1091
. "$work/srv/env"
export PGHOST=$DBS_TEST_PG_HOST PGPORT=$DBS_TEST_PG_PORT PGUSER=$DBS_TEST_PG_USER

now() { date +%s.%N; }
rate() { awk -v n="$rows" -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", n / (b - a) }'; }

ddl="CREATE TABLE products (id bigint PRIMARY KEY, name varchar(255), price decimal(10,2),
     weight double precision, created timestamp)"
for db in src dst copydst; do createdb "$db"; psql -q -d "$db" -c "$ddl"; done
psql -q -d src -c "CREATE PUBLICATION bench_pub FOR TABLE products"

# Bulk-load ceiling: COPY the same rows into an empty table.
rowsql="SELECT g, 'product ' || g, (g % 100000) / 100.0, g * 0.5, timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, $rows) g"
fill="INSERT INTO products $rowsql"
tmpcsv=$work/rows.copy
psql -q -d src -c "\\copy ($rowsql) TO '$tmpcsv'" >/dev/null
t0=$(now)
psql -q -d copydst -c "\\copy products FROM '$tmpcsv'"
t1=$(now)
copy_rate=$(rate "$t0" "$t1")

# Log-read ceiling: pg_recvlogical over pgoutput for the same transaction.
psql -q -At -d src -c "SELECT lsn FROM pg_create_logical_replication_slot('bench_recv', 'pgoutput')" >/dev/null

# dbstreams: the stream starts first (READY), then the transaction commits.
cat > "$work/stream.json" <<JSON
{ "source": { "type": "postgresql",
    "connection": "postgresql://$PGUSER@$PGHOST:$PGPORT/src",
    "dataBundleSize": 1000,
    "settings": { "replicationSlotName": "bench_dbs", "publicationName": "bench_pub" } },
  "target": { "type": "postgresql", "connection": "postgresql://$PGUSER@$PGHOST:$PGPORT/dst" },
  "limits": { "numberOfEvents": $rows } }
JSON
"$build/cli/dbs-cli" run "$work/stream.json" --stat-interval 3600 --log-level warn \
	> "$work/run.log" 2>&1 &
runpid=$!
for _ in $(seq 100); do
	[ "$(psql -At -d src -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'bench_dbs' AND active")" = 1 ] && break
	sleep 0.1
done
t0=$(now)
psql -q -d src -c "$fill"
end_lsn=$(psql -At -d src -c "SELECT pg_current_wal_lsn()")
wait "$runpid" || { cat "$work/run.log"; exit 1; }
t1=$(now)
dbs_rate=$(rate "$t0" "$t1")
got=$(psql -At -d dst -c "SELECT count(*) FROM products")
[ "$got" = "$rows" ] || { echo "target has $got rows, expected $rows" >&2; exit 1; }
same=$([ "$(psql -At -d src -c "SELECT md5(string_agg(p::text, '|' ORDER BY id)) FROM products p")" = \
	  "$(psql -At -d dst -c "SELECT md5(string_agg(p::text, '|' ORDER BY id)) FROM products p")" ] && echo yes || echo NO)

t0=$(now)
pg_recvlogical -d src --slot bench_recv --start --endpos "$end_lsn" --no-loop \
	-o proto_version=1 -o publication_names=bench_pub -f /dev/null
t1=$(now)
recv_rate=$(rate "$t0" "$t1")

printf '\nPostgreSQL -> PostgreSQL, %s rows in one transaction (fsync=off, loopback)\n' "$rows"
printf '%-34s %12s\n' "path" "rows/s"
printf '%-34s %12s\n' "COPY into the target (ceiling)" "$copy_rate"
printf '%-34s %12s\n' "pg_recvlogical read (ceiling)" "$recv_rate"
printf '%-34s %12s\n' "dbstreams INSERT start -> applied" "$dbs_rate"
awk -v d="$dbs_rate" -v c="$copy_rate" -v r="$recv_rate" \
	'BEGIN { printf "ratio to COPY %.2f, to pg_recvlogical %.2f\n", d / c, d / r }'
echo "target equals source (md5 of every row): $same"
