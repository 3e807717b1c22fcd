"""Find the running engine's own default seccomp profile: the ceiling no recorded profile may
exceed, on any install. In order: the file the user named; the profile the daemon is configured
with (`docker info`'s SecurityOptions); Podman's from containers-common; for a Docker whose
version is known, this package's copy of exactly that release's default (20.10.24, 26.1.5,
28.5.2), else that release's builtin profile from its own repository (moby/moby
`profiles/seccomp/default.json` at tag `v<version>`), downloaded once into the user's cache,
verified, and kept; only for an engine whose version is unknown, the distribution's copy
(Debian's default.json), which belongs to one release."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProfileError
from .model import Profile, write_atomic

DOCKER_DEFAULT = Path("/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json")
PODMAN_DEFAULT = Path("/usr/share/containers/seccomp.json")
MOBY = "https://raw.githubusercontent.com/moby/moby"
DEFAULTS_URL_ENV = "PYTEST_SECCOMP_DEFAULTS_URL"  # a mirror of MOBY (or a local server)
PLUGIN_FLAG = "--seccomp-default-profile=PATH"  # how pytest is given a default; the CLI's: --default


@dataclass(frozen=True)
class EngineDefault:
    path: Path
    profile: Profile


@dataclass(frozen=True)
class EngineInfo:
    """What the engine says of itself, as far as the ceiling is concerned."""

    kind: str = "docker"  # or "podman"
    version: str = ""  # e.g. "20.10.24+dfsg1"
    seccomp_profile: str = ""  # `docker info`: "default"/"builtin", or the daemon's own file
    kernel: str = ""  # the engine host's kernel release (`docker version`'s KernelVersion)
    arch: str = ""  # the engine's architecture as Go names it (`docker version`'s Arch: amd64)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-seccomp" / "engine-defaults"


def release_tag(version: str) -> str | None:
    """`20.10.24+dfsg1` -> `v20.10.24`: the engine's release, without a distribution's suffix."""
    match = re.match(r"^v?(\d+\.\d+\.\d+)", version)
    return f"v{match.group(1)}" if match else None


def _verified(path: Path) -> EngineDefault:
    profile = Profile.load(path)
    if not profile.denies_by_default:
        raise ProfileError(f"{path} does not deny by default; it cannot serve as a ceiling.")
    return EngineDefault(path=Path(os.path.realpath(path)), profile=profile)


def _shipped_index() -> dict[str, dict[str, str]]:
    """The shipped defaults by release: {"28.5.2": {"file": ..., "engine": ..., ...}}."""
    index_path = SHIPPED / "index.json"
    index: dict[str, dict[str, str]] = json.loads(index_path.read_text()) \
        if index_path.is_file() else {}
    return index


def _release(key: str) -> tuple[int, ...]:
    return tuple(int(part) for part in key.split("."))


def nearest_shipped(version: str) -> str | None:
    """The shipped release closest to `version` (the newest at or below it, else the oldest):
    what an offline user can check against instead, named in the error."""
    keys = sorted(_shipped_index(), key=_release)
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not keys or not match:
        return keys[-1] if keys else None
    wanted = tuple(int(g or 0) for g in match.groups())
    below = [k for k in keys if _release(k) <= wanted]
    return below[-1] if below else keys[0]


def builtin_default(version: str, flag: str = PLUGIN_FLAG) -> EngineDefault:
    """Docker's builtin default for `version`, from the cache or downloaded once into it."""
    tag = release_tag(version)
    if tag is None:
        raise ProfileError(
            f"the Docker engine reports version {version!r}, which names no release of its "
            f"default seccomp profile; pass {flag}.")
    target = cache_dir() / f"docker-{tag}.json"
    if target.is_file():
        return _verified(target)
    base = os.environ.get(DEFAULTS_URL_ENV, MOBY).rstrip("/")
    url = f"{base}/{tag}/profiles/seccomp/default.json"
    print(f"pytest-seccomp: the engine's default seccomp profile (Docker {tag}) is not on this "
          f"machine; downloading it once from {url} into {target}", file=sys.stderr)
    import urllib.error
    import urllib.request  # (here only: 13 ms of imports every session otherwise)

    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            text = answer.read().decode("utf-8")
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "reason", None) or exc
        nearest = nearest_shipped(version)
        raise ProfileError(
            f"the Docker engine's builtin default seccomp profile ({tag}) is not on this machine "
            f"and could not be downloaded from {url} ({reason}); recorded profiles are built "
            "from it so they are never wider than the default. Fetch it once with `mkdir -p "
            f"{target.parent} && curl -fsSL {url} -o {target}`, or pass {flag} (a copy of the "
            "engine's default.json)" + (f"; the nearest release this package ships is {nearest}"
                                        f" (`pytest-seccomp check --engine-version {nearest}`)"
                                        if nearest else "") + ".") from None
    staged = target.with_suffix(".download")
    write_atomic(staged, text)
    try:
        found = _verified(staged)
    except ProfileError as exc:
        staged.unlink(missing_ok=True)
        raise ProfileError(f"the file downloaded from {url} is not a usable default profile: "
                           f"{exc}") from None
    staged.replace(target)
    return EngineDefault(path=target.resolve(), profile=found.profile)


