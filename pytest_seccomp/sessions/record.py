"""Record mode: union every container's syscalls per profile name and write the profiles."""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SeccompError
from ..modes import EXIT_PROFILES_DRIFTED, Mode
from ..profiles.arguments import ArgumentRules, parse_label, split_labels
from ..profiles.files import read_bytes
from ..profiles.model import Profile, ProfileDiff, build_profile
from ..profiles.ownership import make_dirs, owner_for
from ..profiles.runtimes import RuntimeSelection, coverage_label, covered_steps, runtime_steps
from ..profiles.stakes import Stake, rating, stake
from ..recording.store import ContainerRecord
from ..recording.windows import AFTER_TESTS
from ..reporting.outcome import ProfileResult, ProfileStatus, RecordOutcome
from .shared import ContainerSession, Controller, Options, PhaseNotes, Worker

if TYPE_CHECKING:
    from ..coverage.gaps import ProfileCoverage
    from ..reporting.github import CiReport


@contextmanager
def directory_lock(directory: Path, needed: bool) -> Iterator[None]:
    """Two sessions writing one profile directory take turns (each file is replaced atomically
    anyway: never a torn file, and the later session's profiles win whole). The lock is taken
    on the directory itself, so nothing but profiles is ever left in it."""
    if not needed:
        yield
        return
    make_dirs(directory, owner_for(directory))
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _mode_mismatch(path: Path, file_nnp: bool) -> str:
    made = ("made for no-new-privileges (--seccomp-nnp)" if file_nnp
            else "made to start without no-new-privileges")
    now = "with --seccomp-nnp" if not file_nnp else "without --seccomp-nnp"
    return (f"{path} was {made}, but this run records {now}: the two are not mixed. Record with "
            "the profile's mode, or replace it with a full run (`pytest --seccomp-record`, "
            "with or without --seccomp-nnp) and review the change.")


