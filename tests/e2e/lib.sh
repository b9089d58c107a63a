# Shared helpers of the e2e tests: sourced, never run. The tests drive a
# real dbs-server with curl, as a user following the getting-started page
# would, against the PostgreSQL (and MariaDB) the test harness started.
#
# Inputs: DBS_SERVER_BIN, DBS_CLI_BIN (set by tests/e2e/meson.build) and the
# harness's DBS_TEST_* variables.

E2E_NAME=${E2E_NAME:-$(basename "$0" .sh)}

fail() {
	echo "FAIL [$E2E_NAME]: $*" >&2
	exit 1
}

note() {
	echo "# $*" >&2
}

: "${DBS_SERVER_BIN:?DBS_SERVER_BIN is not set: run the e2e suite through meson (scripts/test)}"
: "${DBS_CLI_BIN:?DBS_CLI_BIN is not set: run the e2e suite through meson (scripts/test)}"
command -v curl >/dev/null || fail "curl is not installed"
command -v python3 >/dev/null || fail "python3 is not installed"

# Tests that need PostgreSQL call this first: without the harness's
# variables they fail, never skip.
require_pg() {
	local v
	for v in DBS_TEST_PG_HOST DBS_TEST_PG_PORT DBS_TEST_PG_USER; do
		if [ -z "${!v:-}" ]; then
			fail "$v is not set: run the e2e suite through scripts/test, which starts the servers"
		fi
	done
	command -v psql >/dev/null || fail "psql is not installed"
}

# A scratch directory of our own, removed at exit.
E2E_TMP=$(mktemp -d "${DBS_TEST_TMPDIR:-${TMPDIR:-/tmp}}/e2e-$E2E_NAME.XXXXXX")
# Unique per run, so suites can share servers: pid plus a random part.
E2E_UID="$$_$RANDOM"
E2E_RESPONSES="$E2E_TMP/responses"
: >"$E2E_RESPONSES"

SERVER_PID=""
SERVER_URL=""
SERVER_LOG="$E2E_TMP/server.log"
E2E_CLEANUPS=()

