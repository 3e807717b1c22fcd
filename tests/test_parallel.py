"""pytest-xdist: `-n 2` records what a serial run records, byte for byte; a lost worker fails."""

from __future__ import annotations

import pytest

from .conftest import BUSYBOX, OLD, old_profile

SUITE = f"""
import docker, pytest

def run(*cmd):
    return docker.from_env().containers.run("{BUSYBOX}", list(cmd), remove=True)

@pytest.mark.parametrize("cmd", [
    ["ls", "/"], ["cat", "/proc/self/status"], ["mkdir", "/x"], ["sh", "-c", "echo hi > /f"],
    ["wc", "-l", "/etc/passwd"], ["sleep", "0.1"], ["uname", "-a"], ["df", "/"],
])
def test_cmd(cmd):
    run(*cmd)
"""


def profiles(pytester: pytest.Pytester) -> dict[str, bytes]:
    root = pytester.path / "seccomp-profiles"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json"))}


def serial_recording(pytester: pytest.Pytester) -> dict[str, bytes]:
    """The suite's profiles from a serial run; the directory is emptied for the next run."""
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest_subprocess("--seccomp-record").assert_outcomes(passed=8)
    serial = profiles(pytester)
    for path in (pytester.path / "seccomp-profiles").rglob("*.json"):
        path.unlink()
    return serial


def test_parallel_record_equals_serial_byte_for_byte(pytester, busybox_image):
    serial = serial_recording(pytester)
    result = pytester.runpytest_subprocess("--seccomp-record", "-n", "2")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["*seccomp profiles (record)*",
                                 "pytest-seccomp/busybox: * from 8 containers in 8 tests*new)"])
    assert profiles(pytester) == serial
    # each worker's tracer sees the other's containers: siblings, not strangers
    assert "not recorded" not in result.stdout.str()
    enforced = pytester.runpytest_subprocess("--seccomp-enforce", "--seccomp-strict", "-n", "2")
    enforced.assert_outcomes(passed=8)
    assert enforced.ret == 0
    enforced.stdout.fnmatch_lines(["*seccomp profiles (enforce)*",
                                   "pytest-seccomp/busybox: * under *busybox.json"])
    assert "not enforced" not in enforced.stdout.str()


def test_tx_workers_record_too(pytester, busybox_image):
    """`--tx 2*popen --dist load` is distribution as much as `-n 2` is."""
    serial = serial_recording(pytester)
    result = pytester.runpytest_subprocess("--seccomp-record", "--tx", "2*popen", "--dist", "load")
    result.assert_outcomes(passed=8)
    assert profiles(pytester) == serial


def test_a_crashed_worker_fails_the_recording_and_keeps_old_profiles(pytester, busybox_image):
    old = old_profile(pytester.path / "seccomp-profiles")
    pytester.makepyfile(test_crash=f"""
import os, signal
import docker

def test_container():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)

def test_worker_dies():
    docker.from_env().containers.run("{BUSYBOX}", ["true"], remove=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")
    result = pytester.runpytest_subprocess("--seccomp-record", "-n", "2")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*ERROR: pytest-xdist worker * crashed*No profile was written*"])
    assert old.read_text() == OLD
