"""The tracer in a helper container: as root with --seccomp-tracer=helper, as a user in the
`docker` group (auto), and from inside an unprivileged container that has only the engine's
socket (auto). The real engine, the real helper, the real kernel."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import pytest

from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT
from pytest_seccomp.tracing.helper import LABEL_IMAGE, _image_tar, image_files, image_tag
from pytest_seccomp.tracing.placement import LABEL_HELPER

from .conftest import (
    BUSYBOX,
    EXTRA_MARKER_INI,
    LS_THEN_MKDIR,
    OLD,
    allowed_names,
    interruptible,
    old_profile,
    require_image,
)

TESTS, INI = LS_THEN_MKDIR, EXTRA_MARKER_INI
USER = "seccomp-dev"
DEVCONTAINER = "pytest-seccomp/devcontainer:latest"


def helpers() -> list[str]:
    """Helper containers on the engine now, running or not."""
    client = docker.from_env()
    try:
        return [c["Id"] for c in client.api.containers(all=True, filters={"label": LABEL_HELPER})]
    finally:
        client.close()


def no_helper_within(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while helpers():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def allowed(profile: Path) -> set[str]:
    return allowed_names(json.loads(profile.read_text()))


def test_the_helper_records_enforces_and_names_a_refusal(pytester, busybox_image):
    pytester.makeini(INI)
    pytester.makepyfile(test_app=TESTS)
    record = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-tracer=helper",
                                           "-m", "not extra")
    record.assert_outcomes(passed=1, deselected=1)
    record.stdout.fnmatch_lines(["seccomp: recording into * tracer: in a helper container)"])
    profile = pytester.path / "seccomp-profiles" / "pytest-seccomp" / "busybox.json"
    assert "getdents64" in allowed(profile) and "mkdir" not in allowed(profile)
    enforce = pytester.runpytest_subprocess("--seccomp-enforce", "--seccomp-tracer=helper")
    enforce.assert_outcomes(passed=1, failed=1)
    enforce.stdout.fnmatch_lines(["*seccomp refusals*", "*under *busybox.json was refused:",
                                  "  mkdir  x1  by process 'mkdir'"])
    assert no_helper_within(10), helpers()


def test_an_engine_on_another_kernel_moves_the_early_load_to_the_helper(pytester, busybox_image):
    """auto starts loading here before the engine has answered (root, a unix socket); when the
    engine then reports another kernel release (Docker Desktop's VM), that load is dropped and
    the helper traces. The other kernel is played by this process's uname."""
    pytester.makeconftest("""
import os

real_uname = os.uname

class _Other:
    def __init__(self, real):
        self._real = real
        self.release = real.release + "-not-the-engines"
    def __getattr__(self, name):
        return getattr(self._real, name)

os.uname = lambda: _Other(real_uname())
""")
    pytester.makeini(INI)
    pytester.makepyfile(test_app=TESTS)
    record = pytester.runpytest_subprocess("--seccomp-record", "-m", "not extra")
    record.assert_outcomes(passed=1, deselected=1)
    record.stdout.fnmatch_lines(["seccomp: recording into * tracer: in a helper container)"])
    profile = pytester.path / "seccomp-profiles" / "pytest-seccomp" / "busybox.json"
    assert "getdents64" in allowed(profile) and "mkdir" not in allowed(profile)
    assert no_helper_within(10), helpers()


def test_xdist_workers_each_start_a_helper_and_none_is_taken_for_a_stranger(pytester,
                                                                             busybox_image):
    pytester.makepyfile(test_app=f"""
import docker, pytest

@pytest.mark.parametrize("n", range(4))
def test_ls(n):
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
""")
    result = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-tracer=helper",
                                           "-n", "2", "--seccomp-report=r.json")
    result.assert_outcomes(passed=4)
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["complete"] and not report["unrecorded_containers"], report
    assert len(report["profiles"]["pytest-seccomp/busybox"]["containers"]) == 4
    assert no_helper_within(10), helpers()


def test_a_helper_removed_mid_session_fails_it_and_keeps_the_old_profile(pytester, busybox_image):
    old = old_profile(pytester.path / "seccomp-profiles")
    pytester.makepyfile(test_app=f"""
import docker

def test_ls():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)

def test_remove_the_helper():
    client = docker.from_env()
    for c in client.containers.list(filters={{"label": "{LABEL_HELPER}"}}):
        c.remove(force=True)

def test_ls_again():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "-l", "/"], remove=True)
""")
    result = pytester.runpytest_subprocess("--seccomp-record", "--seccomp-tracer=helper")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*the seccomp tracer's helper container (*) stopped*"])
    assert old.read_text() == OLD


