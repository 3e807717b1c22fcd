"""Attribution from cgroup paths as each engine and cgroup driver lays them out (the paths as
the engines write them: moby's cgroupfs and systemd drivers, containerd's CRI plugin, CRI-O,
Podman with runc and crun, rootless under user@.service, docker-in-docker), no engine needed."""

from __future__ import annotations

import pytest

from pytest_seccomp.recording.cgroups import container_in_cgroup
from pytest_seccomp.recording.store import ContainerRecord, Recording
from pytest_seccomp.tracing.tracer import Snapshot

ID = "3f1c" + "a" * 60
OUTER = "9b" + "c" * 62
POD = "kubepods-besteffort-pod0d5d8a4e_6a43_4b9b_9d6e_1f1c9c2f9e11"

PATHS = [
    ("Docker, cgroupfs", f"/docker/{ID}", ID),
    ("Docker, systemd (GitHub's runners)", f"/system.slice/docker-{ID}.scope", ID),
    ("Docker rootless, systemd",
     f"/user.slice/user-1000.slice/user@1000.service/user.slice/docker-{ID}.scope", ID),
    ("Docker, systemd, a container running systemd", f"/system.slice/docker-{ID}.scope/init.scope",
     ID),
    ("Docker, cgroupfs, a cgroup the container made", f"/docker/{ID}/system.slice/app.service",
     ID),
    ("containerd CRI, systemd",
     f"/kubepods.slice/kubepods-besteffort.slice/{POD}.slice/cri-containerd-{ID}.scope", ID),
    ("containerd CRI, cgroupfs",
     f"/kubepods/besteffort/pod0d5d8a4e-6a43-4b9b-9d6e-1f1c9c2f9e11/{ID}", ID),
    ("CRI-O, systemd", f"/kubepods.slice/kubepods-burstable.slice/{POD}.slice/crio-{ID}.scope", ID),
    ("CRI-O's monitor", f"/kubepods.slice/kubepods-burstable.slice/{POD}.slice/crio-conmon-{ID}.scope",
     None),
    ("Podman, systemd, runc", f"/machine.slice/libpod-{ID}.scope", ID),
    ("Podman, systemd, crun's sub-cgroup", f"/machine.slice/libpod-{ID}.scope/container", ID),
    ("Podman's monitor", f"/machine.slice/libpod-conmon-{ID}.scope", None),
    ("Podman, cgroupfs", f"/libpod_parent/libpod-{ID}", ID),
    ("Podman, cgroupfs, its monitor", "/libpod_parent/conmon", None),
    ("Podman rootless, crun",
     f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container", ID),
    ("docker-in-docker, nested", f"/docker/{OUTER}/docker/{ID}", ID),
    ("docker-in-docker, --cgroup-parent", f"/docker/{OUTER}/{ID}", ID),
    ("docker-in-docker, systemd inside", f"/system.slice/docker-{OUTER}.scope/system.slice/"
     f"docker-{ID}.scope", ID),
    ("the dind engine's own processes", f"/docker/{OUTER}/init", OUTER),
    ("not a container", "/system.slice/docker.service", None),
    ("not a container: a short id", "/docker/3f1caaaaaaaa", None),
    ("not a container: upper-case", f"/docker/{ID.upper()}", None),
    ("the root", "/", None),
]


@pytest.mark.parametrize(("where", "path", "expected"), PATHS, ids=[p[0] for p in PATHS])
def test_each_engines_and_drivers_cgroup_names_its_container(where: str, path: str,
                                                             expected: str | None):
    assert container_in_cgroup(path) == expected, where


def test_a_container_made_cgroup_and_cruns_sub_cgroup_count_for_the_container():
    """Syscalls in the scope and in what was made inside it are one container's."""
    recording = Recording()
    recording.add(ContainerRecord(ID, "db", "postgres", "postgres", "test_a.py::t"))
    paths = {1: f"/machine.slice/libpod-{ID}.scope", 2: f"/machine.slice/libpod-{ID}.scope/container",
             3: f"/machine.slice/libpod-conmon-{ID}.scope"}
    counts = {(1, 0): 1, (2, 1): 1, (3, 2): 1}  # read, write; conmon's open is not the app's
    recording.apply(Snapshot(counts=counts, cgroup_paths=paths, refused={}), "test_a.py::t")
    record = recording.containers[ID]
    assert record.cgroups == {1, 2}
    assert set(record.counts) == {0, 1}
    assert recording.strangers == {}
