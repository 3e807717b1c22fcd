"""pytest hooks, options and markers only; the work is done by the record and enforce sessions."""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import SeccompError
from .modes import EXIT_PROFILES_DRIFTED, Missing, Place, Role
from .profiles.naming import validate_profile_name
from .recording.windows import fixture_window
from .sessions.xdist import XdistController, role, sender

if TYPE_CHECKING:  # the sessions import docker, httptools, pyseccomp, libbpf: only when asked for
    from .fixture import SeccompFixture
    from .interception.engine import EngineAnswers
    from .profiles.stakes import Stake
    from .sessions.shared import ContainerSession
    from .tracing.tracer import Tracer

PLUGIN_NAME = "pytest-seccomp"
# begun before the conftests, kept on the config until pytest_configure (keys, not state)
EARLY_TRACER: pytest.StashKey[Tracer] = pytest.StashKey()
EARLY_ANSWERS: pytest.StashKey[EngineAnswers] = pytest.StashKey()
MISSING_CHOICES = tuple(m.value for m in Missing)


def _missing_choice(value: str) -> str:
    if value not in MISSING_CHOICES:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not one of {', '.join(MISSING_CHOICES)}: 'fail' errors a test whose "
            "image has no profile, 'default' runs it under the engine's default profile, "
            "'unconfined' runs it without seccomp"
        )
    return value


ARGUMENT_CHOICES = ("all", "sockets", "families", "names")
_TRACER_HINT = ("give 'auto' (the default), 'local' (load the tracer in this process: root on "
                "the engine's host) or 'helper' (load it in a helper container through the "
                "engine).")
_ARGS_HINT = ("give 'all' (the default: socket and socketpair allowed only for the address "
              "families, netlink protocols and socket types of AF_UNIX, AF_INET and AF_INET6 "
              "the tests used), 'sockets' (families and netlink protocols, any type), "
              "'families' (families only) or 'names' (every recorded syscall allowed "
              "whatever its arguments)")


def _arguments_choice(value: str) -> str:
    if value not in ARGUMENT_CHOICES:
        raise argparse.ArgumentTypeError(f"{value!r} is not a choice: {_ARGS_HINT}")
    return value


def _tracer_choice(value: str) -> str:
    if value not in set(Place):
        raise argparse.ArgumentTypeError(f"{value!r} is not a choice: {_TRACER_HINT}")
    return value


DEFAULT_MAP_SIZE = 65536


FAIL_ON_CHOICES = ("any", "low", "medium", "high")


def _fail_on_choice(value: str) -> str:
    if value not in FAIL_ON_CHOICES:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a stake: give any (fail on every addition), low, medium or high "
            "(fail only on additions whose known kernel CVEs reach it)")
    return value


