"""Record and enforce overhead, side by side: plain pytest runs vs `--seccomp-record` vs
`--seccomp-enforce` runs of the same test, alternating.

    python3 benchmarks/bench_overhead.py [--rounds 7]

1. syscall-heavy container: `dd if=/dev/zero of=/dev/null bs=1 count=1000000` (2,000,000
   syscalls), timed inside the container (from /proc/uptime, 10 ms resolution) and as a whole;
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

IMAGE = "pytest-seccomp/busybox:latest"
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
        ["sh", "-c", "read a b < /proc/uptime; dd if=/dev/zero of=/dev/null bs=1 count=1000000 "
         "2>/dev/null; read c d < /proc/uptime; echo $a $c"],
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


def run_once(workdir: Path, mode: str) -> dict[str, float]:
    out = workdir / "out.json"
    if mode == "floor":
        with FloorProgram():
            return run_once(workdir, "plain")
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bench.py"]
    if mode != "plain":
        args += [f"--seccomp-{mode}", "--seccomp-profile-dir", str(workdir / "profiles")]
    env = {"BENCH_OUT": str(out), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    print("\n".join(machine_facts()))
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "test_bench.py").write_text(TEST_FILE)
        run_once(workdir, "plain")  # warm caches
        run_once(workdir, "record")  # the profile enforce runs under
        for _ in range(args.rounds):
            for mode in MODES:
                results[mode].append(run_once(workdir, mode))
    startup = tracer_startup(args.rounds)
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
    print(f"tracer start-up to handshake: {spread(startup)} s")


if __name__ == "__main__":
    main()
