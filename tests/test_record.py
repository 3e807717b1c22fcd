"""End to end: real dockerd, the real eBPF tracer, real profiles (needs root)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_seccomp.profiles.engine_default import find_default
from pytest_seccomp.profiles.model import ALWAYS_ALLOWED, RUNTIME_SETUP_SYSCALLS, Profile

from .conftest import BUSYBOX, OLD, docker_run, old_profile

LS_TEST = f"""
import docker

def test_ls():
    client = docker.from_env()
    out = client.containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
    assert b"bin" in out
"""


def test_ls_profile_is_least_privilege_and_works(record, pytester):
    pytester.makepyfile(test_ls=LS_TEST)
    run = record()
    run.result.assert_outcomes(passed=1)
    run.result.stdout.fnmatch_lines(["*seccomp profiles (record)*",
                                     "pytest-seccomp/busybox: * syscalls from 1 container in 1 test -> * "
                                     "(allows * of the default's * syscalls, new)"])
    path = run.profile_dir / "pytest-seccomp" / "busybox.json"
    allowed = run.allowed("pytest-seccomp/busybox")
    assert {"execve", "getdents64", "write", "exit_group", "rt_sigreturn"} <= allowed
    assert len(allowed) <= 60
    assert not allowed & RUNTIME_SETUP_SYSCALLS
    assert Profile.load(path).wider_than(find_default("docker").profile) == []

    ok = docker_run(path, "ls", "/")
    assert ok.returncode == 0 and "bin" in ok.stdout
    refused = docker_run(path, "mkdir", "/x")
    assert refused.returncode != 0 and "Operation not permitted" in refused.stderr

    before = path.read_bytes()
    again = record()
    again.result.stdout.fnmatch_lines(["*pytest-seccomp/busybox:*, unchanged)"])
    assert path.read_bytes() == before


EVERY_WAY = f"""
import docker
import pytest

IMAGE = "{BUSYBOX}"
MKDIR = ["mkdir", "/made-by-test"]

@pytest.fixture
def client():
    c = docker.from_env()
    yield c
    c.close()

@pytest.mark.seccomp(profile="way-run")
def test_run_attached(client):
    client.containers.run(IMAGE, MKDIR, remove=True)

@pytest.mark.seccomp(profile="way-detached")
def test_run_detached(client):
    c = client.containers.run(IMAGE, MKDIR, detach=True)
    assert c.wait()["StatusCode"] == 0
    c.remove()

@pytest.mark.seccomp(profile="way-create-start")
def test_create_then_start(client):
    c = client.containers.create(IMAGE, MKDIR)
    c.start()
    assert c.wait()["StatusCode"] == 0
    c.remove()

@pytest.mark.seccomp(profile="way-low-level")
def test_low_level_api(client):
    api = client.api
    c = api.create_container(IMAGE, MKDIR)
    api.start(c)
    assert api.wait(c)["StatusCode"] == 0
    api.remove_container(c)

@pytest.mark.seccomp(profile="way-fast-exit")
def test_exits_before_inspect(client):
    client.containers.run(IMAGE, ["mkdir", "/x"], detach=True, auto_remove=True)

@pytest.mark.seccomp(profile="way-exec")
def test_exec_run(client):
    c = client.containers.run(IMAGE, ["sleep", "30"], detach=True)
    try:
        code, _ = c.exec_run(MKDIR)
        assert code == 0
    finally:
        c.remove(force=True)

@pytest.mark.seccomp(profile="way-testcontainers")
def test_testcontainers():
    from testcontainers.core.container import DockerContainer
    with DockerContainer(IMAGE).with_command("sleep 30") as c:
        code, _ = c.exec(MKDIR)
        assert code == 0

from pytest_docker_tools import container
tools_container = container(image=IMAGE, command=["sleep", "30"], timeout=30)

@pytest.mark.seccomp(profile="way-docker-tools")
def test_pytest_docker_tools(tools_container):
    code, _ = tools_container.exec_run(MKDIR)
    assert code == 0

def test_plain_ls(client):
    client.containers.run(IMAGE, ["ls", "/"], remove=True)
