"""What a new user met on the way: options that did nothing, a broken pipe, reports that hid
where they went, health checks nobody ran."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT
from pytest_seccomp.profiles.model import Profile, build_profile

from .conftest import BUSYBOX


@pytest.mark.parametrize(("args", "message"), [
    (["--seccomp-html=h"], "*--seccomp-html goes with --seccomp-record and would do nothing here*"),
    (["--seccomp-enforce", "--seccomp-html=h"], "*--seccomp-html goes with --seccomp-record*"),
    (["--seccomp-enforce", "--seccomp-merge"], "*--seccomp-merge goes with --seccomp-record*"),
    (["--seccomp-enforce", "--seccomp-report=r.json"], "*--seccomp-report goes with*"),
    (["--seccomp-enforce", "--seccomp-count-calls"], "*--seccomp-count-calls goes with*"),
    (["--seccomp-record", "--seccomp-strict"], "*--seccomp-strict goes with --seccomp-enforce*"),
    (["--seccomp-record", "--seccomp-missing=default"], "*--seccomp-missing goes with*"),
    (["--seccomp-check"], "*--seccomp-check goes with --seccomp-record*"),
    (["--seccomp-strict", "--seccomp-missing=fail"],
     "*--seccomp-missing, --seccomp-strict go with --seccomp-enforce*"),
])
def test_options_that_would_do_nothing_are_usage_errors(pytester, args, message):
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_show_into_a_closed_pipe_ends_quietly(tmp_path):
    """`pytest-seccomp show profile.json | head`: the reader went away; no traceback."""
    profile = tmp_path / "p.json"
    build_profile({"read", "write", "socket", "mkdir"}, Profile.load(DOCKER_DEFAULT)).save(profile)
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `head` does once it has its lines
    try:
        shown = subprocess.run([sys.executable, "-m", "pytest_seccomp", "show", str(profile)],
                               stdout=write_end, stderr=subprocess.PIPE, text=True, check=False)
    finally:
        os.close(write_end)
    assert shown.stderr == ""
    assert shown.returncode == 141  # as a process SIGPIPE ended


HEALTH = f"""
import docker

def test_service():
    c = docker.from_env().containers.run(
        "{BUSYBOX}", ["sleep", "30"], detach=True,
        healthcheck={{"test": ["CMD-SHELL", "ls /bin"], "interval": INTERVAL}})
    try:
        WAIT
    finally:
        c.remove(force=True)
"""
EXEC = 'assert c.exec_run(["sh", "-c", "ls /bin"])[0] == 0'
ENGINE = """import time
        for _ in range(100):
            c.reload()
            if (c.attrs["State"].get("Health") or {}).get("Log"):
                break
            time.sleep(0.1)"""


@pytest.mark.parametrize(("interval", "wait", "reported"), [
    (86_400 * 10**9, "pass", True),  # the engine would run it in a day: nobody ran it
    (86_400 * 10**9, EXEC, False),  # a test ran the health command itself
    (10**8, ENGINE, False),  # the engine ran it (every 0.1 s) while the test ran
])
def test_an_image_whose_healthcheck_never_ran_is_named(record, pytester, interval, wait, reported):
    pytester.makepyfile(test_health=HEALTH.replace("INTERVAL", str(interval)).replace("WAIT", wait))
    recorded = record()
    recorded.result.assert_outcomes(passed=1)
    line = f"healthcheck never ran: {BUSYBOX} (HEALTHCHECK ls /bin)*exec_run"
    never_ran = recorded.report["healthchecks_never_ran"]
    if reported:
        recorded.result.stdout.fnmatch_lines([line])
        assert never_ran == {BUSYBOX: "ls /bin"}
    else:
        assert "healthcheck never ran" not in recorded.result.stdout.str()
        assert never_ran == {}


def test_reports_say_where_they_went_and_a_new_profile_page_opens_calmly(record, pytester):
    pytester.makepyfile(test_ls=f"""
import docker
def test_ls():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
""")
    recorded = record("--seccomp-html=html")
    recorded.result.stdout.fnmatch_lines(["HTML report: html/index.html", "JSON report: *record.json"])
    page = (pytester.path / "html" / "pytest-seccomp__busybox.html").read_text()
    assert "new: there was no committed profile to compare with" in page
    assert 'class="added"' not in page
