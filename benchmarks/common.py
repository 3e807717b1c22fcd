"""Helpers the benchmarks share: machine facts, spreads, running pytest sessions."""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


def machine_facts() -> list[str]:
    """CPU, kernel, engine and tracer versions, printed with every table."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())

    def version(*cmd: str) -> str:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) \
            else "?"

    engine = version("docker", "version", "--format", "{{.Server.Version}}")
    from pytest_seccomp.tracing.bpf.libbpf import version as libbpf_version

    tracer = f"libbpf {libbpf_version()}, {version('clang', '--version')}"
    return [f"CPU: {cpu} ({len(__import__('os').sched_getaffinity(0))} cores)",
            f"kernel: {platform.release()}", f"engine: Docker {engine}",
            f"tracer: {tracer}", f"python: {sys.version.split()[0]}"]


# where tracer.bpf.c has lived: now, and before the package's subpackages (2026-12-07)
TRACER_SOURCES = ("pytest_seccomp/tracing/bpf/tracer.bpf.c", "pytest_seccomp/bpf/tracer.bpf.c")


def tracer_source_at(commit: str, root: Path) -> bytes | None:
    """tracer.bpf.c as it was at `commit`, or None where that commit is not here (a shallow
    clone, an sdist)."""
    for path in TRACER_SOURCES:
        old = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True,
                             check=False)
        if old.returncode == 0:
            return old.stdout
    return None


def spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def cached_bytecode() -> None:
    """Compile the package's modules where stale, as pip does for an installed wheel: an editable
    install under PYTHONDONTWRITEBYTECODE (set on these machines) would otherwise compile every
    module from source in every session and bill that to the plugin."""
    import compileall

    import pytest_seccomp

    compileall.compile_dir(Path(pytest_seccomp.__file__).parent, quiet=1)


def run_pytest(cwd: Path, *args: str, env: dict[str, str] | None = None) -> float:
    """Wall time of one pytest session; fails loudly if the session fails."""
    cached_bytecode()  # (checks timestamps: a few ms, outside the timing)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                   cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


class FloorProgram:
    """An empty program on sys_enter, held while a block runs: the kernel's dispatch cost alone."""

    def __enter__(self) -> FloorProgram:
        from pytest_seccomp.tracing.bpf.build import compiled_object
        from pytest_seccomp.tracing.bpf.libbpf import BpfObject

        self.obj = BpfObject(compiled_object())
        self.obj.select_programs({"floor_empty"})
        self.obj.load()
        self.obj.attach("floor_empty")
        return self

    def __exit__(self, *exc: object) -> None:
        self.obj.close()
