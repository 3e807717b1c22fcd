#!/usr/bin/env bash
# Build every image the tests, examples and benchmarks use, locally: no registry is reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

build_busybox() {
  local ctx
  ctx=$(mktemp -d)
  cp images/busybox/Dockerfile images/busybox/passwd images/busybox/group "$ctx/"
  cp /bin/busybox "$ctx/busybox"
  DOCKER_BUILDKIT=0 docker build -q -t pytest-seccomp/busybox:latest "$ctx" >/dev/null 2>&1 \
    || DOCKER_BUILDKIT=0 docker build -t pytest-seccomp/busybox:latest "$ctx"
  rm -rf "$ctx"
}

docker image inspect pytest-seccomp/busybox:latest >/dev/null 2>&1 || build_busybox
echo "[images] pytest-seccomp/busybox ready"
