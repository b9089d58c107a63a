#!/usr/bin/env bash
# The getting-started page, step by step, with curl against dbs-server and
# a PostgreSQL -> PostgreSQL stream: create (body and ?file=), READY, rows
# flow and the stream turns RUNNING, stop, stat after stop, config and
# metrics, passwords never shown, several streams by id.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg

SRC="dbs_e2e_src_$E2E_UID"
TGT="dbs_e2e_tgt_$E2E_UID"
SLOT="dbs_e2e_slot_$E2E_UID"
PUB="dbs_e2e_pub_$E2E_UID"
SLOT2="dbs_e2e_slot2_$E2E_UID"
PUB2="dbs_e2e_pub2_$E2E_UID"
TGT2="dbs_e2e_tgt2_$E2E_UID"
# The harness's server trusts loopback, so the password is never checked;
# it is there to prove no answer ever shows it.
PASSWORD="e2e-Secret-$E2E_UID"

new_db "$SRC"
new_db "$TGT"
new_db "$TGT2"
drop_replication_at_exit "$SRC" "$SLOT" "$PUB"
drop_replication_at_exit "$SRC" "$SLOT2" "$PUB2"
pg "$SRC" -c "$PRODUCTS_DDL"

CONFIG_DIR="$E2E_TMP/configs"
mkdir -p "$CONFIG_DIR"
start_server --config-dir "$CONFIG_DIR"

# ---- create from the request body ----
pg_config "$SRC" "$TGT" "$SLOT" "$PUB" "$PASSWORD" >"$E2E_TMP/stream.json"
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/stream.json"
expect_status 200
expect_json 'j["status"] == "success"'
expect_json 'sorted(j["data"]) == ["id", "limits", "source", "target"]'
expect_json 'list(j["data"])[0] == "id"'
ID=$(jget 'j["data"]["id"]')
[[ "$ID" =~ ^[0-9A-Za-z]{27}$ ]] || fail "stream id is not a KSUID: $ID"
expect_json 'j["data"]["source"]["type"] == "postgresql" and j["data"]["target"]["type"] == "postgresql"'
expect_json '"********" in j["data"]["source"]["connection"] and "********" in j["data"]["target"]["connection"]'
expect_json 'j["data"]["source"]["settings"]["replicationSlotName"] == "'"$SLOT"'"'

# ---- READY before the first event ----
wait_started
expect_status 200
expect_json 'j["streamID"] == "'"$ID"'"'
for node in source target; do
	# The 0.x fields first and as 0.x has them, then the connection health.
	expect_json '{k: j["'$node'"][k] for k in list(j["'$node'"])[:4]} == {"counter": 0, "elapsed": "0s", "started": "0001-01-01T00:00:00Z", "status": "READY"}'
	expect_json 'j["'$node'"]["reconnects"] == 0 and j["'$node'"]["reconnecting"] is False and "connectionError" not in j["'$node'"]'
done
expect_json 'j["source"]["lagBytes"] >= 0 and j["target"]["lag"] == "0s" and j["target"]["lastCommit"] == "0001-01-01T00:00:00Z"'
expect_json 'j["hub"] == {"reconnects": 0, "reconnecting": False}'

# GET /streams: the current stream's configuration.
http GET /api/v1/streams
expect_status 200
expect_json 'j["id"] == "'"$ID"'" and "source" in j and "target" in j and "limits" in j'

# ---- rows flow: RUNNING, counters grow ----
insert_products "$SRC" 1 100
running() {
	http GET /api/v1/streams/stat
	[ "$STATUS" = 200 ] || return 1
	[ "$(jget 'j["source"]["status"] == "RUNNING" and j["target"]["status"] == "RUNNING" and j["source"]["counter"] >= 100 and j["target"]["counter"] >= 100')" = true ]
}
wait_until 30 running || fail "stream did not turn RUNNING with 100 events: $BODY"
expect_json 'j["source"]["started"] != "0001-01-01T00:00:00Z" and j["source"]["elapsed"] != "0s"'
target_rows() {
	[ "$(pg "$TGT" -c 'SELECT count(*) FROM products' 2>/dev/null)" = "$1" ]
}
wait_until 30 target_rows 100 || fail "target does not hold the 100 rows"

insert_products "$SRC" 101 250
pg "$SRC" -c "UPDATE products SET price = price + 1 WHERE id <= 10"
pg "$SRC" -c "DELETE FROM products WHERE id > 240"
grown() {
	http GET /api/v1/streams/stat
	[ "$(jget 'j["target"]["counter"] >= 270')" = true ]
}
wait_until 30 grown || fail "counters did not grow: $BODY"
wait_until 30 target_rows 240 || fail "target does not hold 240 rows after the delete"
[ "$(pg "$TGT" -c 'SELECT count(*) FROM products WHERE id <= 10 AND price = id * 1.5 + 1')" = 10 ] ||
	fail "updates did not reach the target"

