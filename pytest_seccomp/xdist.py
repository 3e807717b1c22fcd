"""pytest-xdist: each worker records (or enforces) with a tracer of its own and hands what it
saw to the controller, which merges and writes. Registered only when xdist is running."""

from __future__ import annotations

from typing import Any

import pytest

from .record import RecordSession
from .session import ContainerSession

OUTPUT_KEY = "pytest_seccomp"


def role(config: pytest.Config) -> str:
    """"worker", "controller" (xdist distributes, runs no test itself) or "local"."""
    if hasattr(config, "workerinput"):
        return "worker"
    if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "numprocesses", None) \
            and getattr(config.option, "dist", "no") != "no":
        return "controller"
    return "local"


def send(config: pytest.Config, output: dict[str, Any]) -> None:
    """Worker side: builtin types into `workeroutput`, read by the controller at node down."""
    config.workeroutput[OUTPUT_KEY] = output  # type: ignore[attr-defined]


class XdistController:
    """The controller's hooks: take in each worker's output as its node goes down."""

    def __init__(self, session: ContainerSession) -> None:
        self.session = session
        self.remote_lines: list[str] = []
        self.strict_failed = False  # a worker saw refusals outside its tests under --seccomp-strict

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
        worker = getattr(getattr(node, "gateway", None), "id", "?")
        if isinstance(self.session, RecordSession):
            self.session.absorb(worker, output, error)
            return
        if output is None or error:
            self.session.failure = self.session.failure or (
                f"pytest-xdist worker {worker} crashed or sent nothing: its refusals are unknown")
            return
        self.remote_lines.extend(output["lines"])
        self.strict_failed = self.strict_failed or bool(output.get("strict_failed"))
        self.session.tests_failed += output["tests_failed"]
        if output["failure"] and not self.session.failure:
            self.session.failure = f"worker {worker}: {output['failure']}"
