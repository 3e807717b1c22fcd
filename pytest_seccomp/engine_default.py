"""Find the engine's own default seccomp profile: the ceiling no recorded profile may exceed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ProfileError
from .profile import Profile

DOCKER_DEFAULT = Path("/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json")
PODMAN_DEFAULT = Path("/usr/share/containers/seccomp.json")


@dataclass(frozen=True)
class EngineDefault:
    path: Path
    profile: Profile


def find_default(engine: str, explicit: str | None = None) -> EngineDefault:
    """The default profile of `engine` ("docker" or "podman"), or the file the user named."""
    if explicit:
        path = Path(explicit)
        hint = "check the path given to --seccomp-default-profile / seccomp_default_profile"
    elif engine == "podman":
        path = PODMAN_DEFAULT
        hint = "install Debian's 'containers-common' (it ships Podman's seccomp.json)"
    else:
        path = DOCKER_DEFAULT
        hint = ("install Debian's 'golang-github-docker-docker-dev' (it ships the engine's "
                "profiles/seccomp/default.json), or pass --seccomp-default-profile PATH")
    if not path.is_file():
        raise ProfileError(
            f"the {engine} engine's default seccomp profile was not found at {path}; recorded "
            f"profiles are built from it so they are never wider than the default: {hint}."
        )
    profile = Profile.load(path)
    if not profile.denies_by_default:
        raise ProfileError(f"{path} does not deny by default; it cannot serve as a ceiling.")
    return EngineDefault(path=Path(os.path.realpath(path)), profile=profile)
