#!/usr/bin/env bash
# The seam between the copy and the stream (cdc with initialLoad), from a
# MariaDB source into PostgreSQL and from a PostgreSQL source into
# MariaDB, while a writer keeps changing the rows being copied (updates,
# deletes, inserts into the holes and above, keys moved from chunk to
# chunk) and dbs-server is killed with SIGKILL in the middle of the copy:
# the restarted stream copies the chunks not yet committed from a fresh
# snapshot and then streams from where each chunk's copy stood. After the
# writer stops and the target caught up, dbs-cli verify finds no
# difference, and the target's counting trigger shows every ledger row
# (one first and one last in every source transaction) applied exactly
# once: nothing at the seam was lost or applied twice.
# DBS_SEAM_ROWS and DBS_SEAM_TXNS change the size; DBS_SEAM_SEED the
# workload.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg
: "${DBS_TEST_MYSQL_HOST:?}" "${DBS_TEST_MYSQL_PORT:?}"
ROWS=${DBS_SEAM_ROWS:-200000}
TXNS=${DBS_SEAM_TXNS:-3000}
SEED=${DBS_SEAM_SEED:-$RANDOM}
echo "load_seam: seed $SEED (DBS_SEAM_SEED=$SEED repeats it), $ROWS rows, $TXNS transactions"

my() {
	mariadb --no-defaults --default-character-set=utf8mb4 -h "$DBS_TEST_MYSQL_HOST" \
		-P "$DBS_TEST_MYSQL_PORT" -u root -N -B "$@"
}
my_dsn() {
	echo "root:@tcp($DBS_TEST_MYSQL_HOST:$DBS_TEST_MYSQL_PORT)/$1"
}

ITEMS_DDL='CREATE TABLE items (id bigint PRIMARY KEY, grp int NOT NULL, v bigint NOT NULL, note varchar(64))'
LEDGER_DDL='CREATE TABLE ledger (txn bigint NOT NULL, seq int NOT NULL, items int NOT NULL, PRIMARY KEY (txn, seq))'
APPLIED_DDL='CREATE TABLE ledger_applied (txn bigint NOT NULL, seq int NOT NULL, applies int NOT NULL, PRIMARY KEY (txn, seq))'

NAMES=(my_pg pg_my)
SRC_KIND=(my pg)
TGT_KIND=(pg my)
for i in 0 1; do
	SRC_DB[i]="dbs_e2e_s${i}src_$E2E_UID"
	TGT_DB[i]="dbs_e2e_s${i}tgt_$E2E_UID"
done
TGT_SCHEMA=("${SRC_DB[0]}" "")

# ---- sources: the rows the load copies, then the workload's script ----
SLOT="dbs_e2e_seam_$E2E_UID"
PUB="dbs_e2e_seam_$E2E_UID"
my -e "CREATE DATABASE ${SRC_DB[0]}"
at_exit "my -e 'DROP DATABASE IF EXISTS ${SRC_DB[0]}'"
my "${SRC_DB[0]}" -e "$ITEMS_DDL; $LEDGER_DDL;
	INSERT INTO items SELECT seq, seq % 7, seq * 3, CONCAT('row ', seq) FROM seq_1_to_$ROWS;
	INSERT INTO ledger SELECT 0, seq, 0 FROM seq_1_to_1000"
new_db "${SRC_DB[1]}"
drop_replication_at_exit "${SRC_DB[1]}" "$SLOT" "$PUB"
pg "${SRC_DB[1]}" -c "$ITEMS_DDL; $LEDGER_DDL;
	INSERT INTO items SELECT g, g % 7, g * 3, 'row ' || g FROM generate_series(1, $ROWS) g;
	INSERT INTO ledger SELECT 0, g, 0 FROM generate_series(1, 1000) g"
for i in 0 1; do
	python3 "$(dirname "$0")/seam_workload.py" "${SRC_KIND[i]}" "$((SEED * 2 + i))" "$ROWS" \
		"$TXNS" "$E2E_TMP/${NAMES[i]}.sql" >/dev/null || fail "cannot generate the workload"
done

