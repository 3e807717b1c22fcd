"""The wheel carries the tracer's eBPF object, compiled here for x86_64 and aarch64 (CO-RE: one
object per architecture serves every kernel with BTF), so `pip install` alone is enough where it
is installed: no clang, no libbpf headers there. The metadata is in pyproject.toml."""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithTracer(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from pytest_seccomp.bpf.build import MACHINES, compile_into

        for machine in MACHINES:
            compile_into(Path(self.build_lib) / "pytest_seccomp" / "bpf" / "prebuilt", machine)


setup(cmdclass={"build_py": BuildPyWithTracer})
