"""`--seccomp-html DIR`: a static report, one page per profile (like coverage.py's HTML)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from ..profiles.arguments import (
    FAMILY_SYSCALLS,
    family_name,
    in_family_order,
    parse_label,
    socket_family,
    socket_protocol,
)
from ..profiles.model import Profile, write_atomic
from ..profiles.protections import PROTECTION_SYSCALLS
from ..profiles.purposes import group
from ..profiles.stakes import closed_line, known, open_entries
from ..profiles.syscalls import existing
from .picture import Surface, bar_svg, contributions, surface_svg

if TYPE_CHECKING:
    from ..coverage.gaps import ProfileCoverage
    from .outcome import ProfileResult, RecordOutcome

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.added { color: #a00; } .removed { color: #070; } .figure { font-size: 1.3em; }
code { font-size: 0.95em; }
svg { display: block; margin: 0.5em 0 1.5em; } td svg { margin: 0; }
@media print { body { max-width: none; } }
"""


def page_name(profile_name: str) -> str:
    return profile_name.replace("/", "__") + ".html"


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _protocols_clause(values: frozenset[int]) -> str:
    """`, AF_NETLINK for NETLINK_ROUTE only`: the families pinned to some of their protocols."""
    pinned = in_family_order(v for v in values if socket_protocol(v) is not None
                             and socket_family(v) not in values)
    if not pinned:
        return ""
    return ", " + ", ".join(html.escape(family_name(v)) for v in pinned) + " only"


def _profile_page(outcome: RecordOutcome, result: ProfileResult, surface: set[str]) -> str:
    assert result.profile is not None
    allowed = result.profile.allowed
    first = outcome.recording.first_needed({c.id for c in result.containers})
    esc = html.escape
    parts = [
        f"<p><a href=\"index.html\">all profiles</a></p><h1>{esc(result.name)}</h1>",
        f"<p class=\"figure\" id=\"surface\">allows <b id=\"allowed-count\">{len(allowed)}</b> of "
        f"the default's <b id=\"default-count\">{len(surface)}</b> syscalls; "
        f"<b id=\"removed-count\">{len(surface - allowed)}</b> removed from the attack surface</p>",
        f"<p>file: <code>{esc(str(result.path))}</code> ({esc(result.status)}); images: "
        + ", ".join(f"<code>{esc(i)}</code>" for i in sorted({c.image for c in result.containers}))
        + "</p>",
    ]
    added, removed = result.diff.added_names, result.diff.removed_names
    runtime_only = result.profile.runtime_only
    tests = {name: test for name, (test, _) in first.items()}
    parts.append("<h2>The attack surface</h2><p>every syscall the engine's default allows here, "
                 "by purpose (the figure is what this profile keeps of each group); hover a mark "
                 "for the syscall and the test that first needed it</p>")
    parts.append(surface_svg(Surface(
        default=frozenset(surface), app=frozenset(allowed - runtime_only),
        runtime=frozenset(runtime_only),
        argument_limited=frozenset(n for n in FAMILY_SYSCALLS if result.profile.families(n))
        | frozenset(n for n in PROTECTION_SYSCALLS if result.profile.execution(n) is not None
                    and n in allowed - runtime_only),  # (the runtime's own show as its)
        added=frozenset(parse_label(n)[0] for n in added) if result.existed else frozenset(),
        dropped=frozenset(parse_label(n)[0] for n in removed) - allowed,
        first_needed=tests)))
    brought = contributions(tests, allowed - runtime_only)
    parts.append("<h2 id=\"contributions\">What each test brought</h2><table><tr><th>test</th>"
                 "<th>syscalls it needed first</th></tr>" + "".join(
                     f"<tr><td>{esc(test)}</td><td>{' '.join(f'<code>{esc(n)}</code>' for n in names)}"
                     "</td></tr>" for test, names in brought.items()) + "</table>")
    parts.append("<h2>Against the committed profile</h2>")
    if not result.existed:
        parts.append("<p id=\"changes\">new: there was no committed profile to compare with; "
                     "every syscall below is new</p>")
    elif added or removed:
        parts.append("<ul id=\"changes\">" + "".join(
            f"<li class=\"added\">+{esc(n)}</li>" for n in added) + "".join(
            f"<li class=\"removed\">-{esc(n)}</li>" for n in removed) + "</ul>")
    else:
        parts.append("<p id=\"changes\">no change</p>")
    parts.append("<h2>What the app needs, by purpose</h2>")
    for purpose, names in group(allowed - runtime_only).items():
        rows = []
        for name in names:
            test, container = first.get(name, ("(always allowed)", None))
            where = esc(container.name) if container else ""
            rows.append(f"<tr><td><code>{esc(name)}</code></td><td>{esc(test)}</td>"
                        f"<td>{where}</td></tr>")
        parts.append(f"<h3>{esc(purpose)} ({len(names)})</h3><table><tr><th>syscall</th>"
                     f"<th>first needed by</th><th>container</th></tr>{''.join(rows)}</table>")
    families = result.profile.socket_families
    if families:
        default_families = outcome.default.profile.default_families() if outcome.default else set()
        family_rows = "".join(
            f"<tr><td><code>{esc(label)}</code></td><td>{esc(first.get(label, ('?',))[0])}</td></tr>"
            for label in sorted(result.arguments) if parse_label(label)[0] in FAMILY_SYSCALLS)
        parts.append(
            f"<h2 id=\"families\">Socket families</h2><p>socket and socketpair are allowed for "
            f"<b id=\"family-count\">{len({socket_family(f) for f in families})}</b> of the "
            f"default's {len(default_families)} address families"
            f"{_protocols_clause(families)}; any other is refused (EPERM)."
            f"</p><table><tr><th>call</th><th>first needed by</th></tr>{family_rows}</table>")
    memory = result.profile.executable_memory
    if memory is not None:
        allowed_memory, refused_memory = memory
        memory_rows = "".join(f"<tr><td><code>{esc(label)}</code></td><td>allowed</td>"
                       f"<td>{esc(first.get(label, ('?',))[0])}</td></tr>" for label in allowed_memory)
        memory_rows += "".join(f"<tr><td><code>{esc(label)}</code></td><td>refused</td><td></td></tr>"
                        for label in refused_memory)
        parts.append(
            "<h2 id=\"executable\">Executable memory</h2><p>the memory syscalls are allowed for "
            "memory that is not executable, and for executable memory only as the tests asked "
            f"for it: <b id=\"executable-refused\">{len(refused_memory)}</b> kinds of request "
            "refused (EPERM), the way an exploit makes its payload executable</p><table><tr>"
            f"<th>call</th><th></th><th>first needed by</th></tr>{memory_rows}</table>")
    parts.append(_stakes_section(result.profile, outcome))
    coverage = outcome.coverages.get(result.name)
    if coverage is not None:
        parts.append(_coverage_section(coverage))
    if runtime_only:
        parts.append(f"<h2 id=\"runtime\">What the runtime needs ({esc(result.profile.runtime or '')})"
                     "</h2><p>its own steps after installing the filter, before it starts the "
                     "app (needed when the container starts without no-new-privileges): "
                     + " ".join(f"<code>{esc(n)}</code>" for n in sorted(runtime_only)) + "</p>")
    return _page(f"seccomp profile {result.name}", "\n".join(parts))


