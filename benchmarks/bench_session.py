"""Where a session's own time goes: the same suite plain, recording and enforcing, timed phase by
phase from inside pytest (alternating, median of N), with the garbage collector's share.

A timing plugin (written to a temporary directory and loaded with `-p`) notes the wall clock at
pytest's phases: start-up (the interpreter and every plugin's import, until the timing plugin is
imported: the same in each mode), configure (first to last implementation), sessionstart,
collection, the tests (runtestloop), the end (sessionfinish: session fixtures' teardown, the
recording's last read and its profiles, the terminal summary) and the exit (after unconfigure:
pytest's own garbage collections and the interpreter's shutdown).

    python3 benchmarks/bench_session.py [--rounds 9] [--suite webapp|one]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import cached_bytecode, machine_facts

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("configure", "sessionstart", "collection", "tests", "end", "exit")
MODES = ("plain", "record", "enforce")

TIMING_PLUGIN = '''
import atexit, gc, json, os, time
import pytest

WALL_AT_IMPORT = time.time()
marks = {}
gc_ms = {}
phase = ["start-up"]


def _gc(stage, info, _t=[0.0]):
    if stage == "start":
        _t[0] = time.perf_counter()
    else:
        gc_ms[phase[0]] = gc_ms.get(phase[0], 0.0) + (time.perf_counter() - _t[0]) * 1000


gc.callbacks.append(_gc)


def mark(name):
    marks[name] = time.perf_counter()
    phase[0] = name


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    mark("configure")  # to sessionstart: every plugin's configure (ours imports and loads)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    mark("sessionstart")


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session):
    mark("collection")


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    mark("tests")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    mark("end")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    mark("exit")

    def write():
        out = {"wall_at_import": WALL_AT_IMPORT, "marks": marks, "gc_ms": gc_ms,
               "wall_at_exit": time.time(), "perf_at_exit": time.perf_counter()}
        with open(os.environ["BENCH_SESSION_OUT"], "w") as f:
            json.dump(out, f)

    atexit.register(write)  # registered last: runs first of the atexit handlers
'''

ONE = '''
import docker

def test_one():
    docker.from_env().containers.run("pytest-seccomp/busybox:latest", ["true"], remove=True)
'''


def one_session(cwd: Path, plugin_dir: Path, args: list[str]) -> dict[str, float]:
    """One pytest session's phases, ms."""
    out = plugin_dir / "out.json"
    env = {**os.environ, "PYTHONPATH": f"{plugin_dir}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "BENCH_SESSION_OUT": str(out)}
    started = time.time()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-p", "bench_session_timing", *args], cwd=cwd, env=env, check=True,
                   capture_output=True)
    ended = time.time()
    data = json.loads(out.read_text())
    marks = data["marks"]
    bounds = ["configure", "sessionstart", "collection", "tests", "end", "exit"]
    ms = {"start-up": (data["wall_at_import"] - started) * 1000}
    for a, b in itertools.pairwise(bounds):
        ms[a] = (marks[b] - marks[a]) * 1000
    ms["exit: cleanup"] = (data["perf_at_exit"] - marks["exit"]) * 1000  # to atexit
    ms["exit: shutdown"] = (ended - data["wall_at_exit"]) * 1000  # atexit to the process's end
    ms["exit"] = ms["exit: cleanup"] + ms["exit: shutdown"]
    ms["wall"] = (ended - started) * 1000
    ms["gc"] = sum(data["gc_ms"].values())
    ms["gc at start"] = sum(v for k, v in data["gc_ms"].items()
                            if k in ("configure", "sessionstart", "collection"))
    ms["gc at end"] = data["gc_ms"].get("end", 0.0)
    ms["gc at exit"] = data["gc_ms"].get("exit", 0.0)
    return ms


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--suite", choices=("webapp", "one"), default="webapp")
    args = parser.parse_args(argv)
    print("\n".join(machine_facts()))
    cached_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        plugin_dir = Path(tmp) / "plugin"
        plugin_dir.mkdir()
        (plugin_dir / "bench_session_timing.py").write_text(TIMING_PLUGIN)
        suite = Path(tmp) / "suite"
        if args.suite == "webapp":
            shutil.copytree(ROOT / "examples" / "webapp", suite,
                            ignore=shutil.ignore_patterns("__pycache__", "html", "*.json"))
        else:
            suite.mkdir()
            (suite / "test_one.py").write_text(ONE)
        profiles = Path(tmp) / "profiles"
        modes = {"plain": [], "record": ["--seccomp-record", "--seccomp-profile-dir", str(profiles)],
                 "enforce": ["--seccomp-enforce", "--seccomp-profile-dir", str(profiles)]}
        one_session(suite, plugin_dir, modes["record"])  # warm up; the profiles enforce uses
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for _ in range(args.rounds):
            for mode in MODES:
                runs[mode].append(one_session(suite, plugin_dir, modes[mode]))
    print(f"suite: {args.suite}, {args.rounds} rounds alternating; ms, median "
          "(in brackets: above plain)")
    print(f"{'phase':<14}" + "".join(f"{mode:>20}" for mode in MODES))
    for phase in ("start-up", *PHASES, "exit: cleanup", "exit: shutdown", "wall", "gc",
                  "gc at start", "gc at end", "gc at exit"):
        medians = {mode: statistics.median(r[phase] for r in runs[mode]) for mode in MODES}
        cells = [f"{medians['plain']:>20.1f}"] + [
            f"{medians[mode]:>11.1f} ({medians[mode] - medians['plain']:+6.1f})"
            for mode in ("record", "enforce")]
        print(f"{phase:<14}" + "".join(cells))
    for mode in ("record", "enforce"):
        own = sum(statistics.median(r[p] for r in runs[mode]) -
                  statistics.median(r[p] for r in runs["plain"])
                  for p in ("configure", "sessionstart", "collection"))
        print(f"{mode}: the session's start costs {own:+.1f} ms (configure, sessionstart, "
              f"collection); wall best {min(r['wall'] for r in runs[mode]):.0f} ms against "
              f"plain's {min(r['wall'] for r in runs['plain']):.0f} ms")


if __name__ == "__main__":
    main()
