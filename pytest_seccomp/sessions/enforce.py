"""Enforce mode: every container starts under its recorded profile, and every refusal is named.

seccomp refuses a syscall before `sys_enter` fires, but `sys_exit` still fires with ret = -EPERM;
a refused syscall is one that returned EPERM in a container whose profile does not allow it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ProfileError, SeccompError
from ..modes import Missing, Mode
from ..profiles.applies import Applied, refused_by_default, why_default_refuses
from ..profiles.arguments import (
    FAMILIES,
    FAMILY_SYSCALLS,
    family_name,
    in_family_order,
    key_label,
    label,
    socket_family,
    split_key,
)
from ..profiles.files import parse_json, read_bytes
from ..profiles.model import Profile
from ..profiles.naming import display_path
from ..profiles.protections import PROTECTION_SYSCALLS, Execution
from ..profiles.runtimes import missing_steps
from ..profiles.syscalls import syscall_name
from ..recording.store import ContainerRecord
from ..recording.windows import AFTER_TESTS, outside_tests
from ..reporting.outcome import EnforceOutcome, Refusal
from .shared import (
    ContainerSession,
    Controller,
    Options,
    PhaseNotes,
    Worker,
    locked,
    security_opt,
)

if TYPE_CHECKING:
    from ..reporting.github import CiReport

MISSING_CHOICES = tuple(m.value for m in Missing)


@dataclass
class LoadedProfile:
    """A profile file as enforce found it: usable, missing, or wrong (with why)."""

    name: str
    path: Path
    text: str | None = None
    profile: Profile | None = None
    error: str | None = None


class EnforceSession(ContainerSession):
    """Start each container under its profile; explain refusals per test."""

    mode = Mode.ENFORCE
    title = "seccomp profiles (enforce)"

    def __init__(self, options: Options, missing: Missing = Missing.FAIL,
                 strict: bool = False) -> None:
        super().__init__(options)
        self.missing = missing
        self.strict = strict
        self.loaded: dict[str, LoadedProfile] = {}
        self.missing_images: dict[str, set[str]] = {}  # profile name -> images run without it
        self.refusals: dict[str, list[Refusal]] = {}  # window -> refusals already reported
        self.passed_despite: list[str] = []  # tests that passed although syscalls were refused
        self.failed_with: list[str] = []  # tests that failed, and had syscalls refused
        self.test_refusals: list[Refusal] = []  # everything refused while the current test ran
        # (image, syscall, who, why) -> calls the engine's default refuses as well: the container met
        # the same refusal when it was recorded (V8 probing pkey_alloc under Docker 20.10), so
        # they fail no test; the summary names them
        self.refused_as_default: Counter[tuple[str, str, str, str]] = Counter()

    # -- profiles ------------------------------------------------------------------------------
    def load(self, name: str) -> LoadedProfile:
        """Read and vet a profile once per session; a bad one is never started under."""
        if name in self.loaded:
            return self.loaded[name]
        assert self.default is not None
        path = self.profile_path(name)
        loaded = LoadedProfile(name, path)
        if path.exists():
            try:
                # the text as the engine decodes it, sent to it as read here
                loaded.text = read_bytes(path).decode("utf-8", errors="replace")
                loaded.profile = Profile.from_json(parse_json(loaded.text, str(path)), str(path))
                problems = loaded.profile.check(self.default.profile)
                if problems:
                    raise ProfileError(
                        f"seccomp profile {path} is not safe to enforce: " + "; ".join(problems)
                        + f". Nothing was started under it; record it again with "
                        "`pytest --seccomp-record`, or fix it by hand and check it with "
                        f"`pytest-seccomp check {path}`."
                    )
            except (ProfileError, OSError) as exc:
                loaded.error = str(exc) if isinstance(exc, ProfileError) else (
                    f"cannot read seccomp profile {path}: {exc.strerror}")
                loaded.profile = None
        self.loaded[name] = loaded
        return loaded

    def secure(self, options: list[str], profile: str, image: str) -> list[str]:
        loaded = self.load(profile)
        if loaded.error:
            raise SeccompError(loaded.error)
        if loaded.profile is None:
            if self.missing is Missing.FAIL:
                raise SeccompError(
                    f"no seccomp profile for image {image} (looked for {loaded.path}); record it "
                    "with `pytest --seccomp-record`, or pass --seccomp-missing=default to run "
                    "images without a profile under the engine's default."
                )
            self.missing_images.setdefault(profile, set()).add(image)
            options = self.with_nnp(options, self.options.nnp)
            if self.missing is Missing.UNCONFINED:
                return [o for o in options if not _is_seccomp(o)] + ["seccomp=unconfined"]
            return options
        assert loaded.text is not None
        # Docker's API takes the profile's JSON; Podman's compatible API takes a file path.
        value = str(loaded.path) if self.engine == "podman" else loaded.text
        # started the way the profile was made: with no-new-privileges, or as users deploy
        options = self.with_nnp(options, loaded.profile.needs_nnp)
        return [o for o in options if not _is_seccomp(o)] + [f"seccomp={value}"]

    def runtime_gap(self, profile: Profile) -> frozenset[str] | None:
        """What this engine's runtime was measured to need after installing the filter that
        `profile` does not allow, as the profile is started (None: the runtime was never
        measured)."""
        return missing_steps(profile.allowed, self.runtime, nnp=profile.needs_nnp)

    def runtime_gaps(self) -> dict[Path, frozenset[str]]:
        """The profiles on disk that lack some of this runtime's steps: said in the header,
        before the first container starts under one."""
        gaps: dict[Path, frozenset[str]] = {}
        directory = self.options.profile_dir
        for path in sorted(directory.rglob("*.json")) if directory.is_dir() else ():
            try:
                gap = self.runtime_gap(Profile.load(path))
            except ProfileError:
                continue  # (said when a container would start under it)
            if gap:
                gaps[path] = gap
        return gaps

    def header(self) -> str:
        lines = [super().header()]
        gaps = self.runtime_gaps()
        if gaps:
            lines.append(
                f"seccomp: warning: {len(gaps)} of the profiles lack steps {self.runtime} makes "
                "after installing the filter, so their containers may not start here: "
                + "; ".join(f"{display_path(p)} lacks {' '.join(sorted(g))}"
                            for p, g in gaps.items())
                + ". Record them again without --seccomp-runtimes=recorded (the default "
                "covers every measured runtime), or with one that names this runtime.")
        return "\n".join(lines)

    def explain_failure(self, container: str | None, exc: Exception) -> Exception | None:
        """Turn "OCI runtime create failed" into which profile and why."""
        from ..interception.proxy import StartError  # (only a running proxy calls this)

        super().explain_failure(container, exc)
        message = str(exc)
        record = self.recording.find(container) if container else None
        name = record.profile if record else self.current.profile or "?"
        loaded = self.loaded.get(name)
        where = f"profile {loaded.path}" if loaded else f"profile {name!r}"
        profile = loaded.profile if loaded else None
        gap = self.runtime_gap(profile) if profile else None
        named = "seccomp" in message.lower() or "oci runtime" in message.lower()
        # A runtime whose init died of a refused step may be reported by a later step's error
        # (Docker 28: "bind-mount /proc/N/ns/net ...: no such file"): a failed start under a
        # profile lacking that runtime's steps is explained whatever the engine's words.
        if not named and not (isinstance(exc, StartError) and gap):
            return None
        if profile and gap:
            why = (f"the runtime ({self.runtime}) was measured to need {' '.join(sorted(gap))} "
                   "after installing the filter, which the profile does not allow (it covers "
                   f"{profile.runtimes_covered or profile.runtime or 'no runtime'}"
                   "); record it again with `pytest --seccomp-record` (its default covers "
                   f"every measured runtime) or `--seccomp-runtimes={self.runtime.split()[0]}`.")
        else:
            why = ("If the profile was recorded without no-new-privileges, or by hand, the "
                   "runtime needs syscalls it does not allow; record it again with "
                   "`pytest --seccomp-record`.")
        return SeccompError(
            f"the engine refused to start a container under seccomp {where}: {message}. {why}")

    # -- refusals ------------------------------------------------------------------------------
    def end_test(self, failed: bool) -> None:
        """Close the test's window; a test with refusals is remembered as passed or failed."""
        self.take_refusals()  # the last read may find some: they belong to the test (summary)
        nodeid = self.current.nodeid
        if self.test_refusals and nodeid:
            (self.failed_with if failed else self.passed_despite).append(nodeid)
        self.test_refusals = []
        super().end_test(failed)

    @locked
    def take_refusals(self) -> list[Refusal]:
        """Read the maps now: the refusals not reported yet, in every container the session
        knows, each under the window that saw it (this test, a fixture, a gap)."""
        self.fold()
        found: list[Refusal] = []
        pending, self.recording.refused_by_test = self.recording.refused_by_test, {}
        for window, containers in pending.items():
            for container_id, refused in containers.items():
                record = self.recording.containers[container_id]
                loaded = self.loaded.get(record.profile)
                if record.left_out or loaded is None or loaded.profile is None:
                    continue
                for (key, caller), calls in sorted(refused.items()):
                    note = _refused_by_filter(loaded.profile, key)
                    if note is None:
                        continue
                    label = key_label(key) or f"syscall #{split_key(key)[0]}"
                    if self.default is not None and _default_refuses(self.default.profile, key,
                                                                      record.applied):
                        why = why_default_refuses(self.default.profile,
                                                  syscall_name(split_key(key)[0]) or label,
                                                  record.applied)
                        self.refused_as_default[
                            (record.image, label, caller.describe(), why)] += calls
                        continue
                    found.append(Refusal(window, record, label, calls, caller, note))
        for refusal in found:
            self.refusals.setdefault(refusal.window, []).append(refusal)
        if self.current.nodeid is not None:
            self.test_refusals.extend(found)
        return found

    def finish(self, interrupted: bool, send: Callable[[dict[str, Any]], None]) -> None:
        """The last read (what containers did after the last test), then stop."""
        try:
            self.fold(AFTER_TESTS, last=True)
            self.take_refusals()
            self.resolve_strangers()
        finally:
            self.stop()
        self.check_engine()

    @property
    def strict_failed(self) -> bool:
        """--seccomp-strict fails the run for refusals outside every test and for containers
        that bypassed the proxy (its tests' refusals are errors of those tests already)."""
        return self.strict and bool(self.refused_outside_tests or self.recording.unseen())

    def exit_status(self, current: int, interrupted: bool) -> int:
        status = super().exit_status(current, interrupted)
        if status == current and self.strict_failed and current == 0:
            return 1  # pytest.ExitCode.TESTS_FAILED
        return status

    def summary(self, verbose: bool) -> list[str]:
        from ..reporting.report import enforce_summary_lines

        return list(enforce_summary_lines(self.outcome(), verbose))

    def ci_report(self, environ: Mapping[str, str]) -> CiReport:
        """The step summary's table (one row per profile) and an annotation on the test file
        for each refusal: an error where it failed the test (or under --seccomp-strict)."""
        from ..reporting.github import Annotation, CiReport, Level, test_file

        refused: Counter[str] = Counter()
        report = CiReport("pytest-seccomp: enforced profiles",
                          ("profile", "containers", "refusals"))
        for window, refusals in sorted(self.refusals.items()):
            for refusal in refusals:
                refused[refusal.container.profile] += 1
                failing = self.strict or window in self.failed_with
                report.annotations.append(Annotation(
                    Level.ERROR if failing else Level.WARNING, "seccomp refusal",
                    f"{refusal.syscall} refused x{refusal.calls} in {window}: "
                    f"{refusal.caller.describe()}, container {_label(refusal.container)}, image "
                    f"{refusal.container.image}"
                    + (f" ({refusal.note})" if refusal.note else ""), test_file(window)))
                report.notes.append(f"refused in {window}: {refusal.syscall} ({refusal.caller.short()})")
        for name, count in sorted(self.enforced().items()):
            report.rows.append((f"`{name}`", str(count), str(refused.get(name, 0))))
        for name, images in sorted(self.missing_images.items()):
            report.notes.append(f"no profile for {', '.join(sorted(images))} ({name}.json)")
        return report

    def phase_notes(self, nodeid: str, when: str) -> PhaseNotes:
        """This phase's refusals as a report section; at teardown the JUnit property, and
        under --seccomp-strict an error for a test that had any."""
        notes = PhaseNotes()
        refusals = self.take_refusals()
        if refusals:
            notes.sections.append((f"seccomp refusals ({when})", self.explain(refusals)))
        if when == "teardown":
            names = " ".join(sorted({r.syscall for r in self.test_refusals}))
            notes.properties.append(("seccomp_refused", names))
            if self.strict and self.test_refusals:
                notes.error = ("pytest-seccomp (--seccomp-strict): syscalls were refused while "
                               "this test ran\n" + self.explain(self.test_refusals))
        return notes

    @property
    def refused_outside_tests(self) -> dict[str, list[Refusal]]:
        """Refusals no test's window saw: between tests and after the last one."""
        return {w: r for w, r in self.refusals.items() if outside_tests(w) and r}

    def explain(self, refusals: list[Refusal]) -> str:
        """The failure-report section: container, profile, each refused syscall, the remedy."""
        lines: list[str] = []
        by_container: dict[str, list[Refusal]] = {}
        for refusal in refusals:
            by_container.setdefault(refusal.container.id, []).append(refusal)
        names: set[str] = set()
        for items in by_container.values():
            record = items[0].container
            path = self.loaded[record.profile].path
            lines.append(f"container {_label(record)}, image {record.image}, "
                         f"under {display_path(path)} was refused:")
            for r in items:
                note = f" ({r.note})" if r.note else ""
                lines.append(f"  {r.syscall}  x{r.calls}  by {r.caller.describe()}{note}")
                names.add(r.syscall)
        windows = sorted({r.window for r in refusals} - {self.current.nodeid})
        if windows:
            lines.append(f"refused in {', '.join(windows)}")
        rerecord = (f"pytest --seccomp-record --seccomp-merge '{self.current.nodeid}' to "
                    "record what this test needs" if self.current.nodeid
                    else "pytest --seccomp-record to record what the whole suite needs")
        lines.append(f"remedy: {rerecord}, or add {', '.join(sorted(names))} to the profile "
                     "after review")
        return "\n".join(lines)

    def outcome(self) -> EnforceOutcome:
        """What the summary is written from: plain values, no session."""
        return EnforceOutcome(
            recording=self.recording, enforced=self.enforced(),
            paths={name: loaded.path for name, loaded in self.loaded.items()},
            refusals=self.refusals, passed_despite=self.passed_despite,
            failed_with=self.failed_with, refused_as_default=dict(self.refused_as_default),
            missing_images=self.missing_images, missing=self.missing,
            refused_outside_tests=bool(self.refused_outside_tests), strict=self.strict)

    def enforced(self) -> Counter[str]:
        """Profile name -> containers started under it."""
        return Counter(
            r.profile for r in self.recording.containers.values()
            if not r.left_out and r.profile not in self.missing_images
        )


