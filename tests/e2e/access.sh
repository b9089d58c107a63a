#!/usr/bin/env bash
# Who may drive dbs-server: a page in the operator's browser may not (no
# CORS, no cross-origin or cross-site request, no foreign Host as DNS
# rebinding sends, no form post), a client without the API token may not,
# and one with it may, through curl, dbs-cli --token-file and the Python
# binding. A server reachable from the network is refused without a token;
# HTTPS with --tls-cert/--tls-key. No database needed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TOKEN="tok-$E2E_UID-0123456789abcdef"
printf '%s\n' "$TOKEN" >"$E2E_TMP/token"
chmod 600 "$E2E_TMP/token"
CONFIG_DIR="$E2E_TMP/configs"
mkdir -p "$CONFIG_DIR"
DEAD=$(free_port)
CONFIG='{"source":{"type":"postgresql","connection":"host=127.0.0.1 port='$DEAD' dbname=x"},"target":{"type":"postgresql","connection":"host=127.0.0.1 port='$DEAD' dbname=y"}}'
echo "$CONFIG" >"$CONFIG_DIR/c.json"

# Refused requests answer with the error shape (as the server prints it:
# no Python started for each of the many checks).
expect_error() {
	expect_status "$1"
	grep -Eq '^\{"status":"error","message":"[^"]' <<<"$BODY" || fail "not the error shape: $BODY"
}

# ---- startup refusals ----
rc=0
"$DBS_SERVER_BIN" --listen "0.0.0.0:$(free_port)" --state-dir "$E2E_TMP/s1" >"$E2E_TMP/open.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "a non-loopback --listen without a token started (exit $rc)"
grep -q 'reachable from other machines' "$E2E_TMP/open.log" || fail "no reason given: $(cat "$E2E_TMP/open.log")"
printf 'short\n' >"$E2E_TMP/short"
rc=0
"$DBS_SERVER_BIN" --token-file "$E2E_TMP/short" --state-dir "$E2E_TMP/s1" >"$E2E_TMP/short.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "a 5-character token was accepted (exit $rc)"
rc=0
"$DBS_SERVER_BIN" --tls-cert "$E2E_TMP/token" --state-dir "$E2E_TMP/s1" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--tls-cert without --tls-key was accepted (exit $rc)"

# ---- on every interface, with a token ----
start_server --listen-any --token-file "$E2E_TMP/token" --config-dir "$CONFIG_DIR" \
	--allow-origin https://ui.example --allow-host api.example
