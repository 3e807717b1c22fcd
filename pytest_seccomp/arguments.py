"""Argument values the tracer notes, and how they are named: `socket(AF_INET)`.

The tracer reads argument 0 of socket and socketpair (the address family) and nothing else, so
the other syscalls pay nothing. In the recording an argument value travels as an "argument key":
the syscall number with the value above bit 32, so it flows through the same per-window counts as
the syscalls themselves (tests, fixtures, xdist, shards) and is named the same way wherever a
syscall is named: `socket(AF_NETLINK)` in the drift check, the diff and the remedy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

# Whose argument 0 is an address family; a profile allows each family the tests used, by value.
FAMILY_SYSCALLS = ("socket", "socketpair")
ANY_FAMILY = 63  # the tracer folds families >= 63 (none exists) here: that name stays unfiltered
_ARG_SHIFT = 32

# include/linux/socket.h: the address families of Linux (kernel ABI, they never change value)
FAMILIES = {
    0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK",
    6: "AF_NETROM", 7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6", 11: "AF_ROSE",
    12: "AF_DECnet", 13: "AF_NETBEUI", 14: "AF_SECURITY", 15: "AF_KEY", 16: "AF_NETLINK",
    17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET", 20: "AF_ATMSVC", 21: "AF_RDS", 22: "AF_SNA",
    23: "AF_IRDA", 24: "AF_PPPOX", 25: "AF_WANPIPE", 26: "AF_LLC", 27: "AF_IB", 28: "AF_MPLS",
    29: "AF_CAN", 30: "AF_TIPC", 31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC",
    34: "AF_ISDN", 35: "AF_PHONET", 36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG",
    39: "AF_NFC", 40: "AF_VSOCK", 41: "AF_KCM", 42: "AF_QIPCRTR", 43: "AF_SMC", 44: "AF_XDP",
    45: "AF_MCTP",
}
_FAMILY_NUMBERS = {name: number for number, name in FAMILIES.items()}
_LABEL = re.compile(r"^([a-z0-9_]+)\((\w+)\)$")


class ArgumentRules(StrEnum):
    """--seccomp-args: how far a recorded profile goes below syscall names."""

    FAMILIES = "families"  # socket and socketpair allowed for the families the tests used
    NAMES = "names"  # syscall names only (as the Security Profiles Operator records)


def arg_key(nr: int, value: int) -> int:
    """The recording's key for `value` as argument 0 of syscall `nr`."""
    return nr | (value + 1) << _ARG_SHIFT


def split_key(key: int) -> tuple[int, int | None]:
    """(syscall number, argument value or None for the syscall itself)."""
    value = key >> _ARG_SHIFT
    return key & ((1 << _ARG_SHIFT) - 1), (value - 1 if value else None)


def family_name(value: int) -> str:
    return "any" if value >= ANY_FAMILY else FAMILIES.get(value, str(value))


def family_number(name: str) -> int | None:
    if name in _FAMILY_NUMBERS:
        return _FAMILY_NUMBERS[name]
    return int(name) if name.isdigit() else None


def label(name: str, value: int | None) -> str:
    """`socket(AF_INET)`, or the bare name."""
    return name if value is None else f"{name}({family_name(value)})"


def key_label(key: int) -> str | None:
    """A recording key's name, or None when libseccomp does not know the number."""
    from .syscalls import syscall_name  # libseccomp's table: only where keys are read

    nr, value = split_key(key)
    name = syscall_name(nr)
    return None if name is None else label(name, value)


def parse_label(text: str) -> tuple[str, int | None]:
    """`socket(AF_INET)` -> ("socket", 2); a bare name -> (name, None)."""
    match = _LABEL.match(text)
    if match is None or match.group(1) not in FAMILY_SYSCALLS:
        return text, None
    if match.group(2) == "any":
        return match.group(1), ANY_FAMILY
    value = family_number(match.group(2))
    return (match.group(1), value) if value is not None else (text, None)


def family_syscall_numbers() -> tuple[int, ...]:
    """This machine's numbers of FAMILY_SYSCALLS (the tracer's compile-time constants match)."""
    from .syscalls import syscall_number

    return tuple(n for n in map(syscall_number, FAMILY_SYSCALLS) if n is not None)


def split_labels(labels: Iterable[str]) -> tuple[set[str], dict[str, set[int]]]:
    """Recorded labels -> (the syscall names, name -> the families its argument 0 took)."""
    names: set[str] = set()
    families: dict[str, set[int]] = {}
    for text in labels:
        name, value = parse_label(text)
        if value is None:
            names.add(name)
        else:
            families.setdefault(name, set()).add(value)
    return names, families


def family_arg(value: int) -> tuple[tuple[str, Any], ...]:
    """A profile rule's `{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}`, frozen as the
    profile model keeps arguments."""
    return (("index", 0), ("op", "SCMP_CMP_EQ"), ("value", value))


def rule_family(args: tuple[tuple[tuple[str, Any], ...], ...]) -> int | None:
    """The family a rule's arguments pin argument 0 to, if that is all they say."""
    if len(args) == 1 and dict(args[0]).get("op") == "SCMP_CMP_EQ" \
            and dict(args[0]).get("index") == 0 and "valueTwo" not in dict(args[0]):
        return int(dict(args[0])["value"])
    return None
