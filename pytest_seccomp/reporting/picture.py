"""The HTML report's pictures: a profile's attack surface as an inline SVG, and a bar per profile.

Why a picture: a reviewer asks "how much of the engine's default is gone, what does the
runtime keep, what did this change add" and a list of 60 names does not answer at a glance. Each
syscall the engine's default allows is one mark, grouped by purpose; what the mark says is told
by its shape and fill pattern as well as its colour (Okabe-Ito colours, readable by colour-blind
readers and in black-and-white print), and its hover title names the syscall and the test that
first needed it. Plain SVG: no script, no network, one self-contained page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from html import escape

from ..profiles.purposes import group

MARK = 14  # a mark's cell, in px
PER_ROW = 24  # marks per line of a purpose's group
LABEL_WIDTH = 190  # the longest purpose with its figure: "time and scheduling (52/52)"
LINE = MARK + 4


class Mark(Enum):
    """What the profile does with one of the default's syscalls: (legend text, colour)."""

    APP = ("allowed for the app", "#0072B2")
    ARGUMENTS = ("allowed for some arguments only (socket families)", "#56B4E9")
    RUNTIME = ("allowed for the runtime's steps only", "#E69F00")
    REMOVED = ("removed (refused)", "#BBBBBB")

    @property
    def text(self) -> str:
        return self.value[0]

    @property
    def colour(self) -> str:
        return self.value[1]


class Drift(Enum):
    """Against the committed profile: a ring round the mark, solid or dashed."""

    ADDED = "added since the committed profile"
    DROPPED = "no longer allowed (removed since the committed profile)"


@dataclass(frozen=True)
class Surface:
    """What one profile's picture shows, as plain values (the page builds it from a result)."""

    default: frozenset[str]  # the engine default's syscalls here
    app: frozenset[str]
    runtime: frozenset[str]  # allowed for the runtime's steps only
    argument_limited: frozenset[str]  # allowed, under argument checks (socket families)
    added: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()
    first_needed: Mapping[str, str] | None = None  # name -> the test that first needed it

    def mark(self, name: str) -> Mark:
        if name in self.argument_limited:
            return Mark.ARGUMENTS
        if name in self.app:
            return Mark.APP
        if name in self.runtime:
            return Mark.RUNTIME
        return Mark.REMOVED


def _shape(mark: Mark, x: int, y: int) -> str:
    """The mark's own shape: square (app), hatched square (arguments), circle (runtime), small
    hollow square (removed)."""
    size = MARK - 2
    if mark is Mark.RUNTIME:
        r = size / 2
        return (f'<circle cx="{x + r + 1:g}" cy="{y + r + 1:g}" r="{r:g}" fill="{mark.colour}" '
                'stroke="#222" stroke-width="0.6"/>')
    if mark is Mark.REMOVED:
        return (f'<rect x="{x + 3}" y="{y + 3}" width="{size - 4}" height="{size - 4}" '
                f'fill="none" stroke="{mark.colour}" stroke-width="1.2"/>')
    fill = "url(#hatch)" if mark is Mark.ARGUMENTS else mark.colour
    return (f'<rect x="{x + 1}" y="{y + 1}" width="{size}" height="{size}" fill="{fill}" '
            'stroke="#222" stroke-width="0.6"/>')


def _ring(drift: Drift, x: int, y: int) -> str:
    dash = ' stroke-dasharray="2,2"' if drift is Drift.DROPPED else ""
    return (f'<rect class="drift-{drift.name.lower()}" x="{x - 1}" y="{y - 1}" width="{MARK + 2}" '
            f'height="{MARK + 2}" fill="none" stroke="#D55E00" stroke-width="2"{dash}/>')


_DEFS = ('<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
         'patternTransform="rotate(45)"><rect width="4" height="4" fill="#56B4E9"/>'
         '<line x1="0" y1="0" x2="0" y2="4" stroke="#0072B2" stroke-width="2"/></pattern></defs>')


