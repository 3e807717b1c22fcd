"""Read the programs an image runs, and the libraries they load, out of the image itself: a
container is created (never started) and only the files needed are copied out of it through the
engine's archive API; every file's facts are cached per image id, so a second run asks the
engine for nothing."""

from __future__ import annotations

import base64
import io
import json
import os
import posixpath
import tarfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .elf import C_LIBRARIES, SHELLS, BinaryFacts, BinaryKind, read_binary, shell_commands

CACHE_VERSION = 1  # bump when BinaryFacts or the analysis changes: old entries are re-read
# what a shell runs itself: never a program of the image, whatever PATH holds
SHELL_BUILTINS = frozenset({
    ".", ":", "[", "[[", "alias", "break", "case", "cd", "continue", "declare", "do", "done",
    "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fi", "for",
    "function", "getopts", "hash", "if", "in", "local", "printf", "read", "readonly", "return",
    "set", "shift", "source", "test", "then", "trap", "true", "type", "ulimit", "umask",
    "unalias", "unset", "until", "wait", "while"})
# launchers that load their VM with dlopen (no DT_NEEDED names it): the library, relative to
# the launcher's real directory
DLOPENED_VM = {"java": ("../lib/server/libjvm.so",)}
# interpreters whose first argument is the script they run
SCRIPT_RUNNERS = frozenset({"python", "python3", "perl", "ruby", "node", "bash", "sh"})
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LIBRARY_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
                "/lib", "/usr/lib", "/usr/local/lib")
MAX_FILE = 256 * 1024 * 1024  # a file larger than this is not read (and said so)
_SYMLINK = 1 << 27  # Go's os.ModeSymlink, in the archive API's stat header


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-seccomp" / "coverage"


