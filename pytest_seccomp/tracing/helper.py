"""The tracer in a helper container, for a pytest process that cannot load BPF on the engine's
kernel itself: a developer in the `docker` group, tests in a container with the engine's socket
mounted, an engine in docker-in-docker.

The helper runs where the containers run, as Inspektor Gadget and Tracee do, with the one
capability it needs (not --privileged) in the host's cgroup namespace. Its image is made here,
once per version, from two files the package ships (bpf/helper.c linked statically, and the
compiled eBPF object), imported as a FROM-scratch image: nothing is pulled. The session talks
to it over the container's attached stream (protocol in bpf/helper.c); when that connection
closes, however the session ended, the helper's stdin closes and it exits, and the engine
removes it (AutoRemove). A label and a sweep at the next start catch anything left.
"""

from __future__ import annotations

import hashlib
import io
import socket
import struct
import tarfile
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import TracerError
from ..version import __version__
from .bpf.build import compiled_object, helper_executable
from .placement import LABEL_HELPER

if TYPE_CHECKING:
    from .contract import LoadPlan

REPOSITORY = "pytest-seccomp-tracer"
LABEL_IMAGE = "io.pytest-seccomp.helper-image"  # on the image: its untagged leftovers are ours
# mount cgroup2, load BPF, attach tracepoints: CAP_SYS_ADMIN implies CAP_BPF and CAP_PERFMON,
# which Docker 20.10 does not know by name
HELPER_CAPABILITIES = ("SYS_ADMIN",)
_STDOUT, _STDERR = 1, 2  # the attach stream's frame types
_STARTING_GRACE = 120.0  # s: a helper created this recently is being started, not left over


def image_files(machine: str) -> dict[str, bytes]:
    """What the helper image holds: the loader and the object for the engine's machine."""
    return {"helper": helper_executable(machine).read_bytes(),
            "tracer.bpf.o": compiled_object(machine).read_bytes()}


def image_tag(files: dict[str, bytes]) -> str:
    """The package version and the files' digest: a changed loader or object gets a new image,
    even between two builds of one version."""
    digest = hashlib.sha256(b"".join(files[name] for name in sorted(files))).hexdigest()[:12]
    return f"{REPOSITORY}:{__version__}-{digest}"


