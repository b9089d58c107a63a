#!/usr/bin/env bash
# Issue 5's crash test. Four streams in one dbs-server with a state
# directory: MariaDB -> PostgreSQL, MariaDB -> MariaDB, PostgreSQL ->
# MariaDB, PostgreSQL -> PostgreSQL. Each source runs a workload of
# DBS_CRASH_EVENTS (default 200,000) row events in mixed transactions
# (multi-row inserts, updates, deletes; a few transactions of thousands of
# rows that span many batches) while the server is killed with SIGKILL at
# DBS_CRASH_KILLS (default 10) random moments and started again each time;
# the restarted server resumes the streams by itself from its state
# directory. Afterwards:
# - every stream is back under its own id, and caught up;
# - `dbs-cli verify` finds no difference between source and target;
# - every ledger row (one per source transaction and per stretch of at most
#   99 row events of it, insert-only at the source) was applied exactly once
#   at the target: a trigger on the pre-created target table counts every
#   insert and update of each ledger row into a side table, so a batch
#   applied twice shows as a count of 2, which upserts of full row images
#   would otherwise hide.
#
# The kill moments and the workload come from one seed, printed at the
# start; DBS_CRASH_SEED=N repeats them. The server is the build under test
# (ASan and UBSan in scripts/test: a memory error on a resume path aborts
# it, and the test fails); DBS_CRASH_SERVER names another dbs-server
# binary, such as the release build's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg
for v in DBS_TEST_MYSQL_HOST DBS_TEST_MYSQL_PORT; do
	[ -n "${!v:-}" ] || fail "$v is not set: run the e2e suite through scripts/test, which starts the servers"
done
command -v mariadb >/dev/null || fail "the mariadb client is not installed"