def _map_size(value: str) -> int:
    # (ASCII digits only: int() would read "٣٣" as 33)
    size = int(value) if value.isascii() and value.isdigit() else 0
    if not 4 <= size <= 1 << 20:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a map size: give a whole number of entries from 4 to 1048576")
    return size


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seccomp", "seccomp profiles from containerized tests")
    group.addoption("--seccomp-record", action="store_true", dest="seccomp_record",
                    help="trace every container the tests start and write a seccomp profile per "
                         "image (needs a kernel with BTF and a Docker-compatible engine; as root "
                         "the tracer loads here, else in a helper container the engine starts: "
                         "`pytest-seccomp doctor` checks it all)")
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
    group.addoption("--seccomp-coverage", action="store_true", dest="seccomp_coverage",
                    help="record: per profile, the syscalls the image's programs can make (their "
                         "ELF files and the libc functions they import) that no test made: "
                         "covered / possible, in the summary and the reports (needs "
                         "pytest-seccomp[coverage])")
    group.addoption("--seccomp-check", action="store_true", dest="seccomp_check",
                    help="record, but do not write: compare with the committed profiles and fail "
                         f"(exit status {EXIT_PROFILES_DRIFTED}) when one would gain syscalls")
    group.addoption("--seccomp-fail-on", dest="seccomp_fail_on", default=None,
                    type=_fail_on_choice, metavar="any|low|medium|high",
                    help="record --seccomp-check: fail (exit status 6) only when a profile "
                         "would gain a syscall or argument whose known kernel CVEs reach this "
                         "stake (high: privilege escalation or container escape; medium: "
                         "memory corruption; low: denial of service); 'any' (the default) "
                         "fails on every addition; the others are reported (ini: "
                         "seccomp_fail_on)")
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
    group.addoption("--seccomp-map-size", dest="seccomp_map_size", type=_map_size, default=None,
                    metavar="N", help="entries per tracer map: the containers (cgroups) a session "
                                      "can hold, or (container, syscall) pairs with "
                                      "--seccomp-count-calls (default 65536; a full map fails "
                                      "the run)")
    group.addoption("--seccomp-default-profile", dest="seccomp_default_profile", metavar="PATH",
                    help="the engine's default profile, the ceiling for every profile "
                         "(default: found from the engine; ini: seccomp_default_profile)")
    group.addoption("--seccomp-nnp", action="store_true", dest="seccomp_nnp", default=None,
                    help="record and enforce under no-new-privileges: the tightest profiles, "
                         "which start only with no-new-privileges (Kubernetes' restricted Pod "
                         "Security Standard); by default profiles start with or without it "
                         "(ini: seccomp_nnp)")
    group.addoption("--seccomp-args", dest="seccomp_args", default=None, type=_arguments_choice,
                    metavar="all|sockets|families|names",
                    help="record: 'all' (the default, every rule measured stable) allows socket "
                         "and socketpair only for the address families the tests used, "
                         "AF_NETLINK only for the netlink protocols they used, and AF_UNIX, "
                         "AF_INET and AF_INET6 only for the socket types (SOCK_STREAM, "
                         "SOCK_DGRAM, SOCK_RAW) they opened; 'sockets' the families and "
                         "netlink protocols whatever the type; 'families' the families whatever "
                         "the protocol or type; "
                         "'names' writes syscall names only (ini: seccomp_args)")
    group.addoption("--seccomp-tracer", dest="seccomp_tracer", default=None, type=_tracer_choice,
                    metavar="auto|local|helper",
                    help="where the eBPF tracer runs: 'local' in this process (root on the "
                         "engine's host), 'helper' in a helper container the engine starts (as "
                         "a docker-group user, in a container with the engine's socket, against "
                         "docker-in-docker); 'auto' (the default) picks local when this process "
                         "can load BPF on the engine's kernel (ini: seccomp_tracer)")
    group.addoption("--seccomp-runtimes", dest="seccomp_runtimes", default=None,
                    metavar="all|recorded|SPEC",
                    help="record: the OCI runtimes the profiles must start under: 'all' (the "
                         "default) every runtime pytest-seccomp measured (runc 1.1-1.3, crun "
                         "1.8-1.28); 'recorded' only the steps this recording saw; or terms "
                         "such as 'runc>=1.1,crun>=1.8' (ini: seccomp_runtimes)")
    parser.addini("seccomp_runtimes", "record: the runtimes the profiles must start under",
                  default=None)
    parser.addini("seccomp_args", "record: argument rules (all, sockets, families or names)",
                  default=None)
    parser.addini("seccomp_tracer", "where the tracer runs (auto, local or helper)", default=None)
    parser.addini("seccomp_nnp", "record under no-new-privileges", type="bool", default=False)
    parser.addini("seccomp_fail_on", "record --seccomp-check: the stake additions fail at "
                  "(any, low, medium, high)", default=None)
    parser.addini("seccomp_profile_dir", "directory for seccomp profiles", default=None)
    parser.addini("seccomp_default_profile", "the engine's default seccomp profile", default=None)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Begin loading the tracer and asking the engine before pytest imports the conftests (a
    suite's conftest imports the docker SDK, its fixtures' libraries...), which then hide both:
    for one mode only, the tracer not for an xdist controller (it loads none). pytest_configure
    adopts them, or stops the tracer and asks again (a conftest that moved DOCKER_HOST)."""
    known = early_config.known_args_namespace
    record, enforce = known.seccomp_record, known.seccomp_enforce
    if record == enforce:
        return
    place = known.seccomp_tracer or early_config.getini("seccomp_tracer") or "auto"
    controller = bool(getattr(known, "numprocesses", None) or getattr(known, "tx", None)
                      or getattr(known, "dist", "no") != "no")
    if place in tuple(Place) and not controller:  # (else pytest_configure says what is wrong)
        from .modes import Mode
        from .tracing.tracer import early_tracer

        tracer = early_tracer(Mode.RECORD if record else Mode.ENFORCE,
                              bool(known.seccomp_count_calls),
                              known.seccomp_map_size or DEFAULT_MAP_SIZE,
                              Place(place))
        if tracer is not None:
            early_config.stash[EARLY_TRACER] = tracer
    from .interception.engine import EngineAnswers

    try:
        early_config.stash[EARLY_ANSWERS] = EngineAnswers()
    except SeccompError:
        pass  # (pytest_configure asks again and says what is wrong)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "seccomp(profile=None, skip=False, reason=''): profile: record or enforce the containers "
        "this test starts under that profile name instead of their image's; skip: neither "
        "record nor enforce them (the reason is shown in the summary)",
    )
    early = config.stash.get(EARLY_TRACER, None)
    try:
        _configure(config, early)
    except BaseException:
        if early is not None:
            early.stop()
        raise


def _configure(config: pytest.Config, early: Tracer | None) -> None:
    record, enforce = config.getoption("seccomp_record"), config.getoption("seccomp_enforce")
    if record and enforce:
        raise pytest.UsageError(
            "--seccomp-record and --seccomp-enforce cannot be combined: record first (it writes "
            "the profiles), then run again with --seccomp-enforce."
        )
    _refuse_options_without_effect(config, record, enforce)
    _refuse_bad_ini_values(config)
    if not (record or enforce):
        return
    from .interception.engine import EngineAnswers, user_engine

    early_answers = config.stash.get(EARLY_ANSWERS, None)
    try:  # asked first: the engine answers while the sessions' modules are imported
        engine = early_answers if early_answers is not None and \
            early_answers.url == user_engine() else EngineAnswers()
    except SeccompError as exc:
        raise pytest.UsageError(str(exc)) from None
    session = _make_session(config, record)
    if early is not None:
        session.adopt(early)
    try:
        session.check(engine)
    except SeccompError as exc:
        session.stop()  # the tracer may be loading already
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(SeccompPlugin(session), PLUGIN_NAME)
    from .sessions.shared import Controller

    if isinstance(session, Controller):
        config.pluginmanager.register(XdistController(session), PLUGIN_NAME + "-xdist")


def _make_session(config: pytest.Config, record: bool) -> ContainerSession:
    """The session for the chosen mode and this process's xdist role, complete at birth."""
    from .sessions.shared import Options, default_profile_dir

    report, html = config.getoption("seccomp_report"), config.getoption("seccomp_html")
    options = Options(
        profile_dir=default_profile_dir(
            config.rootpath,
            config.getoption("seccomp_profile_dir") or config.getini("seccomp_profile_dir"),
        ),
        report=Path(report) if report else None,
        default_profile=config.getoption("seccomp_default_profile")
        or config.getini("seccomp_default_profile") or None,
        count_calls=bool(config.getoption("seccomp_count_calls")),
        map_size=config.getoption("seccomp_map_size") or DEFAULT_MAP_SIZE,
        run_id=str(getattr(config, "workerinput", {}).get("testrunuid") or uuid.uuid4().hex),
        nnp=bool(config.getoption("seccomp_nnp") or _ini_nnp(config)),
        tracer=_tracer_place(config),
    )
    if record:
        from .profiles.arguments import ArgumentRules
        from .sessions.record import RecordController, RecordSession, RecordWorker

        recorder = {Role.LOCAL: RecordSession, Role.WORKER: RecordWorker,
                    Role.CONTROLLER: RecordController}[role(config)]
        arguments = config.getoption("seccomp_args") or config.getini("seccomp_args") or ArgumentRules.ALL
        try:
            rules = ArgumentRules(arguments)
        except ValueError:
            raise pytest.UsageError(f"seccomp_args = {arguments!r} in the ini file: "
                                    f"{_ARGS_HINT}") from None
        from .profiles.runtimes import RuntimeSelection

        try:
            runtimes = RuntimeSelection.parse(config.getoption("seccomp_runtimes")
                                              or config.getini("seccomp_runtimes") or None)
        except SeccompError as exc:
            raise pytest.UsageError(str(exc)) from None
        return recorder(options, merge=config.getoption("seccomp_merge"), arguments=rules,
                        runtimes=runtimes,
                        check=config.getoption("seccomp_check"),
                        fail_on=_fail_on(config),
                        update=config.getoption("seccomp_update"),
                        html=Path(html) if html else None,
                        coverage=_coverage(config))
    from .sessions.enforce import EnforceController, EnforceSession, EnforceWorker

    enforcer = {Role.LOCAL: EnforceSession, Role.WORKER: EnforceWorker,
                Role.CONTROLLER: EnforceController}[role(config)]
    return enforcer(options, missing=Missing(config.getoption("seccomp_missing") or Missing.FAIL),
                    strict=config.getoption("seccomp_strict"))


