"""What to tell: the JSON report of a recording and the terminal summary lines."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .profile import write_atomic
from .session import RecordSession


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def record_report(session: RecordSession) -> dict[str, Any]:
    """Per profile: images, containers and tests that fed it, and the syscalls each added."""
    recording = session.recording
    profiles: dict[str, Any] = {}
    for result in session.results:
        first_needed: dict[str, str] = {}
        tests: dict[str, dict[str, int]] = {}
        ids = {c.id for c in result.containers}
        for test in recording.by_test:
            counts: Counter[int] = Counter()
            for container_id, delta in recording.by_test[test].items():
                if container_id in ids:
                    counts.update(delta)
            if not counts:
                continue
            named = recording.names(counts)
            tests[test] = dict(sorted(named.items()))
            for name in sorted(named):
                first_needed.setdefault(name, test)
        profiles[result.name] = {
            "path": str(result.path),
            "status": result.status,
            "error": result.error,
            "images": sorted({c.image for c in result.containers}),
            "syscalls": dict(sorted(result.syscalls.items())),
            "first_needed_by": dict(sorted(first_needed.items())),
            "containers": [
                {
                    "id": c.id, "name": c.name, "image": c.image, "test": c.test,
                    "execs": [{"test": t, "command": cmd} for t, cmd in c.execs],
                    "syscalls": dict(sorted(recording.names(c.counts).items())),
                }
                for c in sorted(result.containers, key=lambda c: (c.test, c.name, c.id))
            ],
            "tests": tests,
        }
    unrecorded = [
        {"id": c.id, "name": c.name, "image": c.image, "test": c.test, "reason": c.unrecordable}
        for c in session.recording.containers.values() if c.unrecordable
    ]
    return {
        "version": 1,
        "mode": "record",
        "complete": session.failure is None,
        "error": session.failure,
        "engine": session.engine,
        "default_profile": str(session.default.path) if session.default else None,
        "profiles": profiles,
        "unrecorded_containers": unrecorded,
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(report, indent=2, sort_keys=True) + "\n")


def summary_lines(session: RecordSession, verbose: bool) -> Iterator[str]:
    """The terminal summary: one line per profile; details with -v; nothing when idle."""
    for result in session.results:
        tests = {c.test for c in result.containers}
        where = _relative(result.path)
        yield (f"{result.name}: {_plural(len(result.syscalls), 'syscall')} from "
               f"{_plural(len(result.containers), 'container')} in {_plural(len(tests), 'test')}"
               f" -> {where} ({result.status})")
        if verbose:
            yield "    " + " ".join(sorted(result.syscalls))
    for record in session.recording.containers.values():
        if record.unrecordable:
            yield (f"not recorded: container {record.name} ({record.image}) in {record.test}: "
                   f"{record.unrecordable}")
    if session.failure is None and session.tests_failed and session.results:
        yield (f"warning: {_plural(session.tests_failed, 'test')} failed; the profiles may lack "
               "syscalls those tests would have needed")
