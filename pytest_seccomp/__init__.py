"""pytest-seccomp: least-privilege seccomp profiles recorded from a project's container tests."""

from .errors import ProfileError, SeccompError, TracerError
from .profiles.model import Profile, ProfileDiff, build_profile
from .version import __version__

__all__ = ["Profile", "ProfileDiff", "ProfileError", "SeccompError", "TracerError",
           "__version__", "build_profile"]
