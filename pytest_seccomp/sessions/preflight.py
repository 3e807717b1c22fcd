"""`pytest-seccomp doctor`: everything a recording needs, checked before a session, each line OK
or what is missing with the one-paragraph fix. The kernel's part (BTF, which the tracer's
tp_btf tracepoints need instead of tracefs; a cgroup v2 hierarchy), the engine (reachable, its
version, runtime, cgroup driver, rootless or not), the ceiling (the engine's default profile,
and how it was found), the privileges (root loads the tracer here; otherwise the engine runs it
in a helper container) and the tracer's build.

Each check is a function returning a Finding; `run_checks` gathers them, `cannot_record` says
whether any missing piece stops a recording. Nothing here changes the machine."""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import SeccompError
from ..profiles.engine_default import EngineInfo, find_default

BTF = Path("/sys/kernel/btf/vmlinux")


class Status(Enum):
    OK = "OK"
    MISSING = "MISSING"  # a recording cannot work until it is fixed
    NOTE = "NOTE"  # works, in a way worth knowing (a helper container, a downloaded default)


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"{self.status.value:<8} {self.check:<16} {self.detail}"


@dataclass
class EngineFacts:
    """What the engine answered (nothing when none did)."""

    url: str
    info: EngineInfo
    runtime: str
    raw: dict[str, Any]


def kernel() -> Finding:
    release = os.uname().release
    if not BTF.is_file():
        return Finding("kernel", Status.MISSING, f"{release}: no BTF ({BTF} is missing); the "
                       "tracer is a CO-RE eBPF program and needs a kernel built with "
                       "CONFIG_DEBUG_INFO_BTF=y (every major distribution's since 2021): "
                       "record on such a kernel (a CI runner's is one).")
    return Finding("kernel", Status.OK, f"{release} {platform.machine()}, with BTF (the tracer "
                   "attaches BTF tracepoints: no tracefs needed)")


