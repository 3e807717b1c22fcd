"""Files belong to the user who ran pytest, not to root: what `sudo pytest --seccomp-record`
writes into a developer's checkout stays editable and committable by them."""

from __future__ import annotations

import os
from pathlib import Path


def owner_for(path: Path) -> tuple[int, int] | None:
    """Who should own what root writes at `path`: the user sudo ran us for, else the owner of
    the nearest directory that exists (a checkout bind-mounted into a root container); None
    when we are not root (our files are ours already) or nothing is to be changed."""
    if os.geteuid() != 0:
        return None
    sudo_uid, sudo_gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
    if sudo_uid.isdigit() and sudo_gid.isdigit():
        return int(sudo_uid), int(sudo_gid)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    info = existing.stat()
    return None if info.st_uid == 0 else (info.st_uid, info.st_gid)


def make_dirs(directory: Path, owner: tuple[int, int] | None) -> None:
    """`mkdir -p`, each directory made here given to `owner`."""
    missing = []
    probe = directory
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for made in reversed(missing):
        made.mkdir(exist_ok=True)
        if owner is not None:
            os.chown(made, *owner)
