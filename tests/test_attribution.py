"""End to end: every syscall and refusal belongs to the window that saw it (a test, a fixture, the
time after the tests), also in a container an earlier fixture started and the test only talks to
over the network."""

from __future__ import annotations

import json

import pytest

from .conftest import BUSYBOX

# A module-scoped service, as most suites have one: it listens, and does something new (mkdir)
# only when a client connects; on SIGTERM (the fixture's teardown) it runs rmdir.
SHARED = f"""
import socket, time
import docker, pytest

IMAGE = "{BUSYBOX}"
SCRIPT = ("trap 'rmdir /tmp/x; exit 0' TERM; "
          "(nc -l -p 7000 >/dev/null; mkdir /tmp/x) & sleep 600 & wait")

@pytest.fixture(scope="module")
def box():
    c = docker.from_env().containers.run(IMAGE, ["sh", "-c", SCRIPT], detach=True)
    c.reload()
    yield c
    c.stop(timeout=10)
    c.remove(force=True)

def test_ping(box):
    assert box.exec_run(["true"])[0] == 0

def test_trigger(box):
    # only the network: no create, start or exec in this test
    ip = box.attrs["NetworkSettings"]["IPAddress"]
    for _ in range(50):
        try:
            with socket.create_connection((ip, 7000), timeout=1) as s:
                s.sendall(b"go")
            break
        except OSError:
            time.sleep(0.1)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if any(ch["Path"] == "/tmp/x" for ch in box.diff() or []):
            break
        time.sleep(0.1)
"""

# A container still running when the last test ends, stopped by the suite's own clean-up hook:
# what it does then happened after the tests, and must be reported, not dropped.
LATE = f"""
import docker, pytest

IMAGE = "{BUSYBOX}"

def test_ls():
    docker.from_env().containers.run(IMAGE, ["sh", "-c", "ls / >/dev/null; sleep 0; ls /bin >/dev/null"],
                                     remove=True)

def test_leaves_a_container_running():
    docker.from_env().containers.run(IMAGE, ["sh", "-c", "ls / >/dev/null; sleep 1; mkdir /late"],
                                     detach=True, name="late-worker")
"""
LATE_CONFTEST = """
import docker

def pytest_sessionfinish(session):
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"name": "late-worker"}):
        c.wait(timeout=30)
        c.remove(force=True)
"""


def enforce(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--seccomp-enforce", "-p", "no:cacheprovider", *args)


def test_record_credits_the_test_whose_window_saw_the_syscall(record, pytester):
    pytester.makepyfile(test_shared=SHARED)
    recorded = record()
    recorded.result.assert_outcomes(passed=2)
    busybox = recorded.report["profiles"]["pytest-seccomp/busybox"]
    first = busybox["first_needed_by"]
    fixture = "fixture box (module-scoped, test_shared.py)"
    assert first["mkdir"] == "test_shared.py::test_trigger"
    assert first["listen"] == fixture  # the fixture's set-up started the service
    assert first["rmdir"] == fixture  # its teardown stopped it (SIGTERM trap)
    assert "mkdir" in busybox["tests"]["test_shared.py::test_trigger"]
    assert "mkdir" not in busybox["tests"].get("test_shared.py::test_ping", [])
    (container,) = busybox["containers"]
    assert container["test"] == fixture  # started by the fixture, not by test_ping


def test_enforce_names_a_refusal_in_a_container_an_earlier_fixture_started(record, pytester):
    pytester.makepyfile(test_shared=SHARED)
    record("-k", "test_ping").result.assert_outcomes(passed=1, deselected=1)
    assert "mkdir" not in set(json.loads(
        (pytester.path / "seccomp-profiles/pytest-seccomp/busybox.json").read_text()
    )["syscalls"][0]["names"])

    result = enforce(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "refused in test_shared.py::test_trigger: passed anyway: *mkdir (mkdir, *)",
        "warning: 1 test passed although syscalls were refused*",
    ])
    assert "refused in test_shared.py::test_ping" not in result.stdout.str()

    strict = enforce(pytester, "--seccomp-strict")
    strict.assert_outcomes(passed=2, errors=1)
    strict.stdout.fnmatch_lines([
        "*ERROR at teardown of test_trigger*",
        "*pytest-seccomp (--seccomp-strict): syscalls were refused while this test ran*",
        "*  mkdir  x1  by process 'mkdir'*",
    ])


def test_a_failed_test_with_refusals_is_not_called_passed(record, pytester):
    pytester.makepyfile(test_shared=SHARED)
    record("-k", "test_ping").result.assert_outcomes(passed=1, deselected=1)
    pytester.makepyfile(test_shared=SHARED.replace(
        "            break\n        time.sleep(0.1)\n",
        "            break\n        time.sleep(0.1)\n    assert False, 'the service failed'\n"))
    result = enforce(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["refused in test_shared.py::test_trigger: failed: *mkdir (mkdir, *)"])
    assert "passed anyway" not in result.stdout.str()
    strict = enforce(pytester, "--seccomp-strict")
    strict.assert_outcomes(passed=1, failed=1, errors=1)


def test_refusals_after_the_last_test_are_reported_not_dropped(record, pytester):
    pytester.makepyfile(test_late=LATE)
    pytester.makeconftest(LATE_CONFTEST)
    record("-k", "test_ls").result.assert_outcomes(passed=1, deselected=1)
    result = enforce(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "refused in (after the tests): mkdir (mkdir, *)",
        "warning: syscalls were refused outside every test*",
    ])
    assert result.ret == 0
    strict = enforce(pytester, "--seccomp-strict")
    strict.assert_outcomes(passed=2)
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["*; --seccomp-strict fails the run"])


def test_many_containers_each_get_exactly_their_own_syscalls(record, pytester):
    """More containers than the seen cache has regions (32): slots are shared and evicted, and
    still no container loses a syscall or gains another's."""
    pytester.makepyfile(test_many=f"""
import docker, pytest

@pytest.mark.parametrize("i", range(40))
def test_one(i):
    command = ["mkdir", "/made"] if i % 2 else ["ls", "/"]
    docker.from_env().containers.run("{BUSYBOX}", command, remove=True, name=f"many-{{i}}")
""")
    recorded = record()
    recorded.result.assert_outcomes(passed=40)
    containers = recorded.report["profiles"]["pytest-seccomp/busybox"]["containers"]
    assert len(containers) == 40
    for container in containers:
        made = set(container["syscalls"])
        if int(container["name"].split("-")[1]) % 2:
            assert "mkdir" in made and "getdents64" not in made, container["name"]
        else:
            assert "getdents64" in made and "mkdir" not in made, container["name"]
