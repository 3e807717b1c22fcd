"""Installed with pip alone: a wheel built by `python -m build` carries the compiled tracer, so a
machine with no compiler (and an empty cache) records."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import BUSYBOX, ROOT

LS = f"""
import docker

def test_ls():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
"""


def test_a_wheel_records_with_no_compiler_and_an_empty_cache(tmp_path: Path, busybox_image,
                                                             wheelhouse: Path):
    (wheel,) = wheelhouse.glob("pytest_seccomp-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--root-user-action=ignore", str(wheel)], check=True)
    project, cache = tmp_path / "project", tmp_path / "cache"
    project.mkdir()
    (project / "test_ls.py").write_text(LS)
    env = {"PATH": str(venv / "bin"), "XDG_CACHE_HOME": str(cache), "HOME": str(tmp_path)}
    assert shutil.which("clang", path=env["PATH"]) is None
    where = subprocess.run([python, "-c", "import pytest_seccomp; print(pytest_seccomp.__file__)"],
                           cwd=project, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where  # the wheel's copy, not the checkout's
    run = subprocess.run([python, "-m", "pytest", "-p", "no:cacheprovider", "--seccomp-record"],
                         cwd=project, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert (project / "seccomp-profiles" / "pytest-seccomp" / "busybox.json").exists()
    assert not list(cache.rglob("*.bpf.o"))  # nothing was compiled here


def test_the_wheel_carries_the_tracer_for_both_machines_and_the_helper(wheelhouse: Path):
    import zipfile

    (wheel,) = wheelhouse.glob("pytest_seccomp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    prebuilt = [n.rsplit("/", 1)[-1] for n in names if "/prebuilt/" in n]
    assert any(n.startswith("tracer-x86_64-") for n in prebuilt), prebuilt
    assert any(n.startswith("tracer-aarch64-") for n in prebuilt), prebuilt
    assert any(n.startswith(f"helper-{platform.machine()}-") for n in prebuilt), prebuilt


def test_the_wheel_names_the_platform_of_its_native_loader(wheelhouse: Path):
    """The helper's loader is a static executable for this machine: the wheel says so, and pip
    on another machine (aarch64, macOS) takes the sdist instead of a loader it cannot run."""
    import zipfile

    (wheel,) = wheelhouse.glob("pytest_seccomp-*.whl")
    machine = platform.machine()
    assert wheel.name.endswith(f"-py3-none-manylinux_2_17_{machine}.manylinux2014_{machine}"
                               f".musllinux_1_1_{machine}.whl"), wheel.name
    metadata = zipfile.ZipFile(wheel).read("pytest_seccomp-0.1.0.dist-info/WHEEL").decode()
    assert "Root-Is-Purelib: false" in metadata
    assert f"Tag: py3-none-manylinux_2_17_{machine}" in metadata


def test_a_wheel_built_without_compilers_is_pure_and_carries_no_loader(tmp_path: Path):
    """Built where neither clang nor gcc is found (an sdist on any Linux): py3-none-any, with no
    native file in it; the tracer and the helper are compiled on first use instead."""
    import zipfile

    source = tmp_path / "source"  # a copy: the checkout's build/ is the wheelhouse's
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python3").symlink_to(sys.executable)
    env = {"PATH": str(bare), "HOME": str(tmp_path)}
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path),
                            str(source)],
                           capture_output=True, text=True, check=False, env=env)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = tmp_path.glob("pytest_seccomp-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if "/prebuilt/" in n], names
    assert "is not in this build" in built.stderr