# ---- metrics ----
http GET /api/v1/streams/source/metrics
expect_status 200
grep -Eq '^source_events_in\{streamID="'"$ID"'"\} [0-9]+$' <<<"$BODY" || fail "source metrics: $BODY"
grep -Eq '^source_duration_seconds\{status="RUNNING",streamID="'"$ID"'"\} [0-9.]+$' <<<"$BODY" || fail "source metrics: $BODY"
grep -Eq '^source_reconnects_total\{streamID="'"$ID"'"\} 0$' <<<"$BODY" || fail "source metrics: $BODY"
grep -Eq '^source_reconnecting\{streamID="'"$ID"'"\} 0$' <<<"$BODY" || fail "source metrics: $BODY"
grep -Eq '^source_lag_bytes\{streamID="'"$ID"'"\} [0-9]+$' <<<"$BODY" || fail "source metrics: $BODY"
grep -q '^target_' <<<"$BODY" && fail "source metrics show target families: $BODY"
http GET /api/v1/streams/target/metrics
expect_status 200
grep -Eq '^target_events_out\{streamID="'"$ID"'"\} [0-9]+$' <<<"$BODY" || fail "target metrics: $BODY"
grep -Eq '^target_reconnects_total\{streamID="'"$ID"'"\} 0$' <<<"$BODY" || fail "target metrics: $BODY"
grep -Eq '^target_reconnecting\{streamID="'"$ID"'"\} 0$' <<<"$BODY" || fail "target metrics: $BODY"
grep -Eq '^target_lag_seconds\{streamID="'"$ID"'"\} [0-9]+\.[0-9]{9}$' <<<"$BODY" || fail "target metrics: $BODY"
grep -Eq '^target_last_commit_timestamp_seconds\{streamID="'"$ID"'"\} [1-9][0-9]{9}\.[0-9]{6}$' <<<"$BODY" || fail "target metrics: $BODY"
grep -q '^source_' <<<"$BODY" && fail "target metrics show source families: $BODY"
http GET /metrics
expect_status 200
for family in source_events_in source_reconnects_total source_reconnecting source_lag_bytes \
	target_events_out target_reconnects_total target_lag_seconds hub_reconnects_total hub_reconnecting; do
	grep -Eq '^'$family'\{streamID="'"$ID"'"\} [0-9.]+$' <<<"$BODY" || fail "/metrics lacks $family: $BODY"
	[ "$(grep -c "^# TYPE $family " <<<"$BODY")" = 1 ] || fail "/metrics declares $family other than once: $BODY"
done
# Caught up: the commit time of the last change is known, nothing is behind.
http GET /api/v1/streams/stat
expect_json 'j["target"]["lastCommit"] != "0001-01-01T00:00:00Z" and j["target"]["lag"] == "0s"'
expect_json 'j["source"]["reconnects"] == 0 and j["target"]["reconnects"] == 0 and j["hub"]["reconnects"] == 0'

# ---- stop ----
http DELETE /api/v1/streams
expect_status 200
expect_json 'j == {"streamID": "'"$ID"'", "Source": {"status": "STOPPED"}, "Target": {"status": "STOPPED"}}'
http GET /api/v1/streams/stat
expect_status 200
for node in source target; do
	expect_json 'j["'$node'"]["status"] == "STOPPED" and j["'$node'"]["elapsed"] != "0s" and j["'$node'"]["counter"] > 0'
done
# Elapsed is frozen once stopped.
E1=$(jget 'j["source"]["elapsed"]')
sleep 0.3
http GET /api/v1/streams/stat
[ "$(jget 'j["source"]["elapsed"]')" = "$E1" ] || fail "elapsed still moves after stop"
http DELETE /api/v1/streams
expect_status 400
expect_json 'j == {"status": "error", "message": "no active stream to stop"}'

# ---- create from ?file=, a second stream alongside ----
pg_config "$SRC" "$TGT2" "$SLOT2" "$PUB2" "$PASSWORD" >"$CONFIG_DIR/stream-config.json"
http POST /api/v1/streams\?file=stream-config.json
expect_status 200
expect_json 'j["status"] == "success"'
ID2=$(jget 'j["data"]["id"]')
[ "$ID2" != "$ID" ] || fail "second stream has the first one's id"
expect_json 'j["data"]["target"]["connection"].endswith("/'"$TGT2"'")'
wait_started
expect_status 200
expect_json 'j["streamID"] == "'"$ID2"'" and j["source"]["status"] == "READY" and j["target"]["status"] == "READY"'

# The first is still there by id.
http GET "/api/v1/streams/$ID/stat"
expect_status 200
expect_json 'j["streamID"] == "'"$ID"'" and j["source"]["status"] == "STOPPED"'
http GET "/api/v1/streams/$ID"
expect_status 200
expect_json 'j["id"] == "'"$ID"'"'
http GET "/api/v1/streams/$ID/target/metrics"
expect_status 200
grep -Eq '^target_duration_seconds\{status="STOPPED",streamID="'"$ID"'"\} [0-9]+\.[0-9]+$' <<<"$BODY" ||
	fail "target metrics by id: $BODY"
http GET /metrics
expect_status 200
grep -q "streamID=\"$ID\"" <<<"$BODY" || fail "/metrics lacks the first stream"
grep -q "streamID=\"$ID2\"" <<<"$BODY" || fail "/metrics lacks the second stream"

insert_products "$SRC" 1000 1004
second_running() {
	http GET "/api/v1/streams/$ID2/stat"
	[ "$(jget 'j["target"]["status"] == "RUNNING" and j["target"]["counter"] >= 5')" = true ]
}
wait_until 30 second_running || fail "second stream did not run: $BODY"
http DELETE "/api/v1/streams/$ID2"
expect_status 200
expect_json 'j["Source"]["status"] == "STOPPED" and j["Target"]["status"] == "STOPPED"'
# By id, stopping again is idempotent.
http DELETE "/api/v1/streams/$ID2"
expect_status 200

# ---- no answer ever showed the password ----
if grep -qF "$PASSWORD" "$E2E_RESPONSES"; then
	fail "a response contains the password"
fi
if grep -qF "$PASSWORD" "$SERVER_LOG"; then
	fail "the server log contains the password"
fi

stop_server
note "ok"
