"""What one file of an image can ask the kernel for: its ELF facts (the libc functions it imports,
the libraries it needs, the syscall instructions whose number is a constant), read with pyelftools
and capstone; a script names its interpreter instead."""

from __future__ import annotations

import io
import re
import shlex
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

ELF_MAGIC = b"\x7fELF"
GO_SECTIONS = frozenset({".go.buildinfo", ".note.go.buildid", ".gopclntab"})
GO_BUILDINFO = b"\xff Go buildinf:"
_LOOKBACK = 32  # instructions searched back from a `syscall` for the number's `mov`
_WINDOW = 40  # bytes decoded before a `syscall` when the fast patterns do not match
# mov eax, imm32 ; syscall   and   mov rax, imm32 (sign-extended) ; syscall
_FAST = re.compile(rb"(?:\xb8(....)|\x48\xc7\xc0(....))\x0f\x05", re.DOTALL)
_SYSCALL = re.compile(rb"\x0f\x05")
_PROGRAM_NAME = re.compile(r"[A-Za-z0-9_./+-]+")
# the C libraries and loaders: their functions are the libc table's rows, not the program's
C_LIBRARIES = frozenset({"libc.so.6", "ld-linux-x86-64.so.2", "ld-musl-x86_64.so.1",
                         "libc.musl-x86_64.so.1"})
SHELLS = frozenset({"sh", "bash", "dash", "ash", "busybox"})


class BinaryKind(Enum):
    """What a file turned out to be; every kind but DYNAMIC and STATIC carries a note."""

    DYNAMIC = "dynamic"  # linked against shared libraries: imports + direct syscalls
    STATIC = "static"  # its own copy of libc: direct syscalls only
    GO = "go"  # Go's runtime: direct syscalls, its syscall package's numbers are run-time values
    SCRIPT = "script"  # `#!`: its interpreter is what runs
    NOT_ELF = "not ELF"
    UNSUPPORTED = "unsupported"  # another architecture or class, or a file pyelftools rejects


@dataclass(frozen=True)
class BinaryFacts:
    """One file, as far as the kernel's syscalls are concerned."""

    kind: BinaryKind
    imports: tuple[str, ...] = ()  # undefined dynamic function symbols (libc's and others')
    needed: tuple[str, ...] = ()  # DT_NEEDED
    runpath: tuple[str, ...] = ()  # DT_RUNPATH, else DT_RPATH
    direct: tuple[int, ...] = ()  # syscall numbers made by its own `syscall` instructions
    computed: int = 0  # `syscall` instructions whose number is not a constant here
    interpreter: tuple[str, ...] = ()  # a script's `#!` line, split
    note: str | None = None  # what could not be read, for the user
    commands: tuple[str, ...] = ()  # a shell script's programs in command position

    def to_builtin(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "imports": list(self.imports), "needed": list(self.needed),
                "runpath": list(self.runpath), "direct": list(self.direct),
                "computed": self.computed, "interpreter": list(self.interpreter),
                "note": self.note, "commands": list(self.commands)}

    @classmethod
    def from_builtin(cls, data: dict[str, Any]) -> BinaryFacts:
        return cls(BinaryKind(data["kind"]), tuple(data["imports"]), tuple(data["needed"]),
                   tuple(data["runpath"]), tuple(data["direct"]), int(data["computed"]),
                   tuple(data["interpreter"]), data["note"], tuple(data["commands"]))


def _disassembler() -> Any:
    import capstone

    return capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


# a general register's names by width -> its 64-bit name: a number travels through copies
_REGISTERS = {name: full for full, names in {
    "rax": ("rax", "eax"), "rbx": ("rbx", "ebx"), "rcx": ("rcx", "ecx"), "rdx": ("rdx", "edx"),
    "rsi": ("rsi", "esi"), "rdi": ("rdi", "edi"), "rbp": ("rbp", "ebp"),
    **{f"r{i}": (f"r{i}", f"r{i}d") for i in range(8, 16)}}.items() for name in names}


_SYSCALL_CLOBBERS = frozenset({"rax", "rcx", "r11"})
_READ_ONLY = frozenset({"push", "cmp", "test", "bt"})  # their first operand is not written


def trace_register(instructions: list[tuple[int, int, str, str]], register: str) -> int | str | None:
    """What `register` holds at the end of `instructions`: a constant, the 64-bit name of the
    register it was copied from and that nothing in sight wrote (a value from before: the
    function's argument, say), or None (a load, a computation, a call in between)."""
    wanted = _REGISTERS.get(register, register)
    for _, _, mnemonic, operands in reversed(instructions[-_LOOKBACK:]):
        if mnemonic == "ret":
            break  # the code before a `ret` is another path: nothing on this one wrote it
        if mnemonic == "call" or (mnemonic == "syscall" and wanted in _SYSCALL_CLOBBERS):
            return None  # (a jump is passed: the code before it is often its own path in)
        target, _, source = operands.partition(", ")
        if _REGISTERS.get(target) != wanted or mnemonic in _READ_ONLY:
            continue
        if mnemonic == "mov":
            try:
                return int(source, 0)
            except ValueError:
                if source not in _REGISTERS:
                    return None  # a load from memory
                wanted = _REGISTERS[source]  # a copy: follow the source further back
                continue
        if mnemonic == "xor" and source == target:
            return 0
        return None  # another write (lea, add, pop, a load): not a constant here
    return wanted if wanted != "rax" else None


