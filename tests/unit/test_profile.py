"""The profile model: laws of union, byte-stable output, never wider than the default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_seccomp.errors import ProfileError
from pytest_seccomp.profiles.engine_default import DOCKER_DEFAULT
from pytest_seccomp.profiles.model import ALLOW, ALWAYS_ALLOWED, Condition, Profile, build_profile

NAMES = ["read", "write", "openat", "close", "clone", "clone3", "personality", "mkdir", "ptrace",
         "exit", "exit_group", "rt_sigreturn", "arch_prctl", "chroot", "mount", "socket",
         "socketpair"]
CAPS = ["CAP_SYS_ADMIN", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE"]

conditions = st.fixed_dictionaries(
    {"action": st.sampled_from(["SCMP_ACT_ALLOW", "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"])},
    optional={
        "args": st.lists(st.fixed_dictionaries({
            "index": st.integers(0, 5), "value": st.integers(0, 2**32),
            "op": st.sampled_from(["SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ"])}), max_size=2),
        "includes": st.fixed_dictionaries({}, optional={
            "caps": st.lists(st.sampled_from(CAPS), max_size=2),
            "arches": st.lists(st.sampled_from(["amd64", "arm64"]), max_size=2)}),
        "excludes": st.fixed_dictionaries({}, optional={
            "caps": st.lists(st.sampled_from(CAPS), max_size=2)}),
    },
)
rules = st.builds(lambda names, cond: {"names": names, **cond},
                  st.lists(st.sampled_from(NAMES), min_size=1, max_size=6), conditions)
profiles_json = st.builds(
    lambda rs: {"defaultAction": "SCMP_ACT_ERRNO",
                "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                             "subArchitectures": ["SCMP_ARCH_X86"]}],
                "syscalls": rs},
    st.lists(rules, max_size=8),
)
profiles = profiles_json.map(Profile.from_json)


@given(profiles, profiles)
def test_union_is_commutative(a, b):
    assert a.union(b).dumps() == b.union(a).dumps()


@given(profiles, profiles, profiles)
def test_union_is_associative(a, b, c):
    assert a.union(b).union(c).dumps() == a.union(b.union(c)).dumps()


@given(profiles)
def test_union_is_idempotent(a):
    assert a.union(a).dumps() == a.dumps()


@given(profiles)
def test_serialisation_is_byte_stable(a):
    text = a.dumps()
    assert Profile.from_json(json.loads(text)).dumps() == text
    assert text.endswith("}\n")


@given(profiles_json, st.randoms())
def test_rule_order_does_not_change_the_file(data, rnd):
    shuffled = dict(data, syscalls=list(data["syscalls"]))
    rnd.shuffle(shuffled["syscalls"])
    assert Profile.from_json(data).dumps() == Profile.from_json(shuffled).dumps()


@settings(max_examples=300)
@given(profiles, st.sets(st.sampled_from(NAMES)))
def test_built_profile_is_never_wider_than_its_default(default, wanted):
    always = set(ALWAYS_ALLOWED)
    try:
        built = build_profile(wanted, default)
    except ProfileError as exc:
        refused = {n for n in wanted | always if not default.allow_conditions(n)}
        assert refused and all(n in str(exc) for n in refused)
        return
    assert built.wider_than(default) == []
    assert built.allowed == (wanted | always) & default.allowed
    assert built.denies_by_default


@given(profiles, profiles)
def test_wider_than_spots_every_extra_permission(a, b):
    merged = a.union(b)
    problems = merged.wider_than(a)
    for name in merged.allowed - a.allowed:  # each name a refuses outright is named
        assert f"{name} is allowed but the default refuses it" in problems, (name, problems)
    assert a.wider_than(a) == [] or not a.denies_by_default


def test_wider_than_names_an_added_permission():
    default = Profile.load(DOCKER_DEFAULT)
    built = build_profile({"read"}, default)
    extra = Profile(built.default_action, built.default_errno_ret, built.arch_map,
                    {**built.rules, Condition(ALLOW): frozenset({"read", "kexec_load"})})
    assert extra.wider_than(default) == ["kexec_load is allowed but the default refuses it"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=12,
)
keys = st.sampled_from(["defaultAction", "syscalls", "archMap", "architectures",
                        "defaultErrnoRet", "names", "action", "args", "includes"])
profile_like = st.dictionaries(keys, json_values | st.lists(st.dictionaries(keys, json_values)))


@given(st.one_of(json_values, profile_like))
def test_any_json_gives_a_profile_or_a_clear_error(data):
    try:
        Profile.from_json(data)
    except ProfileError as exc:
        assert str(exc)


def test_invalid_file_is_a_one_paragraph_error(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ProfileError, match=r"is not valid JSON \(line 1, column 2"):
        Profile.load(bad)


def test_engine_default_builds_conditional_rules_and_carries_enosys():
    default = Profile.load(DOCKER_DEFAULT)
    built = build_profile({"read", "clone", "personality"}, default)
    data = json.loads(built.dumps())
    plain = data["syscalls"][0]
    assert plain["action"] == "SCMP_ACT_ALLOW" and "args" not in plain
    assert plain["names"] == ["exit", "exit_group", "read", "restart_syscall", "rt_sigreturn", "sched_yield"]
    clone = [r for r in data["syscalls"] if r["names"] == ["clone"]]
    assert clone and all("args" in r or "includes" in r for r in clone)
    enosys = [r for r in data["syscalls"] if r["names"] == ["clone3"]
              and r["action"] == "SCMP_ACT_ERRNO"]
    assert {r["errnoRet"] for r in enosys} >= {38}
    assert built.wider_than(default) == []


def test_syscall_the_default_refuses_is_an_error():
    default = Profile.load(DOCKER_DEFAULT)
    with pytest.raises(ProfileError, match="refuses: kexec_load"):
        build_profile({"read", "kexec_load"}, default)


def test_save_is_atomic_and_0644(tmp_path: Path):
    target = tmp_path / "p.json"
    target.write_text("old\n")
    profile = build_profile({"read"}, Profile.load(DOCKER_DEFAULT))
    profile.save(target)
    assert target.read_text() == profile.dumps()
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


_SOCKET_ANY = {"defaultAction": "SCMP_ACT_ERRNO", "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
    "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW"}]}
_SOCKET_UNSPEC = {**_SOCKET_ANY, "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                                               "args": [{"index": 0, "value": 0,
                                                         "op": "SCMP_CMP_EQ"}]}]}


@given(profiles, profiles)
@example(Profile.from_json(_SOCKET_ANY), Profile.from_json(_SOCKET_UNSPEC))  # found by CI
@example(Profile.from_json({**_SOCKET_UNSPEC, "syscalls": [{  # and by a longer search
    **_SOCKET_UNSPEC["syscalls"][0], "names": ["read", "socket"]}]}), Profile.from_json(_SOCKET_ANY))
def test_diff_laws(a, b):
    assert not a.diff(a)
    grown = a.diff(a.union(b))
    assert not grown.removed
    # widens exactly when some rule of the union allows a name that rule of a did not
    by_rule_a, by_rule_u = a._by_rule()[0], a.union(b)._by_rule()[0]
    assert grown.widens == any(names - by_rule_a.get(key, set())
                               for key, names in by_rule_u.items())
    there, back = a.diff(b), b.diff(a)
    assert set(there.added) == set(back.removed) and set(there.removed) == set(back.added)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document where a value sits."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


RECORDED = json.loads((Path(__file__).resolve().parents[2] / "examples" / "webapp" /
                       "seccomp-profiles" / "pytest-seccomp" / "redis.json").read_text())


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_the_cli_on_any_mutation_of_a_recorded_profile_answers_without_a_traceback(
        tmp_path_factory, data):
    """Any JSON value in any field of a real profile: check, show and diff answer OK, NOT OK or
    one error paragraph (exit 0, 1 or 2), never a traceback, and never call it OK when the
    model refuses it."""
    import contextlib
    import copy
    import io

    from pytest_seccomp.cli import main

    mutated = copy.deepcopy(RECORDED)
    path = data.draw(st.sampled_from(_paths(mutated)))
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = data.draw(json_values)
    file = tmp_path_factory.mktemp("mutated") / "p.json"
    file.write_text(json.dumps(mutated))
    try:
        Profile.from_json(mutated)
        valid = True
    except ProfileError:
        valid = False
    for argv in (["check", str(file)], ["show", str(file)], ["diff", str(file), str(file)]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        assert code in (0, 1, 2), (argv, code)
        assert "Traceback" not in out.getvalue() + err.getvalue()
        if argv[0] == "check" and not valid:
            assert code == 2 and "OK (" not in out.getvalue()


# -- argument rules: socket families, netlink protocols, socket types -----------------------------
# a socket value: a family, AF_NETLINK with one of its protocols (socket's argument 2), or
# AF_UNIX / AF_INET / AF_INET6 with a type (argument 1)
socket_values = st.one_of(st.integers(1, 45),
                          st.integers(0, 22).map(lambda p: 16 + 64 * (p + 1)),
                          st.builds(lambda f, t: f + 64 * (t + 1), st.sampled_from([1, 2, 10]),
                                    st.integers(1, 10)))
families = st.dictionaries(st.sampled_from(["socket", "socketpair"]),
                           st.sets(socket_values, min_size=1, max_size=4))


@given(st.sampled_from(["socket", "socketpair"]), st.integers(0, 62),
       st.one_of(st.none(), st.integers(0, 62)))
def test_socket_values_round_trip_through_labels_and_rules(name, family, protocol):
    from pytest_seccomp.profiles.arguments import (
        label,
        parse_label,
        qualified,
        rule_family,
        socket_args,
        socket_value,
    )

    value = socket_value(family, protocol)
    assert parse_label(label(name, value)) == (name, value)
    assert rule_family(socket_args(value)) == value
    assert len(socket_args(value)) == (1 if protocol is None or not qualified(family) else 2)


@given(st.sampled_from(["socket", "socketpair"]), st.integers(0, 63), st.integers(0, 500))
def test_argument_labels_round_trip(name, family, nr):
    from pytest_seccomp.profiles.arguments import arg_key, label, parse_label, split_key

    assert split_key(arg_key(nr, family)) == (nr, family)
    assert split_key(nr) == (nr, None)
    assert parse_label(label(name, family)) == (name, family)


@given(families, families)
def test_family_rules_are_within_the_default_and_union_as_sets(a, b):
    from pytest_seccomp.profiles.arguments import subsumed

    default = Profile.load(DOCKER_DEFAULT)
    first = build_profile({"read", *a}, default, families=a)
    second = build_profile({"read", *b}, default, families=b)
    for profile, chosen in ((first, a), (second, b)):
        assert profile.wider_than(default) == []
        for name in ("socket", "socketpair"):
            assert profile.families(name) == subsumed(chosen.get(name, ()))
    merged = first.union(second)
    for name in ("socket", "socketpair"):  # a family allowed for any protocol takes in its protocols
        assert merged.families(name) == subsumed(a.get(name, set()) | b.get(name, set()))
    grown = first.diff(merged)
    assert grown.widens == (merged.dumps() != first.dumps())
    # a name-only profile allows every family: union with it is it, and going to families
    # narrows without adding anything
    names_only = build_profile({"read", *a}, default)
    assert names_only.union(first).dumps() == names_only.dumps()
    narrowed = names_only.diff(first)
    assert not narrowed.widens and all("any family beyond" in why for _, why in narrowed.removed)


def test_a_new_family_reads_as_a_permission_of_its_own():
    default = Profile.load(DOCKER_DEFAULT)
    before = build_profile({"socket"}, default, families={"socket": {1, 2}})
    after = build_profile({"socket"}, default, families={"socket": {1, 2, 16}})
    diff = before.diff(after)
    assert diff.widens and diff.lines() == ["+socket(AF_NETLINK)"]
    assert after.diff(before).lines() == ["-socket(AF_NETLINK)"]
    # the family rules the engine reads: one SCMP_CMP_EQ on argument 0 per family
    rules = [r for r in after.to_json()["syscalls"] if r["names"] == ["socket"]]
    assert [r["args"] for r in rules] == [[{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]
                                          for v in (1, 2, 16)]


def test_netlink_pinned_to_its_protocols_is_one_rule_and_a_narrowing():
    default = Profile.load(DOCKER_DEFAULT)
    route = 16 + 64 * (0 + 1)  # socket(AF_NETLINK, NETLINK_ROUTE): what getaddrinfo opens
    family = build_profile({"socket"}, default, families={"socket": {1, 16}})
    protocol = build_profile({"socket"}, default, families={"socket": {1, route}})
    rules = [r["args"] for r in protocol.to_json()["syscalls"] if r["names"] == ["socket"]]
    assert rules == [[{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}],
                     [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"},
                      {"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}]]
    assert protocol.wider_than(default) == [] and protocol.families("socket") == {1, route}
    narrowed = family.diff(protocol)
    assert not narrowed.widens
    assert narrowed.lines() == ["-socket(AF_NETLINK) [any protocol beyond AF_NETLINK(NETLINK_ROUTE)]"]
    widened = protocol.diff(family)
    assert widened.lines() == ["+socket(AF_NETLINK) [any protocol beyond AF_NETLINK(NETLINK_ROUTE)]"]
    # a second protocol is a permission of its own; a union with the family alone is the family
    audit = build_profile({"socket"}, default, families={"socket": {1, route, 16 + 64 * 10}})
    assert protocol.diff(audit).lines() == ["+socket(AF_NETLINK, NETLINK_AUDIT)"]
    assert protocol.union(family).dumps() == family.dumps()
    assert build_profile({"socket"}, default, families={"socket": {16, route}}).dumps() == \
        build_profile({"socket"}, default, families={"socket": {16}}).dumps()


def test_two_checks_of_one_argument_are_not_narrower():
    """Docker turns checks of one argument into rules of their own (either may hold), so such a
    rule may allow more than it reads: never taken as within the default's narrower rule."""
    default = Profile.from_json({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]})
    narrower = Profile.from_json({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]}]})
    ored = Profile.from_json({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 17, "op": "SCMP_CMP_EQ"}]}]})
    assert narrower.wider_than(default) == []
    assert ored.wider_than(default) == ["socket is allowed under other conditions than the default's"]