def _stakes_section(profile: Profile, outcome: RecordOutcome) -> str:
    """Each allowed entry with known kernel exploits, and what the profile closes."""
    esc = html.escape
    rows = "".join(
        f"<tr><td><code>{esc(entry)}</code></td><td>{esc(e.cve)} ({esc(e.name)})</td>"
        f"<td>{esc(e.klass)}</td><td><a href=\"{esc(e.source)}\">source</a></td></tr>"
        for entry in sorted(open_entries(profile)) for e in known(entry))
    closed = (f"<p id=\"closed\">{esc(closed_line(profile, outcome.default.profile))}</p>"
              if outcome.default else "")
    return ("<h2 id=\"stakes\">Known kernel exploit paths</h2>" + closed
            + (f"<table><tr><th>allowed</th><th>known CVE</th><th>class</th><th></th></tr>{rows}"
               "</table>" if rows else "<p>none of the dataset's entries is allowed</p>"))


def _coverage_section(coverage: ProfileCoverage) -> str:
    """--seccomp-coverage: what the image's programs can make and no test made."""
    esc = html.escape
    rows = "".join(f"<tr><td><code>{esc(n.name)}</code></td><td><code>{esc(n.binary)}</code></td>"
                   f"<td>{esc(n.via)}</td></tr>" for n in coverage.never_seen)
    notes = "".join(f"<li>{esc(note)}</li>" for note in coverage.notes)
    return (f"<h2 id=\"coverage\">What the tests never exercised</h2><p class=\"figure\">"
            f"<b id=\"covered-count\">{coverage.covered}</b> of <b id=\"possible-count\">"
            f"{coverage.possible}</b> syscalls the image's programs can make (within the "
            f"engine's default) were made by the tests ({coverage.percent}%), read from "
            f"{len(coverage.binaries)} files; the rest is refused in production until a test "
            "makes it</p>"
            + (f"<table id=\"never-seen\"><tr><th>never seen</th><th>binary</th><th>why it can"
               f"</th></tr>{rows}</table>" if rows else "")
            + (f"<p>not read:</p><ul id=\"not-read\">{notes}</ul>" if notes else ""))


def write_html(outcome: RecordOutcome, directory: Path) -> None:
    """Index plus one page per profile; deterministic, written atomically."""
    assert outcome.default is not None
    surface = existing(outcome.default.profile.allowed)
    rows = []
    totals = [0, 0]
    for result in outcome.results:
        if result.profile is None:
            continue
        write_atomic(directory / page_name(result.name),
                     _profile_page(outcome, result, surface))
        allowed = result.profile.allowed & surface
        runtime = result.profile.runtime_only & surface
        totals[0] += len(allowed)
        totals[1] += len(surface - allowed)
        rows.append(
            f"<tr><td><a href=\"{page_name(result.name)}\">{html.escape(result.name)}</a></td>"
            f"<td>{bar_svg(len(allowed), len(runtime), len(surface))}</td>"
            f"<td>{len(allowed)}</td><td>{len(surface - allowed)}</td>"
            f"<td>{html.escape(result.status)}</td></tr>")
    count = len(rows)
    body = (f"<h1>seccomp profiles</h1><p>ceiling: <code>{html.escape(str(outcome.default.path))}"
            f"</code>, {len(surface)} syscalls allowed by the engine's default here</p>"
            "<table><tr><th>profile</th><th>of the default: app, runtime, removed</th>"
            "<th>allowed</th><th>removed vs default</th><th>status</th>"
            f"</tr>{''.join(rows)}<tr id=\"totals\"><th>{count} profiles</th><th></th>"
            f"<th>{totals[0] // max(count, 1)} on average</th>"
            f"<th>{totals[1] // max(count, 1)} on average</th><th></th></tr></table>")
    write_atomic(directory / "index.html", _page("seccomp profiles", body))
