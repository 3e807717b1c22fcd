#!/usr/bin/env bash
# The app's images (a Debian base, Redis, PostgreSQL, the app) are built from Debian packages,
# locally (see the project's scripts/); nothing else is needed on the machine but docker and
# debootstrap.
exec bash "$(dirname "$0")/../../scripts/build-images.sh" --services "$@"
