"""What exact attribution costs: the maps are read at every test's start and end and around
every wider-scoped fixture, so a long suite pays per test. A 2,000-test suite sharing one
module-scoped container: plain vs record vs enforce session wall time (best of N, alternating),
the cost per test, and one read of the maps by itself.

    python3 benchmarks/bench_windows.py [--tests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_facts, run_pytest, spread

SUITE = '''
import docker, pytest

@pytest.fixture(scope="module")
def box():
    c = docker.from_env().containers.run("pytest-seccomp/busybox:latest", ["sleep", "600"],
                                         detach=True)
    yield c
    c.remove(force=True)

@pytest.mark.parametrize("n", range(TESTS))
def test_uses_the_shared_container(box, n):
    pass
'''


def read_cost(reads: int = 2000) -> list[float]:
    """Microseconds per read of the maps plus attribution, with one container known."""
    import docker

    from pytest_seccomp.recording.store import ContainerRecord, Recording
    from pytest_seccomp.tracing.tracer import Tracer

    client = docker.from_env()
    container = client.containers.run("pytest-seccomp/busybox:latest", ["sleep", "60"],
                                      detach=True)
    tracer = Tracer("record")
    tracer.start()
    tracer.wait_ready()
    try:
        recording = Recording()
        recording.add(ContainerRecord(container.id, "c", "busybox", "busybox", "t"))
        container.exec_run(["ls", "/"])
        samples = []
        for i in range(reads):
            t0 = time.perf_counter()
            recording.apply(tracer.dump(), f"w{i}")
            samples.append((time.perf_counter() - t0) * 1e6)
        return samples
    finally:
        tracer.stop()
        container.remove(force=True)
        client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    for fact in machine_facts():
        print(fact)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "test_many.py").write_text(SUITE.replace("TESTS", str(args.tests)))
        run_pytest(project, "--seccomp-record")  # the profile enforce runs under
        times: dict[str, list[float]] = {"plain": [], "record": [], "enforce": []}
        flags = {"plain": (), "record": ("--seccomp-record", "--seccomp-profile-dir", "again"),
                 "enforce": ("--seccomp-enforce",)}
        for _ in range(args.rounds):
            for mode, extra in flags.items():
                times[mode].append(run_pytest(project, *extra))
    plain = min(times["plain"])
    print(f"\n{args.tests} tests sharing one module-scoped container, best of {args.rounds} "
          "(min / median / max, s):")
    print(f"{'mode':<8} {'session s':>30} {'x plain':>8} {'per test':>10}")
    for mode, values in times.items():
        extra_ms = (min(values) - plain) / args.tests * 1000
        print(f"{mode:<8} {spread(values):>30} {min(values) / plain:>7.2f}x "
              f"{extra_ms:>+8.3f}ms")
    samples = read_cost()
    print(f"\none read of the maps and its attribution (1 container known, {len(samples)} reads):"
          f" median {statistics.median(samples):.0f} us, p99 "
          f"{sorted(samples)[int(len(samples) * 0.99)]:.0f} us")


if __name__ == "__main__":
    main()
