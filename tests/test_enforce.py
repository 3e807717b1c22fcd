"""End to end: record with the real tracer, then enforce with the real engine and name refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import BUSYBOX, ROOT

TESTS = f"""
import docker
import pytest

IMAGE = "{BUSYBOX}"

def run(*cmd):
    return docker.from_env().containers.run(IMAGE, list(cmd), remove=True).decode()

def test_ls():
    assert "bin" in run("ls", "/")

def test_service():
    c = docker.from_env().containers.run(IMAGE, ["sleep", "30"], detach=True)
    try:
        assert c.exec_run(["sh", "-c", "ls / >/dev/null; true"])[0] == 0
    finally:
        c.remove(force=True)

@pytest.mark.extra
def test_mkdir():
    run("mkdir", "/x")

@pytest.mark.extra
def test_ls_long():
    assert " root " in run("ls", "-l", "/")

@pytest.mark.extra
def test_swallows_eperm():
    run("sh", "-c", "mkdir /y 2>/dev/null; true")

@pytest.mark.extra
def test_exec_refused():
    c = docker.from_env().containers.run(IMAGE, ["sleep", "30"], detach=True)
    try:
        code, out = c.exec_run(["mkdir", "/z"])
        assert code == 0, out
    finally:
        c.remove(force=True)
"""

INI = """
[pytest]
markers =
    extra: tests that were not recorded
