"""CI shards merged into one profile set, and Kubernetes exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given

from pytest_seccomp.deploy.export import from_spo, resolve, to_spo
from pytest_seccomp.deploy.merge import merge_profiles
from pytest_seccomp.errors import ProfileError
from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT
from pytest_seccomp.profiles.model import Profile, build_profile
from pytest_seccomp.profiles.protections import PROTECTION_SYSCALLS, kinds

from .conftest import BUSYBOX, ROOT, cli, docker_run
from .unit.test_profile import profiles

SUITE = f"""
import docker, pytest

def run(*cmd):
    docker.from_env().containers.run("{BUSYBOX}", list(cmd), remove=True)

def test_a_ls(): run("ls", "/")
def test_a_mkdir(): run("mkdir", "/x")
def test_b_status(): run("cat", "/proc/self/status")
def test_b_shell(): run("sh", "-c", "echo hi > /f")
"""


def test_merged_shards_equal_one_recording_of_all_tests(pytester, busybox_image):
    pytester.makepyfile(test_suite=SUITE)
    for shard, selection in (("shard1", "test_a"), ("shard2", "test_b")):
        pytester.runpytest_subprocess("--seccomp-record", f"--seccomp-profile-dir={shard}",
                                      "-k", selection).assert_outcomes(passed=2, deselected=2)
    pytester.runpytest_subprocess("--seccomp-record", "--seccomp-profile-dir=all").assert_outcomes(
        passed=4)
    merged = cli("merge", str(pytester.path / "shard1"), str(pytester.path / "shard2"),
                 "-o", str(pytester.path / "merged"))
    assert merged.returncode == 0, merged.stderr
    name = Path("pytest-seccomp/busybox.json")
    assert (pytester.path / "merged" / name).read_bytes() == (pytester.path / "all" / name).read_bytes()


@given(profiles, profiles, profiles)
def test_merge_laws(a, b, c):
    def merge(*items: Profile) -> str:  # forced: generated profiles come from many "defaults"
        return merge_profiles(list(items), force=True).dumps()

    assert merge(a, b) == merge(b, a)
    assert merge(merge_profiles([a, b], force=True), c) == merge(a, merge_profiles([b, c], force=True))
    assert merge(a, a) == a.dumps()


def test_merge_refuses_recordings_against_different_defaults():
    default = Profile.load(DOCKER_DEFAULT)
    docker_like = build_profile({"read"}, default)
    other = Profile.from_json({"defaultAction": "SCMP_ACT_ERRNO",
                               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
    with pytest.raises(ProfileError, match="different engine default profiles"):
        merge_profiles([docker_like, other])
    assert "read" in merge_profiles([docker_like, other], force=True).allowed


# Facts of the Security Profiles Operator's SeccompProfile CRD (api/seccompprofile/v1beta1).
SPO_SCHEMA = {
    "apiVersion": "security-profiles-operator.x-k8s.io/v1",
    "kind": "SeccompProfile",
    "spec_fields": {"disabled", "baseProfileName", "defaultAction", "architectures",
                    "listenerPath", "listenerMetadata", "syscalls", "flags"},
    "actions": {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
                "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
                "SCMP_ACT_NOTIFY"},
    "arches": {"SCMP_ARCH_NATIVE", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",
               "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
               "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
               "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
               "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
               "SCMP_ARCH_RISCV64"},
    "syscall_fields": {"names", "action", "errnoRet", "args"},
    "arg_fields": {"index", "value", "valueTwo", "op"},
    "ops": {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
            "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"},
}


def check_spo(resource: dict) -> None:
    assert resource["apiVersion"] == SPO_SCHEMA["apiVersion"]
    assert resource["kind"] == SPO_SCHEMA["kind"]
    assert isinstance(resource["metadata"]["name"], str)
    spec = resource["spec"]
    assert set(spec) <= SPO_SCHEMA["spec_fields"]
    assert spec["defaultAction"] in SPO_SCHEMA["actions"]
    assert set(spec["architectures"]) <= SPO_SCHEMA["arches"]
    for rule in spec["syscalls"]:
        assert set(rule) <= SPO_SCHEMA["syscall_fields"]
        assert rule["action"] in SPO_SCHEMA["actions"]
        assert rule["names"] and all(isinstance(n, str) for n in rule["names"])
        assert isinstance(rule.get("errnoRet", 0), int) and rule.get("errnoRet", 0) >= 0
        assert len(rule.get("args", [])) <= 6
        for arg in rule.get("args", []):
            assert set(arg) <= SPO_SCHEMA["arg_fields"] and arg["op"] in SPO_SCHEMA["ops"]
            assert 0 <= arg["index"] <= 5 and arg["value"] >= 0


def test_spo_export_matches_the_schema_and_converts_back(tmp_path):
    default = Profile.load(DOCKER_DEFAULT)
    profile = build_profile({"read", "write", "clone", "personality", "arch_prctl"}, default)
    resolved = resolve(profile)
    resource = yaml.safe_load(yaml.safe_dump(to_spo("team/app", resolved)))
    check_spo(resource)
    assert resource["metadata"] == {"name": "team-app",  # (cluster-scoped: no namespace)
                                    "annotations": {"pytest-seccomp/profile": "team/app"}}
    assert from_spo(resource).dumps() == resolved.dumps()
    # resolution for x86_64 with the default capabilities: arch_prctl becomes plain, clone keeps
    # its flag mask, the CAP_SYS_ADMIN rule and the s390 rule are gone, clone3 still gets ENOSYS
    rules = resource["spec"]["syscalls"]
    assert "arch_prctl" in rules[0]["names"]
    clone = [r for r in rules if r["names"] == ["clone"]]
    assert len(clone) == 1 and clone[0]["args"][0]["index"] == 0
    assert any(r["names"] == ["clone3"] and r["errnoRet"] == 38 for r in rules)
    assert resolved.wider_than(resolve(default)) == []  # within the default, for the same target


def test_k8s_localhost_export_runs_under_the_engine(tmp_path, busybox_image):
    source = tmp_path / "profiles" / "pytest-seccomp"
    source.mkdir(parents=True)
    default = Profile.load(DOCKER_DEFAULT)
    build_profile({"execve", "getdents64", "openat", "close", "write", "newfstatat", "brk",
                   "ioctl", "getuid", "prctl", "fstatfs", "readlink", "mprotect", "getpid",
                   "set_tid_address", "set_robust_list", "rseq", "prlimit64", "getrandom",
                   "futex", "epoll_ctl", "arch_prctl"}, default).save(source / "busybox.json")
    out = tmp_path / "k8s"
    result = cli("export", str(tmp_path / "profiles"), "--format", "k8s-localhost", "-o", str(out))
    assert result.returncode == 0, result.stderr
    # laid out as the kubelet expects: kubelet-seccomp/ is copied into /var/lib/kubelet/seccomp/
    exported = out / "kubelet-seccomp" / "pytest-seccomp" / "pytest-seccomp" / "busybox.json"
    assert "includes" not in exported.read_text()
    context = out / "securitycontext" / "pytest-seccomp" / "busybox.yaml"
    assert result.stdout.splitlines() == [
        f"wrote {exported} (the kubelet loads it as localhostProfile: "
        "pytest-seccomp/pytest-seccomp/busybox.json)",
        f"wrote {context} (the container's securityContext)",
        f"on every node, copy {out / 'kubelet-seccomp'}/ into /var/lib/kubelet/seccomp/, e.g. "
        f"`rsync -a {out / 'kubelet-seccomp'}/ node:/var/lib/kubelet/seccomp/`",
    ]
    # checking the file a user deploys raises no false alarm (its rules are resolved for x86_64)
    check = cli("check", str(exported))
    assert check.returncode == 0, check.stdout
    assert "as it applies on x86_64 with the default capabilities" in check.stdout
    snippet = yaml.safe_load(context.read_text())
    assert snippet["securityContext"]["seccompProfile"] == {
        "type": "Localhost", "localhostProfile": "pytest-seccomp/pytest-seccomp/busybox.json"}
    assert snippet["securityContext"]["allowPrivilegeEscalation"] is False
    ran = docker_run(exported, "ls", "/")
    assert ran.returncode == 0 and "bin" in ran.stdout, ran.stderr
    assert json.loads(exported.read_text())["defaultAction"] == "SCMP_ACT_ERRNO"


def test_recordings_of_two_architectures_merge_per_architecture(tmp_path, busybox_image):
    """A recording made here (x86_64) and a synthetic arm64 one: each keeps its own names."""
    default = Profile.load(DOCKER_DEFAULT)
    here = Profile.load(ROOT / "examples/webapp/seccomp-profiles/pytest-seccomp/redis.json")
    assert [a for a, _ in here.arch_map] == ["SCMP_ARCH_X86_64"]  # as the engine resolves it here
    memory = {n: here.execution(n) for n in PROTECTION_SYSCALLS}  # the same executable memory
    arm64 = build_profile((here.allowed - here.runtime_only - {"open", "arch_prctl"})
                          | {"openat", "renameat"}, default, machine="aarch64",
                          runtime_syscalls=here.runtime_only, runtime=here.runtime or "",
                          nnp=here.made_for_nnp, families={"socket": here.families("socket") or ()},
                          runtimes_covered=here.runtimes_covered or "",
                          executable={n: kinds(n) if k is None else k for n, k in memory.items()})
    assert [a for a, _ in arm64.arch_map] == ["SCMP_ARCH_AARCH64"]
    (tmp_path / "x86").mkdir()
    (tmp_path / "arm").mkdir()
    here.save(tmp_path / "x86" / "redis.json")
    arm64.save(tmp_path / "arm" / "redis.json")
    result = cli("merge", str(tmp_path / "x86"), str(tmp_path / "arm"), "-o", str(tmp_path / "m"))
    assert result.returncode == 0, result.stderr
    merged = Profile.load(tmp_path / "m" / "redis.json")
    rules = {c: n for c, n in merged.rules.items() if c.action == "SCMP_ACT_ALLOW"}
    only_on: dict = {}  # the app's and the runtime's rules each carry their arch-only names
    for c, n in rules.items():
        if c.includes:
            only_on.setdefault(dict(c.includes).get("arches"), set()).update(n)
    assert "renameat" in only_on[("arm64",)] and "renameat" not in here.allowed
    assert "arch_prctl" in only_on[("amd64",)]
    assert here.allowed & arm64.allowed <= {
        n for c, ns in rules.items() if not dict(c.includes).get("arches") for n in ns}
    assert merged.wider_than(default) == []
    assert sorted(a for a, _ in merged.arch_map) == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_X86_64"]
    assert (cli("merge", str(tmp_path / "arm"), str(tmp_path / "x86"), "-o", str(tmp_path / "m2"))
            .returncode == 0)
    assert (tmp_path / "m2" / "redis.json").read_bytes() == (tmp_path / "m" / "redis.json").read_bytes()


def test_the_cli_reads_what_runs_in_the_cluster(tmp_path):
    """check, show and diff take a Security Profiles Operator resource too: what a cluster runs
    can be compared with what the tests recorded."""
    default = Profile.load(DOCKER_DEFAULT)
    recorded = tmp_path / "app.json"
    build_profile({"read", "write", "mkdir"}, default).save(recorded)
    exported = tmp_path / "app.yaml"
    exported.write_text(yaml.safe_dump(to_spo("app", resolve(Profile.load(recorded)))))
    checked = cli("check", str(exported), "--default", str(DOCKER_DEFAULT))
    assert checked.returncode == 0 and "OK (" in checked.stdout, checked.stdout + checked.stderr
    assert "mkdir" in cli("show", str(exported)).stdout
    wider = tmp_path / "wider.json"
    build_profile({"read", "write", "mkdir", "rmdir"}, default).save(wider)
    diff = cli("diff", str(exported), str(wider))
    assert diff.returncode == 1 and "+rmdir" in diff.stdout.replace(" ", "")
    for text, says in (("kind: Pod\n", "not a SeccompProfile"), ("a: [b\n", "not valid YAML"),
                       ("kind: SeccompProfile\n", "has no spec")):
        exported.write_text(text)
        bad = cli("check", str(exported))
        assert bad.returncode != 0 and says in bad.stderr and "Traceback" not in bad.stderr
