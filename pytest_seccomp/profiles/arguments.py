"""Argument values the tracer notes, and how they are named: `socket(AF_INET)`.

The tracer reads argument 0 of socket and socketpair (the address family) and, for
`socket(AF_NETLINK, ...)` alone, argument 2 (the netlink protocol: NETLINK_ROUTE is all glibc's
getaddrinfo needs, NETLINK_NETFILTER is where the nf_tables exploits go); the other syscalls pay
nothing. A "socket value" is the family, or, with a protocol, the family plus PROTOCOL_STRIDE
times (protocol + 1), so a family and its protocols are one set of integers everywhere families
go. In the recording a value travels as an "argument key": the syscall number with the value
above bit 32, so it flows through the same per-window counts as the syscalls themselves (tests,
fixtures, xdist, shards) and is named the same way wherever a syscall is named:
`socket(AF_NETLINK, NETLINK_ROUTE)` in the drift check, the diff and the remedy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

# Whose argument 0 is an address family; a profile allows each family the tests used, by value.
FAMILY_SYSCALLS = ("socket", "socketpair")
ANY_FAMILY = 63  # the tracer folds families >= 63 (none exists) here: that name stays unfiltered
PROTOCOL_STRIDE = 64  # a socket value above this holds a protocol (tracer.bpf.c: the same)
AF_NETLINK = 16
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
# include/uapi/linux/netlink.h: the netlink protocols (kernel ABI); the tracer folds >= 63 into
# "any protocol", which keeps socket(AF_NETLINK) unfiltered by protocol
NETLINK_PROTOCOLS = {
    0: "NETLINK_ROUTE", 1: "NETLINK_UNUSED", 2: "NETLINK_USERSOCK", 3: "NETLINK_FIREWALL",
    4: "NETLINK_SOCK_DIAG", 5: "NETLINK_NFLOG", 6: "NETLINK_XFRM", 7: "NETLINK_SELINUX",
    8: "NETLINK_ISCSI", 9: "NETLINK_AUDIT", 10: "NETLINK_FIB_LOOKUP", 11: "NETLINK_CONNECTOR",
    12: "NETLINK_NETFILTER", 13: "NETLINK_IP6_FW", 14: "NETLINK_DNRTMSG",
    15: "NETLINK_KOBJECT_UEVENT", 16: "NETLINK_GENERIC", 18: "NETLINK_SCSITRANSPORT",
    19: "NETLINK_ECRYPTFS", 20: "NETLINK_RDMA", 21: "NETLINK_CRYPTO", 22: "NETLINK_SMC",
}
ANY_PROTOCOL = 63
_FAMILY_NUMBERS = {name: number for number, name in FAMILIES.items()}
_PROTOCOL_NUMBERS = {name: number for number, name in NETLINK_PROTOCOLS.items()}
_LABEL = re.compile(r"^([a-z0-9_]+)\((\w+)(?:, (\w+))?\)$")


class ArgumentRules(StrEnum):
    """--seccomp-args: how far a recorded profile goes below syscall names."""

    SOCKETS = "sockets"  # families, and AF_NETLINK only for the netlink protocols used
    FAMILIES = "families"  # socket and socketpair allowed for the families the tests used
    ALL = "all"  # every argument rule measured stable (today: the same as sockets)
    NAMES = "names"  # syscall names only (as the Security Profiles Operator records)

    def pinned(self, recorded: dict[str, set[int]]) -> dict[str, frozenset[int]] | None:
        """The socket values a profile pins under this setting, per syscall: protocols kept, or
        folded into their family (`families`); None: names only."""
        if self is ArgumentRules.NAMES:
            return None
        keep = self in (ArgumentRules.SOCKETS, ArgumentRules.ALL)
        return {name: frozenset(values if keep else map(socket_family, values))
                for name, values in recorded.items()}


def socket_value(family: int, protocol: int | None = None) -> int:
    """The one integer for a family, or for a family and a protocol."""
    if protocol is None or protocol >= ANY_PROTOCOL:
        return family
    return family + PROTOCOL_STRIDE * (protocol + 1)


def socket_family(value: int) -> int:
    return value % PROTOCOL_STRIDE


def socket_protocol(value: int) -> int | None:
    return value // PROTOCOL_STRIDE - 1 if value >= PROTOCOL_STRIDE else None


def subsumed(values: Iterable[int]) -> frozenset[int]:
    """Without the (family, protocol) values whose family is allowed for any protocol."""
    values = frozenset(values)
    return frozenset(v for v in values if v < PROTOCOL_STRIDE or socket_family(v) not in values)


def arg_key(nr: int, value: int) -> int:
    """The recording's key for `value` as argument 0 of syscall `nr`."""
    return nr | (value + 1) << _ARG_SHIFT


