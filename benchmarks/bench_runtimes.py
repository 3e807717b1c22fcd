"""Do recorded profiles start where users deploy them? The matrix: the host's Docker 20.10
(runc) and Podman (runc, crun), and Debian trixie's and sid's Docker (26.1, 28.5) with their runc
and crun, run as docker-in-docker (`scripts/build-images.sh --engines`).

    python3 benchmarks/bench_runtimes.py [--starts 20] [--suites trixie,sid]
        records examples/listing and examples/webapp on the host engine in both modes (the
        default portable runtime rule), then starts each profile N times under every engine of
        the matrix, as users deploy it (`docker run --security-opt seccomp=...`: busybox `ls /`,
        redis and postgres until ready, the webapp answering one request and stopping cleanly),
        one row per engine and mode; exits 1 if any cell has a failed start.

    python3 benchmarks/bench_runtimes.py --measure [--starts 8]
        measures each runtime's own steps after installing the filter: busybox started under six
        container configurations (user, workdir, tty, read-only, no capabilities), N times each,
        quiet and beside a CPU hog, recorded with --seccomp-runtimes=recorded in both modes; writes
        pytest_seccomp/data/runtime-steps.json (the table the package ships) and prints it.

    python3 benchmarks/bench_runtimes.py --defaults [--suites trixie,sid]
        copies each newer Docker's builtin default profile, as it applies to a container with
        the default capabilities here (read from the OCI config it wrote), into
        pytest_seccomp/data/engine-defaults/ (what `pytest-seccomp check --engine-version`
        checks against), and says what each allows that the host's 20.10 default does not, and
        the reverse.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_stability import record  # the examples recorded in a mode, as there
from common import machine_facts
from engines import (
    SUITES,
    Engine,
    dind_engine,
    have_image,
    have_podman_image,
    host_engines,
    sweep,
)

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "pytest_seccomp" / "data" / "runtime-steps.json"
DEFAULTS = ROOT / "pytest_seccomp" / "data" / "engine-defaults"
MODES = ("default", "nnp")
SERVICES = ("pytest-seccomp/redis:latest", "pytest-seccomp/postgres:latest",
            "pytest-seccomp/webapp:latest")

# the measuring project: every container configuration whose runtime steps may differ
MEASURE = '''
import os

import docker
import pytest

CONFIGS = {
    "plain": {},
    "user": {"user": "1000:1000", "group_add": ["5"]},
    "workdir": {"working_dir": "/tmp"},
    "tty": {"tty": True},
    "read_only": {"read_only": True},
    "no_caps": {"cap_drop": ["ALL"]},
}


@pytest.mark.parametrize("start", range(int(os.environ["STARTS"])))
@pytest.mark.parametrize("config", CONFIGS)
def test_start(config, start):
    client = docker.from_env()
    container = client.containers.run("pytest-seccomp/busybox:latest", ["ls", "/"],
                                      detach=True, network_mode="none", **CONFIGS[config])
    assert container.wait(timeout=60)["StatusCode"] == 0
    container.remove()
    client.close()
'''


# the other paths a runtime takes into a container, after the filter: `docker exec` (and
# Kubernetes' exec probes), the engine's HEALTHCHECK runs (an exec the engine makes), a restart
# by restart policy, and `--init` (the engine's init, PID 1, before the app)
PATHS_PROJECT = '''
import os
import time

import docker
import pytest

BUSYBOX = "pytest-seccomp/busybox:latest"
SERVICE = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]


def _until(check, what):
    deadline = time.monotonic() + 60
    while True:
        try:
            if check():
                return
        except docker.errors.APIError:  # Podman's inspect of a restarting container may fail
            pass
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("start", range(int(os.environ["STARTS"])))
@pytest.mark.parametrize("path", os.environ["PATHS"].split(","))
def test_path(path, start):
    client = docker.from_env()
    api = client.api
    if path == "init":  # the engine's init forwards the stop signal to the app
        container = client.containers.run(BUSYBOX, SERVICE, detach=True, init=True,
                                          network_mode="none")
        _until(lambda: api.inspect_container(container.id)["State"]["Status"] == "running",
               "running")
        container.stop(timeout=10)
        assert container.wait(timeout=60)["StatusCode"] == 0
    elif path == "restart":
        container = client.containers.run(
            BUSYBOX, ["sh", "-c", "exit 3"], detach=True, network_mode="none",
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
        _until(lambda: api.inspect_container(container.id)["RestartCount"] >= 2
               and api.inspect_container(container.id)["State"]["Status"] == "exited",
               "two restarts")
    elif path == "exec":
        container = client.containers.run(BUSYBOX, ["sleep", "60"], detach=True,
                                          network_mode="none")
        for _ in range(2):
            assert container.exec_run(["true"]).exit_code == 0
    else:  # healthcheck
        container = client.containers.run(
            BUSYBOX, ["sleep", "60"], detach=True, network_mode="none",
            healthcheck={"test": ["CMD", "true"], "interval": 200_000_000,
                         "timeout": 5_000_000_000, "retries": 3})
        _until(lambda: (api.inspect_container(container.id)["State"].get("Health") or {})
               .get("Status") == "healthy", "healthy")
    container.remove(force=True)
    client.close()
'''
PATHS = ("exec", "healthcheck", "restart", "init")


def engine_paths(engine: Engine, only: tuple[str, ...] = PATHS) -> tuple[str, ...]:
    """The paths this engine takes (of `only`): Podman runs health checks from systemd timers
    (none on these machines); its `--init` is catatonit, which the newer suites' Podman image
    installs and the host's Debian podman 4.3 does not."""
    if engine.name.startswith("Podman"):
        takes = ("exec", "restart", "init") if engine.container else ("exec", "restart")
        return tuple(p for p in takes if p in only)
    return tuple(p for p in PATHS if p in only)


