#!/usr/bin/env bash
# The main job: record then enforce the examples, and show the classic demo.
#   examples/listing: record, check the profiles, enforce (green), then `ls -l /` under the profile
#                     recorded from `ls /` (fails on purpose: the refused `read` is named)
#   examples/webapp:  a Python web app with Redis and PostgreSQL and committed profiles: record
#                     with --seccomp-check (fails if a profile would gain a syscall), then enforce
#   examples/languages: a Go, a Node.js and a JVM service (50 requests at once): record, enforce
#   examples/compose: a compose project started by pytest-docker (`docker compose up --build`),
#                     plus the docker CLI and `compose exec`: record, enforce, then deploy it with
#                     the override file pytest-seccomp writes, under the real compose
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

cd examples/listing
echo "== listing: pytest --seccomp-record (profiles that start with or without no-new-privileges)"
python3 -m pytest --seccomp-record --seccomp-report=seccomp-report.json "$@"
for profile in $(find seccomp-profiles -name '*.json' | sort); do
  python3 -m pytest_seccomp check "$profile"
done
echo "== listing: pytest --seccomp-enforce (every container under its profile)"
python3 -m pytest --seccomp-enforce "$@"
echo "== listing: the article's own command, plain docker run under the recorded profile"
docker run --rm --security-opt seccomp=seccomp-profiles/listing.json pytest-seccomp/busybox ls / \
  | tr '\n' ' '; echo
if docker run --rm --security-opt seccomp=seccomp-profiles/listing.json pytest-seccomp/busybox \
    mkdir /made; then
  echo "mkdir ran under a profile recorded from ls alone" >&2; exit 1
fi
echo "== listing: the demo, mkdir under the profile recorded from \`ls /\` (expected to fail)"
if python3 -m pytest --seccomp-enforce -m demo -k makes -rN --tb=short "$@"; then
  echo "the demo passed: the profile is wider than recorded" >&2
  exit 1
fi
echo "== listing --seccomp-nnp: the tightest profile; \`ls -l /\` is refused read (expected to fail)"
python3 -m pytest --seccomp-record --seccomp-nnp --seccomp-profile-dir seccomp-profiles-nnp "$@"
python3 -m pytest --seccomp-enforce --seccomp-nnp --seccomp-profile-dir seccomp-profiles-nnp "$@"
if python3 -m pytest --seccomp-enforce --seccomp-nnp --seccomp-profile-dir seccomp-profiles-nnp \
    -m demo -k long -rN --tb=short "$@"; then
  echo "the demo passed: the profile is wider than recorded" >&2
  exit 1
fi
echo "== the demos failed as they should: the refused syscalls are named above"

cd ../webapp
echo "== webapp: pytest --seccomp-record --seccomp-check --seccomp-coverage (against the committed profiles; what no test made)"
python3 -m pytest --seccomp-record --seccomp-check --seccomp-coverage --seccomp-html=html "$@"
echo "== webapp: pytest --seccomp-enforce --seccomp-strict"
python3 -m pytest --seccomp-enforce --seccomp-strict "$@"

cd ../languages
echo "== languages: Go, Node.js and JVM services: pytest --seccomp-record, then enforce strictly"
python3 -m pytest --seccomp-record "$@"
python3 -m pytest --seccomp-enforce --seccomp-strict "$@"

cd ../compose
echo "== compose: pytest --seccomp-record (pytest-docker starts the project through the proxy)"
python3 -m pytest --seccomp-record "$@"
echo "== compose: pytest --seccomp-enforce --seccomp-strict"
python3 -m pytest --seccomp-enforce --seccomp-strict "$@"
echo "== compose: deploy with the override file, under the real compose"
python3 -m pytest_seccomp compose-override docker-compose.yml -o docker-compose.seccomp.yml
compose=(docker compose -p seccomp-deploy -f docker-compose.yml -f docker-compose.seccomp.yml)
"${compose[@]}" up -d --build --wait
trap '"${compose[@]}" down -t 1 >/dev/null 2>&1' EXIT
port=$("${compose[@]}" port web 8000 | sed 's/.*://')
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done
echo "web answered $(curl -sf "http://127.0.0.1:$port/") under seccomp-profiles/web.json"
echo "== done: the HTML report is in examples/webapp/html/index.html"
