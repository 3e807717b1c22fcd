"""The engine's event stream, watched for the whole session on a thread of its own: what the
engine did by itself (health checks) and every container created by anyone (with its name,
image and labels, kept even after the container is gone) that no client call of ours shows."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Created:
    """A container as its `create` event described it."""

    name: str
    image: str
    labels: dict[str, str]


class EngineEvents:
    """Containers whose health check the engine ran (`health_status` events) and every
    container created during the session (`create` events)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._health_checked: set[str] = set()
        self._created: dict[str, Created] = {}
        self._stream: Any = None
        self._client: Any = None
        self._thread: threading.Thread | None = None

    def start(self, engine: str) -> None:
        """Subscribe now: events from this moment on are seen, even of containers removed in
        milliseconds. An engine without events leaves the watch empty (said by the caller)."""
        from .engine import engine_client

        try:
            # no read timeout: the stream may be quiet for minutes
            self._client = engine_client(engine, None)
            self._stream = self._client.api.events(
                since=int(time.time()) - 1, decode=True,
                filters={"type": ["container"], "event": ["create", "health_status"]})
        except Exception:
            self.stop()
            return
        self._thread = threading.Thread(target=self._watch, name="pytest-seccomp-events",
                                        daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        try:
            for event in self._stream:
                actor = event.get("Actor") or {}
                container = str(event.get("id") or actor.get("ID") or "")
                if not container:
                    continue
                status = str(event.get("status") or event.get("Action") or "")
                with self._lock:
                    if status == "create":
                        attributes = {str(k): str(v) for k, v in
                                      (actor.get("Attributes") or {}).items()}
                        self._created[container] = Created(
                            attributes.pop("name", container[:12]),
                            attributes.pop("image", str(event.get("from") or "")), attributes)
                    else:
                        self._health_checked.add(container)
        except Exception:  # the stream closed (stop(), or the engine went away)
            return

    def health_checked(self) -> set[str]:
        with self._lock:
            return set(self._health_checked)

    def created(self, container: str) -> Created | None:
        """How the engine announced `container`'s creation (labels are event attributes)."""
        with self._lock:
            return self._created.get(container)

    def stop(self) -> None:
        """Close the stream; the thread ends with it."""
        if self._stream is not None:
            try:
                self._stream.close()
            except Exception:
                pass
            self._stream = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