PORT=${SERVER_URL##*:}
AUTH=(-H "Authorization: Bearer $TOKEN")

http GET /healthz
expect_status 200
http GET /api/v1/streams/stat
expect_error 401
grep -qi '^www-authenticate: bearer' "$E2E_TMP/headers" || fail "401 without WWW-Authenticate: $(cat "$E2E_TMP/headers")"
http GET /metrics
expect_error 401
http GET /api/v1/streams/stat -H "Authorization: Bearer wrong-$TOKEN"
expect_error 401
http GET /api/v1/streams/stat -H "Authorization: Bearer ${TOKEN%?}"
expect_error 401
http GET /api/v1/streams/stat -H "Authorization: Basic $TOKEN"
expect_error 401
http POST /api/v1/streams -H 'Content-Type: application/json' --data-binary "$CONFIG"
expect_error 401
http GET /api/v1/streams/stat "${AUTH[@]}"
expect_error 400
http GET /metrics "${AUTH[@]}"
expect_status 200

# A foreign Host is DNS rebinding: refused, token or not.
http GET /healthz -H "Host: attacker.example:$PORT"
expect_error 403
http GET /api/v1/streams/stat "${AUTH[@]}" -H "Host: attacker.example"
expect_error 403
http GET /healthz -H 'Host: 127.0.0.1.attacker.example'
expect_error 403
http GET /healthz -H "Host: api.example:$PORT"
expect_status 200
http GET /healthz -H "Host: localhost:$PORT"
expect_status 200
http GET /healthz -H "Host: [::1]:$PORT"
expect_status 200
# Listening everywhere: an address literal names this server.
http GET /healthz -H "Host: 10.1.2.3:$PORT"
expect_status 200
http GET /healthz -H 'Host:'
expect_error 400

# Cross-origin: refused with the right token too; no CORS header ever.
for origin in https://attacker.example "http://127.0.0.1:$((PORT + 1))" null "http://localhost:$PORT.attacker.example"; do
	http POST /api/v1/streams "${AUTH[@]}" -H "Origin: $origin" -H 'Content-Type: application/json' --data-binary "$CONFIG"
	expect_error 403
	http DELETE /api/v1/streams "${AUTH[@]}" -H "Origin: $origin"
	expect_error 403
	http GET /api/v1/streams/stat "${AUTH[@]}" -H "Origin: $origin"
	expect_error 403
done
http OPTIONS /api/v1/streams -H 'Origin: https://attacker.example' -H 'Access-Control-Request-Method: DELETE'
[ "$STATUS" -ge 400 ] || fail "a preflight was answered $STATUS"
grep -qi '^access-control-allow' "$E2E_TMP/headers" && fail "CORS headers: $(cat "$E2E_TMP/headers")"
http OPTIONS /api/v1/streams "${AUTH[@]}" -H 'Origin: https://attacker.example' -H 'Access-Control-Request-Method: POST'
[ "$STATUS" -ge 400 ] || fail "a preflight was answered $STATUS"
grep -qi '^access-control-allow' "$E2E_TMP/headers" && fail "CORS headers: $(cat "$E2E_TMP/headers")"
# Fetch metadata of a cross-site page, without an Origin (a no-cors GET).
http GET /metrics "${AUTH[@]}" -H 'Sec-Fetch-Site: cross-site'
expect_error 403
http GET /metrics "${AUTH[@]}" -H 'Sec-Fetch-Site: same-site'
expect_error 403
http GET /metrics "${AUTH[@]}" -H 'Sec-Fetch-Site: none'
expect_status 200
# This server's own origin and a listed one may.
http GET /metrics "${AUTH[@]}" -H "Origin: http://127.0.0.1:$PORT" -H 'Sec-Fetch-Site: same-origin'
expect_status 200
http GET /metrics "${AUTH[@]}" -H 'Origin: https://ui.example' -H 'Sec-Fetch-Site: cross-site'
expect_status 200
grep -qi '^access-control-allow' "$E2E_TMP/headers" && fail "CORS headers: $(cat "$E2E_TMP/headers")"

# What an HTML form can send is refused, whatever its origin says.
for type in text/plain application/x-www-form-urlencoded multipart/form-data; do
	http POST /api/v1/streams "${AUTH[@]}" -H "Content-Type: $type" --data-binary "$CONFIG"
	expect_error 415
	http POST '/api/v1/streams?file=c.json' "${AUTH[@]}" -H "Content-Type: $type" --data-binary ''
	expect_error 415
done
http POST /api/v1/streams "${AUTH[@]}" --data-binary "$CONFIG" -H 'Content-Type:'
expect_error 415
# Every answer says it is not a page.
http GET /healthz
grep -qi '^x-content-type-options: nosniff' "$E2E_TMP/headers" || fail "no nosniff: $(cat "$E2E_TMP/headers")"
grep -qi "^content-security-policy: default-src 'none'" "$E2E_TMP/headers" || fail "no CSP: $(cat "$E2E_TMP/headers")"
http GET /nowhere "${AUTH[@]}"
expect_error 404
grep -qi '^x-content-type-options: nosniff' "$E2E_TMP/headers" || fail "404 without nosniff"

# ---- with the token: curl, dbs-cli, the Python binding ----
http POST /api/v1/streams "${AUTH[@]}" -H 'Content-Type: application/json; charset=utf-8' --data-binary "$CONFIG"
expect_status 200
ID=$(jget 'j["data"]["id"]')
wait_started "$ID" "${AUTH[@]}"
expect_status 200
expect_json 'j["target"]["status"] == "INIT FAILED" or j["source"]["status"] == "INIT FAILED"'

cli() {
	"$DBS_CLI_BIN" --server "$SERVER_URL" "$@" >"$E2E_TMP/cli.out" 2>"$E2E_TMP/cli.err"
}
if cli stat "$ID"; then fail "dbs-cli without a token: $(cat "$E2E_TMP/cli.out")"; fi
grep -q 'API token' "$E2E_TMP/cli.err" || fail "dbs-cli without a token: $(cat "$E2E_TMP/cli.err")"
printf 'not-the-token-at-all-000\n' >"$E2E_TMP/wrong"
if cli --token-file "$E2E_TMP/wrong" stat "$ID"; then fail "dbs-cli with a wrong token"; fi
grep -q 'HTTP 401' "$E2E_TMP/cli.err" || fail "dbs-cli wrong token: $(cat "$E2E_TMP/cli.err")"
cli --token-file "$E2E_TMP/token" stat "$ID" || fail "dbs-cli --token-file stat: $(cat "$E2E_TMP/cli.err")"
grep -q "$ID" "$E2E_TMP/cli.out" || fail "dbs-cli stat: $(cat "$E2E_TMP/cli.out")"
DBS_API_TOKEN=$TOKEN cli config "$ID" || fail "dbs-cli with DBS_API_TOKEN: $(cat "$E2E_TMP/cli.err")"
if cli --token-file "$E2E_TMP/token" create "$CONFIG_DIR/c.json"; then
	fail "dbs-cli create of a stream whose databases refuse succeeded"
fi
grep -q 'INIT FAILED' "$E2E_TMP/cli.err" || fail "dbs-cli create: $(cat "$E2E_TMP/cli.err")"
cli --token-file "$E2E_TMP/token" stop "$ID" || fail "dbs-cli --token-file stop: $(cat "$E2E_TMP/cli.err")"

PYTHONPATH="$(dirname "$0")/../../bindings/python" DBSTREAMS_LIB=/nonexistent \
	python3 - "$SERVER_URL" "$E2E_TMP/token" "$E2E_TMP/wrong" "$CONFIG" <<'PY' || fail "Python client"
import sys
import dbstreams

url, token_file, wrong_file, config = sys.argv[1:5]
for c in (dbstreams.Client(url), dbstreams.Client(url, token_file=wrong_file)):
    try:
        c.stat()
        sys.exit("no token: stat answered")
    except dbstreams.ServerError as e:
        assert e.status == 401 and "API token" in e.message, e
server = dbstreams.Client(url, token_file=token_file)
assert server.health() == {"status": "ok"}
data = server.create(config)
st = server.stat(data["id"])
assert st["streamID"] == data["id"] and "INIT FAILED" in (st["source"]["status"], st["target"]["status"]), st
assert server.config(data["id"])["id"] == data["id"]
assert server.stop(data["id"])["streamID"] == data["id"]
print("python client ok")
PY
stop_server

# ---- loopback with a token from the environment; --insecure ----
DBS_API_TOKEN=$TOKEN start_server
http GET /metrics
expect_error 401
http GET /metrics "${AUTH[@]}"
expect_status 200
# On loopback, a DNS name other than localhost is still refused.
http GET /healthz -H "Host: 10.1.2.3:${SERVER_URL##*:}"
expect_error 403
stop_server
start_server --listen-any --insecure
http GET /metrics
expect_status 200
stop_server

# ---- HTTPS ----
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$E2E_TMP/key.pem" -out "$E2E_TMP/cert.pem" \
	>/dev/null 2>&1 || fail "openssl could not make a certificate"
start_server --tls-cert "$E2E_TMP/cert.pem" --tls-key "$E2E_TMP/key.pem" --token-file "$E2E_TMP/token"
HTTPS_URL="https://${SERVER_URL#http://}"
code=$(curl -sS --cacert "$E2E_TMP/cert.pem" -o "$E2E_TMP/body" -w '%{http_code}' "${AUTH[@]}" "$HTTPS_URL/metrics") ||
	fail "https request failed"
[ "$code" = 200 ] || fail "https /metrics: $code"
code=$(curl -sS --cacert "$E2E_TMP/cert.pem" -o /dev/null -w '%{http_code}' "$HTTPS_URL/metrics") || true
[ "$code" = 401 ] || fail "https without a token: $code"
if curl -sS -m 5 -o /dev/null "$SERVER_URL/healthz" 2>/dev/null; then
	fail "plain HTTP was answered on the TLS port"
fi
PYTHONPATH="$(dirname "$0")/../../bindings/python" DBSTREAMS_LIB=/nonexistent \
	python3 -c 'import sys, dbstreams; c = dbstreams.Client(sys.argv[1], token_file=sys.argv[2], cafile=sys.argv[3]); assert c.health() == {"status": "ok"}' \
	"$HTTPS_URL" "$E2E_TMP/token" "$E2E_TMP/cert.pem" || fail "Python client over https"
stop_server
rc=0
"$DBS_SERVER_BIN" --listen 127.0.0.1:0 --tls-cert "$E2E_TMP/cert.pem" --tls-key "$E2E_TMP/token" \
	--state-dir "$E2E_TMP/s2" >"$E2E_TMP/badkey.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a server with a bad key started"
grep -q 'TLS: cannot use' "$E2E_TMP/badkey.log" || fail "bad key: $(cat "$E2E_TMP/badkey.log")"

grep -qF "$TOKEN" "$SERVER_LOG" && fail "the server log shows the token"
note "ok"
