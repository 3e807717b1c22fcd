"""What a loaded tracer is, wherever it runs: the plan it loads (programs, map sizes, settings)
and the protocol both back ends answer (InProcess in tracer.py, HelperTracer in helper.py), so
neither back end needs the module of the other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class LoadPlan:
    """What to load: the programs to attach, every map's size, the program's settings."""

    programs: tuple[str, ...]
    sizes: Mapping[str, int]
    settings: bytes  # .data, whole: refusal_errno


class Loaded(Protocol):
    """A loaded, attached tracer: in this process, or in the helper container (helper.py)."""

    machine: str  # the kernel's architecture, as `uname -m` prints it

    def tables(self, names: Sequence[str]) -> tuple[bool, dict[str, list[tuple[bytes, bytes]]]]:
        """Whether every program is still attached, and every entry of the maps named."""

    def cpus(self, name: str) -> int:
        """A per-CPU map's number of values per entry (0 for other maps)."""

    def changes(self) -> int | None:
        """The program's count of writes (tracer.bpf.c: changes), or None where reading it
        costs a round trip as long as reading every map (the helper)."""

    def run_handshake(self, cgroup_name: str, errno: int) -> int | None:
        """Make a new cgroup `cgroup_name` and a seccomp-confined task that calls getppid: the
        id of the cgroup the task ran in, or None for the new one."""

    def close(self) -> None:
        """Detach everything and free the maps."""
