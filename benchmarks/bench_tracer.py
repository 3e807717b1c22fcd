"""The tracer itself, measured by the kernel: ns per event of each eBPF program (the kernel's
BPF run-time statistics, kernel.bpf_stats_enabled, read from the programs' fdinfo), and the time
to build and write profiles for 1,000 recorded containers.

    python3 benchmarks/bench_tracer.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).parent))
from common import FloorProgram, machine_facts

DD = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"]


def program_stats() -> dict[str, tuple[int, int]]:
    """name -> (run count, total ns) of the tracer's loaded BPF programs (bpftool, BPF stats)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p["name"]: (p.get("run_cnt", 0), p.get("run_time_ns", 0)) for p in json.loads(out)
            if p.get("name") in ("record_seen", "record_count", "enforce_refused", "floor_empty")}


def dd_costs() -> dict[str, tuple[int, float]]:
    """Run the dd container with BPF statistics on: per loaded program of ours that ran on
    every syscall, (events, ns per event). Programs must be attached by the caller."""
    Path("/proc/sys/kernel/bpf_stats_enabled").write_text("1")
    try:
        before = program_stats()
        client = docker.from_env()
        client.containers.run("pytest-seccomp/busybox:latest", DD, remove=True,
                              security_opt=["no-new-privileges"])
        client.close()
        costs = {}
        for name, (count, total) in program_stats().items():
            c0, t0 = before.get(name, (0, 0))
            if count - c0 > 100_000:  # the per-syscall programs, not the rare ones
                costs[name] = (count - c0, (total - t0) / (count - c0))
        return costs
    finally:
        Path("/proc/sys/kernel/bpf_stats_enabled").write_text("0")


def lines(label: str, costs: dict[str, tuple[int, float]], detail: str = "") -> list[str]:
    return [f"  {label} ({name}{detail}): {events:>10,} events, {ns:6.1f} ns per event"
            for name, (events, ns) in costs.items()]


def ns_per_event(mode: str, count_calls: bool = False, other_containers: int = 0) -> list[str]:
    """Kernel-measured cost per event while a dd container runs; `other_containers` fake
    cgroups are put in the record map first, to show a lookup does not grow with them."""
    from pytest_seccomp.tracing.tracer import Tracer

    tracer = Tracer(mode, count_calls=count_calls)
    tracer.start()
    try:
        tracer.wait_ready()
        seen = tracer.map("seen")
        for i in range(other_containers):
            seen.update((1 << 62 | i).to_bytes(8, "little"), b"\xff" * seen.value_size)
        others = f", {other_containers:,} other containers in the map" if other_containers else ""
        return lines(mode, dd_costs(), others)
    finally:
        tracer.stop()


def floor_ns_per_event() -> str:
    """The same figure for an empty program: what the statistics themselves cost per run."""
    with FloorProgram():
        return "\n".join(lines("empty program", dd_costs()))


def profile_writing(containers: int = 1000) -> float:
    """Build and write the profiles of `containers` recorded containers (10 images)."""
    from pytest_seccomp.interception.engine import EngineAnswers
    from pytest_seccomp.recording.store import ContainerRecord
    from pytest_seccomp.sessions.record import RecordSession
    from pytest_seccomp.sessions.shared import Options

    with tempfile.TemporaryDirectory() as tmp:
        session = RecordSession(Options(profile_dir=Path(tmp)))
        session.check(EngineAnswers())  # (the engine's default profile: the ceiling)
        session.stop()  # (check began loading the tracer, which this does not use)
        for i in range(containers):
            cid = f"{i:064x}"
            session.recording.add(ContainerRecord(
                id=cid, name=cid[:12], image=f"app{i % 10}", profile=f"app{i % 10}",
                test=f"test_{i}", started=True, cgroups={i + 1},
                counts=Counter({nr: 1 for nr in range(i % 7, 60 + i % 7)})))
        t0 = time.perf_counter()
        session.conclude()
        return time.perf_counter() - t0


def main() -> None:
    print("\n".join(machine_facts()))
    print("eBPF program cost on a 2,000,000-syscall dd container (kernel BPF stats):")
    print("\n".join(ns_per_event("record")))
    print("\n".join(ns_per_event("record", other_containers=10_000)))
    print("\n".join(ns_per_event("record", count_calls=True)))
    print("\n".join(ns_per_event("enforce")))
    print(floor_ns_per_event())
    print(f"profile building and writing for 1,000 recorded containers: "
          f"{profile_writing():.3f} s")


if __name__ == "__main__":
    main()