EVENTS=${DBS_CRASH_EVENTS:-200000}
KILLS=${DBS_CRASH_KILLS:-10}
SEED=${DBS_CRASH_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
CATCHUP_S=300
echo "crash_resume: seed $SEED, $EVENTS events per stream, $KILLS kills (DBS_CRASH_SEED=$SEED repeats them)"
RANDOM=$SEED
# DBS_CRASH_KEEP=1: keep the server's log (and, on a difference, the
# databases) for a look afterwards.
if [ -n "${DBS_CRASH_KEEP:-}" ]; then
	SERVER_LOG=${DBS_TEST_TMPDIR:-/tmp}/crash_resume.$$.log
	note "server log: $SERVER_LOG"
fi

SERVER=${DBS_CRASH_SERVER:-}
if [ -n "$SERVER" ]; then
	[ -x "$SERVER" ] || fail "DBS_CRASH_SERVER=$SERVER is not an executable"
	# meson points LD_LIBRARY_PATH at the build under test: the release
	# server loads its own library (RUNPATH). exec keeps the pid.
	cat >"$E2E_TMP/server.sh" <<EOF
#!/bin/sh
exec env -u LD_LIBRARY_PATH -u MALLOC_PERTURB_ "$SERVER" "\$@"
EOF
	chmod +x "$E2E_TMP/server.sh"
	DBS_SERVER_BIN=$E2E_TMP/server.sh
	note "dbs-server: $SERVER"
else
	note "dbs-server: $DBS_SERVER_BIN"
fi

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

# The four directions: name, source engine, source db, target engine,
# target db, and the schema a PostgreSQL target puts the tables in.
NAMES=(my_pg my_my pg_my pg_pg)
SRC_KIND=(my my pg pg)
TGT_KIND=(pg my my pg)
SRC_DB=() TGT_DB=() TGT_SCHEMA=()
for i in 0 1 2 3; do
	SRC_DB[i]="dbs_crash_${NAMES[i]}_src_$E2E_UID"
	TGT_DB[i]="dbs_crash_${NAMES[i]}_tgt_$E2E_UID"
done
TGT_SCHEMA[0]=${SRC_DB[0]} # a MariaDB source's database becomes the schema
TGT_SCHEMA[3]=public

# ---- sources ----
for i in 0 1 2 3; do
	db=${SRC_DB[i]}
	if [ "${SRC_KIND[i]}" = my ]; then
		at_exit "my -e 'DROP DATABASE IF EXISTS \`$db\`'"
		my -e "CREATE DATABASE \`$db\` CHARACTER SET utf8mb4" || fail "cannot create $db"
		my "$db" -e "$ITEMS_DDL; $LEDGER_DDL" || fail "cannot create the tables of $db"
	else
		new_db "$db"
		pg "$db" -c "$ITEMS_DDL; $LEDGER_DDL" || fail "cannot create the tables of $db"
		drop_replication_at_exit "$db" "crash_${NAMES[i]}_$E2E_UID" "crash_${NAMES[i]}_$E2E_UID"
	fi
done

# ---- targets: the ledger table made here, with its counting trigger ----
for i in 0 1 2 3; do
	db=${TGT_DB[i]}
	if [ "${TGT_KIND[i]}" = my ]; then
		at_exit "my -e 'DROP DATABASE IF EXISTS \`$db\`'"
		my -e "CREATE DATABASE \`$db\` CHARACTER SET utf8mb4" || fail "cannot create $db"
		# BEFORE triggers see every attempt, also an upsert that turns
		# into an update; a rolled-back attempt takes its count with it.
		my "$db" -e "$LEDGER_DDL; $APPLIED_DDL;
			CREATE TRIGGER count_insert BEFORE INSERT ON ledger FOR EACH ROW
				INSERT INTO ledger_applied VALUES (NEW.txn, NEW.seq, 1)
				ON DUPLICATE KEY UPDATE applies = applies + 1;
			CREATE TRIGGER count_update BEFORE UPDATE ON ledger FOR EACH ROW
				INSERT INTO ledger_applied VALUES (NEW.txn, NEW.seq, 1)
				ON DUPLICATE KEY UPDATE applies = applies + 1" ||
			fail "cannot prepare the target $db"
	else
		new_db "$db"
		s="\"${TGT_SCHEMA[i]}\""
		pg "$db" -c "CREATE SCHEMA IF NOT EXISTS $s; SET search_path = $s;
			$LEDGER_DDL; $APPLIED_DDL;
			CREATE FUNCTION count_apply() RETURNS trigger LANGUAGE plpgsql AS \$\$
			BEGIN
				INSERT INTO $s.ledger_applied VALUES (NEW.txn, NEW.seq, 1)
				ON CONFLICT (txn, seq) DO UPDATE SET applies = $s.ledger_applied.applies + 1;
				RETURN NEW;
			END \$\$;
			CREATE TRIGGER count_apply BEFORE INSERT OR UPDATE ON ledger
				FOR EACH ROW EXECUTE FUNCTION count_apply()" ||
			fail "cannot prepare the target $db"
	fi
done

# ---- stream configurations ----
for i in 0 1 2 3; do
	if [ "${SRC_KIND[i]}" = my ]; then
		src="\"type\": \"mysql\", \"connection\": \"$(my_dsn "${SRC_DB[i]}")\""
	else
		src="\"type\": \"postgresql\", \"connection\": \"$(pg_uri "${SRC_DB[i]}")\",
    \"settings\": { \"replicationSlotName\": \"crash_${NAMES[i]}_$E2E_UID\",
                  \"publicationName\": \"crash_${NAMES[i]}_$E2E_UID\" }"
	fi
	if [ "${TGT_KIND[i]}" = my ]; then
		tgt="\"type\": \"mysql\", \"connection\": \"$(my_dsn "${TGT_DB[i]}")\""
	else
		tgt="\"type\": \"postgresql\", \"connection\": \"$(pg_uri "${TGT_DB[i]}")\""
	fi
	cat >"$E2E_TMP/${NAMES[i]}.json" <<JSON
{
  "name": "crash ${NAMES[i]}",
  "source": {
    $src,
    "mode": "cdc",
    "filter": { "tables": [ { "name": "items" }, { "name": "ledger" } ] }
  },
  "target": { $tgt },
  "limits": { "numberOfEvents": 0, "elapsedTime": 0 }
}
JSON
done

# ---- workloads, generated before anything runs ----
for i in 0 1 2 3; do
	read -r txns ledgers events < <(python3 "$(dirname "$0")/crash_workload.py" "${SRC_KIND[i]}" \
		"$((SEED * 4 + i))" "$EVENTS" "$E2E_TMP/${NAMES[i]}.sql") ||
		fail "cannot generate the workload"
	LEDGERS[i]=$ledgers
	note "${NAMES[i]}: $txns transactions, $ledgers ledger rows, $events row events"
done

start_server
IDS=()
for i in 0 1 2 3; do
	http POST /api/v1/streams -H 'Content-Type: application/json' --data-binary "@$E2E_TMP/${NAMES[i]}.json"
	expect_status 200
	IDS[i]=$(jget 'j["data"]["id"]')
	wait_started "${IDS[i]}"
	expect_json 'j["source"]["status"] in ("READY", "RUNNING") and j["target"]["status"] in ("READY", "RUNNING")'
done
note "streams ${IDS[*]}"

# ---- the workloads run while the server is killed and restarted ----
t0=$(date +%s)
WORK_PIDS=()
for i in 0 1 2 3; do
	if [ "${SRC_KIND[i]}" = my ]; then
		my "${SRC_DB[i]}" <"$E2E_TMP/${NAMES[i]}.sql" >"$E2E_TMP/${NAMES[i]}.out" 2>&1 &
	else
		pg "${SRC_DB[i]}" -f "$E2E_TMP/${NAMES[i]}.sql" >"$E2E_TMP/${NAMES[i]}.out" 2>&1 &
	fi
	WORK_PIDS[i]=$!
	at_exit "kill ${WORK_PIDS[i]} 2>/dev/null || true"
done

applied() { # i: ledger rows at the target of stream i
	local i=$1 n
	if [ "${TGT_KIND[i]}" = my ]; then
		n=$(my "${TGT_DB[i]}" -e 'SELECT count(*) FROM ledger' 2>/dev/null) || n=?
	else
		n=$(pg "${TGT_DB[i]}" -c "SELECT count(*) FROM \"${TGT_SCHEMA[i]}\".ledger" 2>/dev/null) || n=?
	fi
	echo "$n"
}

for k in $(seq 1 "$KILLS"); do
	# 0.3 to 4 s after the (re)start: early, mid-batch and mid-transaction
	# moments all come up over ten kills.
	ms=$((300 + RANDOM % 3700))
	sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
	kill -0 "$SERVER_PID" 2>/dev/null || fail "dbs-server died by itself before kill $k"
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
	note "kill $k at +$(($(date +%s) - t0)) s (${ms} ms after start); target ledger rows: $(for i in 0 1 2 3; do printf '%s ' "$(applied "$i")"; done)"
	start_server
	# Resumed streams connect on their own threads (STARTING meanwhile).
	for i in 0 1 2 3; do
		wait_started "${IDS[i]}"
		expect_status 200
		expect_json 'j["source"]["status"] in ("READY", "RUNNING") and j["target"]["status"] in ("READY", "RUNNING")'
	done
done

for i in 0 1 2 3; do
	wait "${WORK_PIDS[i]}" || fail "the workload of ${NAMES[i]} failed: $(tail -n 5 "$E2E_TMP/${NAMES[i]}.out")"
done
note "workloads done at +$(($(date +%s) - t0)) s"

# ---- caught up ----
# (wait_until has a local i of its own: the stream goes by another name.)
caught_up() { [ "$(applied "$CUR")" = "${LEDGERS[CUR]}" ]; }
for CUR in 0 1 2 3; do
	if ! wait_until "$CATCHUP_S" caught_up; then
		http GET "/api/v1/streams/${IDS[CUR]}/stat"
		fail "${NAMES[CUR]}: the target holds $(applied "$CUR") of ${LEDGERS[CUR]} ledger rows $CATCHUP_S s after the workload; stat: $BODY"
	fi
done
note "caught up at +$(($(date +%s) - t0)) s"
for i in 0 1 2 3; do
	http GET "/api/v1/streams/${IDS[i]}/stat"
	expect_json 'j["source"]["status"] in ("READY", "RUNNING") and j["target"]["status"] in ("READY", "RUNNING")'
done

# ---- zero differences ----
# Every direction is checked before the test fails, so one run shows
# which of them lost or duplicated.
FAILURES=()
for i in 0 1 2 3; do
	rc=0
	"$DBS_CLI_BIN" verify "$E2E_TMP/${NAMES[i]}.json" >"$E2E_TMP/${NAMES[i]}.verify" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		FAILURES+=("${NAMES[i]}: dbs-cli verify exit $rc: $(head -n 12 "$E2E_TMP/${NAMES[i]}.verify")")
		continue
	fi
	note "${NAMES[i]}: $(tail -n 1 "$E2E_TMP/${NAMES[i]}.verify")"
done

# ---- each ledger row applied once ----
for i in 0 1 2 3; do
	q="SELECT count(*), coalesce(sum(applies), 0), coalesce(min(applies), 0), coalesce(max(applies), 0)"
	if [ "${TGT_KIND[i]}" = my ]; then
		got=$(my "${TGT_DB[i]}" -e "$q FROM ledger_applied" | tr '\t' ' ')
		dup=$(my "${TGT_DB[i]}" -e "SELECT txn, seq, applies FROM ledger_applied WHERE applies <> 1 ORDER BY txn, seq LIMIT 5" | tr '\t\n' ' ;')
	else
		got=$(pg "${TGT_DB[i]}" -F ' ' -c "$q FROM \"${TGT_SCHEMA[i]}\".ledger_applied")
		dup=$(pg "${TGT_DB[i]}" -F ' ' -c "SELECT txn, seq, applies FROM \"${TGT_SCHEMA[i]}\".ledger_applied WHERE applies <> 1 ORDER BY txn, seq LIMIT 5" | tr '\n' ';')
	fi
	want="${LEDGERS[i]} ${LEDGERS[i]} 1 1"
	if [ "$got" != "$want" ]; then
		FAILURES+=("${NAMES[i]}: ledger rows applied (rows, applications, min, max) = $got, want $want; first rows not applied once (txn seq applies): $dup")
		continue
	fi
	note "${NAMES[i]}: ${LEDGERS[i]} ledger rows, each applied exactly once"
done
if [ "${#FAILURES[@]}" -gt 0 ]; then
	printf '%s\n' "${FAILURES[@]}" >&2
	if [ -n "${DBS_CRASH_KEEP:-}" ]; then
		E2E_CLEANUPS=()
		note "DBS_CRASH_KEEP: databases kept: ${SRC_DB[*]} ${TGT_DB[*]}; configs in $E2E_TMP (kept)"
		cp -r "$E2E_TMP" "$E2E_TMP.kept"
	fi
	fail "${#FAILURES[@]} check(s) failed with seed $SEED"
fi

stop_server
echo "crash_resume: 4 streams x $EVENTS events, $KILLS SIGKILLs, seed $SEED: zero differences, every transaction applied once ($(($(date +%s) - t0)) s)"
