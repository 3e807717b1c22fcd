"""The `seccomp` fixture: what a test can ask about the containers it started."""

from __future__ import annotations

from typing import Any

import pytest

from .errors import SeccompError
from .profiles.arguments import key_label, split_key
from .profiles.model import Profile
from .profiles.syscalls import syscall_name
from .recording.store import ContainerRecord
from .sessions.enforce import EnforceSession
from .sessions.record import RecordSession
from .sessions.shared import ContainerSession


class SeccompFixture:
    """`seccomp.profile(name)`, `seccomp.syscalls(container)`, `seccomp.assert_not_used(...)`."""

    def __init__(self, session: ContainerSession | None, nodeid: str) -> None:
        self._session = session
        self._nodeid = nodeid

    @property
    def mode(self) -> str | None:
        """"record", "enforce", or None when the session does neither."""
        return self._session.mode if self._session else None

    def _active(self) -> ContainerSession:
        if self._session is None:
            pytest.skip("the seccomp fixture needs --seccomp-record or --seccomp-enforce")
        return self._session

    def _container(self, container: Any) -> ContainerRecord:
        session = self._active()
        reference = getattr(container, "id", container)
        record = session.recording.find(str(reference))
        if record is None:
            raise SeccompError(f"container {reference!r} was not started by the tests of this "
                               "session, so nothing was recorded for it")
        return record

    def profile(self, name: str) -> Profile:
        """Record: the profile `name` as recorded so far; enforce: the profile in force."""
        session = self._active()
        if isinstance(session, EnforceSession):
            loaded = session.load(name)
            if loaded.profile is None:
                raise SeccompError(loaded.error or f"no seccomp profile {loaded.path}")
            return loaded.profile
        assert isinstance(session, RecordSession) and session.default is not None
        session.fold()
        return session.profile_for(record for record in session.recording.containers.values()
                                   if record.profile == name and not record.left_out)

    def syscalls(self, container: Any) -> set[str]:
        """Record mode: the syscalls `container` made while this test ran (so far)."""
        session = self._active()
        if not isinstance(session, RecordSession):
            raise SeccompError("seccomp.syscalls() needs --seccomp-record: enforce mode watches "
                               "refusals, not every syscall")
        record = self._container(container)
        session.fold()
        counts = session.recording.by_test.get(self._nodeid, {}).get(record.id)
        return set(session.recording.names(counts)) if counts else set()

    def assert_not_used(self, container: Any, *names: str) -> None:
        """Fail if `container` used any of `names` (record) or its profile allows or it tried
        any of them (enforce): for what an app must never do."""
        session = self._active()
        record = self._container(container)
        forbidden = set(names)
        if isinstance(session, RecordSession):
            session.fold()
            used = set(session.recording.names(record.counts)) & forbidden
            if used:
                raise AssertionError(f"container {record.name} ({record.image}) used "
                                     f"{', '.join(sorted(used))}, which this test forbids")
            return
        assert isinstance(session, EnforceSession)
        loaded = session.load(record.profile)
        allowed = (loaded.profile.allowed if loaded.profile else set()) & forbidden
        session.fold()
        # `socket(AF_PACKET)` refused was a try of `socket` too
        tried = {syscall_name(split_key(key)[0]) for key, _ in record.refused} | {
            key_label(key) for key, _ in record.refused}
        tried &= forbidden
        if allowed or tried:
            what = []
            if allowed:
                what.append(f"its profile {loaded.path} allows {', '.join(sorted(allowed))}")
            if tried:
                what.append(f"it tried {', '.join(sorted(t for t in tried if t))}")
            raise AssertionError(f"container {record.name} ({record.image}): " + "; ".join(what))
