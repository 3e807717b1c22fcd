"""GitHub Actions: a step summary (`GITHUB_STEP_SUMMARY`) and annotations on drift and refusals.

Why: in CI the drift check and the refusals are lines deep in pytest's output; a reviewer of a
pull request looks at the run's summary page and at the annotations on the changed files. Both
are plain text GitHub reads (Markdown appended to a file, workflow commands on stdout), so this
module only formats: the sessions give it plain values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class Level(Enum):
    """An annotation's level, as GitHub's workflow commands name it."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Annotation:
    level: Level
    title: str
    message: str
    file: str | None = None

    def command(self) -> str:
        """`::error file=x,title=y::message`, escaped as GitHub's toolkit escapes."""
        props = [f"title={_escape_property(self.title)}"]
        if self.file:
            props.insert(0, f"file={_escape_property(self.file)}")
        return f"::{self.level.value} {','.join(props)}::{_escape_data(self.message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass
class CiReport:
    """What a session tells CI: a Markdown block and annotations."""

    heading: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.heading}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in self.rows]
        if not self.rows:
            lines.append("| " + " | ".join(["(none)", *[""] * (len(self.columns) - 1)]) + " |")
        lines += ["", *(f"- {_cell(n)}" for n in self.notes)]
        return "\n".join(lines).rstrip() + "\n\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def publish(report: CiReport, environ: Mapping[str, str], write_line: Callable[[str], None]) -> None:
    """Append the summary where GitHub asks for it; print the annotations under Actions."""
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(report.markdown())
        except OSError as exc:
            write_line(f"seccomp: cannot append the step summary to {summary}: {exc.strerror}")
    if environ.get("GITHUB_ACTIONS") == "true":
        for annotation in report.annotations:
            write_line(annotation.command())


def repository_path(path: Path, environ: Mapping[str, str]) -> str:
    """A file as annotations name it: relative to the checkout (GITHUB_WORKSPACE)."""
    root = Path(environ.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def test_file(window: str) -> str | None:
    """The test file of a window (`tests/test_x.py::test_y` -> `tests/test_x.py`)."""
    head = window.split("::", 1)[0]
    return head if head.endswith(".py") else None


def joined(names: Iterable[str]) -> str:
    return " ".join(names) or "none"
