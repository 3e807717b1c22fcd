"""Profile files read without surprises: never blocking, never unbounded, never a traceback.

A profile is a few kilobytes of JSON (Docker's own default is 20 KB). What arrives where a
profile is expected may be a FIFO (opening it for reading waits for a writer forever), a device
(`/dev/zero` never ends), a folder, a 50 MB file, bytes that are not UTF-8, a number of 5,000
digits or 10,000 levels of nesting. Each is refused here by its kind before it is read, or by a
bound while it is parsed, with one paragraph that says what to do. Strings are decoded as Go's
encoding/json decodes them (an invalid UTF-8 byte inside a string is U+FFFD; outside one it is
a syntax error), so what is read here is what the engine reads.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ProfileError
from .gojson import GoObject

MAX_BYTES = 4 * 1024 * 1024  # two hundred times Docker's default profile
MAX_DIGITS = 20  # 2**64 - 1 has 20: no field of a profile holds more
_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_bytes(path: str | os.PathLike[str], what: str = "seccomp profile") -> bytes:
    """The bytes of the regular file `path`, at most MAX_BYTES of them. Opened without blocking
    (a FIFO's open would wait for a writer) and refused by its type before a byte is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ProfileError(f"cannot read the {what} {os.fsdecode(path)}: {exc.strerror}; give "
                           "the path of an existing, readable file.") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ProfileError(f"{os.fsdecode(path)} is {_kind(mode)}, not a regular file; give "
                               f"the {what} as a file (it is read whole, and only a file ends).")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ProfileError(f"cannot read the {what} {os.fsdecode(path)}: {exc.strerror}.") from None
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        raise ProfileError(f"{os.fsdecode(path)} is larger than {MAX_BYTES // (1024 * 1024)} MiB; "
                           f"a {what} is a few kilobytes: give the right file, or trim it.")
    return b"".join(chunks)


def read_text(path: str | os.PathLike[str], what: str = "seccomp profile") -> str:
    """A text file that must be UTF-8 (YAML, compose files): the first bad byte is named."""
    data = read_bytes(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{os.fsdecode(path)} is not UTF-8 text (byte {exc.start} is "
                           f"{data[exc.start]:#04x}); save the {what} as UTF-8.") from None


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ProfileError(f"a number of {len(text.lstrip('-'))} digits ({text[:12]}...): no "
                           "field of a seccomp profile holds more than 20 (2**64 - 1); the "
                           "engine refuses it.")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ProfileError(f"{name} is not JSON (the engine's reader refuses it); write a number.")


def parse_json(text: str, source: str) -> Any:
    """JSON as Go's encoding/json takes it: objects keep every key in order (`GoObject`), no
    NaN or Infinity, integers bounded; too deep a nesting is refused, never a crash."""
    try:
        return json.loads(text, object_pairs_hook=GoObject, parse_int=_bounded_int,
                          parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ProfileError(
            f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "fix or delete it and record it again with `pytest --seccomp-record`.") from None
    except RecursionError:
        raise ProfileError(f"{source} nests objects or lists deeper than "
                           f"{sys.getrecursionlimit()} levels; a seccomp profile nests five: "
                           "give the right file.") from None
    except ProfileError as exc:
        raise ProfileError(f"{source}: {exc}") from None


def load_json(path: str | os.PathLike[str], what: str = "seccomp profile") -> Any:
    """Read and parse a JSON file, decoded as the engine decodes it."""
    return parse_json(read_bytes(path, what).decode("utf-8", errors="replace"), os.fsdecode(path))


def load_yaml(path: str | os.PathLike[str], what: str, fix: str) -> Any:
    """A YAML file (an SPO resource, a compose file), bounded as JSON is: a syntax error, too
    deep a nesting or too long a number ends in one paragraph ending with `fix`."""
    import yaml

    text = read_text(path, what)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = f"is not valid YAML ({str(exc).splitlines()[0]})"
    except RecursionError:
        problem = f"nests deeper than {sys.getrecursionlimit()} levels"
    except ValueError as exc:  # an integer of thousands of digits
        problem = f"holds a number this tool cannot read ({str(exc).split(';')[0]})"
    raise ProfileError(f"{os.fsdecode(path)} {problem}; a {what} cannot be read from it: {fix}")
