"""The windows syscalls and refusals are attributed to: a test, a wider-scoped fixture's set-up
or teardown, the gap between two tests, the time before the first and after the last."""

from __future__ import annotations

BEFORE_TESTS = "(before the tests)"
AFTER_TESTS = "(after the tests)"


def between_tests(previous: str) -> str:
    """The window between one test's teardown and the next test's setup."""
    return f"(between tests, after {previous})"


def fixture_window(argname: str, scope: str, baseid: str) -> str:
    """A module-, class-, package- or session-scoped fixture's set-up or teardown: what its
    containers do then belongs to the fixture, not to whichever test happened to trigger it."""
    return f"fixture {argname} ({scope}-scoped, {baseid or 'rootdir'})"


def outside_tests(window: str) -> bool:
    """Gaps and the time around the tests (fixtures' windows are inside some test's run)."""
    return window.startswith("(")


def is_test(window: str) -> bool:
    """A test's own window (its node id), not a fixture's or a gap's."""
    return not outside_tests(window) and not window.startswith("fixture ")


def fixture_argname(window: str) -> str | None:
    """The fixture a fixture window belongs to (`fixture box (module-scoped, ...)` -> box)."""
    return window.split(" ", 2)[1] if window.startswith("fixture ") else None
