"""What to tell: the JSON report of a recording and the terminal summary lines."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..modes import Missing
from ..profiles.arguments import family_name, in_family_order, socket_family
from ..profiles.model import Profile, ProfileDiff, write_atomic
from ..profiles.naming import display_path
from ..profiles.stakes import closed_line, rating
from ..profiles.syscalls import existing
from ..recording.windows import is_test

if TYPE_CHECKING:
    from ..recording.store import Recording
    from .outcome import EnforceOutcome, ProfileResult, RecordOutcome


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def record_report(outcome: RecordOutcome) -> dict[str, Any]:
    """Per profile: images, containers and tests that fed it, and the syscalls each added
    (with call counts under --seccomp-count-calls, else as sorted lists)."""
    recording = outcome.recording

    def calls(named: Counter[str]) -> dict[str, int] | list[str]:
        if outcome.count_calls:
            return dict(sorted(named.items()))
        return sorted(named)

    profiles: dict[str, Any] = {}
    for result in outcome.results:
        ids = {c.id for c in result.containers}
        tests = {test: calls(named) for test, named in recording.per_test(ids).items()}
        first_needed = {name: test for name, (test, _) in recording.first_needed(ids).items()}
        profiles[result.name] = {
            "path": str(result.path),
            "status": result.status,
            "added": result.diff.added_names,
            "removed": result.diff.removed_names,
            "error": result.error,
            "images": sorted({c.image for c in result.containers}),
            "io_uring": uses_io_uring(result),
            "syscalls": calls(result.syscalls),
            "runtime_syscalls": sorted(result.profile.runtime_only) if result.profile else [],
            "runtime": result.profile.runtime if result.profile else None,
            # null: socket allowed for every family the default allows (or --seccomp-args=names)
            "socket_families": _family_names(result.profile),
            "default_socket_families": len(outcome.default.profile.default_families())
            if outcome.default else None,
            "arguments_used": sorted(result.arguments),
            # null: not filtered (--seccomp-args other than all, or recorded before)
            "executable_memory": _executable(result.profile),
            "no_new_privileges": outcome.nnp,
            "first_needed_by": dict(sorted(first_needed.items())),
            "containers": [
                {
                    "id": c.id, "name": c.name, "image": c.image, "test": c.test,
                    "execs": [{"test": t, "command": cmd} for t, cmd in c.execs],
                    "syscalls": calls(recording.names(c.counts)),
                    # what the runtime did after installing the filter, whoever else needs it
                    "runtime_steps": sorted(recording.names(Counter(c.runtime))),
                    # the paths its processes exec'd (the tracer's; what coverage reads)
                    "programs": sorted(c.programs),
                }
                for c in sorted(result.containers, key=lambda c: (c.test, c.name, c.id))
            ],
            "tests": tests,
            # --seccomp-coverage: null without it
            "coverage": (outcome.coverages[result.name].to_json()
                         if result.name in outcome.coverages else None),
        }
    unrecorded = [
        {"id": c.id, "name": c.name, "image": c.image, "test": c.test, "reason": c.left_out}
        for c in outcome.recording.containers.values() if c.left_out
    ]
    return {
        "version": 1,
        "mode": "record",
        "complete": outcome.failure is None,
        "error": outcome.failure,
        "engine": outcome.engine,
        "counts": outcome.count_calls,
        "default_profile": str(outcome.default.path) if outcome.default else None,
        "profiles": profiles,
        "unrecorded_containers": unrecorded + [
            {"id": s.id, "name": s.name, "image": s.image, "test": s.window,
             "reason": "started outside the session's proxy"} for s in recording.unseen()],
        "healthchecks_never_ran": dict(sorted(recording.unhealthchecked().items())),
    }


def _family_names(profile: Profile | None) -> list[str] | None:
    families = profile.socket_families if profile else None
    return None if families is None else [family_name(f) for f in in_family_order(families)]


def _executable(profile: Profile | None) -> dict[str, list[str]] | None:
    memory = profile.executable_memory if profile else None
    return None if memory is None else {"allowed": memory[0], "refused": memory[1]}


def executable_line(profile: Profile) -> str | None:
    """`executable memory: mmap(PROT_EXEC) only; refused: ...`, when the profile filters it."""
    memory = profile.executable_memory
    if memory is None:
        return None
    allowed, refused = memory
    return (f"executable memory: {' '.join(allowed) + ' only' if allowed else 'none'}"
            + (f"; refused: {' '.join(refused)}" if refused else ""))


def families_clause(profile: Profile, default: Profile) -> str:
    """` and 2 of its 45 socket families (AF_INET AF_NETLINK(NETLINK_ROUTE))`, or nothing when
    socket is not filtered by family (or not allowed at all)."""
    families = profile.socket_families
    if not families:
        return ""
    count = len({socket_family(f) for f in families})
    return (f" and {count} of its {len(default.default_families())} socket families "
            f"({' '.join(map(family_name, in_family_order(families)))})")


def write_report(path: Path, report: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(report, indent=2, sort_keys=True) + "\n")


def runtime_steps_clause(profile: Profile) -> str:
    """What the runtime rule holds, in the mode the containers started in when it was recorded."""
    mode = "under no-new-privileges" if profile.made_for_nnp else "without no-new-privileges"
    return f"its steps after installing the filter, {mode}"


def runtime_line(outcome: RecordOutcome, result: ProfileResult) -> str:
    """What this recording's runtime did after installing the filter, apart from what the
    runtime rule holds for the other runtimes it covers (never one runtime's steps as
    another's)."""
    assert result.profile is not None
    did = set(outcome.recording.names(Counter(nr for c in result.containers for nr in c.runtime)))
    others = sorted(result.profile.runtime_only - did)
    line = (f"the app needs the {len(result.syscalls)} above; the runtime "
            f"({result.profile.runtime}) did {' '.join(sorted(did)) or 'nothing more'} "
            f"({runtime_steps_clause(result.profile)})")
    if result.profile.runtimes_covered:
        line += (f"; for the runtimes its rule covers ({result.profile.runtimes_covered}) it "
                 f"also holds {' '.join(others) or 'nothing more'}")
    return line


def summary_lines(outcome: RecordOutcome, verbose: bool) -> Iterator[str]:
    """The terminal summary: one line per profile with its change against the file on disk;
    in a drift check, one readable diff line per drifted profile; details with -v."""
    surface = existing(outcome.default.profile.allowed) if outcome.default else set()
    for result in outcome.results:
        # the tests its containers served: those that created them, and those that ran while
        # they were running (a module fixture's container serves each of its tests)
        tests = {t for c in result.containers for t in (c.test, *c.served) if is_test(t)} \
            or {c.test for c in result.containers}
        change = _change(result.diff)
        allows = (f"allows {len(result.profile.allowed)} of the default's {len(surface)} syscalls"
                  f"{families_clause(result.profile, outcome.default.profile)}, "
                  if result.profile and outcome.default else "")
        status = result.status if not change or result.status == "new" else (
            f"{result.status}: {change}")
        yield (f"{result.name}: {_plural(len(result.syscalls), 'syscall')} from "
               f"{_plural(len(result.containers), 'container')} in {_plural(len(tests), 'test')}"
               f" -> {display_path(result.path)} ({allows}{status})")
        memory = executable_line(result.profile) if result.profile else None
        if memory:
            yield f"  {memory}"
        if result.profile and result.profile.runtime_only:
            yield "  " + runtime_line(outcome, result)
        if result.profile and outcome.default:
            yield "  " + closed_line(result.profile, outcome.default.profile)
        if outcome.check_drift and result.diff:
            yield "  " + drift_line(outcome, result)
        if verbose:
            yield "    " + " ".join(sorted(result.syscalls))
            yield from ("    " + line for line in result.diff.lines())
    for coverage in outcome.coverages.values():
        yield coverage.line
        yield from (f"  not read: {note}" for note in coverage.notes)
    for runtime, refused in outcome.uncovered.items():
        yield (f"not covered: {runtime} needs {' '.join(sorted(refused))} after installing the "
               "filter, which the engine's default refuses: these profiles cannot start under "
               f"{runtime} (its default allows them, so record against that default: "
               "--seccomp-default-profile)")
    for record in outcome.recording.containers.values():
        if record.left_out:
            yield (f"not recorded: container {record.name} ({record.image}) in {record.test}: "
                   f"{record.left_out}")
    yield from stranger_lines(outcome.recording, "not recorded")
    for result in outcome.results:
        if uses_io_uring(result):
            yield (f"io_uring: {result.name} uses io_uring; the operations it submits bypass both "
                   "seccomp and the tracer, so this profile cannot limit them (newer engines' "
                   "defaults deny io_uring)")
    for image, command in sorted(outcome.recording.unhealthchecked().items()):
        yield (f"healthcheck never ran: {image} (HEALTHCHECK {command}); it runs under the "
               "profile in production: add a test that runs it with exec_run")
    if outcome.drifted:
        yield ("drift: profiles would gain syscalls nobody reviewed; review them and run "
               "`pytest --seccomp-record --seccomp-update` to accept")
    elif outcome.check_drift and outcome.write and any(r.diff.widens for r in outcome.results):
        yield "drift accepted (--seccomp-update): the profiles above were written"
    elif outcome.check_drift and any(r.diff.widens for r in outcome.results):
        yield ("drift below --seccomp-fail-on: the additions above have no known kernel CVE of "
               "that stake; reported, not failed (review them, then `pytest --seccomp-record "
               "--seccomp-update` accepts them)")
    elif outcome.check_drift and not outcome.full_run:
        yield "not every test ran: syscalls the profiles no longer need are not reported"
    if not outcome.full_run and outcome.write and not outcome.merge and any(
            r.existed for r in outcome.results):
        yield ("not every test ran (-k, a selection, -x): the profiles were merged into those "
               "on disk; only a run of every test drops syscalls no test needs any more")
    if outcome.failure is None and outcome.tests_failed and outcome.results:
        yield (f"warning: {_plural(outcome.tests_failed, 'test')} failed; the profiles may lack "
               "syscalls those tests would have needed")


def stranger_lines(recording: Recording, verb: str) -> Iterator[str]:
    """Containers that ran outside the session's proxy: never silently missing."""
    for stranger in recording.unseen():
        image = f", image {stranger.image}" if stranger.image else ""
        yield (f"{verb}: container {stranger.label}{image}, first seen in {stranger.window}, "
               "was started by a client that bypassed the session's DOCKER_HOST (e.g. `docker -H "
               "unix:///var/run/docker.sock`) or by another process")


def uses_io_uring(result: ProfileResult) -> bool:
    return any(name.startswith("io_uring_") for name in result.syscalls)


def _change(diff: ProfileDiff) -> str:
    added, removed = diff.added_names, diff.removed_names
    return " ".join(part for part in (f"+{len(added)}" if added else "",
                                      f"-{len(removed)}" if removed else "") if part)


def drift_line(outcome: RecordOutcome, result: ProfileResult) -> str:
    """`redis: +io_uring_setup (tests/test_cache.py::test_bgsave, container redis-7f3a), -getpgid`"""
    first = outcome.recording.first_needed({c.id for c in result.containers})
    parts = []
    for name in result.diff.added_names:
        if name in first:
            test, container = first[name]
            parts.append(f"+{name} ({test}, container {container.name}; {rating(name)})")
        else:
            parts.append(f"+{name} ({rating(name)})")
    parts += [f"-{name}" for name in result.diff.removed_names]
    return f"{result.name}: " + ", ".join(parts)


def enforce_summary_lines(outcome: EnforceOutcome, verbose: bool) -> Iterator[str]:
    """Profiles enforced, containers under each, refusals by test, images without a profile."""
    for name, count in sorted(outcome.enforced.items()):
        path = outcome.paths.get(name)
        where = display_path(path) if path else name
        yield f"{name}: {_plural(count, 'container')} under {where}"
    for window, refusals in sorted(outcome.refusals.items()):
        if not refusals:
            continue
        what = ", ".join(f"{r.syscall} ({r.caller.short()}, {r.container.short_id})" for r in refusals)
        tag = ("passed anyway: " if window in outcome.passed_despite
               else "failed: " if window in outcome.failed_with else "")
        yield f"refused in {window}: {tag}{what}"
    for (image, syscall, who, why), calls in sorted(outcome.refused_as_default.items()):
        yield (f"refused as under the engine's default, which refuses it too ({why}; so did "
               f"the recording's run): {syscall} x{calls} by {who} in {image}")
    for name, images in sorted(outcome.missing_images.items()):
        ran = ("the engine's default" if outcome.missing is Missing.DEFAULT
               else "no seccomp filter")
        yield f"no profile for {', '.join(sorted(images))} ({name}.json): ran under {ran}"
    for record in outcome.recording.containers.values():
        if record.left_out:
            yield (f"not enforced: container {record.name} ({record.image}) in {record.test}: "
                   f"{record.left_out}")
    yield from stranger_lines(outcome.recording, "not enforced")
    if outcome.refused_outside_tests:
        yield ("warning: syscalls were refused outside every test (a fixture's gap or after the "
               "last test: background work, shutdown); record the whole suite again"
               + ("; --seccomp-strict fails the run" if outcome.strict else ""))
    if outcome.passed_despite and not outcome.strict:
        yield (f"warning: {_plural(len(outcome.passed_despite), 'test')} passed although "
               "syscalls were refused (the app may swallow EPERM); --seccomp-strict fails them")