def split_key(key: int) -> tuple[int, int | None]:
    """(syscall number, argument value or None for the syscall itself)."""
    value = key >> _ARG_SHIFT
    return key & ((1 << _ARG_SHIFT) - 1), (value - 1 if value else None)


def _parts(value: int) -> tuple[str, ...]:
    family = socket_family(value)
    name = "any" if family >= ANY_FAMILY else FAMILIES.get(family, str(family))
    protocol = socket_protocol(value)
    if protocol is None:
        return (name,)
    return (name, NETLINK_PROTOCOLS.get(protocol, str(protocol)) if family == AF_NETLINK
            else str(protocol))


def family_name(value: int) -> str:
    """As lists show a socket value: `AF_INET`, `AF_NETLINK(NETLINK_ROUTE)`."""
    parts = _parts(value)
    return parts[0] if len(parts) == 1 else f"{parts[0]}({parts[1]})"


def family_number(name: str) -> int | None:
    if name in _FAMILY_NUMBERS:
        return _FAMILY_NUMBERS[name]
    return int(name) if name.isdigit() else None


def protocol_number(name: str) -> int | None:
    if name in _PROTOCOL_NUMBERS:
        return _PROTOCOL_NUMBERS[name]
    return int(name) if name.isdigit() else None


def label(name: str, value: int | None) -> str:
    """`socket(AF_INET)`, `socket(AF_NETLINK, NETLINK_ROUTE)`, or the bare name."""
    return name if value is None else f"{name}({', '.join(_parts(value))})"


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
    family = family_number(match.group(2))
    protocol = None if match.group(3) is None else protocol_number(match.group(3))
    if family is None or (match.group(3) is not None and protocol is None):
        return text, None
    return match.group(1), socket_value(family, protocol)


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


Arg = tuple[tuple[str, Any], ...]


def _equals(index: int, value: int) -> Arg:
    return (("index", index), ("op", "SCMP_CMP_EQ"), ("value", value))


def socket_args(value: int) -> tuple[Arg, ...]:
    """A profile rule's checks for a socket value, frozen as the profile model keeps arguments:
    `{"index": 0, "value": family, "op": "SCMP_CMP_EQ"}`, and with a protocol the same on
    index 2 (both hold at once: one rule)."""
    protocol = socket_protocol(value)
    family = _equals(0, socket_family(value))
    return (family,) if protocol is None else (family, _equals(2, protocol))


def rule_family(args: tuple[Arg, ...]) -> int | None:
    """The socket value a rule's arguments pin socket to, if that is all they say: argument 0
    equal to a family, and maybe argument 2 equal to a protocol."""
    checks = [dict(a) for a in args]
    if not 1 <= len(checks) <= 2 or any(c.get("op") != "SCMP_CMP_EQ" or "valueTwo" in c
                                        for c in checks):
        return None
    by_index = {c.get("index"): int(c["value"]) for c in checks}
    if len(by_index) != len(checks) or 0 not in by_index or not set(by_index) <= {0, 2} \
            or not 0 <= by_index[0] < PROTOCOL_STRIDE:
        return None
    protocol = by_index.get(2)
    if protocol is not None and not 0 <= protocol < ANY_PROTOCOL:
        return None
    return socket_value(by_index[0], protocol)
