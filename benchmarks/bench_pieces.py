"""Where the record program's time goes on this CPU, piece by piece, and the designs tried.

Each program of benchmarks/bpf/pieces.bpf.c adds one piece (the task's seccomp mode, the cgroup
id by helper or by loads, a hash lookup, a direct-mapped array slot, per-CPU or shared counters);
the tracer's own programs are measured beside them: the empty program (the kernel's floor plus
the statistics' own clock), record_seen as it was before this design (commit BEFORE) and as it is
now, record_count and enforce_refused. One program is attached at a time, on the same dd
container (1,000,000 syscalls), kernel BPF statistics, best of N rounds, interleaved.

    python3 benchmarks/bench_pieces.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_facts, tracer_source_at

ROOT = Path(__file__).resolve().parent.parent
PIECES = Path(__file__).parent / "bpf" / "pieces.bpf.c"
TRACER = ROOT / "pytest_seccomp" / "tracing" / "bpf" / "tracer.bpf.c"
BEFORE = "d743b20"  # record_seen with a helper call and a hash lookup on every event
DD = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"]

# (label, source, program): the order of the table
DESIGNS = [
    ("empty program (floor + statistics)", TRACER, "floor_empty"),
    ("1 task + seccomp mode", PIECES, "p1_task_mode"),
    ("2 + cgroup id by helper call", PIECES, "p2_cgroup_helper"),
    ("3 + cgroup id by three loads", PIECES, "p3_cgroup_loads"),
    ("4 helper id + hash lookup + bit (old)", PIECES, "p4_hash_lookup"),
    ("5 loads id + hash lookup + bit", PIECES, "p5_loads_hash"),
    ("6 loads id + shared array slot (new)", PIECES, "p6_loads_array"),
    ("7 loads id + per-CPU array slot", PIECES, "p7_loads_percpu"),
    ("8 shared atomic add per event", PIECES, "p8_array_atomic"),
    ("9 per-CPU plain add per event", PIECES, "p9_percpu_add"),
    ("record_seen before (commit BEFORE)", None, "record_seen"),
    ("record_seen now", TRACER, "record_seen"),
    ("record_count now (--seccomp-count-calls)", TRACER, "record_count"),
    ("enforce_refused now (sys_exit)", TRACER, "enforce_refused"),
]


def run_stats() -> dict[str, tuple[int, int]]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p.get("name", ""): (p.get("run_cnt", 0), p.get("run_time_ns", 0))
            for p in json.loads(out)}


def ns_per_event(source: Path, program: str) -> float:
    """Attach `program` of `source` alone, run dd in a container, read the kernel's figure."""
    from pytest_seccomp.errors import TracerError
    from pytest_seccomp.tracing.bpf.build import compiled_object
    from pytest_seccomp.tracing.bpf.libbpf import BpfObject
    from pytest_seccomp.tracing.tracer import MAPS

    obj = BpfObject(compiled_object(source_path=source))
    try:
        obj.select_programs({program})
        if source != PIECES:
            for name in MAPS:
                try:
                    obj.set_max_entries(name, 65536)
                except TracerError:  # an earlier source lacks a map
                    pass
        obj.load()
        obj.attach(program)
        # the kernel keeps 15 characters of a name; bpftool may print the whole one from BTF
        def stats() -> tuple[int, int]:
            now = run_stats()
            return now.get(program) or now.get(program[:15]) or (0, 0)

        Path("/proc/sys/kernel/bpf_stats_enabled").write_text("1")
        try:
            c0, t0 = stats()
            client = docker.from_env()
            client.containers.run("pytest-seccomp/busybox:latest", DD, remove=True)
            client.close()
            c1, t1 = stats()
        finally:
            Path("/proc/sys/kernel/bpf_stats_enabled").write_text("0")
        return (t1 - t0) / max(c1 - c0, 1)
    finally:
        obj.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print("\n".join(machine_facts()))
    vulnerable = Path("/sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow")
    if vulnerable.exists():
        print(f"spec_rstack_overflow (AMD SRSO): {vulnerable.read_text().strip()}")
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "tracer-before.bpf.c"
        old = tracer_source_at(BEFORE, ROOT)
        designs = DESIGNS
        if old is not None:
            before.write_bytes(old)
        else:  # not a git checkout with that commit (a shallow clone, an sdist)
            print(f"(commit {BEFORE} is not here: the earlier record_seen is left out)")
            designs = [d for d in DESIGNS if d[1] is not None]
        figures: dict[str, list[float]] = {label: [] for label, _, _ in designs}
        for _ in range(args.rounds):
            for label, source, program in designs:
                figures[label].append(ns_per_event(source or before, program))
    floor = min(figures[designs[0][0]])
    print(f"ns per sys_enter/sys_exit event on dd (1,000,000 syscalls), best / median of "
          f"{args.rounds}; 'above floor' = best - the empty program's best:")
    for label, values in figures.items():
        best, median = min(values), sorted(values)[len(values) // 2]
        print(f"  {label:<44} {best:6.1f} / {median:6.1f}   above floor {best - floor:+6.1f}")


if __name__ == "__main__":
    main()
