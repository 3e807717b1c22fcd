"""The wheel carries the tracer's eBPF object, compiled here for x86_64 and aarch64 (CO-RE: one
object per architecture serves every kernel with BTF), so `pip install` alone is enough where it
is installed: no clang, no libbpf headers there; and the helper container's static loader for
the building machine, so a user who cannot load BPF themselves needs no compiler either. The
metadata is in pyproject.toml."""

import platform
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithTracer(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from pytest_seccomp.bpf.build import MACHINES, compile_helper_into, compile_into

        prebuilt = Path(self.build_lib) / "pytest_seccomp" / "bpf" / "prebuilt"
        for machine in MACHINES:
            compile_into(prebuilt, machine)
        # the helper container's static loader: for the machine building the wheel
        compile_helper_into(prebuilt, platform.machine())


setup(cmdclass={"build_py": BuildPyWithTracer})
