"""Executable memory: which requests for it the tests made, and the rules that refuse the rest.

Why: once an exploit controls memory, its usual next step is to make a payload executable:
`mprotect(PROT_EXEC)` on a page it wrote, an `mmap` writable and executable at once, or
`shmat(SHM_EXEC)`. Most programs never ask for that (the loader maps libraries PROT_READ |
PROT_EXEC, never writable, and never mprotects them executable), while a JIT does it as it
starts (a JVM maps its code cache writable and executable, Node.js flips pages with mprotect):
the recording tells which an image needs. The policy is systemd's MemoryDenyWriteExecute=,
except that what the tests asked for stays allowed. Requests for memory that is not executable
are always allowed: refusing them would buy nothing.

The tracer notes a syscall's request by its kind (argument 2: `EXEC`, executable and not
writable, or shmat's SHM_EXEC; `WRITE_EXEC`, both), a value like a socket's family: in the
recording as an argument key, named `mprotect(PROT_EXEC)` or `mmap(PROT_WRITE|PROT_EXEC)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Any

PROT_WRITE = 0x2
PROT_EXEC = 0x4
SHM_EXEC = 0o100000  # include/uapi/linux/shm.h
PROT_INDEX = 2  # mmap's, mprotect's and pkey_mprotect's prot, shmat's shmflg: argument 2


class Execution(IntEnum):
    """The kind of executable memory a call asked for (the tracer's numbers)."""

    EXEC = 1  # executable, not writable (shmat: SHM_EXEC)
    WRITE_EXEC = 2  # writable and executable at once


# tracer.bpf.c's order: a 2-bit slot each in family_set.exec
PROTECTION_SYSCALLS = ("mmap", "mprotect", "pkey_mprotect", "shmat")
_SHM = "shmat"
_WORDS: dict[int, str] = {Execution.EXEC: "PROT_EXEC", Execution.WRITE_EXEC: "PROT_WRITE|PROT_EXEC"}

Arg = tuple[tuple[str, Any], ...]


def _masked(mask: int, value: int) -> Arg:
    """Argument 2's `mask` bits equal `value` (frozen as the profile model keeps arguments:
    valueTwo 0 is left out, as Docker writes it)."""
    check: Arg = (("index", PROT_INDEX), ("op", "SCMP_CMP_MASKED_EQ"), ("value", mask))
    return check + ((("valueTwo", value),) if value else ())


def kinds(name: str) -> frozenset[Execution]:
    """The kinds `name` can ask for: shmat's SHM_EXEC has no writable-only variant."""
    return frozenset({Execution.EXEC}) if name == _SHM else frozenset(Execution)


def exec_word(name: str, kind: int) -> str:
    """`PROT_EXEC`, `PROT_WRITE|PROT_EXEC`, shmat's `SHM_EXEC`; an unknown kind by number."""
    if name == _SHM and kind == Execution.EXEC:
        return "SHM_EXEC"
    return _WORDS.get(kind, str(kind))


def parse_exec_word(name: str, text: str) -> int | None:
    """The kind named by `exec_word`, or None."""
    return next((int(k) for k in kinds(name) if exec_word(name, k) == text), None)


def rules_for(name: str, used: Iterable[int]) -> list[tuple[Arg, ...]] | None:
    """The argument checks of the rules that allow `name` for what the tests used, one rule
    each; None: allowed whatever it asks (a writable and executable request was used: it holds
    every other). Never empty: memory that is not executable is always allowed."""
    used = frozenset(used)
    if name == _SHM:
        return None if Execution.EXEC in used else [(_masked(SHM_EXEC, 0),)]
    if Execution.WRITE_EXEC in used:
        return None
    rules: list[tuple[Arg, ...]] = [(_masked(PROT_EXEC, 0),)]
    if Execution.EXEC in used:
        rules.append((_masked(PROT_WRITE | PROT_EXEC, PROT_EXEC),))
    return rules


def rule_kinds(name: str, args: tuple[Arg, ...]) -> frozenset[Execution] | None:
    """The kinds of executable memory a rule of `rules_for` lets `name` ask for (empty: none),
    or None when the rule is not one of them."""
    for kind_set in (frozenset(), frozenset({Execution.EXEC})):
        rules = rules_for(name, kind_set) or []
        if rules and rules[-1] == args:
            return kind_set
    return None


def protection_syscall_numbers() -> tuple[int | None, ...]:
    """This machine's numbers of PROTECTION_SYSCALLS, in their order (the tracer's slots)."""
    from .syscalls import syscall_number  # libseccomp's table: only where the tracer reads

    return tuple(map(syscall_number, PROTECTION_SYSCALLS))
