"""Podman, the second engine, through its Docker-compatible socket: record and enforce."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

PODMAN = "unix:///run/podman/podman.sock"
# Podman 4.3's compatible API now and then never ends a followed log stream of a container
# that exited at once (seen in CI: `containers.run(..., remove=True)` hung for 15 minutes), so
# these tests wait for the exit and read the logs after it, with a timeout.
RUN_AND_WAIT = """
import docker

def run(image, command):
    container = docker.from_env().containers.run(image, command, detach=True)
    try:
        status = container.wait(timeout=120)["StatusCode"]
        out = container.logs()
    finally:
        container.remove(force=True)
    if status:
        raise RuntimeError(f"{command} exited with {status}: {out!r}")
    return out
"""
TESTS = RUN_AND_WAIT + """
import pytest

def test_ls():
    assert b"bin" in run("pytest-seccomp/busybox:latest", ["ls", "/"])

@pytest.mark.extra
def test_mkdir():
    run("pytest-seccomp/busybox:latest", ["mkdir", "/x"])
"""


@pytest.fixture
def podman(monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/run/podman/podman.sock").exists():
        pytest.fail("Podman's socket is not there: run scripts/setup.sh")
    monkeypatch.setenv("DOCKER_HOST", PODMAN)


def test_record_and_enforce_through_podman(pytester, podman):
    pytester.makeini("[pytest]\nmarkers =\n    extra: not recorded\n")
    pytester.makepyfile(test_app=TESTS)
    record = pytester.runpytest_subprocess("--seccomp-record", "-m", "not extra",
                                           "--seccomp-report=r.json")
    record.assert_outcomes(passed=1, deselected=1)
    record.stdout.fnmatch_lines(["seccomp: recording into * (engine: podman at *, ceiling: "
                                 "/usr/share/containers/seccomp.json, tracer: in this process)"])
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["engine"] == "podman"
    profile = json.loads((pytester.path / "seccomp-profiles/pytest-seccomp/busybox.json").read_text())
    assert profile["defaultErrnoRet"] == 38  # Podman's default answers ENOSYS, and so do we
    names = set(profile["syscalls"][0]["names"])
    assert "getdents64" in names and not names & {"mount", "pivot_root", "sethostname"}

    passed = pytester.runpytest_subprocess("--seccomp-enforce", "-m", "not extra")
    passed.assert_outcomes(passed=1, deselected=1)
    refused = pytester.runpytest_subprocess("--seccomp-enforce", "-m", "extra")
    refused.assert_outcomes(failed=1, deselected=1)
    refused.stdout.fnmatch_lines(["  mkdir  x1  by process 'mkdir'"])
    assert os.environ.get("DOCKER_HOST") == PODMAN
