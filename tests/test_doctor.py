"""`pytest-seccomp doctor` on this machine, and with a piece taken away: the engine unreachable,
and then Debian's default.json hidden too (a private mount namespace, so nothing outside the
test sees it gone). Each missing piece is named with its fix, and the exit status says whether
a recording can work."""

from __future__ import annotations

import os
import subprocess
import sys

from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT


def doctor(env: dict[str, str] | None = None, hide_default: bool = False
           ) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest_seccomp", "doctor"]
    if hide_default:  # /dev/null over the file: it is no longer a file there
        command = ["unshare", "-m", "sh", "-c",
                   f"mount --bind /dev/null {DOCKER_DEFAULT} && exec \"$@\"", "sh", *command]
    return subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})


def test_every_check_is_ok_here():
    ran = doctor()
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == [
        "kernel", "cgroups", "engine", "default", "privileges", "tracer"]
    assert all(line.startswith("OK ") for line in lines[:-1]), ran.stdout
    assert "docker 20.10" in ran.stdout and "runtime runc" in ran.stdout
    assert lines[-1] == "ready to record: `pytest --seccomp-record`"


def test_a_stopped_engine_and_a_hidden_default_are_named_with_their_fix():
    away = {"DOCKER_HOST": "unix:///run/pytest-seccomp-no-engine.sock"}
    ran = doctor(away)
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert "MISSING  engine           no engine answered at unix:///run/pytest-seccomp-no-" \
        in ran.stdout and "start it" in ran.stdout
    assert "NOTE     default profile  " + str(DOCKER_DEFAULT) in ran.stdout
    both = doctor(away, hide_default=True)
    assert both.returncode == 1, both.stdout + both.stderr
    assert "MISSING  default profile  the Docker engine's default seccomp profile was not found" \
        in both.stdout and "--seccomp-default-profile=PATH" in both.stdout
    answering = doctor(hide_default=True)  # the engine's version picks the shipped copy
    assert answering.returncode == 0 and "this package's copy of the engine's release" \
        in answering.stdout, answering.stdout + answering.stderr
