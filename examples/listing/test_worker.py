"""A long-running service container, driven with `exec_run` the way tests poke at a database:
the processes started inside it are recorded into the image's profile too."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from docker.models.containers import Container

IMAGE = "pytest-seccomp/busybox:latest"


@pytest.fixture(scope="module")
def worker() -> Iterator[Container]:
    client = docker.from_env()
    container = client.containers.run(IMAGE, ["sleep", "300"], detach=True)
    yield container
    container.remove(force=True)
    client.close()


def test_writes_and_reads_a_file(worker: Container) -> None:
    code, _ = worker.exec_run(["sh", "-c", "mkdir -p /data && echo hello > /data/greeting"])
    assert code == 0
    code, out = worker.exec_run(["cat", "/data/greeting"])
    assert (code, out) == (0, b"hello\n")


def test_reports_disk_usage(worker: Container) -> None:
    code, out = worker.exec_run(["du", "-s", "/bin"])
    assert code == 0 and out.split()[1] == b"/bin"
