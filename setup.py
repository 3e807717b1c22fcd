"""The wheel carries the tracer's eBPF object, compiled here for x86_64 and aarch64 (CO-RE: one
object per architecture serves every kernel with BTF), so `pip install` alone is enough where it
is installed: no clang, no libbpf headers there; and the helper container's static loader for
the building machine, so a user who cannot load BPF themselves needs no compiler either. The
metadata is in pyproject.toml."""

import platform
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

# A static executable needs no libc of the machine's: a platform wheel for glibc and musl alike
# (what auditwheel would tag it, had it an extension module to look at).
STATIC_PLATFORMS = "manylinux_2_17_{0}.manylinux2014_{0}.musllinux_1_1_{0}"


class BuildPyWithTracer(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from pytest_seccomp.tracing.bpf.build import MACHINES, compile_helper_into, compile_into
        from pytest_seccomp.errors import TracerError

        prebuilt = Path(self.build_lib) / "pytest_seccomp" / "tracing" / "bpf" / "prebuilt"
        shutil.rmtree(prebuilt, ignore_errors=True)  # an earlier build's files are not this one's
        steps = [(f"the tracer for {m}", compile_into, m) for m in MACHINES]
        # the helper container's static loader: for the machine building the wheel
        steps.append(("the helper's loader", compile_helper_into, platform.machine()))
        for what, compile_step, machine in steps:
            try:
                compile_step(prebuilt, machine)
            except TracerError as exc:  # an sdist builds anyway: compiled on first use instead
                print(f"warning: {what} is not in this build ({exc})", file=sys.stderr)


class WheelTaggedForItsLoader(bdist_wheel):  # type: ignore[misc]
    """A wheel carrying the helper's native loader names the machine it runs on; one built
    where the loader could not be compiled stays pure (py3-none-any) and compiles on first use."""

    def get_tag(self) -> tuple[str, str, str]:
        python, abi, plat = super().get_tag()
        build_lib = Path(self.get_finalized_command("build_py").build_lib)
        machine = platform.machine()
        if list((build_lib / "pytest_seccomp" / "tracing" / "bpf" / "prebuilt").glob(f"helper-{machine}-*")):
            self.root_is_pure = False
            return "py3", "none", STATIC_PLATFORMS.format(machine)
        return python, abi, plat


setup(cmdclass={"build_py": BuildPyWithTracer, "bdist_wheel": WheelTaggedForItsLoader})
