#!/usr/bin/env bash
# A node that cannot open its database shows INIT FAILED with the
# database's own message; the server keeps serving, and DELETE reports each
# node's final status.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg

SRC="dbs_e2e_src_$E2E_UID"
MISSING="dbs_e2e_missing_$E2E_UID"
SLOT="dbs_e2e_slot_$E2E_UID"
PUB="dbs_e2e_pub_$E2E_UID"
SLOT2="dbs_e2e_slot2_$E2E_UID"
PUB2="dbs_e2e_pub2_$E2E_UID"
PASSWORD="e2e-Secret-$E2E_UID"

new_db "$SRC"
drop_replication_at_exit "$SRC" "$SLOT" "$PUB"
drop_replication_at_exit "$SRC" "$SLOT2" "$PUB2"
pg "$SRC" -c "$PRODUCTS_DDL"
start_server

wait_ended() {
	http GET /api/v1/streams/stat
	[ "$(jget 'j["target"]["status"] not in ("STARTING", "READY", "RUNNING")')" = true ]
}

# ---- target database does not exist ----
pg_config "$SRC" "$MISSING" "$SLOT" "$PUB" "$PASSWORD" >"$E2E_TMP/missing-db.json"
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/missing-db.json"
expect_status 200
ID=$(jget 'j["data"]["id"]')
wait_until 10 wait_ended || fail "target did not fail: $BODY"
expect_json 'j["target"]["status"] == "INIT FAILED"'
expect_json '"'"$MISSING"'" in j["target"]["message"] and "does not exist" in j["target"]["message"]'
# A node without a problem carries no message key.
expect_json '"message" not in j["source"] or j["source"]["status"] in ("INIT FAILED", "FAILED")'

# DELETE: a node that ended before keeps its own status.
http DELETE /api/v1/streams
if [ "$STATUS" = 200 ]; then
	expect_json 'j["streamID"] == "'"$ID"'" and j["Target"]["status"] == "INIT FAILED"'
	expect_json 'j["Source"]["status"] != "RUNNING" and j["Source"]["status"] != "READY"'
else
	# Both nodes had already ended: nothing active to stop.
	expect_status 400
	expect_json 'j["message"] == "no active stream to stop"'
fi
http GET /api/v1/streams/stat
expect_json 'j["target"]["status"] == "INIT FAILED"'

# ---- target port refuses connections ----
DEAD_PORT=$(free_port)
sed "s#:$DBS_TEST_PG_PORT/$MISSING#:$DEAD_PORT/postgres#; s#$SLOT\"#$SLOT2\"#; s#$PUB\"#$PUB2\"#" \
	"$E2E_TMP/missing-db.json" >"$E2E_TMP/refused.json"
grep -q "$DEAD_PORT" "$E2E_TMP/refused.json" || fail "could not build the refused-port config"
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/refused.json"
expect_status 200
wait_until 10 wait_ended || fail "target did not fail: $BODY"
expect_json 'j["target"]["status"] == "INIT FAILED" and "refused" in j["target"]["message"].lower()'

# ---- source database does not exist ----
pg_config "$MISSING" "$SRC" "$SLOT2" "$PUB2" "$PASSWORD" >"$E2E_TMP/missing-src.json"
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/missing-src.json"
expect_status 200
src_ended() {
	http GET /api/v1/streams/stat
	[ "$(jget 'j["source"]["status"] not in ("STARTING", "READY", "RUNNING")')" = true ]
}
wait_until 10 src_ended || fail "source did not fail: $BODY"
expect_json 'j["source"]["status"] == "INIT FAILED" and "does not exist" in j["source"]["message"]'

# ---- wrong password (the harness makes members of dbs_password_users
# give theirs) ----
ROLE="dbs_e2e_role_$E2E_UID"
[ "$(pg postgres -c "SELECT count(*) FROM pg_roles WHERE rolname = 'dbs_password_users'")" = 1 ] ||
	fail "role dbs_password_users is missing: run the e2e suite through scripts/test"
pg postgres -c "CREATE ROLE \"$ROLE\" LOGIN PASSWORD 'right-$E2E_UID' IN ROLE dbs_password_users"
at_exit "pg postgres -c 'DROP ROLE IF EXISTS \"$ROLE\"'"
WRONG="wrong-$E2E_UID"
sed "s#postgresql://$DBS_TEST_PG_USER:$PASSWORD@\([^\"]*\)/$MISSING\"#postgresql://$ROLE:$WRONG@\1/postgres\"#; s#$SLOT\"#$SLOT2\"#; s#$PUB\"#$PUB2\"#" \
	"$E2E_TMP/missing-db.json" >"$E2E_TMP/wrong-pw.json"
grep -q "$WRONG" "$E2E_TMP/wrong-pw.json" || fail "could not build the wrong-password config"
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/wrong-pw.json"
expect_status 200
wait_until 10 wait_ended || fail "target did not fail: $BODY"
expect_json 'j["target"]["status"] == "INIT FAILED" and "password authentication failed" in j["target"]["message"]'
grep -qF "$WRONG" "$E2E_RESPONSES" && fail "a response shows the wrong password"

# The server still answers and still shuts down cleanly.
http GET /healthz
expect_status 200
if grep -qF "$PASSWORD" "$E2E_RESPONSES"; then
	fail "a response contains the password"
fi
stop_server

# The state directory: 0700, one record per stream, 0600 (it holds the
# password), each of these recorded as ended ("failed"), so the next
# server resumes none of them.
[ "$(stat -c %a "$E2E_STATE_DIR")" = 700 ] || fail "state dir mode $(stat -c %a "$E2E_STATE_DIR")"
records=("$E2E_STATE_DIR"/streams/*.json)
[ "${#records[@]}" = 4 ] || fail "expected 4 stream records, found: ${records[*]}"
for f in "${records[@]}"; do
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f")"
	expect_json 'j["state"] == "ended" and j["ended"] in ("failed", "stopped") and j["config"]["source"]["connection"]' "$(cat "$f")"
done
grep -qF "$PASSWORD" "$E2E_STATE_DIR/streams/$ID.json" || fail "the record of $ID lacks the password it needs to resume"
start_server
http GET /api/v1/streams/stat
expect_status 400
grep -q 'resumed' "$SERVER_LOG" && fail "an ended stream was resumed"
stop_server
note "ok"
