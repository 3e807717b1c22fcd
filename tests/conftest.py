"""Shared helpers: the local busybox image and a runner for recording sessions in a sandbox."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

pytest_plugins = ["pytester"]

BUSYBOX = "pytest-seccomp/busybox:latest"
ROOT = Path(__file__).resolve().parent.parent
OLD = '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}\n'  # a committed profile to keep


# a project whose `ls /` test is recorded (`-m "not extra"`) and whose `mkdir` test is then
# refused under enforce: the tracer-placement tests (helper, docker-in-docker) share it
LS_THEN_MKDIR = f"""
import docker
import pytest

def run(*cmd):
    return docker.from_env().containers.run("{BUSYBOX}", list(cmd), remove=True,
                                            network_mode="none").decode()

def test_ls():
    assert "bin" in run("ls", "/")

@pytest.mark.extra
def test_mkdir():
    run("mkdir", "/x")
"""
EXTRA_MARKER_INI = "[pytest]\nmarkers =\n    extra: not recorded\n"


def allowed_names(profile: dict[str, Any]) -> set[str]:
    """Every syscall name a profile's allow rules list."""
    return {n for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
            for n in rule["names"]}


def old_profile(root: Path) -> Path:
    """Put OLD where a recording of the busybox image would write, under profile dir `root`."""
    path = root / "pytest-seccomp" / "busybox.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OLD)
    return path


@pytest.fixture(scope="session")
def busybox_image() -> str:
    """The local busybox image (built by scripts/build-images.sh; built here if missing)."""
    client = docker.from_env()
    try:
        client.images.get(BUSYBOX)
    except docker.errors.ImageNotFound:
        subprocess.run(["bash", str(ROOT / "scripts" / "build-images.sh")], check=True)
    finally:
        client.close()
    return BUSYBOX


def require_image(client: docker.DockerClient, name: str) -> None:
    """Fail the test at once, saying how to make it, when a test-only image is missing."""
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{name} is missing: run scripts/build-images.sh")


def example_copy(name: str, into: Path, images: tuple[str, ...] = (),
                 ignore: tuple[str, ...] = ()) -> Path:
    """A private copy of examples/NAME under INTO, once the images it runs are there: a test
    never writes into the checkout."""
    client = docker.from_env()
    try:
        for image in images:
            require_image(client, image)
    finally:
        client.close()
    project = into / name
    shutil.copytree(ROOT / "examples" / name, project,
                    ignore=shutil.ignore_patterns("__pycache__", *ignore))
    return project


@pytest.fixture(scope="session")
def wheelhouse() -> Any:
    """The project's wheel (`python -m build`) and every dependency as a wheel, in a directory
    any user and any container can read: what a user installs with pip alone."""
    house = Path(tempfile.mkdtemp(prefix="pytest-seccomp-wheels-"))
    house.chmod(0o755)
    try:
        built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(house),
                                str(ROOT)], capture_output=True, text=True, check=False)
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
        (wheel,) = house.glob("pytest_seccomp-*.whl")
        deps = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir",
                               str(house), str(wheel)], capture_output=True, text=True, check=False)
        assert deps.returncode == 0, deps.stdout[-2000:] + deps.stderr[-2000:]
        for path in house.iterdir():
            path.chmod(0o644)
        yield house
    finally:
        shutil.rmtree(house, ignore_errors=True)


@dataclass
class Recorded:
    """One inner pytest session run with --seccomp-record."""

    result: pytest.RunResult
    report: dict[str, Any]
    profile_dir: Path

    def profile(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.profile_dir / f"{name}.json").read_text())
        return data

    def allowed(self, name: str) -> set[str]:
        return allowed_names(self.profile(name))


@pytest.fixture
def record(pytester: pytest.Pytester, busybox_image: str) -> Any:
    """Run the test files written into `pytester` in a real recording session."""

    def run(*args: str) -> Recorded:
        report_path = pytester.path / "record.json"
        if report_path.exists():
            report_path.unlink()
        env_keep = os.environ.copy()
        os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
        try:
            result = pytester.runpytest_subprocess(
                "--seccomp-record", f"--seccomp-report={report_path}", "-p", "no:cacheprovider",
                *args,
            )
        finally:
            os.environ.clear()
            os.environ.update(env_keep)
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        return Recorded(result, report, pytester.path / "seccomp-profiles")

    return run


def docker_run(profile: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """`docker run` under a profile, as a user deploys it (with no-new-privileges)."""
    return subprocess.run(
        ["docker", "run", "--rm", "--security-opt", "no-new-privileges",
         "--security-opt", f"seccomp={profile}", BUSYBOX, *command],
        capture_output=True, text=True, check=False,
    )


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m pytest_seccomp ARGS`, as a user runs the CLI."""
    return subprocess.run([sys.executable, "-m", "pytest_seccomp", *args],
                          capture_output=True, text=True, check=False)


# Modules of pure logic: their tests need no root, no engine and no tracer, unless they ask for
# one of the fixtures below. Every other test is marked `docker`: `pytest -m "not docker"` runs
# the rest on any machine.
UNIT_TESTS = Path(__file__).parent / "unit"  # no engine, no root: everything else is `docker`
ENGINE_FIXTURES = {"busybox_image", "record", "pytester", "proxy"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        unit = item.path.is_relative_to(UNIT_TESTS)
        if not unit or ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)


def interruptible() -> None:
    """preexec_fn of a pytest run a test interrupts with SIGINT (Ctrl-C): a run started from a
    background job inherits SIGINT ignored, and Python then installs no handler for it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
