#!/usr/bin/env bash
# Re-capture the pgoutput messages test_pgoutput.c decodes.
#
# Starts a throwaway PostgreSQL 15 through tests/harness/servers, creates a
# publication and a pgoutput slot, runs a fixed workload, and saves every
# message the slot produces (protocol version 2, streaming on, messages
# on) as its own file: NNNN-<kind>.bin, plus index.txt ("file lsn kind").
# The bytes come from pg_logical_slot_peek_binary_changes, which runs the
# same pgoutput code a walsender runs for START_REPLICATION.
#
# Usage: tests/unit/data/pgoutput/capture.sh   (rewrites this directory's
# *.bin and index.txt; LSNs, xids and OIDs change from run to run, so
# test_pgoutput.c asserts relations between them, not their values)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../../.." && pwd)
work=$(mktemp -d /tmp/dbs-pgcap.XXXXXX)
chmod 755 "$work"

cleanup() {
	"$root/tests/harness/servers" stop "$work/srv" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

"$root/tests/harness/servers" start "$work/srv" pg >/dev/null
# shellcheck disable=SC1091
. "$work/srv/env"

q() { psql -X -q -v ON_ERROR_STOP=1 "$DBS_TEST_PG_URI" "$@"; }

q >/dev/null <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE t1 (id int PRIMARY KEY, name text, big text, note varchar(20),
                 m mood, n numeric(10,2), ts timestamptz);
ALTER TABLE t1 ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE t2 (a int NOT NULL, b text);
ALTER TABLE t2 REPLICA IDENTITY FULL;
CREATE TABLE s (id int PRIMARY KEY, pad text);
CREATE PUBLICATION cap FOR ALL TABLES;
SELECT pg_create_logical_replication_slot('cap', 'pgoutput');
SELECT pg_replication_origin_create('dbs_origin');
SQL

q >/dev/null <<'SQL'
SET TimeZone = 'UTC';
-- 1: inserts with NULLs, an enum (Type message) and an out-of-line value
BEGIN;
INSERT INTO t1 VALUES (1, 'one', repeat('x', 10000), 'n1', 'happy', 12.5,
                       '2024-01-02 03:04:05.123456+00');
INSERT INTO t1 VALUES (2, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO t1 VALUES (3, 'three', 'small', 'n3', 'sad', -1.25, NULL);
COMMIT;
-- 2: the TOASTed column stays unchanged ('u')
UPDATE t1 SET name = 'uno' WHERE id = 1;
-- 3: key change (old key 'K'), then delete (key 'K')
UPDATE t1 SET id = 20 WHERE id = 2;
DELETE FROM t1 WHERE id = 3;
-- 4: REPLICA IDENTITY FULL: old row 'O'
INSERT INTO t2 VALUES (1, 'a'), (2, NULL);
UPDATE t2 SET b = 'b' WHERE a = 1;
DELETE FROM t2 WHERE a = 2;
-- 5: logical messages, transactional and not
SELECT pg_logical_emit_message(true, 'dbs', 'in a transaction');
SELECT pg_logical_emit_message(false, 'dbs', 'outside');
SQL

q >/dev/null <<'SQL'
SET logical_decoding_work_mem = '64kB';
-- 6: a streamed transaction that commits
BEGIN;
INSERT INTO s SELECT g, repeat(md5(g::text), 45) FROM generate_series(1, 100) g;
COMMIT;
-- 7: a streamed transaction whose subtransaction aborts
BEGIN;
INSERT INTO s SELECT g, repeat(md5(g::text), 45) FROM generate_series(101, 110) g;
SAVEPOINT sp;
INSERT INTO s SELECT g, repeat(md5(g::text), 45) FROM generate_series(111, 210) g;
ROLLBACK TO SAVEPOINT sp;
INSERT INTO s VALUES (1000, 'after rollback to savepoint');
COMMIT;
-- 8: a streamed transaction that aborts
BEGIN;
INSERT INTO s SELECT g, repeat(md5(g::text), 45) FROM generate_series(2001, 2100) g;
ROLLBACK;
SQL

q >/dev/null <<'SQL'
-- 9: schema change: a new Relation message
ALTER TABLE t1 ADD COLUMN extra int;
INSERT INTO t1 (id, name, extra) VALUES (4, 'four', 44);
-- 10: truncate (the publication publishes it; the source's does not)
TRUNCATE t2;
-- 11: a transaction with a replication origin
SELECT pg_replication_origin_session_setup('dbs_origin');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/12345678', '2024-05-06 07:08:09+00');
INSERT INTO t2 VALUES (5, 'origin');
COMMIT;
SELECT pg_replication_origin_session_reset();
SQL

rm -f "$here"/*.bin "$here/index.txt"
q -A -t -F ' ' <<'SQL' | python3 -c '
import sys, os
here = sys.argv[1]
names = {"B": "begin", "C": "commit", "O": "origin", "R": "relation", "Y": "type",
         "I": "insert", "U": "update", "D": "delete", "T": "truncate", "M": "message",
         "S": "stream_start", "E": "stream_stop", "c": "stream_commit", "A": "stream_abort"}
with open(os.path.join(here, "index.txt"), "w") as index:
    for n, line in enumerate(sys.stdin, 1):
        lsn, data = line.split()
        raw = bytes.fromhex(data)
        kind = names[chr(raw[0])]
        name = "%04d-%s.bin" % (n, kind)
        with open(os.path.join(here, name), "wb") as f:
            f.write(raw)
        index.write("%s %s %s\n" % (name, lsn, kind))
' "$here"
SET logical_decoding_work_mem = '64kB';
-- the settings the source gives its walsender session
SET bytea_output = hex; SET DateStyle = ISO; SET IntervalStyle = postgres;
SET extra_float_digits = 3; SET TimeZone = UTC;
SELECT lsn, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('cap', NULL, NULL,
	'proto_version', '2', 'publication_names', 'cap', 'streaming', 'on', 'messages', 'true');
SQL

q -c "SELECT pg_drop_replication_slot('cap')" >/dev/null
echo "captured $(wc -l <"$here/index.txt") messages into $here"
