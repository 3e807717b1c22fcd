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
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_seccomp.errors import ProfileError
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


# -- the file as the engine reads it: Go's keys, name and names, the actions that run ----------
KEYS = {"defaultAction": ["defaultAction", "DefaultAction", "DEFAULTACTION", "defaultaction"],
        "syscalls": ["syscalls", "Syscalls", "\u017fyscalls", "SYSCALLS"],
        "names": ["names", "Names", "NAMES"], "name": ["name", "Name", "NAME"],
        "action": ["action", "Action", "ACTION"],
        "includes": ["includes", "Includes"], "caps": ["caps", "Caps", "CAPS"]}
ACTIONS = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", ""]
NAMES = ["read", "write", "open_tree", "kexec_load", "ptrace", "mount"]


def keyed(draw: st.DrawFn, field: str, value: str) -> list[str]:
    """One or more spellings of `field`, each with a value: JSON members as text."""
    return [f"{json.dumps(draw(st.sampled_from(KEYS[field])))}: {v}"
            for v in [value, *draw(st.lists(st.just(value), max_size=1))]]


@st.composite
def profile_texts(draw: st.DrawFn) -> str:
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        members = [f"{json.dumps(draw(st.sampled_from(KEYS['action'])))}: "
                   f"{json.dumps(draw(st.sampled_from(ACTIONS[:4])))}"]
        members.append(f"{json.dumps(draw(st.sampled_from(KEYS['names'])))}: "
                       f"{json.dumps(draw(st.lists(st.sampled_from(NAMES), max_size=2)))}")
        if draw(st.booleans()):
            members.append(f"{json.dumps(draw(st.sampled_from(KEYS['name'])))}: "
                           f"{json.dumps(draw(st.sampled_from(['', *NAMES])))}")
        if draw(st.booleans()):
            caps = json.dumps(draw(st.lists(st.sampled_from(["CAP_SYS_ADMIN", "CAP_KILL"]),
                                            min_size=1, max_size=1)))
            members.append(f"{json.dumps(draw(st.sampled_from(KEYS['includes'])))}: "
                           f"{{{json.dumps(draw(st.sampled_from(KEYS['caps'])))}: {caps}}}")
        rules.append("{" + ", ".join(draw(st.permutations(members))) + "}")
    members = []
    for _ in range(draw(st.integers(1, 3))):
        members.append(f"{json.dumps(draw(st.sampled_from(KEYS['defaultAction'])))}: "
                       f"{json.dumps(draw(st.sampled_from(ACTIONS)))}")
    if rules or draw(st.booleans()):
        members.append(f"{json.dumps(draw(st.sampled_from(KEYS['syscalls'])))}: "
                       f"[{', '.join(rules)}]")
    return "{" + ", ".join(draw(st.permutations(members))) + "}"


RUN = {"SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"}


def _moby_reads(moby: Path, path: Path, caps: frozenset[str]) -> dict[str, Any] | None:
    """What dockerd hands runc for a container holding `caps`; None: an error, or no filter."""
    ran = subprocess.run([str(moby), str(path), ",".join(sorted(caps))], capture_output=True,
                         text=True, check=False)
    loaded: dict[str, Any] | None = json.loads(ran.stdout) if ran.returncode == 0 else None
    return loaded
VALID = RUN | {"SCMP_ACT_ERRNO"}


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(profile_texts())
@example('{"defaultAction": "SCMP_ACT_ERRNO", "DefaultAction": ""}')  # no filter at all
@example('{"defaultAction": "SCMP_ACT_ERRNO", "DefaultAction": "SCMP_ACT_ALLOW", "syscalls": []}')
@example('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "name": "kexec_load", '
         '"action": "SCMP_ACT_ALLOW"}]}')
@example('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], '
         '"action": "SCMP_ACT_ALLOW", "Action": "SCMP_ACT_LOG"}, {"names": ["kexec_load"], '
         '"action": "SCMP_ACT_LOG"}]}')
def test_a_profile_file_reads_as_moby_reads_it(moby: Path, tmp_path: Path, text: str):
    """Generated files with keys in every case, repeated, `name` beside `names`, LOG and TRACE
    rules: where moby hands runc a filter it would load, this tool reads the same default
    action and lets the same names run; where moby refuses the file, hands runc no filter or
    one runc refuses, this tool refuses it too."""
    path = tmp_path / "profile.json"
    path.write_text(text)
    caps = DOCKER
    readings = [_moby_reads(moby, path, held) for held in (caps, ALL_CAPABILITIES)]
    loaded = readings[0]
    # (a rule moby drops for a container it does not check: the file is judged for every one)
    engine_loads = all(r is not None and r["defaultAction"] in VALID and all(
        rule["action"] in VALID and rule["names"] for rule in r.get("syscalls") or [])
        for r in readings)
    try:
        profile = Profile.load(path)
    except ProfileError:
        assert not engine_loads, (text, loaded)
        return
    assert engine_loads, (text, readings)
    assert loaded is not None
    assert profile.default_action == loaded["defaultAction"], text
    theirs = {n for r in loaded.get("syscalls") or [] if r["action"] in RUN for n in r["names"]}
    assert ours(profile, caps) == theirs, text
