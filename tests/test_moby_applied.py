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
from hypothesis import HealthCheck, event, example, given, settings
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
from pytest_seccomp.profiles.files import parse_json
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
        "includes": ["includes", "Includes"], "caps": ["caps", "Caps", "CAPS"],
        "minKernel": ["minKernel", "minkernel", "MinKernel"],
        "args": ["args", "Args"], "index": ["index", "Index", "INDEX"],
        "value": ["value", "Value", "VALUE"], "valueTwo": ["valueTwo", "ValueTwo"],
        "op": ["op", "Op", "OP"], "comment": ["comment", "Comment"],
        "errnoRet": ["errnoRet", "ErrnoRet"]}
ACTIONS = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", ""]
NAMES = ["read", "write", "open_tree", "kexec_load", "ptrace", "mount"]
# values the engine takes, and (drawn one time in eight) values it refuses, per field
GOOD = {"index": ["0", "1", "5", "null"], "value": ["0", "2", "18446744073709551615"],
        "valueTwo": ["0", "3", "null"], "op": ['"SCMP_CMP_EQ"', '"SCMP_CMP_MASKED_EQ"',
                                               '"SCMP_CMP_NE"'],
        "minKernel": ['"4.8"', '"99.1"', '"04.08"', '""', "null"],
        "comment": ['"x"', '"pytest-seccomp: what the runtime needs (runc) after"', "null"],
        "errnoRet": ["1", "null"]}
BAD = {"index": ["6", "-1", "1.0", '"1"'], "value": ["18446744073709551616", "-2", "1e3"],
       "valueTwo": ["-3", "true"], "op": ['""', '"SCMP_CMP_ALWAYS"', "1"],
       "minKernel": ['"abc"', '"4.8.1"', '"0.0"', '"256.1"', "5"], "comment": ["5", "[]"],
       "errnoRet": ["-1", '"1"']}
# what runc refuses of a filter moby hands it (libseccomp's: six arguments, known comparisons)
OPERATORS = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
             "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}


def member(draw: st.DrawFn, field: str, value: str | None = None) -> str:
    """`"<a spelling of field>": value` (a drawn value of the field's when none is given)."""
    if value is None:
        value = draw(st.sampled_from(BAD[field] if draw(st.integers(0, 7)) == 0
                                     else GOOD[field]))
    return f"{json.dumps(draw(st.sampled_from(KEYS[field])))}: {value}"


def obj(draw: st.DrawFn, members: list[str]) -> str:
    return "{" + ", ".join(draw(st.permutations(members))) + "}"


@st.composite
def profile_texts(draw: st.DrawFn) -> str:
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        members = [member(draw, "action", json.dumps(draw(st.sampled_from(ACTIONS[:4])))),
                   member(draw, "names",
                          json.dumps(draw(st.lists(st.sampled_from(NAMES), max_size=2,
                                                   min_size=draw(st.sampled_from([0, *[1] * 7])))
                                          )))]
        if draw(st.integers(0, 3)) == 0:
            members.append(member(draw, "name", json.dumps(draw(st.sampled_from(['', *NAMES])))))
        if draw(st.booleans()):
            inner = [member(draw, "caps", json.dumps(draw(st.lists(
                st.sampled_from(["CAP_SYS_ADMIN", "CAP_KILL"]), min_size=1, max_size=1))))]
            if draw(st.booleans()):
                inner.append(member(draw, "minKernel"))
            members.append(member(draw, "includes", obj(draw, inner)))
        if draw(st.booleans()):
            args = [obj(draw, [member(draw, f) for f in draw(st.sets(st.sampled_from(
                ["index", "value", "valueTwo", "op"]), min_size=1))])
                for _ in range(draw(st.integers(1, 2)))]
            members.append(member(draw, "args", "[" + ", ".join(args) + "]"))
        for optional in ("comment", "errnoRet"):
            if draw(st.integers(0, 3)) == 0:
                members.append(member(draw, optional))
        rules.append(obj(draw, members))
    members = [member(draw, "defaultAction", json.dumps(draw(st.sampled_from(ACTIONS))))
               for _ in range(draw(st.integers(1, 3)))]
    if rules or draw(st.booleans()):
        members.append(member(draw, "syscalls", f"[{', '.join(rules)}]"))
    return obj(draw, members)


RUN = {"SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"}
VALID = RUN | {"SCMP_ACT_ERRNO"}


