"""What to tell: the JSON report of a recording and the terminal summary lines."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .enforce import EnforceSession
from .profile import write_atomic
from .record import RecordSession


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def record_report(session: RecordSession) -> dict[str, Any]:
    """Per profile: images, containers and tests that fed it, and the syscalls each added
    (with call counts under --seccomp-count-calls, else as sorted lists)."""
    recording = session.recording

    def calls(named: Counter[str]) -> dict[str, int] | list[str]:
        if session.options.count_calls:
            return dict(sorted(named.items()))
        return sorted(named)

    profiles: dict[str, Any] = {}
    for result in session.results:
        first_needed: dict[str, str] = {}
        tests: dict[str, dict[str, int] | list[str]] = {}
        ids = {c.id for c in result.containers}
        for test in recording.by_test:
            counts: Counter[int] = Counter()
            for container_id, delta in recording.by_test[test].items():
                if container_id in ids:
                    counts.update(delta)
            if not counts:
                continue
            named = recording.names(counts)
            tests[test] = calls(named)
            for name in sorted(named):
                first_needed.setdefault(name, test)
        profiles[result.name] = {
            "path": str(result.path),
            "status": result.status,
            "error": result.error,
            "images": sorted({c.image for c in result.containers}),
            "syscalls": calls(result.syscalls),
            "first_needed_by": dict(sorted(first_needed.items())),
            "containers": [
                {
                    "id": c.id, "name": c.name, "image": c.image, "test": c.test,
                    "execs": [{"test": t, "command": cmd} for t, cmd in c.execs],
                    "syscalls": calls(recording.names(c.counts)),
                }
                for c in sorted(result.containers, key=lambda c: (c.test, c.name, c.id))
            ],
            "tests": tests,
        }
    unrecorded = [
        {"id": c.id, "name": c.name, "image": c.image, "test": c.test, "reason": c.left_out}
        for c in session.recording.containers.values() if c.left_out
    ]
    return {
        "version": 1,
        "mode": "record",
        "complete": session.failure is None,
        "error": session.failure,
        "engine": session.engine,
        "counts": session.options.count_calls,
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
        if record.left_out:
            yield (f"not recorded: container {record.name} ({record.image}) in {record.test}: "
                   f"{record.left_out}")
    if session.failure is None and session.tests_failed and session.results:
        yield (f"warning: {_plural(session.tests_failed, 'test')} failed; the profiles may lack "
               "syscalls those tests would have needed")


def enforce_summary_lines(session: EnforceSession, verbose: bool) -> Iterator[str]:
    """Profiles enforced, containers under each, refusals by test, images without a profile."""
    for name, count in sorted(session.enforced().items()):
        loaded = session.loaded.get(name)
        where = _relative(loaded.path) if loaded else name
        yield f"{name}: {_plural(count, 'container')} under {where}"
    for test, refusals in sorted(session.refusals.items()):
        if not refusals:
            continue
        what = ", ".join(f"{r.syscall} ({r.comm}, {r.container.short_id})" for r in refusals)
        tag = "passed anyway: " if test in session.passed_despite else ""
        yield f"refused in {test}: {tag}{what}"
    for name, images in sorted(session.missing_images.items()):
        ran = "the engine's default" if session.missing == "default" else "no seccomp filter"
        yield f"no profile for {', '.join(sorted(images))} ({name}.json): ran under {ran}"
    for record in session.recording.containers.values():
        if record.left_out:
            yield (f"not enforced: container {record.name} ({record.image}) in {record.test}: "
                   f"{record.left_out}")
    if session.passed_despite and not session.strict:
        yield (f"warning: {_plural(len(session.passed_despite), 'test')} passed although "
               "syscalls were refused (the app may swallow EPERM); --seccomp-strict fails them")
