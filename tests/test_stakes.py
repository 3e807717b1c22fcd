"""What each permission risks, where the decision is made: the dataset's rows each name a CVE,
a class and a public source; `show`, `check`, `diff`, the record summary and the drift gate
carry the rating; `--seccomp-fail-on` fails a drift only at the stake asked for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_seccomp.profiles.arguments import FAMILIES
from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT
from pytest_seccomp.profiles.model import Profile
from pytest_seccomp.profiles.stakes import Stake, closed_against, dataset, rating, stake
from pytest_seccomp.profiles.syscalls import syscall_number

from .conftest import BUSYBOX, ROOT

LS = f"""
import docker

def run(*cmd):
    return docker.from_env().containers.run("{BUSYBOX}", list(cmd), remove=True,
                                            network_mode="none")

def test_ls():
    run("ls", "/")
"""
ARPING = f"""

def test_arping():  # socket(AF_PACKET), as busybox's arping opens it
    import docker
    try:
        docker.from_env().containers.run("{BUSYBOX}", ["arping", "-c", "1", "-w", "1", "-I",
                                         "lo", "127.0.0.1"], remove=True, network_mode="none")
    except docker.errors.ContainerError:
        pass  # (lo cannot be ARPed: the socket was opened first)
"""
MKDIR = """

def test_mkdir():
    run("mkdir", "/made")
"""


def test_every_row_names_a_cve_a_class_a_source_and_real_entries():
    for row in dataset():
        assert re.fullmatch(r"CVE-\d{4}-\d{4,}", row.cve), row
        assert row.source.startswith("https://") and row.via and row.stake is not Stake.NONE
        for entry in row.entries:
            name = entry.split("(", 1)[0]
            assert syscall_number(name) is not None, entry
            if "(" in entry:
                family = entry.split("(", 1)[1].split(",")[0].rstrip(")")
                assert family in FAMILIES.values(), entry


def test_the_examples_close_what_the_default_leaves_open():
    default = Profile.load(DOCKER_DEFAULT)
    for path in sorted((ROOT / "examples" / "webapp" / "seccomp-profiles").rglob("*.json")):
        closed, total = closed_against(Profile.load(path), default)
        assert total >= 5 and len(closed) >= total - 1, (path.name, closed, total)
    assert stake("splice") is Stake.HIGH and "CVE-2022-0847" in rating("splice")
    assert rating("read") == "no known kernel CVE in the dataset"


@pytest.mark.parametrize(("fail_on", "added", "fails"), [
    ("high", ARPING, False), ("medium", ARPING, True), ("low", MKDIR, False), (None, MKDIR, True),
])
def test_the_drift_gate_rates_each_addition_and_fails_at_the_stake_asked(
        record, pytester, fail_on, added, fails):
    pytester.makepyfile(test_app=LS)
    assert record("--seccomp-html=html").result.ret == 0
    page = next((pytester.path / "html").glob("*busybox*.html")).read_text()
    assert 'id="stakes"' in page and "closes the entry points of" in page
    pytester.makepyfile(test_app=LS + added)
    options = ["--seccomp-check", *([f"--seccomp-fail-on={fail_on}"] if fail_on else [])]
    checked = record(*options)
    out = checked.result.stdout.str()
    assert checked.result.ret == (6 if fails else 0), out[-3000:]
    if added is ARPING:
        assert "+socket(AF_PACKET) (test_app.py::test_arping" in out
        assert "1 known kernel CVE, worst: memory corruption (CVE-2017-6346)" in out
    else:
        assert "+mkdir (test_app.py::test_mkdir" in out and "no known kernel CVE" in out
    assert ("drift below --seccomp-fail-on" in out) is not fails
    assert "closes the entry points of" in out
    committed = Path(pytester.path / "seccomp-profiles" / "pytest-seccomp" / "busybox.json")
    assert "AF_PACKET" not in committed.read_text() and "mkdir" not in committed.read_text()