class MobyReader:
    """moby's LoadProfile in one process for every example (`applied -serve`)."""

    def __init__(self, binary: Path) -> None:
        self.process = subprocess.Popen([str(binary), "-serve"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def reads(self, text: str, caps: frozenset[str]) -> dict[str, Any] | None:
        """What dockerd hands runc for a container holding `caps`; None: moby refuses it."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"profile": text, "caps": ",".join(sorted(caps))})
                                 + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        loaded: dict[str, Any] | None = answer["loaded"] if not answer.get("error") else None
        return loaded


@pytest.fixture(scope="module")
def moby_reader(moby: Path) -> Any:
    reader = MobyReader(moby)
    yield reader
    reader.process.kill()
    reader.process.wait()


def runc_loads(loaded: dict[str, Any] | None) -> bool:
    """moby handed runc a filter (not none: an unconfined container) that runc installs."""
    return loaded is not None and loaded["defaultAction"] in VALID and all(
        rule["action"] in VALID and rule["names"]
        and all(a["op"] in OPERATORS and a["index"] <= 5 for a in rule.get("args") or [])
        for rule in loaded.get("syscalls") or [])


def running_rules(loaded: dict[str, Any]) -> set[tuple[str, frozenset[tuple[int, int, int, str]]]]:
    return {(n, frozenset((a["index"], a["value"], a.get("valueTwo", 0), a["op"])
                          for a in r.get("args") or []))
            for r in loaded.get("syscalls") or [] if r["action"] in RUN for n in r["names"]}


def our_rules(profile: Profile, caps: frozenset[str]
              ) -> set[tuple[str, frozenset[tuple[int, int, int, str]]]]:
    applied = Applied(caps, go_arch(os.uname().machine), os.uname().release)
    return {(n, frozenset((dict(a)["index"], dict(a)["value"], dict(a).get("valueTwo", 0),
                           dict(a)["op"]) for a in c.args))
            for c, names in profile.rules.items() if c.action in RUN and applied.keeps(c)
            for n in names}


@settings(max_examples=int(os.environ.get("PYTEST_SECCOMP_MOBY_EXAMPLES", "3000")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(profile_texts())
@example('{"defaultAction": "SCMP_ACT_ERRNO", "DefaultAction": ""}')  # no filter at all
@example('{"defaultAction": "SCMP_ACT_ERRNO", "DefaultAction": "SCMP_ACT_ALLOW", "syscalls": []}')
@example('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "name": "kexec_load", '
         '"action": "SCMP_ACT_ALLOW"}]}')
@example('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], '
         '"action": "SCMP_ACT_ALLOW", "Action": "SCMP_ACT_LOG"}, {"names": ["kexec_load"], '
         '"action": "SCMP_ACT_LOG"}]}')
@example('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], '
         '"action": "SCMP_ACT_ALLOW", "args": [{"op": "SCMP_CMP_EQ"}]}]}')  # index, value: 0
@example('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], '
         '"action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "abc"}}]}')
def test_a_profile_file_reads_as_moby_reads_it(moby_reader: MobyReader, text: str):
    """Generated files with keys in every case, repeated, `name` beside `names`, LOG and TRACE
    rules, argument checks with missing, negative, too large or fractional values, kernel
    versions good and bad, comments and errno values of the wrong type: where moby hands runc
    a filter runc installs, this tool reads the same default action and lets the same names
    run under the same argument checks; where moby refuses the file, hands runc no filter or
    one runc refuses, this tool refuses it too."""
    readings = [moby_reader.reads(text, held) for held in (DOCKER, ALL_CAPABILITIES)]
    # (a rule moby drops for a container it does not check: the file is judged for every one)
    engine_loads = all(runc_loads(r) for r in readings)
    event("the engine loads it" if engine_loads else "the engine refuses it")
    try:
        profile = Profile.from_json(parse_json(text, "generated"), "generated")
    except ProfileError as refused:
        # (a rule the engine or runc refuses fails the start of any container it applies to;
        # moby drops a rule first where it does not apply, and one with minKernel 99.1 applies
        # to none on this kernel: such a file is refused here whatever the container)
        assert not engine_loads or ("syscalls[" in str(refused) and '"99.1"' in text), \
            (text, readings[0])
        return
    assert engine_loads, (text, readings)
    for loaded, caps in zip(readings, (DOCKER, ALL_CAPABILITIES), strict=True):
        assert loaded is not None
        assert profile.default_action == loaded["defaultAction"], text
        assert our_rules(profile, caps) == running_rules(loaded), text
