"""Merge profiles recorded on several machines (CI shards) into one set: union per file."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import reduce
from pathlib import Path

from ..errors import ProfileError
from ..profiles.model import ALLOW, ARCH_ALIASES, Condition, Profile, apps_first


def _fingerprint(profile: Profile) -> tuple[object, ...]:
    """What a recording inherits from its engine's default: differing ones were made against
    different defaults, and their union could be neither's least-privilege profile."""
    carried = sorted((json.dumps(c.to_json(), sort_keys=True), tuple(sorted(n)))
                     for c, n in profile.rules.items() if c.action != ALLOW)
    return (profile.default_action, profile.default_errno_ret, tuple(carried))


def _arches(profile: Profile) -> frozenset[str]:
    """Docker's aliases (amd64, arm64, ...) of the architectures a profile was recorded on."""
    return frozenset(ARCH_ALIASES.get(a, a) for a, _ in profile.arch_map)


def _per_architecture(profiles: list[Profile]) -> Profile:
    """Recordings of different architectures: a name every architecture needed stays as it is;
    one only some needed is allowed on those only (an `includes: arches` condition)."""
    everywhere = frozenset().union(*(_arches(p) for p in profiles))
    where: dict[tuple[Condition, str], set[str]] = {}
    merged = reduce(Profile.union, profiles)  # non-allow rules and archMap: the union
    for profile in profiles:
        for condition, names in profile.rules.items():
            if condition.action == ALLOW:
                for name in names:
                    where.setdefault((condition, name), set()).update(_arches(profile))
    rules: dict[Condition, frozenset[str]] = {
        c: n for c, n in merged.rules.items() if c.action != ALLOW}
    for (condition, name), arches in where.items():
        if arches != everywhere:
            includes = dict(condition.includes)
            narrowed = sorted(arches & set(includes.get("arches", arches)))
            includes["arches"] = tuple(narrowed)
            condition = replace(condition, includes=tuple(sorted(includes.items())))
        rules[condition] = rules.get(condition, frozenset()) | {name}
    return Profile(merged.default_action, merged.default_errno_ret, merged.arch_map,
                   apps_first(rules))


def merge_profiles(profiles: list[Profile], force: bool = False, what: str = "profiles") -> Profile:
    """The union of `profiles`: commutative, associative, idempotent and byte-stable."""
    if not profiles:
        raise ProfileError(f"nothing to merge for {what}")
    if not force and len({_fingerprint(p) for p in profiles}) > 1:
        raise ProfileError(
            f"{what} were recorded against different engine default profiles (their default "
            "action, architectures or carried-over errno rules differ); record them with the same "
            "engine version, or pass --force to merge them anyway (the first one's default "
            "action is kept: every one of them denies, only the errno returned differs)."
        )
    if force:  # what --force says: the first profile's refusal for every call none allows
        first = profiles[0]
        if not all(p.denies_by_default for p in profiles):
            raise ProfileError(f"{what}: a profile that does not deny by default cannot be "
                               "merged, even with --force; record it again.")
        profiles = [replace(p, default_action=first.default_action,
                            default_errno_ret=first.default_errno_ret) for p in profiles]
    if len({p.arch_map for p in profiles}) > 1 and all(p.arch_map for p in profiles):
        return _per_architecture(profiles)
    return reduce(Profile.union, profiles)


def merge_dirs(directories: list[Path], output: Path, force: bool = False) -> list[Path]:
    """Merge every `*.json` that appears under any of `directories` by its relative path."""
    by_name: dict[Path, list[Profile]] = {}
    for directory in directories:
        if not directory.is_dir():
            raise ProfileError(f"{directory} is not a directory of profiles")
        for path in sorted(directory.rglob("*.json")):
            by_name.setdefault(path.relative_to(directory), []).append(Profile.load(path))
    merged = {rel: merge_profiles(items, force, str(rel)) for rel, items in sorted(by_name.items())}
    written = []
    for rel, profile in merged.items():  # only write once every merge succeeded
        profile.save(output / rel)
        written.append(output / rel)
    return written
