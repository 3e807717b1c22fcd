#!/usr/bin/env bash
# The app's images are built from Debian packages, locally (see the project's scripts/).
exec bash "$(dirname "$0")/../../scripts/build-images.sh" "$@"