def _label(record: ContainerRecord) -> str:
    """`name (short id)`, or just the short id for a container the test did not name."""
    if record.name == record.short_id:
        return record.short_id
    return f"{record.name} ({record.short_id})"


def _refused_by_filter(profile: Profile, key: int) -> str | None:
    """None when the profile allows this call (its EPERM was the kernel's own, e.g. AF_PACKET
    without CAP_NET_RAW); else a note on why the filter refused a name it lists, or ""."""
    nr, family = split_key(key)
    name = syscall_name(nr)
    if name is None:
        return ""
    conditions = profile.allow_conditions(name)
    if family is not None and name in PROTECTION_SYSCALLS and conditions:  # executable memory
        kinds_ = profile.execution(name)
        if kinds_ is None or family in kinds_:
            return None  # (e.g. PROT_EXEC on a noexec mount: the kernel's EPERM)
        return (f"the profile allows {name} only for memory that is not executable"
                + (f", or executable and not writable ({label(name, Execution.EXEC)})"
                   if kinds_ else ""))
    if family is not None:
        families = profile.families(name)
        if families is None and any(c.unconditional for c in conditions):
            return None
        if families and (family in families or socket_family(family) in families):
            return None  # (a family allowed whatever the protocol)
        if families:
            allowed = ", ".join(map(family_name, in_family_order(families)))
            return f"the profile allows {name} for {allowed} only"
    if any(c.unconditional for c in conditions):
        return None
    return "allowed only under argument/capability conditions" if conditions else ""


