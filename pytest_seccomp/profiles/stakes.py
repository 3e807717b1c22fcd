"""What each permission risks: the known kernel CVEs whose exploit enters through a syscall, a
socket family or a netlink protocol (data/syscall-risks.json, every row with its public
source). A reviewer of `+splice needed by test_x` sees `1 known kernel CVE, worst: privilege
escalation (CVE-2022-0847)`, and a profile says how many known entry points it closes against
the engine's default. A name without a row has no known CVE in the dataset: no proof of safety."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from enum import IntEnum
from importlib import resources

from .applies import DEFAULT_CAPABILITIES, Applied, EngineKind, applied_allows
from .arguments import FAMILY_SYSCALLS, parse_label, socket_family
from .model import Profile


class Stake(IntEnum):
    """How bad the worst known exploit through an entry is; the order --seccomp-fail-on uses."""

    NONE = 0  # no known CVE in the dataset
    LOW = 1  # denial of service
    MEDIUM = 2  # memory corruption whose escalation is not shown
    HIGH = 3  # privilege escalation, container escape

    @classmethod
    def of_class(cls, klass: str) -> Stake:
        return {"denial of service": cls.LOW, "memory corruption": cls.MEDIUM,
                "privilege escalation": cls.HIGH, "container escape": cls.HIGH}[klass]


@dataclass(frozen=True)
class KnownExploit:
    """One CVE, the entries (a syscall, or `socket(AF_PACKET)`) its exploit goes through."""

    cve: str
    name: str
    entries: tuple[str, ...]
    klass: str
    affected: str
    via: str
    source: str

    @property
    def stake(self) -> Stake:
        return Stake.of_class(self.klass)


@functools.cache
def dataset() -> tuple[KnownExploit, ...]:
    text = resources.files("pytest_seccomp").joinpath("data/syscall-risks.json").read_text("utf-8")
    return tuple(KnownExploit(r["cve"], r["name"], tuple(r["entries"]), r["class"], r["affected"],
                              r["via"], r["source"]) for r in json.loads(text)["rows"])


def known(entry: str) -> list[KnownExploit]:
    """The known CVEs through `entry` (a syscall name or an argument label), worst first."""
    return sorted((e for e in dataset() if entry in e.entries),
                  key=lambda e: (-e.stake, e.cve))


def rating(entry: str) -> str:
    """`2 known kernel CVEs, worst: privilege escalation (CVE-2022-0847)`, or that none is."""
    found = known(entry)
    if not found:
        return "no known kernel CVE in the dataset"
    count = f"{len(found)} known kernel CVE{'s' if len(found) > 1 else ''}"
    return f"{count}, worst: {found[0].klass} ({', '.join(e.cve for e in found)})"


def stake(entry: str) -> Stake:
    found = known(entry)
    return found[0].stake if found else Stake.NONE


def _argument_open(profile: Profile, entry: str) -> bool:
    """Whether `socket(AF_X)` or `socket(AF_NETLINK, NETLINK_Y)` can be made under `profile`:
    socket allowed for any family, for that family whatever its protocol, or for that value."""
    name, value = parse_label(entry)
    if name not in FAMILY_SYSCALLS or name not in profile.allowed or value is None:
        return False
    families = profile.families(name)
    return families is None or value in families or socket_family(value) in families


def open_entries(profile: Profile) -> set[str]:
    """Every entry of the dataset `profile` lets through."""
    entries = {entry for e in dataset() for entry in e.entries}
    return {entry for entry in entries
            if (entry in profile.allowed if "(" not in entry else _argument_open(profile, entry))}


def default_open_entries(default: Profile) -> set[str]:
    """As open_entries, for the engine's default as it applies to a container with Docker's
    default capabilities on x86_64 (`mount`, `unshare` and `bpf` need CAP_SYS_ADMIN there), and
    socket's families as it applies them, every protocol of each."""
    applied = Applied(DEFAULT_CAPABILITIES[EngineKind.DOCKER])
    families = default.default_families()
    entries = {entry for e in dataset() for entry in e.entries}
    return {entry for entry in entries
            if applied_allows(default, entry.split("(", 1)[0], applied)
            and ("(" not in entry or socket_family(parse_label(entry)[1] or 0) in families)}


def closed_against(profile: Profile, default: Profile) -> tuple[list[KnownExploit], int]:
    """The known CVEs the default leaves an entry open for (as it applies with the default
    capabilities) and this profile closes every entry of, and how many the default leaves
    open."""
    default_open = default_open_entries(default)
    mine = open_entries(profile)
    left_open = [e for e in dataset() if set(e.entries) & default_open]
    closed = [e for e in left_open if not set(e.entries) & mine]
    return closed, len(left_open)


def closed_line(profile: Profile, default: Profile) -> str:
    closed, total = closed_against(profile, default)
    return (f"closes the entry points of {len(closed)} of the {total} known kernel CVEs the "
            "engine's default leaves open (pytest_seccomp/data/syscall-risks.json)")
