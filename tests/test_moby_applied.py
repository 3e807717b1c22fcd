"""The default as it applies to a container, judged against the engine's own code: moby's
seccomp.LoadProfile (Debian's golang-github-docker-docker-dev, built here with golang-go), for
the capability sets containers are started with, on Docker's default.json and on profiles with
excluded capabilities and architectures. What enforce calls "the default's own refusal" is
exactly what moby's filter for that container leaves out."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_seccomp.profiles.applies import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    Applied,
    EngineKind,
    applied_allows,
    go_arch,
)
from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT
from pytest_seccomp.profiles.model import Profile

HARNESS = Path(__file__).parent / "moby" / "applied.go"
DOCKER = DEFAULT_CAPABILITIES[EngineKind.DOCKER]
EXCLUDING = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
     "includes": {"caps": ["CAP_SYS_PTRACE", "CAP_SYS_ADMIN"]}},
    {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
    {"names": ["modify_ldt"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
    {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
]}


@pytest.fixture(scope="module")
def moby(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("moby") / "applied"
    built = subprocess.run(["go", "build", "-o", str(binary), str(HARNESS)],
                           env={**os.environ, "GOPATH": "/usr/share/gocode", "GO111MODULE": "off",
                                "GOFLAGS": "", "GOCACHE": str(binary.parent / "cache")},
                           capture_output=True, text=True, check=False)
    assert built.returncode == 0, ("moby's loader did not build (scripts/setup.sh installs "
                                   "golang-go and golang-github-docker-docker-dev): " + built.stderr)
    return binary


def moby_allows(moby: Path, profile: Path, caps: frozenset[str]) -> set[str]:
    out = subprocess.run([str(moby), str(profile), ",".join(sorted(caps))], capture_output=True,
                         text=True, check=True).stdout
    return {name for rule in json.loads(out)["syscalls"] or []
            if rule["action"] == "SCMP_ACT_ALLOW" for name in rule["names"]}


def ours(profile: Profile, caps: frozenset[str]) -> set[str]:
    applied = Applied(caps, go_arch(os.uname().machine), os.uname().release)
    return {n for n in profile.allowed if applied_allows(profile, n, applied)}


CAPABILITY_SETS = [DOCKER, DEFAULT_CAPABILITIES[EngineKind.PODMAN], frozenset(),
                   DOCKER | {"CAP_SYS_ADMIN"}, DOCKER | {"CAP_SYS_NICE"},
                   DOCKER | {"CAP_SYS_PTRACE"}, ALL_CAPABILITIES]


@pytest.mark.parametrize("caps", CAPABILITY_SETS, ids=lambda c: f"{len(c)} caps")
def test_the_default_applies_to_a_container_as_moby_applies_it(moby: Path, caps: frozenset[str]):
    assert moby_allows(moby, DOCKER_DEFAULT, caps) == ours(Profile.load(DOCKER_DEFAULT), caps)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.frozensets(st.sampled_from(sorted(ALL_CAPABILITIES))))
def test_any_capability_set_and_excluding_rules_as_moby(moby: Path, tmp_path: Path,
                                                       caps: frozenset[str]):
    excluding = tmp_path / "excluding.json"
    excluding.write_text(json.dumps(EXCLUDING))
    assert moby_allows(moby, excluding, caps) == ours(Profile.load(excluding), caps)
    assert moby_allows(moby, DOCKER_DEFAULT, caps) == ours(Profile.load(DOCKER_DEFAULT), caps)
