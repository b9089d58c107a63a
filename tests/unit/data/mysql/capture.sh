#!/bin/sh
# Regenerate zoo.binlog and oldtime.binlog: run zoo.sql on a MariaDB server started as
# ENVIRONMENT.md describes (--log-bin --binlog-format=ROW
# --binlog-row-image=FULL --binlog-row-metadata=FULL --binlog-checksum=CRC32
# --character-set-server=utf8mb4) and copy the zoo's row events out of its
# current binlog file. The server must be local: the binlog is read as a file.
#   usage: capture.sh SOCKET
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sock=$1
my() { mariadb --no-defaults -S "$sock" -uroot "$@"; }
my -e 'FLUSH BINARY LOGS'
file=$(my -N -e 'SHOW MASTER STATUS' | cut -f1)
dir=$(dirname "$(my -N -e 'SELECT @@log_bin_basename')")
my --default-character-set=utf8mb4 < "$here/zoo.sql"
my -e 'FLUSH BINARY LOGS'
python3 "$here/capture.py" "$dir/$file" zoo "$here/zoo.binlog"
python3 "$here/capture.py" "$dir/$file" oldtime "$here/oldtime.binlog"
