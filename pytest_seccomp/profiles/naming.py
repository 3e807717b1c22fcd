"""Profile names: from image references, or chosen by a test; always safe as file paths."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import SeccompError

# One path component of a Docker repository (distribution/reference grammar, lower-case).
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
# A name a user chooses: letters, digits, '.', '_', '-'; '/' separates sub-directories.
_USER_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")


def is_image_id(reference: str) -> bool:
    """True for `sha256:...` or a bare hex id, which name no repository."""
    return bool(_IMAGE_ID.match(reference))


def profile_name_for_image(reference: str) -> str:
    """`docker.io/library/redis:7` -> `redis`; `host:5000/team/app@sha256:..` -> `team/app`.

    The registry and tag are dropped so a version bump or a mirror keeps the same profile.
    """
    ref = reference.strip()
    ref = ref.split("@", 1)[0]
    parts = ref.split("/")
    last = parts[-1]
    if ":" in last:
        parts[-1] = last.split(":", 1)[0]
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    parts = [p.lower() for p in parts]
    if not parts or not all(_COMPONENT.match(p) for p in parts):
        raise SeccompError(
            f"cannot derive a seccomp profile name from image reference {reference!r}: it is not "
            "a valid Docker image reference. Use a reference like 'redis:7' or choose a name "
            "with @pytest.mark.seccomp(profile='name')."
        )
    return "/".join(parts)


COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"


def compose_built_service(labels: dict[str, str], image: str) -> str | None:
    """The compose service whose image compose built and named after the project
    (`<project>-<service>`, v1: `<project>_<service>`): projects are often named per run
    (pytest-docker: `pytest<pid>`), so the profile is named after the stable service instead."""
    project, service = labels.get(COMPOSE_PROJECT), labels.get(COMPOSE_SERVICE)
    if not project or not service:
        return None
    repository = image.split("@", 1)[0].rsplit(":", 1)[0] if "/" not in image.rsplit(":", 1)[-1] \
        else image.split("@", 1)[0]
    if repository.lower() in (f"{project}-{service}".lower(), f"{project}_{service}".lower()):
        return service
    return None


def validate_profile_name(name: str) -> str:
    """Refuse names that could leave the profile directory (`..`, absolute paths, odd characters)."""
    parts = name.split("/")
    if not name or any(not _USER_COMPONENT.match(p) or p in {".", ".."} for p in parts):
        raise SeccompError(
            f"invalid seccomp profile name {name!r}: use letters, digits, '.', '_' and '-', with "
            "'/' between sub-directories, no '..' and no leading '/' (e.g. 'redis' or 'team/api')."
        )
    return name


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it, for messages."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except (ValueError, OSError):
        return str(path)
