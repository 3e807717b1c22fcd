"""The engines of the runtime matrix: the host's own (Docker 20.10 with runc, Podman with runc and
crun) and newer ones from Debian trixie and sid (`pytest-seccomp/engine:SUITE`, built by
`scripts/build-images.sh --engine SUITE`), each a dockerd in a privileged container whose
containers run under runc or crun, reached over a socket in a mounted directory. The tests use
these too (tests/test_runtimes.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container

SUITES = ("trixie", "sid")
RUNTIMES = ("runc", "crun")
BUSYBOX = "pytest-seccomp/busybox:latest"
LABEL = "io.pytest-seccomp.engine"


@dataclass(frozen=True)
class Engine:
    """One cell's engine: where to reach it and what it runs."""

    url: str  # DOCKER_HOST
    name: str  # "Docker 28.5.2"
    runtime: str  # "runc 1.3.6"
    default_profile: Path | None  # this engine's own default.json, copied out (None: host's)
    container: str | None = None  # the dind container's id

    @property
    def label(self) -> str:
        return f"{self.name} {self.runtime}"


# what --privileged would add, short of capabilities this engine's own bounding set may lack
# (a dockerd that itself runs in a container cannot grant CAP_SYS_RESOURCE, say)
_CAPABILITY_NAMES = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
                     "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
                     "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
                     "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
                     "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
                     "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
                     "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND",
                     "AUDIT_READ"]


def bounding_capabilities() -> list[str]:
    with open("/proc/self/status", encoding="ascii") as status:
        bounding = next(int(line.split()[1], 16) for line in status if line.startswith("CapBnd:"))
    return [name for bit, name in enumerate(_CAPABILITY_NAMES) if bounding >> bit & 1]


def run_privileged(client: docker.DockerClient, image: str, label: str,
                   **settings: Any) -> Container:
    """Start `image` privileged, or, where the engine cannot grant every capability (its own
    bounding set lacks one: "unable to apply caps"), with every capability it has."""
    settings.setdefault("labels", {})[label] = "1"
    try:
        return client.containers.run(image, privileged=True, **settings)
    except docker.errors.APIError as exc:
        if "caps" not in str(exc):
            raise
        for leftover in client.containers.list(all=True, filters={"label": label}):
            leftover.remove(force=True, v=True)
        return client.containers.run(image, cap_add=bounding_capabilities(), **settings)


def image_of(suite: str) -> str:
    return f"pytest-seccomp/engine:{suite}"


def image_exists(name: str) -> bool:
    client = docker.from_env()
    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False
    finally:
        client.close()


def have_image(suite: str) -> bool:
    return image_exists(image_of(suite))


def have_podman_image(suite: str) -> bool:
    return image_exists(podman_image_of(suite))


def _runtime_version(run: list[str], runtime: str) -> str:
    out = subprocess.run([*run, runtime, "--version"], capture_output=True, text=True,
                         check=True).stdout
    # runc: "runc version 1.3.6+ds1"; crun: "crun version 1.28"
    first = out.splitlines()[0].split()
    return f"{runtime} {first[-1]}"


def host_engines() -> Iterator[Engine]:
    """The host's Docker (runc) and Podman's two services (runc, crun), where they answer."""
    client = docker.from_env()
    try:
        version = client.version()["Version"]
    finally:
        client.close()
    yield Engine("unix:///var/run/docker.sock", f"Docker {version}",
                 _runtime_version([], "runc"), None)
    for socket, runtime in (("podman.sock", "runc"), ("podman-crun.sock", "crun")):
        url = f"unix:///run/podman/{socket}"
        try:
            podman = docker.DockerClient(base_url=url, timeout=30)
            version = podman.version()["Version"]
            podman.close()
        except Exception:
            continue
        yield Engine(url, f"Podman {version}", _runtime_version([], runtime), None)


