#!/usr/bin/env bash
# The getting-started page as written: a MySQL (MariaDB) -> PostgreSQL
# stream over tables products1..3, created with curl from a file whose
# configuration is the documented one changed only in host, port, names,
# credentials and certificate paths: tls=true with sslCA/sslCert/sslKey
# against the harness's MariaDB, whose user must present the client
# certificate (REQUIRE X509), and a PostgreSQL target URI with
# sslmode=verify-ca, sslrootcert, sslkey and sslcert. Rows inserted, updated and deleted in MariaDB arrive in
# PostgreSQL with their values; READY -> RUNNING -> STOPPED; no answer and
# no log line ever shows a password.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_pg
for v in DBS_TEST_MYSQL_HOST DBS_TEST_MYSQL_PORT DBS_TEST_SSL_CA DBS_TEST_SSL_CERT DBS_TEST_SSL_KEY; do
	[ -n "${!v:-}" ] || fail "$v is not set: run the e2e suite through scripts/test, which starts the servers"
done
command -v mariadb >/dev/null || fail "the mariadb client is not installed"

# Unique names, so runs can share the harness's servers.
SRC_DB="Source_$E2E_UID"
DST_DB="destination_$E2E_UID"
MY_USER="gs_my_$E2E_UID"
PG_USER="gs_pg_$E2E_UID"
MY_PASSWORD="gs-My-Secret-$E2E_UID"
PG_PASSWORD="gs-Pg-Secret-$E2E_UID"

my() {
	mariadb --no-defaults --default-character-set=utf8mb4 -h "$DBS_TEST_MYSQL_HOST" \
		-P "$DBS_TEST_MYSQL_PORT" -u root -N -B "$@"
}

# ---- MariaDB: the source database and a TLS-only replication user ----
at_exit "my -e 'DROP USER IF EXISTS \`$MY_USER\`@\`%\`'"
at_exit "my -e 'DROP DATABASE IF EXISTS \`$SRC_DB\`'"
my -e "CREATE DATABASE \`$SRC_DB\` CHARACTER SET utf8mb4" || fail "cannot create $SRC_DB"
for t in products1 products2 products3; do
	my "$SRC_DB" -e "CREATE TABLE $t (id int AUTO_INCREMENT PRIMARY KEY, name varchar(255),
		price decimal(10,2), weight double, created datetime(6))"
