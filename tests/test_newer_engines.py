"""Recording where users' CI runs: Debian sid's Docker 28.5 with runc 1.3.6 and with crun 1.28
(docker-in-docker, `scripts/build-images.sh --engine sid`), and with runc under systemd on cgroup
v2 with the systemd cgroup driver, as GitHub's runners run it. The examples' listing and webapp
projects are recorded through it, then enforced with --seccomp-strict: green, with the app's
syscalls the host's Docker 20.10 recording has, and the runtime rule naming what this runtime
did. The webapp's tests exec into its services (`psql`, `redis-cli`): runc 1.3's open_tree when
it joins a running container is refused by the profile and by the engine's default alike (no
CAP_SYS_ADMIN), so it fails nothing. The paths and engines beyond these run in
benchmarks/bench_runtimes.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from .conftest import BUSYBOX, ROOT, require_image

sys.path.insert(0, str(ROOT / "benchmarks"))
from engines import Engine, dind_engine, image_of, systemd_image_of

SERVICES = ("pytest-seccomp/redis:latest", "pytest-seccomp/postgres:latest",
            "pytest-seccomp/webapp:latest")
PROJECTS = ("listing", "webapp")


def _project(tmp: Path, name: str) -> Path:
    """A copy of examples/NAME without its committed profiles."""
    target = tmp / name
    shutil.copytree(ROOT / "examples" / name, target,
                    ignore=shutil.ignore_patterns("seccomp-profiles", "__pycache__"))
    return target


def _pytest(project: Path, *args: str, engine: Engine | None = None
            ) -> subprocess.CompletedProcess[str]:
    """pytest in `project`; with `engine`, its clients reach that engine, and the test process
    joins the engine's network namespace, where the services' published ports listen."""
    env = {**os.environ}
    prefix: list[str] = []
    if engine is not None:
        env["DOCKER_HOST"] = engine.url
        assert engine.container is not None
        pid = docker.from_env().api.inspect_container(engine.container)["State"]["Pid"]
        prefix = ["nsenter", f"--net=/proc/{pid}/ns/net"]
    return subprocess.run([*prefix, sys.executable, "-m", "pytest", "-p", "no:randomly",
                           *args], cwd=project, env=env, capture_output=True, text=True,
                          check=False, timeout=600)


def _record(project: Path, engine: Engine | None) -> dict[str, Any]:
    run = _pytest(project, "--seccomp-record", "--seccomp-report", "record.json", engine=engine)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report: dict[str, Any] = json.loads((project / "record.json").read_text())
    report["stdout"] = run.stdout
    return report


def _app(report: dict[str, Any]) -> dict[str, set[str]]:
    """Profile -> the app's syscalls (names and argument values) as recorded."""
    return {name: set(profile["syscalls"]) for name, profile in report["profiles"].items()}


@pytest.fixture(scope="module")
def host_recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The examples recorded on this machine's Docker 20.10 (runc 1.1.5)."""
    tmp = tmp_path_factory.mktemp("host")
    return {name: _record(_project(tmp, name), None) for name in PROJECTS}


# (runtime, systemd as PID 1 on cgroup v2 with dockerd's systemd cgroup driver, as on GitHub's
# hosted runners: containers in /system.slice/docker-<id>.scope)
ENGINES = {"runc": ("runc", False), "crun": ("crun", False), "runc-cgroup2-systemd": ("runc", True)}


@pytest.fixture(scope="module", params=list(ENGINES))
def sid(request: pytest.FixtureRequest, busybox_image: str) -> Iterator[Engine]:
    runtime, systemd = ENGINES[request.param]
    client = docker.from_env()
    require_image(client, systemd_image_of("sid") if systemd else image_of("sid"))
    for image in SERVICES:
        require_image(client, image)
    client.close()
    with dind_engine("sid", runtime, (BUSYBOX, *SERVICES), systemd=systemd) as engine:
        if systemd:  # the layout users' CI has, as the engine reports it
            info = docker.DockerClient(base_url=engine.url).info()
            assert (info["CgroupDriver"], info["CgroupVersion"]) == ("systemd", "2"), info
        yield engine


@pytest.mark.parametrize("name", PROJECTS)
def test_record_then_strict_enforce_on_docker_28_gives_the_hosts_app_syscalls(
        sid: Engine, name: str, tmp_path: Path, host_recordings: dict[str, dict[str, Any]]):
    runtime = sid.runtime.split()[0]
    assert sid.name.startswith("Docker 28.5"), sid.name
    project = _project(tmp_path, name)
    recorded = _record(project, sid)
    # the engine's own default is the ceiling: the package's copy of 28.5.2's, not the host's
    assert "ceiling: " in recorded["stdout"] and "docker-28.5.2.json" in recorded["stdout"], \
        recorded["stdout"][:2000]
    assert _app(recorded) == _app(host_recordings[name])
    for profile, entry in recorded["profiles"].items():
        assert entry["runtime"].startswith(runtime), (profile, entry["runtime"])
        did = {step for c in entry["containers"] for step in c["runtime_steps"]}
        assert "execve" in did, (profile, did)  # every runtime execs the app under the filter
    # the summary names what this runtime did, apart from what the rule holds for the others
    lines = [line for line in recorded["stdout"].splitlines() if "the runtime (" in line]
    assert lines and all(f"the runtime ({runtime} " in line and "; for the runtimes its rule "
                         "covers (" in line for line in lines), lines
    enforced = _pytest(project, "--seccomp-enforce", "--seccomp-strict", engine=sid)
    assert enforced.returncode == 0, enforced.stdout[-5000:] + enforced.stderr[-2000:]
    assert "refused in" not in enforced.stdout, enforced.stdout[-3000:]
    if name == "webapp" and runtime == "runc":  # runc 1.3.6 joins with open_tree on exec
        said = [line for line in enforced.stdout.splitlines()
                if "refused as under the engine's default, which refuses it too" in line]
        assert any("open_tree" in line and "runc:[2:INIT]" in line for line in said), \
            enforced.stdout[-3000:]
