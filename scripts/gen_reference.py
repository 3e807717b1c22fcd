"""Write the docs' reference pages from the code: the CLI's help (argparse), the plugin's
options and ini keys (pytest's own parser) and the known-exploit dataset, so the help, the data
and the docs cannot drift.

    python3 scripts/gen_reference.py          # rewrite docs/reference/{cli,pytest-options,syscall-risks}.md
    python3 scripts/gen_reference.py --check  # exit 1 if they differ from the code (the tests)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "docs" / "reference"


def cli_page() -> str:
    from pytest_seccomp.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: one width everywhere
    parser = build_parser()
    out = ["# The `pytest-seccomp` command", "",
           "Generated from the code by `scripts/gen_reference.py`: what `--help` prints.", "",
           "```text", parser.format_help().rstrip(), "```", ""]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        out += [f"## `pytest-seccomp {name}`", "", "```text", command.format_help().rstrip(),
                "```", ""]
    return "\n".join(out)


def options_page() -> str:
    from _pytest.config.argparsing import Parser

    from pytest_seccomp import plugin

    parser = Parser(_ispytest=True)
    plugin.pytest_addoption(parser)
    out = ["# pytest options and ini keys", "",
           "Generated from the code by `scripts/gen_reference.py`: the options `pytest --help` "
           "lists under *seccomp profiles from containerized tests*, and the ini keys.", "",
           "| option | default | what it does |", "|---|---|---|"]
    for option in parser.getgroup("seccomp").options:
        names = ", ".join(f"`{n}`" + (f" `{option.attrs()['metavar']}`"
                                      if option.attrs().get("metavar") else "")
                          for n in option.names())
        default = option.attrs().get("default")
        text = " ".join(str(option.attrs().get("help", "")).split()).replace("%%", "%").replace(
            "|", "\\|")
        out.append(f"| {names} | {'' if default in (None, False) else f'`{default}`'} | {text} |")
    out += ["", "| ini key | type | what it does |", "|---|---|---|"]
    for name, (text, kind, _default) in sorted(parser._inidict.items()):
        if name.startswith("seccomp"):
            out.append(f"| `{name}` | {kind or 'string'} | {' '.join(str(text).split())} |")
    return "\n".join(out) + "\n"


def risks_page() -> str:
    """The known-exploit dataset (pytest_seccomp/data/syscall-risks.json), one row per CVE."""
    from pytest_seccomp.profiles.stakes import dataset

    data = json.loads((ROOT / "pytest_seccomp" / "data" / "syscall-risks.json").read_text())
    out = ["# Known kernel exploit paths", "",
           "Generated from `pytest_seccomp/data/syscall-risks.json` by "
           "`scripts/gen_reference.py`. " + data["about"], "",
           "| CVE | entry | class | affected kernels | how | source |", "|---|---|---|---|---|---|"]
    for row in sorted(dataset(), key=lambda r: (r.entries, r.cve)):
        out.append(f"| {row.cve} ({row.name}) | {', '.join(f'`{e}`' for e in row.entries)} | "
                   f"{row.klass} | {row.affected or 'see the source'} | {row.via} | "
                   f"<{row.source}> |")
    return "\n".join(out) + "\n"


def main() -> int:
    wanted = {PAGES / "cli.md": cli_page(), PAGES / "pytest-options.md": options_page(),
              PAGES / "syscall-risks.md": risks_page()}
    if "--check" in sys.argv:
        stale = [str(p.relative_to(ROOT)) for p, text in wanted.items()
                 if not p.is_file() or p.read_text() != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run python3 scripts/gen_reference.py")
        return 1 if stale else 0
    for path, text in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
