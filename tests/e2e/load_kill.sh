#!/usr/bin/env bash
# A convert of 1,000,000 MariaDB rows to PostgreSQL through dbs-server,
# killed with SIGKILL three times while it copies: each restart resumes the
# stream (its state directory) and the load continues from the chunks the
# target committed, not from zero: every run's stat shows the chunks an
# earlier run committed, the rows copied over all runs stay below twice
# the table, and dbs-cli verify finds no difference at the end.
# DBS_LOAD_KILL_ROWS changes the size.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg
: "${DBS_TEST_MYSQL_HOST:?}" "${DBS_TEST_MYSQL_PORT:?}"
ROWS=${DBS_LOAD_KILL_ROWS:-1000000}
CHUNK=$((ROWS / 40))

my() {
	mariadb --no-defaults --default-character-set=utf8mb4 -h "$DBS_TEST_MYSQL_HOST" \
		-P "$DBS_TEST_MYSQL_PORT" -u root -N -B "$@"
}

SRC="dbs_e2e_ksrc_$E2E_UID"
TGT="dbs_e2e_ktgt_$E2E_UID"
my -e "CREATE DATABASE $SRC"
at_exit "my -e 'DROP DATABASE IF EXISTS $SRC'"
new_db "$TGT"
my "$SRC" -e "CREATE TABLE products (id bigint PRIMARY KEY, name varchar(255), price decimal(10,2), weight double, created datetime(6), KEY products_price (price))"
my "$SRC" -e "INSERT INTO products SELECT seq, CONCAT('product ', seq), seq * 1.5, seq / 3.0, '2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_$ROWS"

cat >"$E2E_TMP/convert.json" <<JSON
{
  "source": {"type": "mysql", "mode": "convert",
             "connection": "root:@tcp($DBS_TEST_MYSQL_HOST:$DBS_TEST_MYSQL_PORT)/$SRC"},
  "target": {"type": "postgresql", "connection": "$(pg_uri "$TGT")"},
  "load": {"chunkRows": $CHUNK, "workers": 1}
}
JSON

start_server
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/convert.json"
expect_status 200
ID=$(jget 'j["data"]["id"]')

stat() {
	http GET "/api/v1/streams/$ID/stat"
	[ "$STATUS" = 200 ]
}
# A number of the load in $BODY, read without starting a program: the
# kills must land while the copy runs, however busy the machine is.
load_field() {
	local re="\"load\":\\{[^[]*\"$1\":([0-9]+)"
	[[ "$BODY" =~ $re ]] && echo "${BASH_REMATCH[1]}"
}
# chunks_at_least N: the load committed N chunks (over all runs).
chunks_at_least() {
	local n
	stat && n=$(load_field chunksDone) && [ "$n" -ge "$1" ]
}

t0=$(date +%s)
copied=0
done_before=0
for k in 1 2 3; do
	want=$((k * 10 - 5))
	wait_until 300 chunks_at_least "$want" || fail "kill $k: fewer than $want chunks committed: $BODY"
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
	grep -q '"status":"RUNNING".*"status":"RUNNING"' <<<"$BODY" || fail "kill $k: the copy was not running: $BODY"
	run_rows=$(load_field rowsThisRun)
	done_before=$(load_field chunksDone)
	copied=$((copied + run_rows))
	note "kill $k at +$(($(date +%s) - t0)) s: $done_before chunks committed, this run had copied $run_rows rows; records: $(pg "$TGT" -c "SELECT state || ':' || count(*) FROM dbstreams_load GROUP BY state" | tr '\n' ' ')"
	[ "$(pg "$TGT" -c "SELECT count(*) FROM dbstreams_load WHERE state = 'done'")" = 0 ] ||
		fail "kill $k came after the load was done: the copy ran faster than the test"
	start_server
	wait_started "$ID"
	# The resumed stream starts from what the target committed.
	wait_until 60 chunks_at_least 0 || fail "no load in the stat after restart $k: $BODY"
	resumed=$(load_field chunksResumed)
	[ "$resumed" -ge "$done_before" ] ||
		fail "restart $k resumed $resumed chunks, but $done_before were committed before the kill: $BODY"
done

finished() {
	stat && grep -q '"status":"FINISHED".*"status":"FINISHED"' <<<"$BODY"
}
wait_until 600 finished || fail "the convert did not finish: $BODY"
note "finished at +$(($(date +%s) - t0)) s: $BODY"
expect_json 'j["load"]["phase"] == "done" and j["load"]["rows"] == '"$ROWS"
expect_json 'j["load"]["chunksResumed"] > 0 and j["load"]["rowsThisRun"] < '"$ROWS"
last=$(jget 'j["load"]["rowsThisRun"]')
copied=$((copied + last))
note "rows copied over the four runs: $copied (the table: $ROWS)"
[ "$copied" -lt $((2 * ROWS)) ] || fail "the runs copied $copied rows: the load started over"
[ "$(pg "$TGT" -c "SELECT count(*) FROM \"$SRC\".products")" = "$ROWS" ] || fail "the target lacks rows"
[ "$(pg "$TGT" -c "SELECT count(*) FROM pg_indexes WHERE tablename = 'products' AND indexdef LIKE '%(price)%'")" = 1 ] ||
	fail "the secondary index was not made after the rows"
"$DBS_CLI_BIN" verify "$E2E_TMP/convert.json" >"$E2E_TMP/verify.txt" ||
	fail "verify found differences: $(tail -n 20 "$E2E_TMP/verify.txt")"
stop_server
