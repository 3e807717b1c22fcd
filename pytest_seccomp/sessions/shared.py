"""What record and enforce sessions share: the test in progress, the containers it starts, how a
container gets its profile name, labels and `no-new-privileges`, and the session's tracer.

Knows pytest only through plain strings (test node ids); `plugin.py` drives it.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..errors import SeccompError
from ..interception.engine import EngineAnswers
from ..interception.events import EngineEvents
from ..modes import EXIT_INCOMPLETE, Mode, Place, Role
from ..profiles.applies import Applied, EngineKind, capabilities, go_arch
from ..profiles.engine_default import EngineDefault, EngineInfo, find_default
from ..profiles.naming import (
    compose_built_service,
    is_image_id,
    profile_name_for_image,
    validate_profile_name,
)
from ..recording.store import ContainerRecord, Recording
from ..recording.windows import BEFORE_TESTS, between_tests, fixture_argname
from ..tracing.placement import LABEL_HELPER, tracer_place
from ..tracing.tracer import Tracer, check_prerequisites

if TYPE_CHECKING:  # httptools: imported once the session starts
    from ..interception.proxy import EngineProxy
    from ..reporting.github import CiReport

LABEL_TEST = "io.pytest-seccomp.test"
LABEL_PROFILE = "io.pytest-seccomp.profile"
LABEL_RUN = "io.pytest-seccomp.run"  # one value per pytest run, shared by its xdist workers
NO_NEW_PRIVILEGES = "no-new-privileges"


@dataclass(frozen=True)
class Options:
    profile_dir: Path
    report: Path | None = None
    default_profile: str | None = None
    count_calls: bool = False  # record: count every call (slower) instead of noting each syscall
    map_size: int = 65536  # entries per tracer map
    run_id: str = "local"  # labels this run's containers (xdist workers share it)
    nnp: bool = False  # --seccomp-nnp: record (and enforce missing images) with no-new-privileges
    tracer: Place = Place.AUTO  # --seccomp-tracer: where the tracer is loaded


@dataclass
class CurrentTest:
    """The test in progress, and the windows open inside it (its own, then fixtures')."""

    nodeid: str | None = None  # None between tests
    profile: str | None = None  # chosen by @pytest.mark.seccomp(profile=...)
    skip: str | None = None  # @pytest.mark.seccomp(skip=True, reason=...): leave containers out
    windows: list[str] = field(default_factory=list)
    fixtures: frozenset[str] = frozenset()  # the fixtures it requests (their containers serve it)


def helper_reason(labels: dict[str, str], name: str | None) -> str | None:
    """Containers the tests did not ask for: testcontainers' Ryuk reaper."""
    is_testcontainers = labels.get("org.testcontainers") == "true"
    if (is_testcontainers and "org.testcontainers.session-id" not in labels) or (
        name or ""
    ).startswith("testcontainers-ryuk"):
        return "testcontainers' Ryuk reaper, a helper the tests did not ask for"
    return None


def security_opt(option: str) -> tuple[str, str]:
    """`seccomp=x`, `seccomp:x` (compose) or `no-new-privileges:true` -> (key, value)."""
    key, _, value = option.replace("=", ":", 1).partition(":")
    return key, value


def unconfined_reason(host_config: dict[str, Any]) -> str | None:
    """Containers without a seccomp filter cannot be recorded or enforced."""
    if host_config.get("Privileged"):
        return "privileged=True runs without seccomp"
    for opt in host_config.get("SecurityOpt") or []:
        key, value = security_opt(opt)
        if key == "seccomp" and value == "unconfined":
            return "security_opt seccomp=unconfined runs without seccomp"
    return None


F = TypeVar("F", bound=Callable[..., Any])


def locked(method: F) -> F:
    """Run under the session's lock: the proxy's threads and the main thread share its state."""

    @functools.wraps(method)
    def run(self: ContainerSession, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


@dataclass
class PhaseNotes:
    """What a session adds to one phase's test report."""

    sections: list[tuple[str, str]] = field(default_factory=list)
    properties: list[tuple[str, str]] = field(default_factory=list)  # JUnit XML properties
    error: str | None = None  # the phase fails with this text (enforce --seccomp-strict)


class ContainerSession:
    """Base of record and enforce: the proxy's observer and the tracer's owner. The plugin's
    hooks call its verbs (start, phase_notes, finish, exit_status, summary); each mode and role
    (alone, xdist worker, xdist controller) is a class of its own that answers them its way."""

    mode: ClassVar[Mode] = Mode.RECORD
    role: ClassVar[Role] = Role.LOCAL
    title = "seccomp profiles"

    reports_to_ci: ClassVar[bool] = True  # a worker's reach CI's summary through the controller

    def ci_report(self, environ: Mapping[str, str]) -> CiReport:
        raise NotImplementedError

    def __init__(self, options: Options) -> None:
        self.options = options
        self.recording = Recording()
        self.tracer = Tracer(self.mode, options.count_calls, map_size=options.map_size)
        self.upstream = "unix:///var/run/docker.sock"  # the engine the user's clients reach
        self.proxy: EngineProxy | None = None
        self.events = EngineEvents()
        # the proxy's threads call the observer methods while the main thread opens and
        # closes windows: one lock keeps the recording and the current test consistent
        self.lock = threading.RLock()
        self._saved_env: dict[str, str | None] = {}
        self.refused_creates: list[str] = []  # our refusals to create, in the current test
        self._builds = 0  # `docker build` requests in flight through the proxy
        self._built_since_read = False
        self.current = CurrentTest()
        self.engine = "docker"
        self.runtime = "the runtime"  # e.g. "runc 1.1.5+ds1": named in the runtime's rule
        self.default: EngineDefault | None = None
        self.engine_info = EngineInfo()
        self.failure: str | None = None
        self.tests_failed = 0
        self._last_test: str | None = None
        self._image_healthchecks: dict[str, list[str] | None] = {}

    # -- life cycle ----------------------------------------------------------------------------
    def adopt(self, early: Tracer) -> None:
        """Take over the tracer the plugin began loading before the conftests, if it is the one
        this session would load; else stop it."""
        tracer = self.tracer
        if (early.mode, early.count_calls, early.map_size) != \
                (tracer.mode, tracer.count_calls, tracer.map_size):
            early.stop()
            return
        early.all_arguments = tracer.all_arguments
        self.tracer = early

    def check(self, engine: EngineAnswers) -> None:
        """Fail before any test runs when this mode cannot work here. A tracer likely to run in
        this process (asked to, or root with the engine on a local socket) starts loading before
        the engine has answered, so that the load overlaps the answers and the rest of pytest's
        start; an engine that then reports another kernel moves it to the helper."""
        self.upstream = engine.url
        self.tracer.engine, self.tracer.run_id = self.upstream, self.options.run_id
        early = self.begin_loading()
        info, self.runtime = engine.result()
        place = tracer_place(self.options.tracer, self.upstream, info)
        if early and place is not Place.LOCAL:  # the engine runs on another kernel
            self.tracer.stop()
        self.tracer.place = place
        self.engine = info.kind
        self.engine_info = info
        self.default = find_default(info, self.options.default_profile)
        # what a refusal returns under profiles built from this default (EPERM unless it says)
        self.tracer.settle(self.default.profile.default_errno_ret or 1)
        profile_dir = self.options.profile_dir
        if profile_dir.exists() and not profile_dir.is_dir():
            raise SeccompError(
                f"the seccomp profile directory {profile_dir} exists but is not a directory; "
                "pass another --seccomp-profile-dir or remove that file."
            )

    def begin_loading(self) -> bool:
        """Start loading the tracer in this process, in the background, when it will likely run
        here (the engine's kernel is not known yet); whether it did."""
        if tracer_place(self.options.tracer, self.upstream, EngineInfo()) is not Place.LOCAL:
            self.tracer.stop()  # (one adopted from before the conftests set DOCKER_HOST)
            return False
        if self.tracer.loading:  # adopted: loading since before the conftests
            return True
        check_prerequisites()
        self.tracer.place = Place.LOCAL
        self.tracer.load_soon()
        return True

    def start(self) -> None:
        """Start the tracer (it becomes ready while collection runs) and the engine proxy, and
        publish the proxy as DOCKER_HOST."""
        if not self.tracer.loading:  # the helper: loaded and proven while pytest collects
            self.tracer.start_soon()
        from ..interception.proxy import EngineProxy

        self.proxy = EngineProxy(self.upstream, self)
        self._publish(self.proxy.start())
        self.events.start(self.upstream)

    def ready(self) -> None:
        """The tracer loaded and proven live (it started in the background): raises what
        stopped it, before any test runs."""
        self.tracer.wait_ready()

    def _publish(self, docker_host: str) -> None:
        """Every client of this process and its children now reaches the engine through the
        proxy: DOCKER_HOST wins over contexts, and the proxy's socket speaks no TLS."""
        for name, value in (("DOCKER_HOST", docker_host), ("DOCKER_CONTEXT", None),
                            ("DOCKER_TLS_VERIFY", None), ("DOCKER_CERT_PATH", None)):
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def stop(self) -> None:
        """Idempotent clean-up for aborted sessions: the tracer detached, the proxy stopped,
        the environment as it was."""
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        self.tracer.stop()
        self.events.stop()

    # -- verbs the plugin's hooks call ------------------------------------------------------
    def header(self) -> str:
        verb = "recording into" if self.mode is Mode.RECORD else "enforcing from"
        where = ("a helper container" if self.tracer.place is Place.HELPER else "this process")
        return (f"seccomp: {verb} {self.options.profile_dir} (engine: {self.engine} at "
                f"{self.upstream}, ceiling: {self.default.path if self.default else '?'}, "
                f"tracer: in {where})")

    def phase_notes(self, nodeid: str, when: str) -> PhaseNotes:
        return PhaseNotes()

    def selected(self, all_tests: bool) -> None:
        """Told whether every collected test was selected (record uses it)."""

    def finish(self, interrupted: bool, send: Callable[[dict[str, Any]], None]) -> None:
        """The session's end: a worker sends what it saw, the others conclude."""
        raise NotImplementedError

    def exit_status(self, current: int, interrupted: bool) -> int:
        """One place decides how the session's own outcome changes pytest's exit status."""
        if self.failure is not None and not interrupted:
            return EXIT_INCOMPLETE
        return current

    def summary(self, verbose: bool) -> list[str]:
        return []

    def check_engine(self) -> None:
        """At the end: an engine that stopped answering may have failed containers the tests
        never saw start, so the session's data cannot be trusted whole."""
        if self.failure is not None or not self.recording.containers:
            return
        from ..interception.engine import engine_client

        try:
            client = engine_client(self.upstream, 10)
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:  # the SDK raises several types for a dead socket
            self.explain_failure(None, exc if _engine_unreachable(exc) else ConnectionError(exc))

    # -- windows: every syscall and refusal belongs to the window that was open ------------------
    @property
    def window(self) -> str:
        """Where what happens now is attributed: a fixture, a test, or a gap between tests."""
        if self.current.windows:
            return self.current.windows[-1]
        return between_tests(self._last_test) if self._last_test else BEFORE_TESTS

    @locked
    def begin_test(self, nodeid: str, profile: str | None, skip: str | None = None,
                   fixtures: Iterable[str] = ()) -> None:
        """Close the gap before this test (its syscalls stay the gap's), then open the test."""
        self.fold()
        self.refused_creates = []
        self.current = CurrentTest(nodeid=nodeid, profile=profile, skip=skip, windows=[nodeid],
                                   fixtures=frozenset(fixtures))

    def _note_served(self) -> None:
        """The containers a test's fixtures made serve it (a module fixture's container serves
        each test that requests the fixture): the summary counts them."""
        for record in self.recording.containers.values():
            made_by = fixture_argname(record.test)
            if made_by is not None and made_by in self.current.fixtures and self.current.nodeid:
                record.served.add(self.current.nodeid)

    @locked
    def end_test(self, failed: bool) -> None:
        """Close the test's window: what its containers did until now is the test's."""
        if failed:
            self.tests_failed += 1
        self.fold()
        self.note_healthchecks()
        self._note_served()
        self._last_test = self.current.nodeid
        self.current = CurrentTest()

    @locked
    def enter_fixture(self, label: str) -> None:
        """A wider-scoped fixture starts its set-up or teardown: a window of its own."""
        self.fold()
        self.current.windows.append(label)

    @locked
    def leave_fixture(self) -> None:
        self.fold()
        if self.current.windows and self.current.windows[-1] != self.current.nodeid:
            self.current.windows.pop()

    @locked
    def fold(self, window: str | None = None, last: bool = False) -> None:
        """Read the tracer's maps now and attribute what is new to the open window (or to
        `window`), also of containers no client of this session started (well under a
        millisecond: benchmarks/bench_windows.py; one counter's read when nothing is new). The
        session's last read reads every map whatever the counter says: it also proves the
        program was attached to the end."""
        if self.failure is not None or not self.tracer.started:
            return
        try:
            if not last and self.tracer.unchanged():  # nothing new: attributed already
                return
            self.recording.apply(self.tracer.dump(), window or self.window,
                                 building=self._builds > 0 or self._built_since_read)
        except SeccompError as exc:
            self.failure = str(exc)
        self._built_since_read = False

    @locked
    def building(self, active: bool) -> None:
        """A `docker build` passes through the proxy: the engine's classic builder runs its
        RUN steps in containers no client created; they are not strangers."""
        self._builds += 1 if active else -1
        self._built_since_read = True

    def resolve_strangers(self) -> None:
        """Name the containers the tracer saw that no client of this session created, from
        their `create` events (kept after they are gone) or by asking the engine, and leave
        out those of sibling pytest-xdist workers (the same run label)."""
        pending = [s for s in self.recording.strangers.values() if s.name is None]
        if pending and any(self.events.created(s.id) is None for s in pending):
            time.sleep(0.2)  # the event stream trails the engine by a moment
        for stranger in pending:
            created = self.events.created(stranger.id)
            if created is not None:
                stranger.name, stranger.image = created.name, created.image
                stranger.sibling = self._ours(created.labels)
                continue
            stranger.name = stranger.id[:12]
            try:
                from ..interception.engine import engine_client

                client = engine_client(self.upstream, 10, low_level=True, version=None)
                try:
                    info = client.inspect_container(stranger.id)
                finally:
                    client.close()
            except Exception:  # gone, and no event seen: known by its id only
                continue
            config = info.get("Config") or {}
            stranger.name = str(info.get("Name") or stranger.name).lstrip("/")
            stranger.image = str(config.get("Image") or "")
            stranger.sibling = self._ours(config.get("Labels") or {})

    def _ours(self, labels: dict[str, str]) -> bool:
        """A container of this run: a sibling xdist worker's, or any tracer helper (their own
        syscalls are unconfined, never recorded)."""
        return labels.get(LABEL_RUN) == self.options.run_id or LABEL_HELPER in labels

    def profile_path(self, name: str) -> Path:
        """`DIR/name.json`, refusing any name that would resolve outside DIR."""
        base = self.options.profile_dir.resolve()
        path = (base / f"{name}.json").resolve()
        if base not in path.parents:
            raise SeccompError(f"profile {name!r} would resolve outside {base}; refused.")
        return path

    # -- the interception's observer ---------------------------------------------------------
    @locked
    def before_create(self, api: Any, config: dict[str, Any], name: str | None) -> None:
        """Decide what a container gets; a refusal (SeccompError) is answered to the client and
        remembered, so the test's report shows our paragraph rather than the client's error."""
        try:
            self._decide(api, config, name)
        except SeccompError as exc:
            self.refused_creates.append(str(exc))
            raise

    def _decide(self, api: Any, config: dict[str, Any], name: str | None) -> None:
        if self.failure is not None:
            raise SeccompError(self.failure)
        labels = config.get("Labels") or {}
        config["Labels"] = labels
        host_config = config.get("HostConfig") or {}
        config["HostConfig"] = host_config
        if self._left_out(labels, name, host_config):
            return
        self.tracer.wait_ready()
        image = str(config.get("Image"))
        profile = (labels.get(LABEL_PROFILE) or self.current.profile
                   or compose_built_service(labels, image))
        if profile:
            profile = validate_profile_name(profile)
        else:
            profile = profile_name_for_image(self._repository_of(api, str(config.get("Image"))))
        labels[LABEL_PROFILE] = profile
        labels[LABEL_TEST] = self.window
        labels[LABEL_RUN] = self.options.run_id
        options = [str(o) for o in host_config.get("SecurityOpt") or []]
        host_config["SecurityOpt"] = self.secure(options, profile, str(config.get("Image")))

    @staticmethod
    def with_nnp(options: list[str], wanted: bool) -> list[str]:
        """Add no-new-privileges when the mode (or the profile) wants it; a test that asked
        for it keeps it either way."""
        if wanted and not any(security_opt(o)[0] == NO_NEW_PRIVILEGES for o in options):
            return [*options, NO_NEW_PRIVILEGES]
        return options

    def secure(self, options: list[str], profile: str, image: str) -> list[str]:
        """The container's security options in this mode (record: as the test asked, plus
        no-new-privileges under --seccomp-nnp)."""
        return self.with_nnp(options, self.options.nnp)

    @locked
    def after_create(self, api: Any, container_id: str, config: dict[str, Any],
                     name: str | None) -> None:
        labels = config.get("Labels") or {}
        host_config = config.get("HostConfig") or {}
        record = ContainerRecord(
            id=container_id, name=name or container_id[:12], image=str(config.get("Image")),
            profile=labels.get(LABEL_PROFILE, ""), test=self.window,
            left_out=self._left_out(labels, name, host_config),
            entrypoint=_argv(config.get("Entrypoint")), cmd=_argv(config.get("Cmd")),
        )
        if not record.left_out:
            record.healthcheck = self._healthcheck(api, config)
            record.applied = self.applied_to(host_config)
        self.recording.add(record)

    def applied_to(self, host_config: dict[str, Any]) -> Applied:
        """What decides which of the engine's default rules this container gets."""
        kind = EngineKind.PODMAN if self.engine == EngineKind.PODMAN else EngineKind.DOCKER
        info = self.engine_info
        return Applied(capabilities(kind, host_config),
                       info.arch or go_arch(os.uname().machine), info.kernel)

    def _healthcheck(self, api: Any, config: dict[str, Any]) -> str | None:
        """The command the engine runs as the container's health check, if any: it runs under
        the profile in production whether or not a test ever ran it."""
        test = (config.get("Healthcheck") or {}).get("Test")
        if not test:
            image = str(config.get("Image"))
            if image not in self._image_healthchecks:
                try:
                    found = (api.inspect_image(image).get("Config") or {}).get("Healthcheck")
                except Exception:  # an image the engine cannot describe: nothing to say
                    found = None
                self._image_healthchecks[image] = (found or {}).get("Test")
            test = self._image_healthchecks[image]
        if not test or test[0] not in ("CMD", "CMD-SHELL"):
            return None  # none, or NONE: disabled
        return " ".join(map(str, test[1:]))

    def note_healthchecks(self) -> None:
        """Mark containers whose health check the engine ran (its `health_status` events)."""
        checked = self.events.health_checked()
        for record in self.recording.containers.values():
            if record.id in checked:
                record.healthcheck_ran = True

    @locked
    def explain_failure(self, container: str | None, exc: Exception) -> Exception | None:
        """The engine stopped answering: whatever the tests do next, this session's recording
        (or its refusal watch) can no longer be trusted whole."""
        if _engine_unreachable(exc) and self.failure is None:
            self.failure = (
                f"the container engine stopped answering during the session ({exc}); the "
                f"{self.mode} is incomplete, so no profile was written. Start the engine "
                "(dockerd or `podman system service`) and run again.")
        return None

    def _left_out(self, labels: dict[str, str], name: str | None,
                  host_config: dict[str, Any]) -> str | None:
        """Why a container is neither recorded nor enforced, or None."""
        if self.current.skip is not None:
            return f"the test is marked seccomp(skip=True): {self.current.skip}"
        return helper_reason(labels, name) or unconfined_reason(host_config)

    @locked
    def after_start(self, container_id: str) -> None:
        record = self.recording.find(container_id)
        if record is not None:
            record.started = True

    @locked
    def after_exec_create(self, container_id: str, cmd: Any) -> None:
        record = self.recording.find(container_id)
        if record is not None:
            command = cmd if isinstance(cmd, str) else " ".join(map(str, cmd))
            record.execs.append((self.window, command))
            if record.healthcheck and record.healthcheck in command:
                record.healthcheck_ran = True  # a test ran the health command itself

    @staticmethod
    def _repository_of(api: Any, image: str) -> str:
        """An image given by id has no repository: ask the engine for one of its tags."""
        if not is_image_id(image):
            return image
        tags = api.inspect_image(image).get("RepoTags") or []
        usable = sorted(t for t in tags if t != "<none>:<none>")
        if not usable:
            raise SeccompError(
                f"image {image[:19]} has no tag, so no profile name can be derived from it; tag "
                "it, or choose a name with @pytest.mark.seccomp(profile='name')."
            )
        return str(usable[0])


def _argv(value: Any) -> list[str] | None:
    """A create request's Entrypoint or Cmd as a list (a string is the shell form's)."""
    if value is None:
        return None
    if isinstance(value, str):
        return ["/bin/sh", "-c", value] if value else []
    return [str(v) for v in value]


def _engine_unreachable(exc: BaseException) -> bool:
    """A refused or dropped connection to the engine's socket, however the SDK wrapped it."""
    import requests

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (requests.exceptions.ConnectionError, ConnectionError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def default_profile_dir(rootdir: str | os.PathLike[str], configured: str | None) -> Path:
    """`--seccomp-profile-dir`, else the ini value, else `seccomp-profiles/` under rootdir."""
    return Path(rootdir) / (configured or "seccomp-profiles")


class Worker:
    """Mixin of a pytest-xdist worker's session: it sends what it saw; the controller alone
    decides the run's status."""

    role: ClassVar[Role] = Role.WORKER
    reports_to_ci: ClassVar[bool] = False

    def exit_status(self, current: int, interrupted: bool) -> int:
        return current


class Controller:
    """Mixin of the pytest-xdist controller's session: it runs no test and traces nothing
    (the workers have their own tracer and proxy); it absorbs each worker's output."""

    role: ClassVar[Role] = Role.CONTROLLER

    def adopt(self, early: Tracer) -> None:
        """No tracer here: the one begun before the conftests stops."""
        early.stop()

    def begin_loading(self) -> bool:
        """No tracer to load."""
        return False

    def start(self) -> None:
        """Nothing to start."""

    def ready(self) -> None:
        """No tracer to wait for."""

    def absorb(self, worker: str, output: dict[str, Any] | None, error: object = None) -> None:
        """One worker's output, at its node's end (None if it crashed or sent nothing)."""
        raise NotImplementedError