class RecordSession(ContainerSession):
    """Record every container the tests start and write one profile per image or chosen name."""

    mode = Mode.RECORD
    title = "seccomp profiles (record)"

    def __init__(self, options: Options, merge: bool = False, check: bool = False,
                 update: bool = False, html: Path | None = None,
                 arguments: ArgumentRules = ArgumentRules.ALL,
                 runtimes: RuntimeSelection | None = None, coverage: bool = False,
                 fail_on: Stake | None = None) -> None:
        super().__init__(options)
        # --seccomp-fail-on: the drift check fails only on additions at or above this stake
        # (None: on any addition); the others are reported
        self.fail_on = fail_on
        self.coverage = coverage  # --seccomp-coverage: what the tests never exercised
        self.coverages: dict[str, ProfileCoverage] = {}  # profile name -> its coverage
        # --seccomp-runtimes: the measured runtimes whose steps every runtime rule holds too
        self.runtimes = runtimes if runtimes is not None else RuntimeSelection()
        self.arguments = arguments  # --seccomp-args: socket families, protocols, types, or names
        self.tracer.all_arguments = arguments is ArgumentRules.ALL
        self.html = html  # --seccomp-html DIR
        self.written: list[str] = []  # the reports written, named at the end of the summary
        self.merge = merge  # union with the profiles already on disk (for partial runs)
        self.check_drift = check  # compare with the committed profiles instead of writing
        self.write = update or not check
        self.full_run = True  # every collected test was selected: "unused" syscalls are real
        self.results: list[ProfileResult] = []

    @property
    def covered_steps(self) -> frozenset[str]:
        """The chosen runtimes' steps after the filter, in this session's mode, as far as the
        engine's default allows them (what it refuses no profile may allow)."""
        steps, _ = covered_steps(self.runtimes, self.options.nnp)
        assert self.default is not None
        return frozenset(n for n in steps if self.default.profile.allow_conditions(n))

    @property
    def covers(self) -> str:
        """The chosen runtimes, as the runtime rule's comment names them."""
        return coverage_label(self.runtimes.chosen())

    @property
    def uncovered(self) -> dict[str, frozenset[str]]:
        """The chosen runtimes whose steps the engine's default refuses in part (a profile
        within it cannot start there), with what it refuses."""
        assert self.default is not None
        out = {}
        for runtime in self.runtimes.chosen():
            steps, _ = covered_steps(RuntimeSelection.parse(f"{runtime.name}=={runtime.version}"),
                                     self.options.nnp)
            refused = frozenset(n for n in steps if not self.default.profile.allow_conditions(n))
            if refused:
                out[runtime.label] = refused
        return out

    def first_needed_by(self, nodeid: str) -> str:
        """The syscalls `nodeid` was the first test to need, space-separated (for JUnit XML)."""
        self.fold()
        return " ".join(sorted(self.recording.first_in(nodeid)))

    @property
    def drifted(self) -> bool:
        """A drift check found a profile that would gain permissions: a review is due."""
        return self.check_drift and not self.write and any(
            r.diff.widens and (self.fail_on is None or r.diff.default_action is not None
                               or max(map(stake, r.diff.added_names), default=Stake.NONE)
                               >= self.fail_on)
            for r in self.results)

    # -- verbs -----------------------------------------------------------------------------
    def selected(self, all_tests: bool) -> None:
        self.full_run = self.full_run and all_tests

    def phase_notes(self, nodeid: str, when: str) -> PhaseNotes:
        """At teardown: the syscalls this test was the first to need (a JUnit property)."""
        if when != "teardown":
            return PhaseNotes()
        return PhaseNotes(properties=[("seccomp_syscalls", self.first_needed_by(nodeid))])

    def finish(self, interrupted: bool, send: Callable[[dict[str, Any]], None]) -> None:
        """The last read, then build, compare and write; then the reports."""
        self.collect()
        if interrupted and self.failure is None:
            self.failure = ("the session was interrupted, so the recording is incomplete; "
                            "no profile was written.")
        self.conclude()
        self._write_reports()

    def _analyse_coverage(self) -> None:
        """--seccomp-coverage: read each profile's images for what no test exercised. Advisory:
        an image that cannot be read is said so in its notes, never a failed run."""
        if not self.coverage or self.failure is not None or not self.results:
            return
        from ..coverage import CoverageAnalysis, Launch
        from ..interception.engine import engine_client
        from ..profiles.syscalls import syscall_name

        assert self.default is not None
        ceiling = self.default.profile
        api = engine_client(self.upstream, 120, low_level=True)
        try:
            analysis = CoverageAnalysis(api)
            for result in self.results:
                if result.profile is None:
                    continue
                launches = [Launch(c.image, c.entrypoint, c.cmd, tuple(cmd for _, cmd in c.execs),
                                   c.healthcheck, tuple(sorted(c.programs)))
                            for c in result.containers]
                try:
                    self.coverages[result.name] = analysis.profile(
                        result.name, launches, result.profile.allowed,
                        lambda name: bool(ceiling.allow_conditions(name)), syscall_name)
                except Exception as exc:  # the engine, or an image removed by a test
                    from ..coverage.gaps import ProfileCoverage

                    self.coverages[result.name] = ProfileCoverage(
                        result.name, notes=[f"its images could not be read ({exc})"])
            analysis.save()
        finally:
            api.close()

    def _write_reports(self) -> None:
        """The reports asked for (each writer is imported only then)."""
        from ..profiles.naming import display_path

        self._analyse_coverage()
        if self.html is not None and self.failure is None:
            from ..reporting.html import write_html

            write_html(self.outcome(), self.html)
            self.written.append(f"HTML report: {display_path(self.html / 'index.html')}")
        if self.options.report is not None:
            from ..reporting.report import record_report, write_report

            write_report(self.options.report, record_report(self.outcome()))
            self.written.append(f"JSON report: {display_path(self.options.report)}")

    def outcome(self) -> RecordOutcome:
        """What the reports are written from: plain values, no session."""
        return RecordOutcome(
            results=self.results, recording=self.recording, default=self.default,
            engine=self.engine, failure=self.failure, count_calls=self.options.count_calls,
            nnp=self.options.nnp, check_drift=self.check_drift, write=self.write,
            merge=self.merge, full_run=self.full_run, drifted=self.drifted,
            tests_failed=self.tests_failed,
            uncovered=self.uncovered if self.default else {}, coverages=self.coverages)

    def exit_status(self, current: int, interrupted: bool) -> int:
        status = super().exit_status(current, interrupted)
        if status == current and self.drifted and current == 0:
            return EXIT_PROFILES_DRIFTED
        return status

    def summary(self, verbose: bool) -> list[str]:
        from ..reporting.report import summary_lines

        return [*summary_lines(self.outcome(), verbose), *self.written]

    def ci_report(self, environ: Mapping[str, str]) -> CiReport:
        """The step summary's table (one row per profile) and an annotation on the profile file
        for each syscall a drift adds."""
        from ..profiles.syscalls import existing
        from ..reporting.github import Annotation, CiReport, Level, repository_path

        surface = existing(self.default.profile.allowed) if self.default else set()
        report = CiReport("pytest-seccomp: recorded profiles",
                          ("profile", "allowed", "removed vs the default", "drift", "status"))
        for result in self.results:
            allowed = result.profile.allowed if result.profile else frozenset()
            change = " ".join([*(f"+{n}" for n in result.diff.added_names),
                               *(f"-{n}" for n in result.diff.removed_names)])
            report.rows.append((f"`{result.name}`", str(len(allowed)),
                                str(len(surface - allowed)),
                                "new" if not result.existed else change or "none",
                                result.error or result.status))
            if not (self.check_drift and result.diff.widens):
                continue
            first = self.recording.first_needed({c.id for c in result.containers})
            for name in result.diff.added_names:
                test, container = first.get(name, ("an earlier test", None))
                where = f" (container {container.name})" if container else ""
                report.annotations.append(Annotation(
                    Level.ERROR if self.drifted else Level.WARNING, "seccomp drift",
                    f"{result.name}: +{name} needed by {test}{where} ({rating(name)}); "
                    "review it, then "
                    "`pytest --seccomp-record --seccomp-update` accepts it",
                    repository_path(result.path, environ)))
        if self.drifted:
            report.notes.append("drift: profiles would gain syscalls nobody reviewed")
        return report

    def collect(self) -> None:
        """The last read of the maps; the tracer stops; what cannot be trusted is noted."""
        try:
            self.fold(AFTER_TESTS, last=True)
            self.note_healthchecks()
            self.resolve_strangers()
        finally:
            self.stop()
        self.check_engine()
        self.recording.check_complete()

    def conclude(self) -> list[ProfileResult]:
        """Build every profile; compare and write them only if the recording is complete. The
        directory's lock is held from the build on: a merge (`--seccomp-merge`, a partial run)
        reads the files it unions with under it, so two partial runs never lose an addition."""
        recorded = any(not r.left_out for r in self.recording.containers.values())
        # (a directory not there yet holds nothing to merge with: it is made only to write)
        early = self.write and recorded and self.options.profile_dir.is_dir()
        try:
            with directory_lock(self.options.profile_dir, early):
                self._conclude_locked(locked=early)
        except OSError as exc:
            self.failure = (
                f"cannot write in the profile directory {self.options.profile_dir}: "
                f"{exc.strerror}. The profiles already there are intact; make it writable "
                "and record again.")
        if self.failure is not None:
            for result in self.results:
                if result.status not in (ProfileStatus.NEW, ProfileStatus.CHANGED,
                                         ProfileStatus.UNCHANGED):
                    result.status = ProfileStatus.NOT_WRITTEN
        return self.results

    def _conclude_locked(self, locked: bool) -> None:
        self.results = self._build()
        problems = sorted(set(self.recording.problems))
        if self.failure is None and problems:
            self.failure = (
                "the seccomp recording is incomplete: " + "; ".join(problems) + ". No profile "
                "was written; fix the cause and record again."
            )
        if self.failure is None and any(r.error for r in self.results):
            self.failure = "; ".join(f"profile {r.name}: {r.error}" for r in self.results if r.error)
        if self.failure is not None:
            return
        with directory_lock(self.options.profile_dir,
                            not locked and self.write and bool(self.results)):
            for result in self.results:
                self._compare(result)
                if self.write:
                    self._write(result)
                    if self.failure is not None:  # a write failed: write no more
                        break

    def _made(self, containers: Iterable[ContainerRecord]) -> tuple[Counter[str], Counter[str]]:
        """What `containers` made: syscall names and argument labels (`socket(AF_INET)`), with
        their calls."""
        syscalls: Counter[str] = Counter()
        arguments: Counter[str] = Counter()
        for record in containers:
            for made, calls in self.recording.names(record.counts).items():
                (syscalls if parse_label(made)[1] is None else arguments)[made] += calls
        return syscalls, arguments

    def profile_for(self, containers: Iterable[ContainerRecord]) -> Profile:
        """The profile `containers` recorded, as it is written (the runtime's rule, the mode,
        the argument rules): one place, for the files and for the seccomp fixture alike."""
        assert self.default is not None
        containers = list(containers)
        syscalls, arguments = self._made(containers)
        runtime: set[str] = set()
        for record in containers:
            runtime |= set(self.recording.names(Counter(record.runtime)))
        values = split_labels(arguments)[1]
        return build_profile(
            syscalls, self.default.profile,
            runtime_syscalls=runtime_steps(runtime, self.runtime) | self.covered_steps,
            runtime=self.runtime, nnp=self.options.nnp, runtimes_covered=self.covers,
            families=self.arguments.pinned(values), executable=self.arguments.executable(values))

    def _build(self) -> list[ProfileResult]:
        assert self.default is not None
        grouped: dict[str, list[ContainerRecord]] = {}
        for record in self.recording.containers.values():
            if not record.left_out:
                grouped.setdefault(record.profile, []).append(record)
        results = []
        for name in sorted(grouped):
            containers = grouped[name]
            syscalls, arguments = self._made(containers)
            try:
                path = self.profile_path(name)
            except SeccompError as exc:
                results.append(ProfileResult(name, self.options.profile_dir / f"{name}.json",
                                             containers, syscalls, error=str(exc)))
                continue
            result = ProfileResult(name, path, containers, syscalls, arguments=arguments)
            try:
                result.profile = self.profile_for(containers)
                # only a run of every collected test may drop a syscall from a profile
                if (self.merge or not self.full_run) and result.path.exists():
                    result.profile = self._merged(result.path, result.profile)
            except SeccompError as exc:
                result.error = str(exc)
            results.append(result)
        return results

    def _merged(self, path: Path, recorded: Profile) -> Profile:
        """`--seccomp-merge`: keep what the file already allows, if it is within the default."""
        assert self.default is not None
        existing = Profile.load(path)
        if existing.needs_nnp != self.options.nnp:
            raise SeccompError(_mode_mismatch(path, existing.needs_nnp))
        too_wide = existing.wider_than(self.default.profile)
        if too_wide:
            raise SeccompError(
                f"{path} cannot be merged: it is wider than the engine's default ("
                + "; ".join(too_wide) + "); record it from a run of every test, without "
                "--seccomp-merge, -k or a selection of files."
            )
        return existing.union(recorded)

    def _compare(self, result: ProfileResult) -> None:
        """The change against the file on disk; in a drift check, also the status."""
        assert result.profile is not None
        result.existed = result.path.exists()
        try:
            committed = Profile.load(result.path) if result.existed else Profile()
        except SeccompError:
            committed = Profile()  # unreadable: everything counts as new
        if result.existed and committed.needs_nnp != self.options.nnp and not self.write:
            result.error = _mode_mismatch(result.path, committed.needs_nnp)
            self.failure = self.failure or result.error
        result.diff = committed.diff(result.profile)
        if not self.full_run:  # a syscall no selected test made may be needed by another one
            result.diff = ProfileDiff(added=result.diff.added,
                                      default_action=result.diff.default_action)
        if not self.write:
            result.status = (ProfileStatus.DRIFTED if result.diff.widens
                             else ProfileStatus.NARROWER if result.diff else ProfileStatus.UNCHANGED)

    def _write(self, result: ProfileResult) -> None:
        assert result.profile is not None
        text = result.profile.dumps()
        old = (read_bytes(result.path).decode("utf-8", errors="replace")
               if result.path.exists() else None)
        result.status = (ProfileStatus.NEW if old is None else
                         ProfileStatus.UNCHANGED if old == text else ProfileStatus.CHANGED)
        if old != text:
            try:
                result.profile.save(result.path)
            except OSError as exc:
                result.status = ProfileStatus.NOT_WRITTEN
                self.failure = (
                    f"cannot write seccomp profile {result.path}: {exc.strerror}. The old file, if "
                    "any, is intact; make the profile directory writable and record again."
                )