# Run at exit, last registered first; failures there are reported, not fatal.
on_exit() {
	local rc=$? i
	# The server first: its streams hold the replication slots.
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	for ((i = ${#E2E_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${E2E_CLEANUPS[$i]}" || echo "# cleanup failed: ${E2E_CLEANUPS[$i]}" >&2
	done
	if [ "$rc" -ne 0 ] && [ -f "$SERVER_LOG" ]; then
		echo "# --- dbs-server log (last 60 lines) ---" >&2
		tail -n 60 "$SERVER_LOG" >&2 || true
	fi
	rm -rf "$E2E_TMP"
	exit "$rc"
}
trap on_exit EXIT

at_exit() {
	E2E_CLEANUPS+=("$1")
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# The state directory of the tests' servers: each test has its own, never
# the machine's default, so no test resumes another's streams.
E2E_STATE_DIR="$E2E_TMP/state"

# start_server [--listen-any] [extra dbs-server options]: listens on a free
# port (of 127.0.0.1, or of every interface with --listen-any), waits for
# /healthz. Retries with another port if that one was taken meanwhile.
# Servers of --role all get --state-dir $E2E_STATE_DIR unless one is given.
start_server() {
	local attempt port i probe host=127.0.0.1 tls=()
	local state=(--state-dir "$E2E_STATE_DIR")
	if [ "${1-}" = --listen-any ]; then
		host=0.0.0.0
		shift
	fi
	case " $* " in
	*" --role "* | *" --state-dir "*) state=() ;;
	esac
	case " $* " in
	*" --tls-cert "*) tls=(-k) ;;
	esac
	for attempt in 1 2 3; do
		port=$(free_port)
		"$DBS_SERVER_BIN" --listen "$host:$port" --log-level debug "${state[@]}" "$@" >>"$SERVER_LOG" 2>&1 &
		SERVER_PID=$!
		SERVER_URL="http://127.0.0.1:$port"
		probe=$SERVER_URL
		[ ${#tls[@]} -eq 0 ] || probe="https://127.0.0.1:$port"
		for i in $(seq 1 100); do
			if curl -fsS "${tls[@]}" -o /dev/null "$probe/healthz" 2>/dev/null; then
				note "dbs-server pid $SERVER_PID on $SERVER_URL"
				return 0
			fi
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=""
	done
	fail "dbs-server did not start (see its log)"
}

# stop_server: SIGTERM, expect a clean exit 0 within 30 s.
stop_server() {
	local i rc=0
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID"
	for i in $(seq 1 300); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$SERVER_PID" 2>/dev/null && fail "dbs-server did not exit within 30 s of SIGTERM"
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=""
	[ "$rc" -eq 0 ] || fail "dbs-server exited with $rc after SIGTERM"
}

# http METHOD PATH [curl args...]: sets STATUS and BODY; every answer is
# kept in $E2E_RESPONSES so a test can grep all of them at once.
http() {
	local method=$1 path=$2
	shift 2
	STATUS=$(curl -sS -o "$E2E_TMP/body" -D "$E2E_TMP/headers" -w '%{http_code}' --request "$method" --url "$SERVER_URL$path" "$@") ||
		fail "curl $method $path failed"
	BODY=$(cat "$E2E_TMP/body")
	printf '%s %s -> %s %s\n' "$method" "$path" "$STATUS" "$BODY" >>"$E2E_RESPONSES"
}

expect_status() {
	[ "$STATUS" = "$1" ] || fail "expected HTTP $1, got $STATUS: $BODY"
}

# jget EXPR [JSON]: evaluate a Python expression on the parsed JSON `j`
# (default $BODY); strings print bare, everything else as JSON.
jget() {
	local expr=$1 json=${2-$BODY}
	JSON_IN=$json python3 -c '
import json, os, sys
j = json.loads(os.environ["JSON_IN"])
v = eval(sys.argv[1])
print(v if isinstance(v, str) else json.dumps(v))
' "$expr" || fail "cannot evaluate $expr on: $json"
}

# expect_json EXPR [JSON]: a Python boolean expression on `j` must hold.
expect_json() {
	local expr=$1 json=${2-$BODY}
	JSON_IN=$json python3 -c '
import json, os, sys
j = json.loads(os.environ["JSON_IN"])
sys.exit(0 if eval(sys.argv[1]) else 1)
' "$expr" || fail "expected $expr on: $json"
}

# ---- PostgreSQL ----

pg() {
	local db=$1
	shift
	psql -X -q -tA -v ON_ERROR_STOP=1 -h "$DBS_TEST_PG_HOST" -p "$DBS_TEST_PG_PORT" \
		-U "$DBS_TEST_PG_USER" -d "$db" "$@"
}

# pg_uri DB [PASSWORD]: a libpq URI to DB on the harness's server.
pg_uri() {
	local db=$1 pw=${2-}
	if [ -n "$pw" ]; then
		echo "postgresql://$DBS_TEST_PG_USER:$pw@$DBS_TEST_PG_HOST:$DBS_TEST_PG_PORT/$db"
	else
		echo "postgresql://$DBS_TEST_PG_USER@$DBS_TEST_PG_HOST:$DBS_TEST_PG_PORT/$db"
	fi
}

# new_db NAME: create a database dropped at exit.
new_db() {
	local db=$1
	pg postgres -c "CREATE DATABASE \"$db\"" || fail "cannot create database $db"
	at_exit "pg postgres -c 'DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)'"
}

# drop_replication DB SLOT PUBLICATION at exit: the stream made them.
# Registered after the database, so it runs before the database is dropped.
drop_replication_at_exit() {
	local db=$1 slot=$2 pub=$3
	at_exit "drop_replication '$db' '$slot' '$pub'"
}

drop_replication() {
	local db=$1 slot=$2 pub=$3 i
	# The stream's walsender may still be letting go of the slot.
	for i in $(seq 1 50); do
		if [ "$(pg postgres -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active")" = 0 ]; then
			break
		fi
		sleep 0.1
	done
	pg postgres -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$slot'" >/dev/null
	pg "$db" -c "DROP PUBLICATION IF EXISTS \"$pub\"" 2>/dev/null || true
}

# wait_until SECONDS COMMAND...: poll until COMMAND succeeds.
wait_until() {
	local secs=$1 i
	shift
	for i in $(seq 1 $((secs * 10))); do
		if "$@"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# wait_started [ID [curl args...]]: a created stream connects to its
# databases on its own thread; wait until its stat (the current stream's
# when ID is "") no longer says STARTING. The stat is then in STATUS and
# BODY.
wait_started() {
	local path="/api/v1/streams${1:+/$1}/stat" i
	shift || true
	for i in $(seq 1 300); do
		http GET "$path" "$@"
		if [ "$STATUS" = 200 ] && ! grep -q '"status":"STARTING"' <<<"$BODY"; then
			return 0
		fi
		sleep 0.1
	done
	fail "stream ${1:-(current)} still STARTING after 30 s: $BODY"
}

# A PG -> PG stream configuration. pg_config SRCDB TGTDB SLOT PUB [PASSWORD]
pg_config() {
	local src=$1 tgt=$2 slot=$3 pub=$4 pw=${5-}
	cat <<JSON
{
  "source": {
    "type": "postgresql",
    "mode": "cdc",
    "connection": "$(pg_uri "$src" "$pw")",
    "initialLoad": false,
    "settings": {
      "replicationSlotName": "$slot",
      "publicationName": "$pub"
    },
    "filter": {
      "tables": [
        { "name": "public.products", "operations": ["insert", "update", "delete"] }
      ]
    }
  },
  "target": {
    "type": "postgresql",
    "connection": "$(pg_uri "$tgt" "$pw")"
  },
  "limits": {
    "numberOfEvents": 0,
    "elapsedTime": 0
  }
}
JSON
}

PRODUCTS_DDL='CREATE TABLE products (id bigint PRIMARY KEY, name varchar(255), price numeric(10,2), weight double precision, created timestamp)'

insert_products() {
	local db=$1 from=$2 to=$3
	pg "$db" -c "INSERT INTO products SELECT g, 'product ' || g, g * 1.5, g / 3.0, now() FROM generate_series($from, $to) g"
}

# ---- MariaDB ----

# Tests that need the harness's MariaDB call this first: without its
# variables or its client they fail, never skip.
require_my() {
	local v
	for v in DBS_TEST_MYSQL_HOST DBS_TEST_MYSQL_PORT; do
		[ -n "${!v:-}" ] || fail "$v is not set: run the e2e suite through scripts/test, which starts the servers"
	done
	command -v mariadb >/dev/null || fail "the mariadb client is not installed"
}

my() {
	mariadb --no-defaults --default-character-set=utf8mb4 -h "$DBS_TEST_MYSQL_HOST" \
		-P "$DBS_TEST_MYSQL_PORT" -u root -N -B "$@"
}

# my_to_pg_stream TAG [SOURCE_KEYS]: MariaDB database SRC=dbs_e2e_TAG_<uid>
# with table t (id bigint PRIMARY KEY, v varchar(32)), PostgreSQL database
# TGT=dbs_e2e_TAG_tgt_<uid> (both dropped at exit), the stream between
# them in $E2E_TMP/stream.json (SOURCE_KEYS: more keys of its source, each
# followed by a comma), a dbs-server started, the stream created there
# and started: its id in ID.
my_to_pg_stream() {
	local tag=$1 keys=${2-}
	require_pg
	require_my
	SRC="dbs_e2e_${tag}_$E2E_UID"
	TGT="dbs_e2e_${tag}_tgt_$E2E_UID"
	at_exit "my -e 'DROP DATABASE IF EXISTS \`$SRC\`'"
	my -e "CREATE DATABASE \`$SRC\` CHARACTER SET utf8mb4" || fail "cannot create $SRC"
	my "$SRC" -e "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(32))" || fail "cannot create t"
	new_db "$TGT"
	cat >"$E2E_TMP/stream.json" <<JSON
{
  "source": {
    "type": "mysql",$keys
    "connection": "root:@tcp($DBS_TEST_MYSQL_HOST:$DBS_TEST_MYSQL_PORT)/$SRC"
  },
  "target": { "type": "postgresql", "connection": "$(pg_uri "$TGT")" }
}
JSON
	start_server
	http POST /api/v1/streams -H 'Content-Type: application/json' --data-binary "@$E2E_TMP/stream.json"
	expect_status 200
	ID=$(jget 'j["data"]["id"]')
	wait_started "$ID"
}

# my_to_pg_rows N: the target's copy of my_to_pg_stream's table t has N rows.
my_to_pg_rows() {
	[ "$(pg "$TGT" -c "SELECT count(*) FROM \"$SRC\".t" 2>/dev/null)" = "$1" ]
}