def _fail_on(config: pytest.Config) -> Stake | None:
    """--seccomp-fail-on (or the ini's): None fails on any addition."""
    from .profiles.stakes import Stake

    value = config.getoption("seccomp_fail_on") or config.getini("seccomp_fail_on") or "any"
    return None if value == "any" else Stake[value.upper()]


def _coverage(config: pytest.Config) -> bool:
    """--seccomp-coverage, refused at once when its libraries are missing."""
    if not config.getoption("seccomp_coverage"):
        return False
    from .coverage import missing_libraries

    problem = missing_libraries()
    if problem:
        raise pytest.UsageError(problem)
    return True


def _tracer_place(config: pytest.Config) -> Place:
    place = config.getoption("seccomp_tracer") or config.getini("seccomp_tracer") or "auto"
    try:
        return Place(place)
    except ValueError:
        raise pytest.UsageError(f"seccomp_tracer = {place!r} in the ini file: "
                                f"{_TRACER_HINT}") from None


# Options that only one mode reads: given without that mode they would silently do nothing.
_RECORD_ONLY = {"seccomp_args": "--seccomp-args", "seccomp_runtimes": "--seccomp-runtimes",
                "seccomp_report": "--seccomp-report", "seccomp_count_calls": "--seccomp-count-calls",
                "seccomp_html": "--seccomp-html", "seccomp_check": "--seccomp-check",
                "seccomp_update": "--seccomp-update", "seccomp_merge": "--seccomp-merge",
                "seccomp_coverage": "--seccomp-coverage", "seccomp_fail_on": "--seccomp-fail-on"}
