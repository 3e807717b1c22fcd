"""Every format the tool writes reads back as the same profile: a Kubernetes export (kubelet
file or Security Profiles Operator resource) diffs as no difference against the recorded file,
both ways, and keeps its mode; the resource is v1, cluster-scoped, and named one way however
the export was called."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import yaml

from pytest_seccomp.cli import main

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "examples" / "webapp" / "seccomp-profiles"
EXAMPLES = sorted(PROFILES.rglob("*.json"))


def cli(*argv: str | Path) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main([str(a) for a in argv])
    return code, out.getvalue()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("fmt", ["spo", "k8s-localhost"])
def test_an_export_diffs_as_no_difference_both_ways_and_keeps_its_mode(
        tmp_path: Path, example: Path, fmt: str):
    assert cli("export", example, f"--format={fmt}", f"-o={tmp_path}")[0] == 0
    exported = next(p for p in tmp_path.rglob("*") if p.suffix in (".yaml", ".json")
                    and "securitycontext" not in p.parts)
    for a, b in ((example, exported), (exported, example)):
        assert cli("diff", a, b) == (0, "no difference\n"), (a, b)
    said = cli("check", exported)[1] + cli("check", example)[1]
    assert said.count("starts with or without no-new-privileges") == 2, said


def test_the_resource_is_v1_cluster_scoped_and_named_one_way(tmp_path: Path):
    example = PROFILES / "pytest-seccomp" / "redis.json"
    names = set()
    for given in (PROFILES, PROFILES / "pytest-seccomp", example):
        out = tmp_path / given.name
        cli("export", given, "--format=spo", f"-o={out}")
        resource = yaml.safe_load((out / "pytest-seccomp-redis.yaml").read_text())
        assert resource["apiVersion"] == "security-profiles-operator.x-k8s.io/v1"
        assert "namespace" not in resource["metadata"]
        names.add(resource["metadata"]["name"])
    assert names == {"pytest-seccomp-redis"}


def test_compose_override_resolves_paths_from_the_compose_file(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    project = tmp_path / "project"
    (project / "seccomp-profiles" / "pytest-seccomp").mkdir(parents=True)
    (project / "seccomp-profiles" / "pytest-seccomp" / "redis.json").write_bytes(
        (PROFILES / "pytest-seccomp" / "redis.json").read_bytes())
    (project / "docker-compose.yml").write_text(
        "services:\n  cache:\n    image: pytest-seccomp/redis:latest\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, said = cli("compose-override", project / "docker-compose.yml")
    assert code == 0, said
    override = yaml.safe_load((project / "docker-compose.seccomp.yml").read_text())
    assert override["services"]["cache"]["security_opt"] == [
        "seccomp=seccomp-profiles/pytest-seccomp/redis.json"]


def test_merge_force_does_what_it_says(tmp_path: Path):
    for shard, errno in (("docker", 1), ("podman", 38)):
        (tmp_path / shard).mkdir()
        name = "read" if errno == 1 else "write"
        (tmp_path / shard / "x.json").write_text(json.dumps({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno,
            "syscalls": [{"names": [name], "action": "SCMP_ACT_ALLOW"}]}))
    shards = (tmp_path / "docker", tmp_path / "podman")
    assert cli("merge", *shards, f"-o={tmp_path / 'out'}")[0] == 2
    assert cli("merge", *shards, f"-o={tmp_path / 'out'}", "--force")[0] == 0
    code, shown = cli("show", tmp_path / "out" / "x.json")
    assert code == 0 and "read" in shown and "write" in shown


def test_cli_conventions_version_help_directories_and_unknown(capsys: pytest.CaptureFixture[str]):
    from pytest_seccomp.version import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"pytest-seccomp {__version__}"
    for verb in ("check", "show", "diff", "merge", "export", "compose-override"):
        with pytest.raises(SystemExit):
            main([verb, "--help"])
        shown = capsys.readouterr().out
        assert shown.count("\n") > 4 and "positional arguments:" in shown
        assert all(line.split()[1:] for line in shown.split("positional arguments:")[1]
                   .split("options:")[0].strip().splitlines() if not line.startswith("    "))
    code, said = cli("check", PROFILES)
    assert code == 0 and said.count(": OK (") == len(EXAMPLES)
    code, said = cli("show", PROFILES)
    assert code == 0 and said.count("syscalls allowed") == len(EXAMPLES)
    code, said = cli("check", PROFILES / "pytest-seccomp" / "redis.json", "--runtime=youki@1.0")
    assert code == 3 and "UNKNOWN" in said


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_an_aarch64_export_has_the_generic_calls_and_says_which_it_mapped(tmp_path: Path,
                                                                         example: Path):
    """arm64 has only the kernel's generic table: `open`, `epoll_wait`, `dup2` are not there,
    its C libraries call `openat`, `epoll_pwait`, `dup3`."""
    from pytest_seccomp.profiles.generic import GENERIC, exists
    from pytest_seccomp.profiles.model import Profile

    code, said = cli("export", example, "--format=k8s-localhost", "--machine=aarch64",
                     f"-o={tmp_path}")
    assert code == 0
    exported = Profile.load(next((tmp_path / "kubelet-seccomp").rglob("*.json")))
    recorded = Profile.load(example).allowed
    assert not {n for n in exported.allowed if exists("aarch64", n) is False}
    for legacy in recorded & GENERIC.keys():
        if exists("aarch64", legacy) is False:
            assert f"{legacy} -> " in said and set(GENERIC[legacy]) & exported.allowed
    assert cli("check", next((tmp_path / "kubelet-seccomp").rglob("*.json")))[0] == 0
