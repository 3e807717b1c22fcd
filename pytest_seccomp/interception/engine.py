"""The engine the user's clients reach, and what it says of itself.

Asked in the background from the start of pytest's configure: the engine takes about 5 ms for
each of its two answers (Docker runs `runc --version` for them), which overlap the plugin's
imports and the tracer's load instead of adding to them.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit

from ..errors import SeccompError
from ..profiles.engine_default import EngineInfo

# the oldest API version every engine still serves (Docker 1.12 on; the oldest Docker 25+ and
# Podman accept): a client made with it asks no round trip for the version first
MIN_API_VERSION = "1.24"
UNKNOWN_RUNTIME = "the runtime"


def engine_client(url: str, timeout: float | None = 10, *, low_level: bool = False,
                  version: str | None = MIN_API_VERSION) -> Any:
    """The one way the package makes a docker SDK client (DockerClient, or APIClient with
    `low_level`): the API version given, so no `GET /version` goes first (on Docker 20.10 it
    runs runc); None lets the SDK pick its own default."""
    import docker

    kind: Any = docker.APIClient if low_level else docker.DockerClient
    if version is None:
        return kind(base_url=url, timeout=timeout)
    return kind(base_url=url, timeout=timeout, version=version)

def user_engine() -> str:
    """The engine the user's clients would reach: DOCKER_HOST, the current docker context's
    endpoint, or the default socket."""
    host = os.environ.get("DOCKER_HOST")
    if host:
        return host
    try:
        from docker.context import ContextAPI

        context = ContextAPI.get_context(os.environ.get("DOCKER_CONTEXT"))
        if context is not None and context.Host:
            return str(context.Host)
    except Exception:  # an unreadable docker config: the default socket
        pass
    return "unix:///var/run/docker.sock"


def check_endpoint(url: str) -> None:
    """Endpoints the proxy can forward to: unix sockets and plain TCP."""
    scheme = urlsplit(url).scheme
    if scheme not in ("unix", "tcp", "http", ""):
        raise SeccompError(
            f"the container engine is at {url}, which pytest-seccomp cannot reach yet (unix "
            "sockets and plain tcp:// only); point DOCKER_HOST at the engine's unix socket.")
    if os.environ.get("DOCKER_TLS_VERIFY") and scheme != "unix":
        raise SeccompError(
            f"the container engine at {url} is reached over TLS (DOCKER_TLS_VERIFY), which "
            "pytest-seccomp's proxy does not speak yet; run the tests where the engine's unix "
            "socket is reachable.")


class EngineAnswers:
    """The user's engine, checked now and asked in the background what it is; result() waits."""

    def __init__(self) -> None:
        self.url = user_engine()
        check_endpoint(self.url)
        self._answer: tuple[EngineInfo, str] = (EngineInfo(), UNKNOWN_RUNTIME)
        self._thread = threading.Thread(target=self._ask, name="pytest-seccomp-engine",
                                        daemon=True)
        self._thread.start()

    def _ask(self) -> None:
        self._answer = detect_engine(self.url)

    def result(self) -> tuple[EngineInfo, str]:
        """What the engine said (nothing known if it did not answer: the ceiling's lookup and
        the first container then say what is wrong), and its runtime, e.g. "runc 1.1.5"."""
        self._thread.join()
        return self._answer


def detect_engine(url: str) -> tuple[EngineInfo, str]:
    """What the engine says of itself (Podman or Docker, its version, the seccomp profile the
    daemon is configured with) and its OCI runtime with its version, e.g. "runc 1.1.5"."""

    security: list[str] = []

    def ask_info() -> None:  # at the same time as the version: each takes the engine ~5 ms
        try:
            security.extend(client.info().get("SecurityOptions") or [])
        except Exception:
            pass

    try:
        client = engine_client(url, 10)
        try:
            info = threading.Thread(target=ask_info, name="pytest-seccomp-engine-info",
                                    daemon=True)
            info.start()
            try:
                version = client.version(api_version=False)
            finally:
                info.join()
        finally:
            client.close()
    except Exception:
        return EngineInfo(), UNKNOWN_RUNTIME
    components = version.get("Components") or []
    kind = "podman" if any("podman" in str(c.get("Name", "")).lower()
                           for c in components) else "docker"
    profile = ""
    for option in security:  # "name=seccomp,profile=default"
        fields = dict(f.split("=", 1) for f in str(option).split(",") if "=" in f)
        if fields.get("name") == "seccomp":
            profile = fields.get("profile", "")
    return (EngineInfo(kind, str(version.get("Version") or ""), profile,
                       str(version.get("KernelVersion") or ""), str(version.get("Arch") or "")),
            runtime_of(components))


def runtime_of(components: list[dict[str, Any]]) -> str:
    """Docker names it `runc` with its version; Podman `OCI Runtime (crun)` with crun's
    `--version` output."""
    for component in components:
        name = str(component.get("Name", ""))
        version = str(component.get("Version", "")).splitlines()[0] if component.get(
            "Version") else ""
        if name in ("runc", "crun", "runsc", "youki"):
            return f"{name} {version}".strip()
        if name.startswith("OCI Runtime"):
            runtime = name.split("(", 1)[-1].rstrip(")")
            return f"{runtime} {version.split()[-1] if version else ''}".strip()
    return UNKNOWN_RUNTIME
