"""Where the tracer runs: in the pytest process, or in a helper container the engine starts
(helper.py). Decided from the engine's address and what this process may do, before the helper's
heavier module is imported."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from ..modes import Place
from ..profiles.engine_default import EngineInfo

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
