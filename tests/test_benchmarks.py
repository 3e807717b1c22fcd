"""The benchmarks still run (their figures are read by people, never asserted on here)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def test_quick_benchmarks_run_and_print_their_tables(busybox_image):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick"],
                         capture_output=True, text=True, check=False, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    for heading in ("dd 2M syscalls, inside container", "fixed cost per container, record",
                    "tracer start-up to handshake", "RSS record",
                    "webapp: plain | floor | record | enforce", "8 tests -n 2: plain | record",
                    "one container: plain | record | enforce", "a session's fixed cost (best)",
                    "host dd: none | empty prog | tracer", "ns per event",
                    "profile building and writing for 1,000 recorded containers",
                    "GET /containers/json", "a session-scoped container, one test execs into it",
                    "starts that came up", "record_seen now", "socket families per profile",
                    "(best) against the floor", "helper start-up to a proven tracer",
                    "one read of every map", "the session's start costs"):
        assert heading in run.stdout, heading
