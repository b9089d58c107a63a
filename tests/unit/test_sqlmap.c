/* Type mapping both ways and value conversion edge cases (no servers). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "sql/sqlmap.h"

/* Map one column type of `from` to the other dialect. */
static void map_type(dbs_dialect from, const char *type_name, uint32_t flags, char *buf,
                     size_t size)
{
	dbs_column col = {"c", type_name, 0, -1, flags};
	dbs_table *def = NULL;
	ck_assert_int_eq(dbs_table_new(&def, from, "s", "t", &col, 1), 0);
	dbs_sqltype t;
	dbs__sqlmap_parse(def, &def->columns[0], &t);
	dbs_buf b = {0};
	dbs_dialect to = from == DBS_DIALECT_MYSQL ? DBS_DIALECT_POSTGRESQL : DBS_DIALECT_MYSQL;
	ck_assert_int_eq(dbs__sqlmap_target_type(&b, &t, to), 0);
	snprintf(buf, size, "%s", b.data ? b.data : "");
	dbs_buf_free(&b);
	dbs_table_unref(def);
}

typedef struct map_case {
	const char *type_name;
	uint32_t flags;
	const char *want;
} map_case;

static const map_case my_to_pg[] = {
	{"tinyint(4)", 0, "smallint"},
	{"tinyint(3) unsigned", 0, "smallint"},
	{"tinyint(1)", 0, "smallint"},
	{"smallint(6)", 0, "smallint"},
	{"smallint(5) unsigned", 0, "integer"},
	{"smallint", DBS_COLUMN_UNSIGNED, "integer"},
	{"mediumint(9)", 0, "integer"},
	{"mediumint(8) unsigned", 0, "integer"},
	{"int(11)", 0, "integer"},
	{"int(10) unsigned", 0, "bigint"},
	{"int unsigned zerofill", 0, "bigint"},
	{"bigint(20)", 0, "bigint"},
	{"bigint(20) unsigned", 0, "numeric(20,0)"},
	{"decimal(65,30)", 0, "numeric(65,30)"},
	{"decimal(10,2) unsigned", 0, "numeric(10,2)"},
	{"decimal", 0, "numeric(10,0)"},
	{"float", 0, "real"},
	{"double", 0, "double precision"},
	{"date", 0, "date"},
	{"datetime", 0, "timestamp(0)"},
	{"datetime(6)", 0, "timestamp(6)"},
	{"timestamp(3)", 0, "timestamp(3) with time zone"},
	{"timestamp", 0, "timestamp(0) with time zone"},
	{"time(6)", 0, "interval"},
	{"time", 0, "interval"},
	{"year(4)", 0, "smallint"},
	{"year", 0, "smallint"},
	{"char(10)", 0, "character varying(10)"},
	{"varchar(255)", 0, "character varying(255)"},
	{"tinytext", 0, "text"},
	{"text", 0, "text"},
	{"mediumtext", 0, "text"},
	{"longtext", 0, "text"},
	{"binary(16)", 0, "bytea"},
	{"varbinary(255)", 0, "bytea"},
	{"tinyblob", 0, "bytea"},
	{"blob", 0, "bytea"},
	{"mediumblob", 0, "bytea"},
	{"longblob", 0, "bytea"},
	{"bit(1)", 0, "boolean"},
	{"bit(64)", 0, "bit varying(64)"},
	{"bit(7)", 0, "bit varying(7)"},
	{"enum('a','b''c','d e')", 0, "text CHECK (\"c\" IN ('a', 'b''c', 'd e'))"},
	{"set('x','y')", 0, "text"},
	{"json", 0, "jsonb"},
	{"geometry", 0, "bytea"},
	{"point", 0, "bytea"},
	{"multipolygon", 0, "bytea"},
	{"something_new", 0, "text"},
};