# ---- targets: the ledger made here, with its counting trigger ----
my -e "CREATE DATABASE ${TGT_DB[1]} CHARACTER SET utf8mb4"
at_exit "my -e 'DROP DATABASE IF EXISTS ${TGT_DB[1]}'"
my "${TGT_DB[1]}" -e "$LEDGER_DDL; $APPLIED_DDL;
	CREATE TRIGGER count_insert BEFORE INSERT ON ledger FOR EACH ROW
		INSERT INTO ledger_applied VALUES (NEW.txn, NEW.seq, 1)
		ON DUPLICATE KEY UPDATE applies = applies + 1;
	CREATE TRIGGER count_update BEFORE UPDATE ON ledger FOR EACH ROW
		INSERT INTO ledger_applied VALUES (NEW.txn, NEW.seq, 1)
		ON DUPLICATE KEY UPDATE applies = applies + 1"
new_db "${TGT_DB[0]}"
s="\"${TGT_SCHEMA[0]}\""
pg "${TGT_DB[0]}" -c "CREATE SCHEMA $s; SET search_path = $s; $LEDGER_DDL; $APPLIED_DDL;
	CREATE FUNCTION count_apply() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN
		INSERT INTO $s.ledger_applied VALUES (NEW.txn, NEW.seq, 1)
		ON CONFLICT (txn, seq) DO UPDATE SET applies = $s.ledger_applied.applies + 1;
		RETURN NEW;
	END \$\$;
	CREATE TRIGGER count_apply BEFORE INSERT OR UPDATE ON ledger
		FOR EACH ROW EXECUTE FUNCTION count_apply()"

cat >"$E2E_TMP/my_pg.json" <<JSON
{"source": {"type": "mysql", "mode": "cdc", "initialLoad": true, "connection": "$(my_dsn "${SRC_DB[0]}")",
            "filter": {"tables": [{"name": "items"}, {"name": "ledger"}]}},
 "target": {"type": "postgresql", "connection": "$(pg_uri "${TGT_DB[0]}")"},
 "load": {"chunkRows": $((ROWS / 40)), "workers": 1}}
JSON
cat >"$E2E_TMP/pg_my.json" <<JSON
{"source": {"type": "postgresql", "mode": "cdc", "initialLoad": true, "connection": "$(pg_uri "${SRC_DB[1]}")",
            "settings": {"replicationSlotName": "$SLOT", "publicationName": "$PUB"},
            "filter": {"tables": [{"name": "items"}, {"name": "ledger"}]}},
 "target": {"type": "mysql", "connection": "$(my_dsn "${TGT_DB[1]}")"},
 "load": {"chunkRows": $((ROWS / 40)), "workers": 1}}
JSON

load_field() {
	local re="\"load\":\\{[^[]*\"$1\":([0-9]+)"
	[[ "$BODY" =~ $re ]] && echo "${BASH_REMATCH[1]}"
}
records() { # i: the target's load records, by state
	if [ "${TGT_KIND[$1]}" = pg ]; then
		pg "${TGT_DB[$1]}" -c "SELECT string_agg(state || ':' || n, ' ') FROM (SELECT state, count(*) n FROM dbstreams_load GROUP BY state) x"
	else
		my "${TGT_DB[$1]}" -e "SELECT GROUP_CONCAT(CONCAT(state, ':', n) SEPARATOR ' ') FROM (SELECT state, COUNT(*) n FROM dbstreams_load GROUP BY state) x"
	fi
}
ledger_count() { # kind db [schema]
	if [ "$1" = my ]; then
		my "$2" -e 'SELECT count(*) FROM ledger'
	else
		pg "$2" -c "SELECT count(*) FROM ${3:+\"$3\".}ledger"
	fi
}

