"""pytest hooks, options and markers only; the work is done by `session.RecordSession`."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from .errors import SeccompError
from .naming import validate_profile_name
from .report import record_report, summary_lines, write_report
from .session import Options, RecordSession, default_profile_dir

PLUGIN_NAME = "pytest-seccomp-recorder"
EXIT_RECORDING_INCOMPLETE = pytest.ExitCode.INTERNAL_ERROR


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seccomp", "seccomp profiles from containerized tests")
    group.addoption("--seccomp-record", action="store_true", dest="seccomp_record",
                    help="trace every container the tests start and write a seccomp profile per "
                         "image (needs root, bpftrace and a Docker-compatible engine)")
    group.addoption("--seccomp-profile-dir", dest="seccomp_profile_dir", metavar="DIR",
                    help="where profiles are written (default: seccomp-profiles/ under rootdir; "
                         "ini: seccomp_profile_dir)")
    group.addoption("--seccomp-report", dest="seccomp_report", metavar="FILE",
                    help="write a JSON report: per profile, the images, containers and tests "
                         "that fed it and the syscalls each added")
    group.addoption("--seccomp-default-profile", dest="seccomp_default_profile", metavar="PATH",
                    help="the engine's default profile, the ceiling for recorded profiles "
                         "(default: found from the engine; ini: seccomp_default_profile)")
    parser.addini("seccomp_profile_dir", "directory for seccomp profiles", default=None)
    parser.addini("seccomp_default_profile", "the engine's default seccomp profile", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "seccomp(profile=None): record the containers this test starts under the given "
        "profile name instead of their image's name",
    )
    if not config.getoption("seccomp_record"):
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
    )
    session = RecordSession(options)
    try:
        session.check()
    except SeccompError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(RecordPlugin(session), PLUGIN_NAME)


class RecordPlugin:
    """The hooks of a recording session; each one delegates to `RecordSession`."""

    def __init__(self, session: RecordSession) -> None:
        self.session = session
        self._failed = False

    def pytest_report_header(self) -> str:
        s = self.session
        return (f"seccomp: recording into {s.options.profile_dir} (engine: {s.engine}, "
                f"ceiling: {s.default.path if s.default else '?'})")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        """Start the tracer early: it gets ready while tests are collected."""
        self.session.start()

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
        self.session.begin_test(item.nodeid, _marker_profile(item))
        yield
        self.session.end_test(self._failed)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self._failed = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write profiles (only if the recording is complete) and the JSON report."""
        results = self.session.finish()
        if self.session.options.report is not None:
            write_report(self.session.options.report, record_report(self.session))
        if self.session.failure is not None:
            session.exitstatus = EXIT_RECORDING_INCOMPLETE
        del results

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        lines = list(summary_lines(self.session, terminalreporter.verbosity > 0))
        failure = self.session.failure
        if not lines and failure is None:
            return
        terminalreporter.write_sep("-", "seccomp profiles (record)")
        for line in lines:
            terminalreporter.write_line(line)
        if failure is not None:
            terminalreporter.write_line(f"ERROR: {failure}", red=True, bold=True)

    def pytest_unconfigure(self) -> None:
        self.session.stop()


def _marker_profile(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("seccomp")
    if marker is None:
        return None
    name = marker.kwargs.get("profile")
    return str(name) if name is not None else None
