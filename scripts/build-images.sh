#!/usr/bin/env bash
# Build every image the tests, examples and benchmarks use, locally: no registry is reachable.
# An image that exists is kept (the engine's image store is the cache); pass --rebuild to redo.
set -euo pipefail
cd "$(dirname "$0")/.."
rebuild='' services_only='' engines=() podman=''
usage="usage: build-images.sh [--rebuild] [--services] [--engines | --engine trixie|sid] [--podman]"
while [ $# -gt 0 ]; do
  case "$1" in
    --rebuild) rebuild=--rebuild ;;
    --services) services_only=1 ;;  # only the Debian base and the examples' services
    --engines) engines=(trixie sid) ;;  # the newer engines of the runtime matrix, too
    --podman) podman=1 ;;  # with each newer engine, that suite's Podman (benchmarks only)
    --engine) shift; case "${1:-}" in trixie|sid) engines+=("$1") ;; *) echo "$usage" >&2; exit 2 ;; esac ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done

have() { [ "$rebuild" != --rebuild ] && docker image inspect "$1" >/dev/null 2>&1; }

build() {  # tag, context directory
  DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" >/var/log/pytest-seccomp-build.log 2>&1 \
    || { cat /var/log/pytest-seccomp-build.log >&2; exit 1; }
  echo "[images] built $1"
}

# FROM scratch plus Debian's static busybox: seconds.
if [ -z "$services_only" ] && ! have pytest-seccomp/busybox:latest; then
  ctx=$(mktemp -d)
  cp images/busybox/Dockerfile images/busybox/passwd images/busybox/group "$ctx/"
  cp /bin/busybox "$ctx/busybox"
  build pytest-seccomp/busybox:latest "$ctx"
  rm -rf "$ctx"
fi

# The benchmarks' image: busybox plus a static nanosecond clock.
if [ -z "$services_only" ] && ! have pytest-seccomp/bench:latest; then
  ctx=$(mktemp -d)
  cp images/bench/Dockerfile "$ctx/"
  gcc -static -O2 -o "$ctx/nanotime" images/bench/nanotime.c
  build pytest-seccomp/bench:latest "$ctx"
  rm -rf "$ctx"
fi

# A static 32-bit program: the recorder must refuse to misname compat syscalls.
if [ -z "$services_only" ] && ! have pytest-seccomp/hello32:latest; then
  ctx=$(mktemp -d)
  cp images/hello32/Dockerfile "$ctx/"
  gcc -m32 -static -O2 -o "$ctx/hello32" images/hello32/hello.c
  build pytest-seccomp/hello32:latest "$ctx"
  rm -rf "$ctx"
fi

# A Debian base from debootstrap (about half a minute), then the examples' services on top of it.
debian_base() {  # suite
  have "pytest-seccomp/debian:$1" && return 0
  # this machine's Debian mirror, if it is Debian (an Ubuntu runner has none: the default)
  local mirror root
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1 || true)
  root=$(mktemp -d)
  # the layer's own root entry keeps this directory's mode: mktemp's 0700 would make / untraversable
  # for every user but root under a storage driver that applies it (vfs: Docker 26's `Permission
  # denied` for USER postgres)
  chmod 755 "$root"
  debootstrap --variant=minbase "$1" "$root" "${mirror:-http://deb.debian.org/debian}" \
    >/var/log/pytest-seccomp-debootstrap.log 2>&1 \
    || { tail -20 /var/log/pytest-seccomp-debootstrap.log >&2; exit 1; }
  tar -C "$root" -c . | docker import - "pytest-seccomp/debian:$1" >/dev/null
  rm -rf "$root"
  echo "[images] built pytest-seccomp/debian:$1"
}
debian_base bookworm
services=(redis postgres webapp go node jvm)  # go node jvm: examples/languages
[ -n "$services_only" ] || services+=(devcontainer dind)  # the tests' own
# started through scripts, as official images are (tests/test_coverage.py): FROM the above
[ -n "$services_only" ] || services+=(start-script entry-exec jvm-launcher)
for service in "${services[@]}"; do
  have "pytest-seccomp/$service:latest" || build "pytest-seccomp/$service:latest" "images/$service"
done
# The newer engines of the runtime matrix (a few minutes each, once): only when asked for.
for suite in "${engines[@]}"; do
  have "pytest-seccomp/engine:$suite" && continue
  debian_base "$suite"
  DOCKER_BUILDKIT=0 docker build -q --build-arg "SUITE=$suite" -t "pytest-seccomp/engine:$suite" \
    images/engine >/var/log/pytest-seccomp-build.log 2>&1 \
    || { cat /var/log/pytest-seccomp-build.log >&2; exit 1; }
  echo "[images] built pytest-seccomp/engine:$suite"
done
# The same engines as GitHub's hosted runners run them: systemd as PID 1 on cgroup v2, dockerd
# with the systemd cgroup driver (images/engine-systemd; a minute each, once).
for suite in "${engines[@]}"; do
  have "pytest-seccomp/engine-systemd:$suite" && continue
  DOCKER_BUILDKIT=0 docker build -q --build-arg "SUITE=$suite" \
    -t "pytest-seccomp/engine-systemd:$suite" images/engine-systemd \
    >/var/log/pytest-seccomp-build.log 2>&1 \
    || { cat /var/log/pytest-seccomp-build.log >&2; exit 1; }
  echo "[images] built pytest-seccomp/engine-systemd:$suite"
done
# That suite's Podman (5.4 in trixie, 5.8 in sid), for the benchmarks' matrix.
for suite in "${engines[@]}"; do
  [ -n "$podman" ] || break
  have "pytest-seccomp/podman:$suite" && continue
  DOCKER_BUILDKIT=0 docker build -q --build-arg "SUITE=$suite" -t "pytest-seccomp/podman:$suite" \
    images/podman >/var/log/pytest-seccomp-build.log 2>&1 \
    || { cat /var/log/pytest-seccomp-build.log >&2; exit 1; }
  echo "[images] built pytest-seccomp/podman:$suite"
done
if [ -n "$services_only" ]; then
  echo "[images] ready: debian, ${services[*]}"
else
  echo "[images] ready: busybox, bench, hello32, debian, ${services[*]}"
fi