static const map_case pg_to_my[] = {
	{"smallint", 0, "smallint"},
	{"integer", 0, "int"},
	{"bigint", 0, "bigint"},
	{"numeric(38,10)", 0, "decimal(38,10)"},
	{"numeric(65,30)", 0, "decimal(65,30)"},
	{"numeric(66,0)", 0, "longtext"},
	{"numeric(40,31)", 0, "longtext"},
	{"numeric", 0, "decimal(65,30)"},
	{"real", 0, "float"},
	{"double precision", 0, "double"},
	{"boolean", 0, "tinyint(1)"},
	{"text", 0, "longtext"},
	{"text", DBS_COLUMN_KEY, "varchar(768)"},
	{"character varying(255)", 0, "varchar(255)"},
	{"character varying", 0, "longtext"},
	{"character varying(20000)", 0, "longtext"},
	{"character(3)", 0, "char(3)"},
	{"character(300)", 0, "longtext"},
	{"\"char\"", 0, "char(1)"},
	{"bytea", 0, "longblob"},
	{"bytea", DBS_COLUMN_KEY, "varbinary(3072)"},
	{"date", 0, "date"},
	{"timestamp without time zone", 0, "datetime(6)"},
	{"timestamp(3) without time zone", 0, "datetime(6)"},
	{"timestamp with time zone", 0, "datetime(6)"},
	{"timestamp(0) with time zone", 0, "datetime(6)"},
	{"time without time zone", 0, "time(6)"},
	{"time(3) without time zone", 0, "time(6)"},
	{"time with time zone", 0, "varchar(32)"},
	{"interval", 0, "varchar(100)"},
	{"uuid", 0, "char(36)"},
	{"json", 0, "json"},
	{"jsonb", 0, "json"},
	{"integer[]", 0, "json"},
	{"text[]", 0, "json"},
	{"character varying(10)[]", 0, "json"},
	{"inet", 0, "varchar(64)"},
	{"cidr", 0, "varchar(64)"},
	{"macaddr", 0, "varchar(64)"},
	{"bit(8)", 0, "bit(8)"},
	{"bit(100)", 0, "longtext"},
	{"bit varying(12)", 0, "varchar(12)"},
	{"money", 0, "varchar(64)"},
	{"xml", 0, "longtext"},
	{"public.mood", 0, "longtext"},
	{"tsvector", 0, "longtext"},
};

START_TEST(test_map_mysql_to_pg)
{
	char got[256];
	for (size_t i = 0; i < sizeof my_to_pg / sizeof my_to_pg[0]; i++) {
		map_type(DBS_DIALECT_MYSQL, my_to_pg[i].type_name, my_to_pg[i].flags, got, sizeof got);
		ck_assert_msg(strcmp(got, my_to_pg[i].want) == 0, "%s -> \"%s\", want \"%s\"",
		              my_to_pg[i].type_name, got, my_to_pg[i].want);
	}
}
END_TEST

START_TEST(test_map_pg_to_mysql)
{
	char got[256];
	for (size_t i = 0; i < sizeof pg_to_my / sizeof pg_to_my[0]; i++) {
		map_type(DBS_DIALECT_POSTGRESQL, pg_to_my[i].type_name, pg_to_my[i].flags, got,
		         sizeof got);
		ck_assert_msg(strcmp(got, pg_to_my[i].want) == 0, "%s -> \"%s\", want \"%s\"",
		              pg_to_my[i].type_name, got, pg_to_my[i].want);
	}
}
END_TEST

START_TEST(test_map_same_dialect)
{
	const char *names[] = {"bigint(20) unsigned", "enum('a','b')", "numeric(38,10)",
	                       "timestamp with time zone"};
	dbs_dialect d[] = {DBS_DIALECT_MYSQL, DBS_DIALECT_MYSQL, DBS_DIALECT_POSTGRESQL,
	                   DBS_DIALECT_POSTGRESQL};
	for (size_t i = 0; i < 4; i++) {
		dbs_column col = {"c", names[i], 0, -1, 0};
		dbs_table *def = NULL;
		ck_assert_int_eq(dbs_table_new(&def, d[i], "s", "t", &col, 1), 0);
		dbs_sqltype t;
		dbs__sqlmap_parse(def, &def->columns[0], &t);
		dbs_buf b = {0};
		ck_assert_int_eq(dbs__sqlmap_target_type(&b, &t, d[i]), 0);
		ck_assert_str_eq(b.data, names[i]);
		dbs_buf_free(&b);
		dbs_table_unref(def);
	}
}
END_TEST

