#!/usr/bin/env bash
# dbs-cli run --part: the source part and the target part of one stream in
# two processes over NATS, as a user would start them on two machines. Rows
# arrive equal; the source's slot moves as the writer confirms; Ctrl-C on
# the source ends the writer once it drained.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg
NATS_URL=${DBS_TEST_NATS_URL:-}
[ -n "$NATS_URL" ] || fail "DBS_TEST_NATS_URL is not set: run the e2e suite through scripts/test"

SRC="dbs_e2e_csrc_$E2E_UID"
TGT="dbs_e2e_ctgt_$E2E_UID"
SLOT="dbs_e2e_cslot_$E2E_UID"
PUB="dbs_e2e_cpub_$E2E_UID"
new_db "$SRC"
new_db "$TGT"
drop_replication_at_exit "$SRC" "$SLOT" "$PUB"
pg "$SRC" -c "$PRODUCTS_DDL"
# No hub section: --nats gives it.
pg_config "$SRC" "$TGT" "$SLOT" "$PUB" >"$E2E_TMP/stream.json"

# A KSUID both parts share: 4 bytes of time since the KSUID epoch and 16
# random bytes, in base62.
ID=$(python3 -c '
import os, time
n = int.from_bytes((int(time.time()) - 1400000000).to_bytes(4, "big") + os.urandom(16), "big")
a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
s = ""
while n:
    n, r = divmod(n, 62)
    s = a[r] + s
print(s.rjust(27, "0"))')

PIDS=()
kill_parts() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
at_exit kill_parts

"$DBS_CLI_BIN" run --part target --id "$ID" --nats "$NATS_URL" --stat-interval 1 \
	"$E2E_TMP/stream.json" >"$E2E_TMP/target.out" 2>"$E2E_TMP/target.err" &
TARGET_PID=$!
PIDS+=("$TARGET_PID")
"$DBS_CLI_BIN" run --part source --id "$ID" --nats "$NATS_URL" --stat-interval 1 \
	"$E2E_TMP/stream.json" >"$E2E_TMP/source.out" 2>"$E2E_TMP/source.err" &
SOURCE_PID=$!
PIDS+=("$SOURCE_PID")
wait_until 30 grep -q "stream $ID started" "$E2E_TMP/source.err" ||
	{ cat "$E2E_TMP/source.err" >&2; fail "the source part did not start"; }

insert_products "$SRC" 1 3000
pg "$SRC" -c "UPDATE products SET name = name || ' upd' WHERE id % 2 = 0"
pg "$SRC" -c "DELETE FROM products WHERE id % 7 = 0"

digest() {
	pg "$1" -c "SELECT count(*) || ':' || md5(string_agg(p::text, '|' ORDER BY id)) FROM products p" 2>/dev/null || true
}
same() { [ "$(digest "$SRC")" = "$(digest "$TGT")" ]; }
wait_until 120 same || { cat "$E2E_TMP/target.err" >&2; fail "target differs: $(digest "$SRC") vs $(digest "$TGT")"; }

slot_moved() {
	[ "$(pg postgres -c "SELECT confirmed_flush_lsn >= pg_current_wal_lsn() - 65536 FROM pg_replication_slots WHERE slot_name = '$SLOT'")" = t ]
}
wait_until 20 slot_moved || fail "the source did not confirm the writer's position to its slot"

kill -INT "$SOURCE_PID"
wait "$SOURCE_PID" || fail "the source part exited with an error: $(tail -5 "$E2E_TMP/source.err")"
wait_until 30 bash -c "! kill -0 $TARGET_PID 2>/dev/null" || fail "the writer did not end after the source stopped"
wait "$TARGET_PID" || fail "the writer exited with an error: $(tail -5 "$E2E_TMP/target.err")"
PIDS=()
grep -q "JetStream stream DBS_$ID removed" "$E2E_TMP/target.err" || fail "the writer did not remove the JetStream stream"
note "ok"
