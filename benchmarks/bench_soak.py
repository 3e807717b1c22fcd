"""Scale and soak: 1, 10, 100 and 200 short containers, each count in one session, plain and
recording. Reports the cost per container against the plain session (it must stay flat as the
count grows: linear cost), that every container was attributed, and the memory of the pytest
process, which holds the tracer (its RSS, plain and recording, and the kernel memory of its BPF
maps).

    python3 benchmarks/bench_soak.py [--containers 1,10,100,200]
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
    """Sample the session's pytest process (the tracer lives in it): its RSS and the memlock of
    its BPF map file descriptors (kernel memory)."""
    while not stop.is_set():
        pids = subprocess.run(["pgrep", "-f", "pytest -q -p no:cacheprovider"],
                              capture_output=True, text=True).stdout.split()
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


def sampled(work: Path, *args: str, env: dict[str, str]) -> tuple[float, dict[str, int]]:
    """A session's wall time and its pytest process's peak memory."""
    peak: dict[str, int] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=tracer_memory, args=(stop, peak), daemon=True)
    sampler.start()
    try:
        return run_pytest(work, *args, env=env), peak
    finally:
        stop.set()
        sampler.join()


def one_count(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "test_soak.py").write_text(TEST)
        env = dict(os.environ, SOAK_N=str(n))
        plain, plain_peak = sampled(work, env=env)
        recorded, peak = sampled(work, "--seccomp-record", "--seccomp-report=r.json", env=env)
        report = json.loads((work / "r.json").read_text())
    containers = sum(len(p["containers"]) for p in report["profiles"].values())
    return {"containers": n, "attributed": containers, "complete": report["complete"],
            "plain_s": plain, "record_s": recorded,
            "per_container_ms": 1000 * (recorded - plain) / n,
            "plain_rss_mb": plain_peak.get("rss", 0) / 2**20,
            "pytest_rss_mb": peak.get("rss", 0) / 2**20, "bpf_maps_mb": peak.get("maps", 0) / 2**20}


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--containers", default="1,10,100,200")
    args = parser.parse_args(argv)
    results = [one_count(int(n)) for n in args.containers.split(",")]
    print("\n".join(machine_facts()))
    print(f"{'containers':>10} {'attributed':>11} {'plain s':>8} {'record s':>9} "
          f"{'per container':>14} {'RSS plain':>10} {'RSS record':>11} {'BPF maps':>9}")
    for r in results:
        attributed = f"{r['attributed']}" + ("" if r["attributed"] == r["containers"]
                                             and r["complete"] else " NOT ALL")
        print(f"{r['containers']:>10} {attributed:>11} {r['plain_s']:>8.2f} {r['record_s']:>9.2f} "
              f"{r['per_container_ms']:>+11.1f} ms {r['plain_rss_mb']:>6.1f} MiB "
              f"{r['pytest_rss_mb']:>7.1f} MiB {r['bpf_maps_mb']:>5.1f} MiB")
    return results


if __name__ == "__main__":
    main()