SHIPPED = Path(__file__).parent.parent / "data" / "engine-defaults"


def shipped_default(version: str) -> EngineDefault | None:
    """The copy this package ships of exactly this Docker release's builtin default (a newer
    Docker than the distribution's default.json, e.g. Debian sid's 28.5.2), if it ships one."""
    wanted = version.lstrip("v").split("+", 1)[0]
    entry = _shipped_index().get(wanted)
    return _verified(SHIPPED / entry["file"]) if entry else None


def version_default(version: str) -> tuple[EngineDefault, str]:
    """Docker `version`'s builtin default and what it is: a copy this package ships (newer
    Debian engines' defaults as they apply on x86_64 with the default capabilities, made by
    `bench_runtimes.py --defaults`; `28.5` picks the newest 28.5.x shipped), else moby's file
    for that release (cached or downloaded, as for a running engine)."""
    wanted = version.lstrip("v").split("+", 1)[0]
    index = _shipped_index()
    matches = sorted((key for key in index if key == wanted or key.startswith(wanted + ".")),
                     key=_release)
    if matches:
        entry = index[matches[-1]]
        applies = entry.get("applies_to")
        return _verified(SHIPPED / entry["file"]), f"{entry['engine']}'s default" + (
            f" as it applies with {applies.split(', ', 1)[1]}" if applies else "")
    if release_tag(wanted) is None:
        shipped = ", ".join(sorted(index, key=_release)) or "none"
        raise ProfileError(
            f"--engine-version {version!r} names no Docker release this package knows; give a "
            f"full version (e.g. 27.3.1: its default is downloaded once from moby's repository) "
            f"or one of the shipped ones ({shipped}).")
    found = builtin_default(wanted, "--default PATH")
    return found, f"Docker {release_tag(wanted)}'s builtin default"


def find_default(engine: str | EngineInfo, explicit: str | None = None,
                 flag: str = PLUGIN_FLAG) -> EngineDefault:
    """The running engine's default profile (see the module's docstring for the order); `flag`
    is how the caller's user names a file instead (pytest's option, or the CLI's)."""
    info = engine if isinstance(engine, EngineInfo) else EngineInfo(kind=engine)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ProfileError(
                f"the default seccomp profile {path} was not found; check the path given to "
                f"{flag.split('=')[0].split(' ')[0]}" + (" / seccomp_default_profile"
                                                         if flag == PLUGIN_FLAG else "") + ".")
        return _verified(path)
    configured = info.seccomp_profile
    if configured and configured not in ("default", "builtin", "unconfined"):
        if Path(configured).is_file():
            return _verified(Path(configured))
        raise ProfileError(
            f"the {info.kind} daemon is configured with the seccomp profile {configured}, which "
            f"is not readable from here; pass a copy with {flag}.")
    if info.kind == "podman":
        if not PODMAN_DEFAULT.is_file():
            raise ProfileError(
                f"Podman's default seccomp profile was not found at {PODMAN_DEFAULT}; install "
                f"containers-common (it ships seccomp.json), or pass {flag}.")
        return _verified(PODMAN_DEFAULT)
    if info.version:  # this engine's own release: not the distribution's file of another one
        shipped = shipped_default(info.version)
        return shipped if shipped is not None else builtin_default(info.version, flag)
    if DOCKER_DEFAULT.is_file():
        return _verified(DOCKER_DEFAULT)
    shipped_ones = ", ".join(sorted(_shipped_index(), key=_release))
    raise ProfileError(
        f"the Docker engine's default seccomp profile was not found at {DOCKER_DEFAULT} and no "
        "engine answered to say its version; start the engine (its version picks the default "
        f"this package ships: {shipped_ones}), pass {flag}, or install Debian's "
        "'golang-github-docker-docker-dev'" + (" (or give `pytest-seccomp check "
                                               "--engine-version VERSION`)"
                                               if flag != PLUGIN_FLAG else "") + ".")