def recorded_containers(engine: Engine, project: Path, env: dict[str, str], tmp: Path,
                        name: str) -> Iterator[tuple[str, bool, dict[str, Any]]]:
    """Record `project` through `engine` in each mode, quiet and beside a CPU hog, with only
    the recorded runtime's steps; each (mode, loaded, container of the JSON report)."""
    for mode in MODES:
        for loaded in (False, True):
            report = tmp / f"{name}-{mode}-{loaded}.json"
            flags = ["--seccomp-nnp"] if mode == "nnp" else []
            if engine.default_profile:
                flags.append(f"--seccomp-default-profile={engine.default_profile}")
            with cpu_hog(loaded):
                run = subprocess.run(
                    [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                     "-p", "no:randomly", "--seccomp-record", "--seccomp-runtimes=recorded",
                     "--seccomp-profile-dir", str(tmp / f"{name}-profiles-{mode}"),
                     "--seccomp-report", str(report), *flags],
                    cwd=project, env=env, capture_output=True, text=True, check=False)
            if run.returncode != 0:
                raise SystemExit(f"measuring {engine.label} ({name}, {mode}) failed:\n"
                                 + run.stdout[-3000:] + run.stderr[-2000:])
            for profile in json.loads(report.read_text())["profiles"].values():
                for container in profile["containers"]:
                    yield mode, loaded, container