def systemd_image_of(suite: str) -> str:
    return f"pytest-seccomp/engine-systemd:{suite}"


def podman_image_of(suite: str) -> str:
    return f"pytest-seccomp/podman:{suite}"


@contextmanager
def dind_engine(suite: str, runtime: str, images: tuple[str, ...] = (BUSYBOX,),
                systemd: bool = False, podman: bool = False) -> Iterator[Engine]:
    """A newer engine from Debian `suite` whose containers run under `runtime`, `images`
    loaded into it; removed at the end. With `systemd`: systemd as PID 1 on cgroup v2 and
    dockerd with the systemd cgroup driver, as on GitHub's hosted runners. With `podman`: that
    suite's Podman serving its Docker-compatible API instead of dockerd."""
    client = docker.from_env()
    sockets = Path(tempfile.mkdtemp(prefix=f"pytest-seccomp-engine-{suite}-"))
    if systemd:
        outer = run_privileged(
            client, systemd_image_of(suite), LABEL, detach=True, cgroupns="private",
            environment={"RUNTIME": runtime, "container": "docker"},
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            tmpfs={"/run": "", "/run/lock": "", "/tmp": ""},
            volumes={str(sockets): {"bind": "/run/dind", "mode": "rw"}})
    else:
        outer = run_privileged(
            client, podman_image_of(suite) if podman else image_of(suite), LABEL, detach=True,
            cgroupns="host", environment={"RUNTIME": runtime},
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            volumes={str(sockets): {"bind": "/run/dind", "mode": "rw"},
                     "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}})
    url = f"unix://{sockets}/docker.sock"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                inner = docker.DockerClient(base_url=url, timeout=120)
                break
            except Exception:
                log = sockets / "dockerd.log"
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {suite} engine did not start: "
                                       + (log.read_text()[-2000:] if log.exists() else "")) from None
                time.sleep(0.3)
        name = f"{'Podman' if podman else 'Docker'} {inner.version()['Version']}"
        for image in images:
            inner.images.load(b"".join(client.images.get(image).save(named=True)))
        inner.close()
        exec_in = ["docker", "exec", outer.id]
        profile = sockets / "default.json"
        if podman:  # containers-common's file, which this Podman applies
            profile.write_text(subprocess.run(
                [*exec_in, "cat", "/usr/share/containers/seccomp.json"], capture_output=True,
                text=True, check=True).stdout)
        else:
            profile.write_text(json.dumps(applied_default(url, exec_in), indent=1))
        yield Engine(url, name, _runtime_version(exec_in, runtime), profile, outer.id)
    finally:
        outer.remove(force=True, v=True)
        shutil.rmtree(sockets, ignore_errors=True)
        client.close()


def applied_default(url: str, exec_in: list[str]) -> dict[str, object]:
    """The engine's builtin default profile as it applies to a container with the default
    capabilities on this machine: read from the OCI config the engine wrote for one. (Debian's
    Docker 26 and 28 ship no default.json: it is compiled in.)"""
    started = subprocess.run(["docker", "-H", url, "run", "-d", "--network", "none", BUSYBOX,
                              "sleep", "60"], capture_output=True, text=True, check=True)
    container = started.stdout.strip()
    try:
        found = subprocess.run(
            [*exec_in, "sh", "-c", f"cat $(find /run /var/run -name config.json -path "
                                   f"'*{container}*' 2>/dev/null | head -n 1)"],
            capture_output=True, text=True, check=True).stdout
        seccomp: dict[str, object] = json.loads(found)["linux"]["seccomp"]
        return seccomp
    finally:
        subprocess.run(["docker", "-H", url, "rm", "-f", container], capture_output=True,
                       check=False)


def sweep() -> None:
    """Remove engines a killed run left behind."""
    client = docker.from_env()
    try:
        for leftover in client.containers.list(all=True, filters={"label": LABEL}):
            leftover.remove(force=True, v=True)
    finally:
        client.close()