"""


@pytest.fixture
def recorded(pytester: pytest.Pytester, busybox_image: str) -> pytest.Pytester:
    """A project whose `ls /` test was recorded (only that one)."""
    pytester.makeini(INI)
    pytester.makepyfile(test_app=TESTS)
    result = pytester.runpytest_subprocess("--seccomp-record", "-m", "not extra")
    result.assert_outcomes(passed=2, deselected=4)
    return pytester


def enforce(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--seccomp-enforce", "-p", "no:cacheprovider", *args)


def test_recorded_test_passes_under_its_profile(recorded):
    result = enforce(recorded, "-k", "test_ls and not long")
    result.assert_outcomes(passed=1, deselected=5)
    result.stdout.fnmatch_lines(["*seccomp profiles (enforce)*",
                                 "pytest-seccomp/busybox: 1 container under *busybox.json"])


def test_refusal_fails_exactly_that_test_and_is_named(recorded):
    result = enforce(recorded, "-k", "test_ls and not long or test_mkdir")
    result.assert_outcomes(passed=1, failed=1, deselected=4)
    result.stdout.fnmatch_lines([
        "FAILED test_app.py::test_mkdir*",
    ])
    result.stdout.fnmatch_lines([
        "*seccomp refusals*",
        "container *, image pytest-seccomp/busybox:latest, under *busybox.json was refused:",
        "  mkdir  x1  by process 'mkdir'",
        "remedy: pytest --seccomp-record --seccomp-merge 'test_app.py::test_mkdir'*",
    ])
    assert "refused in test_app.py::test_ls:" not in result.stdout.str()


def test_ls_long_demo_is_broken_and_read_is_named(recorded):
    """The tightest profile (--seccomp-nnp): without no-new-privileges runc itself reads."""
    recorded.runpytest_subprocess("--seccomp-record", "--seccomp-nnp", "--seccomp-profile-dir",
                                  "nnp", "-m", "not extra").assert_outcomes(passed=2, deselected=4)
    result = enforce(recorded, "--seccomp-profile-dir", "nnp", "-k", "test_ls_long")
    result.assert_outcomes(failed=1, deselected=5)
    # busybox still exits 0 and prints numeric owners: the test fails on its output
    result.stdout.fnmatch_lines(["*AssertionError*", "*  read  x*by process 'ls'*",
                                 "refused in test_app.py::test_ls_long: failed: read (ls, *)"])


def test_refusal_inside_exec_run_is_reported(recorded):
    result = enforce(recorded, "-k", "test_exec_refused")
    result.assert_outcomes(failed=1, deselected=5)
    result.stdout.fnmatch_lines(["*seccomp refusals*", "*under *busybox.json was refused:",
                                 "  mkdir  x1  by process 'mkdir'"])


def test_passing_test_with_refusals_warns_and_strict_fails(recorded):
    result = enforce(recorded, "-k", "test_swallows_eperm")
    result.assert_outcomes(passed=1, deselected=5)
    result.stdout.fnmatch_lines([
        "refused in test_app.py::test_swallows_eperm: passed anyway: mkdir (mkdir, *)",
        "warning: 1 test passed although syscalls were refused*--seccomp-strict fails them",
    ])
    strict = enforce(recorded, "-k", "test_swallows_eperm", "--seccomp-strict")
    strict.assert_outcomes(passed=1, errors=1, deselected=5)  # an extra error at teardown
    strict.stdout.fnmatch_lines(["*ERROR at teardown of test_swallows_eperm*",
                                 "*pytest-seccomp (--seccomp-strict): syscalls were refused*"])


def test_missing_profile_errors_the_test_or_runs_under_default(pytester, busybox_image):
    pytester.makepyfile(test_app=TESTS)
    result = enforce(pytester, "-k", "test_ls and not long")
    result.assert_outcomes(failed=1, deselected=5)
    result.stdout.fnmatch_lines([
        "pytest-seccomp: no seccomp profile for image pytest-seccomp/busybox:latest (looked for "
        "*/seccomp-profiles/pytest-seccomp/busybox.json); record it with `pytest --seccomp-record`*",
    ])
    assert "Traceback" not in result.stdout.str()
    lenient = enforce(pytester, "-k", "test_ls and not long", "--seccomp-missing=default")
    lenient.assert_outcomes(passed=1, deselected=5)
    lenient.stdout.fnmatch_lines(["no profile for pytest-seccomp/busybox:latest "
                                  "(pytest-seccomp/busybox.json): ran under the engine's default"])


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "*is not valid JSON (line 1, column 2*"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}',
     "*is not safe to enforce: defaultAction SCMP_ACT_ALLOW does not deny*"),
    (json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mount", "read"], "action": "SCMP_ACT_ALLOW"}]}),
     "*is not safe to enforce: mount is allowed under other conditions than the default's; it "
     "allows the runtime's own set-up syscalls mount*"),
    (json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["kexec_load"], "action": "SCMP_ACT_ALLOW"}]}),
     "*kexec_load is allowed but the default refuses it*"),
])
def test_bad_profiles_are_refused_with_their_reason(pytester, busybox_image, content, message):
    pytester.makepyfile(test_app=TESTS)
    profile = pytester.path / "seccomp-profiles" / "pytest-seccomp" / "busybox.json"
    profile.parent.mkdir(parents=True)
    profile.write_text(content)
    result = enforce(pytester, "-k", "test_ls and not long")
    result.assert_outcomes(failed=1, deselected=5)
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str()
    assert profile.read_text() == content


def test_usage_errors(pytester):
    pytester.makepyfile(test_x="def test_x(): pass")
    both = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-enforce")
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    both.stderr.fnmatch_lines(["*--seccomp-record and --seccomp-enforce cannot be combined*"])
    maybe = pytester.runpytest_subprocess("--seccomp-enforce", "--seccomp-missing=maybe")
    assert maybe.ret == pytest.ExitCode.USAGE_ERROR
    maybe.stderr.fnmatch_lines(["*'maybe' is not one of fail, default, unconfined*"])


@pytest.mark.parametrize("example", ["listing", "webapp"])
def test_examples_record_once_then_enforce_three_times_green(tmp_path: Path, busybox_image, example):
    project = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, project,
                    ignore=shutil.ignore_patterns("seccomp-profiles", "*.json", "__pycache__", "html"))

    def pytest_in_project(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=project,
                              capture_output=True, text=True, check=False)

    record = pytest_in_project("--seccomp-record")
    assert record.returncode == 0, record.stdout
    for attempt in range(3):
        run = pytest_in_project("--seccomp-enforce", "--seccomp-strict")
        assert run.returncode == 0, (attempt, run.stdout)
        assert "refused" not in run.stdout


def test_webapp_committed_profiles_pass_the_drift_check(tmp_path: Path):
    """The profiles committed in examples/webapp are what its tests need here, no more."""
    project = tmp_path / "webapp"
    shutil.copytree(ROOT / "examples" / "webapp", project,
                    ignore=shutil.ignore_patterns("__pycache__", "html", "seccomp-report.json"))
    check = subprocess.run([sys.executable, "-m", "pytest", "--seccomp-record", "--seccomp-check"],
                           cwd=project, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout
    assert check.stdout.count("unchanged)") == 3
