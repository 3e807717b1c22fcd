"""Syscall number <-> name, from libseccomp's own tables (the names the engine resolves)."""

from __future__ import annotations

import functools
import platform
from collections.abc import Iterable

import pyseccomp

# uname machine -> (libseccomp arch for native numbers, libseccomp arch for compat numbers)
_ARCHES: dict[str, tuple[int, int | None]] = {
    "x86_64": (pyseccomp.Arch.X86_64, pyseccomp.Arch.X86),
    "aarch64": (pyseccomp.Arch.AARCH64, pyseccomp.Arch.ARM),
}


def machine() -> str:
    """The kernel's architecture name, as `uname -m` prints it."""
    return platform.machine()


@functools.cache
def syscall_name(number: int, compat: bool = False) -> str | None:
    """The name libseccomp (and so Docker) uses for `number`, or None if the table lacks it."""
    native, compat_arch = _ARCHES.get(machine(), (pyseccomp.Arch.NATIVE, None))
    table = compat_arch if compat else native
    if table is None:
        return None
    try:
        name = pyseccomp.resolve_syscall(table, number)
    except ValueError:
        return None
    return name.decode() if isinstance(name, bytes) else str(name)


@functools.cache
def syscall_number(name: str) -> int | None:
    """The native number of `name`, or None when this architecture has no such syscall."""
    try:
        number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    except ValueError:
        return None
    return int(number) if int(number) >= 0 else None


def existing(names: Iterable[str]) -> set[str]:
    """The names this machine's architecture has: of a default profile's list, the attack
    surface a recorded profile is measured against."""
    return {name for name in names if syscall_number(name) is not None}