def surface_svg(surface: Surface) -> str:
    """The grid: one line of marks per purpose (wrapped), a legend under it."""
    first = surface.first_needed or {}
    rows: list[str] = []
    y = 0
    for purpose, names in group(surface.default | surface.dropped).items():
        rows.append(f'<text x="0" y="{y + MARK - 2}" font-size="12">{escape(purpose)} '
                    f'({sum(1 for n in names if surface.mark(n) is not Mark.REMOVED)}/'
                    f'{len(names)})</text>')
        for index, name in enumerate(names):
            x = LABEL_WIDTH + (index % PER_ROW) * MARK
            row_y = y + (index // PER_ROW) * MARK
            mark = surface.mark(name)
            title = f"{name}: {mark.text}"
            if name in first:
                title += f"; first needed by {first[name]}"
            drift = (Drift.ADDED if name in surface.added
                     else Drift.DROPPED if name in surface.dropped else None)
            if drift is not None:
                title += f"; {drift.value}"
            rows.append(f'<g class="mark {mark.name.lower()}"><title>{escape(title)}</title>'
                        f'{_shape(mark, x, row_y)}'
                        f'{_ring(drift, x, row_y) if drift else ""}</g>')
        y += ((len(names) - 1) // PER_ROW + 1) * MARK + 6
    y += 8
    legend = []
    for index, mark in enumerate(Mark):
        legend.append(f'{_shape(mark, 0, y + index * LINE)}<text x="{MARK + 6}" '
                      f'y="{y + index * LINE + MARK - 3}" font-size="12">{escape(mark.text)}</text>')
    y += len(Mark) * LINE
    for index, drift in enumerate(Drift):
        legend.append(f'{_ring(drift, 1, y + index * LINE + 1)}<text x="{MARK + 6}" '
                      f'y="{y + index * LINE + MARK - 3}" font-size="12">{escape(drift.value)}</text>')
    y += len(Drift) * LINE
    width = LABEL_WIDTH + PER_ROW * MARK + 2
    return (f'<svg xmlns="http://www.w3.org/2000/svg" id="surface-picture" role="img" '
            f'width="{width}" height="{y}" viewBox="0 0 {width} {y}" '
            f'aria-label="the engine default\'s syscalls, each marked as this profile treats it">'
            f'{_DEFS}{"".join(rows)}<g class="legend">{"".join(legend)}</g></svg>')


def bar_svg(allowed: int, runtime: int, surface: int, width: int = 240) -> str:
    """The index's bar: the app's share (dark), the runtime's (light, with a rule under it) and
    what is removed (empty), of the default: told apart by lightness too."""
    surface = max(surface, 1)
    app_width = round(width * (allowed - runtime) / surface)
    runtime_width = round(width * runtime / surface)
    title = (f"{allowed} of {surface} allowed ({runtime} for the runtime's steps only), "
             f"{surface - allowed} removed")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="bar" width="{width}" height="14" '
            f'viewBox="0 0 {width} 14" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>'
            f'<rect width="{width}" height="14" fill="#fff" stroke="{Mark.REMOVED.colour}"/>'
            f'<rect width="{app_width}" height="14" fill="{Mark.APP.colour}"/>'
            f'<rect x="{app_width}" width="{runtime_width}" height="14" '
            f'fill="{Mark.RUNTIME.colour}"/>'
            f'<rect x="{app_width}" y="11" width="{runtime_width}" height="3" fill="#222"/></svg>')


def contributions(first_needed: Mapping[str, str], names: Iterable[str]) -> dict[str, list[str]]:
    """Test -> the syscalls it brought first (why `ptrace` is there), tests in name order."""
    out: dict[str, list[str]] = {}
    for name in sorted(names):
        if name in first_needed:
            out.setdefault(first_needed[name], []).append(name)
    return dict(sorted(out.items()))
