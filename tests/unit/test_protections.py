"""Executable memory rules: what the written rules let through, evaluated as the kernel's filter
would, for every request a memory syscall can make; and how every reader names them."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pytest_seccomp.profiles.arguments import arg_key, label, parse_label
from pytest_seccomp.profiles.engine_default import SHIPPED
from pytest_seccomp.profiles.model import ALLOW, Profile, build_profile
from pytest_seccomp.profiles.protections import (
    PROT_EXEC,
    PROT_WRITE,
    PROTECTION_SYSCALLS,
    SHM_EXEC,
    Execution,
    kinds,
    rule_kinds,
    rules_for,
)
from pytest_seccomp.profiles.syscalls import syscall_number
from pytest_seccomp.sessions.enforce import _refused_by_filter

DEFAULT = Profile.load(SHIPPED / "docker-28.5.2.json")  # allows pkey_mprotect (20.10's does not)
BASE = ["read", "write", "exit_group", "socket"]
used_kinds = st.fixed_dictionaries({}, optional={
    name: st.frozensets(st.sampled_from(sorted(kinds(name)))) for name in PROTECTION_SYSCALLS})


def _passes(check: dict[str, Any], value: int) -> bool:
    """One argument check as libseccomp compiles it (only the ops these rules use)."""
    assert check["op"] == "SCMP_CMP_MASKED_EQ" and check["index"] == 2
    return value & check["value"] == check.get("valueTwo", 0)


def allowed(profile: Profile, name: str, value: int) -> bool:
    """Whether the profile's filter lets `name` through with argument 2 = `value`."""
    return any(all(_passes(dict(a), value) for a in condition.args)
               for condition in profile.allow_conditions(name))


def requests(name: str) -> dict[int, Execution | None]:
    """Every argument 2 a request can carry (the bits that matter, with others set too) ->
    the kind of executable memory it asks for."""
    if name == "shmat":
        return {flags: Execution.EXEC if flags & SHM_EXEC else None
                for flags in (0, 0o10000, SHM_EXEC, SHM_EXEC | 0o20000)}
    out: dict[int, Execution | None] = {}
    for prot in range(16):  # PROT_READ, PROT_WRITE, PROT_EXEC, PROT_SEM
        for high in (0, 1 << 24):  # PROT_GROWSDOWN
            kind = None if not prot & PROT_EXEC else \
                Execution.WRITE_EXEC if prot & PROT_WRITE else Execution.EXEC
            out[prot | high] = kind
    return out


@given(used_kinds)
def test_a_memory_syscall_gets_executable_memory_only_as_the_tests_asked_for_it(used):
    profile = build_profile([*BASE, *PROTECTION_SYSCALLS], DEFAULT, executable=used)
    for name in PROTECTION_SYSCALLS:
        asked = used.get(name, frozenset())
        for value, kind in requests(name).items():
            expected = kind is None or kind in asked or Execution.WRITE_EXEC in asked
            assert allowed(profile, name, value) == expected, (name, hex(value), asked)
    assert profile.wider_than(DEFAULT) == []
    assert build_profile([*BASE, *PROTECTION_SYSCALLS], DEFAULT, executable=used).dumps() \
        == profile.dumps()  # byte-identical


@given(used_kinds)
def test_the_rules_read_back_as_what_they_allow(used):
    for name in PROTECTION_SYSCALLS:
        rules = rules_for(name, used.get(name, ()))
        if rules is None:
            continue
        assert rules, "memory that is not executable is always allowed"
        assert rule_kinds(name, rules[-1]) is not None
    profile = build_profile([*BASE, *PROTECTION_SYSCALLS], DEFAULT, executable=used)
    for name in PROTECTION_SYSCALLS:
        got = profile.execution(name)
        asked = used.get(name, frozenset())
        if got is None:
            assert Execution.WRITE_EXEC in asked or (name == "shmat" and asked)
        else:
            assert got == asked
    # saved and loaded, the same rules
    assert Profile.from_json(profile.to_json()).execution("mprotect") == \
        profile.execution("mprotect")


@given(used_kinds)
def test_a_profile_that_filters_memory_is_a_narrowing_of_one_that_does_not(used):
    plain = build_profile([*BASE, *PROTECTION_SYSCALLS], DEFAULT)
    filtered = build_profile([*BASE, *PROTECTION_SYSCALLS], DEFAULT, executable=used)
    assert not plain.diff(filtered).widens
    back = filtered.diff(plain)
    refused = {label(n, k) for n in PROTECTION_SYSCALLS for k in kinds(n)
               if not allowed(filtered, n, {Execution.EXEC: PROT_EXEC if n != "shmat" else SHM_EXEC,
                                            Execution.WRITE_EXEC: PROT_WRITE | PROT_EXEC}[k])}
    assert {name for name, _ in back.added} == refused
    # a union with the plain profile allows what it allows: the plain rule holds the names
    assert filtered.union(plain).dumps() == plain.dumps()


def test_names_arrive_and_leave_with_their_kinds_in_a_diff():
    none = build_profile(BASE, DEFAULT, executable={})
    some = build_profile([*BASE, "mprotect"], DEFAULT, executable={})
    assert none.diff(some).lines() == ["+mprotect"]  # not its kinds: it was not there at all
    jit = build_profile([*BASE, "mprotect"], DEFAULT, executable={"mprotect": {Execution.EXEC}})
    assert some.diff(jit).lines() == ["+mprotect(PROT_EXEC)"]
    assert jit.diff(some).lines() == ["-mprotect(PROT_EXEC)"]


def test_labels_round_trip():
    for name in PROTECTION_SYSCALLS:
        for kind in kinds(name):
            assert parse_label(label(name, kind)) == (name, kind)
    assert label("mmap", Execution.WRITE_EXEC) == "mmap(PROT_WRITE|PROT_EXEC)"
    assert label("shmat", Execution.EXEC) == "shmat(SHM_EXEC)"
    assert parse_label("mmap(SHM_EXEC)") == ("mmap(SHM_EXEC)", None)  # not a kind of mmap's


def test_enforce_says_what_the_profile_allows_of_a_refused_request():
    profile = build_profile([*BASE, "mmap", "mprotect"], DEFAULT,
                            executable={"mmap": {Execution.EXEC}})
    mmap, mprotect = syscall_number("mmap"), syscall_number("mprotect")
    assert mmap is not None and mprotect is not None
    assert _refused_by_filter(profile, arg_key(mmap, Execution.EXEC)) is None  # allowed: the
    # kernel's own EPERM (PROT_EXEC on a noexec mount) is not the filter's
    assert _refused_by_filter(profile, arg_key(mmap, Execution.WRITE_EXEC)) == (
        "the profile allows mmap only for memory that is not executable, or executable and "
        "not writable (mmap(PROT_EXEC))")
    assert _refused_by_filter(profile, arg_key(mprotect, Execution.EXEC)) == (
        "the profile allows mprotect only for memory that is not executable")
    assert {c.action for c in profile.allow_conditions("mmap")} == {ALLOW}
    shmat = syscall_number("shmat")  # not allowed at all: refused by name, whatever it asked
    assert shmat is not None and _refused_by_filter(profile, arg_key(shmat, Execution.EXEC)) == ""
