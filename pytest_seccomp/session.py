"""One recording session: interception feeds containers in, the tracer counts, profiles come out.

Knows pytest only through plain strings (test node ids); `plugin.py` drives it.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine_default import EngineDefault, find_default
from .errors import SeccompError
from .interception import Interception
from .naming import is_image_id, profile_name_for_image, validate_profile_name
from .profile import Profile, build_profile
from .recording import ContainerRecord, Recording
from .tracer import Tracer, check_prerequisites

LABEL_TEST = "io.pytest-seccomp.test"
LABEL_PROFILE = "io.pytest-seccomp.profile"
NO_NEW_PRIVILEGES = "no-new-privileges"


@dataclass(frozen=True)
class Options:
    profile_dir: Path
    report: Path | None = None
    default_profile: str | None = None


@dataclass
class ProfileResult:
    """What the session made of one profile name."""

    name: str
    path: Path
    containers: list[ContainerRecord]
    syscalls: Counter[str]
    profile: Profile | None = None
    error: str | None = None
    status: str = "new"  # new | changed | unchanged | not written


@dataclass
class CurrentTest:
    nodeid: str = "<session>"
    profile: str | None = None  # chosen by @pytest.mark.seccomp(profile=...)
    touched: set[str] = field(default_factory=set)


def detect_engine() -> str:
    """"podman" when the Docker-compatible socket is Podman's, else "docker"."""
    import docker

    try:
        client = docker.from_env(timeout=10)
        try:
            components = client.version().get("Components") or []
        finally:
            client.close()
    except Exception:
        return "docker"
    if any("podman" in str(c.get("Name", "")).lower() for c in components):
        return "podman"
    return "docker"


