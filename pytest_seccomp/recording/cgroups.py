"""Which container a cgroup belongs to, from its path in the unified hierarchy, for every engine
and cgroup driver users run: the path names the container's id in its own component, and any
deeper component is a cgroup the container (or its runtime) made inside its own.

    Docker, cgroupfs              /docker/<id>
    Docker, systemd               /system.slice/docker-<id>.scope
    Docker rootless, systemd      <user@1000.service>/user.slice/docker-<id>.scope
    containerd CRI, systemd       /kubepods.slice/kubepods-besteffort.slice/
                                  kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope
    containerd CRI, cgroupfs      /kubepods/besteffort/pod<uid>/<id>
    CRI-O, systemd                /kubepods.slice/.../crio-<id>.scope (its monitor: crio-conmon-<id>.scope)
    Podman, systemd               /machine.slice/libpod-<id>.scope/container (crun's sub-cgroup;
                                  the monitor: libpod-conmon-<id>.scope)
    Podman, cgroupfs              /libpod_parent/libpod-<id>
    Podman rootless               <user@1000.service>/user.slice/libpod-<id>.scope/container
    docker-in-docker              /docker/<outer>/docker/<inner>, or <outer's cgroup>/<inner>

(<user@1000.service> is /user.slice/user-1000.slice/user@1000.service.)

The deepest component naming an id wins (a container inside a container is the inner one); a
component of the engine's monitor process (conmon) is never the container: its syscalls are
the engine's, not the app's.
"""

from __future__ import annotations

import re

_COMPONENT = re.compile(r"^(?:(?P<prefix>[a-z][a-z0-9_-]*)-)?(?P<id>[0-9a-f]{64})(?:\.scope)?$")
MONITOR = "conmon"  # Podman's and CRI-O's container monitor: libpod-conmon-<id>, crio-conmon-<id>


def container_in_cgroup(path: str) -> str | None:
    """The id of the container whose processes run in the cgroup at `path`, or None."""
    for component in reversed(path.split("/")):
        match = _COMPONENT.match(component)
        if match is None:
            continue
        prefix = match.group("prefix") or ""
        if MONITOR in prefix.split("-"):
            return None  # the monitor of the container, and whatever it made inside
        return match.group("id")
    return None
