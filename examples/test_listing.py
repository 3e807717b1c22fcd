"""The classic demo: a container that lists a directory, recorded into a least-privilege profile.

`pytest --seccomp-record` writes seccomp-profiles/pytest-seccomp/busybox.json from `ls /`; a
`docker run` under it can still list `/`, but `mkdir` (never recorded) is refused.
"""

from __future__ import annotations

import docker

IMAGE = "pytest-seccomp/busybox:latest"


def test_lists_the_root_directory() -> None:
    client = docker.from_env()
    listing = client.containers.run(IMAGE, ["ls", "/"], remove=True).decode()
    assert {"bin", "etc", "proc"} <= set(listing.split())