/* Long key columns share InnoDB's 3072-byte key with the others. */
START_TEST(test_key_widths)
{
	dbs_column cols[4] = {
		{"k", "text", 0, -1, DBS_COLUMN_KEY},
		{"n", "integer", 0, -1, DBS_COLUMN_KEY},
		{"b", "bytea", 0, -1, DBS_COLUMN_KEY},
		{"v", "text", 0, -1, 0},
	};
	dbs_table *def = NULL;
	ck_assert_int_eq(dbs_table_new(&def, DBS_DIALECT_POSTGRESQL, "s", "t", cols, 4), 0);
	dbs_sqltype t[4];
	for (int i = 0; i < 4; i++)
		dbs__sqlmap_parse(def, &def->columns[i], &t[i]);
	dbs__sqlmap_key_widths(t, 4);
	dbs_buf b = {0};
	for (int i = 0; i < 4; i++) {
		if (i)
			dbs_buf_append_char(&b, ' ');
		ck_assert_int_eq(dbs__sqlmap_target_type(&b, &t[i], DBS_DIALECT_MYSQL), 0);
	}
	/* (3072 - 32 for the integer) / 2 = 1520 bytes each: 380 characters. */
	ck_assert_str_eq(b.data, "varchar(380) int varbinary(1520) longtext");
	dbs_buf_free(&b);
	dbs_table_unref(def);

	/* No type name to copy between servers of one engine: refused. */
	dbs_column none = {"c", "", 0, -1, 0};
	ck_assert_int_eq(dbs_table_new(&def, DBS_DIALECT_MYSQL, "s", "t", &none, 1), 0);
	dbs__sqlmap_parse(def, &def->columns[0], &t[0]);
	ck_assert_int_eq(dbs__sqlmap_target_type(&b, &t[0], DBS_DIALECT_MYSQL), DBS_EINVAL);
	dbs_buf_free(&b);
	dbs_table_unref(def);
}
END_TEST

/* ---- values ---- */

typedef struct vfix {
	dbs_table *def;
	dbs_sqltype t;
	dbs_buf b;
	char err[DBS_ERRMSG_MAX];
} vfix;

static void vfix_init(vfix *f, dbs_dialect d, const char *type_name)
{
	memset(f, 0, sizeof *f);
	dbs_column col = {"c", type_name, 0, -1, 0};
	ck_assert_int_eq(dbs_table_new(&f->def, d, "s", "t", &col, 1), 0);
	dbs__sqlmap_parse(f->def, &f->def->columns[0], &f->t);
}

static void vfix_done(vfix *f)
{
	dbs_buf_free(&f->b);
	dbs_table_unref(f->def);
}

static int to_mysql(vfix *f, const dbs_value *v)
{
	dbs_buf_reset(&f->b);
	f->err[0] = '\0';
	return dbs__sqlmap_value_mysql(&f->b, &f->t, v, f->err, sizeof f->err);
}

static int to_pg(vfix *f, const dbs_value *v, dbs_zero_date_policy p, int *is_null)
{
	dbs_buf_reset(&f->b);
	f->err[0] = '\0';
	return dbs__sqlmap_value_pg(&f->b, &f->t, v, p, 0, is_null, f->err, sizeof f->err);
}

static dbs_value text_value(const char *s, size_t n)
{
	dbs_value v = {0};
	v.kind = DBS_VALUE_TEXT;
	v.len = (uint32_t)n;
	v.v.s = s;
	return v;
}

#define TEXT(s) text_value(s, sizeof(s) - 1)

/* PostgreSQL text of a `type` column → MySQL literal. */
static void pg_text_case(const char *type, const char *in, const char *want)
{
	vfix f;
	vfix_init(&f, DBS_DIALECT_POSTGRESQL, type);
	dbs_value v = text_value(in, strlen(in));
	int rc = to_mysql(&f, &v);
	ck_assert_msg(rc == 0, "%s '%s': rc %d: %s", type, in, rc, f.err);
	ck_assert_msg(strcmp(f.b.data, want) == 0, "%s '%s' -> %s, want %s", type, in, f.b.data,
	              want);
	vfix_done(&f);
}

/* PostgreSQL text that MySQL cannot hold: refused, message contains `part`. */
static void pg_text_refused(const char *type, const char *in, const char *part)
{
	vfix f;
	vfix_init(&f, DBS_DIALECT_POSTGRESQL, type);
	dbs_value v = text_value(in, strlen(in));
	ck_assert_int_eq(to_mysql(&f, &v), DBS_EINVAL);
	ck_assert_msg(strstr(f.err, part) != NULL, "%s '%s': message \"%s\" lacks \"%s\"", type, in,
	              f.err, part);
	ck_assert_msg(strstr(f.err, in) != NULL || in[0] == '\0', "message names the value: %s",
	              f.err);
	vfix_done(&f);
}

