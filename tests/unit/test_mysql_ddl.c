/*
 * MySQL/MariaDB schema statements without servers: the Query events of
 * data/ddl/captured.txt (statements.sql run on a real MariaDB and read
 * back from its binlog by data/ddl/capture.sh) parsed and compared with
 * data/ddl/expected.txt, with the parsed structures checked field by field
 * for a few; forms MariaDB 10.11 cannot log (MySQL's) written by hand;
 * every prefix and many corruptions of every captured statement parsed
 * under the sanitizers; the widen/narrow classification of type changes.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/mysql/ddl.h"

/* ---- the captured statements ---- */

typedef struct record {
	char db[128];
	uint8_t status[256]; /* the event's status variables */
	size_t status_len;
	unsigned flags; /* from its sql_mode */
	const char *sql;
	size_t len;
} record;

static char *captured, *expected;
static record records[256];
static size_t nrecords;
static const char *blocks[256]; /* into `expected` */
static size_t block_len[256];
static size_t nblocks;

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	long size = ftell(f);
	ck_assert_int_ge(size, 0);
	rewind(f);
	char *buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	return buf;
}

static void setup(void)
{
	captured = slurp(DBS_TEST_DATA "/ddl/captured.txt");
	expected = slurp(DBS_TEST_DATA "/ddl/expected.txt");
	nrecords = 0;
	for (char *p = captured; *p;) {
		record *r = &records[nrecords];
		ck_assert_uint_lt(nrecords, sizeof records / sizeof records[0]);
		char hex[513];
		ck_assert_int_eq(
		    sscanf(p, "-- db: %127[^\n]\n-- status: %512[0-9a-f]\n-- bytes: %zu\n", r->db,
		           hex, &r->len),
		    3);
		r->status_len = strlen(hex) / 2;
		for (size_t k = 0; k < r->status_len; k++) {
			unsigned byte;
			ck_assert_int_eq(sscanf(hex + 2 * k, "%2x", &byte), 1);
			r->status[k] = (uint8_t)byte;
		}
		/* every event of MariaDB 10.11 carries its sql_mode */
		ck_assert_int_eq(dbs__mysql_ddl_flags(r->status, r->status_len, &r->flags), 0);
		for (int line = 0; line < 3; line++)
			p = strchr(p, '\n') + 1;
		r->sql = p;
		ck_assert_msg(strlen(p) > r->len && p[r->len] == '\n', "record %zu cut short",
		              nrecords);
		p += r->len + 1;
		nrecords++;
	}
	/* blocks: "-- N: first line\n" then the expected text up to the next block */
	nblocks = 0;
	const char *p = strstr(expected, "\n-- ");
	while (p) {
		ck_assert_uint_lt(nblocks, sizeof blocks / sizeof blocks[0]);
		const char *body = strchr(p + 1, '\n');
		ck_assert_ptr_nonnull(body);
		body++;
		const char *next = strstr(body - 1, "\n-- ");
		blocks[nblocks] = body;
		block_len[nblocks] = next ? (size_t)(next + 1 - body) : strlen(body);
		nblocks++;
		p = next;
	}
}

static void teardown(void)
{
	free(captured);
	free(expected);
}

static dbs_mysql_ddl *parse_rec(size_t i)
{
	dbs_mysql_ddl *d = NULL;
	ck_assert_uint_lt(i, nrecords);
	ck_assert_int_eq(dbs__mysql_ddl_parse(&d, records[i].sql, records[i].len, records[i].db,
	                                      strlen(records[i].db), records[i].flags),
	                 0);
	ck_assert_ptr_nonnull(d);
	return d;
}

/* The record whose statement starts with `prefix` (exactly one must). */
static size_t find_rec(const char *prefix)
{
	size_t found = SIZE_MAX;
	for (size_t i = 0; i < nrecords; i++)
		if (records[i].len >= strlen(prefix) &&
		    memcmp(records[i].sql, prefix, strlen(prefix)) == 0) {
			ck_assert_msg(found == SIZE_MAX, "two captured statements start with %s",
			              prefix);
			found = i;
		}
	ck_assert_msg(found != SIZE_MAX, "no captured statement starts with %s", prefix);
	return found;
}

static char *describe(const dbs_mysql_ddl *d)
{
	dbs_buf b = DBS_BUF_INIT;
	ck_assert_int_eq(dbs__mysql_ddl_describe(d, &b), 0);
	return b.data;
}

/*
 * DBS_DDL_WRITE_EXPECTED=FILE: write what the parser makes of captured.txt in
 * expected.txt's form to FILE, for a review after capture.sh (the test
 * itself still compares with expected.txt).
 */
static void write_expected(const char *path)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("# The parse of each statement of captured.txt, in order, as\n"
	      "# dbs__mysql_ddl_describe writes it (test_mysql_ddl compares them). A block\n"
	      "# starts with \"-- N: \" and the statement's first line; each was checked\n"
	      "# against the statement by reading both.\n",
	      f);
	for (size_t i = 0; i < nrecords; i++) {
		int first = 0;
		while ((size_t)first < records[i].len && first < 72 &&
		       records[i].sql[first] != '\n')
			first++;
		dbs_mysql_ddl *d = parse_rec(i);
		char *got = describe(d);
		fprintf(f, "-- %zu: %.*s\n%s", i, first, records[i].sql, got);
		free(got);
		dbs__mysql_ddl_free(d);
	}
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(captured_as_expected)
{
	const char *out = getenv("DBS_DDL_WRITE_EXPECTED");
	if (out && *out)
		write_expected(out);
	/* statements.sql's 106 logged events: a lost or added one is a change of the data */
	ck_assert_uint_eq(nrecords, 106);
	ck_assert_uint_eq(nblocks, nrecords);
	for (size_t i = 0; i < nrecords; i++) {
		dbs_mysql_ddl *d = parse_rec(i);
		char *got = describe(d);
		ck_assert_msg(
		    strlen(got) == block_len[i] && memcmp(got, blocks[i], block_len[i]) == 0,
		    "statement %zu: %.*s\nexpected:\n%.*sgot:\n%s", i, (int)records[i].len,
		    records[i].sql, (int)block_len[i], blocks[i], got);
		free(got);
		dbs__mysql_ddl_free(d);
	}
}
END_TEST

