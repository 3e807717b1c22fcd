"""The classic demo: a container that lists a directory, recorded into a least-privilege profile.

`pytest --seccomp-record` writes seccomp-profiles/listing.json from `ls /` alone. Under it `ls /`
still runs (with or without no-new-privileges), but making a directory (a `demo` test,
deselected by default) is refused, and enforce names `mkdir`.

Recorded with `--seccomp-nnp` (the tightest profile, for deployments with no-new-privileges),
even `ls -l /` is broken: busybox reads /etc/passwd and /etc/group for owner names, `read` is
refused (without no-new-privileges the runtime itself needs `read`, so the default profile
allows it), `ls` still exits 0 and prints numeric owners, the test, which asserts on names,
fails, and enforce names `read`.
"""

from __future__ import annotations

import docker
import pytest

IMAGE = "pytest-seccomp/busybox:latest"


@pytest.mark.seccomp(profile="listing")
def test_lists_the_root_directory() -> None:
    client = docker.from_env()
    listing = client.containers.run(IMAGE, ["ls", "/"], remove=True).decode()
    assert {"bin", "etc", "proc"} <= set(listing.split())


@pytest.mark.demo
@pytest.mark.seccomp(profile="listing")
def test_long_listing_shows_owner_names() -> None:
    client = docker.from_env()
    listing = client.containers.run(IMAGE, ["ls", "-l", "/"], remove=True).decode()
    assert " root " in listing, listing


@pytest.mark.demo
@pytest.mark.seccomp(profile="listing")
def test_makes_a_directory() -> None:
    client = docker.from_env()
    client.containers.run(IMAGE, ["mkdir", "/made"], remove=True)
