#!/usr/bin/env bash
# dbs-cli against dbs-server (create, stat, config, stop), and in-process
# (validate, run), on a PostgreSQL -> PostgreSQL stream.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg

SRC="dbs_e2e_src_$E2E_UID"
TGT="dbs_e2e_tgt_$E2E_UID"
TGT2="dbs_e2e_tgt2_$E2E_UID"
SLOT="dbs_e2e_slot_$E2E_UID"
PUB="dbs_e2e_pub_$E2E_UID"
SLOT2="dbs_e2e_slot2_$E2E_UID"
PUB2="dbs_e2e_pub2_$E2E_UID"
PASSWORD="e2e-Secret-$E2E_UID"
OUT="$E2E_TMP/out"
ERR="$E2E_TMP/err"

new_db "$SRC"
new_db "$TGT"
new_db "$TGT2"
drop_replication_at_exit "$SRC" "$SLOT" "$PUB"
drop_replication_at_exit "$SRC" "$SLOT2" "$PUB2"
pg "$SRC" -c "$PRODUCTS_DDL"

cli() {
	"$DBS_CLI_BIN" --server "$SERVER_URL" "$@" >"$OUT" 2>"$ERR"
}
# cli_fails CMD...: must exit non-zero.
cli_fails() {
	if "$DBS_CLI_BIN" --server "$SERVER_URL" "$@" >"$OUT" 2>"$ERR"; then
		fail "dbs-cli $* succeeded: $(cat "$OUT")"
	fi
}

"$DBS_CLI_BIN" --help | grep -q 'create' || fail "dbs-cli --help"
"$DBS_CLI_BIN" --version | grep -q 'dbs-cli' || fail "dbs-cli --version"
rc=0
"$DBS_CLI_BIN" frobnicate 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "unknown command should exit 2, got $rc"

# ---- validate ----
pg_config "$SRC" "$TGT" "$SLOT" "$PUB" "$PASSWORD" >"$E2E_TMP/stream.json"
"$DBS_CLI_BIN" validate "$E2E_TMP/stream.json" >"$OUT" || fail "validate refused a good config"
grep -q 'valid' "$OUT" || fail "validate output: $(cat "$OUT")"
echo '{"source":{"type":"postgresql","connection":"x","dataBundleSize":5},"target":{"type":"postgresql","connection":"y"}}' >"$E2E_TMP/bad.json"
if "$DBS_CLI_BIN" validate "$E2E_TMP/bad.json" >"$OUT" 2>"$ERR"; then
	fail "validate accepted a bad config"
fi
grep -q 'source.dataBundleSize' "$ERR" || fail "validate message lacks the path: $(cat "$ERR")"

# ---- no server there ----
SERVER_URL="http://127.0.0.1:$(free_port)"
cli_fails stat
grep -qi 'connect' "$ERR" || fail "unreachable server message: $(cat "$ERR")"

start_server

# ---- REST commands ----
cli_fails stop
grep -q 'no active stream to stop' "$ERR" || fail "stop without stream: $(cat "$ERR")"
cli_fails create "$E2E_TMP/bad.json"
grep -q 'source.dataBundleSize' "$ERR" || fail "create bad config: $(cat "$ERR")"

cli create "$E2E_TMP/stream.json" || fail "create: $(cat "$ERR")"
ID=$(sed -n 's/^stream \([0-9A-Za-z]\{27\}\) created$/\1/p' "$OUT")
[ -n "$ID" ] || fail "create output: $(cat "$OUT")"

