"""The compose project's integration tests: over HTTP, through the docker CLI, compose exec."""

from __future__ import annotations

import subprocess
import urllib.request


def visits(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.read())


def test_counts_visits(web: str) -> None:
    first = visits(web)
    assert visits(web) == first + 1


def test_cache_answers_ping_through_compose_exec(web: str, docker_compose_project_name: str,
                                                  docker_compose_file: str) -> None:
    out = subprocess.run(["docker", "compose", "-p", docker_compose_project_name, "-f",
                          docker_compose_file, "exec", "-T", "cache", "redis-cli", "ping"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PONG"


def test_docker_cli_runs_a_one_off_container() -> None:
    out = subprocess.run(["docker", "run", "--rm", "pytest-seccomp/busybox:latest", "echo", "hi"],
                         capture_output=True, text=True, check=True)
    assert out.stdout == "hi\n"
