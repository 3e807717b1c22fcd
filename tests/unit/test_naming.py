"""Profile names from image references and markers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_seccomp.errors import SeccompError
from pytest_seccomp.profiles.naming import profile_name_for_image, validate_profile_name
from pytest_seccomp.profiles.syscalls import syscall_name


@pytest.mark.parametrize(("reference", "name"), [
    ("redis", "redis"),
    ("redis:7", "redis"),
    ("docker.io/library/redis:7", "redis"),
    ("library/redis", "redis"),
    ("host:5000/team/app@sha256:" + "a" * 64, "team/app"),
    ("localhost/app:dev", "app"),
    ("ghcr.io/Org/App:1", "org/app"),
    ("pytest-seccomp/busybox:latest", "pytest-seccomp/busybox"),
])
def test_image_reference_to_profile_name(reference, name):
    assert profile_name_for_image(reference) == name


@pytest.mark.parametrize("bad", ["../etc", "a/../../b", "/abs", "", "a//b", "a b", "."])
def test_traversal_and_odd_names_are_refused(bad):
    with pytest.raises(SeccompError, match="invalid seccomp profile name"):
        validate_profile_name(bad)


@given(st.text())
def test_a_valid_name_never_leaves_its_directory(name):
    try:
        validate_profile_name(name)
    except SeccompError:
        return
    assert not name.startswith("/") and ".." not in name.split("/")


def test_names_come_from_libseccomp_as_the_engine_spells_them():
    assert syscall_name(17) == "pread64"
    assert syscall_name(18) == "pwrite64"
    assert syscall_name(11, compat=True) == "execve"
    assert syscall_name(99999) is None
