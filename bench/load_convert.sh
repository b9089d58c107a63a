#!/usr/bin/env bash
# Mode convert next to the bulk loaders, in one run on one machine:
# 1,000,000 `products` rows copied MariaDB -> PostgreSQL and PostgreSQL ->
# PostgreSQL by dbs-cli run (mode convert), by pgloader (MariaDB ->
# PostgreSQL), by COPY of the same rows (one statement, and 1000-row
# statements), and by pg_dump | pg_restore. Prints seconds, rows/s and
# the ratios to pgloader and to one COPY (bench/README.md).
#
#   bench/load_convert.sh [ROWS]      default 1000000
#   DBS_LOAD_WORKERS=N                load.workers of the converts (4)
#
# Starts its own servers with tests/harness/servers (PostgreSQL with
# fsync off, as the tests run; DBS_HARNESS_PG_EXTRA="-c fsync=on" for
# durable commits) and stops them at exit. Needs build/release (or
# DBS_CLI=path) and pgloader (bench/setup installs it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROWS=${1:-1000000}
CLI=${DBS_CLI:-$ROOT/build/release/cli/dbs-cli}
[ -x "$CLI" ] || { echo "no $CLI: build build/release first" >&2; exit 1; }
command -v pgloader >/dev/null || { echo "pgloader is not installed (bench/setup)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/dbs-lb.XXXXXX)
cleanup() { "$ROOT/tests/harness/servers" stop "$DIR/srv" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
"$ROOT/tests/harness/servers" start "$DIR/srv" pg mysql >/dev/null
. "$DIR/srv/env"
PG="postgresql://postgres@127.0.0.1:$DBS_TEST_PG_PORT"
export PGOPTIONS="-c client_min_messages=warning"
my() { mariadb --no-defaults -h 127.0.0.1 -P "$DBS_TEST_MYSQL_PORT" -u root -N -B "$@"; }
pg() { psql -X -q -v ON_ERROR_STOP=1 "$PG/$1" "${@:2}"; }
newdb() { pg postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
DDL='CREATE TABLE products (id bigint PRIMARY KEY, name varchar(255), price numeric(10,2), weight double precision, created timestamptz)'

echo "load_convert: $ROWS rows, ${DBS_LOAD_WORKERS:-4} workers; load average $(cut -d' ' -f1-3 /proc/loadavg)"
my -e "CREATE DATABASE shop; USE shop; CREATE TABLE products (id bigint PRIMARY KEY,
	name varchar(255), price decimal(10,2), weight double, created timestamp NULL);
	INSERT INTO products SELECT seq, CONCAT('product ', seq), seq * 1.5 % 100000, seq / 3.0,
	'2024-01-01 00:00:00' + INTERVAL (seq % 10000000) SECOND FROM seq_1_to_$ROWS"
newdb shop
pg shop -c "$DDL" -c "INSERT INTO products SELECT g, 'product ' || g, g * 1.5 % 100000,
	g / 3.0, '2024-01-01'::timestamptz + (g % 10000000) * interval '1 second'
	FROM generate_series(1, $ROWS) g" -c "VACUUM ANALYZE products"
pg shop -c "\\copy products TO '$DIR/products.copy'"
# The same rows as COPY statements of 1000 rows each.
awk -v out="$DIR/copy1000.sql" 'NR % 1000 == 1 { if (NR > 1) print "\\." > out;
	print "COPY products FROM STDIN;" > out } { print > out } END { print "\\." > out }' "$DIR/products.copy"

declare -A SECS
run() { # name command...
	local t0 t1
	t0=$(date +%s.%N)
	"${@:2}" >"$DIR/$1.log" 2>&1 || { echo "$1 failed:" >&2; tail -n 20 "$DIR/$1.log" >&2; exit 1; }
	t1=$(date +%s.%N)
	SECS[$1]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	echo "  $1: ${SECS[$1]} s"
}

newdb t1
WORKERS=${DBS_LOAD_WORKERS:-4}
cat >"$DIR/mp.json" <<JSON
{"source": {"type": "mysql", "mode": "convert", "connection": "root:@tcp(127.0.0.1:$DBS_TEST_MYSQL_PORT)/shop"},
 "target": {"type": "postgresql", "connection": "$PG/t1"}, "load": {"workers": $WORKERS}}
JSON
run "dbs convert MariaDB -> PostgreSQL" "$CLI" run "$DIR/mp.json" --log-level warn
newdb t2
cat >"$DIR/pp.json" <<JSON
{"source": {"type": "postgresql", "mode": "convert", "connection": "$PG/shop"},
 "target": {"type": "postgresql", "connection": "$PG/t2"}, "load": {"workers": $WORKERS}}
JSON
run "dbs convert PostgreSQL -> PostgreSQL" "$CLI" run "$DIR/pp.json" --log-level warn
newdb t3
run "pgloader MariaDB -> PostgreSQL" pgloader "mysql://root@127.0.0.1:$DBS_TEST_MYSQL_PORT/shop" "$PG/t3"
newdb t4
pg t4 -c "$DDL"
run "COPY, one statement" pg t4 -c "\\copy products FROM '$DIR/products.copy'"
newdb t5
pg t5 -c "$DDL"
run "COPY, 1000-row statements" pg t5 -f "$DIR/copy1000.sql"
newdb t6
dump_restore() { pg_dump -Fc -t products "$PG/shop" | pg_restore -d "$PG/t6"; }
run "pg_dump -Fc, pg_restore" dump_restore

echo
echo "| method | seconds | rows/s | × pgloader | × one COPY |"
echo "|---|---|---|---|---|"
for k in "dbs convert MariaDB -> PostgreSQL" "dbs convert PostgreSQL -> PostgreSQL" \
	"pgloader MariaDB -> PostgreSQL" "COPY, one statement" "COPY, 1000-row statements" \
	"pg_dump -Fc, pg_restore"; do
	awk -v n="$k" -v s="${SECS[$k]}" -v r="$ROWS" -v pl="${SECS[pgloader MariaDB -> PostgreSQL]}" \
		-v c="${SECS[COPY, one statement]}" \
		'BEGIN { printf "| %s | %.2f | %.0f | %.2f | %.2f |\n", n, s, r / s, pl / s, c / s }'
done
echo "(load average at the end $(cut -d' ' -f1-3 /proc/loadavg))"