START_TEST(test_bigint_unsigned_max)
{
	vfix f;
	vfix_init(&f, DBS_DIALECT_MYSQL, "bigint(20) unsigned");
	dbs_value v = {.kind = DBS_VALUE_UINT, .v.u = UINT64_MAX};
	int is_null;
	ck_assert_int_eq(to_mysql(&f, &v), 0);
	ck_assert_str_eq(f.b.data, "18446744073709551615");
	ck_assert_int_eq(to_pg(&f, &v, DBS_ZERO_DATE_FAIL, &is_null), 0);
	ck_assert_str_eq(f.b.data, "18446744073709551615");
	dbs_value mn = {.kind = DBS_VALUE_INT, .v.i = INT64_MIN};
	ck_assert_int_eq(to_mysql(&f, &mn), 0);
	ck_assert_str_eq(f.b.data, "-9223372036854775808");
	vfix_done(&f);
}
END_TEST

START_TEST(test_decimal_extremes)
{
	static const char big[] =
		"-99999999999999999999999999999999999.999999999999999999999999999999";
	static const char tiny[] = "0.000000000000000000000000000001";
	vfix f;
	int is_null;
	vfix_init(&f, DBS_DIALECT_MYSQL, "decimal(65,30)");
	dbs_value v = {.kind = DBS_VALUE_DECIMAL, .len = sizeof big - 1, .v.s = big};
	ck_assert_int_eq(to_mysql(&f, &v), 0);
	ck_assert_str_eq(f.b.data,
	                 "'-99999999999999999999999999999999999.999999999999999999999999999999'");
	ck_assert_int_eq(to_pg(&f, &v, DBS_ZERO_DATE_FAIL, &is_null), 0);
	ck_assert_str_eq(f.b.data, big);
	vfix_done(&f);

	/* numeric without precision: decimal(65,30) when it fits, else refused. */
	pg_text_case("numeric", big + 1, big + 1);
	pg_text_case("numeric", tiny, tiny);
	pg_text_case("numeric", "1.5000000000000000000000000000000000000",
	             "1.5000000000000000000000000000000000000");
	pg_text_refused("numeric", "123456789012345678901234567890123456", "decimal(65,30)");
	pg_text_refused("numeric", "0.0000000000000000000000000000001", "decimal(65,30)");
	pg_text_refused("numeric", "NaN", "no such value");
	pg_text_refused("numeric(10,2)", "NaN", "no such number");
	pg_text_case("numeric(10,2)", "-12.50", "'-12.50'");
}
END_TEST

START_TEST(test_time_negative)
{
	vfix f;
	int is_null;
	vfix_init(&f, DBS_DIALECT_MYSQL, "time(6)");
	dbs_value v = {.kind = DBS_VALUE_TIME};
	v.v.t.negative = 1, v.v.t.hour = 838, v.v.t.minute = 59, v.v.t.second = 59;
	ck_assert_int_eq(to_mysql(&f, &v), 0);
	ck_assert_str_eq(f.b.data, "'-838:59:59.000000'");
	ck_assert_int_eq(to_pg(&f, &v, DBS_ZERO_DATE_FAIL, &is_null), 0);
	ck_assert_str_eq(f.b.data, "-838:59:59");
	v.v.t.usec = 1;
	ck_assert_int_eq(to_pg(&f, &v, DBS_ZERO_DATE_FAIL, &is_null), 0);
	ck_assert_str_eq(f.b.data, "-838:59:59.000001");
	vfix_done(&f);
}
END_TEST