def _mounts() -> list[tuple[str, str]]:
    """(mount point, file-system type) of this process's mounts."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(" - ", 1)
        if len(fields) == 2:
            found.append((fields[0].split()[4], fields[1].split()[0]))
    return found


def cgroups(facts: EngineFacts | None) -> Finding:
    mounts = dict(_mounts())
    if mounts.get("/sys/fs/cgroup") == "cgroup2":
        layout = "v2 (unified)"
    elif mounts.get("/sys/fs/cgroup/unified") == "cgroup2":
        layout = "hybrid (controllers on v1, the unified hierarchy at /sys/fs/cgroup/unified)"
    elif "cgroup2" in mounts.values():
        layout = "v2 at " + next(m for m, t in mounts.items() if t == "cgroup2")
    else:
        return Finding("cgroups", Status.MISSING, "no cgroup v2 hierarchy is mounted; the "
                       "tracer tells containers apart by their cgroup v2 ids: mount it "
                       "(`mount -t cgroup2 none /sys/fs/cgroup/unified`) or boot with "
                       "systemd.unified_cgroup_hierarchy=1.")
    driver = ""
    if facts is not None and facts.raw:
        driver = (f"; the engine's driver: {facts.raw.get('CgroupDriver', '?')}, cgroup v"
                  f"{facts.raw.get('CgroupVersion', '?')}")
    return Finding("cgroups", Status.OK, layout + driver)


def ask_engine() -> EngineFacts | None:
    """The engine at DOCKER_HOST (or the default socket), or None when none answers."""
    from ..interception.engine import detect_engine, engine_client, user_engine

    url = user_engine()
    try:
        info, runtime = detect_engine(url)
    except SeccompError:
        return None
    if not info.version:
        return None
    raw: dict[str, Any] = {}
    try:
        client = engine_client(url, 10)
        try:
            raw = client.info()
        finally:
            client.close()
    except Exception:  # (the version answered: the details are extra)
        pass
    return EngineFacts(url, info, runtime, raw)


def engine(facts: EngineFacts | None) -> Finding:
    if facts is None:
        from ..interception.engine import user_engine

        return Finding("engine", Status.MISSING, f"no engine answered at {user_engine()}; "
                       "start it (`systemctl start docker`, or `podman system service`) or "
                       "point DOCKER_HOST at it.")
    security = " ".join(str(o) for o in facts.raw.get("SecurityOptions") or [])
    rootless = "rootless" if "name=rootless" in security else "rootful"
    return Finding("engine", Status.OK, f"{facts.info.kind} {facts.info.version} at {facts.url}, "
                   f"runtime {facts.runtime}, {rootless}")


def ceiling(facts: EngineFacts | None, explicit: str | None = None) -> Finding:
    info = facts.info if facts is not None else EngineInfo()
    try:
        found = find_default(info, explicit, "--seccomp-default-profile=PATH")
    except SeccompError as exc:
        return Finding("default profile", Status.MISSING, str(exc))
    how = ("the file named" if explicit else
           "the daemon's configured profile" if info.seccomp_profile not in ("", "default",
                                                                             "builtin") else
           "this package's copy of the engine's release" if "engine-defaults" in str(found.path)
           else "downloaded once from the engine's repository" if "pytest-seccomp" in
           str(found.path) else "the distribution's copy")
    status = Status.NOTE if facts is None else Status.OK
    return Finding("default profile", status, f"{found.path} ({how})" + (
        "; no engine answered, so it may not be the engine's own release" if facts is None
        else ""))


def privileges(facts: EngineFacts | None) -> Finding:
    from ..tracing.placement import can_load_here

    if facts is not None and can_load_here(facts.url, facts.info):
        return Finding("privileges", Status.OK, "root with the BPF capabilities, on the "
                       "engine's kernel: the tracer loads in the pytest process")
    if facts is not None:
        return Finding("privileges", Status.NOTE, "not root here (or the engine is on another "
                       "kernel): the engine will run the tracer in a helper container "
                       "(--seccomp-tracer=helper), which the engine's users may start")
    if os.geteuid() == 0:
        return Finding("privileges", Status.OK, "root (no engine answered to say more)")
    return Finding("privileges", Status.MISSING, "not root, and no engine answered to run the "
                   "tracer in a helper container: run as root, or join the docker group and "
                   "start the engine.")


def tracer_build(local: bool) -> Finding:
    from ..tracing.bpf.build import PREBUILT, cache_dir

    built = sorted(PREBUILT.glob("tracer-*.bpf.o")) + sorted(cache_dir().glob("tracer-*.bpf.o"))
    if built:
        how = "compiled in the wheel" if built[0].parent == PREBUILT else "built once, cached"
        detail = f"{how} ({built[0]})"
    elif shutil.which("clang") and Path("/usr/include/bpf/bpf_helpers.h").exists():
        detail = "not built yet; clang and libbpf's headers are here, so the first session " \
                 "builds it (under a tenth of a second)"
    else:
        return Finding("tracer", Status.MISSING, "the tracer's eBPF program is not compiled in "
                       "this installation and clang or libbpf's headers are missing to build it: "
                       "`apt-get install clang libbpf-dev`, or install pytest-seccomp from a "
                       "wheel built with them.")
    if local:
        try:
            from ..tracing.bpf.libbpf import version

            detail += f"; libbpf {version()}"
        except SeccompError as exc:
            return Finding("tracer", Status.MISSING, str(exc))
    return Finding("tracer", Status.OK, detail)


def run_checks(explicit_default: str | None = None) -> list[Finding]:
    """Every check, in the order a recording meets them."""
    facts = ask_engine()
    local = privileges(facts).status is Status.OK
    checks: list[Callable[[], Finding]] = [
        kernel, lambda: cgroups(facts), lambda: engine(facts),
        lambda: ceiling(facts, explicit_default), lambda: privileges(facts),
        lambda: tracer_build(local)]
    return [check() for check in checks]


def cannot_record(findings: list[Finding]) -> bool:
    return any(f.status is Status.MISSING for f in findings)
