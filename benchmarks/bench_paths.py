"""Every path a runtime takes into a container, under profiles recorded on another engine: does a
profile start, exec, pass its health check, restart by policy and run under `--init` on every
engine of the matrix, in both modes? One row per engine, runtime, path and mode.

    python3 benchmarks/bench_paths.py [--times 20] [--suites sid] [--systemd]

A small project is recorded (its test starts a busybox service and execs `true` into it, once:
the app's part of every path) on the host's Docker 20.10 (runc 1.1.5) and on sid's Docker 28.5
(runc 1.3.6), with the default portable runtime rule, in each mode. Each profile is then deployed
as users deploy it (`docker run --security-opt seccomp=...`) on every other engine: the
recording's own paths never included a health check, a restart or --init, so what those need
beyond the app comes from the measured runtime table alone. Exits 1 if any cell failed once.
Podman runs health checks from systemd timers (none here) and --init needs catatonit (not
installed with Debian's podman): those cells are skipped and said so.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_facts
from engines import SUITES, Engine, dind_engine, have_image, host_engines, sweep

BUSYBOX = "pytest-seccomp/busybox:latest"
MODES = ("default", "nnp")
PATHS = ("run", "exec", "healthcheck", "restart", "init")
SERVICE = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
PROJECT = f'''
import docker


def test_service_answers_an_exec():
    client = docker.from_env()
    box = client.containers.run("{BUSYBOX}", {SERVICE!r}, detach=True, network_mode="none")
    assert box.exec_run(["true"]).exit_code == 0
    box.stop(timeout=10)
    assert box.wait()["StatusCode"] == 0
    box.remove()
'''


def _cli(engine: Engine) -> list[str]:
    if engine.name.startswith("Podman"):
        return ["podman", "--remote", "--url", engine.url]
    return ["docker", "-H", engine.url]


def _run(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_cli(engine), *args], capture_output=True, text=True, check=False,
                          timeout=120)


def _state(engine: Engine, container: str, fmt: str) -> str:
    return _run(engine, "inspect", "--format", fmt, container).stdout.strip()


def _until(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def one(engine: Engine, profile: Path, path: str, nnp: bool) -> str | None:
    """None when the container took `path` under the profile as it would without one."""
    opts = ["--network", "none", "--security-opt", f"seccomp={profile}"]
    if nnp:
        opts += ["--security-opt", "no-new-privileges"]
    if path == "healthcheck":
        opts += ["--health-cmd", "true", "--health-interval", "200ms", "--health-retries", "3"]
    if path == "init":
        opts += ["--init"]
    command = ["sh", "-c", "sleep 0.1; exit 3"] if path == "restart" else SERVICE
    if path == "restart":
        opts += ["--restart", "on-failure:2"]
    started = _run(engine, "run", "-d", *opts, BUSYBOX, *command)
    container = started.stdout.strip()
    try:
        if started.returncode != 0:
            return started.stderr.strip()[-300:]
        if path == "restart":
            if not _until(lambda: _state(engine, container, "{{.RestartCount}} {{.State.Status}}")
                          == "2 exited"):
                return f"not restarted twice: {_state(engine, container, '{{json .State}}')}"
            code = _state(engine, container, "{{.State.ExitCode}}")
            return None if code == "3" else f"exit {code}"
        if not _until(lambda: _state(engine, container, "{{.State.Status}}") == "running", 10):
            return f"not running: {_state(engine, container, '{{json .State}}')[-300:]}"
        if path == "exec":
            ran = _run(engine, "exec", container, "true")
            if ran.returncode != 0:
                return f"exec: exit {ran.returncode} {ran.stderr.strip()[-200:]}"
        if path == "healthcheck" and not _until(
                lambda: _state(engine, container, "{{.State.Health.Status}}") == "healthy"):
            return f"not healthy: {_state(engine, container, '{{json .State.Health}}')[-300:]}"
        _run(engine, "stop", "-t", "10", container)
        code = _state(engine, container, "{{.State.ExitCode}}")
        return None if code == "0" else f"stopped with exit {code}"
    finally:
        if container:
            _run(engine, "rm", "-f", container)


def record(engine: Engine, mode: str, into: Path) -> Path:
    """The project recorded through `engine` in `mode`; its profile."""
    project = into / f"project-{engine.label.replace(' ', '-')}-{mode}"
    project.mkdir(parents=True)
    (project / "test_service.py").write_text(PROJECT)
    flags = ["--seccomp-nnp"] if mode == "nnp" else []
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--seccomp-record", *flags], cwd=project, capture_output=True,
                         text=True, check=False, timeout=300,
                         env={**os.environ, "DOCKER_HOST": engine.url})
    if ran.returncode != 0:
        raise SystemExit(f"recording on {engine.label} failed:\n{ran.stdout[-3000:]}")
    return project / "seccomp-profiles" / "pytest-seccomp" / "busybox.json"


def skipped(engine: Engine, path: str) -> str | None:
    if engine.name.startswith("Podman") and path == "healthcheck":
        return "Podman runs health checks from systemd timers (none here)"
    if engine.name.startswith("Podman") and path == "init":
        return "Podman's --init needs catatonit (not installed with Debian's podman)"
    return None


def matrix_engines(stack: ExitStack, suites: list[str], systemd: bool
                   ) -> Iterator[tuple[Engine, str]]:
    yield from ((engine, "host") for engine in host_engines())
    for suite in suites:
        if not have_image(suite):
            raise SystemExit(f"pytest-seccomp/engine:{suite} is missing: run "
                             f"scripts/build-images.sh --engine {suite}")
        for runtime in ("runc", "crun"):
            yield stack.enter_context(dind_engine(suite, runtime)), f"Debian {suite}"
        if systemd:
            yield (stack.enter_context(dind_engine(suite, "runc", systemd=True)),
                   f"Debian {suite}, systemd, cgroup v2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--times", type=int, default=20)
    parser.add_argument("--suites", default="sid", help=f"of {','.join(SUITES)}")
    parser.add_argument("--systemd", action="store_true",
                        help="also sid's runc under systemd on cgroup v2 (the systemd driver)")
    args = parser.parse_args(argv)
    suites = [s for s in args.suites.split(",") if s]
    for fact in machine_facts():
        print(fact)
    sweep()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        cells = list(matrix_engines(stack, suites, args.systemd))
        host = next(e for e, origin in cells if origin == "host")
        newer = next((e for e, origin in cells if origin.startswith("Debian")), None)
        recorders = [host, *([newer] if newer else [])]
        profiles = {(r.label, mode): record(r, mode, Path(tmp)) for r in recorders
                    for mode in MODES}
        print(f"\n{'recorded on':<36} {'deployed on':<52} {'path':<12} {'mode':<8} result")
        for recorder in recorders:
            for engine, origin in cells:
                if engine is recorder:
                    continue
                for path in PATHS:
                    for mode in MODES:
                        why_not = skipped(engine, path)
                        where = f"{engine.label} ({origin})"
                        if why_not:
                            print(f"{recorder.label:<36} {where:<52} {path:<12} {mode:<8} "
                                  f"n/a: {why_not}")
                            continue
                        problems = [p for _ in range(args.times)
                                    if (p := one(engine, profiles[(recorder.label, mode)], path,
                                                 mode == "nnp")) is not None]
                        good = args.times - len(problems)
                        failed += bool(problems)
                        print(f"{recorder.label:<36} {where:<52} {path:<12} {mode:<8} "
                              f"{good}/{args.times}" + (f" FAILED: {problems[0]}" if problems
                                                        else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
