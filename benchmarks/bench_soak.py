"""Soak: N short containers recorded in one session (default 200). Reports the memory of the
recording pytest process, which holds the tracer (its RSS, and the kernel memory of its BPF
maps), the cost per container against a plain session, and that every container was attributed.

    python3 benchmarks/bench_soak.py [--containers 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_facts, run_pytest

TEST = '''
import docker, os

def test_many():
    client = docker.from_env()
    for _ in range(int(os.environ["SOAK_N"])):
        client.containers.run("pytest-seccomp/busybox:latest", ["true"], remove=True)
'''


def tracer_memory(stop: threading.Event, peak: dict[str, int]) -> None:
    """Sample the recording pytest process (the tracer lives in it): its RSS and the memlock of
    its BPF map file descriptors (kernel memory)."""
    while not stop.is_set():
        pids = subprocess.run(["pgrep", "-f", "pytest.*--seccomp-record"], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                rss = int(next(ln.split()[1] for ln in status.splitlines()
                               if ln.startswith("VmRSS"))) * 1024
                memlock = 0
                for fd in os.listdir(f"/proc/{pid}/fdinfo"):
                    info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                    if "map_type" in info:
                        memlock += int(next(ln.split()[1] for ln in info.splitlines()
                                            if ln.startswith("memlock")))
                peak["rss"] = max(peak.get("rss", 0), rss)
                peak["maps"] = max(peak.get("maps", 0), memlock)
            except (OSError, StopIteration, ValueError):
                pass
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--containers", type=int, default=200)
    args = parser.parse_args(argv)
    n = args.containers
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "test_soak.py").write_text(TEST)
        env = dict(os.environ, SOAK_N=str(n))
        plain = run_pytest(work, env=env)
        peak: dict[str, int] = {}
        stop = threading.Event()
        sampler = threading.Thread(target=tracer_memory, args=(stop, peak), daemon=True)
        sampler.start()
        recorded = run_pytest(work, "--seccomp-record", "--seccomp-report=r.json", env=env)
        stop.set()
        sampler.join()
        report = json.loads((work / "r.json").read_text())
    containers = sum(len(p["containers"]) for p in report["profiles"].values())
    result = {"containers": n, "attributed": containers, "plain_s": plain, "record_s": recorded,
              "per_container_ms": 1000 * (recorded - plain) / n,
              "pytest_rss_mb": peak.get("rss", 0) / 2**20,
              "bpf_maps_mb": peak.get("maps", 0) / 2**20}
    print("\n".join(machine_facts()))
    print(f"soak: {n} containers in one session; attributed {containers} of {n} "
          f"({'all' if containers == n else 'NOT ALL'}); complete: {report['complete']}")
    print(f"  plain {plain:.2f} s, recorded {recorded:.2f} s: "
          f"{result['per_container_ms']:+.1f} ms per container (tracer start-up included)")
    print(f"  memory: recording pytest process RSS {result['pytest_rss_mb']:.1f} MiB, BPF maps "
          f"{result['bpf_maps_mb']:.1f} MiB")
    return result


if __name__ == "__main__":
    main()