START_TEST(test_zero_dates)
{
	vfix f;
	int is_null = 0;
	vfix_init(&f, DBS_DIALECT_MYSQL, "date");
	dbs_value zero = {.kind = DBS_VALUE_DATE};
	dbs_value partial = {.kind = DBS_VALUE_DATE};
	partial.v.t.year = 2024, partial.v.t.month = 0, partial.v.t.day = 10;

	ck_assert_int_eq(to_pg(&f, &zero, DBS_ZERO_DATE_FAIL, &is_null), DBS_EINVAL);
	ck_assert_ptr_nonnull(strstr(f.err, "0000-00-00"));
	ck_assert_int_eq(to_pg(&f, &partial, DBS_ZERO_DATE_FAIL, &is_null), DBS_EINVAL);
	ck_assert_ptr_nonnull(strstr(f.err, "2024-00-10"));

	ck_assert_int_eq(to_pg(&f, &zero, DBS_ZERO_DATE_NULL, &is_null), 0);
	ck_assert_int_eq(is_null, 1);
	ck_assert_uint_eq(f.b.len, 0);
	dbs_buf_reset(&f.b);
	ck_assert_int_eq(dbs__sqlmap_value_pg(&f.b, &f.t, &partial, DBS_ZERO_DATE_NULL,
	                                      DBS_VALUE_TEXT_COPY, &is_null, f.err, sizeof f.err),
	                 0);
	ck_assert_str_eq(f.b.data, "\\N");

	ck_assert_int_eq(to_pg(&f, &partial, DBS_ZERO_DATE_NEG_INFINITY, &is_null), 0);
	ck_assert_int_eq(is_null, 0);
	ck_assert_str_eq(f.b.data, "-infinity");

	/* MySQL → MySQL keeps them as they are. */
	ck_assert_int_eq(to_mysql(&f, &zero), 0);
	ck_assert_str_eq(f.b.data, "'0000-00-00'");
	ck_assert_int_eq(to_mysql(&f, &partial), 0);
	ck_assert_str_eq(f.b.data, "'2024-00-10'");
	vfix_done(&f);

	vfix_init(&f, DBS_DIALECT_MYSQL, "datetime(6)");
	dbs_value dt = {.kind = DBS_VALUE_DATETIME};
	dt.v.t.year = 2024, dt.v.t.month = 1, dt.v.t.day = 0, dt.v.t.hour = 12;
	ck_assert_int_eq(to_pg(&f, &dt, DBS_ZERO_DATE_FAIL, &is_null), DBS_EINVAL);
	dt.v.t.day = 31, dt.v.t.usec = 999999;
	ck_assert_int_eq(to_pg(&f, &dt, DBS_ZERO_DATE_FAIL, &is_null), 0);
	ck_assert_str_eq(f.b.data, "2024-01-31 12:00:00.999999");
	vfix_done(&f);
}
END_TEST