_ENFORCE_ONLY = {"seccomp_missing": "--seccomp-missing", "seccomp_strict": "--seccomp-strict"}
_EITHER_MODE = {"seccomp_profile_dir": "--seccomp-profile-dir",
                "seccomp_default_profile": "--seccomp-default-profile",
                "seccomp_map_size": "--seccomp-map-size", "seccomp_nnp": "--seccomp-nnp",
                "seccomp_tracer": "--seccomp-tracer"}


def _ini_nnp(config: pytest.Config) -> bool:
    try:
        return bool(config.getini("seccomp_nnp"))
    except ValueError:
        raise pytest.UsageError(
            f"seccomp_nnp = {config.inicfg.get('seccomp_nnp')!r} in the ini file is not a "
            "truth value: give true or false (or drop the line).") from None


def _refuse_bad_ini_values(config: pytest.Config) -> None:
    """The ini file's seccomp values are checked on every run, with a mode or without: a typo
    is found the day it is made, not the day someone records."""
    _ini_nnp(config)
    for key, choices, hint in (("seccomp_fail_on", FAIL_ON_CHOICES,
                                "give any, low, medium or high"),
                               ("seccomp_args", ARGUMENT_CHOICES, _ARGS_HINT),
                               ("seccomp_tracer", tuple(Place), _TRACER_HINT)):
        value = config.getini(key)
        if value and value not in choices:
            raise pytest.UsageError(f"{key} = {value!r} in the ini file: {hint}")


