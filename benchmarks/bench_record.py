"""Record overhead, measured side by side: plain pytest runs vs `--seccomp-record` runs, alternating.

    python3 benchmarks/bench_record.py [--rounds 7]

1. syscall-heavy container: `dd if=/dev/zero of=/dev/null bs=1 count=1000000` (2,000,000
   syscalls), timed inside the container (from /proc/uptime, 10 ms resolution) and as a whole;
2. fixed cost per container: 20 `true` containers in one test;
3. the tracer's start-up until its handshake proves the probes live.
Timings here are bimodal, so best-of-N is printed with the spread (min / median / max).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGE = "pytest-seccomp/busybox:latest"
TEST_FILE = f'''
import json, os, time
import docker

OUT = os.environ["BENCH_OUT"]

def test_dd():
    client = docker.from_env()
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


def run_once(workdir: Path, record: bool) -> dict[str, float]:
    out = workdir / "out.json"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bench.py"]
    if record:
        args += ["--seccomp-record", "--seccomp-profile-dir", str(workdir / "profiles")]
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


def spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "test_bench.py").write_text(TEST_FILE)
        run_once(workdir, False)  # warm caches
        for _ in range(args.rounds):
            for record in (False, True):
                results[record].append(run_once(workdir, record))
    startup = tracer_startup(args.rounds)
    print(f"{'measure (s)':<34}{'plain min/med/max':>26}{'record min/med/max':>26}{'best ratio':>12}")
    for key, label in (("dd_inside", "dd 2M syscalls, inside container"),
                       ("dd_wall", "dd container, wall"),
                       ("true_container", "one `true` container"),
                       ("session", "whole pytest session")):
        plain = [r[key] for r in results[False]]
        rec = [r[key] for r in results[True]]
        print(f"{label:<34}{spread(plain):>26}{spread(rec):>26}{min(rec) / min(plain):>11.2f}x")
    plain_true = min(r["true_container"] for r in results[False])
    rec_true = min(r["true_container"] for r in results[True])
    print(f"fixed cost per container (best): {1000 * (rec_true - plain_true):+.1f} ms")
    print(f"tracer start-up to handshake: {spread(startup)} s")


if __name__ == "__main__":
    main()
