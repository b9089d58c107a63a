#!/usr/bin/env python3
"""Write the Query events of a binlog file as length-prefixed records:

    -- db: NAME
    -- status: HEX (the event's status variables: sql_mode, charsets...)
    -- bytes: N
    <N bytes of the statement>
    <a newline>

and each one as a fuzz seed (database, NUL, statement).

usage: query_events.py BINLOG_FILE OUTPUT SEED_DIR
"""
import os
import struct
import sys

QUERY = 2
FORMAT_DESCRIPTION = 15


def main():
    data = open(sys.argv[1], 'rb').read()
    assert data[:4] == b'\xfebin', 'not a binlog file'
    pos = 4
    checksum = 0
    out = bytearray()
    n = 0
    os.makedirs(sys.argv[3], exist_ok=True)
    while pos + 19 <= len(data):
        _ts, etype, _sid, length, _next, _flags = struct.unpack_from('<IBIIIH', data, pos)
        ev = data[pos:pos + length]
        if etype == FORMAT_DESCRIPTION:
            # The checksum algorithm is the byte before the trailing CRC.
            checksum = 4 if ev[-5] == 1 else 0
        elif etype == QUERY:
            body = ev[19:len(ev) - checksum]
            dlen = body[8]
            svlen = struct.unpack_from('<H', body, 11)[0]
            dstart = 13 + svlen
            status = body[13:dstart]
            db = body[dstart:dstart + dlen]
            query = body[dstart + dlen + 1:]
            out += b'-- db: ' + db + b'\n-- status: ' + status.hex().encode()
            out += b'\n-- bytes: ' + str(len(query)).encode() + b'\n'
            out += query + b'\n'
            with open(os.path.join(sys.argv[3], 'captured-%03d' % n), 'wb') as f:
                f.write(db + b'\0' + query)
            n += 1
        pos += length
    open(sys.argv[2], 'wb').write(out)
    print(f'{n} query events written to {sys.argv[2]}')


main()
