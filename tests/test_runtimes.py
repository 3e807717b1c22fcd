"""Profiles that start where users deploy them: Debian sid's Docker 28.5 with runc 1.3.6 and
crun 1.28 (docker-in-docker, `scripts/build-images.sh --engine sid`), against profiles recorded
on this machine's Docker 20.10 with runc 1.1.5. runc 1.3 reopens /proc/thread-self/fd after
installing the filter (statx, openat2, close_range...), which runc 1.1 never did: a profile
holding only the recorded runtime's steps (`--seccomp-runtimes=recorded`) does not start there,
and every tool says why; the default (every measured runtime) starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from pytest_seccomp.profiles.engine_default import SHIPPED
from pytest_seccomp.profiles.model import Profile

from .conftest import BUSYBOX, ROOT, cli, require_image

sys.path.insert(0, str(ROOT / "benchmarks"))
from engines import Engine, dind_engine, image_of

LS = f"""
import docker

def test_ls():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True, network_mode="none")
"""
PROFILE = Path("seccomp-profiles") / "pytest-seccomp" / "busybox.json"


@pytest.fixture(scope="module")
def sid(busybox_image: str) -> Iterator[Engine]:
    client = docker.from_env()
    require_image(client, image_of("sid"))
    client.close()
    with dind_engine("sid", "runc") as engine:
        yield engine


def _pytest(project: Path, *args: str, docker_host: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"DOCKER_HOST": docker_host} if docker_host else {})}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-p", "no:randomly", *args], cwd=project, env=env,
                          capture_output=True, text=True, check=False, timeout=300)


def _recorded(tmp_path: Path, name: str, *args: str) -> Path:
    """Record `ls /` on this machine's engine; the profile's path."""
    project = tmp_path / name
    project.mkdir()
    (project / "test_ls.py").write_text(LS)
    run = _pytest(project, "--seccomp-record", *args)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return project / PROFILE


def _run_under(engine: Engine, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "-H", engine.url, "run", "--rm", "--network", "none",
                           "--security-opt", f"seccomp={profile}", *extra, BUSYBOX, "ls", "/"],
                          capture_output=True, text=True, check=False, timeout=120)


def test_a_profile_of_the_recorded_runtime_alone_fails_under_runc_1_3_and_says_why(sid, tmp_path):
    profile = _recorded(tmp_path, "recorded", "--seccomp-runtimes=recorded")
    assert sid.runtime.startswith("runc 1.3"), sid.runtime
    started = _run_under(sid, profile)
    assert started.returncode != 0, started.stdout  # the engine's opaque message
    assert "operation not permitted" in started.stderr, started.stderr
    checked = cli("check", str(profile), "--runtime", "runc@1.3.6")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "does NOT start under runc 1.3.6 without no-new-privileges: it lacks" in checked.stdout
    assert "statx" in checked.stdout
    # enforce on that engine: said before the first container, and the refusal explained
    enforce = _pytest(profile.parent.parent.parent, "--seccomp-enforce", docker_host=sid.url)
    assert enforce.returncode == 1, enforce.stdout[-3000:] + enforce.stderr[-2000:]
    assert "seccomp: warning: 1 of the profiles lack steps runc 1.3.6" in enforce.stdout
    assert "was measured to need" in enforce.stdout and "statx" in enforce.stdout, \
        enforce.stdout[-3000:]


def test_the_default_profile_starts_under_runc_and_crun_of_sid_in_both_ways(sid, tmp_path):
    profile = _recorded(tmp_path, "default")
    checked = cli("check", str(profile), "--runtime", "runc@1.3.6")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "its runtime rule also covers crun 1.8.1-1.28, runc 1.1.5-1.3.6" in checked.stdout
    for extra in ([], ["--security-opt", "no-new-privileges"], ["--runtime", "crun"],
                  ["--runtime", "crun", "--security-opt", "no-new-privileges"]):
        for _ in range(3):
            started = _run_under(sid, profile, *extra)
            assert started.returncode == 0, (extra, started.stderr)
            assert "bin" in started.stdout
    # within sid's own default too (its ceiling, as it applies with the default capabilities)
    assert sid.default_profile is not None
    within = cli("check", str(profile), "--default", str(sid.default_profile))
    assert within.returncode == 0, within.stdout + within.stderr
    # and the copy of that default the package ships is what this engine applies
    shipped = cli("check", str(profile), "--engine-version", "28.5")
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "not wider than Docker 28.5.2" in shipped.stdout
    applied = Profile.load(sid.default_profile)
    assert Profile.load(SHIPPED / "docker-28.5.2.json").dumps() == applied.dumps()


def test_the_nnp_profile_starts_under_sid_with_no_new_privileges(sid, tmp_path):
    profile = _recorded(tmp_path, "nnp", "--seccomp-nnp")
    for extra in ([], ["--runtime", "crun"]):
        started = _run_under(sid, profile, "--security-opt", "no-new-privileges", *extra)
        assert started.returncode == 0, (extra, started.stderr)
