"""The classic demo: a container that lists a directory, recorded into a least-privilege profile.

`pytest --seccomp-record` writes seccomp-profiles/listing.json from `ls /` alone; under it
`ls /` still runs, but `ls -l /` (the `demo` test, deselected by default) is broken: busybox
reads /etc/passwd and /etc/group for owner names, `read` is refused, `ls` still exits 0 and
prints numeric owners, so the test, which asserts on names, fails, and enforce names `read`.
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
