"""--seccomp-coverage end to end: the webapp example's images read through the real engine, each
profile's never-seen syscalls named with binary and reason, nothing added to a profile, the
second run from the cache; a Go image with no shell, a static busybox, a non-ELF exec and a
missing program each get their line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from .conftest import BUSYBOX, allowed_names, example_copy, require_image

WEBAPP_IMAGES = ("pytest-seccomp/webapp:latest", "pytest-seccomp/redis:latest",
                 "pytest-seccomp/postgres:latest")


def _pytest(project: Path, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-p", "no:randomly", *args], cwd=project, capture_output=True,
                          text=True, check=False, timeout=600,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache)})


@pytest.fixture(scope="module")
def webapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_copy("webapp", tmp_path_factory.mktemp("coverage"), WEBAPP_IMAGES)


def test_the_webapp_profiles_name_what_no_test_made_with_binary_and_reason(webapp, tmp_path):
    cache = tmp_path / "cache"
    first = _pytest(webapp, "--seccomp-record", "--seccomp-coverage", "--seccomp-report",
                    "record.json", "--seccomp-html", "html", cache=cache)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    report = json.loads((webapp / "record.json").read_text())
    for name in ("pytest-seccomp/webapp", "pytest-seccomp/redis", "pytest-seccomp/postgres"):
        profile = report["profiles"][name]
        coverage = profile["coverage"]
        assert 0 < coverage["covered"] < coverage["possible"], (name, coverage)
        assert coverage["never_seen"], (name, coverage)
        for entry in coverage["never_seen"]:
            assert entry["binary"].startswith("/") and entry["via"], entry
        allowed = allowed_names(json.loads((webapp / "seccomp-profiles" / f"{name}.json")
                                           .read_text()))
        # advisory only: nothing never seen is in the profile, the tests' syscalls are covered
        assert not {e["name"] for e in coverage["never_seen"]} & allowed, name
        line = next(x for x in first.stdout.splitlines() if x.startswith(f"coverage {name}:"))
        assert f"{coverage['covered']} of {coverage['possible']} possible syscalls" in line
        assert "never seen:" in line
    redis = report["profiles"]["pytest-seccomp/redis"]["coverage"]
    assert redis["binaries"][0] == "/usr/bin/redis-server"  # as the command names it
    assert any(e["binary"] == "/usr/bin/redis-server" and e["via"].startswith("imports ")
               for e in redis["never_seen"]), redis["never_seen"][:10]
    webapp_coverage = report["profiles"]["pytest-seccomp/webapp"]["coverage"]
    assert any("python3 imports dlopen" in note for note in webapp_coverage["not_read"])
    assert not report["profiles"]["pytest-seccomp/webapp"]["coverage"]["cached"]
    page = next((webapp / "html").glob("*webapp*.html")).read_text()
    assert 'id="coverage"' in page and 'id="never-seen"' in page
    # the second run asks the engine for no file: every image's files come from the cache
    second = _pytest(webapp, "--seccomp-record", "--seccomp-check", "--seccomp-coverage",
                     "--seccomp-report", "again.json", cache=cache)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    again = json.loads((webapp / "again.json").read_text())
    for name, profile in again["profiles"].items():
        assert profile["coverage"]["cached"], name
        assert (profile["coverage"]["possible"]
                == report["profiles"][name]["coverage"]["possible"]), name


AWKWARD = f"""
import docker

def test_awkward_images():
    client = docker.from_env()
    go = client.containers.run("pytest-seccomp/go:latest", detach=True)
    go.remove(force=True)
    box = client.containers.run("{BUSYBOX}", ["sleep", "30"], detach=True)
    box.exec_run(["/etc/passwd"])
    box.remove(force=True)
    client.containers.create("{BUSYBOX}", ["/no/such/program"]).remove()