def number_before(instructions: list[tuple[int, int, str, str]]) -> int | None:
    """The constant the last instructions before a `syscall` put in eax/rax, or None when a
    register, a memory operand or a call supplies it (or nothing in sight writes it)."""
    value = trace_register(instructions, "rax")
    return value if isinstance(value, int) else None


def decode_before(code: bytes, offset: int, disassembler: Any) -> list[tuple[int, int, str, str]]:
    """The longest decoding of the bytes before `offset` that ends exactly there (x86 has no
    instruction boundaries: the start that lines up with the `syscall` wins)."""
    for back in range(min(_WINDOW, offset), 0, -1):
        window = code[offset - back:offset]
        decoded = list(disassembler.disasm_lite(window, offset - back))
        if decoded and sum(size for _, size, _, _ in decoded) == back:
            return decoded
    return []


def syscall_numbers(code: bytes, disassembler: Any | None = None) -> tuple[set[int], int]:
    """The constant numbers of the `syscall` instructions in `code` (machine code), and how
    many had a number this cannot tell."""
    found: set[int] = set()
    fast = set()
    for match in _FAST.finditer(code):
        fast.add(match.end() - 2)
        found.add(int.from_bytes(match.group(1) or match.group(2), "little", signed=True))
    computed = 0
    for match in _SYSCALL.finditer(code):
        if match.start() in fast:
            continue
        disassembler = disassembler or _disassembler()
        number = number_before(decode_before(code, match.start(), disassembler))
        if number is None:
            computed += 1
        else:
            found.add(number)
    return {n for n in found if 0 <= n < 1024}, computed


def executable_code(elf: Any) -> Iterator[tuple[int, bytes]]:
    """(address, bytes) of every executable PT_LOAD segment: a stripped file (no section
    headers at all) still has its segments."""
    for segment in elf.iter_segments():
        if segment["p_type"] == "PT_LOAD" and segment["p_flags"] & 1:
            yield segment["p_vaddr"], segment.data()


def _is_go(elf: Any, data: bytes) -> bool:
    names = {section.name for section in elf.iter_sections()}
    return bool(names & GO_SECTIONS) or GO_BUILDINFO in data


def _dynamic(elf: Any) -> tuple[list[str], list[str]]:
    """DT_NEEDED, and DT_RUNPATH (else DT_RPATH) split on ':'."""
    needed: list[str] = []
    runpath: list[str] = []
    rpath: list[str] = []
    for segment in elf.iter_segments():
        if segment["p_type"] != "PT_DYNAMIC":
            continue
        for tag in segment.iter_tags():
            if tag.entry.d_tag == "DT_NEEDED":
                needed.append(tag.needed)
            elif tag.entry.d_tag == "DT_RUNPATH":
                runpath.extend(tag.runpath.split(":"))
            elif tag.entry.d_tag == "DT_RPATH":
                rpath.extend(tag.rpath.split(":"))
    return needed, runpath or rpath


def _imports(elf: Any) -> list[str]:
    """The functions the file takes from its libraries (undefined dynamic symbols)."""
    from elftools.elf.dynamic import DynamicSegment

    section = elf.get_section_by_name(".dynsym")
    if section is None:
        for segment in elf.iter_segments():  # no section headers: the dynamic segment's table
            if isinstance(segment, DynamicSegment):
                section = segment
                break
    if section is None:
        return []
    if elf.elfclass == 64 and elf.little_endian and not isinstance(section, DynamicSegment):
        return _undefined_functions(section.data(), elf.get_section(section["sh_link"]).data())
    names = set()
    for symbol in section.iter_symbols():
        if (symbol.name and symbol["st_shndx"] == "SHN_UNDEF"
                and symbol["st_info"]["type"] in ("STT_FUNC", "STT_NOTYPE", "STT_GNU_IFUNC")):
            names.add(symbol.name)
    return sorted(names)


_SYMBOL_64 = struct.Struct("<IBBHQQ")  # Elf64_Sym: name, info, other, shndx, value, size
_FUNCTION_TYPES = frozenset({0, 2, 10})  # STT_NOTYPE, STT_FUNC, STT_GNU_IFUNC


