"""The seccomp profile model: load, build from a recording, union, check, serialise, save.

A profile is Docker/OCI JSON. Rules are kept in a canonical form (sorted names, merged rules of
equal conditions) so the same syscalls always give byte-identical files and union is a set law.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ProfileError
from .arguments import (
    ANY_FAMILY,
    FAMILIES,
    FAMILY_SYSCALLS,
    PROTOCOL_STRIDE,
    family_name,
    in_family_order,
    label,
    qualifier_word,
    rule_family,
    socket_args,
    socket_family,
    subsumed,
)
from .files import load_json
from .gojson import go_fields
from .ownership import make_dirs, owner_for
from .protections import PROT_INDEX, PROTECTION_SYSCALLS, Execution, kinds, rule_kinds, rules_for
from .runtimes import measured_table

ALLOW = "SCMP_ACT_ALLOW"
# Allowed in every written profile. A dying or signalled process needs the first three (a profile
# without them traps it); all five come and go between runs of the same test with signals and
# scheduling, and none of them gives a process any power it does not already have.
# The comments pytest-seccomp writes on its rules: whose syscalls they are, and the mode.
APP_COMMENT = "pytest-seccomp: what the app needs; starts with or without no-new-privileges"
APP_COMMENT_NNP = "pytest-seccomp: what the app needs; made for no-new-privileges"
RUNTIME_COMMENT_PREFIX = "pytest-seccomp: what the runtime needs"


COVERS = "; covers "  # the runtime rule's comment: recorded under X; covers the runtimes Y


def runtime_comment(runtime: str, covers: str = "") -> str:
    """The comment on the rule of the runtime's own steps after it installed the filter: the
    runtime recorded under, and the measured runtimes whose steps it holds too."""
    covered = f"{COVERS}{covers}" if covers else ""
    return (f"{RUNTIME_COMMENT_PREFIX} ({runtime}{covered}) after installing the filter, "
            "before the app")


ALWAYS_ALLOWED = frozenset({"exit", "exit_group", "rt_sigreturn", "restart_syscall", "sched_yield"})
# The runtime's own setup: never a sign of what the app needs.
RUNTIME_SETUP_SYSCALLS = frozenset(
    {"mount", "umount2", "pivot_root", "sethostname", "setdomainname", "unshare", "setns",
     "chroot", "keyctl", "bpf"}
)
_DENY_ACTIONS = {"SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                 "SCMP_ACT_TRAP"}
_ACTIONS = _DENY_ACTIONS | {ALLOW, "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY"}
# the actions under which the call runs: LOG logs it, TRACE hands it to a ptrace tracer (which
# may let it run); every check and diff reads their rules as allowing
RUNS = frozenset({ALLOW, "SCMP_ACT_LOG", "SCMP_ACT_TRACE"})
_FILTER_KEYS = ("arches", "caps", "minKernel")
# the fields of moby's Seccomp and Syscall structs that a profile's reading depends on
_PROFILE_FIELDS = ("defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls")
_RULE_FIELDS = ("name", "names", "action", "errnoRet", "args", "comment", "includes", "excludes")

Json = dict[str, Any]


def _freeze_filter(raw: Any, where: str) -> tuple[tuple[str, Any], ...]:
    """`includes`/`excludes` as a hashable, order-free value."""
    if raw in (None, {}):
        return ()
    if not isinstance(raw, Mapping):
        raise ProfileError(f"{where}: must be an object with 'arches', 'caps' or 'minKernel'")
    items: list[tuple[str, Any]] = []
    fields = go_fields(raw, _FILTER_KEYS)  # (a key naming none is ignored, as by the engine)
    for key in sorted(fields):
        value = fields[key]
        if key == "minKernel":
            if value in (None, ""):
                continue
            if not isinstance(value, str) or not _kernel_version(value):
                raise ProfileError(f"{where}.minKernel: must be a kernel version like '4.8' "
                                   f"(the engine refuses {json.dumps(value, default=str)[:40]})")
            items.append((key, value))
        else:
            if value in (None, []):
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ProfileError(f"{where}.{key}: must be a list of strings")
            items.append((key, tuple(sorted(set(value)))))
    return tuple(items)


def _kernel_version(text: str) -> bool:
    """moby's KernelVersion: exactly `<kernel>.<major>`, each 0-255, not 0.0."""
    parts = text.split(".")
    return (len(parts) == 2 and all(p.isascii() and p.isdigit() and int(p) <= 255 for p in parts)
            and any(int(p) for p in parts))


def _rule_names(rule: Mapping[str, Any], where: str) -> list[str]:
    """A rule's names as moby takes them: `name` when it is set (both set: the engine refuses
    the file), else `names`."""
    name, names = rule.get("name"), rule.get("names")
    if name not in (None, "") and names:
        raise ProfileError(f"{where}: both 'name' and 'names' are given; the engine refuses "
                           "such a file (use either)")
    if name not in (None, ""):
        names = [name]
    if names in (None, []):
        raise ProfileError(f"{where}: the rule names no syscall ('names' or 'name')")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ProfileError(f"{where}: 'names' must be a list of syscall names")
    return names


