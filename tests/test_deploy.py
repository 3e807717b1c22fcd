"""End to end: profiles start where users deploy them. By default with and without
no-new-privileges (the runtime's own steps in a rule of their own); with --seccomp-nnp the
tightest profile, for deployments that set it; never the two mixed; under runc and crun; and a
ceiling found on an engine whose distribution ships no default.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT, SHIPPED

from .conftest import BUSYBOX, ROOT, cli
from .test_podman import RUN_AND_WAIT

LS = f"""
import docker
def test_ls():
    docker.from_env().containers.run("{BUSYBOX}", ["ls", "/"], remove=True)
"""
LONG = f"""
def test_ls_long():
    import docker
    out = docker.from_env().containers.run("{BUSYBOX}", ["ls", "-l", "/"], remove=True)
    assert b" root " in out, out
"""


def plain_run(profile: Path, *command: str, nnp: bool = False) -> subprocess.CompletedProcess[str]:
    """As the article runs a profile: `docker run --security-opt seccomp=...`."""
    opts = ["--security-opt", "no-new-privileges"] if nnp else []
    return subprocess.run(["docker", "run", "--rm", *opts, "--security-opt", f"seccomp={profile}",
                           BUSYBOX, *command], capture_output=True, text=True, check=False)


def test_default_profiles_start_with_and_without_nnp_and_name_the_runtime(record, pytester):
    pytester.makepyfile(test_ls=LS)
    recorded = record("--seccomp-html=html")
    recorded.result.assert_outcomes(passed=1)
    path = recorded.profile_dir / "pytest-seccomp" / "busybox.json"
    profile = json.loads(path.read_text())
    rules: dict[str, set[str]] = {}  # whose rule -> its names (the executable memory rules too)
    for rule in profile["syscalls"]:
        # (the runtime's clone, which tini makes under --init, keeps the default's flag checks)
        if rule["action"] == "SCMP_ACT_ALLOW" and "includes" not in rule and (
                "args" not in rule or rule["args"][0]["index"] == 2
                or rule.get("comment", "").startswith("pytest-seccomp: what the runtime")):
            rules.setdefault(rule.get("comment", ""), set()).update(rule["names"])
    app = rules["pytest-seccomp: what the app needs; starts with or without no-new-privileges"]
    (runtime_comment,) = [c for c in rules if c.startswith("pytest-seccomp: what the runtime")]
    assert "runc" in runtime_comment  # the runtime and its version, from the engine
    runtime = rules[runtime_comment]
    assert {"setgroups", "capset", "setuid"} <= runtime and not runtime & app
    assert not runtime & {"mount", "pivot_root", "sethostname", "umount2"}  # set-up: before
    recorded.result.stdout.fnmatch_lines(["  the app needs the * above; the runtime (runc *) "
                                          "did *setgroups*"])
    busybox = recorded.report["profiles"]["pytest-seccomp/busybox"]
    assert set(busybox["runtime_syscalls"]) == runtime and busybox["no_new_privileges"] is False
    assert 'id="runtime"' in (pytester.path / "html" / "pytest-seccomp__busybox.html").read_text()
    for nnp in (False, True):
        ran = plain_run(path, "ls", "/", nnp=nnp)
        assert ran.returncode == 0 and "bin" in ran.stdout, (nnp, ran.stderr)
    refused = plain_run(path, "mkdir", "/x")
    assert refused.returncode != 0 and "Operation not permitted" in refused.stderr
    shown = cli("show", str(path))
    assert "the runtime needs:" in shown.stdout and "runc" in shown.stdout
    checked = cli("check", str(path), "--runtime", "crun")
    assert checked.returncode == 0
    assert "starts with or without no-new-privileges" in checked.stdout
    # from the measured table: every measured crun, in both ways the profile may start
    assert "starts under crun 1.28 without no-new-privileges" in checked.stdout
    assert "starts under crun 1.8.1 with no-new-privileges" in checked.stdout


def test_nnp_profiles_are_the_tightest_and_keep_the_demo(record, pytester):
    pytester.makepyfile(test_ls=LS + LONG)
    recorded = record("--seccomp-nnp", "-k", "test_ls and not long")
    recorded.result.assert_outcomes(passed=1, deselected=1)
    path = recorded.profile_dir / "pytest-seccomp" / "busybox.json"
    assert "made for no-new-privileges" in path.read_text()
    assert plain_run(path, "ls", "/", nnp=True).returncode == 0
    plain = plain_run(path, "ls", "/")  # without no-new-privileges runc needs more
    assert plain.returncode != 0 and "operation not permitted" in plain.stderr.lower()
    demo = pytester.runpytest_subprocess("--seccomp-enforce", "--seccomp-nnp", "-k", "long")
    demo.assert_outcomes(failed=1, deselected=1)
    demo.stdout.fnmatch_lines(["  read  x*by process 'ls'*"])
    # Kubernetes: allowPrivilegeEscalation: false only where the profile needs it
    default_dir = pytester.path / "default-profiles"
    record("--seccomp-profile-dir", str(default_dir), "-k", "test_ls and not long")
    for source, expected in ((recorded.profile_dir, False), (default_dir, None)):
        out = pytester.path / f"k8s-{expected}"
        assert cli("export", str(source), "--format", "k8s-localhost", "-o", str(out)).returncode == 0
        context = yaml.safe_load((out / "securitycontext" / "pytest-seccomp" / "busybox.yaml")
                                 .read_text())["securityContext"]
        assert context.get("allowPrivilegeEscalation") is expected


def test_modes_are_never_mixed(record, pytester):
    pytester.makepyfile(test_ls=LS + LONG)
    record().result.assert_outcomes(passed=2)
    path = pytester.path / "seccomp-profiles" / "pytest-seccomp" / "busybox.json"
    before = path.read_text()
    partial = record("--seccomp-nnp", "-k", "long")  # a partial run unions with the file
    assert partial.result.ret == 3
    partial.result.stdout.fnmatch_lines(["*was made to start without no-new-privileges, but this "
                                         "run records with --seccomp-nnp*"])
    assert path.read_text() == before
    drift = record("--seccomp-nnp", "--seccomp-check")
    assert drift.result.ret == 3 and "are not mixed" in drift.result.stdout.str()
    nnp_dir = pytester.path / "nnp"
    record("--seccomp-nnp", "--seccomp-profile-dir", str(nnp_dir))
    merged = cli("merge", str(pytester.path / "seccomp-profiles"), str(nnp_dir), "-o",
                 str(pytester.path / "merged"))
    assert merged.returncode == 2 and "cannot union a profile made for no-new-privileges" \
        in merged.stderr


@pytest.mark.parametrize(("socket", "runtime"), [("/run/podman/podman.sock", "runc"),
                                                 ("/run/podman/podman-crun.sock", "crun")])
def test_podman_under_runc_and_crun(pytester, busybox_image, monkeypatch, socket, runtime):
    if not Path(socket).exists():
        pytest.fail(f"{socket} is not there: scripts/setup.sh starts Podman's services")
    pytester.makepyfile(test_ls=RUN_AND_WAIT + f"""
