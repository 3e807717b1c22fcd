"""The one wrap around the docker SDK where every container is created, started and exec'd into.

`containers.run`, `containers.create`, the low-level `APIClient.create_container`,
testcontainers-python and pytest-docker-tools all reach
`ContainerApiMixin.create_container_from_config`; `exec_run` reaches `ExecApiMixin.exec_create`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from docker.api.container import ContainerApiMixin
from docker.api.exec_api import ExecApiMixin


class ContainerObserver(Protocol):
    """What the interception tells the recorder (or, later, the enforcer)."""

    def before_create(self, api: Any, config: dict[str, Any], name: str | None) -> None:
        """May change `config` (labels, security options) before the engine sees it."""

    def after_create(self, api: Any, container_id: str, config: dict[str, Any],
                     name: str | None) -> None: ...

    def after_start(self, container_id: str) -> None: ...

    def explain_failure(self, container: str | None, exc: Exception) -> Exception | None:
        """An error that says more than the engine's (e.g. which profile it refused), or None."""

    def after_exec_create(self, container_id: str, exec_id: str, cmd: Any) -> None: ...


def _container_id(container: Any) -> str:
    return str(container.get("Id")) if isinstance(container, dict) else str(container)


class Interception:
    """Installs the wraps on the SDK classes for one session and removes them afterwards."""

    def __init__(self, observer: ContainerObserver) -> None:
        self._observer = observer
        self._saved: dict[tuple[type, str], Callable[..., Any]] = {}

    def install(self) -> None:
        observer = self._observer
        # The SDK is untyped; hold its methods as plain callables.
        create: Callable[..., Any] = ContainerApiMixin.create_container_from_config
        start: Callable[..., Any] = ContainerApiMixin.start
        exec_create: Callable[..., Any] = ExecApiMixin.exec_create

        def create_container_from_config(api: Any, config: dict[str, Any], name: str | None = None,
                                         *args: Any, **kwargs: Any) -> Any:
            observer.before_create(api, config, name)
            try:
                result = create(api, config, name, *args, **kwargs)
            except Exception as exc:
                better = observer.explain_failure(None, exc)
                if better is None:
                    raise
                raise better from exc
            observer.after_create(api, result["Id"], config, name)
            return result

        def start_container(api: Any, container: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                result = start(api, container, *args, **kwargs)
            except Exception as exc:
                better = observer.explain_failure(_container_id(container), exc)
                if better is None:
                    raise
                raise better from exc
            observer.after_start(_container_id(container))
            return result

        def exec_create_in(api: Any, container: Any, cmd: Any, *args: Any, **kwargs: Any) -> Any:
            result = exec_create(api, container, cmd, *args, **kwargs)
            observer.after_exec_create(_container_id(container), result.get("Id", ""), cmd)
            return result

        for cls, attr, wrapper in (
            (ContainerApiMixin, "create_container_from_config", create_container_from_config),
            (ContainerApiMixin, "start", start_container),
            (ExecApiMixin, "exec_create", exec_create_in),
        ):
            self._saved[(cls, attr)] = getattr(cls, attr)
            setattr(cls, attr, wrapper)

    def uninstall(self) -> None:
        for (cls, attr), original in self._saved.items():
            setattr(cls, attr, original)
        self._saved.clear()
