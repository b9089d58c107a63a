#!/usr/bin/env bash
# Mode convert through dbs-server, as a user drives it: POST the stream,
# watch its load in GET …/stat (phase, rows of estimated, chunks, per
# table), dbs-cli stat and the metrics, until it ends FINISHED with every
# row in the target; the reportingInterval line in the server's log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg

SRC="dbs_e2e_lsrc_$E2E_UID"
TGT="dbs_e2e_ltgt_$E2E_UID"
new_db "$SRC"
new_db "$TGT"
pg "$SRC" -c "$PRODUCTS_DDL"
insert_products "$SRC" 1 30000

start_server
cat >"$E2E_TMP/convert.json" <<JSON
{
  "source": {"type": "postgresql", "mode": "convert", "connection": "$(pg_uri "$SRC")",
             "filter": {"tables": [{"name": "products"}]}},
  "target": {"type": "postgresql", "connection": "$(pg_uri "$TGT")", "reportingInterval": 1},
  "load": {"chunkRows": 5000, "workers": 2}
}
JSON
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/convert.json"
expect_status 200
ID=$(jget 'j["data"]["id"]')
expect_json 'j["data"]["source"]["mode"] == "convert"'

finished() {
	http GET "/api/v1/streams/$ID/stat"
	[ "$STATUS" = 200 ] && grep -q '"status":"FINISHED".*"status":"FINISHED"' <<<"$BODY"
}
wait_until 120 finished || fail "the convert did not finish: $BODY"
expect_json 'j["source"]["counter"] == 30000 and j["target"]["counter"] == 30000'
expect_json 'j["load"]["phase"] == "done" and j["load"]["rows"] == 30000 and j["load"]["rowsEstimated"] == 30000'
expect_json 'j["load"]["chunks"] >= 6 and j["load"]["chunks"] == j["load"]["chunksDone"] and j["load"]["chunksResumed"] == 0'
expect_json 'j["load"]["tablesDone"] == 1 and j["load"]["rowsThisRun"] == 30000 and j["load"]["eta"] == "0s"'
expect_json '[(t["table"], t["phase"], t["rows"]) for t in j["load"]["tables"]] == [("public.products", "done", 30000)]'
[ "$(pg "$TGT" -c 'SELECT count(*) FROM products')" = 30000 ] || fail "the target lacks rows"

# dbs-cli stat: the load's line and its table.
"$DBS_CLI_BIN" --server "$SERVER_URL" stat "$ID" >"$E2E_TMP/stat.txt" || fail "dbs-cli stat"
grep -q '^load done: .*30000/30000 rows' "$E2E_TMP/stat.txt" || fail "dbs-cli stat: $(cat "$E2E_TMP/stat.txt")"
grep -q 'public.products .*done .*30000/30000 rows' "$E2E_TMP/stat.txt" || fail "dbs-cli stat: $(cat "$E2E_TMP/stat.txt")"

# The metrics, per stream and per table.
http GET /metrics
expect_status 200
grep -q "^load_rows_copied{streamID=\"$ID\"} 30000$" <<<"$BODY" || fail "/metrics: $BODY"
grep -q "^load_done{streamID=\"$ID\"} 1$" <<<"$BODY" || fail "/metrics: $BODY"
grep -q "^load_table_rows_copied{streamID=\"$ID\",table=\"public.products\"} 30000$" <<<"$BODY" || fail "/metrics: $BODY"
http GET "/api/v1/streams/$ID/target/metrics"
grep -q "^load_chunks_done{streamID=\"$ID\"} " <<<"$BODY" || fail "target metrics: $BODY"

grep -q '\[load\] done: 1/1 tables, 30000/30000 rows (100%)' "$SERVER_LOG" || fail "no load progress line in the server log"
stop_server
