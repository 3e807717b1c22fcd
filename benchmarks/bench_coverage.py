"""--seccomp-coverage's analysis per example image: the first run (files copied out of the
engine, ELF facts read, disassembled where needed) and the cached run (facts from the cache),
each best of N, with what it found. Target: postgres under 5 s the first time.

`python3 benchmarks/bench_coverage.py [--rounds N]`, as root after scripts/setup.sh.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_facts, spread

IMAGES = ("pytest-seccomp/postgres:latest", "pytest-seccomp/redis:latest",
          "pytest-seccomp/webapp:latest", "pytest-seccomp/busybox:latest",
          "pytest-seccomp/go:latest")


def analyse(api: object, image: str) -> tuple[float, object]:
    """One profile's analysis from a new session object (so nothing is held in memory)."""
    from pytest_seccomp.coverage import CoverageAnalysis, Launch
    from pytest_seccomp.profiles.engine_default import find_default
    from pytest_seccomp.profiles.syscalls import syscall_name

    ceiling = find_default("docker").profile
    analysis = CoverageAnalysis(api)
    t0 = time.perf_counter()
    result = analysis.profile(image, [Launch(image, None, None)], (),
                              lambda name: bool(ceiling.allow_conditions(name)), syscall_name)
    analysis.save()
    return time.perf_counter() - t0, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args(argv).rounds
    import docker

    from pytest_seccomp.interception.engine import MIN_API_VERSION

    for line in machine_facts():
        print(line)
    api = docker.APIClient(timeout=120, version=MIN_API_VERSION)
    present = {tag for image in api.images() for tag in image.get("RepoTags") or []}
    print(f"{'image':34} {'first run (s), min / median / max':>36} {'cached (s)':>22}"
          f" {'files':>6} {'possible':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for image in IMAGES:
            if image not in present:
                print(f"{image:34} (not built: scripts/build-images.sh)")
                continue
            first, cached = [], []
            for n in range(rounds):
                os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / f"{n}-{image.replace('/', '_')}")
                seconds, result = analyse(api, image)
                first.append(seconds)
                cached.append(analyse(api, image)[0])
            print(f"{image:34} {spread(first):>36} {spread(cached):>22}"
                  f" {len(result.binaries):>6} {result.possible:>9}")  # type: ignore[attr-defined]
    os.environ.pop("XDG_CACHE_HOME", None)
    api.close()


if __name__ == "__main__":
    main()