def measure_paths(engine: Engine, starts: int, tmp: Path, only: tuple[str, ...] = PATHS
                  ) -> dict[str, dict[str, set[str]]]:
    """Per path and mode: the runtime's steps after the filter in the containers that took it
    (their start too), and for --init what the engine's init did beyond the app of a plain
    start (its syscalls are made before the app, by the engine's program, not the app's)."""
    project = tmp / "paths"
    project.mkdir(parents=True, exist_ok=True)
    (project / "test_paths.py").write_text(PATHS_PROJECT)
    (project / "test_plain.py").write_text(PLAIN_PROJECT)
    paths = engine_paths(engine, only)
    found: dict[str, dict[str, set[str]]] = {p: {m: set() for m in MODES} for p in paths}
    if not paths:
        return found
    env = {**os.environ, "DOCKER_HOST": engine.url, "STARTS": str(starts), "PATHS": ",".join(paths)}
    plain: dict[tuple[str, bool], set[str]] = {}
    init: dict[tuple[str, bool], set[str]] = {}
    for mode, loaded, container in recorded_containers(engine, project, env, tmp, "paths"):
        test = container["test"]
        if "test_plain" in test:
            plain.setdefault((mode, loaded), set()).update(container["syscalls"])
            continue
        path = test.split("[", 1)[1].split("-", 1)[0]
        found[path][mode] |= set(container["runtime_steps"])
        if path == "init":
            init.setdefault((mode, loaded), set()).update(container["syscalls"])
    if "init" in found:
        for (mode, loaded), names in init.items():
            found["init"][mode] |= {n.split("(", 1)[0]
                                    for n in names - plain.get((mode, loaded), set())}
    return found


PLAIN_PROJECT = '''
import os
import time

import docker
import pytest


@pytest.mark.parametrize("start", range(int(os.environ["STARTS"])))
def test_plain(start):
    """The init path's app without the engine's init: what that init adds is the difference."""
    client = docker.from_env()
    container = client.containers.run(
        "pytest-seccomp/busybox:latest",
        ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"], detach=True,
        network_mode="none")
    time.sleep(0.3)
    container.stop(timeout=10)
    assert container.wait(timeout=60)["StatusCode"] == 0
    container.remove()
    client.close()
'''


@contextmanager
def cpu_hog(on: bool) -> Iterator[None]:
    """Every core busy (the runtimes' Go and C steps then meet preemption and slow paths)."""
    hogs = [subprocess.Popen(["sha256sum", "/dev/zero"]) for _ in range(os.cpu_count() or 2)] \
        if on else []
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def measure_one(engine: Engine, starts: int, tmp: Path) -> dict[str, set[str]]:
    """The runtime's steps after the filter in each mode: the union over every container."""
    project = tmp / "measure"
    project.mkdir(parents=True, exist_ok=True)
    (project / "test_starts.py").write_text(MEASURE)
    steps: dict[str, set[str]] = {mode: set() for mode in MODES}
    env = {**os.environ, "DOCKER_HOST": engine.url, "STARTS": str(starts)}
    for mode, _, container in recorded_containers(engine, project, env, tmp, "report"):
        steps[mode] |= set(container["runtime_steps"])
    return steps


def engines(suites: list[str], images: tuple[str, ...], podman: bool = False
            ) -> Iterator[tuple[Engine, str]]:
    """Every engine of the matrix, each with where it came from."""
    yield from ((engine, "host") for engine in host_engines())
    for suite in suites:
        if not have_image(suite):
            raise SystemExit(f"pytest-seccomp/engine:{suite} is missing: run "
                             f"scripts/build-images.sh --engine {suite}")
        for runtime in ("runc", "crun"):
            with dind_engine(suite, runtime, images) as engine:
                yield engine, f"Debian {suite}"
        if podman and have_podman_image(suite):
            for runtime in ("runc", "crun"):
                with dind_engine(suite, runtime, images, podman=True) as engine:
                    yield engine, f"Debian {suite}"


