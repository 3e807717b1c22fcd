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

def run_true(client):
    # detached, waited for, removed: no log stream, which Podman 4.3's compatible API now and
    # then never ends (the client gives up after 60 s)
    container = client.containers.run("{IMAGE}", ["true"], detach=True)
    container.wait()
    container.remove()

def test_dd():
    client = docker.from_env()
    run_true(client)  # the session's first container
    # waits for the tracer's handshake: keep that out of the steady-state figures below
    t0 = time.perf_counter()
    # run detached, wait, then read the logs: Podman's attach sometimes loses a short output
    container = client.containers.run(
        "{IMAGE}",
        ["sh", "-c", "nanotime; dd if=/dev/zero of=/dev/null bs=1 count=1000000 2>/dev/null; "
         "nanotime"],
        detach=True)
    container.wait()
    wall = time.perf_counter() - t0
    out = container.logs()
    container.remove()
    start, end = map(float, out.split())
    t1 = time.perf_counter()
    for _ in range(20):
        run_true(client)
    per_container = (time.perf_counter() - t1) / 20
    with open(OUT, "w") as f:
        json.dump({{"dd_inside": end - start, "dd_wall": wall, "true_container": per_container}}, f)
'''


RETRIES: dict[str, int] = {}  # sessions run again after an engine failure, per engine
# floor: plain, with an empty sys_enter program; count: record with --seccomp-count-calls
MODES = ("plain", "floor", "record", "count", "enforce")


def run_once(workdir: Path, mode: str, engine: str = "docker") -> dict[str, float]:
    if mode == "floor":
        with FloorProgram():
            return run_once(workdir, "plain", engine)
    out = workdir / "out.json"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bench.py"]
    if mode == "count":
        args += ["--seccomp-record", "--seccomp-count-calls", "--seccomp-profile-dir",
                 str(workdir / f"profiles-count-{engine}")]
    elif mode != "plain":
        args += [f"--seccomp-{mode}", "--seccomp-profile-dir", str(workdir / f"profiles-{engine}")]
    env = {"BENCH_OUT": str(out), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    if ENGINES[engine]:
        env["DOCKER_HOST"] = str(ENGINES[engine])
    for attempt in range(3):  # Podman's compatible API here now and then hangs a call for 60 s
        t0 = time.perf_counter()
        try:  # a followed log stream Podman never ends would hang the session: bounded
            run = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True,
                                 check=False, timeout=300)
        except subprocess.TimeoutExpired as exc:
            run = subprocess.CompletedProcess(args, 1, str(exc.stdout or ""), "timed out")
        if run.returncode == 0:
            break
        if engine != "podman" or attempt == 2:
            raise SystemExit(f"{run.stdout[-3000:]}\n(above: the {mode} session on {engine}, "
                             f"attempt {attempt + 1}, failed)")
        RETRIES[engine] = RETRIES.get(engine, 0) + 1
    result: dict[str, float] = json.loads(out.read_text())
    result["session"] = time.perf_counter() - t0
    return result


def tracer_startup(rounds: int) -> list[float]:
    from pytest_seccomp.tracing.tracer import Tracer

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
    above = ("floor", "record", "count", "enforce")
    print(f"{'measure (s), min / median / max':<34}" + "".join(f"{m:>24}" for m in MODES)
          + "".join(f"{m:>9}" for m in above))
    for key, label in (("dd_inside", "dd 2M syscalls, inside container"),
                       ("dd_wall", "dd container, wall"),
                       ("true_container", "one `true` container"),
                       ("session", "whole pytest session")):
        values = {m: [r[key] for r in results[m]] for m in MODES}
        ratios = "".join(f"{min(values[m]) / min(values['plain']):>8.2f}x" for m in above)
        print(f"{label:<34}" + "".join(f" {spread(values[m]):>23}" for m in MODES) + ratios)
        if key == "dd_inside":  # what is ours: above the kernel's price for any program
            print(f"{'  (best) against the floor':<34}" + " " * 24 * len(MODES) + "".join(
                f"{min(values[m]) / min(values['floor']):>8.2f}x" for m in above))
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
        retried = f", {RETRIES[engine]} session(s) run again after the engine hung" \
            if RETRIES.get(engine) else ""
        print(f"-- {engine}" + (" (Docker-compatible socket)" if ENGINES[engine] else "")
              + retried)
        table(results[engine])
    print(f"tracer start-up to handshake: {spread(startup)} s")
    print("Podman's oci-seccomp-bpf-hook (io.containers.trace-syscall): not measured, see "
          "benchmarks/README.md (its BCC program needs this kernel's headers, which do not exist)")


if __name__ == "__main__":
    main()
