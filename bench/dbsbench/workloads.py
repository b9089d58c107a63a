"""The SQL of the workloads, for each source engine.

products(id bigint PK, name varchar(255), price decimal(10,2), weight
double, created timestamp without time zone) is DBConvert Streams'
published benchmark table. Row g is the same on both engines:
(g, 'product g', (g % 100000) / 100, g * 0.5, 2024-01-01 + g seconds).
"""
import math

# Updates of (d) visit the keys in the order (i * STRIDE) % n + 1: every key
# once, not in key order (STRIDE is prime and n has no other prime factors
# than 2 and 5, which the sizes respect).
STRIDE = 7919

PG_DDL = """
CREATE TABLE products (id bigint PRIMARY KEY, name varchar(255), price numeric(10,2),
                       weight double precision, created timestamp);
CREATE TABLE bench_marker (id bigint PRIMARY KEY, at double precision);
"""
MY_DDL = """
CREATE TABLE products (id bigint PRIMARY KEY, name varchar(255), price decimal(10,2),
                       weight double, created datetime) ENGINE=InnoDB;
CREATE TABLE bench_marker (id bigint PRIMARY KEY, at double) ENGINE=InnoDB;
"""


def pg_row(g):
    return (f"{g}, 'product ' || {g}, ({g} % 100000) / 100.0, {g} * 0.5, "
            f"timestamp '2024-01-01' + {g} * interval '1 second'")


def my_row(g):
    return (f"{g}, CONCAT('product ', {g}), ({g} % 100000) / 100, {g} * 0.5, "
            f"TIMESTAMP'2024-01-01 00:00:00' + INTERVAL {g} SECOND")


def ddl(engine):
    return PG_DDL if engine == "pg" else MY_DDL


class Workload:
    """One backlog workload: `key` a..d, `events` row changes it makes,
    `base` rows that must exist (at source and target) before it."""

    def __init__(self, key, title, events, txns, base=0):
        self.key, self.title, self.events, self.txns, self.base = key, title, events, txns, base
        if base:
            assert math.gcd(STRIDE, base) == 1, "base size must be coprime with STRIDE"

    @property
    def per_txn(self):
        return self.events // self.txns

    def setup_sql(self, engine):
        """Rows the workload needs before it starts (one transaction)."""
        if not self.base:
            return ""
        return insert_range(engine, 1, self.base)

    def sql(self, engine):
        n, t, r = self.events, self.txns, self.per_txn
        if self.key == "a":
            return insert_range(engine, 1, n)
        if self.key == "b":
            if engine == "pg":
                return (f"DO $$ BEGIN FOR k IN 0..{t - 1} LOOP INSERT INTO products SELECT "
                        f"{pg_row('g')} FROM generate_series(k * {r} + 1, k * {r} + {r}) g; "
                        "COMMIT; END LOOP; END $$;\n")
            return ("DELIMITER //\nBEGIN NOT ATOMIC FOR k IN 0.." f"{t - 1} DO "
                    f"INSERT INTO products SELECT {my_row('g')} FROM "
                    f"(SELECT k * {r} + seq AS g FROM seq_1_to_{r}) s; END FOR; END//\n")
        if self.key == "c":
            if engine == "pg":
                return (f"DO $$ BEGIN FOR i IN 1..{n} LOOP INSERT INTO products VALUES "
                        f"({pg_row('i')}); COMMIT; END LOOP; END $$;\n")
            return ("DELIMITER //\nBEGIN NOT ATOMIC FOR i IN 1.." f"{n} DO "
                    f"INSERT INTO products VALUES ({my_row('i')}); END FOR; END//\n")
        if self.key == "d":
            b = self.base
            if engine == "pg":
                return (f"DO $$ BEGIN FOR k IN 0..{t - 1} LOOP FOR j IN 0..{r - 1} LOOP "
                        "UPDATE products SET price = price + 1, weight = weight + 1 "
                        f"WHERE id = ((k * {r} + j) * {STRIDE}::bigint) % {b} + 1; "
                        "END LOOP; COMMIT; END LOOP; END $$;\n")
            return ("DELIMITER //\nBEGIN NOT ATOMIC FOR k IN 0.." f"{t - 1} DO "
                    f"START TRANSACTION; FOR j IN 0..{r - 1} DO "
                    "UPDATE products SET price = price + 1, weight = weight + 1 "
                    f"WHERE id = ((k * {r} + j) * {STRIDE}) % {b} + 1; END FOR; COMMIT; "
                    "END FOR; END//\n")
        raise ValueError(self.key)


def insert_range(engine, lo, hi):
    if engine == "pg":
        return f"INSERT INTO products SELECT {pg_row('g')} FROM generate_series({lo}, {hi}) g;\n"
    return (f"INSERT INTO products SELECT {my_row('g')} FROM "
            f"(SELECT seq AS g FROM seq_{lo}_to_{hi}) s;\n")


