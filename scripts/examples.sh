#!/usr/bin/env bash
# The main job: record the examples' containers into profiles, enforce them (all green), then show
# the classic demo: under the profile recorded from `ls /`, `ls -l /` breaks and `read` is named.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd examples
echo "== 1. record: pytest --seccomp-record"
python3 -m pytest --seccomp-record --seccomp-report=seccomp-report.json "$@"
for profile in $(find seccomp-profiles -name '*.json' | sort); do
  python3 -m pytest_seccomp check "$profile"
done
echo "== 2. enforce: pytest --seccomp-enforce (every container under its profile)"
python3 -m pytest --seccomp-enforce "$@"
echo "== 3. the demo: \`ls -l /\` under the profile recorded from \`ls /\` (expected to fail)"
if python3 -m pytest --seccomp-enforce -m demo -rN "$@"; then
  echo "the demo passed: the profile is wider than recorded" >&2
  exit 1
fi
echo "== the demo failed as it should: the refused syscall is named above"
