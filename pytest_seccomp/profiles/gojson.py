"""JSON objects read as the engines read them: Go's encoding/json into a struct.

Go matches an object's keys to a struct's fields exactly or, failing that, case-insensitively
(Unicode simple folding: the long s U+017F is `s`, the Kelvin sign U+212A is `k`), and a later
key for the same field overwrites an earlier one; keys naming no field are ignored. A profile
read any other way can say one thing to this tool and another to dockerd: `{"defaultAction":
"SCMP_ACT_ERRNO", "DefaultAction": ""}` is a deny-by-default profile to a Python reader and no
filter at all to moby. Every profile file is parsed keeping each object's keys in order
(`GoObject`), and `go_fields` resolves them as Go would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# the non-ASCII runes whose simple fold set holds an ASCII letter (Go's foldRune: the smallest
# rune of the set): LATIN SMALL LETTER LONG S and KELVIN SIGN
_NON_ASCII_FOLDS = {"\u017f": "S", "\u212a": "K"}


class GoObject(dict[str, Any]):
    """A JSON object that remembers every key in order, duplicates too (`json.loads`'
    `object_pairs_hook`); as a dict it holds the last value of each key, as Python reads it."""

    def __init__(self, pairs: Iterable[tuple[str, Any]]) -> None:
        self.pairs = list(pairs)
        super().__init__(self.pairs)


def fold(name: str) -> str:
    """Go's folded form of a key: ASCII upper-cased, a rune folding to ASCII replaced by it."""
    return "".join(_NON_ASCII_FOLDS.get(c, c.upper() if c.isascii() else c) for c in name)


def go_fields(obj: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The struct fields named `fields` as Go decodes `obj` into them: each key in order sets
    the field it names exactly, else the field it names when folded; the last one wins."""
    exact = {f: f for f in fields}
    folded = {fold(f): f for f in exact}
    pairs = obj.pairs if isinstance(obj, GoObject) else list(obj.items())
    out: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            continue
        field = exact.get(key) or folded.get(fold(key))
        if field is not None:
            out[field] = value
    return out
