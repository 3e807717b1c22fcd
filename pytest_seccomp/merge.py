"""Merge profiles recorded on several machines (CI shards) into one set: union per file."""

from __future__ import annotations

from functools import reduce
from pathlib import Path

from .errors import ProfileError
from .profile import ALLOW, Profile


def _fingerprint(profile: Profile) -> tuple[object, ...]:
    """What a recording inherits from its engine's default: differing ones were made against
    different defaults, and their union could be neither's least-privilege profile."""
    carried = sorted((c, tuple(sorted(n))) for c, n in profile.rules.items() if c.action != ALLOW)
    return (profile.default_action, profile.default_errno_ret, profile.arch_map, tuple(carried))


def merge_profiles(profiles: list[Profile], force: bool = False, what: str = "profiles") -> Profile:
    """The union of `profiles`: commutative, associative, idempotent and byte-stable."""
    if not profiles:
        raise ProfileError(f"nothing to merge for {what}")
    if not force and len({_fingerprint(p) for p in profiles}) > 1:
        raise ProfileError(
            f"{what} were recorded against different engine default profiles (their default "
            "action, architectures or carried-over errno rules differ); record them with the same "
            "engine version, or pass --force to merge them anyway."
        )
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
