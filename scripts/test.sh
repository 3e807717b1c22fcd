#!/usr/bin/env bash
# The project's test command: set up, then ruff, mypy and the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --engine sid  # the newer engine tests/test_runtimes.py deploys on
python3 -m ruff check pytest_seccomp tests examples benchmarks
python3 -m mypy
python3 scripts/gen_reference.py --check  # the reference pages say what the code says
NO_MKDOCS_2_WARNING=1 python3 -m mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
python3 -m pytest tests --durations=20 "$@"  # (the slowest 20: where CI's time goes)
