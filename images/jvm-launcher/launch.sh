#!/bin/sh
JAVA="$(readlink -f "$(command -v java)")"
exec "$JAVA" -Xmx256m -cp /srv App
