"""pytest hooks, options and markers only; the work is done by the record and enforce sessions."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from .enforce import MISSING_CHOICES, EnforceSession
from .errors import SeccompError
from .fixture import SeccompFixture
from .html import write_html
from .naming import display_path, validate_profile_name
from .record import RecordSession
from .report import enforce_summary_lines, record_report, summary_lines, write_report
from .session import ContainerSession, Options, default_profile_dir, fixture_window
from .xdist import XdistController, role, send

PLUGIN_NAME = "pytest-seccomp"
EXIT_RECORDING_INCOMPLETE = pytest.ExitCode.INTERNAL_ERROR  # 3: the tracer failed or lost data
EXIT_PROFILES_DRIFTED = 6  # tests passed, but a profile would gain syscalls nobody reviewed


def _missing_choice(value: str) -> str:
    if value not in MISSING_CHOICES:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not one of {', '.join(MISSING_CHOICES)}: 'fail' errors a test whose "
            "image has no profile, 'default' runs it under the engine's default profile, "
            "'unconfined' runs it without seccomp"
        )
    return value


def _map_size(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not 4 <= size <= 1 << 20:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a map size: give a whole number of entries from 4 to 1048576")
    return size


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seccomp", "seccomp profiles from containerized tests")
    group.addoption("--seccomp-record", action="store_true", dest="seccomp_record",
                    help="trace every container the tests start and write a seccomp profile per "
                         "image (needs root, BTF, libbpf and a Docker-compatible engine)")
    group.addoption("--seccomp-enforce", action="store_true", dest="seccomp_enforce",
                    help="start every container under its recorded profile and name each "
                         "syscall the profile refused")
    group.addoption("--seccomp-profile-dir", dest="seccomp_profile_dir", metavar="DIR",
                    help="where profiles are written and read (default: seccomp-profiles/ under "
                         "rootdir; ini: seccomp_profile_dir)")
    group.addoption("--seccomp-report", dest="seccomp_report", metavar="FILE",
                    help="record: write a JSON report (per profile, the images, containers and "
                         "tests that fed it and the syscalls each added)")
    group.addoption("--seccomp-count-calls", action="store_true", dest="seccomp_count_calls",
                    help="record: count every call per syscall for the report (costs about 15%% "
                         "more per syscall than noting which syscalls were made)")
    group.addoption("--seccomp-html", dest="seccomp_html", metavar="DIR",
                    help="record: write a static HTML report, one page per profile")
    group.addoption("--seccomp-check", action="store_true", dest="seccomp_check",
                    help="record, but do not write: compare with the committed profiles and fail "
                         f"(exit status {EXIT_PROFILES_DRIFTED}) when one would gain syscalls")
    group.addoption("--seccomp-update", action="store_true", dest="seccomp_update",
                    help="record: write the profiles (the default; with --seccomp-check, write "
                         "them after showing the drift)")
    group.addoption("--seccomp-merge", action="store_true", dest="seccomp_merge",
                    help="record: union with the profiles already on disk instead of replacing "
                         "them (for runs of some tests only)")
    group.addoption("--seccomp-missing", dest="seccomp_missing", default=None,
                    type=_missing_choice, metavar="fail|default|unconfined",
                    help="enforce: what to do with an image that has no profile (default: fail)")
    group.addoption("--seccomp-strict", action="store_true", dest="seccomp_strict",
                    help="enforce: fail a test that passed although its containers had syscalls "
                         "refused")
    group.addoption("--seccomp-map-size", dest="seccomp_map_size", type=_map_size, default=65536,
                    metavar="N", help="entries per tracer map: the containers (cgroups) a session "
                                      "can hold, or (container, syscall) pairs with "
                                      "--seccomp-count-calls (default 65536; a full map fails "
                                      "the run)")
    group.addoption("--seccomp-default-profile", dest="seccomp_default_profile", metavar="PATH",
                    help="the engine's default profile, the ceiling for every profile "
                         "(default: found from the engine; ini: seccomp_default_profile)")
    parser.addini("seccomp_profile_dir", "directory for seccomp profiles", default=None)
    parser.addini("seccomp_default_profile", "the engine's default seccomp profile", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "seccomp(profile=None, skip=False, reason=''): profile: record or enforce the containers "
        "this test starts under that profile name instead of their image's; skip: neither "
        "record nor enforce them (the reason is shown in the summary)",
    )
    record, enforce = config.getoption("seccomp_record"), config.getoption("seccomp_enforce")
    if record and enforce:
        raise pytest.UsageError(
            "--seccomp-record and --seccomp-enforce cannot be combined: record first (it writes "
            "the profiles), then run again with --seccomp-enforce."
        )
    _refuse_options_without_effect(config, record, enforce)
    if not (record or enforce):
        return
    options = Options(
        profile_dir=default_profile_dir(
            config.rootpath,
            config.getoption("seccomp_profile_dir") or config.getini("seccomp_profile_dir"),
        ),
        report=Path(config.getoption("seccomp_report")) if config.getoption("seccomp_report")
        else None,
        default_profile=config.getoption("seccomp_default_profile")
        or config.getini("seccomp_default_profile") or None,
        count_calls=bool(config.getoption("seccomp_count_calls")),
        map_size=config.getoption("seccomp_map_size"),
        run_id=str(getattr(config, "workerinput", {}).get("testrunuid") or uuid.uuid4().hex),
    )
    session: ContainerSession
    if record:
        session = RecordSession(options, merge=config.getoption("seccomp_merge"),
                                check=config.getoption("seccomp_check"),
                                update=config.getoption("seccomp_update"))
    else:
        session = EnforceSession(options, missing=config.getoption("seccomp_missing") or "fail",
                                 strict=config.getoption("seccomp_strict"))
    session.role = role(config)
    try:
        session.check()
    except SeccompError as exc:
        raise pytest.UsageError(str(exc)) from None
    plugin = SeccompPlugin(session)
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    if session.role == "controller":
        plugin.controller = XdistController(session)
        config.pluginmanager.register(plugin.controller, PLUGIN_NAME + "-xdist")


# Options that only one mode reads: given without that mode they would silently do nothing.
_RECORD_ONLY = {"seccomp_report": "--seccomp-report", "seccomp_count_calls": "--seccomp-count-calls",
                "seccomp_html": "--seccomp-html", "seccomp_check": "--seccomp-check",
                "seccomp_update": "--seccomp-update", "seccomp_merge": "--seccomp-merge"}
_ENFORCE_ONLY = {"seccomp_missing": "--seccomp-missing", "seccomp_strict": "--seccomp-strict"}


def _refuse_options_without_effect(config: pytest.Config, record: bool, enforce: bool) -> None:
    """An option the chosen mode (or no mode) ignores is a usage error, never a silent no-op."""
    for options, mode, flag in ((_RECORD_ONLY, record, "--seccomp-record"),
                                (_ENFORCE_ONLY, enforce, "--seccomp-enforce")):
        given = [name for dest, name in options.items() if config.getoption(dest)]
        if given and not mode:
            raise pytest.UsageError(
                f"{', '.join(given)} {'goes' if len(given) == 1 else 'go'} with {flag} and would "
                f"do nothing here; add {flag}"
                + (" (or drop it: record and enforce are separate runs)." if record or enforce
                   else "."))


class SeccompPlugin:
    """The hooks of a record or enforce session; each one delegates to the session."""

    def __init__(self, session: ContainerSession) -> None:
        self.session = session
        self._failed = False
        self._deselected = 0
        self._written: list[str] = []  # reports written, named at the end of the summary
        self._tearing_down: dict[int, str] = {}  # fixture defs whose teardown window is open
        self.controller: XdistController | None = None

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self._deselected += len(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """A drift check reports unused syscalls only when every test was selected (syrupy's rule)."""
        if isinstance(self.session, RecordSession):
            explicit = session.config.args_source == pytest.Config.ArgsSource.ARGS
            self.session.full_run = not self._deselected and not explicit

    def pytest_report_header(self) -> str:
        s = self.session
        verb = "recording into" if isinstance(s, RecordSession) else "enforcing from"
        return (f"seccomp: {verb} {s.options.profile_dir} (engine: {s.engine}, "
                f"ceiling: {s.default.path if s.default else '?'})")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        """Start the tracer before any test: a tracer that cannot load is a usage error."""
        try:
            self.session.start()
        except SeccompError as exc:
            self.session.stop()
            raise pytest.UsageError(str(exc)) from None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Refuse a bad profile name before the test starts any container."""
        name = _marker_profile(item)
        if name is not None:
            try:
                validate_profile_name(name)
            except SeccompError as exc:
                pytest.fail(str(exc), pytrace=False)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        """Attribute containers created and syscalls made during the test to its node id."""
        self._failed = False
        self.session.begin_test(item.nodeid, _marker_profile(item), _marker_skip(item))
        yield
        self.session.end_test(self._failed)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any]) -> Generator[None, None, None]:
        """A wider-scoped fixture's set-up and teardown are windows of their own: its
        containers' syscalls then belong to it, not to the test that happened to need it."""
        if fixturedef.scope == "function":
            yield
            return
        label = fixture_window(fixturedef.argname, fixturedef.scope, fixturedef.baseid)
        self.session.enter_fixture(label)
        try:
            yield
        finally:
            self.session.leave_fixture()
            # runs first at teardown (finalizers run last-in first-out), before the fixture's own
            fixturedef.addfinalizer(lambda: self.session.enter_fixture(label))
            self._tearing_down[id(fixturedef)] = label

    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any]) -> None:
        if self._tearing_down.pop(id(fixturedef), None) is not None:
            self.session.leave_fixture()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        """Our own errors read as one paragraph; enforce adds the refusals to the report."""
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if call.excinfo is not None and isinstance(call.excinfo.value, SeccompError):
            report.longrepr = f"pytest-seccomp: {call.excinfo.value}"
        elif report.failed and self.session.refused_creates:
            # the client (SDK, CLI, compose) failed because we refused to create a container:
            # our paragraph says why and what to do, the client's error only that it failed
            report.longrepr = "pytest-seccomp: " + "\n".join(dict.fromkeys(
                self.session.refused_creates))
            self.session.refused_creates = []
        session = self.session
        if isinstance(session, RecordSession):
            if call.when == "teardown":
                _add_property(item, report, "seccomp_syscalls", session.first_needed_by(item.nodeid))
            return
        assert isinstance(session, EnforceSession)
        refusals = session.take_refusals()
        if refusals:
            report.sections.append((f"seccomp refusals ({call.when})", session.explain(refusals)))
        if call.when != "teardown":
            return
        names = sorted({r.syscall for r in session.test_refusals})
        _add_property(item, report, "seccomp_refused", " ".join(names))
        if session.strict and session.test_refusals and report.outcome != "failed":
            report.outcome = "failed"
            report.longrepr = ("pytest-seccomp (--seccomp-strict): syscalls were refused while "
                               "this test ran\n" + session.explain(session.test_refusals))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self._failed = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Record: write profiles (only if the recording is complete) and the JSON report."""
        ours = self.session
        if ours.role == "worker":
            if isinstance(ours, RecordSession):
                ours.collect()
                send(session.config, ours.export())
            else:
                assert isinstance(ours, EnforceSession)
                ours.finish()
                send(session.config, {"lines": list(enforce_summary_lines(ours, False)),
                                      "failure": ours.failure, "tests_failed": ours.tests_failed,
                                      "strict_failed": ours.strict
                                      and bool(ours.refused_outside_tests
                                               or ours.recording.unseen())})
            return
        if isinstance(ours, RecordSession):
            if ours.role == "controller":
                ours.conclude()  # the workers recorded; they sent their recordings here
            else:
                ours.finish(interrupted=session.exitstatus == pytest.ExitCode.INTERRUPTED)
            if ours.options.report is not None:
                write_report(ours.options.report, record_report(ours))
            html_dir = session.config.getoption("seccomp_html")
            if html_dir and ours.failure is None:
                write_html(ours, Path(html_dir))
                self._written.append(f"HTML report: {display_path(Path(html_dir) / 'index.html')}")
            if ours.options.report is not None:
                self._written.append(f"JSON report: {display_path(ours.options.report)}")
        else:
            assert isinstance(ours, EnforceSession)
            ours.finish()
            strict_failed = (ours.strict and bool(ours.refused_outside_tests
                                                  or ours.recording.unseen())) or bool(
                self.controller and self.controller.strict_failed)
            if strict_failed and session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if ours.failure is not None and session.exitstatus != pytest.ExitCode.INTERRUPTED:
            session.exitstatus = EXIT_RECORDING_INCOMPLETE
        elif isinstance(ours, RecordSession) and ours.drifted and session.exitstatus == 0:
            session.exitstatus = EXIT_PROFILES_DRIFTED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """One block, like pytest-cov's: nothing when there is nothing to say."""
        ours = self.session
        verbose = terminalreporter.verbosity > 0
        if isinstance(ours, RecordSession):
            title, lines = "seccomp profiles (record)", list(summary_lines(ours, verbose))
        else:
            assert isinstance(ours, EnforceSession)
            title = "seccomp profiles (enforce)"
            lines = (sorted(set(self.controller.remote_lines)) if self.controller
                     else list(enforce_summary_lines(ours, verbose)))
        lines += self._written
        if not lines and ours.failure is None:
            return
        terminalreporter.write_sep("-", title)
        for line in lines:
            red = line.startswith(("refused", "warning"))
            terminalreporter.write_line(line, red=red, yellow=line.startswith("no profile"))
        if ours.failure is not None:
            terminalreporter.write_line(f"ERROR: {ours.failure}", red=True, bold=True)

    def pytest_unconfigure(self) -> None:
        self.session.stop()


@pytest.fixture
def seccomp(request: pytest.FixtureRequest) -> SeccompFixture:
    """Ask about the containers this test started: `seccomp.profile("redis")`,
    `seccomp.syscalls(container)`, `seccomp.assert_not_used(container, "ptrace")`."""
    plugin = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    session = plugin.session if isinstance(plugin, SeccompPlugin) else None
    return SeccompFixture(session, request.node.nodeid)


def _add_property(item: pytest.Item, report: pytest.TestReport, name: str, value: str) -> None:
    """A JUnit-XML property (like `record_property`), so CI dashboards show it."""
    if value:
        item.user_properties.append((name, value))
        report.user_properties.append((name, value))


def _marker_skip(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("seccomp")
    if marker is None or not marker.kwargs.get("skip"):
        return None
    return str(marker.kwargs.get("reason") or "no reason given")


def _marker_profile(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("seccomp")
    if marker is None:
        return None
    name = marker.kwargs.get("profile")
    return str(name) if name is not None else None
