#!/usr/bin/env bash
# Many clients at once: creates, stats, stops by id and metrics from
# parallel loops, more streams than the server keeps after they end. Uses
# connections that are refused, so no database is needed: every stream
# ends INIT FAILED at once. The server must answer every request sensibly
# and shut down cleanly.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

start_server
DEAD=$(free_port)
CONFIG='{"source":{"type":"postgresql","connection":"host=127.0.0.1 port='$DEAD' dbname=x password=pw-'$E2E_UID'","settings":{"replicationSlotName":"s","publicationName":"p"}},"target":{"type":"postgresql","connection":"host=127.0.0.1 port='$DEAD' dbname=y"}}'

worker() {
	local n=$1 i id code
	for i in $(seq 1 10); do
		id=$(curl -sS -X POST -H 'Content-Type: application/json' --data-binary "$CONFIG" "$SERVER_URL/api/v1/streams" |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])') || {
			echo "worker $n: create failed" >&2
			return 1
		}
		code=$(curl -sS -o /dev/null -w '%{http_code}' "$SERVER_URL/api/v1/streams/$id/stat")
		# A stream pruned by a newer one is 404; anything else is a bug.
		[ "$code" = 200 ] || [ "$code" = 404 ] || { echo "worker $n: stat $code" >&2; return 1; }
		code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$SERVER_URL/api/v1/streams/$id")
		[ "$code" = 200 ] || [ "$code" = 404 ] || { echo "worker $n: delete $code" >&2; return 1; }
		code=$(curl -sS -o /dev/null -w '%{http_code}' "$SERVER_URL/metrics")
		[ "$code" = 200 ] || { echo "worker $n: metrics $code" >&2; return 1; }
		code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$SERVER_URL/api/v1/streams")
		[ "$code" = 200 ] || [ "$code" = 400 ] || { echo "worker $n: delete current $code" >&2; return 1; }
	done
}

pids=()
for n in $(seq 1 6); do
	worker "$n" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a worker failed"
done

http GET /api/v1/streams/stat
expect_status 200
# Whichever node the library opens first is the one that reports it.
expect_json 'any(j[n]["status"] == "INIT FAILED" and "refused" in j[n]["message"].lower() for n in ("source", "target"))'
http GET /metrics
expect_status 200
# Ended streams beyond the kept ones were forgotten: bounded memory.
n=$(grep -c '^source_events_in{' <<<"$BODY" || true)
[ "$n" -le 40 ] || fail "/metrics still lists $n streams"
grep -q "pw-$E2E_UID" "$SERVER_LOG" && fail "the server log shows a password"
stop_server
note "ok"
