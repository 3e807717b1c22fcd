"""What a profile's tests never exercised: the syscalls its image's programs can make (their
own `syscall` instructions, the libc functions they import) that no test made. Advisory only:
nothing here is ever added to a profile."""

from __future__ import annotations

import functools
import json
import platform
import posixpath
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .elf import C_LIBRARIES, BinaryKind
from .image import Reached

SUMMARY_EXAMPLES = 3  # never-seen syscalls the summary names per profile
# what the kernel's vDSO serves in user space on each machine: the C library's wrapper of the
# same name answers from it (the syscall is its fallback for the clocks the vDSO lacks), so
# importing it is no sign a test could make the syscall; making it directly still is
VDSO = {"x86_64": frozenset({"clock_gettime", "clock_getres", "gettimeofday", "time", "getcpu"}),
        "aarch64": frozenset({"clock_gettime", "clock_getres", "gettimeofday"})}


@dataclass(frozen=True)
class NeverSeen:
    """A syscall a program of the image can make and no test made, and why it can."""

    name: str
    binary: str  # the file's path in the image
    via: str  # "imports fsync", "makes it directly"
    weight: int = 0  # how many syscalls that route brings (1: the wrapper itself): sorts

    @property
    def label(self) -> str:
        return f"{self.name}: {posixpath.basename(self.binary)} {self.via}"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "binary": self.binary, "via": self.via}


@dataclass
class ProfileCoverage:
    """Covered / possible for one profile, with every never-seen syscall and what could not be
    read."""

    profile: str
    possible: int = 0
    covered: int = 0
    never_seen: list[NeverSeen] = field(default_factory=list)
    binaries: list[str] = field(default_factory=list)  # the files analysed, in the order found
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    from_cache: bool = False

    @property
    def percent(self) -> int:
        return round(100 * self.covered / self.possible) if self.possible else 100

    @property
    def line(self) -> str:
        head = (f"coverage {self.profile}: {self.covered} of {self.possible} possible syscalls "
                f"covered ({self.percent}%) in {len(self.binaries)} files")
        if not self.never_seen:
            return head
        shown = ", ".join(n.label for n in self.never_seen[:SUMMARY_EXAMPLES])
        more = len(self.never_seen) - SUMMARY_EXAMPLES
        return (f"{head}; never seen: {len(self.never_seen)}, e.g. {shown}"
                + (f" (+{more} more in the JSON report)" if more > 0 else ""))

    def to_json(self) -> dict[str, Any]:
        return {"covered": self.covered, "possible": self.possible, "percent": self.percent,
                "never_seen": [n.to_json() for n in self.never_seen],
                "binaries": self.binaries, "not_read": self.notes,
                "seconds": round(self.seconds, 3), "cached": self.from_cache}


@dataclass(frozen=True)
class LibcTable:
    """One C library's exported functions -> the syscalls each can make (data/libc-syscalls.json)."""

    name: str
    package: str
    sonames: tuple[str, ...]
    functions: Mapping[str, frozenset[str]]


@functools.cache
def libc_tables() -> tuple[LibcTable, ...]:
    text = resources.files("pytest_seccomp").joinpath("data/libc-syscalls.json").read_text("utf-8")
    data = json.loads(text)
    out = []
    for name, entry in sorted(data["libraries"].items()):
        sets = [frozenset(s) for s in entry["sets"]]
        out.append(LibcTable(name, entry["package"], tuple(entry["sonames"]),
                             {f: sets[i] for f, i in entry["functions"].items()}))
    return tuple(out)


def _libc_of(reached: Reached) -> LibcTable | None:
    names = {posixpath.basename(p) for p in reached.binaries}
    for table in libc_tables():
        if names & set(table.sonames):
            return table
    return None


def possible_syscalls(reached: Reached, syscall_name: Any) -> dict[str, NeverSeen]:
    """Every syscall the reached files can make -> the simplest route to it (a direct
    instruction or the import with the fewest syscalls, the earliest file first)."""
    table = _libc_of(reached)
    vdso = VDSO.get(platform.machine(), frozenset())
    best: dict[str, tuple[tuple[int, int, str], NeverSeen]] = {}

    def offer(name: str | None, key: tuple[int, int, str], route: NeverSeen) -> None:
        if name is None or name.startswith("#"):
            return
        if name not in best or key < best[name][0]:
            best[name] = (key, route)

    for order, (path, facts) in enumerate(reached.binaries.items()):
        base = posixpath.basename(path)
        if base in C_LIBRARIES or (table is not None and base in table.sonames):
            continue  # the C library itself: its functions are the table's rows
        if facts.kind not in (BinaryKind.DYNAMIC, BinaryKind.STATIC, BinaryKind.GO):
            continue
        shown = reached.invoked.get(path, path)  # /usr/bin/redis-server, not redis-check-rdb
        for number in facts.direct:
            name = syscall_name(number)
            offer(name, (0, order, ""), NeverSeen(str(name), shown, "makes it directly", 0))
        if table is None:
            continue
        for function in facts.imports:
            made = table.functions.get(function)
            if not made:
                continue
            for name in made:
                if name == function and function in vdso:
                    continue
                offer(name, (len(made), order, function),
                      NeverSeen(name, shown, f"imports {function}", len(made)))
    return {name: route for name, (_, route) in best.items()}


def coverage_of(profile: str, reached: Reached, allowed: Iterable[str],
                default_allows: Any, syscall_name: Any) -> ProfileCoverage:
    """Covered / possible for one profile: possible is what the files can make within the
    engine's default (what it refuses no profile may allow anyway)."""
    allowed = set(allowed)
    possible = {name: route for name, route in possible_syscalls(reached, syscall_name).items()
                if default_allows(name)}
    never = sorted((r for n, r in possible.items() if n not in allowed),
                   key=lambda r: (r.weight, r.name))
    notes = list(dict.fromkeys(reached.notes))
    for path in reached.invoked:  # the programs (not their libraries, many of which dlopen)
        if "dlopen" in reached.binaries[path].imports:
            notes.append(f"{posixpath.basename(reached.invoked[path])} imports dlopen: the "
                         "libraries it loads at run time (extension modules, plugins) were not "
                         "read")
    if _libc_of(reached) is None and any(f.imports for f in reached.binaries.values()):
        notes.append("no C library of the table (glibc, musl) was found: imports were not "
                     "mapped to syscalls")
    return ProfileCoverage(profile, len(possible), len(possible) - len(never), never,
                           [reached.invoked.get(p, p) for p in reached.binaries], notes)


class Clock:
    """Seconds spent, for the report's figure."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
