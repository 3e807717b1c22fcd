"""The tracer in a helper container: what it costs a session. Start-up cold (the helper image
is made: the first session of a version) and warm (every later session), each up to the
handshake's proof; one read of every map, through the helper and in this process; the same
recording session's wall time with each tracer.

    python3 benchmarks/bench_helper.py [--rounds 7] [--reads 500]

Targets (issue 18): start-up < 1 s cold, once per session; one map read round trip < 5 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_facts, run_pytest, spread

ENGINE = "unix:///var/run/docker.sock"
SUITE = '''
import docker

def test_ls():
    docker.from_env().containers.run("pytest-seccomp/busybox:latest", ["ls", "/"], remove=True)
'''


def start_up(cold: bool) -> float:
    """Seconds from nothing to a tracer proven live in a helper; cold: its image removed first."""
    import docker

    from pytest_seccomp.modes import Place
    from pytest_seccomp.tracing.helper import REPOSITORY
    from pytest_seccomp.tracing.tracer import Tracer

    if cold:
        client = docker.DockerClient(base_url=ENGINE)
        for image in client.api.images(name=REPOSITORY):
            for tag in image.get("RepoTags") or ():
                client.api.remove_image(tag, force=True)
        client.close()
    tracer = Tracer("record", place=Place.HELPER, engine=ENGINE)
    t0 = time.perf_counter()
    tracer.start()
    tracer.wait_ready()
    took = time.perf_counter() - t0
    tracer.stop()
    return took


def read_times(place: str, reads: int) -> list[float]:
    """Milliseconds per read of every map (Tracer.dump), with one container's syscalls noted."""
    from pytest_seccomp.modes import Place
    from pytest_seccomp.tracing.tracer import Tracer

    tracer = Tracer("record", place=Place(place), engine=ENGINE)
    tracer.start()
    try:
        tracer.wait_ready()
        subprocess.run(["docker", "run", "--rm", "pytest-seccomp/busybox", "ls", "/"],
                       check=True, capture_output=True)
        times = []
        for _ in range(reads):
            t0 = time.perf_counter()
            tracer.dump()
            times.append((time.perf_counter() - t0) * 1000)
        return times
    finally:
        tracer.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reads", type=int, default=500)
    args = parser.parse_args(argv)
    for fact in machine_facts():
        print(fact)
    cold = [start_up(cold=True) for _ in range(args.rounds)]
    warm = [start_up(cold=False) for _ in range(args.rounds)]
    print(f"helper start-up to a proven tracer, s (min / median / max of {args.rounds}):")
    print(f"  cold (image made):  {spread(cold)}   target < 1 s")
    print(f"  warm (image there): {spread(warm)}")
    print(f"one read of every map, ms (min / median / p99 / max of {args.reads}):")
    for place in ("helper", "local"):
        times = sorted(read_times(place, args.reads))
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        target = "   target < 5 ms" if place == "helper" else ""
        print(f"  {place:6}  {times[0]:.3f} / {statistics.median(times):.3f} / {p99:.3f} / "
              f"{times[-1]:.3f}{target}")
    with tempfile.TemporaryDirectory() as project:
        path = Path(project)
        (path / "test_ls.py").write_text(SUITE)
        sessions: dict[str, list[float]] = {"plain": [], "local": [], "helper": []}
        for _ in range(args.rounds):  # alternating, so drift hits all three alike
            sessions["plain"].append(run_pytest(path))
            for place in ("local", "helper"):
                sessions[place].append(run_pytest(path, "--seccomp-record",
                                                  f"--seccomp-tracer={place}"))
    print(f"a one-container recording session, wall s (min / median / max of {args.rounds}):")
    for name, times in sessions.items():
        print(f"  {name:6}  {spread(times)}")


if __name__ == "__main__":
    main()
