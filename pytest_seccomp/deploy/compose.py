"""Deploy with compose: an override file that puts each service under its recorded profile."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import SeccompError
from ..profiles.files import load_yaml
from ..profiles.model import Profile, write_atomic
from ..profiles.naming import profile_name_for_image


def service_profile(service: str, spec: dict[str, Any]) -> str:
    """The profile a service's containers were recorded under: its image's, or, for an image
    compose builds and names after the project, the service's own name."""
    image = spec.get("image")
    return profile_name_for_image(str(image)) if image else service


def write_compose_override(compose_file: Path, profile_dir: Path, output: Path) -> list[str]:
    """Write `output` (security_opt per service, paths relative to the compose file's
    directory, as compose resolves them); every service must have a profile."""
    project = load_yaml(compose_file, "compose file", "give the project's compose file.") or {}
    services = project.get("services") if isinstance(project, dict) else None
    if not isinstance(services, dict) or not services:
        raise SeccompError(f"{compose_file} defines no services; give the project's compose file.")
    base = compose_file.resolve().parent
    override: dict[str, Any] = {"services": {}}
    missing = []
    for service, spec in sorted(services.items(), key=lambda item: str(item[0])):
        name = service_profile(str(service), spec if isinstance(spec, dict) else {})
        profile = profile_dir.resolve() / f"{name}.json"
        if not profile.is_file():
            missing.append(f"{service} ({profile})")
            continue
        options = [f"seccomp={os.path.relpath(profile, base)}"]
        if Profile.load(profile).needs_nnp:  # made with --seccomp-nnp: it starts only so
            options.append("no-new-privileges:true")
        override["services"][service] = {"security_opt": options}
    if missing:
        raise SeccompError(
            "no recorded profile for service " + ", ".join(missing) + "; record the tests that "
            "start them with `pytest --seccomp-record`, then write the override again.")
    write_atomic(output, "# written by pytest-seccomp compose-override: each service under its "
                 "recorded seccomp profile\n" + yaml.safe_dump(override, sort_keys=True))
    return sorted(override["services"])
