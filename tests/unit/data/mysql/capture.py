#!/usr/bin/env python3
"""Copy the TABLE_MAP and ROWS events of one table of dbs_zoo out of a MariaDB
binlog file, byte for byte (19-byte header, body, 4-byte CRC32).

usage: capture.py BINLOG_FILE TABLE OUTPUT
"""
import struct
import sys

TABLE_MAP = 19
ROWS = {23, 24, 25, 30, 31, 32}


def main():
    data = open(sys.argv[1], 'rb').read()
    assert data[:4] == b'\xfebin', 'not a binlog file'
    pos = 4
    out = bytearray()
    zoo_ids = set()
    while pos + 19 <= len(data):
        _ts, etype, _sid, length, _next, _flags = struct.unpack_from('<IBIIIH', data, pos)
        ev = data[pos:pos + length]
        if etype == TABLE_MAP:
            body = ev[19:]
            table_id = int.from_bytes(body[:6], 'little')
            dlen = body[8]
            db = body[9:9 + dlen]
            tlen = body[9 + dlen + 1]
            table = body[9 + dlen + 2:9 + dlen + 2 + tlen]
            if db == b'dbs_zoo' and table == sys.argv[2].encode():
                zoo_ids.add(table_id)
                out += ev
        elif etype in ROWS:
            table_id = int.from_bytes(ev[19:25], 'little')
            if table_id in zoo_ids:
                out += ev
        pos += length
    open(sys.argv[3], 'wb').write(out)
    print(f'{len(out)} bytes of {sys.argv[2]} events written to {sys.argv[3]}')


main()