# ---- each direction: the writer starts, then the stream; a kill in
# mid-copy; the writer ends; the target catches up ----
IDS=()
for i in 0 1; do
	start_server
	if [ "${SRC_KIND[i]}" = my ]; then
		my "${SRC_DB[i]}" <"$E2E_TMP/${NAMES[i]}.sql" >"$E2E_TMP/${NAMES[i]}.out" 2>&1 &
	else
		pg "${SRC_DB[i]}" -f "$E2E_TMP/${NAMES[i]}.sql" >"$E2E_TMP/${NAMES[i]}.out" 2>&1 &
	fi
	work=$!
	at_exit "kill $work 2>/dev/null || true"
	http POST /api/v1/streams -H 'Content-Type: application/json' --data-binary "@$E2E_TMP/${NAMES[i]}.json"
	expect_status 200
	IDS[i]=$(jget 'j["data"]["id"]')
	# (wait_until has an i of its own: the stream goes by another name)
	CUR=$i
	mid_copy() {
		local n
		http GET "/api/v1/streams/${IDS[CUR]}/stat"
		n=$(load_field chunksDone) && [ "$n" -ge 3 ]
	}
	wait_until 300 mid_copy || fail "${NAMES[i]}: the load did not reach 3 chunks: $BODY"
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
	st=$(records "$i")
	note "${NAMES[i]}: killed in mid-copy, records: $st"
	case " $st " in *" done:"*) fail "${NAMES[i]}: the load was done before the kill" ;; esac
	start_server
	wait_started "${IDS[i]}"
	expect_json 'j["source"]["status"] in ("READY", "RUNNING") and j["target"]["status"] in ("READY", "RUNNING")'
	wait "$work" || fail "the workload of ${NAMES[i]} failed: $(tail -n 5 "$E2E_TMP/${NAMES[i]}.out")"
	SRC_LEDGER[i]=$(ledger_count "${SRC_KIND[i]}" "${SRC_DB[i]}")
	caught_up() { [ "$(ledger_count "${TGT_KIND[CUR]}" "${TGT_DB[CUR]}" "${TGT_SCHEMA[CUR]}")" = "${SRC_LEDGER[CUR]}" ]; }
	if ! wait_until 300 caught_up; then
		http GET "/api/v1/streams/${IDS[i]}/stat"
		fail "${NAMES[i]}: the target did not catch up: $BODY"
	fi
	http GET "/api/v1/streams/${IDS[i]}/stat"
	expect_json 'j["load"]["phase"] == "done" and j["load"]["chunksResumed"] >= 3'
	note "${NAMES[i]}: caught up; $(jget 'j["load"]["chunksResumed"]') chunks resumed, $(jget 'j["source"]["counter"]') events streamed, $(jget 'j["target"]["counter"]') applied"
	stop_server
done

FAILURES=()
for i in 0 1; do
	"$DBS_CLI_BIN" verify "$E2E_TMP/${NAMES[i]}.json" >"$E2E_TMP/${NAMES[i]}.verify" ||
		FAILURES+=("${NAMES[i]}: verify: $(grep -v ' equal$' "$E2E_TMP/${NAMES[i]}.verify" | head -n 12 | tr '\n' ';')")
	q="SELECT count(*), coalesce(sum(applies), 0), coalesce(min(applies), 0), coalesce(max(applies), 0)"
	if [ "${TGT_KIND[i]}" = my ]; then
		got=$(my "${TGT_DB[i]}" -e "$q FROM ledger_applied" | tr '\t' ' ')
		dup=$(my "${TGT_DB[i]}" -e "SELECT txn, seq, applies FROM ledger_applied WHERE applies <> 1 ORDER BY txn, seq LIMIT 5" | tr '\t\n' ' ;')
	else
		got=$(pg "${TGT_DB[i]}" -F ' ' -c "$q FROM \"${TGT_SCHEMA[i]}\".ledger_applied")
		dup=$(pg "${TGT_DB[i]}" -F ' ' -c "SELECT txn, seq, applies FROM \"${TGT_SCHEMA[i]}\".ledger_applied WHERE applies <> 1 ORDER BY txn, seq LIMIT 5" | tr '\n' ';')
	fi
	want="${SRC_LEDGER[i]} ${SRC_LEDGER[i]} 1 1"
	[ "$got" = "$want" ] ||
		FAILURES+=("${NAMES[i]}: ledger rows applied (rows, applications, min, max) = $got, want $want; not once: $dup")
	note "${NAMES[i]}: ledger $got"
done
[ ${#FAILURES[@]} -eq 0 ] || fail "seed $SEED: ${FAILURES[*]}"