def _undefined_functions(table: bytes, strings: bytes) -> list[str]:
    """The undefined function symbols of a 64-bit little-endian .dynsym, read with struct: a
    libc's 3,000 symbols through pyelftools' per-field parser take half a second each."""
    names = set()
    usable = len(table) - len(table) % _SYMBOL_64.size
    for name, info, _, shndx, _, _ in _SYMBOL_64.iter_unpack(table[:usable]):
        if name and shndx == 0 and info & 0xF in _FUNCTION_TYPES and name < len(strings):
            end = strings.find(b"\0", name)
            names.add(strings[name:end if end >= 0 else None].decode("utf-8", "replace"))
    return sorted(names)


def shebang(data: bytes) -> tuple[str, ...]:
    """`#!/usr/bin/env python3 -u` -> ('/usr/bin/env', 'python3', '-u')."""
    line = data[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    try:
        return tuple(shlex.split(line))
    except ValueError:
        return tuple(line.split())


def read_binary(data: bytes, name: str = "the file") -> BinaryFacts:
    """The facts of one file's bytes; whatever cannot be read is said in `note`, never raised."""
    if data.startswith(b"#!"):
        interpreter = shebang(data)
        shell = bool(interpreter) and interpreter[0].rsplit("/", 1)[-1] in SHELLS
        return BinaryFacts(BinaryKind.SCRIPT, interpreter=interpreter,
                           note=None if interpreter else f"{name} has an empty #! line",
                           commands=tuple(shell_commands(data.decode("utf-8", "replace")))
                           if shell else ())
    if not data.startswith(ELF_MAGIC):
        return BinaryFacts(BinaryKind.NOT_ELF, note=f"{name} is neither an ELF file nor a script")
    from elftools.common.exceptions import ELFError

    try:
        from elftools.elf.elffile import ELFFile

        elf = ELFFile(io.BytesIO(data))
        if elf["e_machine"] != "EM_X86_64":
            return BinaryFacts(BinaryKind.UNSUPPORTED, note=(
                f"{name} is built for {elf['e_machine'].removeprefix('EM_')}, not x86-64: "
                "not analysed"))
        needed, runpath = _dynamic(elf)
        imports = _imports(elf)
        found: set[int] = set()
        computed = 0
        disassembler = _disassembler()
        for _, code in executable_code(elf):
            numbers, unknown = syscall_numbers(code, disassembler)
            found |= numbers
            computed += unknown
        stripped = elf.num_sections() == 0
        go = _is_go(elf, data)
    except (ELFError, ValueError, KeyError, AttributeError, OSError) as exc:
        return BinaryFacts(BinaryKind.UNSUPPORTED, note=f"{name} could not be read as ELF ({exc})")
    kind = BinaryKind.GO if go else BinaryKind.DYNAMIC if needed or imports else BinaryKind.STATIC
    notes = []
    if kind is BinaryKind.GO and computed:
        notes.append(f"{name} is a Go program: {computed} of its syscall instructions take the "
                     "number at run time (Go's syscall package), so only its runtime's own "
                     "calls are known")
    elif kind is BinaryKind.STATIC and computed:
        notes.append(f"{name} is statically linked: {computed} syscall instructions take the "
                     "number at run time")
    if stripped:
        notes.append(f"{name} has no section headers: its executable segments were read")
    return BinaryFacts(kind, tuple(imports), tuple(needed), tuple(runpath), tuple(sorted(found)),
                       computed, note="; ".join(notes) or None)


_BUILTIN_PREFIXES = frozenset({"exec", "command", "builtin"})  # the shell's: the next word runs
_WRAPPERS = frozenset({"env", "nice", "nohup", "time", "timeout", "setsid", "stdbuf"})
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", ";;", "|&", "{", "}", "!"})


def commands_in(words: Iterable[str]) -> list[str]:
    """The program names of a shell command line: the first word of each pipeline member, and
    the program a wrapper runs (`pg_isready -q && exec redis-cli ping` -> pg_isready, redis-cli;
    `nice -n 5 gzip f` -> nice, gzip)."""
    out: list[str] = []
    expect = True
    wrapped = False
    for word in words:
        if word in _SEPARATORS:
            expect, wrapped = True, False
            continue
        if not expect:
            continue
        if "=" in word and not word.startswith("="):
            continue  # VAR=value before the program
        if wrapped and (word.startswith("-") or word.isdigit()):
            continue  # a wrapper's options
        if word in _BUILTIN_PREFIXES:
            continue
        out.append(word)
        wrapped = word in _WRAPPERS
        expect = wrapped
    return out


def shell_commands(text: str) -> list[str]:
    """The programs a shell script (or a `sh -c` line) runs, in order, once each: the words
    in command position that look like a program's name (no expansions, no quoting)."""
    out: list[str] = []
    in_case = False
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            words = list(lexer)
        except ValueError:
            words = line.split()
        if in_case and ")" in words and "(" not in words[:words.index(")")]:
            words = words[words.index(")") + 1:]  # a `case` pattern (`/etc/x)`, `a|b)`): no command
        if words[:1] == ["case"]:
            in_case = True
        if "esac" in words:
            in_case = False
        for name in commands_in(words):
            if _PROGRAM_NAME.fullmatch(name) and name not in out:
                out.append(name)
    return out
