"""Build the libc table: for every function a C library exports, the syscalls it can make, from
the library's own machine code (its exported symbols, a linear sweep with capstone, the static
call graph, closed transitively). `scripts/libc-table.sh` runs it on Debian's glibc and musl;
the result ships as `data/libc-syscalls.json`. Calls through function pointers (stdio's FILE
jump tables, qsort's comparator) are not followed: what they reach is missing from the table."""

from __future__ import annotations

import bisect
import io
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .elf import _LOOKBACK, _disassembler, executable_code, number_before, trace_register

ARGUMENT_REGISTERS = frozenset({"rdi", "rsi", "rdx", "rcx", "r8", "r9"})


@dataclass
class _Sweep:
    """What one pass over the library's code found, by address."""

    calls: list[tuple[int, int, list[tuple[int, int, str, str]]]] = field(default_factory=list)
    jumps: list[tuple[int, int]] = field(default_factory=list)
    tails: list[tuple[int, int, list[tuple[int, int, str, str]]]] = field(default_factory=list)
    syscalls: list[tuple[int, int]] = field(default_factory=list)  # (address, number)
    passing: list[tuple[int, str]] = field(default_factory=list)  # (address, register): a trampoline


def _target(operands: str) -> int | None:
    try:
        return int(operands, 16) if operands.startswith("0x") else None
    except ValueError:
        return None


def _sweep(elf: Any, starts: frozenset[int] = frozenset()) -> _Sweep:
    """One linear pass; what came before a function's start (`starts`) is not looked back at."""
    disassembler = _disassembler()
    disassembler.skipdata = True
    out = _Sweep()
    for base, code in executable_code(elf):
        recent: deque[tuple[int, int, str, str]] = deque(maxlen=_LOOKBACK)
        for instruction in disassembler.disasm_lite(code, base):
            address, _, mnemonic, operands = instruction
            if address in starts:
                recent.clear()
            if mnemonic == "call":
                target = _target(operands)
                if target is not None:
                    out.calls.append((address, target, list(recent)))
            elif mnemonic.startswith("j"):
                target = _target(operands)
                if target is not None:
                    out.jumps.append((address, target))
                    if mnemonic == "jmp":  # perhaps a tail call: its arguments are set here
                        out.tails.append((address, target, list(recent)))
            elif mnemonic == "syscall":
                number = number_before(list(recent))
                if number is not None:
                    out.syscalls.append((address, number))
                else:
                    source = trace_register(list(recent), "rax")
                    if isinstance(source, str) and source in ARGUMENT_REGISTERS:
                        out.passing.append((address, source))
            recent.append(instruction)
    return out


def exported_functions(elf: Any) -> dict[int, list[str]]:
    """Address -> the names the library exports for it (defined dynamic FUNC/IFUNC symbols)."""
    out: dict[int, list[str]] = {}
    for section_name in (".dynsym", ".symtab"):
        section = elf.get_section_by_name(section_name)
        if section is None:
            continue
        for symbol in section.iter_symbols():
            if (symbol.name and symbol["st_shndx"] != "SHN_UNDEF" and symbol["st_value"]
                    and symbol["st_info"]["type"] in ("STT_FUNC", "STT_GNU_IFUNC")
                    and (section_name == ".dynsym" or symbol["st_info"]["bind"] != "STB_LOCAL")):
                names = out.setdefault(symbol["st_value"], [])
                if symbol.name not in names:
                    names.append(symbol.name)
    return out


# paths that end the process are not capabilities: the graph is not followed into them
NORETURN = frozenset({"abort", "__libc_fatal", "__fortify_fail", "__stack_chk_fail", "__chk_fail",
                      "__assert_fail", "__assert_perror_fail", "__assert", "err", "errx",
                      "verr", "verrx", "__abort_msg", "a_crash", "__stack_chk_fail_local"})


