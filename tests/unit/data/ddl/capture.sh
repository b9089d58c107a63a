#!/bin/sh
# Regenerate captured.txt (and the fuzz seeds of tests/fuzz/corpus/mysql_ddl):
# run statements.sql on a MariaDB server (tests/harness/servers start DIR;
# . DIR/env), read the binlog back with mariadb-binlog --raw, and keep the
# text of every Query event exactly as the server logged it, with the
# event's current database.
#   usage: capture.sh            (DBS_TEST_MYSQL_HOST/PORT/USER from the env)
# Then review the parse of the new capture and keep it as expected.txt:
#   DBS_DDL_WRITE_EXPECTED=/tmp/expected.txt build/test/tests/unit/test_mysql_ddl
#   diff tests/unit/data/ddl/expected.txt /tmp/expected.txt
set -eu
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/../../../fuzz/corpus/mysql_ddl
host=${DBS_TEST_MYSQL_HOST:-127.0.0.1}
port=${DBS_TEST_MYSQL_PORT:?source the env file the harness wrote}
user=${DBS_TEST_MYSQL_USER:-root}
my() { mariadb --no-defaults -h "$host" -P "$port" -u "$user" "$@"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ddl-capture.XXXXXX")
trap 'rm -rf "$work"' EXIT

my -e 'FLUSH BINARY LOGS'
file=$(my -N -e 'SHOW MASTER STATUS' | cut -f1)
# --comments: the client would otherwise strip them before sending.
my --comments --default-character-set=utf8mb4 < "$here/statements.sql"
my -e 'FLUSH BINARY LOGS'
mariadb-binlog --no-defaults --read-from-remote-server --raw -h "$host" -P "$port" \
	-u "$user" --result-file="$work/" "$file"
python3 "$here/query_events.py" "$work/$file" "$here/captured.txt" "$corpus"
