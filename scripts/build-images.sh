#!/usr/bin/env bash
# Build every image the tests, examples and benchmarks use, locally: no registry is reachable.
# An image that exists is kept (the engine's image store is the cache); pass --rebuild to redo.
set -euo pipefail
cd "$(dirname "$0")/.."
rebuild=${1:-}

have() { [ "$rebuild" != --rebuild ] && docker image inspect "$1" >/dev/null 2>&1; }

build() {  # tag, context directory
  DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" >/var/log/pytest-seccomp-build.log 2>&1 \
    || { cat /var/log/pytest-seccomp-build.log >&2; exit 1; }
  echo "[images] built $1"
}

# FROM scratch plus Debian's static busybox: seconds.
if ! have pytest-seccomp/busybox:latest; then
  ctx=$(mktemp -d)
  cp images/busybox/Dockerfile images/busybox/passwd images/busybox/group "$ctx/"
  cp /bin/busybox "$ctx/busybox"
  build pytest-seccomp/busybox:latest "$ctx"
  rm -rf "$ctx"
fi

# The benchmarks' image: busybox plus a static nanosecond clock.
if ! have pytest-seccomp/bench:latest; then
  ctx=$(mktemp -d)
  cp images/bench/Dockerfile "$ctx/"
  gcc -static -O2 -o "$ctx/nanotime" images/bench/nanotime.c
  build pytest-seccomp/bench:latest "$ctx"
  rm -rf "$ctx"
fi

# A static 32-bit program: the recorder must refuse to misname compat syscalls.
if ! have pytest-seccomp/hello32:latest; then
  ctx=$(mktemp -d)
  cp images/hello32/Dockerfile "$ctx/"
  gcc -m32 -static -O2 -o "$ctx/hello32" images/hello32/hello.c
  build pytest-seccomp/hello32:latest "$ctx"
  rm -rf "$ctx"
fi

# A Debian base from debootstrap (about half a minute), then the examples' services on top of it.
if ! have pytest-seccomp/debian:bookworm; then
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  root=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$root" "${mirror:-http://deb.debian.org/debian}" \
    >/var/log/pytest-seccomp-debootstrap.log 2>&1
  tar -C "$root" -c . | docker import - pytest-seccomp/debian:bookworm >/dev/null
  rm -rf "$root"
  echo "[images] built pytest-seccomp/debian:bookworm"
fi
for service in redis postgres webapp devcontainer; do
  have "pytest-seccomp/$service:latest" || build "pytest-seccomp/$service:latest" "images/$service"
done
echo "[images] ready: busybox, bench, hello32, debian, redis, postgres, webapp, devcontainer"