"""


def test_every_way_of_starting_a_container_is_recorded(record, pytester):
    pytester.makepyfile(test_ways=EVERY_WAY)
    run = record()
    run.result.assert_outcomes(passed=9)
    ways = ["run", "detached", "create-start", "low-level", "fast-exit", "exec", "testcontainers",
            "docker-tools"]
    for way in ways:
        assert "mkdir" in run.allowed(f"way-{way}"), way
    # the image's own profile saw only `ls /`: no mkdir leaked into it
    assert "mkdir" not in run.allowed("pytest-seccomp/busybox")
    profiles = run.report["profiles"]
    exec_tests = profiles["way-exec"]["tests"]
    assert "mkdir" in exec_tests["test_ways.py::test_exec_run"]
    assert profiles["way-exec"]["first_needed_by"]["mkdir"] == "test_ways.py::test_exec_run"
    container = profiles["way-exec"]["containers"][0]
    assert container["execs"][0]["command"] == "mkdir /made-by-test"
    assert container["test"] == "test_ways.py::test_exec_run"
    assert run.report["complete"] is True


def test_unconfined_container_is_not_recorded_and_said_so(record, pytester):
    # privileged=True is refused by runc on these machines (no CAP_SYS_ADMIN in the sandbox);
    # seccomp=unconfined takes the same path in the recorder.
    pytester.makepyfile(test_unconfined=f"""
import docker

def test_unconfined():
    docker.from_env().containers.run("{BUSYBOX}", ["true"], remove=True,
                                     security_opt=["seccomp=unconfined"])

def test_reaper_like_helper():
    # what testcontainers labels its Ryuk reaper with (the real image cannot be pulled here)
    docker.from_env().containers.run("{BUSYBOX}", ["true"], remove=True,
                                     labels={{"org.testcontainers": "true"}})
""")
    run = record()
    run.result.assert_outcomes(passed=2)
    run.result.stdout.fnmatch_lines(["*not recorded: container * in "
                                     "test_unconfined.py::test_unconfined: security_opt "
                                     "seccomp=unconfined runs without seccomp",
                                     "*not recorded: container * in "
                                     "test_unconfined.py::test_reaper_like_helper: "
                                     "testcontainers' Ryuk reaper*"])
    assert not run.profile_dir.exists()
    assert run.report["unrecorded_containers"][0]["reason"].startswith("security_opt")


BPF_LINKS = """
import os

def bpf_links():
    # this process's open BPF link descriptors, from /proc (the tracer's links, if any)
    found = []
    for name in os.listdir("/proc/self/fdinfo"):
        try:
            text = open(f"/proc/self/fdinfo/{name}").read()
        except OSError:
            continue
        if "link_id:" in text:
            found.append(int(name))
    return found
"""


def test_tracer_detached_mid_session_fails_loudly_and_keeps_old_profile(record, pytester):
    old = old_profile(pytester.path / "seccomp-profiles")
    pytester.makepyfile(test_kill=BPF_LINKS + f"""
import docker

def test_first():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)

def test_detach_tracer():
    # the tracer lives in this process: closing its links detaches its programs for real
    links = bpf_links()
    assert links
    for fd in links:
        os.close(fd)

def test_after():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
""")
    run = record()
    assert run.result.ret == pytest.ExitCode.INTERNAL_ERROR
    run.result.stdout.fnmatch_lines(["*ERROR: the seccomp tracer is no longer attached*"
                                     "no profile is written*"])
    assert old.read_text() == OLD
    assert run.report["complete"] is False


def test_without_options_the_plugin_changes_nothing(pytester):
    pytester.makepyfile(test_plain=BPF_LINKS + """
def test_untouched():
    assert "pytest-seccomp" not in os.environ.get("DOCKER_HOST", "")  # no proxy published

def test_no_tracer_loaded():
    assert bpf_links() == []
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert "seccomp profiles" not in result.stdout.str()
    assert not Path(pytester.path / "seccomp-profiles").exists()


def test_the_tracer_loads_before_the_conftests_and_the_session_adopts_it(record, pytester):
    """The load begins in pytest_load_initial_conftests, so the conftests' imports hide it; the
    session then traces with that tracer: one set of links, none left loading beside it."""
    pytester.makeconftest("""
import threading

LOADING_AT_CONFTEST = [t.name for t in threading.enumerate() if t.name == "pytest-seccomp-tracer"]
""")
    pytester.makepyfile(test_ls=LS_TEST, test_early=BPF_LINKS + """
def test_loading_began_before_the_conftest_and_one_tracer_runs():
    from conftest import LOADING_AT_CONFTEST

    assert LOADING_AT_CONFTEST == ["pytest-seccomp-tracer"]
    assert len(bpf_links()) == 3  # record_seen, cgroup_made, exec_noted: one tracer's
""")
    run = record()
    run.result.assert_outcomes(passed=2)
    assert "getdents64" in run.allowed("pytest-seccomp/busybox")


