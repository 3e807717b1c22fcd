"""The reader under a longer fuzz than CI's: every CLI verb on N inputs (random bytes, random JSON
and YAML, mutations of a recorded profile), and M generated profiles judged against moby's own
LoadProfile (built from Debian's source with golang-go, as tests/test_moby_applied.py does).

    python3 benchmarks/bench_fuzz.py [--inputs 2000] [--profiles 20000]

CI runs 500 inputs per verb and 3,000 profiles. Prints the CPU, the inputs per verb, the
wall time of each run, and exits 1 if any input ended in a traceback, a hang (20 s), an exit
status outside 0-2, or a reading that differs from moby's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_facts

ROOT = Path(__file__).resolve().parent.parent


def run(title: str, env: dict[str, str], *args: str) -> bool:
    started = time.monotonic()
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-p", "no:randomly", *args], cwd=ROOT, env={**os.environ, **env},
                         capture_output=True, text=True, check=False)
    summary = ran.stdout.strip().splitlines()[-1] if ran.stdout.strip() else ran.stderr[-300:]
    print(f"{title:<58} {time.monotonic() - started:7.1f} s  {summary}", flush=True)
    if ran.returncode != 0:
        print(ran.stdout[-4000:])
    return ran.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", type=int, default=2000, help="per verb")
    parser.add_argument("--profiles", type=int, default=20000, help="judged against moby's")
    args = parser.parse_args(argv)
    for fact in machine_facts():
        print(fact)
    ok = run(f"6 verbs x {args.inputs} inputs (.json and .yaml halves)",
             {"PYTEST_SECCOMP_FUZZ_EXAMPLES": str(args.inputs)},
             "tests/unit/test_bad_input.py", "-k", "fuzz")
    ok = run(f"{args.profiles} generated profiles against moby's LoadProfile",
             {"PYTEST_SECCOMP_MOBY_EXAMPLES": str(args.profiles)},
             "tests/test_moby_applied.py", "-k", "reads_as_moby",
             "--hypothesis-show-statistics") and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
