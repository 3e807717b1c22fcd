"""The engine proxy against the real engine and real clients: everything but container creation
passes through unchanged (streams, hijacked connections, builds), bad input and a gone engine
get clear answers, and nothing is left behind by clients that hang or drop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from pytest_seccomp.interception.engine import user_engine
from pytest_seccomp.interception.proxy import EngineProxy

from .conftest import BUSYBOX


class Notes:
    """The session's side of the proxy, reduced to what the proxy told it."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.started: list[str] = []
        self.execs: list[Any] = []
        self.failures: list[Exception] = []
        self.builds = 0

    def before_create(self, api: Any, config: dict[str, Any], name: str | None) -> None:
        config.setdefault("Labels", {})["io.pytest-seccomp.test"] = "proxied"

    def after_create(self, api: Any, container_id: str, config: dict[str, Any],
                     name: str | None) -> None:
        self.created.append(container_id)

    def after_start(self, container_id: str) -> None:
        self.started.append(container_id)

    def after_exec_create(self, container_id: str, cmd: Any) -> None:
        self.execs.append(cmd)

    def explain_failure(self, container: str | None, exc: Exception) -> Exception | None:
        self.failures.append(exc)
        return None

    def building(self, active: bool) -> None:
        self.builds += active


@pytest.fixture
def proxy(busybox_image: str) -> Iterator[tuple[EngineProxy, Notes, dict[str, str]]]:
    notes = Notes()
    engine = EngineProxy(user_engine(), notes)
    url = engine.start()
    env = {**os.environ, "DOCKER_HOST": url}
    try:
        yield engine, notes, env
    finally:
        engine.stop()


def docker_cli(env: dict[str, str], *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True,
                          check=False, timeout=120, **kwargs)


def test_socket_is_private(proxy):
    _, _, env = proxy
    path = Path(env["DOCKER_HOST"].removeprefix("unix://"))
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_create_is_rewritten_and_noted_the_rest_passes(proxy):
    _, notes, env = proxy
    run = docker_cli(env, "run", "--rm", "--name", "proxied-run", BUSYBOX, "echo", "through")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "through\n"
    assert len(notes.created) == 1 and notes.started  # started by name or id
    c = docker.DockerClient(base_url=env["DOCKER_HOST"])
    try:
        box = c.containers.run(BUSYBOX, ["sleep", "30"], detach=True)
        assert box.labels["io.pytest-seccomp.test"] == "proxied"
        assert box.exec_run(["true"])[0] == 0
        assert notes.execs == [["true"]]
        box.remove(force=True)
    finally:
        c.close()


def test_stdin_through_a_hijacked_connection(proxy):
    _, _, env = proxy
    data = "x" * 200_000 + "\n"
    run = docker_cli(env, "run", "--rm", "-i", BUSYBOX, "wc", "-c", input=data)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(len(data))


def test_logs_follow_of_a_chatty_container_arrive_whole(proxy):
    """200,000 lines through the proxy as one chunked stream. The container has ended first:
    Docker 20.10's json-file reader itself drops lines from `logs -f` of a container still
    writing on a loaded machine (seen 4 in 20 straight to the engine, no proxy involved)."""
    _, _, env = proxy
    started = docker_cli(env, "run", "-d", BUSYBOX, "seq", "1", "200000")
    container = started.stdout.strip()
    try:
        assert docker_cli(env, "wait", container).stdout.strip() == "0"
        logs = docker_cli(env, "logs", "-f", container)
        assert logs.returncode == 0
        lines = logs.stdout.splitlines()
        assert len(lines) == 200_000 and lines[-1] == "200000"
    finally:
        docker_cli(env, "rm", "-f", container)


