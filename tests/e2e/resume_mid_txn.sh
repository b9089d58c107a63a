#!/usr/bin/env bash
# A stream resumed from a checkpoint inside a source transaction larger
# than one batch (the process died after the target committed the first
# batch of it) must redo that transaction from its start, skipping what
# the target applied, and go on from there. It used to start from the end
# of the binlog instead ("now"), losing the rest of that transaction and
# everything committed after it (found by crash_resume).
#
# MariaDB -> PostgreSQL through dbs-server. The crash is made exact: a
# 250-row transaction is streamed whole, the stream is stopped, and the
# target is put back to the state the first batch's commit left (rows 1 to
# 100 and the checkpoint of event 100 of that transaction, no resume
# point); 50 more rows are committed meanwhile. Created again under its id
# (POST ?id=), the stream must bring the target to all 300 rows.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
my_to_pg_stream midtxn '
    "dataBundleSize": 100,
    "filter": { "tables": [ { "name": "t" } ] },'
my "$SRC" -e "INSERT INTO t SELECT seq, concat('row ', seq) FROM seq_1_to_250" || fail "the 250-row transaction failed"
wait_until 30 my_to_pg_rows 250 || fail "the 250-row transaction did not arrive"
http DELETE "/api/v1/streams/$ID"
expect_status 200
stop_server

# The state right after the first batch (events 1..100) of that
# transaction was committed.
cp=$(pg "$TGT" -F ' ' -c "SELECT txn, event, txn_end FROM dbstreams_checkpoint WHERE stream_id = '$ID'")
read -r txn event txn_end <<<"$cp"
[ "$event" = 250 ] && [ "$txn_end" = 1 ] || fail "unexpected checkpoint after the transaction: $cp"
pg "$TGT" -c "UPDATE dbstreams_checkpoint SET event = 100, txn_end = 0, resume = 0 WHERE stream_id = '$ID';
	DELETE FROM \"$SRC\".t WHERE id > 100"
my "$SRC" -e "INSERT INTO t SELECT seq, concat('row ', seq) FROM seq_251_to_300" || fail "the later rows failed"

start_server
http POST "/api/v1/streams?id=$ID" -H 'Content-Type: application/json' --data-binary "@$E2E_TMP/stream.json"
expect_status 200
wait_until 30 my_to_pg_rows 300 ||
	fail "after resuming inside transaction $txn the target holds $(pg "$TGT" -c "SELECT count(*) FROM \"$SRC\".t") of 300 rows"
[ "$(pg "$TGT" -c "SELECT count(*) FROM \"$SRC\".t WHERE v = 'row ' || id")" = 300 ] || fail "rows differ"
rc=0
"$DBS_CLI_BIN" verify "$E2E_TMP/stream.json" >"$E2E_TMP/verify" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "dbs-cli verify exit $rc: $(cat "$E2E_TMP/verify")"
http DELETE "/api/v1/streams/$ID"
expect_status 200
stop_server
note "ok"