START_TEST(captured_create_fields)
{
	dbs_mysql_ddl *d = parse_rec(find_rec("CREATE TABLE IF NOT EXISTS `odd"));
	ck_assert_int_eq(d->cls, DBS_MYSQL_DDL_CHANGES);
	ck_assert_uint_eq(d->nchanges, 1);
	const dbs_mysql_ddl_change *c = &d->changes[0];
	ck_assert_int_eq(c->kind, DBS_MYSQL_CREATE_TABLE);
	ck_assert_str_eq(c->table.schema, "dbs_ddl");
	ck_assert_str_eq(c->table.name, "odd `name`");
	ck_assert_int_eq(c->if_not_exists, 1);
	ck_assert_uint_eq(c->ncolumns, 6);
	const dbs_mysql_coldef *id = &c->columns[0], *e = &c->columns[1], *s = &c->columns[2],
	                       *ts = &c->columns[3], *j = &c->columns[4], *g = &c->columns[5];
	ck_assert_str_eq(id->type.name, "bigint");
	ck_assert_int_eq(id->type.len, 20);
	ck_assert_int_eq(id->type.is_unsigned, 1);
	ck_assert_int_eq(id->nullable, 0);
	ck_assert_int_eq(id->auto_increment, 1);
	ck_assert_str_eq(e->type.name, "enum");
	ck_assert_uint_eq(e->type.nmembers, 3);
	ck_assert_str_eq(e->type.members[0], "a");
	ck_assert_str_eq(e->type.members[1], "b's");
	ck_assert_str_eq(e->type.members[2], "c\\d");
	ck_assert_str_eq(e->type.charset, "latin1");
	ck_assert_str_eq(e->type.collation, "latin1_swedish_ci");
	ck_assert_int_eq(e->nullable, -1);
	ck_assert_int_eq(e->def.kind, DBS_MYSQL_DEFAULT_STRING);
	ck_assert_str_eq(e->def.text, "a");
	ck_assert_str_eq(e->comment, "an enum");
	ck_assert_str_eq(s->type.name, "set");
	ck_assert_uint_eq(s->type.nmembers, 2);
	ck_assert_int_eq(s->def.kind, DBS_MYSQL_DEFAULT_STRING);
	ck_assert_uint_eq(s->def.len, 0);
	ck_assert_str_eq(ts->type.name, "timestamp");
	ck_assert_int_eq(ts->type.scale, 3);
	ck_assert_int_eq(ts->def.kind, DBS_MYSQL_DEFAULT_EXPR);
	ck_assert_str_eq(ts->def.text, "current_timestamp(3)");
	ck_assert_int_eq(ts->on_update_now, 1);
	ck_assert_int_eq(j->def.kind, DBS_MYSQL_DEFAULT_NULL);
	ck_assert_int_eq(g->generated, 1);
	ck_assert_int_eq(id->generated, 0);
	ck_assert_uint_eq(c->nindexes, 4);
	ck_assert_int_eq(c->indexes[0].kind, DBS_MYSQL_INDEX_PRIMARY);
	ck_assert_str_eq(c->indexes[0].parts[0].column, "id");
	ck_assert_int_eq(c->indexes[1].kind, DBS_MYSQL_INDEX_UNIQUE);
	ck_assert_str_eq(c->indexes[1].name, "uk_s");
	ck_assert_int_eq(c->indexes[2].kind, DBS_MYSQL_INDEX_PLAIN);
	ck_assert_uint_eq(c->indexes[2].nparts, 2);
	ck_assert_int_eq(c->indexes[2].parts[0].desc, 0);
	ck_assert_int_eq(c->indexes[2].parts[1].desc, 1);
	ck_assert_int_eq(c->indexes[3].kind, DBS_MYSQL_INDEX_CHECK);
	ck_assert_str_eq(c->indexes[3].name, "ck_j");
	dbs__mysql_ddl_free(d);

	/* the type zoo: aliases become the canonical names */
	d = parse_rec(find_rec("CREATE TABLE dbs_ddl2.t5"));
	c = &d->changes[0];
	ck_assert_str_eq(c->table.schema, "dbs_ddl2");
	ck_assert_uint_eq(c->ncolumns, 15);
	static const struct {
		const char *name;
		int32_t len, scale;
		int uns;
	} want[] = {{"char", 3, -1, 0},     {"text", -1, -1, 0},  {"varbinary", 16, -1, 0},
	            {"double", -1, -1, 0},  {"bit", 5, -1, 0},    {"year", -1, -1, 0},
	            {"datetime", -1, 6, 0}, {"time", -1, -1, 0},  {"mediumblob", -1, -1, 0},
	            {"tinyint", 1, -1, 0},  {"int", -1, -1, 1},   {"decimal", 5, -1, 0},
	            {"float", 7, 3, 0},     {"inet6", -1, -1, 0}, {"uuid", -1, -1, 0}};
	for (size_t i = 0; i < 15; i++) {
		ck_assert_str_eq(c->columns[i].type.name, want[i].name);
		ck_assert_int_eq(c->columns[i].type.len, want[i].len);
		ck_assert_int_eq(c->columns[i].type.scale, want[i].scale);
		ck_assert_int_eq(c->columns[i].type.is_unsigned, want[i].uns);
	}
	ck_assert_int_eq(c->columns[0].type.binary, 1);
	ck_assert_int_eq(c->columns[10].type.zerofill, 1);
	dbs__mysql_ddl_free(d);

	/* generated by the server for CREATE TABLE ... SELECT in a ROW binlog */
	d = parse_rec(find_rec("CREATE TABLE `t4`"));
	ck_assert_int_eq(d->changes[0].kind, DBS_MYSQL_CREATE_TABLE);
	ck_assert_uint_eq(d->changes[0].ncolumns, 2);
	dbs__mysql_ddl_free(d);
}
END_TEST

