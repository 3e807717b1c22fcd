"""pytest-docker starts the compose project once per session (`docker compose up --build -d`)
and takes it down at the end; pytest-seccomp records and enforces its services' containers."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def docker_cleanup() -> str:
    """Down, and remove the image compose built: pytest-docker names the project (and so the
    image) after the run's pid, so each run's would otherwise stay behind."""
    return "down -v --rmi local"


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(Path(__file__).parent / "docker-compose.yml")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def web(docker_ip: str, docker_services) -> str:
    url = f"http://{docker_ip}:{docker_services.port_for('web', 8000)}/"
    docker_services.wait_until_responsive(check=lambda: answers(url), timeout=60, pause=0.2)
    return url
