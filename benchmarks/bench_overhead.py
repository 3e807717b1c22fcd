"""Record and enforce overhead, side by side: plain pytest runs vs `--seccomp-record` vs
`--seccomp-enforce` runs of the same test, alternating.

    python3 benchmarks/bench_overhead.py [--rounds 7]

1. syscall-heavy container: `dd if=/dev/zero of=/dev/null bs=1 count=1000000` (2,000,000
   syscalls), timed inside the container (CLOCK_MONOTONIC, by a static helper in the bench
   image) and as a whole, on Docker and on Podman (through its Docker-compatible socket);
2. fixed cost per container: 20 `true` containers in one test;
3. the tracer's start-up until its handshake proves the probes live.
Timings here are bimodal, so best-of-N is printed with the spread (min / median / max).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import FloorProgram, machine_facts, spread

IMAGE = "pytest-seccomp/bench:latest"  # busybox plus a static nanosecond clock, /bin/nanotime
ENGINES = {"docker": None, "podman": "unix:///run/podman/podman.sock"}
TEST_FILE = f'''
import json, os, time
import docker

OUT = os.environ["BENCH_OUT"]

def test_dd():
    client = docker.from_env()
    client.containers.run("{IMAGE}", ["true"], remove=True)  # the session's first container
    # waits for the tracer's handshake: keep that out of the steady-state figures below
    t0 = time.perf_counter()
    out = client.containers.run(
        "{IMAGE}",
        ["sh", "-c", "nanotime; dd if=/dev/zero of=/dev/null bs=1 count=1000000 2>/dev/null; "
         "nanotime"],
        remove=True)
    wall = time.perf_counter() - t0
    start, end = map(float, out.split())
    t1 = time.perf_counter()
    for _ in range(20):
        client.containers.run("{IMAGE}", ["true"], remove=True)
    per_container = (time.perf_counter() - t1) / 20
    with open(OUT, "w") as f:
        json.dump({{"dd_inside": end - start, "dd_wall": wall, "true_container": per_container}}, f)
'''


MODES = ("plain", "floor", "record", "enforce")  # floor: plain, with an empty sys_enter program


def run_once(workdir: Path, mode: str, engine: str = "docker") -> dict[str, float]:
    if mode == "floor":
        with FloorProgram():
            return run_once(workdir, "plain", engine)
    out = workdir / "out.json"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bench.py"]
    if mode != "plain":
        args += [f"--seccomp-{mode}", "--seccomp-profile-dir", str(workdir / f"profiles-{engine}")]
    env = {"BENCH_OUT": str(out), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if ENGINES[engine]:
        env["DOCKER_HOST"] = str(ENGINES[engine])
    t0 = time.perf_counter()
    subprocess.run(args, cwd=workdir, env=env, check=True, capture_output=True)
    result: dict[str, float] = json.loads(out.read_text())
    result["session"] = time.perf_counter() - t0
    return result


def tracer_startup(rounds: int) -> list[float]:
    from pytest_seccomp.tracer import Tracer

    times = []
    for _ in range(rounds):
        tracer = Tracer()
        t0 = time.perf_counter()
        tracer.start()
        tracer.wait_ready()
        times.append(time.perf_counter() - t0)
        tracer.stop()
    return times


def table(results: dict[str, list[dict[str, float]]]) -> None:
    print(f"{'measure (s), min / median / max':<34}" + "".join(f"{m:>24}" for m in MODES)
          + f"{'floor':>9}{'record':>9}{'enforce':>9}")
    for key, label in (("dd_inside", "dd 2M syscalls, inside container"),
                       ("dd_wall", "dd container, wall"),
                       ("true_container", "one `true` container"),
                       ("session", "whole pytest session")):
        values = {m: [r[key] for r in results[m]] for m in MODES}
        ratios = "".join(f"{min(values[m]) / min(values['plain']):>8.2f}x"
                         for m in ("floor", "record", "enforce"))
        print(f"{label:<34}" + "".join(f"{spread(values[m]):>24}" for m in MODES) + ratios)
    for mode in ("record", "enforce"):
        plain_true = min(r["true_container"] for r in results["plain"])
        mode_true = min(r["true_container"] for r in results[mode])
        print(f"fixed cost per container, {mode} (best): {1000 * (mode_true - plain_true):+.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--engines", default="docker,podman")
    args = parser.parse_args(argv)
    print("\n".join(machine_facts()))
    engines = [e for e in args.engines.split(",") if e]
    results = {e: {mode: [] for mode in MODES} for e in engines}  # type: dict[str, dict[str, list[dict[str, float]]]]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "test_bench.py").write_text(TEST_FILE)
        for engine in engines:
            run_once(workdir, "plain", engine)  # warm caches
            run_once(workdir, "record", engine)  # the profile enforce runs under
        for _ in range(args.rounds):
            for engine in engines:
                for mode in MODES:
                    results[engine][mode].append(run_once(workdir, mode, engine))
    startup = tracer_startup(args.rounds)
    for engine in engines:
        print(f"-- {engine}" + (" (Docker-compatible socket)" if ENGINES[engine] else ""))
        table(results[engine])
    print(f"tracer start-up to handshake: {spread(startup)} s")
    print("Podman's oci-seccomp-bpf-hook (io.containers.trace-syscall): not measured, see "
          "benchmarks/README.md (its BCC program needs this kernel's headers, which do not exist)")


if __name__ == "__main__":
    main()