# the comparisons runc and crun know (libseccomp's); any other op fails the container's start
OPERATORS = frozenset({"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                       "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"})
MAX_ARG_INDEX = 5  # a syscall has six arguments
_UINT64 = 2**64 - 1


def _unsigned(value: Any, where: str, limit: int = _UINT64) -> int:
    """A Go `uint` field: a non-negative integer in range (Go refuses 1.0, "1" and true)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise ProfileError(f"{where}: must be an integer from 0 to {limit} (the engine refuses "
                           f"{json.dumps(value, default=str)[:40]})")
    return value


def _errno(value: Any, where: str) -> int | None:
    return None if value is None else _unsigned(value, where)


def _freeze_args(raw: Any, where: str) -> tuple[tuple[tuple[str, Any], ...], ...]:
    """A rule's argument checks as the engine reads them: a missing index or value is Go's
    zero; the index names one of the six arguments and the op a comparison the runtime knows."""
    if raw in (None, []):
        return ()
    if not isinstance(raw, list):
        raise ProfileError(f"{where}: 'args' must be a list")
    frozen = []
    for i, raw_arg in enumerate(raw):
        if not isinstance(raw_arg, Mapping):
            raise ProfileError(f"{where}.args[{i}]: must be an object with 'index', 'value' "
                               "and 'op'")
        arg = go_fields(raw_arg, _ARG_ORDER)
        values = {key: _unsigned(arg[key] if arg.get(key) is not None else 0,
                                 f"{where}.args[{i}].{key}",
                                 MAX_ARG_INDEX if key == "index" else _UINT64)
                  for key in ("index", "value", "valueTwo")}
        if not isinstance(arg.get("op"), str) or arg["op"] not in OPERATORS:
            raise ProfileError(f"{where}.args[{i}].op: must be one of {sorted(OPERATORS)} (the "
                               f"runtime refuses {json.dumps(arg.get('op'), default=str)[:40]})")
        values_op: dict[str, Any] = {**values, "op": arg["op"]}
        frozen.append(tuple(sorted((k, v) for k, v in values_op.items()
                                   if not (k == "valueTwo" and v == 0))))
    return tuple(frozen)


@dataclass(frozen=True, order=True)
class Condition:
    """Everything about a rule except its names: two rules with equal conditions merge."""

    action: str
    errno_ret: int | None = None
    args: tuple[tuple[tuple[str, Any], ...], ...] = ()
    includes: tuple[tuple[str, Any], ...] = ()
    excludes: tuple[tuple[str, Any], ...] = ()
    comment: str = ""  # pytest-seccomp's own rules say whose they are (the app's, the runtime's)

    @property
    def unconditional(self) -> bool:
        return not (self.args or self.includes or self.excludes)

    def sort_key(self) -> tuple[int, int, str]:
        """The plain allow rules first, then the family rules by family, then the rest: fewer
        argument checks first (as the engines' defaults order them: libseccomp 2.6.1 under crun
        1.28 refuses, with EEXIST, socket's ERRNO rule on AF_VSOCK after its ERRNO rule on
        AF_NETLINK with a protocol, and so every profile carrying Podman 5.8's), then in a
        stable order."""
        if self.action == ALLOW and self.unconditional:
            return (0, 0, json.dumps(self.to_json(), sort_keys=True))
        family = rule_family(self.args) if self.action == ALLOW else None
        if family is not None and not (self.includes or self.excludes):
            return (1, family, self.comment)
        return (2, len(self.args), json.dumps(self.to_json(), sort_keys=True))

    @property
    def is_runtime(self) -> bool:
        return self.comment.startswith(RUNTIME_COMMENT_PREFIX)

    def to_json(self) -> Json:
        out: Json = {"action": self.action}
        if self.comment:
            out["comment"] = self.comment
        if self.errno_ret is not None:
            out["errnoRet"] = self.errno_ret
        if self.args:
            out["args"] = [dict(sorted(a, key=lambda kv: _ARG_ORDER.index(kv[0]))) for a in self.args]
        if self.includes:
            out["includes"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.includes}
        if self.excludes:
            out["excludes"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.excludes}
        return out


_ARG_ORDER = ["index", "value", "valueTwo", "op"]


def _rule_label(condition: Condition) -> str:
    """How a diff names a conditioned rule: its conditions (not its comment, which allows
    nothing: a rule exported without it is the same rule)."""
    return "if " + json.dumps({k: v for k, v in condition.to_json().items()
                               if k not in ("action", "comment")}, sort_keys=True)


def _beyond(name: str, families: frozenset[int], kept: set[tuple[str, str]],
            moved: set[tuple[str, str]]) -> None:
    """One side allows `name` for every family, the other for `families` only: those families
    are in both (not in `kept`), and what moved is the permission beyond them, labelled the same
    both ways so that a diff and its reverse mirror each other."""
    kept -= {(label(name, f), "allow") for f in families}
    if (name, "allow") in moved:
        moved.remove((name, "allow"))
        moved.add((name, "any family beyond " + ", ".join(map(family_name, in_family_order(families)))))


def _protocols_beyond(name: str, wide: frozenset[int], narrow: frozenset[int],
                      kept: set[tuple[str, str]], moved: set[tuple[str, str]]) -> None:
    """`wide` allows `name` for a family whatever its protocol or type, `narrow` for some of
    them only: those are in both, and what moved is the family's others."""
    for family in wide & {socket_family(v) for v in narrow} - narrow:
        protocols = sorted(v for v in narrow if v >= PROTOCOL_STRIDE and socket_family(v) == family)
        if not protocols:
            continue
        kept -= {(label(name, v), "allow") for v in protocols}
        if (label(name, family), "allow") in moved:
            moved.remove((label(name, family), "allow"))
            moved.add((label(name, family), f"any {qualifier_word(family)} beyond "
                       + ", ".join(map(family_name, protocols))))


@dataclass(frozen=True)
class ProfileDiff:
    """Names a newer profile allows in addition (a security review is due) or no longer."""

    added: tuple[tuple[str, str], ...] = ()  # (syscall, rule label)
    removed: tuple[tuple[str, str], ...] = ()
    default_action: tuple[str, str] | None = None

    @property
    def widens(self) -> bool:
        return bool(self.added) or self.default_action is not None

    @property
    def added_names(self) -> list[str]:
        """The names allowed anew, whatever rule (sorted)."""
        return sorted({name for name, _ in self.added})

    @property
    def removed_names(self) -> list[str]:
        return sorted({name for name, _ in self.removed})

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.default_action)

    def lines(self) -> list[str]:
        """`+name` / `-name`, with the rule's conditions when it is not the plain allow rule."""
        def show(sign: str, name: str, label: str) -> str:
            return f"{sign}{name}" + ("" if label == "allow" else f" [{label}]")
        out = [show("+", n, label) for n, label in self.added]
        out += [show("-", n, label) for n, label in self.removed]
        if self.default_action:
            out.append(f"defaultAction {self.default_action[0]} -> {self.default_action[1]}")
        return out


@dataclass(frozen=True)
class Profile:
    """A seccomp profile in canonical form: deny by default, rules keyed by their conditions."""

    default_action: str = "SCMP_ACT_ERRNO"
    default_errno_ret: int | None = None
    arch_map: tuple[tuple[str, tuple[str, ...]], ...] = ()
    rules: Mapping[Condition, frozenset[str]] = field(default_factory=dict)

    # -- reading -----------------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: Any, source: str = "profile") -> Profile:
        """Parse Docker/OCI seccomp JSON as the engine reads it (Go's encoding/json: keys
        matched case-insensitively, the last one winning; `name` and `names` as moby combines
        them); anything malformed is a ProfileError naming the field."""
        if not isinstance(data, Mapping):
            raise ProfileError(f"{source}: a seccomp profile must be a JSON object")
        top = go_fields(data, _PROFILE_FIELDS)
        syscalls = top.get("syscalls")
        if syscalls is None:  # (JSON null leaves a Go slice empty)
            syscalls = []
        if not isinstance(syscalls, list):
            raise ProfileError(f"{source}: 'syscalls' must be a list of rules (the engine "
                               f"refuses {json.dumps(syscalls, default=str)[:40]})")
        action = top.get("defaultAction")
        if action in (None, "") and not syscalls:
            raise ProfileError(
                f"{source}: the engine reads no defaultAction and no syscalls here (keys are "
                "matched case-insensitively, the last one winning), and then applies no seccomp "
                "filter at all: the container would run unconfined. Give one 'defaultAction' "
                "that denies (SCMP_ACT_ERRNO), spelled once.")
        if not isinstance(action, str) or action not in _ACTIONS:
            raise ProfileError(f"{source}: 'defaultAction' must be one of {sorted(_ACTIONS)} "
                               f"(as the engine reads the file, it is {action!r})")
        errno_ret = _errno(top.get("defaultErrnoRet"), f"{source}: 'defaultErrnoRet'")
        arch_map: list[tuple[str, tuple[str, ...]]] = []
        for key in ("archMap", "architectures"):
            if not isinstance(top.get(key) or [], list):
                raise ProfileError(f"{source}: '{key}' must be a list")
        if top.get("archMap") and top.get("architectures"):
            raise ProfileError(f"{source}: both 'architectures' and 'archMap' are given; the "
                               "engine refuses such a file (use either)")
        for i, raw in enumerate(top.get("archMap") or []):
            entry = go_fields(raw, ("architecture", "subArchitectures")) \
                if isinstance(raw, Mapping) else None
            if entry is None or not isinstance(entry.get("architecture"), str):
                raise ProfileError(f"{source}: archMap[{i}] needs an 'architecture' string")
            subs = entry.get("subArchitectures") or []
            if not isinstance(subs, list) or not all(isinstance(s, str) for s in subs):
                raise ProfileError(f"{source}: archMap[{i}].subArchitectures must list strings")
            arch_map.append((entry["architecture"], tuple(subs)))
        for arch in top.get("architectures") or []:
            if not isinstance(arch, str):
                raise ProfileError(f"{source}: 'architectures' must list strings")
            arch_map.append((arch, ()))
        rules: dict[Condition, set[str]] = {}
        for i, raw_rule in enumerate(syscalls):
            where = f"{source}: syscalls[{i}]"
            if not isinstance(raw_rule, Mapping):
                raise ProfileError(f"{where}: a rule must be an object")
            rule = go_fields(raw_rule, _RULE_FIELDS)
            names = _rule_names(rule, where)
            rule_action = rule.get("action")
            if not isinstance(rule_action, str) or rule_action not in _ACTIONS:
                raise ProfileError(f"{where}: 'action' must be one of {sorted(_ACTIONS)}")
            rule_errno = _errno(rule.get("errnoRet"), f"{where}: 'errnoRet'")
            comment = rule.get("comment")
            if comment is not None and not isinstance(comment, str):
                raise ProfileError(f"{where}: 'comment' must be a string (the engine refuses "
                                   "the file otherwise)")
            condition = Condition(
                action=rule_action,
                errno_ret=rule_errno,
                args=_freeze_args(rule.get("args"), where),
                includes=_freeze_filter(rule.get("includes"), where + ".includes"),
                excludes=_freeze_filter(rule.get("excludes"), where + ".excludes"),
                comment=comment if comment and comment.startswith("pytest-seccomp:") else "",
            )
            rules.setdefault(condition, set()).update(names)
        return cls(
            default_action=action,
            default_errno_ret=errno_ret,
            arch_map=tuple(sorted(set(arch_map))),
            rules=apps_first({c: frozenset(n) for c, n in rules.items() if n}),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """Read a profile file as the engine reads it; a file that cannot be read, or one the
        engine would not load, is a ProfileError, never a traceback or a hang (files.py)."""
        return cls.from_json(load_json(path), os.fsdecode(path))

    # -- questions ---------------------------------------------------------------------------
    @property
    def allowed(self) -> frozenset[str]:
        """Every name some rule lets run (ALLOW, LOG, TRACE), whatever its conditions."""
        return frozenset().union(*(n for c, n in self.rules.items() if c.action in RUNS))

    @property
    def made_for_nnp(self) -> bool | None:
        """True: starts under no-new-privileges only; False: with or without it; None: not
        made by pytest-seccomp, or by a version before modes (those were made for it)."""
        comments = {c.comment for c in self.rules if c.action == ALLOW}
        if APP_COMMENT_NNP in comments:
            return True
        if APP_COMMENT in comments:
            return False
        return None

    @property
    def needs_nnp(self) -> bool:
        """Start it with no-new-privileges (every profile except those made without it)."""
        return self.made_for_nnp is not False

    @property
    def runtime_only(self) -> frozenset[str]:
        """Names only the runtime's own steps need: those of a rule commented as the runtime's
        that some measured runtime makes (the comment alone is not trusted: `ptrace` in a rule
        so commented is shown as the app's)."""
        commented = frozenset().union(*(n for c, n in self.rules.items()
                                        if c.action == ALLOW and c.is_runtime))
        return commented & measured_table().known_steps

    def _runtime_label(self) -> str | None:
        for condition in self.rules:
            if condition.is_runtime and "(" in condition.comment:
                return condition.comment.split("(", 1)[1].split(")", 1)[0]
        return None

    @property
    def runtime(self) -> str | None:
        """The runtime (and version) the runtime rule was recorded under."""
        label = self._runtime_label()
        return label.split(COVERS, 1)[0] if label is not None else None

    @property
    def runtimes_covered(self) -> str | None:
        """The measured runtimes whose steps the runtime rule holds (`runc 1.1.5-1.3.6, crun
        1.8.1-1.28`); None when it holds only what its recording saw."""
        label = self._runtime_label()
        return label.split(COVERS, 1)[1] if label is not None and COVERS in label else None

    @property
    def is_resolved(self) -> bool:
        """No rule depends on the architecture or the capabilities (as Kubernetes needs it)."""
        return not any(c.includes or c.excludes for c in self.rules)

    @property
    def machine(self) -> str | None:
        """The machine (`uname -m`) whose native architecture the archMap lists first."""
        native = {scmp: machine for machine, (scmp, _) in NATIVE_ARCH.items()}
        return next((native[a] for a, _ in self.arch_map if a in native), None)

    @property
    def denies_by_default(self) -> bool:
        return self.default_action in _DENY_ACTIONS

    def allow_conditions(self, name: str) -> set[Condition]:
        """The rules that let `name` run (ALLOW, LOG, TRACE)."""
        return {c for c, n in self.rules.items() if c.action in RUNS and name in n}

    def families(self, name: str) -> frozenset[int] | None:
        """The address families `name` (socket, socketpair) is allowed for, when every rule
        that allows it pins argument 0 to one family; None when some rule allows it otherwise
        (every family the default allows). Empty when the name is not allowed at all."""
        found: set[int] = set()
        for condition in self.allow_conditions(name):
            family = rule_family(condition.args)
            if family is None or condition.includes or condition.excludes:
                return None
            found.add(family)
        return frozenset(found)

    @property
    def socket_families(self) -> frozenset[int] | None:
        """The address families socket and socketpair are allowed for together; None when one
        of them is allowed for every family the default allows."""
        found: set[int] = set()
        for name in FAMILY_SYSCALLS:
            families = self.families(name)
            if families is None:
                return None
            found |= families
        return frozenset(found)

    def default_families(self) -> frozenset[int]:
        """As the engine's default: the families some allow rule lets socket open, less those
        a deny rule refuses by value (Docker's 2026 defaults refuse AF_ALG, AF_VSOCK, ...)."""
        allowed = self.families("socket")
        known = frozenset(f for f in FAMILIES if f != 0)
        refused = {rule_family(c.args) for c, names in self.rules.items()
                   if c.action != ALLOW and "socket" in names}
        return (known if allowed is None else allowed) - refused

    # -- algebra -----------------------------------------------------------------------------
    def union(self, other: Profile) -> Profile:
        """Allow what either allows; both must share default action and architectures."""
        if (self.default_action, self.default_errno_ret) != (other.default_action,
                                                              other.default_errno_ret):
            raise ProfileError("cannot union profiles with different default actions")
        if self.needs_nnp != other.needs_nnp:
            raise ProfileError(
                "cannot union a profile made for no-new-privileges with one made to start "
                "without it: the first lacks the runtime's own steps. Record both the same way "
                "(with or without --seccomp-nnp).")
        rules: dict[Condition, frozenset[str]] = dict(self.rules)
        for condition, names in other.rules.items():
            rules[condition] = rules.get(condition, frozenset()) | names
        return Profile(self.default_action, self.default_errno_ret,
                       tuple(sorted(set(self.arch_map) | set(other.arch_map))),
                       apps_first(rules))

    def check(self, default: Profile) -> list[str]:
        """Everything wrong with enforcing this profile: wider than `default`, or allowing the
        runtime's own set-up syscalls. Empty when it is fine."""
        problems = self.wider_than(default)
        setup = sorted(self.allowed & RUNTIME_SETUP_SYSCALLS)
        if setup:
            problems.append("it allows the runtime's own set-up syscalls " + ", ".join(setup))
        return problems

    def diff(self, newer: Profile) -> ProfileDiff:
        """What `newer` allows that this profile does not (added) and the reverse (removed),
        per rule: a name moving under other conditions shows as both."""
        old, new = self._by_rule(), newer._by_rule()
        added: set[tuple[str, str]] = set()
        removed: set[tuple[str, str]] = set()
        default_action = (self.default_action, newer.default_action) \
            if self.default_action != newer.default_action else None
        labels = {**old[1], **new[1]}
        for key in old[0].keys() | new[0].keys():
            before, after = old[0].get(key, set()), new[0].get(key, set())
            added.update((name, labels[key]) for name in after - before)
            removed.update((name, labels[key]) for name in before - after)
        # socket allowed whatever its arguments is kept out of rules on its family (apps_first):
        # moving between the two widens or narrows once, under "allow"
        on_family = {_rule_label(c) for p in (self, newer) for c in p.rules
                     if c.action == ALLOW and rule_family(c.args) is not None}
        for side, plain in ((removed, new[0].get("allow", set())),
                            (added, old[0].get("allow", set()))):
            side -= {(name, why) for name, why in side
                     if why in on_family and name in plain and name in FAMILY_SYSCALLS}
        for side in (added, removed):  # a name allowed anew or no longer: its kinds go with it
            side -= {(label(name, kind), "allow") for name, why in list(side) if why == "allow"
                     and name in PROTECTION_SYSCALLS for kind in kinds(name)}
        for name in FAMILY_SYSCALLS:  # every family <-> some: only the families beyond move
            was, now = self.families(name), newer.families(name)
            if was is None and now:  # narrowed to some families: nothing was added
                _beyond(name, now, kept=added, moved=removed)
            elif now is None and was:  # widened from some families: nothing was removed
                _beyond(name, was, kept=removed, moved=added)
            elif was and now:  # a family <-> some of its protocols: the protocols beyond move
                _protocols_beyond(name, was, now, kept=added, moved=removed)
                _protocols_beyond(name, now, was, kept=removed, moved=added)
        return ProfileDiff(added=tuple(sorted(added)), removed=tuple(sorted(removed)),
                           default_action=default_action)

    def _by_rule(self) -> tuple[dict[str, set[str]], dict[str, str]]:
        """Allowed names per rule, keyed by a plain id, and each id's readable label: "allow"
        for the plain rule (the app's and the runtime's alike), else its conditions."""
        names: dict[str, set[str]] = {}
        labels: dict[str, str] = {}
        for condition, rule_names in self.rules.items():
            if condition.action not in RUNS:
                continue
            family = rule_family(condition.args)
            if family is not None and rule_names <= set(FAMILY_SYSCALLS) \
                    and not (condition.includes or condition.excludes):
                # `socket(AF_INET)`: read as a permission of its own, like a name
                names.setdefault("allow", set()).update(label(n, family) for n in rule_names)
                labels["allow"] = "allow"
                continue
            memory = _memory_labels(condition, rule_names)
            if memory is not None:  # `mprotect` (not executable), `mprotect(PROT_EXEC)`
                names.setdefault("allow", set()).update(memory)
                labels["allow"] = "allow"
                continue
            if condition.unconditional:
                key = rule_label = "allow"
            else:
                rule_label = _rule_label(condition)
                key = "rule_" + hashlib.sha256(rule_label.encode()).hexdigest()[:16]
            names.setdefault(key, set()).update(rule_names)
            labels[key] = rule_label
        return names, labels

    def execution(self, name: str) -> frozenset[Execution] | None:
        """The kinds of executable memory `name` (mmap, mprotect, ...) is allowed to ask for,
        when every rule that allows it is one of protections.rules_for's (empty: none, only
        memory that is not executable); None when some rule allows it whatever it asks."""
        found: set[Execution] = set()
        for condition in self.allow_conditions(name):
            allowed = rule_kinds(name, condition.args)
            if allowed is None or condition.includes or condition.excludes:
                return None
            found |= allowed
        return frozenset(found)

    @property
    def executable_memory(self) -> tuple[list[str], list[str]] | None:
        """What the memory syscalls it allows may ask for of executable memory, and what they
        may not (`mmap(PROT_EXEC)`, `mprotect(PROT_EXEC)`, ...); None when none of them is
        filtered so (recorded before, or with --seccomp-args other than all)."""
        allowed: list[str] = []
        refused: list[str] = []
        filtered = False
        for name in PROTECTION_SYSCALLS:
            if name not in self.allowed:
                continue
            kinds_ = self.execution(name)
            filtered = filtered or kinds_ is not None
            for kind in sorted(kinds(name)):
                (allowed if kinds_ is None or kind in kinds_ else refused).append(label(name, kind))
        return (allowed, refused) if filtered else None

    def wider_than(self, default: Profile) -> list[str]:
        """Why this profile allows something `default` does not; empty when it is not wider."""
        problems = []
        if not self.denies_by_default:
            problems.append(f"defaultAction {self.default_action} does not deny")
        for condition, names in self.rules.items():
            if condition.action not in RUNS:
                continue
            for name in sorted(names):
                allowed = default.allow_conditions(name)
                if any(c.unconditional or _within(condition, c) for c in allowed):
                    continue
                if not allowed:
                    problems.append(f"{name} is allowed but the default refuses it")
                else:
                    problems.append(f"{name} is allowed under other conditions than the default's")
        return problems

    # -- writing -----------------------------------------------------------------------------
    def to_json(self) -> Json:
        out: Json = {"defaultAction": self.default_action}
        if self.default_errno_ret is not None:
            out["defaultErrnoRet"] = self.default_errno_ret
        if self.arch_map:
            out["archMap"] = [{"architecture": a, "subArchitectures": list(s)}
                              for a, s in self.arch_map]
        out["syscalls"] = [
            {"names": sorted(self.rules[c]), **c.to_json()}
            for c in sorted(self.rules, key=Condition.sort_key)
            if self.rules[c]
        ]
        return out

    def dumps(self) -> str:
        """Canonical text: fixed indentation, sorted names, trailing newline, no timestamps."""
        return json.dumps(self.to_json(), indent=2) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temp file, fsync, rename): an old profile survives any failure."""
        write_atomic(Path(path), self.dumps())


def _memory_labels(condition: Condition, names: frozenset[str]) -> set[str] | None:
    """What an allow rule lets the memory syscalls among `names` ask for, as a diff reads it:
    the bare name for memory that is not executable, `mprotect(PROT_EXEC)` for a kind of
    executable memory (a plain rule: every kind); None when the rule is not read that way."""
    if condition.includes or condition.excludes:
        return None
    if condition.unconditional:
        memory = names & frozenset(PROTECTION_SYSCALLS)
        return None if not memory else \
            set(names) | {label(n, kind) for n in memory for kind in kinds(n)}
    allowed = {n: rule_kinds(n, condition.args) for n in names}
    if any(v is None for v in allowed.values()):
        return None
    return {label(n, kind) if kind else n for n, kinds_ in allowed.items()
            for kind in (kinds_ or {0})}


def is_memory_rule(condition: Condition, names: frozenset[str]) -> bool:
    """An allow rule of protections.rules_for's: memory syscalls, filtered by what executable
    memory they ask for (listed with the plain names; `executable_memory` says the rest)."""
    return condition.action == ALLOW and not condition.unconditional \
        and _memory_labels(condition, names) is not None


def _within(rule: Condition, ceiling: Condition) -> bool:
    """`rule` allows no more than `ceiling`: the same action and exclusions, the ceiling's
    argument checks and maybe more (a rule's checks all hold at once: more is narrower), and
    inclusions at least as strict (fewer architectures, more capabilities, same kernel)."""
    runs = rule.action in RUNS and ceiling.action in RUNS  # (LOG runs the call as ALLOW does)
    if rule.excludes != ceiling.excludes or (not runs and (rule.action, rule.errno_ret) != (
            ceiling.action, ceiling.errno_ret)):
        return False  # (comments say whose a rule is, and allow nothing)
    if rule.args != ceiling.args and not _args_within(rule.args, ceiling.args):
        return False
    mine, theirs = dict(rule.includes), dict(ceiling.includes)
    if "arches" in theirs and not set(mine.get("arches", ("(any)",))) <= set(theirs["arches"]):
        return False
    if not set(theirs.get("caps", ())) <= set(mine.get("caps", ())):
        return False
    return mine.get("minKernel") == theirs.get("minKernel") or "minKernel" not in theirs


def _args_within(rule: tuple[tuple[tuple[str, Any], ...], ...],
                 ceiling: tuple[tuple[tuple[str, Any], ...], ...]) -> bool:
    """Every check of the ceiling follows from the rule's check of the same argument (a rule's
    checks all hold at once: more is narrower). `socket(AF_INET)` (index 0 == 2) is within
    Docker 25+'s `socket` unless AF_VSOCK (index 0 != 40)."""
    mine = [dict(a) for a in rule]
    theirs = [dict(a) for a in ceiling]
    for checks in (mine, theirs):
        indexes = [c.get("index") for c in checks]
        if len(indexes) != len(set(indexes)):
            # Docker splits checks of one argument into rules of their own (either may hold):
            # such a rule is wider than it reads, so it must equal the ceiling's
            return False
    by_index = {c.get("index"): c for c in mine}
    return all(c.get("index") in by_index and _implies(by_index[c.get("index")], c)
               for c in theirs)


def _implies(check: dict[str, Any], ceiling: dict[str, Any]) -> bool:
    """Whether every argument value `check` lets through passes `ceiling` too."""
    if check == ceiling:
        return True
    if check.get("op") != "SCMP_CMP_EQ":
        return False
    value = int(check.get("value", 0))
    op, bound, second = ceiling.get("op"), int(ceiling.get("value", 0)), \
        int(ceiling.get("valueTwo", 0))
    if op == "SCMP_CMP_EQ":
        return value == bound
    if op == "SCMP_CMP_NE":
        return value != bound
    if op == "SCMP_CMP_MASKED_EQ":
        return value & bound == second
    return False


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` only once the new content is safely on disk; mode 0644, owned by the user
    who ran pytest (see ownership.py)."""
    owner = owner_for(path)
    make_dirs(path.parent, owner)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        if owner is not None:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# uname -m -> the archMap entry of that machine, and Docker's alias for it in includes/excludes
NATIVE_ARCH = {"x86_64": ("SCMP_ARCH_X86_64", "amd64"), "aarch64": ("SCMP_ARCH_AARCH64", "arm64"),
               "ppc64le": ("SCMP_ARCH_PPC64LE", "ppc64le"), "s390x": ("SCMP_ARCH_S390X", "s390x")}
ARCH_ALIASES = {scmp: alias for scmp, alias in NATIVE_ARCH.values()}


def apps_first(rules: Mapping[Condition, frozenset[str]]) -> dict[Condition, frozenset[str]]:
    """A name the app needs is in the app's rule, not also in the runtime's; a name some plain
    rule allows for every family needs no rule per family (a union of a name-only profile
    with one of families is the name-only one), and a name allowed for a family needs no rule
    per protocol of it (likewise for a profile of families with one of protocols)."""
    # what the app's rules allow under each set of conditions (the comment aside): a runtime
    # rule's name is dropped only where an app rule of the same conditions allows it
    app: dict[Condition, frozenset[str]] = {}
    for c, n in rules.items():
        if c.action == ALLOW and not c.is_runtime:
            app[replace(c, comment="")] = app.get(replace(c, comment=""), frozenset()) | n
    plain = frozenset().union(*(n for c, n in rules.items() if c.action == ALLOW and c.unconditional))
    any_protocol = {(replace(c, comment=""), name) for c, names in rules.items()
                    if c.action == ALLOW and (v := rule_family(c.args)) is not None
                    and v < PROTOCOL_STRIDE for name in names}
    out = {}
    for condition, names in rules.items():
        keep = names - app.get(replace(condition, comment=""), frozenset()) \
            if condition.is_runtime else names
        value = rule_family(condition.args) if condition.action == ALLOW else None
        if value is not None:
            keep = keep - (plain & frozenset(FAMILY_SYSCALLS))
        elif condition.action == ALLOW and any(rule_kinds(n, condition.args) is not None
                                               for n in names):
            keep = keep - (plain & frozenset(PROTECTION_SYSCALLS))
        if value is not None and value >= PROTOCOL_STRIDE:
            family_rule = replace(condition, comment="", args=tuple(  # the qualifier's check out
                a for a in condition.args if dict(a).get("index") not in (1, 2)))
            keep = frozenset(n for n in keep if (family_rule, n) not in any_protocol)
        if keep:
            out[condition] = keep
    return out


def _by_family(condition: Condition, names: frozenset[str],
               families: Mapping[str, frozenset[int]]) -> dict[Condition, frozenset[str]]:
    """An allow rule for `names` split so that each name with recorded families is allowed
    for those families only (one rule per family, `SCMP_CMP_EQ` on argument 0), narrower
    than `condition`; a rule that already checks argument 0 stays as it is."""
    if any(dict(a).get("index") == 0 for a in condition.args):
        return {condition: names}
    out: dict[Condition, frozenset[str]] = {}
    rest = names - families.keys()
    if rest:
        out[condition] = rest
    for name in sorted(names & families.keys()):
        for family in families[name]:
            narrower = replace(condition, args=tuple(sorted((*condition.args,
                                                             *socket_args(family)))))
            out[narrower] = out.get(narrower, frozenset()) | {name}
    return out


def _by_execution(condition: Condition, names: frozenset[str],
                  executable: Mapping[str, Iterable[int]] | None) -> dict[Condition, frozenset[str]]:
    """An allow rule for `names` split so that each memory syscall among them asks only for
    the executable memory the tests used (protections.rules_for), narrower than `condition`;
    a rule that already checks argument 2, or `executable` None, leaves them as they are."""
    memory = names & frozenset(PROTECTION_SYSCALLS)
    if executable is None or not memory \
            or any(dict(a).get("index") == PROT_INDEX for a in condition.args):
        return {condition: names}
    out: dict[Condition, frozenset[str]] = {}
    for name in sorted(names):
        rules = rules_for(name, executable.get(name, ())) if name in memory else None
        for args in rules or [()]:
            narrower = replace(condition, args=tuple(sorted((*condition.args, *args))))
            out[narrower] = out.get(narrower, frozenset()) | {name}
    return out


def build_profile(syscalls: Iterable[str], default: Profile, machine: str | None = None,
                  runtime_syscalls: Iterable[str] = (), runtime: str = "",
                  nnp: bool | None = None,
                  families: Mapping[str, Iterable[int]] | None = None,
                  runtimes_covered: str = "",
                  executable: Mapping[str, Iterable[int]] | None = None) -> Profile:
    """The least-privilege profile for `syscalls`, never wider than `default`.

    Each recorded name keeps the conditions under which the default allows it (argument checks,
    capabilities, architectures); the default's non-allow rules (e.g. ENOSYS for clone3) carry
    over, because the tracer never sees a syscall that the filter answered itself. With `nnp`
    given, the rules say whose they are: the app's (and the mode), and, in rules of their own,
    the names only the runtime's steps after installing the filter need (`runtime_syscalls`).
    `families`: socket's and socketpair's recorded address families; each such name is allowed
    for those only (a family of ANY_FAMILY, or none recorded, keeps the name unfiltered).
    `runtimes_covered`: the measured runtimes whose steps `runtime_syscalls` holds as well.
    `executable`: the kinds of executable memory each memory syscall asked for; given, each
    such name is allowed for those only and for memory that is not executable (None: any).
    """
    pinned = {name: subsumed(values) for name, values in (families or {}).items()
              if name in FAMILY_SYSCALLS and values and ANY_FAMILY not in set(values)}
    wanted = set(syscalls) | ALWAYS_ALLOWED
    runtime_only = set(runtime_syscalls) - wanted
    refused = sorted(n for n in wanted | runtime_only if not default.allow_conditions(n))
    if refused:
        raise ProfileError(
            "the recording contains syscalls the engine's default profile refuses: "
            f"{', '.join(refused)}. A container ran under a wider profile than the default; "
            "a profile allowing these would be wider than the default, so none was written."
        )
    app_comment = "" if nnp is None else APP_COMMENT_NNP if nnp else APP_COMMENT
    rules: dict[Condition, frozenset[str]] = {}
    for condition, names in default.rules.items():
        plain = replace(condition, comment="")
        if condition.action != ALLOW:
            rules[plain] = rules.get(plain, frozenset()) | names
            continue
        split: dict[Condition, frozenset[str]] = {}
        if names & wanted:
            mine = replace(plain, comment=app_comment) if plain.unconditional else plain
            split.update(_by_family(mine, names & wanted, pinned))
        if names & runtime_only:
            theirs = replace(plain, comment=runtime_comment(runtime or "the runtime",
                                                            runtimes_covered))
            split.update(_by_family(theirs, names & runtime_only, pinned))
        for condition_, names_ in split.items():
            for condition__, names__ in _by_execution(condition_, names_, executable).items():
                rules[condition__] = rules.get(condition__, frozenset()) | names__
    # The architectures the recording was made on, as the engine resolves its default's archMap
    # on this machine; merging recordings of several architectures keeps each one's own names.
    native = NATIVE_ARCH.get(machine or platform.machine(), ("", ""))[0]
    arch_map = tuple(e for e in default.arch_map if e[0] == native) or default.arch_map
    return Profile(default.default_action, default.default_errno_ret, arch_map, apps_first(rules))
