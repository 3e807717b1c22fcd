"""The plugin's own exceptions, so users can catch them."""

from __future__ import annotations


class SeccompError(Exception):
    """A failure the user can act on; its message is one paragraph that says what to do."""


class TracerError(SeccompError):
    """The tracer could not start, died, or lost data: the recording is incomplete."""


class ProfileError(SeccompError):
    """A profile file or a default profile is invalid, or would be wider than allowed."""