def test_runc_s_rule_carries_its_go_runtime_s_waits_whether_or_not_they_were_seen():
    """runc's init waits on a futex or sleeps after installing the filter as scheduling has it:
    its rule allows both however few starts the recording saw; crun (C) makes no such waits,
    and a recording with no post-filter steps (no-new-privileges) gets no runtime rule."""
    from pytest_seccomp.profiles.runtimes import runtime_steps

    assert runtime_steps({"setuid", "capset"}, "runc 1.1.5+ds1") == \
        {"setuid", "capset", "futex", "nanosleep"}
    assert runtime_steps({"setuid"}, "crun 1.8.1") == {"setuid"}
    assert runtime_steps(set(), "runc 1.1.5+ds1") == set()
    default = Profile.load(DOCKER_DEFAULT)
    profile = build_profile(["read", "write"], default,
                            runtime_syscalls=runtime_steps({"setuid"}, "runc 1.1.5"),
                            runtime="runc 1.1.5", nnp=False)
    assert {"futex", "nanosleep", "setuid"} <= profile.runtime_only


def test_socket_types_are_named_ruled_and_folded_by_the_chosen_argument_rules():
    from pytest_seccomp.profiles.arguments import (
        ArgumentRules,
        family_name,
        parse_label,
        rule_family,
        socket_args,
    )

    stream, raw, route = 2 + 64 * 2, 2 + 64 * 4, 16 + 64 * 1  # AF_INET + SOCK_STREAM / SOCK_RAW
    assert parse_label("socket(AF_INET, SOCK_RAW)") == ("socket", raw)
    assert family_name(stream) == "AF_INET(SOCK_STREAM)"
    assert parse_label("socket(AF_PACKET, SOCK_RAW)") == ("socket(AF_PACKET, SOCK_RAW)", None)
    (family, kind) = (dict(a) for a in socket_args(raw))
    assert family == {"index": 0, "op": "SCMP_CMP_EQ", "value": 2}
    assert kind == {"index": 1, "op": "SCMP_CMP_MASKED_EQ", "value": 15, "valueTwo": 3}
    wrong_mask = (tuple(family.items()), tuple({**kind, "value": 7}.items()))
    assert rule_family(wrong_mask) is None  # not a type check as recorded: not read as one
    recorded = {"socket": {stream, route, 1}}
    assert ArgumentRules.ALL.pinned(recorded) == {"socket": frozenset({stream, route, 1})}
    assert ArgumentRules.SOCKETS.pinned(recorded) == {"socket": frozenset({2, route, 1})}
    assert ArgumentRules.FAMILIES.pinned(recorded) == {"socket": frozenset({2, 16, 1})}
    default = Profile.load(DOCKER_DEFAULT)
    typed = build_profile({"read", "socket"}, default, families={"socket": {stream}})
    assert typed.wider_than(default) == []
    assert typed.socket_families == frozenset({stream})
    back = build_profile({"read", "socket"}, default, families={"socket": {2}})
    assert typed.diff(back).widens and not back.diff(typed).widens
    assert any("any type beyond AF_INET(SOCK_STREAM)" in why for _, why in typed.diff(back).added)
