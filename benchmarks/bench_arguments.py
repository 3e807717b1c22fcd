"""Argument rules, before adopting them: what reading socket's family costs the recording, and
whether the families the examples' tests use are the same in every run.

1. Cost, in one run: the kernel's BPF statistics (ns per event) of record_seen as it is now and
   as it was before it read any argument (the source of commit BEFORE, built beside it), side by
   side on the same dd container (every other syscall pays one comparison), alternating, best of N.
2. Stability: examples/webapp and examples/listing recorded R times each into scratch
   directories; the families of every profile in each run. A set that varies between runs
   would make profiles flaky: such a name is to be widened back to a name-only rule.

    python3 benchmarks/bench_arguments.py [--rounds 5] [--records 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_pieces import BEFORE, ns_per_event  # BEFORE: the last tracer that read no argument
from common import machine_facts

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "pytest_seccomp/bpf/tracer.bpf.c"
def cost(rounds: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "tracer-before.bpf.c"
        old = subprocess.run(["git", "show", f"{BEFORE}:{SOURCE}"], cwd=ROOT,
                             capture_output=True, check=False)
        if old.returncode != 0:
            return [f"  (commit {BEFORE} is not here: no comparison)"]
        before.write_bytes(old.stdout)
        now = ROOT / SOURCE
        figures: dict[str, list[float]] = {"before (names only)": [], "now (families)": []}
        for _ in range(rounds):
            figures["before (names only)"].append(ns_per_event(before, "record_seen"))
            figures["now (families)"].append(ns_per_event(now, "record_seen"))
    return [f"  {label:<22} best {min(v):6.1f}  median {sorted(v)[len(v) // 2]:6.1f} ns per event"
            for label, v in figures.items()]


def stability(records: int) -> list[str]:
    out = []
    for example in ("webapp", "listing"):
        seen: dict[str, set[tuple[str, ...] | None]] = {}
        for _ in range(records):
            with tempfile.TemporaryDirectory() as tmp:
                report = Path(tmp) / "report.json"
                subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                "--seccomp-record", f"--seccomp-profile-dir={tmp}/profiles",
                                f"--seccomp-report={report}", "-m", "not demo"],
                               cwd=ROOT / "examples" / example, check=True, capture_output=True)
                for name, profile in json.loads(report.read_text())["profiles"].items():
                    families = profile["socket_families"]
                    seen.setdefault(name, set()).add(tuple(families) if families else None)
        for name, variants in sorted(seen.items()):
            shown = " | ".join(" ".join(v) if v else "(no socket)" for v in
                               sorted(variants, key=lambda v: v or ()))
            verdict = "stable" if len(variants) == 1 else "VARIES"
            out.append(f"  {example}: {name}: {shown}  ({verdict} over {records} recordings)")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--records", type=int, default=5)
    args = parser.parse_args(argv)
    print("\n".join(machine_facts()))
    print(f"1. record_seen on a 1,000,000-syscall dd container, {args.rounds} rounds alternating:")
    print("\n".join(cost(args.rounds)))
    print(f"2. socket families per profile, {args.records} recordings of each example:")
    print("\n".join(stability(args.records)))


if __name__ == "__main__":
    main()