def function_syscalls(data: bytes) -> dict[str, frozenset[int]]:
    """Every exported function of the library in `data` -> the syscall numbers it can reach."""
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(data))
    exports = exported_functions(elf)
    first = _sweep(elf)
    called = set(exports) | {target for _, target, _ in first.calls}
    # a thunk's target (a function that only jumps on): reached by that jump alone
    starts = sorted(called | {target for site, target, _ in first.tails if site in called})
    found = _sweep(elf, frozenset(starts))

    def owner(address: int) -> int:
        index = bisect.bisect_right(starts, address) - 1
        return starts[index] if index >= 0 else -1

    fatal = {address for address, names in exports.items() if NORETURN & set(names)}
    edges: dict[int, set[int]] = {}
    for site, target, _ in found.calls:
        if target not in fatal:
            edges.setdefault(owner(site), set()).add(target)
    for site, target in found.jumps:
        # a tail call, or a jump into another function
        if owner(target) != owner(site) and owner(target) not in fatal:
            edges.setdefault(owner(site), set()).add(owner(target))
    numbers: dict[int, set[int]] = {}
    for site, number in found.syscalls:
        numbers.setdefault(owner(site), set()).add(number)
    # trampolines: functions whose syscall number is an argument (glibc's syscall(), musl's
    # __syscall_cp_asm); their callers' constants are the numbers, hop by hop
    passing = {owner(site): register for site, register in found.passing}
    changed = True
    while changed:
        changed = False
        for site, target, lookback in [*found.calls, *found.tails]:
            register = passing.get(owner(target))
            if register is None:
                continue
            source = trace_register(lookback, register)
            caller = owner(site)
            if isinstance(source, int):
                if source not in numbers.setdefault(caller, set()):
                    numbers[caller].add(source)
                    changed = True
            elif source in ARGUMENT_REGISTERS and caller not in passing:
                assert isinstance(source, str)
                passing[caller] = source
                changed = True
    bits = {node: _bits(numbers.get(node, ())) for node in set(starts) | set(edges)}
    changed = True
    while changed:  # close the graph: a function makes what its callees make
        changed = False
        for node, successors in edges.items():
            merged = bits[node]
            for successor in successors:
                merged |= bits.get(successor, 0)
            if merged != bits[node]:
                bits[node] = merged
                changed = True
    out = {}
    for address, names in exports.items():
        made = frozenset(n for n in range(1024) if bits.get(address, 0) >> n & 1)
        for name in names:
            out[name] = made
    return out


def _bits(numbers: Any) -> int:
    value = 0
    for number in numbers:
        if 0 <= number < 1024:
            value |= 1 << number
    return value


def table_entry(data: bytes, package: str, sonames: list[str]) -> dict[str, Any]:
    """One library's part of data/libc-syscalls.json: each distinct syscall set once, and every
    exported function by the index of its set (the file stays small and diffs stay readable)."""
    from ..profiles.syscalls import syscall_name

    sets: dict[tuple[str, ...], int] = {}
    functions: dict[str, int] = {}
    made = function_syscalls(data)
    named = {function: tuple(sorted({syscall_name(n) or f"#{n}" for n in numbers}))
             for function, numbers in made.items()}
    for names in sorted(set(named.values())):
        sets[names] = len(sets)
    for function in sorted(named):
        functions[function] = sets[named[function]]
    return {"package": package, "sonames": sonames, "sets": [list(s) for s in sets],
            "functions": functions}


def main(argv: list[str] | None = None) -> int:
    """`python -m pytest_seccomp.coverage.libc_build OUT NAME=FILE=PACKAGE=SONAME[,SONAME]...`"""
    import json
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    out, libraries = Path(args[0]), {}
    for spec in args[1:]:
        name, path, package, sonames = spec.split("=", 3)
        libraries[name] = table_entry(Path(path).read_bytes(), package, sonames.split(","))
    document = {"made_by": ("scripts/libc-table.sh: Debian's packages, each exported function's "
                            "syscalls from its machine code (pytest_seccomp/coverage/libc_build.py)"),
                "libraries": libraries}
    out.write_text(json.dumps(document, indent=None, sort_keys=True, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
