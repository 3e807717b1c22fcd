"""The OCI runtimes' own steps after installing the filter, as measured, and which of them a
profile's runtime rule covers (`--seccomp-runtimes`).

A runtime installs the container's seccomp filter, then goes on under it until it execs the app:
those steps are refused like the app's own. They differ between runtimes and versions (runc 1.3
reopens /proc/thread-self/fd with statx and open_tree, where 1.1 did not), so a profile that
holds only the steps of the runtime it was recorded under may not start where it is deployed.
The table in `data/runtime-steps.json` holds what each runtime of the matrix did over many
starts, also under load, in both modes; `benchmarks/bench_runtimes.py --measure` makes it anew.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, cached_property
from importlib import resources
from typing import Any

from ..errors import SeccompError

RECORDED = "recorded"  # --seccomp-runtimes=recorded: only the steps this recording saw
ALL = "all"  # every runtime of the measured table (the default)
_TERM = re.compile(r"^(?P<name>[a-z][a-z0-9-]*)\s*(?:(?P<op>>=|<=|==|>|<|@)\s*"
                   r"(?P<version>\d+(?:\.\d+)*))?$")


class StartMode(StrEnum):
    """How the container starts: the runtime's steps after the filter differ between the two."""

    DEFAULT = "default"  # without no-new-privileges (as users mostly deploy)
    NNP = "nnp"  # with no-new-privileges (--seccomp-nnp): the filter comes just before execve

    @classmethod
    def of(cls, nnp: bool) -> StartMode:
        return cls.NNP if nnp else cls.DEFAULT


class RuntimePath(StrEnum):
    """How the runtime enters the container after installing its filter: each path was measured
    on its own (their steps differ: runc 1.3 calls open_tree when it joins a running container)."""

    RUN = "run"  # the container's start
    EXEC = "exec"  # `docker exec`, Kubernetes' exec probes
    HEALTHCHECK = "healthcheck"  # the engine's HEALTHCHECK runs: an exec of its own
    RESTART = "restart"  # a start again by restart policy
    INIT = "init"  # `--init`: the engine's init (docker-init, tini) is PID 1 before the app


