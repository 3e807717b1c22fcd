"""Argument values the tracer notes, and how they are named: `socket(AF_INET)`.

The tracer reads argument 0 of socket and socketpair (the address family) and, for `socket`
alone, one more argument that says what kind of socket of that family it is: for AF_NETLINK
argument 2 (the netlink protocol: NETLINK_ROUTE is all glibc's getaddrinfo needs,
NETLINK_NETFILTER is where the nf_tables exploits go), for AF_UNIX, AF_INET and AF_INET6
argument 1's type (SOCK_STREAM, SOCK_DGRAM; SOCK_RAW is ping's, and packet crafting's), without
its SOCK_NONBLOCK / SOCK_CLOEXEC flags; the other syscalls pay nothing. A "socket value" is the
family, or, with that qualifier, the family plus QUALIFIER_STRIDE times (qualifier + 1), so a
family and its kinds are one set of integers everywhere families go. In the recording a value
travels as an "argument key": the syscall number with the value above bit 32, so it flows
through the same per-window counts as the syscalls themselves (tests, fixtures, xdist, shards)
and is named the same way wherever a syscall is named: `socket(AF_NETLINK, NETLINK_ROUTE)`,
`socket(AF_INET, SOCK_STREAM)` in the drift check, the diff and the remedy. The memory
syscalls' requests for executable memory travel the same way (protections.py says what they
are): `mprotect(PROT_EXEC)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from .protections import PROTECTION_SYSCALLS, exec_word, parse_exec_word

# Whose argument 0 is an address family; a profile allows each family the tests used, by value.
FAMILY_SYSCALLS = ("socket", "socketpair")
ANY_FAMILY = 63  # the tracer folds families >= 63 (none exists) here: that name stays unfiltered
PROTOCOL_STRIDE = 64  # a socket value above this holds a qualifier (tracer.bpf.c: the same)
AF_NETLINK = 16
# the families whose socket() type (argument 1, SOCK_TYPE_MASK bits) the tracer notes; their
# order is tracer.bpf.c's: a 16-bit slot each in family_set.types
TYPED_FAMILIES = (1, 2, 10)  # AF_UNIX, AF_INET, AF_INET6
SOCK_TYPE_MASK = 0xF
# include/linux/net.h: enum sock_type (kernel ABI)
SOCKET_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
                5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET"}
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
_TYPE_NUMBERS = {name: number for number, name in SOCKET_TYPES.items()}
_LABEL = re.compile(r"^([a-z0-9_]+)\((\w+)(?:, (\w+))?\)$")


class ArgumentRules(StrEnum):
    """--seccomp-args: how far a recorded profile goes below syscall names."""

    ALL = "all"  # sockets, their types, executable memory: every rule measured stable
    SOCKETS = "sockets"  # families, and AF_NETLINK only for the netlink protocols used
    FAMILIES = "families"  # socket and socketpair allowed for the families the tests used
    NAMES = "names"  # syscall names only (as the Security Profiles Operator records)

    def pinned(self, recorded: dict[str, set[int]]) -> dict[str, frozenset[int]] | None:
        """The socket values a profile pins under this setting, per syscall: qualifiers kept,
        types folded into their family (`sockets`), or both folded (`families`); None: names
        only."""
        if self is ArgumentRules.NAMES:
            return None
        return {name: frozenset(map(self._kept, values)) for name, values in recorded.items()
                if name in FAMILY_SYSCALLS}

    def executable(self, recorded: dict[str, set[int]]) -> dict[str, frozenset[int]] | None:
        """The kinds of executable memory each memory syscall asked for, when profiles
        refuse the others (`all`); None: not filtered."""
        if self is not ArgumentRules.ALL:
            return None
        return {name: frozenset(recorded.get(name, ())) for name in PROTECTION_SYSCALLS}

    def _kept(self, value: int) -> int:
        if self is ArgumentRules.ALL or (self is ArgumentRules.SOCKETS
                                         and socket_family(value) == AF_NETLINK):
            return value
        return socket_family(value)


def socket_value(family: int, qualifier: int | None = None) -> int:
    """The one integer for a family, or for a family and its protocol (AF_NETLINK) or type."""
    if qualifier is None or qualifier >= ANY_PROTOCOL or not qualified(family):
        return family
    return family + PROTOCOL_STRIDE * (qualifier + 1)


def qualified(family: int) -> bool:
    """Whether socket values of `family` may carry a qualifier, and which argument it is."""
    return family == AF_NETLINK or family in TYPED_FAMILIES


def socket_family(value: int) -> int:
    return value % PROTOCOL_STRIDE


def in_family_order(values: Iterable[int]) -> list[int]:
    """Socket values as people read them: by family, a family's qualifiers after it
    (AF_UNIX(SOCK_STREAM) before AF_NETLINK(NETLINK_ROUTE), whose encoded value is smaller)."""
    return sorted(values, key=lambda value: (socket_family(value), value))


def socket_protocol(value: int) -> int | None:
    """The qualifier of a socket value: its netlink protocol or its socket type."""
    return value // PROTOCOL_STRIDE - 1 if value >= PROTOCOL_STRIDE else None


def qualifier_word(value: int) -> str:
    """What a family's qualifier is called: `protocol` for AF_NETLINK, else `type`."""
    return "protocol" if socket_family(value) == AF_NETLINK else "type"


