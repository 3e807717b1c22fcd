"""--seccomp-coverage: per profile, the syscalls the image's programs can make that no test made.
The path: the containers' commands -> the image's files (image.py) -> their ELF facts (elf.py)
-> the libc table (libc_build.py made it) -> covered / possible and never seen (gaps.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .gaps import Clock, ProfileCoverage, coverage_of
from .image import ArchiveReader, ImageFiles, ImageWalk, Reached

MISSING_LIBRARIES = ("--seccomp-coverage needs pyelftools and capstone, which are not installed: "
                     "`pip install 'pytest-seccomp[coverage]'` installs them; then run again.")


@dataclass(frozen=True)
class Launch:
    """What one container of a profile ran: its image, create-time command, exec'd commands and
    health check (a health check runs in production whether or not a test ran it)."""

    image: str
    entrypoint: list[str] | None
    cmd: list[str] | None
    execs: tuple[str, ...] = ()
    healthcheck: str | None = None
    programs: tuple[str, ...] = ()  # the paths the tracer saw its processes exec


def missing_libraries() -> str | None:
    """The paragraph to print when the ELF reader or the disassembler is not installed."""
    try:
        import capstone  # noqa: F401
        import elftools  # noqa: F401
    except ImportError:
        return MISSING_LIBRARIES
    return None


def _command(launch: Launch, config: dict[str, Any]) -> list[str]:
    """The argv the engine runs: Docker's rule for Entrypoint and Cmd against the image's."""
    entrypoint = launch.entrypoint if launch.entrypoint is not None else config.get("Entrypoint")
    cmd: list[str] | None
    if launch.cmd is not None:
        cmd = launch.cmd
    elif launch.entrypoint is not None:
        cmd = []  # a new entrypoint drops the image's Cmd
    else:
        cmd = config.get("Cmd")
    return [str(a) for a in [*(entrypoint or []), *(cmd or [])]]


class CoverageAnalysis:
    """One analysis per session: each image read once (and cached), each profile reported."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self._files: dict[str, ImageFiles] = {}
        self._inspected: dict[str, dict[str, Any]] = {}

    def _image(self, image: str) -> tuple[ImageFiles, dict[str, Any]]:
        if image not in self._inspected:
            self._inspected[image] = self.api.inspect_image(image)
        inspected = self._inspected[image]
        image_id = str(inspected["Id"])
        if image_id not in self._files:
            self._files[image_id] = ImageFiles.load(image_id)
        return self._files[image_id], inspected.get("Config") or {}

    def reach(self, launches: Iterable[Launch]) -> Reached:
        """Every file the launches' programs bring in, across their images."""
        reached = Reached()
        for launch in launches:
            files, config = self._image(launch.image)
            path = next((e.split("=", 1)[1] for e in config.get("Env") or []
                         if e.startswith("PATH=")), "")
            with ArchiveReader(self.api, launch.image) as reader:
                walk = ImageWalk(files, reader, path)
                walk.reached = reached
                walk.add_command(_command(launch, config), "the container's command")
                for program in launch.programs:  # what ran, whatever named it
                    walk.add_executed(program)
                for text in launch.execs:
                    walk.add_shell(text, "exec'd by a test")
                if launch.healthcheck:
                    walk.add_shell(launch.healthcheck, "the health check")
        return reached

    def profile(self, name: str, launches: Iterable[Launch], allowed: Iterable[str],
                default_allows: Callable[[str], bool],
                syscall_name: Callable[[int], str | None]) -> ProfileCoverage:
        clock = Clock()
        before = sum(f.fetched for f in self._files.values())
        reached = self.reach(launches)
        result = coverage_of(name, reached, allowed, default_allows, syscall_name)
        result.seconds = clock.seconds
        result.from_cache = sum(f.fetched for f in self._files.values()) == before
        return result

    def save(self) -> None:
        for files in self._files.values():
            if files.fetched:
                files.save()
