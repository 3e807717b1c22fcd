"""Compile the tracer's eBPF program once per source version and machine, into a cache.

The object is CO-RE: built against no kernel's headers, relocated by libbpf at load time, so one
build serves every kernel with BTF. Building takes under a tenth of a second with clang.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from ...errors import TracerError

SOURCE = Path(__file__).with_name("tracer.bpf.c")
HELPER_SOURCE = Path(__file__).with_name("helper.c")  # the loader the helper container runs
_TARGET_ARCH = {"x86_64": "x86", "aarch64": "arm64"}
_HEADERS_HINT = "Install clang and libbpf-dev (`apt-get install clang libbpf-dev`) and try again."


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-seccomp"


MACHINES = tuple(_TARGET_ARCH)  # what a wheel carries an object for
# objects compiled when the wheel was built (setup.py): no compiler needed where it is installed
PREBUILT = Path(__file__).with_name("prebuilt")


def _digest_name(kind: str, machine: str, source: bytes, suffix: str = "") -> str:
    """Named after the source's digest: a build never outlives the source it was built from."""
    return f"{kind}-{machine}-{hashlib.sha256(source + machine.encode()).hexdigest()[:16]}{suffix}"


def object_name(machine: str, source: bytes) -> str:
    return _digest_name("tracer", machine, source, ".bpf.o")


def helper_name(machine: str, source: bytes) -> str:
    return _digest_name("helper", machine, source)


def _already_built(machine: str, name: str) -> Path | None:
    """The wheel's own build named `name`, else the cache's, else None."""
    if machine not in _TARGET_ARCH:
        raise TracerError(f"the tracer supports x86_64 and aarch64 machines, not {machine}.")
    for built in (PREBUILT / name, cache_dir() / name):
        if built.exists():
            return built
    return None


def _build_atomically(target: Path, command: list[str], mode: int, failure: str) -> Path:
    """Run `command` with its output ("{out}") in a temporary file beside `target`, then move it
    there: a build that fails or is interrupted never leaves a half-written file in its place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".tmp")
    os.close(fd)
    try:
        result = subprocess.run([temp if part == "{out}" else part for part in command],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise TracerError(failure.format(said=result.stderr.strip()[-500:]))
        os.chmod(temp, mode)
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return target


def compiled_object(machine: str | None = None, source_path: Path = SOURCE) -> Path:
    """The tracer's object for this machine: the wheel's own, else built on first use into the
    cache and reused after (the benchmarks also build earlier versions of the source)."""
    machine = machine or platform.machine()
    built = _already_built(machine, object_name(machine, source_path.read_bytes()))
    return built or compile_into(cache_dir(), machine, source_path)


def compile_into(directory: Path, machine: str, source_path: Path = SOURCE) -> Path:
    """Compile the CO-RE object for `machine` (x86_64 or aarch64, from any host) into
    `directory`, atomically; clang and libbpf's headers are needed here only."""
    arch = _TARGET_ARCH[machine]
    target = directory / object_name(machine, source_path.read_bytes())
    clang = shutil.which("clang")
    if clang is None:
        raise TracerError(
            "the tracer's eBPF program is not compiled yet and clang was not found on PATH to "
            f"compile it (once; it is cached in {cache_dir()}). {_HEADERS_HINT}"
        )
    if not Path("/usr/include/bpf/bpf_helpers.h").exists():
        raise TracerError(f"libbpf's headers (/usr/include/bpf) are missing. {_HEADERS_HINT}")
    # the host's <asm/types.h>: the program uses only the generic fixed-width types from it
    multiarch = sysconfig.get_config_var("MULTIARCH") or f"{platform.machine()}-linux-gnu"
    return _build_atomically(
        target, [clang, "-O2", "-g", "-target", "bpf", f"-D__TARGET_ARCH_{arch}",
                 f"-ffile-prefix-map={source_path.parent}=.",  # the same bytes from any checkout
                 f"-I/usr/include/{multiarch}", "-c", str(source_path), "-o", "{out}"],
        0o644, f"clang could not compile the tracer ({{said}}). {_HEADERS_HINT}")


def helper_executable(machine: str | None = None) -> Path:
    """The helper container's loader for `machine`, linked statically (it runs in a FROM-scratch
    image): the wheel's own, else built on first use into the cache (gcc and the static
    libbpf, libelf, zlib and zstd archives of libbpf-dev and its companions)."""
    machine = machine or platform.machine()
    built = _already_built(machine, helper_name(machine, HELPER_SOURCE.read_bytes()))
    if built is not None:
        return built
    if machine != platform.machine():
        raise TracerError(
            f"the engine runs on {machine}, and this installation carries no tracer helper for "
            f"it (only {platform.machine()} helpers are built here); install a wheel built on "
            f"{machine}, or run the tests on a {machine} machine.")
    return compile_helper_into(cache_dir(), machine)


def compile_helper_into(directory: Path, machine: str) -> Path:
    """Link the helper statically for this machine into `directory`, atomically."""
    target = directory / helper_name(machine, HELPER_SOURCE.read_bytes())
    compiler = shutil.which("gcc") or shutil.which("cc")
    hint = ("Install gcc and the static libraries (`apt-get install gcc libbpf-dev libelf-dev "
            "zlib1g-dev libzstd-dev`), or install pytest-seccomp from a wheel, which carries it.")
    if compiler is None:
        raise TracerError(f"the tracer helper is not built yet and no C compiler was found. {hint}")
    return _build_atomically(
        target, [compiler, "-static", "-O2", f"-ffile-prefix-map={HELPER_SOURCE.parent}=.",
                 "-o", "{out}", str(HELPER_SOURCE), "-lbpf", "-lelf", "-lz", "-lzstd"],
        0o755, f"the tracer helper could not be built ({{said}}). {hint}")
