"""End to end: every client reaches the engine through the session's proxy, so its containers
are recorded and enforced, and a refusal is named with its test; a client that bypasses the
proxy is named, never silently missed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import BUSYBOX, ROOT

COMPOSE_FILE = f"""
services:
  box:
    image: {BUSYBOX}
    command: ["sleep", "600"]
"""

# Each client: a test that lists / (recorded), and one that also makes a directory (not
# recorded: enforce must refuse mkdir and name it with that test).
CLIENTS = {
    "docker-cli": f"""
import subprocess
def act(*cmd):
    return subprocess.run([CLI, "run", "--rm", "{BUSYBOX}", *cmd], capture_output=True, text=True)
def test_ok():
    assert act("ls", "/").returncode == 0
def test_mkdir():
    out = act("mkdir", "/x")
    assert out.returncode == 0, out.stderr
""",
    "compose": """
import pathlib, subprocess
import pytest
HERE = pathlib.Path(__file__).parent
@pytest.fixture(scope="module")
def project():
    compose = COMPOSE + ["-p", "clients", "-f", str(HERE / "compose.yml")]
    subprocess.run(compose + ["up", "-d"], check=True, capture_output=True)
    yield compose
    subprocess.run(compose + ["down", "-t", "1"], check=True, capture_output=True)
def act(project, *cmd):
    return subprocess.run(project + ["exec", "-T", "box", *cmd], capture_output=True, text=True)
def test_ok(project):
    assert act(project, "ls", "/").returncode == 0
def test_mkdir(project):
    out = act(project, "mkdir", "/x")
    assert out.returncode == 0, out.stderr
""",
    "python-on-whales": f"""
from python_on_whales import docker
def test_ok():
    docker.run("{BUSYBOX}", ["ls", "/"], remove=True)
def test_mkdir():
    docker.run("{BUSYBOX}", ["mkdir", "/x"], remove=True)
""",
    "testcontainers-compose": """
import pathlib
from testcontainers.compose import DockerCompose
HERE = pathlib.Path(__file__).parent
def act(*cmd):
    with DockerCompose(HERE, compose_file_name="compose.yml") as compose:
        return compose.exec_in_container(list(cmd), service_name="box")
def test_ok():
    assert act("ls", "/")[2] == 0
def test_mkdir():
    out = act("mkdir", "/x")
    assert out[2] == 0, out
