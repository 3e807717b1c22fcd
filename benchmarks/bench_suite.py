"""Whole suites, side by side (alternating, best of N with the spread):

1. the realistic suite, examples/webapp (Python app + Redis + PostgreSQL): plain, plain with an
   empty program on sys_enter (the kernel's floor: every syscall on the machine pays it, the
   engine's and the containers' alike), record and enforce session wall time;
2. a session's fixed cost: a one-test suite (one busybox container), plain, record, enforce;
3. pytest-xdist: an 8-test suite serial vs `-n 2`, plain and recording;
4. untraced processes: a syscall-heavy process on the host (2,000,000 syscalls) while a
   recording's tracer runs, against none and against an empty program on the same tracepoint
   (the kernel's own cost of dispatching to any program: the floor).

    python3 benchmarks/bench_suite.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import FloorProgram, machine_facts, run_pytest, spread

ROOT = Path(__file__).resolve().parent.parent
EIGHT = '''
import docker, pytest

@pytest.mark.parametrize("cmd", [
    ["ls", "/"], ["cat", "/proc/self/status"], ["mkdir", "/x"], ["sh", "-c", "echo hi > /f"],
    ["wc", "-l", "/etc/passwd"], ["sleep", "0.1"], ["uname", "-a"], ["df", "/"],
])
def test_cmd(cmd):
    docker.from_env().containers.run("pytest-seccomp/busybox:latest", cmd, remove=True)
'''


ONE = '''
import docker

def test_one():
    docker.from_env().containers.run("pytest-seccomp/busybox:latest", ["true"], remove=True)
'''


def host_dd() -> float:
    t0 = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"],
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def untraced(rounds: int) -> tuple[list[float], list[float], list[float]]:
    from pytest_seccomp.tracing.tracer import Tracer

    plain, floor, traced = [], [], []
    for _ in range(rounds):
        plain.append(host_dd())
        with FloorProgram():
            floor.append(host_dd())
        tracer = Tracer("record")
        tracer.start()
        tracer.wait_ready()
        traced.append(host_dd())
        tracer.stop()
    return plain, floor, traced


def row(label: str, base: list[float], *others: list[float]) -> str:
    ratios = " ".join(f"{min(o) / min(base):.3f}x" for o in others)
    return f"{label:<38}{spread(base):>24}" + "".join(f"{spread(o):>24}" for o in others) + \
        f"   {ratios}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    print("\n".join(machine_facts()))
    with tempfile.TemporaryDirectory() as tmp:
        webapp = Path(tmp) / "webapp"
        shutil.copytree(ROOT / "examples" / "webapp", webapp,
                        ignore=shutil.ignore_patterns("__pycache__", "html", "*.json"))
        shutil.copytree(ROOT / "examples" / "webapp" / "seccomp-profiles",
                        webapp / "seccomp-profiles", dirs_exist_ok=True)
        suite = {m: [] for m in ("plain", "floor", "record", "enforce")}  # type: dict[str, list[float]]
        run_pytest(webapp)  # warm up
        for _ in range(args.rounds):
            suite["plain"].append(run_pytest(webapp))
            with FloorProgram():
                suite["floor"].append(run_pytest(webapp))
            suite["record"].append(run_pytest(webapp, "--seccomp-record", "--seccomp-check"))
            suite["enforce"].append(run_pytest(webapp, "--seccomp-enforce"))
        one = Path(tmp) / "one"
        one.mkdir()
        (one / "test_one.py").write_text(ONE)
        run_pytest(one, "--seccomp-record")  # the profile enforce runs under
        fixed = {m: [] for m in ("plain", "record", "enforce")}  # type: dict[str, list[float]]
        for _ in range(args.rounds):
            fixed["plain"].append(run_pytest(one))
            fixed["record"].append(run_pytest(one, "--seccomp-record"))
            fixed["enforce"].append(run_pytest(one, "--seccomp-enforce"))
        eight = Path(tmp) / "eight"
        eight.mkdir()
        (eight / "test_eight.py").write_text(EIGHT)
        xd = {k: [] for k in ("serial", "serial+rec", "n2", "n2+rec")}  # type: dict[str, list[float]]
        for _ in range(args.rounds):
            xd["serial"].append(run_pytest(eight))
            xd["serial+rec"].append(run_pytest(eight, "--seccomp-record"))
            xd["n2"].append(run_pytest(eight, "-n", "2"))
            xd["n2+rec"].append(run_pytest(eight, "-n", "2", "--seccomp-record"))
    host_plain, host_floor, host_traced = untraced(args.rounds)
    print(f"{'suite (s), min / median / max':<38}{'plain':>24}{'second':>24}{'third':>24}"
          f"{'fourth':>24}   ratios (best)")
    print(row("webapp: plain | floor | record | enforce", suite["plain"], suite["floor"],
              suite["record"], suite["enforce"]))
    medians = {mode: statistics.median(times) for mode, times in suite.items()}
    print("webapp, medians: " + "  ".join(
        f"{mode} {medians[mode] / medians['plain']:.3f}x" for mode in ("floor", "record",
                                                                       "enforce")) +
        f"  (of plain); record {medians['record'] / medians['floor']:.3f}x, enforce "
        f"{medians['enforce'] / medians['floor']:.3f}x of the floor")
    print(row("one container: plain | record | enforce", fixed["plain"], fixed["record"],
              fixed["enforce"]))
    print("a session's fixed cost (best): " + ", ".join(
        f"{mode} +{1000 * (min(fixed[mode]) - min(fixed['plain'])):.0f} ms" for mode in
        ("record", "enforce")) + ", median: " + ", ".join(
        f"{mode} +{1000 * (statistics.median(fixed[mode]) - statistics.median(fixed['plain'])):.0f}"
        " ms" for mode in ("record", "enforce")))
    print(row("8 tests serial: plain | record", xd["serial"], xd["serial+rec"]))
    print(row("8 tests -n 2: plain | record", xd["n2"], xd["n2+rec"]))
    print(row("-n 2 vs serial, recording", xd["serial+rec"], xd["n2+rec"]))
    print(row("host dd: none | empty prog | tracer", host_plain, host_floor, host_traced))


if __name__ == "__main__":
    main()