cli stat || fail "stat: $(cat "$ERR")"
grep -q "$ID" "$OUT" || fail "stat lacks the id: $(cat "$OUT")"
grep -Eq '^source +READY +0 +0s +0001-01-01T00:00:00Z' "$OUT" || fail "stat table: $(cat "$OUT")"
grep -Eq '^target +READY +0 ' "$OUT" || fail "stat table: $(cat "$OUT")"
grep -Eq '^source 0 reconnects$' "$OUT" || fail "stat lacks the source's reconnects: $(cat "$OUT")"
grep -Eq '^target 0 reconnects$' "$OUT" || fail "stat lacks the target's reconnects: $(cat "$OUT")"
grep -Eq '^hub 0 reconnects$' "$OUT" || fail "stat lacks the hub's reconnects: $(cat "$OUT")"
grep -Eq '^lag [0-9]+ bytes of source log, target 0s behind$' "$OUT" || fail "stat lacks the lag: $(cat "$OUT")"
cli --json stat || fail "stat --json"
expect_json 'j["streamID"] == "'"$ID"'" and j["source"]["status"] == "READY"' "$(cat "$OUT")"
cli stat "$ID" || fail "stat ID"

cli config || fail "config"
expect_json 'j["id"] == "'"$ID"'" and "********" in j["source"]["connection"]' "$(cat "$OUT")"
grep -qF "$PASSWORD" "$OUT" && fail "config shows the password"

insert_products "$SRC" 1 50
cli_running() {
	cli --json stat && [ "$(jget 'j["target"]["status"] == "RUNNING" and j["target"]["counter"] >= 50' "$(cat "$OUT")")" = true ]
}
wait_until 30 cli_running || fail "stream did not run: $(cat "$OUT")"

cli stop || fail "stop: $(cat "$ERR")"
grep -q "stream $ID stopped: source STOPPED, target STOPPED" "$OUT" || fail "stop output: $(cat "$OUT")"
cli stat
grep -Eq '^source +STOPPED +[0-9]+ ' "$OUT" || fail "stat after stop: $(cat "$OUT")"
cli_fails stop
grep -q 'no active stream to stop' "$ERR" || fail "second stop: $(cat "$ERR")"
cli_fails stat 2Fdj6JALDAm53S7Q4NxzH3sffzM
cli_fails stat not-an-id

# create from stdin and stop by id
pg_config "$SRC" "$TGT2" "$SLOT2" "$PUB2" "$PASSWORD" >"$E2E_TMP/stream2.json"
"$DBS_CLI_BIN" --server "$SERVER_URL" create - <"$E2E_TMP/stream2.json" >"$OUT" || fail "create -"
ID2=$(sed -n 's/^stream \([0-9A-Za-z]\{27\}\) created$/\1/p' "$OUT")
[ -n "$ID2" ] || fail "create - output: $(cat "$OUT")"
cli stop "$ID2" || fail "stop ID: $(cat "$ERR")"
grep -q "stream $ID2 stopped" "$OUT" || fail "stop ID output: $(cat "$OUT")"
# create --id: the same stream again, under its id.
cli_fails create --id not-an-id "$E2E_TMP/stream2.json"
grep -q -- '--id wants a stream id' "$ERR" || fail "create --id not-an-id: $(cat "$ERR")"
cli create --id "$ID2" "$E2E_TMP/stream2.json" || fail "create --id: $(cat "$ERR")"
grep -q "^stream $ID2 created$" "$OUT" || fail "create --id output: $(cat "$OUT")"
cli_fails create --id "$ID2" "$E2E_TMP/stream2.json"
grep -q "stream $ID2 is running" "$ERR" || fail "second create --id: $(cat "$ERR")"
cli stop "$ID2" || fail "stop ID: $(cat "$ERR")"

# create reports a target that could not be opened, and fails.
sed "s#/$TGT2\"#/dbs_e2e_missing_$E2E_UID\"#" "$E2E_TMP/stream2.json" >"$E2E_TMP/broken2.json"
grep -q "dbs_e2e_missing_$E2E_UID" "$E2E_TMP/broken2.json" || fail "could not build the broken config"
cli_fails create "$E2E_TMP/broken2.json"
grep -q 'target INIT FAILED: .*does not exist' "$ERR" || fail "create with a missing target: $(cat "$ERR")"
cli stat
grep -Eq '^target +INIT FAILED +0 .*does not exist' "$OUT" || fail "stat of INIT FAILED: $(cat "$OUT")"
stop_server

