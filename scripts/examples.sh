#!/usr/bin/env bash
# The main job: record the examples' containers into profiles, then show and check them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd examples
echo "== record: pytest --seccomp-record"
python3 -m pytest --seccomp-record --seccomp-report=seccomp-report.json "$@"
for profile in $(find seccomp-profiles -name '*.json' | sort); do
  echo "== $profile"
  python3 -m pytest_seccomp show "$profile"
  python3 -m pytest_seccomp check "$profile"
done
echo "== a container under the recorded profile: ls / works, mkdir is refused"
profile=seccomp-profiles/pytest-seccomp/busybox.json
docker run --rm --security-opt no-new-privileges --security-opt "seccomp=$profile" \
  pytest-seccomp/busybox:latest ls /
if docker run --rm --security-opt no-new-privileges --security-opt "seccomp=$profile" \
  pytest-seccomp/busybox:latest mkdir /x; then
  echo "mkdir was allowed: the profile is wider than recorded" >&2; exit 1
fi
echo "(mkdir refused, as it should be)"
