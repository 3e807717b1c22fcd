#!/usr/bin/env bash
# The main job: record then enforce the examples, and show the classic demo.
#   examples/listing: record, check the profiles, enforce (green), then `ls -l /` under the profile
#                     recorded from `ls /` (fails on purpose: the refused `read` is named)
#   examples/webapp:  a Python web app with Redis and PostgreSQL and committed profiles: record
#                     with --seccomp-check (fails if a profile would gain a syscall), then enforce
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

cd examples/listing
echo "== listing: pytest --seccomp-record"
python3 -m pytest --seccomp-record --seccomp-report=seccomp-report.json "$@"
for profile in $(find seccomp-profiles -name '*.json' | sort); do
  python3 -m pytest_seccomp check "$profile"
done
echo "== listing: pytest --seccomp-enforce (every container under its profile)"
python3 -m pytest --seccomp-enforce "$@"
echo "== listing: the demo, \`ls -l /\` under the profile recorded from \`ls /\` (expected to fail)"
if python3 -m pytest --seccomp-enforce -m demo -rN "$@"; then
  echo "the demo passed: the profile is wider than recorded" >&2
  exit 1
fi
echo "== the demo failed as it should: the refused syscall is named above"

cd ../webapp
echo "== webapp: pytest --seccomp-record --seccomp-check (against the committed profiles)"
python3 -m pytest --seccomp-record --seccomp-check --seccomp-html=html "$@"
echo "== webapp: pytest --seccomp-enforce --seccomp-strict"
python3 -m pytest --seccomp-enforce --seccomp-strict "$@"
echo "== done: the HTML report is in examples/webapp/html/index.html"