def workloads(sizes):
    """The four backlog workloads at the given sizes (see SIZES)."""
    return [
        Workload("a", f"{sizes['a']:,} rows in one INSERT…SELECT", sizes["a"], 1),
        Workload("b", f"{sizes['b_txns']:,} transactions × {sizes['b_rows']:,} rows",
                 sizes["b_txns"] * sizes["b_rows"], sizes["b_txns"]),
        Workload("c", f"{sizes['c']:,} single-row transactions", sizes["c"], sizes["c"]),
        Workload("d", f"{sizes['d']:,} single-row UPDATEs by key, {sizes['d_per_txn']:,} "
                      "per transaction", sizes["d"], sizes["d"] // sizes["d_per_txn"],
                 base=sizes["d"]),
    ]


SIZES = {
    "full": {"a": 1_000_000, "b_txns": 1000, "b_rows": 1000, "c": 100_000, "d": 200_000,
             "d_per_txn": 1000},
    "quick": {"a": 20_000, "b_txns": 20, "b_rows": 1000, "c": 2_000, "d": 4_000,
              "d_per_txn": 1000},
}


def marker_sql(engine, k):
    """The end marker: one row in its own transaction, after the workload."""
    if engine == "pg":
        return (f"INSERT INTO bench_marker VALUES ({k}, "
                "extract(epoch from clock_timestamp()));\n")
    return f"INSERT INTO bench_marker VALUES ({k}, UNIX_TIMESTAMP(SYSDATE(6)));\n"


def aggregates_sql(engine, table):
    """Figures both engines compute alike, to check a target equals its source
    (MariaDB reads its datetimes as UTC, as PostgreSQL's epoch of a
    timestamp without time zone does)."""
    if engine == "pg":
        created, pre = "extract(epoch from created)", ""
    else:
        created, pre = "UNIX_TIMESTAMP(created)", "SET time_zone = '+00:00';\n"
    return (pre + "SELECT count(*), coalesce(sum(id), 0), coalesce(sum(price), 0), "
            "coalesce(sum(weight), 0), coalesce(sum(length(name)), 0), "
            f"coalesce(sum({created}), 0) FROM {table};\n")


def parse_aggregates(text):
    from decimal import Decimal
    parts = text.strip().replace("|", "\t").split("\t")
    return [Decimal(p) if "e" not in p.lower() else Decimal(repr(float(p))) for p in parts]


def wait_marker_sql(engine, qtable, k, timeout, interval=0.002):
    """A loop run inside the server until row k of the marker table is
    visible to a new snapshot; prints the server's clock at that moment
    (seconds since the epoch). A table that does not exist yet counts as
    not visible."""
    if engine == "pg":
        # The lookup of the table in EXECUTE (not to_regclass, whose catalog
        # snapshot a loop inside one transaction never refreshes) sees a
        # table the follower creates while the loop runs.
        return f"""
DO $$
DECLARE deadline timestamptz := clock_timestamp() + make_interval(secs => {timeout});
        ok boolean := false;
BEGIN
  LOOP
    BEGIN
      EXECUTE 'SELECT EXISTS (SELECT 1 FROM {qtable.replace("'", "''")} WHERE id = {k})' INTO ok;
    EXCEPTION WHEN undefined_table OR invalid_schema_name THEN
      ok := false;
    END;
    EXIT WHEN ok;
    IF clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'bench: marker {k} not seen within {timeout} s';
    END IF;
    PERFORM pg_sleep({interval});
  END LOOP;
  RAISE NOTICE 'seen_at %', extract(epoch from clock_timestamp());
END $$;
"""
    return f"""
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
DELIMITER //
BEGIN NOT ATOMIC
  DECLARE ok INT DEFAULT 0;
  DECLARE deadline DOUBLE DEFAULT UNIX_TIMESTAMP(SYSDATE(6)) + {timeout};
  DECLARE CONTINUE HANDLER FOR 1146 SET ok = 0;
  WHILE ok = 0 DO
    SELECT COUNT(*) INTO ok FROM {qtable} WHERE id = {k};
    IF ok = 0 THEN
      IF UNIX_TIMESTAMP(SYSDATE(6)) > deadline THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'bench: marker {k} not seen in time';
      END IF;
      DO SLEEP({interval});
    END IF;
  END WHILE;
  SELECT CONCAT('seen_at ', UNIX_TIMESTAMP(SYSDATE(6)));
END//
"""


def parse_seen(out, err):
    for line in (out + "\n" + err).splitlines():
        i = line.find("seen_at ")
        if i >= 0:
            return float(line[i + len("seen_at "):].split()[0])
    raise ValueError("no seen_at line in output")
