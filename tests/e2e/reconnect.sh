#!/usr/bin/env bash
# Reconnects as a user sees them, on a PostgreSQL of this test's own: a
# PostgreSQL -> PostgreSQL stream whose server is restarted mid-stream
# carries on, and stat, metrics and dbs-cli count the reconnects and show
# them over; then the server stops for good and, past
# reconnect.giveUpAfter, the stream ends FAILED saying why.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg

HARNESS="$(cd "$(dirname "$0")/../harness" && pwd)/servers"
OWN="$E2E_TMP/own"
"$HARNESS" start "$OWN" pg >"$E2E_TMP/harness.log" 2>&1 ||
	fail "cannot start a PostgreSQL of this test's own: $(tail -5 "$E2E_TMP/harness.log")"
at_exit "'$HARNESS' stop '$OWN' >/dev/null 2>&1"
# From here on the pg helpers talk to that server; it is thrown away at
# the end, databases, slot and all.
. "$OWN/env"

SRC="dbs_e2e_src_$E2E_UID"
TGT="dbs_e2e_tgt_$E2E_UID"
pg postgres -c "CREATE DATABASE \"$SRC\""
pg postgres -c "CREATE DATABASE \"$TGT\""
pg "$SRC" -c "$PRODUCTS_DDL"
pg_config "$SRC" "$TGT" "dbs_e2e_slot_$E2E_UID" "dbs_e2e_pub_$E2E_UID" |
	python3 -c 'import json, sys; c = json.load(sys.stdin); c["reconnect"] = {"giveUpAfter": 10}; print(json.dumps(c))' \
		>"$E2E_TMP/stream.json"

start_server
http POST /api/v1/streams -H 'Content-Type: application/json' --data-binary "@$E2E_TMP/stream.json"
expect_status 200
ID=$(jget 'j["data"]["id"]')
expect_json 'j["data"]["reconnect"] == {"giveUpAfter": 10}'
wait_started "$ID"

applied() {
	http GET /api/v1/streams/stat
	[ "$(jget 'j["target"]["counter"] >= '"$1"' and not j["source"]["reconnecting"] and not j["target"]["reconnecting"]')" = true ]
}
insert_products "$SRC" 1 100
wait_until 30 applied 100 || fail "the first rows did not arrive: $BODY"
expect_json 'j["source"]["reconnects"] == 0 and j["target"]["reconnects"] == 0'

# ---- the server restarted: the stream carries on and counts it ----
"$HARNESS" restart "$OWN" pg >>"$E2E_TMP/harness.log" 2>&1 || fail "restart failed"
insert_products "$SRC" 101 200
wait_until 60 applied 200 || fail "the stream did not recover from the restart: $BODY"
for node in source target; do
	expect_json 'j["'$node'"]["status"] == "RUNNING" and j["'$node'"]["reconnects"] >= 1'
	expect_json 'j["'$node'"]["connectionError"] != "" and "lostSince" not in j["'$node'"]'
done
[ "$(pg "$TGT" -c 'SELECT count(*) FROM products')" = 200 ] || fail "target rows after the restart"

http GET /metrics
expect_status 200
grep -Eq '^source_reconnects_total\{streamID="'"$ID"'"\} [1-9][0-9]*$' <<<"$BODY" || fail "metrics: $BODY"
grep -Eq '^target_reconnects_total\{streamID="'"$ID"'"\} [1-9][0-9]*$' <<<"$BODY" || fail "metrics: $BODY"
grep -Eq '^source_reconnecting\{streamID="'"$ID"'"\} 0$' <<<"$BODY" || fail "metrics: $BODY"

"$DBS_CLI_BIN" --server "$SERVER_URL" stat >"$E2E_TMP/stat.out" || fail "dbs-cli stat"
grep -Eq '^source [1-9][0-9]* reconnects, last error: .+' "$E2E_TMP/stat.out" ||
	fail "dbs-cli stat lacks the reconnects: $(cat "$E2E_TMP/stat.out")"

# ---- the server gone for good: FAILED with the reason after 10 s ----
# (10 s, not less: a loaded machine must still see it reconnecting first)
"$HARNESS" stop "$OWN" >>"$E2E_TMP/harness.log" 2>&1 || fail "stop failed"
reconnecting() {
	http GET /api/v1/streams/stat
	[ "$(jget 'j["source"]["reconnecting"] and "lostSince" in j["source"]')" = true ]
}
wait_until 10 reconnecting || fail "the lost source never showed as reconnecting: $BODY"
expect_json 'j["source"]["status"] == "RUNNING"'
failed() {
	http GET /api/v1/streams/stat
	[ "$(jget 'j["source"]["status"] == "FAILED"')" = true ]
}
wait_until 60 failed || fail "the stream did not give up: $BODY"
expect_json '"connection lost for 10 s, gave up after" in j["source"]["message"] and "reconnect.giveUpAfter" in j["source"]["message"]'
expect_json 'not j["source"]["reconnecting"] and j["source"]["reconnects"] >= 2'
note "gave up: $(jget 'j["source"]["message"]')"
