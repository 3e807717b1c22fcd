"""Test 3 of the issue: an engine in docker-in-docker (Debian's docker.io inside a container),
reached over a socket in a mounted directory. Its containers' cgroups nest under the outer
container's (/docker/<outer>/<inner>); both tracers attribute them to the inner containers: the
local one (root on the same kernel) and the helper, which the inner engine starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from .conftest import BUSYBOX, EXTRA_MARKER_INI, LS_THEN_MKDIR, ROOT, require_image

sys.path.insert(0, str(ROOT / "benchmarks"))
from engines import run_privileged

DIND = "pytest-seccomp/dind:latest"
TESTS, INI = LS_THEN_MKDIR, EXTRA_MARKER_INI  # (busybox, no network: dind has no bridge)
@pytest.fixture(scope="module")
def dind(busybox_image: str) -> Iterator[tuple[str, str]]:
    """(DOCKER_HOST of the inner engine, the outer container's id), the busybox image loaded."""
    client = docker.from_env()
    require_image(client, DIND)
    sockets = Path(tempfile.mkdtemp(prefix="pytest-seccomp-dind-"))
    settings = dict(detach=True, cgroupns="host", security_opt=["seccomp=unconfined",
                                                                 "apparmor=unconfined"],
                    volumes={str(sockets): {"bind": "/run/dind", "mode": "rw"},
                             "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
                    labels={"io.pytest-seccomp.test-dind": "1"})
    outer = run_privileged(client, DIND, "io.pytest-seccomp.test-dind", **settings)
    url = f"unix://{sockets}/docker.sock"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:  # (the client asks the engine's version as it is made)
                inner = docker.DockerClient(base_url=url, timeout=60)
                break
            except Exception:
                log = sockets / "dockerd.log"
                assert time.monotonic() < deadline, log.read_text() if log.exists() else outer.logs()
                time.sleep(0.2)
        inner.images.load(b"".join(client.images.get(BUSYBOX).save(named=True)))
        inner.close()
        yield url, outer.id
    finally:
        outer.remove(force=True, v=True)
        shutil.rmtree(sockets, ignore_errors=True)
        client.close()


@pytest.mark.parametrize("place", ["local", "helper"])
def test_docker_in_docker_records_and_enforces_nested_cgroups(dind, place, tmp_path):
    url, _ = dind
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_app.py").write_text(TESTS)
    env = {**os.environ, "DOCKER_HOST": url}

    def pytest_in_project(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                               f"--seccomp-tracer={place}", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=False)

    record = pytest_in_project("--seccomp-record", "-m", "not extra", "--seccomp-report=r.json")
    assert record.returncode == 0, record.stdout[-3000:] + record.stderr[-2000:]
    where = "a helper container" if place == "helper" else "this process"
    assert f"tracer: in {where})" in record.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert not report["unrecorded_containers"], report["unrecorded_containers"]
    (container,) = report["profiles"]["pytest-seccomp/busybox"]["containers"]
    assert "getdents64" in container["syscalls"]  # its nested cgroup was attributed to it
    profile = json.loads((tmp_path / "seccomp-profiles/pytest-seccomp/busybox.json").read_text())
    assert "getdents64" in profile["syscalls"][0]["names"]
    enforce = pytest_in_project("--seccomp-enforce")
    assert enforce.returncode == 1, enforce.stdout[-3000:] + enforce.stderr[-2000:]
    assert "  mkdir  x1  by process 'mkdir'" in enforce.stdout


def test_the_inner_engines_containers_nest_under_the_outer_container(dind):
    """What the test above relies on: the inner container's cgroup is /docker/<outer>/<id>."""
    url, outer = dind
    inner = docker.DockerClient(base_url=url)
    try:
        container = inner.containers.run(BUSYBOX, ["sleep", "30"], detach=True,
                                         network_mode="none")
        try:
            found = list(Path("/sys/fs/cgroup").glob(f"*/docker/{outer}/{container.id}"))
            assert found, f"/docker/{outer}/{container.id} is in no hierarchy"
        finally:
            container.remove(force=True)
    finally:
        inner.close()
