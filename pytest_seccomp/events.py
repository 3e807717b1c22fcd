"""The engine's event stream, watched for the whole session on a thread of its own: what the
engine did by itself (health checks) that no client call shows."""

from __future__ import annotations

import threading
import time
from typing import Any


class EngineEvents:
    """Containers whose health check the engine ran, from `health_status` events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._health_checked: set[str] = set()
        self._stream: Any = None
        self._client: Any = None
        self._thread: threading.Thread | None = None

    def start(self, engine: str) -> None:
        """Subscribe now: events from this moment on are seen, even of containers removed in
        milliseconds. An engine without events leaves the watch empty (said by the caller)."""
        import docker

        try:
            # no read timeout: the stream may be quiet for minutes
            self._client = docker.DockerClient(base_url=engine, timeout=None)  # type: ignore[arg-type]
            self._stream = self._client.api.events(
                since=int(time.time()) - 1, decode=True,
                filters={"type": ["container"], "event": ["health_status"]})
        except Exception:
            self.stop()
            return
        self._thread = threading.Thread(target=self._watch, name="pytest-seccomp-events",
                                        daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        try:
            for event in self._stream:
                container = str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")
                if container:
                    with self._lock:
                        self._health_checked.add(container)
        except Exception:  # the stream closed (stop(), or the engine went away)
            return

    def health_checked(self) -> set[str]:
        with self._lock:
            return set(self._health_checked)

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
