"""Integration fixtures of the example web app: Redis, PostgreSQL and the app, each in a
container started through the docker SDK (so pytest-seccomp records and enforces all three)."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest
from docker.models.containers import Container
from docker.models.networks import Network


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} was not ready within {timeout:.0f} s")


@pytest.fixture(scope="session")
def client() -> Iterator[docker.DockerClient]:
    c = docker.from_env()
    yield c
    c.close()


@pytest.fixture(scope="session")
def network(client: docker.DockerClient) -> Iterator[Network]:
    net = client.networks.create(f"webapp-{uuid.uuid4().hex[:8]}")
    yield net
    net.remove()


def service(client: docker.DockerClient, network: Network, image: str, name: str,
            **kwargs: Any) -> Container:
    return client.containers.run(image, detach=True, name=f"{name}-{network.name}",
                                 network=network.name, **kwargs)


def stop(container: Container) -> None:
    container.stop(timeout=10)
    container.remove()


@pytest.fixture(scope="session")
def redis(client: docker.DockerClient, network: Network) -> Iterator[Container]:
    container = service(client, network, "pytest-seccomp/redis:latest", "redis")
    wait_until(lambda: b"Ready to accept connections" in container.logs(), "redis")
    yield container
    stop(container)


@pytest.fixture(scope="session")
def postgres(client: docker.DockerClient, network: Network) -> Iterator[Container]:
    container = service(client, network, "pytest-seccomp/postgres:latest", "postgres")
    wait_until(lambda: container.exec_run(["pg_isready", "-q"]).exit_code == 0, "postgres")
    yield container
    stop(container)


@pytest.fixture(scope="session")
def app_url(client: docker.DockerClient, network: Network, redis: Container,
            postgres: Container) -> Iterator[str]:
    container = service(
        client, network, "pytest-seccomp/webapp:latest", "webapp",
        environment={"REDIS_HOST": redis.name,
                     "DATABASE_URL": f"host={postgres.name} user=postgres dbname=postgres"},
        ports={"8000/tcp": ("127.0.0.1", None)},
    )
    container.reload()
    port = container.ports["8000/tcp"][0]["HostPort"]
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return get(url + "/health")["ok"] is True
        except OSError:
            return False

    wait_until(healthy, "the web app")
    yield url
    stop(container)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture
def api(app_url: str) -> Callable[[str], Any]:
    """GET a path of the app and decode its JSON answer."""
    return lambda path: get(app_url + path)
