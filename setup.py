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
        from pytest_seccomp.errors import TracerError

        prebuilt = Path(self.build_lib) / "pytest_seccomp" / "bpf" / "prebuilt"
        steps = [(f"the tracer for {m}", compile_into, m) for m in MACHINES]
        # the helper container's static loader: for the machine building the wheel
        steps.append(("the helper's loader", compile_helper_into, platform.machine()))
        for what, compile_step, machine in steps:
            try:
                compile_step(prebuilt, machine)
            except TracerError as exc:  # an sdist builds anyway: compiled on first use instead
                print(f"warning: {what} is not in this build ({exc})", file=sys.stderr)


setup(cmdclass={"build_py": BuildPyWithTracer})