@dataclass
class ImageFiles:
    """An image's files as far as they were read: path -> facts, link -> target, path -> None
    for a file the image does not have."""

    image_id: str
    facts: dict[str, BinaryFacts] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    fetched: int = 0  # questions to the engine in this run, HEAD or GET (0: all from the cache)

    def to_builtin(self) -> dict[str, Any]:
        return {"version": CACHE_VERSION, "image": self.image_id,
                "facts": {p: f.to_builtin() for p, f in sorted(self.facts.items())},
                "links": dict(sorted(self.links.items())), "missing": sorted(self.missing)}

    @classmethod
    def load(cls, image_id: str) -> ImageFiles:
        path = cache_dir() / f"{image_id.removeprefix('sha256:')}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != CACHE_VERSION or data.get("image") != image_id:
                raise ValueError("another version")
            return cls(image_id, {p: BinaryFacts.from_builtin(f) for p, f in data["facts"].items()},
                       dict(data["links"]), set(data["missing"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls(image_id)  # no cache, or one this version does not read: start afresh

    def save(self) -> None:
        from ..profiles.model import write_atomic

        try:
            write_atomic(cache_dir() / f"{self.image_id.removeprefix('sha256:')}.json",
                         json.dumps(self.to_builtin(), sort_keys=True) + "\n")
        except OSError:
            pass  # a cache that cannot be written costs time next run, nothing else


class ArchiveReader:
    """Copies single files out of a created (never started) container, on first need. Where a
    file is and whether it is a link is asked with HEAD (a few ms); its bytes with GET, which
    costs the engine tens of ms (it tars in a child process), so the GETs a walk knows it will
    need are started ahead, two at a time, while the files already read are parsed."""

    PARALLEL_GETS = 2

    def __init__(self, api: Any, image: str) -> None:
        self.api = api
        self.image = image
        self.container: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[str, Future[tuple[bytes | None, str | None]]] = {}

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self.container is not None:
            try:
                self.api.remove_container(self.container, force=True)
            except Exception:  # the engine went away: nothing to clean
                pass

    def _created(self) -> str:
        if self.container is None:
            created = self.api.create_container(
                self.image, command=["/pytest-seccomp-coverage"], entrypoint=[],
                labels={"pytest-seccomp.helper": "coverage"}, network_disabled=True)
            self.container = str(created["Id"])
        return self.container

    def locate(self, path: str) -> tuple[bool, str | None] | None:
        """(exists, the symlink's final target) from the engine's HEAD on the archive; None
        when the engine does not answer HEAD (the GET then decides)."""
        try:
            answer = self.api.head(self.api._url("/containers/{0}/archive", self._created()),
                                   params={"path": path})
        except Exception:  # the GET that follows reports the engine's failure
            return None
        if answer.status_code == 404:
            return False, None
        header = answer.headers.get("X-Docker-Container-Path-Stat")
        if answer.status_code != 200 or not header:
            return None
        try:
            stat = json.loads(base64.b64decode(header))
        except ValueError:
            return None
        return True, self._target(path, stat)

    @staticmethod
    def _target(path: str, stat: dict[str, Any]) -> str | None:
        if int(stat.get("mode", 0)) & _SYMLINK and stat.get("linkTarget"):
            target = str(stat["linkTarget"])
            return posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        return None

    def prefetch(self, path: str) -> None:
        """Start copying a file the walk will read."""
        if path in self._pending:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.PARALLEL_GETS, "pytest-seccomp-coverage")
        self._pending[path] = self._pool.submit(self.content, path)

    def read(self, path: str) -> tuple[bytes | None, str | None]:
        """(content, None) of a regular file, (None, target) of a symlink, (None, None) when
        the image has no such file."""
        if path in self._pending:
            return self._pending.pop(path).result()
        known = self.locate(path)
        if known is not None:
            exists, target = known
            if not exists:
                return None, None
            if target is not None:
                return None, target
        return self.content(path)

    def content(self, path: str) -> tuple[bytes | None, str | None]:
        """The GET: a file's bytes (or, where HEAD was not answered, its link)."""
        import docker.errors

        try:
            stream, stat = self.api.get_archive(self._created(), path)
        except docker.errors.NotFound:
            return None, None
        target = self._target(path, stat)
        if target is not None:
            for _ in stream:
                pass
            return None, target
        raw = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
            for member in archive:
                if member.issym():
                    return None, posixpath.normpath(
                        posixpath.join(posixpath.dirname(path), member.linkname))
                if member.isfile():
                    handle = archive.extractfile(member)
                    return (handle.read() if handle else b""), None
        return None, None


@dataclass
class Reached:
    """The files a set of programs brings in, in the order found, with what could not be read."""

    binaries: dict[str, BinaryFacts] = field(default_factory=dict)  # real path -> facts
    why: dict[str, str] = field(default_factory=dict)  # real path -> "linked by postgres"
    invoked: dict[str, str] = field(default_factory=dict)  # real path -> the path a command named
    notes: list[str] = field(default_factory=list)


class ImageWalk:
    """From the commands a container runs to every binary and library they load."""

    def __init__(self, files: ImageFiles, reader: ArchiveReader, search_path: str) -> None:
        self.files = files
        self.reader = reader
        self.search_path = [d for d in (search_path or DEFAULT_PATH).split(":") if d]
        self.reached = Reached()

    def _locate(self, path: str) -> str | None:
        """`path`'s real file, or None if the image lacks it, asking only where things are
        (no file is copied): what a prefetch needs."""
        return self._follow(path, copy=False)

    def _resolve(self, path: str) -> str | None:
        """`path` with its symlinks followed and its facts read, or None if the image lacks it."""
        return self._follow(path, copy=True)

    def _follow(self, path: str, copy: bool) -> str | None:
        """Follow `path`'s links through what is known, asking the engine where nothing is;
        `copy` also reads the real file's facts (else a prefetch will)."""
        for _ in range(40):
            if path in self.files.links:
                path = self.files.links[path]
                continue
            if path in self.files.facts:
                return path
            if path in self.files.missing:
                return None
            self.files.fetched += 1
            content: bytes | None = None
            if copy:
                content, target = self.reader.read(path)
                exists = content is not None or target is not None
            else:
                known = self.reader.locate(path)
                if known is None:  # the engine does not say: the walk's read will
                    return path
                exists, target = known
            if target is not None:
                self.files.links[path] = target
                path = target
                continue
            if not exists:
                self.files.missing.add(path)
                return None
            if content is not None:
                name = posixpath.basename(path)
                self.files.facts[path] = (
                    read_binary(content, name) if len(content) <= MAX_FILE else
                    BinaryFacts(BinaryKind.UNSUPPORTED, note=f"{name} is larger than 256 MiB: not read"))
            return path
        return None  # a symlink loop

    def which(self, program: str) -> str | None:
        """The real path of the program a command names (through PATH and symlinks); the
        name it was called by is kept for the report (redis-server, not redis-check-rdb)."""
        candidates = ([posixpath.normpath(program)] if "/" in program else
                      [posixpath.join(d, program) for d in self.search_path])
        for candidate in candidates:
            found = self._resolve(candidate)
            if found is not None:
                self.reached.invoked.setdefault(found, candidate)
                return found
        return None

    def add_command(self, argv: list[str], why: str) -> None:
        """A command line the container runs (exec form), and whatever it starts."""
        if not argv:
            return
        program = argv[0]
        if posixpath.basename(program) in SHELLS and len(argv) >= 3 and argv[1] == "-c":
            self._add_program(program, why)
            self.add_shell(argv[2], why)
            return
        self._add_program(program, why, argv[1:])

    def add_executed(self, path: str) -> None:
        """A program the tracer saw a container's process exec (the path its execve named):
        read whatever named it, or said why it could not be."""
        if not path.startswith("/"):
            self.reached.notes.append(f"{path} ran (a path relative to a working directory the "
                                      "tracer does not keep): not read")
            return
        found = self._resolve(posixpath.normpath(path))
        if found is None:
            self.reached.notes.append(f"{path} ran but is not in the image (written at run "
                                      "time, or in a volume): not read")
            return
        self.reached.invoked.setdefault(found, path)
        self._add_file(found, "ran in the container")

    def add_shell(self, text: str, why: str) -> None:
        """A shell command line: each program in command position."""
        self._add_commands(shell_commands(text), why)

    def _add_commands(self, names: Iterable[str], why: str, inferred: bool = False) -> None:
        """`inferred`: words a script's text puts in command position, which may be no program
        at all (a function, a pattern): only files that are programs count, silently."""
        for name in names:
            if name in SHELL_BUILTINS:  # the shell runs them itself: no program
                continue
            found = self.which(name)
            if found is not None:
                self._add_file(found, why, inferred=inferred)

    def _add_program(self, program: str, why: str, args: Iterable[str] = ()) -> None:
        """A program a command line names; the arguments are followed too where they name a
        program to run (`sh /start.sh`, `env python3 app.py`, `exec "$@"`'s words)."""
        found = self.which(program)
        if found is None:
            self.reached.notes.append(f"{program} ({why}) is not in the image")
            return
        self._add_file(found, why, list(args))
        arguments = list(args)
        base = posixpath.basename(program)
        if arguments and (base in SHELLS or base in SCRIPT_RUNNERS) \
                and not arguments[0].startswith("-"):
            # `sh /start.sh args`: the script is read as a program of its own
            self._add_program(arguments[0], f"run by {base}", arguments[1:])
        elif arguments and base in ("env", "exec", "nice", "nohup", "setsid", "tini",
                                    "dumb-init", "gosu", "su-exec", "catatonit"):
            rest = [a for a in arguments if "=" not in a or a.startswith("/")]
            rest = [a for a in rest if not a.startswith("-")]
            if rest:
                self._add_program(rest[0], f"run by {base}", rest[1:])

    def _add_file(self, path: str, why: str, args: list[str] | None = None,
                  inferred: bool = False) -> None:
        if path in self.reached.binaries:
            return
        facts = self.files.facts.get(path)
        if facts is None or (inferred and facts.kind is BinaryKind.NOT_ELF):
            # a directory, or a data file a script's reading took for a command: no program
            return
        self.reached.binaries[path] = facts
        self.reached.why[path] = why
        if facts.note and posixpath.basename(path) not in C_LIBRARIES:
            self.reached.notes.append(facts.note)
        name = posixpath.basename(path)
        if facts.kind is BinaryKind.SCRIPT:
            interpreter = list(facts.interpreter)
            if interpreter and posixpath.basename(interpreter[0]) == "env" and len(interpreter) > 1:
                interpreter = interpreter[1:]
            if interpreter:
                self._add_program(interpreter[0], f"the interpreter of {name}")
            self._add_commands(facts.commands, f"run by {name}", inferred=True)
            return
        for vm in DLOPENED_VM.get(name, ()):  # the VM the launcher loads
            found_vm = self._resolve(posixpath.normpath(posixpath.join(posixpath.dirname(path),
                                                                       vm)))
            if found_vm is not None:
                self._add_file(found_vm, f"loaded by {name}")
        for library in facts.needed:  # copying starts for all of them before the first is read
            located = self._library(library, path, facts, self._locate)
            if located is not None and located not in self.files.facts:
                self.reader.prefetch(located)
        for library in facts.needed:
            found = self._library(library, path, facts, self._resolve)
            if found is None:
                self.reached.notes.append(f"{library}, needed by {name}, is not in the image")
            else:
                self._add_file(found, f"linked by {name}")

    def _library(self, soname: str, by: str, facts: BinaryFacts,
                 resolve: Callable[[str], str | None]) -> str | None:
        """Where the loader finds `soname`: the file's RUNPATH ($ORIGIN expanded), then the
        standard directories."""
        if "/" in soname:
            return resolve(soname)
        origin = posixpath.dirname(by)
        directories = [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
                       for d in facts.runpath if d]
        for directory in [*directories, *LIBRARY_DIRS]:
            found = resolve(posixpath.join(directory, soname))
            if found is not None:
                return found
        return None
