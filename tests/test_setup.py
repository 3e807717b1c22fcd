"""scripts/setup.sh on a fresh machine: its cgroup step (crun refuses a hybrid layout whose
unified hierarchy holds a controller) must run where nobody moved a controller by hand, and
setup checks what it promises before it says ready.

cgroupfs files report size 0 to stat whatever they hold, which hid the step behind a `[ -s ]`
test for several stops. The step runs here in a mount namespace of its own (`unshare -m`),
against a prepared mounts table whose unified hierarchy's `cgroup.controllers` is a kernel
pseudo-file of the same kind: `/proc/PID/comm` of a process named `hugetlb` (size 0, content
`hugetlb`)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest

from .conftest import ROOT

LIB = ROOT / "scripts" / "lib" / "cgroups.sh"


def _in_namespace(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c",
                           f"set -euo pipefail; source {LIB}\n{script}"],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def hybrid(tmp_path: Path):
    """A mounts table of a hybrid layout (tmpfs with v1 hierarchies, cgroup2 at unified/) whose
    unified hierarchy still holds hugetlb, as this machine's is before setup."""
    unified = tmp_path / "unified"
    unified.mkdir()
    holder = subprocess.Popen(  # (a loop keeps bash itself alive, renamed)
        ["bash", "-c", "printf hugetlb > /proc/self/comm; for _ in $(seq 600); do sleep 0.1; done"],
        start_new_session=True)
    comm = Path(f"/proc/{holder.pid}/comm")
    for _ in range(200):  # until the holder has renamed itself
        if comm.read_text().strip() == "hugetlb":
            break
        subprocess.run(["sleep", "0.01"], check=True)
    (unified / "cgroup.controllers").symlink_to(comm)
    assert (unified / "cgroup.controllers").stat().st_size == 0  # as cgroupfs reports it
    v1 = tmp_path / "v1"
    v1.mkdir()
    mounts = tmp_path / "mounts"
    mounts.write_text(f"tmpfs {v1} tmpfs rw 0 0\ncgroup {v1}/cpu cgroup rw,cpu 0 0\n"
                      f"cgroup2 {unified} cgroup2 rw 0 0\n")
    try:
        yield mounts, v1
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


def test_the_cgroup_step_moves_a_controller_the_unified_hierarchy_still_holds(hybrid):
    mounts, v1 = hybrid
    run = _in_namespace(textwrap.dedent(f"""
        mount -t tmpfs tmpfs {v1}
        echo "holds: $(unified_controllers {mounts} {v1})"
        release_unified_controllers {mounts} {v1}
        awk '$3 == "cgroup" {{print $2, $4}}' /proc/self/mounts
    """))
    assert run.returncode == 0, run.stderr
    assert "holds: hugetlb" in run.stdout
    moved = [line for line in run.stdout.splitlines() if line.startswith(f"{v1}/hugetlb ")]
    assert moved and "hugetlb" in moved[0].split()[1].split(","), run.stdout


def test_nothing_moves_on_a_pure_v2_layout(tmp_path: Path):
    mounts = tmp_path / "mounts"
    mounts.write_text("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
    run = _in_namespace(f'echo "[$(unified_hierarchy {mounts})]"; release_unified_controllers {mounts}')
    assert run.returncode == 0, run.stderr
    assert run.stdout == "[]\n"


def test_after_setup_the_unified_hierarchy_holds_no_controller():
    """What setup promised before it said ready (crun is wanted here: the second Podman)."""
    run = _in_namespace('echo "[$(unified_controllers)]"')
    assert run.returncode == 0, run.stderr
    assert run.stdout == "[]\n", "the unified hierarchy still holds " + run.stdout


def test_the_debian_base_layers_root_lets_every_user_traverse_it():
    # mktemp's 0700 on debootstrap's target became the layer's `./`: under a storage driver that
    # applies it (trixie's Docker 26 on vfs) USER postgres could not load libzstd.so.1
    saved = subprocess.run(["docker", "save", "pytest-seccomp/debian:bookworm"],
                           capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as image:
        (layer,) = [m for m in image.getmembers() if m.name.endswith("layer.tar")]
        extracted = image.extractfile(layer)
        assert extracted is not None
        with tarfile.open(fileobj=extracted) as files:
            root = next(m for m in files if m.name in (".", "./"))
    assert root.mode & 0o755 == 0o755, oct(root.mode)
