"""The language examples: a Go, a Node.js and a JVM service, each in a container started
through the docker SDK and reached on a published port. Their runtimes make syscalls by time
and load (the Go scheduler's signals, the JVM's GC and JIT threads, libuv's thread pool), so
each suite also sends 50 requests at once."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest


class Service:
    """A running service: ask it something over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, timeout: float = 30) -> str:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as answer:
            return answer.read().decode()

    def many(self, paths: list[str]) -> list[str]:
        """Every path at once, from as many client threads."""
        with ThreadPoolExecutor(max_workers=len(paths)) as pool:
            return list(pool.map(self.get, paths))


def start(image: str) -> Callable[[], Iterator[Service]]:
    """A module-scoped fixture running `image` until the module's tests are done; its stop
    must be clean (exit 0, or 143 where the runtime exits on SIGTERM as the JVM does)."""

    @pytest.fixture(scope="module")
    def running() -> Iterator[Service]:
        client = docker.from_env()
        container = client.containers.run(image, detach=True,
                                          ports={"8080/tcp": ("127.0.0.1", None)})
        try:
            container.reload()
            service = Service(f"http://127.0.0.1:{container.ports['8080/tcp'][0]['HostPort']}")
            deadline = time.monotonic() + 60
            while True:
                try:
                    assert service.get("/health", timeout=2) == "ok"
                    break
                except OSError:
                    container.reload()
                    if container.status != "running" or time.monotonic() > deadline:
                        raise RuntimeError(f"{image} did not come up ({container.status}): "
                                           + container.logs().decode()[-2000:]) from None
                    time.sleep(0.2)
            yield service
            container.stop(timeout=10)
            code = container.wait(timeout=30)["StatusCode"]
            assert code in (0, 143), f"{image} stopped with exit {code}: " \
                + container.logs().decode()[-2000:]
        finally:
            container.remove(force=True)
            client.close()

    return running