START_TEST(test_bit64_all_ones)
{
	char ones[65];
	memset(ones, '1', 64);
	ones[64] = '\0';
	vfix f;
	int is_null;
	vfix_init(&f, DBS_DIALECT_MYSQL, "bit(64)");
	dbs_value u = {.kind = DBS_VALUE_UINT, .v.u = UINT64_MAX};
	ck_assert_int_eq(to_pg(&f, &u, DBS_ZERO_DATE_FAIL, &is_null), 0);
	ck_assert_str_eq(f.b.data, ones);
	static const char ff[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
	dbs_value b = {.kind = DBS_VALUE_BYTES, .len = 8, .v.s = ff};
	ck_assert_int_eq(to_pg(&f, &b, DBS_ZERO_DATE_FAIL, &is_null), 0);
	ck_assert_str_eq(f.b.data, ones);
	ck_assert_int_eq(to_mysql(&f, &u), 0);
	ck_assert_str_eq(f.b.data, "18446744073709551615");
	ck_assert_int_eq(to_mysql(&f, &b), 0);
	ck_assert_str_eq(f.b.data, "X'ffffffffffffffff'");
	vfix_done(&f);

	vfix_init(&f, DBS_DIALECT_MYSQL, "bit(5)");
	dbs_value five = {.kind = DBS_VALUE_UINT, .v.u = 5};
	ck_assert_int_eq(to_pg(&f, &five, DBS_ZERO_DATE_FAIL, &is_null), 0);
	ck_assert_str_eq(f.b.data, "00101");
	dbs_value big = {.kind = DBS_VALUE_UINT, .v.u = 32};
	ck_assert_int_eq(to_pg(&f, &big, DBS_ZERO_DATE_FAIL, &is_null), DBS_EINVAL);
	vfix_done(&f);

	vfix_init(&f, DBS_DIALECT_MYSQL, "bit(1)");
	dbs_value one = {.kind = DBS_VALUE_UINT, .v.u = 1};
	ck_assert_int_eq(to_pg(&f, &one, DBS_ZERO_DATE_FAIL, &is_null), 0);
	ck_assert_str_eq(f.b.data, "t");
	vfix_done(&f);

	pg_text_case("bit(64)", ones,
	             "b'1111111111111111111111111111111111111111111111111111111111111111'");
	pg_text_refused("bit(3)", "10x", "bit string");
}
END_TEST

START_TEST(test_bytes_with_zeros)
{
	static const char raw[] = {0, 'a', 0, '\'', (char)0xff};
	vfix f;
	int is_null;
	vfix_init(&f, DBS_DIALECT_MYSQL, "varbinary(10)");
	dbs_value b = {.kind = DBS_VALUE_BYTES, .len = sizeof raw, .v.s = raw};
	ck_assert_int_eq(to_mysql(&f, &b), 0);
	ck_assert_str_eq(f.b.data, "X'00610027ff'");
	ck_assert_int_eq(to_pg(&f, &b, DBS_ZERO_DATE_FAIL, &is_null), 0);
	ck_assert_str_eq(f.b.data, "\\x00610027ff");
	vfix_done(&f);

	pg_text_case("bytea", "\\x00610027ff", "X'00610027ff'");
	pg_text_case("bytea", "\\x", "X''");
	pg_text_refused("bytea", "\\000a", "hex");

	/* Text holding NUL goes as hex so no lexer meets a NUL in quotes. */
	vfix_init(&f, DBS_DIALECT_MYSQL, "text");
	dbs_value t = text_value("a\0b", 3);
	ck_assert_int_eq(to_mysql(&f, &t), 0);
	ck_assert_str_eq(f.b.data, "_utf8mb4 X'610062'");
	dbs_value q = TEXT("it's \\n");
	ck_assert_int_eq(to_mysql(&f, &q), 0);
	ck_assert_str_eq(f.b.data, "'it''s \\n'");
	dbs_value e = TEXT("");
	ck_assert_int_eq(to_mysql(&f, &e), 0);
	ck_assert_str_eq(f.b.data, "''");
	dbs_value n = {.kind = DBS_VALUE_NULL};
	ck_assert_int_eq(to_mysql(&f, &n), 0);
	ck_assert_str_eq(f.b.data, "NULL");
	dbs_value u = {.kind = DBS_VALUE_UNCHANGED};
	ck_assert_int_eq(to_mysql(&f, &u), DBS_EINVAL);
	vfix_done(&f);
}
END_TEST

START_TEST(test_pg_text_forms)
{
	pg_text_case("boolean", "t", "1");
	pg_text_case("boolean", "f", "0");
	pg_text_case("timestamp with time zone", "2024-01-01 01:30:00+05:30",
	             "'2023-12-31 20:00:00.000000'");
	pg_text_case("timestamp with time zone", "2024-02-29 23:59:59.999999+00",
	             "'2024-02-29 23:59:59.999999'");
	pg_text_case("timestamp with time zone", "1999-12-31 22:00:00.5-03",
	             "'2000-01-01 01:00:00.500000'");
	pg_text_case("timestamp(3) without time zone", "9999-12-31 23:59:59.999",
	             "'9999-12-31 23:59:59.999000'");
	pg_text_case("date", "0001-01-01", "'0001-01-01'");
	pg_text_refused("timestamp with time zone", "infinity", "infinite");
	pg_text_refused("timestamp without time zone", "-infinity", "infinite");
	pg_text_refused("date", "infinity", "infinite");
	pg_text_refused("date", "0044-03-15 BC", "before year 1");
	pg_text_refused("date", "10000-01-01", "9999");
	pg_text_refused("timestamp with time zone", "9999-12-31 23:00:00-05", "9999");
	pg_text_refused("double precision", "NaN", "no such number");
	pg_text_refused("real", "-Infinity", "no such number");
	pg_text_case("double precision", "1.7976931348623157e+308", "'1.7976931348623157e+308'");
	pg_text_case("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
	             "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'");
	pg_text_case("interval", "-1 days +02:03:04", "'-1 days +02:03:04'");
	pg_text_case("time without time zone", "24:00:00", "'24:00:00'");
	pg_text_case("jsonb", "{\"a\": \"it's\"}", "'{\"a\": \"it''s\"}'");
}
END_TEST

START_TEST(test_pg_arrays)
{
	pg_text_case("integer[]", "{1,2,NULL,-3}", "'[1,2,null,-3]'");
	pg_text_case("integer[]", "{{1,2},{3,4}}", "'[[1,2],[3,4]]'");
	pg_text_case("integer[]", "{}", "'[]'");
	pg_text_case("integer[]", "[0:1]={7,8}", "'[7,8]'");
	pg_text_case("numeric[]", "{1.50,NaN}", "'[1.50,\"NaN\"]'");
	pg_text_case("double precision[]", "{1.5e+300,Infinity}", "'[1.5e+300,\"Infinity\"]'");
	pg_text_case("boolean[]", "{t,f,NULL}", "'[true,false,null]'");
	pg_text_case("text[]", "{\"a b\",\"x\\\"y\",O'k,\"NULL\",\"\"}",
	             "'[\"a b\",\"x\\\"y\",\"O''k\",\"NULL\",\"\"]'");
	pg_text_case("text[]", "{\"back\\\\slash\"}", "'[\"back\\\\slash\"]'");
	pg_text_case("jsonb[]", "{\"{\\\"a\\\": 1}\"}", "'[{\"a\": 1}]'");
	pg_text_refused("integer[]", "{1,2", "array");
	pg_text_refused("integer[]", "{1,,2}", "array");
	pg_text_refused("integer[]", "{1}x", "array");
}
END_TEST

START_TEST(test_typed_values_to_mysql)
{
	vfix f;
	vfix_init(&f, DBS_DIALECT_MYSQL, "datetime(6)");
	dbs_value dt = {.kind = DBS_VALUE_DATETIME};
	dt.v.t.year = 9999, dt.v.t.month = 12, dt.v.t.day = 31, dt.v.t.hour = 23,
	dt.v.t.minute = 59, dt.v.t.second = 59, dt.v.t.usec = 999999;
	ck_assert_int_eq(to_mysql(&f, &dt), 0);
	ck_assert_str_eq(f.b.data, "'9999-12-31 23:59:59.999999'");
	dt.kind = DBS_VALUE_TIMESTAMP;
	ck_assert_int_eq(to_mysql(&f, &dt), 0);
	ck_assert_str_eq(f.b.data, "'9999-12-31 23:59:59.999999'");
	dt.v.t.year = -5;
	ck_assert_int_eq(to_mysql(&f, &dt), DBS_EINVAL);
	dbs_value d = {.kind = DBS_VALUE_DOUBLE, .v.d = 0.1};
	ck_assert_int_eq(to_mysql(&f, &d), 0);
	ck_assert_str_eq(f.b.data, "0.10000000000000001");
	d.v.d = 1.0 / 0.0;
	ck_assert_int_eq(to_mysql(&f, &d), DBS_EINVAL);
	dbs_value j = {.kind = DBS_VALUE_JSON, .len = 9, .v.s = "{\"a\":\"'\"}"};
	ck_assert_int_eq(to_mysql(&f, &j), 0);
	ck_assert_str_eq(f.b.data, "'{\"a\":\"''\"}'");
	vfix_done(&f);
}
END_TEST

/* docs/type-mapping.md carries the tables the rule table renders. */
/* Row images as the JSON a dead-letter row keeps: numbers stay numbers,
 * the rest is text; any engine's JSON type must take the document. */
START_TEST(test_row_json)
{
	dbs_column cols[] = {{"id", "int", 0, -1, DBS_COLUMN_KEY},
	                     {"s\"q", "text", 0, -1, 0},
	                     {"u", "bigint unsigned", 0, -1, 0},
	                     {"d", "double", 0, -1, 0},
	                     {"nan", "double", 0, -1, 0},
	                     {"b", "blob", 0, -1, 0},
	                     {"z", "date", 0, -1, 0},
	                     {"ts", "timestamp", 0, -1, 0},
	                     {"n", "text", 0, -1, 0},
	                     {"t", "text", 0, -1, 0}};
	dbs_table *def = NULL;
	ck_assert_int_eq(dbs_table_new(&def, DBS_DIALECT_MYSQL, "s", "t", cols, 10), 0);
	static const char text[] = "a\"b\\c\n\t\x01\0\xff\xc3\xa9\xe2\x82"; /* NUL, bad UTF-8 */
	dbs_value img[10];
	memset(img, 0, sizeof img);
	img[0] = (dbs_value){.kind = DBS_VALUE_INT, .v.i = -42};
	img[1] = (dbs_value){.kind = DBS_VALUE_TEXT, .len = sizeof text - 1, .v.s = text};
	img[2] = (dbs_value){.kind = DBS_VALUE_UINT, .v.u = UINT64_MAX};
	img[3] = (dbs_value){.kind = DBS_VALUE_DOUBLE, .v.d = 0.5};
	img[4] = (dbs_value){.kind = DBS_VALUE_DOUBLE, .v.d = NAN};
	img[5] = (dbs_value){.kind = DBS_VALUE_BYTES, .len = 2, .v.s = "\x00\xfe"};
	img[6] = (dbs_value){.kind = DBS_VALUE_DATE}; /* MySQL zero date */
	img[7] = (dbs_value){.kind = DBS_VALUE_TIMESTAMP,
	                     .v.t = {.year = 2024, .month = 2, .day = 29, .hour = 23, .usec = 5}};
	img[8] = (dbs_value){.kind = DBS_VALUE_NULL};
	img[9] = (dbs_value){.kind = DBS_VALUE_UNCHANGED};
	dbs_buf b = {0};
	ck_assert_int_eq(dbs__row_json(&b, def, img, NULL, 0), 0);
	ck_assert_str_eq(b.data, "{\"id\":-42,\"s\\\"q\":\"a\\\"b\\\\c\\n\\t\\u0001\\ufffd"
	                         "\\ufffd\u00e9\\ufffd\\ufffd\",\"u\":18446744073709551615,"
	                         "\"d\":0.5,\"nan\":\"NaN\",\"b\":\"\\\\x00fe\","
	                         "\"z\":\"0000-00-00\",\"ts\":\"2024-02-29 23:00:00.000005+00\","
	                         "\"n\":null}");
	dbs_buf_reset(&b);
	uint32_t key[] = {0};
	ck_assert_int_eq(dbs__row_json(&b, def, img, key, 1), 0);
	ck_assert_str_eq(b.data, "{\"id\":-42}");
	dbs_table_unref(def);

	/* A PostgreSQL source's integers arrive as text. */
	dbs_column pcols[] = {{"i", "integer", 23, -1, DBS_COLUMN_KEY},
	                      {"n", "numeric", 1700, -1, 0},
	                      {"x", "bigint", 20, -1, 0}};
	ck_assert_int_eq(dbs_table_new(&def, DBS_DIALECT_POSTGRESQL, "s", "t", pcols, 3), 0);
	img[0] = (dbs_value){.kind = DBS_VALUE_TEXT, .len = 3, .v.s = "-20"};
	img[1] = (dbs_value){.kind = DBS_VALUE_TEXT, .len = 3, .v.s = "1.5"};
	img[2] = (dbs_value){.kind = DBS_VALUE_TEXT, .len = 1, .v.s = "-"};
	dbs_buf_reset(&b);
	ck_assert_int_eq(dbs__row_json(&b, def, img, NULL, 0), 0);
	ck_assert_str_eq(b.data, "{\"i\":-20,\"n\":\"1.5\",\"x\":\"-\"}");
	dbs_buf_free(&b);
	dbs_table_unref(def);
}
END_TEST

START_TEST(test_doc_in_sync)
{
	const char *path = DBS_TEST_DATA "/../../../docs/type-mapping.md";
	FILE *fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	static char doc[1 << 17];
	size_t n = fread(doc, 1, sizeof doc - 1, fp);
	fclose(fp);
	doc[n] = '\0';
	const char *begin_mark = "<!-- BEGIN GENERATED: sqlmap rules -->\n";
	const char *end_mark = "<!-- END GENERATED -->";
	char *b = strstr(doc, begin_mark);
	char *e = b ? strstr(b, end_mark) : NULL;
	ck_assert_msg(b && e, "%s lacks the generated-section markers", path);
	b += strlen(begin_mark);
	*e = '\0';
	dbs_buf want = {0};
	ck_assert_int_eq(dbs__sqlmap_doc(&want), 0);
	if (strcmp(b, want.data) != 0)
		fprintf(stderr, "--- expected section of %s ---\n%s--- end ---\n", path, want.data);
	ck_assert_msg(strcmp(b, want.data) == 0,
	              "docs/type-mapping.md is out of date with lib/sql/sqlmap.c (the "
	              "expected section is printed above)");
	dbs_buf_free(&want);
}
END_TEST

int main(int argc, char **argv)
{
	/* `test_sqlmap --doc` prints the generated section for the docs. */
	if (argc > 1 && strcmp(argv[1], "--doc") == 0) {
		dbs_buf b = {0};
		if (dbs__sqlmap_doc(&b))
			return 1;
		fputs(b.data, stdout);
		dbs_buf_free(&b);
		return 0;
	}
	Suite *s = suite_create("sqlmap");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_map_mysql_to_pg);
	tcase_add_test(tc, test_map_pg_to_mysql);
	tcase_add_test(tc, test_map_same_dialect);
	tcase_add_test(tc, test_key_widths);
	tcase_add_test(tc, test_bigint_unsigned_max);
	tcase_add_test(tc, test_decimal_extremes);
	tcase_add_test(tc, test_time_negative);
	tcase_add_test(tc, test_zero_dates);
	tcase_add_test(tc, test_bit64_all_ones);
	tcase_add_test(tc, test_bytes_with_zeros);
	tcase_add_test(tc, test_pg_text_forms);
	tcase_add_test(tc, test_pg_arrays);
	tcase_add_test(tc, test_typed_values_to_mysql);
	tcase_add_test(tc, test_row_json);
	tcase_add_test(tc, test_doc_in_sync);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
