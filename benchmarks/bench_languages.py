"""Apps whose syscalls depend on timing and load: examples/languages (a Go, a Node.js and a JVM
service) recorded once, then enforced N times with --seccomp-strict, and each image started M
times in a row under its profile as users deploy it (`docker run --security-opt seccomp=...`),
asked one thing, and stopped (`docker stop`: exit 0, or 143 where the runtime exits on SIGTERM).
Half the enforce runs and half the starts run beside a CPU hog on every core, where the Go
scheduler preempts, the JVM's GC and JIT threads and libuv's pool meet other timings.

    python3 benchmarks/bench_languages.py [--recordings 5] [--enforces 10] [--starts 50]

First the language runtimes' own steps: the services are recorded `--recordings` times (every
other one beside a CPU hog), and the names some recordings saw and others did not are printed per
image: the syscalls a runtime makes by timing, which one quiet recording may miss.

Target: 0 false refusals, every start up and stopped cleanly; exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_runtimes import cpu_hog
from common import machine_facts

ROOT = Path(__file__).resolve().parent.parent
# image -> the one request a start answers
SERVICES = {"go": "/work?n=8", "node": "/worker?n=1000", "jvm": "/work?n=8"}


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False,
                          timeout=120)


def pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
                          cwd=project, capture_output=True, text=True, check=False)


def enforce_once(project: Path, loaded: bool) -> tuple[bool, list[str]]:
    """One strict enforce run: passed, and the refusals its summary names."""
    with cpu_hog(loaded):
        run = pytest(project, "--seccomp-enforce", "--seccomp-strict")
    refused = [line for line in run.stdout.splitlines()
               if line.startswith(("refused in", "refused as under"))]
    return run.returncode == 0, refused or ([run.stdout[-800:]] if run.returncode else [])


def one_start(profile: Path, image: str, request: str) -> str | None:
    """None when the service came up, answered and stopped cleanly; else what went wrong."""
    run = docker("run", "-d", "-p", "127.0.0.1::8080", "--security-opt", f"seccomp={profile}",
                 image)
    container = run.stdout.strip()
    try:
        if run.returncode != 0:
            return run.stderr.strip()[-300:]
        port = docker("port", container, "8080").stdout.strip().rsplit(":", 1)[-1]
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{request}", timeout=10):
                    break
            except OSError:
                state = docker("inspect", "--format", "{{.State.Status}}", container).stdout
                if state.strip() != "running" or time.monotonic() > deadline:
                    return f"{state.strip()}: " + docker("logs", container).stderr[-300:]
                time.sleep(0.1)
        docker("stop", "-t", "10", container)
        code = docker("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip()
        return None if code in ("0", "143") else f"stopped with exit {code}: " + \
            docker("logs", container).stderr[-300:]
    finally:
        if container:
            docker("rm", "-f", container)


def timing_dependent(source: Path, into: Path, recordings: int) -> None:
    """Record the services `recordings` times; per image, what only some recordings saw."""
    seen: dict[str, list[set[str]]] = {}
    for run in range(recordings):
        project = into / f"recording-{run}"
        shutil.copytree(source, project,
                        ignore=shutil.ignore_patterns("seccomp-profiles*", "__pycache__"))
        with cpu_hog(run % 2 == 1):
            recorded = pytest(project, "--seccomp-record", "--seccomp-report", "record.json")
        if recorded.returncode != 0:
            raise SystemExit("recording failed:\n" + recorded.stdout[-3000:])
        report = json.loads((project / "record.json").read_text())
        for name, profile in report["profiles"].items():
            seen.setdefault(name, []).append(set(profile["syscalls"]))  # (the app's)
    print(f"\nnames seen in only some of {recordings} recordings (every other one beside a CPU "
          "hog):")
    for name, sets in sorted(seen.items()):
        every, some = set.intersection(*sets), set.union(*sets)
        varying = {n: sum(n in s for s in sets) for n in sorted(some - every)}
        print(f"{name:<22} {len(every)} in every one; "
              + (", ".join(f"{n} {c}/{recordings}" for n, c in varying.items()) or "none other"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recordings", type=int, default=5)
    parser.add_argument("--enforces", type=int, default=10)
    parser.add_argument("--starts", type=int, default=50)
    args = parser.parse_args(argv)
    for fact in machine_facts():
        print(fact)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        if args.recordings:
            timing_dependent(ROOT / "examples" / "languages", Path(tmp), args.recordings)
        project = Path(tmp) / "languages"
        shutil.copytree(ROOT / "examples" / "languages", project,
                        ignore=shutil.ignore_patterns("seccomp-profiles*", "__pycache__"))
        recorded = pytest(project, "--seccomp-record", "--seccomp-report", "record.json")
        if recorded.returncode != 0:
            raise SystemExit("recording failed:\n" + recorded.stdout[-3000:])
        report = json.loads((project / "record.json").read_text())
        for name, profile in sorted(report["profiles"].items()):
            print(f"recorded {name}: {len(profile['syscalls'])} syscalls")
        print(f"\none recording, then {args.enforces} strict enforce runs (every other one "
              "beside a CPU hog):")
        clean = 0
        for run in range(args.enforces):
            passed, refused = enforce_once(project, loaded=run % 2 == 1)
            clean += passed and not [r for r in refused if r.startswith("refused in")]
            for line in refused:
                print(f"    run {run + 1}: {line}")
        print(f"enforce: {clean}/{args.enforces} passed with 0 refusals")
        failed |= clean != args.enforces
        print(f"\nstarts of each image under its profile, one request, docker stop "
              f"({args.starts} quiet, {args.starts} beside a CPU hog):")
        for name, request in SERVICES.items():
            profile = project / "seccomp-profiles" / "pytest-seccomp" / f"{name}.json"
            for loaded in (False, True):
                good, why = 0, []
                with cpu_hog(loaded):
                    for _ in range(args.starts):
                        problem = one_start(profile, f"pytest-seccomp/{name}:latest", request)
                        good += problem is None
                        if problem and len(why) < 3:
                            why.append(problem)
                failed |= good != args.starts
                print(f"{name:<6} {'busy' if loaded else 'quiet':<6} {good}/{args.starts} "
                      f"{'OK' if good == args.starts else 'FAILED'}")
                for reason in why:
                    print(f"    {reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