@pytest.mark.parametrize("buildkit", ["0", "1"])
def test_docker_build_passes_through_classic_and_buildkit(proxy, tmp_path, buildkit):
    _, notes, env = proxy
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN mkdir /built\nCOPY f /f\n")
    (tmp_path / "f").write_text("payload\n")
    tag = f"pytest-seccomp/proxy-build-{buildkit}:latest"
    # Debian's CLI (20.10) speaks BuildKit itself (/session and /grpc upgrades)
    cli = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
    built = subprocess.run([cli, "build", "-t", tag, str(tmp_path)], capture_output=True,
                           text=True, timeout=300, check=False,
                           env={**env, "DOCKER_BUILDKIT": buildkit})
    assert built.returncode == 0, built.stderr
    assert notes.builds >= 1 or buildkit == "1"
    run = docker_cli(env, "run", "--rm", tag, "cat", "/f")
    assert run.stdout == "payload\n"
    docker_cli(env, "rmi", "-f", tag)


def test_docker_cp_both_ways(proxy, tmp_path):
    _, _, env = proxy
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(3 * 1024 * 1024))
    container = docker_cli(env, "create", BUSYBOX, "true").stdout.strip()
    try:
        assert docker_cli(env, "cp", str(blob), f"{container}:/blob").returncode == 0
        assert docker_cli(env, "cp", f"{container}:/blob", str(tmp_path / "back")).returncode == 0
        assert (tmp_path / "back").read_bytes() == blob.read_bytes()
    finally:
        docker_cli(env, "rm", "-f", container)


def raw(env: dict[str, str], data: bytes, read: bool = True) -> bytes:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(env["DOCKER_HOST"].removeprefix("unix://"))
    sock.settimeout(10)
    sock.sendall(data)
    answer = b""
    while read:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    sock.close()
    return answer


def test_keep_alive_head_and_ping(proxy):
    _, _, env = proxy
    two = (b"HEAD /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
           b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
    answer = raw(env, two)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.endswith(b"OK")


def test_malformed_request_gets_400_and_the_proxy_serves_on(proxy):
    _, _, env = proxy
    answer = raw(env, b"THIS IS NOT HTTP\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"malformed request" in answer
    bad_json = raw(env, b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\n"
                        b"Connection: close\r\n\r\n{{{")
    assert bad_json.startswith(b"HTTP/1.1 400 ") and b"not JSON" in bad_json
    assert b"HTTP/1.1 200 OK" in raw(env, b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_thousand_dropped_connections_leave_nothing_behind(proxy):
    engine, _, env = proxy
    raw(env, b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")  # warm up
    threads, fds = threading.active_count(), open_fds()
    path = env["DOCKER_HOST"].removeprefix("unix://")
    requests = [b"", b"GET /containers/json HTTP/1.1\r\nHost: d\r\n\r\n",
                b"GET /events HTTP/1.1\r\nHost: d\r\n\r\n", b"POST /containers/create HTTP/1.1\r\n"]
    for i in range(1000):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        sock.sendall(requests[i % len(requests)])
        sock.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (engine.connections or threading.active_count() > threads):
        time.sleep(0.1)
    assert engine.connections == 0
    assert threading.active_count() <= threads
    assert open_fds() <= fds


def test_a_hung_client_does_not_block_others_and_ends_with_the_proxy(busybox_image):
    notes = Notes()
    engine = EngineProxy(user_engine(), notes)
    env = {**os.environ, "DOCKER_HOST": engine.start()}
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hung.connect(env["DOCKER_HOST"].removeprefix("unix://"))
    hung.sendall(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 100\r\n\r\n{")
    try:
        assert docker_cli(env, "run", "--rm", BUSYBOX, "true").returncode == 0
        assert engine.connections >= 1
    finally:
        t0 = time.monotonic()
        engine.stop()
        hung.close()
    assert time.monotonic() - t0 < 5
    assert engine.connections == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("pytest-seccomp-proxy")]


def test_engine_gone_answers_502_naming_the_socket(tmp_path):
    notes = Notes()
    missing = tmp_path / "no-engine.sock"
    engine = EngineProxy(f"unix://{missing}", notes)
    env = {**os.environ, "DOCKER_HOST": engine.start()}
    try:
        answer = raw(env, b"GET /version HTTP/1.1\r\nHost: d\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 502 ")
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert str(missing) in body["message"] and "does not answer" in body["message"]
        cli = docker_cli(env, "ps")
        assert cli.returncode != 0 and str(missing) in cli.stderr
        assert notes.failures and isinstance(notes.failures[0], ConnectionError)
    finally:
        engine.stop()
