"""Every path a runtime takes into a container, under profiles recorded on another engine: does a
profile start, exec, pass its health check, restart by policy and run under `--init` on every
engine of the matrix, in both modes? One row per engine, runtime, path and mode.

    python3 benchmarks/bench_paths.py [--times 20] [--suites sid] [--systemd]

A small project is recorded (one test starts a busybox service and execs `true` into it, once:
the app's part of every path; another starts it under the engine's init, `init=True`) on the
host's Docker 20.10 (runc 1.1.5) and on sid's Docker 28.5
(runc 1.3.6), with the default portable runtime rule, in each mode. Each profile is then deployed
as users deploy it (`docker run --security-opt seccomp=...`) on every other engine: the
recording's own paths never included a health check or a restart, so what those need beyond
the app comes from the measured runtime table alone; --init runs the engine's init program in
the container, recorded as the app's. Exits 1 if any cell failed once. Podman runs health checks
from systemd timers (none here), --init needs catatonit (not installed with Debian's podman
4.3), and Docker's init (tini) is another program than Podman's (catatonit): those cells are
skipped and said so, the last with what `pytest-seccomp check --runtime` says it would need.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def test_service_runs_under_the_engines_init():
    client = docker.from_env()
    box = client.containers.run("{BUSYBOX}", {SERVICE!r}, detach=True, network_mode="none",
                                init=True)
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


def visible(engine: Engine, profile: Path) -> None:
    """Podman's server opens the profile's path itself (its client sends the path): a Podman
    in a container needs the file at the same path inside."""
    if engine.container is None or not engine.name.startswith("Podman"):
        return
    subprocess.run(["docker", "exec", engine.container, "mkdir", "-p", str(profile.parent)],
                   check=True, capture_output=True)
    subprocess.run(["docker", "cp", str(profile), f"{engine.container}:{profile}"], check=True,
                   capture_output=True)


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
    if engine.default_profile:  # the engine's own default (a newer Podman's is not the host's)
        # (the `=` form: a path given as its own argument would move pytest's rootdir)
        flags.append(f"--seccomp-default-profile={engine.default_profile}")
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--seccomp-record", *flags], cwd=project, capture_output=True,
                         text=True, check=False, timeout=300,
                         env={**os.environ, "DOCKER_HOST": engine.url})
    if ran.returncode != 0:
        raise SystemExit(f"recording on {engine.label} failed:\n{ran.stdout[-3000:]}")
    return project / "seccomp-profiles" / "pytest-seccomp" / "busybox.json"


NAMED_NOTHING = "check --runtime named nothing the init would lack"


def init_program(engine_label: str) -> str:
    """The program an engine's --init runs as the container's PID 1."""
    return "catatonit" if engine_label.startswith("Podman") else "docker-init (tini)"


def init_hint(profile: Path, engine: Engine) -> str:
    """What `pytest-seccomp check --runtime` says the deploying engine's init would need."""
    name, version = engine.runtime.split(" ", 1)
    ran = subprocess.run([sys.executable, "-m", "pytest_seccomp", "check", str(profile),
                          f"--runtime={name}@{version.split('+')[0]}"], capture_output=True,
                         text=True, check=False)
    return next((line.strip() for line in ran.stdout.splitlines() if "--init" in line),
                NAMED_NOTHING)


def skipped(engine: Engine, origin: str, path: str, recorder: str) -> str | None:
    if engine.name.startswith("Podman") and path == "healthcheck":
        return "Podman runs health checks from systemd timers (none here)"
    if engine.name.startswith("Podman") and path == "init" and origin == "host":
        return "Podman's --init needs catatonit (not installed here with Debian's podman 4.3)"
    if path == "init" and init_program(engine.name) != init_program(recorder):
        return (f"the recording's init was {init_program(recorder)}, this engine's is "
                f"{init_program(engine.name)}, another program (record with init=True where "
                "you deploy with --init)")
    return None


EngineSpec = tuple[str, str, bool, bool]  # suite ("" for the host's), runtime, systemd, podman


def matrix_specs(suites: list[str], systemd: bool, podman: bool) -> list[EngineSpec]:
    specs: list[EngineSpec] = [("", "", False, False)]
    for suite in suites:
        if not have_image(suite):
            raise SystemExit(f"pytest-seccomp/engine:{suite} is missing: run "
                             f"scripts/build-images.sh --engine {suite}")
        specs += [(suite, "runc", False, False), (suite, "crun", False, False)]
        if systemd:
            specs.append((suite, "runc", True, False))
        if podman:
            specs += [(suite, "runc", False, True), (suite, "crun", False, True)]
    return specs