""",
}


def clis() -> list[str]:
    """Every docker CLI on the machine (Debian's 20.10, a newer static one on PATH)."""
    found = []
    for path in ("/usr/bin/docker", shutil.which("docker")):
        if path and Path(path).exists() and Path(path).resolve() not in \
                [Path(f).resolve() for f in found]:
            found.append(path)
    return found


def composes() -> list[list[str]]:
    """compose v2 (the docker CLI plugin) and v1 (Debian's docker-compose), where present."""
    found = [["docker", "compose"]]
    if Path("/usr/bin/docker-compose").exists():
        found.append(["/usr/bin/docker-compose"])
    return found


CASES = ([pytest.param("docker-cli", {"CLI": repr(c)}, id=f"cli-{c}") for c in clis()]
         + [pytest.param("compose", {"COMPOSE": repr(c)}, id=f"compose-{' '.join(c)}")
            for c in composes()]
         + [pytest.param("python-on-whales", {}, id="python-on-whales"),
            pytest.param("testcontainers-compose", {}, id="testcontainers-compose")])


def project_with(pytester: pytest.Pytester, client: str, values: dict[str, str]) -> None:
    source = "\n".join(f"{k} = {v}" for k, v in values.items()) + CLIENTS[client]
    pytester.makepyfile(test_client=source)
    (pytester.path / "compose.yml").write_text(COMPOSE_FILE)


@pytest.mark.parametrize(("client", "values"), CASES)
def test_each_client_is_recorded_then_enforced_and_a_refusal_is_named(
        record, pytester, busybox_image, client, values):
    project_with(pytester, client, values)
    recorded = record("-k", "test_ok")
    recorded.result.assert_outcomes(passed=1, deselected=1)
    busybox = recorded.report["profiles"]["pytest-seccomp/busybox"]
    assert "getdents64" in busybox["syscalls"]
    assert "setgroups" in busybox["runtime_syscalls"]  # runc's own steps, kept apart
    assert "mkdir" not in busybox["syscalls"]
    assert recorded.report["unrecorded_containers"] == []

    enforce = pytester.runpytest_subprocess("--seccomp-enforce", "--seccomp-strict")
    enforce.assert_outcomes(passed=1, failed=1, errors=1)  # strict: an error at its teardown
    enforce.stdout.fnmatch_lines([
        "*seccomp refusals (call)*",
        "container *, image pytest-seccomp/busybox:latest, under *busybox.json was refused:",
        "  mkdir  x1  by process 'mkdir'",
        "remedy: pytest --seccomp-record --seccomp-merge 'test_client.py::test_mkdir'*",
    ])
    enforce.stdout.fnmatch_lines(["refused in test_client.py::test_mkdir: failed: mkdir (mkdir, *)"])
    assert "refused in test_client.py::test_ok" not in enforce.stdout.str()
    assert "not enforced" not in enforce.stdout.str()


BYPASS = f"""
import subprocess
def test_bypasses_the_proxy():
    subprocess.run(["docker", "-H", "unix:///var/run/docker.sock", "run", "--rm",
                    "--name", "bypasser", "{BUSYBOX}", "sleep", "0.5"], check=True)
def test_through_the_proxy():
    subprocess.run(["docker", "run", "--rm", "{BUSYBOX}", "true"], check=True)
"""


def test_a_client_that_bypasses_the_proxy_is_named(record, pytester, busybox_image):
    pytester.makepyfile(test_bypass=BYPASS)
    recorded = record()
    recorded.result.assert_outcomes(passed=2)
    recorded.result.stdout.fnmatch_lines([
        "not recorded: container *, first seen in test_bypass.py::test_bypasses_the_proxy, was "
        "started by a client that bypassed the session's DOCKER_HOST*"])
    (stranger,) = [c for c in recorded.report["unrecorded_containers"]
                   if c["reason"] == "started outside the session's proxy"]
    assert stranger["test"] == "test_bypass.py::test_bypasses_the_proxy"
    enforce = pytester.runpytest_subprocess("--seccomp-enforce")
    enforce.assert_outcomes(passed=2)
    assert enforce.ret == 0
    enforce.stdout.fnmatch_lines(["not enforced: container *test_bypasses_the_proxy*"])
    strict = pytester.runpytest_subprocess("--seccomp-enforce", "--seccomp-strict")
    strict.assert_outcomes(passed=2)
    assert strict.ret == pytest.ExitCode.TESTS_FAILED


def test_containers_running_before_the_session_are_not_strangers(record, pytester, busybox_image):
    import docker

    client = docker.from_env()
    before = client.containers.run(BUSYBOX, ["sleep", "60"], detach=True)
    try:
        pytester.makepyfile(test_one=f"""
import subprocess
def test_ls():
    subprocess.run(["docker", "exec", "{before.id}", "ls", "/"], check=True, capture_output=True)
""")
        recorded = record()
        recorded.result.assert_outcomes(passed=1)
        assert "not recorded" not in recorded.result.stdout.str()
    finally:
        before.remove(force=True)
        client.close()


def test_compose_example_is_recorded_enforced_and_deployed_with_its_override(tmp_path):
    """examples/compose (pytest-docker, a built service with a bind mount): record, enforce,
    then run the project with the override file under real compose."""
    project = tmp_path / "compose"
    shutil.copytree(ROOT / "examples" / "compose", project,
                    ignore=shutil.ignore_patterns("seccomp-profiles", "__pycache__", "*.seccomp.yml"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=project, capture_output=True, text=True, check=False)

    recorded = run(sys.executable, "-m", "pytest", "--seccomp-record")
    assert recorded.returncode == 0, recorded.stdout
    # the built service's profile is named after the service, not the per-run project
    assert (project / "seccomp-profiles" / "web.json").exists()
    assert "fixture docker_services" not in recorded.stdout  # attribution is in the report
    for _ in range(2):
        enforced = run(sys.executable, "-m", "pytest", "--seccomp-enforce", "--seccomp-strict")
        assert enforced.returncode == 0, enforced.stdout
        assert "web: 1 container under seccomp-profiles/web.json" in enforced.stdout
    override = run(sys.executable, "-m", "pytest_seccomp", "compose-override", "docker-compose.yml")
    assert override.returncode == 0, override.stderr
    compose = ["docker", "compose", "-p", f"deploy{tmp_path.name[-8:]}".lower(), "-f",
               "docker-compose.yml", "-f", "docker-compose.seccomp.yml"]
    try:
        up = run(*compose, "up", "-d", "--wait")
        assert up.returncode == 0, up.stderr
        ps = run(*compose, "ps", "-q")
        for container in ps.stdout.split():
            inspect = run("docker", "inspect", "--format",
                          "{{json .HostConfig.SecurityOpt}}", container)
            options = json.loads(inspect.stdout)
            assert any(o.startswith("seccomp={") for o in options)
            # recorded without --seccomp-nnp: the services start as users deploy them
            assert not [o for o in options if o.startswith("no-new-privileges")]
        port = run(*compose, "port", "web", "8000").stdout.strip().rsplit(":", 1)[1]
        import time
        import urllib.request

        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    assert int(answer.read()) >= 1
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the service did not answer under its profile")
    finally:
        run(*compose, "down", "-t", "1")