START_TEST(captured_alter_fields)
{
	dbs_mysql_ddl *d = parse_rec(find_rec("ALTER TABLE t1 CHANGE COLUMN d2 d3"));
	ck_assert_uint_eq(d->nchanges, 1);
	ck_assert_int_eq(d->changes[0].kind, DBS_MYSQL_MODIFY_COLUMN);
	ck_assert_str_eq(d->changes[0].column, "d2");
	ck_assert_str_eq(d->changes[0].col->name, "d3");
	ck_assert_int_eq(d->changes[0].col->type.len, 40);
	ck_assert_int_eq(d->changes[0].col->nullable, 1);
	dbs__mysql_ddl_free(d);

	d = parse_rec(find_rec("ALTER TABLE t1 ADD d varchar(10)"));
	ck_assert_uint_eq(d->nchanges, 2);
	ck_assert_int_eq(d->changes[0].col->place, DBS_MYSQL_PLACE_AFTER);
	ck_assert_str_eq(d->changes[0].col->after, "a");
	ck_assert_int_eq(d->changes[1].col->place, DBS_MYSQL_PLACE_FIRST);
	dbs__mysql_ddl_free(d);

	d = parse_rec(find_rec("ALTER TABLE t3 ADD COLUMN `we``ird col`"));
	const dbs_mysql_coldef *c = d->changes[0].col;
	ck_assert_str_eq(c->name, "we`ird col");
	ck_assert_int_eq(c->def.kind, DBS_MYSQL_DEFAULT_STRING);
	ck_assert_uint_eq(c->def.len, 3);
	ck_assert_str_eq(c->def.text, "a'b");
	ck_assert_str_eq(c->type.collation, "utf8mb4_bin");
	dbs__mysql_ddl_free(d);

	d = parse_rec(find_rec("ALTER TABLE t1 MODIFY c BIGINT"));
	ck_assert_int_eq(d->changes[0].col->def.kind, DBS_MYSQL_DEFAULT_NUMBER);
	ck_assert_str_eq(d->changes[0].col->def.text, "-1");
	dbs__mysql_ddl_free(d);

	/* the executable comment's content counts */
	d = parse_rec(find_rec("ALTER TABLE t3 /*!50100"));
	ck_assert_uint_eq(d->nchanges, 1);
	ck_assert_str_eq(d->changes[0].col->name, "v1");
	dbs__mysql_ddl_free(d);

	d = parse_rec(find_rec("ALTER TABLE t8 DROP PARTITION"));
	ck_assert_int_eq(d->cls, DBS_MYSQL_DDL_UNSUPPORTED);
	ck_assert_uint_eq(d->offset, strlen("ALTER TABLE t8 DROP "));
	ck_assert_ptr_nonnull(strstr(d->why, "PARTITION"));
	ck_assert_uint_eq(d->nchanges, 0);
	dbs__mysql_ddl_free(d);
}
END_TEST

/* ---- forms written by hand ---- */

static char *parse_text(const char *sql, unsigned flags)
{
	dbs_mysql_ddl *d = NULL;
	ck_assert_int_eq(dbs__mysql_ddl_parse(&d, sql, strlen(sql), "db", 2, flags), 0);
	char *s = describe(d);
	dbs__mysql_ddl_free(d);
	return s;
}

#define CK_PARSE(sql, flags, want)                                                                 \
	do {                                                                                       \
		char *got_ = parse_text(sql, flags);                                               \
		ck_assert_msg(strcmp(got_, want) == 0, "%s\nexpected: %sgot:      %s", sql, want,  \
		              got_);                                                               \
		free(got_);                                                                        \
	} while (0)

static int is_unsupported(const char *sql, size_t len)
{
	dbs_mysql_ddl *d = NULL;
	ck_assert_int_eq(dbs__mysql_ddl_parse(&d, sql, len, "db", 2, 0), 0);
	int r = d->cls == DBS_MYSQL_DDL_UNSUPPORTED;
	ck_assert(d->why[0] != '\0' || !r);
	dbs__mysql_ddl_free(d);
	return r;
}

START_TEST(mysql_forms)
{
	/* MySQL 8 forms MariaDB does not log */
	CK_PARSE("ALTER TABLE t ALTER INDEX ix INVISIBLE", 0, "NO CHANGE\n");
	CK_PARSE("ALTER TABLE t RENAME KEY a TO b", 0, "RENAME INDEX `db`.`t` `a` TO `b`\n");
	CK_PARSE("ALTER TABLE t ALTER COLUMN c SET INVISIBLE", 0, "NO CHANGE\n");
	CK_PARSE("ALTER TABLE t ADD COLUMN j JSON, ALGORITHM=INSTANT", 0,
	         "ADD COLUMN `db`.`t` `j` json\n");
	CK_PARSE("ALTER TABLE t ADD COLUMN d DOUBLE PRECISION SRID 0", 0,
	         "ADD COLUMN `db`.`t` `d` double\n");
	CK_PARSE("CREATE TABLE t (a INT, INDEX ((a + 1)) INVISIBLE) ENGINE_ATTRIBUTE='{}'", 0,
	         "CREATE TABLE `db`.`t` (`a` int; INDEX ((expr)))\n");
	CK_PARSE("CREATE TABLE t (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, PRIMARY KEY (id)) "
	         "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci",
	         0,
	         "CREATE TABLE `db`.`t` (`id` bigint unsigned NOT NULL AUTO_INCREMENT; PRIMARY KEY "
	         "(`id`))\n");
	CK_PARSE("ALTER TABLE t DROP CHECK ck", 0, "DROP CONSTRAINT `db`.`t` `ck`\n");
	CK_PARSE(
	    "ALTER TABLE t ADD c VARCHAR(10) CHARACTER SET utf8mb4 NOT NULL COLLATE "
	    "utf8mb4_bin",
	    0,
	    "ADD COLUMN `db`.`t` `c` varchar(10) CHARSET utf8mb4 COLLATE utf8mb4_bin NOT NULL\n");
	CK_PARSE("CREATE TABLE `t2` (\n  `a` int NOT NULL\n) START TRANSACTION", 0,
	         "CREATE TABLE `db`.`t2` (`a` int NOT NULL)\n");
	CK_PARSE("XA START 'x'", 0, "NONE\n");
	CK_PARSE("SET STATEMENT x = 'FOR' FOR DROP TABLE t", 0, "DROP TABLE `db`.`t`\n");
	CK_PARSE("SET STATEMENT x = 1 FOR COMMIT", 0, "NONE\n");
	CK_PARSE("SET sql_mode = ''", 0, "NONE\n");
	CK_PARSE("BEGIN", 0, "NONE\n");
	/* MariaDB's own comment, and an option-only ALTER without commas */
	CK_PARSE("ALTER TABLE t /*M!100301 ADD COLUMN IF NOT EXISTS m INT */", 0,
	         "ADD COLUMN `db`.`t` `m` int IF NOT EXISTS\n");
	CK_PARSE("ALTER TABLE t ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET utf8mb4", 0,
	         "NO CHANGE\n");
}
END_TEST

