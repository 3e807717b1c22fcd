"""Run every benchmark and print its table: `python3 benchmarks/run.py [--quick]`.

--quick runs each once with small counts: CI uses it to prove the benchmarks still work; its
figures mean nothing. Without it: best of 7 (overhead), 1 to 200 containers (scale), best of 15 (suites).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_arguments
import bench_coverage
import bench_helper
import bench_overhead
import bench_pieces
import bench_proxy
import bench_session
import bench_soak
import bench_stability
import bench_suite
import bench_tracer
import bench_windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    started = time.monotonic()

    def section(title: str) -> None:
        """Each section's heading, after the time the one before took (where CI's time goes)."""
        nonlocal started
        now = time.monotonic()
        if title.startswith("\n"):
            print(f"(that section: {now - started:.0f} s)")
        started = now
        print(title)

    section("== overhead: dd (2,000,000 syscalls), `true` containers, tracer start-up")
    # (quick: Docker only; Podman's whole sessions are half of this section's time in CI)
    bench_overhead.main(["--rounds", "1", "--engines", "docker"] if quick else ["--rounds", "7"])
    section("\n== scale and soak: 1, 10, 100, 200 short containers in one session")
    bench_soak.main(["--containers", "1,3" if quick else "1,10,100,200"])
    section("\n== suites: examples/webapp, pytest-xdist, untraced host processes")
    bench_suite.main(["--rounds", "1" if quick else "15"])
    section("\n== a session phase by phase: where its own time goes")
    bench_session.main(["--rounds", "1", "--suite", "one"] if quick else ["--rounds", "11"])
    section("\n== the tracer's programs (kernel BPF stats) and profile writing at scale")
    bench_tracer.main()
    section("\n== the record program piece by piece, and the designs tried (kernel BPF stats)")
    bench_pieces.main(["--rounds", "1" if quick else "5"])
    section("\n== argument rules: the cost of reading socket's family, its stability")
    bench_arguments.main(["--rounds", "1", "--records", "1", "--examples", "webapp,listing"]
                         if quick else [])
    section("\n== coverage: reading each example image's programs, first run and cached")
    bench_coverage.main(["--rounds", "1" if quick else "5"])
    section("\n== the engine proxy: API latency, per container, streams")
    bench_proxy.main(["--rounds", "1", "--calls", "20", "--cp-mib", "4", "--logs-mib", "2"]
                     if quick else ["--rounds", "5"])
    section("\n== windows: reading the maps at every test's edges, a 2,000-test suite")
    bench_windows.main(["--tests", "50", "--rounds", "1"] if quick else ["--rounds", "3"])
    section("\n== the tracer in a helper container: start-up, map reads, a session")
    bench_helper.main(["--rounds", "1", "--reads", "20"] if quick else [])
    section("\n== stability: each example image started N times under its profile, per mode")
    bench_stability.main(["--starts", "2" if quick else "50"])
    section("\n(done)")


if __name__ == "__main__":
    main()
