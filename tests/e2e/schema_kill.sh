#!/usr/bin/env bash
# dbs-server killed (SIGKILL) between a schema change applied at the target
# and the checkpoint after it, then started again: the stream resumes from
# its state directory, the change is neither repeated nor skipped, and the
# rows written after it arrive.
#
# MariaDB -> PostgreSQL. While the server is down the source gets a row,
# an ALTER TABLE (a column added with a default, another renamed) and rows
# that use the new columns; the server comes back with DBS_FAULT_KILL at
# sqltarget.schema_applied (the point after the target applied the change,
# before its checkpoint commits; a build with -Dfault_injection=true), dies
# there, and is started once more without it. dbs-cli verify finds no
# difference and the target's columns are the source's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
my_to_pg_stream skill
my "$SRC" -e "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')" || fail "insert failed"
wait_until 60 my_to_pg_rows 3 || fail "the first rows did not arrive"
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

my "$SRC" -e "INSERT INTO t VALUES (4, 'four')"
my "$SRC" -e "ALTER TABLE t ADD COLUMN w int NOT NULL DEFAULT 3, RENAME COLUMN v TO label"
my "$SRC" -e "INSERT INTO t VALUES (5, 'five', 5), (6, 'six', 6); UPDATE t SET w = 10 WHERE id = 1"

# Started by hand: it dies before or while a health probe would run.
port=$(free_port)
DBS_FAULT_KILL=sqltarget.schema_applied:1 "$DBS_SERVER_BIN" --listen "127.0.0.1:$port" \
	--log-level debug --state-dir "$E2E_STATE_DIR" >>"$SERVER_LOG" 2>&1 &
pid=$!
for i in $(seq 1 600); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	fail "dbs-server never reached sqltarget.schema_applied (a build without -Dfault_injection=true has none)"
fi
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 137 ] || fail "dbs-server exited with $rc, not killed at sqltarget.schema_applied"
[ "$(pg "$TGT" -c "SELECT count(*) FROM \"$SRC\".t WHERE id > 4")" = 0 ] ||
	fail "rows after the change were applied before it was checkpointed"

start_server
wait_started "$ID"
wait_until 60 my_to_pg_rows 6 ||
	fail "after the restart the target holds $(pg "$TGT" -c "SELECT count(*) FROM \"$SRC\".t") of 6 rows"
cols=$(pg "$TGT" -c "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = '$SRC' AND table_name = 't'")
[ "$cols" = "id,label,w" ] || fail "the target's columns are $cols, not id,label,w"
[ "$(pg "$TGT" -c "SELECT count(*) FROM \"$SRC\".t WHERE w = 3")" = 3 ] ||
	fail "the rows there before the change do not hold its default"
rc=0
"$DBS_CLI_BIN" verify "$E2E_TMP/stream.json" >"$E2E_TMP/verify" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "dbs-cli verify exit $rc: $(cat "$E2E_TMP/verify")"
http DELETE "/api/v1/streams/$ID"
expect_status 200
stop_server
note "ok"
