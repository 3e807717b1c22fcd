#!/bin/sh
set -e
mkdir -p /tmp/ready
exec "$@"
