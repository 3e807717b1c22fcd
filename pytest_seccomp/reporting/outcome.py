"""What a session hands its reports: plain values, so the writers (summary, JSON, HTML, CI)
need no session and a test can build one from values, as syrupy's reports are built."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from ..modes import Missing
from ..profiles.model import Profile, ProfileDiff
from ..recording.store import ContainerRecord, Recording
from ..tracing.tracer import Caller

if TYPE_CHECKING:
    from ..coverage.gaps import ProfileCoverage
    from ..profiles.engine_default import EngineDefault


class ProfileStatus(StrEnum):
    """What a recording did to one profile's file."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    NOT_WRITTEN = "not written"
    DRIFTED = "drifted"  # --seccomp-check: it would gain syscalls
    NARROWER = "narrower"  # --seccomp-check: it would lose some, nothing more


@dataclass
class ProfileResult:
    """What the session made of one profile name."""

    name: str
    path: Path
    containers: list[ContainerRecord]
    syscalls: Counter[str]  # the names the app made
    profile: Profile | None = None
    # `socket(AF_INET)`: the argument values the tests used (also with --seccomp-args=names)
    arguments: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    status: ProfileStatus = ProfileStatus.NEW
    diff: ProfileDiff = field(default_factory=ProfileDiff)  # against the file on disk before this session
    existed: bool = False  # a file was on disk before this session


@dataclass(frozen=True)
class Refusal:
    window: str  # the test, fixture or gap between tests in which the call was refused
    container: ContainerRecord
    syscall: str
    calls: int
    caller: Caller  # the thread that made the call, and its process
    note: str = ""  # why the profile refused a name it lists (its argument or capability rules)


@dataclass(frozen=True)
class RecordOutcome:
    """A recording's end: every profile's result and what the reports say beside them."""

    results: list[ProfileResult]
    recording: Recording
    default: EngineDefault | None
    engine: str | None
    failure: str | None
    count_calls: bool
    nnp: bool
    check_drift: bool
    write: bool
    merge: bool
    full_run: bool
    drifted: bool
    tests_failed: int
    uncovered: dict[str, frozenset[str]]
    coverages: dict[str, ProfileCoverage] = field(default_factory=dict)


@dataclass(frozen=True)
class EnforceOutcome:
    """An enforce run's end: what ran under which profile, and every refusal."""

    recording: Recording
    enforced: Counter[str]  # profile name -> containers started under it
    paths: dict[str, Path]  # profile name -> the file it was loaded from
    refusals: dict[str, list[Refusal]]  # window -> refusals
    passed_despite: list[str]
    failed_with: list[str]
    refused_as_default: dict[tuple[str, str, str, str], int]  # (image, syscall, who, why)
    missing_images: dict[str, set[str]]
    missing: Missing  # --seccomp-missing: what ran where no profile was
    refused_outside_tests: bool
    strict: bool