def _default_refuses(default: Profile, key: int, applied: Applied | None) -> bool:
    """The engine's default, as it applies to this container (its capabilities, architecture
    and kernel), refuses this call too: no rule it keeps allows the name, or the call's socket
    family is one the default refuses. (A number this table cannot name may still be one the
    default allows by a name it knows: not counted.)"""
    nr, family = split_key(key)
    name = syscall_name(nr)
    if name is None:
        return False
    if refused_by_default(default, name, applied):
        return True
    if family is not None and name in FAMILY_SYSCALLS and socket_family(family) in FAMILIES:
        return socket_family(family) not in default.default_families()
    return False


def _is_seccomp(option: str) -> bool:
    return security_opt(option)[0] == "seccomp"


class EnforceWorker(Worker, EnforceSession):
    """A pytest-xdist worker: it enforces its own tests and sends its summary to the
    controller, which prints them all."""

    def finish(self, interrupted: bool, send: Callable[[dict[str, Any]], None]) -> None:
        from ..reporting.report import enforce_summary_lines

        super().finish(interrupted, send)
        send({"lines": list(enforce_summary_lines(self.outcome(), False)), "failure": self.failure,
              "tests_failed": self.tests_failed, "strict_failed": self.strict_failed})


class EnforceController(Controller, EnforceSession):
    """The pytest-xdist controller: it runs no test and traces nothing; it gathers the
    workers' summaries and decides the run's status from them."""

    def __init__(self, options: Options, missing: Missing = Missing.FAIL,
                 strict: bool = False) -> None:
        super().__init__(options, missing, strict)
        self.remote_lines: list[str] = []  # the workers' summaries
        self.workers_strict_failed = False  # a worker's strict policy failed its run

    def finish(self, interrupted: bool, send: Callable[[dict[str, Any]], None]) -> None:
        """Everything was read and sent by the workers."""

    def summary(self, verbose: bool) -> list[str]:
        return sorted(set(self.remote_lines))

    @property
    def strict_failed(self) -> bool:
        return self.workers_strict_failed

    def absorb(self, worker: str, output: dict[str, Any] | None, error: object = None) -> None:
        if output is None or error:
            self.failure = self.failure or (
                f"pytest-xdist worker {worker} crashed or sent nothing: its refusals are unknown")
            return
        self.remote_lines.extend(output["lines"])
        self.tests_failed += output["tests_failed"]
        self.workers_strict_failed = self.workers_strict_failed or bool(output["strict_failed"])
        if output["failure"] and not self.failure:
            self.failure = f"worker {worker}: {output['failure']}"
