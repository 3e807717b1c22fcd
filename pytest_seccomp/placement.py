"""Where the tracer runs: in the pytest process, or in a helper container the engine starts
(helper.py). Decided from the engine's address and what this process may do, before the helper's
heavier module is imported."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .engine_default import EngineInfo
from .errors import SeccompError
from .modes import Mode, Place

if TYPE_CHECKING:
    from .tracer import Tracer

LABEL_HELPER = "io.pytest-seccomp.helper"  # its value: the run id of the session it serves
_CAP_SYS_ADMIN, _CAP_PERFMON, _CAP_BPF = 21, 38, 39


def tracer_place(requested: Place, engine: str, info: EngineInfo) -> Place:
    """Where the tracer runs: as asked, or (auto) in this process when it can load BPF on the
    engine's own kernel, else in a helper container."""
    if requested is not Place.AUTO:
        return requested
    return Place.LOCAL if can_load_here(engine, info) else Place.HELPER


def can_load_here(engine: str, info: EngineInfo) -> bool:
    """Root with the capabilities BPF needs (an unprivileged container's root lacks them), and
    the engine on this kernel: reached over a unix socket or loopback, same kernel release."""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            effective = next(int(line.split()[1], 16) for line in status
                             if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        return False
    if not (effective >> _CAP_SYS_ADMIN & 1 or
            (effective >> _CAP_BPF & 1 and effective >> _CAP_PERFMON & 1)):
        return False
    url = urlsplit(engine)
    if url.scheme not in ("unix", "") and url.hostname not in ("localhost", "127.0.0.1", "::1"):
        return False
    return not info.kernel or info.kernel == os.uname().release


def early_tracer(mode: Mode, count_calls: bool, map_size: int, requested: Place) -> Tracer | None:
    """A tracer loading in the background already, before pytest imports the conftests (which
    then hide the load), when it will likely run in this process: the engine is not known yet
    (DOCKER_HOST, if set, says where it likely is), and the session adopts the tracer or stops
    it once it is. None when it would not run here or cannot load (the session says why)."""
    engine = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if tracer_place(requested, engine, EngineInfo()) is not Place.LOCAL:
        return None
    from .tracer import Tracer, check_prerequisites

    try:
        check_prerequisites()
    except SeccompError:
        return None
    tracer = Tracer(mode, count_calls, map_size=map_size, place=Place.LOCAL)
    tracer.load_soon()
    return tracer
