#!/bin/sh
set -e
SERVER=/usr/bin/redis-server
case "$1" in
  /etc/*) CONFIG="$1" ;;
  *) CONFIG="" ;;
esac
. /etc/os-release
exec "$SERVER" $CONFIG --protected-mode no --save "" --appendonly no