def measure_only_paths(args: argparse.Namespace) -> None:
    """--paths: the paths' rows of each runtime measured anew, into the shipped table (its
    start rows kept)."""
    table = json.loads(TABLE.read_text())
    entries = {(e["runtime"], e["version"]): e for e in table["runtimes"]}
    with tempfile.TemporaryDirectory() as tmp:
        for engine, origin in engines(args.suites, ("pytest-seccomp/busybox:latest",),
                                      podman=args.podman):
            began = time.monotonic()
            found = measure_paths(engine, args.starts, Path(tmp) / engine.label.replace(" ", "-"),
                                  tuple(args.only.split(",")))
            name, version = engine.runtime.split(" ", 1)
            entry = entries.get((name, version.split("+", 1)[0]))
            if entry is None:
                raise SystemExit(f"{engine.label} is not in the table: run --measure first")
            merged = entry.setdefault("paths", {})
            for path, modes in found.items():
                for mode, names in modes.items():
                    have = set(merged.setdefault(path, {}).get(mode, []))
                    merged[path][mode] = sorted(have | names)
            if found:  # (starts per path and mode: quiet and beside the hog)
                entry["path_starts"] = int(entry.get("path_starts", 0)) + args.starts * 2
            print(f"{engine.label:<32} paths measured in {time.monotonic() - began:.0f} s "
                  f"({origin})")
    earlier = str(table.get("paths_made_by", ""))
    table["paths_made_by"] = (earlier + "; then " if earlier else "") + (
        f"python3 benchmarks/bench_runtimes.py --paths --only {args.only} --starts "
        f"{args.starts} --suites {','.join(args.suites)}: busybox exec'd twice, health-checked, "
        "restarted twice by policy, and a busybox service under --init stopped (its init "
        f"forwards the signal), {args.starts} times each, quiet and beside a CPU hog, per mode; "
        + "; ".join(machine_facts()[:2]))
    TABLE.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    print_paths(table)


def print_paths(table: dict[str, Any]) -> None:
    """One row per runtime, path and mode: what the path adds to the start's steps."""
    print(f"\n{'runtime':<14} {'path':<12} {'mode':<8} beyond the start's steps")
    for entry in table["runtimes"]:
        for path, modes in sorted(entry.get("paths", {}).items()):
            for mode in MODES:
                extra = sorted(set(modes.get(mode, [])) - set(entry["steps"][mode]))
                print(f"{entry['runtime'] + ' ' + entry['version']:<14} {path:<12} {mode:<8} "
                      f"{' '.join(extra) or '-'}")