START_TEST(hand_forms)
{
	CK_PARSE("CREATE TABLE t (LIKE s.u)", 0, "CREATE TABLE LIKE `db`.`t` `s`.`u`\n");
	CK_PARSE("CREATE TABLE t AS SELECT 1", 0, "CREATE TABLE SELECT `db`.`t`\n");
	CK_PARSE("CREATE TABLE t (a INT) SELECT 1 AS a", 0,
	         "CREATE TABLE SELECT `db`.`t` (`a` int)\n");
	CK_PARSE("CREATE TABLE t (a SERIAL)", 0,
	         "CREATE TABLE `db`.`t` (`a` bigint unsigned NOT NULL AUTO_INCREMENT UNIQUE; "
	         "UNIQUE `a` (`a`))\n");
	CK_PARSE("CREATE TEMPORARY TABLE t (a INT)", 0, "NONE\n");
	CK_PARSE("DROP TEMPORARY TABLE IF EXISTS t", 0, "NONE\n");
	CK_PARSE("DROP INDEX `PRIMARY` ON t", 0, "DROP PRIMARY KEY `db`.`t`\n");
	CK_PARSE("ALTER TABLE t DROP INDEX `primary`", 0, "DROP PRIMARY KEY `db`.`t`\n");
	CK_PARSE("ALTER TABLE t ADD c INT PRIMARY KEY FIRST", 0,
	         "ADD COLUMN `db`.`t` `c` int PRIMARY KEY FIRST\nADD INDEX `db`.`t` PRIMARY KEY "
	         "(`c`)\n");
	CK_PARSE("TRUNCATE t;", 0, "TRUNCATE TABLE `db`.`t`\n");
	CK_PARSE("RENAME TABLE IF EXISTS a WAIT 3 TO b", 0,
	         "RENAME TABLE `db`.`a` TO `db`.`b` IF EXISTS\n");
	CK_PARSE("DROP TABLE a NOWAIT RESTRICT", 0, "DROP TABLE `db`.`a`\n");
	CK_PARSE("alter table T add column X int default +1.5e3", 0,
	         "ADD COLUMN `db`.`T` `X` int DEFAULT +1.5e3\n");
	CK_PARSE("ALTER TABLE t ADD b BIT(3) DEFAULT b'101', ADD x BLOB DEFAULT x'0aff'", 0,
	         "ADD COLUMN `db`.`t` `b` bit(3) DEFAULT EXPR b'101'\n"
	         "ADD COLUMN `db`.`t` `x` blob DEFAULT EXPR x'0aff'\n");
	CK_PARSE(
	    "ALTER TABLE t ADD s VARCHAR(9) DEFAULT _utf8mb4'x' 'y', ADD n NCHAR(2) DEFAULT N'z'",
	    0,
	    "ADD COLUMN `db`.`t` `s` varchar(9) DEFAULT 'xy'\n"
	    "ADD COLUMN `db`.`t` `n` char(2) CHARSET utf8mb3 DEFAULT 'z'\n");
	CK_PARSE("ALTER TABLE t ADD e ENUM('a\\'b', 'c\\nd', 'x''y')", 0,
	         "ADD COLUMN `db`.`t` `e` enum('a''b','c\\x0ad','x''y')\n");
	/* sql_mode: ANSI_QUOTES and NO_BACKSLASH_ESCAPES */
	CK_PARSE("ALTER TABLE \"my t\" ADD \"c\"\"\" INT DEFAULT 'a\\'",
	         DBS_MYSQL_DDL_ANSI_QUOTES | DBS_MYSQL_DDL_NO_BACKSLASH_ESCAPES,
	         "ADD COLUMN `db`.`my t` `c\"` int DEFAULT 'a\\'\n");
	CK_PARSE("ALTER TABLE t ADD c VARCHAR(3) DEFAULT \"q\"", 0,
	         "ADD COLUMN `db`.`t` `c` varchar(3) DEFAULT 'q'\n");
	CK_PARSE("DROP DATABASE x", 0, "DROP SCHEMA `x`\n");
	CK_PARSE("  -- only a comment\n /* and another */ ", 0, "NONE\n");
	CK_PARSE("", 0, "NONE\n");
	CK_PARSE("ALTER TABLE t ADD PARTITION (PARTITION p3 VALUES LESS THAN (30))", 0,
	         "NO CHANGE\n");
	CK_PARSE("ALTER TABLE t COALESCE PARTITION 2", 0, "NO CHANGE\n");
	CK_PARSE("ALTER TABLE t ADD CONSTRAINT PRIMARY KEY USING BTREE (a, b(4))", 0,
	         "ADD INDEX `db`.`t` PRIMARY KEY (`a`, `b`(4))\n");
	CK_PARSE("ALTER TABLE t ADD c TEXT CHARACTER SET 'latin1' COLLATE 'latin1_bin'", 0,
	         "ADD COLUMN `db`.`t` `c` text CHARSET latin1 COLLATE latin1_bin\n");
	CK_PARSE("ALTER TABLE t ALTER COLUMN IF EXISTS c DROP DEFAULT", 0,
	         "DROP DEFAULT `db`.`t` `c` IF EXISTS\n");
	/* MySQL's column attributes MariaDB refuses */
	CK_PARSE("ALTER TABLE t ADD a INT COLUMN_FORMAT FIXED STORAGE DISK CONSTRAINT c_pos CHECK "
	         "(a > 0) ENGINE_ATTRIBUTE='{}' NOT NULL CHARACTER SET latin1",
	         0, "ADD COLUMN `db`.`t` `a` int CHARSET latin1 NOT NULL\n");
	CK_PARSE("ALTER TABLE t ADD x BLOB, ADD FULLTEXT f (x) WITH PARSER ngram, ADD c DATE "
	         "WITHOUT SYSTEM VERSIONING",
	         0,
	         "ADD COLUMN `db`.`t` `x` blob\nADD INDEX `db`.`t` FULLTEXT `f` (`x`)\n"
	         "ADD COLUMN `db`.`t` `c` date\n");
	/* words that start clauses elsewhere, as column names */
	CK_PARSE("ALTER TABLE t ADD period INT, ADD system INT DEFAULT .5, DROP period", 0,
	         "ADD COLUMN `db`.`t` `period` int\nADD COLUMN `db`.`t` `system` int DEFAULT .5\n"
	         "DROP COLUMN `db`.`t` `period`\n");
	CK_PARSE("CREATE TABLE t (period INT, PERIOD FOR p (s, e))", 0,
	         "CREATE TABLE `db`.`t` (`period` int)\n");
	CK_PARSE("ALTER TABLE t ADD c INT REFERENCES p (id) ON DELETE SET NULL", 0,
	         "ADD COLUMN `db`.`t` `c` int\n");
}
END_TEST

