#!/usr/bin/env bash
# SIGTERM while a stream is RUNNING stops it gracefully and exits 0; the
# next server (same --state-dir) resumes it from the confirmed position,
# so rows committed while no server ran still arrive, once. A stream the
# user stopped is not resumed, until it is created again with ?id=. Requests in
# flight during a stop do not block or break the server.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg

SRC="dbs_e2e_src_$E2E_UID"
TGT="dbs_e2e_tgt_$E2E_UID"
SLOT="dbs_e2e_slot_$E2E_UID"
PUB="dbs_e2e_pub_$E2E_UID"

new_db "$SRC"
new_db "$TGT"
drop_replication_at_exit "$SRC" "$SLOT" "$PUB"
pg "$SRC" -c "$PRODUCTS_DDL"
pg_config "$SRC" "$TGT" "$SLOT" "$PUB" >"$E2E_TMP/stream.json"

target_rows() {
	[ "$(pg "$TGT" -c 'SELECT count(*) FROM products' 2>/dev/null)" = "$1" ]
}

start_server
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/stream.json"
expect_status 200
wait_started
insert_products "$SRC" 1 100
wait_until 30 target_rows 100 || fail "first 100 rows did not arrive"

# Stat requests keep coming while the stream stops.
for i in $(seq 1 8); do
	(for j in $(seq 1 20); do curl -s -o /dev/null "$SERVER_URL/api/v1/streams/stat" || true; done) &
done
http DELETE /api/v1/streams
expect_status 200
expect_json 'j["Source"]["status"] == "STOPPED" and j["Target"]["status"] == "STOPPED"'
wait $(jobs -p | grep -v "^$SERVER_PID$") 2>/dev/null || true
http GET /healthz
expect_status 200

# A second stream on the same slot, stopped by SIGTERM while RUNNING.
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/stream.json"
expect_status 200
ID2=$(jget 'j["data"]["id"]')
wait_started "$ID2"
insert_products "$SRC" 101 150
wait_until 30 target_rows 150 || fail "rows 101-150 did not arrive"
http GET /api/v1/streams/stat
expect_json 'j["source"]["status"] == "RUNNING"'
stop_server
grep -q 'SIGTERM: shutting down' "$SERVER_LOG" || fail "no shutdown line"
grep -q '\[source\] STOPPED' "$SERVER_LOG" || fail "the source was not stopped gracefully"

# Rows committed while nothing runs. The new server resumes the stream by
# itself, under its id, from its state directory.
insert_products "$SRC" 151 200
start_server
http GET "/api/v1/streams/$ID2/stat"
expect_status 200
wait_until 30 target_rows 200 || fail "rows committed while stopped did not arrive: $(pg "$TGT" -c 'SELECT count(*) FROM products')"
[ "$(pg "$TGT" -c 'SELECT count(DISTINCT id) FROM products')" = 200 ] || fail "duplicate rows"
grep -q "stream $ID2 resumed" "$SERVER_LOG" || fail "no 'resumed' line for $ID2"

# Stopped by the user: not resumed by the next server ...
http DELETE /api/v1/streams
expect_status 200
stop_server
insert_products "$SRC" 201 220
start_server
http GET "/api/v1/streams/$ID2/stat"
expect_status 404
# ... until it is created again under its id: it resumes from its
# checkpoint, so the rows of the pause arrive, once. Meanwhile another
# session still holds the slot for 2 s, as the walsender of a killed
# server does until it notices: the resumed source waits for it instead
# of failing.
PG_RECVLOGICAL=$(command -v pg_recvlogical || ls /usr/lib/postgresql/*/bin/pg_recvlogical | tail -n 1)
"$PG_RECVLOGICAL" -h "$DBS_TEST_PG_HOST" -p "$DBS_TEST_PG_PORT" -U "$DBS_TEST_PG_USER" -d "$SRC" \
	-S "$SLOT" --start -o proto_version=1 -o publication_names="$PUB" -f /dev/null &
HOLDER=$!
at_exit "kill $HOLDER 2>/dev/null || true"
slot_held() {
	[ "$(pg postgres -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT' AND active")" = 1 ]
}
wait_until 10 slot_held || fail "pg_recvlogical did not take the slot"
(sleep 2; kill "$HOLDER") &
http POST "/api/v1/streams?id=$ID2" -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/stream.json"
expect_status 200
expect_json 'j["data"]["id"] == "'"$ID2"'"'
wait_started "$ID2"
expect_json 'j["source"]["status"] in ("READY", "RUNNING")'
grep -q "replication slot \"$SLOT\" is held by server process" "$SERVER_LOG" || fail "no line about the held slot"
wait_until 30 target_rows 220 || fail "rows committed while the stream was stopped did not arrive: $(pg "$TGT" -c 'SELECT count(*) FROM products')"
[ "$(pg "$TGT" -c 'SELECT count(DISTINCT id) FROM products')" = 220 ] || fail "duplicate rows"
# One writer per id.
http POST "/api/v1/streams?id=$ID2" -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/stream.json"
expect_status 409
http DELETE /api/v1/streams
expect_status 200

# A configuration with a "name" the state directory knows is that stream
# again: it resumes under its id (409 while it runs).
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["name"] = "orders"; print(json.dumps(c))' \
	"$E2E_TMP/stream.json" >"$E2E_TMP/named.json"
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/named.json"
expect_status 200
ID3=$(jget 'j["data"]["id"]')
[ "$ID3" != "$ID2" ] || fail "a new name reused $ID2"
wait_started "$ID3"
insert_products "$SRC" 221 230
wait_until 30 target_rows 230 || fail "rows 221-230 did not arrive"
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/named.json"
expect_status 409
expect_json '"'"$ID3"'" in j["message"] and "same name" in j["message"]'
http DELETE "/api/v1/streams/$ID3"
expect_status 200
insert_products "$SRC" 231 240
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/named.json"
expect_status 200
expect_json 'j["data"]["id"] == "'"$ID3"'"'
wait_until 30 target_rows 240 || fail "rows committed while the named stream was stopped did not arrive"
[ "$(pg "$TGT" -c 'SELECT count(DISTINCT id) FROM products')" = 240 ] || fail "duplicate rows"
grep -q "stream $ID3 created again by name" "$SERVER_LOG" || fail "no 'created again by name' line"
http DELETE /api/v1/streams
expect_status 200
stop_server
note "ok"
