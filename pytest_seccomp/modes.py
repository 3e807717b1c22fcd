"""The session's mode, its place under pytest-xdist, and enforce's choice for images without a
profile: names, not strings scattered through the code."""

from __future__ import annotations

from enum import StrEnum

EXIT_INCOMPLETE = 3  # pytest.ExitCode.INTERNAL_ERROR: the recording (or watch) is incomplete
EXIT_PROFILES_DRIFTED = 6  # tests passed, but a profile would gain syscalls nobody reviewed


class Mode(StrEnum):
    RECORD = "record"
    ENFORCE = "enforce"


class Role(StrEnum):
    LOCAL = "local"  # no pytest-xdist: traces and concludes itself
    WORKER = "worker"  # traces its tests, sends what it saw to the controller
    CONTROLLER = "controller"  # runs no test: merges the workers' output and concludes


class Missing(StrEnum):
    """--seccomp-missing: what enforce does with an image that has no profile."""

    FAIL = "fail"
    DEFAULT = "default"
    UNCONFINED = "unconfined"


class Place(StrEnum):
    """--seccomp-tracer: where the eBPF tracer is loaded."""

    AUTO = "auto"  # here when this process can load BPF on the engine's kernel, else HELPER
    LOCAL = "local"  # in this process (root, on the engine's host)
    HELPER = "helper"  # in a privileged helper container started through the engine
