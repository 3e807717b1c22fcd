"""The engine's default when no file on disk holds it: a release this package does not ship is
downloaded once from moby's repository (here a local mirror), kept, verified, and offline the
error names the exact command, the flag of the caller, and the nearest shipped release."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_seccomp.errors import ProfileError
from pytest_seccomp.profiles.engine_default import (
    SHIPPED,
    EngineInfo,
    builtin_default,
    find_default,
    nearest_shipped,
    version_default,
)

RELEASE = "v27.3.1"  # shipped by no one: the download path


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    served = tmp_path / "mirror" / RELEASE / "profiles" / "seccomp"
    served.mkdir(parents=True)
    (served / "default.json").write_bytes((SHIPPED / "docker-20.10.24.json").read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tmp_path / "mirror"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTEST_SECCOMP_DEFAULTS_URL", f"http://127.0.0.1:{server.server_port}")
    yield str(tmp_path / "cache")
    server.shutdown()
    server.server_close()


def test_an_unshipped_release_is_downloaded_once_then_kept(mirror: str, monkeypatch, capsys):
    first = builtin_default("27.3.1+dfsg1")
    assert "downloading it once" in capsys.readouterr().err
    kept = Path(mirror) / "pytest-seccomp" / "engine-defaults" / f"docker-{RELEASE}.json"
    assert first.path == kept.resolve()
    assert kept.read_bytes() == (SHIPPED / "docker-20.10.24.json").read_bytes()
    monkeypatch.setenv("PYTEST_SECCOMP_DEFAULTS_URL", "http://127.0.0.1:9")  # offline now
    again = find_default(EngineInfo(version="27.3.1"))
    assert again.path == kept.resolve() and "downloading" not in capsys.readouterr().err
    kept.unlink()
    with pytest.raises(ProfileError) as offline:
        version_default("27.3.1")
    said = str(offline.value)
    assert f"curl -fsSL http://127.0.0.1:9/{RELEASE}/profiles/seccomp/default.json -o" in said
    assert "pass --default PATH" in said and "--seccomp-default-profile" not in said
    assert "the nearest release this package ships is 26.1.5" in said


def test_a_shipped_release_needs_no_network(monkeypatch):
    monkeypatch.setenv("PYTEST_SECCOMP_DEFAULTS_URL", "http://127.0.0.1:9")
    assert find_default(EngineInfo(version="20.10.24+dfsg1")).path.name == "docker-20.10.24.json"
    found, what = version_default("28.5")
    assert found.path.name == "docker-28.5.2.json" and "28.5.2" in what


@pytest.mark.parametrize(("version", "nearest"), [
    ("29.1.0", "28.5.2"), ("27.3.1", "26.1.5"), ("19.03.15", "20.10.24"), ("24.0", "20.10.24"),
])
def test_the_nearest_shipped_release(version: str, nearest: str):
    assert nearest_shipped(version) == nearest
