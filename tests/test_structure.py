"""Trust and structure: a partial run never narrows a profile, nothing but profiles in the
profile directory, the plugin costs nothing to import when no --seccomp-* option is given."""

from __future__ import annotations

import subprocess
import sys

from .conftest import BUSYBOX

TWO = f"""
import docker

def run(*cmd):
    docker.from_env().containers.run("{BUSYBOX}", list(cmd), remove=True)

def test_ls():
    run("ls", "/")

def test_mkdir():
    run("mkdir", "/x")
"""


def test_a_partial_run_never_narrows_a_profile(record, pytester):
    pytester.makepyfile(test_two=TWO)
    whole = record()
    whole.result.assert_outcomes(passed=2)
    assert "mkdir" in whole.allowed("pytest-seccomp/busybox")
    partial = record("-k", "test_ls")
    partial.result.assert_outcomes(passed=1, deselected=1)
    assert "mkdir" in partial.allowed("pytest-seccomp/busybox")  # test_mkdir did not run
    partial.result.stdout.fnmatch_lines(["not every test ran (-k, a selection, -x): the profiles "
                                         "were merged into those on disk*"])
    # a run that stopped early (-x) is partial too
    pytester.makepyfile(test_two=TWO.replace('def test_ls():\n    run("ls", "/")',
                                             'def test_ls():\n    run("ls", "/")\n    assert 0'))
    stopped = record("-x")
    stopped.result.assert_outcomes(failed=1)
    assert "mkdir" in stopped.allowed("pytest-seccomp/busybox")
    # only a whole run drops what no test needs any more
    pytester.makepyfile(test_two=TWO.split("def test_mkdir")[0])
    narrowed = record()
    narrowed.result.assert_outcomes(passed=1)
    assert "mkdir" not in narrowed.allowed("pytest-seccomp/busybox")


def test_nothing_but_profiles_in_the_profile_directory(record, pytester):
    pytester.makepyfile(test_two=TWO)
    record().result.assert_outcomes(passed=2)
    left = sorted(str(p.relative_to(pytester.path / "seccomp-profiles"))
                  for p in (pytester.path / "seccomp-profiles").rglob("*") if p.is_file())
    assert left == ["pytest-seccomp/busybox.json"]


def test_importing_the_plugin_loads_nothing_heavy():
    """pytest imports the plugin in every run of every user who installed it."""
    code = ("import sys, pytest_seccomp.plugin; heavy = [m for m in ('docker', 'requests', "
            "'pyseccomp', 'httptools', 'yaml', 'deepdiff', 'ctypes') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_files_belong_to_the_user_who_ran_pytest(record, pytester, monkeypatch):
    """Root writes into a developer's checkout as that developer: the checkout's owner, or the
    user sudo ran pytest for."""
    import os

    pytester.makepyfile(test_two=TWO)
    os.chown(pytester.path, 4321, 4321)  # a checkout owned by a developer, written by root
    recorded = record("--seccomp-html=html")
    recorded.result.assert_outcomes(passed=2)
    written = [pytester.path / "seccomp-profiles", pytester.path / "seccomp-profiles" /
               "pytest-seccomp" / "busybox.json", pytester.path / "record.json",
               pytester.path / "html" / "index.html"]
    assert [(p.stat().st_uid, p.stat().st_gid) for p in written] == [(4321, 4321)] * 4
    monkeypatch.setenv("SUDO_UID", "4322")
    monkeypatch.setenv("SUDO_GID", "4323")
    pytester.makepyfile(test_two=TWO.replace('"mkdir", "/x"', '"touch", "/x"'))
    record().result.assert_outcomes(passed=2)
    assert written[1].stat().st_uid == 4322 and written[1].stat().st_gid == 4323
