"""The engine's default as it applies to one container: capabilities from the create request,
the rules moby keeps for them, and enforce's judgement that a refusal is the default's own (runc
1.3's open_tree on `docker exec`, a NUMA-aware server's get_mempolicy). No root, no engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_seccomp.profiles.applies import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    Applied,
    EngineKind,
    applied_allows,
    capabilities,
    refused_by_default,
    why_default_refuses,
)
from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT, EngineDefault
from pytest_seccomp.profiles.model import Profile, build_profile
from pytest_seccomp.recording.store import ContainerRecord, Recording
from pytest_seccomp.reporting.report import enforce_summary_lines
from pytest_seccomp.sessions.enforce import EnforceSession, LoadedProfile
from pytest_seccomp.sessions.shared import Options
from pytest_seccomp.tracing.tracer import Caller

from .test_sessions import ID, snapshot

DEFAULT = Profile.load(DOCKER_DEFAULT) if DOCKER_DEFAULT.is_file() else None
needs_default = pytest.mark.skipif(DEFAULT is None, reason="Debian's default.json is not here")
DOCKER = DEFAULT_CAPABILITIES[EngineKind.DOCKER]


def test_a_docker_container_gets_the_fourteen_default_capabilities_as_changed_by_its_request():
    assert capabilities(EngineKind.DOCKER, {}) == DOCKER and len(DOCKER) == 14
    assert len(capabilities(EngineKind.PODMAN, {})) == 11  # no MKNOD, NET_RAW, AUDIT_WRITE
    added = capabilities(EngineKind.DOCKER, {"CapAdd": ["sys_admin"], "CapDrop": ["NET_RAW"]})
    assert added == (DOCKER - {"CAP_NET_RAW"}) | {"CAP_SYS_ADMIN"}
    assert capabilities(EngineKind.DOCKER, {"CapDrop": ["ALL"], "CapAdd": ["CAP_KILL"]}) == \
        {"CAP_KILL"}
    assert capabilities(EngineKind.DOCKER, {"CapAdd": ["ALL"]}) == ALL_CAPABILITIES
    assert capabilities(EngineKind.PODMAN, {"Privileged": True}) == ALL_CAPABILITIES
    assert capabilities(EngineKind.DOCKER, {"CapAdd": None, "CapDrop": None}) == DOCKER


@needs_default
def test_open_tree_and_the_numa_calls_are_the_defaults_only_with_their_capability():
    assert DEFAULT is not None
    plain = Applied(DOCKER)
    for name in ("open_tree", "mount", "get_mempolicy", "mbind", "set_mempolicy"):
        assert DEFAULT.allow_conditions(name), name  # listed by some rule...
        assert refused_by_default(DEFAULT, name, plain), name  # ...refused all the same
    assert not refused_by_default(DEFAULT, "open_tree", Applied(DOCKER | {"CAP_SYS_ADMIN"}))
    assert not refused_by_default(DEFAULT, "mbind", Applied(DOCKER | {"CAP_SYS_NICE"}))
    assert not refused_by_default(DEFAULT, "read", Applied(frozenset()))
    assert refused_by_default(DEFAULT, "kexec_load", Applied(DOCKER))
    # an unknown container: only names no rule lists (the earlier judgement)
    assert not refused_by_default(DEFAULT, "open_tree", None)
    assert why_default_refuses(DEFAULT, "open_tree", plain) == (
        "the default allows it only with CAP_SYS_ADMIN, which this container lacks")
    assert why_default_refuses(DEFAULT, "kexec_load", plain) == "the default never allows it"


@needs_default
def test_architecture_rules_apply_on_their_architecture_only():
    assert DEFAULT is not None
    # arch_prctl is amd64/x32's own; s390x's s390_pci_mmio_read its own
    assert applied_allows(DEFAULT, "arch_prctl", Applied(DOCKER, "amd64"))
    assert not applied_allows(DEFAULT, "arch_prctl", Applied(DOCKER, "arm64"))
    assert applied_allows(DEFAULT, "s390_pci_mmio_read", Applied(DOCKER, "s390x"))
    assert not applied_allows(DEFAULT, "s390_pci_mmio_read", Applied(DOCKER, "amd64"))


def test_min_kernel_and_excluded_capabilities_decide_as_moby_does():
    profile = Profile.from_json({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    ]})
    assert applied_allows(profile, "ptrace", Applied(DOCKER, kernel="6.18.44-fc"))
    assert not applied_allows(profile, "ptrace", Applied(DOCKER, kernel="4.4.0-generic"))
    assert applied_allows(profile, "ptrace", Applied(DOCKER))  # kernel unknown: kept
    assert applied_allows(profile, "personality", Applied(DOCKER))
    assert not applied_allows(profile, "personality", Applied(DOCKER | {"CAP_SYS_ADMIN"}))


@given(st.sets(st.sampled_from(sorted(ALL_CAPABILITIES))))
def test_more_capabilities_never_make_the_default_refuse_more(held: set[str]):
    """Every capability rule of Docker's default is an include: a container holding more
    capabilities is refused a subset of what one holding fewer is."""
    if DEFAULT is None:
        return
    fewer, more = Applied(frozenset(held) & DOCKER), Applied(frozenset(held) | DOCKER)
    for name in ("open_tree", "mount", "mbind", "bpf", "ptrace", "clone", "kcmp"):
        if refused_by_default(DEFAULT, name, more):
            assert refused_by_default(DEFAULT, name, fewer), name


@needs_default
def test_enforce_calls_runcs_open_tree_on_exec_the_defaults_own_refusal(tmp_path: Path):
    """runc 1.3.6 calls open_tree after installing the filter when it joins a container
    (`docker exec`); the default refuses it too, without CAP_SYS_ADMIN: no failure, named in
    the summary. With CAP_SYS_ADMIN the default would have let it run: a failure."""
    assert DEFAULT is not None
    for held, failure in ((DOCKER, False), (DOCKER | {"CAP_SYS_ADMIN"}, True)):
        session = EnforceSession(Options(profile_dir=tmp_path), strict=True)
        session.default = EngineDefault(DOCKER_DEFAULT, DEFAULT)
        profile = build_profile({"read", "write"}, DEFAULT)
        session.loaded["redis"] = LoadedProfile("redis", tmp_path / "redis.json",
                                                profile.dumps(), profile)
        session.recording = Recording()
        session.recording.add(ContainerRecord(ID, "cache", "redis", "redis", "test_a.py::t",
                                              applied=Applied(frozenset(held))))
        session.recording.apply(snapshot(refused={"open_tree": 1},
                                         caller=Caller("runc:[2:INIT]", "runc:[2:INIT]")),
                                "test_a.py::t")
        session.current.nodeid = "test_a.py::t"
        refusals = session.take_refusals()
        assert [r.syscall for r in refusals] == (["open_tree"] if failure else [])
        lines = list(enforce_summary_lines(session.outcome(), False))
        said = [line for line in lines if "refused as under the engine's default" in line]
        if failure:
            assert said == []
        else:
            assert said == [
                "refused as under the engine's default, which refuses it too (the default "
                "allows it only with CAP_SYS_ADMIN, which this container lacks; so did the "
                "recording's run): open_tree x1 by process 'runc:[2:INIT]' in redis"], lines
