"""Argument rules, before adopting them: what reading arguments costs the recording, whether
the socket values and the kinds of executable memory the examples' tests use are the same in
every run, and the same for the other candidates (ioctl requests, prctl options, clone flags,
setsockopt levels), which the tracer does not read.

1. Cost, in one run: the kernel's BPF statistics (ns per event) of record_seen as it is now and
   as it was before each argument it reads (commits BEFORE, FAMILIES_ONLY, PROTOCOLS_ONLY,
   TYPES_ONLY), each source built beside the others, on the same dd container (every other
   syscall pays the comparisons), alternating, best of N.
2. Stability: examples/webapp, examples/listing and examples/languages (--examples) recorded R
   times each into scratch directories; the socket values and the executable memory allowed of
   every profile in each run. A set that varies between runs would make profiles flaky: such a
   name is to be widened back.
3. The census of the other candidates, taken during the same recordings by a program of its own
   (benchmarks/bpf/census.bpf.c, attached beside the tracer): per process, the values each
   argument took in each recording; "stable" when every recording saw the same set.

    python3 benchmarks/bench_arguments.py [--rounds 5] [--records 5]
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_pieces import BEFORE, ns_per_event  # BEFORE: the last tracer that read no argument
from common import machine_facts, tracer_source_at

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "pytest_seccomp/tracing/bpf/tracer.bpf.c"
CENSUS = Path(__file__).parent / "bpf" / "census.bpf.c"
FAMILIES_ONLY = "8226a32"  # the last tracer that read socket's family and no protocol
PROTOCOLS_ONLY = "a96baa5"  # the last tracer that read no socket type
TYPES_ONLY = "6b4ff5b"  # the last tracer that read no memory syscall's argument
# the census' candidates: x86_64 numbers -> what the value is (census.bpf.c)
CANDIDATES = {16: "ioctl request", 157: "prctl option", 56: "clone flags",
              54: "setsockopt level:name", 9: "mmap PROT_WRITE|PROT_EXEC",
              10: "mprotect PROT_WRITE|PROT_EXEC", 329: "pkey_mprotect PROT_WRITE|PROT_EXEC",
              30: "shmat SHM_EXEC",
              41: "socket family:type:protocol"}
def cost(rounds: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for label, commit in (("names only", BEFORE), ("families", FAMILIES_ONLY),
                              ("families + netlink protocols", PROTOCOLS_ONLY),
                              ("+ socket types", TYPES_ONLY)):
            old = tracer_source_at(commit, ROOT)
            if old is None:
                return [f"  (commit {commit} is not here: no comparison)"]
            sources[label] = Path(tmp) / f"tracer-{commit}.bpf.c"
            sources[label].write_bytes(old)
        sources["now (+ executable memory)"] = ROOT / SOURCE
        figures: dict[str, list[float]] = {label: [] for label in sources}
        for _ in range(rounds):
            for label, source in sources.items():
                figures[label].append(ns_per_event(source, "record_seen"))
    return [f"  {label:<36} best {min(v):6.1f}  median {sorted(v)[len(v) // 2]:6.1f} ns per event"
            for label, v in figures.items()]


class Census:
    """census.bpf.c attached for one recording: (syscall, value, process) seen."""

    def __enter__(self) -> Census:
        from pytest_seccomp.tracing.bpf.build import compiled_object
        from pytest_seccomp.tracing.bpf.libbpf import BpfObject

        self.obj = BpfObject(compiled_object(source_path=CENSUS))
        self.obj.load()
        self.obj.attach("argument_census")
        return self

    def seen(self) -> set[tuple[int, int, str]]:
        out = set()
        for key, _ in self.obj.map("census").items():
            nr, _pad, value, comm = struct.unpack("=IIQ16s", key)
            out.add((nr, value, comm.split(b"\0", 1)[0].decode(errors="replace")))
        return out

    def __exit__(self, *exc: object) -> None:
        self.obj.close()


def _value(nr: int, value: int) -> str:
    if nr in (9, 10, 329):
        return {0: "-", 2: "W", 4: "X", 6: "WX"}[value]
    if nr == 30:
        return "SHM_EXEC" if value else "-"
    if nr == 54:
        return f"{value >> 32}:{value & 0xFFFFFFFF}"
    if nr == 41:
        return f"{value >> 32}:{value >> 16 & 0xFFFF}:{value & 0xFFFF}"
    return hex(value)


def _program(comm: str) -> str:
    """Threads of one program under one name: runc's init stages, postgres' workers."""
    if comm.startswith("runc:"):
        return "runc:[2:INIT]"
    return "postgres" if comm.startswith("postgres") or comm == "postmaster" else comm


def census_table(runs: list[set[tuple[int, int, str]]]) -> list[str]:
    per: dict[tuple[int, str], list[frozenset[str]]] = {}
    for run in runs:
        grouped: dict[tuple[int, str], set[str]] = {}
        for nr, value, comm in run:
            grouped.setdefault((nr, _program(comm)), set()).add(_value(nr, value))
        for key in grouped.keys() | per.keys():
            per.setdefault(key, []).append(frozenset(grouped.get(key, ())))
    out = []
    for (nr, program), sets in sorted(per.items(), key=lambda kv: (CANDIDATES[kv[0][0]], kv[0][1])):
        sets += [frozenset()] * (len(runs) - len(sets))
        union = sorted(frozenset().union(*sets))
        verdict = "stable" if len(set(sets)) == 1 else \
            f"VARIES ({min(map(len, sets))}-{max(map(len, sets))} values)"
        out.append(f"  {CANDIDATES[nr]:<28} {program:<16} {' '.join(union)[:90]}  "
                   f"({verdict}, {len(runs)} recordings)")
    return out


EXAMPLES = ("webapp", "listing", "languages")


def stability(records: int, arguments: str = "all",
              examples: tuple[str, ...] = EXAMPLES) -> tuple[list[str], list[str]]:
    out = []
    census: list[str] = []
    for example in examples:
        seen: dict[str, set[tuple[str, ...] | None]] = {}
        runs = []
        for _ in range(records):
            with tempfile.TemporaryDirectory() as tmp, Census() as counted:
                report = Path(tmp) / "report.json"
                subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                "--seccomp-record", f"--seccomp-args={arguments}",
                                f"--seccomp-profile-dir={tmp}/profiles",
                                f"--seccomp-report={report}", "-m", "not demo"],
                               cwd=ROOT / "examples" / example, check=True, capture_output=True)
                runs.append(counted.seen())
                for name, profile in json.loads(report.read_text())["profiles"].items():
                    families = profile["socket_families"] or []
                    memory = profile.get("executable_memory")
                    shown = (*families, "| exec:", *(memory["allowed"] or ["none"])) if memory \
                        else tuple(families)
                    seen.setdefault(name, set()).add(shown or None)
        for name, variants in sorted(seen.items()):
            shown = " | ".join(" ".join(v) if v else "(no socket)" for v in
                               sorted(variants, key=lambda v: v or ()))
            verdict = "stable" if len(variants) == 1 else "VARIES"
            out.append(f"  {example}: {name}: {shown}  ({verdict} over {records} recordings)")
        census += [f" {example}:", *census_table(runs)]
    return out, census


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--records", type=int, default=5)
    parser.add_argument("--args", default="all", help="the recordings' --seccomp-args")
    parser.add_argument("--examples", default=",".join(EXAMPLES),
                        help="which of examples/ to record (comma-separated)")
    parser.add_argument("--no-cost", action="store_true", help="the census alone")
    args = parser.parse_args(argv)
    print("\n".join(machine_facts()))
    if not args.no_cost:
        print(f"1. record_seen on a 1,000,000-syscall dd container, {args.rounds} rounds "
              "alternating:")
        print("\n".join(cost(args.rounds)))
    families, census = stability(args.records, args.args, tuple(args.examples.split(",")))
    print(f"2. socket families per profile (--seccomp-args={args.args}), {args.records} "
          "recordings of each example:")
    print("\n".join(families))
    print("3. the other candidates, per process, in the same recordings (census.bpf.c):")
    print("\n".join(census))


if __name__ == "__main__":
    main()
