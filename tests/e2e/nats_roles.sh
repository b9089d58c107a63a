#!/usr/bin/env bash
# dbs-server roles over NATS: an API node, a source node and two target
# nodes (one per partition) in four processes. POST on the API node starts
# the stream on the nodes, stat shows it as one stream (target counters
# summed), rows arrive equal, DELETE stops every node and the writers
# remove the stream's JetStream data once drained. A writer blocked by a
# lock shows on the API node as a stalled stream, and moves again after.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg
NATS_URL=${DBS_TEST_NATS_URL:-}
[ -n "$NATS_URL" ] || fail "DBS_TEST_NATS_URL is not set: run the e2e suite through scripts/test"

SRC="dbs_e2e_nsrc_$E2E_UID"
TGT="dbs_e2e_ntgt_$E2E_UID"
SLOT="dbs_e2e_nslot_$E2E_UID"
PUB="dbs_e2e_npub_$E2E_UID"

new_db "$SRC"
new_db "$TGT"
drop_replication_at_exit "$SRC" "$SLOT" "$PUB"
pg "$SRC" -c "$PRODUCTS_DDL"
# Two writers would race to create the table on a fresh target.
pg "$TGT" -c "$PRODUCTS_DDL"

NODE_PIDS=()
stop_nodes() {
	local pid
	for pid in "${NODE_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${NODE_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	NODE_PIDS=()
}
at_exit stop_nodes

# start_node NAME ROLE [options]: a node listening on a free port.
start_node() {
	local name=$1 role=$2
	shift 2
	"$DBS_SERVER_BIN" --listen 127.0.0.1:0 --log-level debug --role "$role" --nats "$NATS_URL" \
		--node "$name" "$@" >>"$E2E_TMP/$name.log" 2>&1 &
	NODE_PIDS+=($!)
	wait_until 20 grep -q "role $role, node $name" "$E2E_TMP/$name.log" ||
		{ cat "$E2E_TMP/$name.log" >&2; fail "node $name did not start"; }
}

start_server --role api --nats "$NATS_URL"
start_node "w0_$E2E_UID" target --partition 0
start_node "src_$E2E_UID" source

pg_config "$SRC" "$TGT" "$SLOT" "$PUB" | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["hub"] = {"type": "nats", "url": sys.argv[1], "partitions": 2}
c["stallAfter"] = 2
print(json.dumps(c))' "$NATS_URL" >"$E2E_TMP/stream.json"

http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/stream.json"
expect_status 200
expect_json 'j["status"] == "success" and list(j["data"])[0] == "id"'
ID=$(jget 'j["data"]["id"]')
note "stream $ID"

# jtrue EXPR: like expect_json on $BODY, but only a status (for polling).
jtrue() {
	JSON_IN=$BODY python3 -c '
import json, os, sys
j = json.loads(os.environ["JSON_IN"])
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"
}

# The nodes report every second: the source node's config shows up first.
source_ready() {
	http GET "/api/v1/streams/$ID"
	[ "$STATUS" = 200 ]
}
wait_until 30 source_ready || fail "the source node did not report: $BODY"
# The second writer joins late: it finds the stream on the control stream.
# (Started together, two writers race to create the checkpoint table on a
# fresh target, which the PostgreSQL target does not take yet.)
checkpoint_table() {
	[ "$(pg "$TGT" -c "SELECT count(*) FROM pg_tables WHERE tablename = 'dbstreams_checkpoint'")" = 1 ]
}
wait_until 30 checkpoint_table || fail "writer 0 did not open the target"
start_node "w1_$E2E_UID" target --partition 1
w1_reported() {
	http GET "/api/v1/streams/$ID/stat"
	grep -q "stream $ID: target part started" "$E2E_TMP/w1_$E2E_UID.log"
}
wait_until 30 w1_reported || fail "writer 1 did not pick the stream up"
sleep 1.2
http GET "/api/v1/streams/$ID/stat"
expect_json 'j["source"]["status"] == "READY" and j["target"]["status"] == "READY"'


insert_products "$SRC" 1 5000
pg "$SRC" -c "UPDATE products SET price = price + 1 WHERE id % 3 = 0"
pg "$SRC" -c "DELETE FROM products WHERE id % 10 = 0"
EXPECTED=$((5000 + 1666 + 500))

all_applied() {
	http GET "/api/v1/streams/$ID/stat"
	jtrue 'j["target"]["counter"] == '"$EXPECTED"' and j["source"]["counter"] == '"$EXPECTED"
}
wait_until 120 all_applied || fail "counters did not reach $EXPECTED: $BODY"
expect_json 'j["source"]["status"] == "RUNNING" and j["target"]["status"] == "RUNNING"'

digest() {
	pg "$1" -c "SELECT count(*) || ':' || md5(string_agg(p::text, '|' ORDER BY id)) FROM products p"
}
[ "$(digest "$SRC")" = "$(digest "$TGT")" ] || fail "target differs: $(digest "$SRC") vs $(digest "$TGT")"

# Both writers took a share.
for k in 0 1; do
	n=$(pg "$TGT" -c "SELECT count(*) FROM dbstreams_checkpoint WHERE stream_id = '$ID.$k'")
	[ "$n" = 1 ] || fail "writer $k kept no checkpoint row"
done

# A writer blocked by a lock on the target table: the nodes' stat
# reports make the API node's stat say the stream stalled, and moving
# again once the lock is gone.
PGAPPNAME="dbs_e2e_locker_$E2E_UID" pg "$TGT" \
	-c "BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300)" \
	>/dev/null 2>&1 &
LOCKER=$!
unlock() {
	pg "$TGT" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	              WHERE application_name = 'dbs_e2e_locker_$E2E_UID'" >/dev/null
	wait "$LOCKER" 2>/dev/null || true
}
at_exit unlock
locked() {
	[ "$(pg "$TGT" -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
	                   WHERE c.relname = 'products' AND l.mode = 'AccessExclusiveLock'
	                   AND l.granted")" = 1 ]
}
wait_until 20 locked || fail "the lock on the target table was not taken"
insert_products "$SRC" 5001 5100
stalled() {
	http GET "/api/v1/streams/$ID/stat"
	jtrue 'j.get("stalled") is True and "stalledSince" in j'
}
wait_until 40 stalled || fail "the API node's stat did not say stalled: $BODY"
unlock
EXPECTED=$((EXPECTED + 100))
moving() {
	http GET "/api/v1/streams/$ID/stat"
	jtrue 'j.get("stalled") is False and j["target"]["counter"] == '"$EXPECTED"
}
wait_until 60 moving || fail "the stream did not move again after the lock: $BODY"
[ "$(digest "$SRC")" = "$(digest "$TGT")" ] || fail "target differs after the stall"

http GET "/api/v1/streams/$ID"
expect_status 200
expect_json 'j["id"] == "'"$ID"'" and j["hub"]["partitions"] == 2'

http DELETE "/api/v1/streams/$ID"
expect_status 200
expect_json 'j["Source"]["status"] == "STOPPED" and j["Target"]["status"] == "STOPPED"'
wait_until 20 grep -q "JetStream stream DBS_$ID removed" "$E2E_TMP"/w*_"$E2E_UID".log ||
	fail "the writers did not remove the JetStream stream"

stop_nodes
stop_server
note "ok"