"""


def test_a_go_image_without_a_shell_a_static_busybox_and_files_that_are_not_programs(
        record, pytester):
    client = docker.from_env()
    require_image(client, "pytest-seccomp/go:latest")
    client.close()
    pytester.makepyfile(test_awkward=AWKWARD)
    recorded = record("--seccomp-coverage")
    assert recorded.result.ret == 0, recorded.result.stdout.str()[-3000:]
    go = recorded.report["profiles"]["pytest-seccomp/go"]["coverage"]
    assert go["binaries"] == ["/goservice"]
    assert any("goservice is a Go program" in n for n in go["not_read"]), go["not_read"]
    assert go["never_seen"] and all(e["via"] == "makes it directly" for e in go["never_seen"])
    box = recorded.report["profiles"]["pytest-seccomp/busybox"]["coverage"]
    notes = box["not_read"]
    assert any(n.startswith("busybox is statically linked") for n in notes), notes
    assert "passwd is neither an ELF file nor a script" in notes, notes
    assert "/no/such/program (the container's command) is not in the image" in notes, notes
    out = recorded.result.stdout.str()
    assert "  not read: passwd is neither an ELF file nor a script" in out
    assert "Traceback" not in out


STARTED_BY_SCRIPTS = """
import time

import docker


def _run_a_while(image):
    client = docker.from_env()
    box = client.containers.run(image, detach=True, network_mode="none")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(box.top()["Processes"] or []) < 1:
        time.sleep(0.2)
    time.sleep(3)  # the script has exec'd what it starts
    box.remove(force=True)


def test_a_server_behind_a_start_script():
    _run_a_while("pytest-seccomp/start-script:latest")


def test_an_entrypoint_that_execs_its_arguments():
    _run_a_while("pytest-seccomp/entry-exec:latest")


def test_a_launcher_that_execs_the_vm():
    _run_a_while("pytest-seccomp/jvm-launcher:latest")
"""


def test_coverage_reads_the_programs_that_ran_not_only_the_command_s_first_word(record, pytester):
    """Images started the way official ones are: a start script naming its server through a
    variable, an entrypoint ending in `exec "$@"`, a launcher that execs the VM it found. What
    the tracer saw exec'd is read with its libraries (the JVM's libjvm too); a script's `.`,
    its `case` patterns and its builtins are never programs."""
    client = docker.from_env()
    for image in ("start-script", "entry-exec", "jvm-launcher"):
        require_image(client, f"pytest-seccomp/{image}:latest")
    client.close()
    pytester.makepyfile(test_scripts=STARTED_BY_SCRIPTS)
    recorded = record("--seccomp-coverage")
    assert recorded.result.ret == 0, recorded.result.stdout.str()[-3000:]
    profiles = recorded.report["profiles"]

    def binaries(image: str) -> list[str]:
        return profiles[f"pytest-seccomp/{image}"]["coverage"]["binaries"]

    def notes(image: str) -> list[str]:
        return profiles[f"pytest-seccomp/{image}"]["coverage"]["not_read"]

    assert "/usr/local/bin/start.sh" in binaries("start-script")
    assert "/usr/bin/redis-server" in binaries("start-script"), binaries("start-script")
    assert "/usr/bin/python3" in binaries("entry-exec")  # (Debian's links libpython in)
    assert any("libexpat" in b for b in binaries("entry-exec")), binaries("entry-exec")
    for image, ran in (("start-script", "/usr/bin/redis-server"),
                       ("entry-exec", "/usr/bin/python3"), ("jvm-launcher", "/bin/java")):
        containers = profiles[f"pytest-seccomp/{image}"]["containers"]
        assert any(p.endswith(ran) for c in containers for p in c["programs"]), containers
    assert any(b.endswith("/bin/java") for b in binaries("jvm-launcher"))
    assert any(b.endswith("/libjvm.so") for b in binaries("jvm-launcher")), binaries("jvm-launcher")
    for image in ("start-script", "entry-exec", "jvm-launcher"):
        listed = binaries(image) + notes(image)
        assert not [b for b in listed if b.endswith("/.") or "os-release" in b
                    or b.endswith(")")], (image, listed)
        never = {e["name"] for e in profiles[f"pytest-seccomp/{image}"]["coverage"]["never_seen"]
                 if e["via"] == "imports " + e["name"]}
        assert not never & {"clock_gettime", "gettimeofday", "time"}, (image, never)