def measure(args: argparse.Namespace) -> None:
    found: dict[tuple[str, str], dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine, origin in engines(args.suites, ("pytest-seccomp/busybox:latest",)):
            began = time.monotonic()
            steps = measure_one(engine, args.starts, Path(tmp) / engine.label.replace(" ", "-"))
            name, version = engine.runtime.split(" ", 1)
            version = version.split("+", 1)[0]
            entry = found.setdefault((name, version), {
                "runtime": name, "version": version, "engine": [], "starts": 0,
                "steps": {mode: [] for mode in MODES}})
            entry["engine"].append(f"{engine.name} ({origin})")  # type: ignore[attr-defined]
            entry["starts"] = int(entry["starts"]) + 6 * args.starts * 2  # type: ignore[call-overload]
            for mode in MODES:
                entry["steps"][mode] = sorted(set(entry["steps"][mode]) | steps[mode])  # type: ignore[index]
            print(f"{engine.label:<32} measured in {time.monotonic() - began:.0f} s")
    runtimes = []
    for entry in sorted(found.values(), key=lambda e: (e["runtime"], e["version"])):
        entry["engine"] = ", ".join(entry["engine"])  # type: ignore[arg-type]
        runtimes.append(entry)
    table = {
        "made_by": (f"python3 benchmarks/bench_runtimes.py --measure --starts {args.starts} "
                    f"--suites {','.join(args.suites)}: busybox in 6 configurations x "
                    f"{args.starts} starts, quiet and beside a CPU hog, per mode; "
                    + "; ".join(machine_facts()[:2])),
        "runtimes": runtimes,
    }
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {TABLE.relative_to(ROOT)}: each runtime's steps after installing the filter")
    for entry in runtimes:
        for mode in MODES:
            print(f"{entry['runtime']} {entry['version']:<8} {mode:<8} "
                  f"{' '.join(entry['steps'][mode])}")  # type: ignore[index]


def defaults(args: argparse.Namespace) -> None:
    """Ship each newer engine's applied default, and show how far the ceilings moved."""
    from pytest_seccomp.deploy.export import resolve
    from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT
    from pytest_seccomp.profiles.model import Profile

    host = resolve(Profile.load(DOCKER_DEFAULT), "x86_64")
    index_path = DEFAULTS / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    DEFAULTS.mkdir(parents=True, exist_ok=True)
    for suite in args.suites:
        with dind_engine(suite, "runc") as engine:
            version = engine.name.split()[1].split("+", 1)[0]
            target = DEFAULTS / f"docker-{version}.json"
            profile = Profile.load(engine.default_profile)  # type: ignore[arg-type]
            profile.save(target)
            index[version] = {
                "file": target.name,
                "engine": f"{engine.name} (Debian {suite}'s docker.io)",
                "applies_to": "x86_64, the default capabilities",
                "made_by": f"python3 benchmarks/bench_runtimes.py --defaults --suites {suite}",
            }
            print(f"{engine.name}: {len(profile.allowed)} names (host's 20.10: "
                  f"{len(host.allowed)}); wrote {target.relative_to(ROOT)}")
            print(f"  allows, 20.10 does not: {' '.join(sorted(profile.allowed - host.allowed))}")
            print(f"  20.10 allows, it does not: {' '.join(sorted(host.allowed - profile.allowed))}")
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


# -- the start matrix ---------------------------------------------------------------------------
# image -> (profile under the profile directory, command, what "up" means)
SUBJECTS = {
    "busybox": ("listing.json", "pytest-seccomp/busybox:latest", ["ls", "/"], "exit 0"),
    "redis": ("pytest-seccomp/redis.json", "pytest-seccomp/redis:latest", [],
              "Ready to accept connections"),
    "postgres": ("pytest-seccomp/postgres.json", "pytest-seccomp/postgres:latest", [],
                 "ready to accept connections"),
    "webapp": ("pytest-seccomp/webapp.json", "pytest-seccomp/webapp:latest", [], "/health"),
}


def _docker(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    """The engine's own CLI (Podman's compatible API takes a profile's path, not its JSON)."""
    client = ["podman", "--remote", "--url", engine.url] if engine.name.startswith("Podman") \
        else ["docker", "-H", engine.url]
    return subprocess.run([*client, *args], capture_output=True, text=True, check=False,
                          timeout=120)


def _address(engine: Engine) -> str:
    """Where the engine's host-network containers listen, as seen from here."""
    if engine.container is None:
        return "127.0.0.1"
    out = subprocess.run(["docker", "inspect", "--format",
                          "{{.NetworkSettings.IPAddress}}", engine.container],
                         capture_output=True, text=True, check=True).stdout.strip()
    return out


def one_start(engine: Engine, profile: Path, image: str, command: list[str], ready: str,
              nnp: bool) -> str | None:
    """None when the container came up (and, for a service, stopped cleanly); else why not."""
    opts = ["--security-opt", f"seccomp={profile}"]
    if nnp:
        opts += ["--security-opt", "no-new-privileges"]
    network = ["--network", "host"] if ready == "/health" else ["--network", "none"]
    run = _docker(engine, "run", "-d", *network, *opts, image, *command)
    container = run.stdout.strip()
    try:
        if run.returncode != 0:
            return run.stderr.strip()[-300:]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = _docker(engine, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                            container).stdout.split()
            if not state:
                return "the container vanished"
            if ready == "exit 0":
                if state[0] == "exited":
                    return None if state[1] == "0" else f"exit {state[1]}: " + \
                        _docker(engine, "logs", container).stderr[-300:]
            elif state[0] != "running":
                logs = _docker(engine, "logs", container)
                return f"{state[0]} (exit {state[1]}): {(logs.stdout + logs.stderr)[-300:]}"
            elif ready == "/health":
                try:
                    with urllib.request.urlopen(f"http://{_address(engine)}:8000/health",
                                                timeout=1):
                        break
                except OSError:
                    pass
            else:
                logs = _docker(engine, "logs", container)
                if ready in logs.stdout + logs.stderr:
                    break
            time.sleep(0.1)
        else:
            return "not up within 60 s"
        if ready == "exit 0":
            return None
        _docker(engine, "stop", "-t", "10", container)
        code = _docker(engine, "inspect", "--format", "{{.State.ExitCode}}", container).stdout
        return None if code.strip() in ("0", "143") else f"stopped with exit {code.strip()}"
    finally:
        if container:
            _docker(engine, "rm", "-f", container)


def within_ceiling(engine: Engine, dirs: dict[str, Path]) -> bool:
    """Every profile recorded on the host is within this engine's own default (as it applies
    here with the default capabilities): the ceiling where it is deployed."""
    if engine.default_profile is None:
        return True  # (the host's own: the recording's ceiling)
    from pytest_seccomp.deploy.export import resolve
    from pytest_seccomp.profiles.model import Profile

    ceiling = Profile.load(engine.default_profile)
    wider = {f"{mode}/{file}": problems for mode, folder in dirs.items()
             for file, *_ in SUBJECTS.values()
             if (problems := resolve(Profile.load(folder / file)).wider_than(ceiling))}
    print(f"{engine.label:<52} ceiling  "
          + ("every profile within its default" if not wider else f"WIDER: {wider}"))
    return not wider


def matrix(args: argparse.Namespace) -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {mode: record(mode, Path(tmp), args.args) for mode in MODES}
        print(f"profiles recorded with --seccomp-args={args.args}")
        print(f"\nstarts that came up, of {args.starts} per image, under profiles recorded on "
              "the host engine (busybox ls, redis, postgres, webapp):")
        for engine, origin in engines(args.suites, ("pytest-seccomp/busybox:latest", *SERVICES)):
            failed += not within_ceiling(engine, dirs)
            for mode in MODES:
                good, total, why = 0, 0, []
                for name, (file, image, command, ready) in SUBJECTS.items():
                    if engine.name.startswith("Podman") and name != "busybox":
                        continue  # (setup loads busybox into Podman's store, not the services)
                    for _ in range(args.starts):
                        total += 1
                        problem = one_start(engine, dirs[mode] / file, image, command, ready,
                                            nnp=mode == "nnp")
                        if problem is None:
                            good += 1
                        elif len(why) < 3:
                            why.append(f"{name}: {problem}")
                verdict = "OK" if good == total else "FAILED"
                failed += good != total
                print(f"{engine.label + f' ({origin})':<52} {mode:<8} {good}/{total} {verdict}")
                for reason in why:
                    print(f"    {reason}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=None)
    parser.add_argument("--suites", default=",".join(SUITES),
                        help="the newer engines: trixie,sid (or one of them, or '')")
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--defaults", action="store_true")
    parser.add_argument("--paths", action="store_true",
                        help="measure exec, healthcheck, restart and --init into the table")
    parser.add_argument("--only", default=",".join(PATHS), help="with --paths: which paths")
    parser.add_argument("--podman", action="store_true",
                        help="with --paths: the suites' Podman too (build-images.sh --podman)")
    parser.add_argument("--args", default="sockets", help="the recordings' --seccomp-args")
    args = parser.parse_args(argv)
    args.suites = [s for s in args.suites.split(",") if s]
    for fact in machine_facts():
        print(fact)
    sweep()
    if args.defaults:
        defaults(args)
        return 0
    if args.paths:
        args.starts = args.starts or 5
        measure_only_paths(args)
        return 0
    if args.measure:
        args.starts = args.starts or 8
        measure(args)
        return 0
    args.starts = args.starts or 20
    return matrix(args)


if __name__ == "__main__":
    sys.exit(main())
