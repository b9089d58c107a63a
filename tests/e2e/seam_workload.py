#!/usr/bin/env python3
"""The source workload of load_seam.sh: one SQL script of mixed
transactions over the rows an initial load is copying, the same for a
given seed.

usage: seam_workload.py my|pg SEED ROWS TXNS OUT.sql

Tables (created and filled by the caller):
  items  (id bigint PK, grp int, v bigint, note varchar(64)), ids 1..ROWS
  ledger (txn bigint, seq int, items int, PRIMARY KEY (txn, seq))

Each of the TXNS transactions updates, deletes and inserts rows of
`items` anywhere in the key range (inserts both above the copied keys
and into the holes deletes left), moves some rows to another key (an
update of the primary key, often into another chunk), and inserts a
ledger row first and last (a few transactions are large enough to span
several batches). A short sleep every few transactions spreads the
workload over the copy and past it.
"""
import random
import sys

dialect, seed, rows, txns, out = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                  int(sys.argv[4]), sys.argv[5])
assert dialect in ("my", "pg")
r = random.Random(seed)
live = list(range(1, rows + 1))
where = {v: i for i, v in enumerate(live)}
holes = []
next_id = rows + 1
sql = []


def take(k):
    ids = []
    for _ in range(min(k, len(live))):
        i = r.randrange(len(live))
        ids.append(live[i])
        last = live.pop()
        if i < len(live):
            live[i] = last
            where[last] = i
        del where[ids[-1]]
    return ids


def add(i):
    where[i] = len(live)
    live.append(i)


def note():
    return "NULL" if r.random() < 0.1 else "'n" + str(r.randrange(10**6)) + "'"


for txn in range(1, txns + 1):
    sql.append("BEGIN;" if dialect == "pg" else "START TRANSACTION;")
    sql.append(f"INSERT INTO ledger (txn, seq, items) VALUES ({txn}, 0, 0);")
    big = r.random() < 0.02
    for _ in range(r.randint(40, 80) if big else r.randint(1, 5)):
        kind = r.random()
        if kind < 0.3:
            vals = []
            for _ in range(r.randint(1, 20)):
                if holes and r.random() < 0.5:
                    i = holes.pop(r.randrange(len(holes)))
                else:
                    i = next_id
                    next_id += 1
                add(i)
                vals.append(f"({i}, {i % 7}, {r.randint(-2**40, 2**40)}, {note()})")
            sql.append("INSERT INTO items (id, grp, v, note) VALUES " + ", ".join(vals) + ";")
        elif kind < 0.7:
            ids = r.sample(live, min(r.randint(1, 30), len(live)))
            sql.append(f"UPDATE items SET v = v % 1000003 + {r.randint(1, 999)}, note = {note()}, "
                       f"grp = grp + 1 WHERE id IN ({', '.join(map(str, ids))});")
        elif kind < 0.85:
            ids = take(r.randint(1, 10))
            holes.extend(ids)
            sql.append(f"DELETE FROM items WHERE id IN ({', '.join(map(str, ids))});")
        else:
            # A row moves to another key, up or down the range.
            old = take(1)
            if not old:
                continue
            new = holes.pop(r.randrange(len(holes))) if holes and r.random() < 0.5 else next_id
            if new == next_id:
                next_id += 1
            holes.append(old[0])
            add(new)
            sql.append(f"UPDATE items SET id = {new}, grp = grp + 100 WHERE id = {old[0]};")
    sql.append(f"INSERT INTO ledger (txn, seq, items) VALUES ({txn}, 1, 0);")
    sql.append("COMMIT;")
    if txn % 10 == 0:
        sql.append("SELECT pg_sleep(0.02);" if dialect == "pg" else "DO SLEEP(0.02);")

with open(out, "w", encoding="utf-8") as f:
    f.write("\n".join(sql))
    f.write("\n")
print(txns * 2)