def version_tuple(text: str) -> tuple[int, ...]:
    """`1.1.5+ds1` -> (1, 1, 5); `1.28` -> (1, 28); no digits -> ()."""
    match = re.match(r"^v?(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def split_runtime(runtime: str) -> tuple[str, str]:
    """`runc 1.1.5+ds1` -> ("runc", "1.1.5+ds1"); an unknown runtime -> (its text, "")."""
    name, _, version = runtime.strip().partition(" ")
    return name, version.strip()


# runc is a Go program: between installing the filter and exec'ing the app its runtime may wait
# on a futex or sleep, as scheduling has it (one start makes them, the next not: an enforce run
# under Podman had runc's init refused both after a recording that never saw them)
GO_RUNTIME_WAITS = {"runc": frozenset({"futex", "nanosleep"})}


def runtime_steps(seen: Iterable[str], runtime: str) -> set[str]:
    """The runtime's steps after installing the filter: those seen, and, when any were (the
    filter came before its last steps), the waits its language's runtime may make in any start."""
    steps = set(seen)
    if steps:
        steps |= GO_RUNTIME_WAITS.get(runtime.split(" ", 1)[0], frozenset())
    return steps


@dataclass(frozen=True)
class MeasuredRuntime:
    """One runtime of the matrix: what it did after installing the filter, per start mode."""

    name: str  # runc, crun
    version: str  # as the runtime reports it, e.g. "1.3.6"
    engine: str  # the engine it ran under when measured, e.g. "Docker 28.5.2 (Debian sid)"
    starts: int  # containers started per mode to measure it
    steps: dict[StartMode, frozenset[str]]  # the start's (RuntimePath.RUN)
    # the other paths': what the containers that took them saw (their start included)
    paths: dict[RuntimePath, dict[StartMode, frozenset[str]]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def path_steps(self, path: RuntimePath, mode: StartMode) -> frozenset[str]:
        if path is RuntimePath.RUN:
            return self.steps.get(mode, frozenset())
        return self.paths.get(path, {}).get(mode, frozenset())

    def all_steps(self, mode: StartMode) -> frozenset[str]:
        """The steps of every path the runtime rule covers, in the mode: what a profile needs
        to start, exec, pass its health check and restart there. (--init's are not the
        runtime's: the engine's init runs in the container as its PID 1, and a test that
        starts the container with init=True records it as the app's.)"""
        return frozenset().union(*(self.path_steps(p, mode) for p in RuntimePath
                                   if p is not RuntimePath.INIT))


@dataclass(frozen=True)
class RuntimeTable:
    """The measured runtimes, and how the table was made."""

    runtimes: tuple[MeasuredRuntime, ...]
    made_by: str
    paths_made_by: str = ""  # how the paths other than the start were measured

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuntimeTable:
        runtimes = tuple(
            MeasuredRuntime(entry["runtime"], entry["version"], entry["engine"],
                            int(entry["starts"]),
                            {StartMode(mode): frozenset(names)
                             for mode, names in entry["steps"].items()},
                            {RuntimePath(path): {StartMode(mode): frozenset(names)
                                                 for mode, names in modes.items()}
                             for path, modes in entry.get("paths", {}).items()})
            for entry in data["runtimes"])
        return cls(tuple(sorted(runtimes, key=lambda r: (r.name, version_tuple(r.version)))),
                   str(data.get("made_by", "")), str(data.get("paths_made_by", "")))

    @cached_property  # (the shipped table is read once: so is its union, asked per profile)
    def known_steps(self) -> frozenset[str]:
        """Every call some measured runtime made after installing the filter, on any path the
        runtime rule covers, in either mode (and the waits of its language's runtime): all a
        rule may hold to be read as the runtime's."""
        return frozenset().union(*(runtime_steps(r.all_steps(mode), r.label)
                                   for r in self.runtimes for mode in StartMode))

    def named(self, name: str) -> list[MeasuredRuntime]:
        return [r for r in self.runtimes if r.name == name]

    def find(self, runtime: str) -> MeasuredRuntime | None:
        """The entry for `runc 1.1.5+ds1` (the same release), if it was measured."""
        name, version = split_runtime(runtime)
        wanted = version_tuple(version)
        return next((r for r in self.named(name) if version_tuple(r.version) == wanted), None)


@cache
def measured_table() -> RuntimeTable:
    """The table shipped in the package (read once)."""
    text = resources.files("pytest_seccomp").joinpath("data/runtime-steps.json").read_text()
    return RuntimeTable.from_json(json.loads(text))


@dataclass(frozen=True)
class RuntimeSelection:
    """`--seccomp-runtimes`: which measured runtimes a profile's runtime rule must cover.
    Terms are `NAME`, `NAME>=1.1`, `NAME==1.3.6` (`NAME@1.3.6`), comma-separated; `all` (the
    default) is every measured runtime, `recorded` none beyond what the recording saw."""

    terms: tuple[tuple[str, str, tuple[int, ...]], ...] = ()  # (name, op, version)
    everything: bool = True

    @classmethod
    def parse(cls, text: str | None, table: RuntimeTable | None = None) -> RuntimeSelection:
        spec = (text or ALL).strip()
        if spec == ALL:
            return cls()
        if spec == RECORDED:
            return cls(everything=False)
        table = table or measured_table()
        terms = []
        known = sorted({r.name for r in table.runtimes})
        for raw in spec.split(","):
            match = _TERM.match(raw.strip())
            if not match or match["name"] not in known:
                raise SeccompError(
                    f"--seccomp-runtimes: {raw.strip()!r} names no measured runtime. Give "
                    "'all' (every runtime the table measured: "
                    f"{', '.join(r.label for r in table.runtimes)}), 'recorded' (only the "
                    "steps this recording saw), or comma-separated terms such as "
                    f"'runc>=1.1,crun>=1.8' (runtimes: {', '.join(known)}).")
            op = {"@": "=="}.get(match["op"] or "", match["op"] or "")
            terms.append((match["name"], op, version_tuple(match["version"] or "")))
        return cls(tuple(terms), everything=False)

    def covers(self, runtime: MeasuredRuntime) -> bool:
        if self.everything:
            return True
        have = version_tuple(runtime.version)
        for name, op, version in self.terms:
            if name != runtime.name:
                continue
            if not op or {">=": have >= version, "<=": have <= version, "==": have == version,
                          ">": have > version, "<": have < version}[op]:
                return True
        return False

    def chosen(self, table: RuntimeTable | None = None) -> list[MeasuredRuntime]:
        if not (self.everything or self.terms):
            return []
        return [r for r in (table or measured_table()).runtimes if self.covers(r)]


def covered_steps(selection: RuntimeSelection, nnp: bool,
                  table: RuntimeTable | None = None) -> tuple[frozenset[str], list[MeasuredRuntime]]:
    """The union of the chosen runtimes' steps in the mode, and the runtimes chosen."""
    chosen = selection.chosen(table)
    mode = StartMode.of(nnp)
    steps: set[str] = set()
    for runtime in chosen:
        # a Go runtime (runc) may wait wherever it has steps, as scheduling has it
        steps |= runtime_steps(runtime.all_steps(mode), runtime.label)
    return frozenset(steps), chosen


def coverage_label(runtimes: Iterable[MeasuredRuntime]) -> str:
    """`runc 1.1.5-1.3.6, crun 1.8.1-1.28`: the versions' span per runtime, in table order."""
    spans: dict[str, list[str]] = {}
    for runtime in runtimes:
        spans.setdefault(runtime.name, []).append(runtime.version)
    parts = []
    for name, versions in spans.items():
        ordered = sorted(versions, key=version_tuple)
        parts.append(f"{name} {ordered[0]}" if len(ordered) == 1
                     else f"{name} {ordered[0]}-{ordered[-1]}")
    return ", ".join(parts)


def missing_steps(allowed: Iterable[str], runtime: str, nnp: bool,
                  table: RuntimeTable | None = None) -> frozenset[str] | None:
    """What `runtime` (e.g. `runc 1.3.6`) was measured to need after the filter to start a
    container that a profile allowing `allowed` lacks; None when it was never measured."""
    gaps = missing_by_path(allowed, runtime, nnp, table)
    return None if gaps is None else gaps.get(RuntimePath.RUN, frozenset())


def missing_by_path(allowed: Iterable[str], runtime: str, nnp: bool,
                    table: RuntimeTable | None = None
                    ) -> dict[RuntimePath, frozenset[str]] | None:
    """Per measured path (start, exec, health check, restart, --init), what `runtime` needs
    after the filter that a profile allowing `allowed` lacks (paths lacking nothing left out);
    None when that runtime was never measured."""
    entry = (table or measured_table()).find(runtime)
    if entry is None:
        return None
    mode, have = StartMode.of(nnp), frozenset(allowed)
    gaps = {path: entry.path_steps(path, mode) - have for path in RuntimePath}
    return {path: gap for path, gap in gaps.items() if gap}
