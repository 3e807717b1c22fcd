"""pytest-seccomp: least-privilege seccomp profiles recorded from a project's container tests."""

from .errors import ProfileError, SeccompError, TracerError
from .profiles.model import Profile, ProfileDiff, build_profile

__all__ = ["Profile", "ProfileDiff", "ProfileError", "SeccompError", "TracerError",
           "build_profile"]
__version__ = "0.1.0"