class RecordWorker(Worker, RecordSession):
    """A pytest-xdist worker: it records its own tests and sends the recording to the
    controller, which writes the profiles."""

    def finish(self, interrupted: bool, send: Callable[[dict[str, Any]], None]) -> None:
        self.collect()
        send({"recording": self.recording.to_builtin(), "failure": self.failure,
              "tests_failed": self.tests_failed, "full_run": self.full_run})


class RecordController(Controller, RecordSession):
    """The pytest-xdist controller: it runs no test and traces nothing; it unions the
    workers' recordings, then builds, compares and writes the profiles."""

    def absorb(self, worker: str, output: dict[str, Any] | None, error: object = None) -> None:
        """One worker's recording, at its node's end; a worker that crashed or sent
        nothing makes the whole recording incomplete, never silently smaller."""
        if output is None or error:
            self.failure = self.failure or (
                f"pytest-xdist worker {worker} {'crashed' if error else 'sent no recording'}"
                f"{f' ({error})' if error else ''}, so the containers it ran are missing from the "
                "recording. No profile was written; run again.")
            return
        self.recording.absorb(output["recording"])
        self.tests_failed += output["tests_failed"]
        self.full_run = self.full_run and output["full_run"]
        if output["failure"] and not self.failure:
            self.failure = f"worker {worker}: {output['failure']}"

    def finish(self, interrupted: bool, send: Callable[[dict[str, Any]], None]) -> None:
        self.conclude()
        self._write_reports()
