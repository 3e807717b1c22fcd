#!/usr/bin/env bash
# Rebuild pytest_seccomp/data/libc-syscalls.json: the syscalls each exported function of glibc
# and musl can make, read from the machine code of Debian's packages (libc6 and musl, amd64) by
# pytest_seccomp/coverage/libc_build.py. Run it when the images' libc changes; commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download libc6:amd64 musl:amd64 >/dev/null)
specs=()
for deb in "$work"/*.deb; do
  package=$(dpkg-deb -f "$deb" Package)
  version=$(dpkg-deb -f "$deb" Version)
  dpkg-deb -x "$deb" "$work/root"
  case "$package" in
    libc6) specs+=("glibc=$work/root/lib/x86_64-linux-gnu/libc.so.6=libc6 $version (Debian, amd64)=libc.so.6") ;;
    musl) specs+=("musl=$work/root/lib/x86_64-linux-musl/libc.so=musl $version (Debian, amd64)=libc.musl-x86_64.so.1,libc.so") ;;
  esac
done
python3 -m pytest_seccomp.coverage.libc_build pytest_seccomp/data/libc-syscalls.json "${specs[@]}"
echo "wrote pytest_seccomp/data/libc-syscalls.json (${specs[*]%%=*})"
