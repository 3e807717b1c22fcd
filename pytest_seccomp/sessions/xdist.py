"""pytest-xdist: each worker records (or enforces) with a tracer of its own and hands what it
saw to the controller, which merges and writes. Registered only when xdist is running."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from ..modes import Role

if TYPE_CHECKING:
    from .shared import Controller

OUTPUT_KEY = "pytest_seccomp"


def role(config: pytest.Config) -> Role:
    """A worker, the controller (distributes, runs no test itself), or alone."""
    if hasattr(config, "workerinput"):
        return Role.WORKER
    # pytest-xdist's own test (is_xdist_controller): distributing to workers, whether they
    # were asked for with -n or with --tx
    if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "dist", "no") != "no" \
            and getattr(config.option, "tx", None):
        return Role.CONTROLLER
    return Role.LOCAL


def sender(config: pytest.Config) -> Any:
    """Worker side: builtin types into `workeroutput`, read by the controller at node down."""

    def send(output: dict[str, Any]) -> None:
        config.workeroutput[OUTPUT_KEY] = output  # type: ignore[attr-defined]

    return send


class XdistController:
    """The controller's hook: each worker's output goes to the session as its node goes down."""

    def __init__(self, session: Controller) -> None:
        self.session = session

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
        worker = getattr(getattr(node, "gateway", None), "id", "?")
        self.session.absorb(worker, output, error)