@contextmanager
def engines_of(spec: EngineSpec) -> Iterator[list[tuple[Engine, str]]]:
    """The engines of one spec, one at a time (several dockerd in containers at once starve
    each other on these 2-core machines): the host's three, or one newer engine."""
    suite, runtime, systemd, podman = spec
    if not suite:
        yield [(engine, "host") for engine in host_engines()]
        return
    origin = f"Debian {suite}" + (", systemd, cgroup v2" if systemd else "")
    with dind_engine(suite, runtime, systemd=systemd, podman=podman) as engine:
        yield [(engine, origin)]


def deploy(engine: Engine, origin: str, recorder: str, paths: tuple[str, ...],
           profiles: dict[tuple[str, str], Path], times: int) -> int:
    """Each path in each mode `times` times on `engine` under `recorder`'s profiles; the number
    of cells with a failure."""
    failed = 0
    where = f"{engine.label} ({origin})"
    for mode in MODES:
        visible(engine, profiles[(recorder, mode)])
    for path in paths:
        for mode in MODES:
            why_not = skipped(engine, origin, path, recorder)
            if why_not and path == "init" and "another program" in why_not:
                # (not run even where `check --runtime` names nothing: a profile recorded with
                # Podman's catatonit deployed on Docker 20.10 with tini was 0/20 so, tini
                # exiting at once; the table's init row does not carry across init programs)
                why_not += f"; {init_hint(profiles[(recorder, mode)], engine)}"
            if why_not:
                print(f"{recorder:<52} {where:<52} {path:<12} {mode:<8} n/a: {why_not}",
                      flush=True)
                continue
            problems = [p for _ in range(times)
                        if (p := one(engine, profiles[(recorder, mode)], path,
                                     mode == "nnp")) is not None]
            failed += bool(problems)
            print(f"{recorder:<52} {where:<52} {path:<12} {mode:<8} {times - len(problems)}/"
                  f"{times}" + (f" FAILED: {problems[0]}" if problems else ""), flush=True)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--times", type=int, default=20)
    parser.add_argument("--suites", default="sid", help=f"of {','.join(SUITES)}")
    parser.add_argument("--systemd", action="store_true",
                        help="also sid's runc under systemd on cgroup v2 (the systemd driver)")
    parser.add_argument("--podman", action="store_true",
                        help="also the suites' Podman (build-images.sh --engine SUITE --podman)")
    parser.add_argument("--only", default=",".join(PATHS),
                        help="the paths deployed for profiles recorded on the host")
    parser.add_argument("--deploy-on", default="",
                        help="deploy only on these (docker or podman: the newer engines' kind)")
    parser.add_argument("--cross-paths", default="run,exec",
                        help="the paths deployed for profiles recorded on the newer engines")
    args = parser.parse_args(argv)
    suites = [s for s in args.suites.split(",") if s]
    for fact in machine_facts():
        print(fact)
    sweep()
    failed = 0
    specs = matrix_specs(suites, args.systemd, args.podman)
    # recorded on the host's Docker, and the reverse: on the newest Docker (runc 1.3.6) and on
    # the newest Podman, each in both modes, before anything is deployed
    recorder_specs = [specs[0], *(next((s for s in specs[1:] if s[3] == podman), None)
                                  for podman in (False, True))]
    profiles: dict[tuple[str, str], Path] = {}
    recorders: list[str] = []
    host_label = ""
    with tempfile.TemporaryDirectory() as tmp:
        for spec in recorder_specs:
            if spec is None:
                continue
            with engines_of(spec) as found:
                engine, origin = found[0]
                name = f"{engine.label} ({origin})"
                recorders.append(name)
                host_label = host_label or name
                for mode in MODES:
                    profiles[(name, mode)] = record(engine, mode, Path(tmp))
        print(f"\n{'recorded on':<52} {'deployed on':<52} {'path':<12} {'mode':<8} result")
        for spec in specs:
            if args.deploy_on and not any(args.deploy_on in (spec[0], k) for k in
                                          (("podman" if spec[3] else "docker"),)):
                continue
            with engines_of(spec) as found:
                for engine, origin in found:
                    for recorder in recorders:
                        if recorder == f"{engine.label} ({origin})":
                            continue
                        paths = tuple((args.only if recorder == host_label
                                       else args.cross_paths).split(","))
                        if not paths or paths == ("",):
                            continue
                        failed += deploy(engine, origin, recorder, paths, profiles, args.times)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
