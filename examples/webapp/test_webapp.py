"""The web app's integration tests; every container they start is recorded or enforced."""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from typing import Any

import pytest
from docker.models.containers import Container

Api = Callable[[str], Any]


def test_health(api: Api) -> None:
    assert api("/health") == {"ok": True}


def test_visits_are_counted(api: Api) -> None:
    first = api("/visit/home")["visits"]
    assert api("/visit/home")["visits"] == first + 1


def test_visits_are_logged_in_postgres(api: Api, postgres: Container) -> None:
    api("/visit/about")
    assert ["about", 1] in api("/log")["log"]
    code, out = postgres.exec_run(["psql", "-tA", "-c", "SELECT count(*) FROM visits"])
    assert code == 0 and int(out) >= 1


def test_redis_answers(redis: Container) -> None:
    assert redis.exec_run(["redis-cli", "ping"]).output == b"PONG\n"


def test_unknown_page(api: Api) -> None:
    with pytest.raises(urllib.error.HTTPError) as error:
        api("/nope")
    assert error.value.code == 404