# ---- run: in process, no server ----
# Reuses the first stream's slot, which resumes where it stopped.
# Each run writes files of its own: a background job's redirections happen
# in the child, so reused files could still show the last command's text.
OUT="$E2E_TMP/run1.out"
ERR="$E2E_TMP/run1.err"
"$DBS_CLI_BIN" run "$E2E_TMP/stream.json" --stat-interval 0.5 >"$OUT" 2>"$ERR" &
RUN_PID=$!
at_exit "kill -TERM $RUN_PID 2>/dev/null || true; wait $RUN_PID 2>/dev/null || true"
run_started() {
	grep -q 'started; Ctrl-C stops it' "$ERR" 2>/dev/null
}
wait_until 30 run_started || fail "run did not start: $(cat "$ERR")"
insert_products "$SRC" 100 119
run_counted() {
	grep -Eq 'target RUNNING, [0-9]+ events.* \| lag [0-9]+ bytes, ' "$OUT"
}
wait_until 30 run_counted || fail "run printed no RUNNING stat line: $(cat "$OUT") $(cat "$ERR")"
kill -INT "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "run exited $rc after SIGINT: $(tail -5 "$ERR")"
tail -n 1 "$OUT" | grep -q 'source STOPPED.*target STOPPED' || fail "run's last line: $(tail -n 1 "$OUT")"
[ "$(pg "$TGT" -c 'SELECT count(*) FROM products')" = 70 ] || fail "target rows after run: $(pg "$TGT" -c 'SELECT count(*) FROM products')"

# run until an event limit: exits 0 by itself.
SLOT3="dbs_e2e_slot3_$E2E_UID"
PUB3="dbs_e2e_pub3_$E2E_UID"
drop_replication_at_exit "$SRC" "$SLOT3" "$PUB3"
pg_config "$SRC" "$TGT2" "$SLOT3" "$PUB3" | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["limits"]["numberOfEvents"] = 5
print(json.dumps(c))' >"$E2E_TMP/limited.json"
OUT="$E2E_TMP/run2.out"
ERR="$E2E_TMP/run2.err"
"$DBS_CLI_BIN" run "$E2E_TMP/limited.json" --stat-interval 0.5 >"$OUT" 2>"$ERR" &
RUN_PID=$!
at_exit "kill -TERM $RUN_PID 2>/dev/null || true; wait $RUN_PID 2>/dev/null || true"
wait_until 30 run_started || fail "run did not start: $(cat "$ERR")"
insert_products "$SRC" 200 209
run_ended() {
	! kill -0 "$RUN_PID" 2>/dev/null
}
wait_until 30 run_ended || fail "run did not end at its event limit: $(tail -3 "$OUT"); log: $(cat "$ERR")"
rc=0
wait "$RUN_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "run at its event limit exited $rc: $(tail -3 "$ERR")"
tail -n 1 "$OUT" | grep -q 'EVENT_LIMIT_REACHED' || fail "run's last line: $(tail -n 1 "$OUT")"

# run with a target that cannot be opened: exit 1, the reason shown.
sed "s#/$TGT\"#/dbs_e2e_missing_$E2E_UID\"#" "$E2E_TMP/stream.json" >"$E2E_TMP/broken.json"
rc=0
OUT="$E2E_TMP/run3.out"
ERR="$E2E_TMP/run3.err"
timeout 60 "$DBS_CLI_BIN" run "$E2E_TMP/broken.json" --stat-interval 0.5 >"$OUT" 2>"$ERR" </dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "run with a missing target database exited $rc"
grep -q 'INIT FAILED' "$OUT" || fail "run output lacks INIT FAILED: $(cat "$OUT")"

note "ok"
