#!/usr/bin/env bash
# dbs-server's routes without any database: health, errors, refusals of
# bad input, metrics with no stream, options and clean shutdown.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$DBS_SERVER_BIN" --help | grep -q -- '--listen' || fail "--help does not describe --listen"
"$DBS_SERVER_BIN" --version | grep -q 'dbs-server' || fail "--version"
rc=0
"$DBS_SERVER_BIN" --log-level loud 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || [ "$rc" -eq 1 ] || fail "bad --log-level should fail, exit $rc"

rc=0
"$DBS_SERVER_BIN" --config-dir "$E2E_TMP/nowhere" 2>/dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "a missing --config-dir should be refused"

CONFIG_DIR="$E2E_TMP/configs"
mkdir -p "$CONFIG_DIR"
echo '{"source":{}}' >"$E2E_TMP/outside.json"
start_server --config-dir "$CONFIG_DIR"

http GET /healthz
expect_status 200
expect_json 'j == {"status": "ok"}'

# Nothing created yet.
http GET /api/v1/streams/stat
expect_status 400
expect_json 'j["status"] == "error" and j["message"]'
http DELETE /api/v1/streams
expect_status 400
expect_json 'j == {"status": "error", "message": "no active stream to stop"}'
http GET /api/v1/streams
expect_status 400
expect_json 'j["status"] == "error"'

# Unknown routes and wrong methods answer with the error envelope.
http GET /api/v1/nothing
expect_status 404
expect_json 'j["status"] == "error" and "no such route" in j["message"]'
http GET /api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM
expect_status 404
expect_json 'j["status"] == "error" and "2Fdj6JALDAm53S7Q4NxzH3sffzM" in j["message"]'
http GET /api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM/stat
expect_status 404
http PUT /api/v1/streams -d '{}'
expect_status 405
expect_json 'j["status"] == "error"'
http POST /api/v1/streams/stat
expect_status 405
http POST /healthz
expect_status 405
http POST /api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM
expect_status 405
expect_json 'j["status"] == "error"'
http DELETE /api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM/stat
expect_status 405
http GET /api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM/source/metrics
expect_status 404
http GET /api/v1/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM/stat/more
expect_status 404
http GET /api/v1/streamsX
expect_status 404

# Invalid configurations: 400 with the JSON path in the message.
http POST /api/v1/streams -H 'Content-Type:application/json' -d '{"source":{"type":"oracle","connection":"x"},"target":{"type":"postgresql","connection":"y"}}'
expect_status 400
expect_json 'j["status"] == "error" and j["message"].startswith("source.type")'
http POST /api/v1/streams -H 'Content-Type:application/json' -d '{"source":{"type":"postgresql","connection":"x"}}'
expect_status 400
expect_json 'j["status"] == "error" and "target" in j["message"]'
http POST /api/v1/streams -H 'Content-Type:application/json' -d '{"source":'
expect_status 400
expect_json 'j["status"] == "error" and j["message"]'
http POST /api/v1/streams -H 'Content-Type:application/json' \
	-d '{"source":{"type":"postgresql","connection":"x","filter":{"tables":[{"name":"t","operations":["upsert"]}]}},"target":{"type":"postgresql","connection":"y"}}'
expect_status 400
expect_json 'j["message"].startswith("source.filter.tables[0].operations[0]")'
http POST /api/v1/streams
expect_status 400
expect_json 'j["status"] == "error"'

# ?file= takes plain names from the config directory, nothing else.
for name in '../outside.json' '..%2Foutside.json' '%2Fetc%2Fpasswd' '/etc/passwd' 'a/b.json' '..' '.'; do
	http POST "/api/v1/streams?file=$name"
	expect_status 400
	expect_json 'j["status"] == "error" and "plain file name" in j["message"]'