done
my -e "CREATE USER \`$MY_USER\`@\`%\` IDENTIFIED BY '$MY_PASSWORD' REQUIRE X509;
	GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO \`$MY_USER\`@\`%\`;
	GRANT SELECT ON \`$SRC_DB\`.* TO \`$MY_USER\`@\`%\`" || fail "cannot create the MariaDB user"

# ---- PostgreSQL: the destination, owned by a role that must give its
# password (the harness makes dbs_password_users use scram-sha-256) ----
at_exit "pg postgres -c 'DROP ROLE IF EXISTS \"$PG_USER\"'"
pg postgres -c "CREATE ROLE \"$PG_USER\" LOGIN PASSWORD '$PG_PASSWORD' IN ROLE dbs_password_users" ||
	fail "cannot create the PostgreSQL role"
at_exit "pg postgres -c 'DROP DATABASE IF EXISTS \"$DST_DB\" WITH (FORCE)'"
pg postgres -c "CREATE DATABASE \"$DST_DB\" OWNER \"$PG_USER\"" || fail "cannot create $DST_DB"

# ---- the documented configuration; only host, port, names, credentials
# and certificate paths differ ----
CONFIG_DIR="$E2E_TMP/config"
mkdir -p "$CONFIG_DIR"
stream_config() {
	local with_client_cert=$1
	cat <<JSON
{
  "source": {
    "type": "mysql",
    "connection": "$MY_USER:$MY_PASSWORD@tcp($DBS_TEST_MYSQL_HOST:$DBS_TEST_MYSQL_PORT)/$SRC_DB?tls=true",
    "settings": {
      "sslCA": "$DBS_TEST_SSL_CA"$(
		[ "$with_client_cert" = 1 ] && printf ',\n      "sslCert": "%s",\n      "sslKey": "%s"' \
			"$DBS_TEST_SSL_CERT" "$DBS_TEST_SSL_KEY"
	)
    },
    "filter": {
      "tables": [
        { "name": "products1", "operations": ["insert", "update", "delete"] },
        { "name": "products2", "operations": ["insert", "update", "delete"] },
        { "name": "products3", "operations": ["insert", "update", "delete"] }
      ]
    }
  },
  "target": {
    "type": "postgresql",
    "connection": "postgres://$PG_USER:$PG_PASSWORD@$DBS_TEST_PG_HOST:$DBS_TEST_PG_PORT/$DST_DB?sslmode=verify-ca&sslrootcert=$DBS_TEST_SSL_CA&sslkey=$DBS_TEST_SSL_KEY&sslcert=$DBS_TEST_SSL_CERT"
  },
  "limits": {
    "numberOfEvents": 0,
    "elapsedTime": 0
  }
}
JSON
}
stream_config 1 >"$CONFIG_DIR/stream-config.json"
stream_config 0 >"$CONFIG_DIR/no-client-cert.json"
start_server --config-dir "$CONFIG_DIR"

# ---- create from the file ----
http POST /api/v1/streams\?file=stream-config.json
expect_status 200
expect_json 'j["status"] == "success"'
expect_json 'sorted(j["data"]) == ["id", "limits", "source", "target"]'
ID=$(jget 'j["data"]["id"]')
[[ "$ID" =~ ^[0-9A-Za-z]{27}$ ]] || fail "stream id is not a KSUID: $ID"
expect_json 'j["data"]["source"]["type"] == "mysql" and j["data"]["target"]["type"] == "postgresql"'
expect_json 'j["data"]["source"]["settings"]["sslCA"] == "'"$DBS_TEST_SSL_CA"'"'
expect_json 'len(j["data"]["source"]["filter"]["tables"]) == 3'
expect_json '"sslmode=verify-ca" in j["data"]["target"]["connection"]'

# ---- READY: the source is capturing ----
wait_started
expect_status 200
expect_json 'j["streamID"] == "'"$ID"'"'
for node in source target; do
	# The 0.x fields first and as 0.x has them, then the connection health.
	expect_json '{k: j["'$node'"][k] for k in list(j["'$node'"])[:4]} == {"counter": 0, "elapsed": "0s", "started": "0001-01-01T00:00:00Z", "status": "READY"}'
	expect_json 'j["'$node'"]["reconnects"] == 0 and j["'$node'"]["reconnecting"] is False and "connectionError" not in j["'$node'"]'
done
expect_json 'j["source"]["lagBytes"] >= 0 and j["target"]["lag"] == "0s" and j["target"]["lastCommit"] == "0001-01-01T00:00:00Z"'
expect_json 'j["hub"] == {"reconnects": 0, "reconnecting": False}'

# ---- inserts, updates, deletes in MariaDB ----
for t in products1 products2 products3; do
	my "$SRC_DB" -e "INSERT INTO $t (name, price, weight, created)
		SELECT concat('product ', seq, ' ✓'), seq * 1.25, seq / 4, '2024-02-29 12:34:56.000001' + INTERVAL seq SECOND
		FROM seq_1_to_200"
done
running() {
	http GET /api/v1/streams/stat
	[ "$STATUS" = 200 ] || return 1
	[ "$(jget 'j["source"]["status"] == "RUNNING" and j["target"]["status"] == "RUNNING" and j["target"]["counter"] >= 600')" = true ]
}
wait_until 60 running || fail "stream did not turn RUNNING with 600 events: $BODY"
expect_json 'j["source"]["started"] != "0001-01-01T00:00:00Z" and j["target"]["started"] != "0001-01-01T00:00:00Z"'

my "$SRC_DB" -e "UPDATE products1 SET price = price + 100, name = concat(name, ' (new price)') WHERE id % 7 = 0;
	UPDATE products2 SET weight = NULL WHERE id <= 10;
	DELETE FROM products3 WHERE id % 3 = 0;
	BEGIN; INSERT INTO products2 (id, name, price, weight) VALUES (1000, 'short-lived', 1, 1);
	UPDATE products2 SET name = 'changed twice' WHERE id = 1000; DELETE FROM products1 WHERE id > 190; COMMIT"
# 28 + 10 + 66 + 1 + 1 + 10 changes after the 600 inserts.
EXPECTED_EVENTS=716
caught_up() {
	http GET /api/v1/streams/stat
	[ "$(jget 'j["target"]["counter"] >= '$EXPECTED_EVENTS)" = true ]
}
wait_until 60 caught_up || fail "the target did not apply $EXPECTED_EVENTS events: $BODY"

# The writer's session runs over TLS, as its URI asks.
[ "$(pg postgres -c "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = '$PG_USER'")" = t ] ||
	fail "the target's PostgreSQL session is not using TLS"

# ---- PostgreSQL holds what MariaDB holds, value for value ----
# The target writes into a schema named after the source database.
[ "$(pg "$DST_DB" -c "SELECT count(*) FROM information_schema.tables WHERE table_schema = '$SRC_DB' AND table_name IN ('products1', 'products2', 'products3')")" = 3 ] ||
	fail "the destination lacks \"$SRC_DB\".products1..3: $(pg "$DST_DB" -c "SELECT string_agg(table_schema || '.' || table_name, ' ') FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")"
compare_table() {
	local t=$1
	my "$SRC_DB" -e "SELECT id, name, price, weight, created FROM $t ORDER BY id" >"$E2E_TMP/my.$t"
	pg "$DST_DB" -F $'\t' -c "SELECT id, name, price, weight, created FROM \"$SRC_DB\".$t ORDER BY id" >"$E2E_TMP/pg.$t"
	python3 - "$E2E_TMP/my.$t" "$E2E_TMP/pg.$t" "$t" <<'EOF'
import datetime, decimal, sys

def rows(path, null):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            c = [None if v == null else v for v in c]
            out.append((int(c[0]), c[1],
                        decimal.Decimal(c[2]) if c[2] is not None else None,
                        float(c[3]) if c[3] is not None else None,
                        datetime.datetime.fromisoformat(c[4]) if c[4] is not None else None))
    return out

src = rows(sys.argv[1], "NULL")
dst = rows(sys.argv[2], "")
if len(src) != len(dst):
    sys.exit(f"{sys.argv[3]}: {len(src)} rows in MariaDB, {len(dst)} in PostgreSQL")
for a, b in zip(src, dst):
    if a != b:
        sys.exit(f"{sys.argv[3]}: MariaDB {a} != PostgreSQL {b}")
print(f"{sys.argv[3]}: {len(src)} rows equal")
EOF
}
same_tables() {
	compare_table products1 >/dev/null 2>&1 && compare_table products2 >/dev/null 2>&1 &&
		compare_table products3 >/dev/null 2>&1
}
# Counters reach the total when the batch is acked: the rows are there, but
# allow a moment in case the stat runs ahead of the commit.
wait_until 10 same_tables || true
for t in products1 products2 products3; do
	compare_table "$t" >&2 || fail "$t differs between MariaDB and PostgreSQL"
done
[ "$(my "$SRC_DB" -e 'SELECT count(*) FROM products1')" = 190 ] || fail "the workload did not leave 190 rows in products1"
[ "$(pg "$DST_DB" -c "SELECT name FROM \"$SRC_DB\".products1 WHERE id = 7")" = "product 7 ✓ (new price)" ] ||
	fail "the update of products1 id 7 did not arrive as written"
[ "$(pg "$DST_DB" -c "SELECT count(*) FROM \"$SRC_DB\".products2 WHERE id = 1000")" = 1 ] ||
	fail "the row inserted and updated in one transaction is missing"

# ---- stop ----
http DELETE /api/v1/streams
expect_status 200
expect_json 'j == {"streamID": "'"$ID"'", "Source": {"status": "STOPPED"}, "Target": {"status": "STOPPED"}}'
http GET /api/v1/streams/stat
expect_status 200
for node in source target; do
	expect_json 'j["'$node'"]["status"] == "STOPPED" and j["'$node'"]["counter"] >= '$EXPECTED_EVENTS' and j["'$node'"]["elapsed"] != "0s"'
done

# ---- tls=true means the certificates are used: without the client
# certificate this user (REQUIRE X509) is refused, INIT FAILED ----
http POST /api/v1/streams\?file=no-client-cert.json
expect_status 200
ID2=$(jget 'j["data"]["id"]')
init_failed() {
	http GET "/api/v1/streams/$ID2/stat"
	[ "$(jget 'j["source"]["status"] == "INIT FAILED"')" = true ]
}
wait_until 30 init_failed || fail "a source without its client certificate was not refused: $BODY"
http DELETE "/api/v1/streams/$ID2"

# ---- no answer and no log line showed a password ----
for pw in "$MY_PASSWORD" "$PG_PASSWORD"; do
	if grep -qF "$pw" "$E2E_RESPONSES"; then fail "a response contains a password"; fi
	if grep -qF "$pw" "$SERVER_LOG"; then fail "the server log contains a password"; fi
done

stop_server
note "ok"