def test_bad_profile_dir_is_a_usage_error(pytester):
    (pytester.path / "afile").write_text("x")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-profile-dir=afile")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*exists but is not a directory*"])
    assert "Traceback" not in result.stderr.str()


def test_report_lists_syscalls_and_counts_calls_on_request(record, pytester):
    pytester.makepyfile(test_ls=LS_TEST)
    run = record()
    text = (pytester.path / "record.json").read_text()
    assert json.loads(text) == run.report
    busybox = run.report["profiles"]["pytest-seccomp/busybox"]
    assert busybox["images"] == [BUSYBOX]
    assert run.report["counts"] is False
    assert "getdents64" in busybox["syscalls"] and busybox["syscalls"] == sorted(busybox["syscalls"])
    assert busybox["first_needed_by"]["getdents64"] == "test_ls.py::test_ls"

    counted = record("--seccomp-count-calls")
    calls = counted.report["profiles"]["pytest-seccomp/busybox"]["syscalls"]
    assert counted.report["counts"] is True
    assert calls["getdents64"] >= 1 and calls["newfstatat"] > 1  # ls stats every entry of /
    # signals and scheduling make rt_sigreturn & co. come and go between runs of one test
    assert set(calls) - ALWAYS_ALLOWED == set(busybox["syscalls"]) - ALWAYS_ALLOWED


def test_counted_calls_are_exact(record, pytester):
    """--seccomp-count-calls counts in per-CPU slots flushed to a shared map: every call counted
    once (dd of N bytes makes N reads and N+1 writes: its last write is the summary)."""
    pytester.makepyfile(test_dd=f"""
import docker

def test_dd():
    docker.from_env().containers.run("{BUSYBOX}", ["dd", "if=/dev/zero", "of=/dev/null", "bs=1",
                                                   "count=123457"], remove=True)
""")
    counted = record("--seccomp-count-calls")
    counted.result.assert_outcomes(passed=1)
    calls = counted.report["profiles"]["pytest-seccomp/busybox"]["syscalls"]
    assert (calls["read"], calls["write"]) == (123457, 123457 + 1)


SHARED_BY_A_MODULE = """
import docker
import pytest

@pytest.fixture(scope="module")
def box():
    c = docker.from_env().containers.run("pytest-seccomp/busybox:latest", ["sleep", "600"],
                                         detach=True, network_mode="none")
    yield c
    c.remove(force=True)

@pytest.mark.parametrize("n", range(4))
def test_uses_the_box(box, n):
    assert box.exec_run(["true"]).exit_code == 0

def test_without_it():
    pass
"""


def test_the_summary_counts_the_tests_a_fixture_s_container_served(record, pytester):
    """One container, made by a module fixture, serves the four tests that request it: "in 4
    tests", not "in 1" (the fixture that made it) nor 5 (a test that does not use it)."""
    pytester.makepyfile(test_box=SHARED_BY_A_MODULE)
    recorded = record()
    assert recorded.result.ret == 0, recorded.result.stdout.str()[-2000:]
    recorded.result.stdout.fnmatch_lines(["pytest-seccomp/busybox: * from 1 container in 4 tests*"])


TWO_PARTS = """
import docker

def run(*cmd):
    return docker.from_env().containers.run("pytest-seccomp/busybox:latest", list(cmd),
                                            remove=True, network_mode="none")

def test_a():
    run("touch", "/made")

def test_b():
    run("sh", "-c", "mkdir /d && rmdir /d")
"""


def test_two_partial_recordings_at_once_keep_both_additions(pytester):
    """`-k test_a --seccomp-merge` and `-k test_b --seccomp-merge` into one directory at the
    same time: each reads the file it unions with under the directory's lock, so neither
    run's addition is lost (before the lock covered the read, 1 round in 3 lost one)."""
    pytester.makepyfile(test_parts=TWO_PARTS)
    profile = pytester.path / "seccomp-profiles" / "pytest-seccomp" / "busybox.json"
    for _ in range(3):
        profile.unlink(missing_ok=True)
        runs = [subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                  "-k", name, "--seccomp-record", "--seccomp-merge"],
                                 cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for name in ("test_a", "test_b")]
        for run in runs:
            out, _ = run.communicate(timeout=300)
            assert run.returncode == 0, out.decode()[-2000:]
        allowed = {n for rule in json.loads(profile.read_text())["syscalls"]
                   if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}
        assert {"utimensat", "rmdir"} <= allowed, sorted(allowed)  # (touch's, and b's only)
