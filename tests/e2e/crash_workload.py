#!/usr/bin/env python3
"""The source workload of crash_resume.sh: one SQL script of mixed
transactions, the same for a given seed.

usage: crash_workload.py my|pg SEED EVENTS OUT.sql

Tables (created by the caller):
  items  (id bigint PK, grp int, v bigint, note varchar(64))
  ledger (txn bigint, seq int, items int, PRIMARY KEY (txn, seq))

Every transaction inserts, updates and deletes rows of `items` with
multi-row statements (a few of them thousands of rows, so they span many
hub batches) and inserts rows into the insert-only `ledger`: one first,
one after every 50 item rows or fewer, and one last. A ledger row is thus
in every batch of every transaction; the target counts how often each is
applied. Stops after the transaction that reaches EVENTS row events
(items and ledger rows together). Prints the number of transactions, of
ledger rows and of row events.
"""
import random
import sys

dialect, seed, events, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
assert dialect in ("my", "pg")
r = random.Random(seed)
live = []  # ids of rows in items; removal swaps with the last
where = {}
next_id = 1
n = 0
txn = 0
ledger_rows = 0
sql = []
notes = ["plain", "ünïcödé ✓", "it''s quoted", "x" * 64, "€ 12,50"]


def note():
    if r.random() < 0.1:
        return "NULL"
    return "'" + r.choice(notes)[:60] + " " + str(r.randrange(1000)) + "'"


def ledger(seq, items):
    global n, ledger_rows
    sql.append(f"INSERT INTO ledger (txn, seq, items) VALUES ({txn}, {seq}, {items});")
    n += 1
    ledger_rows += 1


def take(k):
    """k distinct live ids, removed from live."""
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


while n < events:
    txn += 1
    seq = 0
    items = 0
    since = 0
    sql.append("BEGIN;" if dialect == "pg" else "START TRANSACTION;")
    ledger(seq, items)
    seq += 1
    big = r.random() < 0.003
    for _ in range(r.randint(100, 300) if big else r.randint(1, 6)):
        kind = r.random()
        if kind < 0.45 or len(live) < 200:
            k = r.randint(1, 50)
            rows = []
            for _ in range(k):
                rows.append(f"({next_id}, {next_id % 7}, {r.randint(-2**62, 2**62)}, {note()})")
                where[next_id] = len(live)
                live.append(next_id)
                next_id += 1
            sql.append("INSERT INTO items (id, grp, v, note) VALUES " + ", ".join(rows) + ";")
        elif kind < 0.8:
            ids = r.sample(live, min(r.randint(1, 20), len(live)))
            k = len(ids)
            sql.append(f"UPDATE items SET v = v % 1000003 + {r.randint(1, 999)}, note = {note()}, "
                       f"grp = grp + 1 WHERE id IN ({', '.join(map(str, ids))});")
        else:
            ids = take(r.randint(1, 10))
            k = len(ids)
            sql.append(f"DELETE FROM items WHERE id IN ({', '.join(map(str, ids))});")
        n += k
        items += k
        since += k
        if since >= 50:
            ledger(seq, items)
            seq += 1
            since = 0
    ledger(seq, items)
    sql.append("COMMIT;")

with open(out, "w", encoding="utf-8") as f:
    f.write("\n".join(sql))
    f.write("\n")
print(txn, ledger_rows, n)