def _refuse_options_without_effect(config: pytest.Config, record: bool, enforce: bool) -> None:
    """An option the chosen mode (or no mode) ignores is a usage error, never a silent no-op."""
    given = [name for dest, name in _EITHER_MODE.items() if config.getoption(dest)]
    if given and not (record or enforce):
        raise pytest.UsageError(
            f"{', '.join(given)} {'goes' if len(given) == 1 else 'go'} with --seccomp-record or "
            "--seccomp-enforce and would do nothing here; add one of them.")
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
    """The hooks of a record or enforce session; each one delegates to the session's verbs."""

    def __init__(self, session: ContainerSession) -> None:
        self.session = session
        self._failed = False
        self._deselected = 0
        self._tearing_down: dict[int, str] = {}  # fixture defs whose teardown window is open

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self._deselected += len(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Whether every collected test was selected (syrupy's rule): only such a run may drop
        syscalls from a profile or report them as unused."""
        explicit = session.config.args_source == pytest.Config.ArgsSource.ARGS
        self.session.selected(all_tests=not self._deselected and not explicit)
        try:  # the tracer loaded while pytest collected: a tracer that cannot is a usage error
            self.session.ready()
        except SeccompError as exc:
            self.session.stop()
            raise pytest.UsageError(str(exc)) from None

    def pytest_report_header(self) -> str:
        return self.session.header()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self) -> None:
        """Start the proxy, and the tracer in the background (collection_finish waits for it):
        an engine or a tracer that cannot start is a usage error."""
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
        """The test's window: what containers do from its setup to its teardown is its own."""
        self._failed = False
        self.session.begin_test(item.nodeid, _marker_profile(item), _marker_skip(item),
                                getattr(item, "fixturenames", ()))
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
        """Our own errors read as one paragraph; the session adds its notes to the report."""
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        session = self.session
        if call.excinfo is not None and isinstance(call.excinfo.value, SeccompError):
            report.longrepr = f"pytest-seccomp: {call.excinfo.value}"
        elif report.failed and session.refused_creates:
            # the client (SDK, CLI, compose) failed because we refused to create a container:
            # our paragraph says why and what to do, the client's error only that it failed
            report.longrepr = "pytest-seccomp: " + "\n".join(dict.fromkeys(session.refused_creates))
            session.refused_creates = []
        notes = session.phase_notes(item.nodeid, call.when)
        report.sections.extend(notes.sections)
        for name, value in notes.properties:
            if value:  # as `record_property` does, so CI dashboards show it
                item.user_properties.append((name, value))
                report.user_properties.append((name, value))
        if notes.error and report.outcome != "failed":
            report.outcome = "failed"
            report.longrepr = notes.error

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self._failed = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """The session concludes (or, on a worker, sends what it saw); then its exit status."""
        interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED
        if session.shouldfail or session.shouldstop:
            self.session.selected(all_tests=False)  # -x / --maxfail: the rest never ran
        self.session.finish(interrupted, sender(session.config))
        session.exitstatus = self.session.exit_status(int(session.exitstatus), interrupted)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """One block, like pytest-cov's: nothing when there is nothing to say."""
        ours = self.session
        lines = ours.summary(terminalreporter.verbosity > 0)
        if not lines and ours.failure is None:
            return
        terminalreporter.write_sep("-", ours.title)
        for line in lines:
            red = line.startswith(("refused", "warning", "not enforced", "not recorded"))
            terminalreporter.write_line(line, red=red, yellow=line.startswith("no profile"))
        if ours.failure is not None:
            terminalreporter.write_line(f"ERROR: {ours.failure}", red=True, bold=True)
        if ours.reports_to_ci and ({"GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"} & os.environ.keys()):
            from .reporting.github import publish

            publish(ours.ci_report(os.environ), os.environ, terminalreporter.write_line)

    def pytest_unconfigure(self) -> None:
        self.session.stop()


@pytest.fixture
def seccomp(request: pytest.FixtureRequest) -> SeccompFixture:
    """Ask about the containers this test started: `seccomp.profile("redis")`,
    `seccomp.syscalls(container)`, `seccomp.assert_not_used(container, "ptrace")`."""
    from .fixture import SeccompFixture

    plugin = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    session = plugin.session if isinstance(plugin, SeccompPlugin) else None
    return SeccompFixture(session, request.node.nodeid)


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