def subsumed(values: Iterable[int]) -> frozenset[int]:
    """Without the (family, qualifier) values whose family is allowed whatever its kind."""
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
    if family == AF_NETLINK:
        return (name, NETLINK_PROTOCOLS.get(protocol, str(protocol)))
    return (name, SOCKET_TYPES.get(protocol, str(protocol)))


def family_name(value: int) -> str:
    """As lists show a socket value: `AF_INET`, `AF_NETLINK(NETLINK_ROUTE)`,
    `AF_INET(SOCK_STREAM)`."""
    parts = _parts(value)
    return parts[0] if len(parts) == 1 else f"{parts[0]}({parts[1]})"


def family_number(name: str) -> int | None:
    if name in _FAMILY_NUMBERS:
        return _FAMILY_NUMBERS[name]
    return int(name) if name.isdigit() else None


def protocol_number(name: str, family: int = AF_NETLINK) -> int | None:
    """A qualifier's number from its name: a netlink protocol, or a socket type."""
    names = _PROTOCOL_NUMBERS if family == AF_NETLINK else _TYPE_NUMBERS
    if name in names:
        return names[name]
    return int(name) if name.isdigit() else None


def label(name: str, value: int | None) -> str:
    """`socket(AF_INET)`, `socket(AF_NETLINK, NETLINK_ROUTE)`, `socket(AF_INET, SOCK_RAW)`,
    `mprotect(PROT_EXEC)`, or the bare name."""
    if value is None:
        return name
    if name in PROTECTION_SYSCALLS:
        return f"{name}({exec_word(name, value)})"
    return f"{name}({', '.join(_parts(value))})"


def key_label(key: int) -> str | None:
    """A recording key's name, or None when libseccomp does not know the number."""
    from .syscalls import syscall_name  # libseccomp's table: only where keys are read

    nr, value = split_key(key)
    name = syscall_name(nr)
    return None if name is None else label(name, value)


def parse_label(text: str) -> tuple[str, int | None]:
    """`socket(AF_INET)` -> ("socket", 2), `mprotect(PROT_EXEC)` -> ("mprotect", 1); a bare
    name -> (name, None)."""
    name, _, word = text.partition("(")
    if name in PROTECTION_SYSCALLS and word.endswith(")"):
        kind = parse_exec_word(name, word[:-1])
        return (text, None) if kind is None else (name, kind)
    match = _LABEL.match(text)
    if match is None or match.group(1) not in FAMILY_SYSCALLS:
        return text, None
    if match.group(2) == "any":
        return match.group(1), ANY_FAMILY
    family = family_number(match.group(2))
    protocol = (None if match.group(3) is None or family is None or not qualified(family)
                else protocol_number(match.group(3), family))
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


def _type_is(kind: int) -> Arg:
    """Argument 1's type bits equal `kind`, whatever its SOCK_NONBLOCK / SOCK_CLOEXEC flags."""
    return (("index", 1), ("op", "SCMP_CMP_MASKED_EQ"), ("value", SOCK_TYPE_MASK),
            ("valueTwo", kind))


def socket_args(value: int) -> tuple[Arg, ...]:
    """A profile rule's checks for a socket value, frozen as the profile model keeps arguments:
    `{"index": 0, "value": family, "op": "SCMP_CMP_EQ"}`, and with a protocol the same on
    index 2, with a type `{"index": 1, "value": 15, "valueTwo": type, "op":
    "SCMP_CMP_MASKED_EQ"}` (a rule's checks hold at once: one rule)."""
    qualifier = socket_protocol(value)
    family = socket_family(value)
    if qualifier is None:
        return (_equals(0, family),)
    if family == AF_NETLINK:
        return (_equals(0, family), _equals(2, qualifier))
    return (_equals(0, family), _type_is(qualifier))


def rule_family(args: tuple[Arg, ...]) -> int | None:
    """The socket value a rule's arguments pin socket to, if that is all they say: argument 0
    equal to a family, and maybe argument 2 equal to a netlink protocol or argument 1's type
    bits equal to a type."""
    checks = [dict(a) for a in args]
    if not 1 <= len(checks) <= 2:
        return None
    by_index = {c.get("index"): c for c in checks}
    if len(by_index) != len(checks) or 0 not in by_index:
        return None
    first = by_index.pop(0)
    if first.get("op") != "SCMP_CMP_EQ" or "valueTwo" in first \
            or not 0 <= int(first["value"]) < PROTOCOL_STRIDE:
        return None
    family = int(first["value"])
    if not by_index:
        return family
    ((index, check),) = by_index.items()
    if index == 2 and family == AF_NETLINK and check.get("op") == "SCMP_CMP_EQ" \
            and "valueTwo" not in check:
        qualifier = int(check["value"])
    elif index == 1 and family in TYPED_FAMILIES and check.get("op") == "SCMP_CMP_MASKED_EQ" \
            and int(check.get("value", -1)) == SOCK_TYPE_MASK:
        qualifier = int(check.get("valueTwo", 0))
    else:
        return None
    if not 0 <= qualifier < ANY_PROTOCOL:
        return None
    return socket_value(family, qualifier)