def _image_tar(files: dict[str, bytes]) -> bytes:
    """A root filesystem: the files, and the directory where the helper mounts cgroup2."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        directory = tarfile.TarInfo("cgroup2")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(directory)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def ensure_image(client: Any, machine: str) -> str:
    """The helper image for `machine`, imported into the engine unless it is there already."""
    import docker.errors

    files = image_files(machine)
    tag = image_tag(files)
    try:
        client.api.inspect_image(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    # the whole reference as the repository: Podman's compat API ignores a separate tag
    client.api.import_image_from_data(_image_tar(files), repository=tag,
                                      changes=[f"LABEL {LABEL_IMAGE}={__version__}"])
    client.api.inspect_image(tag)  # the import said nothing on failure: this does
    for image in client.api.images(name=REPOSITORY):  # earlier builds of this same version
        for other in image.get("RepoTags") or ():
            if other.rpartition("/")[2].startswith(f"{REPOSITORY}:{__version__}-") and \
                    not other.endswith(tag):
                try:
                    client.api.remove_image(other)
                except docker.errors.APIError:  # in use by a running helper: kept
                    pass
    return tag


def sweep(client: Any) -> None:
    """Remove helpers left behind by sessions that ended before theirs could be removed: never
    one running (it serves a live session, an xdist sibling's or another run's), nor one just
    created (a sibling about to start it). Then untagged helper images no helper uses."""
    for container in client.api.containers(all=True, filters={"label": LABEL_HELPER}):
        state, created = container.get("State"), float(container.get("Created") or 0)
        if state in ("exited", "dead") or (state == "created" and
                                           time.time() - created > _STARTING_GRACE):
            try:
                client.api.remove_container(container["Id"], force=True)
            except Exception:  # removed meanwhile (AutoRemove)
                pass
    # helper images that lost their tag: two sessions imported the same build at once (xdist
    # workers) and the second import took the tag
    for image in client.api.images(filters={"dangling": True, "label": LABEL_IMAGE}):
        try:
            client.api.remove_image(image["Id"])
        except Exception:  # a running helper still uses it: removed by a later sweep
            pass


class HelperTracer:
    """The tracer loaded by a helper container; answers the Loaded protocol of tracer.py."""

    def __init__(self, engine: str, plan: LoadPlan, run_id: str) -> None:
        import docker

        from ..interception.engine import engine_client

        self.engine = engine
        try:
            self._client = engine_client(engine, 120, version=None)
            info = self._client.api.info()
        except Exception as exc:
            raise TracerError(f"the container engine at {engine} cannot be reached to start the "
                              f"tracer's helper container ({exc}).") from None
        machine = str(info.get("Architecture") or "x86_64")  # Podman says it as Go does
        self.machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
        self._stderr = b""
        self._buffer = bytearray()
        self._asking = threading.Lock()  # one request at a time on the stream
        self._container: str | None = None
        self._socket: Any = None
        self._attached: Any = None
        try:
            sweep(self._client)
            image = ensure_image(self._client, self.machine)
            self._start(image, plan, run_id)
            self._maps = self._read_maps(self._answer())
        except docker.errors.DockerException as exc:
            self.close()
            raise TracerError(
                f"the tracer's helper container could not be started through the engine at "
                f"{engine} ({getattr(exc, 'explanation', None) or exc}). It needs CAP_SYS_ADMIN, "
                "no seccomp or AppArmor confinement and the host's cgroup namespace; run pytest "
                "as root on the engine's host instead (--seccomp-tracer=local).") from None
        except BaseException:
            self.close()
            raise

    def _start(self, image: str, plan: LoadPlan, run_id: str) -> None:
        api = self._client.api
        # what loading and attaching needs, not --privileged (which also fails where the engine's
        # own bounding set lacks a capability, as in a container): unconfined, so its own
        # syscalls are never recorded; the host's cgroup namespace, to mount the whole hierarchy
        host_config = api.create_host_config(
            cap_add=list(HELPER_CAPABILITIES), security_opt=["seccomp=unconfined",
                                                              "apparmor=unconfined"],
            cgroupns="host", network_mode="none", auto_remove=True)
        sizes = ",".join(f"{name}={entries}" for name, entries in plan.sizes.items())
        created = api.create_container(
            image, command=["/helper", "/tracer.bpf.o", plan.settings.hex(), ",".join(plan.programs),
                            sizes],
            stdin_open=True, labels={LABEL_HELPER: run_id},
            host_config=host_config, name=None)
        self._container = str(created["Id"])
        attached = api.attach_socket(self._container, params={
            "stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        self._socket = getattr(attached, "_sock", attached)  # the raw socket under SocketIO
        self._attached = attached  # (keeps the response object, and so the socket, open)
        api.start(self._container)

    # -- the protocol ------------------------------------------------------------------------
    def _receive(self, size: int) -> bytes:
        """`size` bytes of the helper's stdout; its stderr is kept for error messages."""
        while len(self._buffer) < size:
            header = self._recv_exactly(8)
            kind, length = header[0], struct.unpack(">I", header[4:])[0]
            data = self._recv_exactly(length)
            if kind == _STDERR:
                self._stderr += data
            else:
                self._buffer += data
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _recv_exactly(self, size: int) -> bytes:
        chunks = []
        while size:
            try:
                chunk = self._socket.recv(min(size, 1 << 20))
            except OSError:
                chunk = b""
            if not chunk:
                raise self._gone()
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _gone(self) -> TracerError:
        said = self._stderr.decode(errors="replace").strip()
        return TracerError(
            f"the seccomp tracer's helper container ({(self._container or '?')[:12]}) stopped"
            f"{': ' + said if said else ''}; syscalls made since were not seen. The recording is "
            "incomplete, so no profile is written; run again.")

    def _answer(self) -> bytes:
        kind, size = struct.unpack("<cI", self._receive(5))
        payload = self._receive(size)
        if kind == b"E":
            raise TracerError(f"the tracer's helper container: {payload.decode(errors='replace')}")
        return payload

    def _ask(self, kind: bytes, payload: bytes) -> bytes:
        with self._asking:
            if self._socket is None:
                raise TracerError("the tracer's helper container was stopped")
            try:
                self._socket.sendall(struct.pack("<cI", kind, len(payload)) + payload)
            except OSError:
                raise self._gone() from None
            return self._answer()

    @staticmethod
    def _read_maps(payload: bytes) -> dict[str, tuple[int, int, int]]:
        """The ready message: map name -> (key size, value size, cpus)."""
        (count,), at = struct.unpack_from("<I", payload), 4
        maps = {}
        for _ in range(count):
            length = payload[at]
            name = payload[at + 1:at + 1 + length].decode()
            at += 1 + length
            maps[name] = struct.unpack_from("<III", payload, at)
            at += 12
        return maps

    # -- the Loaded protocol ------------------------------------------------------------------
    def tables(self, names: Sequence[str]) -> tuple[bool, dict[str, list[tuple[bytes, bytes]]]]:
        payload = self._ask(b"T", b"\0".join(name.encode() for name in names))
        alive, at = bool(payload[0]), 1
        tables: dict[str, list[tuple[bytes, bytes]]] = {}
        for name in names:
            key_size, value_size, _ = self._maps[name]
            (count,) = struct.unpack_from("<I", payload, at)
            at += 4
            entries = []
            for _ in range(count):
                entries.append((payload[at:at + key_size],
                                payload[at + key_size:at + key_size + value_size]))
                at += key_size + value_size
            tables[name] = entries
        return alive, tables

    def cpus(self, name: str) -> int:
        return self._maps[name][2]

    def changes(self) -> int | None:
        return None  # a round trip, as long as reading every map

    def run_handshake(self, cgroup_name: str, errno: int) -> int | None:
        self._ask(b"H", cgroup_name.encode())
        return None  # its confined child runs in the new cgroup

    def close(self) -> None:
        """Close the stream (the helper exits) and remove the container, gone or not."""
        if self._socket is not None:
            for close in (lambda: self._socket.shutdown(socket.SHUT_RDWR), self._socket.close,
                          self._attached.close):
                try:
                    close()
                except Exception:
                    pass
            self._socket = None
        if self._container is not None:
            try:  # it is exiting (its stdin closed): force covers one that hangs
                self._client.api.remove_container(self._container, force=True)
            except Exception:  # gone already, or its AutoRemove is under way
                pass
            self._container = None
        self._client.close()