def test_an_image_two_sessions_imported_at_once_leaves_no_untagged_copy(pytester, busybox_image):
    """xdist workers that both find no helper image import it twice; the first copy loses its
    tag, and the next helper's sweep removes it (3 GB of them had piled up on a CI machine)."""
    client = docker.from_env()
    files = image_files(client.api.info()["Architecture"].replace("amd64", "x86_64"))
    tag = image_tag(files)
    for _ in range(2):  # what two racing imports do
        client.api.import_image_from_data(_image_tar(files), repository=tag,
                                          changes=[f"LABEL {LABEL_IMAGE}=test"])
    untagged = {"dangling": True, "label": LABEL_IMAGE}
    assert client.api.images(filters=untagged)
    pytester.makepyfile(test_app=f"""
import docker

def test_ls():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
""")
    pytester.runpytest_subprocess("--seccomp-record", "--seccomp-tracer=helper").assert_outcomes(
        passed=1)
    assert not client.api.images(filters=untagged)
    assert client.api.images(name=tag)
    client.close()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_a_stopped_session_leaves_no_helper_and_the_next_start_sweeps_leftovers(
        pytester, busybox_image, how):
    client = docker.from_env()  # a helper whose session ended before it could remove it
    leftover = client.api.create_container(BUSYBOX, ["true"], labels={LABEL_HELPER: "gone"})
    client.api.start(leftover["Id"])
    client.api.wait(leftover["Id"])
    client.close()
    pytester.makepyfile(test_app=f"""
import time, docker

def test_slow():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
    time.sleep(60)
""")
    session = subprocess.Popen(
        ["python", "-m", "pytest", "-p", "no:cacheprovider", "--seccomp-record",
         "--seccomp-tracer=helper"], cwd=pytester.path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=interruptible)
    try:
        deadline = time.monotonic() + 60
        while leftover["Id"] in helpers() or not helpers():  # swept, then its own started
            assert time.monotonic() < deadline and session.poll() is None
            time.sleep(0.1)
        time.sleep(1)
        os.killpg(session.pid, how)  # (SIGKILL: no clean-up of ours runs)
        session.wait(timeout=10)
        assert no_helper_within(15), helpers()
    finally:
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)
        session.communicate()


def _venv_for_anyone(wheelhouse: Path) -> Path:
    """Debian's python3 with the wheel installed by pip alone, in a directory anyone reads."""
    base = Path(tempfile.mkdtemp(prefix="pytest-seccomp-user-"))
    base.chmod(0o755)
    venv = base / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
         "--find-links", str(wheelhouse), "pytest-seccomp"], capture_output=True, text=True,
        check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return venv


def test_a_docker_group_user_records_and_enforces_and_owns_the_profiles(
        tmp_path_factory, wheelhouse, busybox_image):
    """Test 1 of the issue: no sudo, no root; the profiles in the checkout are the user's."""
    if subprocess.run(["id", USER], capture_output=True, check=False).returncode != 0:
        subprocess.run(["useradd", "--create-home", "--groups", "docker", USER], check=True)
    subprocess.run(["usermod", "--append", "--groups", "docker", USER], check=True)
    user = pwd.getpwnam(USER)
    venv = _venv_for_anyone(wheelhouse)
    project = venv.parent / "project"
    project.mkdir()
    (project / "pytest.ini").write_text(INI)
    (project / "test_app.py").write_text(TESTS)
    subprocess.run(["chown", "-R", f"{USER}:", str(project)], check=True)
    env = {"PATH": f"{venv}/bin:/usr/bin:/bin", "HOME": user.pw_dir, "LANG": "C.UTF-8"}
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"

    def as_user(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([runuser, "-u", USER, "--", str(venv / "bin" / "python"), "-m",
                               "pytest", "-p", "no:cacheprovider", *args], cwd=project, env=env,
                              capture_output=True, text=True, check=False)

    record = as_user("--seccomp-record", "-m", "not extra")
    assert record.returncode == 0, record.stdout[-3000:] + record.stderr[-2000:]
    assert "tracer: in a helper container" in record.stdout
    profile = project / "seccomp-profiles" / "pytest-seccomp" / "busybox.json"
    assert "getdents64" in allowed(profile)
    for path in (profile, profile.parent, project / "seccomp-profiles"):
        assert path.stat().st_uid == user.pw_uid, path
    enforce = as_user("--seccomp-enforce")
    assert enforce.returncode == 1, enforce.stdout[-3000:] + enforce.stderr[-2000:]
    assert "  mkdir  x1  by process 'mkdir'" in enforce.stdout
    assert no_helper_within(10), helpers()


def test_pytest_in_a_container_with_only_the_engines_socket_records_and_enforces(
        wheelhouse, busybox_image):
    """Test 2 of the issue: a devcontainer-like image, root inside but unprivileged (no BPF),
    the engine's socket mounted: auto picks the helper."""
    client = docker.from_env()
    require_image(client, DEVCONTAINER)
    project = Path(tempfile.mkdtemp(prefix="pytest-seccomp-devcontainer-"))
    (project / "pytest.ini").write_text(INI)
    (project / "test_app.py").write_text(TESTS)
    (project / "default.json").write_text(DOCKER_DEFAULT.read_text())  # the engine's ceiling
    script = (
        "set -e; python3 -m venv /venv; "
        "/venv/bin/pip install -q --no-index --find-links /wheels pytest-seccomp; cd /project; "
        "P='/venv/bin/python -m pytest -p no:cacheprovider --seccomp-default-profile default.json'; "
        "$P --seccomp-record -m 'not extra' > record.out 2>&1; "
        "$P --seccomp-enforce > enforce.out 2>&1 || echo $? > enforce.rc")
    try:
        output = client.containers.run(
            DEVCONTAINER, ["sh", "-c", script], remove=True, network_mode="none",
            volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                     str(wheelhouse): {"bind": "/wheels", "mode": "ro"},
                     str(project): {"bind": "/project", "mode": "rw"}},
            stderr=True)
        record = (project / "record.out").read_text()
        assert "1 passed, 1 deselected" in record, (output, record)
        assert "tracer: in a helper container" in record
        assert "getdents64" in allowed(project / "seccomp-profiles/pytest-seccomp/busybox.json")
        enforce = (project / "enforce.out").read_text()
        assert (project / "enforce.rc").read_text().strip() == "1", enforce
        assert "  mkdir  x1  by process 'mkdir'" in enforce, enforce
        assert no_helper_within(10), helpers()
    finally:
        client.close()
        subprocess.run(["rm", "-rf", str(project)], check=False)