START_TEST(unsupported_forms)
{
	static const char *const bad[] = {
	    "ALTER TABLE t ADD COLUMN c FROBTYPE",
	    "ALTER TABLE t DISCARD TABLESPACE",
	    "ALTER TABLE t IMPORT TABLESPACE",
	    "ALTER TABLE t EXCHANGE PARTITION p WITH TABLE u",
	    "ALTER TABLE t ADD SYSTEM VERSIONING",
	    "ALTER TABLE t FROB",
	    "ALTER TABLE t ADD c INT DEFAULT 'unterminated",
	    "ALTER TABLE `t ADD c INT",
	    "ALTER TABLE t ADD c VARCHAR(99999999999)",
	    "ALTER TABLE t ADD c INT,",
	    "ALTER TABLE t MODIFY",
	    "CREATE TABLE t",
	    "CREATE TABLE t (a INT",
	    "CREATE TABLE t (id INT, PERIOD FOR SYSTEM_TIME (s, e))",
	    "INSERT INTO t VALUES (1)",
	    "UPDATE t SET a = 1",
	    "DELETE FROM t",
	    "LOAD DATA INFILE 'x' INTO TABLE t",
	    "FROBNICATE",
	    "ALTER DATABASE d UPGRADE DATA DIRECTORY NAME",
	    "RENAME TABLE a",
	    "DROP TABLE a b",
	    "\x01\x02",
	    "ALTER TABLE t ADD c INT DEFAULT ((((1)",
	    "SET STATEMENT x = 1 FOR",
	    "SET STATEMENT x = 1 ALTER TABLE t ADD c INT",
	    "SET STATEMENT x = 1 FOR FROB",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(is_unsupported(bad[i], strlen(bad[i])), "%s", bad[i]);

	/* the message names the word and where it is */
	dbs_mysql_ddl *d = NULL;
	const char *sql = "ALTER TABLE t ADD COLUMN c FROBTYPE(3)";
	ck_assert_int_eq(dbs__mysql_ddl_parse(&d, sql, strlen(sql), "db", 2, 0), 0);
	ck_assert_str_eq(d->why, "unknown column type 'FROBTYPE' (at byte 27)");
	ck_assert_uint_eq(d->offset, 27);
	dbs__mysql_ddl_free(d);

	/* a literal is not copied into the message: it may be a secret */
	sql = "ALTER TABLE t ENGINE=FEDERATED CONNECTION='mysql://u:hunter2@h/d/t' FROB";
	ck_assert_int_eq(dbs__mysql_ddl_parse(&d, sql, strlen(sql), "db", 2, 0), 0);
	ck_assert_int_eq(d->cls, DBS_MYSQL_DDL_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(d->why, "FROB"));
	dbs__mysql_ddl_free(d);
	sql = "ALTER TABLE t ADD c INT 'hunter2'";
	ck_assert_int_eq(dbs__mysql_ddl_parse(&d, sql, strlen(sql), "db", 2, 0), 0);
	ck_assert_int_eq(d->cls, DBS_MYSQL_DDL_UNSUPPORTED);
	ck_assert_ptr_null(strstr(d->why, "hunter2"));
	dbs__mysql_ddl_free(d);

	/* a NUL inside is a byte like any other: not the end of the statement */
	static const char nul[] = "DROP TABLE a\0, b";
	ck_assert(is_unsupported(nul, sizeof nul - 1));
}
END_TEST

START_TEST(sql_mode_flags)
{
	/* the captured events' sql_modes: the default, ANSI_QUOTES + NO_BACKSLASH_ESCAPES +
	 * REAL_AS_FLOAT, ORACLE */
	ck_assert_uint_eq(records[find_rec("CREATE TABLE t1 (id")].flags, 0);
	ck_assert_uint_eq(records[find_rec("CREATE TABLE \"ansi t\"")].flags,
	                  DBS_MYSQL_DDL_ANSI_QUOTES | DBS_MYSQL_DDL_NO_BACKSLASH_ESCAPES |
	                      DBS_MYSQL_DDL_REAL_AS_FLOAT);
	ck_assert_uint_eq(records[find_rec("CREATE TABLE ora")].flags & DBS_MYSQL_DDL_ORACLE,
	                  DBS_MYSQL_DDL_ORACLE);
	/* the same text read without its sql_mode is another statement */
	const record *r = &records[find_rec("CREATE TABLE \"ansi t\"")];
	dbs_mysql_ddl *d = NULL;
	ck_assert_int_eq(dbs__mysql_ddl_parse(&d, r->sql, r->len, r->db, strlen(r->db), 0), 0);
	ck_assert_int_eq(d->cls, DBS_MYSQL_DDL_UNSUPPORTED);
	dbs__mysql_ddl_free(d);

	/* no sql_mode, or a cut one: the default */
	static const uint8_t only_flags2[] = {0, 0, 0, 0, 1};
	static const uint8_t cut[] = {0, 0, 0, 0, 1, 1, 4, 0, 0, 0, 0, 0};
	static const uint8_t bare[] = {1, 4, 0, 0, 0, 0, 0, 0, 0};
	unsigned flags = 99;
	ck_assert_int_eq(dbs__mysql_ddl_flags(NULL, 0, &flags), DBS_ENOTFOUND);
	ck_assert_uint_eq(flags, 0);
	ck_assert_int_eq(dbs__mysql_ddl_flags(only_flags2, 4, &flags), DBS_ENOTFOUND);
	ck_assert_int_eq(dbs__mysql_ddl_flags(only_flags2, 5, &flags), DBS_ENOTFOUND);
	ck_assert_int_eq(dbs__mysql_ddl_flags(cut, sizeof cut, &flags), DBS_ENOTFOUND);
	ck_assert_int_eq(dbs__mysql_ddl_flags(bare, sizeof bare, &flags), 0);
	ck_assert_uint_eq(flags, DBS_MYSQL_DDL_ANSI_QUOTES);

	/* ORACLE: schema statements refused, the rest as always */
	CK_PARSE("CREATE PROCEDURE p AS BEGIN NULL; END", DBS_MYSQL_DDL_ORACLE, "NONE\n");
	CK_PARSE("CREATE OR REPLACE PACKAGE k AS END", DBS_MYSQL_DDL_ORACLE, "NONE\n");
	CK_PARSE("COMMIT", DBS_MYSQL_DDL_ORACLE, "NONE\n");
	char *got = parse_text("ALTER TABLE t ADD d DATE", DBS_MYSQL_DDL_ORACLE);
	ck_assert_ptr_nonnull(strstr(got, "UNSUPPORTED"));
	free(got);
}
END_TEST

/* ---- bounded and byte-safe ---- */

START_TEST(every_prefix_and_corruption)
{
	uint32_t seed = 12345;
	for (size_t i = 0; i < nrecords; i++) {
		const record *r = &records[i];
		for (size_t n = 0; n <= r->len; n++) {
			/* an exact-size copy: a read past the end is caught */
			char *copy = malloc(n ? n : 1);
			ck_assert_ptr_nonnull(copy);
			memcpy(copy, r->sql, n);
			dbs_mysql_ddl *d = NULL;
			ck_assert_int_eq(dbs__mysql_ddl_parse(&d, copy, n, r->db, strlen(r->db), 0),
			                 0);
			ck_assert_int_le(d->cls, DBS_MYSQL_DDL_UNSUPPORTED);
			dbs__mysql_ddl_free(d);
			free(copy);
		}
		for (int k = 0; k < 200 && r->len; k++) {
			char *copy = malloc(r->len);
			ck_assert_ptr_nonnull(copy);
			memcpy(copy, r->sql, r->len);
			for (int f = 0; f < 3; f++) {
				seed = seed * 1103515245u + 12345u;
				copy[(seed >> 8) % r->len] = (char)(seed >> 16);
			}
			dbs_mysql_ddl *d = NULL;
			ck_assert_int_eq(dbs__mysql_ddl_parse(&d, copy, r->len, r->db,
			                                      strlen(r->db), (unsigned)k & 3),
			                 0);
			char *s = describe(d);
			free(s);
			dbs__mysql_ddl_free(d);
			free(copy);
		}
	}
}
END_TEST

START_TEST(deep_and_long)
{
	/* a million nested parentheses: counted, not recursed */
	size_t depth = 1000000;
	const char *head = "ALTER TABLE t ADD c INT DEFAULT ";
	size_t hl = strlen(head), len = hl + 2 * depth;
	char *sql = malloc(len);
	ck_assert_ptr_nonnull(sql);
	memcpy(sql, head, hl);
	memset(sql + hl, '(', depth);
	memset(sql + hl + depth, ')', depth);
	dbs_mysql_ddl *d = NULL;
	ck_assert_int_eq(dbs__mysql_ddl_parse(&d, sql, len, "db", 2, 0), 0);
	ck_assert_int_eq(d->cls, DBS_MYSQL_DDL_CHANGES);
	ck_assert_int_eq(d->changes[0].col->def.kind, DBS_MYSQL_DEFAULT_EXPR);
	ck_assert_uint_eq(d->changes[0].col->def.len, 2 * depth);
	dbs__mysql_ddl_free(d);
	ck_assert(is_unsupported(sql, len - 1));
	free(sql);

	/* 20000 columns in one statement */
	dbs_buf b = DBS_BUF_INIT;
	ck_assert_int_eq(dbs_buf_append_str(&b, "ALTER TABLE t "), 0);
	for (int i = 0; i < 20000; i++)
		ck_assert_int_eq(dbs_buf_appendf(&b, "%sADD c%d ENUM('a','b')", i ? ", " : "", i),
		                 0);
	ck_assert_int_eq(dbs__mysql_ddl_parse(&d, b.data, b.len, "db", 2, 0), 0);
	ck_assert_int_eq(d->cls, DBS_MYSQL_DDL_CHANGES);
	ck_assert_uint_eq(d->nchanges, 20000);
	ck_assert_str_eq(d->changes[19999].col->name, "c19999");
	ck_assert_str_eq(d->changes[19999].col->type.members[1], "b");
	dbs__mysql_ddl_free(d);
	dbs_buf_free(&b);
}
END_TEST

/* ---- widen or narrow ---- */

static dbs_mysql_ddl *type_of(const char *text)
{
	dbs_mysql_ddl *d = NULL;
	ck_assert_int_eq(dbs__mysql_type_parse(&d, text, strlen(text)), 0);
	ck_assert_msg(d->cls == DBS_MYSQL_DDL_CHANGES, "%s: %s", text, d->why);
	return d;
}

static dbs_mysql_change_class type_change(const char *from, const char *to)
{
	dbs_mysql_ddl *a = type_of(from), *b = type_of(to);
	dbs_mysql_change_class c =
	    dbs__mysql_type_change(&a->changes[0].col->type, &b->changes[0].col->type);
	dbs__mysql_ddl_free(a);
	dbs__mysql_ddl_free(b);
	return c;
}

START_TEST(type_parse_catalog_forms)
{
	dbs_mysql_ddl *d = type_of("int(10) unsigned zerofill");
	const dbs_mysql_type *t = &d->changes[0].col->type;
	ck_assert_str_eq(t->name, "int");
	ck_assert_int_eq(t->len, 10);
	ck_assert_int_eq(t->is_unsigned, 1);
	ck_assert_int_eq(t->zerofill, 1);
	dbs__mysql_ddl_free(d);
	d = type_of("enum('x','y''z')");
	t = &d->changes[0].col->type;
	ck_assert_uint_eq(t->nmembers, 2);
	ck_assert_str_eq(t->members[1], "y'z");
	dbs__mysql_ddl_free(d);
	d = type_of("decimal(65,30)");
	ck_assert_int_eq(d->changes[0].col->type.len, 65);
	ck_assert_int_eq(d->changes[0].col->type.scale, 30);
	dbs__mysql_ddl_free(d);

	static const char *const not_types[] = {"", "int(", "int) x", "varchar(2) garbage", "frob"};
	for (size_t i = 0; i < sizeof not_types / sizeof not_types[0]; i++) {
		ck_assert_int_eq(dbs__mysql_type_parse(&d, not_types[i], strlen(not_types[i])), 0);
		ck_assert_msg(d->cls == DBS_MYSQL_DDL_UNSUPPORTED, "%s", not_types[i]);
		dbs__mysql_ddl_free(d);
	}
}
END_TEST

START_TEST(type_widen_narrow)
{
	static const struct {
		const char *from, *to;
		dbs_mysql_change_class want;
	} cases[] = {
	    {"varchar(10)", "varchar(10)", DBS_MYSQL_CHANGE_SAME},
	    {"varchar(10)", "varchar(20)", DBS_MYSQL_CHANGE_WIDENS},
	    {"varchar(20)", "varchar(10)", DBS_MYSQL_CHANGE_NARROWS},
	    {"char(5)", "char(8)", DBS_MYSQL_CHANGE_WIDENS},
	    {"char(5)", "varchar(5)", DBS_MYSQL_CHANGE_WIDENS},
	    {"varchar(5)", "char(9)", DBS_MYSQL_CHANGE_NARROWS},
	    {"varchar(100)", "text", DBS_MYSQL_CHANGE_WIDENS},
	    {"varchar(20000)", "text", DBS_MYSQL_CHANGE_NARROWS},
	    {"varchar(20000)", "mediumtext", DBS_MYSQL_CHANGE_WIDENS},
	    {"text", "mediumtext", DBS_MYSQL_CHANGE_WIDENS},
	    {"longtext", "text", DBS_MYSQL_CHANGE_NARROWS},
	    {"text", "varchar(65535)", DBS_MYSQL_CHANGE_NARROWS},
	    {"varbinary(4)", "varbinary(8)", DBS_MYSQL_CHANGE_WIDENS},
	    {"binary(4)", "binary(8)", DBS_MYSQL_CHANGE_NARROWS},
	    {"binary(4)", "varbinary(4)", DBS_MYSQL_CHANGE_WIDENS},
	    {"varbinary(300)", "blob", DBS_MYSQL_CHANGE_WIDENS},
	    {"varchar(10)", "varbinary(10)", DBS_MYSQL_CHANGE_NARROWS},
	    {"blob", "text", DBS_MYSQL_CHANGE_NARROWS},
	    {"tinyint", "smallint", DBS_MYSQL_CHANGE_WIDENS},
	    {"int(11)", "int(10)", DBS_MYSQL_CHANGE_SAME},
	    {"int", "bigint", DBS_MYSQL_CHANGE_WIDENS},
	    {"bigint", "int", DBS_MYSQL_CHANGE_NARROWS},
	    {"int unsigned", "bigint unsigned", DBS_MYSQL_CHANGE_WIDENS},
	    {"int unsigned", "bigint", DBS_MYSQL_CHANGE_WIDENS},
	    {"int unsigned", "int", DBS_MYSQL_CHANGE_NARROWS},
	    {"int", "bigint unsigned", DBS_MYSQL_CHANGE_NARROWS},
	    {"mediumint", "integer", DBS_MYSQL_CHANGE_WIDENS},
	    {"bool", "tinyint(1)", DBS_MYSQL_CHANGE_SAME},
	    {"decimal(10,2)", "decimal(12,2)", DBS_MYSQL_CHANGE_WIDENS},
	    {"decimal(10,2)", "decimal(12,3)", DBS_MYSQL_CHANGE_NARROWS},
	    {"decimal(10,2)", "decimal(8,2)", DBS_MYSQL_CHANGE_NARROWS},
	    {"decimal", "decimal(10,0)", DBS_MYSQL_CHANGE_SAME},
	    {"numeric(5)", "decimal(6)", DBS_MYSQL_CHANGE_WIDENS},
	    {"decimal(10,2) unsigned", "decimal(10,2)", DBS_MYSQL_CHANGE_WIDENS},
	    {"decimal(10,2)", "decimal(10,2) unsigned", DBS_MYSQL_CHANGE_NARROWS},
	    {"float", "double", DBS_MYSQL_CHANGE_WIDENS},
	    {"double", "float", DBS_MYSQL_CHANGE_NARROWS},
	    {"float(7,3)", "float", DBS_MYSQL_CHANGE_WIDENS},
	    {"enum('a','b')", "enum('a','b','c')", DBS_MYSQL_CHANGE_WIDENS},
	    {"enum('a','b')", "enum('a','b')", DBS_MYSQL_CHANGE_SAME},
	    {"enum('a','b')", "enum('b','a','c')", DBS_MYSQL_CHANGE_NARROWS},
	    {"enum('a','b')", "enum('a')", DBS_MYSQL_CHANGE_NARROWS},
	    {"enum('a','b')", "enum('A','b','c')", DBS_MYSQL_CHANGE_NARROWS},
	    {"set('x')", "set('x','y')", DBS_MYSQL_CHANGE_WIDENS},
	    {"set('x')", "enum('x','y')", DBS_MYSQL_CHANGE_NARROWS},
	    {"datetime", "datetime(3)", DBS_MYSQL_CHANGE_WIDENS},
	    {"datetime(6)", "datetime(3)", DBS_MYSQL_CHANGE_NARROWS},
	    {"datetime", "timestamp", DBS_MYSQL_CHANGE_NARROWS},
	    {"bit(3)", "bit(8)", DBS_MYSQL_CHANGE_WIDENS},
	    {"bit", "bit(1)", DBS_MYSQL_CHANGE_SAME},
	    {"json", "json", DBS_MYSQL_CHANGE_SAME},
	    {"int", "varchar(20)", DBS_MYSQL_CHANGE_NARROWS},
	    {"varchar(10) character set latin1", "varchar(20) character set utf8mb4",
	     DBS_MYSQL_CHANGE_NARROWS},
	    {"varchar(10) character set utf8", "varchar(10) charset utf8mb3 collate utf8mb3_bin",
	     DBS_MYSQL_CHANGE_SAME},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(type_change(cases[i].from, cases[i].to) == cases[i].want,
		              "%s -> %s: %d, expected %d", cases[i].from, cases[i].to,
		              (int)type_change(cases[i].from, cases[i].to), (int)cases[i].want);
}
END_TEST

START_TEST(column_widen_narrow)
{
	/* the captured CHANGE / MODIFY statements against their columns' earlier definitions */
	dbs_mysql_ddl *before = parse_rec(find_rec("CREATE TABLE t1 (id INT NOT NULL"));
	dbs_mysql_ddl *b = parse_rec(find_rec("ALTER TABLE t1 MODIFY COLUMN b DECIMAL(12,2)"));
	dbs_mysql_ddl *a = parse_rec(find_rec("ALTER TABLE t1 CHANGE a a VARCHAR(30)"));
	const dbs_mysql_coldef *cols = before->changes[0].columns;
	ck_assert_int_eq(dbs__mysql_column_change(&cols[2], b->changes[0].col),
	                 DBS_MYSQL_CHANGE_WIDENS);
	ck_assert_int_eq(dbs__mysql_column_change(&cols[1], a->changes[0].col),
	                 DBS_MYSQL_CHANGE_WIDENS);
	ck_assert_int_eq(dbs__mysql_column_change(a->changes[0].col, &cols[1]),
	                 DBS_MYSQL_CHANGE_NARROWS);

	/* NOT NULL dropped widens, added narrows, whatever the type does */
	dbs_mysql_coldef x = cols[1], y = cols[1];
	x.nullable = 0;
	y.nullable = -1;
	ck_assert_int_eq(dbs__mysql_column_change(&x, &y), DBS_MYSQL_CHANGE_WIDENS);
	ck_assert_int_eq(dbs__mysql_column_change(&y, &x), DBS_MYSQL_CHANGE_NARROWS);
	ck_assert_int_eq(dbs__mysql_column_change(&x, &x), DBS_MYSQL_CHANGE_SAME);
	y.type.len = 10;
	ck_assert_int_eq(dbs__mysql_column_change(&x, &y), DBS_MYSQL_CHANGE_NARROWS);

	/* the enum that gained a member, captured */
	dbs_mysql_ddl *odd = parse_rec(find_rec("CREATE TABLE IF NOT EXISTS `odd"));
	dbs_mysql_ddl *e = parse_rec(find_rec("ALTER TABLE `odd ``name``` MODIFY `e`"));
	ck_assert_int_eq(dbs__mysql_column_change(&odd->changes[0].columns[1], e->changes[0].col),
	                 DBS_MYSQL_CHANGE_WIDENS);
	dbs__mysql_ddl_free(odd);
	dbs__mysql_ddl_free(e);
	dbs__mysql_ddl_free(before);
	dbs__mysql_ddl_free(a);
	dbs__mysql_ddl_free(b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mysql_ddl");
	TCase *tc = tcase_create("captured");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, captured_as_expected);
	tcase_add_test(tc, captured_create_fields);
	tcase_add_test(tc, captured_alter_fields);
	tcase_add_test(tc, every_prefix_and_corruption);
	tcase_add_test(tc, column_widen_narrow);
	tcase_add_test(tc, sql_mode_flags);
	suite_add_tcase(s, tc);
	tc = tcase_create("by_hand");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, mysql_forms);
	tcase_add_test(tc, hand_forms);
	tcase_add_test(tc, unsupported_forms);
	tcase_add_test(tc, deep_and_long);
	tcase_add_test(tc, type_parse_catalog_forms);
	tcase_add_test(tc, type_widen_narrow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