done
http POST '/api/v1/streams?file=missing.json'
expect_status 400
expect_json '"missing.json" in j["message"]'
echo '{"source":{"type":"postgresql"}}' >"$CONFIG_DIR/bad.json"
http POST '/api/v1/streams?file=bad.json'
expect_status 400
expect_json 'j["message"].startswith("source.connection")'

# Request bodies are bounded.
python3 -c 'print("{\"pad\":\"" + "x" * (2 * 1024 * 1024) + "\"}")' >"$E2E_TMP/big.json"
http POST /api/v1/streams -H 'Content-Type:application/json' --data-binary "@$E2E_TMP/big.json"
expect_status 413
expect_json 'j["status"] == "error"'

# Metrics with no stream: the families are declared, no samples.
http GET /api/v1/streams/source/metrics
expect_status 200
grep -q '^# TYPE source_events_in counter$' <<<"$BODY" || fail "source metrics: $BODY"
grep -q '^# TYPE source_duration_seconds gauge$' <<<"$BODY" || fail "source metrics: $BODY"
http GET /api/v1/streams/target/metrics
expect_status 200
grep -q '^# TYPE target_events_out counter$' <<<"$BODY" || fail "target metrics: $BODY"
http GET /metrics
expect_status 200
grep -q '^# TYPE target_duration_seconds gauge$' <<<"$BODY" || fail "/metrics: $BODY"

# Trailing slashes mean the same route.
http GET /healthz/
expect_status 200

# ?id= must be a stream id.
http POST '/api/v1/streams?id=nope' -H 'Content-Type:application/json' -d '{"source":{}}'
expect_status 400
expect_json 'j["message"].startswith("id:")'

# One server per state directory.
rc=0
"$DBS_SERVER_BIN" --listen 127.0.0.1:0 --state-dir "$E2E_STATE_DIR" >"$E2E_TMP/second.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a second server on the same state directory started"
grep -q 'in use by another dbs-server' "$E2E_TMP/second.log" || fail "second server: $(cat "$E2E_TMP/second.log")"

# Nothing made a stream, so nothing to stop: SIGTERM exits 0.
stop_server

# Records that cannot be read are skipped with a clear error; the server
# starts anyway. (Not JSON; JSON without a configuration; a name that is
# not a stream id is only warned about; a write cut short is removed.)
mkdir -p "$E2E_STATE_DIR/streams"
echo 'garbage{' >"$E2E_STATE_DIR/streams/2Fdj6JALDAm53S7Q4NxzH3sffzM.json"
echo '{"format":1,"id":"2Fdj6JALDAm53S7Q4NxzH3sffzN","state":"running"}' \
	>"$E2E_STATE_DIR/streams/2Fdj6JALDAm53S7Q4NxzH3sffzN.json"
echo 'x' >"$E2E_STATE_DIR/streams/notes.txt"
echo '{' >"$E2E_STATE_DIR/streams/.2Fdj6JALDAm53S7Q4NxzH3sffzP.Ab12Cd.tmp"
start_server
grep -q 'state: stream 2Fdj6JALDAm53S7Q4NxzH3sffzM skipped: .*not a JSON object' "$SERVER_LOG" ||
	fail "no error for the corrupt record"
grep -q 'state: stream 2Fdj6JALDAm53S7Q4NxzH3sffzN skipped: .*"config" is missing' "$SERVER_LOG" ||
	fail "no error for the record without a configuration"
grep -q '2 stream record(s) .* could not be read and were skipped' "$SERVER_LOG" || fail "no summary of skipped records"
[ ! -e "$E2E_STATE_DIR/streams/.2Fdj6JALDAm53S7Q4NxzH3sffzP.Ab12Cd.tmp" ] || fail "the unfinished write was not removed"
http GET /healthz
expect_status 200
stop_server
grep -q 'shutting down' "$SERVER_LOG" || fail "no shutdown line in the log"
# Log lines carry a timestamp.
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z ' "$SERVER_LOG" || fail "log lines lack timestamps"
note "ok"