class RecordSession:
    """Record every container the tests start and write one profile per image or chosen name."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.recording = Recording()
        self.tracer = Tracer()
        self.interception = Interception(self)
        self.current = CurrentTest()
        self.engine = "docker"
        self.default: EngineDefault | None = None
        self.results: list[ProfileResult] = []
        self.failure: str | None = None
        self.tests_failed = 0

    # -- life cycle ----------------------------------------------------------------------------
    def check(self) -> None:
        """Fail before any test runs when recording cannot work here."""
        check_prerequisites()
        self.engine = detect_engine()
        self.default = find_default(self.engine, self.options.default_profile)
        profile_dir = self.options.profile_dir
        if profile_dir.exists() and not profile_dir.is_dir():
            raise SeccompError(
                f"the seccomp profile directory {profile_dir} exists but is not a directory; "
                "pass another --seccomp-profile-dir or remove that file."
            )

    def start(self) -> None:
        """Start the tracer (it becomes ready while collection runs) and wrap the SDK."""
        self.tracer.start()
        self.interception.install()

    def begin_test(self, nodeid: str, profile: str | None) -> None:
        self.current = CurrentTest(nodeid=nodeid, profile=profile)

    def end_test(self, failed: bool) -> None:
        """Read the counters once per test that used containers, to attribute syscalls to it."""
        if failed:
            self.tests_failed += 1
        current, self.current = self.current, CurrentTest()
        if current.touched and self.failure is None:
            self._fold(current.nodeid, current.touched)

    def _fold(self, nodeid: str, touched: set[str]) -> None:
        try:
            self.recording.apply(self.tracer.dump(), nodeid, touched)
        except SeccompError as exc:
            self.failure = str(exc)

    def finish(self) -> list[ProfileResult]:
        """Final read, stop the tracer, build every profile; write them only if all is complete."""
        try:
            if self.failure is None and self.recording.containers:
                self._fold(self.current.nodeid, self.current.touched)
        finally:
            self.interception.uninstall()
            self.tracer.stop()
        for record in self.recording.unattributed():
            self.recording.problems.append(
                f"container {record.name} ({record.short_id}, image {record.image}, test "
                f"{record.test}) was started but the tracer never saw its cgroup, so its syscalls "
                "are unknown"
            )
        self.results = self._build()
        problems = sorted(set(self.recording.problems))
        if self.failure is None and problems:
            self.failure = (
                "the seccomp recording is incomplete: " + "; ".join(problems) + ". No profile "
                "was written; fix the cause and record again."
            )
        if self.failure is None and any(r.error for r in self.results):
            self.failure = "; ".join(f"profile {r.name}: {r.error}" for r in self.results if r.error)
        if self.failure is None:
            for result in self.results:
                self._write(result)
        else:
            for result in self.results:
                result.status = "not written"
        return self.results

    def stop(self) -> None:
        """Idempotent clean-up for aborted sessions: never leave bpftrace or the wraps behind."""
        self.interception.uninstall()
        self.tracer.stop()

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> list[ProfileResult]:
        assert self.default is not None
        grouped: dict[str, list[ContainerRecord]] = {}
        for record in self.recording.containers.values():
            if not record.unrecordable:
                grouped.setdefault(record.profile, []).append(record)
        results = []
        for name in sorted(grouped):
            containers = grouped[name]
            syscalls: Counter[str] = Counter()
            for record in containers:
                syscalls.update(self.recording.names(record.counts))
            result = ProfileResult(name, self.profile_path(name), containers, syscalls)
            try:
                result.profile = build_profile(syscalls, self.default.profile)
            except SeccompError as exc:
                result.error = str(exc)
            results.append(result)
        return results

    def profile_path(self, name: str) -> Path:
        base = self.options.profile_dir.resolve()
        path = (base / f"{name}.json").resolve()
        if base not in path.parents:
            raise SeccompError(f"profile {name!r} would be written outside {base}; refused.")
        return path

    def _write(self, result: ProfileResult) -> None:
        assert result.profile is not None
        text = result.profile.dumps()
        try:
            old = result.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            old = None
        except OSError as exc:
            raise SeccompError(f"cannot read {result.path}: {exc.strerror}") from None
        result.status = "new" if old is None else ("unchanged" if old == text else "changed")
        if old != text:
            try:
                result.profile.save(result.path)
            except OSError as exc:
                result.status = "not written"
                self.failure = (
                    f"cannot write seccomp profile {result.path}: {exc.strerror}. The old file, if "
                    "any, is intact; make the profile directory writable and record again."
                )

    # -- the interception's observer ---------------------------------------------------------
    def before_create(self, api: Any, config: dict[str, Any], name: str | None) -> None:
        if self.failure is not None:
            raise SeccompError(self.failure)
        self.tracer.wait_ready()
        labels = config.setdefault("Labels", None) or {}
        config["Labels"] = labels
        image = str(config.get("Image") or "")
        profile = labels.get(LABEL_PROFILE) or self.current.profile
        if profile:
            profile = validate_profile_name(profile)
        else:
            profile = profile_name_for_image(self._repository_of(api, image))
        labels[LABEL_PROFILE] = profile
        labels[LABEL_TEST] = self.current.nodeid
        host_config = config.get("HostConfig") or {}
        config["HostConfig"] = host_config
        security_opt = list(host_config.get("SecurityOpt") or [])
        if not any(opt.split(":")[0].split("=")[0] == NO_NEW_PRIVILEGES for opt in security_opt):
            security_opt.append(NO_NEW_PRIVILEGES)
        host_config["SecurityOpt"] = security_opt

    def after_create(self, container_id: str, config: dict[str, Any], name: str | None) -> None:
        labels = config.get("Labels") or {}
        record = ContainerRecord(
            id=container_id, name=name or container_id[:12], image=str(config.get("Image")),
            profile=labels[LABEL_PROFILE], test=self.current.nodeid,
            unrecordable=_unrecordable_reason(config.get("HostConfig") or {}),
        )
        self.recording.add(record)
        self.current.touched.add(container_id)

    def after_start(self, container_id: str) -> None:
        for record in self.recording.containers.values():
            if record.id.startswith(container_id) or container_id == record.name:
                record.started = True
                self.current.touched.add(record.id)

    def after_exec_create(self, container_id: str, exec_id: str, cmd: Any) -> None:
        for record in self.recording.containers.values():
            if record.id.startswith(container_id) or container_id == record.name:
                command = cmd if isinstance(cmd, str) else " ".join(map(str, cmd))
                record.execs.append((self.current.nodeid, command))
                self.current.touched.add(record.id)

    @staticmethod
    def _repository_of(api: Any, image: str) -> str:
        """An image given by id has no repository: ask the engine for one of its tags."""
        if not is_image_id(image):
            return image
        tags = (api.inspect_image(image).get("RepoTags") or [])
        usable = sorted(t for t in tags if t != "<none>:<none>")
        if not usable:
            raise SeccompError(
                f"image {image[:19]} has no tag, so no profile name can be derived from it; tag "
                "it, or choose a name with @pytest.mark.seccomp(profile='name')."
            )
        return str(usable[0])


def _unrecordable_reason(host_config: dict[str, Any]) -> str | None:
    """Containers without a seccomp filter cannot be told apart from the runtime's set-up."""
    if host_config.get("Privileged"):
        return "privileged=True runs without seccomp"
    for opt in host_config.get("SecurityOpt") or []:
        key, _, value = opt.replace("=", ":", 1).partition(":")
        if key == "seccomp" and value == "unconfined":
            return "security_opt seccomp=unconfined runs without seccomp"
    return None


def default_profile_dir(rootdir: str | os.PathLike[str], configured: str | None) -> Path:
    """`--seccomp-profile-dir`, else the ini value, else `seccomp-profiles/` under rootdir."""
    return Path(rootdir) / (configured or "seccomp-profiles")