def test_ls():
    run("{BUSYBOX}", ["ls", "/"])

def test_mkdir():
    run("{BUSYBOX}", ["mkdir", "/x"])
""")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    recorded = pytester.runpytest_subprocess("--seccomp-record", "-k", "not mkdir",
                                             "--seccomp-report=r.json")
    recorded.assert_outcomes(passed=1, deselected=1)
    report = json.loads((pytester.path / "r.json").read_text())
    busybox = report["profiles"]["pytest-seccomp/busybox"]
    assert busybox["runtime"].startswith(runtime)
    assert busybox["runtime_syscalls"]  # its steps after the filter, apart from the app's
    enforced = pytester.runpytest_subprocess("--seccomp-enforce")
    enforced.assert_outcomes(passed=1, failed=1)
    enforced.stdout.fnmatch_lines(["  mkdir  x1  by process 'mkdir'"])


@pytest.fixture
def without_distribution_default(tmp_path):
    """The engine as Docker's own packages install it: no default.json on disk."""
    hidden = tmp_path / "hidden-default.json"
    shutil.move(DOCKER_DEFAULT, hidden)
    try:
        yield hidden
    finally:
        shutil.move(hidden, DOCKER_DEFAULT)


def test_without_the_distribution_s_default_the_engine_s_version_picks_the_shipped_one(
        record, pytester, tmp_path, monkeypatch, without_distribution_default):
    """Docker as docker-ce or Docker Desktop install it (no default.json on disk): recording
    and the CLI's `check` ask the engine its version and use the package's copy of that
    release's default, with no network; every example profile checks OK."""
    version = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                             capture_output=True, text=True, check=True).stdout.strip()
    shipped = SHIPPED / f"docker-{version.split('+')[0]}.json"
    assert shipped.read_bytes() == without_distribution_default.read_bytes()
    pytester.makepyfile(test_ls=LS)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTEST_SECCOMP_DEFAULTS_URL", "http://127.0.0.1:9")  # (offline)
    recorded = record()
    recorded.result.assert_outcomes(passed=1)
    assert recorded.report["default_profile"] == str(shipped.resolve())
    assert "downloading" not in recorded.result.stderr.str()
    for example in sorted((ROOT / "examples" / "webapp" / "seccomp-profiles").rglob("*.json")):
        checked = cli("check", str(example))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"not wider than {shipped.resolve()}" in checked.stdout
    unreachable = subprocess.run(
        [sys.executable, "-m", "pytest_seccomp", "check", str(example)], capture_output=True,
        text=True, check=False, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert unreachable.returncode == 2 and "pass --default PATH" in unreachable.stderr
