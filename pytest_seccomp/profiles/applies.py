"""The engine's default profile as it applies to one container.

A default profile holds rules that apply only to some containers: `includes`/`excludes` on the
capabilities the container holds (`open_tree` only with CAP_SYS_ADMIN, `get_mempolicy` only with
CAP_SYS_NICE on Docker 20.10), on the architecture and on the kernel. The engine keeps or drops
each rule when it builds the container's filter (moby's `setupSeccomp`): a name the default
lists is refused all the same in a container without the capability. Whether a refusal is the
default's own is judged here, from the container's create request, without the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .model import Condition, Profile

# Every capability Linux 6.x knows, as the engines spell them: the set a privileged or an
# `--cap-add ALL` container holds.
ALL_CAPABILITIES = frozenset(
    "CAP_" + name for name in (
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"))


class EngineKind(StrEnum):
    """Whose default capability set a container starts with."""

    DOCKER = "docker"
    PODMAN = "podman"


# moby's oci/caps/defaults.go; containers.conf's default_capabilities (Podman 4 and 5)
DEFAULT_CAPABILITIES: Mapping[EngineKind, frozenset[str]] = {
    EngineKind.DOCKER: frozenset(
        "CAP_" + name for name in (
            "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
            "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")),
    EngineKind.PODMAN: frozenset(
        "CAP_" + name for name in (
            "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETFCAP",
            "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")),
}

# `uname -m` -> the names moby's profiles use in includes/excludes.arches
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def _capability(name: str) -> str:
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def capabilities(engine: EngineKind, host_config: Mapping[str, Any]) -> frozenset[str]:
    """The bounding set a container gets from its create request: the engine's defaults, less
    CapDrop, plus CapAdd (each may say ALL, and Docker applies the drops first); everything
    when privileged."""
    if host_config.get("Privileged"):
        return ALL_CAPABILITIES
    added = {_capability(n) for n in _names(host_config.get("CapAdd"))}
    dropped = {_capability(n) for n in _names(host_config.get("CapDrop"))}
    held = set() if "CAP_ALL" in dropped else set(DEFAULT_CAPABILITIES[engine]) - dropped
    if "CAP_ALL" in added:
        return ALL_CAPABILITIES
    return frozenset(held | added)


def go_arch(machine: str) -> str:
    """`x86_64` -> `amd64`: how a profile's arches filter names this machine."""
    return _GO_ARCH.get(machine, machine)


def _kernel(release: str) -> tuple[int, ...]:
    parts = []
    for part in release.split("-", 1)[0].split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@dataclass(frozen=True)
class Applied:
    """What decides which of a default's rules a container gets."""

    capabilities: frozenset[str]
    arch: str = "amd64"  # GOARCH-style, as in includes.arches
    kernel: str = ""  # the engine host's release; empty: every minKernel rule applies

    def keeps(self, condition: Condition) -> bool:
        """Whether the engine keeps this rule for the container (moby's includes/excludes)."""
        includes, excludes = dict(condition.includes), dict(condition.excludes)
        if includes.get("arches") and self.arch not in includes["arches"]:
            return False
        if includes.get("caps") and not set(includes["caps"]) <= self.capabilities:
            return False
        if self.kernel and includes.get("minKernel") and \
                _kernel(self.kernel) < _kernel(str(includes["minKernel"])):
            return False
        if self.arch in excludes.get("arches", ()):
            return False
        if self.kernel and excludes.get("minKernel") and \
                _kernel(self.kernel) >= _kernel(str(excludes["minKernel"])):
            return False
        return not set(excludes.get("caps", ())) & self.capabilities


def applied_allows(default: Profile, name: str, applied: Applied) -> bool:
    """Some rule of the default that the engine keeps for this container allows `name`
    (perhaps for some argument values only)."""
    return any(applied.keeps(c) for c in default.allow_conditions(name))


def refused_by_default(default: Profile, name: str, applied: Applied | None) -> bool:
    """The default, as it applies to this container, refuses every call of `name` (None: the
    container is unknown; then only a name no rule allows at all)."""
    if applied is None:
        return not default.allow_conditions(name)
    return not applied_allows(default, name, applied)


def why_default_refuses(default: Profile, name: str, applied: Applied | None) -> str:
    """Why the default refuses `name` to this container, in the words a summary uses."""
    if applied is not None:
        for condition in sorted(default.allow_conditions(name)):
            needed = sorted(set(dict(condition.includes).get("caps", ())) - applied.capabilities)
            if needed:
                return (f"the default allows it only with {' and '.join(needed)}, which this "
                        "container lacks")
        if default.allow_conditions(name):
            return f"the default does not allow it on {applied.arch} or this kernel"
    return "the default never allows it"
